//! The questions (`store::ask`, shared with every backend) read through SQLite, and the
//! `Inventory` implementation that ties them to recording.

use super::SqliteInventory;
use crate::error::{Error, Result};
use crate::store::ask::{Backend, Reader};
use crate::store::sql::{self, question_marks, Cols, Param};
use crate::store::{Pruned, RecordOutcome, RunFacts, Sighting};
use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::ToSql;
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

impl Cols for SqliteRow<'_, '_> {
    fn cell(&self, i: usize) -> Result<Param> {
        use rusqlite::types::ValueRef;
        let v = self
            .row
            .get_ref(i)
            .map_err(|e| super::fault(self.path, e))?;
        Ok(match v {
            ValueRef::Null => Param::OptInt(None),
            ValueRef::Integer(v) => Param::Int(v),
            ValueRef::Text(t) => Param::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Param::Bytes(b.to_vec()),
            ValueRef::Real(_) => return Err(self.mistyped(i)),
        })
    }

    fn mistyped(&self, i: usize) -> Error {
        Error::Inventory {
            path: self.path.to_path_buf(),
            reason: format!("a damaged row in the database (column {i})"),
        }
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

impl Backend for SqliteInventory {
    fn record_one(
        &mut self,
        run: &RunFacts,
        sightings: &mut dyn Iterator<Item = Result<Sighting>>,
    ) -> Result<RecordOutcome> {
        self.record_run(run, sightings)
    }

    fn prune_before(&mut self, before: SystemTime) -> Result<Pruned> {
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
