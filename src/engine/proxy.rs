//! Proxy ARP: a router that answers ARP for a prefix routed behind it (Linux `proxy_arp`,
//! on by default in Cisco IOS) claims, with its one MAC, every address it routes, whether
//! a host has it or not. Such answers are not hosts. A MAC is a proxy when it answered for
//! many of the scan's targets that then stayed silent to echo; a server with many
//! addresses on one MAC answers echo on them and stays many hosts.
//!
//! What the proxy claimed is then judged by echo alone: a target that answers echo sent
//! to the proxy's MAC (the router forwards it, as for any routed target) is up, with its
//! responder and TTL but not the proxy's MAC; one that stays silent is down (`proxy-arp`).
//! The proxy's own addresses answer echo unrouted (the TTL still at a sender's initial
//! value) and keep its MAC.

use crate::engine::table::{Status, Table};
use crate::net::route::Plan;
use crate::wire::ether::Mac;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

/// Silent targets one MAC must have claimed to be taken for a proxy (a firewalled server
/// with a few addresses stays hosts).
pub const MIN_SILENT: u64 = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    /// The interface it answered on.
    pub link: u32,
    pub mac: Mac,
    /// Targets it answered ARP / neighbour discovery for.
    pub claimed: u64,
    /// Its own addresses among them (by target index).
    pub own: Vec<u64>,
    /// The blocks (IPv4 /24s, IPv6 /64s) its claims fall in: the silent targets there
    /// may be behind it. Elsewhere on the link it routes nothing it claimed, and echo
    /// through it would only earn its "unreachable".
    pub blocks: BTreeSet<(bool, u128)>,
}

/// The block (IPv4 /24, IPv6 /64) of `a`.
pub fn block(a: IpAddr) -> (bool, u128) {
    match a {
        IpAddr::V4(a) => (false, u128::from(u32::from(a) >> 8)),
        IpAddr::V6(a) => (true, u128::from(a) >> 64),
    }
}

impl Proxy {
    /// Whether a target at `a` may be behind it.
    pub fn serves(&self, a: IpAddr) -> bool {
        self.blocks.contains(&block(a))
    }
}

/// TTLs a reply arrives with when no router decremented it: the usual initial values.
fn unrouted(ttl: u8) -> bool {
    matches!(ttl, 32 | 64 | 128 | 255)
}

/// What one MAC claimed: targets, how many of them silent, the unrouted answers, blocks.
type Claims = (u64, u64, Vec<u64>, BTreeSet<(bool, u128)>);

/// The proxies among the MACs the on-link targets resolved to (`mac(slot)`; target `i`
/// is at `addr(i)`), judged from the table's echo answers so far.
pub fn find(
    plan: &Plan,
    mac: &dyn Fn(u64) -> Option<Mac>,
    addr: &dyn Fn(u64) -> IpAddr,
    table: &Table,
) -> Vec<Proxy> {
    let mut seen: HashMap<(u32, Mac), Claims> = HashMap::new();
    let mut slot = 0;
    for seg in &plan.segments {
        for i in seg.first..seg.first + seg.len {
            let s = slot;
            slot += 1;
            let Some(m) = mac(s) else { continue };
            let e = seen.entry((seg.link, m)).or_default();
            e.0 += 1;
            let Ok(k) = u32::try_from(i) else { continue };
            let c = table.get(k);
            match c.status {
                // Its own address: the block is the LAN's, not one routed behind it.
                Status::Up if unrouted(c.ttl) => e.2.push(i),
                Status::Up => {
                    e.3.insert(block(addr(i)));
                }
                _ => {
                    e.1 += 1;
                    e.3.insert(block(addr(i)));
                }
            }
        }
    }
    let mut proxies: Vec<Proxy> = seen
        .into_iter()
        .filter(|(_, (claimed, silent, ..))| *silent >= MIN_SILENT && 2 * silent > *claimed)
        .map(|((link, mac), (claimed, _, own, blocks))| Proxy {
            link,
            mac,
            claimed,
            own,
            blocks,
        })
        .collect();
    proxies.sort_by_key(|p| (p.link, p.mac.to_u64()));
    proxies
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::route::Segment;

    const ROUTER: Mac = Mac([0, 0, 0x0c, 1, 2, 3]);
    const SERVER: Mac = Mac([0xdc, 0xa6, 0x32, 0, 0, 1]);

    #[test]
    fn many_silent_claims_make_a_proxy_many_answering_addresses_do_not() {
        let plan = Plan {
            segments: vec![Segment {
                first: 0,
                len: 40,
                link: 2,
                src: "198.18.255.1".parse().unwrap(),
                via: None,
            }],
        };
        let table = Table::new(40, false);
        // 0..8: a server's addresses, all answering echo (TTL 64).
        for i in 0..8 {
            table.add_probe(i);
            table.record_reply(i, 100, 64, 0);
        }
        // 8..40: the router's claims: its own address (TTL 255), two hosts behind it
        // (TTL 63), the rest silent.
        for i in 8..40 {
            table.add_probe(i);
        }
        table.record_reply(8, 100, 255, 0);
        table.record_reply(20, 100, 63, 0);
        table.record_reply(21, 100, 63, 0);
        let mac = |s: u64| Some(if s < 8 { SERVER } else { ROUTER });
        // Targets 0..20 in 198.18.1.0/24, the rest in 198.18.2.0/24.
        let addr = |i: u64| IpAddr::from([198, 18, 1 + u8::from(i >= 20), i as u8]);
        let p = find(&plan, &mac, &addr, &table);
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].link, p[0].mac, p[0].claimed, &p[0].own),
            (2, ROUTER, 32, &vec![8])
        );
        assert!(p[0].serves("198.18.2.200".parse().unwrap()));
        assert!(!p[0].serves("198.18.3.1".parse().unwrap()));
        // With fewer than MIN_SILENT silent claims, nothing is a proxy.
        let few = |s: u64| (s < 8 + MIN_SILENT - 1).then_some(ROUTER);
        assert!(find(&plan, &few, &addr, &table).is_empty());
    }
}
