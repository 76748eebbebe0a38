//! A whole run: targets → output prepared → socket → scan → CSV → summary. Input errors
//! surface before the socket opens, so nothing is sent when the input is bad.

pub mod checkpoint;
pub mod discover;
pub mod eta;
pub mod every;
pub mod interrupt;
pub mod journal;
pub mod progress;
pub mod state;

use crate::cli::Config;
use crate::engine::counters::Counters;
use crate::engine::onlink::OnLink;
use crate::engine::table::Status;
use crate::engine::{self, MAX_TARGETS};
use crate::engine::{Position, Shard};
use crate::error::{warn, Error, Result};
use crate::net::kernel::{SocketChoice, Sockets};
use crate::net::packet::PacketSocket;
use crate::net::route::{self, Netlink};
use crate::results::output::Format;
use crate::results::output::Results;
use crate::results::prom;
use crate::results::rdns;
use crate::results::sink::Sink;
use crate::results::summary::{RunInfo, Summary};
use crate::run::progress::Progress;
use crate::targets::{self, Family, Role, Span, Targets};
use crate::wire::ether::Mac;
use checkpoint::Checkpointer;
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How a run ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub up: u64,
    /// Stopped by a signal; results so far and a state file were written.
    pub interrupted: bool,
}

impl Outcome {
    /// 0 some host up, 1 none; 130 = 128 + SIGINT, as shells report an interrupted command.
    pub fn exit_code(&self) -> u8 {
        match (self.interrupted, self.up) {
            (true, _) => 130,
            (false, 0) => 1,
            (false, _) => 0,
        }
    }
}

/// Runs the scan described by `cfg`.
pub fn run(cfg: &Config) -> Result<Outcome> {
    crate::net::privs::refuse_setuid()?;
    let Built {
        targets,
        unresolved,
    } = build_targets(cfg)?;
    let mut opts = cfg.scan.clone();
    let prior = match &cfg.resume {
        Some(path) => Some(checkpoint::load(path, &targets, &mut opts, cfg.seed_given)?),
        None => None,
    };
    let journal = prior.as_ref().and_then(|p| p.journal.as_ref());
    let resume = prior.as_ref().map(|p| engine::Prior {
        position: p.state.position,
        answered: &p.state.answered,
        journal: p.journal.as_ref().map(|j| engine::Kept {
            cells: &j.cells,
            responders: &j.responders,
        }),
    });
    // MACs an earlier run learned at layer 2: this one does not ask its answered targets again.
    let earlier_macs: HashMap<u32, Mac> =
        journal.map_or_else(HashMap::new, |j| j.macs.iter().copied().collect());
    let sink = Sink::prepare(cfg.output.as_deref())?;
    let json_sink = cfg
        .summary_json
        .as_deref()
        .map(|p| Sink::prepare(Some(p)))
        .transpose()?;
    // After every input check (targets, resume state, output paths): the route decision
    // may open packet sockets, and nothing network-facing opens before the input is good.
    let onlink = match onlink_path(cfg, &targets)? {
        L2::Frames(o) => Some(o),
        L2::Kernel => None,
        L2::Paced { onlink, iface } => {
            let cap = neighbour_safe_rate();
            if opts.rate.is_none_or(|r| r > cap) {
                opts.rate = Some(cap);
            }
            warn(format_args!(
                "sweep: warning: {onlink} targets are on-link ({iface}) and layer-2 discovery needs CAP_NET_RAW: \
                 probing at most {cap}/s so the kernel's neighbour table does not overflow, and no \
                 MAC addresses; {}",
                crate::net::kernel::setcap_hint()
            ));
            None
        }
    };
    let senders = engine::auto_senders(&opts);
    let probe_len = crate::wire::ICMP_HEADER + opts.payload;
    let (v4, v6) = (targets.has_v4(), targets.has_v6());
    let mut socks = Sockets::open(cfg.socket, cfg.ttl, v4, v6, senders, probe_len)?;
    socks.set_path(opts.path);
    socks.bind(cfg.iface.as_deref(), cfg.src)?;
    // Before any thread starts (capabilities are per thread; new threads inherit them).
    crate::net::privs::drop_all()?;
    sink.recheck()?;
    if let Some(j) = &json_sink {
        j.recheck()?;
    }
    let interrupts = Arc::new(AtomicUsize::new(0));
    interrupt::install(interrupts.clone()).map_err(Error::Signals)?;
    let cx = Ctx {
        cfg,
        targets: &targets,
        opts: &opts,
        resume: resume.as_ref(),
        journal,
        earlier_macs: &earlier_macs,
        socks: &socks,
        onlink: onlink.as_ref(),
        interrupts: &interrupts,
        unresolved: &unresolved,
    };
    let Some(every) = cfg.every else {
        let out = RunOut::Once {
            sink,
            json: json_sink,
        };
        return Ok(one_run(&cx, out, None)?.outcome);
    };
    drop((sink, json_sink));
    repeat(&cx, every)
}

