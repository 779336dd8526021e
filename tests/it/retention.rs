//! Retention (`[bewaren]`) end to end, on the engine's manual clock: each period is walked up
//! to just before its end (the record is still served) and past it (it is gone, and what
//! depends on it behaves as the documentation says).
//!
//! Covers: receipts leave the feed after 6 days and a cursor from before that horizon is
//! answered 410; a batch's record answers (and a redelivery is 200) until 7 days, after which
//! the same batch is new again, and its berichtIds' claims are gone with it (Verwerkt, not
//! BerichtBestaatAl); berichten leave a box after `berichten_dagen` with their bijlagen; day
//! counters after `tellingen_maanden`. Expiry runs every second here
//! (`bewaren.ronde_seconden = 1`): "still there" is checked after two passes have had time.

use std::time::Duration;

use berichtenbox_actors::core::clock::Clock as _;
use serde_json::{Value, json};

use crate::support::{
    BURGER_JWT_SECRET, Engine, bsn, burger_token_with, codes, guid, oin, ok_json, send, wait_for,
    wait_until,
};

const DEADLINE: Duration = Duration::from_secs(30);
const DAY: Duration = Duration::from_secs(24 * 3600);
const HOUR: Duration = Duration::from_secs(3600);

/// Two retention passes: what is still there after this was not due.
fn two_passes() {
    std::thread::sleep(Duration::from_millis(2500));
}

/// A citizen's token valid on the engine's clock (which the test moves days ahead).
fn token(engine: &Engine, bsn: &str) -> String {
    let now = engine.clock.now().as_second();
    burger_token_with(
        &json!({ "sub": bsn, "iat": now, "exp": now + 600 }),
        BURGER_JWT_SECRET,
    )
}

fn batch(engine: &Engine, batch_no: u32, ontvanger: &str) -> Value {
    use base64::Engine as _;
    let inhoud = base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.4 bewaren");
    let aanmaak = engine.clock.now() - jiff::SignedDuration::from_mins(1);
    json!({
        "batchId": guid(batch_no, 0xffff_ffff),
        "aanmaakDatum": aanmaak.round(jiff::Unit::Second).expect("round").to_string(),
        "berichten": [
            {
                "berichtId": guid(batch_no, 0), "berichtType": "AANSLAG", "ontvanger": ontvanger,
                "onderwerp": "Met bijlage", "tekst": "Tekst.",
                "bijlagen": [{ "omschrijving": "Brief", "mediatype": "application/pdf", "inhoud": inhoud }],
            },
            {
                "berichtId": guid(batch_no, 1), "berichtType": "AANSLAG", "ontvanger": ontvanger,
                "onderwerp": "Zonder bijlage", "tekst": "Tekst.",
            },
        ],
    })
}

fn box_of(engine: &Engine, bsn: &str) -> Vec<Value> {
    let page = ok_json(
        &engine.get(&token(engine, bsn), "/v1/account/berichten?limit=100"),
        200,
        "box",
    );
    page["berichten"].as_array().expect("berichten").clone()
}

