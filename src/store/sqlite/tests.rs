//! The SQLite backend against files in a temp dir: runs recorded and joined, events kept,
//! the questions answered, foreign and newer files refused untouched.

use super::*;
use crate::results::row::Status;
use crate::store::{
    EventEntry, EventKind, EventsQuery, HostsQuery, Inventory, RunFacts, Sighting, Vacancy,
};
use crate::targets::Span;
use crate::wire::ether::Mac;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn day(n: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_770_000_000 + n * 86_400)
}

fn facts(job: &str, at: SystemTime) -> RunFacts {
    RunFacts {
        job: job.into(),
        started: at,
        ended: at + Duration::from_secs(5),
        command: "sweep 198.18.0.0/29".into(),
        targets: "198.18.0.0/29".into(),
        seed: Some(1),
        shard: None,
        exit: 0,
        interrupted: false,
        source: "scan".into(),
        resumed: false,
    }
}

fn s(addr: &str, status: Status, macs: &[Mac]) -> Sighting {
    Sighting {
        addr: addr.parse().unwrap(),
        status,
        detail: String::new(),
        macs: macs.to_vec(),
    }
}

fn record(
    inv: &mut SqliteInventory,
    run: &RunFacts,
    seen: Vec<Sighting>,
) -> Vec<(String, EventKind)> {
    let out = inv.record(run, &mut seen.into_iter().map(Ok)).unwrap();
    out.shown
        .iter()
        .map(|e| (e.addr.to_string(), e.kind))
        .collect()
}

fn all_events(inv: &SqliteInventory) -> Vec<EventEntry> {
    let mut v = Vec::new();
    inv.events(&EventsQuery::default(), &mut |e| {
        v.push(e);
        Ok(())
    })
    .unwrap();
    v
}

use crate::results::row::Status::{Down, Up};
use EventKind::*;

const A: Mac = Mac([0x02, 0, 0, 0, 0, 0xa]);
const B: Mac = Mac([0x02, 0, 0, 0, 0, 0xb]);

#[test]
fn runs_judge_only_what_they_probed() {
    let dir = tempfile::tempdir().unwrap();
    let mut inv = SqliteInventory::open(&dir.path().join("inv.db")).unwrap();
    let got = record(
        &mut inv,
        &facts("n1", day(0)),
        vec![
            s("198.18.0.1", Up, &[A]),
            s("198.18.0.2", Up, &[]),
            s("198.18.0.3", Down, &[]),
        ],
    );
    assert_eq!(
        got,
        [
            ("198.18.0.1".into(), New),
            ("198.18.0.1".into(), NewMac),
            ("198.18.0.2".into(), New)
        ]
    );
    // Night 2: .1 changed MAC, .2 gone, .3 appeared.
    let got = record(
        &mut inv,
        &facts("n2", day(1)),
        vec![
            s("198.18.0.1", Up, &[B]),
            s("198.18.0.2", Down, &[]),
            s("198.18.0.3", Up, &[]),
        ],
    );
    assert_eq!(
        got,
        [
            ("198.18.0.1".into(), MacChanged),
            ("198.18.0.1".into(), NewMac),
            ("198.18.0.2".into(), Gone),
            ("198.18.0.3".into(), New)
        ]
    );
    // Night 3 probes only .2 (a narrower run): .1 and .3 are not judged gone.
    let got = record(
        &mut inv,
        &facts("n3", day(2)),
        vec![s("198.18.0.2", Up, &[])],
    );
    assert_eq!(got, [("198.18.0.2".into(), Back)]);
    // Night 4: .1 flips back to A.
    let got = record(
        &mut inv,
        &facts("n4", day(3)),
        vec![s("198.18.0.1", Up, &[A])],
    );
    assert_eq!(got, [("198.18.0.1".into(), FlipFlop)]);
    assert_eq!(all_events(&inv).len(), 9);

    let (host, line) = inv.host("198.18.0.1".parse().unwrap()).unwrap().unwrap();
    assert_eq!(host.first_seen, Some(day(0)));
    assert_eq!(host.last_seen, Some(day(3)));
    assert_eq!(host.times_seen, 3);
    assert_eq!(host.macs, [A]);
    let words: Vec<_> = line.iter().map(|t| t.what.as_str()).collect();
    assert_eq!(
        words,
        [
            "new",
            "new-mac",
            "mac-first-seen",
            "mac-changed",
            "new-mac",
            "mac-first-seen",
            "mac-last-seen",
            "flip-flop",
            "mac-last-seen"
        ]
    );
    let mut hosts = Vec::new();
    let q = HostsQuery {
        new_since: Some(day(1)),
        ..HostsQuery::default()
    };
    inv.hosts(&q, &mut |h| {
        hosts.push(h.addr.to_string());
        Ok(())
    })
    .unwrap();
    assert_eq!(hosts, ["198.18.0.3"]);
    // Not seen up since night 3 (day 2): .3, last up on night 2.
    let mut stale = Vec::new();
    let q = HostsQuery {
        not_seen_since: Some(day(2)),
        ..HostsQuery::default()
    };
    inv.hosts(&q, &mut |h| {
        stale.push(h.addr.to_string());
        Ok(())
    })
    .unwrap();
    assert_eq!(stale, ["198.18.0.3"]);
}

