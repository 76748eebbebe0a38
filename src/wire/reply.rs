//! What an ICMP or ICMPv6 socket hands back, parsed: echo replies, and errors quoting an
//! echo request — the outer IPv4 header and the quoted one both IHL-aware, a quoted IPv6
//! datagram behind any extension headers. Untrusted bytes in, facts out.

use super::detail::Detail;
use super::icmp::{
    Packet, DEST_UNREACHABLE, ECHO_REPLY, ECHO_REQUEST, ICMP_HEADER, PARAMETER_PROBLEM,
    TIME_EXCEEDED,
};
use super::icmpv6;
use super::ip::{PROTO_ICMP, PROTO_ICMPV6};
use super::parse::ParseError;
use super::{ipv4, ipv6};
use std::net::IpAddr;

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

/// A parsed ICMP or ICMPv6 message, as far as sweep cares.
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

impl<'a> Icmp<'a> {
    fn echo_reply(p: Packet<&'a [u8]>) -> Icmp<'a> {
        Icmp::EchoReply {
            id: p.echo_ident(),
            seq: p.echo_seq_no(),
            data: p.into_data(),
        }
    }

    fn echo_request(p: Packet<&'a [u8]>) -> Icmp<'a> {
        Icmp::EchoRequest {
            id: p.echo_ident(),
            seq: p.echo_seq_no(),
            data: p.into_data(),
        }
    }
}

/// Splits a raw-socket packet into its IPv4 facts and ICMP bytes, honouring IHL and total
/// length (trailing link padding is dropped).
pub fn parse_ipv4(buf: &[u8]) -> Result<(IpMeta, &[u8]), ParseError> {
    let ip = ipv4::Packet::new_checked(buf)?;
    if ip.protocol() != PROTO_ICMP || ip.is_fragment() {
        return Err(ParseError::NotIcmp);
    }
    let meta = IpMeta {
        src: ip.src_addr().into(),
        ttl: ip.ttl(),
    };
    Ok((meta, ip.into_payload()))
}

/// Parses an ICMP message (from `parse_ipv4`, or straight from a datagram socket).
pub fn parse_icmp(msg: &[u8]) -> Result<Icmp<'_>, ParseError> {
    let p = Packet::new_checked(msg)?;
    if !p.verify_checksum() {
        return Err(ParseError::BadChecksum);
    }
    Ok(match p.msg_type() {
        ECHO_REPLY => Icmp::echo_reply(p),
        ECHO_REQUEST => Icmp::echo_request(p),
        kind @ (DEST_UNREACHABLE | TIME_EXCEEDED | PARAMETER_PROBLEM) => {
            match parse_quote(p.into_data())? {
                Some(quote) => Icmp::Error {
                    detail: Detail::of(kind, p.msg_code()),
                    quote,
                },
                None => Icmp::Other { kind },
            }
        }
        kind => Icmp::Other { kind },
    })
}

/// The quoted original datagram: its IP header (IHL-aware) and at least 8 bytes of ICMP.
/// `None` when the quoted packet was not an ICMP echo request.
fn parse_quote(q: &[u8]) -> Result<Option<Quote<'_>>, ParseError> {
    let ip = ipv4::Packet::new_unchecked(q);
    ip.check_header()?;
    let ihl = ip.header_len();
    let icmp = q
        .get(ihl..)
        .filter(|i| i.len() >= ICMP_HEADER)
        .ok_or(ParseError::Truncated)?;
    if ip.protocol() != PROTO_ICMP {
        return Ok(None);
    }
    let orig_len = usize::from(ip.total_len()).saturating_sub(ihl);
    Ok(quoted_echo(
        ECHO_REQUEST,
        ip.dst_addr().into(),
        icmp,
        orig_len,
    ))
}

