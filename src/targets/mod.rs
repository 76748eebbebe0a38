//! Target specs → a sorted, de-duplicated index space `0..len` with `addr_at(i)`.
//! Stored as disjoint address ranges, so a /8 costs a few bytes, not 16 M entries.

pub mod build;
pub mod forms;
pub mod permute;

use crate::error::{Error, Result};
use ipnetwork::{Ipv4Network, Ipv6Network};
use std::io::{self, BufRead, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
use std::path::Path;

/// Inclusive address range of one family, as integers (an IPv4 address fits in the low
/// 32 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub v6: bool,
    pub first: u128,
    pub last: u128,
}

impl Span {
    pub fn v4(first: u32, last: u32) -> Span {
        Span {
            v6: false,
            first: first.into(),
            last: last.into(),
        }
    }

    pub fn v6(first: u128, last: u128) -> Span {
        Span {
            v6: true,
            first,
            last,
        }
    }

    fn of(a: IpAddr) -> Span {
        match a {
            IpAddr::V4(a) => Span::v4(a.into(), a.into()),
            IpAddr::V6(a) => Span::v6(a.into(), a.into()),
        }
    }

    /// Addresses in the span (saturating: only `::/0` overflows).
    pub fn size(&self) -> u128 {
        (self.last - self.first).saturating_add(1)
    }
}

/// The most addresses one IPv6 prefix or range may name: 2^24 (a /104).
pub const MAX_V6_SPAN: u128 = 1 << 24;

/// Which address family a hostname contributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    /// IPv4 addresses if it has any, else IPv6.
    #[default]
    Any,
    V4,
    V6,
}

/// Resolves a hostname to its addresses; a parameter so tests need no DNS.
pub type Resolver<'a> = &'a dyn Fn(&str) -> io::Result<Vec<IpAddr>>;

/// The system resolver (getaddrinfo), called once per hostname.
pub fn system_resolve(host: &str) -> io::Result<Vec<IpAddr>> {
    Ok((host, 0).to_socket_addrs()?.map(|s| s.ip()).collect())
}

/// Disjoint, sorted spans of one family, with the index of each span's first address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SpanSet {
    spans: Vec<(u128, u128)>,
    offsets: Vec<u64>,
    len: u64,
}

impl SpanSet {
    fn new(include: Vec<(u128, u128)>, exclude: Vec<(u128, u128)>) -> SpanSet {
        let spans = subtract(merge(include), &merge(exclude));
        let mut offsets = Vec::with_capacity(spans.len());
        let mut len = 0u64;
        for &(a, b) in &spans {
            offsets.push(len);
            len = len.saturating_add(u64::try_from(b - a).unwrap_or(u64::MAX).saturating_add(1));
        }
        SpanSet {
            spans,
            offsets,
            len,
        }
    }

    fn nth(&self, i: u64) -> u128 {
        let k = self.offsets.partition_point(|&o| o <= i) - 1;
        self.spans[k].0 + u128::from(i - self.offsets[k])
    }

    fn position(&self, a: u128) -> Option<u64> {
        let k = self.spans.partition_point(|&(first, _)| first <= a);
        let (first, last) = *self.spans.get(k.checked_sub(1)?)?;
        (a <= last).then(|| self.offsets[k - 1] + (a - first) as u64)
    }
}

/// The scan's targets as one index space `0..len`: every IPv4 target in ascending
/// order, then every IPv6 target in ascending order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    v4: SpanSet,
    v6: SpanSet,
}

impl Targets {
    /// Union of `include` minus union of `exclude`, per family.
    pub fn new(include: Vec<Span>, exclude: Vec<Span>) -> Targets {
        let pick = |spans: &[Span], v6: bool| -> Vec<(u128, u128)> {
            spans
                .iter()
                .filter(|s| s.v6 == v6)
                .map(|s| (s.first, s.last))
                .collect()
        };
        Targets {
            v4: SpanSet::new(pick(&include, false), pick(&exclude, false)),
            v6: SpanSet::new(pick(&include, true), pick(&exclude, true)),
        }
    }

