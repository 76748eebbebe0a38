//! Result sinks: CSV (RFC 4180: header row, CRLF line ends, quoting where needed), a JSON
//! array, or NDJSON; rows in ascending address order with the chosen fields. Rows are
//! formatted in parallel chunks (rayon) and written in order, a bounded number of chunks at
//! a time, so a /8 never holds all its text at once.

use crate::engine::count::CountTable;
use crate::engine::onlink::{Claim, OnLink};
use crate::engine::receiver::Heard;
use crate::engine::table::{Cell, Status, Table};
use crate::results::row::Status as RowStatus;
use crate::targets::Targets;
use crate::wire::ether::Mac;
use crate::wire::Detail;
use rayon::prelude::*;
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

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

impl Field {
    /// The contract's columns, in order: the first ten of `ALL`.
    pub const DEFAULT: &'static [Field] = Field::ALL.split_at(10).0;
    /// The columns count mode appends.
    pub const COUNT: &'static [Field] = Field::ALL.split_at(12).1.split_at(7).0;
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

    /// Fields that only count mode fills.
    pub fn count_only(self) -> bool {
        Field::ALL[12..].contains(&self)
    }

    pub fn name(self) -> &'static str {
        match self {
            Field::Addr => "addr",
            Field::Status => "status",
            Field::RttMs => "rtt_ms",
            Field::Ttl => "ttl",
            Field::Responder => "responder",
            Field::Probes => "probes",
            Field::Dups => "dups",
            Field::Detail => "detail",
            Field::Mac => "mac",
            Field::Vendor => "vendor",
            Field::SeenAt => "seen_at",
            Field::Hostname => "hostname",
            Field::Sent => "sent",
            Field::Received => "received",
            Field::LossPct => "loss_pct",
            Field::RttMinMs => "rtt_min_ms",
            Field::RttAvgMs => "rtt_avg_ms",
            Field::RttMaxMs => "rtt_max_ms",
            Field::RttStddevMs => "rtt_stddev_ms",
            Field::Rtts => "rtts",
        }
    }

    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Ndjson,
    /// Prometheus text exposition (see `prom`).
    Prometheus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub format: Format,
    pub fields: Vec<Field>,
    /// A row for every target in scope, not only those up.
    pub all: bool,
    /// CSV fields exactly as they are, without the spreadsheet-formula guard (`--csv-raw`).
    pub csv_raw: bool,
}

/// Everything a row is made from.
pub struct Results<'a> {
    pub targets: &'a Targets,
    pub table: &'a Table,
    pub heard: &'a Heard,
    pub started: SystemTime,
    pub hostnames: &'a HashMap<u32, String>,
    /// Sharded, interrupted or resumed: targets this run never probed get no row.
    pub partial: bool,
    /// The layer-2 path's resolutions (MACs), when it ran.
    pub onlink: Option<&'a OnLink>,
    /// MACs learned by the run this one resumes.
    pub macs: &'a HashMap<u32, Mac>,
    /// Count mode's statistics.
    pub count: Option<&'a CountTable>,
}

/// A target's row facts beyond its table cell.
struct Seen {
    i: u32,
    addr: IpAddr,
    /// The MAC it answered ARP / neighbour discovery from.
    mac: Option<Mac>,
    /// A proxy answered ARP for it: only echo says whether it is there.
    proxied: bool,
    /// Further MACs that answered for it: an address conflict.
    others: Vec<Mac>,
}

impl Seen {
    /// Present on the segment (it answered ARP / NDP) but silent to echo: up, as nmap
    /// reports it.
    fn neighbour_only(&self, c: &Cell) -> bool {
        c.status == Status::Down && self.mac.is_some()
    }
}

/// The IEEE registry's name for the MAC's OUI; empty for locally administered or
/// unregistered prefixes.
pub fn vendor(mac: Mac) -> Option<&'static str> {
    if !mac.is_universal_unicast() {
        return None;
    }
    let hex: String = mac.0.iter().map(|b| format!("{b:02X}")).collect();
    oui_data::lookup(&hex).map(|r| r.organization())
}

