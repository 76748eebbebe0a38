//! IPv4/ICMP parsing and reply building. Pure byte work, no I/O.
//! IPv6 lives in `packet6.rs`; [`parse_echo_request`] takes either.

use std::net::{IpAddr, Ipv4Addr};

pub const ICMP_ECHO_REPLY: u8 = 0;
pub const ICMP_ECHO_REQUEST: u8 = 8;
/// RFC 1812: an ICMP error should not exceed 576 bytes.
const MAX_ERROR_LEN: usize = 576;

/// Internet checksum (RFC 1071) of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP or ICMPv6 echo request as read from the TUN device.
#[derive(Debug, Clone, Copy)]
pub struct EchoRequest<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The whole IP packet, trimmed to its total length.
    pub packet: &'a [u8],
    /// The ICMP message (header and payload).
    pub icmp: &'a [u8],
}

/// Accepts only what a real host would answer: a well-formed, unfragmented
/// IPv4 or IPv6 echo request with good checksums.
pub fn parse_echo_request(buf: &[u8]) -> Option<EchoRequest<'_>> {
    match buf.first()? >> 4 {
        4 => parse_echo_request4(buf),
        6 => crate::packet6::parse_echo_request6(buf),
        _ => None,
    }
}

fn parse_echo_request4(buf: &[u8]) -> Option<EchoRequest<'_>> {
    if buf.len() < 20 || buf[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(buf[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    let frag = u16::from_be_bytes([buf[6], buf[7]]);
    if ihl < 20 || total < ihl + 8 || total > buf.len() || frag & 0x3fff != 0 || buf[9] != 1 {
        return None;
    }
    let packet = &buf[..total];
    let icmp = &packet[ihl..];
    if checksum(&packet[..ihl]) != 0 || checksum(icmp) != 0 || icmp[0] != ICMP_ECHO_REQUEST {
        return None;
    }
    Some(EchoRequest {
        src: Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]).into(),
        dst: Ipv4Addr::new(buf[16], buf[17], buf[18], buf[19]).into(),
        packet,
        icmp,
    })
}

