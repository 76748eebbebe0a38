//! The questions, answered the same way by every backend: each is `sql.rs`'s SQL, run
//! through the backend's `Reader`, its rows read into the store's entries here.

use crate::error::{Error, Result};
use crate::store::codec::{addr_of, key, mac_of, macs_of, ms, span_keys, status_of, time};
use crate::store::sql::{self, in_ranges, mark, Cols, Param};
use crate::store::{
    EventEntry, EventKind, EventsQuery, HostEntry, HostsQuery, Inventory, Pruned, RecordOutcome,
    RunEntry, RunFacts, Sighting, TimelineEntry, Vacancy,
};
use crate::targets::Span;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::SystemTime;

/// A backend's reads: `each` gets `sql`'s rows in order.
pub trait Reader {
    fn rows(
        &self,
        sql: &str,
        values: &[Param],
        each: &mut dyn FnMut(&dyn Cols) -> Result<()>,
    ) -> Result<()>;
    /// The error for a row that cannot be read (a damaged database).
    fn damaged(&self, what: &str) -> Error;
}

/// A backend: its reads, its recording and its pruning. The questions are this file's,
/// the same for every backend: each `Backend` is an `Inventory` by the impl below.
pub trait Backend: Reader {
    /// `Inventory::record`.
    fn record_one(
        &mut self,
        run: &RunFacts,
        sightings: &mut dyn Iterator<Item = Result<Sighting>>,
    ) -> Result<RecordOutcome>;
    /// `Inventory::prune`: `sql::PRUNE` in one transaction.
    fn prune_before(&mut self, before: SystemTime) -> Result<Pruned>;
}

impl<B: Backend> Inventory for B {
    fn record(
        &mut self,
        run: &RunFacts,
        sightings: &mut dyn Iterator<Item = Result<Sighting>>,
    ) -> Result<RecordOutcome> {
        self.record_one(run, sightings)
    }

    fn newest_start(&self) -> Result<Option<SystemTime>> {
        newest_start(self)
    }

    fn hosts(
        &self,
        q: &HostsQuery,
        each: &mut dyn FnMut(HostEntry) -> io::Result<()>,
    ) -> Result<u64> {
        hosts(self, q, each)
    }

    fn events(
        &self,
        q: &EventsQuery,
        each: &mut dyn FnMut(EventEntry) -> io::Result<()>,
    ) -> Result<u64> {
        events(self, q, each)
    }

    fn host(&self, addr: IpAddr) -> Result<Option<(HostEntry, Vec<TimelineEntry>)>> {
        host(self, addr)
    }

    fn free(
        &self,
        ranges: &[Span],
        since: SystemTime,
        each: &mut dyn FnMut(IpAddr, Vacancy) -> io::Result<()>,
    ) -> Result<u64> {
        free(self, ranges, since, each)
    }

    fn runs(&self, each: &mut dyn FnMut(RunEntry) -> io::Result<()>) -> Result<u64> {
        runs(self, each)
    }

    fn prune(&mut self, before: SystemTime) -> Result<Pruned> {
        self.prune_before(before)
    }
}

/// The most addresses `free` walks: a /8's worth.
const MAX_FREE: u128 = 1 << 24;

fn host_entry(r: &dyn Cols) -> Result<Option<HostEntry>> {
    let Some(addr) = addr_of(&r.bytes(0)?) else {
        return Ok(None);
    };
    Ok(Some(HostEntry {
        addr,
        status: status_of(r.int(1)?),
        detail: r.text(2)?,
        first_seen: r.opt_int(3)?.map(time),
        last_seen: r.opt_int(4)?.map(time),
        last_probed: time(r.int(5)?),
        times_seen: u64::try_from(r.int(6)?).unwrap_or(0),
        macs: macs_of(&r.text(7)?),
    }))
}

fn event_entry(r: &dyn Cols) -> Result<Option<EventEntry>> {
    let (Some(addr), Some(kind)) = (addr_of(&r.bytes(2)?), EventKind::parse(&r.text(3)?)) else {
        return Ok(None);
    };
    Ok(Some(EventEntry {
        at: time(r.int(0)?),
        run: r.int(1)?,
        addr,
        kind,
        mac: mac_of(r.opt_int(4)?),
        old_mac: mac_of(r.opt_int(5)?),
    }))
}

