//! Target specs → a sorted, de-duplicated index space `0..len` with `addr_at(i)`.
//! Stored as disjoint address ranges, so a /8 costs a few bytes, not 16 M entries.

use crate::error::{Error, Result};
use ipnetwork::{Ipv4Network, Ipv6Network};
use std::io::{self, BufRead};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
use std::path::Path;

/// Inclusive address range `[first, last]` as host-order integers.
pub type Span = (u32, u32);

/// Resolves a hostname to its addresses; a parameter so tests need no DNS.
pub type Resolver<'a> = &'a dyn Fn(&str) -> io::Result<Vec<IpAddr>>;

/// The system resolver (getaddrinfo), called once per hostname.
pub fn system_resolve(host: &str) -> io::Result<Vec<IpAddr>> {
    Ok((host, 0).to_socket_addrs()?.map(|s| s.ip()).collect())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    spans: Vec<Span>,
    /// `offsets[k]` is the index of `spans[k].0`.
    offsets: Vec<u64>,
    len: u64,
}

impl Targets {
    /// Union of `include` minus union of `exclude`.
    pub fn new(include: Vec<Span>, exclude: Vec<Span>) -> Targets {
        let spans = subtract(merge(include), &merge(exclude));
        let mut offsets = Vec::with_capacity(spans.len());
        let mut len = 0u64;
        for &(a, b) in &spans {
            offsets.push(len);
            len += u64::from(b - a) + 1;
        }
        Targets {
            spans,
            offsets,
            len,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address at index `i` (ascending address order). Panics if `i >= len`.
    pub fn addr_at(&self, i: u64) -> Ipv4Addr {
        let k = self.offsets.partition_point(|&o| o <= i) - 1;
        Ipv4Addr::from(self.spans[k].0 + (i - self.offsets[k]) as u32)
    }

    /// Inverse of `addr_at`: where `addr` sits in the index space, if it is a target.
    pub fn index_of(&self, addr: Ipv4Addr) -> Option<u64> {
        let a = u32::from(addr);
        let k = self.spans.partition_point(|&(first, _)| first <= a);
        let (first, last) = *self.spans.get(k.checked_sub(1)?)?;
        (a <= last).then(|| self.offsets[k - 1] + u64::from(a - first))
    }

    pub fn spans(&self) -> &[Span] {
        &self.spans
    }
}

/// Which set a spec is parsed for: targets skip network/broadcast of a prefix, exclusions don't.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Target,
    Exclude,
}

/// Parses one spec: CIDR, address, `a.b.c.d-e.f.g.h` range, or hostname.
pub fn parse_spec(token: &str, role: Role, resolve: Resolver) -> Result<Vec<Span>> {
    let token = token.trim();
    let bad = |reason: &str| Error::BadTarget {
        token: token.to_string(),
        reason: reason.to_string(),
    };
    if token.is_empty() {
        return Err(bad("empty"));
    }
    if token.contains(':') {
        if token.parse::<Ipv6Addr>().is_ok() || token.parse::<Ipv6Network>().is_ok() {
            return Err(Error::Ipv6 {
                token: token.to_string(),
            });
        }
        return Err(bad("not an IPv4 address, range, prefix or hostname"));
    }
    if let Some((addr, len)) = token.split_once('/') {
        let _: Ipv4Addr = addr.parse().map_err(|_| bad("bad address in prefix"))?;
        let net: Ipv4Network = token
            .parse()
            .map_err(|_| bad(&format!("bad prefix length '{len}' (0-32)")))?;
        let (first, last) = (u32::from(net.network()), u32::from(net.broadcast()));
        // Like fping -g: a prefix shorter than /31 has a network and a broadcast address
        // that no host answers for as itself.
        return Ok(if role == Role::Target && net.prefix() < 31 {
            vec![(first + 1, last - 1)]
        } else {
            vec![(first, last)]
        });
    }
    if let Ok(a) = token.parse::<Ipv4Addr>() {
        return Ok(vec![(a.into(), a.into())]);
    }
    if let Some((l, r)) = token.split_once('-') {
        if let Ok(first) = l.trim().parse::<Ipv4Addr>() {
            let last: Ipv4Addr = r.trim().parse().map_err(|_| bad("bad range end"))?;
            if first > last {
                return Err(bad("range end is below its start"));
            }
            return Ok(vec![(first.into(), last.into())]);
        }
    }
    if token.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad("not a valid IPv4 address"));
    }
    if !token
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(bad("not an IPv4 address, range, prefix or hostname"));
    }
    let addrs = resolve(token).map_err(|e| Error::Resolve {
        host: token.to_string(),
        reason: e.to_string(),
    })?;
    let v4: Vec<Span> = addrs
        .iter()
        .filter_map(|a| match a {
            IpAddr::V4(a) => Some((u32::from(*a), u32::from(*a))),
            IpAddr::V6(_) => None,
        })
        .collect();
    if v4.is_empty() {
        return Err(Error::Resolve {
            host: token.to_string(),
            reason: if addrs.is_empty() {
                "no addresses".into()
            } else {
                "it has only IPv6 addresses".into()
            },
        });
    }
    Ok(v4)
}

