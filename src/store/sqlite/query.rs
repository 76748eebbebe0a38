//! The questions, each its SQL beside the trait method that asks it, and the `Inventory`
//! implementation that ties them to recording.

use super::{addr_of, key, mac_of, macs_of, ms, span_keys, status_of, time, SqliteInventory};
use crate::error::{Error, Result};
use crate::store::{
    EventEntry, EventKind, EventsQuery, HostEntry, HostsQuery, Inventory, Pruned, RecordOutcome,
    RunEntry, RunFacts, Sighting, TimelineEntry, Vacancy,
};
use crate::targets::Span;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, OptionalExtension, Row};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::SystemTime;

/// The most addresses `free` walks: a /8's worth.
const MAX_FREE: u128 = 1 << 24;

/// `(addr BETWEEN ? AND ? OR …)` over `ranges` (nothing when empty), its values appended.
fn in_ranges(col: &str, ranges: &[Span], values: &mut Vec<Value>) -> String {
    if ranges.is_empty() {
        return "1".into();
    }
    let parts: Vec<String> = ranges
        .iter()
        .map(|s| {
            let (lo, hi) = span_keys(s);
            values.push(Value::Blob(lo));
            values.push(Value::Blob(hi));
            format!("{col} BETWEEN ?{} AND ?{}", values.len() - 1, values.len())
        })
        .collect();
    format!("({})", parts.join(" OR "))
}

impl SqliteInventory {
    fn damaged(&self, what: &str) -> Error {
        Error::Inventory {
            path: self.path.clone(),
            reason: format!("a damaged {what} in the database"),
        }
    }

    fn host_entry(&self, r: &Row) -> rusqlite::Result<Option<HostEntry>> {
        let k: Vec<u8> = r.get(0)?;
        let Some(addr) = addr_of(&k) else {
            return Ok(None);
        };
        Ok(Some(HostEntry {
            addr,
            status: status_of(r.get(1)?),
            detail: r.get(2)?,
            first_seen: r.get::<_, Option<i64>>(3)?.map(time),
            last_seen: r.get::<_, Option<i64>>(4)?.map(time),
            last_probed: time(r.get(5)?),
            times_seen: u64::try_from(r.get::<_, i64>(6)?).unwrap_or(0),
            macs: macs_of(&r.get::<_, String>(7)?),
        }))
    }

    fn event_entry(r: &Row) -> rusqlite::Result<Option<EventEntry>> {
        let k: Vec<u8> = r.get(2)?;
        let kind: String = r.get(3)?;
        let (Some(addr), Some(kind)) = (addr_of(&k), EventKind::parse(&kind)) else {
            return Ok(None);
        };
        Ok(Some(EventEntry {
            at: time(r.get(0)?),
            run: r.get(1)?,
            addr,
            kind,
            mac: mac_of(r.get(4)?),
            old_mac: mac_of(r.get(5)?),
        }))
    }
}

const HOST_COLUMNS: &str =
    "addr, status, detail, first_seen, last_up, last_probed, times_seen, macs";

/// Streams `sql`'s rows through `row` then `each`; a row `row` cannot read is damage.
fn stream<T>(
    inv: &SqliteInventory,
    sql: &str,
    values: Vec<Value>,
    row: &dyn Fn(&Row) -> rusqlite::Result<Option<T>>,
    each: &mut dyn FnMut(T) -> io::Result<()>,
) -> Result<u64> {
    let fault = |e| super::fault(&inv.path, e);
    let mut stmt = inv.conn.prepare(sql).map_err(fault)?;
    let mut rows = stmt.query(params_from_iter(values)).map_err(fault)?;
    let mut n = 0;
    while let Some(r) = rows.next().map_err(fault)? {
        let item = row(r).map_err(fault)?.ok_or_else(|| inv.damaged("row"))?;
        each(item).map_err(Error::Write)?;
        n += 1;
    }
    Ok(n)
}

impl Inventory for SqliteInventory {
    fn record(
        &mut self,
        run: &RunFacts,
        sightings: &mut dyn Iterator<Item = Result<Sighting>>,
    ) -> Result<RecordOutcome> {
        self.record_run(run, sightings)
    }

    fn newest_start(&self) -> Result<Option<SystemTime>> {
        let newest: Option<i64> = self
            .conn
            .query_row("SELECT max(started) FROM runs", [], |r| r.get(0))
            .map_err(|e| self.fault(e))?;
        Ok(newest.map(time))
    }

