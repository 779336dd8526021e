//! The parking model: a property test of parking on any backend, without HTTP.
//!
//! For random sequences of parks (new batches of 1 to 19 berichten from one of three
//! afnemers, some with bijlagen of 0 bytes up to a few KB; redeliveries of earlier batches;
//! the same batch id with other content; the same batch under another afnemer), bursts of
//! parks submitted before any answer is awaited (so one write may hold several, duplicates of
//! each other included), and restarts, it proves that
//!
//! - a new batch answers `Parked`, a redelivery of the same content `Duplicate` and the same id
//!   with other content `Conflict`, both with the record of the first delivery;
//! - after every operation, and so after every restart, every parked bericht is read back by
//!   `parked_berichten` (in pages) exactly once, with its content and its bijlagen's bytes
//!   (through `bijlage`), and nothing else is there;
//! - within each shard the sequence numbers strictly increase in arrival order, across
//!   restarts too, and a batch's berichten have consecutive numbers from its `first_seq`;
//! - `find_batch` answers each parked batch's record, and nothing for an unknown id;
//! - `shard_stats` counts the parked berichten of each shard.
//!
//! The model is a plain map; the store is reached only through its roles.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

use super::Backend;
use crate::core::model::{Batch, Bericht, Bijlage};
use crate::store::{
    BatchRecord, BatchStatus, ParkOutcome, ParkReceipt, ParkRequest, ParkedBericht, Store,
};

const OINS: [&str; 3] = [
    "00000001000000000001",
    "00000001000000000002",
    "00000001000000000003",
];

#[derive(Debug, Clone)]
pub struct BerichtSpec {
    /// Sizes of its attachments (0 to 2 of them).
    bijlagen: Vec<usize>,
    tekst: String,
    referentie: Option<String>,
    publicatie_secs: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct BatchSpec {
    oin: usize,
    aanmaak_secs: i64,
    berichten: Vec<BerichtSpec>,
}

/// How a conflicting delivery differs from the first one.
#[derive(Debug, Clone)]
pub enum Mutation {
    Tekst(Index),
    DropLast,
    AttachmentByte(Index),
    AanmaakDatum,
    ExtraBericht,
}

#[derive(Debug, Clone)]
pub enum Delivery {
    /// A batch with an id never used before.
    New(BatchSpec),
    /// An earlier batch again, same content.
    Redeliver(Index),
    /// An earlier batch's id with other content.
    Conflict(Index, Mutation),
    /// An earlier batch's id and content, delivered by (possibly) another afnemer.
    OtherAfnemer(Index, usize),
}

#[derive(Debug, Clone)]
pub enum Op {
    /// One park, awaited before the next operation.
    Deliver(Delivery),
    /// Several parks submitted at once, then all awaited.
    Burst(Vec<Delivery>),
    /// Drop the store and open it again on the same directory.
    Restart,
}

fn bericht_spec() -> impl Strategy<Value = BerichtSpec> {
    let size = prop_oneof![
        Just(0usize),
        1usize..200,
        1000usize..1100, // around the 1 KiB key-value separation threshold
        2000usize..6000,
    ];
    (
        prop::collection::vec(size, 0..=2),
        "[a-zA-Z0-9 .,ëé]{0,60}",
        proptest::option::of("[A-Z0-9-]{0,25}"),
        proptest::option::of(0i64..2_000_000),
    )
        .prop_map(
            |(bijlagen, tekst, referentie, publicatie_secs)| BerichtSpec {
                bijlagen,
                tekst,
                referentie,
                publicatie_secs,
            },
        )
}

fn batch_spec() -> impl Strategy<Value = BatchSpec> {
    (
        0..OINS.len(),
        0i64..2_000_000_000,
        prop::collection::vec(bericht_spec(), 1..20),
    )
        .prop_map(|(oin, aanmaak_secs, berichten)| BatchSpec {
            oin,
            aanmaak_secs,
            berichten,
        })
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<Index>().prop_map(Mutation::Tekst),
        Just(Mutation::DropLast),
        any::<Index>().prop_map(Mutation::AttachmentByte),
        Just(Mutation::AanmaakDatum),
        Just(Mutation::ExtraBericht),
    ]
}

