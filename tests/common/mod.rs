//! Shared helpers for the integration tests: the kernel lab (scripts/lab.sh),
//! running `sweep` inside a network namespace, temporary files, and the CSV
//! formats.
//!
//! Tests that need root and namespaces are libtest-mimic trials built with
//! [`lab_trial`]: they report IGNORED (with the reason) when the machine
//! cannot host a lab, and FAIL instead when `SWEEP_REQUIRE_LAB=1`.
//! Helpers return `Result<_, String>` so any harness can use them.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fmt::{Debug, Display};
use std::io::Read;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Completion, Failed, Trial};

/// Exact header of sweep's CSV output (fixed by the CLI contract).
pub const SWEEP_HEADER: &str = "addr,status,rtt_ms,ttl,responder,probes,dups,detail,mac,vendor";
/// The header before on-link discovery added `mac,vendor`: merge and diff still read it.
#[allow(dead_code)]
pub const V1_HEADER: &str = "addr,status,rtt_ms,ttl,responder,probes,dups,detail";
/// Exact header of `sweep diff` output (fixed by its contract).
pub const DIFF_HEADER: &str =
    "addr,change,old_status,new_status,old_rtt_ms,new_rtt_ms,old_ttl,new_ttl,old_mac,new_mac";
/// Header of lab.sh's ground truth.
const TRUTH_HEADER: &str = "addr,expect,detail,responder";
/// Address of the target namespace's veth end: the lab's only router.
pub const LAB_ROUTER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// No single sweep run in the tests may take longer than this.
pub const RUN_LIMIT: Duration = Duration::from_secs(300);
/// Limit for sweep runs outside any namespace (usage errors only).
const LOCAL_LIMIT: Duration = Duration::from_secs(60);

pub fn sweep_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sweep")
}

pub fn lab_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lab.sh")
}

/// Trials that need the machine's cores to themselves (full-/16 scans, RTT
/// and loss checks) hold this while they scan: two of them sharing 2 cores
/// would measure the machine rather than sweep. One lock per test binary.
pub fn heavy() -> MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY.lock().unwrap_or_else(|p| p.into_inner())
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
    /// Lab plus what scripts/image.sh needs: podman, runc, debootstrap.
    Image,
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
        Need::Image => unavailable(Need::Lab).or_else(|| {
            ["podman", "runc", "debootstrap"]
                .into_iter()
                .find(|t| !have(t))
                .map(|t| format!("`{t}` not installed"))
        }),
    }
}

/// Why `need` cannot be met here (`None`: it can), for harnesses of their own.
pub fn unavailable_reason(need: Need) -> Option<String> {
    unavailable(need)
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

/// A trial that needs neither root nor a namespace.
pub fn plain_trial(name: &str, body: fn() -> Result<(), String>) -> Trial {
    Trial::test(name, move || body().map_err(Failed::from))
}

/// `main` of a `harness = false` test binary: runs `trials` as the command
/// line asks, and exits.
pub fn run_trials(trials: Vec<Trial>) -> ! {
    libtest_mimic::run(&Arguments::from_args(), trials).exit()
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

/// /etc/netns/NAME/{hosts,resolv.conf}, which `ip netns exec NAME`
/// bind-mounts over /etc: names from `hosts` are seen only inside the
/// namespace. Removed on drop (with /etc/netns itself if this made it and it
/// is empty).
pub struct NetnsEtc {
    dir: PathBuf,
    made_parent: bool,
}

impl NetnsEtc {
    pub fn new(ns: &str, hosts: &str) -> Result<Self, String> {
        let parent = Path::new("/etc/netns");
        let made_parent = !parent.exists();
        let dir = parent.join(ns);
        let guard = NetnsEtc { dir, made_parent };
        std::fs::create_dir_all(&guard.dir)
            .map_err(|e| format!("mkdir {}: {e}", guard.dir.display()))?;
        let write = |name: &str, text: &str| {
            let p = guard.dir.join(name);
            std::fs::write(&p, text).map_err(|e| format!("write {}: {e}", p.display()))
        };
        write("hosts", hosts)?;
        // No nameserver line: the resolver would try 127.0.0.1 inside the
        // namespace (nothing there), never a real DNS server.
        write("resolv.conf", "")?;
        Ok(guard)
    }
}

impl Drop for NetnsEtc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if self.made_parent {
            let _ = std::fs::remove_dir("/etc/netns");
        }
    }
}

