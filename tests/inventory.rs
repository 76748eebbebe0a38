//! The inventory end to end (issue 26): scans recording with --db in a namespace of their
//! own whose loopback answers for 198.18.0.x (local routes added and removed between runs),
//! the questions asked of what they recorded, imports of the same CSVs, and the faults: a
//! foreign file, a newer schema, two writers at once, SIGKILL while recording, a disk that
//! cannot be written. Trials that scan need root and netns (reported ignored otherwise).

mod common;

use common::{
    ensure, lab_trial, one_line_naming, out_dir, path_str, plain_trial, run_trials, sweep_bin,
    sweep_cmd, sweep_in, sweep_local, Need, Netns, Running, RUN_LIMIT,
};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn main() {
    run_trials(vec![
        lab_trial(
            "runs_come_out_new_gone_back_and_imports_agree",
            Need::Netns,
            new_gone_back,
        ),
        plain_trial(
            "a_foreign_file_is_refused_untouched_before_any_probe",
            foreign_file,
        ),
        plain_trial("a_newer_schema_is_refused_untouched", newer_schema),
        lab_trial(
            "two_writers_at_once_are_both_recorded",
            Need::Netns,
            two_writers,
        ),
        lab_trial(
            "sigkill_while_recording_leaves_the_previous_state",
            Need::Netns,
            sigkill,
        ),
        lab_trial(
            "an_unwritable_disk_keeps_the_output_and_exits_3",
            Need::Netns,
            unwritable,
        ),
        lab_trial(
            "inventory_questions_exit_0_rows_1_none",
            Need::Netns,
            questions,
        ),
        lab_trial(
            "shards_record_one_run_and_a_resumed_scan_completes_its_run",
            Need::Netns,
            shards_and_resume,
        ),
        lab_trial(
            "the_history_page_renders_in_chromium",
            Need::Netns,
            history_page,
        ),
        lab_trial(
            "on_a_bridge_lan_macs_change_flip_flop_and_conflict",
            Need::Netns,
            lan_macs,
        ),
    ])
}

/// A namespace whose loopback answers for 198.18.0.`hosts`; the rest of 198.18.0.0/24 is
/// routed out of lo too, so probes to absent hosts leave (and are dropped) rather than
/// being refused by the kernel.
fn ns_with(hosts: &[u8]) -> Result<Netns, String> {
    let ns = Netns::new()?;
    let ok = Command::new("ip")
        .args(["-n", &ns.name, "route", "add", "198.18.0.0/24", "dev", "lo"])
        .status()
        .is_ok_and(|s| s.success());
    ensure(ok, || "ip route add 198.18.0.0/24 dev lo failed".into())?;
    for h in hosts {
        route(&ns, "add", &format!("198.18.0.{h}"))?;
    }
    Ok(ns)
}

fn route(ns: &Netns, verb: &str, addr: &str) -> Result<(), String> {
    let ok = Command::new("ip")
        .args([
            "-n", &ns.name, "route", verb, "local", addr, "dev", "lo", "table", "local",
        ])
        .status()
        .is_ok_and(|s| s.success());
    ensure(ok, || format!("ip route {verb} local {addr} failed"))
}

/// `sweep inventory ARGS` (no packets: it only reads and writes the file).
fn inventory(args: &[&str]) -> Result<common::SweepRun, String> {
    let mut all = vec!["inventory"];
    all.extend_from_slice(args);
    sweep_local(&all, &[])
}

/// The `event addr` pairs of `sweep: KIND ADDR …` lines on stderr.
fn event_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("sweep: "))
        .filter(|l| {
            let word = l.split(' ').next().unwrap_or_default();
            ["new", "gone", "back", "mac-changed", "flip-flop", "new-mac"].contains(&word)
        })
        .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

/// The `event addr` pairs of `inventory events` CSV.
fn events_csv(db: &str, extra: &[&str]) -> Result<Vec<String>, String> {
    let mut args = vec!["events", "--db", db];
    args.extend_from_slice(extra);
    let r = inventory(&args)?;
    ensure(matches!(r.code, Some(0 | 1)), || format!("events: {r:?}"))?;
    let (header, rows) = common::parse_csv(&r.stdout)?;
    ensure(
        header == ["at", "run", "addr", "event", "mac", "old_mac"],
        || format!("header {header:?}"),
    )?;
    Ok(rows.iter().map(|r| format!("{} {}", r[3], r[2])).collect())
}

