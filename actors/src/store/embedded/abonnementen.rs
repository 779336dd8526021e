//! Abonnementen, embedded: the verzoeken, a `bsn-lijst`'s BSNs and the durable quotas in the
//! catalog database (each write synced), and the extracts' paged reads of the shards'
//! accounts, voorkeuren and mutaties.

use std::collections::HashMap;
use std::ops::Bound;

use fjall::PersistMode;

use super::{EmbeddedStore, collect};
use crate::core::time::unix_nanos_u64;
use crate::store::record::{
    AccountRecord, BOX_MUTATIES, BsnDeel, QuotumRecord, VoorkeurRecord, decode, encode,
    mutatie_key, prefixed,
};
use crate::store::{Aanvraag, Abonnementen, ActiefAccount, MutatiePlek, StoreError, VerzoekRecord};

/// BSNs per stored part of a `bsn-lijst` (at most 50 parts for a list of 1,000,000).
const BSNS_PER_DEEL: usize = 20_000;

fn verzoek_key(oin: &str, verzoek_id: &str) -> Vec<u8> {
    prefixed(oin, verzoek_id.as_bytes())
}

fn deel_key(oin: &str, verzoek_id: &str, deel: u32) -> Vec<u8> {
    let mut key = verzoek_key(oin, verzoek_id);
    key.extend_from_slice(&deel.to_be_bytes());
    key
}

impl EmbeddedStore {
    /// The quota named `quotum` as stored, or unused.
    fn quotum(&self, quotum: &str) -> Result<u32, StoreError> {
        Ok(self
            .catalog
            .quota
            .get(quotum)?
            .map(|bytes| decode::<QuotumRecord>(quotum.as_bytes(), &bytes))
            .transpose()?
            .map_or(0, |record| record.gebruikt))
    }
}

impl Abonnementen for EmbeddedStore {
    fn vraag_aan(
        &self,
        verzoek: &VerzoekRecord,
        bsns: &[u32],
        quotum: &str,
        limit: u32,
        vervalt: jiff::Timestamp,
    ) -> Result<Aanvraag, StoreError> {
        let _quota = self.quota_lock.lock().map_err(|_| StoreError::Closed)?;
        if let Some(stored) = self.verzoek(&verzoek.oin, &verzoek.verzoek_id)? {
            return Ok(Aanvraag::Bestaand(Box::new(stored)));
        }
        let gebruikt = self.quotum(quotum)?;
        if gebruikt >= limit {
            return Ok(Aanvraag::Vol);
        }
        let mut write = self
            .catalog
            .db
            .batch()
            .durability(Some(PersistMode::SyncData));
        for (deel, chunk) in bsns.chunks(BSNS_PER_DEEL).enumerate() {
            let deel = u32::try_from(deel)
                .map_err(|_| StoreError::Inconsistent("a BSN list of over 2^32 parts".into()))?;
            write.insert(
                &self.catalog.verzoek_bsns,
                deel_key(&verzoek.oin, &verzoek.verzoek_id, deel),
                encode(&BsnDeel(chunk.to_vec())),
            );
        }
        write.insert(
            &self.catalog.quota,
            quotum.as_bytes(),
            encode(&QuotumRecord {
                gebruikt: gebruikt + 1,
                vervalt,
            }),
        );
        write.insert(
            &self.catalog.verzoeken,
            verzoek_key(&verzoek.oin, &verzoek.verzoek_id),
            encode(verzoek),
        );
        write.commit()?;
        Ok(Aanvraag::Ingepland)
    }

    fn verzoek(&self, oin: &str, verzoek_id: &str) -> Result<Option<VerzoekRecord>, StoreError> {
        let key = verzoek_key(oin, verzoek_id);
        self.catalog
            .verzoeken
            .get(&key)?
            .map(|bytes| decode(&key, &bytes))
            .transpose()
    }

    fn verzoeken(&self) -> Result<Vec<VerzoekRecord>, StoreError> {
        collect(self.catalog.verzoeken.iter())
    }

    fn put_verzoek(&self, verzoek: &VerzoekRecord) -> Result<(), StoreError> {
        self.catalog.verzoeken.insert(
            verzoek_key(&verzoek.oin, &verzoek.verzoek_id),
            encode(verzoek),
        )?;
        self.catalog.db.persist(PersistMode::SyncData)?;
        Ok(())
    }

    fn verzoek_bsns(
        &self,
        oin: &str,
        verzoek_id: &str,
        vanaf: u64,
        max: usize,
    ) -> Result<Vec<u32>, StoreError> {
        let per_deel = BSNS_PER_DEEL as u64;
        let mut deel = vanaf / per_deel;
        let mut skip = usize::try_from(vanaf % per_deel).unwrap_or(usize::MAX);
        let mut out = Vec::with_capacity(max.min(BSNS_PER_DEEL));
        while out.len() < max {
            let Ok(index) = u32::try_from(deel) else {
                break;
            };
            let key = deel_key(oin, verzoek_id, index);
            let Some(bytes) = self.catalog.verzoek_bsns.get(&key)? else {
                break;
            };
            let BsnDeel(bsns) = decode(&key, &bytes)?;
            let want = max - out.len();
            out.extend(bsns.iter().skip(skip).take(want));
            skip = 0;
            deel += 1;
        }
        Ok(out)
    }

