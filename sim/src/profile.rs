//! The simulated network: what each described address does.
//! Parsing lives in `parse.rs`; this file holds the model and lookups.
//!
//! Addresses of both families are handled as one number, a [`Key`]: an IPv4
//! address is its 32-bit value, an IPv6 address its 128-bit value. IPv6
//! rules may not touch `::/96`, so the two never collide, and sorting keys
//! puts every IPv4 address before every IPv6 address.

use crate::mac::{Vendor, DEFAULT_VENDORS};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address of either family (see the module comment).
pub type Key = u128;

/// Keys below this are IPv4 addresses.
pub const V6_START: Key = 1 << 32;

/// The key of `addr`, or None for IPv6 addresses in `::/96`, which no rule
/// can describe.
pub fn key_of(addr: IpAddr) -> Option<Key> {
    match addr {
        IpAddr::V4(a) => Some(Key::from(u32::from(a))),
        IpAddr::V6(a) => Some(u128::from(a)).filter(|&k| k >= V6_START),
    }
}

/// The address a key stands for.
pub fn addr_of(key: Key) -> IpAddr {
    match u32::try_from(key) {
        Ok(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
        Err(_) => IpAddr::V6(Ipv6Addr::from(key)),
    }
}

/// How a faulty reply relates to the good one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The faulty reply replaces the good reply.
    Instead,
    /// The faulty reply is sent just before an unchanged good reply.
    Extra,
}

/// A fault that hits a reply with probability `p`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fault {
    pub p: f64,
    pub mode: Mode,
}

impl Fault {
    pub const OFF: Fault = Fault {
        p: 0.0,
        mode: Mode::Instead,
    };

    pub fn on(&self) -> bool {
        self.p > 0.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dist {
    Uniform,
    /// Mean of three uniform draws: bell shaped but never outside the range.
    Normal,
}

/// A delay in nanoseconds: fixed when `lo == hi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delay {
    pub lo: u64,
    pub hi: u64,
    pub dist: Dist,
}

impl Delay {
    pub const fn fixed(ns: u64) -> Delay {
        Delay {
            lo: ns,
            hi: ns,
            dist: Dist::Uniform,
        }
    }

    pub fn is_fixed(&self) -> bool {
        self.lo == self.hi
    }

    /// Picks a delay from uniform draws `u` in [0, 1).
    pub fn pick(&self, u: [f64; 3]) -> u64 {
        if self.is_fixed() {
            return self.lo;
        }
        let f = match self.dist {
            Dist::Uniform => u[0],
            Dist::Normal => (u[0] + u[1] + u[2]) / 3.0,
        };
        self.lo + ((self.hi - self.lo) as f64 * f) as u64
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Alive {
    All,
    None,
    /// Each address independently, chosen by the seed.
    Fraction(f64),
    /// Inclusive ranges of offsets from the start of the rule's prefix.
    Offsets(Vec<(u32, u32)>),
}

/// ICMP errors a router can send instead of the target answering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unreach {
    Net,
    Host,
    Port,
    Admin,
    Ttl,
}

impl Unreach {
    /// ICMP (type, code).
    pub fn type_code(self) -> (u8, u8) {
        match self {
            Unreach::Net => (3, 0),
            Unreach::Host => (3, 1),
            Unreach::Port => (3, 3),
            Unreach::Admin => (3, 13),
            Unreach::Ttl => (11, 0),
        }
    }

    /// ICMPv6 (type, code): destination unreachable codes 0 (no route),
    /// 1 (administratively prohibited), 3 (address unreachable), 4 (port
    /// unreachable); time exceeded in transit.
    pub fn type_code6(self) -> (u8, u8) {
        match self {
            Unreach::Net => (1, 0),
            Unreach::Admin => (1, 1),
            Unreach::Host => (1, 3),
            Unreach::Port => (1, 4),
            Unreach::Ttl => (3, 0),
        }
    }

