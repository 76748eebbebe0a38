//! `sweep merge`: several sweep CSVs (shards, or repeated runs of the same targets) into
//! one, in address order (IPv4 rows first, then IPv6, each numerically: `IpAddr`'s order).
//! A k-way merge of the already-sorted inputs: one row per input is held at a time, so
//! millions of rows merge in constant memory.

use crate::error::{Error, Result};
use crate::results::dialect::CsvOut;
use crate::results::reader::{write_error, Header, Reader, Row};
use crate::results::row::Status;
use crate::results::sink::Sink;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// What a merge wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Merged {
    pub rows: u64,
    pub up: u64,
}

/// Folds `later` (from a later file) into `acc`, a row for the same address: the better
/// status wins (up > unreachable > down; the earlier file on ties) and brings its rtt, ttl,
/// responder, detail and other columns; probes and dups are summed.
pub fn combine(acc: &mut Row, later: Row) {
    let probes = acc.probes.saturating_add(later.probes);
    let dups = acc.dups.saturating_add(later.dups);
    if later.status > acc.status {
        *acc = later;
    }
    acc.probes = probes;
    acc.dups = dups;
}

/// Rows of several sorted inputs, merged by address.
pub struct Merger {
    readers: Vec<Reader>,
    /// The next unconsumed row of each input.
    heads: Vec<Option<Row>>,
    /// (address, input index) of each waiting head: smallest address, then earliest input.
    queue: BinaryHeap<Reverse<(IpAddr, usize)>>,
}

impl Merger {
    /// Checks that every input has the first one's header.
    pub fn new(readers: Vec<Reader>) -> Result<Merger> {
        let Some(first) = readers.first() else {
            return Err(Error::CsvHeader {
                path: PathBuf::from("-"),
                reason: "no inputs to merge".into(),
            });
        };
        for r in &readers[1..] {
            if let Some(diff) = r.header().mismatch(first.header()) {
                return Err(Error::CsvHeader {
                    path: r.path().to_path_buf(),
                    reason: format!("header differs from '{}': {diff}", first.path().display()),
                });
            }
        }
        let mut m = Merger {
            heads: vec![None; readers.len()],
            readers,
            queue: BinaryHeap::new(),
        };
        for i in 0..m.readers.len() {
            m.advance(i)?;
        }
        Ok(m)
    }

    pub fn header(&self) -> &Header {
        self.readers[0].header()
    }

    fn advance(&mut self, i: usize) -> Result<()> {
        let row = self.readers[i].next_row()?;
        if let Some(r) = &row {
            self.queue.push(Reverse((r.addr, i)));
        }
        self.heads[i] = row;
        Ok(())
    }

    fn take(&mut self, i: usize) -> Result<Row> {
        let row = self.heads[i].take().expect("queued input has a head");
        self.advance(i)?;
        Ok(row)
    }

    /// The next merged row, or `None` when every input is done.
    pub fn next_row(&mut self) -> Result<Option<Row>> {
        let Some(Reverse((addr, i))) = self.queue.pop() else {
            return Ok(None);
        };
        let mut acc = self.take(i)?;
        while let Some(&Reverse((a, j))) = self.queue.peek() {
            if a != addr {
                break;
            }
            self.queue.pop();
            let later = self.take(j)?;
            combine(&mut acc, later);
        }
        Ok(Some(acc))
    }
}

/// Writes the merged rows of `merger` as CSV (header first, CRLF line ends), text that
/// would start a spreadsheet formula guarded unless `raw`.
pub fn write_merged(merger: &mut Merger, out: &mut dyn Write, raw: bool) -> Result<Merged> {
    let mut w = CsvOut::new(out, raw);
    let io = write_error;
    w.record(merger.header().names()).map_err(io)?;
    let mut done = Merged::default();
    while let Some(row) = merger.next_row()? {
        done.rows += 1;
        if row.status == Status::Up {
            done.up += 1;
        }
        w.record(row.fields(merger.header())).map_err(io)?;
    }
    w.flush().map_err(Error::Write)?;
    Ok(done)
}

