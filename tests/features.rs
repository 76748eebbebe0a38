//! Features beyond the classic scanners: `--timestamp`, `--format json|ndjson`,
//! `--fields`, `--rdns` and `sweep diff`, end to end against kernel labs
//! (scripts/lab.sh).
//!
//! The lab trials need root; reported as ignored elsewhere, and failed when
//! SWEEP_REQUIRE_LAB=1. Runs with `harness = false` (libtest-mimic).

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use common::*;

/// The contract's columns, in order: what JSON objects carry by default.
const COLUMNS: [&str; 10] = [
    "addr",
    "status",
    "rtt_ms",
    "ttl",
    "responder",
    "probes",
    "dups",
    "detail",
    "mac",
    "vendor",
];

fn main() {
    run_trials(vec![
        lab_trial(
            "timestamp_column_is_rfc3339_within_the_run",
            Need::Lab,
            timestamp_column,
        ),
        lab_trial(
            "format_json_is_an_array_of_up_hosts",
            Need::Lab,
            format_json,
        ),
        lab_trial(
            "format_ndjson_is_one_object_per_line",
            Need::Lab,
            format_ndjson,
        ),
        lab_trial("fields_choose_and_order_columns", Need::Lab, fields_choose),
        plain_trial("unknown_field_is_usage_error", unknown_field),
        lab_trial("rdns_names_from_netns_hosts_file", Need::Lab, rdns_names),
        lab_trial(
            "rdns_formula_names_are_guarded_in_csv",
            Need::Lab,
            rdns_formula_names_guarded,
        ),
        lab_trial(
            "diff_lists_appeared_and_disappeared_hosts",
            Need::Lab,
            diff_of_two_labs,
        ),
        lab_trial(
            "diff_of_a_file_with_itself_is_empty",
            Need::Lab,
            diff_with_itself,
        ),
    ])
}

// ---------------------------------------------------------------------------
// Local helpers

/// `sweep` in the lab's scanner namespace: its whole prefix, a 500 ms
/// timeout, and `args`.
fn scan(lab: &Lab, args: &[&str]) -> Result<SweepRun, String> {
    let mut all = vec![lab.opts.prefix, "--timeout", "500ms"];
    all.extend_from_slice(args);
    lab.sweep(&all)
}

/// The lab's up set is exactly `found`.
fn up_set_matches(found: &BTreeSet<Ipv4Addr>, truth: &[TruthRow]) -> Result<(), String> {
    same_set("up set", found, &truth_with(truth, "up"))
}

/// `header` is sweep's header with `extra` appended.
fn check_header(header: &[String], extra: &str) -> Result<(), String> {
    let want = format!("{SWEEP_HEADER},{extra}");
    ensure(header.join(",") == want, || {
        format!("header {header:?}, want {want:?}")
    })
}

