//! The embedded store: N fjall shards plus a catalog database, in one data directory.
//!
//! Processing and the citizens' boxes are in [`process`] and [`citizen`].
//!
//! Layout on disk: `shard-000/ .. shard-NNN/` (one fjall database each, with keyspaces
//! `geparkeerd` (seq → bericht), `bijlagen` (seq, volgorde → bytes, key-value separated),
//! `batches` (oin ++ batchId → batch record) and `meta`), and `catalog/` (afnemers, API key
//! hashes, berichttypen, and the shard count the data was written with).
//!
//! Group commit: each shard has one writer thread fed by a bounded crossbeam channel. It takes
//! one job, drains what else waits (up to a message budget), writes the whole group as one
//! fjall write batch, syncs the journal once (`PersistMode::SyncData`), and only then answers
//! every job of the group. A batch is one write batch in one shard, so it is parked whole or
//! not at all. The writer is the shard's only writer, so its duplicate check and its write
//! cannot interleave with another's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, KvSeparationOptions, PersistMode};
use tokio::sync::oneshot;

mod citizen;
mod config;
mod pending;
mod process;
mod reports;

use super::record::{self, Teller, batch_key, bijlage_key, decode, encode, seq_key};
use super::{AccountCount, DagTelling, PrognoseRecord, RunRecord};
use super::{
    AccountRecord, AfnemerRecord, BatchRecord, BatchStatus, BerichtClaim, BerichttypeRecord,
    BijlageRef, BoxEntry, BoxId, CapWindowRecord, Completion, Delivery, NotificationRecord,
    ParkOutcome, ParkReceipt, ParkRequest, ParkedBatch, ParkedMessage, ReceiptCursor, ShardStats,
    Store, StoreError, VoorkeurRecord, WebhookJob,
};
use crate::core::clock::SharedClock;
use crate::core::routing::home_shard_of_batch;
pub use config::{EmbeddedConfig, InvalidEmbeddedConfig};

const NEXT_SEQ_KEY: &[u8] = b"next_seq";
const SHARD_COUNT_KEY: &[u8] = b"shard_count";
const NOTIFICATION_WINDOW_KEY: &[u8] = b"notification_window";

struct ParkJob {
    request: ParkRequest,
    reply: oneshot::Sender<Result<ParkOutcome, StoreError>>,
}

/// Read handles on one shard; cheap to clone, usable from any thread.
#[derive(Clone)]
struct ShardHandles {
    index: usize,
    db: Database,
    geparkeerd: Keyspace,
    bijlagen: Keyspace,
    batches: Keyspace,
    meta: Keyspace,
    /// Receipts by afnemer in the order they became ready: oin ++ cursor → batch id.
    ontvangstbewijzen: Keyspace,
    /// Receipts waiting for the afnemer's webhook, keyed like `ontvangstbewijzen`.
    webhooks: Keyspace,
    /// berichtIds delivered, by afnemer: oin ++ berichtId → batch id.
    bericht_ids: Keyspace,
    /// Citizens' accounts: bsn → account.
    accounts: Keyspace,
    /// berichtenvoorkeuren: bsn ++ oin → voorkeur.
    voorkeuren: Keyspace,
    /// Voorkeur changes for the Abonnementservice: oin ++ nanos ++ bsn → digitaal.
    mutaties: Keyspace,
    /// Boxes: bsn ++ box id → entry.
    boxes: Keyspace,
    /// Notifications to send: box id → notification; the id starts with the arrival time.
    notificaties: Keyspace,
    /// Notifications of berichten published after they arrived: due time ++ box id.
    notificaties_later: Keyspace,
    /// Parked berichten by id: oin ++ berichtId ++ arrival ++ seq → (). Written with the park,
    /// removed with the completion; tells other shards' processors that an earlier-accepted
    /// copy of a berichtId is still to be decided.
    wachtend: Keyspace,
    /// Counts what `wachtend` holds (a superset): its "no" spares other shards' processors
    /// the prefix scan.
    pending: Arc<pending::PendingFilter>,
    /// Day counters for the reports: `YYYYMMDD` ++ oin ++ kind → u64. `aangeboden` is written
    /// by the shard's writer with the park, `verwerkt`/`afgewezen` by completions (under the
    /// feed lock) with the completion; each key has one writer at a time.
    tellers: Keyspace,
    /// Serialises claims on berichtIds held in this shard (read, then write).
    claim_lock: Arc<std::sync::Mutex<()>>,
    /// Serialises changes to this shard's boxes that read first (deliver, mark, delete).
    box_lock: Arc<std::sync::Mutex<()>>,
    parked_messages: Arc<AtomicU64>,
    /// Entries of `notificaties` plus `notificaties_later`: counted at start-up, then kept
    /// exact by the writes that add (a delivery of a new box entry) and remove (a send).
    notifications_waiting: Arc<AtomicU64>,
    /// Entries of `webhooks`, kept like `notifications_waiting`.
    webhooks_waiting: Arc<AtomicU64>,
    /// Nothing below this sequence number is still parked. Completions take a prefix of what
    /// is parked, so scans of `geparkeerd` start here instead of wading through the tombstones
    /// of everything processed before.
    processed_upto: Arc<AtomicU64>,
    /// No notification in `notificaties` arrived before this (nanos): the notifier removes a
    /// prefix of the queue, and nothing arrives below what it has sent (it sends only behind
    /// processing's watermark). Scans of the queue start here, past the tombstones.
    notified_from: Arc<AtomicU64>,
    next_seq: Arc<AtomicU64>,
}

