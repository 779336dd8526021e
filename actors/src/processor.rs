//! The processing actors: one per shard, each on a thread of its own (a `SyncArbiter`), taking
//! the shard's parked batches in arrival order and deciding every bericht.
//!
//! A round is gather, decide, apply. The processor GATHERS the facts (parked batches, accounts
//! and voorkeuren, the catalog's berichttypen, the clock, whether an earlier-accepted copy is
//! still parked in another shard) into plain data; [`crate::core::round`] DECIDES the round
//! without I/O (where it is cut, which berichtIds to claim and release, each bericht's code and
//! stadium, what to deliver); the processor APPLIES it: releases and claims, deliveries into
//! boxes with their notifications, then the one write that settles the batches in their home
//! shard with their receipts. The store's answers to the claims are the one fact needed
//! mid-way, so the decision runs in three pure phases around that call.
//!
//! Only the completing write makes a batch processed; the writes before it are idempotent, so a
//! crash anywhere in a round means the round is done again on restart, neither losing nor
//! doubling a bericht. A store error ends the round; the next tick retries. If a round panics,
//! the actor stops and its `SyncArbiter` starts a fresh one. Every store call of a round is in
//! the gather and apply functions below; none is in the decision.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix::{Actor, ActorContext, Handler, SyncArbiter, SyncContext};

use crate::catalog::Catalog;
use crate::core::clock::SharedClock;
use crate::core::round::{
    self, ClaimPlan, Outcome, Position, RoundBatch, RoundBericht, RoundDecision, Screening,
};
use crate::core::verwerking::{Facts, VerwerkingsCode};
use crate::pacemaker::Drain;
use crate::store::{
    AccountRecord, BatchStatus, BerichtClaim, BerichtUitkomst, BoxEntry, BoxId, Completion,
    Delivery, ParkedBatch, ParkedMessage, Receipt, Store, StoreError, wil_digitaal,
};

/// Kept here for callers that still name the pacemaker through this module; it lives in
/// [`crate::pacemaker`].
pub use crate::pacemaker::Pacemaker;

#[derive(Debug)]
pub struct Processor {
    shard: usize,
    store: Arc<dyn Store>,
    catalog: Arc<Catalog>,
    clock: SharedClock,
    max_round_messages: usize,
    /// Set by the pacemaker when it sends a `Drain`, cleared when one is handled: at most one
    /// waits in the mailbox.
    drain_queued: Arc<AtomicBool>,
}

impl Actor for Processor {
    type Context = SyncContext<Self>;
}

impl Handler<Drain> for Processor {
    type Result = ();

