//! When a scan's threads stop: the one home of the end-of-scan rules. A scan goes
//! sending → waiting → over:
//! - sending ends when every round has gone out, when a retry round would find every
//!   owned target answered, or at the first interrupt (the chunk in hand is finished);
//! - the wait for late replies lasts `timeout` after the last probe, and ends early when
//!   every owned target has answered (not in count mode: its rounds are the
//!   measurement) or at a second interrupt;
//! - then the scan is over and the receivers stop.
//!
//! Statistics (`Counters`) are read here, never written; the interrupts are counted by
//! the caller's signal handler.

use crate::engine::counters::Counters;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

pub struct Control<'a> {
    interrupts: &'a AtomicUsize,
    over: AtomicBool,
    /// Targets this scan (this shard) probes.
    owned: u64,
    count_mode: bool,
}

impl<'a> Control<'a> {
    pub fn new(interrupts: &'a AtomicUsize, owned: u64, count_mode: bool) -> Control<'a> {
        Control {
            interrupts,
            over: AtomicBool::new(false),
            owned,
            count_mode,
        }
    }

    /// Targets this scan probes.
    pub fn owned(&self) -> u64 {
        self.owned
    }

    /// The first interrupt came: stop sending.
    #[inline]
    pub fn interrupted(&self) -> bool {
        self.interrupts.load(Relaxed) > 0
    }

    fn all_answered(&self, stats: &Counters) -> bool {
        stats.answered.load(Relaxed) >= self.owned
    }

    /// Whether the next retry round has anyone to probe and may still start.
    pub fn retry_wanted(&self, stats: &Counters) -> bool {
        !self.interrupted() && !self.all_answered(stats)
    }

    /// Whether the wait for late replies goes on now; it ends at `deadline`.
    pub fn keep_waiting(&self, stats: &Counters, deadline: Instant) -> bool {
        Instant::now() < deadline
            && (self.count_mode || !self.all_answered(stats))
            && self.interrupts.load(Relaxed) < 2
    }

    /// The scan is over: the receivers stop.
    pub fn finish(&self) {
        self.over.store(true, Relaxed);
    }

    #[inline]
    pub fn is_over(&self) -> bool {
        self.over.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_rules() {
        let irq = AtomicUsize::new(0);
        let stats = Counters::default();
        let c = Control::new(&irq, 2, false);
        let later = Instant::now() + Duration::from_secs(60);
        assert!(c.retry_wanted(&stats) && c.keep_waiting(&stats, later));
        assert!(!c.keep_waiting(&stats, Instant::now()), "past the deadline");
        stats.answered.store(2, Relaxed);
        assert!(!c.retry_wanted(&stats) && !c.keep_waiting(&stats, later));
        // Count mode waits out its last round even when everyone answered.
        let counting = Control::new(&irq, 2, true);
        assert!(counting.keep_waiting(&stats, later));
        irq.store(1, Relaxed);
        assert!(counting.interrupted() && counting.keep_waiting(&stats, later));
        irq.store(2, Relaxed);
        assert!(!counting.keep_waiting(&stats, later), "a second interrupt");
        assert!(!c.is_over());
        c.finish();
        assert!(c.is_over());
    }
}
