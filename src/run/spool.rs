//! A run a server inventory could not take (the server went away while the scan ran or
//! recorded): kept in a spool file in the state directory, one per run, under a folder
//! named for the database, and recorded by the next run that records into that database,
//! before its own run, so nothing is lost and nothing is recorded twice (a spool file is
//! removed once its run is committed; written whole or not at all).

use crate::error::{Error, Result};
use crate::results::row::Status;
use crate::store::{Inventory, RecordOutcome, RunFacts, Sighting};
use serde_json::{json, Value};
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The spool folder of the database `db` (its URL as shown: no password in a file name).
pub fn folder(db: &Path) -> PathBuf {
    let shown = crate::store::shown(db);
    let id = crc32fast::hash(shown.as_os_str().as_encoded_bytes());
    super::checkpoint::state_dir().join(format!("spool-{id:08x}"))
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn time(v: &Value) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(v.as_u64().unwrap_or(0))
}

/// Writes `run` and its sightings to a new spool file for `db`; its path.
pub fn save(
    db: &Path,
    run: &RunFacts,
    sightings: &mut dyn Iterator<Item = Result<Sighting>>,
) -> std::io::Result<PathBuf> {
    let dir = folder(db);
    std::fs::create_dir_all(&dir)?;
    // Named by the run's start, so the spool replays in run order.
    let name = format!("{:015}-{}.spool", ms(run.started), std::process::id());
    let path = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut out = BufWriter::new(std::fs::File::create(&tmp)?);
    let head = json!({
        "job": run.job,
        "started": ms(run.started),
        "ended": ms(run.ended),
        "command": run.command,
        "targets": run.targets,
        "seed": run.seed,
        "shard": run.shard.map(|(i, n)| [i, n]),
        "exit": run.exit,
        "interrupted": run.interrupted,
        "source": run.source,
        "resumed": run.resumed,
    });
    writeln!(out, "{head}")?;
    for s in sightings {
        let s = s.map_err(std::io::Error::other)?;
        let macs: Vec<String> = s.macs.iter().map(ToString::to_string).collect();
        writeln!(
            out,
            "{}",
            json!({"addr": s.addr.to_string(), "status": s.status.as_str(), "detail": s.detail, "macs": macs})
        )?;
    }
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// Records every spooled run of `db` into `inv`, oldest first, removing each once it is
/// recorded; stops at the first failure (the rest stay spooled). The outcomes.
pub fn replay(inv: &mut dyn Inventory, db: &Path) -> Result<Vec<(PathBuf, RecordOutcome)>> {
    let dir = folder(db);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(d) => d
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "spool"))
            .collect(),
        Err(_) => return Ok(Vec::new()),
    };
    files.sort();
    let mut done = Vec::new();
    for f in files {
        let bad = |reason: String| Error::Inventory {
            path: f.clone(),
            reason,
        };
        let text = std::fs::File::open(&f).map_err(|e| bad(e.to_string()))?;
        let mut lines = std::io::BufReader::new(text).lines();
        let head: Value = lines
            .next()
            .and_then(|l| l.ok())
            .and_then(|l| serde_json::from_str(&l).ok())
            .ok_or_else(|| bad("a damaged spool file (its first line)".into()))?;
        let text = |k: &str| head[k].as_str().unwrap_or_default().to_string();
        let run = RunFacts {
            job: text("job"),
            started: time(&head["started"]),
            ended: time(&head["ended"]),
            command: text("command"),
            targets: text("targets"),
            seed: head["seed"].as_u64(),
            shard: head["shard"]
                .as_array()
                .and_then(|a| Some((a.first()?.as_u64()?, a.get(1)?.as_u64()?))),
            exit: u8::try_from(head["exit"].as_u64().unwrap_or(0)).unwrap_or(u8::MAX),
            interrupted: head["interrupted"].as_bool().unwrap_or(false),
            source: text("source"),
            resumed: head["resumed"].as_bool().unwrap_or(false),
        };
        let mut n = 1;
        let mut sightings = lines.map(|l| {
            n += 1;
            let line = l.map_err(|e| bad(e.to_string()))?;
            let v: Value =
                serde_json::from_str(&line).map_err(|e| bad(format!("line {n}: {e}")))?;
            let addr = v["addr"].as_str().and_then(|a| a.parse().ok());
            let status = v["status"].as_str().and_then(|s| s.parse::<Status>().ok());
            let (Some(addr), Some(status)) = (addr, status) else {
                return Err(bad(format!("line {n}: not a sighting")));
            };
            Ok(Sighting {
                addr,
                status,
                detail: v["detail"].as_str().unwrap_or_default().to_string(),
                macs: v["macs"]
                    .as_array()
                    .map(|m| m.iter().filter_map(|m| m.as_str()?.parse().ok()).collect())
                    .unwrap_or_default(),
            })
        });
        let out = inv.record(&run, &mut sightings)?;
        std::fs::remove_file(&f).map_err(|e| bad(e.to_string()))?;
        done.push((f, out));
    }
    Ok(done)
}
