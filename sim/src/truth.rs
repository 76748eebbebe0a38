//! What a correct scanner should report for each described address, and the
//! CSV files (truth before the run, activity log after it).

use crate::engine::Engine;
use crate::link::{MacBook, Owner};
use crate::profile::{
    addr_of, Behavior, Delay, Dist, Key, LinkMode, Mode, PoliceScope, Profile, Scope,
};
use std::fmt::Write as _;
use std::io::{self, Write};

#[derive(Debug, PartialEq, Eq)]
pub struct Expect {
    /// up, unreachable or down.
    pub expect: &'static str,
    /// Fixed simulated RTT for up hosts; empty when the RTT varies.
    pub rtt_ms: String,
    pub responder: String,
    pub detail: String,
    /// TAP mode: the MAC that answers ARP/NDP for the address, empty where
    /// nothing does or the address is routed.
    pub mac: String,
}

pub const TRUTH_HEADER: &str = "addr,expect,rtt_ms,responder,detail";
/// The TAP mode's truth: the TUN columns, then `mac`.
pub const TRUTH_HEADER_TAP: &str = "addr,expect,rtt_ms,responder,detail,mac";

fn down(why: &str) -> Expect {
    Expect {
        expect: "down",
        rtt_ms: String::new(),
        responder: String::new(),
        detail: why.to_string(),
        mac: String::new(),
    }
}

/// `arp-only` / `ndp-only`, `arp-lost` / `ndp-lost`: named after the
/// protocol of the address's family.
fn nd_detail(addr: Key, what: &str) -> String {
    let proto = if addr_of(addr).is_ipv6() {
        "ndp"
    } else {
        "arp"
    };
    format!("{proto}-{what}")
}

fn ms(ns: u64) -> String {
    let s = format!("{:.3}", ns as f64 / 1e6);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}ms")
}

fn delay(d: &Delay) -> String {
    if d.is_fixed() {
        ms(d.lo)
    } else {
        let dist = if d.dist == Dist::Normal {
            "~normal"
        } else {
            ""
        };
        format!("{}..{}{dist}", ms(d.lo), ms(d.hi))
    }
}

/// Semicolon-separated description of an up host's behaviour (no commas, so
/// it stays one CSV field).
fn describe(b: &Behavior) -> String {
    let mut s = format!("ttl={};rtt={}", b.ttl, delay(&b.rtt));
    let mut kv = |k: &str, v: String| {
        let _ = write!(s, ";{k}={v}");
    };
    if b.loss_in > 0.0 {
        kv("loss_in", b.loss_in.to_string());
    }
    if b.loss_out > 0.0 {
        kv("loss_out", b.loss_out.to_string());
    }
    if b.dup > 0.0 {
        kv("dup", format!("{}x{}", b.dup, b.dup_count));
    }
    if b.reorder > 0.0 {
        kv(
            "reorder",
            format!("{}+{}", b.reorder, delay(&b.reorder_delay)),
        );
    }
    let faults = b.invalid_faults();
    for (name, f) in faults.iter().chain([("options", b.options)].iter()) {
        if f.on() {
            let mode = if f.mode == Mode::Extra {
                "extra"
            } else {
                "instead"
            };
            kv(name, format!("{}:{mode}", f.p));
        }
    }
    if let Some(r) = b.ratelimit {
        let scope = if b.ratelimit_scope == Scope::Rule {
            ":rule"
        } else {
            ""
        };
        kv("ratelimit", format!("{r}{scope}"));
    }
    if let Some(r) = b.police {
        let scope = match b.police_scope {
            PoliceScope::Rule => "",
            PoliceScope::Total => ":total",
        };
        kv("police", format!("{r}{scope}"));
    }
    if b.bad_data > 0.0 {
        kv("bad_data", b.bad_data.to_string());
    }
    s
}

/// The expected scanner verdict for `addr`, or None if no rule covers it.
pub fn expectation(profile: &Profile, addr: Key) -> Option<Expect> {
    let rule = profile.rule_for(addr)?;
    let b = &rule.behavior;
    if !profile.is_alive(rule, addr) {
        return Some(down("silent"));
    }
    // Without layer 2 a host that drops echo is invisible.
    if profile.is_arp_only(rule, addr) {
        return Some(down(&nd_detail(addr, "only")));
    }
    if b.loss_in >= 1.0 || b.loss_out >= 1.0 || b.ratelimit == Some(0) {
        return Some(down("lost"));
    }
    if let Some(err) = b.unreach {
        return Some(Expect {
            expect: "unreachable",
            rtt_ms: String::new(),
            responder: profile.router_for(rule).to_string(),
            detail: err.detail().to_string(),
            mac: String::new(),
        });
    }
    // A host is up if a request can get a valid reply at all; loss only makes
    // that less likely.
    let replaced = b
        .invalid_faults()
        .iter()
        .any(|(_, f)| f.mode == Mode::Instead && f.p >= 1.0);
    if replaced {
        return Some(down("no-valid-reply"));
    }
    Some(Expect {
        expect: "up",
        rtt_ms: if b.rtt.is_fixed() && b.reorder == 0.0 {
            format!("{:.3}", b.rtt.lo as f64 / 1e6)
        } else {
            String::new()
        },
        responder: addr_of(addr).to_string(),
        detail: describe(b),
        mac: String::new(),
    })
}

