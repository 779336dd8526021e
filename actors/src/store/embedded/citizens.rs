//! Citizens, embedded: accounts, berichtenvoorkeuren (with their mutaties) and boxes, each in
//! the shard of the citizen's BSN. Writes are synced before they return; changes that read
//! first (mark, delete, and processing's deliver) hold the shard's box lock.

use super::EmbeddedStore;
use super::retention::bericht_since;
use super::shard::{GatedBatch, ShardHandles};
use crate::store::record::{
    BOX_MUTATIES, Expiring, MutatieRecord, bijlage_key, decode, encode, expiry_key, mutatie_key,
    prefixed,
};
use crate::store::{AccountRecord, BoxEntry, BoxId, Citizens, StoreError, VoorkeurRecord};

impl Citizens for EmbeddedStore {
    fn account(&self, bsn: &str) -> Result<Option<AccountRecord>, StoreError> {
        let handles = self.citizen_shard(bsn);
        handles
            .accounts
            .get(bsn)?
            .map(|bytes| decode(bsn.as_bytes(), &bytes))
            .transpose()
    }

    /// A change of `actief` (a box opened or closed, or a first account) writes a mutatie for
    /// every afnemer in the same write; the shard's account lock keeps the comparison and the
    /// write together.
    fn put_account(&self, account: &AccountRecord) -> Result<(), StoreError> {
        self.update_account(&account.bsn, &mut |_| Some(account.clone()))
            .map(drop)
    }

    fn update_account(
        &self,
        bsn: &str,
        change: &mut dyn FnMut(Option<AccountRecord>) -> Option<AccountRecord>,
    ) -> Result<Option<AccountRecord>, StoreError> {
        let handles = self.citizen_shard(bsn);
        let _accounts = handles
            .account_lock
            .lock()
            .map_err(|_| StoreError::Closed)?;
        let old = self.account(bsn)?;
        let was_actief = old.as_ref().is_some_and(|old| old.actief);
        let Some(account) = change(old) else {
            return Ok(None);
        };
        if account.bsn != bsn {
            return Err(StoreError::Inconsistent(
                "an account's change must keep its BSN".into(),
            ));
        }
        let mut write = handles.batch().synced();
        write.insert(&handles.accounts, account.bsn.as_bytes(), encode(&account));
        if was_actief != account.actief {
            put_mutatie(
                handles,
                &mut write,
                BOX_MUTATIES,
                &account.bsn,
                account.gewijzigd_op,
                account.actief,
            );
        }
        write.commit()?;
        Ok(Some(account))
    }

    fn voorkeur(&self, bsn: &str, oin: &str) -> Result<Option<VoorkeurRecord>, StoreError> {
        let key = prefixed(bsn, oin.as_bytes());
        self.citizen_shard(bsn)
            .voorkeuren
            .get(&key)?
            .map(|bytes| decode(&key, &bytes))
            .transpose()
    }

    fn voorkeuren(&self, bsn: &str) -> Result<Vec<VoorkeurRecord>, StoreError> {
        let mut out = Vec::new();
        for guard in self.citizen_shard(bsn).voorkeuren.prefix(bsn) {
            let (key, value) = guard.into_inner()?;
            out.push(decode(&key, &value)?);
        }
        Ok(out)
    }

    /// A change of `digitaal` (or a first voorkeur) writes a mutatie for its afnemer in the
    /// same write; storing the same choice again writes none.
    fn put_voorkeur(&self, voorkeur: &VoorkeurRecord) -> Result<(), StoreError> {
        let handles = self.citizen_shard(&voorkeur.bsn);
        let _accounts = handles
            .account_lock
            .lock()
            .map_err(|_| StoreError::Closed)?;
        let before = self.voorkeur(&voorkeur.bsn, &voorkeur.oin)?;
        let mut write = handles.batch().synced();
        write.insert(
            &handles.voorkeuren,
            prefixed(&voorkeur.bsn, voorkeur.oin.as_bytes()),
            encode(voorkeur),
        );
        if before.is_none_or(|old| old.digitaal != voorkeur.digitaal) {
            put_mutatie(
                handles,
                &mut write,
                &voorkeur.oin,
                &voorkeur.bsn,
                voorkeur.gewijzigd_op,
                voorkeur.digitaal,
            );
        }
        Ok(write.commit()?)
    }

