//! The layer-2 path for targets on our own Ethernet segments. Each such target is first
//! resolved by sweep itself (an ARP request, or a neighbour solicitation for IPv6), then
//! probed with an echo request in a frame addressed to the MAC that answered, so the
//! kernel's neighbour table (about 1,024 entries) is never involved. A silent target is
//! asked again in the next retry round; a resolved one that has not answered its echo
//! gets the echo again. Resolution state is one word per on-link target.
//!
//! The sender writes solicitations and echo frames (`write_solicitation`, `write_echo`);
//! the layer-2 receiver judges what arrives (`judge`) and sends the first echo to a target
//! the moment it resolves.

use crate::engine::control::Control;
use crate::engine::ledger::{Ledger, Probe};
use crate::engine::proxy::{self, Proxy};
use crate::engine::table::Table;
use crate::error::Result;
use crate::net::route::{Plan, Segment};
use crate::net::Link;
use crate::probe::ProbeTemplate;
use crate::targets::Targets;
use crate::wire::ether::{self, Frame, Mac, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use crate::wire::{arp, ipv4, ipv6, ndp};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Mutex, RwLock};
use std::time::Instant;

const RESOLVED: u64 = 1 << 63;

/// Per on-link target (by its position among them): the MAC that answered, once resolved,
/// and for the rare address two or more hosts claim (a conflict), the others.
pub struct Neighbours {
    words: Box<[AtomicU64]>,
    others: Mutex<HashMap<u64, Vec<Mac>>>,
}

/// What an answer for an address already resolved says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Again {
    /// The same MAC again.
    Same,
    /// Another MAC claims it too: an address conflict (first seen now).
    Conflict,
    /// A further answer from a MAC already recorded for the conflict.
    Known,
}

impl Neighbours {
    pub fn new(n: u64) -> Neighbours {
        Neighbours {
            words: (0..n).map(|_| AtomicU64::new(0)).collect(),
            others: Mutex::new(HashMap::new()),
        }
    }

    /// Records the first answer for `slot`; false if it had already resolved.
    pub fn resolve(&self, slot: u64, mac: Mac) -> bool {
        let w = RESOLVED | mac.to_u64();
        self.words[slot as usize]
            .compare_exchange(0, w, Relaxed, Relaxed)
            .is_ok()
    }

    /// Records an answer from `mac` for `slot`, which had resolved already.
    pub fn again(&self, slot: u64, mac: Mac) -> Again {
        if self.mac(slot) == Some(mac) {
            return Again::Same;
        }
        let mut others = self.others.lock().unwrap_or_else(|e| e.into_inner());
        let seen = others.entry(slot).or_default();
        if seen.contains(&mac) {
            return Again::Known;
        }
        seen.push(mac);
        Again::Conflict
    }

    /// The MACs beyond the first that answered for `slot` (empty without a conflict).
    pub fn others(&self, slot: u64) -> Vec<Mac> {
        let others = self.others.lock().unwrap_or_else(|e| e.into_inner());
        others.get(&slot).cloned().unwrap_or_default()
    }

    /// Addresses two or more MACs answered for.
    pub fn conflicts(&self) -> u64 {
        self.others.lock().unwrap_or_else(|e| e.into_inner()).len() as u64
    }

    #[inline]
    pub fn mac(&self, slot: u64) -> Option<Mac> {
        let w = self.words[slot as usize].load(Relaxed);
        (w & RESOLVED != 0).then(|| Mac::from_u64(w & !RESOLVED))
    }

    pub fn resolved(&self) -> u64 {
        self.words
            .iter()
            .filter(|w| w.load(Relaxed) & RESOLVED != 0)
            .count() as u64
    }
}

/// Everything the layer-2 path shares between sender and receivers.
pub struct OnLink {
    pub plan: Plan,
    /// The Ethernet interfaces the scan sends frames on.
    pub lanes: Vec<Box<dyn Link>>,
    pub neighbours: Neighbours,
    /// IP TTL / hop limit of echo frames.
    pub ttl: u8,
    /// The sender's current round, for echoes the receiver sends on resolution.
    pub round: AtomicU8,
    /// The proxies ARP answers came from, as of the last `judge_proxies`.
    proxies: RwLock<Vec<Proxy>>,
}

