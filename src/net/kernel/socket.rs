//! One ICMP socket: a raw socket from pnet's transport channel (root or CAP_NET_RAW),
//! else the kernel's unprivileged ICMP datagram socket, with the options a scan needs;
//! and the hints a permission error carries.

use super::sys::setsockopt;
use crate::error::{Error, Result};
use crate::net::privs::Grant;
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_transport::{
    transport_channel, TransportChannelType::Layer4, TransportProtocol::Ipv4,
    TransportProtocol::Ipv6, TransportReceiver, TransportSender,
};
use std::io;
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

/// An open ICMP socket, shared by the sender and receiver threads.
pub struct Socket {
    pub(super) fd: RawFd,
    pub(super) raw: bool,
    pub(super) v6: bool,
    /// How batches leave: sendmmsg, or pnet's `send_to` per packet (benchmarks).
    pub(super) path: SendPath,
    pub(super) pnet_tx: Option<Mutex<TransportSender>>,
    pub(super) _pnet_rx: Option<TransportReceiver>,
    pub(super) _dgram: Option<socket2::Socket>,
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
    pub(super) fn open_sender(ttl: Option<u8>, v6: bool) -> Result<Socket> {
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
pub(super) fn no_ip_id(fd: RawFd) -> io::Result<()> {
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

/// The command that grants raw and packet sockets to this binary, where it runs.
pub fn setcap_hint() -> String {
    hint(Grant::here(), &exe(), None)
}

/// What grants raw sockets where this process runs (or, failing that, ICMP datagram
/// sockets): the container's capability, privilege escalation, or `setcap` on a host.
pub fn capability_hint() -> String {
    // SAFETY: getgid cannot fail.
    let gid = unsafe { libc::getgid() };
    hint(Grant::here(), &exe(), Some(gid))
}

fn exe() -> String {
    std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "sweep".into())
}

/// The hint for `grant`; with `gid`, the datagram socket's sysctl as the other way.
fn hint(grant: Grant, exe: &str, gid: Option<u32>) -> String {
    let first = match grant {
        Grant::NotInBounding => "this container has no NET_RAW to grant: add it \
             (`--cap-add NET_RAW`; in a Pod, `securityContext.capabilities.add: [\"NET_RAW\"]`)"
            .to_string(),
        Grant::NoNewPrivs => "no_new_privs is set, so the binary's file capability is ignored: \
             allow privilege escalation (in a Pod, `allowPrivilegeEscalation: true`)"
            .to_string(),
        Grant::FileCapability => {
            format!("run as root, or grant it with `sudo setcap cap_net_raw+p {exe}`")
        }
    };
    match gid {
        None => first,
        Some(gid) => format!(
            "{first}, or allow ICMP datagram sockets (`--socket datagram`) with \
             `sysctl -w net.ipv4.ping_group_range=\"0 {gid}\"`"
        ),
    }
}

#[cfg(test)]
mod hint_tests {
    use super::*;

    #[test]
    fn hints_fit_where_sweep_runs() {
        let h = |g| hint(g, "/usr/local/bin/sweep", Some(10001));
        let pod = h(Grant::NotInBounding);
        assert!(
            pod.contains("--cap-add NET_RAW") && pod.contains("capabilities.add"),
            "{pod}"
        );
        assert!(!pod.contains("setcap"), "{pod}");
        assert!(pod.contains("ping_group_range=\"0 10001\""), "{pod}");
        assert!(h(Grant::NoNewPrivs).contains("allowPrivilegeEscalation"));
        let host = h(Grant::FileCapability);
        assert!(
            host.contains("sudo setcap cap_net_raw+p /usr/local/bin/sweep"),
            "{host}"
        );
        assert!(!hint(Grant::FileCapability, "x", None).contains("ping_group_range"));
    }
}
