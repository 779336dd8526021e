//! Restore: a backup into a new data directory that `serve` opens.
//!
//! The manifest is checked first; then the store is opened as the engine opens it in a
//! temporary directory beside the target (`.NAME.restore-XXXXXX`), so every keyspace exists
//! with the options the engine gives it, and each data file is read once: checked as it is
//! read (its length, SHA-256, frames and entry counts) while its entries go in with fjall write
//! batches. Only a backup that passed whole reaches the target: a damaged file fails the
//! restore and its temporary directory is removed. Then the store is closed (every database
//! synced, `SyncAll`), the directory renamed to the target and the parent synced. An
//! interrupted restore leaves only the temporary directory, which `serve` never opens.

use std::collections::HashMap;
use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions};

use super::format::{read_file, read_manifest, sync_dir};
use super::{BackupError, Manifest};
use crate::store::Admin as _;
use crate::store::embedded::{EmbeddedConfig, EmbeddedStore};

/// A write batch is committed once it holds this many bytes of keys and values.
const BATCH_BYTES: usize = 8 << 20;

/// Restores the backup in `van` into `config.data_dir`, which must not exist or be empty.
/// The store is written with `config`'s settings and the backup's shard count. Answers the
/// backup's manifest.
pub fn restore(van: &Path, config: &EmbeddedConfig) -> Result<Manifest, BackupError> {
    let target = config.data_dir.clone();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BackupError::Io { path, source }
    };
    // Refuse a used target before the (long) read of the backup.
    if std::fs::read_dir(&target).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(BackupError::NotEmpty {
            path: target,
            purpose: "a restore",
        });
    }
    let manifest = read_manifest(van)?;

    let name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .ok_or_else(|| BackupError::NotEmpty {
            path: target.clone(),
            purpose: "a restore",
        })?;
    let parent = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    let temporary = tempfile::Builder::new()
        .prefix(&format!(".{name}.restore-"))
        .tempdir_in(&parent)
        .map_err(io(&parent))?;

    let mut restoring = config.clone();
    restoring.data_dir = temporary.path().to_path_buf();
    restoring.shards = manifest.shards;
    let store = EmbeddedStore::open(restoring)?;
    let databases: Vec<&Database> = std::iter::once(&store.catalog.db)
        .chain(store.shards.iter().map(|shard| &shard.db))
        .collect();
    // An error drops the store, then the temporary directory with it: nothing of a damaged
    // backup stays.
    for (file, db) in manifest.bestanden.iter().zip(databases) {
        load(van, file, db)?;
    }
    store.close()?;
    drop(store);

    let restored = temporary.keep();
    if target.exists() {
        // Empty, checked above.
        std::fs::remove_dir(&target).map_err(io(&target))?;
    }
    std::fs::rename(&restored, &target).map_err(io(&target))?;
    sync_dir(&parent)?;
    Ok(manifest)
}

/// Writes one data file's entries into its database, in write batches of [`BATCH_BYTES`].
fn load(van: &Path, file: &super::BackupFile, db: &Database) -> Result<(), BackupError> {
    let mut keyspaces: HashMap<String, Keyspace> = HashMap::new();
    let mut batch = db.batch();
    let mut batch_bytes = 0usize;
    read_file(van, file, |keyspace_name, key, value| {
        let keyspace = match keyspaces.get(keyspace_name) {
            Some(keyspace) => keyspace,
            None => {
                let keyspace = db.keyspace(keyspace_name, KeyspaceCreateOptions::default)?;
                keyspaces
                    .entry(keyspace_name.to_owned())
                    .or_insert(keyspace)
            }
        };
        batch.insert(keyspace, key, value);
        batch_bytes += key.len() + value.len();
        if batch_bytes >= BATCH_BYTES {
            std::mem::replace(&mut batch, db.batch()).commit()?;
            batch_bytes = 0;
        }
        Ok(())
    })?;
    if !batch.is_empty() {
        batch.commit()?;
    }
    Ok(())
}