    /// IPv4-only shorthand (tests, benches, fuzzing).
    pub fn from_v4(include: Vec<(u32, u32)>, exclude: Vec<(u32, u32)>) -> Targets {
        let spans = |v: Vec<(u32, u32)>| v.into_iter().map(|(a, b)| Span::v4(a, b)).collect();
        Targets::new(spans(include), spans(exclude))
    }

    pub fn len(&self) -> u64 {
        self.v4.len + self.v6.len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn has_v4(&self) -> bool {
        self.v4.len > 0
    }

    pub fn has_v6(&self) -> bool {
        self.v6.len > 0
    }

    /// The address at index `i` (ascending address order). Panics if `i >= len`.
    #[inline]
    pub fn addr_at(&self, i: u64) -> IpAddr {
        if i < self.v4.len {
            IpAddr::V4(Ipv4Addr::from(self.v4.nth(i) as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from(self.v6.nth(i - self.v4.len)))
        }
    }

    /// Inverse of `addr_at`: where `addr` sits in the index space, if it is a target.
    #[inline]
    pub fn index_of(&self, addr: IpAddr) -> Option<u64> {
        match addr {
            IpAddr::V4(a) => self.v4.position(u32::from(a).into()),
            IpAddr::V6(a) => Some(self.v4.len + self.v6.position(a.into())?),
        }
    }

    /// Every span, IPv4 first: what identifies the target set.
    pub fn spans(&self) -> impl Iterator<Item = Span> + '_ {
        let v4 = self
            .v4
            .spans
            .iter()
            .map(|&(a, b)| Span::v4(a as u32, b as u32));
        let v6 = self.v6.spans.iter().map(|&(a, b)| Span::v6(a, b));
        v4.chain(v6)
    }
}

/// Which set a spec is parsed for: targets skip network/broadcast of a prefix, exclusions don't.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Target,
    Exclude,
}

/// Parses one spec: CIDR, address, `first-last` range, nmap octet form, or hostname, in
/// either family.
pub fn parse_spec(token: &str, role: Role, family: Family, resolve: Resolver) -> Result<Vec<Span>> {
    let token = token.trim();
    let bad = |reason: &str| Error::BadTarget {
        token: token.to_string(),
        reason: reason.to_string(),
    };
    if token.is_empty() {
        return Err(bad("empty"));
    }
    if token.contains(':') {
        return parse_v6(token, role);
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
            vec![Span::v4(first + 1, last - 1)]
        } else {
            vec![Span::v4(first, last)]
        });
    }
    if let Ok(a) = token.parse::<Ipv4Addr>() {
        return Ok(vec![Span::of(a.into())]);
    }
    if let Some((l, r)) = token.split_once('-') {
        if let (Ok(first), Ok(last)) = (l.trim().parse::<Ipv4Addr>(), r.trim().parse::<Ipv4Addr>())
        {
            if first > last {
                return Err(bad("range end is below its start"));
            }
            return Ok(vec![Span::v4(first.into(), last.into())]);
        }
    }
    // nmap's octet forms: 192.168.1.1-254, 10.0.0-3.1-20, 192.168.1.*
    if let Some(form) = forms::octets(token) {
        let ranges = form.map_err(|reason| bad(&reason))?;
        return Ok(ranges.into_iter().map(|(a, b)| Span::v4(a, b)).collect());
    }
    if let Some((l, _)) = token.split_once('-') {
        if l.trim().parse::<Ipv4Addr>().is_ok() {
            return Err(bad("bad range end"));
        }
    }
    if token.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad("not a valid IPv4 address"));
    }
    // A name no host can have is the user's mistake, not the resolver's: no lookup.
    forms::check_hostname(token).map_err(|reason| {
        bad(&format!(
            "not an address, range, prefix or possible hostname: {reason}"
        ))
    })?;
    resolve_host(token, family, resolve)
}

