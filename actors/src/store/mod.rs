//! The store: where parked batches, their bijlagen, receipts, boxes, queues and the catalog
//! live, behind role traits.
//!
//! # Roles
//!
//! Each consumer takes only the role it uses; [`Store`] is all of them together, what the server
//! opens (an `Arc<dyn Store>` upcasts to any role).
//!
//! - [`Parking`]: batches in, durably and whole, before the `202` (afnemer actors).
//! - [`Processing`]: whole parked batches out, claims, deliveries, completion (processors).
//! - [`Receipts`]: batch records, the receipt feed, the webhook outbox (HTTP, webhook dispatcher).
//! - [`Notifications`]: the notification queues and the caps' window (notifier).
//! - [`Citizens`]: accounts, voorkeuren, boxes (citizens' API; processing reads).
//! - [`Afnemers`]: afnemers, API-key hashes, berichttypen (the in-memory catalog).
//! - [`Reports`]: tellingen, prognoses, runs, account counts (reports, metrics, heartbeat).
//! - [`Abonnementen`]: the Abonnementservice's verzoeken, quotas and extracts (its runner, HTTP).
//! - [`Portaal`]: an afnemer's own tellingen, recent batches and afwijzingen, and the
//!   Leveranciersportaal's sessions (`http::portaal`, the expirer).
//! - [`Admin`]: shard figures, health, close (server, operations endpoints).
//!
//! Every role extends [`Sharded`]. The embedded implementation ([`embedded::EmbeddedStore`])
//! keeps N shards, each its own fjall database with its own journal and writer thread; a
//! ScyllaDB implementation fills the same roles (ARCHITECTURE.md maps each onto CQL tables).
//! [`conformance`] (tests, or the `conformance` feature) holds what any backend must do.
//! Callers never see the storage engine's types.
//!
//! Blocking: every method but [`Parking::submit_park`] may do disk I/O and must not be called
//! on an async event loop; `submit_park` only enqueues and answers through a channel.

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod embedded;
pub mod record;

use std::collections::BTreeMap;
use std::fmt::Debug;

pub use record::{
    Aanmelding, AccountRecord, AfnemerRecord, AfwijzingCursor, AfwijzingRecord, ApiKeyRecord,
    BatchRecord, BatchStatus, BerichtInhoud, BerichtUitkomst, BerichttypeRecord, BijlageRef,
    BoxEntry, BoxId, CapWindowRecord, NotificationRecord, ParkedBericht, Receipt, ReceiptCursor,
    SessieRecord, Soort, VerzoekRecord, VerzoekStatus, VoorkeurRecord, WebhookJob,
};
pub use record::{AccountCount, DagTelling, Expiring, PrognoseRecord, RunRecord, Teller};
use tokio::sync::oneshot;

use crate::core::clock::SharedClock;
use crate::core::model::Batch;
use crate::core::verwerking::VerwerkingsCode;

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
    /// Another process holds the data directory's lock (`berichtenbox.lock`): an engine
    /// serves from it. Nothing was opened.
    #[error("the data directory {} is in use by another process (an engine serves from it)", .data_dir.display())]
    InUse { data_dir: std::path::PathBuf },
    #[error("storage engine: {0}")]
    Engine(#[from] fjall::Error),
    #[error("record {key} cannot be decoded: {source}")]
    Corrupt {
        key: String,
        source: postcard::Error,
    },
    /// A record written by a newer build (its version byte is above what this build knows),
    /// or with no version byte at all.
    #[error("record {key} has version {found}, this build reads versions 1 to {newest}")]
    RecordVersion { key: String, found: u8, newest: u8 },
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
    /// The data directory is in another layout format than this build reads (`None`: one
    /// written before the format was recorded, format 1). Nothing was opened or changed.
    #[error(
        "the data directory has layout format {}, this build reads format {expected}: start it \
         with an empty data directory, or with the build that wrote it",
        .found.map_or_else(|| "1 (unrecorded: written before formats were recorded)".to_owned(), |f| f.to_string())
    )]
    FormatMismatch { found: Option<u32>, expected: u32 },
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
    pub parked_berichten: u64,
    pub next_seq: u64,
    /// Notifications queued in this shard (both queues), not yet sent.
    pub notification_queue_depth: u64,
    /// Receipts in this shard's webhook outbox, not yet delivered or given up.
    pub webhook_outbox_depth: u64,
}

