//! ARP for IPv4 over Ethernet (RFC 826): the request the layer-2 path sends for each
//! on-link target, and a checked parse of the replies.

use super::ether::{self, Mac, ETHERTYPE_ARP, ETHERTYPE_IPV4};
use std::net::Ipv4Addr;

/// An ARP request in a minimum-size Ethernet frame (42 bytes of content, padded).
pub const REQUEST_FRAME: usize = ether::MIN_FRAME;
const BODY: usize = 28;
const OP_REQUEST: u16 = 1;
const OP_REPLY: u16 = 2;

/// Writes a broadcast "who has `target`? tell `src_ip`" into `buf[..REQUEST_FRAME]`.
pub fn emit_request(buf: &mut [u8], src_mac: Mac, src_ip: Ipv4Addr, target: Ipv4Addr) {
    let buf = &mut buf[..REQUEST_FRAME];
    ether::emit_header(buf, Mac::BROADCAST, src_mac, ETHERTYPE_ARP);
    let b = &mut buf[ether::HEADER..];
    b[0..2].copy_from_slice(&1u16.to_be_bytes()); // hardware: Ethernet
    b[2..4].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    b[4] = 6;
    b[5] = 4;
    b[6..8].copy_from_slice(&OP_REQUEST.to_be_bytes());
    b[8..14].copy_from_slice(&src_mac.0);
    b[14..18].copy_from_slice(&src_ip.octets());
    b[18..24].fill(0);
    b[24..28].copy_from_slice(&target.octets());
    b[BODY..].fill(0);
}

/// The facts of an ARP reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub sender_mac: Mac,
    pub sender_ip: Ipv4Addr,
    pub target_mac: Mac,
    pub target_ip: Ipv4Addr,
}

/// An Ethernet/IPv4 ARP reply from an ARP payload (the bytes after the Ethernet header),
/// or `None` for anything else (requests, other hardware, truncated).
pub fn parse_reply(p: &[u8]) -> Option<Reply> {
    let b = p.get(..BODY)?;
    let word = |at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
    if word(0) != 1 || word(2) != ETHERTYPE_IPV4 || b[4] != 6 || b[5] != 4 {
        return None;
    }
    if word(6) != OP_REPLY {
        return None;
    }
    let mac = |at: usize| Mac([b[at], b[at + 1], b[at + 2], b[at + 3], b[at + 4], b[at + 5]]);
    let ip = |at: usize| Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]);
    Some(Reply {
        sender_mac: mac(8),
        sender_ip: ip(14),
        target_mac: mac(18),
        target_ip: ip(24),
    })
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
