//! End-to-end scans against real kernel namespaces (scripts/lab.sh).
//!
//! Needs root; reported as ignored elsewhere, and failed when
//! SWEEP_REQUIRE_LAB=1. Runs with `harness = false` (libtest-mimic).

mod common;

use std::net::Ipv4Addr;

use common::*;

fn main() {
    run_trials(vec![
        lab_trial(
            "loopback_slash24_all_up",
            Need::Netns,
            loopback_slash24_all_up,
        ),
        lab_trial(
            "slash16_default_matches_truth",
            Need::Lab,
            slash16_default_matches_truth,
        ),
        lab_trial(
            "slash16_rate_max_no_false_positives",
            Need::Lab,
            slash16_rate_max_no_false_positives,
        ),
        lab_trial(
            "no_live_hosts_exit_1_header_only",
            Need::Lab,
            no_live_hosts_exit_1_header_only,
        ),
        lab_trial(
            "output_not_written_when_scan_fails",
            Need::Netns,
            output_not_written_when_scan_fails,
        ),
        lab_trial(
            "write_failure_after_probes_exits_3",
            Need::Netns,
            write_failure_after_probes_exits_3,
        ),
        lab_trial(
            "privileges_dropped_while_scanning_and_setuid_refused",
            Need::Netns,
            privileges_dropped_and_setuid_refused,
        ),
        lab_trial(
            "summary_to_a_closed_stderr_is_no_panic",
            Need::Netns,
            summary_to_a_closed_stderr_is_no_panic,
        ),
        lab_trial(
            "unprivileged_scan_reports_unreachable_through_the_error_queue",
            Need::Lab,
            unprivileged_unreachable,
        ),
        lab_trial(
            "policed_path_defaults_find_the_live_hosts_lower_the_rate_and_say_so",
            Need::Lab,
            policed_path_defaults,
        ),
        lab_trial(
            "reply_loss_defaults_find_nearly_all_and_say_so",
            Need::Lab,
            lossy_path_defaults,
        ),
        lab_trial(
            "clean_path_defaults_send_one_retry_round",
            Need::Lab,
            clean_path_defaults_one_retry,
        ),
        lab_trial(
            "permitted_file_capability_is_raised_and_missing_net_raw_is_exit_3",
            Need::Netns,
            permitted_file_capability,
        ),
        lab_trial(
            "interrupted_with_closed_pipes_exits_130",
            Need::Netns,
            interrupted_with_closed_pipes_exits_130,
        ),
    ])
}

/// While a scan runs (root, raw sockets open) it holds no capability and has
/// no_new_privs set; a set-uid copy run by another user refuses to start (exit 2).
fn privileges_dropped_and_setuid_refused() -> Result<(), String> {
    use std::time::Duration;
    let ns = Netns::new()?;
    let dir = out_dir()?;
    let state = dir.path().join("s.state");
    let running = Running::spawn(sweep_cmd(
        &ns.name,
        &[
            "127.0.0.0/16",
            "--rate",
            "500",
            "--state",
            path_str(&state),
            "-q",
        ],
    ))?;
    std::thread::sleep(Duration::from_millis(700));
    let status = std::fs::read_to_string(format!("/proc/{}/status", running.pid()))
        .map_err(|e| e.to_string())?;
    running.signal(libc::SIGINT)?;
    let run = running.wait(Duration::from_secs(30))?;
    run.expect_code(130)?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or("?")
            .to_string()
    };
    for (name, want) in [
        ("CapEff:", "0000000000000000"),
        ("CapPrm:", "0000000000000000"),
        ("NoNewPrivs:", "1"),
    ] {
        ensure(field(name) == want, || {
            format!("{name} {} during the scan, want {want}", field(name))
        })?;
    }

    let copy = dir.path().join("sweep-suid");
    std::fs::copy(sweep_bin(), &copy).map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o4755))
        .map_err(|e| e.to_string())?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    let mut cmd = std::process::Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        &ns.name,
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
    ])
    .args(["--clear-groups", path_str(&copy), "127.0.0.1"]);
    let run = run_limited(cmd, Duration::from_secs(30))?;
    run.expect_code(2)?;
    one_line_naming(&run.stderr, &["set-uid", "uid 65534"])
}

