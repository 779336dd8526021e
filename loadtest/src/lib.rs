//! Open-loop load tests of the Berichtenbox engine.
//!
//! It plays afnemers (and citizens) against a running engine, from a declarative scenario
//! (`loadtest/scenarios/*.toml`), then checks through the APIs that nothing accepted was
//! lost or doubled, and writes a JSON and a Markdown report and PNG plots.
//!
//! # Layout
//!
//! - [`scenario`]: the scenario files, read and checked.
//! - [`schedule`]: when each request is due (pure arithmetic: the open loop).
//! - [`ids`]: OINs, BSNs (elfproef), batch and bericht ids, who receives what (pure).
//! - [`payload`]: request bodies, text-only and the SLA mix with PDF attachments.
//! - [`setup`]: afnemers, API keys, berichttypen and citizens' boxes, through the APIs.
//! - [`load`]: the streams that send on schedule, whether or not earlier requests were
//!   answered.
//! - [`stats`]: HDR histograms, status counts and the per-second timeline.
//! - [`verify`]: the loss check after the load.
//! - [`procfs`]: the engine's RSS and CPU from `/proc`.
//! - [`report`], [`plot`], [`progress`]: what a person reads and sees.
//!
//! [`run`] is the entry point, for the binary and for tests.

pub mod ids;
pub mod load;
pub mod payload;
pub mod plot;
pub mod procfs;
pub mod progress;
pub mod report;
pub mod scenario;
pub mod schedule;
pub mod setup;
pub mod stats;
pub mod verify;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use tokio::time::Instant;

use crate::load::Load;
use crate::payload::Payloads;
use crate::progress::{Mode, Progress};
use crate::report::{
    Bandwidth, CallReport, GeneratorReport, GroupReport, Report, StatusCounts, TimelinePoint,
};
use crate::scenario::{Mix, Scenario};
use crate::setup::Api;
use crate::stats::{Percentiles, Stats};

/// Keep-alive connections idle this long are not reused: shorter than actix-web's default
/// keep-alive (5 s), so the client never sends on a connection the server is closing.
const POOL_IDLE: Duration = Duration::from_secs(4);

/// A run's inputs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The engine's base URL, e.g. `http://127.0.0.1:18080`.
    pub target: String,
    pub beheer_token: String,
    pub burger_jwt_secret: String,
    pub scenario: Scenario,
    /// Overrides the scenario's duration.
    pub duration: Option<Duration>,
    /// Where report.json, report.md and the plots go (created if missing).
    pub out_dir: PathBuf,
    /// The engine's pid, to sample its RSS and CPU from `/proc`.
    pub engine_pid: Option<u32>,
    pub progress: Mode,
    /// Worker threads of the generator's runtime.
    pub threads: usize,
}

impl Options {
    /// Options with the defaults for everything beyond the engine and the scenario.
    pub fn new(
        target: impl Into<String>,
        beheer_token: impl Into<String>,
        burger_jwt_secret: impl Into<String>,
        scenario: Scenario,
        out_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            target: target.into(),
            beheer_token: beheer_token.into(),
            burger_jwt_secret: burger_jwt_secret.into(),
            scenario,
            duration: None,
            out_dir: out_dir.into(),
            engine_pid: None,
            progress: Mode::Auto,
            threads: 2,
        }
    }
}

/// Runs the scenario on a runtime of its own and answers the report (also written to
/// `out_dir`). An error means the run could not be done (engine unreachable, set-up
/// refused); a run that found losses answers a report whose `loss_check.passed` is false.
pub fn run(options: Options) -> anyhow::Result<Report> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads.max(1))
        .enable_all()
        .build()
        .context("start the generator's runtime")?;
    runtime.block_on(run_async(options))
}

