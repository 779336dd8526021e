//! The notification dispatcher: one actor on a thread of its own (sending is blocking I/O),
//! sending the queued notifications in order of arrival within the hourly and daily caps.
//!
//! Each shard keeps its notifications keyed by arrival; a round merges the heads of all
//! shards. It sends only what arrived before processing's watermark (the oldest bericht still
//! parked anywhere, less a grace for batches on their way to a writer), so a notification never
//! overtakes one for a bericht that arrived earlier but is not processed yet. A notification
//! for a bericht published later waits for its `publicatieDatum`. The caps' window is stored,
//! so a restart does not reopen a spent hour or day. What the relay refuses for now waits, in
//! order, with a growing pause; what it refuses for good is dropped and counted.
//!
//! At-least-once: a crash after sending and before the removal sends that round again (the
//! outbox folder writes each notification once; an SMTP relay may see it twice).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix::{Actor, Handler, SyncArbiter, SyncContext};
use jiff::{SignedDuration, Timestamp};

use crate::catalog::Catalog;
use crate::core::caps::{Allowance, CapWindow, Caps};
use crate::core::clock::SharedClock;
use crate::notify::Notification;
use crate::notify::mail::Mailer;
use crate::pacemaker::{Drain, Pacemaker};
use crate::store::{CapWindowRecord, Notifications, Processing, StoreError};

/// How the dispatcher is bounded.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    pub caps: Caps,
    /// The most notifications one round sends.
    pub max_per_round: usize,
    /// How long after its arrival a bericht may still be on its way to being parked.
    pub grace: Duration,
}

#[derive(Debug)]
pub struct Notifier {
    store: Arc<dyn Notifications>,
    /// Processing's watermark: the oldest parked bericht of each shard.
    processing: Arc<dyn Processing>,
    catalog: Arc<Catalog>,
    clock: SharedClock,
    mailer: Arc<Mailer>,
    config: NotifierConfig,
    window: CapWindow,
    /// After a transient failure: no sending before this instant.
    paused_until: Option<Timestamp>,
    failures_in_a_row: u32,
    drain_queued: Arc<AtomicBool>,
}

impl Actor for Notifier {
    type Context = SyncContext<Self>;
}

impl Handler<Drain> for Notifier {
    type Result = ();

    fn handle(&mut self, _: Drain, _ctx: &mut SyncContext<Self>) {
        self.drain_queued.store(false, Ordering::SeqCst);
        loop {
            match self.round() {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "notification round failed, retrying on the next tick");
                    break;
                }
            }
        }
        let window = self.config.caps.rolled(&self.window, self.clock.now());
        metrics::gauge!(crate::telemetry::NOTIFICATIES_VERZONDEN_UUR)
            .set(window.sent_this_hour as f64);
        metrics::gauge!(crate::telemetry::NOTIFICATIES_VERZONDEN_DAG).set(window.sent_today as f64);
        metrics::gauge!(crate::telemetry::NOTIFICATIES_LIMIET, "periode" => "uur")
            .set(self.config.caps.per_hour() as f64);
        metrics::gauge!(crate::telemetry::NOTIFICATIES_LIMIET, "periode" => "dag")
            .set(self.config.caps.per_day() as f64);
    }
}

fn window_of(record: CapWindowRecord) -> CapWindow {
    CapWindow {
        hour_start: record.hour_start,
        sent_this_hour: record.sent_this_hour,
        day_start: record.day_start,
        sent_today: record.sent_today,
    }
}

fn record_of(window: CapWindow) -> CapWindowRecord {
    CapWindowRecord {
        hour_start: window.hour_start,
        sent_this_hour: window.sent_this_hour,
        day_start: window.day_start,
        sent_today: window.sent_today,
    }
}

