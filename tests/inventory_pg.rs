//! The inventory on PostgreSQL (issue 27), against a real server: a throw-away cluster made
//! with `initdb` in a temporary directory as an unprivileged user, listening on a Unix
//! socket in that directory only (and on 127.0.0.1 for the TLS trial), password
//! authentication, stopped at the end. No mock of the database. Trials report themselves
//! ignored where no server can be started (no `postgresql` package, or root without the
//! `postgres` user), and fail instead under SWEEP_REQUIRE_LAB=1 (CI, which installs it).

mod common;

use common::{
    ensure, one_line_naming, out_dir, path_str, read_sweep, run_trials, sweep_cmd, sweep_local,
    Need, Netns, Running, SweepRun, RUN_LIMIT,
};
use libtest_mimic::{Completion, Failed, Trial};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    run_trials(vec![
        pg_trial(
            "sqlite_and_postgres_give_byte_identical_answers",
            None,
            differential,
        ),
        pg_trial(
            "shards_resumes_late_runs_and_batches_record_alike_in_both_backends",
            None,
            differential_store,
        ),
        pg_trial(
            "unusable_databases_are_refused_in_one_line_before_any_probe",
            None,
            refusals,
        ),
        pg_trial(
            "migrations_run_by_default_or_by_inventory_migrate_only",
            None,
            migrations,
        ),
        pg_trial(
            "a_schema_1_inventory_with_history_migrates_to_2_and_answers_as_before",
            None,
            migration_with_history,
        ),
        pg_trial(
            "passwords_come_from_pgpassword_or_pgpass_and_never_show",
            None,
            passwords,
        ),
        pg_trial(
            "eight_shards_record_concurrently_into_one_run_equal_to_the_truth_and_merge",
            Some(Need::Netns),
            shards,
        ),
        pg_trial(
            "a_server_gone_mid_run_keeps_the_output_spools_the_run_and_the_next_replays_it",
            Some(Need::Netns),
            server_gone,
        ),
        pg_trial(
            "a_server_killed_inside_a_record_loses_nothing_the_spool_replay_does_not_bring_back",
            None,
            killed_mid_record,
        ),
        pg_trial(
            "tls_require_verify_ca_and_verify_full_against_a_test_certificate",
            None,
            tls,
        ),
    ])
}

// ---------------------------------------------------------------------------
// The server

/// The directory of PostgreSQL's programs (`initdb`, `postgres`, `psql`), newest first.
fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists() && b.join("postgres").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The unprivileged user the server runs as when the tests run as root (`initdb` refuses
/// root): Debian's `postgres`.
fn server_user() -> Option<(u32, u32)> {
    let name = std::ffi::CString::new("postgres").ok()?;
    // SAFETY: a NUL-terminated name; the entry is read at once.
    unsafe {
        let pw = libc::getpwnam(name.as_ptr());
        (!pw.is_null()).then(|| ((*pw).pw_uid, (*pw).pw_gid))
    }
}

fn why_no_server() -> Option<String> {
    if pg_bin().is_none() {
        return Some("PostgreSQL is not installed (apt-get install postgresql)".into());
    }
    if is_root() && server_user().is_none() {
        return Some("running as root and there is no `postgres` user to run the server".into());
    }
    if is_root() && !can_hand_over() {
        return Some(
            "running as root without CAP_CHOWN/CAP_SETUID/CAP_SETGID: the cluster cannot be \
             handed to the `postgres` user"
                .into(),
        );
    }
    None
}

/// Whether this process may give the cluster's directory to the server's user and start
/// the server as that user: root in a container or under `setpriv` may lack the
/// capabilities (`CapEff` in /proc/self/status; bits 0, 6 and 7).
fn can_hand_over() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let need = (1 << 0) | (1 << 6) | (1 << 7);
    eff & need == need
}

/// A trial that needs a server (and, with `need`, a namespace to scan in).
fn pg_trial(name: &str, need: Option<Need>, body: fn() -> Result<(), String>) -> Trial {
    Trial::ignorable_test(name, move || {
        let why = why_no_server().or_else(|| need.and_then(common::unavailable_reason));
        match why {
            None => body().map(|()| Completion::Completed).map_err(Failed::from),
            Some(why) if std::env::var("SWEEP_REQUIRE_LAB").is_ok_and(|v| v == "1") => {
                Err(format!("cannot run: {why} (SWEEP_REQUIRE_LAB=1 makes this a failure)").into())
            }
            Some(why) => Ok(Completion::ignored_with(why)),
        }
    })
}

const PASSWORD: &str = "s3cret-Pw";

/// A running throw-away cluster; stopped (and its files removed) on drop.
struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
    server: Option<Child>,
    bin: PathBuf,
    /// The user the server runs as (when the tests run as root).
    owner: Option<(u32, u32)>,
    listen: Listen,
}

/// What the cluster listens on besides its socket.
#[derive(Clone, Copy, PartialEq)]
enum Listen {
    SocketOnly,
    /// 127.0.0.1 with TLS, the certificate and key in the cluster's directory.
    Tls,
}

