//! How much of a scan is left: the rest of the round being sent, the retry rounds still to
//! come (each re-probes the targets still silent, estimated from this round's answer
//! rate), the retry interval before each, and the final wait (`--timeout`).

use std::time::Duration;

/// What does not change during a scan.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// 1 + retries.
    pub rounds: u8,
    /// Targets this scan (this shard) probes.
    pub owned: u64,
    pub timeout: Duration,
}

/// One look at the scan's counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Now {
    /// Rounds begun (0: the first has not started yet).
    pub round: u64,
    /// Probes the current round planned: the targets still silent when it began.
    pub round_planned: u64,
    /// Probes sent since the current round began.
    pub round_sent: u64,
    /// Targets that answered, in any round.
    pub answered: u64,
    /// Probes per second while sending.
    pub rate: f64,
    /// The retry interval now.
    pub rto: Duration,
    /// Since the last probe went out.
    pub since_last_probe: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Probes still to send, this round and the rounds to come.
    pub probes_left: u64,
    /// Until the scan ends; `None` while the send rate is unknown.
    pub time_left: Option<Duration>,
}

pub fn estimate(shape: &Shape, now: &Now) -> Estimate {
    let owned = shape.owned as f64;
    let answered = (now.answered as f64).min(owned);
    let (index, planned, sent) = match now.round {
        0 => (0, owned - answered, 0.0),
        r => (r - 1, now.round_planned as f64, now.round_sent as f64),
    };
    let left_here = (planned - sent).max(0.0);
    // The share of this round's probes that found an answer: a round began with
    // `planned` targets silent, so `owned - planned` had answered before it.
    let answered_here = (answered - (owned - planned)).max(0.0);
    let hit = if sent > 0.0 {
        (answered_here / sent).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mut silent = (owned - answered - left_here * hit).max(0.0);
    // A retry round answers at its own (small) rate; from the first round's hit rate
    // nothing is known about it, so no retry is assumed to find anyone.
    let retry_hit = if index > 0 { hit } else { 0.0 };
    let rounds_after = u64::from(shape.rounds).saturating_sub(index + 1);
    let mut probes = left_here;
    let mut waits = 0.0;
    let busy = left_here > 0.0;
    for _ in 0..rounds_after {
        if silent < 0.5 {
            break;
        }
        probes += silent;
        waits += now.rto.as_secs_f64();
        silent *= 1.0 - retry_hit;
    }
    // Waiting out a gap before the next round, or the final wait, has begun already.
    let waited = if busy {
        0.0
    } else {
        now.since_last_probe.as_secs_f64()
    };
    let final_wait = if silent >= 0.5 {
        shape.timeout.as_secs_f64()
    } else {
        0.0
    };
    let time_left = (now.rate > 0.0 || probes < 0.5).then(|| {
        let sending = if probes < 0.5 { 0.0 } else { probes / now.rate };
        Duration::from_secs_f64((sending + waits + final_wait - waited).max(0.0))
    });
    Estimate {
        probes_left: probes.round() as u64,
        time_left,
    }
}

/// `0:07`, `12:34`, `1:02:03`.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs_f64().round() as u64;
    match s / 3600 {
        0 => format!("{}:{:02}", s / 60, s % 60),
        h => format!("{h}:{:02}:{:02}", s / 60 % 60, s % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scan as the sender runs it: `rounds` rounds at `rate`, each probing the targets
    /// still silent, of which the first round finds `alive` (everyone answers at once,
    /// never later), a gap of `rto` between rounds, then `timeout`. At each step the
    /// estimate is compared with the time really left.
    fn check(owned: u64, alive: u64, rounds: u8, rate: f64, rto: f64, timeout: f64) {
        let shape = Shape {
            rounds,
            owned,
            timeout: Duration::from_secs_f64(timeout),
        };
        let per_probe = 1.0 / rate;
        let mut silent = owned;
        let mut timeline = Vec::new();
        let mut t = 0.0;
        for round in 1..=u64::from(rounds) {
            let planned = silent;
            let answered_before = owned - silent;
            for k in 0..=planned {
                let hits = if round == 1 { alive * k / owned } else { 0 };
                timeline.push((t, round, planned, k, answered_before + hits, 0.0));
                t += per_probe;
            }
            t -= per_probe;
            if round == 1 {
                silent -= alive;
            }
            if round < u64::from(rounds) {
                timeline.push((
                    t + rto / 2.0,
                    round,
                    planned,
                    planned,
                    owned - silent,
                    rto / 2.0,
                ));
                t += rto;
            }
        }
        timeline.push((
            t + timeout / 2.0,
            u64::from(rounds),
            silent,
            silent,
            owned - silent,
            timeout / 2.0,
        ));
        let end = t + timeout;
        let sampled = timeline
            .into_iter()
            .enumerate()
            .filter(|(i, step)| i % 97 == 0 || step.5 > 0.0);
        for (_, (at, round, planned, sent, answered, idle)) in sampled {
            let now = Now {
                round,
                round_planned: planned,
                round_sent: sent,
                answered,
                rate,
                rto: Duration::from_secs_f64(rto),
                since_last_probe: Duration::from_secs_f64(idle),
            };
            let got = estimate(&shape, &now).time_left.unwrap().as_secs_f64();
            let want = end - at;
            // The first probes of round 1 give no hit rate yet: a retry of everyone is assumed.
            if round == 1 && sent < owned / 20 {
                assert!(got >= want - 0.01, "at {at:.3}: {got:.3} < {want:.3}");
                continue;
            }
            assert!(
                (got - want).abs() <= 0.02 * want + 0.01,
                "at {at:.3}s (round {round}, {sent}/{planned}): estimate {got:.3}, really {want:.3}"
            );
        }
    }

    #[test]
    fn a_default_slash_16_lab() {
        check(65_534, 16_384, 3, 10_000.0, 0.01, 1.0);
    }

    #[test]
    fn no_retries_and_a_long_timeout() {
        check(4_000, 3_000, 1, 2_000.0, 0.01, 3.0);
    }

    #[test]
    fn everyone_answers() {
        let shape = Shape {
            rounds: 3,
            owned: 100,
            timeout: Duration::from_secs(1),
        };
        let now = Now {
            round: 1,
            round_planned: 100,
            round_sent: 50,
            answered: 50,
            rate: 100.0,
            ..Now::default()
        };
        // Every probe so far answered: the rest will be, no retries and no final wait.
        let e = estimate(&shape, &now);
        assert_eq!(e.probes_left, 50);
        assert_eq!(e.time_left, Some(Duration::from_millis(500)));
    }

    #[test]
    fn before_any_rate_is_known() {
        let shape = Shape {
            rounds: 2,
            owned: 10,
            timeout: Duration::from_secs(1),
        };
        let e = estimate(&shape, &Now::default());
        assert_eq!(e.probes_left, 20);
        assert_eq!(e.time_left, None);
    }

    #[test]
    fn clock_format() {
        assert_eq!(clock(Duration::from_millis(7_400)), "0:07");
        assert_eq!(clock(Duration::from_secs(754)), "12:34");
        assert_eq!(clock(Duration::from_secs(3723)), "1:02:03");
    }
}
