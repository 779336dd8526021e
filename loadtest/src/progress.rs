//! What the operator sees while the load runs: a live progress bar (indicatif) when stderr
//! is a terminal, otherwise a plain line every ten seconds, or nothing when quiet.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinHandle;

use crate::stats::Stats;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A bar on a terminal, lines otherwise.
    Auto,
    Quiet,
}

/// The running display.
#[derive(Debug)]
pub struct Progress {
    task: Option<JoinHandle<()>>,
    bar: Option<ProgressBar>,
    mode: Mode,
}

/// One line of figures: the last complete second and the totals so far.
fn line(stats: &Stats) -> String {
    let elapsed = stats.start().elapsed().as_secs() as usize;
    stats.with(|s| {
        let last = elapsed
            .checked_sub(1)
            .and_then(|i| s.timeline.get(i));
        let (offered, achieved, throttled, p99) = last.map_or((0, 0, 0, 0.0), |sec| {
            let p99 = if sec.accept_latency.is_empty() {
                0.0
            } else {
                sec.accept_latency.value_at_quantile(0.99) as f64 / 1000.0
            };
            (
                sec.offered_messages,
                sec.accepted_messages,
                sec.throttled_messages,
                p99,
            )
        });
        let (mut e503, mut other) = (0, 0);
        for g in &s.groups {
            e503 += g.calls.count(503);
            other += g.calls.answered() - g.calls.count(202) - g.calls.count(429)
                - g.calls.count(503)
                + g.calls.transport_errors;
        }
        format!(
            "offered {offered}/s  achieved {achieved}/s  429 {throttled}/s  p99 {p99:.1} ms  503 {e503}  other {other}  in flight {}",
            s.in_flight
        )
    })
}

impl Progress {
    pub fn start(stats: Arc<Stats>, window: Duration, mode: Mode) -> Self {
        if mode == Mode::Quiet {
            return Self {
                task: None,
                bar: None,
                mode,
            };
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(window.as_secs().max(1));
            if let Ok(style) = ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} s  {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            let shown = bar.clone();
            let task = tokio::spawn(async move {
                loop {
                    shown.set_position(stats.start().elapsed().as_secs());
                    shown.set_message(line(&stats));
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            });
            Self {
                task: Some(task),
                bar: Some(bar),
                mode,
            }
        } else {
            let task = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    eprintln!(
                        "loadtest: {:>5} s  {}",
                        stats.start().elapsed().as_secs(),
                        line(&stats)
                    );
                }
            });
            Self {
                task: Some(task),
                bar: None,
                mode,
            }
        }
    }

    /// A phase message (set-up, check), printed unless quiet.
    pub fn say(&self, text: &str) {
        match (&self.bar, self.mode) {
            (_, Mode::Quiet) => {}
            (Some(bar), _) => bar.println(format!("loadtest: {text}")),
            (None, _) => eprintln!("loadtest: {text}"),
        }
    }

    pub fn finish(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Phase messages before or after the load, when there is no bar.
pub fn say(mode: Mode, text: &str) {
    if mode != Mode::Quiet {
        eprintln!("loadtest: {text}");
    }
}
