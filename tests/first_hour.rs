//! Issue 30, "the first hour": what a new user trips over, end to end. Scans go only to
//! 127.0.0.0/8 inside a fresh namespace with nothing but `lo`; the state directory and the
//! working directory are the test's own temporary ones.
//!
//! Trials need root and `ip netns`; reported as ignored elsewhere, and failed when
//! SWEEP_REQUIRE_LAB=1. Runs with `harness = false` (libtest-mimic).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use common::*;

fn main() {
    run_trials(vec![
        lab_trial(
            "checkpoints_of_a_scan_to_stdout_are_its_own",
            Need::Netns,
            stdout_checkpoints_are_the_runs_own,
        ),
        lab_trial(
            "no_checkpoint_warning_where_none_was_asked_for",
            Need::Netns,
            no_checkpoint_warning_unasked,
        ),
        lab_trial(
            "dash_og_writes_nmaps_grepable_lines",
            Need::Netns,
            grepable_output,
        ),
        lab_trial(
            "an_interrupted_summary_says_how_far_it_got",
            Need::Netns,
            interrupted_summary,
        ),
        lab_trial(
            "an_on_link_slash_64_where_nobody_answers_exits_1_naming_the_interface",
            Need::Netns,
            silent_slash_64,
        ),
        lab_trial(
            "one_target_one_probe_are_singular",
            Need::Netns,
            singular_summary,
        ),
    ])
}

/// `sweep ARGS` in `ns`, run from `cwd`, with `state` as its XDG state home.
fn sweep_at(ns: &str, cwd: &Path, state: &Path, args: &[&str]) -> Command {
    let mut cmd = sweep_cmd(ns, args);
    cmd.current_dir(cwd)
        .env("XDG_STATE_HOME", state)
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("SLURM_ARRAY_TASK_ID");
    cmd
}

/// The path after "continue with --resume " on a stderr line.
fn resume_hint(stderr: &str) -> Option<PathBuf> {
    stderr
        .lines()
        .find_map(|l| l.split_once("continue with --resume "))
        .map(|(_, p)| PathBuf::from(p.trim()))
}

/// Item 1: an interrupted scan to stdout names checkpoints of its own (in the state
/// directory, not ./sweep.state); another scan to stdout from the same directory leaves
/// them alone; resuming from them completes and only then removes them.
fn stdout_checkpoints_are_the_runs_own() -> Result<(), String> {
    let ns = Netns::new()?;
    let dir = out_dir()?;
    let (cwd, state) = (dir.path().join("work"), dir.path().join("state"));
    std::fs::create_dir_all(&cwd).map_err(|e| e.to_string())?;
    // 254 targets at 20/s: about 13 s of sending, interrupted after 3 s (a checkpoint
    // is taken every 2 s).
    let base = ["127.0.0.0/24", "--seed", "3", "--retries", "1"];
    let mut slow = base.to_vec();
    slow.extend(["--rate", "20"]);
    let running = Running::spawn(sweep_at(&ns.name, &cwd, &state, &slow))?;
    thread::sleep(Duration::from_secs(3));
    running.signal(libc::SIGINT)?;
    let first = running.wait(Duration::from_secs(30))?;
    first.expect_code(130)?;
    let st = resume_hint(&first.stderr)
        .ok_or_else(|| format!("no resume hint naming the state: {}", first.stderr))?;
    let journal = st.with_extension("journal");
    ensure(st.starts_with(state.join("sweep")), || {
        format!("state {} is not in the state directory", st.display())
    })?;
    ensure(st.exists() && journal.exists(), || {
        format!("{} or its journal is missing", st.display())
    })?;
    ensure(file_names(&cwd)?.is_empty(), || {
        format!(
            "files left in the working directory: {:?}",
            file_names(&cwd)
        )
    })?;

    // Another scan to stdout, from the same directory, long enough to checkpoint.
    let other = run_limited(
        sweep_at(
            &ns.name,
            &cwd,
            &state,
            &["127.0.1.0/28", "--rate", "5", "--retries", "0", "-q"],
        ),
        RUN_LIMIT,
    )?;
    other.expect_code(0)?;
    ensure(st.exists() && journal.exists(), || {
        "a later scan to stdout removed the interrupted scan's checkpoints".into()
    })?;
    let left = file_names(&state.join("sweep"))?;
    ensure(left.len() == 2, || {
        format!("the later scan left checkpoints of its own: {left:?}")
    })?;

    let mut args = base.to_vec();
    args.extend(["--rate", "max", "-q", "--resume"]);
    args.push(path_str(&st));
    let resumed = run_limited(sweep_at(&ns.name, &cwd, &state, &args), RUN_LIMIT)?;
    resumed.expect_code(0)?;
    let rows = resumed.stdout.lines().skip(1).count();
    ensure(rows == 254, || {
        format!("the resumed scan wrote {rows} rows, not 254")
    })?;
    ensure(!st.exists() && !journal.exists(), || {
        "the completed resume left its checkpoints".into()
    })?;
    ensure(file_names(&cwd)?.is_empty(), || {
        "files left in the working directory".into()
    })
}

