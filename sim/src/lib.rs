//! sweep-sim: a simulated network of ICMP echo hosts behind a TUN device,
//! or an Ethernet segment of them behind a TAP device.
//! See README.md for the profile format.

pub mod attack;
pub mod engine;
pub mod ether;
pub mod lan;
pub mod link;
pub mod mac;
pub mod ndp;
pub mod netconf;
pub mod packet;
pub mod packet6;
pub mod parse;
pub mod profile;
pub mod rng;
pub mod run;
pub mod sched;
pub mod truth;
pub mod tun;
