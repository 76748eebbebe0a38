//! The conventions operators expect (issue 14), end to end: status lines on a stderr that
//! is not a terminal, and their ETA; the JSON summary against the CSV; an unresolvable
//! hostname among good targets is a warning, not an abort.
//!
//! Lab trials need root; reported as ignored elsewhere, and failed when
//! SWEEP_REQUIRE_LAB=1. Runs with `harness = false` (libtest-mimic).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use common::*;
use serde_json::Value;

fn main() {
    run_trials(vec![
        lab_trial(
            "status_lines_through_a_pipe_on_a_default_slash_16",
            Need::Lab,
            status_lines_default,
        ),
        lab_trial(
            "eta_within_25_percent_at_a_quarter_half_and_three_quarters",
            Need::Lab,
            eta_is_close,
        ),
        lab_trial(
            "summary_json_matches_the_csv_and_no_status_line_for_a_short_run",
            Need::Lab,
            summary_json_matches_csv,
        ),
        lab_trial(
            "summary_json_of_an_interrupted_run",
            Need::Lab,
            summary_json_interrupted,
        ),
        lab_trial(
            "unresolvable_name_among_resolvable_targets_is_a_warning",
            Need::Netns,
            unresolvable_name_warns,
        ),
    ])
}

// ---------------------------------------------------------------------------
// Helpers

/// A stderr line and when it arrived, from the start of the run.
struct Line {
    at: Duration,
    text: String,
}

/// A run whose stderr (a pipe) was read line by line as it came.
struct Timed {
    code: Option<i32>,
    lines: Vec<Line>,
    /// From spawning to the exit.
    total: Duration,
}

/// `sweep ARGS` in `ns`, stdout discarded, stderr read through a pipe with a timestamp
/// per line. Killed after RUN_LIMIT.
fn timed_sweep(ns: &str, args: &[&str]) -> Result<Timed, String> {
    let start = Instant::now();
    let mut child = sweep_cmd(ns, args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn sweep: {e}"))?;
    let stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .map(|text| Line {
                at: start.elapsed(),
                text,
            })
            .collect::<Vec<_>>()
    });
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if start.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("sweep {args:?} still running after {RUN_LIMIT:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let total = start.elapsed();
    let lines = reader.join().map_err(|_| "stderr reader panicked")?;
    Ok(Timed {
        code: status.code(),
        lines,
        total,
    })
}

/// One parsed status line: `sweep: P % SENT/TOTAL probes, UP up, PPS pps, ETA M:SS`.
#[derive(Debug)]
struct Status {
    percent: u64,
    sent: u64,
    total: u64,
    up: u64,
    eta: Duration,
}

fn parse_status(line: &str) -> Option<Status> {
    let rest = line.strip_prefix("sweep: ")?;
    let (percent, rest) = rest.split_once(" % ")?;
    let (counts, rest) = rest.split_once(" probes, ")?;
    let (sent, total) = counts.split_once('/')?;
    let (up, rest) = rest.split_once(" up, ")?;
    let (_pps, eta) = rest.split_once(" pps, ETA ")?;
    let mut secs = 0u64;
    for part in eta.split(':') {
        secs = secs * 60 + part.parse::<u64>().ok()?;
    }
    Some(Status {
        percent: percent.parse().ok()?,
        sent: sent.parse().ok()?,
        total: total.parse().ok()?,
        up: up.parse().ok()?,
        eta: Duration::from_secs(secs),
    })
}

/// The status lines of a run (every stderr line but the final summary must be one).
fn status_lines(run: &Timed) -> Result<Vec<(Duration, Status)>, String> {
    let (summary, rest) = run
        .lines
        .split_last()
        .ok_or("no stderr at all (want a summary line)")?;
    ensure(summary.text.contains(" targets: "), || {
        format!("last stderr line is not the summary: {:?}", summary.text)
    })?;
    rest.iter()
        .map(|l| {
            parse_status(&l.text)
                .map(|s| (l.at, s))
                .ok_or_else(|| format!("not a status line: {:?}", l.text))
        })
        .collect()
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}: {text}", path.display()))
}

fn json_u64(j: &Value, key: &str) -> Result<u64, String> {
    j[key]
        .as_u64()
        .ok_or_else(|| format!("summary JSON: {key} is not a whole number: {}", j[key]))
}

