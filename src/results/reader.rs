//! Reading sweep's own CSV back (for `sweep merge` and `sweep diff`): the header is checked
//! and columns are found by name, rows are parsed into typed `Row`s one at a time, and each
//! file must be in strictly ascending address order, so inputs stream in constant memory.
//!
//! Addresses are IPv4 or IPv6 (`IpAddr`). Sweep writes every IPv4 row first, in numeric
//! order, then every IPv6 row, in numeric order; that is exactly `IpAddr`'s `Ord` (its `V4`
//! variant comes first, and each family compares as an unsigned number), so rows are
//! compared as `IpAddr`s everywhere. IPv6 text is read in any form `Ipv6Addr` parses and
//! written back in its `Display` form (RFC 5952: lowercase, `::`-compressed).

use crate::error::{Error, Result};
use crate::results::column::Field;
use crate::results::dialect::unguard;
/// The row model and its status (re-exported: readers of rows need them).
pub use crate::results::row::{Row, Status};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// The scan's default columns, for messages about files that are not sweep CSVs.
fn default_header() -> String {
    Field::DEFAULT
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(",")
}

/// A column sweep writes (see `column::Field`), or any other column (carried as text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Known(Field),
    /// An unknown column: index into `Row::extra`.
    Other(usize),
}

/// A checked header: names as written, and what each column holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    names: Vec<String>,
    cols: Vec<Col>,
    /// How many columns are unknown (the length of `Row::extra`).
    others: usize,
}

impl Header {
    /// Requires `addr` and `status`; other columns are found by name, and unknown ones are
    /// kept as text so a newer sweep's files still read.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> std::result::Result<Header, String> {
        let names: Vec<String> = names.iter().map(|n| n.as_ref().to_string()).collect();
        let mut cols = Vec::with_capacity(names.len());
        let mut others = 0;
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() {
                return Err(format!("header column {} has no name", i + 1));
            }
            if names[..i].contains(name) {
                return Err(format!("header names column '{name}' twice"));
            }
            cols.push(Field::parse(name).map(Col::Known).unwrap_or_else(|| {
                others += 1;
                Col::Other(others - 1)
            }));
        }
        for need in ["addr", "status"] {
            if !names.iter().any(|n| n == need) {
                return Err(format!(
                    "not a sweep CSV: the header has no '{need}' column (want e.g. {})",
                    default_header()
                ));
            }
        }
        Ok(Header {
            names,
            cols,
            others,
        })
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn cols(&self) -> &[Col] {
        &self.cols
    }

    pub fn has(&self, col: Col) -> bool {
        self.cols.contains(&col)
    }

    /// How this header differs from `first` (another input's), if it does.
    pub fn mismatch(&self, first: &Header) -> Option<String> {
        if self.names == first.names {
            return None;
        }
        let list = |v: Vec<&String>| {
            v.iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let extra: Vec<&String> = self
            .names
            .iter()
            .filter(|n| !first.names.contains(n))
            .collect();
        let missing: Vec<&String> = first
            .names
            .iter()
            .filter(|n| !self.names.contains(n))
            .collect();
        let mut parts = Vec::new();
        if !extra.is_empty() {
            parts.push(format!("has extra column(s) {}", list(extra)));
        }
        if !missing.is_empty() {
            parts.push(format!("lacks column(s) {}", list(missing)));
        }
        if parts.is_empty() {
            parts.push(format!(
                "has the same columns in another order ({})",
                self.names.join(",")
            ));
        }
        Some(parts.join(" and "))
    }
}

impl Row {
    /// The fields of this row laid out as `header` says, as CSV text (unguarded: the
    /// writer guards).
    pub fn fields(&self, header: &Header) -> Vec<String> {
        header
            .cols
            .iter()
            .map(|c| match c {
                Col::Known(f) => f.csv(self, true).into_owned(),
                Col::Other(i) => self.extra.get(*i).cloned().unwrap_or_default(),
            })
            .collect()
    }
}

