//! IPv6 neighbour discovery (RFC 4861): the neighbour solicitation the layer-2 path sends
//! to a target's solicited-node multicast group, and a checked parse of advertisements.

use super::ether::{self, Mac, ETHERTYPE_IPV6};
use super::ip::{self, icmpv6_checksum, Ipv6, IPV6_HEADER, PROTO_ICMPV6};
use std::net::Ipv6Addr;

const NS: u8 = 135;
const NA: u8 = 136;
/// type, code, checksum, reserved (4), target (16), source link-layer option (8).
const NS_LEN: usize = 32;
pub const SOLICITATION_FRAME: usize = ether::HEADER + IPV6_HEADER + NS_LEN;
const OPT_SOURCE_LL: u8 = 1;
const OPT_TARGET_LL: u8 = 2;

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
    let (ip6, msg) = buf[ether::HEADER..].split_at_mut(IPV6_HEADER);
    // Hop limit 255: receivers drop neighbour discovery that may have been forwarded.
    ip::emit_ipv6(ip6, src_ip, group, 255, NS_LEN);
    msg[0] = NS;
    msg[1] = 0;
    msg[2..8].fill(0);
    msg[8..24].copy_from_slice(&target.octets());
    msg[24] = OPT_SOURCE_LL;
    msg[25] = 1;
    msg[26..32].copy_from_slice(&src_mac.0);
    let c = icmpv6_checksum(src_ip, group, msg);
    msg[2..4].copy_from_slice(&c.to_be_bytes());
}

/// The facts of a neighbour advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advert {
    /// The IPv6 source (the advertiser).
    pub src: Ipv6Addr,
    /// The IPv6 destination (should be us).
    pub dst: Ipv6Addr,
    pub target: Ipv6Addr,
    /// The target link-layer address option, if present.
    pub mac: Option<Mac>,
    pub solicited: bool,
}

/// A valid advertisement from an IPv6 packet (the bytes after the Ethernet header):
/// hop limit 255, correct checksum, well-formed options; `None` for anything else.
pub fn parse_advertisement(p: &[u8]) -> Option<Advert> {
    let v6 = Ipv6::parse(p)?;
    if v6.next != PROTO_ICMPV6 || v6.hop_limit != 255 {
        return None;
    }
    let m = v6.payload;
    if m.len() < 24 || m[0] != NA || m[1] != 0 {
        return None;
    }
    if icmpv6_checksum(v6.src, v6.dst, m) != u16::from_be_bytes([m[2], m[3]]) {
        return None;
    }
    let target: [u8; 16] = m.get(8..24)?.try_into().ok()?;
    let mut mac = None;
    let mut opts = m.get(24..)?;
    while !opts.is_empty() {
        let len = usize::from(*opts.get(1)?) * 8;
        if len == 0 {
            return None; // RFC 4861 7.1.2: a zero-length option invalidates the message
        }
        let opt = opts.get(..len)?;
        if opt[0] == OPT_TARGET_LL && len == 8 {
            mac = Some(Mac(opt[2..8].try_into().ok()?));
        }
        opts = &opts[len..];
    }
    Some(Advert {
        src: v6.src,
        dst: v6.dst,
        target: Ipv6Addr::from(target),
        mac,
        solicited: m[4] & 0x40 != 0,
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
        let mut m = vec![NA, 0, 0, 0, 0x60, 0, 0, 0];
        m.extend_from_slice(&src.octets());
        m.extend_from_slice(&[OPT_TARGET_LL, 1]);
        m.extend_from_slice(&mac.0);
        let c = icmpv6_checksum(src, dst, &m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        let mut p = vec![0u8; IPV6_HEADER];
        ip::emit_ipv6(&mut p, src, dst, 255, m.len());
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
        assert_eq!(
            (a.src, a.dst, a.target, a.mac, a.solicited),
            (host, us, host, Some(mac), true)
        );
        // Routed from afar (hop limit below 255), a bad checksum, a truncated body, a
        // zero-length option: none of them count.
        let mut far = p.clone();
        far[7] = 64;
        assert_eq!(parse_advertisement(&far), None);
        let mut bad = p.clone();
        bad[IPV6_HEADER + 30] ^= 1;
        assert_eq!(parse_advertisement(&bad), None);
        assert_eq!(parse_advertisement(&p[..p.len() - 1]), None);
        let mut zero = p.clone();
        zero[IPV6_HEADER + 25] = 0;
        assert_eq!(parse_advertisement(&zero), None);
    }
}
