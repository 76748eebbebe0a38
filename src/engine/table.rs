//! Lock-free per-target results: one `AtomicU64` per target (8 bytes each), written by the
//! receiver (first reply wins, duplicates counted) and by the sender (probe count). A
//! shard's table holds only its own targets (`Slots`); the others read as never probed.

use crate::engine::shard::Slots;
use crate::wire::Detail;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Down,
    Up,
    Unreachable,
    /// Answered in the run this one resumes; its row is in that run's output.
    Prior,
}

/// One target's results, unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub status: Status,
    pub rtt_us: u32,
    pub ttl: u8,
    pub dups: u8,
    pub probes: u8,
    pub detail: Detail,
    /// The retry round whose probe the first reply answered.
    pub round: u8,
}

impl Cell {
    /// Whether this run has anything to say about the target: it was probed, or answered.
    /// (A shard's other targets, or targets an interrupted run never reached, are not.)
    pub fn in_scope(&self) -> bool {
        self.status != Status::Prior && (self.probes > 0 || self.status != Status::Down)
    }
}

// Bit layout of a cell word.
const STATUS: (u32, u32) = (0, 2);
const RTT: (u32, u32) = (2, 28);
const TTL: (u32, u32) = (30, 8);
const DUPS: (u32, u32) = (38, 8);
const PROBES: (u32, u32) = (46, 8);
const DETAIL: (u32, u32) = (54, 5);
const ROUND: (u32, u32) = (59, 5);
/// Longest RTT a cell can hold (~268 s); the CLI caps the timeout below it.
pub const MAX_RTT_US: u32 = (1 << RTT.1) - 1;
/// Most retry rounds whose number a cell can hold.
pub const MAX_ROUND: u8 = (1 << ROUND.1) - 1;

#[inline]
fn get(w: u64, (at, bits): (u32, u32)) -> u64 {
    (w >> at) & ((1 << bits) - 1)
}

#[inline]
fn put(w: u64, (at, bits): (u32, u32), v: u64) -> u64 {
    let mask = ((1 << bits) - 1) << at;
    (w & !mask) | ((v << at) & mask)
}

/// What recording a reply changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The target's first answer (or an echo reply upgrading an earlier ICMP error).
    First,
    /// Another reply to the probe that already got one.
    Duplicate,
    /// A reply to another of our probes after the target had answered: it changes nothing.
    Late,
    /// The first echo reply from a target an ICMP error had marked unreachable.
    Upgraded,
}

pub struct Table {
    slots: Slots,
    cells: Box<[AtomicU64]>,
    /// When each target first answered (ms since the scan began, +1 so 0 means never);
    /// only allocated when timestamps are asked for.
    seen: Option<Box<[AtomicU32]>>,
    /// Who sent each target's first ICMP error: few entries (only unreachable targets),
    /// kept here so that checkpoints taken during the scan see them.
    responders: Mutex<HashMap<u32, IpAddr>>,
}

/// Why a cell word read back from a journal is not one this scan could have written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadWord {
    #[error("is not an answered target's")]
    NotAnswered,
    #[error("answers round {0}, past the scan's last")]
    Round(u8),
    #[error("has an ICMP error detail for a host that is up")]
    Detail,
}

impl Table {
    /// A table for all `n` targets.
    pub fn new(n: usize, timestamps: bool) -> Table {
        Table::of(Slots::whole(n as u64), timestamps)
    }

    /// A table for the targets `slots` holds (a shard's).
    pub fn of(slots: Slots, timestamps: bool) -> Table {
        let len = slots.len();
        Table {
            cells: (0..len).map(|_| AtomicU64::new(0)).collect(),
            seen: timestamps.then(|| (0..len).map(|_| AtomicU32::new(0)).collect()),
            responders: Mutex::default(),
            slots,
        }
    }

    /// Target `i`'s cell; `None` for another shard's target, which this run neither probes
    /// nor records (its key makes a reply to another process's probe fail validation).
    #[inline]
    fn cell(&self, i: u32) -> Option<&AtomicU64> {
        self.cells.get(self.slots.of(i)?)
    }