/// Item 6: a scan to stdout where its checkpoints cannot be written says nothing about
/// them (none was asked for), with or without -q; interrupted, it says once that no
/// state was saved and how to keep one, and still writes its results.
fn no_checkpoint_warning_unasked() -> Result<(), String> {
    let ns = Netns::new()?;
    let dir = out_dir()?;
    let cwd = dir.path().join("work");
    std::fs::create_dir_all(&cwd).map_err(|e| e.to_string())?;
    // A state home that is a file: no directory can be made under it, even by root.
    let blocked = dir.path().join("not-a-dir");
    std::fs::write(&blocked, "").map_err(|e| e.to_string())?;
    // 16 targets at 5/s: over 3 s, so a checkpoint is attempted.
    let args = ["127.0.2.0/28", "--rate", "5", "--retries", "0"];
    for quiet in [false, true] {
        let mut a = args.to_vec();
        if quiet {
            a.push("-q");
        }
        let run = run_limited(sweep_at(&ns.name, &cwd, &blocked, &a), RUN_LIMIT)?;
        run.expect_code(0)?;
        ensure(!run.stderr.contains("checkpoint"), || {
            format!(
                "a warning about checkpoints nobody asked for: {}",
                run.stderr
            )
        })?;
        ensure(!quiet || run.stderr.is_empty(), || {
            format!("-q still printed: {}", run.stderr)
        })?;
    }
    let running = Running::spawn(sweep_at(
        &ns.name,
        &cwd,
        &blocked,
        &["127.0.3.0/24", "--rate", "20", "-q"],
    ))?;
    thread::sleep(Duration::from_secs(3));
    running.signal(libc::SIGINT)?;
    let cut = running.wait(Duration::from_secs(30))?;
    cut.expect_code(130)?;
    one_line_naming(&cut.stderr, &["no state saved", "--state FILE"])?;
    ensure(!cut.stderr.contains("checkpoint"), || cut.stderr.clone())?;
    ensure(cut.stdout.starts_with("addr,status"), || {
        format!("no CSV on stdout: {:?}", cut.stdout)
    })?;
    ensure(file_names(&cwd)?.is_empty(), || {
        "files left in the working directory".into()
    })
}

/// Item 2: `-oG FILE` writes what `nmap -sn -oG` writes: a `Host: ADDR ()<TAB>Status: Up`
/// line per host between two comments, the way scripts grep it.
fn grepable_output() -> Result<(), String> {
    let ns = Netns::new()?;
    let dir = out_dir()?;
    let out = dir.path().join("scan.gnmap");
    let run = sweep_in(
        &ns.name,
        &["127.0.0.1-127.0.0.3", "-oG", path_str(&out), "-q"],
    )?;
    run.expect_code(0)?;
    ensure(run.stdout.is_empty(), || "output on stdout too".into())?;
    let text = std::fs::read_to_string(&out).map_err(|e| e.to_string())?;
    let lines: Vec<&str> = text.lines().collect();
    let hosts: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("Host: "))
        .collect();
    ensure(
        hosts
            == [
                "Host: 127.0.0.1 ()\tStatus: Up",
                "Host: 127.0.0.2 ()\tStatus: Up",
                "Host: 127.0.0.3 ()\tStatus: Up",
            ],
        || format!("host lines: {hosts:?}"),
    )?;
    let (first, last) = (lines.first(), lines.last());
    ensure(
        first.is_some_and(|l| l.starts_with("# ") && l.contains("scan initiated"))
            && last.is_some_and(|l| l.contains("3 IP addresses (3 hosts up) scanned in")),
        || format!("header or trailer: {text}"),
    )
}

