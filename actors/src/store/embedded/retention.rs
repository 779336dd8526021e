//! Retention, embedded: each shard's retention index (`expiry`) and the deletes it drives.
//!
//! Whatever expires is written together with an index entry `kind ++ since ++ key` in the
//! same write batch (completions: the receipt, its afwijzingen and the batch record; claims;
//! mutaties; box entries), so a step reads only the due range of each kind, in the order the periods end,
//! and never scans the records themselves. Day counters are keyed by their day and runs by
//! their start, so they need no index. A step deletes the record, what hangs on it and the
//! index entry in one write batch; the records are checked before they go (a batch record that
//! is processed, a claim still held by the batch that the entry names), so an entry that
//! outlived its record deletes nothing else.

use fjall::Keyspace;

use super::shard::ShardHandles;
use super::{EmbeddedStore, saturating_sub};
use crate::core::time::unix_nanos_u64;
use crate::store::record::{
    BatchRecord, BoxId, Expiring, ExpiringBericht, RunRecord, bijlage_key, day_prefix, decode,
    expiry_range, expiry_target,
};
use crate::store::{BatchStatus, Expired, Retention, RetentionPeriods, StoreError};

/// Compact a keyspace once a pass deleted at least this share (1/n) of its approximate size,
/// and at least [`COMPACT_AT_LEAST`] entries: then most of its tables hold tombstones.
const COMPACT_SHARE: u64 = 4;
const COMPACT_AT_LEAST: u64 = 1000;

impl Retention for EmbeddedStore {
    fn expire(
        &self,
        shard: usize,
        now: jiff::Timestamp,
        periods: &RetentionPeriods,
        max: usize,
    ) -> Result<Expired, StoreError> {
        let handles = self.shard(shard);
        let mut expired = Expired::default();
        let mut budget = max;
        for kind in Expiring::ALL {
            let Some(period) = periods.of(kind) else {
                continue;
            };
            let Some(before) = now.checked_sub(period).ok() else {
                continue;
            };
            let (from, end) = expiry_range(kind, before);
            let start = handles
                .expired_upto
                .lock()
                .map_err(|_| StoreError::Closed)?
                .get(&kind)
                .filter(|after| **after > from)
                .cloned()
                .unwrap_or(from);
            let mut due = Vec::new();
            for guard in handles.expiry.range(start..end).take(budget) {
                let (key, value) = guard.into_inner()?;
                due.push((key.to_vec(), value.to_vec()));
            }
            let Some((last, _)) = due.last() else {
                continue;
            };
            // The successor of the last key read: once these are deleted, the next step
            // starts there.
            let mut after = last.clone();
            after.push(0);
            budget -= due.len();
            let removed = match kind {
                Expiring::Receipt => self.expire_receipts(handles, &due)?,
                Expiring::Afwijzing => expire_plain(handles, &handles.afwijzingen, &due)?,
                Expiring::Batch => expire_batches(handles, &due)?,
                Expiring::Claim => expire_claims(handles, &due)?,
                Expiring::Mutatie => expire_plain(handles, &handles.mutaties, &due)?,
                Expiring::Bericht => self.expire_berichten(handles, &due)?,
            };
            handles
                .expired_upto
                .lock()
                .map_err(|_| StoreError::Closed)?
                .insert(kind, after);
            expired.by_kind.insert(kind, removed);
            if budget == 0 {
                expired.more = true;
                break;
            }
        }
        Ok(expired)
    }

    fn expire_tellingen(
        &self,
        now: jiff::Timestamp,
        periods: &RetentionPeriods,
    ) -> Result<Expired, StoreError> {
        let month_start = now.to_zoned(self.zone.clone()).date().first_of_month();
        let horizon = month_start
            .checked_sub(jiff::Span::new().months(i64::from(periods.tellingen_maanden)))
            .map_err(|error| StoreError::Inconsistent(error.to_string()))?;
        let end = day_prefix(horizon).into_bytes();
        let mut expired = Expired::default();
        for handles in &self.shards {
            let old = keys_before(&handles.tellers, &end)?;
            if old.is_empty() {
                continue;
            }
            let mut write = handles.batch();
            for key in &old {
                write.remove(&handles.tellers, key.clone());
            }
            write.commit()?;
            expired.tellingen += old.len() as u64;
        }
        // Runs are keyed by their start (i128 nanos, big-endian); one that was still seen after
        // the horizon stays, for the month it reaches into.
        let horizon_at = horizon
            .to_zoned(self.zone.clone())
            .map_err(|error| StoreError::Inconsistent(error.to_string()))?
            .timestamp();
        let end = horizon_at.as_nanosecond().to_be_bytes();
        let mut write = self.catalog.db.batch();
        for guard in self.catalog.runs.range(..end.to_vec()) {
            let (key, value) = guard.into_inner()?;
            let run: RunRecord = decode(&key, &value)?;
            if run.seen < horizon_at {
                write.remove(&self.catalog.runs, key.to_vec());
                expired.tellingen += 1;
            }
        }
        if !write.is_empty() {
            write.commit()?;
        }
        Ok(expired)
    }

