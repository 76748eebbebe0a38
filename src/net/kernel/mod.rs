//! The only code that touches sockets. A raw ICMP socket from pnet's transport channel
//! (root or CAP_NET_RAW), else the kernel's unprivileged ICMP datagram socket. Packets go
//! out and come in by the batch (sendmmsg/recvmmsg on that same socket): one syscall per
//! batch instead of one per packet. pnet's own `send_to` stays available (`SendPath::Pnet`)
//! so the two can be compared in benchmarks. Opening, options and the privilege fallback
//! are here; the sending half in `send.rs`, the receiving half (control messages, the
//! error queue) in `recv.rs`.

use crate::error::{Error, Result};
use crate::net::{Endpoints, Inbox, Outbox, Transport};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_transport::{
    transport_channel, TransportChannelType::Layer4, TransportProtocol::Ipv4,
    TransportProtocol::Ipv6, TransportReceiver, TransportSender,
};
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Mutex;
use std::time::Duration;

mod recv;
mod send;
mod sys;

pub use recv::{Payload, Received, Receiver};
pub use send::Sender;
use sys::{setsockopt, sockaddr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketChoice {
    Auto,
    Raw,
    Datagram,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendPath {
    /// sendmmsg: one syscall per batch.
    Batch,
    /// pnet's `send_to`: one syscall per packet.
    Pnet,
}

/// How long a receive call blocks before the receiver checks whether the scan is over.
const RECV_TIMEOUT: Duration = Duration::from_millis(20);
/// A large receive buffer absorbs reply bursts at line rate while the receiver catches up.
const RCVBUF: libc::c_int = 64 << 20;

/// An open ICMP socket, shared by the sender and receiver threads.
pub struct Socket {
    fd: RawFd,
    raw: bool,
    v6: bool,
    /// How batches leave: sendmmsg, or pnet's `send_to` per packet (benchmarks).
    path: SendPath,
    pnet_tx: Option<Mutex<TransportSender>>,
    _pnet_rx: Option<TransportReceiver>,
    _dgram: Option<socket2::Socket>,
}

impl Socket {
    /// Raw sockets see every ICMP packet, so the identifier must be checked; datagram
    /// sockets get only their own replies, with an identifier the kernel chose.
    pub fn is_raw(&self) -> bool {
        self.raw
    }

    /// An ICMPv6 socket: packets arrive without their IPv6 header.
    pub fn is_v6(&self) -> bool {
        self.v6
    }

    /// Opens an ICMP (`v6` false) or ICMPv6 socket.
    pub fn open(choice: SocketChoice, ttl: Option<u8>, v6: bool) -> Result<Socket> {
        let sock = match choice {
            SocketChoice::Raw => {
                open_raw(v6).map_err(|e| classify(e, "opening a raw ICMP socket"))?
            }
            SocketChoice::Datagram => {
                open_dgram(v6).map_err(|e| classify(e, "opening an ICMP datagram socket"))?
            }
            SocketChoice::Auto => match open_raw(v6) {
                Ok(s) => s,
                Err(e) if is_permission(&e) => open_dgram(v6)
                    .map_err(|e| classify(e, "opening an ICMP socket (raw or datagram)"))?,
                Err(e) => return Err(Error::Socket(e)),
            },
        };
        sock.configure(ttl).map_err(Error::Socket)?;
        Ok(sock)
    }

    /// A raw socket that only sends: its filter refuses every ICMP type, so the kernel does
    /// not copy replies into it for nobody to read.
    fn open_sender(ttl: Option<u8>, v6: bool) -> Result<Socket> {
        let sock = open_raw(v6).map_err(|e| classify(e, "opening a raw ICMP socket"))?;
        let fd = sock.fd;
        let configure = || -> io::Result<()> {
            const ICMP_FILTER: libc::c_int = 1;
            match v6 {
                false => setsockopt(fd, libc::SOL_RAW, ICMP_FILTER, u32::MAX)?,
                true => setsockopt(fd, libc::IPPROTO_ICMPV6, ICMP_FILTER, [u32::MAX; 8])?,
            }
            if let Some(ttl) = ttl {
                let (level, name) = match v6 {
                    false => (libc::IPPROTO_IP, libc::IP_TTL),
                    true => (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS),
                };
                setsockopt(fd, level, name, libc::c_int::from(ttl))?;
            }
            Ok(())
        };
        configure().map_err(Error::Socket)?;
        Ok(sock)
    }

    fn configure(&self, ttl: Option<u8>) -> io::Result<()> {
        let fd = self.fd;
        // SO_RCVBUFFORCE passes rmem_max when privileged; otherwise take what SO_RCVBUF gives.
        if setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, RCVBUF).is_err() {
            setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, RCVBUF)?;
        }
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: RECV_TIMEOUT.as_micros() as libc::suseconds_t,
        };
        setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, tv)?;
        if let Some(ttl) = ttl {
            let (level, name) = match self.v6 {
                false => (libc::IPPROTO_IP, libc::IP_TTL),
                true => (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS),
            };
            setsockopt(fd, level, name, libc::c_int::from(ttl))?;
        }
        // Kernel receive timestamps: RTTs stay exact even when the receiver reads late
        // (it naps between batches to save wakeups at high rates).
        setsockopt(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1 as libc::c_int)?;
        // Only replies and errors reach a raw socket: on loopback this halves the receive
        // load by keeping our own echo requests out.
        const ICMP_FILTER: libc::c_int = 1;
        match (self.v6, self.raw) {
            (false, true) => {
                let pass = (1u32 << 0) | (1 << 3) | (1 << 11) | (1 << 12);
                setsockopt(fd, libc::SOL_RAW, ICMP_FILTER, !pass)?;
            }
            (false, false) => setsockopt(fd, libc::IPPROTO_IP, libc::IP_RECVTTL, 1 as libc::c_int)?,
            (true, raw) => {
                setsockopt(
                    fd,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_RECVHOPLIMIT,
                    1 as libc::c_int,
                )?;
                if raw {
                    // struct icmp6_filter: a set bit blocks that type.
                    let mut block = [u32::MAX; 8];
                    for t in [1u8, 2, 3, 4, 129] {
                        block[usize::from(t >> 5)] &= !(1 << (t & 31));
                    }
                    setsockopt(fd, libc::IPPROTO_ICMPV6, ICMP_FILTER, block)?;
                }
            }
        }
        if !self.raw {
            // ICMP errors reach a datagram socket only through its error queue
            // (net::errqueue): without this, no `unreachable` rows unprivileged.
            let (level, name) = match self.v6 {
                false => (libc::IPPROTO_IP, libc::IP_RECVERR),
                true => (libc::IPPROTO_IPV6, libc::IPV6_RECVERR),
            };
            setsockopt(fd, level, name, 1 as libc::c_int)?;
        }
        Ok(())
    }
}