/// The verdict on the TAP segment (None also for the scanner's own
/// addresses, which the kernel owns). Routed addresses are as in TUN mode.
/// An on-link address whose owner answers ARP/NDP is at least `up` with
/// detail `arp-only` (`ndp-only`): a scanner sees it there even when no
/// echo reply ever comes (arp_only, loss 1, only faulty replies), as nmap
/// and arp-scan report such hosts.
pub fn expectation_tap(profile: &Profile, book: &MacBook, addr: Key) -> Option<Expect> {
    if profile.lan.is_scanner(addr) {
        return None;
    }
    let mut e = expectation(profile, addr)?;
    let Some(owner) = book.owner(profile, addr) else {
        return Some(e);
    };
    if let Owner::Host { rule, .. } = owner {
        if rule.behavior.arp_loss >= 1.0 {
            return Some(down(&nd_detail(addr, "lost")));
        }
    }
    e.mac = book.mac_of(&owner).to_string();
    if e.expect == "down" {
        e = Expect {
            expect: "up",
            rtt_ms: String::new(),
            responder: addr_of(addr).to_string(),
            detail: nd_detail(addr, "only"),
            mac: e.mac,
        };
    }
    Some(e)
}

/// The truth file: `TRUTH_HEADER` rows, or in TAP mode `TRUTH_HEADER_TAP`
/// rows (without the scanner's own addresses).
pub fn write_truth(profile: &Profile, w: &mut impl Write) -> io::Result<()> {
    let tap = profile.lan.mode == LinkMode::Tap;
    let book = tap.then(|| MacBook::new(profile));
    writeln!(w, "{}", if tap { TRUTH_HEADER_TAP } else { TRUTH_HEADER })?;
    for addr in profile.addresses() {
        let e = match &book {
            Some(book) => expectation_tap(profile, book, addr),
            None => expectation(profile, addr),
        };
        let Some(e) = e else { continue };
        write!(
            w,
            "{},{},{},{},{}",
            addr_of(addr),
            e.expect,
            e.rtt_ms,
            e.responder,
            e.detail
        )?;
        if tap {
            write!(w, ",{}", e.mac)?;
        }
        writeln!(w)?;
    }
    w.flush()
}

