//! Count mode (`-c N`): N echo requests to every target, one per round, rounds `period`
//! apart; each reply is credited to its (target, round). The statistics live in their own
//! table, allocated only in count mode, so the default table stays 8 bytes a target.
//!
//! Per target (40 bytes): probes sent, replies received, RTT min/max/sum/sum of squares,
//! and one word holding the rounds begun (top 16 bits) beside a bitmap of which of the
//! last `WINDOW` rounds were answered: a second reply to an answered round is a
//! duplicate, a reply to an older round (or after the timeout) is late, and neither is a
//! reception. Probe stamps carry the round modulo 256; the rounds begun say which round
//! that is. Per-probe RTTs (`rtts`, 4 bytes a probe) are kept only when asked for.
//! The rounds themselves are sent by `sender.rs`.

use crate::engine::shard::Slots;
use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Most probes a target gets in count mode.
pub const MAX_COUNT: u16 = 1000;
/// Shortest `--period`: closer probes to one host look like a flood.
pub const MIN_PERIOD: Duration = Duration::from_millis(10);
/// Rounds back a reply may still be credited to: the bitmap's width.
pub const WINDOW: u16 = 48;
const BITS: u64 = (1 << WINDOW) - 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountOptions {
    /// Probes per target.
    pub count: u16,
    /// Between one round's start and the next one's.
    pub period: Duration,
    /// Keep every probe's RTT (for `rtts` in JSON / NDJSON).
    pub keep_rtts: bool,
}

struct Slot {
    sum_us: AtomicU64,
    /// µs², saturating (1,000 RTTs of 136 s would overflow).
    sum_sq: AtomicU64,
    /// Rounds begun << 48 | answered bits of the last `WINDOW` rounds (bit = round % 48).
    rounds: AtomicU64,
    min_us: AtomicU32,
    max_us: AtomicU32,
    sent: AtomicU16,
    received: AtomicU16,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            sum_us: AtomicU64::new(0),
            sum_sq: AtomicU64::new(0),
            rounds: AtomicU64::new(0),
            min_us: AtomicU32::new(u32::MAX),
            max_us: AtomicU32::new(0),
            sent: AtomicU16::new(0),
            received: AtomicU16::new(0),
        }
    }
}

/// What a reply counted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credit {
    /// The first reply to this round: a reception.
    Received,
    /// Another reply to a round already answered.
    Duplicate,
    /// Too old: after the timeout, or more than `WINDOW` rounds back.
    Late,
}

/// One target's statistics, unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    pub sent: u16,
    pub received: u16,
    /// Sum of the received replies' RTTs.
    pub sum_us: u64,
    pub min_us: Option<u32>,
    pub max_us: Option<u32>,
    pub avg_us: Option<u32>,
    /// Population standard deviation, as fping and ping report it.
    pub stddev_us: Option<u32>,
}

impl Stats {
    /// Loss in tenths of a percent (`None` before anything was sent).
    pub fn loss_permille(&self) -> Option<u64> {
        let (s, r) = (
            u64::from(self.sent),
            u64::from(self.received.min(self.sent)),
        );
        (s > 0).then(|| ((s - r) * 1000 + s / 2) / s)
    }
}

pub struct CountTable {
    /// Where each target's slot is (a shard holds only its own).
    map: Slots,
    slots: Box<[Slot]>,
    /// `count` entries per target: RTT µs + 1, 0 for no reply.
    rtts: Option<Box<[AtomicU32]>>,
    count: u16,
}

impl CountTable {
    pub fn new(map: Slots, o: &CountOptions) -> CountTable {
        let (n, per) = (map.len(), usize::from(o.count));
        CountTable {
            map,
            slots: (0..n).map(|_| Slot::new()).collect(),
            rtts: o
                .keep_rtts
                .then(|| (0..n * per).map(|_| AtomicU32::new(0)).collect()),
            count: o.count,
        }
    }

    /// Target `i`'s slot and its place; `None` for another shard's target.
    #[inline]
    fn slot(&self, i: u32) -> Option<(usize, &Slot)> {
        let at = self.map.of(i)?;
        Some((at, self.slots.get(at)?))
    }

    /// Bytes this table takes per target.
    #[cfg(test)]
    pub fn bytes_per_target(&self) -> usize {
        std::mem::size_of::<Slot>()
            + self
                .rtts
                .as_ref()
                .map_or(0, |_| 4 * usize::from(self.count))
    }