impl Cluster {
    fn start(listen: Listen) -> Result<Cluster, String> {
        let bin = pg_bin().ok_or("no PostgreSQL")?;
        let dir = out_dir()?;
        let owner = if is_root() { server_user() } else { None };
        let own = |p: &Path| -> Result<(), String> {
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::chown(p, Some(uid), Some(gid))
                    .map_err(|e| format!("chown {}: {e}", p.display()))?;
            }
            Ok(())
        };
        own(dir.path())?;
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD).map_err(|e| e.to_string())?;
        own(&pwfile)?;
        let data = dir.path().join("data");
        let as_server = |prog: &Path| -> Command {
            match owner {
                Some((uid, gid)) => {
                    let mut c = Command::new("setpriv");
                    c.arg(format!("--reuid={uid}"))
                        .arg(format!("--regid={gid}"))
                        .arg("--clear-groups")
                        .arg(prog);
                    c
                }
                None => Command::new(prog),
            }
        };
        let out = as_server(&bin.join("initdb"))
            .args(["-D", path_str(&data), "-U", "sweep", "-A", "scram-sha-256"])
            .arg(format!("--pwfile={}", path_str(&pwfile)))
            .args(["--no-sync", "-E", "UTF8", "--locale=C"])
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        ensure(out.status.success(), || {
            format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr))
        })?;
        let port = free_port()?;
        if listen == Listen::Tls {
            make_certificate(dir.path())?;
            for f in ["server.crt", "server.key"] {
                own(&dir.path().join(f))?;
            }
            // TCP only with TLS: a session that is not encrypted is refused.
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all scram-sha-256\n\
                 hostssl all all 127.0.0.0/8 scram-sha-256\n\
                 hostnossl all all 127.0.0.0/8 reject\n",
            )
            .map_err(|e| e.to_string())?;
        }
        let mut c = Cluster {
            dir,
            port,
            server: None,
            bin,
            owner,
            listen,
        };
        c.spawn()?;
        Ok(c)
    }

    /// Starts the server on the cluster's files (again, after `kill`).
    fn spawn(&mut self) -> Result<(), String> {
        let dir = self.dir.path();
        let mut server = match self.owner {
            Some((uid, gid)) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .arg("--clear-groups")
                    .arg(self.bin.join("postgres"));
                c
            }
            None => Command::new(self.bin.join("postgres")),
        };
        server
            .args(["-D", path_str(&dir.join("data")), "-k", path_str(dir)])
            .args(["-p", &self.port.to_string()])
            .args(["-c", "fsync=off", "-c", "max_connections=40"]);
        if self.listen == Listen::Tls {
            server
                .args(["-c", "listen_addresses=127.0.0.1,127.0.0.2", "-c", "ssl=on"])
                .arg("-c")
                .arg(format!(
                    "ssl_cert_file={}",
                    path_str(&dir.join("server.crt"))
                ))
                .arg("-c")
                .arg(format!(
                    "ssl_key_file={}",
                    path_str(&dir.join("server.key"))
                ));
        } else {
            server.args(["-c", "listen_addresses="]);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .map_err(|e| e.to_string())?;
        let child = server
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("postgres: {e}"))?;
        self.server = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(Ok(Some(st))) = self.server.as_mut().map(|s| s.try_wait()) {
                return Err(format!("postgres exited {st}: {}", self.log()));
            }
            let ok = Command::new(self.bin.join("pg_isready"))
                .args([
                    "-h",
                    path_str(self.dir.path()),
                    "-p",
                    &self.port.to_string(),
                ])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("postgres did not start in 30 s: {}", self.log()))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// `psql` as the superuser on the socket; its output.
    fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args([
                "-h",
                path_str(self.dir.path()),
                "-p",
                &self.port.to_string(),
            ])
            .args(["-U", "sweep", "-d", db, "-c", sql])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        ensure(out.status.success(), || {
            format!("psql {sql}: {}", String::from_utf8_lossy(&out.stderr))
        })?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// A fresh database; its URL (password in it, socket directory as the host).
    fn database(&self, name: &str) -> Result<String, String> {
        self.psql("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(self.url(name, Some(PASSWORD)))
    }

    fn url(&self, db: &str, password: Option<&str>) -> String {
        let user = match password {
            Some(p) => format!("sweep:{p}"),
            None => "sweep".into(),
        };
        format!(
            "postgresql://{user}@/{db}?host={}&port={}",
            encode(path_str(self.socket_dir())),
            self.port
        )
    }

    /// A URL over TCP to `ip` (127.0.0.x) with the query `q`.
    fn tcp_url(&self, ip: &str, db: &str, q: &str) -> String {
        format!("postgresql://sweep:{PASSWORD}@{ip}:{}/{db}?{q}", self.port)
    }

    /// Stops the server now (as if it went away), killing it.
    fn kill(&mut self) {
        if let Some(mut s) = self.server.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(s) = &self.server {
            // SIGINT: PostgreSQL's fast shutdown.
            // SAFETY: our own child's pid.
            unsafe { libc::kill(s.id() as libc::pid_t, libc::SIGINT) };
        }
        if let Some(mut s) = self.server.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = s.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = s.kill();
            let _ = s.wait();
        }
    }
}

/// A free TCP port on 127.0.0.1 (also names the socket file).
fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// %-encodes a path for a URL's query.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `openssl ARGS` in `dir`.
fn openssl(dir: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("openssl: {e}"))?;
    ensure(out.status.success(), || {
        format!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr))
    })
}

/// A CA of its own (ca.crt, ca.key) in `dir`.
fn make_ca(dir: &Path, name: &str) -> Result<(), String> {
    let subject = format!("/CN={name}");
    let args = [
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
    ];
    let mut args = args.to_vec();
    args.extend([subject.as_str(), "-keyout", "ca.key", "-out", "ca.crt"]);
    openssl(dir, &args)
}

