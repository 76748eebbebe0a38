//! The questions (`store::ask`, shared with every backend) read through SQLite, and the
//! `Inventory` implementation that ties them to recording.

use super::SqliteInventory;
use crate::error::{Error, Result};
use crate::store::ask::{self, Reader};
use crate::store::sql::{self, question_marks, Cols, Param};
use crate::store::{
    EventEntry, EventsQuery, HostEntry, HostsQuery, Inventory, Pruned, RecordOutcome, RunEntry,
    RunFacts, Sighting, TimelineEntry, Vacancy,
};
use crate::targets::Span;
use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::ToSql;
use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::time::SystemTime;

impl ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Owned(match self {
            Param::Int(v) => Value::Integer(*v),
            Param::OptInt(v) => v.map_or(Value::Null, Value::Integer),
            Param::Text(v) => Value::Text(v.clone()),
            Param::OptText(v) => v.clone().map_or(Value::Null, Value::Text),
            Param::Bytes(v) => Value::Blob(v.clone()),
        }))
    }
}

/// A row, its faults named with the file.
struct SqliteRow<'a, 'r> {
    row: &'a rusqlite::Row<'r>,
    path: &'a Path,
}

impl SqliteRow<'_, '_> {
    fn get<T: rusqlite::types::FromSql>(&self, i: usize) -> Result<T> {
        self.row.get(i).map_err(|e| super::fault(self.path, e))
    }
}

impl Cols for SqliteRow<'_, '_> {
    fn int(&self, i: usize) -> Result<i64> {
        self.get(i)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        self.get(i)
    }
    fn text(&self, i: usize) -> Result<String> {
        self.get(i)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        self.get(i)
    }
    fn bytes(&self, i: usize) -> Result<Vec<u8>> {
        self.get(i)
    }
}

impl Reader for SqliteInventory {
    fn rows(
        &self,
        sql: &str,
        values: &[Param],
        each: &mut dyn FnMut(&dyn Cols) -> Result<()>,
    ) -> Result<()> {
        let fault = |e| self.fault(e);
        let mut stmt = self.conn.prepare(&question_marks(sql)).map_err(fault)?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(values))
            .map_err(fault)?;
        while let Some(row) = rows.next().map_err(fault)? {
            each(&SqliteRow {
                row,
                path: &self.path,
            })?;
        }
        Ok(())
    }

    fn damaged(&self, what: &str) -> Error {
        Error::Inventory {
            path: self.path.clone(),
            reason: format!("a damaged {what} in the database"),
        }
    }
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
        ask::newest_start(self)
    }

    fn hosts(
        &self,
        q: &HostsQuery,
        each: &mut dyn FnMut(HostEntry) -> io::Result<()>,
    ) -> Result<u64> {
        ask::hosts(self, q, each)
    }

    fn events(
        &self,
        q: &EventsQuery,
        each: &mut dyn FnMut(EventEntry) -> io::Result<()>,
    ) -> Result<u64> {
        ask::events(self, q, each)
    }

    fn host(&self, addr: IpAddr) -> Result<Option<(HostEntry, Vec<TimelineEntry>)>> {
        ask::host(self, addr)
    }

    fn free(
        &self,
        ranges: &[Span],
        since: SystemTime,
        each: &mut dyn FnMut(IpAddr, Vacancy) -> io::Result<()>,
    ) -> Result<u64> {
        ask::free(self, ranges, since, each)
    }

    fn runs(&self, each: &mut dyn FnMut(RunEntry) -> io::Result<()>) -> Result<u64> {
        ask::runs(self, each)
    }

    fn prune(&mut self, before: SystemTime) -> Result<Pruned> {
        let path = self.path.clone();
        let fault = |e| super::fault(&path, e);
        let cut = [crate::store::codec::ms(before)];
        let tx = self.conn.transaction().map_err(fault)?;
        let mut n = [0usize; 3];
        for (stmt, n) in sql::PRUNE.iter().zip(&mut n) {
            *n = tx.execute(&question_marks(stmt), cut).map_err(fault)?;
        }
        tx.commit().map_err(fault)?;
        Ok(Pruned {
            runs: n[2] as u64,
            events: n[0] as u64,
        })
    }
}
