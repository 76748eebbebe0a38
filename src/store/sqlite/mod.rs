//! The embedded backend: one SQLite file (rusqlite's bundled SQLite, one version
//! everywhere), in WAL mode so readers never wait for a recording, with a busy timeout so
//! two scans recording at once take turns. Opening checks the file is sweep's and of a
//! schema this sweep reads before anything else happens (`schema.rs`); recording is in
//! `record.rs`, the questions in `query.rs`.

mod query;
mod record;
pub mod schema;
#[cfg(test)]
mod tests;

use crate::error::{Error, Result};
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a recording waits for another writer before it fails: a /16 records in well
/// under a second, so this covers many scans finishing together.
const BUSY: Duration = Duration::from_secs(60);

/// An inventory in one SQLite file.
pub struct SqliteInventory {
    conn: Connection,
    path: PathBuf,
}

impl SqliteInventory {
    /// Opens `path`, creating it when it does not exist; see `open_with`.
    pub fn open(path: &Path) -> Result<SqliteInventory> {
        Self::open_with(path, true)
    }

    /// Opens an inventory that must exist already (the questions never create one).
    pub fn open_existing(path: &Path) -> Result<SqliteInventory> {
        Self::open_with(path, false)
    }

    /// A file that is not SQLite, SQLite but not sweep's, or written by a newer sweep is
    /// refused (exit 2) before anything is written to it; an older schema is migrated.
    fn open_with(path: &Path, create: bool) -> Result<SqliteInventory> {
        let not_ours = |reason: &str| Error::NotInventory {
            path: path.to_path_buf(),
            reason: reason.into(),
        };
        match std::fs::metadata(path) {
            Ok(m) if !m.is_file() => return Err(not_ours("is not a regular file")),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => {
                return Err(not_ours(
                    "does not exist (a scan with --db FILE creates it)",
                ))
            }
            Err(_) => {}
        }
        if !create && !can_write(path) {
            return Self::open_read_only(path);
        }
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(path, flags).map_err(|e| fault(path, e))?;
        conn.busy_timeout(BUSY).map_err(|e| fault(path, e))?;
        let inv = SqliteInventory {
            conn,
            path: path.to_path_buf(),
        };
        // Only reads until the file is known to be sweep's (or empty).
        inv.check_identity()?;
        inv.switch_to_wal()?;
        // WAL with NORMAL: a crash (SIGKILL) loses no committed run; only a power cut
        // can lose the last one, never corrupt the file.
        inv.conn
            .execute_batch("PRAGMA synchronous=NORMAL")
            .map_err(|e| fault(path, e))?;
        inv.migrate()?;
        Ok(inv)
    }

    /// An inventory this process may not write (a read-only mount, a copy it does not
    /// own) can still be asked: opened immutable, since in WAL mode a plain read-only open
    /// needs to write the shared-memory file beside it. Nobody can be writing it then.
    fn open_read_only(path: &Path) -> Result<SqliteInventory> {
        let uri = format!("file:{}?immutable=1", uri_path(path));
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(uri, flags).map_err(|e| fault(path, e))?;
        let inv = SqliteInventory {
            conn,
            path: path.to_path_buf(),
        };
        let version = inv.check_identity()?;
        if version < schema::VERSION {
            return Err(Error::Inventory {
                path: path.to_path_buf(),
                reason: format!(
                    "schema {version} needs migrating to {}, and the file cannot be written",
                    schema::VERSION
                ),
            });
        }
        Ok(inv)
    }