    fn hosts(
        &self,
        q: &HostsQuery,
        each: &mut dyn FnMut(HostEntry) -> io::Result<()>,
    ) -> Result<u64> {
        let mut values = Vec::new();
        let mut cond = vec![in_ranges("addr", &q.ranges, &mut values)];
        if !q.all {
            cond.push("first_seen IS NOT NULL".into());
        }
        for (sql, t) in [
            ("first_seen >= ?", q.new_since),
            ("last_up >= ?", q.seen_since),
            ("last_up < ?", q.not_seen_since),
        ] {
            if let Some(t) = t {
                values.push(Value::Integer(ms(t)));
                cond.push(sql.replace('?', &format!("?{}", values.len())));
            }
        }
        let sql = format!(
            "SELECT {HOST_COLUMNS} FROM hosts WHERE {} ORDER BY addr",
            cond.join(" AND ")
        );
        stream(self, &sql, values, &|r| self.host_entry(r), each)
    }

    fn events(
        &self,
        q: &EventsQuery,
        each: &mut dyn FnMut(EventEntry) -> io::Result<()>,
    ) -> Result<u64> {
        let mut values = Vec::new();
        let mut cond = vec![in_ranges("addr", &q.ranges, &mut values)];
        for (sql, t) in [("at >= ?", q.since), ("at < ?", q.until)] {
            if let Some(t) = t {
                values.push(Value::Integer(ms(t)));
                cond.push(sql.replace('?', &format!("?{}", values.len())));
            }
        }
        if !q.kinds.is_empty() {
            let marks: Vec<String> = q
                .kinds
                .iter()
                .map(|k| {
                    values.push(Value::Text(k.as_str().into()));
                    format!("?{}", values.len())
                })
                .collect();
            cond.push(format!("kind IN ({})", marks.join(",")));
        }
        let sql = format!(
            "SELECT at, run, addr, kind, mac, old_mac FROM events WHERE {} ORDER BY at, id",
            cond.join(" AND ")
        );
        stream(self, &sql, values, &Self::event_entry, each)
    }

    fn host(&self, addr: IpAddr) -> Result<Option<(HostEntry, Vec<TimelineEntry>)>> {
        let fault = |e| self.fault(e);
        let k = key(addr);
        let entry = self
            .conn
            .query_row(
                &format!("SELECT {HOST_COLUMNS} FROM hosts WHERE addr = ?1"),
                [&k],
                |r| self.host_entry(r),
            )
            .optional()
            .map_err(fault)?;
        let Some(entry) = entry else {
            return Ok(None);
        };
        let entry = entry.ok_or_else(|| self.damaged("host"))?;
        let mut line = Vec::new();
        let mut stmt = self
            .conn
            .prepare("SELECT at, run, addr, kind, mac, old_mac FROM events WHERE addr = ?1 ORDER BY at, id")
            .map_err(fault)?;
        let mut rows = stmt.query([&k]).map_err(fault)?;
        while let Some(r) = rows.next().map_err(fault)? {
            if let Some(e) = Self::event_entry(r).map_err(fault)? {
                line.push(TimelineEntry {
                    at: e.at,
                    what: e.kind.as_str().into(),
                    mac: e.mac,
                    old_mac: e.old_mac,
                });
            }
        }
        let mut stmt = self
            .conn
            .prepare("SELECT mac, first_seen, last_seen FROM sightings WHERE addr = ?1")
            .map_err(fault)?;
        let mut rows = stmt.query([&k]).map_err(fault)?;
        while let Some(r) = rows.next().map_err(fault)? {
            let mac = mac_of(r.get(0).map_err(fault)?);
            for (what, col) in [("mac-first-seen", 1), ("mac-last-seen", 2)] {
                line.push(TimelineEntry {
                    at: time(r.get(col).map_err(fault)?),
                    what: what.into(),
                    mac,
                    old_mac: None,
                });
            }
        }
        // Time order; at one instant, events before the MAC's own first/last lines.
        let rank =
            |t: &TimelineEntry| matches!(t.what.as_str(), "mac-first-seen" | "mac-last-seen");
        line.sort_by_key(|t| (t.at, rank(t)));
        Ok(Some((entry, line)))
    }

