//! The receiver thread: reads replies by the batch, validates each, records it in the
//! table, and keeps the retry interval up to date from the RTTs it sees.

use crate::counters::Counters;
use crate::error::Result;
use crate::rto::RtoEstimator;
use crate::table::{Recorded, Table};
use crate::transport::{Payload, Receiver, Socket};
use crate::validate::{Ignored, Validator, Verdict};
use crate::wire::IpMeta;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

const BATCH: usize = 64;
/// After a short read, let replies gather this long before reading again: at high rates
/// this turns a wakeup per reply into one per batch (kernel timestamps keep RTTs exact).
const NAP: Duration = Duration::from_micros(500);
/// Retrying sooner than this after a probe would mostly resend to hosts still answering.
const RTO_FLOOR: Duration = Duration::from_millis(10);

/// Packets ignored, by reason (indexed like `Ignored`'s variants).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IgnoredCounts {
    pub damaged: u64,
    pub not_ours: u64,
    pub bad_tag: u64,
    pub wrong_source: u64,
}

impl IgnoredCounts {
    pub fn total(&self) -> u64 {
        self.damaged + self.not_ours + self.bad_tag + self.wrong_source
    }
}

/// The scan's epoch on both clocks: probe stamps count from `epoch`; kernel receive
/// timestamps are Unix time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub epoch: Instant,
    pub unix_ns: u64,
}

/// What only the receiver knows at the end: who sent each ICMP error, and what it ignored.
#[derive(Debug, Default)]
pub struct Heard {
    pub responders: HashMap<u32, IpAddr>,
    pub ignored: IgnoredCounts,
}

impl Heard {
    /// Folds in what another receiver (the other address family's) heard.
    pub fn absorb(&mut self, other: Heard) {
        self.responders.extend(other.responders);
        let (a, b) = (&mut self.ignored, other.ignored);
        a.damaged += b.damaged;
        a.not_ours += b.not_ours;
        a.bad_tag += b.bad_tag;
        a.wrong_source += b.wrong_source;
    }
}

pub fn run(
    sock: &Socket,
    slot_len: usize,
    validator: &Validator,
    table: &Table,
    counters: &Counters,
    clock: Clock,
    timeout: Duration,
) -> Result<Heard> {
    let Clock {
        epoch,
        unix_ns: epoch_unix_ns,
    } = clock;
    let mut rx = Receiver::new(sock, BATCH, slot_len);
    let mut rto = RtoEstimator::new(RTO_FLOOR, timeout);
    let mut heard = Heard::default();
    while !counters.stopped() {
        let k = rx.recv()?;
        let read_ns = epoch.elapsed().as_nanos() as u64;
        for j in 0..k {
            let got = rx.packet(j);
            // The kernel's arrival time, on the scan's clock; our read time if absent.
            // A wall-clock step during the scan would skew it: then trust our read time.
            let now_ns = got
                .at_unix_ns
                .and_then(|t| t.checked_sub(epoch_unix_ns))
                .filter(|&t| t <= read_ns && read_ns - t < 1_000_000_000)
                .unwrap_or(read_ns);
            let verdict = match got.payload {
                Payload::Ipv4(pkt) => validator.classify_ipv4(pkt),
                Payload::Icmp { src, ttl, msg } if sock.is_v6() => {
                    validator.classify_icmpv6(IpMeta { src, ttl }, msg)
                }
                Payload::Icmp { src, ttl, msg } => {
                    validator.classify_icmp(IpMeta { src, ttl }, msg)
                }
            };
            record(verdict, now_ns, table, counters, &mut rto, &mut heard);
        }
        if k > 0 && k < BATCH {
            std::thread::sleep(NAP);
        }
        if k > 0 {
            counters.ignored.store(heard.ignored.total(), Relaxed);
            counters.rto_us.store(rto.rto().as_micros() as u64, Relaxed);
        }
    }
    Ok(heard)
}

fn record(
    verdict: Verdict,
    now_ns: u64,
    table: &Table,
    counters: &Counters,
    rto: &mut RtoEstimator,
    heard: &mut Heard,
) {
    match verdict {
        Verdict::Reply {
            index,
            round,
            sent_ns,
            ttl,
        } => {
            let rtt_ns = now_ns.saturating_sub(sent_ns);
            let rtt_us = (rtt_ns / 1000).min(u64::from(u32::MAX)) as u32;
            match table.record_reply(index, rtt_us, ttl, round) {
                Recorded::First => {
                    table.set_seen_ms(index, (now_ns / 1_000_000) as u32);
                    rto.observe(Duration::from_nanos(rtt_ns));
                    counters.up.fetch_add(1, Relaxed);
                    counters.answered.fetch_add(1, Relaxed);
                }
                Recorded::Upgraded => {
                    table.set_seen_ms(index, (now_ns / 1_000_000) as u32);
                    counters.up.fetch_add(1, Relaxed);
                    counters.unreachable.fetch_sub(1, Relaxed);
                }
                Recorded::Duplicate => _ = counters.dups.fetch_add(1, Relaxed),
                Recorded::Late => _ = counters.late.fetch_add(1, Relaxed),
            }
        }
        Verdict::Error {
            index,
            detail,
            responder,
        } => {
            if table.record_error(index, detail) {
                table.set_seen_ms(index, (now_ns / 1_000_000) as u32);
                heard.responders.insert(index, responder);
                table.set_responder(index, responder);
                counters.unreachable.fetch_add(1, Relaxed);
                counters.answered.fetch_add(1, Relaxed);
            }
        }
        // Our own requests looping back are expected, not noise worth reporting.
        Verdict::Ignore(Ignored::OwnProbe) => {}
        Verdict::Ignore(why) => {
            let c = &mut heard.ignored;
            *match why {
                Ignored::Damaged => &mut c.damaged,
                Ignored::NotOurs => &mut c.not_ours,
                Ignored::BadTag => &mut c.bad_tag,
                Ignored::WrongSource | Ignored::OwnProbe => &mut c.wrong_source,
            } += 1;
        }
    }
}
