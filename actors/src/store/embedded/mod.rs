//! The embedded store: N fjall shards plus a catalog database, in one data directory; it
//! fills every role of [`crate::store::Store`] on one machine.
//!
//! # Layout
//!
//! The machinery, one file each (as vector's disk buffer is split):
//!
//! - `config.rs`: [`EmbeddedConfig`], the `[store]` section, with its defaults and validation.
//! - `mod.rs`: [`EmbeddedStore`] and opening it; helpers the roles share.
//! - `shard.rs`: one shard's fjall database and keyspaces, and its recovery at start-up.
//! - `writer.rs`: the group-commit writer thread of each shard, parking's only writer.
//! - `catalog.rs`: the catalog database, the layout format ([`FORMAT`]) and the shard-count
//!   guard.
//! - `backup/`: the online backup (a consistent cut of every database, written as a
//!   versioned, checksummed set of files) and the restore into a new data directory.
//! - `disk.rs`: the free-space watch behind `DiskFull`.
//! - `parked_ids.rs`: `ParkedIdFilter`, the counting Bloom filter in front of the
//!   parked ids (`parked_ids`).
//! - `temp_backend.rs`: the store in temporary directories, for the conformance suite.
//! - `bulk.rs`: `EmbeddedStore::load_citizens`, a bulk loader of accounts and voorkeuren for
//!   benchmarks (hidden from the documentation; the engine never calls it).
//!
//! The roles, one file each, each implementing its trait directly:
//! `parking.rs`, `processing.rs`, `receipts.rs`, `notifications.rs`, `citizens.rs`,
//! `afnemers.rs`, `reports.rs`, `retention.rs`, `abonnementen.rs`, `portaal.rs`, `admin.rs`.
//!
//! Layout on disk: `shard-000/ .. shard-NNN/` (one fjall database each; its keyspaces are
//! listed in ARCHITECTURE.md) and `catalog/`, which records the layout format; a data
//! directory of another format is refused when the store opens. `berichtenbox.lock` is the
//! directory's lock: one process opens it at a time. Writes are fjall write batches committed with
//! `PersistMode::SyncData`; each call is durable when it returns. This module starts threads
//! (writers, disk watch) and stops them in `Admin::close`; it does no request work itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;

use crossbeam_channel::Sender;

mod abonnementen;
mod admin;
mod afnemers;
pub mod backup;
mod bulk;
mod catalog;
mod citizens;
mod config;
mod disk;
mod notifications;
mod parked_ids;
mod parking;
mod portaal;
mod processing;
mod receipts;
mod reports;
mod retention;
mod shard;
mod writer;

pub use self::catalog::FORMAT;
pub use self::config::{EmbeddedConfig, InvalidEmbeddedConfig};

use self::catalog::Catalog;
use self::disk::DiskWatch;
use self::shard::ShardHandles;
use self::writer::ParkJob;
use super::record::decode;
use super::{Sharded, StoreError};
use crate::core::routing::shard_of_citizen;

