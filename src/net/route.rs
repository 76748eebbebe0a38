//! The route decision, a pure function of the kernel's tables: for every target, whether
//! it sits on an Ethernet segment of ours (no gateway), and then on which interface and
//! from which source address. Targets are grouped by the elementary intervals of the
//! route prefixes, so a /16 costs a handful of lookups. With policy-routing rules beyond
//! the kernel's defaults the tables alone do not say which route applies: then every
//! target is asked of the kernel through the `lookup` the caller passes. The tables come
//! from `net::netlink`; the tests give made-up ones.

use crate::targets::Targets;
use crate::wire::ether::Mac;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One network interface as the kernel describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// Its hardware address, for Ethernet links.
    pub mac: Option<Mac>,
    /// ARPHRD_ETHER, not loopback, ARP enabled: frames we build can go out on it.
    pub ethernet: bool,
    pub up: bool,
    /// Configured addresses with their prefix lengths.
    pub addrs: Vec<(IpAddr, u8)>,
}

impl Link {
    /// The address to send from to `dst` on this link: one whose prefix holds `dst`, else
    /// the first of the family (IPv6: never a link-local one, which needs a scope).
    fn source_for(&self, dst: IpAddr) -> Option<IpAddr> {
        let usable = |a: &IpAddr| match a {
            IpAddr::V4(_) => dst.is_ipv4(),
            IpAddr::V6(v6) => dst.is_ipv6() && !is_link_local(*v6),
        };
        let fam: Vec<_> = self.addrs.iter().filter(|(a, _)| usable(a)).collect();
        fam.iter()
            .find(|(a, len)| contains(key(*a), *len, key(dst), dst.is_ipv6()))
            .or(fam.first())
            .map(|(a, _)| *a)
    }
}

fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// What a route does with the addresses it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Directly on the link `oif`: no gateway.
    Direct,
    /// Through a gateway (or several).
    Gateway,
    /// One of ours (the local table): loopback.
    Local,
    /// Blackhole, unreachable, prohibit, throw, …: the kernel refuses or drops.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub v6: bool,
    /// Prefix start, as an integer (IPv4 in the low 32 bits).
    pub dst: u128,
    pub len: u8,
    pub table: u32,
    pub kind: Kind,
    pub oif: Option<u32>,
    pub prefsrc: Option<IpAddr>,
    pub metric: u32,
    /// The next hop, for `Kind::Gateway` routes with a single one.
    pub gateway: Option<IpAddr>,
}

/// How probes to a target leave the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Through the kernel's IP stack (routed, loopback, TUN/VPN, point-to-point, no route).
    Kernel,
    /// On an Ethernet segment of ours: frames built by us. `via` is a gateway's MAC for
    /// a routed target (no resolution: every frame goes to it); `None` for a target on
    /// the segment itself, resolved with ARP / neighbour discovery.
    OnLink {
        link: u32,
        src: IpAddr,
        via: Option<Mac>,
    },
}

/// Everything the decision needs, dumped from the kernel once.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    pub links: Vec<Link>,
    pub routes: Vec<Route>,
    /// Only the kernel's default rules (local, main, default): the tables decide alone.
    pub default_rules: bool,
    /// The kernel's resolved neighbours: (interface, address, MAC).
    pub neighbours: Vec<(u32, IpAddr, Mac)>,
    /// Send routed targets behind an Ethernet next hop as frames to its MAC.
    pub routed_frames: bool,
}

pub(crate) const TABLE_DEFAULT: u32 = 253;
pub(crate) const TABLE_MAIN: u32 = 254;
pub(crate) const TABLE_LOCAL: u32 = 255;

pub(crate) fn key(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u32::from(a).into(),
        IpAddr::V6(a) => a.into(),
    }
}

fn addr_of(k: u128, v6: bool) -> IpAddr {
    match v6 {
        false => IpAddr::V4(Ipv4Addr::from(k as u32)),
        true => IpAddr::V6(Ipv6Addr::from(k)),
    }
}

pub(crate) fn bits(v6: bool) -> u32 {
    if v6 {
        128
    } else {
        32
    }
}

