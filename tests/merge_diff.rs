//! `sweep merge`, `sweep diff` and `sweep report` end to end through the binary, on CSV files
//! written by the tests. No network, no root.

mod common;

use std::path::PathBuf;

use assert_cmd::assert::Assert;
use assert_cmd::Command;
use common::{file_names, one_line_naming, path_str as s, DIFF_HEADER, V1_HEADER};
use predicates::prelude::*;
use tempfile::TempDir;

fn sweep(args: &[&str]) -> Command {
    let mut c = Command::cargo_bin("sweep").expect("sweep binary");
    c.args(args).timeout(std::time::Duration::from_secs(30));
    c
}

/// A sweep CSV at `dir/name`: the default header, then `rows` with CRLF line ends.
fn csv(dir: &TempDir, name: &str, rows: &[&str]) -> PathBuf {
    csv_with(dir, name, V1_HEADER, rows)
}

fn csv_with(dir: &TempDir, name: &str, header: &str, rows: &[&str]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text(header, rows)).expect("write csv");
    path
}

/// The expected CSV text: header and rows, CRLF.
fn text(header: &str, rows: &[&str]) -> String {
    let mut t = format!("{header}\r\n");
    for r in rows {
        t.push_str(r);
        t.push_str("\r\n");
    }
    t
}

/// `sweep ARGS` exits `code` and writes exactly `header` and `rows` (CRLF) to stdout.
fn prints(args: &[&str], code: i32, header: &str, rows: &[&str]) -> Assert {
    sweep(args).assert().code(code).stdout(text(header, rows))
}

/// Exit `code`, nothing on stdout, one `sweep: ` stderr line containing every `needle`:
/// usage errors, unreadable files and bad headers are all found before any output.
fn input_error(args: &[&str], code: i32, needles: &[&str]) {
    let out = failure(args, code, needles);
    assert!(out.is_empty(), "stdout should be empty, got {out:?}");
}

