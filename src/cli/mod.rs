//! The only clap user: one clap command, parsed once, into a `Command`: a scan (the
//! default, with a validated `Config`) or one of the subcommands in `subcommand.rs`.
//! Errors name the bad token.
//!
//! A subcommand is only recognised as the first argument, so `sweep --all merge` or
//! `sweep -- merge` scans a host named `merge`; a bare `sweep merge` never does.

pub mod docs;
pub mod duration;
pub mod inventory;
pub mod subcommand;

pub use subcommand::Page;

use crate::engine::count::{CountOptions, MAX_COUNT, MIN_PERIOD};
use crate::engine::{ScanOptions, Shard, ADAPTIVE_RETRIES, MAX_RETRIES, MAX_TIMEOUT_US};
use crate::error::Error;
use crate::net::kernel::{SendPath, SocketChoice};
use crate::net::layer2;
use crate::results::output::{Field, Format, Layout};
use crate::targets::build::Sources;
use crate::targets::Family;
use clap::{Parser, ValueEnum};
use duration::Bounds;
use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use subcommand::Sub;

/// Finds every live host in an address range with ICMP echo, fast, and writes CSV.
#[derive(Debug, Parser)]
#[command(
    name = "sweep",
    version,
    after_help = AFTER_HELP,
    // Only a first argument names a subcommand; anything after an option or a target
    // is the scan's.
    args_conflicts_with_subcommands = true,
    // `sweep help` stays what it always was: a target.
    disable_help_subcommand = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    /// CIDR (10.0.0.0/16, fd00::/104), address, range (10.0.0.1-10.0.3.20) or hostname
    #[arg(value_name = "TARGET")]
    targets: Vec<String>,
    /// Read targets from FILE, one per line ('-' = stdin; blank lines and # comments ok)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Skip these targets (same forms as TARGET, comma-separated)
    #[arg(long, value_name = "SPEC[,SPEC...]", value_delimiter = ',')]
    exclude: Vec<String>,
    /// Skip the targets listed in FILE (also spelled --excludefile, as in nmap and masscan)
    #[arg(long, value_name = "FILE", alias = "excludefile")]
    exclude_file: Vec<PathBuf>,
    /// Abort (exit 2, nothing sent) when a hostname does not resolve, instead of warning
    /// and scanning the other targets
    #[arg(long)]
    strict_names: bool,
    /// Most probes per second, or 'max' for as fast as the machine allows; lowered while
    /// the path loses answers (a rate limit on the way), raised again when it stops
    #[arg(
        long,
        value_name = "PPS",
        default_value = "10000",
        allow_negative_numbers = true
    )]
    rate: String,
    /// Keep --rate whatever the path does (benchmarks)
    #[arg(long)]
    fixed_rate: bool,
    /// Exactly N retry rounds to targets that have not answered (default: as many as the
    /// measured loss needs, at least one and at most 10)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    retries: Option<String>,
    /// Slowest reply that still counts (e.g. 500ms, 2s)
    #[arg(long, value_name = "DUR", default_value = "1s")]
    timeout: String,
    /// Seed for the probe order only, not a secret (random when absent)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    seed: Option<String>,
    /// Echo payload bytes
    #[arg(
        long,
        value_name = "BYTES",
        default_value = "56",
        allow_negative_numbers = true
    )]
    size: String,
    /// IP time-to-live of the probes
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    ttl: Option<String>,
    /// Write the CSV to FILE (atomically) instead of stdout
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// A row for every target, not only those that answered
    #[arg(long)]
    all: bool,
    /// No progress bar, status lines or summary line
    #[arg(short, long)]
    quiet: bool,
    /// Also write the run's summary as a JSON object to FILE (atomically, interrupted or not)
    #[arg(long, value_name = "FILE")]
    summary_json: Option<PathBuf>,
    /// How often a status line is printed when stderr is not a terminal (for tests)
    #[arg(long, value_name = "DUR", default_value = "5s", hide = true)]
    status_interval: String,
    /// Hostnames: use only their IPv4 addresses
    #[arg(short = '4', conflicts_with = "ipv6")]
    ipv4: bool,
    /// Hostnames: use only their IPv6 addresses
    #[arg(short = '6')]
    ipv6: bool,
    /// Output format
    #[arg(long, value_enum, default_value = "csv", ignore_case = true)]
    format: FormatArg,
    /// Columns to write, comma-separated (addr,status,rtt_ms,ttl,responder,probes,dups,detail,mac,vendor,seen_at,hostname; with -c also sent,received,loss_pct,rtt_min_ms,rtt_avg_ms,rtt_max_ms,rtt_stddev_ms,rtts)
    #[arg(long, value_name = "FIELD[,FIELD...]", value_delimiter = ',')]
    fields: Vec<String>,
    /// CSV fields exactly as found: no leading ' before text that starts with = + - @ TAB CR
    #[arg(long)]
    csv_raw: bool,
    /// Add a seen_at column: RFC 3339 time of the first reply
    #[arg(long)]
    timestamp: bool,
    /// Add a hostname column: reverse DNS of hosts that answered, looked up after the scan
    #[arg(long)]
    rdns: bool,
    /// Give up on one reverse lookup after this long
    #[arg(long, value_name = "DUR", default_value = "2s")]
    rdns_timeout: String,
    /// Probe only shard I of N (0-based; 'auto/N' reads JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID); needs --seed
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Continue an interrupted scan from its state file (same targets and options)
    #[arg(long, value_name = "STATE")]
    resume: Option<PathBuf>,
    /// Where to write the state file if interrupted (default: OUTPUT.state; to stdout, a
    /// file of this run's own in ~/.local/state/sweep)
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// ICMP socket: raw (root/CAP_NET_RAW), datagram (ping_group_range) or auto
    #[arg(long, value_enum, default_value = "auto", ignore_case = true)]
    socket: SocketArg,
    /// Send only through this interface; every target must be reachable through it
    #[arg(short = 'I', long = "iface", value_name = "NAME")]
    iface: Option<String>,
    /// Source address of the probes; must be configured on the interface that sends them
    #[arg(short = 'S', long = "src", value_name = "ADDR")]
    src: Option<String>,
    /// Targets on our own Ethernet segments: ARP/neighbour discovery at layer 2 (auto) or
    /// the kernel's path (off; for benchmarks)
    #[arg(long, value_enum, default_value = "auto", hide = true)]
    l2: L2Arg,
    /// Routed targets behind an Ethernet next hop: frames to the next hop's MAC (from
    /// the kernel's neighbour table) instead of the raw socket (for benchmarks)
    #[arg(long, hide = true)]
    routed_frames: bool,
    /// Sending threads (for benchmarks; 0 = 2 at --rate max or above 120k pps, else 1)
    #[arg(long, value_name = "N", default_value = "0", hide = true)]
    senders: String,
    /// How probes reach the kernel (for benchmarks): batch (sendmmsg) or pnet (send_to)
    #[arg(long, value_enum, default_value = "batch", hide = true)]
    send_path: PathArg,
    /// Count mode: N echo requests to every target (1-1000), for loss and RTT statistics;
    /// adds the columns sent,received,loss_pct,rtt_min_ms,rtt_avg_ms,rtt_max_ms,rtt_stddev_ms
    #[arg(
        short = 'c',
        long = "count",
        value_name = "N",
        allow_negative_numbers = true
    )]
    count: Option<String>,
    /// Count mode: time between two probes to the same target (at least 10ms)
    #[arg(long, value_name = "DUR", default_value = "1s")]
    period: String,
    /// Repeat the sweep every DUR (e.g. 30s, 5m); each run's output is written on its own
    #[arg(long, value_name = "DUR")]
    every: Option<String>,
    /// With --every: stop after N runs (default: until interrupted)
    #[arg(
        long,
        value_name = "N",
        requires = "every",
        allow_negative_numbers = true
    )]
    runs: Option<String>,
    /// Record the run in the inventory DB: an SQLite FILE (created on first use) or a
    /// postgresql:// URL (also SWEEP_DB)
    #[arg(long, value_name = "FILE|URL")]
    db: Option<PathBuf>,
    /// Refuse a server inventory whose schema is older than this sweep's instead of
    /// migrating it (`sweep inventory migrate` does it)
    #[arg(long)]
    no_migrate: bool,
    /// Record nothing, even with SWEEP_DB set
    #[arg(long, conflicts_with = "db")]
    no_db: bool,
    /// The job the run belongs to: shards and resumed runs of one job record as one run
    /// (default: the seed, the targets and the scheduler's job id)
    #[arg(long, value_name = "ID")]
    job: Option<String>,
}

