//! The one place a probe is counted as sent, whichever path it takes: the sender's
//! batches (ICMP sockets or frames) and the layer-2 receiver's echo on resolution. Probes
//! are counted before they leave: the receiver credits only probed targets, and a reply
//! over loopback can beat the end of `send`. Probes that were refused are taken back.

use crate::engine::count::CountTable;
use crate::engine::counters::Counters;
use crate::engine::table::Table;
use crate::error::Result;
use std::sync::atomic::Ordering::Relaxed;

/// What a probe is to its target's round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The round's probe: an echo request, or the solicitation an on-link target gets
    /// before its MAC is known.
    Round,
    /// The echo that follows a solicitation in the same round, once the target resolved.
    /// Count mode counted the round with the solicitation; its statistics are per round.
    FollowUp,
    /// A sample of a host known up (the path's measurement): counted apart, not in the
    /// table; a refused sample is a lost one.
    Sample,
}

#[derive(Clone, Copy)]
pub struct Ledger<'a> {
    pub table: &'a Table,
    pub counters: &'a Counters,
    /// Count mode's table (`-c N`).
    pub count: Option<&'a CountTable>,
}

impl Ledger<'_> {
    /// Counts a probe to `i` before it leaves. In count mode the default table records
    /// only the first (its 8-bit probe count would overflow; `sent` is in the count table).
    pub fn note(&self, i: u32, p: Probe) {
        match (self.count, p) {
            (Some(c), Probe::Round) => {
                if c.begin(i) == 0 {
                    self.table.add_probe(i);
                }
            }
            (_, Probe::Sample) | (Some(_), Probe::FollowUp) => {}
            (None, _) => self.table.add_probe(i),
        }
    }

    /// Undoes `note` for a probe the kernel refused.
    pub fn take_back(&self, i: u32, p: Probe) {
        match (self.count, p) {
            (Some(c), Probe::Round) => c.take_back(i),
            (_, Probe::Sample) | (Some(_), Probe::FollowUp) => {}
            (None, _) => self.table.take_back_probe(i),
        }
    }

    /// Sends a batch for targets `index` (probe `k` being `kind(k)`) with `send`, which
    /// says which went out.
    pub fn send<'b>(
        &self,
        index: &[u32],
        kind: impl Fn(usize) -> Probe,
        send: impl FnOnce() -> Result<&'b [bool]>,
    ) -> Result<()> {
        let mut samples = 0;
        for (k, &i) in index.iter().enumerate() {
            match kind(k) {
                Probe::Sample => samples += 1,
                p => self.note(i, p),
            }
        }
        let accepted = send()?;
        let mut sent = 0;
        for (k, (&i, &ok)) in index.iter().zip(accepted).enumerate() {
            match (ok, kind(k)) {
                (_, Probe::Sample) => {}
                (true, _) => sent += 1,
                (false, p) => self.take_back(i, p),
            }
        }
        self.counters.sent.fetch_add(sent, Relaxed);
        self.counters.samples.fetch_add(samples, Relaxed);
        self.counters
            .send_errors
            .fetch_add(index.len() as u64 - samples - sent, Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_probes_are_taken_back_and_counted_as_errors() {
        let table = Table::new(4, false);
        let counters = Counters::default();
        let l = Ledger {
            table: &table,
            counters: &counters,
            count: None,
        };
        let refused = [true, false, true];
        l.send(&[0, 1, 2], |_| Probe::Round, || Ok(&refused[..]))
            .unwrap();
        l.send(&[0], |_| Probe::FollowUp, || Ok(&[true][..]))
            .unwrap();
        // A sample is counted apart, refused or not, and never in the table.
        let kinds = |k| [Probe::Round, Probe::Sample][k];
        l.send(&[3, 3], kinds, || Ok(&[true, false][..])).unwrap();
        let probes: Vec<u8> = (0..4).map(|i| table.get(i).probes).collect();
        assert_eq!(probes, [2, 0, 1, 1]);
        assert_eq!(counters.sent.load(Relaxed), 4);
        assert_eq!(counters.samples.load(Relaxed), 1);
        assert_eq!(counters.send_errors.load(Relaxed), 1);
    }
}