    /// The reason string used in the truth file (and expected from sweep).
    pub fn detail(self) -> &'static str {
        match self {
            Unreach::Net => "net-unreachable",
            Unreach::Host => "host-unreachable",
            Unreach::Port => "port-unreachable",
            Unreach::Admin => "admin-prohibited",
            Unreach::Ttl => "ttl-exceeded",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quote {
    /// IP header + first 8 bytes of the ICMP message (RFC 792).
    Short,
    /// As much of the probe as fits in 576 bytes (RFC 1812), for IPv6 in
    /// 1280 bytes (RFC 4443).
    Long,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptKind {
    /// Record route, one slot, already full (holds the target's address).
    /// IPv6: a hop-by-hop header holding one PadN option.
    Rr,
    /// Three NOPs and an end-of-list: the smallest legal options area.
    /// IPv6: a hop-by-hop header holding six Pad1 options.
    Nop,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TruncTo {
    /// IP header, ICMP header and half of the payload.
    Mid,
    /// Total IP packet length in bytes (at least 20; at least 40 for IPv6).
    Len(usize),
}

/// Who shares a rate-limit budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Each address has its own budget.
    Host,
    /// All addresses of the rule share one, like a rate-limiting router.
    Rule,
}

/// Who shares a policer's budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoliceScope {
    /// The rule's addresses together (a firewall rule for one block).
    Rule,
    /// Every address of every rule policed `total` (one limit on the path).
    Total,
}

/// Everything one rule says about its addresses.
#[derive(Clone, Debug, PartialEq)]
pub struct Behavior {
    pub alive: Alive,
    pub rtt: Delay,
    pub loss_in: f64,
    pub loss_out: f64,
    pub dup: f64,
    pub dup_count: u32,
    pub dup_gap: u64,
    pub reorder: f64,
    pub reorder_delay: Delay,
    pub corrupt: Fault,
    pub truncate: Fault,
    pub trunc_to: TruncTo,
    pub options: Fault,
    pub options_kind: OptKind,
    pub foreign_id: Fault,
    pub other_src: Fault,
    pub other_src_addr: Option<Ipv4Addr>,
    pub other_src_addr6: Option<Ipv6Addr>,
    pub unreach: Option<Unreach>,
    pub quote: Quote,
    pub router: Option<Ipv4Addr>,
    pub router6: Option<Ipv6Addr>,
    /// IPv4 TTL, IPv6 hop limit.
    pub ttl: u8,
    /// Replies per second per host; `None` is unlimited.
    pub ratelimit: Option<u32>,
    pub ratelimit_scope: Scope,
    /// Bucket size; `None` means one second's worth (`ratelimit`).
    pub ratelimit_burst: Option<u32>,
    /// Echo requests per second let through to the rule's addresses, alive or not, like
    /// a firewall's ICMP-flood limit (`limit rate over N/second drop`); `None`: no policer.
    pub police: Option<u32>,
    pub police_scope: PoliceScope,
    /// Requests the policer lets through back to back (nftables' default is 5).
    pub police_burst: u32,
    /// Probability that a reply echoes data other than the request's (one payload
    /// byte changed, checksums right: ping's "wrong data byte").
    pub bad_data: f64,
    /// Fraction of the alive hosts that answer ARP / neighbour solicitations
    /// but drop echo requests (firewalled PCs, printers).
    pub arp_only: f64,
    /// Probability that one ARP request / neighbour solicitation is lost.
    pub arp_loss: f64,
    /// Delay before an ARP reply / neighbour advertisement.
    pub arp_rtt: Delay,
    /// Vendors whose OUIs the hosts' MACs are drawn from (TAP mode).
    pub vendors: Vec<Vendor>,
}

impl Default for Behavior {
    fn default() -> Self {
        Behavior {
            alive: Alive::All,
            rtt: Delay::fixed(1_000_000),
            loss_in: 0.0,
            loss_out: 0.0,
            dup: 0.0,
            dup_count: 1,
            dup_gap: 1_000_000,
            reorder: 0.0,
            reorder_delay: Delay::fixed(100_000_000),
            corrupt: Fault::OFF,
            truncate: Fault::OFF,
            trunc_to: TruncTo::Mid,
            options: Fault::OFF,
            options_kind: OptKind::Rr,
            foreign_id: Fault::OFF,
            other_src: Fault::OFF,
            other_src_addr: None,
            other_src_addr6: None,
            unreach: None,
            quote: Quote::Short,
            router: None,
            router6: None,
            ttl: 64,
            ratelimit: None,
            ratelimit_scope: Scope::Host,
            ratelimit_burst: None,
            police: None,
            police_scope: PoliceScope::Rule,
            police_burst: 5,
            bad_data: 0.0,
            arp_only: 0.0,
            arp_loss: 0.0,
            arp_rtt: Delay::fixed(0),
            vendors: DEFAULT_VENDORS.to_vec(),
        }
    }
}

impl Behavior {
    /// The faults that make a reply unusable to a correct scanner.
    pub fn invalid_faults(&self) -> [(&'static str, Fault); 4] {
        [
            ("corrupt", self.corrupt),
            ("truncate", self.truncate),
            ("foreign_id", self.foreign_id),
            ("other_src", self.other_src),
        ]
    }
}

/// One profile line: a prefix and what its addresses do.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// First address of the prefix.
    pub net: Key,
    /// Prefix length within the family (0..=32 or 0..=128).
    pub len: u8,
    pub v6: bool,
    pub line: usize,
    pub behavior: Behavior,
}

impl Rule {
    pub fn first(&self) -> Key {
        self.net
    }

    pub fn last(&self) -> Key {
        self.net | host_mask(self.v6, self.len)
    }

    pub fn contains(&self, addr: Key) -> bool {
        (self.first()..=self.last()).contains(&addr)
    }

    /// Number of addresses in the prefix.
    pub fn size(&self) -> u128 {
        host_mask(self.v6, self.len).saturating_add(1)
    }
}

/// Bits of the family (32 or 128).
pub fn family_bits(v6: bool) -> u8 {
    if v6 {
        128
    } else {
        32
    }
}

/// Host part of a prefix of length `len`.
pub fn host_mask(v6: bool, len: u8) -> u128 {
    let host = u32::from(family_bits(v6).saturating_sub(len));
    if host == 0 {
        0
    } else {
        u128::MAX >> (128 - host)
    }
}

pub const DEFAULT_ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 255, 254);
/// Source of ICMPv6 errors unless the profile names another.
pub const DEFAULT_ROUTER6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0xffff, 0, 0, 0, 0, 0xfe);

/// What the simulator sits behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkMode {
    /// A TUN device: IP packets, the kernel routes every prefix to it.
    Tun,
    /// A TAP device: an Ethernet segment with one MAC per host, ARP and NDP.
    Tap,
}

/// The scanner's side of the TAP link (see sim/README.md, "TAP mode").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lan {
    pub mode: LinkMode,
    /// The scanner's address on the device and its on-link prefix length.
    pub scanner: (Ipv4Addr, u8),
    pub scanner6: (Ipv6Addr, u8),
    /// The simulated router on the segment, next hop for routed prefixes.
    pub gateway: Ipv4Addr,
    pub gateway6: Ipv6Addr,
}

