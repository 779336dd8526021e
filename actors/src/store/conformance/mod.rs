//! The store conformance suite: what any backend must do, written once over the roles.
//!
//! Each check is a `pub fn` over a [`Backend`] (a factory of fresh, empty stores that can also
//! close one and open it again on the same data) and panics when the backend breaks the
//! contract. [`store_conformance_tests!`](crate::store_conformance_tests) stamps one `#[test]`
//! per check for a backend; the embedded store runs it in `store/embedded/tests.rs`, and a
//! ScyllaDB backend will run the same list.
//!
//! What is checked, by role:
//!
//! - Parking: a batch is parked whole (every bericht and bijlage read back, consecutive
//!   sequence numbers) or not at all (a refused park leaves nothing); the same batch again is
//!   `Duplicate`, the same id with other content `Conflict`, also when submitted concurrently
//!   and after a restart; within a shard, arrival (`ontvangenOp`, sequence) order.
//! - Processing: `parked_batches` answers whole batches in order within its bound; only
//!   `complete` makes a batch processed, once; claims and deliveries are idempotent on retry;
//!   an earlier parked copy of a berichtId in another shard holds a later copy back.
//! - Receipts: each completed receipt appears in its afnemer's feed exactly once, in order,
//!   never before the clock has passed its stamp, on pages bounded by receipts and by their
//!   bericht outcomes; the webhook outbox holds a receipt until it
//!   is removed.
//! - Notifications: each shard's queue is in arrival order; berichten published later wait
//!   until due; removal of a prefix leaves the rest.
//! - Isolation: one afnemer's batches, receipts, outbox and berichtIds are not another's; one
//!   citizen's box, account and voorkeuren are not another's.
//! - Reports and the catalog: tellingen count once, records round-trip.
//! - Abonnementen: a verzoek is stored only within its night's quota (taken in the same write,
//!   durably), once per (oin, id); a `bsn-lijst` reads back in the order given from any
//!   position; a deleted verzoek takes its BSNs with it; quotas count to their limit and are
//!   forgotten only when expired; the extracts' paged reads (active accounts with their
//!   refusals, mutaties since a moment per scope) list everything exactly once; only a change
//!   of `actief` or `digitaal` is a mutatie.
//! - Portaal: a completion indexes exactly its receipt's berichten decided otherwise than
//!   `Verwerkt` (code, stadium, batch, berichtId, `verwerktOp`, Amsterdam day); the index is
//!   filtered by day and code, paged once each in its documented order over shards and days,
//!   never answers another afnemer's, and expires with the receipts, not before; recent
//!   batches are the feed backwards, paged; an afnemer's tellingen are `tellingen` restricted
//!   to it; sessions round-trip, survive a restart, end and expire.
//! - [`park_model`]: a property test of parking against a model, with bursts and restarts.
//! - [`abonnementen_model`]: a property test of the Abonnementservice's `mutaties` and
//!   `volledig` results (through the runner) against a model of boxes and voorkeuren.
//!
//! Compiled for this crate's tests and with the `conformance` feature; it does no I/O of its
//! own beyond the store's, and never reads the system clock (a `ManualClock` drives it).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use super::{
    Aanmelding, Aanvraag, AccountRecord, ActiefAccount, AfnemerRecord, AfwijzingCursor,
    AfwijzingFilter, AfwijzingRecord, ApiKeyRecord, BatchRecord, BatchStatus, BerichtClaim,
    BerichtInhoud, BerichtUitkomst, BerichttypeRecord, BoxEntry, BoxId, CapWindowRecord,
    Completion, DagTelling, Delivery, Expired, Expiring, MutatiePlek, ParkOutcome, ParkRequest,
    ParkedBatch, PrognoseRecord, Receipt, RetentionPeriods, RunRecord, SessieRecord, Soort, Store,
    VerzoekRecord, VerzoekStatus, VoorkeurRecord, WebhookJob, wil_digitaal,
};
use crate::core::clock::{ManualClock, SharedClock};
use crate::core::model::{Batch, Bericht, Bijlage};
use crate::core::verwerking::{Stadium, VerwerkingsCode};

/// The runner of the model-based property tests: 24 cases each, no failure files (a failure
/// prints its minimal case).
fn model_runner() -> proptest::test_runner::TestRunner {
    proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 24,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    })
}

pub mod abonnementen_model;
pub mod park_model;

pub use abonnementen_model::abonnementen_model;
pub use park_model::parking_model;

/// A backend under test.
pub trait Backend {
    /// Opens a fresh, empty store of `shards` shards.
    fn open(&mut self, shards: usize) -> Arc<dyn Store>;

    /// Closes the store last opened (the caller gives up its handle) and opens it again on the
    /// same data: a restart.
    fn reopen(&mut self, store: Arc<dyn Store>) -> Arc<dyn Store>;
}

/// Stamps one `#[test]` per conformance check, each on a backend made by `$backend`.
#[macro_export]
macro_rules! store_conformance_tests {
    ($backend:expr) => {
        $crate::store_conformance_tests!(@each $backend;
            parks_a_batch_whole_and_reads_it_back,
            a_refused_park_leaves_nothing,
            a_redelivery_is_a_duplicate_and_other_content_a_conflict,
            concurrent_deliveries_of_one_batch_park_it_once,
            batch_ids_belong_to_their_afnemer,
            a_shard_keeps_arrival_order,
            parked_batches_are_whole_and_bounded,
            complete_processes_a_batch_once_and_feeds_its_receipt_once,
            the_receipt_feed_is_per_afnemer_and_grows_at_its_end,
            feed_pages_are_bounded_by_their_berichten,
            the_webhook_outbox_holds_a_receipt_until_removed,
            claims_are_idempotent_and_the_first_holder_keeps_them,
            an_earlier_parked_copy_holds_a_later_one_back,
            deliveries_are_idempotent_and_boxes_are_private,
            notifications_are_queued_in_arrival_order,
            citizens_are_private,
            tellingen_count_parks_and_completions_once,
            catalog_and_reports_round_trip,
            a_revoked_api_key_stays_revoked,
            vraag_aan_stores_within_the_quota_durably,
            verzoek_bsns_pages_across_parts_in_the_order_given,
            delete_verzoek_removes_it_with_its_bsns,
            take_quotum_counts_to_its_limit_and_expires,
            actieve_accounts_pages_through_each_shard,
            mutaties_page_in_time_order_per_scope,
            only_changes_write_mutaties,
            concurrent_account_changes_are_never_lost,
            afwijzingen_index_each_rejected_bericht_of_a_receipt,
            afwijzingen_filter_by_day_and_code,
            afwijzingen_page_each_once_in_order,
            afwijzingen_expire_with_their_receipts,
            recente_batches_newest_first_and_own,
            afnemer_tellingen_are_the_afnemers_own,
            sessies_round_trip_expire_and_survive_a_restart,
            parking_model,
            abonnementen_model
        );
    };
    (@each $backend:expr; $($check:ident),+ $(,)?) => {
        $(
            #[test]
            fn $check() {
                let mut backend = $backend;
                $crate::store::conformance::$check(&mut backend);
            }
        )+
    };
}

pub(crate) const OIN_A: &str = "00000001000000000001";
pub(crate) const OIN_B: &str = "00000001000000000002";
const OIN_C: &str = "00000001000000000003";
pub(crate) const BSN_X: &str = "999993653";
const BSN_Y: &str = "999990019";

pub(crate) fn ts(text: &str) -> Timestamp {
    text.parse().expect("a timestamp")
}

pub(crate) fn guid(a: u32, b: u64) -> String {
    format!("{a:08x}-0000-4000-8000-{b:012x}")
}

/// A batch of `n` berichten for `BSN_X`, the even ones with a bijlage of a few hundred bytes;
/// `no` makes its ids unique.
pub(crate) fn batch(oin: &str, no: u32, n: u32) -> Batch {
    Batch {
        oin: oin.to_owned(),
        batch_id: guid(no, 0xffff_ffff),
        aanmaak_datum: ts("2026-11-01T08:00:00Z"),
        berichten: (0..n)
            .map(|i| Bericht {
                bericht_id: guid(no, u64::from(i)),
                bericht_type: "AANSLAG".to_owned(),
                ontvanger: BSN_X.to_owned(),
                onderwerp: format!("bericht {i} van batch {no}"),
                tekst: format!("tekst {i}"),
                referentie: (i % 3 == 0).then(|| format!("REF-{i}")),
                publicatie_datum: None,
                bijlagen: if i % 2 == 0 {
                    vec![Bijlage {
                        omschrijving: format!("bijlage {i}"),
                        mediatype: "application/pdf".to_owned(),
                        inhoud: (0..300 + i).map(|b| (b ^ no) as u8).collect(),
                    }]
                } else {
                    Vec::new()
                },
            })
            .collect(),
    }
}

fn request(batch: Batch, ontvangen_op: Timestamp) -> ParkRequest {
    ParkRequest {
        digest: batch.content_digest(),
        batch,
        ontvangen_op,
    }
}

/// Parks and waits for the answer after the sync.
pub(crate) fn park(store: &dyn Store, batch: Batch, ontvangen_op: Timestamp) -> ParkOutcome {
    store
        .submit_park(request(batch, ontvangen_op))
        .expect("submit the park")
        .blocking_recv()
        .expect("the park is answered")
        .expect("the park succeeds")
}

pub(crate) fn parked(outcome: ParkOutcome) -> BatchRecord {
    match outcome {
        ParkOutcome::Parked(record) => record,
        other => panic!("expected Parked, got {other:?}"),
    }
}

fn total_parked(store: &dyn Store) -> usize {
    (0..store.shard_count())
        .map(|shard| {
            store
                .parked_berichten(shard, None, usize::MAX)
                .expect("parked berichten")
                .len()
        })
        .sum()
}

pub(crate) fn manual_clock(at: &str) -> (Arc<ManualClock>, SharedClock) {
    let manual = Arc::new(ManualClock::new(ts(at)));
    (manual.clone(), SharedClock::new(manual))
}

/// The completion of a parked batch: every bericht `Verwerkt`, except those at the positions
/// in `rejected`.
pub(crate) fn completion(batch: &ParkedBatch, rejected: &[usize], webhook: bool) -> Completion {
    let mut record = batch.record.clone();
    record.status = BatchStatus::Verwerkt;
    let mut drop_bijlagen = Vec::new();
    let berichten = batch
        .berichten
        .iter()
        .enumerate()
        .map(|(position, bericht)| {
            let code = if rejected.contains(&position) {
                drop_bijlagen.extend(bericht.inhoud.bijlagen.iter().cloned());
                VerwerkingsCode::NietActiefOfGeabonneerd
            } else {
                VerwerkingsCode::Verwerkt
            };
            BerichtUitkomst {
                bericht_id: bericht.inhoud.bericht_id.clone(),
                code,
                stadium: Stadium::NA,
            }
        })
        .collect();
    record.receipt = Some(Receipt {
        verwerkt_op: Timestamp::UNIX_EPOCH,
        berichten,
    });
    Completion {
        record,
        drop_bijlagen,
        webhook,
    }
}

/// Completes the first parked batch of every shard (a prefix), answering their records.
fn complete_first_of_each_shard(
    store: &dyn Store,
    clock: &SharedClock,
    webhook: bool,
) -> Vec<BatchRecord> {
    let mut done = Vec::new();
    for shard in 0..store.shard_count() {
        let batches = store.parked_batches(shard, 1).expect("parked batches");
        let Some(first) = batches.first() else {
            continue;
        };
        store
            .complete(shard, vec![completion(first, &[], webhook)], clock)
            .expect("complete");
        done.push(first.record.clone());
    }
    done
}

/// Every receipt in an afnemer's feed, followed page by page.
fn whole_feed(
    store: &dyn Store,
    oin: &str,
    clock: &SharedClock,
) -> Vec<(super::ReceiptCursor, BatchRecord)> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .receipt_feed(oin, after, 2, usize::MAX, clock)
            .expect("receipt feed")
            .receipts;
        let Some((last, _)) = page.last() else {
            return all;
        };
        after = Some(*last);
        all.extend(page);
    }
}

/// Parking: a batch is parked whole and read back as it was sent, also after a restart.
pub fn parks_a_batch_whole_and_reads_it_back(backend: &mut dyn Backend) {
    let store = backend.open(2);
    let sent = batch(OIN_A, 1, 5);
    let at = ts("2026-11-03T12:00:00Z");
    let record = parked(park(&*store, sent.clone(), at));
    assert_eq!(record.oin, OIN_A);
    assert_eq!(record.batch_id, sent.batch_id);
    assert_eq!(record.digest, sent.content_digest());
    assert_eq!(record.aantal_berichten, 5);
    assert_eq!(record.status, BatchStatus::Geparkeerd);
    assert!(record.receipt.is_none());
    assert!(record.ontvangen_op >= at, "stamped before it arrived");
    assert!(usize::from(record.shard) < store.shard_count());

    let mut store = backend.reopen(store);
    for restart in [false, true] {
        if restart {
            store = backend.reopen(store);
        }
        let found = store.find_batch(OIN_A, &sent.batch_id).expect("find");
        assert_eq!(found.as_ref(), Some(&record));
        let shard = usize::from(record.shard);
        let berichten = store
            .parked_berichten(shard, None, usize::MAX)
            .expect("parked berichten");
        assert_eq!(berichten.len(), 5, "the whole batch and nothing else");
        assert_eq!(total_parked(&*store), 5);
        for (index, (parked, bericht)) in berichten.iter().zip(&sent.berichten).enumerate() {
            assert_eq!(parked.seq, record.first_seq + index as u64);
            assert_eq!(parked.index as usize, index);
            assert_eq!(parked.oin, OIN_A);
            assert_eq!(parked.batch_id, sent.batch_id);
            assert_eq!(parked.inhoud.bericht_id, bericht.bericht_id);
            assert_eq!(parked.ontvanger, bericht.ontvanger);
            assert_eq!(parked.inhoud.onderwerp, bericht.onderwerp);
            assert_eq!(parked.inhoud.tekst, bericht.tekst);
            assert_eq!(parked.inhoud.referentie, bericht.referentie);
            assert_eq!(parked.aanmaak_datum, sent.aanmaak_datum);
            assert_eq!(parked.ontvangen_op, record.ontvangen_op);
            assert_eq!(parked.inhoud.bijlagen.len(), bericht.bijlagen.len());
            for (reference, bijlage) in parked.inhoud.bijlagen.iter().zip(&bericht.bijlagen) {
                assert_eq!(reference.mediatype, bijlage.mediatype);
                assert_eq!(reference.size_bytes as usize, bijlage.inhoud.len());
                let bytes = store.bijlage(reference).expect("read a bijlage");
                assert_eq!(bytes.as_deref(), Some(bijlage.inhoud.as_slice()));
            }
        }
        let batches = store
            .parked_batches(shard, usize::MAX)
            .expect("parked batches");
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].record, record);
        assert_eq!(batches[0].berichten, berichten);
        assert_eq!(store.shard_stats()[shard].parked_berichten, 5);
        assert_eq!(
            store.oldest_parked(shard).expect("oldest parked"),
            Some(record.ontvangen_op)
        );
    }
}