    fn box_entries(
        &self,
        bsn: &str,
        before: Option<BoxId>,
        limit: usize,
    ) -> Result<Vec<BoxEntry>, StoreError> {
        let handles = self.citizen_shard(bsn);
        let start = bsn.as_bytes().to_vec();
        let end = match before {
            Some(id) => std::ops::Bound::Excluded(prefixed(bsn, &id.to_bytes())),
            None => std::ops::Bound::Included(prefixed(bsn, &[0xff; BoxId::LEN])),
        };
        let mut out = Vec::with_capacity(limit.min(1024));
        for guard in handles
            .boxes
            .range((std::ops::Bound::Included(start), end))
            .rev()
            .take(limit)
        {
            let (key, value) = guard.into_inner()?;
            out.push(decode(&key, &value)?);
        }
        Ok(out)
    }

    fn box_entry(&self, bsn: &str, id: BoxId) -> Result<Option<BoxEntry>, StoreError> {
        let key = prefixed(bsn, &id.to_bytes());
        self.citizen_shard(bsn)
            .boxes
            .get(&key)?
            .map(|bytes| decode(&key, &bytes))
            .transpose()
    }

    fn mark_gelezen(
        &self,
        bsn: &str,
        id: BoxId,
        gelezen: bool,
    ) -> Result<Option<BoxEntry>, StoreError> {
        let handles = self.citizen_shard(bsn);
        let _boxes = handles.box_lock.lock().map_err(|_| StoreError::Closed)?;
        let Some(mut entry) = self.box_entry(bsn, id)? else {
            return Ok(None);
        };
        if entry.gelezen != gelezen {
            entry.gelezen = gelezen;
            let mut write = handles.batch().synced();
            write.insert(
                &handles.boxes,
                prefixed(bsn, &id.to_bytes()),
                encode(&entry),
            );
            write.commit()?;
        }
        Ok(Some(entry))
    }

    /// Removes the entry, then its attachments (in the shard where they were parked): a crash
    /// in between leaves unreferenced bytes, never a reference without bytes.
    fn delete_box_entry(&self, bsn: &str, id: BoxId) -> Result<(), StoreError> {
        let handles = self.citizen_shard(bsn);
        let boxes = handles.box_lock.lock().map_err(|_| StoreError::Closed)?;
        let Some(entry) = self.box_entry(bsn, id)? else {
            return Ok(());
        };
        let mut write = handles.batch().synced();
        let key = prefixed(bsn, &id.to_bytes());
        write.remove(
            &handles.expiry,
            expiry_key(Expiring::Bericht, bericht_since(id), &key),
        );
        write.remove(&handles.boxes, key);
        write.commit()?;
        drop(boxes);
        for bijlage in &entry.inhoud.bijlagen {
            let home = self.shard(usize::from(bijlage.shard));
            home.bijlagen
                .remove(bijlage_key(bijlage.seq, bijlage.volgorde))?;
        }
        Ok(())
    }
}

/// Adds a mutatie (and its entry in the retention index) to `write`.
pub(super) fn put_mutatie(
    handles: &ShardHandles,
    write: &mut GatedBatch<'_>,
    scope: &str,
    bsn: &str,
    op: jiff::Timestamp,
    digitaal: bool,
) {
    let key = mutatie_key(scope, crate::core::time::unix_nanos_u64(op), bsn);
    write.insert(&handles.expiry, expiry_key(Expiring::Mutatie, op, &key), []);
    write.insert(&handles.mutaties, key, encode(&MutatieRecord { digitaal }));
}
