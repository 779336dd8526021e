//! Online backup and restore of the embedded store (ARCHITECTURE.md, "Backup format" and
//! "The cut").
//!
//! A backup is taken from a cut: under the write side of the store's cut gate, one fjall
//! snapshot of the catalog and of every shard, taken together while no processing write that
//! spans shards is under way (a park is one write batch in one shard and needs no gate). The
//! snapshots are then read on threads of their own, each database's keyspaces (whatever
//! keyspaces it holds: listed from fjall, not from a list of ours) into one data file
//! (`format.rs`); every file is read back and checked against what was written, and only then
//! is `manifest.json` written, atomically. [`restore`] checks a backup whole before it writes
//! a byte, writes it into a temporary directory beside the target, and renames that into place.
//!
//! Nothing here runs on an event loop: a backup reads the whole store, so callers run it on a
//! thread or the blocking pool.

mod format;
mod restore;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use fjall::{Database, KeyspaceCreateOptions, Readable as _, Snapshot};

pub use self::format::{
    BACKUP_FORMAT, BackupFile, KeyspaceCount, MANIFEST_FILE, Manifest, read_manifest,
};
use self::format::{Entry, HashingWriter, read_file, shard_database, sync_dir, write_frame};
pub use self::restore::restore;
use super::EmbeddedStore;
use crate::core::clock::SharedClock;
use crate::store::StoreError;

/// Why a backup or a restore did not happen; every variant names the file or directory.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} exists and is not empty: {purpose} goes into a new or empty directory", .path.display())]
    NotEmpty {
        path: PathBuf,
        purpose: &'static str,
    },
    #[error(
        "{} holds no {MANIFEST_FILE}: the backup is partial (it was interrupted before it was \
         complete) or the directory is not a backup",
        .dir.display()
    )]
    NoManifest { dir: PathBuf },
    #[error("the backup has backup format {found}, this build reads backup format {BACKUP_FORMAT}")]
    UnknownFormat { found: u32 },
    #[error(
        "the backup holds a store of layout format {found}, this build reads layout format \
         {expected}: restore it with the build that wrote it"
    )]
    LayoutMismatch { found: u32, expected: u32 },
    #[error("backup file {} is damaged: {what}", .file.display())]
    Damaged { file: PathBuf, what: String },
}

impl From<fjall::Error> for BackupError {
    fn from(error: fjall::Error) -> Self {
        Self::Store(StoreError::Engine(error))
    }
}

/// How many databases are written at once (each by a thread of its own).
fn writers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4))
}

impl EmbeddedStore {
    /// Takes a backup into `naar` (a new or empty directory) while the store serves: the cut,
    /// then every database into its data file, every file read back and checked, then the
    /// manifest. Answers the manifest. Blocking, and long for a large store.
    ///
    /// On failure what was written is removed again; a backup cut short by a crash has no
    /// manifest and is refused by [`restore`].
    pub fn backup(&self, naar: &Path, clock: &SharedClock) -> Result<Manifest, BackupError> {
        let created_dir = prepare_target(naar, "a backup")?;
        let began = std::time::Instant::now();
        let written = self.write_backup(naar, clock, began);
        match written {
            Ok(manifest) => Ok(manifest),
            Err(error) => {
                remove_partial(naar, created_dir, self.shards.len());
                Err(error)
            }
        }
    }

