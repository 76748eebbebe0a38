//! What the scan saw of its path, said to a person (one warning line on stderr, shown
//! with `-q` too: a nightly job must not miss it) and to a program (the summary JSON's
//! `path` object): delivery per round, what the rate did, and the live hosts that may
//! still be missing.

use crate::engine::path::aimd::{Change, LossKind, CLEAN_BASE};
use crate::engine::path::estimate::Round;
use crate::engine::path::{Report, LOSSY};
use serde_json::{json, Value};

/// The summary JSON's name for a kind of loss.
pub fn kind_name(v: LossKind) -> &'static str {
    match v {
        LossKind::Unknown => "none",
        LossKind::RateLimit => "rate-limit",
        LossKind::AnyRate => "loss-at-any-rate",
        LossKind::Gone => "path-gone",
    }
}

/// Whether the scan saw loss: a round's delivery fell, or the rate had to change.
pub fn loss_seen(r: &Report) -> bool {
    r.kind() != LossKind::Unknown
        || r.events
            .iter()
            .any(|e| !matches!(e.change, Change::Raised { .. } | Change::Held))
        || r.rounds
            .iter()
            .any(|round| round.delivery().is_some_and(|q| q < LOSSY))
}

/// `12345` as `12,345`.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (k, c) in s.chars().enumerate() {
        if k > 0 && (s.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn percent(q: f64) -> String {
    format!("{:.0} %", q * 100.0)
}

/// Delivery over every round's samples.
fn overall(r: &Report) -> f64 {
    let (n, a) = r
        .rounds
        .iter()
        .fold((0, 0), |(n, a), x| (n + x.samples, a + x.answered));
    if n == 0 {
        1.0
    } else {
        a as f64 / n as f64
    }
}

fn missing(r: &Report) -> String {
    match r.hidden {
        Some(h) if h >= 0.5 => format!("about {h:.0} live hosts may still be missing"),
        Some(_) => "probably no live host is missing".into(),
        None => "how many live hosts are missing is unknown (too few samples)".into(),
    }
}

/// The warning line when loss was seen, else `None`.
pub fn warning(r: &Report) -> Option<String> {
    if !loss_seen(r) {
        return None;
    }
    let rounds = r.rounds.len();
    let lowered = r.events.iter().find_map(|e| match e.change {
        Change::Lowered { from, q, .. } => Some((from, q)),
        _ => None,
    });
    let worst = || {
        r.rounds
            .iter()
            .filter_map(Round::delivery)
            .fold(1.0, f64::min)
    };
    let what = match (r.kind(), lowered, r.lowest_rate) {
        (LossKind::Gone, ..) => format!(
            "path gone: answers stopped at every rate (down to {}); no more retries",
            percent(worst())
        ),
        (LossKind::RateLimit, Some((from, q)), Some(low)) => format!(
            "rate limit on the path: answers fell to {} at {} pps; continued at {} pps \
             and up to {} pps{}",
            percent(q),
            thousands(from),
            thousands(low),
            thousands(r.final_rate.unwrap_or(low).max(low)),
            // A policer on a lossy link: the loss under the limit is the path's own.
            match r.baseline.filter(|&b| b < CLEAN_BASE) {
                Some(b) => format!(", and {} lost below it at any rate", percent(1.0 - b)),
                None => String::new(),
            },
        ),
        (LossKind::AnyRate, ..) => format!(
            "loss at any rate: {} of answers lost (on the path, not a rate limit)",
            percent(1.0 - overall(r))
        ),
        _ => format!("answers fell to {}", percent(worst())),
    };
    Some(format!(
        "sweep: {what}; {rounds} round{} in all; {}",
        if rounds == 1 { "" } else { "s" },
        missing(r)
    ))
}

/// The summary JSON's `path` object.
pub fn json(r: &Report, samples: u64) -> Value {
    let rounds: Vec<Value> = r
        .rounds
        .iter()
        .enumerate()
        .map(|(k, round)| {
            json!({
                "round": k,
                "probes": round.probes,
                "samples": round.samples,
                "samples_answered": round.answered,
                "delivery": round.delivery().map(|q| (q * 1000.0).round() / 1000.0),
                "found": round.found,
                "rate_pps": round.rate,
                "only_lossy_stretches": round.narrowed,
            })
        })
        .collect();
    let changes: Vec<Value> = r
        .events
        .iter()
        .filter_map(|e| {
            let (kind, to, q) = match e.change {
                Change::Lowered { to, q, .. } => ("lowered", to, Some(q)),
                Change::Baseline { to, q } => ("loss-not-rate", to, Some(q)),
                Change::Raised { to } => ("raised", to, None),
                Change::Held => return None,
            };
            Some(json!({ "round": e.round, "change": kind, "to_pps": to, "delivery": q }))
        })
        .collect();
    json!({
        "samples": samples,
        "loss_seen": loss_seen(r),
        "kind": kind_name(r.kind()),
        "baseline_delivery": r.baseline.map(|q| (q * 1000.0).round() / 1000.0),
        "seconds_at_floor": (r.at_floor_s * 10.0).round() / 10.0,
        "rounds": rounds,
        "rate_changes": changes,
        "lowest_rate_pps": r.lowest_rate,
        "final_rate_pps": r.final_rate,
        "hidden_estimate": r.hidden.map(|h| (h * 10.0).round() / 10.0),
        "warning": warning(r),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::path::Event;

    fn round(samples: u64, answered: u64, found: u64, rate: u64) -> Round {
        Round {
            probes: 1000,
            samples,
            answered,
            found,
            rate: Some(rate),
            narrowed: false,
        }
    }

    #[test]
    fn a_clean_path_says_nothing() {
        let r = Report {
            rounds: vec![round(300, 300, 900, 10_000), round(200, 199, 0, 10_000)],
            final_rate: Some(10_000),
            hidden: Some(0.0),
            ..Report::default()
        };
        assert_eq!(warning(&r), None);
        let j = json(&r, 500);
        assert_eq!(j["loss_seen"], false);
        assert_eq!(j["rounds"][0]["delivery"], 1.0);
        assert_eq!(j["rounds"][1]["found"], 0);
        assert_eq!(j["warning"], Value::Null);
    }

    #[test]
    fn a_policer_is_named_with_the_rates() {
        let r = Report {
            rounds: vec![round(40, 8, 300, 1_800), round(60, 59, 600, 2_100)],
            events: vec![
                Event {
                    round: 0,
                    change: Change::Lowered {
                        from: 10_000,
                        to: 1_800,
                        q: 0.21,
                    },
                },
                Event {
                    round: 1,
                    change: Change::Raised { to: 2_100 },
                },
            ],
            final_rate: Some(2_100),
            lowest_rate: Some(1_800),
            hidden: Some(0.2),
            verdict: LossKind::RateLimit,
            ..Report::default()
        };
        assert_eq!(
            warning(&r).unwrap(),
            "sweep: rate limit on the path: answers fell to 21 % at 10,000 pps; continued \
             at 1,800 pps and up to 2,100 pps; 2 rounds in all; probably no live host is \
             missing"
        );
        assert_eq!(json(&r, 100)["kind"], "rate-limit");
        let j = json(&r, 100);
        assert_eq!(j["rate_changes"][0]["change"], "lowered");
        assert_eq!(j["rate_changes"][0]["to_pps"], 1_800);
        assert_eq!(j["lowest_rate_pps"], 1_800);
        assert_eq!(j["rounds"][0]["delivery"], 0.2);
    }

    #[test]
    fn a_policer_on_a_lossy_link_names_the_loss_under_it() {
        let r = Report {
            rounds: vec![round(40, 30, 300, 400)],
            events: vec![Event {
                round: 0,
                change: Change::Lowered {
                    from: 2_000,
                    to: 180,
                    q: 0.1,
                },
            }],
            final_rate: Some(390),
            lowest_rate: Some(180),
            verdict: LossKind::RateLimit,
            baseline: Some(0.9),
            ..Report::default()
        };
        let w = warning(&r).unwrap();
        assert!(
            w.starts_with(
                "sweep: rate limit on the path: answers fell to 10 % at 2,000 pps; continued \
                 at 180 pps and up to 390 pps, and 10 % lost below it at any rate; 1 round"
            ),
            "{w}"
        );
    }

    #[test]
    fn random_loss_says_so_and_what_may_be_missing() {
        let r = Report {
            rounds: vec![round(300, 210, 700, 10_000); 3],
            events: vec![Event {
                round: 0,
                // One window's delivery; the warning gives all rounds' (70 %).
                change: Change::Baseline { to: 10_000, q: 0.6 },
            }],
            final_rate: Some(10_000),
            lowest_rate: Some(5_000),
            hidden: Some(26.4),
            verdict: LossKind::AnyRate,
            ..Report::default()
        };
        assert_eq!(
            warning(&r).unwrap(),
            "sweep: loss at any rate: 30 % of answers lost (on the path, not a rate limit); \
             3 rounds in all; about 26 live hosts may still be missing"
        );
        assert_eq!(json(&r, 900)["kind"], "loss-at-any-rate");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }

    #[test]
    fn a_path_that_dies_is_named_gone_even_at_a_fixed_rate() {
        let r = Report {
            rounds: vec![round(300, 140, 800, 10_000), round(200, 0, 0, 10_000)],
            final_rate: None,
            hidden: None,
            ..Report::default()
        };
        let w = warning(&r).unwrap();
        assert!(w.starts_with("sweep: path gone: answers stopped"), "{w}");
        assert_eq!(json(&r, 500)["kind"], "path-gone");
        // Loss without a verdict (a fixed rate) is loss at any rate.
        let lossy = Report {
            rounds: vec![round(300, 270, 800, 10_000); 2],
            ..Report::default()
        };
        assert_eq!(json(&lossy, 600)["kind"], "loss-at-any-rate");
        let clean = Report {
            rounds: vec![round(300, 300, 800, 10_000); 2],
            ..Report::default()
        };
        assert_eq!(json(&clean, 600)["kind"], "none");
    }
}
