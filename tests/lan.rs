//! The truth of a real LAN, end to end on a kernel LAN of our own: one bridge (in its own
//! namespace), the scanner and the hosts each in a namespace with one veth port on it, and
//! a router with proxy ARP on and a prefix routed behind it, and two hosts sharing one
//! address. Needs root; reported as ignored elsewhere, and failed when SWEEP_REQUIRE_LAB=1.
//!
//! Every namespace here is made by this test; every packet (ARP, echo, multicast) stays on
//! the bridge between them.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

fn main() {
    run_trials(vec![
        lab_trial(
            "lan_no_ghost_every_host_behind_the_proxy_both_macs_of_a_conflict",
            Need::Netns,
            proxy_lan,
        ),
        lab_trial("lan_every_ipv6_host_of_the_on_link_64", Need::Netns, v6_lan),
    ])
}

/// Runs `script` with `sh -e` (in the root namespace: only `ip -n NS` / `ip netns exec`
/// commands on the namespaces made here).
fn sh(script: &str) -> Result<(), String> {
    let out = Command::new("sh")
        .args(["-ec", script])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    ensure(out.status.success(), || {
        format!(
            "lab setup failed: {}\n{script}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The LAN: namespaces are deleted when it is dropped (their veths with them).
struct Lan {
    bridge: Netns,
    scanner: Netns,
    hosts: Vec<Netns>,
    /// Two hosts configured with one address (CONFLICT): an address conflict.
    twins: [Netns; 2],
    router: Netns,
    behind: Netns,
    /// Each of `hosts` (the server too): its address with a random interface ID in
    /// PREFIX6.
    v6: Vec<String>,
}

/// The scanner's /64; the scanner is ::1 in it.
const PREFIX6: &str = "2001:2:0:1::/64";

/// LAN hosts: 198.18.0.10 + k on the scanner's /16, each with its own MAC.
const HOSTS: usize = 6;
/// A server with this many addresses on its one MAC, from 198.18.0.100.
const SERVER_ADDRS: u8 = 8;
/// The address both twins hold.
const CONFLICT: &str = "198.18.0.50";
/// Live hosts behind the router, in 198.18.128.0/17: 198.18.128.10 onwards.
const BEHIND: u8 = 40;

impl Lan {
    fn up() -> Result<Lan, String> {
        let lan = Lan {
            bridge: Netns::new()?,
            scanner: Netns::new()?,
            hosts: (0..HOSTS + 1)
                .map(|_| Netns::new())
                .collect::<Result<_, _>>()?,
            twins: [Netns::new()?, Netns::new()?],
            router: Netns::new()?,
            behind: Netns::new()?,
            v6: Vec::new(),
        };
        let mut lan = lan;
        let mut seed = std::process::id() as u64
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
        let mut random = || {
            // xorshift64: enough for interface IDs nobody can guess from the MAC.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        lan.v6 = (0..=HOSTS)
            .map(|_| {
                let id = random().to_be_bytes();
                let w = |k: usize| u16::from_be_bytes([id[k], id[k + 1]]);
                format!("2001:2:0:1:{:x}:{:x}:{:x}:{:x}", w(0), w(2), w(4), w(6))
            })
            .collect();
        let lan = lan;
        let br = &lan.bridge.name;
        // Snooping off: neighbour solicitations to solicited-node groups nobody has
        // reported must still reach every port.
        let mut s = format!(
            "ip -n {br} link add br0 type bridge mcast_snooping 0\n\
             ip -n {br} link set br0 up\n"
        );
        // One port on the bridge for namespace `ns`, named eth0 there.
        let mut port = |k: usize, ns: &str| {
            s += &format!(
                "ip -n {br} link add p{k} type veth peer name eth0 netns {ns}\n\
                 ip -n {br} link set p{k} master br0 up\n\
                 ip -n {ns} link set eth0 up\n"
            );
        };
        port(0, &lan.scanner.name);
        for (k, h) in lan.hosts.iter().enumerate() {
            port(k + 1, &h.name);
        }
        port(HOSTS + 2, &lan.router.name);
        for (k, t) in lan.twins.iter().enumerate() {
            port(HOSTS + 3 + k, &t.name);
        }
        for t in &lan.twins {
            s += &format!("ip -n {} addr add {CONFLICT}/16 dev eth0\n", t.name);
        }
        let (sc, r, b) = (&lan.scanner.name, &lan.router.name, &lan.behind.name);
        s += &format!("ip -n {sc} addr add 198.18.0.1/16 dev eth0\n");
        // IPv6: the scanner ::1 on the /64, every host a random interface ID there (no
        // duplicate address detection: usable at once); one ignores echo to ff02::1,
        // as Windows does.
        s += &format!("ip -n {sc} addr add 2001:2:0:1::1/64 dev eth0 nodad\n");
        for (h, a) in lan.hosts.iter().zip(&lan.v6) {
            s += &format!("ip -n {} addr add {a}/64 dev eth0 nodad\n", h.name);
        }
        s += &format!(
            "ip netns exec {} sh -c 'echo 1 > /proc/sys/net/ipv6/icmp/echo_ignore_multicast'\n",
            lan.hosts[1].name
        );
        for (k, h) in lan.hosts[..HOSTS].iter().enumerate() {
            s += &format!(
                "ip -n {} addr add 198.18.0.{}/16 dev eth0\n",
                h.name,
                10 + k
            );
        }
        // A firewalled host: answers ARP, never echo.
        s += &format!(
            "ip netns exec {} sh -c 'echo 1 > /proc/sys/net/ipv4/icmp_echo_ignore_all'\n",
            lan.hosts[0].name
        );
        let server = &lan.hosts[HOSTS].name;
        for a in 0..SERVER_ADDRS {
            s += &format!("ip -n {server} addr add 198.18.0.{}/16 dev eth0\n", 100 + a);
        }
        // The router sees the LAN as a /24 and routes 198.18.128.0/17 behind it; with
        // proxy ARP on it answers ARP on the LAN for the routed prefix.
        s += &format!(
            "ip -n {r} addr add 198.18.0.254/24 dev eth0\n\
             ip netns exec {r} sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'\n\
             ip netns exec {r} sh -c 'echo 1 > /proc/sys/net/ipv4/conf/eth0/proxy_arp'\n\
             ip -n {r} link add r1 type veth peer name b0 netns {b}\n\
             ip -n {r} addr add 198.18.128.1/17 dev r1\n\
             ip -n {r} link set r1 up\n\
             ip -n {b} link set b0 up\n\
             ip -n {b} route add default via 198.18.128.1 dev b0 onlink\n"
        );
        for k in 0..BEHIND {
            s += &format!("ip -n {b} addr add 198.18.128.{}/17 dev b0\n", 10 + k);
        }
        sh(&s)?;
        Ok(lan)
    }

    fn mac(ns: &str, dev: &str) -> Result<String, String> {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "cat",
                &format!("/sys/class/net/{dev}/address"),
            ])
            .output()
            .map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

/// Rows by address: (status, ttl, detail, mac).
type Rows = BTreeMap<Ipv4Addr, (String, String, String, String)>;

fn rows_of(path: &std::path::Path) -> Result<Rows, String> {
    let (header, rows) = read_csv(path)?;
    ensure(header.join(",") == SWEEP_HEADER, || {
        format!("header {header:?}")
    })?;
    rows.into_iter()
        .map(|r| {
            let a = r[0].parse().map_err(|_| format!("bad addr {}", r[0]))?;
            Ok((a, (r[1].clone(), r[3].clone(), r[7].clone(), r[8].clone())))
        })
        .collect()
}

fn proxy_lan() -> Result<(), String> {
    let _g = heavy();
    let lan = Lan::up()?;
    let router_mac = Lan::mac(&lan.router.name, "eth0")?;
    let server_mac = Lan::mac(&lan.hosts[HOSTS].name, "eth0")?;
    let twin_macs = [
        Lan::mac(&lan.twins[0].name, "eth0")?,
        Lan::mac(&lan.twins[1].name, "eth0")?,
    ];
    let dir = out_dir()?;
    let out = dir.path().join("lan.csv");
    let json = dir.path().join("summary.json");
    let run = sweep_in(
        &lan.scanner.name,
        &[
            "198.18.0.0/24",
            "198.18.128.0/24",
            "--all",
            "-o",
            path_str(&out),
            "--summary-json",
            path_str(&json),
        ],
    )?;
    run.log("proxy LAN");
    run.expect_code(0)?;
    let rows = rows_of(&out)?;
    let up: BTreeSet<Ipv4Addr> = rows
        .iter()
        .filter(|(_, r)| r.0 == "up")
        .map(|(a, _)| *a)
        .collect();
    let mut want: BTreeSet<Ipv4Addr> = BTreeSet::new();
    for k in 0..HOSTS as u8 {
        want.insert(Ipv4Addr::new(198, 18, 0, 10 + k));
    }
    for a in 0..SERVER_ADDRS {
        want.insert(Ipv4Addr::new(198, 18, 0, 100 + a));
    }
    // The scanner itself, and the router's two addresses (the one behind it answers
    // through the proxy like the hosts there, but unrouted).
    want.insert(Ipv4Addr::new(198, 18, 0, 1));
    want.insert(Ipv4Addr::new(198, 18, 0, 254));
    want.insert(Ipv4Addr::new(198, 18, 128, 1));
    want.insert(CONFLICT.parse().map_err(|_| "bad CONFLICT")?);
    for k in 0..BEHIND {
        want.insert(Ipv4Addr::new(198, 18, 128, 10 + k));
    }
    ensure(up == want, || {
        format!(
            "up: missed {}, ghosts {}",
            few(want.difference(&up)),
            few(up.difference(&want))
        )
    })?;
    for (a, (status, ttl, detail, mac)) in &rows {
        let [_, _, c, d] = a.octets();
        match (c, d) {
            // Behind the proxy: routed (TTL 63), no MAC of their own; the silent rest down.
            (128, 1) => ensure(*mac == router_mac && ttl == "64", || {
                format!("the router's address behind it: {mac} ttl {ttl}")
            })?,
            (128, _) if status == "up" => ensure(ttl == "63" && mac.is_empty(), || {
                format!("{a} behind the proxy: ttl {ttl}, mac {mac:?}")
            })?,
            (128, _) => ensure(detail.is_empty() || detail == "proxy-arp", || {
                format!("{a}: {status} {detail}")
            })?,
            (0, 254) => ensure(*mac == router_mac && ttl == "64", || {
                format!("the router's own address: {mac} ttl {ttl}")
            })?,
            (0, 100..=107) => ensure(*mac == server_mac, || format!("{a}: mac {mac}"))?,
            (0, 10) => ensure(detail == "arp-only" && !mac.is_empty(), || {
                format!("the firewalled host: {detail} {mac}")
            })?,
            (0, 50) => {
                let mut got: Vec<&str> = mac.split(';').collect();
                got.sort_unstable();
                let mut want = twin_macs.iter().map(|m| m.as_str()).collect::<Vec<_>>();
                want.sort_unstable();
                ensure(detail == "conflict" && got == want, || {
                    format!("the conflict: {detail} {mac}, want both of {twin_macs:?}")
                })?
            }
            _ => ensure(mac != &router_mac, || format!("{a} has the router's MAC"))?,
        }
    }
    let claimed = rows.values().filter(|r| r.2 == "proxy-arp").count();
    ensure(claimed > 0, || "no row says proxy-arp".into())?;
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let proxies = summary["proxies"].as_array().cloned().unwrap_or_default();
    ensure(
        proxies.len() == 1
            && proxies[0]["mac"] == router_mac.as_str()
            && proxies[0]["addresses"] == serde_json::json!(["198.18.0.254", "198.18.128.1"]),
        || format!("summary proxies: {proxies:?}"),
    )?;
    ensure(
        run.stderr.contains(&format!("proxy ARP from {router_mac}")),
        || format!("the summary line names no proxy: {}", run.stderr),
    )?;
    ensure(summary["conflicts"] == 1, || {
        format!("summary conflicts: {}", summary["conflicts"])
    })?;
    // One twin gives the address up: the next scan's diff says the conflict went away.
    let (gone, kept) = (&lan.twins[1].name, &twin_macs[0]);
    sh(&format!("ip -n {gone} addr del {CONFLICT}/16 dev eth0"))?;
    let again = dir.path().join("again.csv");
    sweep_in(
        &lan.scanner.name,
        &["198.18.0.0/26", "-o", path_str(&again), "-q"],
    )?
    .expect_code(0)?;
    let diff = sweep_in_fresh_ns(&["diff", path_str(&out), path_str(&again)])?;
    let line = diff
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("{CONFLICT},")))
        .unwrap_or_default()
        .to_string();
    ensure(
        line.contains(",conflict-gone,") && line.ends_with(&format!(",{kept}")),
        || format!("diff for the conflict: {line:?}\n{}", diff.stdout),
    )
}

/// The scanner's /64: every host found (the one that ignores multicast echo too), each
/// with its MAC, and nothing else; a routed /64 is refused, saying why.
fn v6_lan() -> Result<(), String> {
    let _g = heavy();
    let lan = Lan::up()?;
    let dir = out_dir()?;
    let out = dir.path().join("v6.csv");
    let run = sweep_in(&lan.scanner.name, &[PREFIX6, "-o", path_str(&out)])?;
    run.log("the /64");
    run.expect_code(0)?;
    let (header, rows) = read_csv(&out)?;
    ensure(header.join(",") == SWEEP_HEADER, || {
        format!("header {header:?}")
    })?;
    let got: BTreeMap<std::net::Ipv6Addr, (String, String)> = rows
        .iter()
        .map(|r| {
            Ok((
                r[0].parse().map_err(|_| format!("bad addr {}", r[0]))?,
                (r[1].clone(), r[8].clone()),
            ))
        })
        .collect::<Result<_, String>>()?;
    let mut want = BTreeMap::new();
    for (h, a) in lan.hosts.iter().zip(&lan.v6) {
        let a: std::net::Ipv6Addr = a.parse().map_err(|_| format!("bad {a}"))?;
        want.insert(a, ("up".to_string(), Lan::mac(&h.name, "eth0")?));
    }
    // (The scanner's own address is not among them: it does not answer itself.)
    ensure(got == want, || format!("rows {got:?}\nwant {want:?}"))?;
    let routed = sweep_in(&lan.scanner.name, &["2001:2:0:2::/64"])?;
    routed.expect_code(2)?;
    one_line_naming(&routed.stderr, &["2001:2:0:2::/64", "on-link"])
}