/// The last address of the prefix `dst/len`.
pub(crate) fn prefix_last(dst: u128, len: u8, v6: bool) -> u128 {
    let host = bits(v6).saturating_sub(u32::from(len));
    let mask = if host >= 128 {
        u128::MAX
    } else {
        (1u128 << host) - 1
    };
    let top = if v6 { u128::MAX } else { u128::from(u32::MAX) };
    (dst | mask) & top
}

fn contains(dst: u128, len: u8, a: u128, v6: bool) -> bool {
    let last = prefix_last(dst, len, v6);
    let first = last - (prefix_last(0, len, v6));
    (first..=last).contains(&a)
}

impl Route {
    fn covers(&self, a: u128, v6: bool) -> bool {
        self.v6 == v6 && contains(self.dst, self.len, a, v6)
    }
}

/// Targets `first..first + len` (indices) leave on link `link` from `src`, to the MAC
/// each resolves to, or all to the gateway MAC `via`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub first: u64,
    pub len: u64,
    pub link: u32,
    pub src: IpAddr,
    pub via: Option<Mac>,
}

/// Why a run cannot go on with `--iface` / `--src` as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NoSuchIface(String),
    IfaceDown(String),
    NotThroughIface { target: IpAddr, iface: String },
    SrcNotOnIface { src: IpAddr, iface: String },
    SrcNotLocal(IpAddr),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Refusal::NoSuchIface(n) => write!(f, "no interface '{n}' here"),
            Refusal::IfaceDown(n) => write!(f, "interface '{n}' is down"),
            Refusal::NotThroughIface { target, iface } => {
                write!(f, "target {target} is not reachable through '{iface}'")
            }
            Refusal::SrcNotOnIface { src, iface } => {
                write!(f, "source address {src} is not configured on '{iface}'")
            }
            Refusal::SrcNotLocal(src) => {
                write!(f, "source address {src} is not configured on any interface")
            }
        }
    }
}

impl Routes {
    pub fn link(&self, index: u32) -> Option<&Link> {
        self.links.iter().find(|l| l.index == index)
    }

    pub fn link_named(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }

    /// The route the kernel's default rules pick for `a`: the local table, then main,
    /// then default; longest prefix first, lowest metric among equals. With `via`, only
    /// routes out of that interface (as SO_BINDTODEVICE restricts the kernel's lookup).
    pub fn lookup(&self, a: IpAddr, via: Option<u32>) -> Option<&Route> {
        let (k, v6) = (key(a), a.is_ipv6());
        [TABLE_LOCAL, TABLE_MAIN, TABLE_DEFAULT]
            .into_iter()
            .find_map(|table| {
                self.routes
                    .iter()
                    .filter(|r| r.table == table && r.covers(k, v6))
                    .filter(|r| via.is_none() || r.kind == Kind::Local || r.oif == via)
                    .max_by(|x, y| x.len.cmp(&y.len).then(y.metric.cmp(&x.metric)))
            })
    }

    /// The path for one target, given the route that covers it.
    pub fn path_of(&self, a: IpAddr, route: Option<&Route>, src: Option<IpAddr>) -> Path {
        let Some(r) = route else { return Path::Kernel };
        let via = match (r.kind, r.gateway) {
            (Kind::Direct, _) => None,
            (Kind::Gateway, Some(gw)) if self.routed_frames && gw.is_ipv4() == a.is_ipv4() => {
                // Only a next hop the kernel has already resolved: otherwise its path.
                match self
                    .neighbours
                    .iter()
                    .find(|(i, n, _)| Some(*i) == r.oif && *n == gw)
                {
                    Some(&(_, _, mac)) => Some(mac),
                    None => return Path::Kernel,
                }
            }
            _ => return Path::Kernel,
        };
        if let IpAddr::V6(v6) = a {
            if is_link_local(v6) || v6.is_multicast() {
                return Path::Kernel;
            }
        }
        let Some(link) = r.oif.and_then(|i| self.link(i)) else {
            return Path::Kernel;
        };
        if !link.ethernet || !link.up || link.mac.is_none() {
            return Path::Kernel;
        }
        let src = src
            .filter(|s| s.is_ipv4() == a.is_ipv4())
            .or(r.prefsrc.filter(|s| s.is_ipv4() == a.is_ipv4()))
            .or_else(|| link.source_for(a));
        match src {
            Some(src) => Path::OnLink {
                link: link.index,
                src,
                via,
            },
            None => Path::Kernel,
        }
    }

