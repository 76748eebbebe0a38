//! Network setup around the TUN or TAP device, done with `ip` and
//! /proc/sys. Only ever touches the network namespace the simulator runs in.

use crate::profile::Lan;
use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

/// The address the scanner sends from (the device's own address).
pub const OWN_ADDR: &str = "192.0.2.1/32";
/// Always routed to the simulator: lab targets and unreachable blocks.
pub const LAB_PREFIXES: [&str; 2] = ["198.18.0.0/15", "203.0.113.0/24"];
/// The scanner's IPv6 source address (documentation range).
pub const OWN_ADDR6: &str = "2001:db8::1/128";
/// Always routed to the simulator: the IPv6 benchmarking range (RFC 5180)
/// and an unreachable block in the documentation range.
pub const LAB_PREFIXES6: [&str; 2] = ["2001:2::/48", "2001:db8:ff::/48"];

fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        return Ok(());
    }
    let msg = String::from_utf8_lossy(&out.stderr);
    Err(io::Error::other(format!(
        "ip {}: {}",
        args.join(" "),
        msg.trim()
    )))
}

fn sysctl(path: &str, value: &str) -> io::Result<()> {
    fs::write(path, value).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
}

/// Inode of the initial network namespace on kernels that fix it
/// (PROC_NET_INIT_INO in include/linux/proc_ns.h).
const INIT_NET_INO: &str = "net:[4026531833]";

/// True when running in the host's own network namespace: the simulator
/// refuses to install routes there. Compares with PID 1 where readable (it
/// isn't in some sandboxes), and with the fixed initial inode otherwise.
pub fn in_initial_netns() -> bool {
    let Ok(me) = fs::read_link("/proc/self/ns/net") else {
        return true;
    };
    if me.as_os_str() == INIT_NET_INO {
        return true;
    }
    fs::read_link("/proc/1/ns/net").is_ok_and(|init| init == me)
}

/// Brings up `lo` and `dev`, gives `dev` the own addresses and routes the lab
/// prefixes plus `extra` prefixes to it. IPv6 is set up when the kernel has
/// it; without it only a profile describing IPv6 addresses is an error.
pub fn configure(dev: &str, extra: &[(IpAddr, u8)], need_v6: bool) -> io::Result<()> {
    ip(&["link", "set", "dev", "lo", "up"])?;
    // A long queue so bursts from the scanner aren't dropped before we read.
    ip(&[
        "link",
        "set",
        "dev",
        dev,
        "up",
        "mtu",
        "1500",
        "txqueuelen",
        "10000",
    ])?;
    ip(&["addr", "replace", OWN_ADDR, "dev", dev])?;
    let mut routes: Vec<String> = LAB_PREFIXES.iter().map(|s| s.to_string()).collect();
    for &(net, len) in extra.iter().filter(|(a, _)| a.is_ipv4()) {
        routes.push(format!("{net}/{len}"));
    }
    for r in &routes {
        ip(&["route", "replace", r, "dev", dev])?;
    }
    // Replies may come from sources that aren't routed back here (other_src).
    for conf in ["all", "default", dev] {
        sysctl(&format!("/proc/sys/net/ipv4/conf/{conf}/rp_filter"), "0")?;
    }
    if !Path::new("/proc/sys/net/ipv6").exists() {
        if need_v6 {
            return Err(io::Error::other(
                "the profile describes IPv6 addresses but the kernel has no IPv6",
            ));
        }
        eprintln!("sweep-sim: warning: no IPv6 in this kernel; simulating IPv4 only");
        return Ok(());
    }
    configure_v6(dev, extra)
}