    /// Whether target `i` is this table's (this shard's).
    pub fn owns(&self, i: u32) -> bool {
        self.slots.of(i).is_some()
    }

    fn responder_map(&self) -> std::sync::MutexGuard<'_, HashMap<u32, IpAddr>> {
        // Inserts cannot leave the map half-changed: a panic elsewhere does not poison it.
        self.responders.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records who sent target `i`'s first ICMP error.
    pub fn set_responder(&self, i: u32, from: IpAddr) {
        self.responder_map().insert(i, from);
    }

    /// Every ICMP error's sender so far, by target.
    pub fn responders(&self) -> HashMap<u32, IpAddr> {
        self.responder_map().clone()
    }

    /// Target `i`'s cell as one word: what a journal stores.
    pub fn word(&self, i: u32) -> u64 {
        self.cell(i).map_or(0, |c| c.load(Relaxed))
    }

    /// Checks a word read back from a journal: an answered target's cell, from a scan of
    /// `rounds` rounds.
    pub fn check_word(w: u64, rounds: u8) -> Result<(), BadWord> {
        let round = get(w, ROUND) as u8;
        match get(w, STATUS) {
            1 | 2 if round >= rounds => Err(BadWord::Round(round)),
            1 if ![0, u64::from(Detail::BAD_DATA.code())].contains(&get(w, DETAIL)) => {
                Err(BadWord::Detail)
            }
            1 | 2 => Ok(()),
            _ => Err(BadWord::NotAnswered),
        }
    }

    /// Puts back the cell of target `i` from a journal (`check_word` passed).
    pub fn restore(&self, i: u32, w: u64) {
        if let Some(c) = self.cell(i) {
            c.store(w, Relaxed);
        }
    }

    /// Counts `k` probes an earlier run sent to target `i`.
    pub fn add_probes(&self, i: u32, k: u8) {
        if let Some(c) = self.cell(i) {
            c.fetch_add(u64::from(k) << PROBES.0, Relaxed);
        }
    }

    /// Records when target `i` first answered, if timestamps are kept.
    pub fn set_seen_ms(&self, i: u32, ms: u32) {
        if let (Some(seen), Some(slot)) = (&self.seen, self.slots.of(i)) {
            if let Some(s) = seen.get(slot) {
                s.store(ms.saturating_add(1), Relaxed);
            }
        }
    }

    pub fn seen_ms(&self, i: u32) -> Option<u32> {
        let v = self.seen.as_ref()?.get(self.slots.of(i)?)?.load(Relaxed);
        v.checked_sub(1)
    }

    /// Targets in the whole scan: indices run `0..len()`, whether this table holds them
    /// all or a shard's.
    pub fn len(&self) -> usize {
        self.slots.targets() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of cells this table holds (a shard's share of the scan's).
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.cells.len() * std::mem::size_of::<AtomicU64>()
            + self.seen.as_ref().map_or(0, |s| s.len() * 4)
    }

    /// Counts a probe sent to target `i` (the CLI caps rounds so this cannot overflow).
    #[inline]
    pub fn add_probe(&self, i: u32) {
        if let Some(c) = self.cell(i) {
            c.fetch_add(1 << PROBES.0, Relaxed);
        }
    }

    /// Undoes `add_probe` for a probe the kernel refused to send.
    #[inline]
    pub fn take_back_probe(&self, i: u32) {
        let Some(c) = self.cell(i) else { return };
        let _ = c.fetch_update(Relaxed, Relaxed, |w| {
            (get(w, PROBES) > 0).then(|| w - (1 << PROBES.0))
        });
    }

    #[inline]
    pub fn is_answered(&self, i: u32) -> bool {
        get(self.word(i), STATUS) != 0
    }

    /// Marks a target answered by an earlier, interrupted run: it is neither probed nor
    /// written again.
    pub fn mark_prior(&self, i: u32) {
        self.restore(i, put(0, STATUS, 3));
    }

