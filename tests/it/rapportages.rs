//! The rolling forecast, the reports and the Validatieservice over real sockets:
//! `PUT/GET /v1/prognoses`, `GET /v1/rapportages/dagelijks`,
//! `GET /v1/beheer/rapportages/maandelijks` and `POST /v1/validaties`.
//!
//! The reports come from durable counters: the test counts what it delivered, checks the
//! reports, restarts the engine on the same data and checks that nothing was lost or counted
//! twice.

use crate::support;

use std::time::Duration;

use crate::support::{
    BEHEER_TOKEN, Engine, Reply, assert_problem, bsn, burger_token, guid, invalid_names, oin,
    ok_json, send,
};
use jiff::ToSpan as _;
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(30);

fn this_month() -> String {
    jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::get("Europe/Amsterdam").expect("zone"))
        .strftime("%Y-%m")
        .to_string()
}

fn month_from_now(months: i32) -> String {
    let now = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::get("Europe/Amsterdam").expect("zone"))
        .date()
        .first_of_month();
    now.checked_add(months.months())
        .expect("month")
        .strftime("%Y-%m")
        .to_string()
}

fn today() -> String {
    jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::get("Europe/Amsterdam").expect("zone"))
        .date()
        .to_string()
}

fn put_prognose(engine: &Engine, key: &str, maand: &str, body: &Value) -> Reply {
    send(
        engine
            .client
            .put(engine.url(&format!("/v1/prognoses/{maand}")))
            .bearer_auth(key)
            .json(body),
    )
}

/// An afnemer with the berichttype `AANSLAG`; answers its key.
fn afnemer(engine: &Engine, n: u32) -> String {
    engine
        .beheer()
        .afnemer_with_aanslag(&oin(n), json!({ "naam": format!("Afnemer {n}") }))
        .key
}

