//! Afnemers, embedded: the afnemers, API-key hashes and berichttypen in the catalog database
//! (`catalog/`), each write synced before it returns.

use fjall::PersistMode;

use super::{EmbeddedStore, collect};
use crate::store::record::{self, encode};
use crate::store::{AfnemerRecord, Afnemers, BerichttypeRecord, StoreError};

impl Afnemers for EmbeddedStore {
    fn put_afnemer(&self, afnemer: &AfnemerRecord) -> Result<(), StoreError> {
        self.catalog
            .afnemers
            .insert(afnemer.oin.as_bytes(), encode(afnemer))?;
        self.catalog.db.persist(PersistMode::SyncData)?;
        Ok(())
    }

    fn afnemers(&self) -> Result<Vec<AfnemerRecord>, StoreError> {
        collect(self.catalog.afnemers.iter())
    }

    fn put_api_key(&self, key_hash: [u8; 32], oin: &str) -> Result<(), StoreError> {
        self.catalog.api_keys.insert(key_hash, oin.as_bytes())?;
        self.catalog.db.persist(PersistMode::SyncData)?;
        Ok(())
    }

    fn api_keys(&self) -> Result<Vec<([u8; 32], String)>, StoreError> {
        let mut out = Vec::new();
        for guard in self.catalog.api_keys.iter() {
            let (key, value) = guard.into_inner()?;
            let Ok(hash) = <[u8; 32]>::try_from(key.as_ref()) else {
                continue;
            };
            out.push((hash, String::from_utf8_lossy(&value).into_owned()));
        }
        Ok(out)
    }

    fn put_berichttype(&self, berichttype: &BerichttypeRecord) -> Result<(), StoreError> {
        let key = record::berichttype_key(&berichttype.oin, &berichttype.code);
        self.catalog.berichttypen.insert(key, encode(berichttype))?;
        self.catalog.db.persist(PersistMode::SyncData)?;
        Ok(())
    }

    fn berichttypen(&self, oin: &str) -> Result<Vec<BerichttypeRecord>, StoreError> {
        let mut prefix = oin.as_bytes().to_vec();
        prefix.push(0);
        collect(self.catalog.berichttypen.prefix(prefix))
    }
}
