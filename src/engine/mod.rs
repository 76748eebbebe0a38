//! One scan: the sender and receiver threads around a shared table, started, overseen
//! (progress ticks, checkpoints) and joined; `control.rs` decides when it is over.

pub mod control;
pub mod count;
pub mod counters;
pub mod discover;
pub mod ledger;
pub mod onlink;
pub mod path;
pub mod proxy;
pub mod rate;
pub mod receiver;
pub mod rto;
pub mod sender;
pub mod shard;
pub mod table;

use crate::engine::control::Control;
use crate::engine::counters::Counters;
use crate::engine::table::Table;
use crate::error::Result;
use crate::net::kernel::SendPath;
use crate::net::Endpoints;
use crate::probe::validate::Validator;
use crate::probe::{Key, ProbeTemplate, Proto};
use crate::targets::permute::Permutation;
use crate::targets::Targets;
use count::{CountOptions, CountPlan, CountTable};
use onlink::OnLink;
use receiver::Heard;
use sender::{Family, Frontier, Plan, SendEnd};
pub use shard::{Position, Shard, Slots};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Packets per second; `None` = as fast as the machine allows. A ceiling: the rate
    /// backs off when the path loses answers (`path/aimd.rs`), unless `fixed_rate`.
    pub rate: Option<u64>,
    /// Retry rounds; with `adaptive`, the most there may be.
    pub retries: u8,
    /// Rounds by yield (the default): retry while the measured delivery says a live host
    /// is still hidden (`path/estimate.rs`), at most `retries` times.
    pub adaptive: bool,
    /// Keep `rate` whatever the path does (benchmarks).
    pub fixed_rate: bool,
    pub timeout: Duration,
    pub seed: u64,
    pub payload: usize,
    pub path: SendPath,
    pub shard: Shard,
    /// Keep each target's first-answer time (for a `seen_at` column).
    pub timestamps: bool,
    /// Sending threads; 0 = `auto_senders`.
    pub senders: u64,
    /// Count mode (`-c N`): per-target loss and RTT statistics; retries do not apply.
    pub count: Option<CountOptions>,
}

/// The most targets one scan takes (all shards together): 8 bytes of table each, so an
/// unsharded scan's table is 2 GiB at the limit.
pub const MAX_TARGETS: u64 = 1 << 28;
/// The most retries a scan takes: the table numbers the round a reply answers.
pub const MAX_RETRIES: u8 = table::MAX_ROUND - 1;
/// The most retry rounds the default (rounds by yield) sends.
pub const ADAPTIVE_RETRIES: u8 = 10;
/// The longest timeout, in µs: the table holds RTTs up to this.
pub const MAX_TIMEOUT_US: u32 = table::MAX_RTT_US;

/// Above this rate one sending thread is busy in the kernel's send path all the time.
const ONE_SENDER_UP_TO: u64 = 120_000;

/// Two sending threads (each with its own socket) for `--rate max` or very high rates on a
/// machine with cores to spare: each thread's kernel send path is the limit (the /16 lab
/// figures are in bench/RESULTS.md).
pub fn auto_senders(opts: &ScanOptions) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match (opts.senders, opts.rate) {
        (0, Some(r)) if r <= ONE_SENDER_UP_TO => 1,
        (0, _) => cores.min(2),
        (k, _) => k as usize,
    }
}

pub struct Scanned {
    pub table: Table,
    pub heard: Heard,
    pub elapsed: Duration,
    /// From the start until the last probe left: the span the send rate is measured over.
    pub sending: Duration,
    /// Wall-clock time of the scan's epoch (reply times are offsets from it).
    pub started: SystemTime,
    /// Where sending stopped, if the scan was interrupted.
    pub stopped_at: Option<Position>,
    /// What the layer-2 receivers ignored.
    pub l2: onlink::Heard,
    /// Count mode's per-target statistics.
    pub count: Option<CountTable>,
    /// What the path did to the probes: delivery per round, rate changes.
    pub path: path::Report,
}