/// Parking: a park refused (the store is closed) leaves nothing behind, nor does a conflict.
pub fn a_refused_park_leaves_nothing(backend: &mut dyn Backend) {
    let store = backend.open(2);
    let first = parked(park(
        &*store,
        batch(OIN_A, 1, 3),
        ts("2026-11-03T12:00:00Z"),
    ));
    let mut other = batch(OIN_A, 1, 4);
    other.berichten[0].tekst.push('!');
    assert!(matches!(
        park(&*store, other, ts("2026-11-03T12:00:01Z")),
        ParkOutcome::Conflict(_)
    ));
    assert_eq!(total_parked(&*store), 3, "a conflict writes nothing");

    store.close().expect("close");
    let refused = store.submit_park(request(batch(OIN_A, 2, 3), ts("2026-11-03T12:00:02Z")));
    let refused = match refused {
        Err(_) => true,
        Ok(receipt) => receipt
            .blocking_recv()
            .map_or(true, |answer| answer.is_err()),
    };
    assert!(refused, "a closed store parks nothing");
    assert!(store.health().is_err(), "a closed store is not healthy");
    let store = backend.reopen(store);
    assert_eq!(
        store
            .find_batch(OIN_A, &batch(OIN_A, 2, 3).batch_id)
            .expect("find"),
        None
    );
    assert_eq!(total_parked(&*store), 3);
    assert_eq!(
        store.find_batch(OIN_A, &first.batch_id).expect("find"),
        Some(first)
    );
}

/// Parking: the same batch again is `Duplicate`, the same id with other content `Conflict`,
/// each with the first delivery's record, before and after a restart.
pub fn a_redelivery_is_a_duplicate_and_other_content_a_conflict(backend: &mut dyn Backend) {
    let mut store = backend.open(3);
    let sent = batch(OIN_A, 7, 4);
    let record = parked(park(&*store, sent.clone(), ts("2026-11-03T12:00:00Z")));
    for restart in [false, true] {
        if restart {
            store = backend.reopen(store);
        }
        assert_eq!(
            park(&*store, sent.clone(), ts("2026-11-03T13:00:00Z")),
            ParkOutcome::Duplicate(record.clone())
        );
        let mut changed = sent.clone();
        changed.berichten[3].onderwerp.push('?');
        assert_eq!(
            park(&*store, changed, ts("2026-11-03T13:00:01Z")),
            ParkOutcome::Conflict(record.clone())
        );
        let mut fewer = sent.clone();
        fewer.berichten.pop();
        assert_eq!(
            park(&*store, fewer, ts("2026-11-03T13:00:02Z")),
            ParkOutcome::Conflict(record.clone())
        );
        assert_eq!(total_parked(&*store), 4, "nothing was parked twice");
    }
}

/// Parking: deliveries of one batch id submitted together park it once; the others get the
/// winner's record, `Duplicate` for the same content and `Conflict` for other content.
pub fn concurrent_deliveries_of_one_batch_park_it_once(backend: &mut dyn Backend) {
    let store = backend.open(2);
    let same = batch(OIN_A, 3, 2);
    let mut other = same.clone();
    other.berichten[1].tekst.push('x');
    let at = ts("2026-11-03T12:00:00Z");
    let receipts: Vec<_> = [same.clone(), other, same.clone(), same]
        .into_iter()
        .map(|b| {
            let digest = b.content_digest();
            let receipt = store.submit_park(request(b, at)).expect("submit");
            (digest, receipt)
        })
        .collect();
    let answers: Vec<_> = receipts
        .into_iter()
        .map(|(digest, receipt)| {
            let outcome = receipt
                .blocking_recv()
                .expect("answered")
                .expect("no error");
            (digest, outcome)
        })
        .collect();
    let winners: Vec<&BatchRecord> = answers
        .iter()
        .filter_map(|(_, outcome)| match outcome {
            ParkOutcome::Parked(record) => Some(record),
            _ => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "exactly one delivery parks: {answers:?}");
    let winner = winners[0].clone();
    for (digest, outcome) in &answers {
        match outcome {
            ParkOutcome::Parked(_) => {}
            ParkOutcome::Duplicate(record) => {
                assert_eq!(record, &winner);
                assert_eq!(*digest, winner.digest);
            }
            ParkOutcome::Conflict(record) => {
                assert_eq!(record, &winner);
                assert_ne!(*digest, winner.digest);
            }
        }
    }
    assert_eq!(total_parked(&*store), 2);
}

/// Isolation: a batch id is the afnemer's own; another afnemer may use it for its own batch.
pub fn batch_ids_belong_to_their_afnemer(backend: &mut dyn Backend) {
    let store = backend.open(3);
    let at = ts("2026-11-03T12:00:00Z");
    let a = parked(park(&*store, batch(OIN_A, 9, 2), at));
    let mut for_b = batch(OIN_A, 9, 2);
    for_b.oin = OIN_B.to_owned();
    let b = parked(park(&*store, for_b, at));
    assert_ne!(a, b);
    assert_eq!(b.oin, OIN_B);
    let id = &a.batch_id.clone();
    assert_eq!(store.find_batch(OIN_A, id).expect("find"), Some(a));
    assert_eq!(store.find_batch(OIN_B, id).expect("find"), Some(b));
    assert_eq!(store.find_batch(OIN_C, id).expect("find"), None);
    assert_eq!(total_parked(&*store), 4);
}

/// Parking: within a shard, batches keep the order they were parked in: sequence numbers grow,
/// `ontvangenOp` never goes back (even when a request's own time does), and reading in pages
/// sees each bericht once.
pub fn a_shard_keeps_arrival_order(backend: &mut dyn Backend) {
    let store = backend.open(3);
    let start = ts("2026-11-03T12:00:00Z");
    let mut order: Vec<BatchRecord> = Vec::new();
    for no in 0..12u32 {
        // Every third request carries a time before the previous ones.
        let offset = if no % 3 == 2 { -60 } else { i64::from(no) };
        let at = start + jiff::SignedDuration::from_secs(offset);
        let record = parked(park(&*store, batch(OIN_A, 100 + no, 1 + no % 4), at));
        assert!(record.ontvangen_op >= at);
        order.push(record);
    }
    for shard in 0..store.shard_count() {
        let mine: Vec<&BatchRecord> = order
            .iter()
            .filter(|r| usize::from(r.shard) == shard)
            .collect();
        for pair in mine.windows(2) {
            assert!(pair[0].first_seq + u64::from(pair[0].aantal_berichten) <= pair[1].first_seq);
            assert!(pair[0].ontvangen_op <= pair[1].ontvangen_op);
        }
        let batches = store
            .parked_batches(shard, usize::MAX)
            .expect("parked batches");
        let ids: Vec<&str> = batches.iter().map(|b| b.record.batch_id.as_str()).collect();
        let expected: Vec<&str> = mine.iter().map(|r| r.batch_id.as_str()).collect();
        assert_eq!(ids, expected, "shard {shard} reorders its batches");

        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .parked_berichten(shard, after, 2)
                .expect("parked berichten");
            assert!(page.len() <= 2);
            let Some(last) = page.last() else { break };
            after = Some(last.seq);
            paged.extend(page);
        }
        let all = store
            .parked_berichten(shard, None, usize::MAX)
            .expect("parked berichten");
        assert_eq!(paged, all);
        assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
        assert!(
            all.windows(2)
                .all(|w| w[0].ontvangen_op <= w[1].ontvangen_op)
        );
    }
}

/// Processing: `parked_batches` answers whole batches, at least one, and stops taking batches
/// once it holds the bound's berichten.
pub fn parked_batches_are_whole_and_bounded(backend: &mut dyn Backend) {
    let store = backend.open(1);
    let at = ts("2026-11-03T12:00:00Z");
    for (no, n) in [(1, 3), (2, 4), (3, 5)] {
        parked(park(&*store, batch(OIN_A, no, n), at));
    }
    for bound in [0, 1, 3, 4, 7, 8, 100] {
        let batches = store.parked_batches(0, bound).expect("parked batches");
        assert!(!batches.is_empty(), "at least one batch (bound {bound})");
        for batch in &batches {
            assert_eq!(
                batch.berichten.len(),
                batch.record.aantal_berichten as usize,
                "a batch is read whole"
            );
            let seqs: Vec<u64> = batch.berichten.iter().map(|b| b.seq).collect();
            let expected: Vec<u64> = (batch.record.first_seq..)
                .take(batch.berichten.len())
                .collect();
            assert_eq!(seqs, expected);
        }
        // Batches are whole, so only the last one taken may carry the read over its bound.
        let before_last: usize = batches[..batches.len() - 1]
            .iter()
            .map(|b| b.berichten.len())
            .sum();
        assert!(
            batches.len() == 1 || before_last < bound,
            "bound {bound}: {before_last} berichten before the last batch"
        );
    }
    assert_eq!(
        store.parked_batches(0, usize::MAX).expect("all").len(),
        3,
        "an unbounded read takes every batch"
    );
}

/// Processing and receipts: `complete` makes a batch processed once (its berichten leave the
/// parked ones, its record gets the receipt); its receipt appears in the feed once.
pub fn complete_processes_a_batch_once_and_feeds_its_receipt_once(backend: &mut dyn Backend) {
    let store = backend.open(2);
    let (manual, clock) = manual_clock("2026-11-03T12:00:00Z");
    let mut sent = Vec::new();
    for no in 0..6u32 {
        let record = parked(park(&*store, batch(OIN_A, no, 2 + no % 2), clock.now()));
        sent.push(record);
        manual.advance(Duration::from_millis(10));
    }
    let mut completed: Vec<BatchRecord> = Vec::new();
    while total_parked(&*store) > 0 {
        manual.advance(Duration::from_secs(1));
        let stamped = clock.now();
        for record in complete_first_of_each_shard(&*store, &clock, false) {
            let found = store
                .find_batch(OIN_A, &record.batch_id)
                .expect("find")
                .expect("still there");
            assert_eq!(found.status, BatchStatus::Verwerkt);
            let receipt = found.receipt.as_ref().expect("a receipt");
            assert_eq!(receipt.verwerkt_op, stamped);
            assert_eq!(receipt.berichten.len(), record.aantal_berichten as usize);
            for shard in 0..store.shard_count() {
                for left in store.parked_batches(shard, usize::MAX).expect("parked") {
                    assert_ne!(
                        left.record.batch_id, record.batch_id,
                        "completed but parked"
                    );
                }
            }
            completed.push(found.clone());
        }
    }
    assert_eq!(completed.len(), sent.len());
    for shard in 0..store.shard_count() {
        assert_eq!(store.oldest_parked(shard).expect("oldest"), None);
        assert_eq!(store.shard_stats()[shard].parked_berichten, 0);
    }
    manual.advance(Duration::from_secs(1));
    let store = backend.reopen(store);
    let feed = whole_feed(&*store, OIN_A, &clock);
    let mut seen = HashSet::new();
    for (_, record) in &feed {
        assert!(
            seen.insert(record.batch_id.clone()),
            "a receipt appears twice"
        );
    }
    let expected: HashSet<String> = sent.iter().map(|r| r.batch_id.clone()).collect();
    assert_eq!(seen, expected, "every receipt appears once");
    assert!(
        feed.windows(2).all(|w| w[0].0 < w[1].0),
        "the feed is ordered by its cursor"
    );
}

/// Receipts and isolation: an afnemer's feed holds its own receipts only; a receipt stamped
/// now is answered once the clock has passed it, and lands after every cursor handed out.
pub fn the_receipt_feed_is_per_afnemer_and_grows_at_its_end(backend: &mut dyn Backend) {
    let store = backend.open(2);
    let (manual, clock) = manual_clock("2026-11-03T12:00:00Z");
    for (no, oin) in [(1, OIN_A), (2, OIN_B), (3, OIN_A), (4, OIN_B)] {
        parked(park(&*store, batch(oin, no, 1), clock.now()));
    }
    let mut cursor_a = None;
    let mut received_a = 0;
    while total_parked(&*store) > 0 {
        manual.advance(Duration::from_secs(1));
        let done = complete_first_of_each_shard(&*store, &clock, false);
        let a_now = done.iter().filter(|r| r.oin == OIN_A).count();
        // Stamped at this instant: not answered before the clock moves on.
        let page = store
            .receipt_feed(OIN_A, cursor_a, 100, usize::MAX, &clock)
            .expect("feed")
            .receipts;
        assert!(page.is_empty(), "a receipt was answered at its own instant");
        manual.advance(Duration::from_millis(1));
        let page = store
            .receipt_feed(OIN_A, cursor_a, 100, usize::MAX, &clock)
            .expect("feed")
            .receipts;
        assert_eq!(page.len(), a_now, "the new receipts come after the cursor");
        for (cursor, record) in &page {
            assert_eq!(record.oin, OIN_A);
            assert!(cursor_a.is_none_or(|before| before < *cursor));
        }
        received_a += page.len();
        if let Some((last, _)) = page.last() {
            cursor_a = Some(*last);
        }
    }
    assert_eq!(received_a, 2);
    let feed_b = whole_feed(&*store, OIN_B, &clock);
    assert_eq!(feed_b.len(), 2);
    assert!(feed_b.iter().all(|(_, record)| record.oin == OIN_B));
    assert!(whole_feed(&*store, OIN_C, &clock).is_empty());
}