const RANGE: &str = "198.18.0.1-198.18.0.6";

fn scan(ns: &Netns, db: &str, out: &str) -> Result<common::SweepRun, String> {
    sweep_in(
        &ns.name,
        &[RANGE, "--db", db, "-o", out, "--timeout", "300ms", "-q"],
    )
}

fn new_gone_back() -> Result<(), String> {
    let dir = out_dir()?;
    let p = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    let db = p("inv.db");
    let ns = ns_with(&[1, 2, 3, 4])?;
    let r1 = scan(&ns, &db, &p("night1.csv"))?;
    r1.expect_code(0)?;
    let want1 = [
        "new 198.18.0.1",
        "new 198.18.0.2",
        "new 198.18.0.3",
        "new 198.18.0.4",
    ];
    ensure(event_lines(&r1.stderr) == want1, || {
        format!("night 1 (with -q): {}", r1.stderr)
    })?;
    route(&ns, "del", "198.18.0.2")?;
    route(&ns, "add", "198.18.0.5")?;
    let r2 = scan(&ns, &db, &p("night2.csv"))?;
    r2.expect_code(0)?;
    let want2 = ["gone 198.18.0.2", "new 198.18.0.5"];
    ensure(event_lines(&r2.stderr) == want2, || {
        format!("night 2: {}", r2.stderr)
    })?;
    route(&ns, "add", "198.18.0.2")?;
    let r3 = scan(&ns, &db, &p("night3.csv"))?;
    r3.expect_code(0)?;
    ensure(event_lines(&r3.stderr) == ["back 198.18.0.2"], || {
        format!("night 3: {}", r3.stderr)
    })?;

    let kept = events_csv(&db, &[])?;
    let all: Vec<String> = [&want1[..], &want2, &["back 198.18.0.2"]]
        .concat()
        .iter()
        .map(|s| s.to_string())
        .collect();
    ensure(kept == all, || format!("kept events {kept:?}"))?;
    ensure(
        events_csv(&db, &["--kind", "gone,back"])? == ["gone 198.18.0.2", "back 198.18.0.2"],
        || "--kind".into(),
    )?;

    let hosts = inventory(&["hosts", "--db", &db])?;
    hosts.expect_code(0)?;
    let (_, rows) = common::parse_csv(&hosts.stdout)?;
    let seen: Vec<(String, String)> = rows.iter().map(|r| (r[0].clone(), r[6].clone())).collect();
    let want: Vec<(String, String)> = [("1", "3"), ("2", "2"), ("3", "3"), ("4", "3"), ("5", "2")]
        .iter()
        .map(|(h, n)| (format!("198.18.0.{h}"), n.to_string()))
        .collect();
    ensure(seen == want, || {
        format!("hosts (addr, times_seen): {seen:?}")
    })?;
    // .6 was probed every night and never answered: free, "never-up".
    let free = inventory(&["free", "198.18.0.0/29", "--for", "1h", "--db", &db])?;
    free.expect_code(0)?;
    ensure(free.stdout.contains("198.18.0.6,never-up,"), || {
        free.stdout.clone()
    })?;

    // The same CSVs imported, with what they scanned, judge the same events.
    let db2 = p("imported.db");
    for (csv, at) in [
        ("night1.csv", "3d"),
        ("night2.csv", "2d"),
        ("night3.csv", "1d"),
    ] {
        let r = inventory(&[
            "import",
            &p(csv),
            "--at",
            at,
            "--targets",
            RANGE,
            "--db",
            &db2,
        ])?;
        r.expect_code(0)?;
    }
    let imported = events_csv(&db2, &[])?;
    ensure(imported == all, || format!("imported events {imported:?}"))?;
    // An archive older than what is recorded is refused, with one line, nothing recorded.
    let r = inventory(&["import", &p("night1.csv"), "--at", "30d", "--db", &db2])?;
    r.expect_code(2)?;
    one_line_naming(&r.stderr, &["night1.csv", "import archives first"])?;
    ensure(events_csv(&db2, &[])? == all, || {
        "the refused import recorded something".into()
    })
}

