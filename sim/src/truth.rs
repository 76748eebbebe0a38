//! What a correct scanner should report for each described address, and the
//! CSV files (truth before the run, activity log after it).

use crate::engine::Engine;
use crate::profile::{addr_of, Behavior, Delay, Dist, Key, Mode, Profile, Scope};
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
}

pub const TRUTH_HEADER: &str = "addr,expect,rtt_ms,responder,detail";

fn down(why: &str) -> Expect {
    Expect {
        expect: "down",
        rtt_ms: String::new(),
        responder: String::new(),
        detail: why.to_string(),
    }
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
    s
}

/// The expected scanner verdict for `addr`, or None if no rule covers it.
pub fn expectation(profile: &Profile, addr: Key) -> Option<Expect> {
    let rule = profile.rule_for(addr)?;
    let b = &rule.behavior;
    if !profile.is_alive(rule, addr) {
        return Some(down("silent"));
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
    })
}

pub fn write_truth(profile: &Profile, w: &mut impl Write) -> io::Result<()> {
    writeln!(w, "{TRUTH_HEADER}")?;
    for addr in profile.addresses() {
        if let Some(e) = expectation(profile, addr) {
            writeln!(
                w,
                "{},{},{},{},{}",
                addr_of(addr),
                e.expect,
                e.rtt_ms,
                e.responder,
                e.detail
            )?;
        }
    }
    w.flush()
}

/// One row per address the simulator saw requests for.
pub fn write_log(engine: &Engine, w: &mut impl Write) -> io::Result<()> {
    writeln!(w, "addr,{}", crate::engine::Stats::HEADER)?;
    let mut addrs: Vec<&Key> = engine.hosts.keys().collect();
    addrs.sort_unstable();
    for a in addrs {
        let v = engine.hosts[a].stats.values();
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
    fn varying_rtt_has_no_fixed_value() {
        let t = truth("198.18.0.0/32 rtt=1ms..1.5ms");
        assert_eq!(
            t.lines().nth(1),
            Some("198.18.0.0,up,,198.18.0.0,ttl=64;rtt=1ms..1.5ms")
        );
    }
}