/// A CA and a server certificate for 127.0.0.1 signed by it (openssl's CLI).
fn make_certificate(dir: &Path) -> Result<(), String> {
    let run = |args: &[&str]| openssl(dir, args);
    make_ca(dir, "sweep test CA")?;
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ])?;
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n")
        .map_err(|e| e.to_string())?;
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
    ])?;
    std::fs::set_permissions(
        dir.join("server.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------
// Helpers

/// `sweep inventory ARGS` (no packets), with `env`.
fn inventory(args: &[&str], env: &[(&str, &str)]) -> Result<SweepRun, String> {
    let mut all = vec!["inventory"];
    all.extend_from_slice(args);
    sweep_local(&all, env)
}

const HEADER: &str = "addr,status,rtt_ms,ttl,responder,probes,dups,detail,mac,vendor";

fn mac(n: u32) -> String {
    format!("02:00:00:00:{:02x}:{:02x}", (n >> 8) & 0xff, n & 0xff)
}

/// Nightly scan results of 198.18.0.0/26, night by night: hosts come, go and come back,
/// some answer with MACs that change, change back and conflict. Deterministic.
fn nights(dir: &Path, n: u32) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let mut state: u64 = 0x5eed;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for night in 0..n {
        let mut csv = format!("{HEADER}\n");
        for h in 1..63u32 {
            let r = next();
            // About a third of the addresses up on a night; low addresses more often.
            if r % 3 != 0 && h > 20 {
                continue;
            }
            let m = match h % 5 {
                0 => String::new(),
                1 => mac(h + 1000 * ((r >> 8) % 2) as u32),
                2 if r % 7 == 0 => format!("{};{}", mac(h), mac(h + 500)),
                _ => mac(h),
            };
            let _ = writeln!(csv, "198.18.0.{h},up,1.0,64,198.18.0.{h},1,0,,{m},");
        }
        let f = dir.join(format!("night{night:02}.csv"));
        std::fs::write(&f, csv).map_err(|e| e.to_string())?;
        files.push(f);
    }
    Ok(files)
}

/// `inventory import` of night `k` of [`nights`] (2026-01-(k+1), 02:00 UTC) into `db`.
fn import_night(file: &Path, k: usize, db: &str) -> Result<(), String> {
    let at = format!("2026-01-{:02}T02:00:00Z", k + 1);
    let args = [
        "import",
        path_str(file),
        "--at",
        &at,
        "--targets",
        "198.18.0.0/26",
        "--db",
        db,
    ];
    inventory(&args, &[])?.expect_code(0)
}

/// The questions whose answers both backends must give alike.
const QUESTIONS: &[&[&str]] = &[
    &["hosts"],
    &["hosts", "--all"],
    &["hosts", "198.18.0.0/28", "--new-since", "2026-01-05"],
    &["hosts", "--format", "json"],
    &["events"],
    &[
        "events",
        "--kind",
        "mac-changed,flip-flop,new-mac,conflict-appeared,conflict-gone",
    ],
    &[
        "events",
        "198.18.0.16/28",
        "--since",
        "2026-01-03",
        "--until",
        "2026-01-09",
    ],
    &["events", "--format", "ndjson"],
    &["free", "198.18.0.0/26", "--for", "30d"],
    &["runs"],
    &["host", "198.18.0.6"],
    &["host", "198.18.0.7"],
    &["host", "198.18.0.11"],
];

fn answers(db: &str) -> Result<Vec<(String, Option<i32>)>, String> {
    QUESTIONS
        .iter()
        .map(|q| {
            let mut args = q.to_vec();
            args.extend(["--db", db]);
            inventory(&args, &[]).map(|r| (r.stdout, r.code))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Trials

/// The same files imported in the same order into a fresh SQLite file and a fresh
/// PostgreSQL database give byte-identical answers; then again after a prune.
fn differential() -> Result<(), String> {
    let pg = Cluster::start(Listen::SocketOnly)?;
    let url = pg.database("diff")?;
    let dir = out_dir()?;
    let file = dir.path().join("inv.db");
    let sqlite = path_str(&file);
    let files = nights(dir.path(), 12)?;
    for (i, f) in files.iter().enumerate() {
        for db in [sqlite, url.as_str()] {
            import_night(f, i, db)?;
        }
    }
    let (a, b) = (answers(sqlite)?, answers(&url)?);
    for ((q, x), y) in QUESTIONS.iter().zip(&a).zip(&b) {
        ensure(x == y, || {
            format!(
                "`inventory {}` differs:\nSQLite {x:?}\nPostgreSQL {y:?}",
                q.join(" ")
            )
        })?;
    }
    // The addresses only probed again were not rewritten: spans of `probed` say it, and
    // the last night wrote fewer rows than it probed (62).
    let spans: u64 = pg
        .psql("diff", "SELECT count(*) FROM probed")?
        .parse()
        .map_err(|e| format!("count: {e}"))?;
    ensure(spans > 0, || {
        "no span of addresses probed was written".into()
    })?;
    let written: u64 = pg
        .psql(
            "diff",
            "SELECT count(*) FROM host_rows WHERE seq = (SELECT max(seq) FROM host_rows)",
        )?
        .parse()
        .map_err(|e| format!("count: {e}"))?;
    ensure(written < 62, || {
        format!("the last night rewrote {written} rows of 62")
    })?;
    // The history exercised every kind of event.
    let events = &a[4].0;
    for kind in [
        "new",
        "gone",
        "back",
        "mac-changed",
        "flip-flop",
        "new-mac",
        "conflict-appeared",
        "conflict-gone",
    ] {
        ensure(events.contains(&format!(",{kind},")), || {
            format!("no {kind} event in the history:\n{events}")
        })?;
    }
    for db in [sqlite, url.as_str()] {
        inventory(&["prune", "--before", "2026-01-06", "--db", db], &[])?.expect_code(0)?;
    }
    let (a, b) = (answers(sqlite)?, answers(&url)?);
    ensure(a == b, || "the answers differ after a prune".into())?;
    // The runs table's command lines and the URL shown never hold the password.
    ensure(!b.iter().any(|(out, _)| out.contains(PASSWORD)), || {
        "the password shows in an answer".into()
    })
}

/// No server, refused credentials, a database that is not sweep's, a newer one: exit 3,
/// one line, no password, before any probe (a scan of 127.0.0.1 that never starts); a URL
/// that does not parse: exit 2.
fn refusals() -> Result<(), String> {
    let pg = Cluster::start(Listen::SocketOnly)?;
    let dir = out_dir()?;
    let out = dir.path().join("out.csv");
    let scan = |db: &str| -> Result<SweepRun, String> {
        sweep_local(&["127.0.0.1", "--db", db, "-o", path_str(&out), "-q"], &[])
    };
    let check = |r: SweepRun, code: i32, needles: &[&str]| -> Result<(), String> {
        r.expect_code(code)?;
        one_line_naming(&r.stderr, needles)?;
        ensure(
            !r.stderr.contains(PASSWORD) && !r.stderr.contains("hunter2"),
            || format!("the password shows: {}", r.stderr),
        )?;
        ensure(!out.exists(), || "the scan ran (its output exists)".into())
    };
    // No server at this socket directory.
    let nowhere = format!(
        "postgresql://sweep:hunter2@/x?host={}&port=1",
        encode(path_str(dir.path()))
    );
    check(
        scan(&nowhere)?,
        3,
        &["postgresql://sweep:***@", "cannot connect"],
    )?;
    // A wrong password.
    pg.database("inv")?;
    check(
        scan(&pg.url("inv", Some("hunter2")))?,
        3,
        &["password authentication failed"],
    )?;
    // A database that is someone else's.
    let url = pg.database("theirs")?;
    pg.psql("theirs", "CREATE TABLE accounts(id int)")?;
    check(scan(&url)?, 3, &["is not a sweep inventory"])?;
    // A newer sweep's.
    let url = pg.database("newer")?;
    inventory(&["migrate", "--db", &url], &[])?.expect_code(0)?;
    pg.psql("newer", "UPDATE sweep_schema SET version = 99")?;
    check(scan(&url)?, 3, &["newer sweep", "schema 99"])?;
    let r = inventory(&["hosts", "--db", &url], &[])?;
    r.expect_code(3)?;
    one_line_naming(&r.stderr, &["newer sweep"])?;
    // A URL that does not parse.
    let bad = format!("{}&sslmode=sometimes", pg.url("inv", Some(PASSWORD)));
    check(scan(&bad)?, 2, &["does not parse", "sslmode"])?;
    // Through SWEEP_DB too.
    let r = sweep_local(
        &["127.0.0.1", "-o", path_str(&out), "-q"],
        &[("SWEEP_DB", &nowhere)],
    )?;
    check(r, 3, &["cannot connect"])?;
    // The questions never create an inventory.
    let r = inventory(&["runs", "--db", &pg.url("inv", Some(PASSWORD))], &[])?;
    r.expect_code(3)?;
    one_line_naming(&r.stderr, &["holds no sweep inventory yet"])
}

/// A scan's import creates the schema; `--no-migrate` refuses an empty or older database
/// and `sweep inventory migrate` makes it current, in one transaction.
fn migrations() -> Result<(), String> {
    let pg = Cluster::start(Listen::SocketOnly)?;
    let dir = out_dir()?;
    let out = dir.path().join("out.csv");
    let url = pg.database("inv")?;
    let r = sweep_local(
        &[
            "127.0.0.1",
            "--db",
            &url,
            "--no-migrate",
            "-o",
            path_str(&out),
            "-q",
        ],
        &[],
    )?;
    r.expect_code(3)?;
    one_line_naming(&r.stderr, &["schema 0", "sweep inventory migrate"])?;
    ensure(!out.exists(), || "the scan ran".into())?;
    ensure(
        pg.psql(
            "inv",
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
        )? == "0",
        || "--no-migrate changed the database".into(),
    )?;
    let r = inventory(&["migrate", "--db", &url], &[])?;
    r.expect_code(0)?;
    one_line_naming(&r.stderr, &["migrated", "from schema 0 to 2"])?;
    let r = inventory(&["migrate", "--db", &url], &[])?;
    r.expect_code(0)?;
    one_line_naming(&r.stderr, &["is at schema 2"])?;
    ensure(
        pg.psql("inv", "SELECT app || ' ' || version FROM sweep_schema")? == "sweep 2",
        || "sweep_schema does not say sweep 2".into(),
    )?;
    // An import migrates by default.
    let url2 = pg.database("inv2")?;
    let files = nights(dir.path(), 1)?;
    inventory(&["import", path_str(&files[0]), "--db", &url2], &[])?.expect_code(0)?;
    let r = inventory(&["runs", "--db", &url2], &[])?;
    r.expect_code(0)?;
    Ok(())
}

/// Schema 2 undone, exactly: every row's last probe written back into it from the spans,
/// the spans and the view dropped, the rows' table renamed back. What a database recorded
/// by a schema-1 sweep holds, for the same history.
const BACK_TO_SCHEMA_1: &str = "
UPDATE host_rows h SET last_probed = v.last_probed, last_run = v.last_run
    FROM hosts v WHERE v.addr = h.addr;
DROP VIEW hosts;
DROP TABLE probed;
DROP SEQUENCE flushes;
ALTER TABLE host_rows DROP COLUMN seq;
ALTER TABLE host_rows RENAME TO hosts;
UPDATE sweep_schema SET version = 1;";

/// The same nights recorded into two databases, one of them taken back to schema 1: its
/// migration keeps every row and answer, and both record the nights after alike.
fn migration_with_history() -> Result<(), String> {
    let pg = Cluster::start(Listen::SocketOnly)?;
    let dir = out_dir()?;
    let (current, old) = (pg.database("current")?, pg.database("old")?);
    let files = nights(dir.path(), 12)?;
    let import = |k: usize, db: &str| import_night(&files[k], k, db);
    for k in 0..8 {
        import(k, &current)?;
        import(k, &old)?;
    }
    let rows = "SELECT string_agg(concat_ws(',', encode(addr, 'hex'), status, detail, \
        first_seen, last_up, last_probed, times_seen, macs, prev_mac, last_run), ';' \
        ORDER BY addr) FROM hosts";
    let before = pg.psql("old", rows)?;
    pg.psql("old", BACK_TO_SCHEMA_1)?;
    ensure(pg.psql("old", rows)? == before, || {
        "taking the database back to schema 1 changed its rows".into()
    })?;
    let r = inventory(&["migrate", "--db", &old], &[])?;
    r.expect_code(0)?;
    one_line_naming(&r.stderr, &["migrated", "from schema 1 to 2"])?;
    ensure(pg.psql("old", rows)? == before, || {
        "the migration changed the rows".into()
    })?;
    let compare = |when: &str| -> Result<(), String> {
        let (a, b) = (answers(&current)?, answers(&old)?);
        for ((q, x), y) in QUESTIONS.iter().zip(&a).zip(&b) {
            ensure(x == y, || {
                format!(
                    "{when}, `inventory {}` differs:\nrecorded at schema 2 {x:?}\n\
                     migrated from schema 1 {y:?}",
                    q.join(" ")
                )
            })?;
        }
        ensure(pg.psql("current", rows)? == pg.psql("old", rows)?, || {
            format!("{when}, the rows differ")
        })
    };
    compare("after the migration")?;
    for k in 8..12 {
        import(k, &current)?;
        import(k, &old)?;
    }
    compare("four nights later")
}

/// The password from PGPASSWORD, from ~/.pgpass (only when its mode is 0600), never from a
/// group-readable file; none of them printed or stored.
fn passwords() -> Result<(), String> {
    let pg = Cluster::start(Listen::SocketOnly)?;
    let dir = out_dir()?;
    let url = pg.database("inv")?;
    let files = nights(dir.path(), 1)?;
    inventory(&["import", path_str(&files[0]), "--db", &url], &[])?.expect_code(0)?;
    let bare = pg.url("inv", None);
    let home = dir.path().join("home");
    std::fs::create_dir(&home).map_err(|e| e.to_string())?;
    let home_s = path_str(&home).to_string();
    let env_none = [("HOME", home_s.as_str()), ("PGPASSWORD", "")];
    let r = inventory(&["runs", "--db", &bare], &env_none)?;
    r.expect_code(3)?;
    one_line_naming(&r.stderr, &["password"])?;
    let r = inventory(
        &["runs", "--db", &bare],
        &[("HOME", &home_s), ("PGPASSWORD", PASSWORD)],
    )?;
    r.expect_code(0)?;
    let pgpass = home.join(".pgpass");
    std::fs::write(
        &pgpass,
        format!(
            "# sweep's\nelsewhere:*:*:*:wrong\nlocalhost:{}:inv:sweep:{PASSWORD}\n",
            pg.port
        ),
    )
    .map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644))
        .map_err(|e| e.to_string())?;
    let r = inventory(&["runs", "--db", &bare], &env_none)?;
    r.expect_code(3)?;
    ensure(
        r.stderr.contains("can be read by its group or others"),
        || format!("a 0644 .pgpass was not refused: {}", r.stderr),
    )?;
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| e.to_string())?;
    let r = inventory(&["runs", "--db", &bare], &env_none)?;
    r.expect_code(0)?;
    // Nothing stored holds it.
    let stored = pg.psql("inv", "SELECT string_agg(command || targets || source, ' ') FROM runs JOIN parts ON parts.run = runs.id")?;
    ensure(!stored.contains(PASSWORD), || format!("stored: {stored}"))
}

/// A server on 127.0.0.1 and 127.0.0.2 that takes only TLS sessions, its certificate (for
/// IP 127.0.0.1) signed by a CA made here: `require` connects; `verify-full` connects to
/// 127.0.0.1 with that CA and refuses 127.0.0.2 (the name) and another CA (the chain);
/// `verify-ca` takes 127.0.0.2; `disable` is refused by the server. One line each.
fn tls() -> Result<(), String> {
    if !Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        return Err("openssl is not installed".into());
    }
    let pg = Cluster::start(Listen::Tls)?;
    pg.psql("postgres", "CREATE DATABASE inv")?;
    let dir = out_dir()?;
    let files = nights(dir.path(), 1)?;
    let ca = encode(path_str(&pg.dir.path().join("ca.crt")));
    let import = |url: &str| inventory(&["import", path_str(&files[0]), "--db", url], &[]);
    let full = |ip: &str| pg.tcp_url(ip, "inv", &format!("sslmode=verify-full&sslrootcert={ca}"));
    import(&pg.tcp_url("127.0.0.1", "inv", "sslmode=require"))?.expect_code(0)?;
    let r = inventory(&["runs", "--db", &full("127.0.0.1")], &[])?;
    r.expect_code(0)?;
    ensure(r.stdout.lines().count() == 2, || {
        format!("runs: {}", r.stdout)
    })?;
    let r = inventory(&["runs", "--db", &full("127.0.0.2")], &[])?;
    r.expect_code(3)?;
    one_line_naming(&r.stderr, &["cannot connect", "sweep:***@127.0.0.2"])?;
    let r = inventory(
        &[
            "runs",
            "--db",
            &pg.tcp_url(
                "127.0.0.2",
                "inv",
                &format!("sslmode=verify-ca&sslrootcert={ca}"),
            ),
        ],
        &[],
    )?;
    r.expect_code(0)?;
    // Another CA: the chain does not verify.
    make_ca(dir.path(), "other CA")?;
    let other = encode(path_str(&dir.path().join("ca.crt")));
    let r = inventory(
        &[
            "runs",
            "--db",
            &pg.tcp_url(
                "127.0.0.1",
                "inv",
                &format!("sslmode=verify-full&sslrootcert={other}"),
            ),
        ],
        &[],
    )?;
    r.expect_code(3)?;
    one_line_naming(&r.stderr, &["cannot connect"])?;
    let r = inventory(
        &[
            "runs",
            "--db",
            &pg.tcp_url("127.0.0.1", "inv", "sslmode=disable"),
        ],
        &[],
    )?;
    r.expect_code(3)?;
    one_line_naming(&r.stderr, &["cannot connect"])?;
    // verify-full without a root certificate says what it needs.
    let r = inventory(
        &[
            "runs",
            "--db",
            &pg.tcp_url("127.0.0.1", "inv", "sslmode=verify-full"),
        ],
        &[("HOME", path_str(dir.path()))],
    )?;
    r.expect_code(3)?;
    one_line_naming(&r.stderr, &["sslrootcert"])?;
    ensure(!r.stderr.contains(PASSWORD), || "the password shows".into())
}