fn foreign_file() -> Result<(), String> {
    let dir = out_dir()?;
    let db = dir.path().join("notes.db");
    let bytes = b"not a database, just notes\n".repeat(64);
    std::fs::write(&db, &bytes).map_err(|e| e.to_string())?;
    let out = dir.path().join("out.csv");
    // Refused before anything is resolved or sent: no packet leaves even in the root
    // namespace, and nothing is written.
    let r = sweep_local(
        &["127.0.0.1", "--db", path_str(&db), "-o", path_str(&out)],
        &[],
    )?;
    r.expect_code(2)?;
    one_line_naming(&r.stderr, &["notes.db", "not an SQLite database"])?;
    ensure(
        std::fs::read(&db).map_err(|e| e.to_string())? == bytes,
        || "the file was changed".into(),
    )?;
    ensure(!out.exists(), || "an output was written".into())?;
    let r = sweep_local(
        &["127.0.0.1", "-o", path_str(&out)],
        &[("SWEEP_DB", path_str(&db))],
    )?;
    r.expect_code(2)?;
    one_line_naming(&r.stderr, &["notes.db"])?;
    // Another program's SQLite file: refused the same way.
    let other = dir.path().join("other.db");
    {
        let c = rusqlite::Connection::open(&other).map_err(|e| e.to_string())?;
        c.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
            .map_err(|e| e.to_string())?;
    }
    let before = std::fs::read(&other).map_err(|e| e.to_string())?;
    let r = inventory(&["hosts", "--db", path_str(&other)])?;
    r.expect_code(2)?;
    one_line_naming(&r.stderr, &["other.db", "not a sweep inventory"])?;
    ensure(
        std::fs::read(&other).map_err(|e| e.to_string())? == before,
        || "changed".into(),
    )
}

fn newer_schema() -> Result<(), String> {
    let dir = out_dir()?;
    let db = dir.path().join("inv.db");
    // An inventory made by this sweep (an import creates one), then stamped newer.
    let csv = dir.path().join("h.csv");
    std::fs::write(
        &csv,
        format!(
            "{}\r\n198.18.0.1,up,0.100,64,198.18.0.1,1,0,,,\r\n",
            common::SWEEP_HEADER
        ),
    )
    .map_err(|e| e.to_string())?;
    inventory(&["import", path_str(&csv), "--db", path_str(&db)])?.expect_code(0)?;
    {
        let c = rusqlite::Connection::open(&db).map_err(|e| e.to_string())?;
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| e.to_string())?;
        c.execute_batch(&format!("PRAGMA user_version={}", v + 1))
            .map_err(|e| e.to_string())?;
    }
    let before = std::fs::read(&db).map_err(|e| e.to_string())?;
    let r = sweep_local(
        &["127.0.0.1", "--db", path_str(&db), "-o", "/dev/null"],
        &[],
    )?;
    r.expect_code(2)?;
    one_line_naming(&r.stderr, &["inv.db", "newer sweep"])?;
    let r = inventory(&["runs", "--db", path_str(&db)])?;
    r.expect_code(2)?;
    one_line_naming(&r.stderr, &["newer sweep"])?;
    ensure(
        std::fs::read(&db).map_err(|e| e.to_string())? == before,
        || "changed".into(),
    )
}

fn two_writers() -> Result<(), String> {
    let dir = out_dir()?;
    let db = dir.path().join("inv.db");
    let ns = ns_with(&[1, 2, 3])?;
    let spawn = |n: &str| {
        let out = dir.path().join(n);
        Running::spawn(sweep_cmd(
            &ns.name,
            &[
                RANGE,
                "--db",
                path_str(&db),
                "-o",
                path_str(&out),
                "--timeout",
                "300ms",
                "-q",
            ],
        ))
    };
    let (a, b) = (spawn("a.csv")?, spawn("b.csv")?);
    let (a, b) = (a.wait(RUN_LIMIT)?, b.wait(RUN_LIMIT)?);
    a.expect_code(0)?;
    b.expect_code(0)?;
    let runs = inventory(&["runs", "--db", path_str(&db)])?;
    let (_, rows) = common::parse_csv(&runs.stdout)?;
    ensure(rows.len() == 2, || format!("runs: {}", runs.stdout))?;
    let hosts = inventory(&["hosts", "--db", path_str(&db)])?;
    let (_, rows) = common::parse_csv(&hosts.stdout)?;
    ensure(rows.len() == 3 && rows.iter().all(|r| r[6] == "2"), || {
        format!("hosts: {}", hosts.stdout)
    })?;
    // Each host was new once, whichever run recorded first.
    let events = events_csv(path_str(&db), &[])?;
    ensure(
        events == ["new 198.18.0.1", "new 198.18.0.2", "new 198.18.0.3"],
        || format!("{events:?}"),
    )
}

