//! Byte views over untrusted input and the bytes sweep writes, smoltcp's way: one file per
//! protocol, each with a `Packet<T: AsRef<[u8]>>` view (`new_checked` for untrusted bytes,
//! field ranges named once in its `field` module) and, where both directions are needed, a
//! `Repr` that parses and emits. IPv4 (`ipv4`), IPv6 and its extension headers (`ipv6`),
//! ICMP (`icmp`, whose header view ICMPv6 shares) and ICMPv6 (`icmpv6`), Ethernet, ARP and
//! neighbour discovery (`ether`, `arp`, `ndp`); the IP protocol numbers (`ip`), the CSV
//! `detail` of an error (`detail`) and the checksum. Pure functions over byte slices; no
//! sockets here.

pub mod arp;
pub mod checksum;
pub mod detail;
pub mod ether;
pub mod icmp;
pub mod icmpv6;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod mcast;
pub mod ndp;
pub mod parse;
pub mod reply;

pub use checksum::{checksum, fold, sum16};
pub use detail::Detail;
pub use icmp::{emit_echo_request, DEST_UNREACHABLE, ECHO_REPLY, ECHO_REQUEST, ICMP_HEADER};
pub use icmp::{PARAMETER_PROBLEM, TIME_EXCEEDED};
pub use parse::ParseError;
pub use reply::{parse_icmp, parse_icmpv6, parse_ipv4, Icmp, IpMeta, Quote};
