//! The subcommands of the one clap command (`merge`, `diff`, `completions`, `man`): their
//! arguments, and the completion scripts and manual pages made from that same command.

use crate::error::{Error, Result};
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub(super) enum Sub {
    Merge(MergeArgs),
    Diff(DiffArgs),
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
mac-changed (same status, another MAC), rtt-changed (with --rtt-change). A host missing from a file (written without --all) counts
as down. Both files, and the output, are in address order: IPv4, then IPv6.
Exit status: 0 nothing changed; 1 something changed; 2 usage or input error; 3 runtime error";

/// Prints a completion script for SHELL, made from the same clap definition as the
/// command line itself.
#[derive(Debug, Args)]
#[command(
    version,
    after_help = "Install: see the README (e.g. sweep completions bash > \
                  /etc/bash_completion.d/sweep)"
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
    after_help = "Install: sweep man > /usr/local/share/man/man1/sweep.1 (and \
                  sweep man merge > .../sweep-merge.1, sweep man diff > .../sweep-diff.1)"
)]
pub(super) struct ManArgs {
    /// The page of a subcommand instead of the scan's
    #[arg(value_enum, value_name = "PAGE")]
    pub page: Option<Page>,
}

/// A manual page other than the scan's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Page {
    Merge,
    Diff,
}

/// `sweep completions SHELL`: the script, on stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut super::command(), "sweep", &mut script);
    print(&script)
}

/// `sweep man [PAGE]`: the page, on stdout.
pub fn man(page: Option<Page>) -> Result<()> {
    let mut text = Vec::new();
    man_page(page, &mut text).map_err(Error::Write)?;
    print(&text)
}

/// The scan's page (every option, the subcommands, the help's closing notes), or a
/// subcommand's, named `sweep-merge` / `sweep-diff` as clap names a built subcommand.
pub fn man_page(page: Option<Page>, out: &mut dyn Write) -> std::io::Result<()> {
    let mut cmd = super::command();
    let (name, title) = match page {
        None => return clap_mangen::Man::new(cmd).render(out),
        Some(Page::Merge) => ("merge", "sweep-merge"),
        Some(Page::Diff) => ("diff", "sweep-diff"),
    };
    cmd.build();
    let sub = cmd
        .find_subcommand(name)
        .expect("the subcommand is defined")
        .clone()
        // The page's title and version line; the synopsis keeps `sweep merge`.
        .name(title);
    clap_mangen::Man::new(sub).render(out)
}

/// Generated text to stdout (a closed pipe, `sweep man | head`, is `fail`'s to forgive).
fn print(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(Error::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(p: Option<Page>) -> String {
        let mut text = Vec::new();
        man_page(p, &mut text).unwrap();
        String::from_utf8(text).unwrap()
    }

    #[test]
    fn man_page_names_every_long_option() {
        let page = page(None);
        let cmd = super::super::command();
        let longs: Vec<_> = cmd
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long())
            .collect();
        assert!(longs.len() > 20 && longs.contains(&"summary-json"));
        for long in longs {
            // roff escapes '-' as '\-'.
            let roffed = format!("\\-\\-{}", long.replace('-', "\\-"));
            assert!(page.contains(&roffed), "--{long} missing from the man page");
        }
        for sub in ["merge", "diff", "completions", "man"] {
            assert!(page.contains(&format!("sweep\\-{sub}(1)")), "{sub}");
        }
        assert!(!page.contains("sweep\\-help"), "no help subcommand");
    }

    #[test]
    fn subcommand_pages_are_named_and_titled_as_installed() {
        for (p, name) in [(Page::Merge, "merge"), (Page::Diff, "diff")] {
            let text = page(Some(p));
            assert!(
                text.contains(&format!(".TH sweep-{name} 1  \"sweep-{name} ")),
                "{text}"
            );
            assert!(
                text.contains(&format!("sweep {name}")),
                "synopsis of {name}"
            );
            assert!(text.contains("\\-\\-csv\\-raw"), "{name}'s own options");
        }
    }

    #[test]
    fn completions_cover_the_subcommands() {
        let mut script = Vec::new();
        let mut cmd = super::super::command();
        clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "sweep", &mut script);
        let script = String::from_utf8(script).unwrap();
        for word in [
            "merge",
            "diff",
            "completions",
            "--rtt-change",
            "--summary-json",
        ] {
            assert!(script.contains(word), "{word}");
        }
    }
}
