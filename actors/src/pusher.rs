//! The webhook dispatcher: pushes each receipt to its afnemer's `webhookUrl` until a 2xx, with
//! exponential backoff and jitter, for up to 6 days; the outbox is in the store, so nothing is
//! lost when the afnemer (or the engine) is down.
//!
//! Per afnemer, one delivery is in flight at a time, oldest receipt first; afnemers do not wait
//! for each other, so one afnemer's dead webhook never delays another's. The actor runs on an
//! arbiter of its own, and its event loop does no disk I/O: a beat's outbox reads run as one
//! task on the blocking pool (the next beat skips while it runs), and the write that settles a
//! push runs there too, one per afnemer, with the afnemer counted in flight until it is done.
//! So the blocking work is bounded (one read task, at most one write per afnemer) and each
//! afnemer's outbox is read only after its previous write. The receipt's JSON comes from the
//! HTTP crate ([`ReceiptSerializer`]): this crate does not know JSON.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorFutureExt as _, AsyncContext, Context, WrapFuture as _};
use bytes::Bytes;
use jiff::Timestamp;

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
    /// A beat's outbox reads are under way on the blocking pool.
    reading: bool,
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
            reading: false,
        }
    }

    /// One beat: reads the outbox heads of the afnemers with no push in flight (off the event
    /// loop), then starts a push for each head that is due.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.reading {
            // The previous beat's reads still run: one read at a time bounds the blocking work.
            return;
        }
        let due: Vec<(String, String)> = self
            .catalog
            .afnemers()
            .into_iter()
            .filter(|afnemer| !self.in_flight.contains(&afnemer.oin))
            .filter_map(|afnemer| Some((afnemer.oin, afnemer.webhook_url?)))
            .collect();
        if due.is_empty() {
            self.set_backoff_gauge();
            return;
        }
        self.reading = true;
        let now = self.clock.now();
        let (store, serialize) = (self.store.clone(), self.serialize.clone());
        let read = tokio::task::spawn_blocking(move || {
            due.into_iter()
                .map(|(oin, url)| {
                    let head = read_head(&*store, &serialize, &oin, url, now);
                    (oin, head)
                })
                .collect::<Vec<_>>()
        });
        ctx.spawn(read.into_actor(self).map(|heads, this, ctx| {
            this.reading = false;
            match heads {
                Ok(heads) => this.start_pushes(heads, ctx),
                Err(error) => tracing::error!(%error, "reading the webhook outboxes failed"),
            }
        }));
    }

    fn start_pushes(&mut self, heads: Vec<(String, Head)>, ctx: &mut Context<Self>) {
        for (oin, head) in heads {
            match head {
                Head::Unread => {}
                Head::Empty => {
                    self.failing.remove(&oin);
                }
                Head::Waiting { failing, push } => {
                    if failing {
                        self.failing.insert(oin.clone());
                    } else {
                        self.failing.remove(&oin);
                    }
                    let Some(Push {
                        url,
                        cursor,
                        job,
                        body,
                    }) = push
                    else {
                        continue;
                    };
                    self.in_flight.insert(oin.clone());
                    let client = self.client.clone();
                    let key = job.batch_id.clone();
                    let delivery =
                        async move { client.deliver(&url, Bytes::from(body), &key).await };
                    ctx.spawn(delivery.into_actor(self).map(move |outcome, this, ctx| {
                        this.settle(oin, cursor, job, outcome, ctx)
                    }));
                }
            }
        }
        self.set_backoff_gauge();
    }

    fn set_backoff_gauge(&self) {
        metrics::gauge!(crate::telemetry::WEBHOOK_IN_BACKOFF).set(self.failing.len() as f64);
    }

    /// Books a push's outcome: the receipt leaves the outbox (delivered or given up) or gets
    /// its next attempt. The afnemer stays in flight until that write is done, so its next
    /// push reads the outbox as the write left it.
    fn settle(
        &mut self,
        oin: String,
        cursor: ReceiptCursor,
        mut job: WebhookJob,
        outcome: Outcome,
        ctx: &mut Context<Self>,
    ) {
        let update = match outcome {
            Outcome::Delivered => {
                self.failing.remove(&oin);
                metrics::counter!(crate::telemetry::WEBHOOK_AFGELEVERD, "afnemer" => oin.clone())
                    .increment(1);
                None
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
                metrics::counter!(crate::telemetry::WEBHOOK_MISLUKT, "afnemer" => oin.clone())
                    .increment(1);
                self.failing.insert(oin.clone());
                match retry {
                    Retry::At(next_attempt) => {
                        tracing::debug!(afnemer = %oin, %reason, %next_attempt, "webhook failed, will retry");
                        job.failures = state.failures;
                        job.next_attempt = next_attempt;
                        Some(job)
                    }
                    Retry::GiveUp => {
                        tracing::warn!(afnemer = %oin, batch = %job.batch_id, %reason, "webhook given up after 6 days; the receipt stays in /v1/verwerkingsberichten");
                        metrics::counter!(crate::telemetry::WEBHOOK_OPGEGEVEN, "afnemer" => oin.clone()).increment(1);
                        None
                    }
                }
            }
        };
        let store = self.store.clone();
        let writer_oin = oin.clone();
        let write = tokio::task::spawn_blocking(move || {
            put_job(&*store, &writer_oin, cursor, update.as_ref());
        });
        ctx.spawn(write.into_actor(self).map(move |written, this, _| {
            if let Err(error) = written {
                tracing::error!(afnemer = %oin, %error, "writing the webhook outbox failed");
            }
            this.in_flight.remove(&oin);
        }));
        self.set_backoff_gauge();
    }
}