/// A namespace whose loopback answers for 198.18.0.`hosts`; the rest of 198.18.0.0/24 is
/// routed out of lo, so probes to absent hosts leave and are dropped.
fn ns_with(hosts: &[u8]) -> Result<Netns, String> {
    let ns = Netns::new()?;
    let ip = |args: &[&str]| -> Result<(), String> {
        let ok = Command::new("ip")
            .args(["-n", &ns.name])
            .args(args)
            .status()
            .is_ok_and(|s| s.success());
        ensure(ok, || format!("ip {args:?} failed"))
    };
    ip(&["route", "add", "198.18.0.0/24", "dev", "lo"])?;
    for h in hosts {
        let a = format!("198.18.0.{h}");
        ip(&["route", "add", "local", &a, "dev", "lo", "table", "local"])?;
    }
    Ok(ns)
}

/// The rows of `inventory runs` as field vectors (no field holds a comma here).
fn runs_rows(db: &str) -> Result<Vec<Vec<String>>, String> {
    let r = inventory(&["runs", "--db", db], &[])?;
    r.expect_code(0)?;
    let mut lines = r.stdout.lines();
    let head = lines.next().unwrap_or_default();
    ensure(
        head.starts_with(
            "run,job,started,ended,targets,seed,shards,parts,missing,probed,up,events,interrupted,",
        ),
        || format!("runs header {head}"),
    )?;
    Ok(lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect())
}

