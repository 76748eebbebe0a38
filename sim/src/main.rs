//! sweep-sim command line: set up the TUN (or TAP) network, run, write the log.

use clap::Parser;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use sweep_sim::engine::Engine;
use sweep_sim::lan::Lan;
use sweep_sim::profile::LinkMode;
use sweep_sim::{netconf, parse, run, truth, tun};

/// Simulated network of ICMP echo hosts behind a TUN device, or an Ethernet
/// segment of them behind a TAP device (--tap).
/// Run it inside a network namespace you created: it installs routes.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Profile describing the simulated hosts (see sim/README.md).
    #[arg(long)]
    profile: PathBuf,
    /// Write the expected verdict per described address here (CSV).
    #[arg(long)]
    truth: Option<PathBuf>,
    /// Write per-address activity counters here on exit (CSV).
    #[arg(long)]
    log: Option<PathBuf>,
    /// Create this file once packets are being answered (else print "ready").
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// TUN (TAP) device name.
    #[arg(long, default_value = "sim0")]
    dev: String,
    /// Simulate an Ethernet segment behind a TAP device: a MAC per host,
    /// ARP and neighbour discovery (same as `link tap` in the profile).
    #[arg(long)]
    tap: bool,
    /// Exit after this many seconds even without a signal.
    #[arg(long, default_value_t = 600)]
    duration_limit: u64,
    /// Only check the profile and write the truth file; no network changes.
    #[arg(long)]
    check: bool,
    /// Run with SCHED_FIFO priority so replies leave on time even when other
    /// work keeps the CPUs busy (best effort; needs root).
    #[arg(long)]
    realtime: bool,
    /// Allow running in the host's own network namespace (not recommended).
    #[arg(long)]
    allow_host_netns: bool,
}

fn write_file(
    path: &Path,
    what: &str,
    f: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<(), String> {
    let file = File::create(path).map_err(|e| format!("{what} {}: {e}", path.display()))?;
    f(&mut BufWriter::new(file)).map_err(|e| format!("{what} {}: {e}", path.display()))
}

fn real_main(args: Args) -> Result<(), String> {
    let text = std::fs::read_to_string(&args.profile)
        .map_err(|e| format!("profile {}: {e}", args.profile.display()))?;
    let mut profile =
        parse::parse_profile(&text).map_err(|e| format!("{}: {e}", args.profile.display()))?;
    if args.tap {
        profile.lan.mode = LinkMode::Tap;
    }
    let tap = profile.lan.mode == LinkMode::Tap;
    if let Some(path) = &args.truth {
        write_file(path, "truth", |w| truth::write_truth(&profile, w))?;
    }
    if args.check {
        return Ok(());
    }
    if netconf::in_initial_netns() && !args.allow_host_netns {
        return Err(
            "refusing to run in the host network namespace; use 'ip netns exec NS sweep-sim ...'"
                .into(),
        );
    }
    let mut dev = if tap {
        tun::Tun::open_tap(&args.dev).map_err(|e| format!("TAP device {}: {e}", args.dev))?
    } else {
        tun::Tun::open(&args.dev).map_err(|e| format!("TUN device {}: {e}", args.dev))?
    };
    if tap {
        netconf::configure_tap(
            &dev.name,
            &profile.lan,
            &profile.prefixes(),
            profile.has_v6(),
        )
    } else {
        let extra: Vec<_> = profile
            .prefixes()
            .into_iter()
            .filter(|&(net, len)| !netconf::covered_by_lab(net, len))
            .collect();
        netconf::configure(&dev.name, &extra, profile.has_v6())
    }
    .map_err(|e| format!("network setup: {e}"))?;
    match &args.ready_file {
        Some(path) => write_file(path, "ready file", |w| w.write_all(b"ready\n"))?,
        None => {
            println!("ready");
            let _ = io::stdout().flush();
        }
    }
    if args.realtime {
        if let Err(e) = run::set_realtime() {
            eprintln!("sweep-sim: warning: --realtime: {e}");
        }
    }
    let limit = Duration::from_secs(args.duration_limit);
    let (st, engine, lan) = if tap {
        let mut lan = Lan::new(Engine::new(profile));
        let st = run::run(&mut dev, &mut lan, limit);
        (st, lan.engine, Some(lan.counts))
    } else {
        let mut engine = Engine::new(profile);
        let st = run::run(&mut dev, &mut engine, limit);
        (st, engine, None)
    };
    let st = st.map_err(|e| format!("running: {e}"))?;
    if let Some(path) = &args.log {
        write_file(path, "log", |w| truth::write_log(&engine, w))?;
    }
    let t = engine.totals();
    eprintln!(
        "sweep-sim: {:.1}s, {} packets in, {} requests to {} hosts, {} replies, {} dups, {} errors, \
         {} faulty, {} dropped in, {} dropped out, {} rate-limited, {} ignored, {} forged, {} unsent, {} over the queue cap, {} write errors, {} sent >1ms late (max {:.3}ms)",
        st.elapsed.as_secs_f64(),
        st.packets_in,
        t.requests_seen,
        engine.hosts.len(),
        t.replies_sent,
        t.dups_sent,
        t.errors_sent,
        t.corrupt_sent + t.truncated_sent + t.foreign_id_sent + t.other_src_sent,
        t.dropped_in,
        t.dropped_out,
        t.ratelimited,
        engine.ignored,
        engine.forged,
        st.pending_at_exit,
        st.overflow,
        st.write_errors,
        st.late_1ms,
        st.max_late_ns as f64 / 1e6,
    );
    if let Some(c) = lan {
        let l = engine.link_totals();
        eprintln!(
            "sweep-sim: tap: {} ARP/NDP requests, {} answered, {} lost, {} echo dropped by arp-only hosts, \
             {} frames to the wrong MAC, {} frames ignored",
            l.nd_seen, l.nd_replied, l.nd_lost, l.echo_filtered, c.wrong_mac, c.ignored,
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match real_main(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sweep-sim: {e}");
            ExitCode::from(2)
        }
    }
}
