//! The receiver thread: reads replies by the batch, validates each, records it in the
//! table, and keeps the retry interval up to date from the RTTs it sees. Replies to
//! sample probes (re-probes of hosts known up) go to the path's measurement instead.

use crate::engine::control::Control;
use crate::engine::count::{CountTable, Credit};
use crate::engine::counters::Counters;
use crate::engine::path::{Path, SAMPLE_ROUND};
use crate::engine::rto::RtoEstimator;
use crate::engine::table::{Recorded, Status, Table};
use crate::error::Result;
use crate::net::{Payload, Transport};
use crate::probe::validate::{Ignored, Validator, Verdict};
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

/// Where replies are recorded: the default table, and count mode's statistics.
#[derive(Clone, Copy)]
pub struct Tables<'a> {
    pub table: &'a Table,
    pub count: Option<&'a CountTable>,
}

/// One receiving thread's share of the scan: where it records, and when it stops.
#[derive(Clone, Copy)]
pub struct Receiver<'a> {
    pub validator: &'a Validator<'a>,
    pub tables: Tables<'a>,
    pub counters: &'a Counters,
    pub control: &'a Control<'a>,
    pub clock: Clock,
    pub timeout: Duration,
    /// Where sample replies go, and hosts found up are offered for sampling.
    pub path: &'a Path,
}

