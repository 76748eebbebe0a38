//! IPv6 all-nodes discovery (RFC 4291's ff02::1): the two probes that make every IPv6
//! stack on a segment answer, and a checked parse of what answers them.
//!
//! - An echo request to ff02::1: most stacks answer (Windows and hosts with
//!   `net.ipv6.icmp.echo_ignore_multicast=1` do not).
//! - The same echo request behind a destination options header holding an option of an
//!   unknown type whose two high bits are `10` (RFC 8200 4.2): every stack discards the
//!   packet and answers with a Parameter Problem, code 2, even to a multicast
//!   destination, whatever its echo settings.
//!
//! Both answers come from the host's address in the source's scope (a global source
//! gets a global answer), so the sender learns each host's address on the prefix.

use super::ether::{self, Mac, ETHERTYPE_IPV6};
use super::icmp;
use super::icmpv6::{ECHO_REPLY, ECHO_REQUEST, PARAMETER_PROBLEM};
use super::ip::{PROTO_DST_OPTS, PROTO_ICMPV6};
use super::ipv6::{self, icmpv6_checksum};
use super::parse::ParseError;
use std::net::Ipv6Addr;

/// All nodes on the link.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// The echo request both probes carry: type, code, checksum, identifier, sequence.
const ECHO_LEN: usize = icmp::ICMP_HEADER;
/// A destination options header with one 4-byte option: 8 bytes.
pub const DST_OPTS_LEN: usize = 8;
/// Option type 0x9e: high bits `10` (discard, Parameter Problem even to multicast), not
/// change en route, an unassigned number.
pub const UNKNOWN_OPTION: u8 = 0x9e;
/// Parameter Problem code 2: unrecognised IPv6 option.
pub const UNRECOGNISED_OPTION: u8 = 2;
pub const ECHO_FRAME: usize = ether::HEADER + ipv6::HEADER_LEN + ECHO_LEN;
pub const OPTION_FRAME: usize = ECHO_FRAME + DST_OPTS_LEN;

mod field {
    use crate::wire::parse::Field;
    pub const NXT_HDR: usize = 0;
    pub const LENGTH: usize = 1;
    pub const OPT_TYPE: usize = 2;
    pub const OPT_LEN: usize = 3;
    pub const OPT_DATA: Field = 4..8;
}

/// A byte view of a destination options header (RFC 8200 4.6).
#[derive(Debug, Clone, Copy)]
pub struct DstOpts<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> DstOpts<T> {
    pub fn new_unchecked(buffer: T) -> DstOpts<T> {
        DstOpts { buffer }
    }

