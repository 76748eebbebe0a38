//! Privileges: sweep needs CAP_NET_RAW (or root) only to open its sockets. Once they are
//! open every capability is dropped and `no_new_privs` set, so a bug in the packet or CSV
//! code can do nothing the invoking user could not. Set-uid installs are refused: their
//! environment and arguments come from a user the binary does not trust.

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
