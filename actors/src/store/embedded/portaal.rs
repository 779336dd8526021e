//! Portaal, embedded: the Leveranciersportaal's reads of one afnemer's traffic (its day
//! counters, its receipt feed read backwards, its index of afwijzingen) and the portal's
//! sessions (catalog `sessies`).
//!
//! Every read here is bounded to the afnemer asking: point reads of its own counters in
//! `tellers`, and ranges under its OIN in `receipt_feed` and `afwijzingen`, one shard after
//! another, merged in memory (each shard holds a key once: a receipt's cursor names its
//! shard). Nothing here scans other afnemers' keys or the receipts. The afwijzingen are written
//! by `Processing::complete` and deleted by retention; this file only reads them.

use std::collections::BTreeMap;
use std::ops::Bound;

use fjall::{PersistMode, Slice};

use super::EmbeddedStore;
use crate::core::verwerking::VerwerkingsCode;
use crate::store::record::{
    Teller, batch_key, code_byte, day_prefix, decode, decode_u64, encode, prefixed, teller_key,
};
use crate::store::{
    AFNEMER_TELLINGEN_MAX_DAGEN, AfwijzingCursor, AfwijzingFilter, AfwijzingRecord, BatchRecord,
    DagTelling, Portaal, ReceiptCursor, SessieRecord, StoreError,
};

impl Portaal for EmbeddedStore {
    fn afnemer_tellingen(
        &self,
        oin: &str,
        from: jiff::civil::Date,
        until: jiff::civil::Date,
    ) -> Result<BTreeMap<jiff::civil::Date, DagTelling>, StoreError> {
        let mut out = BTreeMap::new();
        if until < from {
            return Ok(out);
        }
        let earliest = until
            .checked_sub(jiff::Span::new().days(i64::from(AFNEMER_TELLINGEN_MAX_DAGEN) - 1))
            .unwrap_or(jiff::civil::Date::MIN);
        let mut day = from.max(earliest);
        loop {
            let mut telling: Option<DagTelling> = None;
            for teller in Teller::ALL {
                let key = teller_key(day, oin, teller);
                for shard in &self.shards {
                    if let Some(value) = shard.tellers.get(&key)? {
                        telling
                            .get_or_insert_default()
                            .add(teller, decode_u64(&value));
                    }
                }
            }
            if let Some(telling) = telling {
                out.insert(day, telling);
            }
            match day.tomorrow() {
                Ok(next) if day < until => day = next,
                _ => break,
            }
        }
        Ok(out)
    }

