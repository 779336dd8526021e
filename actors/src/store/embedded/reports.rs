//! Reports, embedded: reading the day tellingen (written by the shard writers with each park
//! and by completions, summed here over the shards), the rolling prognoses and the engine's
//! runs (catalog database), and counting accounts.

use std::collections::BTreeMap;

use fjall::PersistMode;

use super::EmbeddedStore;
use crate::store::record::{
    AccountCount, AccountRecord, DagTelling, PrognoseRecord, RunRecord, day_prefix, decode,
    decode_u64, encode, parse_teller_key,
};
use crate::store::{Reports, StoreError};

impl Reports for EmbeddedStore {
    fn tellingen(
        &self,
        from: jiff::civil::Date,
        until: jiff::civil::Date,
    ) -> Result<BTreeMap<(jiff::civil::Date, String), DagTelling>, StoreError> {
        let mut out: BTreeMap<(jiff::civil::Date, String), DagTelling> = BTreeMap::new();
        if until < from {
            return Ok(out);
        }
        let start = day_prefix(from).into_bytes();
        // Every key of `until` sorts below the next day's prefix.
        let end = match until.tomorrow() {
            Ok(next) => day_prefix(next).into_bytes(),
            Err(_) => vec![0xff; 9],
        };
        for shard in &self.shards {
            for guard in shard.tellers.range(start.clone()..end.clone()) {
                let (key, value) = guard.into_inner()?;
                let Some((datum, oin, teller)) = parse_teller_key(&key) else {
                    continue;
                };
                out.entry((datum, oin))
                    .or_default()
                    .add(teller, decode_u64(&value));
            }
        }
        Ok(out)
    }

    fn put_prognose(&self, prognose: &PrognoseRecord) -> Result<bool, StoreError> {
        let key = prognose_key(&prognose.oin, &prognose.maand);
        let created = !self.catalog.prognoses.contains_key(&key)?;
        self.catalog.prognoses.insert(key, encode(prognose))?;
        self.catalog.db.persist(PersistMode::SyncData)?;
        Ok(created)
    }

    fn prognoses(&self, oin: Option<&str>) -> Result<Vec<PrognoseRecord>, StoreError> {
        let mut out = Vec::new();
        for guard in self.catalog.prognoses.prefix(oin.unwrap_or_default()) {
            let (key, value) = guard.into_inner()?;
            out.push(decode(&key, &value)?);
        }
        Ok(out)
    }

    fn record_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        let key = run.started.as_nanosecond().to_be_bytes();
        self.catalog.runs.insert(key, encode(run))?;
        self.catalog.db.persist(PersistMode::SyncData)?;
        Ok(())
    }

    fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let mut out = Vec::new();
        for guard in self.catalog.runs.iter() {
            let (key, value) = guard.into_inner()?;
            out.push(decode(&key, &value)?);
        }
        Ok(out)
    }

    fn count_accounts(&self) -> Result<AccountCount, StoreError> {
        let mut count = AccountCount::default();
        for shard in &self.shards {
            for guard in shard.accounts.iter() {
                let (key, value) = guard.into_inner()?;
                let account: AccountRecord = decode(&key, &value)?;
                count.total += 1;
                count.actief += u64::from(account.actief);
            }
        }
        Ok(count)
    }
}

fn prognose_key(oin: &str, maand: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(oin.len() + maand.len());
    key.extend_from_slice(oin.as_bytes());
    key.extend_from_slice(maand.as_bytes());
    key
}
