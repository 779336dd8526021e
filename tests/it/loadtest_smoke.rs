//! The load-test harness against the real engine, in seconds: the smoke scenario
//! (`loadtest/scenarios/smoke.toml`) runs open-loop against a fresh engine, and its report
//! must show berichten accepted, every accepted one processed and in its box exactly once,
//! the engine's RSS seen, and the report's files written.

use crate::support;

use std::path::Path;

use berichtenbox_loadtest::progress::Mode;
use berichtenbox_loadtest::scenario::Scenario;
use berichtenbox_loadtest::{Options, run};

#[test]
fn the_smoke_scenario_runs_without_loss_and_writes_its_report() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A child process: the harness's loss check reads the engine's own RSS and CPU by pid.
    let engine = support::Engine::builder(&dir.path().join("data")).spawn();
    let scenario_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("loadtest/scenarios/smoke.toml");
    let scenario = Scenario::from_file(&scenario_file).expect("smoke scenario");
    let out = dir.path().join("report");
    let mut options = Options::new(
        engine.base.clone(),
        support::BEHEER_TOKEN,
        support::BURGER_JWT_SECRET,
        scenario,
        &out,
    );
    options.engine_pid = Some(engine.pid());
    options.progress = Mode::Quiet;
    let report = run(options).expect("the load test runs");

    assert!(report.offered_messages > 0, "nothing offered");
    assert!(
        report.achieved_msgs_per_s > 0.0,
        "nothing accepted: {:?} {:?}",
        report.status_by_code,
        report.error_samples
    );
    assert!(report.accept_latency_ms.count > 0 && report.accept_latency_ms.p50 > 0.0);
    assert_eq!(
        report.status_counts.other + report.status_counts.transport_errors,
        0,
        "unexpected answers: {:?} {:?}",
        report.status_by_code,
        report.error_samples
    );

    let loss = &report.loss_check;
    assert!(loss.batches_accepted > 0);
    assert_eq!(loss.batches_verwerkt, loss.batches_accepted, "{loss:?}");
    assert_eq!(loss.missing, 0, "{loss:?}");
    assert_eq!(loss.duplicates, 0, "{loss:?}");
    assert!(
        loss.messages_verwerkt > 0,
        "no bericht was delivered: {loss:?}"
    );
    assert_eq!(loss.messages_verified, loss.messages_verwerkt, "{loss:?}");
    assert!(loss.passed, "{loss:?}");
    // A tenth of the berichten go to BSNs without a box: decided, not delivered.
    assert!(
        report
            .verwerkingscodes
            .get("NietActiefOfGeabonneerd")
            .is_some_and(|n| *n > 0),
        "{:?}",
        report.verwerkingscodes
    );

    // The SLA group sent PDFs; the portal readers were answered.
    assert!(report.bandwidth.accepted_attachment_bytes > 0);
    let portal = report.portal.as_ref().expect("portal figures");
    assert!(portal.status_counts.accepted > 0, "{portal:?}");
    // The Validatie calls were answered, each BSN as its box says.
    let validaties = report.validaties.as_ref().expect("validatie figures");
    assert!(validaties.status_counts.accepted > 0, "{validaties:?}");
    assert!(validaties.results.is_some_and(|n| n > 0), "{validaties:?}");
    assert_eq!(validaties.mismatches, Some(0), "{validaties:?}");

    assert!(
        report.peak_rss_bytes.is_some_and(|b| b > 1_000_000),
        "engine RSS not seen: {:?}",
        report.peak_rss_bytes
    );
    assert!(report.processing_lag_seconds.is_some());

    for file in [
        "report.json",
        "report.md",
        "throughput.png",
        "latency.png",
        "portal_latency.png",
    ] {
        let path = out.join(file);
        let size = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{file} not written: {e}"))
            .len();
        assert!(size > 100, "{file} is {size} bytes");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).expect("read report.json"))
            .expect("report.json is JSON");
    for field in [
        "offered_msgs_per_s",
        "achieved_msgs_per_s",
        "accept_latency_ms",
        "peak_rss_bytes",
        "processing_lag_seconds",
        "status_counts",
        "loss_check",
    ] {
        assert!(json.get(field).is_some(), "report.json lacks {field}");
    }
    assert_eq!(json["loss_check"]["passed"], true);
    assert!(json["accept_latency_ms"]["p999"].as_f64().is_some());
    let png = std::fs::read(out.join("latency.png")).expect("read latency.png");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "latency.png is no PNG"
    );
}
