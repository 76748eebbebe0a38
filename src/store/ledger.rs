//! One sighting against what is stored of its address, the same for every backend: where
//! it stands (`judge::Before`), the events `judge` finds, and the aggregates and MAC
//! history to write back. A backend lends its storage through `Ledger`: SQLite a statement
//! each, PostgreSQL a batch held in memory and written with array binds.

use crate::results::row::Status;
use crate::store::judge::{judge, Before, Judged, Known};
use crate::store::{EventEntry, RecordOutcome, Sighting, EVENTS_SHOWN};
use crate::wire::ether::Mac;

/// An address's stored row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRow {
    pub known: Known,
    pub first_seen: Option<i64>,
    pub last_up: Option<i64>,
    pub last_probed: i64,
    pub times_seen: i64,
    pub detail: String,
}

/// A backend's storage as one recording sees it (inside its transaction): what `step`
/// reads and writes. Each write must be seen by the reads that follow.
pub trait Ledger {
    type Fault;
    /// The row of the address keyed `k`.
    fn host(&mut self, k: &[u8]) -> Result<Option<HostRow>, Self::Fault>;
    /// Takes back the `gone` event run `run` judged for `k`; whether there was one.
    fn retract_gone(&mut self, run: i64, k: &[u8]) -> Result<bool, Self::Fault>;
    /// Whether any address was ever seen with MAC `m`.
    fn mac_known(&mut self, m: Mac) -> Result<bool, Self::Fault>;
    fn put_host(&mut self, k: &[u8], row: &HostRow) -> Result<(), Self::Fault>;
    /// `k` answered from `mac` at `at`: its (address, MAC) first and last sighting.
    fn sighted(&mut self, k: &[u8], mac: Mac, at: i64) -> Result<(), Self::Fault>;
    fn event(&mut self, run: i64, at: i64, k: &[u8], j: &Judged) -> Result<(), Self::Fault>;
}

/// Judges `seen`, made by run `run` started at `at` (ms), against what `ledger` holds,
/// and writes the outcome back to it; `out` counts.
pub fn step<L: Ledger>(
    ledger: &mut L,
    run: i64,
    at: i64,
    seen: &Sighting,
    out: &mut RecordOutcome,
) -> Result<(), L::Fault> {
    let k = crate::store::codec::key(seen.addr);
    let up = seen.status == Status::Up;
    let old = ledger.host(&k)?;
    let before = match &old {
        None => Before::Never,
        Some(h) if h.known.last_run == run => {
            // Up now after the other part called it gone: take that back.
            let gone_retracted =
                up && h.known.status != Status::Up && ledger.retract_gone(run, &k)?;
            Before::SameRun {
                known: &h.known,
                gone_retracted,
            }
        }
        Some(h) if h.last_probed > at => Before::Later(&h.known),
        Some(h) => Before::Earlier(&h.known),
    };
    // A second part of the run sighting an address again adds a probe only when it
    // finds it up where the first part did not.
    let again = matches!(before, Before::SameRun { .. });
    let mut fault = None;
    let verdict = judge(before, seen, run, &mut |m| match ledger.mac_known(m) {
        Ok(known) => !known,
        Err(e) => {
            fault = Some(e);
            false
        }
    });
    if let Some(e) = fault {
        return Err(e);
    }
    out.probed += u64::from(!again);
    out.up += u64::from(if again { verdict.counts_up } else { up });
    // The aggregates learn from every sighting, an older one too.
    let first_seen = match (old.as_ref().and_then(|h| h.first_seen), up) {
        (Some(f), true) => Some(f.min(at)),
        (f, true) => f.or(Some(at)),
        (f, false) => f,
    };
    let last_up = match (old.as_ref().and_then(|h| h.last_up), up) {
        (Some(l), true) => Some(l.max(at)),
        (l, true) => l.or(Some(at)),
        (l, false) => l,
    };
    let last_probed = old.as_ref().map_or(at, |h| h.last_probed.max(at));
    let times_seen = old
        .as_ref()
        .map_or(0, |h| h.times_seen)
        .saturating_add(i64::from(verdict.counts_up));
    let (known, detail) = match (verdict.after, old) {
        (Some(k), _) => (k, seen.detail.clone()),
        (None, Some(h)) => (h.known, h.detail),
        (None, None) => unreachable_state(seen, run),
    };
    ledger.put_host(
        &k,
        &HostRow {
            known,
            first_seen,
            last_up,
            last_probed,
            times_seen,
            detail,
        },
    )?;
    if up {
        for &m in &seen.macs {
            ledger.sighted(&k, m, at)?;
        }
    }
    for j in &verdict.events {
        ledger.event(run, at, &k, j)?;
        out.events += 1;
        if out.shown.len() < EVENTS_SHOWN {
            out.shown.push(EventEntry {
                at: crate::store::codec::time(at),
                run,
                addr: seen.addr,
                kind: j.kind,
                mac: j.mac,
                old_mac: j.old_mac,
            });
        }
    }
    Ok(())
}

/// `judge` keeps the old state only where there is one; never reached for a new address.
fn unreachable_state(seen: &Sighting, run: i64) -> (Known, String) {
    (
        Known {
            status: seen.status,
            ever_up: seen.status == Status::Up,
            macs: seen.macs.clone(),
            prev_mac: None,
            last_run: run,
        },
        seen.detail.clone(),
    )
}