/// One row per address the simulator saw requests for; in TAP mode with
/// the layer-2 counters (`LinkStats::HEADER`) after the others.
pub fn write_log(engine: &Engine, w: &mut impl Write) -> io::Result<()> {
    let tap = engine.profile.lan.mode == LinkMode::Tap;
    write!(w, "addr,{}", crate::engine::Stats::HEADER)?;
    if tap {
        write!(w, ",{}", crate::engine::LinkStats::HEADER)?;
    }
    writeln!(w)?;
    let mut addrs: Vec<&Key> = engine.hosts.keys().collect();
    addrs.sort_unstable();
    for a in addrs {
        let h = &engine.hosts[a];
        let mut v = h.stats.values().to_vec();
        if tap {
            v.extend_from_slice(&h.link.values());
        }
        let cols: Vec<String> = v.iter().map(u64::to_string).collect();
        writeln!(w, "{},{}", addr_of(*a), cols.join(","))?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_profile;

    fn truth(text: &str) -> String {
        let mut out = Vec::new();
        write_truth(&parse_profile(text).unwrap(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn truth_rows() {
        let t = truth(
            "router 198.18.255.254\n\
             198.18.0.0/30 alive=1 rtt=20ms dup=1 dup_count=2\n\
             198.18.0.2 corrupt=1.0\n\
             198.18.0.3 corrupt=1.0 extra options=1\n\
             203.0.113.8/31 unreach=admin\n",
        );
        let rows: Vec<&str> = t.lines().collect();
        assert_eq!(rows[0], TRUTH_HEADER);
        assert_eq!(rows[1], "198.18.0.0,down,,,silent");
        assert_eq!(
            rows[2],
            "198.18.0.1,up,20.000,198.18.0.1,ttl=64;rtt=20ms;dup=1x2"
        );
        assert_eq!(rows[3], "198.18.0.2,down,,,no-valid-reply");
        assert!(
            rows[4].starts_with("198.18.0.3,up,1.000,198.18.0.3,"),
            "{}",
            rows[4]
        );
        assert_eq!(
            rows[5],
            "203.0.113.8,unreachable,,198.18.255.254,admin-prohibited"
        );
        assert_eq!(rows.len(), 7);
    }

    #[test]
    fn v6_rows_follow_v4_in_numeric_order() {
        let t = truth(
            "router 2001:2:ffff::fe\n\
             2001:2::100/127 rtt=5ms ttl=50\n\
             2001:2::ff unreach=port\n\
             2001:db8:ff::/127 unreach=net\n\
             2001:db8:ff::1 unreach=admin router=2001:db8::fe\n\
             2001:2::a:0/126 unreach=host\n\
             2001:2::b:0/127 unreach=ttl\n\
             198.18.0.0/31 alive=none\n\
             2001:2::1:0 corrupt=1.0\n",
        );
        let rows: Vec<&str> = t.lines().skip(1).collect();
        assert_eq!(
            rows,
            [
                "198.18.0.0,down,,,silent",
                "198.18.0.1,down,,,silent",
                "2001:2::ff,unreachable,,2001:2:ffff::fe,port-unreachable",
                "2001:2::100,up,5.000,2001:2::100,ttl=50;rtt=5ms",
                "2001:2::101,up,5.000,2001:2::101,ttl=50;rtt=5ms",
                "2001:2::1:0,down,,,no-valid-reply",
                "2001:2::a:0,unreachable,,2001:2:ffff::fe,host-unreachable",
                "2001:2::a:1,unreachable,,2001:2:ffff::fe,host-unreachable",
                "2001:2::a:2,unreachable,,2001:2:ffff::fe,host-unreachable",
                "2001:2::a:3,unreachable,,2001:2:ffff::fe,host-unreachable",
                "2001:2::b:0,unreachable,,2001:2:ffff::fe,ttl-exceeded",
                "2001:2::b:1,unreachable,,2001:2:ffff::fe,ttl-exceeded",
                "2001:db8:ff::,unreachable,,2001:2:ffff::fe,net-unreachable",
                "2001:db8:ff::1,unreachable,,2001:db8::fe,admin-prohibited",
            ]
        );
    }

    #[test]
    fn tap_truth_has_macs_and_arp_only_hosts() {
        let t = truth(
            "link tap\nseed 3\n\
             198.18.0.0/30 alive=1-3\n\
             198.18.0.2 arp_only=1\n\
             198.18.0.3 loss=1\n\
             198.18.1.0 arp_loss=1\n\
             198.18.1.1 arp_loss=0.5 unreach=admin\n\
             203.0.113.1 unreach=host\n\
             198.19.255.254\n\
             2001:2::5 arp_only=1 vendor=hp\n",
        );
        let rows: Vec<Vec<&str>> = t.lines().map(|l| l.split(',').collect()).collect();
        assert_eq!(rows[0].join(","), TRUTH_HEADER_TAP);
        let body = &rows[1..];
        assert!(body.iter().all(|r| r.len() == 6), "{t}");
        let find = |a: &str| {
            body.iter()
                .find(|r| r[0] == a)
                .unwrap_or_else(|| panic!("{a}: {t}"))
        };
        assert_eq!(find("198.18.0.0")[1..], ["down", "", "", "silent", ""]);
        let up = find("198.18.0.1");
        assert_eq!(up[1..5], ["up", "1.000", "198.18.0.1", "ttl=64;rtt=1ms"]);
        assert_eq!(up[5].len(), 17);
        assert_eq!(up[5], up[5].to_lowercase());
        assert_eq!(
            find("198.18.0.2")[1..5],
            ["up", "", "198.18.0.2", "arp-only"]
        );
        assert_eq!(
            find("198.18.0.3")[1..5],
            ["up", "", "198.18.0.3", "arp-only"]
        );
        assert_eq!(find("198.18.1.0")[1..], ["down", "", "", "arp-lost", ""]);
        let gw = find("198.18.1.1");
        assert_eq!(
            gw[1..5],
            ["unreachable", "", "198.18.255.254", "admin-prohibited"]
        );
        assert_eq!(gw[5], crate::mac::gateway_mac(3).to_string());
        // Routed: as in TUN mode, no MAC.
        assert_eq!(
            find("203.0.113.1")[1..],
            ["unreachable", "", "198.18.255.254", "host-unreachable", ""]
        );
        assert!(
            body.iter().all(|r| r[0] != "198.19.255.254"),
            "scanner listed"
        );
        let v6 = find("2001:2::5");
        assert_eq!(v6[1..5], ["up", "", "2001:2::5", "ndp-only"]);
        assert!(
            v6[5].starts_with("9c:7b:ef:") || v6[5].starts_with("3c:52:82:"),
            "{}",
            v6[5]
        );
        // Every MAC distinct.
        let macs: std::collections::BTreeSet<&str> = body
            .iter()
            .map(|r| r[5])
            .filter(|m| !m.is_empty())
            .collect();
        assert_eq!(macs.len(), 5);
        // In TUN mode arp-only hosts are down and there is no mac column.
        let t = truth("198.18.0.2 arp_only=1\n2001:2::5 arp_only=1\n");
        assert_eq!(
            t,
            format!("{TRUTH_HEADER}\n198.18.0.2,down,,,arp-only\n2001:2::5,down,,,ndp-only\n")
        );
    }

    #[test]
    fn varying_rtt_has_no_fixed_value() {
        let t = truth("198.18.0.0/32 rtt=1ms..1.5ms");
        assert_eq!(
            t.lines().nth(1),
            Some("198.18.0.0,up,,198.18.0.0,ttl=64;rtt=1ms..1.5ms")
        );
    }
}
