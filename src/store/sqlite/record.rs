//! Recording one run (or part of one) in one transaction: the run it joins or starts, then
//! each sighting judged against the address's row and written back with its MAC history
//! and events. Memory stays flat: sightings stream through, one row at a time.

use super::{
    key, mac_code, mac_of, macs_of, macs_text, ms, status_code, status_of, time, SqliteInventory,
};
use crate::error::Result;
use crate::results::row::Status;
use crate::store::judge::{judge, Before, Known};
use crate::store::{EventEntry, EventKind, RecordOutcome, RunFacts, Sighting, EVENTS_SHOWN};
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

/// An address's row as it was before this sighting.
struct HostRow {
    known: Known,
    first_seen: Option<i64>,
    last_up: Option<i64>,
    last_probed: i64,
    times_seen: i64,
    detail: String,
}

impl SqliteInventory {
    pub(super) fn record_run(
        &mut self,
        run: &RunFacts,
        sightings: &mut dyn Iterator<Item = Result<Sighting>>,
    ) -> Result<RecordOutcome> {
        let path = self.path.clone();
        let fault = |e| super::fault(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fault)?;
        let at = ms(run.started);
        let run_id = join_or_start(&tx, run).map_err(fault)?;
        let mut out = RecordOutcome {
            run: run_id,
            ..RecordOutcome::default()
        };
        for seen in sightings {
            judge_one(&tx, run_id, at, &seen?, &mut out).map_err(fault)?;
        }
        tx.execute(
            "INSERT INTO parts(run, shard, started, ended, command, exit, interrupted, probed, up, events)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                run_id,
                run.shard.map(|(i, _)| i as i64),
                at,
                ms(run.ended),
                run.command,
                i64::from(run.exit),
                run.interrupted,
                out.probed as i64,
                out.up as i64,
                out.events as i64,
            ],
        )
        .map_err(fault)?;
        close_if_complete(&tx, run_id).map_err(fault)?;
        tx.commit().map_err(fault)?;
        Ok(out)
    }
}

/// How recent an open run of the same job must be for a shard or a resumed run to join
/// it: a shard that failed last night never swallows tonight's run.
const JOIN_WINDOW_MS: i64 = 12 * 3600 * 1000;

