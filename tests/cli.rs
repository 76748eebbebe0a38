//! Command-line contract: input errors exit 2 with a one-line `sweep: `
//! message, before anything is sent. No root needed.
//!
//! Every run is boxed where the machine allows it (see `isolated`): a fresh,
//! empty network namespace, so even a sweep that wrongly started probing
//! could reach nothing, and name lookups that use /etc/hosts only, so
//! `no-such-host.invalid` never becomes a DNS query.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use assert_cmd::assert::Assert;
use common::{one_line_naming, sweep_bin};
use predicates::prelude::*;

/// `unshare` arguments that work here, probed once: user+mount+net
/// namespaces (works unprivileged where user namespaces are allowed), or the
/// same without the user namespace when root. None: run unboxed.
fn isolation() -> Option<&'static [&'static str]> {
    static PROBE: OnceLock<Option<&'static [&'static str]>> = OnceLock::new();
    *PROBE.get_or_init(|| {
        const CANDIDATES: [&[&str]; 2] = [&["-r", "-m", "-n"], &["-m", "-n"]];
        CANDIDATES.into_iter().find(|flags| {
            Command::new("unshare")
                .args(*flags)
                .args(["sh", "-c", "mount --bind /dev/null /dev/null"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
    })
}

fn nsswitch_files_only() -> &'static Path {
    static FILE: OnceLock<tempfile::NamedTempFile> = OnceLock::new();
    FILE.get_or_init(|| {
        let f = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(f.path(), "hosts: files\n").expect("write nsswitch");
        f
    })
    .path()
}

/// sweep with `args`, boxed when possible.
fn sweep(args: &[&str]) -> assert_cmd::Command {
    let cmd = match isolation() {
        Some(flags) => {
            let mut c = Command::new("unshare");
            c.args(flags).args([
                "sh",
                "-c",
                "mount --bind \"$0\" /etc/nsswitch.conf && exec \"$@\"",
            ]);
            c.arg(nsswitch_files_only()).arg(sweep_bin()).args(args);
            c
        }
        None => {
            let mut c = Command::new(sweep_bin());
            c.args(args);
            c
        }
    };
    let mut cmd = assert_cmd::Command::from_std(cmd);
    cmd.timeout(std::time::Duration::from_secs(30));
    cmd
}

/// Exit 2, nothing on stdout, one stderr line `sweep: ...` naming `token`.
fn input_error(args: &[&str], token: &str) -> Assert {
    let a = sweep(args)
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty());
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    one_line_naming(&stderr, &[token]).unwrap_or_else(|e| panic!("{e}"));
    a
}

#[test]
fn malformed_cidr_is_usage_error() {
    input_error(&["10.0.0.0/33"], "10.0.0.0/33");
}

#[test]
fn malformed_cidr_among_good_targets_is_usage_error() {
    input_error(&["127.0.0.1", "10.0.0.0/33", "127.0.0.2"], "10.0.0.0/33");
}

#[test]
fn ipv6_prefix_beyond_2_pow_24_is_usage_error() {
    input_error(&["2001:2::/64"], "2001:2::/64");
}

#[test]
fn malformed_ipv6_is_usage_error() {
    input_error(&["2001:2::x"], "2001:2::x");
}

#[test]
fn unresolvable_hostname_is_usage_error() {
    input_error(&["no-such-host.invalid"], "no-such-host.invalid");
}

#[test]
fn unreadable_target_file_is_usage_error() {
    input_error(
        &["-f", "/nonexistent-dir/targets.txt"],
        "/nonexistent-dir/targets.txt",
    );
}

#[test]
fn unwritable_output_is_usage_error_and_creates_nothing() {
    let out = "/nonexistent-dir/x.csv";
    input_error(&["127.0.0.1", "-o", out], out);
    assert!(!Path::new(out).exists());
}

#[test]
fn unknown_flag_is_usage_error() {
    // A flag no version of sweep will grow (--shard, once the example, now exists).
    sweep(&["--frobnicate", "1/2", "127.0.0.1"])
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("--frobnicate"));
}

