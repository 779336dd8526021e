//! Processing, embedded: taking whole parked batches, claiming berichtIds, delivering into
//! boxes and settling batches with their receipts (and, in the same write, their afwijzingen
//! for the Leveranciersportaal and the day's tellingen).
//!
//! Every write here is a fjall write batch committed with `PersistMode::SyncData`, grouped per
//! shard, so a call is durable when it returns. Calls that touch other shards than the batch's
//! home shard (claims, deliveries) are idempotent, so a second try after a crash neither loses
//! nor doubles anything; the home shard's `complete` is the step that makes a batch processed.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use fjall::Readable as _;

use super::retention::bericht_since;
use super::{EmbeddedStore, by_shard};
use crate::core::clock::SharedClock;
use crate::core::routing::{shard_of_bericht_id, shard_of_citizen};
use crate::core::verwerking::VerwerkingsCode;
use crate::store::record::{
    BatchStatus, Expiring, ExpiringBericht, Teller, afwijzing_key, batch_key, bijlage_key, decode,
    decode_u64, encode, expiry_key, parked_id_key, prefixed, seq_key, teller_key,
};
use crate::store::{
    AfwijzingCursor, AfwijzingRecord, BatchRecord, BerichtClaim, Completion, Delivery,
    NotificationRecord, ParkedBatch, ParkedBericht, Processing, ReceiptCursor, StoreError,
    WebhookJob,
};

impl Processing for EmbeddedStore {
    fn parked_batches(
        &self,
        shard: usize,
        max_berichten: usize,
    ) -> Result<Vec<ParkedBatch>, StoreError> {
        let handles = self.shard(shard);
        let mut batches: Vec<ParkedBatch> = Vec::new();
        let mut taken = 0usize;
        let mut current: Option<ParkedBatch> = None;
        // A batch is parked by one write batch, read here through one snapshot. (A keyspace's
        // own `range` and `get` read the newest items, also those of a write batch still
        // being applied: a scan could see half a batch, or a bericht before its batch
        // record.) fjall 3.1.13 snapshots can see a prefix of a write batch still being
        // applied too (a flush or compaction publishes a sequence number past it:
        // docs/fjall-snapshot-anomaly.md), so what is read is checked below.
        let snapshot = handles.db.snapshot();
        let from = handles.processed_upto.load(Ordering::Acquire);
        for guard in snapshot.range(&handles.parked, seq_key(from)..) {
            let (key, value) = guard.into_inner()?;
            let parked: ParkedBericht = decode(&key, &value)?;
            if let Some(batch) = &mut current
                && batch.record.batch_id == parked.batch_id
                && batch.record.oin == parked.oin
            {
                batch.berichten.push(parked);
                continue;
            }
            if let Some(done) = current.take() {
                taken += done.berichten.len();
                batches.push(done);
                if taken >= max_berichten {
                    break;
                }
            }
            let key = batch_key(&parked.oin, &parked.batch_id);
            let record: BatchRecord = match snapshot.get(&handles.batches, &key)? {
                Some(bytes) => decode(&key, &bytes)?,
                None => {
                    return Err(StoreError::ReadAnomaly(format!(
                        "parked bericht {} of shard {shard} has no batch record",
                        parked.seq
                    )));
                }
            };
            current = Some(ParkedBatch {
                record,
                berichten: vec![parked],
            });
        }
        batches.extend(current);
        // Parked whole, so read whole: each batch's berichten are exactly its sequence numbers.
        // Processing a part would let its completion remove berichten it never decided.
        for batch in &batches {
            let record = &batch.record;
            let whole = batch.berichten.len() == record.aantal_berichten as usize
                && batch
                    .berichten
                    .iter()
                    .zip(record.first_seq..)
                    .all(|(bericht, seq)| bericht.seq == seq);
            if !whole {
                return Err(StoreError::ReadAnomaly(format!(
                    "batch {} of shard {shard} was read with {} of its {} berichten",
                    record.batch_id,
                    batch.berichten.len(),
                    record.aantal_berichten
                )));
            }
        }
        Ok(batches)
    }

