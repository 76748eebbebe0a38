//! Ethernet II frames and ARP (RFC 826) for the TAP mode. Pure byte work.

use crate::mac::Mac;
use std::net::Ipv4Addr;

pub const HEADER_LEN: usize = 14;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// Shortest frame on the wire without the FCS: NICs pad short frames, so
/// the scanner sees trailing zeros after a 28-byte ARP reply.
pub const MIN_FRAME: usize = 60;

const ARP_LEN: usize = 28;
const ARP_REQUEST: u16 = 1;
const ARP_REPLY: u16 = 2;

/// An Ethernet frame as read from the TAP device (no VLAN tags: a tagged
/// frame has ethertype 0x8100 and is ignored like any other).
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub dst: Mac,
    pub src: Mac,
    pub ethertype: u16,
    /// Everything after the header, padding included.
    pub payload: &'a [u8],
}

fn mac_at(b: &[u8], at: usize) -> Option<Mac> {
    let s = b.get(at..at + 6)?;
    let mut m = [0u8; 6];
    m.copy_from_slice(s);
    Some(Mac(m))
}

pub fn parse_frame(buf: &[u8]) -> Option<Frame<'_>> {
    let ethertype = u16::from_be_bytes([*buf.get(12)?, *buf.get(13)?]);
    Some(Frame {
        dst: mac_at(buf, 0)?,
        src: mac_at(buf, 6)?,
        ethertype,
        payload: buf.get(HEADER_LEN..)?,
    })
}

/// A frame from `src` to `dst` carrying `payload`, zero-padded to 60 bytes.
pub fn frame(dst: Mac, src: Mac, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity((HEADER_LEN + payload.len()).max(MIN_FRAME));
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    if f.len() < MIN_FRAME {
        f.resize(MIN_FRAME, 0);
    }
    f
}

/// An ARP request for an IPv4 address over Ethernet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRequest {
    pub sender_mac: Mac,
    /// 0.0.0.0 for an address probe (RFC 5227).
    pub sender_ip: Ipv4Addr,
    pub target_ip: Ipv4Addr,
}

fn ip_at(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

/// The ARP payload of a frame, if it is a request for Ethernet/IPv4.
/// Replies (gratuitous or the kernel's own) and other hardware types are
/// not requests.
pub fn parse_arp_request(payload: &[u8]) -> Option<ArpRequest> {
    let p = payload.get(..ARP_LEN)?;
    let fixed = [0, 1, 0x08, 0x00, 6, 4];
    if p[..6] != fixed || u16::from_be_bytes([p[6], p[7]]) != ARP_REQUEST {
        return None;
    }
    let sender_mac = mac_at(p, 8)?;
    if sender_mac.is_multicast() {
        return None;
    }
    Some(ArpRequest {
        sender_mac,
        sender_ip: ip_at(p, 14),
        target_ip: ip_at(p, 24),
    })
}

/// The ARP reply payload: `mac` owns the requested address, sent back to
/// the requester.
pub fn arp_reply(req: &ArpRequest, mac: Mac) -> Vec<u8> {
    let mut p = Vec::with_capacity(ARP_LEN);
    p.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
    p.extend_from_slice(&ARP_REPLY.to_be_bytes());
    p.extend_from_slice(&mac.0);
    p.extend_from_slice(&req.target_ip.octets());
    p.extend_from_slice(&req.sender_mac.0);
    p.extend_from_slice(&req.sender_ip.octets());
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCANNER: Mac = Mac([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
    const HOST: Mac = Mac([0x00, 0x1b, 0x21, 0x0a, 0x0b, 0x0c]);

    /// What arp-scan or the kernel sends: broadcast, who-has 198.18.0.5
    /// tell 198.19.255.254, padded to 60 bytes.
    fn request_frame() -> Vec<u8> {
        let mut f = vec![
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst
            0x02, 0x11, 0x22, 0x33, 0x44, 0x55, // src
            0x08, 0x06, // ARP
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // Ethernet/IPv4, request
            0x02, 0x11, 0x22, 0x33, 0x44, 0x55, // sender MAC
            198, 19, 255, 254, // sender IP
            0, 0, 0, 0, 0, 0, // target MAC (unknown)
            198, 18, 0, 5, // target IP
        ];
        f.resize(60, 0);
        f
    }

    #[test]
    fn arp_request_to_reply_golden() {
        let buf = request_frame();
        let f = parse_frame(&buf).unwrap();
        assert_eq!(
            (f.dst, f.src, f.ethertype),
            (Mac::BROADCAST, SCANNER, ETHERTYPE_ARP)
        );
        let req = parse_arp_request(f.payload).unwrap();
        assert_eq!(
            req,
            ArpRequest {
                sender_mac: SCANNER,
                sender_ip: Ipv4Addr::new(198, 19, 255, 254),
                target_ip: Ipv4Addr::new(198, 18, 0, 5),
            }
        );
        let reply = frame(f.src, HOST, ETHERTYPE_ARP, &arp_reply(&req, HOST));
        let mut want = vec![
            0x02, 0x11, 0x22, 0x33, 0x44, 0x55, // dst: the requester, unicast
            0x00, 0x1b, 0x21, 0x0a, 0x0b, 0x0c, // src: the host
            0x08, 0x06, // ARP
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, // Ethernet/IPv4, reply
            0x00, 0x1b, 0x21, 0x0a, 0x0b, 0x0c, // sender MAC: the host
            198, 18, 0, 5, // sender IP: the host
            0x02, 0x11, 0x22, 0x33, 0x44, 0x55, // target MAC: the requester
            198, 19, 255, 254, // target IP: the requester
        ];
        want.resize(60, 0);
        assert_eq!(reply, want);
    }

    #[test]
    fn not_requests() {
        let buf = request_frame();
        let p = &buf[HEADER_LEN..];
        let mut reply = p.to_vec();
        reply[7] = 2;
        assert!(parse_arp_request(&reply).is_none());
        let mut rarp = p.to_vec();
        rarp[3] = 0x06;
        assert!(parse_arp_request(&rarp).is_none());
        let mut group_sender = p.to_vec();
        group_sender[8] = 0x01;
        assert!(parse_arp_request(&group_sender).is_none());
        assert!(parse_arp_request(&p[..27]).is_none());
        assert!(parse_frame(&buf[..13]).is_none());
        assert_eq!(parse_frame(&buf[..14]).unwrap().payload.len(), 0);
        // A big payload is not padded.
        assert_eq!(frame(HOST, SCANNER, ETHERTYPE_IPV4, &[7; 100]).len(), 114);
    }
}