/// Options passed to `scripts/lab.sh up`.
#[derive(Clone, Debug)]
pub struct LabOpts {
    pub prefix: &'static str,
    pub alive: &'static str,
    pub seed: u64,
    pub unreach: &'static str,
    /// The scanner on the targets' segment (`lab.sh --onlink`), with this IPv6 prefix.
    pub onlink: Option<&'static str>,
    /// A policer of this many echo requests a second on the way in (`lab.sh --police`).
    pub police: Option<u32>,
    /// Percent of echo replies dropped on the way out (`lab.sh --reply-loss`).
    pub reply_loss: Option<u32>,
}

impl Default for LabOpts {
    fn default() -> Self {
        LabOpts {
            prefix: "198.18.0.0/16",
            alive: "0.25",
            seed: 1,
            unreach: "203.0.113.0/24",
            onlink: None,
            police: None,
            reply_loss: None,
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
            .args(match lab.opts.onlink {
                Some(p6) => vec!["--onlink", "--prefix6", p6],
                None => vec![],
            })
            .args(
                lab.opts
                    .police
                    .iter()
                    .flat_map(|n| ["--police".into(), n.to_string()]),
            )
            .args(
                lab.opts
                    .reply_loss
                    .iter()
                    .flat_map(|p| ["--reply-loss".into(), p.to_string()]),
            )
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

/// A small lab: 198.18.0.0/24, half of it alive.
pub fn small_lab(seed: u64) -> Result<Lab, String> {
    Lab::up(LabOpts {
        prefix: "198.18.0.0/24",
        alive: "0.5",
        seed,
        ..LabOpts::default()
    })
}

// ---------------------------------------------------------------------------
// Temporary files

/// A fresh temporary directory for a test's files; removed on drop.
pub fn out_dir() -> Result<tempfile::TempDir, String> {
    tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))
}

/// A temporary path as a command-line argument.
pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// The names of the files in `dir`, sorted.
pub fn file_names(dir: &Path) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
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
    /// Logs `label`, the run's time and its stderr (sweep's summary line) to
    /// the test's output.
    pub fn log(&self, label: &str) {
        eprintln!(
            "{label}: {:.1}s, {}",
            self.elapsed.as_secs_f64(),
            self.stderr.trim()
        );
    }

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

    /// The rows of an IPv4 scan that wrote `out` (see [`read_sweep`]), once
    /// sweep exited 0.
    pub fn rows_written(&self, out: &Path) -> Result<Vec<SweepRow>, String> {
        self.expect_code(0)?;
        read_sweep(out)
    }
}

/// A command running in the background (so a test can signal it), both
/// output pipes drained concurrently so a chatty child cannot block. Killed
/// on drop if still running, so a test that bails out never leaves it behind.
pub struct Running {
    child: Child,
    what: String,
    out: Option<JoinHandle<String>>,
    err: Option<JoinHandle<String>>,
    start: Instant,
}

impl Running {
    pub fn spawn(mut cmd: Command) -> Result<Running, String> {
        let what = format!("{cmd:?}");
        let start = Instant::now();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot spawn {what}: {e}"))?;
        let drain = |mut r: Box<dyn Read + Send>| {
            thread::spawn(move || {
                let mut s = String::new();
                let _ = r.read_to_string(&mut s);
                s
            })
        };
        let out = drain(Box::new(child.stdout.take().expect("piped")));
        let err = drain(Box::new(child.stderr.take().expect("piped")));
        Ok(Running {
            child,
            what,
            out: Some(out),
            err: Some(err),
            start,
        })
    }

