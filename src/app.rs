//! A whole run: targets → output prepared → socket → scan → CSV → summary. Input errors
//! surface before the socket opens, so nothing is sent when the input is bad.

use crate::cli::Config;
use crate::counters::Counters;
use crate::error::{warn, Error, Result};
use crate::net::kernel::{SocketChoice, Sockets};
use crate::net::packet::PacketSocket;
use crate::net::route::{self, Netlink};
use crate::onlink::{Lane, OnLink};
use crate::output::Format;
use crate::output::{self, Results};
use crate::progress::Progress;
use crate::sender::Shard;
use crate::sink::Sink;
use crate::state::{self, State};
use crate::summary::Summary;
use crate::table::Status;
use crate::targets::{self, Role, Span, Targets};
use crate::{every, interrupt, prom, rdns, scan};
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

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
    let sink = Sink::prepare(cfg.output.as_deref())?;
    let senders = scan::auto_senders(&opts);
    let probe_len = crate::wire::ICMP_HEADER + opts.payload;
    let (v4, v6) = (targets.has_v4(), targets.has_v6());
    let mut socks = Sockets::open(cfg.socket, cfg.ttl, v4, v6, senders, probe_len)?;
    socks.set_path(opts.path);
    socks.bind(cfg.iface.as_deref(), cfg.src)?;
    // Before any thread starts (capabilities are per thread; new threads inherit them).
    crate::privs::drop_all()?;
    sink.recheck()?;
    let interrupts = Arc::new(AtomicUsize::new(0));
    interrupt::install(interrupts.clone()).map_err(Error::Signals)?;
    let cx = Ctx {
        cfg,
        targets: &targets,
        opts: &opts,
        resume: resume.as_ref(),
        socks: &socks,
        onlink: onlink.as_ref(),
        interrupts: &interrupts,
    };
    let Some(every) = cfg.every else {
        return Ok(one_run(&cx, RunOut::Once(sink), None)?.outcome);
    };
    drop(sink);
    repeat(&cx, every)
}

/// What every run of an invocation shares: the targets, the open sockets, the signals.
struct Ctx<'a> {
    cfg: &'a Config,
    targets: &'a Targets,
    opts: &'a scan::ScanOptions,
    resume: Option<&'a State>,
    socks: &'a Sockets,
    onlink: Option<&'a OnLink>,
    interrupts: &'a Arc<AtomicUsize>,
}

/// Where one run's output goes.
enum RunOut {
    /// The single run of a plain invocation: the sink prepared before anything was sent.
    Once(Sink),
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
        let end = one_run(
            cx,
            RunOut::Repeated {
                n,
                dest: dest.clone(),
            },
            prev.as_ref(),
        )?;
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
    let run_n = match &out {
        RunOut::Repeated { n, .. } => Some(*n),
        RunOut::Once(_) => None,
    };
    let counters = Counters {
        interrupts: cx.interrupts.clone(),
        ..Counters::default()
    };
    let progress = Progress::new(cfg.quiet);
    let scanned = scan::run(
        targets,
        opts,
        cx.resume,
        &cx.socks.endpoints(),
        &counters,
        onlink,
        &mut || progress.tick(&counters),
    )?;
    progress.finish();
    let kernel_drops = cx.socks.kernel_drops();
    let partial = opts.shard != Shard::WHOLE || cx.resume.is_some() || scanned.stopped_at.is_some();
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
    let mac = |i: u32| onlink.and_then(|o| o.mac_of(u64::from(i)));
    let present = |i: u32| mac(i).is_some();
    let mut summary = Summary::new(&scanned, &counters, opts.seed, partial, &present);
    summary.kernel_drops = kernel_drops;
    let results = Results {
        targets,
        table,
        heard: &scanned.heard,
        started: scanned.started,
        hostnames: &hostnames,
        partial,
        onlink,
        count: scanned.count.as_ref(),
    };
    // The state first: it is small, and with it nothing is lost if the output fails.
    // (Repeated runs start afresh each time: there is nothing to resume.)
    if let (Some(pos), RunOut::Once(_)) = (scanned.stopped_at, &out) {
        let path = cfg.state_path();
        let fp = state::fingerprint(targets, opts);
        State::capture(opts.seed, fp, pos, table).write(&path)?;
        warn(format_args!(
            "sweep: interrupted: continue with --resume {}",
            path.display()
        ));
    }
    let facts = prom::ScanFacts {
        targets: summary.targets,
        up: summary.up,
        elapsed: scanned.elapsed,
        probes: summary.probes,
        started: scanned.started,
    };
    let fill = |w: &mut dyn Write| -> std::io::Result<()> {
        output::write(w, &cfg.layout, &results)?;
        if cfg.layout.format == Format::Prometheus {
            prom::write_scan(w, &facts)?;
        }
        Ok(())
    };
    let written = match out {
        RunOut::Once(sink) => sink.finish(fill),
        RunOut::Repeated { n, dest } => {
            let ndjson = cfg.layout.format == Format::Ndjson;
            write_run(&dest, n, scanned.started, ndjson, fill)
        }
    };
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
    Ok(RunEnd {
        outcome: Outcome {
            up: summary.up,
            interrupted,
        },
        snapshot,
    })
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
            Ok(sock) => lanes.push(Lane { sock }),
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
