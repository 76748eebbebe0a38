//! `--every DUR`: repeated runs. Where each run's output goes (and its writing), the
//! NDJSON lines' run tags, and what changed since the previous run (`sweep diff`'s rules).

use crate::engine::table::{Status, Table};
use crate::error::{Error, Result};
use crate::results::column::Field;
use crate::results::diff::{classify, Change};
use crate::results::output::Format;
use crate::results::reader::{Row, Status as RowStatus};
use crate::results::sink::Sink;
use crate::targets::Targets;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The run's UTC start as it goes into a file name: `20250102T030405Z` (no colons, so
/// every filesystem and shell takes it).
pub fn stamp(t: SystemTime) -> String {
    let s = humantime::format_rfc3339_seconds(t).to_string();
    s.chars().filter(|c| !matches!(c, '-' | ':')).collect()
}

/// `hosts.csv` → `hosts.20250102T030405Z.csv`; `hosts` → `hosts.20250102T030405Z`.
pub fn run_path(path: &Path, started: SystemTime) -> PathBuf {
    let t = stamp(started);
    let name = match (path.file_stem(), path.extension()) {
        (Some(stem), Some(ext)) => {
            let mut n = OsString::from(stem);
            n.push(format!(".{t}."));
            n.push(ext);
            n
        }
        _ => {
            let mut n = path.file_name().map(OsString::from).unwrap_or_default();
            n.push(format!(".{t}"));
            n
        }
    };
    path.with_file_name(name)
}

/// How a repeated run's output is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// stdout, one run after another (NDJSON lines tagged).
    Stdout,
    /// A file per run, the start time in its name.
    PerRun(PathBuf),
    /// The same file each run, replaced atomically (Prometheus' textfile collector).
    Replace(PathBuf),
    /// One NDJSON file, each run's lines appended in one write.
    Append(PathBuf),
}

impl Dest {
    pub fn of(output: Option<&Path>, format: Format) -> Dest {
        match (output, format) {
            (None, _) => Dest::Stdout,
            // A device or pipe is written in place each time.
            (Some(p), _) if crate::results::sink::is_special(p) => Dest::Replace(p.to_path_buf()),
            (Some(p), Format::Ndjson) => Dest::Append(p.to_path_buf()),
            (Some(p), Format::Prometheus) => Dest::Replace(p.to_path_buf()),
            (Some(p), _) => Dest::PerRun(p.to_path_buf()),
        }
    }
}

/// NDJSON lines with `run` and `started_at` first in each object.
pub fn tag_lines(text: &[u8], run: u64, started: SystemTime) -> Vec<u8> {
    let at = humantime::format_rfc3339_millis(started);
    let tag = format!("{{\"run\":{run},\"started_at\":\"{at}\",");
    let mut out = Vec::with_capacity(text.len() + text.len() / 8);
    for line in text.split_inclusive(|&b| b == b'\n') {
        match line.strip_prefix(b"{") {
            Some(rest) if !rest.starts_with(b"}") => {
                out.extend_from_slice(tag.as_bytes());
                out.extend_from_slice(rest);
            }
            _ => out.extend_from_slice(line),
        }
    }
    out
}

/// What a run found, for the next run's comparison: every target that answered.
pub type Snapshot = BTreeMap<u32, Row>;

/// The answered targets of a run, as `sweep diff` would read them from its CSV.
pub fn snapshot(
    targets: &Targets,
    table: &Table,
    mac: &dyn Fn(u32) -> Option<crate::wire::ether::Mac>,
) -> Snapshot {
    let mut snap = Snapshot::new();
    for i in 0..table.len() as u32 {
        let c = table.get(i);
        let status = match c.status {
            Status::Up => RowStatus::Up,
            Status::Unreachable => RowStatus::Unreachable,
            // Answered ARP/NDP only: up, as the CSV says.
            Status::Down if mac(i).is_some() => RowStatus::Up,
            Status::Down | Status::Prior => continue,
        };
        let mut row = Row::new(targets.addr_at(u64::from(i)), status);
        row.rtt_us = (c.status == Status::Up).then_some(u64::from(c.rtt_us));
        row.macs = mac(i).into_iter().collect();
        snap.insert(i, row);
    }
    snap
}

