//! An in-memory network for the engine's tests: a `Transport` whose far side is
//! sweep-sim's pure engine (the same seeded profiles, RTTs, loss, duplicates, errors and
//! faults the TUN simulator serves), with replies delivered on a real clock when they
//! are due. A `Link` onto the same network is sweep-sim's Ethernet segment (`Lan`, what
//! its TAP mode serves): ARP and neighbour discovery answered per host, echo frames
//! checked for the right MAC, and echo replies handed to the `Transport` of their family
//! as the kernel's IP stack would. No sockets, no privileges: sender, receivers and scan
//! run under `cargo test`.

use crate::error::Result;
use crate::net::{
    Endpoints, FramesIn, FramesOut, Inbox, Link, Outbox, Payload, Received, Transport,
};
use crate::wire::ether::{Frame, Mac, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use crate::wire::{icmp, ipv4, ipv6};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use sweep_sim::engine::{Engine, Planned};
use sweep_sim::lan::Lan;
use sweep_sim::sched::Scheduler;

/// The scanner's addresses on the simulated network (sweep-sim's device addresses).
pub const SRC4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const SRC6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

/// Our interface on the simulated segment.
pub const MAC: Mac = Mac([0x02, 0x53, 0x57, 0, 0, 1]);
pub const IFINDEX: u32 = 7;

struct Wire {
    /// The segment, and through it the profile's engine (which the `Transport` side
    /// reaches directly, as if routed).
    lan: Lan,
    /// IP packets due to the `Transport`s.
    sched: Scheduler,
    /// ARP replies and neighbour advertisements due to the `Link`.
    frames: Scheduler,
    epoch: Instant,
    /// Echo requests handed to the network, per destination (in frames or not).
    sent: HashMap<IpAddr, u32>,
    /// ARP requests and neighbour solicitations handed to the segment, per target.
    solicited: HashMap<IpAddr, u32>,
    /// Stop delivering (a network that went away mid-scan)...
    cut: bool,
    /// ...or do so once this many echo requests in all have reached it.
    cut_after: Option<u64>,
    sent_total: u64,
}

impl Wire {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// One family's end of the simulated network; both families share one far side.
#[derive(Clone)]
pub struct MemNet {
    wire: Arc<Mutex<Wire>>,
    v6: bool,
}

/// Both families of a network described by a sweep-sim profile (a clone is another
/// handle on the same network).
#[derive(Clone)]
pub struct MemNets {
    pub v4: MemNet,
    pub v6: MemNet,
}

impl MemNets {
    pub fn new(profile: &str) -> MemNets {
        let profile = sweep_sim::parse::parse_profile(profile).expect("a valid test profile");
        let wire = Arc::new(Mutex::new(Wire {
            lan: Lan::new(Engine::new(profile)),
            sched: Scheduler::default(),
            frames: Scheduler::default(),
            epoch: Instant::now(),
            sent: Default::default(),
            solicited: Default::default(),
            cut: false,
            cut_after: None,
            sent_total: 0,
        }));
        MemNets {
            v4: MemNet {
                wire: wire.clone(),
                v6: false,
            },
            v6: MemNet { wire, v6: true },
        }
    }

    pub fn endpoints(&self) -> Endpoints<'_> {
        Endpoints {
            v4: Some(&self.v4),
            v6: Some(&self.v6),
            extra: Vec::new(),
        }
    }

    /// Echo requests that reached the network for `dst`.
    pub fn sent_to(&self, dst: IpAddr) -> u32 {
        let w = self.v4.wire.lock().unwrap();
        w.sent.get(&dst).copied().unwrap_or(0)
    }

    /// ARP requests / neighbour solicitations for `dst` that reached the segment.
    pub fn solicited(&self, dst: IpAddr) -> u32 {
        let w = self.v4.wire.lock().unwrap();
        w.solicited.get(&dst).copied().unwrap_or(0)
    }

    /// Our interface on the simulated segment.
    pub fn link(&self) -> MemLink {
        MemLink {
            wire: self.v4.wire.clone(),
        }
    }

    /// The scanner's addresses on the segment, as the profile's `lan` has them.
    pub fn scanner(&self) -> (Ipv4Addr, Ipv6Addr) {
        let w = self.v4.wire.lock().unwrap();
        let lan = &w.lan.engine.profile.lan;
        (lan.scanner.0, lan.scanner6.0)
    }

    /// A second host on the segment configured with `addr` too, answering ARP for it
    /// from `mac` (an address conflict).
    pub fn twin(&self, addr: Ipv4Addr, mac: Mac) {
        let mac = sweep_sim::mac::Mac(mac.0);
        self.v4.wire.lock().unwrap().lan.twins.push((addr, mac));
    }

    /// Turns on the router's proxy ARP (see sweep-sim's `ProxyArp`).
    pub fn proxy(&self, p: sweep_sim::lan::ProxyArp) {
        self.v4.wire.lock().unwrap().lan.proxy = Some(p);
    }

    /// The simulated router's MAC (where routed frames go).
    pub fn gateway_mac(&self) -> Mac {
        Mac(self.v4.wire.lock().unwrap().lan.book.gateway.0)
    }

    /// Echo requests that reached the network in all.
    pub fn sent(&self) -> u64 {
        let w = self.v4.wire.lock().unwrap();
        w.sent.values().map(|&n| u64::from(n)).sum()
    }

    /// The profile's expected verdict and MAC for `addr` as a layer-2 scanner should see
    /// it (sweep-sim's TAP truth; an empty MAC where nobody answers ARP/NDP).
    pub fn expect_onlink(&self, addr: IpAddr) -> Option<(String, String)> {
        let w = self.v4.wire.lock().unwrap();
        let key = sweep_sim::profile::key_of(addr)?;
        let e = sweep_sim::truth::expectation_tap(&w.lan.engine.profile, &w.lan.book, key)?;
        Some((e.expect.to_string(), e.mac))
    }

    /// Drops everything from now on (nothing more is answered).
    pub fn cut(&self) {
        self.v4.wire.lock().unwrap().cut = true;
    }

    /// Drops every echo request after the first `n` (and everything else from then on):
    /// the path dies at the same probe whatever the machine's load.
    pub fn cut_after(&self, n: u64) {
        self.v4.wire.lock().unwrap().cut_after = Some(n);
    }

    /// The profile's expected verdict for `addr` (sweep-sim's truth).
    pub fn expect(&self, addr: IpAddr) -> Option<String> {
        let w = self.v4.wire.lock().unwrap();
        let key = sweep_sim::profile::key_of(addr)?;
        sweep_sim::truth::expectation(&w.lan.engine.profile, key).map(|e| e.expect.to_string())
    }
}

impl Transport for MemNet {
    fn is_raw(&self) -> bool {
        true
    }

    fn is_v6(&self) -> bool {
        self.v6
    }

    fn outbox<'a>(&'a self, max: usize, len: usize) -> Box<dyn Outbox + 'a> {
        Box::new(Out {
            net: self,
            len,
            slots: vec![0; max * len],
            accepted: vec![false; max],
            planned: Vec::new(),
        })
    }

    fn inbox<'a>(&'a self, max: usize, _len: usize) -> Box<dyn Inbox + 'a> {
        Box::new(In {
            net: self,
            max,
            got: Vec::new(),
        })
    }
}

