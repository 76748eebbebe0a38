//! The rtnetlink client behind the route decision: one dump of the kernel's links,
//! addresses, neighbours, routes and rules into `route::Routes`, and single route lookups
//! (RTM_GETROUTE) for when policy routing leaves the tables undecided.

use super::route::{bits, key, prefix_last, Kind, Link, Route, Routes};
use super::route::{TABLE_DEFAULT, TABLE_LOCAL, TABLE_MAIN};
use crate::wire::ether::Mac;
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkLayerType, LinkMessage};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::rule::{RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::io;
use std::net::IpAddr;

/// A netlink route socket that answers dumps and single lookups.
pub struct Netlink {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Netlink {
    pub fn open() -> io::Result<Netlink> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        Ok(Netlink {
            sock,
            seq: 0,
            buf: vec![0; 1 << 16],
        })
    }

    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        dump: bool,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq += 1;
        let mut hdr = NetlinkHeader::default();
        hdr.flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { 0 };
        hdr.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(hdr, NetlinkPayload::from(msg));
        packet.finalize();
        let mut out = vec![0; packet.buffer_len()];
        packet.serialize(&mut out);
        self.sock.send(&out, 0)?;
        let mut got = Vec::new();
        loop {
            let n = self.sock.recv(&mut &mut self.buf[..], 0)?;
            let mut at = 0;
            while at < n {
                let bytes = &self.buf[at..n];
                let msg = <NetlinkMessage<RouteNetlinkMessage>>::deserialize(bytes)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = msg.header.length as usize;
                if msg.header.sequence_number != self.seq {
                    at += len.max(1);
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::Done(_) => return Ok(got),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(got),
                            Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                        }
                    }
                    NetlinkPayload::InnerMessage(m) => {
                        got.push(m);
                        if !dump {
                            return Ok(got);
                        }
                    }
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                at += len;
            }
        }
    }

    /// Links, addresses, routes and rules of this network namespace.
    pub fn dump(&mut self) -> io::Result<Routes> {
        let mut links = Vec::new();
        for m in self.request(RouteNetlinkMessage::GetLink(LinkMessage::default()), true)? {
            if let RouteNetlinkMessage::NewLink(l) = m {
                links.push(link_of(&l));
            }
        }
        for m in self.request(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            true,
        )? {
            if let RouteNetlinkMessage::NewAddress(a) = m {
                let addr = a.attributes.iter().find_map(|at| match at {
                    AddressAttribute::Local(a) => Some(*a),
                    _ => None,
                });
                let addr = addr.or_else(|| {
                    a.attributes.iter().find_map(|at| match at {
                        AddressAttribute::Address(a) => Some(*a),
                        _ => None,
                    })
                });
                if let (Some(addr), Some(l)) = (
                    addr,
                    links
                        .iter_mut()
                        .find(|l: &&mut Link| l.index == a.header.index),
                ) {
                    l.addrs.push((addr, a.header.prefix_len));
                }
            }
        }
        let mut routes = Vec::new();
        for m in self.request(RouteNetlinkMessage::GetRoute(RouteMessage::default()), true)? {
            if let RouteNetlinkMessage::NewRoute(r) = m {
                routes.extend(route_of(&r));
            }
        }
        let mut rules = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut q = RuleMessage::default();
            q.header.family = family;
            for m in self.request(RouteNetlinkMessage::GetRule(q), true)? {
                if let RouteNetlinkMessage::NewRule(r) = m {
                    let table = r
                        .attributes
                        .iter()
                        .find_map(|a| match a {
                            RuleAttribute::Table(t) => Some(*t),
                            _ => None,
                        })
                        .unwrap_or(u32::from(r.header.table));
                    let prio = r
                        .attributes
                        .iter()
                        .find_map(|a| match a {
                            RuleAttribute::Priority(p) => Some(*p),
                            _ => None,
                        })
                        .unwrap_or(0);
                    let selectors = r.header.dst_len != 0
                        || r.header.src_len != 0
                        || r.header.tos != 0
                        || r.attributes.iter().any(|a| {
                            !matches!(
                                a,
                                RuleAttribute::Table(_)
                                    | RuleAttribute::Priority(_)
                                    | RuleAttribute::Protocol(_)
                                    // The kernel reports "no suppression" as -1.
                                    | RuleAttribute::SuppressPrefixLen(u32::MAX)
                            )
                        });
                    rules.push((family == AddressFamily::Inet6, prio, table, selectors));
                }
            }
        }
        let mut neighbours = Vec::new();
        let q = RouteNetlinkMessage::GetNeighbour(NeighbourMessage::default());
        for m in self.request(q, true)? {
            if let RouteNetlinkMessage::NewNeighbour(n) = m {
                neighbours.extend(neighbour_of(&n));
            }
        }
        Ok(Routes {
            links,
            routes,
            default_rules: rules_are_default(&rules),
            neighbours,
            routed_frames: false,
        })
    }

    /// The kernel's own answer for one destination (all rules applied).
    pub fn get(&mut self, a: IpAddr) -> io::Result<Option<Route>> {
        let mut q = RouteMessage::default();
        q.header.address_family = match a {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        q.header.destination_prefix_length = bits(a.is_ipv6()) as u8;
        q.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(a)));
        match self.request(RouteNetlinkMessage::GetRoute(q), false) {
            Ok(m) => Ok(m.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => route_of(&r).map(|mut r| {
                    // The answer names the destination itself, /32 or /128.
                    r.dst = key(a);
                    r
                }),
                _ => None,
            })),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENETUNREACH | libc::EHOSTUNREACH)
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// The kernel's defaults: IPv4 local (0), main (32766), default (32767); IPv6 local and
/// main. Anything else (another table, a selector) is policy routing.
fn rules_are_default(rules: &[(bool, u32, u32, bool)]) -> bool {
    rules.iter().all(|&(_, prio, table, selectors)| {
        !selectors
            && matches!(
                (prio, table),
                (0, TABLE_LOCAL) | (32766, TABLE_MAIN) | (32767, TABLE_DEFAULT)
            )
    })
}

