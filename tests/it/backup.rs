//! Backup and restore through the binary: a backup asked of a serving engine during a load
//! run (through its control socket), a SIGKILL, a restore and a start: every batch answered
//! 202 before the backup began is there and passes the harness's loss check. The schedule of
//! `[backup]` on the engine's clock, with its pruning. A damaged or partial backup refused by
//! `berichtenbox restore` with a message naming what is wrong.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use berichtenbox_loadtest::load::Load;
use berichtenbox_loadtest::payload::Payloads;
use berichtenbox_loadtest::scenario::Scenario;
use berichtenbox_loadtest::setup::{self, Api};
use berichtenbox_loadtest::stats::Stats;
use berichtenbox_loadtest::verify;

/// `berichtenbox ARGS...` to its end.
fn berichtenbox(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berichtenbox"))
        .args(args)
        .env("BERICHTENBOX_LOG", "warn")
        .output()
        .expect("run berichtenbox")
}

fn backup_cli(data_dir: &Path, naar: &Path) -> Output {
    berichtenbox(&[
        "backup".as_ref(),
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
        "--naar".as_ref(),
        naar.as_os_str(),
    ])
}

fn restore_cli(van: &Path, data_dir: &Path) -> Output {
    berichtenbox(&[
        "restore".as_ref(),
        "--van".as_ref(),
        van.as_os_str(),
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
    ])
}

fn text(output: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_backup_during_load_restores_every_batch_accepted_before_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let engine = support::Engine::builder(&data).spawn();
    let scenario_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("loadtest/scenarios/smoke.toml");
    let mut scenario = Scenario::from_file(&scenario_file).expect("smoke scenario");
    scenario.duration_seconds = 8.0;
    let naar = dir.path().join("backup");
    let restored = dir.path().join("restored");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client");
    let api = Api {
        client: client.clone(),
        base: engine.base.clone(),
    };
    // The harness's own pieces: its set-up, its open-loop load, and (later, against the
    // restored engine) its loss check.
    let (afnemers, citizens, payloads, stats) = runtime.block_on(async {
        let afnemers = setup::afnemers(&api, support::BEHEER_TOKEN, &scenario)
            .await
            .expect("afnemers");
        let citizens = setup::citizens(
            &api,
            support::BURGER_JWT_SECRET,
            &scenario,
            Duration::from_secs(3600),
        )
        .await
        .expect("citizens");
        let payloads = Arc::new(Payloads::new(
            &scenario,
            rand::random(),
            citizens.bsns.clone(),
        ));
        let start = tokio::time::Instant::now() + Duration::from_millis(100);
        let stats = Arc::new(Stats::new(start.into_std(), scenario.afnemers.len()));
        (afnemers, citizens, payloads, stats)
    });
    let load = Arc::new(Load {
        api: api.clone(),
        stats: stats.clone(),
        payloads: payloads.clone(),
        scenario: scenario.clone(),
        duration: scenario.duration(),
        start: tokio::time::Instant::now() + Duration::from_millis(100),
        aanmaak_offset: jiff::SignedDuration::ZERO,
    });
    let running = {
        let (load, afnemers, citizens) = (load.clone(), afnemers.clone(), citizens.clone());
        runtime.spawn(async move { load.run(&afnemers, &citizens).await })
    };

    // Under load: wait for some batches to be accepted, note how many, then ask for the backup.
    support::wait_until(
        "batches accepted under load",
        Duration::from_secs(30),
        || stats.with(|s| s.accepted.len()) >= 20,
    );
    let before = stats.with(|s| s.accepted.len());
    let output = backup_cli(&data, &naar);
    assert!(output.status.success(), "backup: {}", text(&output));
    let after = stats.with(|s| s.accepted.len());
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed.contains(&format!("backup in {}", naar.display())) && printed.contains("entries"),
        "{printed}"
    );
    assert!(
        !running.is_finished(),
        "the load ended before the backup did: not a backup during load"
    );
    engine.kill();
    running.abort();
    let _ = runtime.block_on(running);

    let output = restore_cli(&naar, &restored);
    assert!(output.status.success(), "restore: {}", text(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("restored"));
    let engine = support::Engine::builder(&restored).spawn();

    // The harness's loss check on the restored engine, for the batches answered 202 before
    // the backup began: each is processed, each bericht decided once, every `Verwerkt` one in
    // its box exactly once.
    let accepted = stats.with(|s| s.accepted[..before].to_vec());
    let keys = Arc::new(afnemers.iter().map(|a| a.key.clone()).collect::<Vec<_>>());
    let restored_api = Api {
        client,
        base: engine.base.clone(),
    };
    let findings = runtime
        .block_on(verify::check(
            &restored_api,
            payloads,
            keys,
            &citizens,
            accepted,
            Duration::from_secs(60),
        ))
        .expect("the loss check runs");
    let loss = &findings.loss;
    assert!(loss.batches_accepted >= 20, "{loss:?}");
    assert_eq!(
        loss.batches_verwerkt, loss.batches_accepted,
        "{loss:?} {:?}",
        findings.samples
    );
    assert_eq!(loss.missing, 0, "{loss:?} {:?}", findings.samples);
    assert_eq!(loss.duplicates, 0, "{loss:?}");
    assert_eq!(loss.read_errors, 0, "{loss:?}");
    assert_eq!(loss.messages_verified, loss.messages_verwerkt, "{loss:?}");
    // Batches answered while the backup ran may be in it (parked before the cut, answered
    // after the backup began): the one count of the check that may see them.
    let during: u64 = stats.with(|s| {
        s.accepted[before..after]
            .iter()
            .map(|b| u64::from(b.messages))
            .sum()
    });
    assert!(
        loss.unexpected_in_box <= during,
        "{} berichten in boxes that no batch accepted before or during the backup explains: {loss:?}",
        loss.unexpected_in_box
    );
    drop(engine);
}

