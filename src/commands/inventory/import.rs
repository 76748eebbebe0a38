//! `sweep inventory import FILE…`: saved sweep results (CSV, JSON, NDJSON) and nmap's
//! ping-scan XML (`nmap -sn -oX`, nmap's own or sweep's) recorded as runs, oldest first, so an archive of nightly files becomes history in one command. Each
//! file is read and checked whole before anything of it is recorded; a file older than the
//! newest run recorded is refused (events are judged in time order).

use crate::error::{warn, Error, Result};
use crate::results::reader::Reader;
use crate::results::row::Status;
use crate::store::{Inventory, RunFacts, Sighting};
use crate::targets::{Role, Span, Targets};
use crate::wire::ether::Mac;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Imports `files`; exit status 0 (something imported).
pub fn run(
    inv: &mut dyn Inventory,
    files: &[PathBuf],
    at: Option<SystemTime>,
    targets: &[String],
) -> Result<u8> {
    let scanned = if targets.is_empty() {
        None
    } else {
        Some(Targets::new(
            crate::targets::parse_ranges(targets, Role::Target)?,
            Vec::new(),
        ))
    };
    let mut dated = files
        .iter()
        .map(|f| Ok((start_of(f, at)?, f)))
        .collect::<Result<Vec<_>>>()?;
    dated.sort();
    let newest = inv.newest_start()?;
    if let (Some(newest), Some((first, f))) = (newest, dated.first()) {
        if *first < newest {
            return Err(Error::CsvHeader {
                path: f.to_path_buf(),
                reason: format!(
                    "starts at {}, before the newest run recorded ({}): import archives first, before recording scans",
                    humantime::format_rfc3339_seconds(*first),
                    humantime::format_rfc3339_seconds(newest)
                ),
            });
        }
    }
    for (t, f) in dated {
        let (rows, said) = read(f)?;
        // What the file says it scanned (nmap's args), unless --targets says it.
        let own = match (&scanned, said) {
            (None, Some(spans)) => Some(Targets::new(spans, Vec::new())),
            _ => None,
        };
        let judged = scanned.as_ref().or(own.as_ref());
        let facts = RunFacts {
            job: format!("import {}", f.display()),
            started: t,
            ended: t,
            command: format!("sweep inventory import {}", f.display()),
            targets: targets.join(" "),
            seed: None,
            shard: None,
            exit: 0,
            interrupted: false,
            source: format!("import {}", f.display()),
            resumed: false,
        };
        let mut merged = Merged {
            rows: rows.into_iter().peekable(),
            targets: judged,
            next: 0,
        };
        let out = inv.record(&facts, &mut merged)?;
        if judged.is_none() && out.up == out.probed {
            warn(format_args!(
                "sweep: {}: only hosts up and no --targets: sightings recorded, no host judged gone",
                f.display()
            ));
        }
        warn(format_args!(
            "sweep: {} as run {} at {}: {} probed, {} up, {} events",
            f.display(),
            out.run,
            humantime::format_rfc3339_seconds(t),
            out.probed,
            out.up,
            out.events
        ));
    }
    Ok(0)
}

/// A file's run start: an XML file's own `start`, an `--every` file name's stamp, else
/// `--at`, else its modification time.
fn start_of(path: &Path, at: Option<SystemTime>) -> Result<SystemTime> {
    if is_xml(path) {
        if let Some(t) = read_xml(path)?.start {
            return Ok(t);
        }
    }
    if let Some(t) = path.file_name().and_then(|n| n.to_str()).and_then(stamp_in) {
        return Ok(t);
    }
    if let Some(t) = at {
        return Ok(t);
    }
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|source| Error::ReadInput {
            path: path.to_path_buf(),
            source,
        })
}

/// The `20250102T030405Z` stamp `--every` puts in its file names.
fn stamp_in(name: &str) -> Option<SystemTime> {
    let b = name.as_bytes();
    (0..b.len().saturating_sub(15)).find_map(|i| {
        let w = name.get(i..i + 16)?;
        let digits = |r: std::ops::Range<usize>| {
            w.get(r)
                .is_some_and(|s| s.bytes().all(|c| c.is_ascii_digit()))
        };
        if !(digits(0..8)
            && w.get(8..9) == Some("T")
            && digits(9..15)
            && w.get(15..16) == Some("Z"))
        {
            return None;
        }
        let iso = format!(
            "{}-{}-{}T{}:{}:{}Z",
            w.get(0..4)?,
            w.get(4..6)?,
            w.get(6..8)?,
            w.get(9..11)?,
            w.get(11..13)?,
            w.get(13..15)?
        );
        humantime::parse_rfc3339(&iso).ok()
    })
}

