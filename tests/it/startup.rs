//! Start-up refusal: an engine that cannot work does not start. A data directory written with
//! one shard count is refused with another (routing depends on it), both by `server::start`
//! in this process (it answers the error) and by the binary (it exits non-zero and says why
//! on stderr: here the process is the subject).

use crate::support::EngineBuilder;

/// A data directory made with 4 shards.
fn data_with_four_shards(dir: &std::path::Path) -> std::path::PathBuf {
    let data = dir.join("data");
    let engine = EngineBuilder::new(&data)
        .configure(|c| c.store.shards = 4)
        .start();
    engine.shutdown().expect("a clean shutdown");
    data
}

#[test]
fn another_shard_count_is_refused_in_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = data_with_four_shards(dir.path());
    let error = EngineBuilder::new(&data)
        .configure(|c| c.store.shards = 2)
        .start_refused();
    let text = format!("{error:#}");
    assert!(text.contains("shard"), "the error names the shards: {text}");
    // The data is untouched: with its own count it starts again.
    EngineBuilder::new(&data)
        .configure(|c| c.store.shards = 4)
        .start()
        .shutdown()
        .expect("a clean shutdown");
}

#[test]
fn the_binary_exits_non_zero_on_another_shard_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = data_with_four_shards(dir.path());
    let (status, stderr) = EngineBuilder::new(&data)
        .configure(|c| c.store.shards = 2)
        .spawn_refused();
    assert!(!status.success(), "exit status {status}; stderr:\n{stderr}");
    assert!(
        stderr.contains("shard"),
        "stderr says why (the shard count):\n{stderr}"
    );
}