/// A backup of a stopped engine's data directory (the command opens it itself).
fn offline_backup(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    let engine = support::Engine::start(&data);
    let afnemer = engine
        .beheer()
        .afnemer_with_aanslag(&support::oin(7), serde_json::json!({ "naam": "Gemeente" }));
    let reply = afnemer.deliver(&support::batch(1, 3));
    assert_eq!(reply.status, 202);
    engine.shutdown().expect("shutdown");
    let naar = dir.join("backup");
    let output = backup_cli(&data, &naar);
    assert!(output.status.success(), "offline backup: {}", text(&output));
    naar
}

#[test]
fn restore_refuses_a_damaged_or_partial_backup_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let naar = offline_backup(dir.path());

    // A flipped byte.
    let file = naar.join("catalog.bin");
    let good = std::fs::read(&file).expect("read");
    let mut bad = good.clone();
    let middle = bad.len() / 2;
    bad[middle] ^= 1;
    std::fs::write(&file, &bad).expect("write");
    let target = dir.path().join("restored");
    let output = restore_cli(&naar, &target);
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{}", text(&output));
    assert!(
        message.contains("catalog.bin")
            && message.contains("is damaged")
            && message.contains("SHA-256"),
        "{message}"
    );
    assert!(!target.exists(), "a refused restore made its target");

    // Truncated.
    std::fs::write(&file, &good[..good.len() - 1]).expect("write");
    let output = restore_cli(&naar, &target);
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && message.contains("truncated"),
        "{message}"
    );

    // Partial: no manifest.
    std::fs::write(&file, &good).expect("write");
    std::fs::rename(naar.join("manifest.json"), dir.path().join("manifest.json")).expect("mv");
    let output = restore_cli(&naar, &target);
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success()
            && message.contains("no manifest.json")
            && message.contains("partial"),
        "{message}"
    );

    // Whole again: restored, and served.
    std::fs::rename(dir.path().join("manifest.json"), naar.join("manifest.json")).expect("mv");
    let output = restore_cli(&naar, &target);
    assert!(output.status.success(), "{}", text(&output));
    let engine = support::Engine::start(&target);
    engine.shutdown().expect("shutdown");

    // Into a used directory: refused.
    let output = restore_cli(&naar, &target);
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && message.contains("is not empty"),
        "{message}"
    );
}

#[test]
fn the_schedule_takes_backups_on_the_engines_clock_and_prunes_old_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let map = dir.path().join("backups");
    let engine = support::Engine::builder(&dir.path().join("data"))
        .configure(|config| {
            config.backup.map = map.clone();
            config.backup.interval_uren = 24;
            config.backup.bewaar_dagen = 7;
        })
        .start();
    let complete = || -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&map)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.join("manifest.json").exists())
                    .collect()
            })
            .unwrap_or_default();
        found.sort();
        found
    };
    // None in the map: the first at once.
    support::wait_until(
        "the first scheduled backup",
        Duration::from_secs(30),
        || complete().len() == 1,
    );
    let first = complete()[0].clone();
    assert!(
        first
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("berichtenbox-")),
        "{first:?}"
    );
    // Not again before the interval.
    engine.advance(Duration::from_secs(23 * 3600));
    engine.advance(Duration::from_secs(3599));
    // A day on: the next.
    engine.advance(Duration::from_secs(2));
    support::wait_until(
        "the second scheduled backup",
        Duration::from_secs(30),
        || complete().len() == 2,
    );
    // Eight days on: a third, and the first two (older than seven days) are gone.
    engine.advance(Duration::from_secs(8 * 24 * 3600));
    support::wait_until("the old backups pruned", Duration::from_secs(30), || {
        let now = complete();
        now.len() == 1 && !now.contains(&first)
    });
    engine.shutdown().expect("shutdown");
}