fn millis(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, digits where digits belong.
fn rfc3339_millis_shape(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            23 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

// ---------------------------------------------------------------------------
// --timestamp

/// `--timestamp --all`: a `seen_at` column after `detail`; up rows carry the first
/// reply's time as RFC 3339 with milliseconds, within the test's own start and end
/// wall-clock time; down rows leave it empty.
fn timestamp_column() -> Result<(), String> {
    let lab = small_lab(1)?;
    let truth = lab.truth()?;
    let dir = out_dir()?;
    let out = dir.path().join("ts.csv");
    let start = SystemTime::now();
    let run = scan(&lab, &["--all", "--timestamp", "-o", path_str(&out)])?;
    let end = SystemTime::now();
    run.expect_code(0)?;
    let (header, rows) = read_csv(&out)?;
    check_header(&header, "seen_at")?;
    let (lo, hi) = (millis(start), millis(end));
    let mut up = BTreeSet::new();
    for r in &rows {
        let addr: Ipv4Addr = parse_addr(&r[0])?;
        let (status, seen) = (r[1].as_str(), r[10].as_str());
        match status {
            "up" => {
                up.insert(addr);
                ensure(rfc3339_millis_shape(seen), || {
                    format!("{addr}: seen_at {seen:?} is not YYYY-MM-DDTHH:MM:SS.mmmZ")
                })?;
                let t = humantime::parse_rfc3339(seen)
                    .map_err(|e| format!("{addr}: seen_at {seen:?}: {e}"))?;
                let ms = millis(t);
                ensure(lo <= ms && ms <= hi, || {
                    format!(
                        "{addr}: seen_at {seen} is outside the run ({} .. {})",
                        humantime::format_rfc3339_millis(start),
                        humantime::format_rfc3339_millis(end)
                    )
                })?;
            }
            _ => ensure(seen.is_empty(), || {
                format!("{addr} is {status} but has seen_at {seen:?}")
            })?,
        }
    }
    ensure(rows.iter().any(|r| r[1] == "down"), || {
        "--all should list the down hosts too".into()
    })?;
    up_set_matches(&up, &truth)
}

// ---------------------------------------------------------------------------
// --format, --fields

/// Checks one JSON object of an up host: the contract's keys in order, typed values.
fn check_up_object(v: &serde_json::Value) -> Result<Ipv4Addr, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("not a JSON object: {v}"))?;
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    ensure(keys == COLUMNS, || {
        format!("keys {keys:?}, want {COLUMNS:?}")
    })?;
    let addr: Ipv4Addr = parse_addr(
        obj["addr"]
            .as_str()
            .ok_or_else(|| format!("addr not a string: {v}"))?,
    )?;
    ensure(obj["status"] == "up", || format!("not up: {v}"))?;
    ensure(obj["rtt_ms"].as_f64().is_some_and(|r| r >= 0.0), || {
        format!("rtt_ms is not a number: {v}")
    })?;
    ensure(obj["ttl"].as_u64().is_some(), || {
        format!("ttl is not an integer: {v}")
    })?;
    ensure(obj["probes"].as_u64().is_some_and(|p| p >= 1), || {
        format!("probes is not a positive integer: {v}")
    })?;
    ensure(obj["responder"] == addr.to_string().as_str(), || {
        format!("responder should be the address: {v}")
    })?;
    Ok(addr)
}

/// `--format json`: one JSON array, an object per up host, nothing else.
fn format_json() -> Result<(), String> {
    let lab = small_lab(2)?;
    let truth = lab.truth()?;
    let run = scan(&lab, &["--format", "json"])?;
    run.expect_code(0)?;
    let v: serde_json::Value = serde_json::from_str(&run.stdout)
        .map_err(|e| format!("stdout is not JSON: {e}; got:\n{}", run.stdout))?;
    let arr = v.as_array().ok_or("stdout is not a JSON array")?;
    let want = truth_with(&truth, "up").len();
    ensure(arr.len() == want, || {
        format!("{} objects, want one per up host ({want})", arr.len())
    })?;
    let found = arr
        .iter()
        .map(check_up_object)
        .collect::<Result<BTreeSet<_>, _>>()?;
    ensure(found.len() == arr.len(), || "duplicate addresses".into())?;
    up_set_matches(&found, &truth)
}

/// `--format ndjson`: one JSON object per line, one line per up host.
fn format_ndjson() -> Result<(), String> {
    let lab = small_lab(3)?;
    let truth = lab.truth()?;
    let run = scan(&lab, &["--format", "ndjson"])?;
    run.expect_code(0)?;
    ensure(run.stdout.ends_with('\n'), || {
        "NDJSON output should end with a newline".into()
    })?;
    let lines: Vec<&str> = run.stdout.lines().collect();
    let want = truth_with(&truth, "up").len();
    ensure(lines.len() == want, || {
        format!("{} lines, want one per up host ({want})", lines.len())
    })?;
    let mut found = BTreeSet::new();
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("line {line:?}: {e}"))?;
        found.insert(check_up_object(&v)?);
    }
    up_set_matches(&found, &truth)
}

/// `--fields addr,rtt_ms`: exactly that header, two fields per row; and the order is
/// the one asked for (`rtt_ms,addr` swaps them).
fn fields_choose() -> Result<(), String> {
    let lab = small_lab(4)?;
    let truth = lab.truth()?;
    let dir = out_dir()?;
    for (list, addr_col) in [("addr,rtt_ms", 0), ("rtt_ms,addr", 1)] {
        let out = dir.path().join(format!("{list}.csv"));
        let run = scan(&lab, &["--fields", list, "-o", path_str(&out)])?;
        run.expect_code(0)?;
        let text = std::fs::read_to_string(&out).map_err(|e| e.to_string())?;
        let first = text.split("\r\n").next().unwrap_or_default();
        ensure(first == list, || {
            format!("--fields {list}: header line {first:?}")
        })?;
        let (_, rows) = read_csv(&out)?;
        let mut found = BTreeSet::new();
        for r in &rows {
            let rtt = &r[1 - addr_col];
            ensure(rtt.parse::<f64>().is_ok(), || {
                format!("--fields {list}: rtt_ms {rtt:?} in {r:?}")
            })?;
            found.insert(parse_addr::<Ipv4Addr>(&r[addr_col])?);
        }
        up_set_matches(&found, &truth)?;
    }
    Ok(())
}