    fn reclaim(&self, shard: usize, expired: &Expired) -> Result<(), StoreError> {
        let handles = self.shard(shard);
        // Deletes per keyspace: each kind's own keyspaces, and the index for all of them.
        let mut deleted: Vec<(&Keyspace, u64)> = vec![(&handles.expiry, 0)];
        for (kind, n) in &expired.by_kind {
            deleted[0].1 += n;
            let own: &[&Keyspace] = match kind {
                Expiring::Receipt => &[&handles.receipt_feed, &handles.webhook_outbox],
                Expiring::Afwijzing => &[&handles.afwijzingen],
                Expiring::Batch => &[&handles.batches],
                Expiring::Claim => &[&handles.bericht_ids],
                Expiring::Mutatie => &[&handles.mutaties],
                Expiring::Bericht => &[&handles.boxes, &handles.bijlagen],
            };
            deleted.extend(own.iter().map(|keyspace| (*keyspace, *n)));
        }
        for (keyspace, n) in deleted {
            let size = keyspace.approximate_len() as u64;
            if n >= COMPACT_AT_LEAST && n.saturating_mul(COMPACT_SHARE) >= size {
                let began = std::time::Instant::now();
                keyspace.major_compact()?;
                tracing::info!(
                    shard,
                    keyspace = name_of(keyspace),
                    deleted = n,
                    approximate_len = size,
                    compact_ms = began.elapsed().as_millis(),
                    "compacted after expiry"
                );
            }
        }
        Ok(())
    }
}

fn name_of(keyspace: &Keyspace) -> &str {
    keyspace.name().as_ref()
}

/// The keys of a keyspace below `end`.
fn keys_before(keyspace: &Keyspace, end: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut keys = Vec::new();
    for guard in keyspace.range(..end.to_vec()) {
        keys.push(guard.key()?.to_vec());
    }
    Ok(keys)
}