enum Value {
    Str(String),
    Int(u64),
    /// Milliseconds with three decimals.
    Ms(u32),
    /// A number with one decimal, in tenths.
    Tenths(u64),
    /// Every probe's RTT (count mode), `None` for no reply.
    List(Vec<Option<u32>>),
    /// Several texts (the MACs of a conflict): `;`-separated in CSV, a JSON array.
    Strs(Vec<String>),
    Null,
}

fn value(f: Field, s: &Seen, c: &Cell, r: &Results) -> Value {
    let (i, addr) = (s.i, s.addr);
    let up = c.status == Status::Up;
    let present = s.neighbour_only(c);
    match f {
        Field::Addr => Value::Str(addr.to_string()),
        // `wanted` writes no row for a `Prior` cell, the one without a row status.
        Field::Status => RowStatus::of_cell(c.status, present)
            .map_or(Value::Null, |s| Value::Str(s.as_str().into())),
        Field::Responder if present => Value::Str(addr.to_string()),
        Field::Detail if present && s.others.is_empty() => Value::Str(
            if addr.is_ipv4() {
                "arp-only"
            } else {
                "ndp-only"
            }
            .into(),
        ),
        Field::Detail if s.proxied && c.status == Status::Down => Value::Str("proxy-arp".into()),
        // A conflict lists every MAC (and vendor) that answered, the first first.
        Field::Detail if !s.others.is_empty() && (up || present) => Value::Str("conflict".into()),
        Field::Mac | Field::Vendor if !s.others.is_empty() => Value::Strs(
            s.mac
                .iter()
                .chain(&s.others)
                .map(|&m| match f {
                    Field::Mac => m.to_string(),
                    _ => vendor(m).unwrap_or_default().to_string(),
                })
                .collect(),
        ),
        Field::Mac => s.mac.map_or(Value::Null, |m| Value::Str(m.to_string())),
        Field::Vendor => s
            .mac
            .and_then(vendor)
            .map_or(Value::Null, |v| Value::Str(v.into())),
        Field::RttMs if up => Value::Ms(c.rtt_us),
        Field::Ttl if up => Value::Int(u64::from(c.ttl)),
        Field::Responder => match (c.status, r.heard.responders.get(&i)) {
            (Status::Up, _) => Value::Str(addr.to_string()),
            (Status::Unreachable, Some(a)) => Value::Str(a.to_string()),
            _ => Value::Null,
        },
        Field::Probes => match r.count {
            Some(ct) => Value::Int(u64::from(ct.stats(i).sent)),
            None => Value::Int(u64::from(c.probes)),
        },
        f if f.count_only() => r.count.map_or(Value::Null, |ct| count_value(f, ct, i)),
        Field::Dups => Value::Int(u64::from(c.dups)),
        Field::Detail if c.status == Status::Unreachable || c.detail == Detail::BAD_DATA => {
            Value::Str(c.detail.as_str().into())
        }
        Field::SeenAt => match r.table.seen_ms(i) {
            Some(ms) => {
                let t = r.started + Duration::from_millis(u64::from(ms));
                Value::Str(humantime::format_rfc3339_millis(t).to_string())
            }
            None => Value::Null,
        },
        Field::Hostname => r
            .hostnames
            .get(&i)
            .map_or(Value::Null, |h| Value::Str(h.clone())),
        _ => Value::Null,
    }
}

fn count_value(f: Field, ct: &CountTable, i: u32) -> Value {
    let s = ct.stats(i);
    let ms = |v: Option<u32>| v.map_or(Value::Null, Value::Ms);
    match f {
        Field::Sent => Value::Int(u64::from(s.sent)),
        Field::Received => Value::Int(u64::from(s.received)),
        Field::LossPct => s.loss_permille().map_or(Value::Null, Value::Tenths),
        Field::RttMinMs => ms(s.min_us),
        Field::RttAvgMs => ms(s.avg_us),
        Field::RttMaxMs => ms(s.max_us),
        Field::RttStddevMs => ms(s.stddev_us),
        Field::Rtts => ct.rtts(i).map_or(Value::Null, Value::List),
        _ => Value::Null,
    }
}

