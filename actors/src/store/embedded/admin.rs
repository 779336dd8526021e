//! Admin, embedded: the shards' figures from memory, health (open, disk above its minimum),
//! and the one way the store closes: stop the writers after they answer what is queued, stop
//! the disk watch, sync every shard and the catalog.

use std::sync::atomic::Ordering;

use fjall::PersistMode;

use super::EmbeddedStore;
use crate::store::{Admin, ShardStats, StoreError};

impl Admin for EmbeddedStore {
    fn shard_stats(&self) -> Vec<ShardStats> {
        self.shards
            .iter()
            .map(|shard| ShardStats {
                shard: shard.index,
                parked_berichten: shard.parked_berichten.load(Ordering::Relaxed),
                next_seq: shard.next_seq.load(Ordering::Relaxed),
                notification_queue_depth: shard.notification_queue_depth.load(Ordering::Relaxed),
                webhook_outbox_depth: shard.webhook_outbox_depth.load(Ordering::Relaxed),
            })
            .collect()
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
