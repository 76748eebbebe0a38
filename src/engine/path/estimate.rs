//! Rounds by yield: what each round saw of the path (the share of re-probed known-up
//! hosts that answered, `q`, and the hosts it found), and from that whether another
//! retry round is worth sending. With per-round delivery `q_k`, a live host is still
//! hidden after rounds `0..=k` with chance `m = Π (1 − q_k)`; `found` hosts seen so far
//! are the other `1 − m`, so about `found · m / (1 − m)` are still hidden.

/// Fewer resolved samples than this say nothing about a round's delivery.
pub const MIN_SAMPLES: u64 = 20;
/// Retry while at least this many live hosts are expected still hidden.
const WORTH_A_ROUND: f64 = 0.5;
/// A round's delivery within this many standard errors of all the rounds' together is
/// taken to be theirs.
const SAME_Z: f64 = 2.0;

/// What one round saw.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Round {
    /// Probes to targets still silent.
    pub probes: u64,
    /// Re-probes of hosts known up whose outcome is known, and how many answered.
    pub samples: u64,
    pub answered: u64,
    /// Targets whose first answer came in this round.
    pub found: u64,
    /// The send rate at the round's end, pps (`None`: unpaced).
    pub rate: Option<u64>,
    /// It went back only to the stretches of the round before that lost answers.
    pub narrowed: bool,
}

impl Round {
    /// The chance that a live host answers one probe, if enough samples were resolved.
    pub fn delivery(&self) -> Option<f64> {
        (self.samples >= MIN_SAMPLES).then(|| self.answered as f64 / self.samples as f64)
    }
}

/// Live hosts expected still hidden after `rounds`, with `found` hosts seen; `None`
/// when no round had enough samples to say.
pub fn hidden(found: u64, rounds: &[Round]) -> Option<f64> {
    // A round too short to sample enough still probed: it gets the delivery of all the
    // rounds' samples together, if they are enough.
    let (samples, answered) = rounds
        .iter()
        .fold((0, 0), |(n, a), r| (n + r.samples, a + r.answered));
    let pooled = Round {
        samples,
        answered,
        ..Round::default()
    }
    .delivery()?;
    // A round's own share where it clearly differs from the rest (the rate changed, a
    // policer), the pooled one where the difference is within its noise: 58 of 58
    // answered on a path losing 5 % happens one time in twenty, and taken at face value
    // it says nothing more is hidden.
    let missed: f64 = rounds
        .iter()
        .map(|r| {
            let q = r.delivery().map_or(pooled, |q| {
                let spread = SAME_Z * (pooled * (1.0 - pooled) / r.samples as f64).sqrt();
                if (q - pooled).abs() <= spread {
                    pooled
                } else {
                    q
                }
            });
            1.0 - q
        })
        .product();
    if missed >= 1.0 {
        // Nothing answered at all: no estimate of how many there are.
        return None;
    }
    Some(found as f64 * missed / (1.0 - missed))
}

/// Whether the path is gone: the last round's samples, enough of them, all lost.
pub fn gone(rounds: &[Round]) -> bool {
    rounds
        .last()
        .and_then(Round::delivery)
        .is_some_and(|q| q == 0.0)
}

