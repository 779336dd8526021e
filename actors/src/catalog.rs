//! The catalog in memory: afnemers and API keys (by hash), read on every request without
//! touching the disk, written through to the store first.
//!
//! Invariant: the maps hold nothing the store does not; they are rebuilt from it at start-up.
//! Writers call the store (blocking) and then update the map, so a crash between the two loses
//! only a cache entry that the next start rebuilds. A revoked key is removed from the store
//! (synced) before it leaves the map, and is never written again.
//!
//! One exception, by design: a key's "last used" moment. Writing it on every request would put
//! a synced write on the hot path, so [`Catalog::oin_for_key`] only notes it in memory, and
//! [`Catalog::flush_last_used`] (called off the event loop by the server's heartbeat, and at
//! shutdown) writes a key's moment only when it is at least [`LAST_USED_WRITE_INTERVAL`] past
//! the one stored: at most one write a minute per key. After a crash the stored moment may be
//! that much (plus a heartbeat) behind.

use std::sync::{Arc, Mutex};

use dashmap::DashMap;
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use crate::core::throttle::Rate;
use crate::store::{AfnemerRecord, Afnemers, ApiKeyRecord, BerichttypeRecord, StoreError};

/// How far a key's last use must be past the stored one before [`Catalog::flush_last_used`]
/// writes it (unless told to write everything, at shutdown).
pub const LAST_USED_WRITE_INTERVAL: SignedDuration = SignedDuration::from_secs(60);

/// An API key in memory: its record as stored, and its last use as seen by this engine.
#[derive(Debug, Clone)]
struct KeyEntry {
    stored: ApiKeyRecord,
    last_used: Option<Timestamp>,
}

#[derive(Debug)]
pub struct Catalog {
    store: Arc<dyn Afnemers>,
    afnemers: DashMap<String, AfnemerRecord>,
    api_keys: DashMap<[u8; 32], KeyEntry>,
    /// Serialises the key writes (add, revoke, last-used flush), so a flush never writes back
    /// a key that a revocation removed. Never taken on the request path.
    key_writes: Mutex<()>,
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
        let api_keys = store
            .api_keys()?
            .into_iter()
            .map(|stored| {
                let entry = KeyEntry {
                    last_used: stored.laatst_gebruikt_op,
                    stored,
                };
                (entry.stored.key_hash, entry)
            })
            .collect();
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
            key_writes: Mutex::new(()),
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

    /// The OIN an API key opens, if any; notes `now` as the key's last use, in memory only.
    pub fn oin_for_key(&self, key: &str, now: Timestamp) -> Option<String> {
        self.key_owner(key, now).map(|(oin, _)| oin)
    }

    /// The OIN an API key opens and the key's id, if any; notes `now` as the key's last use,
    /// in memory only.
    pub fn key_owner(&self, key: &str, now: Timestamp) -> Option<(String, String)> {
        let mut entry = self.api_keys.get_mut(&hash_api_key(key))?;
        if entry.last_used.is_none_or(|last| last < now) {
            entry.last_used = Some(now);
        }
        Some((entry.stored.oin.clone(), entry.stored.id.clone()))
    }

    /// Whether the afnemer still holds the key with this id (it was not revoked).
    pub fn has_key(&self, oin: &str, id: &str) -> bool {
        self.api_keys
            .iter()
            .any(|entry| entry.stored.oin == oin && entry.stored.id == id)
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

    /// Stores a new key's record (its hash, never the key) for an afnemer, then caches it;
    /// answers the record. Blocking.
    pub fn add_api_key(
        &self,
        id: String,
        key: &str,
        oin: &str,
        now: Timestamp,
    ) -> Result<ApiKeyRecord, StoreError> {
        let record = ApiKeyRecord {
            id,
            key_hash: hash_api_key(key),
            oin: oin.to_owned(),
            aangemaakt_op: now,
            laatst_gebruikt_op: None,
        };
        let _writing = self.key_writes.lock().unwrap_or_else(|p| p.into_inner());
        self.store.put_api_key(&record)?;
        self.api_keys.insert(
            record.key_hash,
            KeyEntry {
                stored: record.clone(),
                last_used: None,
            },
        );
        Ok(record)
    }

    /// An afnemer's keys, oldest first, with their last use as this engine knows it (newer
    /// than the stored one, see the module's header). Never the key; the hash is the caller's
    /// to leave out.
    pub fn api_keys(&self, oin: &str) -> Vec<ApiKeyRecord> {
        let mut keys: Vec<ApiKeyRecord> = self
            .api_keys
            .iter()
            .filter(|entry| entry.stored.oin == oin)
            .map(|entry| ApiKeyRecord {
                laatst_gebruikt_op: entry.last_used,
                ..entry.stored.clone()
            })
            .collect();
        keys.sort_by(|a, b| (a.aangemaakt_op, &a.id).cmp(&(b.aangemaakt_op, &b.id)));
        keys
    }

    /// Revokes the afnemer's key with this id: removed from the store (synced), then from
    /// memory, so it opens nothing from then on, also after a restart. Answers whether the
    /// afnemer had such a key (another afnemer's key id is not its). Blocking.
    pub fn revoke_api_key(&self, oin: &str, id: &str) -> Result<bool, StoreError> {
        let _writing = self.key_writes.lock().unwrap_or_else(|p| p.into_inner());
        let Some(hash) = self
            .api_keys
            .iter()
            .find(|entry| entry.stored.oin == oin && entry.stored.id == id)
            .map(|entry| *entry.key())
        else {
            return Ok(false);
        };
        self.store.delete_api_key(&hash)?;
        self.api_keys.remove(&hash);
        Ok(true)
    }

    /// Writes the last use of each key whose moment in memory is at least `interval` past the
    /// stored one ([`LAST_USED_WRITE_INTERVAL`] from the heartbeat; zero at shutdown, to write
    /// all). Answers how many it wrote. Blocking: never on the event loop. The map is not
    /// locked during a write, so requests are not held up by it.
    pub fn flush_last_used(&self, interval: SignedDuration) -> Result<usize, StoreError> {
        let _writing = self.key_writes.lock().unwrap_or_else(|p| p.into_inner());
        let due: Vec<ApiKeyRecord> = self
            .api_keys
            .iter()
            .filter_map(|entry| {
                let last_used = entry.last_used?;
                let due = entry.stored.laatst_gebruikt_op.is_none_or(|stored| {
                    stored < last_used
                        && stored
                            .checked_add(interval)
                            .is_ok_and(|due| due <= last_used)
                });
                due.then(|| ApiKeyRecord {
                    laatst_gebruikt_op: Some(last_used),
                    ..entry.stored.clone()
                })
            })
            .collect();
        for record in &due {
            self.store.put_api_key(record)?;
            if let Some(mut entry) = self.api_keys.get_mut(&record.key_hash) {
                entry.stored.laatst_gebruikt_op = record.laatst_gebruikt_op;
            }
        }
        Ok(due.len())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::embedded::{EmbeddedConfig, EmbeddedStore};

    const OIN: &str = "00000001234567890000";
    const OTHER: &str = "00000009876543210000";

    fn open(dir: &std::path::Path) -> (Arc<dyn Store>, Catalog) {
        let store: Arc<dyn Store> =
            Arc::new(EmbeddedStore::open(EmbeddedConfig::scratch(dir, 2)).expect("open store"));
        let catalog = Catalog::load(store.clone()).expect("load the catalog");
        (store, catalog)
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).expect("a moment")
    }

    #[test]
    fn last_use_is_kept_in_memory_and_written_at_most_once_a_minute() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, catalog) = open(dir.path());
        catalog
            .add_api_key("id-1".into(), "sleutel-1", OIN, at(0))
            .expect("add");
        assert_eq!(
            catalog.oin_for_key("sleutel-1", at(10)).as_deref(),
            Some(OIN)
        );
        assert_eq!(catalog.api_keys(OIN)[0].laatst_gebruikt_op, Some(at(10)));
        assert_eq!(store.api_keys().expect("keys")[0].laatst_gebruikt_op, None);

