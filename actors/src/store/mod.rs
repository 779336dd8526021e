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

pub use record::{
    AfnemerRecord, BatchRecord, BatchStatus, BerichttypeRecord, BijlageRef, ParkedMessage,
};
use tokio::sync::oneshot;

use crate::core::model::Batch;

/// Errors of the store layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("park queue of shard {shard} is full")]
    QueueFull { shard: usize },
    #[error("free disk space {available_bytes} bytes is under the configured minimum")]
    DiskFull { available_bytes: u64 },
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
}

impl StoreError {
    /// True when waiting and trying again may succeed (a full queue or disk, a busy engine).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::QueueFull { .. } | Self::DiskFull { .. } | Self::Engine(_) | Self::Io(_)
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

    /// Stops accepting parks, lets every queued park finish (answered), and syncs.
    fn close(&self) -> Result<(), StoreError>;
}
