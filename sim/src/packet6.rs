//! IPv6/ICMPv6 parsing and reply building. Pure byte work, no I/O.
//!
//! ICMPv6 checksums cover a pseudo-header (RFC 8200 section 8.1): source,
//! destination, upper-layer length (32 bits) and next header 58.

use crate::packet::EchoRequest;
use std::net::Ipv6Addr;

pub const ICMP6_ECHO_REQUEST: u8 = 128;
pub const ICMP6_ECHO_REPLY: u8 = 129;
/// Next header values.
const NH_HOP_BY_HOP: u8 = 0;
const NH_ICMPV6: u8 = 58;
const HEADER_LEN: usize = 40;
/// RFC 4443 2.4(c): an error must not exceed the minimum IPv6 MTU.
const MAX_ERROR_LEN: usize = 1280;

/// One's-complement sum of 16-bit big-endian words (odd tail padded).
fn sum16(data: &[u8]) -> u64 {
    let mut sum: u64 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

/// ICMPv6 checksum of `msg` (checksum field included as it is) sent from
/// `src` to `dst`: zero when `msg` already carries a correct checksum.
pub fn checksum6(src: &[u8], dst: &[u8], msg: &[u8]) -> u16 {
    let mut sum = sum16(src) + sum16(dst) + sum16(&(msg.len() as u32).to_be_bytes());
    sum += u64::from(NH_ICMPV6) + sum16(msg);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn src_of(pkt: &[u8]) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(&pkt[8..24]).expect("16 bytes"))
}

fn dst_of(pkt: &[u8]) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(&pkt[24..40]).expect("16 bytes"))
}

/// Accepts only what a real host would answer: an IPv6 packet whose next
/// header is ICMPv6 (no extension headers, so no fragments), holding an echo
/// request with a good checksum. Router solicitations, MLD reports and
/// neighbour discovery the kernel sends on the device are not echo requests.
pub fn parse_echo_request6(buf: &[u8]) -> Option<EchoRequest<'_>> {
    if buf.len() < HEADER_LEN + 8 || buf[0] >> 4 != 6 || buf[6] != NH_ICMPV6 {
        return None;
    }
    let total = HEADER_LEN + usize::from(u16::from_be_bytes([buf[4], buf[5]]));
    if total < HEADER_LEN + 8 || total > buf.len() {
        return None;
    }
    let packet = &buf[..total];
    let icmp = &packet[HEADER_LEN..];
    if icmp[0] != ICMP6_ECHO_REQUEST || checksum6(&buf[8..24], &buf[24..40], icmp) != 0 {
        return None;
    }
    Some(EchoRequest {
        src: src_of(buf).into(),
        dst: dst_of(buf).into(),
        packet,
        icmp,
    })
}

/// IPv6 header for `payload_len` bytes after it.
pub fn header(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    next: u8,
    payload_len: usize,
) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_LEN + payload_len);
    h.extend_from_slice(&[0x60, 0, 0, 0]);
    h.extend_from_slice(&(payload_len as u16).to_be_bytes());
    h.extend_from_slice(&[next, hop_limit]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    h
}

/// Where the ICMPv6 message starts: after the header and a hop-by-hop
/// header if there is one (the only extension header built here).
pub fn icmp_offset(pkt: &[u8]) -> usize {
    if pkt[6] == NH_HOP_BY_HOP {
        HEADER_LEN + (usize::from(pkt[HEADER_LEN + 1]) + 1) * 8
    } else {
        HEADER_LEN
    }
}

fn set_checksum(pkt: &mut [u8]) {
    let off = icmp_offset(pkt);
    pkt[off + 2] = 0;
    pkt[off + 3] = 0;
    let c = checksum6(&pkt[8..24], &pkt[24..40], &pkt[off..]);
    pkt[off + 2..off + 4].copy_from_slice(&c.to_be_bytes());
}

/// An echo reply from `src` to `dst` echoing the request's identifier,
/// sequence and payload. `hop_by_hop` is empty or a whole hop-by-hop
/// extension header (whose own next header field is 58).
pub fn echo_reply6(
    req_icmp: &[u8],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    hop_by_hop: &[u8],
) -> Vec<u8> {
    let next = if hop_by_hop.is_empty() {
        NH_ICMPV6
    } else {
        NH_HOP_BY_HOP
    };
    let mut pkt = header(src, dst, hop_limit, next, hop_by_hop.len() + req_icmp.len());
    pkt.extend_from_slice(hop_by_hop);
    let start = pkt.len();
    pkt.extend_from_slice(req_icmp);
    pkt[start] = ICMP6_ECHO_REPLY;
    pkt[start + 1] = 0;
    set_checksum(&mut pkt);
    pkt
}

/// Hop-by-hop header (8 bytes) padded by one PadN option with 4 zero bytes.
pub fn hop_by_hop_padn() -> Vec<u8> {
    vec![NH_ICMPV6, 0, 1, 4, 0, 0, 0, 0]
}

