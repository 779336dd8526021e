//! The fjall snapshot anomaly (issue 11, point 6; docs/fjall-snapshot-anomaly.md), bounded to
//! a few seconds: the reproduction of `examples/fjall_snapshot_anomaly.rs`, fjall alone.

#[path = "../examples/fjall_snapshot_anomaly.rs"]
mod repro;

use std::time::Duration;

/// The settings that show it within seconds on a 2-core machine: memtables of 8 KiB, two
/// background workers, commits without sync.
fn config(gate: bool) -> repro::Config {
    repro::Config {
        duration: Duration::from_secs(4),
        memtable_bytes: 8 * 1024,
        worker_threads: 2,
        gate,
        ..repro::Config::default()
    }
}

fn assert_whole(outcome: &repro::Outcome) {
    assert!(
        outcome.batches_checked > 0,
        "no batch was checked: {outcome:?}"
    );
    assert_eq!(
        outcome.violations, 0,
        "a snapshot saw part of a write batch: {outcome:#?}"
    );
}

/// A write batch across two keyspaces is seen whole or not at all by `db.snapshot()`.
/// Fails on fjall 3.1.13 / lsm-tree 3.1.10 (hundreds of violations in 4 s): a flush or
/// compaction that installs a tree version while a write batch is being applied publishes
/// a visible sequence number past the batch. Run it with `--ignored`; once fjall is fixed,
/// it stops being ignored.
#[test]
#[ignore = "fails on fjall 3.1.13: a flush publishes a write batch still being applied (docs/fjall-snapshot-anomaly.md)"]
fn a_snapshot_sees_a_write_batch_whole_or_not_at_all() -> fjall::Result<()> {
    assert_whole(&repro::run(&config(false))?);
    Ok(())
}

/// The same with no snapshot opened while a write batch is being committed (commits hold an
/// application lock shared, `snapshot()` exclusively): whole every time, so the anomaly is
/// fjall's publication of the sequence number, not the data it keeps.
#[test]
fn a_snapshot_opened_between_commits_sees_every_write_batch_whole() -> fjall::Result<()> {
    assert_whole(&repro::run(&config(true))?);
    Ok(())
}