/// One socket per address family the targets need, plus send-only raw sockets for extra
/// sending threads.
pub struct Sockets {
    pub v4: Option<Socket>,
    pub v6: Option<Socket>,
    /// `[IPv4, IPv6]` sockets for sending threads 1, 2, …
    pub extra: Vec<[Option<Socket>; 2]>,
}

impl Sockets {
    /// Opens what `v4`/`v6` targets need for `senders` sending threads. Extra threads get
    /// their own raw sockets (threads sharing one socket contend in the kernel); with
    /// datagram sockets there is one sender, since only the socket that sent a probe gets
    /// its reply.
    pub fn open(
        choice: SocketChoice,
        ttl: Option<u8>,
        v4: bool,
        v6: bool,
        senders: usize,
        probe_len: usize,
    ) -> Result<Sockets> {
        let mut socks = Sockets {
            v4: v4.then(|| Socket::open(choice, ttl, false)).transpose()?,
            v6: v6.then(|| Socket::open(choice, ttl, true)).transpose()?,
            extra: Vec::new(),
        };
        if socks.each().all(Socket::is_raw) {
            for _ in 1..senders {
                let v4 = v4.then(|| Socket::open_sender(ttl, false)).transpose()?;
                let v6 = v6.then(|| Socket::open_sender(ttl, true)).transpose()?;
                socks.extra.push([v4, v6]);
            }
        }
        // Every IPv4 path carries 576-byte datagrams unfragmented.
        if probe_len + 20 <= 576 {
            let all = socks.each().chain(socks.extra.iter().flatten().flatten());
            for sock in all.filter(|s| !s.v6) {
                no_ip_id(sock.fd).map_err(Error::Socket)?;
            }
        }
        Ok(socks)
    }