    fn earlier_parked_copy(
        &self,
        oin: &str,
        bericht_id: &str,
        ontvangen_op: jiff::Timestamp,
        shard: usize,
        seq: u64,
    ) -> Result<bool, StoreError> {
        let mine = parked_id_key(oin, bericht_id, ontvangen_op, seq);
        let prefix = prefixed(oin, bericht_id.as_bytes());
        for (index, handles) in self.shards.iter().enumerate() {
            if index == shard
                || !handles
                    .parked_id_filter
                    .may_contain(oin.as_bytes(), bericht_id.as_bytes())
            {
                continue;
            }
            // The smallest key of the prefix is that shard's earliest copy; on equal arrival
            // times the lower shard counts as earlier.
            if let Some(guard) = handles.parked_ids.prefix(&prefix).next() {
                let key = guard.key()?;
                let theirs = key.as_ref();
                let arrival = |k: &[u8]| k[prefix.len()..prefix.len() + 8].to_vec();
                let earlier = match arrival(theirs).cmp(&arrival(&mine)) {
                    std::cmp::Ordering::Less => true,
                    std::cmp::Ordering::Equal => index < shard,
                    std::cmp::Ordering::Greater => false,
                };
                if earlier {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    fn claim_bericht_ids(&self, claims: &[BerichtClaim]) -> Result<Vec<String>, StoreError> {
        let _cut = self.cut_gate.read().map_err(|_| StoreError::Closed)?;
        let n_shards = self.shards.len();
        let mut holders = vec![String::new(); claims.len()];
        for (shard, positions) in by_shard(claims, |c| {
            shard_of_bericht_id(&c.oin, &c.bericht_id, n_shards)
        }) {
            let handles = self.shard(shard);
            let _serialised = handles.claim_lock.lock().map_err(|_| StoreError::Closed)?;
            let mut write = handles.batch().synced();
            let mut claimed_here: HashMap<Vec<u8>, String> = HashMap::new();
            for position in positions {
                let claim = &claims[position];
                let key = prefixed(&claim.oin, claim.bericht_id.as_bytes());
                let holder = match claimed_here.get(&key) {
                    Some(holder) => holder.clone(),
                    None => match handles.bericht_ids.get(&key)? {
                        Some(holder) => String::from_utf8_lossy(&holder).into_owned(),
                        None => {
                            write.insert(
                                &handles.bericht_ids,
                                key.clone(),
                                claim.batch_id.as_bytes(),
                            );
                            write.insert(
                                &handles.expiry,
                                expiry_key(Expiring::Claim, claim.ontvangen_op, &key),
                                claim.batch_id.as_bytes(),
                            );
                            claimed_here.insert(key, claim.batch_id.clone());
                            claim.batch_id.clone()
                        }
                    },
                };
                holders[position] = holder;
            }
            if !write.is_empty() {
                write.commit()?;
            }
        }
        Ok(holders)
    }

    fn release_bericht_ids(&self, claims: &[BerichtClaim]) -> Result<(), StoreError> {
        let _cut = self.cut_gate.read().map_err(|_| StoreError::Closed)?;
        let n_shards = self.shards.len();
        for (shard, positions) in by_shard(claims, |c| {
            shard_of_bericht_id(&c.oin, &c.bericht_id, n_shards)
        }) {
            let handles = self.shard(shard);
            let _serialised = handles.claim_lock.lock().map_err(|_| StoreError::Closed)?;
            let mut write = handles.batch().synced();
            for position in positions {
                let claim = &claims[position];
                let key = prefixed(&claim.oin, claim.bericht_id.as_bytes());
                if handles
                    .bericht_ids
                    .get(&key)?
                    .is_some_and(|holder| holder.as_ref() == claim.batch_id.as_bytes())
                {
                    write.remove(
                        &handles.expiry,
                        expiry_key(Expiring::Claim, claim.ontvangen_op, &key),
                    );
                    write.remove(&handles.bericht_ids, key);
                }
            }
            if !write.is_empty() {
                write.commit()?;
            }
        }
        Ok(())
    }

    fn deliver(&self, deliveries: &[Delivery]) -> Result<(), StoreError> {
        let _cut = self.cut_gate.read().map_err(|_| StoreError::Closed)?;
        let n_shards = self.shards.len();
        for (shard, positions) in by_shard(deliveries, |d| shard_of_citizen(&d.entry.bsn, n_shards))
        {
            let handles = self.shard(shard);
            let _boxes = handles.box_lock.lock().map_err(|_| StoreError::Closed)?;
            let mut write = handles.batch().synced();
            let mut queued = 0u64;
            for position in positions {
                let Delivery { entry, notify } = &deliveries[position];
                let key = prefixed(&entry.bsn, &entry.id.to_bytes());
                if handles.boxes.contains_key(&key)? {
                    continue;
                }
                write.insert(
                    &handles.expiry,
                    expiry_key(Expiring::Bericht, bericht_since(entry.id), &key),
                    encode(&ExpiringBericht::of(entry)),
                );
                write.insert(&handles.boxes, key, encode(entry));
                if let Some(email) = notify {
                    let notification = NotificationRecord {
                        id: entry.id,
                        bsn: entry.bsn.clone(),
                        email: email.clone(),
                        oin: entry.oin.clone(),
                        publicatie_datum: entry.inhoud.publicatie_datum,
                    };
                    let queue = if notification.published_later() {
                        &handles.notifications_later
                    } else {
                        &handles.notifications
                    };
                    write.insert(queue, notification.key(), encode(&notification));
                    queued += 1;
                }
            }
            if !write.is_empty() {
                write.commit()?;
                handles
                    .notification_queue_depth
                    .fetch_add(queued, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    fn complete(
        &self,
        shard: usize,
        mut completions: Vec<Completion>,
        clock: &SharedClock,
    ) -> Result<(), StoreError> {
        if completions.is_empty() {
            return Ok(());
        }
        let handles = self.shard(shard);
        let _cut = self.cut_gate.read().map_err(|_| StoreError::Closed)?;
        let _feed = self.feed_lock.lock().map_err(|_| StoreError::Closed)?;
        let verwerkt_op = clock.now();
        let ready_nanos = crate::core::time::unix_nanos_u64(verwerkt_op);
        let mut write = handles.batch().synced();
        let mut removed = 0u64;
        let mut outboxed = 0u64;
        let today = verwerkt_op.to_zoned(self.zone.clone()).date();
        let mut counted: HashMap<Vec<u8>, u64> = HashMap::new();
        for completion in &mut completions {
            if let Some(receipt) = &mut completion.record.receipt {
                receipt.verwerkt_op = verwerkt_op;
            }
            let record = &completion.record;
            debug_assert_eq!(record.status, BatchStatus::Verwerkt);
            for seq in record.first_seq..record.first_seq + u64::from(record.aantal_berichten) {
                write.remove(&handles.parked, seq_key(seq));
            }
            for (uitkomst, seq) in completion
                .record
                .receipt
                .iter()
                .flat_map(|r| &r.berichten)
                .zip(record.first_seq..)
            {
                write.remove(
                    &handles.parked_ids,
                    parked_id_key(&record.oin, &uitkomst.bericht_id, record.ontvangen_op, seq),
                );
            }
            removed += u64::from(record.aantal_berichten);
            for uitkomst in record.receipt.iter().flat_map(|r| &r.berichten) {
                let teller = if uitkomst.code == VerwerkingsCode::Verwerkt {
                    Teller::Verwerkt
                } else {
                    Teller::Afgewezen
                };
                *counted
                    .entry(teller_key(today, &record.oin, teller))
                    .or_default() += 1;
            }
            for bijlage in &completion.drop_bijlagen {
                write.remove(
                    &handles.bijlagen,
                    bijlage_key(bijlage.seq, bijlage.volgorde),
                );
            }
            let batch_key = batch_key(&record.oin, &record.batch_id);
            write.insert(
                &handles.expiry,
                expiry_key(Expiring::Batch, verwerkt_op, &batch_key),
                [],
            );
            write.insert(&handles.batches, batch_key, encode(record));
            let cursor = ReceiptCursor {
                ready_nanos,
                shard: shard as u16,
                first_seq: record.first_seq,
            };
            let feed_key = prefixed(&record.oin, &cursor.to_bytes());
            write.insert(
                &handles.receipt_feed,
                feed_key.clone(),
                record.batch_id.as_bytes(),
            );
            write.insert(
                &handles.expiry,
                expiry_key(Expiring::Receipt, verwerkt_op, &feed_key),
                [],
            );
            // The afnemer's afwijzingen (the Leveranciersportaal's index): every bericht decided
            // otherwise than `Verwerkt`, on the day its teller counts it, kept as the receipt.
            for (index, uitkomst) in (0u32..).zip(record.receipt.iter().flat_map(|r| &r.berichten))
            {
                if uitkomst.code == VerwerkingsCode::Verwerkt {
                    continue;
                }
                let key = afwijzing_key(
                    &record.oin,
                    AfwijzingCursor {
                        dag: today,
                        code: uitkomst.code,
                        receipt: cursor,
                        index,
                    },
                );
                write.insert(
                    &handles.expiry,
                    expiry_key(Expiring::Afwijzing, verwerkt_op, &key),
                    [],
                );
                write.insert(
                    &handles.afwijzingen,
                    key,
                    encode(&AfwijzingRecord {
                        batch_id: record.batch_id.clone(),
                        bericht_id: uitkomst.bericht_id.clone(),
                        code: uitkomst.code,
                        stadium: uitkomst.stadium,
                        verwerkt_op,
                    }),
                );
            }
            if completion.webhook {
                let job = WebhookJob {
                    batch_id: record.batch_id.clone(),
                    first_offered: verwerkt_op,
                    failures: 0,
                    next_attempt: verwerkt_op,
                };
                write.insert(&handles.webhook_outbox, feed_key, encode(&job));
                outboxed += 1;
            }
        }
        // The day counters go in the same write; the feed lock makes this read-and-add the
        // only one on these keys.
        for (key, added) in counted {
            let before = handles.tellers.get(&key)?.as_deref().map_or(0, decode_u64);
            write.insert(&handles.tellers, key, (before + added).to_be_bytes());
        }
        write.commit()?;
        // Completions take a prefix of what is parked (ARCHITECTURE.md), so nothing below the
        // end of the last one is parked any more: later scans start there.
        if let Some(end) = completions
            .iter()
            .map(|c| c.record.first_seq + u64::from(c.record.aantal_berichten))
            .max()
        {
            handles.processed_upto.fetch_max(end, Ordering::Release);
        }
        for completion in &completions {
            let oin = completion.record.oin.as_bytes();
            for uitkomst in completion.record.receipt.iter().flat_map(|r| &r.berichten) {
                handles
                    .parked_id_filter
                    .remove(oin, uitkomst.bericht_id.as_bytes());
            }
        }
        handles
            .parked_berichten
            .fetch_sub(removed, Ordering::Relaxed);
        handles
            .webhook_outbox_depth
            .fetch_add(outboxed, Ordering::Relaxed);
        Ok(())
    }

    fn oldest_parked(&self, shard: usize) -> Result<Option<jiff::Timestamp>, StoreError> {
        let handles = self.shard(shard);
        let from = handles.processed_upto.load(Ordering::Acquire);
        let Some(guard) = handles.parked.range(seq_key(from)..).next() else {
            return Ok(None);
        };
        let (key, value) = guard.into_inner()?;
        let parked: ParkedBericht = decode(&key, &value)?;
        Ok(Some(parked.ontvangen_op))
    }
}
