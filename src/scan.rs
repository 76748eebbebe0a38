//! One scan: the sender and receiver threads around a shared table, and the decision of
//! when it is over (everyone answered, or `timeout` after the last probe).

use crate::counters::Counters;
use crate::error::Result;
use crate::permute::Permutation;
use crate::probe::ProbeTemplate;
use crate::receiver::{self, Heard};
use crate::sender::{self, Plan};
use crate::table::Table;
use crate::targets::Targets;
use crate::transport::{SendPath, Socket};
use crate::validate::{Key, Validator};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Packets per second; `None` = as fast as the machine allows.
    pub rate: Option<u64>,
    pub retries: u8,
    pub timeout: Duration,
    pub seed: u64,
    pub payload: usize,
    pub path: SendPath,
}

pub struct Scanned {
    pub table: Table,
    pub heard: Heard,
    pub elapsed: Duration,
}

/// How often the caller's `tick` (progress display) runs while the scan goes on.
const TICK: Duration = Duration::from_millis(100);
/// How often the end-of-scan wait checks whether everyone has answered.
const POLL: Duration = Duration::from_millis(2);

pub fn run(
    targets: &Targets,
    opts: &ScanOptions,
    sock: &Socket,
    counters: &Counters,
    tick: &mut dyn FnMut(),
) -> Result<Scanned> {
    let n = targets.len();
    let key = Key::new(opts.seed);
    let perm = Permutation::new(n, opts.seed);
    let template = ProbeTemplate::new(key, opts.payload);
    let table = Table::new(n as usize);
    let validator = Validator::new(key, sock.is_raw(), targets);
    // Room for the largest reply we accept: our probe plus IP headers with options, and
    // an ICMP error quoting all of it.
    let slot_len = 2 * (60 + template.len()) + 16;
    let epoch = Instant::now();
    let plan = Plan {
        targets,
        perm: &perm,
        template: &template,
        table: &table,
        counters,
        rate: opts.rate,
        rounds: opts.retries + 1,
        timeout: opts.timeout,
        path: opts.path,
        epoch,
    };
    let (sent, heard) = std::thread::scope(|s| {
        let rx = s.spawn(|| {
            receiver::run(
                sock,
                slot_len,
                &validator,
                &table,
                counters,
                epoch,
                opts.timeout,
            )
        });
        let tx = s.spawn(|| sender::run(&plan, sock));
        while !tx.is_finished() {
            tick();
            std::thread::sleep(TICK / 5);
        }
        let sent = tx.join().expect("sender thread panicked");
        if let Ok(last_probe) = sent {
            let deadline = last_probe + opts.timeout;
            let mut next_tick = Instant::now();
            while Instant::now() < deadline
                && counters.answered.load(Relaxed) < n
                && !counters.stopped()
            {
                if Instant::now() >= next_tick {
                    tick();
                    next_tick += TICK;
                }
                std::thread::sleep(POLL);
            }
        }
        counters.stop.store(true, Relaxed);
        let heard = rx.join().expect("receiver thread panicked");
        (sent, heard)
    });
    sent?;
    tick();
    Ok(Scanned {
        table,
        heard: heard?,
        elapsed: epoch.elapsed(),
    })
}
