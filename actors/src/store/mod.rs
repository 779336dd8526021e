//! The store: where parked batches, their attachments and the catalog (afnemers, API keys,
//! berichttypen) live, behind the [`Store`] trait.
//!
//! The embedded implementation ([`embedded::EmbeddedStore`]) keeps N shards, each its own fjall
//! database with its own journal and its own writer thread; a ScyllaDB implementation fills the
//! same trait when one machine is outgrown. Callers never see the storage engine's types.
//!
//! Blocking: every method but [`Store::submit_park`] may do disk I/O and must not be called on
//! an async event loop; `submit_park` only enqueues and answers through a channel.

pub mod embedded;
pub mod record;

use std::fmt::Debug;

pub use record::{AccountCount, DagTelling, PrognoseRecord, RunRecord, Teller};
pub use record::{
    AccountRecord, AfnemerRecord, BatchRecord, BatchStatus, BerichtUitkomst, BerichttypeRecord,
    BijlageRef, BoxEntry, BoxId, CapWindowRecord, NotificationRecord, ParkedMessage, Receipt,
    ReceiptCursor, VoorkeurRecord, WebhookJob,
};
use tokio::sync::oneshot;

use crate::core::clock::SharedClock;
use crate::core::model::Batch;

/// Errors of the store layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("park queue of shard {shard} is full")]
    QueueFull { shard: usize },
    #[error("free disk space {available_bytes} bytes is under the configured minimum")]
    DiskFull { available_bytes: u64 },
    /// Processing is behind: the berichten parked and not yet decided reached the bound.
    #[error("{parked} berichten wait for processing, the bound is {bound}")]
    Backlog { parked: u64, bound: u64 },
    #[error("store is shut down")]
    Closed,
    #[error("storage engine: {0}")]
    Engine(#[from] fjall::Error),
    #[error("record {key} cannot be decoded: {source}")]
    Corrupt {
        key: String,
        source: postcard::Error,
    },
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A group commit failed; nothing of the group was acknowledged.
    #[error("commit failed: {0}")]
    CommitFailed(String),
    /// A read saw less than the store holds (a parked bericht without its batch record, a
    /// batch without all its berichten): seen under load while fjall flushes; nothing is
    /// decided on such a read, and reading again sees it whole.
    #[error("read anomaly: {0}")]
    ReadAnomaly(String),
    /// The data contradicts itself or the configuration: retrying will not help.
    #[error("store is inconsistent: {0}")]
    Inconsistent(String),
}

impl StoreError {
    /// True when waiting and trying again may succeed (a full queue or disk, a busy engine).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::QueueFull { .. }
                | Self::DiskFull { .. }
                | Self::Backlog { .. }
                | Self::ReadAnomaly(_)
                | Self::Engine(_)
                | Self::Io(_)
        )
    }
}

/// A batch to park, with what the edge computed about it.
#[derive(Debug)]
pub struct ParkRequest {
    pub batch: Batch,
    pub digest: [u8; 32],
    pub ontvangen_op: jiff::Timestamp,
}

/// What parking a batch came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParkOutcome {
    /// Parked now: durable from the moment this answer exists.
    Parked(BatchRecord),
    /// The same batch (same id, same content) was parked before: nothing was written.
    Duplicate(BatchRecord),
    /// The id was used before for other content: nothing was written.
    Conflict(BatchRecord),
}

/// The answer to a submitted park, ready after the sync that covers it.
pub type ParkReceipt = oneshot::Receiver<Result<ParkOutcome, StoreError>>;

/// Per-shard figures rebuilt at start-up and kept up to date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardStats {
    pub shard: usize,
    pub parked_messages: u64,
    pub next_seq: u64,
    /// Notifications queued in this shard (both queues), not yet sent.
    pub notifications_waiting: u64,
    /// Receipts in this shard's webhook outbox, not yet delivered or given up.
    pub webhooks_waiting: u64,
}

/// A parked batch with its berichten, as processing takes it.
#[derive(Debug, Clone)]
pub struct ParkedBatch {
    pub record: BatchRecord,
    pub berichten: Vec<ParkedMessage>,
}

/// An afnemer's claim on a berichtId for the batch that delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BerichtClaim {
    pub oin: String,
    pub bericht_id: String,
    pub batch_id: String,
}

/// A bericht to put in its owner's box, with the e-mail address to notify, if any.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub entry: BoxEntry,
    pub notify: Option<String>,
}

/// A processed batch, to be settled in its home shard.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The batch record with its receipt and status `Verwerkt`.
    pub record: BatchRecord,
    /// Attachments of berichten that were not delivered: nobody will read them.
    pub drop_bijlagen: Vec<BijlageRef>,
    /// Queue the receipt for the afnemer's webhook.
    pub webhook: bool,
}

