//! The server backend: one PostgreSQL database that many scanners record into (the shards
//! of a Kubernetes Job, several sites), through the synchronous `postgres` client. The
//! same tables, SQL (`store::sql`), questions (`store::ask`) and event rules
//! (`ledger::step`) as SQLite; what differs is here: connecting (`url.rs`: the URL, TLS,
//! `PGPASSWORD` and the password file), the schema's types and its version table
//! (`schema.rs`), and recording in batches written with array binds (`record.rs`).
//!
//! Writers take turns: every recording, migration and prune holds one transaction-scoped
//! advisory lock, so two scanners never interleave their read-judge-write of an address
//! (the SQLite backend's writers take turns on the file's lock the same way).

mod query;
mod record;
pub mod schema;
mod tls;
pub mod url;

use crate::error::{Error, Result};
use postgres::error::SqlState;
use postgres::{Client, GenericClient};
use std::cell::RefCell;
use std::path::PathBuf;
use url::{Dsn, Verify};

/// The advisory lock writers take turns on ("swep").
const WRITERS: i64 = 0x7377_6570;

/// How long a writer waits for the others before it is a fault.
const LOCK_WAIT: &str = "SET LOCAL lock_timeout = '120s'";

/// How long the check that a held connection still works may take.
const LIVENESS: std::time::Duration = std::time::Duration::from_secs(10);

/// What opening may do to the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// A scan or an import: create the inventory, migrate an older schema.
    Write { migrate: bool },
    /// A question: the inventory must exist at this sweep's schema.
    Read,
    /// `sweep inventory migrate`: create or migrate, nothing else.
    Migrate,
}

/// An inventory in a PostgreSQL database.
pub struct PgInventory {
    client: RefCell<Client>,
    /// The URL as shown (password replaced).
    shown: String,
    /// How to connect again (a scan holds its connection for as long as it runs).
    dsn: Dsn,
}

/// A fault before anything was sent or recorded: no server, refused credentials, not
/// sweep's, newer (exit 3).
fn refused(shown: &str, reason: impl Into<String>) -> Error {
    Error::Database {
        url: shown.to_string(),
        reason: reason.into(),
    }
}

/// One line for a client error: the server's own message where there is one.
fn why(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.message().to_string();
    }
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s = format!("{s}: {t}");
        }
        src = inner.source();
    }
    s.replace('\n', " ")
}

