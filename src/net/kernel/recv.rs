//! The receiving half of a kernel socket: recvmmsg by the batch, control messages (TTL,
//! kernel timestamps), and a datagram socket's error queue read back as ICMP errors.

use super::socket::Socket;
use super::sys::{from_sockaddr, is_icmp_errno};
use crate::error::{Error, Result};
use crate::net::cstruct::{zeroed, zeroed_vec};
use crate::net::{Inbox, Payload, Received};
use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr};

impl Inbox for Receiver<'_> {
    fn recv(&mut self) -> Result<usize> {
        Receiver::recv(self)
    }

    fn packet(&self, k: usize) -> Received<'_> {
        Receiver::packet(self, k)
    }
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

impl<'s> Receiver<'s> {
    pub fn new(sock: &'s Socket, max: usize, len: usize) -> Receiver<'s> {
        let mut r = Receiver {
            sock,
            len,
            bufs: vec![0; max * len],
            names: zeroed_vec(max),
            ctrl: vec![[0; 8]; max],
            iovs: zeroed_vec(max),
            hdrs: zeroed_vec(max),
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
            let mut name: libc::sockaddr_storage = zeroed();
            let mut ctrl = [0u64; 32];
            let mut iov = libc::iovec {
                iov_base: q.quoted.as_mut_ptr() as *mut libc::c_void,
                iov_len: q.quoted.len(),
            };
            let mut h: libc::msghdr = zeroed();
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