struct Catalog {
    db: Database,
    afnemers: Keyspace,
    api_keys: Keyspace,
    berichttypen: Keyspace,
    /// The shard count and the notification caps' window.
    meta: Keyspace,
    /// The rolling forecast: oin ++ `YYYY-MM` → forecast.
    prognoses: Keyspace,
    /// The engine's runs (start ++ last seen) for availability: start nanos → run.
    runs: Keyspace,
}

/// Free space of the data directory's file system, sampled by a background thread.
struct DiskWatch {
    available_bytes: Arc<AtomicU64>,
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

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
    /// Europe/Amsterdam: the calendar whose days the report counters count.
    zone: jiff::tz::TimeZone,
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
        let catalog = open_catalog(&config.data_dir.join("catalog"))?;
        check_shard_count(&catalog, config.shards)?;
        let zone = crate::core::caps::amsterdam()
            .map_err(|error| StoreError::Inconsistent(error.to_string()))?;

        let mut shards = Vec::with_capacity(config.shards);
        for index in 0..config.shards {
            shards.push(open_shard(&config, index)?);
        }

        let available_bytes = Arc::new(AtomicU64::new(fs4::available_space(&config.data_dir)?));
        let disk = spawn_disk_watch(config.data_dir.clone(), available_bytes.clone())?;

        let mut senders = Vec::with_capacity(shards.len());
        let mut writers = Vec::with_capacity(shards.len());
        for shard in &shards {
            let (sender, receiver) = crossbeam_channel::bounded(config.queue_capacity);
            let writer = ShardWriter {
                shard: shard.clone(),
                max_group_messages: config.max_group_messages,
                last_stamp: last_arrival(shard)?,
                zone: zone.clone(),
                tellers: HashMap::new(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("park-writer-{:03}", shard.index))
                .spawn(move || writer.run(receiver))?;
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
            zone,
        })
    }

    fn shard(&self, index: usize) -> &ShardHandles {
        &self.shards[index]
    }
}

