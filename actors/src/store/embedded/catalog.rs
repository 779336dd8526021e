//! The catalog database, `catalog/`: afnemers, API-key records, berichttypen, the shard count
//! the data directory was created with, the notification caps' window, the prognoses, the
//! engine's runs, the Abonnementservice's verzoeken and quotas, and the Leveranciersportaal's
//! sessions. One fjall database beside the shards, written rarely, each write synced.
//!
//! It also records the data directory's layout format ([`FORMAT`]). This module opens it and
//! guards the format and the shard count, refusing a data directory it would misread before
//! anything else is opened or written; the roles that keep their records here (afnemers,
//! notifications, reports, abonnementen, portaal) read and write it in their own files.

use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use crate::store::StoreError;

/// The layout format of the data directory this build reads and writes: the keyspaces' names,
/// the keys' layouts and the records' encodings. Format 1 is every data directory written
/// before the format was recorded (keyspaces named `geparkeerd`, `wachtend`,
/// `ontvangstbewijzen`, `webhooks`, `notificaties`, `notificaties_later`, `api_sleutels`; a
/// bericht's content repeated in the parked bericht and the box entry). Format 2 names the
/// keyspaces by the glossary, shares one `BerichtInhoud`, and keeps an API key as an
/// `ApiKeyRecord` (id, hash, OIN, created, last used) where format 1 kept only the OIN. Format 3
/// puts a version byte before every record ([`crate::store::record::Record`]) and keeps a
/// mutatie as a `MutatieRecord` where format 2 kept a bare byte. From format 3 on, a record's
/// change raises that record's version and is read on by newer builds; the format changes only
/// with the keyspaces and keys. A data directory of another format is refused at start-up.
pub const FORMAT: u32 = 3;

/// The key in `meta` of the layout format, a u32 big-endian.
const FORMAT_KEY: &[u8] = b"format";
const SHARD_COUNT_KEY: &[u8] = b"shard_count";
/// The key in `meta` of the notification caps' window.
pub(super) const NOTIFICATION_WINDOW_KEY: &[u8] = b"notification_window";

/// Handles on the catalog database.
pub(super) struct Catalog {
    pub(super) db: Database,
    pub(super) afnemers: Keyspace,
    /// SHA-256 of an API key → its `ApiKeyRecord` (layout format 2; format 1 held the OIN).
    pub(super) api_keys: Keyspace,
    pub(super) berichttypen: Keyspace,
    /// The shard count and the notification caps' window.
    pub(super) meta: Keyspace,
    /// The rolling forecast: oin ++ `YYYY-MM` → forecast.
    pub(super) prognoses: Keyspace,
    /// The engine's runs (start ++ last seen) for availability: start nanos → run.
    pub(super) runs: Keyspace,
    /// Abonnementservice verzoeken: oin ++ verzoekId → `VerzoekRecord`.
    pub(super) verzoeken: Keyspace,
    /// A `bsn-lijst`'s BSNs: oin ++ verzoekId ++ part (u32 big-endian) → `BsnDeel`.
    pub(super) verzoek_bsns: Keyspace,
    /// The durable quotas (the nights' verzoeken, the Validatieservice's hours): name →
    /// `QuotumRecord`.
    pub(super) quota: Keyspace,
    /// Leveranciersportaal sessions: SHA-256 of the cookie's token → `SessieRecord`.
    pub(super) sessies: Keyspace,
}

/// Opens the catalog of the data directory `data_dir`, creating it in a new one. Checks the
/// layout format first, before any other keyspace is opened (or created under its new name),
/// so a refused data directory is left as it was.
pub(super) fn open_catalog(data_dir: &Path) -> Result<Catalog, StoreError> {
    let db = Database::builder(data_dir.join("catalog"))
        .worker_threads(1)
        .cache_size(8 << 20)
        .open()?;
    let meta = db.keyspace("meta", KeyspaceCreateOptions::default)?;
    check_format(data_dir, &db, &meta)?;
    Ok(Catalog {
        afnemers: db.keyspace("afnemers", KeyspaceCreateOptions::default)?,
        api_keys: db.keyspace("api_keys", KeyspaceCreateOptions::default)?,
        berichttypen: db.keyspace("berichttypen", KeyspaceCreateOptions::default)?,
        meta,
        prognoses: db.keyspace("prognoses", KeyspaceCreateOptions::default)?,
        runs: db.keyspace("runs", KeyspaceCreateOptions::default)?,
        verzoeken: db.keyspace("verzoeken", KeyspaceCreateOptions::default)?,
        verzoek_bsns: db.keyspace("verzoek_bsns", KeyspaceCreateOptions::default)?,
        quota: db.keyspace("quota", KeyspaceCreateOptions::default)?,
        // Came with the Leveranciersportaal (issue 13) in format 3, as `verzoeken` and `quota`
        // with the Abonnementservice: created when a data directory written before it opens.
        sessies: db.keyspace("sessies", KeyspaceCreateOptions::default)?,
        db,
    })
}

