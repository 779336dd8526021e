//! The processing actors: one per shard, each on a thread of its own (a `SyncArbiter`), taking
//! the shard's parked batches in arrival order and deciding every bericht.
//!
//! A round takes whole batches, gathers the facts (catalog, accounts, voorkeuren, clock), lets
//! `core::verwerking` decide, claims the berichtIds of what passes (for `BerichtBestaatAl`),
//! delivers into boxes with their notifications, and settles the batches in their home shard
//! with their receipts. Only that last write makes a batch processed; the writes before it are
//! idempotent, so a crash anywhere in a round means the round is done again on restart,
//! neither losing nor doubling a bericht. A store error ends the round; the next tick retries.
//! If a round panics, the actor stops and its `SyncArbiter` starts a fresh one.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix::{
    Actor, ActorContext, AsyncContext, Context, Handler, Message, SyncArbiter, SyncContext,
};

use crate::catalog::Catalog;
use crate::core::clock::SharedClock;
use crate::core::verwerking::{self, Facts, STORE_STADIUM, Stadium, VerwerkingsCode};
use crate::store::{
    AccountRecord, BatchStatus, BerichtClaim, BerichtUitkomst, BoxEntry, BoxId, Citizens,
    Completion, Delivery, ParkedBatch, Processing, Receipt, StoreError, wil_digitaal,
};

/// Asks a processor to take what is parked in its shard.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Drain;

#[derive(Debug)]
pub struct Processor {
    shard: usize,
    store: Arc<dyn Processing>,
    /// Accounts and voorkeuren: the facts about each recipient.
    citizens: Arc<dyn Citizens>,
    catalog: Arc<Catalog>,
    clock: SharedClock,
    max_round_messages: usize,
    /// Set by the pacemaker when it sends a `Drain`, cleared when one is handled: at most one
    /// waits in the mailbox.
    drain_pending: Arc<AtomicBool>,
}

impl Actor for Processor {
    type Context = SyncContext<Self>;
}

impl Handler<Drain> for Processor {
    type Result = ();

    fn handle(&mut self, _: Drain, ctx: &mut SyncContext<Self>) {
        self.drain_pending.store(false, Ordering::SeqCst);
        loop {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.round())) {
                Ok(Ok(0)) => return,
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    tracing::warn!(shard = self.shard, %error, "processing round failed, retrying on the next tick");
                    return;
                }
                Err(_) => {
                    tracing::error!(
                        shard = self.shard,
                        "processing round panicked, restarting the processor"
                    );
                    metrics::counter!("berichtenbox_actor_restarts_total", "actor" => "processor")
                        .increment(1);
                    ctx.stop();
                    return;
                }
            }
        }
    }
}

/// A bericht's decision while the round is under way.
enum Pending {
    Decided(VerwerkingsCode, Stadium),
    /// Passed the checks; waits for its claim. Holds the account for the notification.
    ToStore(Option<AccountRecord>),
}

