//! Features beyond the classic scanners: `--timestamp`, `--format json|ndjson`,
//! `--fields`, `--rdns` and `sweep diff`, end to end against kernel labs
//! (scripts/lab.sh).
//!
//! The lab trials need root; reported as ignored elsewhere, and failed when
//! SWEEP_REQUIRE_LAB=1. Runs with `harness = false` (libtest-mimic).

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use libtest_mimic::{Arguments, Failed, Trial};

/// Header of `sweep diff` output (from its contract).
const DIFF_HEADER: &str = "addr,change,old_status,new_status,old_rtt_ms,new_rtt_ms,old_ttl,new_ttl";
/// The contract's columns, in order: what JSON objects carry by default.
const COLUMNS: [&str; 8] = [
    "addr",
    "status",
    "rtt_ms",
    "ttl",
    "responder",
    "probes",
    "dups",
    "detail",
];

fn main() {
    let args = Arguments::from_args();
    let trials = vec![
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
            "diff_lists_appeared_and_disappeared_hosts",
            Need::Lab,
            diff_of_two_labs,
        ),
        lab_trial(
            "diff_of_a_file_with_itself_is_empty",
            Need::Lab,
            diff_with_itself,
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

/// A small lab: 198.18.0.0/24, half of it alive.
fn small_lab(seed: u64) -> Result<Lab, String> {
    Lab::up(LabOpts {
        prefix: "198.18.0.0/24",
        alive: "0.5",
        seed,
        ..LabOpts::default()
    })
}

/// Any CSV: its header and rows (every row as long as the header).
fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_csv(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn parse_csv(text: &str) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
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
                    "row {r:?}: {} fields, want {}",
                    r.len(),
                    header.len()
                ));
            }
            Ok(r.iter().map(String::from).collect())
        })
        .collect::<Result<Vec<Vec<String>>, String>>()?;
    Ok((header, rows))
}

