//! Shared helpers for the integration tests: the kernel lab (scripts/lab.sh),
//! running `sweep` inside a network namespace, and the two CSV formats.
//!
//! Tests that need root and namespaces are libtest-mimic trials built with
//! [`lab_trial`]: they report IGNORED (with the reason) when the machine
//! cannot host a lab, and FAIL instead when `SWEEP_REQUIRE_LAB=1`.
//! Helpers return `Result<_, String>` so any harness can use them.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::Read;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use libtest_mimic::{Completion, Failed, Trial};

/// Exact header of sweep's CSV output (fixed by the CLI contract).
pub const SWEEP_HEADER: &str = "addr,status,rtt_ms,ttl,responder,probes,dups,detail";
/// Address of the target namespace's veth end: the lab's only router.
pub const LAB_ROUTER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// No single sweep run in the tests may take longer than this.
pub const RUN_LIMIT: Duration = Duration::from_secs(300);

pub fn sweep_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sweep")
}

pub fn lab_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lab.sh")
}

// ---------------------------------------------------------------------------
// Can this machine host a lab?

/// What a trial needs from the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Root and a working `ip netns add`.
    Netns,
    /// Everything scripts/lab.sh needs: Netns plus `nft`.
    Lab,
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Why each level of [`Need`] cannot be met here (None: it can), probed
/// once per process.
struct Probe {
    netns: Option<String>,
    nft: Option<String>,
}

fn probe() -> &'static Probe {
    static PROBE: OnceLock<Probe> = OnceLock::new();
    PROBE.get_or_init(|| {
        let fail = |why: &str| Probe {
            netns: Some(why.to_string()),
            nft: Some(why.to_string()),
        };
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return fail("not root");
        }
        if !have("ip") {
            return fail("`ip` (iproute2) not installed");
        }
        let ns = format!("sweepprobe-{}", std::process::id());
        if !run_quiet("ip", &["netns", "add", &ns]) {
            return fail("`ip netns add` fails here");
        }
        let nft = if !have("nft") {
            Some("`nft` (nftables) not installed".to_string())
        } else if !run_quiet(
            "ip",
            &["netns", "exec", &ns, "nft", "add", "table", "ip", "probe"],
        ) {
            Some("`nft` cannot add a table (kernel without nf_tables?)".to_string())
        } else {
            None
        };
        let _ = run_quiet("ip", &["netns", "del", &ns]);
        remove_stale_namespaces();
        Probe { netns: None, nft }
    })
}

fn unavailable(need: Need) -> Option<String> {
    let p = probe();
    match need {
        Need::Netns => p.netns.clone(),
        Need::Lab => p.netns.clone().or_else(|| p.nft.clone()),
    }
}

fn lab_required() -> bool {
    std::env::var("SWEEP_REQUIRE_LAB").is_ok_and(|v| v == "1")
}

/// A trial that runs `body` only where `need` is met. Otherwise it is
/// reported as ignored, or fails when SWEEP_REQUIRE_LAB=1 (CI).
pub fn lab_trial(name: &str, need: Need, body: fn() -> Result<(), String>) -> Trial {
    Trial::ignorable_test(name, move || match unavailable(need) {
        None => body().map(|()| Completion::Completed).map_err(Failed::from),
        Some(why) if lab_required() => {
            Err(format!("cannot run: {why} (SWEEP_REQUIRE_LAB=1 makes this a failure)").into())
        }
        Some(why) => Ok(Completion::ignored_with(format!(
            "needs root + netns: {why}"
        ))),
    })
}

fn run_quiet(prog: &str, args: &[&str]) -> bool {
    Command::new(prog)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Deletes namespaces that a killed test process (one whose pid is gone)
/// left behind. Only names of `unique_name`'s shape are considered.
fn remove_stale_namespaces() {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = owner_pid(&name) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = run_quiet("ip", &["netns", "del", &name]);
        }
    }
}

/// `swl123-4-scan` / `swn123-4` -> 123.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name
        .strip_prefix("swl")
        .or_else(|| name.strip_prefix("swn"))?;
    let mut parts = rest.split('-');
    let pid = parts.next()?.parse().ok()?;
    parts.next()?.parse::<u32>().ok()?;
    match parts.next() {
        None | Some("scan" | "tgt") if parts.next().is_none() => Some(pid),
        _ => None,
    }
}

/// Names unique across parallel trials and parallel test processes.
fn unique_name(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("sw{}{}-{}", tag, std::process::id(), n)
}

// ---------------------------------------------------------------------------
// Namespaces

