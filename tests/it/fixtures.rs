//! Old data directories, read by this build: `tests/fixtures/format-3/` is a data directory
//! written by the build of layout format 3 (the first with a version byte before every record),
//! committed as it was made. The test opens a copy of it with today's engine, reads every kind
//! of record through the API and has the engine carry on with what was left waiting in it: a
//! parked batch, a notification due later, a receipt in the webhook outbox.
//!
//! The fixture is never edited: a change of a record raises that record's version and adds a
//! fixture of its own (the new build then reads both). `BERICHTENBOX_WRITE_FIXTURE=1` makes
//! `tests/fixtures/format-3/` (and its key file `format-3.json`) when they are not there yet;
//! it refuses to overwrite them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berichtenbox_actors::core::clock::Clock as _;
use serde_json::{Value, json};

use crate::support::sandbox::SandboxClock;
use crate::support::webhook::{Receiver, refusing_port, url};
use crate::support::{
    BEHEER_TOKEN, Engine, EngineBuilder, bsn, codes, guid, oin, ok_json, send, wait_for, wait_until,
};

const DEADLINE: Duration = Duration::from_secs(40);
/// The fixture's data directory was written with this many shards; it is read with them.
const SHARDS: usize = 2;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The afnemers: A with a webhook (its receipts wait in the outbox), B without.
fn oin_a() -> String {
    oin(3_000_001)
}
fn oin_b() -> String {
    oin(3_000_002)
}
/// X has a box with notifications, Y a box that wants no digital mail from B, Z no box.
fn x() -> String {
    bsn(3_000_001)
}
fn y() -> String {
    bsn(3_000_002)
}
fn z() -> String {
    bsn(3_000_003)
}

/// The bijlage's bytes, base64-encoded in the batch.
const PDF: &[u8] = b"%PDF-1.4 fixture format 3";

fn bericht(batch_no: u32, i: u32, ontvanger: &str) -> Value {
    json!({
        "berichtId": guid(batch_no, i),
        "berichtType": "AANSLAG",
        "ontvanger": ontvanger,
        "onderwerp": format!("Fixture {batch_no}.{i}"),
        "tekst": format!("Tekst van bericht {i} van batch {batch_no}."),
    })
}

fn with_bijlage(mut bericht: Value) -> Value {
    use base64::Engine as _;
    let inhoud = base64::engine::general_purpose::STANDARD.encode(PDF);
    bericht["bijlagen"] =
        json!([{ "omschrijving": "Brief", "mediatype": "application/pdf", "inhoud": inhoud }]);
    bericht
}

fn batch(batch_no: u32, aanmaak: jiff::Timestamp, berichten: Vec<Value>) -> Value {
    json!({
        "batchId": guid(batch_no, 0xffff_ffff),
        "aanmaakDatum": aanmaak.round(jiff::Unit::Second).expect("round").to_string(),
        "berichten": berichten,
    })
}

