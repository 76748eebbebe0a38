//! The layer-2 socket: AF_PACKET bound to one Ethernet interface. Frames go out by the
//! batch (sendmmsg); a classic BPF filter lets only ARP replies and ICMPv6 neighbour
//! advertisements reach it, so the receiver is not woken for the scan's other traffic.
//! Echo replies to frames sent here come back through the kernel's IP stack and the ICMP
//! sockets, like any other reply.

use crate::error::{Error, Result};
use crate::net::cstruct::{zeroed, zeroed_vec};
use crate::net::{FramesIn, FramesOut, Link};
use crate::wire::ether::Mac;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// How long a receive call blocks before the receiver checks whether the scan is over.
const RECV_TIMEOUT: Duration = Duration::from_millis(20);
const RCVBUF: libc::c_int = 16 << 20;
/// Give up when the device queue stays full this long.
const MAX_STALL: Duration = Duration::from_secs(5);
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;

pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
    mac: Mac,
}

/// ARP replies (ethertype 0x0806, op 2) and ICMPv6 type 136 directly after the IPv6
/// header; everything else is dropped in the kernel.
fn filter() -> Vec<libc::sock_filter> {
    const LDH: u16 = 0x28; // BPF_LD | BPF_H | BPF_ABS
    const LDB: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
    const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET: u16 = 0x06; // BPF_RET | BPF_K
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    vec![
        op(LDH, 0, 0, 12),     // 0: ethertype
        op(JEQ, 0, 2, 0x0806), // 1: ARP? else 4
        op(LDH, 0, 0, 20),     // 2: ARP operation
        op(JEQ, 5, 6, 2),      // 3: reply → 9, else 10
        op(JEQ, 0, 5, 0x86dd), // 4: IPv6? else 10
        op(LDB, 0, 0, 20),     // 5: next header
        op(JEQ, 0, 3, 58),     // 6: ICMPv6? else 10
        op(LDB, 0, 0, 54),     // 7: ICMPv6 type
        op(JEQ, 0, 1, 136),    // 8: neighbour advertisement? else 10
        op(RET, 0, 0, 0xffff), // 9: accept
        op(RET, 0, 0, 0),      // 10: drop
    ]
}

/// ICMPv6 echo replies (129) and Parameter Problems (4) directly after the IPv6 header.
fn discovery_filter() -> Vec<libc::sock_filter> {
    const LDH: u16 = 0x28;
    const LDB: u16 = 0x30;
    const JEQ: u16 = 0x15;
    const RET: u16 = 0x06;
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    vec![
        op(LDH, 0, 0, 12),     // 0: ethertype
        op(JEQ, 0, 6, 0x86dd), // 1: IPv6? else 8
        op(LDB, 0, 0, 20),     // 2: next header
        op(JEQ, 0, 4, 58),     // 3: ICMPv6? else 8
        op(LDB, 0, 0, 54),     // 4: ICMPv6 type
        op(JEQ, 1, 0, 129),    // 5: echo reply → 7
        op(JEQ, 0, 1, 4),      // 6: parameter problem → 7, else 8
        op(RET, 0, 0, 0xffff), // 7: accept
        op(RET, 0, 0, 0),      // 8: drop
    ]
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: `v` lives for the call and its size is passed alongside it.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            v as *const T as *const libc::c_void,
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

fn link_addr(ifindex: u32, protocol: u16) -> libc::sockaddr_ll {
    let mut sa: libc::sockaddr_ll = zeroed();
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = protocol.to_be();
    sa.sll_ifindex = ifindex as i32;
    sa
}

impl PacketSocket {
    /// Opens and binds the socket to interface `ifindex` (needs CAP_NET_RAW).
    pub fn open(ifindex: u32, mac: Mac) -> io::Result<PacketSocket> {
        PacketSocket::open_with(ifindex, mac, filter())
    }

    /// A socket for all-nodes discovery (`wire::mcast`): only ICMPv6 echo replies and
    /// Parameter Problems reach it.
    pub fn open_discovery(ifindex: u32, mac: Mac) -> io::Result<PacketSocket> {
        PacketSocket::open_with(ifindex, mac, discovery_filter())
    }

    fn open_with(ifindex: u32, mac: Mac, prog: Vec<libc::sock_filter>) -> io::Result<PacketSocket> {
        // Protocol 0 receives nothing until the filter is in place and we bind for all.
        // SAFETY: plain socket(2) call; the fd is owned right away.
        let fd = check(unsafe {
            libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0)
        })?;
        // SAFETY: fd was just returned by socket(2) and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let raw = fd.as_raw_fd();
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        setsockopt(raw, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)?;
        // Our own frames would otherwise come back to us on every send.
        let _ = setsockopt(
            raw,
            libc::SOL_PACKET,
            PACKET_IGNORE_OUTGOING,
            &(1 as libc::c_int),
        );
        if setsockopt(raw, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &RCVBUF).is_err() {
            setsockopt(raw, libc::SOL_SOCKET, libc::SO_RCVBUF, &RCVBUF)?;
        }
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: RECV_TIMEOUT.as_micros() as libc::suseconds_t,
        };
        setsockopt(raw, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
        let sa = link_addr(ifindex, libc::ETH_P_ALL as u16);
        // SAFETY: `sa` is a valid sockaddr_ll and its size is passed.
        check(unsafe {
            libc::bind(
                raw,
                &sa as *const _ as *const libc::sockaddr,
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        // Frames already queued before the filter applied may be anything: drain them.
        let mut junk = [0u8; 64];
        // SAFETY: reading into a local buffer of the given length.
        while unsafe {
            libc::recv(
                raw,
                junk.as_mut_ptr() as *mut libc::c_void,
                junk.len(),
                libc::MSG_DONTWAIT,
            )
        } >= 0
        {}
        Ok(PacketSocket { fd, ifindex, mac })
    }

    fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Link for PacketSocket {
    fn mac(&self) -> Mac {
        self.mac
    }

    fn ifindex(&self) -> u32 {
        self.ifindex
    }

    fn frames_out<'a>(&'a self, max: usize, len: usize) -> Box<dyn FramesOut + 'a> {
        Box::new(Frames::new(self, max, len))
    }

    fn frames_in<'a>(&'a self, max: usize, len: usize) -> Box<dyn FramesIn + 'a> {
        Box::new(Inbox::new(self, max, len))
    }
}