/// The addresses `inventory hosts` lists up.
fn hosts_up(db: &str) -> Result<Vec<String>, String> {
    let r = inventory(&["hosts", "--db", db], &[])?;
    r.expect_code(0)?;
    Ok(r.stdout
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(1) == Some("up"))
        .map(|l| l.split(',').next().unwrap_or_default().to_string())
        .collect())
}

/// Eight shards of a /24 scanned in a namespace, all at once, each recording into one
/// PostgreSQL run as it finishes: one run of eight parts, complete, every target probed
/// once; `inventory hosts` equals the namespace's truth and `sweep merge` of the shards'
/// CSVs. Five shards of another job: the run stays open and names the three missing.
fn shards() -> Result<(), String> {
    let pg = Cluster::start(Listen::SocketOnly)?;
    let url = pg.database("inv")?;
    let up: Vec<u8> = (1..=254).filter(|h| h % 3 != 0).collect();
    let ns = ns_with(&up)?;
    let dir = out_dir()?;
    let scan = |i: u32, job: &str, out: &Path| {
        sweep_cmd(
            &ns.name,
            &[
                "198.18.0.0/24",
                "--seed",
                "7",
                "--shard",
                &format!("{i}/8"),
                "--db",
                &url,
                "--job",
                job,
                "-o",
                path_str(out),
                "--timeout",
                "500ms",
                "-q",
            ],
        )
    };
    let outs: Vec<PathBuf> = (0..8)
        .map(|i| dir.path().join(format!("s{i}.csv")))
        .collect();
    let running: Vec<Running> = outs
        .iter()
        .zip(0..)
        .map(|(o, i)| Running::spawn(scan(i, "nightly", o)))
        .collect::<Result<_, _>>()?;
    for (i, r) in running.into_iter().enumerate() {
        let r = r.wait(RUN_LIMIT)?;
        ensure(r.code == Some(0), || format!("shard {i}: {r:?}"))?;
    }
    let runs = runs_rows(&url)?;
    ensure(runs.len() == 1, || format!("runs: {runs:?}"))?;
    let r = &runs[0];
    // shards, parts, missing, probed, up, interrupted (open)
    let got = (
        &r[6][..],
        &r[7][..],
        &r[8][..],
        &r[9][..],
        &r[10][..],
        &r[12][..],
    );
    let want_up = up.len().to_string();
    ensure(got == ("8", "8", "", "254", want_up.as_str(), "no"), || {
        format!("(shards, parts, missing, probed, up, open) = {got:?}")
    })?;
    let truth: Vec<String> = up.iter().map(|h| format!("198.18.0.{h}")).collect();
    let hosts = hosts_up(&url)?;
    ensure(hosts == truth, || format!("hosts {hosts:?}"))?;
    let merged = dir.path().join("merged.csv");
    let mut args = vec!["merge".to_string()];
    args.extend(outs.iter().map(|o| path_str(o).to_string()));
    args.extend(["-o".into(), path_str(&merged).into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sweep_local(&args, &[])?.expect_code(0)?;
    let merged: Vec<String> = read_sweep(&merged)?
        .into_iter()
        .filter(|r| r.status == "up")
        .map(|r| r.addr.to_string())
        .collect();
    ensure(merged == hosts, || format!("merge {merged:?}"))?;
    // Five of eight shards of another job.
    for i in 0..5 {
        let o = dir.path().join(format!("p{i}.csv"));
        let r = Running::spawn(scan(i, "partial", &o))?.wait(RUN_LIMIT)?;
        ensure(r.code == Some(0), || format!("partial shard {i}: {r:?}"))?;
    }
    let runs = runs_rows(&url)?;
    let p = runs
        .iter()
        .find(|r| r[1] == "partial")
        .ok_or("no partial run")?;
    let got = (&p[6][..], &p[7][..], &p[8][..], &p[12][..]);
    ensure(got == ("8", "5", "5;6;7", "yes"), || {
        format!("partial (shards, parts, missing, open) = {got:?}")
    })
}

/// The server killed inside a record: a /16's second night is being recorded (its first
/// batch of sightings judged and written, the transaction open, as `pg_stat_activity`
/// shows) when the sightings' iterator itself has the server shut down at once (SIGQUIT,
/// PostgreSQL's immediate shutdown, as a crash). The record fails; the server back, the
/// database holds the first night only (nothing half-recorded); the run spooled as a
/// scan spools it and replayed as the next scan replays it leaves the database answering
/// as an SQLite file that recorded both nights without a fault.
fn killed_mid_record() -> Result<(), String> {
    use std::cell::Cell;
    use std::time::UNIX_EPOCH;
    use sweep::results::row::Status;
    use sweep::store::{RunFacts, Sighting};

    let mut pg = Cluster::start(Listen::SocketOnly)?;
    let url = pg.database("killed")?;
    let dir = out_dir()?;
    let file = dir.path().join("inv.db");
    let sqlite = path_str(&file).to_string();
    let err = |e: sweep::error::Error| e.to_string();
    let night = |n: u64| -> Vec<Sighting> {
        (1..65_535u32)
            .map(|i| {
                let h = u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
                // A quarter up; on the second night about 2 % of them change.
                let up = (h % 4 == 0) != (n == 1 && h % 50 == 7);
                Sighting {
                    addr: std::net::IpAddr::from(std::net::Ipv4Addr::from(0xC612_0000 + i)),
                    status: if up { Status::Up } else { Status::Down },
                    detail: String::new(),
                    macs: Vec::new(),
                }
            })
            .collect()
    };
    let facts = |n: u64| {
        let t = UNIX_EPOCH + Duration::from_secs(1_770_000_000 + n * 86_400);
        RunFacts {
            job: format!("night {n}"),
            started: t,
            ended: t + Duration::from_secs(60),
            command: format!("sweep night {n}"),
            targets: "198.18.0.0/16".into(),
            seed: Some(7),
            shard: None,
            exit: 0,
            interrupted: false,
            source: "scan".into(),
            resumed: false,
        }
    };
    let mut a = sweep::store::open(Path::new(&sqlite), true).map_err(err)?;
    let mut b = sweep::store::open(Path::new(&url), true).map_err(err)?;
    for n in 0..2 {
        a.record(&facts(n), &mut night(n).into_iter().map(Ok))
            .map_err(err)?;
    }
    b.record(&facts(0), &mut night(0).into_iter().map(Ok))
        .map_err(err)?;
    let after_first = answers(&url)?;

    // The second night, the server shut down when its 40,000th sighting is read: the
    // first 32,768 have been judged and written inside the open transaction by then.
    let pid = pg.server.as_ref().map(|s| s.id()).ok_or("no server")? as libc::pid_t;
    let in_tx = Cell::new(None);
    let stopped = Cell::new(false);
    let mut count = 0u32;
    let mut seen = night(1).into_iter().map(|s| {
        count += 1;
        if count == 40_000 {
            in_tx.set(Some(pg.psql(
                "postgres",
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = 'killed' AND state = 'idle in transaction'",
            )));
            // SAFETY: our own child's pid; SIGQUIT is PostgreSQL's immediate shutdown.
            unsafe { libc::kill(pid, libc::SIGQUIT) };
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut status = 0;
            while Instant::now() < deadline {
                // SAFETY: our own child; reaps it once it has exited.
                if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
                    stopped.set(true);
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(s)
    });
    let r = b.record(&facts(1), &mut seen);
    drop(seen);
    ensure(stopped.get(), || "the server did not stop".into())?;
    ensure(in_tx.take() == Some(Ok("1".into())), || {
        "the record's transaction was not open when the server was killed".into()
    })?;
    let e = match r {
        Ok(out) => return Err(format!("recorded with the server gone: {out:?}")),
        Err(e) => e.to_string(),
    };
    ensure(!e.contains(PASSWORD), || format!("the password shows: {e}"))?;
    drop(b);
    pg.kill(); // Reaped already: forgets the child.
    pg.spawn()?;
    ensure(answers(&url)? == after_first, || {
        "the database is not as the first night left it".into()
    })?;

    // As a scan does: spooled, then replayed by the next record into this database.
    let db = PathBuf::from(&url);
    let spool = sweep::run::spool::folder(&db);
    let saved = sweep::run::spool::save(&db, &facts(1), &mut night(1).into_iter().map(Ok))
        .map_err(|e| e.to_string())?;
    let mut b = sweep::store::open(&db, true).map_err(err)?;
    let replayed = sweep::run::spool::replay(b.as_mut(), &db).map_err(err)?;
    let left = std::fs::read_dir(&spool).map(|d| d.count()).unwrap_or(0);
    let _ = std::fs::remove_dir(&spool);
    ensure(replayed.len() == 1 && !saved.exists() && left == 0, || {
        format!("replayed {replayed:?}, {left} left in {}", spool.display())
    })?;
    // A crash costs PostgreSQL's sequences the values they had cached (up to 32): the
    // replayed run is numbered past a gap, not 2 as in SQLite. The answers are compared
    // with the run number set aside where they show it (the events' second column, the
    // runs' list), and alike everywhere else.
    let run = replayed[0].1.run;
    ensure(run > 1, || format!("the replayed run is numbered {run}"))?;
    let (x, y) = (answers(&sqlite)?, answers(&url)?);
    let no_run = |csv: &str| -> Vec<String> {
        csv.lines()
            .map(|l| {
                let mut f: Vec<&str> = l.split(',').collect();
                if f.len() > 1 {
                    f.remove(1);
                }
                f.join(",")
            })
            .collect()
    };
    for (i, ((q, x), y)) in QUESTIONS.iter().zip(&x).zip(&y).enumerate() {
        let alike = match q[0] {
            "events" if i == 4 => x.1 == y.1 && no_run(&x.0) == no_run(&y.0),
            "events" => true, // the same events, shown otherwise
            "runs" => x.1 == y.1 && x.0.lines().count() == y.0.lines().count(),
            _ => x == y,
        };
        ensure(alike, || {
            format!(
                "`inventory {}` differs after the replay:\nSQLite {x:?}\nPostgreSQL {y:?}",
                q.join(" ")
            )
        })?;
    }
    ensure(x[1] != after_first[1], || {
        "the second night changed nothing".into()
    })
}

/// The server killed while a scan runs (after its checks, before its record): the scan's
/// output is written, the run spooled in the state directory, one line says so, exit 3.
/// The server back, the next scan records the spooled run first, then its own; nothing
/// lost, nothing twice.
fn server_gone() -> Result<(), String> {
    let mut pg = Cluster::start(Listen::SocketOnly)?;
    let url = pg.database("inv")?;
    let ns = ns_with(&[1, 2, 3])?;
    let dir = out_dir()?;
    let state = dir.path().join("state");
    let scan_as = |range: &str, out: &Path, timeout: &str, format: &str| {
        let mut c = sweep_cmd(
            &ns.name,
            &[
                range,
                "--db",
                &url,
                "-o",
                path_str(out),
                "--timeout",
                timeout,
                "-q",
                "--format",
                format,
            ],
        );
        c.env("XDG_STATE_HOME", &state);
        c
    };
    let scan = |range: &str, out: &Path, timeout: &str| scan_as(range, out, timeout, "csv");
    let first = dir.path().join("first.csv");
    let r = Running::spawn(scan("198.18.0.1-198.18.0.10", &first, "300ms"))?.wait(RUN_LIMIT)?;
    ensure(r.code == Some(0), || format!("first scan: {r:?}"))?;
    // Slow enough (absent hosts, a long timeout) for the server to be killed meanwhile.
    let second = dir.path().join("second.csv");
    let running = Running::spawn(scan("198.18.0.1-198.18.0.20", &second, "3s"))?;
    std::thread::sleep(Duration::from_millis(1000));
    pg.kill();
    let r = running.wait(RUN_LIMIT)?;
    r.expect_code(3)?;
    one_line_naming(&r.stderr, &["not recorded", "kept in", "records it first"])?;
    ensure(!r.stderr.contains(PASSWORD), || "the password shows".into())?;
    let rows = read_sweep(&second)?;
    ensure(
        rows.iter().filter(|r| r.status == "up").count() == 3,
        || format!("the second scan's output: {rows:?}"),
    )?;
    let spooled = |st: &Path| -> usize {
        std::fs::read_dir(st.join("sweep"))
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("spool-"))
            .flat_map(|e| std::fs::read_dir(e.path()).into_iter().flatten())
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".spool"))
            .count()
    };
    ensure(spooled(&state) == 1, || "no spool file".into())?;
    pg.spawn()?;
    // As nmap XML, which repeats the command line: the password replaced there too.
    let third = dir.path().join("third.xml");
    let r = Running::spawn(scan_as(
        "198.18.0.1-198.18.0.10",
        &third,
        "300ms",
        "nmap-xml",
    ))?
    .wait(RUN_LIMIT)?;
    ensure(r.code == Some(0), || format!("third scan: {r:?}"))?;
    ensure(r.stderr.contains("recorded the spooled run"), || {
        format!("the third scan did not replay: {}", r.stderr)
    })?;
    ensure(spooled(&state) == 0, || "the spool file stayed".into())?;
    let xml = std::fs::read_to_string(&third).map_err(|e| e.to_string())?;
    ensure(
        xml.contains("sweep:***@") && !xml.contains(PASSWORD),
        || format!("the XML's args: {xml}"),
    )?;
    let runs = runs_rows(&url)?;
    let probed: Vec<&str> = runs.iter().map(|r| r[9].as_str()).collect();
    ensure(probed == ["10", "20", "10"], || format!("runs {runs:?}"))
}

/// The store itself, both backends, the same recordings: whole runs, shards over
/// overlapping slices (a `gone` one shard judged taken back by another), interrupted runs
/// and their resumes, an older run recorded late, sightings repeated within a recording,
/// MACs that change, change back and conflict, and a recording of 40,000 sightings whose
/// repeats fall in different batches. Every question's entries compared.
fn differential_store() -> Result<(), String> {
    use std::time::{SystemTime, UNIX_EPOCH};
    use sweep::results::row::Status;
    use sweep::store::{EventsQuery, HostsQuery, Inventory, RunFacts, Sighting};
    use sweep::targets::Span;
    use sweep::wire::ether::Mac;

    let pg = Cluster::start(Listen::SocketOnly)?;
    let url = pg.database("store")?;
    let dir = out_dir()?;
    let file = dir.path().join("inv.db");
    let err = |e: sweep::error::Error| e.to_string();
    let mut a = sweep::store::open(&file, true).map_err(err)?;
    let mut b = sweep::store::open(Path::new(&url), true).map_err(err)?;
    let mut state: u64 = 0x2757;
    let mut rnd = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let day = |d: u64| UNIX_EPOCH + Duration::from_secs(1_770_000_000 + d * 3_600);
    let addr = |i: u32| std::net::IpAddr::from(std::net::Ipv4Addr::from(0xC612_0000 + i));
    let macs = [1u64, 2, 3, 4, 5].map(|m| Mac::from_u64(0x0200_0000_0000 + m));
    let sighting = |i: u32, rnd: &mut dyn FnMut(u64) -> u64| {
        let up = rnd(3) != 0;
        let m = match rnd(6) {
            0 => vec![],
            1 => vec![macs[rnd(5) as usize], macs[rnd(5) as usize]],
            _ => vec![macs[(i as usize + rnd(2) as usize) % 5]],
        };
        Sighting {
            addr: addr(i),
            status: if up {
                Status::Up
            } else if rnd(4) == 0 {
                Status::Unreachable
            } else {
                Status::Down
            },
            detail: if up { String::new() } else { "timeout".into() },
            macs: if up { m } else { vec![] },
        }
    };
    let facts =
        |job: &str, t: SystemTime, shard: Option<(u64, u64)>, interrupted: bool, resumed: bool| {
            RunFacts {
                job: job.into(),
                started: t,
                ended: t + Duration::from_secs(60),
                command: format!("sweep {job}"),
                targets: "198.18.0.0/22".into(),
                seed: Some(7),
                shard,
                exit: 0,
                interrupted,
                source: "scan".into(),
                resumed,
            }
        };
    let mut record = |f: &RunFacts, seen: Vec<Sighting>| -> Result<(), String> {
        let x = a
            .record(f, &mut seen.clone().into_iter().map(Ok))
            .map_err(err)?;
        let y = b.record(f, &mut seen.into_iter().map(Ok)).map_err(err)?;
        let key =
            |o: &sweep::store::RecordOutcome| (o.run, o.probed, o.up, o.events, o.shown.clone());
        ensure(key(&x) == key(&y), || {
            format!("{}: SQLite {x:?}, PostgreSQL {y:?}", f.job)
        })
    };
    for night in 0..24u64 {
        let t = day(10 + night * 24);
        match night % 6 {
            // Two or three shards over overlapping slices of the /22.
            1 | 4 => {
                let n = 2 + rnd(2);
                for i in 0..n {
                    let slice: Vec<u32> = (0..1024u32)
                        .filter(|a| u64::from(*a) % n == i || rnd(20) == 0)
                        .collect();
                    let seen = slice.into_iter().map(|a| sighting(a, &mut rnd)).collect();
                    record(
                        &facts(
                            &format!("sharded {night}"),
                            t + Duration::from_secs(i * 30),
                            Some((i, n)),
                            false,
                            false,
                        ),
                        seen,
                    )?;
                }
            }
            // Interrupted, then resumed.
            2 => {
                let cut = 300 + rnd(500) as u32;
                let job = format!("resumed {night}");
                record(
                    &facts(&job, t, None, true, false),
                    (0..cut).map(|a| sighting(a, &mut rnd)).collect(),
                )?;
                record(
                    &facts(&job, t + Duration::from_secs(600), None, false, true),
                    (0..1024).map(|a| sighting(a, &mut rnd)).collect(),
                )?;
            }
            // An older run recorded late (started before the last one recorded).
            5 => {
                record(
                    &facts(
                        &format!("late {night}"),
                        t - Duration::from_secs(30 * 3_600),
                        None,
                        false,
                        false,
                    ),
                    (0..1024).map(|a| sighting(a, &mut rnd)).collect(),
                )?;
            }
            // A whole run, some addresses repeated within it.
            _ => {
                let mut seen: Vec<Sighting> = (0..1024).map(|a| sighting(a, &mut rnd)).collect();
                for _ in 0..20 {
                    let i = rnd(1024) as u32;
                    seen.push(sighting(i, &mut rnd));
                }
                record(
                    &facts(&format!("whole {night}"), t, None, false, false),
                    seen,
                )?;
            }
        }
    }
    // 40,000 sightings over a /16's first 30,000 addresses: repeats in other batches.
    let seen: Vec<Sighting> = (0..40_000u32)
        .map(|k| sighting(if k < 30_000 { k } else { rnd(30_000) as u32 }, &mut rnd))
        .collect();
    record(&facts("large", day(1_000), None, false, false), seen)?;

    let hosts = |inv: &dyn Inventory| -> Result<Vec<_>, String> {
        let mut v = Vec::new();
        inv.hosts(
            &HostsQuery {
                all: true,
                ..HostsQuery::default()
            },
            &mut |h| {
                v.push(h);
                Ok(())
            },
        )
        .map_err(err)?;
        Ok(v)
    };
    let events = |inv: &dyn Inventory| -> Result<Vec<_>, String> {
        let mut v = Vec::new();
        inv.events(&EventsQuery::default(), &mut |e| {
            v.push(e);
            Ok(())
        })
        .map_err(err)?;
        Ok(v)
    };
    let runs = |inv: &dyn Inventory| -> Result<Vec<_>, String> {
        let mut v = Vec::new();
        inv.runs(&mut |r| {
            v.push(r);
            Ok(())
        })
        .map_err(err)?;
        Ok(v)
    };
    let free = |inv: &dyn Inventory| -> Result<Vec<_>, String> {
        let mut v = Vec::new();
        inv.free(
            &[Span::v4(0xC612_0000, 0xC612_0FFF)],
            day(900),
            &mut |a, w| {
                v.push((a, w));
                Ok(())
            },
        )
        .map_err(err)?;
        Ok(v)
    };
    let (ha, hb) = (hosts(a.as_ref())?, hosts(b.as_ref())?);
    ensure(ha.len() == 30_000, || format!("{} hosts", ha.len()))?;
    ensure(ha == hb, || first_difference("hosts", &ha, &hb))?;
    let (ea, eb) = (events(a.as_ref())?, events(b.as_ref())?);
    ensure(ea == eb, || first_difference("events", &ea, &eb))?;
    let (ra, rb) = (runs(a.as_ref())?, runs(b.as_ref())?);
    ensure(ra == rb, || first_difference("runs", &ra, &rb))?;
    ensure(
        ra.iter().any(|r| !r.missing.is_empty()) || ra.iter().all(|r| !r.interrupted),
        || "".into(),
    )?;
    let (fa, fb) = (free(a.as_ref())?, free(b.as_ref())?);
    ensure(fa == fb, || first_difference("free", &fa, &fb))?;
    for i in [0u32, 7, 513, 1023, 29_999] {
        let (x, y) = (a.host(addr(i)).map_err(err)?, b.host(addr(i)).map_err(err)?);
        ensure(x == y, || format!("host {}: {x:?} vs {y:?}", addr(i)))?;
    }
    let kinds: std::collections::BTreeSet<_> = ea.iter().map(|e| e.kind).collect();
    ensure(kinds.len() == 8, || format!("only {kinds:?}"))
}

fn first_difference<T: std::fmt::Debug + PartialEq>(what: &str, a: &[T], b: &[T]) -> String {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => format!("{what} #{i}: SQLite {:?}, PostgreSQL {:?}", a[i], b[i]),
        None => format!("{what}: {} in SQLite, {} in PostgreSQL", a.len(), b.len()),
    }
}
