//! The SQLite schema, versioned with `PRAGMA user_version`, and its forward migrations:
//! migration `i` takes a database from version `i` to `i + 1`. A file is sweep's when its
//! `application_id` says so; a fresh (empty) file becomes one.

/// `application_id`: "swep", so `file(1)` and sweep itself can tell the file apart.
pub const APPLICATION_ID: i64 = 0x7377_6570;

/// Forward migrations, oldest first; the schema version is their count.
pub const MIGRATIONS: &[&str] = &[V1];

pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Times are milliseconds since the Unix epoch, UTC. Addresses are keyed as a family byte
/// (4 or 6) then the address's bytes, so keys sort as sweep's output does (IPv4 first,
/// each family numerically) and a range is a `BETWEEN`. MACs are 48-bit integers.
const V1: &str = "
CREATE TABLE runs(
    -- AUTOINCREMENT: a pruned run's id is never given again (hosts.last_run names it).
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    started INTEGER NOT NULL,
    ended INTEGER NOT NULL,
    targets TEXT NOT NULL,
    seed TEXT,
    shards INTEGER NOT NULL,
    source TEXT NOT NULL,
    -- 1 while parts are missing (shards not all recorded, or interrupted): the next part
    -- with the same job joins it.
    open INTEGER NOT NULL
);
CREATE INDEX runs_job ON runs(job, open);
CREATE INDEX runs_started ON runs(started);
CREATE TABLE parts(
    id INTEGER PRIMARY KEY,
    run INTEGER NOT NULL,
    shard INTEGER,
    started INTEGER NOT NULL,
    ended INTEGER NOT NULL,
    command TEXT NOT NULL,
    exit INTEGER NOT NULL,
    interrupted INTEGER NOT NULL,
    probed INTEGER NOT NULL,
    up INTEGER NOT NULL,
    events INTEGER NOT NULL
);
CREATE INDEX parts_run ON parts(run);
CREATE TABLE hosts(
    addr BLOB PRIMARY KEY,
    status INTEGER NOT NULL,
    detail TEXT NOT NULL,
    first_seen INTEGER,
    last_up INTEGER,
    last_probed INTEGER NOT NULL,
    times_seen INTEGER NOT NULL,
    macs TEXT NOT NULL,
    prev_mac INTEGER,
    last_run INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE sightings(
    addr BLOB NOT NULL,
    mac INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY(addr, mac)
) WITHOUT ROWID;
CREATE INDEX sightings_mac ON sightings(mac);
CREATE TABLE events(
    id INTEGER PRIMARY KEY,
    run INTEGER NOT NULL,
    at INTEGER NOT NULL,
    addr BLOB NOT NULL,
    kind TEXT NOT NULL,
    mac INTEGER,
    old_mac INTEGER
);
CREATE INDEX events_at ON events(at);
CREATE INDEX events_addr ON events(addr, at);
CREATE INDEX events_run ON events(run, addr);
";