/// IPv6 on, and a quieter device: no duplicate address detection (the
/// address is usable at once), no router solicitations, no
/// autoconfiguration. Whatever the kernel still sends (MLD reports) is
/// ignored by the engine.
fn quiet_v6(dev: &str) -> io::Result<()> {
    let conf = |c: &str, key: &str| format!("/proc/sys/net/ipv6/conf/{c}/{key}");
    for c in ["all", "default", dev] {
        sysctl(&conf(c, "disable_ipv6"), "0")?;
    }
    for (key, value) in [
        ("accept_dad", "0"),
        ("accept_ra", "0"),
        ("router_solicitations", "0"),
    ] {
        let _ = sysctl(&conf(dev, key), value);
    }
    Ok(())
}

fn configure_v6(dev: &str, extra: &[(IpAddr, u8)]) -> io::Result<()> {
    quiet_v6(dev)?;
    ip(&["-6", "addr", "replace", OWN_ADDR6, "dev", dev, "nodad"])?;
    let mut routes: Vec<String> = LAB_PREFIXES6.iter().map(|s| s.to_string()).collect();
    for &(net, len) in extra.iter().filter(|(a, _)| a.is_ipv6()) {
        routes.push(format!("{net}/{len}"));
    }
    for r in &routes {
        ip(&["-6", "route", "replace", r, "dev", dev])?;
    }
    Ok(())
}

/// Whether the prefix `net/len` lies inside `outer/outer_len` (same family).
fn prefix_inside(net: IpAddr, len: u8, outer: IpAddr, outer_len: u8) -> bool {
    if len < outer_len {
        return false;
    }
    match (net, outer) {
        (IpAddr::V4(n), IpAddr::V4(o)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(outer_len)).unwrap_or(0);
            u32::from(n) & mask == u32::from(o) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(o)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(outer_len))
                .unwrap_or(0);
            u128::from(n) & mask == u128::from(o) & mask
        }
        _ => false,
    }
}

/// Whether the prefix `net/len` lies inside one of the lab prefixes, which
/// are routed anyway.
pub fn covered_by_lab(net: IpAddr, len: u8) -> bool {
    LAB_PREFIXES.iter().chain(LAB_PREFIXES6.iter()).any(|p| {
        let (a, l) = p.split_once('/').expect("lab prefixes have a length");
        let a: IpAddr = a.parse().expect("lab prefix address");
        prefix_inside(net, len, a, l.parse().expect("lab prefix length"))
    })
}

/// The routes TAP mode installs besides the kernel's connected ones: every
/// lab and profile prefix of the family that is not inside the scanner's
/// on-link prefix, as `(prefix, gateway)`. The on-link ones need nothing:
/// the scanner's address brings `NET/LEN dev DEV proto kernel scope link`.
pub fn tap_routes(lan: &Lan, prefixes: &[(IpAddr, u8)], v6: bool) -> Vec<(String, IpAddr)> {
    let (block, block_len, gw): (IpAddr, u8, IpAddr) = if v6 {
        (lan.scanner6.0.into(), lan.scanner6.1, lan.gateway6.into())
    } else {
        (lan.scanner.0.into(), lan.scanner.1, lan.gateway.into())
    };
    let lab = if v6 { &LAB_PREFIXES6 } else { &LAB_PREFIXES };
    let mut all: Vec<(IpAddr, u8)> = lab
        .iter()
        .map(|p| {
            let (a, l) = p.split_once('/').expect("lab prefixes have a length");
            (
                a.parse().expect("lab prefix"),
                l.parse().expect("lab length"),
            )
        })
        .collect();
    all.extend(prefixes.iter().filter(|(a, _)| a.is_ipv6() == v6));
    let mut out: Vec<(String, IpAddr)> = Vec::new();
    for (net, len) in all {
        let r = format!("{net}/{len}");
        if !prefix_inside(net, len, block, block_len) && !out.iter().any(|(o, _)| *o == r) {
            out.push((r, gw));
        }
    }
    out
}