    /// Packets the kernel dropped because a receiving socket's queue was full (the
    /// counter SO_RXQ_OVFL reports, read once through SO_MEMINFO): replies lost before
    /// sweep could see them.
    pub fn kernel_drops(&self) -> u64 {
        self.each().filter_map(|s| meminfo_drops(s.fd)).sum()
    }

    /// `-I` / `-S`: every socket sends only through `iface` (SO_BINDTODEVICE) and from
    /// `src` (for sockets of its family). Needs CAP_NET_RAW, so before privileges drop.
    pub fn bind(&self, iface: Option<&str>, src: Option<IpAddr>) -> Result<()> {
        let all = self.each().chain(self.extra.iter().flatten().flatten());
        for sock in all {
            if let Some(name) = iface {
                let c = std::ffi::CString::new(name).map_err(|_| {
                    Error::Socket(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "NUL in --iface",
                    ))
                })?;
                let bytes = c.as_bytes_with_nul();
                // SAFETY: the name buffer lives for the call and its length is passed.
                let r = unsafe {
                    libc::setsockopt(
                        sock.fd,
                        libc::SOL_SOCKET,
                        libc::SO_BINDTODEVICE,
                        bytes.as_ptr() as *const libc::c_void,
                        bytes.len() as libc::socklen_t,
                    )
                };
                if r != 0 {
                    return Err(Error::Socket(io::Error::last_os_error()));
                }
            }
            if let Some(src) = src.filter(|s| s.is_ipv6() == sock.v6) {
                let (addr, len) = sockaddr(src);
                // SAFETY: `addr` is a valid socket address of `len` bytes.
                let r =
                    unsafe { libc::bind(sock.fd, &addr as *const _ as *const libc::sockaddr, len) };
                if r != 0 {
                    return Err(Error::Socket(io::Error::last_os_error()));
                }
            }
        }
        Ok(())
    }

    /// Every socket sends by `path` (benchmarks compare the two).
    pub fn set_path(&mut self, path: SendPath) {
        let all = self.v4.iter_mut().chain(self.v6.iter_mut());
        for sock in all.chain(self.extra.iter_mut().flatten().flatten()) {
            sock.path = path;
        }
    }

    /// The sockets as the engine sees them.
    pub fn endpoints(&self) -> Endpoints<'_> {
        fn dynamic(s: &Option<Socket>) -> Option<&dyn Transport> {
            s.as_ref().map(|s| s as &dyn Transport)
        }
        Endpoints {
            v4: dynamic(&self.v4),
            v6: dynamic(&self.v6),
            extra: self
                .extra
                .iter()
                .map(|[a, b]| [dynamic(a), dynamic(b)])
                .collect(),
        }
    }

    /// The receiving sockets: IPv4 then IPv6, as present.
    pub fn each(&self) -> impl Iterator<Item = &Socket> {
        self.v4.iter().chain(self.v6.iter())
    }
}

fn open_raw(v6: bool) -> io::Result<Socket> {
    let proto = match v6 {
        false => Layer4(Ipv4(IpNextHeaderProtocols::Icmp)),
        true => Layer4(Ipv6(IpNextHeaderProtocols::Icmpv6)),
    };
    let (tx, rx) = transport_channel(4096, proto)?;
    Ok(Socket {
        fd: tx.socket.fd,
        raw: true,
        v6,
        path: SendPath::Batch,
        pnet_tx: Some(Mutex::new(tx)),
        _pnet_rx: Some(rx),
        _dgram: None,
    })
}