/// The rows of a file, each checked as it is read, in address order.
type Rows = Box<dyn Iterator<Item = Result<Sighting>>>;

/// Every row of `path` in address order (a CSV streams: its reader checks each row and
/// the order as it goes; JSON and XML are parsed whole first), and the targets the file
/// says it scanned (nmap XML's `args`), if it says.
fn read(path: &Path) -> Result<(Rows, Option<Vec<Span>>)> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut said = None;
    let mut rows = match ext.as_str() {
        "json" | "ndjson" | "jsonl" => read_json(path)?,
        "xml" => {
            let xml = read_xml(path)?;
            said = xml.said;
            xml.rows
        }
        _ => {
            let mut r = Reader::open(path)?;
            let rows = std::iter::from_fn(move || r.next_row().transpose()).map(|row| {
                row.map(|row| Sighting {
                    addr: row.addr,
                    status: row.status,
                    detail: row.detail,
                    macs: row.macs,
                })
            });
            return Ok((Box::new(rows), None));
        }
    };
    rows.sort_by_key(|s| s.addr);
    rows.dedup_by_key(|s| s.addr);
    Ok((Box::new(rows.into_iter().map(Ok)), said))
}

fn is_xml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("xml"))
}

/// nmap's options that take the next word as their value: that word is no target.
const NMAP_VALUED: [&str; 24] = [
    "-oX",
    "-oN",
    "-oG",
    "-oA",
    "-oS",
    "-oM",
    "-p",
    "-e",
    "-S",
    "-g",
    "-D",
    "--source-port",
    "--max-retries",
    "--host-timeout",
    "--min-rate",
    "--max-rate",
    "--data-length",
    "--ttl",
    "--scan-delay",
    "--max-scan-delay",
    "--dns-servers",
    "--datadir",
    "--top-ports",
    "--resume",
];

/// The targets an nmap (or sweep) command line names, when every one is an address,
/// range or prefix; `None` when it reads them from elsewhere (`-iL`, `-iR`), excludes
/// some, names a host, or takes an option this does not know to take a value.
fn args_targets(args: &str) -> Option<Vec<Span>> {
    let mut words = args.split_whitespace();
    let program = words.next()?;
    // sweep skips a prefix's network and broadcast addresses; nmap probes them.
    let role = if program.ends_with("sweep") {
        Role::Target
    } else {
        Role::Exclude
    };
    let mut specs = Vec::new();
    while let Some(w) = words.next() {
        if [
            "-iL",
            "-iR",
            "--exclude",
            "--excludefile",
            "--excludefile=",
            "-f",
            "--exclude-file",
        ]
        .iter()
        .any(|o| w == *o || w.starts_with(&format!("{o}=")))
        {
            return None;
        }
        if NMAP_VALUED.contains(&w) {
            words.next();
        } else if !w.starts_with('-') {
            specs.push(w.to_string());
        }
    }
    if specs.is_empty() {
        return None;
    }
    crate::targets::parse_ranges(&specs, role).ok()
}

/// What an nmap XML file holds.
#[derive(Debug)]
struct XmlRun {
    rows: Vec<Sighting>,
    /// Its `start`.
    start: Option<SystemTime>,
    /// The targets its `args` name (see `args_targets`).
    said: Option<Vec<Span>>,
}

/// nmap's XML of a ping scan: each `<host>`'s status and addresses, the run's `start`,
/// and what its `args` say was scanned.
fn read_xml(path: &Path) -> Result<XmlRun> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadInput {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |line: u64, reason: String| Error::CsvRow {
        path: path.to_path_buf(),
        line,
        reason,
    };
    // nmap writes `<!DOCTYPE nmaprun>`; roxmltree never fetches or expands external DTDs.
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(&text, opts)
        .map_err(|e| bad(u64::from(e.pos().row), format!("not nmap XML: {e}")))?;
    let root = doc.root_element();
    if !root.has_tag_name("nmaprun") {
        return Err(bad(1, "not nmap XML: no <nmaprun>".into()));
    }
    let start = root
        .attribute("start")
        .and_then(|s| s.parse::<u64>().ok())
        .map(|s| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s));
    let mut rows = Vec::new();
    for host in root.children().filter(|n| n.has_tag_name("host")) {
        let line = u64::from(doc.text_pos_at(host.range().start).row);
        let state = host
            .children()
            .find(|n| n.has_tag_name("status"))
            .and_then(|n| n.attribute("state"))
            .ok_or_else(|| bad(line, "a <host> without a <status state=…>".into()))?;
        let status = match state {
            "up" => Status::Up,
            "down" => Status::Down,
            other => return Err(bad(line, format!("invalid host state '{other}'"))),
        };
        let mut addr = None;
        let mut macs = Vec::new();
        for a in host.children().filter(|n| n.has_tag_name("address")) {
            let text = a.attribute("addr").unwrap_or_default();
            match a.attribute("addrtype") {
                Some("ipv4" | "ipv6") => {
                    addr = Some(
                        text.parse::<IpAddr>()
                            .map_err(|_| bad(line, format!("invalid addr '{text}'")))?,
                    )
                }
                Some("mac") => macs.push(
                    text.parse::<Mac>()
                        .map_err(|()| bad(line, format!("invalid mac '{text}'")))?,
                ),
                _ => {}
            }
        }
        let addr = addr.ok_or_else(|| bad(line, "a <host> without an IP address".into()))?;
        rows.push(Sighting {
            addr,
            status,
            detail: String::new(),
            macs,
        });
    }
    let said = root.attribute("args").and_then(args_targets);
    Ok(XmlRun { rows, start, said })
}