/// How often the caller's `tick` (progress display) runs in the final wait; while sending
/// it runs every fifth of this, so the display follows the send rate closely.
const TICK: Duration = Duration::from_millis(100);
/// How often the end-of-scan wait checks whether everyone has answered.
const POLL: Duration = Duration::from_millis(2);
/// How often the caller's `checkpoint` runs while the scan goes on.
pub const CHECKPOINT: Duration = Duration::from_secs(2);

/// What an interrupted run left for this one to continue from (`run/` reads it from the
/// state file and its journal).
#[derive(Debug, Clone, Copy)]
pub struct Prior<'a> {
    /// Where the interrupted run stopped sending.
    pub position: Position,
    /// Bit `i` set: target `i` had answered.
    pub answered: &'a [u8],
    /// With a journal: answered targets' table words and who sent each ICMP error.
    pub journal: Option<Kept<'a>>,
}

/// An interrupted run's results, by ascending target index.
#[derive(Debug, Clone, Copy)]
pub struct Kept<'a> {
    pub cells: &'a [(u32, u64)],
    pub responders: &'a [(u32, IpAddr)],
}

impl Prior<'_> {
    fn is_answered(&self, i: usize) -> bool {
        self.answered
            .get(i / 8)
            .is_some_and(|b| b & (1 << (i % 8)) != 0)
    }
}

/// What one scan is given.
pub struct Scan<'a> {
    pub targets: &'a Targets,
    pub opts: &'a ScanOptions,
    /// An interrupted run to continue from, with the results it kept.
    pub resume: Option<&'a Prior<'a>>,
    pub socks: &'a Endpoints<'a>,
    /// The layer-2 path for on-link targets, if any.
    pub onlink: Option<&'a OnLink>,
    /// Statistics the caller reads while the scan runs (progress) and after (summary).
    pub counters: &'a Counters,
    /// SIGINT/SIGTERM so far, counted by the caller's handler: the first stops sending,
    /// the second also the wait for late replies.
    pub interrupts: &'a AtomicUsize,
}

/// What the scan calls while it runs: `tick` every `TICK` (progress), `checkpoint` every
/// `CHECKPOINT` with a position to resume from.
pub struct Hooks<'h> {
    pub tick: &'h mut dyn FnMut(),
    pub checkpoint: &'h mut dyn FnMut(&Table, Position),
}

/// Everything a scan builds before its threads start.
struct Setup {
    key: Key,
    perm: Permutation,
    templates: [ProbeTemplate; 2],
    table: Table,
    count: Option<CountTable>,
    rounds: u8,
    /// Where sending starts.
    start: Position,
    /// Room for the largest reply we accept: our probe plus IP headers with options, and
    /// an ICMP error quoting all of it.
    slot_len: usize,
}

impl Setup {
    fn new(scan: &Scan) -> Result<Setup> {
        let (opts, n) = (scan.opts, scan.targets.len());
        // The seed orders the probes and nothing else. Every process (so every shard,
        // every resumed run) draws its own key: shards side by side on one host each see
        // every reply and accept only answers to their own probes, and another run's
        // replies or knowing the seed grants nothing.
        let key = Key::random().map_err(crate::error::Error::Random)?;
        let perm = Permutation::new(n, opts.seed);
        let templates = [
            ProbeTemplate::new(key, opts.payload, Proto::Icmp4),
            ProbeTemplate::new(key, opts.payload, Proto::Icmp6),
        ];
        // Tables sized to this shard's slice: N shards of one scan hold one table's worth.
        let slots = Slots::new(opts.shard, &perm);
        let table = Table::of(slots.clone(), opts.timestamps);
        let rounds = opts.retries + 1;
        let count = opts.count.map(|c| CountTable::new(slots, &c));
        if let Some(state) = scan.resume {
            restore(&table, scan.counters, state, &perm, opts.shard, rounds);
        }
        let start = scan.resume.map_or(
            Position {
                round: 0,
                pos: opts.shard.index,
            },
            |s| s.position,
        );
        let slot_len = 2 * (60 + templates[0].len()) + 16;
        Ok(Setup {
            key,
            perm,
            templates,
            table,
            count,
            rounds,
            start,
            slot_len,
        })
    }

