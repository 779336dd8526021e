//! Parking, embedded: `can_park` and `submit_park` hand a batch to its home shard's writer
//! (`writer.rs`), which parks it whole in one synced write; reading parked berichten and
//! bijlagen back. Nothing here writes: the writer is parking's only writer.

use std::sync::atomic::Ordering;

use crossbeam_channel::TrySendError;
use tokio::sync::oneshot;

use super::EmbeddedStore;
use super::collect;
use super::writer::ParkJob;
use crate::core::routing::home_shard_of_batch;
use crate::store::record::{bijlage_key, seq_key};
use crate::store::{
    Admin as _, BijlageRef, ParkReceipt, ParkRequest, ParkedBericht, Parking, StoreError,
};

impl Parking for EmbeddedStore {
    fn can_park(&self, request: &ParkRequest) -> Result<(), StoreError> {
        self.health()?;
        // The backlog is bounded, so that what is parked is processed well within its 24 hours
        // whatever the rate of parking: beyond the bound, afnemers are asked to come back.
        let parked: u64 = self
            .shards
            .iter()
            .map(|shard| shard.parked_berichten.load(Ordering::Relaxed))
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

    fn parked_berichten(
        &self,
        shard: usize,
        after_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ParkedBericht>, StoreError> {
        let start = after_seq.map_or(0, |seq| seq.saturating_add(1));
        collect(self.shard(shard).parked.range(seq_key(start)..).take(limit))
    }

    fn bijlage(&self, reference: &BijlageRef) -> Result<Option<Vec<u8>>, StoreError> {
        let shard = self.shard(usize::from(reference.shard));
        Ok(shard
            .bijlagen
            .get(bijlage_key(reference.seq, reference.volgorde))?
            .map(|v| v.to_vec()))
    }
}