impl Processor {
    /// Processes one round; answers how many berichten it decided.
    fn round(&mut self) -> Result<usize, StoreError> {
        let mut batches = self
            .store
            .parked_batches(self.shard, self.max_round_messages)?;
        if batches.is_empty() {
            return Ok(0);
        }
        let now = self.clock.now();
        let mut accounts: HashMap<String, Option<AccountRecord>> = HashMap::new();
        let mut pending: Vec<Vec<Pending>> = Vec::with_capacity(batches.len());
        let mut claims = Vec::new();
        let mut unused_claims = Vec::new();

        let mut cut = batches.len();
        'batches: for (position, batch) in batches.iter().enumerate() {
            let (claims_before, unused_before) = (claims.len(), unused_claims.len());
            let mut decisions = Vec::with_capacity(batch.berichten.len());
            for bericht in &batch.berichten {
                let account = match accounts.get(&bericht.ontvanger) {
                    Some(account) => account.clone(),
                    None => {
                        let account = self.citizens.account(&bericht.ontvanger)?;
                        accounts.insert(bericht.ontvanger.clone(), account.clone());
                        account
                    }
                };
                let wants = wil_digitaal(&*self.citizens, account.as_ref(), &bericht.oin)?;
                let facts = Facts {
                    now,
                    aanmaak_datum: bericht.aanmaak_datum,
                    publicatie_datum: bericht.publicatie_datum,
                    bericht_type_actief: self
                        .catalog
                        .berichttype_actief(&bericht.oin, &bericht.bericht_type),
                    ontvanger_wil_digitaal: wants,
                };
                let claim = BerichtClaim {
                    oin: bericht.oin.clone(),
                    bericht_id: bericht.bericht_id.clone(),
                    batch_id: bericht.batch_id.clone(),
                };
                match verwerking::check(&facts) {
                    Some((code, stadium)) => {
                        // A first try may have claimed it before a crash; give that back.
                        unused_claims.push(claim);
                        decisions.push(Pending::Decided(code, stadium));
                    }
                    None => {
                        // An earlier-accepted copy of this berichtId, parked in another shard,
                        // is decided first: this batch and those after it wait a beat.
                        if self.store.earlier_parked_copy(
                            &bericht.oin,
                            &bericht.bericht_id,
                            bericht.ontvangen_op,
                            self.shard,
                            bericht.seq,
                        )? {
                            claims.truncate(claims_before);
                            unused_claims.truncate(unused_before);
                            cut = position;
                            break 'batches;
                        }
                        claims.push(claim);
                        decisions.push(Pending::ToStore(account));
                    }
                }
            }
            pending.push(decisions);
        }
        batches.truncate(cut);
        if batches.is_empty() {
            return Ok(0);
        }

        if !unused_claims.is_empty() {
            self.store.release_bericht_ids(&unused_claims)?;
        }
        let holders = self.store.claim_bericht_ids(&claims)?;
        let mut holders = holders.into_iter();
        let mut deliveries = Vec::new();
        let mut outcomes: Vec<Vec<(VerwerkingsCode, Stadium)>> = Vec::with_capacity(batches.len());
        for (batch, decisions) in batches.iter().zip(pending) {
            let mut batch_outcomes = Vec::with_capacity(decisions.len());
            for (bericht, decision) in batch.berichten.iter().zip(decisions) {
                let outcome = match decision {
                    Pending::Decided(code, stadium) => (code, stadium),
                    Pending::ToStore(account) => {
                        let holder = holders.next().unwrap_or_default();
                        if holder != bericht.batch_id {
                            (VerwerkingsCode::BerichtBestaatAl, STORE_STADIUM)
                        } else {
                            let notify = account
                                .filter(|a| a.actief && a.notificaties)
                                .and_then(|a| a.email);
                            deliveries.push(Delivery {
                                entry: box_entry(self.shard, bericht),
                                notify,
                            });
                            (VerwerkingsCode::Verwerkt, Stadium::NA)
                        }
                    }
                };
                batch_outcomes.push(outcome);
            }
            outcomes.push(batch_outcomes);
        }
        self.store.deliver(&deliveries)?;

