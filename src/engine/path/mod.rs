//! What the path does to our probes, measured while the scan runs: a small sample of
//! hosts already known up is probed again (nmap's timing pings; about one probe in a
//! hundred), and the share that answers, `q`, is the path's delivery. Per round it
//! decides whether another retry round is worth it (`estimate.rs`) and, behind a rate
//! limit, which stretches of the round it goes back to (`stretch.rs`); per window of
//! samples it steers the send rate (`aimd.rs`). Sample probes carry the round number
//! `SAMPLE_ROUND`, so the receiver hands their replies here, never to the table.

pub mod aimd;
pub mod estimate;
pub mod stretch;

use aimd::{Aimd, Change, LossKind};
use estimate::Round;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
pub use stretch::Filter;
use stretch::{Span, Timeline};

/// The stamp's round number on a sample probe (rounds of the scan itself stay below 32).
pub const SAMPLE_ROUND: u8 = u8::MAX;
/// Known-up hosts kept to sample from.
const POOL: usize = 1024;
/// Samples sent one after another at one rate, all resolved, make a window for the
/// rate controller (answers come back before losses are known: a window closed on
/// the first resolved would see too few losses).
pub const WINDOW: u64 = 20;
/// About this many samples a second, at any rate: one probe in `rate / 40`...
const SAMPLES_PER_S: u64 = 40;
/// ...but at least one in a hundred and at most one in ten.
const SAMPLE_EVERY: (u64, u64) = (10, 100);

/// Where the samples go among the probes: one in `sample_every` on average, at random
/// gaps (1 to twice that, less one). A fixed gap beats against a token bucket's fixed
/// pass pattern at a paced rate, and a whole window of samples could fall on dropped
/// slots (0 of 20 at 450 pps behind a 100/s policer, which passes 22 %).
#[derive(Debug, Clone)]
pub struct Gaps {
    state: u64,
    left: u64,
}

impl Gaps {
    pub fn new() -> Gaps {
        use std::hash::{BuildHasher, Hasher};
        // Any seed will do, so long as it is not zero (xorshift's fixed point).
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Gaps {
            state: seed | 1,
            left: 0,
        }
    }

    /// One probe went out; whether a sample follows it, one in `every` on average.
    pub fn tick(&mut self, every: u64) -> bool {
        if self.left == 0 {
            // xorshift64*: enough to break a beat, and cheap per probe.
            self.state ^= self.state >> 12;
            self.state ^= self.state << 25;
            self.state ^= self.state >> 27;
            let r = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d);
            let span = every.max(1).saturating_mul(2).saturating_sub(1);
            self.left = 1 + (r >> 11) % span;
        }
        self.left -= 1;
        self.left == 0
    }
}

impl Default for Gaps {
    fn default() -> Gaps {
        Gaps::new()
    }
}

/// How long a sample may take to be answered: several retry intervals, at least a
/// quarter second (a busy machine reads replies late, and a late answer taken for a
/// lost one would look like a rate limit), at most the scan's timeout.
pub fn sample_wait(rto: Duration, timeout: Duration) -> Duration {
    (8 * rto).max(Duration::from_millis(250)).min(timeout)
}

/// How often the sending threads resolve samples and steer the rate.
const SETTLE_EVERY_NS: u64 = 5_000_000;

/// A sample probe on its way.
#[derive(Debug, Clone, Copy)]
struct Out {
    sent_ns: u64,
    round: u8,
    /// The rate generation it was sent under: only samples of the current rate judge it.
    generation: u64,
    /// Its place among all samples sent.
    seq: u64,
    /// The rate it went out at, pps.
    rate: Option<u64>,
}

/// What the rate controller did and why: the facts of the warning and the summary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    pub round: u8,
    pub change: Change,
}

