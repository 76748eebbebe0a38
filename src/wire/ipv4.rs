//! IPv4 (RFC 791): a checked view of received headers (IHL-aware, for the outer header and
//! the one an ICMP error quotes) and the 20-byte header the layer-2 path writes itself.

use super::checksum::checksum;
use super::ip::PROTO_ICMP;
use super::parse::{Field, ParseError};
use std::net::Ipv4Addr;

/// A header without options.
pub const HEADER_LEN: usize = 20;

mod field {
    use crate::wire::parse::Field;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC: Field = 12..16;
    pub const DST: Field = 16..20;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A byte view of an IPv4 packet.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// A whole datagram: its header valid and every byte its total length claims present.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, ParseError> {
        let p = Packet::new_unchecked(buffer);
        p.check_header()?;
        if usize::from(p.total_len()) < p.header_len() {
            return Err(ParseError::Malformed);
        }
        if p.buffer.as_ref().len() < usize::from(p.total_len()) {
            return Err(ParseError::Truncated);
        }
        Ok(p)
    }

    /// The fixed header alone (a quote may hold fewer bytes than its lengths say): version
    /// 4 and at least 5 words. Options may still lie past the buffer's end.
    pub fn check_header(&self) -> Result<(), ParseError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        let ihl = self.header_len();
        if self.version() != 4 || ihl < HEADER_LEN {
            return Err(ParseError::Malformed);
        }
        Ok(())
    }

    fn word(&self, f: Field) -> u16 {
        let b = &self.buffer.as_ref()[f];
        u16::from_be_bytes([b[0], b[1]])
    }

    fn addr(&self, f: Field) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[f];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// IHL in bytes.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    pub fn total_len(&self) -> u16 {
        self.word(field::LENGTH)
    }

    pub fn more_frags(&self) -> bool {
        self.word(field::FLG_OFF) & FLAG_MF != 0
    }

    pub fn frag_offset(&self) -> u16 {
        self.word(field::FLG_OFF) & OFFSET_MASK
    }

    /// More fragments follow, or this is not the first: only a whole datagram can be judged.
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        self.addr(field::SRC)
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        self.addr(field::DST)
    }

    /// The bytes after the header, up to the total length (link padding dropped) or the
    /// end of the buffer, whichever comes first (after `check_header`).
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(self.payload_range(b.len())).unwrap_or(&[])
    }

    fn payload_range(&self, len: usize) -> std::ops::Range<usize> {
        self.header_len()..len.min(usize::from(self.total_len()))
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
    fn set_word(&mut self, f: Field, v: u16) {
        self.buffer.as_mut()[f].copy_from_slice(&v.to_be_bytes());
    }

    /// Fills the header checksum over `header_len` bytes.
    pub fn fill_checksum(&mut self) {
        self.set_word(field::CHECKSUM, 0);
        let c = checksum(&self.buffer.as_ref()[..self.header_len()]);
        self.set_word(field::CHECKSUM, c);
    }
}

/// The IPv4 header sweep writes: no options, Don't Fragment, IP ID 0 (RFC 6864: an
/// atomic datagram needs no ID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub payload_len: usize,
}

impl Repr {
    /// An ICMP datagram's header.
    pub fn icmp(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, payload_len: usize) -> Repr {
        Repr {
            src,
            dst,
            protocol: PROTO_ICMP,
            ttl,
            payload_len,
        }
    }

    /// Writes the header into `buf[..HEADER_LEN]`, checksum filled in.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut p = Packet::new_unchecked(&mut buf[..HEADER_LEN]);
        let total = u16::try_from(HEADER_LEN + self.payload_len).unwrap_or(u16::MAX);
        let b: &mut [u8] = p.buffer;
        b[field::VER_IHL] = 0x45;
        b[field::DSCP_ECN] = 0;
        b[field::IDENT].fill(0);
        b[field::TTL] = self.ttl;
        b[field::PROTOCOL] = self.protocol;
        b[field::SRC].copy_from_slice(&self.src.octets());
        b[field::DST].copy_from_slice(&self.dst.octets());
        p.set_word(field::LENGTH, total);
        p.set_word(field::FLG_OFF, FLAG_DF);
        p.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_golden_bytes() {
        let mut h = [0u8; 20];
        Repr::icmp(
            Ipv4Addr::new(198, 19, 255, 254),
            Ipv4Addr::new(198, 18, 0, 7),
            64,
            64,
        )
        .emit(&mut h);
        assert_eq!(checksum(&h), 0);
        assert_eq!(&h[..10], &[0x45, 0, 0, 84, 0, 0, 0x40, 0, 64, 1]);
        let p = Packet::new_unchecked(&h[..]);
        p.check_header().unwrap();
        assert_eq!(
            (p.src_addr(), p.dst_addr(), p.ttl(), p.is_fragment()),
            (
                Ipv4Addr::new(198, 19, 255, 254),
                Ipv4Addr::new(198, 18, 0, 7),
                64,
                false
            )
        );
        // 84 bytes claimed, 20 present: the header checks, the datagram does not.
        assert_eq!(
            Packet::new_checked(&h[..]).err(),
            Some(ParseError::Truncated)
        );
    }
}