#[test]
fn help_exits_0() {
    sweep(&["--help"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("Usage"));
}

#[test]
fn damaged_state_file_is_usage_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("x.state");
    // Non-ASCII in the bitmap once panicked on a char boundary.
    std::fs::write(
        &state,
        "sweep-state v2\nseed 1\nfingerprint 0000000000000001\nround 0\nposition 0\n\
         targets 1\nanswered é\nchecksum 00000000\n",
    )
    .expect("write state");
    let p = state.to_str().expect("utf-8 path");
    let a = input_error(&["127.0.0.1", "--resume", p], p);
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(stderr.contains("checksum"), "{stderr}");
    input_error(&["127.0.0.1", "--resume", "/dev/zero"], "/dev/zero");
}

#[test]
fn output_in_dev_is_never_created() {
    let out = "/dev/sweep-cli-test.csv";
    input_error(&["127.0.0.1", "-o", out], out);
    assert!(!Path::new(out).exists());
}

/// Issue 30, item 10: an output that opens but takes no write (/proc/version) fails
/// before the first probe, exit 2 naming it, and leaves no state file anywhere.
#[test]
fn output_that_refuses_writes_fails_before_probing_and_leaves_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = dir.path().join("state");
    let mut cmd = sweep(&["127.0.0.1", "-o", "/proc/version"]);
    cmd.current_dir(dir.path()).env("XDG_STATE_HOME", &state);
    let a = cmd.assert().code(2).stdout(predicate::str::is_empty());
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    one_line_naming(&stderr, &["/proc/version"]).unwrap_or_else(|e| panic!("{e}"));
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn endless_target_file_fails_fast() {
    let start = std::time::Instant::now();
    let a = input_error(&["-f", "/dev/zero"], "/dev/zero");
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(stderr.contains("longer than 4096 bytes"), "{stderr}");
    input_error(&["127.0.0.1", "--exclude-file", "/dev/zero"], "/dev/zero");
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn dos_and_ping_style_help_flags_print_usage_and_exit_0() {
    for flag in ["-h", "-?", "/?"] {
        sweep(&[flag])
            .assert()
            .code(0)
            .stdout(predicate::str::contains("Usage: sweep"))
            .stderr(predicate::str::is_empty());
    }
}

#[test]
fn bare_sweep_prints_a_short_usage_and_exits_2() {
    let a = sweep(&[])
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty());
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(stderr.starts_with("Usage: sweep"), "{stderr}");
    assert!(stderr.contains("--help"), "{stderr}");
    assert!(stderr.lines().count() <= 4, "not short: {stderr}");
    // And --help says so.
    sweep(&["--help"])
        .assert()
        .stdout(predicate::str::contains("also a bare `sweep`"));
}

#[test]
fn bare_durations_get_the_unit_suggested() {
    input_error(&["127.0.0.1", "--timeout", "500"], "did you mean 500ms?");
    input_error(
        &["127.0.0.1", "--rdns", "--rdns-timeout", "3"],
        "did you mean 3s?",
    );
}

#[test]
fn impossible_name_in_a_target_file_is_usage_error_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("targets.txt");
    std::fs::write(&f, "127.0.0.1\nbogus..target\n").unwrap();
    let a = input_error(&["-f", f.to_str().unwrap()], "bogus..target");
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(stderr.contains("targets.txt:2:"), "{stderr}");
    input_error(&["127.0.0.1", &"a".repeat(64)], "at most 63");
}

#[test]
fn nmap_octet_ranges_are_accepted_not_resolved() {
    // Nothing is sent: a bad octet is exit 2 naming it; good forms get past the targets to
    // the output check (an unwritable -o, refused before any socket opens).
    input_error(&["127.0.0.1-256"], "'256'");
    for form in ["127.0.0-1.1-3", "127.0.0.*", "127.0.0.1-254"] {
        input_error(
            &[form, "-o", "/nonexistent-dir/out.csv"],
            "/nonexistent-dir/out.csv",
        );
    }
}

