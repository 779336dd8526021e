//! `jetstream-publish`: the peer of the engine's durable ingest, for
//! `scripts/bench-sidebyside.sh`.
//!
//! It (re)creates a JetStream stream with file storage and one subject, then has N publishers
//! each publish the same text-only batch bodies the engine gets from `scripts/wrk-batches.lua`
//! (byte for byte the same shape: ids of the same width, the same texts, a BSN from the same
//! list of 997), one message per batch, each publisher awaiting the ack of its message
//! (`PublishAckFuture`) before it sends the next, for D seconds. So it is what wrk does to the
//! engine with N connections: one request in flight per connection, the next sent when the
//! answer came.
//!
//! Berichten are counted as the engine counts them: a batch of k berichten is k berichten,
//! although JetStream stores it as one message.
//!
//! The last line of its output is `RESULT key=value ...`, for scripts.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage, stream};
use berichtenbox_loadtest::ids;
use clap::Parser;
use hdrhistogram::Histogram;

/// Publishes text-only batch bodies to a JetStream stream with file storage, each publisher
/// awaiting its ack, and prints messages/s, batches/s and the ack latency.
#[derive(Debug, Parser)]
#[command(name = "jetstream-publish", version)]
struct Cli {
    /// The NATS server.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    server: String,
    /// The stream, deleted and created anew with file storage.
    #[arg(long, default_value = "BERICHTEN")]
    stream: String,
    /// The stream's one subject, published to.
    #[arg(long, default_value = "berichten.batches")]
    subject: String,
    /// Concurrent publishers, each with one message awaiting its ack.
    #[arg(long, default_value_t = 64)]
    publishers: u32,
    /// Berichten per batch (one JetStream message per batch).
    #[arg(long, default_value_t = 100)]
    batch_size: u32,
    /// How long to publish, in seconds.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Worker threads of the client's runtime.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Send each batchId as `Nats-Msg-Id`, so JetStream deduplicates batches (the engine is
    /// idempotent on batchId); off: plain publishes.
    #[arg(long)]
    msg_id: bool,
    /// Keep the stream afterwards (default: delete it).
    #[arg(long)]
    keep: bool,
}

/// The BSNs `scripts/wrk-batches.lua` addresses: the first 997 numbers from 100000000 in steps
/// of 7 that pass the elfproef.
fn wrk_bsns() -> Vec<String> {
    (0u64..)
        .map(|k| (100_000_000 + 7 * k).to_string())
        .filter(|bsn| ids::is_valid_bsn(bsn))
        .take(997)
        .collect()
}

/// The body `scripts/wrk-batches.lua` sends as request `counter` of thread `tid` in run `run`.
fn wrk_batch(
    tid: u32,
    run: u16,
    counter: u64,
    per_batch: u32,
    bsns: &[String],
) -> (String, Vec<u8>) {
    use std::fmt::Write as _;
    let batch_id = format!("{tid:08x}-{run:04x}-4000-8000-{counter:012x}");
    let mut body = String::with_capacity(100 + 310 * per_batch as usize);
    body.push_str("{\"batchId\":\"");
    body.push_str(&batch_id);
    body.push_str("\",\"aanmaakDatum\":\"2026-11-28T10:00:00Z\",\"berichten\":[");
    for i in 1..=u64::from(per_batch) {
        if i > 1 {
            body.push(',');
        }
        let bsn = &bsns[((counter * u64::from(per_batch) + i) % bsns.len() as u64) as usize];
        // Writes into a String cannot fail.
        let _ = write!(
            body,
            "{{\"berichtId\":\"{tid:08x}-{run:04x}-4000-9{:03x}-{counter:012x}\",\"berichtType\":\"AANSLAG\",\"ontvanger\":\"{bsn}\",\
             \"onderwerp\":\"Uw aanslag inkomstenbelasting 2026\",\"tekst\":\"Beste burger, in uw Berichtenbox \
             staat een nieuw bericht over uw aanslag. Log in om het te lezen. Met vriendelijke groet.\"}}",
            i % 4096
        );
    }
    body.push_str("]}");
    (batch_id, body.into_bytes())
}

/// What one publisher saw.
#[derive(Debug)]
struct Tally {
    batches: u64,
    latency_us: Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 120_000_000, 3).context("create the latency histogram")
}

