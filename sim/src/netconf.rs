//! Network setup around the TUN device, done with `ip` and /proc/sys.
//! Only ever touches the network namespace the simulator runs in.

use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::process::Command;

/// The address the scanner sends from (the device's own address).
pub const OWN_ADDR: &str = "192.0.2.1/32";
/// Always routed to the simulator: lab targets and unreachable blocks.
pub const LAB_PREFIXES: [&str; 2] = ["198.18.0.0/15", "203.0.113.0/24"];

fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        return Ok(());
    }
    let msg = String::from_utf8_lossy(&out.stderr);
    Err(io::Error::other(format!(
        "ip {}: {}",
        args.join(" "),
        msg.trim()
    )))
}

fn sysctl(path: &str, value: &str) -> io::Result<()> {
    fs::write(path, value).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
}

/// Inode of the initial network namespace on kernels that fix it
/// (PROC_NET_INIT_INO in include/linux/proc_ns.h).
const INIT_NET_INO: &str = "net:[4026531833]";

/// True when running in the host's own network namespace: the simulator
/// refuses to install routes there. Compares with PID 1 where readable (it
/// isn't in some sandboxes), and with the fixed initial inode otherwise.
pub fn in_initial_netns() -> bool {
    let Ok(me) = fs::read_link("/proc/self/ns/net") else {
        return true;
    };
    if me.as_os_str() == INIT_NET_INO {
        return true;
    }
    fs::read_link("/proc/1/ns/net").is_ok_and(|init| init == me)
}

/// Brings up `lo` and `dev`, gives `dev` the own address and routes the lab
/// prefixes plus `extra` prefixes to it.
pub fn configure(dev: &str, extra: &[(u32, u8)]) -> io::Result<()> {
    ip(&["link", "set", "dev", "lo", "up"])?;
    // A long queue so bursts from the scanner aren't dropped before we read.
    ip(&[
        "link",
        "set",
        "dev",
        dev,
        "up",
        "mtu",
        "1500",
        "txqueuelen",
        "10000",
    ])?;
    ip(&["addr", "replace", OWN_ADDR, "dev", dev])?;
    let mut routes: Vec<String> = LAB_PREFIXES.iter().map(|s| s.to_string()).collect();
    for &(net, len) in extra {
        routes.push(format!("{}/{len}", Ipv4Addr::from(net)));
    }
    for r in &routes {
        ip(&["route", "replace", r, "dev", dev])?;
    }
    // Replies may come from sources that aren't routed back here (other_src).
    for conf in ["all", "default", dev] {
        sysctl(&format!("/proc/sys/net/ipv4/conf/{conf}/rp_filter"), "0")?;
    }
    Ok(())
}

/// Whether `addr` is already routed by one of the lab prefixes.
pub fn covered_by_lab(addr: u32) -> bool {
    let a = Ipv4Addr::from(addr).octets();
    (a[0] == 198 && (a[1] & 0xfe) == 18) || (a[0..3] == [203, 0, 113])
}
