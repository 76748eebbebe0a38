//! The one row model: what a scan found about one target, or what a sweep CSV says about
//! it. The scan builds `Row`s (`scan`), every writer renders them and the reader parses
//! them through the column codecs (`column`). Its status words `up`, `unreachable` and
//! `down` and the neighbour-only details are spelled here only.

use crate::engine::table;
use crate::wire::ether::Mac;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// One result row, typed. Columns a file lacks read as empty / zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub addr: IpAddr,
    pub status: Status,
    /// Round-trip time of the first reply in microseconds (the CSV holds milliseconds).
    pub rtt_us: Option<u64>,
    pub ttl: Option<u8>,
    pub responder: Option<IpAddr>,
    pub probes: u64,
    pub dups: u64,
    pub detail: String,
    /// The MACs an on-link host answered ARP / neighbour discovery from: one, or several
    /// when more than one machine claims the address.
    pub macs: Vec<Mac>,
    /// The IEEE registry's organisation of each MAC in `macs`, empty where unregistered.
    pub vendors: Vec<String>,
    pub seen_at: String,
    pub hostname: String,
    /// Count mode's statistics (all empty outside count mode).
    pub count: Counted,
    /// Unknown columns, in header order.
    pub extra: Vec<String>,
}

/// Count mode's per-target statistics, as the count columns hold them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counted {
    pub sent: Option<u64>,
    pub received: Option<u64>,
    pub loss_permille: Option<u64>,
    pub min_us: Option<u64>,
    pub avg_us: Option<u64>,
    pub max_us: Option<u64>,
    pub stddev_us: Option<u64>,
    /// Every probe's RTT, `None` for a probe without reply (with `--fields …,rtts`).
    pub rtts: Option<Vec<Option<u64>>>,
    /// Sum of the replies' RTTs: no column, the Prometheus summary's `_sum`.
    pub sum_us: u64,
}

impl Row {
    /// A bare row (for tests and defaults): everything but addr and status empty.
    pub fn new(addr: impl Into<IpAddr>, status: Status) -> Row {
        Row {
            addr: addr.into(),
            status,
            rtt_us: None,
            ttl: None,
            responder: None,
            probes: 0,
            dups: 0,
            detail: String::new(),
            macs: Vec::new(),
            vendors: Vec::new(),
            seen_at: String::new(),
            hostname: String::new(),
            count: Counted::default(),
            extra: Vec::new(),
        }
    }

    /// Up because it answered ARP / neighbour discovery, silent to echo (a conflict
    /// without an RTT too).
    pub fn neighbour_only(&self) -> bool {
        self.status == Status::Up
            && (NEIGHBOUR_ONLY.contains(&self.detail.as_str())
                || (self.detail == CONFLICT && self.rtt_us.is_none()))
    }

    /// Up because it answered echo (so it has an RTT and a TTL).
    pub fn echo_up(&self) -> bool {
        self.status == Status::Up && !self.neighbour_only()
    }
}

/// The details of a host present on the segment but silent to echo.
const NEIGHBOUR_ONLY: [&str; 2] = ["arp-only", "ndp-only"];
/// The detail of an address more than one MAC answered for (every MAC in `mac`).
pub const CONFLICT: &str = "conflict";
/// The detail of a silent address a proxy answered ARP for: not evidence of a host.
pub const PROXY_ARP: &str = "proxy-arp";

/// `arp-only` (IPv4) or `ndp-only` (IPv6).
pub fn neighbour_only_detail(addr: IpAddr) -> &'static str {
    NEIGHBOUR_ONLY[usize::from(addr.is_ipv6())]
}

/// What the layer-2 path learned about one target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Neighbour {
    /// The MACs that answered for it as its own: the first first, then any other (a
    /// conflict). Empty when only a proxy answered.
    pub macs: Vec<Mac>,
    /// A proxy answered ARP for it: only echo says whether it is there.
    pub proxied: bool,
}

/// What the layer-2 path learned (and the MACs the resumed run's journal kept), by target
/// index: a snapshot taken after the scan, so rows never touch its sockets.
pub type Macs = HashMap<u32, Neighbour>;

/// A row's status. The order is the merge rank: up beats unreachable beats down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Down,
    Unreachable,
    Up,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Down, Status::Unreachable, Status::Up];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Up => "up",
            Status::Unreachable => "unreachable",
            Status::Down => "down",
        }
    }

    /// The row status of a table cell; `neighbour` when the target answered ARP /
    /// neighbour discovery (up, as nmap reports it, even if silent to echo). `None` for a
    /// target answered in the run this one resumes: its row is in that run's output.
    pub fn of_cell(status: table::Status, neighbour: bool) -> Option<Status> {
        match status {
            table::Status::Up => Some(Status::Up),
            table::Status::Unreachable => Some(Status::Unreachable),
            table::Status::Down if neighbour => Some(Status::Up),
            table::Status::Down => Some(Status::Down),
            table::Status::Prior => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    /// Names the bad token, for a reader's line-numbered error.
    type Err = String;

    fn from_str(token: &str) -> Result<Status, String> {
        Status::ALL
            .into_iter()
            .find(|s| s.as_str() == token)
            .ok_or_else(|| format!("invalid status '{token}' (want up, unreachable or down)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
            assert_eq!(s.to_string(), s.as_str());
        }
        for bad in ["", "Up", "UP", "upp", " up", "prior"] {
            let e = bad.parse::<Status>().unwrap_err();
            assert!(e.contains(&format!("'{bad}'")), "{e}");
        }
    }

    #[test]
    fn rank_for_merging() {
        assert!(Status::Up > Status::Unreachable && Status::Unreachable > Status::Down);
        assert_eq!(Status::ALL.iter().max(), Some(&Status::Up));
    }

    #[test]
    fn cells_map_to_rows() {
        use table::Status as T;
        assert_eq!(Status::of_cell(T::Up, false), Some(Status::Up));
        assert_eq!(
            Status::of_cell(T::Unreachable, true),
            Some(Status::Unreachable)
        );
        assert_eq!(Status::of_cell(T::Down, false), Some(Status::Down));
        assert_eq!(Status::of_cell(T::Down, true), Some(Status::Up));
        assert_eq!(Status::of_cell(T::Prior, false), None);
        assert_eq!(Status::of_cell(T::Prior, true), None);
    }
}
