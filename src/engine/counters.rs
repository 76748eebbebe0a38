//! Scan-wide statistics: written by the sender and the receivers, read by the progress
//! display, the summary and the end-of-scan rules (`control.rs`). Nothing here steers
//! the scan; stopping is `Control`'s.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct Counters {
    /// Echo requests handed to the kernel.
    pub sent: AtomicU64,
    /// Probes planned so far (grows as retry rounds are scheduled).
    pub planned: AtomicU64,
    /// Rounds begun (0 before the first), and for the current one the probes it planned
    /// and `sent` when it began: what the ETA is estimated from.
    pub round: AtomicU64,
    pub round_planned: AtomicU64,
    pub round_base: AtomicU64,
    /// Targets that answered (echo reply or ICMP error).
    pub answered: AtomicU64,
    pub up: AtomicU64,
    /// On-link targets that answered ARP / neighbour discovery.
    pub resolved: AtomicU64,
    pub unreachable: AtomicU64,
    pub dups: AtomicU64,
    /// Valid replies to a probe other than the one that first got an answer.
    pub late: AtomicU64,
    /// Targets found up, by the round of the probe their first reply answered (a late
    /// reply to an earlier round's probe is that round's find, not the retry's).
    pub found_by_round: [AtomicU64; 32],
    /// Hosts that echoed data other than the probe's (their rows say `bad-data`).
    pub bad_data: AtomicU64,
    /// Re-probes of hosts known up that measure the path (not in `sent`).
    pub samples: AtomicU64,
    /// Packets that were not a valid answer to our probes.
    pub ignored: AtomicU64,
    /// Probes the kernel refused for one destination (e.g. no route); the target stays down.
    pub send_errors: AtomicU64,
    /// The rate the sender keeps now, pps (0: unpaced): `--rate`, or lower while the
    /// path loses answers.
    pub rate_pps: AtomicU64,
    /// The retry interval the RTTs seen so far give (0 until the first reply): a
    /// measurement, which the sender waits between rounds and the ETA counts on.
    pub rto_us: AtomicU64,
}

impl Counters {
    /// Targets whose first reply answered a probe of `round`.
    pub fn found_in(&self, round: u8) -> u64 {
        self.found_by_round
            .get(usize::from(round))
            .map_or(0, |c| c.load(Relaxed))
    }

    /// A round (0-based) starts, to probe the `pending` targets still silent.
    pub fn begin_round(&self, round: u8, pending: u64) {
        self.planned.fetch_add(pending, Relaxed);
        self.round_planned.store(pending, Relaxed);
        self.round_base.store(self.sent.load(Relaxed), Relaxed);
        self.round.store(u64::from(round) + 1, Relaxed);
    }
}
