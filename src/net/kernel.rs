//! The only code that touches sockets. A raw ICMP socket from pnet's transport channel
//! (root or CAP_NET_RAW), else the kernel's unprivileged ICMP datagram socket. Packets go
//! out and come in by the batch (sendmmsg/recvmmsg on that same socket): one syscall per
//! batch instead of one per packet. pnet's own `send_to` stays available (`SendPath::Pnet`)
//! so the two can be compared in benchmarks.

use crate::error::{Error, Result};
use crate::net::{Endpoints, Inbox, Outbox, Transport};
use pnet_packet::icmp::IcmpPacket;
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_transport::{
    transport_channel, TransportChannelType::Layer4, TransportProtocol::Ipv4,
    TransportProtocol::Ipv6, TransportReceiver, TransportSender,
};
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Mutex;
use std::time::Duration;

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
/// Give up when the kernel keeps refusing to queue (ENOBUFS) for this long.
const MAX_STALL: Duration = Duration::from_secs(5);

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

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, v: T) -> io::Result<()> {
    // SAFETY: `v` lives for the call and its size is passed alongside it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &v as *const T as *const libc::c_void,
            size_of::<T>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `a` as a socket address (port 0) and its length.
fn sockaddr(a: IpAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data, all-zero is valid, and it is large and aligned
    // enough to hold either family's address.
    let mut ss: libc::sockaddr_storage = unsafe { zeroed() };
    match a {
        IpAddr::V4(a) => {
            let sa = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in) };
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_addr.s_addr = u32::from(a).to_be();
            (ss, size_of::<libc::sockaddr_in>() as libc::socklen_t)
        }
        IpAddr::V6(a) => {
            let sa = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in6) };
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_addr.s6_addr = a.octets();
            (ss, size_of::<libc::sockaddr_in6>() as libc::socklen_t)
        }
    }
}

/// The address in a socket address the kernel filled in.
fn from_sockaddr(ss: &libc::sockaddr_storage) -> Option<IpAddr> {
    // SAFETY: the family field says which layout the storage holds.
    unsafe {
        match i32::from(ss.ss_family) {
            libc::AF_INET => {
                let sa = &*(ss as *const _ as *const libc::sockaddr_in);
                Some(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)).into())
            }
            libc::AF_INET6 => {
                let sa = &*(ss as *const _ as *const libc::sockaddr_in6);
                Some(Ipv6Addr::from(sa.sin6_addr.s6_addr).into())
            }
            _ => None,
        }
    }
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

impl Outbox for Sender<'_> {
    fn slot(&mut self, k: usize) -> &mut [u8] {
        Sender::slot(self, k)
    }

    fn send(&mut self, dsts: &[IpAddr]) -> Result<&[bool]> {
        Sender::send(self, dsts)
    }
}

impl Inbox for Receiver<'_> {
    fn recv(&mut self) -> Result<usize> {
        Receiver::recv(self)
    }

    fn packet(&self, k: usize) -> Received<'_> {
        Receiver::packet(self, k)
    }
}

/// The sending half: `max` packet slots of `len` bytes, filled by the caller and sent at once.
pub struct Sender<'s> {
    sock: &'s Socket,
    path: SendPath,
    len: usize,
    slots: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    accepted: Vec<bool>,
    /// The slot whose send reported an earlier probe's ICMP error, and how often.
    pending: (usize, u8),
}

/// Sends of one probe retried because they reported another probe's ICMP error: each
/// report clears the error, so only errors arriving that fast could use these up.
const PENDING_RETRIES: u8 = 8;

