//! Text profile parser. See sim/README.md for the format.
//! Every error names the line and the offending token; nothing here panics.

use crate::mac::Vendor;
use crate::profile::*;
use std::net::IpAddr;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("line {line}: '{token}': {msg}")]
pub struct ProfileError {
    pub line: usize,
    pub token: String,
    pub msg: String,
}

/// Caps that keep a typo from asking for a huge truth file or absurd delays.
const MAX_ADDRESSES: u128 = 1 << 22;
const MAX_DELAY_NS: u64 = 60_000_000_000;
const MAX_DUPS: u32 = 16;

type Res<T> = Result<T, String>;

pub fn parse_profile(text: &str) -> Result<Profile, ProfileError> {
    let mut seed = 0u64;
    let mut router = DEFAULT_ROUTER;
    let mut router6 = DEFAULT_ROUTER6;
    let mut defaults = Behavior::default();
    let mut rules = Vec::new();
    let mut lan = Lan::default();
    // The last scanner/gateway directive per family (line, token), named
    // if the two don't fit together.
    let mut lan_tok: [Option<(usize, String)>; 2] = [None, None];
    let mut attack = None;
    let mut total: u128 = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.split('#').next().unwrap_or("");
        let mut tokens = content.split_whitespace();
        let Some(head) = tokens.next() else { continue };
        let rest: Vec<&str> = tokens.collect();
        let err = |token: &str, msg: String| ProfileError {
            line,
            token: token.to_string(),
            msg,
        };
        match head {
            "seed" | "router" => {
                let [value] = rest[..] else {
                    return Err(err(head, format!("expected '{head} VALUE'")));
                };
                if head == "seed" {
                    seed = value
                        .parse()
                        .map_err(|_| err(value, "seed must be an unsigned integer".into()))?;
                } else {
                    match parse_ip(value).map_err(|m| err(value, m))? {
                        IpAddr::V4(a) => router = a,
                        IpAddr::V6(a) => router6 = a,
                    }
                }
            }
            "link" => {
                lan.mode = match rest[..] {
                    ["tun"] => LinkMode::Tun,
                    ["tap"] => LinkMode::Tap,
                    _ => return Err(err(head, "expected 'link tun' or 'link tap'".into())),
                };
            }
            "scanner" | "gateway" => {
                let [value] = rest[..] else {
                    return Err(err(head, format!("expected '{head} VALUE'")));
                };
                let v6 = if head == "scanner" {
                    let (addr, len) = parse_scanner(value).map_err(|m| err(value, m))?;
                    match addr {
                        IpAddr::V4(a) => lan.scanner = (a, len),
                        IpAddr::V6(a) => lan.scanner6 = (a, len),
                    }
                    addr.is_ipv6()
                } else {
                    let addr = parse_ip(value).map_err(|m| err(value, m))?;
                    match addr {
                        IpAddr::V4(a) => lan.gateway = a,
                        IpAddr::V6(a) => lan.gateway6 = a,
                    }
                    addr.is_ipv6()
                };
                lan_tok[usize::from(v6)] = Some((line, value.to_string()));
            }
            "attacker" => {
                attack = Some(parse_attack(&rest).map_err(|(t, m)| err(t, m))?);
            }
            "default" => {
                defaults = parse_behavior(&defaults, &rest).map_err(|(t, m)| err(t, m))?;
            }
            target => {
                let (net, len, v6) = parse_target(target).map_err(|m| err(target, m))?;
                let rule = Rule {
                    net,
                    len,
                    v6,
                    line,
                    behavior: parse_behavior(&defaults, &rest).map_err(|(t, m)| err(t, m))?,
                };
                total = total.saturating_add(rule.size());
                if total > MAX_ADDRESSES {
                    return Err(err(
                        target,
                        format!("profile describes more than {MAX_ADDRESSES} addresses"),
                    ));
                }
                if let Alive::Offsets(ranges) = &rule.behavior.alive {
                    if let Some(&(_, b)) =
                        ranges.iter().find(|&&(_, b)| u128::from(b) >= rule.size())
                    {
                        let tok = rest
                            .iter()
                            .find(|t| t.starts_with("alive="))
                            .unwrap_or(&"alive");
                        return Err(err(tok, format!("offset {b} is outside {target}")));
                    }
                }
                // An address key of the other family on the rule's own line
                // would be silently unused.
                for tok in &rest {
                    let Some((key @ ("router" | "other_src_addr"), value)) = tok.split_once('=')
                    else {
                        continue;
                    };
                    if value.parse::<IpAddr>().is_ok_and(|a| a.is_ipv6() != v6) {
                        let fam = if v6 { "IPv6" } else { "IPv4" };
                        return Err(err(
                            tok,
                            format!("{key} must be an {fam} address for {target}"),
                        ));
                    }
                }
                rules.push(rule);
            }
        }
    }
    check_lan(&lan, &lan_tok)?;
    Ok(Profile {
        seed,
        router,
        router6,
        rules,
        lan,
        attack,
    })
}

