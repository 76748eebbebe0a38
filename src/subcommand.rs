//! `sweep merge` and `sweep diff`: their command lines (clap) and exit codes. `dispatch`
//! leaves every other command line to the scan's parser.

use crate::csvin::Error;
use crate::{diff, merge};
use clap::Parser;
use std::ffi::OsString;
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

/// Runs `sweep merge …` or `sweep diff …` when `args[1]` names one, returning its exit
/// code; `None` for any other command line.
pub fn dispatch(args: &[OsString]) -> Option<ExitCode> {
    let rest = &args[1..];
    Some(match args.get(1)?.to_str()? {
        "merge" => run_merge(rest),
        "diff" => run_diff(rest),
        _ => return None,
    })
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
        Some(Err(e)) => return fail(&e.into()),
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
    // `sweep merge … | head` closing the pipe early is not a failure.
    if e.is_broken_pipe() {
        return ExitCode::SUCCESS;
    }
    crate::error::warn(format_args!("sweep: {e}"));
    ExitCode::from(e.exit_code())
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
    }
}
