use std::process::ExitCode;

fn main() -> ExitCode {
    if let Some(code) = sweep::cli::subcommand::dispatch(&std::env::args_os().collect::<Vec<_>>()) {
        return code;
    }
    let config = match sweep::cli::parse(std::env::args_os()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match sweep::run::run(&config) {
        Ok(o) => ExitCode::from(o.exit_code()),
        // `sweep … | head` closing the pipe early is not a failure.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            sweep::error::warn(format_args!("sweep: {e}"));
            ExitCode::from(e.exit_code())
        }
    }
}
