//! Everything that touches the OS networking API. The engine's layer-3 path sends and
//! receives through `Transport`, which the kernel's ICMP sockets (`kernel`) implement, and
//! an in-memory network in the engine's tests. The on-link path sends and receives
//! Ethernet frames through `Link`, which the packet socket (`packet`) and the in-memory
//! LAN implement; it is opened by `layer2` (the route decision in `route` over the
//! tables `netlink` reads).

pub mod privs;

pub mod cstruct;
pub mod errqueue;
pub mod kernel;
pub mod layer2;
#[cfg(test)]
pub mod mem;
pub mod netlink;
pub mod packet;
pub mod route;

use crate::error::Result;
use crate::wire::ether::Mac;
use std::net::IpAddr;

/// One way onto the wire for one address family, shared by sending and receiving threads.
pub trait Transport: Sync {
    /// Sees every ICMP message of its family (a raw socket): the identifier must be
    /// checked. A datagram socket gets only its own replies.
    fn is_raw(&self) -> bool;
    /// Carries ICMPv6 (messages arrive without their IP header).
    fn is_v6(&self) -> bool;
    /// A batch of `max` packet slots of `len` bytes for one sending thread.
    fn outbox<'a>(&'a self, max: usize, len: usize) -> Box<dyn Outbox + 'a>;
    /// Room to receive `max` packets of up to `len` bytes at a time.
    fn inbox<'a>(&'a self, max: usize, len: usize) -> Box<dyn Inbox + 'a>;
}

/// Probes waiting to go out together.
pub trait Outbox {
    /// Slot `k`'s bytes, to write probe `k` of the next batch into.
    fn slot(&mut self, k: usize) -> &mut [u8];
    /// Sends slots `0..dsts.len()`; returns which were accepted. A destination that is
    /// refused (no route, a firewall) is skipped; a broken transport is an error.
    fn send(&mut self, dsts: &[IpAddr]) -> Result<&[bool]>;
}

/// One received packet: a whole IPv4 packet (raw socket) or a bare ICMP message with the
/// facts the datagram socket reported (source, TTL).
pub enum Payload<'a> {
    Ipv4(&'a [u8]),
    /// From an ICMPv6 socket or an ICMP datagram socket: the message alone.
    Icmp {
        src: IpAddr,
        ttl: u8,
        msg: &'a [u8],
    },
}

pub struct Received<'a> {
    pub payload: Payload<'a>,
    /// When the kernel received it, in ns since the Unix epoch (CLOCK_REALTIME).
    pub at_unix_ns: Option<u64>,
}

/// Received packets, by the batch.
pub trait Inbox {
    /// Waits (a few milliseconds at most) for packets; returns how many arrived.
    fn recv(&mut self) -> Result<usize>;
    /// Packet `k` of the last `recv`.
    fn packet(&self, k: usize) -> Received<'_>;
}

/// The transports of one scan: one per address family the targets need, plus send-only
/// ones for extra sending threads (`[IPv4, IPv6]` each).
#[derive(Default)]
pub struct Endpoints<'a> {
    pub v4: Option<&'a dyn Transport>,
    pub v6: Option<&'a dyn Transport>,
    pub extra: Vec<[Option<&'a dyn Transport>; 2]>,
}

impl<'a> Endpoints<'a> {
    /// The receiving transports: IPv4 then IPv6, as present.
    pub fn each(&self) -> impl Iterator<Item = &'a dyn Transport> + '_ {
        self.v4.iter().chain(self.v6.iter()).copied()
    }
}

/// One Ethernet interface, for frames we build ourselves (the on-link path), shared by
/// the sending threads and that interface's layer-2 receiver.
pub trait Link: Sync + Send {
    /// The interface's hardware address: our frames' source.
    fn mac(&self) -> Mac;
    /// The interface's index (what the route decision names).
    fn ifindex(&self) -> u32;
    /// A batch of `max` frame slots of `len` bytes for one sending thread.
    fn frames_out<'a>(&'a self, max: usize, len: usize) -> Box<dyn FramesOut + 'a>;
    /// Room to receive `max` frames of up to `len` bytes at a time. Only ARP replies and
    /// neighbour advertisements arrive here; echo replies to our frames come back through
    /// the IP stack, to the `Transport` of their family.
    fn frames_in<'a>(&'a self, max: usize, len: usize) -> Box<dyn FramesIn + 'a>;
}

/// Frames waiting to go out together.
pub trait FramesOut {
    /// Slot `k`'s bytes, to write frame `k` of the next batch into.
    fn slot(&mut self, k: usize) -> &mut [u8];
    /// Sends slots `0..lens.len()`, frame `k` being `lens[k]` bytes long; returns which
    /// were accepted (a frame the interface refuses is skipped; a broken socket is an
    /// error).
    fn send(&mut self, lens: &[usize]) -> Result<&[bool]>;
}

/// Received frames, by the batch.
pub trait FramesIn {
    /// Waits (a few milliseconds at most) for frames; returns how many arrived.
    fn recv(&mut self) -> Result<usize>;
    /// Frame `k` of the last `recv` (cut to the slot length).
    fn frame(&self, k: usize) -> &[u8];
}