/// Specs as `parse_spec` reads them, but never a hostname: for questions about addresses
/// already known (`sweep inventory`), where a lookup would answer a different question.
pub fn parse_ranges(specs: &[String], role: Role) -> Result<Vec<Span>> {
    let refuse = |_: &str| -> io::Result<Vec<IpAddr>> {
        Err(io::Error::other(
            "names are not looked up here; give addresses, ranges or prefixes",
        ))
    };
    let mut out = Vec::new();
    for s in specs {
        out.extend(parse_spec(s, role, Family::Any, &refuse)?);
    }
    Ok(out)
}

/// An IPv6 prefix of more than `MAX_V6_SPAN` addresses and at least a /64 (the size of
/// one segment's prefix): `(network, length)`. Such a prefix can be scanned only where
/// it is on-link, by discovery (`run::discover`).
pub fn too_large_v6(token: &str) -> Option<(Ipv6Addr, u8)> {
    let net: Ipv6Network = token.trim().parse().ok()?;
    let size = 1u128
        .checked_shl(128 - u32::from(net.prefix()))
        .unwrap_or(u128::MAX);
    (net.prefix() >= 64 && size > MAX_V6_SPAN).then(|| (net.network(), net.prefix()))
}

fn parse_v6(token: &str, role: Role) -> Result<Vec<Span>> {
    let bad = |reason: String| Error::BadTarget {
        token: token.to_string(),
        reason,
    };
    let too_big = |n: u128| {
        bad(format!(
            "{n} addresses; an IPv6 prefix or range may hold at most 2^24 (a /104 or longer), \
             or be a /64 (or longer) on one of our Ethernet segments, found by discovery"
        ))
    };
    if let Some((addr, len)) = token.split_once('/') {
        let _: Ipv6Addr = addr
            .parse()
            .map_err(|_| bad("bad IPv6 address in prefix".into()))?;
        let net: Ipv6Network = token
            .parse()
            .map_err(|_| bad(format!("bad prefix length '{len}' (0-128)")))?;
        let span = Span::v6(net.network().into(), net.broadcast().into());
        // Exclusions may be as large as they like: they only remove.
        if role == Role::Target && span.size() > MAX_V6_SPAN {
            return Err(too_big(span.size()));
        }
        return Ok(vec![span]);
    }
    if let Ok(a) = token.parse::<Ipv6Addr>() {
        return Ok(vec![Span::of(a.into())]);
    }
    if let Some((l, r)) = token.split_once('-') {
        let first: Ipv6Addr = l
            .trim()
            .parse()
            .map_err(|_| bad("bad range start".into()))?;
        let last: Ipv6Addr = r.trim().parse().map_err(|_| bad("bad range end".into()))?;
        if first > last {
            return Err(bad("range end is below its start".into()));
        }
        let span = Span::v6(first.into(), last.into());
        if role == Role::Target && span.size() > MAX_V6_SPAN {
            return Err(too_big(span.size()));
        }
        return Ok(vec![span]);
    }
    Err(bad("not a valid IPv6 address, range or prefix".into()))
}

fn resolve_host(host: &str, family: Family, resolve: Resolver) -> Result<Vec<Span>> {
    let err = |reason: String| Error::Resolve {
        host: host.to_string(),
        reason,
    };
    let addrs = resolve(host).map_err(|e| err(e.to_string()))?;
    let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) = addrs.iter().partition(|a| a.is_ipv4());
    let chosen = match family {
        Family::V4 => v4,
        Family::V6 => v6,
        Family::Any if !v4.is_empty() => v4,
        Family::Any => v6,
    };
    if chosen.is_empty() {
        return Err(err(match (family, addrs.is_empty()) {
            (_, true) => "no addresses".into(),
            (Family::V4, false) => "it has no IPv4 address (try -6)".into(),
            (_, false) => "it has no IPv6 address (try -4)".into(),
        }));
    }
    Ok(chosen.into_iter().map(Span::of).collect())
}

