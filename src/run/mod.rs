//! A whole run: targets → output prepared → socket → scan → CSV → summary. Input errors
//! surface before the socket opens, so nothing is sent when the input is bad.

pub mod checkpoint;
pub mod deliver;
pub mod discover;
pub mod eta;
pub mod every;
pub mod interrupt;
pub mod journal;
pub mod progress;
pub mod record;
pub mod spool;
pub mod state;

use crate::cli::Config;
use crate::engine::counters::Counters;
use crate::engine::onlink::OnLink;
use crate::engine::table::Status;
use crate::engine::{self, MAX_TARGETS};
use crate::engine::{Position, Shard};
use crate::error::{warn, Error, Result};
use crate::net::kernel::Sockets;
use crate::net::layer2::{self, L2};
use crate::results::output::Results;
use crate::results::prom;
use crate::results::rdns;
use crate::results::sink::Sink;
use crate::results::summary::{RunInfo, Summary};
use crate::run::progress::Progress;
use crate::targets::build::{build, Built};
use crate::targets::Targets;
use crate::wire::ether::Mac;
use checkpoint::Checkpointer;
use deliver::{write_summary_json, Delivery, RunOut};
use std::cell::RefCell;
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
    // Before anything is resolved or sent: a file that is not sweep's inventory, or is a
    // newer sweep's, stops the run here (exit 2). One that cannot be written now (a
    // read-only or full disk) costs the record, not the scan: it goes on, says so, exits 3.
    // A server inventory that cannot be used (no server, refused credentials, not sweep's,
    // newer) stops the run too, exit 3: a scan of many shards recording into one database
    // is better not run than run unrecorded.
    let opened = cfg
        .db
        .as_deref()
        .map(|db| crate::store::open(db, cfg.migrate))
        .transpose();
    let (inventory, unrecordable) = match opened {
        Ok(inv) => (inv, None),
        Err(e) if e.exit_code() == 2 || matches!(e, Error::Database { .. }) => return Err(e),
        Err(e) => {
            warn(format_args!(
                "sweep: {e}; scanning anyway, but the run will not be recorded"
            ));
            let reason = match e {
                Error::Inventory { reason, .. } => reason,
                other => other.to_string(),
            };
            (None, Some(reason))
        }
    };
    let inventory = RefCell::new(inventory);
    let built = build(&cfg.sources(), &|large| {
        // Discovery sends packets: the output paths are checked first, as for the scan.
        Sink::prepare(cfg.output.as_deref())?;
        if let Some(p) = cfg.summary_json.as_deref() {
            Sink::prepare(Some(p))?;
        }
        crate::net::privs::raise_net_raw();
        discover::spans(cfg, large)
    });
    let Built {
        targets,
        unresolved,
    } = match built {
        Err(e @ Error::NoneAnswered { .. }) => return nobody_answered(cfg, &e),
        built => built?,
    };
    if targets.len() > MAX_TARGETS {
        return Err(Error::TooManyTargets {
            count: targets.len(),
            max: MAX_TARGETS,
        });
    }
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
    // A `+p` file capability: effective now, for the sockets; dropped once they are open.
    crate::net::privs::raise_net_raw();
    let onlink = onlink_path(cfg, &targets, &mut opts)?;
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
        inventory: &inventory,
        unrecordable: unrecordable.as_deref(),
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

/// Discovery of an on-link prefix found nobody and there was nothing else to scan: a
/// scan that found no host, as any other (exit 1, an output with no rows), saying why.
fn nobody_answered(cfg: &Config, why: &Error) -> Result<Outcome> {
    // Discovery's sockets are closed: written with no privilege, as any scan's output.
    crate::net::privs::drop_all()?;
    let targets = Targets::new(Vec::new(), Vec::new());
    let table = engine::table::Table::new(0, false);
    let heard = crate::engine::receiver::Heard::default();
    let (macs, hostnames) = (HashMap::new(), HashMap::new());
    let started = SystemTime::now();
    let results = Results {
        targets: &targets,
        table: &table,
        heard: &heard,
        macs: &macs,
        started,
        hostnames: &hostnames,
        partial: false,
        count: None,
    };
    let facts = prom::ScanFacts {
        targets: 0,
        up: 0,
        elapsed: Duration::ZERO,
        probes: 0,
        started,
    };
    Sink::prepare(cfg.output.as_deref())?
        .finish(|w| crate::results::write(w, &cfg.layout, &results, &facts))?;
    warn(format_args!("sweep: {why}"));
    let outcome = Outcome {
        up: 0,
        interrupted: false,
    };
    if let Some(p) = cfg.summary_json.as_deref() {
        let info = RunInfo {
            started_at: started,
            finished_at: SystemTime::now(),
            interrupted: false,
            exit_code: outcome.exit_code(),
        };
        write_summary_json(
            Sink::prepare(Some(p))?,
            &Summary::nothing(cfg.scan.seed),
            &info,
            true,
        )?;
    }
    Ok(outcome)
}