        let stored = |store: &Arc<dyn Store>| store.api_keys().expect("keys")[0].laatst_gebruikt_op;
        assert_eq!(
            catalog
                .flush_last_used(LAST_USED_WRITE_INTERVAL)
                .expect("flush"),
            1,
            "first use"
        );
        assert_eq!(stored(&store), Some(at(10)));
        // Used again within the minute: remembered, not written.
        catalog.oin_for_key("sleutel-1", at(69));
        assert_eq!(
            catalog
                .flush_last_used(LAST_USED_WRITE_INTERVAL)
                .expect("flush"),
            0
        );
        assert_eq!(stored(&store), Some(at(10)));
        assert_eq!(catalog.api_keys(OIN)[0].laatst_gebruikt_op, Some(at(69)));
        // A minute past the stored one: written.
        catalog.oin_for_key("sleutel-1", at(70));
        assert_eq!(
            catalog
                .flush_last_used(LAST_USED_WRITE_INTERVAL)
                .expect("flush"),
            1
        );
        assert_eq!(stored(&store), Some(at(70)));
        // At shutdown everything newer is written; nothing twice.
        catalog.oin_for_key("sleutel-1", at(71));
        assert_eq!(
            catalog
                .flush_last_used(SignedDuration::ZERO)
                .expect("flush"),
            1
        );
        assert_eq!(
            catalog
                .flush_last_used(SignedDuration::ZERO)
                .expect("flush"),
            0
        );
        assert_eq!(stored(&store), Some(at(71)));
        // A clock that goes back does not move it back.
        catalog.oin_for_key("sleutel-1", at(5));
        assert_eq!(catalog.api_keys(OIN)[0].laatst_gebruikt_op, Some(at(71)));
    }

    #[test]
    fn a_revoked_key_opens_nothing_and_is_not_written_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, catalog) = open(dir.path());
        catalog
            .add_api_key("id-1".into(), "sleutel-1", OIN, at(0))
            .expect("add");
        catalog
            .add_api_key("id-2".into(), "sleutel-2", OIN, at(1))
            .expect("add");
        catalog.oin_for_key("sleutel-1", at(2));
        assert!(
            !catalog.revoke_api_key(OTHER, "id-1").expect("revoke"),
            "not its key"
        );
        assert!(
            !catalog.revoke_api_key(OIN, "id-9").expect("revoke"),
            "no such key"
        );
        assert!(catalog.revoke_api_key(OIN, "id-1").expect("revoke"));
        assert_eq!(catalog.oin_for_key("sleutel-1", at(3)), None);
        assert_eq!(
            catalog
                .flush_last_used(SignedDuration::ZERO)
                .expect("flush"),
            0
        );
        let ids: Vec<String> = catalog.api_keys(OIN).into_iter().map(|k| k.id).collect();
        assert_eq!(ids, ["id-2"]);
        drop(catalog);
        let catalog = Catalog::load(store).expect("reload");
        assert_eq!(
            catalog.oin_for_key("sleutel-1", at(4)),
            None,
            "after a reload"
        );
        assert_eq!(
            catalog.oin_for_key("sleutel-2", at(4)).as_deref(),
            Some(OIN)
        );
    }
}
