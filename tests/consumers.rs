//! The ecosystem's real readers of sweep's output: nmap's XML checked against nmap's own
//! DTD (`xmllint --dtdvalid`), compared by `ndiff` with `nmap -sn -n -oX` of the same lab
//! (routed and on-link), and parsed by python-libnmap. Each lab test runs in its own
//! namespaces (run under `flock /tmp/sweep-lab.lock`). Reported ignored when root, a
//! namespace or a tool is missing, failed instead with SWEEP_REQUIRE_LAB=1 (CI installs
//! nmap, ndiff, python3-libnmap and libxml2-utils).

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::{ensure, lab_trial, out_dir, path_str as s, read_csv, run_trials, Lab, LabOpts, Need};
use libtest_mimic::{Completion, Failed, Trial};

const DTD: &str = "/usr/share/nmap/nmap.dtd";

fn main() {
    run_trials(vec![
        with_tools(
            "nmap_xml_routed_lab_matches_nmap",
            &["nmap", "ndiff", "xmllint"],
            routed,
        ),
        with_tools(
            "nmap_xml_onlink_lab_matches_nmap",
            &["nmap", "ndiff", "xmllint"],
            onlink,
        ),
    ])
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn have_libnmap() -> bool {
    Command::new("/usr/bin/python3")
        .args(["-c", "import libnmap"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A lab trial that also needs `tools` (and python-libnmap).
fn with_tools(name: &str, tools: &[&str], body: fn() -> Result<(), String>) -> Trial {
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !have(t)).collect();
    if missing.is_empty() && have_libnmap() {
        return lab_trial(name, Need::Lab, body);
    }
    let what = format!("needs {} and python3-libnmap", tools.join(", "));
    let required = std::env::var("SWEEP_REQUIRE_LAB").is_ok_and(|v| v == "1");
    Trial::ignorable_test(name, move || {
        if required {
            Err(Failed::from(format!(
                "{what} (SWEEP_REQUIRE_LAB=1 makes this a failure)"
            )))
        } else {
            Ok(Completion::ignored_with(what))
        }
    })
}

fn run(cmd: &mut Command) -> Result<std::process::Output, String> {
    cmd.output().map_err(|e| format!("{cmd:?}: {e}"))
}

/// python-libnmap's view of an XML file: one line per host, `addr state mac vendor`.
fn libnmap_hosts(xml: &Path) -> Result<BTreeSet<String>, String> {
    let script = "import sys\n\
        from libnmap.parser import NmapParser\n\
        r = NmapParser.parse_fromfile(sys.argv[1])\n\
        for h in r.hosts:\n\
        \x20   print(h.address, h.status, h.mac or '-', repr(h.vendor or ''))\n\
        print('up', r.hosts_up)\n\
        print('total', r.hosts_total)\n";
    let out = run(Command::new("/usr/bin/python3").args(["-c", script, s(xml)]))?;
    ensure(out.status.success(), || {
        format!(
            "python-libnmap cannot parse {}: {}",
            xml.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// sweep's and nmap's ping scans of `range` from the lab's scanner namespace: sweep's
/// XML is valid against nmap's DTD, ndiff finds no difference, python-libnmap reads the
/// same hosts, MACs and vendors from both, and the hosts up are the lab's live ones.
fn compare(lab: &Lab, range: &str, extra: &[&str]) -> Result<(), String> {
    let dir = out_dir()?;
    let (ours, theirs) = (dir.path().join("sweep.xml"), dir.path().join("nmap.xml"));
    let mut args = vec![range, "-oX", s(&ours)];
    args.extend_from_slice(extra);
    lab.sweep(&args)?.expect_code(0)?;
    let nmap = run(Command::new("ip").args([
        "netns",
        "exec",
        &lab.scan_ns,
        "nmap",
        "-sn",
        "-n",
        "-oX",
        s(&theirs),
        range,
    ]))?;
    ensure(nmap.status.success(), || {
        format!("nmap failed: {}", String::from_utf8_lossy(&nmap.stderr))
    })?;
    let lint = run(Command::new("xmllint").args(["--noout", "--dtdvalid", DTD, s(&ours)]))?;
    ensure(lint.status.success(), || {
        format!(
            "xmllint --dtdvalid {DTD}: {}",
            String::from_utf8_lossy(&lint.stderr)
        )
    })?;
    let nd = run(Command::new("ndiff").args([s(&theirs), s(&ours)]))?;
    ensure(nd.status.code() == Some(0), || {
        format!(
            "ndiff nmap.xml sweep.xml exited {:?}:\n{}{}",
            nd.status.code(),
            String::from_utf8_lossy(&nd.stdout),
            String::from_utf8_lossy(&nd.stderr)
        )
    })?;
    let (mut a, mut b) = (libnmap_hosts(&ours)?, libnmap_hosts(&theirs)?);
    // nmap counts a CIDR's network and broadcast addresses among the hosts it scanned;
    // sweep does not scan them, and says how many it did scan.
    a.retain(|l| !l.starts_with("total "));
    b.retain(|l| !l.starts_with("total "));
    ensure(a == b, || {
        format!("python-libnmap reads sweep's XML as {a:?}\nbut nmap's as {b:?}")
    })?;
    // The lab's live IPv4 hosts (an on-link lab's truth lists IPv6 ones too).
    let alive = read_csv(&lab.truth)?
        .1
        .iter()
        .filter(|r| r[0].parse::<std::net::Ipv4Addr>().is_ok() && r[1] == "up")
        .count();
    let up = a.iter().filter(|l| l.contains(" up ")).count();
    ensure(a.contains(&format!("up {up}")), || {
        format!("runstats' hosts up is not the {up} hosts listed: {a:?}")
    })?;
    ensure(up == alive && alive > 0, || {
        format!("{up} hosts up in sweep's XML, the lab has {alive} live: {a:?}")
    })
}

fn routed() -> Result<(), String> {
    let lab = Lab::up(LabOpts {
        prefix: "198.18.0.0/26",
        alive: "0.5",
        seed: 20,
        ..LabOpts::default()
    })?;
    compare(&lab, "198.18.0.0/26", &[])
}

fn onlink() -> Result<(), String> {
    let lab = Lab::up(LabOpts {
        prefix: "198.18.0.0/26",
        alive: "0.5",
        seed: 21,
        onlink: Some("2001:2:0:1::/118"),
        ..LabOpts::default()
    })?;
    compare(&lab, "198.18.0.0/26", &["-I", "veth0"])?;
    // Every live host answered ARP from the target namespace's veth: a MAC on each.
    let dir = out_dir()?;
    let xml = dir.path().join("again.xml");
    lab.sweep(&["198.18.0.0/26", "-I", "veth0", "-oX", s(&xml)])?
        .expect_code(0)?;
    let hosts = libnmap_hosts(&xml)?;
    ensure(
        hosts
            .iter()
            .filter(|l| l.contains(" up "))
            .all(|l| l.split(' ').nth(2).is_some_and(|m| m.len() == 17)),
        || format!("an on-link host without its MAC: {hosts:?}"),
    )
}