fn json_time(j: &Value, key: &str) -> Result<SystemTime, String> {
    let s = j[key]
        .as_str()
        .ok_or_else(|| format!("summary JSON: {key} is not a string"))?;
    humantime::parse_rfc3339(s).map_err(|e| format!("summary JSON: {key} {s:?}: {e}"))
}

// ---------------------------------------------------------------------------
// Status lines

/// A default /16 scan (about 17 s) with stderr on a pipe: a status line every 5 s, the
/// first after 5 s, each well-formed, counts never going back, the last ETA small.
fn status_lines_default() -> Result<(), String> {
    let lab = Lab::up(LabOpts::default())?;
    let dir = out_dir()?;
    let out = dir.path().join("hosts.csv");
    let _cores = heavy();
    let run = timed_sweep(&lab.scan_ns, &[lab.opts.prefix, "-o", path_str(&out)])?;
    ensure(run.code == Some(0), || format!("exit {:?}", run.code))?;
    let lines = status_lines(&run)?;
    for (at, s) in &lines {
        eprintln!("{:6.2}s {s:?}", at.as_secs_f64());
    }
    let secs = run.total.as_secs_f64();
    // One line per whole 5 s of the run (the last one may just miss the end).
    let want = (secs / 5.0).floor() as usize;
    ensure(
        lines.len() + 1 >= want && lines.len() <= want && !lines.is_empty(),
        || {
            format!(
                "{} status lines in a {secs:.1} s run, want {want}",
                lines.len()
            )
        },
    )?;
    ensure(lines[0].0 >= Duration::from_millis(4900), || {
        format!("first status line after {:?}, want >= 5 s", lines[0].0)
    })?;
    for w in lines.windows(2) {
        let gap = w[1].0.saturating_sub(w[0].0);
        ensure(gap >= Duration::from_millis(4800), || {
            format!("status lines {gap:?} apart, want 5 s")
        })?;
        ensure(w[1].1.sent >= w[0].1.sent && w[1].1.up >= w[0].1.up, || {
            format!("counts went back: {:?} then {:?}", w[0].1, w[1].1)
        })?;
    }
    for (_, s) in &lines {
        ensure(
            s.sent <= s.total && s.percent == 100 * s.sent / s.total,
            || format!("inconsistent status line {s:?}"),
        )?;
    }
    let truth = lab.truth()?;
    check_up_set("up set", &read_sweep(&out)?, &truth)
}