#[test]
fn shards_of_one_job_make_one_run_and_judge_their_slice() {
    let dir = tempfile::tempdir().unwrap();
    let mut inv = SqliteInventory::open(&dir.path().join("inv.db")).unwrap();
    record(
        &mut inv,
        &facts("first", day(0)),
        vec![s("198.18.0.1", Up, &[]), s("198.18.0.2", Up, &[])],
    );
    let shard = |i| RunFacts {
        shard: Some((i, 2)),
        ..facts("job", day(1))
    };
    // Shard 0 probes .1 only: it says nothing of .2, which shard 1 owns.
    assert_eq!(
        record(&mut inv, &shard(0), vec![s("198.18.0.1", Down, &[])]),
        [("198.18.0.1".into(), Gone)]
    );
    assert_eq!(
        record(&mut inv, &shard(1), vec![s("198.18.0.2", Up, &[])]),
        []
    );
    let mut runs = Vec::new();
    inv.runs(&mut |r| {
        runs.push((r.id, r.parts, r.probed, r.interrupted));
        Ok(())
    })
    .unwrap();
    assert_eq!(runs, [(1, 1, 2, false), (2, 2, 2, false)]);
    // The job is complete: the same job id the next night starts a new run.
    record(&mut inv, &shard(0), vec![]);
    assert_eq!(inv.runs(&mut |_| Ok(())).unwrap(), 3);
}

#[test]
fn a_resumed_run_completes_the_interrupted_one_and_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut inv = SqliteInventory::open(&dir.path().join("inv.db")).unwrap();
    record(
        &mut inv,
        &facts("n1", day(0)),
        vec![s("198.18.0.1", Up, &[]), s("198.18.0.2", Up, &[])],
    );
    let cut = RunFacts {
        interrupted: true,
        exit: 130,
        ..facts("n2", day(1))
    };
    // The interrupted part reached .1 (up) and .2 (no answer yet: gone, for now).
    let got = record(
        &mut inv,
        &cut,
        vec![s("198.18.0.1", Up, &[]), s("198.18.0.2", Down, &[])],
    );
    assert_eq!(got, [("198.18.0.2".into(), Gone)]);
    // The resumed run carries .1's earlier answer and finds .2 after all.
    let resumed = RunFacts {
        resumed: true,
        ..facts("n2", day(1) + Duration::from_secs(60))
    };
    let got = record(
        &mut inv,
        &resumed,
        vec![s("198.18.0.1", Up, &[]), s("198.18.0.2", Up, &[])],
    );
    assert_eq!(got, []);
    assert!(
        all_events(&inv).iter().all(|e| e.kind == New),
        "the gone was taken back"
    );
    let (h, _) = inv.host("198.18.0.1".parse().unwrap()).unwrap().unwrap();
    assert_eq!(h.times_seen, 2, "one run, counted once");
    let (h, _) = inv.host("198.18.0.2".parse().unwrap()).unwrap().unwrap();
    assert_eq!((h.times_seen, h.status), (2, Up));
    assert_eq!(inv.runs(&mut |_| Ok(())).unwrap(), 2);
}