/// What every run of an invocation shares: the targets, the open sockets, the signals.
struct Ctx<'a> {
    cfg: &'a Config,
    targets: &'a Targets,
    opts: &'a engine::ScanOptions,
    resume: Option<&'a engine::Prior<'a>>,
    journal: Option<&'a journal::Journal>,
    /// MACs an earlier run learned at layer 2.
    earlier_macs: &'a HashMap<u32, Mac>,
    socks: &'a Sockets,
    onlink: Option<&'a OnLink>,
    interrupts: &'a Arc<AtomicUsize>,
    /// Target names that did not resolve (skipped, listed in the summary).
    unresolved: &'a [String],
}

/// Where one run's output goes.
enum RunOut {
    /// The single run of a plain invocation: the sinks prepared before anything was sent.
    Once { sink: Sink, json: Option<Sink> },
    /// Run `n` of `--every`.
    Repeated { n: u64, dest: every::Dest },
}

struct RunEnd {
    outcome: Outcome,
    snapshot: every::Snapshot,
}

/// `--every`: runs until `--runs` or an interrupt, `every` from one start to the next;
/// an interrupt during a run ends after that run's output.
fn repeat(cx: &Ctx, every: Duration) -> Result<Outcome> {
    let dest = every::Dest::of(cx.cfg.output.as_deref(), cx.cfg.layout.format);
    let mut prev: Option<every::Snapshot> = None;
    let mut n = 0;
    loop {
        n += 1;
        let started = Instant::now();
        let out = RunOut::Repeated {
            n,
            dest: dest.clone(),
        };
        let end = one_run(cx, out, prev.as_ref())?;
        let last = cx.cfg.runs.is_some_and(|r| n >= r);
        if end.outcome.interrupted || last {
            return Ok(end.outcome);
        }
        prev = Some(end.snapshot);
        let next = started + every;
        while Instant::now() < next {
            if cx.interrupts.load(Relaxed) > 0 {
                return Ok(Outcome {
                    interrupted: true,
                    ..end.outcome
                });
            }
            std::thread::sleep(next.saturating_duration_since(Instant::now()).min(TICK));
        }
    }
}

/// How often the wait between runs looks for an interrupt.
const TICK: Duration = Duration::from_millis(50);