    /// An echo reply (for another shard's target, `Late`: it changes nothing here): the
    /// first one sets the target up; ICMP errors before it are superseded
    /// because the host itself has now answered.
    #[inline]
    pub fn record_reply(&self, i: u32, rtt_us: u32, ttl: u8, round: u8) -> Recorded {
        let Some(c) = self.cell(i) else {
            return Recorded::Late;
        };
        let mut outcome = Recorded::First;
        let _ = c.fetch_update(Relaxed, Relaxed, |w| {
            if get(w, STATUS) == 3 {
                outcome = Recorded::Late;
                return None;
            }
            if get(w, STATUS) == 1 {
                if get(w, ROUND) != u64::from(round) {
                    outcome = Recorded::Late;
                    return None;
                }
                outcome = Recorded::Duplicate;
                let dups = (get(w, DUPS) + 1).min(255);
                return Some(put(w, DUPS, dups));
            }
            outcome = if get(w, STATUS) == 2 {
                Recorded::Upgraded
            } else {
                Recorded::First
            };
            let w = put(w, STATUS, 1);
            let w = put(w, RTT, u64::from(rtt_us.min(MAX_RTT_US)));
            let w = put(w, TTL, u64::from(ttl));
            let w = put(w, DETAIL, 0);
            Some(put(w, ROUND, u64::from(round)))
        });
        outcome
    }

    /// An echo reply from up target `i` whose data was not the probe's: its row says
    /// `bad-data`. Returns true the first time.
    pub fn mark_bad_data(&self, i: u32) -> bool {
        let bad = u64::from(Detail::BAD_DATA.code());
        self.cell(i)
            .and_then(|c| {
                c.fetch_update(Relaxed, Relaxed, |w| {
                    (get(w, STATUS) == 1 && get(w, DETAIL) != bad).then(|| put(w, DETAIL, bad))
                })
                .ok()
            })
            .is_some()
    }

    /// An ICMP error quoting a probe to `i`; returns true if it was the target's first answer.
    #[inline]
    pub fn record_error(&self, i: u32, detail: Detail) -> bool {
        self.cell(i)
            .and_then(|c| {
                c.fetch_update(Relaxed, Relaxed, |w| {
                    (get(w, STATUS) == 0)
                        .then(|| put(put(w, STATUS, 2), DETAIL, u64::from(detail.code())))
                })
                .ok()
            })
            .is_some()
    }

