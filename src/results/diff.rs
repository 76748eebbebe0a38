//! `sweep diff`: what changed between two sweep CSVs. Both files stream side by side in
//! address order (a merge join; IPv4 before IPv6, as `IpAddr` orders them and sweep writes
//! them), so memory stays constant however big they are. A file with any row other than
//! `up` was written with --all and lists every target it scanned: an address missing
//! from it was not scanned, and is not judged (counted, and named on stderr). A host
//! missing from a file of only `up` rows (written without --all) counts as down.

use crate::error::{Error, Result};
use crate::results::column::{parse_ms, Field};
use crate::results::dialect::CsvOut;
use crate::results::merge::Output;
use crate::results::reader::{write_error, Col, Reader, Row};
use crate::results::row::Status;
use std::cmp::Ordering;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

/// The diff's header: the address, the change, and old and new of each compared column.
pub fn header() -> Vec<String> {
    let mut h = vec![Field::Addr.name().to_string(), "change".to_string()];
    for f in COMPARED {
        h.push(format!("old_{}", f.name()));
        h.push(format!("new_{}", f.name()));
    }
    h
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Up in NEW, not up (or absent) in OLD.
    Appeared,
    /// Up in OLD, not up (or absent) in NEW.
    Disappeared,
    /// Neither up, but the status moved (down ↔ unreachable).
    StatusChanged,
    /// Up in both, RTT moved by at least the threshold.
    RttChanged,
    /// The same status, but another MAC answered for the address.
    MacChanged,
    /// Two or more MACs answer for the address now, and did not before.
    ConflictAppeared,
    /// One MAC answers for the address now, where two or more did.
    ConflictGone,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Appeared => "appeared",
            Change::Disappeared => "disappeared",
            Change::StatusChanged => "status-changed",
            Change::RttChanged => "rtt-changed",
            Change::MacChanged => "mac-changed",
            Change::ConflictAppeared => "conflict-appeared",
            Change::ConflictGone => "conflict-gone",
        }
    }
}

/// How one host changed, if it did. `None` rows are absent (down); `rtt_change_us` is the
/// `--rtt-change` threshold in microseconds.
pub fn classify(
    old: Option<&Row>,
    new: Option<&Row>,
    rtt_change_us: Option<u64>,
) -> Option<Change> {
    let status = |r: Option<&Row>| r.map_or(Status::Down, |r| r.status);
    let (o, n) = (status(old), status(new));
    let conflict = |r: Option<&Row>| r.is_some_and(|r| r.macs.len() > 1);
    match (conflict(old), conflict(new)) {
        (false, true) => return Some(Change::ConflictAppeared),
        (true, false) if n == Status::Up => return Some(Change::ConflictGone),
        _ => {}
    }
    let first = |r: Option<&Row>| r.and_then(|r| r.macs.first().copied());
    if let (Some(a), Some(b)) = (first(old), first(new)) {
        if o == n && a != b {
            return Some(Change::MacChanged);
        }
    }
    match (o == Status::Up, n == Status::Up) {
        (false, true) => Some(Change::Appeared),
        (true, false) => Some(Change::Disappeared),
        (false, false) => (o != n).then_some(Change::StatusChanged),
        (true, true) => {
            let limit = rtt_change_us?;
            let (a, b) = (old?.rtt_us?, new?.rtt_us?);
            (a.abs_diff(b) >= limit).then_some(Change::RttChanged)
        }
    }
}

/// `--rtt-change` value: milliseconds (`10`, `2.5`, optionally `10ms`) → microseconds, > 0.
pub fn parse_threshold(token: &str) -> Result<u64> {
    let bad = |reason: &str| Error::BadValue {
        flag: "--rtt-change",
        token: token.to_string(),
        reason: reason.to_string(),
    };
    let num = token.strip_suffix("ms").unwrap_or(token);
    let us = parse_ms(num)
        .ok_or_else(|| bad("want milliseconds, e.g. 10 or 2.5 (at most 3 decimals)"))?;
    if us == 0 {
        return Err(bad("must be more than 0"));
    }
    Ok(us)
}

/// Which inputs list every target they scanned (a row not `up` says --all wrote it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Covered {
    pub old: bool,
    pub new: bool,
}