/// The longest line a target or exclude file may have: a spec is far shorter, and a file
/// without line ends (`-f /dev/zero`) must fail at once instead of filling memory.
pub const MAX_LINE: usize = 4096;
/// The most lines (comments and blanks included) and specs one file may hold.
pub const MAX_LINES: u64 = 1 << 26;
pub const MAX_SPECS: usize = 1 << 24;

/// Reads specs one per line from a file or `-` (stdin), each with its line number; blank
/// lines and `#` comments skipped.
pub fn read_spec_file(path: &Path) -> Result<Vec<(String, u64)>> {
    let err = |source| Error::ReadInput {
        path: path.to_path_buf(),
        source,
    };
    let reader: Box<dyn BufRead> = if path == Path::new("-") {
        Box::new(io::stdin().lock())
    } else {
        Box::new(io::BufReader::new(std::fs::File::open(path).map_err(err)?))
    };
    read_specs(reader, MAX_LINES, MAX_SPECS).map_err(err)
}

fn read_specs(
    mut reader: impl BufRead,
    max_lines: u64,
    max_specs: usize,
) -> io::Result<Vec<(String, u64)>> {
    let bad = |reason: String| io::Error::new(io::ErrorKind::InvalidData, reason);
    let mut specs = Vec::new();
    let mut buf = Vec::with_capacity(256);
    for line_no in 1u64.. {
        buf.clear();
        // One byte past the limit: enough to know the line is too long, no more.
        let n = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if line.len() > MAX_LINE {
            return Err(bad(format!(
                "line {line_no} is longer than {MAX_LINE} bytes"
            )));
        }
        if line_no > max_lines {
            return Err(bad(format!("more than {max_lines} lines")));
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| bad(format!("line {line_no} is not valid UTF-8")))?;
        let spec = line.split('#').next().unwrap_or("").trim();
        specs.extend(spec.split_whitespace().map(|s| (s.to_string(), line_no)));
        if specs.len() > max_specs {
            return Err(bad(format!(
                "more than {max_specs} targets (line {line_no})"
            )));
        }
    }
    Ok(specs)
}

