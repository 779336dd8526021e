//! The backup and the restore against a real store in temporary directories: a restore
//! holds every keyspace entry for entry; a damaged, partial or foreign backup and a used
//! target are refused with their error; backups taken while processing runs are cuts in
//! which no receipt exists without its deliveries.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fjall::{Database, KeyspaceCreateOptions};

use super::{BackupError, MANIFEST_FILE, Manifest, restore, verify};
use crate::core::clock::SharedClock;
use crate::store::conformance::{
    BSN_X, OIN_A, OIN_B, batch, completion, manual_clock, park, parked,
};
use crate::store::embedded::{EmbeddedConfig, EmbeddedStore};
use crate::store::record::decode;
use crate::store::{
    Aanmelding, Admin as _, Afnemers as _, AfwijzingFilter, BatchRecord, BatchStatus,
    Citizens as _, Delivery, Portaal as _, Processing as _, Receipts as _, SessieRecord,
};

const SHARDS: usize = 3;

fn open(dir: &Path) -> Arc<EmbeddedStore> {
    Arc::new(EmbeddedStore::open(EmbeddedConfig::scratch(dir, SHARDS)).expect("open the store"))
}

/// Processes the first parked batch of `shard`: delivers its berichten, then (with
/// `complete`) settles it with its receipt. Answers whether there was one.
fn process_first(store: &EmbeddedStore, shard: usize, clock: &SharedClock, complete: bool) -> bool {
    let Some(first) = store
        .parked_batches(shard, 1)
        .expect("parked batches")
        .into_iter()
        .next()
    else {
        return false;
    };
    let deliveries: Vec<Delivery> = first
        .berichten
        .iter()
        .map(|bericht| Delivery {
            entry: crate::processor::box_entry(shard, bericht),
            notify: Some("x@example.nl".to_owned()),
        })
        .collect();
    store.deliver(&deliveries).expect("deliver");
    if complete {
        // Its first bericht rejected (an afwijzing in the portal's index), though delivered
        // above: its bijlagen stay, as the box refers to them.
        let mut settled = completion(&first, &[0], true);
        settled.drop_bijlagen.clear();
        store
            .complete(shard, vec![settled], clock)
            .expect("complete");
    }
    true
}

/// A store with batches parked, delivered but not completed, and processed (each with an
/// afwijzing); an afnemer, and a portal session.
fn filled(dir: &Path) -> (Arc<EmbeddedStore>, SharedClock) {
    let store = open(dir);
    let (_manual, clock) = manual_clock("2026-11-03T12:00:00Z");
    for no in 0..12u32 {
        let oin = if no % 2 == 0 { OIN_A } else { OIN_B };
        parked(park(&*store, batch(oin, no, 1 + no % 4), clock.now()));
    }
    for shard in 0..SHARDS {
        process_first(&store, shard, &clock, true);
        process_first(&store, shard, &clock, false);
    }
    store
        .put_afnemer(&crate::store::AfnemerRecord {
            oin: OIN_A.to_owned(),
            naam: "Belastingdienst".to_owned(),
            berichten_per_seconde: 10,
            burst: 10,
            webhook_url: None,
            actief: true,
        })
        .expect("put an afnemer");
    store.put_sessie(&SESSIE, &sessie()).expect("put a session");
    (store, clock)
}

/// The token hash of the portal session [`filled`] stores.
const SESSIE: [u8; 32] = [7; 32];

fn sessie() -> SessieRecord {
    SessieRecord {
        oin: OIN_A.to_owned(),
        aanmelding: Aanmelding::Certificaat,
        aangemaakt_op: "2026-11-03T12:00:00Z".parse().expect("ts"),
        verloopt_op: "2026-11-03T20:00:00Z".parse().expect("ts"),
    }
}

/// Entries by (database, keyspace).
type Dump = BTreeMap<(String, String), Vec<(Vec<u8>, Vec<u8>)>>;

