//! The backup format (ARCHITECTURE.md, "Backup format"), version [`BACKUP_FORMAT`]: the
//! manifest, the framing of a data file's entries, and the check of a written file against
//! its manifest entry. Pure file I/O over a directory; it knows nothing of fjall.
//!
//! A backup is a directory: one data file per database (`catalog.bin`, `shard-000.bin`, ...)
//! and `manifest.json`, written last. A data file is a sequence of frames; a frame is the
//! length of its entry as a postcard varint (`u64`) followed by the postcard encoding of an
//! [`Entry`]: the keyspace (an index into the file's `keyspaces` in the manifest), the key
//! and the value (each a varint length and its bytes). A keyspace's entries are contiguous
//! and in key order.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::BackupError;

/// The version of the backup format this build writes and reads.
pub const BACKUP_FORMAT: u32 = 1;

/// The manifest's file name; a backup without it is partial.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The largest frame a reader accepts: a value of fjall's largest (4 GiB) would not fit a
/// reasonable record of ours; this bounds what a damaged length makes a reader allocate.
const MAX_FRAME_BYTES: u64 = 1 << 30;

/// What a backup holds, written last (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The backup format, [`BACKUP_FORMAT`].
    pub formaat: u32,
    /// The store's layout format the entries are in (`store::embedded::FORMAT`).
    pub layout_formaat: u32,
    /// The shard count of the data directory (routing depends on it).
    pub shards: usize,
    /// When the cut was taken, on the engine's clock.
    pub aangemaakt_op: jiff::Timestamp,
    /// The version of the engine that wrote it.
    pub engine_versie: String,
    /// How long the backup took, from the cut to the manifest, in milliseconds.
    pub duur_ms: u64,
    /// One data file per database: the catalog first, then the shards in order.
    pub bestanden: Vec<BackupFile>,
}

impl Manifest {
    /// The bytes of every data file together.
    pub fn bytes(&self) -> u64 {
        self.bestanden.iter().map(|file| file.bytes).sum()
    }

    /// The entries of every data file together.
    pub fn entries(&self) -> u64 {
        self.bestanden.iter().map(BackupFile::entries).sum()
    }

    /// Entries per keyspace name, over all databases (shards added up).
    pub fn entries_per_keyspace(&self) -> std::collections::BTreeMap<String, u64> {
        let mut out = std::collections::BTreeMap::new();
        for file in &self.bestanden {
            for keyspace in &file.keyspaces {
                *out.entry(format!("{}/{}", file.kind(), keyspace.naam))
                    .or_insert(0) += keyspace.entries;
            }
        }
        out
    }
}

/// One data file of a backup: one database's keyspaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupFile {
    /// Its file name in the backup directory (`catalog.bin`, `shard-007.bin`).
    pub naam: String,
    /// The database it holds, as its folder in the data directory (`catalog`, `shard-007`).
    pub database: String,
    /// Its length in bytes.
    pub bytes: u64,
    /// SHA-256 of its bytes, lower-case hex.
    pub sha256: String,
    /// Its keyspaces in the order their entries appear; an entry names its keyspace by index.
    pub keyspaces: Vec<KeyspaceCount>,
}

impl BackupFile {
    pub fn entries(&self) -> u64 {
        self.keyspaces.iter().map(|k| k.entries).sum()
    }

    /// `catalog` or `shard`.
    fn kind(&self) -> &str {
        if self.database == "catalog" {
            "catalog"
        } else {
            "shard"
        }
    }
}

/// A keyspace of a data file and how many entries it holds there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyspaceCount {
    pub naam: String,
    pub entries: u64,
}

/// One key and value of a keyspace, as a frame holds it.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Entry<'a> {
    pub(super) keyspace: u32,
    #[serde(borrow)]
    pub(super) key: &'a [u8],
    #[serde(borrow)]
    pub(super) value: &'a [u8],
}