/// One scan and its output; with a previous run's snapshot, the changes on stderr.
fn one_run(cx: &Ctx, out: RunOut, prev: Option<&every::Snapshot>) -> Result<RunEnd> {
    let (cfg, targets, opts, onlink) = (cx.cfg, cx.targets, cx.opts, cx.onlink);
    let (resume, journal, earlier_macs) = (cx.resume, cx.journal, cx.earlier_macs);
    let once = matches!(out, RunOut::Once { .. });
    let run_n = match &out {
        RunOut::Repeated { n, .. } => Some(*n),
        RunOut::Once { .. } => None,
    };
    let interrupted_now = || cx.interrupts.load(Relaxed) > 0;
    let fp = state::fingerprint(targets, opts);
    let mut saver = Checkpointer::new(cfg.state_path(), opts.seed, fp);
    let mac = |i: u32| {
        onlink
            .and_then(|o| o.mac_of(u64::from(i)))
            .or_else(|| earlier_macs.get(&i).copied())
    };
    // Repeated runs start afresh each time: nothing to checkpoint or resume.
    let (scanned, counters) = scan(cx, &mut |table, pos| {
        if once {
            saver.periodic(table, pos, &mac)
        }
    })?;
    let kernel_drops = cx.socks.kernel_drops();
    let table = &scanned.table;
    // A resumed run with its journal has every earlier answer: its output is whole
    // unless some answer has no row (marked prior: a state without its journal).
    let prior_rows_missing = resume.is_some()
        && (journal.is_none()
            || (0..table.len() as u32).any(|i| table.get(i).status == Status::Prior));
    let partial = opts.shard != Shard::WHOLE || prior_rows_missing || scanned.stopped_at.is_some();
    // Interrupted already: write what there is now; the resumed run looks names up.
    let hostnames = match cfg.rdns {
        Some(timeout) if !interrupted_now() => {
            reverse_dns(cfg, targets, table, timeout, &interrupted_now)
        }
        _ => HashMap::new(),
    };
    let present = |i: u32| mac(i).is_some();
    let mut summary = Summary::new(&scanned, &counters, opts.seed, partial, &present);
    summary.kernel_drops = kernel_drops;
    summary.conflicts = onlink.map_or(0, |o| o.neighbours.conflicts());
    summary.proxies = onlink.map_or_else(Vec::new, |o| {
        o.proxies()
            .iter()
            .map(|p| crate::results::summary::ProxyNote::of(p, targets))
            .collect()
    });
    // Who sent the ICMP errors: this run's receivers, and the journal's for earlier answers.
    let mut heard_all = crate::engine::receiver::Heard {
        responders: table.responders(),
        ..Default::default()
    };
    heard_all
        .responders
        .extend(scanned.heard.responders.iter().map(|(&i, &a)| (i, a)));
    let results = Results {
        targets,
        table,
        heard: &heard_all,
        macs: earlier_macs,
        started: scanned.started,
        hostnames: &hostnames,
        partial,
        onlink,
        count: scanned.count.as_ref(),
    };
    let facts = prom::ScanFacts {
        targets: summary.targets,
        up: summary.up,
        elapsed: scanned.elapsed,
        probes: summary.probes,
        started: scanned.started,
    };
    let fill = |w: &mut dyn Write| crate::results::write(w, &cfg.layout, &results, &facts);
    let delivery = Delivery {
        scanned: &scanned,
        saver: &mut saver,
        once,
        mac: &mac,
    };
    let (ended, json) = delivery.deliver(cx, out, &fill);
    // Read after the write: a signal while writing counts too (Ctrl-C on `sweep … | less`
    // also ends the reader).
    let interrupted = scanned.stopped_at.is_some() || interrupted_now();
    summary.unresolved = cx.unresolved.to_vec();
    let outcome = Outcome {
        up: summary.up,
        interrupted,
    };
    if ended.is_ok() && !cfg.quiet {
        warn(format_args!("{summary}"));
    }
    if let Some(json) = json {
        let info = RunInfo {
            started_at: scanned.started,
            finished_at: SystemTime::now(),
            interrupted,
            exit_code: match &ended {
                Ok(()) => outcome.exit_code(),
                Err(e) if e.is_broken_pipe() => 0,
                Err(e) => e.exit_code(),
            },
        };
        write_summary_json(json, &summary, &info, ended.is_ok())?;
    }
    ended?;
    let snapshot = match cfg.every {
        Some(_) => every::snapshot(targets, table, &mac),
        None => every::Snapshot::new(),
    };
    // Not silenced by -q: telling what changed is what repeated runs are for.
    if let (Some(prev), Some(n)) = (prev, run_n) {
        for line in every::changes(prev, &snapshot, n) {
            warn(format_args!("{line}"));
        }
    }
    Ok(RunEnd { outcome, snapshot })
}

/// What delivering one run's results needs besides its output.
struct Delivery<'a> {
    scanned: &'a engine::Scanned,
    saver: &'a mut Checkpointer,
    once: bool,
    mac: &'a dyn Fn(u32) -> Option<Mac>,
}