/// sweep's JSON (an array of row objects) or NDJSON (one a line).
fn read_json(path: &Path) -> Result<Vec<Sighting>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadInput {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |line: u64, reason: String| Error::CsvRow {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let objects: Vec<(u64, serde_json::Value)> = if text.trim_start().starts_with('[') {
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| bad(e.line() as u64, format!("not sweep's JSON: {e}")))?;
        match v {
            serde_json::Value::Array(items) => items.into_iter().map(|o| (0, o)).collect(),
            _ => return Err(bad(1, "not sweep's JSON: not an array of rows".into())),
        }
    } else {
        let mut v = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let n = i as u64 + 1;
            if line.trim().is_empty() {
                continue;
            }
            let o = serde_json::from_str(line)
                .map_err(|e| bad(n, format!("not sweep's NDJSON: {e}")))?;
            v.push((n, o));
        }
        v
    };
    objects
        .into_iter()
        .enumerate()
        .map(|(i, (line, o))| {
            let line = if line == 0 { i as u64 + 1 } else { line };
            sighting(&o).map_err(|reason| bad(line, reason))
        })
        .collect()
}

fn sighting(o: &serde_json::Value) -> std::result::Result<Sighting, String> {
    let text = |k: &str| o.get(k).and_then(|v| v.as_str());
    let addr_text = text("addr").ok_or("a row without an addr")?;
    let addr: IpAddr = addr_text
        .parse()
        .map_err(|_| format!("invalid addr '{addr_text}'"))?;
    let status_text = text("status").ok_or("a row without a status")?;
    let status = Status::ALL
        .into_iter()
        .find(|s| s.as_str() == status_text)
        .ok_or_else(|| format!("invalid status '{status_text}'"))?;
    let mac_texts: Vec<&str> = match o.get("mac") {
        Some(serde_json::Value::Array(v)) => v.iter().filter_map(|m| m.as_str()).collect(),
        Some(serde_json::Value::String(s)) if !s.is_empty() => s.split(';').collect(),
        _ => Vec::new(),
    };
    let macs = mac_texts
        .into_iter()
        .map(|m| m.parse::<Mac>().map_err(|()| format!("invalid mac '{m}'")))
        .collect::<std::result::Result<_, _>>()?;
    Ok(Sighting {
        addr,
        status,
        detail: text("detail").unwrap_or_default().to_string(),
        macs,
    })
}

/// A file's rows and, with `--targets`, every target without a row as down, in address
/// order (both ascend); a row that fails to read is passed on, and stops the recording.
struct Merged<'a> {
    rows: std::iter::Peekable<Rows>,
    targets: Option<&'a Targets>,
    next: u64,
}

