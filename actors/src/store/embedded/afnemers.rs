//! Afnemers, embedded: the afnemers, API-key records (by hash) and berichttypen in the catalog database
//! (`catalog/`), each write synced before it returns.

use fjall::PersistMode;

use super::{EmbeddedStore, collect};
use crate::store::record::{self, encode};
use crate::store::{AfnemerRecord, Afnemers, ApiKeyRecord, BerichttypeRecord, StoreError};

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

    fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.catalog.api_keys.insert(key.key_hash, encode(key))?;
        self.catalog.db.persist(PersistMode::SyncData)?;
        Ok(())
    }

    fn delete_api_key(&self, key_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.catalog.api_keys.remove(*key_hash)?;
        self.catalog.db.persist(PersistMode::SyncData)?;
        Ok(())
    }

    fn api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        collect(self.catalog.api_keys.iter())
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
