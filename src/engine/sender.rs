//! The sender thread: walks the permutation round by round, paced, in batches; retry
//! rounds probe only targets still silent, after an interval adapted to observed RTTs.
//! A shard walks every `count`-th position of the same permutation; a resumed scan starts
//! at the position where the interrupted one stopped. Count mode's rounds go to every
//! owned target, answered or not, `period` apart.

use crate::engine::control::Control;
use crate::engine::count::CountPlan;
use crate::engine::counters::Counters;
use crate::engine::ledger::{Ledger, Probe};
use crate::engine::onlink::{self, Echo, OnLink};
use crate::engine::path::{self, Filter, Path, SAMPLE_ROUND};
use crate::engine::proxy;
use crate::engine::rate::Pacer;
use crate::engine::shard::{Position, Shard};
use crate::engine::table::Table;
use crate::error::Result;
use crate::net::{FramesOut, Outbox, Transport};
use crate::probe::ProbeTemplate;
use crate::targets::permute::Permutation;
use crate::targets::Targets;
use crate::wire::ether::Mac;
use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_BATCH: usize = 64;

/// What sends one address family: its socket and probe template.
#[derive(Clone, Copy)]
pub struct Family<'a> {
    pub sock: &'a dyn Transport,
    pub template: &'a ProbeTemplate,
}

pub struct Plan<'a> {
    pub targets: &'a Targets,
    pub perm: &'a Permutation,
    /// Per sending thread: its IPv4 and IPv6 family (present when the targets include it).
    pub lanes: Vec<[Option<Family<'a>>; 2]>,
    pub table: &'a Table,
    pub counters: &'a Counters,
    /// When to stop sending (`control.rs` has the rules).
    pub control: &'a Control<'a>,
    /// The path's measurement, which also holds the send rate (`--rate`, or lower).
    pub path: &'a Path,
    /// Rounds by yield: `rounds` is then the most there may be.
    pub adaptive: bool,
    /// 1 + retries.
    pub rounds: u8,
    pub timeout: Duration,
    pub shard: Shard,
    pub start: Option<Position>,
    /// Probe stamps are nanoseconds since this instant.
    pub epoch: Instant,
    /// The layer-2 path for on-link targets, if any.
    pub onlink: Option<&'a OnLink>,
    /// How far sending has got, for checkpoints taken while it runs.
    pub frontier: &'a Frontier,
    /// Count mode (`-c N`): rounds to every target, answered or not.
    pub count: Option<CountPlan<'a>>,
}

/// The positions claimed in the current round, shared by its workers and read by
/// checkpoints: everything below the lowest chunk still being sent has gone out.
#[derive(Debug, Default)]
pub struct Frontier {
    inner: Mutex<Claims>,
}

#[derive(Debug, Default)]
struct Claims {
    round: u8,
    /// The next position to claim.
    next: u64,
    /// Chunks claimed and not yet completely sent, by first position.
    sending: Vec<u64>,
    /// Past the last round: everything has gone out.
    done: bool,
    /// The shard's first position, where the next round starts.
    first: u64,
}

impl Frontier {
    /// Sending will start at `start`; `shard_first` is the shard's first position.
    pub fn at(start: Position, shard_first: u64) -> Frontier {
        let f = Frontier::default();
        f.start_round(start.round, start.pos, shard_first);
        f
    }

