//! Why an ICMP or ICMPv6 error says a probe failed, as the CSV `detail` column names it.

use super::icmp::{DEST_UNREACHABLE, PARAMETER_PROBLEM, TIME_EXCEEDED};
use super::icmpv6;

/// Why an ICMP error says a probe failed, or that an echo reply's data differed from
/// the probe's: the CSV `detail` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detail(u8);

const DETAILS: [&str; 26] = [
    "",
    "net-unreachable",
    "host-unreachable",
    "protocol-unreachable",
    "port-unreachable",
    "fragmentation-needed",
    "source-route-failed",
    "net-unknown",
    "host-unknown",
    "source-host-isolated",
    "net-prohibited",
    "host-prohibited",
    "net-unreachable-tos",
    "host-unreachable-tos",
    "admin-prohibited",
    "host-precedence-violation",
    "precedence-cutoff",
    "ttl-exceeded",
    "reassembly-timeout",
    "parameter-problem",
    "unreachable-other",
    "beyond-scope",
    "source-policy-failed",
    "reject-route",
    "packet-too-big",
    // An echo reply whose data is not the probe's (ping's "wrong data byte"): the host is
    // up, but something on the path or in its stack changes what it echoes.
    "bad-data",
];

impl Detail {
    pub const NONE: Detail = Detail(0);
    pub const BAD_DATA: Detail = Detail(25);

    pub fn of(kind: u8, code: u8) -> Detail {
        Detail(match (kind, code) {
            (DEST_UNREACHABLE, 0..=15) => code + 1,
            (TIME_EXCEEDED, 0) => 17,
            (TIME_EXCEEDED, _) => 18,
            (PARAMETER_PROBLEM, _) => 19,
            _ => 20,
        })
    }

    /// ICMPv6 errors, named like their IPv4 counterparts where there is one.
    pub fn of_v6(kind: u8, code: u8) -> Detail {
        Detail(match (kind, code) {
            (icmpv6::DEST_UNREACHABLE, 0) => 1,  // no route → net-unreachable
            (icmpv6::DEST_UNREACHABLE, 1) => 14, // admin-prohibited
            (icmpv6::DEST_UNREACHABLE, 2) => 21,
            (icmpv6::DEST_UNREACHABLE, 3) => 2, // address unreachable → host-unreachable
            (icmpv6::DEST_UNREACHABLE, 4) => 4, // port-unreachable
            (icmpv6::DEST_UNREACHABLE, 5) => 22,
            (icmpv6::DEST_UNREACHABLE, 6) => 23,
            (icmpv6::PACKET_TOO_BIG, _) => 24,
            (icmpv6::TIME_EXCEEDED, 0) => 17,
            (icmpv6::TIME_EXCEEDED, _) => 18,
            (icmpv6::PARAMETER_PROBLEM, _) => 19,
            _ => 20,
        })
    }

    /// A compact code (< 32) for the results table.
    pub fn code(self) -> u8 {
        self.0
    }

    pub fn from_code(code: u8) -> Detail {
        Detail(if usize::from(code) < DETAILS.len() {
            code
        } else {
            20
        })
    }

    pub fn as_str(self) -> &'static str {
        DETAILS[usize::from(self.0)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_cover_codes() {
        assert_eq!(Detail::of(3, 0).as_str(), "net-unreachable");
        assert_eq!(Detail::of(3, 3).as_str(), "port-unreachable");
        assert_eq!(Detail::of(3, 13).as_str(), "admin-prohibited");
        assert_eq!(Detail::of(11, 0).as_str(), "ttl-exceeded");
        assert_eq!(
            Detail::from_code(Detail::of(3, 1).code()).as_str(),
            "host-unreachable"
        );
        assert!(Detail::of(3, 99).code() < 32);
    }
}
