//! `sweep inventory …`: each question asked of the store and its answer written as a table
//! (`table.rs`); `import` records saved results as runs (`import.rs`); `report` writes the
//! HTML page (`report.rs`).

pub mod import;
pub mod report;
pub mod table;

pub use table::TableFormat;

use crate::error::{warn, Result};
use crate::results::output::vendor;
use crate::store::{EventsQuery, HostEntry, HostsQuery, Vacancy};
use crate::targets::Span;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::SystemTime;
use table::Cell;

/// A checked `sweep inventory` command line.
#[derive(Debug, Clone)]
pub struct Request {
    pub db: PathBuf,
    pub format: TableFormat,
    pub output: Option<PathBuf>,
    pub ask: Ask,
}

/// What is asked.
#[derive(Debug, Clone)]
pub enum Ask {
    Hosts(HostsQuery),
    Events(EventsQuery),
    Host(IpAddr),
    Free {
        ranges: Vec<Span>,
        /// Not seen up since.
        since: SystemTime,
    },
    Runs,
    Prune {
        before: SystemTime,
    },
    Import {
        files: Vec<PathBuf>,
        at: Option<SystemTime>,
        targets: Vec<String>,
    },
    /// The HTML page of the inventory (to `output`).
    Report,
    /// Create the inventory or migrate its schema.
    Migrate,
}

pub const HOST_COLUMNS: [&str; 9] = [
    "addr",
    "status",
    "detail",
    "first_seen",
    "last_seen",
    "last_probed",
    "times_seen",
    "mac",
    "vendor",
];
pub const EVENT_COLUMNS: [&str; 6] = ["at", "run", "addr", "event", "mac", "old_mac"];
pub const TIMELINE_COLUMNS: [&str; 5] = ["at", "what", "status", "mac", "old_mac"];
pub const FREE_COLUMNS: [&str; 3] = ["addr", "state", "last_seen"];
pub const RUN_COLUMNS: [&str; 16] = [
    "run",
    "job",
    "started",
    "ended",
    "targets",
    "seed",
    "shards",
    "parts",
    "missing",
    "probed",
    "up",
    "events",
    "interrupted",
    "exit",
    "source",
    "command",
];

fn when(t: SystemTime) -> Cell {
    Cell::Text(humantime::format_rfc3339_seconds(t).to_string())
}

fn maybe<T>(v: Option<T>, f: impl FnOnce(T) -> Cell) -> Cell {
    v.map_or(Cell::Empty, f)
}

fn mac_cell(m: Option<crate::wire::ether::Mac>) -> Cell {
    maybe(m, |m| Cell::Text(m.to_string()))
}

fn host_cells(h: HostEntry) -> Vec<Cell> {
    let join = |v: Vec<String>| Cell::Text(v.join(";"));
    vec![
        Cell::Text(h.addr.to_string()),
        Cell::Text(h.status.as_str().into()),
        Cell::Text(h.detail),
        maybe(h.first_seen, when),
        maybe(h.last_seen, when),
        when(h.last_probed),
        Cell::Num(h.times_seen),
        join(h.macs.iter().map(|m| m.to_string()).collect()),
        join(
            h.macs
                .iter()
                .map(|&m| vendor(m).unwrap_or_default().to_string())
                .collect(),
        ),
    ]
}

