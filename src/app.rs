//! A whole run: targets → output prepared → socket → scan → CSV → summary. Input errors
//! surface before the socket opens, so nothing is sent when the input is bad.

use crate::checkpoint::{self, Checkpointer};
use crate::cli::Config;
use crate::counters::Counters;
use crate::error::{warn, Error, Result};
use crate::net::packet::PacketSocket;
use crate::net::route::{self, Netlink};
use crate::onlink::{Lane, OnLink};
use crate::output::{self, Results};
use crate::progress::Progress;
use crate::sender::{Position, Shard};
use crate::sink::Sink;
use crate::state;
use crate::summary::Summary;
use crate::table::Status;
use crate::targets::{self, Role, Span, Targets};
use crate::transport::{SocketChoice, Sockets};
use crate::wire::ether::Mac;
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
    let prior = match &cfg.resume {
        Some(path) => Some(checkpoint::load(path, &targets, &mut opts, cfg.seed_given)?),
        None => None,
    };
    let resume = prior.as_ref().map(|p| &p.state);
    let journal = prior.as_ref().and_then(|p| p.journal.as_ref());
    // MACs an earlier run learned at layer 2: this one does not ask its answered targets again.
    let earlier_macs: HashMap<u32, Mac> =
        journal.map_or_else(HashMap::new, |j| j.macs.iter().copied().collect());
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
                crate::transport::setcap_hint()
            ));
            None
        }
    };
    let sink = Sink::prepare(cfg.output.as_deref())?;
    let senders = scan::auto_senders(&opts);
    let probe_len = crate::wire::ICMP_HEADER + opts.payload;
    let (v4, v6) = (targets.has_v4(), targets.has_v6());
    let socks = Sockets::open(cfg.socket, cfg.ttl, v4, v6, senders, probe_len)?;
    socks.bind(cfg.iface.as_deref(), cfg.src)?;
    // Before any thread starts (capabilities are per thread; new threads inherit them).
    crate::privs::drop_all()?;
    sink.recheck()?;
    let counters = Counters::default();
    interrupt::install(counters.interrupts.clone()).map_err(Error::Signals)?;
    let progress = Progress::new(cfg.quiet);
    let fp = state::fingerprint(&targets, &opts);
    let mut saver = Checkpointer::new(cfg.state_path(), opts.seed, fp);
    let mac = |i: u32| {
        onlink
            .as_ref()
            .and_then(|o| o.mac_of(u64::from(i)))
            .or_else(|| earlier_macs.get(&i).copied())
    };
    let scanned = scan::run(
        &targets,
        &opts,
        resume,
        journal,
        &socks,
        &counters,
        onlink.as_ref(),
        &mut || progress.tick(&counters),
        &mut |table, pos| saver.periodic(table, pos, &mac),
    )?;
    progress.finish();
    let kernel_drops = socks.kernel_drops();
    drop(socks);
    let table = &scanned.table;
    // A resumed run with its journal has every earlier answer: its output is whole
    // unless some answer has no row (marked prior: a state without its journal).
    let prior_rows_missing = resume.is_some()
        && (journal.is_none()
            || (0..table.len() as u32).any(|i| table.get(i).status == Status::Prior));
    let partial = opts.shard != Shard::WHOLE || prior_rows_missing || scanned.stopped_at.is_some();
    let hostnames = match cfg.rdns {
        // Interrupted already: write what there is now; the resumed run looks names up.
        Some(_) if counters.interrupted() => HashMap::new(),
        Some(timeout) => {
            let up: Vec<_> = (0..targets.len() as u32)
                .filter(|&i| table.get(i).status == Status::Up)
                .map(|i| (i, targets.addr_at(u64::from(i))))
                .collect();
            let found = rdns::resolve(&up, timeout, &|| counters.interrupted());
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
    let present = |i: u32| mac(i).is_some();
    let mut summary = Summary::new(&scanned, &counters, opts.seed, partial, &present);
    summary.kernel_drops = kernel_drops;
    // Who sent the ICMP errors: this run's receivers, and the journal's for earlier answers.
    let mut heard_all = crate::receiver::Heard {
        responders: table.responders(),
        ..Default::default()
    };
    heard_all
        .responders
        .extend(scanned.heard.responders.iter().map(|(&i, &a)| (i, a)));
    let results = Results {
        targets: &targets,
        table,
        heard: &heard_all,
        macs: &earlier_macs,
        started: scanned.started,
        hostnames: &hostnames,
        partial,
        onlink: onlink.as_ref(),
    };
    // The journal and state first: with them nothing is lost if the output fails.
    if let Some(pos) = scanned.stopped_at {
        saver.save(table, pos, &mac)?;
        warn(format_args!(
            "sweep: interrupted: continue with --resume {}",
            saver.state.display()
        ));
    }
    let written = sink.finish(|w| output::write(w, &cfg.layout, &results));
    // A signal while writing counts too: Ctrl-C on `sweep … | less` also ends the reader.
    let interrupted = scanned.stopped_at.is_some() || counters.interrupted();
    match written {
        Ok(()) if scanned.stopped_at.is_none() => {
            // The output now holds the whole inventory: the checkpoints, this run's and
            // the ones it resumed, are obsolete.
            saver.remove();
            if let Some(p) = &cfg.resume {
                let _ = std::fs::remove_file(crate::journal::path_for(p));
                let _ = std::fs::remove_file(p);
            }
        }
        Ok(()) => {}
        // The reader went away with the signal: still an interrupted run (130), not the
        // success a closed pipe otherwise is.
        Err(e) if e.is_broken_pipe() && interrupted => {}
        Err(e) if e.is_broken_pipe() => saver.remove(),
        Err(e) => {
            // Probes went out: keep what they found. Everything was sent unless stopped.
            let pos = scanned.stopped_at.unwrap_or(Position {
                round: opts.retries + 1,
                pos: opts.shard.index,
            });
            if scanned.stopped_at.is_some() || saver.save(table, pos, &mac).is_ok() {
                warn(format_args!(
                    "sweep: the results are saved in {}: write them with the same targets and \
                     --resume {} -o FILE",
                    saver.journal.display(),
                    saver.state.display()
                ));
            }
            return Err(e);
        }
    }
    if !cfg.quiet {
        warn(format_args!("{summary}"));
    }
    Ok(Outcome {
        up: summary.up,
        interrupted,
    })
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
    let routes = nl.dump().map_err(Error::Routes)?;
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
                    return Err(crate::transport::permission_error(
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