const AFTER_HELP: &str = "\
Also: sweep merge A.csv B.csv... [-o OUT]   join shard or resumed outputs in address order
      sweep diff OLD.csv NEW.csv [--rtt-change MS]   hosts that appeared, disappeared or changed
      sweep report A.csv... [-o OUT]   the HTML report of saved CSVs
      sweep inventory hosts|events|host|free|runs|prune|import|report   what runs with --db FILE recorded
      sweep completions bash|zsh|fish|elvish|powershell   a shell completion script
      sweep man [merge|diff|report|completions|man]   the manual page (roff)
A command is only ever the first argument: scan a host named like one as sweep -- merge.
-h, -? and /? print this help. A hostname that does not resolve is a warning and is skipped (--strict-names: an error).
When stderr is not a terminal, a status line is printed every 5 s (none with -q).
CSV columns: addr,status,rtt_ms,ttl,responder,probes,dups,detail,mac,vendor (status: up, unreachable, down)
      with -c N also sent,received,loss_pct,rtt_min_ms,rtt_avg_ms,rtt_max_ms,rtt_stddev_ms
Exit status: 0 some host up; 1 none up; 2 usage or input error, also a bare `sweep` (nothing sent);
3 runtime error; 130 interrupted";

/// What a bare `sweep` prints (on stderr, exit 2: a command line without targets is a
/// usage error, as for fping).
const SHORT_USAGE: &str = "\
Usage: sweep [OPTIONS] TARGET... | -f FILE   (e.g. sweep 10.0.0.0/24 -o hosts.csv)
       sweep merge|diff|report|completions|man ...
Try 'sweep --help' (or -h, -?) for more information.";

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SocketArg {
    Auto,
    Raw,
    Datagram,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Csv,
    Json,
    Ndjson,
    /// The text exposition format (node_exporter's textfile collector)
    Prometheus,
    /// nmap's XML for a ping scan (nmap -sn -oX), for ndiff and nmap's other readers
    #[value(alias = "xml")]
    NmapXml,
    /// A self-contained HTML report: summary, maps, RTTs, vendors, host table
    Html,
    /// nmap's grepable output for a ping scan (nmap -sn -oG): Host: ADDR ()<TAB>Status: Up
    #[value(alias = "gnmap")]
    Grepable,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum L2Arg {
    Auto,
    Off,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PathArg {
    Batch,
    Pnet,
}

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub targets: Vec<String>,
    pub files: Vec<PathBuf>,
    pub exclude: Vec<String>,
    pub exclude_files: Vec<PathBuf>,
    pub scan: ScanOptions,
    pub ttl: Option<u8>,
    pub output: Option<PathBuf>,
    pub quiet: bool,
    /// `--summary-json`: where the run's JSON summary goes.
    pub summary_json: Option<PathBuf>,
    /// How often a status line goes to a non-terminal stderr.
    pub status_interval: Duration,
    /// `--strict-names`: an unresolvable hostname aborts the run.
    pub strict_names: bool,
    pub socket: SocketChoice,
    /// Which addresses of a hostname to probe.
    pub family: Family,
    pub layout: Layout,
    /// Per-lookup timeout when reverse DNS is on.
    pub rdns: Option<Duration>,
    /// An explicit `--seed` (a resumed scan otherwise takes the state file's).
    pub seed_given: bool,
    pub resume: Option<PathBuf>,
    pub state: Option<PathBuf>,
    /// `-I`: the only interface to send through.
    pub iface: Option<String>,
    /// `-S`: the probes' source address.
    pub src: Option<IpAddr>,
    /// Layer-2 discovery for on-link targets.
    pub l2: bool,
    /// Routed targets as frames to their next hop's MAC.
    pub routed_frames: bool,
    /// `--every`: the time from one run's start to the next one's.
    pub every: Option<Duration>,
    /// `--runs`: how many runs (`None`: until interrupted).
    pub runs: Option<u64>,
    /// `--db` or `SWEEP_DB` (unless `--no-db`): the inventory each run is recorded in.
    pub db: Option<PathBuf>,
    /// Not `--no-migrate`: a scan may migrate the inventory's schema.
    pub migrate: bool,
    /// `--job`: the run's job id.
    pub job: Option<String>,
}

impl Config {
    /// Where the scan's targets come from.
    pub fn sources(&self) -> Sources<'_> {
        Sources {
            targets: &self.targets,
            files: &self.files,
            exclude: &self.exclude,
            exclude_files: &self.exclude_files,
            family: self.family,
            strict_names: self.strict_names,
        }
    }

    /// What the layer-2 path may do.
    pub fn layer2(&self) -> layer2::Want<'_> {
        layer2::Want {
            enabled: self.l2,
            socket: self.socket,
            iface: self.iface.as_deref(),
            src: self.src,
            routed_frames: self.routed_frames,
        }
    }

    /// Where the user put an interrupted run's state: `--state`, else beside a regular
    /// `-o` file, else (stdout, /dev/null, a FIFO: no place for a file beside it) the
    /// state being resumed. `None`: nobody chose; the run names its own (`run::checkpoint`).
    pub fn state_path(&self) -> Option<PathBuf> {
        match (&self.state, &self.output) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(o)) if !crate::results::sink::is_special(o) => {
                let mut s = o.clone().into_os_string();
                s.push(".state");
                Some(s.into())
            }
            (None, _) => self.resume.clone(),
        }
    }
}

