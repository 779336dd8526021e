//! Per-key limits at the edge: each citizen's calls (keyed by his BSN) and failed
//! authentication (keyed by the client's address), as GCRA over the injected monotonic clock,
//! in bounded memory.
//!
//! [`KeyedLimit`] holds one theoretical arrival time (TAT) per key, in 64 shards of a bounded
//! map. A key whose TAT has passed is exactly as if it were absent, so forgetting it loses
//! nothing; a shard that is full forgets those first, then the key closest to that state.
//! However many keys an attacker makes up, the map holds at most `capacity` (plus one per
//! shard's rounding). Must not: read the system clock (callers pass the monotonic nanoseconds
//! of the engine's clock) or do I/O.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Duration;

/// Shards of a [`KeyedLimit`]: a full shard is swept in at most `capacity / SHARDS` steps.
const SHARDS: usize = 64;

/// One limit: `burst` cells at once, one more every `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    interval_nanos: u64,
    tolerance_nanos: u64,
}

impl Gcra {
    /// `per_period` cells each `period`, `burst` at once; both at least 1 (0 is taken as 1).
    pub fn new(per_period: u32, period: Duration, burst: u32) -> Self {
        let period = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
        let interval_nanos = (period / u64::from(per_period.max(1))).max(1);
        Self {
            interval_nanos,
            tolerance_nanos: interval_nanos.saturating_mul(u64::from(burst.max(1))),
        }
    }

    /// The TAT after one more cell at `now`, or how long until it fits.
    fn next(self, tat: Option<u64>, now: u64) -> Result<u64, Duration> {
        let next = tat
            .unwrap_or(now)
            .max(now)
            .saturating_add(self.interval_nanos);
        let allowed = now.saturating_add(self.tolerance_nanos);
        if next > allowed {
            Err(Duration::from_nanos(next - allowed))
        } else {
            Ok(next)
        }
    }
}

/// A [`Gcra`] per key, in at most `capacity` entries.
#[derive(Debug)]
pub struct KeyedLimit<K> {
    gcra: Gcra,
    per_shard: usize,
    hasher: RandomState,
    shards: Vec<Mutex<HashMap<K, u64>>>,
}

impl<K: Hash + Eq + Clone> KeyedLimit<K> {
    pub fn new(gcra: Gcra, capacity: usize) -> Self {
        Self {
            gcra,
            per_shard: capacity.div_ceil(SHARDS).max(1),
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, key: &K) -> std::sync::MutexGuard<'_, HashMap<K, u64>> {
        let index = usize::try_from(self.hasher.hash_one(key) % SHARDS as u64).unwrap_or(0);
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes one cell for `key` at `now` (monotonic nanoseconds), or says how long until one
    /// fits; a refusal takes nothing.
    pub fn take(&self, key: &K, now: u64) -> Result<(), Duration> {
        let mut shard = self.shard(key);
        let next = self.gcra.next(shard.get(key).copied(), now)?;
        if let Some(tat) = shard.get_mut(key) {
            *tat = next;
            return Ok(());
        }
        if shard.len() >= self.per_shard {
            // Keys whose TAT has passed are as if absent: forgetting them loses nothing.
            shard.retain(|_, tat| *tat > now);
            if shard.len() >= self.per_shard {
                // Still full: forget the key nearest to that, which loses the least.
                let nearest = shard
                    .iter()
                    .min_by_key(|(_, tat)| **tat)
                    .map(|(key, _)| key.clone());
                if let Some(nearest) = nearest {
                    shard.remove(&nearest);
                }
            }
        }
        shard.insert(key.clone(), next);
        Ok(())
    }

    /// Whether one cell would fit for `key` at `now`, taking nothing.
    pub fn check(&self, key: &K, now: u64) -> Result<(), Duration> {
        let shard = self.shard(key);
        self.gcra.next(shard.get(key).copied(), now).map(|_| ())
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys this limit ever holds.
    pub fn capacity(&self) -> usize {
        self.per_shard * SHARDS
    }
}

/// The key failed authentication is counted under: an IPv4 address as it is, an IPv6 address
/// by its /64 (the smallest block one client is usually given, so rotating addresses within
/// it gains nothing). An IPv4-mapped IPv6 address counts as its IPv4 address.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn a_key_gets_its_burst_then_its_rate_and_a_refusal_takes_nothing() {
        let limit = KeyedLimit::new(Gcra::new(20, Duration::from_secs(1), 100), 1000);
        for _ in 0..100 {
            limit.take(&"a", 0).expect("within the burst");
        }
        let wait = limit.take(&"a", 0).expect_err("over the burst");
        assert_eq!(wait, Duration::from_millis(50));
        for _ in 0..10 {
            assert!(limit.take(&"a", 0).is_err());
        }
        // Another key is not slowed.
        limit.take(&"b", 0).expect("another key has its own burst");
        // After the wait, exactly one more fits.
        limit.take(&"a", 50_000_000).expect("after the wait");
        assert!(limit.take(&"a", 50_000_000).is_err());
        // After five seconds the burst is whole again.
        for _ in 0..100 {
            limit.take(&"a", 6 * SECOND).expect("refilled");
        }
        assert!(limit.check(&"a", 6 * SECOND).is_err());
    }

    #[test]
    fn check_takes_nothing() {
        let limit = KeyedLimit::new(Gcra::new(1, Duration::from_secs(60), 2), 10);
        for _ in 0..10 {
            limit.check(&1, 0).expect("nothing taken");
        }
        limit.take(&1, 0).expect("first");
        limit.take(&1, 0).expect("second");
        assert_eq!(limit.check(&1, 0), Err(Duration::from_secs(60)));
        limit.check(&1, 60 * SECOND).expect("a minute later");
    }

    #[test]
    fn many_distinct_keys_never_grow_the_state_beyond_its_bound() {
        let limit = KeyedLimit::new(Gcra::new(20, Duration::from_secs(1), 100), 1000);
        let bound = limit.capacity();
        assert!(bound < 1100, "{bound}");
        // A million made-up keys at one instant: none has refilled, so the nearest are evicted.
        for key in 0..1_000_000u32 {
            limit.take(&key, 0).expect("a new key has its burst");
            if key % 4096 == 0 {
                assert!(limit.len() <= bound);
            }
        }
        assert!(limit.len() <= bound, "{} > {bound}", limit.len());
        // Later, refilled keys are forgotten first, and the bound still holds.
        for key in 0..100_000u32 {
            limit.take(&key, 10 * SECOND + u64::from(key)).expect("ok");
        }
        assert!(limit.len() <= bound, "{} > {bound}", limit.len());
        // A key that is being limited stays limited while others come and go.
        let limit = KeyedLimit::new(Gcra::new(1, Duration::from_secs(60), 1), 128);
        limit.take(&u32::MAX, 0).expect("first");
        for key in 0..10_000u32 {
            let _ = limit.take(&key, SECOND);
        }
        assert!(limit.len() <= limit.capacity());
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(
            address_key(mapped),
            "192.0.2.7".parse::<IpAddr>().expect("ip")
        );
        let v4: IpAddr = "192.0.2.8".parse().expect("ip");
        assert_eq!(address_key(v4), v4);
    }
}
