//! The one-line summary printed on stderr at the end of a scan.

use crate::counters::Counters;
use crate::receiver::IgnoredCounts;
use crate::scan::Scanned;
use crate::table::Status;
use rayon::prelude::*;
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub targets: u64,
    pub up: u64,
    pub unreachable: u64,
    pub down: u64,
    pub probes: u64,
    pub send_errors: u64,
    pub elapsed: Duration,
    pub sending: Duration,
    pub dups: u64,
    pub late: u64,
    pub ignored: IgnoredCounts,
    /// The probe order's seed: printed so a run can be repeated; it is no secret (the
    /// key that makes answers unforgeable is per process and never shown).
    pub seed: u64,
}

impl Summary {
    /// Counts statuses from the table (the record of truth), in parallel for big scans.
    /// `partial`: count only targets this run probed (a shard, an interrupted or resumed run).
    pub fn new(scanned: &Scanned, c: &Counters, seed: u64, partial: bool) -> Summary {
        let table = &scanned.table;
        let (targets, up, unreachable) = (0..table.len() as u32)
            .into_par_iter()
            .map(|i| {
                let cell = table.get(i);
                let counted = cell.status != Status::Prior && (cell.in_scope() || !partial);
                match cell.status {
                    Status::Up => (1, 1, 0),
                    Status::Unreachable => (1, 0, 1),
                    _ => (u64::from(counted), 0, 0),
                }
            })
            .reduce(|| (0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
        Summary {
            targets,
            up,
            unreachable,
            down: targets - up - unreachable,
            probes: c.sent.load(Relaxed),
            send_errors: c.send_errors.load(Relaxed),
            elapsed: scanned.elapsed,
            sending: scanned.sending,
            dups: c.dups.load(Relaxed),
            late: c.late.load(Relaxed),
            ignored: scanned.heard.ignored,
            seed,
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        write!(
            f,
            "sweep: {} targets: {} up, {} unreachable, {} down; {} probes in {:.3} s \
             ({:.0} pps average, {:.0} pps while sending); {} duplicates, {} late, {} ignored",
            self.targets,
            self.up,
            self.unreachable,
            self.down,
            self.probes,
            secs,
            self.probes as f64 / secs.max(1e-9),
            self.probes as f64 / self.sending.as_secs_f64().max(1e-9),
            self.dups,
            self.late,
            self.ignored.total(),
        )?;
        let i = &self.ignored;
        if i.total() > 0 {
            write!(
                f,
                " ({} damaged, {} not ours, {} bad tag, {} wrong source)",
                i.damaged, i.not_ours, i.bad_tag, i.wrong_source
            )?;
        }
        if self.send_errors > 0 {
            write!(f, "; {} probes refused by the kernel", self.send_errors)?;
        }
        write!(f, "; seed {}", self.seed)
    }
}