/// What one command line asks for.
#[derive(Debug, Clone)]
pub enum Command {
    /// A scan (no subcommand).
    Scan(Box<Config>),
    /// `sweep merge CSV... [-o FILE] [--csv-raw]`.
    Merge {
        inputs: Vec<PathBuf>,
        output: Option<PathBuf>,
        csv_raw: bool,
    },
    /// `sweep report CSV... [-o FILE]`.
    Report {
        inputs: Vec<PathBuf>,
        output: Option<PathBuf>,
    },
    /// `sweep diff OLD NEW [--rtt-change MS] [-o FILE] [--csv-raw]`.
    Diff {
        old: PathBuf,
        new: PathBuf,
        /// `--rtt-change`, in microseconds.
        rtt_change_us: Option<u64>,
        output: Option<PathBuf>,
        csv_raw: bool,
    },
    /// `sweep inventory …`.
    Inventory(Box<crate::commands::inventory::Request>),
    /// `sweep completions SHELL`.
    Completions { shell: clap_complete::Shell },
    /// `sweep man [merge|diff]`.
    Man { page: Option<Page> },
}

/// The one clap definition, subcommands included: what the command line is parsed with
/// and what the man page and the completions are made from.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    Args::command()
}

/// Other tools' spellings: `-?` and `/?` ask for help as `-h` does (DOS and the ping
/// client sweep grew from); nmap's `-oX FILE` and `-oG FILE` write its XML and grepable
/// formats. nmap's other output flags are refused by name: clap would read `-oN x.txt`
/// as `-o N` and a target `x.txt`.
fn help_aliases(args: Vec<OsString>) -> Result<Vec<OsString>, Stop> {
    let mut seen_end = false;
    let mut out = Vec::with_capacity(args.len() + 2);
    for a in args {
        seen_end |= a == "--";
        if seen_end {
            out.push(a);
        } else if a == "-?" || a == "/?" {
            out.push(OsString::from("--help"));
        } else if let Some(format) = nmap_format(&a)? {
            out.extend(["--format", format, "-o"].map(OsString::from));
        } else {
            out.push(a);
        }
    }
    Ok(out)
}

/// The `--format` an nmap output flag (`-oX`, `-oG`) stands for; a usage error naming
/// the flag and what to use for the ones sweep does not write.
fn nmap_format(arg: &OsString) -> Result<Option<&'static str>, Stop> {
    let refuse = |what: &str| {
        Err(Stop::Usage(format!(
            "sweep: {} ({what}) is not a format sweep writes: use -o FILE (CSV), \
             -oX FILE (nmap XML) or -oG FILE (nmap grepable)",
            arg.to_string_lossy()
        )))
    };
    match arg.to_str() {
        Some("-oX") => Ok(Some("nmap-xml")),
        Some("-oG") => Ok(Some("grepable")),
        Some("-oN") => refuse("nmap's normal output"),
        Some("-oS") => refuse("nmap's script kiddie output"),
        Some("-oM") => refuse("nmap's old machine output"),
        Some("-oA") => Err(Stop::Usage(
            "sweep: -oA (nmap's three formats at once) is not something sweep writes: \
             one output a run, -oX BASE.xml (nmap XML) or -oG BASE.gnmap (nmap grepable)"
                .into(),
        )),
        _ => Ok(None),
    }
}

/// Parses the command line. `Err` carries the exit code after help, version or a usage
/// error has been printed.
pub fn parse<I, T>(args: I) -> Result<Command, ExitCode>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    read(args.into_iter().map(Into::into).collect()).map_err(Stop::report)
}

/// Why a command line runs nothing.
#[derive(Debug)]
enum Stop {
    /// Help or version, asked for: on stdout, exit 0.
    Asked(clap::Error),
    /// A usage error: these lines on stderr, exit 2.
    Usage(String),
    /// A value clap accepted but the command cannot use.
    Invalid(Error),
}

impl Stop {
    fn exit_code(&self) -> ExitCode {
        match self {
            Stop::Asked(_) => ExitCode::SUCCESS,
            Stop::Usage(_) => ExitCode::from(2),
            Stop::Invalid(e) => ExitCode::from(e.exit_code()),
        }
    }

    /// Prints what the command line gets instead of a run; its exit code.
    fn report(self) -> ExitCode {
        match &self {
            Stop::Asked(e) => {
                let _ = e.print();
            }
            Stop::Usage(text) => crate::error::warn(format_args!("{text}")),
            Stop::Invalid(e) => return crate::error::fail(e),
        }
        self.exit_code()
    }
}