/// The open run of the same job that this part completes (a shard, or a resumed run), or
/// a new run. A whole, fresh run always starts its own: an interrupted run nobody resumed
/// stays open, and must not take the next night's sightings as its own.
fn join_or_start(tx: &Transaction, run: &RunFacts) -> rusqlite::Result<i64> {
    let (start, end) = (ms(run.started), ms(run.ended));
    let open: Option<i64> = if run.shard.is_some() || run.resumed {
        tx.query_row(
            "SELECT id FROM runs WHERE job = ?1 AND open = 1 AND ended >= ?2
             ORDER BY started DESC LIMIT 1",
            params![run.job, start.saturating_sub(JOIN_WINDOW_MS)],
            |r| r.get(0),
        )
        .optional()?
    } else {
        None
    };
    if let Some(id) = open {
        tx.execute(
            "UPDATE runs SET started = min(started, ?2), ended = max(ended, ?3) WHERE id = ?1",
            params![id, start, end],
        )?;
        return Ok(id);
    }
    tx.execute(
        "INSERT INTO runs(job, started, ended, targets, seed, shards, source, open)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1)",
        params![
            run.job,
            start,
            end,
            run.targets,
            run.seed.map(|s| s.to_string()),
            run.shard.map_or(1, |(_, n)| n as i64),
            run.source,
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

/// A run is complete once every shard has a part that was not interrupted.
fn close_if_complete(tx: &Transaction, run: i64) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE runs SET open = 0 WHERE id = ?1 AND shards <=
            (SELECT count(DISTINCT coalesce(shard, 0)) FROM parts WHERE run = ?1 AND interrupted = 0)",
        [run],
    )?;
    Ok(())
}

fn host_row(tx: &Transaction, k: &[u8]) -> rusqlite::Result<Option<HostRow>> {
    tx.prepare_cached(
        "SELECT status, detail, first_seen, last_up, last_probed, times_seen, macs, prev_mac, last_run
         FROM hosts WHERE addr = ?1",
    )?
    .query_row([k], |r| {
        let first_seen: Option<i64> = r.get(2)?;
        Ok(HostRow {
            known: Known {
                status: status_of(r.get(0)?),
                ever_up: first_seen.is_some(),
                macs: macs_of(&r.get::<_, String>(6)?),
                prev_mac: mac_of(r.get(7)?),
                last_run: r.get(8)?,
            },
            first_seen,
            last_up: r.get(3)?,
            last_probed: r.get(4)?,
            times_seen: r.get(5)?,
            detail: r.get(1)?,
        })
    })
    .optional()
}

fn judge_one(
    tx: &Transaction,
    run: i64,
    at: i64,
    seen: &Sighting,
    out: &mut RecordOutcome,
) -> rusqlite::Result<()> {
    let k = key(seen.addr);
    let up = seen.status == Status::Up;
    let old = host_row(tx, &k)?;
    let before = match &old {
        None => Before::Never,
        Some(h) if h.known.last_run == run => {
            // Up now after the other part called it gone: take that back.
            let gone_retracted = up
                && h.known.status != Status::Up
                && tx
                    .prepare_cached(
                        "DELETE FROM events WHERE run = ?1 AND addr = ?2 AND kind = ?3",
                    )?
                    .execute(params![run, k, EventKind::Gone.as_str()])?
                    > 0;
            Before::SameRun {
                known: &h.known,
                gone_retracted,
            }
        }
        Some(h) if h.last_probed > at => Before::Later(&h.known),
        Some(h) => Before::Earlier(&h.known),
    };
    // A second part of the run sighting an address again adds a probe only when it
    // finds it up where the first part did not.
    let again = matches!(before, Before::SameRun { .. });
    let mut query_err = None;
    let verdict = judge(before, seen, run, &mut |m| {
        let known = tx
            .prepare_cached("SELECT 1 FROM sightings WHERE mac = ?1 LIMIT 1")
            .and_then(|mut s| s.exists([mac_code(m)]));
        match known {
            Ok(k) => !k,
            Err(e) => {
                query_err = Some(e);
                false
            }
        }
    });
    if let Some(e) = query_err {
        return Err(e);
    }
    out.probed += u64::from(!again);
    out.up += u64::from(if again { verdict.counts_up } else { up });
    // The aggregates learn from every sighting, an older one too.
    let first_seen = match (old.as_ref().and_then(|h| h.first_seen), up) {
        (Some(f), true) => Some(f.min(at)),
        (f, true) => f.or(Some(at)),
        (f, false) => f,
    };
    let last_up = match (old.as_ref().and_then(|h| h.last_up), up) {
        (Some(l), true) => Some(l.max(at)),
        (l, true) => l.or(Some(at)),
        (l, false) => l,
    };
    let last_probed = old.as_ref().map_or(at, |h| h.last_probed.max(at));
    let times_seen = old
        .as_ref()
        .map_or(0, |h| h.times_seen)
        .saturating_add(i64::from(verdict.counts_up));
    let (known, detail) = match (&verdict.after, &old) {
        (Some(k), _) => (k.clone(), seen.detail.clone()),
        (None, Some(h)) => (h.known.clone(), h.detail.clone()),
        (None, None) => unreachable_state(seen, run),
    };
    tx.prepare_cached(
        "INSERT OR REPLACE INTO hosts(addr, status, detail, first_seen, last_up, last_probed,
             times_seen, macs, prev_mac, last_run)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        k,
        status_code(known.status),
        detail,
        first_seen,
        last_up,
        last_probed,
        times_seen,
        macs_text(&known.macs),
        known.prev_mac.map(mac_code),
        known.last_run,
    ])?;
    if up {
        let mut upsert = tx.prepare_cached(
            "INSERT INTO sightings(addr, mac, first_seen, last_seen) VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT(addr, mac) DO UPDATE SET
                 first_seen = min(first_seen, excluded.first_seen),
                 last_seen = max(last_seen, excluded.last_seen)",
        )?;
        for &m in &seen.macs {
            upsert.execute(params![k, mac_code(m), at])?;
        }
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO events(run, at, addr, kind, mac, old_mac) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for j in &verdict.events {
        insert.execute(params![
            run,
            at,
            k,
            j.kind.as_str(),
            j.mac.map(mac_code),
            j.old_mac.map(mac_code)
        ])?;
        out.events += 1;
        if out.shown.len() < EVENTS_SHOWN {
            out.shown.push(EventEntry {
                at: time(at),
                run,
                addr: seen.addr,
                kind: j.kind,
                mac: j.mac,
                old_mac: j.old_mac,
            });
        }
    }
    Ok(())
}

/// `judge` keeps the old state only where there is one; never reached for a new address.
fn unreachable_state(seen: &Sighting, run: i64) -> (Known, String) {
    (
        Known {
            status: seen.status,
            ever_up: seen.status == Status::Up,
            macs: seen.macs.clone(),
            prev_mac: None,
            last_run: run,
        },
        seen.detail.clone(),
    )
}