    fn claims(&self) -> std::sync::MutexGuard<'_, Claims> {
        // A worker that panicked holding the lock leaves consistent data (plain fields).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn start_round(&self, round: u8, first: u64, shard_first: u64) {
        let mut c = self.claims();
        *c = Claims {
            round,
            next: first,
            sending: Vec::new(),
            done: false,
            first: shard_first,
        };
    }

    /// Claims the `span` positions from the next one, unless it is `n` or past.
    fn claim(&self, span: u64, n: u64) -> Option<u64> {
        let mut c = self.claims();
        let p0 = c.next;
        if p0 >= n {
            return None;
        }
        c.next = p0.saturating_add(span);
        c.sending.push(p0);
        Some(p0)
    }

    /// The chunk from `p0` has gone out completely.
    fn release(&self, p0: u64) {
        let mut c = self.claims();
        if let Some(k) = c.sending.iter().position(|&p| p == p0) {
            c.sending.swap_remove(k);
        }
    }

    fn next(&self) -> u64 {
        self.claims().next
    }

    /// Every round has gone out; `rounds` is one past the last.
    fn finish(&self, rounds: u8, shard_first: u64) {
        let mut c = self.claims();
        c.round = rounds;
        c.next = shard_first;
        c.first = shard_first;
        c.sending.clear();
        c.done = true;
    }

    /// A position to resume from: nothing below it in its round is left unsent. A round
    /// whose positions are all claimed and sent resumes at the start of the next one;
    /// `round` equal to the scan's round count means everything was sent.
    pub fn position(&self, n: u64) -> Position {
        let c = self.claims();
        match c.sending.iter().min() {
            _ if c.done => Position {
                round: c.round,
                pos: c.first,
            },
            Some(&p) => Position {
                round: c.round,
                pos: p,
            },
            None if c.next >= n => Position {
                round: c.round.saturating_add(1),
                pos: c.first,
            },
            None => Position {
                round: c.round,
                pos: c.next,
            },
        }
    }
}

/// How sending ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendEnd {
    pub last_probe: Instant,
    /// Where it stopped when interrupted; `None` when every round ran.
    pub stopped_at: Option<Position>,
}

/// Probes of one family waiting to go out together: to silent targets, and samples
/// among them where they fell due (a policer's burst treats them alike).
struct Batch<'s> {
    tx: Box<dyn Outbox + 's>,
    template: &'s ProbeTemplate,
    index: Vec<u32>,
    dst: Vec<IpAddr>,
    sample: Vec<bool>,
}

/// On-link targets waiting to go out on one interface: a solicitation for those not yet
/// resolved, an echo frame to the MAC of those that are.
struct L2Batch<'s> {
    /// One frame per target: a solicitation, or an echo (to its MAC, or through a proxy).
    frames: Box<dyn FramesOut + 's>,
    us: Mac,
    index: Vec<u32>,
    /// Per queued target: whether it is a sample (an echo to a host known up).
    sample: Vec<bool>,
    /// Per frame: its target, length and kind.
    sent: Vec<u32>,
    lens: Vec<usize>,
    kinds: Vec<Probe>,
}

/// Positions a worker claims at a time (times the shard stride), at most. Each claimed
/// chunk is sent completely, so on interrupt everything below the claim counter has gone
/// out; at low rates a chunk is smaller, so finishing it after an interrupt is quick.
const CHUNK: u64 = 1024;
/// A claimed chunk takes at most this long to send at the worker's rate.
const CHUNK_TIME_MS: u64 = 50;

/// Positions per chunk for one worker sending `rate` probes/s.
fn chunk_len(rate: Option<u64>) -> u64 {
    rate.map_or(CHUNK, |r| (r * CHUNK_TIME_MS / 1000).clamp(1, CHUNK))
}