/// Runs `req`; the exit status: 0 rows (or something imported / pruned), 1 none.
pub fn run(req: &Request) -> Result<u8> {
    if let Ask::Import { files, at, targets } = &req.ask {
        let mut inv = crate::store::open(&req.db, true)?;
        return import::run(inv.as_mut(), files, *at, targets);
    }
    if let Ask::Migrate = req.ask {
        let (from, to) = crate::store::migrate(&req.db)?;
        let db = crate::store::shown(&req.db);
        match from == to {
            true => warn(format_args!(
                "sweep: the inventory {} is at schema {to}",
                db.display()
            )),
            false => warn(format_args!(
                "sweep: migrated the inventory {} from schema {from} to {to}",
                db.display()
            )),
        }
        return Ok(0);
    }
    let mut inv = crate::store::open_existing(&req.db)?;
    let out = req.output.as_deref();
    let n = match &req.ask {
        Ask::Hosts(q) => table::write(req.format, &HOST_COLUMNS, out, &mut |row| {
            inv.hosts(q, &mut |h| row(host_cells(h)))
        })?,
        Ask::Events(q) => table::write(req.format, &EVENT_COLUMNS, out, &mut |row| {
            inv.events(q, &mut |e| {
                row(vec![
                    when(e.at),
                    Cell::Num(u64::try_from(e.run).unwrap_or(0)),
                    Cell::Text(e.addr.to_string()),
                    Cell::Text(e.kind.as_str().into()),
                    mac_cell(e.mac),
                    mac_cell(e.old_mac),
                ])
            })
        })?,
        Ask::Host(addr) => {
            let found = inv.host(*addr)?;
            table::write(req.format, &TIMELINE_COLUMNS, out, &mut |row| {
                let Some((h, line)) = &found else {
                    return Ok(0);
                };
                let mut facts = vec![(h.first_seen, "first-seen"), (h.last_seen, "last-seen")];
                facts.retain(|(t, _)| t.is_some());
                let mut n = 0;
                for (t, what) in facts {
                    row(vec![
                        maybe(t, when),
                        Cell::Text(what.into()),
                        Cell::Empty,
                        Cell::Empty,
                        Cell::Empty,
                    ])
                    .map_err(crate::error::Error::Write)?;
                    n += 1;
                }
                for t in line {
                    row(vec![
                        when(t.at),
                        Cell::Text(t.what.clone()),
                        Cell::Empty,
                        mac_cell(t.mac),
                        mac_cell(t.old_mac),
                    ])
                    .map_err(crate::error::Error::Write)?;
                    n += 1;
                }
                row(vec![
                    when(h.last_probed),
                    Cell::Text("last-probed".into()),
                    Cell::Text(h.status.as_str().into()),
                    Cell::Empty,
                    Cell::Empty,
                ])
                .map_err(crate::error::Error::Write)?;
                Ok(n + 1)
            })?
        }
        Ask::Free { ranges, since } => table::write(req.format, &FREE_COLUMNS, out, &mut |row| {
            inv.free(ranges, *since, &mut |addr, v| {
                let (state, last) = match v {
                    Vacancy::NeverProbed => ("never-probed", Cell::Empty),
                    Vacancy::NeverUp => ("never-up", Cell::Empty),
                    Vacancy::LastUp(t) => ("last-up", when(t)),
                };
                row(vec![
                    Cell::Text(addr.to_string()),
                    Cell::Text(state.into()),
                    last,
                ])
            })
        })?,
        Ask::Runs => table::write(req.format, &RUN_COLUMNS, out, &mut |row| {
            inv.runs(&mut |r| {
                row(vec![
                    Cell::Num(u64::try_from(r.id).unwrap_or(0)),
                    Cell::Text(r.job),
                    when(r.started),
                    when(r.ended),
                    Cell::Text(r.targets),
                    maybe(r.seed, Cell::Num),
                    Cell::Num(r.shards),
                    Cell::Num(r.parts),
                    Cell::Text(
                        r.missing
                            .iter()
                            .map(u64::to_string)
                            .collect::<Vec<_>>()
                            .join(";"),
                    ),
                    Cell::Num(r.probed),
                    Cell::Num(r.up),
                    Cell::Num(r.events),
                    Cell::Text(if r.interrupted { "yes" } else { "no" }.into()),
                    Cell::Num(u64::from(r.exit)),
                    Cell::Text(r.source),
                    Cell::Text(r.command),
                ])
            })
        })?,
        Ask::Prune { before } => {
            let p = inv.prune(*before)?;
            warn(format_args!(
                "sweep: pruned {} runs and {} events from before {}",
                p.runs,
                p.events,
                humantime::format_rfc3339_seconds(*before)
            ));
            u64::from(p.runs + p.events > 0)
        }
        Ask::Report => report::run(inv.as_ref(), &req.db, out, SystemTime::now())?,
        Ask::Import { .. } | Ask::Migrate => 0,
    };
    Ok(u8::from(n == 0))
}
