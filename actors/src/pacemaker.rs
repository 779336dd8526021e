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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use actix::{Handler, System};

    use super::*;

    /// Counts the `Drain`s it takes and, unlike a real driven actor, never clears its flag.
    struct Counter(Arc<AtomicUsize>);

    impl Actor for Counter {
        type Context = Context<Self>;
    }

    impl Handler<Drain> for Counter {
        type Result = ();

        fn handle(&mut self, _: Drain, _: &mut Context<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Answers once every message sent before it has been handled.
    #[derive(Message)]
    #[rtype(result = "()")]
    struct Flush;

    impl Handler<Flush> for Counter {
        type Result = ();

        fn handle(&mut self, _: Flush, _: &mut Context<Self>) {}
    }

    #[test]
    fn a_drain_is_sent_only_while_none_is_queued() {
        System::new().block_on(async {
            let drains = Arc::new(AtomicUsize::new(0));
            let addr = Counter(drains.clone()).start();
            let drain_queued = Arc::new(AtomicBool::new(false));
            let mut pacemaker = Pacemaker::new(Duration::from_secs(3600));
            pacemaker.drive(addr.clone().recipient(), drain_queued.clone());

            for _ in 0..3 {
                pacemaker.beat();
            }
            addr.send(Flush).await.expect("counter runs");
            assert_eq!(
                drains.load(Ordering::SeqCst),
                1,
                "one Drain however many beats"
            );
            assert!(drain_queued.load(Ordering::SeqCst));

            // The actor takes its Drain: the next beat sends one again.
            drain_queued.store(false, Ordering::SeqCst);
            pacemaker.beat();
            pacemaker.beat();
            addr.send(Flush).await.expect("counter runs");
            assert_eq!(drains.load(Ordering::SeqCst), 2);
        });
    }

    #[test]
    fn a_closed_mailbox_leaves_the_flag_clear_for_the_next_beat() {
        // The actor's system is gone once `block_on` returns: its mailbox is closed.
        let addr = System::new().block_on(async { Counter(Arc::default()).start() });
        let drain_queued = Arc::new(AtomicBool::new(false));
        let mut pacemaker = Pacemaker::new(Duration::from_secs(3600));
        pacemaker.drive(addr.recipient(), drain_queued.clone());
        pacemaker.beat();
        assert!(!drain_queued.load(Ordering::SeqCst));
    }
}
