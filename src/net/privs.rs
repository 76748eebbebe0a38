//! Privileges: sweep needs CAP_NET_RAW (or root) only to open its sockets. A binary with
//! the permitted-only file capability (`setcap cap_net_raw+p`) starts without it in
//! effect, even where it cannot be granted (a container without NET_RAW: an `+ep` binary
//! could not even be executed there); sweep raises it to effective just before its
//! sockets open. Once they are open every capability is dropped and `no_new_privs` set,
//! so a bug in the packet or CSV code can do nothing the invoking user could not.
//! Set-uid installs are refused: their environment and arguments come from a user the
//! binary does not trust.

use crate::error::{Error, Result};
use caps::CapSet;

/// Refuses to run set-uid or set-gid (effective ids differ from the real ones).
pub fn refuse_setuid() -> Result<()> {
    // SAFETY: these getters only read the process's credentials.
    let (uid, euid, gid, egid) = unsafe {
        (
            libc::getuid(),
            libc::geteuid(),
            libc::getgid(),
            libc::getegid(),
        )
    };
    if uid != euid || gid != egid {
        return Err(Error::SetUid { uid, euid });
    }
    Ok(())
}

/// Makes CAP_NET_RAW effective when it is permitted (a `+p` file capability, or an
/// inheritable/ambient grant); nothing otherwise: opening the sockets then reports what
/// to grant. Call before any thread starts: capabilities are per thread.
pub fn raise_net_raw() {
    let raw = caps::Capability::CAP_NET_RAW;
    if caps::has_cap(None, CapSet::Permitted, raw).unwrap_or(false) {
        // Cannot fail for a permitted capability; if it did, the socket error says so.
        let _ = caps::raise(None, CapSet::Effective, raw);
    }
}

/// Where CAP_NET_RAW could come from for this process, for the hint when it is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Outside the bounding set: a container (or Pod) started without NET_RAW.
    NotInBounding,
    /// `no_new_privs` is set (Kubernetes `allowPrivilegeEscalation: false`): file
    /// capabilities are ignored at exec.
    NoNewPrivs,
    /// A host (or a container with NET_RAW) where the binary lacks the file capability.
    FileCapability,
}

impl Grant {
    pub fn here() -> Grant {
        let raw = caps::Capability::CAP_NET_RAW;
        // SAFETY: a read-only prctl.
        let nnp = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) } == 1;
        if !caps::has_cap(None, CapSet::Bounding, raw).unwrap_or(true) {
            Grant::NotInBounding
        } else if nnp {
            Grant::NoNewPrivs
        } else {
            Grant::FileCapability
        }
    }
}

/// Drops every capability (bounding set too, where allowed) and sets `no_new_privs`.
pub fn drop_all() -> Result<()> {
    let fail = |e: caps::errors::CapsError| Error::DropPrivileges(e.to_string());
    // The bounding set can only shrink while CAP_SETPCAP is still effective.
    if caps::has_cap(None, CapSet::Effective, caps::Capability::CAP_SETPCAP).unwrap_or(false) {
        for cap in caps::read(None, CapSet::Bounding).map_err(fail)? {
            caps::drop(None, CapSet::Bounding, cap).map_err(fail)?;
        }
    }
    // Ambient and inheritable first: the kernel refuses an ambient cap not permitted.
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        caps::clear(None, set).map_err(fail)?;
    }
    // SAFETY: prctl with PR_SET_NO_NEW_PRIVS takes plain integers.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(Error::DropPrivileges(
            std::io::Error::last_os_error().to_string(),
        ));
    }
    Ok(())
}

/// The capabilities still held (effective), for tests.
pub fn effective() -> Vec<String> {
    caps::read(None, CapSet::Effective)
        .map(|s| s.iter().map(|c| c.to_string()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_do_not_run_setuid() {
        assert!(refuse_setuid().is_ok());
    }

    #[test]
    fn raising_needs_a_permitted_capability() {
        std::thread::spawn(|| {
            let raw = caps::Capability::CAP_NET_RAW;
            let permitted = caps::has_cap(None, CapSet::Permitted, raw).unwrap();
            let _ = caps::drop(None, CapSet::Effective, raw);
            raise_net_raw();
            assert_eq!(
                caps::has_cap(None, CapSet::Effective, raw).unwrap(),
                permitted
            );
            // Not permitted (dropped from this thread): raising grants nothing.
            caps::drop(None, CapSet::Effective, raw).unwrap();
            caps::drop(None, CapSet::Permitted, raw).unwrap();
            raise_net_raw();
            assert!(!caps::has_cap(None, CapSet::Effective, raw).unwrap());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn dropping_leaves_nothing_and_sets_no_new_privs() {
        // In a thread of its own: capabilities are per thread, so the other tests keep
        // theirs (this is why sweep drops them before it starts any thread of its own).
        std::thread::spawn(|| {
            drop_all().unwrap();
            assert!(effective().is_empty());
            assert!(caps::read(None, CapSet::Permitted).unwrap().is_empty());
            // SAFETY: a read-only prctl.
            assert_eq!(
                unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) },
                1
            );
        })
        .join()
        .unwrap();
    }
}
