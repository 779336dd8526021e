//! The loss check after the load, through the APIs only.
//!
//! 1. Every batch answered 202 is polled (`GET /v1/batches/{batchId}` with its afnemer's
//!    key) until its status is `verwerkt`, within a deadline; its receipt must decide every
//!    bericht of the batch once.
//! 2. Every bericht decided `Verwerkt` must be in its recipient's box exactly once: each
//!    citizen's box is read whole (`GET /v1/account/berichten`, following `volgende` as
//!    `na`), and its entries of this run are counted by berichtId (which the load put in
//!    each onderwerp, as the citizen API does not show berichtIds).
//!
//! The processing lag comes from the receipts: the latest `verwerktOp` against the wall
//! time of the last 202.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::ids::{self, Recipient};
use crate::payload::{ONDERWERP_PREFIX, Payloads};
use crate::setup::{Api, Citizens};
use crate::stats::Accepted;

/// Requests the check sends at once.
const VERIFY_CONCURRENCY: usize = 16;
/// Box page size: the API's largest.
const BOX_PAGE: usize = 500;
/// A status poll or box read that fails this often in a row is given up (a read error).
const MAX_READ_FAILURES: u32 = 10;

/// The report's `loss_check`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LossCheck {
    /// Batches answered 202.
    pub batches_accepted: u64,
    /// Of those, found `verwerkt` within the deadline.
    pub batches_verwerkt: u64,
    /// Berichten in the accepted batches.
    pub messages_accepted: u64,
    /// Berichten with a decision in their batch's receipt.
    pub messages_decided: u64,
    /// Berichten decided `Verwerkt`.
    pub messages_verwerkt: u64,
    /// `Verwerkt` berichten found in their recipient's box exactly once.
    pub messages_verified: u64,
    /// `Verwerkt` berichten not in their recipient's box, plus accepted berichten without a
    /// decision (their batch not processed in time, or absent from its receipt).
    pub missing: u64,
    /// Copies beyond the first of a bericht in a box, and berichten decided more than once
    /// in a receipt.
    pub duplicates: u64,
    /// Box entries of this run that no receipt decided `Verwerkt` for that citizen.
    pub unexpected_in_box: u64,
    /// Decisions other than expected: a citizen with a box not `Verwerkt`, or a BSN
    /// without a box `Verwerkt`. Reported, not failed on: the engine may have its reasons.
    pub unexpected_decisions: u64,
    /// Status polls or box reads that failed (not 200) ten times in a row and were given up.
    pub read_errors: u64,
    /// Citizens whose box was read.
    pub boxes_read: u64,
    /// Every accepted batch verwerkt, every bericht decided once, every `Verwerkt` one in
    /// its box exactly once, nothing else of this run in a box, no read failed.
    pub passed: bool,
}

