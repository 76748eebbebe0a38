//! `sweep inventory …`: the questions asked of the inventory a scan with `--db` keeps, and
//! their checks into a `commands::inventory::Request` (times in the one grammar of
//! `duration.rs`, ranges as the scan's targets, no name ever looked up).

use super::duration::{self, Bounds};
use crate::commands::inventory::{Ask, Request, TableFormat};
use crate::error::Error;
use crate::store::{EventKind, EventsQuery, HostsQuery};
use crate::targets::Role;
#[cfg(test)]
use crate::targets::Span;
use clap::{Args, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Asks the inventory that scans with --db FILE record: hosts, events, one host's
/// timeline, free addresses, runs, its HTML page; prunes it; imports saved results into it.
#[derive(Debug, Args)]
#[command(version, after_help = INVENTORY_HELP)]
pub(super) struct InventoryArgs {
    #[command(subcommand)]
    pub ask: AskArgs,
}

const INVENTORY_HELP: &str = "\
T is an RFC 3339 date or time (2026-03-01 is midnight UTC; 2026-03-01T08:00:00+01:00) or a
duration back from now (7d, 2w, 12h). Output is CSV (default), JSON or NDJSON.
Exit status: 0 rows printed; 1 none; 2 usage or input error; 3 runtime error";

#[derive(Debug, Subcommand)]
pub(super) enum AskArgs {
    /// Addresses ever seen up (with --all, also those probed and never up):
    /// addr,status,detail,first_seen,last_seen,last_probed,times_seen,mac,vendor
    Hosts(HostsArgs),
    /// Events in time order: at,run,addr,event,mac,old_mac
    Events(EventsArgs),
    /// One address's timeline: at,what,status,mac,old_mac
    Host(HostArgs),
    /// Addresses of RANGE not seen up for DUR: addr,state,last_seen
    /// (state: never-probed, never-up, last-up)
    Free(FreeArgs),
    /// The recorded runs, oldest first
    Runs(Common),
    /// Removes runs and events older than T; the per-address history stays
    Prune(PruneArgs),
    /// The HTML page: hosts with first and last seen, the new and gone hosts of the last
    /// run and the last 7 days, hosts up per run
    Report(PageArgs),
    /// Records saved results (sweep's CSV, JSON, NDJSON; nmap -sn -oX XML) as runs, oldest first
    Import(ImportArgs),
    /// Creates the inventory or brings its schema up to this sweep's (for a server
    /// database whose scans run with --no-migrate)
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
pub(super) struct MigrateArgs {
    /// The inventory (default: SWEEP_DB)
    #[arg(long, value_name = "FILE|URL")]
    db: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct Common {
    /// The inventory (default: SWEEP_DB)
    #[arg(long, value_name = "FILE|URL")]
    db: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value = "csv")]
    format: FormatArg,
    /// Write to FILE (atomically) instead of stdout
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Csv,
    Json,
    Ndjson,
}

#[derive(Debug, Args)]
pub(super) struct HostsArgs {
    /// Only these addresses (CIDR, range, address)
    #[arg(value_name = "RANGE")]
    ranges: Vec<String>,
    /// First seen up at or after T
    #[arg(long, value_name = "T")]
    new_since: Option<String>,
    /// Last seen up at or after T
    #[arg(long, value_name = "T")]
    seen_since: Option<String>,
    /// Seen up once, but not for DUR
    #[arg(long, value_name = "DUR")]
    not_seen_for: Option<String>,
    /// Also the addresses probed but never seen up
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
pub(super) struct EventsArgs {
    /// Only events of these addresses
    #[arg(value_name = "RANGE")]
    ranges: Vec<String>,
    /// At or after T
    #[arg(long, value_name = "T")]
    since: Option<String>,
    /// Before T
    #[arg(long, value_name = "T")]
    until: Option<String>,
    /// Only these kinds: new,gone,back,mac-changed,flip-flop,new-mac,conflict-appeared,conflict-gone
    #[arg(long, value_name = "K[,K...]", value_delimiter = ',')]
    kind: Vec<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
pub(super) struct HostArgs {
    /// The address
    #[arg(value_name = "ADDR")]
    addr: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
pub(super) struct FreeArgs {
    /// The range to look in (a prefix's network and broadcast addresses are left out)
    #[arg(value_name = "RANGE", required = true)]
    ranges: Vec<String>,
    /// Not seen up for this long (e.g. 90d)
    #[arg(long = "for", value_name = "DUR", required = true)]
    unused_for: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
pub(super) struct PruneArgs {
    /// Remove runs that started, and events that happened, before T
    #[arg(long, value_name = "T", required = true)]
    before: String,
    /// The inventory (default: SWEEP_DB)
    #[arg(long, value_name = "FILE|URL")]
    db: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct PageArgs {
    /// Write the page to FILE (atomically) instead of stdout
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// The inventory (default: SWEEP_DB)
    #[arg(long, value_name = "FILE|URL")]
    db: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct ImportArgs {
    /// sweep CSV, JSON or NDJSON files, or nmap XML (.xml), each one run
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// The runs' start (default: the XML's start, an --every file name's stamp, else the file's modification time)
    #[arg(long, value_name = "T")]
    at: Option<String>,
    /// What the files' runs scanned: targets without a row are judged down (gone)
    #[arg(long, value_name = "SPEC", num_args = 1..)]
    targets: Vec<String>,
    /// The inventory (default: SWEEP_DB)
    #[arg(long, value_name = "FILE|URL")]
    db: Option<PathBuf>,
}

/// How far back a duration flag of these commands may reach: a century.
const BACK: Bounds = Bounds {
    min: Duration::from_secs(1),
    max: Duration::from_secs(100 * 365 * 86_400),
};

/// The checked request; `env` is `SWEEP_DB`.
pub(super) fn validate(a: InventoryArgs, env: Option<OsString>) -> Result<Request, Error> {
    validate_at(a, env, SystemTime::now())
}

fn validate_at(a: InventoryArgs, env: Option<OsString>, now: SystemTime) -> Result<Request, Error> {
    let at =
        |flag, t: &Option<String>| t.as_deref().map(|t| duration::at(flag, t, now)).transpose();
    let ago = |flag, d: &str| -> Result<SystemTime, Error> {
        let back = duration::parse(flag, d, BACK)?;
        Ok(now.checked_sub(back).unwrap_or(SystemTime::UNIX_EPOCH))
    };
    let (common, ask) = match a.ask {
        AskArgs::Hosts(h) => {
            let q = HostsQuery {
                ranges: crate::targets::parse_ranges(&h.ranges, Role::Exclude)?,
                new_since: at("--new-since", &h.new_since)?,
                seen_since: at("--seen-since", &h.seen_since)?,
                not_seen_since: h
                    .not_seen_for
                    .as_deref()
                    .map(|d| ago("--not-seen-for", d))
                    .transpose()?,
                all: h.all,
            };
            (h.common, Ask::Hosts(q))
        }
        AskArgs::Events(e) => {
            let kinds = e
                .kind
                .iter()
                .map(|k| {
                    EventKind::parse(k.trim()).ok_or_else(|| Error::BadValue {
                        flag: "--kind",
                        token: k.clone(),
                        reason: format!(
                            "unknown event; choose from {}",
                            EventKind::ALL.map(EventKind::as_str).join(",")
                        ),
                    })
                })
                .collect::<Result<_, _>>()?;
            let q = EventsQuery {
                ranges: crate::targets::parse_ranges(&e.ranges, Role::Exclude)?,
                since: at("--since", &e.since)?,
                until: at("--until", &e.until)?,
                kinds,
            };
            (e.common, Ask::Events(q))
        }
        AskArgs::Host(h) => {
            let addr = h.addr.trim().parse().map_err(|_| Error::BadValue {
                flag: "ADDR",
                token: h.addr.clone(),
                reason: "not an IPv4 or IPv6 address".into(),
            })?;
            (h.common, Ask::Host(addr))
        }
        AskArgs::Free(f) => {
            let ask = Ask::Free {
                ranges: crate::targets::parse_ranges(&f.ranges, Role::Target)?,
                since: ago("--for", &f.unused_for)?,
            };
            (f.common, ask)
        }
        AskArgs::Runs(c) => (c, Ask::Runs),
        AskArgs::Report(p) => (
            Common {
                output: p.output,
                ..quiet(p.db)
            },
            Ask::Report,
        ),
        AskArgs::Prune(p) => {
            let before = duration::at("--before", &p.before, now)?;
            (quiet(p.db), Ask::Prune { before })
        }
        AskArgs::Import(i) => {
            // Checked now, used by the import: a bad spec is a usage error before any file.
            crate::targets::parse_ranges(&i.targets, Role::Target)?;
            let ask = Ask::Import {
                files: i.files,
                at: at("--at", &i.at)?,
                targets: i.targets,
            };
            (quiet(i.db), ask)
        }
        AskArgs::Migrate(m) => (quiet(m.db), Ask::Migrate),
    };
    let db = common
        .db
        .or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from))
        .ok_or_else(|| Error::BadValue {
            flag: "--db",
            token: String::new(),
            reason: "no inventory given: --db FILE|URL, or SWEEP_DB in the environment".into(),
        })?;
    Ok(Request {
        db,
        format: match common.format {
            FormatArg::Csv => TableFormat::Csv,
            FormatArg::Json => TableFormat::Json,
            FormatArg::Ndjson => TableFormat::Ndjson,
        },
        output: common.output,
        ask,
    })
}

/// The options of a command that prints no table.
fn quiet(db: Option<PathBuf>) -> Common {
    Common {
        db,
        format: FormatArg::Csv,
        output: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Top {
        #[command(subcommand)]
        ask: AskArgs,
    }

    fn now() -> SystemTime {
        humantime::parse_rfc3339("2026-03-10T12:00:00Z").unwrap()
    }

    fn req(args: &[&str]) -> Result<Request, Error> {
        let top = Top::try_parse_from([&["inventory"], args].concat()).unwrap();
        validate_at(InventoryArgs { ask: top.ask }, None, now())
    }

    #[test]
    fn questions_and_their_times() {
        let r = req(&[
            "hosts",
            "198.18.0.0/24",
            "--new-since",
            "7d",
            "--db",
            "i.db",
        ])
        .unwrap();
        let Ask::Hosts(q) = r.ask else { panic!() };
        assert_eq!(q.ranges, [Span::v4(0xC612_0000, 0xC612_00FF)]);
        assert_eq!(
            q.new_since,
            Some(humantime::parse_rfc3339("2026-03-03T12:00:00Z").unwrap())
        );
        let r = req(&["free", "198.18.0.0/24", "--for", "90d", "--db", "i.db"]).unwrap();
        let Ask::Free { ranges, since } = r.ask else {
            panic!()
        };
        // The network and broadcast addresses are nobody's to assign.
        assert_eq!(ranges, [Span::v4(0xC612_0001, 0xC612_00FE)]);
        assert_eq!(since, now() - Duration::from_secs(90 * 86_400));
        let r = req(&[
            "events",
            "--kind",
            "new,gone",
            "--since",
            "2026-03-01",
            "--db",
            "i.db",
            "--format",
            "ndjson",
        ])
        .unwrap();
        assert_eq!(r.format, TableFormat::Ndjson);
        let Ask::Events(q) = r.ask else { panic!() };
        assert_eq!(q.kinds, [EventKind::New, EventKind::Gone]);
    }

    #[test]
    fn bad_input_names_the_token() {
        for (args, token) in [
            (&["events", "--kind", "new,old", "--db", "i"][..], "'old'"),
            (
                &["hosts", "--new-since", "last tuesday", "--db", "i"],
                "'last tuesday'",
            ),
            (&["hosts", "--not-seen-for", "90", "--db", "i"], "'90'"),
            (&["hosts", "gw.example", "--db", "i"], "'gw.example'"),
            (&["host", "198.18.0.300", "--db", "i"], "'198.18.0.300'"),
            (&["prune", "--before", "soon", "--db", "i"], "'soon'"),
        ] {
            let e = req(args).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains(token), "{args:?}: {e}");
        }
        let e = req(&["runs"]).unwrap_err();
        assert!(e.to_string().contains("SWEEP_DB"), "{e}");
    }
}