fn merge(mut spans: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    spans.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(spans.len());
    for (a, b) in spans {
        match out.last_mut() {
            // Adjacent or overlapping: extend (saturating: the top address has no successor).
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// `spans` minus `cut`, both sorted and disjoint.
fn subtract(spans: Vec<(u128, u128)>, cut: &[(u128, u128)]) -> Vec<(u128, u128)> {
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

    #[test]
    fn spec_files_are_bounded() {
        let read = |r| read_specs(r, MAX_LINES, MAX_SPECS);
        let ok = read(&b"10.0.0.1 10.0.0.2 # two\r\n\n# none\n10.0.1.0/24"[..]).unwrap();
        let at = |s: &str, n| (s.to_string(), n);
        assert_eq!(
            ok,
            [at("10.0.0.1", 1), at("10.0.0.2", 1), at("10.0.1.0/24", 4)]
        );
        let mut exact = vec![b' '; MAX_LINE - 3];
        exact.extend_from_slice(b"a.b\n");
        assert_eq!(read(&exact[..]).unwrap(), [at("a.b", 1)]);
        let long = vec![b'1'; MAX_LINE + 1];
        let e = read(&long[..]).unwrap_err().to_string();
        assert_eq!(e, "line 1 is longer than 4096 bytes");
        // Endless input without line ends stops after one line's worth.
        let e = read_specs(io::BufReader::new(io::repeat(0)), MAX_LINES, MAX_SPECS).unwrap_err();
        assert!(e.to_string().contains("line 1 is longer"), "{e}");
        let e = read(&b"ok\n\xff\n"[..]).unwrap_err().to_string();
        assert_eq!(e, "line 2 is not valid UTF-8");
        let e = read_specs(io::BufReader::new(io::repeat(b'\n')), 1000, 10).unwrap_err();
        assert_eq!(e.to_string(), "more than 1000 lines");
        let e = read_specs(io::BufReader::new(io::repeat(b'x')).take(1 << 20), 1000, 10);
        assert!(e.unwrap_err().to_string().contains("longer"));
        let many = "1.2.3.4 ".repeat(6) + "\n" + &"1.2.3.4 ".repeat(6);
        let e = read_specs(many.as_bytes(), 1000, 10)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "more than 10 targets (line 2)");
    }
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
        parse_spec(t, Role::Target, Family::Any, &fake_dns)
    }
    fn v4(a: &str, b: &str) -> Vec<Span> {
        vec![Span::v4(ip(a), ip(b))]
    }
    fn ip(s: &str) -> u32 {
        s.parse::<Ipv4Addr>().unwrap().into()
    }

    #[test]
    fn cidr_skips_network_and_broadcast() {
        assert_eq!(spec("10.0.0.0/24").unwrap(), v4("10.0.0.1", "10.0.0.254"));
        assert_eq!(spec("10.0.0.5/24").unwrap(), v4("10.0.0.1", "10.0.0.254"));
        assert_eq!(spec("10.0.0.0/31").unwrap(), v4("10.0.0.0", "10.0.0.1"));
        assert_eq!(spec("10.0.0.9/32").unwrap(), v4("10.0.0.9", "10.0.0.9"));
        let ex = parse_spec("10.0.0.0/24", Role::Exclude, Family::Any, &no_dns).unwrap();
        assert_eq!(ex, v4("10.0.0.0", "10.0.0.255"));
    }

    #[test]
    fn address_range_and_host() {
        assert_eq!(
            spec("10.0.0.1-10.0.3.20").unwrap(),
            v4("10.0.0.1", "10.0.3.20")
        );
        assert_eq!(spec("dual.test").unwrap(), v4("192.0.2.7", "192.0.2.7"));
        assert_eq!(spec(" 1.2.3.4 ").unwrap(), v4("1.2.3.4", "1.2.3.4"));
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
        for t in [
            "2001:2::/64",
            "2001:2::/103",
            "::-2001::",
            "2001:2::x",
            "2001:2::/129",
        ] {
            let e = spec(t).unwrap_err();
            assert!(e.to_string().contains(t), "{e}");
        }
        assert!(spec("2001:2::/64")
            .unwrap_err()
            .to_string()
            .contains("2^24"));
        assert!(matches!(spec("nowhere.test"), Err(Error::Resolve { .. })));
    }

    #[test]
    fn overlaps_merge_and_exclusions_cut() {
        let t = Targets::from_v4(
            vec![(10, 20), (15, 30), (31, 31), (50, 60)],
            vec![(12, 12), (20, 52), (60, 70)],
        );
        let spans: Vec<Span> = t.spans().collect();
        assert_eq!(
            spans,
            [Span::v4(10, 11), Span::v4(13, 19), Span::v4(53, 59)]
        );
        assert_eq!(t.len(), 2 + 7 + 7);
        assert_eq!(t.addr_at(0), IpAddr::from(Ipv4Addr::from(10)));
        assert_eq!(t.addr_at(2), IpAddr::from(Ipv4Addr::from(13)));
        assert_eq!(t.addr_at(15), IpAddr::from(Ipv4Addr::from(59)));
        assert_eq!(t.index_of(Ipv4Addr::from(12).into()), None);
        assert_eq!(t.index_of(Ipv4Addr::from(53).into()), Some(9));
        assert_eq!(t.index_of(Ipv4Addr::from(9).into()), None);
        assert_eq!(t.index_of(Ipv4Addr::from(99).into()), None);
    }

    #[test]
    fn whole_space_does_not_overflow() {
        let t = Targets::from_v4(vec![(0, u32::MAX), (5, 9)], vec![]);
        assert_eq!(t.len(), 1 << 32);
        assert_eq!(t.addr_at((1 << 32) - 1), IpAddr::from(Ipv4Addr::BROADCAST));
        assert!(Targets::from_v4(vec![(1, 5)], vec![(0, u32::MAX)]).is_empty());
        let all6 = Span::v6(0, u128::MAX);
        let t = Targets::new(vec![all6], vec![Span::v6(1, u128::MAX)]);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn families_share_one_index_space_v4_first() {
        let v6 = |s: &str| u128::from(s.parse::<Ipv6Addr>().unwrap());
        let inc = vec![
            Span::v6(v6("2001:2::1"), v6("2001:2::3")),
            Span::v4(ip("198.18.0.1"), ip("198.18.0.2")),
        ];
        let t = Targets::new(inc, vec![Span::v6(v6("2001:2::2"), v6("2001:2::2"))]);
        let all: Vec<String> = (0..t.len()).map(|i| t.addr_at(i).to_string()).collect();
        assert_eq!(all, ["198.18.0.1", "198.18.0.2", "2001:2::1", "2001:2::3"]);
        assert_eq!(t.index_of("2001:2::3".parse().unwrap()), Some(3));
        assert_eq!(t.index_of("2001:2::2".parse().unwrap()), None);
        assert!(t.has_v4() && t.has_v6());
        assert_eq!(spec("2001:2::/120").unwrap()[0].size(), 256);
        assert_eq!(spec("2001:2::/104").unwrap()[0].size(), 1 << 24);
        assert_eq!(spec("2001:2::1-2001:2::ff").unwrap()[0].size(), 255);
    }

    #[test]
    fn hostname_family_choice() {
        let dual = |f| parse_spec("dual.test", Role::Target, f, &fake_dns);
        assert!(!dual(Family::Any).unwrap()[0].v6);
        assert!(!dual(Family::V4).unwrap()[0].v6);
        assert!(dual(Family::V6).unwrap()[0].v6);
        let v6only = |f| parse_spec("v6only.test", Role::Target, f, &fake_dns);
        assert!(v6only(Family::Any).unwrap()[0].v6);
        assert!(matches!(v6only(Family::V4), Err(Error::Resolve { .. })));
    }

    proptest! {
        #[test]
        fn index_space_matches_a_naive_set(
            inc in prop::collection::vec((0u32..2000, 0u32..50), 0..8),
            exc in prop::collection::vec((0u32..2000, 0u32..50), 0..8),
        ) {
            let span = |v: &Vec<(u32, u32)>| v.iter().map(|&(a, l)| (a, a + l)).collect::<Vec<_>>();
            let t = Targets::from_v4(span(&inc), span(&exc));
            let mut naive = std::collections::BTreeSet::new();
            for (a, b) in span(&inc) { naive.extend(a..=b); }
            for (a, b) in span(&exc) { for x in a..=b { naive.remove(&x); } }
            prop_assert_eq!(t.len(), naive.len() as u64);
            for (i, &x) in naive.iter().enumerate() {
                prop_assert_eq!(t.addr_at(i as u64), IpAddr::from(Ipv4Addr::from(x)));
                prop_assert_eq!(t.index_of(Ipv4Addr::from(x).into()), Some(i as u64));
            }
        }

        #[test]
        fn any_dotted_quad_with_prefix_parses(a: u32, len in 0u8..=32) {
            let tok = format!("{}/{}", Ipv4Addr::from(a), len);
            let spans = parse_spec(&tok, Role::Exclude, Family::Any, &no_dns).unwrap();
            prop_assert_eq!(spans[0].size(), 1u128 << (32 - len));
        }

        #[test]
        fn garbage_never_panics(s in "\\PC{0,30}") {
            let _ = parse_spec(&s, Role::Target, Family::Any, &no_dns);
        }
    }
}
