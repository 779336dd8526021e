//! One processing round of a shard, decided without I/O: which batches it completes, where it
//! is cut, which berichtIds it claims and releases, each bericht's code and stadium, and what
//! it delivers.
//!
//! The processor (`processor.rs`) gathers the facts and applies the decision; this module
//! must not read the store or a clock. The one answer it needs from the store mid-way (who
//! holds each claimed berichtId) splits the decision into three pure phases:
//!
//! 1. [`screen`]: GLOBE's checks per bericht ([`verwerking::check`]); what passes goes to
//!    storage. The processor then asks, in round order, whether an earlier-accepted copy of
//!    each such bericht is still parked in another shard, stopping at the first yes.
//! 2. [`plan_claims`]: the round is cut before the first batch holding such a bericht (it and
//!    every batch after it wait for a later round, so completions stay a prefix of the shard's
//!    parked batches); the completed batches claim the berichtIds of what passed and release
//!    those of what did not (a first try before a crash may have claimed them).
//! 3. [`decide`]: with the holders the store answered per claim, a bericht whose claim its own
//!    batch holds is `Verwerkt` and delivered; one held by another batch is `BerichtBestaatAl`.
//!
//! The processor keeps the durability order around these phases: releases and claims, then
//! deliveries, then the one completing write.

use crate::core::verwerking::{self, Facts, STORE_STADIUM, Stadium, VerwerkingsCode};

/// A bericht's code and stadium.
pub type Outcome = (VerwerkingsCode, Stadium);

/// A bericht of a round, as the decision sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundBericht {
    pub oin: String,
    pub bericht_id: String,
    /// What GLOBE's checks before storage need, gathered by the processor.
    pub facts: Facts,
}

/// A parked batch of a round, in the shard's sequence order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundBatch {
    pub batch_id: String,
    pub berichten: Vec<RoundBericht>,
}

/// Where a bericht is in a round: its batch's index among the round's batches, and its own
/// index in that batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub batch: usize,
    pub bericht: usize,
}

/// Phase 1's result: per batch, per bericht, the outcome of the checks, or `None` when the
/// bericht passed them and goes to storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screening {
    pub checked: Vec<Vec<Option<Outcome>>>,
}

impl Screening {
    /// The berichten that passed every check, in round order: the ones to ask about an
    /// earlier-accepted copy parked in another shard.
    pub fn to_store(&self) -> impl Iterator<Item = Position> + '_ {
        self.checked
            .iter()
            .enumerate()
            .flat_map(|(batch, berichten)| {
                berichten
                    .iter()
                    .enumerate()
                    .filter(|(_, checked)| checked.is_none())
                    .map(move |(bericht, _)| Position { batch, bericht })
            })
    }

    fn passed(&self, position: Position) -> bool {
        self.checked
            .get(position.batch)
            .and_then(|berichten| berichten.get(position.bericht))
            .is_some_and(Option::is_none)
    }
}

/// Phase 1: GLOBE's checks before storage, for every bericht of the round.
pub fn screen(batches: &[RoundBatch]) -> Screening {
    Screening {
        checked: batches
            .iter()
            .map(|batch| {
                batch
                    .berichten
                    .iter()
                    .map(|bericht| verwerking::check(&bericht.facts))
                    .collect()
            })
            .collect(),
    }
}

/// Phase 2's result: how much of the round completes, and the claims to give back and take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPlan {
    /// The round completes its batches `0..completed`; the rest wait for a later round.
    pub completed: usize,
    /// Berichten of completed batches that did not pass the checks: their batch gives up the
    /// claim on their berichtId if it holds one. In round order.
    pub releases: Vec<Position>,
    /// Berichten of completed batches that passed: their batch claims their berichtId. In
    /// round order, which is the order the store settles competing claims in.
    pub claims: Vec<Position>,
    /// The checks' outcomes of the completed batches.
    checked: Vec<Vec<Option<Outcome>>>,
}

/// Phase 2: cuts the round before the first batch with a bericht in `waiting` (one that passed
/// the checks and has an earlier-accepted copy still parked in another shard), and plans the
/// claims of the batches before the cut. A position in `waiting` that did not pass the checks
/// is ignored: only berichten that pass can be `BerichtBestaatAl`.
pub fn plan_claims(screening: Screening, waiting: &[Position]) -> ClaimPlan {
    let completed = waiting
        .iter()
        .filter(|position| screening.passed(**position))
        .map(|position| position.batch)
        .min()
        .unwrap_or(screening.checked.len());
    let mut checked = screening.checked;
    checked.truncate(completed);
    let (mut releases, mut claims) = (Vec::new(), Vec::new());
    for (batch, berichten) in checked.iter().enumerate() {
        for (bericht, outcome) in berichten.iter().enumerate() {
            let position = Position { batch, bericht };
            match outcome {
                Some(_) => releases.push(position),
                None => claims.push(position),
            }
        }
    }
    ClaimPlan {
        completed,
        releases,
        claims,
        checked,
    }
}

