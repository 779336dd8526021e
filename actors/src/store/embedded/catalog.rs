//! The catalog database, `catalog/`: afnemers, API-key hashes, berichttypen, the shard count
//! the data directory was created with, the notification caps' window, the prognoses and the
//! engine's runs. One fjall database beside the shards, written rarely, each write synced.
//!
//! This module opens it and guards the shard count; the roles that keep their records here
//! (afnemers, notifications, reports) read and write it in their own files.

use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use crate::store::StoreError;

const SHARD_COUNT_KEY: &[u8] = b"shard_count";
/// The key in `meta` of the notification caps' window.
pub(super) const NOTIFICATION_WINDOW_KEY: &[u8] = b"notification_window";

/// Handles on the catalog database.
pub(super) struct Catalog {
    pub(super) db: Database,
    pub(super) afnemers: Keyspace,
    pub(super) api_keys: Keyspace,
    pub(super) berichttypen: Keyspace,
    /// The shard count and the notification caps' window.
    pub(super) meta: Keyspace,
    /// The rolling forecast: oin ++ `YYYY-MM` → forecast.
    pub(super) prognoses: Keyspace,
    /// The engine's runs (start ++ last seen) for availability: start nanos → run.
    pub(super) runs: Keyspace,
}

pub(super) fn open_catalog(path: &Path) -> Result<Catalog, StoreError> {
    let db = Database::builder(path)
        .worker_threads(1)
        .cache_size(8 << 20)
        .open()?;
    Ok(Catalog {
        afnemers: db.keyspace("afnemers", KeyspaceCreateOptions::default)?,
        api_keys: db.keyspace("api_sleutels", KeyspaceCreateOptions::default)?,
        berichttypen: db.keyspace("berichttypen", KeyspaceCreateOptions::default)?,
        meta: db.keyspace("meta", KeyspaceCreateOptions::default)?,
        prognoses: db.keyspace("prognoses", KeyspaceCreateOptions::default)?,
        runs: db.keyspace("runs", KeyspaceCreateOptions::default)?,
        db,
    })
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