/// The one parse: clap over the whole command line, then the chosen command's checks.
fn read(args: Vec<OsString>) -> Result<Command, Stop> {
    let args = help_aliases(args)?;
    if args.len() <= 1 {
        return Err(Stop::Usage(SHORT_USAGE.into()));
    }
    let mut parsed = Args::try_parse_from(&args).map_err(|e| {
        use clap::error::ErrorKind::*;
        if matches!(e.kind(), DisplayHelp | DisplayVersion) {
            return Stop::Asked(e);
        }
        let see = sub_named(&args);
        Stop::Usage(format!("sweep: {} (see {see}--help)", one_line(&e)))
    })?;
    let command = match parsed.command.take() {
        None => validate(parsed).map(|c| Command::Scan(Box::new(c))),
        Some(Sub::Merge(m)) => Ok(Command::Merge {
            inputs: m.inputs,
            output: m.output,
            csv_raw: m.csv_raw,
        }),
        Some(Sub::Diff(d)) => d
            .rtt_change
            .as_deref()
            .map(crate::results::diff::parse_threshold)
            .transpose()
            .map(|rtt_change_us| Command::Diff {
                old: d.old,
                new: d.new,
                rtt_change_us,
                output: d.output,
                csv_raw: d.csv_raw,
            }),
        Some(Sub::Report(r)) => Ok(Command::Report {
            inputs: r.inputs,
            output: r.output,
        }),
        Some(Sub::Inventory(i)) => inventory::validate(i, std::env::var_os("SWEEP_DB"))
            .map(|r| Command::Inventory(Box::new(r))),
        Some(Sub::Completions(c)) => Ok(Command::Completions { shell: c.shell }),
        Some(Sub::Man(m)) => Ok(Command::Man { page: m.page }),
    };
    command.map_err(Stop::Invalid)
}

/// clap's message on one line: the first, plus the next when the first ends in a colon
/// (as "required arguments were not provided:" does, naming them below).
fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid arguments");
    let first = first.trim_start_matches("error: ");
    let mut line = match lines.next() {
        Some(next) if first.ends_with(':') => format!("{first} {next}"),
        _ => first.to_string(),
    };
    // What clap's own lines below would have taught: the values allowed, the near miss.
    use clap::error::{ContextKind, ContextValue};
    if let Some(ContextValue::Strings(valid)) = e.get(ContextKind::ValidValue) {
        line.push_str(&format!("; one of {}", valid.join(", ")));
    }
    for kind in [ContextKind::SuggestedArg, ContextKind::SuggestedValue] {
        match e.get(kind) {
            Some(ContextValue::String(s)) => line.push_str(&format!("; did you mean '{s}'?")),
            Some(ContextValue::Strings(v)) if !v.is_empty() => {
                line.push_str(&format!("; did you mean '{}'?", v.join("' or '")))
            }
            _ => {}
        }
    }
    line
}

/// `sweep SUB ` when the first argument names a subcommand (the only place one is
/// recognised), for "see sweep SUB --help".
fn sub_named(args: &[OsString]) -> String {
    let name = args.get(1).and_then(|a| a.to_str()).unwrap_or_default();
    match command().find_subcommand(name) {
        Some(_) => format!("sweep {name} "),
        None => String::new(),
    }
}

fn validate(a: Args) -> Result<Config, Error> {
    if a.targets.is_empty() && a.files.is_empty() {
        return Err(Error::NoTargets(": give a TARGET or -f FILE"));
    }
    let rate = match a.rate.as_str() {
        "max" => None,
        r => Some(number("--rate", r, 1, 100_000_000)?),
    };
    let retries = match &a.retries {
        Some(r) => number("--retries", r, 0, u64::from(MAX_RETRIES))? as u8,
        None => ADAPTIVE_RETRIES,
    };
    let timeout = duration::parse("--timeout", &a.timeout, TIMEOUT)?;
    let seed = match &a.seed {
        Some(s) => number("--seed", s, 0, u64::MAX)?,
        None => rand::random(),
    };
    let shard = match &a.shard {
        None => Shard::WHOLE,
        Some(tok) => {
            if a.seed.is_none() {
                return Err(Error::BadValue {
                    flag: "--shard",
                    token: tok.clone(),
                    reason: "sharding needs an explicit --seed so every shard walks the same order"
                        .into(),
                });
            }
            shard(tok)?
        }
    };
    let count = count_options(&a)?;
    let layout = layout(&a, count.is_some())?;
    let count = count.map(|c| CountOptions {
        keep_rtts: layout.fields.contains(&Field::Rtts),
        ..c
    });
    if count.is_some() && a.resume.is_some() {
        return Err(Error::BadValue {
            flag: "--resume",
            token: a
                .resume
                .as_ref()
                .map_or(String::new(), |p| p.display().to_string()),
            reason: "count mode (-c) runs cannot be resumed".into(),
        });
    }
    let (every, runs) = repeat(&a)?;
    let want = |f| layout.fields.contains(&f);
    let rdns = want(Field::Hostname)
        .then(|| duration::parse("--rdns-timeout", &a.rdns_timeout, RDNS_TIMEOUT))
        .transpose()?;
    let payload = number("--size", &a.size, crate::probe::MIN_PAYLOAD as u64, 65_000)? as usize;
    let ttl = a
        .ttl
        .as_deref()
        .map(|t| number("--ttl", t, 1, 255).map(|v| v as u8))
        .transpose()?;
    Ok(Config {
        targets: a.targets,
        files: a.files,
        exclude: a.exclude,
        exclude_files: a.exclude_file,
        scan: ScanOptions {
            rate,
            // Count mode: lost probes are the measurement, not something to retry.
            retries: if count.is_some() { 0 } else { retries },
            adaptive: a.retries.is_none() && count.is_none(),
            fixed_rate: a.fixed_rate,
            timeout,
            seed,
            payload,
            path: match a.send_path {
                PathArg::Batch => SendPath::Batch,
                PathArg::Pnet => SendPath::Pnet,
            },
            shard,
            timestamps: layout.fields.contains(&Field::SeenAt),
            senders: number("--senders", &a.senders, 0, 16)?,
            count,
        },
        ttl,
        output: a.output,
        quiet: a.quiet,
        summary_json: a.summary_json,
        status_interval: duration::parse("--status-interval", &a.status_interval, STATUS_INTERVAL)?,
        strict_names: a.strict_names,
        socket: match a.socket {
            SocketArg::Auto => SocketChoice::Auto,
            SocketArg::Raw => SocketChoice::Raw,
            SocketArg::Datagram => SocketChoice::Datagram,
        },
        family: match (a.ipv4, a.ipv6) {
            (true, _) => Family::V4,
            (_, true) => Family::V6,
            _ => Family::Any,
        },
        layout,
        rdns,
        seed_given: a.seed.is_some(),
        resume: a.resume,
        state: a.state,
        iface: a.iface,
        src: a
            .src
            .as_deref()
            .map(|t| {
                t.parse::<IpAddr>().map_err(|_| Error::BadValue {
                    flag: "--src",
                    token: t.into(),
                    reason: "not an IPv4 or IPv6 address".into(),
                })
            })
            .transpose()?,
        l2: matches!(a.l2, L2Arg::Auto),
        routed_frames: a.routed_frames,
        every,
        runs,
        db: inventory_path(a.db, a.no_db, std::env::var_os("SWEEP_DB")),
        migrate: !a.no_migrate,
        job: a.job,
    })
}