/// An unknown `--fields` name: exit 2, one line naming it, nothing written.
fn unknown_field() -> Result<(), String> {
    let dir = out_dir()?;
    let out = dir.path().join("x.csv");
    let run = sweep_local(
        &["127.0.0.1", "--fields", "addr,colour", "-o", path_str(&out)],
        &[],
    )?;
    run.expect_code(2)?;
    one_line_naming(&run.stderr, &["colour"])?;
    ensure(!out.exists(), || "usage error left an output file".into())
}

// ---------------------------------------------------------------------------
// --rdns

/// `--rdns --all` with a hosts file in the scanner namespace naming three live hosts
/// and one dead one: the live three carry their names in a `hostname` column after
/// `detail`; every other row (the dead one included: only hosts that answered are
/// looked up) is empty.
/// Reverse names that a spreadsheet would evaluate (`=…`, `@…`) get a leading `'` in the
/// CSV, and stay as they are with --csv-raw and in JSON.
fn rdns_formula_names_guarded() -> Result<(), String> {
    let lab = small_lab(6)?;
    let truth = lab.truth()?;
    let up: Vec<Ipv4Addr> = truth_with(&truth, "up").into_iter().collect();
    ensure(up.len() >= 2, || "lab too small for the test".into())?;
    let evil = ["=HYPERLINK(\"http://x.test\",\"y\")", "@SUM(1+1)"];
    let hosts = format!(
        "127.0.0.1 localhost\n{} {}\n{} {}\n",
        up[0], evil[0], up[1], evil[1]
    );
    let _etc = NetnsEtc::new(&lab.scan_ns, &hosts)?;
    let dir = out_dir()?;
    for (raw, format) in [(false, "csv"), (true, "csv"), (false, "ndjson")] {
        let out = dir.path().join(format!("names-{raw}.{format}"));
        let mut args = vec!["--rdns", "--fields", "addr,hostname", "--format", format];
        args.extend(["-o", path_str(&out)]);
        if raw {
            args.push("--csv-raw");
        }
        let run = scan(&lab, &args)?;
        run.expect_code(0)?;
        let names: Vec<(String, String)> = if format == "csv" {
            read_csv(&out)?
                .1
                .into_iter()
                .map(|r| (r[0].clone(), r[1].clone()))
                .collect()
        } else {
            std::fs::read_to_string(&out)
                .map_err(|e| e.to_string())?
                .lines()
                .map(|l| {
                    let v: serde_json::Value =
                        serde_json::from_str(l).map_err(|e| e.to_string())?;
                    Ok((
                        v["addr"].as_str().unwrap_or_default().to_string(),
                        v["hostname"].as_str().unwrap_or_default().to_string(),
                    ))
                })
                .collect::<Result<_, String>>()?
        };
        for (k, a) in up[..2].iter().enumerate() {
            let want = if raw || format != "csv" {
                evil[k].to_string()
            } else {
                format!("'{}", evil[k])
            };
            let got = names.iter().find(|(addr, _)| *addr == a.to_string());
            ensure(got.is_some_and(|(_, n)| *n == want), || {
                format!("{format} raw={raw}: {a} has {got:?}, want {want:?}")
            })?;
        }
    }
    Ok(())
}

