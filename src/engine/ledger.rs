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
            (Some(_), Probe::FollowUp) => {}
            (None, _) => self.table.add_probe(i),
        }
    }

    /// Undoes `note` for a probe the kernel refused.
    pub fn take_back(&self, i: u32, p: Probe) {
        match (self.count, p) {
            (Some(c), Probe::Round) => c.take_back(i),
            (Some(_), Probe::FollowUp) => {}
            (None, _) => self.table.take_back_probe(i),
        }
    }

    /// Sends a batch for targets `index` with `send`, which says which went out.
    pub fn send<'b>(
        &self,
        index: &[u32],
        p: Probe,
        send: impl FnOnce() -> Result<&'b [bool]>,
    ) -> Result<()> {
        for &i in index {
            self.note(i, p);
        }
        let accepted = send()?;
        let mut sent = 0;
        for (&i, &ok) in index.iter().zip(accepted) {
            if ok {
                sent += 1;
            } else {
                self.take_back(i, p);
            }
        }
        self.counters.sent.fetch_add(sent, Relaxed);
        self.counters
            .send_errors
            .fetch_add(index.len() as u64 - sent, Relaxed);
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
        l.send(&[0, 1, 2], Probe::Round, || Ok(&refused[..]))
            .unwrap();
        l.send(&[0], Probe::FollowUp, || Ok(&[true][..])).unwrap();
        let probes: Vec<u8> = (0..4).map(|i| table.get(i).probes).collect();
        assert_eq!(probes, [2, 0, 1, 0]);
        assert_eq!(counters.sent.load(Relaxed), 3);
        assert_eq!(counters.send_errors.load(Relaxed), 1);
    }
}