fn delivery() -> impl Strategy<Value = Delivery> {
    prop_oneof![
        4 => batch_spec().prop_map(Delivery::New),
        2 => any::<Index>().prop_map(Delivery::Redeliver),
        2 => (any::<Index>(), mutation()).prop_map(|(i, m)| Delivery::Conflict(i, m)),
        1 => (any::<Index>(), 0..OINS.len()).prop_map(|(i, o)| Delivery::OtherAfnemer(i, o)),
    ]
}

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => delivery().prop_map(Op::Deliver),
        2 => prop::collection::vec(delivery(), 2..6).prop_map(Op::Burst),
        1 => Just(Op::Restart),
    ]
}

/// Deterministic, varied attachment bytes.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn guid(a: u64, b: u64) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", a & 0xffff_ffff, b)
}

fn bericht(batch_no: u64, index: usize, spec: &BerichtSpec) -> Bericht {
    Bericht {
        bericht_id: guid(batch_no, index as u64),
        bericht_type: "AANSLAG".to_owned(),
        ontvanger: "999993653".to_owned(),
        onderwerp: format!("Bericht {index} van batch {batch_no}"),
        tekst: spec.tekst.clone(),
        referentie: spec.referentie.clone(),
        publicatie_datum: spec
            .publicatie_secs
            .map(|s| Timestamp::UNIX_EPOCH + SignedDuration::from_secs(s)),
        bijlagen: spec
            .bijlagen
            .iter()
            .enumerate()
            .map(|(volgorde, &size)| Bijlage {
                omschrijving: format!("Bijlage {volgorde}"),
                mediatype: if volgorde == 0 {
                    "application/pdf".to_owned()
                } else {
                    "image/png".to_owned()
                },
                inhoud: bytes(batch_no * 1000 + index as u64 * 3 + volgorde as u64, size),
            })
            .collect(),
    }
}

fn build(batch_no: u64, spec: &BatchSpec) -> Batch {
    Batch {
        oin: OINS[spec.oin].to_owned(),
        batch_id: guid(batch_no, 0xffff_ffff),
        aanmaak_datum: Timestamp::UNIX_EPOCH + SignedDuration::from_secs(spec.aanmaak_secs),
        berichten: spec
            .berichten
            .iter()
            .enumerate()
            .map(|(i, b)| bericht(batch_no, i, b))
            .collect(),
    }
}

fn mutate(batch: &mut Batch, mutation: &Mutation) {
    match mutation {
        Mutation::Tekst(i) => {
            let i = i.index(batch.berichten.len());
            batch.berichten[i].tekst.push('x');
        }
        Mutation::DropLast if batch.berichten.len() > 1 => {
            batch.berichten.pop();
        }
        Mutation::AttachmentByte(i) => {
            let with_bytes: Vec<&mut Bijlage> = batch
                .berichten
                .iter_mut()
                .flat_map(|b| b.bijlagen.iter_mut())
                .filter(|b| !b.inhoud.is_empty())
                .collect();
            if with_bytes.is_empty() {
                batch.berichten[0].onderwerp.push('!');
            } else {
                let n = with_bytes.len();
                let bijlage = with_bytes.into_iter().nth(i.index(n));
                if let Some(bijlage) = bijlage {
                    let last = bijlage.inhoud.len() - 1;
                    bijlage.inhoud[last] ^= 0x01;
                }
            }
        }
        Mutation::AanmaakDatum => {
            batch.aanmaak_datum += SignedDuration::from_secs(1);
        }
        Mutation::DropLast | Mutation::ExtraBericht => {
            let mut extra = batch.berichten[0].clone();
            extra.bericht_id = guid(0xeeee_eeee, batch.berichten.len() as u64);
            batch.berichten.push(extra);
        }
    }
}

/// A batch as the model expects it stored: `arrival` is its index in `Model::batches`.
#[derive(Debug)]
struct Known {
    batch: Batch,
    digest: [u8; 32],
    ontvangen_op: Timestamp,
    /// Known once the store has answered `Parked`.
    record: Option<BatchRecord>,
}

