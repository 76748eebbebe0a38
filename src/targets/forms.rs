//! The target forms that are neither an address, a prefix nor a plain range: nmap's octet
//! forms (`192.168.1.1-254`, `10.0.0-3.1-20`, `192.168.1.*`), and the check that a name
//! could exist before anyone is asked to resolve it. Pure functions over the token.

/// The most pieces one octet form may expand to (`*.*.*.1` would be 16.7 M of them).
pub const MAX_PIECES: u64 = 1 << 20;

/// The inclusive IPv4 ranges (as `u32`) an nmap octet form names, in ascending order;
/// `None` when `token` is not one (not four octets, or no octet with `-` or `*`), and
/// `Some(Err(reason))` when it is one with a bad octet.
pub fn octets(token: &str) -> Option<Result<Vec<(u32, u32)>, String>> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 4 || !parts.iter().any(|p| p.contains('-') || *p == "*") {
        return None;
    }
    if !token
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '*'))
    {
        return None;
    }
    // `127.0.0.1-` reads as .1-.255 in nmap, but is more often a range whose end was
    // lost: a typo should not become a 255-host scan.
    if let Some(stem) = token.strip_suffix('-') {
        return Some(Err(format!(
            "a range with no end; for the rest of the block write {stem}-255"
        )));
    }
    let mut ranges = [(0u32, 0u32); 4];
    for (r, p) in ranges.iter_mut().zip(&parts) {
        *r = match octet(p) {
            Ok(r) => r,
            Err(reason) => return Some(Err(reason)),
        };
    }
    // The octets after the last partial one are whole (0-255): each combination of the
    // octets before it is one contiguous range.
    let full = |r: &(u32, u32)| *r == (0, 255);
    let last_partial = ranges.iter().rposition(|r| !full(r)).unwrap_or(0);
    let pieces: u64 = ranges[..last_partial]
        .iter()
        .map(|&(a, b)| u64::from(b - a + 1))
        .product();
    if pieces > MAX_PIECES {
        return Some(Err(format!(
            "{pieces} separate ranges; at most {MAX_PIECES} (put the ranges in the last octets)"
        )));
    }
    // Each combination of the leading octets, as a number; then its range (in u64, so
    // that no shift reaches 32 bits).
    let mut leading = vec![0u64];
    for &(a, b) in &ranges[..last_partial] {
        leading = leading
            .iter()
            .flat_map(|&p| (a..=b).map(move |o| (p << 8) | u64::from(o)))
            .collect();
    }
    let below = 8 * (3 - last_partial as u32); // bits after the partial octet
    let (lo, hi) = ranges[last_partial];
    let out = leading
        .into_iter()
        .map(|p| {
            let base = (p << 8) << below;
            let first = base | (u64::from(lo) << below);
            let last = base | (u64::from(hi) << below) | ((1u64 << below) - 1);
            (first as u32, last as u32)
        })
        .collect();
    Some(Ok(out))
}

/// One octet: `N`, `N-M` (either end may be left out: `-5` is 0-5, `250-` is 250-255) or `*`.
fn octet(p: &str) -> Result<(u32, u32), String> {
    let num = |s: &str, dflt: u32| -> Result<u32, String> {
        if s.is_empty() {
            return Ok(dflt);
        }
        match s.parse::<u32>() {
            Ok(v) if v <= 255 && s.len() <= 3 => Ok(v),
            _ => Err(format!("octet '{s}' is not 0-255")),
        }
    };
    if p == "*" {
        return Ok((0, 255));
    }
    if p.is_empty() {
        return Err("an empty octet".into());
    }
    let (a, b) = match p.split_once('-') {
        Some((a, b)) => (num(a, 0)?, num(b, 255)?),
        None => {
            let v = num(p, 0)?;
            (v, v)
        }
    };
    if a > b {
        return Err(format!("octet range '{p}' ends below its start"));
    }
    Ok((a, b))
}