/// A writer that hashes and counts what passes through it.
pub(super) struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(super) fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The inner writer, the byte count and the SHA-256 (hex) of everything written.
    pub(super) fn finish(self) -> (W, u64, String) {
        (self.inner, self.bytes, hex(&self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes one entry as a frame: its length as a postcard varint, then its postcard bytes.
pub(super) fn write_frame(
    out: &mut impl Write,
    entry: &Entry<'_>,
    scratch: &mut Vec<u8>,
) -> std::io::Result<()> {
    scratch.clear();
    let encoded =
        postcard::to_extend(entry, std::mem::take(scratch)).map_err(std::io::Error::other)?;
    let mut length = [0u8; 10];
    let length =
        postcard::to_slice(&(encoded.len() as u64), &mut length).map_err(std::io::Error::other)?;
    out.write_all(length)?;
    out.write_all(&encoded)?;
    *scratch = encoded;
    Ok(())
}

/// Reads a data file's frames, handing each entry to `each`; checks the file against its
/// manifest entry as it goes: its length, its SHA-256, its keyspaces' entry counts, and that
/// every frame decodes, names a listed keyspace and keeps its keyspace's keys ascending.
pub(super) fn read_file(
    dir: &Path,
    file: &BackupFile,
    mut each: impl FnMut(&str, &[u8], &[u8]) -> Result<(), BackupError>,
) -> Result<(), BackupError> {
    let path = dir.join(&file.naam);
    let damaged = |what: String| BackupError::Damaged {
        file: path.clone(),
        what,
    };
    let opened = std::fs::File::open(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => BackupError::Damaged {
            file: path.clone(),
            what: "the file is missing".into(),
        },
        _ => BackupError::Io {
            path: path.clone(),
            source,
        },
    })?;
    let length = opened
        .metadata()
        .map_err(|source| BackupError::Io {
            path: path.clone(),
            source,
        })?
        .len();
    if length != file.bytes {
        return Err(damaged(format!(
            "it holds {length} bytes, the manifest says {} (truncated or grown)",
            file.bytes
        )));
    }
    let mut reader = HashingReader {
        inner: std::io::BufReader::with_capacity(1 << 20, opened),
        hasher: Sha256::new(),
        bytes: 0,
    };
    let mut counts = vec![0u64; file.keyspaces.len()];
    let mut frame = Vec::new();
    let mut last: Option<(u32, Vec<u8>)> = None;
    while reader.bytes < length {
        let at = reader.bytes;
        let mut no_borrows: [u8; 0] = [];
        let (frame_len, _) = postcard::from_io::<u64, _>((&mut reader, &mut no_borrows[..]))
            .map_err(|error| damaged(format!("the frame at byte {at} has no length: {error}")))?;
        if frame_len > MAX_FRAME_BYTES || frame_len > length - reader.bytes {
            return Err(damaged(format!(
                "the frame at byte {at} claims {frame_len} bytes, more than the file holds"
            )));
        }
        frame.resize(frame_len as usize, 0);
        reader
            .read_exact(&mut frame)
            .map_err(|source| BackupError::Io {
                path: path.clone(),
                source,
            })?;
        let entry: Entry<'_> = postcard::from_bytes(&frame)
            .map_err(|error| damaged(format!("the frame at byte {at} does not decode: {error}")))?;
        let Some(keyspace) = file.keyspaces.get(entry.keyspace as usize) else {
            return Err(damaged(format!(
                "the frame at byte {at} names keyspace {}, the manifest lists {}",
                entry.keyspace,
                file.keyspaces.len()
            )));
        };
        match &mut last {
            Some((index, key)) if *index == entry.keyspace => {
                if entry.key <= key.as_slice() {
                    return Err(damaged(format!(
                        "the frame at byte {at} is out of key order in keyspace {}",
                        keyspace.naam
                    )));
                }
                key.clear();
                key.extend_from_slice(entry.key);
            }
            Some((index, _)) if *index > entry.keyspace => {
                return Err(damaged(format!(
                    "the frame at byte {at} returns to keyspace {} after a later one",
                    keyspace.naam
                )));
            }
            _ => last = Some((entry.keyspace, entry.key.to_vec())),
        }
        counts[entry.keyspace as usize] += 1;
        each(&keyspace.naam, entry.key, entry.value)?;
    }
    let sha256 = hex(&reader.hasher.finalize());
    if sha256 != file.sha256 {
        return Err(damaged(format!(
            "its SHA-256 is {sha256}, the manifest says {}",
            file.sha256
        )));
    }
    for (keyspace, count) in file.keyspaces.iter().zip(counts) {
        if keyspace.entries != count {
            return Err(damaged(format!(
                "keyspace {} holds {count} entries, the manifest says {}",
                keyspace.naam, keyspace.entries
            )));
        }
    }
    Ok(())
}

/// A reader that hashes and counts what passes through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        self.bytes += read as u64;
        Ok(read)
    }
}

