//! The registry of afnemer actors: one per OIN, started on first use, found without a lock.
//!
//! All afnemer actors run on one dedicated arbiter (an event-loop thread of their own), so they
//! outlive any single HTTP worker and never run on a worker's loop. An actor whose mailbox has
//! closed (it died beyond its supervisor's reach) is replaced on the next lookup.

use std::sync::Arc;

use actix::{Addr, ArbiterHandle, Supervisor};
use dashmap::DashMap;
use tokio::sync::oneshot;

use crate::afnemer::{Admit, AdmitError, AfnemerActor, SetRate};
use crate::core::clock::SharedClock;
use crate::core::throttle::Rate;
use crate::store::{ParkReceipt, ParkRequest, Parking};

#[derive(Debug)]
pub struct Registry {
    actors: DashMap<String, Addr<AfnemerActor>>,
    store: Arc<dyn Parking>,
    clock: SharedClock,
    arbiter: ArbiterHandle,
    mailbox_capacity: usize,
}

impl Registry {
    pub fn new(
        store: Arc<dyn Parking>,
        clock: SharedClock,
        arbiter: ArbiterHandle,
        mailbox_capacity: usize,
    ) -> Self {
        Self {
            actors: DashMap::new(),
            store,
            clock,
            arbiter,
            mailbox_capacity,
        }
    }

    /// The afnemer's actor, started with `rate` if it has none yet.
    pub fn actor(&self, oin: &str, rate: Rate) -> Addr<AfnemerActor> {
        if let Some(addr) = self.actors.get(oin)
            && addr.connected()
        {
            return addr.clone();
        }
        let mut entry = self
            .actors
            .entry(oin.to_owned())
            .or_insert_with(|| self.start(oin, rate));
        if !entry.connected() {
            tracing::warn!(afnemer = oin, "afnemer actor was gone, starting a new one");
            *entry = self.start(oin, rate);
        }
        entry.clone()
    }

    fn start(&self, oin: &str, rate: Rate) -> Addr<AfnemerActor> {
        let (oin, clock, store, capacity) = (
            oin.to_owned(),
            self.clock.clone(),
            self.store.clone(),
            self.mailbox_capacity,
        );
        Supervisor::start_in_arbiter(&self.arbiter, move |_| {
            AfnemerActor::new(oin, rate, clock, store, capacity)
        })
    }

    /// Tells a running actor its new rate; an actor not yet started will start with it.
    pub fn set_rate(&self, oin: &str, rate: Rate) {
        if let Some(addr) = self.actors.get(oin) {
            // A full mailbox drops the update only for an actor that is about to be asked
            // anyway; the next registration or restart of the engine applies it.
            if addr.try_send(SetRate(rate)).is_err() {
                tracing::warn!(
                    afnemer = oin,
                    "could not deliver a rate change to a busy actor"
                );
            }
        }
    }

