//! Recording one run (or part of one) in one transaction: the run it joins or starts, then
//! each sighting through `ledger::step`, a statement at a time. Memory stays flat:
//! sightings stream through, one row at a time.

use super::SqliteInventory;
use crate::error::Result;
use crate::store::codec::{mac_code, mac_of, macs_of, macs_text, status_code, status_of};
use crate::store::judge::{Judged, Known};
use crate::store::ledger::{step, HostRow, Ledger};
use crate::store::sql::{self, question_marks};
use crate::store::{EventKind, RecordOutcome, RunFacts, Sighting};
use crate::wire::ether::Mac;
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

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
        let facts = sql::RunRow::of(run);
        let run_id = join_or_start(&tx, &facts).map_err(fault)?;
        let mut out = RecordOutcome {
            run: run_id,
            ..RecordOutcome::default()
        };
        let mut ledger = SqliteLedger { tx: &tx };
        for seen in sightings {
            step(&mut ledger, run_id, facts.started, &seen?, &mut out).map_err(fault)?;
        }
        let part = facts.part(run_id, &out);
        tx.execute(
            &question_marks(sql::INSERT_PART),
            rusqlite::params_from_iter(part),
        )
        .map_err(fault)?;
        tx.execute(&question_marks(sql::CLOSE_IF_COMPLETE), [run_id])
            .map_err(fault)?;
        tx.commit().map_err(fault)?;
        Ok(out)
    }
}

/// The open run of the same job that this part completes, or a new run (`sql::RunRow`).
fn join_or_start(tx: &Transaction, run: &sql::RunRow) -> rusqlite::Result<i64> {
    let open: Option<i64> = match run.joins() {
        Some(p) => tx
            .query_row(
                &question_marks(sql::OPEN_RUN),
                rusqlite::params_from_iter(p),
                |r| r.get(0),
            )
            .optional()?,
        None => None,
    };
    if let Some(id) = open {
        tx.execute(
            &question_marks(sql::WIDEN_RUN),
            rusqlite::params_from_iter(run.widen(id)),
        )?;
        return Ok(id);
    }
    tx.query_row(
        &question_marks(sql::INSERT_RUN),
        rusqlite::params_from_iter(run.insert()),
        |r| r.get(0),
    )
}

/// Each read and write a statement of the recording's transaction.
struct SqliteLedger<'a> {
    tx: &'a Transaction<'a>,
}

impl Ledger for SqliteLedger<'_> {
    type Fault = rusqlite::Error;

    fn host(&mut self, k: &[u8]) -> rusqlite::Result<Option<HostRow>> {
        self.tx
            .prepare_cached(
                "SELECT status, detail, first_seen, last_up, last_probed, times_seen, macs,
                     prev_mac, last_run
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

    fn retract_gone(&mut self, run: i64, k: &[u8]) -> rusqlite::Result<bool> {
        let n = self
            .tx
            .prepare_cached("DELETE FROM events WHERE run = ?1 AND addr = ?2 AND kind = ?3")?
            .execute(params![run, k, EventKind::Gone.as_str()])?;
        Ok(n > 0)
    }

    fn mac_known(&mut self, m: Mac) -> rusqlite::Result<bool> {
        self.tx
            .prepare_cached("SELECT 1 FROM sightings WHERE mac = ?1 LIMIT 1")?
            .exists([mac_code(m)])
    }

    fn put_host(&mut self, k: &[u8], h: &HostRow) -> rusqlite::Result<()> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO hosts(addr, status, detail, first_seen, last_up,
                     last_probed, times_seen, macs, prev_mac, last_run)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                k,
                status_code(h.known.status),
                h.detail,
                h.first_seen,
                h.last_up,
                h.last_probed,
                h.times_seen,
                macs_text(&h.known.macs),
                h.known.prev_mac.map(mac_code),
                h.known.last_run,
            ])?;
        Ok(())
    }

    fn sighted(&mut self, k: &[u8], mac: Mac, at: i64) -> rusqlite::Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO sightings(addr, mac, first_seen, last_seen) VALUES (?1, ?2, ?3, ?3)
                 ON CONFLICT(addr, mac) DO UPDATE SET
                     first_seen = min(first_seen, excluded.first_seen),
                     last_seen = max(last_seen, excluded.last_seen)",
            )?
            .execute(params![k, mac_code(mac), at])?;
        Ok(())
    }

    fn event(&mut self, run: i64, at: i64, k: &[u8], j: &Judged) -> rusqlite::Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO events(run, at, addr, kind, mac, old_mac)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                run,
                at,
                k,
                j.kind.as_str(),
                j.mac.map(mac_code),
                j.old_mac.map(mac_code)
            ])?;
        Ok(())
    }
}