/// A bare namespace with only `lo` up; deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Result<Self, String> {
        let ns = Netns {
            name: unique_name("n"),
        };
        if !run_quiet("ip", &["netns", "add", &ns.name]) {
            return Err(format!("ip netns add {} failed", ns.name));
        }
        if !run_quiet("ip", &["-n", &ns.name, "link", "set", "lo", "up"]) {
            return Err(format!("cannot bring lo up in {}", ns.name));
        }
        Ok(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run_quiet("ip", &["netns", "del", &self.name]);
    }
}

/// Options passed to `scripts/lab.sh up`.
#[derive(Clone, Debug)]
pub struct LabOpts {
    pub prefix: &'static str,
    pub alive: &'static str,
    pub seed: u64,
    pub unreach: &'static str,
}

impl Default for LabOpts {
    fn default() -> Self {
        LabOpts {
            prefix: "198.18.0.0/16",
            alive: "0.25",
            seed: 1,
            unreach: "203.0.113.0/24",
        }
    }
}

/// A running lab; `lab.sh down` on drop (also when the test panics).
pub struct Lab {
    pub name: String,
    pub scan_ns: String,
    pub tgt_ns: String,
    pub truth: PathBuf,
    pub opts: LabOpts,
}

impl Lab {
    pub fn up(opts: LabOpts) -> Result<Self, String> {
        let name = unique_name("l");
        let truth = std::env::temp_dir().join(format!("{name}-truth.csv"));
        let lab = Lab {
            scan_ns: format!("{name}-scan"),
            tgt_ns: format!("{name}-tgt"),
            name,
            truth,
            opts,
        };
        let out = Command::new("bash")
            .arg(lab_script())
            .args(["up", "--name", &lab.name])
            .args(["--prefix", lab.opts.prefix, "--alive", lab.opts.alive])
            .args(["--seed", &lab.opts.seed.to_string()])
            .args(["--unreach", lab.opts.unreach])
            .arg("--truth")
            .arg(&lab.truth)
            .output()
            .map_err(|e| format!("cannot run lab.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "lab.sh up failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(lab)
    }

    pub fn truth(&self) -> Result<Vec<TruthRow>, String> {
        read_truth(&self.truth)
    }

    /// Runs sweep in the scanner namespace.
    pub fn sweep(&self, args: &[&str]) -> Result<SweepRun, String> {
        sweep_in(&self.scan_ns, args)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(lab_script())
            .args(["down", "--name", &self.name])
            .stdout(Stdio::null())
            .status();
        let _ = std::fs::remove_file(&self.truth);
    }
}

// ---------------------------------------------------------------------------
// Running sweep

/// Outcome of one sweep run.
#[derive(Debug)]
pub struct SweepRun {
    /// None when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl SweepRun {
    /// Fails with the run's stderr unless it exited with `want`.
    pub fn expect_code(&self, want: i32) -> Result<(), String> {
        if self.code == Some(want) {
            return Ok(());
        }
        Err(format!(
            "sweep exited {:?}, want {want}; stderr:\n{}",
            self.code, self.stderr
        ))
    }
}

/// Runs sweep inside namespace `ns` via `ip netns exec`.
pub fn sweep_in(ns: &str, args: &[&str]) -> Result<SweepRun, String> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, sweep_bin()]).args(args);
    run_limited(cmd, RUN_LIMIT)
}

/// Runs `cmd` to completion, killing it after `limit` so a hung scan fails
/// the test instead of hanging the suite.
pub fn run_limited(mut cmd: Command, limit: Duration) -> Result<SweepRun, String> {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot spawn {cmd:?}: {e}"))?;
    // Drain both pipes concurrently so a chatty child cannot block.
    let drain = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped")));
    let err = drain(Box::new(child.stderr.take().expect("piped")));
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{cmd:?} still running after {limit:?}: killed"));
        }
        thread::sleep(Duration::from_millis(20));
    };
    Ok(SweepRun {
        code: status.code(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        elapsed: start.elapsed(),
    })
}

// ---------------------------------------------------------------------------
// CSV formats

/// One row of sweep's output.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepRow {
    pub addr: Ipv4Addr,
    pub status: String,
    pub rtt_ms: String,
    pub ttl: String,
    pub responder: String,
    pub probes: String,
    pub dups: String,
    pub detail: String,
}

/// One row of lab.sh's ground truth.
#[derive(Clone, Debug, PartialEq)]
pub struct TruthRow {
    pub addr: Ipv4Addr,
    pub expect: String,
    pub detail: String,
    pub responder: String,
}

