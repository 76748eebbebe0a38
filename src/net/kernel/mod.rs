//! The kernel's ICMP sockets (layer 3; the packet socket is `net/packet.rs`, the route
//! socket `net/netlink.rs`). A raw ICMP socket from pnet's transport channel
//! (root or CAP_NET_RAW), else the kernel's unprivileged ICMP datagram socket. Packets go
//! out and come in by the batch (sendmmsg/recvmmsg on that same socket): one syscall per
//! batch instead of one per packet. pnet's own `send_to` stays available (`SendPath::Pnet`)
//! so the two can be compared in benchmarks. One socket, its options and the privilege
//! fallback are `socket.rs`; the sending half `send.rs`; the receiving half (control
//! messages, the error queue) `recv.rs`; here, the sockets of one scan.

use crate::error::{Error, Result};
use crate::net::{Endpoints, Inbox, Outbox, Transport};
use std::io;
use std::net::IpAddr;
use std::os::fd::RawFd;

mod recv;
mod send;
mod socket;
mod sys;

pub use recv::Receiver;
pub use send::Sender;
use socket::no_ip_id;
pub use socket::{capability_hint, permission_error, setcap_hint, SendPath, Socket, SocketChoice};
use sys::sockaddr;

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
    use super::sys::setsockopt;
    use super::*;
    use std::os::fd::AsRawFd;

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
