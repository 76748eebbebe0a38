//! The send rate the path bears, AIMD like TCP's and nmap's: `--rate` is the ceiling;
//! when delivery (the sampled share of known-up hosts that answer) falls below what it
//! is at lower rates, the rate drops multiplicatively, and it climbs back additively
//! while delivery holds. Loss that does not answer to a lower rate (random loss on a
//! link) becomes the baseline instead, so it does not slow the scan for nothing.

/// Each additive step raises the rate by this share of the ceiling...
const STEP: f64 = 0.05;
/// ...but from this share of the last rate that lost answers on, by `NEAR_STEP` of
/// that rate: the sawtooth stays close under a policer's limit.
const NEAR: f64 = 0.7;
const NEAR_STEP: f64 = 0.02;
/// Where the climb pauses under the limit, and for how many windows without loss
/// (about 10 s at 40 samples a second) before it probes above.
const UNDER: f64 = 0.97;
const HOLD: u32 = 20;
/// A run of decreases ends in "the loss is the path's own" only once the rate is down
/// to this share of where it began, so a decrease that fell short is not taken for
/// random loss.
const BASELINE_AFTER: f64 = 0.25;
/// A decrease takes the rate to at least this share of itself (TCP's halving is 0.5;
/// a policer's bearable rate, `q · rate`, is often much lower, so it may go further)...
const MIN_FACTOR: f64 = 1.0 / 16.0;
/// ...and at most this share: any excess loss backs off by a quarter.
const MAX_FACTOR: f64 = 0.75;
/// Below the bearable rate estimate `q · rate` by this much, to drain a policer's queue.
const HEADROOM: f64 = 0.9;
/// The lowest rate, whatever the path says (a share of the ceiling, at least 1 pps).
const FLOOR_SHARE: f64 = 1.0 / 256.0;
/// Delivery below the baseline by at least this much (or by 2.5 standard errors of the
/// window, if more) is excess loss.
const MARGIN: f64 = 0.05;

/// What one window of samples made the controller do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    /// Nothing to do (at the ceiling with no excess loss).
    Held,
    Raised {
        to: u64,
    },
    /// Excess loss: delivery `q` at `from` pps.
    Lowered {
        from: u64,
        to: u64,
        q: f64,
    },
    /// A lower rate did not bring delivery back: the loss is the path's at any rate,
    /// the rate goes back to `to` and `q` is the new baseline.
    Baseline {
        to: u64,
        q: f64,
    },
}

#[derive(Debug, Clone)]
pub struct Aimd {
    ceiling: f64,
    rate: f64,
    /// Delivery the path gives at rates that do not overload it.
    base: f64,
    /// Decreases under way since delivery last held.
    trial: Option<Trial>,
    /// What the path seemed to pass when it last lost answers: climbing near it goes
    /// in smaller steps, and holds just under it for a while.
    limit: Option<f64>,
    /// Windows without loss just under `limit`.
    quiet: u32,
    /// Windows in a row without loss well past `limit`.
    past: u32,
}

/// A run of decreases: whether lowering the rate brings delivery back.
#[derive(Debug, Clone, Copy)]
struct Trial {
    /// The rate before the first decrease.
    from: f64,
    /// Delivery in the last window, and the rate that went out in it.
    q: f64,
    went: f64,
    /// Decreases in a row that did not improve delivery.
    flat: u8,
}

/// Decreases in a row that bring nothing before the loss counts as the path's own.
const FLAT_TRIES: u8 = 2;

impl Aimd {
    pub fn new(ceiling: u64) -> Aimd {
        Aimd {
            ceiling: ceiling.max(1) as f64,
            rate: ceiling.max(1) as f64,
            base: 1.0,
            trial: None,
            limit: None,
            quiet: 0,
            past: 0,
        }
    }

    /// The rate to send at now, pps.
    pub fn rate(&self) -> u64 {
        self.rate.round() as u64
    }

    /// Whether the rate is above what the path was last seen to bear (probing for more):
    /// loss there may be too thin for a window of samples to show.
    pub fn over_limit(&self) -> bool {
        self.limit
            .is_some_and(|l| self.rate > UNDER * l * (1.0 + 1e-9))
    }

    /// The delivery the path gives when not overloaded, as measured so far.
    pub fn baseline(&self) -> f64 {
        self.base
    }

    fn floor(&self) -> f64 {
        (self.ceiling * FLOOR_SHARE).max(1.0)
    }

