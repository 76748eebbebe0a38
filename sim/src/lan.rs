//! The TAP mode's Ethernet segment: answers ARP and neighbour solicitations
//! for the hosts it owns, checks that echo frames are addressed to the
//! right MAC, hands their IP packets to the [`Engine`] and wraps its
//! replies in frames back to the requester. Pure, like the engine.

use crate::engine::{kind, Engine, Planned};
use crate::ether::{self, Frame, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use crate::link::{MacBook, Owner};
use crate::mac::Mac;
use crate::ndp::{self, Solicitation, ALL_NODES};
use crate::profile::{key_of, Key};
use crate::rng::{chance, draw, Tag};
use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Segment-wide counters for the summary line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LanCounts {
    /// Frames that were nothing to answer: the kernel's MLD reports and
    /// router solicitations, ARP replies, other ethertypes, broadcast IP,
    /// requests for addresses nobody on the segment owns.
    pub ignored: u64,
    /// Frames for an owned address sent to another MAC (another host's, a
    /// made-up one): a real NIC would never see them.
    pub wrong_mac: u64,
}

pub struct Lan {
    pub engine: Engine,
    pub book: MacBook,
    pub counts: LanCounts,
    /// The router's proxy ARP, if on.
    pub proxy: Option<ProxyArp>,
    /// Hosts configured with an address another host already has (an address
    /// conflict): each answers ARP for it too, with its own MAC, right after the
    /// owner would. Only for in-memory tests for now: no profile directive sets it.
    pub twins: Vec<(Ipv4Addr, Mac)>,
    /// When the proxy's pending answers are due, oldest first.
    proxy_queue: VecDeque<u64>,
    planned: Vec<Planned>,
}

/// The router answering ARP for a prefix routed behind it (Linux `proxy_arp`, on by
/// default in Cisco IOS): with its own MAC, for every address of the prefix whether a
/// host has it or not, after a delay, and only while few answers are pending. Echo frames
/// to its MAC for the prefix are routed: the profile's rules decide the answer (give the
/// prefix `ttl=63`). Only for in-memory tests for now: no profile directive sets it.
#[derive(Debug, Clone, Copy)]
pub struct ProxyArp {
    pub net: Ipv4Addr,
    pub len: u8,
    /// Delay before each answer (Linux: random, up to `proxy_delay`, 0.8 s).
    pub delay_ns: u64,
    /// Answers pending at once; requests beyond are dropped (Linux: `proxy_qlen`, 64).
    pub qlen: usize,
}

impl ProxyArp {
    pub fn covers(&self, a: Ipv4Addr) -> bool {
        let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
        u32::from(a) & mask == u32::from(self.net) & mask
    }
}

/// How a solicitation was addressed.
enum Dst {
    /// Broadcast ARP, or NDP to the target's solicited-node group.
    Group,
    /// To this unicast MAC (a kernel refreshing its entry).
    Unicast(Mac),
}

impl Lan {
    pub fn new(engine: Engine) -> Lan {
        let book = MacBook::new(&engine.profile);
        Lan {
            engine,
            book,
            counts: LanCounts::default(),
            proxy: None,
            twins: Vec::new(),
            proxy_queue: VecDeque::new(),
            planned: Vec::new(),
        }
    }

    /// Handles one frame read at `now`, appending frames to send to `out`.
    pub fn handle(&mut self, now: u64, buf: &[u8], out: &mut Vec<Planned>) {
        let Some(f) = ether::parse_frame(buf) else {
            self.counts.ignored += 1;
            return;
        };
        if f.src.is_multicast() {
            self.counts.ignored += 1;
            return;
        }
        match f.ethertype {
            ETHERTYPE_ARP => self.arp(now, &f, out),
            ETHERTYPE_IPV6 => match ndp::parse_solicitation(f.payload) {
                Some(ns) => self.ndp(now, &f, &ns, out),
                None => self.ip(now, &f, out),
            },
            ETHERTYPE_IPV4 => self.ip(now, &f, out),
            _ => self.counts.ignored += 1,
        }
    }

    fn arp(&mut self, now: u64, f: &Frame, out: &mut Vec<Planned>) {
        let Some(req) = ether::parse_arp_request(f.payload) else {
            self.counts.ignored += 1;
            return;
        };
        let dst_group = f.dst == Mac::BROADCAST;
        let dst = if dst_group {
            Dst::Group
        } else {
            Dst::Unicast(f.dst)
        };
        let key = Key::from(u32::from(req.target_ip));
        let to = f.src;
        if let Some(p) = self.proxy.filter(|p| p.covers(req.target_ip)) {
            self.proxied(now, p, key, to, &req, out);
            return;
        }
        self.solicited(now, key, dst, out, |mac, _| {
            ether::frame(to, mac, ETHERTYPE_ARP, &ether::arp_reply(&req, mac))
        });
        if dst_group {
            for &(_, mac) in self.twins.iter().filter(|t| t.0 == req.target_ip) {
                out.push(Planned {
                    due: now + 100_000,
                    target: key,
                    kind: kind::NEIGHBOR,
                    pkt: ether::frame(to, mac, ETHERTYPE_ARP, &ether::arp_reply(&req, mac)),
                });
            }
        }
    }

    fn ndp(&mut self, now: u64, f: &Frame, ns: &Solicitation, out: &mut Vec<Planned>) {
        let Some(key) = key_of(ns.target.into()) else {
            self.counts.ignored += 1;
            return;
        };
        let dst = if ns.dst.is_multicast() {
            // For another target's group, or to a MAC that isn't the group's.
            if ns.dst != ndp::solicited_node(ns.target) {
                self.counts.ignored += 1;
                return;
            }
            if f.dst != ndp::multicast_mac(ns.dst) {
                self.wrong_mac(key);
                return;
            }
            Dst::Group
        } else if ns.dst == ns.target {
            Dst::Unicast(f.dst)
        } else {
            self.counts.ignored += 1;
            return;
        };
        // Duplicate address detection is answered to all nodes.
        let (ip_to, eth_to): (Ipv6Addr, Mac) = if ns.src.is_unspecified() {
            (ALL_NODES, ndp::multicast_mac(ALL_NODES))
        } else {
            (ns.src, f.src)
        };
        let target = ns.target;
        self.solicited(now, key, dst, out, |mac, router| {
            let na = ndp::advertisement(target, mac, ip_to, router);
            ether::frame(eth_to, mac, ETHERTYPE_IPV6, &na)
        });
    }

    /// Answers an ARP request / neighbour solicitation for `key` (addressed
    /// as `dst`) with `reply(owner's MAC, owner is the router)`, after the
    /// owner's `arp_rtt`, unless `arp_loss` drops it.
    fn solicited(
        &mut self,
        now: u64,
        key: Key,
        dst: Dst,
        out: &mut Vec<Planned>,
        reply: impl FnOnce(Mac, bool) -> Vec<u8>,
    ) {
        let Engine { profile, hosts, .. } = &mut self.engine;
        let Some(owner) = self.book.owner(profile, key) else {
            self.counts.ignored += 1;
            return;
        };
        let mac = self.book.mac_of(&owner);
        let host = hosts.entry(key).or_default();
        let n = host.link.nd_seen;
        host.link.nd_seen += 1;
        if let Dst::Unicast(to) = dst {
            if to != mac {
                host.link.wrong_mac += 1;
                self.counts.wrong_mac += 1;
                return;
            }
        }
        let delay = match owner {
            Owner::Host { rule, .. } => {
                let b = &rule.behavior;
                if chance(b.arp_loss, profile.seed, key, n, Tag::ArpLoss, 0) {
                    host.link.nd_lost += 1;
                    return;
                }
                let u = |k| draw(profile.seed, key, n, Tag::ArpRtt, k);
                b.arp_rtt.pick([u(0), u(1), u(2)])
            }
            Owner::Gateway => 0,
        };
        out.push(Planned {
            due: now + delay,
            target: key,
            kind: kind::NEIGHBOR,
            pkt: reply(mac, matches!(owner, Owner::Gateway)),
        });
    }

    /// The proxy's answer for `key`, unless its queue is full.
    fn proxied(
        &mut self,
        now: u64,
        p: ProxyArp,
        key: Key,
        to: Mac,
        req: &ether::ArpRequest,
        out: &mut Vec<Planned>,
    ) {
        while self.proxy_queue.front().is_some_and(|&due| due <= now) {
            self.proxy_queue.pop_front();
        }
        if self.proxy_queue.len() >= p.qlen || self.engine.profile.lan.is_scanner(key) {
            self.counts.ignored += 1;
            return;
        }
        let due = now + p.delay_ns;
        self.proxy_queue.push_back(due);
        let mac = self.book.gateway;
        out.push(Planned {
            due,
            target: key,
            kind: kind::NEIGHBOR,
            pkt: ether::frame(to, mac, ETHERTYPE_ARP, &ether::arp_reply(req, mac)),
        });
    }

    /// The MAC an IP frame to `dst` must be sent to.
    fn frame_mac(&self, dst: Key) -> Option<Mac> {
        let proxied = match crate::profile::addr_of(dst) {
            std::net::IpAddr::V4(a) => self.proxy.is_some_and(|p| p.covers(a)),
            std::net::IpAddr::V6(_) => false,
        };
        match proxied {
            true => Some(self.book.gateway),
            false => self.book.frame_mac(&self.engine.profile, dst),
        }
    }

    /// Counts a frame for described address `key` sent to the wrong MAC.
    fn wrong_mac(&mut self, key: Key) {
        self.counts.wrong_mac += 1;
        if self.engine.profile.rule_for(key).is_some() {
            self.engine.hosts.entry(key).or_default().link.wrong_mac += 1;
        }
    }

    /// An IP frame: an echo request if it is addressed to the MAC that owns
    /// its destination (the gateway's for routed ones); the engine decides
    /// the rest.
    fn ip(&mut self, now: u64, f: &Frame, out: &mut Vec<Planned>) {
        let p = f.payload;
        let dst = match (f.ethertype, p.first().map(|b| b >> 4)) {
            (ETHERTYPE_IPV4, Some(4)) if p.len() >= 20 => {
                key_of(Ipv4Addr::new(p[16], p[17], p[18], p[19]).into())
            }
            (ETHERTYPE_IPV6, Some(6)) if p.len() >= 40 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(&p[24..40]);
                key_of(Ipv6Addr::from(a).into())
            }
            _ => None,
        };
        let Some(dst) = dst.filter(|_| !f.dst.is_multicast()) else {
            self.counts.ignored += 1;
            return;
        };
        let Some(want) = self.frame_mac(dst) else {
            self.counts.ignored += 1;
            return;
        };
        if f.dst != want {
            self.wrong_mac(dst);
            return;
        }
        let mut planned = std::mem::take(&mut self.planned);
        self.engine.handle(now, p, &mut planned);
        for mut pl in planned.drain(..) {
            pl.pkt = ether::frame(f.src, want, f.ethertype, &pl.pkt);
            out.push(pl);
        }
        self.planned = planned;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Stats;
    use crate::packet::checksum;
    use crate::packet6::checksum6;
    use crate::parse::parse_profile;

    const ME: Mac = Mac([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
    const ME4: Ipv4Addr = Ipv4Addr::new(198, 19, 255, 254);
    const ME6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0xffff, 0xffff, 0xffff, 0xfffe);

    fn lan(profile: &str) -> Lan {
        Lan::new(Engine::new(parse_profile(profile).unwrap()))
    }

    fn k(s: &str) -> Key {
        key_of(s.parse().unwrap()).unwrap()
    }

    fn arp_request(dst: Mac, target: [u8; 4]) -> Vec<u8> {
        let mut p = vec![0, 1, 8, 0, 6, 4, 0, 1];
        p.extend_from_slice(&ME.0);
        p.extend_from_slice(&ME4.octets());
        p.extend_from_slice(&[0; 6]);
        p.extend_from_slice(&target);
        ether::frame(dst, ME, ETHERTYPE_ARP, &p)
    }

    fn echo4(dst_mac: Mac, dst: [u8; 4]) -> Vec<u8> {
        let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
        icmp.extend_from_slice(b"0123456789abcdef");
        let c = checksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 1, 0, 0];
        ip.extend_from_slice(&ME4.octets());
        ip.extend_from_slice(&dst);
        let total = (ip.len() + icmp.len()) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        let c = checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        ip.extend_from_slice(&icmp);
        ether::frame(dst_mac, ME, ETHERTYPE_IPV4, &ip)
    }

    fn ns(target: Ipv6Addr, unicast: Option<Mac>) -> Vec<u8> {
        let (ip_dst, eth_dst) = match unicast {
            Some(m) => (target, m),
            None => {
                let g = ndp::solicited_node(target);
                (g, ndp::multicast_mac(g))
            }
        };
        let mut msg = vec![135, 0, 0, 0, 0, 0, 0, 0];
        msg.extend_from_slice(&target.octets());
        msg.extend_from_slice(&[1, 1]);
        msg.extend_from_slice(&ME.0);
        let c = checksum6(&ME6.octets(), &ip_dst.octets(), &msg);
        msg[2..4].copy_from_slice(&c.to_be_bytes());
        let mut ip = crate::packet6::header(ME6, ip_dst, 255, 58, msg.len());
        ip.extend_from_slice(&msg);
        ether::frame(eth_dst, ME, ETHERTYPE_IPV6, &ip)
    }

    fn echo6(dst_mac: Mac, dst: Ipv6Addr) -> Vec<u8> {
        let mut icmp = vec![128, 0, 0, 0, 0x12, 0x34, 0, 1];
        icmp.extend_from_slice(b"0123456789abcdef");
        let c = checksum6(&ME6.octets(), &dst.octets(), &icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let mut ip = crate::packet6::header(ME6, dst, 64, 58, icmp.len());
        ip.extend_from_slice(&icmp);
        ether::frame(dst_mac, ME, ETHERTYPE_IPV6, &ip)
    }

    fn one(l: &mut Lan, frame: &[u8]) -> Vec<Planned> {
        let mut out = Vec::new();
        l.handle(0, frame, &mut out);
        out
    }

    fn mac_at(f: &[u8], at: usize) -> Mac {
        Mac(f[at..at + 6].try_into().unwrap())
    }

    #[test]
    fn arp_then_echo_to_that_mac() {
        let mut l = lan("seed 1\n198.18.0.0/24 rtt=3ms");
        let out = one(&mut l, &arp_request(Mac::BROADCAST, [198, 18, 0, 5]));
        assert_eq!(out.len(), 1);
        let r = &out[0];
        assert_eq!(
            (r.due, r.kind, r.target),
            (0, kind::NEIGHBOR, k("198.18.0.5"))
        );
        assert_eq!(mac_at(&r.pkt, 0), ME);
        let host = mac_at(&r.pkt, 6);
        assert_eq!(mac_at(&r.pkt, 22), host);
        assert_eq!(&r.pkt[28..32], &[198, 18, 0, 5]);
        assert_eq!(
            Some(host),
            l.book.frame_mac(&l.engine.profile, k("198.18.0.5"))
        );
        // A unicast ARP refresh to the right MAC is answered too.
        assert_eq!(one(&mut l, &arp_request(host, [198, 18, 0, 5])).len(), 1);

        let out = one(&mut l, &echo4(host, [198, 18, 0, 5]));
        assert_eq!(out.len(), 1);
        let e = &out[0].pkt;
        assert_eq!((mac_at(e, 0), mac_at(e, 6)), (ME, host));
        assert_eq!(&e[12..14], &[8, 0]);
        assert_eq!((e[14 + 20], out[0].due), (0, 3_000_000));
        assert_eq!(&e[14 + 12..14 + 16], &[198, 18, 0, 5]);
        assert_eq!(&e[14 + 16..14 + 20], &ME4.octets());
        l.engine.sent(out[0].target, out[0].kind);
        let h = &l.engine.hosts[&k("198.18.0.5")];
        assert_eq!(
            (h.link.nd_seen, h.stats.requests_seen, h.stats.replies_sent),
            (2, 1, 1)
        );
    }

    #[test]
    fn wrong_mac_frames_ignored_and_counted() {
        let mut l = lan("seed 1\n198.18.0.0/24");
        let m5 = l
            .book
            .frame_mac(&l.engine.profile, k("198.18.0.5"))
            .unwrap();
        let m6 = l
            .book
            .frame_mac(&l.engine.profile, k("198.18.0.6"))
            .unwrap();
        let random = Mac([0x00, 0x1b, 0x21, 0xde, 0xad, 0x01]);
        assert!(one(&mut l, &echo4(m6, [198, 18, 0, 5])).is_empty());
        assert!(one(&mut l, &echo4(random, [198, 18, 0, 5])).is_empty());
        assert!(one(&mut l, &arp_request(m6, [198, 18, 0, 5])).is_empty());
        assert!(one(&mut l, &echo4(Mac::BROADCAST, [198, 18, 0, 5])).is_empty());
        assert_eq!(l.counts.wrong_mac, 3);
        assert_eq!(l.counts.ignored, 1);
        let h = &l.engine.hosts[&k("198.18.0.5")];
        assert_eq!((h.link.wrong_mac, &h.stats), (3, &Stats::default()));
        // Right MAC: answered.
        assert_eq!(one(&mut l, &echo4(m5, [198, 18, 0, 5])).len(), 1);
        // The NS for .5's v6 twin never reaches a v4-only profile's host.
        assert!(one(&mut l, &ns("2001:2::5".parse().unwrap(), None)).is_empty());
    }

    #[test]
    fn silent_and_undescribed_get_no_arp_answer() {
        let mut l = lan("198.18.0.0/24 alive=1\n");
        assert!(one(&mut l, &arp_request(Mac::BROADCAST, [198, 18, 0, 2])).is_empty());
        assert!(one(&mut l, &arp_request(Mac::BROADCAST, [198, 18, 1, 2])).is_empty());
        assert!(one(&mut l, &arp_request(Mac::BROADCAST, [198, 19, 255, 254])).is_empty());
        assert_eq!(
            one(&mut l, &arp_request(Mac::BROADCAST, [198, 18, 0, 1])).len(),
            1
        );
        assert_eq!(l.counts.ignored, 3);
    }

    #[test]
    fn arp_only_answers_arp_not_echo() {
        let mut l = lan("198.18.0.0/24 arp_only=1\n");
        let out = one(&mut l, &arp_request(Mac::BROADCAST, [198, 18, 0, 9]));
        let mac = mac_at(&out[0].pkt, 6);
        assert!(one(&mut l, &echo4(mac, [198, 18, 0, 9])).is_empty());
        assert_eq!(l.engine.link_totals().echo_filtered, 1);
    }

    #[test]
    fn arp_loss_drops_some_requests() {
        let mut l = lan("seed 4\n198.18.0.0/24 arp_loss=0.5 arp_rtt=2ms\n");
        let mut answered = 0;
        for _ in 0..400 {
            let out = one(&mut l, &arp_request(Mac::BROADCAST, [198, 18, 0, 9]));
            answered += out.len();
            assert!(out.iter().all(|p| p.due == 2_000_000));
        }
        let t = l.engine.link_totals();
        assert_eq!((t.nd_seen, t.nd_lost + answered as u64), (400, 400));
        assert!((150..250).contains(&answered), "{answered}");
    }

    #[test]
    fn routed_targets_go_through_the_gateway() {
        let mut l = lan("seed 1\n203.0.113.0/24 unreach=host\n198.20.0.0/24 rtt=2ms\n");
        let gw = l.book.gateway;
        // The gateway answers ARP for itself; nobody answers for routed addresses.
        let out = one(&mut l, &arp_request(Mac::BROADCAST, [198, 18, 255, 254]));
        assert_eq!(mac_at(&out[0].pkt, 6), gw);
        assert!(one(&mut l, &arp_request(Mac::BROADCAST, [203, 0, 113, 5])).is_empty());
        let out = one(&mut l, &echo4(gw, [203, 0, 113, 5]));
        assert_eq!((out.len(), out[0].kind), (1, kind::ERROR));
        assert_eq!((mac_at(&out[0].pkt, 0), mac_at(&out[0].pkt, 6)), (ME, gw));
        assert_eq!(&out[0].pkt[14 + 12..14 + 16], &[198, 18, 255, 254]);
        let out = one(&mut l, &echo4(gw, [198, 20, 0, 7]));
        assert_eq!((out.len(), mac_at(&out[0].pkt, 6)), (1, gw));
        // Routed, but sent to some host's MAC instead of the gateway's.
        assert!(one(
            &mut l,
            &echo4(Mac([0, 0x1b, 0x21, 1, 2, 3]), [198, 20, 0, 7])
        )
        .is_empty());
        assert_eq!(l.counts.wrong_mac, 1);
    }

    #[test]
    fn ndp_then_echo6() {
        let mut l = lan("seed 1\n2001:2::/120 rtt=1ms ttl=50\n");
        let host: Ipv6Addr = "2001:2::5".parse().unwrap();
        let out = one(&mut l, &ns(host, None));
        assert_eq!(out.len(), 1);
        let na = &out[0].pkt;
        let mac = mac_at(na, 6);
        assert_eq!(mac_at(na, 0), ME);
        let ip = &na[14..];
        assert_eq!((ip[6], ip[7], ip[40], ip[44]), (58, 255, 136, 0x60));
        assert_eq!(&ip[8..24], &host.octets());
        assert_eq!(&ip[24..40], &ME6.octets());
        assert_eq!(checksum6(&ip[8..24], &ip[24..40], &ip[40..72]), 0);
        assert_eq!(
            &ip[64..72],
            &[2, 1, mac.0[0], mac.0[1], mac.0[2], mac.0[3], mac.0[4], mac.0[5]]
        );
        // Unicast NUD probe to the right MAC, and to a wrong one.
        assert_eq!(one(&mut l, &ns(host, Some(mac))).len(), 1);
        assert!(one(&mut l, &ns(host, Some(ME))).is_empty());
        let out = one(&mut l, &echo6(mac, host));
        assert_eq!(out.len(), 1);
        let e = &out[0].pkt;
        assert_eq!(
            (mac_at(e, 0), mac_at(e, 6), &e[12..14]),
            (ME, mac, &[0x86, 0xdd][..])
        );
        assert_eq!((e[14 + 7], e[14 + 40]), (50, 129));
        assert!(one(&mut l, &echo6(ME, host)).is_empty());
        assert_eq!(l.counts.wrong_mac, 2);
        // The gateway's link-local address has the router flag.
        let out = one(&mut l, &ns(crate::profile::DEFAULT_GATEWAY6, None));
        assert_eq!(
            (out[0].pkt[14 + 44], mac_at(&out[0].pkt, 6)),
            (0xe0, l.book.gateway)
        );
    }

    #[test]
    fn a_proxy_answers_for_its_prefix_slowly_and_drops_beyond_its_queue() {
        let mut l = lan("seed 1\n198.18.1.0/24 alive=2 ttl=63\n");
        l.proxy = Some(ProxyArp {
            net: Ipv4Addr::new(198, 18, 1, 0),
            len: 24,
            delay_ns: 5_000_000,
            qlen: 2,
        });
        let gw = l.book.gateway;
        let mut out = Vec::new();
        for last in [1, 2, 3] {
            l.handle(
                1_000,
                &arp_request(Mac::BROADCAST, [198, 18, 1, last]),
                &mut out,
            );
        }
        // Two answers pending at most, each after the delay, all with the router's MAC.
        assert_eq!(out.len(), 2);
        assert!(out
            .iter()
            .all(|p| p.due == 5_001_000 && mac_at(&p.pkt, 6) == gw));
        out.clear();
        l.handle(
            6_000_000,
            &arp_request(Mac::BROADCAST, [198, 18, 1, 9]),
            &mut out,
        );
        assert_eq!(out.len(), 1, "the queue drained");
        // Echo through its MAC is routed: a live host answers, a missing one does not.
        assert_eq!(one(&mut l, &echo4(gw, [198, 18, 1, 2])).len(), 1);
        assert!(one(&mut l, &echo4(gw, [198, 18, 1, 9])).is_empty());
        // Outside its prefix it does not answer.
        assert!(one(&mut l, &arp_request(Mac::BROADCAST, [198, 18, 2, 2])).is_empty());
    }

    #[test]
    fn kernel_chatter_is_ignored() {
        let mut l = lan("2001:2::/120\n");
        // An MLDv2 report to ff02::16 and a router solicitation to ff02::2.
        for (group, typ) in [("ff02::16", 143u8), ("ff02::2", 133)] {
            let g: Ipv6Addr = group.parse().unwrap();
            let msg = [typ, 0, 0, 0, 0, 0, 0, 0];
            let mut ip = crate::packet6::header(ME6, g, 255, 58, msg.len());
            ip.extend_from_slice(&msg);
            let f = ether::frame(ndp::multicast_mac(g), ME, ETHERTYPE_IPV6, &ip);
            assert!(one(&mut l, &f).is_empty());
        }
        assert!(one(&mut l, &ether::frame(Mac::BROADCAST, ME, 0x88cc, &[0; 40])).is_empty());
        assert!(one(&mut l, &[0u8; 10]).is_empty());
        assert_eq!(l.counts.ignored, 4);
    }
}