    /// `application_id`, `user_version` and how many schema objects there are.
    fn identity(&self) -> rusqlite::Result<(i64, i64, i64)> {
        let app = self
            .conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))?;
        let version = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let tables = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        Ok((app, version, tables))
    }

    /// Judges the file by its `identity`, read in one (read-only) transaction so the
    /// three answers are of one moment: read one by one, another scan creating the file
    /// could commit its schema between them, and an `application_id` of 0 beside a
    /// `user_version` of 1 is no inventory. Its schema version.
    fn check_identity(&self) -> Result<i64> {
        let read = || {
            let tx =
                rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Deferred)?;
            let id = self.identity()?;
            tx.commit()?;
            Ok(id)
        };
        let (app, version, tables) =
            read().map_err(|e: rusqlite::Error| match e.sqlite_error_code() {
                Some(ErrorCode::NotADatabase) => Error::NotInventory {
                    path: self.path.clone(),
                    reason: "is not an SQLite database".into(),
                },
                _ => self.fault(e),
            })?;
        self.judge_identity(app, version, tables)?;
        Ok(version)
    }

    fn judge_identity(&self, app: i64, version: i64, tables: i64) -> Result<()> {
        let not_ours = |reason: String| Error::NotInventory {
            path: self.path.clone(),
            reason,
        };
        match (app, version, tables) {
            (schema::APPLICATION_ID, v, _) if v > schema::VERSION => Err(not_ours(format!(
                "was written by a newer sweep (schema {v}; this sweep reads up to {})",
                schema::VERSION
            ))),
            (schema::APPLICATION_ID, _, _) | (0, 0, 0) => Ok(()),
            _ => Err(not_ours(
                "is an SQLite database but not a sweep inventory".into(),
            )),
        }
    }

    /// Puts the file in WAL mode (recorded in its header, so once a file is, this only
    /// reads). The switch cannot be made inside a transaction (SQLite refuses), so it
    /// cannot be BEGIN IMMEDIATE: it reads the header, then upgrades to a write lock to
    /// change it. When another connection is switching the same fresh file at that moment
    /// (two scans creating it), SQLite refuses the upgrade with SQLITE_BUSY at once and
    /// does not call the busy handler, since waiting there could deadlock (see
    /// sqlite3_busy_handler). So a refusal is retried here, pausing as the busy handler
    /// would: it means another connection holds the write lock to make this very switch,
    /// a write of one page, after which the retry finds WAL and only reads. The wait is
    /// bounded by `BUSY`, as every other wait for a writer is.
    fn switch_to_wal(&self) -> Result<()> {
        let deadline = Instant::now() + BUSY;
        let mut pause = Duration::from_millis(1);
        loop {
            match self
                .conn
                .query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
            {
                Ok(()) => return Ok(()),
                Err(e)
                    if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                        && Instant::now() + pause < deadline =>
                {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(self.fault(e)),
            }
        }
    }

    /// Brings the schema up to `schema::VERSION`, one migration at a time, each in the
    /// transaction that bumps the version (two scans creating one file at once: the
    /// second finds the work done).
    fn migrate(&self) -> Result<()> {
        loop {
            let tx =
                rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
                    .map_err(|e| self.fault(e))?;
            let (app, version, tables) = self.identity().map_err(|e| self.fault(e))?;
            self.judge_identity(app, version, tables)?;
            let Some(step) = usize::try_from(version)
                .ok()
                .and_then(|v| schema::MIGRATIONS.get(v))
            else {
                return tx.commit().map_err(|e| self.fault(e));
            };
            tx.execute_batch(step).map_err(|e| self.fault(e))?;
            tx.execute_batch(&format!(
                "PRAGMA application_id={}; PRAGMA user_version={};",
                schema::APPLICATION_ID,
                version + 1
            ))
            .map_err(|e| self.fault(e))?;
            tx.commit().map_err(|e| self.fault(e))?;
        }
    }

    fn fault(&self, e: rusqlite::Error) -> Error {
        fault(&self.path, e)
    }
}

/// Whether this process may write the file and its folder (where SQLite keeps the WAL):
/// access(2), which a read-only mount refuses even to root.
fn can_write(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let ok = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            // SAFETY: a valid NUL-terminated path; access only reads it.
            .is_ok_and(|c| unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0)
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    ok(path) && ok(dir)
}

/// A path as an SQLite URI's path: the characters a URI gives meaning to, escaped.
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for b in path.as_os_str().as_encoded_bytes() {
        match b {
            b'?' | b'#' | b'%' => out.push_str(&format!("%{b:02X}")),
            b if b.is_ascii() && !b.is_ascii_control() => out.push(char::from(*b)),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn fault(path: &Path, e: rusqlite::Error) -> Error {
    Error::Inventory {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod codec_tests {
    use super::*;

    #[test]
    fn uri_paths_escape_what_a_uri_means() {
        assert_eq!(
            uri_path(Path::new("/var/lib/a b/inv.db")),
            "/var/lib/a b/inv.db"
        );
        assert_eq!(uri_path(Path::new("/x/what?#%.db")), "/x/what%3F%23%25.db");
        assert_eq!(uri_path(Path::new("/x/é.db")), "/x/%C3%A9.db");
    }
}
