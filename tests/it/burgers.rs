//! The citizens' side over real sockets: every `/v1/account` endpoint (the box itself, the
//! berichtenvoorkeuren, the berichten and their bijlagen), with the citizen's HS256 JWT the
//! harness signs with `BURGER_JWT_SECRET`, and the refusals: no or bad token 401, another
//! citizen's bericht 404.
//!
//! Berichten reach a box the way they do in production: an afnemer delivers them with
//! `POST /v1/batches`, and the test waits (by polling the batch, never by sleeping) until the
//! engine has processed them.

use std::time::Duration;

use crate::support::{
    BURGER_JWT_SECRET, Engine, Reply, assert_problem, bsn, burger_token, burger_token_with, guid,
    invalid_names, oin, ok_json, send,
};
use base64::Engine as _;
use jiff::{SignedDuration, Timestamp};
use reqwest::Method;
use serde_json::{Value, json};

/// How long a batch may take to be processed before a test gives up.
const DEADLINE: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// HTTP helpers
// ---------------------------------------------------------------------------------------------

/// A citizen's request: `token` as bearer (none when `None`), `body` as JSON when given.
fn call(
    engine: &Engine,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let mut request = engine.client.request(method, engine.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    send(request)
}

/// The citizen `bsn`'s request with a valid token.
fn as_citizen(
    engine: &Engine,
    bsn: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Reply {
    call(engine, method, path, Some(&burger_token(bsn)), body)
}

#[track_caller]
fn assert_rfc3339(value: &Value, context: &str) -> Timestamp {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{context}: not an RFC 3339 timestamp: {value}"))
}

// ---------------------------------------------------------------------------------------------
// Afnemer and berichten
// ---------------------------------------------------------------------------------------------

/// An engine with afnemer A ("Belastingdienst", berichttype AANSLAG); answers A's key.
fn afnemer_a(engine: &Engine) -> String {
    engine
        .beheer()
        .afnemer_with_aanslag(&oin(1), json!({ "naam": "Belastingdienst" }))
        .key
}

fn bericht(id: &str, ontvanger: &str, onderwerp: &str) -> Value {
    json!({
        "berichtId": id,
        "berichtType": "AANSLAG",
        "ontvanger": ontvanger,
        "onderwerp": onderwerp,
        "tekst": format!("De tekst van {onderwerp}."),
    })
}

/// Delivers a batch of `berichten` (aanmaakDatum now), waits until it is processed, and
/// answers each bericht's verwerkingsCode in order.
fn deliver(engine: &Engine, key: &str, batch_no: u32, berichten: Vec<Value>) -> Vec<String> {
    let batch_id = guid(batch_no, 0xffff);
    let batch = json!({
        "batchId": batch_id,
        "aanmaakDatum": Timestamp::now().to_string(),
        "berichten": berichten,
    });
    let reply = send(
        engine
            .client
            .post(engine.url("/v1/batches"))
            .bearer_auth(key)
            .json(&batch),
    );
    ok_json(&reply, 202, "deliver");
    crate::support::codes(&engine.wait_processed(key, &batch_id, DEADLINE))
}

fn open_box(engine: &Engine, bsn: &str, email: &str) -> Value {
    engine.burger(bsn).open_box(email)
}

/// All the citizen's visible berichten, newest first.
fn all_berichten(engine: &Engine, bsn: &str) -> Vec<Value> {
    engine.burger(bsn).box_all()
}

fn onderwerpen(berichten: &[Value]) -> Vec<String> {
    berichten
        .iter()
        .map(|b| b["onderwerp"].as_str().expect("onderwerp").to_owned())
        .collect()
}

fn id_of<'a>(berichten: &'a [Value], onderwerp: &str) -> &'a str {
    berichten
        .iter()
        .find(|b| b["onderwerp"] == onderwerp)
        .and_then(|b| b["id"].as_str())
        .unwrap_or_else(|| panic!("no bericht {onderwerp:?} in {berichten:?}"))
}

// ---------------------------------------------------------------------------------------------
// The box
// ---------------------------------------------------------------------------------------------