/// A copy of sweep with only `cap_net_raw+p` (permitted, not effective), run as nobody:
/// sweep raises the capability itself and its raw socket finds the host. Where NET_RAW is
/// outside the bounding set (a container started without it) the same binary still starts
/// (an `+ep` one could not be executed) and exits 3 with the hint for a container.
fn permitted_file_capability() -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let ns = Netns::new()?;
    let dir = out_dir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    let copy = dir.path().join("sweep-capp");
    std::fs::copy(sweep_bin(), &copy).map_err(|e| e.to_string())?;
    let setcap = std::process::Command::new("setcap")
        .args(["cap_net_raw+p", path_str(&copy)])
        .status()
        .map_err(|e| format!("setcap (libcap2-bin): {e}"))?;
    ensure(setcap.success(), || format!("setcap exited {setcap}"))?;
    let as_nobody = |bounding: &[&str], args: &[&str]| {
        let mut cmd = std::process::Command::new("ip");
        cmd.args(["netns", "exec", &ns.name, "setpriv"])
            .args(bounding)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&copy)
            .args(args);
        run_limited(cmd, RUN_LIMIT)
    };
    let run = as_nobody(&[], &["127.0.0.1", "--socket", "raw"])?;
    run.expect_code(0)?;
    ensure(run.stdout.contains("127.0.0.1,up"), || {
        format!("want 127.0.0.1 up: {}", run.stdout)
    })?;
    let run = as_nobody(&["--bounding-set=-net_raw"], &["127.0.0.1"])?;
    run.expect_code(3)?;
    one_line_naming(&run.stderr, &["--cap-add NET_RAW", "ping_group_range"])
}

/// stderr a pipe whose reader is gone: the summary's EPIPE used to panic (exit 101).
fn summary_to_a_closed_stderr_is_no_panic() -> Result<(), String> {
    use std::process::Stdio;
    let ns = Netns::new()?;
    let mut child = sweep_cmd(&ns.name, &["127.0.0.1-127.0.0.3"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    drop(child.stderr.take());
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure(out.status.code() == Some(0), || {
        format!("exit {}, want 0", out.status)
    })?;
    ensure(
        text.starts_with(SWEEP_HEADER) && text.lines().count() == 4,
        || format!("stdout {text:?}, want a header and 3 rows"),
    )
}

/// SIGINT while stdout and stderr are pipes nobody reads any more (Ctrl-C on
/// `sweep … | less` ends the reader too): the state is written, the CSV write's EPIPE and
/// the summary's are not panics, and the run exits 130, not 0 or 101.
fn interrupted_with_closed_pipes_exits_130() -> Result<(), String> {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let ns = Netns::new()?;
    let dir = out_dir()?;
    let state = dir.path().join("s.state");
    let mut cmd = sweep_cmd(
        &ns.name,
        &[
            "127.0.0.0/16",
            "--rate",
            "500",
            "--timeout",
            "200ms",
            "--state",
            path_str(&state),
        ],
    );
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    drop(child.stdout.take());
    drop(child.stderr.take());
    std::thread::sleep(Duration::from_millis(800));
    // SAFETY: our own child, not yet reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            return Err("still running 30 s after SIGINT: killed".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    ensure(status.code() == Some(130), || {
        format!("exit {status}, want 130")
    })?;
    ensure(state.exists(), || "no state file written".into())
}

/// Results that cannot be written once probes went out: exit 3 (a runtime error), not
/// 2 (which promises nothing was sent), with a line naming the output and one saying
/// where the results were saved; resuming from there writes them.
fn write_failure_after_probes_exits_3() -> Result<(), String> {
    let dir = out_dir()?;
    let state = dir.path().join("s.state");
    let journal = dir.path().join("s.journal");
    let scan = ["127.0.0.0/28", "--all", "--state", path_str(&state)];
    let mut args = scan.to_vec();
    args.extend(["-o", "/dev/full"]);
    let run = sweep_in_fresh_ns(&args)?;
    run.expect_code(3)?;
    let lines: Vec<&str> = run.stderr.lines().collect();
    let naming = |needle: &str| {
        lines
            .iter()
            .filter(|l| l.starts_with("sweep: ") && l.contains(needle))
            .count()
    };
    ensure(
        lines.len() == 2 && naming("/dev/full") == 1 && naming(path_str(&journal)) == 1,
        || {
            format!(
                "want a line naming /dev/full and one naming {}, got {:?}",
                journal.display(),
                run.stderr
            )
        },
    )?;
    let out = dir.path().join("saved.csv");
    let mut args = scan.to_vec();
    args.extend(["--resume", path_str(&state), "-o", path_str(&out)]);
    let again = sweep_in_fresh_ns(&args)?;
    again.log("written from the saved journal");
    let rows = again.rows_written(&out)?;
    ensure(
        rows.len() == 14 && rows.iter().all(|r| r.status == "up" && r.probes == "1"),
        || format!("the saved results: {rows:?}, want 14 hosts up after 1 probe each"),
    )?;
    ensure(!journal.exists() && !state.exists(), || {
        "the saved results outlived their writing".into()
    })
}