struct Out<'a> {
    net: &'a MemNet,
    len: usize,
    slots: Vec<u8>,
    accepted: Vec<bool>,
    planned: Vec<Planned>,
}

impl Outbox for Out<'_> {
    fn slot(&mut self, k: usize) -> &mut [u8] {
        &mut self.slots[k * self.len..(k + 1) * self.len]
    }

    fn send(&mut self, dsts: &[IpAddr]) -> Result<&[bool]> {
        let mut w = self.net.wire.lock().unwrap();
        for (k, &dst) in dsts.iter().enumerate() {
            let msg = &self.slots[k * self.len..(k + 1) * self.len];
            let pkt = match dst {
                IpAddr::V4(d) => {
                    let mut p = vec![0u8; ipv4::HEADER_LEN + msg.len()];
                    ipv4::Repr::icmp(SRC4, d, 64, msg.len()).emit(&mut p);
                    p[ipv4::HEADER_LEN..].copy_from_slice(msg);
                    p
                }
                IpAddr::V6(d) => {
                    // The kernel computes the ICMPv6 checksum on a real socket.
                    let mut p = vec![0u8; ipv6::HEADER_LEN + msg.len()];
                    ipv6::Repr::icmpv6(SRC6, d, 64, msg.len()).emit(&mut p);
                    p[ipv6::HEADER_LEN..].copy_from_slice(msg);
                    let c = ipv6::icmpv6_checksum(SRC6, d, msg);
                    icmp::Packet::new_unchecked(&mut p[ipv6::HEADER_LEN..]).set_checksum(c);
                    p
                }
            };
            *w.sent.entry(dst).or_default() += 1;
            w.sent_total += 1;
            if w.cut_after.is_some_and(|n| w.sent_total > n) {
                w.cut = true;
            }
            let now = w.now();
            if !w.cut {
                w.lan.engine.handle(now, &pkt, &mut self.planned);
            }
            for p in self.planned.drain(..) {
                w.sched.push(p);
            }
            self.accepted[k] = true;
        }
        Ok(&self.accepted[..dsts.len()])
    }
}

