//! End-to-end scans against sweep-sim, the simulated network (sim/): each
//! trial starts the simulator in its own namespace with a profile, scans it
//! with `sweep --all` and compares with the simulator's ground truth.
//!
//! Needs root; reported as ignored elsewhere, and failed when
//! SWEEP_REQUIRE_LAB=1. Runs with `harness = false` (libtest-mimic).

mod common;
#[path = "common/sim.rs"]
mod simlab;

use common::{ensure, heavy, lab_trial, run_trials, Need};
use simlab::{
    check_all, check_details, check_dups, check_no_false_positives, check_rtt_and_ttl, summarize,
    Sim,
};

fn main() {
    run_trials(vec![
        lab_trial(
            "sim_up_set_matches_truth",
            Need::Netns,
            up_set_matches_truth,
        ),
        lab_trial(
            "sim_no_false_positives_under_faults",
            Need::Netns,
            no_false_positives_under_faults,
        ),
        lab_trial(
            "sim_unreachable_reason_and_responder",
            Need::Netns,
            unreachable_reason_and_responder,
        ),
        lab_trial("sim_rtt_within_2ms", Need::Netns, rtt_within_2ms),
        lab_trial("sim_duplicates_counted", Need::Netns, duplicates_counted),
        lab_trial("sim_loss_recall", Need::Netns, loss_recall),
        lab_trial(
            "sim_ratelimited_hosts_found",
            Need::Netns,
            ratelimited_hosts_found,
        ),
    ])
}

/// No faults: a mix of live and silent hosts with varied, reordering RTTs,
/// and an unreachable block. Every status must match.
fn up_set_matches_truth() -> Result<(), String> {
    let _g = heavy();
    let sim = Sim::start(
        "seed 11\n\
         198.18.0.0/22 alive=40% rtt=1ms..30ms\n\
         198.18.4.0/24 rtt=5ms reorder=0.3 reorder_delay=1ms..50ms\n\
         203.0.113.0/28 unreach=host\n",
    )?;
    // Network and broadcast addresses of each prefix may be skipped.
    let rows = sim.sweep_checked(&["198.18.0.0/22", "198.18.4.0/24", "203.0.113.0/28"], 0, 6)?;
    let ups = rows.iter().filter(|r| r.status == "up").count();
    ensure(ups > 500, || format!("only {ups} hosts up"))
}

/// Hosts that only ever send broken replies must be down; IP options and
/// bad copies followed by a good reply must be up.
fn no_false_positives_under_faults() -> Result<(), String> {
    let _g = heavy();
    let sim = Sim::start(
        "seed 12\n\
         198.18.10.0/27 corrupt=1.0\n\
         198.18.10.32/27 truncate=1.0\n\
         198.18.10.64/27 truncate=1.0 trunc_to=24\n\
         198.18.10.96/27 truncate=1.0 trunc_to=28\n\
         198.18.10.128/27 foreign_id=1.0\n\
         # replies come from the neighbour (address XOR 1), itself a target\n\
         198.18.10.160/27 other_src=1.0\n\
         # replies come from a live host that sweep also probes\n\
         198.18.10.192/27 other_src=1.0 other_src_addr=198.18.11.1\n\
         198.18.10.224/27 corrupt=0.5 truncate=0.5 foreign_id=0.5 other_src=0.5 alive=none\n\
         198.18.11.0/28\n\
         198.18.12.0/27 options=1.0\n\
         198.18.12.32/27 options=1.0 options_kind=nop\n\
         198.18.12.64/27 corrupt=1.0 truncate=1.0 foreign_id=1.0 other_src=1.0 extra\n\
         198.18.12.96/27 options=1.0 extra\n",
    )?;
    let (_run, rows) = sim.sweep(&["198.18.10.0/24", "198.18.11.0/28", "198.18.12.0/25"])?;
    check_no_false_positives(&sim, &rows)?;
    check_all(&sim, &rows, 6)
}

