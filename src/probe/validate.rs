//! Stateless validation: a reply proves it answers one of *our* probes through the
//! keyed tag over (target index, stamp) and the keyed sequence number (see
//! `probe::Key`), so no table of outstanding probes is needed, and the index in the
//! payload lets scans beyond 65,536 targets match replies exactly. Whether the target
//! was probed at all in this run, and whether the stamp lies in the future, the
//! receiver decides with the table and its clock.

use crate::probe::{data_intact, unstamp, Key, MIN_PAYLOAD};
use crate::targets::Targets;
use crate::wire::{self, Detail, Icmp, IpMeta, ParseError};
use std::net::IpAddr;

/// Why a received packet did not count; each reason is counted for the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// Truncated, malformed or with a bad checksum.
    Damaged,
    /// Someone else's traffic: another identifier, another ICMP type, not quoting an echo.
    NotOurs,
    /// Our identifier but a tag or sequence that does not check out.
    BadTag,
    /// A valid echo reply, but from an address other than the target it answers.
    WrongSource,
    /// Our own echo request, seen because the target is on this host (loopback).
    OwnProbe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Reply {
        index: u32,
        round: u8,
        sent_ns: u64,
        ttl: u8,
        /// The echoed data is the probe's, length and filler (the host is up either way).
        intact: bool,
    },
    Error {
        index: u32,
        detail: Detail,
        responder: IpAddr,
    },
    Ignore(Ignored),
}

pub struct Validator<'a> {
    key: Key,
    /// `None` on a datagram socket, where the kernel picks the identifier and filters for us.
    id: Option<u16>,
    targets: &'a Targets,
    /// The probes' payload length, when replies' data is checked in full.
    payload: Option<usize>,
}

impl<'a> Validator<'a> {
    pub fn new(key: Key, check_id: bool, targets: &'a Targets) -> Validator<'a> {
        Validator {
            key,
            id: check_id.then_some(key.id()),
            targets,
            payload: None,
        }
    }

    /// Also checks each reply's whole data against a probe of `len` payload bytes.
    pub fn expecting(self, len: usize) -> Validator<'a> {
        Validator {
            payload: Some(len),
            ..self
        }
    }

    /// A whole IPv4 packet from a raw socket.
    pub fn classify_ipv4(&self, pkt: &[u8]) -> Verdict {
        match wire::parse_ipv4(pkt) {
            Ok((meta, icmp)) => self.classify_icmp(meta, icmp),
            Err(e) => Verdict::Ignore(damaged(e)),
        }
    }

    /// An ICMP message with the facts of the IP header it came in.
    pub fn classify_icmp(&self, meta: IpMeta, msg: &[u8]) -> Verdict {
        self.judge(meta, wire::parse_icmp(msg))
    }

    /// An ICMPv6 message with its source and hop limit.
    pub fn classify_icmpv6(&self, meta: IpMeta, msg: &[u8]) -> Verdict {
        self.judge(meta, wire::parse_icmpv6(msg))
    }

