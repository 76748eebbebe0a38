//! Untrusted bytes from a raw or datagram socket → parse and validate, as an IPv4 packet,
//! an ICMP message and an ICMPv6 message. Must never panic, and must never match a packet
//! to a target outside the scan. (A match inside it is no bug here: the fuzzer sees the
//! comparisons, so it can learn a sequence number that an attacker cannot.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr};
use sweep::probe::Key;
use sweep::targets::{Span, Targets};
use sweep::probe::validate::{Validator, Verdict};
use sweep::wire::{self, IpMeta};

fuzz_target!(|data: &[u8]| {
    let first = u32::from(Ipv4Addr::new(198, 18, 0, 1));
    let base = u128::from(std::net::Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0));
    let targets = Targets::new(
        vec![
            Span::v4(first, first + 70_000),
            Span::v6(base, base + 70_000),
        ],
        vec![],
    );
    // The first bytes choose the claimed source and hop limit of the ICMP messages.
    let (head, msg) = data.split_at(data.len().min(17));
    let mut src = [0u8; 16];
    src[..head.len().min(16)].copy_from_slice(&head[..head.len().min(16)]);
    let ttl = head.get(16).copied().unwrap_or(64);
    let v4 = IpMeta {
        src: IpAddr::from([src[0], src[1], src[2], src[3]]),
        ttl,
    };
    let v6 = IpMeta {
        src: IpAddr::from(src),
        ttl,
    };
    for check_id in [true, false] {
        let v = Validator::new(Key::from_bytes([7; 16]), check_id, &targets);
        for verdict in [
            v.classify_ipv4(data),
            v.classify_icmp(v4, msg),
            v.classify_icmpv6(v6, msg),
        ] {
            match verdict {
                Verdict::Reply { index, .. } | Verdict::Error { index, .. } => {
                    assert!(u64::from(index) < targets.len());
                }
                Verdict::Ignore(_) => {}
            }
        }
    }
    if let Ok((_, icmp)) = wire::parse_ipv4(data) {
        let _ = wire::parse_icmp(icmp);
    }
    let _ = wire::parse_icmp(data);
    let _ = wire::parse_icmpv6(data);
});