#[test]
fn forecasts_are_checked_stored_and_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(&dir.path().join("data"));
    let key = afnemer(&engine, 1);
    let good = json!({ "aantalBerichten": 120000, "gemiddeldeGrootteKb": 80 });

    // Bad input: each answered 400 naming the field, nothing stored.
    let cases: Vec<(String, Value, Vec<&str>)> = vec![
        ("2027-3".into(), good.clone(), vec!["maand"]),
        ("maart".into(), good.clone(), vec!["maand"]),
        ("2027-13".into(), good.clone(), vec!["maand"]),
        (month_from_now(-1), good.clone(), vec!["maand"]),
        (month_from_now(18), good.clone(), vec!["maand"]),
        (
            this_month(),
            json!({ "aantalBerichten": -1, "gemiddeldeGrootteKb": 80 }),
            vec!["aantalBerichten"],
        ),
        (
            this_month(),
            json!({ "aantalBerichten": 10, "gemiddeldeGrootteKb": -80 }),
            vec!["gemiddeldeGrootteKb"],
        ),
        (
            this_month(),
            json!({ "gemiddeldeGrootteKb": 80 }),
            vec!["aantalBerichten"],
        ),
        (
            month_from_now(18),
            json!({ "aantalBerichten": -5 }),
            vec!["maand", "aantalBerichten", "gemiddeldeGrootteKb"],
        ),
        // Over the documented maximum, 2^53 - 1; and past any integer type (schemathesis drew
        // it, valid by a document that had no maximum).
        (
            this_month(),
            json!({ "aantalBerichten": 9_007_199_254_740_992_u64, "gemiddeldeGrootteKb": 80 }),
            vec!["aantalBerichten"],
        ),
        (
            this_month(),
            serde_json::from_str(
                r#"{ "gemiddeldeGrootteKb": 481, "aantalBerichten": 32589158477190044730 }"#,
            )
            .expect("json"),
            vec!["aantalBerichten"],
        ),
    ];
    for (maand, body, names) in &cases {
        let reply = put_prognose(&engine, &key, maand, body);
        let problem = assert_problem(&reply, 400, &format!("PUT {maand} {body}"));
        assert_eq!(invalid_names(&problem), *names, "PUT {maand} {body}");
    }
    // Not an integer, an unknown field, an array: 400 too.
    for body in [
        json!({ "aantalBerichten": 1.5, "gemiddeldeGrootteKb": 80 }),
        json!({ "aantalBerichten": 1, "gemiddeldeGrootteKb": 80, "extra": 1 }),
        json!([1, 2]),
    ] {
        assert_problem(
            &put_prognose(&engine, &key, &this_month(), &body),
            400,
            &format!("{body}"),
        );
    }
    // Unauthorised, wrong media type, wrong method.
    let anonymous = send(
        engine
            .client
            .put(engine.url(&format!("/v1/prognoses/{}", this_month())))
            .json(&good),
    );
    assert_problem(&anonymous, 401, "no key");
    let text = send(
        engine
            .client
            .put(engine.url(&format!("/v1/prognoses/{}", this_month())))
            .bearer_auth(&key)
            .header("Content-Type", "text/plain")
            .body("120000"),
    );
    assert_problem(&text, 415, "text/plain");
    let delete = send(
        engine
            .client
            .delete(engine.url("/v1/prognoses"))
            .bearer_auth(&key),
    );
    assert_problem(&delete, 405, "DELETE");
    let listed = ok_json(&engine.get(&key, "/v1/prognoses"), 200, "list");
    assert_eq!(listed["prognoses"], json!([]), "nothing bad was stored");

    // Good input: created, then replaced.
    let created = ok_json(
        &put_prognose(&engine, &key, &this_month(), &good),
        201,
        "create",
    );
    assert_eq!(created["aantalBerichten"], 120000);
    let replaced = put_prognose(
        &engine,
        &key,
        &this_month(),
        &json!({ "aantalBerichten": 90000, "gemiddeldeGrootteKb": 60 }),
    );
    ok_json(&replaced, 200, "replace");
    // The last month of the horizon is allowed, and so are the largest values.
    let largest =
        json!({ "aantalBerichten": 9_007_199_254_740_991_u64, "gemiddeldeGrootteKb": 1024 });
    let last = ok_json(
        &put_prognose(&engine, &key, &month_from_now(17), &largest),
        201,
        "last month of the horizon",
    );
    assert_eq!(last["aantalBerichten"], 9_007_199_254_740_991_u64, "{last}");

    // Another afnemer sees none of them.
    let other = afnemer(&engine, 2);
    let theirs = ok_json(&engine.get(&other, "/v1/prognoses"), 200, "other");
    assert_eq!(theirs["prognoses"], json!([]));

    let listed = ok_json(&engine.get(&key, "/v1/prognoses"), 200, "list");
    let prognoses = listed["prognoses"].as_array().expect("array");
    assert_eq!(prognoses.len(), 2, "{listed}");
    assert_eq!(prognoses[0]["maand"], this_month());
    assert_eq!(prognoses[0]["aantalBerichten"], 90000);
    assert_eq!(prognoses[0]["gemiddeldeGrootteKb"], 60);
    assert_eq!(prognoses[0]["werkelijkAantalBerichten"], 0);
    assert_eq!(prognoses[1]["maand"], month_from_now(17));
    assert!(
        prognoses[1].get("werkelijkAantalBerichten").is_none(),
        "a future month has no actuals: {listed}"
    );
}

