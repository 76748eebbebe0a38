//! Decides what the simulated network sends for each request. Pure: takes the
//! request bytes and the current time, returns packets to send later.

use crate::attack::Attacker;
use crate::packet::{self, EchoRequest};
use crate::packet6;
use crate::profile::{
    addr_of, key_of, Key, Mode, OptKind, PoliceScope, Profile, Rule, Scope, TruncTo,
};
use crate::rng::{chance, draw, Tag};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What kind of packet a planned send is; one packet may carry several.
pub mod kind {
    pub const PRIMARY: u16 = 1;
    pub const DUP: u16 = 1 << 1;
    pub const OPTIONS: u16 = 1 << 2;
    pub const CORRUPT: u16 = 1 << 3;
    pub const TRUNCATED: u16 = 1 << 4;
    pub const FOREIGN_ID: u16 = 1 << 5;
    pub const OTHER_SRC: u16 = 1 << 6;
    pub const ERROR: u16 = 1 << 7;
    /// An ARP reply or neighbour advertisement (TAP mode).
    pub const NEIGHBOR: u16 = 1 << 8;
    /// The attacker's forgery about the target (not counted in its stats).
    pub const FORGED: u16 = 1 << 9;
}

/// Per-address counters written to the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub requests_seen: u64,
    pub replies_sent: u64,
    pub dups_sent: u64,
    pub corrupt_sent: u64,
    pub truncated_sent: u64,
    pub options_sent: u64,
    pub foreign_id_sent: u64,
    pub other_src_sent: u64,
    pub errors_sent: u64,
    pub dropped_in: u64,
    pub dropped_out: u64,
    pub ratelimited: u64,
}

impl Stats {
    pub const HEADER: &'static str = "requests_seen,replies_sent,dups_sent,corrupt_sent,truncated_sent,options_sent,foreign_id_sent,other_src_sent,errors_sent,dropped_in,dropped_out,ratelimited";

    pub fn values(&self) -> [u64; 12] {
        [
            self.requests_seen,
            self.replies_sent,
            self.dups_sent,
            self.corrupt_sent,
            self.truncated_sent,
            self.options_sent,
            self.foreign_id_sent,
            self.other_src_sent,
            self.errors_sent,
            self.dropped_in,
            self.dropped_out,
            self.ratelimited,
        ]
    }

    pub fn add(&mut self, o: &Stats) {
        let mut v = self.values();
        for (a, b) in v.iter_mut().zip(o.values()) {
            *a += b;
        }
        *self = Stats::from_values(v);
    }

    fn from_values(v: [u64; 12]) -> Stats {
        Stats {
            requests_seen: v[0],
            replies_sent: v[1],
            dups_sent: v[2],
            corrupt_sent: v[3],
            truncated_sent: v[4],
            options_sent: v[5],
            foreign_id_sent: v[6],
            other_src_sent: v[7],
            errors_sent: v[8],
            dropped_in: v[9],
            dropped_out: v[10],
            ratelimited: v[11],
        }
    }

    /// Counts one packet actually written.
    pub fn count_sent(&mut self, k: u16) {
        let pairs: [(u16, &mut u64); 8] = [
            (kind::PRIMARY, &mut self.replies_sent),
            (kind::DUP, &mut self.dups_sent),
            (kind::OPTIONS, &mut self.options_sent),
            (kind::CORRUPT, &mut self.corrupt_sent),
            (kind::TRUNCATED, &mut self.truncated_sent),
            (kind::FOREIGN_ID, &mut self.foreign_id_sent),
            (kind::OTHER_SRC, &mut self.other_src_sent),
            (kind::ERROR, &mut self.errors_sent),
        ];
        for (bit, counter) in pairs {
            if k & bit != 0 {
                *counter += 1;
            }
        }
    }
}

/// Per-address layer-2 counters, written to the log in TAP mode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// ARP requests / neighbour solicitations for the address.
    pub nd_seen: u64,
    /// ARP replies / neighbour advertisements written.
    pub nd_replied: u64,
    /// Requests dropped by `arp_loss`.
    pub nd_lost: u64,
    /// Echo requests an `arp_only` host dropped.
    pub echo_filtered: u64,
    /// Frames for the address sent to a MAC other than its owner's.
    pub wrong_mac: u64,
}

