use std::process::ExitCode;

fn main() -> ExitCode {
    let config = match sweep::cli::parse(std::env::args_os()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match sweep::app::run(&config) {
        Ok(up) => ExitCode::from(if up > 0 { 0 } else { 1 }),
        // `sweep … | head` closing the pipe early is not a failure.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sweep: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