/// Receipts: a page of the feed carries at most its bound of bericht outcomes, stopping
/// before the receipt that would take it over (but a first receipt over the bound whole), says
/// it is full when it stopped at a bound, and followed page by page yields every receipt once,
/// in order.
pub fn feed_pages_are_bounded_by_their_berichten(backend: &mut dyn Backend) {
    let store = backend.open(2);
    let (manual, clock) = manual_clock("2026-11-03T12:00:00Z");
    let sizes = [3, 5, 2, 4, 1, 9, 2, 6, 7, 1];
    for (no, n) in (1..).zip(sizes) {
        parked(park(&*store, batch(OIN_A, no, n), clock.now()));
        manual.advance(Duration::from_millis(10));
    }
    while total_parked(&*store) > 0 {
        manual.advance(Duration::from_secs(1));
        complete_first_of_each_shard(&*store, &clock, false);
    }
    manual.advance(Duration::from_secs(1));
    let expected = whole_feed(&*store, OIN_A, &clock);
    assert_eq!(expected.len(), sizes.len());
    let outcomes = |record: &BatchRecord| record.receipt.as_ref().map_or(0, |r| r.berichten.len());
    for (limit, max_berichten) in [(100, 7), (3, 7), (100, 1), (100, 9), (100, 40), (2, 40)] {
        let mut walked = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .receipt_feed(OIN_A, after, limit, max_berichten, &clock)
                .expect("feed");
            let carried: usize = page.receipts.iter().map(|(_, r)| outcomes(r)).sum();
            let what = format!("limit {limit}, max {max_berichten}, after {after:?}");
            assert!(page.receipts.len() <= limit, "{what}");
            assert!(
                carried <= max_berichten || page.receipts.len() == 1,
                "{what}: {carried} outcomes"
            );
            let rest = &expected[walked.len() + page.receipts.len()..];
            match rest.first() {
                // Stopped early only where the next receipt would not fit.
                Some((_, next)) if page.receipts.len() < limit => {
                    assert!(page.full, "{what}: more follow");
                    assert!(
                        carried + outcomes(next) > max_berichten,
                        "{what}: stopped early"
                    );
                }
                Some(_) => assert!(page.full, "{what}: more follow"),
                None => {}
            }
            let Some((last, _)) = page.receipts.last() else {
                assert!(!page.full, "{what}: an empty page is not full");
                break;
            };
            after = Some(*last);
            walked.extend(page.receipts);
        }
        let walked_ids: Vec<&str> = walked.iter().map(|(_, r)| r.batch_id.as_str()).collect();
        let expected_ids: Vec<&str> = expected.iter().map(|(_, r)| r.batch_id.as_str()).collect();
        assert_eq!(
            walked_ids, expected_ids,
            "limit {limit}, max {max_berichten}: every receipt once, in order"
        );
    }
}

/// Receipts: the webhook outbox holds each receipt offered to it, oldest first, with its
/// retry state, until it is removed; other afnemers' outboxes are apart.
pub fn the_webhook_outbox_holds_a_receipt_until_removed(backend: &mut dyn Backend) {
    let store = backend.open(1);
    let (manual, clock) = manual_clock("2026-11-03T12:00:00Z");
    for no in 0..3 {
        parked(park(&*store, batch(OIN_A, no, 1), clock.now()));
    }
    parked(park(&*store, batch(OIN_B, 9, 1), clock.now()));
    let mut offered = Vec::new();
    for webhook in [true, false, true, true] {
        manual.advance(Duration::from_secs(1));
        let done = complete_first_of_each_shard(&*store, &clock, webhook);
        if webhook {
            offered.extend(done);
        }
    }
    assert_eq!(offered.len(), 3, "two of A, one of B");
    let store = backend.reopen(store);
    manual.advance(Duration::from_secs(1));
    let feed = whole_feed(&*store, OIN_A, &clock);

    let (cursor, job) = store
        .webhook_outbox_head(OIN_A)
        .expect("head")
        .expect("a receipt waits");
    assert_eq!(job.batch_id, offered[0].batch_id);
    assert_eq!(job.failures, 0);
    let in_feed = feed
        .iter()
        .find(|(_, record)| record.batch_id == job.batch_id)
        .expect("in the feed");
    assert_eq!(
        in_feed.0, cursor,
        "the outbox and the feed share the cursor"
    );

    let retry = WebhookJob {
        failures: 1,
        next_attempt: clock.now() + jiff::SignedDuration::from_secs(30),
        ..job.clone()
    };
    store
        .put_webhook_job(OIN_A, cursor, Some(&retry))
        .expect("reschedule");
    assert_eq!(
        store.webhook_outbox_head(OIN_A).expect("head"),
        Some((cursor, retry))
    );
    store.put_webhook_job(OIN_A, cursor, None).expect("remove");
    let (next, job) = store
        .webhook_outbox_head(OIN_A)
        .expect("head")
        .expect("the next receipt waits");
    assert!(next > cursor);
    assert_eq!(job.batch_id, offered[1].batch_id);
    let (cursor_b, job_b) = store
        .webhook_outbox_head(OIN_B)
        .expect("head")
        .expect("B's receipt waits");
    assert_eq!(job_b.batch_id, offered[2].batch_id);
    store.put_webhook_job(OIN_A, next, None).expect("remove");
    assert_eq!(store.webhook_outbox_head(OIN_A).expect("head"), None);
    assert_eq!(
        store.webhook_outbox_head(OIN_B).expect("head"),
        Some((cursor_b, job_b)),
        "removing A's receipts leaves B's"
    );
    let waiting: u64 = store
        .shard_stats()
        .iter()
        .map(|s| s.webhook_outbox_depth)
        .sum();
    assert_eq!(waiting, 1);
}

/// Processing: a claim on a berichtId is taken again by the batch that holds it (a retry),
/// refused to another batch of the afnemer, and free for another afnemer; a release by a
/// batch that does not hold it changes nothing.
pub fn claims_are_idempotent_and_the_first_holder_keeps_them(backend: &mut dyn Backend) {
    let store = backend.open(3);
    let claim = |oin: &str, id: u64, batch: u32| BerichtClaim {
        oin: oin.to_owned(),
        bericht_id: guid(0, id),
        batch_id: guid(batch, 0xffff_ffff),
        ontvangen_op: jiff::Timestamp::UNIX_EPOCH,
    };
    let first: Vec<BerichtClaim> = (0..8).map(|id| claim(OIN_A, id, 1)).collect();
    let holders = store.claim_bericht_ids(&first).expect("claim");
    assert!(holders.iter().all(|h| *h == guid(1, 0xffff_ffff)));
    let again = store.claim_bericht_ids(&first).expect("claim again");
    assert_eq!(again, holders, "a retry takes its own claims again");

    let mut mixed: Vec<BerichtClaim> = (4..12).map(|id| claim(OIN_A, id, 2)).collect();
    mixed.push(claim(OIN_B, 0, 2));
    let holders = store.claim_bericht_ids(&mixed).expect("claim");
    for (claim, holder) in mixed.iter().zip(&holders) {
        let taken_before = claim.oin == OIN_A && claim.bericht_id < guid(0, 8);
        let expected = if taken_before {
            guid(1, 0xffff_ffff)
        } else {
            guid(2, 0xffff_ffff)
        };
        assert_eq!(*holder, expected, "{claim:?}");
    }
    // A release by a batch that does not hold the claim leaves it.
    store
        .release_bericht_ids(&[claim(OIN_A, 0, 2)])
        .expect("release");
    assert_eq!(
        store
            .claim_bericht_ids(&[claim(OIN_A, 0, 3)])
            .expect("claim"),
        vec![guid(1, 0xffff_ffff)]
    );
    // Released by its holder, it is free again; twice is the same as once.
    for _ in 0..2 {
        store
            .release_bericht_ids(&[claim(OIN_A, 0, 1)])
            .expect("release");
    }
    assert_eq!(
        store
            .claim_bericht_ids(&[claim(OIN_A, 0, 3)])
            .expect("claim"),
        vec![guid(3, 0xffff_ffff)]
    );
}

/// Processing: while another shard still holds an earlier-accepted parked copy of a berichtId,
/// a later copy waits; the earliest does not; completing the earliest frees the next.
pub fn an_earlier_parked_copy_holds_a_later_one_back(backend: &mut dyn Backend) {
    let store = backend.open(3);
    let (manual, clock) = manual_clock("2026-11-03T12:00:00Z");
    let shared = guid(0xaaaa, 1);
    let with_shared = |no: u32| {
        let mut b = batch(OIN_A, no, 2);
        b.berichten[1].bericht_id = shared.clone();
        b
    };
    let first = parked(park(&*store, with_shared(1), clock.now()));
    let mut later = Vec::new();
    for no in 2..10 {
        manual.advance(Duration::from_secs(1));
        later.push(parked(park(&*store, with_shared(no), clock.now())));
    }
    let elsewhere: Vec<&BatchRecord> = later.iter().filter(|r| r.shard != first.shard).collect();
    assert!(
        !elsewhere.is_empty(),
        "eight batches all in the first one's shard"
    );
    let asks = |record: &BatchRecord| {
        store
            .earlier_parked_copy(
                OIN_A,
                &shared,
                record.ontvangen_op,
                usize::from(record.shard),
                record.first_seq + 1,
            )
            .expect("ask")
    };
    assert!(!asks(&first), "the earliest copy waits for nobody");
    for record in &elsewhere {
        assert!(asks(record), "a later copy in another shard must wait");
    }
    // The same id under another afnemer is another bericht.
    assert!(
        !store
            .earlier_parked_copy(
                OIN_B,
                &shared,
                later[0].ontvangen_op,
                usize::from(later[0].shard),
                0
            )
            .expect("ask")
    );
    // Completing every batch of the first one's shard up to and including it frees the rest
    // of the other shards from it.
    let shard = usize::from(first.shard);
    let batches = store.parked_batches(shard, usize::MAX).expect("parked");
    let completions: Vec<Completion> = batches.iter().map(|b| completion(b, &[], false)).collect();
    store
        .complete(shard, completions, &clock)
        .expect("complete");
    let earliest_elsewhere = elsewhere
        .iter()
        .min_by_key(|r| r.ontvangen_op)
        .expect("one");
    assert!(!asks(earliest_elsewhere), "its earlier copy is processed");
}

fn entry(bsn: &str, oin: &str, at: Timestamp, seq: u64, publicatie: Option<Timestamp>) -> BoxEntry {
    BoxEntry {
        id: BoxId::new(at, (seq % 3) as u16, seq),
        bsn: bsn.to_owned(),
        oin: oin.to_owned(),
        batch_id: guid(seq as u32, 0xffff_ffff),
        ontvangen_op: at,
        inhoud: BerichtInhoud {
            bericht_id: guid(seq as u32, 0),
            bericht_type: "AANSLAG".to_owned(),
            onderwerp: format!("bericht {seq}"),
            tekst: "tekst".to_owned(),
            referentie: None,
            publicatie_datum: publicatie,
            bijlagen: Vec::new(),
        },
        gelezen: false,
    }
}

fn queued_total(store: &dyn Store) -> usize {
    (0..store.shard_count())
        .map(|shard| {
            store
                .queued_notifications(shard, usize::MAX)
                .expect("queued")
                .len()
                + store
                    .due_later_notifications(shard, Timestamp::MAX, usize::MAX)
                    .expect("due later")
                    .len()
        })
        .sum()
}

/// Processing and citizens: a delivery done again (a retry) changes nothing, its read flag and
/// its notification included; one citizen's box is not another's.
pub fn deliveries_are_idempotent_and_boxes_are_private(backend: &mut dyn Backend) {
    let store = backend.open(3);
    let at = ts("2026-11-03T12:00:00Z");
    let deliveries: Vec<Delivery> = (0..3)
        .map(|seq| Delivery {
            entry: entry(
                BSN_X,
                OIN_A,
                at + jiff::SignedDuration::from_secs(seq as i64),
                seq,
                None,
            ),
            notify: Some("x@example.nl".to_owned()),
        })
        .collect();
    store.deliver(&deliveries).expect("deliver");
    let first = deliveries[0].entry.id;
    let marked = store
        .mark_gelezen(BSN_X, first, true)
        .expect("mark")
        .expect("the entry is there");
    assert!(marked.gelezen);
    store.deliver(&deliveries).expect("deliver again");
    let store = backend.reopen(store);
    store.deliver(&deliveries[..1]).expect("and once more");

    let box_x = store.box_entries(BSN_X, None, 100).expect("box");
    assert_eq!(box_x.len(), 3, "each bericht once");
    let ids: Vec<BoxId> = box_x.iter().map(|e| e.id).collect();
    let mut newest_first: Vec<BoxId> = deliveries.iter().map(|d| d.entry.id).collect();
    newest_first.reverse();
    assert_eq!(ids, newest_first, "newest first");
    assert!(
        store
            .box_entry(BSN_X, first)
            .expect("entry")
            .expect("there")
            .gelezen,
        "a retried delivery keeps the read flag"
    );
    assert_eq!(queued_total(&*store), 3, "one notification per bericht");
    let page = store
        .box_entries(BSN_X, Some(newest_first[0]), 1)
        .expect("page");
    assert_eq!(
        page.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![newest_first[1]]
    );

    // Another citizen sees none of it and cannot touch it.
    assert!(store.box_entries(BSN_Y, None, 100).expect("box").is_empty());
    assert_eq!(store.box_entry(BSN_Y, first).expect("entry"), None);
    assert_eq!(store.mark_gelezen(BSN_Y, first, false).expect("mark"), None);
    store.delete_box_entry(BSN_Y, first).expect("delete");
    assert_eq!(store.box_entries(BSN_X, None, 100).expect("box").len(), 3);

    store.delete_box_entry(BSN_X, first).expect("delete");
    assert_eq!(store.box_entry(BSN_X, first).expect("entry"), None);
    assert_eq!(
        store.mark_gelezen(BSN_X, first, true).expect("mark"),
        None,
        "a deleted entry stays gone"
    );
    assert_eq!(store.box_entries(BSN_X, None, 100).expect("box").len(), 2);
}

/// Notifications: each shard's queue answers in arrival order whatever the order of delivery;
/// a bericht published later waits until due; removing a prefix leaves the rest in order.
pub fn notifications_are_queued_in_arrival_order(backend: &mut dyn Backend) {
    let store = backend.open(3);
    let start = ts("2026-11-03T12:00:00Z");
    let bsns = [
        "999993653",
        "999990019",
        "999990020",
        "999990032",
        "111222333",
    ];
    // Arrival seconds in a scrambled order; every fifth is published an hour after arrival.
    let mut all = Vec::new();
    for (n, second) in [7u64, 3, 11, 0, 5, 9, 1, 14, 2, 8, 13, 4, 6, 12, 10]
        .into_iter()
        .enumerate()
    {
        let at = start + jiff::SignedDuration::from_secs(second as i64);
        let publicatie = (n % 5 == 4).then(|| at + jiff::SignedDuration::from_secs(3600));
        all.push(Delivery {
            entry: entry(bsns[n % bsns.len()], OIN_A, at, second, publicatie),
            notify: Some(format!("burger{n}@example.nl")),
        });
    }
    for chunk in all.chunks(4) {
        store.deliver(chunk).expect("deliver");
    }
    let (mut in_order, mut removed) = (0, 0);
    for shard in 0..store.shard_count() {
        let queue = store
            .queued_notifications(shard, usize::MAX)
            .expect("queue");
        assert!(
            queue.windows(2).all(|w| w[0].id < w[1].id),
            "shard {shard} is out of arrival order"
        );
        assert!(queue.iter().all(|n| n.publicatie_datum.is_none()));
        in_order += queue.len();
        let not_yet = store
            .due_later_notifications(shard, start + jiff::SignedDuration::from_secs(60), 100)
            .expect("due later");
        assert!(
            not_yet.is_empty(),
            "published later, sent before it was due"
        );

        // A prefix goes; the rest stays, in order.
        let limited = store.queued_notifications(shard, 2).expect("queue");
        assert_eq!(limited.as_slice(), &queue[..queue.len().min(2)]);
        let (sent, rest) = queue.split_at(queue.len().min(2));
        store.remove_notifications(sent).expect("remove");
        removed += sent.len();
        assert_eq!(
            store
                .queued_notifications(shard, usize::MAX)
                .expect("queue"),
            rest
        );
    }
    assert_eq!(in_order, 12);
    let due: Vec<_> = (0..store.shard_count())
        .flat_map(|shard| {
            store
                .due_later_notifications(shard, start + jiff::SignedDuration::from_secs(7200), 100)
                .expect("due later")
        })
        .collect();
    assert_eq!(due.len(), 3, "published later, due now");
    store.remove_notifications(&due).expect("remove");
    assert_eq!(queued_total(&*store), 15 - removed - due.len());
}

