//! Which shard owns what: a stable function of the key, never of the process.
//!
//! A batch lives wholly in its *home shard*, chosen from the afnemer's OIN and the batch id, so
//! one atomic write parks it and a redelivery finds it with one point read. A citizen's box
//! lives in the shard chosen from his BSN. The hash is FNV-1a 64: fixed by its definition, so a
//! key keeps its shard across builds, platforms and restarts (std's hasher promises none of that).

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash = FNV_OFFSET;
    for part in parts {
        for byte in *part {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(FNV_PRIME);
        }
        // A separator, so ("ab", "c") and ("a", "bc") differ.
        hash ^= 0xff;
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

fn reduce(hash: u64, n_shards: usize) -> usize {
    assert!(n_shards > 0, "a store has at least one shard");
    (hash % n_shards as u64) as usize
}

/// The shard that parks a batch and answers for it.
pub fn home_shard_of_batch(oin: &str, batch_id: &str, n_shards: usize) -> usize {
    reduce(fnv1a(&[oin.as_bytes(), batch_id.as_bytes()]), n_shards)
}

/// The shard that holds an afnemer's claim on a berichtId (for `BerichtBestaatAl`).
pub fn shard_of_bericht_id(oin: &str, bericht_id: &str, n_shards: usize) -> usize {
    reduce(fnv1a(&[oin.as_bytes(), bericht_id.as_bytes()]), n_shards)
}

/// The shard that holds a citizen's box.
pub fn shard_of_citizen(bsn: &str, n_shards: usize) -> usize {
    reduce(fnv1a(&[bsn.as_bytes()]), n_shards)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn routing_is_pinned() {
        // These values are part of the on-disk layout: a change of hash moves every batch and
        // box to another shard, and existing data would no longer be found.
        assert_eq!(fnv1a(&[b""]), 0xaf64_724c_8602_eb6e);
        let oin = "00000001234567890000";
        let shards: Vec<usize> = [
            "8c1f6c4e-0000-4000-8000-000000000001",
            "8c1f6c4e-0000-4000-8000-000000000002",
            "8c1f6c4e-0000-4000-8000-000000000003",
        ]
        .iter()
        .map(|id| home_shard_of_batch(oin, id, 16))
        .collect();
        assert_eq!(shards, [3, 12, 5]);
        assert_eq!(shard_of_citizen("999993653", 16), 10);
    }

    proptest! {
        #[test]
        fn shard_is_in_range_and_stable(oin in "[0-9]{20}", id in "[0-9a-f-]{36}", n in 1usize..64) {
            let shard = home_shard_of_batch(&oin, &id, n);
            prop_assert!(shard < n);
            prop_assert_eq!(shard, home_shard_of_batch(&oin, &id, n));
        }
    }
}