/// `ADDR/LEN`: the scanner's address and on-link prefix, with room for
/// hosts beside it.
fn parse_scanner(v: &str) -> Res<(IpAddr, u8)> {
    const HINT: &str = "expected the scanner's ADDR/LEN like 198.19.255.254/15 or 2001:2::1/64";
    let (a, l) = v.split_once('/').ok_or(HINT)?;
    let addr: IpAddr = a.parse().map_err(|_| HINT)?;
    let max = if addr.is_ipv6() { 126 } else { 30 };
    let len = l
        .parse::<u8>()
        .ok()
        .filter(|l| (1..=max).contains(l))
        .ok_or(format!("prefix length must be 1..={max}"))?;
    let key = key_of(addr).ok_or("IPv6 scanner address may not be in ::/96")?;
    let host = host_mask(addr.is_ipv6(), len);
    if key & host == 0 || key & host == host {
        return Err("the scanner needs a host address, not the prefix's first or last".into());
    }
    Ok((addr, len))
}

/// The gateway must be a neighbour of the scanner: on its prefix (IPv6 also
/// link-local), and not the scanner itself.
fn check_lan(lan: &Lan, toks: &[Option<(usize, String)>; 2]) -> Result<(), ProfileError> {
    let checks = [
        (
            IpAddr::V4(lan.gateway),
            format!("{}/{}", lan.scanner.0, lan.scanner.1),
        ),
        (
            IpAddr::V6(lan.gateway6),
            format!("{}/{}", lan.scanner6.0, lan.scanner6.1),
        ),
    ];
    for ((gw, scanner), tok) in checks.into_iter().zip(toks) {
        let Some((line, token)) = tok else { continue };
        let key = key_of(gw).unwrap_or(0);
        let msg = if lan.is_scanner(key) {
            format!("gateway {gw} is the scanner's own address")
        } else if !lan.on_link(key) {
            format!("gateway {gw} is not on the scanner's link {scanner}")
        } else {
            continue;
        };
        return Err(ProfileError {
            line: *line,
            token: token.clone(),
            msg,
        });
    }
    Ok(())
}

/// `attacker [forge=short,long,reply|all] [max=N]`.
fn parse_attack<'a>(tokens: &[&'a str]) -> Result<crate::attack::Attack, (&'a str, String)> {
    let mut a = crate::attack::Attack::default();
    for &tok in tokens {
        match tok.split_once('=') {
            Some(("forge", kinds)) => {
                (a.short, a.long, a.reply) = (false, false, false);
                for k in kinds.split(',') {
                    match k {
                        "short" => a.short = true,
                        "long" => a.long = true,
                        "reply" => a.reply = true,
                        "all" => (a.short, a.long, a.reply) = (true, true, true),
                        _ => return Err((tok, "expected short, long, reply or all".into())),
                    }
                }
            }
            Some(("max", n)) => a.max_targets = parse_int(n, 1, 1 << 22).map_err(|m| (tok, m))?,
            _ => return Err((tok, "expected forge=KINDS or max=N".into())),
        }
    }
    Ok(a)
}

/// Applies `key=value` tokens and flags on top of `base`.
fn parse_behavior<'a>(base: &Behavior, tokens: &[&'a str]) -> Result<Behavior, (&'a str, String)> {
    // The flag sets the mode of faults on this line that don't name one,
    // wherever it appears on the line.
    let mut line_mode = Mode::Instead;
    for t in tokens {
        match *t {
            "extra" => line_mode = Mode::Extra,
            "instead" => line_mode = Mode::Instead,
            _ => {}
        }
    }
    let mut b = base.clone();
    for &tok in tokens {
        if tok == "extra" || tok == "instead" {
            continue;
        }
        let Some((key, value)) = tok.split_once('=') else {
            return Err((tok, "expected key=value, 'extra' or 'instead'".into()));
        };
        apply(&mut b, key, value, line_mode).map_err(|m| (tok, m))?;
    }
    Ok(b)
}