/// Defaults: the scanner has the last-but-one address of the lab's
/// 198.18.0.0/15 and of 2001:2::/64, so those are on-link; the router is
/// 198.18.255.254 (also the default error source) and fe80::1.
pub const DEFAULT_SCANNER: (Ipv4Addr, u8) = (Ipv4Addr::new(198, 19, 255, 254), 15);
pub const DEFAULT_SCANNER6: (Ipv6Addr, u8) = (
    Ipv6Addr::new(0x2001, 2, 0, 0, 0xffff, 0xffff, 0xffff, 0xfffe),
    64,
);
pub const DEFAULT_GATEWAY6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

impl Default for Lan {
    fn default() -> Self {
        Lan {
            mode: LinkMode::Tun,
            scanner: DEFAULT_SCANNER,
            scanner6: DEFAULT_SCANNER6,
            gateway: DEFAULT_ROUTER,
            gateway6: DEFAULT_GATEWAY6,
        }
    }
}

impl Lan {
    /// Whether `addr` is on the scanner's segment: inside its prefix (IPv6
    /// also link-local), so the kernel routes it `scope link`, no gateway.
    pub fn on_link(&self, addr: Key) -> bool {
        match addr_of(addr) {
            IpAddr::V4(a) => {
                let (s, len) = self.scanner;
                let mask = !(host_mask(false, len) as u32);
                u32::from(a) & mask == u32::from(s) & mask
            }
            IpAddr::V6(a) => {
                let (s, len) = self.scanner6;
                let mask = !host_mask(true, len);
                u128::from(a) & mask == u128::from(s) & mask || a.segments()[0] & 0xffc0 == 0xfe80
            }
        }
    }