#[test]
fn a_citizen_opens_changes_closes_and_reopens_his_box() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(&dir.path().join("data"));
    let key = afnemer_a(&engine);
    let (x, y) = (bsn(810_000), bsn(810_100));
    assert_ne!(x, y);

    let reply = as_citizen(&engine, &x, Method::GET, "/v1/account", None);
    assert_problem(&reply, 404, "no box yet");

    let reply = as_citizen(
        &engine,
        &x,
        Method::POST,
        "/v1/account",
        Some(&json!({ "email": "jan@voorbeeld.nl" })),
    );
    let opened = ok_json(&reply, 201, "open");
    assert_eq!(reply.header("Location"), Some("/v1/account"));
    assert_eq!(opened["bsn"], x.as_str());
    assert_eq!(opened["email"], "jan@voorbeeld.nl");
    assert_eq!(opened["notificaties"], true);
    assert_eq!(opened["actief"], true);
    assert_rfc3339(&opened["geopendOp"], "geopendOp");

    let reply = as_citizen(
        &engine,
        &x,
        Method::POST,
        "/v1/account",
        Some(&json!({ "email": "ander@voorbeeld.nl" })),
    );
    assert_problem(&reply, 409, "a second box");

    for bad in [
        "jan",
        "jan@",
        "@voorbeeld.nl",
        "jan@voorbeeld",
        "j an@voorbeeld.nl",
    ] {
        let reply = as_citizen(
            &engine,
            &y,
            Method::POST,
            "/v1/account",
            Some(&json!({ "email": bad })),
        );
        let problem = assert_problem(&reply, 400, bad);
        assert_eq!(invalid_names(&problem), ["email"], "{bad}: {problem}");
    }
    let reply = as_citizen(&engine, &y, Method::GET, "/v1/account", None);
    assert_problem(&reply, 404, "a refused opening opens nothing");

    let got = ok_json(
        &as_citizen(&engine, &x, Method::GET, "/v1/account", None),
        200,
        "get",
    );
    assert_eq!(got, opened, "GET answers what POST made");

    // PATCH: e-mail, then notifications off; each keeps the other.
    let patched = ok_json(
        &as_citizen(
            &engine,
            &x,
            Method::PATCH,
            "/v1/account",
            Some(&json!({ "email": "nieuw@voorbeeld.nl" })),
        ),
        200,
        "patch email",
    );
    assert_eq!(patched["email"], "nieuw@voorbeeld.nl");
    assert_eq!(patched["notificaties"], true);
    let patched = ok_json(
        &as_citizen(
            &engine,
            &x,
            Method::PATCH,
            "/v1/account",
            Some(&json!({ "notificaties": false })),
        ),
        200,
        "patch notificaties",
    );
    assert_eq!(patched["email"], "nieuw@voorbeeld.nl");
    assert_eq!(patched["notificaties"], false);
    let reply = as_citizen(
        &engine,
        &x,
        Method::PATCH,
        "/v1/account",
        Some(&json!({ "email": "geen-adres" })),
    );
    let problem = assert_problem(&reply, 400, "patch with a bad e-mail");
    assert_eq!(invalid_names(&problem), ["email"]);
    let got = ok_json(
        &as_citizen(&engine, &x, Method::GET, "/v1/account", None),
        200,
        "get after patches",
    );
    assert_eq!(got["email"], "nieuw@voorbeeld.nl", "{got}");
    assert_eq!(got["notificaties"], false, "{got}");
    assert_eq!(got["actief"], true, "{got}");
    let reply = as_citizen(
        &engine,
        &y,
        Method::PATCH,
        "/v1/account",
        Some(&json!({ "notificaties": false })),
    );
    assert_problem(&reply, 404, "patch without a box");

    // DELETE: the box becomes inactive, and refuses berichten.
    let reply = as_citizen(&engine, &x, Method::DELETE, "/v1/account", None);
    assert_eq!(reply.status, 204, "close");
    assert!(reply.body.is_empty(), "204 has no body");
    let got = ok_json(
        &as_citizen(&engine, &x, Method::GET, "/v1/account", None),
        200,
        "get closed",
    );
    assert_eq!(got["actief"], false, "{got}");
    let codes = deliver(&engine, &key, 1, vec![bericht(&guid(1, 1), &x, "Dicht")]);
    assert_eq!(codes, ["NietActiefOfGeabonneerd"], "a closed box");
    let reply = as_citizen(&engine, &y, Method::DELETE, "/v1/account", None);
    assert_problem(&reply, 404, "close without a box");

    // POST again reopens it, and it takes berichten again.
    let reopened = ok_json(
        &as_citizen(
            &engine,
            &x,
            Method::POST,
            "/v1/account",
            Some(&json!({ "email": "terug@voorbeeld.nl" })),
        ),
        201,
        "reopen",
    );
    assert_eq!(reopened["actief"], true, "{reopened}");
    assert_eq!(reopened["email"], "terug@voorbeeld.nl", "{reopened}");
    let got = ok_json(
        &as_citizen(&engine, &x, Method::GET, "/v1/account", None),
        200,
        "get reopened",
    );
    assert_eq!(got["actief"], true, "{got}");
    let codes = deliver(
        &engine,
        &key,
        2,
        vec![bericht(&guid(2, 1), &x, "Weer open")],
    );
    assert_eq!(codes, ["Verwerkt"], "a reopened box");
    assert_eq!(onderwerpen(&all_berichten(&engine, &x)), ["Weer open"]);
}

