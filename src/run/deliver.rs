//! Delivering one run's results: where they go (the sinks prepared before the scan, or
//! `--every`'s destinations), the checkpoint policy around the write (an interrupted
//! run's state saved first; checkpoints removed once the output is whole; a journal kept
//! when the write fails), and the `--summary-json` document.

use super::checkpoint::Checkpointer;
use super::every;
use crate::cli::Config;
use crate::engine::{Position, ScanOptions, Scanned};
use crate::error::{warn, Result};
use crate::results::output::Format;
use crate::results::sink::Sink;
use crate::results::summary::{RunInfo, Summary};
use crate::wire::ether::Mac;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Where one run's output goes.
pub enum RunOut {
    /// The single run of a plain invocation: the sinks prepared before anything was sent.
    Once { sink: Sink, json: Option<Sink> },
    /// Run `n` of `--every`.
    Repeated { n: u64, dest: every::Dest },
}

/// What delivering one run's results needs besides its output.
pub struct Delivery<'a> {
    pub cfg: &'a Config,
    pub opts: &'a ScanOptions,
    pub interrupts: &'a AtomicUsize,
    pub scanned: &'a Scanned,
    pub saver: &'a mut Checkpointer,
    pub once: bool,
    pub mac: &'a dyn Fn(u32) -> Option<Mac>,
}

impl Delivery<'_> {
    /// Saves an interrupted run's state and journal first (with them nothing is lost if
    /// the output fails), writes the output through `fill`, and settles the checkpoints.
    /// Returns how that ended, and the summary JSON's sink if one is wanted.
    pub fn deliver(
        self,
        out: RunOut,
        fill: &dyn Fn(&mut dyn Write) -> std::io::Result<()>,
    ) -> (Result<()>, Option<Sink>) {
        let Delivery {
            cfg,
            opts,
            interrupts,
            scanned,
            saver,
            once,
            mac,
        } = self;
        let saved = match scanned.stopped_at {
            Some(pos) if once => match saver.save(&scanned.table, pos, mac) {
                Ok(()) => {
                    warn(format_args!(
                        "sweep: interrupted: continue with --resume {}",
                        saver.state.display()
                    ));
                    Ok(())
                }
                // A place sweep chose: the output still matters more than the state.
                Err(e) if !saver.chosen => {
                    warn(format_args!(
                        "sweep: interrupted; no state saved to resume from ({e}): \
                         give --state FILE to keep one"
                    ));
                    Ok(())
                }
                Err(e) => Err(e),
            },
            _ => Ok(()),
        };
        let (written, json) = match (saved, out) {
            (Err(e), RunOut::Once { json, .. }) => (Err(e), json),
            (Err(e), RunOut::Repeated { .. }) => (Err(e), None),
            (Ok(()), RunOut::Once { sink, json }) => (sink.finish(fill), json),
            (Ok(()), RunOut::Repeated { n, dest }) => {
                let ndjson = cfg.layout.format == Format::Ndjson;
                match cfg.summary_json.as_deref().map(|p| Sink::prepare(Some(p))) {
                    Some(Err(e)) => (Err(e), None),
                    json => (
                        every::write_run(&dest, n, scanned.started, ndjson, fill),
                        json.and_then(Result::ok),
                    ),
                }
            }
        };
        // Now, after the write: a signal during it ended the reader of a pipe too.
        let interrupted = scanned.stopped_at.is_some() || interrupts.load(Relaxed) > 0;
        let ended = settle(cfg, opts, interrupted, written, scanned, saver, once, mac);
        (ended, json)
    }
}

/// After the output was written (or not): checkpoints made obsolete by a whole output
/// are removed; a failed write keeps what the probes found in a journal to resume from.
#[allow(clippy::too_many_arguments)]
fn settle(
    cfg: &Config,
    opts: &ScanOptions,
    interrupted: bool,
    written: Result<()>,
    scanned: &Scanned,
    saver: &mut Checkpointer,
    once: bool,
    mac: &dyn Fn(u32) -> Option<Mac>,
) -> Result<()> {
    let table = &scanned.table;
    match written {
        Ok(()) if scanned.stopped_at.is_none() => {
            if once {
                // The output now holds the whole inventory: the checkpoints, this run's
                // and the ones it resumed, are obsolete.
                saver.remove();
                if let Some(p) = &cfg.resume {
                    let _ = std::fs::remove_file(super::journal::path_for(p));
                    let _ = std::fs::remove_file(p);
                }
            }
            Ok(())
        }
        Ok(()) => Ok(()),
        // The reader went away with the signal: still an interrupted run (130), not the
        // success a closed pipe otherwise is.
        Err(e) if e.is_broken_pipe() && interrupted => Ok(()),
        Err(e) if e.is_broken_pipe() => {
            saver.remove();
            Err(e)
        }
        Err(e) => {
            // Probes went out: keep what they found. Everything was sent unless stopped.
            let pos = scanned.stopped_at.unwrap_or(Position {
                round: opts.retries + 1,
                pos: opts.shard.index,
            });
            if once && (scanned.stopped_at.is_some() || saver.save(table, pos, &mac).is_ok()) {
                warn(format_args!(
                    "sweep: the results are saved in {}: write them with the same targets \
                     and --resume {} -o FILE",
                    saver.journal.display(),
                    saver.state.display()
                ));
            }
            Err(e)
        }
    }
}

/// `--summary-json`: the summary document, written atomically. A failure to write it is
/// the run's error unless the run had already failed (that error is the one to report).
pub fn write_summary_json(json: Sink, summary: &Summary, info: &RunInfo, ok: bool) -> Result<()> {
    let doc = summary.to_json(info);
    let written = json.finish(|w| {
        serde_json::to_writer_pretty(&mut *w, &doc)?;
        w.write_all(b"\n")
    });
    match (ok, written) {
        (_, Ok(())) => Ok(()),
        (true, Err(e)) => Err(e),
        (false, Err(e)) => {
            warn(format_args!("sweep: {e}"));
            Ok(())
        }
    }
}
