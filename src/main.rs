use std::process::ExitCode;
use sweep::cli::{self, docs};
use sweep::results::{diff, merge, report};
use sweep::Command;

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args_os()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // Each command's exit status on success (see its --help); an error carries its own.
    let status = match command {
        Command::Scan(config) => sweep::run(&config).map(|o| o.exit_code()),
        Command::Merge {
            inputs,
            output,
            csv_raw,
        } => merge::run(&inputs, output.as_deref(), csv_raw).map(|m| u8::from(m.up == 0)),
        Command::Diff {
            old,
            new,
            rtt_change_us,
            output,
            csv_raw,
        } => diff::run(&old, &new, rtt_change_us, output.as_deref(), csv_raw)
            .map(|d| u8::from(d.total() > 0)),
        Command::Report { inputs, output } => {
            report::run(&inputs, output.as_deref()).map(|r| u8::from(r.up == 0))
        }
        Command::Inventory(req) => sweep::commands::inventory::run(&req),
        Command::Completions { shell } => docs::completions(shell).map(|()| 0),
        Command::Man { page } => docs::man(page).map(|()| 0),
    };
    status.map_or_else(|e| sweep::error::fail(&e), ExitCode::from)
}
