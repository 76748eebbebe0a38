//! The inventory over time: every recorded run, per address its aggregates (status, first
//! seen, last seen up, last probed, times seen), per (address, MAC) the first and last
//! sighting, and the events judged as each run is recorded (`judge`, pure).
//!
//! One seam, the `Inventory` trait: a run's sightings go in, the operator's questions come
//! out. SQLite (`sqlite/`, embedded, the default) and PostgreSQL (`pg/`, one database many
//! scanners record into) share everything but storage: the SQL (`sql.rs`), the values'
//! encoding (`codec.rs`), the questions (`ask.rs`) and each sighting's judgement and
//! bookkeeping (`ledger.rs`, over `judge.rs`'s rules). Changes and aggregates are stored,
//! never a row per address per run.

pub mod ask;
pub mod codec;
pub mod judge;
pub mod ledger;
pub mod pg;
pub mod sql;
pub mod sqlite;

pub use judge::{EventKind, Sighting};

use crate::error::Result;
use crate::targets::Span;
use crate::wire::ether::Mac;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One recording: a whole run, or one part of it (a shard, or the interrupted run a
/// resumed one continues), grouped into one run by `job`.
#[derive(Debug, Clone)]
pub struct RunFacts {
    /// Parts with the same job id record into one run while that run is incomplete.
    pub job: String,
    pub started: SystemTime,
    pub ended: SystemTime,
    /// The command line, as typed (or what was imported).
    pub command: String,
    /// The ranges this run scanned, as given.
    pub targets: String,
    pub seed: Option<u64>,
    /// `(index, count)` of a shard.
    pub shard: Option<(u64, u64)>,
    pub exit: u8,
    /// Stopped by a signal: only what it probed is judged, and the run stays open for
    /// the resumed run to complete.
    pub interrupted: bool,
    /// `scan`, or the file an import read.
    pub source: String,
    /// A resumed run (`--resume`): it completes the interrupted run of its job.
    pub resumed: bool,
}

/// One event, as kept and as `inventory events` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventEntry {
    pub at: SystemTime,
    pub run: i64,
    pub addr: IpAddr,
    pub kind: EventKind,
    pub mac: Option<Mac>,
    pub old_mac: Option<Mac>,
}

/// What recording a run did.
#[derive(Debug, Clone, Default)]
pub struct RecordOutcome {
    pub run: i64,
    /// Addresses judged (the targets this part probed), and those up.
    pub probed: u64,
    pub up: u64,
    /// The first `EVENTS_SHOWN` events, for the lines on stderr.
    pub shown: Vec<EventEntry>,
    /// Every event this recording judged.
    pub events: u64,
}

/// Events printed after a recorded run; the rest are counted.
pub const EVENTS_SHOWN: usize = 50;

/// An address's aggregates, as `inventory hosts` lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    pub addr: IpAddr,
    /// The last probing run's status and detail.
    pub status: crate::results::row::Status,
    pub detail: String,
    pub first_seen: Option<SystemTime>,
    pub last_seen: Option<SystemTime>,
    pub last_probed: SystemTime,
    pub times_seen: u64,
    /// Its MACs at its last sighting up with MACs (every one of a conflict).
    pub macs: Vec<Mac>,
}

/// Which hosts `inventory hosts` lists.
#[derive(Debug, Clone, Default)]
pub struct HostsQuery {
    /// Empty: every address.
    pub ranges: Vec<Span>,
    /// First seen up at or after.
    pub new_since: Option<SystemTime>,
    /// Last seen up at or after.
    pub seen_since: Option<SystemTime>,
    /// Seen up once, but not at or after this.
    pub not_seen_since: Option<SystemTime>,
    /// Also addresses probed but never up (default: those ever up).
    pub all: bool,
}

/// Which events `inventory events` lists.
#[derive(Debug, Clone, Default)]
pub struct EventsQuery {
    pub ranges: Vec<Span>,
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
    /// Empty: every kind.
    pub kinds: Vec<EventKind>,
}

/// One recorded run, as `inventory runs` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEntry {
    pub id: i64,
    pub job: String,
    pub started: SystemTime,
    pub ended: SystemTime,
    pub targets: String,
    pub seed: Option<u64>,
    pub shards: u64,
    pub parts: u64,
    /// The shards (0-based) with no complete part yet: empty once the run is complete.
    pub missing: Vec<u64>,
    pub probed: u64,
    pub up: u64,
    pub events: u64,
    pub interrupted: bool,
    pub exit: u8,
    pub command: String,
    pub source: String,
}