impl Delivery<'_> {
    /// Saves an interrupted run's state and journal first (with them nothing is lost if
    /// the output fails), writes the output through `fill`, and settles the checkpoints.
    /// Returns how that ended, and the summary JSON's sink if one is wanted.
    fn deliver(
        self,
        cx: &Ctx,
        out: RunOut,
        fill: &dyn Fn(&mut dyn Write) -> std::io::Result<()>,
    ) -> (Result<()>, Option<Sink>) {
        let Delivery {
            scanned,
            saver,
            once,
            mac,
        } = self;
        let cfg = cx.cfg;
        let saved = match scanned.stopped_at {
            Some(pos) if once => saver.save(&scanned.table, pos, mac).map(|()| {
                warn(format_args!(
                    "sweep: interrupted: continue with --resume {}",
                    saver.state.display()
                ))
            }),
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
                        write_run(&dest, n, scanned.started, ndjson, fill),
                        json.and_then(Result::ok),
                    ),
                }
            }
        };
        let ended = settle(cx, written, scanned, saver, once, mac);
        (ended, json)
    }
}

/// The scan itself, with the progress display; `checkpoint` runs every
/// `engine::CHECKPOINT`. Returns what it found and its statistics.
fn scan(
    cx: &Ctx,
    checkpoint: &mut dyn FnMut(&engine::table::Table, Position),
) -> Result<(engine::Scanned, Counters)> {
    let (targets, opts) = (cx.targets, cx.opts);
    let counters = Counters::default();
    let shape = crate::run::eta::Shape {
        // Rounds by yield: a clean network's one retry round, until the scan says more.
        rounds: if opts.adaptive { 2 } else { opts.retries + 1 },
        owned: opts.shard.size(targets.len()),
        timeout: opts.timeout,
    };
    let mut progress = Progress::new(cx.cfg.quiet, cx.cfg.status_interval, shape, opts.rate);
    let scan = engine::Scan {
        targets,
        opts,
        resume: cx.resume,
        socks: &cx.socks.endpoints(),
        onlink: cx.onlink,
        counters: &counters,
        interrupts: cx.interrupts,
    };
    let hooks = engine::Hooks {
        tick: &mut || progress.tick(&counters),
        checkpoint,
    };
    let scanned = engine::run(&scan, hooks)?;
    progress.finish();
    Ok((scanned, counters))
}

