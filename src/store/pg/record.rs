//! Recording one run (or part of one) in one transaction, in batches: each batch's stored
//! rows fetched in one query (`addr = ANY($1)`), its sightings judged in memory through
//! `ledger::step`, and what they changed written back with array binds (`unnest`), a few
//! statements per batch rather than a few per address. Memory stays flat: one batch at a
//! time, and the MACs known so far.
//!
//! Only what changed is written: an address whose row changed in nothing but its last
//! probe (the time and the run) is not rewritten when it lies in a span of consecutive
//! addresses the batch probed; the span is written once, to `probed` (`schema::V2`), and
//! the view `hosts` gives each row the last probe of the newest span covering it. On a
//! nightly /16 that leaves the rows of the hosts up (their count and last answer move)
//! and of the addresses whose state changed.

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
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;
use std::time::Duration;

/// Sightings judged per round trip: in batches of 8,192 a /16 night took 0.76 s, of
/// 32,768 0.61 s (medians of 40 nightly imports; 65,536 was no faster); the import's peak
/// memory 22 MB and 47 MB, flat beyond one batch.
const BATCH: usize = 32_768;

/// Consecutive addresses probed fewer than this are written row by row, not as a span:
/// a span is a row of its own, and every row under it looks it up when read.
const MIN_SPAN: usize = 16;

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
        let mut batch = Batch::new(run_id, facts.started);
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

/// The batch's maps, keyed by addresses: SipHash (std's default) took about an eighth of
/// the client's time recording a /16 (perf); the keys are 5 or 17 bytes. With this the
/// median /16 import went from 0.515 s to 0.489 s (60 nights each, back to back).
type Map<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;
type Set<K> = HashSet<K, BuildHasherDefault<KeyHasher>>;

/// FxHash's mix (rustc's), eight bytes at a time, then a finalizer.
#[derive(Default)]
struct KeyHasher(u64);

impl KeyHasher {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.add(v);
    }

    fn write_usize(&mut self, v: usize) {
        self.add(v as u64);
    }

    /// Mixed once more (MurmurHash3's finalizer): the multiply leaves the low bits,
    /// which pick the bucket, depending only on the low bytes of the words, and those
    /// are the same for every address of a /16.
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// One batch's stored state, judged in memory, then written back.
struct Batch {
    run: i64,
    /// When the run started: the last probe of the addresses it probes.
    at: i64,
    /// The rows of the batch's addresses (`None`: never probed), as judged so far.
    rows: Map<Vec<u8>, Option<HostRow>>,
    /// Addresses whose rows changed.
    dirty: Set<Vec<u8>>,
    /// The batch's addresses that have a stored row (an update, not an insert), as loaded.
    stored: Map<Vec<u8>, HostRow>,
    /// MACs seen on some address: found stored, or sighted by this recording.
    macs_known: HashSet<i64>,
    /// This run's `gone` events stored for the batch's addresses.
    gone: Set<Vec<u8>>,
    /// Of those, the ones taken back.
    retracted: Vec<Vec<u8>>,
    /// (address, MAC) → first and last sighting.
    sightings: Map<(Vec<u8>, i64), (i64, i64)>,
    /// Events in the order judged.
    events: Vec<Pending>,
}

/// An event to write: address, at, kind, MAC, old MAC.
type Pending = (Vec<u8>, i64, EventKind, Option<i64>, Option<i64>);

type PgResult<T> = std::result::Result<T, postgres::Error>;