/// One line of an address's timeline (`inventory host ADDR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    pub at: SystemTime,
    /// An event's word, or `mac-first-seen` / `mac-last-seen`.
    pub what: String,
    pub mac: Option<Mac>,
    pub old_mac: Option<Mac>,
}

/// Why an address of a range is free (`inventory free`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vacancy {
    NeverProbed,
    NeverUp,
    /// Last up then, longer ago than asked.
    LastUp(SystemTime),
}

/// What `prune` removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub runs: u64,
    pub events: u64,
}

/// The seam every backend implements. Each method is one transaction or one read; a
/// recording that fails leaves the store as it was.
pub trait Inventory {
    /// Records one run (or part) and its sightings: the targets it probed, each judged
    /// against what was known (`judge`), in one transaction. They stream (a file being
    /// imported is read as it is recorded): an `Err` among them stops the recording and
    /// leaves the store as it was.
    fn record(
        &mut self,
        run: &RunFacts,
        sightings: &mut dyn Iterator<Item = Result<Sighting>>,
    ) -> Result<RecordOutcome>;
    /// The start of the newest run recorded (imports must be older than nothing newer).
    fn newest_start(&self) -> Result<Option<SystemTime>>;
    /// `each` gets the hosts in address order; returns how many.
    fn hosts(
        &self,
        q: &HostsQuery,
        each: &mut dyn FnMut(HostEntry) -> std::io::Result<()>,
    ) -> Result<u64>;
    /// `each` gets the events in time order; returns how many.
    fn events(
        &self,
        q: &EventsQuery,
        each: &mut dyn FnMut(EventEntry) -> std::io::Result<()>,
    ) -> Result<u64>;
    /// An address's aggregates and its timeline (events, MACs' first and last sightings).
    fn host(&self, addr: IpAddr) -> Result<Option<(HostEntry, Vec<TimelineEntry>)>>;
    /// The addresses of `ranges` not seen up since `since`, in address order.
    fn free(
        &self,
        ranges: &[Span],
        since: SystemTime,
        each: &mut dyn FnMut(IpAddr, Vacancy) -> std::io::Result<()>,
    ) -> Result<u64>;
    fn runs(&self, each: &mut dyn FnMut(RunEntry) -> std::io::Result<()>) -> Result<u64>;
    /// Removes runs that started and events that happened before `before`; the per
    /// address aggregates and MAC history stay.
    fn prune(&mut self, before: SystemTime) -> Result<Pruned>;
}

/// Opens (or creates) the inventory `db` names and checks it is sweep's, of a schema this
/// sweep reads: a `postgresql://` (or `postgres://`) URL is a server database
/// (`pg/`, migrated unless `migrate` is false), anything else an SQLite file.
pub fn open(db: &Path, migrate: bool) -> Result<Box<dyn Inventory>> {
    match server_url(db) {
        Some(url) => Ok(Box::new(pg::PgInventory::open(
            url,
            pg::Opening::Write { migrate },
        )?)),
        None => Ok(Box::new(sqlite::SqliteInventory::open(db)?)),
    }
}

/// Opens an inventory that must exist already: the questions never create one.
pub fn open_existing(db: &Path) -> Result<Box<dyn Inventory>> {
    match server_url(db) {
        Some(url) => Ok(Box::new(pg::PgInventory::open(url, pg::Opening::Read)?)),
        None => Ok(Box::new(sqlite::SqliteInventory::open_existing(db)?)),
    }
}

/// `sweep inventory migrate`: creates the inventory or brings its schema up to this
/// sweep's; the versions before and after (an SQLite file migrates whenever it is opened).
pub fn migrate(db: &Path) -> Result<(i64, i64)> {
    match server_url(db) {
        Some(url) => pg::PgInventory::open(url, pg::Opening::Migrate)?.migrate(),
        None => {
            sqlite::SqliteInventory::open(db)?;
            Ok((sqlite::schema::VERSION, sqlite::schema::VERSION))
        }
    }
}

/// The URL `db` is, when it names a server database.
pub fn server_url(db: &Path) -> Option<&str> {
    db.to_str().filter(|s| pg::url::is_url(s))
}

/// `db` as it may be shown or stored: a URL's password replaced.
pub fn shown(db: &Path) -> PathBuf {
    match server_url(db) {
        Some(url) => PathBuf::from(pg::url::redact(url)),
        None => db.to_path_buf(),
    }
}
