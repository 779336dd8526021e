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
use super::parked_ids;
use crate::store::StoreError;

/// The key in `meta` of the shard's next sequence number.
pub(super) const NEXT_SEQ_KEY: &[u8] = b"next_seq";

/// Read handles on one shard; cheap to clone, usable from any thread.
#[derive(Clone)]
pub(super) struct ShardHandles {
    pub(super) index: usize,
    pub(super) db: Database,
    /// Parked berichten: seq → `ParkedBericht`.
    pub(super) parked: Keyspace,
    pub(super) bijlagen: Keyspace,
    pub(super) batches: Keyspace,
    pub(super) meta: Keyspace,
    /// The receipt feed: receipts by afnemer in the order they became ready,
    /// oin ++ cursor → batch id.
    pub(super) receipt_feed: Keyspace,
    /// The webhook outbox: receipts waiting for the afnemer's webhook, keyed like the feed.
    pub(super) webhook_outbox: Keyspace,
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
    pub(super) notifications: Keyspace,
    /// Notifications of berichten published after they arrived: due time ++ box id.
    pub(super) notifications_later: Keyspace,
    /// The parked ids: parked berichten by id, oin ++ berichtId ++ arrival ++ seq → ().
    /// Written with the park,
    /// removed with the completion; tells other shards' processors that an earlier-accepted
    /// copy of a berichtId is still to be decided.
    pub(super) parked_ids: Keyspace,
    /// Counts what `parked_ids` holds (a superset): its "no" spares other shards' processors
    /// the prefix scan.
    pub(super) parked_id_filter: Arc<parked_ids::ParkedIdFilter>,
    /// Day counters for the reports: `YYYYMMDD` ++ oin ++ kind → u64. `aangeboden` is written
    /// by the shard's writer with the park, `verwerkt`/`afgewezen` by completions (under the
    /// feed lock) with the completion; each key has one writer at a time.
    pub(super) tellers: Keyspace,
    /// The Leveranciersportaal's index of afwijzingen (berichten decided with any code but
    /// `Verwerkt`): oin ++ `AfwijzingCursor` (day, code, receipt cursor, index) →
    /// `AfwijzingRecord`, written by completions with the receipt, expiring with it.
    pub(super) afwijzingen: Keyspace,
    /// The retention index: `kind ++ since ++ key` → (a claim's holder, else empty), written
    /// with each record that expires ([`crate::store::Retention`]).
    pub(super) expiry: Keyspace,
    /// Per kind, the index key after the last one retention deleted: every entry below it is
    /// gone, and none is written below it again (an entry's time is at most a day old when it
    /// is written, every period is longer), so steps start here instead of wading through the
    /// tombstones of what they deleted before. Forgotten at a restart.
    pub(super) expired_upto:
        Arc<std::sync::Mutex<std::collections::HashMap<crate::store::Expiring, Vec<u8>>>>,
    /// Held shared by every write batch of this shard from its start to its commit, and
    /// exclusively by a backup while it takes the shard's snapshot: fjall 3.1 can show a snapshot
    /// half of a write batch that is being applied while a flush publishes a newer sequence
    /// number (docs/fjall-snapshot-anomaly.md), so a backup's snapshot is taken between commits.
    pub(super) commit_gate: Arc<std::sync::RwLock<()>>,
    /// Serialises claims on berichtIds held in this shard (read, then write).
    pub(super) claim_lock: Arc<std::sync::Mutex<()>>,
    /// Serialises changes to this shard's boxes that read first (deliver, mark, delete).
    pub(super) box_lock: Arc<std::sync::Mutex<()>>,
    /// Held while an account or a voorkeur is compared with what is stored and written with
    /// its mutatie.
    pub(super) account_lock: Arc<std::sync::Mutex<()>>,
    pub(super) parked_berichten: Arc<AtomicU64>,
    /// Entries of `notifications` plus `notifications_later`: counted at start-up, then kept
    /// exact by the writes that add (a delivery of a new box entry) and remove (a send).
    pub(super) notification_queue_depth: Arc<AtomicU64>,
    /// Entries of `webhook_outbox`, kept like `notification_queue_depth`.
    pub(super) webhook_outbox_depth: Arc<AtomicU64>,
    /// Nothing below this sequence number is still parked. Completions take a prefix of what
    /// is parked, so scans of `parked` start here instead of wading through the tombstones
    /// of everything processed before.
    pub(super) processed_upto: Arc<AtomicU64>,
    /// No notification in `notifications` arrived before this (nanos): the notifier removes a
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
    let began = std::time::Instant::now();
    let db = Database::builder(path)
        .worker_threads(1)
        .cache_size(config.cache_bytes_per_shard)
        .open()?;
    let memtable = config.memtable_bytes;
    let options = move || KeyspaceCreateOptions::default().max_memtable_size(memtable);
    let keyspace = |name: &str| db.keyspace(name, options);
    let parked = keyspace("parked")?;
    let bijlagen = db.keyspace("bijlagen", || {
        options().with_kv_separation(Some(KvSeparationOptions::default()))
    })?;
    let batches = keyspace("batches")?;
    let meta = keyspace("meta")?;
    let receipt_feed = keyspace("receipt_feed")?;
    let webhook_outbox = keyspace("webhook_outbox")?;
    let bericht_ids = keyspace("bericht_ids")?;
    let accounts = keyspace("accounts")?;
    let voorkeuren = keyspace("voorkeuren")?;
    let mutaties = keyspace("mutaties")?;
    let boxes = keyspace("boxes")?;
    let notifications = keyspace("notifications")?;
    let notifications_later = keyspace("notifications_later")?;
    let parked_ids = keyspace("parked_ids")?;
    let tellers = keyspace("tellers")?;
    let expiry = keyspace("expiry")?;
    // Came with the Leveranciersportaal (issue 13) in format 3: created when a data directory
    // written before it opens.
    let afwijzingen = keyspace("afwijzingen")?;
    let recovered_ms = began.elapsed().as_millis();

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
    let counting = std::time::Instant::now();
    let parked_berichten = parked.len()? as u64;
    let parked_count_ms = counting.elapsed().as_millis();
    // The lowest sequence still parked (or the next, with none): scans start there.
    let first_parked = match parked.first_key_value() {
        Some(guard) => {
            let key = guard.key()?;
            <[u8; 8]>::try_from(key.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::Inconsistent("a parked key is not 8 bytes".into()))?
        }
        None => next_seq,
    };
    let first_parked_ms = counting.elapsed().as_millis() - parked_count_ms;
    let queued = (notifications.len()? + notifications_later.len()?) as u64;
    let outboxed = webhook_outbox.len()? as u64;
    let parked_id_filter = parked_ids::ParkedIdFilter::new();
    for guard in parked_ids.iter() {
        let key = guard.key()?;
        // oin ++ berichtId ++ arrival (8) ++ seq (8); the filter hashes oin ++ berichtId.
        if let Some(prefix) = key.len().checked_sub(16).map(|end| &key[..end]) {
            parked_id_filter.add(prefix, &[]);
        }
    }
    tracing::info!(
        shard = index,
        parked_berichten,
        queued_notifications = queued,
        webhook_outbox = outboxed,
        next_seq,
        recovered_ms,
        parked_count_ms,
        first_parked_ms,
        total_ms = began.elapsed().as_millis(),
        "shard opened"
    );
    Ok(ShardHandles {
        index,
        db,
        parked,
        bijlagen,
        batches,
        meta,
        receipt_feed,
        webhook_outbox,
        bericht_ids,
        accounts,
        voorkeuren,
        mutaties,
        boxes,
        notifications,
        notifications_later,
        parked_ids,
        parked_id_filter: Arc::new(parked_id_filter),
        tellers,
        afwijzingen,
        expiry,
        expired_upto: Arc::default(),
        commit_gate: Arc::new(std::sync::RwLock::new(())),
        claim_lock: Arc::new(std::sync::Mutex::new(())),
        box_lock: Arc::new(std::sync::Mutex::new(())),
        account_lock: Arc::new(std::sync::Mutex::new(())),
        parked_berichten: Arc::new(AtomicU64::new(parked_berichten)),
        notification_queue_depth: Arc::new(AtomicU64::new(queued)),
        webhook_outbox_depth: Arc::new(AtomicU64::new(outboxed)),
        processed_upto: Arc::new(AtomicU64::new(first_parked)),
        notified_from: Arc::new(AtomicU64::new(0)),
        next_seq: Arc::new(AtomicU64::new(next_seq)),
    })
}

