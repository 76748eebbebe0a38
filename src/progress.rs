//! The progress bar: fed from the atomic counters, on stderr, only when stderr is a terminal.

use crate::counters::Counters;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

pub struct Progress {
    bar: Option<ProgressBar>,
    start: Instant,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(10));
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} probes, {msg}, ETA {eta}")
                    .expect("static template"),
            );
            bar
        });
        Progress {
            bar,
            start: Instant::now(),
        }
    }

    pub fn tick(&self, c: &Counters) {
        if let Some(bar) = &self.bar {
            bar.set_length(c.planned.load(Relaxed).max(1));
            let sent = c.sent.load(Relaxed);
            bar.set_position(sent);
            bar.set_message(format!(
                "{} up, {} unreachable, {:.0} pps",
                c.up.load(Relaxed),
                c.unreachable.load(Relaxed),
                sent as f64 / self.start.elapsed().as_secs_f64().max(1e-3)
            ));
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