fn apply(b: &mut Behavior, key: &str, v: &str, mode: Mode) -> Res<()> {
    match key {
        "alive" => b.alive = parse_alive(v)?,
        "rtt" => {
            let d = parse_delay(v)?;
            b.rtt.lo = d.lo;
            b.rtt.hi = d.hi;
        }
        "rtt_dist" => {
            b.rtt.dist = match v {
                "uniform" => Dist::Uniform,
                "normal" => Dist::Normal,
                _ => return Err("expected uniform or normal".into()),
            }
        }
        "loss" => {
            b.loss_in = parse_prob(v)?;
            b.loss_out = b.loss_in;
        }
        "loss_in" => b.loss_in = parse_prob(v)?,
        "loss_out" => b.loss_out = parse_prob(v)?,
        "dup" => b.dup = parse_prob(v)?,
        "dup_count" => b.dup_count = parse_int(v, 1, MAX_DUPS)?,
        "dup_gap" => b.dup_gap = parse_dur(v)?,
        "reorder" => b.reorder = parse_prob(v)?,
        "reorder_delay" => b.reorder_delay = parse_delay(v)?,
        "corrupt" => b.corrupt = parse_fault(v, mode)?,
        "truncate" => b.truncate = parse_fault(v, mode)?,
        "trunc_to" => {
            b.trunc_to = match v {
                "mid" => TruncTo::Mid,
                _ => TruncTo::Len(parse_int(v, 20, 65_535)? as usize),
            }
        }
        "options" => b.options = parse_fault(v, mode)?,
        "options_kind" => {
            b.options_kind = match v {
                "rr" => OptKind::Rr,
                "nop" => OptKind::Nop,
                _ => return Err("expected rr or nop".into()),
            }
        }
        "foreign_id" => b.foreign_id = parse_fault(v, mode)?,
        "other_src" => b.other_src = parse_fault(v, mode)?,
        "other_src_addr" => match parse_ip(v)? {
            IpAddr::V4(a) => b.other_src_addr = Some(a),
            IpAddr::V6(a) => b.other_src_addr6 = Some(a),
        },
        "unreach" => {
            b.unreach = match v {
                "none" => None,
                "net" | "net-unreachable" => Some(Unreach::Net),
                "host" | "host-unreachable" => Some(Unreach::Host),
                "port" | "port-unreachable" => Some(Unreach::Port),
                "admin" | "admin-prohibited" => Some(Unreach::Admin),
                "ttl" | "ttl-exceeded" => Some(Unreach::Ttl),
                _ => return Err("expected net, host, port, admin, ttl or none".into()),
            }
        }
        "quote" => {
            b.quote = match v {
                "short" => Quote::Short,
                "long" => Quote::Long,
                _ => return Err("expected short or long".into()),
            }
        }
        "router" => match parse_ip(v)? {
            IpAddr::V4(a) => b.router = Some(a),
            IpAddr::V6(a) => b.router6 = Some(a),
        },
        "ttl" => b.ttl = parse_int(v, 1, 255)? as u8,
        "ratelimit" => {
            b.ratelimit = match v {
                "none" => None,
                _ => Some(parse_int(v.strip_suffix("/s").unwrap_or(v), 0, 1_000_000)?),
            }
        }
        "ratelimit_burst" => b.ratelimit_burst = Some(parse_int(v, 1, 1_000_000)?),
        "ratelimit_scope" => {
            b.ratelimit_scope = match v {
                "host" => Scope::Host,
                "rule" => Scope::Rule,
                _ => return Err("expected host or rule".into()),
            }
        }
        "police" => {
            b.police = match v {
                "none" => None,
                _ => Some(parse_int(
                    v.strip_suffix("/s").unwrap_or(v),
                    1,
                    100_000_000,
                )?),
            }
        }
        "police_scope" => {
            b.police_scope = match v {
                "rule" => PoliceScope::Rule,
                "total" => PoliceScope::Total,
                _ => return Err("expected rule or total".into()),
            }
        }
        "police_burst" => b.police_burst = parse_int(v, 1, 1_000_000)?,
        "bad_data" => b.bad_data = parse_prob(v)?,
        "arp_only" => b.arp_only = parse_prob(v)?,
        "arp_loss" => b.arp_loss = parse_prob(v)?,
        "arp_rtt" => b.arp_rtt = parse_delay(v)?,
        "vendor" => {
            b.vendors = v
                .split(',')
                .map(Vendor::parse)
                .collect::<Result<Vec<_>, _>>()?
        }
        _ => return Err(format!("unknown key '{key}'")),
    }
    Ok(())
}