    /// Starts the next round for target `i` (the sender, before its probe leaves);
    /// returns the round's number.
    pub fn begin(&self, i: u32) -> u16 {
        let Some((_, s)) = self.slot(i) else { return 0 };
        s.sent.fetch_add(1, Relaxed);
        let prev = s
            .rounds
            .fetch_update(Relaxed, Relaxed, |w| {
                let begun = w >> 48;
                let bit = 1 << (begun % u64::from(WINDOW));
                Some(((begun + 1) << 48) | (w & BITS & !bit))
            })
            .unwrap_or_else(|w| w);
        (prev >> 48) as u16
    }

    /// Undoes the `sent` of a probe the kernel refused (the round stays begun).
    pub fn take_back(&self, i: u32) {
        if let Some((_, s)) = self.slot(i) {
            let _ = s.sent.fetch_update(Relaxed, Relaxed, |v| v.checked_sub(1));
        }
    }

    /// A valid reply to target `i`'s probe stamped `stamp_round` (the round mod 256),
    /// `rtt_us` after it left; replies slower than `limit_us` are late.
    pub fn record(&self, i: u32, stamp_round: u8, rtt_us: u32, limit_us: u32) -> Credit {
        let Some((at, s)) = self.slot(i) else {
            return Credit::Late;
        };
        let mut round = 0u16;
        let mut credit = Credit::Late;
        let _ = s.rounds.fetch_update(Relaxed, Relaxed, |w| {
            credit = Credit::Late;
            let begun = (w >> 48) as u16;
            let last = begun.checked_sub(1)?;
            let back = u16::from((last as u8).wrapping_sub(stamp_round));
            if back >= WINDOW || back > last || rtt_us > limit_us {
                return None;
            }
            round = last - back;
            let bit = 1u64 << (round % WINDOW);
            if w & bit != 0 {
                credit = Credit::Duplicate;
                return None;
            }
            credit = Credit::Received;
            Some(w | bit)
        });
        if credit != Credit::Received {
            return credit;
        }
        s.received.fetch_add(1, Relaxed);
        let us = u64::from(rtt_us);
        s.sum_us.fetch_add(us, Relaxed);
        let _ = s.sum_sq.fetch_update(Relaxed, Relaxed, |v| {
            Some(v.saturating_add(us.saturating_mul(us)))
        });
        s.min_us.fetch_min(rtt_us, Relaxed);
        s.max_us.fetch_max(rtt_us, Relaxed);
        if let Some(rtts) = &self.rtts {
            if round < self.count {
                let at = at * usize::from(self.count) + usize::from(round);
                if let Some(r) = rtts.get(at) {
                    r.store(rtt_us.saturating_add(1), Relaxed);
                }
            }
        }
        Credit::Received
    }

    pub fn stats(&self, i: u32) -> Stats {
        let Some((_, s)) = self.slot(i) else {
            return Stats::default();
        };
        let received = s.received.load(Relaxed);
        let got = received > 0;
        let n = f64::from(received);
        let sum_us = s.sum_us.load(Relaxed);
        let sum = sum_us as f64;
        let mean = sum / n.max(1.0);
        let var = (s.sum_sq.load(Relaxed) as f64 / n.max(1.0) - mean * mean).max(0.0);
        Stats {
            sent: s.sent.load(Relaxed),
            received,
            sum_us,
            min_us: got.then(|| s.min_us.load(Relaxed)),
            max_us: got.then(|| s.max_us.load(Relaxed)),
            avg_us: got.then(|| mean.round() as u32),
            stddev_us: got.then(|| var.sqrt().round() as u32),
        }
    }

    /// Every round's RTT for target `i` (`None`: no reply), if they were kept; rounds
    /// never sent (an interrupted run) are left out.
    pub fn rtts(&self, i: u32) -> Option<Vec<Option<u32>>> {
        let rtts = self.rtts.as_ref()?;
        let per = usize::from(self.count);
        let Some((at, s)) = self.slot(i) else {
            return Some(Vec::new());
        };
        let begun = (s.rounds.load(Relaxed) >> 48) as usize;
        let row = rtts.get(at * per..(at + 1) * per)?;
        Some(
            row[..begun.min(per)]
                .iter()
                .map(|v| v.load(Relaxed).checked_sub(1))
                .collect(),
        )
    }
}

