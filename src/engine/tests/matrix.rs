//! The path scenario matrix, in memory: every kind of path the controller must handle,
//! each scan held against the best fixed setting in hindsight (the oracle: `--fixed-rate
//! --rate R --retries N`, R the highest rate up to the ceiling the path bears without
//! excess loss, N the retries the rounds-by-yield rule needs at the path's true
//! delivery). The network is sweep-sim's engine on a real clock, the policers scaled to
//! a small block and a ceiling of 2,000 pps; what is asserted is what cannot flake on a
//! loaded machine: recall, no false positive, the kind of loss named, probes sent
//! against the oracle's, and no time spent at the rate's floor. The kernel lab runs the
//! same rows at full scale with wall times (`scripts/bench.sh --only matrix`).

use super::*;
use crate::engine::path::aimd::LossKind;

/// The adaptive engine's ceiling in these rows (`--rate`).
const CEILING: u64 = 2_000;

/// One row: a block, the path to it, what the oracle knows of it.
struct Row {
    /// sweep-sim rules for the block (a seed line is added).
    profile: &'static str,
    first: &'static str,
    last: &'static str,
    /// The highest rate the path bears, pps (a policer's: a little under its limit).
    bears: u64,
    /// The share of probes to a live host that come back at such a rate.
    delivery: f64,
    kind: LossKind,
    /// The path dies after this many probes.
    dies_after: Option<u64>,
    onlink: bool,
}

impl Row {
    const fn routed(profile: &'static str, delivery: f64, kind: LossKind) -> Row {
        Row {
            profile,
            first: "198.18.0.1",
            last: "198.18.15.254",
            bears: CEILING,
            delivery,
            kind,
            dies_after: None,
            onlink: false,
        }
    }

    /// A /20 behind a policer of `limit` pps.
    const fn policed(profile: &'static str, limit: u64, delivery: f64) -> Row {
        Row {
            profile,
            first: "198.18.0.1",
            last: "198.18.15.254",
            bears: limit * 39 / 40,
            delivery,
            kind: LossKind::RateLimit,
            dies_after: None,
            onlink: false,
        }
    }
}

/// What one scan did.
struct Outcome {
    found: usize,
    false_up: usize,
    probes: u64,
    report: path::Report,
}

fn scan_row(row: &Row, seed: u64, o: &ScanOptions) -> (usize, Outcome) {
    let net = MemNets::new(&format!("seed {seed}\n{}", row.profile));
    let t = range(row.first, row.last);
    let live = live(&net, &t);
    if let Some(after) = row.dies_after {
        net.cut_after(after);
    }
    let r = if row.onlink {
        let onlink = onlink_over(&net, &t, false);
        scan_onlink(&net, &t, o, &onlink)
    } else {
        scan_with(&net, &t, o, None)
    };
    let (mut found, mut false_up) = (0, 0);
    for i in 0..t.len() {
        if r.scanned.table.get(i as u32).status == Status::Up {
            match net.expect(t.addr_at(i)).as_deref() {
                Some("up") => found += 1,
                _ => false_up += 1,
            }
        }
    }
    let probes = r.counters.sent.load(Relaxed);
    let report = r.scanned.path.clone();
    (
        live,
        Outcome {
            found,
            false_up,
            probes,
            report,
        },
    )
}

/// The retries rounds by yield need at delivery `q` for `live` hosts: the fewest, at
/// least one, after which fewer than half a host is expected still hidden (at most 10).
fn oracle_retries(live: usize, q: f64) -> u8 {
    (1..=ADAPTIVE_RETRIES)
        .find(|&n| live as f64 * (1.0 - q).powi(i32::from(n) + 1) < 0.5)
        .unwrap_or(ADAPTIVE_RETRIES)
}

/// One row at a time: rows run on a real clock, and two at once would slow each
/// other's replies (taken for loss).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn check(row: &Row, seed: u64) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (live, got) = scan_row(row, seed, &defaults(Some(CEILING), 600));
    let fixed = ScanOptions {
        rate: Some(row.bears),
        fixed_rate: true,
        ..opts(oracle_retries(live, row.delivery), 600)
    };
    let (_, oracle) = scan_row(row, seed, &fixed);
    let r = &got.report;
    let what = format!(
        "{}: {} of {live} found (oracle {}), {} probes (oracle {}), kind {:?}, rounds {:?}, \
         events {:?}; oracle's rounds {:?}",
        row.profile.trim(),
        got.found,
        oracle.found,
        got.probes,
        oracle.probes,
        r.kind(),
        r.rounds,
        r.events,
        oracle.report.rounds
    );
    assert_eq!(got.false_up, 0, "no false positive: {what}");
    // 99.9 %, or the oracle's recall where the loss makes that impossible. Where the
    // path dies, which targets went out before it did depends on the samples among
    // them (sent to hosts as their answers come in, a matter of timing): 1 % less.
    let floor = (live as f64 * 0.999).floor() as usize;
    let oracles = match row.dies_after {
        Some(_) => oracle.found - oracle.found / 100,
        None => oracle.found.saturating_sub(1),
    };
    assert!(got.found >= floor.min(oracles), "recall: {what}");
    assert_eq!(r.kind(), row.kind, "kind: {what}");
    // The controller sees nothing before its first window of samples, and a first verdict
    // not beyond doubt is checked back at the rate it began from, in two windows (one
    // drains what a policer saved up, one is judged): those probes go at the ceiling
    // whatever the path (on a small block, much of a round).
    let blind = 3 * path::WINDOW * path::Path::new(Some(CEILING), true).sample_every();
    assert!(
        got.probes as f64 <= 1.5 * oracle.probes as f64 + blind as f64,
        "probes: {what}"
    );
    assert!(
        r.at_floor_s < 0.5,
        "{} s at the floor: {what}",
        r.at_floor_s
    );
    // The warning names the kind whenever answers were lost, and is silent otherwise.
    let warning = crate::results::path::warning(r);
    let named = match row.kind {
        LossKind::Unknown => None,
        LossKind::RateLimit => Some("rate limit"),
        LossKind::AnyRate => Some("loss at any rate"),
        LossKind::Gone => Some("path gone"),
    };
    match named {
        None => assert_eq!(warning, None, "{what}"),
        Some(words) => assert!(
            warning.as_deref().is_some_and(|w| w.contains(words)),
            "warning {warning:?}: {what}"
        ),
    }
}

