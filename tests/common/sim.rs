//! Helpers for the sweep-sim end-to-end tests (tests/sim.rs, tests/sim_v6.rs,
//! tests/sim_tap.rs): build and run the simulator in a fresh namespace (TUN
//! or TAP mode), run sweep or other tools against it, read its truth and log
//! files, and compare sweep's rows with them.
//!
//! [`SimNet`] is generic over the address type of the truth, the log and
//! sweep's rows ([`Addr`]): [`Sim`] (IPv4 only: an IPv6 row is an error) for
//! tests/sim.rs, `SimNet<IpAddr>` for scans that include IPv6 (IpAddr orders
//! IPv4 first, as both files and sweep's output do).
//!
//! Included with `#[path]` next to `mod common;`, so it can use `common`.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{
    check_ascending, check_crlf, ensure, parse_addr, parse_sweep, run_limited, sweep_in, Addr,
    Netns, SweepRow, SweepRun,
};

/// Builds sweep-sim (release: its timing is part of what is tested) once per
/// test process. `SWEEP_SIM_BIN` overrides with a prebuilt binary.
pub fn sim_bin() -> Result<PathBuf, String> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(p) = std::env::var("SWEEP_SIM_BIN") {
            return Ok(PathBuf::from(p));
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(root)
            .args([
                "build",
                "--release",
                "-q",
                "-p",
                "sweep-sim",
                "--bin",
                "sweep-sim",
            ])
            .output()
            .map_err(|e| format!("cannot run cargo to build sweep-sim: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "building sweep-sim failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        Ok(target.join("release/sweep-sim"))
    })
    .clone()
}

/// One row of sweep-sim's truth file.
#[derive(Clone, Debug)]
pub struct SimTruth<A = Ipv4Addr> {
    pub addr: A,
    pub expect: String,
    /// The fixed simulated RTT, if the rule has one.
    pub rtt_ms: Option<f64>,
    pub responder: String,
    pub detail: String,
    /// TAP mode: the MAC that answers ARP/NDP for the address (lowercase,
    /// colon-separated); empty where nothing does, and in TUN mode.
    pub mac: String,
}

/// The TAP mode's layer-2 counters in the log (the simulator's own type).
pub use sweep_sim::engine::LinkStats as SimLinkLog;
/// One row of sweep-sim's log: what it did for one address (the simulator's own type).
pub use sweep_sim::engine::Stats as SimLog;

use sweep_sim::truth::{TRUTH_HEADER, TRUTH_HEADER_TAP};

/// Lines after an exact header, split on commas (neither file quotes fields).
fn rows<'a>(text: &'a str, header: &str, what: &str) -> Result<Vec<Vec<&'a str>>, String> {
    let mut lines = text.lines();
    if lines.next() != Some(header) {
        return Err(format!("{what}: header is not {header:?}"));
    }
    let width = header.split(',').count();
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            if f.len() == width {
                Ok(f)
            } else {
                Err(format!("{what}: bad row {l:?}"))
            }
        })
        .collect()
}

/// The truth of either mode (TAP mode's has the `mac` column).
pub fn parse_sim_truth<A: Addr>(text: &str) -> Result<BTreeMap<A, SimTruth<A>>, String> {
    let header = if text.lines().next() == Some(TRUTH_HEADER_TAP) {
        TRUTH_HEADER_TAP
    } else {
        TRUTH_HEADER
    };
    rows(text, header, "truth")?
        .into_iter()
        .map(|f| {
            let t = SimTruth {
                addr: parse_addr(f[0])?,
                expect: f[1].to_string(),
                rtt_ms: f[2].parse().ok(),
                responder: f[3].to_string(),
                detail: f[4].to_string(),
                mac: f.get(5).map(|m| m.to_string()).unwrap_or_default(),
            };
            Ok((t.addr, t))
        })
        .collect()
}

fn tap_log_header() -> String {
    format!("addr,{},{}", SimLog::HEADER, SimLinkLog::HEADER)
}

