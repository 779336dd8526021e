//! The retention soak (issue 11): simulated days of a scenario's load (`sla-day` by default)
//! against an engine in this process whose clock is moved a day on after each, with the
//! data directory's size measured every day. It shows whether the size levels off once the
//! longest retention period has passed.
//!
//! Each day: the load (the load harness's own set-up and open-loop load; a fresh run id a
//! day, so ids never repeat), a wait until every parked bericht is processed, the size; then
//! the clock a day on, a wait for a retention pass begun after that, the size again. Box
//! berichten are kept `--berichten-dagen` days (the engine's default keeps them until the
//! citizen deletes them, which no soak could level off). Writes `soak.csv`, `soak.md` and
//! `soak.png` into `--out`.
//!
//! ```sh
//! cargo run --release -p berichtenbox-bench --example soak -- \
//!     --data-dir /tmp/soak-data --out /tmp/soak-out --days 14
//! ```

use berichtenbox_bench::{du, metric_sum};
use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use berichtenbox::config::Config;
use berichtenbox::server;
use berichtenbox_actors::core::clock::{Clock, SharedClock, SystemClock};
use berichtenbox_actors::telemetry;
use berichtenbox_loadtest::load::Load;
use berichtenbox_loadtest::payload::Payloads;
use berichtenbox_loadtest::scenario::Scenario;
use berichtenbox_loadtest::setup::{self, Api};
use berichtenbox_loadtest::stats::Stats;
use clap::Parser;

const BEHEER_TOKEN: &str = "soak-beheer-token-van-minstens-32-bytes";
const BURGER_JWT_SECRET: &str = "soak-burger-jwt-secret-van-minstens-32-bytes";
const DAY: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

#[derive(Debug, Parser)]
struct Args {
    /// A new (or empty) data directory: it grows by gigabytes.
    #[arg(long)]
    data_dir: PathBuf,
    /// Where soak.csv, soak.md and soak.png go.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 14)]
    days: u32,
    #[arg(long, default_value = "loadtest/scenarios/sla-day.toml")]
    scenario: PathBuf,
    /// Overrides the scenario's berichten per afnemer group (a smaller day).
    #[arg(long)]
    messages: Option<u64>,
    /// `bewaren.berichten_dagen`: how long box berichten are kept.
    #[arg(long, default_value_t = 7)]
    berichten_dagen: u32,
}

/// The system's clock moved on by an offset the soak sets: rates and timeouts run in real
/// time, dates and retention on the simulated day.
#[derive(Debug)]
struct SoakClock {
    system: SystemClock,
    offset_nanos: AtomicI64,
}

impl SoakClock {
    fn offset(&self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_nanos(self.offset_nanos.load(Ordering::SeqCst))
    }

    fn advance(&self, by: jiff::SignedDuration) {
        let nanos = i64::try_from(by.as_nanos()).unwrap_or(i64::MAX);
        self.offset_nanos.fetch_add(nanos, Ordering::SeqCst);
    }
}

impl Clock for SoakClock {
    fn now(&self) -> jiff::Timestamp {
        self.system.now() + self.offset()
    }

    fn monotonic_nanos(&self) -> u64 {
        let offset = u64::try_from(self.offset_nanos.load(Ordering::SeqCst)).unwrap_or(0);
        self.system.monotonic_nanos().saturating_add(offset)
    }
}

/// One simulated day's figures.
#[derive(Debug)]
struct Day {
    day: u32,
    accepted_berichten: u64,
    load_seconds: f64,
    processed_seconds: f64,
    bytes_after_load: u64,
    bytes_after_retention: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut scenario = Scenario::from_file(&args.scenario)?;
    if let Some(messages) = args.messages {
        for group in &mut scenario.afnemers {
            group.messages = Some(messages);
        }
        scenario.check()?;
    }
    std::fs::create_dir_all(&args.out)?;

    let mut config = Config::default();
    config.server.listen = ([127, 0, 0, 1], 0).into();
    config.server.ops_listen = ([127, 0, 0, 1], 0).into();
    config.store.data_dir = args.data_dir.clone();
    config.auth.beheer_token = BEHEER_TOKEN.into();
    config.auth.burger_jwt_secret = BURGER_JWT_SECRET.into();
    config.bewaren.ronde_seconden = 1;
    config.bewaren.berichten_dagen = args.berichten_dagen;
    config.validate()?;
    let clock = Arc::new(SoakClock {
        system: SystemClock::new(),
        offset_nanos: AtomicI64::new(0),
    });
    let running = server::start(
        config.clone(),
        TcpListener::bind(config.server.listen)?,
        TcpListener::bind(config.server.ops_listen)?,
        SharedClock::new(clock.clone()),
        Some(server::install_metrics()?),
        std::future::pending(),
    )?;
    let base = format!("http://{}", running.address());
    let metrics_url = format!("http://{}/metrics", running.ops_address());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let api = Api {
        client: client.clone(),
        base,
    };
    let (afnemers, citizens) = runtime.block_on(async {
        let afnemers = setup::afnemers(&api, BEHEER_TOKEN, &scenario).await?;
        // Checked against the system's clock (jsonwebtoken), so a soak's days need no more.
        let citizens = setup::citizens(
            &api,
            BURGER_JWT_SECRET,
            &scenario,
            Duration::from_secs(24 * 3600),
        )
        .await?;
        anyhow::Ok((afnemers, citizens))
    })?;