/// What the store must answer to one submitted park.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Parked(usize),
    Duplicate(usize),
    Conflict(usize),
}

#[derive(Debug, Default)]
struct Model {
    /// Every batch that is expected parked, in submission (= arrival) order.
    batches: Vec<Known>,
    by_key: HashMap<(String, String), usize>,
    next_batch_no: u64,
    /// Seconds since the epoch of the next `ontvangen_op`; grows with every submission.
    clock: i64,
}

impl Model {
    fn ontvangen_op(&mut self) -> Timestamp {
        self.clock += 1;
        Timestamp::UNIX_EPOCH + SignedDuration::from_secs(1_700_000_000 + self.clock)
    }

    /// The concrete batch of a delivery, or `None` when it refers to earlier batches and there
    /// are none yet.
    fn resolve(&mut self, delivery: &Delivery) -> Option<Batch> {
        match delivery {
            Delivery::New(spec) => {
                self.next_batch_no += 1;
                Some(build(self.next_batch_no, spec))
            }
            Delivery::Redeliver(i) => {
                let n = self.batches.len();
                (n > 0).then(|| self.batches[i.index(n)].batch.clone())
            }
            Delivery::Conflict(i, mutation) => {
                let n = self.batches.len();
                (n > 0).then(|| {
                    let mut batch = self.batches[i.index(n)].batch.clone();
                    mutate(&mut batch, mutation);
                    batch
                })
            }
            Delivery::OtherAfnemer(i, oin) => {
                let n = self.batches.len();
                (n > 0).then(|| {
                    let mut batch = self.batches[i.index(n)].batch.clone();
                    batch.oin = OINS[*oin].to_owned();
                    batch
                })
            }
        }
    }

    /// The answer the store must give to `batch` submitted now, with the model updated as if it
    /// was given.
    fn expect(&mut self, batch: &Batch, digest: [u8; 32], ontvangen_op: Timestamp) -> Expect {
        let key = (batch.oin.clone(), batch.batch_id.clone());
        match self.by_key.get(&key) {
            Some(&i) if self.batches[i].digest == digest => Expect::Duplicate(i),
            Some(&i) => Expect::Conflict(i),
            None => {
                let i = self.batches.len();
                self.by_key.insert(key, i);
                self.batches.push(Known {
                    batch: batch.clone(),
                    digest,
                    ontvangen_op,
                    record: None,
                });
                Expect::Parked(i)
            }
        }
    }
}

/// Submits deliveries without waiting, then awaits every answer and checks it.
fn deliver(
    store: &dyn Store,
    model: &mut Model,
    deliveries: &[Delivery],
) -> Result<(), TestCaseError> {
    let mut in_flight: Vec<(Expect, &Delivery, ParkReceipt)> = Vec::new();
    for delivery in deliveries {
        let Some(batch) = model.resolve(delivery) else {
            continue;
        };
        let digest = batch.content_digest();
        let ontvangen_op = model.ontvangen_op();
        let expect = model.expect(&batch, digest, ontvangen_op);
        match (delivery, expect) {
            (Delivery::New(_), Expect::Parked(_))
            | (Delivery::Redeliver(_), Expect::Duplicate(_))
            | (Delivery::Conflict(..), Expect::Conflict(_))
            | (Delivery::OtherAfnemer(..), _) => {}
            (delivery, expect) => {
                return Err(TestCaseError::fail(format!(
                    "test model: {delivery:?} resolved to {expect:?}"
                )));
            }
        }
        let receipt = store
            .submit_park(ParkRequest {
                batch,
                digest,
                ontvangen_op,
            })
            .map_err(|e| TestCaseError::fail(format!("submit_park: {e}")))?;
        in_flight.push((expect, delivery, receipt));
    }
    for (expect, delivery, receipt) in in_flight {
        let outcome = receipt
            .blocking_recv()
            .map_err(|_| TestCaseError::fail("the park receipt was dropped unanswered"))?
            .map_err(|e| TestCaseError::fail(format!("park failed: {e}")))?;
        match (expect, outcome) {
            (Expect::Parked(i), ParkOutcome::Parked(record)) => {
                let known = &mut model.batches[i];
                let batch = &known.batch;
                prop_assert_eq!(&record.oin, &batch.oin);
                prop_assert_eq!(&record.batch_id, &batch.batch_id);
                prop_assert_eq!(record.digest, known.digest);
                prop_assert_eq!(record.ontvangen_op, known.ontvangen_op);
                prop_assert_eq!(record.aantal_berichten as usize, batch.len());
                prop_assert_eq!(record.status, BatchStatus::Geparkeerd);
                prop_assert!(usize::from(record.shard) < store.shard_count());
                known.record = Some(record);
            }
            (Expect::Duplicate(i), ParkOutcome::Duplicate(record))
            | (Expect::Conflict(i), ParkOutcome::Conflict(record)) => {
                // The first delivery's record, its `ontvangen_op` included.
                prop_assert_eq!(Some(&record), model.batches[i].record.as_ref());
            }
            (expect, outcome) => {
                return Err(TestCaseError::fail(format!(
                    "{delivery:?}: expected {expect:?}, the store answered {outcome:?}"
                )));
            }
        }
    }
    Ok(())
}

