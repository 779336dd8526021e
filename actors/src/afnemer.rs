//! The actor per afnemer: it applies the afnemer's rate and hands what it admits to the store.
//!
//! Its mailbox is bounded and fed with `try_send`, so a flood of requests becomes an immediate
//! refusal instead of a pile. It answers through a oneshot channel with the store's
//! [`ParkReceipt`]: the caller awaits the sync itself, so the actor never waits on the disk and
//! one afnemer's slow batch does not hold up its next admission decision. It runs under an
//! actix `Supervisor`: if it stops, it is restarted with the same state (its throttle), so a
//! restart grants no extra burst. It holds nothing that a 202 depends on: once the store has a
//! batch, the actor's fate does not touch it.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Context, Handler, Message, Supervised};
use tokio::sync::oneshot;

use crate::core::clock::SharedClock;
use crate::core::throttle::{Admission, Rate, Throttle};
use crate::store::{ParkReceipt, ParkRequest, Parking, StoreError};

/// Why a batch was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    #[error("rate exhausted; room again in {retry_after:?}")]
    Throttled { retry_after: Duration },
    #[error("batch of {berichten} berichten is larger than the burst of {burst}")]
    LargerThanBurst {
        berichten: u32,
        burst: u32,
        refill: Duration,
    },
    #[error("the afnemer's mailbox is full")]
    MailboxFull,
    #[error("the afnemer's actor is gone")]
    ActorGone,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Asks the actor to admit and park a batch; the answer comes on `reply`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Admit {
    pub request: ParkRequest,
    pub reply: oneshot::Sender<Result<ParkReceipt, AdmitError>>,
}

/// Replaces the afnemer's rate (from a new registration). The bucket starts full again.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SetRate(pub Rate);

#[derive(Debug)]
pub struct AfnemerActor {
    oin: String,
    throttle: Throttle,
    clock: SharedClock,
    store: Arc<dyn Parking>,
    mailbox_capacity: usize,
    restarts: u32,
}

impl AfnemerActor {
    pub fn new(
        oin: String,
        rate: Rate,
        clock: SharedClock,
        store: Arc<dyn Parking>,
        mailbox_capacity: usize,
    ) -> Self {
        let throttle = Throttle::new(rate, clock.clone());
        Self {
            oin,
            throttle,
            clock,
            store,
            mailbox_capacity,
            restarts: 0,
        }
    }

    fn admit(&self, request: ParkRequest) -> Result<ParkReceipt, AdmitError> {
        let berichten = u32::try_from(request.batch.len()).unwrap_or(u32::MAX);
        let Some(cells) = NonZeroU32::new(berichten) else {
            // An empty batch never passes the edge's rules; refusing it here costs nothing.
            return Err(AdmitError::LargerThanBurst {
                berichten,
                burst: self.throttle.rate().burst.get(),
                refill: Duration::ZERO,
            });
        };
        // What the store refuses anyway must not cost the afnemer rate.
        self.store.can_park(&request)?;
        match self.throttle.admit(cells) {
            Admission::Admitted => {}
            Admission::NotBefore(retry_after) => {
                // Counted as berichtenbox_berichten_gedrosseld_total by the HTTP edge.
                return Err(AdmitError::Throttled { retry_after });
            }
            Admission::LargerThanBurst(refill) => {
                return Err(AdmitError::LargerThanBurst {
                    berichten,
                    burst: self.throttle.rate().burst.get(),
                    refill,
                });
            }
        }
        Ok(self.store.submit_park(request)?)
    }
}

impl Actor for AfnemerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.mailbox_capacity);
    }
}

impl Supervised for AfnemerActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        self.restarts += 1;
        tracing::warn!(afnemer = %self.oin, restarts = self.restarts, "afnemer actor restarting");
        metrics::counter!(crate::telemetry::ACTOR_RESTARTS, "actor" => crate::telemetry::ACTOR_AFNEMER)
            .increment(1);
    }
}

impl Handler<Admit> for AfnemerActor {
    type Result = ();

    fn handle(&mut self, message: Admit, _ctx: &mut Self::Context) {
        let answer = self.admit(message.request);
        // The requester may have hung up; an admitted batch is parked all the same.
        let _ = message.reply.send(answer);
    }
}

impl Handler<SetRate> for AfnemerActor {
    type Result = ();

    fn handle(&mut self, SetRate(rate): SetRate, _ctx: &mut Self::Context) {
        if rate != self.throttle.rate() {
            self.throttle = Throttle::new(rate, self.clock.clone());
        }
    }
}

/// Stops the actor, as a failure would; its supervisor restarts it. For tests.
#[derive(Debug, Message)]
#[rtype(result = "()")]
#[doc(hidden)]
pub struct Fail;

impl Handler<Fail> for AfnemerActor {
    type Result = ();

    fn handle(&mut self, _: Fail, ctx: &mut Self::Context) {
        use actix::ActorContext as _;
        ctx.stop();
    }
}
