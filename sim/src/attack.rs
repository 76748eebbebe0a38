//! An on-path attacker (profile directive `attacker`): from the first probe it
//! sees, it forges one burst of answers for every other described address of
//! that probe's family — ICMP errors with short (RFC 792) and long quotes, and
//! echo replies from the target's own address.
//!
//! It guesses what a probe to another target would carry the way an observer
//! of one probe could: the target index is cleartext in the payload (bytes
//! 4..8) and grows with the address inside a span, and the sequence number of
//! sweep's old format was `index ^ per-scan constant`, so the constant follows
//! from the one probe seen. The tag bytes are copied unchanged. A scanner that
//! keys its sequence and tag on a secret must ignore every one of these.

use crate::packet::{self, EchoRequest};
use crate::packet6;
use crate::profile::{addr_of, key_of, Key, Profile};
use std::net::IpAddr;

/// What the attacker forges, per target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attack {
    /// Host-unreachable quoting the IP header + 8 bytes (identifier, sequence).
    pub short: bool,
    /// Host-unreachable quoting the whole guessed probe (tag included).
    pub long: bool,
    /// An echo reply from the target's address.
    pub reply: bool,
    /// At most this many targets get forgeries (bounds the burst).
    pub max_targets: u32,
}

impl Default for Attack {
    fn default() -> Self {
        Attack {
            short: true,
            long: true,
            reply: true,
            max_targets: 1 << 16,
        }
    }
}

/// Where the payload carries the target index in sweep's probes.
const INDEX_AT: usize = 8 + 4;

/// One forged packet: the address it pretends to be about, and its bytes.
pub type Forged = (Key, Vec<u8>);

/// Fires once: the burst for the first probe seen, then nothing.
#[derive(Debug)]
pub struct Attacker {
    attack: Attack,
    fired: bool,
}

impl Attacker {
    pub fn new(attack: Attack) -> Attacker {
        Attacker {
            attack,
            fired: false,
        }
    }

    /// The burst, if `req` is the first probe this attacker sees.
    pub fn observe(&mut self, profile: &Profile, req: &EchoRequest) -> Vec<Forged> {
        if self.fired {
            return Vec::new();
        }
        self.fired = true;
        forge_all(&self.attack, profile, req)
    }
}

fn forge_all(a: &Attack, profile: &Profile, req: &EchoRequest) -> Vec<Forged> {
    let Some(seen) = key_of(req.dst) else {
        return Vec::new();
    };
    let Some(seen_index) = index_in(req.icmp) else {
        return Vec::new();
    };
    let seen_seq = u16::from_be_bytes([req.icmp[6], req.icmp[7]]);
    let mask = seen_seq ^ seen_index as u16;
    let v6 = req.dst.is_ipv6();
    let mut out = Vec::new();
    let targets = profile
        .addresses()
        .filter(|&k| k != seen && addr_of(k).is_ipv6() == v6)
        .take(a.max_targets as usize);
    for target in targets {
        // Indices follow addresses inside a span: offset from the seen probe's.
        let index = seen_index.wrapping_add(target.wrapping_sub(seen) as u32);
        let seq = index as u16 ^ mask;
        let probe = guessed_probe(req, addr_of(target), index, seq);
        let icmp = &probe[probe.len() - req.icmp.len()..];
        let router = profile
            .rule_for(target)
            .map_or(default_router(profile, v6), |r| profile.router_for(r));
        for (on, long) in [(a.short, false), (a.long, true)] {
            if !on {
                continue;
            }
            let pkt = match router {
                IpAddr::V4(r) => packet::icmp_error(&probe, r, 64, 0, 3, 1, long),
                IpAddr::V6(r) => packet6::icmp_error6(&probe, r, 64, 1, 3, long),
            };
            out.push((target, pkt));
        }
        if a.reply {
            let pkt = match (addr_of(target), req.src) {
                (IpAddr::V4(t), IpAddr::V4(me)) => packet::echo_reply(icmp, t, me, 64, 0, &[]),
                (IpAddr::V6(t), IpAddr::V6(me)) => packet6::echo_reply6(icmp, t, me, 64, &[]),
                _ => continue,
            };
            out.push((target, pkt));
        }
    }
    out
}

fn default_router(profile: &Profile, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(profile.router6)
    } else {
        IpAddr::V4(profile.router)
    }
}