/// Names for the hosts that are up (`--rdns`), within `timeout`, until an interrupt.
fn reverse_dns(
    cfg: &Config,
    targets: &Targets,
    table: &engine::table::Table,
    timeout: Duration,
    interrupted: &dyn Fn() -> bool,
) -> HashMap<u32, String> {
    let up: Vec<_> = (0..targets.len() as u32)
        .filter(|&i| table.get(i).status == Status::Up)
        .map(|i| (i, targets.addr_at(u64::from(i))))
        .collect();
    let found = rdns::resolve(&up, timeout, interrupted);
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

/// After the output was written (or not): checkpoints made obsolete by a whole output
/// are removed; a failed write keeps what the probes found in a journal to resume from.
fn settle(
    cx: &Ctx,
    written: Result<()>,
    scanned: &engine::Scanned,
    saver: &mut Checkpointer,
    once: bool,
    mac: &dyn Fn(u32) -> Option<Mac>,
) -> Result<()> {
    let (cfg, opts, table) = (cx.cfg, cx.opts, &scanned.table);
    // Now, after the write: a signal during it ended the reader of a pipe too.
    let interrupted = scanned.stopped_at.is_some() || cx.interrupts.load(Relaxed) > 0;
    match written {
        Ok(()) if scanned.stopped_at.is_none() => {
            if once {
                // The output now holds the whole inventory: the checkpoints, this run's
                // and the ones it resumed, are obsolete.
                saver.remove();
                if let Some(p) = &cfg.resume {
                    let _ = std::fs::remove_file(crate::run::journal::path_for(p));
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
fn write_summary_json(json: Sink, summary: &Summary, info: &RunInfo, ok: bool) -> Result<()> {
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

/// Writes run `n` of `--every`: the whole text is made first, so a file only ever holds
/// whole runs (replaced by rename, or appended in one write and synced).
fn write_run(
    dest: &every::Dest,
    n: u64,
    started: SystemTime,
    ndjson: bool,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    use every::Dest;
    match dest {
        Dest::Stdout | Dest::Append(_) => {
            let mut text = Vec::new();
            fill(&mut text).map_err(Error::Write)?;
            if ndjson {
                text = every::tag_lines(&text, n, started);
            }
            match dest {
                Dest::Append(path) => append(path, &text).map_err(|source| Error::WriteResults {
                    path: path.clone(),
                    source,
                }),
                _ => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&text)
                        .and_then(|()| out.flush())
                        .map_err(Error::Write)
                }
            }
        }
        Dest::PerRun(path) => Sink::prepare(Some(&every::run_path(path, started)))?.finish(fill),
        Dest::Replace(path) => Sink::prepare(Some(path))?.finish(fill),
    }
}

/// Appends `bytes` to `path` in one write and syncs it.
fn append(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_data()
}

/// How on-link targets will be probed.
enum L2 {
    /// Frames we build, on packet sockets.
    Frames(OnLink),
    /// Through the kernel: none are on-link, or layer 2 is off.
    Kernel,
    /// Through the kernel, slowly: on-link targets but no packet sockets allowed.
    Paced { onlink: u64, iface: String },
}

/// The route decision, and the packet sockets it asks for. `--iface`/`--src` problems are
/// input errors, found before anything is sent.
fn onlink_path(cfg: &Config, targets: &Targets) -> Result<L2> {
    let mut nl = Netlink::open().map_err(Error::Routes)?;
    let mut routes = nl.dump().map_err(Error::Routes)?;
    routes.routed_frames = cfg.routed_frames;
    let mut lookup = |a| nl.get(a).ok().flatten();
    let plan = route::plan(&routes, targets, cfg.iface.as_deref(), cfg.src, &mut lookup)
        .map_err(|r| Error::Route(r.to_string()))?;
    if plan.is_empty() || !cfg.l2 {
        return Ok(L2::Kernel);
    }
    let names = || {
        plan.links()
            .iter()
            .filter_map(|&i| routes.link(i).map(|l| l.name.clone()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if cfg.socket == SocketChoice::Datagram {
        return Ok(L2::Paced {
            onlink: plan.onlink_count(),
            iface: names(),
        });
    }
    let mut lanes = Vec::new();
    for index in plan.links() {
        let link = routes.link(index).expect("the plan names dumped links");
        let mac = link.mac.expect("on-link only on Ethernet links with a MAC");
        match PacketSocket::open(index, mac) {
            Ok(sock) => lanes.push(Box::new(sock) as Box<dyn crate::net::Link>),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES)) => {
                if cfg.socket == SocketChoice::Raw {
                    return Err(crate::net::kernel::permission_error(
                        "opening a layer-2 socket for on-link targets",
                    ));
                }
                return Ok(L2::Paced {
                    onlink: plan.onlink_count(),
                    iface: names(),
                });
            }
            Err(source) => {
                return Err(Error::PacketSocket {
                    iface: link.name.clone(),
                    source,
                })
            }
        }
    }
    Ok(L2::Frames(OnLink::new(plan, lanes, cfg.ttl.unwrap_or(64))))
}

/// Without layer 2, every on-link probe needs a kernel neighbour entry, and unresolved
/// entries live about 3 s (3 solicitations 1 s apart): at most `gc_thresh3` of them fit,
/// beyond which the kernel drops probes. Keep three quarters of the table for them.
fn neighbour_safe_rate() -> u64 {
    let thresh = std::fs::read_to_string("/proc/sys/net/ipv4/neigh/default/gc_thresh3")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(1024);
    (thresh * 3 / 4 / 3).max(10)
}

/// The scan's targets, and the hostnames among the specs that did not resolve.
#[derive(Debug)]
pub struct Built {
    pub targets: Targets,
    pub unresolved: Vec<String>,
}

/// Every spec parsed (hostnames resolved once), merged, minus the exclusions. A target
/// hostname that does not resolve is skipped with a warning (one stale name in an
/// inventory must not cost the whole run) unless `--strict-names`; an exclusion that does
/// not resolve is always an error, so sweep never probes what it was meant to leave out.
pub fn build_targets(cfg: &Config) -> Result<Built> {
    build_with(cfg, &targets::system_resolve)
}

fn build_with(cfg: &Config, resolve: targets::Resolver) -> Result<Built> {
    let mut include: Vec<Span> = Vec::new();
    let mut specs = cfg.targets.clone();
    for f in &cfg.files {
        specs.extend(targets::read_spec_file(f)?);
    }
    let mut unresolved: Vec<(String, String)> = Vec::new();
    let mut large = Vec::new();
    for s in &specs {
        if let Some((net, len)) = targets::too_large_v6(s).filter(|_| cfg.family != Family::V4) {
            large.push(discover::Large {
                token: s.trim().to_string(),
                net,
                len,
            });
            continue;
        }
        match targets::parse_spec(s, Role::Target, cfg.family, resolve) {
            Ok(spans) => include.extend(spans),
            Err(Error::Resolve { host, reason }) if !cfg.strict_names => {
                if !unresolved.iter().any(|(h, _)| *h == host) {
                    unresolved.push((host, reason));
                }
            }
            Err(e) => return Err(e),
        }
    }
    if !large.is_empty() {
        include.extend(discover::spans(cfg, &large)?);
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
    if t.is_empty() && !unresolved.is_empty() {
        return Err(Error::NothingResolved {
            names: name_list(unresolved.iter().map(|(h, _)| h.as_str())),
        });
    }
    if t.is_empty() {
        return Err(Error::NoTargets(" after exclusions"));
    }
    if t.len() > MAX_TARGETS {
        return Err(Error::TooManyTargets {
            count: t.len(),
            max: MAX_TARGETS,
        });
    }
    for (host, reason) in &unresolved {
        warn(format_args!(
            "sweep: warning: cannot resolve '{host}': {reason}; skipping it \
             (--strict-names makes this an error)"
        ));
    }
    Ok(Built {
        targets: t,
        unresolved: unresolved.into_iter().map(|(h, _)| h).collect(),
    })
}

/// `'a', 'b' and 'c'`; past five names, how many more.
fn name_list<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> String {
    const SHOWN: usize = 5;
    let total = names.len();
    let quoted: Vec<String> = names.take(SHOWN).map(|n| format!("'{n}'")).collect();
    match (quoted.split_last(), total) {
        (None, _) => String::new(),
        (Some((only, [])), 1) => only.clone(),
        (Some((last, rest)), n) if n <= SHOWN => format!("{} and {last}", rest.join(", ")),
        (Some(_), n) => format!("{} and {} more", quoted.join(", "), n - SHOWN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::net::IpAddr;

    fn cfg(args: &[&str]) -> Config {
        let mut all = vec!["sweep"];
        all.extend_from_slice(args);
        crate::cli::scan_config(&all)
    }

    /// Knows `a.test` only.
    fn resolver(host: &str) -> io::Result<Vec<IpAddr>> {
        match host {
            "a.test" => Ok(vec!["192.0.2.7".parse().unwrap()]),
            _ => Err(io::Error::new(io::ErrorKind::NotFound, "not known")),
        }
    }

    #[test]
    fn unresolvable_names_are_skipped_and_listed() {
        let b = build_with(
            &cfg(&["a.test", "gone.test", "192.0.2.1", "gone.test", "x.test"]),
            &resolver,
        )
        .unwrap();
        assert_eq!(b.targets.len(), 2);
        assert_eq!(b.unresolved, ["gone.test", "x.test"]);
    }

    #[test]
    fn nothing_resolved_is_exit_2_naming_them() {
        let e = build_with(&cfg(&["gone.test", "x.test"]), &resolver).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            "no targets left to probe: 'gone.test' and 'x.test' did not resolve"
        );
    }

    #[test]
    fn strict_names_and_exclusions_abort() {
        let e = build_with(&cfg(&["a.test", "gone.test", "--strict-names"]), &resolver);
        assert!(matches!(e, Err(Error::Resolve { ref host, .. }) if host == "gone.test"));
        let e = build_with(&cfg(&["a.test", "--exclude", "gone.test"]), &resolver);
        assert!(matches!(e, Err(Error::Resolve { .. })));
    }

    #[test]
    fn name_lists_stay_short() {
        let list = |n: &[&str]| name_list(n.iter().copied());
        assert_eq!(list(&["a"]), "'a'");
        assert_eq!(list(&["a", "b", "c"]), "'a', 'b' and 'c'");
        assert_eq!(
            list(&["a", "b", "c", "d", "e", "f", "g"]),
            "'a', 'b', 'c', 'd', 'e' and 2 more"
        );
    }
}
