//! A reproduction, with fjall alone, of "a snapshot saw part of a write batch".
//!
//! One writer thread commits write batches that put `items` keys into keyspace `a` and then
//! one record into keyspace `b` (like a park: berichten, then their batch record), and
//! later a second write batch that removes those keys from `a` and rewrites the record in
//! `b` (like a completion). Reader threads take `db.snapshot()` and check that every batch
//! they see in `a` comes whole and with its record in `b`, in the same snapshot. A write
//! batch is atomic, so a snapshot must never see one half.
//!
//! Nothing here uses the engine: the file needs only `fjall` and copies into a fresh crate.
//!
//! ```text
//! cargo run --release -p berichtenbox-actors --example fjall_snapshot_anomaly -- \
//!     --seconds=60 --readers=2 --memtable=65536 --sync=none --workers=1 --items=16 \
//!     --extra=0 --blobs=false --noise=false --gate=false
//! ```
//!
//! `--gate=true` puts an application lock between commits and `snapshot()` (what an
//! application can do about it): commits take it shared, opening a snapshot takes it
//! exclusively, so no snapshot is opened while a write batch is being applied.
//!
//! The exit status is 1 when a violation was seen, 0 otherwise.
//! (`actors/tests/fjall_snapshot_anomaly.rs` runs this for a few seconds as a test.)

#![cfg_attr(test, allow(dead_code))]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use fjall::{
    Database, Keyspace, KeyspaceCreateOptions, KvSeparationOptions, PersistMode, Readable as _,
};

/// What to run, and how hard.
#[derive(Clone, Debug)]
pub struct Config {
    pub duration: Duration,
    pub readers: usize,
    /// `max_memtable_size` of every keyspace: small memtables rotate and flush often.
    pub memtable_bytes: u64,
    /// The durability of each commit (`None`, `SyncData`, `SyncAll`).
    pub durability: Option<PersistMode>,
    /// fjall's background workers (flushes, compactions).
    pub worker_threads: usize,
    /// Keys put into `a` per write batch (before the record in `b`).
    pub items: usize,
    pub value_bytes: usize,
    /// Batches kept before the writer completes (removes) the oldest.
    pub live_batches: u64,
    /// More keyspaces, each getting one key per write batch (between `a` and `b`).
    pub extra_keyspaces: usize,
    /// A kv-separated keyspace `blobs` getting one 8 KiB value per write batch.
    pub blobs: bool,
    /// A thread inserting into an unrelated keyspace `noise` (memtable 4 KiB), so that it
    /// flushes all the time.
    pub noise: bool,
    /// The application lock between commits and `snapshot()` (see the module docs).
    pub gate: bool,
    /// Stop all threads at the first violation.
    pub stop_at_first: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(60),
            readers: 2,
            memtable_bytes: 64 * 1024,
            durability: None,
            worker_threads: 1,
            items: 16,
            value_bytes: 100,
            live_batches: 64,
            extra_keyspaces: 0,
            blobs: false,
            noise: false,
            gate: false,
            stop_at_first: false,
        }
    }
}

/// One snapshot that saw part of a write batch.
#[derive(Clone, Debug)]
pub struct Violation {
    pub what: String,
    pub batch: u64,
    /// The snapshot's sequence number, and the database's visible one just after the check.
    pub snapshot_seqno: u64,
    pub visible_seqno_after: u64,
    /// Whether a fresh snapshot, taken right after, saw the batch whole.
    pub whole_on_reread: bool,
}

/// What a run did and saw.
#[derive(Debug, Default)]
pub struct Outcome {
    pub seconds: f64,
    pub park_commits: u64,
    pub completion_commits: u64,
    pub noise_writes: u64,
    pub snapshots: u64,
    pub batches_checked: u64,
    pub violations: u64,
    /// The first violations (at most 20).
    pub examples: Vec<Violation>,
    pub tables_a: usize,
    pub tables_b: usize,
    pub compactions: usize,
    /// Sequence numbers taken by something else than a commit: each flush and compaction
    /// that installs a new tree version takes one (`SuperVersions::upgrade_version`).
    pub version_seqnos: u64,
}

struct Shared {
    db: Database,
    a: Keyspace,
    b: Keyspace,
    extra: Vec<Keyspace>,
    blobs: Option<Keyspace>,
    /// Every batch below this one has been completed (its keys in `a` removed).
    completed_upto: AtomicU64,
    stop: AtomicBool,
    gate: Option<RwLock<()>>,
    snapshots: AtomicU64,
    batches_checked: AtomicU64,
    violations: AtomicU64,
    examples: Mutex<Vec<Violation>>,
}

