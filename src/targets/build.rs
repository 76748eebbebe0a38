//! The scan's targets from what the user named: every spec and spec file parsed (names
//! resolved once), merged, minus the exclusions; names that do not resolve skipped and
//! listed, or refused.

use super::{parse_spec, read_spec_file, system_resolve, too_large_v6};
use super::{Family, Resolver, Role, Span, Targets};
use crate::error::{warn, Error, Result};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// An IPv6 prefix too large to enumerate (`too_large_v6`), as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Large {
    pub token: String,
    pub net: Ipv6Addr,
    pub len: u8,
}

/// What finds the hosts of such prefixes (on-link discovery, `run::discover`), or
/// refuses them.
pub type Discover<'a> = &'a dyn Fn(&[Large]) -> Result<Vec<Span>>;

/// Where the targets come from: the command line's specs and files, and what to leave out.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    pub targets: &'a [String],
    pub files: &'a [PathBuf],
    pub exclude: &'a [String],
    pub exclude_files: &'a [PathBuf],
    pub family: Family,
    /// An unresolvable target name is an error, not a warning.
    pub strict_names: bool,
}

/// The scan's targets, and the hostnames among the specs that did not resolve.
#[derive(Debug)]
pub struct Built {
    pub targets: Targets,
    pub unresolved: Vec<String>,
}

/// Every spec parsed (hostnames resolved once), merged, minus the exclusions. A target
/// hostname that does not resolve is skipped with a warning (one stale name in an
/// inventory must not cost the whole run) unless `--strict-names`; an exclusion that does
/// not resolve is always an error, so sweep never probes what it was meant to leave out.
/// IPv6 prefixes too large to enumerate go to `discover`, which finds their hosts; it is
/// called only once every other spec parsed.
pub fn build(src: &Sources, discover: Discover) -> Result<Built> {
    build_with(src, &system_resolve, discover)
}

fn build_with(cfg: &Sources, resolve: Resolver, discover: Discover) -> Result<Built> {
    let targets = specs(cfg.targets, cfg.files)?;
    let excludes = specs(cfg.exclude, cfg.exclude_files)?;
    // Every spec's form first, names unresolved: a bad one anywhere (`x.txt`, `10.0.0.0/33`)
    // is refused before any name is looked up.
    let unlooked: Resolver = &|_| {
        Ok(vec![
            Ipv4Addr::UNSPECIFIED.into(),
            Ipv6Addr::UNSPECIFIED.into(),
        ])
    };
    for (list, role) in [(&targets, Role::Target), (&excludes, Role::Exclude)] {
        for (s, at) in list {
            let skip = s.trim().is_empty() && role == Role::Exclude;
            let large = too_large_v6(s).is_some() && cfg.family != Family::V4;
            if skip || (role == Role::Target && large) {
                continue;
            }
            parse_spec(s, role, cfg.family, unlooked).map_err(|e| located(e, *at))?;
        }
    }
    let mut include: Vec<Span> = Vec::new();
    let mut unresolved: Vec<(String, String)> = Vec::new();
    let mut large = Vec::new();
    for (s, at) in targets {
        if let Some((net, len)) = too_large_v6(&s).filter(|_| cfg.family != Family::V4) {
            let token = s.trim().to_string();
            large.push(Large { token, net, len });
            continue;
        }
        match parse_spec(&s, Role::Target, cfg.family, resolve).map_err(|e| located(e, at)) {
            Ok(spans) => include.extend(spans),
            Err(Error::Resolve { host, reason }) if !cfg.strict_names => {
                if !unresolved.iter().any(|(h, _)| *h == host) {
                    unresolved.push((host, reason));
                }
            }
            Err(e) => return Err(e),
        }
    }
    let mut exclude: Vec<Span> = Vec::new();
    for (s, at) in excludes {
        if !s.trim().is_empty() {
            let spans = parse_spec(&s, Role::Exclude, cfg.family, resolve);
            exclude.extend(spans.map_err(|e| located(e, at))?);
        }
    }
    // Last: discovery sends packets, so every spec is checked first. Nobody answering is
    // the whole answer only when there is nothing else to scan.
    if !large.is_empty() {
        match discover(&large) {
            Ok(found) => include.extend(found),
            Err(e @ Error::NoneAnswered { .. }) if !include.is_empty() => {
                warn(format_args!("sweep: warning: {e}"));
            }
            Err(e) => return Err(e),
        }
    }
    let t = Targets::new(include, exclude);
    if t.is_empty() && !unresolved.is_empty() {
        return Err(Error::NothingResolved {
            names: name_list(unresolved.iter().map(|(h, _)| h.as_str())),
        });
    }
    if t.is_empty() {
        return Err(Error::NoTargets(" after exclusions"));
    }
    for (host, reason) in &unresolved {
        warn(format_args!(
            "sweep: warning: cannot resolve '{host}': {reason}; skipping it \
             (--strict-names makes this an error)"
        ));
    }
    Ok(Built {
        targets: t,
        unresolved: unresolved.into_iter().map(|(h, _)| h).collect(),
    })
}

