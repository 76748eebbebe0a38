//! IPv6 prefixes too large to enumerate among the targets (a /64 holds 2^64 addresses):
//! one whose route is on one of our Ethernet segments is scanned by discovery
//! (`engine::discover`: ask the segment's all-nodes group, then scan the addresses that
//! answered); a routed one is refused before anything is sent.

use crate::cli::Config;
use crate::engine::discover::{self, Options};
use crate::error::{Error, Result};
use crate::net::netlink::Netlink;
use crate::net::packet::PacketSocket;
use crate::net::route;
use crate::targets::build::Large;
use crate::targets::{Span, Targets};
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

/// Rounds of probes, and how long each waits for answers: a host on the segment answers
/// within milliseconds; rounds cover loss.
const ROUNDS: u8 = 3;
const GAP: Duration = Duration::from_millis(250);

/// The addresses discovery finds on each on-link prefix of `large`, as spans.
pub fn spans(cfg: &Config, large: &[Large]) -> Result<Vec<Span>> {
    let mut nl = Netlink::open().map_err(Error::Routes)?;
    let routes = nl.dump().map_err(Error::Routes)?;
    let mut lookup = |a| nl.get(a).ok().flatten();
    let mut out = Vec::new();
    let mut silent = Vec::new();
    for p in large {
        let routed = || Error::BadTarget {
            token: p.token.clone(),
            reason: "more than 2^24 addresses, and not on one of our Ethernet segments: \
                     sweep finds the hosts of so large an IPv6 prefix only on-link (asking \
                     the segment); scan a /104 or longer, or from the prefix's segment"
                .into(),
        };
        let first = Targets::new(vec![Span::v6(p.net.into(), p.net.into())], vec![]);
        let want = cfg.layer2();
        let plan = route::plan(&routes, &first, want.iface, want.src, &mut lookup)
            .map_err(|r| Error::Route(r.to_string()))?;
        let Some(seg) = plan.segments.first().filter(|s| s.via.is_none()) else {
            return Err(routed());
        };
        let link = routes.link(seg.link).ok_or_else(routed)?;
        let mac = link.mac.ok_or_else(routed)?;
        let sources: Vec<Ipv6Addr> = link
            .addrs
            .iter()
            .filter_map(|&(a, _)| match a {
                IpAddr::V6(a) => Some(a),
                IpAddr::V4(_) => None,
            })
            .collect();
        let sock =
            PacketSocket::open_discovery(seg.link, mac).map_err(|e| match e.raw_os_error() {
                Some(libc::EPERM | libc::EACCES) => crate::net::kernel::permission_error(
                    "asking an on-link IPv6 prefix's hosts (all-nodes discovery)",
                ),
                _ => Error::PacketSocket {
                    iface: link.name.clone(),
                    source: e,
                },
            })?;
        let o = Options {
            rounds: ROUNDS,
            gap: GAP,
            ident: ident(),
        };
        let heard = discover::ask(&sock, &sources, &o)?;
        let found = discover::candidates(&heard, &[(p.net, p.len)]);
        if found.is_empty() {
            silent.push(Error::NoneAnswered {
                iface: link.name.clone(),
                prefix: p.token.clone(),
            });
        }
        out.extend(found.into_iter().map(|a| Span::v6(a.into(), a.into())));
    }
    // Nobody on any of them: the first one's silence is the answer (the caller decides
    // whether other targets make it a warning).
    match silent.into_iter().next() {
        Some(none) if out.is_empty() => Err(none),
        _ => Ok(out),
    }
}

/// Our echo identifier: another scanner's discovery on the segment carries another.
fn ident() -> u16 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (std::process::id() ^ t) as u16
}