    /// Every address where the table lookup may change: prefix starts and one past ends.
    fn boundaries(&self, v6: bool) -> Vec<u128> {
        let mut b: Vec<u128> = self
            .routes
            .iter()
            .filter(|r| r.v6 == v6)
            .flat_map(|r| {
                let last = prefix_last(r.dst, r.len, v6);
                [Some(last - prefix_last(0, r.len, v6)), last.checked_add(1)]
            })
            .flatten()
            .collect();
        b.sort_unstable();
        b.dedup();
        b
    }
}

/// The decision for a whole scan: which target indices go on-link, grouped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub segments: Vec<Segment>,
}

/// Checks `--iface`/`--src` against the links, then decides every target's path. `lookup`
/// answers one address when the tables alone cannot (policy rules): the kernel's own
/// answer, as a route.
pub fn plan(
    routes: &Routes,
    targets: &Targets,
    iface: Option<&str>,
    src: Option<IpAddr>,
    lookup: &mut dyn FnMut(IpAddr) -> Option<Route>,
) -> Result<Plan, Refusal> {
    let via = match iface {
        Some(name) => {
            let l = routes
                .link_named(name)
                .ok_or_else(|| Refusal::NoSuchIface(name.into()))?;
            if !l.up {
                return Err(Refusal::IfaceDown(name.into()));
            }
            if let Some(s) = src {
                if !l.addrs.iter().any(|(a, _)| *a == s) {
                    return Err(Refusal::SrcNotOnIface {
                        src: s,
                        iface: name.into(),
                    });
                }
            }
            Some(l.index)
        }
        None => None,
    };
    if let (Some(s), None) = (src, via) {
        if !routes
            .links
            .iter()
            .any(|l| l.addrs.iter().any(|(a, _)| *a == s))
        {
            return Err(Refusal::SrcNotLocal(s));
        }
    }
    let mut segments: Vec<Segment> = Vec::new();
    let mut add = |first: u64, len: u64, path: Path| {
        let Path::OnLink { link, src, via } = path else {
            return;
        };
        match segments.last_mut() {
            Some(s) if s.first + s.len == first && (s.link, s.src, s.via) == (link, src, via) => {
                s.len += len
            }
            _ => segments.push(Segment {
                first,
                len,
                link,
                src,
                via,
            }),
        }
    };
    let refuse = |a: IpAddr| Refusal::NotThroughIface {
        target: a,
        iface: iface.unwrap_or_default().into(),
    };
    for span in targets.spans() {
        let v6 = span.v6;
        let base = targets
            .index_of(addr_of(span.first, v6))
            .expect("a span's first address is a target");
        if routes.default_rules {
            let bounds = routes.boundaries(v6);
            let mut at = span.first;
            loop {
                let k = bounds.partition_point(|&b| b <= at);
                let end = bounds.get(k).map_or(span.last, |&b| (b - 1).min(span.last));
                let a = addr_of(at, v6);
                let route = routes.lookup(a, via);
                if via.is_some() && route.is_none() {
                    return Err(refuse(a));
                }
                let path = routes.path_of(a, route, src);
                add(base + (at - span.first) as u64, (end - at + 1) as u64, path);
                if end == span.last {
                    break;
                }
                at = end + 1;
            }
        } else {
            for (j, at) in (span.first..=span.last).enumerate() {
                let a = addr_of(at, v6);
                let route = lookup(a);
                if via.is_some_and(|v| {
                    route
                        .as_ref()
                        .is_some_and(|r| r.oif != Some(v) && r.kind != Kind::Local)
                }) {
                    return Err(refuse(a));
                }
                let path = routes.path_of(a, route.as_ref(), src);
                add(base + j as u64, 1, path);
            }
        }
    }
    Ok(Plan { segments })
}

impl Plan {
    /// The segment holding target `i`, and `i`'s position among all on-link targets.
    #[inline]
    pub fn find(&self, i: u64) -> Option<(&Segment, u64)> {
        let k = self.segments.partition_point(|s| s.first <= i);
        let s = self.segments.get(k.checked_sub(1)?)?;
        (i < s.first + s.len).then_some(s)?;
        let before: u64 = self.segments[..k - 1].iter().map(|s| s.len).sum();
        Some((s, before + (i - s.first)))
    }