#[test]
fn voorkeuren_say_per_afnemer_whether_it_may_send_digital_mail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(&dir.path().join("data"));
    let key = afnemer_a(&engine);
    let oin_a = oin(1);
    let (x, y) = (bsn(820_000), bsn(820_100));
    open_box(&engine, &x, "x@voorbeeld.nl");
    let voorkeur_path = format!("/v1/account/voorkeuren/{oin_a}");

    let list = ok_json(
        &as_citizen(&engine, &x, Method::GET, "/v1/account/voorkeuren", None),
        200,
        "voorkeuren",
    );
    assert_eq!(list, json!({ "voorkeuren": [] }));

    let put = ok_json(
        &as_citizen(
            &engine,
            &x,
            Method::PUT,
            &voorkeur_path,
            Some(&json!({ "digitaal": false })),
        ),
        200,
        "refuse A",
    );
    assert_eq!(put["oin"], oin_a.as_str());
    assert_eq!(put["naam"], "Belastingdienst");
    assert_eq!(put["digitaal"], false);
    assert_rfc3339(&put["gewijzigdOp"], "gewijzigdOp");
    let list = ok_json(
        &as_citizen(&engine, &x, Method::GET, "/v1/account/voorkeuren", None),
        200,
        "voorkeuren",
    );
    assert_eq!(list["voorkeuren"], json!([put]));

    let codes = deliver(
        &engine,
        &key,
        1,
        vec![bericht(&guid(1, 1), &x, "Geweigerd")],
    );
    assert_eq!(codes, ["NietActiefOfGeabonneerd"], "X refuses A");
    assert_eq!(all_berichten(&engine, &x), Vec::<Value>::new());

    let put = ok_json(
        &as_citizen(
            &engine,
            &x,
            Method::PUT,
            &voorkeur_path,
            Some(&json!({ "digitaal": true })),
        ),
        200,
        "accept A",
    );
    assert_eq!(put["digitaal"], true);
    let list = ok_json(
        &as_citizen(&engine, &x, Method::GET, "/v1/account/voorkeuren", None),
        200,
        "voorkeuren",
    );
    assert_eq!(list["voorkeuren"], json!([put]), "one voorkeur per afnemer");
    // The refused bericht offered again is delivered now.
    let codes = deliver(&engine, &key, 2, vec![bericht(&guid(1, 1), &x, "Welkom")]);
    assert_eq!(codes, ["Verwerkt"], "X accepts A");
    assert_eq!(onderwerpen(&all_berichten(&engine, &x)), ["Welkom"]);

    // An afnemer that does not exist, a body without digitaal, a citizen without a box.
    let reply = as_citizen(
        &engine,
        &x,
        Method::PUT,
        &format!("/v1/account/voorkeuren/{}", oin(99)),
        Some(&json!({ "digitaal": false })),
    );
    assert_problem(&reply, 404, "unknown oin");
    for body in [json!({}), json!({ "digitaal": null })] {
        let reply = as_citizen(&engine, &x, Method::PUT, &voorkeur_path, Some(&body));
        let problem = assert_problem(&reply, 400, &body.to_string());
        assert_eq!(invalid_names(&problem), ["digitaal"], "{problem}");
    }
    let reply = as_citizen(
        &engine,
        &x,
        Method::PUT,
        &voorkeur_path,
        Some(&json!({ "digitaal": "ja" })),
    );
    assert_problem(&reply, 400, "digitaal not a boolean");
    let list = ok_json(
        &as_citizen(&engine, &x, Method::GET, "/v1/account/voorkeuren", None),
        200,
        "voorkeuren after refusals",
    );
    assert_eq!(list["voorkeuren"][0]["digitaal"], true, "{list}");
    let reply = as_citizen(&engine, &y, Method::GET, "/v1/account/voorkeuren", None);
    assert_problem(&reply, 404, "voorkeuren without a box");
    let reply = as_citizen(
        &engine,
        &y,
        Method::PUT,
        &voorkeur_path,
        Some(&json!({ "digitaal": true })),
    );
    assert_problem(&reply, 404, "put voorkeur without a box");
}

// ---------------------------------------------------------------------------------------------
// Berichten
// ---------------------------------------------------------------------------------------------

/// The box id `steps` berichten after `id` in the same batch. The id's last 16 hex digits are
/// the bericht's sequence number, consecutive within a batch; used only to name a bericht the
/// list does not show, and checked on visible ones first.
fn later_in_batch(id: &str, steps: u64) -> String {
    assert_eq!(id.len(), 36, "a box id of 36 hex digits: {id}");
    let (head, seq) = id.split_at(20);
    let seq = u64::from_str_radix(seq, 16).expect("hex seq");
    format!("{head}{:016x}", seq + steps)
}

