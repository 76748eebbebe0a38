//! What a running scan shows on stderr: a progress bar when stderr is a terminal, else
//! (cron, a pod's log) a status line every `interval`; neither with `-q`. Both are fed
//! from the atomic counters and share one estimate of what is left (`eta.rs`).

use crate::engine::counters::Counters;
use crate::run::eta::{self, Estimate, Now, Shape};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// The span the current send rate is measured over.
const WINDOW: Duration = Duration::from_secs(2);

enum Display {
    Bar(ProgressBar),
    /// Status lines: the next one is due at this instant.
    Lines {
        every: Duration,
        due: Instant,
    },
    Nothing,
}

pub struct Progress {
    display: Display,
    shape: Shape,
    /// `--rate`: the pacer holds the send rate to it, so it bounds the measured rate.
    rate: Option<u64>,
    /// Recent ticks: when, probes sent since the tick before, and whether any were.
    ticks: VecDeque<(Instant, u64, Duration)>,
    last: (Instant, u64),
    last_probe: Instant,
}

impl Progress {
    pub fn new(quiet: bool, every: Duration, shape: Shape, rate: Option<u64>) -> Progress {
        let now = Instant::now();
        let display = match (quiet, std::io::stderr().is_terminal()) {
            (true, _) => Display::Nothing,
            (false, true) => {
                let bar =
                    ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(10));
                bar.set_style(
                    ProgressStyle::with_template("{bar:30} {pos}/{len} probes, {msg}")
                        .expect("static template"),
                );
                Display::Bar(bar)
            }
            // The first line only after a whole interval: a short run prints none.
            (false, false) => Display::Lines {
                every,
                due: now + every,
            },
        };
        Progress {
            display,
            shape,
            rate,
            ticks: VecDeque::new(),
            last: (now, 0),
            last_probe: now,
        }
    }

    pub fn tick(&mut self, c: &Counters) {
        if matches!(self.display, Display::Nothing) {
            return;
        }
        let now = Instant::now();
        let sent = c.sent.load(Relaxed);
        let new = sent.saturating_sub(self.last.1);
        let busy = if new > 0 {
            self.last_probe = now;
            now - self.last.0
        } else {
            Duration::ZERO
        };
        self.last = (now, sent);
        self.ticks.push_back((now, new, busy));
        while self.ticks.front().is_some_and(|t| now - t.0 > WINDOW) {
            self.ticks.pop_front();
        }
        let est = self.estimate(c, sent, now);
        let (pps, total) = (self.current_pps(), sent + est.probes_left);
        let lowered = match (c.rate_pps.load(Relaxed), self.rate) {
            (r, Some(cap)) if r > 0 && r < cap => {
                format!(" (rate lowered to {r}: loss on the path)")
            }
            _ => String::new(),
        };
        let eta = est.time_left.map_or_else(|| "?".to_string(), eta::clock);
        let up = c.up.load(Relaxed);
        match &mut self.display {
            Display::Bar(bar) => {
                bar.set_length(total.max(1));
                bar.set_position(sent);
                bar.set_message(format!(
                    "{up} up, {} unreachable, {pps:.0} pps{lowered}, ETA {eta}",
                    c.unreachable.load(Relaxed),
                ));
            }
            Display::Lines { every, due } if now >= *due => {
                *due = (*due + *every).max(now);
                let percent = 100 * sent / total.max(1);
                crate::error::warn(format_args!(
                    "sweep: {percent} % {sent}/{total} probes, {up} up, {pps:.0} pps{lowered}, \
                     ETA {eta}"
                ));
            }
            Display::Lines { .. } | Display::Nothing => {}
        }
    }

    fn estimate(&self, c: &Counters, sent: u64, now: Instant) -> Estimate {
        let round_base = c.round_base.load(Relaxed);
        let rto = match c.rto_us.load(Relaxed) {
            0 => self.shape.timeout,
            us => Duration::from_micros(us),
        };
        eta::estimate(
            &self.shape,
            &Now {
                round: c.round.load(Relaxed),
                round_planned: c.round_planned.load(Relaxed),
                round_sent: sent.saturating_sub(round_base),
                answered: c.answered.load(Relaxed),
                rate: self.send_rate(c),
                rto: rto.min(self.shape.timeout),
                since_last_probe: now - self.last_probe,
            },
        )
    }

    /// Probes per second over the recent ticks that sent any, so the gaps between rounds
    /// do not count; at most the rate the sender keeps now (`--rate`, or lower).
    fn send_rate(&self, c: &Counters) -> f64 {
        let (probes, busy) = self
            .ticks
            .iter()
            .fold((0, Duration::ZERO), |(p, b), t| (p + t.1, b + t.2));
        let measured =
            (busy >= Duration::from_millis(200)).then(|| probes as f64 / busy.as_secs_f64());
        let cap = match c.rate_pps.load(Relaxed) {
            0 => self.rate,
            r => Some(r),
        };
        match (measured, cap) {
            (Some(m), Some(r)) => m.min(r as f64),
            (None, Some(r)) => r as f64,
            (m, None) => m.unwrap_or(0.0),
        }
    }

    /// Probes per second over the window, idle or not: what is being sent right now.
    fn current_pps(&self) -> f64 {
        let Some(first) = self.ticks.front() else {
            return 0.0;
        };
        let span = self.last.0 - first.0;
        let probes: u64 = self.ticks.iter().skip(1).map(|t| t.1).sum();
        if span.is_zero() {
            0.0
        } else {
            probes as f64 / span.as_secs_f64()
        }
    }

    pub fn finish(&self) {
        if let Display::Bar(bar) = &self.display {
            bar.finish_and_clear();
        }
    }
}
