//! The Leveranciersportaal's overview under history (issue 13): the server time of
//! `GET /leveranciersportaal` for an afnemer with 30 days of 150,000 berichten a day, against
//! the SLA's portal norm (p99 under 200 ms), with a peer measured in the same run.
//!
//! 1. History, written through the store's own roles on a moved clock: each day, the afnemer's
//!    150 batches of 1,000 berichten are parked (`Parking::submit_park`: the parked berichten,
//!    the batch record, the day's `aangeboden`) and completed (`Processing::complete`: the
//!    receipt, the receipt feed, `verwerkt` and `afgewezen`, and the index of afwijzingen,
//!    with 5% of each batch rejected), spread over the day; and 399 other afnemers park and
//!    complete a batch of one bericht a day each, so the day counters hold 400 afnemers as at
//!    the norm. Boxes and notifications are left out: the portal does not read them.
//! 2. The engine opens that data directory (its clock at the last day's afternoon), runs its
//!    first retention pass (receipts older than 6 days go, as in production), and the
//!    afnemer gets forecasts for its 18 months.
//! 3. Signed in through the form, `--requests` sequential `GET /leveranciersportaal` over
//!    loopback, each timed by the client (so the figure is the server's time plus loopback);
//!    the same number of the afnemer's `GET /v1/rapportages/dagelijks` (one day's counters
//!    of every afnemer, the API's nearest read) as the peer, interleaved so both see the same
//!    machine; and the recent batches and afwijzingen pages for reference.
//!
//! ```sh
//! cargo run --release -p berichtenbox-bench --example portaal -- --data-dir /tmp/portaal-data
//! ```

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berichtenbox::config::Config;
use berichtenbox::server;
use berichtenbox_actors::core::clock::{Clock, ManualClock, SharedClock};
use berichtenbox_actors::core::model::{Batch, Bericht};
use berichtenbox_actors::core::verwerking::{Stadium, VerwerkingsCode};
use berichtenbox_actors::store::embedded::{EmbeddedConfig, EmbeddedStore};
use berichtenbox_actors::store::{
    Admin as _, BatchRecord, BatchStatus, BerichtUitkomst, Completion, ParkOutcome, ParkRequest,
    Parking as _, Processing as _, Receipt,
};
use berichtenbox_actors::telemetry;
use berichtenbox_bench::{du, guid, metric_sum, valid_bsns};
use clap::Parser;
use serde_json::json;

const BEHEER_TOKEN: &str = "portaal-bench-beheer-token-van-minstens-32-bytes";
const OIN: &str = "00000001002003004000";

#[derive(Debug, Parser)]
struct Args {
    /// A new (or empty) data directory; it grows to a few gigabytes.
    #[arg(long)]
    data_dir: PathBuf,
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// The afnemer's berichten a day, in batches of 1,000.
    #[arg(long, default_value_t = 150_000)]
    per_day: u32,
    /// Other afnemers, each one bericht a day.
    #[arg(long, default_value_t = 399)]
    others: u32,
    /// Timed requests of each kind.
    #[arg(long, default_value_t = 2000)]
    requests: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let zone = jiff::tz::TimeZone::get("Europe/Amsterdam")?;
    // The last day's afternoon; the history begins `days - 1` days before it.
    let today = jiff::Zoned::now().with_time_zone(zone.clone()).date();
    let last = today.at(15, 0, 0, 0).to_zoned(zone.clone())?.timestamp();
    let first_day = last - jiff::SignedDuration::from_hours(24 * i64::from(args.days - 1));
    let started = Instant::now();
    let written = write_history(&args, first_day)?;
    let history_seconds = started.elapsed().as_secs_f64();
    let bytes = du(&args.data_dir)?;
    println!(
        "history: {written} berichten over {} days written in {history_seconds:.0} s; data directory {:.2} GB",
        args.days,
        bytes as f64 / 1e9
    );

    let mut config = Config::default();
    config.server.listen = ([127, 0, 0, 1], 0).into();
    config.server.ops_listen = ([127, 0, 0, 1], 0).into();
    config.server.workers = 2;
    config.store.data_dir = args.data_dir.clone();
    config.auth.beheer_token = BEHEER_TOKEN.into();
    config.bewaren.ronde_seconden = 1;
    config.validate()?;
    let clock = Arc::new(ManualClock::new(last));
    let mut running = server::start(
        config.clone(),
        TcpListener::bind(config.server.listen)?,
        TcpListener::bind(config.server.ops_listen)?,
        SharedClock::new(clock.clone()),
        Some(server::install_metrics()?),
        std::future::pending(),
    )?;
    let base = format!("http://{}", running.address());
    let metrics = format!("http://{}/metrics", running.ops_address());
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()?;