/// A parked batch with its berichten, as processing takes it.
#[derive(Debug, Clone)]
pub struct ParkedBatch {
    pub record: BatchRecord,
    pub berichten: Vec<ParkedBericht>,
}

/// An afnemer's claim on a berichtId for the batch that delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BerichtClaim {
    pub oin: String,
    pub bericht_id: String,
    pub batch_id: String,
    /// When the claiming bericht arrived: the claim's retention period counts from here.
    pub ontvangen_op: jiff::Timestamp,
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

/// What every role shares: the backend is shared across threads, and work that is divided by
/// shard (processing, the notification queues) asks how many shards there are.
pub trait Sharded: Send + Sync + Debug + 'static {
    /// The number of shards; fixed for the life of the data.
    fn shard_count(&self) -> usize;
}

/// Parking: taking a batch in durably, whole or not at all, before the `202`. Used by the
/// afnemer actors (`can_park`, `submit_park`); the parked berichten and their bijlagen are read
/// back by processing and by the citizens' API.
pub trait Parking: Sharded {
    /// Whether a park of this batch would be queued now (store open, disk above its minimum,
    /// home shard's queue not full, processing's backlog under its bound). Asked before the
    /// rate is charged, so a refusal that is the store's costs the afnemer nothing;
    /// `submit_park` checks again.
    fn can_park(&self, request: &ParkRequest) -> Result<(), StoreError>;

    /// Queues a batch for its home shard's writer. Never blocks: a full queue or a disk under
    /// its minimum is an immediate error, and nothing is written. The receipt answers after
    /// the sync that covers the batch: `Parked`, or `Duplicate`/`Conflict` with the record of
    /// the first delivery of that (oin, batchId).
    fn submit_park(&self, request: ParkRequest) -> Result<ParkReceipt, StoreError>;

    /// Parked berichten of a shard in arrival (sequence) order, starting after `after_seq`.
    fn parked_berichten(
        &self,
        shard: usize,
        after_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ParkedBericht>, StoreError>;

    /// The bytes of one bijlage (they stay where they were parked until the box entry or the
    /// batch that references them goes).
    fn bijlage(&self, reference: &BijlageRef) -> Result<Option<Vec<u8>>, StoreError>;
}

/// Processing: taking whole parked batches per shard and making each processed exactly once.
/// Used by the processors (and the notifier and metrics read the watermark). Each write is
/// durable when it returns; every write but `complete` is idempotent, so a round that is cut
/// short by a crash is simply done again.
pub trait Processing: Sharded {
    /// Whole parked batches of a shard in arrival order: at least one batch when any is
    /// parked; it stops taking batches once it holds `max_berichten` berichten, so only the
    /// last batch it takes may carry it over that bound.
    fn parked_batches(
        &self,
        shard: usize,
        max_berichten: usize,
    ) -> Result<Vec<ParkedBatch>, StoreError>;