fn run_entry(r: &dyn Cols) -> Result<Option<RunEntry>> {
    let count = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(Some(RunEntry {
        id: r.int(0)?,
        job: r.text(1)?,
        started: time(r.int(2)?),
        ended: time(r.int(3)?),
        targets: r.text(4)?,
        seed: r.opt_text(5)?.and_then(|s| s.parse().ok()),
        shards: count(r.int(6)?),
        source: r.text(7)?,
        interrupted: r.int(8)? != 0,
        parts: count(r.int(9)?),
        missing: Vec::new(),
        probed: count(r.int(10)?),
        up: count(r.int(11)?),
        events: count(r.int(12)?),
        // The last part's: a resumed run that completed is the run's outcome.
        exit: u8::try_from(r.opt_int(13)?.unwrap_or(0)).unwrap_or(u8::MAX),
        command: r.opt_text(14)?.unwrap_or_default(),
    }))
}

/// Streams `sql`'s rows through `read` then `each`; a row `read` cannot make is damage.
fn stream<T>(
    db: &dyn Reader,
    sql: &str,
    values: &[Param],
    read: fn(&dyn Cols) -> Result<Option<T>>,
    each: &mut dyn FnMut(T) -> io::Result<()>,
) -> Result<u64> {
    let mut n = 0;
    db.rows(sql, values, &mut |r| {
        let item = read(r)?.ok_or_else(|| db.damaged("row"))?;
        each(item).map_err(Error::Write)?;
        n += 1;
        Ok(())
    })?;
    Ok(n)
}

pub fn newest_start(db: &dyn Reader) -> Result<Option<SystemTime>> {
    let mut newest = None;
    db.rows(sql::NEWEST_START, &[], &mut |r| {
        newest = r.opt_int(0)?.map(time);
        Ok(())
    })?;
    Ok(newest)
}

pub fn hosts(
    db: &dyn Reader,
    q: &HostsQuery,
    each: &mut dyn FnMut(HostEntry) -> io::Result<()>,
) -> Result<u64> {
    let mut values = Vec::new();
    let mut cond = vec![in_ranges("addr", &q.ranges, &mut values)];
    if !q.all {
        cond.push("first_seen IS NOT NULL".into());
    }
    for (col, op, t) in [
        ("first_seen", ">=", q.new_since),
        ("last_up", ">=", q.seen_since),
        ("last_up", "<", q.not_seen_since),
    ] {
        if let Some(t) = t {
            cond.push(format!(
                "{col} {op} {}",
                mark(&mut values, Param::Int(ms(t)))
            ));
        }
    }
    let sql = format!(
        "SELECT {} FROM hosts WHERE {} ORDER BY addr",
        sql::HOST_COLUMNS,
        cond.join(" AND ")
    );
    stream(db, &sql, &values, host_entry, each)
}

pub fn events(
    db: &dyn Reader,
    q: &EventsQuery,
    each: &mut dyn FnMut(EventEntry) -> io::Result<()>,
) -> Result<u64> {
    let mut values = Vec::new();
    let mut cond = vec![in_ranges("addr", &q.ranges, &mut values)];
    for (op, t) in [(">=", q.since), ("<", q.until)] {
        if let Some(t) = t {
            cond.push(format!("at {op} {}", mark(&mut values, Param::Int(ms(t)))));
        }
    }
    if !q.kinds.is_empty() {
        let marks: Vec<String> = q
            .kinds
            .iter()
            .map(|k| mark(&mut values, Param::Text(k.as_str().into())))
            .collect();
        cond.push(format!("kind IN ({})", marks.join(",")));
    }
    let sql = format!(
        "SELECT {} FROM events WHERE {} ORDER BY at, id",
        sql::EVENT_COLUMNS,
        cond.join(" AND ")
    );
    stream(db, &sql, &values, event_entry, each)
}

pub fn host(db: &dyn Reader, addr: IpAddr) -> Result<Option<(HostEntry, Vec<TimelineEntry>)>> {
    let k = vec![Param::Bytes(key(addr))];
    let mut entry = None;
    db.rows(
        &format!("SELECT {} FROM hosts WHERE addr = $1", sql::HOST_COLUMNS),
        &k,
        &mut |r| {
            entry = Some(host_entry(r)?.ok_or_else(|| db.damaged("host"))?);
            Ok(())
        },
    )?;
    let Some(entry) = entry else {
        return Ok(None);
    };
    let mut line = Vec::new();
    db.rows(sql::HOST_EVENTS, &k, &mut |r| {
        if let Some(e) = event_entry(r)? {
            line.push(TimelineEntry {
                at: e.at,
                what: e.kind.as_str().into(),
                mac: e.mac,
                old_mac: e.old_mac,
            });
        }
        Ok(())
    })?;
    db.rows(sql::HOST_MACS, &k, &mut |r| {
        let mac = mac_of(r.opt_int(0)?);
        for (what, col) in [("mac-first-seen", 1), ("mac-last-seen", 2)] {
            line.push(TimelineEntry {
                at: time(r.int(col)?),
                what: what.into(),
                mac,
                old_mac: None,
            });
        }
        Ok(())
    })?;
    // Time order; at one instant, events before the MAC's own first/last lines.
    let rank = |t: &TimelineEntry| matches!(t.what.as_str(), "mac-first-seen" | "mac-last-seen");
    line.sort_by_key(|t| (t.at, rank(t)));
    Ok(Some((entry, line)))
}

