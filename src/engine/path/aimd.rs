//! The send rate the path bears, AIMD like TCP's and nmap's: `--rate` is the ceiling;
//! when delivery (the sampled share of known-up hosts that answer) falls clearly below
//! the path's own, the rate comes down and a short, bounded descent tests why. A rate
//! limit passes about the same number a second at any rate, so delivery rises as the
//! rate falls; loss on a link (Wi-Fi, a congested uplink, a lossy VPN) stays. A
//! test of the two shares ends the descent: a rate limit keeps the rate under
//! what it passes and climbs back additively while delivery holds; loss at any rate
//! becomes the path's baseline and the rate goes back to where it was. That verdict
//! holds until the evidence changes (delivery clearly below the baseline, over two
//! windows), and is tested again the same bounded way, so random loss never holds the
//! rate down and noise in one window is not evidence.

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
/// A descent's undecided steps go no lower than this share of where it began (its first
/// goes where a rate limit would pass everything): it is a test, and random loss must
/// not cost more than a few windows.
const DESCENT_BOTTOM: f64 = 0.25;
/// Windows a descent may take before its verdict (one or two usually tell); undecided
/// then, the loss is taken for the path's own.
const DESCENT_WINDOWS: u8 = 4;
/// A descent that still loses most answers at its bottom looks once more below it.
const DEEP_BELOW: f64 = 0.5;
/// A decrease takes the rate to at least this share of itself (TCP's halving is 0.5;
/// a policer's bearable rate, `q · rate`, is often much lower, so it may go further)...
const MIN_FACTOR: f64 = 1.0 / 16.0;
/// ...and at most this share: any excess loss backs off by a quarter.
const MAX_FACTOR: f64 = 0.75;
/// Below the bearable rate estimate `q · rate` by this much, to drain a policer's queue.
const HEADROOM: f64 = 0.9;
/// The lowest rate, whatever the path says (a share of the ceiling, at least 1 pps).
const FLOOR_SHARE: f64 = 1.0 / 256.0;
/// Delivery below the baseline by at least this much (or by `Z` standard errors of the
/// window, if more) is excess loss.
const MARGIN: f64 = 0.05;
const Z: f64 = 2.5;
/// The least variance a window's share is judged with: a baseline of 1 is a guess, and
/// two samples of 20 lost on a clean path are not a change.
const BASE_VAR: f64 = 0.05 * 0.95;
/// A descent whose lower rates deliver no better than this many standard errors above
/// the first rate has shown loss at any rate.
const Z_FLAT: f64 = 1.0;
/// Back at the first rate, the fresh window alone must be this many standard errors
/// below the lower rates' share (and all the first rate's windows `Z` below). At 1.5, on
/// a LAN losing 10 % each way, 17 of 20 (a third of its windows) passed against one lucky
/// 20 of 20 lower down; a policer passing half is 3.6 below, and more where it passes less.
const Z_CHECK: f64 = 2.0;
/// A rise this clear (a policer well under the rate: 20 % of answers, then all) needs
/// no check.
const Z_SURE: f64 = 4.0;
/// Once loss at any rate is the baseline, excess must also show over two windows
/// together, by this many standard errors: one unlucky window is not a change.
const Z_POOLED: f64 = 3.0;
/// A path that delivers less than this below any limit loses answers of its own: one
/// window's few lost samples say nothing there, and its retries go everywhere (random
/// loss on top of a limit is everywhere, not only in the stretches sent above it).
pub const CLEAN_BASE: f64 = 0.97;
/// Once the path's own loss is known, the baseline follows every window this slowly
/// (about 40 windows' memory).
const SLOW: f64 = 0.05;
/// Shares are kept this far from 0 where they divide.
const P_EDGE: f64 = 0.01;

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
    /// the rate goes back to `to` and `q` is the new baseline (0: nothing answers at any
    /// rate, the path is gone).
    Baseline {
        to: u64,
        q: f64,
    },
}

/// What kind of loss the controller has found on the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LossKind {
    /// None yet (no loss, or too little to test).
    #[default]
    Unknown,
    /// Lowering the rate brought delivery back: a rate limit on the way.
    RateLimit,
    /// It did not: the path loses answers at any rate.
    AnyRate,
    /// Nothing answers at any rate any more.
    Gone,
}