    /// A window of `n` samples of which a share `q` answered, sent at the current rate;
    /// `sent` is the rate actually achieved in it, if known (a busy machine may not
    /// reach the rate asked for, and a decrease starts from what went out).
    pub fn window(&mut self, q: f64, n: u64, sent: Option<f64>) -> Change {
        let q = q.clamp(0.0, 1.0);
        let n = n.max(1) as f64;
        let spread = 2.5 * (self.base * (1.0 - self.base) / n).sqrt();
        let excess = q < self.base - MARGIN.max(spread);
        if !excess {
            // Delivery holds: the baseline follows it, the rate climbs.
            self.base = 0.8 * self.base + 0.2 * q;
            self.trial = None;
            // Behind a known limit, one lost sample at or above the level held under it
            // says the limit is about what came back of this window's rate (measured
            // from below: the windows before bore theirs): back under it. Loss too
            // thin for a window to call excess still hides hosts.
            if self
                .limit
                .is_some_and(|l| q < 1.0 && self.rate >= UNDER * l * (1.0 - 1e-9))
            {
                let from = self.rate();
                let l = sent.map_or(self.rate, |s| s.min(self.rate)) * q;
                self.limit = Some(l);
                self.rate = (UNDER * l).min(self.rate).max(self.floor());
                self.quiet = 0;
                self.past = 0;
                return Change::Lowered {
                    from,
                    to: self.rate(),
                    q,
                };
            }
            if self.rate >= self.ceiling {
                return Change::Held;
            }
            let step = match self.limit {
                // Well past the old limit without loss: it was set too low (a window of
                // samples is a noisy measure), or the path changed. The steps double, so
                // a policer is found again a few percent above, and a path that changed
                // is climbed freely after a few windows.
                Some(l) if self.rate >= l * (1.0 + 4.0 * NEAR_STEP) => {
                    self.past += 1;
                    let step = NEAR_STEP * l * f64::from(1u32 << self.past.min(16));
                    if step >= STEP * self.ceiling {
                        self.limit = None;
                        self.past = 0;
                    }
                    step.min(STEP * self.ceiling)
                }
                // Just under the limit: stay there a while before probing above it,
                // so a policer costs a few lost answers now and then, not a steady share.
                Some(l) if self.rate + NEAR_STEP * l > UNDER * l && self.rate < l => {
                    self.quiet += 1;
                    if self.quiet < HOLD {
                        let under = (UNDER * l).max(self.rate);
                        let changed = under > self.rate;
                        self.rate = under;
                        return match changed {
                            true => Change::Raised { to: self.rate() },
                            false => Change::Held,
                        };
                    }
                    NEAR_STEP * l
                }
                Some(l) if self.rate >= NEAR * l => NEAR_STEP * l,
                _ => STEP * self.ceiling,
            };
            self.rate = (self.rate + step).min(self.ceiling);
            return Change::Raised { to: self.rate() };
        }
        let went = sent.map_or(self.rate, |s| s.min(self.rate));
        let mut trial = self.trial.unwrap_or(Trial {
            from: self.rate,
            q: 0.0,
            went,
            flat: 0,
        });
        if self.trial.is_some() {
            // A rate limit passes the same number a second at a lower rate, so delivery
            // rises as the rate falls; random loss stays. Improved means closer to the
            // first than to the second.
            let limited = (trial.q * trial.went / went.max(1.0)).min(1.0);
            let improved = q > trial.q + MARGIN && q > (trial.q + limited) / 2.0;
            trial.flat = if improved { 0 } else { trial.flat + 1 };
            if trial.flat >= FLAT_TRIES && self.rate <= BASELINE_AFTER * trial.from {
                // Lowering the rate did not help: this loss is the path's own.
                self.base = q;
                self.rate = trial.from;
                self.trial = None;
                self.limit = None;
                return Change::Baseline { to: self.rate(), q };
            }
        }
        trial.q = q;
        trial.went = went;
        self.trial = Some(trial);
        let from = self.rate();
        // What a rate limit would pass: what went out times the share that came back,
        // taken low (a window's share is noisy): above it the rate is unproven (its
        // stretches are retried), and the climb finds the limit from below.
        let sure = (q - (q * (1.0 - q) / n).sqrt()).max(q / 2.0);
        self.limit = Some(went * (sure / self.base).min(1.0));
        self.quiet = 0;
        self.past = 0;
        let factor = (HEADROOM * q / self.base).clamp(MIN_FACTOR, MAX_FACTOR);
        self.rate = (went * factor).max(self.floor());
        Change::Lowered {
            from,
            to: self.rate(),
            q,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A policer passing `limit` requests a second: delivery at `rate` is limit / rate.
    fn policed(rate: u64, limit: f64) -> f64 {
        (limit / rate as f64).min(1.0)
    }

    #[test]
    fn a_policer_brings_the_rate_down_to_what_it_passes() {
        let mut a = Aimd::new(10_000);
        let q = policed(a.rate(), 2_000.0);
        assert_eq!(
            a.window(q, 50, None),
            Change::Lowered {
                from: 10_000,
                to: 1_800,
                q: 0.2
            }
        );
        // Over many windows the rate saws just below and above the limit: little loss.
        let mut seen = Vec::new();
        for _ in 0..200 {
            let q = policed(a.rate(), 2_000.0);
            a.window(q, 50, None);
            seen.push(a.rate());
        }
        let mean = seen.iter().sum::<u64>() as f64 / seen.len() as f64;
        assert!(
            seen.iter().all(|&r| (1_000..=2_500).contains(&r)),
            "{seen:?}"
        );
        assert!(mean > 1_600.0 && mean < 2_300.0, "{mean}");
        assert!(a.baseline() > 0.9);
    }

    #[test]
    fn random_loss_is_a_baseline_not_a_reason_to_slow_down() {
        let mut a = Aimd::new(10_000);
        // 30 % of answers lost whatever the rate.
        // Decreases that bring nothing, down to a quarter of the rate, and it goes back.
        let mut lowered = 0;
        let last = loop {
            match a.window(if lowered % 2 == 0 { 0.7 } else { 0.72 }, 60, None) {
                Change::Lowered { .. } => lowered += 1,
                other => break other,
            }
            assert!(lowered <= 5, "{}", a.rate());
        };
        assert_eq!(last, Change::Baseline { to: 10_000, q: 0.7 });
        assert!(lowered >= 3, "not before a quarter of the rate: {lowered}");
        for _ in 0..50 {
            assert_eq!(a.window(0.68, 60, None), Change::Held);
            assert_eq!(a.rate(), 10_000);
        }
        // A policer on top of it still shows.
        assert!(matches!(a.window(0.2, 60, None), Change::Lowered { .. }));
    }

    #[test]
    fn no_loss_climbs_back_to_the_ceiling_and_never_past_it() {
        let mut a = Aimd::new(1_000);
        a.window(0.05, 100, None);
        assert_eq!(a.rate(), 63, "at most a sixteenth per window");
        let mut steps = 0;
        while a.rate() < 1_000 {
            assert!(matches!(a.window(1.0, 100, None), Change::Raised { .. }));
            steps += 1;
        }
        assert!(steps >= 18, "additive: {steps} steps");
        assert_eq!(a.window(1.0, 100, None), Change::Held);
        assert_eq!(a.rate(), 1_000);
    }

    #[test]
    fn the_rate_never_falls_below_its_floor() {
        let mut a = Aimd::new(10_000);
        for _ in 0..20 {
            a.window(0.0, 100, None);
            // No improvement is a baseline of 0: the rate goes back up, not further down.
            assert!(a.rate() >= 39, "{}", a.rate());
        }
        let mut one = Aimd::new(1);
        one.window(0.0, 10, None);
        assert_eq!(one.rate(), 1);
    }

    #[test]
    fn a_decrease_starts_from_the_rate_that_went_out() {
        // Asked for 10,000, the machine sent 4,000; a 2,000 policer passed half.
        let mut a = Aimd::new(10_000);
        assert_eq!(
            a.window(0.5, 40, Some(4_000.0)),
            Change::Lowered {
                from: 10_000,
                to: 1_800,
                q: 0.5
            }
        );
    }

    #[test]
    fn one_lost_sample_above_the_held_level_sets_the_limit_to_what_came_back() {
        let mut a = Aimd::new(10_000);
        a.window(0.2, 20, None);
        // Climbing without loss until past 2,000, then 19 of 20 answered: not excess,
        // but the limit is about 0.95 of that rate, and the rate goes under it.
        while a.rate() <= 2_000 {
            a.window(1.0, 20, None);
        }
        let went = a.rate();
        let Change::Lowered { from, to, .. } = a.window(0.95, 20, None) else {
            panic!("one lost sample above the held level lowers the rate");
        };
        assert_eq!(from, went);
        assert_eq!(to, (went as f64 * 0.95 * UNDER).round() as u64);
        assert!(!a.over_limit());
        assert_eq!(a.window(1.0, 20, None), Change::Held, "held there a while");
    }

    #[test]
    fn past_a_limit_taken_too_low_the_steps_double_not_leap() {
        let mut a = Aimd::new(10_000);
        // 10 of 20 answered: the limit is taken at about 3,900 (low), the rate 4,500.
        a.window(0.5, 20, None);
        assert!(a.over_limit(), "above the limit taken: unproven");
        let mut steps = Vec::new();
        let mut last = a.rate();
        for _ in 0..6 {
            a.window(1.0, 20, None);
            steps.push(a.rate() - last);
            last = a.rate();
        }
        // Each step at most twice the one before, none the free climb's 500 at once.
        assert!(steps.windows(2).all(|w| w[1] <= 2 * w[0] + 1), "{steps:?}");
        assert!(steps[0] < 500, "{steps:?}");
    }

    #[test]
    fn a_small_dip_within_the_window_noise_is_not_loss() {
        let mut a = Aimd::new(5_000);
        // 2 of 50 samples lost on a clean path: under the 5 % margin.
        assert_eq!(a.window(0.96, 50, None), Change::Held);
    }
}