    /// Whether `addr` is one of the scanner's own addresses.
    pub fn is_scanner(&self, addr: Key) -> bool {
        addr_of(addr) == IpAddr::V4(self.scanner.0) || addr_of(addr) == IpAddr::V6(self.scanner6.0)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub seed: u64,
    pub router: Ipv4Addr,
    pub router6: Ipv6Addr,
    /// Later rules override earlier ones where they overlap.
    pub rules: Vec<Rule>,
    pub lan: Lan,
    /// An on-path attacker forging answers (the `attacker` directive).
    pub attack: Option<crate::attack::Attack>,
}

impl Profile {
    /// The rule in force for `addr`: the last one that covers it.
    pub fn rule_for(&self, addr: Key) -> Option<&Rule> {
        self.rules.iter().rev().find(|r| r.contains(addr))
    }

    /// Whether `addr` (covered by `rule`) answers at all.
    pub fn is_alive(&self, rule: &Rule, addr: Key) -> bool {
        match &rule.behavior.alive {
            Alive::All => true,
            Alive::None => false,
            Alive::Fraction(p) => {
                crate::rng::chance(*p, self.seed, addr, 0, crate::rng::Tag::Alive, 0)
            }
            Alive::Offsets(ranges) => {
                let off = addr - rule.net;
                ranges
                    .iter()
                    .any(|&(a, b)| (u128::from(a)..=u128::from(b)).contains(&off))
            }
        }
    }

    /// Whether alive `addr` (covered by `rule`) answers ARP/NDP but no echo.
    pub fn is_arp_only(&self, rule: &Rule, addr: Key) -> bool {
        crate::rng::chance(
            rule.behavior.arp_only,
            self.seed,
            addr,
            0,
            crate::rng::Tag::ArpOnly,
            0,
        )
    }

    /// The router that reports errors for `rule`.
    pub fn router_for(&self, rule: &Rule) -> IpAddr {
        if rule.v6 {
            IpAddr::V6(rule.behavior.router6.unwrap_or(self.router6))
        } else {
            IpAddr::V4(rule.behavior.router.unwrap_or(self.router))
        }
    }

    /// Every described address in ascending order (IPv4 first), each once.
    pub fn addresses(&self) -> impl Iterator<Item = Key> + '_ {
        let mut spans: Vec<(Key, Key)> = self.rules.iter().map(|r| (r.first(), r.last())).collect();
        spans.sort_unstable();
        let mut merged: Vec<(Key, Key)> = Vec::new();
        for (a, b) in spans {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        merged.into_iter().flat_map(|(a, b)| a..=b)
    }

    /// Distinct prefixes to route to the simulator, without redundant ones.
    pub fn prefixes(&self) -> Vec<(IpAddr, u8)> {
        let mut out: Vec<&Rule> = Vec::new();
        let mut rules: Vec<&Rule> = self.rules.iter().collect();
        rules.sort_by_key(|r| (r.v6, r.len));
        for r in rules {
            if !out.iter().any(|o| o.v6 == r.v6 && o.contains(r.net)) {
                out.push(r);
            }
        }
        out.iter().map(|r| (addr_of(r.net), r.len)).collect()
    }

