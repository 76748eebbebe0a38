//! Recording one run (or part of one) in one transaction, in batches: each batch's stored
//! rows fetched in one query (`addr = ANY($1)`), its sightings judged in memory through
//! `ledger::step`, and what they changed written back with array binds (`unnest`), a few
//! statements per batch rather than a few per address. Memory stays flat: one batch at a
//! time, and the MACs known so far.

use super::{why, PgInventory, LOCK_WAIT, WRITERS};
use crate::error::{Error, Result};
use crate::store::codec::{mac_code, mac_of, macs_of, macs_text, status_code, status_of};
use crate::store::judge::{Judged, Known};
use crate::store::ledger::{step, HostRow, Ledger};
use crate::store::sql::{self, RunRow};
use crate::store::{EventKind, RecordOutcome, RunFacts, Sighting};
use crate::wire::ether::Mac;
use postgres::Transaction;
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::path::PathBuf;
use std::time::Duration;

/// Sightings judged per round trip: in batches of 8,192 a /16 night took 0.76 s, of
/// 32,768 0.61 s (medians of 40 nightly imports; 65,536 was no faster); the import's peak
/// memory 22 MB and 47 MB, flat beyond one batch.
const BATCH: usize = 32_768;

/// Attempts at starting a recording when the server asks for a retry.
const ATTEMPTS: u32 = 8;

impl PgInventory {
    pub(super) fn record_run(
        &mut self,
        run: &RunFacts,
        sightings: &mut dyn Iterator<Item = Result<Sighting>>,
    ) -> Result<RecordOutcome> {
        let shown = self.shown.clone();
        let fault = |e: postgres::Error| Error::Inventory {
            path: PathBuf::from(&shown),
            reason: why(&e),
        };
        let facts = RunRow::of(run);
        let c = self.live()?;
        // Until the first sighting is read, a serialization failure or a deadlock is
        // tried again (nothing is lost by it); the writers' lock makes them rare.
        let mut attempt = 0;
        let (mut tx, run_id) = loop {
            attempt += 1;
            let started = c.transaction().and_then(|mut tx| {
                tx.batch_execute(LOCK_WAIT)?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITERS])?;
                let id = join_or_start(&mut tx, &facts)?;
                Ok((tx, id))
            });
            match started {
                Ok(t) => break t,
                Err(e) if super::transient(&e) && attempt < ATTEMPTS => {
                    std::thread::sleep(Duration::from_millis(20 << attempt.min(6)));
                }
                Err(e) => return Err(fault(e)),
            }
        };
        let mut out = RecordOutcome {
            run: run_id,
            ..RecordOutcome::default()
        };
        let mut batch = Batch::new(run_id);
        let mut chunk = Vec::with_capacity(BATCH);
        loop {
            chunk.clear();
            for seen in (&mut *sightings).take(BATCH) {
                chunk.push(seen?);
            }
            if chunk.is_empty() {
                break;
            }
            batch.load(&mut tx, &chunk).map_err(fault)?;
            for seen in &chunk {
                let Ok(()) = step(&mut batch, run_id, facts.started, seen, &mut out);
            }
            batch.flush(&mut tx).map_err(fault)?;
        }
        let part = facts.part(run_id, &out);
        tx.execute(sql::INSERT_PART, &params(&part))
            .map_err(fault)?;
        tx.execute(sql::CLOSE_IF_COMPLETE, &[&run_id])
            .map_err(fault)?;
        tx.commit().map_err(fault)?;
        Ok(out)
    }
}

fn params(p: &[sql::Param]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    p.iter().map(|v| v as _).collect()
}

/// The open run this part completes, or a new run (`sql::RunRow`).
fn join_or_start(tx: &mut Transaction, run: &RunRow) -> std::result::Result<i64, postgres::Error> {
    if let Some(p) = run.joins() {
        if let Some(r) = tx.query_opt(sql::OPEN_RUN, &params(&p))? {
            let id: i64 = r.get(0);
            tx.execute(sql::WIDEN_RUN, &params(&run.widen(id)))?;
            return Ok(id);
        }
    }
    Ok(tx
        .query_one(sql::INSERT_RUN, &params(&run.insert()))?
        .get(0))
}

/// One batch's stored state, judged in memory, then written back.
struct Batch {
    run: i64,
    /// The rows of the batch's addresses (`None`: never probed), as judged so far.
    rows: HashMap<Vec<u8>, Option<HostRow>>,
    /// Addresses whose rows changed.
    dirty: HashSet<Vec<u8>>,
    /// The batch's addresses that have a stored row (an update, not an insert).
    stored: HashSet<Vec<u8>>,
    /// MACs seen on some address: found stored, or sighted by this recording.
    macs_known: HashSet<i64>,
    /// This run's `gone` events stored for the batch's addresses.
    gone: HashSet<Vec<u8>>,
    /// Of those, the ones taken back.
    retracted: Vec<Vec<u8>>,
    /// (address, MAC) → first and last sighting.
    sightings: HashMap<(Vec<u8>, i64), (i64, i64)>,
    /// Events in the order judged.
    events: Vec<Pending>,
}