struct In<'a> {
    net: &'a MemNet,
    max: usize,
    got: Vec<Vec<u8>>,
}

/// How long one `recv` waits at most, as a kernel socket's receive timeout does.
const WAIT: Duration = Duration::from_millis(20);

impl Inbox for In<'_> {
    fn recv(&mut self) -> Result<usize> {
        self.got.clear();
        let until = Instant::now() + WAIT;
        loop {
            {
                let mut w = self.net.wire.lock().unwrap();
                let now = w.now();
                // Deliver only this family's packets; the other family's receiver takes
                // the rest (both share one schedule, as both sockets share one wire).
                let mut other = Vec::new();
                while self.got.len() < self.max {
                    let Some(p) = w.sched.pop_due(now) else { break };
                    let v6 = p.pkt.first().is_some_and(|b| b >> 4 == 6);
                    if v6 == self.net.v6 {
                        self.got.push(p.pkt);
                    } else {
                        other.push(p);
                    }
                }
                for p in other {
                    w.sched.push(p);
                }
                if !self.got.is_empty() {
                    return Ok(self.got.len());
                }
            }
            if Instant::now() >= until {
                return Ok(0);
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    fn packet(&self, k: usize) -> Received<'_> {
        let pkt = &self.got[k];
        let payload = match ipv6::Packet::new_checked(&pkt[..]) {
            Ok(v6) if self.net.v6 => Payload::Icmp {
                src: IpAddr::V6(v6.src_addr()),
                ttl: v6.hop_limit(),
                msg: v6.into_payload(),
            },
            // A raw IPv4 socket hands over the whole packet; a damaged IPv6 one arrives
            // as its bytes, for the validator to refuse.
            _ if self.net.v6 => Payload::Icmp {
                src: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                ttl: 0,
                msg: pkt.get(ipv6::HEADER_LEN..).unwrap_or(&[]),
            },
            _ => Payload::Ipv4(pkt),
        };
        Received {
            payload,
            at_unix_ns: None,
        }
    }
}

/// Our end of the simulated segment.
pub struct MemLink {
    wire: Arc<Mutex<Wire>>,
}

impl Link for MemLink {
    fn mac(&self) -> Mac {
        MAC
    }

    fn ifindex(&self) -> u32 {
        IFINDEX
    }

    fn frames_out<'a>(&'a self, max: usize, len: usize) -> Box<dyn FramesOut + 'a> {
        Box::new(FramesTo {
            wire: &self.wire,
            len,
            slots: vec![0; max * len],
            accepted: vec![false; max],
            planned: Vec::new(),
        })
    }

    fn frames_in<'a>(&'a self, max: usize, len: usize) -> Box<dyn FramesIn + 'a> {
        Box::new(FramesFrom {
            wire: &self.wire,
            max,
            len,
            got: Vec::new(),
        })
    }
}

struct FramesTo<'a> {
    wire: &'a Mutex<Wire>,
    len: usize,
    slots: Vec<u8>,
    accepted: Vec<bool>,
    planned: Vec<Planned>,
}

/// What a frame we send asks about: the target of a solicitation, or an echo's
/// destination.
enum Asks {
    Solicitation(IpAddr),
    Echo(IpAddr),
}