    fn judge(&self, meta: IpMeta, icmp: Result<Icmp, ParseError>) -> Verdict {
        let icmp = match icmp {
            Ok(icmp) => icmp,
            Err(e) => return Verdict::Ignore(damaged(e)),
        };
        match icmp {
            Icmp::EchoReply { id, seq, data } => {
                if self.id.is_some_and(|ours| ours != id) {
                    return Verdict::Ignore(Ignored::NotOurs);
                }
                let Some((index, stamp)) = self.key.decode(data) else {
                    return Verdict::Ignore(Ignored::BadTag);
                };
                if seq != self.key.seq(index) || u64::from(index) >= self.targets.len() {
                    return Verdict::Ignore(Ignored::BadTag);
                }
                if self.targets.addr_at(u64::from(index)) != meta.src {
                    return Verdict::Ignore(Ignored::WrongSource);
                }
                let (round, sent_ns) = unstamp(stamp);
                Verdict::Reply {
                    index,
                    round,
                    sent_ns,
                    ttl: meta.ttl,
                    intact: self.payload.is_none_or(|len| data_intact(data, len)),
                }
            }
            Icmp::EchoRequest { id, .. } if Some(id) == self.id => {
                Verdict::Ignore(Ignored::OwnProbe)
            }
            Icmp::Error { detail, quote } => {
                if self.id.is_some_and(|ours| ours != quote.id) {
                    return Verdict::Ignore(Ignored::NotOurs);
                }
                let Some(index) = self.targets.index_of(quote.dst) else {
                    return Verdict::Ignore(Ignored::BadTag);
                };
                let index = index as u32;
                // A short (RFC 792) quote carries only identifier and sequence: 16 keyed
                // bits for this target. A longer one must also carry our tag for it.
                let tag_ok = quote.data.len() < MIN_PAYLOAD
                    || self.key.decode(quote.data).is_some_and(|(i, _)| i == index);
                if quote.seq != self.key.seq(index) || !tag_ok {
                    return Verdict::Ignore(Ignored::BadTag);
                }
                Verdict::Error {
                    index,
                    detail,
                    responder: meta.src,
                }
            }
            _ => Verdict::Ignore(Ignored::NotOurs),
        }
    }
}