#[test]
fn matrix_clean() {
    check(
        &Row::routed("198.18.0.0/20 alive=25% rtt=1ms\n", 1.0, LossKind::Unknown),
        41,
    );
}

#[test]
fn matrix_reply_loss_5() {
    check(
        &Row::routed(
            "198.18.0.0/20 alive=25% rtt=1ms loss_out=5%\n",
            0.95,
            LossKind::AnyRate,
        ),
        42,
    );
}

#[test]
fn matrix_reply_loss_10() {
    check(
        &Row::routed(
            "198.18.0.0/20 alive=25% rtt=1ms loss_out=10%\n",
            0.9,
            LossKind::AnyRate,
        ),
        43,
    );
}

#[test]
fn matrix_reply_loss_30() {
    check(
        &Row::routed(
            "198.18.0.0/20 alive=25% rtt=1ms loss_out=30%\n",
            0.7,
            LossKind::AnyRate,
        ),
        44,
    );
}

#[test]
fn matrix_reply_loss_50() {
    check(
        &Row::routed(
            "198.18.0.0/20 alive=25% rtt=1ms loss_out=50%\n",
            0.5,
            LossKind::AnyRate,
        ),
        45,
    );
}

#[test]
fn matrix_request_loss_10() {
    check(
        &Row::routed(
            "198.18.0.0/20 alive=25% rtt=1ms loss_in=10%\n",
            0.9,
            LossKind::AnyRate,
        ),
        46,
    );
}

/// Both bursts of a policer of `limit` pps on `block` (its last address `last`).
fn policed_both_bursts(limit: u64, block: &str, last: &'static str, seeds: [u64; 2]) {
    for (burst, seed) in [5, 200].into_iter().zip(seeds) {
        let profile = format!(
            "{block} alive=25% rtt=1ms police={limit} police_scope=total police_burst={burst}\n"
        );
        let row = Row {
            last,
            ..Row::policed(leak(profile), limit, 1.0)
        };
        check(&row, seed);
    }
}

#[test]
fn matrix_policer_5_percent_of_the_ceiling() {
    // A /21: at 100 pps a round of the /20 would take 41 s.
    policed_both_bursts(100, "198.18.0.0/21", "198.18.7.254", [47, 48]);
}

#[test]
fn matrix_policer_20_percent_of_the_ceiling() {
    policed_both_bursts(400, "198.18.0.0/20", "198.18.15.254", [49, 50]);
}

#[test]
fn matrix_policer_half_the_ceiling() {
    policed_both_bursts(1_000, "198.18.0.0/20", "198.18.15.254", [51, 52]);
}

#[test]
fn matrix_policer_with_reply_loss_10() {
    check(
        &Row::policed(
            "198.18.0.0/20 alive=25% rtt=1ms police=400 police_scope=total loss_out=10%\n",
            400,
            0.9,
        ),
        53,
    );
}

#[test]
fn matrix_rtt_spread_loss_and_duplicates() {
    let row = Row::routed(
        "198.18.0.0/20 alive=25% rtt=5ms..300ms loss=5% dup=5%\n",
        0.95 * 0.95,
        LossKind::AnyRate,
    );
    check(&row, 54);
}

#[test]
fn matrix_path_dies_halfway() {
    let row = Row {
        dies_after: Some(2_000),
        ..Row::routed("198.18.0.0/20 alive=25% rtt=1ms\n", 1.0, LossKind::Gone)
    };
    check(&row, 55);
}

#[test]
fn matrix_onlink_frame_loss_10() {
    let row = Row {
        onlink: true,
        ..Row::routed(
            "link tap\n198.18.0.0/20 alive=25% rtt=1ms loss=5% arp_loss=10%\n",
            // A host must answer ARP too before its first echo.
            0.95 * 0.95 * 0.9,
            LossKind::AnyRate,
        )
    };
    check(&row, 56);
}

/// A row's profile built at run time, for the life of the test binary.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[test]
fn the_oracle_retries_as_the_issue_counts_them() {
    // The /16's 16,545 live hosts: one retry on a clean path, 8 at 30 % loss.
    assert_eq!(oracle_retries(16_545, 1.0), 1);
    assert_eq!(oracle_retries(16_545, 0.7), 8);
    assert_eq!(oracle_retries(16_545, 0.5), 10);
}