/// Whose a resolved target's MAC is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Not resolved (or not on-link).
    None,
    /// A host's own (or a proxy's own address).
    Host(Mac),
    /// A proxy answered for it: whether it is a host is for echo to say.
    Proxied(Mac),
}

/// The largest frame the path writes: Ethernet + IPv6 + the probe.
pub fn frame_len(probe_len: usize) -> usize {
    (ether::HEADER + ipv6::HEADER_LEN + probe_len).max(ndp::SOLICITATION_FRAME)
}

impl OnLink {
    pub fn new(plan: Plan, lanes: Vec<Box<dyn Link>>, ttl: u8) -> OnLink {
        let n = plan.onlink_count();
        OnLink {
            plan,
            lanes,
            neighbours: Neighbours::new(n),
            ttl,
            round: AtomicU8::new(0),
            proxies: RwLock::new(Vec::new()),
        }
    }

    /// Which lane sends to segment `s`.
    pub fn lane_of(&self, s: &Segment) -> usize {
        self.lanes
            .iter()
            .position(|l| l.ifindex() == s.link)
            .expect("a lane for every on-link segment's interface")
    }

    /// Every MAC that answered for target `i` beyond the first (an address conflict),
    /// unless a proxy's claim.
    pub fn other_macs(&self, i: u64) -> Vec<Mac> {
        match (self.claim(i), self.plan.find(i)) {
            (Claim::Host(_), Some((_, slot))) => self.neighbours.others(slot),
            _ => Vec::new(),
        }
    }

    /// The MAC target `i` resolved to, if it is on-link and resolved, and the MAC is its
    /// own (not a proxy's answering for it).
    pub fn mac_of(&self, i: u64) -> Option<Mac> {
        match self.claim(i) {
            Claim::Host(m) => Some(m),
            Claim::None | Claim::Proxied(_) => None,
        }
    }

    /// Whose MAC target `i` resolved to.
    pub fn claim(&self, i: u64) -> Claim {
        let Some((seg, slot)) = self.plan.find(i) else {
            return Claim::None;
        };
        let Some(mac) = self.neighbours.mac(slot) else {
            return Claim::None;
        };
        let proxies = self.proxies.read().unwrap_or_else(|e| e.into_inner());
        match proxies.iter().find(|p| p.link == seg.link && p.mac == mac) {
            Some(p) if !p.own.contains(&i) => Claim::Proxied(mac),
            _ => Claim::Host(mac),
        }
    }

    /// Finds the proxies among the MACs that answered, from the echo answers in `table`
    /// so far (the sender before each retry round, the scan at its end).
    pub fn judge_proxies(&self, table: &Table, targets: &Targets) {
        let mac = |s| self.neighbours.mac(s);
        let found = proxy::find(&self.plan, &mac, &|i| targets.addr_at(i), table);
        *self.proxies.write().unwrap_or_else(|e| e.into_inner()) = found;
    }

    /// The proxies found, as of the last `judge_proxies`.
    pub fn proxies(&self) -> Vec<Proxy> {
        self.proxies
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The MAC of a proxy on `link` that may have `dst` behind it (it claimed targets in
    /// `dst`'s block): a silent target there gets an echo through it as well, since it
    /// drops ARP requests beyond a short queue.
    pub fn proxy_for(&self, link: u32, dst: IpAddr) -> Option<Mac> {
        let proxies = self.proxies.read().unwrap_or_else(|e| e.into_inner());
        proxies
            .iter()
            .find(|p| p.link == link && p.serves(dst))
            .map(|p| p.mac)
    }
}

/// An ARP request (IPv4) or neighbour solicitation (IPv6) for `dst`; returns its length.
pub fn write_solicitation(buf: &mut [u8], us: Mac, src: IpAddr, dst: IpAddr) -> usize {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            arp::emit_request(buf, us, s, d);
            arp::REQUEST_FRAME
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            ndp::emit_solicitation(buf, us, s, d);
            ndp::SOLICITATION_FRAME
        }
        _ => 0,
    }
}

/// Where an echo frame goes and what it carries.
pub struct Echo<'a> {
    pub template: &'a ProbeTemplate,
    pub us: Mac,
    pub them: Mac,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
}

