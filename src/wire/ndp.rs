//! IPv6 neighbour discovery (RFC 4861): the neighbour solicitation the layer-2 path sends
//! to a target's solicited-node multicast group, and a checked parse of advertisements.

use super::ether::{self, Mac, ETHERTYPE_IPV6};
use super::icmpv6::{NEIGHBOR_ADVERT, NEIGHBOR_SOLICIT};
use super::ip::PROTO_ICMPV6;
use super::ipv6::{self, icmpv6_checksum};
use super::parse::{ParseError, Rest};
use std::net::Ipv6Addr;

/// type, code, checksum, flags and reserved (4), target (16): both NS and NA.
const MESSAGE: usize = 24;
/// A link-layer address option for Ethernet: type, length in 8-byte units, MAC.
const LL_OPTION: usize = 8;
const NS_LEN: usize = MESSAGE + LL_OPTION;
pub const SOLICITATION_FRAME: usize = ether::HEADER + ipv6::HEADER_LEN + NS_LEN;
const OPT_SOURCE_LL: u8 = 1;
const OPT_TARGET_LL: u8 = 2;
const FLAG_SOLICITED: u8 = 0x40;

mod field {
    use crate::wire::parse::{Field, Rest};
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const FLAGS: usize = 4;
    pub const RESERVED: Field = 4..8;
    pub const TARGET: Field = 8..24;
    pub const OPTIONS: Rest = 24..;
}

/// A byte view of a neighbour solicitation or advertisement (an ICMPv6 message).
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Long enough for the fixed part (options may be absent).
    pub fn new_checked(buffer: T) -> Option<Packet<T>> {
        (buffer.as_ref().len() >= MESSAGE).then_some(Packet { buffer })
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::CHECKSUM];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// An advertisement's S flag: an answer to a solicitation.
    pub fn solicited(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & FLAG_SOLICITED != 0
    }

    pub fn target_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::TARGET]);
        Ipv6Addr::from(a)
    }

    /// The Ethernet link-layer address in the first option of `kind`; `Err` when an
    /// option is cut short or has length zero (RFC 4861 7.1.2: the message is invalid).
    pub fn link_layer_option(&self, kind: u8) -> Result<Option<Mac>, ParseError> {
        let mut opts = &self.buffer.as_ref()[field::OPTIONS];
        let mut found = None;
        while !opts.is_empty() {
            let len = usize::from(*opts.get(1).ok_or(ParseError::Truncated)?) * 8;
            if len == 0 {
                return Err(ParseError::Malformed);
            }
            let opt = opts.get(..len).ok_or(ParseError::Truncated)?;
            if opt[0] == kind && len == LL_OPTION && found.is_none() {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(&opt[2..LL_OPTION]);
                found = Some(Mac(mac));
            }
            opts = &opts[len..];
        }
        Ok(found)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn header_mut(&mut self, kind: u8, target: Ipv6Addr) {
        let b = self.buffer.as_mut();
        b[field::TYPE] = kind;
        b[field::CODE] = 0;
        b[field::CHECKSUM].fill(0);
        b[field::RESERVED].fill(0);
        b[field::TARGET].copy_from_slice(&target.octets());
    }

    fn set_link_layer_option(&mut self, at: Rest, kind: u8, mac: Mac) {
        let o = &mut self.buffer.as_mut()[at];
        o[0] = kind;
        o[1] = (LL_OPTION / 8) as u8;
        o[2..LL_OPTION].copy_from_slice(&mac.0);
    }

    /// Fills the ICMPv6 checksum for a message from `src` to `dst`.
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        let c = icmpv6_checksum(src, dst, self.buffer.as_ref());
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }
}

/// ff02::1:ffXX:XXXX, the group a node joins for each of its addresses.
pub fn solicited_node(target: Ipv6Addr) -> Ipv6Addr {
    let t = target.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(t[13]),
        u16::from_be_bytes([t[14], t[15]]),
    )
}

/// 33:33 followed by the group's last 32 bits (RFC 2464).
pub fn multicast_mac(group: Ipv6Addr) -> Mac {
    let g = group.octets();
    Mac([0x33, 0x33, g[12], g[13], g[14], g[15]])
}

/// Writes "who has `target`?" from `src_ip` (with our MAC as the source link-layer
/// option, so the target can answer without resolving us) into `buf[..SOLICITATION_FRAME]`.
pub fn emit_solicitation(buf: &mut [u8], src_mac: Mac, src_ip: Ipv6Addr, target: Ipv6Addr) {
    let group = solicited_node(target);
    let buf = &mut buf[..SOLICITATION_FRAME];
    ether::emit_header(buf, multicast_mac(group), src_mac, ETHERTYPE_IPV6);
    let (ip6, msg) = buf[ether::HEADER..].split_at_mut(ipv6::HEADER_LEN);
    // Hop limit 255: receivers drop neighbour discovery that may have been forwarded.
    ipv6::Repr::icmpv6(src_ip, group, 255, NS_LEN).emit(ip6);
    let mut ns = Packet::new_unchecked(msg);
    ns.header_mut(NEIGHBOR_SOLICIT, target);
    ns.set_link_layer_option(field::OPTIONS, OPT_SOURCE_LL, src_mac);
    ns.fill_checksum(src_ip, group);
}