    /// The child's pid (sweep's own for [`sweep_cmd`], see [`Running::signal`]).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `sig`. `ip netns exec` execs its command in place, so for
    /// [`sweep_cmd`] the pid is sweep's own and signals reach it directly.
    pub fn signal(&self, sig: libc::c_int) -> Result<(), String> {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill has no memory-safety preconditions; the pid is our own
        // child, not yet reaped (so it cannot have been reused).
        if unsafe { libc::kill(pid, sig) } != 0 {
            return Err(format!(
                "kill({pid}, {sig}): {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    /// Waits for the exit, killing the command once `limit` has passed since
    /// it started so a hung scan fails the test instead of hanging the suite,
    /// and collects its output.
    pub fn wait(mut self, limit: Duration) -> Result<SweepRun, String> {
        let status = loop {
            if let Some(st) = self.child.try_wait().map_err(|e| e.to_string())? {
                break st;
            }
            if self.start.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!(
                    "{} still running after {limit:?}: killed",
                    self.what
                ));
            }
            thread::sleep(Duration::from_millis(5));
        };
        let join = |h: Option<JoinHandle<String>>| h.and_then(|h| h.join().ok());
        Ok(SweepRun {
            code: status.code(),
            stdout: join(self.out.take()).unwrap_or_default(),
            stderr: join(self.err.take()).unwrap_or_default(),
            elapsed: self.start.elapsed(),
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `cmd` to completion, killing it after `limit`.
pub fn run_limited(cmd: Command, limit: Duration) -> Result<SweepRun, String> {
    Running::spawn(cmd)?.wait(limit)
}

/// `ip netns exec NS sweep ARGS`, not started yet.
pub fn sweep_cmd(ns: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, sweep_bin()]).args(args);
    cmd
}

/// Runs sweep inside namespace `ns` via `ip netns exec`.
pub fn sweep_in(ns: &str, args: &[&str]) -> Result<SweepRun, String> {
    run_limited(sweep_cmd(ns, args), RUN_LIMIT)
}

/// Runs sweep in a fresh namespace with only `lo`, deleted afterwards. For
/// runs that must not reach any network, e.g. `merge` or `diff`: were one not
/// a subcommand, sweep would take it for a hostname to resolve and probe, and
/// neither the lookup nor a probe may leave the machine.
pub fn sweep_in_fresh_ns(args: &[&str]) -> Result<SweepRun, String> {
    let ns = Netns::new()?;
    sweep_in(&ns.name, args)
}

/// `cmd` with the shard index variables removed (so only `env` sets them),
/// then `env` set.
fn with_env(mut cmd: Command, env: &[(&str, &str)]) -> Command {
    cmd.env_remove("JOB_COMPLETION_INDEX")
        .env_remove("SLURM_ARRAY_TASK_ID")
        .envs(env.iter().copied());
    cmd
}

/// `sweep ARGS` in namespace `ns` with extra environment variables (see
/// [`with_env`]).
pub fn sweep_in_env(ns: &str, args: &[&str], env: &[(&str, &str)]) -> Result<SweepRun, String> {
    run_limited(with_env(sweep_cmd(ns, args), env), RUN_LIMIT)
}

/// `sweep ARGS` run directly (no namespace), environment as in
/// [`sweep_in_env`]: only for usage errors with loopback targets, which never
/// send a packet or look a name up.
pub fn sweep_local(args: &[&str], env: &[(&str, &str)]) -> Result<SweepRun, String> {
    let mut cmd = Command::new(sweep_bin());
    cmd.args(args);
    run_limited(with_env(cmd, env), LOCAL_LIMIT)
}

/// One stderr line, starting `sweep: `, containing every one of `needles`.
pub fn one_line_naming(stderr: &str, needles: &[&str]) -> Result<(), String> {
    let lines: Vec<&str> = stderr.lines().collect();
    ensure(
        lines.len() == 1
            && lines[0].starts_with("sweep: ")
            && needles.iter().all(|n| lines[0].contains(n)),
        || format!("want one `sweep: ` stderr line naming {needles:?}, got {stderr:?}"),
    )
}

// ---------------------------------------------------------------------------
// CSV formats

/// An address type CSV rows are read as: `Ipv4Addr` for the IPv4-only
/// kernel labs (an IPv6 row is then a parse error), `IpAddr` for scans that
/// include IPv6 (IpAddr orders every IPv4 address first, as sweep does).
pub trait Addr: FromStr + Ord + Copy + Debug + Display {}
impl<A: FromStr + Ord + Copy + Debug + Display> Addr for A {}

pub fn parse_addr<A: Addr>(s: &str) -> Result<A, String> {
    s.parse().map_err(|_| format!("bad address {s:?}"))
}

/// One row of sweep's output.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepRow<A = Ipv4Addr> {
    pub addr: A,
    pub status: String,
    pub rtt_ms: String,
    pub ttl: String,
    pub responder: String,
    pub probes: String,
    pub dups: String,
    pub detail: String,
    pub mac: String,
    pub vendor: String,
}

/// One row of lab.sh's ground truth.
#[derive(Clone, Debug, PartialEq)]
pub struct TruthRow {
    pub addr: Ipv4Addr,
    pub expect: String,
    pub detail: String,
    pub responder: String,
}

fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Any CSV: its header and rows (every row as long as the header).
pub fn parse_csv(text: &str) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    let mut records = rdr.records();
    let header: Vec<String> = match records.next() {
        Some(r) => r
            .map_err(|e| e.to_string())?
            .iter()
            .map(String::from)
            .collect(),
        None => return Err("empty (no header)".into()),
    };
    let rows = records
        .map(|r| {
            let r = r.map_err(|e| e.to_string())?;
            if r.len() != header.len() {
                return Err(format!(
                    "row {r:?} has {} fields, want {}",
                    r.len(),
                    header.len()
                ));
            }
            Ok(r.iter().map(String::from).collect())
        })
        .collect::<Result<Vec<Vec<String>>, String>>()?;
    Ok((header, rows))
}

pub fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    parse_csv(&read_text(path)?).map_err(|e| format!("{}: {e}", path.display()))
}

/// The rows of a CSV whose header is exactly `header`.
fn parse_rows(text: &str, header: &str) -> Result<Vec<Vec<String>>, String> {
    let (head, rows) = parse_csv(text)?;
    ensure(head.join(",") == header, || {
        format!("header {head:?}, want {header:?}")
    })?;
    Ok(rows)
}

/// Fails unless every line of `text` ends in CRLF (sweep's CSV contract).
pub fn check_crlf(text: &str) -> Result<(), String> {
    let bare_lf = text
        .match_indices('\n')
        .any(|(i, _)| i == 0 || &text[i - 1..i] != "\r");
    ensure(!bare_lf, || {
        format!(
            "CSV lines must end in CRLF: {:?}",
            &text[..text.len().min(120)]
        )
    })
}

/// Parses sweep CSV text (header checked exactly).
pub fn parse_sweep<A: Addr>(text: &str) -> Result<Vec<SweepRow<A>>, String> {
    parse_rows(text, SWEEP_HEADER)?
        .into_iter()
        .map(|f| {
            Ok(SweepRow {
                addr: parse_addr(&f[0])?,
                status: f[1].clone(),
                rtt_ms: f[2].clone(),
                ttl: f[3].clone(),
                responder: f[4].clone(),
                probes: f[5].clone(),
                dups: f[6].clone(),
                detail: f[7].clone(),
                mac: f[8].clone(),
                vendor: f[9].clone(),
            })
        })
        .collect()
}

/// Reads sweep CSV of an IPv4 scan (an IPv6 row is an error).
pub fn read_sweep(path: &Path) -> Result<Vec<SweepRow>, String> {
    parse_sweep(&read_text(path)?).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn read_truth(path: &Path) -> Result<Vec<TruthRow>, String> {
    parse_rows(&read_text(path)?, TRUTH_HEADER)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .into_iter()
        .map(|f| {
            Ok(TruthRow {
                addr: parse_addr(&f[0])?,
                expect: f[1].clone(),
                detail: f[2].clone(),
                responder: f[3].clone(),
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Checks

/// Fails unless addresses are strictly ascending (sorted, no duplicates):
/// every IPv4 address before every IPv6 one, each family numerically.
pub fn check_ascending<A: Addr>(rows: &[SweepRow<A>]) -> Result<(), String> {
    match rows.windows(2).find(|w| w[0].addr >= w[1].addr) {
        None => Ok(()),
        Some(w) => Err(format!(
            "rows not strictly ascending (IPv4 first, then IPv6): {} then {}",
            w[0].addr, w[1].addr
        )),
    }
}

pub fn sweep_with<A: Addr>(rows: &[SweepRow<A>], status: &str) -> BTreeSet<A> {
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

/// The first five items, space-separated (`...` if there are more): for
/// failure messages.
pub fn few<T: Display>(items: impl IntoIterator<Item = T>) -> String {
    let mut s: Vec<String> = items.into_iter().take(6).map(|a| a.to_string()).collect();
    if s.len() > 5 {
        s[5] = "...".into();
    }
    s.join(" ")
}

/// How a found set compares with the truth.
#[derive(Debug)]
pub struct Score<A = Ipv4Addr> {
    pub true_pos: usize,
    pub false_pos: Vec<A>,
    pub missed: Vec<A>,
}

impl<A: Addr> Score<A> {
    pub fn new(found: &BTreeSet<A>, truth: &BTreeSet<A>) -> Self {
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

/// Fails unless `found` equals `want` exactly, naming false positives and
/// misses: `{what} differs from the truth: ...`.
pub fn same_set<A: Addr>(
    what: &str,
    found: &BTreeSet<A>,
    want: &BTreeSet<A>,
) -> Result<(), String> {
    let score = Score::new(found, want);
    ensure(
        score.false_pos.is_empty() && score.missed.is_empty(),
        || format!("{what} differs from the truth: {}", score.describe()),
    )
}

/// Fails unless the hosts `rows` report up are exactly the lab truth's up
/// hosts: `{what} differs from the truth: ...`.
pub fn check_up_set(what: &str, rows: &[SweepRow], truth: &[TruthRow]) -> Result<(), String> {
    same_set(what, &sweep_with(rows, "up"), &truth_with(truth, "up"))
}

/// `Err(msg)` unless `cond`; keeps test bodies flat.
pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}
