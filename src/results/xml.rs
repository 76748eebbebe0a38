//! `--format nmap-xml` (`-oX FILE`): the XML nmap writes for a ping scan (`nmap -sn`), as
//! its DTD (xmloutputversion 1.05) and its consumers (ndiff, python-libnmap, Metasploit's
//! `db_import`, IVRE) read it. One `host` per row: `status` with nmap's reason words, the
//! IP `address` first, then each MAC (uppercase, as nmap writes it) with its vendor,
//! `hostnames`, `times`. Down and unreachable hosts only with `--all`, as nmap writes
//! them only with `-v`.
//!
//! `scanner="nmap"`: the DTD allows no other value, and tools that check it (ndiff's
//! header, `xmllint --dtdvalid`, parsers that branch on it) then read the file as they
//! read nmap's; `version` says it is sweep's (`sweep-X.Y.Z`) so nobody mistakes it.

use crate::results::output::{each_chunk, Layout, Results};
use crate::results::row::{Row, Status};
use std::io::{self, Write};
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

/// The run-level facts the XML's header and `runstats` carry.
pub struct Run<'a> {
    /// The command line, for `args`.
    pub args: &'a str,
    pub started: SystemTime,
    pub elapsed: Duration,
    /// Targets scanned (`hosts total`).
    pub total: u64,
    pub up: u64,
}

/// `&`, `<`, `>`, `"` and `'` escaped for an attribute value; other control characters
/// (not allowed in XML 1.0) dropped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if c < ' ' => {}
            c => out.push(c),
        }
    }
    out
}

/// nmap's reason word for a row (its `reason.cc` vocabulary).
fn reason(row: &Row) -> &'static str {
    match row.status {
        Status::Up if row.neighbour_only() && row.addr.is_ipv4() => "arp-response",
        Status::Up if row.neighbour_only() => "nd-response",
        Status::Up => "echo-reply",
        Status::Down => "no-response",
        Status::Unreachable => match row.detail.as_str() {
            "net-unreachable" | "net-unknown" | "net-unreachable-tos" => "net-unreach",
            "host-unreachable"
            | "host-unknown"
            | "host-unreachable-tos"
            | "source-host-isolated" => "host-unreach",
            "protocol-unreachable" => "proto-unreach",
            "port-unreachable" => "port-unreach",
            "net-prohibited" => "net-prohibited",
            "host-prohibited" => "host-prohibited",
            "admin-prohibited" => "admin-prohibited",
            "ttl-exceeded" | "reassembly-timeout" => "time-exceeded",
            _ => "unknown-response",
        },
    }
}

/// nmap's timing of one sample (timing.cc, first measurement): rttvar is the RTT clamped
/// to 5 ms … 2 s, the timeout srtt + 4·rttvar but at least its 100 ms floor.
fn times(srtt: u64) -> (u64, u64, u64) {
    let rttvar = srtt.clamp(5_000, 2_000_000);
    (srtt, rttvar, (srtt + 4 * rttvar).max(100_000))
}

fn host(out: &mut Vec<u8>, row: &Row) -> io::Result<()> {
    let state = if row.status == Status::Up {
        "up"
    } else {
        "down"
    };
    let family = match row.addr {
        IpAddr::V4(_) => "ipv4",
        IpAddr::V6(_) => "ipv6",
    };
    write!(
        out,
        "<host><status state=\"{state}\" reason=\"{}\" reason_ttl=\"{}\"/>\n<address addr=\"{}\" addrtype=\"{family}\"/>\n",
        reason(row),
        row.ttl.unwrap_or(0),
        row.addr
    )?;
    for (k, mac) in row.macs.iter().enumerate() {
        let hex: Vec<String> = mac.0.iter().map(|b| format!("{b:02X}")).collect();
        write!(out, "<address addr=\"{}\" addrtype=\"mac\"", hex.join(":"))?;
        match row.vendors.get(k).filter(|v| !v.is_empty()) {
            Some(v) => writeln!(out, " vendor=\"{}\"/>", escape(v))?,
            None => writeln!(out, "/>")?,
        }
    }
    if row.hostname.is_empty() {
        out.extend_from_slice(b"<hostnames>\n</hostnames>\n");
    } else {
        writeln!(
            out,
            "<hostnames>\n<hostname name=\"{}\" type=\"PTR\"/>\n</hostnames>",
            escape(&row.hostname)
        )?;
    }
    if let Some(rtt) = row.rtt_us.filter(|_| row.echo_up()) {
        let (srtt, rttvar, to) = times(rtt);
        writeln!(
            out,
            "<times srtt=\"{srtt}\" rttvar=\"{rttvar}\" to=\"{to}\"/>"
        )?;
    }
    out.extend_from_slice(b"</host>\n");
    Ok(())
}

/// nmap's `startstr`/`timestr` form: `Fri Dec  4 16:18:06 2026` (UTC here).
pub(crate) fn ctime(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let s = humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .to_string();
    // 2026-12-04T16:18:06Z → its parts.
    let (date, time) = s.split_once('T').unwrap_or((&s, ""));
    let time = time.trim_end_matches('Z');
    let mut parts = date.split('-').map(|p| p.parse::<u64>().unwrap_or(0));
    let (y, m, d) = (
        parts.next().unwrap_or(1970),
        parts.next().unwrap_or(1),
        parts.next().unwrap_or(1),
    );
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let day = DAYS[((secs / 86_400) % 7) as usize];
    let month = MONTHS[(m.clamp(1, 12) - 1) as usize];
    format!("{day} {month} {d:>2} {time} {y}")
}