impl<'s> Sender<'s> {
    pub fn new(sock: &'s Socket, max: usize, len: usize, path: SendPath) -> Sender<'s> {
        let path = if sock.pnet_tx.is_some() {
            path
        } else {
            SendPath::Batch
        };
        Sender {
            sock,
            path,
            len,
            slots: vec![0; max * len],
            // SAFETY (zeroed): plain C structs, filled in before each use.
            addrs: vec![unsafe { zeroed() }; max],
            iovs: vec![unsafe { zeroed() }; max],
            hdrs: vec![unsafe { zeroed() }; max],
            accepted: vec![false; max],
            pending: (usize::MAX, 0),
        }
    }

    /// Slot `k`'s bytes, to write probe `k` of the next batch into.
    pub fn slot(&mut self, k: usize) -> &mut [u8] {
        &mut self.slots[k * self.len..(k + 1) * self.len]
    }

    /// Sends slots `0..dsts.len()`. Returns which the kernel accepted: a destination it
    /// refuses (no route, a firewall) is skipped, while a broken socket is an error.
    pub fn send(&mut self, dsts: &[IpAddr]) -> Result<&[bool]> {
        let k = dsts.len();
        self.pending = (usize::MAX, 0);
        match self.path {
            SendPath::Batch => self.send_mmsg(dsts)?,
            SendPath::Pnet => self.send_pnet(dsts)?,
        }
        Ok(&self.accepted[..k])
    }

    fn send_mmsg(&mut self, dsts: &[IpAddr]) -> Result<()> {
        let k = dsts.len();
        for (i, &dst) in dsts.iter().enumerate() {
            let (addr, addr_len) = sockaddr(dst);
            self.addrs[i] = addr;
            self.iovs[i] = libc::iovec {
                iov_base: self.slots[i * self.len..].as_mut_ptr() as *mut libc::c_void,
                iov_len: self.len,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = &mut self.addrs[i] as *mut _ as *mut libc::c_void;
            h.msg_namelen = addr_len;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
        }
        let mut next = 0;
        let mut stalled_since = None;
        while next < k {
            // SAFETY: hdrs[next..k] point into buffers owned by self that outlive the call.
            let r = unsafe {
                libc::sendmmsg(
                    self.sock.fd,
                    self.hdrs[next..].as_mut_ptr(),
                    (k - next) as u32,
                    0,
                )
            };
            if r > 0 {
                self.accepted[next..next + r as usize].fill(true);
                next += r as usize;
                stalled_since = None;
                continue;
            }
            let err = io::Error::last_os_error();
            next += self.on_error(err, dsts[next], next, &mut stalled_since)?;
        }
        Ok(())
    }

    fn send_pnet(&mut self, dsts: &[IpAddr]) -> Result<()> {
        let mut tx = self
            .sock
            .pnet_tx
            .as_ref()
            .expect("raw socket")
            .lock()
            .unwrap();
        let mut stalled_since = None;
        let mut next = 0;
        while next < dsts.len() {
            let bytes = &self.slots[next * self.len..(next + 1) * self.len];
            let pkt = IcmpPacket::new(bytes).expect("probe longer than an ICMP header");
            match tx.send_to(pkt, dsts[next]) {
                Ok(_) => {
                    self.accepted[next] = true;
                    next += 1;
                    stalled_since = None;
                }
                Err(err) => next += self.on_error(err, dsts[next], next, &mut stalled_since)?,
            }
        }
        Ok(())
    }

    /// How far to advance past a failed send: 0 to retry it, 1 to skip it, or an error.
    fn on_error(
        &mut self,
        err: io::Error,
        dst: IpAddr,
        at: usize,
        stalled_since: &mut Option<std::time::Instant>,
    ) -> Result<usize> {
        // A datagram socket with IP_RECVERR reports an ICMP error that came back for an
        // earlier probe from the next send, which then fails (and clears the error); the
        // error itself waits on the error queue for the receiver. Send this one again.
        if !self.sock.raw && err.raw_os_error().is_some_and(is_icmp_errno) {
            if self.pending.0 != at {
                self.pending = (at, 0);
            }
            if self.pending.1 < PENDING_RETRIES {
                self.pending.1 += 1;
                return Ok(0);
            }
            // Still failing: the error is this destination's own.
            self.accepted[at] = false;
            return Ok(1);
        }
        match err.raw_os_error() {
            Some(libc::EINTR) => Ok(0),
            // The device queue is full: wait for it to drain, within a bound.
            Some(libc::ENOBUFS | libc::EAGAIN) => {
                let since = *stalled_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() > MAX_STALL {
                    return Err(Error::Send { dst, source: err });
                }
                std::thread::sleep(Duration::from_micros(100));
                Ok(0)
            }
            Some(
                libc::EHOSTUNREACH
                | libc::ENETUNREACH
                | libc::EACCES
                | libc::EPERM
                | libc::EINVAL
                | libc::EADDRNOTAVAIL
                | libc::EMSGSIZE,
            ) => {
                self.accepted[at] = false;
                Ok(1)
            }
            _ => Err(Error::Send { dst, source: err }),
        }
    }
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

/// What a packet's control messages say.
#[derive(Default)]
struct Ancillary {
    ttl: Option<u8>,
    at_unix_ns: Option<u64>,
}

pub struct Receiver<'s> {
    sock: &'s Socket,
    len: usize,
    bufs: Vec<u8>,
    names: Vec<libc::sockaddr_storage>,
    ctrl: Vec<[u64; 8]>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    /// Packets of the last `recv` read normally; those after them came from the error queue.
    normal: usize,
    errors: ErrorQueue,
}

/// ICMP errors read from a datagram socket's error queue, rebuilt as the messages a raw
/// socket would have read (net::errqueue).
#[derive(Default)]
struct ErrorQueue {
    msgs: Vec<Vec<u8>>,
    from: Vec<IpAddr>,
    at_unix_ns: Vec<Option<u64>>,
    count: usize,
    quoted: Vec<u8>,
}

/// Errors a datagram socket with IP_RECVERR reports from a receive call when an ICMP
/// error arrived (icmp_err_convert's errnos): the error itself waits on the error queue.
fn is_icmp_errno(e: i32) -> bool {
    matches!(
        e,
        libc::EHOSTUNREACH
            | libc::ENETUNREACH
            | libc::ECONNREFUSED
            | libc::ENOPROTOOPT
            | libc::EMSGSIZE
            | libc::EOPNOTSUPP
            | libc::EHOSTDOWN
            | libc::ENONET
            | libc::EACCES
            | libc::EPROTO
    )
}

impl<'s> Receiver<'s> {
    pub fn new(sock: &'s Socket, max: usize, len: usize) -> Receiver<'s> {
        let mut r = Receiver {
            sock,
            len,
            bufs: vec![0; max * len],
            // SAFETY (zeroed): plain C structs, filled in before each use.
            names: vec![unsafe { zeroed() }; max],
            ctrl: vec![[0; 8]; max],
            iovs: vec![unsafe { zeroed() }; max],
            hdrs: vec![unsafe { zeroed() }; max],
            normal: 0,
            errors: ErrorQueue::default(),
        };
        for i in 0..max {
            r.iovs[i] = libc::iovec {
                iov_base: r.bufs[i * len..].as_mut_ptr() as *mut libc::c_void,
                iov_len: len,
            };
        }
        r
    }

    /// Waits (up to a short timeout) for packets; returns how many arrived (0 on timeout).
    pub fn recv(&mut self) -> Result<usize> {
        for i in 0..self.hdrs.len() {
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_name = &mut self.names[i] as *mut _ as *mut libc::c_void;
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_control = self.ctrl[i].as_mut_ptr() as *mut libc::c_void;
            h.msg_controllen = size_of::<[u64; 8]>();
            h.msg_flags = 0;
        }
        // SAFETY: every header points into buffers owned by self that outlive the call.
        let r = unsafe {
            libc::recvmmsg(
                self.sock.fd,
                self.hdrs.as_mut_ptr(),
                self.hdrs.len() as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        self.normal = if r >= 0 {
            r as usize
        } else {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EAGAIN | libc::EINTR) => 0,
                // An ICMP error is pending: it is read from the error queue below.
                Some(e) if !self.sock.raw && is_icmp_errno(e) => 0,
                _ => return Err(Error::Receive(err)),
            }
        };
        if !self.sock.raw {
            self.read_error_queue(self.hdrs.len());
        } else {
            self.errors.count = 0;
        }
        Ok(self.normal + self.errors.count)
    }

    /// Reads up to `max` queued ICMP errors without waiting (see net::errqueue).
    fn read_error_queue(&mut self, max: usize) {
        let q = &mut self.errors;
        q.count = 0;
        q.quoted.resize(self.len, 0);
        while q.count < max {
            // SAFETY (zeroed): plain C structs, filled in below / by the kernel.
            let mut name: libc::sockaddr_storage = unsafe { zeroed() };
            let mut ctrl = [0u64; 32];
            let mut iov = libc::iovec {
                iov_base: q.quoted.as_mut_ptr() as *mut libc::c_void,
                iov_len: q.quoted.len(),
            };
            let mut h: libc::msghdr = unsafe { zeroed() };
            h.msg_name = &mut name as *mut _ as *mut libc::c_void;
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut iov;
            h.msg_iovlen = 1;
            h.msg_control = ctrl.as_mut_ptr() as *mut libc::c_void;
            h.msg_controllen = size_of::<[u64; 32]>();
            // SAFETY: the header points at locals and a buffer that outlive the call.
            let r = unsafe {
                libc::recvmsg(
                    self.sock.fd,
                    &mut h,
                    libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
                )
            };
            if r < 0 {
                break;
            }
            let quoted = &q.quoted[..(r as usize).min(q.quoted.len())];
            let (Some(dst), Some((ext, Some(from))), at) =
                (from_sockaddr(&name), extended(&h), timestamp(&h))
            else {
                continue;
            };
            if q.msgs.len() <= q.count {
                q.msgs.push(Vec::with_capacity(self.len + 64));
                q.from.push(from);
                q.at_unix_ns.push(None);
            }
            if crate::net::errqueue::rebuild(ext, dst, quoted, &mut q.msgs[q.count]).is_some() {
                q.from[q.count] = from;
                q.at_unix_ns[q.count] = at;
                q.count += 1;
            }
        }
    }

    /// Packet `k` of the last `recv`.
    pub fn packet(&self, k: usize) -> Received<'_> {
        if let Some(j) = k.checked_sub(self.normal) {
            let q = &self.errors;
            return Received {
                payload: Payload::Icmp {
                    src: q.from[j],
                    ttl: 0,
                    msg: &q.msgs[j],
                },
                at_unix_ns: q.at_unix_ns[j],
            };
        }
        let h = &self.hdrs[k];
        let n = (h.msg_len as usize).min(self.len);
        let bytes = &self.bufs[k * self.len..k * self.len + n];
        let anc = self.ancillary(k);
        let payload = if self.sock.raw && !self.sock.v6 {
            Payload::Ipv4(bytes)
        } else {
            Payload::Icmp {
                src: from_sockaddr(&self.names[k]).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                ttl: anc.ttl.unwrap_or(0),
                msg: bytes,
            }
        };
        Received {
            payload,
            at_unix_ns: anc.at_unix_ns,
        }
    }

    /// The receive timestamp (SO_TIMESTAMPNS) and, on datagram sockets, the TTL
    /// (IP_RECVTTL) the kernel attached to packet `k`.
    fn ancillary(&self, k: usize) -> Ancillary {
        let h = &self.hdrs[k].msg_hdr;
        let mut anc = Ancillary::default();
        // SAFETY: the CMSG macros walk the control buffer the kernel filled for this header.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(h);
            while !c.is_null() {
                let data = libc::CMSG_DATA(c);
                match ((*c).cmsg_level, (*c).cmsg_type) {
                    (libc::IPPROTO_IP, libc::IP_TTL)
                    | (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                        let v = std::ptr::read_unaligned(data as *const libc::c_int);
                        anc.ttl = u8::try_from(v).ok();
                    }
                    (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                        let ts = std::ptr::read_unaligned(data as *const libc::timespec);
                        anc.at_unix_ns = u64::try_from(ts.tv_sec)
                            .ok()
                            .map(|s| s * 1_000_000_000 + ts.tv_nsec as u64);
                    }
                    _ => {}
                }
                c = libc::CMSG_NXTHDR(h, c);
            }
        }
        anc
    }
}

/// The `sock_extended_err` of a message read from the error queue, and the address of
/// the host that sent the ICMP error (SO_EE_OFFENDER), if the kernel named one.
fn extended(h: &libc::msghdr) -> Option<(crate::net::errqueue::Extended, Option<IpAddr>)> {
    let ee_len = size_of::<libc::sock_extended_err>();
    // SAFETY: the CMSG macros walk the control buffer the kernel filled for this header;
    // every read stays inside the control message, whose length is checked first.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            let recverr = matches!(
                ((*c).cmsg_level, (*c).cmsg_type),
                (libc::IPPROTO_IP, libc::IP_RECVERR) | (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
            );
            let data_len = ((*c).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
            if recverr && data_len >= ee_len {
                let data = libc::CMSG_DATA(c);
                let ee = std::ptr::read_unaligned(data as *const libc::sock_extended_err);
                let ext = crate::net::errqueue::Extended {
                    origin: ee.ee_origin,
                    kind: ee.ee_type,
                    code: ee.ee_code,
                };
                // The offender follows the struct: a sockaddr_in or sockaddr_in6.
                let mut ss: libc::sockaddr_storage = zeroed();
                let n = (data_len - ee_len).min(size_of::<libc::sockaddr_storage>());
                std::ptr::copy_nonoverlapping(data.add(ee_len), &mut ss as *mut _ as *mut u8, n);
                let from = if n >= size_of::<libc::sa_family_t>() {
                    from_sockaddr(&ss)
                } else {
                    None
                };
                return Some((ext, from));
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
}

/// The receive timestamp (SCM_TIMESTAMPNS) of a message read from the error queue.
fn timestamp(h: &libc::msghdr) -> Option<u64> {
    // SAFETY: as in `extended`.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if ((*c).cmsg_level, (*c).cmsg_type) == (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timespec);
                return u64::try_from(ts.tv_sec)
                    .ok()
                    .map(|s| s * 1_000_000_000 + ts.tv_nsec as u64);
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
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
