//! `--format prometheus`: the text exposition format, as node_exporter's textfile
//! collector reads it. Every family has its HELP and TYPE lines and its samples together
//! (the format requires that), so each family is one pass over the hosts. The sink writes
//! the file atomically: a collector never reads half of it.

use crate::results::output::{rows, Layout, Results};
use crate::results::row::{Row, Status};
use std::io::{self, Write};
use std::time::{Duration, SystemTime};

/// Scan-level facts for the gauges after the hosts.
#[derive(Debug, Clone, Copy)]
pub struct ScanFacts {
    pub targets: u64,
    pub up: u64,
    pub elapsed: Duration,
    pub probes: u64,
    pub started: SystemTime,
}

fn head(out: &mut (impl Write + ?Sized), name: &str, kind: &str, help: &str) -> io::Result<()> {
    writeln!(out, "# HELP {name} {help}")?;
    writeln!(out, "# TYPE {name} {kind}")
}

fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

/// A per-host gauge: one sample for each host `value` has a number for.
fn family<W: Write + ?Sized>(
    out: &mut W,
    layout: &Layout,
    r: &Results,
    (name, kind, help): (&str, &str, &str),
    value: impl Fn(&Row) -> Option<f64>,
) -> io::Result<()> {
    head(out, name, kind, help)?;
    for h in rows(layout, r) {
        if let Some(v) = value(&h) {
            writeln!(out, "{name}{{addr=\"{}\"}} {v}", h.addr)?;
        }
    }
    Ok(())
}

/// The per-host families: up and first RTT; in count mode loss and the RTT summary.
pub fn write_hosts<W: Write + ?Sized>(out: &mut W, layout: &Layout, r: &Results) -> io::Result<()> {
    family(
        out,
        layout,
        r,
        (
            "sweep_host_up",
            "gauge",
            "1 if the host answered echo (or ARP/NDP on link), else 0.",
        ),
        |h| Some(if h.status == Status::Up { 1.0 } else { 0.0 }),
    )?;
    family(
        out,
        layout,
        r,
        (
            "sweep_host_rtt_seconds",
            "gauge",
            "Round-trip time of the host's first reply.",
        ),
        |h| h.rtt_us.map(secs),
    )?;
    if r.count.is_none() {
        return Ok(());
    }
    family(
        out,
        layout,
        r,
        (
            "sweep_host_probes_sent",
            "gauge",
            "Echo requests sent to the host in count mode.",
        ),
        |h| h.count.sent.map(|n| n as f64),
    )?;
    family(
        out,
        layout,
        r,
        (
            "sweep_host_loss_ratio",
            "gauge",
            "Fraction of echo requests without a reply (0 to 1).",
        ),
        |h| h.count.loss_permille.map(|p| p as f64 / 1000.0),
    )?;
    let name = "sweep_host_rtt_summary_seconds";
    head(
        out,
        name,
        "summary",
        "Round-trip times of the replies received in count mode.",
    )?;
    for h in rows(layout, r) {
        let (sum, n) = (h.count.sum_us, h.count.received.unwrap_or(0));
        writeln!(out, "{name}_sum{{addr=\"{}\"}} {}", h.addr, secs(sum))?;
        writeln!(out, "{name}_count{{addr=\"{}\"}} {n}", h.addr)?;
    }
    for (name, help, pick) in [
        (
            "sweep_host_rtt_min_seconds",
            "Shortest round-trip time in count mode.",
            0,
        ),
        (
            "sweep_host_rtt_max_seconds",
            "Longest round-trip time in count mode.",
            1,
        ),
        (
            "sweep_host_rtt_stddev_seconds",
            "Standard deviation of the round-trip times in count mode.",
            2,
        ),
    ] {
        family(out, layout, r, (name, "gauge", help), |h| {
            let c = &h.count;
            [c.min_us, c.max_us, c.stddev_us][pick].map(secs)
        })?;
    }
    Ok(())
}

/// The scan-level gauges, after the hosts.
pub fn write_scan<W: Write + ?Sized>(out: &mut W, f: &ScanFacts) -> io::Result<()> {
    let started = f
        .started
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    for (name, help, v) in [
        ("sweep_targets", "Targets in the scan.", f.targets as f64),
        ("sweep_hosts_up", "Targets that answered.", f.up as f64),
        (
            "sweep_scan_duration_seconds",
            "How long the scan took.",
            f.elapsed.as_secs_f64(),
        ),
        (
            "sweep_probes_sent",
            "Echo requests sent in the scan.",
            f.probes as f64,
        ),
        (
            "sweep_last_run_timestamp_seconds",
            "When the scan started, in seconds since the Unix epoch.",
            started,
        ),
    ] {
        head(out, name, "gauge", help)?;
        writeln!(out, "{name} {v}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::receiver::Heard;
    use crate::results::output::{tests::bare, tests::count_fixture, Field, Format, Layout};
    use std::collections::HashMap;

    #[test]
    fn families_are_whole_and_typed() {
        let (t, table, ct) = count_fixture();
        let heard = Heard::default();
        let names = HashMap::new();
        let r = Results {
            count: Some(&ct),
            ..bare(&t, &table, &heard, &names)
        };
        let layout = Layout {
            format: Format::Prometheus,
            fields: Field::DEFAULT.to_vec(),
            all: true,
            csv_raw: false,
        };
        let mut out = Vec::new();
        write_hosts(&mut out, &layout, &r).unwrap();
        let facts = ScanFacts {
            targets: 2,
            up: 1,
            elapsed: Duration::from_millis(1500),
            probes: 8,
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        };
        write_scan(&mut out, &facts).unwrap();
        let text = String::from_utf8(out).unwrap();
        for line in [
            "# TYPE sweep_host_up gauge",
            "sweep_host_up{addr=\"198.18.0.1\"} 1",
            "sweep_host_up{addr=\"198.18.0.2\"} 0",
            "sweep_host_rtt_seconds{addr=\"198.18.0.1\"} 0.001",
            "sweep_host_loss_ratio{addr=\"198.18.0.1\"} 0.25",
            "sweep_host_loss_ratio{addr=\"198.18.0.2\"} 1",
            "# TYPE sweep_host_rtt_summary_seconds summary",
            "sweep_host_rtt_summary_seconds_sum{addr=\"198.18.0.1\"} 0.007",
            "sweep_host_rtt_summary_seconds_count{addr=\"198.18.0.1\"} 3",
            "sweep_host_rtt_max_seconds{addr=\"198.18.0.1\"} 0.004",
            "sweep_scan_duration_seconds 1.5",
            "sweep_last_run_timestamp_seconds 1700000000",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
        assert!(!text.contains("sweep_host_rtt_seconds{addr=\"198.18.0.2\"}"));
        // Every sample's family was announced by HELP and TYPE just before its samples.
        let mut current = String::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                current = rest.split(' ').next().unwrap().to_string();
            } else if !l.starts_with('#') {
                assert!(l.starts_with(&current), "{l} outside {current}");
            }
        }
    }
}
