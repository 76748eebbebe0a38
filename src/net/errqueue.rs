//! ICMP errors on unprivileged datagram sockets. An ICMP datagram ("ping") socket never
//! receives ICMP errors as packets; with `IP_RECVERR`/`IPV6_RECVERR` the kernel queues
//! them on the socket's error queue instead (`MSG_ERRQUEUE`): the probe it quotes as the
//! data, the original destination as the address, and a `sock_extended_err` with the
//! error's type and code, followed by the address of the host that sent it
//! (`SO_EE_OFFENDER`). `rebuild` turns that back into the ICMP error message a raw socket
//! would have read, so one validator judges both.

use crate::wire::{icmp, ipv4, ipv6, ICMP_HEADER};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What the kernel reported for one queued error (the parts of `sock_extended_err` used).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extended {
    /// `ee_origin`: only errors from an ICMP (2) or ICMPv6 (3) message are answers.
    pub origin: u8,
    pub kind: u8,
    pub code: u8,
}

const ORIGIN_ICMP: u8 = 2;
const ORIGIN_ICMP6: u8 = 3;
/// Most quoted bytes kept: the kernel quotes at most 576 bytes of the original datagram.
const MAX_QUOTE: usize = 576;

/// The ICMP(v6) error message for a queued error: its type and code, a minimal header
/// of the original datagram to `dst`, and the `quoted` probe. `None` for errors that are
/// not ICMP (local ones, e.g. a full send queue) or that do not match `dst`'s family.
pub fn rebuild(ext: Extended, dst: IpAddr, quoted: &[u8], out: &mut Vec<u8>) -> Option<()> {
    out.clear();
    let quoted = quoted.get(..quoted.len().min(MAX_QUOTE))?;
    let header = match (ext.origin, dst) {
        (ORIGIN_ICMP, IpAddr::V4(_)) => ipv4::HEADER_LEN,
        (ORIGIN_ICMP6, IpAddr::V6(_)) => ipv6::HEADER_LEN,
        _ => return None,
    };
    out.resize(ICMP_HEADER + header + quoted.len(), 0);
    let mut msg = icmp::Packet::new_unchecked(&mut out[..]);
    msg.set_msg_type(ext.kind);
    msg.set_msg_code(ext.code);
    let (ip, probe) = msg.data_mut().split_at_mut(header);
    probe.copy_from_slice(quoted);
    // The source of the quoted datagram is us; the parser reads only its destination.
    match dst {
        IpAddr::V4(d) => {
            ipv4::Repr::icmp(Ipv4Addr::UNSPECIFIED, d, 64, quoted.len()).emit(ip);
            msg.fill_checksum();
        }
        // The kernel checked the ICMPv6 checksum; the parser does not look at it.
        IpAddr::V6(d) => ipv6::Repr::icmpv6(Ipv6Addr::UNSPECIFIED, d, 64, quoted.len()).emit(ip),
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{parse_icmp, parse_icmpv6, Icmp};

    fn echo(seq: u16, data: &[u8]) -> Vec<u8> {
        let mut m = vec![8, 0, 0, 0, 0x12, 0x34];
        m.extend_from_slice(&seq.to_be_bytes());
        m.extend_from_slice(data);
        m
    }

    #[test]
    fn an_ipv4_host_unreachable_parses_like_a_raw_one() {
        let mut out = Vec::new();
        let dst: IpAddr = "203.0.113.7".parse().unwrap();
        let ext = Extended {
            origin: 2,
            kind: 3,
            code: 1,
        };
        rebuild(ext, dst, &echo(77, &[1; 24]), &mut out).unwrap();
        match parse_icmp(&out).unwrap() {
            Icmp::Error { detail, quote } => {
                assert_eq!(detail.as_str(), "host-unreachable");
                assert_eq!((quote.dst, quote.seq, quote.data.len()), (dst, 77, 24));
            }
            other => panic!("{other:?}"),
        }
        // A short (RFC 792) quote still parses.
        rebuild(ext, dst, &echo(5, &[]), &mut out).unwrap();
        assert!(matches!(parse_icmp(&out), Ok(Icmp::Error { .. })));
    }

    #[test]
    fn an_ipv6_no_route_parses_like_a_raw_one() {
        let mut out = Vec::new();
        let dst: IpAddr = "2001:db8::9".parse().unwrap();
        let mut probe = echo(9, &[2; 16]);
        probe[0] = 128;
        let ext = Extended {
            origin: 3,
            kind: 1,
            code: 3,
        };
        rebuild(ext, dst, &probe, &mut out).unwrap();
        match parse_icmpv6(&out).unwrap() {
            Icmp::Error { quote, .. } => assert_eq!((quote.dst, quote.seq), (dst, 9)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn local_errors_and_mixed_families_are_not_answers() {
        let mut out = Vec::new();
        let v4: IpAddr = "198.18.0.1".parse().unwrap();
        let local = Extended {
            origin: 1,
            kind: 0,
            code: 0,
        };
        assert_eq!(rebuild(local, v4, &echo(1, &[]), &mut out), None);
        let icmp6 = Extended { origin: 3, ..local };
        assert_eq!(rebuild(icmp6, v4, &echo(1, &[]), &mut out), None);
        // A huge quote is cut to what a kernel can quote, never overflowing a length.
        let icmp = Extended {
            origin: 2,
            kind: 3,
            code: 1,
        };
        rebuild(icmp, v4, &vec![0; 70_000], &mut out).unwrap();
        assert_eq!(out.len(), ICMP_HEADER + ipv4::HEADER_LEN + MAX_QUOTE);
    }
}