/// The log of either mode, without TAP mode's layer-2 columns.
pub fn parse_sim_log<A: Addr>(text: &str) -> Result<BTreeMap<A, SimLog>, String> {
    let header = match text.lines().next() {
        Some(h) if h == tap_log_header() => tap_log_header(),
        _ => format!("addr,{}", SimLog::HEADER),
    };
    rows(text, &header, "log")?
        .into_iter()
        .map(|f| {
            let n = |i: usize| {
                f[i].parse::<u64>()
                    .map_err(|_| format!("log: bad number {:?}", f[i]))
            };
            let l = SimLog {
                requests_seen: n(1)?,
                replies_sent: n(2)?,
                dups_sent: n(3)?,
                corrupt_sent: n(4)?,
                truncated_sent: n(5)?,
                options_sent: n(6)?,
                foreign_id_sent: n(7)?,
                other_src_sent: n(8)?,
                errors_sent: n(9)?,
                dropped_in: n(10)?,
                dropped_out: n(11)?,
                ratelimited: n(12)?,
            };
            Ok((parse_addr(f[0])?, l))
        })
        .collect()
}

/// TAP mode's layer-2 log columns (ARP/NDP seen, answered, lost, echo
/// dropped by arp-only hosts, frames to the wrong MAC) per address.
pub fn parse_sim_link_log<A: Addr>(text: &str) -> Result<BTreeMap<A, SimLinkLog>, String> {
    let at = 1 + SimLog::HEADER.split(',').count();
    rows(text, &tap_log_header(), "TAP log")?
        .into_iter()
        .map(|f| {
            let n = |i: usize| {
                f[at + i]
                    .parse::<u64>()
                    .map_err(|_| format!("log: bad number {:?}", f[at + i]))
            };
            let l = SimLinkLog {
                nd_seen: n(0)?,
                nd_replied: n(1)?,
                nd_lost: n(2)?,
                echo_filtered: n(3)?,
                wrong_mac: n(4)?,
            };
            Ok((parse_addr(f[0])?, l))
        })
        .collect()
}

/// A running simulator in its own namespace. Dropping it stops the simulator
/// and deletes the namespace (also when a test fails or panics).
pub struct SimNet<A: Addr> {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub truth: BTreeMap<A, SimTruth<A>>,
    // Declared last: dropped (namespace deleted) after the simulator is gone.
    pub ns: Netns,
}

/// A simulator whose profile describes IPv4 addresses only.
pub type Sim = SimNet<Ipv4Addr>;

/// How long the simulator may take to come up.
const READY_LIMIT: Duration = Duration::from_secs(20);
/// Safety bound passed to the simulator itself.
const SIM_LIFETIME_SECS: &str = "300";

/// What a TAP-mode simulator did, read after it stopped.
pub struct TapLog<A: Addr> {
    pub log: BTreeMap<A, SimLog>,
    pub link: BTreeMap<A, SimLinkLog>,
    /// Its summary lines (stderr).
    pub summary: String,
}

/// The TAP device's name inside the namespace.
pub const SIM_DEV: &str = "sim0";

impl<A: Addr> SimNet<A> {
    /// Starts sweep-sim with `profile` in a new namespace and waits for it.
    pub fn start(profile: &str) -> Result<Self, String> {
        Self::start_with(profile, &[])
    }

    /// Starts sweep-sim in TAP mode (`--tap`): an Ethernet segment on
    /// [`SIM_DEV`] whose on-link prefixes are the scanner's (198.18.0.0/15
    /// and 2001:2::/64 by default), see sim/README.md.
    pub fn start_tap(profile: &str) -> Result<Self, String> {
        Self::start_with(profile, &["--tap"])
    }