#[test]
fn an_interrupted_run_nobody_resumed_takes_no_later_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut inv = SqliteInventory::open(&dir.path().join("inv.db")).unwrap();
    let cut = RunFacts {
        interrupted: true,
        ..facts("same-seed", day(0))
    };
    record(&mut inv, &cut, vec![s("198.18.0.1", Up, &[])]);
    // The next night, same seed and targets, not resumed: a run of its own, judged.
    let got = record(
        &mut inv,
        &facts("same-seed", day(1)),
        vec![s("198.18.0.1", Down, &[])],
    );
    assert_eq!(got, [("198.18.0.1".into(), Gone)]);
    // A shard of the same job a day later does not join the stale open run either.
    let late = RunFacts {
        shard: Some((0, 2)),
        ..facts("same-seed", day(2))
    };
    record(&mut inv, &late, vec![]);
    assert_eq!(inv.runs(&mut |_| Ok(())).unwrap(), 3);
}

#[test]
fn an_older_run_recorded_late_changes_no_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let mut inv = SqliteInventory::open(&dir.path().join("inv.db")).unwrap();
    record(
        &mut inv,
        &facts("late", day(5)),
        vec![s("198.18.0.1", Up, &[])],
    );
    let got = record(
        &mut inv,
        &facts("early", day(4)),
        vec![s("198.18.0.1", Down, &[])],
    );
    assert_eq!(got, []);
    let (h, _) = inv.host("198.18.0.1".parse().unwrap()).unwrap().unwrap();
    assert_eq!((h.status, h.last_probed), (Up, day(5)));
}

#[test]
fn free_names_why() {
    let dir = tempfile::tempdir().unwrap();
    let mut inv = SqliteInventory::open(&dir.path().join("inv.db")).unwrap();
    record(
        &mut inv,
        &facts("n1", day(0)),
        vec![
            s("198.18.0.1", Up, &[]),
            s("198.18.0.2", Down, &[]),
            s("198.18.0.3", Up, &[]),
        ],
    );
    record(
        &mut inv,
        &facts("n2", day(100)),
        vec![s("198.18.0.3", Up, &[])],
    );
    let mut free = Vec::new();
    inv.free(
        &[Span::v4(0xC612_0001, 0xC612_0004)],
        day(10),
        &mut |a, v| {
            free.push((a.to_string(), v));
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(
        free,
        [
            ("198.18.0.1".into(), Vacancy::LastUp(day(0))),
            ("198.18.0.2".into(), Vacancy::NeverUp),
            ("198.18.0.4".into(), Vacancy::NeverProbed)
        ]
    );
}

#[test]
fn prune_keeps_the_aggregates() {
    let dir = tempfile::tempdir().unwrap();
    let mut inv = SqliteInventory::open(&dir.path().join("inv.db")).unwrap();
    record(
        &mut inv,
        &facts("n1", day(0)),
        vec![s("198.18.0.1", Up, &[])],
    );
    record(
        &mut inv,
        &facts("n2", day(9)),
        vec![s("198.18.0.1", Down, &[])],
    );
    let p = inv.prune(day(5)).unwrap();
    assert_eq!((p.runs, p.events), (1, 1));
    assert_eq!(all_events(&inv).len(), 1);
    let (h, _) = inv.host("198.18.0.1".parse().unwrap()).unwrap().unwrap();
    assert_eq!(h.first_seen, Some(day(0)));
}

#[test]
fn a_run_after_pruning_everything_is_a_run_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut inv = SqliteInventory::open(&dir.path().join("inv.db")).unwrap();
    record(
        &mut inv,
        &facts("n1", day(0)),
        vec![s("198.18.0.1", Up, &[])],
    );
    inv.prune(day(1)).unwrap();
    // Its id must not be the pruned run's, or it would pass for another part of it.
    let got = record(
        &mut inv,
        &facts("n2", day(2)),
        vec![s("198.18.0.1", Down, &[])],
    );
    assert_eq!(got, [("198.18.0.1".into(), Gone)]);
    let mut ids = Vec::new();
    inv.runs(&mut |r| {
        ids.push(r.id);
        Ok(())
    })
    .unwrap();
    assert_eq!(ids, [2]);
}

#[test]
fn a_source_failing_part_way_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut inv = SqliteInventory::open(&dir.path().join("inv.db")).unwrap();
    let bad = crate::error::Error::NoTargets("");
    let mut seen = vec![Ok(s("198.18.0.1", Up, &[A])), Err(bad)].into_iter();
    assert!(inv.record(&facts("n1", day(0)), &mut seen).is_err());
    assert_eq!(inv.runs(&mut |_| Ok(())).unwrap(), 0);
    assert!(inv.host("198.18.0.1".parse().unwrap()).unwrap().is_none());
    assert!(all_events(&inv).is_empty());
}

