//! An in-memory network for the engine's tests: a `Transport` whose far side is
//! sweep-sim's pure engine (the same seeded profiles, RTTs, loss, duplicates, errors and
//! faults the TUN simulator serves), with replies delivered on a real clock when they
//! are due. No sockets, no privileges: sender, receiver and scan run under `cargo test`.

use crate::error::Result;
use crate::net::{Endpoints, Inbox, Outbox, Payload, Received, Transport};
use crate::wire::{icmp, ipv4, ipv6};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use sweep_sim::engine::{Engine, Planned};
use sweep_sim::sched::Scheduler;

/// The scanner's addresses on the simulated network (sweep-sim's device addresses).
pub const SRC4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const SRC6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

struct Wire {
    engine: Engine,
    sched: Scheduler,
    epoch: Instant,
    /// Echo requests handed to the network, per destination.
    sent: std::collections::HashMap<IpAddr, u32>,
    /// Stop delivering (a network that went away mid-scan).
    cut: bool,
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

/// Both families of a network described by a sweep-sim profile.
pub struct MemNets {
    pub v4: MemNet,
    pub v6: MemNet,
}

impl MemNets {
    pub fn new(profile: &str) -> MemNets {
        let profile = sweep_sim::parse::parse_profile(profile).expect("a valid test profile");
        let wire = Arc::new(Mutex::new(Wire {
            engine: Engine::new(profile),
            sched: Scheduler::default(),
            epoch: Instant::now(),
            sent: Default::default(),
            cut: false,
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

    /// Echo requests that reached the network in all.
    pub fn sent(&self) -> u64 {
        let w = self.v4.wire.lock().unwrap();
        w.sent.values().map(|&n| u64::from(n)).sum()
    }

    /// Drops everything from now on (nothing more is answered).
    pub fn cut(&self) {
        self.v4.wire.lock().unwrap().cut = true;
    }

    /// The profile's expected verdict for `addr` (sweep-sim's truth).
    pub fn expect(&self, addr: IpAddr) -> Option<String> {
        let w = self.v4.wire.lock().unwrap();
        let key = sweep_sim::profile::key_of(addr)?;
        sweep_sim::truth::expectation(&w.engine.profile, key).map(|e| e.expect.to_string())
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
            let now = w.now();
            if !w.cut {
                w.engine.handle(now, &pkt, &mut self.planned);
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