fn ms_text(us: u32) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}

fn ms_json(us: u32) -> serde_json::Value {
    serde_json::Number::from_f64(f64::from(us) / 1000.0)
        .map_or(serde_json::Value::Null, serde_json::Value::Number)
}

fn csv_text(v: Value, raw: bool) -> String {
    match v {
        Value::Str(s) if raw => s,
        Value::Str(s) => guard(s),
        Value::Int(n) => n.to_string(),
        Value::Ms(us) => ms_text(us),
        Value::Tenths(t) => format!("{}.{}", t / 10, t % 10),
        // As fping -C prints them: space-separated, '-' for a probe without reply.
        Value::List(v) => v
            .iter()
            .map(|r| r.map_or_else(|| "-".to_string(), ms_text))
            .collect::<Vec<_>>()
            .join(" "),
        Value::Strs(v) if raw => v.join(";"),
        Value::Strs(v) => guard(v.join(";")),
        Value::Null => String::new(),
    }
}

fn json_value(v: Value) -> serde_json::Value {
    match v {
        Value::Str(s) => s.into(),
        Value::Int(n) => n.into(),
        Value::Ms(us) => ms_json(us),
        Value::Tenths(t) => serde_json::Number::from_f64(t as f64 / 10.0)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::List(v) => v
            .into_iter()
            .map(|r| r.map_or(serde_json::Value::Null, ms_json))
            .collect(),
        Value::Strs(v) => v.into(),
        Value::Null => serde_json::Value::Null,
    }
}

/// sweep's CSV dialect: RFC 4180 with CRLF line ends.
pub fn csv_writer<W: Write>(w: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(w)
}

/// First characters that make a spreadsheet read a cell as a formula (OWASP's list).
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// True when `s` would start a formula, or is an already guarded one (leading `'`s before
/// a formula start), so that guarding stays reversible: `'=x` is written `''=x`.
fn needs_guard(s: &str) -> bool {
    s.trim_start_matches('\'').starts_with(FORMULA_START)
}

/// `s` with a leading `'` when a spreadsheet would otherwise evaluate it. Numbers sweep
/// writes are never negative, so only text (hostnames, details, foreign columns) changes.
pub fn guard(mut s: String) -> String {
    if needs_guard(&s) {
        s.insert(0, '\'');
    }
    s
}

/// The value `guard` was given: drops the `'` that `guard` added, and only that one.
pub fn unguard(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if needs_guard(s) => rest,
        _ => s,
    }
}

/// A CSV writer in sweep's dialect whose text fields are guarded unless `raw`.
pub struct CsvOut<W: Write> {
    w: csv::Writer<W>,
    raw: bool,
}

impl<W: Write> CsvOut<W> {
    pub fn new(w: W, raw: bool) -> CsvOut<W> {
        CsvOut {
            w: csv_writer(w),
            raw,
        }
    }

    pub fn record<I, S>(&mut self, fields: I) -> csv::Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for f in fields {
            let f = f.as_ref();
            if !self.raw && needs_guard(f) {
                self.w.write_field(format!("'{f}"))?;
            } else {
                self.w.write_field(f)?;
            }
        }
        self.w.write_record(None::<&[u8]>)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }

    pub fn into_inner(self) -> io::Result<W> {
        self.w.into_inner().map_err(|e| e.into_error())
    }
}

const CHUNK: u64 = 1 << 16;