/// Every recorded run saw every host up: a half-recorded run would break this.
fn consistent(db: &Path) -> Result<i64, String> {
    let c = rusqlite::Connection::open(db).map_err(|e| e.to_string())?;
    let q = |sql: &str| {
        c.query_row(sql, [], |r| r.get::<_, i64>(0))
            .map_err(|e| format!("{sql}: {e}"))
    };
    let runs = q("SELECT count(*) FROM runs")?;
    ensure(q("SELECT count(*) FROM parts")? == runs, || {
        "parts != runs".into()
    })?;
    let odd = q("SELECT count(*) FROM hosts WHERE times_seen != (SELECT count(*) FROM runs)")?;
    ensure(odd == 0, || {
        format!("{odd} hosts counted in a run that is not there")
    })?;
    let new = q("SELECT count(*) FROM events WHERE kind = 'new'")?;
    ensure(new == q("SELECT count(*) FROM hosts")?, || {
        "new events != hosts".into()
    })?;
    Ok(runs)
}

fn sigkill() -> Result<(), String> {
    let dir = out_dir()?;
    let db = dir.path().join("inv.db");
    let ns = Netns::new()?;
    // 4094 hosts: a recording long enough to be killed inside, short enough to repeat.
    route(&ns, "add", "198.18.0.0/20")?;
    let args = |out: &Path| -> Vec<String> {
        [
            "198.18.0.0/20",
            "--db",
            path_str(&db),
            "-o",
            path_str(out),
            "--timeout",
            "200ms",
            "-q",
        ]
        .map(String::from)
        .to_vec()
    };
    let first = dir.path().join("first.csv");
    let a: Vec<String> = args(&first);
    sweep_in(&ns.name, &a.iter().map(String::as_str).collect::<Vec<_>>())?.expect_code(0)?;
    let mut runs = consistent(&db)?;
    ensure(runs == 1, || format!("{runs} runs after the first"))?;
    let mut killed_inside = 0;
    for (i, delay_ms) in [0u64, 1, 2, 4, 8, 16, 32, 64, 250].into_iter().enumerate() {
        let out = dir.path().join(format!("k{i}.csv"));
        let a = args(&out);
        let run = Running::spawn(sweep_cmd(
            &ns.name,
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
        ))?;
        // The output is renamed into place before the recording starts.
        let start = std::time::Instant::now();
        while !out.exists() && start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        run.signal(libc::SIGKILL)?;
        let r = run.wait(RUN_LIMIT)?;
        let now = consistent(&db)?;
        ensure(now == runs || now == runs + 1, || {
            format!("{runs} runs became {now}")
        })?;
        if r.code.is_none() && now == runs {
            killed_inside += 1;
        }
        runs = now;
    }
    eprintln!("killed before the commit in {killed_inside} of 9 tries");
    ensure(killed_inside > 0, || {
        "no kill landed before the commit: the window was never hit".into()
    })?;
    // The next run records normally.
    let last = dir.path().join("last.csv");
    let a = args(&last);
    sweep_in(&ns.name, &a.iter().map(String::as_str).collect::<Vec<_>>())?.expect_code(0)?;
    let after = consistent(&db)?;
    ensure(after == runs + 1, || {
        format!("{after} runs after a normal run, {runs} before")
    })
}