/// 127.0.0.0/24 in a fresh namespace: every host answers from lo.
fn loopback_slash24_all_up() -> Result<(), String> {
    let dir = out_dir()?;
    let out = dir.path().join("lo.csv");
    let run = sweep_in_fresh_ns(&["127.0.0.0/24", "--all", "-o", path_str(&out)])?;
    let rows = run.rows_written(&out)?;
    check_ascending(&rows)?;
    let want: Vec<Ipv4Addr> = (1..=254).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect();
    let got: Vec<Ipv4Addr> = rows.iter().map(|r| r.addr).collect();
    ensure(got == want, || {
        format!(
            "want rows for 127.0.0.1-254 exactly, got {} rows: first {:?}, last {:?}",
            got.len(),
            got.first(),
            got.last()
        )
    })?;
    let not_up: Vec<_> = rows.iter().filter(|r| r.status != "up").collect();
    ensure(not_up.is_empty(), || {
        format!("{} hosts not up, e.g. {:?}", not_up.len(), not_up[0])
    })
}

/// A scan of a lab with the default options (the /16 with 25% alive and the
/// unreachable block) with `args` plus `-o`, one at a time (see [`heavy`]);
/// logs `label`, the time taken and sweep's summary line. Returns the truth
/// and the rows (checked ascending) once sweep exited 0.
fn slash16_scan(label: &str, args: &[&str]) -> Result<(Vec<TruthRow>, Vec<SweepRow>), String> {
    let lab = Lab::up(LabOpts::default())?;
    let truth = lab.truth()?;
    let dir = out_dir()?;
    let out = dir.path().join("scan.csv");
    let mut all = args.to_vec();
    all.extend(["-o", path_str(&out)]);
    let _big = heavy();
    let run = lab.sweep(&all)?;
    run.log(label);
    let rows = run.rows_written(&out)?;
    check_ascending(&rows)?;
    Ok((truth, rows))
}

/// Default rate/retries/timeout on a /16 with 25% alive plus the
/// unreachable block; `--all` so every target's row can be checked.
fn slash16_default_matches_truth() -> Result<(), String> {
    let opts = LabOpts::default();
    let (truth, rows) = slash16_scan("slash16 default", &[opts.prefix, opts.unreach, "--all"])?;
    let got: Vec<Ipv4Addr> = rows.iter().map(|r| r.addr).collect();
    let want: Vec<Ipv4Addr> = truth.iter().map(|t| t.addr).collect();
    ensure(got == want, || {
        format!(
            "--all should give one row per target: {} rows for {} targets",
            got.len(),
            want.len()
        )
    })?;

    check_up_set("up set", &rows, &truth)?;

    let router = LAB_ROUTER.to_string();
    let unreach = truth_with(&truth, "unreachable");
    let wrong: Vec<&SweepRow> = rows
        .iter()
        .filter(|r| unreach.contains(&r.addr))
        .filter(|r| {
            r.status != "unreachable" || r.detail != "host-unreachable" || r.responder != router
        })
        .collect();
    ensure(wrong.is_empty(), || {
        format!(
            "{} rows of {} are not unreachable/host-unreachable/{router}, e.g. {:?}",
            wrong.len(),
            opts.unreach,
            wrong[0]
        )
    })?;
    let down_ok = sweep_with(&rows, "down") == truth_with(&truth, "down");
    ensure(down_ok, || "down set differs from truth".into())
}

/// As fast as possible, no retries: may miss hosts, must never invent one.
fn slash16_rate_max_no_false_positives() -> Result<(), String> {
    let (truth, rows) = slash16_scan(
        "rate max /16",
        &[
            LabOpts::default().prefix,
            "--rate",
            "max",
            "--retries",
            "0",
            "--timeout",
            "500ms",
        ],
    )?;
    let score = Score::new(&sweep_with(&rows, "up"), &truth_with(&truth, "up"));
    eprintln!("rate max /16: {}", score.describe());
    ensure(score.false_pos.is_empty(), || {
        format!("false positives: {}", score.describe())
    })?;
    ensure(score.recall() >= 0.95, || {
        format!("recall below 95%: {}", score.describe())
    })
}