/// Whether the file at `path` lists every target it scanned: it has a row that is not
/// `up`. Only a regular file can be read twice: stdin, a pipe (`<(sweep …)`) or a FIFO
/// is taken as a file of hosts up.
pub fn lists_every_target(path: &Path) -> Result<bool> {
    let regular = path != Path::new("-") && std::fs::metadata(path).is_ok_and(|m| m.is_file());
    if !regular {
        return Ok(false);
    }
    let mut r = Reader::open(path)?;
    while let Some(row) = r.next_row()? {
        if row.status != Status::Up {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Addresses one input scanned and the other, listing every target it scanned, did not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unjudged {
    pub count: u64,
    /// The first of them, for the message.
    pub first: Option<IpAddr>,
}

impl Unjudged {
    fn add(&mut self, addr: IpAddr) {
        self.count += 1;
        self.first.get_or_insert(addr);
    }
}

/// What a diff found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Diffed {
    pub appeared: u64,
    pub disappeared: u64,
    pub status_changed: u64,
    pub rtt_changed: u64,
    pub mac_changed: u64,
    /// Conflicts that appeared or went away.
    pub conflicts_changed: u64,
    /// Only in OLD, which NEW did not scan; only in NEW, which OLD did not scan.
    pub only_old: Unjudged,
    pub only_new: Unjudged,
}

impl Diffed {
    pub fn total(&self) -> u64 {
        self.appeared
            + self.disappeared
            + self.status_changed
            + self.rtt_changed
            + self.mac_changed
            + self.conflicts_changed
    }

    fn count(&mut self, c: Change) {
        match c {
            Change::Appeared => self.appeared += 1,
            Change::Disappeared => self.disappeared += 1,
            Change::StatusChanged => self.status_changed += 1,
            Change::RttChanged => self.rtt_changed += 1,
            Change::MacChanged => self.mac_changed += 1,
            Change::ConflictAppeared | Change::ConflictGone => self.conflicts_changed += 1,
        }
    }
}

/// Joins OLD and NEW by address and writes a row per changed host.
pub fn write_diff(
    old: &mut Reader,
    new: &mut Reader,
    covered: Covered,
    rtt_change_us: Option<u64>,
    out: &mut dyn Write,
    raw: bool,
) -> Result<Diffed> {
    // Every diff field is an address, a word or a number today; the guard keeps it so.
    let mut w = CsvOut::new(out, raw);
    let io = write_error;
    w.record(header()).map_err(io)?;
    let mut found = Diffed::default();
    let (mut a, mut b) = (old.next_row()?, new.next_row()?);
    loop {
        let order = match (&a, &b) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(x), Some(y)) => x.addr.cmp(&y.addr),
        };
        let (o, n) = match order {
            Ordering::Less => (a.take(), None),
            Ordering::Greater => (None, b.take()),
            Ordering::Equal => (a.take(), b.take()),
        };
        let addr = o.as_ref().or(n.as_ref()).map(|r| r.addr);
        // Absent from a file that lists every target it scanned: not scanned there.
        let unjudged = match (&o, &n, addr) {
            (Some(_), None, Some(a)) if covered.new => Some((&mut found.only_old, a)),
            (None, Some(_), Some(a)) if covered.old => Some((&mut found.only_new, a)),
            _ => None,
        };
        if let Some((side, a)) = unjudged {
            side.add(a);
        } else if let (Some(addr), Some(change)) =
            (addr, classify(o.as_ref(), n.as_ref(), rtt_change_us))
        {
            found.count(change);
            w.record(fields(addr, change, o.as_ref(), n.as_ref()))
                .map_err(io)?;
        }
        if a.is_none() {
            a = old.next_row()?;
        }
        if b.is_none() {
            b = new.next_row()?;
        }
    }
    w.flush().map_err(Error::Write)?;
    Ok(found)
}

/// The columns each side of a diff shows, as `old_NAME` and `new_NAME`.
const COMPARED: [Field; 4] = [Field::Status, Field::RttMs, Field::Ttl, Field::Mac];