/// A data directory of [`FORMAT`] passes; a new one (no shard yet) is stamped with it; any
/// other, or one that holds shards but records no format (format 1), is refused.
fn check_format(data_dir: &Path, db: &Database, meta: &Keyspace) -> Result<(), StoreError> {
    let found = match meta.get(FORMAT_KEY)? {
        Some(bytes) => Some(u32::from_be_bytes(bytes.as_ref().try_into().map_err(
            |_| StoreError::Inconsistent("the layout format record is not 4 bytes".into()),
        )?)),
        None => None,
    };
    match found {
        Some(FORMAT) => Ok(()),
        Some(other) => Err(StoreError::FormatMismatch {
            found: Some(other),
            expected: FORMAT,
        }),
        None if holds_shards(data_dir, meta)? => Err(StoreError::FormatMismatch {
            found: None,
            expected: FORMAT,
        }),
        None => {
            meta.insert(FORMAT_KEY, FORMAT.to_be_bytes())?;
            db.persist(PersistMode::SyncAll)?;
            Ok(())
        }
    }
}

/// Whether the data directory was used before: a shard count recorded, or a shard's folder.
fn holds_shards(data_dir: &Path, meta: &Keyspace) -> Result<bool, StoreError> {
    if meta.contains_key(SHARD_COUNT_KEY)? {
        return Ok(true);
    }
    for entry in std::fs::read_dir(data_dir)? {
        if entry?.file_name().to_string_lossy().starts_with("shard-") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Routing depends on the shard count: data written with N shards cannot be read with M.
pub(super) fn check_shard_count(catalog: &Catalog, shards: usize) -> Result<(), StoreError> {
    let meta = &catalog.meta;
    match meta.get(SHARD_COUNT_KEY)? {
        Some(stored) => {
            let stored = u64::from_be_bytes(stored.as_ref().try_into().map_err(|_| {
                StoreError::Inconsistent("shard count record is not 8 bytes".into())
            })?);
            if stored != shards as u64 {
                return Err(StoreError::Inconsistent(format!(
                    "the data directory was written with {stored} shards, configured are {shards}: \
                     set store.shards to {stored}"
                )));
            }
        }
        None => {
            meta.insert(SHARD_COUNT_KEY, (shards as u64).to_be_bytes())?;
            catalog.db.persist(PersistMode::SyncAll)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use fjall::{Database, KeyspaceCreateOptions, PersistMode};

    use super::{FORMAT, FORMAT_KEY};
    use crate::store::embedded::{EmbeddedConfig, EmbeddedStore};
    use crate::store::{Admin as _, StoreError};

    fn open(data_dir: &Path) -> Result<EmbeddedStore, StoreError> {
        EmbeddedStore::open(EmbeddedConfig::scratch(data_dir, 2))
    }

    /// Opens the catalog's `meta` as the store does not: raw, to read or forge the format.
    fn with_meta<T>(data_dir: &Path, f: impl FnOnce(&fjall::Keyspace) -> T) -> T {
        let db = Database::builder(data_dir.join("catalog"))
            .open()
            .expect("open the catalog");
        let meta = db
            .keyspace("meta", KeyspaceCreateOptions::default)
            .expect("meta");
        let out = f(&meta);
        db.persist(PersistMode::SyncAll).expect("persist");
        out
    }

    fn recorded(data_dir: &Path) -> Option<u32> {
        with_meta(data_dir, |meta| {
            meta.get(FORMAT_KEY)
                .expect("read the format")
                .map(|bytes| u32::from_be_bytes(bytes.as_ref().try_into().expect("4 bytes")))
        })
    }

    fn close(store: EmbeddedStore) {
        store.close().expect("close");
        drop(store);
    }

    #[test]
    fn a_new_data_directory_gets_the_current_format_and_opens_again() {
        let dir = tempfile::tempdir().expect("temp dir");
        close(open(dir.path()).expect("a new data directory opens"));
        assert_eq!(recorded(dir.path()), Some(FORMAT));
        close(open(dir.path()).expect("its own format opens again"));
        assert_eq!(recorded(dir.path()), Some(FORMAT));
    }

    #[test]
    fn a_data_directory_of_another_format_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().expect("temp dir");
        close(open(dir.path()).expect("a new data directory opens"));
        with_meta(dir.path(), |meta| {
            meta.insert(FORMAT_KEY, 1u32.to_be_bytes()).expect("forge");
        });

        let error = open(dir.path()).expect_err("format 1 must be refused");
        assert!(
            matches!(
                error,
                StoreError::FormatMismatch {
                    found: Some(1),
                    expected: FORMAT
                }
            ),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(
            text.contains("layout format 1,") && text.contains(&format!("reads format {FORMAT}")),
            "the error names both formats: {text}"
        );
        assert_eq!(
            recorded(dir.path()),
            Some(1),
            "the refusal wrote the format"
        );
    }

    #[test]
    fn a_data_directory_with_shards_but_no_format_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().expect("temp dir");
        close(open(dir.path()).expect("a new data directory opens"));
        with_meta(dir.path(), |meta| meta.remove(FORMAT_KEY).expect("remove"));

        let error = open(dir.path()).expect_err("an unrecorded format must be refused");
        assert!(
            matches!(
                error,
                StoreError::FormatMismatch {
                    found: None,
                    expected: FORMAT
                }
            ),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(
            text.contains("layout format 1 (unrecorded")
                && text.contains(&format!("reads format {FORMAT}")),
            "the error names both formats: {text}"
        );
        assert_eq!(recorded(dir.path()), None, "the refusal wrote a format");

        // As a format-1 directory holds it: shards on disk, no catalog record at all.
        let old = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(old.path().join("shard-000")).expect("a shard folder");
        let error = open(old.path()).expect_err("shards without a format must be refused");
        assert!(
            matches!(error, StoreError::FormatMismatch { found: None, .. }),
            "{error:?}"
        );
        assert_eq!(recorded(old.path()), None, "the refusal wrote a format");
    }
}