/// Sends every round; returns when the last probe left or the scan was interrupted.
pub fn run(plan: &Plan) -> Result<SendEnd> {
    if let Some(c) = &plan.count {
        return send_counting(plan, c);
    }
    let n = plan.targets.len();
    let owned = plan.control.owned();
    let mut last_probe = Instant::now();
    let start = plan.start.unwrap_or(Position {
        round: 0,
        pos: plan.shard.index,
    });
    if start.round >= plan.rounds {
        plan.frontier.finish(plan.rounds, plan.shard.index);
    }
    let mut rounds = plan.rounds;
    // Behind a rate limit, the positions a retry goes back to; `None`: every silent target.
    let mut only: Option<Filter> = None;
    for round in start.round..plan.rounds {
        if round > start.round && !wait_for_retry(plan, last_probe) {
            another_round(plan, round - 1, false);
            let stopped_at = plan.control.interrupted().then_some(Position {
                round,
                pos: plan.shard.index,
            });
            return Ok(SendEnd {
                last_probe,
                stopped_at,
            });
        }
        if round > start.round && !another_round(plan, round - 1, true) {
            rounds = round;
            break;
        }
        if round > start.round && plan.narrows(round - 1, start) {
            only = plan.path.narrow(only.as_ref());
            if only.as_ref().is_some_and(Filter::is_empty) {
                rounds = round;
                break;
            }
        }
        let first = if round == start.round {
            start.pos
        } else {
            plan.shard.index
        };
        if let Some(o) = plan.onlink {
            o.round.store(round, Relaxed);
            if round > 0 {
                o.judge_proxies(plan.table, plan.targets);
            }
        }
        let pending = match &only {
            None => owned.saturating_sub(plan.counters.answered.load(Relaxed)),
            Some(f) => plan.silent_within(f),
        };
        plan.counters.begin_round(round, pending);
        plan.path.begin_round(round, pending, only.is_some());
        if let Some(t) = send_round(plan, round, first, only.as_ref())? {
            last_probe = last_probe.max(t);
        }
        let reached = plan.frontier.next();
        if reached < n && plan.control.interrupted() {
            let stopped_at = Some(Position {
                round,
                pos: reached,
            });
            return Ok(SendEnd {
                last_probe,
                stopped_at,
            });
        }
    }
    if rounds == plan.rounds && start.round < plan.rounds {
        // The last round's yield; its samples resolve during the final wait.
        another_round(plan, plan.rounds - 1, false);
    }
    plan.frontier.finish(plan.rounds, plan.shard.index);
    if let Some(t) = proxy_round(plan, last_probe)? {
        last_probe = t;
    }
    Ok(SendEnd {
        last_probe,
        stopped_at: None,
    })
}