#[derive(Debug, Clone)]
pub struct Aimd {
    ceiling: f64,
    rate: f64,
    /// Delivery the path gives at rates that do not overload it.
    base: f64,
    verdict: LossKind,
    /// The descent under way, testing what the loss is.
    descent: Option<Descent>,
    /// What the path seemed to pass when it last lost answers: climbing near it goes
    /// in smaller steps, and holds just under it for a while.
    limit: Option<f64>,
    /// The last limit, kept when the climb leaves it behind: above it one lost sample
    /// on a clean path still says where the limit is.
    armed: Option<f64>,
    /// Windows without loss just under `limit`.
    quiet: u32,
    /// Windows in a row without loss well past `limit`.
    past: u32,
    /// A retry round: behind a known limit the rate stays under it (a probe lost there
    /// costs a host the yield of the round cannot see).
    cautious: bool,
    /// The window before (answered, samples), for tests over two windows, and its rate.
    prev: Option<(f64, f64)>,
    prev_rate: f64,
}

/// A bounded descent: whether lowering the rate brings delivery back.
#[derive(Debug, Clone, Copy)]
struct Descent {
    /// The rate before it.
    from: f64,
    /// Samples (answered, sent) at the higher rates (the first and any step above the
    /// lowest), and at the lowest rate so far: a rate limit's delivery rises as the rate
    /// falls, so the lowest rate is the one tested against the rest.
    first: (f64, f64),
    low: (f64, f64),
    /// The rate the `low` windows went out at.
    low_rate: f64,
    /// Every window since the first (which was low by selection): the path's own
    /// delivery, if the verdict is loss at any rate.
    since: (f64, f64),
    /// The rate limit a rate-limit verdict would take (what went out times the share
    /// that came back, taken low).
    limit: f64,
    windows: u8,
    /// It would overturn a verdict of loss at any rate: a rate limit must show again at
    /// the rate it began from, or the first window was only unlucky (the descent
    /// began because it was low).
    overturns: bool,
    /// Back at the first rate to check, from this lower rate.
    check: Option<f64>,
    /// The check's first window has gone by: it drains what a policer's bucket saved
    /// up during the lower rates (a burst of 200 flatters a whole window), and only
    /// the next one is judged.
    drained: bool,
    /// It went below its bottom, to where a limit under it would pass everything.
    deep: bool,
}

impl Aimd {
    pub fn new(ceiling: u64) -> Aimd {
        Aimd {
            ceiling: ceiling.max(1) as f64,
            rate: ceiling.max(1) as f64,
            base: 1.0,
            verdict: LossKind::Unknown,
            descent: None,
            limit: None,
            armed: None,
            quiet: 0,
            past: 0,
            cautious: false,
            prev: None,
            prev_rate: 0.0,
        }
    }

    /// The rate to send at now, pps.
    pub fn rate(&self) -> u64 {
        self.rate.round() as u64
    }