fn a_key(batch: u64, items: usize, index: usize) -> [u8; 8] {
    (batch * items as u64 + index as u64).to_be_bytes()
}

/// batch (8) ++ index (4) ++ items (4) ++ padding.
fn a_value(batch: u64, index: usize, items: usize, bytes: usize) -> Vec<u8> {
    let mut value = Vec::with_capacity(16 + bytes);
    value.extend_from_slice(&batch.to_be_bytes());
    value.extend_from_slice(&(index as u32).to_be_bytes());
    value.extend_from_slice(&(items as u32).to_be_bytes());
    value.resize(16 + bytes, 0x5a);
    value
}

fn decode_a(value: &[u8]) -> Option<(u64, u32, u32)> {
    let batch = u64::from_be_bytes(value.get(0..8)?.try_into().ok()?);
    let index = u32::from_be_bytes(value.get(8..12)?.try_into().ok()?);
    let items = u32::from_be_bytes(value.get(12..16)?.try_into().ok()?);
    Some((batch, index, items))
}

/// Runs the reproduction; an error is fjall's.
pub fn run(config: &Config) -> fjall::Result<Outcome> {
    let dir = tempdir();
    let outcome = run_in(config, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

fn tempdir() -> std::path::PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!(
        "fjall-snapshot-anomaly-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

fn run_in(config: &Config, dir: &std::path::Path) -> fjall::Result<Outcome> {
    let db = Database::builder(dir)
        .worker_threads(config.worker_threads)
        .open()?;
    let memtable = config.memtable_bytes;
    let options = move || KeyspaceCreateOptions::default().max_memtable_size(memtable);
    let a = db.keyspace("a", options)?;
    let b = db.keyspace("b", options)?;
    let extra = (0..config.extra_keyspaces)
        .map(|i| db.keyspace(&format!("extra{i}"), options))
        .collect::<fjall::Result<Vec<_>>>()?;
    let blobs = if config.blobs {
        Some(db.keyspace("blobs", move || {
            options().with_kv_separation(Some(KvSeparationOptions::default()))
        })?)
    } else {
        None
    };
    let noise = if config.noise {
        Some(db.keyspace("noise", || {
            KeyspaceCreateOptions::default().max_memtable_size(4 * 1024)
        })?)
    } else {
        None
    };
    let shared = Arc::new(Shared {
        db,
        a,
        b,
        extra,
        blobs,
        completed_upto: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        gate: config.gate.then(|| RwLock::new(())),
        snapshots: AtomicU64::new(0),
        batches_checked: AtomicU64::new(0),
        violations: AtomicU64::new(0),
        examples: Mutex::new(Vec::new()),
    });

    let began = Instant::now();
    let readers: Vec<_> = (0..config.readers)
        .map(|_| {
            let shared = Arc::clone(&shared);
            let config = config.clone();
            std::thread::spawn(move || read(&shared, &config))
        })
        .collect();
    let noise_thread = noise.map(|keyspace| {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || -> fjall::Result<u64> {
            let mut written = 0u64;
            while !shared.stop.load(Ordering::Relaxed) {
                keyspace.insert(written.to_be_bytes(), [0u8; 64])?;
                written += 1;
            }
            Ok(written)
        })
    });
    let written = write(&shared, config, began);
    shared.stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.join().expect("a reader panicked")?;
    }
    let noise_writes = match noise_thread {
        Some(thread) => thread.join().expect("the noise thread panicked")?,
        None => 0,
    };
    let (park_commits, completion_commits) = written?;
    let examples = shared
        .examples
        .lock()
        .map(|examples| examples.clone())
        .unwrap_or_default();
    Ok(Outcome {
        seconds: began.elapsed().as_secs_f64(),
        park_commits,
        completion_commits,
        noise_writes,
        snapshots: shared.snapshots.load(Ordering::Relaxed),
        batches_checked: shared.batches_checked.load(Ordering::Relaxed),
        violations: shared.violations.load(Ordering::Relaxed),
        examples,
        tables_a: shared.a.table_count(),
        tables_b: shared.b.table_count(),
        compactions: shared.db.compactions_completed(),
        version_seqnos: shared
            .db
            .seqno()
            .saturating_sub(park_commits + completion_commits + noise_writes),
    })
}

/// The writer: parks batch n (keys in `a`, one in each extra keyspace and `blobs`, then the
/// record in `b`), then completes batch n - live (removes all that, rewrites the record).
fn write(shared: &Shared, config: &Config, began: Instant) -> fjall::Result<(u64, u64)> {
    let (mut parks, mut completions) = (0u64, 0u64);
    let blob = vec![0xb1u8; 8 * 1024];
    let mut batch = 0u64;
    while began.elapsed() < config.duration && !shared.stop.load(Ordering::Relaxed) {
        let mut write = shared.db.batch().durability(config.durability);
        for index in 0..config.items {
            write.insert(
                &shared.a,
                a_key(batch, config.items, index),
                a_value(batch, index, config.items, config.value_bytes),
            );
        }
        for keyspace in &shared.extra {
            write.insert(keyspace, batch.to_be_bytes(), b"extra".as_slice());
        }
        if let Some(blobs) = &shared.blobs {
            write.insert(blobs, batch.to_be_bytes(), blob.as_slice());
        }
        write.insert(&shared.b, batch.to_be_bytes(), b"parked".as_slice());
        commit(shared, write)?;
        parks += 1;

        if let Some(done) = batch.checked_sub(config.live_batches) {
            let mut write = shared.db.batch().durability(config.durability);
            for index in 0..config.items {
                write.remove(&shared.a, a_key(done, config.items, index));
            }
            for keyspace in &shared.extra {
                write.remove(keyspace, done.to_be_bytes());
            }
            if let Some(blobs) = &shared.blobs {
                write.remove(blobs, done.to_be_bytes());
            }
            write.insert(&shared.b, done.to_be_bytes(), b"completed".as_slice());
            commit(shared, write)?;
            shared.completed_upto.store(done + 1, Ordering::Release);
            completions += 1;
        }
        batch += 1;
    }
    Ok((parks, completions))
}

fn commit(shared: &Shared, write: fjall::OwnedWriteBatch) -> fjall::Result<()> {
    let _shared_gate = shared.gate.as_ref().map(|gate| gate.read());
    write.commit()
}

fn open_snapshot(shared: &Shared) -> fjall::Snapshot {
    let _exclusive_gate = shared.gate.as_ref().map(|gate| gate.write());
    shared.db.snapshot()
}

/// A reader: snapshot after snapshot, each batch seen in `a` must be whole and have its
/// record in `b` (and its key in every extra keyspace and `blobs`).
fn read(shared: &Shared, config: &Config) -> fjall::Result<()> {
    while !shared.stop.load(Ordering::Relaxed) {
        let snapshot = open_snapshot(shared);
        let from = shared.completed_upto.load(Ordering::Acquire);
        shared.snapshots.fetch_add(1, Ordering::Relaxed);
        // (batch, indexes seen)
        let mut current: Option<(u64, u32, u32)> = None;
        let check = |batch: u64, seen: u32, items: u32| -> fjall::Result<()> {
            shared.batches_checked.fetch_add(1, Ordering::Relaxed);
            let mut missing = Vec::new();
            if seen != items {
                missing.push(format!("{seen} of its {items} keys in a"));
            }
            if snapshot.get(&shared.b, batch.to_be_bytes())?.is_none() {
                missing.push("no record in b".to_string());
            }
            for (i, keyspace) in shared.extra.iter().enumerate() {
                if snapshot.get(keyspace, batch.to_be_bytes())?.is_none() {
                    missing.push(format!("no key in extra{i}"));
                }
            }
            if let Some(blobs) = &shared.blobs
                && snapshot.get(blobs, batch.to_be_bytes())?.is_none()
            {
                missing.push("no value in blobs".to_string());
            }
            if !missing.is_empty() {
                report(shared, config, &snapshot, batch, missing.join(", "))?;
            }
            Ok(())
        };
        for guard in snapshot.range(&shared.a, a_key(from, config.items, 0)..) {
            let (_, value) = guard.into_inner()?;
            let Some((batch, _index, items)) = decode_a(&value) else {
                continue;
            };
            match &mut current {
                Some((open, seen, _)) if *open == batch => *seen += 1,
                _ => {
                    if let Some((done, seen, items)) = current.take() {
                        check(done, seen, items)?;
                    }
                    current = Some((batch, 1, items));
                }
            }
        }
        if let Some((done, seen, items)) = current {
            check(done, seen, items)?;
        }
    }
    Ok(())
}

fn report(
    shared: &Shared,
    config: &Config,
    snapshot: &fjall::Snapshot,
    batch: u64,
    what: String,
) -> fjall::Result<()> {
    let visible_seqno_after = shared.db.visible_seqno();
    // Read again through a fresh snapshot: a write batch still being applied is whole by now
    // (unless its completion removed it meanwhile, which also counts as "not half").
    let fresh = open_snapshot(shared);
    let keys = (0..config.items)
        .filter(|&i| {
            fresh
                .get(&shared.a, a_key(batch, config.items, i))
                .ok()
                .flatten()
                .is_some()
        })
        .count();
    let record = fresh.get(&shared.b, batch.to_be_bytes())?.is_some();
    let whole_on_reread = record && (keys == config.items || keys == 0);
    let latest_keys = (0..config.items)
        .filter(|&i| {
            shared
                .a
                .get(a_key(batch, config.items, i))
                .ok()
                .flatten()
                .is_some()
        })
        .count();
    let latest_record = shared.b.get(batch.to_be_bytes())?.is_some();
    let again_keys = (0..config.items)
        .filter(|&i| {
            snapshot
                .get(&shared.a, a_key(batch, config.items, i))
                .ok()
                .flatten()
                .is_some()
        })
        .count();
    let again_record = snapshot.get(&shared.b, batch.to_be_bytes())?.is_some();
    let what = format!(
        "{what} [same snapshot read again: {again_keys} keys, record {again_record}; \
         fresh snapshot {}: {keys} keys, record {record}; latest: {latest_keys} keys, \
         record {latest_record}; completed_upto {}]",
        fresh.seqno(),
        shared.completed_upto.load(Ordering::Relaxed)
    );
    let violation = Violation {
        what,
        batch,
        snapshot_seqno: snapshot.seqno(),
        visible_seqno_after,
        whole_on_reread,
    };
    shared.violations.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut examples) = shared.examples.lock()
        && examples.len() < 20
    {
        examples.push(violation);
    }
    if config.stop_at_first {
        shared.stop.store(true, Ordering::Relaxed);
    }
    Ok(())
}