/// The target index in a probe's payload, if it is long enough to carry one.
fn index_in(icmp: &[u8]) -> Option<u32> {
    let b = icmp.get(INDEX_AT..INDEX_AT + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The seen request, readdressed to `target` with the guessed index and
/// sequence, checksums fixed: what the attacker believes sweep sent there.
fn guessed_probe(req: &EchoRequest, target: IpAddr, index: u32, seq: u16) -> Vec<u8> {
    let mut p = req.packet.to_vec();
    let at = p.len() - req.icmp.len();
    p[at + 6..at + 8].copy_from_slice(&seq.to_be_bytes());
    p[at + INDEX_AT..at + INDEX_AT + 4].copy_from_slice(&index.to_be_bytes());
    p[at + 2..at + 4].fill(0);
    match target {
        IpAddr::V4(t) => {
            p[16..20].copy_from_slice(&t.octets());
            p[10..12].fill(0);
            let c = packet::checksum(&p[..at]);
            p[10..12].copy_from_slice(&c.to_be_bytes());
            let c = packet::checksum(&p[at..]);
            p[at + 2..at + 4].copy_from_slice(&c.to_be_bytes());
        }
        IpAddr::V6(t) => {
            p[24..40].copy_from_slice(&t.octets());
            let c = packet6::checksum6(&p[8..24], &p[24..40], &p[at..]);
            p[at + 2..at + 4].copy_from_slice(&c.to_be_bytes());
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{checksum, parse_echo_request};
    use crate::parse::parse_profile;

    /// A probe of sweep's old format to 198.18.0.`host`: index = host - 1,
    /// seq = index ^ 0x5a5a, tag 0xdeadbeef.
    fn probe(host: u8) -> Vec<u8> {
        let index = u32::from(host) - 1;
        let seq = index as u16 ^ 0x5a5a;
        let mut icmp = vec![8, 0, 0, 0, 0xbe, 0xef];
        icmp.extend_from_slice(&seq.to_be_bytes());
        icmp.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        icmp.extend_from_slice(&index.to_be_bytes());
        icmp.extend_from_slice(&[0; 8]);
        let c = checksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, 1, 0, 0, 192, 0, 2, 1];
        ip.extend_from_slice(&[198, 18, 0, host]);
        let total = (ip.len() + icmp.len()) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        let c = checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        ip.extend_from_slice(&icmp);
        ip
    }

    #[test]
    fn one_burst_guessing_the_old_sequence() {
        let profile = parse_profile("attacker\n198.18.0.0/29\n").unwrap();
        let mut a = Attacker::new(profile.attack.unwrap());
        let seen = probe(3);
        let req = parse_echo_request(&seen).unwrap();
        let burst = a.observe(&profile, &req);
        // 7 other addresses, three forgeries each; none for the seen target.
        assert_eq!(burst.len(), 7 * 3);
        assert!(burst.iter().all(|(k, _)| *k != key_of(req.dst).unwrap()));
        // For 198.18.0.5 the short quote carries exactly what the old format sent.
        let want = probe(5);
        let for5: Vec<&Vec<u8>> = burst
            .iter()
            .filter(|(k, _)| addr_of(*k).to_string() == "198.18.0.5")
            .map(|(_, p)| p)
            .collect();
        let (short, long, reply) = (for5[0], for5[1], for5[2]);
        assert_eq!((short[20], short[21]), (3, 1));
        assert_eq!(&short[28..], &want[..28]);
        assert_eq!(
            &long[28..],
            &want[..],
            "long quote: the whole guessed probe"
        );
        assert_eq!(&reply[12..16], &[198, 18, 0, 5]);
        assert_eq!(reply[20], 0);
        assert_eq!(&reply[24..], &want[24..], "same id, seq, tag and index");
        assert_eq!(checksum(&reply[20..]), 0);
        assert!(a.observe(&profile, &req).is_empty(), "fires once");
    }

    #[test]
    fn chosen_kinds_and_bound() {
        let profile = parse_profile("attacker forge=short max=2\n198.18.0.0/29\n").unwrap();
        let req_bytes = probe(1);
        let req = parse_echo_request(&req_bytes).unwrap();
        let burst = Attacker::new(profile.attack.unwrap()).observe(&profile, &req);
        assert_eq!(burst.len(), 2);
        assert!(burst
            .iter()
            .all(|(_, p)| p[20] == 3 && p.len() == 20 + 8 + 28));
    }
}