/// Every entry of every keyspace of every database in a data directory, opened raw.
fn dump(data_dir: &Path) -> Dump {
    let mut out = BTreeMap::new();
    let databases =
        std::iter::once("catalog".to_owned()).chain((0..SHARDS).map(|i| format!("shard-{i:03}")));
    for database in databases {
        let db = Database::builder(data_dir.join(&database))
            .open()
            .expect("open a database raw");
        for name in db.list_keyspace_names() {
            let keyspace = db
                .keyspace(&name, KeyspaceCreateOptions::default)
                .expect("keyspace");
            let entries = keyspace
                .iter()
                .map(|guard| {
                    let (key, value) = guard.into_inner().expect("an entry");
                    (key.to_vec(), value.to_vec())
                })
                .collect();
            out.insert((database.clone(), name.to_string()), entries);
        }
    }
    out
}

fn close(store: Arc<EmbeddedStore>) {
    store.close().expect("close");
    drop(Arc::into_inner(store).expect("the only handle"));
}

#[test]
fn a_restore_holds_every_keyspace_entry_for_entry_and_opens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let (store, clock) = filled(&data);
    let naar = dir.path().join("backup");
    let manifest = store.backup(&naar, &clock).expect("the backup");
    assert_eq!(manifest.shards, SHARDS);
    assert_eq!(manifest.bestanden.len(), SHARDS + 1);
    assert!(
        manifest.aangemaakt_op <= clock.now(),
        "the cut's time is the clock's"
    );
    close(store);

    let restored = dir.path().join("restored");
    let answered = restore(&naar, &EmbeddedConfig::scratch(&restored, SHARDS)).expect("restore");
    assert_eq!(answered, manifest);
    let original = dump(&data);
    let copy = dump(&restored);
    assert_eq!(
        original.keys().collect::<Vec<_>>(),
        copy.keys().collect::<Vec<_>>(),
        "the same databases and keyspaces"
    );
    for (keyspace, entries) in &original {
        assert_eq!(
            entries, &copy[keyspace],
            "keyspace {keyspace:?} entry for entry"
        );
    }
    let counted: u64 = original.values().map(|e| e.len() as u64).sum();
    assert_eq!(
        manifest.entries(),
        counted,
        "the manifest counts every entry"
    );
    assert!(
        original[&("shard-000".to_owned(), "batches".to_owned())].len()
            + original[&("shard-001".to_owned(), "batches".to_owned())].len()
            + original[&("shard-002".to_owned(), "batches".to_owned())].len()
            == 12
    );
    // The Leveranciersportaal's keyspaces (issue 13) are in it, with what they held.
    let afwijzingen: usize = (0..SHARDS)
        .map(|i| copy[&(format!("shard-{i:03}"), "afwijzingen".to_owned())].len())
        .sum();
    assert_eq!(afwijzingen, SHARDS, "one afwijzing per processed batch");
    assert_eq!(
        copy[&("catalog".to_owned(), "sessies".to_owned())].len(),
        1,
        "the portal's session"
    );

    // And the engine's own open takes it: the batches are there, processed or parked.
    let reopened = open(&restored);
    let processed = (0..12u32)
        .filter_map(|no| {
            let oin = if no % 2 == 0 { OIN_A } else { OIN_B };
            reopened
                .find_batch(oin, &batch(oin, no, 1).batch_id)
                .expect("find")
        })
        .filter(|record| record.status == BatchStatus::Verwerkt)
        .count();
    assert_eq!(processed, SHARDS.min(12), "one processed batch per shard");
    let afwijzingen: usize = [OIN_A, OIN_B]
        .iter()
        .map(|oin| {
            reopened
                .afwijzingen(oin, AfwijzingFilter::default(), None, 100)
                .expect("afwijzingen")
                .len()
        })
        .sum();
    assert_eq!(afwijzingen, SHARDS, "the afwijzingen read back");
    assert_eq!(
        reopened.sessie(&SESSIE).expect("sessie"),
        Some(sessie()),
        "the session read back"
    );
    close(reopened);
}

/// A good backup of a small store, in `dir/backup`.
fn a_backup(dir: &Path) -> std::path::PathBuf {
    let (store, clock) = filled(&dir.join("data"));
    let naar = dir.join("backup");
    store.backup(&naar, &clock).expect("the backup");
    close(store);
    naar
}