/// Reads every shard back and compares it with the model.
fn verify(store: &dyn Store, model: &Model, page: usize) -> Result<(), TestCaseError> {
    let shards = store.shard_count();
    // (shard, seq) -> (arrival of its batch, index in its batch)
    let mut expected: HashMap<(usize, u64), (usize, usize)> = HashMap::new();
    let mut per_shard = vec![0u64; shards];
    for (arrival, known) in model.batches.iter().enumerate() {
        let record = known
            .record
            .as_ref()
            .ok_or_else(|| TestCaseError::fail("a submitted batch has no record"))?;
        let found = store
            .find_batch(&known.batch.oin, &known.batch.batch_id)
            .map_err(|e| TestCaseError::fail(format!("find_batch: {e}")))?;
        prop_assert_eq!(found.as_ref(), Some(record));
        let shard = usize::from(record.shard);
        per_shard[shard] += u64::from(record.aantal_berichten);
        for index in 0..known.batch.len() {
            let previous =
                expected.insert((shard, record.first_seq + index as u64), (arrival, index));
            prop_assert!(
                previous.is_none(),
                "two berichten with seq {} in shard {}",
                record.first_seq + index as u64,
                shard
            );
        }
    }
    for oin in OINS {
        let unknown = store
            .find_batch(oin, &guid(0xdddd_dddd, 0xffff_ffff))
            .map_err(|e| TestCaseError::fail(format!("find_batch: {e}")))?;
        prop_assert_eq!(unknown, None);
    }

    for (shard, &parked) in per_shard.iter().enumerate() {
        let mut stored_berichten: Vec<ParkedBericht> = Vec::new();
        let mut after = None;
        loop {
            let got = store
                .parked_berichten(shard, after, page)
                .map_err(|e| TestCaseError::fail(format!("parked_berichten: {e}")))?;
            prop_assert!(got.len() <= page);
            let Some(last) = got.last() else { break };
            after = Some(last.seq);
            let full = got.len() == page;
            stored_berichten.extend(got);
            if !full {
                break;
            }
        }
        let mut previous: Option<(u64, (usize, usize))> = None;
        for stored in &stored_berichten {
            let Some((arrival, index)) = expected.remove(&(shard, stored.seq)) else {
                return Err(TestCaseError::fail(format!(
                    "shard {shard} holds a bericht the model does not (or holds it twice): {stored:?}"
                )));
            };
            if let Some((seq, order)) = previous {
                prop_assert!(seq < stored.seq, "seq not increasing in shard {}", shard);
                prop_assert!(
                    order < (arrival, index),
                    "shard {} orders {:?} before {:?}",
                    shard,
                    order,
                    (arrival, index)
                );
            }
            previous = Some((stored.seq, (arrival, index)));
            check_stored(store, shard, &model.batches[arrival], index, stored)?;
        }
        let stats = &store.shard_stats()[shard];
        prop_assert_eq!(stats.shard, shard);
        prop_assert_eq!(stats.parked_berichten, parked);
        if let Some((seq, _)) = previous {
            prop_assert!(stats.next_seq > seq);
        }
    }
    prop_assert!(
        expected.is_empty(),
        "berichten missing from the store: {:?}",
        expected
    );
    Ok(())
}