    /// The lowest rate the controller ever sends at, pps.
    pub fn floor_rate(&self) -> u64 {
        self.floor().round() as u64
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

    /// Whether the rate may probe above a known limit (the first round) or not (retries).
    pub fn cautious(&mut self, on: bool) {
        self.cautious = on;
    }

    /// What the loss seen so far is.
    pub fn verdict(&self) -> LossKind {
        self.verdict
    }

    /// Whether the path loses answers of its own, below any limit: then one window's
    /// few lost samples say nothing.
    fn lossy(&self) -> bool {
        self.base < CLEAN_BASE
    }

    fn floor(&self) -> f64 {
        (self.ceiling * FLOOR_SHARE).max(1.0)
    }

    /// Whether `answered` of `n` is clearly below the baseline, by `z` standard errors.
    fn below(&self, answered: f64, n: f64, z: f64) -> bool {
        // The baseline is itself a measure (at first a guess of 1): its spread is taken
        // as at least a few percent's loss.
        let var = (self.base * (1.0 - self.base)).max(BASE_VAR);
        let spread = z * (var / n.max(1.0)).sqrt();
        answered / n.max(1.0) < self.base - MARGIN.max(spread)
    }

    /// A window of `n` samples of which a share `q` answered, sent at the current rate;
    /// `sent` is the rate actually achieved in it, if known (a busy machine may not
    /// reach the rate asked for, and a decrease starts from what went out).
    pub fn window(&mut self, q: f64, n: u64, sent: Option<f64>) -> Change {
        let q = q.clamp(0.0, 1.0);
        let n = n.max(1) as f64;
        let answered = (q * n).round();
        let went = sent.map_or(self.rate, |s| s.min(self.rate)).max(1.0);
        let prev = self.prev.replace((answered, n));
        let same_rate = std::mem::replace(&mut self.prev_rate, self.rate) == self.rate;
        if let Some(d) = self.descent.take() {
            return self.descend(d, answered, n, went);
        }
        // Once the path's own loss is known, one unlucky window is not a change.
        let steady = matches!(self.verdict, LossKind::AnyRate | LossKind::Gone)
            || (self.verdict == LossKind::RateLimit && self.lossy());
        let excess = self.below(answered, n, Z)
            && match prev {
                Some((a0, n0)) if steady && same_rate => {
                    self.below(answered + a0, n + n0, Z_POOLED)
                }
                _ => true,
            };
        if matches!(self.verdict, LossKind::AnyRate | LossKind::Gone) {
            // Every window counts, the low ones too (leaving them out would bias the
            // baseline high, and the next unlucky window would look like a change).
            // Behind a rate limit only those under it do (`holds`).
            self.base = (1.0 - SLOW) * self.base + SLOW * q;
        }
        if !excess {
            return self.holds(q, n, went);
        }
        // What a rate limit would pass: what went out times the share that came back,
        // taken low (a window's share is noisy): above it the rate is unproven (its
        // stretches are retried), and the climb finds the limit from below.
        let sure = (q - (q * (1.0 - q) / n).sqrt()).max(q / 2.0);
        let limit = went * (sure / self.base.max(P_EDGE)).min(1.0);
        let from = self.rate();
        if self.verdict == LossKind::RateLimit && self.over_limit() {
            // Above a rate limit already shown: the loss is its, no test needed.
            self.limit = Some(limit);
            self.armed = self.limit;
            self.quiet = 0;
            self.past = 0;
            let factor = (HEADROOM * q / self.base.max(P_EDGE)).clamp(MIN_FACTOR, MAX_FACTOR);
            self.rate = (went * factor).max(self.floor());
            return Change::Lowered {
                from,
                to: self.rate(),
                q,
            };
        }
        // Begin a descent: a rate limit's share would rise below, loss at any rate not.
        // The window before, at this same rate, counts too: the first window alone is
        // low by selection (it began the descent).
        let first = match prev {
            Some((a0, n0)) if same_rate => (answered + a0, n + n0),
            _ => (answered, n),
        };
        self.descent = Some(Descent {
            from: self.rate,
            first,
            low: (0.0, 0.0),
            low_rate: self.rate,
            since: (0.0, 0.0),
            limit,
            windows: 0,
            overturns: matches!(self.verdict, LossKind::AnyRate | LossKind::Gone),
            check: None,
            drained: false,
            deep: false,
        });
        // The first step goes where a rate limit would pass everything, as far as a
        // sixteenth: a policer is under it at once, and one window there tells.
        let factor = (HEADROOM * q / self.base.max(P_EDGE)).clamp(MIN_FACTOR, MAX_FACTOR);
        self.rate = (went * factor).max(self.floor()).min(self.rate);
        Change::Lowered {
            from,
            to: self.rate(),
            q,
        }
    }

    /// A window during a descent: whether delivery at the lower rates is clearly above
    /// what the first rate gave (a rate limit), or not (loss at any rate).
    fn descend(&mut self, mut d: Descent, answered: f64, n: f64, went: f64) -> Change {
        if let Some(low) = d.check {
            if !d.drained {
                d.drained = true;
                self.descent = Some(d);
                return Change::Held;
            }
            let from = self.rate();
            let (a1, n1) = d.low;
            let q1 = a1 / n1;
            // This window is fresh (the first was low by selection): it must be low
            // itself, and the first rate's windows together still clearly below.
            let (a0, n0) = (d.first.0 + answered, d.first.1 + n);
            let lower = answered / n < q1 - MARGIN
                && rise_z((answered, n), (a1, n1)) >= Z_CHECK
                && rise_z((a0, n0), (a1, n1)) >= Z;
            if !lower {
                // As good at the first rate as lower: no rate limit, the first window
                // was unlucky, and every window since measured the path's own delivery.
                self.base = (a1 + answered) / (n1 + n);
                if self.verdict == LossKind::Unknown && self.base < 1.0 - MARGIN {
                    self.verdict = LossKind::AnyRate;
                }
                return Change::Held;
            }
            self.rate = low;
            if d.overturns {
                // The baseline loss at any rate was measured above this limit: the path's
                // own delivery is unknown again (a baseline of 0.43 taken behind a 100/s
                // policer hid all excess loss at 177 pps, and the scan stayed there).
                self.base = 1.0;
            }
            self.verdict = LossKind::RateLimit;
            self.limit = Some(d.limit);
            self.armed = self.limit;
            self.quiet = 0;
            self.past = 0;
            return Change::Lowered {
                from,
                to: self.rate(),
                q: answered / n,
            };
        }
        d.windows += 1;
        if self.rate < d.low_rate * (1.0 - 1e-9) {
            // A step lower: the windows above it join the first rate's.
            d.first = (d.first.0 + d.low.0, d.first.1 + d.low.1);
            d.low = (0.0, 0.0);
            d.low_rate = self.rate;
        }
        d.low = (d.low.0 + answered, d.low.1 + n);
        d.since = (d.since.0 + answered, d.since.1 + n);
        // A one-sided test of two shares: the lower rates' against the first rate's.
        let a0 = d.first.0;
        let (a1, n1) = d.low;
        let z = rise_z(d.first, d.low);
        let doubt = d.overturns || (self.verdict == LossKind::Unknown && z < Z_SURE);
        if z >= Z && doubt {
            // Lowering the rate helped, but not beyond doubt (a first verdict, or one that
            // would overturn loss at any rate): back to where it began, to see that it
            // was not luck. Behind a limit already shown, a rise is no news.
            d.check = Some(self.rate);
            self.rate = d.from;
            self.descent = Some(d);
            return Change::Raised { to: self.rate() };
        }
        if z >= Z {
            // Lowering the rate helped: a rate limit, taken low; the climb finds it.
            self.verdict = LossKind::RateLimit;
            self.limit = Some(d.limit);
            self.armed = self.limit;
            self.quiet = 0;
            self.past = 0;
            return Change::Held;
        }
        // No better lower down: loss at any rate, once the descent has gone as low as it
        // goes, or to a rate that delivers what the path is taken to give (a rate limit
        // under this rate would show there), or has taken its windows.
        let bottom = (DESCENT_BOTTOM * d.from).max(self.floor());
        let flat =
            z <= Z_FLAT && (self.rate <= bottom * (1.0 + 1e-9) || !self.below(answered, n, Z));
        let q1 = a1 / n1;
        if flat && !d.deep && q1 < DEEP_BELOW && a0 + a1 > 0.0 {
            // Most answers lost even at the bottom: a limit under it (a policer whose
            // burst made the first window look better) would pass everything at
            // `q1 ·` this rate (none answered: at most about 3 in `n1`). One window
            // there before the verdict.
            let q1 = if a1 > 0.0 { q1 } else { 3.0 / n1 };
            let deep = (HEADROOM * q1 * went).max(self.floor());
            if deep < self.rate {
                d.deep = true;
                let from = self.rate();
                self.rate = deep;
                self.descent = Some(d);
                return Change::Lowered {
                    from,
                    to: self.rate(),
                    q: answered / n,
                };
            }
        }
        if flat || d.windows >= DESCENT_WINDOWS + u8::from(d.deep) {
            // It did not: this loss is the path's own, at any rate, and the lower rates
            // measured it (the first window was low by selection). None answered at
            // the lowest rate: whatever answered before, the path is gone now.
            let q = d.since.0 / d.since.1.max(1.0);
            self.base = q;
            self.rate = d.from;
            self.prev = None;
            if self.verdict == LossKind::RateLimit && a1 > 0.0 {
                // A rate limit shown before, and this loss under it: the path loses
                // answers of its own as well (a policer on a lossy link). The limit
                // stays; only the baseline under it is new. Taken for loss at any rate
                // instead, the limit would be forgotten and the climb would pass it
                // again and again, each descent from above it too short to tell.
                return Change::Baseline { to: self.rate(), q };
            }
            self.verdict = if a1 == 0.0 {
                LossKind::Gone
            } else {
                LossKind::AnyRate
            };
            self.limit = None;
            self.armed = None;
            self.quiet = 0;
            self.past = 0;
            return Change::Baseline { to: self.rate(), q };
        }
        // Undecided: lower still while this rate loses more than the path did before
        // (for contrast), never below the bottom; where it does not, another window here.
        let from = self.rate();
        if self.below(answered, n, Z) {
            self.rate = (went * 0.63).max(bottom).min(self.rate);
        }
        self.descent = Some(d);
        match self.rate() == from {
            true => Change::Held,
            false => Change::Lowered {
                from,
                to: self.rate(),
                q: answered / n,
            },
        }
    }

    /// A window without excess loss: the baseline follows it, the rate climbs.
    fn holds(&mut self, q: f64, n: f64, went: f64) -> Change {
        match self.verdict {
            LossKind::AnyRate | LossKind::Gone => {}
            // Behind a rate limit, only what went out well under it says what the path
            // is: just under a limit taken a little high (one window's noise), the
            // policer's loss would pass for the path's own, and the thin-loss rule
            // below would stop looking for it.
            LossKind::RateLimit
                if self
                    .limit
                    .is_none_or(|l| self.rate >= NEAR * l * (1.0 - 1e-9)) => {}
            _ => self.base = 0.8 * self.base + 0.2 * q,
        }
        // Behind a known limit, loss at or above the level held under it, more than
        // the path's own explains, says the limit is about what came back of this
        // window's rate (measured from below: the windows before bore theirs): back
        // under it. Loss too thin for a window to call excess still hides hosts. On a
        // clean path one lost sample is enough.
        let lost = n * (1.0 - q);
        let own = n * (1.0 - self.base);
        let spread = 2.0 * (n * self.base * (1.0 - self.base)).sqrt();
        if self.verdict == LossKind::RateLimit
            && !self.lossy()
            && self
                .limit
                .or(self.armed)
                .is_some_and(|l| self.rate >= UNDER * l * (1.0 - 1e-9))
            && lost >= 1.0 + own + spread - 1e-9
        {
            let from = self.rate();
            let l = went * (q / self.base.max(P_EDGE)).min(1.0);
            self.limit = Some(l);
            self.armed = self.limit;
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
        if let Some(l) = self
            .limit
            .filter(|_| self.cautious && self.verdict == LossKind::RateLimit)
        {
            // A retry round behind a limit: up to just under it, no further.
            let under = (UNDER * l).min(self.ceiling);
            if self.rate >= under {
                return Change::Held;
            }
            self.rate = (self.rate + NEAR_STEP * l).min(under);
            return Change::Raised { to: self.rate() };
        }
        let step = match self.limit {
            // Well past the old limit without loss: it was set too low (a window of
            // samples is a noisy measure), or the path changed. The steps double, so
            // a policer is found again a few percent above, and a path that changed
            // is climbed freely after a few windows (the first sample lost on the
            // way still sets the limit again: `armed`).
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
        Change::Raised { to: self.rate() }
    }
}

/// How many standard errors the share answered in `low` (answered, samples) is above
/// the share in `first`: a one-sided test of two proportions.
fn rise_z(first: (f64, f64), low: (f64, f64)) -> f64 {
    let ((a0, n0), (a1, n1)) = (first, low);
    if n0 <= 0.0 || n1 <= 0.0 {
        return 0.0;
    }
    let pooled = (a0 + a1) / (n0 + n1);
    let spread = (pooled * (1.0 - pooled) * (1.0 / n0 + 1.0 / n1)).sqrt();
    match spread > 0.0 {
        true => (a1 / n1 - a0 / n0) / spread,
        false => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// Windows of `n` samples on a path whose delivery at `rate` is `path(rate)`, drawn
    /// at random: the rate after each window.
    fn drive(a: &mut Aimd, windows: usize, n: u64, path: impl Fn(f64) -> f64) -> Vec<u64> {
        let mut rng = StdRng::seed_from_u64(7);
        (0..windows)
            .map(|_| {
                let p = path(a.rate() as f64);
                let answered = (0..n).filter(|_| rng.gen::<f64>() < p).count();
                a.window(answered as f64 / n as f64, n, None);
                a.rate()
            })
            .collect()
    }

    fn share_at_least(rates: &[u64], level: u64) -> f64 {
        rates.iter().filter(|&&r| r >= level).count() as f64 / rates.len() as f64
    }

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
    fn random_loss_is_the_paths_own_and_never_holds_the_rate_down() {
        // 5 to 50 % lost at any rate, windows of 20 samples (one noisy window is not
        // evidence): the rate spends nearly all its windows at the ceiling.
        for loss in [0.05, 0.1, 0.3, 0.5] {
            let mut a = Aimd::new(10_000);
            let mut rates = drive(&mut a, 100, 20, |_| 1.0 - loss);
            assert_eq!(a.verdict(), LossKind::AnyRate, "loss {loss}");
            rates.extend(drive(&mut a, 1_900, 20, |_| 1.0 - loss));
            let at_ceiling = share_at_least(&rates, 10_000);
            assert!(
                at_ceiling > 0.95,
                "loss {loss}: {at_ceiling} at the ceiling"
            );
            let lowest = *rates.iter().min().unwrap();
            assert!(lowest >= 2_500, "loss {loss}: down to {lowest}");
            assert!(
                (a.baseline() - (1.0 - loss)).abs() < 0.12,
                "{}",
                a.baseline()
            );
        }
    }

    #[test]
    fn a_descent_that_does_not_cure_the_loss_ends_in_loss_at_any_rate() {
        let mut a = Aimd::new(10_000);
        // Windows of 70 %: a descent down to a quarter of the rate at most, a few
        // windows, and back up.
        let mut lowered = 0;
        let end = loop {
            match a.window(0.7, 20, None) {
                Change::Lowered { .. } | Change::Held => lowered += 1,
                other => break other,
            }
            assert!(a.rate() >= 2_500, "{}", a.rate());
            assert!(lowered <= 4, "a bounded descent");
        };
        assert_eq!(end, Change::Baseline { to: 10_000, q: 0.7 });
        assert_eq!(a.verdict(), LossKind::AnyRate);
        for _ in 0..50 {
            assert_eq!(a.window(0.7, 20, None), Change::Held);
        }
        // The verdict holds through one bad window...
        assert_eq!(a.window(0.4, 20, None), Change::Held);
        // ...and a policer that appears shows: a descent, a check back at the rate it
        // began from, and a rate limit.
        assert!(matches!(a.window(0.14, 20, None), Change::Lowered { .. }));
        let low = a.rate();
        a.window((0.7f64 * 2_000.0 / low as f64).min(0.7), 20, None);
        assert_eq!(a.rate(), 10_000, "back to check");
        assert_eq!(a.verdict(), LossKind::AnyRate);
        // The check's first window only drains what a bucket saved up below: not judged.
        assert_eq!(a.window(0.7, 20, None), Change::Held);
        assert_eq!(a.rate(), 10_000);
        assert!(matches!(a.window(0.14, 20, None), Change::Lowered { .. }));
        assert_eq!(a.verdict(), LossKind::RateLimit);
        assert_eq!(a.rate(), low);
    }

    #[test]
    fn a_policer_with_random_loss_on_top_is_still_a_rate_limit() {
        let mut a = Aimd::new(10_000);
        let rates = drive(&mut a, 400, 20, |r| 0.9 * (2_000.0 / r).min(1.0));
        let tail = &rates[100..];
        let mean = tail.iter().sum::<u64>() as f64 / tail.len() as f64;
        assert!((1_400.0..3_000.0).contains(&mean), "{mean}");
        assert!(tail.iter().all(|&r| r >= 500), "{tail:?}");
    }

    #[test]
    fn a_path_that_goes_silent_is_gone_and_the_rate_goes_back_up() {
        let mut a = Aimd::new(10_000);
        let rates = drive(&mut a, 40, 20, |_| 0.0);
        assert_eq!(a.verdict(), LossKind::Gone);
        assert_eq!(a.rate(), 10_000);
        assert!(share_at_least(&rates, 10_000) > 0.8, "{rates:?}");
        assert!(rates.iter().all(|&r| r > a.floor_rate()), "{rates:?}");
    }

    #[test]
    fn no_loss_climbs_back_to_the_ceiling_and_never_past_it() {
        let mut a = Aimd::new(1_000);
        a.window(0.05, 100, None);
        assert_eq!(a.rate(), 63, "at most a sixteenth per window");
        // Everything answers down here: a rate limit, and the climb begins.
        assert_eq!(a.window(1.0, 100, None), Change::Held);
        assert_eq!(a.verdict(), LossKind::RateLimit);
        let mut steps = 0;
        while a.rate() < 1_000 {
            assert!(matches!(
                a.window(1.0, 100, None),
                Change::Raised { .. } | Change::Held
            ));
            steps += 1;
            assert!(steps < 200, "{}", a.rate());
        }
        assert!(steps >= 18, "additive: {steps} steps");
        assert_eq!(a.window(1.0, 100, None), Change::Held);
        assert_eq!(a.rate(), 1_000);
    }

    #[test]
    fn past_a_limit_taken_too_low_the_steps_double_not_leap() {
        let mut a = Aimd::new(10_000);
        // 10 of 20 answered, then all at the lower rate, then half again back at the
        // first (the check): a limit taken at about 3,900 (low), the rate 4,500.
        a.window(0.5, 20, None);
        a.window(1.0, 20, None);
        assert_eq!(a.rate(), 10_000, "back to check");
        // A burst saved up below flatters the first window back up: it is not judged.
        assert_eq!(a.window(0.9, 20, None), Change::Held);
        a.window(0.5, 20, None);
        assert_eq!(a.verdict(), LossKind::RateLimit);
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
    fn a_policer_whose_burst_flattered_the_first_window_is_found_below_the_bottom() {
        // 5 of 20 at the ceiling (a saved-up burst), none of 20 at 450 (a 100/s policer
        // passes 22 %): not a path gone, not loss at any rate, but one window lower.
        let mut a = Aimd::new(2_000);
        a.window(0.25, 20, None);
        assert_eq!(a.rate(), 450);
        let Change::Lowered { to, .. } = a.window(0.0, 20, None) else {
            panic!("one window deeper");
        };
        assert!(to < 100, "{to}");
        // Everything answers there, against 5 of 40 above: a rate limit beyond doubt
        // (the lowest rate is tested against all the windows above it).
        assert_eq!(a.window(1.0, 20, None), Change::Held);
        assert_eq!(a.verdict(), LossKind::RateLimit);
        assert_eq!(a.rate(), to);
        // Had nothing answered there either, the path would be gone.
        let mut b = Aimd::new(2_000);
        b.window(0.25, 20, None);
        b.window(0.0, 20, None);
        assert!(matches!(b.window(0.0, 20, None), Change::Baseline { q, .. } if q == 0.0));
        assert_eq!(b.verdict(), LossKind::Gone);
    }

    #[test]
    fn a_small_dip_within_the_window_noise_is_not_loss() {
        let mut a = Aimd::new(5_000);
        // 2 of 50 samples lost on a clean path: under the 5 % margin.
        assert_eq!(a.window(0.96, 50, None), Change::Held);
    }

    /// The verdict after `windows` windows of 20 on `path`, over `seeds` random runs:
    /// how many ended a rate limit.
    fn rate_limits(seeds: u64, ceiling: u64, path: impl Fn(f64) -> f64) -> u64 {
        (0..seeds)
            .filter(|&seed| {
                let mut rng = StdRng::seed_from_u64(seed);
                let mut a = Aimd::new(ceiling);
                for _ in 0..150 {
                    let p = path(a.rate() as f64);
                    let answered = (0..20).filter(|_| rng.gen::<f64>() < p).count();
                    a.window(answered as f64 / 20.0, 20, None);
                }
                a.verdict() == LossKind::RateLimit
            })
            .count() as u64
    }

    #[test]
    fn a_policer_on_a_lossy_link_stays_a_rate_limit_and_random_loss_rarely_is_one() {
        // A descent from under the limit that finds 10 % lost at any rate keeps the
        // limit: taken for loss at any rate, the limit was forgotten and a third of
        // these runs ended so, the climb passing the policer again and again.
        assert_eq!(rate_limits(100, 2_000, |r| 0.9 * (400.0 / r).min(1.0)), 100);
        assert_eq!(
            rate_limits(100, 10_000, |r| 0.9 * (2_000.0 / r).min(1.0)),
            100
        );
        // Loss at any rate alone: a lucky window now and then makes a rate limit of it.
        for loss in [0.05, 0.1, 0.3] {
            let limits = rate_limits(100, 2_000, |_| 1.0 - loss);
            assert!(limits <= 3, "loss {loss}: {limits} of 100 a rate limit");
        }
    }
}
