//! IPv6 neighbour discovery (RFC 4861): solicitations in, advertisements
//! out, for the TAP mode. Pure byte work.

use crate::mac::Mac;
use crate::packet6::{checksum6, header};
use std::net::Ipv6Addr;

const NEIGHBOR_SOLICITATION: u8 = 135;
const NEIGHBOR_ADVERTISEMENT: u8 = 136;
const OPT_SOURCE_LL: u8 = 1;
const OPT_TARGET_LL: u8 = 2;
/// RFC 4861 7.1.1: neighbour discovery from off the link is ignored.
const HOP_LIMIT: u8 = 255;
const NH_ICMPV6: u8 = 58;
const HEADER_LEN: usize = 40;
/// All-nodes multicast, where advertisements answering DAD go.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// A neighbour solicitation that passed RFC 4861 7.1.1 validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Solicitation {
    /// `::` for duplicate address detection.
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub target: Ipv6Addr,
    pub source_ll: Option<Mac>,
}

/// The solicited-node multicast group of `a`: ff02::1:ff00:0/104 plus the
/// low 24 bits of `a`.
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// The Ethernet address of an IPv6 multicast group: 33:33 and its low 32
/// bits (RFC 2464).
pub fn multicast_mac(group: Ipv6Addr) -> Mac {
    let o = group.octets();
    Mac([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

fn addr_at(b: &[u8], at: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    Ipv6Addr::from(a)
}

/// The IPv6 packet `ip` (trailing padding allowed) as a valid neighbour
/// solicitation: ICMPv6 type 135 code 0, hop limit 255, good checksum, at
/// least 24 bytes, a unicast target, well-formed options, and from `::`
/// only to a solicited-node group and without a source link-layer option.
pub fn parse_solicitation(ip: &[u8]) -> Option<Solicitation> {
    if ip.len() < HEADER_LEN || ip[0] >> 4 != 6 || ip[6] != NH_ICMPV6 || ip[7] != HOP_LIMIT {
        return None;
    }
    let total = HEADER_LEN + usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    let msg = ip.get(HEADER_LEN..total)?;
    if msg.len() < 24 || msg[0] != NEIGHBOR_SOLICITATION || msg[1] != 0 {
        return None;
    }
    if checksum6(&ip[8..24], &ip[24..40], msg) != 0 {
        return None;
    }
    let (src, dst, target) = (addr_at(ip, 8), addr_at(ip, 24), addr_at(msg, 8));
    if target.is_multicast() {
        return None;
    }
    let mut source_ll = None;
    let mut opts = &msg[24..];
    while !opts.is_empty() {
        let len = usize::from(*opts.get(1)?) * 8;
        if len == 0 || len > opts.len() {
            return None;
        }
        if opts[0] == OPT_SOURCE_LL && len == 8 {
            let mut m = [0u8; 6];
            m.copy_from_slice(&opts[2..8]);
            source_ll = Some(Mac(m));
        }
        opts = &opts[len..];
    }
    if src.is_unspecified() && (source_ll.is_some() || dst != solicited_node(target)) {
        return None;
    }
    Some(Solicitation {
        src,
        dst,
        target,
        source_ll,
    })
}

/// A neighbour advertisement (IPv6 packet) from `target`, owned by `mac`,
/// to `dst`: override flag set, solicited unless `dst` is all-nodes, router
/// flag for the gateway, with the target link-layer address option.
pub fn advertisement(target: Ipv6Addr, mac: Mac, dst: Ipv6Addr, router: bool) -> Vec<u8> {
    let solicited = dst != ALL_NODES;
    let flags = (u8::from(router) << 7) | (u8::from(solicited) << 6) | (1 << 5);
    let mut msg = vec![NEIGHBOR_ADVERTISEMENT, 0, 0, 0, flags, 0, 0, 0];
    msg.extend_from_slice(&target.octets());
    msg.extend_from_slice(&[OPT_TARGET_LL, 1]);
    msg.extend_from_slice(&mac.0);
    let c = checksum6(&target.octets(), &dst.octets(), &msg);
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    let mut pkt = header(target, dst, HOP_LIMIT, NH_ICMPV6, msg.len());
    pkt.extend_from_slice(&msg);
    pkt
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ether::{frame, parse_frame, ETHERTYPE_IPV6};

    const SCANNER: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0xffff, 0xffff, 0xffff, 0xfffe);
    const HOST: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 5);
    const SCANNER_MAC: Mac = Mac([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
    const HOST_MAC: Mac = Mac([0x00, 0x1b, 0x21, 0x0a, 0x0b, 0x0c]);

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// A solicitation like the kernel's and ndisc6's for 2001:2::5 from the
    /// scanner, with its source link-layer address, and the advertisement
    /// answering it, as whole frames. The checksums were computed
    /// independently (Python: one's-complement sum over the RFC 8200
    /// pseudo-header and the message, as in packet6.rs's golden test):
    ///
    /// ```text
    /// src = bytes.fromhex("2001000200000000fffffffffffffffe")
    /// host = bytes.fromhex("20010002000000000000000000000005")
    /// sn = bytes.fromhex("ff0200000000000000000001ff000005")
    /// ns = bytes([135,0,0,0, 0,0,0,0]) + host + bytes([1,1]) + bytes.fromhex("021122334455")
    /// hex(csum(src + sn + struct.pack("!I", 32) + b"\0\0\0\x3a" + ns))   # 0xd0f6
    /// na = bytes([136,0,0,0, 0x60,0,0,0]) + host + bytes([2,1]) + bytes.fromhex("001b210a0b0c")
    /// hex(csum(host + src + struct.pack("!I", 32) + b"\0\0\0\x3a" + na))  # 0x8960
    /// ```
    const NS_FRAME: &str = "
        3333ff000005 021122334455 86dd
        60000000 0020 3a ff
        2001000200000000fffffffffffffffe
        ff0200000000000000000001ff000005
        87 00 d0f6 00000000
        20010002000000000000000000000005
        01 01 021122334455";

    const NA_FRAME: &str = "
        021122334455 001b210a0b0c 86dd
        60000000 0020 3a ff
        20010002000000000000000000000005
        2001000200000000fffffffffffffffe
        88 00 8960 60000000
        20010002000000000000000000000005
        02 01 001b210a0b0c";

    #[test]
    fn solicitation_to_advertisement_golden() {
        let ns = hex(NS_FRAME);
        let f = parse_frame(&ns).unwrap();
        assert_eq!(
            (f.dst, f.src),
            (multicast_mac(solicited_node(HOST)), SCANNER_MAC)
        );
        let s = parse_solicitation(f.payload).unwrap();
        assert_eq!(
            s,
            Solicitation {
                src: SCANNER,
                dst: solicited_node(HOST),
                target: HOST,
                source_ll: Some(SCANNER_MAC),
            }
        );
        let na = frame(
            f.src,
            HOST_MAC,
            ETHERTYPE_IPV6,
            &advertisement(s.target, HOST_MAC, s.src, false),
        );
        assert_eq!(na, hex(NA_FRAME));
    }

    fn ns_packet(src: Ipv6Addr, dst: Ipv6Addr, hop: u8, opts: &[u8]) -> Vec<u8> {
        let mut msg = vec![NEIGHBOR_SOLICITATION, 0, 0, 0, 0, 0, 0, 0];
        msg.extend_from_slice(&HOST.octets());
        msg.extend_from_slice(opts);
        let c = checksum6(&src.octets(), &dst.octets(), &msg);
        msg[2..4].copy_from_slice(&c.to_be_bytes());
        let mut p = header(src, dst, hop, NH_ICMPV6, msg.len());
        p.extend_from_slice(&msg);
        p
    }

    #[test]
    fn invalid_solicitations_ignored() {
        let sll = [1, 1, 2, 0x11, 0x22, 0x33, 0x44, 0x55];
        let sn = solicited_node(HOST);
        assert!(parse_solicitation(&ns_packet(SCANNER, sn, 255, &sll)).is_some());
        // Unicast NUD probe, no options.
        assert!(parse_solicitation(&ns_packet(SCANNER, HOST, 255, &[])).is_some());
        // Routed from elsewhere.
        assert!(parse_solicitation(&ns_packet(SCANNER, sn, 64, &sll)).is_none());
        // A zero-length option.
        assert!(
            parse_solicitation(&ns_packet(SCANNER, sn, 255, &[1, 0, 0, 0, 0, 0, 0, 0])).is_none()
        );
        // An option running past the end.
        assert!(
            parse_solicitation(&ns_packet(SCANNER, sn, 255, &[1, 2, 0, 0, 0, 0, 0, 0])).is_none()
        );
        // DAD: from :: only to the solicited-node group, without an SLLA.
        let dad = ns_packet(Ipv6Addr::UNSPECIFIED, sn, 255, &[]);
        assert_eq!(
            parse_solicitation(&dad).map(|s| s.src),
            Some(Ipv6Addr::UNSPECIFIED)
        );
        assert!(parse_solicitation(&ns_packet(Ipv6Addr::UNSPECIFIED, sn, 255, &sll)).is_none());
        assert!(parse_solicitation(&ns_packet(Ipv6Addr::UNSPECIFIED, HOST, 255, &[])).is_none());
        let mut bad = ns_packet(SCANNER, sn, 255, &sll);
        bad[50] ^= 1;
        assert!(parse_solicitation(&bad).is_none());
        let good = ns_packet(SCANNER, sn, 255, &sll);
        assert!(parse_solicitation(&good[..good.len() - 1]).is_none());
        let mut padded = good.clone();
        padded.extend_from_slice(&[0; 6]);
        assert!(parse_solicitation(&padded).is_some());
    }

    #[test]
    fn dad_answer_goes_to_all_nodes_unsolicited() {
        let na = advertisement(HOST, HOST_MAC, ALL_NODES, true);
        assert_eq!(na[7], 255);
        assert_eq!(na[44], 0x80 | 0x20);
        assert_eq!(checksum6(&na[8..24], &na[24..40], &na[40..]), 0);
        assert_eq!(multicast_mac(ALL_NODES), Mac([0x33, 0x33, 0, 0, 0, 1]));
        assert_eq!(
            solicited_node("2001:2::ab:cdef".parse().unwrap()),
            "ff02::1:ffab:cdef".parse::<Ipv6Addr>().unwrap()
        );
    }
}
