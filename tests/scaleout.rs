//! Scaling out: `--shard I/N` slices of one seeded permutation, `sweep merge` of the
//! slices, and an interrupted scan (SIGINT) continued with `--resume`.
//!
//! The scans run in kernel labs (scripts/lab.sh) and need root; reported as ignored
//! elsewhere, and failed when SWEEP_REQUIRE_LAB=1. The usage-error trials need nothing.
//! Runs with `harness = false` (libtest-mimic).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::*;
use libtest_mimic::{Arguments, Failed, Trial};

/// Full-/16 scans run one at a time: two of them sharing 2 cores would measure the
/// machine rather than sweep (and a shard run is three processes already).
static HEAVY: Mutex<()> = Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|p| p.into_inner())
}

fn main() {
    let args = Arguments::from_args();
    let trials = vec![
        lab_trial(
            "shards_merge_equals_single_run",
            Need::Lab,
            shards_merge_equals_single_run,
        ),
        lab_trial(
            "interrupted_then_resumed_covers_everything_once",
            Need::Lab,
            interrupted_then_resumed_covers_everything_once,
        ),
        lab_trial(
            "second_interrupt_skips_the_wait",
            Need::Lab,
            second_interrupt_skips_the_wait,
        ),
        plain_trial("shard_without_seed_is_usage_error", shard_without_seed),
        lab_trial(
            "shard_auto_reads_job_index",
            Need::Lab,
            shard_auto_reads_job_index,
        ),
        plain_trial(
            "shard_auto_without_env_is_usage_error",
            shard_auto_without_env,
        ),
        lab_trial(
            "resume_with_other_options_is_rejected",
            Need::Netns,
            resume_with_other_options_is_rejected,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}

// ---------------------------------------------------------------------------
// Local helpers

/// A trial that needs neither root nor a namespace.
fn plain_trial(name: &str, body: fn() -> Result<(), String>) -> Trial {
    Trial::test(name, move || body().map_err(Failed::from))
}

fn out_dir() -> Result<tempfile::TempDir, String> {
    tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// Every address of `truth` (all targets of a lab scan of prefix + unreachable block).
fn all_addrs(truth: &[TruthRow]) -> BTreeSet<Ipv4Addr> {
    truth.iter().map(|t| t.addr).collect()
}

fn addrs(rows: &[SweepRow]) -> BTreeSet<Ipv4Addr> {
    rows.iter().map(|r| r.addr).collect()
}

fn statuses(rows: &[SweepRow]) -> BTreeMap<Ipv4Addr, String> {
    rows.iter().map(|r| (r.addr, r.status.clone())).collect()
}

fn probes(r: &SweepRow) -> Result<u32, String> {
    r.probes
        .parse()
        .map_err(|_| format!("row {r:?}: probes is not a number"))
}

/// A few elements of a set, for messages.
fn few<T: std::fmt::Display>(it: impl IntoIterator<Item = T>) -> String {
    let v: Vec<String> = it.into_iter().take(5).map(|a| a.to_string()).collect();
    v.join(" ")
}

/// `sweep ARGS` run directly (no namespace): only for usage errors with loopback
/// targets, which never send a packet or look a name up.
fn sweep_local(args: &[&str], env: &[(&str, &str)]) -> Result<SweepRun, String> {
    let mut cmd = Command::new(sweep_bin());
    cmd.args(args)
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("SLURM_ARRAY_TASK_ID");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_limited(cmd, Duration::from_secs(60))
}

/// `sweep ARGS` in namespace `ns` with extra environment variables (the shard index
/// variables are removed first, so only `env` sets them).
fn sweep_in_env(ns: &str, args: &[&str], env: &[(&str, &str)]) -> Result<SweepRun, String> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, sweep_bin()])
        .args(args)
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("SLURM_ARRAY_TASK_ID");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_limited(cmd, RUN_LIMIT)
}

/// A sweep running in the background, so the test can signal it.
struct Running {
    child: Child,
    out: Option<JoinHandle<String>>,
    err: Option<JoinHandle<String>>,
    start: Instant,
}

