//! The questions (`store::ask`) read through PostgreSQL, values bound as its types, and
//! the `Inventory` implementation that ties them to recording and pruning.

use super::{why, PgInventory, LOCK_WAIT, WRITERS};
use crate::error::{Error, Result};
use crate::store::ask::{Backend, Reader};
use crate::store::sql::{self, Cols, Param};
use crate::store::{Pruned, RecordOutcome, RunFacts, Sighting};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use std::path::PathBuf;
use std::time::SystemTime;

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for Param {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, BoxError> {
        match self {
            Param::Int(v) => v.to_sql(ty, out),
            Param::OptInt(v) => v.to_sql(ty, out),
            Param::Text(v) => v.to_sql(ty, out),
            Param::OptText(v) => v.to_sql(ty, out),
            Param::Bytes(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        <i64 as ToSql>::accepts(ty)
            || <String as ToSql>::accepts(ty)
            || <Vec<u8> as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

/// A row, its faults named with the URL.
struct PgRow<'a> {
    row: &'a postgres::Row,
    shown: &'a str,
}

impl Cols for PgRow<'_> {
    fn cell(&self, i: usize) -> Result<Param> {
        let fault = |e: postgres::Error| Error::Inventory {
            path: PathBuf::from(self.shown),
            reason: why(&e),
        };
        let ty = self
            .row
            .columns()
            .get(i)
            .map(|c| c.type_().clone())
            .ok_or_else(|| self.mistyped(i))?;
        Ok(match ty {
            Type::INT8 => Param::OptInt(self.row.try_get(i).map_err(fault)?),
            Type::TEXT => match self.row.try_get(i).map_err(fault)? {
                Some(t) => Param::Text(t),
                None => Param::OptInt(None),
            },
            Type::BYTEA => match self.row.try_get(i).map_err(fault)? {
                Some(b) => Param::Bytes(b),
                None => Param::OptInt(None),
            },
            _ => return Err(self.mistyped(i)),
        })
    }

    fn mistyped(&self, i: usize) -> Error {
        Error::Inventory {
            path: PathBuf::from(self.shown),
            reason: format!("a damaged row in the database (column {i})"),
        }
    }
}

impl Reader for PgInventory {
    fn rows(
        &self,
        sql: &str,
        values: &[Param],
        each: &mut dyn FnMut(&dyn Cols) -> Result<()>,
    ) -> Result<()> {
        let mut c = self.client.borrow_mut();
        let mut rows = c.query_raw(sql, values.iter()).map_err(|e| self.fault(e))?;
        while let Some(row) = rows.next().map_err(|e| self.fault(e))? {
            each(&PgRow {
                row: &row,
                shown: &self.shown,
            })?;
        }
        Ok(())
    }

    fn damaged(&self, what: &str) -> Error {
        Error::Inventory {
            path: PathBuf::from(&self.shown),
            reason: format!("a damaged {what} in the database"),
        }
    }
}

impl Backend for PgInventory {
    fn record_one(
        &mut self,
        run: &RunFacts,
        sightings: &mut dyn Iterator<Item = Result<Sighting>>,
    ) -> Result<RecordOutcome> {
        self.record_run(run, sightings)
    }

    fn prune_before(&mut self, before: SystemTime) -> Result<Pruned> {
        let shown = self.shown.clone();
        let fault = |e: postgres::Error| Error::Inventory {
            path: PathBuf::from(&shown),
            reason: why(&e),
        };
        let cut = crate::store::codec::ms(before);
        let c = self.client.get_mut();
        let mut tx = c.transaction().map_err(fault)?;
        tx.batch_execute(LOCK_WAIT).map_err(fault)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITERS])
            .map_err(fault)?;
        let mut n = [0u64; 3];
        for (stmt, n) in sql::PRUNE.iter().zip(&mut n) {
            *n = tx.execute(*stmt, &[&cut]).map_err(fault)?;
        }
        tx.commit().map_err(fault)?;
        Ok(Pruned {
            runs: n[2],
            events: n[0],
        })
    }
}
