//! Every IPv6 host of an on-link prefix too large to enumerate (a /64 has 2^64
//! addresses): ask the whole segment at once, then scan what answered.
//!
//! From each of the interface's IPv6 addresses, an echo request to ff02::1 and the
//! unrecognised-destination-option probe (`wire::mcast`), a few rounds apart for loss;
//! every answer names a host's address in that source's scope, and its interface ID.
//! Each interface ID seen is then combined with each scanned prefix: those candidates
//! are the targets the usual scan confirms (neighbour solicitation, echo, retries), so a
//! host is reported only for addresses it really holds.

use crate::error::Result;
use crate::net::Link;
use crate::wire::ether::Mac;
use crate::wire::mcast::{self, Answer};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Rounds of probes (each from every source).
    pub rounds: u8,
    /// Between rounds, and after the last one: how long answers are awaited.
    pub gap: Duration,
    /// The identifier our echo requests carry (answers must carry it back).
    pub ident: u16,
}

/// What answered, by address: its MAC.
pub type Heard = BTreeMap<Ipv6Addr, Mac>;

/// Sends the probes from each of `sources` on `link` and gathers the answers.
pub fn ask(link: &dyn Link, sources: &[Ipv6Addr], o: &Options) -> Result<Heard> {
    let us = link.mac();
    let n = 2 * sources.len();
    let mut out = link.frames_out(n.max(1), mcast::OPTION_FRAME);
    let mut inbox = link.frames_in(64, 256);
    let mut heard = Heard::new();
    for round in 0..o.rounds {
        let seq = u16::from(round) + 1;
        let mut lens = Vec::with_capacity(n);
        for (k, &src) in sources.iter().enumerate() {
            lens.push(mcast::emit_all_nodes_echo(
                out.slot(2 * k),
                us,
                src,
                o.ident,
                seq,
            ));
            lens.push(mcast::emit_option_probe(
                out.slot(2 * k + 1),
                us,
                src,
                o.ident,
                seq,
            ));
        }
        out.send(&lens)?;
        let until = Instant::now() + o.gap;
        while Instant::now() < until {
            let got = inbox.recv()?;
            for j in 0..got {
                if let Some(Answer { from, mac, to, .. }) =
                    mcast::parse_answer(inbox.frame(j), us, o.ident)
                {
                    if sources.contains(&to) {
                        heard.entry(from).or_insert(mac);
                    }
                }
            }
        }
    }
    Ok(heard)
}

/// The low 64 bits of an address: its interface ID.
fn iid(a: Ipv6Addr) -> u128 {
    u128::from(a) & u128::from(u64::MAX)
}