#[test]
fn reports_count_what_happened_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let engine = Engine::start(&data);
    let key = afnemer(&engine, 1);
    let other = afnemer(&engine, 2);
    // Citizens 0..5 have a box; 5..8 have none.
    for n in 0..5 {
        engine.open_box(&bsn(n));
    }
    let deliver = |engine: &Engine, key: &str, batch_no: u32, citizens: &[u32]| {
        let berichten: Vec<Value> = citizens
            .iter()
            .enumerate()
            .map(|(i, n)| {
                json!({
                    "berichtId": guid(batch_no, i as u32),
                    "berichtType": "AANSLAG",
                    "ontvanger": bsn(*n),
                    "onderwerp": "Onderwerp",
                    "tekst": "Tekst",
                })
            })
            .collect();
        let batch = json!({
            "batchId": guid(batch_no, 0xffff),
            "aanmaakDatum": jiff::Timestamp::now().round(jiff::Unit::Second).expect("round").to_string(),
            "berichten": berichten,
        });
        let response = engine.deliver(key, &batch);
        assert_eq!(response.status(), 202, "deliver {batch_no}");
        engine.wait_processed(key, &guid(batch_no, 0xffff), DEADLINE);
    };
    // Afnemer 1: 6 berichten, 4 to boxes, 2 rejected; afnemer 2: 3 berichten, 1 delivered.
    deliver(&engine, &key, 1, &[0, 1, 5, 2]);
    deliver(&engine, &key, 2, &[3, 6]);
    deliver(&engine, &other, 3, &[4, 7, 5]);
    // A redelivery of a batch counts nothing again.
    let mut once = support::batch(99, 1);
    once["batchId"] = json!(guid(99, 0));
    assert_eq!(engine.deliver(&key, &once).status(), 202);
    engine.wait_processed(&key, &guid(99, 0), DEADLINE);
    assert_eq!(engine.deliver(&key, &once).status(), 200, "redelivery");

    let day = |engine: &Engine, key: &str| {
        ok_json(
            &engine.get(key, &format!("/v1/rapportages/dagelijks?datum={}", today())),
            200,
            "daily",
        )
    };
    // Batch 99's one bericht goes to a citizen without a box: rejected.
    let expected_1 = json!({ "datum": today(), "aangeboden": 7, "verwerkt": 4, "afgewezen": 3 });
    let expected_2 = json!({ "datum": today(), "aangeboden": 3, "verwerkt": 1, "afgewezen": 2 });
    assert_eq!(day(&engine, &key), expected_1);
    assert_eq!(day(&engine, &other), expected_2);
    // Without a date: today.
    assert_eq!(
        ok_json(&engine.get(&key, "/v1/rapportages/dagelijks"), 200, "today"),
        expected_1
    );
    // Another day: nothing.
    let empty = ok_json(
        &engine.get(&key, "/v1/rapportages/dagelijks?datum=2020-02-29"),
        200,
        "empty day",
    );
    assert_eq!(
        empty,
        json!({ "datum": "2020-02-29", "aangeboden": 0, "verwerkt": 0, "afgewezen": 0 })
    );
    for bad in ["2026-13-01", "28-11-2026", "gisteren", "2026-02-30"] {
        let problem = assert_problem(
            &engine.get(&key, &format!("/v1/rapportages/dagelijks?datum={bad}")),
            400,
            bad,
        );
        assert_eq!(invalid_names(&problem), ["datum"], "{bad}");
    }
    assert_problem(
        &send(engine.client.get(engine.url("/v1/rapportages/dagelijks"))),
        401,
        "no key",
    );

    let month = |engine: &Engine| {
        ok_json(
            &engine.get(
                BEHEER_TOKEN,
                &format!("/v1/beheer/rapportages/maandelijks?maand={}", this_month()),
            ),
            200,
            "monthly",
        )
    };
    let before = month(&engine);
    assert_eq!(before["maand"], this_month());
    assert_eq!(before["aangebodenBerichten"], 10, "{before}");
    assert_eq!(before["verwerkteBerichten"], 5, "{before}");
    assert_eq!(before["afgewezenBerichten"], 5, "{before}");
    assert_eq!(before["accounts"], json!({ "totaal": 5, "actief": 5 }));
    assert_eq!(before["afnemers"], json!({ "totaal": 2, "actief": 2 }));
    let percentage = before["beschikbaarheid"]["percentage"]
        .as_f64()
        .expect("percentage");
    assert!((0.0..=100.0).contains(&percentage), "{before}");
    assert_eq!(
        before["onderhoudsvensters"]
            .as_array()
            .expect("windows")
            .len(),
        3,
        "the SLA's three windows each month: {before}"
    );
    for (query, name) in [
        ("maand=2026-1", "maand"),
        ("maand=2999-01", "maand"),
        ("onbekend=1", "query"),
    ] {
        let problem = assert_problem(
            &engine.get(
                BEHEER_TOKEN,
                &format!("/v1/beheer/rapportages/maandelijks?{query}"),
            ),
            400,
            query,
        );
        assert_eq!(invalid_names(&problem), [name], "{query}");
    }
    assert_problem(
        &engine.get(&key, "/v1/beheer/rapportages/maandelijks"),
        401,
        "an afnemer's key is not the operator's token",
    );

    // A restart keeps every count, and counts nothing twice.
    let engine = engine.restart();
    assert_eq!(day(&engine, &key), expected_1);
    assert_eq!(day(&engine, &other), expected_2);
    let after = month(&engine);
    for field in [
        "aangebodenBerichten",
        "verwerkteBerichten",
        "afgewezenBerichten",
        "accounts",
        "afnemers",
    ] {
        assert_eq!(after[field], before[field], "{field} after the restart");
    }
    // The engine was down for a moment: measured time goes on, and the report still adds up.
    let availability = &after["beschikbaarheid"];
    assert!(
        availability["beschikbaarMinuten"].as_i64() <= availability["gemetenMinuten"].as_i64(),
        "{availability}"
    );

    // The forecast's actuals are the same counters.
    put_prognose(
        &engine,
        &key,
        &this_month(),
        &json!({ "aantalBerichten": 100, "gemiddeldeGrootteKb": 1 }),
    );
    let listed = ok_json(&engine.get(&key, "/v1/prognoses"), 200, "list");
    assert_eq!(listed["prognoses"][0]["werkelijkAantalBerichten"], 7);
}