#[test]
fn berichten_are_listed_newest_first_in_pages_and_not_before_their_publicatie_datum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(&dir.path().join("data"));
    let key = afnemer_a(&engine);
    let (x, y) = (bsn(830_000), bsn(830_100));
    open_box(&engine, &x, "x@voorbeeld.nl");
    let now = Timestamp::now();

    let mut hidden = bericht(&guid(2, 2), &x, "Later");
    // Two days ahead: within 13 days of aanmaakDatum, so delivered, but not shown yet.
    hidden["publicatieDatum"] = json!((now + SignedDuration::from_hours(48)).to_string());
    let mut published = bericht(&guid(3, 2), &x, "Al gepubliceerd");
    published["publicatieDatum"] = json!((now - SignedDuration::from_hours(1)).to_string());
    let batches = [
        vec![
            bericht(&guid(1, 1), &x, "M1"),
            bericht(&guid(1, 2), &x, "M2"),
        ],
        vec![
            bericht(&guid(2, 1), &x, "M3"),
            hidden,
            bericht(&guid(2, 3), &x, "M4"),
        ],
        vec![bericht(&guid(3, 1), &x, "M5"), published],
    ];
    for (n, berichten) in (1..).zip(batches) {
        let count = berichten.len();
        let codes = deliver(&engine, &key, n, berichten);
        assert_eq!(codes, vec!["Verwerkt"; count], "batch {n}");
    }
    let expected = ["Al gepubliceerd", "M5", "M4", "M3", "M2", "M1"];

    let all = all_berichten(&engine, &x);
    assert_eq!(onderwerpen(&all), expected, "newest first, Later hidden");
    for entry in &all {
        assert_eq!(entry["gelezen"], false, "{entry}");
        assert_eq!(entry["afzender"]["oin"], oin(1), "{entry}");
        assert_rfc3339(&entry["ontvangenOp"], "ontvangenOp");
    }

    // Paging with limit=2 and the cursor gives the same, in pages of at most two (each page
    // with a cursor full).
    let pages = engine.burger(&x).box_pages(2);
    assert_eq!(pages.concat(), all, "pages of two");
    let pages = pages.len();
    assert!(pages >= 3, "six berichten in pages of two: {pages} pages");

    // The hidden one cannot be read, changed, deleted or downloaded either.
    let m3 = id_of(&all, "M3");
    assert_eq!(
        later_in_batch(m3, 2),
        id_of(&all, "M4"),
        "ids are consecutive within a batch"
    );
    let later = later_in_batch(m3, 1);
    let path = format!("/v1/account/berichten/{later}");
    assert_problem(
        &as_citizen(&engine, &x, Method::GET, &path, None),
        404,
        "GET before publicatie",
    );
    assert_problem(
        &as_citizen(
            &engine,
            &x,
            Method::PATCH,
            &path,
            Some(&json!({ "gelezen": true })),
        ),
        404,
        "PATCH before publicatie",
    );
    assert_problem(
        &as_citizen(&engine, &x, Method::DELETE, &path, None),
        404,
        "DELETE before publicatie",
    );
    assert_problem(
        &as_citizen(
            &engine,
            &x,
            Method::GET,
            &format!("{path}/bijlagen/0"),
            None,
        ),
        404,
        "bijlage before publicatie",
    );
    assert_eq!(
        onderwerpen(&all_berichten(&engine, &x)),
        expected,
        "still hidden"
    );

    // Bad paging parameters, and a citizen without a box.
    for (query, name) in [
        ("na=geen-cursor", "na"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=veel", "limit"),
    ] {
        let reply = as_citizen(
            &engine,
            &x,
            Method::GET,
            &format!("/v1/account/berichten?{query}"),
            None,
        );
        let problem = assert_problem(&reply, 400, query);
        assert_eq!(invalid_names(&problem), [name], "{query}: {problem}");
    }
    let reply = as_citizen(&engine, &y, Method::GET, "/v1/account/berichten", None);
    assert_problem(&reply, 404, "berichten without a box");
}

/// Bytes of every value, so that a bijlage that is re-encoded, trimmed or taken as text shows.
fn pdf_bytes() -> Vec<u8> {
    let mut bytes = b"%PDF-1.4\n".to_vec();
    bytes.extend((0..=255u8).cycle().take(3000));
    bytes
}

