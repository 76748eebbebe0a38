//! A whole run: targets → output prepared → socket → scan → CSV → summary. Input errors
//! surface before the socket opens, so nothing is sent when the input is bad.

use crate::cli::Config;
use crate::counters::Counters;
use crate::error::{warn, Error, Result};
use crate::output::{self, Results};
use crate::progress::Progress;
use crate::sender::Shard;
use crate::sink::Sink;
use crate::state::{self, State};
use crate::summary::Summary;
use crate::table::Status;
use crate::targets::{self, Role, Span, Targets};
use crate::transport::Sockets;
use crate::{interrupt, rdns, scan};
use std::collections::HashMap;

/// The most targets one scan takes: 8 bytes of table each, so 2 GiB at the limit.
pub const MAX_TARGETS: u64 = 1 << 28;

/// How a run ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub up: u64,
    /// Stopped by a signal; results so far and a state file were written.
    pub interrupted: bool,
}

/// Runs the scan described by `cfg`.
pub fn run(cfg: &Config) -> Result<Outcome> {
    crate::privs::refuse_setuid()?;
    let targets = build_targets(cfg)?;
    let mut opts = cfg.scan.clone();
    let resume = match &cfg.resume {
        Some(path) => {
            let st = State::read(path)?;
            if !cfg.seed_given {
                opts.seed = st.seed;
            }
            if st.fingerprint != state::fingerprint(&targets, &opts) {
                return Err(Error::StateMismatch {
                    path: path.clone(),
                    reason: "was written by a scan of other targets or options \
                             (seed, shard, retries and size must match)"
                        .into(),
                });
            }
            st.check(targets.len(), &opts)
                .map_err(|reason| Error::BadState {
                    path: path.clone(),
                    reason,
                })?;
            Some(st)
        }
        None => None,
    };
    let sink = Sink::prepare(cfg.output.as_deref())?;
    let senders = scan::auto_senders(&opts);
    let probe_len = crate::wire::ICMP_HEADER + opts.payload;
    let (v4, v6) = (targets.has_v4(), targets.has_v6());
    let socks = Sockets::open(cfg.socket, cfg.ttl, v4, v6, senders, probe_len)?;
    // Before any thread starts (capabilities are per thread; new threads inherit them).
    crate::privs::drop_all()?;
    sink.recheck()?;
    let counters = Counters::default();
    interrupt::install(counters.interrupts.clone()).map_err(Error::Signals)?;
    let progress = Progress::new(cfg.quiet);
    let scanned = scan::run(
        &targets,
        &opts,
        resume.as_ref(),
        &socks,
        &counters,
        &mut || progress.tick(&counters),
    )?;
    progress.finish();
    let kernel_drops = socks.kernel_drops();
    drop(socks);
    let partial = opts.shard != Shard::WHOLE || resume.is_some() || scanned.stopped_at.is_some();
    let table = &scanned.table;
    let hostnames = match cfg.rdns {
        Some(timeout) => {
            let up: Vec<_> = (0..targets.len() as u32)
                .filter(|&i| table.get(i).status == Status::Up)
                .map(|i| (i, targets.addr_at(u64::from(i))))
                .collect();
            let found = rdns::resolve(&up, timeout);
            if found.abandoned > 0 && !cfg.quiet {
                warn(format_args!(
                    "sweep: reverse DNS: {} lookups abandoned after {}, {} not tried \
                     (a slow resolver; raise --rdns-timeout)",
                    found.abandoned,
                    humantime::format_duration(timeout),
                    found.skipped
                ));
            }
            found.names
        }
        None => HashMap::new(),
    };
    let mut summary = Summary::new(&scanned, &counters, opts.seed, partial);
    summary.kernel_drops = kernel_drops;
    let results = Results {
        targets: &targets,
        table,
        heard: &scanned.heard,
        started: scanned.started,
        hostnames: &hostnames,
        partial,
    };
    // The state first: it is small, and with it nothing is lost if the output fails.
    if let Some(pos) = scanned.stopped_at {
        let path = cfg.state_path();
        let fp = state::fingerprint(&targets, &opts);
        State::capture(opts.seed, fp, pos, table).write(&path)?;
        warn(format_args!(
            "sweep: interrupted: continue with --resume {}",
            path.display()
        ));
    }
    let written = sink.finish(|w| output::write(w, &cfg.layout, &results));
    // A signal while writing counts too: Ctrl-C on `sweep … | less` also ends the reader.
    let interrupted = scanned.stopped_at.is_some() || counters.interrupted();
    match written {
        Ok(()) => {}
        // The reader went away with the signal: still an interrupted run (130), not the
        // success a closed pipe otherwise is.
        Err(e) if e.is_broken_pipe() && interrupted => {}
        Err(e) => return Err(e),
    }
    if !cfg.quiet {
        warn(format_args!("{summary}"));
    }
    Ok(Outcome {
        up: summary.up,
        interrupted,
    })
}

/// Every spec parsed (hostnames resolved once), merged, minus the exclusions.
pub fn build_targets(cfg: &Config) -> Result<Targets> {
    let resolve = &targets::system_resolve;
    let mut include: Vec<Span> = Vec::new();
    let mut specs = cfg.targets.clone();
    for f in &cfg.files {
        specs.extend(targets::read_spec_file(f)?);
    }
    for s in &specs {
        include.extend(targets::parse_spec(s, Role::Target, cfg.family, resolve)?);
    }
    let mut excludes = cfg.exclude.clone();
    for f in &cfg.exclude_files {
        excludes.extend(targets::read_spec_file(f)?);
    }
    let mut exclude: Vec<Span> = Vec::new();
    for s in excludes.iter().filter(|s| !s.trim().is_empty()) {
        exclude.extend(targets::parse_spec(s, Role::Exclude, cfg.family, resolve)?);
    }
    let t = Targets::new(include, exclude);
    if t.is_empty() {
        return Err(Error::NoTargets(" after exclusions"));
    }
    if t.len() > MAX_TARGETS {
        return Err(Error::TooManyTargets {
            count: t.len(),
            max: MAX_TARGETS,
        });
    }
    Ok(t)
}