/// Hop-by-hop header (8 bytes) padded by six Pad1 options.
pub fn hop_by_hop_pad1() -> Vec<u8> {
    vec![NH_ICMPV6, 0, 0, 0, 0, 0, 0, 0]
}

/// Breaks the ICMPv6 checksum (see `packet::corrupt_checksum`).
pub fn corrupt_checksum6(pkt: &mut [u8]) {
    let off = icmp_offset(pkt);
    pkt[off + 2] ^= 0x5a;
    pkt[off + 3] ^= 0xa5;
}

/// Cuts the packet to `len` bytes (at least the 40-byte header) and fixes
/// the payload length; the ICMPv6 checksum still covers the full message.
pub fn truncate6(pkt: &mut Vec<u8>, len: usize) {
    let len = len.clamp(HEADER_LEN, pkt.len());
    pkt.truncate(len);
    pkt[4..6].copy_from_slice(&((len - HEADER_LEN) as u16).to_be_bytes());
}

/// Replaces the ICMPv6 identifier with a different one (checksum kept valid).
pub fn foreign_id6(pkt: &mut [u8]) {
    let off = icmp_offset(pkt);
    pkt[off + 4] ^= 0x5a;
    pkt[off + 5] ^= 0xc3;
    set_checksum(pkt);
}