pub struct EmbeddedStore {
    config: EmbeddedConfig,
    shards: Vec<ShardHandles>,
    catalog: Catalog,
    senders: RwLock<Option<Vec<Sender<ParkJob>>>>,
    writers: std::sync::Mutex<Vec<JoinHandle<()>>>,
    disk: std::sync::Mutex<Option<DiskWatch>>,
    available_bytes: Arc<AtomicU64>,
    closed: AtomicBool,
    /// Held while a completion stamps and commits its receipts, and while a feed reader reads
    /// the time up to which it may answer: the feed grows only at its end.
    feed_lock: std::sync::Mutex<()>,
    /// Held while a quota is read, compared and written (`Abonnementen::vraag_aan`,
    /// `take_quotum`).
    quota_lock: std::sync::Mutex<()>,
    /// Europe/Amsterdam: the calendar whose days the tellingen count.
    zone: jiff::tz::TimeZone,
    /// The cut gate: its read side is held by each processing write that spans shards
    /// (`claim_bericht_ids`, `release_bericht_ids`, `deliver`, `complete`), its write side by
    /// a backup while it takes a snapshot of every database (`backup::cut`). So the snapshots
    /// see processing between two such calls, a state it could have crashed in.
    cut_gate: RwLock<()>,
    /// The data directory's lock (`berichtenbox.lock`, an exclusive `flock`), held while the
    /// store is open: one process per data directory.
    _dir_lock: std::fs::File,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("data_dir", &self.config.data_dir)
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Opens (recovering after a crash) or creates the store, and starts one writer per shard.
    pub fn open(config: EmbeddedConfig) -> Result<Self, StoreError> {
        assert!(config.shards > 0 && config.shards <= usize::from(u16::MAX));
        std::fs::create_dir_all(&config.data_dir)?;
        let dir_lock = lock_data_dir(&config.data_dir)?;
        let catalog = catalog::open_catalog(&config.data_dir)?;
        catalog::check_shard_count(&catalog, config.shards)?;
        let zone = crate::core::caps::amsterdam()
            .map_err(|error| StoreError::Inconsistent(error.to_string()))?;

        // Each shard is a database of its own: they open (replay their journals, count what
        // waits) side by side, which after a heavy day is most of a restart's time.
        let shards = std::thread::scope(|scope| {
            let opening: Vec<_> = (0..config.shards)
                .map(|index| {
                    let config = &config;
                    std::thread::Builder::new()
                        .name(format!("shard-open-{index:03}"))
                        .spawn_scoped(scope, move || shard::open_shard(config, index))
                })
                .collect::<Result<_, _>>()?;
            opening
                .into_iter()
                .map(|thread| {
                    thread.join().unwrap_or_else(|_| {
                        Err(StoreError::Inconsistent("opening a shard panicked".into()))
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })?;

        let available_bytes = Arc::new(AtomicU64::new(fs4::available_space(&config.data_dir)?));
        let disk = disk::spawn_disk_watch(config.data_dir.clone(), available_bytes.clone())?;

        let mut senders = Vec::with_capacity(shards.len());
        let mut writers = Vec::with_capacity(shards.len());
        for shard in &shards {
            let (sender, thread) = writer::spawn(shard, &config, &zone)?;
            senders.push(sender);
            writers.push(thread);
        }

        Ok(Self {
            config,
            shards,
            catalog,
            senders: RwLock::new(Some(senders)),
            writers: std::sync::Mutex::new(writers),
            disk: std::sync::Mutex::new(Some(disk)),
            available_bytes,
            closed: AtomicBool::new(false),
            feed_lock: std::sync::Mutex::new(()),
            quota_lock: std::sync::Mutex::new(()),
            zone,
            cut_gate: RwLock::new(()),
            _dir_lock: dir_lock,
        })
    }

    fn shard(&self, index: usize) -> &ShardHandles {
        &self.shards[index]
    }

    /// The shard that holds a citizen's account, voorkeuren, box and notifications.
    fn citizen_shard(&self, bsn: &str) -> &ShardHandles {
        self.shard(shard_of_citizen(bsn, self.shards.len()))
    }
}

/// The name of the data directory's lock file.
pub const LOCK_FILE: &str = "berichtenbox.lock";

/// How long opening waits for a lock that is being let go before it refuses the directory.
const LOCK_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Takes the data directory's lock, or answers [`StoreError::InUse`] when another process
/// holds it. The kernel lets go of it when the process ends, however it ends.
///
/// A lock can be held a moment longer than its owner wants: by a process that is still
/// ending, or by a child that another thread of the owning process forked just then and that
/// has not yet exec'd (it shares the lock's open file until it does). So a held lock is
/// tried again for [`LOCK_GRACE`] (every 20 ms) before the directory counts as in use.
fn lock_data_dir(data_dir: &std::path::Path) -> Result<std::fs::File, StoreError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(data_dir.join(LOCK_FILE))?;
    let until = std::time::Instant::now() + LOCK_GRACE;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < until => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::InUse {
                    data_dir: data_dir.to_path_buf(),
                });
            }
            Err(std::fs::TryLockError::Error(error)) => return Err(error.into()),
        }
    }
}

/// Whether another process holds the data directory's lock (an engine serves from it). A
/// directory without a lock file is not in use. Takes the lock for a moment when it is free.
pub fn data_dir_in_use(data_dir: &std::path::Path) -> Result<bool, StoreError> {
    let path = data_dir.join(LOCK_FILE);
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
    {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(error.into()),
    };
    match file.try_lock() {
        Ok(()) => Ok(false),
        Err(std::fs::TryLockError::WouldBlock) => Ok(true),
        Err(std::fs::TryLockError::Error(error)) => Err(error.into()),
    }
}

impl Sharded for EmbeddedStore {
    fn shard_count(&self) -> usize {
        self.shards.len()
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        if let Err(error) = crate::store::Admin::close(self) {
            tracing::error!(%error, "closing the store failed");
        }
    }
}

/// Decodes every record an iterator of a keyspace yields.
fn collect<T: super::record::Record>(
    iter: impl Iterator<Item = fjall::Guard>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    for guard in iter {
        let (key, value) = guard.into_inner()?;
        out.push(decode(&key, &value)?);
    }
    Ok(out)
}

/// Groups items by shard, keeping each item's position in the input.
fn by_shard<T>(items: &[T], shard_of: impl Fn(&T) -> usize) -> HashMap<usize, Vec<usize>> {
    let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
    for (position, item) in items.iter().enumerate() {
        groups.entry(shard_of(item)).or_default().push(position);
    }
    groups
}

/// Takes `n` from a queue's counter without wrapping below zero (a removal of what a crash
/// already removed is not counted twice into a huge number).
fn saturating_sub(counter: &AtomicU64, n: u64) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |current| {
        Some(current.saturating_sub(n))
    });
}

#[cfg(any(test, feature = "conformance"))]
pub mod temp_backend;
#[cfg(test)]
mod tests;
