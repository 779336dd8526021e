//! The load itself: one task per afnemer stream, one for the portal readers and one for the
//! Validatie calls, each sleeping until its next due time and then spawning the request,
//! so no answer (or its absence) delays the next send.
//!
//! Each stream builds its next body before it sleeps, so a send costs only the spawn.
//! Requests share one HTTP client and its pool of keep-alive connections. A request due
//! while `limits.max_in_flight` are open is not sent and counted as `not_sent`: then the
//! generator, not the engine, was the limit, and the report says so.

use std::sync::Arc;
use std::time::Duration;

use rand::{Rng as _, SeedableRng as _};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::ids;
use crate::payload::{BatchSpec, BuiltBatch, Payloads};
use crate::scenario::Scenario;
use crate::schedule::{self, Calls, Stream};
use crate::setup::{Afnemer, Api, Citizens};
use crate::stats::{Accepted, BatchOutcome, Kind, Stats};

/// Bytes of an unexpected answer's body kept as a sample for the report.
const SAMPLE_BYTES: usize = 300;

/// What every task of the load shares.
#[derive(Debug)]
pub struct Load {
    pub api: Api,
    pub stats: Arc<Stats>,
    pub payloads: Arc<Payloads>,
    pub scenario: Scenario,
    pub duration: Duration,
    pub start: Instant,
    /// How far the engine's clock is ahead of this machine's: each batch's `aanmaakDatum` is
    /// now plus this, so a soak that moves the engine's clock days on still delivers fresh
    /// batches. Zero against a real engine.
    pub aanmaak_offset: jiff::SignedDuration,
}