#[test]
fn validaties_answer_per_bsn_within_the_hourly_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::builder(&dir.path().join("data"))
        .configure(|c| c.validaties.per_uur = 3)
        .start();
    let key = afnemer(&engine, 1);
    // 0: a box; 1: a box refusing afnemer 1; 2: a closed box; 3: none.
    for n in 0..3 {
        engine.open_box(&bsn(n));
    }
    let refuse = send(
        engine
            .client
            .put(engine.url(&format!("/v1/account/voorkeuren/{}", oin(1))))
            .bearer_auth(burger_token(&bsn(1)))
            .json(&json!({ "digitaal": false })),
    );
    assert!(refuse.status < 300, "voorkeur: {}", refuse.text());
    let close = send(
        engine
            .client
            .delete(engine.url("/v1/account"))
            .bearer_auth(burger_token(&bsn(2))),
    );
    assert!(close.status < 300, "close: {}", close.text());

    let validate = |body: &Value| {
        send(
            engine
                .client
                .post(engine.url("/v1/validaties"))
                .bearer_auth(&key)
                .json(body),
        )
    };
    // Bad requests are answered without taking from the hour.
    let too_many: Vec<String> = (0..251).map(bsn).collect();
    for (body, names) in [
        (
            json!({ "berichtType": "AANSLAG", "bsns": ["123456789"] }),
            vec!["bsns[0]"],
        ),
        (
            json!({ "berichtType": "AANSLAG", "bsns": [] }),
            vec!["bsns"],
        ),
        (
            json!({ "berichtType": "AANSLAG", "bsns": too_many }),
            vec!["bsns"],
        ),
        (
            json!({ "berichtType": "ONBEKEND", "bsns": [bsn(0)] }),
            vec!["berichtType"],
        ),
        (json!({ "bsns": [bsn(0)] }), vec!["berichtType"]),
    ] {
        let problem = assert_problem(&validate(&body), 400, &format!("{body}"));
        assert_eq!(invalid_names(&problem), names, "{body}");
    }

    let body = json!({ "berichtType": "AANSLAG", "bsns": [bsn(0), bsn(1), bsn(2), bsn(3)] });
    let answer = ok_json(&validate(&body), 200, "validate");
    assert_eq!(
        answer,
        json!({ "resultaten": [
            { "bsn": bsn(0), "berichtSturen": true },
            { "bsn": bsn(1), "berichtSturen": false },
            { "bsn": bsn(2), "berichtSturen": false },
            { "bsn": bsn(3), "berichtSturen": false },
        ] })
    );
    ok_json(&validate(&body), 200, "second");
    ok_json(&validate(&body), 200, "third");
    let refused = validate(&body);
    assert_problem(&refused, 429, "over the hourly limit");
    let retry_after: u64 = refused
        .header("Retry-After")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
}