    /// Whether another shard still holds a parked copy of this afnemer's berichtId that was
    /// accepted before this one (arrival time, then shard and seq): then this one must wait,
    /// for `BerichtBestaatAl` belongs to the later copy.
    fn earlier_parked_copy(
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
    /// unread bijlagen go, the receipt is stored and fed to the afnemer (and its webhook
    /// outbox), the day's tellingen count them.
    ///
    /// The receipts' `verwerkt_op` is stamped from `clock` inside the store, in the order the
    /// completions commit across all shards, so the receipt feed only ever grows at its end.
    ///
    /// `completions` must be a prefix of the shard's parked batches in sequence order (the
    /// lowest ones): the store then scans the parked berichten from the end of it onwards.
    fn complete(
        &self,
        shard: usize,
        completions: Vec<Completion>,
        clock: &SharedClock,
    ) -> Result<(), StoreError>;

    /// The arrival time of the oldest parked bericht of a shard: processing's watermark.
    fn oldest_parked(&self, shard: usize) -> Result<Option<jiff::Timestamp>, StoreError>;
}

/// One page of an afnemer's receipt feed ([`Receipts::receipt_feed`]).
#[derive(Debug, Clone, Default)]
pub struct FeedPage {
    /// The receipts, in feed order, each with the cursor that continues after it.
    pub receipts: Vec<(ReceiptCursor, BatchRecord)>,
    /// The page stopped at one of its bounds (`limit` receipts, or the next receipt would have
    /// taken it over `max_berichten` outcomes): more receipts may follow its last.
    pub full: bool,
}

/// Receipts: each batch's record with its outcome, an afnemer's receipt feed, and the webhook
/// outbox. Read by the HTTP API (`GET /v1/batches/{id}`, the feed) and the webhook dispatcher;
/// written by [`Processing::complete`].
pub trait Receipts: Sharded {
    /// The batch an afnemer delivered under this id, if any: its status, and once processed
    /// its receipt.
    fn find_batch(&self, oin: &str, batch_id: &str) -> Result<Option<BatchRecord>, StoreError>;

    /// An afnemer's receipts in the order they became ready, after `after`: at most `limit`
    /// receipts, and no more bericht outcomes than `max_berichten` together, except that the
    /// first receipt is always answered whole (a receipt is never split). Only receipts stamped
    /// before the time read from `clock` now are answered: a receipt committing at this moment
    /// can never land behind a cursor already handed out.
    fn receipt_feed(
        &self,
        oin: &str,
        after: Option<ReceiptCursor>,
        limit: usize,
        max_berichten: usize,
        clock: &SharedClock,
    ) -> Result<FeedPage, StoreError>;

    /// The oldest receipt in the afnemer's webhook outbox.
    fn webhook_outbox_head(
        &self,
        oin: &str,
    ) -> Result<Option<(ReceiptCursor, WebhookJob)>, StoreError>;

