//! The embedded store under the store conformance suite (`store::conformance`): every check,
//! each on fresh data directories in temporary folders.

use std::path::PathBuf;
use std::sync::Arc;

use super::{EmbeddedConfig, EmbeddedStore};
use crate::store::Store;
use crate::store::conformance::Backend;

/// Opens embedded stores in temporary directories, removed when the backend is dropped.
#[derive(Debug, Default)]
struct Embedded {
    dirs: Vec<tempfile::TempDir>,
    /// The data directory and shard count of the store last opened.
    last: Option<(PathBuf, usize)>,
}

impl Embedded {
    fn open_at(path: PathBuf, shards: usize) -> Arc<dyn Store> {
        Arc::new(
            EmbeddedStore::open(EmbeddedConfig {
                data_dir: path,
                shards,
                queue_capacity: 64,
                max_group_messages: 1000,
                min_free_disk_bytes: 0,
                cache_bytes_per_shard: 1 << 20,
                memtable_bytes: 4 << 20,
                max_parked_berichten: u64::MAX,
            })
            .expect("open the embedded store"),
        )
    }
}

impl Backend for Embedded {
    fn open(&mut self, shards: usize) -> Arc<dyn Store> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().to_owned();
        self.dirs.push(dir);
        self.last = Some((path.clone(), shards));
        Self::open_at(path, shards)
    }

    fn reopen(&mut self, store: Arc<dyn Store>) -> Arc<dyn Store> {
        store.close().expect("close the store");
        assert_eq!(
            Arc::strong_count(&store),
            1,
            "the caller still holds the store it asks to reopen"
        );
        drop(store);
        let (path, shards) = self.last.clone().expect("a store was opened");
        Self::open_at(path, shards)
    }
}

crate::store_conformance_tests!(Embedded::default());
