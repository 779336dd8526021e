//! The webhook dispatcher: pushes each receipt to its afnemer's `webhookUrl` until a 2xx, with
//! exponential backoff and jitter, for up to 6 days; the outbox is in the store, so nothing is
//! lost when the afnemer (or the engine) is down.
//!
//! Per afnemer, one delivery is in flight at a time, oldest receipt first; afnemers do not wait
//! for each other, so one afnemer's dead webhook never delays another's. The actor runs on an
//! arbiter of its own: its store calls are short, but they are disk I/O and must not sit on an
//! HTTP worker's loop. The receipt's JSON comes from the HTTP crate ([`ReceiptSerializer`]):
//! this crate does not know JSON.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorFutureExt as _, AsyncContext, Context, WrapFuture as _};
use bytes::Bytes;

use crate::catalog::Catalog;
use crate::core::backoff::{Backoff, Retry, RetryState};
use crate::core::clock::SharedClock;
use crate::store::{BatchRecord, ReceiptCursor, Receipts, WebhookJob};
use crate::webhook::{Outcome, WebhookClient};

/// Turns a processed batch into the receipt's JSON body.
pub type ReceiptSerializer = Arc<dyn Fn(&BatchRecord) -> Option<Vec<u8>> + Send + Sync>;

pub struct WebhookDispatcher {
    store: Arc<dyn Receipts>,
    catalog: Arc<Catalog>,
    clock: SharedClock,
    client: WebhookClient,
    backoff: Backoff,
    serialize: ReceiptSerializer,
    interval: Duration,
    /// Afnemers with a delivery under way.
    in_flight: HashSet<String>,
    /// Afnemers whose oldest receipt has failed at least once and waits for a retry.
    failing: HashSet<String>,
}

impl std::fmt::Debug for WebhookDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookDispatcher")
            .field("in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}

impl WebhookDispatcher {
    pub fn new(
        store: Arc<dyn Receipts>,
        catalog: Arc<Catalog>,
        clock: SharedClock,
        client: WebhookClient,
        backoff: Backoff,
        serialize: ReceiptSerializer,
        interval: Duration,
    ) -> Self {
        Self {
            store,
            catalog,
            clock,
            client,
            backoff,
            serialize,
            interval,
            in_flight: HashSet::new(),
            failing: HashSet::new(),
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let now = self.clock.now();
        for afnemer in self.catalog.afnemers() {
            let Some(url) = afnemer.webhook_url else {
                continue;
            };
            if self.in_flight.contains(&afnemer.oin) {
                continue;
            }
            let oin = afnemer.oin;
            let (cursor, job) = match self.store.webhook_outbox_head(&oin) {
                Ok(Some(head)) => head,
                Ok(None) => {
                    self.failing.remove(&oin);
                    continue;
                }
                Err(error) => {
                    tracing::warn!(afnemer = %oin, %error, "cannot read the webhook outbox");
                    continue;
                }
            };
            if job.failures > 0 {
                self.failing.insert(oin.clone());
            } else {
                self.failing.remove(&oin);
            }
            if job.next_attempt > now {
                continue;
            }
            let body = match self.store.find_batch(&oin, &job.batch_id) {
                Ok(Some(record)) => (self.serialize)(&record),
                Ok(None) => None,
                Err(error) => {
                    tracing::warn!(afnemer = %oin, %error, "cannot read a batch for its webhook");
                    continue;
                }
            };
            let Some(body) = body else {
                tracing::error!(afnemer = %oin, batch = %job.batch_id, "a queued receipt has no processed batch, dropped");
                self.forget(&oin, cursor);
                continue;
            };
            self.in_flight.insert(oin.clone());
            let client = self.client.clone();
            let key = job.batch_id.clone();
            let delivery = async move { client.deliver(&url, Bytes::from(body), &key).await };
            ctx.spawn(
                delivery
                    .into_actor(self)
                    .map(move |outcome, this, _| this.settle(oin, cursor, job, outcome)),
            );
        }
        metrics::gauge!("berichtenbox_webhook_in_backoff").set(self.failing.len() as f64);
    }

    fn forget(&self, oin: &str, cursor: ReceiptCursor) {
        if let Err(error) = self.store.put_webhook_job(oin, cursor, None) {
            tracing::warn!(afnemer = oin, %error, "cannot remove a receipt from the webhook outbox");
        }
    }

    fn settle(
        &mut self,
        oin: String,
        cursor: ReceiptCursor,
        mut job: WebhookJob,
        outcome: Outcome,
    ) {
        self.in_flight.remove(&oin);
        match outcome {
            Outcome::Delivered => {
                self.failing.remove(&oin);
                metrics::counter!("berichtenbox_webhook_afgeleverd_total", "afnemer" => oin.clone()).increment(1);
                self.forget(&oin, cursor);
            }
            Outcome::Retry {
                reason,
                retry_after,
            } => {
                let now = self.clock.now();
                let mut state = RetryState {
                    first_offered: job.first_offered,
                    failures: job.failures,
                };
                let mut retry = self.backoff.after_failure(&mut state, now, rand::random());
                if let Some(wait) = retry_after {
                    retry = self
                        .backoff
                        .respecting_retry_after(retry, &state, now, wait);
                }
                metrics::counter!("berichtenbox_webhook_mislukt_total", "afnemer" => oin.clone())
                    .increment(1);
                self.failing.insert(oin.clone());
                match retry {
                    Retry::At(next_attempt) => {
                        tracing::debug!(afnemer = %oin, %reason, %next_attempt, "webhook failed, will retry");
                        job.failures = state.failures;
                        job.next_attempt = next_attempt;
                        if let Err(error) = self.store.put_webhook_job(&oin, cursor, Some(&job)) {
                            tracing::warn!(afnemer = %oin, %error, "cannot store a webhook retry");
                        }
                    }
                    Retry::GiveUp => {
                        tracing::warn!(afnemer = %oin, batch = %job.batch_id, %reason, "webhook given up after 6 days; the receipt stays in /v1/verwerkingsberichten");
                        metrics::counter!("berichtenbox_webhook_opgegeven_total", "afnemer" => oin.clone()).increment(1);
                        self.forget(&oin, cursor);
                    }
                }
            }
        }
    }
}

impl Actor for WebhookDispatcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.interval, |this, ctx| this.tick(ctx));
    }
}
