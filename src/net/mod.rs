//! Everything that touches the OS networking API beyond the kernel ICMP sockets of
//! `transport`: the route decision over rtnetlink and the layer-2 (AF_PACKET) socket.

pub mod errqueue;
pub mod packet;
pub mod route;