/// What a beat found at the head of one afnemer's webhook outbox.
#[derive(Debug)]
enum Head {
    /// The read failed (and was logged): try again on the next beat.
    Unread,
    /// Nothing waits.
    Empty,
    /// The oldest receipt waits; `failing` when it failed before, `push` when it is due now.
    Waiting { failing: bool, push: Option<Push> },
}

/// A receipt due for its webhook, with its body.
#[derive(Debug)]
struct Push {
    url: String,
    cursor: ReceiptCursor,
    job: WebhookJob,
    body: Vec<u8>,
}

/// Reads one afnemer's outbox head and, when it is due, the receipt's body. Blocking: runs
/// off the event loop. A receipt whose batch is not processed is dropped from the outbox.
fn read_head(
    store: &dyn Receipts,
    serialize: &ReceiptSerializer,
    oin: &str,
    url: String,
    now: Timestamp,
) -> Head {
    let (cursor, job) = match store.webhook_outbox_head(oin) {
        Ok(Some(head)) => head,
        Ok(None) => return Head::Empty,
        Err(error) => {
            tracing::warn!(afnemer = %oin, %error, "cannot read the webhook outbox");
            return Head::Unread;
        }
    };
    let failing = job.failures > 0;
    if job.next_attempt > now {
        return Head::Waiting {
            failing,
            push: None,
        };
    }
    let body = match store.find_batch(oin, &job.batch_id) {
        Ok(Some(record)) => serialize(&record),
        Ok(None) => None,
        Err(error) => {
            tracing::warn!(afnemer = %oin, %error, "cannot read a batch for its webhook");
            return Head::Waiting {
                failing,
                push: None,
            };
        }
    };
    let Some(body) = body else {
        tracing::error!(afnemer = %oin, batch = %job.batch_id, "a queued receipt has no processed batch, dropped");
        put_job(store, oin, cursor, None);
        return Head::Waiting {
            failing,
            push: None,
        };
    };
    Head::Waiting {
        failing,
        push: Some(Push {
            url,
            cursor,
            job,
            body,
        }),
    }
}

/// Updates a receipt's retry state, or (with `None`) removes it from the outbox. Blocking.
fn put_job(store: &dyn Receipts, oin: &str, cursor: ReceiptCursor, job: Option<&WebhookJob>) {
    if let Err(error) = store.put_webhook_job(oin, cursor, job) {
        match job {
            Some(_) => tracing::warn!(afnemer = oin, %error, "cannot store a webhook retry"),
            None => {
                tracing::warn!(afnemer = oin, %error, "cannot remove a receipt from the webhook outbox")
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