/// `sweep merge INPUT… [-o OUT]`: every input is opened and its header checked before the
/// output is touched; `-o` is written to a temp file renamed into place only when complete.
pub fn run(inputs: &[PathBuf], output: Option<&Path>, raw: bool) -> Result<Merged> {
    let readers = inputs
        .iter()
        .map(|p| Reader::open(p))
        .collect::<Result<Vec<_>>>()?;
    let mut merger = Merger::new(readers)?;
    Output::prepare(output)?.fill(|out| write_merged(&mut merger, out, raw))
}

/// Where merge and diff write: the scan's `Sink` (stdout, a temp file renamed over
/// `-o FILE` when complete, or a special file written in place).
pub struct Output(Sink);

impl Output {
    /// Proves the output is writable before any input row is read.
    pub fn prepare(path: Option<&Path>) -> Result<Output> {
        Ok(Output(Sink::prepare(path)?))
    }

    /// Runs `write` into the output, keeping a CSV input error typed (the sink only carries
    /// I/O errors); a `-o` file is only put in place when everything succeeded.
    pub fn fill<T>(self, write: impl FnOnce(&mut dyn Write) -> Result<T>) -> Result<T> {
        let mut result = None;
        let mut failure = None;
        let finished = self.0.finish(|out| match write(out) {
            Ok(v) => {
                result = Some(v);
                Ok(())
            }
            Err(Error::Write(e)) => Err(e),
            Err(e) => {
                failure = Some(e);
                Err(io::Error::other("input error"))
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        finished?;
        result.ok_or_else(|| Error::Write(io::Error::other("nothing written")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::reader::tests::{reader, HEAD};
    use std::net::Ipv4Addr;

    fn merge(inputs: &[(&str, &str)]) -> std::result::Result<(String, Merged), String> {
        let readers = inputs
            .iter()
            .map(|(name, body)| reader(name, &format!("{HEAD}\r\n{body}")))
            .collect();
        let mut m = Merger::new(readers).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        let done = write_merged(&mut m, &mut out, false).map_err(|e| e.to_string())?;
        Ok((String::from_utf8(out).unwrap(), done))
    }

    fn row(status: Status, probes: u64, dups: u64, detail: &str) -> Row {
        let mut r = Row::new(Ipv4Addr::new(10, 0, 0, 1), status);
        (r.probes, r.dups, r.detail) = (probes, dups, detail.into());
        r
    }

    #[test]
    fn best_status_wins_and_counts_add_up() {
        let mut acc = row(Status::Down, 3, 0, "");
        combine(&mut acc, row(Status::Unreachable, 3, 1, "host-unreachable"));
        assert_eq!(acc, row(Status::Unreachable, 6, 1, "host-unreachable"));
        combine(&mut acc, row(Status::Up, 1, 2, ""));
        assert_eq!(acc, row(Status::Up, 7, 3, ""));
        combine(&mut acc, row(Status::Unreachable, 1, 0, "ttl-exceeded"));
        assert_eq!(acc, row(Status::Up, 8, 3, ""));
    }

    #[test]
    fn ties_go_to_the_earlier_file() {
        let mut acc = row(Status::Unreachable, 1, 0, "first");
        combine(&mut acc, row(Status::Unreachable, 1, 0, "second"));
        assert_eq!(acc.detail, "first");
        let mut sat = row(Status::Down, u64::MAX, 0, "");
        combine(&mut sat, row(Status::Down, 1, 0, ""));
        assert_eq!(sat.probes, u64::MAX);
    }

    #[test]
    fn disjoint_shards_interleave_in_numeric_order() {
        let (out, done) = merge(&[
            (
                "a.csv",
                "10.0.0.2,up,1.000,64,10.0.0.2,1,0,\r\n10.0.0.10,down,,,,3,0,\r\n",
            ),
            (
                "b.csv",
                "10.0.0.9,down,,,,3,0,\r\n10.0.0.100,up,2.500,63,10.0.0.100,2,0,\r\n",
            ),
        ])
        .unwrap();
        let addrs: Vec<&str> = out
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap())
            .collect();
        assert_eq!(addrs, ["10.0.0.2", "10.0.0.9", "10.0.0.10", "10.0.0.100"]);
        assert_eq!(done, Merged { rows: 4, up: 2 });
        assert!(out.starts_with(&format!("{HEAD}\r\n")));
        assert!(out.ends_with("10.0.0.100,up,2.500,63,10.0.0.100,2,0,\r\n"));
    }

    #[test]
    fn overlapping_runs_combine() {
        let (out, done) = merge(&[
            (
                "a.csv",
                "10.0.0.1,down,,,,3,0,\r\n10.0.0.2,up,1.000,64,10.0.0.2,1,0,\r\n",
            ),
            (
                "b.csv",
                "10.0.0.1,unreachable,,,192.0.2.2,3,0,host-unreachable\r\n\
                 10.0.0.2,up,9.000,64,10.0.0.2,1,1,\r\n",
            ),
            ("c.csv", "10.0.0.1,up,4.321,60,10.0.0.1,2,0,\r\n"),
        ])
        .unwrap();
        assert_eq!(
            out,
            format!(
                "{HEAD}\r\n10.0.0.1,up,4.321,60,10.0.0.1,8,0,\r\n\
                 10.0.0.2,up,1.000,64,10.0.0.2,2,1,\r\n"
            )
        );
        assert_eq!(done.up, 2);
    }

    #[test]
    fn headers_must_match() {
        let readers = vec![
            reader("a.csv", &format!("{HEAD}\n")),
            reader("b.csv", &format!("{HEAD},seen_at\n")),
        ];
        let e = Merger::new(readers).err().unwrap().to_string();
        assert_eq!(
            e,
            "'b.csv': header differs from 'a.csv': has extra column(s) 'seen_at'"
        );
    }

    #[test]
    fn unsorted_input_is_an_error_naming_the_line() {
        let e = merge(&[
            ("a.csv", "10.0.0.1,down,,,,1,0,\r\n"),
            (
                "b.csv",
                "10.0.0.5,down,,,,1,0,\r\n10.0.0.3,down,,,,1,0,\r\n",
            ),
        ])
        .unwrap_err();
        assert!(
            e.starts_with("b.csv:3: address '10.0.0.3' is out of order"),
            "{e}"
        );
    }

    #[test]
    fn carries_extra_columns_from_the_winner() {
        let head = "addr,status,probes,seen_at,hostname";
        let readers = vec![
            reader(
                "a.csv",
                &format!("{head}\n10.0.0.1,down,1,2030-01-01T00:00:00Z,\n"),
            ),
            reader(
                "b.csv",
                &format!("{head}\n10.0.0.1,up,1,2030-01-02T00:00:00Z,h\n"),
            ),
        ];
        let mut m = Merger::new(readers).unwrap();
        let mut out = Vec::new();
        write_merged(&mut m, &mut out, false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("{head}\r\n10.0.0.1,up,2,2030-01-02T00:00:00Z,h\r\n")
        );
    }
    #[test]
    fn formulas_are_guarded_and_merged_output_merges_back_unchanged() {
        let head = "addr,status,probes,detail,hostname,=note";
        let body = "10.0.0.1,unreachable,1,@SUM(1+1),'=HYPERLINK(\"x\"),+x\n\
                    10.0.0.2,up,1,,-h.lab,'a\n";
        let merge_text = |text: &str, raw: bool| {
            let mut m = Merger::new(vec![reader("a.csv", text)]).unwrap();
            let mut out = Vec::new();
            write_merged(&mut m, &mut out, raw).unwrap();
            String::from_utf8(out).unwrap()
        };
        let once = merge_text(&format!("{head}\n{body}"), false);
        let cells: Vec<Vec<String>> = csv::Reader::from_reader(once.as_bytes())
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
        assert_eq!(
            cells[0],
            [
                "10.0.0.1",
                "unreachable",
                "1",
                "'@SUM(1+1)",
                "'=HYPERLINK(\"x\")",
                "'+x"
            ]
        );
        assert_eq!(cells[1], ["10.0.0.2", "up", "1", "", "'-h.lab", "'a"]);
        assert!(once.starts_with("addr,status,probes,detail,hostname,'=note\r\n"));
        assert_eq!(
            merge_text(&once, false),
            once,
            "guarded text reads back as itself"
        );
        let raw = merge_text(&once, true);
        assert!(
            raw.contains("\r\n10.0.0.1,unreachable,1,@SUM(1+1),\"=HYPERLINK(\"\"x\"\")\",+x\r\n"),
            "{raw}"
        );
    }

    fn addrs(out: &str) -> Vec<&str> {
        out.lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap())
            .collect()
    }

    #[test]
    fn ipv4_file_and_ipv6_file_merge_ipv4_first() {
        // The IPv6 file is given first; its rows still follow every IPv4 row.
        let (out, done) = merge(&[
            (
                "v6.csv",
                "::1,down,,,,3,0,\r\n2001:db8::9,up,0.500,64,2001:db8::9,1,0,\r\n\
                 2001:db8::10,unreachable,,,2001:db8:ff::1,3,0,addr-unreachable\r\n",
            ),
            (
                "v4.csv",
                "10.0.0.9,up,1.000,64,10.0.0.9,1,0,\r\n255.255.255.255,down,,,,3,0,\r\n",
            ),
        ])
        .unwrap();
        assert_eq!(
            addrs(&out),
            [
                "10.0.0.9",
                "255.255.255.255",
                "::1",
                "2001:db8::9",
                "2001:db8::10"
            ]
        );
        assert!(
            out.contains("\r\n2001:db8::10,unreachable,,,2001:db8:ff::1,3,0,addr-unreachable\r\n")
        );
        assert_eq!(done, Merged { rows: 5, up: 2 });
    }

    #[test]
    fn mixed_family_files_interleave_within_each_family_and_combine() {
        let (out, done) = merge(&[
            (
                "a.csv",
                "10.0.0.2,down,,,,3,0,\r\n10.0.0.10,down,,,,3,0,\r\n\
                 2001:db8::2,down,,,,3,0,\r\n2001:db8::ffff,down,,,,3,0,\r\n",
            ),
            (
                "b.csv",
                "10.0.0.9,down,,,,3,0,\r\n10.0.0.10,up,2.000,60,10.0.0.10,1,0,\r\n\
                 ::a00:9,down,,,,3,0,\r\n\
                 2001:db8::2,unreachable,,,fe80::1,3,0,no-route\r\n\
                 2001:db8:1::,down,,,,3,0,\r\n",
            ),
            // Another spelling of 2001:db8::ffff is the same host.
            (
                "c.csv",
                "2001:DB8:0:0::FFFF,up,0.125,64,2001:DB8::FFFF,1,1,\r\n",
            ),
        ])
        .unwrap();
        assert_eq!(
            out,
            format!(
                "{HEAD}\r\n10.0.0.2,down,,,,3,0,\r\n\
                 10.0.0.9,down,,,,3,0,\r\n\
                 10.0.0.10,up,2.000,60,10.0.0.10,4,0,\r\n\
                 ::a00:9,down,,,,3,0,\r\n\
                 2001:db8::2,unreachable,,,fe80::1,6,0,no-route\r\n\
                 2001:db8::ffff,up,0.125,64,2001:db8::ffff,4,1,\r\n\
                 2001:db8:1::,down,,,,3,0,\r\n"
            )
        );
        assert_eq!(done, Merged { rows: 7, up: 2 });
    }

    #[test]
    fn ipv4_after_ipv6_in_one_input_is_an_error() {
        let e = merge(&[
            ("a.csv", "10.0.0.1,down,,,,1,0,\r\n"),
            (
                "b.csv",
                "2001:db8::1,down,,,,1,0,\r\n10.0.0.2,down,,,,1,0,\r\n",
            ),
        ])
        .unwrap_err();
        assert!(
            e.starts_with("b.csv:3: address '10.0.0.2' is out of order (IPv4 after IPv6"),
            "{e}"
        );
    }
}
