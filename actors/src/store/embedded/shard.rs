//! One shard's handles and its recovery: the fjall database of `shard-NNN/` with its
//! keyspaces, the in-memory figures kept beside them, and how they are rebuilt at start-up.
//!
//! Opening a shard is its recovery: fjall replays the journal, and the counters (`next_seq`,
//! parked berichten, queue depths, the parked-id filter) are recounted from what it holds.
//! This module only opens; it writes nothing but what fjall does on open.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, KvSeparationOptions};

use super::EmbeddedConfig;
use super::pending;
use crate::store::StoreError;

/// The key in `meta` of the shard's next sequence number.
pub(super) const NEXT_SEQ_KEY: &[u8] = b"next_seq";

/// Read handles on one shard; cheap to clone, usable from any thread.
#[derive(Clone)]
pub(super) struct ShardHandles {
    pub(super) index: usize,
    pub(super) db: Database,
    pub(super) geparkeerd: Keyspace,
    pub(super) bijlagen: Keyspace,
    pub(super) batches: Keyspace,
    pub(super) meta: Keyspace,
    /// Receipts by afnemer in the order they became ready: oin ++ cursor → batch id.
    pub(super) ontvangstbewijzen: Keyspace,
    /// Receipts waiting for the afnemer's webhook, keyed like `ontvangstbewijzen`.
    pub(super) webhooks: Keyspace,
    /// berichtIds delivered, by afnemer: oin ++ berichtId → batch id.
    pub(super) bericht_ids: Keyspace,
    /// Citizens' accounts: bsn → account.
    pub(super) accounts: Keyspace,
    /// berichtenvoorkeuren: bsn ++ oin → voorkeur.
    pub(super) voorkeuren: Keyspace,
    /// Voorkeur changes for the Abonnementservice: oin ++ nanos ++ bsn → digitaal.
    pub(super) mutaties: Keyspace,
    /// Boxes: bsn ++ box id → entry.
    pub(super) boxes: Keyspace,
    /// Notifications to send: box id → notification; the id starts with the arrival time.
    pub(super) notificaties: Keyspace,
    /// Notifications of berichten published after they arrived: due time ++ box id.
    pub(super) notificaties_later: Keyspace,
    /// Parked berichten by id: oin ++ berichtId ++ arrival ++ seq → (). Written with the park,
    /// removed with the completion; tells other shards' processors that an earlier-accepted
    /// copy of a berichtId is still to be decided.
    pub(super) wachtend: Keyspace,
    /// Counts what `wachtend` holds (a superset): its "no" spares other shards' processors
    /// the prefix scan.
    pub(super) pending: Arc<pending::PendingFilter>,
    /// Day counters for the reports: `YYYYMMDD` ++ oin ++ kind → u64. `aangeboden` is written
    /// by the shard's writer with the park, `verwerkt`/`afgewezen` by completions (under the
    /// feed lock) with the completion; each key has one writer at a time.
    pub(super) tellers: Keyspace,
    /// Serialises claims on berichtIds held in this shard (read, then write).
    pub(super) claim_lock: Arc<std::sync::Mutex<()>>,
    /// Serialises changes to this shard's boxes that read first (deliver, mark, delete).
    pub(super) box_lock: Arc<std::sync::Mutex<()>>,
    pub(super) parked_messages: Arc<AtomicU64>,
    /// Entries of `notificaties` plus `notificaties_later`: counted at start-up, then kept
    /// exact by the writes that add (a delivery of a new box entry) and remove (a send).
    pub(super) notifications_waiting: Arc<AtomicU64>,
    /// Entries of `webhooks`, kept like `notifications_waiting`.
    pub(super) webhooks_waiting: Arc<AtomicU64>,
    /// Nothing below this sequence number is still parked. Completions take a prefix of what
    /// is parked, so scans of `geparkeerd` start here instead of wading through the tombstones
    /// of everything processed before.
    pub(super) processed_upto: Arc<AtomicU64>,
    /// No notification in `notificaties` arrived before this (nanos): the notifier removes a
    /// prefix of the queue, and nothing arrives below what it has sent (it sends only behind
    /// processing's watermark). Scans of the queue start here, past the tombstones.
    pub(super) notified_from: Arc<AtomicU64>,
    pub(super) next_seq: Arc<AtomicU64>,
}

/// Opens (recovering) shard `index` of the data directory, creating what is not there.
pub(super) fn open_shard(
    config: &EmbeddedConfig,
    index: usize,
) -> Result<ShardHandles, StoreError> {
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
