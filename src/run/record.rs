//! A finished run into the inventory (`--db`): the targets this run probed become
//! sightings (a shard's slice, what an interrupted run reached, a resumed run's earlier
//! answers from its journal), recorded in one transaction after the output is written;
//! then the events, one line each on stderr.

use super::spool;
use crate::cli::Config;
use crate::error::{warn, Error, Result};
use crate::results::output::{self, Format, Layout, Results};
use crate::store::{EventEntry, Inventory, RecordOutcome, RunFacts, Sighting, EVENTS_SHOWN};
use std::path::Path;
use std::time::SystemTime;

/// What the run was, for the runs table.
pub struct Described<'a> {
    pub cfg: &'a Config,
    pub seed: u64,
    pub started: SystemTime,
    pub exit: u8,
    pub interrupted: bool,
}

/// Records the run whose rows `results` makes into `inv`; prints its events. A failure is
/// `NotRecorded` (exit 3): the output was written before this is called.
pub fn record(
    inv: &mut dyn Inventory,
    db: &Path,
    what: &Described,
    results: &Results,
) -> Result<RecordOutcome> {
    let cfg = what.cfg;
    // A row for every target, as `--all` writes them: a whole run's every target (those
    // the kernel refused to send to as well), a partial run's only those it probed.
    let layout = Layout {
        format: Format::Csv,
        fields: Vec::new(),
        all: true,
        csv_raw: false,
    };
    let sightings = || {
        output::rows(&layout, results).map(|row| {
            Ok(Sighting {
                addr: row.addr,
                status: row.status,
                detail: row.detail,
                macs: row.macs,
            })
        })
    };
    let facts = RunFacts {
        job: job_id(cfg, what.seed),
        started: what.started,
        ended: SystemTime::now(),
        command: crate::redact::command_line(),
        targets: targets_text(cfg),
        seed: Some(what.seed),
        shard: (cfg.scan.shard.count > 1).then_some((cfg.scan.shard.index, cfg.scan.shard.count)),
        exit: what.exit,
        interrupted: what.interrupted,
        source: "scan".into(),
        resumed: cfg.resume.is_some(),
    };
    let not_recorded = |e: Error| Error::NotRecorded {
        path: crate::store::shown(db),
        reason: match e {
            Error::Inventory { reason, .. } => reason,
            other => other.to_string(),
        },
    };
    let server = crate::store::server_url(db).is_some();
    // A server's inventory: the runs an earlier scan could not record go in first.
    let replayed = match server {
        true => spool::replay(inv, db),
        false => Ok(Vec::new()),
    };
    let recorded = replayed.and_then(|done| {
        for (file, out) in &done {
            warn(format_args!(
                "sweep: recorded the spooled run {} as run {}",
                file.display(),
                out.run
            ));
            print_events(out);
        }
        inv.record(&facts, &mut sightings())
    });
    let out = match recorded {
        Ok(out) => out,
        // The server went away: the run is kept to be recorded by the next scan.
        Err(e) if server => {
            let mut e = not_recorded(e);
            if let Error::NotRecorded { reason, .. } = &mut e {
                match spool::save(db, &facts, &mut sightings()) {
                    Ok(file) => reason.push_str(&format!(
                        "; the run is kept in {} and the next run recording into this \
                         inventory records it first",
                        file.display()
                    )),
                    Err(se) => reason.push_str(&format!("; nor could it be spooled: {se}")),
                }
            }
            return Err(e);
        }
        Err(e) => return Err(not_recorded(e)),
    };
    print_events(&out);
    Ok(out)
}

/// One line per event (at most `EVENTS_SHOWN`, then how many more), also with `-q`: the
/// events are what a recorded run is for.
pub fn print_events(out: &RecordOutcome) {
    for e in &out.shown {
        warn(format_args!("sweep: {}", event_line(e)));
    }
    let more = out.events.saturating_sub(out.shown.len() as u64);
    if more > 0 {
        warn(format_args!(
            "sweep: … and {more} more events (sweep inventory events --since {})",
            out.shown
                .first()
                .map(|e| humantime::format_rfc3339_seconds(e.at).to_string())
                .unwrap_or_default()
        ));
    }
    debug_assert!(out.shown.len() <= EVENTS_SHOWN);
}

/// `new 198.18.0.5 02:00:00:00:00:0a`, `mac-changed 198.18.0.9 02:…:0b (was 02:…:0a)`.
pub fn event_line(e: &EventEntry) -> String {
    let mut line = format!("{} {}", e.kind, e.addr);
    if let Some(m) = e.mac {
        line.push_str(&format!(" {m}"));
    }
    if let Some(m) = e.old_mac {
        line.push_str(&format!(" (was {m})"));
    }
    line
}

/// `--job`, else what makes the shards (and the resumed run) of one scan alike and
/// another night's scan different: the seed, the targets, and the scheduler's job id.
fn job_id(cfg: &Config, seed: u64) -> String {
    if let Some(j) = &cfg.job {
        return j.clone();
    }
    let scheduler = ["SLURM_ARRAY_JOB_ID", "SWEEP_JOB_NAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().map(|val| format!(" {v}={val}")))
        .unwrap_or_default();
    format!("seed {seed} {}{scheduler}", targets_text(cfg))
}

fn targets_text(cfg: &Config) -> String {
    let mut parts: Vec<String> = cfg.targets.clone();
    parts.extend(cfg.files.iter().map(|f| format!("-f {}", f.display())));
    parts.extend(cfg.exclude.iter().map(|e| format!("--exclude {e}")));
    parts.join(" ")
}