fn fields(addr: IpAddr, change: Change, old: Option<&Row>, new: Option<&Row>) -> Vec<String> {
    // An absent row is a down host.
    let absent = Row::new(addr, Status::Down);
    let (old, new) = (old.unwrap_or(&absent), new.unwrap_or(&absent));
    let mut out = vec![
        Field::Addr.csv(new, true).into_owned(),
        change.as_str().to_string(),
    ];
    for f in COMPARED {
        out.push(f.csv(old, true).into_owned());
        out.push(f.csv(new, true).into_owned());
    }
    out
}

/// `sweep diff OLD NEW [--rtt-change MS] [-o OUT]`.
pub fn run(
    old: &Path,
    new: &Path,
    rtt_change_us: Option<u64>,
    output: Option<&Path>,
    raw: bool,
) -> Result<Diffed> {
    let covered = Covered {
        old: lists_every_target(old)?,
        new: lists_every_target(new)?,
    };
    let mut old = Reader::open(old)?;
    let mut new = Reader::open(new)?;
    if rtt_change_us.is_some() {
        for r in [&old, &new] {
            if !r.header().has(Col::Known(Field::RttMs)) {
                return Err(Error::CsvHeader {
                    path: r.path().to_path_buf(),
                    reason: "--rtt-change needs an 'rtt_ms' column and this file has none".into(),
                });
            }
        }
    }
    let found = Output::prepare(output)?
        .fill(|out| write_diff(&mut old, &mut new, covered, rtt_change_us, out, raw))?;
    for (side, only, other) in [
        ("OLD", found.only_old, "NEW"),
        ("NEW", found.only_new, "OLD"),
    ] {
        if let Some(first) = only.first {
            crate::error::warn(format_args!(
                "sweep: diff: {} only in {side} not judged ({first}{}): {other} lists every \
                 target it scanned (--all), and not {}",
                count_addresses(only.count),
                if only.count > 1 { ", …" } else { "" },
                if only.count > 1 { "these" } else { "this one" },
            ));
        }
    }
    Ok(found)
}

