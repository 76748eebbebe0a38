//! Typed errors. Each variant knows its exit code: input problems are found before
//! anything is sent (2), runtime problems come from the OS (3).

use std::io;
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid target '{token}': {reason}")]
    BadTarget { token: String, reason: String },
    #[error("cannot resolve '{host}': {reason}")]
    Resolve { host: String, reason: String },
    #[error("invalid value '{token}' for {flag}: {reason}")]
    BadValue {
        flag: &'static str,
        token: String,
        reason: String,
    },
    #[error("cannot read '{}': {source}", path.display())]
    ReadInput { path: PathBuf, source: io::Error },
    #[error("cannot write '{}': {source}", path.display())]
    Output { path: PathBuf, source: io::Error },
    #[error("no targets left to probe{0}")]
    NoTargets(&'static str),
    #[error("{count} targets is more than the {max} one scan can hold")]
    TooManyTargets { count: u64, max: u64 },
    #[error("{what}: permission denied; {hint}")]
    Permission { what: &'static str, hint: String },
    #[error("cannot open ICMP socket: {0}")]
    Socket(io::Error),
    #[error("sending to {dst} failed: {source}")]
    Send { dst: IpAddr, source: io::Error },
    #[error("receiving failed: {0}")]
    Receive(io::Error),
    #[error("the state file '{}' {reason}", path.display())]
    StateMismatch { path: PathBuf, reason: String },
    #[error("cannot handle signals: {0}")]
    Signals(io::Error),
    #[error("writing results failed: {0}")]
    Write(io::Error),
    #[error("cannot draw the probe key from the OS random source: {0}")]
    Random(io::Error),
}

impl Error {
    /// Exit code per the CLI contract: 2 for usage/input errors, 3 for runtime errors.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::BadTarget { .. }
            | Error::Resolve { .. }
            | Error::BadValue { .. }
            | Error::ReadInput { .. }
            | Error::Output { .. }
            | Error::NoTargets(_)
            | Error::StateMismatch { .. }
            | Error::TooManyTargets { .. } => 2,
            _ => 3,
        }
    }

    /// True when the error is a closed stdout (e.g. `sweep … | head`), which is not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Write(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

pub type Result<T> = std::result::Result<T, Error>;