#[test]
fn a_bericht_is_read_its_bijlagen_downloaded_marked_gelezen_and_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(&dir.path().join("data"));
    let key = afnemer_a(&engine);
    let x = bsn(840_000);
    open_box(&engine, &x, "x@voorbeeld.nl");

    let tekst = "Geachte heer,\n\nUw aanslag 2026 is € 1.234,-. Zie de bijlagen.";
    let pdf = pdf_bytes();
    let txt = "Regel één\nRegel twee\n".as_bytes().to_vec();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let sent = json!({
        "berichtId": guid(1, 1),
        "berichtType": "AANSLAG",
        "ontvanger": x,
        "onderwerp": "Uw aanslag 2026",
        "tekst": tekst,
        "referentie": "A-123",
        "bijlagen": [
            { "omschrijving": "Aanslag", "mediatype": "application/pdf", "inhoud": b64(&pdf) },
            { "omschrijving": "Toelichting", "mediatype": "text/plain; charset=utf-8", "inhoud": b64(&txt) },
        ],
    });
    assert_eq!(deliver(&engine, &key, 1, vec![sent]), ["Verwerkt"]);

    let list = all_berichten(&engine, &x);
    assert_eq!(onderwerpen(&list), ["Uw aanslag 2026"]);
    let id = id_of(&list, "Uw aanslag 2026").to_owned();
    let path = format!("/v1/account/berichten/{id}");

    let got = ok_json(
        &as_citizen(&engine, &x, Method::GET, &path, None),
        200,
        "get bericht",
    );
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["tekst"], tekst, "{got}");
    assert_eq!(got["onderwerp"], "Uw aanslag 2026");
    assert_eq!(got["referentie"], "A-123");
    assert_eq!(got["berichtType"], "AANSLAG");
    assert_eq!(got["afzender"]["oin"], oin(1));
    assert_eq!(got["afzender"]["naam"], "Belastingdienst");
    assert_eq!(got["gelezen"], false);
    let bijlagen = got["bijlagen"].as_array().expect("bijlagen").clone();
    assert_eq!(bijlagen.len(), 2, "{got}");

    // Each bijlage: the exact bytes sent, with its media type.
    let expected = [
        ("Aanslag", "application/pdf", &pdf),
        ("Toelichting", "text/plain; charset=utf-8", &txt),
    ];
    let mut volgordes = Vec::new();
    for (bijlage, (omschrijving, mediatype, bytes)) in bijlagen.iter().zip(expected) {
        assert_eq!(bijlage["omschrijving"], omschrijving, "{bijlage}");
        assert_eq!(bijlage["mediatype"], mediatype, "{bijlage}");
        assert_eq!(bijlage["grootte"], bytes.len(), "{bijlage}");
        let volgorde = bijlage["volgorde"].as_u64().expect("volgorde");
        volgordes.push(volgorde);
        let reply = as_citizen(
            &engine,
            &x,
            Method::GET,
            &format!("{path}/bijlagen/{volgorde}"),
            None,
        );
        assert_eq!(reply.status, 200, "bijlage {volgorde}");
        assert_eq!(
            reply.header("Content-Type"),
            Some(mediatype),
            "bijlage {volgorde}"
        );
        assert!(
            reply.body == *bytes,
            "bijlage {volgorde}: other bytes than sent"
        );
    }
    assert_ne!(volgordes[0], volgordes[1], "each bijlage its own volgorde");
    let unknown = volgordes.iter().max().expect("two") + 1;
    for volgorde in [unknown.to_string(), "99".to_owned(), "een".to_owned()] {
        let reply = as_citizen(
            &engine,
            &x,
            Method::GET,
            &format!("{path}/bijlagen/{volgorde}"),
            None,
        );
        assert_problem(&reply, 404, &format!("bijlage {volgorde}"));
    }

    // gelezen
    let patched = ok_json(
        &as_citizen(
            &engine,
            &x,
            Method::PATCH,
            &path,
            Some(&json!({ "gelezen": true })),
        ),
        200,
        "patch gelezen",
    );
    assert_eq!(patched["gelezen"], true);
    let got = ok_json(
        &as_citizen(&engine, &x, Method::GET, &path, None),
        200,
        "get after patch",
    );
    assert_eq!(got["gelezen"], true, "{got}");
    assert_eq!(got["tekst"], tekst, "PATCH keeps the rest");
    assert_eq!(all_berichten(&engine, &x)[0]["gelezen"], true);

    // DELETE
    let reply = as_citizen(&engine, &x, Method::DELETE, &path, None);
    assert_eq!(reply.status, 204, "delete");
    assert!(reply.body.is_empty(), "204 has no body");
    assert_problem(
        &as_citizen(&engine, &x, Method::GET, &path, None),
        404,
        "GET after delete",
    );
    assert_eq!(
        all_berichten(&engine, &x),
        Vec::<Value>::new(),
        "gone from the list"
    );
    assert_problem(
        &as_citizen(&engine, &x, Method::DELETE, &path, None),
        404,
        "DELETE again",
    );
    assert_problem(
        &as_citizen(
            &engine,
            &x,
            Method::PATCH,
            &path,
            Some(&json!({ "gelezen": false })),
        ),
        404,
        "PATCH after delete",
    );
    assert_problem(
        &as_citizen(
            &engine,
            &x,
            Method::GET,
            &format!("{path}/bijlagen/{}", volgordes[0]),
            None,
        ),
        404,
        "bijlage after delete",
    );
    assert_problem(
        &as_citizen(
            &engine,
            &x,
            Method::GET,
            "/v1/account/berichten/geen-id",
            None,
        ),
        404,
        "an id that is no id",
    );
}

// ---------------------------------------------------------------------------------------------
// Authorization
// ---------------------------------------------------------------------------------------------

