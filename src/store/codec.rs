//! How the inventory's values are stored, the same in every backend: times as
//! milliseconds since the Unix epoch (UTC), addresses as a key that sorts as sweep's
//! output does (a family byte, 4 or 6, then the address's bytes, so a range is a
//! `BETWEEN`), statuses and MACs as integers, a conflict's MACs as the scan writes them.

use crate::results::row::Status;
use crate::targets::Span;
use crate::wire::ether::Mac;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An address's key: its family byte then its bytes (IPv4 sorts first).
pub fn key(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => [&[4u8][..], &a.octets()].concat(),
        IpAddr::V6(a) => [&[6u8][..], &a.octets()].concat(),
    }
}

/// The address a key holds; `None` for bytes that are not one (a damaged file).
pub fn addr_of(k: &[u8]) -> Option<IpAddr> {
    match k.split_first()? {
        (4, rest) => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(rest).ok()?))),
        (6, rest) => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(rest).ok()?))),
        _ => None,
    }
}

/// The keys of a span's first and last address.
pub fn span_keys(s: &Span) -> (Vec<u8>, Vec<u8>) {
    let at = |v: u128| -> IpAddr {
        if s.v6 {
            Ipv6Addr::from(v).into()
        } else {
            Ipv4Addr::from(u32::try_from(v).unwrap_or(u32::MAX)).into()
        }
    };
    (key(at(s.first)), key(at(s.last)))
}

/// Milliseconds since the epoch (clamped: a clock before 1970 records as 1970).
pub fn ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub fn time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

pub fn status_code(s: Status) -> i64 {
    match s {
        Status::Down => 0,
        Status::Unreachable => 1,
        Status::Up => 2,
    }
}

pub fn status_of(code: i64) -> Status {
    match code {
        2 => Status::Up,
        1 => Status::Unreachable,
        _ => Status::Down,
    }
}

pub fn mac_code(m: Mac) -> i64 {
    // 48 bits: always fits.
    i64::try_from(m.to_u64()).unwrap_or(0)
}

pub fn mac_of(code: Option<i64>) -> Option<Mac> {
    code.and_then(|c| u64::try_from(c).ok())
        .map(|c| Mac::from_u64(c & 0xffff_ffff_ffff))
}

/// A conflict's MACs as the scan's `mac` column writes them: `;`-separated.
pub fn macs_text(macs: &[Mac]) -> String {
    macs.iter()
        .map(Mac::to_string)
        .collect::<Vec<_>>()
        .join(";")
}

/// The MACs of `macs_text`; a damaged entry is skipped.
pub fn macs_of(text: &str) -> Vec<Mac> {
    text.split(';').filter_map(|m| m.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_as_the_output_does_and_round_trip() {
        let addrs: Vec<IpAddr> = [
            "10.0.0.2",
            "198.18.0.1",
            "255.255.255.255",
            "::1",
            "fd00::1",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        let keys: Vec<_> = addrs.iter().map(|&a| key(a)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        for (a, k) in addrs.iter().zip(&keys) {
            assert_eq!(addr_of(k), Some(*a));
        }
        for junk in [&[][..], &[4, 1, 2], &[5, 1, 2, 3, 4], &[6; 3]] {
            assert_eq!(addr_of(junk), None);
        }
    }

    #[test]
    fn times_and_macs_survive_damage() {
        assert_eq!(time(-5), UNIX_EPOCH);
        assert_eq!(ms(time(1_700_000_000_123)), 1_700_000_000_123);
        assert_eq!(mac_of(Some(-1)), None);
        let m = Mac([0, 0x1b, 0x21, 0, 0, 1]);
        assert_eq!(mac_of(Some(mac_code(m))), Some(m));
        assert_eq!(macs_of(&macs_text(&[m, m])), [m, m]);
        assert_eq!(macs_of("zz;00:1b:21:00:00:01;"), [m]);
    }
}