/// Formats the rows of targets `range` (in address order) for `layout`.
/// Target `i`'s row facts, if `layout` wants a row for it.
fn wanted(i: u32, layout: &Layout, r: &Results) -> Option<(Seen, Cell)> {
    let c = r.table.get(i);
    let claim = r.onlink.map_or(Claim::None, |o| o.claim(u64::from(i)));
    let seen = Seen {
        i,
        addr: r.targets.addr_at(u64::from(i)),
        mac: match claim {
            Claim::Host(m) => Some(m),
            Claim::Proxied(_) => None,
            Claim::None => r.macs.get(&i).copied(),
        },
        proxied: matches!(claim, Claim::Proxied(_)),
        others: match claim {
            Claim::Host(_) => r
                .onlink
                .map_or_else(Vec::new, |o| o.other_macs(u64::from(i))),
            _ => Vec::new(),
        },
    };
    let wanted = c.status == Status::Up
        || seen.neighbour_only(&c)
        || (layout.all && c.status != Status::Prior && (c.in_scope() || !r.partial));
    wanted.then_some((seen, c))
}

/// A host as the metrics see it.
pub struct Host {
    pub i: u32,
    pub addr: IpAddr,
    /// Answered echo (or, on link, ARP / neighbour discovery).
    pub up: bool,
    /// The first reply's RTT.
    pub rtt_us: Option<u32>,
}

/// The hosts `layout` writes a row for, in address order.
pub fn hosts<'a>(layout: &'a Layout, r: &'a Results) -> impl Iterator<Item = Host> + 'a {
    (0..r.targets.len()).filter_map(move |i| {
        let (seen, c) = wanted(i as u32, layout, r)?;
        let echo = c.status == Status::Up;
        Some(Host {
            i: seen.i,
            addr: seen.addr,
            up: echo || seen.neighbour_only(&c),
            rtt_us: echo.then_some(c.rtt_us),
        })
    })
}

fn chunk(range: std::ops::Range<u64>, layout: &Layout, r: &Results) -> io::Result<Vec<u8>> {
    let rows = range.filter_map(|i| {
        let (seen, c) = wanted(i as u32, layout, r)?;
        Some(
            layout
                .fields
                .iter()
                .map(move |&f| (f, value(f, &seen, &c, r))),
        )
    });
    match layout.format {
        Format::Prometheus => Ok(Vec::new()),
        Format::Csv => {
            let mut w = csv_writer(Vec::new());
            for row in rows {
                w.write_record(row.map(|(_, v)| csv_text(v, layout.csv_raw)))?;
            }
            w.into_inner().map_err(|e| e.into_error())
        }
        Format::Json | Format::Ndjson => {
            let sep: &[u8] = if layout.format == Format::Json {
                b",\n"
            } else {
                b"\n"
            };
            let mut out = Vec::new();
            for row in rows {
                let obj: serde_json::Map<String, serde_json::Value> = row
                    .map(|(f, v)| (f.name().to_string(), json_value(v)))
                    .collect();
                if !out.is_empty() && layout.format == Format::Json {
                    out.extend_from_slice(sep);
                }
                serde_json::to_writer(&mut out, &obj)?;
                if layout.format == Format::Ndjson {
                    out.extend_from_slice(sep);
                }
            }
            Ok(out)
        }
    }
}