impl LinkStats {
    pub const HEADER: &'static str = "nd_seen,nd_replied,nd_lost,echo_filtered,wrong_mac";

    pub fn values(&self) -> [u64; 5] {
        [
            self.nd_seen,
            self.nd_replied,
            self.nd_lost,
            self.echo_filtered,
            self.wrong_mac,
        ]
    }

    pub fn add(&mut self, o: &LinkStats) {
        self.nd_seen += o.nd_seen;
        self.nd_replied += o.nd_replied;
        self.nd_lost += o.nd_lost;
        self.echo_filtered += o.echo_filtered;
        self.wrong_mac += o.wrong_mac;
    }
}

#[derive(Default)]
pub struct Host {
    pub stats: Stats,
    pub link: LinkStats,
    bucket: Bucket,
}

#[derive(Default)]
struct Bucket {
    tokens: f64,
    refilled_at: u64,
    primed: bool,
}

impl Bucket {
    /// Token bucket: starts full with `burst` tokens, refilled at `limit` per second.
    fn take_token(&mut self, limit: u32, burst: u32, now: u64) -> bool {
        let cap = f64::from(burst);
        if !self.primed {
            self.primed = true;
            self.tokens = cap;
        } else {
            let elapsed = now.saturating_sub(self.refilled_at) as f64 / 1e9;
            self.tokens = (self.tokens + elapsed * f64::from(limit)).min(cap);
        }
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Multiplicative hash for address keys: SipHash showed up in profiles and
/// the keys aren't attacker controlled.
#[derive(Default)]
pub struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn write_u128(&mut self, n: u128) {
        let folded = (n as u64) ^ ((n >> 64) as u64).rotate_left(29);
        self.0 = folded.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

pub type HostMap = HashMap<Key, Host, BuildHasherDefault<AddrHasher>>;

/// A packet to write at `due` (ns on the simulator's clock).
#[derive(Debug)]
pub struct Planned {
    pub due: u64,
    pub target: Key,
    pub kind: u16,
    pub pkt: Vec<u8>,
}

pub struct Engine {
    pub profile: Profile,
    pub hosts: HostMap,
    /// Shared rate-limit buckets of `ratelimit_scope=rule` rules, by line.
    rule_buckets: HashMap<usize, Bucket>,
    /// Policers on the path: per rule (by line), and the one all `police_scope=total`
    /// rules share.
    police_rule: HashMap<usize, Bucket>,
    police_total: Bucket,
    /// Packets that were not echo requests to described addresses.
    pub ignored: u64,
    /// The profile's attacker, if any, and the forgeries it wrote.
    attacker: Option<Attacker>,
    pub forged: u64,
    ip_id: u16,
}

impl Engine {
    pub fn new(profile: Profile) -> Engine {
        Engine {
            attacker: profile.attack.map(Attacker::new),
            profile,
            hosts: HostMap::default(),
            rule_buckets: HashMap::new(),
            police_rule: HashMap::new(),
            police_total: Bucket::default(),
            ignored: 0,
            forged: 0,
            ip_id: 0,
        }
    }

    /// Handles one packet read at `now`, appending what to send to `out`.
    pub fn handle(&mut self, now: u64, buf: &[u8], out: &mut Vec<Planned>) {
        let Some(req) = packet::parse_echo_request(buf) else {
            self.ignored += 1;
            return;
        };
        let Some(addr) = key_of(req.dst) else {
            self.ignored += 1;
            return;
        };
        let Engine {
            profile,
            hosts,
            ip_id,
            ignored,
            rule_buckets,
            attacker,
            police_rule,
            police_total,
            ..
        } = self;
        let Some(rule) = profile.rule_for(addr) else {
            *ignored += 1;
            return;
        };
        if let Some(a) = attacker {
            out.extend(
                a.observe(profile, &req)
                    .into_iter()
                    .map(|(target, pkt)| Planned {
                        due: now,
                        target,
                        kind: kind::FORGED,
                        pkt,
                    }),
            );
        }
        let alive = profile.is_alive(rule, addr);
        let seed = profile.seed;
        let b = &rule.behavior;
        let host = hosts.entry(addr).or_default();
        let n = host.stats.requests_seen;
        host.stats.requests_seen += 1;
        if let Some(limit) = b.police {
            // On the path, before the host: requests to silent addresses count too.
            let bucket = match b.police_scope {
                PoliceScope::Rule => police_rule.entry(rule.line).or_default(),
                PoliceScope::Total => police_total,
            };
            if !bucket.take_token(limit, b.police_burst, now) {
                host.stats.dropped_in += 1;
                return;
            }
        }
        if !alive {
            return;
        }
        if profile.is_arp_only(rule, addr) {
            host.link.echo_filtered += 1;
            return;
        }
        if chance(b.loss_in, seed, addr, n, Tag::LossIn, 0) {
            host.stats.dropped_in += 1;
            return;
        }
        if let Some(limit) = b.ratelimit {
            let bucket = match b.ratelimit_scope {
                Scope::Host => &mut host.bucket,
                Scope::Rule => rule_buckets.entry(rule.line).or_default(),
            };
            let burst = b.ratelimit_burst.unwrap_or(limit);
            if !bucket.take_token(limit, burst, now) {
                host.stats.ratelimited += 1;
                return;
            }
        }
        let u = |tag, k| draw(seed, addr, n, tag, k);
        let mut delay = b.rtt.pick([u(Tag::Rtt, 0), u(Tag::Rtt, 1), u(Tag::Rtt, 2)]);
        if chance(b.reorder, seed, addr, n, Tag::Reorder, 0) {
            let r = |k| u(Tag::ReorderDelay, k);
            delay += b.reorder_delay.pick([r(0), r(1), r(2)]);
        }
        let sends = build(profile, rule, ip_id, addr, n, &req);
        for (i, (extra_delay, kind, pkt)) in sends.into_iter().enumerate() {
            if chance(b.loss_out, seed, addr, n, Tag::LossOut, i as u64) {
                host.stats.dropped_out += 1;
                continue;
            }
            out.push(Planned {
                due: now + delay + extra_delay,
                target: addr,
                kind,
                pkt,
            });
        }
    }

    /// Counts a packet that was written to the device.
    pub fn sent(&mut self, target: Key, kind: u16) {
        if kind & kind::FORGED != 0 {
            self.forged += 1;
            return;
        }
        if let Some(h) = self.hosts.get_mut(&target) {
            if kind & kind::NEIGHBOR != 0 {
                h.link.nd_replied += 1;
            } else {
                h.stats.count_sent(kind);
            }
        }
    }

    pub fn totals(&self) -> Stats {
        let mut t = Stats::default();
        for h in self.hosts.values() {
            t.add(&h.stats);
        }
        t
    }

    pub fn link_totals(&self) -> LinkStats {
        let mut t = LinkStats::default();
        for h in self.hosts.values() {
            t.add(&h.link);
        }
        t
    }
}

/// The packets one request triggers, in sending order, with delays relative
/// to the reply time.
fn build(
    profile: &Profile,
    rule: &Rule,
    ip_id: &mut u16,
    addr: Key,
    n: u64,
    req: &EchoRequest,
) -> Vec<(u64, u16, Vec<u8>)> {
    let seed = profile.seed;
    let b = &rule.behavior;
    let hit = |p: f64, tag| chance(p, seed, addr, n, tag, 0);
    let target = addr_of(addr);
    let mut sends = Vec::new();
    let dups = if hit(b.dup, Tag::Dup) { b.dup_count } else { 0 };

    if let Some(err) = b.unreach {
        let long = b.quote == crate::profile::Quote::Long;
        let pkt = match profile.router_for(rule) {
            IpAddr::V4(router) => {
                let (typ, code) = err.type_code();
                let id = next_id(ip_id);
                packet::icmp_error(req.packet, router, b.ttl, id, typ, code, long)
            }
            IpAddr::V6(router) => {
                let (typ, code) = err.type_code6();
                packet6::icmp_error6(req.packet, router, b.ttl, typ, code, long)
            }
        };
        for k in 1..=u64::from(dups) {
            sends.push((k * b.dup_gap, kind::ERROR | kind::DUP, pkt.clone()));
        }
        sends.insert(0, (0, kind::ERROR, pkt));
        return sends;
    }

    // What the reply echoes: the request's message, or with one payload byte changed
    // (`bad_data`; the last one, past any scanner's tagged fields).
    let mut echoed = req.icmp.to_vec();
    if hit(b.bad_data, Tag::BadData) {
        match echoed.len() {
            0..=8 => echoed.push(0xa5),
            len => echoed[len - 1] ^= 0xa5,
        }
    }
    // Replies of the request's family; `options` adds IPv4 options or an
    // IPv6 hop-by-hop header.
    let mut reply = |src: IpAddr, options: bool| match (src, req.src) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let opts = match (options, b.options_kind) {
                (false, _) => Vec::new(),
                (true, OptKind::Rr) => packet::record_route_option(src),
                (true, OptKind::Nop) => packet::nop_option(),
            };
            packet::echo_reply(&echoed, src, dst, b.ttl, next_id(ip_id), &opts)
        }
        (src, dst) => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V6(a) => a,
                IpAddr::V4(a) => a.to_ipv6_mapped(),
            };
            let hbh = match (options, b.options_kind) {
                (false, _) => Vec::new(),
                (true, OptKind::Rr) => packet6::hop_by_hop_padn(),
                (true, OptKind::Nop) => packet6::hop_by_hop_pad1(),
            };
            packet6::echo_reply6(&echoed, v6(src), v6(dst), b.ttl, &hbh)
        }
    };
    let good = reply(target, false);
    let mut replaced = false;

    if hit(b.corrupt.p, Tag::Corrupt) {
        let mut p = good.clone();
        if rule.v6 {
            packet6::corrupt_checksum6(&mut p);
        } else {
            packet::corrupt_checksum(&mut p);
        }
        sends.push((0, kind::CORRUPT, p));
        replaced |= b.corrupt.mode == Mode::Instead;
    }
    if hit(b.truncate.p, Tag::Truncate) {
        let mut p = good.clone();
        let header = good.len() - req.icmp.len();
        let len = match b.trunc_to {
            TruncTo::Mid => header + 8 + (req.icmp.len() - 8) / 2,
            TruncTo::Len(l) => l,
        };
        // Always at least one byte short, or it would be a valid reply.
        let len = len.min(good.len() - 1);
        if rule.v6 {
            packet6::truncate6(&mut p, len);
        } else {
            packet::truncate(&mut p, len);
        }
        sends.push((0, kind::TRUNCATED, p));
        replaced |= b.truncate.mode == Mode::Instead;
    }
    if hit(b.foreign_id.p, Tag::ForeignId) {
        let mut p = good.clone();
        if rule.v6 {
            packet6::foreign_id6(&mut p);
        } else {
            packet::foreign_id(&mut p);
        }
        sends.push((0, kind::FOREIGN_ID, p));
        replaced |= b.foreign_id.mode == Mode::Instead;
    }
    if hit(b.other_src.p, Tag::OtherSrc) {
        let src = match target {
            IpAddr::V4(t) => IpAddr::V4(
                b.other_src_addr
                    .filter(|&a| a != t)
                    .unwrap_or(Ipv4Addr::from(u32::from(t) ^ 1)),
            ),
            IpAddr::V6(t) => IpAddr::V6(
                b.other_src_addr6
                    .filter(|&a| a != t)
                    .unwrap_or(Ipv6Addr::from(u128::from(t) ^ 1)),
            ),
        };
        let p = reply(src, false);
        sends.push((0, kind::OTHER_SRC, p));
        replaced |= b.other_src.mode == Mode::Instead;
    }

    let with_opts = hit(b.options.p, Tag::Options);
    let mut primary = (kind::PRIMARY, good);
    if with_opts {
        let p = reply(target, true);
        match b.options.mode {
            Mode::Extra => sends.push((0, kind::OPTIONS, p)),
            Mode::Instead => primary = (kind::PRIMARY | kind::OPTIONS, p),
        }
    }
    if !replaced {
        let (k, p) = primary;
        for d in 1..=u64::from(dups) {
            let dk = (k & !kind::PRIMARY) | kind::DUP;
            sends.push((d * b.dup_gap, dk, p.clone()));
        }
        // Bad copies go first so a scanner sees them before the good one.
        let at = sends.iter().position(|s| s.0 > 0).unwrap_or(sends.len());
        sends.insert(at, (0, k, p));
    }
    sends
}