/// Writes the fixture: an engine on a fresh data directory, the afnemers, citizens and batches
/// below, then a second run whose processing never beats, so that a batch stays parked.
fn write_fixture(data: &Path, keys: &Path) {
    assert!(
        !data.exists() && !keys.exists(),
        "{} exists: a fixture is never rewritten; add one of a new name",
        data.display()
    );
    let scratch = tempfile::tempdir().expect("temp dir");
    let work = scratch.path().join("data");
    let outbox = scratch.path().join("outbox");
    let builder = EngineBuilder::new(&work).configure(|c| {
        c.store.shards = SHARDS;
        c.notifications.outbox_dir = outbox.clone();
    });
    let engine = builder.clone().start();
    let now = engine.clock.now();
    let beheer = engine.beheer();
    let a = beheer.afnemer_with_aanslag(
        &oin_a(),
        json!({ "naam": "Fixture A", "webhookUrl": url(refusing_port()) }),
    );
    let b = beheer.afnemer_with_aanslag(&oin_b(), json!({ "naam": "Fixture B" }));
    let prognose = send(
        engine
            .client
            .put(engine.url("/v1/prognoses/2027-03"))
            .bearer_auth(&a.key)
            .json(&json!({ "aantalBerichten": 120_000, "gemiddeldeGrootteKb": 80 })),
    );
    assert!(matches!(prognose.status, 200 | 201), "{}", prognose.text());
    engine.burger(&x()).open_box("x@voorbeeld.nl");
    engine.burger(&y()).open_box("y@voorbeeld.nl");
    let voorkeur = send(
        engine
            .client
            .put(engine.url(&format!("/v1/account/voorkeuren/{}", oin_b())))
            .bearer_auth(&engine.burger(&y()).token)
            .json(&json!({ "digitaal": false })),
    );
    assert_eq!(voorkeur.status, 200, "{}", voorkeur.text());

    let aanmaak = now - jiff::SignedDuration::from_mins(1);
    let mut later = bericht(3001, 3, &x());
    later["publicatieDatum"] = json!(
        (now + jiff::SignedDuration::from_mins(1))
            .round(jiff::Unit::Second)
            .expect("round")
            .to_string()
    );
    let batch_1 = batch(
        3001,
        aanmaak,
        vec![
            with_bijlage(bericht(3001, 0, &x())),
            bericht(3001, 1, &y()),
            bericht(3001, 2, &z()),
            later,
        ],
    );
    let batch_2 = batch(
        3002,
        aanmaak,
        vec![bericht(3002, 0, &y()), bericht(3002, 1, &x())],
    );
    assert_eq!(a.deliver(&batch_1).status, 202);
    assert_eq!(b.deliver(&batch_2).status, 202);
    a.wait_processed(&guid(3001, 0xffff_ffff), DEADLINE);
    b.wait_processed(&guid(3002, 0xffff_ffff), DEADLINE);
    // The three notifications due now (X's 3001.0 and 3002.1, Y's 3001.1) go out once the
    // notifier's arrival grace (2 s) has passed (and the caps' window is written); X's 3001.3
    // waits for its publicatieDatum, a minute on, which this clock never reaches.
    engine.advance(Duration::from_secs(5));
    wait_until("three notifications sent", DEADLINE, || {
        std::fs::read_dir(&outbox).map_or(0, Iterator::count) == 3
    });
    engine.shutdown().expect("stop");

    let parked_only = builder
        .configure(|c| c.processing.beat_ms = 3_600_000)
        .start();
    let a = parked_only.beheer().afnemer_with_aanslag(
        &oin_a(),
        json!({ "naam": "Fixture A", "webhookUrl": url(refusing_port()) }),
    );
    let batch_3 = batch(3003, aanmaak, vec![with_bijlage(bericht(3003, 0, &x()))]);
    assert_eq!(a.deliver(&batch_3).status, 202);
    let status = ok_json(&a.batch(&guid(3003, 0xffff_ffff)), 200, "batch 3");
    assert_eq!(status["status"], "geparkeerd", "{status}");
    parked_only.shutdown().expect("stop");

    copy_dir(&work, data);
    let names = json!({
        "gemaaktOp": now.to_string(),
        "dag": now.to_zoned(jiff::tz::TimeZone::get("Europe/Amsterdam").expect("tz")).date().to_string(),
        "sleutelA": a.key,
        "batch1": batch_1,
        "batch2": batch_2,
    });
    std::fs::write(
        keys,
        serde_json::to_string_pretty(&names).expect("json") + "\n",
    )
    .expect("write the key file");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn a_format_3_data_directory_is_read_whole_and_carried_on() {
    let fixture = fixtures().join("format-3");
    let key_file = fixtures().join("format-3.json");
    if std::env::var_os("BERICHTENBOX_WRITE_FIXTURE").is_some_and(|v| v == "1") {
        write_fixture(&fixture, &key_file);
    }
    let names: Value =
        serde_json::from_str(&std::fs::read_to_string(&key_file).expect("the fixture's key file"))
            .expect("json");
    let scratch = tempfile::tempdir().expect("temp dir");
    let data = scratch.path().join("data");
    copy_dir(&fixture, &data);
    let outbox = scratch.path().join("outbox");
    let receiver = Receiver::start();
    // The engine runs at the fixture's time (two minutes on, past the publicatieDatum of
    // bericht 3001.3): what the data holds is as fresh as when it was written, whenever this
    // runs, so no retention period or webhook give-up has passed.
    let made: jiff::Timestamp = names["gemaaktOp"]
        .as_str()
        .and_then(|at| at.parse().ok())
        .expect("gemaaktOp");
    let clock = Arc::new(SandboxClock::at(made + jiff::SignedDuration::from_mins(2)));
    let engine = Engine::builder(&data)
        .configure(|c| {
            c.store.shards = SHARDS;
            c.notifications.outbox_dir = outbox.clone();
        })
        .clock(clock)
        .start();
    let key_a = names["sleutelA"].as_str().expect("key");

    // The day counters of the fixture's day, before this test delivers anything (on the
    // fixture's own day it would count too); batch 3 may be processed already.
    let dag = names["dag"].as_str().expect("dag");
    let telling = ok_json(
        &engine.get(key_a, &format!("/v1/rapportages/dagelijks?datum={dag}")),
        200,
        "dagelijks",
    );
    assert_eq!(telling["aangeboden"], 5, "{telling}");
    assert_eq!(telling["afgewezen"], 1, "{telling}");
    assert!(
        matches!(telling["verwerkt"].as_u64(), Some(3 | 4)),
        "{telling}"
    );
    // Afnemers, their keys (the stored hash lets the old key in) and berichttypen.
    let afnemers = ok_json(
        &engine.get(BEHEER_TOKEN, "/v1/beheer/afnemers"),
        200,
        "afnemers",
    );
    let naam_of = |oin: &str| {
        afnemers["afnemers"]
            .as_array()
            .expect("afnemers")
            .iter()
            .find(|a| a["oin"] == oin)
            .map(|a| a["naam"].clone())
    };
    assert_eq!(naam_of(&oin_a()), Some(json!("Fixture A")), "{afnemers}");
    assert_eq!(naam_of(&oin_b()), Some(json!("Fixture B")), "{afnemers}");
    let keys = ok_json(&engine.beheer().list_keys(&oin_a()), 200, "keys");
    assert!(
        keys["apiSleutels"]
            .as_array()
            .is_some_and(|k| !k.is_empty()),
        "{keys}"
    );
    let typen = ok_json(&engine.get(key_a, "/v1/berichttypen"), 200, "berichttypen");
    assert!(typen.to_string().contains("AANSLAG"), "{typen}");
    let prognoses = ok_json(&engine.get(key_a, "/v1/prognoses"), 200, "prognoses");
    assert!(prognoses.to_string().contains("2027-03"), "{prognoses}");

    // Receipts, the feed, and the batch records' and claims' idempotency.
    let batch_1 = ok_json(
        &engine.get(key_a, &format!("/v1/batches/{}", guid(3001, 0xffff_ffff))),
        200,
        "batch 1",
    );
    assert_eq!(
        codes(&batch_1),
        [
            "Verwerkt",
            "Verwerkt",
            "NietActiefOfGeabonneerd",
            "Verwerkt"
        ]
    );
    let feed = engine.receipts_all(key_a);
    assert!(
        feed.iter().any(|r| r["batchId"] == guid(3001, 0xffff_ffff)),
        "{feed:?}"
    );
    assert_eq!(engine.post_batch(key_a, &names["batch1"]).status, 200);
    let reused = batch(
        3004,
        engine.clock.now() - jiff::SignedDuration::from_mins(1),
        vec![bericht(3001, 0, &x())],
    );
    assert_eq!(engine.post_batch(key_a, &reused).status, 202);
    let reused = engine.wait_processed(key_a, &guid(3004, 0xffff_ffff), DEADLINE);
    assert_eq!(codes(&reused), ["BerichtBestaatAl"]);

    // The parked batch is processed by this build.
    let batch_3 = engine.wait_processed(key_a, &guid(3003, 0xffff_ffff), DEADLINE);
    assert_eq!(codes(&batch_3), ["Verwerkt"]);

    // Accounts, voorkeuren, boxes and bijlagen.
    let burger_x = engine.burger(&x());
    let account = ok_json(&burger_x.get("/v1/account"), 200, "account");
    assert_eq!(account["email"], "x@voorbeeld.nl", "{account}");
    let voorkeuren = ok_json(
        &engine.burger(&y()).get("/v1/account/voorkeuren"),
        200,
        "voorkeuren",
    );
    assert!(
        voorkeuren.to_string().contains(&oin_b()) && voorkeuren.to_string().contains("false"),
        "{voorkeuren}"
    );
    let onderwerpen = |burger: &crate::support::clients::Burger| -> Vec<String> {
        let mut all: Vec<String> = burger
            .box_all()
            .iter()
            .map(|b| b["onderwerp"].as_str().expect("onderwerp").to_owned())
            .collect();
        all.sort();
        all
    };
    assert_eq!(
        onderwerpen(&burger_x),
        [
            "Fixture 3001.0",
            "Fixture 3001.3",
            "Fixture 3002.1",
            "Fixture 3003.0"
        ]
    );
    assert_eq!(onderwerpen(&engine.burger(&y())), ["Fixture 3001.1"]);
    let first = burger_x
        .box_all()
        .into_iter()
        .find(|b| b["onderwerp"] == "Fixture 3001.0")
        .expect("bericht 3001.0");
    let id = first["id"].as_str().expect("id");
    let volgorde = first["bijlagen"][0]["volgorde"]
        .as_u64()
        .unwrap_or_else(|| panic!("a bijlage: {first}"));
    let bytes = engine
        .client
        .get(engine.url(&format!("/v1/account/berichten/{id}/bijlagen/{volgorde}")))
        .bearer_auth(&burger_x.token)
        .send()
        .expect("get bijlage");
    assert_eq!(bytes.status(), 200);
    assert_eq!(bytes.bytes().expect("bytes").as_ref(), PDF);

    // The notification that waited for its publicatieDatum, and batch 3's, go out now.
    wait_until("the waiting notifications sent", DEADLINE, || {
        std::fs::read_dir(&outbox).map_or(0, Iterator::count) == 2
    });

    // The receipt that waited in the webhook outbox reaches the webhook once it works.
    send(
        engine
            .client
            .put(engine.url(&format!("/v1/beheer/afnemers/{}", oin_a())))
            .bearer_auth(BEHEER_TOKEN)
            .json(&json!({ "naam": "Fixture A", "webhookUrl": receiver.url() })),
    );
    wait_for("batch 1's receipt pushed", DEADLINE, || {
        engine.advance(Duration::from_secs(60));
        receiver
            .keys()
            .contains(&guid(3001, 0xffff_ffff))
            .then_some(())
    });

    engine.shutdown().expect("stop");
}