    pub fn onlink_count(&self) -> u64 {
        self.segments.iter().map(|s| s.len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// The distinct links the segments use.
    pub fn links(&self) -> Vec<u32> {
        let mut l: Vec<u32> = self.segments.iter().map(|s| s.link).collect();
        l.sort_unstable();
        l.dedup();
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::Span;

    fn v4(s: &str) -> u128 {
        u32::from(s.parse::<Ipv4Addr>().unwrap()).into()
    }

    fn route(dst: &str, len: u8, table: u32, kind: Kind, oif: Option<u32>) -> Route {
        Route {
            v6: dst.contains(':'),
            dst: key(dst.parse::<IpAddr>().unwrap()),
            len,
            table,
            kind,
            oif,
            prefsrc: None,
            metric: 0,
            gateway: None,
        }
    }

    /// A scanner with lo, eth0 (Ethernet, 198.19.255.254/15), tun0 (a VPN, no ARP),
    /// and a routed block behind a gateway inside the on-link prefix.
    fn host() -> Routes {
        let mac = Some(Mac([2, 0, 0, 0, 0, 1]));
        Routes {
            links: vec![
                Link {
                    index: 1,
                    name: "lo".into(),
                    mac: None,
                    ethernet: false,
                    up: true,
                    addrs: vec![("127.0.0.1".parse().unwrap(), 8)],
                },
                Link {
                    index: 2,
                    name: "eth0".into(),
                    mac,
                    ethernet: true,
                    up: true,
                    addrs: vec![
                        ("198.19.255.254".parse().unwrap(), 15),
                        ("fe80::1".parse().unwrap(), 64),
                        ("2001:2:0:1::ffff".parse().unwrap(), 64),
                    ],
                },
                Link {
                    index: 3,
                    name: "tun0".into(),
                    mac: None,
                    ethernet: false,
                    up: true,
                    addrs: vec![("198.51.100.2".parse().unwrap(), 32)],
                },
                Link {
                    index: 4,
                    name: "eth1".into(),
                    mac,
                    ethernet: true,
                    up: false,
                    addrs: vec![],
                },
            ],
            routes: vec![
                route("127.0.0.0", 8, TABLE_LOCAL, Kind::Local, Some(1)),
                route("198.19.255.254", 32, TABLE_LOCAL, Kind::Local, Some(2)),
                route("198.18.0.0", 15, TABLE_MAIN, Kind::Direct, Some(2)),
                route("198.18.128.0", 24, TABLE_MAIN, Kind::Gateway, Some(2)),
                route("198.51.100.0", 24, TABLE_MAIN, Kind::Direct, Some(3)),
                route("203.0.113.0", 24, TABLE_MAIN, Kind::Other, None),
                route("0.0.0.0", 0, TABLE_MAIN, Kind::Gateway, Some(2)),
                route("2001:2:0:1::", 64, TABLE_MAIN, Kind::Direct, Some(2)),
                route("fe80::", 64, TABLE_MAIN, Kind::Direct, Some(2)),
            ],
            default_rules: true,
            neighbours: vec![],
            routed_frames: false,
        }
    }

    fn no_lookup(_: IpAddr) -> Option<Route> {
        panic!("the tables decide alone under default rules")
    }

    #[test]
    fn on_link_routed_tun_and_loopback() {
        let r = host();
        let path = |a: &str| {
            let a: IpAddr = a.parse().unwrap();
            r.path_of(a, r.lookup(a, None), None)
        };
        let eth = |src: &str| Path::OnLink {
            link: 2,
            src: src.parse().unwrap(),
            via: None,
        };
        assert_eq!(path("198.18.0.7"), eth("198.19.255.254"));
        assert_eq!(
            path("198.18.128.7"),
            Path::Kernel,
            "more specific, via a gateway"
        );
        assert_eq!(path("198.19.255.254"), Path::Kernel, "our own address");
        assert_eq!(path("127.0.0.1"), Path::Kernel);
        assert_eq!(path("198.51.100.9"), Path::Kernel, "TUN: no Ethernet");
        assert_eq!(path("192.0.2.77"), Path::Kernel, "default route: a gateway");
        assert_eq!(path("203.0.113.5"), Path::Kernel);
        assert_eq!(path("2001:2:0:1::abc"), eth("2001:2:0:1::ffff"));
        assert_eq!(path("fe80::2"), Path::Kernel, "link-local needs a scope");
    }

    #[test]
    fn a_16_costs_a_handful_of_groups() {
        let r = host();
        let t = Targets::new(
            vec![Span::v4(
                v4("198.18.0.1") as u32,
                v4("198.18.255.254") as u32,
            )],
            vec![],
        );
        let p = plan(&r, &t, None, None, &mut no_lookup).unwrap();
        // Everything but the routed /24 in the middle, in two segments.
        assert_eq!(p.segments.len(), 2);
        assert_eq!(p.onlink_count(), 65534 - 256);
        let i = t.index_of("198.18.128.9".parse().unwrap()).unwrap();
        assert_eq!(p.find(i), None);
        let j = t.index_of("198.18.129.0".parse().unwrap()).unwrap();
        let (s, slot) = p.find(j).unwrap();
        assert_eq!((s.link, slot), (2, j - 256));
        assert_eq!(p.find(0).map(|(_, k)| k), Some(0));
    }

    #[test]
    fn iface_and_src_are_checked() {
        let r = host();
        let t = Targets::from_v4(
            vec![(v4("198.18.0.1") as u32, v4("198.18.0.9") as u32)],
            vec![],
        );
        let p = plan(&r, &t, Some("eth0"), None, &mut no_lookup).unwrap();
        assert_eq!(p.onlink_count(), 9);
        let e = |iface, src: Option<&str>| {
            plan(
                &r,
                &t,
                iface,
                src.map(|s| s.parse().unwrap()),
                &mut no_lookup,
            )
            .unwrap_err()
            .to_string()
        };
        assert_eq!(e(Some("eth9"), None), "no interface 'eth9' here");
        assert_eq!(e(Some("eth1"), None), "interface 'eth1' is down");
        assert_eq!(
            e(Some("tun0"), None),
            "target 198.18.0.1 is not reachable through 'tun0'"
        );
        assert_eq!(
            e(Some("eth0"), Some("198.51.100.2")),
            "source address 198.51.100.2 is not configured on 'eth0'"
        );
        assert_eq!(
            e(None, Some("192.0.2.9")),
            "source address 192.0.2.9 is not configured on any interface"
        );
        // Through tun0 the loopback target is still fine (local routes need no device).
        let lo = Targets::from_v4(
            vec![(v4("127.0.0.1") as u32, v4("127.0.0.1") as u32)],
            vec![],
        );
        assert!(plan(&r, &lo, Some("tun0"), None, &mut no_lookup)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn policy_rules_ask_the_kernel_per_target() {
        let mut r = host();
        r.default_rules = false;
        let t = Targets::from_v4(
            vec![(v4("198.18.0.1") as u32, v4("198.18.0.4") as u32)],
            vec![],
        );
        let mut asked = Vec::new();
        let mut lookup = |a: IpAddr| {
            asked.push(a);
            // The rules send .3 through the TUN.
            let oif = if a.to_string().ends_with(".3") { 3 } else { 2 };
            Some(route(&a.to_string(), 32, 100, Kind::Direct, Some(oif)))
        };
        let p = plan(&r, &t, None, None, &mut lookup).unwrap();
        assert_eq!(asked.len(), 4);
        assert_eq!(
            p.segments
                .iter()
                .map(|s| (s.first, s.len))
                .collect::<Vec<_>>(),
            [(0, 2), (3, 1)]
        );
    }

    #[test]
    fn prefix_arithmetic() {
        assert_eq!(
            prefix_last(v4("198.18.0.0"), 15, false),
            v4("198.19.255.255")
        );
        assert_eq!(prefix_last(0, 0, false), u128::from(u32::MAX));
        assert_eq!(prefix_last(0, 0, true), u128::MAX);
        assert!(contains(v4("198.18.0.0"), 15, v4("198.19.9.9"), false));
        assert!(!contains(v4("198.18.0.0"), 15, v4("198.20.0.0"), false));
    }
}