/// Every ICMP error kind, short and long quotes, three routers.
fn unreachable_reason_and_responder() -> Result<(), String> {
    let _g = heavy();
    let sim = Sim::start(
        "198.18.20.0/28 unreach=net router=198.18.255.1\n\
         198.18.20.16/28 unreach=host quote=long\n\
         198.18.20.32/28 unreach=port\n\
         198.18.20.48/28 unreach=admin quote=long router=192.0.2.254\n\
         198.18.20.64/28 unreach=ttl\n\
         198.18.20.80/28 unreach=ttl quote=long ttl=250\n\
         198.18.20.96/28 unreach=admin\n\
         198.18.20.112/28 unreach=net quote=long\n\
         203.0.113.0/28 unreach=host\n",
    )?;
    let rows = sim.sweep_checked(&["198.18.20.0/25", "203.0.113.0/28"], 1, 4)?;
    check_details(&sim, &rows)
}

/// Measured RTT within 2 ms of the simulated fixed delay; TTL as sent.
fn rtt_within_2ms() -> Result<(), String> {
    let _g = heavy();
    let sim = Sim::start(
        "198.18.30.0/27 rtt=20ms\n\
         198.18.31.0/27 rtt=200ms ttl=57\n",
    )?;
    let rows = sim.sweep_checked(&["198.18.30.0/27", "198.18.31.0/27"], 0, 4)?;
    check_rtt_and_ttl(&sim, &rows).map(|_| ())
}

/// Duplicate replies show up in `dups`. A silent block keeps sweep waiting
/// long enough to see the copies that follow the last reply.
fn duplicates_counted() -> Result<(), String> {
    let _g = heavy();
    let sim = Sim::start(
        "198.18.40.0/27 rtt=5ms dup=1 dup_count=2\n\
         198.18.40.32/27 rtt=5ms dup=1 dup_count=1 dup_gap=0\n\
         198.18.40.64/27 rtt=5ms\n\
         198.18.40.96/27 alive=none\n",
    )?;
    let rows = sim.sweep_checked(&["198.18.40.0/25"], 0, 2)?;
    // Copies per answered probe by the last octet's /27.
    check_dups(&rows, |a| {
        Ok(match a.octets()[3] {
            0..=31 => 2,
            32..=63 => 1,
            _ => 0,
        })
    })
}

/// 5% loss each way on a fully alive /20: default retries find >= 99.9%,
/// and exactly the hosts the simulator delivered a reply for.
fn loss_recall() -> Result<(), String> {
    let _g = heavy();
    // Seed 5 loses all three tries for 4 of the 4094 hosts (recall 99.902%),
    // the expected number for 5% each way; the outcome is deterministic
    // because each draw is keyed by (address, request number).
    let mut sim = Sim::start("seed 5\n198.18.48.0/20 rtt=2ms loss=5%\n")?;
    let (run, rows) = sim.sweep(&["198.18.48.0/20"])?;
    run.expect_code(0)?;
    let (log, summary) = sim.stop()?;
    let found: Vec<_> = rows
        .iter()
        .filter(|r| r.status == "up")
        .map(|r| r.addr)
        .collect();
    let scanned = rows.len();
    let recall = found.len() as f64 / scanned as f64;
    ensure(recall >= 0.999, || {
        format!(
            "recall {:.3}% ({} of {scanned}); sim: {summary}",
            100.0 * recall,
            found.len()
        )
    })?;
    let mut bad = Vec::new();
    for r in &rows {
        let delivered = log.get(&r.addr).is_some_and(|l| l.replies_sent > 0);
        if delivered != (r.status == "up") {
            let l = log.get(&r.addr).cloned().unwrap_or_default();
            bad.push(format!(
                "{}: sweep says {}, sim log {l:?}",
                r.addr, r.status
            ));
        }
    }
    ensure(bad.is_empty(), || {
        format!(
            "sweep disagrees with what was delivered:\n  {}",
            summarize(&bad)
        )
    })
}

/// A router answering at most 2500/s (bursts of 15) for a /26 drops part of
/// the first round at 5000 probes/s; the retries find everyone.
fn ratelimited_hosts_found() -> Result<(), String> {
    let _g = heavy();
    let mut sim = Sim::start(
        "198.18.64.0/26 rtt=2ms ratelimit=2500 ratelimit_burst=15 ratelimit_scope=rule\n\
         198.18.65.0/28 rtt=2ms ratelimit=1\n",
    )?;
    sim.sweep_checked(
        &["--rate", "5000", "198.18.64.0/26", "198.18.65.0/28"],
        0,
        4,
    )?;
    let (log, summary) = sim.stop()?;
    let limited: u64 = log.values().map(|l| l.ratelimited).sum();
    ensure(limited > 0, || {
        format!("the rate limit never dropped anything; sim: {summary}")
    })
}
