//! What the load measured: answers by status, HDR latency histograms (from each request's
//! scheduled send time), Retry-After values, bytes, and a per-second timeline.
//!
//! One mutex guards it all; it is taken once per answer for a few counter updates, which
//! at the request rates here (hundreds to a few thousand a second) costs nothing.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies are recorded in microseconds.
pub type Latency = Histogram<u64>;

/// An auto-resizing histogram with 3 significant figures.
pub fn histogram() -> Latency {
    Histogram::new(3).expect("3 significant figures are supported")
}

fn coarse_histogram() -> Latency {
    Histogram::new(2).expect("2 significant figures are supported")
}

/// Records a value; the histogram grows to hold it (`saturating_record` would not).
pub fn record(h: &mut Latency, value: u64) {
    if h.record(value).is_err() {
        h.saturating_record(value);
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Percentiles {
    pub fn of(h: &Latency) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// Answers of one kind of call.
#[derive(Debug)]
pub struct CallStats {
    pub by_status: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    /// Due while `max_in_flight` requests were open: not sent.
    pub not_sent: u64,
    /// Every answer, from the scheduled send time.
    pub latency_all: Latency,
    /// Successful answers only (202 for batches, 200 otherwise).
    pub latency_ok: Latency,
    /// `Retry-After` values of 429 and 503 answers, as sent, with their counts.
    pub retry_after: BTreeMap<String, u64>,
}

impl Default for CallStats {
    fn default() -> Self {
        Self {
            by_status: BTreeMap::new(),
            transport_errors: 0,
            not_sent: 0,
            latency_all: histogram(),
            latency_ok: histogram(),
            retry_after: BTreeMap::new(),
        }
    }
}

impl CallStats {
    pub fn count(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }

    pub fn answered(&self) -> u64 {
        self.by_status.values().sum()
    }
}

/// One group of afnemers.
#[derive(Debug, Default)]
pub struct GroupStats {
    pub calls: CallStats,
    pub offered_batches: u64,
    pub offered_messages: u64,
    pub offered_bytes: u64,
    pub accepted_batches: u64,
    pub accepted_messages: u64,
    pub accepted_bytes: u64,
    pub accepted_attachment_bytes: u64,
    pub throttled_messages: u64,
}

/// One second of the run.
#[derive(Debug)]
pub struct Second {
    /// Berichten whose send was scheduled in this second.
    pub offered_messages: u64,
    /// Berichten whose 202 arrived in this second.
    pub accepted_messages: u64,
    pub accepted_bytes: u64,
    /// Berichten answered 429 in this second.
    pub throttled_messages: u64,
    /// Latency of the 202s that arrived in this second.
    pub accept_latency: Latency,
    pub portal_latency: Latency,
}

impl Default for Second {
    fn default() -> Self {
        Self {
            offered_messages: 0,
            accepted_messages: 0,
            accepted_bytes: 0,
            throttled_messages: 0,
            accept_latency: coarse_histogram(),
            portal_latency: coarse_histogram(),
        }
    }
}

/// A batch that was answered 202: enough to find it and recompute its berichten.
#[derive(Debug, Clone, Copy)]
pub struct Accepted {
    pub afnemer: u16,
    pub batch_seq: u64,
    pub first_seq: u64,
    pub messages: u32,
}

/// Everything recorded.
#[derive(Debug)]
pub struct Inner {
    pub groups: Vec<GroupStats>,
    pub portal: CallStats,
    pub validaties: CallStats,
    pub timeline: Vec<Second>,
    /// How late requests left compared to their schedule: the generator's own health.
    pub send_lag: Latency,
    pub accepted: Vec<Accepted>,
    /// The last 202: when, on the monotonic and on the wall clock.
    pub last_accept: Option<(Instant, SystemTime)>,
    pub error_samples: Vec<String>,
    pub in_flight: u64,
    pub peak_in_flight: u64,
    /// Validatie answers checked: BSNs answered, and answers that were not as expected.
    pub validatie_results: u64,
    pub validatie_mismatches: u64,
}

/// The shared recorder.
#[derive(Debug)]
pub struct Stats {
    start: Instant,
    inner: Mutex<Inner>,
}

/// What one answer to a batch was.
#[derive(Debug)]
pub enum BatchOutcome {
    Answered {
        status: u16,
        retry_after: Option<String>,
        body_sample: Option<String>,
    },
    TransportError(String),
}

const MAX_ERROR_SAMPLES: usize = 10;

impl Stats {
    pub fn new(start: Instant, groups: usize) -> Self {
        Self {
            start,
            inner: Mutex::new(Inner {
                groups: (0..groups).map(|_| GroupStats::default()).collect(),
                portal: CallStats::default(),
                validaties: CallStats::default(),
                timeline: Vec::new(),
                send_lag: histogram(),
                accepted: Vec::new(),
                last_accept: None,
                error_samples: Vec::new(),
                in_flight: 0,
                peak_in_flight: 0,
                validatie_results: 0,
                validatie_mismatches: 0,
            }),
        }
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while recording leaves counters that are still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the recorded state (for the progress line and the report).
    pub fn with<T>(&self, f: impl FnOnce(&Inner) -> T) -> T {
        f(&self.lock())
    }

    pub fn into_inner(self) -> Inner {
        self.inner
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn second(timeline: &mut Vec<Second>, start: Instant, at: Instant) -> &mut Second {
        let index = at.saturating_duration_since(start).as_secs() as usize;
        if timeline.len() <= index {
            timeline.resize_with(index + 1, Second::default);
        }
        &mut timeline[index]
    }

    pub fn offered(&self, group: usize, scheduled: Instant, messages: u32, bytes: usize) {
        let mut inner = self.lock();
        let g = &mut inner.groups[group];
        g.offered_batches += 1;
        g.offered_messages += u64::from(messages);
        g.offered_bytes += bytes as u64;
        Self::second(&mut inner.timeline, self.start, scheduled).offered_messages +=
            u64::from(messages);
    }

    /// Takes an in-flight slot; `false` (and counted as not sent) when all are taken.
    pub fn try_begin(&self, limit: u64, kind: Kind) -> bool {
        let mut inner = self.lock();
        if inner.in_flight >= limit {
            match kind {
                Kind::Batch(group) => inner.groups[group].calls.not_sent += 1,
                Kind::Portal => inner.portal.not_sent += 1,
                Kind::Validatie => inner.validaties.not_sent += 1,
            }
            return false;
        }
        inner.in_flight += 1;
        inner.peak_in_flight = inner.peak_in_flight.max(inner.in_flight);
        true
    }

    pub fn sent(&self, lag: Duration) {
        record(&mut self.lock().send_lag, micros(lag));
    }

    pub fn batch_done(
        &self,
        group: usize,
        batch: Accepted,
        bytes: usize,
        attachment_bytes: u64,
        scheduled: Instant,
        outcome: BatchOutcome,
    ) {
        let now = Instant::now();
        let latency = micros(now.saturating_duration_since(scheduled));
        let mut inner = self.lock();
        inner.in_flight = inner.in_flight.saturating_sub(1);
        match outcome {
            BatchOutcome::Answered {
                status,
                retry_after,
                body_sample,
            } => {
                let inner = &mut *inner;
                let g = &mut inner.groups[group];
                *g.calls.by_status.entry(status).or_insert(0) += 1;
                record(&mut g.calls.latency_all, latency);
                if let Some(value) = retry_after {
                    *g.calls.retry_after.entry(value).or_insert(0) += 1;
                }
                let second = Self::second(&mut inner.timeline, self.start, now);
                match status {
                    202 => {
                        record(&mut g.calls.latency_ok, latency);
                        g.accepted_batches += 1;
                        g.accepted_messages += u64::from(batch.messages);
                        g.accepted_bytes += bytes as u64;
                        g.accepted_attachment_bytes += attachment_bytes;
                        second.accepted_messages += u64::from(batch.messages);
                        second.accepted_bytes += bytes as u64;
                        record(&mut second.accept_latency, latency);
                        inner.accepted.push(batch);
                        inner.last_accept = Some((now, SystemTime::now()));
                    }
                    429 => {
                        g.throttled_messages += u64::from(batch.messages);
                        second.throttled_messages += u64::from(batch.messages);
                    }
                    _ => {}
                }
                if let Some(sample) = body_sample
                    && inner.error_samples.len() < MAX_ERROR_SAMPLES
                {
                    inner
                        .error_samples
                        .push(format!("POST /v1/batches {status}: {sample}"));
                }
            }
            BatchOutcome::TransportError(error) => {
                inner.groups[group].calls.transport_errors += 1;
                if inner.error_samples.len() < MAX_ERROR_SAMPLES {
                    inner
                        .error_samples
                        .push(format!("POST /v1/batches: {error}"));
                }
            }
        }
    }

    /// A Validatie answer was checked.
    pub fn validatie_checked(&self, results: u64, mismatches: u64) {
        let mut inner = self.lock();
        inner.validatie_results += results;
        inner.validatie_mismatches += mismatches;
    }

    /// A portal read or Validatie call ended: its status, or `None` for a transport error.
    pub fn call_done(
        &self,
        kind: Kind,
        scheduled: Instant,
        status: Option<u16>,
        retry_after: Option<String>,
        sample: Option<String>,
    ) {
        let now = Instant::now();
        let latency = micros(now.saturating_duration_since(scheduled));
        let mut inner = self.lock();
        let inner = &mut *inner;
        inner.in_flight = inner.in_flight.saturating_sub(1);
        let (calls, label) = match kind {
            Kind::Portal => (&mut inner.portal, "GET /v1/account/berichten"),
            Kind::Validatie => (&mut inner.validaties, "POST /v1/validaties"),
            Kind::Batch(_) => return,
        };
        match status {
            Some(status) => {
                *calls.by_status.entry(status).or_insert(0) += 1;
                record(&mut calls.latency_all, latency);
                if status == 200 {
                    record(&mut calls.latency_ok, latency);
                }
                if let Some(value) = retry_after {
                    *calls.retry_after.entry(value).or_insert(0) += 1;
                }
                if matches!(kind, Kind::Portal) {
                    let second = Self::second(&mut inner.timeline, self.start, now);
                    record(&mut second.portal_latency, latency);
                }
            }
            None => calls.transport_errors += 1,
        }
        if let Some(sample) = sample
            && inner.error_samples.len() < MAX_ERROR_SAMPLES
        {
            inner.error_samples.push(format!("{label}: {sample}"));
        }
    }
}

/// The kind of a request, for the in-flight accounting.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Batch(usize),
    Portal,
    Validatie,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_counts_from_the_schedule_and_202s_are_kept() {
        let start = Instant::now();
        let stats = Stats::new(start, 1);
        stats.offered(0, start, 10, 1000);
        assert!(stats.try_begin(1, Kind::Batch(0)));
        assert!(!stats.try_begin(1, Kind::Batch(0)), "the cap holds");
        let scheduled = Instant::now() - Duration::from_millis(50);
        let batch = Accepted {
            afnemer: 0,
            batch_seq: 0,
            first_seq: 0,
            messages: 10,
        };
        stats.batch_done(
            0,
            batch,
            1000,
            0,
            scheduled,
            BatchOutcome::Answered {
                status: 202,
                retry_after: None,
                body_sample: None,
            },
        );
        let inner = stats.into_inner();
        let g = &inner.groups[0];
        assert_eq!(g.accepted_messages, 10);
        assert_eq!(g.calls.not_sent, 1);
        assert!(
            g.calls.latency_ok.max() >= 50_000,
            "at least the 50 ms behind schedule"
        );
        assert_eq!(inner.accepted.len(), 1);
        assert_eq!(inner.in_flight, 0);
    }
}
