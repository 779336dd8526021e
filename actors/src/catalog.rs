//! The catalog in memory: afnemers and API-key hashes, read on every request without touching
//! the disk, written through to the store first.
//!
//! Invariant: the maps hold nothing the store does not; they are rebuilt from it at start-up.
//! Writers call the store (blocking) and then update the map, so a crash between the two loses
//! only a cache entry that the next start rebuilds.

use std::sync::Arc;

use dashmap::DashMap;
use sha2::{Digest, Sha256};

use crate::core::throttle::Rate;
use crate::store::{AfnemerRecord, Afnemers, BerichttypeRecord, StoreError};

#[derive(Debug)]
pub struct Catalog {
    store: Arc<dyn Afnemers>,
    afnemers: DashMap<String, AfnemerRecord>,
    api_keys: DashMap<[u8; 32], String>,
    /// (oin, code) → berichttype.
    berichttypen: DashMap<(String, String), BerichttypeRecord>,
}

/// The SHA-256 of an API key: what is stored and looked up, never the key itself. Keys are 256
/// random bits, so a fast hash is enough; there is nothing to guess.
pub fn hash_api_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl Catalog {
    /// Loads every afnemer and key hash from the store. Blocking.
    pub fn load(store: Arc<dyn Afnemers>) -> Result<Self, StoreError> {
        let afnemers: DashMap<String, AfnemerRecord> = store
            .afnemers()?
            .into_iter()
            .map(|a| (a.oin.clone(), a))
            .collect();
        let api_keys = store.api_keys()?.into_iter().collect();
        let berichttypen = DashMap::new();
        for afnemer in afnemers.iter() {
            for berichttype in store.berichttypen(afnemer.key())? {
                berichttypen.insert(
                    (berichttype.oin.clone(), berichttype.code.clone()),
                    berichttype,
                );
            }
        }
        Ok(Self {
            store,
            afnemers,
            api_keys,
            berichttypen,
        })
    }

    pub fn afnemer(&self, oin: &str) -> Option<AfnemerRecord> {
        self.afnemers.get(oin).map(|entry| entry.clone())
    }

    /// Every afnemer, ordered by OIN.
    pub fn afnemers(&self) -> Vec<AfnemerRecord> {
        let mut all: Vec<_> = self.afnemers.iter().map(|entry| entry.clone()).collect();
        all.sort_by(|a, b| a.oin.cmp(&b.oin));
        all
    }

    /// The OIN an API key opens, if any.
    pub fn oin_for_key(&self, key: &str) -> Option<String> {
        self.api_keys
            .get(&hash_api_key(key))
            .map(|entry| entry.clone())
    }

    /// Stores the afnemer, then caches it; answers whether it is new. Blocking.
    pub fn put_afnemer(&self, afnemer: AfnemerRecord) -> Result<bool, StoreError> {
        self.store.put_afnemer(&afnemer)?;
        Ok(self.afnemers.insert(afnemer.oin.clone(), afnemer).is_none())
    }

    /// Whether the afnemer has registered this berichttype and it is active.
    pub fn berichttype_actief(&self, oin: &str, code: &str) -> bool {
        self.berichttypen
            .get(&(oin.to_owned(), code.to_owned()))
            .is_some_and(|b| b.actief)
    }

    /// An afnemer's berichttypen, ordered by code.
    pub fn berichttypen(&self, oin: &str) -> Vec<BerichttypeRecord> {
        let mut all: Vec<_> = self
            .berichttypen
            .iter()
            .filter(|entry| entry.key().0 == oin)
            .map(|entry| entry.clone())
            .collect();
        all.sort_by(|a, b| a.code.cmp(&b.code));
        all
    }

    /// Stores the berichttype, then caches it; answers whether it is new. Blocking.
    pub fn put_berichttype(&self, berichttype: BerichttypeRecord) -> Result<bool, StoreError> {
        self.store.put_berichttype(&berichttype)?;
        let key = (berichttype.oin.clone(), berichttype.code.clone());
        Ok(self.berichttypen.insert(key, berichttype).is_none())
    }

    /// Stores a new key's hash for an afnemer, then caches it. Blocking.
    pub fn add_api_key(&self, key: &str, oin: &str) -> Result<(), StoreError> {
        let hash = hash_api_key(key);
        self.store.put_api_key(hash, oin)?;
        self.api_keys.insert(hash, oin.to_owned());
        Ok(())
    }
}

impl AfnemerRecord {
    /// The afnemer's rate, or `None` when a stored value is zero (never accepted at the edge).
    pub fn rate(&self) -> Option<Rate> {
        Some(Rate {
            berichten_per_second: std::num::NonZeroU32::new(self.berichten_per_seconde)?,
            burst: std::num::NonZeroU32::new(self.burst)?,
        })
    }
}