#[test]
fn each_kind_is_kept_for_its_period_and_then_forgotten() {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = Engine::builder(&dir.path().join("data"))
        .configure(|c| {
            c.store.shards = 2;
            c.bewaren.ronde_seconden = 1;
            c.bewaren.berichten_dagen = 10;
        })
        .start();
    let afnemer = engine
        .beheer()
        .afnemer_with_aanslag(&oin(4_100_001), json!({ "naam": "Bewaren" }));
    let x = bsn(4_100_001);
    let opened = send(
        engine
            .client
            .post(engine.url("/v1/account"))
            .bearer_auth(token(&engine, &x))
            .json(&json!({ "email": "x@voorbeeld.nl" })),
    );
    assert_eq!(opened.status, 201, "{}", opened.text());

    let first = batch(&engine, 4101, &x);
    let first_id = guid(4101, 0xffff_ffff);
    assert_eq!(afnemer.deliver(&first).status, 202);
    assert_eq!(
        codes(&afnemer.wait_processed(&first_id, DEADLINE)),
        ["Verwerkt", "Verwerkt"]
    );
    let dag = engine
        .clock
        .now()
        .to_zoned(jiff::tz::TimeZone::get("Europe/Amsterdam").expect("tz"))
        .date();
    let feed = ok_json(&afnemer.get("/v1/verwerkingsberichten"), 200, "feed");
    assert_eq!(
        feed["verwerkingsberichten"].as_array().map(Vec::len),
        Some(1)
    );
    let cursor = feed["volgende"].as_str().expect("volgende").to_owned();
    let old_box = box_of(&engine, &x);
    assert_eq!(old_box.len(), 2);

    // Receipts: 6 days after they were first offered.
    engine.advance(6 * DAY - HOUR);
    two_passes();
    assert_eq!(
        afnemer.receipts_all().len(),
        1,
        "a receipt went before 6 days"
    );
    assert_eq!(
        ok_json(
            &afnemer.get(&format!("/v1/verwerkingsberichten?na={cursor}")),
            200,
            "a cursor inside the period"
        )["verwerkingsberichten"],
        json!([])
    );
    engine.advance(2 * HOUR);
    // (Read from the start: until the pass has run, the receipt is still listed, and its own
    // cursor is already before the horizon.)
    wait_until("the receipt gone from the feed", DEADLINE, || {
        ok_json(&afnemer.get("/v1/verwerkingsberichten"), 200, "feed")
            == json!({ "verwerkingsberichten": [] })
    });
    let gone = afnemer.get(&format!("/v1/verwerkingsberichten?na={cursor}"));
    let problem = crate::support::assert_problem(&gone, 410, "a cursor before the horizon");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("6 dagen")),
        "{problem}"
    );
    // The batch record (and its receipt) stays for 7 days: a redelivery is still the same batch.
    assert_eq!(afnemer.batch(&first_id).status, 200);
    assert_eq!(afnemer.deliver(&first).status, 200);

    // Batch records and claims: 7 days.
    engine.advance(DAY);
    wait_until("the batch record gone", DEADLINE, || {
        afnemer.batch(&first_id).status == 404
    });
    let again = afnemer.deliver(&first);
    assert_eq!(
        again.status,
        202,
        "after 7 days the batch is new: {}",
        again.text()
    );
    assert_eq!(
        codes(&afnemer.wait_processed(&first_id, DEADLINE)),
        ["Verwerkt", "Verwerkt"],
        "the claims went with the record: the berichtIds are new too"
    );
    assert_eq!(box_of(&engine, &x).len(), 4);

    // Berichten in boxes: 10 days here, with their bijlagen.
    let old_ids: Vec<&str> = old_box
        .iter()
        .map(|b| b["id"].as_str().expect("id"))
        .collect();
    engine.advance(3 * DAY);
    wait_until(
        "the first two berichten gone from the box",
        DEADLINE,
        || box_of(&engine, &x).len() == 2,
    );
    for id in &old_ids {
        let reply = engine.get(&token(&engine, &x), &format!("/v1/account/berichten/{id}"));
        assert_eq!(reply.status, 404, "{id}");
    }

    // Day counters: the 13 calendar months before the current one are kept (the redelivery
    // counts on its own day).
    let telling = || {
        ok_json(
            &afnemer.get(&format!("/v1/rapportages/dagelijks?datum={dag}")),
            200,
            "dagelijks",
        )
    };
    assert_eq!(telling()["aangeboden"], 2, "{}", telling());
    engine.advance(380 * DAY);
    two_passes();
    assert_eq!(telling()["aangeboden"], 2, "counters went within 13 months");
    engine.advance(80 * DAY);
    wait_for("the day's counters gone", DEADLINE, || {
        (telling()["aangeboden"] == 0).then_some(())
    });
    engine.shutdown().expect("stop");
}