/// Citizens and isolation: accounts and voorkeuren are per citizen; `wil_digitaal` reads them.
pub fn citizens_are_private(backend: &mut dyn Backend) {
    let store = backend.open(3);
    let at = ts("2026-11-03T12:00:00Z");
    let account = AccountRecord {
        bsn: BSN_X.to_owned(),
        email: Some("x@example.nl".to_owned()),
        notificaties: true,
        actief: true,
        geopend_op: at,
        gewijzigd_op: at,
    };
    store.put_account(&account).expect("put account");
    let voorkeur = VoorkeurRecord {
        bsn: BSN_X.to_owned(),
        oin: OIN_A.to_owned(),
        digitaal: false,
        gewijzigd_op: at,
    };
    store.put_voorkeur(&voorkeur).expect("put voorkeur");
    let store = backend.reopen(store);
    assert_eq!(
        store.account(BSN_X).expect("account"),
        Some(account.clone())
    );
    assert_eq!(store.account(BSN_Y).expect("account"), None);
    assert_eq!(
        store.voorkeur(BSN_X, OIN_A).expect("voorkeur"),
        Some(voorkeur.clone())
    );
    assert_eq!(store.voorkeur(BSN_X, OIN_B).expect("voorkeur"), None);
    assert_eq!(store.voorkeur(BSN_Y, OIN_A).expect("voorkeur"), None);
    assert_eq!(store.voorkeuren(BSN_X).expect("voorkeuren"), vec![voorkeur]);
    assert!(store.voorkeuren(BSN_Y).expect("voorkeuren").is_empty());

    assert!(!wil_digitaal(&*store, Some(&account), OIN_A).expect("decide"));
    assert!(wil_digitaal(&*store, Some(&account), OIN_B).expect("decide"));
    let inactive = AccountRecord {
        actief: false,
        ..account
    };
    assert!(!wil_digitaal(&*store, Some(&inactive), OIN_B).expect("decide"));
    assert!(!wil_digitaal(&*store, None, OIN_B).expect("decide"));
    let count = store.count_accounts().expect("count");
    assert_eq!((count.total, count.actief), (1, 1));
}

/// Reports: a park counts its berichten `aangeboden` once (a redelivery adds nothing), a
/// completion counts each `verwerkt` or `afgewezen` once, per afnemer and Amsterdam day.
pub fn tellingen_count_parks_and_completions_once(backend: &mut dyn Backend) {
    let store = backend.open(2);
    let (manual, clock) = manual_clock("2026-11-03T12:00:00Z");
    let day = jiff::civil::date(2026, 11, 3);
    parked(park(&*store, batch(OIN_A, 1, 3), clock.now()));
    parked(park(&*store, batch(OIN_B, 2, 2), clock.now()));
    assert!(matches!(
        park(&*store, batch(OIN_A, 1, 3), clock.now()),
        ParkOutcome::Duplicate(_)
    ));
    manual.advance(Duration::from_secs(60));
    for shard in 0..store.shard_count() {
        let batches = store.parked_batches(shard, usize::MAX).expect("parked");
        let completions: Vec<Completion> =
            batches.iter().map(|b| completion(b, &[0], false)).collect();
        store
            .complete(shard, completions, &clock)
            .expect("complete");
    }
    let store = backend.reopen(store);
    let tellingen = store.tellingen(day, day).expect("tellingen");
    let a = tellingen.get(&(day, OIN_A.to_owned())).expect("A counted");
    assert_eq!((a.aangeboden, a.verwerkt, a.afgewezen), (3, 2, 1));
    let b = tellingen.get(&(day, OIN_B.to_owned())).expect("B counted");
    assert_eq!((b.aangeboden, b.verwerkt, b.afgewezen), (2, 1, 1));
    assert_eq!(tellingen.len(), 2);
    let next = day.tomorrow().expect("a next day");
    assert!(store.tellingen(next, next).expect("tellingen").is_empty());
    assert!(
        store
            .tellingen(next, day)
            .expect("an empty range")
            .is_empty()
    );
}

/// A deleted API key is gone, also after a reopen, and takes no other key with it; a key's
/// record (its last use) overwritten by hash is one key, not two.
pub fn a_revoked_api_key_stays_revoked(backend: &mut dyn Backend) {
    let store = backend.open(2);
    let at = ts("2026-11-03T12:00:00Z");
    let key = |hash: u8, oin: &str| ApiKeyRecord {
        id: format!("sleutel-{hash}"),
        key_hash: [hash; 32],
        oin: oin.to_owned(),
        aangemaakt_op: at,
        laatst_gebruikt_op: None,
    };
    for record in [key(1, OIN_A), key(2, OIN_A), key(3, OIN_B)] {
        store.put_api_key(&record).expect("put key");
    }
    let used = ApiKeyRecord {
        laatst_gebruikt_op: Some(at + jiff::SignedDuration::from_secs(90)),
        ..key(2, OIN_A)
    };
    store.put_api_key(&used).expect("record a last use");
    store.delete_api_key(&[1; 32]).expect("revoke");
    store
        .delete_api_key(&[9; 32])
        .expect("revoking an unknown key is no error");

    let store = backend.reopen(store);
    let mut keys = store.api_keys().expect("keys");
    keys.sort_by_key(|key| key.key_hash);
    assert_eq!(keys, vec![used.clone(), key(3, OIN_B)], "after a reopen");
    store.delete_api_key(&[3; 32]).expect("revoke");
    let store = backend.reopen(store);
    assert_eq!(
        store.api_keys().expect("keys"),
        vec![used],
        "after a second reopen"
    );
}

/// The catalog, the notification window, prognoses and runs read back what was written, per
/// afnemer where they are the afnemer's.
pub fn catalog_and_reports_round_trip(backend: &mut dyn Backend) {
    let store = backend.open(2);
    let at = ts("2026-11-03T12:00:00Z");
    let afnemers: Vec<AfnemerRecord> = [OIN_A, OIN_B]
        .iter()
        .map(|oin| AfnemerRecord {
            oin: (*oin).to_owned(),
            naam: format!("afnemer {oin}"),
            berichten_per_seconde: 45,
            burst: 1000,
            webhook_url: None,
            actief: true,
        })
        .collect();
    for afnemer in &afnemers {
        store.put_afnemer(afnemer).expect("put afnemer");
    }
    let key = |hash: u8, oin: &str| ApiKeyRecord {
        id: format!("sleutel-{hash}"),
        key_hash: [hash; 32],
        oin: oin.to_owned(),
        aangemaakt_op: at,
        laatst_gebruikt_op: None,
    };
    let keys = vec![key(1, OIN_A), key(2, OIN_B)];
    for key in &keys {
        store.put_api_key(key).expect("put key");
    }
    let berichttype = |oin: &str, code: &str| BerichttypeRecord {
        oin: oin.to_owned(),
        code: code.to_owned(),
        omschrijving: format!("{code} van {oin}"),
        actief: true,
    };
    store
        .put_berichttype(&berichttype(OIN_A, "AANSLAG"))
        .expect("put berichttype");
    store
        .put_berichttype(&berichttype(OIN_B, "AANSLAG"))
        .expect("put berichttype");
    store
        .put_berichttype(&berichttype(OIN_B, "HERINNERING"))
        .expect("put berichttype");
    let window = CapWindowRecord {
        hour_start: at,
        sent_this_hour: 7,
        day_start: at,
        sent_today: 9,
    };
    store.put_notification_window(&window).expect("put window");
    let prognose = |oin: &str, maand: &str| PrognoseRecord {
        oin: oin.to_owned(),
        maand: maand.to_owned(),
        aantal_berichten: 1000,
        gemiddelde_grootte_kb: 80,
        bijgewerkt_op: at,
    };
    assert!(
        store
            .put_prognose(&prognose(OIN_A, "2026-12"))
            .expect("put")
    );
    assert!(
        !store
            .put_prognose(&prognose(OIN_A, "2026-12"))
            .expect("put")
    );
    assert!(
        store
            .put_prognose(&prognose(OIN_A, "2027-01"))
            .expect("put")
    );
    assert!(
        store
            .put_prognose(&prognose(OIN_B, "2026-12"))
            .expect("put")
    );
    let run = RunRecord {
        started: at,
        seen: at,
    };
    store.record_run(&run).expect("record run");
    let moved_on = RunRecord {
        seen: at + jiff::SignedDuration::from_secs(15),
        ..run
    };
    store.record_run(&moved_on).expect("record run");

    let store = backend.reopen(store);
    let mut stored = store.afnemers().expect("afnemers");
    stored.sort_by(|a, b| a.oin.cmp(&b.oin));
    assert_eq!(stored, afnemers);
    let mut stored_keys = store.api_keys().expect("keys");
    stored_keys.sort_by_key(|key| key.key_hash);
    assert_eq!(stored_keys, keys);
    assert_eq!(store.berichttypen(OIN_A).expect("berichttypen").len(), 1);
    assert_eq!(store.berichttypen(OIN_B).expect("berichttypen").len(), 2);
    assert!(store.berichttypen(OIN_C).expect("berichttypen").is_empty());
    assert_eq!(store.notification_window().expect("window"), Some(window));
    let mine = store.prognoses(Some(OIN_A)).expect("prognoses");
    assert_eq!(
        mine.iter().map(|p| p.maand.as_str()).collect::<Vec<_>>(),
        ["2026-12", "2027-01"],
        "an afnemer's prognoses by month"
    );
    assert!(mine.iter().all(|p| p.oin == OIN_A));
    assert_eq!(store.prognoses(None).expect("prognoses").len(), 3);
    assert_eq!(store.runs().expect("runs"), vec![moved_on]);
}

/// `n` distinct valid BSNs (nine digits passing the elfproef), ascending, from `from` (an
/// eight-digit prefix) on.
pub(crate) fn valid_bsns(from: u32, n: usize) -> Vec<String> {
    (from..)
        .filter_map(crate::core::bsn::with_check_digit)
        .take(n)
        .collect()
}

/// An Abonnementservice verzoek of `oin` with id number `no`, planned for the night of 3
/// November 2026.
fn abo_verzoek(oin: &str, no: u64, soort: Soort, aantal_bsns: u32) -> VerzoekRecord {
    VerzoekRecord {
        digest: [no as u8; 32],
        mutatie_datum: (soort == Soort::Mutaties).then(|| ts("2026-11-01T00:00:00Z")),
        aantal_bsns,
        ..VerzoekRecord::ingepland(
            oin,
            &guid(0xab0, no),
            soort,
            jiff::civil::date(2026, 11, 3),
            ts("2026-11-03T12:00:00Z"),
        )
    }
}

fn all_verzoeken(store: &dyn Store) -> Vec<VerzoekRecord> {
    let mut all = store.verzoeken().expect("verzoeken");
    all.sort_by(|a, b| (&a.oin, &a.verzoek_id).cmp(&(&b.oin, &b.verzoek_id)));
    all
}

fn sorted_verzoeken(mut verzoeken: Vec<VerzoekRecord>) -> Vec<VerzoekRecord> {
    verzoeken.sort_by(|a, b| (&a.oin, &a.verzoek_id).cmp(&(&b.oin, &b.verzoek_id)));
    verzoeken
}

/// A `bsn-lijst`'s BSNs read back in pages of `max` from position `vanaf`.
fn read_bsns(store: &dyn Store, verzoek: &VerzoekRecord, vanaf: u64, max: usize) -> Vec<u32> {
    let mut all = Vec::new();
    let mut at = vanaf;
    loop {
        let page = store
            .verzoek_bsns(&verzoek.oin, &verzoek.verzoek_id, at, max)
            .expect("verzoek bsns");
        assert!(page.len() <= max, "a page of at most {max}");
        let full = page.len() == max;
        at += page.len() as u64;
        all.extend(page);
        if !full {
            return all;
        }
    }
}

