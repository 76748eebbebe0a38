//! On-link discovery end to end: the scanner on the targets' Ethernet segment
//! (`lab.sh up --onlink`), so every target needs ARP / neighbour discovery,
//! which sweep does itself at layer 2. Needs root; reported as ignored
//! elsewhere, and failed when SWEEP_REQUIRE_LAB=1 (libtest-mimic).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::process::Command;

use common::*;

fn main() {
    run_trials(vec![
        lab_trial(
            "onlink_v4_every_host_with_its_mac",
            Need::Lab,
            v4_every_host,
        ),
        lab_trial("onlink_v4_rate_max_every_host", Need::Lab, v4_rate_max),
        lab_trial("onlink_v6_every_host_through_ndp", Need::Lab, v6_every_host),
        lab_trial("onlink_arp_only_host_is_up", Need::Lab, arp_only_host),
        lab_trial(
            "onlink_iface_and_src_errors",
            Need::Lab,
            iface_and_src_errors,
        ),
        lab_trial(
            "onlink_iface_scan_and_diff_sees_mac_change",
            Need::Lab,
            iface_scan_and_mac_change,
        ),
        lab_trial(
            "onlink_without_cap_net_raw_paces_and_warns",
            Need::Lab,
            unprivileged_paces,
        ),
    ])
}

fn onlink_lab(prefix: &'static str, alive: &'static str) -> Result<Lab, String> {
    Lab::up(LabOpts {
        prefix,
        alive,
        seed: 5,
        onlink: Some("2001:2:0:1::/118"),
        ..LabOpts::default()
    })
}

/// Truth rows of one family, as (address → expect).
fn truth(lab: &Lab, v6: bool) -> Result<BTreeMap<IpAddr, String>, String> {
    let (_, rows) = read_csv(&lab.truth)?;
    let mut m = BTreeMap::new();
    for r in rows {
        let a: IpAddr = r[0]
            .parse()
            .map_err(|_| format!("bad truth addr {}", r[0]))?;
        if a.is_ipv6() == v6 {
            m.insert(a, r[1].clone());
        }
    }
    Ok(m)
}

/// The MAC of the target namespace's veth1: every live host answers from it.
fn target_mac(lab: &Lab) -> Result<String, String> {
    let path = "/sys/class/net/veth1/address";
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.tgt_ns, "cat", path])
        .output()
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

struct Found {
    up: BTreeSet<IpAddr>,
    rows: Vec<Vec<String>>,
}

fn scan(lab: &Lab, args: &[&str]) -> Result<Found, String> {
    let dir = out_dir()?;
    let out = dir.path().join("out.csv");
    let mut all = args.to_vec();
    all.extend(["-o", path_str(&out)]);
    let run = lab.sweep(&all)?;
    run.expect_code(0)?;
    let (header, rows) = read_csv(&out)?;
    ensure(header.join(",") == SWEEP_HEADER, || {
        format!("header {header:?}")
    })?;
    let mut up = BTreeSet::new();
    for r in &rows {
        if r[1] == "up" {
            up.insert(r[0].parse::<IpAddr>().map_err(|e| e.to_string())?);
        }
    }
    Ok(Found { up, rows })
}

fn check_recall(what: &str, found: &Found, truth: &BTreeMap<IpAddr, String>) -> Result<(), String> {
    let want: BTreeSet<IpAddr> = truth
        .iter()
        .filter(|(_, e)| *e == "up")
        .map(|(a, _)| *a)
        .collect();
    let got: BTreeSet<IpAddr> = found
        .up
        .iter()
        .filter(|a| truth.contains_key(a))
        .copied()
        .collect();
    ensure(got == want, || {
        format!(
            "{what}: {} of {} live hosts found; missed {}, false {}",
            got.intersection(&want).count(),
            want.len(),
            few(want.difference(&got)),
            few(got.difference(&want))
        )
    })
}