    /// Updates a receipt's retry state in the webhook outbox, or (with `None`) removes it.
    fn put_webhook_job(
        &self,
        oin: &str,
        cursor: ReceiptCursor,
        job: Option<&WebhookJob>,
    ) -> Result<(), StoreError>;
}

/// Notifications: the per-shard queues of e-mails to citizens (filled by
/// [`Processing::deliver`]) and the caps' window the notifier counts in. Used by the notifier.
pub trait Notifications: Sharded {
    /// The first `limit` notifications queued in a shard, in arrival order (those published
    /// after their arrival wait apart: [`Notifications::due_later_notifications`]).
    fn queued_notifications(
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
    /// [`Notifications::queued_notifications`] answers), and no notification that arrived
    /// earlier may be queued afterwards (the notifier sends only behind processing's
    /// watermark): the store then starts later scans of the queue at the last arrival removed.
    fn remove_notifications(&self, done: &[NotificationRecord]) -> Result<(), StoreError>;

    /// The caps' window: what was sent this clock hour and this Amsterdam day.
    fn notification_window(&self) -> Result<Option<CapWindowRecord>, StoreError>;

    fn put_notification_window(&self, window: &CapWindowRecord) -> Result<(), StoreError>;
}

/// Citizens: accounts, berichtenvoorkeuren (with their mutaties) and boxes, all keyed by BSN.
/// Used by the citizens' API; processing reads accounts and voorkeuren.
pub trait Citizens: Sharded {
    fn account(&self, bsn: &str) -> Result<Option<AccountRecord>, StoreError>;
    /// Stores an account and, when it opens or closes the box, in the same write its mutatie
    /// for every afnemer.
    fn put_account(&self, account: &AccountRecord) -> Result<(), StoreError>;
    /// Reads the account, lets `change` make its new state from it (`None`: leave it as it
    /// is) and stores that as [`Citizens::put_account`] does, with no other change of this
    /// account in between. Answers what was stored. (On CQL: a lightweight transaction on the
    /// account row, retried.)
    fn update_account(
        &self,
        bsn: &str,
        change: &mut dyn FnMut(Option<AccountRecord>) -> Option<AccountRecord>,
    ) -> Result<Option<AccountRecord>, StoreError>;
    fn voorkeur(&self, bsn: &str, oin: &str) -> Result<Option<VoorkeurRecord>, StoreError>;
    fn voorkeuren(&self, bsn: &str) -> Result<Vec<VoorkeurRecord>, StoreError>;
    /// Stores a berichtenvoorkeur and, in the same write, its mutatie for the
    /// Abonnementservice.
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
    /// Removes a box entry and then its bijlagen; an entry that is gone stays gone.
    fn delete_box_entry(&self, bsn: &str, id: BoxId) -> Result<(), StoreError>;
}

/// Afnemers: the operator's catalog of afnemers, their API-key hashes and their berichttypen.
/// Written through by [`crate::catalog::Catalog`], which keeps them in memory.
pub trait Afnemers: Sharded {
    fn put_afnemer(&self, afnemer: &AfnemerRecord) -> Result<(), StoreError>;
    fn afnemers(&self) -> Result<Vec<AfnemerRecord>, StoreError>;
    /// Stores (or overwrites, by its hash) an API key's record: never the key itself. Synced.
    fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    /// Removes an API key's record, if there is one; once it returns the key is gone for good,
    /// also after a restart. Synced.
    fn delete_api_key(&self, key_hash: &[u8; 32]) -> Result<(), StoreError>;
    fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;
    fn put_berichttype(&self, berichttype: &BerichttypeRecord) -> Result<(), StoreError>;
    fn berichttypen(&self, oin: &str) -> Result<Vec<BerichttypeRecord>, StoreError>;
}

/// Reports: the day tellingen (written by parks and completions in the same write as what they
/// count), the rolling prognoses, the engine's runs, account counts. Used by the reporting
/// endpoints, the metrics and the heartbeat.
pub trait Reports: Sharded {
    /// The tellingen of every afnemer for the Amsterdam days `from..=until`, all shards summed.
    fn tellingen(
        &self,
        from: jiff::civil::Date,
        until: jiff::civil::Date,
    ) -> Result<BTreeMap<(jiff::civil::Date, String), DagTelling>, StoreError>;
    /// Stores an afnemer's prognose for a month; answers whether that month had none before.
    fn put_prognose(&self, prognose: &PrognoseRecord) -> Result<bool, StoreError>;
    /// The prognoses of one afnemer (by month), or of all afnemers.
    fn prognoses(&self, oin: Option<&str>) -> Result<Vec<PrognoseRecord>, StoreError>;
    /// Records (or moves on) this run's last sign of life; synced.
    fn record_run(&self, run: &RunRecord) -> Result<(), StoreError>;
    fn runs(&self) -> Result<Vec<RunRecord>, StoreError>;
    /// Counts citizens' accounts (a scan: for reports, not for a hot path).
    fn count_accounts(&self) -> Result<AccountCount, StoreError>;
}

/// Admin: the store as one thing, for the server that opens it and the operator's endpoints.
pub trait Admin: Sharded {
    /// Per-shard figures (queue depths), read from memory.
    fn shard_stats(&self) -> Vec<ShardStats>;

    /// Whether the store can park now: open, and with the disk above its minimum.
    fn health(&self) -> Result<(), StoreError>;

