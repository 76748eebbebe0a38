//! The subcommands of the one clap command (`merge`, `diff`, `report`, `completions`, `man`): their
//! arguments. (`docs.rs` makes the completion scripts and manual pages.)

use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub(super) enum Sub {
    Merge(MergeArgs),
    Diff(DiffArgs),
    Report(ReportArgs),
    Inventory(super::inventory::InventoryArgs),
    Completions(CompletionsArgs),
    Man(ManArgs),
}

/// Merges sweep CSVs (shards of one scan, or several runs over the same targets) into one,
/// in address order.
#[derive(Debug, Args)]
#[command(version, after_help = MERGE_HELP)]
pub(super) struct MergeArgs {
    /// sweep CSVs ('-' = stdin), each in sweep's address order (IPv4, then IPv6)
    #[arg(value_name = "CSV", required = true)]
    pub inputs: Vec<PathBuf>,
    /// Write the merged CSV to FILE (atomically) instead of stdout
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// CSV fields exactly as found: no leading ' before text that starts with = + - @ TAB CR
    #[arg(long)]
    pub csv_raw: bool,
}

const MERGE_HELP: &str = "\
Rows are in address order: every IPv4 address (numerically), then every IPv6 address.
Every input must have the same header. An address in several inputs keeps the best status
(up > unreachable > down) with that row's rtt_ms, ttl, responder and detail (the earliest
file on ties); probes and dups are summed.
Exit status: 0 some host up; 1 none up; 2 usage or input error; 3 runtime error";

/// Makes the HTML report (summary, maps, RTTs, vendors, host table) from sweep CSVs.
#[derive(Debug, Args)]
#[command(version, after_help = REPORT_HELP)]
pub(super) struct ReportArgs {
    /// sweep CSVs ('-' = stdin), merged as `sweep merge` merges them
    #[arg(value_name = "CSV", required = true)]
    pub inputs: Vec<PathBuf>,
    /// Write the page to FILE (atomically) instead of stdout
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

const REPORT_HELP: &str = "\
One self-contained HTML file (nothing fetched): open it from disk in any browser.
Exit status: 0 some host up; 1 none up; 2 usage or input error; 3 runtime error";

/// Lists the hosts that changed between two sweep CSVs.
#[derive(Debug, Args)]
#[command(version, after_help = DIFF_HELP)]
pub(super) struct DiffArgs {
    /// The earlier sweep CSV ('-' = stdin)
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The later sweep CSV ('-' = stdin)
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    /// Also list hosts up in both whose RTT moved by at least MS milliseconds
    #[arg(long, value_name = "MS")]
    pub rtt_change: Option<String>,
    /// Write the CSV to FILE (atomically) instead of stdout
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// CSV fields exactly as found: no leading ' before text that starts with = + - @ TAB CR
    #[arg(long)]
    pub csv_raw: bool,
}

const DIFF_HELP: &str = "\
CSV columns: addr,change,old_status,new_status,old_rtt_ms,new_rtt_ms,old_ttl,new_ttl,old_mac,new_mac
change: appeared (now up), disappeared (no longer up), status-changed (down <-> unreachable),
mac-changed (same status, another MAC), rtt-changed (with --rtt-change). A file with a row
not up was written with --all and lists every target it scanned: an address missing from it
was not scanned, and is not judged (one stderr line per file says how many). A host missing
from a file of hosts up only (written without --all) counts as down.
Both files, and the output, are in address order: IPv4, then IPv6.
Exit status: 0 nothing changed; 1 something changed; 2 usage or input error; 3 runtime error";

/// Prints a completion script for SHELL, made from the same clap definition as the
/// command line itself.
#[derive(Debug, Args)]
#[command(
    version,
    after_help = "Install: see the README (e.g. sweep completions bash > \
                  /etc/bash_completion.d/sweep)\n\
                  Exit status: 0 printed; 2 usage error; 3 runtime error (stdout not writable)"
)]
pub(super) struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// Prints the manual page (roff), made from the same clap definition as the command line.
#[derive(Debug, Args)]
#[command(
    version,
    after_help = "Install: sweep man > /usr/local/share/man/man1/sweep.1, and each \
                  subcommand's: sweep man merge > .../sweep-merge.1 (likewise diff, report, \
                  completions, man)\n\
                  Exit status: 0 printed; 2 usage error; 3 runtime error (stdout not writable)"
)]
pub(super) struct ManArgs {
    /// The page of a subcommand instead of the scan's
    #[arg(value_enum, value_name = "PAGE")]
    pub page: Option<Page>,
}

/// A manual page other than the scan's: one for each subcommand, as the scan's page
/// lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Page {
    Merge,
    Diff,
    Report,
    Completions,
    Man,
    Inventory,
}