/// An event to write: address, at, kind, MAC, old MAC.
type Pending = (Vec<u8>, i64, EventKind, Option<i64>, Option<i64>);

type PgResult<T> = std::result::Result<T, postgres::Error>;

impl Batch {
    fn new(run: i64) -> Batch {
        Batch {
            run,
            rows: HashMap::new(),
            dirty: HashSet::new(),
            stored: HashSet::new(),
            macs_known: HashSet::new(),
            gone: HashSet::new(),
            retracted: Vec::new(),
            sightings: HashMap::new(),
            events: Vec::new(),
        }
    }

    /// Fetches what `chunk` will be judged against: its addresses' rows, whether its MACs
    /// were ever seen, and this run's `gone` events on them (a second part of the run).
    fn load(&mut self, tx: &mut Transaction, chunk: &[Sighting]) -> PgResult<()> {
        let keys: Vec<Vec<u8>> = chunk
            .iter()
            .map(|s| crate::store::codec::key(s.addr))
            .collect();
        for k in &keys {
            self.rows.insert(k.clone(), None);
        }
        let mut same_run = Vec::new();
        for r in tx.query(
            "SELECT addr, status, detail, first_seen, last_up, last_probed, times_seen, macs,
                 prev_mac, last_run
             FROM hosts WHERE addr = ANY($1)",
            &[&keys],
        )? {
            let k: Vec<u8> = r.try_get(0)?;
            let first_seen: Option<i64> = r.try_get(3)?;
            let row = HostRow {
                known: Known {
                    status: status_of(r.try_get(1)?),
                    ever_up: first_seen.is_some(),
                    macs: macs_of(&r.try_get::<_, String>(7)?),
                    prev_mac: mac_of(r.try_get(8)?),
                    last_run: r.try_get(9)?,
                },
                first_seen,
                last_up: r.try_get(4)?,
                last_probed: r.try_get(5)?,
                times_seen: r.try_get(6)?,
                detail: r.try_get(2)?,
            };
            if row.known.last_run == self.run {
                same_run.push(k.clone());
            }
            self.stored.insert(k.clone());
            self.rows.insert(k, Some(row));
        }
        let macs: Vec<i64> = chunk
            .iter()
            .flat_map(|s| s.macs.iter().map(|&m| mac_code(m)))
            .filter(|m| !self.macs_known.contains(m))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if !macs.is_empty() {
            for r in tx.query(
                "SELECT DISTINCT mac FROM sightings WHERE mac = ANY($1)",
                &[&macs],
            )? {
                self.macs_known.insert(r.try_get(0)?);
            }
        }
        if !same_run.is_empty() {
            for r in tx.query(
                "SELECT addr FROM events WHERE run = $1 AND kind = $2 AND addr = ANY($3)",
                &[&self.run, &EventKind::Gone.as_str(), &same_run],
            )? {
                self.gone.insert(r.try_get(0)?);
            }
        }
        Ok(())
    }

    /// Writes what the batch changed, then forgets it (all but the MACs known).
    fn flush(&mut self, tx: &mut Transaction) -> PgResult<()> {
        if !self.retracted.is_empty() {
            tx.execute(
                "DELETE FROM events WHERE run = $1 AND kind = $2 AND addr = ANY($3)",
                &[&self.run, &EventKind::Gone.as_str(), &self.retracted],
            )?;
        }
        // Rows that exist are updated in place (no index column changes: PostgreSQL's
        // heap-only updates, in the room the table's fillfactor leaves); new ones inserted.
        let (mut old, mut new) = (HostColumns::default(), HostColumns::default());
        for k in self.dirty.drain() {
            if let Some(Some(row)) = self.rows.get(&k) {
                match self.stored.contains(&k) {
                    true => old.push(k, row),
                    false => new.push(k, row),
                }
            }
        }
        for (h, sql) in [
            (
                &old,
                "UPDATE hosts SET status = u.status, detail = u.detail,
                     first_seen = u.first_seen, last_up = u.last_up,
                     last_probed = u.last_probed, times_seen = u.times_seen, macs = u.macs,
                     prev_mac = u.prev_mac, last_run = u.last_run
                 FROM unnest($1::bytea[], $2::bigint[], $3::text[], $4::bigint[],
                     $5::bigint[], $6::bigint[], $7::bigint[], $8::text[], $9::bigint[],
                     $10::bigint[])
                     AS u(addr, status, detail, first_seen, last_up, last_probed, times_seen,
                          macs, prev_mac, last_run)
                 WHERE hosts.addr = u.addr",
            ),
            (
                &new,
                "INSERT INTO hosts(addr, status, detail, first_seen, last_up, last_probed,
                     times_seen, macs, prev_mac, last_run)
                 SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::text[], $4::bigint[],
                     $5::bigint[], $6::bigint[], $7::bigint[], $8::text[], $9::bigint[],
                     $10::bigint[])",
            ),
        ] {
            if h.addr.is_empty() {
                continue;
            }
            tx.execute(
                sql,
                &[
                    &h.addr,
                    &h.status,
                    &h.detail,
                    &h.first_seen,
                    &h.last_up,
                    &h.last_probed,
                    &h.times_seen,
                    &h.macs,
                    &h.prev_mac,
                    &h.last_run,
                ],
            )?;
        }
        if !self.sightings.is_empty() {
            let (mut addr, mut mac, mut first, mut last) = (vec![], vec![], vec![], vec![]);
            for ((k, m), (f, l)) in self.sightings.drain() {
                addr.push(k);
                mac.push(m);
                first.push(f);
                last.push(l);
            }
            tx.execute(
                "INSERT INTO sightings(addr, mac, first_seen, last_seen)
                 SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bigint[], $4::bigint[])
                 ON CONFLICT (addr, mac) DO UPDATE SET
                     first_seen = least(sightings.first_seen, excluded.first_seen),
                     last_seen = greatest(sightings.last_seen, excluded.last_seen)",
                &[&addr, &mac, &first, &last],
            )?;
        }
        if !self.events.is_empty() {
            let (mut addr, mut at, mut kind, mut mac, mut old) =
                (vec![], vec![], vec![], vec![], vec![]);
            for (k, t, e, m, o) in self.events.drain(..) {
                addr.push(k);
                at.push(t);
                kind.push(e.as_str());
                mac.push(m);
                old.push(o);
            }
            // In the order judged, so the events' ids are (as in SQLite).
            tx.execute(
                "INSERT INTO events(run, at, addr, kind, mac, old_mac)
                 SELECT $1, at, addr, kind, mac, old_mac
                 FROM unnest($2::bigint[], $3::bytea[], $4::text[], $5::bigint[], $6::bigint[])
                     WITH ORDINALITY AS e(at, addr, kind, mac, old_mac, n)
                 ORDER BY n",
                &[&self.run, &at, &addr, &kind, &mac, &old],
            )?;
        }
        self.rows.clear();
        self.stored.clear();
        self.gone.clear();
        self.retracted.clear();
        Ok(())
    }
}