    fn handle(&mut self, _: Drain, ctx: &mut SyncContext<Self>) {
        self.drain_queued.store(false, Ordering::SeqCst);
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

/// A round's facts, gathered from the store, the catalog and the clock.
struct Gathered {
    now: jiff::Timestamp,
    /// The shard's lowest parked batches, in sequence order.
    batches: Vec<ParkedBatch>,
    /// The same batches as the decision sees them.
    round: Vec<RoundBatch>,
    /// The recipients' accounts, by BSN (for the notification's address).
    accounts: HashMap<String, Option<AccountRecord>>,
}

impl Gathered {
    fn bericht(&self, position: Position) -> &ParkedMessage {
        &self.batches[position.batch].berichten[position.bericht]
    }
}

impl Processor {
    /// Processes one round; answers how many berichten it decided.
    fn round(&self) -> Result<usize, StoreError> {
        let Some(gathered) = self.gather()? else {
            return Ok(0);
        };
        let screening = round::screen(&gathered.round);
        let waiting = self.first_waiting(&gathered, &screening)?;
        let plan = round::plan_claims(screening, waiting.as_slice());
        if plan.completed == 0 {
            return Ok(0);
        }
        let holders = self.release_and_claim(&gathered, &plan)?;
        let decision = round::decide(&gathered.round, &plan, &holders);
        self.apply(gathered, &decision)
    }

    // Gather.

    /// The shard's lowest parked batches and every fact the checks need about their berichten;
    /// `None` when nothing is parked.
    fn gather(&self) -> Result<Option<Gathered>, StoreError> {
        let batches = self
            .store
            .parked_batches(self.shard, self.max_round_messages)?;
        if batches.is_empty() {
            return Ok(None);
        }
        let now = self.clock.now();
        let mut accounts: HashMap<String, Option<AccountRecord>> = HashMap::new();
        let mut wants_digital: HashMap<(String, String), bool> = HashMap::new();
        let mut round = Vec::with_capacity(batches.len());
        for batch in &batches {
            let mut berichten = Vec::with_capacity(batch.berichten.len());
            for bericht in &batch.berichten {
                if !accounts.contains_key(&bericht.ontvanger) {
                    let account = self.store.account(&bericht.ontvanger)?;
                    accounts.insert(bericht.ontvanger.clone(), account);
                }
                let recipient = (bericht.ontvanger.clone(), bericht.oin.clone());
                let ontvanger_wil_digitaal = match wants_digital.get(&recipient) {
                    Some(wants) => *wants,
                    None => {
                        let account = accounts.get(&bericht.ontvanger).and_then(Option::as_ref);
                        let wants = wil_digitaal(&*self.store, account, &bericht.oin)?;
                        wants_digital.insert(recipient, wants);
                        wants
                    }
                };
                berichten.push(RoundBericht {
                    oin: bericht.oin.clone(),
                    bericht_id: bericht.bericht_id.clone(),
                    facts: Facts {
                        now,
                        aanmaak_datum: bericht.aanmaak_datum,
                        publicatie_datum: bericht.publicatie_datum,
                        bericht_type_actief: self
                            .catalog
                            .berichttype_actief(&bericht.oin, &bericht.bericht_type),
                        ontvanger_wil_digitaal,
                    },
                });
            }
            round.push(RoundBatch {
                batch_id: batch.record.batch_id.clone(),
                berichten,
            });
        }
        Ok(Some(Gathered {
            now,
            batches,
            round,
            accounts,
        }))
    }

    /// The first bericht, in round order, that passed the checks while an earlier-accepted copy
    /// of its berichtId is still parked in another shard: that copy is decided first, so the
    /// round is cut before this one's batch. Asks no further once it has found one.
    fn first_waiting(
        &self,
        gathered: &Gathered,
        screening: &Screening,
    ) -> Result<Option<Position>, StoreError> {
        for position in screening.to_store() {
            let bericht = gathered.bericht(position);
            if self.store.earlier_pending(
                &bericht.oin,
                &bericht.bericht_id,
                bericht.ontvangen_op,
                self.shard,
                bericht.seq,
            )? {
                return Ok(Some(position));
            }
        }
        Ok(None)
    }

    // Apply.

    /// Gives back the claims the plan releases, then takes the ones it claims; answers, per
    /// claim, the batch that holds the berichtId now. Both are idempotent and durable.
    fn release_and_claim(
        &self,
        gathered: &Gathered,
        plan: &ClaimPlan,
    ) -> Result<Vec<String>, StoreError> {
        let claims_at = |positions: &[Position]| -> Vec<BerichtClaim> {
            positions
                .iter()
                .map(|position| claim_of(gathered.bericht(*position)))
                .collect()
        };
        let releases = claims_at(&plan.releases);
        if !releases.is_empty() {
            self.store.release_bericht_ids(&releases)?;
        }
        self.store.claim_bericht_ids(&claims_at(&plan.claims))
    }

    /// Delivers what the decision delivers, then settles the completed batches in one write.
    fn apply(&self, gathered: Gathered, decision: &RoundDecision) -> Result<usize, StoreError> {
        let deliveries: Vec<Delivery> = decision
            .deliveries
            .iter()
            .map(|position| {
                let bericht = gathered.bericht(*position);
                let notify = gathered
                    .accounts
                    .get(&bericht.ontvanger)
                    .and_then(Option::as_ref)
                    .filter(|a| a.actief && a.notificaties)
                    .and_then(|a| a.email.clone());
                Delivery {
                    entry: box_entry(self.shard, bericht),
                    notify,
                }
            })
            .collect();
        self.store.deliver(&deliveries)?;

        let now = gathered.now;
        let completions: Vec<Completion> = gathered
            .batches
            .into_iter()
            .zip(&decision.outcomes)
            .map(|(batch, outcomes)| self.completion(batch, outcomes, now))
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
        Ok(decision.decided())
    }

    fn completion(
        &self,
        batch: ParkedBatch,
        outcomes: &[Outcome],
        now: jiff::Timestamp,
    ) -> Completion {
        let mut drop_bijlagen = Vec::new();
        let mut berichten = Vec::with_capacity(outcomes.len());
        for (bericht, &(code, stadium)) in batch.berichten.into_iter().zip(outcomes) {
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

fn claim_of(bericht: &ParkedMessage) -> BerichtClaim {
    BerichtClaim {
        oin: bericht.oin.clone(),
        bericht_id: bericht.bericht_id.clone(),
        batch_id: bericht.batch_id.clone(),
    }
}

fn box_entry(shard: usize, bericht: &ParkedMessage) -> BoxEntry {
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

/// Starts one processor per shard, each on its own thread, and has the pacemaker drive them.
pub fn start(
    pacemaker: &mut Pacemaker,
    store: Arc<dyn Store>,
    catalog: Arc<Catalog>,
    clock: SharedClock,
    max_round_messages: usize,
) {
    for shard in 0..store.shard_count() {
        let drain_queued = Arc::new(AtomicBool::new(false));
        let (store, catalog, clock, flag) = (
            store.clone(),
            catalog.clone(),
            clock.clone(),
            drain_queued.clone(),
        );
        let addr = SyncArbiter::start(1, move || Processor {
            shard,
            store: store.clone(),
            catalog: catalog.clone(),
            clock: clock.clone(),
            max_round_messages,
            drain_queued: flag.clone(),
        });
        pacemaker.drive(addr.recipient(), drain_queued);
    }
}