async fn publisher(
    js: jetstream::Context,
    cli: Arc<Cli>,
    tid: u32,
    run: u16,
    bsns: Arc<Vec<String>>,
    deadline: Instant,
) -> anyhow::Result<Tally> {
    let mut tally = Tally {
        batches: 0,
        latency_us: histogram()?,
        errors: 0,
        first_error: None,
    };
    let mut counter = 0u64;
    while Instant::now() < deadline {
        counter += 1;
        let (batch_id, body) = wrk_batch(tid, run, counter, cli.batch_size, &bsns);
        let mut message = PublishMessage::build().payload(body.into());
        if cli.msg_id {
            message = message.message_id(&batch_id);
        }
        let sent = Instant::now();
        let acked = match js.send_publish(cli.subject.clone(), message).await {
            Ok(ack) => ack.await,
            Err(error) => Err(error),
        };
        match acked {
            Ok(_) => {
                tally.batches += 1;
                let us = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                tally.latency_us.saturating_record(us.max(1));
            }
            Err(error) => {
                tally.errors += 1;
                if tally.first_error.is_none() {
                    tally.first_error = Some(format!("{error}"));
                }
                if tally.errors >= 100 || error.kind() == PublishErrorKind::BrokenPipe {
                    break;
                }
            }
        }
    }
    Ok(tally)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.publishers == 0 || cli.batch_size == 0 {
        bail!("--publishers and --batch-size must be at least 1");
    }
    if !(cli.duration > 0.0 && cli.duration.is_finite()) {
        bail!("--duration must be positive");
    }
    let client = async_nats::connect(&cli.server)
        .await
        .with_context(|| format!("connect to {}", cli.server))?;
    let server_version = client.server_info().version;
    let js = jetstream::new(client.clone());
    match js.delete_stream(&cli.stream).await {
        Ok(_) => eprintln!("deleted the stream {} left from before", cli.stream),
        Err(error) if error.to_string().contains("not found") => {}
        Err(error) => eprintln!("delete stream {} (ignored): {error}", cli.stream),
    }
    let mut created = js
        .create_stream(stream::Config {
            name: cli.stream.clone(),
            subjects: vec![cli.subject.clone()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .with_context(|| format!("create the stream {} (is JetStream on?)", cli.stream))?;

    let run_id: u16 = rand::random();
    let bsns = Arc::new(wrk_bsns());
    let body_bytes = wrk_batch(1, run_id, 1, cli.batch_size, &bsns).1.len();
    println!(
        "nats-server {server_version} at {}: stream {} (file storage, subject {})",
        cli.server, cli.stream, cli.subject
    );
    println!(
        "{} publishers, each awaiting its ack; batches of {} berichten ({body_bytes} bytes of JSON each){}; {:.0} s",
        cli.publishers,
        cli.batch_size,
        if cli.msg_id {
            ", Nats-Msg-Id = batchId"
        } else {
            ""
        },
        cli.duration
    );

    let cli = Arc::new(cli);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(cli.duration);
    let tasks: Vec<_> = (1..=cli.publishers)
        .map(|tid| {
            tokio::spawn(publisher(
                js.clone(),
                cli.clone(),
                tid,
                run_id,
                bsns.clone(),
                deadline,
            ))
        })
        .collect();
    let mut batches = 0u64;
    let mut errors = 0u64;
    let mut first_error = None;
    let mut latency = histogram()?;
    for task in tasks {
        let tally = task.await.context("a publisher panicked")??;
        batches += tally.batches;
        errors += tally.errors;
        first_error = first_error.or(tally.first_error);
        latency
            .add(&tally.latency_us)
            .context("merge the latency histograms")?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let berichten = batches * u64::from(cli.batch_size);
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;

    let info = created.info().await.context("stream info")?;
    let (stored_messages, stored_bytes) = (info.state.messages, info.state.bytes);
    if !cli.keep {
        js.delete_stream(&cli.stream)
            .await
            .with_context(|| format!("delete the stream {}", cli.stream))?;
    }
    client.flush().await.context("flush")?;

    println!(
        "acked {batches} batches ({berichten} berichten) in {seconds:.2} s: {:.0} batches/s, {:.0} berichten/s",
        batches as f64 / seconds,
        berichten as f64 / seconds
    );
    println!(
        "ack latency p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        ms(0.5),
        ms(0.99),
        ms(0.999),
        latency.max() as f64 / 1000.0
    );
    println!(
        "stream held {stored_messages} messages, {:.1} MB; errors {errors}{}",
        stored_bytes as f64 / 1e6,
        first_error
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    );
    println!(
        "RESULT berichten_per_s={:.0} batches_per_s={:.0} batches={batches} berichten={berichten} seconds={seconds:.3} ack_p50_ms={:.3} ack_p99_ms={:.3} ack_p999_ms={:.3} body_bytes={body_bytes} stored_messages={stored_messages} errors={errors} server_version={server_version}",
        berichten as f64 / seconds,
        batches as f64 / seconds,
        ms(0.5),
        ms(0.99),
        ms(0.999),
    );
    if batches == 0 {
        bail!("no publish was acknowledged");
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()
        .context("start the runtime")
        .and_then(|runtime| runtime.block_on(run(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("jetstream-publish: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_the_wrk_scripts() {
        let bsns = wrk_bsns();
        assert_eq!(bsns.len(), 997);
        // What the Lua script's valid_bsns(997) gives.
        assert_eq!(bsns[..3], ["100000630", "100000721", "100000770"]);
        assert_eq!(bsns[996], "100078813");
        assert!(bsns.iter().all(|b| ids::is_valid_bsn(b)));
        let (id, body) = wrk_batch(1, 0xabcd, 7, 2, &bsns);
        assert_eq!(id, "00000001-abcd-4000-8000-000000000007");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
        let berichten = json["berichten"].as_array().expect("berichten");
        assert_eq!(berichten.len(), 2);
        assert_eq!(
            berichten[1]["berichtId"],
            "00000001-abcd-4000-9002-000000000007"
        );
        assert_eq!(berichten[0]["ontvanger"], bsns[7 * 2 + 1].as_str());
    }
}