#[test]
fn foreign_and_newer_files_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    let bytes = b"these are not the rows you are looking for\n".repeat(100);
    std::fs::write(&text, &bytes).unwrap();
    let e = SqliteInventory::open(&text).err().unwrap();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("not an SQLite database"), "{e}");
    assert_eq!(std::fs::read(&text).unwrap(), bytes);

    let other = dir.path().join("other.db");
    {
        let c = Connection::open(&other).unwrap();
        c.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            .unwrap();
    }
    let before = std::fs::read(&other).unwrap();
    let e = SqliteInventory::open(&other).err().unwrap();
    assert!(e.to_string().contains("not a sweep inventory"), "{e}");
    assert_eq!(e.exit_code(), 2);
    assert_eq!(std::fs::read(&other).unwrap(), before);

    let newer = dir.path().join("newer.db");
    drop(SqliteInventory::open(&newer).unwrap());
    {
        let c = Connection::open(&newer).unwrap();
        c.execute_batch(&format!("PRAGMA user_version={}", schema::VERSION + 1))
            .unwrap();
    }
    let before = std::fs::read(&newer).unwrap();
    let e = SqliteInventory::open(&newer).err().unwrap();
    assert!(e.to_string().contains("newer sweep"), "{e}");
    assert_eq!(e.exit_code(), 2);
    assert_eq!(std::fs::read(&newer).unwrap(), before);

    let e = SqliteInventory::open_existing(&dir.path().join("missing.db"))
        .err()
        .unwrap();
    assert!(e.to_string().contains("does not exist"), "{e}");
    assert!(!dir.path().join("missing.db").exists());
}

#[test]
fn an_empty_file_becomes_an_inventory_at_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("empty.db");
    std::fs::write(&p, b"").unwrap();
    let inv = SqliteInventory::open(&p).unwrap();
    let (app, v, _) = inv.identity().unwrap();
    assert_eq!((app, v), (schema::APPLICATION_ID, schema::VERSION));
    let mode: String = inv
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

/// Many scans creating one fresh file at the same moment (`tests/inventory.rs`'s two
/// writers, without namespaces): each opens it through `store::open` and records a run of
/// its own. Two races in opening, both seen here before they were fixed (`mod.rs`): the
/// switch to WAL, which SQLite may refuse with "database is locked" without waiting, and
/// the identity read while another opener commits the schema ("not a sweep inventory").
/// Every opener must get through, every run be recorded. Threads race as processes do:
/// SQLite's file locks are per connection. Bounded: 30 rounds of 12, about 2 s.
#[test]
fn many_scans_creating_one_file_at_once_all_record() {
    const OPENERS: usize = 12;
    const ROUNDS: usize = 30;
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("inv.db");
        let start = std::sync::Barrier::new(OPENERS);
        let failures: Vec<String> = std::thread::scope(|scope| {
            let jobs: Vec<_> = (0..OPENERS)
                .map(|i| {
                    let (db, start) = (&db, &start);
                    scope.spawn(move || -> crate::error::Result<()> {
                        start.wait();
                        let mut inv = crate::store::open(db, true)?;
                        let seen = vec![Ok(s("198.18.0.1", Status::Up, &[]))];
                        inv.record(&facts(&format!("job{i}"), day(1)), &mut seen.into_iter())?;
                        Ok(())
                    })
                })
                .collect();
            jobs.into_iter()
                .filter_map(|j| j.join().unwrap().err().map(|e| e.to_string()))
                .collect()
        });
        assert!(failures.is_empty(), "round {round}: {failures:?}");
        let inv = SqliteInventory::open_existing(&db).unwrap();
        let n: i64 = inv
            .conn
            .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, OPENERS as i64, "round {round}");
    }
}