#[test]
fn without_a_valid_token_every_citizen_call_is_401_and_another_citizens_bericht_is_404() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(&dir.path().join("data"));
    let key = afnemer_a(&engine);
    let (x, y) = (bsn(850_000), bsn(850_100));
    open_box(&engine, &x, "x@voorbeeld.nl");
    open_box(&engine, &y, "y@voorbeeld.nl");
    let mut sent = bericht(&guid(1, 1), &x, "Voor X");
    sent["bijlagen"] = json!([{
        "omschrijving": "Brief",
        "mediatype": "application/pdf",
        "inhoud": base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.4 X"),
    }]);
    assert_eq!(
        deliver(
            &engine,
            &key,
            1,
            vec![sent, bericht(&guid(1, 2), &y, "Voor Y")]
        ),
        ["Verwerkt", "Verwerkt"]
    );
    let x_before = all_berichten(&engine, &x);
    let id = id_of(&x_before, "Voor X").to_owned();
    let x_account = ok_json(
        &as_citizen(&engine, &x, Method::GET, "/v1/account", None),
        200,
        "X's account",
    );

    let now = jsonwebtoken::get_current_timestamp();
    let invalid_bsn = {
        // X's BSN with another last digit fails the elfproef.
        let mut digits = x.clone().into_bytes();
        digits[8] = if digits[8] == b'9' {
            b'0'
        } else {
            digits[8] + 1
        };
        String::from_utf8(digits).expect("ascii")
    };
    let tokens: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        (
            "signed with another secret",
            Some(burger_token_with(
                &json!({ "sub": x, "exp": now + 600 }),
                "een-ander-geheim-van-minstens-32-bytes!",
            )),
        ),
        (
            "expired an hour ago",
            Some(burger_token_with(
                &json!({ "sub": x, "exp": now - 3600 }),
                BURGER_JWT_SECRET,
            )),
        ),
        (
            "sub fails the elfproef",
            Some(burger_token_with(
                &json!({ "sub": invalid_bsn, "exp": now + 600 }),
                BURGER_JWT_SECRET,
            )),
        ),
        (
            "no sub",
            Some(burger_token_with(
                &json!({ "exp": now + 600 }),
                BURGER_JWT_SECRET,
            )),
        ),
        (
            "no exp",
            Some(burger_token_with(&json!({ "sub": x }), BURGER_JWT_SECRET)),
        ),
        ("not a jwt", Some("geen-jwt".to_owned())),
        ("the afnemer's api key", Some(key.clone())),
    ];
    let account = json!({ "email": "indringer@voorbeeld.nl" });
    let voorkeur = json!({ "digitaal": false });
    let gelezen = json!({ "gelezen": true });
    let bericht_path = format!("/v1/account/berichten/{id}");
    let bijlage_path = format!("{bericht_path}/bijlagen/0");
    let voorkeur_path = format!("/v1/account/voorkeuren/{}", oin(1));
    let calls: Vec<(Method, &str, Option<&Value>)> = vec![
        (Method::POST, "/v1/account", Some(&account)),
        (Method::GET, "/v1/account", None),
        (Method::PATCH, "/v1/account", Some(&account)),
        (Method::DELETE, "/v1/account", None),
        (Method::GET, "/v1/account/voorkeuren", None),
        (Method::PUT, &voorkeur_path, Some(&voorkeur)),
        (Method::GET, "/v1/account/berichten", None),
        (Method::GET, &bericht_path, None),
        (Method::PATCH, &bericht_path, Some(&gelezen)),
        (Method::DELETE, &bericht_path, None),
        (Method::GET, &bijlage_path, None),
    ];
    for (what, token) in &tokens {
        for (method, path, body) in &calls {
            let context = format!("{what}: {method} {path}");
            let reply = call(&engine, method.clone(), path, token.as_deref(), *body);
            assert_problem(&reply, 401, &context);
            assert!(
                reply
                    .header("WWW-Authenticate")
                    .is_some_and(|c| c.starts_with("Bearer")),
                "{context}: WWW-Authenticate {:?}",
                reply.header("WWW-Authenticate")
            );
        }
    }
    // A Basic scheme with X's good token is not a bearer token either.
    let reply = send(
        engine
            .client
            .get(engine.url("/v1/account"))
            .header("Authorization", format!("Basic {}", burger_token(&x))),
    );
    assert_problem(&reply, 401, "Basic scheme");

    // Another citizen, well signed in, does not reach X's bericht: 404 as if there were none.
    assert_problem(
        &as_citizen(&engine, &y, Method::GET, &bericht_path, None),
        404,
        "Y reads X's bericht",
    );
    assert_problem(
        &as_citizen(&engine, &y, Method::PATCH, &bericht_path, Some(&gelezen)),
        404,
        "Y marks X's bericht",
    );
    assert_problem(
        &as_citizen(&engine, &y, Method::DELETE, &bericht_path, None),
        404,
        "Y deletes X's bericht",
    );
    assert_problem(
        &as_citizen(&engine, &y, Method::GET, &bijlage_path, None),
        404,
        "Y downloads X's bijlage",
    );
    assert_eq!(onderwerpen(&all_berichten(&engine, &y)), ["Voor Y"]);

    // None of it changed anything of X's.
    assert_eq!(all_berichten(&engine, &x), x_before, "X's berichten");
    let got = ok_json(
        &as_citizen(&engine, &x, Method::GET, &bericht_path, None),
        200,
        "X reads his bericht",
    );
    assert_eq!(got["gelezen"], false, "{got}");
    let reply = as_citizen(&engine, &x, Method::GET, &bijlage_path, None);
    assert_eq!(reply.status, 200, "X's bijlage");
    assert_eq!(reply.body, b"%PDF-1.4 X");
    assert_eq!(
        ok_json(
            &as_citizen(&engine, &x, Method::GET, "/v1/account", None),
            200,
            "X's account after",
        ),
        x_account
    );
    let voorkeuren = ok_json(
        &as_citizen(&engine, &x, Method::GET, "/v1/account/voorkeuren", None),
        200,
        "X's voorkeuren",
    );
    assert_eq!(voorkeuren, json!({ "voorkeuren": [] }));
}