fn unwritable() -> Result<(), String> {
    let dir = out_dir()?;
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).map_err(|e| e.to_string())?;
    let ns = ns_with(&[1, 2])?;
    let db = mnt.join("inv.db");
    let (out1, out2) = (dir.path().join("one.csv"), dir.path().join("two.csv"));
    // A private mount namespace: the tmpfs and its read-only remount are this test's only.
    let script = format!(
        "set -e; mount -t tmpfs -o size=4m tmpfs {m}; \
         {s} {r} --db {db} -o {o1} --timeout 300ms -q; \
         mount -o remount,ro {m}; \
         set +e; {s} {r} --db {db} -o {o2} --timeout 300ms -q; echo exit=$?; \
         {s} inventory hosts --db {db}; echo asked=$?; \
         mount -o remount,rw {m}; ls -l {m} >&2",
        m = path_str(&mnt),
        s = sweep_bin(),
        r = RANGE,
        db = path_str(&db),
        o1 = path_str(&out1),
        o2 = path_str(&out2)
    );
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns", "exec", &ns.name, "unshare", "-m", "sh", "-c", &script,
    ]);
    let r = common::run_limited(cmd, RUN_LIMIT)?;
    ensure(r.stdout.contains("exit=3"), || format!("read-only: {r:?}"))?;
    // The questions still answer from a read-only inventory.
    ensure(
        r.stdout.contains("asked=0") && r.stdout.contains("198.18.0.2,up,"),
        || format!("asking a read-only inventory: {r:?}"),
    )?;
    let lines: Vec<&str> = r.stderr.lines().filter(|l| l.contains("inv.db")).collect();
    ensure(
        lines
            .iter()
            .any(|l| l.contains("not recorded") && l.contains("output was written")),
        || format!("stderr: {}", r.stderr),
    )?;
    let rows = common::read_sweep(&out2)?;
    ensure(rows.len() == 2, || format!("the scan's output: {rows:?}"))?;
    let first = common::read_sweep(&out1)?;
    ensure(first.len() == 2, || "first output".into())
}

fn questions() -> Result<(), String> {
    let dir = out_dir()?;
    let db = dir.path().join("inv.db");
    let ns = ns_with(&[1])?;
    scan(&ns, path_str(&db), path_str(&dir.path().join("a.csv")))?.expect_code(0)?;
    let db = path_str(&db);
    inventory(&["hosts", "--db", db, "--format", "ndjson"])?.expect_code(0)?;
    inventory(&["hosts", "10.0.0.0/8", "--db", db])?.expect_code(1)?;
    inventory(&[
        "events",
        "--since",
        "2000-01-01",
        "--until",
        "2000-01-02",
        "--db",
        db,
    ])?
    .expect_code(1)?;
    let host = inventory(&["host", "198.18.0.1", "--db", db, "--format", "json"])?;
    host.expect_code(0)?;
    let v: serde_json::Value = serde_json::from_str(&host.stdout).map_err(|e| e.to_string())?;
    let whats: Vec<&str> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["what"].as_str())
        .collect();
    ensure(
        whats == ["first-seen", "last-seen", "new", "last-probed"],
        || format!("{whats:?}"),
    )?;
    inventory(&["host", "198.18.0.9", "--db", db])?.expect_code(1)?;
    let bad = inventory(&["hosts", "--new-since", "yesterday", "--db", db])?;
    bad.expect_code(2)?;
    one_line_naming(&bad.stderr, &["'yesterday'", "--new-since"])?;
    let none = inventory(&["runs", "--db", path_str(&dir.path().join("missing.db"))])?;
    none.expect_code(2)?;
    ensure(!dir.path().join("missing.db").exists(), || {
        "a question created a database".into()
    })?;
    // --every records each run; its events replace the change lines, not repeat them:
    // 198.18.0.1 leaves between the two runs.
    let every = dir.path().join("every.db");
    let e_out = dir.path().join("e.csv");
    let args = [
        "198.18.0.1-198.18.0.3",
        "--every",
        "2s",
        "--runs",
        "2",
        "--db",
        path_str(&every),
        "-o",
        path_str(&e_out),
        "--timeout",
        "200ms",
        "-q",
    ];
    let run = Running::spawn(sweep_cmd(&ns.name, &args))?;
    std::thread::sleep(Duration::from_millis(1000));
    route(&ns, "del", "198.18.0.1")?;
    let r = run.wait(RUN_LIMIT)?;
    r.expect_code(1)?;
    ensure(
        event_lines(&r.stderr) == ["new 198.18.0.1", "gone 198.18.0.1"],
        || format!("--every --db: {}", r.stderr),
    )?;
    ensure(!r.stderr.contains("run 2"), || {
        format!("change lines repeated: {}", r.stderr)
    })?;
    ensure(runs_parts(&every)?.0 == 2, || {
        "--every recorded fewer than 2 runs".into()
    })?;
    // A file that is not a scan result: named with its line, nothing of it recorded.
    let junk = dir.path().join("junk.csv");
    std::fs::write(
        &junk,
        format!(
            "{}\r\n198.18.0.7,up,0.1,64,198.18.0.7,1,0,,,\r\nnot,a,row\r\n",
            common::SWEEP_HEADER
        ),
    )
    .map_err(|e| e.to_string())?;
    let r = inventory(&["import", path_str(&junk), "--db", db])?;
    r.expect_code(2)?;
    one_line_naming(&r.stderr, &["junk.csv:3"])?;
    inventory(&["host", "198.18.0.7", "--db", db])?.expect_code(1)?;
    // Prune keeps what the hosts are.
    inventory(&["prune", "--before", "2000-01-01", "--db", db])?.expect_code(1)?;
    inventory(&["prune", "--before", "0s", "--db", db])?.expect_code(0)?;
    inventory(&["runs", "--db", db])?.expect_code(1)?;
    inventory(&["hosts", "--db", db])?.expect_code(0)
}