fn parse_args() -> Result<Config, String> {
    let mut config = Config::default();
    for arg in std::env::args().skip(1) {
        let (key, value) = arg
            .strip_prefix("--")
            .and_then(|a| a.split_once('='))
            .ok_or_else(|| format!("expected --key=value, got {arg}"))?;
        let number = |v: &str| v.parse::<u64>().map_err(|e| format!("{key}: {e}"));
        let flag = |v: &str| v.parse::<bool>().map_err(|e| format!("{key}: {e}"));
        match key {
            "seconds" => config.duration = Duration::from_secs(number(value)?),
            "readers" => config.readers = number(value)? as usize,
            "memtable" => config.memtable_bytes = number(value)?,
            "workers" => config.worker_threads = number(value)? as usize,
            "items" => config.items = number(value)? as usize,
            "value" => config.value_bytes = number(value)? as usize,
            "live" => config.live_batches = number(value)?,
            "extra" => config.extra_keyspaces = number(value)? as usize,
            "blobs" => config.blobs = flag(value)?,
            "noise" => config.noise = flag(value)?,
            "gate" => config.gate = flag(value)?,
            "stop-at-first" => config.stop_at_first = flag(value)?,
            "sync" => {
                config.durability = match value {
                    "none" => None,
                    "buffer" => Some(PersistMode::Buffer),
                    "data" => Some(PersistMode::SyncData),
                    "all" => Some(PersistMode::SyncAll),
                    other => return Err(format!("sync: none, buffer, data or all, not {other}")),
                }
            }
            other => return Err(format!("unknown option --{other}")),
        }
    }
    Ok(config)
}

fn main() {
    let config = match parse_args() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    println!("{config:?}");
    match run(&config) {
        Ok(outcome) => {
            for violation in &outcome.examples {
                println!("VIOLATION {violation:?}");
            }
            println!(
                "{:.1} s: {} park commits, {} completion commits, {} noise writes, {} snapshots, \
                 {} batches checked, {} violations; tables a {} b {}, {} compactions, \
                 {} seqnos taken by flushes and compactions",
                outcome.seconds,
                outcome.park_commits,
                outcome.completion_commits,
                outcome.noise_writes,
                outcome.snapshots,
                outcome.batches_checked,
                outcome.violations,
                outcome.tables_a,
                outcome.tables_b,
                outcome.compactions,
                outcome.version_seqnos,
            );
            if outcome.violations > 0 {
                std::process::exit(1);
            }
        }
        Err(error) => {
            eprintln!("fjall: {error}");
            std::process::exit(3);
        }
    }
}
