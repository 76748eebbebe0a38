//! `sweep inventory report [-o FILE.html]`: the scan's self-contained HTML page made from
//! the inventory, with each host's first and last sighting, the new and gone hosts of the
//! last run and of the last 7 days, and the hosts up per run.

use crate::error::Result;
use crate::results::html::{self, History, Info};
use crate::results::output::vendor;
use crate::results::row::Row;
use crate::results::sink::Sink;
use crate::store::{EventKind, EventsQuery, HostsQuery, Inventory};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The window of the page's "last 7 days".
const WEEK: Duration = Duration::from_secs(7 * 86_400);

fn when(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Writes the page; returns how many hosts it lists.
pub fn run(inv: &dyn Inventory, db: &Path, output: Option<&Path>, now: SystemTime) -> Result<u64> {
    let sink = Sink::prepare(output)?;
    let mut rows = Vec::new();
    let mut history = History::default();
    let all = HostsQuery {
        all: true,
        ..HostsQuery::default()
    };
    inv.hosts(&all, &mut |h| {
        let mut row = Row::new(h.addr, h.status);
        row.detail = h.detail;
        row.vendors = h
            .macs
            .iter()
            .map(|&m| vendor(m).unwrap_or_default().to_string())
            .collect();
        row.macs = h.macs;
        history.seen.push((
            h.first_seen.map(when).unwrap_or_default(),
            h.last_seen.map(when).unwrap_or_default(),
        ));
        rows.push(row);
        Ok(())
    })?;
    let mut last = None;
    inv.runs(&mut |r| {
        history.runs.push((when(r.started), r.up));
        last = Some((r.id, r.started));
        Ok(())
    })?;
    let changes = vec![EventKind::New, EventKind::Gone];
    if let Some((id, started)) = last {
        let q = EventsQuery {
            since: Some(started),
            kinds: changes.clone(),
            ..EventsQuery::default()
        };
        let mut list = Vec::new();
        inv.events(&q, &mut |e| {
            if e.run == id {
                list.push((e.addr.to_string(), e.kind.as_str().to_string()));
            }
            Ok(())
        })?;
        history.last_run = Some((when(started), list));
    }
    let q = EventsQuery {
        since: now.checked_sub(WEEK),
        kinds: changes,
        ..EventsQuery::default()
    };
    inv.events(&q, &mut |e| {
        history
            .week
            .push((when(e.at), e.addr.to_string(), e.kind.as_str().to_string()));
        Ok(())
    })?;
    let source = format!(
        "sweep inventory report --db {}",
        crate::store::shown(db).display()
    );
    let info = Info {
        source: &source,
        started: last.map(|l| l.1),
        elapsed: None,
        targets: None,
    };
    sink.finish(|w| html::write_history(w, &rows, &info, &history))?;
    Ok(rows.len() as u64)
}