/// Parses one record's fields (laid out as `header` says) into a `Row`; the error names the
/// bad token.
pub fn parse_row<'a>(
    header: &Header,
    fields: impl IntoIterator<Item = &'a str>,
) -> std::result::Result<Row, String> {
    let mut row = Row::new(std::net::Ipv4Addr::UNSPECIFIED, Status::Down);
    row.extra = vec![String::new(); header.others];
    let (mut rtt_text, mut ttl_text) = ("", "");
    for (col, f) in header.cols.iter().zip(fields) {
        match col {
            Col::Known(field) => {
                field.put(&mut row, f)?;
                match field {
                    Field::RttMs => rtt_text = f,
                    Field::Ttl => ttl_text = f,
                    _ => {}
                }
            }
            Col::Other(i) => row.extra[*i] = unguard(f).to_string(),
        }
    }
    // A host present on the segment but silent to echo is up without an RTT.
    let (up, echo) = (row.status == Status::Up, row.echo_up());
    for (field, text) in [(Field::RttMs, rtt_text), (Field::Ttl, ttl_text)] {
        let (name, present) = (field.name(), header.has(Col::Known(field)));
        if !up && !text.is_empty() {
            return Err(format!(
                "{name} '{text}' given for a host that is {}",
                row.status.as_str()
            ));
        }
        if echo && present && text.is_empty() {
            return Err(format!("empty {name} for a host that is up"));
        }
    }
    Ok(row)
}

/// A sweep CSV read row by row, checking that addresses strictly ascend.
pub struct Reader {
    path: PathBuf,
    csv: csv::Reader<Tap>,
    recent: Rc<RefCell<Recent>>,
    header: Header,
    record: csv::StringRecord,
    prev: Option<IpAddr>,
}

impl Reader {
    /// Opens `path` (`-` is stdin) and checks its header.
    pub fn open(path: &Path) -> Result<Reader> {
        if path == Path::new("-") {
            return Reader::new(Path::new("(stdin)"), Box::new(io::stdin()));
        }
        let file = File::open(path).map_err(|source| Error::ReadInput {
            path: path.to_path_buf(),
            source,
        })?;
        Reader::new(path, Box::new(file))
    }

    /// Reads from `input`, naming it `path` in errors.
    pub fn new(path: &Path, input: Box<dyn Read>) -> Result<Reader> {
        let recent = Rc::new(RefCell::new(Recent::default()));
        let tap = Tap {
            inner: input,
            recent: Rc::clone(&recent),
        };
        let csv = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .buffer_capacity(1 << 16)
            .from_reader(tap);
        let mut r = Reader {
            path: path.to_path_buf(),
            csv,
            recent,
            header: Header::default(),
            record: csv::StringRecord::new(),
            prev: None,
        };
        let names = match r.csv.headers() {
            Ok(h) => h.clone(),
            Err(e) => return Err(r.csv_error(e)),
        };
        if names.is_empty() {
            return Err(r.header_error("empty file: not a sweep CSV (no header row)".into()));
        }
        let names: Vec<&str> = names.iter().map(unguard).collect();
        r.header = Header::parse(&names).map_err(|reason| r.header_error(reason))?;
        Ok(r)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The next row, or `None` at the end of the file.
    pub fn next_row(&mut self) -> Result<Option<Row>> {
        match self.csv.read_record(&mut self.record) {
            Ok(false) => return Ok(None),
            Ok(true) => {}
            Err(e) => return Err(self.csv_error(e)),
        }
        let row = match parse_row(&self.header, self.record.iter()) {
            Ok(row) => row,
            Err(reason) => return Err(self.row_error(self.record.position(), reason)),
        };
        if let Some(prev) = self.prev.filter(|&p| row.addr <= p) {
            let reason = if row.addr == prev {
                format!("address '{}' appears twice in one file", row.addr)
            } else if row.addr.is_ipv4() && prev.is_ipv6() {
                format!(
                    "address '{}' is out of order (IPv4 after IPv6 address {prev}); sweep writes every IPv4 row before the IPv6 ones",
                    row.addr
                )
            } else {
                format!(
                    "address '{}' is out of order (after {prev}); rows must ascend by address, as sweep writes them",
                    row.addr
                )
            };
            return Err(self.row_error(self.record.position(), reason));
        }
        self.prev = Some(row.addr);
        Ok(Some(row))
    }

    fn header_error(&self, reason: String) -> Error {
        Error::CsvHeader {
            path: self.path.clone(),
            reason,
        }
    }

    fn row_error(&self, at: Option<&csv::Position>, reason: String) -> Error {
        // csv's own line count is off for CRLF files (a record "starts" at the previous
        // line's LF), so count lines in the input itself.
        let line = at.map_or(0, |p| {
            self.recent.borrow().line_at(p.byte()).unwrap_or(p.line())
        });
        Error::CsvRow {
            path: self.path.clone(),
            line,
            reason,
        }
    }

    fn csv_error(&self, e: csv::Error) -> Error {
        let at = e.position().cloned();
        match e.into_kind() {
            csv::ErrorKind::Io(source) => Error::ReadInput {
                path: self.path.clone(),
                source,
            },
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => self.row_error(
                at.as_ref(),
                format!("row has {len} fields but the header has {expected_len}"),
            ),
            csv::ErrorKind::Utf8 { .. } => self.row_error(at.as_ref(), "not valid UTF-8".into()),
            other => self.row_error(at.as_ref(), format!("{other:?}")),
        }
    }
}

/// Passes the input through to csv, keeping a copy of the recent part in `Recent`.
struct Tap {
    inner: Box<dyn Read>,
    recent: Rc<RefCell<Recent>>,
}

impl Read for Tap {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.recent.borrow_mut().push(&buf[..n]);
        Ok(n)
    }
}