/// Writes an IPv4 header (with `options`, padded to 4 bytes) for an ICMP payload
/// of `payload_len` bytes, checksum included.
fn ip_header(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    id: u16,
    options: &[u8],
    payload_len: usize,
) -> Vec<u8> {
    let opt_len = options.len().div_ceil(4) * 4;
    let hlen = 20 + opt_len;
    let total = hlen + payload_len;
    let mut h = Vec::with_capacity(total);
    h.push(0x40 | (hlen / 4) as u8);
    h.push(0);
    h.extend_from_slice(&(total as u16).to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&[0, 0, ttl, 1, 0, 0]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    h.extend_from_slice(options);
    h.resize(hlen, 0);
    let c = checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

fn ihl_of(pkt: &[u8]) -> usize {
    usize::from(pkt[0] & 0x0f) * 4
}

fn set_icmp_checksum(pkt: &mut [u8]) {
    let ihl = ihl_of(pkt);
    pkt[ihl + 2] = 0;
    pkt[ihl + 3] = 0;
    let c = checksum(&pkt[ihl..]);
    pkt[ihl + 2..ihl + 4].copy_from_slice(&c.to_be_bytes());
}

fn set_ip_checksum(pkt: &mut [u8]) {
    let ihl = ihl_of(pkt);
    pkt[10] = 0;
    pkt[11] = 0;
    let c = checksum(&pkt[..ihl]);
    pkt[10..12].copy_from_slice(&c.to_be_bytes());
}

/// An echo reply from `src` to `dst` echoing the request's identifier,
/// sequence and payload, as a real host does.
pub fn echo_reply(
    req_icmp: &[u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    ip_id: u16,
    options: &[u8],
) -> Vec<u8> {
    let mut pkt = ip_header(src, dst, ttl, ip_id, options, req_icmp.len());
    let start = pkt.len();
    pkt.extend_from_slice(req_icmp);
    pkt[start] = ICMP_ECHO_REPLY;
    pkt[start + 1] = 0;
    set_icmp_checksum(&mut pkt);
    pkt
}

/// Record route with one slot, already full (pointer past the end), holding `hop`.
pub fn record_route_option(hop: Ipv4Addr) -> Vec<u8> {
    let mut o = vec![7, 7, 8];
    o.extend_from_slice(&hop.octets());
    o.push(0); // end of options list
    o
}

/// Three NOPs and an end-of-list.
pub fn nop_option() -> Vec<u8> {
    vec![1, 1, 1, 0]
}

/// Breaks the ICMP checksum; XOR with a fixed pattern can't land on the
/// equivalent encoding (0x0000 vs 0xffff) of the right value.
pub fn corrupt_checksum(pkt: &mut [u8]) {
    let ihl = ihl_of(pkt);
    pkt[ihl + 2] ^= 0x5a;
    pkt[ihl + 3] ^= 0xa5;
}

/// Cuts the packet to `len` bytes as a middlebox would: the IP header is fixed
/// up (so the kernel delivers it) but the ICMP checksum still covers the
/// original message.
pub fn truncate(pkt: &mut Vec<u8>, len: usize) {
    let len = len.clamp(ihl_of(pkt), pkt.len());
    pkt.truncate(len);
    pkt[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    set_ip_checksum(pkt);
}

/// Replaces the ICMP identifier with a different one (checksum kept valid).
pub fn foreign_id(pkt: &mut [u8]) {
    let ihl = ihl_of(pkt);
    pkt[ihl + 4] ^= 0x5a;
    pkt[ihl + 5] ^= 0xc3;
    set_icmp_checksum(pkt);
}

/// An ICMP error (`typ`, `code`) from `router` about `probe`, quoting its IP
/// header plus 8 bytes (short) or as much as fits in 576 bytes (long).
pub fn icmp_error(
    probe: &[u8],
    router: Ipv4Addr,
    ttl: u8,
    ip_id: u16,
    typ: u8,
    code: u8,
    long: bool,
) -> Vec<u8> {
    let want = if long { probe.len() } else { ihl_of(probe) + 8 };
    let quote = &probe[..want.min(probe.len()).min(MAX_ERROR_LEN - 28)];
    let dst = Ipv4Addr::new(probe[12], probe[13], probe[14], probe[15]);
    let mut pkt = ip_header(router, dst, ttl, ip_id, &[], 8 + quote.len());
    pkt.extend_from_slice(&[typ, code, 0, 0, 0, 0, 0, 0]);
    pkt.extend_from_slice(quote);
    set_icmp_checksum(&mut pkt);
    pkt
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const HOST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 5);

    /// A request like ping's: id 0x1234, seq 7, 16 payload bytes.
    fn request() -> Vec<u8> {
        let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34, 0, 7];
        icmp.extend(0u8..16);
        let c = checksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        let mut pkt = ip_header(ME, HOST, 64, 1, &[], icmp.len());
        pkt.extend_from_slice(&icmp);
        pkt
    }

    #[test]
    fn checksum_golden() {
        // RFC 1071 example words 0001 f203 f4f5 f6f7 sum to ddf2 before complement.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
        assert_eq!(checksum(&[0xff]), !0xff00);
    }

    #[test]
    fn parses_request_and_rejects_damage() {
        let pkt = request();
        let r = parse_echo_request(&pkt).unwrap();
        assert_eq!((r.src, r.dst, r.icmp.len()), (ME.into(), HOST.into(), 24));
        let mut bad = pkt.clone();
        bad[30] ^= 1;
        assert!(parse_echo_request(&bad).is_none());
        assert!(parse_echo_request(&pkt[..27]).is_none());
        let mut frag = pkt.clone();
        frag[6] = 0x20; // more fragments
        set_ip_checksum(&mut frag);
        assert!(parse_echo_request(&frag).is_none());
    }

    #[test]
    fn reply_echoes_everything_with_good_checksums() {
        let req = request();
        let r = parse_echo_request(&req).unwrap();
        let rep = echo_reply(r.icmp, HOST, ME, 61, 9, &[]);
        assert_eq!(rep.len(), req.len());
        assert_eq!(rep[0], 0x45);
        assert_eq!((rep[8], rep[9]), (61, 1));
        assert_eq!(checksum(&rep[..20]), 0);
        assert_eq!(checksum(&rep[20..]), 0);
        assert_eq!(&rep[12..16], &HOST.octets());
        assert_eq!(&rep[16..20], &ME.octets());
        assert_eq!((rep[20], rep[21]), (0, 0));
        assert_eq!(&rep[24..], &req[24..]);
    }

    #[test]
    fn reply_with_options_parses() {
        let req = request();
        let r = parse_echo_request(&req).unwrap();
        for (opts, ihl) in [(record_route_option(HOST), 7), (nop_option(), 6)] {
            let rep = echo_reply(r.icmp, HOST, ME, 64, 9, &opts);
            assert_eq!(rep[0] & 0x0f, ihl);
            let h = usize::from(ihl) * 4;
            assert_eq!(usize::from(u16::from_be_bytes([rep[2], rep[3]])), rep.len());
            assert_eq!(checksum(&rep[..h]), 0);
            assert_eq!(checksum(&rep[h..]), 0);
            assert_eq!(rep[h], ICMP_ECHO_REPLY);
            assert_eq!(&rep[h + 4..], &req[24..]);
        }
        assert_eq!(&record_route_option(HOST)[..3], &[7, 7, 8]);
    }

    #[test]
    fn faulty_variants() {
        let req = request();
        let r = parse_echo_request(&req).unwrap();
        let good = echo_reply(r.icmp, HOST, ME, 64, 9, &[]);

        let mut c = good.clone();
        corrupt_checksum(&mut c);
        assert_eq!(checksum(&c[..20]), 0);
        assert_ne!(checksum(&c[20..]), 0);

        let mut t = good.clone();
        truncate(&mut t, 24);
        assert_eq!(t.len(), 24);
        assert_eq!(u16::from_be_bytes([t[2], t[3]]), 24);
        assert_eq!(checksum(&t[..20]), 0);

        let mut f = good.clone();
        foreign_id(&mut f);
        assert_ne!(&f[24..26], &good[24..26]);
        assert_eq!(checksum(&f[20..]), 0);
    }

    #[test]
    fn error_quotes() {
        let req = request();
        let router = Ipv4Addr::new(198, 18, 255, 254);
        let short = icmp_error(&req, router, 64, 3, 3, 1, false);
        assert_eq!(short.len(), 20 + 8 + 28);
        assert_eq!(checksum(&short[..20]), 0);
        assert_eq!(checksum(&short[20..]), 0);
        assert_eq!((short[20], short[21]), (3, 1));
        assert_eq!(&short[12..16], &router.octets());
        assert_eq!(&short[16..20], &ME.octets());
        assert_eq!(&short[28..], &req[..28]);
        let long = icmp_error(&req, router, 64, 3, 11, 0, true);
        assert_eq!(&long[28..], &req[..]);
        let mut big = request();
        big.resize(1400, 0);
        assert_eq!(icmp_error(&big, router, 64, 3, 11, 0, true).len(), 576);
    }
}