/// What the sender needs in count mode.
pub struct CountPlan<'a> {
    pub table: &'a CountTable,
    pub options: CountOptions,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(n: usize, count: u16, keep_rtts: bool) -> CountTable {
        CountTable::new(
            Slots::whole(n as u64),
            &CountOptions {
                count,
                period: Duration::from_secs(1),
                keep_rtts,
            },
        )
    }

    #[test]
    fn a_slot_stays_under_64_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 40);
        assert_eq!(table(1, 100, false).bytes_per_target(), 40);
        assert_eq!(table(1, 100, true).bytes_per_target(), 440);
    }

    #[test]
    fn each_round_counts_once_and_stats_add_up() {
        let t = table(2, 4, true);
        for r in 0..4u16 {
            assert_eq!(t.begin(0), r);
            let rtt = 1000 * (u32::from(r) + 1);
            if r != 2 {
                assert_eq!(t.record(0, r as u8, rtt, 1_000_000), Credit::Received);
                assert_eq!(t.record(0, r as u8, rtt, 1_000_000), Credit::Duplicate);
            }
        }
        let s = t.stats(0);
        assert_eq!((s.sent, s.received), (4, 3));
        assert_eq!(s.loss_permille(), Some(250));
        assert_eq!(
            (s.min_us, s.max_us, s.avg_us),
            (Some(1000), Some(4000), Some(2333))
        );
        // Population stddev of 1, 2, 4 ms: 1.247 ms.
        assert_eq!(s.stddev_us, Some(1247));
        assert_eq!(
            t.rtts(0).unwrap(),
            [Some(1000), Some(2000), None, Some(4000)]
        );
        let quiet = t.stats(1);
        assert_eq!((quiet.sent, quiet.received, quiet.avg_us), (0, 0, None));
        assert_eq!(quiet.loss_permille(), None);
        assert_eq!(t.rtts(1).unwrap(), []);
    }

    #[test]
    fn late_replies_are_never_receptions() {
        let t = table(1, 300, false);
        t.begin(0);
        // Slower than the limit.
        assert_eq!(t.record(0, 0, 2_000, 1_000), Credit::Late);
        // More than WINDOW rounds back, including across the stamp's 8-bit wrap.
        for _ in 1..300 {
            t.begin(0);
        }
        assert_eq!(t.record(0, 200, 10, 1_000), Credit::Late);
        assert_eq!(t.record(0, (299 - 48) as u8, 10, 1_000), Credit::Late);
        assert_eq!(t.record(0, (299 - 47) as u8, 10, 1_000), Credit::Received);
        assert_eq!(t.record(0, 299u16 as u8, 10, 1_000), Credit::Received);
        assert_eq!(t.stats(0).received, 2);
        // A round whose bit was reused: answered 48 rounds ago, fresh now.
        let t = table(1, 100, false);
        t.begin(0);
        assert_eq!(t.record(0, 0, 10, 1_000), Credit::Received);
        for _ in 0..48 {
            t.begin(0);
        }
        assert_eq!(t.record(0, 48, 10, 1_000), Credit::Received);
        assert_eq!(t.record(0, 0, 10, 1_000), Credit::Late);
        // A refused probe is not sent, but its round is gone.
        t.take_back(0);
        assert_eq!(t.stats(0).sent, 48);
    }

    #[test]
    fn unprobed_targets_get_no_credit() {
        let t = table(1, 5, false);
        assert_eq!(t.record(0, 0, 10, 1_000), Credit::Late);
        assert_eq!(t.stats(0).received, 0);
    }

    #[test]
    fn concurrent_receptions_are_not_lost() {
        let t = table(64, 40, true);
        for i in 0..64 {
            for _ in 0..40 {
                t.begin(i);
            }
        }
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for i in 0..64 {
                        for r in 0..40u8 {
                            t.record(i, r, 100 + u32::from(r), 1_000_000);
                        }
                    }
                });
            }
        });
        for i in 0..64 {
            let s = t.stats(i);
            assert_eq!((s.sent, s.received), (40, 40));
            assert_eq!((s.min_us, s.max_us), (Some(100), Some(139)));
        }
    }
}