    fn delete_verzoek(&self, oin: &str, verzoek_id: &str) -> Result<(), StoreError> {
        let key = verzoek_key(oin, verzoek_id);
        let mut write = self
            .catalog
            .db
            .batch()
            .durability(Some(PersistMode::SyncData));
        for guard in self.catalog.verzoek_bsns.prefix(&key) {
            let deel = guard.key()?;
            write.remove(&self.catalog.verzoek_bsns, deel);
        }
        write.remove(&self.catalog.verzoeken, key);
        write.commit()?;
        Ok(())
    }

    fn take_quotum(
        &self,
        quotum: &str,
        limit: u32,
        vervalt: jiff::Timestamp,
    ) -> Result<bool, StoreError> {
        let _quota = self.quota_lock.lock().map_err(|_| StoreError::Closed)?;
        let gebruikt = self.quotum(quotum)?;
        if gebruikt >= limit {
            return Ok(false);
        }
        self.catalog.quota.insert(
            quotum.as_bytes(),
            encode(&QuotumRecord {
                gebruikt: gebruikt + 1,
                vervalt,
            }),
        )?;
        self.catalog.db.persist(PersistMode::SyncData)?;
        Ok(true)
    }

    fn expire_quota(&self, now: jiff::Timestamp) -> Result<u64, StoreError> {
        let _quota = self.quota_lock.lock().map_err(|_| StoreError::Closed)?;
        let mut write = self
            .catalog
            .db
            .batch()
            .durability(Some(PersistMode::SyncData));
        let mut n = 0;
        for guard in self.catalog.quota.iter() {
            let (key, value) = guard.into_inner()?;
            let record: QuotumRecord = decode(&key, &value)?;
            if record.vervalt < now {
                write.remove(&self.catalog.quota, key);
                n += 1;
            }
        }
        if n > 0 {
            write.commit()?;
        }
        Ok(n)
    }

    fn actieve_accounts(
        &self,
        shard: usize,
        na: Option<&str>,
        max: usize,
    ) -> Result<Vec<ActiefAccount>, StoreError> {
        let handles = self.shard(shard);
        let start = match na {
            Some(bsn) => Bound::Excluded(bsn.as_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        let mut out = Vec::with_capacity(max.min(16_384));
        for guard in handles
            .accounts
            .range::<Vec<u8>, _>((start, Bound::Unbounded))
        {
            if out.len() >= max {
                break;
            }
            let (key, value) = guard.into_inner()?;
            let account: AccountRecord = decode(&key, &value)?;
            if account.actief {
                out.push(ActiefAccount {
                    bsn: account.bsn,
                    geweigerd: Vec::new(),
                });
            }
        }
        let (Some(first), Some(last)) = (out.first(), out.last()) else {
            return Ok(out);
        };
        // The voorkeuren of the page's BSNs are keyed bsn ++ oin: one range read covers them.
        let mut index: HashMap<String, usize> = HashMap::with_capacity(out.len());
        for (i, account) in out.iter().enumerate() {
            index.insert(account.bsn.clone(), i);
        }
        let from = first.bsn.as_bytes().to_vec();
        let mut to = last.bsn.as_bytes().to_vec();
        to.push(0xff);
        for guard in handles.voorkeuren.range(from..to) {
            let (key, value) = guard.into_inner()?;
            let voorkeur: VoorkeurRecord = decode(&key, &value)?;
            if voorkeur.digitaal {
                continue;
            }
            if let Some(&i) = index.get(&voorkeur.bsn) {
                out[i].geweigerd.push(voorkeur.oin);
            }
        }
        Ok(out)
    }

    fn mutaties(
        &self,
        shard: usize,
        oin: Option<&str>,
        sinds: jiff::Timestamp,
        na: Option<&MutatiePlek>,
        max: usize,
    ) -> Result<Vec<MutatiePlek>, StoreError> {
        let scope = oin.unwrap_or(BOX_MUTATIES);
        let start = match na {
            Some(plek) => Bound::Excluded(mutatie_key(scope, plek.op_nanos, &plek.bsn)),
            None => Bound::Included(mutatie_key(scope, unix_nanos_u64(sinds), "")),
        };
        let mut end = scope.as_bytes().to_vec();
        end.extend_from_slice(&[0xff; 9]);
        let mut out = Vec::with_capacity(max.min(16_384));
        for guard in self
            .shard(shard)
            .mutaties
            .range((start, Bound::Excluded(end)))
            .take(max)
        {
            let key = guard.key()?;
            let rest = key.get(scope.len()..).unwrap_or_default();
            let (Some(nanos), Some(bsn)) = (rest.get(..8), rest.get(8..)) else {
                return Err(StoreError::Inconsistent("a mutatie key too short".into()));
            };
            out.push(MutatiePlek {
                op_nanos: u64::from_be_bytes(nanos.try_into().unwrap_or([0; 8])),
                bsn: String::from_utf8_lossy(bsn).into_owned(),
            });
        }
        Ok(out)
    }
}