impl Receiver<'_> {
    /// Reads, validates and records replies from `sock` until the scan is over.
    pub fn run(&self, sock: &dyn Transport, slot_len: usize) -> Result<Heard> {
        let Receiver {
            validator,
            tables,
            counters,
            control,
            clock,
            timeout,
            path,
        } = *self;
        let Clock {
            epoch,
            unix_ns: epoch_unix_ns,
        } = clock;
        let mut rx = sock.inbox(BATCH, slot_len);
        let mut rto = RtoEstimator::new(RTO_FLOOR, timeout);
        let mut heard = Heard::default();
        let table = tables.table;
        let limit_us = timeout.as_micros().min(u128::from(u32::MAX)) as u32;
        while !control.is_over() {
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
                let verdict = admit(verdict, read_ns, table);
                if let Verdict::Reply {
                    index,
                    round: SAMPLE_ROUND,
                    ..
                } = verdict
                {
                    path.answered(index);
                    continue;
                }
                if let Some(verdict) =
                    count_reply(verdict, tables.count, table, limit_us, now_ns, counters)
                {
                    if let Some(up) = record(verdict, now_ns, table, counters, &mut rto, &mut heard)
                    {
                        path.offer(up);
                    }
                }
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
}

/// What the table and the clock add to the validator's verdict. No credit without a
/// probe: an answer or error for a target this run has not probed is ignored, which
/// matters most for short-quote errors (16 keyed bits). No answer from the future: a
/// stamp later than `read_ns` (when we read it, on the scan's clock, the clock stamps
/// are taken on) would make an RTT of 0 and drag the retry interval down. Both count as
/// a bad tag.
fn admit(verdict: Verdict, read_ns: u64, table: &Table) -> Verdict {
    let bad = Verdict::Ignore(Ignored::BadTag);
    match verdict {
        Verdict::Reply { index, .. } | Verdict::Error { index, .. }
            if table.get(index).probes == 0 =>
        {
            bad
        }
        Verdict::Reply { sent_ns, .. } if sent_ns > read_ns => bad,
        v => v,
    }
}

/// Count mode: credits a reply to its (target, round) first. Only a reception goes on to
/// the default table (status, first RTT); duplicates and late replies stop here, counted.
fn count_reply(
    verdict: Verdict,
    count: Option<&CountTable>,
    table: &Table,
    limit_us: u32,
    now_ns: u64,
    counters: &Counters,
) -> Option<Verdict> {
    let (
        Some(ct),
        Verdict::Reply {
            index,
            round,
            sent_ns,
            ..
        },
    ) = (count, &verdict)
    else {
        return Some(verdict);
    };
    let rtt_us = (now_ns.saturating_sub(*sent_ns) / 1000).min(u64::from(u32::MAX)) as u32;
    match ct.record(*index, *round, rtt_us, limit_us) {
        // Later receptions change nothing there (and are no duplicates or late replies).
        Credit::Received if table.get(*index).status == Status::Up => None,
        Credit::Received => Some(verdict),
        Credit::Duplicate => {
            counters.dups.fetch_add(1, Relaxed);
            None
        }
        Credit::Late => {
            counters.late.fetch_add(1, Relaxed);
            None
        }
    }
}

/// Records one verdict; returns the target if it has just been found up.
fn record(
    verdict: Verdict,
    now_ns: u64,
    table: &Table,
    counters: &Counters,
    rto: &mut RtoEstimator,
    heard: &mut Heard,
) -> Option<u32> {
    match verdict {
        Verdict::Reply {
            index,
            round,
            sent_ns,
            ttl,
            intact,
        } => {
            let rtt_ns = now_ns.saturating_sub(sent_ns);
            let rtt_us = (rtt_ns / 1000).min(u64::from(u32::MAX)) as u32;
            let recorded = table.record_reply(index, rtt_us, ttl, round);
            // Any reply with wrong data marks the row, first or not (ping reports each).
            if !intact && table.mark_bad_data(index) {
                counters.bad_data.fetch_add(1, Relaxed);
            }
            match recorded {
                Recorded::First => {
                    table.set_seen_ms(index, (now_ns / 1_000_000) as u32);
                    rto.observe(Duration::from_nanos(rtt_ns));
                    counters.up.fetch_add(1, Relaxed);
                    if let Some(c) = counters.found_by_round.get(usize::from(round)) {
                        c.fetch_add(1, Relaxed);
                    }
                    counters.answered.fetch_add(1, Relaxed);
                    return Some(index);
                }
                Recorded::Upgraded => {
                    table.set_seen_ms(index, (now_ns / 1_000_000) as u32);
                    counters.up.fetch_add(1, Relaxed);
                    if let Some(c) = counters.found_by_round.get(usize::from(round)) {
                        c.fetch_add(1, Relaxed);
                    }
                    counters.unreachable.fetch_sub(1, Relaxed);
                    return Some(index);
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
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Detail;

    struct Rx {
        table: Table,
        counters: Counters,
        rto: RtoEstimator,
        heard: Heard,
    }

    impl Rx {
        fn new(n: usize) -> Rx {
            Rx {
                table: Table::new(n, false),
                counters: Counters::default(),
                rto: RtoEstimator::new(RTO_FLOOR, Duration::from_secs(1)),
                heard: Heard::default(),
            }
        }

        /// A verdict read at `now_ns`, through the same two steps as `run`.
        fn take(&mut self, v: Verdict, now_ns: u64) {
            let v = admit(v, now_ns, &self.table);
            let Rx {
                table,
                counters,
                rto,
                heard,
            } = self;
            record(v, now_ns, table, counters, rto, heard);
        }
    }

    fn reply(index: u32, sent_ns: u64) -> Verdict {
        Verdict::Reply {
            index,
            round: 0,
            sent_ns,
            ttl: 64,
            intact: true,
        }
    }

    fn error(index: u32) -> Verdict {
        Verdict::Error {
            index,
            detail: Detail::of(3, 1),
            responder: IpAddr::from([192, 0, 2, 2]),
        }
    }

    #[test]
    fn no_credit_for_a_target_never_probed() {
        let mut rx = Rx::new(4);
        rx.table.add_probe(1);
        rx.take(reply(0, 10), 1_000);
        rx.take(error(2), 1_000);
        assert_eq!(rx.table.get(0).status, Status::Down);
        assert_eq!(rx.table.get(2).status, Status::Down);
        assert_eq!(rx.heard.ignored.bad_tag, 2);
        assert_eq!(rx.counters.answered.load(Relaxed), 0);
        // The probed one is credited.
        rx.take(reply(1, 10), 1_000);
        assert_eq!(rx.table.get(1).status, Status::Up);
        assert_eq!(rx.counters.up.load(Relaxed), 1);
    }

    #[test]
    fn a_stamp_from_the_future_is_ignored() {
        let mut rx = Rx::new(2);
        rx.table.add_probe(0);
        rx.take(reply(0, 5_000_001), 5_000_000);
        assert_eq!(rx.table.get(0).status, Status::Down);
        assert_eq!(rx.heard.ignored.bad_tag, 1);
        let fresh = RtoEstimator::new(RTO_FLOOR, Duration::from_secs(1));
        assert_eq!(rx.rto.rto(), fresh.rto(), "no RTT taken from it");
        // Sent exactly when read still counts (an RTT of 0 can be real on loopback).
        rx.take(reply(0, 5_000_000), 5_000_000);
        assert_eq!(rx.table.get(0).status, Status::Up);
    }

    #[test]
    fn wrong_echo_data_still_proves_the_host_up_and_says_bad_data() {
        let mut rx = Rx::new(2);
        rx.table.add_probe(0);
        let bad = Verdict::Reply {
            index: 0,
            round: 0,
            sent_ns: 10,
            ttl: 64,
            intact: false,
        };
        rx.take(bad, 1_000);
        let c = rx.table.get(0);
        assert_eq!((c.status, c.detail), (Status::Up, Detail::BAD_DATA));
        rx.take(bad, 2_000);
        assert_eq!(
            rx.counters.bad_data.load(Relaxed),
            1,
            "a host, not a packet"
        );
        assert_eq!(rx.counters.up.load(Relaxed), 1);
    }

    #[test]
    fn a_reply_after_an_error_still_wins() {
        let mut rx = Rx::new(1);
        rx.table.add_probe(0);
        rx.take(error(0), 1_000);
        assert_eq!(rx.table.get(0).status, Status::Unreachable);
        rx.take(reply(0, 10), 2_000);
        assert_eq!(rx.table.get(0).status, Status::Up);
        assert_eq!(rx.counters.unreachable.load(Relaxed), 0);
        assert_eq!(rx.counters.up.load(Relaxed), 1);
    }
}
