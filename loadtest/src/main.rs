//! `berichtenbox-loadtest`: runs a scenario against a running engine and writes the report.
//!
//! Exits 0 when the run's loss check passed, 1 when it found losses or duplicates, 2 when
//! the run could not be done.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use berichtenbox_loadtest::progress::Mode;
use berichtenbox_loadtest::scenario::Scenario;
use berichtenbox_loadtest::{Options, run};
use clap::Parser;

/// Open-loop load test of the Berichtenbox engine: afnemers deliver batches on a fixed
/// schedule (answered or not), citizens read their boxes, then every accepted bericht is
/// checked in its box. Writes report.json, report.md and PNG plots.
#[derive(Debug, Parser)]
#[command(name = "berichtenbox-loadtest", version)]
struct Cli {
    /// The engine's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// The operator's bearer token (the engine's BERICHTENBOX_BEHEER_TOKEN).
    #[arg(long, env = "BERICHTENBOX_BEHEER_TOKEN", hide_env_values = true)]
    beheer_token: String,
    /// The HS256 secret of citizens' tokens (the engine's BERICHTENBOX_BURGER_JWT_SECRET).
    #[arg(long, env = "BERICHTENBOX_BURGER_JWT_SECRET", hide_env_values = true)]
    burger_jwt_secret: String,
    /// The scenario file (loadtest/scenarios/*.toml).
    #[arg(long)]
    scenario: PathBuf,
    /// Overrides the scenario's duration, in seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Where the report and plots go.
    #[arg(long, default_value = "loadtest-report")]
    out: PathBuf,
    /// The engine's process id, to sample its RSS (VmRSS, VmHWM) and CPU from /proc.
    #[arg(long)]
    engine_pid: Option<u32>,
    /// Worker threads of the generator.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// No progress output.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = (|| -> anyhow::Result<bool> {
        let scenario = Scenario::from_file(&cli.scenario)?;
        let mut options = Options::new(
            cli.target,
            cli.beheer_token,
            cli.burger_jwt_secret,
            scenario,
            cli.out.clone(),
        );
        if let Some(seconds) = cli.duration {
            anyhow::ensure!(
                seconds > 0.0 && seconds.is_finite(),
                "--duration must be positive"
            );
            options.duration = Some(Duration::from_secs_f64(seconds));
        }
        options.engine_pid = cli.engine_pid;
        options.threads = cli.threads;
        options.progress = if cli.quiet { Mode::Quiet } else { Mode::Auto };
        let report = run(options)?;
        println!("{}", cli.out.join("report.md").display());
        println!(
            "offered {:.0}/s achieved {:.0}/s accept p50 {:.2} ms p99 {:.2} ms p99.9 {:.2} ms; loss check {}",
            report.offered_msgs_per_s,
            report.achieved_msgs_per_s,
            report.accept_latency_ms.p50,
            report.accept_latency_ms.p99,
            report.accept_latency_ms.p999,
            if report.loss_check.passed {
                "passed"
            } else {
                "FAILED"
            }
        );
        Ok(report.loss_check.passed)
    })();
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("berichtenbox-loadtest: {error:#}");
            ExitCode::from(2)
        }
    }
}
