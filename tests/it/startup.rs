//! Start-up refusal: an engine that cannot work does not start. A data directory written with
//! one shard count is refused with another (routing depends on it), both by `server::start`
//! in this process (it answers the error) and by the binary (it exits non-zero and says why
//! on stderr: here the process is the subject). A data directory of another layout format is
//! refused the same way.

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

/// A data directory of layout format 1 (written before the format was recorded: shards, no
/// format in the catalog) is refused by the binary, naming both formats; nothing is added
/// to it (the actors crate's `store::embedded::catalog` tests check a forged format too).
#[test]
fn the_binary_exits_non_zero_on_another_layout_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("shard-000")).expect("a format-1 shard folder");
    let (status, stderr) = EngineBuilder::new(&data).spawn_refused();
    assert!(!status.success(), "exit status {status}; stderr:\n{stderr}");
    let expected = format!(
        "reads format {}",
        berichtenbox_actors::store::embedded::FORMAT
    );
    assert!(
        stderr.contains("layout format 1") && stderr.contains(&expected),
        "stderr names both formats:\n{stderr}"
    );
    let shard = std::fs::read_dir(data.join("shard-000")).expect("the shard folder is kept");
    assert_eq!(shard.count(), 0, "the refusal wrote into the shard folder");
}

/// One stop stops both listeners: after the graceful shutdown neither the API listener nor
/// the operations listener accepts a connection; before it both answer.
#[test]
fn one_stop_stops_the_api_and_the_operations_listener() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = EngineBuilder::new(&dir.path().join("data")).start();
    let addresses: Vec<String> = [&engine.base, &engine.ops.base]
        .iter()
        .map(|base| base.trim_start_matches("http://").to_owned())
        .collect();
    for (api, name) in [(&*engine, "API"), (&engine.ops, "operations")] {
        let reply = crate::support::send(api.client.get(api.url("/health/live")));
        assert_eq!(reply.status, 200, "{name} listener before the stop");
    }
    engine.shutdown().expect("a clean shutdown");
    for address in &addresses {
        assert!(
            std::net::TcpStream::connect(address).is_err(),
            "{address} still accepts connections after the stop"
        );
    }
}