/// ETA (from status lines every second) at 25, 50 and 75 % of a default /16 scan's time
/// is within 25 % of the time really left until sweep exited.
fn eta_is_close() -> Result<(), String> {
    let lab = Lab::up(LabOpts::default())?;
    let _cores = heavy();
    let run = timed_sweep(
        &lab.scan_ns,
        &[
            lab.opts.prefix,
            "-o",
            "/dev/null",
            "--status-interval",
            "1s",
        ],
    )?;
    ensure(run.code == Some(0), || format!("exit {:?}", run.code))?;
    let lines = status_lines(&run)?;
    let total = run.total.as_secs_f64();
    ensure(lines.len() >= 10, || {
        format!(
            "{} status lines in {total:.1} s at --status-interval 1s",
            lines.len()
        )
    })?;
    for fraction in [0.25, 0.5, 0.75] {
        let (at, s) = lines
            .iter()
            .min_by(|a, b| {
                let d = |l: &(Duration, Status)| (l.0.as_secs_f64() - fraction * total).abs();
                d(a).total_cmp(&d(b))
            })
            .expect("lines");
        let left = total - at.as_secs_f64();
        let eta = s.eta.as_secs_f64();
        eprintln!(
            "at {:.0} % ({:.2} s of {total:.2} s): ETA {eta:.0} s, really {left:.2} s",
            fraction * 100.0,
            at.as_secs_f64()
        );
        ensure((eta - left).abs() <= 0.25 * left, || {
            format!(
                "at {:.0} % of the scan: ETA {eta} s but {left:.2} s were left",
                fraction * 100.0
            )
        })?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// --summary-json

/// `--summary-json` of a short lab run (/24 and an unreachable /24, `--all`): every
/// field present, the counts equal to the CSV's, the times within the test's own;
/// stderr holds only the summary (no status line in a run under 5 s); no temp file left.
fn summary_json_matches_csv() -> Result<(), String> {
    let lab = small_lab(5)?;
    let dir = out_dir()?;
    let (out, json) = (dir.path().join("hosts.csv"), dir.path().join("run.json"));
    let before = SystemTime::now();
    let run = timed_sweep(
        &lab.scan_ns,
        &[
            lab.opts.prefix,
            lab.opts.unreach,
            "--all",
            "--seed",
            "77",
            "-o",
            path_str(&out),
            "--summary-json",
            path_str(&json),
        ],
    )?;
    let after = SystemTime::now();
    ensure(run.code == Some(0), || format!("exit {:?}", run.code))?;
    ensure(run.lines.len() == 1, || {
        let text: Vec<_> = run.lines.iter().map(|l| l.text.as_str()).collect();
        format!("want only the summary on stderr, got {text:?}")
    })?;
    let rows = read_sweep(&out)?;
    let j = read_json(&json)?;
    eprintln!("{}", serde_json::to_string_pretty(&j).unwrap_or_default());
    let count = |status: &str| rows.iter().filter(|r| r.status == status).count() as u64;
    let sum = |f: fn(&SweepRow) -> &String| -> Result<u64, String> {
        rows.iter()
            .map(|r| f(r).parse::<u64>().map_err(|e| format!("{}: {e}", r.addr)))
            .sum()
    };
    for (key, want) in [
        ("targets", rows.len() as u64),
        ("up", count("up")),
        ("unreachable", count("unreachable")),
        ("down", count("down")),
        ("probes", sum(|r| &r.probes)?),
        ("duplicates", sum(|r| &r.dups)?),
        ("exit_code", 0),
    ] {
        let got = json_u64(&j, key)?;
        ensure(got == want, || {
            format!("summary JSON {key} = {got}, the CSV says {want}")
        })?;
    }
    ensure(count("unreachable") == 254 && count("up") > 0, || {
        format!(
            "lab: {} up, {} unreachable",
            count("up"),
            count("unreachable")
        )
    })?;
    ensure(j["version"] == env!("CARGO_PKG_VERSION"), || {
        format!("version {}", j["version"])
    })?;
    ensure(j["seed"] == "77", || format!("seed {}", j["seed"]))?;
    ensure(j["interrupted"] == false, || {
        "interrupted is not false".into()
    })?;
    ensure(j["unresolved"] == serde_json::json!([]), || {
        format!("unresolved {}", j["unresolved"])
    })?;
    let ignored = j["ignored"].as_object().ok_or("ignored is not an object")?;
    for reason in ["damaged", "not_ours", "bad_tag", "wrong_source"] {
        ensure(ignored.get(reason).is_some_and(Value::is_u64), || {
            format!("ignored.{reason} missing")
        })?;
    }
    let (started, finished) = (json_time(&j, "started_at")?, json_time(&j, "finished_at")?);
    // RFC 3339 with milliseconds: allow the truncation.
    let slack = Duration::from_millis(1);
    ensure(
        started + slack >= before && started <= finished && finished <= after + slack,
        || format!("started_at/finished_at outside the run: {j}"),
    )?;
    let elapsed = j["elapsed_s"].as_f64().ok_or("elapsed_s is not a number")?;
    let span = finished.duration_since(started).unwrap_or_default();
    ensure(
        elapsed > 0.0 && elapsed <= span.as_secs_f64() + 0.002,
        || format!("elapsed_s {elapsed} vs {span:?} between started_at and finished_at"),
    )?;
    let pps = json_u64(&j, "send_rate_pps")?;
    ensure(pps > 0 && pps <= 10_500, || {
        format!("send_rate_pps {pps} at --rate 10000")
    })?;
    let names = file_names(dir.path())?;
    ensure(names == ["hosts.csv", "run.json"], || {
        format!("files left: {names:?}")
    })
}

/// SIGINT during a scan of a /20 (the lab's /24 and silent space) at 1000 probes/s:
/// exit 130, and the JSON says interrupted with exit code 130 and counts only what was
/// probed (the sender finishes the 1024-position chunk it is in, no more).
fn summary_json_interrupted() -> Result<(), String> {
    let lab = small_lab(6)?;
    let dir = out_dir()?;
    let (out, json) = (dir.path().join("hosts.csv"), dir.path().join("run.json"));
    let running = Running::spawn(sweep_cmd(
        &lab.scan_ns,
        &[
            "198.18.0.0/20",
            "--rate",
            "1000",
            "-o",
            path_str(&out),
            "--summary-json",
            path_str(&json),
        ],
    ))?;
    std::thread::sleep(Duration::from_millis(1500));
    running.signal(libc::SIGINT)?;
    let run = running.wait(RUN_LIMIT)?;
    run.expect_code(130)?;
    let j = read_json(&json)?;
    ensure(
        j["interrupted"] == true && json_u64(&j, "exit_code")? == 130,
        || format!("want interrupted and exit_code 130: {j}"),
    )?;
    let probes = json_u64(&j, "probes")?;
    ensure(probes > 0 && probes < 4094, || {
        format!("{probes} probes in an interrupted /20 (4094 targets)")
    })?;
    let rows = read_sweep(&out)?;
    ensure(
        json_u64(&j, "up")? == sweep_with(&rows, "up").len() as u64,
        || {
            format!(
                "up {} vs the CSV's {}",
                j["up"],
                sweep_with(&rows, "up").len()
            )
        },
    )
}

// ---------------------------------------------------------------------------
// Unresolvable names

/// In a namespace of its own whose /etc/hosts knows two names and whose resolver answers
/// nothing: `good.lab 127.0.0.1 nosuch.lab other.lab` scans the three resolvable targets,
/// with one warning line naming nosuch.lab; the JSON lists it. `--strict-names` is exit 2
/// with nothing written; only unresolvable names is exit 2.
fn unresolvable_name_warns() -> Result<(), String> {
    let ns = Netns::new()?;
    let _etc = NetnsEtc::new(&ns.name, "127.0.0.2 good.lab\n127.0.0.3 other.lab\n")?;
    let dir = out_dir()?;
    let (out, json) = (dir.path().join("hosts.csv"), dir.path().join("run.json"));
    let (o, j) = (path_str(&out), path_str(&json));
    let targets = ["good.lab", "127.0.0.1", "nosuch.lab", "other.lab"];
    let mut args = targets.to_vec();
    args.extend(["--all", "-o", o, "--summary-json", j]);
    let run = sweep_in(&ns.name, &args)?;
    run.expect_code(0)?;
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("warning"))
        .collect();
    ensure(
        warnings.len() == 1
            && warnings[0].starts_with("sweep: warning: ")
            && warnings[0].contains("'nosuch.lab'"),
        || format!("want one warning naming nosuch.lab: {:?}", run.stderr),
    )?;
    let rows = read_sweep(&out)?;
    let addrs: Vec<String> = rows.iter().map(|r| r.addr.to_string()).collect();
    ensure(addrs == ["127.0.0.1", "127.0.0.2", "127.0.0.3"], || {
        format!("rows {addrs:?}")
    })?;
    ensure(rows.iter().all(|r| r.status == "up"), || {
        format!("{rows:?}")
    })?;
    let summary = read_json(&json)?;
    ensure(
        summary["unresolved"] == serde_json::json!(["nosuch.lab"]),
        || format!("unresolved {}", summary["unresolved"]),
    )?;
    ensure(json_u64(&summary, "targets")? == 3, || format!("{summary}"))?;

    std::fs::remove_file(&out).map_err(|e| e.to_string())?;
    let mut strict = targets.to_vec();
    strict.extend(["--strict-names", "-o", o]);
    let run = sweep_in(&ns.name, &strict)?;
    run.expect_code(2)?;
    one_line_naming(&run.stderr, &["nosuch.lab"])?;
    ensure(!out.exists(), || "--strict-names abort wrote output".into())?;

    let run = sweep_in(&ns.name, &["nosuch.lab", "gone.lab", "-o", o])?;
    run.expect_code(2)?;
    one_line_naming(&run.stderr, &["nosuch.lab", "gone.lab", "did not resolve"])?;
    ensure(!out.exists(), || {
        "nothing resolved, yet output written".into()
    })
}