    fn recente_batches(
        &self,
        oin: &str,
        before: Option<ReceiptCursor>,
        limit: usize,
    ) -> Result<Vec<(ReceiptCursor, BatchRecord)>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let start = Bound::Included(oin.as_bytes().to_vec());
        let end = match before {
            Some(cursor) => Bound::Excluded(prefixed(oin, &cursor.to_bytes())),
            None => prefix_end(oin.as_bytes()),
        };
        let mut feed = Merge::new(
            self.shards
                .iter()
                .map(|shard| shard.receipt_feed.range((start.clone(), end.clone())).rev()),
            Order::Descending,
        )?;
        while out.len() < limit {
            let Some((shard, key, batch_id)) = feed.next()? else {
                break;
            };
            let Some(cursor) = key.get(oin.len()..).and_then(ReceiptCursor::from_bytes) else {
                continue;
            };
            // The record is in the shard of its feed entry (its home shard). A record gone
            // while its receipt is still listed (retention deletes them apart), or replaced by
            // a later delivery of the same id parked since, is not this receipt's: left out.
            let record_key = batch_key(oin, &String::from_utf8_lossy(&batch_id));
            let Some(bytes) = self.shard(shard).batches.get(&record_key)? else {
                continue;
            };
            let record: BatchRecord = decode(&record_key, &bytes)?;
            if record.first_seq == cursor.first_seq && record.receipt.is_some() {
                out.push((cursor, record));
            }
        }
        Ok(out)
    }

    fn afwijzingen(
        &self,
        oin: &str,
        filter: AfwijzingFilter,
        after: Option<AfwijzingCursor>,
        limit: usize,
    ) -> Result<Vec<(AfwijzingCursor, AfwijzingRecord)>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 || filter.code == Some(VerwerkingsCode::Verwerkt) {
            return Ok(out);
        }
        // Days run newest first: the first is the filter's, else the cursor's, else the newest
        // the index holds for this afnemer.
        let mut day = match (filter.dag, after) {
            (Some(dag), Some(after)) if after.dag < dag => return Ok(out),
            (Some(dag), _) => Some(dag),
            (None, Some(after)) => Some(after.dag),
            (None, None) => self.afwijzing_day_before(oin, None)?,
        };
        while let Some(dag) = day {
            if let Some((start, end)) = day_range(oin, dag, filter.code, after) {
                let mut entries = Merge::new(
                    self.shards
                        .iter()
                        .map(|shard| shard.afwijzingen.range((start.clone(), end.clone()))),
                    Order::Ascending,
                )?;
                while out.len() < limit {
                    let Some((_, key, value)) = entries.next()? else {
                        break;
                    };
                    let Some(cursor) = key.get(oin.len()..).and_then(AfwijzingCursor::from_bytes)
                    else {
                        continue;
                    };
                    out.push((cursor, decode(&key, &value)?));
                }
            }
            if out.len() >= limit || filter.dag.is_some() {
                break;
            }
            // Strictly older, so the walk ends: at most one visit per day the index holds.
            day = self
                .afwijzing_day_before(oin, Some(dag))?
                .filter(|older| *older < dag);
        }
        Ok(out)
    }

    fn put_sessie(&self, token_hash: &[u8; 32], sessie: &SessieRecord) -> Result<(), StoreError> {
        self.catalog.sessies.insert(token_hash, encode(sessie))?;
        self.catalog.db.persist(PersistMode::SyncData)?;
        Ok(())
    }

    fn sessie(&self, token_hash: &[u8; 32]) -> Result<Option<SessieRecord>, StoreError> {
        self.catalog
            .sessies
            .get(token_hash)?
            .map(|bytes| decode(token_hash, &bytes))
            .transpose()
    }

    fn delete_sessie(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.catalog.sessies.remove(*token_hash)?;
        self.catalog.db.persist(PersistMode::SyncData)?;
        Ok(())
    }

    fn expire_sessies(&self, now: jiff::Timestamp) -> Result<u64, StoreError> {
        // Sessions are few (some per afnemer at a time, each gone within its longest life),
        // so a pass reads them all rather than keeping an index by expiry. Not synced: a
        // delete lost in a crash is done again by the next pass, and a session read after its
        // `verloopt_op` is refused by the caller anyway.
        let mut write = self.catalog.db.batch();
        let mut n = 0;
        for guard in self.catalog.sessies.iter() {
            let (key, value) = guard.into_inner()?;
            let sessie: SessieRecord = decode(&key, &value)?;
            if sessie.verloopt_op < now {
                write.remove(&self.catalog.sessies, key);
                n += 1;
            }
        }
        if n > 0 {
            write.commit()?;
        }
        Ok(n)
    }
}

impl EmbeddedStore {
    /// The newest day before `before` (or at all, with `None`) on which any shard's index holds
    /// an afwijzing of `oin`: one backward seek per shard within the afnemer's keys. (Below the
    /// oldest day held, the seek passes the tombstones of what retention deleted until
    /// compaction drops them; only the page that reaches the end makes it.)
    fn afwijzing_day_before(
        &self,
        oin: &str,
        before: Option<jiff::civil::Date>,
    ) -> Result<Option<jiff::civil::Date>, StoreError> {
        let start = Bound::Included(oin.as_bytes().to_vec());
        let end = match before {
            Some(dag) => Bound::Excluded(prefixed(oin, day_prefix(dag).as_bytes())),
            None => prefix_end(oin.as_bytes()),
        };
        let mut newest = None;
        for shard in &self.shards {
            let Some(guard) = shard
                .afwijzingen
                .range((start.clone(), end.clone()))
                .next_back()
            else {
                continue;
            };
            let key = guard.key()?;
            let dag = key
                .get(oin.len()..)
                .and_then(AfwijzingCursor::from_bytes)
                .map(|cursor| cursor.dag)
                .ok_or_else(|| {
                    StoreError::Inconsistent(format!(
                        "afwijzing key {} of shard {} is not an afnemer's cursor",
                        String::from_utf8_lossy(&key),
                        shard.index
                    ))
                })?;
            newest = newest.max(Some(dag));
        }
        Ok(newest)
    }
}

/// The keys of `oin`'s afwijzingen on `dag` (of `code` only, when given) that come after
/// `after` in the index's order (newest day first, then ascending keys): `None` when none can.
fn day_range(
    oin: &str,
    dag: jiff::civil::Date,
    code: Option<VerwerkingsCode>,
    after: Option<AfwijzingCursor>,
) -> Option<KeyRange> {
    let mut prefix = prefixed(oin, day_prefix(dag).as_bytes());
    if let Some(code) = code {
        prefix.push(code_byte(code));
    }
    let end = prefix_end(&prefix);
    let start = match after {
        // A newer day than this one: all of this day comes after it.
        Some(after) if after.dag > dag => Bound::Included(prefix),
        // An older day: none of this day does.
        Some(after) if after.dag < dag => return None,
        Some(after) => {
            let key = prefixed(oin, &after.to_bytes());
            if key < prefix {
                Bound::Included(prefix)
            } else if matches!(&end, Bound::Excluded(end) if key >= *end) {
                return None;
            } else {
                Bound::Excluded(key)
            }
        }
        None => Bound::Included(prefix),
    };
    Some((start, end))
}

