//! Scaling out: `--shard I/N` slices of one seeded permutation, `sweep merge` of the
//! slices, and an interrupted scan (SIGINT) continued with `--resume`.
//!
//! The scans run in kernel labs (scripts/lab.sh) and need root; reported as ignored
//! elsewhere, and failed when SWEEP_REQUIRE_LAB=1. The usage-error trials need nothing.
//! Runs with `harness = false` (libtest-mimic).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

fn main() {
    run_trials(vec![
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
    ])
}

// ---------------------------------------------------------------------------
// Local helpers

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

/// The targets of a lab scan of its prefix (without the unreachable block).
fn up_or_down(truth: &[TruthRow]) -> BTreeSet<Ipv4Addr> {
    truth_with(truth, "up")
        .union(&truth_with(truth, "down"))
        .copied()
        .collect()
}

/// `sweep merge INPUTS -o OUT` in a fresh namespace (see [`sweep_in_fresh_ns`]):
/// the merged rows, checked ascending.
fn merge(inputs: &[&Path], out: &Path) -> Result<Vec<SweepRow>, String> {
    let mut args = vec!["merge"];
    args.extend(inputs.iter().map(|p| path_str(p)));
    args.extend(["-o", path_str(out)]);
    let run = sweep_in_fresh_ns(&args)?;
    let rows = run
        .rows_written(out)
        .map_err(|e| format!("sweep merge: {e}"))?;
    check_ascending(&rows).map_err(|e| format!("merged: {e}"))?;
    Ok(rows)
}

/// A usage error of a local run: exit 2, one stderr line naming `needle`,
/// and no output file `out`.
fn usage_error(run: &SweepRun, needle: &str, out: &Path) -> Result<(), String> {
    run.expect_code(2)?;
    one_line_naming(&run.stderr, &[needle])?;
    ensure(!out.exists(), || "usage error left an output file".into())
}

/// Starts an interruptible scan of the lab's prefix (seed 5, 10000 probes/s,
/// `--all`, `-o out`, plus `args`) in its scanner namespace.
fn spawn_scan(lab: &Lab, args: &[&str], out: &Path) -> Result<Running, String> {
    let mut all = vec![
        lab.opts.prefix,
        "--seed",
        "5",
        "--rate",
        "10000",
        "--all",
        "-o",
        path_str(out),
    ];
    all.extend_from_slice(args);
    Running::spawn(sweep_cmd(&lab.scan_ns, &all))
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
        let rows = run
            .rows_written(&shard_paths[i])
            .and_then(|rows| check_ascending(&rows).map(|()| rows))
            .map_err(|e| format!("shard {i}/{N}: {e}"))?;
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
    single.log("  single run");
    let single = single.rows_written(&single_out)?;

    // Both halves are checked and reported together: each says something different.
    let slices = check_shard_slices(&shards, &all_addrs(&truth));
    let merged = merge_matches_single(&shard_paths, &dir.path().join("merged.csv"), &single)
        .and_then(|merged| check_up_set("merged up set", &merged, &truth));
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
    shard_paths: &[PathBuf],
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
    usage_error(&run, "--seed", &out)
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
    usage_error(&run, "JOB_COMPLETION_INDEX", &out)
}

/// `--shard auto/2` with JOB_COMPLETION_INDEX=1 is shard 1/2: the same rows. And the
/// two shards, run one after the other, split the targets exactly.
fn shard_auto_reads_job_index() -> Result<(), String> {
    let lab = small_lab(3)?;
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
        run.rows_written(&out)
            .map_err(|e| format!("--shard {shard} {env:?}: {e}"))
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
    let want = up_or_down(&truth);
    let union: BTreeSet<Ipv4Addr> = a.union(&z).copied().collect();
    ensure(union == want, || {
        format!(
            "shards 0/2 + 1/2 cover {} addresses, want {}",
            union.len(),
            want.len()
        )
    })?;
    let both: Vec<SweepRow> = one.iter().chain(&zero).cloned().collect();
    check_up_set("shards' up set", &both, &truth)
}

// ---------------------------------------------------------------------------
// Interrupt and resume