/// The addresses to confirm: every interface ID heard, on each prefix `(network, len)`
/// (a /64 or longer), plus the addresses heard inside a prefix. A link-local address is
/// a candidate only when a prefix is fe80::/64.
pub fn candidates(heard: &Heard, prefixes: &[(Ipv6Addr, u8)]) -> Vec<Ipv6Addr> {
    let ids: BTreeSet<u128> = heard.keys().map(|&a| iid(a)).collect();
    let mut out = BTreeSet::new();
    for &(net, len) in prefixes {
        let host_bits = 128 - u32::from(len.min(128));
        let mask = u128::MAX.checked_shl(host_bits).unwrap_or(0);
        let net = u128::from(net) & mask;
        let inside = |a: u128| a & mask == net;
        for &id in &ids {
            let a = (net & !u128::from(u64::MAX)) | id;
            if inside(a) {
                out.insert(Ipv6Addr::from(a));
            }
        }
        out.extend(heard.keys().filter(|&&a| inside(a.into())));
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{FramesIn, FramesOut};
    use crate::wire::ether::{Frame, ETHERTYPE_IPV6};
    use crate::wire::mcast::tests::{echo_reply, param_problem};
    use crate::wire::{ipv6, mcast::ALL_NODES};
    use std::sync::Mutex;

    const US: Mac = Mac([0x02, 0x53, 0x57, 0, 0, 1]);

    /// A host on the fake segment: its global and link-local addresses, its MAC, and
    /// whether it ignores echo to a multicast group (Windows).
    struct Host {
        global: Ipv6Addr,
        local: Ipv6Addr,
        mac: Mac,
        ignores_multicast_echo: bool,
    }

    /// A segment that answers both probes as Linux hosts do, the moment they are sent.
    struct Segment {
        hosts: Vec<Host>,
        queue: Mutex<Vec<Vec<u8>>>,
        sent: Mutex<usize>,
    }

    impl Link for Segment {
        fn mac(&self) -> Mac {
            US
        }
        fn ifindex(&self) -> u32 {
            3
        }
        fn frames_out<'a>(&'a self, max: usize, len: usize) -> Box<dyn FramesOut + 'a> {
            Box::new(Out {
                seg: self,
                len,
                slots: vec![0; max * len],
                ok: vec![true; max],
            })
        }
        fn frames_in<'a>(&'a self, _max: usize, _len: usize) -> Box<dyn FramesIn + 'a> {
            Box::new(In {
                seg: self,
                got: Vec::new(),
            })
        }
    }

    struct Out<'a> {
        seg: &'a Segment,
        len: usize,
        slots: Vec<u8>,
        ok: Vec<bool>,
    }

    impl FramesOut for Out<'_> {
        fn slot(&mut self, k: usize) -> &mut [u8] {
            &mut self.slots[k * self.len..(k + 1) * self.len]
        }
        fn send(&mut self, lens: &[usize]) -> Result<&[bool]> {
            for (k, &n) in lens.iter().enumerate() {
                let frame = &self.slots[k * self.len..k * self.len + n];
                *self.seg.sent.lock().unwrap() += 1;
                let f = Frame::parse(frame).unwrap();
                assert_eq!(f.ethertype, ETHERTYPE_IPV6);
                let ip = ipv6::Packet::new_checked(f.payload).unwrap();
                assert_eq!(ip.dst_addr(), ALL_NODES, "probes go to all nodes");
                let src = ip.src_addr();
                let option = ip.next_header() == crate::wire::ip::PROTO_DST_OPTS;
                for h in &self.seg.hosts {
                    let from = match src.segments()[0] {
                        0xfe80 => h.local,
                        _ => h.global,
                    };
                    let answer = match option {
                        true => param_problem(from, h.mac, US, &frame[14..]),
                        false if h.ignores_multicast_echo => continue,
                        false => echo_reply(from, h.mac, US, src, &ip.payload()[4..8]),
                    };
                    self.seg.queue.lock().unwrap().push(answer);
                }
            }
            Ok(&self.ok[..lens.len()])
        }
    }

    struct In<'a> {
        seg: &'a Segment,
        got: Vec<Vec<u8>>,
    }

    impl FramesIn for In<'_> {
        fn recv(&mut self) -> Result<usize> {
            self.got = std::mem::take(&mut *self.seg.queue.lock().unwrap());
            if self.got.is_empty() {
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(self.got.len())
        }
        fn frame(&self, k: usize) -> &[u8] {
            &self.got[k]
        }
    }

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn every_host_answers_one_probe_or_the_other_and_ids_meet_every_prefix() {
        let hosts = vec![
            Host {
                global: a("2001:2:0:1:8f3a:11c2:9d04:5e61"),
                local: a("fe80::ba27:ebff:fe01:203"),
                mac: Mac([0xb8, 0x27, 0xeb, 1, 2, 3]),
                ignores_multicast_echo: false,
            },
            Host {
                global: a("2001:2:0:1:1c:2d:3e:4f"),
                local: a("fe80::1c:2d:3e:4f"),
                mac: Mac([0x00, 0x1b, 0x21, 9, 9, 9]),
                ignores_multicast_echo: true,
            },
        ];
        let seg = Segment {
            hosts,
            queue: Mutex::new(Vec::new()),
            sent: Mutex::new(0),
        };
        let sources = [a("2001:2:0:1::1"), a("fe80::53:57ff:fe00:1")];
        let o = Options {
            rounds: 2,
            gap: Duration::from_millis(20),
            ident: 0x5357,
        };
        let heard = ask(&seg, &sources, &o).unwrap();
        assert_eq!(
            *seg.sent.lock().unwrap(),
            8,
            "2 probes × 2 sources × 2 rounds"
        );
        // The host that ignores multicast echo is heard through the option probe.
        assert_eq!(heard.len(), 4, "{heard:?}");
        assert_eq!(
            heard.get(&a("2001:2:0:1:1c:2d:3e:4f")),
            Some(&Mac([0x00, 0x1b, 0x21, 9, 9, 9]))
        );
        // On the /64: the two global addresses, and the link-local IDs on it (one is the
        // same as its host's global ID). Link-local addresses only for fe80::/64.
        let on64 = candidates(&heard, &[(a("2001:2:0:1::"), 64)]);
        assert_eq!(
            on64,
            [
                a("2001:2:0:1:1c:2d:3e:4f"),
                a("2001:2:0:1:8f3a:11c2:9d04:5e61"),
                a("2001:2:0:1:ba27:ebff:fe01:203"),
            ]
        );
        let ll = candidates(&heard, &[(a("fe80::"), 64)]);
        assert_eq!(ll.len(), 3);
        assert!(ll.iter().all(|x| x.segments()[0] == 0xfe80));
        // A longer prefix keeps only what falls inside it.
        assert_eq!(
            candidates(&heard, &[(a("2001:2:0:1:1c::"), 80)]),
            [a("2001:2:0:1:1c:2d:3e:4f")]
        );
    }
}
