//! Untrusted bytes from a raw socket → parse and validate. Must never panic, and must never
//! accept a packet as a reply for a target outside the scan.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use sweep::targets::Targets;
use sweep::validate::{Key, Validator, Verdict};
use sweep::wire;

fuzz_target!(|data: &[u8]| {
    let first = u32::from(Ipv4Addr::new(198, 18, 0, 1));
    let targets = Targets::from_v4(vec![(first, first + 70_000)], vec![]);
    for check_id in [true, false] {
        let v = Validator::new(Key::new(7), check_id, &targets);
        match v.classify_ipv4(data) {
            Verdict::Reply { index, .. } | Verdict::Error { index, .. } => {
                assert!(u64::from(index) < targets.len());
            }
            Verdict::Ignore(_) => {}
        }
    }
    if let Ok((_, icmp)) = wire::parse_ipv4(data) {
        let _ = wire::parse_icmp(icmp);
    }
    let _ = wire::parse_icmp(data);
});
