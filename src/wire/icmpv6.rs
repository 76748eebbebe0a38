//! ICMPv6 (RFC 4443, RFC 4861): its message types. The header view is the one in `icmp`
//! (echo and errors share its layout), neighbour discovery's is in `ndp`, and what comes
//! back is parsed in `reply`.

pub const DEST_UNREACHABLE: u8 = 1;
pub const PACKET_TOO_BIG: u8 = 2;
pub const TIME_EXCEEDED: u8 = 3;
pub const PARAMETER_PROBLEM: u8 = 4;
pub const ECHO_REQUEST: u8 = 128;
pub const ECHO_REPLY: u8 = 129;
pub const NEIGHBOR_SOLICIT: u8 = 135;
pub const NEIGHBOR_ADVERT: u8 = 136;