impl Batch {
    fn new(run: i64, at: i64) -> Batch {
        Batch {
            run,
            at,
            rows: Map::default(),
            dirty: Set::default(),
            stored: Map::default(),
            macs_known: HashSet::new(),
            gone: Set::default(),
            retracted: Vec::new(),
            sightings: Map::default(),
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
        // The spans that may cover the batch's rows, newest first.
        let mut spans = Vec::new();
        if let (Some(lo), Some(hi)) = (keys.iter().min(), keys.iter().max()) {
            for r in tx.query(
                "SELECT seq, run, at, lo, hi FROM probed WHERE lo <= $1 AND hi >= $2
                 ORDER BY seq DESC",
                &[hi, lo],
            )? {
                spans.push(Span {
                    seq: r.try_get(0)?,
                    run: r.try_get(1)?,
                    at: r.try_get(2)?,
                    lo: r.try_get(3)?,
                    hi: r.try_get(4)?,
                });
            }
        }
        let mut same_run = Vec::new();
        for r in tx.query(
            "SELECT addr, status, detail, first_seen, last_up, last_probed, times_seen, macs,
                 prev_mac, last_run, seq
             FROM host_rows WHERE addr = ANY($1)",
            &[&keys],
        )? {
            let k: Vec<u8> = r.try_get(0)?;
            let first_seen: Option<i64> = r.try_get(3)?;
            let seq: i64 = r.try_get(10)?;
            let mut row = HostRow {
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
            // As the view `hosts` reads it: the newest span written after the row.
            if let Some(s) = spans.iter().find(|s| s.seq > seq && s.lo <= k && k <= s.hi) {
                row.last_probed = s.at;
                row.known.last_run = s.run;
            }
            if row.known.last_run == self.run {
                same_run.push(k.clone());
            }
            self.stored.insert(k.clone(), row.clone());
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
        let seq: i64 = tx.query_one("SELECT nextval('flushes')", &[])?.get(0);
        // Spans of consecutive addresses probed, each holding one whose row changed in
        // nothing but its last probe: those rows are left as they are, the span says it.
        // The rows written by this flush carry its `seq`, so a span of the same flush
        // never overrides them.
        let mut probed: Vec<&Vec<u8>> = self.dirty.iter().collect();
        probed.sort_unstable();
        let (mut lo, mut hi, mut covered) = (Vec::new(), Vec::new(), Set::default());
        let mut i = 0;
        while i < probed.len() {
            let mut j = i + 1;
            while j < probed.len() && follows(probed[j - 1], probed[j]) {
                j += 1;
            }
            let run = &probed[i..j];
            if run.len() >= MIN_SPAN {
                let len = covered.len();
                covered.extend(
                    run.iter()
                        .filter(|k| self.only_probed(k))
                        .map(|k| (*k).clone()),
                );
                if covered.len() > len {
                    lo.push(run[0].clone());
                    hi.push(run[run.len() - 1].clone());
                }
            }
            i = j;
        }
        if !lo.is_empty() {
            // Older spans that one of these contains can never be the newest again.
            tx.execute(
                "DELETE FROM probed p USING unnest($1::bytea[], $2::bytea[]) AS n(lo, hi)
                 WHERE p.seq < $3 AND p.lo >= n.lo AND p.hi <= n.hi",
                &[&lo, &hi, &seq],
            )?;
            tx.execute(
                "INSERT INTO probed(seq, run, at, lo, hi)
                 SELECT $1, $2, $3, lo, hi FROM unnest($4::bytea[], $5::bytea[]) AS n(lo, hi)",
                &[&seq, &self.run, &self.at, &lo, &hi],
            )?;
        }
        // Rows that exist are updated in place (no index column changes: PostgreSQL's
        // heap-only updates, in the room the table's fillfactor leaves); new ones inserted.
        let (mut old, mut new) = (HostColumns::default(), HostColumns::default());
        for k in self.dirty.drain() {
            if covered.contains(&k) {
                continue;
            }
            if let Some(Some(row)) = self.rows.get(&k) {
                match self.stored.contains_key(&k) {
                    true => old.push(k, row),
                    false => new.push(k, row),
                }
            }
        }
        for (h, sql) in [
            (
                &old,
                "UPDATE host_rows SET status = u.status, detail = u.detail,
                     first_seen = u.first_seen, last_up = u.last_up,
                     last_probed = u.last_probed, times_seen = u.times_seen, macs = u.macs,
                     prev_mac = u.prev_mac, last_run = u.last_run, seq = $11
                 FROM unnest($1::bytea[], $2::bigint[], $3::text[], $4::bigint[],
                     $5::bigint[], $6::bigint[], $7::bigint[], $8::text[], $9::bigint[],
                     $10::bigint[])
                     AS u(addr, status, detail, first_seen, last_up, last_probed, times_seen,
                          macs, prev_mac, last_run)
                 WHERE host_rows.addr = u.addr",
            ),
            (
                &new,
                "INSERT INTO host_rows(addr, status, detail, first_seen, last_up, last_probed,
                     times_seen, macs, prev_mac, last_run, seq)
                 SELECT *, $11 FROM unnest($1::bytea[], $2::bigint[], $3::text[], $4::bigint[],
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
                    &seq,
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

/// A span of `probed`: every address from `lo` to `hi` probed at `at` by run `run`.
struct Span {
    seq: i64,
    run: i64,
    at: i64,
    lo: Vec<u8>,
    hi: Vec<u8>,
}

impl Batch {
    /// Whether `k`'s row changed in nothing but its last probe, now this run's: what a
    /// span of `probed` says of every address it covers.
    fn only_probed(&self, k: &[u8]) -> bool {
        let (Some(old), Some(Some(new))) = (self.stored.get(k), self.rows.get(k)) else {
            return false;
        };
        new.last_probed == self.at
            && new.known.last_run == self.run
            && new.known.status == old.known.status
            && new.known.ever_up == old.known.ever_up
            && new.known.macs == old.known.macs
            && new.known.prev_mac == old.known.prev_mac
            && new.first_seen == old.first_seen
            && new.last_up == old.last_up
            && new.times_seen == old.times_seen
            && new.detail == old.detail
    }
}

/// Whether key `b` is the address after key `a` (same family, one more).
fn follows(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() || a.is_empty() || a[0] != b[0] {
        return false;
    }
    // The last byte that is not 0xff goes up by one, the 0xff after it wrap to 0.
    let Some(i) = a[1..].iter().rposition(|&x| x != 0xff).map(|p| p + 1) else {
        return false;
    };
    a[..i] == b[..i]
        && b[i] == a[i] + 1
        && a[i + 1..].iter().all(|&x| x == 0xff)
        && b[i + 1..].iter().all(|&x| x == 0)
}

/// The `host_rows` rows of a flush, a column each.
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