/// After a retry interval (`wait_for_retry`) and, with `settle`, once round `done`'s
/// samples are resolved: records what it found (hosts whose first reply answered its
/// probes) and says whether a retry round follows: with rounds by yield, only while the
/// path's delivery says a live host is still hidden (`path/estimate.rs`).
fn another_round(plan: &Plan, done: u8, settle: bool) -> bool {
    // Its samples' outcomes first: at most a sample's wait, on a clean path one RTT.
    loop {
        let now_ns = plan.epoch.elapsed().as_nanos() as u64;
        plan.path
            .settle(now_ns, plan.sample_wait_ns(), plan.sent_all());
        if !settle || plan.path.round_settled(done) || plan.control.interrupted() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let up = plan.counters.up.load(Relaxed);
    let found = plan.counters.found_in(done);
    let wanted = plan.path.another_round(done, found, up, plan.rounds);
    // On a LAN a silent target may be one whose ARP or neighbour solicitation was lost,
    // which no sample of a host known up shows: while a round still finds hosts, the
    // next goes too (within the cap).
    let unsampled = plan.onlink.is_some() && found > 0 && done + 1 < plan.rounds;
    !plan.adaptive || wanted || unsampled
}

/// The retry interval the RTTs give so far, or the timeout before any reply.
fn retry_interval(plan: &Plan) -> Duration {
    match plan.counters.rto_us.load(Relaxed) {
        0 => plan.timeout,
        us => Duration::from_micros(us),
    }
}

/// One round over the shard's positions from `first` (only those `only` allows, if
/// given), on every lane; returns when the last probe left, if any did. (Count mode's
/// rounds always start at the shard's first.)
pub(crate) fn send_round(
    plan: &Plan,
    round: u8,
    first: u64,
    only: Option<&Filter>,
) -> Result<Option<Instant>> {
    plan.frontier.start_round(round, first, plan.shard.index);
    let ends = std::thread::scope(|s| {
        let handles: Vec<_> = plan
            .lanes
            .iter()
            .map(|lane| s.spawn(move || worker(plan, lane, round, only)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("sender worker panicked"))
            .collect::<Vec<_>>()
    });
    let mut last = None;
    for end in ends {
        last = last.max(end?);
    }
    Ok(last)
}

/// The largest layer-2 frame a lane's probes need.
fn l2_frame_len(lane: &[Option<Family>; 2]) -> usize {
    let probe = lane.iter().flatten().map(|f| f.template.len()).max();
    onlink::frame_len(probe.unwrap_or(0))
}

/// One sending thread of a round: claims chunks of positions until none are left (or the
/// scan is interrupted), at its share of the rate, and tells the path when each went out.
/// Returns when it last sent, if it did.
fn worker(
    plan: &Plan,
    lane: &[Option<Family>; 2],
    round: u8,
    only: Option<&Filter>,
) -> Result<Option<Instant>> {
    let n = plan.targets.len();
    let rate = plan.share(plan.path.rate());
    let mut pacer = Pacer::new(rate);
    // The most a batch holds; at a lower rate the path sets, batches shrink with it (a
    // policer passes only a short burst back to back).
    let size = pacer.batch_size(MAX_BATCH);
    let mut batches = lane.map(|f| {
        f.map(|f| Batch {
            tx: f.sock.outbox(size, f.template.len()),
            template: f.template,
            index: Vec::with_capacity(size),
            dst: Vec::with_capacity(size),
            sample: Vec::with_capacity(size),
        })
    });
    // Count mode measures every target itself: no samples.
    let sampling = plan.count.is_none();
    let mut gaps = path::Gaps::new();
    let mut l2: Vec<L2Batch> = plan.onlink.map_or_else(Vec::new, |o| {
        let flen = l2_frame_len(lane);
        o.lanes
            .iter()
            .map(|l| L2Batch {
                frames: l.frames_out(size, flen),
                us: l.mac(),
                index: Vec::with_capacity(size),
                sample: Vec::with_capacity(size),
                sent: Vec::with_capacity(size),
                lens: Vec::with_capacity(size),
                kinds: Vec::with_capacity(size),
            })
            .collect()
    });
    let span = chunk_len(rate).saturating_mul(plan.shard.count);
    let mut last = None;
    while !plan.control.interrupted() {
        let Some(p0) = plan.frontier.claim(span, n) else {
            break;
        };
        let (mut pos, end) = (p0, n.min(p0.saturating_add(span)));
        let (claimed, sent_before) = (Instant::now(), last);
        while pos < end {
            let at = pos;
            pos += plan.shard.count;
            if only.is_some_and(|f| !f.allows(at)) {
                continue;
            }
            let i = plan.perm.at(at) as u32;
            if plan.count.is_none() && plan.table.is_answered(i) {
                continue;
            }
            if let Some((o, seg)) = plan
                .onlink
                .and_then(|o| Some((o, o.plan.find(u64::from(i))?.0)))
            {
                let b = &mut l2[o.lane_of(seg)];
                b.index.push(i);
                b.sample.push(false);
                if b.index.len() >= size {
                    last = Some(flush_l2(plan, o, lane, b, &mut pacer, round)?);
                }
                // On a LAN too the path's delivery steers the rate and the rounds: a
                // host known up on the segment gets an echo frame to its MAC.
                if sampling && gaps.tick(plan.path.sample_every()) {
                    let now_ns = plan.epoch.elapsed().as_nanos() as u64;
                    if let Some(j) = plan.path.pick(round, now_ns) {
                        match o.plan.find(u64::from(j)) {
                            Some((seg, _)) => {
                                let b = &mut l2[o.lane_of(seg)];
                                b.index.push(j);
                                b.sample.push(true);
                                if b.index.len() >= size {
                                    last = Some(flush_l2(plan, o, lane, b, &mut pacer, round)?);
                                }
                            }
                            None => plan.path.not_sent(j),
                        }
                    }
                }
                continue;
            }
            let dst = plan.targets.addr_at(u64::from(i));
            let b = batches[usize::from(dst.is_ipv6())]
                .as_mut()
                .expect("a socket for every family among the targets");
            b.index.push(i);
            b.dst.push(dst);
            b.sample.push(false);
            if b.index.len() >= pacer.batch_size(size) {
                last = Some(flush(plan, b, &mut pacer, round)?);
            }
            if sampling && gaps.tick(plan.path.sample_every()) {
                let now_ns = plan.epoch.elapsed().as_nanos() as u64;
                if let Some(j) = plan.path.pick(round, now_ns) {
                    let dst = plan.targets.addr_at(u64::from(j));
                    let onlink = plan
                        .onlink
                        .is_some_and(|o| o.plan.find(u64::from(j)).is_some());
                    if onlink {
                        // Its echo goes in a frame, with the on-link targets' sampling.
                        plan.path.not_sent(j);
                    } else if let Some(b) = batches[usize::from(dst.is_ipv6())].as_mut() {
                        b.index.push(j);
                        b.dst.push(dst);
                        b.sample.push(true);
                        if b.index.len() >= pacer.batch_size(size) {
                            last = Some(flush(plan, b, &mut pacer, round)?);
                        }
                    }
                }
            }
        }
        for b in batches.iter_mut().flatten().filter(|b| !b.index.is_empty()) {
            last = Some(flush(plan, b, &mut pacer, round)?);
        }
        if let Some(o) = plan.onlink {
            for b in l2.iter_mut().filter(|b| !b.index.is_empty()) {
                last = Some(flush_l2(plan, o, lane, b, &mut pacer, round)?);
            }
        }
        if let Some(t) = last.filter(|&t| sampling && Some(t) != sent_before) {
            let ns = |t: Instant| t.saturating_duration_since(plan.epoch).as_nanos() as u64;
            plan.path.went_out((p0, end), ns(claimed), ns(t));
        }
        plan.frontier.release(p0);
    }
    Ok(last)
}

/// Writes and sends a batch of on-link probes: what each target gets depends on whether
/// it has resolved (echo to its MAC) or not (ARP request / neighbour solicitation; in a
/// retry round on a link where a proxy answers, also an echo through the proxy).
fn flush_l2(
    plan: &Plan,
    o: &OnLink,
    lane: &[Option<Family>; 2],
    b: &mut L2Batch,
    pacer: &mut Pacer,
    round: u8,
) -> Result<Instant> {
    steer(plan, pacer);
    pacer.wait_for(b.index.len() as u64, &|| plan.control.interrupted());
    let now_ns = plan.epoch.elapsed().as_nanos() as u64;
    let us = b.us;
    for (&i, &sample) in b.index.iter().zip(&b.sample) {
        let dst = plan.targets.addr_at(u64::from(i));
        let (seg, slot) = o.plan.find(u64::from(i)).expect("queued as on-link");
        let src = seg.src;
        let them = seg.via.or_else(|| o.neighbours.mac(slot));
        let family = &lane[usize::from(dst.is_ipv6())];
        let echo = |them| {
            family.map(|f| Echo {
                template: f.template,
                us,
                them,
                src,
                dst,
                ttl: o.ttl,
            })
        };
        // Count mode's rounds are one probe each: no second frame.
        let proxy = match round {
            _ if plan.count.is_some() => None,
            0 => None,
            _ => o.proxy_for(seg.link, dst),
        };
        let mut push = |write: &dyn Fn(&mut [u8]) -> usize| {
            b.lens.push(write(b.frames.slot(b.sent.len())));
            b.sent.push(i);
            b.kinds
                .push(if sample { Probe::Sample } else { Probe::Round });
        };
        if sample {
            // A host known up: an echo to its MAC (a proxy's answer is no sample).
            match them.and_then(echo) {
                Some(e) => push(&|buf| onlink::write_echo(buf, &e, i, SAMPLE_ROUND, now_ns)),
                None => plan.path.not_sent(i),
            }
            continue;
        }
        match them.and_then(echo) {
            Some(e) => push(&|buf| onlink::write_echo(buf, &e, i, round, now_ns)),
            // In a block a proxy serves, its answer is known: only echo tells.
            None => match proxy.and_then(echo) {
                Some(e) => push(&|buf| onlink::write_echo(buf, &e, i, round, now_ns)),
                None => push(&|buf| onlink::write_solicitation(buf, us, src, dst)),
            },
        }
    }
    let (frames, lens, kinds) = (&mut b.frames, &b.lens, &b.kinds);
    plan.ledger().send(
        &b.sent,
        |k| kinds.get(k).copied().unwrap_or(Probe::Round),
        || frames.send(lens),
    )?;
    b.index.clear();
    b.sample.clear();
    b.sent.clear();
    b.lens.clear();
    b.kinds.clear();
    Ok(Instant::now())
}

/// Before a batch: the path's samples are judged, and the pacer follows the rate.
fn steer(plan: &Plan, pacer: &mut Pacer) {
    let now_ns = plan.epoch.elapsed().as_nanos() as u64;
    plan.path
        .settle_every(now_ns, plan.sample_wait_ns(), plan.sent_all());
    let rate = plan.path.rate();
    plan.counters.rate_pps.store(rate.unwrap_or(0), Relaxed);
    pacer.set_rate(plan.share(rate));
}

/// Sends a batch at the path's current rate.
fn flush(plan: &Plan, b: &mut Batch, pacer: &mut Pacer, round: u8) -> Result<Instant> {
    steer(plan, pacer);
    pacer.wait_for(b.index.len() as u64, &|| plan.control.interrupted());
    let now_ns = plan.epoch.elapsed().as_nanos() as u64;
    for (k, (&i, &sample)) in b.index.iter().zip(&b.sample).enumerate() {
        let round = if sample { SAMPLE_ROUND } else { round };
        b.template.write(b.tx.slot(k), i, round, now_ns);
    }
    let sample = &b.sample;
    plan.ledger().send(
        &b.index,
        |k| match sample.get(k) {
            Some(true) => Probe::Sample,
            _ => Probe::Round,
        },
        || b.tx.send(&b.dst),
    )?;
    b.index.clear();
    b.dst.clear();
    b.sample.clear();
    Ok(Instant::now())
}

/// Waits one retry interval after the previous round; false if the round is not wanted
/// any more (everyone answered, or an interrupt).
fn wait_for_retry(plan: &Plan, last_probe: Instant) -> bool {
    loop {
        if !plan.control.retry_wanted(plan.counters) {
            return false;
        }
        let rto = retry_interval(plan);
        let left = (last_probe + rto).saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(5)));
    }
}

