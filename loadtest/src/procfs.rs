//! The engine's (and the generator's own) memory and CPU, read from `/proc` when the
//! process is on this machine: `VmRSS` sampled during the run with the maximum kept,
//! `VmHWM` at the end, and CPU time from `/proc/PID/stat`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Clock ticks per second of `/proc/PID/stat` (`USER_HZ`): 100 on Linux for every
/// architecture this runs on.
const TICKS_PER_SECOND: f64 = 100.0;

/// A field of `/proc/PID/status` in bytes (`VmRSS:   12345 kB`).
fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kb(&text, field).map(|kb| kb * 1024)
}

fn parse_status_kb(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
}

/// User plus system CPU seconds of a process so far (`"self"` for this one).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu(&text)
}

fn parse_stat_cpu(text: &str) -> Option<f64> {
    // The command name (field 2) may hold spaces; the fields after its ')' are fixed.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// Samples an engine's `VmRSS` until stopped.
#[derive(Debug, Clone)]
pub struct RssSampler {
    pid: u32,
    peak: Arc<AtomicU64>,
    seen: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl RssSampler {
    /// Starts sampling every `every` on the current runtime.
    pub fn start(pid: u32, every: Duration) -> Self {
        let sampler = Self {
            pid,
            peak: Arc::new(AtomicU64::new(0)),
            seen: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let task = sampler.clone();
        tokio::spawn(async move {
            while !task.stop.load(Ordering::Relaxed) {
                task.sample();
                tokio::time::sleep(every).await;
            }
        });
        sampler
    }

    pub fn sample(&self) {
        if let Some(rss) = status_bytes(self.pid, "VmRSS") {
            self.seen.store(true, Ordering::Relaxed);
            self.peak.fetch_max(rss, Ordering::Relaxed);
        }
    }

    /// Stops sampling; answers the peak `VmRSS` seen and the process's `VmHWM` now.
    pub fn finish(&self) -> (Option<u64>, Option<u64>) {
        self.sample();
        self.stop.store(true, Ordering::Relaxed);
        let peak = self
            .seen
            .load(Ordering::Relaxed)
            .then(|| self.peak.load(Ordering::Relaxed));
        (peak, status_bytes(self.pid, "VmHWM"))
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_stat() {
        let status = "Name:\tberichtenbox\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n";
        assert_eq!(parse_status_kb(status, "VmRSS"), Some(102_400));
        assert_eq!(parse_status_kb(status, "VmHWM"), Some(204_800));
        assert_eq!(parse_status_kb(status, "VmSwap"), None);
        let stat = "1234 (berichten box) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0";
        assert_eq!(parse_stat_cpu(stat), Some(3.0));
    }

    #[test]
    fn reads_its_own_process() {
        assert!(status_bytes(std::process::id(), "VmRSS").is_some_and(|b| b > 0));
        assert!(cpu_seconds("self").is_some());
    }
}