/// Frames waiting to go out together: `max` slots of up to `len` bytes each.
struct Frames<'s> {
    sock: &'s PacketSocket,
    len: usize,
    slots: Vec<u8>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    accepted: Vec<bool>,
}

impl<'s> Frames<'s> {
    fn new(sock: &'s PacketSocket, max: usize, len: usize) -> Frames<'s> {
        Frames {
            sock,
            len,
            slots: vec![0; max * len],
            iovs: zeroed_vec(max),
            hdrs: zeroed_vec(max),
            accepted: Vec::with_capacity(max),
        }
    }

    /// Sends frames `0..lens.len()`; returns which the kernel took (a frame it refuses,
    /// e.g. the link went down, is skipped).
    fn send_frames(&mut self, lens: &[usize]) -> io::Result<&[bool]> {
        let k = lens.len();
        self.accepted.clear();
        self.accepted.resize(k, false);
        for (i, &n) in lens.iter().enumerate() {
            self.iovs[i] = libc::iovec {
                iov_base: self.slots[i * self.len..].as_mut_ptr() as *mut libc::c_void,
                iov_len: n.min(self.len),
            };
            let h = &mut self.hdrs[i].msg_hdr;
            // Bound to the interface: no address needed.
            h.msg_name = std::ptr::null_mut();
            h.msg_namelen = 0;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
        }
        let mut next = 0;
        let mut stalled: Option<std::time::Instant> = None;
        while next < k {
            // SAFETY: hdrs[next..k] point into buffers owned by self that outlive the call.
            let r = unsafe {
                libc::sendmmsg(
                    self.sock.raw(),
                    self.hdrs[next..].as_mut_ptr(),
                    (k - next) as u32,
                    0,
                )
            };
            if r > 0 {
                self.accepted[next..next + r as usize].fill(true);
                next += r as usize;
                stalled = None;
                continue;
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::ENOBUFS | libc::EAGAIN) => {
                    if stalled
                        .get_or_insert_with(std::time::Instant::now)
                        .elapsed()
                        > MAX_STALL
                    {
                        return Err(err);
                    }
                    std::thread::sleep(Duration::from_micros(100));
                }
                Some(libc::ENETDOWN | libc::ENXIO | libc::EMSGSIZE) => next += 1,
                _ => return Err(err),
            }
        }
        Ok(&self.accepted)
    }
}

impl FramesOut for Frames<'_> {
    fn slot(&mut self, k: usize) -> &mut [u8] {
        &mut self.slots[k * self.len..(k + 1) * self.len]
    }

    fn send(&mut self, lens: &[usize]) -> Result<&[bool]> {
        self.send_frames(lens).map_err(Error::Frames)
    }
}

/// Received frames, by the batch.
struct Inbox<'s> {
    sock: &'s PacketSocket,
    len: usize,
    bufs: Vec<u8>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

impl<'s> Inbox<'s> {
    fn new(sock: &'s PacketSocket, max: usize, len: usize) -> Inbox<'s> {
        let mut b = Inbox {
            sock,
            len,
            bufs: vec![0; max * len],
            iovs: zeroed_vec(max),
            hdrs: zeroed_vec(max),
        };
        for i in 0..max {
            b.iovs[i] = libc::iovec {
                iov_base: b.bufs[i * len..].as_mut_ptr() as *mut libc::c_void,
                iov_len: len,
            };
        }
        b
    }

    /// Waits (up to a short timeout) for frames; returns how many arrived (0 on timeout).
    fn recv_frames(&mut self) -> io::Result<usize> {
        for i in 0..self.hdrs.len() {
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_name = std::ptr::null_mut();
            h.msg_namelen = 0;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
        }
        // SAFETY: every header points into buffers owned by self that outlive the call.
        let r = unsafe {
            libc::recvmmsg(
                self.sock.raw(),
                self.hdrs.as_mut_ptr(),
                self.hdrs.len() as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if r >= 0 {
            return Ok(r as usize);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN | libc::EINTR) => Ok(0),
            _ => Err(err),
        }
    }
}

impl FramesIn for Inbox<'_> {
    fn recv(&mut self) -> Result<usize> {
        self.recv_frames().map_err(Error::Receive)
    }

    /// Cut to the buffer: longer frames are truncated.
    fn frame(&self, k: usize) -> &[u8] {
        let n = (self.hdrs[k].msg_len as usize).min(self.len);
        &self.bufs[k * self.len..k * self.len + n]
    }
}