    /// At least as long as the header says it is.
    pub fn new_checked(buffer: T) -> Result<DstOpts<T>, ParseError> {
        let h = DstOpts { buffer };
        let b = h.buffer.as_ref();
        match b.get(field::LENGTH) {
            Some(&n) if b.len() >= (usize::from(n) + 1) * 8 => Ok(h),
            _ => Err(ParseError::Truncated),
        }
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    /// The header's length in bytes.
    pub fn header_len(&self) -> usize {
        (usize::from(self.buffer.as_ref()[field::LENGTH]) + 1) * 8
    }

    /// The first option's type.
    pub fn option_type(&self) -> u8 {
        self.buffer.as_ref()[field::OPT_TYPE]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> DstOpts<T> {
    /// One option of `opt_type` with four zero bytes of data, then `next`.
    pub fn emit_one(&mut self, next: u8, opt_type: u8) {
        let b = self.buffer.as_mut();
        b[field::NXT_HDR] = next;
        b[field::LENGTH] = 0;
        b[field::OPT_TYPE] = opt_type;
        b[field::OPT_LEN] = 4;
        b[field::OPT_DATA].fill(0);
    }
}

/// Writes an echo request (`ident`, `seq`, no data) from `src` into `msg`, with the
/// ICMPv6 checksum for the destination ff02::1.
fn emit_echo(msg: &mut [u8], src: Ipv6Addr, ident: u16, seq: u16) {
    let mut e = icmp::Packet::new_unchecked(&mut msg[..ECHO_LEN]);
    e.set_msg_type(ECHO_REQUEST);
    e.set_msg_code(0);
    e.set_checksum(0);
    e.set_echo_ident(ident);
    e.set_echo_seq_no(seq);
    let c = icmpv6_checksum(src, ALL_NODES, &msg[..ECHO_LEN]);
    icmp::Packet::new_unchecked(&mut msg[..ECHO_LEN]).set_checksum(c);
}

/// The echo request to ff02::1 from `src`, in a frame from `us`; returns its length.
pub fn emit_all_nodes_echo(buf: &mut [u8], us: Mac, src: Ipv6Addr, ident: u16, seq: u16) -> usize {
    let buf = &mut buf[..ECHO_FRAME];
    let group = super::ndp::multicast_mac(ALL_NODES);
    ether::emit_header(buf, group, us, ETHERTYPE_IPV6);
    let (ip6, msg) = buf[ether::HEADER..].split_at_mut(ipv6::HEADER_LEN);
    ipv6::Repr::icmpv6(src, ALL_NODES, 255, ECHO_LEN).emit(ip6);
    emit_echo(msg, src, ident, seq);
    ECHO_FRAME
}

/// The same echo request behind a destination option no stack knows (the
/// unrecognised-option probe); returns its length.
pub fn emit_option_probe(buf: &mut [u8], us: Mac, src: Ipv6Addr, ident: u16, seq: u16) -> usize {
    let buf = &mut buf[..OPTION_FRAME];
    let group = super::ndp::multicast_mac(ALL_NODES);
    ether::emit_header(buf, group, us, ETHERTYPE_IPV6);
    let (ip6, rest) = buf[ether::HEADER..].split_at_mut(ipv6::HEADER_LEN);
    ipv6::Repr {
        src,
        dst: ALL_NODES,
        next_header: PROTO_DST_OPTS,
        hop_limit: 255,
        payload_len: DST_OPTS_LEN + ECHO_LEN,
    }
    .emit(ip6);
    let (opts, msg) = rest.split_at_mut(DST_OPTS_LEN);
    DstOpts::new_unchecked(opts).emit_one(PROTO_ICMPV6, UNKNOWN_OPTION);
    emit_echo(msg, src, ident, seq);
    OPTION_FRAME
}

/// Which probe an answer answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An echo reply to the echo to ff02::1.
    Echo,
    /// A Parameter Problem (unrecognised option) quoting the option probe.
    Option,
}

/// A host that answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// The address it answered from.
    pub from: Ipv6Addr,
    /// The frame's source.
    pub mac: Mac,
    /// Which of our addresses it answered.
    pub to: Ipv6Addr,
    pub kind: Kind,
}

/// An answer to our probes (identifier `ident`) in a frame to `us`: an echo reply, or a
/// Parameter Problem quoting our option probe to ff02::1; checksum checked. `None` for
/// anything else.
pub fn parse_answer(frame: &[u8], us: Mac, ident: u16) -> Option<Answer> {
    let f = ether::Frame::parse(frame)?;
    if f.dst != us || f.ethertype != ETHERTYPE_IPV6 || !f.src.is_unicast() {
        return None;
    }
    let ip = ipv6::Packet::new_checked(f.payload).ok()?;
    if ip.next_header() != PROTO_ICMPV6 {
        return None;
    }
    let (from, to) = (ip.src_addr(), ip.dst_addr());
    let msg = ip.payload();
    let m = icmp::Packet::new_checked(msg).ok()?;
    if icmpv6_checksum(from, to, msg) != m.checksum() {
        return None;
    }
    let kind = match (m.msg_type(), m.msg_code()) {
        (ECHO_REPLY, 0) if m.echo_ident() == ident => Kind::Echo,
        (PARAMETER_PROBLEM, UNRECOGNISED_OPTION) => {
            // The quote: our probe, from the address answered, to ff02::1, with the option.
            let q = ipv6::Packet::new_checked(m.data()).ok()?;
            let opts = DstOpts::new_checked(q.payload()).ok()?;
            let echo = q.payload().get(opts.header_len()..)?;
            let quoted = icmp::Packet::new_checked(echo).ok()?;
            let ours = q.src_addr() == to
                && q.dst_addr() == ALL_NODES
                && q.next_header() == PROTO_DST_OPTS
                && opts.option_type() == UNKNOWN_OPTION
                && quoted.echo_ident() == ident;
            if !ours {
                return None;
            }
            Kind::Option
        }
        _ => return None,
    };
    Some(Answer {
        from,
        mac: f.src,
        to,
        kind,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const US: Mac = Mac([0x02, 0x53, 0x57, 0x00, 0x00, 0x01]);
    const HOST: Mac = Mac([0xb8, 0x27, 0xeb, 0x01, 0x02, 0x03]);

    fn src() -> Ipv6Addr {
        "2001:2:0:1::1".parse().unwrap()
    }

    #[test]
    fn all_nodes_echo_golden_bytes() {
        let mut buf = [0u8; ECHO_FRAME];
        assert_eq!(emit_all_nodes_echo(&mut buf, US, src(), 0x5357, 1), 62);
        #[rustfmt::skip]
        let want: [u8; 62] = [
            0x33, 0x33, 0, 0, 0, 1, 0x02, 0x53, 0x57, 0, 0, 1, 0x86, 0xdd,
            0x60, 0, 0, 0, 0, 8, 58, 255,
            0x20, 0x01, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1,
            0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
            128, 0, 0x0d, 0x5c, 0x53, 0x57, 0, 1,
        ];
        // The checksums were computed apart (Python, RFC 8200's pseudo-header).
        assert_eq!(buf, want);
    }

    #[test]
    fn option_probe_golden_bytes() {
        let mut buf = [0u8; OPTION_FRAME];
        assert_eq!(emit_option_probe(&mut buf, US, src(), 0x5357, 2), 70);
        #[rustfmt::skip]
        let want: [u8; 70] = [
            0x33, 0x33, 0, 0, 0, 1, 0x02, 0x53, 0x57, 0, 0, 1, 0x86, 0xdd,
            0x60, 0, 0, 0, 0, 16, 60, 255,
            0x20, 0x01, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1,
            0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
            58, 0, 0x9e, 4, 0, 0, 0, 0,
            128, 0, 0x0d, 0x5b, 0x53, 0x57, 0, 2,
        ];
        assert_eq!(buf, want);
    }

    /// What a host at `host` (MAC `mac`) sends back to `to` at `us`: an ICMPv6 message
    /// `msg` (checksum filled).
    fn answer(host: Ipv6Addr, mac: Mac, us: Mac, to: Ipv6Addr, msg: &mut [u8]) -> Vec<u8> {
        let c = icmpv6_checksum(host, to, msg);
        msg[2..4].copy_from_slice(&c.to_be_bytes());
        let mut f = vec![0u8; ether::HEADER + ipv6::HEADER_LEN];
        ether::emit_header(&mut f, us, mac, ETHERTYPE_IPV6);
        ipv6::Repr::icmpv6(host, to, 64, msg.len()).emit(&mut f[ether::HEADER..]);
        f.extend_from_slice(msg);
        f
    }

    /// An echo reply carrying `ident_seq` (the request's identifier and sequence).
    pub fn echo_reply(
        host: Ipv6Addr,
        mac: Mac,
        us: Mac,
        to: Ipv6Addr,
        ident_seq: &[u8],
    ) -> Vec<u8> {
        let mut m = vec![ECHO_REPLY, 0, 0, 0];
        m.extend_from_slice(ident_seq);
        answer(host, mac, us, to, &mut m)
    }

    /// Parameter Problem (code 2, pointer 42: the option type) quoting the IPv6 packet
    /// `probe`, as Linux sends it.
    pub fn param_problem(host: Ipv6Addr, mac: Mac, us: Mac, probe: &[u8]) -> Vec<u8> {
        let mut m = vec![PARAMETER_PROBLEM, UNRECOGNISED_OPTION, 0, 0, 0, 0, 0, 42];
        m.extend_from_slice(probe);
        let to = ipv6::Packet::new_unchecked(probe).src_addr();
        answer(host, mac, us, to, &mut m)
    }

    #[test]
    fn answers_to_both_probes_parse_and_others_do_not() {
        let host: Ipv6Addr = "2001:2:0:1:8f3a:11c2:9d04:5e61".parse().unwrap();
        let reply = echo_reply(host, HOST, US, src(), &[0x53, 0x57, 0, 1]);
        let want = Answer {
            from: host,
            mac: HOST,
            to: src(),
            kind: Kind::Echo,
        };
        assert_eq!(parse_answer(&reply, US, 0x5357), Some(want));
        // Another scanner's identifier, or sent to another MAC.
        assert_eq!(parse_answer(&reply, US, 0x5358), None);
        assert_eq!(parse_answer(&reply, HOST, 0x5357), None);
        let mut probe = [0u8; OPTION_FRAME];
        emit_option_probe(&mut probe, US, src(), 0x5357, 2);
        let pp = param_problem(host, HOST, US, &probe[ether::HEADER..]);
        let got = parse_answer(&pp, US, 0x5357);
        assert_eq!(got.map(|a| (a.from, a.kind)), Some((host, Kind::Option)));
        // A damaged checksum; a quote of something we did not send.
        let mut bad = pp.clone();
        bad[60] ^= 1;
        assert_eq!(parse_answer(&bad, US, 0x5357), None);
        let mut other = probe;
        other[ether::HEADER + ipv6::HEADER_LEN + 2] = 0x9f;
        let stray = param_problem(host, HOST, US, &other[ether::HEADER..]);
        assert_eq!(parse_answer(&stray, US, 0x5357), None);
        for n in 0..pp.len() {
            let _ = parse_answer(&pp[..n], US, 0x5357);
        }
    }
}
