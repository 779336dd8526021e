//! The expirer: the actor that forgets what has served its retention period (`[bewaren]`), on a
//! thread of its own (a `SyncArbiter`), driven by a pacemaker of its own every
//! `bewaren.ronde_seconden`.
//!
//! A pass reads the injected clock once, then takes each shard in bounded steps (at most
//! `stap` deletes per write batch) until nothing is due, then the day counters and runs, then
//! compacts what a shard's deletes made mostly tombstones. It never runs on a request's path:
//! the hot path only writes the index entries beside the records.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix::{Actor, ActorContext, Handler, SyncArbiter, SyncContext};

use crate::core::clock::SharedClock;
use crate::pacemaker::{Drain, Pacemaker};
use crate::store::{Expired, Retention, RetentionPeriods, StoreError};

/// What a pass keeps, and how much one step may delete.
#[derive(Debug, Clone, Copy)]
pub struct ExpirerConfig {
    pub periods: RetentionPeriods,
    pub max_per_step: usize,
}

#[derive(Debug)]
pub struct Expirer {
    store: Arc<dyn Retention>,
    clock: SharedClock,
    config: ExpirerConfig,
    drain_queued: Arc<AtomicBool>,
}

impl Actor for Expirer {
    type Context = SyncContext<Self>;
}

impl Handler<Drain> for Expirer {
    type Result = ();

    fn handle(&mut self, _: Drain, ctx: &mut SyncContext<Self>) {
        self.drain_queued.store(false, Ordering::SeqCst);
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.pass())) {
            Ok(Ok(expired)) if expired.total() > 0 => {
                tracing::info!(
                    deleted = expired.total(),
                    by_kind = ?expired.by_kind,
                    tellingen = expired.tellingen,
                    "retention pass"
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "retention pass failed, retrying on the next beat");
            }
            Err(_) => {
                tracing::error!("retention pass panicked, restarting the expirer");
                metrics::counter!(crate::telemetry::ACTOR_RESTARTS, "actor" => crate::telemetry::ACTOR_EXPIRER)
                    .increment(1);
                ctx.stop();
            }
        }
    }
}

impl Expirer {
    /// One pass over every shard at one reading of the clock.
    pub fn pass(&self) -> Result<Expired, StoreError> {
        let now = self.clock.now();
        let periods = &self.config.periods;
        let mut total = Expired::default();
        for shard in 0..self.store.shard_count() {
            let mut in_shard = Expired::default();
            loop {
                let step = self
                    .store
                    .expire(shard, now, periods, self.config.max_per_step)?;
                in_shard.add(&step);
                if !step.more {
                    break;
                }
            }
            if in_shard.total() > 0 {
                self.store.reclaim(shard, &in_shard)?;
            }
            total.add(&in_shard);
        }
        total.add(&self.store.expire_tellingen(now, periods)?);
        for (kind, n) in &total.by_kind {
            metrics::counter!(crate::telemetry::RETENTION_DELETED, "soort" => kind.as_str())
                .increment(*n);
        }
        metrics::counter!(crate::telemetry::RETENTION_DELETED, "soort" => crate::telemetry::RETENTION_TELLING)
            .increment(total.tellingen);
        metrics::gauge!(crate::telemetry::RETENTION_LAST_PASS)
            .set(now.as_millisecond() as f64 / 1000.0);
        Ok(total)
    }
}

/// Starts the expirer on its own thread and has `pacemaker` drive it.
pub fn start(
    pacemaker: &mut Pacemaker,
    store: Arc<dyn Retention>,
    clock: SharedClock,
    config: ExpirerConfig,
) {
    let drain_queued = Arc::new(AtomicBool::new(false));
    let flag = drain_queued.clone();
    let addr = SyncArbiter::start(1, move || Expirer {
        store: store.clone(),
        clock: clock.clone(),
        config,
        drain_queued: flag.clone(),
    });
    pacemaker.drive(addr.recipient(), drain_queued);
}
