//! The open-loop schedule: when each request is due, fixed before the load starts.
//!
//! Every afnemer is a stream of batches at a fixed interval (`batch_size /
//! offered_per_second`), its first send at a phase that spreads the afnemers over one
//! interval (golden-ratio offsets, so groups never line up). Request `k` of a stream is due
//! at `start + phase + k * interval`, whatever happened to request `k - 1`: a slow engine
//! does not slow the load down, and each latency is measured from that due time, so
//! coordinated omission cannot hide a stall. Portal reads and Validatie calls are streams
//! of their own. Pure arithmetic; the load module does the sleeping.

use std::time::Duration;

use crate::scenario::Scenario;

/// One afnemer's batches.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    pub group: usize,
    /// The afnemer's index over all groups (its OIN and ids derive from it).
    pub afnemer: u16,
    pub interval: Duration,
    pub phase: Duration,
    pub batch_size: u32,
    /// Berichten this afnemer sends before it stops; `None`: until the duration ends.
    pub quota: Option<u64>,
}

impl Stream {
    /// When batch `k` is due, from the start of the load.
    pub fn due(&self, k: u64) -> Duration {
        self.phase + self.interval.mul_f64(k as f64)
    }

    /// The size of batch `k`, or `None` when the stream has ended (quota or duration).
    pub fn batch(&self, k: u64, duration: Duration) -> Option<u32> {
        if self.due(k) >= duration {
            return None;
        }
        match self.quota {
            None => Some(self.batch_size),
            Some(quota) => {
                let sent = k.saturating_mul(u64::from(self.batch_size));
                (sent < quota).then(|| (quota - sent).min(u64::from(self.batch_size)) as u32)
            }
        }
    }

    /// When the stream's last batch is due plus one interval: the time it occupies.
    pub fn end(&self, duration: Duration) -> Duration {
        let batches = match self.quota {
            None => u64::MAX,
            Some(quota) => quota.div_ceil(u64::from(self.batch_size)),
        };
        let planned = self
            .interval
            .checked_mul(u32::try_from(batches).unwrap_or(u32::MAX))
            .map_or(Duration::MAX, |span| self.phase.saturating_add(span));
        planned.min(duration)
    }
}

/// The fractional part of `n` times the golden ratio: a sequence that spreads evenly.
fn golden(n: u64) -> f64 {
    (n as f64 * 0.618_033_988_749_895).fract()
}

/// Every afnemer's stream.
pub fn streams(scenario: &Scenario) -> Vec<Stream> {
    let mut out = Vec::new();
    let mut index: u16 = 0;
    for (group_index, group) in scenario.afnemers.iter().enumerate() {
        let interval =
            Duration::from_secs_f64(f64::from(group.batch_size) / group.offered_per_second);
        for i in 0..group.count {
            let quota = group.messages.map(|total| {
                let count = u64::from(group.count);
                total / count + u64::from(u64::from(i) < total % count)
            });
            out.push(Stream {
                group: group_index,
                afnemer: index,
                interval,
                phase: interval.mul_f64(golden(u64::from(index))),
                batch_size: group.batch_size,
                quota: quota.filter(|q| *q > 0),
            });
            index = index.saturating_add(1);
        }
    }
    // An afnemer of a group whose total is smaller than its count gets a quota of 0: it
    // sends nothing.
    out.retain(|s| s.quota != Some(0));
    out
}

/// A stream of single calls (portal reads, Validatie calls) at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calls {
    pub interval: Duration,
}

impl Calls {
    pub fn new(per_second: f64) -> Option<Self> {
        (per_second > 0.0).then(|| Self {
            interval: Duration::from_secs_f64(1.0 / per_second),
        })
    }

    pub fn due(&self, k: u64) -> Duration {
        self.interval.mul_f64(k as f64)
    }
}

/// How long the load runs: until the last stream ends, at most the duration.
pub fn window(streams: &[Stream], duration: Duration) -> Duration {
    streams
        .iter()
        .map(|s| s.end(duration))
        .max()
        .unwrap_or(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(extra: &str) -> Scenario {
        Scenario::from_toml(&format!(
            r#"
name = "t"
duration_seconds = 10
[[afnemers]]
name = "a"
count = 4
offered_per_second = 45
batch_size = 100
mix = "text"
{extra}
"#
        ))
        .expect("scenario")
    }

    #[test]
    fn streams_offer_their_rate() {
        let s = scenario("");
        let streams = streams(&s);
        assert_eq!(streams.len(), 4);
        let duration = s.duration();
        let mut messages = 0u64;
        for stream in &streams {
            assert!(stream.phase < stream.interval);
            let mut k = 0;
            while let Some(n) = stream.batch(k, duration) {
                messages += u64::from(n);
                k += 1;
            }
        }
        // 4 afnemers x 45/s x 10 s = 1800, in whole batches of 100.
        assert!((1600..=2000).contains(&messages), "{messages}");
        assert_eq!(window(&streams, duration), duration);
    }

    #[test]
    fn a_quota_is_met_exactly_and_ends_the_stream() {
        let s = scenario("messages = 1002");
        let streams = streams(&s);
        let total: u64 = streams
            .iter()
            .map(|stream| {
                let mut k = 0;
                let mut sent = 0u64;
                while let Some(n) = stream.batch(k, Duration::from_secs(3600)) {
                    sent += u64::from(n);
                    k += 1;
                }
                sent
            })
            .sum();
        assert_eq!(total, 1002);
        assert!(window(&streams, Duration::from_secs(3600)) < Duration::from_secs(10));
    }

    #[test]
    fn the_schedule_does_not_depend_on_answers() {
        let stream = &streams(&scenario(""))[1];
        // Due times are a pure function of k.
        assert_eq!(stream.due(3) - stream.due(2), stream.interval);
        let calls = Calls::new(4.0).expect("calls");
        assert_eq!(calls.due(8), Duration::from_secs(2));
        assert!(Calls::new(0.0).is_none());
    }
}