impl Iterator for Merged<'_> {
    type Item = Result<Sighting>;

    fn next(&mut self) -> Option<Result<Sighting>> {
        let target = self
            .targets
            .filter(|t| self.next < t.len())
            .map(|t| t.addr_at(self.next));
        let row = match self.rows.peek() {
            Some(Err(_)) => return self.rows.next(),
            Some(Ok(r)) => Some(r.addr),
            None => None,
        };
        match (row, target) {
            (Some(r), Some(t)) if r < t => self.rows.next(),
            (Some(r), Some(t)) if r == t => {
                self.next += 1;
                self.rows.next()
            }
            (_, Some(t)) => {
                self.next += 1;
                Some(Ok(Sighting {
                    addr: t,
                    status: Status::Down,
                    detail: String::new(),
                    macs: Vec::new(),
                }))
            }
            (Some(_), None) => self.rows.next(),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stamps_date_the_file() {
        let t = stamp_in("hosts.20260301T020000Z.csv").unwrap();
        assert_eq!(
            humantime::format_rfc3339(t).to_string(),
            "2026-03-01T02:00:00Z"
        );
        assert_eq!(stamp_in("hosts.csv"), None);
        assert_eq!(stamp_in("20261399T020000Z"), None);
        assert_eq!(stamp_in("x20260301T0200Z"), None);
    }

    #[test]
    fn targets_without_a_row_are_down() {
        let targets = Targets::from_v4(vec![(0xC612_0001, 0xC612_0003)], Vec::new());
        let s = |a: &str, status| Sighting {
            addr: a.parse().unwrap(),
            status,
            detail: String::new(),
            macs: Vec::new(),
        };
        let rows = vec![
            s("10.0.0.1", Status::Up),
            s("198.18.0.2", Status::Up),
            s("198.18.0.9", Status::Up),
        ];
        let rows: Rows = Box::new(rows.into_iter().map(Ok));
        let merged: Vec<_> = Merged {
            rows: rows.peekable(),
            targets: Some(&targets),
            next: 0,
        }
        .map(|s| s.map(|s| (s.addr.to_string(), s.status)))
        .collect::<Result<_>>()
        .unwrap();
        assert_eq!(
            merged,
            [
                ("10.0.0.1".into(), Status::Up),
                ("198.18.0.1".into(), Status::Down),
                ("198.18.0.2".into(), Status::Up),
                ("198.18.0.3".into(), Status::Down),
                ("198.18.0.9".into(), Status::Up)
            ]
        );
    }

    #[test]
    fn nmap_xml_is_read_with_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("scan.xml");
        std::fs::write(
            &p,
            "<?xml version=\"1.0\"?>\n<!DOCTYPE nmaprun>\n<nmaprun scanner=\"nmap\" args=\"nmap -sn 198.18.0.0/30\" start=\"1796400000\">\n\
             <host><status state=\"up\" reason=\"arp-response\"/><address addr=\"198.18.0.2\" addrtype=\"ipv4\"/>\
             <address addr=\"00:1B:21:00:00:01\" addrtype=\"mac\" vendor=\"Intel\"/></host>\n\
             <host><status state=\"down\"/><address addr=\"198.18.0.1\" addrtype=\"ipv4\"/></host>\n</nmaprun>\n",
        )
        .unwrap();
        let XmlRun { rows, start, said } = read_xml(&p).unwrap();
        // nmap probes a prefix's network and broadcast addresses too.
        assert_eq!(said, Some(vec![Span::v4(0xC612_0000, 0xC612_0003)]));
        assert_eq!(
            start,
            Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_796_400_000))
        );
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].status, rows[0].macs.len()), (Status::Up, 1));
        assert_eq!(start_of(&p, None).unwrap(), start.unwrap());
        std::fs::write(
            &p,
            "<nmaprun>\n<host><status state=\"sideways\"/></host></nmaprun>",
        )
        .unwrap();
        let e = read_xml(&p).unwrap_err().to_string();
        assert!(e.contains("scan.xml:2") && e.contains("'sideways'"), "{e}");
        std::fs::write(&p, "<html>").unwrap();
        assert!(read_xml(&p)
            .unwrap_err()
            .to_string()
            .contains("not nmap XML"));
    }

    #[test]
    fn command_lines_say_what_was_scanned_or_nothing() {
        let v4 = |a: u32, b: u32| Span::v4(0xC612_0000 + a, 0xC612_0000 + b);
        assert_eq!(
            args_targets("nmap -sn -oX out.xml --max-retries 2 198.18.0.0/30 198.18.0.9"),
            Some(vec![v4(0, 3), v4(9, 9)])
        );
        assert_eq!(
            args_targets("/usr/bin/sweep -oX out.xml 198.18.0.0/30"),
            Some(vec![v4(1, 2)])
        );
        for unknown in [
            "nmap -sn -iL hosts.txt",
            "nmap -sn 198.18.0.0/24 --exclude 198.18.0.1",
            "nmap -sn gw.example.net",
            "sweep --rate 100 198.18.0.0/24",
            "nmap -sn",
            "",
        ] {
            assert_eq!(args_targets(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn json_rows_are_checked() {
        let ok = serde_json::json!({"addr": "198.18.0.1", "status": "up", "mac": "02:00:00:00:00:0a;02:00:00:00:00:0b"});
        assert_eq!(sighting(&ok).unwrap().macs.len(), 2);
        for (bad, word) in [
            (serde_json::json!({"status": "up"}), "without an addr"),
            (
                serde_json::json!({"addr": "1.2.3", "status": "up"}),
                "'1.2.3'",
            ),
            (
                serde_json::json!({"addr": "1.2.3.4", "status": "sideways"}),
                "'sideways'",
            ),
            (
                serde_json::json!({"addr": "1.2.3.4", "status": "up", "mac": "zz"}),
                "'zz'",
            ),
        ] {
            assert!(sighting(&bad).unwrap_err().contains(word), "{bad}");
        }
    }
}