/// Nothing alive and no unreachable targets: exit 1, header only.
fn no_live_hosts_exit_1_header_only() -> Result<(), String> {
    let lab = Lab::up(LabOpts {
        prefix: "198.18.0.0/24",
        alive: "0",
        ..LabOpts::default()
    })?;
    let dir = out_dir()?;
    let out = dir.path().join("none.csv");
    let run = lab.sweep(&[lab.opts.prefix, "--timeout", "300ms", "-o", path_str(&out)])?;
    run.expect_code(1)?;
    let text = std::fs::read_to_string(&out).map_err(|e| format!("no output file: {e}"))?;
    ensure(text.trim_end() == SWEEP_HEADER, || {
        format!("want the header only, got:\n{text}")
    })
}

/// A scan that fails at run time (no ICMP socket allowed) leaves no `-o`
/// file, not even a partial or temporary one.
fn output_not_written_when_scan_fails() -> Result<(), String> {
    let ns = Netns::new()?;
    let dir = out_dir()?;
    // World-writable so that the unprivileged scan could create the file.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .map_err(|e| e.to_string())?;
    let out = dir.path().join("fail.csv");
    // nobody has no CAP_NET_RAW, and a fresh namespace's ping_group_range
    // ("1 0") forbids unprivileged ICMP sockets too: opening a socket fails.
    let mut cmd = std::process::Command::new("ip");
    cmd.args(["netns", "exec", &ns.name])
        .args([
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ])
        .args([sweep_bin(), "127.0.0.1", "-o", path_str(&out)]);
    let run = run_limited(cmd, RUN_LIMIT)?;
    run.expect_code(3)?;
    let left = file_names(dir.path())?;
    ensure(left.is_empty(), || {
        format!("failed scan left files behind: {left:?}")
    })
}

/// Without CAP_NET_RAW (uid 65534, no capabilities) sweep uses ICMP datagram sockets,
/// which never read ICMP errors as packets; through IP_RECVERR and the socket's error
/// queue the unreachable block still comes back as `unreachable`, host-unreachable,
/// from the lab's router, and the up set is the truth's.
fn unprivileged_unreachable() -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let lab = small_lab(4)?;
    let truth = lab.truth()?;
    let dir = out_dir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
        .map_err(|e| e.to_string())?;
    let out = dir.path().join("unpriv.csv");
    let mut cmd = std::process::Command::new("ip");
    cmd.args(["netns", "exec", &lab.scan_ns])
        .args([
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ])
        .args([sweep_bin(), lab.opts.prefix, lab.opts.unreach, "--all"])
        .args(["-o", path_str(&out)]);
    let run = run_limited(cmd, std::time::Duration::from_secs(60))?;
    run.log("unprivileged");
    let rows = run.rows_written(&out)?;
    check_up_set("unprivileged up set", &rows, &truth)?;
    let router = LAB_ROUTER.to_string();
    let unreach = truth_with(&truth, "unreachable");
    ensure(unreach.len() > 200, || {
        format!("only {} unreachable in the truth", unreach.len())
    })?;
    let wrong: Vec<&SweepRow> = rows
        .iter()
        .filter(|r| unreach.contains(&r.addr))
        .filter(|r| {
            r.status != "unreachable" || r.detail != "host-unreachable" || r.responder != router
        })
        .collect();
    ensure(wrong.is_empty(), || {
        format!(
            "{} of {} unreachable targets are not unreachable/host-unreachable/{router} \
             without privileges, e.g. {:?}",
            wrong.len(),
            unreach.len(),
            wrong[0]
        )
    })?;
    let seen = rows.iter().filter(|r| unreach.contains(&r.addr)).count();
    ensure(seen == unreach.len(), || {
        format!("{seen} rows for the {} unreachable targets", unreach.len())
    })
}