fn link_of(l: &LinkMessage) -> Link {
    let flags = l.header.flags;
    let name = l
        .attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let ether = l.header.link_layer_type == LinkLayerType::Ether
        && !flags.contains(LinkFlags::Loopback)
        && !flags.contains(LinkFlags::Noarp);
    let mac = l.attributes.iter().find_map(|a| match a {
        LinkAttribute::Address(b) if b.len() == 6 => Some(Mac(b[..6].try_into().ok()?)),
        _ => None,
    });
    Link {
        index: l.header.index,
        name,
        mac: mac.filter(|_| ether),
        ethernet: ether,
        up: flags.contains(LinkFlags::Up),
        addrs: Vec::new(),
    }
}

/// A resolved neighbour entry: (interface, address, MAC).
fn neighbour_of(n: &NeighbourMessage) -> Option<(u32, IpAddr, Mac)> {
    use NeighbourState as S;
    if !matches!(
        n.header.state,
        S::Reachable | S::Stale | S::Delay | S::Probe | S::Permanent
    ) {
        return None;
    }
    let mut addr = None;
    let mut mac = None;
    for a in &n.attributes {
        match a {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => {
                addr = Some(IpAddr::V4(*v4))
            }
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => {
                addr = Some(IpAddr::V6(*v6))
            }
            NeighbourAttribute::LinkLayerAddress(b) if b.len() == 6 => {
                mac = Some(Mac(b[..6].try_into().ok()?))
            }
            _ => {}
        }
    }
    Some((n.header.ifindex, addr?, mac.filter(|m| m.is_unicast())?))
}

fn route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

fn route_of(r: &RouteMessage) -> Option<Route> {
    let v6 = match r.header.address_family {
        AddressFamily::Inet => false,
        AddressFamily::Inet6 => true,
        _ => return None,
    };
    let mut dst = None;
    let mut table = u32::from(r.header.table);
    let (mut oif, mut prefsrc, mut metric, mut gateway) = (None, None, 0, false);
    let mut next_hop = None;
    for a in &r.attributes {
        match a {
            RouteAttribute::Destination(d) => dst = route_addr(d),
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::PrefSource(s) => prefsrc = route_addr(s),
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::Gateway(g) => {
                gateway = true;
                next_hop = route_addr(g);
            }
            RouteAttribute::Via(_) | RouteAttribute::MultiPath(_) => gateway = true,
            _ => {}
        }
    }
    let kind = match r.header.kind {
        RouteType::Unicast if gateway => Kind::Gateway,
        RouteType::Unicast => Kind::Direct,
        RouteType::Local | RouteType::Broadcast | RouteType::Anycast => Kind::Local,
        _ => Kind::Other,
    };
    let len = r.header.destination_prefix_length.min(bits(v6) as u8);
    let dst = dst.map_or(0, key);
    Some(Route {
        v6,
        dst: prefix_last(dst, len, v6) - prefix_last(0, len, v6),
        len,
        table,
        kind,
        oif,
        prefsrc,
        metric,
        gateway: next_hop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_beyond_the_defaults_are_policy() {
        assert!(rules_are_default(&[
            (false, 0, 255, false),
            (false, 32766, 254, false),
            (false, 32767, 253, false)
        ]));
        assert!(!rules_are_default(&[(false, 100, 10, false)]));
        assert!(!rules_are_default(&[(false, 32766, 254, true)]));
    }
}
