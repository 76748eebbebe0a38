//! The pacer: absolute deadlines (packet k is due at `origin + k / rate`), so sleep
//! overshoot does not accumulate into a lower rate. Batches are sized to about a millisecond
//! of traffic so a moderate rate sleeps between batches instead of spinning a core.

use std::time::{Duration, Instant};

/// Falling further behind than this (a stall, a pause between rounds) restarts the
/// schedule instead of bursting to catch up: a policer passes only a short burst (nft's
/// and iptables' `limit` default to 5 packets), and catching up after 20 ms stalls lost
/// 0.2 % of the probes at 1,900 pps behind a 2,000/s policer (none at 2 ms).
const MAX_LAG: Duration = Duration::from_millis(2);
/// Waits shorter than this yield instead of sleeping: the sleep would overshoot.
const SPIN_BELOW: Duration = Duration::from_micros(60);
/// A long wait (a low rate) sleeps in slices this long, checking whether to stop between
/// them: an interrupt must not wait out a whole inter-packet gap.
const STOP_CHECK: Duration = Duration::from_millis(10);

#[derive(Debug, Clone)]
pub struct Pacer {
    /// Packets per second; `None` = as fast as the socket takes them.
    rate: Option<f64>,
    origin: Instant,
    count: u64,
}

impl Pacer {
    pub fn new(rate: Option<u64>) -> Pacer {
        Pacer {
            rate: rate.map(|r| r as f64),
            origin: Instant::now(),
            count: 0,
        }
    }

    /// Follows a new rate from now on (the schedule restarts; no burst to catch up).
    pub fn set_rate(&mut self, rate: Option<u64>) {
        let rate = rate.map(|r| r as f64);
        if rate != self.rate {
            self.rate = rate;
            self.origin = Instant::now();
            self.count = 0;
        }
    }

    /// How many packets to hand the kernel at once.
    pub fn batch_size(&self, max: usize) -> usize {
        match self.rate {
            None => max,
            Some(r) => ((r / 1000.0) as usize).clamp(1, max),
        }
    }

    /// Blocks until `k` more packets may go, then counts them as sent. Returns early once
    /// `stop` says so: the packets then go at once (the caller's stop point is after them).
    pub fn wait_for(&mut self, k: u64, stop: &dyn Fn() -> bool) {
        let Some(rate) = self.rate else { return };
        let due = self.origin + Duration::from_secs_f64((self.count + k - 1) as f64 / rate);
        loop {
            let now = Instant::now();
            if now >= due {
                if now - due > MAX_LAG {
                    self.origin = now;
                    self.count = 0;
                }
                break;
            }
            if stop() {
                break;
            }
            let left = due - now;
            if left > SPIN_BELOW {
                std::thread::sleep((left - SPIN_BELOW / 2).min(STOP_CHECK));
            } else {
                std::thread::yield_now();
            }
        }
        self.count += k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_about_a_millisecond() {
        assert_eq!(Pacer::new(Some(10_000)).batch_size(64), 10);
        assert_eq!(Pacer::new(Some(100)).batch_size(64), 1);
        assert_eq!(Pacer::new(Some(10_000_000)).batch_size(64), 64);
        assert_eq!(Pacer::new(None).batch_size(64), 64);
    }

    #[test]
    fn unlimited_never_waits() {
        let mut p = Pacer::new(None);
        let t = Instant::now();
        for _ in 0..1000 {
            p.wait_for(64, &|| false);
        }
        assert!(t.elapsed() < Duration::from_millis(50));
    }

    #[test]
    fn holds_the_schedule_not_less() {
        // 2,000 pps for 100 packets must take at least 49.5 ms (not a timing upper bound:
        // the machines are noisy; speed is measured in benches/).
        let mut p = Pacer::new(Some(2000));
        let t = Instant::now();
        for _ in 0..50 {
            p.wait_for(2, &|| false);
        }
        assert!(
            t.elapsed() >= Duration::from_micros(49_000),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn a_stop_ends_a_long_wait() {
        use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
        // At 1 packet/s the second packet is due in a second; the stop comes after 30 ms.
        let mut p = Pacer::new(Some(1));
        p.wait_for(1, &|| false);
        let stop = AtomicBool::new(false);
        let t = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(30));
                stop.store(true, Relaxed);
            });
            p.wait_for(1, &|| stop.load(Relaxed));
        });
        assert!(
            t.elapsed() >= Duration::from_millis(30),
            "{:?}",
            t.elapsed()
        );
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
    }
}
