//! The sender thread: walks the permutation round by round, paced, in batches; retry
//! rounds probe only targets still silent, after an interval adapted to observed RTTs.

use crate::counters::Counters;
use crate::error::Result;
use crate::permute::Permutation;
use crate::probe::ProbeTemplate;
use crate::rate::Pacer;
use crate::table::Table;
use crate::targets::Targets;
use crate::transport::{SendPath, Sender, Socket};
use std::net::Ipv4Addr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

const MAX_BATCH: usize = 64;

pub struct Plan<'a> {
    pub targets: &'a Targets,
    pub perm: &'a Permutation,
    pub template: &'a ProbeTemplate,
    pub table: &'a Table,
    pub counters: &'a Counters,
    pub rate: Option<u64>,
    /// 1 + retries.
    pub rounds: u8,
    pub timeout: Duration,
    pub path: SendPath,
    /// Probe stamps are nanoseconds since this instant.
    pub epoch: Instant,
}

struct Batch<'s> {
    tx: Sender<'s>,
    index: Vec<u32>,
    dst: Vec<Ipv4Addr>,
}

/// Sends every round; returns when the last probe left (or the scan was stopped).
pub fn run(plan: &Plan, sock: &Socket) -> Result<Instant> {
    let n = plan.targets.len();
    let mut pacer = Pacer::new(plan.rate);
    let size = pacer.batch_size(MAX_BATCH);
    let mut b = Batch {
        tx: Sender::new(sock, size, plan.template.len(), plan.path),
        index: Vec::with_capacity(size),
        dst: Vec::with_capacity(size),
    };
    let mut last_probe = Instant::now();
    for round in 0..plan.rounds {
        if round > 0 {
            if !wait_for_retry(plan, last_probe) {
                break;
            }
            pacer.restart();
        }
        let pending = n - plan.counters.answered.load(Relaxed);
        plan.counters.planned.fetch_add(pending, Relaxed);
        for pos in 0..n {
            let i = plan.perm.at(pos) as u32;
            if round > 0 && plan.table.is_answered(i) {
                continue;
            }
            b.index.push(i);
            b.dst.push(plan.targets.addr_at(u64::from(i)));
            if b.index.len() == size {
                if plan.counters.stopped() {
                    return Ok(last_probe);
                }
                last_probe = flush(plan, &mut b, &mut pacer, round)?;
            }
        }
        if !b.index.is_empty() {
            last_probe = flush(plan, &mut b, &mut pacer, round)?;
        }
    }
    Ok(last_probe)
}

fn flush(plan: &Plan, b: &mut Batch, pacer: &mut Pacer, round: u8) -> Result<Instant> {
    pacer.wait_for(b.index.len() as u64);
    let now_ns = plan.epoch.elapsed().as_nanos() as u64;
    for (k, &i) in b.index.iter().enumerate() {
        plan.template.write(b.tx.slot(k), i, round, now_ns);
    }
    let accepted = b.tx.send(&b.dst)?;
    let mut sent = 0;
    for (&i, &ok) in b.index.iter().zip(accepted) {
        if ok {
            plan.table.add_probe(i);
            sent += 1;
        }
    }
    plan.counters.sent.fetch_add(sent, Relaxed);
    plan.counters
        .send_errors
        .fetch_add(b.index.len() as u64 - sent, Relaxed);
    b.index.clear();
    b.dst.clear();
    Ok(Instant::now())
}

/// Waits one retry interval after the previous round; false if there is nothing left to
/// retry (everyone answered) or the scan was stopped.
fn wait_for_retry(plan: &Plan, last_probe: Instant) -> bool {
    let n = plan.targets.len();
    loop {
        if plan.counters.stopped() || plan.counters.answered.load(Relaxed) >= n {
            return false;
        }
        let rto = match plan.counters.rto_us.load(Relaxed) {
            0 => plan.timeout,
            us => Duration::from_micros(us),
        };
        let left = (last_probe + rto).saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(5)));
    }
}