fn refused(naar: &Path, dir: &Path) -> BackupError {
    let target = dir.join("restored");
    let error = restore(naar, &EmbeddedConfig::scratch(&target, SHARDS))
        .expect_err("the restore must be refused");
    assert!(!target.exists(), "a refused restore wrote its target");
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .expect("read the dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("restore-"))
        .collect();
    assert!(leftovers.is_empty(), "a refused restore left {leftovers:?}");
    error
}

fn manifest_of(naar: &Path) -> Manifest {
    serde_json::from_slice(&std::fs::read(naar.join(MANIFEST_FILE)).expect("read")).expect("json")
}

#[test]
fn a_flipped_byte_is_refused_by_its_checksum() {
    let dir = tempfile::tempdir().expect("temp dir");
    let naar = a_backup(dir.path());
    let file = naar.join("shard-001.bin");
    let mut bytes = std::fs::read(&file).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&file, bytes).expect("write");
    let error = refused(&naar, dir.path());
    let text = error.to_string();
    assert!(matches!(error, BackupError::Damaged { .. }), "{error:?}");
    assert!(
        text.contains("shard-001.bin") && text.contains("damaged"),
        "{text}"
    );
    assert!(verify(&naar).is_err());
}

#[test]
fn a_truncated_file_is_refused_by_its_length() {
    let dir = tempfile::tempdir().expect("temp dir");
    let naar = a_backup(dir.path());
    let file = naar.join("catalog.bin");
    let bytes = std::fs::read(&file).expect("read");
    std::fs::write(&file, &bytes[..bytes.len() - 7]).expect("write");
    let text = refused(&naar, dir.path()).to_string();
    assert!(
        text.contains("catalog.bin") && text.contains("truncated"),
        "{text}"
    );
}

#[test]
fn a_missing_data_file_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let naar = a_backup(dir.path());
    std::fs::remove_file(naar.join("shard-002.bin")).expect("remove");
    let text = refused(&naar, dir.path()).to_string();
    assert!(
        text.contains("shard-002.bin") && text.contains("missing"),
        "{text}"
    );
}

#[test]
fn a_backup_without_its_manifest_is_partial_and_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let naar = a_backup(dir.path());
    std::fs::remove_file(naar.join(MANIFEST_FILE)).expect("remove");
    let error = refused(&naar, dir.path());
    assert!(matches!(error, BackupError::NoManifest { .. }), "{error:?}");
    assert!(error.to_string().contains("partial"), "{error}");
}

#[test]
fn an_unknown_backup_format_and_another_layout_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let naar = a_backup(dir.path());
    let good = manifest_of(&naar);

    let mut later = serde_json::to_value(&good).expect("json");
    later["formaat"] = 2.into();
    later["iets_nieuws"] = true.into();
    std::fs::write(naar.join(MANIFEST_FILE), later.to_string()).expect("write");
    let error = refused(&naar, dir.path());
    assert!(
        matches!(error, BackupError::UnknownFormat { found: 2 }),
        "{error:?}"
    );
    assert!(error.to_string().contains("backup format 2"), "{error}");

    let mut other = good.clone();
    other.layout_formaat = crate::store::embedded::FORMAT + 1;
    std::fs::write(
        naar.join(MANIFEST_FILE),
        serde_json::to_vec(&other).expect("json"),
    )
    .expect("write");
    let error = refused(&naar, dir.path());
    assert!(
        matches!(error, BackupError::LayoutMismatch { .. }),
        "{error:?}"
    );

    let mut miscounted = good;
    miscounted.bestanden[1].keyspaces[0].entries += 1;
    std::fs::write(
        naar.join(MANIFEST_FILE),
        serde_json::to_vec(&miscounted).expect("json"),
    )
    .expect("write");
    let error = refused(&naar, dir.path());
    assert!(error.to_string().contains("entries"), "{error}");
}