/// An ICMPv6 error (`typ`, `code`) from `router` about `probe`, quoting its
/// IPv6 header plus 8 bytes (short) or as much as fits in 1280 bytes (long).
pub fn icmp_error6(
    probe: &[u8],
    router: Ipv6Addr,
    hop_limit: u8,
    typ: u8,
    code: u8,
    long: bool,
) -> Vec<u8> {
    let want = if long { probe.len() } else { HEADER_LEN + 8 };
    let quote = &probe[..want.min(probe.len()).min(MAX_ERROR_LEN - HEADER_LEN - 8)];
    let mut pkt = header(router, src_of(probe), hop_limit, NH_ICMPV6, 8 + quote.len());
    pkt.extend_from_slice(&[typ, code, 0, 0, 0, 0, 0, 0]);
    pkt.extend_from_slice(quote);
    set_checksum(&mut pkt);
    pkt
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::parse_echo_request;

    const ME: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    const HOST: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 5);

    /// An echo request like ping -6's: id 0x1234, seq 7, payload 0..16.
    fn request() -> Vec<u8> {
        let mut icmp = vec![ICMP6_ECHO_REQUEST, 0, 0, 0, 0x12, 0x34, 0, 7];
        icmp.extend(0u8..16);
        let c = checksum6(&ME.octets(), &HOST.octets(), &icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let mut pkt = header(ME, HOST, 64, NH_ICMPV6, icmp.len());
        pkt.extend_from_slice(&icmp);
        pkt
    }

    /// Golden values computed independently (Python, summing the RFC 8200
    /// pseudo-header and the message by hand):
    ///
    /// ```text
    /// import struct
    /// def csum(b):
    ///     if len(b) % 2: b += b"\0"
    ///     s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    ///     while s > 0xffff: s = (s & 0xffff) + (s >> 16)
    ///     return ~s & 0xffff
    /// src = bytes.fromhex("20010db8000000000000000000000001")
    /// dst = bytes.fromhex("20010002000000000000000000000005")
    /// msg = bytes([128, 0, 0, 0, 0x12, 0x34, 0, 7]) + bytes(range(16))
    /// pseudo = src + dst + struct.pack("!I", len(msg)) + b"\0\0\0\x3a"
    /// hex(csum(pseudo + msg))                        # request: 0xe76f
    /// rep = bytes([129]) + msg[1:]
    /// hex(csum(dst + src + pseudo[32:] + rep))       # reply:   0xe66f
    /// odd = bytes([0x80, 0, 0, 0, 0xab])
    /// hex(csum(src + dst + struct.pack("!I", 5) + b"\0\0\0\x3a" + odd))  # 0x86fd
    /// ```
    #[test]
    fn checksum_golden_pseudo_header() {
        let req = request();
        assert_eq!(&req[42..44], &[0xe7, 0x6f]);
        let r = parse_echo_request(&req).unwrap();
        let rep = echo_reply6(r.icmp, HOST, ME, 64, &[]);
        assert_eq!(&rep[42..44], &[0xe6, 0x6f]);
        // Odd-length message: the tail byte is padded with a zero.
        assert_eq!(
            checksum6(&ME.octets(), &HOST.octets(), &[0x80, 0, 0, 0, 0xab]),
            0x86fd
        );
    }

    #[test]
    fn parses_request_and_rejects_damage() {
        let pkt = request();
        let r = parse_echo_request(&pkt).unwrap();
        assert_eq!((r.src, r.dst), (ME.into(), HOST.into()));
        assert_eq!((r.packet.len(), r.icmp.len()), (64, 24));
        let mut bad = pkt.clone();
        bad[50] ^= 1;
        assert!(parse_echo_request(&bad).is_none());
        // A pseudo-header field changed: the checksum no longer matches.
        let mut moved = pkt.clone();
        moved[39] ^= 1;
        assert!(parse_echo_request(&moved).is_none());
        assert!(parse_echo_request(&pkt[..60]).is_none());
        let mut frag = pkt.clone();
        frag[6] = 44;
        assert!(parse_echo_request(&frag).is_none());
        // Router solicitation from the kernel: ICMPv6 but not an echo request.
        let mut rs = header(ME, HOST, 255, NH_ICMPV6, 8);
        rs.extend_from_slice(&[133, 0, 0, 0, 0, 0, 0, 0]);
        set_checksum(&mut rs);
        assert!(parse_echo_request(&rs).is_none());
        // Trailing bytes past the payload length are ignored.
        let mut padded = pkt.clone();
        padded.extend_from_slice(&[0xee; 6]);
        assert_eq!(parse_echo_request(&padded).unwrap().packet.len(), 64);
    }

    #[test]
    fn reply_echoes_everything() {
        let req = request();
        let r = parse_echo_request(&req).unwrap();
        let rep = echo_reply6(r.icmp, HOST, ME, 61, &[]);
        assert_eq!(rep.len(), req.len());
        assert_eq!((rep[0], rep[6], rep[7]), (0x60, 58, 61));
        assert_eq!(u16::from_be_bytes([rep[4], rep[5]]), 24);
        assert_eq!((src_of(&rep), dst_of(&rep)), (HOST, ME));
        assert_eq!((rep[40], rep[41]), (ICMP6_ECHO_REPLY, 0));
        assert_eq!(checksum6(&rep[8..24], &rep[24..40], &rep[40..]), 0);
        assert_eq!(&rep[44..], &req[44..]);
    }

    #[test]
    fn reply_with_hop_by_hop_header() {
        let req = request();
        let r = parse_echo_request(&req).unwrap();
        for hbh in [hop_by_hop_padn(), hop_by_hop_pad1()] {
            let rep = echo_reply6(r.icmp, HOST, ME, 64, &hbh);
            assert_eq!(rep[6], NH_HOP_BY_HOP);
            assert_eq!(icmp_offset(&rep), 48);
            assert_eq!(usize::from(u16::from_be_bytes([rep[4], rep[5]])), 8 + 24);
            assert_eq!(rep[40], NH_ICMPV6);
            // The pseudo-header length is the ICMPv6 length, without the
            // extension header.
            assert_eq!(checksum6(&rep[8..24], &rep[24..40], &rep[48..]), 0);
            assert_eq!(&rep[48..50], &[ICMP6_ECHO_REPLY, 0]);
            assert_eq!(&rep[52..], &req[44..]);
        }
    }

    #[test]
    fn faulty_variants() {
        let req = request();
        let r = parse_echo_request(&req).unwrap();
        let good = echo_reply6(r.icmp, HOST, ME, 64, &[]);
        let ok = |p: &[u8]| checksum6(&p[8..24], &p[24..40], &p[40..]) == 0;

        let mut c = good.clone();
        corrupt_checksum6(&mut c);
        assert!(!ok(&c));

        let mut t = good.clone();
        truncate6(&mut t, 44);
        assert_eq!(t.len(), 44);
        assert_eq!(u16::from_be_bytes([t[4], t[5]]), 4);
        let mut t = good.clone();
        truncate6(&mut t, 20);
        assert_eq!((t.len(), t[4], t[5]), (40, 0, 0));

        let mut f = good.clone();
        foreign_id6(&mut f);
        assert_ne!(&f[44..46], &good[44..46]);
        assert!(ok(&f));
    }

    #[test]
    fn error_quotes() {
        let req = request();
        let router = Ipv6Addr::new(0x2001, 2, 0xffff, 0, 0, 0, 0, 0xfe);
        let short = icmp_error6(&req, router, 64, 1, 3, false);
        assert_eq!(short.len(), 40 + 8 + 48);
        assert_eq!((short[6], short[40], short[41]), (58, 1, 3));
        assert_eq!((src_of(&short), dst_of(&short)), (router, ME));
        assert_eq!(checksum6(&short[8..24], &short[24..40], &short[40..]), 0);
        assert_eq!(&short[48..], &req[..48]);
        let long = icmp_error6(&req, router, 64, 3, 0, true);
        assert_eq!(&long[48..], &req[..]);
        let mut big = request();
        big.resize(1400, 0);
        let e = icmp_error6(&big, router, 64, 3, 0, true);
        assert_eq!(e.len(), 1280);
        assert_eq!(checksum6(&e[8..24], &e[24..40], &e[40..]), 0);
    }
}
