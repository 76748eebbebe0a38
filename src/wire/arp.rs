//! ARP for IPv4 over Ethernet (RFC 826): the request the layer-2 path sends for each
//! on-link target, and a checked parse of the replies.

use super::ether::{self, Mac, ETHERTYPE_ARP, ETHERTYPE_IPV4};
use super::parse::Field;
use std::net::Ipv4Addr;

/// An ARP request in a minimum-size Ethernet frame (42 bytes of content, padded).
pub const REQUEST_FRAME: usize = ether::MIN_FRAME;
/// The Ethernet/IPv4 body: 8 bytes of header, two MAC and IPv4 address pairs.
const BODY: usize = 28;
const HTYPE_ETHERNET: u16 = 1;

mod field {
    use crate::wire::parse::Field;
    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;
    pub const SHA: Field = 8..14;
    pub const SPA: Field = 14..18;
    pub const THA: Field = 18..24;
    pub const TPA: Field = 24..28;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Request,
    Reply,
    Other(u16),
}

impl From<u16> for Operation {
    fn from(v: u16) -> Operation {
        match v {
            1 => Operation::Request,
            2 => Operation::Reply,
            v => Operation::Other(v),
        }
    }
}

impl From<Operation> for u16 {
    fn from(o: Operation) -> u16 {
        match o {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Other(v) => v,
        }
    }
}

/// A byte view of an ARP packet (the bytes after the Ethernet header).
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Long enough for the Ethernet/IPv4 body (the only kind sweep reads).
    pub fn new_checked(buffer: T) -> Option<Packet<T>> {
        (buffer.as_ref().len() >= BODY).then_some(Packet { buffer })
    }

    fn word(&self, f: Field) -> u16 {
        let b = &self.buffer.as_ref()[f];
        u16::from_be_bytes([b[0], b[1]])
    }

    fn mac(&self, f: Field) -> Mac {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.buffer.as_ref()[f]);
        Mac(m)
    }

    fn ip(&self, f: Field) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[f];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// Ethernet hardware addresses and IPv4 protocol addresses.
    pub fn is_ethernet_ipv4(&self) -> bool {
        let b = self.buffer.as_ref();
        self.word(field::HTYPE) == HTYPE_ETHERNET
            && self.word(field::PTYPE) == ETHERTYPE_IPV4
            && b[field::HLEN] == 6
            && b[field::PLEN] == 4
    }

    pub fn operation(&self) -> Operation {
        self.word(field::OPER).into()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_word(&mut self, f: Field, v: u16) {
        self.buffer.as_mut()[f].copy_from_slice(&v.to_be_bytes());
    }
}

/// An Ethernet/IPv4 ARP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub operation: Operation,
    pub sender_mac: Mac,
    pub sender_ip: Ipv4Addr,
    pub target_mac: Mac,
    pub target_ip: Ipv4Addr,
}

impl Repr {
    /// `None` for other hardware or protocol types.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Option<Repr> {
        p.is_ethernet_ipv4().then(|| Repr {
            operation: p.operation(),
            sender_mac: p.mac(field::SHA),
            sender_ip: p.ip(field::SPA),
            target_mac: p.mac(field::THA),
            target_ip: p.ip(field::TPA),
        })
    }

    /// Writes the 28-byte body into `buf[..28]`.
    pub fn emit(&self, buf: &mut [u8]) {
        let mut p = Packet::new_unchecked(&mut buf[..BODY]);
        p.set_word(field::HTYPE, HTYPE_ETHERNET);
        p.set_word(field::PTYPE, ETHERTYPE_IPV4);
        p.set_word(field::OPER, self.operation.into());
        let b = p.buffer;
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
        b[field::SHA].copy_from_slice(&self.sender_mac.0);
        b[field::SPA].copy_from_slice(&self.sender_ip.octets());
        b[field::THA].copy_from_slice(&self.target_mac.0);
        b[field::TPA].copy_from_slice(&self.target_ip.octets());
    }
}

/// Writes a broadcast "who has `target`? tell `src_ip`" into `buf[..REQUEST_FRAME]`.
pub fn emit_request(buf: &mut [u8], src_mac: Mac, src_ip: Ipv4Addr, target: Ipv4Addr) {
    let buf = &mut buf[..REQUEST_FRAME];
    ether::emit_header(buf, Mac::BROADCAST, src_mac, ETHERTYPE_ARP);
    let body = &mut buf[ether::HEADER..];
    Repr {
        operation: Operation::Request,
        sender_mac: src_mac,
        sender_ip: src_ip,
        target_mac: Mac::ZERO,
        target_ip: target,
    }
    .emit(body);
    body[BODY..].fill(0);
}

/// An Ethernet/IPv4 ARP reply from an ARP payload (the bytes after the Ethernet header),
/// or `None` for anything else (requests, other hardware, truncated).
pub fn parse_reply(p: &[u8]) -> Option<Repr> {
    Repr::parse(&Packet::new_checked(p)?).filter(|r| r.operation == Operation::Reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Mac = Mac([0x02, 0x53, 0x57, 0x00, 0x00, 0x01]);

    #[test]
    fn request_golden_bytes() {
        let mut buf = [0xeeu8; 64];
        emit_request(
            &mut buf,
            US,
            Ipv4Addr::new(198, 19, 255, 254),
            Ipv4Addr::new(198, 18, 1, 2),
        );
        #[rustfmt::skip]
        let want: [u8; 42] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x53, 0x57, 0x00, 0x00, 0x01, 0x08, 0x06,
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,
            0x02, 0x53, 0x57, 0x00, 0x00, 0x01, 198, 19, 255, 254,
            0, 0, 0, 0, 0, 0, 198, 18, 1, 2,
        ];
        assert_eq!(&buf[..42], &want);
        assert!(buf[42..60].iter().all(|&b| b == 0), "padding");
        assert_eq!(buf[60], 0xee, "nothing past the frame");
    }

    #[test]
    fn parses_a_captured_reply() {
        // A Linux host's reply to the request above (Ethernet header stripped).
        #[rustfmt::skip]
        let reply: [u8; 28] = [
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02,
            0xdc, 0xa6, 0x32, 0x01, 0x02, 0x03, 198, 18, 1, 2,
            0x02, 0x53, 0x57, 0x00, 0x00, 0x01, 198, 19, 255, 254,
        ];
        let r = parse_reply(&reply).unwrap();
        assert_eq!(r.sender_mac.to_string(), "dc:a6:32:01:02:03");
        assert_eq!(r.sender_ip, Ipv4Addr::new(198, 18, 1, 2));
        assert_eq!(
            (r.target_mac, r.target_ip),
            (US, Ipv4Addr::new(198, 19, 255, 254))
        );
        // A request is not a reply; truncated or non-Ethernet bodies are nothing.
        let mut req = reply;
        req[7] = 1;
        assert_eq!(parse_reply(&req), None);
        assert_eq!(parse_reply(&reply[..27]), None);
        let mut tr = reply;
        tr[1] = 6;
        assert_eq!(parse_reply(&tr), None);
    }
}