/// The on-link targets' path: frames of our own, or the kernel's (paced, with a warning,
/// when layer 2 is wanted but not allowed).
fn onlink_path(
    cfg: &Config,
    targets: &Targets,
    opts: &mut engine::ScanOptions,
) -> Result<Option<OnLink>> {
    Ok(match layer2::open(&cfg.layer2(), targets)? {
        L2::Frames { plan, socks } => {
            let lanes = socks
                .into_iter()
                .map(|sock| Box::new(sock) as Box<dyn crate::net::Link>)
                .collect();
            Some(OnLink::new(plan, lanes, cfg.ttl.unwrap_or(64)))
        }
        L2::Kernel => None,
        L2::Paced { onlink, iface } => {
            let cap = layer2::neighbour_safe_rate();
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
    })
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
    /// `--db`: where each run is recorded.
    inventory: &'a RefCell<Option<Box<dyn crate::store::Inventory>>>,
    /// Why `--db` could not be opened for writing: each run ends with that error.
    unrecordable: Option<&'a str>,
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

/// Each target's MACs (its own first, then any conflicting one) or the proxy that
/// answered for it, from this run's layer-2 path and the resumed run's journal.
fn neighbours(
    n: u32,
    onlink: Option<&OnLink>,
    earlier: &HashMap<u32, Mac>,
) -> crate::results::row::Macs {
    use crate::engine::onlink::Claim;
    use crate::results::row::Neighbour;
    (0..n)
        .filter_map(|i| {
            let at = u64::from(i);
            let seen = match onlink.map_or(Claim::None, |o| o.claim(at)) {
                Claim::Host(m) => Neighbour {
                    macs: std::iter::once(m)
                        .chain(onlink.map_or_else(Vec::new, |o| o.other_macs(at)))
                        .collect(),
                    proxied: false,
                },
                Claim::Proxied(_) => Neighbour {
                    macs: Vec::new(),
                    proxied: true,
                },
                Claim::None => Neighbour {
                    macs: vec![*earlier.get(&i)?],
                    proxied: false,
                },
            };
            Some((i, seen))
        })
        .collect()
}

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
    let mut saver = Checkpointer::new(checkpoint::place(cfg.state_path()), opts.seed, fp);
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
    summary.asked = opts.shard.size(targets.len());
    summary.stopped = scanned
        .stopped_at
        .map(|at| crate::results::summary::Stopped {
            round: at.round.saturating_add(1),
            // At the shard's first position of a later round: that round had not begun.
            begun: at.round == 0 || at.pos != opts.shard.index,
            rounds: opts.retries.saturating_add(1),
            by_yield: opts.adaptive,
        });
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
    // A snapshot of what layer 2 learned: the rows never reach into its sockets.
    let macs = neighbours(table.len() as u32, onlink, earlier_macs);
    let results = Results {
        targets,
        table,
        heard: &heard_all,
        macs: &macs,
        started: scanned.started,
        hostnames: &hostnames,
        partial,
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
        cfg,
        opts,
        interrupts: cx.interrupts,
        scanned: &scanned,
        saver: &mut saver,
        once,
        mac: &mac,
    };
    let (ended, json) = delivery.deliver(out, &fill);
    // Read after the write: a signal while writing counts too (Ctrl-C on `sweep … | less`
    // also ends the reader).
    let interrupted = scanned.stopped_at.is_some() || interrupted_now();
    summary.unresolved = cx.unresolved.to_vec();
    let outcome = Outcome {
        up: summary.up,
        interrupted,
    };
    // Not silenced by -q, as other warnings are not: a nightly job must see loss.
    if let Some(line) = crate::results::path::warning(&scanned.path) {
        warn(format_args!("{line}"));
    }
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
    let recorded = match (cx.inventory.borrow_mut().as_mut(), cfg.db.as_deref()) {
        (Some(inv), Some(db)) => {
            let what = record::Described {
                cfg,
                seed: opts.seed,
                started: scanned.started,
                exit: outcome.exit_code(),
                interrupted,
            };
            record::record(inv.as_mut(), db, &what, &results)?;
            true
        }
        _ => false,
    };
    if let (Some(reason), Some(db)) = (cx.unrecordable, cfg.db.as_deref()) {
        return Err(Error::NotRecorded {
            path: crate::store::shown(db),
            reason: reason.to_string(),
        });
    }
    let snapshot = match cfg.every {
        Some(_) => every::snapshot(targets, table, &mac),
        None => every::Snapshot::new(),
    };
    // Not silenced by -q: telling what changed is what repeated runs are for. A recorded
    // run has said it already, as events.
    if let (Some(prev), Some(n), false) = (prev, run_n, recorded) {
        for line in every::changes(prev, &snapshot, n) {
            warn(format_args!("{line}"));
        }
    }
    Ok(RunEnd { outcome, snapshot })
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