impl EmbeddedStore {
    /// Receipts: the feed entry and the webhook outbox entry (one key), the latter counted out
    /// of the outbox's depth when it was there (the pusher gives up on it at the same age).
    fn expire_receipts(
        &self,
        handles: &ShardHandles,
        due: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<u64, StoreError> {
        let mut write = handles.batch().synced();
        let mut outboxed = 0;
        for (index_key, _) in due {
            let key = expiry_target(index_key);
            if handles.webhook_outbox.contains_key(key)? {
                write.remove(&handles.webhook_outbox, key.to_vec());
                outboxed += 1;
            }
            write.remove(&handles.receipt_feed, key.to_vec());
            write.remove(&handles.expiry, index_key.clone());
        }
        write.commit()?;
        saturating_sub(&handles.webhook_outbox_depth, outboxed);
        Ok(due.len() as u64)
    }

    /// Box entries with their bijlagen. The entry goes first (with its index entry), then the
    /// bijlagen in the shards where they were parked: a crash in between leaves unreferenced
    /// bytes, never a reference without bytes (as a citizen's delete does).
    fn expire_berichten(
        &self,
        handles: &ShardHandles,
        due: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<u64, StoreError> {
        let boxes = handles.box_lock.lock().map_err(|_| StoreError::Closed)?;
        let mut write = handles.batch().synced();
        let mut bijlagen = Vec::new();
        for (index_key, value) in due {
            let key = expiry_target(index_key);
            // An index entry is written and removed with its box entry, so the entry is there;
            // the index's value says where its bijlagen are.
            bijlagen.extend(decode::<ExpiringBericht>(index_key, value)?.bijlagen);
            write.remove(&handles.boxes, key.to_vec());
            write.remove(&handles.expiry, index_key.clone());
        }
        write.commit()?;
        drop(boxes);
        for (shard, seq, volgorde) in bijlagen {
            self.shard(usize::from(shard))
                .bijlagen
                .remove(bijlage_key(seq, volgorde))?;
        }
        Ok(due.len() as u64)
    }
}

/// Processed batch records. A record that is not processed (a batch redelivered as new after
/// the old one went, still parked) is not the one the entry names and stays.
fn expire_batches(handles: &ShardHandles, due: &[(Vec<u8>, Vec<u8>)]) -> Result<u64, StoreError> {
    let mut write = handles.batch().synced();
    let mut removed = 0;
    for (index_key, _) in due {
        let key = expiry_target(index_key);
        if let Some(bytes) = handles.batches.get(key)? {
            let record: BatchRecord = decode(key, &bytes)?;
            let since = &index_key[1..9];
            let named = record
                .receipt
                .as_ref()
                .is_some_and(|receipt| unix_nanos_u64(receipt.verwerkt_op).to_be_bytes() == since);
            if record.status == BatchStatus::Verwerkt && named {
                write.remove(&handles.batches, key.to_vec());
                removed += 1;
            }
        }
        write.remove(&handles.expiry, index_key.clone());
    }
    write.commit()?;
    Ok(removed)
}

/// Claims. A claim is only ever written where none is, with its index entry, and released
/// with it, so an index entry's claim is the one it names: it goes without being read.
fn expire_claims(handles: &ShardHandles, due: &[(Vec<u8>, Vec<u8>)]) -> Result<u64, StoreError> {
    let _serialised = handles.claim_lock.lock().map_err(|_| StoreError::Closed)?;
    expire_plain(handles, &handles.bericht_ids, due)
}

/// Records with nothing hanging on them (mutaties, claims, afwijzingen), each with its index
/// entry.
fn expire_plain(
    handles: &ShardHandles,
    keyspace: &Keyspace,
    due: &[(Vec<u8>, Vec<u8>)],
) -> Result<u64, StoreError> {
    let mut write = handles.batch().synced();
    for (index_key, _) in due {
        write.remove(keyspace, expiry_target(index_key).to_vec());
        write.remove(&handles.expiry, index_key.clone());
    }
    write.commit()?;
    Ok(due.len() as u64)
}

/// A box entry's key in the retention index: its arrival is in its id.
pub(super) fn bericht_since(id: BoxId) -> jiff::Timestamp {
    jiff::Timestamp::from_nanosecond(i128::from(id.ontvangen_nanos))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedConfig;
    use crate::store::{Admin as _, Citizens as _, VoorkeurRecord};

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().expect("timestamp")
    }

    /// Steps of one entry each, starting where the last ended: every due entry goes once,
    /// the one not due stays, and a step with nothing due deletes nothing.
    #[test]
    fn steps_of_one_expire_each_due_entry_once_and_nothing_else() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = EmbeddedStore::open(EmbeddedConfig::scratch(dir.path(), 2)).expect("open");
        let day = jiff::SignedDuration::from_hours(24);
        let change = |n: u32, gewijzigd_op: jiff::Timestamp| VoorkeurRecord {
            bsn: format!("{:09}", 100_000_000 + n),
            oin: "00000001234567890000".into(),
            digitaal: n.is_multiple_of(2),
            gewijzigd_op,
        };
        for n in 0..7 {
            let when = at("2026-01-01T00:00:00Z") + jiff::SignedDuration::from_mins(i64::from(n));
            store.put_voorkeur(&change(n, when)).expect("voorkeur");
        }
        store
            .put_voorkeur(&change(99, at("2026-03-30T00:00:00Z")))
            .expect("a recent voorkeur");
        let periods = RetentionPeriods {
            receipts: 6 * day,
            batches: 7 * day,
            mutaties: 90 * day,
            berichten: None,
            tellingen_maanden: 13,
        };
        let now = at("2026-04-02T00:00:00Z");
        let mut removed = 0;
        for shard in 0..2 {
            loop {
                let step = store.expire(shard, now, &periods, 1).expect("expire");
                let n = step.by_kind.get(&Expiring::Mutatie).copied().unwrap_or(0);
                assert!(n <= 1, "a step of one deleted {n}");
                removed += n;
                if !step.more {
                    break;
                }
            }
        }
        assert_eq!(removed, 7);
        let left: usize = store
            .shards
            .iter()
            .map(|shard| shard.mutaties.len().expect("len"))
            .sum();
        assert_eq!(left, 1, "the recent mutatie stays");
        for shard in 0..2 {
            assert_eq!(
                store.expire(shard, now, &periods, 1).expect("expire"),
                Expired::default()
            );
        }
        store.close().expect("close");
    }
}