/// `--db`, else `SWEEP_DB` when set and not empty; `--no-db` records nothing.
fn inventory_path(flag: Option<PathBuf>, off: bool, env: Option<OsString>) -> Option<PathBuf> {
    if off {
        return None;
    }
    flag.or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from))
}

/// `-c N` and `--period`.
fn count_options(a: &Args) -> Result<Option<CountOptions>, Error> {
    let Some(tok) = &a.count else {
        return Ok(None);
    };
    let count = number("--count", tok, 1, u64::from(MAX_COUNT))? as u16;
    let period = duration::parse("--period", &a.period, PERIOD)?;
    Ok(Some(CountOptions {
        count,
        period,
        keep_rtts: false,
    }))
}

/// `--every DUR` and `--runs N`.
fn repeat(a: &Args) -> Result<(Option<Duration>, Option<u64>), Error> {
    let Some(tok) = &a.every else {
        return Ok((None, None));
    };
    let bad = |reason: &str| Error::BadValue {
        flag: "--every",
        token: tok.clone(),
        reason: reason.into(),
    };
    let every = duration::parse("--every", tok, EVERY)?;
    if a.resume.is_some() {
        return Err(bad("repeated runs cannot resume a state file"));
    }
    let runs = a
        .runs
        .as_deref()
        .map(|r| number("--runs", r, 1, u64::MAX))
        .transpose()?;
    Ok((Some(every), runs))
}

fn layout(a: &Args, count: bool) -> Result<Layout, Error> {
    let mut fields = Vec::new();
    for name in &a.fields {
        let f = Field::parse(name.trim()).ok_or_else(|| Error::BadValue {
            flag: "--fields",
            token: name.clone(),
            reason: format!(
                "unknown field; choose from {}",
                Field::ALL.map(Field::name).join(",")
            ),
        })?;
        if f.count_only() && !count {
            return Err(Error::BadValue {
                flag: "--fields",
                token: name.clone(),
                reason: "a count-mode field; needs -c N".into(),
            });
        }
        fields.push(f);
    }
    let defaults = fields.is_empty();
    if defaults {
        fields.extend_from_slice(Field::DEFAULT);
    }
    // With --fields too, --timestamp and --rdns add their column (at the end) rather than
    // being silently dropped.
    for (asked, f) in [(a.timestamp, Field::SeenAt), (a.rdns, Field::Hostname)] {
        if asked && !fields.contains(&f) {
            fields.push(f);
        }
    }
    if defaults && count {
        fields.extend_from_slice(Field::COUNT);
        if matches!(a.format, FormatArg::Json | FormatArg::Ndjson) {
            fields.push(Field::Rtts);
        }
    }
    Ok(Layout {
        format: match a.format {
            FormatArg::Csv => Format::Csv,
            FormatArg::Json => Format::Json,
            FormatArg::Ndjson => Format::Ndjson,
            FormatArg::Prometheus => Format::Prometheus,
            FormatArg::NmapXml => Format::NmapXml,
            FormatArg::Html => Format::Html,
            FormatArg::Grepable => Format::Grepable,
        },
        fields,
        all: a.all,
        csv_raw: a.csv_raw,
    })
}

/// `I/N`, or `auto/N` with I from the job engine's environment.
fn shard(token: &str) -> Result<Shard, Error> {
    let bad = |reason: String| Error::BadValue {
        flag: "--shard",
        token: token.to_string(),
        reason,
    };
    let (i, n) = token
        .split_once('/')
        .ok_or_else(|| bad("expected I/N, e.g. 0/4".into()))?;
    let count = number("--shard", n, 1, 1 << 20)?;
    let index = if i == "auto" {
        let vars = ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"];
        let (var, v) = vars
            .iter()
            .find_map(|v| std::env::var(v).ok().map(|val| (*v, val)))
            .ok_or_else(|| bad(format!("'auto' needs {} or {} set", vars[0], vars[1])))?;
        v.trim()
            .parse::<u64>()
            .map_err(|_| bad(format!("{var}='{v}' is not a shard index")))?
    } else {
        i.parse::<u64>()
            .map_err(|_| bad("shard index is not a whole number".into()))?
    };
    if index >= count {
        return Err(bad(format!("shard index must be below {count}")));
    }
    Ok(Shard { index, count })
}

fn number(flag: &'static str, token: &str, min: u64, max: u64) -> Result<u64, Error> {
    let bad = |reason: String| Error::BadValue {
        flag,
        token: token.to_string(),
        reason,
    };
    let range = || format!("must be between {min} and {max}");
    let v: u64 = token.parse().map_err(|_| match token.parse::<i128>() {
        // `--rate -5`: a number, only out of range.
        Ok(_) => bad(range()),
        Err(_) => bad("not a whole number".into()),
    })?;
    if v < min || v > max {
        return Err(bad(range()));
    }
    Ok(v)
}

/// Each duration flag's bounds (the grammar is `duration::parse`'s).
const TIMEOUT: Bounds = Bounds {
    min: Duration::from_millis(1),
    // Below the longest RTT a results cell holds (MAX_TIMEOUT_US, ~268.4 s).
    max: Duration::from_secs(MAX_TIMEOUT_US as u64 / 1_000_000),
};
const RDNS_TIMEOUT: Bounds = Bounds {
    min: Duration::from_millis(1),
    max: Duration::from_secs(300),
};
const STATUS_INTERVAL: Bounds = Bounds {
    min: Duration::from_millis(100),
    max: Duration::from_secs(3600),
};
const PERIOD: Bounds = Bounds {
    min: MIN_PERIOD,
    max: Duration::from_secs(3600),
};
const EVERY: Bounds = Bounds {
    min: Duration::from_millis(100),
    max: Duration::from_secs(7 * 86_400),
};