/// Abonnementen: `vraag_aan` stores a verzoek (and a `bsn-lijst`'s BSNs) while its night's quota
/// has room, taking one from it; the same (oin, id) again is `Bestaand` with what is stored,
/// whatever the quota and the content; a full quota is `Vol` and stores nothing; the quota
/// and the verzoeken survive a restart; `put_verzoek` stores a new status.
pub fn vraag_aan_stores_within_the_quota_durably(backend: &mut dyn Backend) {
    let store = backend.open(2);
    let vervalt = ts("2026-11-05T00:00:00Z");
    let nacht = "2026-11-03/volledig";
    let a1 = abo_verzoek(OIN_A, 1, Soort::Volledig, 0);
    assert_eq!(
        store
            .vraag_aan(&a1, &[], nacht, 2, vervalt)
            .expect("vraag aan"),
        Aanvraag::Ingepland
    );
    assert_eq!(
        store.verzoek(OIN_A, &a1.verzoek_id).expect("verzoek"),
        Some(a1.clone())
    );
    for limit in [0, 1, 2, 100] {
        assert_eq!(
            store
                .vraag_aan(&a1, &[], nacht, limit, vervalt)
                .expect("again"),
            Aanvraag::Bestaand(Box::new(a1.clone())),
            "the same verzoek again, limit {limit}"
        );
    }
    let other_content = VerzoekRecord {
        soort: Soort::BsnLijst,
        digest: [0xee; 32],
        aantal_bsns: 3,
        ..a1.clone()
    };
    assert_eq!(
        store
            .vraag_aan(
                &other_content,
                &[1, 2, 3],
                "2026-11-03/bsn-lijst",
                100,
                vervalt
            )
            .expect("other content"),
        Aanvraag::Bestaand(Box::new(a1.clone())),
        "the same id with other content answers what is stored"
    );
    assert!(
        read_bsns(&*store, &a1, 0, 10).is_empty(),
        "a Bestaand stores no BSNs"
    );
    assert_eq!(
        store.verzoek(OIN_A, &a1.verzoek_id).expect("verzoek"),
        Some(a1.clone()),
        "a Bestaand changes nothing"
    );

    // The same id under another afnemer is another verzoek: it takes the quota's second place.
    let b1 = VerzoekRecord {
        oin: OIN_B.to_owned(),
        ..a1.clone()
    };
    assert_eq!(
        store
            .vraag_aan(&b1, &[], nacht, 2, vervalt)
            .expect("vraag aan"),
        Aanvraag::Ingepland
    );
    let a2 = abo_verzoek(OIN_A, 2, Soort::Volledig, 0);
    assert_eq!(
        store
            .vraag_aan(&a2, &[], nacht, 2, vervalt)
            .expect("vraag aan"),
        Aanvraag::Vol
    );
    assert_eq!(store.verzoek(OIN_A, &a2.verzoek_id).expect("verzoek"), None);

    // Another quota (another soort or night) has its own room; a full one stores no BSNs.
    let lijst = "2026-11-03/bsn-lijst";
    let bsns: Vec<u32> = (0..25_000).map(|i| 100_000_000 + i * 7).collect();
    let a3 = abo_verzoek(OIN_A, 3, Soort::BsnLijst, 25_000);
    assert_eq!(
        store
            .vraag_aan(&a3, &bsns, lijst, 1, vervalt)
            .expect("vraag aan"),
        Aanvraag::Ingepland
    );
    let a4 = abo_verzoek(OIN_A, 4, Soort::BsnLijst, 2);
    assert_eq!(
        store
            .vraag_aan(&a4, &[123_456_782, 999_993_653], lijst, 1, vervalt)
            .expect("vraag aan"),
        Aanvraag::Vol
    );
    assert_eq!(store.verzoek(OIN_A, &a4.verzoek_id).expect("verzoek"), None);
    assert!(
        read_bsns(&*store, &a4, 0, 10).is_empty(),
        "Vol stores no BSNs"
    );
    assert_eq!(
        all_verzoeken(&*store),
        sorted_verzoeken(vec![a1.clone(), b1.clone(), a3.clone()])
    );

    let store = backend.reopen(store);
    assert_eq!(
        store
            .vraag_aan(&a2, &[], nacht, 2, vervalt)
            .expect("vraag aan"),
        Aanvraag::Vol,
        "the quota survives a restart"
    );
    assert_eq!(
        store.vraag_aan(&a1, &[], nacht, 2, vervalt).expect("again"),
        Aanvraag::Bestaand(Box::new(a1.clone())),
        "a verzoek survives a restart"
    );
    assert_eq!(read_bsns(&*store, &a3, 0, 100_000), bsns);
    assert_eq!(
        store
            .vraag_aan(&a2, &[], nacht, 3, vervalt)
            .expect("vraag aan"),
        Aanvraag::Ingepland,
        "a higher limit leaves room"
    );
    let a5 = abo_verzoek(OIN_A, 5, Soort::Volledig, 0);
    assert_eq!(
        store
            .vraag_aan(&a5, &[], nacht, 3, vervalt)
            .expect("vraag aan"),
        Aanvraag::Vol
    );
    assert_eq!(
        all_verzoeken(&*store),
        sorted_verzoeken(vec![a1.clone(), b1.clone(), a2.clone(), a3.clone()])
    );

    let gereed = VerzoekRecord {
        status: VerzoekStatus::Gereed,
        gestart_op: Some(ts("2026-11-03T23:00:00Z")),
        gereed_op: Some(ts("2026-11-03T23:05:00Z")),
        regels: 7,
        ..a1.clone()
    };
    store.put_verzoek(&gereed).expect("put verzoek");
    let store = backend.reopen(store);
    assert_eq!(
        store.verzoek(OIN_A, &a1.verzoek_id).expect("verzoek"),
        Some(gereed.clone())
    );
    assert_eq!(
        store.verzoek(OIN_B, &b1.verzoek_id).expect("verzoek"),
        Some(b1),
        "another afnemer's verzoek of the same id is untouched"
    );
    assert_eq!(
        store
            .vraag_aan(&a1, &[], nacht, 100, vervalt)
            .expect("again"),
        Aanvraag::Bestaand(Box::new(gereed))
    );
}

/// Abonnementen: a `bsn-lijst`'s BSNs read back in the order given from any position, in
/// pages of any size, across the store's internal parts; past the end, nothing.
pub fn verzoek_bsns_pages_across_parts_in_the_order_given(backend: &mut dyn Backend) {
    let store = backend.open(2);
    let vervalt = ts("2026-11-05T00:00:00Z");
    // Not sorted, with repeats: the order given is what comes back.
    let lang: Vec<u32> = (0..45_001u32)
        .map(|i| (i.wrapping_mul(7_919).wrapping_add(12_345)) % 1_000_000_000)
        .chain([111_111_109, 111_111_109])
        .collect();
    let rond: Vec<u32> = (0..40_000u32).rev().map(|i| 200_000_000 + i).collect();
    let kort: Vec<u32> = vec![999_993_653, 11_111_112, 999_993_653];
    let lists = [
        (abo_verzoek(OIN_A, 1, Soort::BsnLijst, 45_003), lang),
        (abo_verzoek(OIN_A, 2, Soort::BsnLijst, 40_000), rond),
        (abo_verzoek(OIN_B, 1, Soort::BsnLijst, 3), kort),
        (abo_verzoek(OIN_B, 2, Soort::BsnLijst, 0), Vec::new()),
    ];
    for (verzoek, bsns) in &lists {
        assert_eq!(
            store
                .vraag_aan(verzoek, bsns, "2026-11-03/bsn-lijst", 150, vervalt)
                .expect("vraag aan"),
            Aanvraag::Ingepland
        );
    }
    let check = |store: &dyn Store| {
        for (verzoek, bsns) in &lists {
            let n = bsns.len();
            for (vanaf, max) in [
                (0, usize::MAX),
                (0, 20_000),
                (19_999, 2),
                (20_000, 20_000),
                (12_345, 30_000),
                (39_999, 10_000),
                (40_000, 5),
                (45_000, 10),
                (n, 1),
                (n + 1, 10),
                (1_000_000, 10),
                (7, 0),
            ] {
                let got = store
                    .verzoek_bsns(&verzoek.oin, &verzoek.verzoek_id, vanaf as u64, max)
                    .expect("verzoek bsns");
                let want: Vec<u32> = bsns.iter().skip(vanaf).take(max).copied().collect();
                assert_eq!(
                    got, want,
                    "{} BSNs from {vanaf}, at most {max}",
                    verzoek.verzoek_id
                );
            }
            for page in [1_000, 7_777, 20_000, 20_001] {
                assert_eq!(&read_bsns(store, verzoek, 0, page), bsns, "pages of {page}");
            }
            assert_eq!(&read_bsns(store, verzoek, 3, 9_999)[..], &bsns[3.min(n)..]);
        }
        let unknown = abo_verzoek(OIN_C, 1, Soort::BsnLijst, 0);
        assert!(read_bsns(store, &unknown, 0, 100).is_empty());
    };
    check(&*store);
    let store = backend.reopen(store);
    check(&*store);
}

/// Abonnementen: `delete_verzoek` removes a verzoek with its BSNs, for good, and nothing else;
/// the same id may then be asked for again, with a new list.
pub fn delete_verzoek_removes_it_with_its_bsns(backend: &mut dyn Backend) {
    let store = backend.open(2);
    let vervalt = ts("2026-11-05T00:00:00Z");
    let lijst = "2026-11-03/bsn-lijst";
    let lang: Vec<u32> = (0..25_000u32).map(|i| 300_000_000 + i).collect();
    let a1 = abo_verzoek(OIN_A, 1, Soort::BsnLijst, 25_000);
    let a2 = abo_verzoek(OIN_A, 2, Soort::BsnLijst, 3);
    let b1 = VerzoekRecord {
        oin: OIN_B.to_owned(),
        ..a1.clone()
    };
    for (verzoek, bsns) in [(&a1, &lang[..]), (&a2, &[1, 2, 3][..]), (&b1, &lang[..5])] {
        assert_eq!(
            store
                .vraag_aan(verzoek, bsns, lijst, 150, vervalt)
                .expect("vraag aan"),
            Aanvraag::Ingepland
        );
    }
    store
        .delete_verzoek(OIN_A, &a1.verzoek_id)
        .expect("delete verzoek");
    store
        .delete_verzoek(OIN_C, &a1.verzoek_id)
        .expect("deleting an unknown verzoek is no error");
    let check = |store: &dyn Store| {
        assert_eq!(store.verzoek(OIN_A, &a1.verzoek_id).expect("verzoek"), None);
        assert!(
            read_bsns(store, &a1, 0, 100_000).is_empty(),
            "its BSNs are gone"
        );
        assert!(
            store
                .verzoek_bsns(OIN_A, &a1.verzoek_id, 20_000, 10)
                .expect("verzoek bsns")
                .is_empty(),
            "every part of its BSNs is gone"
        );
        assert_eq!(read_bsns(store, &a2, 0, 100), vec![1, 2, 3]);
        assert_eq!(read_bsns(store, &b1, 0, 100), lang[..5].to_vec());
        assert_eq!(
            all_verzoeken(store),
            sorted_verzoeken(vec![a2.clone(), b1.clone()])
        );
    };
    check(&*store);
    let store = backend.reopen(store);
    check(&*store);

    // Asked for again after its deletion, the id is a new verzoek with only its new list.
    let again = VerzoekRecord {
        digest: [0x77; 32],
        aantal_bsns: 2,
        ..a1.clone()
    };
    assert_eq!(
        store
            .vraag_aan(&again, &[999_993_653, 123_456_782], lijst, 150, vervalt)
            .expect("vraag aan"),
        Aanvraag::Ingepland
    );
    assert_eq!(
        read_bsns(&*store, &again, 0, 100_000),
        vec![999_993_653, 123_456_782]
    );
    assert_eq!(
        store.verzoek(OIN_A, &a1.verzoek_id).expect("verzoek"),
        Some(again)
    );
}

/// Abonnementen: `take_quotum` takes up to its limit and no further, also across a restart;
/// each quota is its own; `expire_quota` forgets exactly the quotas whose `vervalt` is before
/// `now` (a forgotten quota starts again from nothing), for good.
pub fn take_quotum_counts_to_its_limit_and_expires(backend: &mut dyn Backend) {
    let store = backend.open(2);
    let uur = ts("2026-11-03T13:00:00Z");
    let dag = ts("2026-11-04T00:00:00Z");
    let q = "validaties/2026-11-03T12";
    for i in 0..3 {
        assert!(store.take_quotum(q, 3, uur).expect("take"), "take {i}");
    }
    assert!(!store.take_quotum(q, 3, uur).expect("take"), "the limit");
    assert!(!store.take_quotum("leeg", 0, uur).expect("take"), "limit 0");
    let store = backend.reopen(store);
    assert!(
        !store.take_quotum(q, 3, uur).expect("take"),
        "the quota survives a restart"
    );
    assert!(store.take_quotum(q, 4, uur).expect("take"));
    assert!(!store.take_quotum(q, 4, uur).expect("take"));
    assert!(
        store.take_quotum("dag", 1, dag).expect("take"),
        "its own quota"
    );
    assert!(!store.take_quotum("dag", 1, dag).expect("take"));
    // A verzoek's quota is a quota like the others.
    let a1 = abo_verzoek(OIN_A, 1, Soort::Mutaties, 0);
    assert_eq!(
        store
            .vraag_aan(&a1, &[], "2026-11-03/mutaties", 1, uur)
            .expect("vraag aan"),
        Aanvraag::Ingepland
    );

    assert_eq!(
        store.expire_quota(uur).expect("expire"),
        0,
        "a quota is kept until its vervalt"
    );
    let na_uur = uur + jiff::SignedDuration::from_nanos(1);
    assert_eq!(
        store.expire_quota(na_uur).expect("expire"),
        2,
        "the hour's quota and the verzoek's"
    );
    let store = backend.reopen(store);
    assert_eq!(
        store.expire_quota(na_uur).expect("expire"),
        0,
        "forgotten for good"
    );
    assert!(
        !store.take_quotum("dag", 1, dag).expect("take"),
        "an unexpired quota stays taken"
    );
    for i in 0..4 {
        assert!(
            store.take_quotum(q, 4, uur).expect("take"),
            "a forgotten quota starts from nothing: take {i}"
        );
    }
    assert!(!store.take_quotum(q, 4, uur).expect("take"));
    let a2 = abo_verzoek(OIN_A, 2, Soort::Mutaties, 0);
    assert_eq!(
        store
            .vraag_aan(&a2, &[], "2026-11-03/mutaties", 1, uur)
            .expect("vraag aan"),
        Aanvraag::Ingepland,
        "a forgotten night quota has room again"
    );
    assert_eq!(
        store
            .expire_quota(ts("2026-11-05T00:00:00Z"))
            .expect("expire"),
        3
    );
}

fn abo_account(bsn: &str, actief: bool, at: Timestamp) -> AccountRecord {
    AccountRecord {
        bsn: bsn.to_owned(),
        email: None,
        notificaties: false,
        actief,
        geopend_op: at,
        gewijzigd_op: at,
    }
}

fn abo_voorkeur(bsn: &str, oin: &str, digitaal: bool, at: Timestamp) -> VoorkeurRecord {
    VoorkeurRecord {
        bsn: bsn.to_owned(),
        oin: oin.to_owned(),
        digitaal,
        gewijzigd_op: at,
    }
}

/// Every shard's active accounts, read in pages of `max` after `na`: each shard's in strictly
/// increasing BSN order, every page at most `max`.
fn all_actieve_accounts(store: &dyn Store, max: usize) -> Vec<ActiefAccount> {
    let mut all = Vec::new();
    for shard in 0..store.shard_count() {
        let mut na: Option<String> = None;
        let mut shard_accounts: Vec<ActiefAccount> = Vec::new();
        loop {
            let page = store
                .actieve_accounts(shard, na.as_deref(), max)
                .expect("actieve accounts");
            assert!(page.len() <= max, "a page of at most {max}");
            if let Some(na) = &na {
                assert!(page.iter().all(|account| &account.bsn > na), "after {na}");
            }
            let full = page.len() == max;
            na = page.last().map(|account| account.bsn.clone());
            shard_accounts.extend(page);
            if !full {
                break;
            }
        }
        assert!(
            shard_accounts.windows(2).all(|w| w[0].bsn < w[1].bsn),
            "shard {shard}: in BSN order, each once"
        );
        all.extend(shard_accounts);
    }
    for account in &mut all {
        account.geweigerd.sort();
    }
    all.sort_by(|a, b| a.bsn.cmp(&b.bsn));
    all
}