/// The addresses of `ranges` not seen up since `since`: each range's stored rows, in
/// address order, merged with the walk over its addresses.
pub fn free(
    db: &dyn Reader,
    ranges: &[Span],
    since: SystemTime,
    each: &mut dyn FnMut(IpAddr, Vacancy) -> io::Result<()>,
) -> Result<u64> {
    let total: u128 = ranges.iter().map(Span::size).fold(0, u128::saturating_add);
    if total > MAX_FREE {
        return Err(Error::BadValue {
            flag: "RANGE",
            token: format!("{total} addresses"),
            reason: format!("free walks at most {MAX_FREE} addresses; ask for a smaller range"),
        });
    }
    let cut = ms(since);
    let mut n = 0;
    for s in ranges {
        let at = |v: u128| -> IpAddr {
            if s.v6 {
                Ipv6Addr::from(v).into()
            } else {
                Ipv4Addr::from(u32::try_from(v).unwrap_or(u32::MAX)).into()
            }
        };
        let mut say = |addr: IpAddr, v: Vacancy| -> Result<()> {
            each(addr, v).map_err(Error::Write)?;
            n += 1;
            Ok(())
        };
        // The next address of the range not yet said (`None`: past its end).
        let mut next = Some(s.first);
        let (lo, hi) = span_keys(s);
        db.rows(
            sql::FREE_ROWS,
            &[Param::Bytes(lo), Param::Bytes(hi)],
            &mut |r| {
                let Some(addr) = addr_of(&r.bytes(0)?) else {
                    return Ok(());
                };
                let v = match addr {
                    IpAddr::V4(a) => u128::from(u32::from(a)),
                    IpAddr::V6(a) => u128::from(a),
                };
                // The addresses before this row were never probed.
                while let Some(w) = next.filter(|&w| w < v) {
                    say(at(w), Vacancy::NeverProbed)?;
                    next = (w < s.last).then_some(w + 1);
                }
                if next != Some(v) {
                    return Ok(());
                }
                let vacancy = match (r.opt_int(1)?, r.opt_int(2)?) {
                    (None, _) | (Some(_), None) => Some(Vacancy::NeverUp),
                    (Some(_), Some(up)) if up < cut => Some(Vacancy::LastUp(time(up))),
                    _ => None,
                };
                if let Some(vacancy) = vacancy {
                    say(addr, vacancy)?;
                }
                next = (v < s.last).then_some(v + 1);
                Ok(())
            },
        )?;
        while let Some(w) = next {
            say(at(w), Vacancy::NeverProbed)?;
            next = (w < s.last).then_some(w + 1);
        }
    }
    Ok(n)
}

/// The runs, oldest first, each sharded run still open with the shards it lacks.
pub fn runs(db: &dyn Reader, each: &mut dyn FnMut(RunEntry) -> io::Result<()>) -> Result<u64> {
    // Collected first (a run a night is 365 a year): a backend reads one query at a time.
    let mut runs = Vec::new();
    stream(db, sql::RUNS, &[], run_entry, &mut |r| {
        runs.push(r);
        Ok(())
    })?;
    for r in runs.iter_mut().filter(|r| r.interrupted && r.shards > 1) {
        let mut done = std::collections::BTreeSet::new();
        db.rows(sql::SHARDS_DONE, &[Param::Int(r.id)], &mut |c| {
            done.insert(u64::try_from(c.int(0)?).unwrap_or(u64::MAX));
            Ok(())
        })?;
        r.missing = (0..r.shards).filter(|i| !done.contains(i)).collect();
    }
    let n = runs.len() as u64;
    for r in runs {
        each(r).map_err(Error::Write)?;
    }
    Ok(n)
}