/// The echo request for target `index` in a frame for `e.them`; returns its length.
pub fn write_echo(buf: &mut [u8], e: &Echo, index: u32, round: u8, sent_ns: u64) -> usize {
    let plen = e.template.len();
    match (e.src, e.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            ether::emit_header(buf, e.them, e.us, ETHERTYPE_IPV4);
            let at = ether::HEADER;
            ipv4::Repr::icmp(s, d, e.ttl, plen).emit(&mut buf[at..]);
            e.template
                .write(&mut buf[at + ipv4::HEADER_LEN..], index, round, sent_ns);
            at + ipv4::HEADER_LEN + plen
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            ether::emit_header(buf, e.them, e.us, ETHERTYPE_IPV6);
            let at = ether::HEADER;
            ipv6::Repr::icmpv6(s, d, e.ttl, plen).emit(&mut buf[at..]);
            let msg = &mut buf[at + ipv6::HEADER_LEN..at + ipv6::HEADER_LEN + plen];
            e.template.write(msg, index, round, sent_ns);
            // The kernel fills this in on an ICMPv6 socket; here nobody else will.
            let c = ipv6::icmpv6_checksum(s, d, msg);
            msg[2..4].copy_from_slice(&c.to_be_bytes());
            at + ipv6::HEADER_LEN + plen
        }
        _ => 0,
    }
}

/// What a received frame means to the scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Target `index` (on-link slot `slot`) answered from `mac`.
    Resolved {
        index: u64,
        slot: u64,
        mac: Mac,
    },
    Ignore(Ignored),
}

/// Why a frame did not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// Not ARP / neighbour discovery, malformed, or not addressed to us.
    NotOurs,
    /// From an address that is not one of this scan's on-link targets on this link, or
    /// for one we have not asked (no probe sent to it in this run).
    Unasked,
    /// A broadcast or multicast hardware address claimed by a host.
    BadMac,
}

/// Judges one frame received on the lane for link `link` (our MAC `us`).
pub fn judge(
    frame: &[u8],
    us: Mac,
    link: u32,
    targets: &Targets,
    plan: &Plan,
    table: &Table,
) -> Verdict {
    let Some(f) = Frame::parse(frame) else {
        return Verdict::Ignore(Ignored::NotOurs);
    };
    if f.dst != us {
        return Verdict::Ignore(Ignored::NotOurs);
    }
    let (from, to, mac) = match f.ethertype {
        ETHERTYPE_ARP => match arp::parse_reply(f.payload) {
            Some(r) if r.target_mac == us || r.target_mac == Mac::ZERO => (
                IpAddr::V4(r.sender_ip),
                IpAddr::V4(r.target_ip),
                r.sender_mac,
            ),
            _ => return Verdict::Ignore(Ignored::NotOurs),
        },
        ETHERTYPE_IPV6 => match ndp::parse_advertisement(f.payload) {
            // The advertisement names its target; without the option, the frame's source.
            Some(a) => (
                IpAddr::V6(a.target),
                IpAddr::V6(a.dst),
                a.mac.unwrap_or(f.src),
            ),
            None => return Verdict::Ignore(Ignored::NotOurs),
        },
        _ => return Verdict::Ignore(Ignored::NotOurs),
    };
    if !mac.is_unicast() || mac == Mac::ZERO {
        return Verdict::Ignore(Ignored::BadMac);
    }
    let Some(index) = targets.index_of(from) else {
        return Verdict::Ignore(Ignored::Unasked);
    };
    let Some((seg, slot)) = plan.find(index) else {
        return Verdict::Ignore(Ignored::Unasked);
    };
    // An answer to a question we asked: on the link we asked on, to the address we asked
    // from, about a target we have sent something to in this run.
    if seg.link != link || seg.src != to || table.get(index as u32).probes == 0 {
        return Verdict::Ignore(Ignored::Unasked);
    }
    Verdict::Resolved { index, slot, mac }
}

/// Counts of what the layer-2 receiver ignored.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Heard {
    pub not_ours: u64,
    pub unasked: u64,
    pub bad_mac: u64,
    /// Answers for a target that had already resolved, from a MAC already seen for it.
    pub repeats: u64,
    /// Answers from a second (third, …) MAC for one address: conflicts found.
    pub conflicts: u64,
}

impl Heard {
    pub fn total(&self) -> u64 {
        self.not_ours + self.unasked + self.bad_mac + self.repeats
    }