fn parse_ip(v: &str) -> Res<IpAddr> {
    v.parse()
        .map_err(|_| "expected an address like 198.18.0.1 or 2001:2::1".to_string())
}

/// `ADDR` or `ADDR/LEN` of either family: (first address key, length, is IPv6).
fn parse_target(v: &str) -> Res<(Key, u8, bool)> {
    let (a, len) = match v.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (v, None),
    };
    let addr: IpAddr = a.parse().map_err(|_| {
        "expected a directive (seed, router, default, link, scanner, gateway) or an \
         address/prefix like \
         198.18.0.0/24 or 2001:2::/120"
            .to_string()
    })?;
    let v6 = addr.is_ipv6();
    let bits = family_bits(v6);
    let len = match len {
        None => bits,
        Some(l) => l
            .parse::<u8>()
            .ok()
            .filter(|&l| l <= bits)
            .ok_or(format!("prefix length must be 0..={bits}"))?,
    };
    let net = match addr {
        IpAddr::V4(a) => Key::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    if net & host_mask(v6, len) != 0 {
        return Err("host bits set after the prefix length".into());
    }
    if v6 && net < V6_START {
        return Err(
            "IPv6 rules may not cover ::/96 (IPv4-compatible and unspecified addresses)".into(),
        );
    }
    Ok((net, len, v6))
}

fn parse_int(v: &str, min: u32, max: u32) -> Res<u32> {
    v.parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("expected an integer in {min}..={max}"))
}

fn parse_prob(v: &str) -> Res<f64> {
    let p = match v.strip_suffix('%') {
        Some(pct) => pct.parse::<f64>().map(|x| x / 100.0),
        None => v.parse::<f64>(),
    };
    p.ok()
        .filter(|p| (0.0..=1.0).contains(p))
        .ok_or_else(|| "expected a probability like 0.05 or 5%".to_string())
}

fn parse_fault(v: &str, line_mode: Mode) -> Res<Fault> {
    let (p, mode) = match v.split_once(':') {
        Some((p, "extra")) => (p, Mode::Extra),
        Some((p, "instead")) => (p, Mode::Instead),
        Some(_) => return Err("expected P, P:extra or P:instead".into()),
        None => (v, line_mode),
    };
    Ok(Fault {
        p: parse_prob(p)?,
        mode,
    })
}

/// `5ms`, `1.5s`, `250us`, `100ns` or `0`.
fn parse_dur(v: &str) -> Res<u64> {
    const HINT: &str = "expected a duration like 5ms, 1.5s or 250us";
    if v == "0" {
        return Ok(0);
    }
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or(HINT)?;
    let (num, unit) = v.split_at(split);
    let scale = match unit {
        "ns" => 1.0,
        "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return Err(HINT.into()),
    };
    let x: f64 = num.parse().map_err(|_| HINT)?;
    let ns = x * scale;
    if !(0.0..=MAX_DELAY_NS as f64).contains(&ns) {
        return Err("duration must be at most 60s".into());
    }
    Ok(ns as u64)
}

/// `DUR` or `DUR..DUR` (uniform unless the rule says rtt_dist=normal).
fn parse_delay(v: &str) -> Res<Delay> {
    let (lo, hi) = match v.split_once("..") {
        Some((a, b)) => (parse_dur(a)?, parse_dur(b)?),
        None => {
            let d = parse_dur(v)?;
            (d, d)
        }
    };
    if lo > hi {
        return Err("range start is after its end".into());
    }
    Ok(Delay {
        lo,
        hi,
        dist: Dist::Uniform,
    })
}