    /// Whether any rule describes IPv6 addresses.
    pub fn has_v6(&self) -> bool {
        self.rules.iter().any(|r| r.v6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(net: [u8; 4], len: u8) -> Rule {
        Rule {
            net: Key::from(u32::from(Ipv4Addr::from(net))),
            len,
            v6: false,
            line: 1,
            behavior: Behavior::default(),
        }
    }

    fn rule6(net: &str, len: u8) -> Rule {
        let a: Ipv6Addr = net.parse().unwrap();
        Rule {
            net: u128::from(a),
            len,
            v6: true,
            line: 1,
            behavior: Behavior::default(),
        }
    }

    #[test]
    fn addresses_merge_overlaps() {
        let p = Profile {
            seed: 0,
            router: DEFAULT_ROUTER,
            router6: DEFAULT_ROUTER6,
            attack: None,
            rules: vec![
                rule([10, 0, 0, 0], 30),
                rule([10, 0, 0, 2], 32),
                rule([10, 0, 0, 4], 31),
            ],
            lan: Lan::default(),
        };
        let got: Vec<u128> = p.addresses().map(|a| a & 0xff).collect();
        assert_eq!(got, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(p.prefixes().len(), 2);
        assert_eq!(
            p.rule_for(Key::from(u32::from(Ipv4Addr::new(10, 0, 0, 2))))
                .unwrap()
                .len,
            32
        );
    }

    #[test]
    fn keys_order_v4_before_v6() {
        let v4: IpAddr = "255.255.255.255".parse().unwrap();
        let v6: IpAddr = "2001:2::".parse().unwrap();
        let (k4, k6) = (key_of(v4).unwrap(), key_of(v6).unwrap());
        assert!(k4 < V6_START && k6 > k4);
        assert_eq!((addr_of(k4), addr_of(k6)), (v4, v6));
        assert_eq!(key_of("::1".parse().unwrap()), None);
        assert_eq!(key_of("::1.2.3.4".parse().unwrap()), None);
    }

    #[test]
    fn v6_rules_and_mixed_addresses() {
        let p = Profile {
            seed: 0,
            router: DEFAULT_ROUTER,
            router6: DEFAULT_ROUTER6,
            attack: None,
            rules: vec![
                rule6("2001:2::", 126),
                rule([198, 18, 0, 0], 31),
                rule6("2001:2::2", 128),
                rule6("2001:2::", 120),
            ],
            lan: Lan::default(),
        };
        let got: Vec<String> = p.addresses().map(|k| addr_of(k).to_string()).collect();
        assert_eq!(
            got[..4],
            ["198.18.0.0", "198.18.0.1", "2001:2::", "2001:2::1"]
        );
        assert_eq!(got.len(), 2 + 256);
        assert_eq!(got.last().map(String::as_str), Some("2001:2::ff"));
        let prefixes: Vec<String> = p
            .prefixes()
            .iter()
            .map(|(a, l)| format!("{a}/{l}"))
            .collect();
        assert_eq!(prefixes, ["198.18.0.0/31", "2001:2::/120"]);
        assert_eq!(host_mask(true, 64), u128::from(u64::MAX));
        assert_eq!(host_mask(true, 0), u128::MAX);
        assert_eq!(host_mask(false, 0), u128::from(u32::MAX));
        assert_eq!(rule6("2001:2::", 120).size(), 256);
        assert!(p.has_v6());
    }

    #[test]
    fn on_link_is_the_scanner_prefix() {
        let lan = Lan::default();
        let k = |s: &str| key_of(s.parse().unwrap()).unwrap();
        assert!(lan.on_link(k("198.18.0.5")) && lan.on_link(k("198.19.200.1")));
        assert!(!lan.on_link(k("198.20.0.1")) && !lan.on_link(k("203.0.113.5")));
        assert!(lan.on_link(k("2001:2::5")) && lan.on_link(k("fe80::1")));
        assert!(!lan.on_link(k("2001:2:0:1::5")) && !lan.on_link(k("2001:db8:ff::1")));
        assert!(lan.on_link(k("198.18.255.254")));
        assert!(lan.is_scanner(k("198.19.255.254")));
        assert!(lan.is_scanner(k("2001:2::ffff:ffff:ffff:fffe")));
        assert!(!lan.is_scanner(k("198.18.0.5")));
    }

    #[test]
    fn normal_delay_stays_in_range() {
        let d = Delay {
            lo: 10,
            hi: 20,
            dist: Dist::Normal,
        };
        assert_eq!(d.pick([0.0, 0.0, 0.0]), 10);
        assert!(d.pick([0.999, 0.999, 0.999]) < 20);
        assert_eq!(Delay::fixed(5).pick([0.5; 3]), 5);
    }
}