fn asks(frame: &[u8]) -> Option<Asks> {
    let f = Frame::parse(frame)?;
    let p = f.payload;
    match f.ethertype {
        ETHERTYPE_ARP => {
            let t: [u8; 4] = p.get(24..28)?.try_into().ok()?;
            Some(Asks::Solicitation(Ipv4Addr::from(t).into()))
        }
        ETHERTYPE_IPV4 => {
            let v4 = ipv4::Packet::new_checked(p).ok()?;
            Some(Asks::Echo(v4.dst_addr().into()))
        }
        ETHERTYPE_IPV6 => {
            let v6 = ipv6::Packet::new_checked(p).ok()?;
            match v6.payload().first() {
                Some(135) => {
                    let t: [u8; 16] = v6.payload().get(8..24)?.try_into().ok()?;
                    Some(Asks::Solicitation(Ipv6Addr::from(t).into()))
                }
                _ => Some(Asks::Echo(v6.dst_addr().into())),
            }
        }
        _ => None,
    }
}

/// Where a frame from the segment goes on our side: the packet socket's filter passes
/// ARP replies and neighbour advertisements; the IP stack takes the packets of the rest.
fn to_link(frame: &[u8]) -> Option<Vec<u8>> {
    let f = Frame::parse(frame)?;
    let p = f.payload;
    let advert = || ipv6::Packet::new_checked(p).is_ok_and(|v6| v6.payload().first() == Some(&136));
    match f.ethertype {
        ETHERTYPE_ARP => None,
        ETHERTYPE_IPV6 if advert() => None,
        // Cut to the IP packet's own length: short frames are padded on the wire.
        ETHERTYPE_IPV4 => {
            let n = ipv4::Packet::new_checked(p).ok()?.total_len();
            Some(p.get(..usize::from(n))?.to_vec())
        }
        ETHERTYPE_IPV6 => {
            let n = ipv6::Packet::new_checked(p).ok()?.payload_len();
            Some(p.get(..ipv6::HEADER_LEN + usize::from(n))?.to_vec())
        }
        _ => Some(Vec::new()),
    }
}

impl FramesOut for FramesTo<'_> {
    fn slot(&mut self, k: usize) -> &mut [u8] {
        &mut self.slots[k * self.len..(k + 1) * self.len]
    }

    fn send(&mut self, lens: &[usize]) -> Result<&[bool]> {
        let mut w = self.wire.lock().unwrap();
        for (k, &n) in lens.iter().enumerate() {
            let frame = &self.slots[k * self.len..k * self.len + n.min(self.len)];
            match asks(frame) {
                Some(Asks::Solicitation(a)) => *w.solicited.entry(a).or_default() += 1,
                Some(Asks::Echo(a)) => *w.sent.entry(a).or_default() += 1,
                None => {}
            }
            let now = w.now();
            if !w.cut {
                w.lan.handle(now, frame, &mut self.planned);
            }
            for mut p in self.planned.drain(..) {
                match to_link(&p.pkt) {
                    None => w.frames.push(p),
                    Some(pkt) if pkt.is_empty() => {}
                    Some(pkt) => {
                        p.pkt = pkt;
                        w.sched.push(p);
                    }
                }
            }
            self.accepted[k] = true;
        }
        Ok(&self.accepted[..lens.len()])
    }
}

struct FramesFrom<'a> {
    wire: &'a Mutex<Wire>,
    max: usize,
    len: usize,
    got: Vec<Vec<u8>>,
}

impl FramesIn for FramesFrom<'_> {
    fn recv(&mut self) -> Result<usize> {
        self.got.clear();
        let until = Instant::now() + WAIT;
        loop {
            {
                let mut w = self.wire.lock().unwrap();
                let now = w.now();
                while self.got.len() < self.max {
                    let Some(p) = w.frames.pop_due(now) else {
                        break;
                    };
                    self.got.push(p.pkt);
                }
                if !self.got.is_empty() {
                    return Ok(self.got.len());
                }
            }
            if Instant::now() >= until {
                return Ok(0);
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    fn frame(&self, k: usize) -> &[u8] {
        let f = &self.got[k];
        &f[..f.len().min(self.len)]
    }
}
