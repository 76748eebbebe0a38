//! ICMP and ICMPv6 on the wire: parse untrusted bytes (IHL-aware for the outer and the
//! quoted IPv4 header; extension-header-aware for quoted IPv6) and emit echo requests.
//! Pure functions over byte slices; no sockets here.

use super::checksum::checksum;
use pnet_packet::ipv4::Ipv4Packet;
use std::net::{IpAddr, Ipv6Addr};

pub const ECHO_REPLY: u8 = 0;
pub const DEST_UNREACHABLE: u8 = 3;
pub const ECHO_REQUEST: u8 = 8;
pub const TIME_EXCEEDED: u8 = 11;
pub const PARAMETER_PROBLEM: u8 = 12;
pub const ICMP_HEADER: usize = 8;
const PROTO_ICMP: u8 = 1;

pub const ICMP6_DEST_UNREACHABLE: u8 = 1;
pub const ICMP6_PACKET_TOO_BIG: u8 = 2;
pub const ICMP6_TIME_EXCEEDED: u8 = 3;
pub const ICMP6_PARAMETER_PROBLEM: u8 = 4;
pub const ICMP6_ECHO_REQUEST: u8 = 128;
pub const ICMP6_ECHO_REPLY: u8 = 129;
const NEXT_ICMP6: u8 = 58;
const IPV6_HEADER: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than its headers say it is.
    Truncated,
    /// Not IPv4, a header length below 5 words, or lengths that contradict each other.
    Malformed,
    /// Not ICMP, or a fragment we cannot validate alone.
    NotIcmp,
    BadChecksum,
}

/// What the outer IP header (or the socket, for ICMPv6 and datagram sockets) says about
/// a received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpMeta {
    pub src: IpAddr,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
}

/// The probe an ICMP error quotes: its destination and echo header, plus as much of its
/// payload as the router included (none for an RFC 792 8-byte quote).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote<'a> {
    pub dst: IpAddr,
    pub id: u16,
    pub seq: u16,
    pub data: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmp<'a> {
    EchoReply {
        id: u16,
        seq: u16,
        data: &'a [u8],
    },
    EchoRequest {
        id: u16,
        seq: u16,
        data: &'a [u8],
    },
    /// An error (unreachable, time exceeded, parameter problem) quoting an echo request.
    Error {
        detail: Detail,
        quote: Quote<'a>,
    },
    /// Anything else, including errors that quote something other than an echo request.
    Other {
        kind: u8,
    },
}

/// Splits a raw-socket packet into its IPv4 facts and ICMP bytes, honouring IHL and total
/// length (trailing link padding is dropped).
pub fn parse_ipv4(buf: &[u8]) -> Result<(IpMeta, &[u8]), ParseError> {
    let ip = Ipv4Packet::new(buf).ok_or(ParseError::Truncated)?;
    let ihl = usize::from(ip.get_header_length()) * 4;
    let total = usize::from(ip.get_total_length());
    if ip.get_version() != 4 || ihl < 20 || total < ihl {
        return Err(ParseError::Malformed);
    }
    if buf.len() < total {
        return Err(ParseError::Truncated);
    }
    // More-fragments flag or a non-zero offset: only a whole datagram can be validated.
    if ip.get_next_level_protocol().0 != PROTO_ICMP
        || ip.get_fragment_offset() != 0
        || ip.get_flags() & 1 != 0
    {
        return Err(ParseError::NotIcmp);
    }
    let meta = IpMeta {
        src: ip.get_source().into(),
        ttl: ip.get_ttl(),
    };
    Ok((meta, &buf[ihl..total]))
}

/// Parses an ICMP message (from `parse_ipv4`, or straight from a datagram socket).
pub fn parse_icmp(msg: &[u8]) -> Result<Icmp<'_>, ParseError> {
    if msg.len() < ICMP_HEADER {
        return Err(ParseError::Truncated);
    }
    if checksum(msg) != 0 {
        return Err(ParseError::BadChecksum);
    }
    let (kind, code) = (msg[0], msg[1]);
    let id = u16::from_be_bytes([msg[4], msg[5]]);
    let seq = u16::from_be_bytes([msg[6], msg[7]]);
    let data = &msg[ICMP_HEADER..];
    Ok(match kind {
        ECHO_REPLY => Icmp::EchoReply { id, seq, data },
        ECHO_REQUEST => Icmp::EchoRequest { id, seq, data },
        DEST_UNREACHABLE | TIME_EXCEEDED | PARAMETER_PROBLEM => match parse_quote(data)? {
            Some(quote) => Icmp::Error {
                detail: Detail::of(kind, code),
                quote,
            },
            None => Icmp::Other { kind },
        },
        _ => Icmp::Other { kind },
    })
}

