//! IPv6 (RFC 8200): the one parser of the fixed header (received neighbour discovery, the
//! in-memory network, the datagram an ICMPv6 error quotes), the walk over extension
//! headers, the header the layer-2 path writes, and the ICMPv6 pseudo-header checksum.

use super::checksum::{fold, sum16};
use super::ip::{PROTO_DST_OPTS, PROTO_FRAGMENT, PROTO_HOP_BY_HOP, PROTO_ICMPV6, PROTO_ROUTING};
use super::parse::{Field, ParseError};
use std::net::Ipv6Addr;

pub const HEADER_LEN: usize = 40;

mod field {
    use crate::wire::parse::Field;
    pub const VER_TC_FLOW: Field = 0..4;
    pub const LENGTH: Field = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Field = 8..24;
    pub const DST: Field = 24..40;
}

/// A byte view of an IPv6 packet.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// A whole packet: a valid fixed header and every payload byte it claims.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, ParseError> {
        let p = Packet::new_unchecked(buffer);
        p.check_header()?;
        if p.buffer.as_ref().len() < HEADER_LEN + usize::from(p.payload_len()) {
            return Err(ParseError::Truncated);
        }
        Ok(p)
    }

    /// The fixed header alone (a quote may be cut short): 40 bytes, version 6.
    pub fn check_header(&self) -> Result<(), ParseError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        if self.version() != 6 {
            return Err(ParseError::Malformed);
        }
        Ok(())
    }

    fn addr(&self, f: Field) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[f]);
        Ipv6Addr::from(a)
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TC_FLOW.start] >> 4
    }

    pub fn payload_len(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::LENGTH];
        u16::from_be_bytes([b[0], b[1]])
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    pub fn src_addr(&self) -> Ipv6Addr {
        self.addr(field::SRC)
    }

    pub fn dst_addr(&self) -> Ipv6Addr {
        self.addr(field::DST)
    }

    /// The bytes after the fixed header, up to the payload length or the end of the
    /// buffer, whichever comes first (after `check_header`).
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(self.payload_range(b.len())).unwrap_or(&[])
    }

    fn payload_range(&self, len: usize) -> std::ops::Range<usize> {
        HEADER_LEN..len.min(HEADER_LEN + usize::from(self.payload_len()))
    }

    /// The upper-layer protocol after any hop-by-hop, routing, destination options and
    /// first-fragment headers, and its offset from the start of the packet; `None` for a
    /// later fragment (its upper-layer header is elsewhere).
    pub fn upper_layer(&self) -> Result<Option<(u8, usize)>, ParseError> {
        let b = self.buffer.as_ref();
        let (mut next, mut at) = (self.next_header(), HEADER_LEN);
        loop {
            match next {
                PROTO_HOP_BY_HOP | PROTO_ROUTING | PROTO_DST_OPTS => {
                    let h = b.get(at..at + 2).ok_or(ParseError::Truncated)?;
                    next = h[0];
                    at += (usize::from(h[1]) + 1) * 8;
                }
                PROTO_FRAGMENT => {
                    let h = b.get(at..at + 8).ok_or(ParseError::Truncated)?;
                    if u16::from_be_bytes([h[2], h[3]]) & 0xfff8 != 0 {
                        return Ok(None);
                    }
                    next = h[0];
                    at += 8;
                }
                _ => return Ok(Some((next, at))),
            }
        }
    }
}

impl<'a> Packet<&'a [u8]> {
    /// `payload`, borrowed for as long as the bytes the view was made over.
    pub fn into_payload(self) -> &'a [u8] {
        let r = self.payload_range(self.buffer.len());
        self.buffer.get(r).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        let b = self.buffer.as_mut();
        let end = end.min(b.len());
        &mut b[HEADER_LEN..end]
    }
}

/// A received or written IPv6 header's facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next_header: u8,
    pub hop_limit: u8,
    pub payload_len: usize,
}