/// A DELETE that answered 204 is final: a PATCH of the same bericht at the same moment (the
/// portal marking it read while the app deletes it) must not write it back.
#[test]
fn every_citizen_answer_says_no_store_and_a_bijlage_is_a_nosniff_attachment() {
    use berichtenbox::http::routes::{Api, ROUTES, Verb};

    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(&dir.path().join("data"));
    let key = afnemer_a(&engine);
    let x = bsn(870_000);
    open_box(&engine, &x, "x@voorbeeld.nl");
    // HTML that a browser would render if it sniffed, under an omschrijving that tries to end
    // the header's file name and start its own.
    let html = b"<html><script>alert(1)</script></html>";
    let mut sent = bericht(&guid(1, 1), &x, "Met bijlage");
    sent["bijlagen"] = json!([{
        "omschrijving": "x\"; filename=\"boos.html",
        "mediatype": "text/html",
        "inhoud": base64::engine::general_purpose::STANDARD.encode(html),
    }]);
    assert_eq!(deliver(&engine, &key, 1, vec![sent]), ["Verwerkt"]);
    let list = all_berichten(&engine, &x);
    let id = id_of(&list, "Met bijlage").to_owned();
    let volgorde = list[0]["bijlagen"][0]["volgorde"]
        .as_u64()
        .unwrap_or_else(|| panic!("no volgorde in {list:?}"));

    let body_for = |path: &str, verb: Verb| -> Option<Value> {
        match (path, verb) {
            ("/v1/account", Verb::Post) => Some(json!({ "email": "x@voorbeeld.nl" })),
            ("/v1/account", Verb::Patch) => Some(json!({ "notificaties": true })),
            (_, Verb::Put) => Some(json!({ "digitaal": true })),
            (_, Verb::Patch) => Some(json!({ "gelezen": true })),
            _ => None,
        }
    };
    let no_store = |reply: &Reply, context: &str| {
        assert_eq!(
            reply.header("Cache-Control"),
            Some("no-store"),
            "{context}: {} {}",
            reply.status,
            reply.text()
        );
    };

    // Every method of every citizen route: with a valid token (deletes last, so the box and
    // the bericht are there for the rest), without one (401), and a method it lacks (405).
    let citizen_routes: Vec<_> = ROUTES.iter().filter(|r| r.api == Api::Burger).collect();
    assert!(citizen_routes.len() >= 6, "{citizen_routes:?}");
    let mut calls = Vec::new();
    for route in &citizen_routes {
        let path = route
            .path
            .replace("{id}", &id)
            .replace("{volgorde}", &volgorde.to_string())
            .replace("{oin}", &oin(1));
        for operation in route.operations {
            calls.push((path.clone(), operation.verb));
        }
        let lacking = [Verb::Put, Verb::Post, Verb::Get]
            .into_iter()
            .find(|verb| route.operations.iter().all(|o| o.verb != *verb))
            .expect("no route has every method");
        let method = Method::from_bytes(lacking.as_str().as_bytes()).expect("method");
        let reply = as_citizen(&engine, &x, method, &path, None);
        assert_problem(&reply, 405, &format!("{} {path}", lacking.as_str()));
        no_store(&reply, &format!("405 {} {path}", lacking.as_str()));
    }
    // DELETE of the bericht before DELETE of the account.
    calls.sort_by_key(|(path, verb)| (*verb == Verb::Delete, std::cmp::Reverse(path.len())));
    let mut statuses = Vec::new();
    for (path, verb) in &calls {
        let method = Method::from_bytes(verb.as_str().as_bytes()).expect("method");
        let context = format!("{} {path}", verb.as_str());
        let body = body_for(path, *verb);
        let reply = call(&engine, method.clone(), path, None, body.as_ref());
        assert_problem(&reply, 401, &format!("{context} without a token"));
        no_store(&reply, &format!("{context} without a token"));
        let reply = as_citizen(&engine, &x, method, path, body.as_ref());
        no_store(&reply, &context);
        statuses.push((context, reply.status));
    }
    // The calls with a token did what they do: successes, and the one 409 of a second box.
    for (context, status) in &statuses {
        let expected: &[u16] = if context == "POST /v1/account" {
            &[409]
        } else {
            &[200, 201, 204]
        };
        assert!(expected.contains(status), "{context}: {status}");
    }
    // Another citizen's bericht (404), and a path under /v1/account that no route has.
    let y = bsn(870_100);
    open_box(&engine, &y, "y@voorbeeld.nl");
    for path in [
        format!("/v1/account/berichten/{id}"),
        "/v1/account/onbekend".to_owned(),
    ] {
        let reply = as_citizen(&engine, &y, Method::GET, &path, None);
        assert_problem(&reply, 404, &path);
        no_store(&reply, &format!("404 {path}"));
    }
    // The afnemers' side is not the citizens': its caching is as it was.
    let reply = engine.get(&key, &format!("/v1/batches/{}", guid(1, 0xffff)));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("Cache-Control"), None);

    // The bijlage itself, on a fresh citizen (x deleted his box above).
    let z = bsn(870_200);
    open_box(&engine, &z, "z@voorbeeld.nl");
    let mut sent = bericht(&guid(2, 1), &z, "Bijlage");
    sent["bijlagen"] = json!([{
        "omschrijving": "x\"; filename=\"boos.html",
        "mediatype": "text/html",
        "inhoud": base64::engine::general_purpose::STANDARD.encode(html),
    }]);
    assert_eq!(deliver(&engine, &key, 2, vec![sent]), ["Verwerkt"]);
    let list = all_berichten(&engine, &z);
    let bijlage = &list[0]["bijlagen"][0];
    let path = format!(
        "/v1/account/berichten/{}/bijlagen/{}",
        list[0]["id"].as_str().expect("id"),
        bijlage["volgorde"]
    );
    let reply = as_citizen(&engine, &z, Method::GET, &path, None);
    assert_eq!(reply.status, 200, "{path}");
    assert_eq!(reply.body, html.to_vec());
    assert_eq!(reply.header("Content-Type"), Some("text/html"));
    assert_eq!(reply.header("X-Content-Type-Options"), Some("nosniff"));
    assert_eq!(reply.header("Cache-Control"), Some("no-store"));
    let disposition = reply.header("Content-Disposition").unwrap_or_default();
    assert!(
        disposition == "attachment" || disposition.starts_with("attachment;"),
        "{disposition}"
    );
    assert!(
        !disposition.contains("boos") && disposition.matches('"').count() <= 2,
        "the afnemer's omschrijving in the header: {disposition}"
    );
}