/// The quoted original datagram: its IP header (IHL-aware) and at least 8 bytes of ICMP.
/// `None` when the quoted packet was not an ICMP echo request.
fn parse_quote(q: &[u8]) -> Result<Option<Quote<'_>>, ParseError> {
    let ip = Ipv4Packet::new(q).ok_or(ParseError::Truncated)?;
    let ihl = usize::from(ip.get_header_length()) * 4;
    if ip.get_version() != 4 || ihl < 20 {
        return Err(ParseError::Malformed);
    }
    if q.len() < ihl + ICMP_HEADER {
        return Err(ParseError::Truncated);
    }
    let icmp = &q[ihl..];
    if ip.get_next_level_protocol().0 != PROTO_ICMP || icmp[0] != ECHO_REQUEST {
        return Ok(None);
    }
    // A router may quote fewer bytes than the original datagram held; never read past
    // either the quote or the original's own length.
    let orig_len = usize::from(ip.get_total_length()).saturating_sub(ihl);
    let end = icmp.len().min(orig_len.max(ICMP_HEADER));
    Ok(Some(Quote {
        dst: ip.get_destination().into(),
        id: u16::from_be_bytes([icmp[4], icmp[5]]),
        seq: u16::from_be_bytes([icmp[6], icmp[7]]),
        data: &icmp[ICMP_HEADER..end],
    }))
}

/// Parses an ICMPv6 message from a raw or datagram ICMPv6 socket. The kernel has already
/// verified its checksum (it covers a pseudo-header only the kernel sees in full).
pub fn parse_icmpv6(msg: &[u8]) -> Result<Icmp<'_>, ParseError> {
    if msg.len() < ICMP_HEADER {
        return Err(ParseError::Truncated);
    }
    let (kind, code) = (msg[0], msg[1]);
    let id = u16::from_be_bytes([msg[4], msg[5]]);
    let seq = u16::from_be_bytes([msg[6], msg[7]]);
    let data = &msg[ICMP_HEADER..];
    Ok(match kind {
        ICMP6_ECHO_REPLY => Icmp::EchoReply { id, seq, data },
        ICMP6_ECHO_REQUEST => Icmp::EchoRequest { id, seq, data },
        ICMP6_DEST_UNREACHABLE
        | ICMP6_PACKET_TOO_BIG
        | ICMP6_TIME_EXCEEDED
        | ICMP6_PARAMETER_PROBLEM => match parse_quote_v6(data)? {
            Some(quote) => Icmp::Error {
                detail: Detail::of_v6(kind, code),
                quote,
            },
            None => Icmp::Other { kind },
        },
        _ => Icmp::Other { kind },
    })
}

/// The quoted IPv6 datagram: fixed header, any extension headers, then 8+ bytes of ICMPv6.
fn parse_quote_v6(q: &[u8]) -> Result<Option<Quote<'_>>, ParseError> {
    if q.len() < IPV6_HEADER {
        return Err(ParseError::Truncated);
    }
    if q[0] >> 4 != 6 {
        return Err(ParseError::Malformed);
    }
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&q[24..40]).expect("16 bytes"));
    let orig_len = usize::from(u16::from_be_bytes([q[4], q[5]]));
    let (mut next, mut at) = (q[6], IPV6_HEADER);
    // Walk hop-by-hop, routing and destination options headers, and a first fragment.
    loop {
        match next {
            NEXT_ICMP6 => break,
            0 | 43 | 60 => {
                let h = q.get(at..at + 2).ok_or(ParseError::Truncated)?;
                next = h[0];
                at += (usize::from(h[1]) + 1) * 8;
            }
            44 => {
                let h = q.get(at..at + 8).ok_or(ParseError::Truncated)?;
                if u16::from_be_bytes([h[2], h[3]]) & 0xfff8 != 0 {
                    return Ok(None);
                }
                next = h[0];
                at += 8;
            }
            _ => return Ok(None),
        }
    }
    let icmp = q
        .get(at..)
        .filter(|i| i.len() >= ICMP_HEADER)
        .ok_or(ParseError::Truncated)?;
    if icmp[0] != ICMP6_ECHO_REQUEST {
        return Ok(None);
    }
    let orig_icmp_len = (IPV6_HEADER + orig_len).saturating_sub(at);
    let end = icmp.len().min(orig_icmp_len.max(ICMP_HEADER));
    Ok(Some(Quote {
        dst: dst.into(),
        id: u16::from_be_bytes([icmp[4], icmp[5]]),
        seq: u16::from_be_bytes([icmp[6], icmp[7]]),
        data: &icmp[ICMP_HEADER..end],
    }))
}

