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
    /// On-link targets resolved at layer 2, and how many of them answered only that.
    pub resolved: u64,
    pub neighbour_only: u64,
    /// Packets the kernel dropped on a full receive queue (SO_RXQ_OVFL's counter).
    pub kernel_drops: u64,
}

impl Summary {
    /// Counts statuses from the table (the record of truth), in parallel for big scans.
    /// `partial`: count only targets this run probed (a shard, an interrupted or resumed run).
    /// A target `present(i)` says answered ARP / neighbour discovery counts as up.
    pub fn new(
        scanned: &Scanned,
        c: &Counters,
        seed: u64,
        partial: bool,
        present: &(dyn Fn(u32) -> bool + Sync),
    ) -> Summary {
        let table = &scanned.table;
        let (targets, up, unreachable, only) = (0..table.len() as u32)
            .into_par_iter()
            .map(|i| {
                let cell = table.get(i);
                let counted = cell.status != Status::Prior && (cell.in_scope() || !partial);
                match cell.status {
                    Status::Up => (1, 1, 0, 0),
                    Status::Unreachable => (1, 0, 1, 0),
                    Status::Down if counted && present(i) => (1, 1, 0, 1),
                    _ => (u64::from(counted), 0, 0, 0),
                }
            })
            .reduce(
                || (0, 0, 0, 0),
                |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 + b.3),
            );
        Summary {
            resolved: c.resolved.load(Relaxed),
            neighbour_only: only,
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
            kernel_drops: 0,
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
        if self.resolved > 0 {
            write!(
                f,
                "; {} on-link hosts resolved by ARP/NDP ({} answered only that)",
                self.resolved, self.neighbour_only
            )?;
        }
        if self.kernel_drops > 0 {
            write!(
                f,
                "; {} replies dropped by the kernel (receive queue full: hosts may be \
                 reported down; lower --rate or raise net.core.rmem_max)",
                self.kernel_drops
            )?;
        }
        if self.send_errors > 0 {
            write!(f, "; {} probes refused by the kernel", self.send_errors)?;
        }
        write!(f, "; seed {}", self.seed)
    }
}