fn open_catalog(path: &Path) -> Result<Catalog, StoreError> {
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
fn check_shard_count(catalog: &Catalog, shards: usize) -> Result<(), StoreError> {
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

fn open_shard(config: &EmbeddedConfig, index: usize) -> Result<ShardHandles, StoreError> {
    let path = config.data_dir.join(format!("shard-{index:03}"));
    let db = Database::builder(path)
        .worker_threads(1)
        .cache_size(config.cache_bytes_per_shard)
        .open()?;
    let memtable = config.memtable_bytes;
    let options = move || KeyspaceCreateOptions::default().max_memtable_size(memtable);
    let keyspace = |name: &str| db.keyspace(name, options);
    let geparkeerd = keyspace("geparkeerd")?;
    let bijlagen = db.keyspace("bijlagen", || {
        options().with_kv_separation(Some(KvSeparationOptions::default()))
    })?;
    let batches = keyspace("batches")?;
    let meta = keyspace("meta")?;
    let ontvangstbewijzen = keyspace("ontvangstbewijzen")?;
    let webhooks = keyspace("webhooks")?;
    let bericht_ids = keyspace("bericht_ids")?;
    let accounts = keyspace("accounts")?;
    let voorkeuren = keyspace("voorkeuren")?;
    let mutaties = keyspace("mutaties")?;
    let boxes = keyspace("boxes")?;
    let notificaties = keyspace("notificaties")?;
    let notificaties_later = keyspace("notificaties_later")?;
    let wachtend = keyspace("wachtend")?;
    let tellers = keyspace("tellers")?;

    // Recovery: the journal has been replayed by fjall; rebuild the counters from what it holds.
    let next_seq = match meta.get(NEXT_SEQ_KEY)? {
        Some(bytes) => u64::from_be_bytes(
            bytes
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::Inconsistent("next_seq record is not 8 bytes".into()))?,
        ),
        None => 0,
    };
    let parked = geparkeerd.len()? as u64;
    // The lowest sequence still parked (or the next, with none): scans start there.
    let first_parked = match geparkeerd.first_key_value() {
        Some(guard) => {
            let key = guard.key()?;
            <[u8; 8]>::try_from(key.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::Inconsistent("a parked key is not 8 bytes".into()))?
        }
        None => next_seq,
    };
    let notifications = (notificaties.len()? + notificaties_later.len()?) as u64;
    let webhooks_waiting = webhooks.len()? as u64;
    let pending = pending::PendingFilter::new();
    for guard in wachtend.iter() {
        let key = guard.key()?;
        // oin ++ berichtId ++ arrival (8) ++ seq (8); the filter hashes oin ++ berichtId.
        if let Some(prefix) = key.len().checked_sub(16).map(|end| &key[..end]) {
            pending.add(prefix, &[]);
        }
    }
    tracing::info!(
        shard = index,
        parked_messages = parked,
        notifications,
        webhooks = webhooks_waiting,
        next_seq,
        "shard opened"
    );
    Ok(ShardHandles {
        index,
        db,
        geparkeerd,
        bijlagen,
        batches,
        meta,
        ontvangstbewijzen,
        webhooks,
        bericht_ids,
        accounts,
        voorkeuren,
        mutaties,
        boxes,
        notificaties,
        notificaties_later,
        wachtend,
        pending: Arc::new(pending),
        tellers,
        claim_lock: Arc::new(std::sync::Mutex::new(())),
        box_lock: Arc::new(std::sync::Mutex::new(())),
        parked_messages: Arc::new(AtomicU64::new(parked)),
        notifications_waiting: Arc::new(AtomicU64::new(notifications)),
        webhooks_waiting: Arc::new(AtomicU64::new(webhooks_waiting)),
        processed_upto: Arc::new(AtomicU64::new(first_parked)),
        notified_from: Arc::new(AtomicU64::new(0)),
        next_seq: Arc::new(AtomicU64::new(next_seq)),
    })
}

/// The arrival time of the last bericht parked in the shard, if any is still parked.
fn last_arrival(shard: &ShardHandles) -> Result<jiff::Timestamp, StoreError> {
    let Some(guard) = shard.geparkeerd.last_key_value() else {
        return Ok(jiff::Timestamp::UNIX_EPOCH);
    };
    let (key, value) = guard.into_inner()?;
    Ok(decode::<ParkedMessage>(&key, &value)?.ontvangen_op)
}

fn spawn_disk_watch(dir: PathBuf, available: Arc<AtomicU64>) -> Result<DiskWatch, StoreError> {
    let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
    let available_bytes = available.clone();
    let thread = std::thread::Builder::new()
        .name("disk-watch".into())
        .spawn(move || {
            while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(Duration::from_millis(250))
            {
                match fs4::available_space(&dir) {
                    Ok(bytes) => available.store(bytes, Ordering::Relaxed),
                    Err(error) => tracing::warn!(%error, "cannot read free disk space"),
                }
            }
        })?;
    Ok(DiskWatch {
        available_bytes,
        stop,
        thread,
    })
}

struct ShardWriter {
    shard: ShardHandles,
    max_group_messages: usize,
    /// The last arrival time this shard stamped. Stamps only grow, so within a shard the
    /// order of sequence numbers is the order of arrival: processing's wait for an
    /// earlier-accepted copy in another shard (`wachtend`) relies on it to be free of cycles.
    last_stamp: jiff::Timestamp,
    zone: jiff::tz::TimeZone,
    /// The `aangeboden` counters this writer wrote last, so a group adds to them without a read.
    tellers: HashMap<Vec<u8>, u64>,
}

/// The fate of one job inside a group.
enum Planned {
    /// Answered from what was stored before: holds whatever the commit does.
    Settled(ParkOutcome),
    /// Written by this group: holds only if the commit succeeds.
    Pending(ParkOutcome),
}

impl ShardWriter {
    fn run(mut self, jobs: Receiver<ParkJob>) {
        let shard_label = self.shard.index.to_string();
        while let Ok(first) = jobs.recv() {
            let mut messages = first.request.batch.len();
            let mut group = vec![first];
            while messages < self.max_group_messages {
                match jobs.try_recv() {
                    Ok(job) => {
                        messages += job.request.batch.len();
                        group.push(job);
                    }
                    Err(_) => break,
                }
            }
            metrics::gauge!(crate::telemetry::PARK_QUEUE_DEPTH, "shard" => shard_label.clone())
                .set(jobs.len() as f64);
            self.commit_group(group, messages);
        }
        tracing::debug!(shard = self.shard.index, "park writer stopped");
    }

    fn commit_group(&mut self, group: Vec<ParkJob>, messages: usize) {
        let shard = &self.shard;
        let mut stamp = self.last_stamp;
        let mut write = shard.db.batch().durability(Some(PersistMode::SyncData));
        let mut next_seq = shard.next_seq.load(Ordering::Relaxed);
        let mut written_here: HashMap<Vec<u8>, BatchRecord> = HashMap::new();
        let mut plans = Vec::with_capacity(group.len());
        let mut parked_now = 0u64;
        let mut counted: HashMap<Vec<u8>, u64> = HashMap::new();

        for job in &group {
            let request = &job.request;
            let key = batch_key(&request.batch.oin, &request.batch.batch_id);
            // The request's arrival, unless an earlier-stamped batch of this shard arrived
            // later: then just after that one.
            let ontvangen_op = request
                .ontvangen_op
                .max(stamp + jiff::SignedDuration::from_nanos(1));
            let earlier = match written_here.get(&key) {
                Some(record) => Some((record.clone(), false)),
                None => match shard.batches.get(&key) {
                    Ok(Some(bytes)) => match decode::<BatchRecord>(&key, &bytes) {
                        Ok(record) => Some((record, true)),
                        Err(error) => {
                            plans.push(Err(error));
                            continue;
                        }
                    },
                    Ok(None) => None,
                    Err(error) => {
                        plans.push(Err(StoreError::Engine(error)));
                        continue;
                    }
                },
            };
            if let Some((record, stored_before)) = earlier {
                let outcome = if record.digest == request.digest {
                    ParkOutcome::Duplicate(record)
                } else {
                    ParkOutcome::Conflict(record)
                };
                plans.push(Ok(if stored_before {
                    Planned::Settled(outcome)
                } else {
                    Planned::Pending(outcome)
                }));
                continue;
            }
            let record = BatchRecord {
                oin: request.batch.oin.clone(),
                batch_id: request.batch.batch_id.clone(),
                digest: request.digest,
                ontvangen_op,
                aantal_berichten: request.batch.len() as u32,
                shard: shard.index as u16,
                first_seq: next_seq,
                status: BatchStatus::Geparkeerd,
                receipt: None,
            };
            for (index, bericht) in request.batch.berichten.iter().enumerate() {
                let seq = next_seq;
                next_seq += 1;
                let mut refs = Vec::with_capacity(bericht.bijlagen.len());
                for (volgorde, bijlage) in bericht.bijlagen.iter().enumerate() {
                    let volgorde = volgorde as u8;
                    write.insert(
                        &shard.bijlagen,
                        bijlage_key(seq, volgorde),
                        bijlage.inhoud.as_slice(),
                    );
                    refs.push(BijlageRef {
                        shard: shard.index as u16,
                        seq,
                        volgorde,
                        omschrijving: bijlage.omschrijving.clone(),
                        mediatype: bijlage.mediatype.clone(),
                        size_bytes: bijlage.inhoud.len() as u32,
                    });
                }
                let message = ParkedMessage {
                    seq,
                    oin: request.batch.oin.clone(),
                    batch_id: request.batch.batch_id.clone(),
                    index: index as u32,
                    bericht_id: bericht.bericht_id.clone(),
                    bericht_type: bericht.bericht_type.clone(),
                    ontvanger: bericht.ontvanger.clone(),
                    onderwerp: bericht.onderwerp.clone(),
                    tekst: bericht.tekst.clone(),
                    referentie: bericht.referentie.clone(),
                    aanmaak_datum: request.batch.aanmaak_datum,
                    publicatie_datum: bericht.publicatie_datum,
                    ontvangen_op,
                    bijlagen: refs,
                };
                write.insert(&shard.geparkeerd, seq_key(seq), encode(&message));
                shard
                    .pending
                    .add(message.oin.as_bytes(), message.bericht_id.as_bytes());
                write.insert(
                    &shard.wachtend,
                    record::pending_key(
                        &message.oin,
                        &message.bericht_id,
                        message.ontvangen_op,
                        seq,
                    ),
                    [],
                );
            }
            parked_now += u64::from(record.aantal_berichten);
            *counted
                .entry(record::teller_key(
                    ontvangen_op.to_zoned(self.zone.clone()).date(),
                    &record.oin,
                    Teller::Aangeboden,
                ))
                .or_default() += u64::from(record.aantal_berichten);
            stamp = ontvangen_op;
            write.insert(&shard.batches, key.clone(), encode(&record));
            written_here.insert(key, record.clone());
            plans.push(Ok(Planned::Pending(ParkOutcome::Parked(record))));
        }

        // The day counters go in the same write as what they count.
        let mut totals = Vec::with_capacity(counted.len());
        for (key, added) in counted {
            let before = match self.tellers.get(&key) {
                Some(total) => *total,
                None => match shard.tellers.get(&key) {
                    Ok(stored) => stored.as_deref().map_or(0, record::decode_u64),
                    Err(error) => {
                        // Not counted rather than counted from zero over a stored total.
                        tracing::error!(shard = shard.index, %error, "cannot read a day counter");
                        continue;
                    }
                },
            };
            write.insert(&shard.tellers, key.clone(), (before + added).to_be_bytes());
            totals.push((key, before + added));
        }
        let commit_result = if write.is_empty() {
            Ok(())
        } else {
            write.insert(&shard.meta, NEXT_SEQ_KEY, next_seq.to_be_bytes());
            let started = Instant::now();
            let result = write.commit();
            metrics::histogram!(crate::telemetry::PARK_SYNC)
                .record(started.elapsed().as_secs_f64());
            metrics::histogram!(crate::telemetry::PARK_GROUP_BATCHES).record(group.len() as f64);
            metrics::histogram!(crate::telemetry::PARK_GROUP_MESSAGES).record(messages as f64);
            result
        };

        let committed = match commit_result {
            Ok(()) => {
                shard.next_seq.store(next_seq, Ordering::Relaxed);
                shard
                    .parked_messages
                    .fetch_add(parked_now, Ordering::Relaxed);
                Ok(())
            }
            Err(error) => {
                tracing::error!(shard = shard.index, %error, "group commit failed, nothing of the group is acknowledged");
                // Uncount what this group counted: none of it is parked.
                for (job, plan) in group.iter().zip(&plans) {
                    if let Ok(Planned::Pending(ParkOutcome::Parked(_))) = plan {
                        for bericht in &job.request.batch.berichten {
                            shard.pending.remove(
                                job.request.batch.oin.as_bytes(),
                                bericht.bericht_id.as_bytes(),
                            );
                        }
                    }
                }
                Err(error.to_string())
            }
        };
        if committed.is_ok() {
            self.last_stamp = stamp;
            // Yesterday's counters are not written again; keep the cache small.
            if self.tellers.len() > 4096 {
                self.tellers.clear();
            }
            self.tellers.extend(totals);
        }

        for (job, plan) in group.into_iter().zip(plans) {
            let answer = match (plan, &committed) {
                (Err(error), _) => Err(error),
                (Ok(Planned::Settled(outcome)), _) | (Ok(Planned::Pending(outcome)), Ok(())) => {
                    Ok(outcome)
                }
                (Ok(Planned::Pending(_)), Err(message)) => {
                    Err(StoreError::CommitFailed(message.clone()))
                }
            };
            // The requester may have gone (client hung up); the batch is parked all the same.
            let _ = job.reply.send(answer);
        }
    }
}

fn collect<T: for<'de> serde::Deserialize<'de>>(
    iter: impl Iterator<Item = fjall::Guard>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    for guard in iter {
        let (key, value) = guard.into_inner()?;
        out.push(decode(&key, &value)?);
    }
    Ok(out)
}

impl Store for EmbeddedStore {
    fn shard_count(&self) -> usize {
        self.shards.len()
    }

    fn health(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(StoreError::Closed);
        }
        let available_bytes = self.available_bytes.load(Ordering::Relaxed);
        if available_bytes < self.config.min_free_disk_bytes {
            return Err(StoreError::DiskFull { available_bytes });
        }
        Ok(())
    }

    fn can_park(&self, request: &ParkRequest) -> Result<(), StoreError> {
        self.health()?;
        // The backlog is bounded, so that what is parked is processed well within its 24 hours
        // whatever the rate of parking: beyond the bound, afnemers are asked to come back.
        let parked: u64 = self
            .shards
            .iter()
            .map(|shard| shard.parked_messages.load(Ordering::Relaxed))
            .sum();
        if parked + request.batch.len() as u64 > self.config.max_parked_berichten {
            return Err(StoreError::Backlog {
                parked,
                bound: self.config.max_parked_berichten,
            });
        }
        let shard = home_shard_of_batch(
            &request.batch.oin,
            &request.batch.batch_id,
            self.shards.len(),
        );
        let senders = self.senders.read().map_err(|_| StoreError::Closed)?;
        let sender = senders
            .as_ref()
            .ok_or(StoreError::Closed)?
            .get(shard)
            .ok_or(StoreError::Closed)?;
        if sender.is_full() {
            return Err(StoreError::QueueFull { shard });
        }
        Ok(())
    }

    fn submit_park(&self, request: ParkRequest) -> Result<ParkReceipt, StoreError> {
        self.health()?;
        let shard = home_shard_of_batch(
            &request.batch.oin,
            &request.batch.batch_id,
            self.shards.len(),
        );
        let (reply, receipt) = oneshot::channel();
        let senders = self.senders.read().map_err(|_| StoreError::Closed)?;
        let Some(senders) = senders.as_ref() else {
            return Err(StoreError::Closed);
        };
        match senders[shard].try_send(ParkJob { request, reply }) {
            Ok(()) => Ok(receipt),
            Err(TrySendError::Full(_)) => Err(StoreError::QueueFull { shard }),
            Err(TrySendError::Disconnected(_)) => Err(StoreError::Closed),
        }
    }

    fn find_batch(&self, oin: &str, batch_id: &str) -> Result<Option<BatchRecord>, StoreError> {
        let shard = self.shard(home_shard_of_batch(oin, batch_id, self.shards.len()));
        let key = batch_key(oin, batch_id);
        shard
            .batches
            .get(&key)?
            .map(|bytes| decode(&key, &bytes))
            .transpose()
    }

    fn parked_messages(
        &self,
        shard: usize,
        after_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ParkedMessage>, StoreError> {
        let start = after_seq.map_or(0, |seq| seq.saturating_add(1));
        collect(
            self.shard(shard)
                .geparkeerd
                .range(seq_key(start)..)
                .take(limit),
        )
    }

    fn bijlage(&self, reference: &BijlageRef) -> Result<Option<Vec<u8>>, StoreError> {
        let shard = self.shard(usize::from(reference.shard));
        Ok(shard
            .bijlagen
            .get(bijlage_key(reference.seq, reference.volgorde))?
            .map(|v| v.to_vec()))
    }

    fn shard_stats(&self) -> Vec<ShardStats> {
        self.shards
            .iter()
            .map(|shard| ShardStats {
                shard: shard.index,
                parked_messages: shard.parked_messages.load(Ordering::Relaxed),
                next_seq: shard.next_seq.load(Ordering::Relaxed),
                notifications_waiting: shard.notifications_waiting.load(Ordering::Relaxed),
                webhooks_waiting: shard.webhooks_waiting.load(Ordering::Relaxed),
            })
            .collect()
    }

    fn put_afnemer(&self, afnemer: &AfnemerRecord) -> Result<(), StoreError> {
        self.catalog
            .afnemers
            .insert(afnemer.oin.as_bytes(), encode(afnemer))?;
        self.catalog.db.persist(PersistMode::SyncData)?;
        Ok(())
    }

    fn afnemers(&self) -> Result<Vec<AfnemerRecord>, StoreError> {
        collect(self.catalog.afnemers.iter())
    }

    fn put_api_key(&self, key_hash: [u8; 32], oin: &str) -> Result<(), StoreError> {
        self.catalog.api_keys.insert(key_hash, oin.as_bytes())?;
        self.catalog.db.persist(PersistMode::SyncData)?;
        Ok(())
    }

    fn api_keys(&self) -> Result<Vec<([u8; 32], String)>, StoreError> {
        let mut out = Vec::new();
        for guard in self.catalog.api_keys.iter() {
            let (key, value) = guard.into_inner()?;
            let Ok(hash) = <[u8; 32]>::try_from(key.as_ref()) else {
                continue;
            };
            out.push((hash, String::from_utf8_lossy(&value).into_owned()));
        }
        Ok(out)
    }

    fn put_berichttype(&self, berichttype: &BerichttypeRecord) -> Result<(), StoreError> {
        let key = record::berichttype_key(&berichttype.oin, &berichttype.code);
        self.catalog.berichttypen.insert(key, encode(berichttype))?;
        self.catalog.db.persist(PersistMode::SyncData)?;
        Ok(())
    }

    fn berichttypen(&self, oin: &str) -> Result<Vec<BerichttypeRecord>, StoreError> {
        let mut prefix = oin.as_bytes().to_vec();
        prefix.push(0);
        collect(self.catalog.berichttypen.prefix(prefix))
    }

    fn parked_batches(
        &self,
        shard: usize,
        max_messages: usize,
    ) -> Result<Vec<ParkedBatch>, StoreError> {
        self.parked_batches_in(shard, max_messages)
    }

    fn claim_bericht_ids(&self, claims: &[BerichtClaim]) -> Result<Vec<String>, StoreError> {
        self.claim_bericht_ids_in(claims)
    }

    fn release_bericht_ids(&self, claims: &[BerichtClaim]) -> Result<(), StoreError> {
        self.release_bericht_ids_in(claims)
    }

    fn deliver(&self, deliveries: &[Delivery]) -> Result<(), StoreError> {
        self.deliver_in(deliveries)
    }

    fn complete(
        &self,
        shard: usize,
        completions: Vec<Completion>,
        clock: &SharedClock,
    ) -> Result<(), StoreError> {
        self.complete_in(shard, completions, clock)
    }

    fn receipts(
        &self,
        oin: &str,
        after: Option<ReceiptCursor>,
        limit: usize,
        clock: &SharedClock,
    ) -> Result<Vec<(ReceiptCursor, BatchRecord)>, StoreError> {
        self.receipts_in(oin, after, limit, clock)
    }

    fn earlier_pending(
        &self,
        oin: &str,
        bericht_id: &str,
        ontvangen_op: jiff::Timestamp,
        shard: usize,
        seq: u64,
    ) -> Result<bool, StoreError> {
        self.earlier_pending_in(oin, bericht_id, ontvangen_op, shard, seq)
    }

    fn webhook_head(&self, oin: &str) -> Result<Option<(ReceiptCursor, WebhookJob)>, StoreError> {
        self.webhook_head_in(oin)
    }

    fn put_webhook_job(
        &self,
        oin: &str,
        cursor: ReceiptCursor,
        job: Option<&WebhookJob>,
    ) -> Result<(), StoreError> {
        self.put_webhook_job_in(oin, cursor, job)
    }

    fn pending_notifications(
        &self,
        shard: usize,
        limit: usize,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        self.pending_notifications_in(shard, limit)
    }

    fn due_later_notifications(
        &self,
        shard: usize,
        until: jiff::Timestamp,
        limit: usize,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        self.due_later_notifications_in(shard, until, limit)
    }

    fn remove_notifications(&self, done: &[NotificationRecord]) -> Result<(), StoreError> {
        self.remove_notifications_in(done)
    }

    fn oldest_parked(&self, shard: usize) -> Result<Option<jiff::Timestamp>, StoreError> {
        self.oldest_parked_in(shard)
    }

    fn notification_window(&self) -> Result<Option<CapWindowRecord>, StoreError> {
        let meta = &self.catalog.meta;
        meta.get(NOTIFICATION_WINDOW_KEY)?
            .map(|bytes| decode(NOTIFICATION_WINDOW_KEY, &bytes))
            .transpose()
    }

    fn tellingen(
        &self,
        from: jiff::civil::Date,
        until: jiff::civil::Date,
    ) -> Result<std::collections::BTreeMap<(jiff::civil::Date, String), DagTelling>, StoreError>
    {
        self.tellingen_in(from, until)
    }

    fn put_prognose(&self, prognose: &PrognoseRecord) -> Result<bool, StoreError> {
        self.put_prognose_in(prognose)
    }

    fn prognoses(&self, oin: Option<&str>) -> Result<Vec<PrognoseRecord>, StoreError> {
        self.prognoses_in(oin)
    }

    fn record_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.record_run_in(run)
    }

    fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        self.runs_in()
    }

    fn count_accounts(&self) -> Result<AccountCount, StoreError> {
        self.count_accounts_in()
    }

    fn put_notification_window(&self, window: &CapWindowRecord) -> Result<(), StoreError> {
        self.catalog
            .meta
            .insert(NOTIFICATION_WINDOW_KEY, encode(window))?;
        self.catalog.db.persist(PersistMode::SyncData)?;
        Ok(())
    }

    fn account(&self, bsn: &str) -> Result<Option<AccountRecord>, StoreError> {
        self.account_in(bsn)
    }

    fn put_account(&self, account: &AccountRecord) -> Result<(), StoreError> {
        self.put_account_in(account)
    }

    fn voorkeur(&self, bsn: &str, oin: &str) -> Result<Option<VoorkeurRecord>, StoreError> {
        self.voorkeur_in(bsn, oin)
    }

    fn voorkeuren(&self, bsn: &str) -> Result<Vec<VoorkeurRecord>, StoreError> {
        self.voorkeuren_in(bsn)
    }

    fn put_voorkeur(&self, voorkeur: &VoorkeurRecord) -> Result<(), StoreError> {
        self.put_voorkeur_in(voorkeur)
    }

    fn box_entries(
        &self,
        bsn: &str,
        before: Option<BoxId>,
        limit: usize,
    ) -> Result<Vec<BoxEntry>, StoreError> {
        self.box_entries_in(bsn, before, limit)
    }

    fn box_entry(&self, bsn: &str, id: BoxId) -> Result<Option<BoxEntry>, StoreError> {
        self.box_entry_in(bsn, id)
    }

    fn mark_gelezen(
        &self,
        bsn: &str,
        id: BoxId,
        gelezen: bool,
    ) -> Result<Option<BoxEntry>, StoreError> {
        self.mark_gelezen_in(bsn, id, gelezen)
    }

    fn delete_box_entry(&self, bsn: &str, id: BoxId) -> Result<(), StoreError> {
        self.delete_box_entry_in(bsn, id)
    }

    fn close(&self) -> Result<(), StoreError> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        // Dropping the senders ends each writer once it has answered what is queued.
        drop(self.senders.write().map_err(|_| StoreError::Closed)?.take());
        let writers = std::mem::take(&mut *self.writers.lock().map_err(|_| StoreError::Closed)?);
        for writer in writers {
            if writer.join().is_err() {
                tracing::error!("a park writer panicked");
            }
        }
        if let Some(disk) = self.disk.lock().map_err(|_| StoreError::Closed)?.take() {
            drop(disk.stop);
            let _ = disk.thread.join();
            drop(disk.available_bytes);
        }
        for shard in &self.shards {
            shard.db.persist(PersistMode::SyncAll)?;
        }
        self.catalog.db.persist(PersistMode::SyncAll)?;
        Ok(())
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        if let Err(error) = self.close() {
            tracing::error!(%error, "closing the store failed");
        }
    }
}