/// Writes an echo request (ICMP header + `payload`) into `buf`; returns its length.
pub fn emit_echo_request(buf: &mut [u8], id: u16, seq: u16, payload: &[u8]) -> usize {
    let len = ICMP_HEADER + payload.len();
    let b = &mut buf[..len];
    b[..ICMP_HEADER].copy_from_slice(&[ECHO_REQUEST, 0, 0, 0, 0, 0, 0, 0]);
    b[4..6].copy_from_slice(&id.to_be_bytes());
    b[6..8].copy_from_slice(&seq.to_be_bytes());
    b[ICMP_HEADER..].copy_from_slice(payload);
    let c = checksum(b);
    b[2..4].copy_from_slice(&c.to_be_bytes());
    len
}

/// Why an ICMP error says a probe failed, or that an echo reply's data differed from
/// the probe's: the CSV `detail` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detail(u8);

const DETAILS: [&str; 26] = [
    "",
    "net-unreachable",
    "host-unreachable",
    "protocol-unreachable",
    "port-unreachable",
    "fragmentation-needed",
    "source-route-failed",
    "net-unknown",
    "host-unknown",
    "source-host-isolated",
    "net-prohibited",
    "host-prohibited",
    "net-unreachable-tos",
    "host-unreachable-tos",
    "admin-prohibited",
    "host-precedence-violation",
    "precedence-cutoff",
    "ttl-exceeded",
    "reassembly-timeout",
    "parameter-problem",
    "unreachable-other",
    "beyond-scope",
    "source-policy-failed",
    "reject-route",
    "packet-too-big",
    // An echo reply whose data is not the probe's (ping's "wrong data byte"): the host is
    // up, but something on the path or in its stack changes what it echoes.
    "bad-data",
];

impl Detail {
    pub const NONE: Detail = Detail(0);
    pub const BAD_DATA: Detail = Detail(25);

    pub fn of(kind: u8, code: u8) -> Detail {
        Detail(match (kind, code) {
            (DEST_UNREACHABLE, 0..=15) => code + 1,
            (TIME_EXCEEDED, 0) => 17,
            (TIME_EXCEEDED, _) => 18,
            (PARAMETER_PROBLEM, _) => 19,
            _ => 20,
        })
    }

    /// ICMPv6 errors, named like their IPv4 counterparts where there is one.
    pub fn of_v6(kind: u8, code: u8) -> Detail {
        Detail(match (kind, code) {
            (ICMP6_DEST_UNREACHABLE, 0) => 1,  // no route → net-unreachable
            (ICMP6_DEST_UNREACHABLE, 1) => 14, // admin-prohibited
            (ICMP6_DEST_UNREACHABLE, 2) => 21,
            (ICMP6_DEST_UNREACHABLE, 3) => 2, // address unreachable → host-unreachable
            (ICMP6_DEST_UNREACHABLE, 4) => 4, // port-unreachable
            (ICMP6_DEST_UNREACHABLE, 5) => 22,
            (ICMP6_DEST_UNREACHABLE, 6) => 23,
            (ICMP6_PACKET_TOO_BIG, _) => 24,
            (ICMP6_TIME_EXCEEDED, 0) => 17,
            (ICMP6_TIME_EXCEEDED, _) => 18,
            (ICMP6_PARAMETER_PROBLEM, _) => 19,
            _ => 20,
        })
    }

    /// A compact code (< 32) for the results table.
    pub fn code(self) -> u8 {
        self.0
    }

    pub fn from_code(code: u8) -> Detail {
        Detail(if usize::from(code) < DETAILS.len() {
            code
        } else {
            20
        })
    }

