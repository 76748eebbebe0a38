//! Byte views over untrusted input and the bytes sweep writes, one file per protocol:
//! ICMP and ICMPv6 (`icmp`), Ethernet, ARP, neighbour discovery and the IP headers the
//! layer-2 path writes (`ether`, `arp`, `ndp`, `ip`), and their checksum. Pure functions
//! over byte slices; no sockets here.

pub mod arp;
pub mod checksum;
pub mod ether;
pub mod icmp;
pub mod ip;
pub mod ndp;

pub use checksum::{checksum, fold, sum16};
pub use icmp::*;
