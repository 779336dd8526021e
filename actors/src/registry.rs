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
use crate::store::{ParkReceipt, ParkRequest, Store};

#[derive(Debug)]
pub struct Registry {
    actors: DashMap<String, Addr<AfnemerActor>>,
    store: Arc<dyn Store>,
    clock: SharedClock,
    arbiter: ArbiterHandle,
    mailbox_capacity: usize,
}

impl Registry {
    pub fn new(
        store: Arc<dyn Store>,
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
        if let Some(addr) = self.actors.get(oin) {
            if addr.connected() {
                return addr.clone();
            }
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

    pub fn len(&self) -> usize {
        self.actors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.actors.is_empty()
    }
}