/// Whether another retry round is worth sending after `rounds` (at least the first),
/// with `found` hosts seen and at most `max_rounds` in all. One retry always follows the
/// first round (hosts that drop a first probe, e.g. while a router resolves them, are
/// not in the samples); after it, rounds go on while the estimate says a live host is
/// still hidden. Without enough samples (a small scan), a retry that found someone
/// earns another. `limited`: the controller has found a rate limit, so a round whose
/// samples were all lost lost them to it (sent above it), not to a dead path.
pub fn another_round(found: u64, rounds: &[Round], max_rounds: u8, limited: bool) -> bool {
    let done = rounds.len();
    if done >= usize::from(max_rounds) {
        return false;
    }
    if done < 2 {
        return true;
    }
    if gone(rounds) && !limited {
        // Nothing answers any more: more rounds would only probe the void.
        return false;
    }
    match hidden(found, rounds) {
        Some(h) => h >= WORTH_A_ROUND,
        None => rounds.last().is_some_and(|r| r.found > 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(samples: u64, answered: u64, found: u64) -> Round {
        Round {
            probes: 1000,
            samples,
            answered,
            found,
            rate: Some(10_000),
            narrowed: false,
        }
    }

    #[test]
    fn a_clean_path_stops_after_one_retry() {
        let r = [round(300, 300, 16_000), round(250, 250, 0)];
        assert_eq!(r[0].delivery(), Some(1.0));
        assert_eq!(hidden(16_000, &r), Some(0.0));
        assert!(
            another_round(16_000, &r[..1], 11, false),
            "one retry always"
        );
        assert!(!another_round(16_000, &r, 11, false));
    }

    #[test]
    fn thirty_percent_loss_retries_until_under_half_a_host() {
        // 16,000 live hosts, q = 0.7: after k rounds 16,000 · 0.3^k are hidden.
        let mut rounds = Vec::new();
        let mut found = 0.0;
        let mut hidden_truth = 16_000.0;
        while rounds.is_empty() || another_round(found as u64, &rounds, 11, false) {
            let got = hidden_truth * 0.7;
            found += got;
            hidden_truth -= got;
            rounds.push(round(400, 280, got as u64));
        }
        // 16,000 · 0.3^k < 0.5 from k = 9, and the estimate agrees: nine rounds (the
        // ninth finds none, so no tenth).
        assert_eq!(rounds.len(), 9, "{rounds:?}");
        assert!(hidden_truth < 0.5);
        let h = hidden(found as u64, &rounds).unwrap();
        assert!((h - hidden_truth).abs() < 0.2, "{h} vs {hidden_truth}");
        // A clean round after loss ends the retries at once, whatever came before.
        let mut then_clean = rounds[..3].to_vec();
        then_clean.push(round(400, 400, 0));
        assert!(!another_round(15_000, &then_clean, 11, false));
    }

    #[test]
    fn a_path_gone_ends_the_retries_after_one_round_without_answers() {
        let r = [round(300, 150, 8_000), round(200, 0, 0)];
        assert!(gone(&r));
        assert!(
            another_round(8_000, &r[..1], 11, false),
            "the one retry still goes"
        );
        assert!(!another_round(8_000, &r, 11, false));
        // Behind a rate limit found, a round's samples sent above it were lost to it.
        assert!(another_round(8_000, &r, 11, true));
        // Too few samples to say: not gone.
        assert!(!gone(&[round(300, 150, 8_000), round(5, 0, 0)]));
    }

    #[test]
    fn the_cap_holds() {
        let r = vec![round(100, 10, 50); 4];
        assert!(another_round(500, &r[..3], 4, false));
        assert!(hidden(500, &r).unwrap() > 100.0);
        assert!(!another_round(500, &r, 4, false));
        assert!(another_round(500, &r, 5, false));
    }

    #[test]
    fn too_few_samples_fall_back_to_the_last_retrys_yield() {
        let quiet = [round(3, 3, 40), round(2, 2, 0)];
        assert_eq!(quiet[0].delivery(), None);
        assert_eq!(hidden(40, &quiet), None);
        assert!(!another_round(40, &quiet, 11, false));
        let found_more = [round(3, 3, 40), round(2, 1, 2)];
        assert!(another_round(42, &found_more, 11, false));
        // A round with too few samples of its own gets all the rounds' delivery (and
        // so does the first, within its noise of it).
        let short = [round(400, 360, 900), round(8, 8, 80)];
        let h = hidden(980, &short).unwrap();
        let m = (1.0 - 368.0 / 408.0_f64).powi(2);
        assert!((h - 980.0 * m / (1.0 - m)).abs() < 1e-6, "{h}");
        // A lucky round on a lossy path (58 of 58 where 5 % are lost) is not a clean
        // one: the rounds' pooled delivery, about 2 of 1,000 live hosts still hidden.
        let lucky = [round(86, 82, 971), round(58, 58, 51)];
        let h = hidden(1_022, &lucky).unwrap();
        assert!(h > 0.5, "{h}");
        assert!(another_round(1_022, &lucky, 11, false));
        // Nothing answered at all: nothing to estimate from either.
        assert_eq!(hidden(0, &[round(50, 0, 0)]), None);
    }
}
