//! The simulated network: what each described address does.
//! Parsing lives in `parse.rs`; this file holds the model and lookups.

use std::net::Ipv4Addr;

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
    /// As much of the probe as fits in 576 bytes (RFC 1812).
    Long,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptKind {
    /// Record route, one slot, already full (holds the target's address).
    Rr,
    /// Three NOPs and an end-of-list: the smallest legal options area.
    Nop,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TruncTo {
    /// IP header, ICMP header and half of the payload.
    Mid,
    /// Total IP packet length in bytes (at least 20).
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
    pub unreach: Option<Unreach>,
    pub quote: Quote,
    pub router: Option<Ipv4Addr>,
    pub ttl: u8,
    /// Replies per second per host; `None` is unlimited.
    pub ratelimit: Option<u32>,
    pub ratelimit_scope: Scope,
    /// Bucket size; `None` means one second's worth (`ratelimit`).
    pub ratelimit_burst: Option<u32>,
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
            unreach: None,
            quote: Quote::Short,
            router: None,
            ttl: 64,
            ratelimit: None,
            ratelimit_scope: Scope::Host,
            ratelimit_burst: None,
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
    pub net: u32,
    pub len: u8,
    pub line: usize,
    pub behavior: Behavior,
}

impl Rule {
    pub fn first(&self) -> u32 {
        self.net
    }

    pub fn last(&self) -> u32 {
        self.net | host_mask(self.len)
    }

    pub fn contains(&self, addr: u32) -> bool {
        addr & !host_mask(self.len) == self.net
    }
}

pub fn host_mask(len: u8) -> u32 {
    if len >= 32 {
        0
    } else {
        u32::MAX >> len
    }
}

pub const DEFAULT_ROUTER: Ipv4Addr = Ipv4Addr::new(198, 18, 255, 254);

#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub seed: u64,
    pub router: Ipv4Addr,
    /// Later rules override earlier ones where they overlap.
    pub rules: Vec<Rule>,
}

impl Profile {
    /// The rule in force for `addr`: the last one that covers it.
    pub fn rule_for(&self, addr: u32) -> Option<&Rule> {
        self.rules.iter().rev().find(|r| r.contains(addr))
    }

    /// Whether `addr` (covered by `rule`) answers at all.
    pub fn is_alive(&self, rule: &Rule, addr: u32) -> bool {
        match &rule.behavior.alive {
            Alive::All => true,
            Alive::None => false,
            Alive::Fraction(p) => {
                crate::rng::chance(*p, self.seed, addr, 0, crate::rng::Tag::Alive, 0)
            }
            Alive::Offsets(ranges) => {
                let off = addr - rule.net;
                ranges.iter().any(|&(a, b)| (a..=b).contains(&off))
            }
        }
    }

    /// The router that reports errors for `rule`.
    pub fn router_for(&self, rule: &Rule) -> Ipv4Addr {
        rule.behavior.router.unwrap_or(self.router)
    }

    /// Every described address in ascending order, each once.
    pub fn addresses(&self) -> impl Iterator<Item = u32> + '_ {
        let mut spans: Vec<(u32, u32)> = self.rules.iter().map(|r| (r.first(), r.last())).collect();
        spans.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::new();
        for (a, b) in spans {
            match merged.last_mut() {
                Some(last) if u64::from(a) <= u64::from(last.1) + 1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        merged.into_iter().flat_map(|(a, b)| a..=b)
    }

    /// Distinct prefixes to route to the simulator, without redundant ones.
    pub fn prefixes(&self) -> Vec<(u32, u8)> {
        let mut out: Vec<(u32, u8)> = Vec::new();
        let mut rules: Vec<&Rule> = self.rules.iter().collect();
        rules.sort_by_key(|r| r.len);
        for r in rules {
            if !out.iter().any(|&(n, l)| r.net & !host_mask(l) == n) {
                out.push((r.net, r.len));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(net: [u8; 4], len: u8) -> Rule {
        Rule {
            net: u32::from(Ipv4Addr::from(net)),
            len,
            line: 1,
            behavior: Behavior::default(),
        }
    }

    #[test]
    fn addresses_merge_overlaps() {
        let p = Profile {
            seed: 0,
            router: DEFAULT_ROUTER,
            rules: vec![
                rule([10, 0, 0, 0], 30),
                rule([10, 0, 0, 2], 32),
                rule([10, 0, 0, 4], 31),
            ],
        };
        let got: Vec<u32> = p.addresses().map(|a| a & 0xff).collect();
        assert_eq!(got, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(p.prefixes().len(), 2);
        assert_eq!(
            p.rule_for(u32::from(Ipv4Addr::new(10, 0, 0, 2)))
                .unwrap()
                .len,
            32
        );
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