/// A /18 at the defaults (with the routed unreachable block): every live host
/// found, each with the segment's MAC; the routed block still unreachable.
fn v4_every_host() -> Result<(), String> {
    let _g = heavy();
    let lab = onlink_lab("198.18.0.0/18", "0.25")?;
    let mac = target_mac(&lab)?;
    let f = scan(&lab, &["198.18.0.0/18", "203.0.113.0/28", "--all"])?;
    check_recall("defaults", &f, &truth(&lab, false)?)?;
    for r in &f.rows {
        match r[1].as_str() {
            "up" => ensure(r[8] == mac && r[7].is_empty() && !r[2].is_empty(), || {
                format!("up row {r:?}: want mac {mac}, an RTT, no detail")
            })?,
            "unreachable" => ensure(r[0].starts_with("203.0.113.") && r[8].is_empty(), || {
                format!("only the routed block is unreachable, without a MAC: {r:?}")
            })?,
            // Resolution failed: down, never unreachable, and no MAC. Asked once a round;
            // how many rounds the yield decides (rounds by yield, the default).
            _ => ensure(
                r[8].is_empty() && r[5].parse::<u32>().is_ok_and(|p| p >= 1),
                || format!("down row {r:?}"),
            )?,
        }
    }
    let unreach = f.rows.iter().filter(|r| r[1] == "unreachable").count();
    ensure(unreach == 14, || {
        format!("{unreach} unreachable rows, want 14")
    })
}

fn v4_rate_max() -> Result<(), String> {
    let _g = heavy();
    let lab = onlink_lab("198.18.0.0/16", "0.25")?;
    let f = scan(&lab, &["198.18.0.0/16", "--rate", "max"])?;
    check_recall("--rate max", &f, &truth(&lab, false)?)
}

fn v6_every_host() -> Result<(), String> {
    let _g = heavy();
    let lab = onlink_lab("198.18.0.0/24", "0.25")?;
    let mac = target_mac(&lab)?;
    let f = scan(&lab, &["2001:2:0:1::/118", "--all"])?;
    check_recall("IPv6", &f, &truth(&lab, true)?)?;
    let bad: Vec<_> = f
        .rows
        .iter()
        .filter(|r| r[1] == "up" && r[8] != mac)
        .collect();
    ensure(bad.is_empty(), || {
        format!(
            "up rows without the segment's MAC: {:?}",
            &bad[..bad.len().min(3)]
        )
    })
}