fn open_dgram(v6: bool) -> io::Result<Socket> {
    use socket2::{Domain, Protocol, Type};
    let s = match v6 {
        false => socket2::Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4))?,
        true => socket2::Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::ICMPV6))?,
    };
    Ok(Socket {
        fd: s.as_raw_fd(),
        raw: false,
        v6,
        path: SendPath::Batch,
        pnet_tx: None,
        _pnet_rx: None,
        _dgram: Some(s),
    })
}

/// Small IPv4 probes go out with Don't Fragment set, so they need no IP ID; asking the
/// kernel to skip path-MTU bookkeeping (IP_PMTUDISC_PROBE) also skips choosing one, a few
/// percent of the send path (bench/RESULTS.md). Only for probes no path must fragment.
fn no_ip_id(fd: RawFd) -> io::Result<()> {
    setsockopt(
        fd,
        libc::IPPROTO_IP,
        libc::IP_MTU_DISCOVER,
        libc::IP_PMTUDISC_PROBE,
    )
}

fn is_permission(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES))
}

fn classify(e: io::Error, what: &'static str) -> Error {
    if !is_permission(&e) {
        return Error::Socket(e);
    }
    permission_error(what)
}

/// What to run to be allowed `what`.
pub fn permission_error(what: &'static str) -> Error {
    Error::Permission {
        what,
        hint: capability_hint(),
    }
}

/// The command that grants raw and packet sockets to this binary.
pub fn setcap_hint() -> String {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "sweep".into());
    format!("run as root, or grant it with `sudo setcap cap_net_raw+ep {exe}`")
}

/// The exact commands that grant raw sockets (or, failing that, ICMP datagram sockets).
pub fn capability_hint() -> String {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "sweep".into());
    // SAFETY: getgid cannot fail.
    let gid = unsafe { libc::getgid() };
    format!(
        "run as root, or grant the capability with `sudo setcap cap_net_raw+ep {exe}`, \
         or allow ICMP datagram sockets with `sudo sysctl -w net.ipv4.ping_group_range=\"0 {gid}\"`"
    )
}

/// SK_MEMINFO_DROPS of SO_MEMINFO (linux/sock_diag.h): the socket's sk_drops.
fn meminfo_drops(fd: RawFd) -> Option<u64> {
    const SK_MEMINFO_DROPS: usize = 8;
    let mut info = [0u32; 9];
    let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: `info` is writable for `len` bytes; the kernel writes at most that much.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_MEMINFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    let filled = len as usize / std::mem::size_of::<u32>();
    (rc == 0 && filled > SK_MEMINFO_DROPS).then(|| u64::from(info[SK_MEMINFO_DROPS]))
}

impl Transport for Socket {
    fn is_raw(&self) -> bool {
        self.raw
    }

    fn is_v6(&self) -> bool {
        self.v6
    }

    fn outbox<'a>(&'a self, max: usize, len: usize) -> Box<dyn Outbox + 'a> {
        Box::new(Sender::new(self, max, len, self.path))
    }

    fn inbox<'a>(&'a self, max: usize, len: usize) -> Box<dyn Inbox + 'a> {
        Box::new(Receiver::new(self, max, len))
    }
}

#[cfg(test)]
mod drop_tests {
    use super::*;

    /// A loopback UDP socket with a tiny receive buffer that is never read: the datagrams
    /// that do not fit are the kernel's drops, and SO_MEMINFO counts them.
    #[test]
    fn meminfo_counts_receive_queue_overflows() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        setsockopt(rx.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, 1024).unwrap();
        assert_eq!(meminfo_drops(rx.as_raw_fd()), Some(0));
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..200 {
            tx.send_to(&[0u8; 512], rx.local_addr().unwrap()).unwrap();
        }
        assert!(meminfo_drops(rx.as_raw_fd()).unwrap() > 100);
    }
}