/// [`run`] on the caller's runtime.
pub async fn run_async(options: Options) -> anyhow::Result<Report> {
    let mut scenario = options.scenario.clone();
    if let Some(duration) = options.duration {
        scenario.duration_seconds = duration.as_secs_f64();
        scenario.check()?;
    }
    let mode = options.progress;
    std::fs::create_dir_all(&options.out_dir)
        .with_context(|| format!("create {}", options.out_dir.display()))?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs_f64(
            scenario.limits.request_timeout_seconds,
        ))
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(POOL_IDLE)
        .tcp_nodelay(true)
        .build()
        .context("build the HTTP client")?;
    let api = Api {
        client,
        base: options.target.trim_end_matches('/').to_owned(),
    };
    let live = api
        .client
        .get(api.url("/health/live"))
        .send()
        .await
        .with_context(|| format!("engine at {} not reachable", api.base))?;
    if !live.status().is_success() {
        bail!(
            "engine at {}: /health/live answered {}",
            api.base,
            live.status()
        );
    }

    let run_id: u32 = rand::random();
    let started_at = jiff::Timestamp::now();
    let duration = scenario.duration();
    progress::say(
        mode,
        &format!(
            "scenario {} (run {run_id:08x}): setting up {} afnemers and {} citizens",
            scenario.name,
            scenario.afnemer_count(),
            scenario.citizens.accounts
        ),
    );
    let afnemers = setup::afnemers(&api, &options.beheer_token, &scenario).await?;
    let token_validity = duration
        + Duration::from_secs_f64(scenario.limits.verify_deadline_seconds)
        + Duration::from_secs(3600);
    let citizens =
        setup::citizens(&api, &options.burger_jwt_secret, &scenario, token_validity).await?;
    let payloads = Arc::new(Payloads::new(&scenario, run_id, citizens.bsns.clone()));
    let streams = schedule::streams(&scenario);
    let window = schedule::window(&streams, duration);
    progress::say(
        mode,
        &format!(
            "offering {:.0} berichten/s for {:.0} s",
            scenario.offered_per_second(),
            window.as_secs_f64()
        ),
    );

    let start = Instant::now() + Duration::from_millis(200);
    let stats = Arc::new(Stats::new(start.into_std(), scenario.afnemers.len()));
    let rss = options
        .engine_pid
        .map(|pid| procfs::RssSampler::start(pid, Duration::from_millis(250)));
    let engine_cpu = |pid: Option<u32>| pid.and_then(|p| procfs::cpu_seconds(&p.to_string()));
    let engine_cpu_before = engine_cpu(options.engine_pid);
    let self_cpu_before = procfs::cpu_seconds("self");
    let load = Arc::new(Load {
        api: api.clone(),
        stats: stats.clone(),
        payloads: payloads.clone(),
        scenario: scenario.clone(),
        duration,
        start,
        aanmaak_offset: jiff::SignedDuration::ZERO,
    });
    let mut progress = Progress::start(stats.clone(), window, mode);
    load.run(&afnemers, &citizens).await;
    let open_at_end = load
        .drain(Duration::from_secs_f64(
            scenario.limits.request_timeout_seconds + 5.0,
        ))
        .await;
    let load_end = Instant::now();
    let engine_cpu_after = engine_cpu(options.engine_pid);
    let self_cpu_after = procfs::cpu_seconds("self");
    progress.finish();
    drop(progress);

    let accepted = stats.with(|s| s.accepted.clone());
    progress::say(
        mode,
        &format!(
            "load done; checking {} accepted batches and {} boxes",
            accepted.len(),
            citizens.bsns.len()
        ),
    );
    let keys = Arc::new(afnemers.iter().map(|a| a.key.clone()).collect::<Vec<_>>());
    let findings = verify::check(
        &api,
        payloads.clone(),
        keys,
        &citizens,
        accepted,
        Duration::from_secs_f64(scenario.limits.verify_deadline_seconds),
    )
    .await?;
    let (peak_rss, vm_hwm) = rss
        .as_ref()
        .map_or((None, None), procfs::RssSampler::finish);

    let measured = Measured {
        run_id,
        started_at,
        start: start.into_std(),
        load_end: load_end.into_std(),
        window,
        open_at_end,
        engine_cpu: engine_cpu_before.zip(engine_cpu_after),
        self_cpu: self_cpu_before.zip(self_cpu_after),
        peak_rss,
        vm_hwm,
        attachment_sizes: payloads.pdf_sizes(),
    };
    let mut report = stats.with(|s| build_report(&options, &scenario, s, &findings, &measured));
    write_files(&options.out_dir, &mut report)?;
    progress::say(
        mode,
        &format!(
            "report in {}: achieved {:.0} of {:.0} berichten/s offered, loss check {}",
            options.out_dir.display(),
            report.achieved_msgs_per_s,
            report.offered_msgs_per_s,
            if report.loss_check.passed {
                "passed"
            } else {
                "FAILED"
            }
        ),
    );
    Ok(report)
}

/// Figures taken around the load.
#[derive(Debug)]
struct Measured {
    run_id: u32,
    started_at: jiff::Timestamp,
    start: std::time::Instant,
    load_end: std::time::Instant,
    window: Duration,
    open_at_end: u64,
    engine_cpu: Option<(f64, f64)>,
    self_cpu: Option<(f64, f64)>,
    peak_rss: Option<u64>,
    vm_hwm: Option<u64>,
    attachment_sizes: Vec<usize>,
}

fn ms(h: &stats::Latency, q: f64) -> Option<f64> {
    (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0)
}

