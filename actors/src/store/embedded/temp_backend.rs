//! The embedded store as a conformance [`Backend`]: fresh stores in temporary directories,
//! removed when the backend is dropped. For tests only (this crate's, or with the
//! `conformance` feature).

use std::path::PathBuf;
use std::sync::Arc;

use super::{EmbeddedConfig, EmbeddedStore};
use crate::store::Store;
use crate::store::conformance::Backend;

/// Opens embedded stores in temporary directories.
#[derive(Debug)]
pub struct TempBackend {
    /// The most berichten one group commit takes: 1 makes every park its own sync.
    pub max_group_messages: usize,
    dirs: Vec<tempfile::TempDir>,
    /// The data directory and shard count of the store last opened.
    last: Option<(PathBuf, usize)>,
}

impl Default for TempBackend {
    fn default() -> Self {
        Self::with_group(1000)
    }
}

impl TempBackend {
    pub fn with_group(max_group_messages: usize) -> Self {
        Self {
            max_group_messages,
            dirs: Vec::new(),
            last: None,
        }
    }

    fn open_at(&self, data_dir: PathBuf, shards: usize) -> Arc<dyn Store> {
        Arc::new(
            EmbeddedStore::open(EmbeddedConfig {
                max_group_messages: self.max_group_messages,
                ..EmbeddedConfig::scratch(data_dir, shards)
            })
            .expect("open the embedded store"),
        )
    }
}

impl Backend for TempBackend {
    fn open(&mut self, shards: usize) -> Arc<dyn Store> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().to_owned();
        self.dirs.push(dir);
        self.last = Some((path.clone(), shards));
        self.open_at(path, shards)
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
        self.open_at(path, shards)
    }
}
