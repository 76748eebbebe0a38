//! Helpers for the sweep-sim end-to-end tests (tests/sim.rs, tests/sim_v6.rs):
//! build and run the simulator in a fresh namespace, run sweep against it,
//! read its truth and log files.
//!
//! [`SimNet`] is generic over the address type of the truth and log maps:
//! [`Sim`] (IPv4 only) for tests/sim.rs, `SimNet<IpAddr>` for scans that
//! include IPv6 (IpAddr orders IPv4 first, as both files do).
//!
//! Included with `#[path]` next to `mod common;`, so it can use `common`.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{parse_sweep, sweep_in, Netns, SweepRow, SweepRun};

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

/// An address type the truth and log files can be read as.
pub trait SimAddr: std::str::FromStr + Ord + Copy + std::fmt::Debug {}
impl<A: std::str::FromStr + Ord + Copy + std::fmt::Debug> SimAddr for A {}

/// One row of sweep-sim's truth file.
#[derive(Clone, Debug)]
pub struct SimTruth<A = Ipv4Addr> {
    pub addr: A,
    pub expect: String,
    /// The fixed simulated RTT, if the rule has one.
    pub rtt_ms: Option<f64>,
    pub responder: String,
    pub detail: String,
}

/// One row of sweep-sim's log: what it did for one address.
#[derive(Clone, Debug, Default)]
#[allow(dead_code)] // Printed in failure messages; not every field is checked.
pub struct SimLog {
    pub requests_seen: u64,
    pub replies_sent: u64,
    pub dups_sent: u64,
    pub corrupt_sent: u64,
    pub truncated_sent: u64,
    pub options_sent: u64,
    pub foreign_id_sent: u64,
    pub other_src_sent: u64,
    pub errors_sent: u64,
    pub dropped_in: u64,
    pub dropped_out: u64,
    pub ratelimited: u64,
}

const TRUTH_HEADER: &str = "addr,expect,rtt_ms,responder,detail";
const LOG_HEADER: &str = "addr,requests_seen,replies_sent,dups_sent,corrupt_sent,truncated_sent,options_sent,foreign_id_sent,other_src_sent,errors_sent,dropped_in,dropped_out,ratelimited";

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

fn ip<A: SimAddr>(s: &str) -> Result<A, String> {
    s.parse().map_err(|_| format!("bad address {s:?}"))
}

pub fn parse_sim_truth<A: SimAddr>(text: &str) -> Result<BTreeMap<A, SimTruth<A>>, String> {
    rows(text, TRUTH_HEADER, "truth")?
        .into_iter()
        .map(|f| {
            let t = SimTruth {
                addr: ip(f[0])?,
                expect: f[1].to_string(),
                rtt_ms: f[2].parse().ok(),
                responder: f[3].to_string(),
                detail: f[4].to_string(),
            };
            Ok((t.addr, t))
        })
        .collect()
}

pub fn parse_sim_log<A: SimAddr>(text: &str) -> Result<BTreeMap<A, SimLog>, String> {
    rows(text, LOG_HEADER, "log")?
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
            Ok((ip(f[0])?, l))
        })
        .collect()
}

/// A running simulator in its own namespace. Dropping it stops the simulator
/// and deletes the namespace (also when a test fails or panics).
pub struct SimNet<A: SimAddr> {
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

impl<A: SimAddr> SimNet<A> {
    /// Starts sweep-sim with `profile` in a new namespace and waits for it.
    pub fn start(profile: &str) -> Result<Self, String> {
        let bin = sim_bin()?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let base = dir.path().to_path_buf();
        let p = |name: &str| base.join(name);
        std::fs::write(p("profile.txt"), profile).map_err(|e| e.to_string())?;
        let stderr = std::fs::File::create(p("stderr")).map_err(|e| e.to_string())?;
        let ns = Netns::new()?;
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name])
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
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut sim = SimNet {
            child: Some(child),
            dir,
            truth: BTreeMap::new(),
            ns,
        };
        let start = Instant::now();
        while !p("ready").exists() {
            let exited = sim.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(st) = exited {
                return Err(format!("sweep-sim exited ({st}): {}", sim.stderr()));
            }
            if start.elapsed() > READY_LIMIT {
                return Err(format!(
                    "sweep-sim not ready after {READY_LIMIT:?}: {}",
                    sim.stderr()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
        let text = std::fs::read_to_string(p("truth.csv")).map_err(|e| e.to_string())?;
        sim.truth = parse_sim_truth(&text)?;
        Ok(sim)
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
        self.terminate();
        let text = std::fs::read_to_string(self.dir.path().join("log.csv"))
            .map_err(|e| format!("no log from sweep-sim ({e}): {}", self.stderr()))?;
        Ok((parse_sim_log(&text)?, self.stderr()))
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

impl Sim {
    /// Runs sweep in the namespace with `--all -q -o FILE` plus `args`, and
    /// parses its CSV.
    pub fn sweep(&self, args: &[&str]) -> Result<(SweepRun, Vec<SweepRow>), String> {
        let (run, text) = self.sweep_text(args)?;
        let rows = parse_sweep(&text)?;
        Ok((run, rows))
    }
}

impl<A: SimAddr> Drop for SimNet<A> {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Every disagreement between sweep's rows and the truth, for addresses
/// sweep reported (it may skip network and broadcast addresses). Also fails
/// if sweep reported an address the profile doesn't describe, or skipped
/// more than `max_skipped` described ones.
pub fn mismatches(
    rows: &[SweepRow],
    truth: &BTreeMap<Ipv4Addr, SimTruth>,
    max_skipped: usize,
) -> Vec<String> {
    let mut bad = Vec::new();
    for r in rows {
        match truth.get(&r.addr) {
            None => bad.push(format!("{}: not in the profile", r.addr)),
            Some(t) if t.expect != r.status => bad.push(format!(
                "{}: sweep says {}, truth {} ({})",
                r.addr, r.status, t.expect, t.detail
            )),
            Some(_) => {}
        }
    }
    let skipped = truth.len().saturating_sub(rows.len());
    if skipped > max_skipped {
        bad.push(format!(
            "sweep reported {} rows for {} described addresses",
            rows.len(),
            truth.len()
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