impl Running {
    /// Starts sweep in `ns`. `ip netns exec` execs sweep in place, so the child's pid is
    /// sweep's own and signals reach it directly.
    fn spawn(ns: &str, args: &[&str]) -> Result<Running, String> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, sweep_bin()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot spawn sweep in {ns}: {e}"))?;
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
            out: Some(out),
            err: Some(err),
            start: Instant::now(),
        })
    }

    fn signal(&self, sig: libc::c_int) -> Result<(), String> {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child,
        // not yet reaped (so it cannot have been reused).
        if unsafe { libc::kill(pid, sig) } != 0 {
            return Err(format!(
                "kill({pid}, {sig}): {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    /// Waits for the exit (killing it after `limit`) and collects its output.
    fn wait(mut self, limit: Duration) -> Result<SweepRun, String> {
        let status = loop {
            if let Some(st) = self.child.try_wait().map_err(|e| e.to_string())? {
                break st;
            }
            if self.start.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!("sweep still running after {limit:?}: killed"));
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
        // Only when a test bails out early: never leave a scan running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `sweep merge INPUTS -o OUT`, inside a fresh namespace with only `lo`: were `merge`
/// not a subcommand, sweep would take it for a hostname to resolve and probe, and
/// neither the lookup nor a probe may leave the machine.
fn merge(inputs: &[&Path], out: &Path) -> Result<Vec<SweepRow>, String> {
    let ns = Netns::new()?;
    let mut args = vec!["merge"];
    args.extend(inputs.iter().map(|p| path_str(p)));
    args.extend(["-o", path_str(out)]);
    let run = sweep_in(&ns.name, &args)?;
    run.expect_code(0)
        .map_err(|e| format!("sweep merge: {e}"))?;
    let rows = read_sweep(out)?;
    check_ascending(&rows).map_err(|e| format!("merged: {e}"))?;
    Ok(rows)
}

/// One stderr line, starting `sweep: `, containing `needle`.
fn one_line_naming(run: &SweepRun, needle: &str) -> Result<(), String> {
    let lines: Vec<&str> = run.stderr.lines().collect();
    ensure(
        lines.len() == 1 && lines[0].starts_with("sweep: ") && lines[0].contains(needle),
        || {
            format!(
                "want one `sweep: ` stderr line naming {needle:?}, got {:?}",
                run.stderr
            )
        },
    )
}

// ---------------------------------------------------------------------------
// Sharding

/// Three shards of one seed, run side by side in the same namespace, then merged: the
/// same (addr, status) set as one unsharded run of that seed, with the truth's up hosts;
/// each shard covers its own slice only (pairwise disjoint), together every target.
fn shards_merge_equals_single_run() -> Result<(), String> {
    const N: usize = 3;
    let lab = Lab::up(LabOpts::default())?;
    let truth = lab.truth()?;
    let dir = out_dir()?;
    let shard_paths: Vec<_> = (0..N)
        .map(|i| dir.path().join(format!("shard-{i}.csv")))
        .collect();
    let _big = heavy();

    let t0 = Instant::now();
    let runs: Vec<Result<SweepRun, String>> = thread::scope(|s| {
        let handles: Vec<_> = shard_paths
            .iter()
            .enumerate()
            .map(|(i, out)| {
                let lab = &lab;
                s.spawn(move || {
                    let shard = format!("{i}/{N}");
                    lab.sweep(&[
                        lab.opts.prefix,
                        lab.opts.unreach,
                        "--seed",
                        "7",
                        "--shard",
                        &shard,
                        "--rate",
                        "20000",
                        "--all",
                        "-o",
                        path_str(out),
                    ])
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("shard thread"))
            .collect()
    });
    eprintln!(
        "{N} shards side by side: {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    let mut shards = Vec::new();
    for (i, run) in runs.into_iter().enumerate() {
        let run = run?;
        eprintln!("  shard {i}/{N}: {}", run.stderr.trim());
        run.expect_code(0)
            .map_err(|e| format!("shard {i}/{N}: {e}"))?;
        let rows = read_sweep(&shard_paths[i])?;
        check_ascending(&rows).map_err(|e| format!("shard {i}/{N}: {e}"))?;
        shards.push(rows);
    }

    let single_out = dir.path().join("single.csv");
    let single = lab.sweep(&[
        lab.opts.prefix,
        lab.opts.unreach,
        "--seed",
        "7",
        "--rate",
        "20000",
        "--all",
        "-o",
        path_str(&single_out),
    ])?;
    eprintln!(
        "  single run: {:.1}s, {}",
        single.elapsed.as_secs_f64(),
        single.stderr.trim()
    );
    single.expect_code(0)?;
    let single = read_sweep(&single_out)?;

    // Both halves are checked and reported together: each says something different.
    let slices = check_shard_slices(&shards, &all_addrs(&truth));
    let merged = merge_matches_single(&shard_paths, &dir.path().join("merged.csv"), &single)
        .and_then(|merged| {
            let score = Score::new(&sweep_with(&merged, "up"), &truth_with(&truth, "up"));
            ensure(
                score.false_pos.is_empty() && score.missed.is_empty(),
                || format!("merged up set differs from truth: {}", score.describe()),
            )
        });
    match (slices, merged) {
        (Ok(()), Ok(())) => Ok(()),
        (a, b) => Err([a.err(), b.err()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

/// `sweep merge` of the shards: exactly the single run's (addr, status) set.
fn merge_matches_single(
    shard_paths: &[std::path::PathBuf],
    out: &Path,
    single: &[SweepRow],
) -> Result<Vec<SweepRow>, String> {
    let paths: Vec<&Path> = shard_paths.iter().map(|p| p.as_path()).collect();
    let merged = merge(&paths, out)?;
    let (m, s) = (statuses(&merged), statuses(single));
    if m != s {
        let differ: Vec<String> = m
            .keys()
            .chain(s.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|a| m.get(a) != s.get(a))
            .take(5)
            .map(|a| format!("{a}: merged {:?} single {:?}", m.get(a), s.get(a)))
            .collect();
        return Err(format!(
            "merged (addr,status) differs from the single run ({} vs {} rows), e.g. {differ:?}",
            m.len(),
            s.len()
        ));
    }
    Ok(merged)
}

/// Each shard probed only its own slice: no row for a host it never probed, no address
/// in two shards, and together every target.
fn check_shard_slices(shards: &[Vec<SweepRow>], every: &BTreeSet<Ipv4Addr>) -> Result<(), String> {
    let n = shards.len();
    let mut errors = Vec::new();
    for (i, rows) in shards.iter().enumerate() {
        let unprobed: Vec<&SweepRow> = rows.iter().filter(|r| r.probes == "0").collect();
        if let Some(first) = unprobed.first() {
            errors.push(format!(
                "shard {i}/{n} has {} rows with probes=0, hosts it never probed \
                 (replies to another shard's probes, which carry the same seed's \
                 identifier and tag key, were counted), e.g. {first:?}",
                unprobed.len(),
            ));
        }
    }
    let sets: Vec<BTreeSet<Ipv4Addr>> = shards.iter().map(|r| addrs(r)).collect();
    for i in 0..n {
        for j in i + 1..n {
            let both: Vec<_> = sets[i].intersection(&sets[j]).collect();
            if !both.is_empty() {
                errors.push(format!(
                    "shards {i}/{n} and {j}/{n} share {} addresses, e.g. {}",
                    both.len(),
                    few(both.iter())
                ));
            }
        }
    }
    let union: BTreeSet<Ipv4Addr> = sets.iter().flatten().copied().collect();
    if union != *every {
        errors.push(format!(
            "shards together cover {} addresses, want every one of the {} targets; \
             missing e.g. {}",
            union.len(),
            every.len(),
            few(every.difference(&union))
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

/// `--shard` without `--seed`: exit 2, one line naming --seed, nothing written.
fn shard_without_seed() -> Result<(), String> {
    let dir = out_dir()?;
    let out = dir.path().join("x.csv");
    let run = sweep_local(&["127.0.0.1", "--shard", "0/2", "-o", path_str(&out)], &[])?;
    run.expect_code(2)?;
    one_line_naming(&run, "--seed")?;
    ensure(!out.exists(), || "usage error left an output file".into())
}

/// `--shard auto/2` without JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID: exit 2, naming
/// the variable.
fn shard_auto_without_env() -> Result<(), String> {
    let dir = out_dir()?;
    let out = dir.path().join("x.csv");
    let run = sweep_local(
        &[
            "127.0.0.1",
            "--seed",
            "1",
            "--shard",
            "auto/2",
            "-o",
            path_str(&out),
        ],
        &[],
    )?;
    run.expect_code(2)?;
    one_line_naming(&run, "JOB_COMPLETION_INDEX")?;
    ensure(!out.exists(), || "usage error left an output file".into())
}

/// `--shard auto/2` with JOB_COMPLETION_INDEX=1 is shard 1/2: the same rows. And the
/// two shards, run one after the other, split the targets exactly.
fn shard_auto_reads_job_index() -> Result<(), String> {
    let lab = Lab::up(LabOpts {
        prefix: "198.18.0.0/24",
        alive: "0.5",
        seed: 3,
        ..LabOpts::default()
    })?;
    let truth = lab.truth()?;
    let dir = out_dir()?;
    let scan = |shard: &str, name: &str, env: &[(&str, &str)]| {
        let out = dir.path().join(name);
        let run = sweep_in_env(
            &lab.scan_ns,
            &[
                lab.opts.prefix,
                "--seed",
                "11",
                "--shard",
                shard,
                "--all",
                "--timeout",
                "500ms",
                "-o",
                path_str(&out),
            ],
            env,
        )?;
        run.expect_code(0)
            .map_err(|e| format!("--shard {shard} {env:?}: {e}"))?;
        read_sweep(&out)
    };
    let auto = scan("auto/2", "auto.csv", &[("JOB_COMPLETION_INDEX", "1")])?;
    let one = scan("1/2", "one.csv", &[])?;
    let zero = scan("0/2", "zero.csv", &[])?;
    ensure(statuses(&auto) == statuses(&one), || {
        format!(
            "--shard auto/2 with JOB_COMPLETION_INDEX=1 gave {} rows, --shard 1/2 {} rows; \
             (addr,status) differ",
            auto.len(),
            one.len()
        )
    })?;
    let (a, z) = (addrs(&one), addrs(&zero));
    ensure(a.is_disjoint(&z), || {
        format!("shards 0/2 and 1/2 overlap: {}", few(a.intersection(&z)))
    })?;
    let want: BTreeSet<Ipv4Addr> = truth_with(&truth, "up")
        .union(&truth_with(&truth, "down"))
        .copied()
        .collect();
    let union: BTreeSet<Ipv4Addr> = a.union(&z).copied().collect();
    ensure(union == want, || {
        format!(
            "shards 0/2 + 1/2 cover {} addresses, want {}",
            union.len(),
            want.len()
        )
    })?;
    let both: Vec<SweepRow> = one.iter().chain(&zero).cloned().collect();
    let score = Score::new(&sweep_with(&both, "up"), &truth_with(&truth, "up"));
    ensure(
        score.false_pos.is_empty() && score.missed.is_empty(),
        || format!("shards' up hosts differ from truth: {}", score.describe()),
    )
}

// ---------------------------------------------------------------------------
// Interrupt and resume

/// SIGINT after ~2 s: exit 130 with the rows so far and a state file; `--resume` (no
/// --seed: the state has it) finishes the job. A host found up before the interrupt is
/// never probed again; a target probed before it but still silent is retried by the
/// resumed run's later rounds, never more than 1 + retries probes in all; together the
/// two files cover every target, and their merge has the truth's up hosts.
fn interrupted_then_resumed_covers_everything_once() -> Result<(), String> {
    let lab = Lab::up(LabOpts::default())?;
    let truth = lab.truth()?;
    let every: BTreeSet<Ipv4Addr> = truth_with(&truth, "up")
        .union(&truth_with(&truth, "down"))
        .copied()
        .collect();
    let dir = out_dir()?;
    let part_out = dir.path().join("part.csv");
    let state = dir.path().join("part.csv.state");
    let rest_out = dir.path().join("rest.csv");
    let _big = heavy();

    let running = Running::spawn(
        &lab.scan_ns,
        &[
            lab.opts.prefix,
            "--seed",
            "5",
            "--rate",
            "10000",
            "--all",
            "-o",
            path_str(&part_out),
        ],
    )?;
    thread::sleep(Duration::from_secs(2));
    running.signal(libc::SIGINT)?;
    let part = running.wait(Duration::from_secs(60))?;
    eprintln!(
        "interrupted run: {:.1}s, {}",
        part.elapsed.as_secs_f64(),
        part.stderr.trim()
    );
    part.expect_code(130)?;
    ensure(state.exists(), || {
        format!("no state file {} after the interrupt", state.display())
    })?;
    let part = read_sweep(&part_out)?;
    check_ascending(&part).map_err(|e| format!("part.csv: {e}"))?;
    ensure(!part.is_empty() && part.len() < every.len(), || {
        format!(
            "interrupted after 2 s of a {}-target scan, part.csv has {} rows",
            every.len(),
            part.len()
        )
    })?;

    let rest = lab.sweep(&[
        lab.opts.prefix,
        "--rate",
        "10000",
        "--all",
        "--resume",
        path_str(&state),
        "-o",
        path_str(&rest_out),
    ])?;
    eprintln!(
        "resumed run: {:.1}s, {}",
        rest.elapsed.as_secs_f64(),
        rest.stderr.trim()
    );
    rest.expect_code(0)?;
    let rest = read_sweep(&rest_out)?;
    check_ascending(&rest).map_err(|e| format!("rest.csv: {e}"))?;

    // A host that answered before the interrupt is done: the resumed run has no row
    // for it. Addresses in both files are the ones probed but still silent then.
    let part_up = sweep_with(&part, "up");
    let again: Vec<_> = rest.iter().filter(|r| part_up.contains(&r.addr)).collect();
    ensure(again.is_empty(), || {
        format!(
            "{} hosts up before the interrupt have rows in the resumed run, e.g. {:?}",
            again.len(),
            again[0]
        )
    })?;
    let part_map = statuses(&part);
    let shared: Vec<_> = rest
        .iter()
        .filter(|r| part_map.get(&r.addr).is_some_and(|s| s != "down"))
        .collect();
    ensure(shared.is_empty(), || {
        format!(
            "addresses in both files must be part.csv's down rows; e.g. {:?} is {:?} there",
            shared[0],
            part_map.get(&shared[0].addr)
        )
    })?;

    // No target skipped.
    let union: BTreeSet<Ipv4Addr> = addrs(&part).union(&addrs(&rest)).copied().collect();
    ensure(union == every, || {
        format!(
            "part + rest cover {} addresses, want all {}; missing e.g. {}",
            union.len(),
            every.len(),
            few(every.difference(&union))
        )
    })?;

    // At most 1 + 2 retries probes per target, in each file and in both together.
    let mut total: BTreeMap<Ipv4Addr, u32> = BTreeMap::new();
    for (name, rows) in [("part.csv", &part), ("rest.csv", &rest)] {
        for r in rows {
            let p = probes(r)?;
            ensure((1..=3).contains(&p), || {
                format!("{name}: {} has {p} probes, want 1..=3", r.addr)
            })?;
            *total.entry(r.addr).or_default() += p;
        }
    }
    let over: Vec<_> = total.iter().filter(|(_, &p)| p > 3).collect();
    ensure(over.is_empty(), || {
        format!(
            "{} targets got more than 3 probes across the interrupted and resumed runs, \
             e.g. {:?}",
            over.len(),
            over[0]
        )
    })?;

    // The merge: the truth's up hosts, every target once.
    let merged = merge(&[&part_out, &rest_out], &dir.path().join("all.csv"))?;
    ensure(addrs(&merged) == every, || {
        format!(
            "merged has {} rows, want one per target ({})",
            merged.len(),
            every.len()
        )
    })?;
    let score = Score::new(&sweep_with(&merged, "up"), &truth_with(&truth, "up"));
    ensure(
        score.false_pos.is_empty() && score.missed.is_empty(),
        || format!("merged up set differs from truth: {}", score.describe()),
    )?;
    let over: Vec<_> = merged
        .iter()
        .filter(|r| probes(r).map_or(true, |p| p > 3))
        .collect();
    ensure(over.is_empty(), || {
        format!(
            "merged: {} rows with more than 3 probes, e.g. {:?}",
            over.len(),
            over[0]
        )
    })
}

/// Two SIGINTs in quick succession: no waiting out --timeout (3 s here), still exit 130
/// with the CSV so far and a state file.
fn second_interrupt_skips_the_wait() -> Result<(), String> {
    let lab = Lab::up(LabOpts::default())?;
    let dir = out_dir()?;
    let out = dir.path().join("p.csv");
    let _big = heavy();
    let running = Running::spawn(
        &lab.scan_ns,
        &[
            lab.opts.prefix,
            "--seed",
            "5",
            "--rate",
            "10000",
            "--timeout",
            "3s",
            "--all",
            "-o",
            path_str(&out),
        ],
    )?;
    thread::sleep(Duration::from_millis(1500));
    running.signal(libc::SIGINT)?;
    let first = Instant::now();
    thread::sleep(Duration::from_millis(50));
    running.signal(libc::SIGINT)?;
    let run = running.wait(Duration::from_secs(60))?;
    let after = first.elapsed();
    eprintln!(
        "two SIGINTs: exit {:?} {:.2}s after the first; {}",
        run.code,
        after.as_secs_f64(),
        run.stderr.trim()
    );
    run.expect_code(130)?;
    ensure(after < Duration::from_millis(1500), || {
        format!("exited {after:?} after the first of two SIGINTs; want well under the 3 s timeout")
    })?;
    let rows = read_sweep(&out)?;
    check_ascending(&rows)?;
    ensure(!rows.is_empty(), || {
        "the interrupted CSV has no rows".into()
    })?;
    let state = dir.path().join("p.csv.state");
    ensure(state.exists(), || "no state file after two SIGINTs".into())
}

/// A state file only resumes the scan that wrote it: other targets, or another explicit
/// seed, exit 2 with one line naming the state file, and write no output. The same
/// targets resume fine (so the rejection is not blanket).
fn resume_with_other_options_is_rejected() -> Result<(), String> {
    let ns = Netns::new()?;
    let dir = out_dir()?;
    let part = dir.path().join("part.csv");
    let state = dir.path().join("part.csv.state");
    let running = Running::spawn(
        &ns.name,
        &[
            "127.0.0.0/16",
            "--seed",
            "9",
            "--rate",
            "5000",
            "-o",
            path_str(&part),
        ],
    )?;
    thread::sleep(Duration::from_millis(1000));
    running.signal(libc::SIGINT)?;
    let run = running.wait(Duration::from_secs(60))?;
    run.expect_code(130)?;
    ensure(state.exists(), || "no state file after SIGINT".into())?;

    let cases: [(&str, &[&str]); 2] = [
        ("other targets", &["127.0.0.0/17"]),
        ("another seed", &["127.0.0.0/16", "--seed", "10"]),
    ];
    for (what, extra) in cases {
        let out = dir.path().join("rejected.csv");
        let mut args: Vec<&str> = extra.to_vec();
        args.extend(["--resume", path_str(&state), "-o", path_str(&out)]);
        let run = sweep_in(&ns.name, &args)?;
        run.expect_code(2)
            .map_err(|e| format!("--resume with {what}: {e}"))?;
        one_line_naming(&run, path_str(&state)).map_err(|e| format!("{what}: {e}"))?;
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "part.csv" && n != "part.csv.state")
            .collect();
        left.sort();
        ensure(left.is_empty(), || {
            format!("rejected --resume ({what}) left files: {left:?}")
        })?;
    }

    let out = dir.path().join("rest.csv");
    let run = sweep_in(
        &ns.name,
        &[
            "127.0.0.0/16",
            "--rate",
            "max",
            "--resume",
            path_str(&state),
            "-o",
            path_str(&out),
        ],
    )?;
    run.expect_code(0)
        .map_err(|e| format!("--resume with the same targets: {e}"))?;
    ensure(out.exists(), || "resumed run wrote no output".into())
}