#[test]
fn every_duration_flag_takes_minutes_and_states_its_bounds() {
    // Parsed before anything is sent: an out-of-range value is exit 2 naming the range.
    input_error(&["127.0.0.1", "--timeout", "5m"], "between 1ms and 268s");
    input_error(
        &["127.0.0.1", "-c", "2", "--period", "2h"],
        "between 10ms and 1h",
    );
    input_error(&["127.0.0.1", "--every", "50ms"], "between 100ms and 168h");
}

#[test]
fn excludefile_is_an_alias_of_exclude_file() {
    // Read as a file (an unreadable one: exit 2 naming it), not an unknown flag.
    let f = "/nonexistent-dir/ex.txt";
    input_error(&["127.0.0.1", "--excludefile", f], f);
}

fn generated(args: &[&str]) -> String {
    let out = sweep(args).assert().code(0).get_output().stdout.clone();
    String::from_utf8(out).expect("UTF-8")
}

#[test]
fn bash_completion_parses() {
    let script = generated(&["completions", "bash"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sweep.bash");
    std::fs::write(&path, &script).expect("write");
    let st = Command::new("bash")
        .arg("-n")
        .arg(&path)
        .status()
        .expect("bash");
    assert!(st.success(), "bash -n rejects the completion script");
    for word in ["--summary-json", "--strict-names", "merge", "completions"] {
        assert!(script.contains(word), "{word} not completed");
    }
    // A shell that is not offered is a usage error.
    input_error(&["completions", "tcsh"], "tcsh");
    for shell in ["zsh", "fish"] {
        assert!(generated(&["completions", shell]).contains("summary-json"));
    }
}

#[test]
fn man_page_has_every_long_option_of_the_help() {
    let help = generated(&["--help"]);
    let page = generated(&["man"]);
    assert!(
        page.starts_with(".ie") || page.contains(".TH sweep 1"),
        "not roff"
    );
    let mut longs: Vec<&str> = help
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .collect();
    longs.sort_unstable();
    longs.dedup();
    assert!(longs.len() > 25, "{longs:?}");
    for long in longs {
        // roff writes '-' as '\-'.
        let roff = long.replace('-', "\\-");
        assert!(
            page.contains(&roff),
            "{long} is in --help but not in the man page"
        );
    }
    for sub in ["merge", "diff"] {
        let p = generated(&["man", sub]);
        assert!(p.contains(&format!("sweep\\-{sub}")), "{sub} page");
    }
}

#[test]
fn each_subcommand_has_its_own_help_and_version() {
    for sub in ["merge", "diff", "report", "completions", "man"] {
        for flag in ["--help", "-h", "-?", "/?"] {
            sweep(&[sub, flag])
                .assert()
                .code(0)
                .stdout(predicate::str::contains(format!("Usage: sweep {sub}")))
                .stderr(predicate::str::is_empty());
        }
        sweep(&[sub, "--version"])
            .assert()
            .code(0)
            .stdout(predicate::str::contains(env!("CARGO_PKG_VERSION")));
    }
    sweep(&["--version"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(env!("CARGO_PKG_VERSION")));
    // The scan's help lists the subcommands, and how to scan a host named like one.
    sweep(&["--help"]).assert().code(0).stdout(
        predicate::str::contains("Commands:")
            .and(predicate::str::contains("completions"))
            .and(predicate::str::contains("sweep -- merge")),
    );
}

#[test]
fn subcommand_usage_errors_are_one_line_pointing_at_their_help() {
    for (args, token) in [
        (&["diff", "a.csv"][..], "<NEW>"),
        (&["completions"][..], "<SHELL>"),
        (&["man", "frobnicate"][..], "frobnicate"),
        // A scan option is not merge's.
        (&["merge", "--all", "a.csv"][..], "--all"),
    ] {
        let a = input_error(args, token);
        let stderr = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
        let see = format!("(see sweep {} --help)", args[0]);
        assert!(stderr.trim_end().ends_with(&see), "{stderr}");
    }
    // The scan's own usage errors point at the scan's help.
    let a = input_error(&["--frobnicate", "127.0.0.1"], "--frobnicate");
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(stderr.trim_end().ends_with("(see --help)"), "{stderr}");
}

/// Issue 30, item 2: nmap's output flags sweep does not write are refused by name, in
/// the working directory nothing is created (no file `N`), and the file after the flag
/// is never taken for a target, nor is any file's name.
#[test]
fn nmaps_other_output_flags_are_refused_naming_the_right_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (flag, right) in [
        ("-oN", "-oG FILE"),
        ("-oS", "-o FILE"),
        ("-oA", "-oX BASE.xml"),
    ] {
        let mut cmd = sweep(&["127.0.0.1", flag, "x.txt"]);
        cmd.current_dir(dir.path());
        let a = cmd.assert().code(2).stdout(predicate::str::is_empty());
        let stderr = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
        one_line_naming(&stderr, &[flag, right]).unwrap_or_else(|e| panic!("{e}"));
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    // A file's name where a target goes: exit 2 before any lookup, saying what to use.
    input_error(&["127.0.0.1", "x.txt"], "-f x.txt");
    input_error(&["127.0.0.1", "hosts.CSV"], "-o hosts.CSV");
}

/// Issue 30, item 8: `127.0.0.1-` (a range whose end was lost) is refused, with the
/// whole block's spelling suggested, instead of scanning .1-.255.
#[test]
fn a_range_with_no_end_is_refused_with_a_hint() {
    input_error(&["127.0.0.1-"], "127.0.0.1-255");
}

/// Issue 30, item 5: a misspelt flag or value gets clap's suggestion, a value not in the
/// list gets the list, and `--rate -5` is a value out of range, each on one line, exit 2.
#[test]
fn misspellings_are_suggested_and_values_listed() {
    input_error(&["--rates", "100", "127.0.0.1"], "did you mean '--rate'?");
    input_error(&["--retry", "2", "127.0.0.1"], "did you mean '--retries'?");
    input_error(
        &["--format", "yaml", "127.0.0.1"],
        "one of csv, json, ndjson, prometheus, nmap-xml, html, grepable",
    );
    input_error(&["--rate", "-5", "127.0.0.1"], "must be between 1 and");
    // A value's case does not matter: CSV is csv (here stopped at the unwritable -o).
    input_error(
        &[
            "--format",
            "CSV",
            "127.0.0.1",
            "-o",
            "/nonexistent-dir/x.csv",
        ],
        "/nonexistent-dir/x.csv",
    );
}

/// Issue 30, item 9: `sweep man` has an EXIT STATUS section (not the codes run into the
/// notes), every subcommand it lists has a page `sweep man NAME` makes, and `report` is
/// in the bare usage.
#[test]
fn man_pages_have_exit_status_and_every_listed_subcommand_has_one() {
    let page = generated(&["man"]);
    assert!(page.contains(".SH \"EXIT STATUS\""), "{page}");
    assert!(page.contains(".TP\n130\ninterrupted"), "{page}");
    for sub in ["merge", "diff", "report", "completions", "man"] {
        assert!(page.contains(&format!("sweep\\-{sub}(1)")), "{sub}");
        let own = generated(&["man", sub]);
        assert!(own.contains(&format!(".TH sweep-{sub} 1")), "{sub}: {own}");
        assert!(own.contains(".SH \"EXIT STATUS\""), "{sub}: {own}");
    }
    let a = sweep(&[]).assert().code(2);
    let usage = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        usage.contains("merge|diff|report|completions|man"),
        "{usage}"
    );
}