fn next_id(ip_id: &mut u16) -> u16 {
    *ip_id = ip_id.wrapping_add(1);
    *ip_id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::checksum;
    use crate::parse::parse_profile;

    fn request(dst: [u8; 4], seq: u16) -> Vec<u8> {
        let mut icmp = vec![8, 0, 0, 0, 0xbe, 0xef, (seq >> 8) as u8, seq as u8];
        icmp.extend_from_slice(b"0123456789abcdef");
        let c = checksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, 1, 0, 0, 192, 0, 2, 1];
        ip.extend_from_slice(&dst);
        let total = (ip.len() + icmp.len()) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        let c = checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        ip.extend_from_slice(&icmp);
        ip
    }

    fn run(profile: &str, dst: [u8; 4], count: u16) -> (Vec<Planned>, Stats) {
        let mut e = Engine::new(parse_profile(profile).unwrap());
        let mut out = Vec::new();
        for s in 0..count {
            e.handle(u64::from(s) * 1_000_000, &request(dst, s), &mut out);
        }
        let stats = e
            .hosts
            .get(&Key::from(u32::from(Ipv4Addr::from(dst))))
            .map(|h| h.stats.clone())
            .unwrap_or_default();
        (out, stats)
    }

    #[test]
    fn a_policer_counts_requests_to_silent_addresses_too() {
        // 1,000 requests/s in total over two blocks, one silent: 100 requests
        // 100 µs apart (10,000/s) get 5 (the burst) + ~10 through, whoever they are for.
        let p = "198.18.0.0/24 alive=none police=1000 police_scope=total\n\
                 198.18.1.0/24 police=1000 police_scope=total\n";
        let mut e = Engine::new(parse_profile(p).unwrap());
        let mut out = Vec::new();
        for k in 0..100u8 {
            let dst = [198, 18, k % 2, k];
            e.handle(u64::from(k) * 100_000, &request(dst, 1), &mut out);
        }
        let passed = 100 - e.totals().dropped_in;
        assert!((14..=16).contains(&passed), "{passed}");
        assert!(
            out.len() < passed as usize,
            "dead addresses used up some of them"
        );
        // Per rule: each block has its own budget.
        let p = "198.18.0.0/24 police=1000\n198.18.1.0/24 police=1000\n";
        let mut e = Engine::new(parse_profile(p).unwrap());
        let mut out = Vec::new();
        for k in 0..100u8 {
            e.handle(
                u64::from(k) * 100_000,
                &request([198, 18, k % 2, k], 1),
                &mut out,
            );
        }
        // Each block: 5 + ~10 over its 10 ms.
        assert!((27..=31).contains(&out.len()), "{}", out.len());
    }

    #[test]
    fn bad_data_changes_one_echoed_byte_with_valid_checksums() {
        let (out, _) = run("198.18.0.0/24 bad_data=1", [198, 18, 0, 5], 1);
        let [reply] = &out[..] else { panic!("{out:?}") };
        assert_eq!(reply.kind, kind::PRIMARY);
        let icmp = &reply.pkt[20..];
        assert_eq!(checksum(&reply.pkt[..20]), 0);
        assert_eq!(checksum(icmp), 0);
        assert_eq!(icmp[0], 0, "an echo reply");
        let sent = &request([198, 18, 0, 5], 0)[20..];
        assert_eq!(&icmp[8..23], &sent[8..23]);
        assert_eq!(icmp[23], sent[23] ^ 0xa5);
    }

    #[test]
    fn plain_reply_after_rtt() {
        let (out, st) = run("198.18.0.0/24 rtt=20ms", [198, 18, 0, 5], 1);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].due, out[0].kind), (20_000_000, kind::PRIMARY));
        assert_eq!(st.requests_seen, 1);
        assert_eq!(&out[0].pkt[12..16], &[198, 18, 0, 5]);
    }

    #[test]
    fn ignores_undescribed_and_dead() {
        let (out, _) = run("198.18.0.0/24", [198, 18, 1, 5], 3);
        assert!(out.is_empty());
        let (out, st) = run("198.18.0.0/24 alive=none", [198, 18, 0, 5], 3);
        assert!(out.is_empty());
        assert_eq!(st.requests_seen, 3);
    }

    #[test]
    fn corrupt_instead_and_extra() {
        let (out, _) = run("198.18.0.0/24 corrupt=1.0", [198, 18, 0, 5], 1);
        assert_eq!(
            out.iter().map(|p| p.kind).collect::<Vec<_>>(),
            vec![kind::CORRUPT]
        );
        let (out, _) = run(
            "198.18.0.0/24 corrupt=1.0 extra dup=1 dup_count=2",
            [198, 18, 0, 5],
            1,
        );
        let kinds: Vec<u16> = out.iter().map(|p| p.kind).collect();
        assert_eq!(
            kinds,
            vec![kind::CORRUPT, kind::PRIMARY, kind::DUP, kind::DUP]
        );
        assert!(out[2].due > out[1].due);
    }

    #[test]
    fn options_instead_is_still_primary() {
        let (out, _) = run("198.18.0.0/24 options=1", [198, 18, 0, 5], 1);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, kind::PRIMARY | kind::OPTIONS);
        assert_eq!(out[0].pkt[0], 0x47);
    }

    #[test]
    fn errors_come_from_router() {
        let (out, _) = run(
            "router 198.18.255.254\n203.0.113.0/24 unreach=host",
            [203, 0, 113, 9],
            1,
        );
        assert_eq!(out[0].kind, kind::ERROR);
        assert_eq!(&out[0].pkt[12..16], &[198, 18, 255, 254]);
        assert_eq!((out[0].pkt[20], out[0].pkt[21]), (3, 1));
    }

    #[test]
    fn loss_and_ratelimit_count() {
        let (out, st) = run(
            "198.18.0.0/24 loss_in=0.5 loss_out=0.5",
            [198, 18, 0, 5],
            2000,
        );
        assert_eq!(st.dropped_in + st.dropped_out + out.len() as u64, 2000);
        assert!((900..1100).contains(&st.dropped_in), "{st:?}");
        // 1 ms apart for 2 s of requests at 10/s: about 10 burst + 20 refilled.
        let (out, st) = run("198.18.0.0/24 ratelimit=10", [198, 18, 0, 5], 2000);
        assert!((25..=32).contains(&out.len()), "{}", out.len());
        assert_eq!(st.ratelimited + out.len() as u64, 2000);
    }

    #[test]
    fn rule_scope_ratelimit_is_shared() {
        let mut e =
            Engine::new(parse_profile("198.18.0.0/24 ratelimit=10 ratelimit_scope=rule").unwrap());
        let mut out = Vec::new();
        for host in 0..=255u8 {
            e.handle(0, &request([198, 18, 0, host], 1), &mut out);
        }
        assert_eq!(out.len(), 10);
        e.handle(1_000_000_000, &request([198, 18, 0, 1], 2), &mut out);
        assert_eq!(out.len(), 11);
        let p = "198.18.0.0/24 ratelimit=1000 ratelimit_burst=5 ratelimit_scope=rule";
        let mut e = Engine::new(parse_profile(p).unwrap());
        let mut out = Vec::new();
        for host in 0..=255u8 {
            e.handle(
                u64::from(host) * 100_000,
                &request([198, 18, 0, host], 1),
                &mut out,
            );
        }
        // 5 from the burst, then one per ms over 25.5 ms.
        assert!((29..=31).contains(&out.len()), "{}", out.len());
    }

    /// An ICMPv6 echo request from the device address to `dst`.
    fn request6(dst: &str, seq: u16) -> Vec<u8> {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = dst.parse().unwrap();
        let mut icmp = vec![128, 0, 0, 0, 0xbe, 0xef, (seq >> 8) as u8, seq as u8];
        icmp.extend_from_slice(b"0123456789abcdef");
        let c = packet6::checksum6(&src.octets(), &dst.octets(), &icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let mut ip = vec![0x60, 0, 0, 0, 0, icmp.len() as u8, 58, 64];
        ip.extend_from_slice(&src.octets());
        ip.extend_from_slice(&dst.octets());
        ip.extend_from_slice(&icmp);
        ip
    }

    fn run6(profile: &str, dst: &str, count: u16) -> (Vec<Planned>, Stats) {
        let mut e = Engine::new(parse_profile(profile).unwrap());
        let mut out = Vec::new();
        for s in 0..count {
            e.handle(u64::from(s) * 1_000_000, &request6(dst, s), &mut out);
        }
        let key = u128::from(dst.parse::<Ipv6Addr>().unwrap());
        let stats = e
            .hosts
            .get(&key)
            .map(|h| h.stats.clone())
            .unwrap_or_default();
        (out, stats)
    }

    fn icmp6_ok(p: &[u8]) -> bool {
        let off = packet6::icmp_offset(p);
        packet6::checksum6(&p[8..24], &p[24..40], &p[off..]) == 0
    }

    #[test]
    fn v6_reply_after_rtt() {
        let (out, st) = run6("2001:2::/120 rtt=20ms ttl=55", "2001:2::5", 1);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].due, out[0].kind), (20_000_000, kind::PRIMARY));
        assert_eq!(st.requests_seen, 1);
        let p = &out[0].pkt;
        assert_eq!((p[0] >> 4, p[6], p[7], p[40]), (6, 58, 55, 129));
        assert_eq!(
            addr_of(u128::from_be_bytes(p[8..24].try_into().unwrap())).to_string(),
            "2001:2::5"
        );
        assert_eq!(
            &p[24..40],
            &"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets()
        );
        assert!(icmp6_ok(p));
        // Undescribed or silent v6 addresses, and v4 requests, get nothing.
        assert!(run6("2001:2::/120", "2001:2::1:5", 2).0.is_empty());
        assert!(run6("2001:2::/120 alive=none", "2001:2::5", 2).0.is_empty());
        assert!(run("2001:2::/120", [198, 18, 0, 5], 2).0.is_empty());
    }

    #[test]
    fn v6_errors_from_v6_router() {
        let p = "router 2001:2:ffff::fe\n2001:db8:ff::/120 unreach=host quote=long\n\
                 2001:db8:ff::100/120 unreach=ttl router=2001:2::99";
        let (out, _) = run6(p, "2001:db8:ff::9", 1);
        assert_eq!(out[0].kind, kind::ERROR);
        let e = &out[0].pkt;
        assert_eq!(
            &e[8..24],
            &"2001:2:ffff::fe".parse::<Ipv6Addr>().unwrap().octets()
        );
        assert_eq!((e[40], e[41]), (1, 3));
        assert_eq!(e.len(), 48 + 64);
        assert!(icmp6_ok(e));
        let (out, _) = run6(p, "2001:db8:ff::109", 1);
        let e = &out[0].pkt;
        assert_eq!(
            &e[8..24],
            &"2001:2::99".parse::<Ipv6Addr>().unwrap().octets()
        );
        assert_eq!((e[40], e[41], e.len()), (3, 0, 96));
        for (u, code) in [("net", 0), ("admin", 1), ("port", 4)] {
            let (out, _) = run6(&format!("2001:2::/120 unreach={u}"), "2001:2::1", 1);
            assert_eq!((out[0].pkt[40], out[0].pkt[41]), (1, code), "{u}");
        }
        // The default router when the profile names none.
        let (out, _) = run6("2001:2::/120 unreach=admin", "2001:2::1", 1);
        assert_eq!(
            &out[0].pkt[8..24],
            &crate::profile::DEFAULT_ROUTER6.octets()
        );
    }

    #[test]
    fn v6_faults() {
        let (out, _) = run6(
            "2001:2::/120 corrupt=1 truncate=1 foreign_id=1 other_src=1 extra dup=1",
            "2001:2::5",
            1,
        );
        let kinds: Vec<u16> = out.iter().map(|p| p.kind).collect();
        assert_eq!(
            kinds,
            vec![
                kind::CORRUPT,
                kind::TRUNCATED,
                kind::FOREIGN_ID,
                kind::OTHER_SRC,
                kind::PRIMARY,
                kind::DUP
            ]
        );
        let good = &out[4].pkt;
        assert!(icmp6_ok(good));
        assert!(!icmp6_ok(&out[0].pkt));
        // mid: header, ICMPv6 header and half of the 16-byte payload.
        assert_eq!(out[1].pkt.len(), 40 + 8 + 8);
        assert_eq!(u16::from_be_bytes([out[1].pkt[4], out[1].pkt[5]]), 16);
        assert!(icmp6_ok(&out[2].pkt));
        assert_ne!(&out[2].pkt[44..46], &good[44..46]);
        assert_eq!(
            &out[3].pkt[8..24],
            &"2001:2::4".parse::<Ipv6Addr>().unwrap().octets()
        );
        assert!(icmp6_ok(&out[3].pkt));
        assert_eq!(out[5].pkt, *good);
        let (out, _) = run6(
            "2001:2::/120 other_src=1 other_src_addr=2001:2::77",
            "2001:2::5",
            1,
        );
        assert_eq!(
            &out[0].pkt[8..24],
            &"2001:2::77".parse::<Ipv6Addr>().unwrap().octets()
        );
        let (out, _) = run6("2001:2::/120 truncate=1 trunc_to=24", "2001:2::5", 1);
        assert_eq!(out[0].pkt.len(), 40);
    }

    #[test]
    fn v6_hop_by_hop_options_are_valid_replies() {
        let (out, _) = run6("2001:2::/120 options=1", "2001:2::5", 1);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, kind::PRIMARY | kind::OPTIONS);
        let p = &out[0].pkt;
        assert_eq!((p[6], p[40], p[42], p[43]), (0, 58, 1, 4));
        assert!(icmp6_ok(p));
        let (out, _) = run6(
            "2001:2::/120 options=1 options_kind=nop extra",
            "2001:2::5",
            1,
        );
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].kind, out[1].kind), (kind::OPTIONS, kind::PRIMARY));
        assert_eq!(&out[0].pkt[40..48], &[58, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(out[1].pkt[6], 58);
    }

    #[test]
    fn v6_loss_and_draws_per_address() {
        let (out, st) = run6("2001:2::/120 loss_in=0.5 loss_out=0.5", "2001:2::5", 2000);
        assert_eq!(st.dropped_in + st.dropped_out + out.len() as u64, 2000);
        assert!((900..1100).contains(&st.dropped_in), "{st:?}");
        // About 30% of a /120 alive.
        let p = parse_profile("seed 3\n2001:2::/120 alive=30%").unwrap();
        let alive = p
            .addresses()
            .filter(|&a| p.is_alive(p.rule_for(a).unwrap(), a))
            .count();
        assert!((50..110).contains(&alive), "{alive}");
    }

    #[test]
    fn arp_only_hosts_drop_echo() {
        let p = "seed 5\n198.18.0.0/24 arp_only=50%";
        let mut e = Engine::new(parse_profile(p).unwrap());
        let mut out = Vec::new();
        for host in 0..=255u8 {
            e.handle(0, &request([198, 18, 0, host], 1), &mut out);
        }
        let filtered = e.link_totals().echo_filtered;
        assert_eq!(filtered + out.len() as u64, 256);
        assert!((90..170).contains(&filtered), "{filtered}");
        assert_eq!(e.totals().requests_seen, 256);
        let (out, st) = run("198.18.0.0/24 arp_only=1", [198, 18, 0, 5], 3);
        assert!(out.is_empty());
        assert_eq!(st.requests_seen, 3);
    }

    #[test]
    fn deterministic() {
        let p = "seed 9\n198.18.0.0/24 rtt=1ms..900ms loss=0.3 dup=0.2 corrupt=0.2 extra";
        let (a, _) = run(p, [198, 18, 0, 7], 50);
        let (b, _) = run(p, [198, 18, 0, 7], 50);
        let key = |v: &Vec<Planned>| v.iter().map(|x| (x.due, x.kind)).collect::<Vec<_>>();
        assert_eq!(key(&a), key(&b));
    }
}