/// The echo request `icmp` (at least a header) quotes, of `request` type, sent to `dst`.
/// A router may quote fewer bytes than the original datagram held (`orig_len` of ICMP);
/// never read past either the quote or the original's own length.
fn quoted_echo(request: u8, dst: IpAddr, icmp: &[u8], orig_len: usize) -> Option<Quote<'_>> {
    let end = icmp.len().min(orig_len.max(ICMP_HEADER));
    let p = Packet::new_checked(&icmp[..end]).ok()?;
    (p.msg_type() == request).then(|| Quote {
        dst,
        id: p.echo_ident(),
        seq: p.echo_seq_no(),
        data: p.into_data(),
    })
}

/// Parses an ICMPv6 message from a raw or datagram ICMPv6 socket. The kernel has already
/// verified its checksum (it covers a pseudo-header only the kernel sees in full).
pub fn parse_icmpv6(msg: &[u8]) -> Result<Icmp<'_>, ParseError> {
    let p = Packet::new_checked(msg)?;
    Ok(match p.msg_type() {
        icmpv6::ECHO_REPLY => Icmp::echo_reply(p),
        icmpv6::ECHO_REQUEST => Icmp::echo_request(p),
        kind @ (icmpv6::DEST_UNREACHABLE
        | icmpv6::PACKET_TOO_BIG
        | icmpv6::TIME_EXCEEDED
        | icmpv6::PARAMETER_PROBLEM) => match parse_quote_v6(p.into_data())? {
            Some(quote) => Icmp::Error {
                detail: Detail::of_v6(kind, p.msg_code()),
                quote,
            },
            None => Icmp::Other { kind },
        },
        kind => Icmp::Other { kind },
    })
}

/// The quoted IPv6 datagram: fixed header, any extension headers, then 8+ bytes of ICMPv6.
fn parse_quote_v6(q: &[u8]) -> Result<Option<Quote<'_>>, ParseError> {
    let ip = ipv6::Packet::new_unchecked(q);
    ip.check_header()?;
    let Some((PROTO_ICMPV6, at)) = ip.upper_layer()? else {
        return Ok(None);
    };
    let icmp = q
        .get(at..)
        .filter(|i| i.len() >= ICMP_HEADER)
        .ok_or(ParseError::Truncated)?;
    let orig_len = (ipv6::HEADER_LEN + usize::from(ip.payload_len())).saturating_sub(at);
    Ok(quoted_echo(
        icmpv6::ECHO_REQUEST,
        ip.dst_addr().into(),
        icmp,
        orig_len,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum;
    use std::net::Ipv6Addr;

    /// The echo request `icmp`'s golden test pins: id 0x1234, seq 1, payload "abcdefgh".
    fn echo_req() -> [u8; 16] {
        let mut b = [0u8; 16];
        crate::wire::emit_echo_request(&mut b, 0x1234, 1, b"abcdefgh");
        b
    }

    /// The matching echo reply from 198.18.0.5 to 192.0.2.1, TTL 64, inside its IPv4 header.
    const ECHO_REPLY_PKT: [u8; 36] = [
        0x45, 0x00, 0x00, 0x24, 0xab, 0xcd, 0x00, 0x00, 0x40, 0x01, 0x46, 0xf3, 198, 18, 0, 5, 192,
        0, 2, 1, // IPv4 header
        0x00, 0x00, 0x5c, 0x35, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd', b'e', b'f', b'g',
        b'h',
    ];

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
            let msg = unreachable_quoting(&echo_req(), len, ihl);
            let Icmp::Error { detail, quote } = parse_icmp(&msg).unwrap() else {
                panic!("not an error");
            };
            assert_eq!(detail.as_str(), "host-unreachable");
            assert_eq!(quote.dst, IpAddr::from([203, 0, 113, 9]));
            assert_eq!((quote.id, quote.seq), (0x1234, 1));
            assert_eq!(quote.data, &echo_req()[8..len]);
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
        assert_eq!(parse_icmp(&echo_req()[..7]), Err(ParseError::Truncated));
        // A quote that claims IHL 15 but is short is truncated, not a panic.
        let mut q = unreachable_quoting(&echo_req(), 8, 5);
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
        let mut msg = vec![icmpv6::DEST_UNREACHABLE, 3, 0, 0, 0, 0, 0, 0];
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
}
