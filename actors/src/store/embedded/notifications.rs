//! Notifications, embedded: each shard's queue in arrival order (`notifications`, keyed by box
//! id), the notifications of berichten published later (`notifications_later`, keyed by
//! publication time), and the caps' window in the catalog database. The queues are filled by
//! `Processing::deliver`; this file reads them and removes what was sent.

use std::sync::atomic::Ordering;

use fjall::PersistMode;

use super::catalog::NOTIFICATION_WINDOW_KEY;
use super::{EmbeddedStore, by_shard, saturating_sub};
use crate::core::routing::shard_of_citizen;
use crate::store::record::{decode, encode};
use crate::store::{CapWindowRecord, NotificationRecord, Notifications, StoreError};

impl Notifications for EmbeddedStore {
    fn queued_notifications(
        &self,
        shard: usize,
        limit: usize,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        let mut out = Vec::with_capacity(limit.min(4096));
        let handles = self.shard(shard);
        let from = handles.notified_from.load(Ordering::Acquire).to_be_bytes();
        for guard in handles.notifications.range(from.as_slice()..).take(limit) {
            let (key, value) = guard.into_inner()?;
            out.push(decode(&key, &value)?);
        }
        Ok(out)
    }

    fn due_later_notifications(
        &self,
        shard: usize,
        until: jiff::Timestamp,
        limit: usize,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        // Saturating: a time past what the key's 64 bits hold means "all of them".
        let until_nanos = until.as_nanosecond().clamp(0, i128::from(u64::MAX));
        let end = u64::try_from(until_nanos)
            .unwrap_or(u64::MAX)
            .saturating_add(1)
            .to_be_bytes();
        let mut out = Vec::new();
        for guard in self
            .shard(shard)
            .notifications_later
            .range(..end.as_slice())
            .take(limit)
        {
            let (key, value) = guard.into_inner()?;
            out.push(decode(&key, &value)?);
        }
        Ok(out)
    }

    fn remove_notifications(&self, done: &[NotificationRecord]) -> Result<(), StoreError> {
        let n_shards = self.shards.len();
        for (shard, positions) in by_shard(done, |n| shard_of_citizen(&n.bsn, n_shards)) {
            let handles = self.shard(shard);
            let mut write = handles.batch().synced();
            let positions_len = positions.len() as u64;
            let mut sent_up_to: Option<u64> = None;
            for position in positions {
                let record = &done[position];
                if !record.published_later() {
                    sent_up_to = sent_up_to.max(Some(record.id.ontvangen_nanos));
                }
                let queue = if record.published_later() {
                    &handles.notifications_later
                } else {
                    &handles.notifications
                };
                write.remove(queue, record.key());
            }
            write.commit()?;
            saturating_sub(&handles.notification_queue_depth, positions_len);
            // Inclusive: a notification of the same arrival nanosecond may still come.
            if let Some(sent_up_to) = sent_up_to {
                handles
                    .notified_from
                    .fetch_max(sent_up_to, Ordering::Release);
            }
        }
        Ok(())
    }

    fn notification_window(&self) -> Result<Option<CapWindowRecord>, StoreError> {
        let meta = &self.catalog.meta;
        meta.get(NOTIFICATION_WINDOW_KEY)?
            .map(|bytes| decode(NOTIFICATION_WINDOW_KEY, &bytes))
            .transpose()
    }

    fn put_notification_window(&self, window: &CapWindowRecord) -> Result<(), StoreError> {
        self.catalog
            .meta
            .insert(NOTIFICATION_WINDOW_KEY, encode(window))?;
        self.catalog.db.persist(PersistMode::SyncData)?;
        Ok(())
    }
}