    /// Each sending thread's IPv4 and IPv6 transport and template.
    fn lanes<'a>(&'a self, socks: &Endpoints<'a>) -> Vec<[Option<Family<'a>>; 2]> {
        std::iter::once([socks.v4, socks.v6])
            .chain(socks.extra.iter().copied())
            .map(|[v4, v6]| {
                [
                    v4.map(|sock| Family {
                        sock,
                        template: &self.templates[0],
                    }),
                    v6.map(|sock| Family {
                        sock,
                        template: &self.templates[1],
                    }),
                ]
            })
            .collect()
    }
}

/// Runs the scan, resuming from `scan.resume` (with the results it kept) if given.
pub fn run(scan: &Scan, hooks: Hooks) -> Result<Scanned> {
    let (targets, opts, counters, onlink) = (scan.targets, scan.opts, scan.counters, scan.onlink);
    let n = targets.len();
    let setup = Setup::new(scan)?;
    let (table, count) = (&setup.table, setup.count.as_ref());
    let control = Control::new(scan.interrupts, opts.shard.size(n), count.is_some());
    let frontier = Frontier::at(setup.start, opts.shard.index);
    // Count mode measures loss itself and keeps its rate.
    let path = path::Path::new(opts.rate, !opts.fixed_rate && count.is_none());
    let (epoch, started) = (Instant::now(), SystemTime::now());
    let plan = Plan {
        targets,
        perm: &setup.perm,
        lanes: setup.lanes(scan.socks),
        table,
        counters,
        control: &control,
        path: &path,
        adaptive: opts.adaptive && count.is_none(),
        rounds: setup.rounds,
        timeout: opts.timeout,
        shard: opts.shard,
        start: scan.resume.map(|s| s.position),
        epoch,
        onlink,
        frontier: &frontier,
        count: opts
            .count
            .zip(count)
            .map(|(options, table)| CountPlan { table, options }),
    };
    let clock = receiver::Clock {
        epoch,
        unix_ns: started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    };
    let Hooks { tick, checkpoint } = hooks;
    let (sent, heard, l2) = std::thread::scope(|s| {
        let receivers: Vec<_> = scan
            .socks
            .each()
            .map(|sock| {
                let (control, path) = (&control, &path);
                s.spawn(move || {
                    let validator =
                        Validator::new(setup.key, sock.is_raw(), targets).expecting(opts.payload);
                    let rx = receiver::Receiver {
                        validator: &validator,
                        tables: receiver::Tables { table, count },
                        counters,
                        control,
                        clock,
                        timeout: opts.timeout,
                        path,
                    };
                    rx.run(sock, setup.slot_len)
                })
            })
            .collect();
        let l2_receivers: Vec<_> = (0..onlink.map_or(0, |o| o.lanes.len()))
            .map(|lane| {
                let (templates, control) = (&setup.templates, &control);
                s.spawn(move || {
                    let cx = onlink::Ctx {
                        onlink: onlink.expect("lanes imply the layer-2 path"),
                        lane,
                        targets,
                        ledger: ledger::Ledger {
                            table,
                            counters,
                            count,
                        },
                        control,
                        templates: [&templates[0], &templates[1]],
                        epoch,
                    };
                    onlink::receive(&cx)
                })
            })
            .collect();
        let tx = s.spawn(|| sender::run(&plan));
        let mut next_checkpoint = Instant::now() + CHECKPOINT;
        let mut beat = |tick_now: bool| {
            if tick_now {
                tick();
            }
            if Instant::now() >= next_checkpoint {
                checkpoint(table, frontier.position(n));
                next_checkpoint = Instant::now() + CHECKPOINT;
            }
        };
        // Replies to the last probes may still be on their way. A resumed scan that had
        // sent everything sent nothing now, and has nothing to wait for.
        let sent_before = setup.start.round >= setup.rounds;
        let sent = oversee(tx, &control, counters, &mut beat, |end| match sent_before {
            true => Instant::now(),
            false => end.last_probe + opts.timeout,
        });
        control.finish();
        // Samples still unanswered their whole wait after they left are lost.
        let rto = Duration::from_micros(counters.rto_us.load(Relaxed));
        let wait = path::sample_wait(rto, opts.timeout);
        path.finish(epoch.elapsed().as_nanos() as u64, wait.as_nanos() as u64);
        let l2 = join_all(l2_receivers, onlink::Heard::absorb);
        let heard = join_all(receivers, Heard::absorb);
        (sent, heard, l2)
    });
    let end = sent?;
    if let Some(o) = onlink {
        o.judge_proxies(table, targets);
    }
    tick();
    let Setup { table, count, .. } = setup;
    Ok(Scanned {
        table,
        heard: heard?,
        elapsed: epoch.elapsed(),
        sending: end.last_probe.saturating_duration_since(epoch),
        started,
        stopped_at: end.stopped_at,
        l2: l2?,
        count,
        path: path.report(counters.up.load(Relaxed), |k| counters.found_in(k)),
    })
}