    /// Stops accepting parks, lets every queued park finish (answered), and syncs.
    fn close(&self) -> Result<(), StoreError>;
}

/// How long the store keeps what it may forget (`[bewaren]`); each period counts from the
/// time the retention index gives its kind ([`Expiring`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPeriods {
    /// Receipts in the feed and the webhook outbox, and the afwijzingen of their berichten.
    pub receipts: jiff::SignedDuration,
    /// Processed batches' records, and the berichtIds' claims (never longer than the records:
    /// a batch redelivered after its record went would otherwise find its own old claims).
    pub batches: jiff::SignedDuration,
    pub mutaties: jiff::SignedDuration,
    /// Berichten in boxes; `None`: until the citizen deletes them.
    pub berichten: Option<jiff::SignedDuration>,
    /// Day counters and the engine's runs, in whole calendar months before the current one.
    pub tellingen_maanden: u32,
}

impl RetentionPeriods {
    /// The period of a kind, `None` for kept until deleted.
    pub fn of(&self, kind: Expiring) -> Option<jiff::SignedDuration> {
        match kind {
            Expiring::Receipt | Expiring::Afwijzing => Some(self.receipts),
            Expiring::Batch | Expiring::Claim => Some(self.batches),
            Expiring::Mutatie => Some(self.mutaties),
            Expiring::Bericht => self.berichten,
        }
    }

    /// The receipt feed's horizon at `now`: receipts offered before it may be gone.
    pub fn receipt_horizon(&self, now: jiff::Timestamp) -> jiff::Timestamp {
        now.checked_sub(self.receipts)
            .unwrap_or(jiff::Timestamp::MIN)
    }
}

/// What one retention step deleted, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expired {
    pub by_kind: BTreeMap<Expiring, u64>,
    /// Day counters and runs deleted.
    pub tellingen: u64,
    /// Portal sessions deleted ([`Portaal::expire_sessies`], once per pass: the expirer adds
    /// them to its pass's total; a step of [`Retention`] leaves this 0).
    pub sessies: u64,
    /// The step stopped at its bound: more may be due.
    pub more: bool,
}

impl Expired {
    pub fn total(&self) -> u64 {
        self.by_kind.values().sum::<u64>() + self.tellingen + self.sessies
    }

    pub fn add(&mut self, other: &Self) {
        for (kind, n) in &other.by_kind {
            *self.by_kind.entry(*kind).or_default() += n;
        }
        self.tellingen += other.tellingen;
        self.sessies += other.sessies;
    }
}

/// Retention: forgetting what has served its period, in bounded steps, off the hot path. Used
/// by the expirer (`crate::expirer`), on the injected clock. Every record that expires is
/// written with an entry in its shard's retention index at the same time (what a CQL backend
/// gets from `USING TTL`), so a step reads only what is due.
pub trait Retention: Sharded {
    /// Deletes in `shard` at most `max` records whose period ended before `now`, with what
    /// hangs on them (a bericht's bijlagen, a receipt's outbox entry).
    fn expire(
        &self,
        shard: usize,
        now: jiff::Timestamp,
        periods: &RetentionPeriods,
        max: usize,
    ) -> Result<Expired, StoreError>;

    /// Deletes day counters (every shard) and runs (the catalog) of the months before the
    /// period.
    fn expire_tellingen(
        &self,
        now: jiff::Timestamp,
        periods: &RetentionPeriods,
    ) -> Result<Expired, StoreError>;

    /// Reclaims the disk space of what `expired` deleted in `shard`: compacts the keyspaces
    /// where the deletes are a large share, so they are gone from disk, not only hidden.
    fn reclaim(&self, shard: usize, expired: &Expired) -> Result<(), StoreError>;
}

/// What [`Abonnementen::vraag_aan`] did with a verzoek.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Aanvraag {
    /// Stored, planned for its night.
    Ingepland,
    /// A verzoek of this afnemer with this id was already stored (as it is now): the caller
    /// compares the digests.
    Bestaand(Box<VerzoekRecord>),
    /// Its night's quota for its soort is taken: nothing was stored.
    Vol,
}

/// An active account, as a `volledig` extract reads it: the BSN, and the afnemers whose
/// digital mail the citizen refused (a berichtenvoorkeur with `digitaal: false`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiefAccount {
    pub bsn: String,
    pub geweigerd: Vec<String>,
}

/// A mutatie's place: when the change was made, and whose it was. Ordered as a shard reads
/// them; also the cursor of [`Abonnementen::mutaties`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MutatiePlek {
    pub op_nanos: u64,
    pub bsn: String,
}