/// Where a spec came from: the command line, or a line of a file.
type Origin<'a> = Option<(&'a PathBuf, u64)>;

/// The command line's specs, then each file's, each with where it came from.
fn specs<'a>(args: &[String], files: &'a [PathBuf]) -> Result<Vec<(String, Origin<'a>)>> {
    let mut all: Vec<(String, Origin)> = args.iter().map(|s| (s.clone(), None)).collect();
    for f in files {
        let lines = read_spec_file(f)?;
        all.extend(lines.into_iter().map(|(s, line)| (s, Some((f, line)))));
    }
    Ok(all)
}

/// A bad target from a file names its file and line.
fn located(e: Error, at: Origin) -> Error {
    match (e, at) {
        (Error::BadTarget { token, reason }, Some((path, line))) => Error::BadTargetAt {
            path: path.clone(),
            line,
            token,
            reason,
        },
        (e, _) => e,
    }
}

/// `'a', 'b' and 'c'`; past five names, how many more.
fn name_list<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> String {
    const SHOWN: usize = 5;
    let total = names.len();
    let quoted: Vec<String> = names.take(SHOWN).map(|n| format!("'{n}'")).collect();
    match (quoted.split_last(), total) {
        (None, _) => String::new(),
        (Some((only, [])), 1) => only.clone(),
        (Some((last, rest)), n) if n <= SHOWN => format!("{} and {last}", rest.join(", ")),
        (Some(_), n) => format!("{} and {} more", quoted.join(", "), n - SHOWN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::net::IpAddr;

    fn cfg(args: &[&str]) -> crate::cli::Config {
        let mut all = vec!["sweep"];
        all.extend_from_slice(args);
        crate::cli::scan_config(&all)
    }

    /// The builder with discovery standing in: every large prefix finds one host,
    /// its network's ::1.
    fn build_with(cfg: &Sources, resolve: Resolver) -> Result<Built> {
        let one = |large: &[Large]| {
            Ok(large
                .iter()
                .map(|l| {
                    let a = u128::from(l.net) + 1;
                    Span::v6(a, a)
                })
                .collect())
        };
        super::build_with(cfg, resolve, &one)
    }

    #[test]
    fn a_prefix_too_large_to_enumerate_goes_to_discovery() {
        let b = build_with(&cfg(&["2001:2:0:1::/64", "192.0.2.1"]).sources(), &resolver).unwrap();
        let got: Vec<IpAddr> = (0..b.targets.len()).map(|i| b.targets.addr_at(i)).collect();
        assert_eq!(
            got,
            [
                "192.0.2.1".parse::<IpAddr>().unwrap(),
                "2001:2:0:1::1".parse().unwrap()
            ]
        );
        // A /48 is no segment's prefix: refused as before, saying what works.
        let e = build_with(&cfg(&["2001:2::/48"]).sources(), &resolver).unwrap_err();
        assert!(
            e.to_string()
                .contains("/64 (or longer) on one of our Ethernet segments"),
            "{e}"
        );
        // A bad exclusion is found before discovery sends anything.
        let c = cfg(&["2001:2:0:1::/64", "--exclude", "bogus..target"]);
        let never = |_: &[Large]| -> Result<Vec<Span>> {
            panic!("discovery before the specs were checked")
        };
        assert!(super::build_with(&c.sources(), &resolver, &never).is_err());
        // With -4, nothing IPv6 is wanted: not discovered either.
        assert!(build_with(&cfg(&["-4", "2001:2:0:1::/64"]).sources(), &resolver).is_err());
    }

    #[test]
    fn a_silent_segment_is_the_answer_only_when_nothing_else_is_scanned() {
        let silent = |large: &[Large]| -> Result<Vec<Span>> {
            Err(Error::NoneAnswered {
                iface: "eth0".into(),
                prefix: large[0].token.clone(),
            })
        };
        let alone = cfg(&["2001:2:0:1::/64"]);
        let e = super::build_with(&alone.sources(), &resolver, &silent).unwrap_err();
        assert_eq!(e.exit_code(), 1, "a scan that found no host");
        assert_eq!(
            e.to_string(),
            "no host on eth0 answered discovery of 2001:2:0:1::/64"
        );
        let with = cfg(&["2001:2:0:1::/64", "192.0.2.1"]);
        let b = super::build_with(&with.sources(), &resolver, &silent).unwrap();
        assert_eq!(b.targets.len(), 1);
    }

    #[test]
    fn every_form_is_checked_before_any_name_is_looked_up() {
        let never = |h: &str| -> io::Result<Vec<IpAddr>> {
            panic!("'{h}' looked up before the bad spec was found")
        };
        for (args, bad) in [
            (&["a.test", "x.txt"][..], "x.txt"),
            (&["a.test", "198.18.0.0/33"], "198.18.0.0/33"),
            (
                &["a.test", "--exclude", "b.test,bogus..target"],
                "bogus..target",
            ),
        ] {
            let e = build_with(&cfg(args).sources(), &never).unwrap_err();
            assert!(e.to_string().contains(bad), "{args:?}: {e}");
        }
    }

    /// Knows `a.test` only.
    fn resolver(host: &str) -> io::Result<Vec<IpAddr>> {
        match host {
            "a.test" => Ok(vec!["192.0.2.7".parse().unwrap()]),
            _ => Err(io::Error::new(io::ErrorKind::NotFound, "not known")),
        }
    }

    #[test]
    fn unresolvable_names_are_skipped_and_listed() {
        let b = build_with(
            &cfg(&["a.test", "gone.test", "192.0.2.1", "gone.test", "x.test"]).sources(),
            &resolver,
        )
        .unwrap();
        assert_eq!(b.targets.len(), 2);
        assert_eq!(b.unresolved, ["gone.test", "x.test"]);
    }

    #[test]
    fn nothing_resolved_is_exit_2_naming_them() {
        let e = build_with(&cfg(&["gone.test", "x.test"]).sources(), &resolver).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            "no targets left to probe: 'gone.test' and 'x.test' did not resolve"
        );
    }

    #[test]
    fn strict_names_and_exclusions_abort() {
        let e = build_with(
            &cfg(&["a.test", "gone.test", "--strict-names"]).sources(),
            &resolver,
        );
        assert!(matches!(e, Err(Error::Resolve { ref host, .. }) if host == "gone.test"));
        let e = build_with(
            &cfg(&["a.test", "--exclude", "gone.test"]).sources(),
            &resolver,
        );
        assert!(matches!(e, Err(Error::Resolve { .. })));
    }

    #[test]
    fn impossible_names_are_refused_by_line_without_a_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("targets.txt");
        std::fs::write(&f, "a.test\n# a comment\n192.0.2.1-3 bogus..target\n").unwrap();
        let c = cfg(&["-f", f.to_str().unwrap()]);
        let asked = std::cell::Cell::new(0);
        let counting = |h: &str| {
            asked.set(asked.get() + 1);
            resolver(h)
        };
        let e = build_with(&c.sources(), &counting).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let msg = e.to_string();
        assert!(msg.contains(":3: invalid target 'bogus..target'"), "{msg}");
        assert!(msg.contains("empty label"), "{msg}");
        // Every form is checked first: not even the name before it was looked up.
        assert_eq!(asked.get(), 0);
        // On the command line: the same refusal, without a line.
        let e = build_with(&cfg(&["bogus..target"]).sources(), &counting).unwrap_err();
        assert!(matches!(e, Error::BadTarget { .. }), "{e}");
        assert_eq!(asked.get(), 0);
    }

    #[test]
    fn nmap_octet_forms_are_targets() {
        let b = build_with(
            &cfg(&["198.18.1.1-254", "198.18.2.*", "198.19.0-3.1-20"]).sources(),
            &resolver,
        )
        .unwrap();
        assert_eq!(b.targets.len(), 254 + 256 + 4 * 20);
        // Never sent to the resolver as a name.
        let b = build_with(&cfg(&["127.0.0-1.1-3"]).sources(), &resolver).unwrap();
        assert_eq!(b.targets.len(), 6);
    }

    #[test]
    fn name_lists_stay_short() {
        let list = |n: &[&str]| name_list(n.iter().copied());
        assert_eq!(list(&["a"]), "'a'");
        assert_eq!(list(&["a", "b", "c"]), "'a', 'b' and 'c'");
        assert_eq!(
            list(&["a", "b", "c", "d", "e", "f", "g"]),
            "'a', 'b', 'c', 'd', 'e' and 2 more"
        );
    }
}