    /// Asks the afnemer's actor to admit and park a batch, and waits for its decision (not for
    /// the sync: the answer is the store's receipt, to be awaited by the caller).
    pub async fn admit(
        &self,
        oin: &str,
        rate: Rate,
        request: ParkRequest,
    ) -> Result<ParkReceipt, AdmitError> {
        let (reply, answer) = oneshot::channel();
        let addr = self.actor(oin, rate);
        match addr.try_send(Admit { request, reply }) {
            Ok(()) => {}
            Err(actix::prelude::SendError::Full(_)) => return Err(AdmitError::MailboxFull),
            Err(actix::prelude::SendError::Closed(_)) => return Err(AdmitError::ActorGone),
        }
        answer.await.map_err(|_| AdmitError::ActorGone)?
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;
    use std::time::Duration;

    use super::*;
    use crate::afnemer::Fail;
    use crate::core::clock::ManualClock;
    use crate::core::model::fixtures;
    use crate::store::embedded::{EmbeddedConfig, EmbeddedStore};
    use crate::store::{ParkOutcome, Store};

    const OIN_A: &str = "00000000000000000001";
    const OIN_B: &str = "00000000000000000002";

    struct Setup {
        _dir: tempfile::TempDir,
        clock: Arc<ManualClock>,
        store: Arc<dyn Store>,
        registry: Registry,
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = Arc::new(
            EmbeddedStore::open(EmbeddedConfig::scratch(dir.path(), 2)).expect("open store"),
        );
        let clock = Arc::new(ManualClock::new(jiff::Timestamp::UNIX_EPOCH));
        let registry = Registry::new(
            store.clone(),
            SharedClock::new(clock.clone()),
            actix::Arbiter::current(),
            64,
        );
        Setup {
            _dir: dir,
            clock,
            store,
            registry,
        }
    }

    fn default_rate() -> Rate {
        Rate {
            berichten_per_second: NonZeroU32::new(45).expect("nz"),
            burst: NonZeroU32::new(1000).expect("nz"),
        }
    }

    fn request(oin: &str, seed: u32, berichten: u32) -> ParkRequest {
        let batch = fixtures::batch(oin, seed, berichten);
        ParkRequest {
            digest: batch.content_digest(),
            batch,
            ontvangen_op: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    /// Admits and waits for the sync; answers the outcome or the refusal.
    async fn park(
        setup: &Setup,
        oin: &str,
        seed: u32,
        berichten: u32,
    ) -> Result<ParkOutcome, AdmitError> {
        let receipt = setup
            .registry
            .admit(oin, default_rate(), request(oin, seed, berichten))
            .await?;
        Ok(receipt.await.map_err(|_| AdmitError::ActorGone)??)
    }

    fn retry_after(result: Result<ParkOutcome, AdmitError>) -> Duration {
        match result {
            Err(AdmitError::Throttled { retry_after }) => retry_after,
            other => panic!("expected throttling, got {other:?}"),
        }
    }

    #[actix_rt::test]
    async fn an_afnemer_gets_exactly_its_burst_then_its_rate() {
        let setup = setup();
        // 45/s with a burst of 1000: ten batches of 100 pass at once.
        for seed in 0..10 {
            assert!(matches!(
                park(&setup, OIN_A, seed, 100).await,
                Ok(ParkOutcome::Parked(_))
            ));
        }
        // The eleventh needs 100 cells at 1/45 s each: 2.22 s, so Retry-After 3.
        let wait = retry_after(park(&setup, OIN_A, 10, 100).await);
        assert_eq!(crate::core::throttle::retry_after_seconds(wait), 3);
        assert_eq!(wait, Duration::from_nanos(100 * (1_000_000_000 / 45)));
        // Time moves 10 s: 450 cells come back, not one more.
        setup.clock.advance(Duration::from_secs(10));
        assert!(matches!(
            park(&setup, OIN_A, 11, 450).await,
            Ok(ParkOutcome::Parked(_))
        ));
        let wait = retry_after(park(&setup, OIN_A, 12, 1).await);
        assert_eq!(crate::core::throttle::retry_after_seconds(wait), 1);
        // What the rate admitted is parked: 1000 + 450 berichten.
        let parked: u64 = setup
            .store
            .shard_stats()
            .iter()
            .map(|s| s.parked_berichten)
            .sum();
        assert_eq!(parked, 1450);
    }

    #[actix_rt::test]
    async fn one_afnemer_flooding_does_not_slow_another() {
        let setup = setup();
        let mut refused = 0;
        for seed in 0..50 {
            if park(&setup, OIN_A, seed, 100).await.is_err() {
                refused += 1;
            }
        }
        assert_eq!(refused, 40);
        // At the same instant, B still has its whole burst.
        for seed in 100..110 {
            assert!(matches!(
                park(&setup, OIN_B, seed, 100).await,
                Ok(ParkOutcome::Parked(_))
            ));
        }
        assert!(matches!(
            park(&setup, OIN_B, 110, 1).await,
            Err(AdmitError::Throttled { .. })
        ));
    }

    #[actix_rt::test]
    async fn a_restarted_actor_keeps_its_throttle_and_the_store_its_batches() {
        let setup = setup();
        assert!(matches!(
            park(&setup, OIN_A, 1, 1000).await,
            Ok(ParkOutcome::Parked(_))
        ));
        let addr = setup.registry.actor(OIN_A, default_rate());
        addr.send(Fail).await.expect("delivered");
        // The supervisor restarts it; the throttle state survives, so no free burst.
        assert!(matches!(
            park(&setup, OIN_A, 2, 1).await,
            Err(AdmitError::Throttled { .. })
        ));
        assert!(setup.registry.actor(OIN_A, default_rate()).connected());
        setup.clock.advance(Duration::from_secs(1));
        assert!(matches!(
            park(&setup, OIN_A, 3, 45).await,
            Ok(ParkOutcome::Parked(_))
        ));
        let first = setup
            .store
            .find_batch(OIN_A, &fixtures::batch(OIN_A, 1, 1000).batch_id)
            .expect("read");
        assert_eq!(first.map(|record| record.aantal_berichten), Some(1000));
    }
}
