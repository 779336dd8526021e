//! The expirer: the actor that forgets what has served its retention period (`[bewaren]`), on a
//! thread of its own (a `SyncArbiter`), driven by a pacemaker of its own every
//! `bewaren.ronde_seconden`.
//!
//! A pass reads the injected clock once, then takes each shard in bounded steps (at most
//! `stap` deletes per write batch) until nothing is due, compacting what a shard's deletes made
//! mostly tombstones, then the day counters and runs, then the Leveranciersportaal's expired
//! sessions. It never runs on a request's path:
//! the hot path only writes the index entries beside the records.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix::{Actor, ActorContext, Handler, SyncArbiter, SyncContext};

use crate::core::clock::SharedClock;
use crate::pacemaker::{Drain, Pacemaker};
use crate::store::{Expired, Portaal, Retention, RetentionPeriods, StoreError};

/// What a pass keeps, and how much one step may delete.
#[derive(Debug, Clone, Copy)]
pub struct ExpirerConfig {
    pub periods: RetentionPeriods,
    pub max_per_step: usize,
}

#[derive(Debug)]
pub struct Expirer {
    store: Arc<dyn Retention>,
    /// The portal's sessions, whose expiry is theirs to keep (`verloopt_op`), not a period.
    sessies: Arc<dyn Portaal>,
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
                    sessies = expired.sessies,
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
        total.sessies += self.sessies.expire_sessies(now)?;
        for (kind, n) in &total.by_kind {
            metrics::counter!(crate::telemetry::RETENTION_DELETED, "soort" => kind.as_str())
                .increment(*n);
        }
        metrics::counter!(crate::telemetry::RETENTION_DELETED, "soort" => crate::telemetry::RETENTION_TELLING)
            .increment(total.tellingen);
        metrics::counter!(crate::telemetry::RETENTION_DELETED, "soort" => crate::telemetry::RETENTION_SESSIE)
            .increment(total.sessies);
        metrics::gauge!(crate::telemetry::RETENTION_LAST_PASS)
            .set(now.as_millisecond() as f64 / 1000.0);
        Ok(total)
    }
}

/// Starts the expirer on its own thread and has `pacemaker` drive it.
pub fn start(
    pacemaker: &mut Pacemaker,
    store: Arc<dyn Retention>,
    sessies: Arc<dyn Portaal>,
    clock: SharedClock,
    config: ExpirerConfig,
) {
    let drain_queued = Arc::new(AtomicBool::new(false));
    let flag = drain_queued.clone();
    let addr = SyncArbiter::start(1, move || Expirer {
        store: store.clone(),
        sessies: sessies.clone(),
        clock: clock.clone(),
        config,
        drain_queued: flag.clone(),
    });
    pacemaker.drive(addr.recipient(), drain_queued);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::clock::ManualClock;
    use crate::store::conformance::Backend as _;
    use crate::store::embedded::temp_backend::TempBackend;
    use crate::store::{Aanmelding, SessieRecord};

    /// A pass ends the portal's sessions that expired by the clock it reads, and counts them.
    #[test]
    fn a_pass_deletes_the_expired_sessions() {
        let mut backend = TempBackend::default();
        let store = backend.open(2);
        let now: jiff::Timestamp = "2026-12-07T12:00:00Z".parse().expect("ts");
        let sessie = |verloopt_op| SessieRecord {
            oin: "00000001000000000001".to_owned(),
            aanmelding: Aanmelding::Certificaat,
            aangemaakt_op: now - jiff::SignedDuration::from_hours(1),
            verloopt_op,
        };
        let earlier = now - jiff::SignedDuration::from_secs(1);
        let later = now + jiff::SignedDuration::from_secs(1);
        store.put_sessie(&[1; 32], &sessie(earlier)).expect("put");
        store.put_sessie(&[2; 32], &sessie(later)).expect("put");
        let day = jiff::SignedDuration::from_hours(24);
        let expirer = Expirer {
            store: store.clone(),
            sessies: store.clone(),
            clock: SharedClock::new(Arc::new(ManualClock::new(now))),
            config: ExpirerConfig {
                periods: RetentionPeriods {
                    receipts: 6 * day,
                    batches: 7 * day,
                    mutaties: 90 * day,
                    berichten: None,
                    tellingen_maanden: 13,
                },
                max_per_step: 100,
            },
            drain_queued: Arc::new(AtomicBool::new(false)),
        };
        let expired = expirer.pass().expect("a pass");
        assert_eq!(expired.sessies, 1);
        assert_eq!(expired.total(), 1);
        assert_eq!(store.sessie(&[1; 32]).expect("read"), None);
        assert!(store.sessie(&[2; 32]).expect("read").is_some());
    }
}
