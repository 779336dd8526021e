//! The example bodies in `examples/`, posted as README's "A first session" posts them, so
//! they stay valid.
//!
//! Covered here: every `examples/*.json` is known to this test and accepted by its endpoint
//! (the berichttype 200/201, the batch 202 once its `AANMAAKDATUM` placeholder holds the time
//! now, as README's `sed` fills it in, and then processed with a receipt; the forecast for next
//! month 200/201; the Validatie request 200; the abonnementsverzoek 202, planned for tonight's
//! window).

use std::path::Path;
use std::time::Duration;

use crate::support::{BEHEER_TOKEN, Engine, Reply, send};
use serde_json::Value;

/// The example bodies, by file name, in the order README's first session posts them.
const EXAMPLES: [&str; 5] = [
    "berichttype.json",
    "batch.json",
    "prognose.json",
    "validatie.json",
    "abonnementsverzoek.json",
];

fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn send_raw(
    engine: &Engine,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: String,
) -> Reply {
    send(
        engine
            .client
            .request(method, engine.url(path))
            .bearer_auth(key)
            .header("Content-Type", "application/json")
            .body(body),
    )
}

#[test]
fn every_example_body_is_known_here() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .expect("examples/")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".json"))
        .collect();
    found.sort();
    let mut known: Vec<String> = EXAMPLES.iter().map(|name| (*name).to_owned()).collect();
    known.sort();
    assert_eq!(found, known, "examples/ and this test's list differ");
}

#[test]
fn the_example_bodies_are_accepted_as_readme_posts_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(&dir.path().join("data"));
    let afnemer_oin = "00000001234567890000";

    // The operator: PUT the afnemer, POST a key (README reads `sleutel` from the reply).
    let reply = send(
        engine
            .client
            .put(engine.url(&format!("/v1/beheer/afnemers/{afnemer_oin}")))
            .bearer_auth(BEHEER_TOKEN)
            .header("Content-Type", "application/json")
            .body(r#"{"naam": "Belastingdienst"}"#),
    );
    assert_eq!(reply.status, 201, "put afnemer: {}", reply.text());
    let key = engine.beheer().issue_key(afnemer_oin);

    let reply = send_raw(
        &engine,
        reqwest::Method::PUT,
        "/v1/berichttypen/AANSLAG",
        &key,
        example("berichttype.json"),
    );
    assert!(
        matches!(reply.status, 200 | 201),
        "berichttype: {} {}",
        reply.status,
        reply.text()
    );

    // As README's `sed "s/AANMAAKDATUM/$(date -u +%Y-%m-%dT%H:%M:%SZ)/"`.
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let batch_text = example("batch.json");
    assert!(
        batch_text.contains("AANMAAKDATUM"),
        "batch.json lost its placeholder"
    );
    let reply = send_raw(
        &engine,
        reqwest::Method::POST,
        "/v1/batches",
        &key,
        batch_text.replace("AANMAAKDATUM", &now),
    );
    assert_eq!(reply.status, 202, "batch: {}", reply.text());
    let batch: Value = serde_json::from_str(&batch_text).expect("batch.json is JSON");
    let batch_id = batch["batchId"].as_str().expect("batchId");
    let status = engine.wait_processed(&key, batch_id, Duration::from_secs(30));
    let receipt = &status["verwerkingsbericht"];
    assert_eq!(
        receipt["totaalAantalOntvangenBerichten"].as_u64(),
        batch["berichten"].as_array().map(|b| b.len() as u64),
        "receipt: {status}"
    );

    // README's month: next month (UTC), as `date -u -d "...-15 +1 month"`.
    let next_month = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .first_of_month()
        .checked_add(jiff::Span::new().months(1))
        .expect("month")
        .strftime("%Y-%m")
        .to_string();
    let reply = send_raw(
        &engine,
        reqwest::Method::PUT,
        &format!("/v1/prognoses/{next_month}"),
        &key,
        example("prognose.json"),
    );
    assert!(
        matches!(reply.status, 200 | 201),
        "prognose: {} {}",
        reply.status,
        reply.text()
    );

    let reply = send_raw(
        &engine,
        reqwest::Method::POST,
        "/v1/validaties",
        &key,
        example("validatie.json"),
    );
    assert_eq!(reply.status, 200, "validatie: {}", reply.text());
    let sent: Value = serde_json::from_str(&example("validatie.json")).expect("JSON");
    assert_eq!(
        reply.json()["resultaten"].as_array().map(Vec::len),
        sent["bsns"].as_array().map(Vec::len),
        "validatie: {}",
        reply.text()
    );

    let reply = send_raw(
        &engine,
        reqwest::Method::POST,
        "/v1/abonnementsverzoeken",
        &key,
        example("abonnementsverzoek.json"),
    );
    assert_eq!(reply.status, 202, "abonnementsverzoek: {}", reply.text());
    let sent: Value = serde_json::from_str(&example("abonnementsverzoek.json")).expect("JSON");
    let verzoek = reply.json();
    assert_eq!(verzoek["status"], "ingepland", "{verzoek}");
    assert_eq!(verzoek["verzoekId"], sent["verzoekId"], "{verzoek}");
    assert_eq!(
        verzoek["aantalBsns"].as_u64(),
        sent["bsns"].as_array().map(|b| b.len() as u64),
        "{verzoek}"
    );
}