    let mut days = Vec::new();
    for day in 1..=args.days {
        let began = Instant::now();
        let payloads = Arc::new(Payloads::new(&scenario, day, citizens.bsns.clone()));
        let start = tokio::time::Instant::now() + Duration::from_millis(200);
        let stats = Arc::new(Stats::new(start.into_std(), scenario.afnemers.len()));
        let load = Arc::new(Load {
            api: api.clone(),
            stats: stats.clone(),
            payloads,
            scenario: scenario.clone(),
            duration: scenario.duration(),
            start,
            aanmaak_offset: clock.offset(),
        });
        runtime.block_on(async {
            load.run(&afnemers, &citizens).await;
            load.drain(Duration::from_secs(120)).await;
        });
        let load_seconds = began.elapsed().as_secs_f64();
        let accepted_berichten: u64 =
            stats.with(|s| s.accepted.iter().map(|a| u64::from(a.messages)).sum());
        wait_for_metric(&runtime, &client, &metrics_url, "processing done", |m| {
            metric_sum(m, telemetry::GEPARKEERD_BERICHTEN) == 0.0
        })?;
        let processed_seconds = began.elapsed().as_secs_f64();
        let bytes_after_load = du(&args.data_dir)?;

        clock.advance(DAY);
        let from = clock.now().as_millisecond() as f64 / 1000.0;
        wait_for_metric(&runtime, &client, &metrics_url, "a retention pass", |m| {
            metric_sum(m, telemetry::RETENTION_LAST_PASS) >= from
        })?;
        let bytes_after_retention = du(&args.data_dir)?;
        let figures = Day {
            day,
            accepted_berichten,
            load_seconds,
            processed_seconds,
            bytes_after_load,
            bytes_after_retention,
        };
        println!("{figures:?}");
        days.push(figures);
        write_results(&args.out, &days)?;
    }
    running.shutdown()?;
    Ok(())
}

/// Polls the engine's `/metrics` until `done` holds, at most an hour.
fn wait_for_metric(
    runtime: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    url: &str,
    what: &str,
    done: impl Fn(&str) -> bool,
) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(3600);
    while Instant::now() < until {
        let text = runtime.block_on(async { client.get(url).send().await?.text().await })?;
        if done(&text) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    anyhow::bail!("no {what} within an hour")
}

fn write_results(out: &Path, days: &[Day]) -> anyhow::Result<()> {
    let gb = |bytes: u64| bytes as f64 / 1e9;
    let mut csv = String::from(
        "day,accepted_berichten,load_seconds,processed_seconds,bytes_after_load,bytes_after_retention\n",
    );
    let mut md = String::from(
        "| day | berichten accepted | load and processing (s) | after the day's load (GB) | after the next day's retention pass (GB) |\n| --- | --- | --- | --- | --- |\n",
    );
    for d in days {
        writeln!(
            csv,
            "{},{},{:.1},{:.1},{},{}",
            d.day,
            d.accepted_berichten,
            d.load_seconds,
            d.processed_seconds,
            d.bytes_after_load,
            d.bytes_after_retention
        )?;
        writeln!(
            md,
            "| {} | {} | {:.0} | {:.2} | {:.2} |",
            d.day,
            d.accepted_berichten,
            d.processed_seconds,
            gb(d.bytes_after_load),
            gb(d.bytes_after_retention)
        )?;
    }
    std::fs::write(out.join("soak.csv"), csv)?;
    std::fs::write(out.join("soak.md"), md)?;
    let line = |pick: fn(&Day) -> u64| -> Vec<(f64, f64)> {
        days.iter()
            .map(|d| (f64::from(d.day), gb(pick(d))))
            .collect()
    };
    berichtenbox_loadtest::plot::sizes_per_day(
        &out.join("soak.png"),
        &[
            ("after the day's load", line(|d| d.bytes_after_load)),
            (
                "after the next day's retention pass",
                line(|d| d.bytes_after_retention),
            ),
        ],
    )
}