/// Whether the error asks for the transaction to be tried again.
fn transient(e: &postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

impl PgInventory {
    /// Connects to `url` and checks the database before anything else happens.
    pub fn open(url: &str, opening: Opening) -> Result<PgInventory> {
        let dsn = url::parse(url).map_err(|reason| Error::DatabaseUrl {
            url: url::redact(url),
            reason,
        })?;
        let client = connect(&dsn)?;
        let mut inv = PgInventory {
            client: RefCell::new(client),
            shown: dsn.shown.clone(),
            dsn,
        };
        let version = inv.version()?;
        match (version, opening) {
            (Some(v), _) if v > schema::VERSION => Err(refused(
                &inv.shown,
                format!(
                    "was written by a newer sweep (schema {v}; this sweep reads up to {})",
                    schema::VERSION
                ),
            )),
            (_, Opening::Migrate) | (Some(schema::VERSION), _) => Ok(inv),
            (_, Opening::Write { migrate: true }) => {
                inv.migrate()?;
                Ok(inv)
            }
            (None, Opening::Read) => Err(refused(
                &inv.shown,
                "holds no sweep inventory yet (a scan with --db URL creates it)",
            )),
            (v, _) => Err(refused(
                &inv.shown,
                format!(
                    "has schema {} and this sweep's is {}; run `sweep inventory migrate --db URL`",
                    v.unwrap_or(0),
                    schema::VERSION
                ),
            )),
        }
    }

    /// The URL as shown.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The schema version, `None` for an empty database; one that holds other tables and
    /// no `sweep_schema` is not sweep's.
    fn version(&mut self) -> Result<Option<i64>> {
        let shown = self.shown.clone();
        let c = self.client.get_mut();
        identity(c)
            .map_err(|e| refused(&shown, why(&e)))?
            .map_err(|reason| refused(&shown, reason))
    }

    /// Creates the inventory or brings it up to `schema::VERSION`, in one transaction
    /// that holds the writers' lock (two scanners creating one inventory: the second finds
    /// the work done). Returns the versions before and after.
    pub fn migrate(&mut self) -> Result<(i64, i64)> {
        let shown = self.shown.clone();
        let fault = |e: postgres::Error| refused(&shown, why(&e));
        let c = self.client.get_mut();
        let mut tx = c.transaction().map_err(fault)?;
        tx.batch_execute(LOCK_WAIT).map_err(fault)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITERS])
            .map_err(fault)?;
        let from = match identity(&mut tx).map_err(fault)? {
            Ok(Some(v)) if v > schema::VERSION => {
                return Err(refused(
                    &shown,
                    format!("was written by a newer sweep (schema {v})"),
                ))
            }
            Ok(Some(v)) => v,
            Ok(None) => {
                tx.batch_execute(schema::MARK).map_err(fault)?;
                0
            }
            Err(reason) => return Err(refused(&shown, reason)),
        };
        for (v, step) in schema::MIGRATIONS.iter().enumerate().skip(from as usize) {
            tx.batch_execute(step).map_err(fault)?;
            tx.execute("UPDATE sweep_schema SET version = $1", &[&(v as i64 + 1)])
                .map_err(fault)?;
        }
        tx.commit().map_err(fault)?;
        Ok((from, schema::VERSION))
    }

    /// The connection, made again when the one opened before the scan has gone (the
    /// server restarted, an idle connection cut while the scan ran).
    fn live(&mut self) -> Result<&mut Client> {
        let alive = self.client.get_mut().is_valid(LIVENESS).is_ok();
        if !alive {
            let client = connect(&self.dsn).map_err(|e| Error::Inventory {
                path: PathBuf::from(&self.shown),
                reason: match e {
                    Error::Database { reason, .. } => reason,
                    other => other.to_string(),
                },
            })?;
            *self.client.get_mut() = client;
        }
        Ok(self.client.get_mut())
    }

    fn fault(&self, e: postgres::Error) -> Error {
        Error::Inventory {
            path: PathBuf::from(&self.shown),
            reason: why(&e),
        }
    }
}

/// A database's identity: `Ok(version)` of a sweep inventory (`None`: empty), or why it
/// is not one.
type Identity = std::result::Result<Option<i64>, String>;

fn identity(c: &mut impl GenericClient) -> std::result::Result<Identity, postgres::Error> {
    // One statement, one snapshot: another scanner creating the inventory meanwhile is
    // seen either not at all or whole.
    let row = c.query_one(
        "SELECT to_regclass('sweep_schema') IS NOT NULL,
             (SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema())",
        &[],
    )?;
    let (marked, tables): (bool, i64) = (row.get(0), row.get(1));
    if marked {
        let row = c.query_opt("SELECT app, version FROM sweep_schema", &[])?;
        return Ok(match row {
            Some(r) if r.get::<_, String>(0) == "sweep" => Ok(Some(r.get(1))),
            _ => Err("has a sweep_schema table that is not sweep's".into()),
        });
    }
    Ok(if tables > 0 {
        Err(format!(
            "is not a sweep inventory ({tables} tables of something else in its schema)"
        ))
    } else {
        Ok(None)
    })
}

/// Connects with the TLS the URL asks for; a failure is one line, never the password.
fn connect(dsn: &Dsn) -> Result<Client> {
    let fail = |e: postgres::Error| refused(&dsn.shown, format!("cannot connect: {}", why(&e)));
    if dsn.verify == Verify::Off {
        return dsn.config.connect(postgres::NoTls).map_err(fail);
    }
    let tls = tls::connector(dsn.verify, dsn.root_cert.as_deref())
        .map_err(|reason| refused(&dsn.shown, reason))?;
    dsn.config.connect(tls).map_err(fail)
}