/// `sh -ec SCRIPT` (only `ip -n NS` commands on namespaces this test made).
fn sh(script: &str) -> Result<(), String> {
    let out = Command::new("sh")
        .args(["-ec", script])
        .output()
        .map_err(|e| e.to_string())?;
    ensure(out.status.success(), || {
        format!("{script}: {}", String::from_utf8_lossy(&out.stderr))
    })
}

/// A bridge LAN of our own: the scanner (198.18.0.1) and two hosts on one bridge; host A
/// holds 198.18.0.10 and changes its MAC between runs, host B claims the same address
/// for one run (a conflict).
fn lan_macs() -> Result<(), String> {
    let (br, scanner, a, b) = (Netns::new()?, Netns::new()?, Netns::new()?, Netns::new()?);
    let mut s = format!(
        "ip -n {br} link add br0 type bridge\nip -n {br} link set br0 up\n",
        br = br.name
    );
    for (k, ns) in [&scanner, &a, &b].iter().enumerate() {
        s += &format!(
            "ip -n {br} link add p{k} type veth peer name eth0 netns {ns}\n\
             ip -n {br} link set p{k} master br0 up\n\
             ip -n {ns} link set eth0 up\n",
            br = br.name,
            ns = ns.name
        );
    }
    s += &format!(
        "ip -n {sc} addr add 198.18.0.1/24 dev eth0\n\
         ip -n {a} link set eth0 down\n\
         ip -n {a} link set eth0 address 02:00:5e:00:00:0a\n\
         ip -n {a} link set eth0 up\n\
         ip -n {a} addr add 198.18.0.10/24 dev eth0\n\
         ip -n {b} link set eth0 down\n\
         ip -n {b} link set eth0 address 02:00:5e:00:00:0b\n\
         ip -n {b} link set eth0 up\n",
        sc = scanner.name,
        a = a.name,
        b = b.name
    );
    sh(&s)?;
    let set_mac = |mac: &str| {
        sh(&format!(
            "ip -n {a} link set eth0 down\nip -n {a} link set eth0 address {mac}\nip -n {a} link set eth0 up",
            a = a.name
        ))
    };
    let dir = out_dir()?;
    let db = dir.path().join("lan.db");
    let mut night = 0;
    let mut run = || -> Result<Vec<String>, String> {
        night += 1;
        let out = dir.path().join(format!("n{night}.csv"));
        let r = sweep_in(
            &scanner.name,
            &[
                "198.18.0.10",
                "--db",
                path_str(&db),
                "-o",
                path_str(&out),
                "--timeout",
                "300ms",
                "-q",
            ],
        )?;
        r.expect_code(0)?;
        Ok(r.stderr
            .lines()
            .filter_map(|l| l.strip_prefix("sweep: "))
            .map(String::from)
            .collect())
    };
    let (ma, mc) = ("02:00:5e:00:00:0a", "02:00:5e:00:00:0c");
    let first = run()?;
    ensure(
        first
            == [
                format!("new 198.18.0.10 {ma}"),
                format!("new-mac 198.18.0.10 {ma}"),
            ],
        || format!("night 1: {first:?}"),
    )?;
    set_mac(mc)?;
    let changed = run()?;
    ensure(
        changed
            == [
                format!("mac-changed 198.18.0.10 {mc} (was {ma})"),
                format!("new-mac 198.18.0.10 {mc}"),
            ],
        || format!("night 2: {changed:?}"),
    )?;
    set_mac(ma)?;
    let flipped = run()?;
    ensure(
        flipped == [format!("flip-flop 198.18.0.10 {ma} (was {mc})")],
        || format!("night 3: {flipped:?}"),
    )?;
    // B claims the address too: a conflict, then B leaves it.
    sh(&format!(
        "ip -n {} addr add 198.18.0.10/24 dev eth0",
        b.name
    ))?;
    let both = run()?;
    ensure(
        both.iter()
            .any(|l| l.starts_with("conflict-appeared 198.18.0.10")),
        || format!("night 4: {both:?}"),
    )?;
    sh(&format!(
        "ip -n {} addr del 198.18.0.10/24 dev eth0",
        b.name
    ))?;
    let one = run()?;
    ensure(
        one.iter()
            .any(|l| l.starts_with("conflict-gone 198.18.0.10")),
        || format!("night 5: {one:?}"),
    )?;
    let host = inventory(&["host", "198.18.0.10", "--db", path_str(&db)])?;
    host.expect_code(0)?;
    for want in [
        "mac-changed",
        "flip-flop",
        "conflict-appeared",
        "conflict-gone",
        "mac-first-seen",
    ] {
        ensure(host.stdout.contains(want), || {
            format!("timeline lacks {want}: {}", host.stdout)
        })?;
    }
    Ok(())
}