fn header_text(response: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn sample(body: &[u8]) -> String {
    let cut = body.len().min(SAMPLE_BYTES);
    String::from_utf8_lossy(&body[..cut]).into_owned()
}

#[derive(Debug, serde::Deserialize)]
struct ValidatieAnswer {
    resultaten: Vec<ValidatieResultaat>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ValidatieResultaat {
    bsn: String,
    bericht_sturen: bool,
}

/// BSNs in a Validatie answer, and how many were answered wrongly: every citizen the load
/// opened a box for (and who has no preference against it) takes digital mail, the BSNs
/// without a box do not. An answer that does not parse counts as one mismatch.
fn check_validatie(body: &[u8]) -> (u64, u64) {
    match serde_json::from_slice::<ValidatieAnswer>(body) {
        Ok(answer) => {
            let wrong = answer
                .resultaten
                .iter()
                .filter(|r| r.bericht_sturen != ids::has_box(&r.bsn))
                .count();
            (answer.resultaten.len() as u64, wrong as u64)
        }
        Err(_) => (0, 1),
    }
}

impl Load {
    fn max_in_flight(&self) -> u64 {
        u64::from(self.scenario.limits.max_in_flight)
    }

    /// Runs every stream to its end and answers once each has sent its last request (the
    /// answers may still be on their way; see [`Load::drain`]).
    pub async fn run(self: &Arc<Self>, afnemers: &[Afnemer], citizens: &Citizens) {
        let streams = schedule::streams(&self.scenario);
        let mut tasks = JoinSet::new();
        for stream in streams {
            let afnemer = &afnemers[usize::from(stream.afnemer)];
            let key = afnemer.key.clone();
            let load = self.clone();
            tasks.spawn(async move { load.afnemer_stream(stream, key).await });
        }
        if let Some(calls) = Calls::new(self.scenario.portal.reads_per_second) {
            let load = self.clone();
            let tokens = citizens.tokens.clone();
            tasks.spawn(async move { load.portal_stream(calls, tokens).await });
        }
        if let Some(calls) = Calls::new(self.scenario.validaties.per_second) {
            let load = self.clone();
            let keys: Vec<HeaderValue> = afnemers.iter().map(|a| a.key.clone()).collect();
            tasks.spawn(async move { load.validatie_stream(calls, keys).await });
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Waits until no request is in flight, at most `deadline`; answers how many still were.
    pub async fn drain(&self, deadline: Duration) -> u64 {
        let until = Instant::now() + deadline;
        loop {
            let open = self.stats.with(|s| s.in_flight);
            if open == 0 || Instant::now() >= until {
                return open;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn afnemer_stream(self: Arc<Self>, stream: Stream, key: HeaderValue) {
        let group = &self.scenario.afnemers[stream.group];
        let (mix, tekst_chars) = (group.mix, group.tekst_chars);
        let url = self.api.url("/v1/batches");
        let mut first_seq = 0u64;
        let mut k = 0u64;
        while let Some(size) = stream.batch(k, self.duration) {
            let scheduled = self.start + stream.due(k);
            let aanmaak = (jiff::Timestamp::now() + self.aanmaak_offset)
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            let built = self.payloads.batch(
                &BatchSpec {
                    mix,
                    tekst_chars,
                    afnemer: stream.afnemer,
                    batch_seq: k,
                    first_seq,
                    messages: size,
                },
                &aanmaak,
            );
            let batch = Accepted {
                afnemer: stream.afnemer,
                batch_seq: k,
                first_seq,
                messages: size,
            };
            first_seq += u64::from(size);
            k += 1;
            self.stats
                .offered(stream.group, scheduled.into_std(), size, built.body.len());
            tokio::time::sleep_until(scheduled).await;
            if !self
                .stats
                .try_begin(self.max_in_flight(), Kind::Batch(stream.group))
            {
                continue;
            }
            let load = self.clone();
            let (url, key) = (url.clone(), key.clone());
            tokio::spawn(async move {
                load.send_batch(url, key, stream.group, batch, built, scheduled)
                    .await;
            });
        }
    }

    async fn send_batch(
        &self,
        url: String,
        key: HeaderValue,
        group: usize,
        batch: Accepted,
        built: BuiltBatch,
        scheduled: Instant,
    ) {
        self.stats.sent(scheduled.elapsed());
        let bytes = built.body.len();
        let result = self
            .api
            .client
            .post(url)
            .header(AUTHORIZATION, key)
            .header(CONTENT_TYPE, "application/json")
            .body(built.body)
            .send()
            .await;
        let outcome = match result {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = matches!(status, 429 | 503)
                    .then(|| header_text(&response, RETRY_AFTER))
                    .flatten();
                // Read the whole answer so the connection goes back to the pool.
                let body = response.bytes().await.unwrap_or_default();
                let body_sample = (!matches!(status, 202 | 429 | 503)).then(|| sample(&body));
                BatchOutcome::Answered {
                    status,
                    retry_after,
                    body_sample,
                }
            }
            Err(error) => BatchOutcome::TransportError(error.to_string()),
        };
        self.stats.batch_done(
            group,
            batch,
            bytes,
            built.attachment_bytes,
            scheduled.into_std(),
            outcome,
        );
    }

    async fn portal_stream(self: Arc<Self>, calls: Calls, tokens: Arc<Vec<HeaderValue>>) {
        let page = self.scenario.portal.page_size.unwrap_or(50);
        let url = self.api.url(&format!("/v1/account/berichten?limit={page}"));
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.scenario.seed ^ 0x0b0e);
        let mut k = 0u64;
        loop {
            let due = calls.due(k);
            if due >= self.duration || tokens.is_empty() {
                break;
            }
            k += 1;
            let scheduled = self.start + due;
            let token = tokens[rng.random_range(0..tokens.len())].clone();
            tokio::time::sleep_until(scheduled).await;
            if !self.stats.try_begin(self.max_in_flight(), Kind::Portal) {
                continue;
            }
            let load = self.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let request = load.api.client.get(url).header(AUTHORIZATION, token);
                load.call(Kind::Portal, request, scheduled).await;
            });
        }
    }

    async fn validatie_stream(self: Arc<Self>, calls: Calls, keys: Vec<HeaderValue>) {
        let bsns = self.scenario.validaties.bsns;
        let url = self.api.url("/v1/validaties");
        let mut k = 0u64;
        loop {
            let due = calls.due(k);
            if due >= self.duration || keys.is_empty() {
                break;
            }
            let scheduled = self.start + due;
            let key = keys[(k as usize) % keys.len()].clone();
            let body = self.payloads.validatie(k * u64::from(bsns), bsns);
            k += 1;
            tokio::time::sleep_until(scheduled).await;
            if !self.stats.try_begin(self.max_in_flight(), Kind::Validatie) {
                continue;
            }
            let load = self.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let request = load
                    .api
                    .client
                    .post(url)
                    .header(AUTHORIZATION, key)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body);
                load.call(Kind::Validatie, request, scheduled).await;
            });
        }
    }

    /// Sends a portal or Validatie request and records its answer.
    async fn call(&self, kind: Kind, request: reqwest::RequestBuilder, scheduled: Instant) {
        self.stats.sent(scheduled.elapsed());
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = matches!(status, 429 | 503)
                    .then(|| header_text(&response, RETRY_AFTER))
                    .flatten();
                let body = response.bytes().await.unwrap_or_default();
                if status == 200 && matches!(kind, Kind::Validatie) {
                    let (results, mismatches) = check_validatie(&body);
                    self.stats.validatie_checked(results, mismatches);
                }
                let unexpected = (!matches!(status, 200 | 429 | 503)).then(|| sample(&body));
                self.stats.call_done(
                    kind,
                    scheduled.into_std(),
                    Some(status),
                    retry_after,
                    unexpected.map(|s| format!("{status}: {s}")),
                );
            }
            Err(error) => {
                self.stats.call_done(
                    kind,
                    scheduled.into_std(),
                    None,
                    None,
                    Some(error.to_string()),
                );
            }
        }
    }
}
