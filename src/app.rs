//! A whole run: targets → output prepared → socket → scan → CSV → summary. Input errors
//! surface before the socket opens, so nothing is sent when the input is bad.

use crate::cli::Config;
use crate::counters::Counters;
use crate::error::{Error, Result};
use crate::output;
use crate::progress::Progress;
use crate::scan;
use crate::sink::Sink;
use crate::summary::Summary;
use crate::targets::{self, Role, Span, Targets};
use crate::transport::Socket;

/// The most targets one scan takes: 8 bytes of table each, so 2 GiB at the limit.
pub const MAX_TARGETS: u64 = 1 << 28;

/// Runs the scan described by `cfg`; returns how many hosts are up.
pub fn run(cfg: &Config) -> Result<u64> {
    let targets = build_targets(cfg)?;
    let sink = Sink::prepare(cfg.output.as_deref())?;
    let sock = Socket::open(cfg.socket, cfg.ttl)?;
    let counters = Counters::default();
    let progress = Progress::new(cfg.quiet);
    let scanned = scan::run(&targets, &cfg.scan, &sock, &counters, &mut || {
        progress.tick(&counters)
    })?;
    progress.finish();
    drop(sock);
    let summary = Summary::new(
        &scanned.table,
        &counters,
        scanned.heard.ignored,
        scanned.elapsed,
        cfg.scan.seed,
    );
    sink.finish(|w| output::write_csv(w, &targets, &scanned.table, &scanned.heard, cfg.all))?;
    if !cfg.quiet {
        eprintln!("{summary}");
    }
    Ok(summary.up)
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
        include.extend(targets::parse_spec(s, Role::Target, resolve)?);
    }
    let mut excludes = cfg.exclude.clone();
    for f in &cfg.exclude_files {
        excludes.extend(targets::read_spec_file(f)?);
    }
    let mut exclude: Vec<Span> = Vec::new();
    for s in excludes.iter().filter(|s| !s.trim().is_empty()) {
        exclude.extend(targets::parse_spec(s, Role::Exclude, resolve)?);
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