impl Notifier {
    /// Sends one round; answers how many notifications it settled (sent or dropped).
    fn round(&mut self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        if self.paused_until.is_some_and(|until| now < until) {
            return Ok(0);
        }
        let count = match self.config.caps.allowance(&self.window, now) {
            Allowance::Send { count } => usize::try_from(count)
                .unwrap_or(usize::MAX)
                .min(self.config.max_per_round),
            Allowance::Wait { .. } => return Ok(0),
        };
        let grace = SignedDuration::try_from(self.config.grace).unwrap_or(SignedDuration::ZERO);
        let mut watermark = now - grace;
        for shard in 0..self.store.shard_count() {
            if let Some(oldest) = self.processing.oldest_parked(shard)? {
                watermark = watermark.min(oldest);
            }
        }
        // The heads of every shard's two queues: in arrival order, and (for berichten published
        // after they arrived) in order of publication, due ones only. What may go now goes in
        // order of arrival: a publication date holds a notification back, it does not reorder.
        let mut heads = Vec::new();
        for shard in 0..self.store.shard_count() {
            heads.extend(self.store.queued_notifications(shard, count)?);
            heads.extend(self.store.due_later_notifications(shard, now, count)?);
        }
        heads.retain(|n| n.arrival() <= watermark);
        heads.sort_by_key(|n| n.id);
        heads.truncate(count);
        let due = heads;
        if due.is_empty() {
            return Ok(0);
        }

        let mut settled = Vec::with_capacity(due.len());
        let mut sent = 0u64;
        let mut failed = false;
        for record in due {
            let notification = Notification {
                id: record.id.to_hex(),
                to: record.email.clone(),
                afnemer_naam: self
                    .catalog
                    .afnemer(&record.oin)
                    .map_or_else(|| record.oin.clone(), |a| a.naam),
                ontvangen_op: record.arrival(),
            };
            match self.mailer.send(&notification) {
                Ok(()) => {
                    sent += 1;
                    metrics::counter!(crate::telemetry::NOTIFICATIES_VERZONDEN).increment(1);
                    settled.push(record);
                }
                Err(error) if error.is_permanent() => {
                    tracing::warn!(%error, "notification refused for good, dropped");
                    metrics::counter!(crate::telemetry::NOTIFICATIES_AFGEWEZEN, "reden" => error.kind())
                        .increment(1);
                    settled.push(record);
                }
                Err(error) => {
                    failed = true;
                    self.failures_in_a_row += 1;
                    let pause = Duration::from_secs(1 << self.failures_in_a_row.min(6));
                    tracing::warn!(%error, pause_seconds = pause.as_secs(), "notification not sent, pausing");
                    self.paused_until =
                        Some(now + SignedDuration::try_from(pause).unwrap_or(SignedDuration::ZERO));
                    break;
                }
            }
        }
        if sent > 0 && !failed {
            self.failures_in_a_row = 0;
            self.paused_until = None;
        }
        let settled_count = settled.len();
        if settled_count > 0 {
            // The window first: a crash before the removal sends these again and counts them
            // twice, which can only hold the next ones back, never exceed a cap.
            self.config.caps.record_sent(&mut self.window, now, sent);
            self.store
                .put_notification_window(&record_of(self.window))?;
            self.store.remove_notifications(&settled)?;
        }
        Ok(settled_count)
    }
}

/// Starts the dispatcher on a thread of its own and has the pacemaker drive it. Its caps'
/// window is read from the store when it starts (and when it is started again).
pub fn start(
    pacemaker: &mut Pacemaker,
    store: Arc<dyn Notifications>,
    processing: Arc<dyn Processing>,
    catalog: Arc<Catalog>,
    clock: SharedClock,
    mailer: Mailer,
    config: NotifierConfig,
) {
    let drain_queued = Arc::new(AtomicBool::new(false));
    let flag = drain_queued.clone();
    let mailer = Arc::new(mailer);
    let addr = SyncArbiter::start(1, move || {
        let window = match store.notification_window() {
            Ok(window) => window.map_or(CapWindow::EMPTY, window_of),
            Err(error) => {
                // Counting from zero could exceed a cap this hour; the store is failing anyway,
                // and rounds will fail until it recovers.
                tracing::error!(%error, "cannot read the notification window");
                CapWindow::EMPTY
            }
        };
        Notifier {
            store: store.clone(),
            processing: processing.clone(),
            catalog: catalog.clone(),
            clock: clock.clone(),
            mailer: mailer.clone(),
            config: config.clone(),
            window,
            paused_until: None,
            failures_in_a_row: 0,
            drain_queued: flag.clone(),
        }
    });
    pacemaker.drive(addr.recipient(), drain_queued);
}
