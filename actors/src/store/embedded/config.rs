//! The embedded store's configuration: the `[store]` section of the engine's TOML file,
//! deserialised straight into [`EmbeddedConfig`] (no mirror type in the server), with its
//! defaults and its checks.
//!
//! It owns no I/O: [`EmbeddedConfig::validate`] checks values only; whether the data directory
//! can be opened is found out by `EmbeddedStore::open`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How the embedded store is laid out and bounded. Every field is optional in TOML; the
/// defaults are those of [`EmbeddedConfig::default`], documented in the engine's
/// `DEFAULT_CONFIG_TOML`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedConfig {
    pub data_dir: PathBuf,
    /// Shards; fixed when the data directory is created.
    pub shards: usize,
    /// Batches that may wait for each shard's writer; beyond, parks are refused (503).
    pub queue_capacity: usize,
    /// The most berichten one group commit takes before it syncs.
    pub max_group_messages: usize,
    /// Parks are refused while the data directory's file system has less free space.
    pub min_free_disk_bytes: u64,
    /// Block cache of each shard database.
    pub cache_bytes_per_shard: u64,
    /// The largest memtable of one keyspace before fjall flushes it.
    pub memtable_bytes: u64,
    /// Parks are refused while this many berichten (all shards) wait for processing.
    pub max_parked_berichten: u64,
}

/// The most shards a data directory may have.
pub const MAX_SHARDS: usize = 1024;

/// The smallest bound on parked berichten: one full batch must fit.
pub const MIN_MAX_PARKED_BERICHTEN: u64 = 1000;

impl Default for EmbeddedConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            shards: 4,
            queue_capacity: 512,
            max_group_messages: 16384,
            min_free_disk_bytes: 256 << 20,
            cache_bytes_per_shard: 32 << 20,
            memtable_bytes: 16 << 20,
            max_parked_berichten: 5_000_000,
        }
    }
}

/// A value of the store's configuration that cannot work; the text names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidEmbeddedConfig(pub String);

impl EmbeddedConfig {
    /// A throwaway store in `data_dir` for tests and benchmarks: the defaults, but no
    /// free-space minimum (a test's temporary directory may sit on a nearly full disk), a
    /// 1 MiB block cache per shard, and no bound on the processing backlog.
    pub fn scratch(data_dir: impl Into<PathBuf>, shards: usize) -> Self {
        Self {
            data_dir: data_dir.into(),
            shards,
            min_free_disk_bytes: 0,
            cache_bytes_per_shard: 1 << 20,
            max_parked_berichten: u64::MAX,
            ..Self::default()
        }
    }

    /// The checks that need no I/O. Field names in the message are those of the TOML section.
    pub fn validate(&self) -> Result<(), InvalidEmbeddedConfig> {
        let fail = |message: &str| Err(InvalidEmbeddedConfig(message.to_owned()));
        if self.shards == 0 || self.shards > MAX_SHARDS {
            return fail("shards must be 1 to 1024");
        }
        if self.queue_capacity == 0 {
            return fail("queue_capacity must be at least 1");
        }
        if self.max_group_messages == 0 {
            return fail("max_group_messages must be at least 1");
        }
        if self.max_parked_berichten < MIN_MAX_PARKED_BERICHTEN {
            return fail("max_parked_berichten must be at least 1000 (a full batch)");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_refused() {
        EmbeddedConfig::default().validate().expect("defaults");
        let bad = [
            EmbeddedConfig {
                shards: 0,
                ..EmbeddedConfig::default()
            },
            EmbeddedConfig {
                shards: MAX_SHARDS + 1,
                ..EmbeddedConfig::default()
            },
            EmbeddedConfig {
                queue_capacity: 0,
                ..EmbeddedConfig::default()
            },
            EmbeddedConfig {
                max_group_messages: 0,
                ..EmbeddedConfig::default()
            },
            EmbeddedConfig {
                max_parked_berichten: MIN_MAX_PARKED_BERICHTEN - 1,
                ..EmbeddedConfig::default()
            },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
        }
    }
}