/// `(runs, parts, probed)` of the inventory, and its `new` events.
fn runs_parts(db: &Path) -> Result<(i64, i64, i64, i64), String> {
    let c = rusqlite::Connection::open(db).map_err(|e| e.to_string())?;
    let q = |sql: &str| {
        c.query_row(sql, [], |r| r.get::<_, i64>(0))
            .map_err(|e| format!("{sql}: {e}"))
    };
    Ok((
        q("SELECT count(*) FROM runs")?,
        q("SELECT count(*) FROM parts")?,
        q("SELECT coalesce(sum(probed), 0) FROM parts")?,
        q("SELECT count(*) FROM events WHERE kind = 'new'")?,
    ))
}

fn shards_and_resume() -> Result<(), String> {
    let dir = out_dir()?;
    let ns = ns_with(&(1..=40).collect::<Vec<u8>>())?;
    let db = dir.path().join("shards.db");
    let range = "198.18.0.1-198.18.0.60";
    for i in 0..3 {
        let out = dir.path().join(format!("s{i}.csv"));
        let shard = format!("{i}/3");
        let r = sweep_in(
            &ns.name,
            &[
                range,
                "--seed",
                "7",
                "--shard",
                &shard,
                "--db",
                path_str(&db),
                "-o",
                path_str(&out),
                "--timeout",
                "300ms",
                "-q",
            ],
        )?;
        ensure(matches!(r.code, Some(0 | 1)), || {
            format!("shard {i}: {r:?}")
        })?;
    }
    let got = runs_parts(&db)?;
    // One run of three parts; each target probed by exactly one shard; each host new once.
    ensure(got == (1, 3, 60, 40), || {
        format!("(runs, parts, probed, new) = {got:?}")
    })?;

    // Interrupted part-way (slowly, so Ctrl-C lands mid-scan), then resumed: one run.
    let db = dir.path().join("resume.db");
    let out = dir.path().join("r.csv");
    let state = dir.path().join("r.state");
    let args = [
        range,
        "--rate",
        "20",
        "--seed",
        "9",
        "--db",
        path_str(&db),
        "-o",
        path_str(&out),
        "--state",
        path_str(&state),
        "--timeout",
        "300ms",
        "-q",
    ];
    let run = Running::spawn(sweep_cmd(&ns.name, &args))?;
    std::thread::sleep(Duration::from_millis(1200));
    run.signal(libc::SIGINT)?;
    let r = run.wait(RUN_LIMIT)?;
    r.expect_code(130)?;
    let (runs, parts, probed, _) = runs_parts(&db)?;
    ensure(runs == 1 && parts == 1 && probed < 60, || {
        format!("after the interrupt: {runs} runs, {parts} parts, {probed} probed")
    })?;
    let r = sweep_in(
        &ns.name,
        &[
            range,
            "--resume",
            path_str(&state),
            "--db",
            path_str(&db),
            "-o",
            path_str(&out),
            "--timeout",
            "300ms",
            "-q",
        ],
    )?;
    r.expect_code(0)?;
    let (runs, parts, _, new) = runs_parts(&db)?;
    ensure(runs == 1 && parts == 2, || {
        format!("after the resume: {runs} runs, {parts} parts")
    })?;
    ensure(new == 40, || format!("{new} new events for 40 hosts"))?;
    let hosts = inventory(&["hosts", "--db", path_str(&db)])?;
    let (_, rows) = common::parse_csv(&hosts.stdout)?;
    ensure(rows.len() == 40 && rows.iter().all(|r| r[6] == "1"), || {
        format!("counted once: {}", hosts.stdout)
    })?;
    let runs = inventory(&["runs", "--db", path_str(&db)])?;
    ensure(runs.stdout.contains(",no,0,scan,"), || {
        format!("the run is complete: {}", runs.stdout)
    })
}