/// Reads specs one per line from a file or `-` (stdin); blank lines and `#` comments skipped.
pub fn read_spec_file(path: &Path) -> Result<Vec<String>> {
    let err = |source| Error::ReadInput {
        path: path.to_path_buf(),
        source,
    };
    let reader: Box<dyn BufRead> = if path == Path::new("-") {
        Box::new(io::stdin().lock())
    } else {
        Box::new(io::BufReader::new(std::fs::File::open(path).map_err(err)?))
    };
    let mut specs = Vec::new();
    for line in reader.lines() {
        let line = line.map_err(err)?;
        let spec = line.split('#').next().unwrap_or("").trim();
        specs.extend(spec.split_whitespace().map(str::to_string));
    }
    Ok(specs)
}

fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_unstable();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for (a, b) in spans {
        match out.last_mut() {
            // Adjacent or overlapping: extend (u64 avoids overflow at 255.255.255.255).
            Some(last) if u64::from(a) <= u64::from(last.1) + 1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// `spans` minus `cut`, both sorted and disjoint.
fn subtract(spans: Vec<Span>, cut: &[Span]) -> Vec<Span> {
    let mut out = Vec::with_capacity(spans.len());
    let mut j = 0;
    for (mut a, b) in spans {
        while j < cut.len() && cut[j].1 < a {
            j += 1;
        }
        let mut k = j;
        let mut alive = true;
        while k < cut.len() && cut[k].0 <= b {
            let (ca, cb) = cut[k];
            if ca > a {
                out.push((a, ca - 1));
            }
            if cb >= b {
                alive = false;
                break;
            }
            a = cb + 1;
            k += 1;
        }
        if alive {
            out.push((a, b));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn no_dns(_: &str) -> io::Result<Vec<IpAddr>> {
        Err(io::Error::new(io::ErrorKind::NotFound, "no such host"))
    }
    fn fake_dns(h: &str) -> io::Result<Vec<IpAddr>> {
        match h {
            "dual.test" => Ok(vec!["::1".parse().unwrap(), "192.0.2.7".parse().unwrap()]),
            "v6only.test" => Ok(vec!["::1".parse().unwrap()]),
            _ => no_dns(h),
        }
    }
    fn spec(t: &str) -> Result<Vec<Span>> {
        parse_spec(t, Role::Target, &fake_dns)
    }
    fn ip(s: &str) -> u32 {
        s.parse::<Ipv4Addr>().unwrap().into()
    }

    #[test]
    fn cidr_skips_network_and_broadcast() {
        assert_eq!(
            spec("10.0.0.0/24").unwrap(),
            vec![(ip("10.0.0.1"), ip("10.0.0.254"))]
        );
        assert_eq!(
            spec("10.0.0.5/24").unwrap(),
            vec![(ip("10.0.0.1"), ip("10.0.0.254"))]
        );
        assert_eq!(
            spec("10.0.0.0/31").unwrap(),
            vec![(ip("10.0.0.0"), ip("10.0.0.1"))]
        );
        assert_eq!(
            spec("10.0.0.9/32").unwrap(),
            vec![(ip("10.0.0.9"), ip("10.0.0.9"))]
        );
        let ex = parse_spec("10.0.0.0/24", Role::Exclude, &no_dns).unwrap();
        assert_eq!(ex, vec![(ip("10.0.0.0"), ip("10.0.0.255"))]);
    }

    #[test]
    fn address_range_and_host() {
        assert_eq!(
            spec("10.0.0.1-10.0.3.20").unwrap(),
            vec![(ip("10.0.0.1"), ip("10.0.3.20"))]
        );
        assert_eq!(
            spec("dual.test").unwrap(),
            vec![(ip("192.0.2.7"), ip("192.0.2.7"))]
        );
        assert_eq!(
            spec(" 1.2.3.4 ").unwrap(),
            vec![(ip("1.2.3.4"), ip("1.2.3.4"))]
        );
    }

    #[test]
    fn bad_specs_name_the_token() {
        for t in [
            "10.0.0.0/33",
            "10.0.0.256",
            "1.2.3",
            "10.0.0.9-10.0.0.1",
            "a b",
            "x/8",
            "1.2.3.4-x",
        ] {
            let e = spec(t).unwrap_err();
            assert!(matches!(e, Error::BadTarget { .. }), "{t}: {e}");
            assert!(e.to_string().contains(t), "{e}");
        }
        assert!(matches!(spec("::1"), Err(Error::Ipv6 { .. })));
        assert!(matches!(spec("fd00::/104"), Err(Error::Ipv6 { .. })));
        assert!(matches!(spec("nowhere.test"), Err(Error::Resolve { .. })));
        assert!(matches!(spec("v6only.test"), Err(Error::Resolve { .. })));
    }

    #[test]
    fn overlaps_merge_and_exclusions_cut() {
        let t = Targets::new(
            vec![(10, 20), (15, 30), (31, 31), (50, 60)],
            vec![(12, 12), (20, 52), (60, 70)],
        );
        assert_eq!(t.spans(), &[(10, 11), (13, 19), (53, 59)]);
        assert_eq!(t.len(), 2 + 7 + 7);
        assert_eq!(t.addr_at(0), Ipv4Addr::from(10));
        assert_eq!(t.addr_at(2), Ipv4Addr::from(13));
        assert_eq!(t.addr_at(15), Ipv4Addr::from(59));
        assert_eq!(t.index_of(Ipv4Addr::from(12)), None);
        assert_eq!(t.index_of(Ipv4Addr::from(53)), Some(9));
        assert_eq!(t.index_of(Ipv4Addr::from(9)), None);
        assert_eq!(t.index_of(Ipv4Addr::from(99)), None);
    }

    #[test]
    fn whole_space_does_not_overflow() {
        let t = Targets::new(vec![(0, u32::MAX), (5, 9)], vec![]);
        assert_eq!(t.len(), 1 << 32);
        assert_eq!(t.addr_at((1 << 32) - 1), Ipv4Addr::BROADCAST);
        assert!(Targets::new(vec![(1, 5)], vec![(0, u32::MAX)]).is_empty());
    }

    proptest! {
        #[test]
        fn index_space_matches_a_naive_set(
            inc in prop::collection::vec((0u32..2000, 0u32..50), 0..8),
            exc in prop::collection::vec((0u32..2000, 0u32..50), 0..8),
        ) {
            let span = |v: &Vec<(u32, u32)>| v.iter().map(|&(a, l)| (a, a + l)).collect::<Vec<_>>();
            let t = Targets::new(span(&inc), span(&exc));
            let mut naive = std::collections::BTreeSet::new();
            for (a, b) in span(&inc) { naive.extend(a..=b); }
            for (a, b) in span(&exc) { for x in a..=b { naive.remove(&x); } }
            prop_assert_eq!(t.len(), naive.len() as u64);
            for (i, &x) in naive.iter().enumerate() {
                prop_assert_eq!(t.addr_at(i as u64), Ipv4Addr::from(x));
                prop_assert_eq!(t.index_of(Ipv4Addr::from(x)), Some(i as u64));
            }
        }

        #[test]
        fn any_dotted_quad_with_prefix_parses(a: u32, len in 0u8..=32) {
            let tok = format!("{}/{}", Ipv4Addr::from(a), len);
            let spans = parse_spec(&tok, Role::Exclude, &no_dns).unwrap();
            let size = u64::from(spans[0].1 - spans[0].0) + 1;
            prop_assert_eq!(size, 1u64 << (32 - len));
        }

        #[test]
        fn garbage_never_panics(s in "\\PC{0,30}") {
            let _ = parse_spec(&s, Role::Target, &no_dns);
        }
    }
}