#[test]
fn a_restore_into_a_used_directory_and_a_backup_into_one_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let naar = a_backup(dir.path());
    let used = dir.path().join("used");
    std::fs::create_dir(&used).expect("mkdir");
    std::fs::write(used.join("iets"), b"x").expect("a file");
    let error = restore(&naar, &EmbeddedConfig::scratch(&used, SHARDS)).expect_err("refused");
    assert!(matches!(error, BackupError::NotEmpty { .. }), "{error:?}");
    assert_eq!(
        std::fs::read_dir(&used).expect("read").count(),
        1,
        "left as it was"
    );

    // An empty directory is taken.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    restore(&naar, &EmbeddedConfig::scratch(&empty, SHARDS)).expect("an empty target");

    let store = open(&dir.path().join("data"));
    let clock = SharedClock::system();
    let error = store.backup(&used, &clock).expect_err("refused");
    assert!(matches!(error, BackupError::NotEmpty { .. }), "{error:?}");
    let error = store
        .backup(&naar, &clock)
        .expect_err("refused: a backup is there");
    assert!(matches!(error, BackupError::NotEmpty { .. }), "{error:?}");
    verify(&naar).expect("the refusal left the old backup whole");
    close(store);
}

#[test]
fn a_second_open_of_a_data_directory_is_refused_while_the_first_holds_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(dir.path());
    assert!(super::super::data_dir_in_use(dir.path()).expect("look"));
    let error = EmbeddedStore::open(EmbeddedConfig::scratch(dir.path(), SHARDS))
        .expect_err("a second open");
    assert!(
        matches!(error, crate::store::StoreError::InUse { .. }),
        "{error:?}"
    );
    close(store);
    assert!(!super::super::data_dir_in_use(dir.path()).expect("look"));
}

/// The cut: backups taken while processing delivers and completes batches; in every restored
/// store each processed batch's `Verwerkt` berichten are in the box.
#[test]
fn backups_during_processing_never_hold_a_receipt_without_its_deliveries() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir.path().join("data"));
    let (_manual, clock) = manual_clock("2026-11-03T12:00:00Z");
    let done = Arc::new(AtomicBool::new(false));
    let processing = {
        let (store, clock, done) = (store.clone(), clock.clone(), done.clone());
        std::thread::spawn(move || {
            for no in 0..400u32 {
                parked(park(&*store, batch(OIN_A, no, 1 + no % 3), clock.now()));
                for shard in 0..SHARDS {
                    while process_first(&store, shard, &clock, true) {}
                }
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut backups = 0;
    let mut checked_receipts = 0usize;
    while !done.load(Ordering::SeqCst) || backups < 3 {
        let naar = dir.path().join(format!("backup-{backups}"));
        store.backup(&naar, &clock).expect("a backup under load");
        let restored = dir.path().join(format!("restored-{backups}"));
        restore(&naar, &EmbeddedConfig::scratch(&restored, SHARDS)).expect("restore");
        checked_receipts += check_cut(&restored);
        backups += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    processing.join().expect("processing");
    assert!(
        backups >= 3 && checked_receipts > 0,
        "{backups} backups, {checked_receipts} receipts"
    );
    close(store);
}

/// Checks one restored data directory: every processed batch's `Verwerkt` berichten have
/// their box entry. Answers how many processed batches it checked.
fn check_cut(data_dir: &Path) -> usize {
    let store = open(data_dir);
    let boxed: HashSet<(String, String)> = store
        .box_entries(BSN_X, None, usize::MAX)
        .expect("the box")
        .into_iter()
        .map(|entry| (entry.batch_id, entry.inhoud.bericht_id))
        .collect();
    let mut checked = 0;
    for shard in store.shards.iter() {
        for guard in shard.batches.iter() {
            let (key, value) = guard.into_inner().expect("an entry");
            let record: BatchRecord = decode(&key, &value).expect("a batch record");
            if record.status != BatchStatus::Verwerkt {
                continue;
            }
            checked += 1;
            let receipt = record
                .receipt
                .as_ref()
                .expect("a processed batch has its receipt");
            for uitkomst in &receipt.berichten {
                assert!(
                    boxed.contains(&(record.batch_id.clone(), uitkomst.bericht_id.clone())),
                    "batch {} has a receipt but bericht {} is not in the box",
                    record.batch_id,
                    uitkomst.bericht_id
                );
            }
        }
    }
    close(store);
    checked
}
