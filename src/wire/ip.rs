//! IP headers the layer-2 path writes itself (the kernel's stack is bypassed there), and
//! the ICMPv6 pseudo-header checksum, which on a raw ICMPv6 socket the kernel computes.

use super::checksum::{fold, sum16};
use std::net::{Ipv4Addr, Ipv6Addr};

pub const IPV4_HEADER: usize = 20;
pub const IPV6_HEADER: usize = 40;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_ICMPV6: u8 = 58;

/// A 20-byte IPv4 header for a `payload_len`-byte ICMP message: no options, Don't
/// Fragment and IP ID 0 (RFC 6864: an atomic datagram needs no ID), checksum filled in.
pub fn emit_ipv4(buf: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, payload_len: usize) {
    let h = &mut buf[..IPV4_HEADER];
    let total = (IPV4_HEADER + payload_len) as u16;
    h[0] = 0x45;
    h[1] = 0;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].fill(0);
    h[6..8].copy_from_slice(&0x4000u16.to_be_bytes());
    h[8] = ttl;
    h[9] = PROTO_ICMP;
    h[10..12].fill(0);
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = fold(sum16(h));
    h[10..12].copy_from_slice(&c.to_be_bytes());
}

/// A 40-byte IPv6 header carrying `payload_len` bytes of ICMPv6.
pub fn emit_ipv6(buf: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, payload_len: usize) {
    let h = &mut buf[..IPV6_HEADER];
    h[0..4].copy_from_slice(&0x6000_0000u32.to_be_bytes());
    h[4..6].copy_from_slice(&(payload_len as u16).to_be_bytes());
    h[6] = PROTO_ICMPV6;
    h[7] = hop_limit;
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(&dst.octets());
}

/// The ICMPv6 checksum of `msg` (its checksum field zero or not: it is skipped).
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    let pseudo = sum16(&src.octets())
        + sum16(&dst.octets())
        + (msg.len() as u64 >> 16)
        + (msg.len() as u64 & 0xffff)
        + u64::from(PROTO_ICMPV6);
    let body = sum16(msg) - msg.get(2..4).map_or(0, sum16);
    fold(pseudo + body)
}

/// A received IPv6 header's facts and its payload (bounded by the payload length field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6<'a> {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next: u8,
    pub hop_limit: u8,
    pub payload: &'a [u8],
}

impl<'a> Ipv6<'a> {
    pub fn parse(p: &'a [u8]) -> Option<Ipv6<'a>> {
        let h = p.get(..IPV6_HEADER)?;
        if h[0] >> 4 != 6 {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
        let addr = |at: usize| -> Option<Ipv6Addr> {
            let b: [u8; 16] = h.get(at..at + 16)?.try_into().ok()?;
            Some(Ipv6Addr::from(b))
        };
        Some(Ipv6 {
            src: addr(8)?,
            dst: addr(24)?,
            next: h[6],
            hop_limit: h[7],
            payload: p.get(IPV6_HEADER..IPV6_HEADER.checked_add(len)?)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum;

    #[test]
    fn ipv4_header_checks_out() {
        let mut h = [0u8; 20];
        emit_ipv4(
            &mut h,
            Ipv4Addr::new(198, 19, 255, 254),
            Ipv4Addr::new(198, 18, 0, 7),
            64,
            64,
        );
        assert_eq!(checksum(&h), 0);
        assert_eq!(&h[..10], &[0x45, 0, 0, 84, 0, 0, 0x40, 0, 64, 1]);
    }

    #[test]
    fn icmpv6_checksum_matches_a_capture() {
        // An echo request ping6 sent from 2001:db8::1 to 2001:db8::2, id 0x1234 seq 1,
        // payload "ab": the checksum must make pseudo-header + message sum to zero.
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mut msg = [128u8, 0, 0, 0, 0x12, 0x34, 0, 1, b'a', b'b'];
        let c = icmpv6_checksum(src, dst, &msg);
        msg[2..4].copy_from_slice(&c.to_be_bytes());
        // Re-summing with the checksum in place over pseudo-header + message gives 0.
        let pseudo = sum16(&src.octets()) + sum16(&dst.octets()) + msg.len() as u64 + 58;
        assert_eq!(fold(pseudo + sum16(&msg)), 0);
        assert_eq!(
            icmpv6_checksum(src, dst, &msg),
            c,
            "the field itself is skipped"
        );
    }

    #[test]
    fn ipv6_parse_bounds_the_payload() {
        let mut p = vec![0u8; 48];
        emit_ipv6(&mut p, Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED, 255, 8);
        let v = Ipv6::parse(&p).unwrap();
        assert_eq!((v.next, v.hop_limit, v.payload.len()), (58, 255, 8));
        p[5] = 9; // claims more than there is
        assert_eq!(Ipv6::parse(&p), None);
        assert_eq!(Ipv6::parse(&p[..39]), None);
    }
}