    pub fn get(&self, i: u32) -> Cell {
        let w = self.word(i);
        Cell {
            status: match get(w, STATUS) {
                1 => Status::Up,
                2 => Status::Unreachable,
                3 => Status::Prior,
                _ => Status::Down,
            },
            rtt_us: get(w, RTT) as u32,
            ttl: get(w, TTL) as u8,
            dups: get(w, DUPS) as u8,
            probes: get(w, PROBES) as u8,
            detail: Detail::from_code(get(w, DETAIL) as u8),
            round: get(w, ROUND) as u8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reply_wins_and_duplicates_count() {
        let t = Table::new(4, false);
        t.add_probe(1);
        assert!(!t.is_answered(1));
        assert_eq!(t.record_reply(1, 1500, 63, 0), Recorded::First);
        assert_eq!(t.record_reply(1, 9999, 1, 0), Recorded::Duplicate);
        assert_eq!(t.record_reply(1, 9999, 1, 1), Recorded::Late);
        let c = t.get(1);
        assert_eq!(
            (c.status, c.rtt_us, c.ttl, c.dups, c.probes),
            (Status::Up, 1500, 63, 1, 1)
        );
        assert_eq!(t.get(0).status, Status::Down);
    }

    #[test]
    fn errors_yield_to_replies_not_the_other_way() {
        let t = Table::new(2, false);
        assert!(t.record_error(0, Detail::of(3, 1)));
        assert!(!t.record_error(0, Detail::of(3, 13)));
        assert_eq!(t.get(0).detail.as_str(), "host-unreachable");
        assert_eq!(t.record_reply(0, 10, 64, 1), Recorded::Upgraded);
        assert_eq!(t.get(0).status, Status::Up);
        assert_eq!(t.get(0).detail, Detail::NONE);
        assert!(!t.record_error(0, Detail::of(3, 1)));
        assert_eq!(t.get(0).status, Status::Up);
    }

    #[test]
    fn fields_saturate_without_spilling() {
        let t = Table::new(1, false);
        for _ in 0..31 {
            t.add_probe(0);
        }
        t.record_reply(0, u32::MAX, 255, MAX_ROUND);
        for _ in 0..300 {
            t.record_reply(0, 1, 1, MAX_ROUND);
        }
        let c = t.get(0);
        assert_eq!(
            (c.rtt_us, c.ttl, c.dups, c.probes, c.round),
            (MAX_RTT_US, 255, 255, 31, MAX_ROUND)
        );
    }

    #[test]
    fn words_round_trip_and_are_checked() {
        let t = Table::new(3, false);
        t.add_probe(0);
        t.record_reply(0, 1500, 63, 1);
        t.record_error(1, Detail::of(3, 1));
        let u = Table::new(3, false);
        for i in 0..2 {
            assert_eq!(Table::check_word(t.word(i), 2), Ok(()));
            u.restore(i, t.word(i));
            assert_eq!(u.get(i), t.get(i));
        }
        assert_eq!(Table::check_word(t.word(0), 1), Err(BadWord::Round(1)));
        assert_eq!(Table::check_word(t.word(2), 2), Err(BadWord::NotAnswered));
        assert_eq!(
            Table::check_word(put(t.word(0), DETAIL, 3), 2),
            Err(BadWord::Detail)
        );
        assert!(t.mark_bad_data(0) && !t.mark_bad_data(0) && !t.mark_bad_data(1));
        assert_eq!(t.get(0).detail, Detail::BAD_DATA);
        assert_eq!(Table::check_word(t.word(0), 2), Ok(()));
        assert_eq!(
            Table::check_word(put(0, STATUS, 3), 2),
            Err(BadWord::NotAnswered)
        );
        u.add_probes(2, 2);
        assert_eq!(u.get(2).probes, 2);
    }

    #[test]
    fn a_shards_table_holds_only_its_targets() {
        use crate::engine::shard::Shard;
        use crate::targets::permute::Permutation;
        let perm = Permutation::new(1000, 5);
        let shard = Shard { index: 2, count: 4 };
        let t = Table::of(Slots::new(shard, &perm), true);
        assert_eq!((t.len(), t.bytes()), (1000, 250 * 12));
        let (mine, theirs) = (perm.at(2) as u32, perm.at(3) as u32);
        assert!(t.owns(mine) && !t.owns(theirs));
        for i in [mine, theirs] {
            t.add_probe(i);
            t.record_reply(i, 700, 64, 0);
            t.set_seen_ms(i, 9);
        }
        assert_eq!((t.get(mine).status, t.get(mine).probes), (Status::Up, 1));
        assert_eq!(t.seen_ms(mine), Some(9));
        // Another shard's target: nothing recorded, read as never probed.
        assert_eq!(t.get(theirs), Table::new(1, false).get(0));
        assert!(!t.get(theirs).in_scope() && t.seen_ms(theirs).is_none());
        assert!(!t.record_error(theirs, Detail::of(3, 1)));
        assert_eq!(
            t.get(1000).status,
            Status::Down,
            "out of range reads as down"
        );
    }

    #[test]
    fn concurrent_writers_do_not_lose_updates() {
        let t = Table::new(1000, false);
        std::thread::scope(|s| {
            s.spawn(|| (0..1000).for_each(|i| t.add_probe(i)));
            s.spawn(|| (0..1000).for_each(|i| _ = t.record_reply(i, i, 64, 0)));
        });
        assert!((0..1000).all(|i| t.get(i).probes == 1 && t.get(i).rtt_us == i));
    }
}