/// TAP mode: `lo` and `dev` up, the scanner's addresses on `dev` with their
/// on-link prefixes (so those targets are `scope link`, no gateway), and
/// routes via the simulated gateway for every other lab and profile prefix.
pub fn configure_tap(
    dev: &str,
    lan: &Lan,
    prefixes: &[(IpAddr, u8)],
    need_v6: bool,
) -> io::Result<()> {
    ip(&["link", "set", "dev", "lo", "up"])?;
    // Before the link comes up, so its link-local address skips DAD too.
    let have_v6 = Path::new("/proc/sys/net/ipv6").exists();
    if have_v6 {
        quiet_v6(dev)?;
    }
    ip(&[
        "link",
        "set",
        "dev",
        dev,
        "up",
        "mtu",
        "1500",
        "txqueuelen",
        "10000",
    ])?;
    let own = format!("{}/{}", lan.scanner.0, lan.scanner.1);
    ip(&["addr", "replace", &own, "dev", dev])?;
    for (r, gw) in tap_routes(lan, prefixes, false) {
        ip(&["route", "replace", &r, "via", &gw.to_string(), "dev", dev])?;
    }
    for conf in ["all", "default", dev] {
        sysctl(&format!("/proc/sys/net/ipv4/conf/{conf}/rp_filter"), "0")?;
    }
    if !have_v6 {
        if need_v6 {
            return Err(io::Error::other(
                "the profile describes IPv6 addresses but the kernel has no IPv6",
            ));
        }
        eprintln!("sweep-sim: warning: no IPv6 in this kernel; simulating IPv4 only");
        return Ok(());
    }
    let own6 = format!("{}/{}", lan.scanner6.0, lan.scanner6.1);
    ip(&["-6", "addr", "replace", &own6, "dev", dev, "nodad"])?;
    for (r, gw) in tap_routes(lan, prefixes, true) {
        ip(&[
            "-6",
            "route",
            "replace",
            &r,
            "via",
            &gw.to_string(),
            "dev",
            dev,
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn lab_coverage() {
        let v4 = |s: &str| IpAddr::V4(s.parse::<Ipv4Addr>().unwrap());
        let v6 = |s: &str| IpAddr::V6(s.parse::<Ipv6Addr>().unwrap());
        assert!(covered_by_lab(v4("198.19.4.0"), 24));
        assert!(covered_by_lab(v4("203.0.113.8"), 29));
        assert!(!covered_by_lab(v4("198.16.0.0"), 14));
        assert!(!covered_by_lab(v4("10.0.0.0"), 8));
        assert!(covered_by_lab(v6("2001:2::"), 120));
        assert!(covered_by_lab(v6("2001:db8:ff:1::"), 64));
        assert!(!covered_by_lab(v6("2001:2::"), 47));
        assert!(!covered_by_lab(v6("2001:db8::"), 120));
    }

    #[test]
    fn tap_routes_skip_on_link_prefixes() {
        let lan = Lan::default();
        let v4 = |s: &str| IpAddr::V4(s.parse::<Ipv4Addr>().unwrap());
        let v6 = |s: &str| IpAddr::V6(s.parse::<Ipv6Addr>().unwrap());
        let extra = [
            (v4("198.18.4.0"), 24),
            (v4("10.9.0.0"), 16),
            (v6("2001:2::"), 120),
            (v6("2001:2:0:5::"), 64),
        ];
        let r4 = tap_routes(&lan, &extra, false);
        let gw = v4("198.18.255.254");
        assert_eq!(
            r4,
            [
                ("203.0.113.0/24".to_string(), gw),
                ("10.9.0.0/16".to_string(), gw)
            ]
        );
        let r6: Vec<String> = tap_routes(&lan, &extra, true)
            .into_iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(r6, ["2001:2::/48", "2001:db8:ff::/48", "2001:2:0:5::/64"]);
        assert!(tap_routes(&lan, &extra, true)
            .iter()
            .all(|r| r.1 == v6("fe80::1")));
        // A smaller on-link block leaves the rest of the lab routed.
        let mut small = lan;
        small.scanner = ("198.18.255.1".parse().unwrap(), 16);
        assert_eq!(tap_routes(&small, &[], false)[0].0, "198.18.0.0/15");
    }
}