fn rdns_names() -> Result<(), String> {
    let lab = small_lab(5)?;
    let truth = lab.truth()?;
    let up: Vec<Ipv4Addr> = truth_with(&truth, "up").into_iter().collect();
    let down: Vec<Ipv4Addr> = truth_with(&truth, "down").into_iter().collect();
    ensure(up.len() >= 3 && !down.is_empty(), || {
        "lab too small for the test".into()
    })?;
    let named: Vec<(Ipv4Addr, String)> = [up[0], up[up.len() / 2], up[up.len() - 1]]
        .into_iter()
        .enumerate()
        .map(|(k, a)| (a, format!("live{k}.lab.test")))
        .collect();
    let mut hosts = String::from("127.0.0.1 localhost\n");
    for (a, n) in &named {
        hosts.push_str(&format!("{a} {n}\n"));
    }
    hosts.push_str(&format!("{} dead.lab.test\n", down[0]));
    let _etc = NetnsEtc::new(&lab.scan_ns, &hosts)?;

    let dir = out_dir()?;
    let out = dir.path().join("rdns.csv");
    let run = scan(
        &lab,
        &[
            "--all",
            "--rdns",
            "--rdns-timeout",
            "1s",
            "-o",
            path_str(&out),
        ],
    )?;
    run.log("rdns");
    run.expect_code(0)?;
    let (header, rows) = read_csv(&out)?;
    check_header(&header, "hostname")?;
    let mut seen = 0;
    for r in &rows {
        let addr: Ipv4Addr = parse_addr(&r[0])?;
        let expect = named
            .iter()
            .find(|(a, _)| *a == addr)
            .map_or("", |(_, n)| n.as_str());
        ensure(r[10] == expect, || {
            format!("{addr} ({}): hostname {:?}, want {expect:?}", r[1], r[10])
        })?;
        seen += usize::from(!expect.is_empty());
    }
    ensure(seen == named.len(), || {
        format!("only {seen} of the {} named hosts have rows", named.len())
    })
}

// ---------------------------------------------------------------------------
// sweep diff

/// Two labs with different seeds (different live hosts): `sweep diff old new` lists
/// exactly the truth's difference as appeared/disappeared, and exits 1.
fn diff_of_two_labs() -> Result<(), String> {
    let dir = out_dir()?;
    let scan_lab = |seed: u64, name: &str| -> Result<(PathBuf, Vec<TruthRow>), String> {
        let lab = small_lab(seed)?;
        let out = dir.path().join(name);
        let run = scan(&lab, &["-o", path_str(&out)])?;
        let rows = run.rows_written(&out)?;
        let truth = lab.truth()?;
        check_up_set("up set", &rows, &truth).map_err(|e| format!("lab seed {seed}: {e}"))?;
        Ok((out, truth))
    };
    let (old, old_truth) = scan_lab(6, "old.csv")?;
    let (new, new_truth) = scan_lab(7, "new.csv")?;
    let (was, now) = (truth_with(&old_truth, "up"), truth_with(&new_truth, "up"));
    let appeared: BTreeSet<Ipv4Addr> = now.difference(&was).copied().collect();
    let disappeared: BTreeSet<Ipv4Addr> = was.difference(&now).copied().collect();
    ensure(!appeared.is_empty() && !disappeared.is_empty(), || {
        "the two labs should differ both ways".into()
    })?;

    let out = dir.path().join("diff.csv");
    let run = sweep_in_fresh_ns(&["diff", path_str(&old), path_str(&new), "-o", path_str(&out)])?;
    run.expect_code(1)?;
    let (header, rows) = read_csv(&out)?;
    ensure(header.join(",") == DIFF_HEADER, || {
        format!("header {header:?}, want {DIFF_HEADER:?}")
    })?;
    let (mut got_app, mut got_dis) = (BTreeSet::new(), BTreeSet::new());
    for r in &rows {
        let addr: Ipv4Addr = parse_addr(&r[0])?;
        let (change, o, n) = (r[1].as_str(), r[2].as_str(), r[3].as_str());
        match (change, o, n) {
            ("appeared", "down", "up") => got_app.insert(addr),
            ("disappeared", "up", "down") => got_dis.insert(addr),
            _ => return Err(format!("unexpected diff row {r:?}")),
        };
    }
    let addrs: Vec<Ipv4Addr> = rows
        .iter()
        .map(|r| parse_addr(&r[0]))
        .collect::<Result<_, _>>()?;
    ensure(addrs.windows(2).all(|w| w[0] < w[1]), || {
        "diff rows are not in ascending address order".into()
    })?;
    same_set("appeared", &got_app, &appeared)?;
    same_set("disappeared", &got_dis, &disappeared)
}

/// `sweep diff a.csv a.csv`: exit 0, the header and nothing else.
fn diff_with_itself() -> Result<(), String> {
    let lab = small_lab(8)?;
    let dir = out_dir()?;
    let out = dir.path().join("a.csv");
    let run = scan(&lab, &["--all", "-o", path_str(&out)])?;
    run.expect_code(0)?;
    let run = sweep_in_fresh_ns(&["diff", path_str(&out), path_str(&out)])?;
    run.expect_code(0)?;
    ensure(run.stdout.trim_end() == DIFF_HEADER, || {
        format!("want the header line only, got {:?}", run.stdout)
    })
}
