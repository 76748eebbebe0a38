//! Typed errors of every command (the scan, merge, diff, completions, man). Each variant
//! knows its exit code: input problems are found before anything is sent or written (2),
//! runtime problems come from the OS (3), and an on-link prefix where discovery found
//! nobody is a scan that found no host (1). `fail` reports one on stderr.

use std::io;
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid target '{token}': {reason}")]
    BadTarget { token: String, reason: String },
    /// A bad target in a target or exclude file, by line.
    #[error("{}:{line}: invalid target '{token}': {reason}", path.display())]
    BadTargetAt {
        path: PathBuf,
        line: u64,
        token: String,
        reason: String,
    },
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
    /// A merge or diff input that is not a sweep CSV, or not like the other inputs.
    #[error("'{}': {reason}", path.display())]
    CsvHeader { path: PathBuf, reason: String },
    /// A bad row of a merge or diff input, by physical line.
    #[error("{}:{line}: {reason}", path.display())]
    CsvRow {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error("no targets left to probe{0}")]
    NoTargets(&'static str),
    /// Every target was a hostname that did not resolve (the names, quoted and listed).
    #[error("no targets left to probe: {names} did not resolve")]
    NothingResolved { names: String },
    #[error("{count} targets is more than the {max} one scan can hold")]
    TooManyTargets { count: u64, max: u64 },
    #[error("{what}: permission denied; {hint}")]
    Permission { what: &'static str, hint: String },
    #[error("cannot open ICMP socket: {0}")]
    Socket(io::Error),
    #[error("sending to {dst} failed: {source}")]
    Send { dst: IpAddr, source: io::Error },
    #[error("sending frames failed: {0}")]
    Frames(io::Error),
    #[error("cannot open a layer-2 socket on '{iface}': {source}")]
    PacketSocket { iface: String, source: io::Error },
    #[error("reading the routing table failed: {0}")]
    Routes(io::Error),
    #[error("{0}")]
    Route(String),
    #[error("receiving failed: {0}")]
    Receive(io::Error),
    #[error("the state file '{}' {reason}", path.display())]
    StateMismatch { path: PathBuf, reason: String },
    #[error("the state file '{}' {reason}; it cannot be resumed from", path.display())]
    BadState { path: PathBuf, reason: String },
    #[error("the journal '{}' {reason}; it cannot be resumed from", path.display())]
    BadJournal { path: PathBuf, reason: String },
    #[error(
        "refusing to run set-uid (uid {uid}, effective uid {euid}): give the binary \
             CAP_NET_RAW instead (setcap cap_net_raw+ep), or run it as root"
    )]
    SetUid { uid: u32, euid: u32 },
    #[error("cannot drop privileges after opening the sockets: {0}")]
    DropPrivileges(String),
    #[error("cannot handle signals: {0}")]
    Signals(io::Error),
    #[error("writing results failed: {0}")]
    Write(io::Error),
    /// A failure to write results once the work (a scan, or reading merge/diff inputs) is
    /// done: a runtime error (3), never the usage error (2) that means nothing was sent.
    #[error("cannot write results to '{}': {source}", path.display())]
    WriteResults { path: PathBuf, source: io::Error },
    /// A file given as an inventory that is not one this sweep can use (exit 2, untouched).
    #[error("the inventory '{}' {reason}", path.display())]
    NotInventory { path: PathBuf, reason: String },
    /// The inventory failed at run time (I/O, a full disk, a lock held too long).
    #[error("inventory '{}': {reason}", path.display())]
    Inventory { path: PathBuf, reason: String },
    /// A database URL (`--db postgresql://…`) that does not parse (exit 2); its password
    /// is never shown.
    #[error("the inventory URL '{url}' does not parse: {reason}")]
    DatabaseUrl { url: String, reason: String },
    /// A PostgreSQL inventory that cannot be used, found before any probe is sent: no
    /// server, refused credentials, a database that is not sweep's or is newer (exit 3).
    #[error("the inventory {url} {reason}")]
    Database { url: String, reason: String },
    /// A scan whose output was written but whose recording failed (exit 3).
    #[error("the run was not recorded in '{}': {reason} (the scan's output was written)", path.display())]
    NotRecorded { path: PathBuf, reason: String },
    #[error("cannot draw the probe key from the OS random source: {0}")]
    Random(io::Error),
    /// Discovery asked an on-link prefix's segment and nobody answered: a scan that found
    /// no host (1), not a usage error, since packets went out.
    #[error("no host on {iface} answered discovery of {prefix}")]
    NoneAnswered { iface: String, prefix: String },
}

impl Error {
    /// Exit code per the CLI contract: 2 for usage/input errors, 3 for runtime errors.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::BadTarget { .. }
            | Error::BadTargetAt { .. }
            | Error::Resolve { .. }
            | Error::BadValue { .. }
            | Error::ReadInput { .. }
            | Error::Output { .. }
            | Error::CsvHeader { .. }
            | Error::CsvRow { .. }
            | Error::NoTargets(_)
            | Error::NothingResolved { .. }
            | Error::StateMismatch { .. }
            | Error::Route(_)
            | Error::BadState { .. }
            | Error::BadJournal { .. }
            | Error::SetUid { .. }
            | Error::NotInventory { .. }
            | Error::DatabaseUrl { .. }
            | Error::TooManyTargets { .. } => 2,
            Error::NoneAnswered { .. } => 1,
            _ => 3,
        }
    }

    /// True when the error is a closed stdout (e.g. `sweep … | head`), which is not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Write(e) | Error::WriteResults { source: e, .. }
            if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Reports `e` as one `sweep: ` line and gives its exit code; a closed stdout (`sweep … |
/// head`) is not a failure.
pub fn fail(e: &Error) -> std::process::ExitCode {
    if e.is_broken_pipe() {
        return std::process::ExitCode::SUCCESS;
    }
    warn(format_args!("sweep: {e}"));
    std::process::ExitCode::from(e.exit_code())
}

/// One line on stderr. A closed or broken stderr must not end the run (`eprintln!`
/// panics there), and there is nowhere left to report that it failed, so it is ignored.
pub fn warn(line: std::fmt::Arguments) {
    use std::io::Write;
    let _ = writeln!(io::stderr().lock(), "{line}");
}
