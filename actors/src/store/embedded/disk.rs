//! The disk watch: a thread that samples the data directory's free space every 250 ms, so
//! parking can refuse (503) before the disk is full without a system call per request.
//!
//! It only reads; it stops when its stop channel is dropped.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::store::StoreError;

/// Free space of the data directory's file system, sampled by a background thread.
pub(super) struct DiskWatch {
    pub(super) available_bytes: Arc<AtomicU64>,
    pub(super) stop: Sender<()>,
    pub(super) thread: JoinHandle<()>,
}

/// Starts the watch; it stores the free bytes in `available` until its `stop` is dropped.
pub(super) fn spawn_disk_watch(
    dir: PathBuf,
    available: Arc<AtomicU64>,
) -> Result<DiskWatch, StoreError> {
    let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
    let available_bytes = available.clone();
    let thread = std::thread::Builder::new()
        .name("disk-watch".into())
        .spawn(move || {
            while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(Duration::from_millis(250))
            {
                match fs4::available_space(&dir) {
                    Ok(bytes) => available.store(bytes, Ordering::Relaxed),
                    Err(error) => tracing::warn!(%error, "cannot read free disk space"),
                }
            }
        })?;
    Ok(DiskWatch {
        available_bytes,
        stop,
        thread,
    })
}