/// `1 address`, `2 addresses`.
fn count_addresses(n: u64) -> String {
    match n {
        1 => "1 address".into(),
        n => format!("{n} addresses"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::reader::tests::{reader, HEAD};
    use std::net::Ipv4Addr;

    fn host(status: Status, rtt_us: Option<u64>) -> Row {
        let mut r = Row::new(Ipv4Addr::new(10, 0, 0, 1), status);
        r.rtt_us = rtt_us;
        r
    }

    #[test]
    fn classification() {
        use Status::*;
        let up = host(Up, Some(1000));
        let slow = host(Up, Some(6000));
        let down = host(Down, None);
        let unr = host(Unreachable, None);
        let c = |o: Option<&Row>, n: Option<&Row>| classify(o, n, Some(5000));
        assert_eq!(c(None, Some(&up)), Some(Change::Appeared));
        assert_eq!(c(Some(&down), Some(&up)), Some(Change::Appeared));
        assert_eq!(c(Some(&unr), Some(&up)), Some(Change::Appeared));
        assert_eq!(c(Some(&up), None), Some(Change::Disappeared));
        assert_eq!(c(Some(&up), Some(&unr)), Some(Change::Disappeared));
        assert_eq!(c(Some(&down), Some(&unr)), Some(Change::StatusChanged));
        assert_eq!(c(Some(&unr), None), Some(Change::StatusChanged));
        assert_eq!(c(Some(&down), None), None);
        assert_eq!(c(None, Some(&down)), None);
        assert_eq!(c(Some(&up), Some(&up)), None);
        assert_eq!(c(Some(&up), Some(&slow)), Some(Change::RttChanged));
        assert_eq!(c(Some(&slow), Some(&up)), Some(Change::RttChanged));
        assert_eq!(classify(Some(&up), Some(&slow), None), None);
        assert_eq!(classify(Some(&up), Some(&slow), Some(5001)), None);
    }

    #[test]
    fn thresholds() {
        assert_eq!(parse_threshold("10").unwrap(), 10_000);
        assert_eq!(parse_threshold("2.5").unwrap(), 2_500);
        assert_eq!(parse_threshold("0.5ms").unwrap(), 500);
        for bad in ["0", "-1", "fast", "1e3", ""] {
            let e = parse_threshold(bad).unwrap_err();
            assert!(e.to_string().contains(&format!("'{bad}'")), "{e}");
        }
    }

    #[test]
    fn joins_by_address() {
        let mut old = reader(
            "old.csv",
            &format!(
                "{HEAD}\r\n10.0.0.1,up,1.000,64,10.0.0.1,1,0,\r\n\
                 10.0.0.2,up,1.000,64,10.0.0.2,1,0,\r\n\
                 10.0.0.3,down,,,,3,0,\r\n\
                 10.0.0.9,up,1.000,64,10.0.0.9,1,0,\r\n"
            ),
        );
        let mut new = reader(
            "new.csv",
            &format!(
                "{HEAD}\r\n10.0.0.2,up,9.000,60,10.0.0.2,1,0,\r\n\
                 10.0.0.3,unreachable,,,192.0.2.2,3,0,host-unreachable\r\n\
                 10.0.0.9,up,1.000,64,10.0.0.9,1,0,\r\n\
                 10.0.0.10,up,0.500,64,10.0.0.10,1,0,\r\n"
            ),
        );
        let mut out = Vec::new();
        let found = write_diff(
            &mut old,
            &mut new,
            Covered::default(),
            Some(5000),
            &mut out,
            false,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "addr,change,old_status,new_status,old_rtt_ms,new_rtt_ms,old_ttl,new_ttl,old_mac,new_mac\r\n\
             10.0.0.1,disappeared,up,down,1.000,,64,,,\r\n\
             10.0.0.2,rtt-changed,up,up,1.000,9.000,64,60,,\r\n\
             10.0.0.3,status-changed,down,unreachable,,,,,,\r\n\
             10.0.0.10,appeared,down,up,,0.500,,64,,\r\n"
        );
        assert_eq!(
            found,
            Diffed {
                appeared: 1,
                disappeared: 1,
                status_changed: 1,
                rtt_changed: 1,
                mac_changed: 0,
                conflicts_changed: 0,
                ..Diffed::default()
            }
        );
    }
    fn diff(old: &str, new: &str) -> (String, Diffed) {
        let mut old = reader("old.csv", &format!("{HEAD}\r\n{old}"));
        let mut new = reader("new.csv", &format!("{HEAD}\r\n{new}"));
        let mut out = Vec::new();
        let found = write_diff(
            &mut old,
            &mut new,
            Covered::default(),
            Some(5000),
            &mut out,
            false,
        )
        .unwrap();
        (String::from_utf8(out).unwrap(), found)
    }

    #[test]
    fn a_conflict_appearing_and_going_away_is_reported() {
        let head = "addr,status,rtt_ms,ttl,responder,probes,dups,detail,mac";
        let csv = |rows: &str| format!("{head}\r\n{rows}");
        let (a, b) = ("00:1b:21:00:00:01", "00:1b:21:00:00:02");
        let mut old = reader(
            "old.csv",
            &csv(&format!(
                "198.18.0.5,up,1.000,64,198.18.0.5,2,0,,{a}\r\n\
                 198.18.0.6,up,1.000,64,198.18.0.6,2,0,conflict,{a};{b}\r\n"
            )),
        );
        let mut new = reader(
            "new.csv",
            &csv(&format!(
                "198.18.0.5,up,1.000,64,198.18.0.5,2,0,conflict,{a};{b}\r\n\
                 198.18.0.6,up,1.000,64,198.18.0.6,2,0,,{b}\r\n"
            )),
        );
        let mut out = Vec::new();
        let found = write_diff(
            &mut old,
            &mut new,
            Covered::default(),
            None,
            &mut out,
            false,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let rows: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(
            rows,
            [
                format!("198.18.0.5,conflict-appeared,up,up,1.000,1.000,64,64,{a},{a};{b}"),
                format!("198.18.0.6,conflict-gone,up,up,1.000,1.000,64,64,{a};{b},{b}"),
            ]
        );
        assert_eq!((found.conflicts_changed, found.total()), (2, 2));
    }

    #[test]
    fn joins_across_families() {
        let (out, found) = diff(
            "10.0.0.1,up,1.000,64,10.0.0.1,1,0,\r\n\
             ::1,down,,,,3,0,\r\n\
             2001:db8::9,up,1.000,64,2001:db8::9,1,0,\r\n\
             2001:db8::a,up,1.000,64,2001:db8::a,1,0,\r\n\
             2001:db8::10,down,,,,3,0,\r\n",
            "10.0.0.1,up,1.000,64,10.0.0.1,1,0,\r\n\
             255.255.255.255,up,0.100,64,255.255.255.255,1,0,\r\n\
             ::1,unreachable,,,fe80::1,3,0,no-route\r\n\
             2001:db8::a,up,7.000,60,2001:db8::a,1,0,\r\n\
             2001:db8::10,up,0.750,63,2001:db8::10,1,0,\r\n\
             2001:db8:1::,up,0.500,64,2001:db8:1::,1,0,\r\n",
        );
        assert_eq!(
            out,
            "addr,change,old_status,new_status,old_rtt_ms,new_rtt_ms,old_ttl,new_ttl,old_mac,new_mac\r\n\
             255.255.255.255,appeared,down,up,,0.100,,64,,\r\n\
             ::1,status-changed,down,unreachable,,,,,,\r\n\
             2001:db8::9,disappeared,up,down,1.000,,64,,,\r\n\
             2001:db8::a,rtt-changed,up,up,1.000,7.000,64,60,,\r\n\
             2001:db8::10,appeared,down,up,,0.750,,63,,\r\n\
             2001:db8:1::,appeared,down,up,,0.500,,64,,\r\n"
        );
        assert_eq!(
            found,
            Diffed {
                appeared: 3,
                disappeared: 1,
                status_changed: 1,
                rtt_changed: 1,
                mac_changed: 0,
                conflicts_changed: 0,
                ..Diffed::default()
            }
        );
    }

    #[test]
    fn ipv4_only_against_ipv6_only() {
        // Every IPv4 host of OLD is compared (as absent) before any IPv6 host of NEW.
        let (out, found) = diff(
            "10.0.0.1,up,1.000,64,10.0.0.1,1,0,\r\n10.0.0.2,down,,,,3,0,\r\n",
            "::a00:1,up,1.000,64,::a00:1,1,0,\r\n2001:db8::1,up,2.000,64,2001:db8::1,1,0,\r\n",
        );
        let rows: Vec<&str> = out.lines().skip(1).collect();
        assert_eq!(
            rows,
            [
                "10.0.0.1,disappeared,up,down,1.000,,64,,,",
                "::a00:1,appeared,down,up,,1.000,,64,,",
                "2001:db8::1,appeared,down,up,,2.000,,64,,",
            ]
        );
        assert_eq!((found.appeared, found.disappeared), (2, 1));
    }

    #[test]
    fn only_addresses_both_inputs_scanned_are_judged() {
        // OLD scanned .1-.5 and NEW .3-.8, both with --all.
        let row = |a: u8, st: &str| match st {
            "up" => format!("10.0.0.{a},up,1.000,64,10.0.0.{a},1,0,\r\n"),
            _ => format!("10.0.0.{a},down,,,,2,0,\r\n"),
        };
        let file = |rows: &[(u8, &str)]| {
            let body: String = rows.iter().map(|&(a, st)| row(a, st)).collect();
            format!("{HEAD}\r\n{body}")
        };
        let old_text = file(&[(1, "up"), (2, "down"), (3, "up"), (4, "down"), (5, "up")]);
        let new_text = file(&[
            (3, "up"),
            (4, "up"),
            (5, "down"),
            (6, "up"),
            (7, "down"),
            (8, "up"),
        ]);
        let mut old = reader("old.csv", &old_text);
        let mut new = reader("new.csv", &new_text);
        let both = Covered {
            old: true,
            new: true,
        };
        let mut out = Vec::new();
        let found = write_diff(&mut old, &mut new, both, None, &mut out, false).unwrap();
        let rows: Vec<String> = String::from_utf8(out)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').take(2).collect::<Vec<_>>().join(","))
            .collect();
        assert_eq!(rows, ["10.0.0.4,appeared", "10.0.0.5,disappeared"]);
        assert_eq!(found.total(), 2);
        let first = |a: u8| Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, a)));
        assert_eq!((found.only_old.count, found.only_old.first), (2, first(1)));
        assert_eq!((found.only_new.count, found.only_new.first), (3, first(6)));
    }
}