/// The storage interface the engine runs on.
pub trait Store: Send + Sync + Debug + 'static {
    fn shard_count(&self) -> usize;

    /// Whether a park of this batch would be queued now (store open, disk above its minimum,
    /// home shard's queue not full). Asked before the rate is charged, so a refusal that is
    /// the store's costs the afnemer nothing; `submit_park` checks again.
    fn can_park(&self, request: &ParkRequest) -> Result<(), StoreError>;

    /// Queues a batch for its home shard's writer. Never blocks: a full queue or a disk under
    /// its minimum is an immediate error, and nothing is written.
    fn submit_park(&self, request: ParkRequest) -> Result<ParkReceipt, StoreError>;

    /// The batch an afnemer delivered under this id, if any.
    fn find_batch(&self, oin: &str, batch_id: &str) -> Result<Option<BatchRecord>, StoreError>;

    /// Parked messages of a shard in arrival order, starting after `after_seq`.
    fn parked_messages(
        &self,
        shard: usize,
        after_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ParkedMessage>, StoreError>;

    /// The bytes of one attachment.
    fn bijlage(&self, reference: &BijlageRef) -> Result<Option<Vec<u8>>, StoreError>;

    fn shard_stats(&self) -> Vec<ShardStats>;

    /// Whether the store can park now: open, and with the disk above its minimum.
    fn health(&self) -> Result<(), StoreError>;

    fn put_afnemer(&self, afnemer: &AfnemerRecord) -> Result<(), StoreError>;
    fn afnemers(&self) -> Result<Vec<AfnemerRecord>, StoreError>;
    /// Stores the SHA-256 of an API key and the OIN it opens.
    fn put_api_key(&self, key_hash: [u8; 32], oin: &str) -> Result<(), StoreError>;
    fn api_keys(&self) -> Result<Vec<([u8; 32], String)>, StoreError>;
    fn put_berichttype(&self, berichttype: &BerichttypeRecord) -> Result<(), StoreError>;
    fn berichttypen(&self, oin: &str) -> Result<Vec<BerichttypeRecord>, StoreError>;

    // Processing. Each call is durable when it returns.

    /// Whole parked batches of a shard in arrival order: at least one batch when any is
    /// parked, and no more berichten than `max_messages` beyond the first batch.
    fn parked_batches(
        &self,
        shard: usize,
        max_messages: usize,
    ) -> Result<Vec<ParkedBatch>, StoreError>;

    /// Whether another shard still holds a parked copy of this afnemer's berichtId that was
    /// accepted before this one (arrival time, then shard and seq): then this one must wait,
    /// for `BerichtBestaatAl` belongs to the later copy.
    fn earlier_pending(
        &self,
        oin: &str,
        bericht_id: &str,
        ontvangen_op: jiff::Timestamp,
        shard: usize,
        seq: u64,
    ) -> Result<bool, StoreError>;

    /// Claims each berichtId for its batch unless another batch of the afnemer holds it;
    /// answers, per claim, the batch that holds it now.
    fn claim_bericht_ids(&self, claims: &[BerichtClaim]) -> Result<Vec<String>, StoreError>;

    /// Gives up claims that a batch took but did not use (a bericht decided otherwise on a
    /// second try); a claim held by another batch is left alone.
    fn release_bericht_ids(&self, claims: &[BerichtClaim]) -> Result<(), StoreError>;

    /// Puts each bericht in its owner's box and queues its notification, unless the box
    /// already holds that id (a second try after a crash).
    fn deliver(&self, deliveries: &[Delivery]) -> Result<(), StoreError>;

    /// Settles processed batches in their home shard in one write: their parked berichten and
    /// unread attachments go, the receipt is stored and fed to the afnemer (and its webhook).
    ///
    /// The receipts' `verwerkt_op` is stamped from `clock` inside the store, in the order the
    /// completions commit across all shards, so the receipt feed only ever grows at its end.
    ///
    /// `completions` must be a prefix of the shard's parked batches in sequence order (the
    /// lowest ones): the store then scans `geparkeerd` from the end of it onwards.
    fn complete(
        &self,
        shard: usize,
        completions: Vec<Completion>,
        clock: &SharedClock,
    ) -> Result<(), StoreError>;

    /// An afnemer's receipts in the order they became ready, after `after`. Only receipts
    /// stamped before the time read from `clock` now are answered: a receipt committing at
    /// this moment can never land behind a cursor already handed out.
    fn receipts(
        &self,
        oin: &str,
        after: Option<ReceiptCursor>,
        limit: usize,
        clock: &SharedClock,
    ) -> Result<Vec<(ReceiptCursor, BatchRecord)>, StoreError>;

    // Webhooks.

    /// The oldest receipt waiting for the afnemer's webhook.
    fn webhook_head(&self, oin: &str) -> Result<Option<(ReceiptCursor, WebhookJob)>, StoreError>;
    /// Updates a waiting receipt's retry state, or (with `None`) removes it.
    fn put_webhook_job(
        &self,
        oin: &str,
        cursor: ReceiptCursor,
        job: Option<&WebhookJob>,
    ) -> Result<(), StoreError>;

    // Notifications.

    /// The first `limit` notifications waiting in a shard, in arrival order (those published
    /// after their arrival wait apart: [`Store::due_later_notifications`]).
    fn pending_notifications(
        &self,
        shard: usize,
        limit: usize,
    ) -> Result<Vec<NotificationRecord>, StoreError>;
    /// Notifications of berichten published after they arrived, whose publication has come
    /// by `until`, in order of that time.
    fn due_later_notifications(
        &self,
        shard: usize,
        until: jiff::Timestamp,
        limit: usize,
    ) -> Result<Vec<NotificationRecord>, StoreError>;
    /// Removes notifications that were sent (or refused for good).
    ///
    /// Per shard, those from the arrival queue must be its first ones (a prefix of what
    /// [`Store::pending_notifications`] answers), and no notification that arrived earlier may
    /// be queued afterwards (the notifier sends only behind processing's watermark): the store
    /// then starts later scans of the queue at the last arrival removed.
    fn remove_notifications(&self, done: &[NotificationRecord]) -> Result<(), StoreError>;
    /// The arrival time of the oldest parked bericht of a shard: processing's watermark.
    fn oldest_parked(&self, shard: usize) -> Result<Option<jiff::Timestamp>, StoreError>;
    fn notification_window(&self) -> Result<Option<CapWindowRecord>, StoreError>;

    // Reports and the rolling forecast.

    /// The day counters of every afnemer for the Amsterdam days `from..=until`, all shards
    /// summed. Parks and completions write them in the same atomic write as what they count.
    fn tellingen(
        &self,
        from: jiff::civil::Date,
        until: jiff::civil::Date,
    ) -> Result<std::collections::BTreeMap<(jiff::civil::Date, String), DagTelling>, StoreError>;
    /// Stores an afnemer's forecast for a month; answers whether that month had none before.
    fn put_prognose(&self, prognose: &PrognoseRecord) -> Result<bool, StoreError>;
    /// The forecasts of one afnemer (by month), or of all afnemers.
    fn prognoses(&self, oin: Option<&str>) -> Result<Vec<PrognoseRecord>, StoreError>;
    /// Records (or moves on) this run's last sign of life; synced.
    fn record_run(&self, run: &RunRecord) -> Result<(), StoreError>;
    fn runs(&self) -> Result<Vec<RunRecord>, StoreError>;
    /// Counts citizens' accounts (a scan: for reports, not for a hot path).
    fn count_accounts(&self) -> Result<AccountCount, StoreError>;
    fn put_notification_window(&self, window: &CapWindowRecord) -> Result<(), StoreError>;

    // Citizens.

    fn account(&self, bsn: &str) -> Result<Option<AccountRecord>, StoreError>;
    fn put_account(&self, account: &AccountRecord) -> Result<(), StoreError>;
    fn voorkeur(&self, bsn: &str, oin: &str) -> Result<Option<VoorkeurRecord>, StoreError>;
    fn voorkeuren(&self, bsn: &str) -> Result<Vec<VoorkeurRecord>, StoreError>;
    /// Stores a berichtenvoorkeur and, in the same write, its mutation for the Abonnementservice.
    fn put_voorkeur(&self, voorkeur: &VoorkeurRecord) -> Result<(), StoreError>;
    /// A box's berichten, newest first, starting before `before`.
    fn box_entries(
        &self,
        bsn: &str,
        before: Option<BoxId>,
        limit: usize,
    ) -> Result<Vec<BoxEntry>, StoreError>;
    fn box_entry(&self, bsn: &str, id: BoxId) -> Result<Option<BoxEntry>, StoreError>;
    /// Sets a box entry's read flag, if the entry is (still) there; answers the entry.
    fn mark_gelezen(
        &self,
        bsn: &str,
        id: BoxId,
        gelezen: bool,
    ) -> Result<Option<BoxEntry>, StoreError>;
    fn delete_box_entry(&self, bsn: &str, id: BoxId) -> Result<(), StoreError>;

    /// Stops accepting parks, lets every queued park finish (answered), and syncs.
    fn close(&self) -> Result<(), StoreError>;
}

/// Whether a citizen takes this afnemer's digital mail: an active box, and no berichtenvoorkeur
/// refusing the afnemer. Processing and the Validatieservice decide alike through this.
pub fn wil_digitaal(
    store: &dyn Store,
    account: Option<&AccountRecord>,
    oin: &str,
) -> Result<bool, StoreError> {
    match account {
        Some(account) if account.actief => Ok(store
            .voorkeur(&account.bsn, oin)?
            .is_none_or(|voorkeur| voorkeur.digitaal)),
        _ => Ok(false),
    }
}