/// The scan's own thread while the others work: `beat` (told whether a progress tick is
/// due) while the sender runs, then while `control` lets the wait for late replies go on,
/// until the deadline `wait` sets from how sending ended.
fn oversee(
    sender: std::thread::ScopedJoinHandle<'_, Result<SendEnd>>,
    control: &Control,
    counters: &Counters,
    beat: &mut dyn FnMut(bool),
    wait: impl FnOnce(&SendEnd) -> Instant,
) -> Result<SendEnd> {
    while !sender.is_finished() {
        beat(true);
        std::thread::sleep(TICK / 5);
    }
    let end = sender.join().expect("sender thread panicked")?;
    let deadline = wait(&end);
    let mut next_tick = Instant::now();
    while control.keep_waiting(counters, deadline) {
        let due = Instant::now() >= next_tick;
        if due {
            next_tick += TICK;
        }
        beat(due);
        std::thread::sleep(POLL);
    }
    Ok(end)
}

/// Joins receiver threads, adding up what they heard; the first error wins.
fn join_all<H: Default, E>(
    threads: Vec<std::thread::ScopedJoinHandle<'_, std::result::Result<H, E>>>,
    absorb: fn(&mut H, H),
) -> std::result::Result<H, E> {
    let mut all = Ok(H::default());
    for t in threads {
        match (t.join().expect("receiver thread panicked"), &mut all) {
            (Ok(h), Ok(sum)) => absorb(sum, h),
            (Err(e), Ok(_)) => all = Err(e),
            (_, Err(_)) => {}
        }
    }
    all
}

/// Puts an interrupted run's results back into `table`: answered targets get their cells
/// from the journal (and are not probed again); with a journal, targets still silent get
/// the probes they had (one per round before the stop, and one in its round if their
/// position was passed), so the resumed run's rows are the whole inventory. Answers the
/// state names but no journal has are marked prior: no row, as before journals.
fn restore(
    table: &Table,
    counters: &Counters,
    state: &Prior,
    perm: &Permutation,
    shard: Shard,
    rounds: u8,
) {
    let n = table.len() as u64;
    let (mut answered, mut up, mut unreachable) = (0, 0, 0);
    let journal = state.journal;
    if let Some(j) = journal {
        for &(i, w) in j.cells {
            table.restore(i, w);
        }
        for &(i, from) in j.responders {
            table.set_responder(i, from);
        }
    }
    for i in 0..n as u32 {
        if table.is_answered(i) {
        } else if state.is_answered(i as usize) {
            table.mark_prior(i);
        } else {
            continue;
        }
        answered += 1;
        match table.get(i).status {
            crate::engine::table::Status::Up => up += 1,
            crate::engine::table::Status::Unreachable => unreachable += 1,
            _ => {}
        }
    }
    if journal.is_some() {
        let Position { round, pos } = state.position;
        let step = usize::try_from(shard.count).unwrap_or(usize::MAX);
        for q in (shard.index..n).step_by(step) {
            let i = perm.at(q) as u32;
            let k = round.min(rounds) + u8::from(round < rounds && q < pos);
            if k > 0 && !table.is_answered(i) {
                table.add_probes(i, k);
            }
        }
    }
    // Prior answers are outside this shard only if the state is another shard's,
    // which the fingerprint rules out.
    counters.answered.store(answered, Relaxed);
    counters.up.store(up, Relaxed);
    counters.unreachable.store(unreachable, Relaxed);
}

#[cfg(test)]
mod tests;