/// Abonnementen: `actieve_accounts` pages through each shard with `na` and `max`: every active
/// account exactly once, in BSN order, never an inactive one (closed, never opened, or only a
/// voorkeur), with `geweigerd` exactly the afnemers whose voorkeur is `digitaal: false`.
pub fn actieve_accounts_pages_through_each_shard(backend: &mut dyn Backend) {
    let store = backend.open(3);
    let bsns = valid_bsns(10_000_000, 48);
    let mut at = ts("2026-11-03T08:00:00Z");
    let mut tick = || {
        at += jiff::SignedDuration::from_secs(1);
        at
    };
    let mut expected: Vec<ActiefAccount> = Vec::new();
    for (i, bsn) in bsns.iter().enumerate() {
        // The account's history (opened, closed, ...): it ends active or inactive, or there is
        // no account at all, only voorkeuren.
        let history: &[bool] = match i % 5 {
            0 => &[true],
            1 => &[false],
            2 => &[true, false],
            3 => &[true, false, true],
            _ => &[],
        };
        for &open in history {
            store
                .put_account(&abo_account(bsn, open, tick()))
                .expect("account change");
        }
        let actief = history.last().copied().unwrap_or(false);
        let mut geweigerd = Vec::new();
        if i % 3 == 0 {
            store
                .put_voorkeur(&abo_voorkeur(bsn, OIN_A, false, tick()))
                .expect("voorkeur");
            geweigerd.push(OIN_A.to_owned());
        }
        if i % 4 == 0 {
            store
                .put_voorkeur(&abo_voorkeur(bsn, OIN_B, false, tick()))
                .expect("voorkeur");
            geweigerd.push(OIN_B.to_owned());
        }
        if i % 7 == 0 {
            store
                .put_voorkeur(&abo_voorkeur(bsn, OIN_C, false, tick()))
                .expect("voorkeur");
            store
                .put_voorkeur(&abo_voorkeur(bsn, OIN_C, true, tick()))
                .expect("voorkeur changed back");
        } else if i % 2 == 1 {
            store
                .put_voorkeur(&abo_voorkeur(bsn, OIN_C, true, tick()))
                .expect("voorkeur");
        }
        if actief {
            geweigerd.sort();
            expected.push(ActiefAccount {
                bsn: bsn.clone(),
                geweigerd,
            });
        }
    }
    expected.sort_by(|a, b| a.bsn.cmp(&b.bsn));
    assert!(expected.len() > 10);
    for max in [1, 2, 7, 1000] {
        assert_eq!(
            all_actieve_accounts(&*store, max),
            expected,
            "pages of {max}"
        );
    }
    // A voorkeur changes what is refused, not who is active; closing a box takes it out.
    store
        .put_voorkeur(&abo_voorkeur(&expected[0].bsn, OIN_A, true, tick()))
        .expect("voorkeur");
    expected[0].geweigerd.retain(|oin| oin != OIN_A);
    store
        .put_account(&abo_account(&expected[1].bsn, false, tick()))
        .expect("close");
    expected.remove(1);
    let store = backend.reopen(store);
    for max in [1, 3, 1000] {
        assert_eq!(
            all_actieve_accounts(&*store, max),
            expected,
            "after a restart, pages of {max}"
        );
    }
    for shard in 0..store.shard_count() {
        let last = "999999999";
        assert!(
            store
                .actieve_accounts(shard, Some(last), 10)
                .expect("actieve accounts")
                .is_empty(),
            "nothing after the last BSN"
        );
    }
}

/// Every mutatie of `oin` (or of boxes, with `None`) from `sinds`, every shard read in pages of
/// `max` after its cursor: each shard's in strictly increasing place, every page at most `max`.
fn all_mutaties(
    store: &dyn Store,
    oin: Option<&str>,
    sinds: Timestamp,
    max: usize,
) -> Vec<MutatiePlek> {
    let mut all = Vec::new();
    for shard in 0..store.shard_count() {
        let mut na: Option<MutatiePlek> = None;
        let mut shard_mutaties: Vec<MutatiePlek> = Vec::new();
        loop {
            let page = store
                .mutaties(shard, oin, sinds, na.as_ref(), max)
                .expect("mutaties");
            assert!(page.len() <= max, "a page of at most {max}");
            let full = page.len() == max;
            na = page.last().cloned();
            shard_mutaties.extend(page);
            if !full {
                break;
            }
        }
        assert!(
            shard_mutaties.windows(2).all(|w| w[0] < w[1]),
            "shard {shard}: in order of time, each once"
        );
        all.extend(shard_mutaties);
    }
    all.sort();
    all
}

fn plek(at: Timestamp, bsn: &str) -> MutatiePlek {
    MutatiePlek {
        op_nanos: crate::core::time::unix_nanos_u64(at),
        bsn: bsn.to_owned(),
    }
}

/// Abonnementen: `mutaties` answers a scope's mutaties (an afnemer's voorkeuren, or with `None`
/// the boxes opened and closed) made at or after `sinds` (inclusive, to the nanosecond), in
/// order of time, in pages of any size after the place `na`; one afnemer's are not another's
/// nor the boxes'; they survive a restart.
pub fn mutaties_page_in_time_order_per_scope(backend: &mut dyn Backend) {
    let store = backend.open(3);
    let bsns = valid_bsns(20_000_000, 12);
    let start = ts("2026-11-03T08:00:00Z");
    // (scope, time, bsn) of every mutatie written.
    let mut written: Vec<(Option<&str>, Timestamp, String)> = Vec::new();
    for round in 0..3u32 {
        let round_start = start + jiff::SignedDuration::from_secs(i64::from(round));
        // Written out of time order; two BSNs' box changes in the same nanosecond, four
        // voorkeuren (two of each afnemer) in the same nanosecond.
        for (i, bsn) in bsns.iter().enumerate().rev() {
            let n = i64::try_from(i).expect("a few");
            let box_at = round_start + jiff::SignedDuration::from_millis(10 * (n / 2));
            let actief = round != 1;
            store
                .put_account(&abo_account(bsn, actief, box_at))
                .expect("open or close");
            written.push((None, box_at, bsn.clone()));
            let oin = if i % 2 == 0 { OIN_A } else { OIN_B };
            let voorkeur_at = round_start
                + jiff::SignedDuration::from_millis(10 * (n / 4) + 5)
                + jiff::SignedDuration::from_nanos(1);
            store
                .put_voorkeur(&abo_voorkeur(bsn, oin, round % 2 == 0, voorkeur_at))
                .expect("voorkeur");
            written.push((Some(oin), voorkeur_at, bsn.clone()));
        }
    }
    let end = written.iter().map(|(_, op, _)| *op).max().expect("written");
    let expected = |scope: Option<&str>, sinds: Timestamp| -> Vec<MutatiePlek> {
        let mut want: Vec<MutatiePlek> = written
            .iter()
            .filter(|(s, op, _)| *s == scope && *op >= sinds)
            .map(|(_, op, bsn)| plek(*op, bsn))
            .collect();
        want.sort();
        want
    };
    let middle = written[written.len() / 2 + 1].1;
    let check = |store: &dyn Store| {
        for scope in [Some(OIN_A), Some(OIN_B), Some(OIN_C), None] {
            for sinds in [
                Timestamp::UNIX_EPOCH,
                start,
                middle - jiff::SignedDuration::from_nanos(1),
                middle,
                middle + jiff::SignedDuration::from_nanos(1),
                end,
                end + jiff::SignedDuration::from_nanos(1),
            ] {
                let want = expected(scope, sinds);
                for max in [1, 2, 5, 1000] {
                    assert_eq!(
                        all_mutaties(store, scope, sinds, max),
                        want,
                        "scope {scope:?} since {sinds}, pages of {max}"
                    );
                }
            }
        }
    };
    assert!(expected(None, end + jiff::SignedDuration::from_nanos(1)).is_empty());
    assert_eq!(
        expected(None, end).len(),
        2,
        "two boxes changed at the last moment"
    );
    assert!(!expected(Some(OIN_A), middle).is_empty());
    assert!(expected(Some(OIN_C), start).is_empty());
    check(&*store);
    let store = backend.reopen(store);
    check(&*store);
}

/// Does `write` and checks that it wrote a mutatie if and only if `mutatie` says so.
fn step(store: &dyn Store, n: &mut usize, what: &str, write: &dyn Fn(&dyn Store), mutatie: bool) {
    write(store);
    *n += usize::from(mutatie);
    assert_eq!(count_mutaties(store), *n, "after {what}");
}

/// Every mutatie of every scope the checks use, from the start of time.
fn count_mutaties(store: &dyn Store) -> usize {
    [Some(OIN_A), Some(OIN_B), None]
        .into_iter()
        .map(|scope| all_mutaties(store, scope, Timestamp::UNIX_EPOCH, 1000).len())
        .sum()
}

/// Abonnementen: only a change is a mutatie. A `put_account` writes one when `actief` changes
/// (a box opened, closed or opened again; an account opened active), none when it does not (an
/// inactive first account, other fields changed, the same state again); a `put_voorkeur`
/// writes one when `digitaal` changes or is first set, none for the same choice again.
/// `update_account` reads and writes as one: four threads each making 25 changes of one
/// account (each adds a letter to its e-mail address) lose none, and `None` writes nothing.
pub fn concurrent_account_changes_are_never_lost(backend: &mut dyn Backend) {
    let store = backend.open(2);
    let at = ts("2026-11-03T08:00:00Z");
    store
        .put_account(&abo_account(BSN_X, true, at))
        .expect("open");
    std::thread::scope(|scope| {
        for letter in ['a', 'b', 'c', 'd'] {
            let store = &store;
            scope.spawn(move || {
                for _ in 0..25 {
                    store
                        .update_account(BSN_X, &mut |account| {
                            let mut account = account.expect("the account is there");
                            let mut email = account.email.unwrap_or_default();
                            email.push(letter);
                            account.email = Some(email);
                            Some(account)
                        })
                        .expect("update");
                }
            });
        }
    });
    let email = store
        .account(BSN_X)
        .expect("read")
        .and_then(|account| account.email)
        .expect("an address");
    assert_eq!(email.len(), 100, "every change kept: {email}");
    for letter in ['a', 'b', 'c', 'd'] {
        assert_eq!(email.matches(letter).count(), 25, "{email}");
    }
    let unchanged = store
        .update_account(BSN_X, &mut |_| None)
        .expect("no change");
    assert_eq!(unchanged, None);
    assert_eq!(
        store.account(BSN_X).expect("read").and_then(|a| a.email),
        Some(email)
    );
    let missing = store
        .update_account(BSN_Y, &mut |account| {
            assert_eq!(account, None, "no account yet");
            None
        })
        .expect("nothing");
    assert_eq!(missing, None);
    assert_eq!(store.account(BSN_Y).expect("read"), None);
}

pub fn only_changes_write_mutaties(backend: &mut dyn Backend) {
    let store = backend.open(2);
    let mut at = ts("2026-11-03T08:00:00Z");
    let mut tick = || {
        at += jiff::SignedDuration::from_secs(1);
        at
    };
    let mut n = 0;
    let (t1, t2, t3, t4, t5, t6) = (tick(), tick(), tick(), tick(), tick(), tick());
    let (t7, t8, t9, t10, t11, t12) = (tick(), tick(), tick(), tick(), tick(), tick());
    let open = abo_account(BSN_X, true, t1);
    step(
        &*store,
        &mut n,
        "a new active account",
        &|s| s.put_account(&open).expect("open"),
        true,
    );
    let changed = AccountRecord {
        email: Some("x@example.nl".to_owned()),
        notificaties: true,
        gewijzigd_op: t2,
        ..open.clone()
    };
    step(
        &*store,
        &mut n,
        "other fields changed",
        &|s| s.put_account(&changed).expect("patch"),
        false,
    );
    step(
        &*store,
        &mut n,
        "open again while open",
        &|s| s.put_account(&abo_account(BSN_X, true, t3)).expect("open"),
        false,
    );
    step(
        &*store,
        &mut n,
        "closed",
        &|s| {
            s.put_account(&abo_account(BSN_X, false, t4))
                .expect("close")
        },
        true,
    );
    step(
        &*store,
        &mut n,
        "closed again",
        &|s| {
            s.put_account(&abo_account(BSN_X, false, t5))
                .expect("close")
        },
        false,
    );
    step(
        &*store,
        &mut n,
        "an inactive first account",
        &|s| {
            s.put_account(&abo_account(BSN_Y, false, t5))
                .expect("inactive")
        },
        false,
    );
    step(
        &*store,
        &mut n,
        "opened again",
        &|s| {
            s.put_account(&abo_account(BSN_X, true, t6))
                .expect("reopen")
        },
        true,
    );
    step(
        &*store,
        &mut n,
        "a first voorkeur, digitaal",
        &|s| {
            s.put_voorkeur(&abo_voorkeur(BSN_X, OIN_A, true, t7))
                .expect("voorkeur")
        },
        true,
    );
    step(
        &*store,
        &mut n,
        "the same voorkeur again",
        &|s| {
            s.put_voorkeur(&abo_voorkeur(BSN_X, OIN_A, true, t8))
                .expect("voorkeur")
        },
        false,
    );
    step(
        &*store,
        &mut n,
        "digitaal changed",
        &|s| {
            s.put_voorkeur(&abo_voorkeur(BSN_X, OIN_A, false, t9))
                .expect("voorkeur")
        },
        true,
    );
    step(
        &*store,
        &mut n,
        "a first voorkeur of another afnemer, not digitaal",
        &|s| {
            s.put_voorkeur(&abo_voorkeur(BSN_X, OIN_B, false, t10))
                .expect("voorkeur")
        },
        true,
    );
    let store = backend.reopen(store);
    assert_eq!(count_mutaties(&*store), n, "after a restart");
    step(
        &*store,
        &mut n,
        "the same refusal again, after a restart",
        &|s| {
            s.put_voorkeur(&abo_voorkeur(BSN_X, OIN_A, false, t11))
                .expect("voorkeur")
        },
        false,
    );
    step(
        &*store,
        &mut n,
        "a voorkeur of a citizen without a box",
        &|s| {
            s.put_voorkeur(&abo_voorkeur(BSN_Y, OIN_B, true, t12))
                .expect("voorkeur")
        },
        true,
    );
    assert_eq!(
        all_mutaties(&*store, None, Timestamp::UNIX_EPOCH, 1000),
        vec![plek(t1, BSN_X), plek(t4, BSN_X), plek(t6, BSN_X)],
        "the box's openings and closings"
    );
    assert_eq!(
        all_mutaties(&*store, Some(OIN_A), Timestamp::UNIX_EPOCH, 1000),
        vec![plek(t7, BSN_X), plek(t9, BSN_X)]
    );
    assert_eq!(
        all_mutaties(&*store, Some(OIN_B), Timestamp::UNIX_EPOCH, 1000),
        vec![plek(t10, BSN_X), plek(t12, BSN_Y)]
    );
}