/// A lab /20 (a quarter alive) with `opts`, scanned at the defaults with `-q`, the
/// summary JSON and `--all`. Returns the truth, the rows, sweep's stderr (with `-q`
/// only warnings) and the summary JSON.
fn path_scan(
    label: &str,
    opts: LabOpts,
) -> Result<(Vec<TruthRow>, Vec<SweepRow>, String, serde_json::Value), String> {
    let lab = Lab::up(LabOpts {
        prefix: "198.18.0.0/20",
        ..opts
    })?;
    let truth = lab.truth()?;
    let dir = out_dir()?;
    let (out, json) = (dir.path().join("scan.csv"), dir.path().join("run.json"));
    let _big = heavy();
    let run = lab.sweep(&[
        lab.opts.prefix,
        "-q",
        "--all",
        "-o",
        path_str(&out),
        "--summary-json",
        path_str(&json),
    ])?;
    run.log(label);
    let rows = run.rows_written(&out)?;
    let text = std::fs::read_to_string(&json).map_err(|e| format!("no summary JSON: {e}"))?;
    let j = serde_json::from_str(&text).map_err(|e| format!("summary JSON: {e}"))?;
    Ok((truth, rows, run.stderr.clone(), j))
}

/// Behind an nftables policer of 2,000 echo requests a second, the defaults (10,000
/// pps ceiling, rounds by yield) find the live hosts (at least 99.5 %, none invented),
/// lower the rate, and say so on stderr even with `-q`. (Retries narrowed to the lossy
/// stretches show on the /16 of bench.sh: a /20 goes by mostly above the limit.)
fn policed_path_defaults() -> Result<(), String> {
    let opts = LabOpts {
        police: Some(2000),
        ..LabOpts::default()
    };
    let (truth, rows, stderr, j) = path_scan("policed /20", opts)?;
    // A /20 goes by in about two seconds at the limit, most of round 0 before the rate
    // comes down, and rounds stop when a round's samples all answer (the rule):
    // 60 samples can miss a rate a few percent over the limit. Found all 996 in 8 of 8
    // runs on a quiet machine; the bar leaves room for a loaded one. The in-memory test
    // holds the engine to every host.
    let score = Score::new(&sweep_with(&rows, "up"), &truth_with(&truth, "up"));
    eprintln!("policed /20: {}", score.describe());
    ensure(score.false_pos.is_empty(), || score.describe())?;
    ensure(score.recall() >= 0.995, || score.describe())?;
    ensure(
        stderr.starts_with("sweep: rate limit on the path: "),
        || format!("no warning about the policer on stderr: {stderr:?}"),
    )?;
    ensure(stderr.lines().count() == 1, || {
        format!("one warning line with -q: {stderr:?}")
    })?;
    let path = &j["path"];
    ensure(path["loss_seen"] == true, || format!("{path}"))?;
    ensure(path["kind"] == "rate-limit", || format!("{path}"))?;
    let lowest = path["lowest_rate_pps"].as_u64().unwrap_or(u64::MAX);
    ensure(lowest < 4_000, || {
        format!("rate not lowered enough: {path}")
    })
}

/// With 30 % of echo replies dropped, the defaults retry as long as the loss needs:
/// nearly every live host, no invented one, and the loss said on stderr.
fn lossy_path_defaults() -> Result<(), String> {
    let opts = LabOpts {
        reply_loss: Some(30),
        ..LabOpts::default()
    };
    let (truth, rows, stderr, j) = path_scan("30 % reply loss /20", opts)?;
    let score = Score::new(&sweep_with(&rows, "up"), &truth_with(&truth, "up"));
    eprintln!("30 % reply loss /20: {}", score.describe());
    ensure(score.false_pos.is_empty(), || score.describe())?;
    ensure(score.recall() >= 0.995, || score.describe())?;
    ensure(stderr.starts_with("sweep: loss at any rate: "), || {
        format!("no warning about the loss on stderr: {stderr:?}")
    })?;
    ensure(j["path"]["kind"] == "loss-at-any-rate", || {
        format!("{}", j["path"])
    })?;
    let rounds = j["path"]["rounds"].as_array().map_or(0, Vec::len);
    ensure(rounds >= 5, || {
        format!("{rounds} rounds for 30 % loss: {}", j["path"])
    })
}

/// On a clean path the defaults send the first round and one retry, and say nothing.
fn clean_path_defaults_one_retry() -> Result<(), String> {
    let (truth, rows, stderr, j) = path_scan("clean /20", LabOpts::default())?;
    check_up_set("up set on a clean path", &rows, &truth)?;
    ensure(stderr.is_empty(), || {
        format!("warnings on a clean path: {stderr:?}")
    })?;
    let rounds = j["path"]["rounds"].as_array().map_or(0, Vec::len);
    ensure(rounds == 2, || format!("{rounds} rounds: {}", j["path"]))?;
    let silent = rows.iter().filter(|r| r.status == "down");
    ensure(silent.into_iter().all(|r| r.probes == "2"), || {
        "a silent target did not get exactly two probes".into()
    })
}