fn read_rows(path: &Path, header: &str) -> Result<Vec<Vec<String>>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_rows(&text, header).map_err(|e| format!("{}: {e}", path.display()))
}

fn parse_rows(text: &str, header: &str) -> Result<Vec<Vec<String>>, String> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    let mut rows = rdr.records();
    let head = match rows.next() {
        Some(r) => r.map_err(|e| e.to_string())?,
        None => return Err("empty (no header)".into()),
    };
    let head: Vec<&str> = head.iter().collect();
    if head.join(",") != header {
        return Err(format!("header {head:?}, want {header:?}"));
    }
    let want = head.len();
    rows.map(|r| {
        let r = r.map_err(|e| e.to_string())?;
        if r.len() != want {
            return Err(format!("row {r:?} has {} fields, want {want}", r.len()));
        }
        Ok(r.iter().map(str::to_string).collect())
    })
    .collect()
}

fn addr(s: &str) -> Result<Ipv4Addr, String> {
    s.parse().map_err(|_| format!("bad address {s:?}"))
}

/// Parses sweep CSV text (header checked exactly).
pub fn parse_sweep(text: &str) -> Result<Vec<SweepRow>, String> {
    let rows = parse_rows(text, SWEEP_HEADER)?;
    rows.into_iter()
        .map(|f| {
            Ok(SweepRow {
                addr: addr(&f[0])?,
                status: f[1].clone(),
                rtt_ms: f[2].clone(),
                ttl: f[3].clone(),
                responder: f[4].clone(),
                probes: f[5].clone(),
                dups: f[6].clone(),
                detail: f[7].clone(),
            })
        })
        .collect()
}

pub fn read_sweep(path: &Path) -> Result<Vec<SweepRow>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_sweep(&text).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn read_truth(path: &Path) -> Result<Vec<TruthRow>, String> {
    read_rows(path, "addr,expect,detail,responder")?
        .into_iter()
        .map(|f| {
            Ok(TruthRow {
                addr: addr(&f[0])?,
                expect: f[1].clone(),
                detail: f[2].clone(),
                responder: f[3].clone(),
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Checks

/// Fails unless addresses are strictly ascending (sorted, no duplicates).
pub fn check_ascending(rows: &[SweepRow]) -> Result<(), String> {
    match rows.windows(2).find(|w| w[0].addr >= w[1].addr) {
        None => Ok(()),
        Some(w) => Err(format!(
            "rows not strictly ascending: {} then {}",
            w[0].addr, w[1].addr
        )),
    }
}

pub fn sweep_with(rows: &[SweepRow], status: &str) -> BTreeSet<Ipv4Addr> {
    rows.iter()
        .filter(|r| r.status == status)
        .map(|r| r.addr)
        .collect()
}

pub fn truth_with(rows: &[TruthRow], expect: &str) -> BTreeSet<Ipv4Addr> {
    rows.iter()
        .filter(|r| r.expect == expect)
        .map(|r| r.addr)
        .collect()
}

/// How a found set compares with the truth.
#[derive(Debug)]
pub struct Score {
    pub true_pos: usize,
    pub false_pos: Vec<Ipv4Addr>,
    pub missed: Vec<Ipv4Addr>,
}

impl Score {
    pub fn new(found: &BTreeSet<Ipv4Addr>, truth: &BTreeSet<Ipv4Addr>) -> Self {
        Score {
            true_pos: found.intersection(truth).count(),
            false_pos: found.difference(truth).copied().collect(),
            missed: truth.difference(found).copied().collect(),
        }
    }

    pub fn recall(&self) -> f64 {
        let total = self.true_pos + self.missed.len();
        if total == 0 {
            1.0
        } else {
            self.true_pos as f64 / total as f64
        }
    }

    /// A short description, listing at most a few addresses of each kind.
    pub fn describe(&self) -> String {
        let few = |v: &[Ipv4Addr]| {
            let mut s: Vec<String> = v.iter().take(5).map(|a| a.to_string()).collect();
            if v.len() > 5 {
                s.push("...".into());
            }
            s.join(" ")
        };
        format!(
            "{} found, {} false positives [{}], {} missed [{}], recall {:.2}%",
            self.true_pos,
            self.false_pos.len(),
            few(&self.false_pos),
            self.missed.len(),
            few(&self.missed),
            100.0 * self.recall()
        )
    }
}

/// `Err(msg)` unless `cond`; keeps test bodies flat.
pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}