/// A varied decision for the Portaal checks, by a bericht's sequence number: every third
/// `Verwerkt`, the others each code but `Verwerkt` in turn, with a stadium that varies apart.
fn portaal_decision(seq: u64) -> (VerwerkingsCode, Stadium) {
    const STADIA: [Stadium; 4] = [
        Stadium::ValidatieBerichtType,
        Stadium::ValidatieGebruiker,
        Stadium::StoreMessage,
        Stadium::NA,
    ];
    let code = if seq.is_multiple_of(3) {
        VerwerkingsCode::Verwerkt
    } else {
        VerwerkingsCode::ALL[1 + (seq / 3 * 2 + seq % 3 - 1) as usize % 6]
    };
    (code, STADIA[(seq / 2 % 4) as usize])
}

/// The completion of a parked batch with each bericht decided by [`portaal_decision`].
fn portaal_completion(batch: &ParkedBatch) -> Completion {
    let mut completion = completion(batch, &[], false);
    if let Some(receipt) = &mut completion.record.receipt {
        for (uitkomst, bericht) in receipt.berichten.iter_mut().zip(&batch.berichten) {
            (uitkomst.code, uitkomst.stadium) = portaal_decision(bericht.seq);
        }
    }
    completion
}

/// Completes every parked batch with [`portaal_completion`], the first of each shard at a time,
/// the clock moving `step` before each round (so receipts get their own stamps).
fn complete_all_decided(
    store: &dyn Store,
    manual: &ManualClock,
    clock: &SharedClock,
    step: Duration,
) {
    while total_parked(store) > 0 {
        manual.advance(step);
        for shard in 0..store.shard_count() {
            let batches = store.parked_batches(shard, 1).expect("parked batches");
            if let Some(first) = batches.first() {
                store
                    .complete(shard, vec![portaal_completion(first)], clock)
                    .expect("complete");
            }
        }
    }
}

/// The Amsterdam day of a moment: the day a receipt's tellers and afwijzingen are counted on.
fn amsterdam_day(at: Timestamp) -> jiff::civil::Date {
    at.to_zoned(crate::core::caps::amsterdam().expect("the Amsterdam zone"))
        .date()
}

/// The documented order of an afnemer's afwijzingen: newest day first; within a day by code
/// (its pinned byte), then by receipt cursor, then by position in the batch.
fn afwijzing_order(a: &AfwijzingCursor, b: &AfwijzingCursor) -> std::cmp::Ordering {
    b.dag
        .cmp(&a.dag)
        .then(super::record::code_byte(a.code).cmp(&super::record::code_byte(b.code)))
        .then(a.receipt.cmp(&b.receipt))
        .then(a.index.cmp(&b.index))
}

/// What an afnemer's afwijzingen must be, made from its receipts (the whole feed): one per
/// bericht decided otherwise than `Verwerkt`, in the documented order.
fn expected_afwijzingen(
    store: &dyn Store,
    oin: &str,
    clock: &SharedClock,
) -> Vec<(AfwijzingCursor, AfwijzingRecord)> {
    let mut out = Vec::new();
    for (cursor, record) in whole_feed(store, oin, clock) {
        let receipt = record.receipt.as_ref().expect("a receipt in the feed");
        for (index, uitkomst) in (0u32..).zip(&receipt.berichten) {
            if uitkomst.code == VerwerkingsCode::Verwerkt {
                continue;
            }
            out.push((
                AfwijzingCursor {
                    dag: amsterdam_day(receipt.verwerkt_op),
                    code: uitkomst.code,
                    receipt: cursor,
                    index,
                },
                AfwijzingRecord {
                    batch_id: record.batch_id.clone(),
                    bericht_id: uitkomst.bericht_id.clone(),
                    code: uitkomst.code,
                    stadium: uitkomst.stadium,
                    verwerkt_op: receipt.verwerkt_op,
                },
            ));
        }
    }
    out.sort_by(|a, b| afwijzing_order(&a.0, &b.0));
    out
}

/// Every afwijzing of a filter, page by page of `limit`, each page continuing after the last
/// cursor of the one before; checks each page's bound on the way.
fn all_afwijzingen(
    store: &dyn Store,
    oin: &str,
    filter: AfwijzingFilter,
    limit: usize,
) -> Vec<(AfwijzingCursor, AfwijzingRecord)> {
    let mut all: Vec<(AfwijzingCursor, AfwijzingRecord)> = Vec::new();
    let mut after = None;
    for _ in 0..10_000 {
        let page = store
            .afwijzingen(oin, filter, after, limit)
            .expect("afwijzingen");
        assert!(
            page.len() <= limit,
            "a page of {} over its limit {limit}",
            page.len()
        );
        let Some((last, _)) = page.last() else {
            return all;
        };
        after = Some(*last);
        all.extend(page);
    }
    panic!("paging the afwijzingen of {oin} with {filter:?} does not end");
}

/// Deletes everything due at `now` in every shard, step by step; answers the sum.
fn expire_all(store: &dyn Store, now: Timestamp, periods: &RetentionPeriods) -> Expired {
    let mut total = Expired::default();
    for shard in 0..store.shard_count() {
        let mut in_shard = Expired::default();
        loop {
            let step = store.expire(shard, now, periods, 3).expect("expire");
            in_shard.add(&step);
            if !step.more {
                break;
            }
        }
        store.reclaim(shard, &in_shard).expect("reclaim");
        total.add(&in_shard);
    }
    total
}

fn days(n: i64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_hours(24 * n)
}

/// The engine's default periods (`[bewaren]`).
fn default_periods() -> RetentionPeriods {
    RetentionPeriods {
        receipts: days(6),
        batches: days(7),
        mutaties: days(90),
        berichten: None,
        tellingen_maanden: 13,
    }
}

/// Portaal: a completion indexes exactly the berichten its receipt decided otherwise than
/// `Verwerkt`, each with its code, stadium, batch, berichtId and `verwerktOp`, under the
/// Amsterdam day of its receipt (here the day after the UTC one), its receipt's cursor and
/// its position; also after a restart. Another afnemer's are never answered.
pub fn afwijzingen_index_each_rejected_bericht_of_a_receipt(backend: &mut dyn Backend) {
    let store = backend.open(2);
    // 23:30 UTC is 00:30 the next day in Amsterdam (CET).
    let (manual, clock) = manual_clock("2026-11-03T23:30:00Z");
    for no in 0..6u32 {
        let oin = if no % 3 == 2 { OIN_B } else { OIN_A };
        parked(park(&*store, batch(oin, no, 2 + no % 4), clock.now()));
    }
    complete_all_decided(&*store, &manual, &clock, Duration::from_secs(1));
    manual.advance(Duration::from_secs(1));

    let store = backend.reopen(store);
    for oin in [OIN_A, OIN_B] {
        let expected = expected_afwijzingen(&*store, oin, &clock);
        let feed = whole_feed(&*store, oin, &clock);
        let outcomes: usize = feed
            .iter()
            .map(|(_, r)| r.receipt.as_ref().map_or(0, |r| r.berichten.len()))
            .sum();
        assert!(
            !expected.is_empty() && expected.len() < outcomes,
            "{oin}: the test decides some berichten Verwerkt and some not"
        );
        let found = store
            .afwijzingen(oin, AfwijzingFilter::default(), None, usize::MAX)
            .expect("afwijzingen");
        assert_eq!(
            found, expected,
            "{oin}: every afwijzing, once, as its receipt says"
        );
        for (cursor, afwijzing) in &found {
            assert_ne!(afwijzing.code, VerwerkingsCode::Verwerkt);
            assert_eq!(cursor.code, afwijzing.code);
            assert_eq!(
                cursor.dag,
                jiff::civil::date(2026, 11, 4),
                "the Amsterdam day"
            );
            let record = store
                .find_batch(oin, &afwijzing.batch_id)
                .expect("find")
                .expect("its batch");
            assert_eq!(record.oin, oin, "another afnemer's afwijzing");
            assert_eq!(
                (cursor.receipt.shard, cursor.receipt.first_seq),
                (record.shard, record.first_seq),
                "the cursor names its batch's receipt"
            );
        }
    }
    let codes: HashSet<VerwerkingsCode> = [OIN_A, OIN_B]
        .iter()
        .flat_map(|oin| expected_afwijzingen(&*store, oin, &clock))
        .map(|(cursor, _)| cursor.code)
        .collect();
    assert_eq!(
        codes.len(),
        6,
        "every code but Verwerkt is indexed: {codes:?}"
    );
    assert!(
        store
            .afwijzingen(OIN_C, AfwijzingFilter::default(), None, usize::MAX)
            .expect("afwijzingen")
            .is_empty()
    );
    assert!(
        store
            .afwijzingen(OIN_A, AfwijzingFilter::default(), None, 0)
            .expect("afwijzingen")
            .is_empty(),
        "a limit of 0"
    );
}

/// Parks `per_day` batches of each afnemer in `oins` on each of `n_days` days and completes
/// them that day, so their afwijzingen fall on `n_days` Amsterdam days.
fn afwijzingen_over_days(
    store: &dyn Store,
    manual: &ManualClock,
    clock: &SharedClock,
    oins: &[&str],
    n_days: u32,
    per_day: u32,
) {
    for day in 0..n_days {
        for (o, oin) in (0u32..).zip(oins) {
            for b in 0..per_day {
                let no = 100 * day + 10 * o + b;
                parked(park(store, batch(oin, no, 1 + (no % 5)), clock.now()));
            }
        }
        complete_all_decided(store, manual, clock, Duration::from_secs(7));
        manual.advance(Duration::from_secs(24 * 3600));
    }
}

/// Portaal: `afwijzingen` filtered by day, by code or both answers exactly those of the
/// afnemer's afwijzingen, in order; `Verwerkt` and a day without any answer nothing; another
/// afnemer's are never among them.
pub fn afwijzingen_filter_by_day_and_code(backend: &mut dyn Backend) {
    let store = backend.open(3);
    let (manual, clock) = manual_clock("2026-11-03T09:00:00Z");
    afwijzingen_over_days(&*store, &manual, &clock, &[OIN_A, OIN_B], 3, 4);
    let all = expected_afwijzingen(&*store, OIN_A, &clock);
    let dagen: Vec<jiff::civil::Date> = {
        let mut dagen: Vec<_> = all.iter().map(|(c, _)| c.dag).collect();
        dagen.dedup();
        dagen
    };
    assert_eq!(dagen.len(), 3, "three days, newest first: {dagen:?}");
    let read = |filter: AfwijzingFilter| {
        store
            .afwijzingen(OIN_A, filter, None, usize::MAX)
            .expect("afwijzingen")
    };
    let mut codes_seen = 0;
    for dag in dagen.iter().copied().map(Some).chain([None]) {
        for code in VerwerkingsCode::ALL.into_iter().map(Some).chain([None]) {
            let filter = AfwijzingFilter { dag, code };
            let expected: Vec<_> = all
                .iter()
                .filter(|(c, _)| dag.is_none_or(|d| c.dag == d) && code.is_none_or(|k| c.code == k))
                .cloned()
                .collect();
            codes_seen += usize::from(!expected.is_empty());
            assert_eq!(read(filter), expected, "{filter:?}");
        }
    }
    assert!(
        codes_seen > 12,
        "the filters were tried on afwijzingen ({codes_seen})"
    );
    for dag in [None, Some(dagen[0])] {
        let verwerkt = AfwijzingFilter {
            dag,
            code: Some(VerwerkingsCode::Verwerkt),
        };
        assert!(read(verwerkt).is_empty(), "Verwerkt is no afwijzing");
    }
    for code in [Some(VerwerkingsCode::BerichtBestaatAl), None] {
        let elsewhen = AfwijzingFilter {
            dag: Some(jiff::civil::date(2026, 10, 1)),
            code,
        };
        assert!(read(elsewhen).is_empty(), "a day without afwijzingen");
    }
    let b = store
        .afwijzingen(OIN_B, AfwijzingFilter::default(), None, usize::MAX)
        .expect("afwijzingen");
    assert_eq!(b, expected_afwijzingen(&*store, OIN_B, &clock));
    assert!(
        b.iter()
            .all(|(_, a)| !all.iter().any(|(_, mine)| mine.batch_id == a.batch_id)),
        "afnemers share no afwijzing"
    );
}

