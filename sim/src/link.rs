//! Layer-2 view of a profile (TAP mode): every described host's MAC, and
//! who answers ARP / neighbour solicitations for an address.

use crate::mac::{gateway_mac, host_mac, Mac};
use crate::profile::{addr_of, Key, Profile, Rule};
use std::net::IpAddr;

/// Who answers for an address on the segment.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'a> {
    /// A simulated host with its own MAC.
    Host { rule: &'a Rule, mac: Mac },
    /// The simulated router: its own address, or an `unreach` address it
    /// answers for (proxy ARP) so that it can send the error.
    Gateway,
}

/// Ordinal numbers of the described addresses, so each host gets a
/// distinct MAC (see [`host_mac`]), and the gateway's MAC.
pub struct MacBook {
    /// Merged spans of described addresses (first, last, ordinal of first).
    spans: Vec<(Key, Key, u64)>,
    pub gateway: Mac,
}

impl MacBook {
    pub fn new(p: &Profile) -> MacBook {
        let mut spans: Vec<(Key, Key)> = p.rules.iter().map(|r| (r.first(), r.last())).collect();
        spans.sort_unstable();
        let mut merged: Vec<(Key, Key, u64)> = Vec::new();
        let mut next: u64 = 0;
        for (a, b) in spans {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => {
                    if b > last.1 {
                        next += (b - last.1) as u64;
                        last.1 = b;
                    }
                }
                _ => {
                    merged.push((a, b, next));
                    next += (b - a) as u64 + 1;
                }
            }
        }
        MacBook {
            spans: merged,
            gateway: gateway_mac(p.seed),
        }
    }

    /// The ordinal of a described address (below 2^22: the parser's cap).
    fn index_of(&self, addr: Key) -> Option<u32> {
        let i = self.spans.partition_point(|s| s.0 <= addr).checked_sub(1)?;
        let (first, last, base) = self.spans[i];
        if addr > last {
            return None;
        }
        u32::try_from(base + (addr - first) as u64).ok()
    }

    /// The MAC of described address `addr` as a host (whether or not it is
    /// alive), from its rule's vendors.
    pub fn host_mac(&self, p: &Profile, rule: &Rule, addr: Key) -> Option<Mac> {
        let index = self.index_of(addr)?;
        Some(host_mac(p.seed, &rule.behavior.vendors, addr, index))
    }

    /// Who answers ARP / neighbour solicitations for `addr`: nobody for the
    /// scanner's own addresses, routed addresses, undescribed and silent
    /// ones. Loss (`arp_loss`) is the caller's business.
    pub fn owner<'a>(&self, p: &'a Profile, addr: Key) -> Option<Owner<'a>> {
        let lan = &p.lan;
        if lan.is_scanner(addr) {
            return None;
        }
        let a = addr_of(addr);
        if a == IpAddr::V4(lan.gateway) || a == IpAddr::V6(lan.gateway6) {
            return Some(Owner::Gateway);
        }
        if !lan.on_link(addr) {
            return None;
        }
        let rule = p.rule_for(addr)?;
        if !p.is_alive(rule, addr) {
            return None;
        }
        if rule.behavior.unreach.is_some() && !p.is_arp_only(rule, addr) {
            return Some(Owner::Gateway);
        }
        Some(Owner::Host {
            rule,
            mac: self.host_mac(p, rule, addr)?,
        })
    }

    pub fn mac_of(&self, owner: &Owner) -> Mac {
        match owner {
            Owner::Host { mac, .. } => *mac,
            Owner::Gateway => self.gateway,
        }
    }

    /// The MAC an IP frame to `addr` must be sent to: its owner's on the
    /// segment, the gateway's for routed addresses, None where nobody
    /// answers ARP (an on-link address nothing owns).
    pub fn frame_mac(&self, p: &Profile, addr: Key) -> Option<Mac> {
        match self.owner(p, addr) {
            Some(o) => Some(self.mac_of(&o)),
            None if !p.lan.on_link(addr) && !p.lan.is_scanner(addr) => Some(self.gateway),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_profile;
    use crate::profile::key_of;

    fn k(s: &str) -> Key {
        key_of(s.parse().unwrap()).unwrap()
    }

    #[test]
    fn ordinals_span_rules_and_families() {
        let p =
            parse_profile("198.18.0.0/30\n198.18.0.2/31\n198.18.1.0/31\n2001:2::/127\n").unwrap();
        let b = MacBook::new(&p);
        let idx: Vec<Option<u32>> = [
            "198.18.0.0",
            "198.18.0.3",
            "198.18.1.0",
            "198.18.1.1",
            "2001:2::1",
            "198.18.0.4",
        ]
        .iter()
        .map(|s| b.index_of(k(s)))
        .collect();
        assert_eq!(idx, [Some(0), Some(3), Some(4), Some(5), Some(7), None]);
    }

    #[test]
    fn owners() {
        let p = parse_profile(
            "seed 2\n\
             198.18.0.0/29 alive=1-5\n\
             198.18.0.4 unreach=admin\n\
             198.18.0.5 unreach=admin arp_only=1\n\
             203.0.113.0/29\n\
             198.19.255.254\n\
             2001:2::/126\n",
        )
        .unwrap();
        let b = MacBook::new(&p);
        let host = |s: &str| match b.owner(&p, k(s)) {
            Some(Owner::Host { mac, .. }) => Some(mac),
            _ => None,
        };
        assert!(b.owner(&p, k("198.18.0.0")).is_none(), "silent");
        let m1 = host("198.18.0.1").unwrap();
        assert_eq!(b.frame_mac(&p, k("198.18.0.1")), Some(m1));
        assert_ne!(Some(m1), host("198.18.0.2"));
        assert!(matches!(b.owner(&p, k("198.18.0.4")), Some(Owner::Gateway)));
        assert!(
            host("198.18.0.5").is_some(),
            "arp-only hosts answer themselves"
        );
        assert!(b
            .owner(&p, k("198.18.255.254"))
            .is_some_and(|o| matches!(o, Owner::Gateway)));
        assert!(b.owner(&p, k("203.0.113.1")).is_none(), "routed");
        assert_eq!(b.frame_mac(&p, k("203.0.113.1")), Some(b.gateway));
        assert!(b.owner(&p, k("198.19.255.254")).is_none(), "the scanner");
        assert_eq!(b.frame_mac(&p, k("198.19.255.254")), None);
        assert!(host("2001:2::1").is_some());
        assert!(matches!(b.owner(&p, k("fe80::1")), Some(Owner::Gateway)));
        // Deterministic across builds of the book.
        assert_eq!(MacBook::new(&p).frame_mac(&p, k("198.18.0.1")), Some(m1));
    }
}
