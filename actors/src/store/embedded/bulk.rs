//! A bulk loader of citizens, for benchmarks only: it fills a data directory with millions of
//! accounts (and their berichtenvoorkeuren) in minutes, where the citizen API's one synced
//! write per account would take hours.
//!
//! It writes exactly the keys and records that [`Citizens::put_account`] and
//! [`Citizens::put_voorkeur`] write for a citizen who has no account and no voorkeuren yet: the
//! account; with an active box, the box's mutatie (scope `*`) and its retention index entry;
//! each voorkeur with its mutatie (scope: the OIN) and that mutatie's retention index entry.
//! What differs is only how: large write batches per shard, committed without a sync, and one
//! sync of every shard at the end, so nothing is durable before [`EmbeddedStore::load_citizens`]
//! returns. It reads nothing first: the caller promises the BSNs are new (a fresh data
//! directory, or BSNs it never loaded before); a BSN loaded twice is overwritten without the
//! mutaties a change through the API would write.
//!
//! [`Citizens::put_account`]: crate::store::Citizens::put_account
//! [`Citizens::put_voorkeur`]: crate::store::Citizens::put_voorkeur

use fjall::PersistMode;

use super::EmbeddedStore;
use super::citizens::put_mutatie;
use super::shard::GatedBatch;
use crate::core::routing::shard_of_citizen;
use crate::store::record::{BOX_MUTATIES, encode, prefixed};
use crate::store::{AccountRecord, StoreError, VoorkeurRecord};

/// Records (accounts, voorkeuren) a shard's batch takes before it is committed (unsynced).
const RECORDS_PER_COMMIT: usize = 50_000;

impl EmbeddedStore {
    /// Loads new citizens, each an account with its voorkeuren (whose `bsn` must be the
    /// account's), as the citizen API would have stored them one by one; see the module
    /// documentation. Durable (every shard synced) when it returns Ok; answers the number of
    /// accounts loaded. Several threads may load disjoint sets of BSNs at once.
    ///
    /// For benchmarks and load tests only: it skips the comparison with what is stored that
    /// makes `put_account` and `put_voorkeur` write a mutatie only for a change.
    #[doc(hidden)]
    pub fn load_citizens(
        &self,
        citizens: impl IntoIterator<Item = (AccountRecord, Vec<VoorkeurRecord>)>,
    ) -> Result<u64, StoreError> {
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Closed);
        }
        let n_shards = self.shards.len();
        let mut batches: Vec<Option<(GatedBatch<'_>, usize)>> =
            (0..n_shards).map(|_| None).collect();
        let mut loaded = 0u64;
        for (account, voorkeuren) in citizens {
            let index = shard_of_citizen(&account.bsn, n_shards);
            let handles = self.shard(index);
            let (write, records) = batches[index].get_or_insert_with(|| (handles.batch(), 0));
            write.insert(&handles.accounts, account.bsn.as_bytes(), encode(&account));
            if account.actief {
                put_mutatie(
                    handles,
                    write,
                    BOX_MUTATIES,
                    &account.bsn,
                    account.gewijzigd_op,
                    true,
                );
            }
            for voorkeur in &voorkeuren {
                if voorkeur.bsn != account.bsn {
                    return Err(StoreError::Inconsistent(format!(
                        "a voorkeur of {} loaded with the account of {}",
                        voorkeur.bsn, account.bsn
                    )));
                }
                write.insert(
                    &handles.voorkeuren,
                    prefixed(&voorkeur.bsn, voorkeur.oin.as_bytes()),
                    encode(voorkeur),
                );
                put_mutatie(
                    handles,
                    write,
                    &voorkeur.oin,
                    &voorkeur.bsn,
                    voorkeur.gewijzigd_op,
                    voorkeur.digitaal,
                );
            }
            *records += 1 + voorkeuren.len();
            loaded += 1;
            if *records >= RECORDS_PER_COMMIT
                && let Some((write, _)) = batches[index].take()
            {
                write.commit()?;
            }
        }
        for (write, _) in batches.into_iter().flatten() {
            write.commit()?;
        }
        for shard in &self.shards {
            shard.db.persist(PersistMode::SyncAll)?;
        }
        Ok(loaded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Citizens as _;
    use crate::store::embedded::EmbeddedConfig;

    fn citizen(i: u32) -> (AccountRecord, Vec<VoorkeurRecord>) {
        let bsn = format!("{:09}", 100_000_000 + i);
        let op = jiff::Timestamp::from_second(1_790_000_000 + i64::from(i)).expect("a time");
        let account = AccountRecord {
            bsn: bsn.clone(),
            email: (!i.is_multiple_of(3)).then(|| format!("b{i}@voorbeeld.nl")),
            notificaties: i.is_multiple_of(2),
            actief: !i.is_multiple_of(5),
            geopend_op: op,
            gewijzigd_op: op,
        };
        let voorkeuren = (0..i % 3)
            .map(|k| VoorkeurRecord {
                bsn: bsn.clone(),
                oin: format!("{:020}", 8_000 + k),
                digitaal: (i + k).is_multiple_of(2),
                gewijzigd_op: op + jiff::SignedDuration::from_secs(i64::from(k) + 1),
            })
            .collect();
        (account, voorkeuren)
    }

    /// Every (key, value) of the keyspaces the citizen writes touch, shard by shard.
    fn dump(store: &EmbeddedStore) -> Vec<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        for shard in &store.shards {
            for keyspace in [
                &shard.accounts,
                &shard.voorkeuren,
                &shard.mutaties,
                &shard.expiry,
            ] {
                out.push(
                    keyspace
                        .iter()
                        .map(|guard| {
                            let (key, value) = guard.into_inner().expect("read");
                            (key.to_vec(), value.to_vec())
                        })
                        .collect(),
                );
            }
        }
        out
    }

    #[test]
    fn loads_what_the_citizen_writes_would_store() {
        let through_api = tempfile::tempdir().expect("dir");
        let loaded = tempfile::tempdir().expect("dir");
        let api =
            EmbeddedStore::open(EmbeddedConfig::scratch(through_api.path(), 3)).expect("open");
        let bulk = EmbeddedStore::open(EmbeddedConfig::scratch(loaded.path(), 3)).expect("open");
        for i in 0..200 {
            let (account, voorkeuren) = citizen(i);
            api.put_account(&account).expect("put_account");
            for voorkeur in &voorkeuren {
                api.put_voorkeur(voorkeur).expect("put_voorkeur");
            }
        }
        assert_eq!(
            bulk.load_citizens((0..200).map(citizen)).expect("load"),
            200
        );
        let expected = dump(&api);
        assert!(expected.iter().all(|keyspace| !keyspace.is_empty()));
        assert_eq!(dump(&bulk), expected);
    }

    #[test]
    fn refuses_a_voorkeur_of_another_citizen() {
        let dir = tempfile::tempdir().expect("dir");
        let store = EmbeddedStore::open(EmbeddedConfig::scratch(dir.path(), 2)).expect("open");
        let (account, _) = citizen(1);
        let (_, voorkeuren) = citizen(2);
        assert!(store.load_citizens([(account, voorkeuren)]).is_err());
    }
}