/// After the last round: a proxy's ARP answers come late (Linux: up to 0.8 s), often
/// after every round went out, so whether a MAC is a proxy is known only then. Half a
/// timeout after the last probe, if a proxy answered, every target on its link still
/// unresolved and unanswered gets one echo through it; returns when the last left.
fn proxy_round(plan: &Plan, last_probe: Instant) -> Result<Option<Instant>> {
    let Some(o) = plan
        .onlink
        .filter(|o| o.neighbours.resolved() >= proxy::MIN_SILENT)
    else {
        return Ok(None);
    };
    // Not worth waiting for when everyone answered (the scan ends now) or on interrupt.
    let at = last_probe + plan.timeout / 2;
    while Instant::now() < at {
        if !plan.control.retry_wanted(plan.counters) {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    o.judge_proxies(plan.table, plan.targets);
    let round = plan.rounds - 1;
    let mut pacer = Pacer::new(plan.path.rate());
    let size = pacer.batch_size(MAX_BATCH);
    let lane = &plan.lanes[0];
    let flen = l2_frame_len(lane);
    let mut last = None;
    for (seg, first_slot) in o.plan.segments.iter().scan(0, |slot, s| {
        let at = *slot;
        *slot += s.len;
        Some((s, at))
    }) {
        let Some(f) = lane[usize::from(seg.src.is_ipv6())] else {
            continue;
        };
        let link = &o.lanes[o.lane_of(seg)];
        let mut frames = link.frames_out(size, flen);
        let (mut sent, mut lens) = (Vec::with_capacity(size), Vec::with_capacity(size));
        // Silent, unresolved, and where a proxy claimed others: through that proxy.
        let behind = (0..seg.len).filter_map(|k| {
            let i = seg.first + k;
            let silent = plan.table.owns(i as u32)
                && !plan.table.is_answered(i as u32)
                && o.neighbours.mac(first_slot + k).is_none();
            let dst = plan.targets.addr_at(i);
            silent.then(|| Some((i, dst, o.proxy_for(seg.link, dst)?)))?
        });
        for (i, dst, proxy) in behind {
            let e = Echo {
                template: f.template,
                us: link.mac(),
                them: proxy,
                src: seg.src,
                dst,
                ttl: o.ttl,
            };
            let now_ns = plan.epoch.elapsed().as_nanos() as u64;
            lens.push(onlink::write_echo(
                frames.slot(sent.len()),
                &e,
                i as u32,
                round,
                now_ns,
            ));
            sent.push(i as u32);
            if sent.len() == size {
                pacer.wait_for(sent.len() as u64, &|| plan.control.interrupted());
                plan.ledger()
                    .send(&sent, |_| Probe::Round, || frames.send(&lens))?;
                last = Some(Instant::now());
                sent.clear();
                lens.clear();
            }
        }
        if !sent.is_empty() {
            pacer.wait_for(sent.len() as u64, &|| plan.control.interrupted());
            plan.ledger()
                .send(&sent, |_| Probe::Round, || frames.send(&lens))?;
            last = Some(Instant::now());
        }
    }
    Ok(last)
}

impl Plan<'_> {
    /// How long a sample may take to be answered, ns.
    fn sample_wait_ns(&self) -> u64 {
        path::sample_wait(retry_interval(self), self.timeout).as_nanos() as u64
    }

    /// Whether the retry after round `done` may go back only to its lossy stretches: with
    /// rounds by yield, when this run sent the whole round (a resumed one did not), and
    /// on routed paths only (on-link targets are never sampled).
    fn narrows(&self, done: u8, start: Position) -> bool {
        self.adaptive && self.onlink.is_none() && (self.start.is_none() || done > start.round)
    }

    /// Silent targets of this shard at the positions `only` allows.
    fn silent_within(&self, only: &Filter) -> u64 {
        let (index, step) = (self.shard.index, self.shard.count.max(1));
        let mut silent = 0;
        for r in only.ranges() {
            // The shard's first position at or after the range's start.
            let from = r.start + (index + step - r.start % step) % step;
            let mut p = from;
            while p < r.end {
                silent += u64::from(!self.table.is_answered(self.perm.at(p) as u32));
                p += step;
            }
        }
        silent
    }

    /// Probes and samples sent so far.
    fn sent_all(&self) -> u64 {
        self.counters.sent.load(Relaxed) + self.counters.samples.load(Relaxed)
    }

    /// One sending thread's share of `rate`.
    fn share(&self, rate: Option<u64>) -> Option<u64> {
        rate.map(|r| (r / self.lanes.len().max(1) as u64).max(1))
    }

    /// Where this scan's probes are counted.
    pub(crate) fn ledger(&self) -> Ledger<'_> {
        Ledger {
            table: self.table,
            counters: self.counters,
            count: self.count.as_ref().map(|c| c.table),
        }
    }
}

