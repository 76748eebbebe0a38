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

#[test]
fn endless_target_file_fails_fast() {
    let start = std::time::Instant::now();
    let a = input_error(&["-f", "/dev/zero"], "/dev/zero");
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(stderr.contains("longer than 4096 bytes"), "{stderr}");
    input_error(&["127.0.0.1", "--exclude-file", "/dev/zero"], "/dev/zero");
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
}