    // The first retention pass, so the measurement does not share the disk with it.
    let since = last.as_millisecond() as f64 / 1000.0;
    let until = Instant::now() + Duration::from_secs(600);
    loop {
        let page = client.get(&metrics).send()?.text()?;
        if metric_sum(&page, telemetry::RETENTION_LAST_PASS) >= since {
            break;
        }
        anyhow::ensure!(
            Instant::now() < until,
            "no retention pass within 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let beheer = |method: reqwest::Method, path: &str| {
        client
            .request(method, format!("{base}{path}"))
            .bearer_auth(BEHEER_TOKEN)
    };
    let reply = beheer(reqwest::Method::PUT, &format!("/v1/beheer/afnemers/{OIN}"))
        .json(&json!({ "naam": "Belastingdienst (bench)" }))
        .send()?;
    anyhow::ensure!(reply.status().is_success(), "register: {}", reply.text()?);
    let key: serde_json::Value = beheer(
        reqwest::Method::POST,
        &format!("/v1/beheer/afnemers/{OIN}/api-sleutels"),
    )
    .send()?
    .json()?;
    let key = key["sleutel"].as_str().expect("sleutel").to_owned();
    let this_month = last.to_zoned(zone.clone()).date().first_of_month();
    for ahead in 0..18 {
        let maand = this_month.checked_add(jiff::Span::new().months(ahead))?;
        let reply = client
            .put(format!("{base}/v1/prognoses/{}", maand.strftime("%Y-%m")))
            .bearer_auth(&key)
            .json(&json!({ "aantalBerichten": 4_500_000, "gemiddeldeGrootteKb": 40 }))
            .send()?;
        anyhow::ensure!(reply.status().is_success(), "prognose: {}", reply.text()?);
    }

    // Signing in through the form, as a browser does.
    let form = client.get(format!("{base}/leveranciersportaal")).send()?;
    let aanmeld = cookie(&form, "portaal_aanmelden").expect("the sign-in form's cookie");
    let html = form.text()?;
    let csrf = field(&html, "csrf");
    let signed_in = client
        .post(format!("{base}/leveranciersportaal/inloggen"))
        .header("Cookie", format!("portaal_aanmelden={aanmeld}"))
        .form(&[("sleutel", key.as_str()), ("csrf", csrf.as_str())])
        .send()?;
    anyhow::ensure!(signed_in.status() == 303, "sign-in: {}", signed_in.status());
    let sessie = cookie(&signed_in, "portaal_sessie").expect("a session");
    let session_cookie = format!("portaal_sessie={sessie}");

    let portal = |path: &str| {
        client
            .get(format!("{base}{path}"))
            .header("Cookie", session_cookie.as_str())
    };
    let api = |path: &str| client.get(format!("{base}{path}")).bearer_auth(&key);
    // Warm-up: the first reads fill the block caches.
    for _ in 0..50 {
        timed(portal("/leveranciersportaal"))?;
        timed(api("/v1/rapportages/dagelijks"))?;
    }
    let mut overview = Vec::with_capacity(args.requests);
    let mut peer = Vec::with_capacity(args.requests);
    for _ in 0..args.requests {
        overview.push(timed(portal("/leveranciersportaal"))?);
        peer.push(timed(api("/v1/rapportages/dagelijks"))?);
    }
    let reference = args.requests / 10;
    let mut batches = Vec::new();
    let mut afwijzingen = Vec::new();
    for _ in 0..reference {
        batches.push(timed(portal("/leveranciersportaal/batches"))?);
        afwijzingen.push(timed(portal("/leveranciersportaal/afwijzingen"))?);
    }
    // What was timed showed the history: today's count, a page of batches and of afwijzingen.
    let page = portal("/leveranciersportaal").send()?.text()?;
    let today_count = format!(
        r#"<dd id="vandaag-aangeboden">{}</dd>"#,
        berichtenbox::http::portaal::getal(u64::from(args.per_day))
    );
    anyhow::ensure!(
        page.contains(&today_count),
        "the overview lacks {today_count}"
    );
    let rows = |path: &str, marker: &str| -> anyhow::Result<usize> {
        Ok(portal(path).send()?.text()?.matches(marker).count())
    };
    anyhow::ensure!(rows("/leveranciersportaal/batches", "data-batch-id=")? == 25);
    anyhow::ensure!(rows("/leveranciersportaal/afwijzingen", "<tr data-bericht-id=")? == 50);

    println!();
    println!("| request | n | p50 ms | p99 ms | max ms |");
    println!("| --- | --- | --- | --- | --- |");
    for (name, times) in [
        ("GET /leveranciersportaal (overview)", &mut overview),
        ("GET /v1/rapportages/dagelijks (peer)", &mut peer),
        ("GET /leveranciersportaal/batches", &mut batches),
        ("GET /leveranciersportaal/afwijzingen", &mut afwijzingen),
    ] {
        times.sort_unstable();
        println!(
            "| {name} | {} | {:.2} | {:.2} | {:.2} |",
            times.len(),
            ms(percentile(times, 0.50)),
            ms(percentile(times, 0.99)),
            ms(*times.last().expect("timed"))
        );
    }
    println!(
        "\noverview p99 / peer p99 = {:.2}",
        ms(percentile(&overview, 0.99)) / ms(percentile(&peer, 0.99))
    );
    running.stop();
    running.join()?;
    Ok(())
}

/// Parks and completes the history on a moved clock; answers the berichten written.
fn write_history(args: &Args, first_day: jiff::Timestamp) -> anyhow::Result<u64> {
    let day_start = |day: u32| {
        first_day + jiff::SignedDuration::from_hours(24 * i64::from(day))
            - jiff::SignedDuration::from_hours(14)
    };
    let clock = Arc::new(ManualClock::new(day_start(0)));
    let shared = SharedClock::new(clock.clone());
    let store = EmbeddedStore::open(EmbeddedConfig {
        data_dir: args.data_dir.clone(),
        ..EmbeddedConfig::default()
    })?;
    let bsns = valid_bsns(1000);
    let batches_a_day = args.per_day.div_ceil(1000);
    // A day's batches between 01:00 and 15:00: each on its own Amsterdam day, and the last
    // day's all before the engine's clock.
    let spacing = Duration::from_secs(14 * 3600 / u64::from(batches_a_day + 1));
    let mut written = 0u64;
    for day in 0..args.days {
        let behind = day_start(day).duration_since(clock.now());
        if behind.is_positive() {
            clock.advance(behind.unsigned_abs());
        }
        for n in 0..batches_a_day {
            clock.advance(spacing);
            let count = (args.per_day - n * 1000).min(1000);
            let batch = batch(OIN, day, n, count, &bsns, clock.now());
            written += park_and_complete(&store, &shared, batch, 20)?;
        }
        for other in 0..args.others {
            let oin = format!("{:020}", 10_000 + other);
            let batch = batch(&oin, day, 100_000 + other, 1, &bsns, clock.now());
            written += park_and_complete(&store, &shared, batch, 0)?;
        }
        println!("day {}: written", day + 1);
    }
    store.close()?;
    Ok(written)
}

/// A batch of `count` text berichten.
fn batch(
    oin: &str,
    day: u32,
    n: u32,
    count: u32,
    bsns: &[String],
    aanmaak: jiff::Timestamp,
) -> Batch {
    let high = day * 1_000_000 + n;
    Batch {
        oin: oin.to_owned(),
        batch_id: guid(high, 0xffff_ffff),
        aanmaak_datum: aanmaak,
        berichten: (0..count)
            .map(|i| Bericht {
                bericht_id: guid(high, u64::from(i)),
                bericht_type: "AANSLAG".to_owned(),
                ontvanger: bsns[i as usize % bsns.len()].clone(),
                onderwerp: "Uw aanslag inkomstenbelasting".to_owned(),
                tekst: "In uw Berichtenbox staat een nieuw bericht over uw aanslag.".to_owned(),
                referentie: Some(format!("IB-{high}-{i}")),
                publicatie_datum: None,
                bijlagen: Vec::new(),
            })
            .collect(),
    }
}

/// Parks a batch at the clock's time and completes it at once, one bericht in `reject_every`
/// rejected (0: none); answers its berichten.
fn park_and_complete(
    store: &EmbeddedStore,
    clock: &SharedClock,
    batch: Batch,
    reject_every: u32,
) -> anyhow::Result<u64> {
    let digest = batch.content_digest();
    let ids: Vec<String> = batch
        .berichten
        .iter()
        .map(|b| b.bericht_id.clone())
        .collect();
    let receipt = store.submit_park(ParkRequest {
        batch,
        digest,
        ontvangen_op: clock.now(),
    })?;
    let ParkOutcome::Parked(record) = receipt.blocking_recv()?? else {
        anyhow::bail!("not parked");
    };
    let berichten = ids
        .into_iter()
        .enumerate()
        .map(|(i, bericht_id)| {
            let rejected = reject_every > 0 && (i as u32).is_multiple_of(reject_every);
            BerichtUitkomst {
                bericht_id,
                code: if rejected {
                    VerwerkingsCode::NietActiefOfGeabonneerd
                } else {
                    VerwerkingsCode::Verwerkt
                },
                stadium: if rejected {
                    Stadium::ValidatieGebruiker
                } else {
                    Stadium::StoreMessage
                },
            }
        })
        .collect::<Vec<_>>();
    let count = berichten.len() as u64;
    let shard = usize::from(record.shard);
    let record = BatchRecord {
        status: BatchStatus::Verwerkt,
        receipt: Some(Receipt {
            verwerkt_op: clock.now(),
            berichten,
        }),
        ..record
    };
    store.complete(
        shard,
        vec![Completion {
            record,
            drop_bijlagen: Vec::new(),
            webhook: false,
        }],
        clock,
    )?;
    Ok(count)
}

fn timed(request: reqwest::blocking::RequestBuilder) -> anyhow::Result<Duration> {
    let began = Instant::now();
    let response = request.send()?;
    let status = response.status();
    let _ = response.bytes()?;
    let took = began.elapsed();
    anyhow::ensure!(status.is_success(), "status {status}");
    Ok(took)
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn cookie(response: &reqwest::blocking::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (n, value) = pair.split_once('=')?;
            (n == name && !value.is_empty()).then(|| value.to_owned())
        })
}

fn field(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let at = html.find(&marker).expect("the field") + marker.len();
    html[at..at + html[at..].find('"').expect("quote")].to_owned()
}