fn ip(s: &str) -> Result<Ipv4Addr, String> {
    s.parse().map_err(|_| format!("bad address {s:?}"))
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

/// `sweep ARGS` run directly (no namespace): only for usage errors with loopback
/// targets, which never send a packet or look a name up.
fn sweep_local(args: &[&str]) -> Result<SweepRun, String> {
    let mut cmd = Command::new(sweep_bin());
    cmd.args(args);
    run_limited(cmd, Duration::from_secs(60))
}

/// `sweep diff ARGS` inside a fresh namespace with only `lo`: were `diff` not a
/// subcommand, sweep would take it for a hostname to resolve and probe, and neither the
/// lookup nor a probe may leave the machine.
fn sweep_diff(args: &[&str]) -> Result<SweepRun, String> {
    let ns = Netns::new()?;
    let mut all = vec!["diff"];
    all.extend_from_slice(args);
    sweep_in(&ns.name, &all)
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
    let run = lab.sweep(&[
        lab.opts.prefix,
        "--all",
        "--timestamp",
        "--timeout",
        "500ms",
        "-o",
        path_str(&out),
    ])?;
    let end = SystemTime::now();
    run.expect_code(0)?;
    let (header, rows) = read_csv(&out)?;
    let want = format!("{SWEEP_HEADER},seen_at");
    ensure(header.join(",") == want, || {
        format!("header {header:?}, want {want:?}")
    })?;
    let (lo, hi) = (millis(start), millis(end));
    let mut up = BTreeSet::new();
    for r in &rows {
        let (addr, status, seen) = (ip(&r[0])?, r[1].as_str(), r[8].as_str());
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
    let score = Score::new(&up, &truth_with(&truth, "up"));
    ensure(
        score.false_pos.is_empty() && score.missed.is_empty(),
        || format!("up set differs from truth: {}", score.describe()),
    )
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
    let addr = ip(obj["addr"]
        .as_str()
        .ok_or_else(|| format!("addr not a string: {v}"))?)?;
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

fn up_set_matches(found: &BTreeSet<Ipv4Addr>, truth: &[TruthRow]) -> Result<(), String> {
    let score = Score::new(found, &truth_with(truth, "up"));
    ensure(
        score.false_pos.is_empty() && score.missed.is_empty(),
        || format!("up set differs from truth: {}", score.describe()),
    )
}

/// `--format json`: one JSON array, an object per up host, nothing else.
fn format_json() -> Result<(), String> {
    let lab = small_lab(2)?;
    let truth = lab.truth()?;
    let run = lab.sweep(&[lab.opts.prefix, "--format", "json", "--timeout", "500ms"])?;
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
    let run = lab.sweep(&[lab.opts.prefix, "--format", "ndjson", "--timeout", "500ms"])?;
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
        let run = lab.sweep(&[
            lab.opts.prefix,
            "--fields",
            list,
            "--timeout",
            "500ms",
            "-o",
            path_str(&out),
        ])?;
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
            found.insert(ip(&r[addr_col])?);
        }
        up_set_matches(&found, &truth)?;
    }
    Ok(())
}

/// An unknown `--fields` name: exit 2, one line naming it, nothing written.
fn unknown_field() -> Result<(), String> {
    let dir = out_dir()?;
    let out = dir.path().join("x.csv");
    let run = sweep_local(&["127.0.0.1", "--fields", "addr,colour", "-o", path_str(&out)])?;
    run.expect_code(2)?;
    one_line_naming(&run, "colour")?;
    ensure(!out.exists(), || "usage error left an output file".into())
}

// ---------------------------------------------------------------------------
// --rdns

/// /etc/netns/NAME/{hosts,resolv.conf}, which `ip netns exec NAME` bind-mounts over
/// /etc; removed on drop (with /etc/netns itself if this made it and it is empty).
struct NetnsEtc {
    dir: PathBuf,
    made_parent: bool,
}

impl NetnsEtc {
    fn new(ns: &str, hosts: &str) -> Result<Self, String> {
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
        // No nameserver line: the resolver would try 127.0.0.1 inside the namespace
        // (nothing there), never a real DNS server.
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

/// `--rdns --all` with a hosts file in the scanner namespace naming three live hosts
/// and one dead one: the live three carry their names in a `hostname` column after
/// `detail`; every other row (the dead one included: only hosts that answered are
/// looked up) is empty.
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
    let run = lab.sweep(&[
        lab.opts.prefix,
        "--all",
        "--rdns",
        "--rdns-timeout",
        "1s",
        "--timeout",
        "500ms",
        "-o",
        path_str(&out),
    ])?;
    eprintln!(
        "rdns: {:.1}s, {}",
        run.elapsed.as_secs_f64(),
        run.stderr.trim()
    );
    run.expect_code(0)?;
    let (header, rows) = read_csv(&out)?;
    let want = format!("{SWEEP_HEADER},hostname");
    ensure(header.join(",") == want, || {
        format!("header {header:?}, want {want:?}")
    })?;
    let mut seen = 0;
    for r in &rows {
        let addr = ip(&r[0])?;
        let expect = named
            .iter()
            .find(|(a, _)| *a == addr)
            .map_or("", |(_, n)| n.as_str());
        ensure(r[8] == expect, || {
            format!("{addr} ({}): hostname {:?}, want {expect:?}", r[1], r[8])
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
    let scan = |seed: u64, name: &str| -> Result<(PathBuf, Vec<TruthRow>), String> {
        let lab = small_lab(seed)?;
        let out = dir.path().join(name);
        let run = lab.sweep(&[lab.opts.prefix, "--timeout", "500ms", "-o", path_str(&out)])?;
        run.expect_code(0)?;
        let rows = read_sweep(&out)?;
        let truth = lab.truth()?;
        up_set_matches(&sweep_with(&rows, "up"), &truth)
            .map_err(|e| format!("lab seed {seed}: {e}"))?;
        Ok((out, truth))
    };
    let (old, old_truth) = scan(6, "old.csv")?;
    let (new, new_truth) = scan(7, "new.csv")?;
    let (was, now) = (truth_with(&old_truth, "up"), truth_with(&new_truth, "up"));
    let appeared: BTreeSet<Ipv4Addr> = now.difference(&was).copied().collect();
    let disappeared: BTreeSet<Ipv4Addr> = was.difference(&now).copied().collect();
    ensure(!appeared.is_empty() && !disappeared.is_empty(), || {
        "the two labs should differ both ways".into()
    })?;

    let out = dir.path().join("diff.csv");
    let run = sweep_diff(&[path_str(&old), path_str(&new), "-o", path_str(&out)])?;
    run.expect_code(1)?;
    let (header, rows) = read_csv(&out)?;
    ensure(header.join(",") == DIFF_HEADER, || {
        format!("header {header:?}, want {DIFF_HEADER:?}")
    })?;
    let (mut got_app, mut got_dis) = (BTreeSet::new(), BTreeSet::new());
    for r in &rows {
        let addr = ip(&r[0])?;
        let (change, o, n) = (r[1].as_str(), r[2].as_str(), r[3].as_str());
        match (change, o, n) {
            ("appeared", "down", "up") => got_app.insert(addr),
            ("disappeared", "up", "down") => got_dis.insert(addr),
            _ => return Err(format!("unexpected diff row {r:?}")),
        };
    }
    let addrs: Vec<Ipv4Addr> = rows.iter().map(|r| ip(&r[0])).collect::<Result<_, _>>()?;
    ensure(addrs.windows(2).all(|w| w[0] < w[1]), || {
        "diff rows are not in ascending address order".into()
    })?;
    let s = Score::new(&got_app, &appeared);
    ensure(s.false_pos.is_empty() && s.missed.is_empty(), || {
        format!("appeared differs from the truth: {}", s.describe())
    })?;
    let s = Score::new(&got_dis, &disappeared);
    ensure(s.false_pos.is_empty() && s.missed.is_empty(), || {
        format!("disappeared differs from the truth: {}", s.describe())
    })
}

/// `sweep diff a.csv a.csv`: exit 0, the header and nothing else.
fn diff_with_itself() -> Result<(), String> {
    let lab = small_lab(8)?;
    let dir = out_dir()?;
    let scan = dir.path().join("a.csv");
    let run = lab.sweep(&[
        lab.opts.prefix,
        "--all",
        "--timeout",
        "500ms",
        "-o",
        path_str(&scan),
    ])?;
    run.expect_code(0)?;
    let run = sweep_diff(&[path_str(&scan), path_str(&scan)])?;
    run.expect_code(0)?;
    ensure(run.stdout.trim_end() == DIFF_HEADER, || {
        format!("want the header line only, got {:?}", run.stdout)
    })
}
