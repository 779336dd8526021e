//! The group-commit writer: one thread per shard, the shard's only parking writer.
//!
//! It takes one job, drains what else waits (up to a bericht budget), writes the whole group as
//! one fjall write batch, syncs the journal once (`PersistMode::SyncData`), and only then
//! answers every job of the group. A batch is one write batch in one shard, so it is parked
//! whole or not at all; being the only writer, its duplicate check and its write cannot
//! interleave with another's. It stamps `ontvangenOp` monotonically per shard and writes the
//! day's `aangeboden` telling in the same write as what it counts. It answers nothing before
//! the sync.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use tokio::sync::oneshot;

use super::EmbeddedConfig;
use super::shard::{NEXT_SEQ_KEY, ShardHandles};
use crate::store::record::{self, Teller, batch_key, bijlage_key, decode, encode, seq_key};
use crate::store::{
    BatchRecord, BatchStatus, BerichtInhoud, BijlageRef, ParkOutcome, ParkRequest, ParkedBericht,
    StoreError,
};

/// One submitted park and where its answer goes.
pub(super) struct ParkJob {
    pub(super) request: ParkRequest,
    pub(super) reply: oneshot::Sender<Result<ParkOutcome, StoreError>>,
}

/// The writer thread's state: its shard, its group budget, and what it stamped and counted
/// last.
struct ShardWriter {
    shard: ShardHandles,
    max_group_berichten: usize,
    /// The last arrival time this shard stamped. Stamps only grow, so within a shard the
    /// order of sequence numbers is the order of arrival: processing's wait for an
    /// earlier-accepted copy in another shard (`parked_ids`) relies on it to be free of cycles.
    last_stamp: jiff::Timestamp,
    zone: jiff::tz::TimeZone,
    /// The `aangeboden` counters this writer wrote last, so a group adds to them without a read.
    tellers: HashMap<Vec<u8>, u64>,
}

/// Starts the writer thread of `shard`; answers the sender of its bounded queue (dropping
/// every sender ends the thread once it has answered what is queued) and its handle.
pub(super) fn spawn(
    shard: &ShardHandles,
    config: &EmbeddedConfig,
    zone: &jiff::tz::TimeZone,
) -> Result<(Sender<ParkJob>, JoinHandle<()>), StoreError> {
    let (sender, receiver) = crossbeam_channel::bounded(config.queue_capacity);
    let writer = ShardWriter {
        shard: shard.clone(),
        max_group_berichten: config.max_group_messages,
        last_stamp: last_arrival(shard)?,
        zone: zone.clone(),
        tellers: HashMap::new(),
    };
    let thread = std::thread::Builder::new()
        .name(format!("park-writer-{:03}", shard.index))
        .spawn(move || writer.run(receiver))?;
    Ok((sender, thread))
}

/// The arrival time of the last bericht parked in the shard, if any is still parked.
fn last_arrival(shard: &ShardHandles) -> Result<jiff::Timestamp, StoreError> {
    let Some(guard) = shard.parked.last_key_value() else {
        return Ok(jiff::Timestamp::UNIX_EPOCH);
    };
    let (key, value) = guard.into_inner()?;
    Ok(decode::<ParkedBericht>(&key, &value)?.ontvangen_op)
}

/// The fate of one job inside a group.
enum Planned {
    /// Answered from what was stored before: holds whatever the commit does.
    Settled(ParkOutcome),
    /// Written by this group: holds only if the commit succeeds.
    Written(ParkOutcome),
}

impl ShardWriter {
    fn run(mut self, jobs: Receiver<ParkJob>) {
        let shard_label = self.shard.index.to_string();
        while let Ok(first) = jobs.recv() {
            let mut berichten = first.request.batch.len();
            let mut group = vec![first];
            while berichten < self.max_group_berichten {
                match jobs.try_recv() {
                    Ok(job) => {
                        berichten += job.request.batch.len();
                        group.push(job);
                    }
                    Err(_) => break,
                }
            }
            metrics::gauge!(crate::telemetry::PARK_QUEUE_DEPTH, "shard" => shard_label.clone())
                .set(jobs.len() as f64);
            self.commit_group(group, berichten);
        }
        tracing::debug!(shard = self.shard.index, "park writer stopped");
    }