    fn write_backup(
        &self,
        naar: &Path,
        clock: &SharedClock,
        began: std::time::Instant,
    ) -> Result<Manifest, BackupError> {
        let (aangemaakt_op, snapshots) = self.cut(clock)?;
        let databases: Vec<(String, &Database, Snapshot)> =
            std::iter::once(("catalog".to_owned(), &self.catalog.db, snapshots.0))
                .chain(
                    self.shards
                        .iter()
                        .zip(snapshots.1)
                        .map(|(shard, snapshot)| {
                            (shard_database(shard.index), &shard.db, snapshot)
                        }),
                )
                .collect();

        // Each database into its file, on a few threads (the CPU encodes and hashes).
        let next = AtomicUsize::new(0);
        let results: Vec<Result<Vec<(usize, BackupFile)>, BackupError>> =
            std::thread::scope(|scope| {
                let threads: Vec<_> = (0..writers().min(databases.len()))
                    .map(|_| {
                        scope.spawn(|| -> Result<Vec<(usize, BackupFile)>, BackupError> {
                            let mut done = Vec::new();
                            loop {
                                let index = next.fetch_add(1, Ordering::Relaxed);
                                let Some((name, db, snapshot)) = databases.get(index) else {
                                    return Ok(done);
                                };
                                done.push((index, write_database(naar, name, db, snapshot)?));
                            }
                        })
                    })
                    .collect();
                threads
                    .into_iter()
                    .map(|thread| {
                        thread.join().unwrap_or_else(|_| {
                            Err(StoreError::Inconsistent("a backup thread panicked".into()).into())
                        })
                    })
                    .collect()
            });
        drop(databases);
        let mut files = Vec::new();
        for result in results {
            files.extend(result?);
        }
        files.sort_by_key(|(index, _)| *index);
        let bestanden: Vec<BackupFile> = files.into_iter().map(|(_, file)| file).collect();
        sync_dir(naar)?;

        // Verify what was written: read every file back, as a restore will.
        for file in &bestanden {
            read_file(naar, file, |_, _, _| Ok(()))?;
        }

        let manifest = Manifest {
            formaat: BACKUP_FORMAT,
            layout_formaat: super::FORMAT,
            shards: self.shards.len(),
            aangemaakt_op,
            engine_versie: env!("CARGO_PKG_VERSION").to_owned(),
            duur_ms: u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX),
            bestanden,
        };
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|error| StoreError::Inconsistent(format!("the manifest: {error}")))?;
        format::write_atomically(naar, MANIFEST_FILE, &json)?;
        Ok(manifest)
    }

    /// The cut: a snapshot of the catalog and of every shard, taken under the cut gate's
    /// write side (no claim, release, delivery or completion under way) and each shard's
    /// commit gate (no write batch of the shard half applied: fjall 3.1 can otherwise show a
    /// snapshot part of one, docs/fjall-snapshot-anomaly.md), with the clock's time. Holds the
    /// gates while the snapshots are taken; a shard's commit gate waits for the write batches
    /// under way there to commit (their sync included), so parks pause for about one sync.
    fn cut(
        &self,
        clock: &SharedClock,
    ) -> Result<(jiff::Timestamp, (Snapshot, Vec<Snapshot>)), StoreError> {
        let _gate = self.cut_gate.write().map_err(|_| StoreError::Closed)?;
        // In shard order; no writer holds two shards' gates at once, so this cannot deadlock.
        let _commits: Vec<_> = self
            .shards
            .iter()
            .map(|shard| {
                shard
                    .commit_gate
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
            })
            .collect();
        let at = clock.now();
        let catalog = self.catalog.db.snapshot();
        let shards = self
            .shards
            .iter()
            .map(|shard| shard.db.snapshot())
            .collect();
        Ok((at, (catalog, shards)))
    }
}

/// Writes one database's snapshot, every keyspace it holds, into `naar/NAME.bin`.
fn write_database(
    naar: &Path,
    name: &str,
    db: &Database,
    snapshot: &Snapshot,
) -> Result<BackupFile, BackupError> {
    let file_name = format!("{name}.bin");
    let path = naar.join(&file_name);
    let io = |source| BackupError::Io {
        path: path.clone(),
        source,
    };
    let mut names: Vec<String> = db
        .list_keyspace_names()
        .iter()
        .map(|name| name.to_string())
        .collect();
    names.sort();
    let file = std::fs::File::create_new(&path).map_err(io)?;
    let mut out = HashingWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
    let mut keyspaces = Vec::with_capacity(names.len());
    let mut scratch = Vec::new();
    for (index, keyspace_name) in names.into_iter().enumerate() {
        let keyspace = db.keyspace(&keyspace_name, KeyspaceCreateOptions::default)?;
        let keyspace_index = u32::try_from(index)
            .map_err(|_| StoreError::Inconsistent("more keyspaces than a u32 counts".into()))?;
        let mut entries = 0u64;
        for guard in snapshot.iter(&keyspace) {
            let (key, value) = guard.into_inner()?;
            let entry = Entry {
                keyspace: keyspace_index,
                key: &key,
                value: &value,
            };
            write_frame(&mut out, &entry, &mut scratch).map_err(io)?;
            entries += 1;
        }
        keyspaces.push(KeyspaceCount {
            naam: keyspace_name,
            entries,
        });
    }
    let (buffered, bytes, sha256) = out.finish();
    let file = buffered
        .into_inner()
        .map_err(|error| io(error.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok(BackupFile {
        naam: file_name,
        database: name.to_owned(),
        bytes,
        sha256,
        keyspaces,
    })
}

/// Makes `path` ready to receive a backup or a restore: a new directory, or an empty one.
/// Answers whether it created it.
fn prepare_target(path: &Path, purpose: &'static str) -> Result<bool, BackupError> {
    let io = |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::read_dir(path) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BackupError::NotEmpty {
                    path: path.to_path_buf(),
                    purpose,
                });
            }
            Ok(false)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(path).map_err(io)?;
            Ok(true)
        }
        Err(error) => Err(io(error)),
    }
}

/// Removes what a failed backup wrote (only the names a backup writes), and the directory
/// when the backup created it.
fn remove_partial(naar: &Path, created_dir: bool, shards: usize) {
    let names = std::iter::once("catalog".to_owned())
        .chain((0..shards).map(shard_database))
        .map(|database| format!("{database}.bin"))
        .chain([MANIFEST_FILE.to_owned(), format!("{MANIFEST_FILE}.tmp")]);
    for name in names {
        let _ = std::fs::remove_file(naar.join(name));
    }
    if created_dir {
        let _ = std::fs::remove_dir(naar);
    }
}

/// Checks a backup whole without writing anything: its manifest, and every data file's
/// length, SHA-256, frames and entry counts. Answers the manifest.
pub fn verify(van: &Path) -> Result<Manifest, BackupError> {
    let manifest = read_manifest(van)?;
    for file in &manifest.bestanden {
        read_file(van, file, |_, _, _| Ok(()))?;
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests;
