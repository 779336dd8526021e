//! A counting Bloom filter over the berichtIds parked in a shard and not yet decided: the
//! fast "no" in front of the parked ids (the `parked_ids` keyspace).
//!
//! Processing asks, for every bericht, whether another shard holds an earlier-accepted copy of
//! its berichtId (`earlier_parked_copy`). Answering from `parked_ids` costs a prefix scan in every
//! other shard; nearly always the answer is "no", and this filter says so from memory.
//!
//! The one rule that keeps it correct: a copy is counted in the filter *before* its park
//! becomes visible, and uncounted only *after* its completion has removed it. So the filter
//! counts a superset of what `parked_ids` holds, and its "no" is always true; a "maybe" goes to
//! the scan. Counters stop at 255 and then stay (a saturated counter only costs scans). The
//! filter lives in memory; opening the store counts `parked_ids` into it again.

use std::sync::atomic::{AtomicU8, Ordering};

/// `2^BITS` counters of one byte per shard: 4 MiB. With 3 probes, a shard with a backlog of
/// 100,000 berichten answers "maybe" for about 1 in 3,000 absent ids.
const BITS: u32 = 22;
const PROBES: u64 = 3;

pub(super) struct ParkedIdFilter {
    counters: Box<[AtomicU8]>,
}

impl std::fmt::Debug for ParkedIdFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParkedIdFilter")
            .field("counters", &self.counters.len())
            .finish()
    }
}

impl ParkedIdFilter {
    pub(super) fn new() -> Self {
        Self {
            counters: (0..1usize << BITS).map(|_| AtomicU8::new(0)).collect(),
        }
    }

    /// The counters of `oin ++ bericht_id`: double hashing over one 64-bit FNV-1a.
    fn slots(oin: &[u8], bericht_id: &[u8]) -> [usize; PROBES as usize] {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in oin.iter().chain(bericht_id) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        // splitmix64's finaliser spreads FNV's weak low bits.
        let mut mixed = hash ^ (hash >> 30);
        mixed = mixed.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed ^= mixed >> 27;
        mixed = mixed.wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^= mixed >> 31;
        let (h1, h2) = (mixed, (mixed >> 32) | 1);
        let mask = (1u64 << BITS) - 1;
        let mut slots = [0usize; PROBES as usize];
        for (i, slot) in slots.iter_mut().enumerate() {
            *slot = (h1.wrapping_add((i as u64).wrapping_mul(h2)) & mask) as usize;
        }
        slots
    }

    /// Counts a copy; call before the park that writes it commits.
    pub(super) fn add(&self, oin: &[u8], bericht_id: &[u8]) {
        for slot in Self::slots(oin, bericht_id) {
            let _ = self.counters[slot].fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
                (c < u8::MAX).then(|| c + 1)
            });
        }
    }

    /// Uncounts a copy; call after the write that removed it committed (or after its park
    /// failed).
    pub(super) fn remove(&self, oin: &[u8], bericht_id: &[u8]) {
        for slot in Self::slots(oin, bericht_id) {
            let _ = self.counters[slot].fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
                (c > 0 && c < u8::MAX).then(|| c - 1)
            });
        }
    }

    /// False only when no copy of the id is parked in this shard.
    pub(super) fn may_contain(&self, oin: &[u8], bericht_id: &[u8]) -> bool {
        Self::slots(oin, bericht_id)
            .iter()
            .all(|slot| self.counters[*slot].load(Ordering::SeqCst) > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_copies_and_forgets_them_again() {
        let filter = ParkedIdFilter::new();
        let (oin, a, b) = (b"00000000000000000001", b"id-a", b"id-b");
        assert!(!filter.may_contain(oin, a));
        filter.add(oin, a);
        filter.add(oin, a);
        assert!(filter.may_contain(oin, a));
        filter.remove(oin, a);
        assert!(filter.may_contain(oin, a), "one copy is still parked");
        filter.remove(oin, a);
        assert!(!filter.may_contain(oin, a));
        assert!(!filter.may_contain(oin, b));
    }

    #[test]
    fn a_saturated_counter_stays_and_says_maybe() {
        let filter = ParkedIdFilter::new();
        let (oin, id) = (b"00000000000000000001", b"id");
        for _ in 0..300 {
            filter.add(oin, id);
        }
        for _ in 0..300 {
            filter.remove(oin, id);
        }
        assert!(filter.may_contain(oin, id));
    }

    #[test]
    fn few_false_maybes() {
        let filter = ParkedIdFilter::new();
        let oin = b"00000000000000000001";
        for i in 0..100_000u32 {
            filter.add(oin, format!("parked-{i}").as_bytes());
        }
        let false_maybes = (0..100_000u32)
            .filter(|i| filter.may_contain(oin, format!("absent-{i}").as_bytes()))
            .count();
        assert!(false_maybes < 300, "{false_maybes} of 100000");
    }
}