/// Writes every wanted row, with the header (CSV) or brackets (JSON) around them.
/// (Prometheus text is `prom`'s; `results::write` picks the writer.)
pub fn write<W: Write + ?Sized>(out: &mut W, layout: &Layout, r: &Results) -> io::Result<()> {
    match layout.format {
        Format::Prometheus => {
            return Err(io::Error::other(
                "Prometheus text is written by results::prom",
            ))
        }
        Format::Csv => {
            let mut head = csv_writer(Vec::new());
            head.write_record(layout.fields.iter().map(|f| f.name()))?;
            out.write_all(&head.into_inner().map_err(|e| e.into_error())?)?;
        }
        Format::Json => out.write_all(b"[\n")?,
        Format::Ndjson => {}
    }
    let n = r.targets.len();
    let chunks = n.div_ceil(CHUNK);
    // Chunks formatted per parallel step, one per core: a few MB of text in flight.
    let step = std::thread::available_parallelism().map_or(1, |c| c.get()) as u64;
    let mut wrote_any = false;
    let mut first = 0;
    while first < chunks {
        let last = (first + step).min(chunks);
        let texts: Vec<io::Result<Vec<u8>>> = (first..last)
            .into_par_iter()
            .map(|c| chunk(c * CHUNK..((c + 1) * CHUNK).min(n), layout, r))
            .collect();
        for t in texts {
            let t = t?;
            if t.is_empty() {
                continue;
            }
            if wrote_any && layout.format == Format::Json {
                out.write_all(b",\n")?;
            }
            out.write_all(&t)?;
            wrote_any = true;
        }
        first = last;
    }
    if layout.format == Format::Json {
        out.write_all(if wrote_any { b"\n]\n" } else { b"]\n" })?;
    }
    out.flush()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::wire::Detail;
    use std::net::Ipv4Addr;

    /// A scan's results with nothing but targets, table, ICMP error senders and names:
    /// the tests' base, changed with struct update syntax where a test needs more.
    pub(crate) fn bare<'a>(
        targets: &'a Targets,
        table: &'a Table,
        heard: &'a Heard,
        hostnames: &'a HashMap<u32, String>,
    ) -> Results<'a> {
        static NO_MACS: std::sync::LazyLock<HashMap<u32, Mac>> =
            std::sync::LazyLock::new(HashMap::new);
        Results {
            targets,
            table,
            heard,
            started: SystemTime::UNIX_EPOCH,
            hostnames,
            partial: false,
            onlink: None,
            macs: &NO_MACS,
            count: None,
        }
    }

    fn fixture() -> (Targets, Table, Heard) {
        let targets = Targets::from_v4(vec![(0xC612_0001, 0xC612_0004)], vec![]);
        let table = Table::new(4, false);
        for i in 0..4 {
            table.add_probe(i);
        }
        table.add_probe(2);
        table.record_reply(0, 1234, 63, 0);
        table.record_reply(0, 1, 1, 0);
        table.record_error(1, Detail::of(3, 1));
        let mut heard = Heard::default();
        heard.responders.insert(1, IpAddr::from([192, 0, 2, 2]));
        (targets, table, heard)
    }

    fn render(layout: &Layout, t: &Targets, table: &Table, heard: &Heard) -> String {
        let names = HashMap::from([(0, "gw.lab".to_string())]);
        let r = bare(t, table, heard, &names);
        let mut out = Vec::new();
        write(&mut out, layout, &r).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn layout(format: Format, fields: &[Field], all: bool) -> Layout {
        Layout {
            format,
            fields: fields.to_vec(),
            all,
            csv_raw: false,
        }
    }

    #[test]
    fn a_conflict_is_up_with_every_mac_in_csv_and_a_list_in_json() {
        use crate::net::route::{Plan, Segment};
        let (t, table, heard) = fixture();
        let plan = Plan {
            segments: vec![Segment {
                first: 0,
                len: 4,
                link: 2,
                src: "198.18.255.254".parse().unwrap(),
                via: None,
            }],
        };
        let onlink = OnLink::new(plan, Vec::new(), 64);
        let (pi, other): (Mac, Mac) = (
            "b8:27:eb:01:02:03".parse().unwrap(),
            "02:42:ac:11:00:02".parse().unwrap(),
        );
        // .1 answered echo, .3 only ARP: both claimed by two MACs.
        for slot in [0, 2] {
            assert!(onlink.neighbours.resolve(slot, pi));
            onlink.neighbours.again(slot, other);
        }
        let names = HashMap::new();
        let r = Results {
            onlink: Some(&onlink),
            ..bare(&t, &table, &heard, &names)
        };
        let fields = [
            Field::Addr,
            Field::Status,
            Field::Detail,
            Field::Mac,
            Field::Vendor,
        ];
        let mut out = Vec::new();
        write(&mut out, &layout(Format::Csv, &fields, false), &r).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "addr,status,detail,mac,vendor\r\n\
             198.18.0.1,up,conflict,b8:27:eb:01:02:03;02:42:ac:11:00:02,Raspberry Pi Foundation;\r\n\
             198.18.0.3,up,conflict,b8:27:eb:01:02:03;02:42:ac:11:00:02,Raspberry Pi Foundation;\r\n"
        );
        let mut out = Vec::new();
        write(&mut out, &layout(Format::Ndjson, &fields, false), &r).unwrap();
        let first: serde_json::Value =
            serde_json::from_str(String::from_utf8(out).unwrap().lines().next().unwrap()).unwrap();
        assert_eq!(
            first["mac"],
            serde_json::json!(["b8:27:eb:01:02:03", "02:42:ac:11:00:02"])
        );
        assert_eq!(first["detail"], "conflict");
    }

    #[test]
    fn a_proxys_claims_are_down_proxy_arp_or_up_without_its_mac() {
        use crate::net::route::{Plan, Segment};
        let n = 12;
        let t = Targets::from_v4(vec![(0xC612_0101, 0xC612_0100 + n)], vec![]);
        let table = Table::new(n as usize, false);
        for i in 0..n {
            table.add_probe(i);
        }
        // .1 is the router itself (TTL 64), .2 a host behind it (TTL 63); the rest silent.
        table.record_reply(0, 1000, 64, 0);
        table.record_reply(1, 2000, 63, 0);
        let plan = Plan {
            segments: vec![Segment {
                first: 0,
                len: u64::from(n),
                link: 2,
                src: "198.18.255.1".parse().unwrap(),
                via: None,
            }],
        };
        let onlink = OnLink::new(plan, Vec::new(), 64);
        let router: Mac = "00:00:0c:01:02:03".parse().unwrap();
        for s in 0..u64::from(n) {
            assert!(onlink.neighbours.resolve(s, router));
        }
        onlink.judge_proxies(&table);
        let (heard, names) = (Heard::default(), HashMap::new());
        let r = Results {
            onlink: Some(&onlink),
            ..bare(&t, &table, &heard, &names)
        };
        let mut out = Vec::new();
        let fields = [
            Field::Addr,
            Field::Status,
            Field::Ttl,
            Field::Detail,
            Field::Mac,
        ];
        write(&mut out, &layout(Format::Csv, &fields, true), &r).unwrap();
        let text = String::from_utf8(out).unwrap();
        let rows: Vec<&str> = text.lines().take(4).collect();
        assert_eq!(
            rows,
            [
                "addr,status,ttl,detail,mac",
                "198.18.1.1,up,64,,00:00:0c:01:02:03",
                "198.18.1.2,up,63,,",
                "198.18.1.3,down,,proxy-arp,",
            ]
        );
        assert_eq!(text.matches("proxy-arp").count(), n as usize - 2);
        // Without --all, only the two that answered echo.
        let mut out = Vec::new();
        write(&mut out, &layout(Format::Csv, &fields, false), &r).unwrap();
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 3);
    }

    #[test]
    fn on_link_hosts_carry_mac_vendor_and_arp_only() {
        use crate::net::route::{Plan, Segment};
        let (t, table, heard) = fixture();
        let plan = Plan {
            segments: vec![Segment {
                first: 0,
                len: 4,
                link: 2,
                src: "198.18.255.254".parse().unwrap(),
                via: None,
            }],
        };
        let onlink = OnLink::new(plan, Vec::new(), 64);
        // .1 answered echo from a Raspberry Pi; .3 answered only ARP, from a locally
        // administered MAC (no vendor); .4 never resolved.
        assert!(onlink
            .neighbours
            .resolve(0, "b8:27:eb:01:02:03".parse().unwrap()));
        assert!(onlink
            .neighbours
            .resolve(2, "02:42:ac:11:00:02".parse().unwrap()));
        let names = HashMap::new();
        let r = Results {
            onlink: Some(&onlink),
            ..bare(&t, &table, &heard, &names)
        };
        let mut out = Vec::new();
        write(&mut out, &layout(Format::Csv, Field::DEFAULT, false), &r).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "addr,status,rtt_ms,ttl,responder,probes,dups,detail,mac,vendor\r\n\
             198.18.0.1,up,1.234,63,198.18.0.1,1,1,,b8:27:eb:01:02:03,Raspberry Pi Foundation\r\n\
             198.18.0.3,up,,,198.18.0.3,2,0,arp-only,02:42:ac:11:00:02,\r\n"
        );
        assert_eq!(
            vendor("00:1b:21:00:00:01".parse().unwrap()),
            Some("Intel Corporate")
        );
        assert_eq!(
            vendor("01:1b:21:00:00:01".parse().unwrap()),
            None,
            "multicast"
        );
    }

    #[test]
    fn csv_rows_follow_the_schema() {
        let (t, table, heard) = fixture();
        assert_eq!(
            render(
                &layout(Format::Csv, Field::DEFAULT, true),
                &t,
                &table,
                &heard
            ),
            "addr,status,rtt_ms,ttl,responder,probes,dups,detail,mac,vendor\r\n\
             198.18.0.1,up,1.234,63,198.18.0.1,1,1,,,\r\n\
             198.18.0.2,unreachable,,,192.0.2.2,1,0,host-unreachable,,\r\n\
             198.18.0.3,down,,,,2,0,,,\r\n\
             198.18.0.4,down,,,,1,0,,,\r\n"
        );
        let up = render(
            &layout(Format::Csv, Field::DEFAULT, false),
            &t,
            &table,
            &heard,
        );
        assert_eq!(up.lines().count(), 2);
    }

    #[test]
    fn json_and_ndjson_are_typed() {
        let (t, table, heard) = fixture();
        let fields = [Field::Addr, Field::RttMs, Field::Ttl, Field::Hostname];
        let json = render(&layout(Format::Json, &fields, true), &t, &table, &heard);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 4);
        assert_eq!(v[0]["rtt_ms"], 1.234);
        assert_eq!(v[0]["ttl"], 63);
        assert_eq!(v[0]["hostname"], "gw.lab");
        assert!(v[1]["rtt_ms"].is_null());
        let nd = render(&layout(Format::Ndjson, &fields, false), &t, &table, &heard);
        assert_eq!(
            nd,
            "{\"addr\":\"198.18.0.1\",\"rtt_ms\":1.234,\"ttl\":63,\"hostname\":\"gw.lab\"}\n"
        );
        assert_eq!(
            render(
                &layout(Format::Json, &fields, false),
                &Targets::from_v4(vec![(5, 5)], vec![]),
                &Table::new(1, false),
                &heard
            ),
            "[\n]\n"
        );
    }

    #[test]
    fn chosen_fields_and_timestamps() {
        let (t, _, heard) = fixture();
        let table = Table::new(4, true);
        table.record_reply(2, 10, 64, 0);
        table.set_seen_ms(2, 1500);
        let csv = render(
            &layout(Format::Csv, &[Field::Status, Field::SeenAt], false),
            &t,
            &table,
            &heard,
        );
        assert_eq!(csv, "status,seen_at\r\nup,1970-01-01T00:00:01.500Z\r\n");
    }

    /// Every field of a CSV, read back with a real CSV reader.
    fn cells(text: &str) -> Vec<Vec<String>> {
        csv::Reader::from_reader(text.as_bytes())
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn formula_starts_are_guarded_unless_raw() {
        let (t, table, heard) = fixture();
        let evil = [
            "=HYPERLINK(\"http://x.test\",\"y\")",
            "+1",
            "-2+3",
            "@SUM(1+1)",
            "\tx",
            "\rx",
            "'=already",
            "plain.lab",
        ];
        let fields = [Field::Addr, Field::Ttl, Field::Hostname];
        for (k, name) in evil.iter().enumerate() {
            let names = HashMap::from([(0, name.to_string())]);
            let r = bare(&t, &table, &heard, &names);
            for raw in [false, true] {
                let mut lay = layout(Format::Csv, &fields, false);
                lay.csv_raw = raw;
                let mut out = Vec::new();
                write(&mut out, &lay, &r).unwrap();
                let text = String::from_utf8(out).unwrap();
                let got = &cells(&text)[0];
                assert_eq!(got[1], "63", "numbers are never guarded");
                let want = if raw || k == evil.len() - 1 {
                    name.to_string()
                } else {
                    format!("'{name}")
                };
                assert_eq!(got[2], want, "{name:?} raw={raw}");
                assert_eq!(unguard(&got[2]), if raw { unguard(name) } else { *name });
            }
            let mut json = Vec::new();
            write(&mut json, &layout(Format::Ndjson, &fields, false), &r).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
            assert_eq!(v["hostname"], *name, "JSON is unchanged");
        }
    }

    #[test]
    fn guard_is_reversible() {
        for s in [
            "", "'", "''", "=", "'=", "''=x", "a=b", "-", "x", "'a", "\t",
        ] {
            assert_eq!(unguard(&guard(s.to_string())), s, "{s:?}");
        }
        assert_eq!(guard("'=x".into()), "''=x");
        assert_eq!(guard("'a".into()), "'a");
    }

    #[test]
    fn chunks_keep_address_order() {
        let n = 3 * CHUNK + 5;
        let targets = Targets::from_v4(vec![(1, n as u32)], vec![]);
        let table = Table::new(n as usize, false);
        (0..n as u32).for_each(|i| table.add_probe(i));
        let text = render(
            &layout(Format::Csv, Field::DEFAULT, true),
            &targets,
            &table,
            &Heard::default(),
        );
        let addrs: Vec<u32> = text
            .lines()
            .skip(1)
            .map(|l| u32::from(l.split(',').next().unwrap().parse::<Ipv4Addr>().unwrap()))
            .collect();
        assert_eq!(addrs.len() as u64, n);
        assert!(addrs.windows(2).all(|w| w[0] < w[1]));
    }

    /// Targets .1 (answered 3 of 4 probes: 1, 2, 4 ms) and .2 (none of 4).
    pub(crate) fn count_fixture() -> (Targets, Table, CountTable) {
        use crate::engine::count::CountOptions;
        let targets = Targets::from_v4(vec![(0xC612_0001, 0xC612_0002)], vec![]);
        let table = Table::new(2, false);
        let o = CountOptions {
            count: 4,
            period: Duration::from_secs(1),
            keep_rtts: true,
        };
        let ct = CountTable::new(crate::engine::Slots::whole(2), &o);
        for r in 0..4u8 {
            for i in 0..2 {
                ct.begin(i);
            }
            if r != 2 {
                ct.record(0, r, 1000 * (u32::from(r) + 1), 1_000_000);
            }
        }
        table.add_probe(0);
        table.add_probe(1);
        table.record_reply(0, 1000, 64, 0);
        (targets, table, ct)
    }

    #[test]
    fn count_mode_columns_and_rtts() {
        let (t, table, ct) = count_fixture();
        let heard = Heard::default();
        let names = HashMap::new();
        let r = Results {
            count: Some(&ct),
            ..bare(&t, &table, &heard, &names)
        };
        let mut fields = vec![Field::Addr, Field::Status, Field::RttMs, Field::Probes];
        fields.extend_from_slice(Field::COUNT);
        fields.push(Field::Rtts);
        let mut out = Vec::new();
        write(&mut out, &layout(Format::Csv, &fields, true), &r).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "addr,status,rtt_ms,probes,sent,received,loss_pct,rtt_min_ms,rtt_avg_ms,rtt_max_ms,rtt_stddev_ms,rtts\r\n\
             198.18.0.1,up,1.000,4,4,3,25.0,1.000,2.333,4.000,1.247,1.000 2.000 - 4.000\r\n\
             198.18.0.2,down,,4,4,0,100.0,,,,,- - - -\r\n"
        );
        let mut out = Vec::new();
        write(&mut out, &layout(Format::Ndjson, &fields, true), &r).unwrap();
        let rows: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows[0]["loss_pct"], 25.0);
        assert_eq!(rows[0]["rtts"], serde_json::json!([1.0, 2.0, null, 4.0]));
        assert_eq!(rows[1]["rtt_avg_ms"], serde_json::Value::Null);
        assert_eq!(rows[1]["received"], 0);
    }
}
