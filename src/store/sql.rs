//! The SQL every backend runs, written once: PostgreSQL's `$N` placeholders (SQLite reads
//! them as `?N`), values as `Param`s each backend binds, rows read through `Cols`. Only
//! what differs stays in a backend: the schema's types, connecting, and how a recording
//! writes its rows (`ledger::Ledger`).

use crate::error::Result;
use crate::store::codec::{ms, span_keys};
use crate::store::{RecordOutcome, RunFacts};
use crate::targets::Span;

/// One bound value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
    Bytes(Vec<u8>),
}

/// One result row's columns, by position: a backend gives each cell as a `Param`
/// (`OptInt(None)` for NULL); the typed reads are the same for all.
pub trait Cols {
    fn cell(&self, i: usize) -> Result<Param>;
    /// The error for column `i` holding what it should not (a damaged database).
    fn mistyped(&self, i: usize) -> crate::error::Error;

    fn int(&self, i: usize) -> Result<i64> {
        match self.cell(i)? {
            Param::Int(v) | Param::OptInt(Some(v)) => Ok(v),
            _ => Err(self.mistyped(i)),
        }
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.cell(i)? {
            Param::Int(v) => Ok(Some(v)),
            Param::OptInt(v) => Ok(v),
            _ => Err(self.mistyped(i)),
        }
    }
    fn text(&self, i: usize) -> Result<String> {
        match self.cell(i)? {
            Param::Text(v) | Param::OptText(Some(v)) => Ok(v),
            _ => Err(self.mistyped(i)),
        }
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.cell(i)? {
            Param::Text(v) => Ok(Some(v)),
            Param::OptText(v) => Ok(v),
            Param::OptInt(None) => Ok(None),
            _ => Err(self.mistyped(i)),
        }
    }
    fn bytes(&self, i: usize) -> Result<Vec<u8>> {
        match self.cell(i)? {
            Param::Bytes(v) => Ok(v),
            _ => Err(self.mistyped(i)),
        }
    }
}

/// SQLite's spelling of a statement: `?N` for `$N`.
pub fn question_marks(sql: &str) -> String {
    sql.replace('$', "?")
}

/// How recent an open run of the same job must be for a shard or a resumed run to join
/// it: a shard that failed last night never swallows tonight's run.
const JOIN_WINDOW_MS: i64 = 12 * 3600 * 1000;

/// The open run this part completes (a shard, or a resumed run): the newest of its job.
pub const OPEN_RUN: &str = "SELECT id FROM runs WHERE job = $1 AND open = 1 AND ended >= $2
     ORDER BY started DESC LIMIT 1";
pub const WIDEN_RUN: &str = "UPDATE runs SET
     started = CASE WHEN started < $2 THEN started ELSE $2 END,
     ended = CASE WHEN ended > $3 THEN ended ELSE $3 END
     WHERE id = $1";
pub const INSERT_RUN: &str =
    "INSERT INTO runs(job, started, ended, targets, seed, shards, source, open)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 1) RETURNING id";
pub const INSERT_PART: &str = "INSERT INTO parts(run, shard, started, ended, command, exit,
         interrupted, probed, up, events)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
/// A run is complete once every shard has a part that was not interrupted.
pub const CLOSE_IF_COMPLETE: &str = "UPDATE runs SET open = 0 WHERE id = $1 AND shards <=
     (SELECT count(DISTINCT coalesce(shard, 0)) FROM parts WHERE run = $1 AND interrupted = 0)";

/// A recording's run, as the statements above bind it.
pub struct RunRow<'a> {
    pub started: i64,
    run: &'a RunFacts,
}