    /// Folds in what another lane's receiver heard.
    pub fn absorb(&mut self, other: Heard) {
        self.not_ours += other.not_ours;
        self.unasked += other.unasked;
        self.bad_mac += other.bad_mac;
        self.repeats += other.repeats;
        self.conflicts += other.conflicts;
    }
}

/// What the receiver of one lane needs.
pub struct Ctx<'a> {
    pub onlink: &'a OnLink,
    pub lane: usize,
    pub targets: &'a Targets,
    /// Where the echoes sent on resolution are counted, as the sender's probes are.
    pub ledger: Ledger<'a>,
    pub control: &'a Control<'a>,
    /// Templates by family: `[IPv4, IPv6]`.
    pub templates: [&'a ProbeTemplate; 2],
    pub epoch: Instant,
}

const BATCH: usize = 64;

/// The layer-2 receiver: resolves targets from the answers on one lane and sends each
/// its first echo frame at once. Runs until the scan stops.
pub fn receive(cx: &Ctx) -> Result<Heard> {
    let o = cx.onlink;
    let link = &*o.lanes[cx.lane];
    let (us, ifindex) = (link.mac(), link.ifindex());
    let table = cx.ledger.table;
    let mut inbox = link.frames_in(BATCH, 256);
    let flen = frame_len(cx.templates[1].len().max(cx.templates[0].len()));
    let mut out = link.frames_out(BATCH, flen);
    let mut sent_to: Vec<u32> = Vec::with_capacity(BATCH);
    let mut lens: Vec<usize> = Vec::with_capacity(BATCH);
    let mut heard = Heard::default();
    while !cx.control.is_over() {
        let k = inbox.recv()?;
        for j in 0..k {
            match judge(inbox.frame(j), us, ifindex, cx.targets, &o.plan, table) {
                Verdict::Resolved { index, slot, mac } => {
                    if !o.neighbours.resolve(slot, mac) {
                        match o.neighbours.again(slot, mac) {
                            Again::Conflict => heard.conflicts += 1,
                            Again::Same | Again::Known => heard.repeats += 1,
                        }
                        continue;
                    }
                    cx.ledger.counters.resolved.fetch_add(1, Relaxed);
                    if table.is_answered(index as u32) {
                        continue;
                    }
                    let (seg, _) = o.plan.find(index).expect("judged on-link");
                    let dst = cx.targets.addr_at(index);
                    let e = Echo {
                        template: cx.templates[usize::from(dst.is_ipv6())],
                        us,
                        them: mac,
                        src: seg.src,
                        dst,
                        ttl: o.ttl,
                    };
                    let now_ns = cx.epoch.elapsed().as_nanos() as u64;
                    let round = o.round.load(Relaxed);
                    let buf = out.slot(sent_to.len());
                    lens.push(write_echo(buf, &e, index as u32, round, now_ns));
                    sent_to.push(index as u32);
                }
                Verdict::Ignore(Ignored::NotOurs) => heard.not_ours += 1,
                Verdict::Ignore(Ignored::Unasked) => heard.unasked += 1,
                Verdict::Ignore(Ignored::BadMac) => heard.bad_mac += 1,
            }
        }
        if !sent_to.is_empty() {
            cx.ledger
                .send(&sent_to, |_| Probe::FollowUp, || out.send(&lens))?;
            sent_to.clear();
            lens.clear();
        }
    }
    Ok(heard)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::route::Segment;
    use crate::probe::Key;
    use crate::probe::Proto;
    use crate::targets::Span;
    use crate::wire::{checksum, parse_icmp, parse_icmpv6, Icmp};
    use std::net::{Ipv4Addr, Ipv6Addr};

    const US: Mac = Mac([0x02, 0x53, 0x57, 0, 0, 1]);
    const HOST: Mac = Mac([0xdc, 0xa6, 0x32, 0xaa, 0xbb, 0xcc]);
    const LINK: u32 = 7;

    fn src4() -> IpAddr {
        "198.19.255.254".parse().unwrap()
    }
    fn src6() -> IpAddr {
        "2001:2:0:1::ffff".parse().unwrap()
    }

    /// 198.18.0.1-198.18.0.254 and 2001:2:0:1::1-::ff, all on link 7.
    fn setup() -> (Targets, Plan, Table) {
        let v6: u128 = "2001:2:0:1::".parse::<Ipv6Addr>().unwrap().into();
        let first = u32::from(Ipv4Addr::new(198, 18, 0, 1));
        let t = Targets::new(
            vec![Span::v4(first, first + 253), Span::v6(v6 + 1, v6 + 255)],
            vec![],
        );
        let plan = Plan {
            segments: vec![
                Segment {
                    first: 0,
                    len: 254,
                    link: LINK,
                    src: src4(),
                    via: None,
                },
                Segment {
                    first: 254,
                    len: 255,
                    link: LINK,
                    src: src6(),
                    via: None,
                },
            ],
        };
        let table = Table::new(t.len() as usize, false);
        (t, plan, table)
    }

    /// What a Linux host on the segment sends back to our ARP request `req`.
    fn arp_answer(req: &[u8], host: Mac) -> Vec<u8> {
        let mut f = req[..42].to_vec();
        f[0..6].copy_from_slice(&req[6..12]);
        f[6..12].copy_from_slice(&host.0);
        let b = &mut f[14..];
        b[7] = 2;
        let (sender_ip, target_ip): ([u8; 4], [u8; 4]) =
            (b[24..28].try_into().unwrap(), b[14..18].try_into().unwrap());
        b[18..24].copy_from_slice(&req[6..12]);
        b[8..14].copy_from_slice(&host.0);
        b[14..18].copy_from_slice(&sender_ip);
        b[24..28].copy_from_slice(&target_ip);
        f
    }

    /// A neighbour advertisement for `target` to `to`, as a host sends it.
    fn na(target: Ipv6Addr, to: Ipv6Addr, host: Mac, dst_mac: Mac) -> Vec<u8> {
        let mut m = vec![136, 0, 0, 0, 0x60, 0, 0, 0];
        m.extend_from_slice(&target.octets());
        m.extend_from_slice(&[2, 1]);
        m.extend_from_slice(&host.0);
        let c = ipv6::icmpv6_checksum(target, to, &m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        let mut f = vec![0u8; 14 + 40];
        ether::emit_header(&mut f, dst_mac, host, ETHERTYPE_IPV6);
        ipv6::Repr::icmpv6(target, to, 255, m.len()).emit(&mut f[14..]);
        f.extend_from_slice(&m);
        f
    }

    #[test]
    fn arp_round_trip_resolves_only_asked_targets() {
        let (t, plan, table) = setup();
        let mut req = [0u8; 60];
        let dst = t.addr_at(9);
        assert_eq!(write_solicitation(&mut req, US, src4(), dst), 60);
        let reply = arp_answer(&req, HOST);
        // Not yet probed in this run: an answer we never asked for.
        assert_eq!(
            judge(&reply, US, LINK, &t, &plan, &table),
            Verdict::Ignore(Ignored::Unasked)
        );
        table.add_probe(9);
        assert_eq!(
            judge(&reply, US, LINK, &t, &plan, &table),
            Verdict::Resolved {
                index: 9,
                slot: 9,
                mac: HOST
            }
        );
        // Heard on another link, or for another scanner's address, or sent to another MAC.
        assert_eq!(
            judge(&reply, US, LINK + 1, &t, &plan, &table),
            Verdict::Ignore(Ignored::Unasked)
        );
        let mut other = reply.clone();
        other[14 + 24..14 + 28].copy_from_slice(&[198, 19, 0, 9]);
        assert_eq!(
            judge(&other, US, LINK, &t, &plan, &table),
            Verdict::Ignore(Ignored::Unasked)
        );
        let mut elsewhere = reply.clone();
        elsewhere[5] ^= 1;
        assert_eq!(
            judge(&elsewhere, US, LINK, &t, &plan, &table),
            Verdict::Ignore(Ignored::NotOurs)
        );
        // A host claiming a multicast MAC.
        let mut bad = reply.clone();
        bad[14 + 8] = 0x01;
        assert_eq!(
            judge(&bad, US, LINK, &t, &plan, &table),
            Verdict::Ignore(Ignored::BadMac)
        );
        // Our own request seen again is not an answer.
        assert_eq!(
            judge(&req, US, LINK, &t, &plan, &table),
            Verdict::Ignore(Ignored::NotOurs)
        );
    }

    #[test]
    fn ndp_round_trip() {
        let (t, plan, table) = setup();
        let i = 254 + 0xab - 1;
        let dst = t.addr_at(i);
        let IpAddr::V6(d6) = dst else { panic!() };
        let IpAddr::V6(s6) = src6() else { panic!() };
        let mut ns = [0u8; 86];
        assert_eq!(write_solicitation(&mut ns, US, src6(), dst), 86);
        assert_eq!(&ns[..6], &[0x33, 0x33, 0xff, 0, 0, 0xab]);
        table.add_probe(i as u32);
        let adv = na(d6, s6, HOST, US);
        assert_eq!(
            judge(&adv, US, LINK, &t, &plan, &table),
            Verdict::Resolved {
                index: i,
                slot: i,
                mac: HOST
            }
        );
        // Advertised for an address outside the scan.
        let stray = na("2001:2:0:1::1:0".parse().unwrap(), s6, HOST, US);
        assert_eq!(
            judge(&stray, US, LINK, &t, &plan, &table),
            Verdict::Ignore(Ignored::Unasked)
        );
    }

    #[test]
    fn neighbours_keep_the_first_answer() {
        let n = Neighbours::new(3);
        assert_eq!(n.mac(1), None);
        assert!(n.resolve(1, HOST));
        assert!(!n.resolve(1, US));
        assert_eq!((n.mac(1), n.resolved()), (Some(HOST), 1));
        assert!(n.resolve(2, Mac::from_u64(0xffff_ffff_fffe)));
        assert_eq!(n.mac(2), Some(Mac::from_u64(0xffff_ffff_fffe)));
        // A second MAC for slot 1 is a conflict, recorded once; the first stays first.
        assert_eq!(n.again(1, HOST), Again::Same);
        assert_eq!(n.again(1, US), Again::Conflict);
        assert_eq!(n.again(1, US), Again::Known);
        assert_eq!(
            (n.mac(1), n.others(1), n.conflicts()),
            (Some(HOST), vec![US], 1)
        );
        assert!(n.others(2).is_empty());
    }

    #[test]
    fn echo_frames_are_valid_packets() {
        let key = Key::from_bytes([5; 16]);
        let t4 = ProbeTemplate::new(key, 56, Proto::Icmp4);
        let t6 = ProbeTemplate::new(key, 56, Proto::Icmp6);
        let mut buf = vec![0u8; frame_len(t4.len())];
        let e = Echo {
            template: &t4,
            us: US,
            them: HOST,
            src: src4(),
            dst: "198.18.0.10".parse().unwrap(),
            ttl: 64,
        };
        let n = write_echo(&mut buf, &e, 9, 1, 12345);
        assert_eq!(n, 14 + 20 + 64);
        let f = Frame::parse(&buf[..n]).unwrap();
        assert_eq!((f.dst, f.src, f.ethertype), (HOST, US, ETHERTYPE_IPV4));
        let (meta, icmp) = crate::wire::parse_ipv4(f.payload).unwrap();
        assert_eq!((meta.src, meta.ttl), (src4(), 64));
        assert!(matches!(parse_icmp(icmp), Ok(Icmp::EchoRequest { .. })));
        assert_eq!(checksum(&f.payload[..20]), 0);

        let IpAddr::V6(s6) = src6() else { panic!() };
        let d6: Ipv6Addr = "2001:2:0:1::5".parse().unwrap();
        let e6 = Echo {
            template: &t6,
            us: US,
            them: HOST,
            src: src6(),
            dst: d6.into(),
            ttl: 64,
        };
        let n = write_echo(&mut buf, &e6, 300, 0, 1);
        assert_eq!(n, 14 + 40 + 64);
        let v6 = ipv6::Packet::new_checked(&buf[14..n]).unwrap();
        assert_eq!(
            (v6.src_addr(), v6.dst_addr(), v6.next_header()),
            (s6, d6, 58)
        );
        let msg = v6.payload();
        assert_eq!(
            ipv6::icmpv6_checksum(s6, d6, msg),
            u16::from_be_bytes([msg[2], msg[3]])
        );
        assert!(matches!(parse_icmpv6(msg), Ok(Icmp::EchoRequest { .. })));
    }
}
