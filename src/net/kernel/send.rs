//! The sending half of a kernel socket: probes by the batch with sendmmsg, or one by one
//! through pnet's `send_to` (`SendPath::Pnet`, kept to compare in benchmarks).

use super::socket::{SendPath, Socket};
use super::sys::{is_icmp_errno, sockaddr};
use crate::error::{Error, Result};
use crate::net::cstruct::zeroed_vec;
use crate::net::Outbox;
use pnet_packet::icmp::IcmpPacket;
use std::io;
use std::net::IpAddr;
use std::time::Duration;

/// Give up when the kernel keeps refusing to queue (ENOBUFS) for this long.
const MAX_STALL: Duration = Duration::from_secs(5);

impl Outbox for Sender<'_> {
    fn slot(&mut self, k: usize) -> &mut [u8] {
        Sender::slot(self, k)
    }

    fn send(&mut self, dsts: &[IpAddr]) -> Result<&[bool]> {
        Sender::send(self, dsts)
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
            addrs: zeroed_vec(max),
            iovs: zeroed_vec(max),
            hdrs: zeroed_vec(max),
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
