//! The TUN device (raw IP packets in and out) or TAP device (Ethernet
//! frames), without the packet-info header.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::{AsRawFd, RawFd};

// From <linux/if_tun.h>; not every libc version exports them.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TUN: libc::c_short = 0x0001;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;

/// `struct ifreq` as TUNSETIFF reads it: name then flags, padded to 40 bytes.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

pub struct Tun {
    file: File,
    pub name: String,
}

impl Tun {
    /// Creates (or attaches to) TUN device `name`, non-blocking.
    pub fn open(name: &str) -> io::Result<Tun> {
        Tun::open_with(name, IFF_TUN)
    }

    /// Creates (or attaches to) TAP device `name`, non-blocking: reads and
    /// writes whole Ethernet frames.
    pub fn open_tap(name: &str) -> io::Result<Tun> {
        Tun::open_with(name, IFF_TAP)
    }

    fn open_with(name: &str, kind: libc::c_short) -> io::Result<Tun> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("device name '{name}' must be 1..{} bytes", libc::IFNAMSIZ),
            ));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")?;
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            flags: kind | IFF_NO_PI,
            _pad: [0; 22],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: fd is open; req is a properly sized, initialised ifreq.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF as _, &mut req) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Tun {
            file,
            name: name.to_string(),
        })
    }

    /// One packet, or `None` when nothing is waiting.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self.file.read(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes one whole packet (frame); the kernel takes it as received on
    /// the device.
    pub fn send(&mut self, pkt: &[u8]) -> io::Result<()> {
        let n = self.file.write(pkt)?;
        if n != pkt.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short write to the device",
            ));
        }
        Ok(())
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}
