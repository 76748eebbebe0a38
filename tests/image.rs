//! The container image users get, built here by scripts/image.sh (podman, a debootstrap
//! base, no registry) and run in a lab namespace: as uid 10001 with only NET_RAW it finds
//! what the lab's truth says; with no capability at all it starts, exits 3 and says to
//! add NET_RAW. Needs root, the lab, podman, runc and debootstrap; ignored otherwise.

mod common;

use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

const TAG: &str = "localhost/sweep:e2e";

fn main() {
    run_trials(vec![lab_trial(
        "image_finds_the_truth_with_net_raw_and_exits_3_without",
        Need::Image,
        image_end_to_end,
    )])
}

/// podman as this machine needs it, joining the namespace `ns` only.
fn podman_run(ns: &str, caps: &[&str], args: &[&str]) -> Result<SweepRun, String> {
    let mut cmd = Command::new("podman");
    cmd.args([
        "--runtime",
        "runc",
        "--cgroup-manager",
        "cgroupfs",
        "run",
        "--rm",
    ])
    .args([
        "--ulimit",
        "nofile=4096:4096",
        "--ulimit",
        "nproc=4096:4096",
    ])
    .arg(format!("--network=ns:/run/netns/{ns}"))
    .args(["--cap-drop", "ALL"])
    .args(caps)
    .arg(TAG)
    .args(args);
    run_limited(cmd, Duration::from_secs(120))
}

fn image_end_to_end() -> Result<(), String> {
    let started = Instant::now();
    // The binary this test run built, so the image holds the code under test.
    let out = Command::new("bash")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/image.sh"))
        .args(["--tag", TAG, "--binary", sweep_bin()])
        .output()
        .map_err(|e| format!("scripts/image.sh: {e}"))?;
    ensure(out.status.success(), || {
        format!(
            "scripts/image.sh failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    eprintln!("image built in {:.0}s", started.elapsed().as_secs_f64());
    let inspect = Command::new("podman")
        .args(["image", "inspect", "--format", "{{.Config.User}}", TAG])
        .output()
        .map_err(|e| e.to_string())?;
    let user = String::from_utf8_lossy(&inspect.stdout).trim().to_string();
    ensure(user.starts_with("10001"), || {
        format!("image user {user:?}, want 10001")
    })?;

    let lab = small_lab(21)?;
    let run = podman_run(
        &lab.scan_ns,
        &["--cap-add", "NET_RAW"],
        &[lab.opts.prefix, lab.opts.unreach, "--all"],
    )?;
    run.expect_code(0)?;
    let dir = out_dir()?;
    let csv = dir.path().join("image.csv");
    std::fs::write(&csv, &run.stdout).map_err(|e| e.to_string())?;
    let rows = read_sweep(&csv)?;
    let truth = lab.truth()?;
    for status in ["up", "unreachable", "down"] {
        let (got, want) = (sweep_with(&rows, status), truth_with(&truth, status));
        ensure(got == want, || {
            format!(
                "{status}: {} found, {} in the truth; {}",
                got.len(),
                want.len(),
                Score::new(&got, &want).describe()
            )
        })?;
    }

    let run = podman_run(&lab.scan_ns, &[], &[lab.opts.prefix])?;
    run.expect_code(3)?;
    one_line_naming(&run.stderr, &["--cap-add NET_RAW"])
}