/// Exit `code` and one `sweep: ` stderr line containing every `needle`; returns stdout,
/// which streams, so a bad row far into a file may follow some output (`-o` never does).
fn failure(args: &[&str], code: i32, needles: &[&str]) -> String {
    let out = sweep(args).assert().code(code).get_output().clone();
    one_line_naming(&String::from_utf8_lossy(&out.stderr), needles)
        .unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `sweep merge GOOD BAD` fails naming line 3 of BAD and the token, for each (row,
/// token) case: BAD is `first` then the row.
fn rejects_bad_rows(dir: &TempDir, good: &str, first: &str, cases: &[(&str, &str)]) {
    for &(row, token) in cases {
        let bad = csv(dir, "bad.csv", &[first, row]);
        failure(&["merge", good, s(&bad)], 2, &["bad.csv:3", token]);
    }
}

// --- merge -----------------------------------------------------------------------------

#[test]
fn merge_of_disjoint_shards_is_the_union_in_address_order() {
    let dir = TempDir::new().unwrap();
    // Numeric order, not string order: .9 < .10 < .100, and 9.x < 10.x.
    let a = csv(
        &dir,
        "shard0.csv",
        &[
            "9.255.255.255,down,,,,3,0,",
            "10.0.0.9,up,1.250,64,10.0.0.9,1,0,",
            "10.0.0.100,unreachable,,,192.0.2.1,3,0,host-unreachable",
        ],
    );
    let b = csv(
        &dir,
        "shard1.csv",
        &[
            "10.0.0.10,down,,,,3,0,",
            "10.0.1.1,up,20.000,63,10.0.1.1,2,1,",
        ],
    );
    prints(
        &["merge", s(&a), s(&b)],
        0,
        V1_HEADER,
        &[
            "9.255.255.255,down,,,,3,0,",
            "10.0.0.9,up,1.250,64,10.0.0.9,1,0,",
            "10.0.0.10,down,,,,3,0,",
            "10.0.0.100,unreachable,,,192.0.2.1,3,0,host-unreachable",
            "10.0.1.1,up,20.000,63,10.0.1.1,2,1,",
        ],
    )
    .stderr(predicate::str::is_empty());
}

#[test]
fn merge_of_overlapping_runs_keeps_the_best_status_and_sums_counts() {
    let dir = TempDir::new().unwrap();
    let run1 = csv(
        &dir,
        "run1.csv",
        &[
            "10.0.0.1,down,,,,3,0,",
            "10.0.0.2,up,1.000,64,10.0.0.2,1,0,",
            "10.0.0.3,unreachable,,,192.0.2.1,3,0,host-unreachable",
            "10.0.0.4,unreachable,,,192.0.2.1,3,0,host-unreachable",
        ],
    );
    let run2 = csv(
        &dir,
        "run2.csv",
        &[
            "10.0.0.1,up,5.500,60,10.0.0.1,2,1,",
            "10.0.0.2,up,9.999,64,10.0.0.2,1,2,",
            "10.0.0.3,down,,,,3,0,",
            "10.0.0.4,unreachable,,,192.0.2.9,3,0,admin-prohibited",
            "10.0.0.5,down,,,,3,0,",
        ],
    );
    prints(
        &["merge", s(&run1), s(&run2)],
        0,
        V1_HEADER,
        &[
            "10.0.0.1,up,5.500,60,10.0.0.1,5,1,",
            // Tie: the earlier file's rtt and ttl.
            "10.0.0.2,up,1.000,64,10.0.0.2,2,2,",
            "10.0.0.3,unreachable,,,192.0.2.1,6,0,host-unreachable",
            "10.0.0.4,unreachable,,,192.0.2.1,6,0,host-unreachable",
            "10.0.0.5,down,,,,3,0,",
        ],
    );
}

#[test]
fn merge_exits_1_when_no_host_is_up() {
    let dir = TempDir::new().unwrap();
    let a = csv(&dir, "a.csv", &["10.0.0.1,down,,,,3,0,"]);
    let b = csv(
        &dir,
        "b.csv",
        &["10.0.0.2,unreachable,,,192.0.2.1,3,0,host-unreachable"],
    );
    sweep(&["merge", s(&a), s(&b)]).assert().code(1);
    let empty = csv(&dir, "empty.csv", &[]);
    prints(&["merge", s(&empty)], 1, V1_HEADER, &[]);
}

#[test]
fn merge_writes_the_output_file_atomically() {
    let dir = TempDir::new().unwrap();
    let a = csv(&dir, "a.csv", &["10.0.0.2,up,1.000,64,10.0.0.2,1,0,"]);
    let b = csv(&dir, "b.csv", &["10.0.0.1,down,,,,3,0,"]);
    let out = dir.path().join("merged.csv");
    sweep(&["merge", s(&a), s(&b), "-o", s(&out)])
        .assert()
        .code(0)
        .stdout(predicate::str::is_empty());
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        text(
            V1_HEADER,
            &[
                "10.0.0.1,down,,,,3,0,",
                "10.0.0.2,up,1.000,64,10.0.0.2,1,0,"
            ]
        )
    );
    // A failed merge leaves the old output alone and no temp file behind.
    let bad = csv(&dir, "bad.csv", &["10.0.0.3,sideways,,,,1,0,"]);
    input_error(
        &["merge", s(&a), s(&bad), "-o", s(&out)],
        2,
        &["bad.csv:2", "'sideways'"],
    );
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("10.0.0.2,up"));
    let names = file_names(dir.path()).unwrap();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn output_to_a_fifo_writes_through_it_instead_of_replacing_it() {
    // A temp file renamed over `-o` would replace a device or FIFO (as root, even
    // /dev/null); special files are written in place.
    use std::os::unix::fs::FileTypeExt;
    let dir = TempDir::new().unwrap();
    let a = csv(&dir, "a.csv", &["10.0.0.2,up,1.000,64,10.0.0.2,1,0,"]);
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(s(&fifo)).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    sweep(&["merge", s(&a), "-o", s(&fifo)])
        .assert()
        .code(0)
        .stdout(predicate::str::is_empty());
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    for _ in 0..100 {
        if reader.is_finished() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(reader.is_finished(), "nothing was written to the FIFO");
    assert_eq!(
        reader.join().unwrap(),
        text(V1_HEADER, &["10.0.0.2,up,1.000,64,10.0.0.2,1,0,"])
    );
}

#[test]
fn merge_may_overwrite_one_of_its_inputs() {
    let dir = TempDir::new().unwrap();
    let a = csv(&dir, "a.csv", &["10.0.0.2,up,1.000,64,10.0.0.2,1,0,"]);
    let b = csv(&dir, "b.csv", &["10.0.0.1,down,,,,3,0,"]);
    sweep(&["merge", s(&a), s(&b), "-o", s(&a)])
        .assert()
        .code(0);
    assert_eq!(
        std::fs::read_to_string(&a).unwrap(),
        text(
            V1_HEADER,
            &[
                "10.0.0.1,down,,,,3,0,",
                "10.0.0.2,up,1.000,64,10.0.0.2,1,0,"
            ]
        )
    );
}

#[test]
fn merge_accepts_extra_known_columns_keyed_by_name() {
    let dir = TempDir::new().unwrap();
    let head = "addr,status,rtt_ms,probes,seen_at,hostname";
    let a = csv_with(
        &dir,
        "a.csv",
        head,
        &[
            "10.0.0.1,down,,3,,",
            "10.0.0.7,up,0.900,1,2030-01-01T00:00:00.120Z,seven.example",
        ],
    );
    let b = csv_with(
        &dir,
        "b.csv",
        head,
        &["10.0.0.1,up,2.000,1,2030-01-01T00:00:01.000Z,one.example"],
    );
    prints(
        &["merge", s(&a), s(&b)],
        0,
        head,
        &[
            "10.0.0.1,up,2.000,4,2030-01-01T00:00:01.000Z,one.example",
            "10.0.0.7,up,0.900,1,2030-01-01T00:00:00.120Z,seven.example",
        ],
    );
}

#[test]
fn merge_rejects_mismatched_headers() {
    let dir = TempDir::new().unwrap();
    let a = csv(&dir, "a.csv", &[]);
    let b = csv_with(&dir, "b.csv", &format!("{V1_HEADER},seen_at"), &[]);
    input_error(
        &["merge", s(&a), s(&b)],
        2,
        &["b.csv", "a.csv", "header differs", "'seen_at'"],
    );
    let c = csv_with(&dir, "c.csv", "addr,rtt_ms", &[]);
    input_error(&["merge", s(&a), s(&c)], 2, &["c.csv", "'status'"]);
    let d = dir.path().join("d.csv");
    std::fs::write(&d, "").unwrap();
    input_error(&["merge", s(&d)], 2, &["d.csv", "empty"]);
}

#[test]
fn merge_rejects_bad_input_naming_file_line_and_token() {
    let dir = TempDir::new().unwrap();
    let good = csv(&dir, "good.csv", &["10.0.0.1,down,,,,3,0,"]);
    rejects_bad_rows(
        &dir,
        s(&good),
        "10.0.0.2,down,,,,3,0,",
        &[
            ("10.0.0.300,down,,,,3,0,", "'10.0.0.300'"),
            ("10.0.0.3,up,fast,64,10.0.0.3,1,0,", "'fast'"),
            ("10.0.0.3,down,,,,three,0,", "'three'"),
            ("10.0.0.3,down,,", "fields"),
        ],
    );
    let unsorted = csv(
        &dir,
        "unsorted.csv",
        &["10.0.0.10,down,,,,3,0,", "10.0.0.9,down,,,,3,0,"],
    );
    failure(
        &["merge", s(&unsorted)],
        2,
        &["unsorted.csv:3", "'10.0.0.9'", "out of order"],
    );
    input_error(
        &["merge", s(&good), "/nonexistent-dir/x.csv"],
        2,
        &["/nonexistent-dir/x.csv"],
    );
    input_error(
        &["merge", s(&good), "-o", "/nonexistent-dir/out.csv"],
        2,
        &["/nonexistent-dir/out.csv"],
    );
}

#[test]
fn merge_usage() {
    sweep(&["merge", "--help"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Usage: sweep merge"));
    input_error(&["merge"], 2, &["CSV"]);
    input_error(&["merge", "--bogus", "a.csv"], 2, &["--bogus"]);
}

// --- diff ------------------------------------------------------------------------------

fn old_new(dir: &TempDir) -> (PathBuf, PathBuf) {
    let old = csv(
        dir,
        "old.csv",
        &[
            "10.0.0.1,up,1.000,64,10.0.0.1,1,0,", // disappears (down in new)
            "10.0.0.2,up,1.000,64,10.0.0.2,1,0,", // disappears (down in new)
            "10.0.0.3,down,,,,3,0,",              // becomes unreachable
            "10.0.0.4,up,2.000,64,10.0.0.4,1,0,", // rtt 2 → 30
            "10.0.0.5,up,2.000,64,10.0.0.5,1,0,", // rtt 2 → 3 (under 10)
            "10.0.0.6,unreachable,,,192.0.2.1,3,0,host-unreachable", // comes up
            "10.0.0.10,down,,,,3,0,",
        ],
    );
    // Both written with --all (they have rows not up): every target each scanned is listed.
    let new = csv(
        dir,
        "new.csv",
        &[
            "10.0.0.1,down,,,,3,0,",
            "10.0.0.2,down,,,,3,0,",
            "10.0.0.3,unreachable,,,192.0.2.1,3,0,host-unreachable",
            "10.0.0.4,up,30.000,60,10.0.0.4,1,0,",
            "10.0.0.5,up,3.000,64,10.0.0.5,1,0,",
            "10.0.0.6,up,0.250,64,10.0.0.6,1,0,",
            "10.0.0.10,up,4.000,64,10.0.0.10,1,0,", // appears (down in old)
        ],
    );
    (old, new)
}

#[test]
fn diff_reports_each_kind_of_change() {
    let dir = TempDir::new().unwrap();
    let (old, new) = old_new(&dir);
    prints(
        &["diff", s(&old), s(&new), "--rtt-change", "10"],
        1,
        DIFF_HEADER,
        &[
            "10.0.0.1,disappeared,up,down,1.000,,64,,,",
            "10.0.0.2,disappeared,up,down,1.000,,64,,,",
            "10.0.0.3,status-changed,down,unreachable,,,,,,",
            "10.0.0.4,rtt-changed,up,up,2.000,30.000,64,60,,",
            "10.0.0.6,appeared,unreachable,up,,0.250,,64,,",
            "10.0.0.10,appeared,down,up,,4.000,,64,,",
        ],
    )
    .stderr(predicate::str::is_empty());
    // Without --rtt-change, RTT moves are not changes.
    let out = sweep(&["diff", s(&old), s(&new)]).assert().code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(!stdout.contains("rtt-changed"), "{stdout}");
    assert_eq!(stdout.lines().count(), 6);
}

#[test]
fn diff_of_identical_runs_exits_0_with_just_the_header() {
    let dir = TempDir::new().unwrap();
    let (old, _) = old_new(&dir);
    prints(
        &["diff", s(&old), s(&old), "--rtt-change", "0.001"],
        0,
        DIFF_HEADER,
        &[],
    );
}

#[test]
fn diff_treats_absent_hosts_as_down() {
    let dir = TempDir::new().unwrap();
    // OLD written with --all, NEW without: a host down in OLD and absent in NEW is no change.
    let old = csv(
        &dir,
        "old.csv",
        &[
            "10.0.0.1,down,,,,3,0,",
            "10.0.0.2,up,1.000,64,10.0.0.2,1,0,",
        ],
    );
    let new = csv(&dir, "new.csv", &["10.0.0.2,up,1.000,64,10.0.0.2,1,0,"]);
    prints(&["diff", s(&old), s(&new)], 0, DIFF_HEADER, &[]);
}

#[test]
fn diff_works_on_merged_shards_and_writes_files() {
    let dir = TempDir::new().unwrap();
    let s0 = csv(&dir, "s0.csv", &["10.0.0.1,up,1.000,64,10.0.0.1,1,0,"]);
    let s1 = csv(&dir, "s1.csv", &["10.0.0.2,up,1.000,64,10.0.0.2,1,0,"]);
    let merged = dir.path().join("merged.csv");
    sweep(&["merge", s(&s0), s(&s1), "-o", s(&merged)])
        .assert()
        .code(0);
    let later = csv(&dir, "later.csv", &["10.0.0.2,up,1.500,64,10.0.0.2,1,0,"]);
    let out = dir.path().join("changes.csv");
    sweep(&["diff", s(&merged), s(&later), "-o", s(&out)])
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty());
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        text(DIFF_HEADER, &["10.0.0.1,disappeared,up,down,1.000,,64,,,"])
    );
}

#[test]
fn dash_reads_stdin() {
    let dir = TempDir::new().unwrap();
    let old = csv(&dir, "old.csv", &["10.0.0.1,up,1.000,64,10.0.0.1,1,0,"]);
    sweep(&["diff", s(&old), "-"])
        .write_stdin(text(V1_HEADER, &["10.0.0.2,up,2.000,64,10.0.0.2,1,0,"]))
        .assert()
        .code(1)
        .stdout(text(
            DIFF_HEADER,
            &[
                "10.0.0.1,disappeared,up,down,1.000,,64,,,",
                "10.0.0.2,appeared,down,up,,2.000,,64,,",
            ],
        ));
    let out = sweep(&["merge", "-", s(&old)])
        .write_stdin(text(
            V1_HEADER,
            &["10.0.0.0,down,,,,3,0,", "10.0.0.1,bad,,,,3,0,"],
        ))
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("sweep: (stdin):3: invalid status 'bad'"),
        "{stderr}"
    );
}

#[test]
fn diff_accepts_different_column_sets() {
    let dir = TempDir::new().unwrap();
    let old = csv_with(&dir, "old.csv", "addr,status", &["10.0.0.1,up"]);
    let new = csv_with(
        &dir,
        "new.csv",
        &format!("{V1_HEADER},seen_at,hostname"),
        &["10.0.0.1,up,1.000,64,10.0.0.1,1,0,,2030-01-01T00:00:00Z,one.example"],
    );
    prints(&["diff", s(&old), s(&new)], 0, DIFF_HEADER, &[]);
    input_error(
        &["diff", s(&old), s(&new), "--rtt-change", "5"],
        2,
        &["old.csv", "rtt_ms"],
    );
}

#[test]
fn diff_input_errors_exit_2() {
    let dir = TempDir::new().unwrap();
    let (old, new) = old_new(&dir);
    input_error(
        &["diff", s(&old), s(&new), "--rtt-change", "soon"],
        2,
        &["--rtt-change", "'soon'"],
    );
    input_error(
        &["diff", s(&old), s(&new), "--rtt-change", "0"],
        2,
        &["'0'"],
    );
    input_error(
        &["diff", s(&old), "/nonexistent-dir/new.csv"],
        2,
        &["/nonexistent-dir/new.csv"],
    );
    let bad = csv(&dir, "bad.csv", &["10.0.0.1,up,1.000,,10.0.0.1,1,0,"]);
    failure(&["diff", s(&old), s(&bad)], 2, &["bad.csv:2", "ttl"]);
    let unsorted = csv(
        &dir,
        "unsorted.csv",
        &["10.0.0.2,down,,,,3,0,", "10.0.0.1,down,,,,3,0,"],
    );
    failure(
        &["diff", s(&unsorted), s(&new)],
        2,
        &["unsorted.csv:3", "out of order"],
    );
    input_error(&["diff", s(&old)], 2, &["NEW"]);
    sweep(&["diff", "--help"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("rtt-changed"));
}

#[test]
fn scans_are_not_mistaken_for_subcommands() {
    // `merge` anywhere but first is a scan target, handled (and rejected) by the scan parser.
    input_error(&["--rate", "fast", "merge"], 2, &["'fast'"]);
}

// --- IPv6 ------------------------------------------------------------------------------
// sweep writes every IPv4 row first (numeric order), then every IPv6 row (numeric order),
// IPv6 in Rust's `Ipv6Addr` display form (RFC 5952). String order differs from numeric
// order in both families: 10.0.0.9 < 10.0.0.10, 2001:db8::9 < 2001:db8::10, and
// 2001:db8::ffff < 2001:db8:1::.

#[test]
fn merge_of_an_ipv4_file_and_an_ipv6_file_puts_ipv4_first() {
    let dir = TempDir::new().unwrap();
    let v6 = csv(
        &dir,
        "v6.csv",
        &[
            "::1,down,,,,3,0,",
            "2001:db8::9,up,0.500,64,2001:db8::9,1,0,",
            "2001:db8::10,unreachable,,,2001:db8:ff::1,3,0,addr-unreachable",
            "2001:db8::ffff,down,,,,3,0,",
            "2001:db8:1::,up,1.500,63,2001:db8:1::,2,0,",
        ],
    );
    let v4 = csv(
        &dir,
        "v4.csv",
        &[
            "10.0.0.9,up,1.000,64,10.0.0.9,1,0,",
            "10.0.0.10,down,,,,3,0,",
            "255.255.255.255,down,,,,3,0,",
        ],
    );
    let want = text(
        V1_HEADER,
        &[
            "10.0.0.9,up,1.000,64,10.0.0.9,1,0,",
            "10.0.0.10,down,,,,3,0,",
            "255.255.255.255,down,,,,3,0,",
            "::1,down,,,,3,0,",
            "2001:db8::9,up,0.500,64,2001:db8::9,1,0,",
            "2001:db8::10,unreachable,,,2001:db8:ff::1,3,0,addr-unreachable",
            "2001:db8::ffff,down,,,,3,0,",
            "2001:db8:1::,up,1.500,63,2001:db8:1::,2,0,",
        ],
    );
    // Input order does not matter.
    for args in [[s(&v6), s(&v4)], [s(&v4), s(&v6)]] {
        sweep(&["merge", args[0], args[1]])
            .assert()
            .code(0)
            .stderr(predicate::str::is_empty())
            .stdout(want.clone());
    }
    // The merged file is itself a valid, sorted input.
    let merged = dir.path().join("merged.csv");
    sweep(&["merge", s(&v6), s(&v4), "-o", s(&merged)])
        .assert()
        .code(0);
    sweep(&["merge", s(&merged)]).assert().code(0).stdout(want);
}

#[test]
fn merge_of_mixed_family_files_combines_within_each_family() {
    let dir = TempDir::new().unwrap();
    let run1 = csv(
        &dir,
        "run1.csv",
        &[
            "10.0.0.1,down,,,,3,0,",
            "10.0.0.10,up,1.000,64,10.0.0.10,1,0,",
            "::a00:1,down,,,,3,0,",
            "2001:db8::1,down,,,,3,0,",
            "2001:db8::2,unreachable,,,fe80::1,3,0,no-route",
            "2001:db8::10,up,2.000,64,2001:db8::10,1,0,",
        ],
    );
    let run2 = csv(
        &dir,
        "run2.csv",
        &[
            "10.0.0.1,unreachable,,,192.0.2.1,3,0,host-unreachable",
            "10.0.0.9,down,,,,3,0,",
            "::a00:1,up,0.100,64,::a00:1,1,0,",
            "2001:db8::1,unreachable,,,2001:db8:ff::1,3,0,addr-unreachable",
            "2001:db8::2,up,3.000,61,2001:db8::2,2,1,",
            "2001:db8::9,down,,,,3,0,",
            "2001:db8::10,up,9.000,64,2001:db8::10,1,0,",
        ],
    );
    prints(
        &["merge", s(&run1), s(&run2)],
        0,
        V1_HEADER,
        &[
            "10.0.0.1,unreachable,,,192.0.2.1,6,0,host-unreachable",
            "10.0.0.9,down,,,,3,0,",
            "10.0.0.10,up,1.000,64,10.0.0.10,1,0,",
            // ::a00:1 holds the same number as 10.0.0.1 but is another host.
            "::a00:1,up,0.100,64,::a00:1,4,0,",
            "2001:db8::1,unreachable,,,2001:db8:ff::1,6,0,addr-unreachable",
            "2001:db8::2,up,3.000,61,2001:db8::2,5,1,",
            "2001:db8::9,down,,,,3,0,",
            "2001:db8::10,up,2.000,64,2001:db8::10,2,0,",
        ],
    )
    .stderr(predicate::str::is_empty());
}

#[test]
fn merge_writes_ipv6_compressed_and_joins_spellings() {
    let dir = TempDir::new().unwrap();
    let a = csv(
        &dir,
        "a.csv",
        &["2001:0db8:0000:0000:0000:0000:0000:0001,up,1.000,64,2001:DB8::1,1,0,"],
    );
    let b = csv(&dir, "b.csv", &["2001:db8::1,down,,,,3,0,"]);
    prints(
        &["merge", s(&a), s(&b)],
        0,
        V1_HEADER,
        &["2001:db8::1,up,1.000,64,2001:db8::1,4,0,"],
    );
}

#[test]
fn sortedness_is_checked_across_the_ipv4_to_ipv6_boundary() {
    let dir = TempDir::new().unwrap();
    let good = csv(
        &dir,
        "good.csv",
        &["10.0.0.1,down,,,,3,0,", "::1,down,,,,3,0,"],
    );
    let v4_after_v6 = csv(
        &dir,
        "late.csv",
        &["::,down,,,,3,0,", "255.255.255.255,down,,,,3,0,"],
    );
    failure(
        &["merge", s(&good), s(&v4_after_v6)],
        2,
        &[
            "late.csv:3",
            "'255.255.255.255'",
            "out of order",
            "IPv4 after IPv6",
        ],
    );
    failure(
        &["diff", s(&v4_after_v6), s(&good)],
        2,
        &["late.csv:3", "out of order"],
    );
    // Numeric, not string, order within IPv6.
    for (name, rows) in [
        (
            "v6str.csv",
            ["2001:db8::10,down,,,,3,0,", "2001:db8::9,down,,,,3,0,"],
        ),
        (
            "v6str2.csv",
            ["2001:db8:1::,down,,,,3,0,", "2001:db8::ffff,down,,,,3,0,"],
        ),
    ] {
        let p = csv(&dir, name, &rows);
        failure(
            &["merge", s(&good), s(&p)],
            2,
            &[&format!("{name}:3"), "out of order"],
        );
    }
    let twice = csv(
        &dir,
        "twice.csv",
        &["2001:db8::1,down,,,,3,0,", "2001:DB8:0::1,down,,,,3,0,"],
    );
    failure(
        &["merge", s(&twice)],
        2,
        &["twice.csv:3", "'2001:db8::1'", "twice"],
    );
    // Rows that do ascend across the boundary, incl. the extremes, are accepted.
    let edges = csv(
        &dir,
        "edges.csv",
        &[
            "0.0.0.0,down,,,,3,0,",
            "255.255.255.255,down,,,,3,0,",
            "::,down,,,,3,0,",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff,down,,,,3,0,",
        ],
    );
    sweep(&["merge", s(&edges)]).assert().code(1);
}

#[test]
fn merge_rejects_bad_ipv6_tokens() {
    let dir = TempDir::new().unwrap();
    let good = csv(&dir, "good.csv", &["10.0.0.1,down,,,,3,0,"]);
    rejects_bad_rows(
        &dir,
        s(&good),
        "2001:db8::2,down,,,,3,0,",
        &[
            ("2001:db8::g,down,,,,3,0,", "'2001:db8::g'"),
            ("2001:db8:::1,down,,,,3,0,", "'2001:db8:::1'"),
            ("fe80::1%eth0,down,,,,3,0,", "'fe80::1%eth0'"),
            (
                "2001:db8::3,unreachable,,,fe80::zz,3,0,no-route",
                "'fe80::zz'",
            ),
        ],
    );
}

#[test]
fn diff_reports_ipv6_hosts_appearing_and_disappearing() {
    let dir = TempDir::new().unwrap();
    let old = csv(
        &dir,
        "old.csv",
        &[
            "10.0.0.1,up,1.000,64,10.0.0.1,1,0,",
            "10.0.0.9,up,1.000,64,10.0.0.9,1,0,", // disappears
            "10.0.0.10,down,,,,3,0,",
            "::ffff:10.0.0.9,down,,,,3,0,",
            "2001:db8::1,up,1.000,64,2001:db8::1,1,0,", // disappears (down in new)
            "2001:db8::2,up,1.000,64,2001:db8::2,1,0,", // unreachable via a v6 router
            "2001:db8::9,down,,,,3,0,",                 // becomes unreachable
            "2001:db8::a,up,2.000,64,2001:db8::a,1,0,", // rtt 2 → 30
            "2001:db8::10,down,,,,3,0,",
            "2001:db8::ffff,unreachable,,,fe80::1,3,0,no-route", // comes up
            "2001:db8:1::,down,,,,3,0,",
        ],
    );
    let new = csv(
        &dir,
        "new.csv",
        &[
            "10.0.0.1,up,1.000,64,10.0.0.1,1,0,",
            "10.0.0.9,down,,,,3,0,",
            "10.0.0.10,up,1.000,64,10.0.0.10,1,0,", // appears
            "::ffff:10.0.0.9,up,1.000,64,::ffff:10.0.0.9,1,0,", // appears: not 10.0.0.9
            "2001:db8::1,down,,,,3,0,",
            "2001:db8::2,unreachable,,,2001:db8:ff::1,3,0,addr-unreachable",
            "2001:db8::9,unreachable,,,fe80::1,3,0,no-route",
            "2001:db8::a,up,30.000,60,2001:db8::a,1,0,",
            "2001:db8::10,up,0.250,64,2001:db8::10,1,0,", // appears
            "2001:db8::ffff,up,0.500,63,2001:db8::ffff,1,0,",
            "2001:db8:1::,up,4.000,64,2001:db8:1::,1,0,", // appears
        ],
    );
    prints(
        &["diff", s(&old), s(&new), "--rtt-change", "10"],
        1,
        DIFF_HEADER,
        &[
            "10.0.0.9,disappeared,up,down,1.000,,64,,,",
            "10.0.0.10,appeared,down,up,,1.000,,64,,",
            "::ffff:10.0.0.9,appeared,down,up,,1.000,,64,,",
            "2001:db8::1,disappeared,up,down,1.000,,64,,,",
            "2001:db8::2,disappeared,up,unreachable,1.000,,64,,,",
            "2001:db8::9,status-changed,down,unreachable,,,,,,",
            "2001:db8::a,rtt-changed,up,up,2.000,30.000,64,60,,",
            "2001:db8::10,appeared,down,up,,0.250,,64,,",
            "2001:db8::ffff,appeared,unreachable,up,,0.500,,63,,",
            "2001:db8:1::,appeared,down,up,,4.000,,64,,",
        ],
    )
    .stderr(predicate::str::is_empty());
    prints(&["diff", s(&new), s(&new)], 0, DIFF_HEADER, &[]);
}

#[test]
fn diff_of_an_ipv4_run_against_an_ipv6_run() {
    let dir = TempDir::new().unwrap();
    let v4 = csv(&dir, "v4.csv", &["10.0.0.1,up,1.000,64,10.0.0.1,1,0,"]);
    let v6 = csv(&dir, "v6.csv", &["::a00:1,up,2.000,64,::a00:1,1,0,"]);
    prints(
        &["diff", s(&v6), s(&v4)],
        1,
        DIFF_HEADER,
        &[
            "10.0.0.1,appeared,down,up,,1.000,,64,,",
            "::a00:1,disappeared,up,down,2.000,,64,,,",
        ],
    );
}

#[test]
fn help_states_the_address_order() {
    for cmd in ["merge", "diff"] {
        sweep(&[cmd, "--help"])
            .assert()
            .code(0)
            .stdout(predicate::str::contains("IPv4, then IPv6"));
    }
}

#[test]
fn write_failures_after_reading_exit_3_with_one_line() {
    let dir = TempDir::new().unwrap();
    let a = csv(&dir, "a.csv", &["10.0.0.2,up,1.000,64,10.0.0.2,1,0,"]);
    failure(&["merge", s(&a), "-o", "/dev/full"], 3, &["/dev/full"]);
    failure(
        &["diff", s(&a), s(&a), "-o", "/dev/full"],
        3,
        &["/dev/full"],
    );
    // stdout on a full device too.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = std::process::Command::new(common::sweep_bin())
        .args(["merge", s(&a)])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    one_line_naming(
        &String::from_utf8_lossy(&out.stderr),
        &["writing results failed"],
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn symlinked_output_replaces_the_target_and_keeps_the_link() {
    let dir = TempDir::new().unwrap();
    let a = csv(&dir, "a.csv", &["10.0.0.2,up,1.000,64,10.0.0.2,1,0,"]);
    let sub = dir.path().join("results");
    std::fs::create_dir(&sub).unwrap();
    let target = sub.join("all.csv");
    std::fs::write(&target, "old").unwrap();
    let link = dir.path().join("latest.csv");
    std::os::unix::fs::symlink("results/all.csv", &link).unwrap();
    sweep(&["merge", s(&a), "-o", s(&link)]).assert().code(0);
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        text(V1_HEADER, &["10.0.0.2,up,1.000,64,10.0.0.2,1,0,"])
    );
    assert_eq!(file_names(&sub).unwrap(), ["all.csv"], "no temp file left");
}

#[test]
fn output_through_a_link_to_stdout_reaches_the_redirect() {
    // `-o LINK`, LINK → /proc/self/fd/1, stdout redirected to a file: the bytes reach the
    // file and LINK stays a link (a rename used to replace it and leave the file empty).
    let dir = TempDir::new().unwrap();
    let a = csv(&dir, "a.csv", &["10.0.0.2,up,1.000,64,10.0.0.2,1,0,"]);
    for via in ["/proc/self/fd/1", "/dev/stdout"] {
        let link = dir.path().join("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(via, &link).unwrap();
        let redirect = dir.path().join("redirect.csv");
        let f = std::fs::File::create(&redirect).unwrap();
        let st = std::process::Command::new(common::sweep_bin())
            .args(["merge", s(&a), "-o", s(&link)])
            .stdout(f)
            .status()
            .unwrap();
        assert_eq!(st.code(), Some(0), "via {via}");
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            std::fs::read_to_string(&redirect).unwrap(),
            text(V1_HEADER, &["10.0.0.2,up,1.000,64,10.0.0.2,1,0,"]),
            "via {via}"
        );
    }
    input_error(
        &["merge", s(&a), "-o", "/dev/sweep-merge-test.csv"],
        2,
        &["/dev/sweep-merge-test.csv", "will not create"],
    );
    assert!(!std::path::Path::new("/dev/sweep-merge-test.csv").exists());
}

#[test]
fn report_writes_one_page_and_bad_input_leaves_no_file() {
    let dir = TempDir::new().unwrap();
    let a = csv(&dir, "a.csv", &["10.0.0.1,up,1.000,64,10.0.0.1,1,0,"]);
    let b = csv(&dir, "b.csv", &["10.0.0.2,down,,,,1,0,"]);
    let page = dir.path().join("report.html");
    sweep(&["report", s(&a), s(&b), "-o", s(&page)])
        .assert()
        .code(0)
        .stdout("");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    assert!(
        html.contains("<dd id=\"up-count\">1</dd>"),
        "merged: one up"
    );
    assert!(html.contains("<dd id=\"down-count\">1</dd>"));
    // Nothing up: exit 1, as merge.
    sweep(&["report", s(&b)]).assert().code(1);
    // A bad row: one line naming file, line and token; no page left behind.
    let bad = csv(&dir, "bad.csv", &["10.0.0.3,maybe,,,,1,0,"]);
    let out = dir.path().join("bad.html");
    input_error(
        &["report", s(&bad), "-o", s(&out)],
        2,
        &["bad.csv", ":2", "'maybe'"],
    );
    assert!(!out.exists());
}

/// Issue 30, item 7: a run over .1-.5 against one over .3-.8, both with --all: only
/// .3-.5, which both scanned, are judged; the rest is one stderr line per side saying how
/// many were not judged and why, and is neither a change nor in the exit status.
#[test]
fn diff_judges_only_addresses_both_runs_scanned() {
    let dir = TempDir::new().unwrap();
    let old = csv(
        &dir,
        "old.csv",
        &[
            "10.0.0.1,up,1.000,64,10.0.0.1,1,0,",
            "10.0.0.2,down,,,,2,0,",
            "10.0.0.3,up,1.000,64,10.0.0.3,1,0,",
            "10.0.0.4,down,,,,2,0,",
            "10.0.0.5,up,1.000,64,10.0.0.5,1,0,",
        ],
    );
    let new = csv(
        &dir,
        "new.csv",
        &[
            "10.0.0.3,up,1.000,64,10.0.0.3,1,0,",
            "10.0.0.4,down,,,,2,0,",
            "10.0.0.5,up,1.000,64,10.0.0.5,1,0,",
            "10.0.0.6,up,1.000,64,10.0.0.6,1,0,",
            "10.0.0.7,down,,,,2,0,",
            "10.0.0.8,up,1.000,64,10.0.0.8,1,0,",
        ],
    );
    let a = prints(&["diff", s(&old), s(&new)], 0, DIFF_HEADER, &[]);
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with("sweep: diff: 2 addresses only in OLD not judged (10.0.0.1, …)"),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with("sweep: diff: 3 addresses only in NEW not judged (10.0.0.6, …)"),
        "{stderr}"
    );
    // A change where both scanned is still one (exit 1), and the rest still not judged.
    let newer = csv(
        &dir,
        "newer.csv",
        &[
            "10.0.0.3,down,,,,2,0,",
            "10.0.0.4,down,,,,2,0,",
            "10.0.0.6,up,1.000,64,10.0.0.6,1,0,",
        ],
    );
    prints(
        &["diff", s(&old), s(&newer)],
        1,
        DIFF_HEADER,
        &["10.0.0.3,disappeared,up,down,1.000,,64,,,"],
    );
    // Without --all (only rows up) a file says nothing of what it scanned: an address
    // missing from it is down there, as before.
    let up_only = csv(&dir, "up.csv", &["10.0.0.6,up,1.000,64,10.0.0.6,1,0,"]);
    prints(
        &["diff", s(&old), s(&up_only)],
        1,
        DIFF_HEADER,
        &[
            "10.0.0.1,disappeared,up,down,1.000,,64,,,",
            "10.0.0.3,disappeared,up,down,1.000,,64,,,",
            "10.0.0.5,disappeared,up,down,1.000,,64,,,",
        ],
    );
}

/// A FIFO (`sweep diff old.csv <(…)`) is read once: taken as hosts up only, never read
/// ahead to see whether it lists every target, which would swallow its rows.
#[test]
fn diff_reads_a_fifo_once() {
    let dir = TempDir::new().unwrap();
    let old = csv(&dir, "old.csv", &["10.0.0.1,up,1.000,64,10.0.0.1,1,0,"]);
    let fifo = dir.path().join("new.fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    let body = text(
        V1_HEADER,
        &[
            "10.0.0.1,down,,,,2,0,",
            "10.0.0.2,up,2.000,64,10.0.0.2,1,0,",
        ],
    );
    let path = fifo.clone();
    let writer = std::thread::spawn(move || std::fs::write(path, body));
    prints(
        &["diff", s(&old), s(&fifo)],
        1,
        DIFF_HEADER,
        &[
            "10.0.0.1,disappeared,up,down,1.000,,64,,,",
            "10.0.0.2,appeared,down,up,,2.000,,64,,",
        ],
    );
    writer.join().unwrap().unwrap();
}
