//! Receipts, embedded: batch records (`batches`, in the batch's home shard), the receipt feed
//! (`receipt_feed`) and the webhook outbox (`webhook_outbox`), both keyed oin ++ cursor in the
//! shard where the batch completed. The feed and the outbox are filled by
//! `Processing::complete`; this file reads them and settles webhook jobs.

use std::ops::Bound;

use super::{EmbeddedStore, saturating_sub};
use crate::core::clock::SharedClock;
use crate::core::routing::home_shard_of_batch;
use crate::store::record::{batch_key, decode, encode, prefixed};
use crate::store::{BatchRecord, FeedPage, ReceiptCursor, Receipts, StoreError, WebhookJob};

impl Receipts for EmbeddedStore {
    fn find_batch(&self, oin: &str, batch_id: &str) -> Result<Option<BatchRecord>, StoreError> {
        let shard = self.shard(home_shard_of_batch(oin, batch_id, self.shards.len()));
        let key = batch_key(oin, batch_id);
        shard
            .batches
            .get(&key)?
            .map(|bytes| decode(&key, &bytes))
            .transpose()
    }

    fn receipt_feed(
        &self,
        oin: &str,
        after: Option<ReceiptCursor>,
        limit: usize,
        max_berichten: usize,
        clock: &SharedClock,
    ) -> Result<FeedPage, StoreError> {
        // Every completion stamped before `until` has committed: it held the lock throughout.
        let until = {
            let _feed = self.feed_lock.lock().map_err(|_| StoreError::Closed)?;
            crate::core::time::unix_nanos_u64(clock.now())
        };
        let start = match after {
            Some(cursor) => Bound::Excluded(prefixed(oin, &cursor.to_bytes())),
            None => Bound::Included(oin.as_bytes().to_vec()),
        };
        let end = Bound::Excluded(prefixed(
            oin,
            &ReceiptCursor {
                ready_nanos: until,
                shard: 0,
                first_seq: 0,
            }
            .to_bytes(),
        ));
        let mut found: Vec<(ReceiptCursor, usize, Vec<u8>)> = Vec::new();
        for (shard, handles) in self.shards.iter().enumerate() {
            for guard in handles
                .receipt_feed
                .range((start.clone(), end.clone()))
                .take(limit)
            {
                let (key, batch_id) = guard.into_inner()?;
                let Some(cursor) = ReceiptCursor::from_bytes(&key[oin.len()..]) else {
                    continue;
                };
                found.push((cursor, shard, batch_id.to_vec()));
            }
        }
        found.sort_by_key(|(cursor, ..)| *cursor);
        found.truncate(limit);
        let mut receipts = Vec::with_capacity(found.len());
        let mut berichten = 0usize;
        for (cursor, shard, batch_id) in found {
            let key = prefixed(oin, &batch_id);
            if let Some(bytes) = self.shard(shard).batches.get(&key)? {
                let record: BatchRecord = decode(&key, &bytes)?;
                let outcomes = record.receipt.as_ref().map_or(0, |r| r.berichten.len());
                berichten = berichten.saturating_add(outcomes);
                if berichten > max_berichten && !receipts.is_empty() {
                    // This receipt would take the page over its bound: it opens the next.
                    return Ok(FeedPage {
                        receipts,
                        full: true,
                    });
                }
                receipts.push((cursor, record));
            }
        }
        let full = receipts.len() == limit;
        Ok(FeedPage { receipts, full })
    }

    fn webhook_outbox_head(
        &self,
        oin: &str,
    ) -> Result<Option<(ReceiptCursor, WebhookJob)>, StoreError> {
        let mut head: Option<(ReceiptCursor, WebhookJob)> = None;
        for handles in &self.shards {
            let Some(guard) = handles.webhook_outbox.prefix(oin).next() else {
                continue;
            };
            let (key, value) = guard.into_inner()?;
            let Some(cursor) = ReceiptCursor::from_bytes(&key[oin.len()..]) else {
                continue;
            };
            if head.as_ref().is_none_or(|(first, _)| cursor < *first) {
                head = Some((cursor, decode(&key, &value)?));
            }
        }
        Ok(head)
    }

    fn put_webhook_job(
        &self,
        oin: &str,
        cursor: ReceiptCursor,
        job: Option<&WebhookJob>,
    ) -> Result<(), StoreError> {
        let handles = self.shard(usize::from(cursor.shard));
        let key = prefixed(oin, &cursor.to_bytes());
        let mut write = handles.batch().synced();
        match job {
            Some(job) => write.insert(&handles.webhook_outbox, key, encode(job)),
            None => write.remove(&handles.webhook_outbox, key),
        }
        write.commit()?;
        if job.is_none() {
            saturating_sub(&handles.webhook_outbox_depth, 1);
        }
        Ok(())
    }
}
