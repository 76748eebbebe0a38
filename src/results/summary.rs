//! The one-line summary printed on stderr at the end of a scan, and the same numbers as
//! the JSON object `--summary-json` writes.

use crate::engine::counters::Counters;
use crate::engine::onlink::Heard as Layer2;
use crate::engine::proxy::Proxy;
use crate::engine::receiver::IgnoredCounts;
use crate::engine::table::Status;
use crate::engine::Scanned;
use crate::targets::Targets;
use crate::wire::ether::Mac;
use rayon::prelude::*;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub targets: u64,
    pub up: u64,
    pub unreachable: u64,
    pub down: u64,
    pub probes: u64,
    pub send_errors: u64,
    pub elapsed: Duration,
    pub sending: Duration,
    pub dups: u64,
    pub late: u64,
    pub ignored: IgnoredCounts,
    /// What the layer-2 receivers ignored (ARP replies / neighbour advertisements).
    pub layer2: Layer2,
    /// The probe order's seed: printed so a run can be repeated; it is no secret (the
    /// key that makes answers unforgeable is per process and never shown).
    pub seed: u64,
    /// On-link targets resolved at layer 2, and how many of them answered only that.
    pub resolved: u64,
    pub neighbour_only: u64,
    /// Packets the kernel dropped on a full receive queue (SO_RXQ_OVFL's counter).
    pub kernel_drops: u64,
    /// Target hostnames that did not resolve and were skipped.
    pub unresolved: Vec<String>,
    /// Hosts whose echo data differed from the probe's (rows with `bad-data`).
    pub bad_data: u64,
    /// What the path did: delivery per round, rate changes (`results/path.rs`), and the
    /// re-probes of known-up hosts that measured it.
    pub path: crate::engine::path::Report,
    pub samples: u64,
    /// Routers that answered ARP for targets they do not hold (proxy ARP).
    pub proxies: Vec<ProxyNote>,
    /// Addresses two or more MACs answered ARP / neighbour discovery for.
    pub conflicts: u64,
    /// The targets this run was asked to scan (its shard's, when sharded): `targets` is
    /// those it reached.
    pub asked: u64,
    /// Where an interrupt stopped the sending, if it did.
    pub stopped: Option<Stopped>,
}

/// How far an interrupted scan got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// The round sending was in, or was about to begin (1-based).
    pub round: u8,
    /// Whether that round had begun.
    pub begun: bool,
    /// Rounds the scan would have sent: exactly, or at most (rounds by yield).
    pub rounds: u8,
    pub by_yield: bool,
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at_most = if self.by_yield { "at most " } else { "" };
        let when = if self.begun { "in" } else { "before" };
        write!(f, "{when} round {} of {at_most}{}", self.round, self.rounds)
    }
}