/// The last `KEEP` bytes or so of input, in the chunks they were read in, with the number
/// of line feeds before each: enough to find the line of the record just read.
#[derive(Default)]
struct Recent {
    chunks: VecDeque<Chunk>,
    kept: usize,
    seen: u64,
    newlines: u64,
}

struct Chunk {
    start: u64,
    newlines_before: u64,
    bytes: Vec<u8>,
}

const KEEP: usize = 1 << 20;

impl Recent {
    fn push(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut bytes = Vec::new();
        while self.kept > KEEP {
            let old = self.chunks.pop_front().expect("kept bytes are in chunks");
            self.kept -= old.bytes.len();
            bytes = old.bytes;
        }
        bytes.clear();
        bytes.extend_from_slice(data);
        let chunk = Chunk {
            start: self.seen,
            newlines_before: self.newlines,
            bytes,
        };
        self.seen += data.len() as u64;
        self.newlines += data.iter().filter(|&&b| b == b'\n').count() as u64;
        self.kept += data.len();
        self.chunks.push_back(chunk);
    }

    /// The 1-based line of the first byte at or after offset `byte` that does not end a
    /// line (csv reports a record as starting at the line end before it), if still kept.
    fn line_at(&self, byte: u64) -> Option<u64> {
        let first = self.chunks.front()?;
        if byte < first.start {
            return None;
        }
        let mut newlines = None;
        for c in &self.chunks {
            let end = c.start + c.bytes.len() as u64;
            if byte >= end {
                continue;
            }
            let from = byte.saturating_sub(c.start) as usize;
            let mut n = newlines.unwrap_or_else(|| {
                c.newlines_before + c.bytes[..from].iter().filter(|&&b| b == b'\n').count() as u64
            });
            for &b in &c.bytes[from..] {
                match b {
                    b'\n' => n += 1,
                    b'\r' => {}
                    _ => return Some(n + 1),
                }
            }
            newlines = Some(n);
        }
        newlines.map(|n| n + 1)
    }
}

