//! The ecosystem's real readers of sweep's output: nmap's XML checked against nmap's own
//! DTD (`xmllint --dtdvalid`), compared by `ndiff` with `nmap -sn -n -oX` of the same lab
//! (routed and on-link), and parsed by python-libnmap; the HTML report loaded from disk
//! by headless Chromium (in a namespace with only `lo`), which must run its script
//! without error and render the live-host count, the map and the table. Each lab test
//! runs in its own namespaces (run under `flock /tmp/sweep-lab.lock`). Reported ignored
//! when root, a namespace or a tool is missing, failed instead with SWEEP_REQUIRE_LAB=1
//! (CI installs nmap, ndiff, python3-libnmap, libxml2-utils and chromium).

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::{
    ensure, lab_trial, out_dir, path_str as s, read_csv, run_trials, sweep_in_fresh_ns, Lab,
    LabOpts, Need, Netns,
};
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
        with_tools(
            "html_report_of_65536_rows_renders_in_chromium",
            &["chromium"],
            report_in_chromium,
        ),
        with_tools(
            "html_of_a_lab_scan_renders_in_chromium",
            &["chromium"],
            lab_html_in_chromium,
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

/// What headless Chromium rendered of `page` (loaded from file://, in a namespace with
/// only `lo`, a fresh profile): the DOM after the page's script ran.
fn chromium_dom(page: &Path) -> Result<String, String> {
    let ns = Netns::new()?;
    let profile = out_dir()?;
    let url = format!("file://{}", page.display());
    let out = run(Command::new("timeout").args([
        "120",
        "ip",
        "netns",
        "exec",
        &ns.name,
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        &format!("--user-data-dir={}", profile.path().display()),
        "--dump-dom",
        &url,
    ]))?;
    ensure(out.status.success(), || {
        format!(
            "chromium exited {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The rendered page ran its script to the end without an error, shows `up` hosts up,
/// painted map cells and the first page of `rows` table rows.
fn check_rendered(dom: &str, up: usize, rows: usize) -> Result<(), String> {
    let short = || dom.chars().take(2000).collect::<String>();
    ensure(dom.contains("data-ready=\"1\""), || {
        format!("the script did not finish: {}", short())
    })?;
    ensure(
        dom.contains("<pre id=\"errors\" hidden=\"\"></pre>"),
        || {
            let at = dom.find("id=\"errors\"").unwrap_or(0);
            format!("script errors: {}", &dom[at..(at + 500).min(dom.len())])
        },
    )?;
    ensure(
        dom.contains(&format!("<dd id=\"up-count\">{up}</dd>")),
        || format!("no live-host count {up} in the page: {}", short()),
    )?;
    let painted = dom
        .split("data-painted=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .and_then(|n| n.parse::<usize>().ok());
    ensure(painted.is_some_and(|n| n > 0), || {
        format!("the map painted no cells ({painted:?})")
    })?;
    let shown = dom.matches("<td class=\"st-").count();
    ensure(shown == rows.min(200), || {
        format!("{shown} table rows rendered, want {}", rows.min(200))
    })?;
    ensure(dom.contains(&format!(" of {rows}<")), || {
        format!("the table does not count {rows} rows")
    })
}

fn report_in_chromium() -> Result<(), String> {
    let dir = out_dir()?;
    let (csv, page) = (dir.path().join("scan.csv"), dir.path().join("report.html"));
    // A /16 with every fourth host up and some unreachable: 65,536 rows.
    let mut text =
        String::from("addr,status,rtt_ms,ttl,responder,probes,dups,detail,mac,vendor\r\n");
    for i in 0u32..65_536 {
        let a = format!("198.18.{}.{}", i >> 8, i & 255);
        text += &match i % 4 {
            0 => format!("{a},up,{}.{:03},63,{a},1,0,,,\r\n", i % 150, i % 1000),
            1 if i % 97 == 0 => format!("{a},unreachable,,,192.0.2.2,1,0,host-unreachable,,\r\n"),
            _ => format!("{a},down,,,,2,0,,,\r\n"),
        };
    }
    std::fs::write(&csv, text).map_err(|e| e.to_string())?;
    let run = sweep_in_fresh_ns(&["report", s(&csv), "-o", s(&page)])?;
    run.expect_code(0)?;
    check_rendered(&chromium_dom(&page)?, 16_384, 65_536)
}

fn lab_html_in_chromium() -> Result<(), String> {
    let lab = Lab::up(LabOpts {
        prefix: "198.18.0.0/24",
        alive: "0.5",
        seed: 22,
        ..LabOpts::default()
    })?;
    let dir = out_dir()?;
    let page = dir.path().join("scan.html");
    lab.sweep(&["198.18.0.0/24", "--all", "--format", "html", "-o", s(&page)])?
        .expect_code(0)?;
    let alive = read_csv(&lab.truth)?
        .1
        .iter()
        .filter(|r| r[1] == "up")
        .count();
    check_rendered(&chromium_dom(&page)?, alive, 254)
}