fn seconds_between(later: SystemTime, earlier: SystemTime) -> f64 {
    later
        .duration_since(earlier)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn build_report(
    options: &Options,
    scenario: &Scenario,
    s: &stats::Inner,
    findings: &verify::Findings,
    m: &Measured,
) -> Report {
    let last_accept_elapsed = s.last_accept.map_or(0.0, |(at, _)| {
        at.saturating_duration_since(m.start).as_secs_f64()
    });
    let load_seconds = m.window.as_secs_f64().max(last_accept_elapsed).max(1e-3);
    let window_seconds = m.window.as_secs_f64().max(1e-3);
    let busy_seconds = m
        .load_end
        .saturating_duration_since(m.start)
        .as_secs_f64()
        .max(1e-3);

    let mut all = stats::CallStats::default();
    let mut groups = Vec::new();
    let mut bandwidth = Bandwidth::default();
    let (mut offered, mut accepted) = (0u64, 0u64);
    for (spec, g) in scenario.afnemers.iter().zip(&s.groups) {
        offered += g.offered_messages;
        accepted += g.accepted_messages;
        bandwidth.offered_request_bytes += g.offered_bytes;
        bandwidth.accepted_request_bytes += g.accepted_bytes;
        bandwidth.accepted_attachment_bytes += g.accepted_attachment_bytes;
        for (code, n) in &g.calls.by_status {
            *all.by_status.entry(*code).or_insert(0) += n;
        }
        for (value, n) in &g.calls.retry_after {
            *all.retry_after.entry(value.clone()).or_insert(0) += n;
        }
        all.transport_errors += g.calls.transport_errors;
        all.not_sent += g.calls.not_sent;
        let _ = all.latency_all.add(&g.calls.latency_all);
        let _ = all.latency_ok.add(&g.calls.latency_ok);
        groups.push(GroupReport {
            name: spec.name.clone(),
            afnemers: spec.count,
            mix: match spec.mix {
                Mix::Text => "text".to_owned(),
                Mix::Sla => "sla".to_owned(),
            },
            batch_size: spec.batch_size,
            offered_messages: g.offered_messages,
            accepted_messages: g.accepted_messages,
            throttled_messages: g.throttled_messages,
            offered_msgs_per_s: g.offered_messages as f64 / window_seconds,
            achieved_msgs_per_s: g.accepted_messages as f64 / load_seconds,
            accept_latency_ms: Percentiles::of(&g.calls.latency_ok),
            answer_latency_ms: Percentiles::of(&g.calls.latency_all),
            status_counts: StatusCounts::of(&g.calls, 202),
            status_by_code: report::by_code(&g.calls),
            retry_after: g.calls.retry_after.clone(),
        });
    }
    bandwidth.offered_mb_per_s = bandwidth.offered_request_bytes as f64 / 1e6 / window_seconds;
    bandwidth.accepted_mb_per_s = bandwidth.accepted_request_bytes as f64 / 1e6 / load_seconds;
    bandwidth.accepted_attachment_mb_per_s =
        bandwidth.accepted_attachment_bytes as f64 / 1e6 / load_seconds;

    let timeline: Vec<TimelinePoint> = s
        .timeline
        .iter()
        .enumerate()
        .map(|(i, sec)| TimelinePoint {
            second: i as u64,
            offered_msgs: sec.offered_messages,
            accepted_msgs: sec.accepted_messages,
            throttled_msgs: sec.throttled_messages,
            accepted_mb: sec.accepted_bytes as f64 / 1e6,
            accept_p50_ms: ms(&sec.accept_latency, 0.5),
            accept_p99_ms: ms(&sec.accept_latency, 0.99),
            accept_p999_ms: ms(&sec.accept_latency, 0.999),
            portal_p50_ms: ms(&sec.portal_latency, 0.5),
            portal_p99_ms: ms(&sec.portal_latency, 0.99),
            portal_p999_ms: ms(&sec.portal_latency, 0.999),
        })
        .collect();

    let last_accept_wall = s.last_accept.map(|(_, wall)| wall);
    let processing_lag_seconds = match (findings.last_verwerkt, last_accept_wall) {
        (Some(verwerkt), Some(wall)) => jiff::Timestamp::try_from(wall)
            .ok()
            .map(|wall| verwerkt.duration_since(wall).as_secs_f64().max(0.0)),
        _ => None,
    };
    let processing_lag_observed_seconds = findings
        .all_verwerkt_seen
        .zip(last_accept_wall)
        .map(|(seen, wall)| seconds_between(seen, wall));

    let mut notes = Vec::new();
    match plot::font() {
        Some(path) => notes.push(format!("plot font: {path}")),
        None => notes.push(
            "no TrueType font found: plots are drawn without labels (install Debian's fonts-dejavu-core, or set BERICHTENBOX_LOADTEST_FONT)".to_owned(),
        ),
    }
    if options.engine_pid.is_none() {
        notes.push("engine RSS and CPU not measured: pass --engine-pid".to_owned());
    }
    let send_lag = Percentiles::of(&s.send_lag);
    if send_lag.p99 > 50.0 {
        notes.push(format!(
            "the generator left requests late (send lag p99 {:.1} ms): the machine was short of CPU; latencies include that delay, as open-loop latencies should",
            send_lag.p99
        ));
    }
    if all.not_sent > 0 {
        notes.push(format!(
            "{} requests were not sent: {} were in flight (limits.max_in_flight)",
            all.not_sent, scenario.limits.max_in_flight
        ));
    }
    if m.open_at_end > 0 {
        notes.push(format!(
            "{} requests were still unanswered when the check began",
            m.open_at_end
        ));
    }
    if scenario.validaties.per_second > 0.0 && s.validaties.count(404) > 0 {
        notes.push(
            "POST /v1/validaties answered 404: the engine has no Validatieservice yet".to_owned(),
        );
    }
    if !m.attachment_sizes.is_empty() {
        let mut sizes = m.attachment_sizes.clone();
        sizes.sort_unstable();
        let at = |q: f64| sizes[((sizes.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
        notes.push(format!(
            "PDF sizes of the SLA mix (pool of {}): min {:.0} KB, median {:.0} KB, p90 {:.0} KB, max {:.0} KB",
            sizes.len(),
            at(0.0),
            at(0.5),
            at(0.9),
            at(1.0)
        ));
    }
    notes.push(
        "processing_lag_seconds compares the engine's verwerktOp with this machine's clock: meaningful when both run on one machine".to_owned(),
    );

    let cpu_percent = |pair: Option<(f64, f64)>| {
        pair.map(|(before, after)| (after - before) / busy_seconds * 100.0)
    };
    let mut error_samples = s.error_samples.clone();
    error_samples.extend(findings.samples.iter().cloned());

    Report {
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        target: options.target.clone(),
        run_id: format!("{:08x}", m.run_id),
        started_at: m.started_at.to_string(),
        afnemers: scenario.afnemer_count(),
        citizens_with_box: scenario.citizens.accounts,
        load_seconds,
        offered_messages: offered,
        accepted_messages: accepted,
        offered_msgs_per_s: offered as f64 / window_seconds,
        achieved_msgs_per_s: accepted as f64 / load_seconds,
        accept_latency_ms: Percentiles::of(&all.latency_ok),
        answer_latency_ms: Percentiles::of(&all.latency_all),
        status_counts: StatusCounts::of(&all, 202),
        status_by_code: report::by_code(&all),
        retry_after: all.retry_after.clone(),
        bandwidth,
        groups,
        portal: (scenario.portal.reads_per_second > 0.0)
            .then(|| CallReport::of(&s.portal, window_seconds)),
        validaties: (scenario.validaties.per_second > 0.0).then(|| CallReport {
            results: Some(s.validatie_results),
            mismatches: Some(s.validatie_mismatches),
            ..CallReport::of(&s.validaties, window_seconds)
        }),
        peak_rss_bytes: m.peak_rss,
        engine_vm_hwm_bytes: m.vm_hwm,
        engine_cpu_percent: cpu_percent(m.engine_cpu),
        processing_lag_seconds,
        processing_lag_observed_seconds,
        verification_seconds: findings.seconds,
        verwerkingscodes: findings.codes.clone(),
        loss_check: findings.loss.clone(),
        generator: GeneratorReport {
            send_lag_ms: send_lag,
            peak_in_flight: s.peak_in_flight,
            max_in_flight: scenario.limits.max_in_flight,
            open_at_end: m.open_at_end,
            cpu_percent: cpu_percent(m.self_cpu),
        },
        error_samples,
        notes,
        timeline,
        files: Vec::new(),
    }
}

/// Writes the plots, report.md and report.json into `dir`.
fn write_files(dir: &std::path::Path, report: &mut Report) -> anyhow::Result<()> {
    match plot::write(dir, &report.timeline) {
        Ok(files) => report.files.extend(files),
        Err(error) => report.notes.push(format!("plots not written: {error:#}")),
    }
    report.files.insert(0, "report.md".to_owned());
    report.files.insert(0, "report.json".to_owned());
    std::fs::write(dir.join("report.md"), report.markdown()).context("write report.md")?;
    let json = serde_json::to_vec_pretty(report).context("report as JSON")?;
    std::fs::write(dir.join("report.json"), json).context("write report.json")?;
    Ok(())
}