/// Reads and checks a backup's manifest: present, parseable, of a format this build reads,
/// of this build's layout format, with file names that stay inside the backup directory.
pub fn read_manifest(dir: &Path) -> Result<Manifest, BackupError> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(BackupError::NoManifest {
                dir: dir.to_path_buf(),
            });
        }
        Err(source) => return Err(BackupError::Io { path, source }),
    };
    // The format first, so that a manifest of a later format is named as such.
    #[derive(Deserialize)]
    struct Version {
        formaat: u32,
    }
    let version: Version =
        serde_json::from_slice(&bytes).map_err(|error| BackupError::Damaged {
            file: path.clone(),
            what: format!("the manifest does not read: {error}"),
        })?;
    if version.formaat != BACKUP_FORMAT {
        return Err(BackupError::UnknownFormat {
            found: version.formaat,
        });
    }
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|error| BackupError::Damaged {
            file: path.clone(),
            what: format!("the manifest does not read: {error}"),
        })?;
    if manifest.layout_formaat != crate::store::embedded::FORMAT {
        return Err(BackupError::LayoutMismatch {
            found: manifest.layout_formaat,
            expected: crate::store::embedded::FORMAT,
        });
    }
    let expected: Vec<String> = std::iter::once("catalog".to_owned())
        .chain((0..manifest.shards).map(shard_database))
        .collect();
    let found: Vec<&str> = manifest
        .bestanden
        .iter()
        .map(|f| f.database.as_str())
        .collect();
    if manifest.shards == 0 || found != expected {
        return Err(BackupError::Damaged {
            file: path,
            what: format!(
                "it lists the databases {found:?}, a backup of {} shards holds {expected:?}",
                manifest.shards
            ),
        });
    }
    for file in &manifest.bestanden {
        if file.naam != format!("{}.bin", file.database) {
            return Err(BackupError::Damaged {
                file: path,
                what: format!("data file {:?} is not named after its database", file.naam),
            });
        }
        if let Some(bad) = file
            .keyspaces
            .iter()
            .find(|k| !valid_keyspace_name(&k.naam))
        {
            return Err(BackupError::Damaged {
                file: path,
                what: format!("keyspace name {:?} is not one fjall accepts", bad.naam),
            });
        }
    }
    Ok(manifest)
}

/// The folder (and data file stem) of shard `index`.
pub(super) fn shard_database(index: usize) -> String {
    format!("shard-{index:03}")
}

/// fjall's rule for keyspace names (1 to 255 bytes), checked here so that a crafted manifest
/// is refused instead of reaching fjall's assertion.
fn valid_keyspace_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255
}

/// Writes `bytes` to `dir/name` durably and atomically: a temporary name, fsync, rename,
/// fsync of the directory.
pub(super) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), BackupError> {
    let temporary = dir.join(format!("{name}.tmp"));
    let io = |path: &PathBuf| {
        let path = path.clone();
        move |source| BackupError::Io { path, source }
    };
    let mut file = std::fs::File::create(&temporary).map_err(io(&temporary))?;
    file.write_all(bytes).map_err(io(&temporary))?;
    file.sync_all().map_err(io(&temporary))?;
    drop(file);
    let target = dir.join(name);
    std::fs::rename(&temporary, &target).map_err(io(&target))?;
    sync_dir(dir)
}

/// fsyncs a directory, so that the names created in it survive a crash.
pub(super) fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| BackupError::Io {
            path: dir.to_path_buf(),
            source,
        })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}
