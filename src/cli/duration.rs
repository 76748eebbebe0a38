//! The one duration grammar every duration flag takes: a number and a unit (`500ms`, `2s`,
//! `1.5s`, `5m`, `1h`, `7d`, `2w`), or several run together (`1m30s`), each flag with its
//! own bounds stated in its error. A bare number is refused with the unit it most likely
//! meant. A point in time (`at`) is an RFC 3339 date or time, or a duration back from now.

use crate::error::Error;
use std::time::{Duration, SystemTime};

/// The range a flag accepts, both ends included.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub min: Duration,
    pub max: Duration,
}

const UNITS: [(&str, f64); 6] = [
    ("ms", 1e-3),
    ("s", 1.0),
    ("m", 60.0),
    ("h", 3600.0),
    ("d", 86_400.0),
    ("w", 604_800.0),
];

/// Parses `token` for `flag`; any error names the flag and the token (exit 2).
pub fn parse(flag: &'static str, token: &str, bounds: Bounds) -> Result<Duration, Error> {
    let bad = |reason: String| Error::BadValue {
        flag,
        token: token.to_string(),
        reason,
    };
    let secs =
        match seconds(token) {
            Some(s) => s,
            None if is_number(token) => {
                // A bare number: nmap and fping users mean milliseconds, small ones seconds.
                let v: f64 = token.parse().unwrap_or(0.0);
                let unit = if v < 10.0 { "s" } else { "ms" };
                return Err(bad(format!(
                    "needs a unit: ms, s, m, h, d or w — did you mean {token}{unit}?"
                )));
            }
            None => return Err(bad(
                "not a duration: a number and a unit, ms, s, m, h, d or w (e.g. 500ms, 2s, 5m, 7d)"
                    .into(),
            )),
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

/// A point in time for `flag`: an RFC 3339 time (`2026-03-01T08:00:00Z`, any offset,
/// fractions of a second allowed), a bare date (midnight UTC), or a duration back from
/// `now` in the grammar above (`7d`: seven days ago). Errors name the flag and the token.
pub fn at(flag: &'static str, token: &str, now: SystemTime) -> Result<SystemTime, Error> {
    let bad = |reason: &str| Error::BadValue {
        flag,
        token: token.to_string(),
        reason: reason.into(),
    };
    let t = token.trim();
    if t.starts_with(|c: char| c.is_ascii_digit()) && t.contains('-') {
        return rfc3339(t).ok_or_else(|| {
            bad("not a time: an RFC 3339 date or time (2026-03-01, 2026-03-01T08:00:00Z) or a duration back from now (7d)")
        });
    }
    let back = parse(flag, t, AGO)?;
    now.checked_sub(back)
        .ok_or_else(|| bad("reaches back before 1970"))
}

/// How far back a time given as a duration may reach: a century.
const AGO: Bounds = Bounds {
    min: Duration::ZERO,
    max: Duration::from_secs(100 * 365 * 86_400),
};

/// RFC 3339 with any offset, or a bare `YYYY-MM-DD` (midnight UTC); `None` if it is not one.
fn rfc3339(t: &str) -> Option<SystemTime> {
    if t.len() == 10 {
        return humantime::parse_rfc3339(&format!("{t}T00:00:00Z")).ok();
    }
    // humantime reads only `Z`: shift a numeric offset into UTC ourselves.
    let upper = t.to_ascii_uppercase().replacen(' ', "T", 1);
    if let Some(base) = upper.strip_suffix('Z') {
        return humantime::parse_rfc3339_weak(&format!("{base}Z")).ok();
    }
    let cut = upper.len().checked_sub(6)?;
    let (base, off) = (upper.get(..cut)?, upper.get(cut..)?);
    let sign = match off.as_bytes().first()? {
        b'+' => 1i64,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = off.get(1..)?.split_once(':')?;
    let (h, m): (u64, u64) = (h.parse().ok()?, m.parse().ok()?);
    if h > 23 || m > 59 {
        return None;
    }
    let utc = humantime::parse_rfc3339_weak(&format!("{base}Z")).ok()?;
    let shift = Duration::from_secs(h * 3600 + m * 60);
    // Local time = UTC + offset, so UTC = local - offset.
    if sign > 0 {
        utc.checked_sub(shift)
    } else {
        utc.checked_add(shift)
    }
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
    fn days_and_weeks() {
        let long = Bounds {
            min: Duration::from_millis(1),
            max: Duration::from_secs(400 * 86_400),
        };
        assert_eq!(
            parse("--x", "7d", long).unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(
            parse("--x", "2w", long).unwrap(),
            Duration::from_secs(14 * 86_400)
        );
        assert_eq!(
            parse("--x", "1d12h", long).unwrap(),
            Duration::from_secs(36 * 3600)
        );
    }

    #[test]
    fn points_in_time() {
        let now = humantime::parse_rfc3339("2026-03-10T12:00:00Z").unwrap();
        let t = |s: &str| at("--since", s, now).map(humantime::format_rfc3339);
        assert_eq!(t("7d").unwrap().to_string(), "2026-03-03T12:00:00Z");
        assert_eq!(t("2026-03-01").unwrap().to_string(), "2026-03-01T00:00:00Z");
        assert_eq!(
            t("2026-03-01T08:00:00Z").unwrap().to_string(),
            "2026-03-01T08:00:00Z"
        );
        assert_eq!(
            t("2026-03-01T10:30:00+02:00").unwrap().to_string(),
            "2026-03-01T08:30:00Z"
        );
        assert_eq!(
            t("2026-03-01T08:30:00.5-01:00").unwrap().to_string(),
            "2026-03-01T09:30:00.500000000Z"
        );
        for bad in [
            "2026-13-01",
            "2026-03-01T25:00:00Z",
            "yesterday",
            "7",
            "2026-03-01T08:00:00+2",
        ] {
            let e = t(bad).unwrap_err().to_string();
            assert!(
                e.contains(&format!("'{bad}'")) && e.contains("--since"),
                "{e}"
            );
        }
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