/// Why `name` can never be a host's name (RFC 1035/1123 as resolvers apply them), or
/// `Ok` when a lookup could find it. A trailing dot (a rooted name) is allowed.
pub fn check_hostname(name: &str) -> Result<(), String> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.len() > 253 {
        return Err(format!(
            "a name of {} bytes; a hostname has at most 253",
            bare.len()
        ));
    }
    if let Some(c) = bare
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return Err(format!("'{c}' is in no hostname"));
    }
    let labels: Vec<&str> = bare.split('.').collect();
    for l in &labels {
        if l.is_empty() {
            return Err("an empty label (two dots, or a leading dot)".into());
        }
        if l.len() > 63 {
            return Err(format!("a label of {} bytes; at most 63", l.len()));
        }
    }
    if labels.len() > 1
        && labels
            .last()
            .is_some_and(|l| l.chars().all(|c| c.is_ascii_digit()))
    {
        return Err("an all-numeric last label: not an address, and no name ends so".into());
    }
    // `sweep 10.0.0.1 -oN x.txt` once looked `x.txt` up: a file's name is no host's.
    if let Some(ext) = labels
        .last()
        .filter(|_| labels.len() > 1)
        .map(|l| l.to_ascii_lowercase())
        .filter(|l| FILE_ENDINGS.contains(&l.as_str()))
    {
        return Err(format!(
            "a file's name (.{ext} is no top-level domain): targets from it are -f {bare} \
             (exclusions --exclude-file {bare}), output to it -o {bare}"
        ));
    }
    Ok(())
}

/// Endings of the files users pass around with scans, none of them a top-level domain.
const FILE_ENDINGS: [&str; 15] = [
    "csv", "tsv", "txt", "lst", "log", "xml", "json", "ndjson", "html", "htm", "nmap", "gnmap",
    "prom", "state", "journal",
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(s: &str) -> u32 {
        s.parse::<Ipv4Addr>().unwrap().into()
    }

    fn spans(t: &str) -> Vec<(u32, u32)> {
        octets(t).unwrap().unwrap()
    }

    // Parse-only: the lab block stands in for what users type (`192.168.1.1-254`).
    #[test]
    fn nmap_octet_forms() {
        assert_eq!(
            spans("198.18.1.1-254"),
            [(ip("198.18.1.1"), ip("198.18.1.254"))]
        );
        assert_eq!(
            spans("198.18.1.*"),
            [(ip("198.18.1.0"), ip("198.18.1.255"))]
        );
        assert_eq!(
            spans("198.18.0-3.1-20"),
            [
                (ip("198.18.0.1"), ip("198.18.0.20")),
                (ip("198.18.1.1"), ip("198.18.1.20")),
                (ip("198.18.2.1"), ip("198.18.2.20")),
                (ip("198.18.3.1"), ip("198.18.3.20")),
            ]
        );
        assert_eq!(
            spans("198.18-19.*.*"),
            [(ip("198.18.0.0"), ip("198.19.255.255"))]
        );
        assert_eq!(spans("*.0.0.1").len(), 256);
        assert_eq!(spans("*.0.0.1")[255], (ip("255.0.0.1"), ip("255.0.0.1")));
        assert_eq!(spans("*.*.*.*"), [(0, u32::MAX)]);
        assert_eq!(spans("127.0.0-1.1-3").len(), 2);
        // An open end inside the form is nmap's shorthand (0-5, 250-255).
        assert_eq!(
            spans("198.18.250-.1"),
            (250..=255)
                .map(|o| (ip("198.18.0.1") + o * 256, ip("198.18.0.1") + o * 256))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_range_with_no_end_is_refused_with_the_whole_block_suggested() {
        let e = octets("198.18.0.250-").unwrap().unwrap_err();
        assert!(
            e.contains("no end") && e.contains("198.18.0.250-255"),
            "{e}"
        );
    }

    #[test]
    fn not_octet_forms_or_bad_ones() {
        for t in [
            "198.18.1.1",
            "198.18.0.1-198.18.0.9",
            "a-b.example",
            "1.2.3",
            "::1",
        ] {
            assert!(octets(t).is_none(), "{t}");
        }
        for (t, why) in [
            ("198.18.1.1-256", "'256'"),
            ("198.18.1.9-1", "below its start"),
            ("198..1.*", "empty octet"),
            ("*.*.*.1", "separate ranges"),
        ] {
            let e = octets(t).unwrap().unwrap_err();
            assert!(e.contains(why), "{t}: {e}");
        }
    }

    #[test]
    fn names_that_cannot_exist() {
        for ok in [
            "host",
            "a.example",
            "a-b.example.",
            "x_y.lan",
            "3com.example",
        ] {
            assert_eq!(check_hostname(ok), Ok(()), "{ok}");
        }
        let long_label = format!("{}.example", "a".repeat(64));
        let long_name = vec!["abcdefghi"; 26].join(".");
        for (bad, why) in [
            ("bogus..target", "empty label"),
            (".lead", "empty label"),
            (long_label.as_str(), "at most 63"),
            (long_name.as_str(), "at most 253"),
            ("host.123", "all-numeric"),
            ("bad!name", "'!'"),
            ("x.txt", "-f x.txt"),
            ("out.CSV", "a file's name"),
            ("scan.gnmap", "-o scan.gnmap"),
        ] {
            let e = check_hostname(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