#[derive(Debug, Default)]
struct State {
    pool: Vec<u32>,
    cursor: usize,
    outstanding: HashMap<u32, Out>,
    generation: u64,
    next_seq: u64,
    /// The first sample of the current window, and the current generation's samples
    /// resolved so far (answered or not) by their place.
    window_first: u64,
    resolved: BTreeMap<u64, bool>,
    /// Where the window began: ns on the scan's clock and probes sent by then.
    window_from: (u64, u64),
    rounds: Vec<Round>,
    round: u8,
    aimd: Option<Aimd>,
    events: Vec<Event>,
    lowest: Option<u64>,
    /// Every sample's outcome by when it was sent, and what the current round sent when.
    timeline: Timeline,
    spans: Vec<Span>,
    /// When the rate was last settled, and the time spent at the controller's floor, ns.
    settled_ns: u64,
    floor_ns: u64,
}

/// The scan's measurement of its path, shared by the sender and the receivers.
#[derive(Debug)]
pub struct Path {
    state: Mutex<State>,
    /// The rate to send at now, pps; 0 = unpaced.
    rate: AtomicU64,
    pooled: AtomicUsize,
    /// When (ns on the scan's clock) `settle_every` next settles.
    next_settle_ns: AtomicU64,
}

/// What the path looked like at the end: for the summary and the warning.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub rounds: Vec<Round>,
    pub events: Vec<Event>,
    /// The rate at the end and the lowest it went, when the controller steered it.
    pub final_rate: Option<u64>,
    pub lowest_rate: Option<u64>,
    /// Live hosts the delivery estimate says may still be missing.
    pub hidden: Option<f64>,
    /// What the controller found the loss to be (`Unknown` without a controller).
    pub verdict: LossKind,
    /// The delivery the controller found the path to give below any limit.
    pub baseline: Option<f64>,
    /// Time the rate spent at the controller's floor, s.
    pub at_floor_s: f64,
}

impl Report {
    /// The kind of loss the scan saw: `Unknown` is none.
    pub fn kind(&self) -> LossKind {
        let sampled: Vec<f64> = self.rounds.iter().filter_map(Round::delivery).collect();
        // Not behind a rate limit found: its last round's samples went above it.
        let died = self.verdict != LossKind::RateLimit
            && sampled.len() >= 2
            && estimate::gone(&self.rounds)
            && sampled.iter().any(|&q| q > 0.0);
        // Rounds too short to sample enough may still lose answers: all of them together.
        let (n, a) = self
            .rounds
            .iter()
            .fold((0, 0), |(n, a), r| (n + r.samples, a + r.answered));
        let pooled = Round {
            samples: n,
            answered: a,
            ..Round::default()
        }
        .delivery();
        let lossy = sampled.iter().chain(&pooled).any(|&q| q < LOSSY);
        match self.verdict {
            _ if died => LossKind::Gone,
            LossKind::Unknown if lossy => LossKind::AnyRate,
            v => v,
        }
    }
}

/// Below this delivery a round lost answers worth a word.
pub const LOSSY: f64 = 0.95;