/// A failed CSV write as sweep's error (the sink's I/O error, or the csv crate's).
pub fn write_error(e: csv::Error) -> Error {
    let source = match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    };
    Error::Write(source)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cmp::Ordering;
    use std::net::{Ipv4Addr, Ipv6Addr};

    pub(crate) const HEAD: &str = "addr,status,rtt_ms,ttl,responder,probes,dups,detail";

    pub(crate) fn reader(name: &str, text: &str) -> Reader {
        Reader::new(Path::new(name), Box::new(io::Cursor::new(text.to_string()))).unwrap()
    }

    fn reader_err(name: &str, text: &str) -> String {
        match Reader::new(Path::new(name), Box::new(io::Cursor::new(text.to_string()))) {
            Ok(_) => panic!("header accepted"),
            Err(e) => e.to_string(),
        }
    }

    fn rows(name: &str, text: &str) -> std::result::Result<Vec<Row>, String> {
        let mut r = reader(name, text);
        let mut out = Vec::new();
        while let Some(row) = r.next_row().map_err(|e| e.to_string())? {
            out.push(row);
        }
        Ok(out)
    }

    #[test]
    fn reads_scan_output() {
        let text = format!(
            "{HEAD}\r\n198.18.0.1,up,1.234,63,198.18.0.1,1,1,\r\n\
             198.18.0.2,unreachable,,,192.0.2.2,1,0,host-unreachable\r\n\
             198.18.0.3,down,,,,2,0,\r\n"
        );
        let r = rows("a.csv", &text).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].status, Status::Up);
        assert_eq!(
            (r[0].rtt_us, r[0].ttl, r[0].dups),
            (Some(1234), Some(63), 1)
        );
        assert_eq!(r[1].responder, Some(Ipv4Addr::new(192, 0, 2, 2).into()));
        assert_eq!(r[1].detail, "host-unreachable");
        assert_eq!((r[2].status, r[2].probes), (Status::Down, 2));
        let h = reader("a.csv", &text).header().clone();
        assert_eq!(r[1].fields(&h).join(","), text.lines().nth(2).unwrap());
    }

    #[test]
    fn header_keyed_by_name_with_extra_columns() {
        let text = "status,hostname,addr,seen_at,asn\n\
                    up,gw.example,10.0.0.1,2030-01-01T00:00:00Z,64500\n";
        let r = rows("a.csv", text).unwrap();
        assert_eq!(r[0].addr, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(r[0].addr, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(r[0].hostname, "gw.example");
        assert_eq!(r[0].seen_at, "2030-01-01T00:00:00Z");
        assert_eq!(r[0].extra, ["64500"]);
        let h = reader("a.csv", text).header().clone();
        assert_eq!(r[0].fields(&h).join(","), text.lines().nth(1).unwrap());
    }

    #[test]
    fn header_checks() {
        assert!(reader_err("a.csv", "addr,rtt_ms\n").contains("no 'status' column"));
        assert!(reader_err("a.csv", "status\n").contains("no 'addr' column"));
        assert!(reader_err("a.csv", "addr,status,addr\n").contains("'addr' twice"));
        assert!(reader_err("a.csv", "").contains("empty file"));
        let h = |s: &str| Header::parse(&s.split(',').collect::<Vec<_>>()).unwrap();
        let base = h(HEAD);
        assert_eq!(base.mismatch(&h(HEAD)), None);
        let more = h(&format!("{HEAD},seen_at"));
        assert_eq!(
            more.mismatch(&base).unwrap(),
            "has extra column(s) 'seen_at'"
        );
        assert_eq!(base.mismatch(&more).unwrap(), "lacks column(s) 'seen_at'");
        let swapped = h("status,addr,rtt_ms,ttl,responder,probes,dups,detail");
        assert!(swapped.mismatch(&base).unwrap().contains("another order"));
    }

    #[test]
    fn bad_rows_name_line_and_token() {
        for (row, token) in [
            ("10.0.0.256,up,1.000,64,,1,0,", "'10.0.0.256'"),
            ("10.0.0.1,upp,,,,1,0,", "'upp'"),
            ("10.0.0.1,up,1.2345,64,,1,0,", "'1.2345'"),
            ("10.0.0.1,up,-1,64,,1,0,", "'-1'"),
            ("10.0.0.1,up,1.0,300,,1,0,", "'300'"),
            ("10.0.0.1,up,1.0,64,nope,1,0,", "'nope'"),
            ("10.0.0.1,up,1.0,64,,x,0,", "'x'"),
            ("10.0.0.1,down,,,,1,-2,", "'-2'"),
            ("10.0.0.1,down,1.000,,,1,0,", "'1.000'"),
            ("10.0.0.1,up,,64,,1,0,", "empty rtt_ms"),
            ("10.0.0.1,up,1.0,64", "4 fields"),
        ] {
            let e = rows(
                "a.csv",
                &format!("{HEAD}\r\n10.0.0.0,down,,,,1,0,\r\n{row}\r\n"),
            )
            .unwrap_err();
            assert!(e.starts_with("a.csv:3: "), "{e}");
            assert!(e.contains(token), "{e} should name {token}");
        }
    }

    /// Hands out its text a few bytes per read, so records straddle chunks.
    struct Trickle(io::Cursor<String>, usize);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.1);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn errors_name_the_physical_line() {
        let bad = "10.0.0.9,bogus,,,,1,0,";
        for (eol, body) in [
            (
                "\n",
                format!("10.0.0.1,down,,,,1,0,\n10.0.0.2,down,,,,1,0,\n{bad}\n"),
            ),
            (
                "\r\n",
                format!("10.0.0.1,down,,,,1,0,\r\n10.0.0.2,down,,,,1,0,\r\n{bad}\r\n"),
            ),
            ("\n", format!("10.0.0.1,down,,,,1,0,\n\n{bad}\n")),
            ("\r\n", format!("10.0.0.1,down,,,,1,0,\r\n\r\n{bad}\r\n")),
            (
                "\r\n",
                format!("10.0.0.1,down,,,,1,0,\"a\r\nb\"\r\n{bad}\r\n"),
            ),
        ] {
            for step in [1, 3, 1 << 16] {
                let text = format!("{HEAD}{eol}{body}");
                let input = Trickle(io::Cursor::new(text), step);
                let mut r = Reader::new(Path::new("a.csv"), Box::new(input)).unwrap();
                let e = loop {
                    match r.next_row() {
                        Ok(Some(_)) => {}
                        Ok(None) => panic!("no error in {body:?}"),
                        Err(e) => break e.to_string(),
                    }
                };
                assert!(
                    e.starts_with("a.csv:4: invalid status 'bogus'"),
                    "{body:?}/{step}: {e}"
                );
            }
        }
    }

    #[test]
    fn line_numbers_hold_past_the_kept_window() {
        let mut text = format!("{HEAD}\r\n");
        let n = 2 * KEEP / 24;
        for i in 0..n {
            text.push_str(&format!(
                "{},down,,,,1,0,\r\n",
                Ipv4Addr::from(i as u32 + 1)
            ));
        }
        text.push_str("255.255.255.255,up,,,,1,0,\r\n");
        let e = rows("big.csv", &text).unwrap_err();
        assert!(
            e.starts_with(&format!("big.csv:{}: empty rtt_ms", n + 2)),
            "{e}"
        );
    }

    #[test]
    fn rows_must_ascend_numerically() {
        // 10.0.0.10 after 10.0.0.9 is ascending (string order would say otherwise).
        let ok = format!("{HEAD}\n10.0.0.9,down,,,,1,0,\n10.0.0.10,down,,,,1,0,\n");
        assert_eq!(rows("a.csv", &ok).unwrap().len(), 2);
        let back = format!("{HEAD}\n10.0.0.10,down,,,,1,0,\n10.0.0.9,down,,,,1,0,\n");
        let e = rows("a.csv", &back).unwrap_err();
        assert!(
            e.contains("a.csv:3: address '10.0.0.9' is out of order"),
            "{e}"
        );
        let twice = format!("{HEAD}\n10.0.0.9,down,,,,1,0,\n10.0.0.9,down,,,,1,0,\n");
        assert!(rows("a.csv", &twice).unwrap_err().contains("twice"));
    }

    /// The order sweep writes rows in: IPv4 before IPv6, numeric within a family.
    fn key(a: IpAddr) -> (u8, u128) {
        match a {
            IpAddr::V4(v4) => (4, u128::from(u32::from(v4))),
            IpAddr::V6(v6) => (6, u128::from(v6)),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipaddr_order_is_v4_first_then_numeric() {
        // Each pair ascends numerically; in the v6 pairs, string order says the opposite.
        for (lo, hi) in [
            ("10.0.0.9", "10.0.0.10"),
            ("9.255.255.255", "10.0.0.0"),
            ("255.255.255.255", "::"),
            ("255.255.255.255", "::1"),
            ("0.0.0.0", "::"),
            ("10.0.0.1", "::a00:1"),
            ("192.0.2.1", "::ffff:192.0.2.0"),
            ("2001:db8::9", "2001:db8::10"),
            ("2001:db8::ffff", "2001:db8:1::"),
            ("2001:db8::1:0:0", "2001:db8:0:1::"),
            ("fe80::1", "ff02::1"),
        ] {
            let (a, b) = (ip(lo), ip(hi));
            assert_eq!(a.cmp(&b), Ordering::Less, "{lo} < {hi}");
            assert_eq!(key(a).cmp(&key(b)), Ordering::Less, "{lo} < {hi}");
        }
    }

    fn any_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<u32>().prop_map(|n| IpAddr::V4(Ipv4Addr::from(n))),
            any::<u128>().prop_map(|n| IpAddr::V6(Ipv6Addr::from(n))),
            // Small v6 values too, so the family boundary is crossed near zero.
            any::<u32>().prop_map(|n| IpAddr::V6(Ipv6Addr::from(u128::from(n)))),
        ]
    }

    proptest! {
        /// What the fuzz target `csv` does, for machines without cargo-fuzz: arbitrary
        /// bytes, or a good header followed by arbitrary text, never panic.
        #[test]
        fn arbitrary_input_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
            tail in ".{0,200}",
        ) {
            let with_head = format!("{HEAD}\n{tail}").into_bytes();
            for input in [bytes, with_head] {
                let Ok(mut r) = Reader::new(Path::new("p.csv"), Box::new(io::Cursor::new(input)))
                else {
                    continue;
                };
                while let Ok(Some(row)) = r.next_row() {
                    let _ = row.fields(r.header());
                }
            }
        }

        #[test]
        fn ipaddr_ord_is_family_then_number(a in any_ip(), b in any_ip()) {
            prop_assert_eq!(a.cmp(&b), key(a).cmp(&key(b)));
        }

        #[test]
        fn ipv6_text_round_trips(n in any::<u128>()) {
            let a = IpAddr::V6(Ipv6Addr::from(n));
            let text = format!("{HEAD}\n{a},up,1.000,64,{a},1,0,\n");
            let r = rows("a.csv", &text).unwrap();
            prop_assert_eq!(r[0].addr, a);
            prop_assert_eq!(r[0].responder, Some(a));
            let h = reader("a.csv", &text).header().clone();
            prop_assert_eq!(r[0].fields(&h).join(","), text.lines().nth(1).unwrap());
        }
    }

    #[test]
    fn reads_ipv6_rows() {
        let text = format!(
            "{HEAD}\r\n2001:db8::1,up,0.250,64,2001:db8::1,1,0,\r\n\
             2001:db8::2,unreachable,,,2001:db8:ff::1,1,0,addr-unreachable\r\n\
             2001:db8::a,down,,,,2,0,\r\n"
        );
        let r = rows("a.csv", &text).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].addr, ip("2001:db8::1"));
        assert!(r[0].addr.is_ipv6());
        assert_eq!((r[0].rtt_us, r[0].ttl), (Some(250), Some(64)));
        assert_eq!(r[1].responder, Some(ip("2001:db8:ff::1")));
        assert_eq!(r[1].detail, "addr-unreachable");
        assert_eq!((r[2].addr, r[2].status), (ip("2001:db8::a"), Status::Down));
        let h = reader("a.csv", &text).header().clone();
        for (i, row) in r.iter().enumerate() {
            assert_eq!(row.fields(&h).join(","), text.lines().nth(i + 1).unwrap());
        }
    }

    #[test]
    fn ipv6_in_other_spellings_is_written_back_compressed() {
        let text = format!(
            "{HEAD}\n::FFFF:192.0.2.1,down,,,,1,0,\n\
             2001:0DB8:0000:0000:0000:0000:0000:0001,up,1.000,64,2001:DB8::1,1,0,\n"
        );
        let r = rows("a.csv", &text).unwrap();
        let h = reader("a.csv", &text).header().clone();
        // An IPv4-mapped address stays IPv6 (it sorts, and is written, as one).
        assert_eq!(
            r[0].addr,
            IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped())
        );
        assert_eq!(r[0].fields(&h)[0], "::ffff:192.0.2.1");
        assert_eq!(
            r[1].fields(&h).join(","),
            "2001:db8::1,up,1.000,64,2001:db8::1,1,0,"
        );
    }

    #[test]
    fn mixed_families_with_a_v4_responder_for_v4_and_v6_for_v6() {
        let text = format!(
            "{HEAD}\n10.0.0.1,unreachable,,,192.0.2.1,1,0,host-unreachable\n\
             255.255.255.255,down,,,,1,0,\n\
             ::,down,,,,1,0,\n\
             2001:db8::1,unreachable,,,fe80::1,1,0,no-route\n"
        );
        let r = rows("a.csv", &text).unwrap();
        let fams: Vec<bool> = r.iter().map(|r| r.addr.is_ipv4()).collect();
        assert_eq!(fams, [true, true, false, false]);
        assert_eq!(r[0].responder, Some(ip("192.0.2.1")));
        assert_eq!(r[3].responder, Some(ip("fe80::1")));
    }

    #[test]
    fn rows_ascend_across_the_family_boundary() {
        let ok = format!(
            "{HEAD}\n10.0.0.9,down,,,,1,0,\n255.255.255.255,down,,,,1,0,\n\
             ::1,down,,,,1,0,\n2001:db8::9,down,,,,1,0,\n2001:db8::10,down,,,,1,0,\n\
             2001:db8::ffff,down,,,,1,0,\n2001:db8:1::,down,,,,1,0,\n"
        );
        assert_eq!(rows("a.csv", &ok).unwrap().len(), 7);

        // IPv4 after IPv6, however small the IPv6 address.
        let v4_late = format!("{HEAD}\n::,down,,,,1,0,\n10.0.0.1,down,,,,1,0,\n");
        let e = rows("a.csv", &v4_late).unwrap_err();
        assert!(
            e.starts_with("a.csv:3: address '10.0.0.1' is out of order (IPv4 after IPv6"),
            "{e}"
        );
        assert!(e.contains("IPv4 row before the IPv6"), "{e}");

        // Numeric, not string, order within IPv6.
        let back = format!("{HEAD}\n2001:db8::10,down,,,,1,0,\n2001:db8::9,down,,,,1,0,\n");
        let e = rows("a.csv", &back).unwrap_err();
        assert!(
            e.starts_with("a.csv:3: address '2001:db8::9' is out of order (after 2001:db8::10)"),
            "{e}"
        );
        let back = format!("{HEAD}\n2001:db8:1::,down,,,,1,0,\n2001:db8::ffff,down,,,,1,0,\n");
        assert!(rows("a.csv", &back).unwrap_err().contains("out of order"));

        // The same address spelled two ways is still a duplicate.
        let twice = format!("{HEAD}\n2001:db8::1,down,,,,1,0,\n2001:DB8:0::1,down,,,,1,0,\n");
        let e = rows("a.csv", &twice).unwrap_err();
        assert!(e.contains("address '2001:db8::1' appears twice"), "{e}");
    }

    #[test]
    fn bad_ipv6_tokens_are_named() {
        for (row, token) in [
            ("2001:db8::g,down,,,,1,0,", "'2001:db8::g'"),
            ("1:2:3:4:5:6:7:8:9,down,,,,1,0,", "'1:2:3:4:5:6:7:8:9'"),
            ("2001:db8:::1,down,,,,1,0,", "'2001:db8:::1'"),
            ("fe80::1%eth0,down,,,,1,0,", "'fe80::1%eth0'"),
            ("[2001:db8::1],down,,,,1,0,", "'[2001:db8::1]'"),
            ("2001:db8::1,unreachable,,,fe80::x,1,0,", "'fe80::x'"),
        ] {
            let e = rows("a.csv", &format!("{HEAD}\n10.0.0.1,down,,,,1,0,\n{row}\n")).unwrap_err();
            assert!(e.starts_with("a.csv:3: "), "{e}");
            assert!(e.contains(token), "{e} should name {token}");
        }
    }
}
