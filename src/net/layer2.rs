//! Opening the layer-2 path: the route decision over rtnetlink, and a packet socket for
//! each Ethernet link with on-link targets — or, where packet sockets are not allowed, the
//! kernel path at a rate its neighbour table survives. Runs after every input check, since
//! it opens sockets.

use super::kernel::{self, SocketChoice};
use super::netlink::Netlink;
use super::packet::PacketSocket;
use super::route::{self, Plan};
use crate::error::{Error, Result};
use crate::targets::Targets;
use std::net::IpAddr;

/// What the command line allows the layer-2 path.
#[derive(Debug, Clone, Copy)]
pub struct Want<'a> {
    /// `--l2 on` (the default): on-link targets get frames of our own.
    pub enabled: bool,
    pub socket: SocketChoice,
    pub iface: Option<&'a str>,
    pub src: Option<IpAddr>,
    /// `--routed-frames`: frames to the gateway's MAC for routed targets too.
    pub routed_frames: bool,
}

/// How on-link targets will be probed.
pub enum L2 {
    /// Frames we build, on packet sockets: the route plan and a socket per link it names.
    Frames {
        plan: Plan,
        socks: Vec<PacketSocket>,
    },
    /// Through the kernel: none are on-link, or layer 2 is off.
    Kernel,
    /// Through the kernel, slowly: on-link targets but no packet sockets allowed.
    Paced { onlink: u64, iface: String },
}

/// The route decision, and the packet sockets it asks for. `--iface`/`--src` problems are
/// input errors, found before anything is sent.
pub fn open(want: &Want, targets: &Targets) -> Result<L2> {
    let mut nl = Netlink::open().map_err(Error::Routes)?;
    let mut routes = nl.dump().map_err(Error::Routes)?;
    routes.routed_frames = want.routed_frames;
    let mut lookup = |a| nl.get(a).ok().flatten();
    let plan = route::plan(&routes, targets, want.iface, want.src, &mut lookup)
        .map_err(|r| Error::Route(r.to_string()))?;
    if plan.is_empty() || !want.enabled {
        return Ok(L2::Kernel);
    }
    let names = || {
        plan.links()
            .iter()
            .filter_map(|&i| routes.link(i).map(|l| l.name.clone()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if want.socket == SocketChoice::Datagram {
        return Ok(L2::Paced {
            onlink: plan.onlink_count(),
            iface: names(),
        });
    }
    let mut socks = Vec::new();
    for index in plan.links() {
        let link = routes.link(index).expect("the plan names dumped links");
        let mac = link.mac.expect("on-link only on Ethernet links with a MAC");
        match PacketSocket::open(index, mac) {
            Ok(sock) => socks.push(sock),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES)) => {
                if want.socket == SocketChoice::Raw {
                    return Err(kernel::permission_error(
                        "opening a layer-2 socket for on-link targets",
                    ));
                }
                return Ok(L2::Paced {
                    onlink: plan.onlink_count(),
                    iface: names(),
                });
            }
            Err(source) => {
                return Err(Error::PacketSocket {
                    iface: link.name.clone(),
                    source,
                })
            }
        }
    }
    Ok(L2::Frames { plan, socks })
}

/// Without layer 2, every on-link probe needs a kernel neighbour entry, and unresolved
/// entries live about 3 s (3 solicitations 1 s apart): at most `gc_thresh3` of them fit,
/// beyond which the kernel drops probes. Keep three quarters of the table for them.
pub fn neighbour_safe_rate() -> u64 {
    let thresh = std::fs::read_to_string("/proc/sys/net/ipv4/neigh/default/gc_thresh3")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(1024);
    (thresh * 3 / 4 / 3).max(10)
}
