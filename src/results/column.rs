//! One codec per column: each column sweep writes is defined once, in `CODECS` — its name,
//! how it reads its value from a `Row`, and how it parses its CSV text back into one. The
//! scan's CSV, JSON and NDJSON, `merge`, `diff` and the reader all go through these; a new
//! column is one more entry (and a `Field` variant).
//!
//! Lists: a host that answers from several MACs (a conflict, proxy ARP) has them all in
//! `mac`, and their vendors in `vendor`, joined with `;` in CSV (`LIST_SEP`: no MAC and no
//! registry name contains it) and as a JSON array; one MAC is a plain string, as always.

use crate::results::dialect::{needs_guard, unguard};
use crate::results::row::{Row, Status};
use crate::wire::ether::Mac;
use std::borrow::Cow;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Addr,
    Status,
    RttMs,
    Ttl,
    Responder,
    Probes,
    Dups,
    Detail,
    Mac,
    Vendor,
    SeenAt,
    Hostname,
    Sent,
    Received,
    LossPct,
    RttMinMs,
    RttAvgMs,
    RttMaxMs,
    RttStddevMs,
    Rtts,
}

/// Separates the items of a list column (`mac`, `vendor`) in CSV.
pub const LIST_SEP: char = ';';

impl Field {
    /// The contract's columns, in order.
    pub const DEFAULT: &'static [Field] = &[
        Field::Addr,
        Field::Status,
        Field::RttMs,
        Field::Ttl,
        Field::Responder,
        Field::Probes,
        Field::Dups,
        Field::Detail,
        Field::Mac,
        Field::Vendor,
    ];
    /// The columns count mode appends.
    pub const COUNT: &'static [Field] = &[
        Field::Sent,
        Field::Received,
        Field::LossPct,
        Field::RttMinMs,
        Field::RttAvgMs,
        Field::RttMaxMs,
        Field::RttStddevMs,
    ];
    pub const ALL: [Field; 20] = [
        Field::Addr,
        Field::Status,
        Field::RttMs,
        Field::Ttl,
        Field::Responder,
        Field::Probes,
        Field::Dups,
        Field::Detail,
        Field::Mac,
        Field::Vendor,
        Field::SeenAt,
        Field::Hostname,
        Field::Sent,
        Field::Received,
        Field::LossPct,
        Field::RttMinMs,
        Field::RttAvgMs,
        Field::RttMaxMs,
        Field::RttStddevMs,
        Field::Rtts,
    ];

    fn codec(self) -> &'static Codec {
        let c = &CODECS[self as usize];
        debug_assert_eq!(c.field, self, "CODECS is in Field order");
        c
    }

    pub fn name(self) -> &'static str {
        self.codec().name
    }

    /// Fields that only count mode fills.
    pub fn count_only(self) -> bool {
        self.codec().count_only
    }

    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    /// This column's value in `row`.
    pub fn get(self, row: &Row) -> Value<'_> {
        (self.codec().get)(row)
    }

    /// Sets this column of `row` from its CSV text; the error names the bad token.
    pub fn put(self, row: &mut Row, text: &str) -> Result<(), String> {
        (self.codec().put)(row, text)
    }

    /// This column of `row` as CSV text; text guarded against formulas unless `raw`.
    pub fn csv(self, row: &Row, raw: bool) -> Cow<'_, str> {
        self.get(row).csv(raw)
    }
}