/// The `hosts` rows of a flush, a column each.
#[derive(Default)]
struct HostColumns {
    addr: Vec<Vec<u8>>,
    status: Vec<i64>,
    detail: Vec<String>,
    first_seen: Vec<Option<i64>>,
    last_up: Vec<Option<i64>>,
    last_probed: Vec<i64>,
    times_seen: Vec<i64>,
    macs: Vec<String>,
    prev_mac: Vec<Option<i64>>,
    last_run: Vec<i64>,
}

impl HostColumns {
    fn push(&mut self, k: Vec<u8>, h: &HostRow) {
        self.addr.push(k);
        self.status.push(status_code(h.known.status));
        self.detail.push(h.detail.clone());
        self.first_seen.push(h.first_seen);
        self.last_up.push(h.last_up);
        self.last_probed.push(h.last_probed);
        self.times_seen.push(h.times_seen);
        self.macs.push(macs_text(&h.known.macs));
        self.prev_mac.push(h.known.prev_mac.map(mac_code));
        self.last_run.push(h.known.last_run);
    }
}

/// The batch as `step` sees it: reads and writes in memory, which cannot fail.
impl Ledger for Batch {
    type Fault = Infallible;

    fn host(&mut self, k: &[u8]) -> std::result::Result<Option<HostRow>, Infallible> {
        Ok(self.rows.get(k).cloned().flatten())
    }

    fn retract_gone(&mut self, run: i64, k: &[u8]) -> std::result::Result<bool, Infallible> {
        let pending = self
            .events
            .iter()
            .rposition(|e| e.0 == k && e.2 == EventKind::Gone);
        if let (Some(i), true) = (pending, run == self.run) {
            self.events.remove(i);
            return Ok(true);
        }
        if run == self.run && self.gone.remove(k) {
            self.retracted.push(k.to_vec());
            return Ok(true);
        }
        Ok(false)
    }

    fn mac_known(&mut self, m: Mac) -> std::result::Result<bool, Infallible> {
        Ok(self.macs_known.contains(&mac_code(m)))
    }

    fn put_host(&mut self, k: &[u8], row: &HostRow) -> std::result::Result<(), Infallible> {
        self.rows.insert(k.to_vec(), Some(row.clone()));
        self.dirty.insert(k.to_vec());
        Ok(())
    }

    fn sighted(&mut self, k: &[u8], mac: Mac, at: i64) -> std::result::Result<(), Infallible> {
        let code = mac_code(mac);
        self.macs_known.insert(code);
        let e = self.sightings.entry((k.to_vec(), code)).or_insert((at, at));
        e.0 = e.0.min(at);
        e.1 = e.1.max(at);
        Ok(())
    }

    fn event(
        &mut self,
        _run: i64,
        at: i64,
        k: &[u8],
        j: &Judged,
    ) -> std::result::Result<(), Infallible> {
        self.events.push((
            k.to_vec(),
            at,
            j.kind,
            j.mac.map(mac_code),
            j.old_mac.map(mac_code),
        ));
        Ok(())
    }
}