/// A write batch of one shard that holds the shard's commit gate (shared) until it is
/// committed or dropped; everything else it does is the fjall batch's (through `Deref`).
pub(super) struct GatedBatch<'a> {
    write: fjall::OwnedWriteBatch,
    _gate: std::sync::RwLockReadGuard<'a, ()>,
}

impl GatedBatch<'_> {
    /// Synced to disk (`PersistMode::SyncData`) when committed.
    pub(super) fn synced(mut self) -> Self {
        self.write = self.write.durability(Some(fjall::PersistMode::SyncData));
        self
    }

    pub(super) fn commit(self) -> Result<(), fjall::Error> {
        self.write.commit()
    }
}

impl std::ops::Deref for GatedBatch<'_> {
    type Target = fjall::OwnedWriteBatch;

    fn deref(&self) -> &Self::Target {
        &self.write
    }
}

impl std::ops::DerefMut for GatedBatch<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.write
    }
}

impl ShardHandles {
    /// A write batch on this shard, inside its commit gate. (The gate guards no data: a
    /// backup that panicked while holding it leaves nothing to distrust.)
    pub(super) fn batch(&self) -> GatedBatch<'_> {
        GatedBatch {
            _gate: self
                .commit_gate
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            write: self.db.batch(),
        }
    }
}
