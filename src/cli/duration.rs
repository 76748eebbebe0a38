//! The one duration grammar every duration flag takes: a number and a unit (`500ms`, `2s`,
//! `1.5s`, `5m`, `1h`), or several run together (`1m30s`), each flag with its own bounds
//! stated in its error. A bare number is refused with the unit it most likely meant.

use crate::error::Error;
use std::time::Duration;

/// The range a flag accepts, both ends included.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub min: Duration,
    pub max: Duration,
}

const UNITS: [(&str, f64); 4] = [("ms", 1e-3), ("s", 1.0), ("m", 60.0), ("h", 3600.0)];

/// Parses `token` for `flag`; any error names the flag and the token (exit 2).
pub fn parse(flag: &'static str, token: &str, bounds: Bounds) -> Result<Duration, Error> {
    let bad = |reason: String| Error::BadValue {
        flag,
        token: token.to_string(),
        reason,
    };
    let secs = match seconds(token) {
        Some(s) => s,
        None if is_number(token) => {
            // A bare number: nmap and fping users mean milliseconds, small ones seconds.
            let v: f64 = token.parse().unwrap_or(0.0);
            let unit = if v < 10.0 { "s" } else { "ms" };
            return Err(bad(format!(
                "needs a unit: ms, s, m or h — did you mean {token}{unit}?"
            )));
        }
        None => {
            return Err(bad(
                "not a duration: a number and a unit, ms, s, m or h (e.g. 500ms, 2s, 5m)".into(),
            ))
        }
    };
    let (min, max) = (bounds.min.as_secs_f64(), bounds.max.as_secs_f64());
    // Compared in milliseconds' worth of slack: `0.1s` is 100ms even in floating point.
    if secs < min - 1e-9 || secs > max + 1e-9 {
        return Err(bad(format!(
            "must be between {} and {}",
            show(bounds.min),
            show(bounds.max)
        )));
    }
    Ok(Duration::from_secs_f64(secs.clamp(min, max)))
}

/// Digits with at most one decimal point, and at least one digit.
fn is_number(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_digit() || c == '.')
        && s.matches('.').count() <= 1
}

/// The sum of the `<number><unit>` parts, or `None` when `token` is not made of them.
fn seconds(token: &str) -> Option<f64> {
    let mut rest = token;
    let mut total = 0.0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&n| n > 0)?;
        let (num, tail) = rest.split_at(digits);
        if !is_number(num) {
            return None;
        }
        let letters = tail
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(letters);
        let scale = UNITS.iter().find(|(u, _)| *u == unit)?.1;
        total += num.parse::<f64>().ok()? * scale;
        rest = next;
    }
    (!token.is_empty()).then_some(total)
}

/// The largest unit that shows `d` whole: `1ms`, `100ms`, `268s`, `5m`, `24h`.
pub fn show(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        ms if ms % 3_600_000 == 0 && ms > 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 && ms > 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIDE: Bounds = Bounds {
        min: Duration::from_millis(1),
        max: Duration::from_secs(86_400),
    };

    fn ok(t: &str) -> Duration {
        parse("--x", t, WIDE).unwrap()
    }

    fn err(t: &str, b: Bounds) -> String {
        parse("--x", t, b).unwrap_err().to_string()
    }

    #[test]
    fn every_unit_and_compounds() {
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("2s"), Duration::from_secs(2));
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok("5m"), Duration::from_secs(300));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("0.1s"), Duration::from_millis(100));
    }

    #[test]
    fn bare_numbers_get_a_unit_suggested() {
        assert!(err("500", WIDE).contains("did you mean 500ms?"));
        assert!(err("2", WIDE).contains("did you mean 2s?"));
        assert!(err("1.5", WIDE).contains("did you mean 1.5s?"));
        for t in ["5x", "inf", "-1s", "s", "", "1.2.3s", "1 s", "ms5", "NaNs"] {
            let e = err(t, WIDE);
            assert!(!e.contains("did you mean"), "{t}: {e}");
            assert!(e.contains("not a duration"), "{t}: {e}");
        }
    }

    #[test]
    fn bounds_are_each_flags_and_stated() {
        let b = Bounds {
            min: Duration::from_millis(100),
            max: Duration::from_secs(268),
        };
        let e = err("5m", b);
        assert!(
            e.contains("'5m'") && e.contains("between 100ms and 268s"),
            "{e}"
        );
        assert!(err("10ms", b).contains("between 100ms and 268s"));
        assert_eq!(parse("--x", "100ms", b).unwrap(), b.min);
        assert_eq!(parse("--x", "268s", b).unwrap(), b.max);
        assert!(err("0ms", WIDE).contains("between 1ms and 24h"));
    }

    #[test]
    fn shows_the_largest_whole_unit() {
        assert_eq!(show(Duration::from_millis(1)), "1ms");
        assert_eq!(show(Duration::from_millis(1500)), "1500ms");
        assert_eq!(show(Duration::from_secs(90)), "90s");
        assert_eq!(show(Duration::from_secs(600)), "10m");
        assert_eq!(show(Duration::from_secs(7 * 86_400)), "168h");
    }
}