        let mut decided = 0;
        let completions: Vec<Completion> = batches
            .into_iter()
            .zip(outcomes)
            .map(|(batch, outcomes)| {
                decided += batch.berichten.len();
                self.completion(batch, outcomes, now)
            })
            .collect();
        // Counted per afnemer and code before the completions move into the store.
        let mut tally: HashMap<(String, VerwerkingsCode), u64> = HashMap::new();
        let delay = metrics::histogram!("berichtenbox_processing_delay_seconds");
        for completion in &completions {
            let waited = now
                .duration_since(completion.record.ontvangen_op)
                .as_secs_f64();
            delay.record_many(waited.max(0.0), completion.record.aantal_berichten as usize);
            for uitkomst in completion.record.receipt.iter().flat_map(|r| &r.berichten) {
                *tally
                    .entry((completion.record.oin.clone(), uitkomst.code))
                    .or_default() += 1;
            }
        }
        self.store.complete(self.shard, completions, &self.clock)?;
        for ((oin, code), count) in tally {
            metrics::counter!("berichtenbox_berichten_besloten_total", "afnemer" => oin, "verwerkingscode" => code.as_str())
                .increment(count);
        }
        Ok(decided)
    }

    fn completion(
        &self,
        batch: ParkedBatch,
        outcomes: Vec<(VerwerkingsCode, Stadium)>,
        now: jiff::Timestamp,
    ) -> Completion {
        let mut drop_bijlagen = Vec::new();
        let mut berichten = Vec::with_capacity(outcomes.len());
        for (bericht, (code, stadium)) in batch.berichten.into_iter().zip(outcomes) {
            if code != VerwerkingsCode::Verwerkt {
                drop_bijlagen.extend(bericht.bijlagen);
            }
            berichten.push(BerichtUitkomst {
                bericht_id: bericht.bericht_id,
                code,
                stadium,
            });
        }
        let mut record = batch.record;
        record.status = BatchStatus::Verwerkt;
        record.receipt = Some(Receipt {
            verwerkt_op: now,
            berichten,
        });
        let webhook = self
            .catalog
            .afnemer(&record.oin)
            .is_some_and(|a| a.webhook_url.is_some());
        Completion {
            record,
            drop_bijlagen,
            webhook,
        }
    }
}

fn box_entry(shard: usize, bericht: &crate::store::ParkedMessage) -> BoxEntry {
    BoxEntry {
        id: BoxId::new(bericht.ontvangen_op, shard as u16, bericht.seq),
        bsn: bericht.ontvanger.clone(),
        oin: bericht.oin.clone(),
        batch_id: bericht.batch_id.clone(),
        bericht_id: bericht.bericht_id.clone(),
        bericht_type: bericht.bericht_type.clone(),
        onderwerp: bericht.onderwerp.clone(),
        tekst: bericht.tekst.clone(),
        referentie: bericht.referentie.clone(),
        publicatie_datum: bericht.publicatie_datum,
        ontvangen_op: bericht.ontvangen_op,
        bijlagen: bericht.bijlagen.clone(),
        gelezen: false,
    }
}

/// Sends `Drain` to each of its actors on a fixed beat, never more than one waiting per actor:
/// the actor clears its flag when it takes the `Drain`.
#[derive(Debug)]
pub struct Pacemaker {
    beats: Vec<(actix::Recipient<Drain>, Arc<AtomicBool>)>,
    interval: Duration,
}

impl Pacemaker {
    pub fn new(interval: Duration) -> Self {
        Self {
            beats: Vec::new(),
            interval,
        }
    }

    /// Adds an actor; answers the flag it must clear when it takes a `Drain`.
    pub fn drive(&mut self, recipient: actix::Recipient<Drain>, pending: Arc<AtomicBool>) {
        self.beats.push((recipient, pending));
    }
}

impl Actor for Pacemaker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.interval, |this, _| {
            for (recipient, pending) in &this.beats {
                if !pending.swap(true, Ordering::SeqCst) && recipient.try_send(Drain).is_err() {
                    pending.store(false, Ordering::SeqCst);
                }
            }
        });
    }
}

/// Starts one processor per shard, each on its own thread, and has the pacemaker drive them.
pub fn start(
    pacemaker: &mut Pacemaker,
    store: Arc<dyn Processing>,
    citizens: Arc<dyn Citizens>,
    catalog: Arc<Catalog>,
    clock: SharedClock,
    max_round_messages: usize,
) {
    for shard in 0..store.shard_count() {
        let pending = Arc::new(AtomicBool::new(false));
        let (store, citizens, catalog, clock, drain_pending) = (
            store.clone(),
            citizens.clone(),
            catalog.clone(),
            clock.clone(),
            pending.clone(),
        );
        let addr = SyncArbiter::start(1, move || Processor {
            shard,
            store: store.clone(),
            citizens: citizens.clone(),
            catalog: catalog.clone(),
            clock: clock.clone(),
            max_round_messages,
            drain_pending: drain_pending.clone(),
        });
        pacemaker.drive(addr.recipient(), pending);
    }
}
