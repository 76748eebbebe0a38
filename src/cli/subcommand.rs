//! `sweep merge`, `sweep diff`, `sweep completions` and `sweep man`: their command lines
//! (clap) and exit codes. `dispatch` leaves every other command line to the scan's parser.

use crate::cli;
use crate::error::Error;
use crate::results::diff;
use crate::results::merge;
use clap::{CommandFactory, Parser, ValueEnum};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Merges sweep CSVs (shards of one scan, or several runs over the same targets) into one,
/// in address order.
#[derive(Debug, Parser)]
#[command(name = "sweep-merge", bin_name = "sweep merge", version, after_help = MERGE_HELP)]
struct MergeArgs {
    /// sweep CSVs ('-' = stdin), each in sweep's address order (IPv4, then IPv6)
    #[arg(value_name = "CSV", required = true)]
    inputs: Vec<PathBuf>,
    /// Write the merged CSV to FILE (atomically) instead of stdout
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// CSV fields exactly as found: no leading ' before text that starts with = + - @ TAB CR
    #[arg(long)]
    csv_raw: bool,
}

const MERGE_HELP: &str = "\
Rows are in address order: every IPv4 address (numerically), then every IPv6 address.
Every input must have the same header. An address in several inputs keeps the best status
(up > unreachable > down) with that row's rtt_ms, ttl, responder and detail (the earliest
file on ties); probes and dups are summed.
Exit status: 0 some host up; 1 none up; 2 usage or input error; 3 runtime error";

/// Lists the hosts that changed between two sweep CSVs.
#[derive(Debug, Parser)]
#[command(name = "sweep-diff", bin_name = "sweep diff", version, after_help = DIFF_HELP)]
struct DiffArgs {
    /// The earlier sweep CSV ('-' = stdin)
    #[arg(value_name = "OLD")]
    old: PathBuf,
    /// The later sweep CSV ('-' = stdin)
    #[arg(value_name = "NEW")]
    new: PathBuf,
    /// Also list hosts up in both whose RTT moved by at least MS milliseconds
    #[arg(long, value_name = "MS")]
    rtt_change: Option<String>,
    /// Write the CSV to FILE (atomically) instead of stdout
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// CSV fields exactly as found: no leading ' before text that starts with = + - @ TAB CR
    #[arg(long)]
    csv_raw: bool,
}

const DIFF_HELP: &str = "\
CSV columns: addr,change,old_status,new_status,old_rtt_ms,new_rtt_ms,old_ttl,new_ttl,old_mac,new_mac
change: appeared (now up), disappeared (no longer up), status-changed (down <-> unreachable),
mac-changed (same status, another MAC), rtt-changed (with --rtt-change). A host missing from a file (written without --all) counts
as down. Both files, and the output, are in address order: IPv4, then IPv6.
Exit status: 0 nothing changed; 1 something changed; 2 usage or input error; 3 runtime error";

/// Prints a completion script for SHELL, made from the same clap definition as the
/// command line itself.
#[derive(Debug, Parser)]
#[command(
    name = "sweep-completions",
    bin_name = "sweep completions",
    version,
    after_help = "Install: see the README (e.g. sweep completions bash > \
                  /etc/bash_completion.d/sweep)"
)]
struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum, value_name = "SHELL")]
    shell: clap_complete::Shell,
}

/// Prints the manual page (roff), made from the same clap definition as the command line.
#[derive(Debug, Parser)]
#[command(
    name = "sweep-man",
    bin_name = "sweep man",
    version,
    after_help = "Install: sweep man > /usr/local/share/man/man1/sweep.1 (and \
                  sweep man merge > .../sweep-merge.1, sweep man diff > .../sweep-diff.1)"
)]
struct ManArgs {
    /// The page of a subcommand instead of the scan's
    #[arg(value_enum, value_name = "PAGE")]
    page: Option<Page>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Page {
    Merge,
    Diff,
}

/// Everything sweep accepts as one clap command: the scan's options, with merge, diff,
/// completions and man as its subcommands. Only completions and the man page are made
/// from it; each command line is still parsed by its own parser.
pub fn full_command() -> clap::Command {
    cli::command()
        .subcommand(MergeArgs::command().name("merge"))
        .subcommand(DiffArgs::command().name("diff"))
        .subcommand(CompletionsArgs::command().name("completions"))
        .subcommand(ManArgs::command().name("man"))
}

/// Runs `sweep merge|diff|completions|man …` when `args[1]` names one, returning its exit
/// code; `None` for any other command line.
pub fn dispatch(args: &[OsString]) -> Option<ExitCode> {
    let rest = &args[1..];
    Some(match args.get(1)?.to_str()? {
        "merge" => run_merge(rest),
        "diff" => run_diff(rest),
        "completions" => run_completions(rest),
        "man" => run_man(rest),
        _ => return None,
    })
}

fn run_completions(args: &[OsString]) -> ExitCode {
    let a: CompletionsArgs = match parse(args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut full_command(), "sweep", &mut script);
    print(&script)
}

fn run_man(args: &[OsString]) -> ExitCode {
    let a: ManArgs = match parse(args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let mut page = Vec::new();
    let rendered = match a.page {
        None => man_page(&mut page),
        Some(Page::Merge) => clap_mangen::Man::new(MergeArgs::command()).render(&mut page),
        Some(Page::Diff) => clap_mangen::Man::new(DiffArgs::command()).render(&mut page),
    };
    match rendered {
        Ok(()) => print(&page),
        Err(e) => fail(&Error::Write(e)),
    }
}

/// The scan's page: every option, the subcommands, and the help's closing notes.
pub fn man_page(out: &mut dyn Write) -> std::io::Result<()> {
    clap_mangen::Man::new(full_command()).render(out)
}

/// Generated text to stdout; a closed pipe (`sweep man | head`) is not a failure.
fn print(bytes: &[u8]) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&Error::Write(e)),
    }
}