fn epoch(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Writes the whole document: header, a `host` per wanted row (in parallel chunks, in
/// address order), `runstats`.
pub fn write<W: Write + ?Sized>(
    out: &mut W,
    layout: &Layout,
    r: &Results,
    run: &Run,
) -> io::Result<()> {
    write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n\
         <nmaprun scanner=\"nmap\" args=\"{}\" start=\"{}\" startstr=\"{}\" version=\"sweep-{}\" xmloutputversion=\"1.05\">\n\
         <verbose level=\"0\"/>\n<debugging level=\"0\"/>\n",
        escape(run.args),
        epoch(run.started),
        ctime(run.started),
        env!("CARGO_PKG_VERSION"),
    )?;
    each_chunk(
        layout,
        r,
        |rows| {
            let mut buf = Vec::with_capacity(rows.len() * 160);
            for row in rows {
                host(&mut buf, row)?;
            }
            Ok(buf)
        },
        |t| out.write_all(&t),
    )?;
    let finished = run.started + run.elapsed;
    let secs = format!("{:.2}", run.elapsed.as_secs_f64());
    let plural = |n: u64, one: &str, many: &str| {
        if n == 1 {
            format!("{n} {one}")
        } else {
            format!("{n} {many}")
        }
    };
    write!(
        out,
        "<runstats><finished time=\"{}\" timestr=\"{}\" summary=\"Nmap done at {}; {} ({} up) scanned in {secs} seconds\" elapsed=\"{secs}\" exit=\"success\"/>\
         <hosts up=\"{}\" down=\"{}\" total=\"{}\"/>\n</runstats>\n</nmaprun>\n",
        epoch(finished),
        ctime(finished),
        ctime(finished),
        plural(run.total, "IP address", "IP addresses"),
        plural(run.up, "host", "hosts"),
        run.up,
        run.total.saturating_sub(run.up),
        run.total,
    )?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::receiver::Heard;
    use crate::engine::table::Table;
    use crate::results::output::tests::{bare, host};
    use crate::results::output::{Field, Format};
    use crate::targets::Targets;
    use crate::wire::Detail;
    use std::collections::HashMap;

    fn doc(all: bool) -> String {
        let targets = Targets::from_v4(vec![(0xC612_0001, 0xC612_0004)], vec![]);
        let table = Table::new(4, false);
        (0..4).for_each(|i| table.add_probe(i));
        table.record_reply(0, 1234, 63, 0);
        table.record_error(1, Detail::of(3, 1));
        let heard = Heard::default();
        let names = HashMap::from([(0, "gw.lab & <co>".to_string())]);
        let macs = HashMap::from([
            (0, host(&["b8:27:eb:01:02:03"])),
            (2, host(&["02:42:ac:11:00:02"])),
        ]);
        let r = Results {
            macs: &macs,
            ..bare(&targets, &table, &heard, &names)
        };
        let layout = Layout {
            format: Format::NmapXml,
            fields: Field::DEFAULT.to_vec(),
            all,
            csv_raw: false,
        };
        let run = Run {
            args: "sweep -oX out.xml 198.18.0.1-4",
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_400_000),
            elapsed: Duration::from_millis(1500),
            total: 4,
            up: 2,
        };
        let mut out = Vec::new();
        write(&mut out, &layout, &r, &run).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ping_scan_document() {
        let x = doc(false);
        assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n<nmaprun scanner=\"nmap\" args=\"sweep -oX out.xml 198.18.0.1-4\" start=\"1796400000\" startstr=\"Fri Dec  4 16:00:00 2026\""), "{x}");
        assert!(x.contains("<host><status state=\"up\" reason=\"echo-reply\" reason_ttl=\"63\"/>\n<address addr=\"198.18.0.1\" addrtype=\"ipv4\"/>\n<address addr=\"B8:27:EB:01:02:03\" addrtype=\"mac\" vendor=\"Raspberry Pi Foundation\"/>\n<hostnames>\n<hostname name=\"gw.lab &amp; &lt;co&gt;\" type=\"PTR\"/>\n</hostnames>\n<times srtt=\"1234\" rttvar=\"5000\" to=\"100000\"/>\n</host>"), "{x}");
        assert!(x.contains("<status state=\"up\" reason=\"arp-response\" reason_ttl=\"0\"/>\n<address addr=\"198.18.0.3\" addrtype=\"ipv4\"/>\n<address addr=\"02:42:AC:11:00:02\" addrtype=\"mac\"/>"), "{x}");
        assert_eq!(x.matches("<host>").count(), 2);
        assert!(x.contains("<hosts up=\"2\" down=\"2\" total=\"4\"/>"));
        assert!(x.contains("summary=\"Nmap done at Fri Dec  4 16:00:01 2026; 4 IP addresses (2 hosts up) scanned in 1.50 seconds\" elapsed=\"1.50\" exit=\"success\""), "{x}");
        assert!(!x.contains("scaninfo"));
        assert!(x.ends_with("</runstats>\n</nmaprun>\n"));
    }

    #[test]
    fn down_and_unreachable_only_with_all() {
        let x = doc(true);
        assert_eq!(x.matches("<host>").count(), 4);
        assert!(x.contains("<status state=\"down\" reason=\"host-unreach\" reason_ttl=\"0\"/>\n<address addr=\"198.18.0.2\""));
        assert!(x.contains("<status state=\"down\" reason=\"no-response\" reason_ttl=\"0\"/>\n<address addr=\"198.18.0.4\""));
    }

    #[test]
    fn timing_follows_nmap() {
        assert_eq!(times(1234), (1234, 5000, 100_000));
        assert_eq!(times(50_000), (50_000, 50_000, 250_000));
        assert_eq!(times(3_000_000), (3_000_000, 2_000_000, 11_000_000));
        assert_eq!(escape("a\"b'c\u{1}"), "a&quot;b&apos;c");
    }
}
