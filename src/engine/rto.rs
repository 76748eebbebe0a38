//! Retry interval from the RTTs this scan has seen, like TCP's retransmission timer
//! (RFC 6298): SRTT + 4·RTTVAR, clamped to `[floor, timeout]`.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RtoEstimator {
    srtt: f64,
    rttvar: f64,
    samples: u64,
    floor: Duration,
    ceiling: Duration,
}

impl RtoEstimator {
    /// `floor` guards against retrying a congested path too eagerly; `ceiling` is the timeout.
    pub fn new(floor: Duration, ceiling: Duration) -> RtoEstimator {
        RtoEstimator {
            srtt: 0.0,
            rttvar: 0.0,
            samples: 0,
            floor: floor.min(ceiling),
            ceiling,
        }
    }

    pub fn observe(&mut self, rtt: Duration) {
        let r = rtt.as_secs_f64();
        if self.samples == 0 {
            self.srtt = r;
            self.rttvar = r / 2.0;
        } else {
            self.rttvar = 0.75 * self.rttvar + 0.25 * (self.srtt - r).abs();
            self.srtt = 0.875 * self.srtt + 0.125 * r;
        }
        self.samples += 1;
    }

    /// The interval before a silent target is probed again; the full timeout until a sample.
    pub fn rto(&self) -> Duration {
        if self.samples == 0 {
            return self.ceiling;
        }
        Duration::from_secs_f64(self.srtt + 4.0 * self.rttvar).clamp(self.floor, self.ceiling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn starts_at_timeout_then_adapts() {
        let mut e = RtoEstimator::new(10 * MS, 1000 * MS);
        assert_eq!(e.rto(), 1000 * MS);
        for _ in 0..50 {
            e.observe(40 * MS);
        }
        let r = e.rto();
        assert!(r >= 40 * MS && r < 60 * MS, "{r:?}");
        e.observe(900 * MS);
        assert!(e.rto() > r && e.rto() <= 1000 * MS);
    }

    #[test]
    fn clamps_to_floor_and_ceiling() {
        let mut e = RtoEstimator::new(10 * MS, 100 * MS);
        e.observe(Duration::from_micros(50));
        assert_eq!(e.rto(), 10 * MS);
        e.observe(5000 * MS);
        assert_eq!(e.rto(), 100 * MS);
    }
}