/// The Abonnementservice's verzoeken and the durable quotas (the nights' and the
/// Validatieservice's hours), and the reads its extracts are made of. Used by
/// `http::abonnementen`, `http::validaties` and the abonnementen runner
/// (`crate::abonnementen`).
///
/// A verzoek lives in one place (`oin ++ verzoek_id`; in CQL a table with that partition key),
/// a quota is one small record per night and soort or per hour (a lightweight transaction
/// in CQL); the extracts read each shard in pages with a cursor, so no call holds a scan
/// open between pages.
pub trait Abonnementen: Sharded {
    /// Stores `verzoek` (and a `bsn-lijst`'s BSNs) if the quota named `quotum` (its night and
    /// soort) has room under `limit`, taking one from it in the same write; synced. A verzoek
    /// already stored under its (oin, id) is answered as [`Aanvraag::Bestaand`] and nothing
    /// else happens.
    fn vraag_aan(
        &self,
        verzoek: &VerzoekRecord,
        bsns: &[u32],
        quotum: &str,
        limit: u32,
        vervalt: jiff::Timestamp,
    ) -> Result<Aanvraag, StoreError>;
    fn verzoek(&self, oin: &str, verzoek_id: &str) -> Result<Option<VerzoekRecord>, StoreError>;
    /// Every stored verzoek: at most a few nights' quotas, kept for the result's retention.
    fn verzoeken(&self) -> Result<Vec<VerzoekRecord>, StoreError>;
    /// Stores a verzoek's new status; synced.
    fn put_verzoek(&self, verzoek: &VerzoekRecord) -> Result<(), StoreError>;
    /// A `bsn-lijst`'s BSNs from position `vanaf` on, at most `max` (fewer only at the end).
    fn verzoek_bsns(
        &self,
        oin: &str,
        verzoek_id: &str,
        vanaf: u64,
        max: usize,
    ) -> Result<Vec<u32>, StoreError>;
    /// Removes a verzoek and its BSNs; synced.
    fn delete_verzoek(&self, oin: &str, verzoek_id: &str) -> Result<(), StoreError>;
    /// Takes one from the quota named `quotum` if it has room under `limit`; synced when it
    /// does. Answers whether it did. The record may be forgotten after `vervalt`.
    fn take_quotum(
        &self,
        quotum: &str,
        limit: u32,
        vervalt: jiff::Timestamp,
    ) -> Result<bool, StoreError>;
    /// Forgets the quotas whose `vervalt` is before `now`; answers how many.
    fn expire_quota(&self, now: jiff::Timestamp) -> Result<u64, StoreError>;
    /// The active accounts of `shard` after the BSN `na`, in BSN order, at most `max`.
    fn actieve_accounts(
        &self,
        shard: usize,
        na: Option<&str>,
        max: usize,
    ) -> Result<Vec<ActiefAccount>, StoreError>;
    /// The mutaties of `shard` for afnemer `oin` (or, with `None`, the openings and closings
    /// of boxes, which count for every afnemer) made at or after `sinds`, after the place
    /// `na`, in order of time; at most `max`.
    fn mutaties(
        &self,
        shard: usize,
        oin: Option<&str>,
        sinds: jiff::Timestamp,
        na: Option<&MutatiePlek>,
        max: usize,
    ) -> Result<Vec<MutatiePlek>, StoreError>;
}

/// The most days [`Portaal::afnemer_tellingen`] reads in one call: a leap year's, far past the
/// portal's month, so a made-up range costs at most this many point reads per counter and shard.
pub const AFNEMER_TELLINGEN_MAX_DAGEN: u16 = 366;

/// Which of an afnemer's afwijzingen a page of [`Portaal::afwijzingen`] lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AfwijzingFilter {
    /// Only this Amsterdam day (of the receipt); `None`: every day still kept.
    pub dag: Option<jiff::civil::Date>,
    /// Only this code; `None`: every code (never `Verwerkt`, which is no afwijzing).
    pub code: Option<VerwerkingsCode>,
}