impl<'a> RunRow<'a> {
    pub fn of(run: &'a RunFacts) -> RunRow<'a> {
        RunRow {
            started: ms(run.started),
            run,
        }
    }

    /// `OPEN_RUN`'s values, when this part may join an open run. A whole, fresh run always
    /// starts its own: an interrupted run nobody resumed stays open, and must not take the
    /// next night's sightings as its own.
    pub fn joins(&self) -> Option<Vec<Param>> {
        (self.run.shard.is_some() || self.run.resumed).then(|| {
            vec![
                Param::Text(self.run.job.clone()),
                Param::Int(self.started.saturating_sub(JOIN_WINDOW_MS)),
            ]
        })
    }

    pub fn widen(&self, id: i64) -> Vec<Param> {
        vec![
            Param::Int(id),
            Param::Int(self.started),
            Param::Int(ms(self.run.ended)),
        ]
    }

    pub fn insert(&self) -> Vec<Param> {
        let r = self.run;
        vec![
            Param::Text(r.job.clone()),
            Param::Int(self.started),
            Param::Int(ms(r.ended)),
            Param::Text(r.targets.clone()),
            Param::OptText(r.seed.map(|s| s.to_string())),
            Param::Int(r.shard.map_or(1, |(_, n)| count(n))),
            Param::Text(r.source.clone()),
        ]
    }

    pub fn part(&self, run: i64, out: &RecordOutcome) -> Vec<Param> {
        let r = self.run;
        vec![
            Param::Int(run),
            Param::OptInt(r.shard.map(|(i, _)| count(i))),
            Param::Int(self.started),
            Param::Int(ms(r.ended)),
            Param::Text(r.command.clone()),
            Param::Int(i64::from(r.exit)),
            Param::Int(i64::from(r.interrupted)),
            Param::Int(count(out.probed)),
            Param::Int(count(out.up)),
            Param::Int(count(out.events)),
        ]
    }
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `(col BETWEEN $a AND $b OR …)` over `ranges` (always true when empty), its values
/// appended to `values`.
pub fn in_ranges(col: &str, ranges: &[Span], values: &mut Vec<Param>) -> String {
    if ranges.is_empty() {
        return "1 = 1".into();
    }
    let parts: Vec<String> = ranges
        .iter()
        .map(|s| {
            let (lo, hi) = span_keys(s);
            values.push(Param::Bytes(lo));
            values.push(Param::Bytes(hi));
            format!("{col} BETWEEN ${} AND ${}", values.len() - 1, values.len())
        })
        .collect();
    format!("({})", parts.join(" OR "))
}

/// `$N` for the next value, `v` appended.
pub fn mark(values: &mut Vec<Param>, v: Param) -> String {
    values.push(v);
    format!("${}", values.len())
}

pub const HOST_COLUMNS: &str =
    "addr, status, detail, first_seen, last_up, last_probed, times_seen, macs";
pub const EVENT_COLUMNS: &str = "at, run, addr, kind, mac, old_mac";
pub const NEWEST_START: &str = "SELECT max(started) FROM runs";
pub const HOST_EVENTS: &str =
    "SELECT at, run, addr, kind, mac, old_mac FROM events WHERE addr = $1 ORDER BY at, id";
pub const HOST_MACS: &str =
    "SELECT mac, first_seen, last_seen FROM sightings WHERE addr = $1 ORDER BY mac";
pub const FREE_ROWS: &str = "SELECT addr, first_seen, last_up FROM hosts
     WHERE addr BETWEEN $1 AND $2 ORDER BY addr";
/// Sums cast back to integers: PostgreSQL sums `bigint` into `numeric`.
pub const RUNS: &str =
    "SELECT r.id, r.job, r.started, r.ended, r.targets, r.seed, r.shards, r.source, r.open,
        count(p.id), CAST(coalesce(sum(p.probed), 0) AS BIGINT),
        CAST(coalesce(sum(p.up), 0) AS BIGINT), CAST(coalesce(sum(p.events), 0) AS BIGINT),
        (SELECT exit FROM parts WHERE run = r.id ORDER BY id DESC LIMIT 1),
        (SELECT command FROM parts WHERE run = r.id ORDER BY id LIMIT 1)
     FROM runs r LEFT JOIN parts p ON p.run = r.id
     GROUP BY r.id ORDER BY r.started, r.id";
/// The shards of run `$1` that recorded a complete part.
pub const SHARDS_DONE: &str =
    "SELECT DISTINCT coalesce(shard, 0) FROM parts WHERE run = $1 AND interrupted = 0";
/// `prune`'s statements, in order, each bound to the cut: events, then parts, then runs.
pub const PRUNE: [&str; 3] = [
    "DELETE FROM events WHERE at < $1",
    "DELETE FROM parts WHERE run IN (SELECT id FROM runs WHERE started < $1)",
    "DELETE FROM runs WHERE started < $1",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_read_the_same_in_both_spellings() {
        let mut v = Vec::new();
        let c = in_ranges("addr", &[Span::v4(1, 2), Span::v4(5, 9)], &mut v);
        assert_eq!(c, "(addr BETWEEN $1 AND $2 OR addr BETWEEN $3 AND $4)");
        assert_eq!(mark(&mut v, Param::Int(3)), "$5");
        assert_eq!(
            question_marks(&c),
            "(addr BETWEEN ?1 AND ?2 OR addr BETWEEN ?3 AND ?4)"
        );
        assert_eq!(in_ranges("addr", &[], &mut v), "1 = 1");
    }
}