    fn commit_group(&mut self, group: Vec<ParkJob>, berichten: usize) {
        let shard = &self.shard;
        let mut stamp = self.last_stamp;
        let mut write = shard.batch().synced();
        let mut next_seq = shard.next_seq.load(Ordering::Relaxed);
        let mut written_here: HashMap<Vec<u8>, BatchRecord> = HashMap::new();
        let mut plans = Vec::with_capacity(group.len());
        let mut parked_now = 0u64;
        let mut counted: HashMap<Vec<u8>, u64> = HashMap::new();

        for job in &group {
            let request = &job.request;
            let key = batch_key(&request.batch.oin, &request.batch.batch_id);
            // The request's arrival, unless an earlier-stamped batch of this shard arrived
            // later: then just after that one.
            let ontvangen_op = request
                .ontvangen_op
                .max(stamp + jiff::SignedDuration::from_nanos(1));
            let earlier = match written_here.get(&key) {
                Some(record) => Some((record.clone(), false)),
                None => match shard.batches.get(&key) {
                    Ok(Some(bytes)) => match decode::<BatchRecord>(&key, &bytes) {
                        Ok(record) => Some((record, true)),
                        Err(error) => {
                            plans.push(Err(error));
                            continue;
                        }
                    },
                    Ok(None) => None,
                    Err(error) => {
                        plans.push(Err(StoreError::Engine(error)));
                        continue;
                    }
                },
            };
            if let Some((record, stored_before)) = earlier {
                let outcome = if record.digest == request.digest {
                    ParkOutcome::Duplicate(record)
                } else {
                    ParkOutcome::Conflict(record)
                };
                plans.push(Ok(if stored_before {
                    Planned::Settled(outcome)
                } else {
                    Planned::Written(outcome)
                }));
                continue;
            }
            let record = BatchRecord {
                oin: request.batch.oin.clone(),
                batch_id: request.batch.batch_id.clone(),
                digest: request.digest,
                ontvangen_op,
                aantal_berichten: request.batch.len() as u32,
                shard: shard.index as u16,
                first_seq: next_seq,
                status: BatchStatus::Geparkeerd,
                receipt: None,
            };
            for (index, bericht) in request.batch.berichten.iter().enumerate() {
                let seq = next_seq;
                next_seq += 1;
                let mut refs = Vec::with_capacity(bericht.bijlagen.len());
                for (volgorde, bijlage) in bericht.bijlagen.iter().enumerate() {
                    let volgorde = volgorde as u8;
                    write.insert(
                        &shard.bijlagen,
                        bijlage_key(seq, volgorde),
                        bijlage.inhoud.as_slice(),
                    );
                    refs.push(BijlageRef {
                        shard: shard.index as u16,
                        seq,
                        volgorde,
                        omschrijving: bijlage.omschrijving.clone(),
                        mediatype: bijlage.mediatype.clone(),
                        size_bytes: bijlage.inhoud.len() as u32,
                    });
                }
                let parked = ParkedBericht {
                    seq,
                    oin: request.batch.oin.clone(),
                    batch_id: request.batch.batch_id.clone(),
                    index: index as u32,
                    ontvanger: bericht.ontvanger.clone(),
                    aanmaak_datum: request.batch.aanmaak_datum,
                    ontvangen_op,
                    inhoud: BerichtInhoud::parked(bericht, refs),
                };
                write.insert(&shard.parked, seq_key(seq), encode(&parked));
                shard
                    .parked_id_filter
                    .add(parked.oin.as_bytes(), parked.inhoud.bericht_id.as_bytes());
                write.insert(
                    &shard.parked_ids,
                    record::parked_id_key(
                        &parked.oin,
                        &parked.inhoud.bericht_id,
                        parked.ontvangen_op,
                        seq,
                    ),
                    [],
                );
            }
            parked_now += u64::from(record.aantal_berichten);
            *counted
                .entry(record::teller_key(
                    ontvangen_op.to_zoned(self.zone.clone()).date(),
                    &record.oin,
                    Teller::Aangeboden,
                ))
                .or_default() += u64::from(record.aantal_berichten);
            stamp = ontvangen_op;
            write.insert(&shard.batches, key.clone(), encode(&record));
            written_here.insert(key, record.clone());
            plans.push(Ok(Planned::Written(ParkOutcome::Parked(record))));
        }

        // The day counters go in the same write as what they count.
        let mut totals = Vec::with_capacity(counted.len());
        for (key, added) in counted {
            let before = match self.tellers.get(&key) {
                Some(total) => *total,
                None => match shard.tellers.get(&key) {
                    Ok(stored) => stored.as_deref().map_or(0, record::decode_u64),
                    Err(error) => {
                        // Not counted rather than counted from zero over a stored total.
                        tracing::error!(shard = shard.index, %error, "cannot read a day counter");
                        continue;
                    }
                },
            };
            write.insert(&shard.tellers, key.clone(), (before + added).to_be_bytes());
            totals.push((key, before + added));
        }
        let commit_result = if write.is_empty() {
            Ok(())
        } else {
            write.insert(&shard.meta, NEXT_SEQ_KEY, next_seq.to_be_bytes());
            let started = Instant::now();
            let result = write.commit();
            metrics::histogram!(crate::telemetry::PARK_SYNC)
                .record(started.elapsed().as_secs_f64());
            metrics::histogram!(crate::telemetry::PARK_GROUP_BATCHES).record(group.len() as f64);
            metrics::histogram!(crate::telemetry::PARK_GROUP_MESSAGES).record(berichten as f64);
            result
        };

        let committed = match commit_result {
            Ok(()) => {
                shard.next_seq.store(next_seq, Ordering::Relaxed);
                shard
                    .parked_berichten
                    .fetch_add(parked_now, Ordering::Relaxed);
                Ok(())
            }
            Err(error) => {
                tracing::error!(shard = shard.index, %error, "group commit failed, nothing of the group is acknowledged");
                // Uncount what this group counted: none of it is parked.
                for (job, plan) in group.iter().zip(&plans) {
                    if let Ok(Planned::Written(ParkOutcome::Parked(_))) = plan {
                        for bericht in &job.request.batch.berichten {
                            shard.parked_id_filter.remove(
                                job.request.batch.oin.as_bytes(),
                                bericht.bericht_id.as_bytes(),
                            );
                        }
                    }
                }
                Err(error.to_string())
            }
        };
        if committed.is_ok() {
            self.last_stamp = stamp;
            // Yesterday's counters are not written again; keep the cache small.
            if self.tellers.len() > 4096 {
                self.tellers.clear();
            }
            self.tellers.extend(totals);
        }

        for (job, plan) in group.into_iter().zip(plans) {
            let answer = match (plan, &committed) {
                (Err(error), _) => Err(error),
                (Ok(Planned::Settled(outcome)), _) | (Ok(Planned::Written(outcome)), Ok(())) => {
                    Ok(outcome)
                }
                (Ok(Planned::Written(_)), Err(message)) => {
                    Err(StoreError::CommitFailed(message.clone()))
                }
            };
            // The requester may have gone (client hung up); the batch is parked all the same.
            let _ = job.reply.send(answer);
        }
    }
}