/// Three imported nights (198.18.0.1-3, then .2 gone and .4 new, a day apart), their page
/// rendered by Chromium in a namespace with only lo (the page fetches nothing anyway).
fn history_page() -> Result<(), String> {
    let dir = out_dir()?;
    let db = dir.path().join("inv.db");
    let night = |n: u32, hosts: &[u8]| -> Result<(), String> {
        let csv = dir.path().join(format!("night{n}.csv"));
        let mut text = format!("{}\r\n", common::SWEEP_HEADER);
        for h in hosts {
            text += &format!("198.18.0.{h},up,0.100,64,198.18.0.{h},1,0,,,\r\n");
        }
        std::fs::write(&csv, text).map_err(|e| e.to_string())?;
        let at = format!("{}d", 3 - n);
        inventory(&[
            "import",
            path_str(&csv),
            "--at",
            &at,
            "--targets",
            "198.18.0.1-198.18.0.4",
            "--db",
            path_str(&db),
        ])?
        .expect_code(0)
    };
    night(0, &[1, 2, 3])?;
    night(1, &[1, 2, 3])?;
    night(2, &[1, 3, 4])?;
    let page = dir.path().join("inventory.html");
    inventory(&["report", "--db", path_str(&db), "-o", path_str(&page)])?.expect_code(0)?;
    let ns = Netns::new()?;
    let profile = out_dir()?;
    let out = Command::new("timeout")
        .args([
            "120",
            "ip",
            "netns",
            "exec",
            &ns.name,
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .map_err(|e| format!("chromium: {e}"))?;
    ensure(out.status.success(), || {
        format!("chromium: {}", String::from_utf8_lossy(&out.stderr))
    })?;
    let dom = String::from_utf8_lossy(&out.stdout);
    ensure(
        dom.contains("data-ready=\"1\"") && dom.contains("<pre id=\"errors\" hidden=\"\"></pre>"),
        || "the page's script did not finish cleanly".into(),
    )?;
    // The host table, rendered by the script: four hosts, with first and last seen.
    ensure(dom.matches("<td class=\"st-").count() == 4, || {
        "not 4 host rows".into()
    })?;
    ensure(
        dom.contains(">first_seen</button>") && dom.contains(">last_seen</button>"),
        || "no first_seen / last_seen columns".into(),
    )?;
    // The last run's changes, and a bar per run.
    let last = dom.split("Last run").nth(1).unwrap_or_default();
    let last = last.split("Last 7 days").next().unwrap_or_default();
    ensure(
        last.contains("198.18.0.2</td><td class=\"ev-gone\">gone")
            && last.contains("198.18.0.4</td><td class=\"ev-new\">new"),
        || format!("the last run's changes: {last}"),
    )?;
    ensure(!last.contains("198.18.0.1<"), || {
        "an unchanged host listed as a change".into()
    })?;
    let runs = dom.split("class=\"runs\"").nth(1).unwrap_or_default();
    let bars = runs
        .split("</svg>")
        .next()
        .unwrap_or_default()
        .matches("<rect")
        .count();
    ensure(bars == 3, || format!("{bars} bars for 3 runs"))
}