/// The facts of a neighbour advertisement the layer-2 path uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advert {
    /// The IPv6 destination (should be us).
    pub dst: Ipv6Addr,
    pub target: Ipv6Addr,
    /// The target link-layer address option, if present.
    pub mac: Option<Mac>,
}

/// A valid advertisement from an IPv6 packet (the bytes after the Ethernet header):
/// hop limit 255, correct checksum, well-formed options; `None` for anything else.
pub fn parse_advertisement(p: &[u8]) -> Option<Advert> {
    let ip = ipv6::Packet::new_checked(p).ok()?;
    if ip.next_header() != PROTO_ICMPV6 || ip.hop_limit() != 255 {
        return None;
    }
    let na = Packet::new_checked(ip.payload())?;
    if na.msg_type() != NEIGHBOR_ADVERT || na.msg_code() != 0 {
        return None;
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if icmpv6_checksum(src, dst, ip.payload()) != na.checksum() {
        return None;
    }
    Some(Advert {
        dst,
        target: na.target_addr(),
        mac: na.link_layer_option(OPT_TARGET_LL).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Mac = Mac([0x02, 0x53, 0x57, 0x00, 0x00, 0x01]);

    #[test]
    fn solicitation_golden_bytes() {
        let src: Ipv6Addr = "2001:2:0:1::ffff".parse().unwrap();
        let target: Ipv6Addr = "2001:2:0:1::abc".parse().unwrap();
        let mut buf = [0u8; SOLICITATION_FRAME];
        emit_solicitation(&mut buf, US, src, target);
        #[rustfmt::skip]
        let want: [u8; 86] = [
            0x33, 0x33, 0xff, 0x00, 0x0a, 0xbc, 0x02, 0x53, 0x57, 0x00, 0x00, 0x01, 0x86, 0xdd,
            0x60, 0, 0, 0, 0, 32, 58, 255,
            0x20, 0x01, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
            0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0x00, 0x0a, 0xbc,
            135, 0, 0xca, 0xca, 0, 0, 0, 0,
            0x20, 0x01, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x0a, 0xbc,
            1, 1, 0x02, 0x53, 0x57, 0x00, 0x00, 0x01,
        ];
        assert_eq!(buf, want);
    }

    /// An advertisement as Linux sends it in answer (solicited, override, target option).
    fn advert(src: Ipv6Addr, dst: Ipv6Addr, mac: Mac) -> Vec<u8> {
        let mut m = vec![NEIGHBOR_ADVERT, 0, 0, 0, 0x60, 0, 0, 0];
        m.extend_from_slice(&src.octets());
        m.extend_from_slice(&[OPT_TARGET_LL, 1]);
        m.extend_from_slice(&mac.0);
        let c = icmpv6_checksum(src, dst, &m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        let mut p = vec![0u8; ipv6::HEADER_LEN];
        ipv6::Repr::icmpv6(src, dst, 255, m.len()).emit(&mut p);
        p.extend_from_slice(&m);
        p
    }

    #[test]
    fn parses_advertisements_and_rejects_forgeries() {
        let host: Ipv6Addr = "2001:2:0:1::abc".parse().unwrap();
        let us: Ipv6Addr = "2001:2:0:1::ffff".parse().unwrap();
        let mac = Mac([0xb8, 0x27, 0xeb, 1, 2, 3]);
        let p = advert(host, us, mac);
        let a = parse_advertisement(&p).unwrap();
        assert_eq!((a.dst, a.target, a.mac), (us, host, Some(mac)));
        let na = Packet::new_checked(&p[ipv6::HEADER_LEN..]).unwrap();
        assert!(na.solicited());
        // Routed from afar (hop limit below 255), a bad checksum, a truncated body, a
        // zero-length option: none of them count.
        let mut far = p.clone();
        far[7] = 64;
        assert_eq!(parse_advertisement(&far), None);
        let mut bad = p.clone();
        bad[ipv6::HEADER_LEN + 30] ^= 1;
        assert_eq!(parse_advertisement(&bad), None);
        assert_eq!(parse_advertisement(&p[..p.len() - 1]), None);
        let mut zero = p.clone();
        zero[ipv6::HEADER_LEN + 25] = 0;
        assert_eq!(parse_advertisement(&zero), None);
    }
}