/// A column's value, typed, before a writer renders it.
pub enum Value<'a> {
    Null,
    Text(Cow<'a, str>),
    Int(u64),
    /// Microseconds, written as milliseconds with three decimals.
    Ms(u64),
    /// Per mille, written as a percentage with one decimal.
    Permille(u64),
    /// Every probe's RTT (count mode), `None` for no reply.
    Rtts(&'a [Option<u64>]),
    /// Several MACs (one is `Text`).
    Macs(&'a [Mac]),
    /// Several texts (one is `Text`).
    Texts(&'a [String]),
}

impl<'a> Value<'a> {
    /// As CSV text; text that would start a spreadsheet formula gets a `'` unless `raw`.
    pub fn csv(self, raw: bool) -> Cow<'a, str> {
        let text = match self {
            Value::Null => return Cow::Borrowed(""),
            Value::Text(s) if raw || !needs_guard(&s) => return s,
            Value::Text(s) => s.into_owned(),
            Value::Int(n) => return Cow::Owned(n.to_string()),
            Value::Ms(us) => return Cow::Owned(ms_text(us)),
            Value::Permille(t) => return Cow::Owned(format!("{}.{}", t / 10, t % 10)),
            // As fping -C prints them: space-separated, '-' for a probe without reply.
            Value::Rtts(v) => {
                return Cow::Owned(
                    v.iter()
                        .map(|r| r.map_or_else(|| "-".to_string(), ms_text))
                        .collect::<Vec<_>>()
                        .join(" "),
                )
            }
            Value::Macs(v) => join(v.iter().map(Mac::to_string)),
            Value::Texts(v) => join(v.iter().cloned()),
        };
        if !raw && needs_guard(&text) {
            Cow::Owned(format!("'{text}"))
        } else {
            Cow::Owned(text)
        }
    }

    /// As JSON: numbers as numbers, milliseconds as fractions, lists as arrays.
    pub fn json(self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Text(s) => s.into_owned().into(),
            Value::Int(n) => n.into(),
            Value::Ms(us) => ms_json(us),
            Value::Permille(t) => {
                serde_json::Number::from_f64(t as f64 / 10.0).map_or(J::Null, J::Number)
            }
            Value::Rtts(v) => v.iter().map(|r| r.map_or(J::Null, ms_json)).collect(),
            Value::Macs(v) => v.iter().map(|m| J::from(m.to_string())).collect(),
            Value::Texts(v) => v.iter().map(|s| J::from(s.as_str())).collect(),
        }
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(&LIST_SEP.to_string())
}

/// 1234 µs → `1.234`, as sweep writes milliseconds.
pub fn ms_text(us: u64) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}

fn ms_json(us: u64) -> serde_json::Value {
    serde_json::Number::from_f64(us as f64 / 1000.0)
        .map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// `token` as a whole number of `1/10^places` units: `1.234` with 3 places is 1234; at
/// most `places` decimals, no sign, no exponent.
pub fn parse_decimal(token: &str, places: u32) -> Option<u64> {
    let (int, frac) = token.split_once('.').unwrap_or((token, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || frac.len() > places as usize {
        return None;
    }
    if token.ends_with('.') {
        return None;
    }
    let whole: u64 = int.parse().ok()?;
    let mut part: u64 = 0;
    for (i, b) in frac.bytes().enumerate() {
        part += u64::from(b - b'0') * 10u64.pow(places - 1 - i as u32);
    }
    whole.checked_mul(10u64.pow(places))?.checked_add(part)
}

/// Milliseconds with at most 3 decimals → microseconds.
pub fn parse_ms(token: &str) -> Option<u64> {
    parse_decimal(token, 3)
}

struct Codec {
    field: Field,
    name: &'static str,
    count_only: bool,
    get: fn(&Row) -> Value<'_>,
    put: fn(&mut Row, &str) -> Result<(), String>,
}

type Put = Result<(), String>;

fn text(s: &str) -> Value<'_> {
    if s.is_empty() {
        Value::Null
    } else {
        Value::Text(Cow::Borrowed(s))
    }
}

fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Value<'static>) -> Value<'static> {
    v.map_or(Value::Null, f)
}

/// An optional column: empty is `None`, else `parse` must accept it.
fn parse_opt<T>(
    t: &str,
    parse: impl FnOnce(&str) -> Option<T>,
    bad: impl FnOnce() -> String,
) -> Result<Option<T>, String> {
    if t.is_empty() {
        return Ok(None);
    }
    parse(t).map(Some).ok_or_else(bad)
}

fn whole(name: &str, t: &str) -> Result<u64, String> {
    t.parse()
        .map_err(|_| format!("invalid {name} '{t}' (want a whole number)"))
}

fn opt_whole(name: &str, t: &str) -> Result<Option<u64>, String> {
    parse_opt(
        t,
        |t| t.parse().ok(),
        || format!("invalid {name} '{t}' (want a whole number)"),
    )
}

fn opt_ms(name: &str, t: &str) -> Result<Option<u64>, String> {
    parse_opt(t, parse_ms, || {
        format!("invalid {name} '{t}' (want milliseconds like 1.234)")
    })
}

/// A list column's value: nothing, one item as text, several as a list.
fn list<'a, T>(
    v: &'a [T],
    one: impl FnOnce(&'a T) -> Cow<'a, str>,
    many: fn(&'a [T]) -> Value<'a>,
) -> Value<'a> {
    match v {
        [] => Value::Null,
        [x] => Value::Text(one(x)),
        _ => many(v),
    }
}

static CODECS: [Codec; 20] = [
    Codec {
        field: Field::Addr,
        name: "addr",
        count_only: false,
        get: |r| Value::Text(Cow::Owned(r.addr.to_string())),
        put: |r, t| -> Put {
            r.addr = t
                .parse()
                .map_err(|_| format!("invalid addr '{t}' (want an IPv4 or IPv6 address)"))?;
            Ok(())
        },
    },
    Codec {
        field: Field::Status,
        name: "status",
        count_only: false,
        get: |r| Value::Text(Cow::Borrowed(r.status.as_str())),
        put: |r, t| -> Put {
            r.status = t.parse::<Status>()?;
            Ok(())
        },
    },
    Codec {
        field: Field::RttMs,
        name: "rtt_ms",
        count_only: false,
        get: |r| opt(r.rtt_us, Value::Ms),
        put: |r, t| -> Put {
            r.rtt_us = opt_ms("rtt_ms", t)?;
            Ok(())
        },
    },
    Codec {
        field: Field::Ttl,
        name: "ttl",
        count_only: false,
        get: |r| opt(r.ttl, |t| Value::Int(u64::from(t))),
        put: |r, t| -> Put {
            r.ttl = parse_opt(
                t,
                |t| t.parse().ok(),
                || format!("invalid ttl '{t}' (want 0 to 255)"),
            )?;
            Ok(())
        },
    },
    Codec {
        field: Field::Responder,
        name: "responder",
        count_only: false,
        get: |r| opt(r.responder, |a| Value::Text(Cow::Owned(a.to_string()))),
        put: |r, t| -> Put {
            r.responder = parse_opt(
                t,
                |t| t.parse::<IpAddr>().ok(),
                || format!("invalid responder '{t}' (want an IP address or nothing)"),
            )?;
            Ok(())
        },
    },
    Codec {
        field: Field::Probes,
        name: "probes",
        count_only: false,
        get: |r| Value::Int(r.probes),
        put: |r, t| -> Put {
            r.probes = whole("probes", t)?;
            Ok(())
        },
    },
    Codec {
        field: Field::Dups,
        name: "dups",
        count_only: false,
        get: |r| Value::Int(r.dups),
        put: |r, t| -> Put {
            r.dups = whole("dups", t)?;
            Ok(())
        },
    },
    // Text columns: a `'` that sweep put before a formula start is not data.
    Codec {
        field: Field::Detail,
        name: "detail",
        count_only: false,
        get: |r| text(&r.detail),
        put: |r, t| -> Put {
            r.detail = unguard(t).to_string();
            Ok(())
        },
    },
    Codec {
        field: Field::Mac,
        name: "mac",
        count_only: false,
        get: |r| list(&r.macs, |m| Cow::Owned(m.to_string()), Value::Macs),
        put: |r, t| -> Put {
            r.macs = if t.is_empty() {
                Vec::new()
            } else {
                t.split(LIST_SEP)
                    .map(|m| {
                        m.parse().map_err(|_| {
                            format!("invalid mac '{m}' (want six hex octets like 00:1b:21:0a:0b:0c, several joined by '{LIST_SEP}')")
                        })
                    })
                    .collect::<Result<_, _>>()?
            };
            Ok(())
        },
    },
    Codec {
        field: Field::Vendor,
        name: "vendor",
        count_only: false,
        get: |r| {
            if r.vendors.iter().all(String::is_empty) {
                Value::Null
            } else {
                list(&r.vendors, |v| Cow::Borrowed(v.as_str()), Value::Texts)
            }
        },
        put: |r, t| -> Put {
            let t = unguard(t);
            r.vendors = if t.is_empty() {
                Vec::new()
            } else {
                t.split(LIST_SEP).map(str::to_string).collect()
            };
            Ok(())
        },
    },
    Codec {
        field: Field::SeenAt,
        name: "seen_at",
        count_only: false,
        get: |r| text(&r.seen_at),
        put: |r, t| -> Put {
            r.seen_at = unguard(t).to_string();
            Ok(())
        },
    },
    Codec {
        field: Field::Hostname,
        name: "hostname",
        count_only: false,
        get: |r| text(&r.hostname),
        put: |r, t| -> Put {
            r.hostname = unguard(t).to_string();
            Ok(())
        },
    },
    Codec {
        field: Field::Sent,
        name: "sent",
        count_only: true,
        get: |r| opt(r.count.sent, Value::Int),
        put: |r, t| -> Put {
            r.count.sent = opt_whole("sent", t)?;
            Ok(())
        },
    },
    Codec {
        field: Field::Received,
        name: "received",
        count_only: true,
        get: |r| opt(r.count.received, Value::Int),
        put: |r, t| -> Put {
            r.count.received = opt_whole("received", t)?;
            Ok(())
        },
    },
    Codec {
        field: Field::LossPct,
        name: "loss_pct",
        count_only: true,
        get: |r| opt(r.count.loss_permille, Value::Permille),
        put: |r, t| -> Put {
            r.count.loss_permille = parse_opt(
                t,
                |t| parse_decimal(t, 1),
                || format!("invalid loss_pct '{t}' (want a percentage like 25.0)"),
            )?;
            Ok(())
        },
    },
    Codec {
        field: Field::RttMinMs,
        name: "rtt_min_ms",
        count_only: true,
        get: |r| opt(r.count.min_us, Value::Ms),
        put: |r, t| -> Put {
            r.count.min_us = opt_ms("rtt_min_ms", t)?;
            Ok(())
        },
    },
    Codec {
        field: Field::RttAvgMs,
        name: "rtt_avg_ms",
        count_only: true,
        get: |r| opt(r.count.avg_us, Value::Ms),
        put: |r, t| -> Put {
            r.count.avg_us = opt_ms("rtt_avg_ms", t)?;
            Ok(())
        },
    },
    Codec {
        field: Field::RttMaxMs,
        name: "rtt_max_ms",
        count_only: true,
        get: |r| opt(r.count.max_us, Value::Ms),
        put: |r, t| -> Put {
            r.count.max_us = opt_ms("rtt_max_ms", t)?;
            Ok(())
        },
    },
    Codec {
        field: Field::RttStddevMs,
        name: "rtt_stddev_ms",
        count_only: true,
        get: |r| opt(r.count.stddev_us, Value::Ms),
        put: |r, t| -> Put {
            r.count.stddev_us = opt_ms("rtt_stddev_ms", t)?;
            Ok(())
        },
    },
    Codec {
        field: Field::Rtts,
        name: "rtts",
        count_only: true,
        get: |r| r.count.rtts.as_deref().map_or(Value::Null, Value::Rtts),
        put: |r, t| -> Put {
            r.count.rtts = if t.is_empty() {
                None
            } else {
                Some(
                    t.split(' ')
                        .map(|v| match v {
                            "-" => Ok(None),
                            v => parse_ms(v).map(Some).ok_or_else(|| {
                                format!("invalid rtts item '{v}' (want milliseconds like 1.234, or '-')")
                            }),
                        })
                        .collect::<Result<_, String>>()?,
                )
            };
            Ok(())
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::row::Counted;

    #[test]
    fn codecs_are_in_field_order_with_unique_names() {
        for (i, f) in Field::ALL.into_iter().enumerate() {
            assert_eq!(CODECS[i].field, f);
            assert_eq!(Field::parse(f.name()), Some(f));
        }
        assert!(Field::COUNT.iter().all(|f| f.count_only()));
        assert!(Field::DEFAULT.iter().all(|f| !f.count_only()));
    }

    fn full_row() -> Row {
        let mut r = Row::new(IpAddr::from([198, 18, 0, 1]), Status::Up);
        r.rtt_us = Some(1234);
        r.ttl = Some(63);
        r.responder = Some(r.addr);
        r.probes = 4;
        r.dups = 1;
        r.detail = "=odd".into();
        r.macs = vec![
            "00:1b:21:00:00:01".parse().unwrap(),
            "02:42:ac:11:00:02".parse().unwrap(),
        ];
        r.vendors = vec!["Intel Corporate".into(), String::new()];
        r.seen_at = "1970-01-01T00:00:01.500Z".into();
        r.hostname = "gw.lab".into();
        r.count = Counted {
            sent: Some(4),
            received: Some(3),
            loss_permille: Some(250),
            min_us: Some(1000),
            avg_us: Some(2333),
            max_us: Some(4000),
            stddev_us: Some(1247),
            rtts: Some(vec![Some(1000), Some(2000), None, Some(4000)]),
            sum_us: 0,
        };
        r
    }

    #[test]
    fn every_column_round_trips_through_csv() {
        let row = full_row();
        for raw in [false, true] {
            let mut back = Row::new(IpAddr::from([0, 0, 0, 0]), Status::Down);
            for f in Field::ALL {
                f.put(&mut back, &f.csv(&row, raw)).unwrap();
            }
            assert_eq!(back, row, "raw={raw}");
        }
        assert_eq!(Field::Detail.csv(&row, false), "'=odd");
        assert_eq!(
            Field::Mac.csv(&row, false),
            "00:1b:21:00:00:01;02:42:ac:11:00:02"
        );
        assert_eq!(Field::Vendor.csv(&row, false), "Intel Corporate;");
        assert_eq!(
            Field::Mac.get(&row).json(),
            serde_json::json!(["00:1b:21:00:00:01", "02:42:ac:11:00:02"])
        );
        assert_eq!(Field::Rtts.csv(&row, false), "1.000 2.000 - 4.000");
        assert_eq!(Field::LossPct.csv(&row, false), "25.0");
    }

    #[test]
    fn one_mac_is_a_string_and_none_is_empty() {
        let mut row = full_row();
        row.macs.truncate(1);
        row.vendors.truncate(1);
        assert_eq!(Field::Mac.get(&row).json(), "00:1b:21:00:00:01");
        assert_eq!(Field::Vendor.get(&row).json(), "Intel Corporate");
        row.vendors = vec![String::new()];
        assert!(Field::Vendor.get(&row).json().is_null());
        assert_eq!(Field::Vendor.csv(&row, false), "");
    }

    #[test]
    fn bad_tokens_are_named() {
        let mut row = full_row();
        for (f, bad) in [
            (Field::Addr, "10.0.0"),
            (Field::Status, "Up"),
            (Field::RttMs, "1.2345"),
            (Field::Ttl, "256"),
            (Field::Probes, "-1"),
            (Field::Mac, "00:1b:21:00:00:01;zz"),
            (Field::LossPct, "1.25"),
            (Field::Rtts, "1.000 x"),
        ] {
            let e = f.put(&mut row, bad).unwrap_err();
            let token = if f == Field::Mac {
                "zz"
            } else {
                bad.rsplit(' ').next().unwrap()
            };
            assert!(e.contains(&format!("'{token}'")), "{e}");
        }
    }

    #[test]
    fn decimals_round_trip() {
        for us in [0, 1, 999, 1000, 1234, 60_000_000] {
            assert_eq!(parse_ms(&ms_text(us)), Some(us));
        }
        for (text, us) in [("0.000", 0), ("1.234", 1234), ("12", 12_000), ("3.5", 3500)] {
            assert_eq!(parse_ms(text), Some(us), "{text}");
        }
        assert_eq!(ms_text(5), "0.005");
        assert_eq!(parse_ms("1.2"), Some(1200));
        assert_eq!(parse_ms("7"), Some(7000));
        for bad in [
            "", ".5", "1.", "1.2.3", "1.2345", "-1", "+1", "1e3", " 1", "1,5",
        ] {
            assert_eq!(parse_ms(bad), None, "{bad:?}");
        }
        assert_eq!(parse_decimal("25.0", 1), Some(250));
        assert_eq!(parse_decimal("100", 1), Some(1000));
    }
}