impl Repr {
    /// An ICMPv6 packet's header.
    pub fn icmpv6(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, payload_len: usize) -> Repr {
        Repr {
            src,
            dst,
            next_header: PROTO_ICMPV6,
            hop_limit,
            payload_len,
        }
    }

    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            next_header: p.next_header(),
            hop_limit: p.hop_limit(),
            payload_len: usize::from(p.payload_len()),
        }
    }

    /// Writes the fixed header into `buf[..HEADER_LEN]` (traffic class and flow label 0).
    pub fn emit(&self, buf: &mut [u8]) {
        let b = &mut buf[..HEADER_LEN];
        let len = u16::try_from(self.payload_len).unwrap_or(u16::MAX);
        b[field::VER_TC_FLOW].copy_from_slice(&0x6000_0000u32.to_be_bytes());
        b[field::LENGTH].copy_from_slice(&len.to_be_bytes());
        b[field::NXT_HDR] = self.next_header;
        b[field::HOP_LIMIT] = self.hop_limit;
        b[field::SRC].copy_from_slice(&self.src.octets());
        b[field::DST].copy_from_slice(&self.dst.octets());
    }
}

/// The ICMPv6 checksum of `msg` (its checksum field zero or not: it is skipped), over the
/// RFC 8200 pseudo-header. On an ICMPv6 socket the kernel computes it; the layer-2 path
/// and the in-memory network compute it here.
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    let pseudo = sum16(&src.octets())
        + sum16(&dst.octets())
        + (msg.len() as u64 >> 16)
        + (msg.len() as u64 & 0xffff)
        + u64::from(PROTO_ICMPV6);
    let body = sum16(msg) - msg.get(2..4).map_or(0, sum16);
    fold(pseudo + body)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn parse_bounds_the_payload() {
        let mut p = vec![0u8; 48];
        let r = Repr::icmpv6(Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED, 255, 8);
        r.emit(&mut p);
        let v = Packet::new_checked(&p[..]).unwrap();
        assert_eq!(Repr::parse(&v), r);
        assert_eq!(v.payload().len(), 8);
        assert_eq!(v.upper_layer(), Ok(Some((PROTO_ICMPV6, HEADER_LEN))));
        p[5] = 9; // claims more than there is
        assert_eq!(
            Packet::new_checked(&p[..]).err(),
            Some(ParseError::Truncated)
        );
        assert_eq!(
            Packet::new_checked(&p[..39]).err(),
            Some(ParseError::Truncated)
        );
        p[0] = 0x40;
        assert_eq!(
            Packet::new_checked(&p[..]).err(),
            Some(ParseError::Malformed)
        );
    }

    #[test]
    fn walks_extension_headers() {
        let mut p = vec![0u8; HEADER_LEN];
        Repr::icmpv6(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, 64, 24).emit(&mut p);
        p[field::NXT_HDR] = PROTO_HOP_BY_HOP;
        p.extend_from_slice(&[PROTO_DST_OPTS, 0, 1, 4, 0, 0, 0, 0]); // PadN
        p.extend_from_slice(&[PROTO_FRAGMENT, 0, 1, 4, 0, 0, 0, 0]);
        p.extend_from_slice(&[PROTO_ICMPV6, 0, 0, 0, 0, 0, 0, 1]); // first fragment, M=1
        let v = Packet::new_checked(&p[..]).unwrap();
        assert_eq!(v.upper_layer(), Ok(Some((PROTO_ICMPV6, HEADER_LEN + 24))));
        let mut later = p.clone();
        later[HEADER_LEN + 16 + 3] = 8; // offset 1: not the first fragment
        let v = Packet::new_unchecked(&later[..]);
        assert_eq!(v.upper_layer(), Ok(None));
        let v = Packet::new_unchecked(&p[..HEADER_LEN + 9]);
        assert_eq!(v.upper_layer(), Err(ParseError::Truncated));
    }
}