fn check_stored(
    store: &dyn Store,
    shard: usize,
    known: &Known,
    index: usize,
    stored: &ParkedBericht,
) -> Result<(), TestCaseError> {
    let batch = &known.batch;
    let bericht = &batch.berichten[index];
    prop_assert_eq!(&stored.oin, &batch.oin);
    prop_assert_eq!(&stored.batch_id, &batch.batch_id);
    prop_assert_eq!(stored.index as usize, index);
    prop_assert_eq!(&stored.inhoud.bericht_id, &bericht.bericht_id);
    prop_assert_eq!(&stored.inhoud.bericht_type, &bericht.bericht_type);
    prop_assert_eq!(&stored.ontvanger, &bericht.ontvanger);
    prop_assert_eq!(&stored.inhoud.onderwerp, &bericht.onderwerp);
    prop_assert_eq!(&stored.inhoud.tekst, &bericht.tekst);
    prop_assert_eq!(&stored.inhoud.referentie, &bericht.referentie);
    prop_assert_eq!(stored.aanmaak_datum, batch.aanmaak_datum);
    prop_assert_eq!(stored.inhoud.publicatie_datum, bericht.publicatie_datum);
    prop_assert_eq!(stored.ontvangen_op, known.ontvangen_op);
    prop_assert_eq!(stored.inhoud.bijlagen.len(), bericht.bijlagen.len());
    for (volgorde, (reference, bijlage)) in stored
        .inhoud
        .bijlagen
        .iter()
        .zip(&bericht.bijlagen)
        .enumerate()
    {
        prop_assert_eq!(usize::from(reference.shard), shard);
        prop_assert_eq!(reference.seq, stored.seq);
        prop_assert_eq!(usize::from(reference.volgorde), volgorde);
        prop_assert_eq!(&reference.omschrijving, &bijlage.omschrijving);
        prop_assert_eq!(&reference.mediatype, &bijlage.mediatype);
        prop_assert_eq!(reference.size_bytes as usize, bijlage.inhoud.len());
        let stored = store
            .bijlage(reference)
            .map_err(|e| TestCaseError::fail(format!("bijlage: {e}")))?;
        prop_assert!(
            stored.as_deref() == Some(bijlage.inhoud.as_slice()),
            "attachment {:?} differs: {:?} bytes stored, {} sent",
            reference,
            stored.as_ref().map(Vec::len),
            bijlage.inhoud.len()
        );
    }
    Ok(())
}

/// Runs `ops` on a fresh store of `shards` shards, checking everything after each operation
/// (reading parked berichten in pages of `page`) and once more after a final restart.
pub fn run(
    backend: &mut dyn Backend,
    shards: usize,
    page: usize,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut model = Model::default();
    let mut store = backend.open(shards);
    for op in ops {
        match op {
            Op::Deliver(delivery) => deliver(&*store, &mut model, std::slice::from_ref(delivery))?,
            Op::Burst(deliveries) => deliver(&*store, &mut model, deliveries)?,
            Op::Restart => store = backend.reopen(store),
        }
        verify(&*store, &model, page)?;
    }
    let store = backend.reopen(store);
    verify(&*store, &model, page)
}

/// The model's property on `backend`: 24 random runs on 2 or 3 shards, read back in pages of
/// 1, a few, or all.
pub fn parking_model(backend: &mut dyn Backend) {
    let mut runner = super::model_runner();
    let strategy = (
        2usize..=3,
        prop_oneof![Just(1usize), 2usize..16, Just(1000usize)],
        prop::collection::vec(op(), 1..30),
    );
    let backend = std::cell::RefCell::new(backend);
    let result = runner.run(&strategy, |(shards, page, ops)| {
        run(&mut **backend.borrow_mut(), shards, page, &ops)
    });
    if let Err(failure) = result {
        panic!("the parking model fails: {failure}");
    }
}