    pub fn as_str(self) -> &'static str {
        DETAILS[usize::from(self.0)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linux `ping -c1 -s 8` style echo request: id 0x1234, seq 1, payload "abcdefgh".
    const ECHO_REQ: [u8; 16] = [
        0x08, 0x00, 0x54, 0x35, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd', b'e', b'f', b'g',
        b'h',
    ];

    /// The matching echo reply from 198.18.0.5 to 192.0.2.1, TTL 64, inside its IPv4 header.
    const ECHO_REPLY_PKT: [u8; 36] = [
        0x45, 0x00, 0x00, 0x24, 0xab, 0xcd, 0x00, 0x00, 0x40, 0x01, 0x46, 0xf3, 198, 18, 0, 5, 192,
        0, 2, 1, // IPv4 header
        0x00, 0x00, 0x5c, 0x35, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd', b'e', b'f', b'g',
        b'h',
    ];

    #[test]
    fn emits_golden_echo_request() {
        let mut buf = [0u8; 64];
        let n = emit_echo_request(&mut buf, 0x1234, 1, b"abcdefgh");
        assert_eq!(&buf[..n], &ECHO_REQ);
        assert_eq!(checksum(&buf[..n]), 0);
    }

    #[test]
    fn parses_golden_echo_reply() {
        assert_eq!(
            checksum(&ECHO_REPLY_PKT[..20]),
            0,
            "golden IP header checksum"
        );
        let (meta, icmp) = parse_ipv4(&ECHO_REPLY_PKT).unwrap();
        assert_eq!(meta.src, IpAddr::from([198, 18, 0, 5]));
        assert_eq!(meta.ttl, 64);
        assert_eq!(
            parse_icmp(icmp).unwrap(),
            Icmp::EchoReply {
                id: 0x1234,
                seq: 1,
                data: b"abcdefgh"
            }
        );
    }

    #[test]
    fn honours_ip_options_and_drops_padding() {
        // IHL 6: one word of options (NOP NOP NOP EOL), then the same reply, then 4 pad bytes.
        let mut p = Vec::new();
        p.extend_from_slice(&[0x46, 0x00, 0x00, 0x28]);
        p.extend_from_slice(&ECHO_REPLY_PKT[4..20]);
        p.extend_from_slice(&[1, 1, 1, 0]);
        p.extend_from_slice(&ECHO_REPLY_PKT[20..]);
        p.extend_from_slice(&[0xee; 4]);
        let (meta, icmp) = parse_ipv4(&p).unwrap();
        assert_eq!(meta.ttl, 64);
        assert_eq!(icmp.len(), 16);
        assert!(matches!(
            parse_icmp(icmp),
            Ok(Icmp::EchoReply {
                id: 0x1234,
                seq: 1,
                ..
            })
        ));
    }

    fn unreachable_quoting(probe: &[u8], quote_len: usize, quoted_ihl_words: u8) -> Vec<u8> {
        let opts = usize::from(quoted_ihl_words - 5) * 4;
        let total = (20 + opts + probe.len()) as u16;
        let mut inner = vec![0x40 | quoted_ihl_words, 0, 0, 0, 0, 0, 0x40, 0, 64, 1, 0, 0];
        inner[2..4].copy_from_slice(&total.to_be_bytes());
        inner.extend_from_slice(&[192, 0, 2, 1, 203, 0, 113, 9]);
        inner.extend(std::iter::repeat_n(1u8, opts));
        inner.extend_from_slice(&probe[..quote_len]);
        let mut icmp = vec![DEST_UNREACHABLE, 1, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&inner);
        let c = checksum(&icmp);
        icmp[2..4].copy_from_slice(&c.to_be_bytes());
        icmp
    }

    #[test]
    fn parses_unreachable_with_short_and_long_quotes() {
        for (len, ihl) in [(8, 5), (16, 5), (8, 7), (16, 6)] {
            let msg = unreachable_quoting(&ECHO_REQ, len, ihl);
            let Icmp::Error { detail, quote } = parse_icmp(&msg).unwrap() else {
                panic!("not an error");
            };
            assert_eq!(detail.as_str(), "host-unreachable");
            assert_eq!(quote.dst, IpAddr::from([203, 0, 113, 9]));
            assert_eq!((quote.id, quote.seq), (0x1234, 1));
            assert_eq!(quote.data, &ECHO_REQ[8..len]);
        }
    }

    #[test]
    fn rejects_damaged_packets() {
        let mut bad = ECHO_REPLY_PKT;
        bad[30] ^= 0xff;
        let (_, icmp) = parse_ipv4(&bad).unwrap();
        assert_eq!(parse_icmp(icmp), Err(ParseError::BadChecksum));
        assert_eq!(
            parse_ipv4(&ECHO_REPLY_PKT[..30]),
            Err(ParseError::Truncated)
        );
        assert_eq!(
            parse_ipv4(&ECHO_REPLY_PKT[..10]),
            Err(ParseError::Truncated)
        );
        let mut ihl4 = ECHO_REPLY_PKT;
        ihl4[0] = 0x44;
        assert_eq!(parse_ipv4(&ihl4), Err(ParseError::Malformed));
        let mut frag = ECHO_REPLY_PKT;
        frag[6] = 0x20; // more fragments
        assert_eq!(parse_ipv4(&frag), Err(ParseError::NotIcmp));
        assert_eq!(parse_icmp(&ECHO_REQ[..7]), Err(ParseError::Truncated));
        // A quote that claims IHL 15 but is short is truncated, not a panic.
        let mut q = unreachable_quoting(&ECHO_REQ, 8, 5);
        q[8] = 0x4f;
        q[2..4].copy_from_slice(&[0, 0]);
        let c = checksum(&q);
        q[2..4].copy_from_slice(&c.to_be_bytes());
        assert_eq!(parse_icmp(&q), Err(ParseError::Truncated));
    }

    /// An ICMPv6 address-unreachable quoting an echo request to 2001:2::9, behind a
    /// hop-by-hop header when `hbh`, cut to `quote_icmp` bytes of the ICMPv6 probe.
    fn unreachable6(hbh: bool, quote_icmp: usize) -> Vec<u8> {
        let probe: [u8; 16] = [128, 0, 0, 0, 0x12, 0x34, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8];
        let ext = if hbh { 8 } else { 0 };
        let mut ip6 = vec![0x60, 0, 0, 0];
        ip6.extend_from_slice(&((ext + probe.len()) as u16).to_be_bytes());
        ip6.extend_from_slice(&[if hbh { 0 } else { 58 }, 64]);
        ip6.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        ip6.extend_from_slice(&"2001:2::9".parse::<Ipv6Addr>().unwrap().octets());
        if hbh {
            ip6.extend_from_slice(&[58, 0, 1, 4, 0, 0, 0, 0]); // PadN
        }
        ip6.extend_from_slice(&probe[..quote_icmp]);
        let mut msg = vec![ICMP6_DEST_UNREACHABLE, 3, 0, 0, 0, 0, 0, 0];
        msg.extend_from_slice(&ip6);
        msg
    }

    #[test]
    fn parses_icmpv6_echo_and_errors() {
        let reply = [129, 0, 0, 0, 0x12, 0x34, 0, 7, b'x'];
        assert_eq!(
            parse_icmpv6(&reply).unwrap(),
            Icmp::EchoReply {
                id: 0x1234,
                seq: 7,
                data: b"x"
            }
        );
        for (hbh, len) in [(false, 8), (false, 16), (true, 8), (true, 16)] {
            let msg = unreachable6(hbh, len);
            let Icmp::Error { detail, quote } = parse_icmpv6(&msg).unwrap() else {
                panic!("not an error")
            };
            assert_eq!(detail.as_str(), "host-unreachable");
            assert_eq!(quote.dst, "2001:2::9".parse::<IpAddr>().unwrap());
            assert_eq!(
                (quote.id, quote.seq, quote.data.len()),
                (0x1234, 1, len - 8)
            );
        }
        assert_eq!(
            parse_icmpv6(&unreachable6(false, 4)),
            Err(ParseError::Truncated)
        );
        assert_eq!(parse_icmpv6(&[129, 0, 0]), Err(ParseError::Truncated));
        assert_eq!(Detail::of_v6(1, 0).as_str(), "net-unreachable");
        assert_eq!(Detail::of_v6(1, 1).as_str(), "admin-prohibited");
        assert_eq!(Detail::of_v6(1, 4).as_str(), "port-unreachable");
        assert_eq!(Detail::of_v6(3, 0).as_str(), "ttl-exceeded");
    }

    #[test]
    fn details_cover_codes() {
        assert_eq!(Detail::of(3, 0).as_str(), "net-unreachable");
        assert_eq!(Detail::of(3, 3).as_str(), "port-unreachable");
        assert_eq!(Detail::of(3, 13).as_str(), "admin-prohibited");
        assert_eq!(Detail::of(11, 0).as_str(), "ttl-exceeded");
        assert_eq!(
            Detail::from_code(Detail::of(3, 1).code()).as_str(),
            "host-unreachable"
        );
        assert!(Detail::of(3, 99).code() < 32);
    }
}
