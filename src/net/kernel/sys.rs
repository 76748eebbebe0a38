//! Thin wrappers over the socket system calls' C types.

use crate::net::cstruct::zeroed;
use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::RawFd;

pub(super) fn setsockopt<T>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    v: T,
) -> io::Result<()> {
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
pub(super) fn sockaddr(a: IpAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // sockaddr_storage is large and aligned enough to hold either family's address.
    let mut ss: libc::sockaddr_storage = zeroed();
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
pub(super) fn from_sockaddr(ss: &libc::sockaddr_storage) -> Option<IpAddr> {
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

/// Errors a datagram socket with IP_RECVERR reports from a receive call when an ICMP
/// error arrived (icmp_err_convert's errnos): the error itself waits on the error queue.
pub(super) fn is_icmp_errno(e: i32) -> bool {
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