/// One line per host that appeared, disappeared or changed, in address order.
pub fn changes(old: &Snapshot, new: &Snapshot, run: u64) -> Vec<String> {
    let mut keys: Vec<u32> = old.keys().chain(new.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    let word = |r: Option<&Row>| r.map_or("down", |r| r.status.as_str());
    keys.into_iter()
        .filter_map(|i| {
            let (o, n) = (old.get(&i), new.get(&i));
            let change = classify(o, n, None)?;
            let addr = n.or(o).map(|r| r.addr)?;
            let how = match change {
                Change::MacChanged => format!(
                    "{} -> {}",
                    o.map_or("-".into(), |r| Field::Mac.csv(r, true)),
                    n.map_or("-".into(), |r| Field::Mac.csv(r, true))
                ),
                _ => format!("{} -> {}", word(o), word(n)),
            };
            Some(format!(
                "sweep: run {run}: {addr} {} ({how})",
                change.as_str()
            ))
        })
        .collect()
}

/// Writes run `n` of `--every`: the whole text is made first, so a file only ever holds
/// whole runs (replaced by rename, or appended in one write and synced).
pub fn write_run(
    dest: &Dest,
    n: u64,
    started: SystemTime,
    ndjson: bool,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    match dest {
        Dest::Stdout | Dest::Append(_) => {
            let mut text = Vec::new();
            fill(&mut text).map_err(Error::Write)?;
            if ndjson {
                text = tag_lines(&text, n, started);
            }
            match dest {
                Dest::Append(path) => append(path, &text).map_err(|source| Error::WriteResults {
                    path: path.clone(),
                    source,
                }),
                _ => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&text)
                        .and_then(|()| out.flush())
                        .map_err(Error::Write)
                }
            }
        }
        Dest::PerRun(path) => Sink::prepare(Some(&run_path(path, started)))?.finish(fill),
        Dest::Replace(path) => Sink::prepare(Some(path))?.finish(fill),
    }
}

/// Appends `bytes` to `path` in one write and syncs it.
fn append(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_735_787_045)
    }

    #[test]
    fn the_start_time_goes_before_the_extension() {
        assert_eq!(stamp(at()), "20250102T030405Z");
        assert_eq!(
            run_path(Path::new("out/hosts.csv"), at()),
            Path::new("out/hosts.20250102T030405Z.csv")
        );
        assert_eq!(
            run_path(Path::new("hosts"), at()),
            Path::new("hosts.20250102T030405Z")
        );
    }

    #[test]
    fn ndjson_lines_carry_the_run() {
        let text = b"{\"addr\":\"198.18.0.1\",\"status\":\"up\"}\n{\"addr\":\"198.18.0.2\"}\n";
        let out = String::from_utf8(tag_lines(text, 3, at())).unwrap();
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["run"], 3);
        assert_eq!(lines[0]["started_at"], "2025-01-02T03:04:05.000Z");
        assert_eq!(lines[1]["addr"], "198.18.0.2");
    }

    #[test]
    fn changes_follow_the_diff_rules() {
        let t = Targets::from_v4(vec![(0xC612_0001, 0xC612_0004)], vec![]);
        let a = Table::new(4, false);
        let b = Table::new(4, false);
        for i in 0..4 {
            a.add_probe(i);
            b.add_probe(i);
        }
        a.record_reply(0, 1000, 64, 0);
        a.record_reply(1, 1000, 64, 0);
        b.record_reply(1, 5000, 64, 0);
        b.record_reply(2, 1000, 64, 0);
        b.record_error(3, crate::wire::Detail::of(3, 1));
        let none = |_| None;
        let (old, new) = (snapshot(&t, &a, &none), snapshot(&t, &b, &none));
        assert_eq!(
            changes(&old, &new, 2),
            [
                "sweep: run 2: 198.18.0.1 disappeared (up -> down)",
                "sweep: run 2: 198.18.0.3 appeared (down -> up)",
                "sweep: run 2: 198.18.0.4 status-changed (down -> unreachable)",
            ]
        );
        assert!(changes(&new, &new, 3).is_empty());
    }
}