/// Phase 3's result: the outcome of every bericht of the completed batches, and what goes into
/// the boxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundDecision {
    /// Per completed batch, per bericht, in order.
    pub outcomes: Vec<Vec<Outcome>>,
    /// The berichten to deliver (those `Verwerkt`), in round order.
    pub deliveries: Vec<Position>,
}

impl RoundDecision {
    /// The berichten the round decides.
    pub fn decided(&self) -> usize {
        self.outcomes.iter().map(Vec::len).sum()
    }
}

/// Phase 3: `holders` answers, per claim of `plan` in order, the batch that holds that
/// berichtId now. A bericht whose own batch holds it is `Verwerkt`; otherwise it was delivered
/// before from another batch: `BerichtBestaatAl` (a missing answer counts as that too).
pub fn decide(batches: &[RoundBatch], plan: &ClaimPlan, holders: &[String]) -> RoundDecision {
    let mut holders = plan.claims.iter().zip(holders);
    let mut deliveries = Vec::new();
    let mut outcomes = Vec::with_capacity(plan.completed);
    for (batch_index, (batch, checked)) in batches.iter().zip(&plan.checked).enumerate() {
        let mut batch_outcomes = Vec::with_capacity(checked.len());
        for (bericht, outcome) in checked.iter().enumerate() {
            let outcome = match outcome {
                Some(outcome) => *outcome,
                None => {
                    let position = Position {
                        batch: batch_index,
                        bericht,
                    };
                    let held_by_own_batch = holders.next().is_some_and(|(claim, holder)| {
                        *claim == position && *holder == batch.batch_id
                    });
                    if held_by_own_batch {
                        deliveries.push(position);
                        (VerwerkingsCode::Verwerkt, Stadium::NA)
                    } else {
                        (VerwerkingsCode::BerichtBestaatAl, STORE_STADIUM)
                    }
                }
            };
            batch_outcomes.push(outcome);
        }
        outcomes.push(batch_outcomes);
    }
    RoundDecision {
        outcomes,
        deliveries,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use jiff::Timestamp;
    use proptest::prelude::*;

    use super::*;

    fn now() -> Timestamp {
        "2026-11-28T12:00:00Z".parse().expect("timestamp")
    }

    fn facts(passes: bool) -> Facts {
        Facts {
            now: now(),
            aanmaak_datum: now(),
            publicatie_datum: None,
            bericht_type_actief: true,
            ontvanger_wil_digitaal: passes,
        }
    }

    fn batch(batch_id: &str, berichten: &[(&str, bool)]) -> RoundBatch {
        RoundBatch {
            batch_id: batch_id.to_owned(),
            berichten: berichten
                .iter()
                .map(|(bericht_id, passes)| RoundBericht {
                    oin: "00000001234567890000".to_owned(),
                    bericht_id: (*bericht_id).to_owned(),
                    facts: facts(*passes),
                })
                .collect(),
        }
    }

    fn at(batch: usize, bericht: usize) -> Position {
        Position { batch, bericht }
    }

    const NOT_DIGITAAL: Outcome = (
        VerwerkingsCode::NietActiefOfGeabonneerd,
        Stadium::ValidatieGebruiker,
    );
    const VERWERKT: Outcome = (VerwerkingsCode::Verwerkt, Stadium::NA);
    const BESTAAT_AL: Outcome = (VerwerkingsCode::BerichtBestaatAl, Stadium::StoreMessage);

    /// The store's claim semantics, in memory: a release removes a claim its batch holds; a
    /// claim is taken unless another batch holds the id, and answers the holder.
    #[derive(Debug, Default, Clone)]
    struct ClaimModel {
        held: HashMap<(String, String), String>,
    }

    impl ClaimModel {
        fn release(&mut self, batches: &[RoundBatch], positions: &[Position]) {
            for position in positions {
                let (key, batch_id) = key_of(batches, *position);
                if self.held.get(&key) == Some(&batch_id) {
                    self.held.remove(&key);
                }
            }
        }

        fn claim(&mut self, batches: &[RoundBatch], positions: &[Position]) -> Vec<String> {
            positions
                .iter()
                .map(|position| {
                    let (key, batch_id) = key_of(batches, *position);
                    self.held.entry(key).or_insert(batch_id).clone()
                })
                .collect()
        }
    }

    fn key_of(batches: &[RoundBatch], position: Position) -> ((String, String), String) {
        let batch = &batches[position.batch];
        let bericht = &batch.berichten[position.bericht];
        (
            (bericht.oin.clone(), bericht.bericht_id.clone()),
            batch.batch_id.clone(),
        )
    }

    /// The three phases against a claim model, as the processor runs them against the store.
    fn run(
        batches: &[RoundBatch],
        waiting: &[Position],
        model: &mut ClaimModel,
    ) -> (ClaimPlan, RoundDecision) {
        let plan = plan_claims(screen(batches), waiting);
        model.release(batches, &plan.releases);
        let holders = model.claim(batches, &plan.claims);
        let decision = decide(batches, &plan, &holders);
        (plan, decision)
    }

    #[test]
    fn a_round_without_conflicts_completes_every_batch() {
        let batches = [
            batch("b1", &[("x", true), ("y", false)]),
            batch("b2", &[("z", true)]),
        ];
        let (plan, decision) = run(&batches, &[], &mut ClaimModel::default());
        assert_eq!(plan.completed, 2);
        assert_eq!(plan.claims, [at(0, 0), at(1, 0)]);
        assert_eq!(plan.releases, [at(0, 1)]);
        assert_eq!(
            decision.outcomes,
            [vec![VERWERKT, NOT_DIGITAAL], vec![VERWERKT]]
        );
        assert_eq!(decision.deliveries, [at(0, 0), at(1, 0)]);
        assert_eq!(decision.decided(), 3);
    }

    #[test]
    fn the_first_batch_of_a_round_with_a_berichtid_wins_and_the_second_already_exists() {
        let batches = [batch("b1", &[("x", true)]), batch("b2", &[("x", true)])];
        let (_, decision) = run(&batches, &[], &mut ClaimModel::default());
        assert_eq!(decision.outcomes, [vec![VERWERKT], vec![BESTAAT_AL]]);
        assert_eq!(decision.deliveries, [at(0, 0)]);
    }

    #[test]
    fn a_claim_held_by_another_batch_is_bericht_bestaat_al_at_store_message() {
        let batches = [batch("b2", &[("x", true), ("y", true)])];
        let plan = plan_claims(screen(&batches), &[]);
        let decision = decide(&batches, &plan, &["b1".to_owned(), "b2".to_owned()]);
        assert_eq!(decision.outcomes, [vec![BESTAAT_AL, VERWERKT]]);
        assert_eq!(decision.deliveries, [at(0, 1)]);
    }

    #[test]
    fn a_missing_holder_answer_delivers_nothing() {
        let batches = [batch("b1", &[("x", true)])];
        let plan = plan_claims(screen(&batches), &[]);
        let decision = decide(&batches, &plan, &[]);
        assert_eq!(decision.outcomes, [vec![BESTAAT_AL]]);
        assert!(decision.deliveries.is_empty());
    }

    #[test]
    fn a_batch_waiting_on_an_earlier_copy_cuts_the_round_before_it() {
        let batches = [
            batch("b1", &[("x", true), ("q", false)]),
            batch("b2", &[("y", false), ("z", true)]),
            batch("b3", &[("w", true)]),
        ];
        let plan = plan_claims(screen(&batches), &[at(1, 1)]);
        assert_eq!(plan.completed, 1);
        assert_eq!(plan.claims, [at(0, 0)]);
        assert_eq!(
            plan.releases,
            [at(0, 1)],
            "nothing of the waiting batch is released"
        );
        let decision = decide(&batches, &plan, &["b1".to_owned()]);
        assert_eq!(decision.outcomes, [vec![VERWERKT, NOT_DIGITAAL]]);
    }

    #[test]
    fn a_wait_in_the_first_batch_completes_nothing() {
        let batches = [batch("b1", &[("x", true)]), batch("b2", &[("y", true)])];
        let plan = plan_claims(screen(&batches), &[at(0, 0)]);
        assert_eq!(plan.completed, 0);
        assert!(plan.claims.is_empty() && plan.releases.is_empty());
        let decision = decide(&batches, &plan, &[]);
        assert_eq!(decision.decided(), 0);
    }

    #[test]
    fn a_wait_on_a_bericht_that_failed_its_checks_is_ignored() {
        let batches = [batch("b1", &[("x", false)])];
        let plan = plan_claims(screen(&batches), &[at(0, 0)]);
        assert_eq!(plan.completed, 1);
        assert_eq!(plan.releases, [at(0, 0)]);
    }

    #[test]
    fn a_second_try_gives_back_a_claim_its_bericht_no_longer_uses() {
        // A first try claimed "x" for b1; since then the citizen closed his box.
        let batches = [batch("b1", &[("x", false)])];
        let mut model = ClaimModel::default();
        model.held.insert(
            ("00000001234567890000".to_owned(), "x".to_owned()),
            "b1".to_owned(),
        );
        let (_, decision) = run(&batches, &[], &mut model);
        assert_eq!(decision.outcomes, [vec![NOT_DIGITAAL]]);
        assert!(
            model.held.is_empty(),
            "the unused claim is released: {model:?}"
        );
    }

    #[test]
    fn a_second_try_takes_its_own_claim_again() {
        let batches = [batch("b1", &[("x", true)])];
        let mut model = ClaimModel::default();
        model.held.insert(
            ("00000001234567890000".to_owned(), "x".to_owned()),
            "b1".to_owned(),
        );
        let (_, decision) = run(&batches, &[], &mut model);
        assert_eq!(decision.outcomes, [vec![VERWERKT]]);
    }

    const OINS: [&str; 2] = ["00000001234567890000", "00000009876543210000"];

    /// Up to six batches of up to five berichten, with berichtIds from a small pool so that
    /// they collide across batches (never within one, as the field rules see to), each bericht
    /// passing the checks or failing one of them.
    fn round_strategy() -> impl Strategy<Value = Vec<RoundBatch>> {
        let bericht = (0usize..2, 0u8..4, 0u8..5);
        let batch = (0usize..2, prop::collection::vec(bericht, 1..6));
        prop::collection::vec(batch, 1..7).prop_map(|batches| {
            batches
                .into_iter()
                .enumerate()
                .map(|(index, (oin, berichten))| {
                    let mut seen = HashSet::new();
                    RoundBatch {
                        batch_id: format!("batch-{index}"),
                        berichten: berichten
                            .into_iter()
                            .filter(|(_, id, _)| seen.insert(*id))
                            .map(|(_, id, check)| {
                                let mut facts = facts(true);
                                match check {
                                    0 => facts.ontvanger_wil_digitaal = false,
                                    1 => facts.bericht_type_actief = false,
                                    _ => {}
                                }
                                RoundBericht {
                                    oin: OINS[oin].to_owned(),
                                    bericht_id: format!("id-{id}"),
                                    facts,
                                }
                            })
                            .collect(),
                    }
                })
                .collect()
        })
    }

    /// Claims already held: by a batch of this round (a first try before a crash) or by a
    /// batch of an earlier round.
    fn held_strategy() -> impl Strategy<Value = Vec<(usize, u8, Option<usize>)>> {
        prop::collection::vec((0usize..2, 0u8..4, prop::option::of(0usize..7)), 0..5)
    }

    fn model_of(held: &[(usize, u8, Option<usize>)]) -> ClaimModel {
        let mut model = ClaimModel::default();
        for (oin, id, holder) in held {
            let holder = holder.map_or("earlier-batch".to_owned(), |b| format!("batch-{b}"));
            model
                .held
                .insert((OINS[*oin].to_owned(), format!("id-{id}")), holder);
        }
        model
    }

    fn waiting_strategy() -> impl Strategy<Value = Vec<(usize, usize)>> {
        prop::collection::vec((0usize..7, 0usize..5), 0..3)
    }

    proptest! {
        #[test]
        fn completions_are_a_prefix_cut_before_the_first_waiting_batch(
            batches in round_strategy(),
            waiting in waiting_strategy(),
            held in held_strategy(),
        ) {
            let waiting: Vec<Position> = waiting.into_iter().map(|(b, i)| at(b, i)).collect();
            let screening = screen(&batches);
            let first_wait = waiting
                .iter()
                .filter(|p| screening.to_store().any(|q| q == **p))
                .map(|p| p.batch)
                .min();
            let (plan, decision) = run(&batches, &waiting, &mut model_of(&held));
            prop_assert_eq!(plan.completed, first_wait.unwrap_or(batches.len()));
            prop_assert_eq!(decision.outcomes.len(), plan.completed);
            for position in plan.claims.iter().chain(&plan.releases).chain(&decision.deliveries) {
                prop_assert!(position.batch < plan.completed, "{:?} past the cut", position);
            }
        }

        #[test]
        fn every_bericht_of_a_completed_batch_is_claimed_or_released_once(
            batches in round_strategy(),
            waiting in waiting_strategy(),
        ) {
            let waiting: Vec<Position> = waiting.into_iter().map(|(b, i)| at(b, i)).collect();
            let plan = plan_claims(screen(&batches), &waiting);
            let mut all: Vec<Position> = plan.claims.iter().chain(&plan.releases).copied().collect();
            all.sort();
            let expected: Vec<Position> = (0..plan.completed)
                .flat_map(|b| (0..batches[b].berichten.len()).map(move |i| at(b, i)))
                .collect();
            prop_assert_eq!(all, expected);
            prop_assert!(plan.claims.windows(2).all(|w| w[0] < w[1]), "claims in round order");
        }

        #[test]
        fn codes_add_up_to_each_batch_and_checks_decide_before_claims(
            batches in round_strategy(),
            held in held_strategy(),
        ) {
            let (plan, decision) = run(&batches, &[], &mut model_of(&held));
            prop_assert_eq!(plan.completed, batches.len());
            for (batch, outcomes) in batches.iter().zip(&decision.outcomes) {
                prop_assert_eq!(outcomes.len(), batch.berichten.len());
                for (bericht, outcome) in batch.berichten.iter().zip(outcomes) {
                    match verwerking::check(&bericht.facts) {
                        Some(checked) => prop_assert_eq!(*outcome, checked),
                        None => prop_assert!(*outcome == VERWERKT || *outcome == BESTAAT_AL),
                    }
                }
            }
            let verwerkt: Vec<Position> = decision.outcomes.iter().enumerate()
                .flat_map(|(b, o)| o.iter().enumerate().filter(|(_, o)| **o == VERWERKT).map(move |(i, _)| at(b, i)))
                .collect();
            prop_assert_eq!(&decision.deliveries, &verwerkt, "delivered exactly what is Verwerkt");
        }

        #[test]
        fn a_berichtid_is_verwerkt_at_most_once_and_only_by_the_batch_holding_it(
            batches in round_strategy(),
            waiting in waiting_strategy(),
            held in held_strategy(),
        ) {
            let waiting: Vec<Position> = waiting.into_iter().map(|(b, i)| at(b, i)).collect();
            let mut model = model_of(&held);
            let (_, decision) = run(&batches, &waiting, &mut model);
            let mut delivered = HashSet::new();
            for position in &decision.deliveries {
                let (key, batch_id) = key_of(&batches, *position);
                prop_assert_eq!(model.held.get(&key), Some(&batch_id), "held by its own batch");
                prop_assert!(delivered.insert(key.clone()), "{:?} Verwerkt twice", key);
            }
        }

        #[test]
        fn a_berichtid_held_by_another_batch_is_bericht_bestaat_al(
            batches in round_strategy(),
            held in held_strategy(),
        ) {
            let before = model_of(&held);
            let mut model = before.clone();
            let (_, decision) = run(&batches, &[], &mut model);
            for (b, batch) in batches.iter().enumerate() {
                for (i, bericht) in batch.berichten.iter().enumerate() {
                    let key = (bericht.oin.clone(), bericht.bericht_id.clone());
                    let held_by_other = before
                        .held
                        .get(&key)
                        .is_some_and(|holder| *holder != batch.batch_id && !holder.starts_with("batch-"));
                    if held_by_other && verwerking::check(&bericht.facts).is_none() {
                        prop_assert_eq!(decision.outcomes[b][i], BESTAAT_AL);
                    }
                }
            }
        }

        #[test]
        fn a_completed_batch_keeps_no_claim_it_does_not_use(
            batches in round_strategy(),
            waiting in waiting_strategy(),
            held in held_strategy(),
        ) {
            let waiting: Vec<Position> = waiting.into_iter().map(|(b, i)| at(b, i)).collect();
            let mut model = model_of(&held);
            let (plan, decision) = run(&batches, &waiting, &mut model);
            for (b, outcomes) in decision.outcomes.iter().enumerate().take(plan.completed) {
                for (i, outcome) in outcomes.iter().enumerate() {
                    let (key, batch_id) = key_of(&batches, at(b, i));
                    let holds = model.held.get(&key) == Some(&batch_id);
                    prop_assert_eq!(holds, *outcome == VERWERKT, "{:?} {:?}", key, outcome);
                }
            }
        }
    }
}