/// Portaal: followed page by page with small limits, over three shards and three days, under
/// every filter, `afwijzingen` answers each afwijzing exactly once, in the documented order;
/// a cursor from a page of another filter continues where it stands in this one's order.
pub fn afwijzingen_page_each_once_in_order(backend: &mut dyn Backend) {
    let store = backend.open(3);
    let (manual, clock) = manual_clock("2026-11-03T09:00:00Z");
    afwijzingen_over_days(&*store, &manual, &clock, &[OIN_A, OIN_B], 3, 5);
    let all = expected_afwijzingen(&*store, OIN_A, &clock);
    assert!(all.len() > 20, "{} afwijzingen", all.len());
    let shards: HashSet<u16> = all.iter().map(|(c, _)| c.receipt.shard).collect();
    assert_eq!(shards.len(), 3, "afwijzingen in every shard");
    let dagen: Vec<jiff::civil::Date> = {
        let mut dagen: Vec<_> = all.iter().map(|(c, _)| c.dag).collect();
        dagen.dedup();
        dagen
    };
    let mut filters = vec![AfwijzingFilter::default()];
    filters.extend(dagen.iter().map(|&dag| AfwijzingFilter {
        dag: Some(dag),
        code: None,
    }));
    filters.extend(
        VerwerkingsCode::ALL[1..]
            .iter()
            .map(|&code| AfwijzingFilter {
                dag: None,
                code: Some(code),
            }),
    );
    filters.push(AfwijzingFilter {
        dag: Some(dagen[1]),
        code: Some(all[all.len() / 2].0.code),
    });
    for filter in filters {
        let expected: Vec<_> = all
            .iter()
            .filter(|(c, _)| {
                filter.dag.is_none_or(|d| c.dag == d) && filter.code.is_none_or(|k| c.code == k)
            })
            .cloned()
            .collect();
        for limit in [1, 2, 3, 7] {
            assert_eq!(
                all_afwijzingen(&*store, OIN_A, filter, limit),
                expected,
                "{filter:?}, pages of {limit}"
            );
        }
    }
    // Any cursor continues after itself: from each afwijzing on, the rest in order.
    for (position, (cursor, _)) in all.iter().enumerate() {
        let rest = store
            .afwijzingen(OIN_A, AfwijzingFilter::default(), Some(*cursor), usize::MAX)
            .expect("afwijzingen");
        assert_eq!(rest, all[position + 1..], "after {cursor:?}");
    }
    // A cursor of one day under a filter of another: a newer cursor leaves the day whole, an
    // older one leaves nothing of it.
    let on = |dag| AfwijzingFilter {
        dag: Some(dag),
        code: None,
    };
    let newest_cursor = all.first().expect("afwijzingen").0;
    let oldest_cursor = all.last().expect("afwijzingen").0;
    let middle: Vec<_> = all
        .iter()
        .filter(|(c, _)| c.dag == dagen[1])
        .cloned()
        .collect();
    assert_eq!(
        store
            .afwijzingen(OIN_A, on(dagen[1]), Some(newest_cursor), usize::MAX)
            .expect("afwijzingen"),
        middle
    );
    assert!(
        store
            .afwijzingen(OIN_A, on(dagen[1]), Some(oldest_cursor), usize::MAX)
            .expect("afwijzingen")
            .is_empty()
    );
}

/// Portaal and Retention: an afwijzing is kept as long as its receipt, counted from its
/// `verwerktOp`, and goes with it (an `afwijzing` of the retention index), not before.
pub fn afwijzingen_expire_with_their_receipts(backend: &mut dyn Backend) {
    let store = backend.open(2);
    let (manual, clock) = manual_clock("2026-11-03T09:00:00Z");
    for no in 0..4u32 {
        parked(park(&*store, batch(OIN_A, no, 3 + no), clock.now()));
    }
    complete_all_decided(&*store, &manual, &clock, Duration::from_secs(1));
    let first_done = clock.now();
    manual.advance(Duration::from_secs(3600));
    for no in 4..6u32 {
        parked(park(&*store, batch(OIN_A, no, 3), clock.now()));
    }
    complete_all_decided(&*store, &manual, &clock, Duration::from_secs(1));
    manual.advance(Duration::from_secs(1));
    let before = expected_afwijzingen(&*store, OIN_A, &clock);
    let later: Vec<_> = before
        .iter()
        .filter(|(_, a)| a.verwerkt_op > first_done)
        .cloned()
        .collect();
    assert!(!later.is_empty() && later.len() < before.len());
    let read = |store: &dyn Store| {
        store
            .afwijzingen(OIN_A, AfwijzingFilter::default(), None, usize::MAX)
            .expect("afwijzingen")
    };
    let periods = default_periods();

    // Just inside the receipts' period: nothing goes.
    let inside = expire_all(
        &*store,
        first_done + periods.receipts - jiff::SignedDuration::from_secs(5),
        &periods,
    );
    assert_eq!(
        inside
            .by_kind
            .get(&Expiring::Afwijzing)
            .copied()
            .unwrap_or(0),
        0
    );
    assert_eq!(
        read(&*store),
        before,
        "an afwijzing went before its receipt's period"
    );

    // Past the first completions' period: theirs go with their receipts, the later stay.
    let past = expire_all(
        &*store,
        first_done + periods.receipts + jiff::SignedDuration::from_secs(1),
        &periods,
    );
    assert_eq!(
        past.by_kind.get(&Expiring::Afwijzing).copied(),
        Some((before.len() - later.len()) as u64),
        "{past:?}"
    );
    let store = backend.reopen(store);
    assert_eq!(
        read(&*store),
        later,
        "the afwijzingen of the receipts still kept"
    );
    assert_eq!(
        expected_afwijzingen(&*store, OIN_A, &clock),
        later,
        "exactly those whose receipts are still in the feed"
    );

    // And all of them past the last one's period.
    let last = later
        .iter()
        .map(|(_, a)| a.verwerkt_op)
        .max()
        .expect("later");
    expire_all(
        &*store,
        last + periods.receipts + jiff::SignedDuration::from_secs(1),
        &periods,
    );
    assert!(read(&*store).is_empty());
    assert!(whole_feed(&*store, OIN_A, &clock).is_empty());
}

/// Portaal: `recente_batches` answers the afnemer's processed batches newest receipt first
/// (its feed backwards), paged with `before`, never another afnemer's; a batch whose record
/// is gone while its receipt is still listed is left out.
pub fn recente_batches_newest_first_and_own(backend: &mut dyn Backend) {
    let store = backend.open(3);
    let (manual, clock) = manual_clock("2026-11-03T09:00:00Z");
    for no in 0..9u32 {
        let oin = if no % 3 == 1 { OIN_B } else { OIN_A };
        parked(park(&*store, batch(oin, no, 1 + no % 3), clock.now()));
    }
    complete_all_decided(&*store, &manual, &clock, Duration::from_secs(1));
    let first_done = clock.now();
    manual.advance(Duration::from_secs(2 * 24 * 3600));
    for no in 9..14u32 {
        parked(park(&*store, batch(OIN_A, no, 2), clock.now()));
    }
    complete_all_decided(&*store, &manual, &clock, Duration::from_secs(1));
    manual.advance(Duration::from_secs(1));

    let recent = |store: &dyn Store, before, limit| {
        store
            .recente_batches(OIN_A, before, limit)
            .expect("recente batches")
    };
    let mut feed = whole_feed(&*store, OIN_A, &clock);
    feed.reverse();
    assert_eq!(feed.len(), 11);
    assert_eq!(
        recent(&*store, None, usize::MAX),
        feed,
        "the feed, newest first"
    );
    for limit in [1, 2, 4] {
        let mut paged = Vec::new();
        let mut before = None;
        for round in 0.. {
            assert!(round <= feed.len(), "pages of {limit} do not end");
            let page = recent(&*store, before, limit);
            assert!(page.len() <= limit);
            let Some((last, _)) = page.last() else {
                break;
            };
            before = Some(*last);
            paged.extend(page);
        }
        assert_eq!(paged, feed, "pages of {limit}");
    }
    assert_eq!(recent(&*store, None, 3), feed[..3]);
    assert!(recent(&*store, None, 0).is_empty());
    let b = store
        .recente_batches(OIN_B, None, usize::MAX)
        .expect("recente batches");
    assert_eq!(b.len(), 3);
    assert!(b.iter().all(|(_, record)| record.oin == OIN_B));
    assert!(
        store
            .recente_batches(OIN_C, None, usize::MAX)
            .expect("recente batches")
            .is_empty()
    );

    // Batch records kept a day, receipts six: the first completions' records go, their
    // receipts stay listed, and the batches are left out.
    let short = RetentionPeriods {
        batches: days(1),
        ..default_periods()
    };
    expire_all(
        &*store,
        first_done + days(1) + jiff::SignedDuration::from_secs(1),
        &short,
    );
    let kept: Vec<_> = feed
        .iter()
        .filter(|(_, r)| {
            r.receipt
                .as_ref()
                .is_some_and(|r| r.verwerkt_op > first_done)
        })
        .cloned()
        .collect();
    assert_eq!(kept.len(), 5);
    assert_eq!(recent(&*store, None, usize::MAX), kept);
    assert_eq!(recent(&*store, Some(kept[3].0), 10), kept[4..]);
    // A batch whose record went is new when delivered again: parked under the same id while
    // its old receipt is still listed, it is not that receipt's batch.
    let gone = feed
        .iter()
        .find(|(_, r)| !kept.iter().any(|(_, k)| k.batch_id == r.batch_id))
        .expect("a batch whose record went");
    let again = (0..9u32)
        .map(|no| batch(OIN_A, no, 1 + no % 3))
        .find(|b| b.batch_id == gone.1.batch_id)
        .expect("its batch");
    parked(park(&*store, again, clock.now()));
    assert_eq!(recent(&*store, None, usize::MAX), kept);
}

/// Portaal: `afnemer_tellingen` is `tellingen` restricted to that afnemer, over the same days
/// (days without a count absent); an empty or absurd range answers without failing.
pub fn afnemer_tellingen_are_the_afnemers_own(backend: &mut dyn Backend) {
    let store = backend.open(3);
    let (manual, clock) = manual_clock("2026-11-03T09:00:00Z");
    // Parked one day, completed the next: aangeboden and verwerkt/afgewezen on other days.
    for day in 0..3u32 {
        for no in 0..4u32 {
            let oin = [OIN_A, OIN_B, OIN_A, OIN_C][no as usize];
            parked(park(
                &*store,
                batch(oin, 10 * day + no, 1 + no),
                clock.now(),
            ));
        }
        manual.advance(Duration::from_secs(24 * 3600));
        complete_all_decided(&*store, &manual, &clock, Duration::from_secs(1));
    }
    let store = backend.reopen(store);
    let from = jiff::civil::date(2026, 11, 1);
    let until = jiff::civil::date(2026, 11, 8);
    let all = store.tellingen(from, until).expect("tellingen");
    for oin in [OIN_A, OIN_B, OIN_C] {
        let expected: std::collections::BTreeMap<jiff::civil::Date, DagTelling> = all
            .iter()
            .filter(|((_, of), _)| of == oin)
            .map(|((dag, _), telling)| (*dag, telling.clone()))
            .collect();
        assert_eq!(expected.len(), 4, "{oin}: counted on four days");
        assert_eq!(
            store
                .afnemer_tellingen(oin, from, until)
                .expect("tellingen"),
            expected,
            "{oin}"
        );
        let (first, last) = (
            *expected.keys().next().expect("a day"),
            *expected.keys().last().expect("a day"),
        );
        assert_eq!(
            store
                .afnemer_tellingen(oin, first, last)
                .expect("tellingen"),
            expected,
            "{oin}: from its first day to its last"
        );
        let day = jiff::civil::date(2026, 11, 4);
        assert_eq!(
            store.afnemer_tellingen(oin, day, day).expect("tellingen"),
            expected
                .range(day..=day)
                .map(|(d, t)| (*d, t.clone()))
                .collect(),
            "{oin}: one day"
        );
        // Moved up to the last days before `until`: those hold them all.
        let long_ago = jiff::civil::date(2020, 1, 1);
        assert_eq!(
            store
                .afnemer_tellingen(oin, long_ago, until)
                .expect("tellingen"),
            expected,
            "{oin}: a range of years"
        );
    }
    let nobody = "00000001000000000099";
    assert!(
        store
            .afnemer_tellingen(nobody, from, until)
            .expect("tellingen")
            .is_empty()
    );
    assert!(
        store
            .afnemer_tellingen(OIN_A, until, from)
            .expect("an empty range")
            .is_empty()
    );
    for (from, until) in [
        (jiff::civil::Date::MIN, jiff::civil::Date::MAX),
        (jiff::civil::Date::MAX, jiff::civil::Date::MAX),
        (jiff::civil::Date::MIN, jiff::civil::Date::MIN),
    ] {
        store
            .afnemer_tellingen(OIN_A, from, until)
            .expect("an absurd range is no failure");
    }
}

/// Portaal: a session reads back as stored, survives a restart (its store is synced), moves on
/// by being stored again, ends by a delete (also after a restart), and `expire_sessies` deletes
/// exactly those whose `verloopt_op` is before the moment it is given, answering how many.
pub fn sessies_round_trip_expire_and_survive_a_restart(backend: &mut dyn Backend) {
    let store = backend.open(2);
    let at = ts("2026-11-03T12:00:00Z");
    let minutes = |n: i64| at + jiff::SignedDuration::from_mins(n);
    let sessie = |oin: &str, sleutel: Option<&str>, verloopt: i64| SessieRecord {
        oin: oin.to_owned(),
        aanmelding: match sleutel {
            Some(id) => Aanmelding::Sleutel { id: id.to_owned() },
            None => Aanmelding::Certificaat,
        },
        aangemaakt_op: at,
        verloopt_op: minutes(verloopt),
    };
    let sessies = [
        ([1u8; 32], sessie(OIN_A, Some("sleutel-1"), 30)),
        ([2u8; 32], sessie(OIN_A, None, 60)),
        ([3u8; 32], sessie(OIN_B, Some("sleutel-3"), 90)),
        ([4u8; 32], sessie(OIN_B, None, 120)),
    ];
    for (hash, record) in &sessies {
        store.put_sessie(hash, record).expect("put sessie");
    }
    assert_eq!(store.sessie(&[9; 32]).expect("sessie"), None);

    let store = backend.reopen(store);
    for (hash, record) in &sessies {
        assert_eq!(
            store.sessie(hash).expect("sessie").as_ref(),
            Some(record),
            "after a restart"
        );
    }
    let moved_on = SessieRecord {
        verloopt_op: minutes(100),
        ..sessies[0].1.clone()
    };
    store
        .put_sessie(&[1; 32], &moved_on)
        .expect("move a session on");
    store.delete_sessie(&[2; 32]).expect("sign out");
    store
        .delete_sessie(&[9; 32])
        .expect("signing out of no session is no error");
    assert_eq!(store.sessie(&[2; 32]).expect("sessie"), None);

    let store = backend.reopen(store);
    assert_eq!(
        store.sessie(&[1; 32]).expect("sessie"),
        Some(moved_on.clone())
    );
    assert_eq!(
        store.sessie(&[2; 32]).expect("sessie"),
        None,
        "a signed-out session came back"
    );
    // At 90 minutes: the one ending then stays (not before), the moved-on one stays.
    assert_eq!(store.expire_sessies(minutes(90)).expect("expire"), 0);
    assert_eq!(store.expire_sessies(minutes(91)).expect("expire"), 1);
    assert_eq!(store.sessie(&[3; 32]).expect("sessie"), None);
    assert_eq!(store.sessie(&[1; 32]).expect("sessie"), Some(moved_on));
    assert_eq!(
        store.sessie(&[4; 32]).expect("sessie"),
        Some(sessies[3].1.clone())
    );
    assert_eq!(store.expire_sessies(minutes(121)).expect("expire"), 2);
    assert_eq!(store.expire_sessies(minutes(121)).expect("expire"), 0);
    let store = backend.reopen(store);
    for hash in [[1u8; 32], [3; 32], [4; 32]] {
        assert_eq!(store.sessie(&hash).expect("sessie"), None);
    }
}