/// A range of keys, as fjall's `range` takes it.
type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// The bound just past every key that starts with `prefix`.
fn prefix_end(prefix: &[u8]) -> Bound<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Bound::Excluded(end);
        }
    }
    Bound::Unbounded
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Ascending,
    Descending,
}

/// Iterators of several shards over the same key range, each in `order`, merged into one in
/// that order; an item answers its shard. It holds one entry per shard ahead, so a page reads
/// what it answers plus at most one entry a shard.
struct Merge<I> {
    iters: Vec<I>,
    heads: Vec<Option<(Slice, Slice)>>,
    order: Order,
}

impl<I: Iterator<Item = fjall::Guard>> Merge<I> {
    fn new(iters: impl Iterator<Item = I>, order: Order) -> Result<Self, StoreError> {
        let mut iters: Vec<I> = iters.collect();
        let heads = iters
            .iter_mut()
            .map(|iter| iter.next().map(fjall::Guard::into_inner).transpose())
            .collect::<Result<_, _>>()?;
        Ok(Self {
            iters,
            heads,
            order,
        })
    }

    fn next(&mut self) -> Result<Option<(usize, Slice, Slice)>, StoreError> {
        let mut first: Option<usize> = None;
        for (shard, head) in self.heads.iter().enumerate() {
            let Some((key, _)) = head else {
                continue;
            };
            let better =
                first
                    .and_then(|best| self.heads[best].as_ref())
                    .is_none_or(|(best, _)| match self.order {
                        Order::Ascending => key < best,
                        Order::Descending => key > best,
                    });
            if better {
                first = Some(shard);
            }
        }
        let Some(shard) = first else {
            return Ok(None);
        };
        let refill = self.iters[shard]
            .next()
            .map(fjall::Guard::into_inner)
            .transpose()?;
        let taken = std::mem::replace(&mut self.heads[shard], refill);
        Ok(taken.map(|(key, value)| (shard, key, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_past_its_last_key() {
        assert_eq!(prefix_end(b"12"), Bound::Excluded(b"13".to_vec()));
        assert_eq!(prefix_end(&[b'1', 0xff]), Bound::Excluded(b"2".to_vec()));
        assert_eq!(prefix_end(&[0xff, 0xff]), Bound::Unbounded);
    }

    #[test]
    fn a_day_range_continues_after_its_cursor_in_the_index_order() {
        let oin = "00000001000000000001";
        let dag = jiff::civil::date(2026, 12, 7);
        let cursor = |dag, code| AfwijzingCursor {
            dag,
            code,
            receipt: ReceiptCursor {
                ready_nanos: 5,
                shard: 1,
                first_seq: 7,
            },
            index: 3,
        };
        let code = VerwerkingsCode::BerichtBestaatAl;
        let whole = |code: Option<VerwerkingsCode>| {
            let mut prefix = prefixed(oin, b"20261207");
            prefix.extend(code.map(code_byte));
            Bound::Included(prefix)
        };
        // A newer day's cursor: the whole day; an older day's: nothing of it.
        let newer = cursor(jiff::civil::date(2026, 12, 8), code);
        let range = day_range(oin, dag, None, Some(newer)).expect("a range");
        assert_eq!(range.0, whole(None));
        let older = cursor(jiff::civil::date(2026, 12, 6), code);
        assert_eq!(day_range(oin, dag, None, Some(older)), None);
        // The same day: after the cursor, and with a code, only where that code's keys are.
        let same = cursor(dag, code);
        let key = prefixed(oin, &same.to_bytes());
        assert_eq!(
            day_range(oin, dag, None, Some(same)).expect("a range").0,
            Bound::Excluded(key.clone())
        );
        assert_eq!(
            day_range(oin, dag, Some(code), Some(same))
                .expect("a range")
                .0,
            Bound::Excluded(key)
        );
        let lower_code = cursor(dag, VerwerkingsCode::NietActiefOfGeabonneerd);
        assert_eq!(
            day_range(oin, dag, Some(code), Some(lower_code))
                .expect("a range")
                .0,
            whole(Some(code))
        );
        let higher_code = cursor(dag, VerwerkingsCode::TechnischProbleem);
        assert_eq!(day_range(oin, dag, Some(code), Some(higher_code)), None);
    }
}