/// `1 target`, `2 targets`.
fn count(n: u64, one: &str, many: &str) -> String {
    match n {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

/// One proxy, as the summary names it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyNote {
    pub mac: Mac,
    pub vendor: Option<&'static str>,
    /// Its own addresses among the targets (those that answered echo unrouted).
    pub own: Vec<IpAddr>,
    /// Targets it answered ARP for, its own included.
    pub claimed: u64,
}

impl ProxyNote {
    pub fn of(p: &Proxy, targets: &Targets) -> ProxyNote {
        ProxyNote {
            mac: p.mac,
            vendor: crate::results::output::vendor(p.mac),
            own: p.own.iter().map(|&i| targets.addr_at(i)).collect(),
            claimed: p.claimed,
        }
    }
}

/// What the JSON summary says beyond the counts: when the run was, and how it ended.
#[derive(Debug, Clone, Copy)]
pub struct RunInfo {
    pub started_at: SystemTime,
    pub finished_at: SystemTime,
    pub interrupted: bool,
    pub exit_code: u8,
}

impl Summary {
    /// Counts statuses from the table (the record of truth), in parallel for big scans.
    /// `partial`: count only targets this run probed (a shard, an interrupted or resumed run).
    /// A target `present(i)` says answered ARP / neighbour discovery counts as up.
    pub fn new(
        scanned: &Scanned,
        c: &Counters,
        seed: u64,
        partial: bool,
        present: &(dyn Fn(u32) -> bool + Sync),
    ) -> Summary {
        let table = &scanned.table;
        let (targets, up, unreachable, only) = (0..table.len() as u32)
            .into_par_iter()
            .map(|i| {
                let cell = table.get(i);
                let counted = cell.status != Status::Prior && (cell.in_scope() || !partial);
                match cell.status {
                    Status::Up => (1, 1, 0, 0),
                    Status::Unreachable => (1, 0, 1, 0),
                    Status::Down if counted && present(i) => (1, 1, 0, 1),
                    _ => (u64::from(counted), 0, 0, 0),
                }
            })
            .reduce(
                || (0, 0, 0, 0),
                |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 + b.3),
            );
        Summary {
            resolved: c.resolved.load(Relaxed),
            neighbour_only: only,
            targets,
            up,
            unreachable,
            down: targets - up - unreachable,
            probes: c.sent.load(Relaxed),
            send_errors: c.send_errors.load(Relaxed),
            elapsed: scanned.elapsed,
            sending: scanned.sending,
            dups: c.dups.load(Relaxed),
            late: c.late.load(Relaxed),
            ignored: scanned.heard.ignored,
            layer2: scanned.l2,
            seed,
            kernel_drops: 0,
            unresolved: Vec::new(),
            bad_data: c.bad_data.load(Relaxed),
            path: scanned.path.clone(),
            samples: c.samples.load(Relaxed),
            proxies: Vec::new(),
            conflicts: 0,
            asked: targets,
            stopped: None,
        }
    }

    /// The summary of a run that scanned nothing (discovery found nobody): every count 0.
    pub fn nothing(seed: u64) -> Summary {
        Summary {
            targets: 0,
            up: 0,
            unreachable: 0,
            down: 0,
            probes: 0,
            send_errors: 0,
            elapsed: Duration::ZERO,
            sending: Duration::ZERO,
            dups: 0,
            late: 0,
            ignored: IgnoredCounts::default(),
            layer2: Layer2::default(),
            seed,
            resolved: 0,
            neighbour_only: 0,
            kernel_drops: 0,
            unresolved: Vec::new(),
            bad_data: 0,
            path: Default::default(),
            samples: 0,
            proxies: Vec::new(),
            conflicts: 0,
            asked: 0,
            stopped: None,
        }
    }

    /// The summary as one JSON object (field names in README's "Summary JSON").
    pub fn to_json(&self, run: &RunInfo) -> serde_json::Value {
        let secs = self.elapsed.as_secs_f64();
        let i = &self.ignored;
        let time = |t: SystemTime| humantime::format_rfc3339_millis(t).to_string();
        serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "targets": self.targets,
            "up": self.up,
            "unreachable": self.unreachable,
            "down": self.down,
            "probes": self.probes,
            "duplicates": self.dups,
            "late": self.late,
            "ignored": {
                "total": i.total(),
                "damaged": i.damaged,
                "not_ours": i.not_ours,
                "bad_tag": i.bad_tag,
                "wrong_source": i.wrong_source,
            },
            "ignored_layer2": {
                "total": self.layer2.total(),
                "not_ours": self.layer2.not_ours,
                "unasked": self.layer2.unasked,
                "bad_mac": self.layer2.bad_mac,
                "repeats": self.layer2.repeats,
            },
            "send_errors": self.send_errors,
            "kernel_drops": self.kernel_drops,
            "neighbour_resolved": self.resolved,
            "neighbour_only": self.neighbour_only,
            "conflicts": self.conflicts,
            "elapsed_s": round3(secs),
            "sending_s": round3(self.sending.as_secs_f64()),
            "send_rate_pps": rate(self.probes, self.sending),
            "average_pps": rate(self.probes, self.elapsed),
            // A string: a 64-bit seed is beyond what readers that parse numbers as doubles
            // (JavaScript, jq 1.6) keep exact, and a wrong seed would resume another scan.
            "seed": self.seed.to_string(),
            "started_at": time(run.started_at),
            "finished_at": time(run.finished_at),
            "interrupted": run.interrupted,
            "asked": self.asked,
            "stopped": self.stopped.map(|st| serde_json::json!({
                "round": st.round,
                "round_begun": st.begun,
                "rounds": st.rounds,
                "rounds_by_yield": st.by_yield,
                "not_probed": self.asked.saturating_sub(self.targets),
            })),
            "exit_code": run.exit_code,
            "unresolved": self.unresolved,
            "bad_data": self.bad_data,
            "path": crate::results::path::json(&self.path, self.samples),
            "proxies": self.proxies.iter().map(|p| serde_json::json!({
                "mac": p.mac.to_string(),
                "vendor": p.vendor,
                "addresses": p.own.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                "claimed": p.claimed,
            })).collect::<Vec<_>>(),
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Probes per second over `span`, whole (0 for an empty span).
fn rate(probes: u64, span: Duration) -> u64 {
    let secs = span.as_secs_f64();
    if secs > 0.0 {
        (probes as f64 / secs).round() as u64
    } else {
        0
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        match self.stopped {
            // Counts of what was reached only would read as the whole scan's.
            Some(st) => write!(
                f,
                "sweep: interrupted {st}, after {} of {}: {} up, {} unreachable, {} down, {} not probed; ",
                self.targets,
                count(self.asked, "target", "targets"),
                self.up,
                self.unreachable,
                self.down,
                self.asked.saturating_sub(self.targets),
            )?,
            None => write!(
                f,
                "sweep: {}: {} up, {} unreachable, {} down; ",
                count(self.targets, "target", "targets"),
                self.up,
                self.unreachable,
                self.down,
            )?,
        }
        write!(
            f,
            "{} in {:.3} s ({:.0} pps average, {:.0} pps while sending); {}, {} late, {} ignored",
            count(self.probes, "probe", "probes"),
            secs,
            self.probes as f64 / secs.max(1e-9),
            self.probes as f64 / self.sending.as_secs_f64().max(1e-9),
            count(self.dups, "duplicate", "duplicates"),
            self.late,
            self.ignored.total(),
        )?;
        let i = &self.ignored;
        if i.total() > 0 {
            write!(
                f,
                " ({} damaged, {} not ours, {} bad tag, {} wrong source)",
                i.damaged, i.not_ours, i.bad_tag, i.wrong_source
            )?;
        }
        if self.resolved > 0 {
            write!(
                f,
                "; {} resolved by ARP/NDP ({} answered only that)",
                count(self.resolved, "on-link host", "on-link hosts"),
                self.neighbour_only
            )?;
        }
        let l2 = &self.layer2;
        if l2.total() > 0 {
            write!(
                f,
                "; {} layer-2 answers ignored ({} not ours, {} unasked, {} bad MAC, {} repeated)",
                l2.total(),
                l2.not_ours,
                l2.unasked,
                l2.bad_mac,
                l2.repeats
            )?;
        }
        match self.conflicts {
            0 => {}
            1 => write!(f, "; 1 address conflict (two or more MACs for one address)")?,
            n => write!(
                f,
                "; {n} address conflicts (two or more MACs for one address)"
            )?,
        }
        for p in &self.proxies {
            write!(f, "; proxy ARP from {}", p.mac)?;
            let own: Vec<String> = p.own.iter().map(|a| a.to_string()).collect();
            let about: Vec<&str> = p
                .vendor
                .into_iter()
                .chain(own.iter().map(|a| a.as_str()))
                .collect();
            if !about.is_empty() {
                write!(f, " ({})", about.join(", "))?;
            }
            write!(
                f,
                " for {}: judged by echo alone (silent ones down, proxy-arp)",
                count(p.claimed, "target", "targets")
            )?;
        }
        if self.kernel_drops > 0 {
            write!(
                f,
                "; {} replies dropped by the kernel (receive queue full: hosts may be \
                 reported down; lower --rate or raise net.core.rmem_max)",
                self.kernel_drops
            )?;
        }
        if self.send_errors > 0 {
            write!(
                f,
                "; {} refused by the kernel",
                count(self.send_errors, "probe", "probes")
            )?;
        }
        if self.bad_data > 0 {
            write!(
                f,
                "; {} echoed wrong data (bad-data)",
                count(self.bad_data, "host", "hosts")
            )?;
        }
        if !self.unresolved.is_empty() {
            match self.unresolved.len() {
                1 => write!(f, "; 1 hostname did not resolve")?,
                n => write!(f, "; {n} hostnames did not resolve")?,
            }
        }
        write!(f, "; seed {}", self.seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_every_field_with_its_value() {
        let s = Summary {
            targets: 10,
            up: 4,
            unreachable: 1,
            down: 5,
            probes: 20,
            send_errors: 0,
            elapsed: Duration::from_millis(2500),
            sending: Duration::from_secs(2),
            dups: 3,
            late: 0,
            ignored: IgnoredCounts {
                damaged: 1,
                not_ours: 2,
                bad_tag: 0,
                wrong_source: 0,
            },
            layer2: Layer2 {
                unasked: 2,
                repeats: 1,
                ..Layer2::default()
            },
            seed: u64::MAX,
            resolved: 0,
            neighbour_only: 0,
            kernel_drops: 0,
            unresolved: vec!["gone.example".into()],
            bad_data: 2,
            path: Default::default(),
            samples: 7,
            proxies: vec![ProxyNote {
                mac: "00:00:0c:01:02:03".parse().unwrap(),
                vendor: Some("Cisco Systems, Inc"),
                own: vec!["198.18.255.254".parse().unwrap()],
                claimed: 3224,
            }],
            conflicts: 2,
            asked: 10,
            stopped: None,
        };
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400);
        let run = RunInfo {
            started_at: t0,
            finished_at: t0 + Duration::from_millis(2600),
            interrupted: false,
            exit_code: 0,
        };
        let j = s.to_json(&run);
        assert_eq!(j["targets"], 10);
        assert_eq!(j["up"], 4);
        assert_eq!(j["duplicates"], 3);
        assert_eq!(j["ignored"]["total"], 3);
        assert_eq!(j["ignored"]["not_ours"], 2);
        assert_eq!(j["ignored_layer2"]["total"], 3);
        assert_eq!(j["conflicts"], 2);
        assert!(s
            .to_string()
            .contains("; 2 address conflicts (two or more MACs for one address);"));
        assert_eq!(j["ignored_layer2"]["repeats"], 1);
        assert!(s.to_string().contains(
            "; 3 layer-2 answers ignored (0 not ours, 2 unasked, 0 bad MAC, 1 repeated);"
        ));
        assert_eq!(j["elapsed_s"], 2.5);
        assert_eq!(j["send_rate_pps"], 10);
        assert_eq!(j["average_pps"], 8);
        assert_eq!(j["seed"], "18446744073709551615");
        assert_eq!(j["started_at"], "1970-01-02T00:00:00.000Z");
        assert_eq!(j["finished_at"], "1970-01-02T00:00:02.600Z");
        assert_eq!(j["exit_code"], 0);
        assert_eq!(j["interrupted"], false);
        assert_eq!(j["unresolved"], serde_json::json!(["gone.example"]));
        assert_eq!(
            j["proxies"],
            serde_json::json!([{"mac": "00:00:0c:01:02:03", "vendor": "Cisco Systems, Inc",
                "addresses": ["198.18.255.254"], "claimed": 3224}])
        );
        assert!(s.to_string().contains(
            "; proxy ARP from 00:00:0c:01:02:03 (Cisco Systems, Inc, 198.18.255.254) for 3224 \
             targets: judged by echo alone (silent ones down, proxy-arp);"
        ));
        assert_eq!(j["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(j["bad_data"], 2);
        assert_eq!(j["path"]["samples"], 7);
        assert_eq!(j["path"]["loss_seen"], false);
        assert!(s
            .to_string()
            .contains("; 2 hosts echoed wrong data (bad-data);"));
        assert!(s
            .to_string()
            .ends_with("; 1 hostname did not resolve; seed 18446744073709551615"));
        assert_eq!(j["asked"], 10);
        assert_eq!(j["stopped"], serde_json::Value::Null);
        assert!(s.to_string().starts_with("sweep: 10 targets: 4 up,"), "{s}");
    }

    #[test]
    fn one_of_a_kind_is_singular() {
        let s = Summary {
            targets: 1,
            up: 1,
            probes: 1,
            dups: 1,
            asked: 1,
            ..quiet()
        };
        let line = s.to_string();
        assert!(
            line.starts_with("sweep: 1 target: 1 up, 0 unreachable, 0 down; 1 probe in "),
            "{line}"
        );
        assert!(line.contains("; 1 duplicate, 0 late"), "{line}");
    }

    #[test]
    fn an_interrupted_run_says_how_far_it_got() {
        let s = Summary {
            targets: 129,
            up: 35,
            down: 94,
            probes: 129,
            asked: 254,
            stopped: Some(Stopped {
                round: 1,
                begun: true,
                rounds: 11,
                by_yield: true,
            }),
            ..quiet()
        };
        let line = s.to_string();
        assert!(
            line.starts_with(
                "sweep: interrupted in round 1 of at most 11, after 129 of 254 targets: \
                 35 up, 0 unreachable, 94 down, 125 not probed; 129 probes in "
            ),
            "{line}"
        );
        let t0 = SystemTime::UNIX_EPOCH;
        let run = RunInfo {
            started_at: t0,
            finished_at: t0,
            interrupted: true,
            exit_code: 130,
        };
        let j = s.to_json(&run);
        assert_eq!(
            j["stopped"],
            serde_json::json!({"round": 1, "round_begun": true, "rounds": 11,
                "rounds_by_yield": true, "not_probed": 125})
        );
        assert_eq!(
            (j["targets"].clone(), j["asked"].clone()),
            (129.into(), 254.into())
        );
        let between = Stopped {
            round: 2,
            begun: false,
            rounds: 3,
            by_yield: false,
        };
        assert_eq!(between.to_string(), "before round 2 of 3");
    }

    /// A summary of nothing, for tests to fill in.
    fn quiet() -> Summary {
        Summary {
            elapsed: Duration::from_secs(1),
            sending: Duration::from_secs(1),
            ..Summary::nothing(1)
        }
    }
}
