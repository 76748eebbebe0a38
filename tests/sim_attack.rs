//! Forged answers against sweep-sim's on-path attacker (profile directive
//! `attacker`, sim/src/attack.rs): from the first probe it sees, it sends one
//! burst of host-unreachable errors (short and long quotes) and echo replies
//! for every other described address, guessing sequence and tag from that
//! probe. sweep must report exactly the truth — no live host hidden behind a
//! forged error, no forged host up or unreachable — and probe every target.
//!
//! Needs root; reported as ignored elsewhere, and failed when
//! SWEEP_REQUIRE_LAB=1. Runs with `harness = false` (libtest-mimic).

mod common;
#[path = "common/sim.rs"]
mod simlab;

use std::net::IpAddr;

use common::{ensure, heavy, lab_trial, run_trials, Addr, Need, SweepRow};
use simlab::{check_all, summarize, SimNet};

fn main() {
    run_trials(vec![
        lab_trial("sim_attack_forgeries_ignored_v4", Need::Netns, attack_v4),
        lab_trial("sim_attack_forgeries_ignored_v6", Need::Netns, attack_v6),
    ])
}

fn attack_v4() -> Result<(), String> {
    attack(
        "seed 41\n\
         attacker forge=short,long,reply\n\
         198.18.96.0/22 alive=30% rtt=2ms\n\
         203.0.113.0/28 unreach=host\n",
        &["198.18.96.0/22", "203.0.113.0/28"],
        false,
    )
}

fn attack_v6() -> Result<(), String> {
    attack(
        "seed 42\n\
         attacker forge=all\n\
         2001:2::/118 alive=30% rtt=2ms\n\
         2001:db8:ff::/124 unreach=host\n",
        &["2001:2::/118", "2001:db8:ff::/124"],
        true,
    )
}

/// Scans the profile's prefixes while its attacker forges, then checks sweep's rows
/// against the truth and that the attack really happened.
fn attack(profile: &str, targets: &[&str], v6: bool) -> Result<(), String> {
    let _g = heavy();
    let mut sim = SimNet::<IpAddr>::start(profile)?;
    let (run, rows) = sim.sweep(targets)?;
    let (_, summary) = sim.stop()?;
    // One burst: three forgeries for each described address but the first one probed.
    let described = sim.truth.keys().filter(|a| a.is_ipv6() == v6).count();
    let want = 3 * (described - 1);
    let forged = forged_count(&summary)?;
    ensure(forged == want, || {
        format!("the attacker wrote {forged} forgeries, expected {want}; sim: {summary}")
    })?;
    check_all(&sim, &rows, 4).map_err(|e| format!("{e}\nsweep: {}", run.stderr))?;
    check_every_target_probed(&rows)?;
    let up = rows.iter().filter(|r| r.status == "up").count();
    ensure(up > 0, || "no host up at all".into())?;
    run.expect_code(0)
}

/// Every row says sweep sent at least one probe: none was skipped as "answered" by a
/// forgery before its first probe.
fn check_every_target_probed<A: Addr>(rows: &[SweepRow<A>]) -> Result<(), String> {
    let unprobed: Vec<String> = rows
        .iter()
        .filter(|r| r.probes.parse::<u32>().map_or(true, |p| p == 0))
        .map(|r| format!("{}: {} with {} probes", r.addr, r.status, r.probes))
        .collect();
    ensure(unprobed.is_empty(), || {
        format!(
            "{} targets never probed:\n  {}",
            unprobed.len(),
            summarize(&unprobed)
        )
    })
}

/// `…, 3117 forged, …` from sweep-sim's summary line.
fn forged_count(summary: &str) -> Result<usize, String> {
    summary
        .split(", ")
        .find_map(|part| part.strip_suffix(" forged"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("no forged count in the simulator's summary: {summary}"))
}