    fn free(
        &self,
        ranges: &[Span],
        since: SystemTime,
        each: &mut dyn FnMut(IpAddr, Vacancy) -> io::Result<()>,
    ) -> Result<u64> {
        let fault = |e| self.fault(e);
        let total: u128 = ranges.iter().map(Span::size).fold(0, u128::saturating_add);
        if total > MAX_FREE {
            return Err(Error::BadValue {
                flag: "RANGE",
                token: format!("{total} addresses"),
                reason: format!("free walks at most {MAX_FREE} addresses; ask for a smaller range"),
            });
        }
        let cut = ms(since);
        let mut stmt = self
            .conn
            .prepare("SELECT addr, first_seen, last_up FROM hosts WHERE addr BETWEEN ?1 AND ?2 ORDER BY addr")
            .map_err(fault)?;
        let mut n = 0;
        for s in ranges {
            let (lo, hi) = span_keys(s);
            let mut rows = stmt.query(params![lo, hi]).map_err(fault)?;
            let mut next = rows.next().map_err(fault)?;
            let mut v = s.first;
            loop {
                let addr: IpAddr = if s.v6 {
                    Ipv6Addr::from(v).into()
                } else {
                    Ipv4Addr::from(u32::try_from(v).unwrap_or(u32::MAX)).into()
                };
                let k = key(addr);
                // The stored row for this address, if any (rows and addresses both ascend).
                let mut stored = None;
                while let Some(r) = next {
                    let rk: Vec<u8> = r.get(0).map_err(fault)?;
                    if rk > k {
                        break;
                    }
                    if rk == k {
                        stored = Some((
                            r.get::<_, Option<i64>>(1).map_err(fault)?,
                            r.get::<_, Option<i64>>(2).map_err(fault)?,
                        ));
                    }
                    next = rows.next().map_err(fault)?;
                }
                let vacancy = match stored {
                    None => Some(Vacancy::NeverProbed),
                    Some((None, _)) => Some(Vacancy::NeverUp),
                    Some((Some(_), Some(up))) if up < cut => Some(Vacancy::LastUp(time(up))),
                    Some((Some(_), None)) => Some(Vacancy::NeverUp),
                    Some(_) => None,
                };
                if let Some(vacancy) = vacancy {
                    each(addr, vacancy).map_err(Error::Write)?;
                    n += 1;
                }
                if v >= s.last {
                    break;
                }
                v += 1;
            }
        }
        Ok(n)
    }

    fn runs(&self, each: &mut dyn FnMut(RunEntry) -> io::Result<()>) -> Result<u64> {
        let sql =
            "SELECT r.id, r.job, r.started, r.ended, r.targets, r.seed, r.shards, r.source, r.open,
                count(p.id), coalesce(sum(p.probed), 0), coalesce(sum(p.up), 0),
                coalesce(sum(p.events), 0),
                (SELECT exit FROM parts WHERE run = r.id ORDER BY id DESC LIMIT 1),
                (SELECT command FROM parts WHERE run = r.id ORDER BY id LIMIT 1)
             FROM runs r LEFT JOIN parts p ON p.run = r.id
             GROUP BY r.id ORDER BY r.started, r.id";
        let count = |v: i64| u64::try_from(v).unwrap_or(0);
        stream(
            self,
            sql,
            Vec::new(),
            &|r| {
                Ok(Some(RunEntry {
                    id: r.get(0)?,
                    job: r.get(1)?,
                    started: time(r.get(2)?),
                    ended: time(r.get(3)?),
                    targets: r.get(4)?,
                    seed: r.get::<_, Option<String>>(5)?.and_then(|s| s.parse().ok()),
                    shards: count(r.get(6)?),
                    source: r.get(7)?,
                    interrupted: r.get::<_, i64>(8)? != 0,
                    parts: count(r.get(9)?),
                    probed: count(r.get(10)?),
                    up: count(r.get(11)?),
                    events: count(r.get(12)?),
                    // The last part's: a resumed run that completed is the run's outcome.
                    exit: u8::try_from(r.get::<_, Option<i64>>(13)?.unwrap_or(0))
                        .unwrap_or(u8::MAX),
                    command: r.get::<_, Option<String>>(14)?.unwrap_or_default(),
                }))
            },
            each,
        )
    }

    fn prune(&mut self, before: SystemTime) -> Result<Pruned> {
        let path = self.path.clone();
        let fault = |e| super::fault(&path, e);
        let cut = ms(before);
        let tx = self.conn.transaction().map_err(fault)?;
        let events = tx
            .execute("DELETE FROM events WHERE at < ?1", [cut])
            .map_err(fault)?;
        tx.execute(
            "DELETE FROM parts WHERE run IN (SELECT id FROM runs WHERE started < ?1)",
            [cut],
        )
        .map_err(fault)?;
        let runs = tx
            .execute("DELETE FROM runs WHERE started < ?1", [cut])
            .map_err(fault)?;
        tx.commit().map_err(fault)?;
        Ok(Pruned {
            runs: runs as u64,
            events: events as u64,
        })
    }
}