#[test]
fn a_deleted_bericht_stays_deleted_when_a_patch_runs_at_the_same_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(&dir.path().join("data"));
    let key = afnemer_a(&engine);
    let x = bsn(860_000);
    open_box(&engine, &x, "x@voorbeeld.nl");
    let berichten: Vec<Value> = (0..100)
        .map(|i| bericht(&guid(1, i), &x, &format!("Bericht {i}")))
        .collect();
    assert_eq!(deliver(&engine, &key, 1, berichten), vec!["Verwerkt"; 100]);
    let ids: Vec<String> = all_berichten(&engine, &x)
        .iter()
        .map(|b| b["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 100);

    let gelezen = json!({ "gelezen": true });
    let mut deleted = Vec::new();
    for id in &ids {
        let path = format!("/v1/account/berichten/{id}");
        let (patch, delete) = std::thread::scope(|scope| {
            let patch =
                scope.spawn(|| as_citizen(&engine, &x, Method::PATCH, &path, Some(&gelezen)));
            let delete = scope.spawn(|| as_citizen(&engine, &x, Method::DELETE, &path, None));
            (
                patch.join().expect("patch thread"),
                delete.join().expect("delete thread"),
            )
        });
        assert!(
            patch.status == 200 || patch.status == 404,
            "PATCH: {}",
            patch.status
        );
        assert_eq!(delete.status, 204, "DELETE of a bericht that exists");
        deleted.push(id.clone());
    }
    let left = all_berichten(&engine, &x);
    let back: Vec<&str> = left
        .iter()
        .filter_map(|b| b["id"].as_str())
        .filter(|id| deleted.iter().any(|d| d == id))
        .collect();
    assert!(
        back.is_empty(),
        "{} of {} deleted berichten came back, e.g. {:?}",
        back.len(),
        deleted.len(),
        back.first()
    );
}