/// What the check found besides the loss figures.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    pub loss: LossCheck,
    pub codes: BTreeMap<String, u64>,
    /// The latest `verwerktOp` of all receipts.
    pub last_verwerkt: Option<jiff::Timestamp>,
    /// When polling saw the last batch verwerkt.
    pub all_verwerkt_seen: Option<SystemTime>,
    pub seconds: f64,
    pub samples: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct BatchStatus {
    status: String,
    #[serde(default)]
    verwerkingsbericht: Option<Receipt>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Receipt {
    verwerkt_op: String,
    berichten: Vec<Uitkomst>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Uitkomst {
    bericht_id: String,
    verwerkings_code: String,
}

#[derive(Debug, Deserialize)]
struct BoxPage {
    berichten: Vec<BoxEntry>,
    #[serde(default)]
    volgende: Option<String>,
}

#[derive(Debug, Deserialize)]
struct BoxEntry {
    onderwerp: String,
}

/// State shared by the check's workers.
#[derive(Debug, Default)]
struct Tally {
    findings: Findings,
    /// Per citizen: packed keys of the berichten decided `Verwerkt` for him.
    expected: HashMap<u32, Vec<u64>>,
}

fn add_sample(findings: &mut Findings, text: String) {
    if findings.samples.len() < 10 {
        findings.samples.push(text);
    }
}

/// Runs the whole check.
pub async fn check(
    api: &Api,
    payloads: Arc<Payloads>,
    keys: Arc<Vec<HeaderValue>>,
    citizens: &Citizens,
    accepted: Vec<Accepted>,
    deadline: Duration,
) -> anyhow::Result<Findings> {
    let began = Instant::now();
    let tally = Arc::new(Mutex::new(Tally::default()));
    {
        let mut t = lock(&tally);
        t.findings.loss.batches_accepted = accepted.len() as u64;
        t.findings.loss.messages_accepted = accepted.iter().map(|b| u64::from(b.messages)).sum();
    }
    poll_batches(api, &payloads, &keys, accepted, deadline, &tally).await?;
    read_boxes(api, &payloads, citizens, &tally).await?;
    let mut tally = Arc::try_unwrap(tally)
        .map_err(|_| anyhow::anyhow!("check workers still running"))?
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let loss = &mut tally.findings.loss;
    let undecided = loss.messages_accepted.saturating_sub(loss.messages_decided);
    loss.missing += undecided;
    loss.passed = loss.batches_verwerkt == loss.batches_accepted
        && undecided == 0
        && loss.missing == 0
        && loss.duplicates == 0
        && loss.unexpected_in_box == 0
        && loss.read_errors == 0
        && loss.messages_verified == loss.messages_verwerkt;
    tally.findings.seconds = began.elapsed().as_secs_f64();
    Ok(tally.findings)
}

fn lock(tally: &Mutex<Tally>) -> std::sync::MutexGuard<'_, Tally> {
    tally
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn poll_batches(
    api: &Api,
    payloads: &Arc<Payloads>,
    keys: &Arc<Vec<HeaderValue>>,
    accepted: Vec<Accepted>,
    deadline: Duration,
    tally: &Arc<Mutex<Tally>>,
) -> anyhow::Result<()> {
    let queue: Arc<Mutex<VecDeque<(Accepted, u32)>>> =
        Arc::new(Mutex::new(accepted.into_iter().map(|b| (b, 0)).collect()));
    let until = Instant::now() + deadline;
    let mut workers = JoinSet::new();
    for _ in 0..VERIFY_CONCURRENCY {
        let (api, payloads, keys, queue, tally) = (
            api.clone(),
            payloads.clone(),
            keys.clone(),
            queue.clone(),
            tally.clone(),
        );
        workers.spawn(async move {
            let push_back = |item: (Accepted, u32)| {
                queue
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push_back(item);
            };
            loop {
                let next = queue
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .pop_front();
                let Some((batch, failures)) = next else {
                    return;
                };
                if Instant::now() >= until {
                    // Out of time: this batch (and those left) stay unprocessed.
                    continue;
                }
                match poll_once(&api, &payloads, &keys, batch).await {
                    Ok(Some((receipt, verwerkt_op))) => {
                        let mut t = lock(&tally);
                        t.findings.loss.batches_verwerkt += 1;
                        t.findings.all_verwerkt_seen = Some(SystemTime::now());
                        if t.findings
                            .last_verwerkt
                            .is_none_or(|last| verwerkt_op > last)
                        {
                            t.findings.last_verwerkt = Some(verwerkt_op);
                        }
                        tally_receipt(&mut t, &payloads, batch, receipt);
                    }
                    Ok(None) => {
                        push_back((batch, failures));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(error) => {
                        if failures + 1 >= MAX_READ_FAILURES {
                            let mut t = lock(&tally);
                            t.findings.loss.read_errors += 1;
                            add_sample(&mut t.findings, format!("GET /v1/batches: {error:#}"));
                        } else {
                            push_back((batch, failures + 1));
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.context("poll worker")?;
    }
    Ok(())
}

/// One status poll: the receipt once the batch is `verwerkt`, `None` before.
async fn poll_once(
    api: &Api,
    payloads: &Payloads,
    keys: &[HeaderValue],
    batch: Accepted,
) -> anyhow::Result<Option<(Receipt, jiff::Timestamp)>> {
    let id = ids::batch_id(payloads.run(), batch.afnemer, batch.batch_seq);
    let response = api
        .client
        .get(api.url(&format!("/v1/batches/{id}")))
        .header(AUTHORIZATION, keys[usize::from(batch.afnemer)].clone())
        .send()
        .await?;
    let status = response.status().as_u16();
    if status != 200 {
        let body = response.text().await.unwrap_or_default();
        anyhow::bail!("{id}: {status} {body}");
    }
    let reply: BatchStatus = response.json().await?;
    if reply.status != "verwerkt" {
        return Ok(None);
    }
    let receipt = reply
        .verwerkingsbericht
        .with_context(|| format!("{id}: verwerkt without a verwerkingsbericht"))?;
    let verwerkt_op: jiff::Timestamp = receipt
        .verwerkt_op
        .parse()
        .with_context(|| format!("{id}: verwerktOp {}", receipt.verwerkt_op))?;
    Ok(Some((receipt, verwerkt_op)))
}

fn tally_receipt(t: &mut Tally, payloads: &Payloads, batch: Accepted, receipt: Receipt) {
    let range = batch.first_seq..batch.first_seq + u64::from(batch.messages);
    let mut seen = std::collections::HashSet::with_capacity(batch.messages as usize);
    for uitkomst in receipt.berichten {
        *t.findings
            .codes
            .entry(uitkomst.verwerkings_code.clone())
            .or_insert(0) += 1;
        let key = ids::parse_bericht_id(payloads.run(), &uitkomst.bericht_id)
            .filter(|k| k.afnemer == batch.afnemer && range.contains(&k.seq));
        let Some(key) = key else {
            add_sample(
                &mut t.findings,
                format!(
                    "receipt names a bericht not in its batch: {}",
                    uitkomst.bericht_id
                ),
            );
            t.findings.loss.unexpected_decisions += 1;
            continue;
        };
        if !seen.insert(key.seq) {
            t.findings.loss.duplicates += 1;
            continue;
        }
        t.findings.loss.messages_decided += 1;
        let verwerkt = uitkomst.verwerkings_code == "Verwerkt";
        match (payloads.recipient(key), verwerkt) {
            (Recipient::Citizen(citizen), true) => {
                t.findings.loss.messages_verwerkt += 1;
                t.expected.entry(citizen).or_default().push(key.packed());
            }
            (Recipient::NoAccount(_), true) => {
                // Verwerkt into a box the load never opened: it cannot be looked up.
                t.findings.loss.messages_verwerkt += 1;
                t.findings.loss.unexpected_decisions += 1;
                t.findings.loss.missing += 1;
            }
            (Recipient::Citizen(_), false) => t.findings.loss.unexpected_decisions += 1,
            (Recipient::NoAccount(_), false) => {}
        }
    }
}

async fn read_boxes(
    api: &Api,
    payloads: &Arc<Payloads>,
    citizens: &Citizens,
    tally: &Arc<Mutex<Tally>>,
) -> anyhow::Result<()> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..VERIFY_CONCURRENCY {
        let (api, payloads, tokens, next, tally) = (
            api.clone(),
            payloads.clone(),
            citizens.tokens.clone(),
            next.clone(),
            tally.clone(),
        );
        workers.spawn(async move {
            loop {
                let citizen = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(token) = tokens.get(citizen) else {
                    return;
                };
                let mut found = read_box(&api, &payloads, token).await;
                for _ in 1..MAX_READ_FAILURES {
                    if found.is_ok() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    found = read_box(&api, &payloads, token).await;
                }
                let mut t = lock(&tally);
                let expected = t.expected.remove(&(citizen as u32)).unwrap_or_default();
                match found {
                    Ok(counts) => {
                        let found = compare(&expected, counts);
                        let loss = &mut t.findings.loss;
                        loss.boxes_read += 1;
                        loss.messages_verified += found.verified;
                        loss.missing += found.missing;
                        loss.duplicates += found.duplicates;
                        loss.unexpected_in_box += found.unexpected;
                    }
                    Err(error) => {
                        t.findings.loss.read_errors += 1;
                        t.findings.loss.missing += expected.len() as u64;
                        add_sample(
                            &mut t.findings,
                            format!("GET /v1/account/berichten: {error:#}"),
                        );
                    }
                }
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.context("box worker")?;
    }
    Ok(())
}

/// What one box held against what it should.
#[derive(Debug, Default, PartialEq, Eq)]
struct BoxFindings {
    /// Expected and there exactly once (or more: see `duplicates`).
    verified: u64,
    missing: u64,
    /// Copies beyond the first.
    duplicates: u64,
    /// Entries of this run that were not expected in this box.
    unexpected: u64,
}

/// Compares the berichten expected in a box (packed keys) with how often each was found.
fn compare(expected: &[u64], mut counts: HashMap<u64, u32>) -> BoxFindings {
    let mut found = BoxFindings::default();
    for key in expected {
        match counts.remove(key) {
            None | Some(0) => found.missing += 1,
            Some(n) => {
                found.verified += 1;
                found.duplicates += u64::from(n - 1);
            }
        }
    }
    found.unexpected = counts.values().map(|n| u64::from(*n)).sum();
    found
}

/// A citizen's whole box: how often each bericht of this run is in it, by packed key.
async fn read_box(
    api: &Api,
    payloads: &Payloads,
    token: &HeaderValue,
) -> anyhow::Result<HashMap<u64, u32>> {
    let mut counts = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = api.url(&format!("/v1/account/berichten?limit={BOX_PAGE}"));
        if let Some(na) = &cursor {
            url.push_str("&na=");
            url.push_str(na);
        }
        let response = api
            .client
            .get(url)
            .header(AUTHORIZATION, token.clone())
            .send()
            .await?;
        let status = response.status().as_u16();
        if status != 200 {
            let body = response.text().await.unwrap_or_default();
            anyhow::bail!("{status} {body}");
        }
        let page: BoxPage = response.json().await?;
        for entry in page.berichten {
            let key = entry
                .onderwerp
                .strip_prefix(ONDERWERP_PREFIX)
                .and_then(|id| ids::parse_bericht_id(payloads.run(), id));
            if let Some(key) = key {
                *counts.entry(key.packed()).or_insert(0u32) += 1;
            }
        }
        match page.volgende {
            Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
            _ => return Ok(counts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_is_compared_by_count() {
        let counts = HashMap::from([(1, 1), (2, 2), (9, 1)]);
        assert_eq!(
            compare(&[1, 2, 3], counts),
            BoxFindings {
                verified: 2,
                missing: 1,
                duplicates: 1,
                unexpected: 1,
            }
        );
        assert_eq!(compare(&[], HashMap::new()), BoxFindings::default());
    }
}