impl Path {
    /// `rate`: the `--rate` ceiling (`None`: unpaced); `steer`: whether the controller
    /// may lower it (not with a fixed rate, nor in count mode).
    pub fn new(rate: Option<u64>, steer: bool) -> Path {
        let aimd = rate.filter(|_| steer).map(Aimd::new);
        Path {
            state: Mutex::new(State {
                aimd,
                ..State::default()
            }),
            rate: AtomicU64::new(rate.unwrap_or(0)),
            pooled: AtomicUsize::new(0),
            next_settle_ns: AtomicU64::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Plain counters: a panic elsewhere leaves nothing half-changed that matters.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The rate to send at now; `None` = unpaced.
    #[inline]
    pub fn rate(&self) -> Option<u64> {
        Some(self.rate.load(Relaxed)).filter(|&r| r > 0)
    }

    /// One probe in this many is followed by a sample (on average: `Gaps`), at the
    /// current rate.
    pub fn sample_every(&self) -> u64 {
        self.rate().map_or(SAMPLE_EVERY.1, |r| {
            (r / SAMPLES_PER_S).clamp(SAMPLE_EVERY.0, SAMPLE_EVERY.1)
        })
    }

    /// Target `i` answered for the first time: a host to sample later. The pool fills
    /// with the first hosts found, then a few later ones take turns in it.
    #[inline]
    pub fn offer(&self, i: u32) {
        let full = self.pooled.load(Relaxed) >= POOL;
        if full && !i.is_multiple_of(61) {
            return;
        }
        let mut s = self.state();
        if s.pool.len() < POOL {
            s.pool.push(i);
            self.pooled.store(s.pool.len(), Relaxed);
        } else {
            let k = (i as usize / 61) % POOL;
            s.pool[k] = i;
        }
    }

    /// A known-up host to sample now, sent at `now_ns` in round `round`; `None` while
    /// no host is known up (or all are being sampled).
    pub fn pick(&self, round: u8, now_ns: u64) -> Option<u32> {
        let rate = self.rate();
        let mut s = self.state();
        let n = s.pool.len();
        for _ in 0..n.min(8) {
            let i = s.pool[s.cursor % n];
            s.cursor = s.cursor.wrapping_add(1);
            if !s.outstanding.contains_key(&i) {
                let (generation, seq) = (s.generation, s.next_seq);
                s.next_seq += 1;
                s.outstanding.insert(
                    i,
                    Out {
                        sent_ns: now_ns,
                        round,
                        generation,
                        seq,
                        rate,
                    },
                );
                return Some(i);
            }
        }
        None
    }

    /// The sample to `i` that `pick` chose was not sent after all (no way to it).
    pub fn not_sent(&self, i: u32) {
        self.state().outstanding.remove(&i);
    }

    /// A sample probe to `i` was answered (duplicates find nothing outstanding).
    pub fn answered(&self, i: u32) {
        let mut s = self.state();
        if let Some(out) = s.outstanding.remove(&i) {
            s.resolve(out, true);
        }
    }

    /// `settle`, at most every `SETTLE_EVERY_NS` whoever calls (each sending thread, each
    /// batch).
    pub fn settle_every(&self, now_ns: u64, wait_ns: u64, sent: u64) {
        let due = self.next_settle_ns.load(Relaxed);
        if now_ns >= due
            && self
                .next_settle_ns
                .compare_exchange(due, now_ns + SETTLE_EVERY_NS, Relaxed, Relaxed)
                .is_ok()
        {
            self.settle(now_ns, wait_ns, sent);
        }
    }

    /// Samples older than `wait_ns` at `now_ns` are lost; a full window steers the
    /// rate (`sent`: probes of all kinds sent so far, for the rate achieved). Returns
    /// the rate to send at.
    pub fn settle(&self, now_ns: u64, wait_ns: u64, sent: u64) -> Option<u64> {
        let mut s = self.state();
        s.expire(now_ns, wait_ns);
        let first = s.window_first;
        let window: Option<Vec<bool>> = (first..first + WINDOW)
            .map(|k| s.resolved.get(&k).copied())
            .collect();
        if let Some(window) = window {
            for k in first..first + WINDOW {
                s.resolved.remove(&k);
            }
            s.window_first = first + WINDOW;
            let (n, answered) = (WINDOW, window.iter().filter(|&&a| a).count() as u64);
            let (t0, sent0) = std::mem::replace(&mut s.window_from, (now_ns, sent));
            let secs = now_ns.saturating_sub(t0) as f64 / 1e9;
            let achieved = (t0 > 0 && secs > 0.0).then(|| sent.saturating_sub(sent0) as f64 / secs);
            let round = s.round;
            if let Some(change) = s
                .aimd
                .as_mut()
                .map(|a| a.window(answered as f64 / n as f64, n, achieved))
            {
                if change != Change::Held {
                    // A new rate: only samples sent from now on judge it.
                    s.generation += 1;
                    s.resolved.clear();
                    s.window_first = s.next_seq;
                    s.events.push(Event { round, change });
                }
                if let Change::Lowered { to, .. } = change {
                    s.lowest = Some(s.lowest.map_or(to, |l| l.min(to)));
                }
                if let Some(a) = &s.aimd {
                    self.rate.store(a.rate(), Relaxed);
                }
            }
        }
        if s.aimd.as_ref().is_some_and(Aimd::over_limit) {
            s.timeline.over(now_ns);
        }
        let since = now_ns.saturating_sub(std::mem::replace(&mut s.settled_ns, now_ns));
        if s.aimd.as_ref().is_some_and(|a| a.rate() <= a.floor_rate()) {
            s.floor_ns = s.floor_ns.saturating_add(since);
        }
        if let Some(r) = self.rate() {
            s.timeline.rate(now_ns, r);
        }
        self.rate()
    }

    /// Whether every sample sent in `round` is answered or lost: only then does its
    /// delivery say anything (answers come back before losses are known).
    pub fn round_settled(&self, round: u8) -> bool {
        !self.state().outstanding.values().any(|o| o.round == round)
    }

    /// Sending is over: samples older than `wait_ns` at `now_ns` are lost, for the
    /// rounds' delivery; the rate is not steered any more.
    pub fn finish(&self, now_ns: u64, wait_ns: u64) {
        self.state().expire(now_ns, wait_ns);
    }

    /// Round `round` begins, with `probes` targets to probe, only in the stretches the
    /// round before lost answers in if `narrowed`.
    pub fn begin_round(&self, round: u8, probes: u64, narrowed: bool) {
        let mut s = self.state();
        s.round = round;
        s.spans.clear();
        // The pause before this round is no part of a rate achieved.
        s.window_from = (0, 0);
        if let Some(a) = s.aimd.as_mut() {
            a.cautious(round > 0);
        }
        let rate = self.rate();
        let r = s.round_mut(round);
        r.probes = probes;
        r.rate = rate;
        r.narrowed = narrowed;
    }

    /// The positions `positions` of the current round went out between `from_ns` and
    /// `to_ns` (a sender's chunk).
    pub fn went_out(&self, positions: (u64, u64), from_ns: u64, to_ns: u64) {
        self.state().spans.push(Span {
            positions,
            from_ns,
            to_ns,
        });
    }

    /// The positions the retry after the current round goes back to, `within` those the
    /// round itself went to: its lossy stretches, when the only loss seen so far was a
    /// rate limit's (delivery came back when the rate came down) on an otherwise clean
    /// path; `None`, every silent target, when loss was seen at any rate (it is
    /// everywhere) or none was.
    pub fn narrow(&self, within: Option<&Filter>) -> Option<Filter> {
        let s = self.state();
        let limited = s.aimd.as_ref().is_some_and(|a| {
            a.verdict() == LossKind::RateLimit && a.baseline() >= aimd::CLEAN_BASE
        });
        limited.then(|| Filter::lossy(&s.spans, &s.timeline, within))
    }

    /// Round `round` is over and found `found` hosts; whether another (of at most
    /// `max_rounds`) is worth sending, with `up` hosts seen in all.
    pub fn another_round(&self, round: u8, found: u64, up: u64, max_rounds: u8) -> bool {
        let mut s = self.state();
        let rate = self.rate();
        let r = s.round_mut(round);
        r.found = found;
        r.rate = rate;
        let limited = s
            .aimd
            .as_ref()
            .is_some_and(|a| a.verdict() == LossKind::RateLimit);
        let done = &s.rounds[..=usize::from(round)];
        estimate::another_round(up, done, max_rounds, limited)
    }

    /// What the path did, `up` hosts found, `found_in(k)` of them by round `k`'s probes
    /// (late replies included, which the decision after the round may not have seen).
    pub fn report(&self, up: u64, found_in: impl Fn(u8) -> u64) -> Report {
        let mut s = self.state();
        for (k, r) in s.rounds.iter_mut().enumerate() {
            r.found = found_in(k as u8);
        }
        Report {
            hidden: estimate::hidden(up, &s.rounds),
            rounds: s.rounds.clone(),
            events: s.events.clone(),
            final_rate: s.aimd.as_ref().map(Aimd::rate),
            lowest_rate: s.lowest,
            verdict: s.aimd.as_ref().map_or(LossKind::Unknown, Aimd::verdict),
            baseline: s.aimd.as_ref().map(Aimd::baseline),
            at_floor_s: s.floor_ns as f64 / 1e9,
        }
    }
}

impl State {
    fn round_mut(&mut self, round: u8) -> &mut Round {
        let k = usize::from(round);
        if self.rounds.len() <= k {
            self.rounds.resize(k + 1, Round::default());
        }
        &mut self.rounds[k]
    }

    /// Samples older than `wait_ns` at `now_ns` are lost.
    fn expire(&mut self, now_ns: u64, wait_ns: u64) {
        let lost: Vec<u32> = self
            .outstanding
            .iter()
            .filter(|(_, o)| now_ns.saturating_sub(o.sent_ns) > wait_ns)
            .map(|(&i, _)| i)
            .collect();
        for i in lost {
            if let Some(out) = self.outstanding.remove(&i) {
                self.resolve(out, false);
            }
        }
    }

    fn resolve(&mut self, out: Out, answered: bool) {
        self.timeline.resolve(out.sent_ns, out.rate, answered);
        let r = self.round_mut(out.round);
        r.samples += 1;
        r.answered += u64::from(answered);
        if out.generation == self.generation {
            self.resolved.insert(out.seq, answered);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_resolve_by_answer_or_by_age_and_steer_the_rate() {
        let p = Path::new(Some(10_000), true);
        assert_eq!(p.pick(0, 0), None, "nobody known up yet");
        for i in 0..40 {
            p.offer(i);
        }
        p.begin_round(0, 1000, false);
        // 20 samples: 4 answered, 16 never.
        for k in 0..20u32 {
            let i = p.pick(0, 1_000).unwrap();
            if k % 5 == 0 {
                p.answered(i);
                p.answered(i); // a duplicate changes nothing
            }
        }
        assert_eq!(p.settle(2_000, 10_000, 0), Some(10_000), "not yet lost");
        assert_eq!(p.settle(20_000, 10_000, 0), Some(1_800));
        let r = p.report(40, |_| 0);
        assert_eq!((r.rounds[0].samples, r.rounds[0].answered), (20, 4));
        assert_eq!(r.rounds[0].delivery(), Some(0.2));
        assert_eq!(r.lowest_rate, Some(1_800));
        assert!(matches!(
            r.events[..],
            [Event {
                round: 0,
                change: Change::Lowered { from: 10_000, .. }
            }]
        ));
        // At 1,800 pps, a sample every 45 probes.
        assert_eq!(p.sample_every(), 45);
    }

    #[test]
    fn a_fixed_rate_is_measured_but_never_changed() {
        let p = Path::new(Some(5_000), false);
        p.offer(1);
        for t in 0..30 {
            assert_eq!(p.pick(0, t * 100), Some(1));
            assert_eq!(p.settle(t * 100 + 50, 10, 0), Some(5_000));
        }
        let r = p.report(1, |_| 0);
        assert_eq!((r.rounds[0].samples, r.rounds[0].answered), (30, 0));
        assert!(r.events.is_empty() && r.final_rate.is_none());
        assert_eq!(Path::new(None, true).rate(), None);
    }

    #[test]
    fn samples_come_one_in_every_at_uneven_gaps() {
        let mut g = Gaps::new();
        let (mut samples, mut gaps, mut last) = (0u64, std::collections::BTreeSet::new(), 0);
        for k in 1..=100_000u64 {
            if g.tick(20) {
                samples += 1;
                gaps.insert(k - last);
                last = k;
            }
        }
        // 5,000 expected; a fixed gap would give one gap length only.
        assert!((4_700..=5_300).contains(&samples), "{samples}");
        assert!(gaps.len() > 30, "{gaps:?}");
        assert!(gaps.iter().all(|&d| (1..=39).contains(&d)), "{gaps:?}");
    }

    #[test]
    fn the_pool_stays_bounded() {
        let p = Path::new(None, true);
        for i in 0..100_000 {
            p.offer(i);
        }
        assert_eq!(p.state().pool.len(), POOL);
        assert!(
            p.state().pool.iter().any(|&i| i >= POOL as u32),
            "later hosts too"
        );
    }
}