/// SIGINT after ~2 s: exit 130 with the rows so far, a state file and a journal;
/// `--resume` (no --seed: the state has it) finishes the job and writes the whole
/// inventory in one file. A host found up before the interrupt is never probed again
/// (its row, RTT and probe count included, is carried over unchanged); a target probed
/// before it but still silent is retried by the resumed run's later rounds, never more
/// than 1 + retries probes in all; the one file has every target once and the truth's
/// up hosts.
fn interrupted_then_resumed_covers_everything_once() -> Result<(), String> {
    let lab = Lab::up(LabOpts::default())?;
    let truth = lab.truth()?;
    let every = up_or_down(&truth);
    let dir = out_dir()?;
    let part_out = dir.path().join("part.csv");
    let state = dir.path().join("part.csv.state");
    let rest_out = dir.path().join("rest.csv");
    let _big = heavy();

    let running = spawn_scan(&lab, &[], &part_out)?;
    thread::sleep(Duration::from_secs(2));
    running.signal(libc::SIGINT)?;
    let part = running.wait(Duration::from_secs(60))?;
    part.log("interrupted run");
    part.expect_code(130)?;
    for f in [&state, &dir.path().join("part.csv.journal")] {
        ensure(f.exists(), || {
            format!("no {} after the interrupt", f.display())
        })?;
    }
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
    rest.log("resumed run");
    let rest = rest.rows_written(&rest_out)?;
    check_ascending(&rest).map_err(|e| format!("rest.csv: {e}"))?;

    // A host that answered before the interrupt is done: its row is carried over as it
    // was (same RTT and probe count: not probed again).
    let rest_rows: BTreeMap<Ipv4Addr, &SweepRow> = rest.iter().map(|r| (r.addr, r)).collect();
    for r in part.iter().filter(|r| r.status != "down") {
        let again = rest_rows.get(&r.addr);
        ensure(
            again.is_some_and(|a| {
                a.status == r.status && a.rtt_ms == r.rtt_ms && a.probes == r.probes
            }),
            || {
                format!(
                    "{} was {:?} before the interrupt, {:?} after",
                    r.addr, r, again
                )
            },
        )?;
    }

    // One file, every target once.
    ensure(addrs(&rest) == every && rest.len() == every.len(), || {
        format!(
            "the resumed output has {} rows for {} addresses, want all {} once; missing e.g. {}",
            rest.len(),
            addrs(&rest).len(),
            every.len(),
            few(every.difference(&addrs(&rest)))
        )
    })?;
    check_up_set("resumed output's up set", &rest, &truth)?;

    // At most 1 + 2 retries probes per target across both runs (the resumed file counts
    // the interrupted run's probes too), and no fewer than the part file had.
    let part_map: BTreeMap<Ipv4Addr, &SweepRow> = part.iter().map(|r| (r.addr, r)).collect();
    for r in &rest {
        let p = probes(r)?;
        ensure((1..=3).contains(&p), || {
            format!("rest.csv: {} has {p} probes, want 1..=3", r.addr)
        })?;
        if let Some(before) = part_map.get(&r.addr) {
            let b = probes(before)?;
            ensure(p >= b, || {
                format!(
                    "{}: {b} probes before the interrupt, {p} in the whole inventory",
                    r.addr
                )
            })?;
        }
    }
    // The completed run's checkpoints are gone: nothing stale to resume.
    ensure(!state.exists(), || {
        "the state file outlived the completed run".into()
    })
}

/// Two SIGINTs in quick succession: no waiting out --timeout (3 s here), still exit 130
/// with the CSV so far and a state file.
fn second_interrupt_skips_the_wait() -> Result<(), String> {
    let lab = Lab::up(LabOpts::default())?;
    let dir = out_dir()?;
    let out = dir.path().join("p.csv");
    let _big = heavy();
    let running = spawn_scan(&lab, &["--timeout", "3s"], &out)?;
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
    let running = Running::spawn(sweep_cmd(
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
    ))?;
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
        one_line_naming(&run.stderr, &[path_str(&state)]).map_err(|e| format!("{what}: {e}"))?;
        let left: Vec<String> = file_names(dir.path())?
            .into_iter()
            .filter(|n| !["part.csv", "part.csv.state", "part.csv.journal"].contains(&n.as_str()))
            .collect();
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