/// `all`, `none`, a fraction (`0.5`, `50%`: needs a '.' or '%'),
/// or offsets into the prefix (`1,2,10-20`).
fn parse_alive(v: &str) -> Res<Alive> {
    match v {
        "all" => return Ok(Alive::All),
        "none" => return Ok(Alive::None),
        _ => {}
    }
    if v.contains('.') || v.ends_with('%') {
        return parse_prob(v).map(Alive::Fraction);
    }
    const HINT: &str = "expected all, none, a fraction like 0.5 or 50%, or offsets like 1,2,10-20";
    let mut ranges = Vec::new();
    for part in v.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let a: u32 = a.parse().map_err(|_| HINT)?;
        let b: u32 = b.parse().map_err(|_| HINT)?;
        if a > b {
            return Err(HINT.into());
        }
        ranges.push((a, b));
    }
    Ok(Alive::Offsets(ranges))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const SAMPLE: &str = "\
# lab
seed 42
router 198.18.255.254
default ttl=60 rtt=2ms
198.18.0.0/24 alive=all rtt=5ms
198.18.1.0/24 alive=50% rtt=50ms..300ms rtt_dist=normal loss=0.05 # comment
198.18.2.0/28 alive=1,2,5-7 dup=1.0 dup_count=2
198.18.3.7 corrupt=1.0 extra truncate=0.5:instead
203.0.113.0/24 unreach=admin quote=long router=192.0.2.254 ttl=250
";

    #[test]
    fn parses_sample() {
        let p = parse_profile(SAMPLE).unwrap();
        assert_eq!(p.seed, 42);
        assert_eq!(p.rules.len(), 5);
        let r0 = &p.rules[0].behavior;
        assert_eq!(r0.rtt, Delay::fixed(5_000_000));
        assert_eq!(r0.ttl, 60);
        let r1 = &p.rules[1].behavior;
        assert_eq!(r1.alive, Alive::Fraction(0.5));
        assert_eq!(
            (r1.rtt.lo, r1.rtt.hi, r1.rtt.dist),
            (50_000_000, 300_000_000, Dist::Normal)
        );
        assert_eq!((r1.loss_in, r1.loss_out), (0.05, 0.05));
        assert_eq!(
            p.rules[2].behavior.alive,
            Alive::Offsets(vec![(1, 1), (2, 2), (5, 7)])
        );
        assert_eq!(p.rules[2].behavior.dup_count, 2);
        let r3 = &p.rules[3];
        assert_eq!((r3.len, r3.line), (32, 8));
        assert_eq!(
            r3.behavior.corrupt,
            Fault {
                p: 1.0,
                mode: Mode::Extra
            }
        );
        assert_eq!(
            r3.behavior.truncate,
            Fault {
                p: 0.5,
                mode: Mode::Instead
            }
        );
        let r4 = &p.rules[4].behavior;
        assert_eq!(r4.unreach, Some(Unreach::Admin));
        assert_eq!(r4.quote, Quote::Long);
        assert_eq!(r4.router, Some(Ipv4Addr::new(192, 0, 2, 254)));
    }

    fn error_of(text: &str) -> ProfileError {
        parse_profile(text).unwrap_err()
    }

    #[test]
    fn errors_name_line_and_token() {
        let e = error_of("seed 1\n198.18.0.0/24 rtt=fast\n");
        assert_eq!((e.line, e.token.as_str()), (2, "rtt=fast"));
        assert!(
            e.to_string()
                .starts_with("line 2: 'rtt=fast': expected a duration"),
            "{e}"
        );
        assert_eq!(
            error_of("198.18.0.1/24").msg,
            "host bits set after the prefix length"
        );
        assert_eq!(error_of("198.18.0.0/33").token, "198.18.0.0/33");
        assert_eq!(error_of("bogus x=1").token, "bogus");
        assert_eq!(error_of("198.18.0.0/24 loss=1.5").token, "loss=1.5");
        assert_eq!(
            error_of("198.18.0.0/24 colour=red").msg,
            "unknown key 'colour'"
        );
        assert_eq!(error_of("198.18.0.0/24 frob").token, "frob");
        assert_eq!(
            error_of("198.18.0.0/30 alive=1,9").msg,
            "offset 9 is outside 198.18.0.0/30"
        );
        assert_eq!(error_of("198.18.0.0/24 rtt=5ms..1ms").token, "rtt=5ms..1ms");
        assert_eq!(
            error_of("198.18.0.0/24 rtt=61s").msg,
            "duration must be at most 60s"
        );
        assert_eq!(error_of("seed -1").token, "-1");
        assert_eq!(error_of("seed").token, "seed");
        assert_eq!(error_of("0.0.0.0/0").line, 1);
        assert_eq!(
            error_of("198.18.0.0/24 corrupt=1:maybe").token,
            "corrupt=1:maybe"
        );
        assert_eq!(error_of("198.18.0.0/24 ttl=0").token, "ttl=0");
    }

    #[test]
    fn odd_input_never_panics() {
        for text in [
            "",
            "\n\n#",
            "=",
            "a=b=c",
            "1.2.3.4 =",
            "1.2.3.4 alive=",
            "1.2.3.4 alive=-",
            "1.2.3.4 rtt=..",
            "1.2.3.4 rtt=ms",
            "1.2.3.4/",
            "é 1",
        ] {
            let _ = parse_profile(text);
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_dur("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_dur("250us"), Ok(250_000));
        assert_eq!(parse_dur("0"), Ok(0));
        assert!(parse_dur("5").is_err());
        assert!(parse_dur("-5ms").is_err());
    }

    #[test]
    fn parses_v6_rules() {
        let p = parse_profile(
            "seed 4\n\
             router 2001:2:ffff::1\n\
             default rtt=3ms\n\
             2001:2::/120 alive=30% rtt=5ms ttl=50 loss_in=1% dup=0.5\n\
             2001:2::100/126 alive=1,3 corrupt=1.0 extra options=1 options_kind=nop\n\
             2001:2::5 other_src=1 other_src_addr=2001:2::77\n\
             2001:db8:ff::/120 unreach=admin quote=long router=2001:db8::fe\n\
             198.18.0.0/24 router=192.0.2.254 unreach=host\n",
        )
        .unwrap();
        assert_eq!(p.router, DEFAULT_ROUTER);
        assert_eq!(p.router6, "2001:2:ffff::1".parse::<Ipv6Addr>().unwrap());
        let r0 = &p.rules[0];
        assert!(r0.v6);
        assert_eq!((r0.len, r0.size()), (120, 256));
        assert_eq!(r0.net, u128::from("2001:2::".parse::<Ipv6Addr>().unwrap()));
        assert_eq!(r0.behavior.alive, Alive::Fraction(0.3));
        assert_eq!(
            (r0.behavior.rtt, r0.behavior.ttl),
            (Delay::fixed(5_000_000), 50)
        );
        assert_eq!(
            p.rules[1].behavior.alive,
            Alive::Offsets(vec![(1, 1), (3, 3)])
        );
        assert_eq!(p.rules[1].behavior.options_kind, OptKind::Nop);
        let r2 = &p.rules[2];
        assert_eq!((r2.len, r2.size()), (128, 1));
        assert_eq!(
            r2.behavior.other_src_addr6,
            Some("2001:2::77".parse().unwrap())
        );
        assert_eq!(r2.behavior.rtt, Delay::fixed(3_000_000));
        let r3 = &p.rules[3];
        assert_eq!(p.router_for(r3), "2001:db8::fe".parse::<IpAddr>().unwrap());
        assert_eq!(r3.behavior.unreach, Some(Unreach::Admin));
        assert_eq!(p.router_for(&p.rules[0]), IpAddr::V6(p.router6));
        assert!(!p.rules[4].v6);
        assert_eq!(
            p.router_for(&p.rules[4]),
            "192.0.2.254".parse::<IpAddr>().unwrap()
        );
        // A default router of one family leaves the other alone.
        let p = parse_profile("default router=2001:2::9\n198.18.0.0/30\n2001:2::/126\n").unwrap();
        assert_eq!(p.router_for(&p.rules[0]), IpAddr::V4(DEFAULT_ROUTER));
        assert_eq!(
            p.router_for(&p.rules[1]),
            "2001:2::9".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn v6_errors_name_line_and_token() {
        assert_eq!(
            error_of("2001:2::/129").msg,
            "prefix length must be 0..=128"
        );
        assert_eq!(
            error_of("2001:2::1/120").msg,
            "host bits set after the prefix length"
        );
        assert!(error_of("::1").msg.contains("::/96"));
        assert!(
            error_of("::/0").msg.contains("::/96") || error_of("::/0").msg.contains("more than")
        );
        assert!(error_of("2001:2::/64")
            .msg
            .contains("more than 4194304 addresses"));
        assert_eq!(
            error_of("2001:2::/126 alive=0,4").msg,
            "offset 4 is outside 2001:2::/126"
        );
        let e = error_of("seed 1\n2001:2::/120 router=198.18.0.1");
        assert_eq!((e.line, e.token.as_str()), (2, "router=198.18.0.1"));
        assert_eq!(e.msg, "router must be an IPv6 address for 2001:2::/120");
        assert_eq!(
            error_of("198.18.0.0/24 other_src_addr=2001:2::1").msg,
            "other_src_addr must be an IPv4 address for 198.18.0.0/24"
        );
        assert_eq!(error_of("router 2001:2::zz").token, "2001:2::zz");
        assert_eq!(error_of("2001:2::/120 router=nope").token, "router=nope");
        assert_eq!(error_of("2001:2:::/120").token, "2001:2:::/120");
    }

    #[test]
    fn tap_directives_and_keys() {
        use crate::mac::Vendor;
        use std::net::{Ipv4Addr, Ipv6Addr};
        let p = parse_profile(
            "link tap\n\
             scanner 10.1.255.254/16\n\
             gateway 10.1.0.1\n\
             scanner 2001:2::1/64\n\
             gateway 2001:2::fe\n\
             default vendor=intel,rpi\n\
             10.1.0.0/24 arp_only=20% arp_loss=0.1 arp_rtt=1ms..2ms\n\
             10.1.1.0/24 vendor=local,00:50:b6\n",
        )
        .unwrap();
        assert_eq!(p.lan.mode, LinkMode::Tap);
        assert_eq!(p.lan.scanner, (Ipv4Addr::new(10, 1, 255, 254), 16));
        assert_eq!(p.lan.gateway, Ipv4Addr::new(10, 1, 0, 1));
        assert_eq!(
            p.lan.scanner6,
            ("2001:2::1".parse::<Ipv6Addr>().unwrap(), 64)
        );
        assert_eq!(p.lan.gateway6, "2001:2::fe".parse::<Ipv6Addr>().unwrap());
        let b = &p.rules[0].behavior;
        assert_eq!((b.arp_only, b.arp_loss), (0.2, 0.1));
        assert_eq!((b.arp_rtt.lo, b.arp_rtt.hi), (1_000_000, 2_000_000));
        assert_eq!(b.vendors, [Vendor::Intel, Vendor::RaspberryPi]);
        assert_eq!(
            p.rules[1].behavior.vendors,
            [Vendor::Local, Vendor::Oui([0, 0x50, 0xb6])]
        );
        assert_eq!(parse_profile("198.18.0.0/24").unwrap().lan, Lan::default());
    }

    #[test]
    fn tap_errors_name_line_and_token() {
        let e = error_of("scanner 10.0.0.1/24\n");
        assert_eq!((e.line, e.token.as_str()), (1, "10.0.0.1/24"));
        assert_eq!(
            e.msg,
            "gateway 198.18.255.254 is not on the scanner's link 10.0.0.1/24"
        );
        let e = error_of("gateway 198.19.255.254\n");
        assert_eq!(e.msg, "gateway 198.19.255.254 is the scanner's own address");
        assert!(error_of("gateway 2001:db8::1")
            .msg
            .contains("not on the scanner's link"));
        assert!(parse_profile("gateway fe80::9").is_ok());
        assert_eq!(error_of("scanner 10.0.0.1").token, "10.0.0.1");
        assert_eq!(
            error_of("scanner 10.0.0.1/31").msg,
            "prefix length must be 1..=30"
        );
        assert!(error_of("scanner 10.0.0.0/24").msg.contains("host address"));
        assert!(error_of("scanner 10.0.0.255/24")
            .msg
            .contains("host address"));
        assert_eq!(error_of("link ethernet").token, "link");
        assert_eq!(error_of("198.18.0.0/24 vendor=apple").token, "vendor=apple");
        assert_eq!(error_of("198.18.0.0/24 arp_only=2").token, "arp_only=2");
        assert_eq!(error_of("198.18.0.0/24 vendor=").token, "vendor=");
    }

    #[test]
    fn v6_addresses_count_toward_the_cap() {
        // 2^22 addresses in total, whatever the family.
        assert!(parse_profile("2001:2::/106\n").is_ok());
        assert!(parse_profile("10.0.0.0/10\n").is_ok());
        let e = error_of("198.18.0.0/24\n2001:2::/106\n");
        assert_eq!((e.line, e.token.as_str()), (2, "2001:2::/106"));
    }
}