/// Item 4: after Ctrl-C the summary line and the JSON say which round the scan was in
/// and how many of the targets asked for it reached, not only the counts of those.
fn interrupted_summary() -> Result<(), String> {
    let ns = Netns::new()?;
    let dir = out_dir()?;
    let json = dir.path().join("run.json");
    let st = dir.path().join("run.state");
    let running = Running::spawn(sweep_cmd(
        &ns.name,
        &[
            "127.0.4.0/24",
            "--rate",
            "20",
            "--summary-json",
            path_str(&json),
            "--state",
            path_str(&st),
        ],
    ))?;
    thread::sleep(Duration::from_millis(2500));
    running.signal(libc::SIGINT)?;
    let run = running.wait(Duration::from_secs(30))?;
    run.expect_code(130)?;
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("sweep: interrupted in round 1 of at most 11, after "))
        .ok_or_else(|| format!("no summary saying how far: {}", run.stderr))?;
    let text = std::fs::read_to_string(&json).map_err(|e| e.to_string())?;
    let j: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let reached = j["targets"].as_u64().ok_or("no targets")?;
    ensure(reached > 0 && reached < 254, || {
        format!("{reached} targets reached in 2.5 s at 20/s")
    })?;
    ensure(
        line.contains(&format!(" after {reached} of 254 targets: "))
            && line.contains(&format!(", {} not probed;", 254 - reached)),
        || format!("summary line vs JSON ({reached} reached): {line}"),
    )?;
    let want = serde_json::json!({"round": 1, "round_begun": true, "rounds": 11,
        "rounds_by_yield": true, "not_probed": 254 - reached});
    ensure(j["asked"] == 254 && j["stopped"] == want, || {
        format!("asked {} stopped {}", j["asked"], j["stopped"])
    })
}

/// Runs `script` with sh; fails with its stderr.
fn sh(script: &str) -> Result<(), String> {
    let out = Command::new("sh")
        .args(["-ec", script])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// Item 3: the scanner's own /64 on a segment whose only other end has no IPv6: the
/// discovery probes go out and nobody answers. That is a scan that found no host: exit 1,
/// one line naming the interface, an output with the header and no rows.
fn silent_slash_64() -> Result<(), String> {
    let (scanner, silent) = (Netns::new()?, Netns::new()?);
    let (a, b) = (&scanner.name, &silent.name);
    sh(&format!(
        "ip netns exec {b} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1\n\
         ip -n {a} link add eth0 type veth peer name eth0 netns {b}\n\
         ip -n {a} addr add 2001:2:0:9::1/64 dev eth0 nodad\n\
         ip -n {a} link set eth0 up\n\
         ip -n {b} link set eth0 up\n"
    ))?;
    let dir = out_dir()?;
    let out = dir.path().join("hosts.csv");
    let json = dir.path().join("run.json");
    let run = sweep_in(
        a,
        &[
            "2001:2:0:9::/64",
            "-o",
            path_str(&out),
            "--summary-json",
            path_str(&json),
        ],
    )?;
    run.expect_code(1)?;
    one_line_naming(
        &run.stderr,
        &["no host on eth0 answered discovery of 2001:2:0:9::/64"],
    )?;
    let text = std::fs::read_to_string(&out).map_err(|e| format!("no output: {e}"))?;
    ensure(
        text.lines().count() == 1 && text.starts_with("addr,status,"),
        || format!("want the header alone: {text:?}"),
    )?;
    let j = std::fs::read_to_string(&json).map_err(|e| format!("no summary JSON: {e}"))?;
    let j: serde_json::Value = serde_json::from_str(&j).map_err(|e| e.to_string())?;
    ensure(j["up"] == 0 && j["exit_code"] == 1, || {
        format!("summary JSON: {j}")
    })
}

/// Item 9: "1 target", "1 probe", not "1 targets", "1 probes".
fn singular_summary() -> Result<(), String> {
    let ns = Netns::new()?;
    let run = sweep_in(&ns.name, &["127.0.0.1"])?;
    run.expect_code(0)?;
    one_line_naming(
        &run.stderr,
        &["sweep: 1 target: 1 up, 0 unreachable, 0 down; 1 probe in "],
    )
}