/// A host that answers ARP but drops echo (a firewalled PC) is up, arp-only,
/// without RTT or TTL; merge reads the file back.
fn arp_only_host() -> Result<(), String> {
    let _g = heavy();
    let lab = onlink_lab("198.18.0.0/24", "1")?;
    let nft = "table ip fw { chain inp { type filter hook input priority 0; \
               ip daddr 198.18.0.7 icmp type echo-request drop; }; }";
    let mut child = Command::new("ip")
        .args(["netns", "exec", &lab.tgt_ns, "nft", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    std::io::Write::write_all(&mut child.stdin.take().ok_or("no stdin")?, nft.as_bytes())
        .map_err(|e| e.to_string())?;
    let st = child.wait().map_err(|e| e.to_string())?;
    ensure(st.success(), || "nft rule failed".into())?;
    let f = scan(
        &lab,
        &[
            "198.18.0.5-198.18.0.9",
            "--retries",
            "1",
            "--timeout",
            "300ms",
        ],
    )?;
    let row = f
        .rows
        .iter()
        .find(|r| r[0] == "198.18.0.7")
        .ok_or("no row for .7")?;
    ensure(
        row[1] == "up"
            && row[7] == "arp-only"
            && row[2].is_empty()
            && row[3].is_empty()
            && !row[8].is_empty(),
        || format!("firewalled host: {row:?}"),
    )?;
    ensure(f.up.len() == 5, || format!("{} up, want 5", f.up.len()))?;
    // The file is still a valid sweep CSV for merge.
    let dir = out_dir()?;
    let p = dir.path().join("a.csv");
    let text = format!(
        "{SWEEP_HEADER}\r\n{}\r\n",
        row.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
    );
    std::fs::write(&p, text).map_err(|e| e.to_string())?;
    let out = Command::new(sweep_bin())
        .args(["merge", path_str(&p)])
        .output()
        .map_err(|e| e.to_string())?;
    ensure(out.status.success(), || {
        format!("merge: {}", String::from_utf8_lossy(&out.stderr))
    })
}

fn iface_and_src_errors() -> Result<(), String> {
    let lab = onlink_lab("198.18.0.0/24", "0.25")?;
    for (args, needles) in [
        (vec!["198.18.0.1", "-I", "eth9"], vec!["eth9"]),
        (vec!["198.18.0.1", "-I", "lo"], vec!["198.18.0.1", "lo"]),
        (vec!["198.18.0.1", "-S", "10.9.9.9"], vec!["10.9.9.9"]),
        (
            vec!["198.18.0.1", "-I", "veth0", "-S", "127.0.0.1"],
            vec!["127.0.0.1", "veth0"],
        ),
        (
            vec!["198.18.0.1", "-S", "nonsense"],
            vec!["nonsense", "--src"],
        ),
    ] {
        let run = lab.sweep(&args)?;
        run.expect_code(2)?;
        one_line_naming(&run.stderr, &needles)?;
        ensure(run.stdout.is_empty(), || format!("{args:?} wrote output"))?;
    }
    Ok(())
}

/// `-I veth0` scans normally; a host whose MAC changes between two runs is
/// a change for `sweep diff`.
fn iface_scan_and_mac_change() -> Result<(), String> {
    let _g = heavy();
    let lab = onlink_lab("198.18.0.0/24", "1")?;
    let dir = out_dir()?;
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    lab.sweep(&[
        "198.18.0.1-198.18.0.4",
        "-I",
        "veth0",
        "-S",
        "198.19.255.254",
        "-o",
        path_str(&a),
    ])?
    .expect_code(0)?;
    let st = Command::new("ip")
        .args([
            "-n",
            &lab.tgt_ns,
            "link",
            "set",
            "veth1",
            "address",
            "02:00:5e:10:00:01",
        ])
        .status()
        .map_err(|e| e.to_string())?;
    ensure(st.success(), || "cannot change the MAC".into())?;
    lab.sweep(&["198.18.0.1-198.18.0.4", "-I", "veth0", "-o", path_str(&b)])?
        .expect_code(0)?;
    let out = Command::new(sweep_bin())
        .args(["diff", path_str(&a), path_str(&b)])
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let changed = text
        .lines()
        .filter(|l| l.contains(",mac-changed,") && l.ends_with(",02:00:5e:10:00:01"))
        .count();
    ensure(out.status.code() == Some(1) && changed == 4, || {
        format!("diff: {text}")
    })
}

/// Without CAP_NET_RAW there is no layer 2: one warning with the setcap hint,
/// probes paced under the kernel's neighbour limit, and every host still found.
fn unprivileged_paces() -> Result<(), String> {
    let _g = heavy();
    let lab = onlink_lab("198.18.0.0/26", "0.5")?;
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &lab.scan_ns])
        .args([
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ])
        .args([sweep_bin(), "198.18.0.0/26", "--all"]);
    let run = run_limited(cmd, RUN_LIMIT)?;
    run.expect_code(0)?;
    let warnings: Vec<_> = run
        .stderr
        .lines()
        .filter(|l| l.contains("warning"))
        .collect();
    ensure(
        warnings.len() == 1
            && warnings[0].contains("setcap cap_net_raw+p")
            && warnings[0].contains("veth0"),
        || {
            format!(
                "want one warning naming veth0 with the setcap hint: {}",
                run.stderr
            )
        },
    )?;
    let (_, rows) = parse_csv(&run.stdout)?;
    let got: BTreeSet<IpAddr> = rows
        .iter()
        .filter(|r| r[1] == "up")
        .filter_map(|r| r[0].parse().ok())
        .collect();
    let t = truth(&lab, false)?;
    let want: BTreeSet<IpAddr> = t
        .iter()
        .filter(|(_, e)| *e == "up")
        .map(|(a, _)| *a)
        .collect();
    ensure(got == want && rows.iter().all(|r| r[8].is_empty()), || {
        format!(
            "unprivileged: found {} of {}, MACs {:?}",
            got.len(),
            want.len(),
            rows.first()
        )
    })
}