/// The `Config` of a scan command line, for tests elsewhere in the crate; panics on
/// anything else.
#[cfg(test)]
pub(crate) fn scan_config(args: &[&str]) -> Config {
    match read(args.iter().map(OsString::from).collect()) {
        Ok(Command::Scan(c)) => *c,
        other => panic!("not a valid scan: {args:?} gave {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(args: &[&str]) -> Result<Config, Error> {
        let mut all = vec!["sweep"];
        all.extend_from_slice(args);
        validate(Args::try_parse_from(all).unwrap())
    }

    #[test]
    fn nmap_spelling_writes_xml_to_the_file() {
        let args = ["sweep", "-oX", "out.xml", "198.18.0.1"].map(OsString::from);
        let Ok(Command::Scan(c)) = read(args.to_vec()) else {
            panic!("-oX FILE is a scan");
        };
        assert_eq!(c.layout.format, Format::NmapXml);
        assert_eq!(c.output.as_deref(), Some(std::path::Path::new("out.xml")));
        assert_eq!(c.targets, ["198.18.0.1"]);
        let c = cfg(&["--format", "nmap-xml", "x"]).unwrap();
        assert_eq!(c.layout.format, Format::NmapXml);
    }

    #[test]
    fn nmaps_other_output_flags_are_grepable_or_refused_by_name() {
        let args = ["sweep", "-oG", "out.gnmap", "198.18.0.1"].map(OsString::from);
        let Ok(Command::Scan(c)) = read(args.to_vec()) else {
            panic!("-oG FILE is a scan");
        };
        assert_eq!(c.layout.format, Format::Grepable);
        assert_eq!(c.output.as_deref(), Some(std::path::Path::new("out.gnmap")));
        assert_eq!(c.targets, ["198.18.0.1"]);
        for (flag, right) in [
            ("-oN", "-o FILE (CSV)"),
            ("-oS", "-oG FILE"),
            ("-oM", "-oX FILE"),
            ("-oA", "-oG BASE.gnmap"),
        ] {
            let line = usage(&["sweep", "198.18.0.1", flag, "x.txt"]);
            assert!(
                line.starts_with(&format!("sweep: {flag} (")) && line.contains(right),
                "{line}"
            );
            assert!(!line.contains('\n'), "{line}");
        }
        // After `--` it is a target like any other (and refused as one).
        assert!(matches!(
            command_of(&["sweep", "--", "-oN"]),
            Ok(Command::Scan(_))
        ));
    }

    #[test]
    fn near_misses_are_suggested_and_values_listed() {
        for (args, want) in [
            (
                &["sweep", "--rates", "100", "x"][..],
                "did you mean '--rate'?",
            ),
            (&["sweep", "--retry", "2", "x"], "did you mean '--retries'?"),
            (&["sweep", "--format", "jsn", "x"], "did you mean 'json'?"),
            (
                &["sweep", "--format", "yaml", "x"],
                "one of csv, json, ndjson, prometheus, nmap-xml, html, grepable",
            ),
            (
                &["sweep", "--socket", "rwa", "x"],
                "one of auto, raw, datagram",
            ),
        ] {
            let line = usage(args);
            assert!(
                line.contains(want) && !line.contains('\n'),
                "{args:?}: {line}"
            );
        }
        // Case does not matter for a value's name; `xml` is the one XML sweep writes.
        assert_eq!(
            cfg(&["--format", "CSV", "x"]).unwrap().layout.format,
            Format::Csv
        );
        let x = cfg(&["--format", "xml", "x"]).unwrap();
        assert_eq!(x.layout.format, Format::NmapXml);
        // A negative number is a value out of range, not an unknown flag.
        for flag in ["--rate", "--retries", "--ttl", "--size", "--seed", "-c"] {
            let e = cfg(&[flag, "-5", "x"]).unwrap_err().to_string();
            assert!(e.contains("'-5'") && e.contains("between"), "{flag}: {e}");
        }
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = cfg(&["198.18.0.0/16"]).unwrap();
        assert_eq!(c.scan.rate, Some(10_000));
        // Rounds by yield, at most 10 of them; a rate that backs off under loss.
        assert_eq!((c.scan.retries, c.scan.adaptive), (ADAPTIVE_RETRIES, true));
        assert!(!c.scan.fixed_rate);
        let fixed = cfg(&["--retries", "2", "--fixed-rate", "198.18.0.0/16"]).unwrap();
        assert_eq!((fixed.scan.retries, fixed.scan.adaptive), (2, false));
        assert!(fixed.scan.fixed_rate);
        assert_eq!(c.scan.timeout, Duration::from_secs(1));
        assert_eq!(c.scan.payload, 56);
        assert_eq!(c.ttl, None);
        assert!(!c.layout.all && !c.quiet);
    }

    #[test]
    fn parses_values() {
        let c = cfg(&[
            "--rate",
            "max",
            "--timeout",
            "500ms",
            "--seed",
            "7",
            "--ttl",
            "3",
            "x",
        ])
        .unwrap();
        assert_eq!(c.scan.rate, None);
        assert_eq!(c.scan.timeout, Duration::from_millis(500));
        assert_eq!(c.scan.seed, 7);
        assert_eq!(c.ttl, Some(3));
        assert_eq!(c.scan.timeout, Duration::from_millis(500));
        let c = cfg(&["--exclude", "a,b", "--exclude", "c", "x"]).unwrap();
        assert_eq!(c.exclude, ["a", "b", "c"]);
    }

    #[test]
    fn bad_values_name_the_token() {
        for (args, token) in [
            (vec!["--rate", "fast", "x"], "fast"),
            (vec!["--rate", "0", "x"], "0"),
            (vec!["--timeout", "500", "x"], "500"),
            (vec!["--timeout", "0ms", "x"], "0ms"),
            (vec!["--retries", "99", "x"], "99"),
            (vec!["--size", "8", "x"], "8"),
            (vec!["--ttl", "256", "x"], "256"),
        ] {
            let e = cfg(&args).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains(&format!("'{token}'")), "{e}");
        }
        assert!(cfg(&[]).is_err());
        assert!(cfg(&["--fields", "addr,bogus", "x"])
            .unwrap_err()
            .to_string()
            .contains("'bogus'"));
        assert!(cfg(&["--shard", "0/2", "x"])
            .unwrap_err()
            .to_string()
            .contains("--seed"));
        for bad in ["2/2", "x/2", "1", "0/0"] {
            assert!(cfg(&["--seed", "1", "--shard", bad, "x"]).is_err(), "{bad}");
        }
    }

    #[test]
    fn bare_numbers_get_a_unit_suggested() {
        let msg = |t: &str| cfg(&["--timeout", t, "x"]).unwrap_err().to_string();
        assert!(msg("500").contains("did you mean 500ms?"), "{}", msg("500"));
        assert!(msg("2").contains("did you mean 2s?"), "{}", msg("2"));
        assert!(!msg("5x").contains("did you mean"), "{}", msg("5x"));
        assert!(!msg("inf").contains("did you mean"));
        // One grammar for every duration flag, each with its own bounds in its error.
        assert!(msg("5m").contains("between 1ms and 268s"), "{}", msg("5m"));
        let c = cfg(&["-c", "2", "--period", "5m", "--every", "1h30m", "x"]).unwrap();
        let count = c.scan.count.unwrap();
        assert_eq!(
            (count.period, c.every),
            (Duration::from_secs(300), Some(Duration::from_secs(5400)))
        );
        let e = cfg(&["-c", "2", "--period", "5ms", "x"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("between 10ms and 1h"), "{e}");
        let e = cfg(&["--rdns", "--rdns-timeout", "300", "x"]).unwrap_err();
        assert!(e.to_string().contains("300ms"), "{e}");
    }

    #[test]
    fn operator_conventions() {
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            help_aliases(os(&["sweep", "-?", "x", "/?", "--", "/?"])).unwrap(),
            os(&["sweep", "--help", "x", "--help", "--", "/?"])
        );
        let c = cfg(&["--excludefile", "ex.txt", "--strict-names", "x"]).unwrap();
        assert_eq!(c.exclude_files, [PathBuf::from("ex.txt")]);
        assert!(c.strict_names);
        assert_eq!(c.status_interval, Duration::from_secs(5));
        let c = cfg(&["--summary-json", "s.json", "--status-interval", "1s", "x"]).unwrap();
        assert_eq!(c.summary_json, Some(PathBuf::from("s.json")));
        assert_eq!(c.status_interval, Duration::from_secs(1));
        assert!(!c.strict_names);
    }

    #[test]
    fn state_goes_beside_a_regular_output_only() {
        let at = |args: &[&str]| cfg(args).unwrap().state_path();
        assert_eq!(
            at(&["x", "-o", "out.csv"]),
            Some(PathBuf::from("out.csv.state"))
        );
        // Nobody chose a place: the run names its own, never a shared ./sweep.state.
        assert_eq!(at(&["x"]), None);
        for special in ["/dev/null", "/dev/stdout", "/proc/self/fd/1"] {
            assert_eq!(at(&["x", "-o", special]), None);
        }
        assert_eq!(
            at(&["x", "-o", "/dev/null", "--state", "s"]),
            Some(PathBuf::from("s"))
        );
        // A resumed scan to stdout keeps checkpointing to the file it resumed.
        assert_eq!(
            at(&["x", "--resume", "r.state"]),
            Some(PathBuf::from("r.state"))
        );
    }

    #[test]
    fn shards_and_fields() {
        let c = cfg(&["--seed", "1", "--shard", "1/4", "x"]).unwrap();
        assert_eq!(c.scan.shard, Shard { index: 1, count: 4 });
        let c = cfg(&["--timestamp", "--rdns", "--format", "ndjson", "x"]).unwrap();
        assert_eq!(c.layout.fields.len(), 12);
        assert_eq!(c.layout.format, Format::Ndjson);
        assert!(c.rdns.is_some());
        let c = cfg(&["--fields", "addr,hostname", "x"]).unwrap();
        assert_eq!(c.layout.fields, [Field::Addr, Field::Hostname]);
        // --timestamp / --rdns with --fields add their column, once.
        let c = cfg(&["--fields", "addr", "--timestamp", "--rdns", "x"]).unwrap();
        assert_eq!(
            c.layout.fields,
            [Field::Addr, Field::SeenAt, Field::Hostname]
        );
        assert!(c.rdns.is_some());
        let c = cfg(&["--fields", "seen_at,addr", "--timestamp", "x"]).unwrap();
        assert_eq!(c.layout.fields, [Field::SeenAt, Field::Addr]);
    }

    #[test]
    fn count_mode_and_repeats() {
        let c = cfg(&["-c", "20", "--period", "250ms", "x"]).unwrap();
        let count = c.scan.count.unwrap();
        assert_eq!(
            (count.count, count.period),
            (20, Duration::from_millis(250))
        );
        assert!(!count.keep_rtts, "CSV keeps no per-probe RTTs");
        assert_eq!(c.scan.retries, 0, "lost probes are the measurement");
        assert_eq!(&c.layout.fields[10..], Field::COUNT);
        let c = cfg(&["-c", "3", "--format", "ndjson", "x"]).unwrap();
        assert_eq!(c.layout.fields.last(), Some(&Field::Rtts));
        assert!(c.scan.count.unwrap().keep_rtts);
        let c = cfg(&["-c", "3", "--fields", "addr,loss_pct", "x"]).unwrap();
        assert!(!c.scan.count.unwrap().keep_rtts);
        for (args, token) in [
            (vec!["-c", "0", "x"], "0"),
            (vec!["-c", "1001", "x"], "1001"),
            (vec!["-c", "2", "--period", "5ms", "x"], "5ms"),
            (vec!["--fields", "addr,sent", "x"], "sent"),
            (vec!["--every", "soon", "x"], "soon"),
            (vec!["--every", "10ms", "x"], "10ms"),
            (vec!["--every", "1s", "--runs", "0", "x"], "0"),
        ] {
            let e = cfg(&args).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains(&format!("'{token}'")), "{e}");
        }
        let c = cfg(&["--every", "5m", "--runs", "3", "x"]).unwrap();
        assert_eq!((c.every, c.runs), (Some(Duration::from_secs(300)), Some(3)));
        assert!(Args::try_parse_from(["sweep", "--runs", "2", "x"]).is_err());
        assert!(cfg(&["-c", "2", "--resume", "s", "x"]).is_err());
    }

    fn command_of(args: &[&str]) -> Result<Command, Stop> {
        read(args.iter().map(OsString::from).collect())
    }

    /// The one stderr line (or lines) of a usage error.
    fn usage(args: &[&str]) -> String {
        match command_of(args) {
            Err(Stop::Usage(text)) => text,
            other => panic!("{args:?}: not a usage error: {other:?}"),
        }
    }

    #[test]
    fn scan_is_the_default() {
        let c = scan_config(&["sweep", "198.18.0.0/24", "--all", "-o", "out.csv"]);
        assert_eq!(c.targets, ["198.18.0.0/24"]);
        assert!(c.layout.all);
        assert_eq!(c.output, Some(PathBuf::from("out.csv")));
        // A value the scan cannot use is the scan's error, exit 2.
        match command_of(&["sweep", "--rate", "fast", "x"]) {
            Err(Stop::Invalid(e)) => {
                assert_eq!(e.exit_code(), 2);
                assert!(e.to_string().contains("'fast'"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        // So is a command line with options but no target.
        assert!(matches!(
            command_of(&["sweep", "--all"]),
            Err(Stop::Invalid(Error::NoTargets(_)))
        ));
    }

    #[test]
    fn subcommands_only_as_the_first_argument() {
        // After an option, a target or `--`, a subcommand's name is a target.
        for (args, target) in [
            (&["sweep", "--all", "merge"][..], "merge"),
            (&["sweep", "-q", "diff", "a", "b"], "diff"),
            (&["sweep", "198.18.0.1", "merge"], "merge"),
            (&["sweep", "--", "merge"], "merge"),
            (&["sweep", "--", "completions", "bash"], "completions"),
        ] {
            let c = scan_config(args);
            assert!(c.targets.iter().any(|t| t == target), "{args:?}");
        }
    }

    #[test]
    fn each_subcommand_is_selected() {
        match command_of(&["sweep", "merge", "a.csv", "b.csv", "-o", "out", "--csv-raw"]) {
            Ok(Command::Merge {
                inputs,
                output,
                csv_raw,
            }) => {
                assert_eq!(inputs, [PathBuf::from("a.csv"), PathBuf::from("b.csv")]);
                assert_eq!(output, Some(PathBuf::from("out")));
                assert!(csv_raw);
            }
            other => panic!("{other:?}"),
        }
        match command_of(&["sweep", "diff", "old", "new", "--rtt-change", "5"]) {
            Ok(Command::Diff {
                old,
                new,
                rtt_change_us,
                output,
                csv_raw,
            }) => {
                assert_eq!((old, new), (PathBuf::from("old"), PathBuf::from("new")));
                assert_eq!(rtt_change_us, Some(5000));
                assert_eq!((output, csv_raw), (None, false));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            command_of(&["sweep", "diff", "a", "b"]),
            Ok(Command::Diff {
                rtt_change_us: None,
                ..
            })
        ));
        assert!(matches!(
            command_of(&["sweep", "completions", "zsh"]),
            Ok(Command::Completions {
                shell: clap_complete::Shell::Zsh
            })
        ));
        assert!(matches!(
            command_of(&["sweep", "man"]),
            Ok(Command::Man { page: None })
        ));
        assert!(matches!(
            command_of(&["sweep", "man", "diff"]),
            Ok(Command::Man {
                page: Some(Page::Diff)
            })
        ));
    }

    #[test]
    fn usage_errors_are_one_line_naming_the_command() {
        assert_eq!(usage(&["sweep"]), SHORT_USAGE);
        assert_eq!(
            usage(&["sweep", "merge"]),
            "sweep: the following required arguments were not provided: <CSV>... \
             (see sweep merge --help)"
        );
        assert_eq!(
            usage(&["sweep", "diff", "a"]),
            "sweep: the following required arguments were not provided: <NEW> \
             (see sweep diff --help)"
        );
        assert_eq!(
            usage(&["sweep", "diff", "a", "b", "c"]),
            "sweep: unexpected argument 'c' found (see sweep diff --help)"
        );
        assert_eq!(
            usage(&["sweep", "--frobnicate", "x"]),
            "sweep: unexpected argument '--frobnicate' found; did you mean '--format'? \
             (see --help)"
        );
        for (args, token) in [
            (&["sweep", "merge", "--bogus", "a.csv"][..], "'--bogus'"),
            // Scan options are not merge's.
            (&["sweep", "merge", "--all", "a.csv"], "'--all'"),
            (&["sweep", "completions", "cmd.exe"], "'cmd.exe'"),
            (&["sweep", "man", "foo"], "'foo'"),
        ] {
            let line = usage(args);
            assert!(
                line.starts_with("sweep: ") && line.contains(token) && !line.contains('\n'),
                "{args:?}: {line}"
            );
            assert!(
                line.ends_with(&format!("(see sweep {} --help)", args[1])),
                "{line}"
            );
        }
        match command_of(&["sweep", "diff", "a", "b", "--rtt-change", "soon"]) {
            Err(Stop::Invalid(e)) => assert!(e.to_string().contains("'soon'"), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn help_and_version_exit_0() {
        for args in [
            &["sweep", "--help"][..],
            &["sweep", "-h"],
            &["sweep", "-?"],
            &["sweep", "/?"],
            &["sweep", "--version"],
            &["sweep", "-V"],
            &["sweep", "merge", "--help"],
            &["sweep", "diff", "-h"],
            &["sweep", "man", "-?"],
            &["sweep", "completions", "--version"],
        ] {
            match command_of(args) {
                Err(stop @ Stop::Asked(_)) => assert_eq!(stop.exit_code(), ExitCode::SUCCESS),
                other => panic!("{args:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn help_of_a_subcommand_is_its_own() {
        let help = |args: &[&str]| match command_of(args) {
            Err(Stop::Asked(e)) => e.render().to_string(),
            other => panic!("{args:?}: {other:?}"),
        };
        assert!(help(&["sweep", "merge", "--help"]).contains("Usage: sweep merge"));
        assert!(help(&["sweep", "diff", "-?"]).contains("rtt-changed"));
        let main = help(&["sweep", "--help"]);
        assert!(main.contains("Usage: sweep [OPTIONS]"), "{main}");
        assert!(main.contains("sweep -- merge"), "{main}");
    }

    #[test]
    fn the_inventory_comes_from_the_flag_the_environment_or_nowhere() {
        let env = || Some(OsString::from("/var/lib/sweep/env.db"));
        let flag = || Some(PathBuf::from("flag.db"));
        assert_eq!(inventory_path(flag(), false, env()), flag());
        assert_eq!(
            inventory_path(None, false, env()),
            Some(PathBuf::from("/var/lib/sweep/env.db"))
        );
        assert_eq!(inventory_path(None, true, env()), None);
        assert_eq!(inventory_path(None, false, Some(OsString::new())), None);
        assert!(Args::try_parse_from(["sweep", "--db", "a.db", "--no-db", "x"]).is_err());
        let c = cfg(&["--db", "a.db", "--job", "nightly", "x"]).unwrap();
        assert_eq!(
            (c.db, c.job),
            (
                flag().map(|_| PathBuf::from("a.db")),
                Some("nightly".into())
            )
        );
    }

    #[test]
    fn one_clap_definition_is_consistent() {
        // clap's own checks of a definition (conflicting names, positional order…).
        command().debug_assert();
    }
}