fn run_merge(args: &[OsString]) -> ExitCode {
    let a: MergeArgs = match parse(args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    finish(merge::run(&a.inputs, a.output.as_deref(), a.csv_raw).map(|m| m.up == 0))
}

fn run_diff(args: &[OsString]) -> ExitCode {
    let a: DiffArgs = match parse(args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let threshold = match a.rtt_change.as_deref().map(diff::parse_threshold) {
        None => None,
        Some(Ok(us)) => Some(us),
        Some(Err(e)) => return fail(&e),
    };
    finish(
        diff::run(&a.old, &a.new, threshold, a.output.as_deref(), a.csv_raw).map(|d| d.total() > 0),
    )
}

/// Help and version exit 0; usage errors print one `sweep: ` line and exit 2.
fn parse<P: Parser>(args: &[OsString]) -> Result<P, ExitCode> {
    P::try_parse_from(args).map_err(|e| {
        use clap::error::ErrorKind::*;
        if matches!(e.kind(), DisplayHelp | DisplayVersion) {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        let name = P::command().get_bin_name().unwrap_or("sweep").to_string();
        crate::error::warn(format_args!("sweep: {} (see {name} --help)", one_line(&e)));
        ExitCode::from(2)
    })
}

/// clap's message on one line: the first, plus the next when the first ends in a colon
/// (as "required arguments were not provided:" does, naming them below).
fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid arguments");
    let first = first.trim_start_matches("error: ");
    match lines.next() {
        Some(next) if first.ends_with(':') => format!("{first} {next}"),
        _ => first.to_string(),
    }
}

/// `Ok(flag)`: exit 1 when `flag` is set, else 0.
fn finish(result: Result<bool, Error>) -> ExitCode {
    match result {
        Ok(one) => ExitCode::from(u8::from(one)),
        Err(e) => fail(&e),
    }
}

fn fail(e: &Error) -> ExitCode {
    crate::error::fail(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn leaves_scans_alone() {
        assert!(dispatch(&os(&["sweep"])).is_none());
        assert!(dispatch(&os(&["sweep", "10.0.0.0/24"])).is_none());
        assert!(dispatch(&os(&["sweep", "--all", "merge"])).is_none());
    }

    #[test]
    fn parses_both_command_lines() {
        let m: MergeArgs = parse(&os(&["merge", "a.csv", "b.csv", "-o", "out.csv"])).unwrap();
        assert_eq!(m.inputs.len(), 2);
        assert_eq!(m.output, Some(PathBuf::from("out.csv")));
        assert!(parse::<MergeArgs>(&os(&["merge"])).is_err());
        let d: DiffArgs = parse(&os(&["diff", "a", "b", "--rtt-change", "5"])).unwrap();
        assert_eq!(d.rtt_change.as_deref(), Some("5"));
        assert!(parse::<DiffArgs>(&os(&["diff", "a"])).is_err());
        assert!(parse::<DiffArgs>(&os(&["diff", "a", "b", "c"])).is_err());
        let c: CompletionsArgs = parse(&os(&["completions", "zsh"])).unwrap();
        assert_eq!(c.shell, clap_complete::Shell::Zsh);
        assert!(parse::<CompletionsArgs>(&os(&["completions", "cmd.exe"])).is_err());
        assert!(parse::<ManArgs>(&os(&["man", "merge"]))
            .unwrap()
            .page
            .is_some());
    }

    #[test]
    fn the_full_command_is_consistent() {
        // clap's own checks of a definition (conflicting names, positional order…).
        full_command().debug_assert();
    }

    #[test]
    fn man_page_names_every_long_option() {
        let mut page = Vec::new();
        man_page(&mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        let cmd = cli::command();
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
            assert!(page.contains(sub), "{sub}");
        }
    }
}