/// Count mode's sending: `count` rounds over every owned target, answered or not, round
/// k starting `period` after round k-1 started (or when it finished, if later).
/// An interrupt stops sending; there is nothing to resume (the rounds are the measurement).
fn send_counting(plan: &Plan, c: &CountPlan) -> Result<SendEnd> {
    let owned = plan.control.owned();
    let mut last_probe = Instant::now();
    let mut start = Instant::now();
    for r in 0..c.options.count {
        if r > 0 && !wait_until(plan, start + c.options.period) {
            break;
        }
        start = Instant::now();
        if let Some(o) = plan.onlink {
            o.round.store(r as u8, Relaxed);
        }
        plan.counters.planned.fetch_add(owned, Relaxed);
        if let Some(t) = send_round(plan, r as u8, plan.shard.index, None)? {
            last_probe = last_probe.max(t);
        }
        if plan.control.interrupted() {
            break;
        }
    }
    Ok(SendEnd {
        last_probe,
        stopped_at: None,
    })
}

/// Sleeps until `at`; false if interrupted first.
fn wait_until(plan: &Plan, at: Instant) -> bool {
    loop {
        if plan.control.interrupted() {
            return false;
        }
        let left = at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(5)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// N shards together visit every position exactly once.
        #[test]
        fn shards_partition_the_permutation(n in 1u64..3000, count in 1u64..9, seed: u64) {
            let perm = Permutation::new(n, seed);
            let mut seen = vec![0u8; n as usize];
            for index in 0..count {
                let shard = Shard { index, count };
                let mut visited = 0;
                let mut pos = index;
                while pos < n {
                    seen[perm.at(pos) as usize] += 1;
                    visited += 1;
                    pos += count;
                }
                prop_assert_eq!(visited, shard.size(n));
            }
            prop_assert!(seen.iter().all(|&s| s == 1));
        }
    }
}
