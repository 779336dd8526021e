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
use crate::pacemaker::{Drain, Pacemaker};
use crate::store::{
    AccountRecord, BatchStatus, BerichtClaim, BerichtUitkomst, BoxEntry, BoxId, Citizens,
    Completion, Delivery, ParkedBatch, ParkedBericht, Processing, Receipt, StoreError,
    wil_digitaal,
};

#[derive(Debug)]
pub struct Processor {
    shard: usize,
    store: Arc<dyn Processing>,
    /// Accounts and voorkeuren: the facts about each recipient.
    citizens: Arc<dyn Citizens>,
    catalog: Arc<Catalog>,
    clock: SharedClock,
    max_round_berichten: usize,
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
                    metrics::counter!(crate::telemetry::ACTOR_RESTARTS, "actor" => crate::telemetry::ACTOR_PROCESSOR)
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
    fn bericht(&self, position: Position) -> &ParkedBericht {
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
            .parked_batches(self.shard, self.max_round_berichten)?;
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
                    let account = self.citizens.account(&bericht.ontvanger)?;
                    accounts.insert(bericht.ontvanger.clone(), account);
                }
                let recipient = (bericht.ontvanger.clone(), bericht.oin.clone());
                let ontvanger_wil_digitaal = match wants_digital.get(&recipient) {
                    Some(wants) => *wants,
                    None => {
                        let account = accounts.get(&bericht.ontvanger).and_then(Option::as_ref);
                        let wants = wil_digitaal(&*self.citizens, account, &bericht.oin)?;
                        wants_digital.insert(recipient, wants);
                        wants
                    }
                };
                berichten.push(RoundBericht {
                    oin: bericht.oin.clone(),
                    bericht_id: bericht.inhoud.bericht_id.clone(),
                    facts: Facts {
                        now,
                        aanmaak_datum: bericht.aanmaak_datum,
                        publicatie_datum: bericht.inhoud.publicatie_datum,
                        bericht_type_actief: self
                            .catalog
                            .berichttype_actief(&bericht.oin, &bericht.inhoud.bericht_type),
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
            if self.store.earlier_parked_copy(
                &bericht.oin,
                &bericht.inhoud.bericht_id,
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
        let delay = metrics::histogram!(crate::telemetry::PROCESSING_DELAY);
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
            metrics::counter!(crate::telemetry::BERICHTEN_BESLOTEN, "afnemer" => oin, "verwerkingscode" => code.as_str())
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
                drop_bijlagen.extend(bericht.inhoud.bijlagen);
            }
            berichten.push(BerichtUitkomst {
                bericht_id: bericht.inhoud.bericht_id,
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

fn claim_of(bericht: &ParkedBericht) -> BerichtClaim {
    BerichtClaim {
        ontvangen_op: bericht.ontvangen_op,
        oin: bericht.oin.clone(),
        bericht_id: bericht.inhoud.bericht_id.clone(),
        batch_id: bericht.batch_id.clone(),
    }
}

pub(crate) fn box_entry(shard: usize, bericht: &ParkedBericht) -> BoxEntry {
    BoxEntry {
        id: BoxId::new(bericht.ontvangen_op, shard as u16, bericht.seq),
        bsn: bericht.ontvanger.clone(),
        oin: bericht.oin.clone(),
        batch_id: bericht.batch_id.clone(),
        ontvangen_op: bericht.ontvangen_op,
        inhoud: bericht.inhoud.clone(),
        gelezen: false,
    }
}

/// Starts one processor per shard, each on its own thread, and has the pacemaker drive them.
pub fn start(
    pacemaker: &mut Pacemaker,
    store: Arc<dyn Processing>,
    citizens: Arc<dyn Citizens>,
    catalog: Arc<Catalog>,
    clock: SharedClock,
    max_round_berichten: usize,
) {
    for shard in 0..store.shard_count() {
        let drain_queued = Arc::new(AtomicBool::new(false));
        let (store, citizens, catalog, clock, flag) = (
            store.clone(),
            citizens.clone(),
            catalog.clone(),
            clock.clone(),
            drain_queued.clone(),
        );
        let addr = SyncArbiter::start(1, move || Processor {
            shard,
            store: store.clone(),
            citizens: citizens.clone(),
            catalog: catalog.clone(),
            clock: clock.clone(),
            max_round_berichten,
            drain_queued: flag.clone(),
        });
        pacemaker.drive(addr.recipient(), drain_queued);
    }
}

#[cfg(test)]
mod tests {
    //! A processor's rounds against the embedded store, called directly: no actix system, no
    //! beat, no waiting. They prove what the gather and apply steps add to `core::round`:
    //! the claims and releases reach the store, and a wait on another shard holds a batch.

    use super::*;
    use crate::core::clock::{Clock, ManualClock};
    use crate::core::model::{Batch, fixtures};
    use crate::core::routing::home_shard_of_batch;
    use crate::store::Store;
    use crate::store::embedded::{EmbeddedConfig, EmbeddedStore};
    use crate::store::{AfnemerRecord, BerichttypeRecord, ParkOutcome, ParkRequest};

    const OIN: &str = "00000001234567890000";
    const BSN: &str = "999993653";
    const SHARDS: usize = 2;

    struct Setup {
        _dir: tempfile::TempDir,
        clock: Arc<ManualClock>,
        store: Arc<dyn Store>,
        catalog: Arc<Catalog>,
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = Arc::new(
            EmbeddedStore::open(EmbeddedConfig::scratch(dir.path(), SHARDS)).expect("open store"),
        );
        let catalog = Catalog::load(store.clone()).expect("load the catalog");
        catalog
            .put_afnemer(AfnemerRecord {
                oin: OIN.to_owned(),
                naam: "Belastingdienst".to_owned(),
                berichten_per_seconde: 45,
                burst: 1000,
                webhook_url: None,
                actief: true,
            })
            .expect("put afnemer");
        catalog
            .put_berichttype(BerichttypeRecord {
                oin: OIN.to_owned(),
                code: "AANSLAG".to_owned(),
                omschrijving: "Aanslag".to_owned(),
                actief: true,
            })
            .expect("put berichttype");
        // The fixtures' berichten are made at the epoch: the clock stays within 13 days of it.
        let clock = Arc::new(ManualClock::new(
            jiff::Timestamp::UNIX_EPOCH + jiff::SignedDuration::from_hours(1),
        ));
        let setup = Setup {
            _dir: dir,
            clock,
            store,
            catalog: Arc::new(catalog),
        };
        setup.open_box(true);
        setup
    }

    impl Setup {
        fn open_box(&self, actief: bool) {
            let now = self.clock.now();
            self.store
                .put_account(&AccountRecord {
                    bsn: BSN.to_owned(),
                    email: Some("burger@example.nl".to_owned()),
                    notificaties: true,
                    actief,
                    geopend_op: now,
                    gewijzigd_op: now,
                })
                .expect("put account");
        }

        fn park(&self, batch: Batch) {
            let digest = batch.content_digest();
            let receipt = self
                .store
                .submit_park(ParkRequest {
                    batch,
                    digest,
                    ontvangen_op: self.clock.now(),
                })
                .expect("submit park");
            let outcome = receipt.blocking_recv().expect("writer answers");
            assert!(matches!(outcome, Ok(ParkOutcome::Parked(_))), "{outcome:?}");
            self.clock.advance(std::time::Duration::from_secs(1));
        }

        /// Runs rounds in `shard` until one decides nothing; answers how many it decided.
        fn drain(&self, shard: usize) -> usize {
            let processor = Processor {
                shard,
                store: self.store.clone(),
                citizens: self.store.clone(),
                catalog: self.catalog.clone(),
                clock: SharedClock::new(self.clock.clone()),
                max_round_berichten: 1024,
                drain_queued: Arc::default(),
            };
            let mut decided = 0;
            loop {
                match processor.round().expect("round") {
                    0 => return decided,
                    n => decided += n,
                }
            }
        }

        /// The codes of a processed batch's receipt; `None` while it is not processed.
        fn codes(&self, batch: &Batch) -> Option<Vec<VerwerkingsCode>> {
            let record = self
                .store
                .find_batch(OIN, &batch.batch_id)
                .expect("find batch")
                .expect("batch parked");
            let receipt = record.receipt?;
            assert_eq!(record.status, BatchStatus::Verwerkt);
            Some(receipt.berichten.iter().map(|b| b.code).collect())
        }
    }

    fn home(batch: &Batch) -> usize {
        home_shard_of_batch(OIN, &batch.batch_id, SHARDS)
    }

    /// A one-bericht batch, `seed` varying its ids, carrying `bericht_id`.
    fn batch_with(seed: u32, bericht_id: &str) -> Batch {
        let mut batch = fixtures::batch(OIN, seed, 1);
        batch.berichten[0].bericht_id = bericht_id.to_owned();
        batch
    }

    #[test]
    fn a_claim_left_by_a_first_try_is_released_once_its_bericht_no_longer_passes() {
        let setup = setup();
        let first = batch_with(1, "00000000-0000-4000-9000-00000000aaaa");
        setup.park(first.clone());
        // A first try claimed the id, then crashed before completing; since then the citizen
        // closed his box.
        let holders = setup
            .store
            .claim_bericht_ids(&[BerichtClaim {
                oin: OIN.to_owned(),
                bericht_id: first.berichten[0].bericht_id.clone(),
                batch_id: first.batch_id.clone(),
                ontvangen_op: setup.clock.now(),
            }])
            .expect("claim");
        assert_eq!(holders, vec![first.batch_id.clone()]);
        setup.open_box(false);
        assert_eq!(setup.drain(home(&first)), 1);
        assert_eq!(
            setup.codes(&first),
            Some(vec![VerwerkingsCode::NietActiefOfGeabonneerd])
        );

        // The id is free again: the same bericht offered in a new batch is delivered.
        setup.open_box(true);
        let again = batch_with(2, &first.berichten[0].bericht_id);
        setup.park(again.clone());
        setup.drain(home(&again));
        assert_eq!(setup.codes(&again), Some(vec![VerwerkingsCode::Verwerkt]));
    }

    #[test]
    fn a_batch_waits_while_an_earlier_copy_is_parked_in_another_shard() {
        let setup = setup();
        let id = "00000000-0000-4000-9000-00000000bbbb";
        let earlier = batch_with(1, id);
        let later = (2..100)
            .map(|seed| batch_with(seed, id))
            .find(|batch| home(batch) != home(&earlier))
            .expect("a batch homed in the other shard");
        setup.park(earlier.clone());
        setup.park(later.clone());

        assert_eq!(setup.drain(home(&later)), 0, "the later copy waits");
        assert_eq!(setup.codes(&later), None);

        assert_eq!(setup.drain(home(&earlier)), 1);
        assert_eq!(setup.codes(&earlier), Some(vec![VerwerkingsCode::Verwerkt]));
        assert_eq!(setup.drain(home(&later)), 1);
        assert_eq!(
            setup.codes(&later),
            Some(vec![VerwerkingsCode::BerichtBestaatAl])
        );
        let boxed = setup
            .store
            .box_entries(BSN, None, 100)
            .expect("box entries");
        assert_eq!(boxed.len(), 1, "one copy in the box: {boxed:?}");
    }
}