fn damaged(_: ParseError) -> Ignored {
    Ignored::Damaged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::ProbeTemplate;
    use crate::wire::{checksum, icmp, ipv4, DEST_UNREACHABLE, ECHO_REPLY, ICMP_HEADER};
    use std::net::Ipv4Addr;

    /// The scanner's address in the packets these tests build.
    const US: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

    fn v4(a: IpAddr) -> Ipv4Addr {
        match a {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => panic!("not IPv4"),
        }
    }

    fn targets() -> Targets {
        // 198.18.0.0/15 minus network/broadcast: 131,070 targets, beyond 16-bit sequences.
        let first = u32::from(Ipv4Addr::new(198, 18, 0, 1));
        Targets::from_v4(vec![(first, first + 131_069)], vec![])
    }

    /// What a host sends back: our probe with type 0 and a fixed checksum, in an IP header.
    fn reply_to(probe: &[u8], src: IpAddr, ttl: u8) -> Vec<u8> {
        let mut pkt = vec![0u8; ipv4::HEADER_LEN];
        ipv4::Repr::icmp(v4(src), US, ttl, probe.len()).emit(&mut pkt);
        pkt.extend_from_slice(probe);
        let mut icmp = icmp::Packet::new_unchecked(&mut pkt[ipv4::HEADER_LEN..]);
        icmp.set_msg_type(ECHO_REPLY);
        icmp.fill_checksum();
        pkt
    }

    fn key(b: u8) -> Key {
        Key::from_bytes([b; 16])
    }

    fn setup() -> (Key, ProbeTemplate, Targets) {
        let key = key(1);
        (
            key,
            ProbeTemplate::new(key, 56, crate::probe::Proto::Icmp4),
            targets(),
        )
    }

    #[test]
    fn accepts_a_reply_beyond_65536() {
        let (key, t, ts) = setup();
        let v = Validator::new(key, true, &ts);
        let mut probe = [0u8; 64];
        t.write(&mut probe, 100_000, 2, 5_000);
        let src = ts.addr_at(100_000);
        assert_eq!(
            v.classify_ipv4(&reply_to(&probe, src, 61)),
            Verdict::Reply {
                index: 100_000,
                round: 2,
                sent_ns: 5_000,
                ttl: 61,
                intact: true,
            }
        );
        // The same index modulo 2^16 with another target's address is not accepted.
        let other = ts.addr_at(100_000 - 65_536);
        assert_eq!(
            v.classify_ipv4(&reply_to(&probe, other, 61)),
            Verdict::Ignore(Ignored::WrongSource)
        );
    }

    #[test]
    fn rejects_forgeries_and_foreign_traffic() {
        let (key, t, ts) = setup();
        let v = Validator::new(key, true, &ts);
        let mut probe = [0u8; 64];
        t.write(&mut probe, 7, 0, 1);
        let src = ts.addr_at(7);
        // Flip a stamp bit and fix the checksum: the tag no longer matches.
        let mut forged = probe;
        forged[20] ^= 1;
        assert_eq!(
            v.classify_ipv4(&reply_to(&forged, src, 64)),
            Verdict::Ignore(Ignored::BadTag)
        );
        // Another scan's identifier.
        let mut foreign = probe;
        foreign[4] ^= 0xff;
        assert_eq!(
            v.classify_ipv4(&reply_to(&foreign, src, 64)),
            Verdict::Ignore(Ignored::NotOurs)
        );
        // A corrupted checksum.
        let mut bad = reply_to(&probe, src, 64);
        bad[40] ^= 0x55;
        assert_eq!(v.classify_ipv4(&bad), Verdict::Ignore(Ignored::Damaged));
        // A truncated reply (tag cut off).
        let mut short = reply_to(&probe[..20], src, 64);
        short.truncate(20 + 20);
        assert_eq!(v.classify_ipv4(&short), Verdict::Ignore(Ignored::BadTag));
        // Our own request on loopback.
        let mut own = reply_to(&probe, src, 64);
        own[20] = 8;
        own[22..24].fill(0);
        let c = checksum(&own[20..]);
        own[22..24].copy_from_slice(&c.to_be_bytes());
        assert_eq!(v.classify_ipv4(&own), Verdict::Ignore(Ignored::OwnProbe));
    }

    #[test]
    fn echoed_data_is_checked_in_full() {
        let (key, t, ts) = setup();
        let v = Validator::new(key, true, &ts).expecting(56);
        let mut probe = [0u8; 64];
        t.write(&mut probe, 9, 1, 77);
        let src = ts.addr_at(9);
        let intact = |pkt: &[u8]| match v.classify_ipv4(pkt) {
            Verdict::Reply {
                index: 9, intact, ..
            } => intact,
            other => panic!("{other:?}"),
        };
        assert!(intact(&reply_to(&probe, src, 64)));
        // One filler byte changed (checksum fixed by reply_to): still up, data bad.
        let mut wrong = probe;
        wrong[63] ^= 0x01;
        assert!(!intact(&reply_to(&wrong, src, 64)));
        // Data cut short or padded: the length is part of the echo.
        assert!(!intact(&reply_to(&probe[..40], src, 64)));
        let mut long = probe.to_vec();
        long.push(56);
        assert!(!intact(&reply_to(&long, src, 64)));
        // Without `expecting`, only the tagged fields count (benches, fuzzing).
        let lax = Validator::new(key, true, &ts);
        assert!(matches!(
            lax.classify_ipv4(&reply_to(&wrong, src, 64)),
            Verdict::Reply { intact: true, .. }
        ));
    }

    #[test]
    fn datagram_sockets_skip_the_identifier() {
        let (key, t, ts) = setup();
        let v = Validator::new(key, false, &ts);
        let mut probe = [0u8; 64];
        t.write(&mut probe, 3, 0, 9);
        probe[4] ^= 0xff; // the kernel's identifier, not ours
        assert!(matches!(
            v.classify_ipv4(&reply_to(&probe, ts.addr_at(3), 64)),
            Verdict::Reply { index: 3, .. }
        ));
    }

    fn error_quoting(probe: &[u8], quote_len: usize, dst: IpAddr, code: u8) -> Vec<u8> {
        // The router's header, the error's, then the quoted datagram (TTL 1 when it died).
        let (h, e) = (ipv4::HEADER_LEN, ICMP_HEADER);
        let mut pkt = vec![0u8; h + e + h];
        let quoted = ipv4::Repr::icmp(US, v4(dst), 1, probe.len());
        quoted.emit(&mut pkt[h + e..]);
        pkt.extend_from_slice(&probe[..quote_len]);
        let router = Ipv4Addr::new(192, 0, 2, 2);
        ipv4::Repr::icmp(router, US, 64, pkt.len() - h).emit(&mut pkt);
        let mut icmp = icmp::Packet::new_unchecked(&mut pkt[h..]);
        icmp.set_msg_type(DEST_UNREACHABLE);
        icmp.set_msg_code(code);
        icmp.fill_checksum();
        pkt
    }

    #[test]
    fn matches_errors_by_quote() {
        let (key, t, ts) = setup();
        let v = Validator::new(key, true, &ts);
        let mut probe = [0u8; 64];
        t.write(&mut probe, 70_000, 0, 1);
        let dst = ts.addr_at(70_000);
        for len in [8, 24, 64] {
            assert_eq!(
                v.classify_ipv4(&error_quoting(&probe, len, dst, 1)),
                Verdict::Error {
                    index: 70_000,
                    detail: Detail::of(3, 1),
                    responder: IpAddr::from([192, 0, 2, 2])
                }
            );
        }
        // Quoting our probe but naming another target: the sequence gives it away.
        let wrong = ts.addr_at(70_001);
        assert_eq!(
            v.classify_ipv4(&error_quoting(&probe, 8, wrong, 1)),
            Verdict::Ignore(Ignored::BadTag)
        );
        // A long quote with a damaged tag.
        let mut forged = probe;
        forged[9] ^= 1;
        assert_eq!(
            v.classify_ipv4(&error_quoting(&forged, 64, dst, 1)),
            Verdict::Ignore(Ignored::BadTag)
        );
        // Quoting a non-target.
        let outside = IpAddr::from([203, 0, 113, 1]);
        assert_eq!(
            v.classify_ipv4(&error_quoting(&probe, 8, outside, 1)),
            Verdict::Ignore(Ignored::BadTag)
        );
    }

    #[test]
    fn icmpv6_replies_and_errors() {
        use crate::probe::Proto;
        use crate::targets::Span;
        let key = key(3);
        let t = ProbeTemplate::new(key, 56, Proto::Icmp6);
        let base = u128::from("2001:2::".parse::<std::net::Ipv6Addr>().unwrap());
        let ts = Targets::new(vec![Span::v4(1, 10), Span::v6(base, base + 255)], vec![]);
        let v = Validator::new(key, true, &ts);
        let mut probe = [0u8; 64];
        t.write(&mut probe, 12, 1, 77);
        assert_eq!(probe[0], 128);
        let mut reply = probe;
        reply[0] = 129;
        let src = ts.addr_at(12);
        assert_eq!(src.to_string(), "2001:2::2");
        let meta = IpMeta { src, ttl: 57 };
        assert_eq!(
            v.classify_icmpv6(meta, &reply),
            Verdict::Reply {
                index: 12,
                round: 1,
                sent_ns: 77,
                ttl: 57,
                intact: true,
            }
        );
        let wrong = IpMeta {
            src: ts.addr_at(13),
            ttl: 57,
        };
        assert_eq!(
            v.classify_icmpv6(wrong, &reply),
            Verdict::Ignore(Ignored::WrongSource)
        );
        assert_eq!(
            v.classify_icmpv6(meta, &probe),
            Verdict::Ignore(Ignored::OwnProbe)
        );
        // A router's "address unreachable" quoting the probe (IPv6 header + 8 bytes).
        let mut err = vec![1, 3, 0, 0, 0, 0, 0, 0, 0x60, 0, 0, 0, 0, 64, 58, 64];
        err.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        err.extend_from_slice(&u128::to_be_bytes(base + 2));
        err.extend_from_slice(&probe[..8]);
        let router = IpMeta {
            src: "2001:2:ffff::fe".parse().unwrap(),
            ttl: 64,
        };
        assert_eq!(
            v.classify_icmpv6(router, &err),
            Verdict::Error {
                index: 12,
                detail: crate::wire::Detail::of_v6(1, 3),
                responder: router.src
            }
        );
    }

    /// A reply captured in another run with the same seed: that run had its own key.
    #[test]
    fn replay_from_another_run_is_rejected() {
        let ts = targets();
        let ours = Key::random().unwrap();
        let theirs = Key::random().unwrap();
        let mut probe = [0u8; 64];
        ProbeTemplate::new(theirs, 56, crate::probe::Proto::Icmp4).write(&mut probe, 5, 0, 100);
        let pkt = reply_to(&probe, ts.addr_at(5), 64);
        // Without the identifier check (a datagram socket) the tag gives it away...
        assert_eq!(
            Validator::new(ours, false, &ts).classify_ipv4(&pkt),
            Verdict::Ignore(Ignored::BadTag)
        );
        // ...and with it, the identifier already does (or the tag, if they collide).
        assert!(matches!(
            Validator::new(ours, true, &ts).classify_ipv4(&pkt),
            Verdict::Ignore(Ignored::NotOurs | Ignored::BadTag)
        ));
    }

    /// An on-path attacker who saw one probe guesses the sequence for another target
    /// the way the old format allowed (`index ^ constant`): a short quote with it is
    /// rejected; only the keyed sequence for that target counts.
    #[test]
    fn short_quote_needs_the_keyed_sequence() {
        let (key, t, ts) = setup();
        let v = Validator::new(key, true, &ts);
        let mut seen = [0u8; 64];
        t.write(&mut seen, 1_000, 0, 1);
        let mask = key.seq(1_000) ^ 1_000u16;
        let mut rejected = 0;
        for index in 1_001..1_101u32 {
            let mut guess = [0u8; 64];
            t.write(&mut guess, index, 0, 1);
            let real = key.seq(index);
            let guessed = index as u16 ^ mask;
            guess[6..8].copy_from_slice(&guessed.to_be_bytes());
            let got = v.classify_ipv4(&error_quoting(&guess, 8, ts.addr_at(u64::from(index)), 1));
            if guessed == real {
                assert!(matches!(got, Verdict::Error { .. }));
            } else {
                assert_eq!(got, Verdict::Ignore(Ignored::BadTag));
                rejected += 1;
            }
        }
        assert!(rejected >= 99, "{rejected} of 100 guesses rejected");
    }

    proptest::proptest! {
        /// Arbitrary bytes through every classifier: no panic, and never a reply or
        /// an error (that would take a 32-bit tag plus a 16-bit sequence, or a 16-bit
        /// sequence for an address inside the scan).
        #[test]
        fn arbitrary_bytes_never_match(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            src in proptest::prelude::any::<[u8; 16]>(),
            ttl in proptest::prelude::any::<u8>(),
            check_id in proptest::prelude::any::<bool>(),
        ) {
            use crate::targets::Span;
            let base = u128::from_be_bytes(src) & !0xffff;
            let first = u32::from(Ipv4Addr::new(198, 18, 0, 1));
            let ts = Targets::new(
                vec![Span::v4(first, first + 131_069), Span::v6(base, base + 0xffff)],
                vec![],
            );
            let v = Validator::new(key(9), check_id, &ts);
            let v4 = IpMeta { src: IpAddr::from([src[0], src[1], src[2], src[3]]), ttl };
            let v6 = IpMeta { src: IpAddr::from(src), ttl };
            for verdict in [
                v.classify_ipv4(&data),
                v.classify_icmp(v4, &data),
                v.classify_icmpv6(v6, &data),
            ] {
                proptest::prop_assert!(matches!(verdict, Verdict::Ignore(_)), "{verdict:?}");
            }
        }
    }
}
