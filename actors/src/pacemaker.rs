//! The beat of the background workers: the `Pacemaker` sends `Drain` to each actor it drives
//! (the processors, the notifier) every `processing.beat_ms`.
//!
//! It owns only the beat and the "a Drain is queued" flags, so that never more than one
//! `Drain` waits in an actor's mailbox however slow a round is. It does no work of its own and
//! no I/O: a driven actor clears its flag when it takes the `Drain`, then does its round.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix::{Actor, AsyncContext, Context, Message, Recipient};

/// Asks an actor to take the work waiting for it (a processor: its shard's parked batches; the
/// notifier: the queued notifications).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Drain;

/// Sends `Drain` to each of its actors on a fixed beat, never more than one queued per actor:
/// the actor clears its `drain_queued` flag when it takes the `Drain`.
#[derive(Debug)]
pub struct Pacemaker {
    beats: Vec<(Recipient<Drain>, Arc<AtomicBool>)>,
    interval: Duration,
}

impl Pacemaker {
    pub fn new(interval: Duration) -> Self {
        Self {
            beats: Vec::new(),
            interval,
        }
    }

    /// Adds an actor with its "a Drain is queued" flag, which the actor clears when it takes a
    /// `Drain`.
    pub fn drive(&mut self, recipient: Recipient<Drain>, drain_queued: Arc<AtomicBool>) {
        self.beats.push((recipient, drain_queued));
    }

    /// One beat: a `Drain` to each actor that has none queued. A full or closed mailbox leaves
    /// the flag clear, so the next beat tries again.
    fn beat(&self) {
        for (recipient, drain_queued) in &self.beats {
            if !drain_queued.swap(true, Ordering::SeqCst) && recipient.try_send(Drain).is_err() {
                drain_queued.store(false, Ordering::SeqCst);
            }
        }
    }
}

impl Actor for Pacemaker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.interval, |this, _| this.beat());
    }
}