/// The Leveranciersportaal's reads of one afnemer's traffic, and its sessions. Used by
/// `http::portaal`; the sessions also by the expirer.
///
/// On CQL: `afwijzingen` is a table partitioned by (oin, dag), clustered by (code, receipt
/// cursor, index), with the receipts' TTL; sessions a table keyed by the token's hash, with a
/// TTL of their `verloopt_op`.
pub trait Portaal: Sharded {
    /// One afnemer's tellingen for the Amsterdam days `from..=until`, all shards summed: only
    /// that afnemer's counters are read, never the days' whole range. Days without a count are
    /// absent; `until` before `from` is an empty range. At most the last
    /// [`AFNEMER_TELLINGEN_MAX_DAGEN`] days up to `until` are read: an earlier `from` is moved
    /// up to them (the portal asks for a month).
    fn afnemer_tellingen(
        &self,
        oin: &str,
        from: jiff::civil::Date,
        until: jiff::civil::Date,
    ) -> Result<BTreeMap<jiff::civil::Date, DagTelling>, StoreError>;

    /// An afnemer's processed batches, newest receipt first (the receipt feed read backwards),
    /// before `before` when given: at most `limit`, each with its record and receipt. Only
    /// batches whose receipt is still in the feed, and whose record is still that receipt's
    /// (not gone, nor replaced by a later delivery of the id).
    fn recente_batches(
        &self,
        oin: &str,
        before: Option<ReceiptCursor>,
        limit: usize,
    ) -> Result<Vec<(ReceiptCursor, BatchRecord)>, StoreError>;

    /// An afnemer's afwijzingen (its berichten decided with any code but `Verwerkt`, whose
    /// receipts are still kept), in [`AfwijzingCursor`] order (newest day first; within a day
    /// by code, then as their receipts became ready, then by position in the batch), after
    /// `after` when given: at most `limit`. Reads only the index's entries of that afnemer
    /// (and day and code, when the filter names them), never other afnemers' or a scan of
    /// receipts.
    fn afwijzingen(
        &self,
        oin: &str,
        filter: AfwijzingFilter,
        after: Option<AfwijzingCursor>,
        limit: usize,
    ) -> Result<Vec<(AfwijzingCursor, AfwijzingRecord)>, StoreError>;

    /// Stores a session under its token's hash (a new one, or one whose `verloopt_op` moved on).
    /// Synced when it is new, so a restart keeps a session its cookie was handed out for.
    fn put_sessie(&self, token_hash: &[u8; 32], sessie: &SessieRecord) -> Result<(), StoreError>;

    /// The session of a token's hash, if stored (expired or not: the caller judges
    /// `verloopt_op` against its clock).
    fn sessie(&self, token_hash: &[u8; 32]) -> Result<Option<SessieRecord>, StoreError>;

    /// Ends a session (sign-out); nothing when there is none.
    fn delete_sessie(&self, token_hash: &[u8; 32]) -> Result<(), StoreError>;

    /// Deletes the sessions whose `verloopt_op` is before `now`; answers how many.
    fn expire_sessies(&self, now: jiff::Timestamp) -> Result<u64, StoreError>;
}

/// The whole store, every role: what the server opens and hands out. Each consumer keeps only
/// the role it uses (`Arc<dyn Store>` upcasts to `Arc<dyn Processing>` and the like).
pub trait Store:
    Parking
    + Processing
    + Receipts
    + Notifications
    + Citizens
    + Afnemers
    + Reports
    + Retention
    + Abonnementen
    + Portaal
    + Admin
{
}

impl<T> Store for T where
    T: Parking
        + Processing
        + Receipts
        + Notifications
        + Citizens
        + Afnemers
        + Reports
        + Retention
        + Abonnementen
        + Portaal
        + Admin
{
}

/// Whether a citizen takes this afnemer's digital mail: an active box, and no berichtenvoorkeur
/// refusing the afnemer. Processing and the Validatieservice decide alike through this.
pub fn wil_digitaal(
    store: &dyn Citizens,
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