    /// Starts sweep-sim with `profile` and extra command-line `args`.
    pub fn start_with(profile: &str, args: &[&str]) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let ns = Netns::new()?;
        let mut sim = SimNet {
            child: None,
            dir,
            truth: BTreeMap::new(),
            ns,
        };
        sim.spawn(profile, args)?;
        Ok(sim)
    }

    /// Stops the simulator and starts another with `profile` in the same namespace (a
    /// network that changed between two scans); returns once it answers.
    pub fn restart(&mut self, profile: &str) -> Result<(), String> {
        self.terminate();
        self.spawn(profile, &[])
    }

    /// Starts sweep-sim in this namespace and waits until it is ready.
    fn spawn(&mut self, profile: &str, args: &[&str]) -> Result<(), String> {
        let bin = sim_bin()?;
        let base = self.dir.path().to_path_buf();
        let p = |name: &str| base.join(name);
        let _ = std::fs::remove_file(p("ready"));
        std::fs::write(p("profile.txt"), profile).map_err(|e| e.to_string())?;
        let stderr = std::fs::File::create(p("stderr")).map_err(|e| e.to_string())?;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns.name])
            .arg(&bin)
            .arg("--profile")
            .arg(p("profile.txt"))
            .arg("--truth")
            .arg(p("truth.csv"))
            .arg("--log")
            .arg(p("log.csv"))
            .arg("--ready-file")
            .arg(p("ready"))
            .args(["--duration-limit", SIM_LIFETIME_SECS, "--realtime"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        self.child = Some(child);
        let start = Instant::now();
        while !p("ready").exists() {
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(st) = exited {
                return Err(format!("sweep-sim exited ({st}): {}", self.stderr()));
            }
            if start.elapsed() > READY_LIMIT {
                return Err(format!(
                    "sweep-sim not ready after {READY_LIMIT:?}: {}",
                    self.stderr()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
        let text = std::fs::read_to_string(p("truth.csv")).map_err(|e| e.to_string())?;
        self.truth = parse_sim_truth(&text)?;
        Ok(())
    }

    /// The directory the simulator's files are in (for a test's own outputs too).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    /// Runs sweep in the namespace with `--all -q -o FILE` plus `args`, and
    /// returns its CSV text (exit status 0 or 1, else an error).
    pub fn sweep_text(&self, args: &[&str]) -> Result<(SweepRun, String), String> {
        let out = self.dir.path().join("sweep.csv");
        let _ = std::fs::remove_file(&out);
        let out_s = out.to_string_lossy().into_owned();
        let mut all = vec!["--all", "-q", "-o", &out_s];
        all.extend_from_slice(args);
        let run = sweep_in(&self.ns.name, &all)?;
        if run.code != Some(0) && run.code != Some(1) {
            return Err(format!("sweep exited {:?}: {}", run.code, run.stderr));
        }
        let text = std::fs::read_to_string(&out)
            .map_err(|e| format!("sweep wrote no output ({e}); stderr: {}", run.stderr))?;
        Ok((run, text))
    }

    /// Stops the simulator (SIGTERM) and returns its log and summary line.
    pub fn stop(&mut self) -> Result<(BTreeMap<A, SimLog>, String), String> {
        let text = self.stop_log()?;
        Ok((parse_sim_log(&text)?, self.stderr()))
    }

    /// [`SimNet::stop`] for TAP mode: the log with its layer-2 counters.
    pub fn stop_tap(&mut self) -> Result<TapLog<A>, String> {
        let text = self.stop_log()?;
        Ok(TapLog {
            log: parse_sim_log(&text)?,
            link: parse_sim_link_log(&text)?,
            summary: self.stderr(),
        })
    }

    fn stop_log(&mut self) -> Result<String, String> {
        self.terminate();
        std::fs::read_to_string(self.dir.path().join("log.csv"))
            .map_err(|e| format!("no log from sweep-sim ({e}): {}", self.stderr()))
    }

    /// Runs `prog args` inside the namespace (bounded by `limit`) and
    /// returns its outcome whatever the exit status.
    pub fn run_in(&self, prog: &str, args: &[&str], limit: Duration) -> Result<SweepRun, String> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns.name, prog]).args(args);
        run_limited(cmd, limit)
    }

    /// The truth rows with a MAC (TAP mode: whatever answers ARP/NDP).
    pub fn truth_macs(&self) -> BTreeMap<A, String> {
        self.truth
            .values()
            .filter(|t| !t.mac.is_empty())
            .map(|t| (t.addr, t.mac.clone()))
            .collect()
    }

    /// SIGTERM to the simulator (it runs as a child of `ip netns exec`, which
    /// execs it, so the pid is the simulator's), then a bounded wait.
    fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: kill(2) on our own child's pid, which is not yet reaped.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl<A: Addr> SimNet<A> {
    /// Runs sweep in the namespace with `--all -q -o FILE` plus `args`, and
    /// parses its CSV (CRLF line ends, exact header).
    pub fn sweep(&self, args: &[&str]) -> Result<(SweepRun, Vec<SweepRow<A>>), String> {
        let (run, text) = self.sweep_text(args)?;
        let rows = check_crlf(&text)
            .and_then(|()| parse_sweep(&text))
            .map_err(|e| format!("{e}; stderr: {}", run.stderr))?;
        Ok((run, rows))
    }

    /// [`SimNet::sweep`], then fails unless sweep exited `code` and its rows
    /// pass [`check_all`] (at most `max_skipped` described addresses without
    /// a row).
    pub fn sweep_checked(
        &self,
        args: &[&str],
        code: i32,
        max_skipped: usize,
    ) -> Result<Vec<SweepRow<A>>, String> {
        let (run, rows) = self.sweep(args)?;
        run.expect_code(code)?;
        check_all(self, &rows, max_skipped)?;
        Ok(rows)
    }

    /// The described addresses whose truth is `expect`.
    pub fn truth_with(&self, expect: &str) -> BTreeSet<A> {
        self.truth
            .values()
            .filter(|t| t.expect == expect)
            .map(|t| t.addr)
            .collect()
    }
}

/// Makes sure `prog` is installed, installing Debian package `package`
/// with apt-get when it is missing (the tests run as root); one install at
/// a time per test process.
pub fn ensure_tool(prog: &str, package: &str) -> Result<(), String> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let have = || {
        Command::new("sh")
            .args(["-c", &format!("command -v {prog}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if have() {
        return Ok(());
    }
    let limit = Duration::from_secs(300);
    let mut update = Command::new("apt-get");
    update.args(["update", "-qq"]);
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "-qq", package])
        .env("DEBIAN_FRONTEND", "noninteractive");
    for cmd in [update, install] {
        let what = format!("{cmd:?}");
        let run = run_limited(cmd, limit)?;
        ensure(run.code == Some(0), || {
            format!("{what} failed ({:?}): {}", run.code, run.stderr.trim())
        })?;
    }
    ensure(have(), || {
        format!("{prog} still missing after apt-get install {package}")
    })
}

impl<A: Addr> Drop for SimNet<A> {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Every status disagreement with the truth, addresses sweep reported that
/// the profile doesn't describe, and more than `max_skipped` described
/// addresses without a row (sweep may skip network and broadcast addresses).
pub fn mismatches<A: Addr>(
    rows: &[SweepRow<A>],
    truth: &BTreeMap<A, SimTruth<A>>,
    max_skipped: usize,
) -> Vec<String> {
    let mut bad = Vec::new();
    for r in rows {
        match truth.get(&r.addr) {
            None => bad.push(format!("{}: not in the profile", r.addr)),
            Some(t) if t.expect != r.status => bad.push(format!(
                "{}: sweep says {} ({}), truth {} ({})",
                r.addr, r.status, r.detail, t.expect, t.detail
            )),
            Some(_) => {}
        }
    }
    let reported: BTreeSet<A> = rows.iter().map(|r| r.addr).collect();
    let skipped: Vec<&A> = truth.keys().filter(|a| !reported.contains(a)).collect();
    if skipped.len() > max_skipped {
        bad.push(format!(
            "no row for {} described addresses, e.g. {}",
            skipped.len(),
            crate::common::few(skipped)
        ));
    }
    bad
}

/// A short list of problems for a failure message.
pub fn summarize(bad: &[String]) -> String {
    let mut s: Vec<String> = bad.iter().take(8).cloned().collect();
    if bad.len() > 8 {
        s.push(format!("... {} more", bad.len() - 8));
    }
    s.join("\n  ")
}

/// Fails unless `bad` is empty, listing a few of its problems after `what`.
fn none_of(what: &str, bad: &[String]) -> Result<(), String> {
    ensure(bad.is_empty(), || format!("{what}:\n  {}", summarize(bad)))
}

/// Rows strictly ascending, and every status as the truth says (see
/// [`mismatches`]).
pub fn check_all<A: Addr>(
    sim: &SimNet<A>,
    rows: &[SweepRow<A>],
    max_skipped: usize,
) -> Result<(), String> {
    check_ascending(rows)?;
    let bad = mismatches(rows, &sim.truth, max_skipped);
    none_of(&format!("{} rows disagree with the truth", bad.len()), &bad)
}

/// No row says up where the truth says otherwise.
pub fn check_no_false_positives<A: Addr>(
    sim: &SimNet<A>,
    rows: &[SweepRow<A>],
) -> Result<(), String> {
    let false_pos: Vec<String> = mismatches(rows, &sim.truth, usize::MAX)
        .into_iter()
        .filter(|b| b.contains("says up"))
        .collect();
    none_of(&format!("{} false positives", false_pos.len()), &false_pos)
}

/// Every row's `detail` and `responder` as the truth says.
pub fn check_details<A: Addr>(sim: &SimNet<A>, rows: &[SweepRow<A>]) -> Result<(), String> {
    let mut bad = Vec::new();
    for r in rows {
        let t = &sim.truth[&r.addr];
        if r.detail != t.detail || r.responder != t.responder {
            bad.push(format!(
                "{}: detail {:?} responder {:?}, want {:?} from {:?}",
                r.addr, r.detail, r.responder, t.detail, t.responder
            ));
        }
    }
    none_of("wrong detail or responder", &bad)
}

/// Every row's RTT within 2 ms of the simulated fixed delay, and its `ttl`
/// the TTL (hop limit) the simulator sent. Returns the largest RTT error.
pub fn check_rtt_and_ttl<A: Addr>(sim: &SimNet<A>, rows: &[SweepRow<A>]) -> Result<f64, String> {
    let mut bad = Vec::new();
    let mut worst: f64 = 0.0;
    for r in rows {
        let t = &sim.truth[&r.addr];
        let want = t.rtt_ms.ok_or("truth without rtt")?;
        match r.rtt_ms.parse::<f64>() {
            Ok(got) if (got - want).abs() <= 2.0 => worst = worst.max((got - want).abs()),
            _ => bad.push(format!("{}: rtt {:?}, simulated {want}", r.addr, r.rtt_ms)),
        }
        // The truth detail starts with the reply TTL: "ttl=57;rtt=200ms".
        let ttl = t
            .detail
            .split(';')
            .next()
            .and_then(|kv| kv.strip_prefix("ttl="));
        if ttl != Some(r.ttl.as_str()) {
            bad.push(format!("{}: ttl {:?}, simulated {ttl:?}", r.addr, r.ttl));
        }
    }
    none_of("wrong RTT or TTL", &bad)?;
    Ok(worst)
}

/// Every up row's `dups` against `want(addr)` copies per answered probe:
/// exactly that many after a single probe, at least that many after more
/// (sweep normally sends one).
pub fn check_dups<A: Addr>(
    rows: &[SweepRow<A>],
    want: impl Fn(A) -> Result<u64, String>,
) -> Result<(), String> {
    let mut bad = Vec::new();
    for r in rows.iter().filter(|r| r.status == "up") {
        let want = want(r.addr)?;
        let probes: u64 = r.probes.parse().unwrap_or(0);
        let dups: u64 = r
            .dups
            .parse()
            .map_err(|_| format!("bad dups {:?}", r.dups))?;
        let ok = if probes <= 1 {
            dups == want
        } else {
            dups >= want
        };
        if !ok {
            bad.push(format!(
                "{}: dups {dups} (probes {probes}), want {want}",
                r.addr
            ));
        }
    }
    none_of("wrong duplicate counts", &bad)
}
