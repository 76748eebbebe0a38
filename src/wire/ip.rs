//! IP protocol numbers (IANA), shared by the IPv4 protocol field and the IPv6 next-header
//! chain, defined once for every view in `wire/`.

pub const PROTO_HOP_BY_HOP: u8 = 0;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_ROUTING: u8 = 43;
pub const PROTO_FRAGMENT: u8 = 44;
pub const PROTO_ICMPV6: u8 = 58;
pub const PROTO_DST_OPTS: u8 = 60;
