//! `POST /v1/batches` and `GET /v1/batches/{batchId}` over real sockets, against the real
//! binary (see `tests/it/common/mod.rs`), plus the endpoints a delivery depends on.
//!
//! Covered here:
//! - a table of malformed, oversized and unauthorised deliveries (401, 403, 413, 415, 400 with
//!   the exact `invalidParams[].name` paths), each answered as problem+json with `API-Version`,
//!   after which none of their batches is stored; and a second table of JSON of the wrong
//!   shape (a top-level `null` or array, fields by position, a field named twice);
//! - 202 with `Location` and a readable status, and a batch at every limit still accepted;
//! - idempotency: the same batch again is 200 with the first reply, other content under the
//!   same `batchId` is 409, both across a graceful restart (SIGTERM, exit 0);
//! - isolation between afnemers: another afnemer's batch is 404, its `batchId` is its own;
//! - the afnemer's rate (429 with a truthful `Retry-After`, nothing stored);
//! - 503 when the store cannot park (disk under its minimum) and when the memory for bodies in
//!   flight is taken, with the health endpoints agreeing; a batch refused with 503 takes
//!   nothing from the afnemer's rate;
//! - `API-Version` and problem+json on every kind of response, also 404 and 405;
//! - the beheer endpoints for afnemers and API keys, and an afnemer's berichttypen.

use crate::support;

use std::net::TcpStream;
use std::time::Duration;

use crate::support::{
    BEHEER_TOKEN, Engine, EngineBuilder, Process, Reply, batch, bsn, guid, oin, ok_json, send,
    wait_until,
};
use base64::Engine as _;
use berichtenbox_actors::core::clock::Clock as _;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn batch_status(engine: &Engine, key: &str, batch_id: &str) -> Reply {
    engine.get(key, &format!("/v1/batches/{batch_id}"))
}

fn batch_id(batch: &Value) -> String {
    batch["batchId"].as_str().expect("batchId").to_owned()
}

/// Everything wrong with a reply that should be problem+json with `status`; empty when right.
fn problem_faults(reply: &Reply, status: u16) -> Vec<String> {
    let mut faults = Vec::new();
    if reply.status != status {
        faults.push(format!(
            "status {} instead of {status}: {}",
            reply.status,
            reply.text()
        ));
        return faults;
    }
    if reply.header("API-Version") != Some("1.0.0") {
        faults.push(format!("API-Version is {:?}", reply.header("API-Version")));
    }
    let content_type = reply.header("Content-Type").unwrap_or("");
    if content_type.split(';').next().map(str::trim) != Some("application/problem+json") {
        faults.push(format!("Content-Type is {content_type:?}"));
    }
    let Ok(body) = serde_json::from_slice::<Value>(&reply.body) else {
        faults.push(format!("body is not JSON: {}", reply.text()));
        return faults;
    };
    for field in ["type", "title", "detail"] {
        if body[field].as_str().is_none_or(str::is_empty) {
            faults.push(format!("problem has no {field}: {body}"));
        }
    }
    if body["status"].as_u64() != Some(u64::from(reply.status)) {
        faults.push(format!(
            "problem status {} is not the HTTP status {}",
            body["status"], reply.status
        ));
    }
    faults
}

/// Asserts a problem+json reply with `status` and answers its body.
#[track_caller]
fn assert_problem(reply: &Reply, status: u16, context: &str) -> Value {
    let faults = problem_faults(reply, status);
    assert!(faults.is_empty(), "{context}: {}", faults.join("; "));
    reply.json()
}

/// The names of `invalidParams`, or `None` when the problem has none.
fn invalid_names(problem: &Value) -> Option<Vec<String>> {
    problem.get("invalidParams").map(|params| {
        params
            .as_array()
            .expect("invalidParams is an array")
            .iter()
            .map(|p| p["name"].as_str().unwrap_or("<no name>").to_owned())
            .collect()
    })
}

/// Asserts `Retry-After` is a whole number of seconds in `range`, and answers it.
#[track_caller]
fn retry_after(reply: &Reply, range: std::ops::RangeInclusive<u64>) -> u64 {
    let value = reply.header("Retry-After").expect("Retry-After header");
    let seconds: u64 = value.trim().parse().expect("Retry-After in whole seconds");
    assert!(
        range.contains(&seconds),
        "Retry-After {seconds} not in {range:?}"
    );
    seconds
}

fn base64_of(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn bijlage(size: usize) -> Value {
    json!({ "omschrijving": "Bijlage", "mediatype": "application/pdf", "inhoud": base64_of(&vec![b'%'; size]) })
}

/// A valid batch of `n` berichten, changed by `change`.
fn broken(batch_no: u32, n: u32, change: impl FnOnce(&mut Value)) -> Value {
    let mut batch = batch(batch_no, n);
    change(&mut batch);
    batch
}

/// Sets the field at a JSON pointer, adding it to its object when it is not there yet.
fn set_at(value: &mut Value, pointer: &str, new: Value) {
    let (parent, field) = pointer.rsplit_once('/').expect("a pointer");
    match value.pointer_mut(parent).expect(pointer) {
        Value::Object(map) => {
            map.insert(field.to_owned(), new);
        }
        Value::Array(items) => items[field.parse::<usize>().expect("an index")] = new,
        other => panic!("{pointer}: {other} has no fields"),
    }
}

/// The JSON of `value` written differently: object keys in reverse order, with whitespace.
fn reformatted(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .rev()
                .map(|(key, value)| {
                    format!(
                        "\n  {} :\t{}",
                        Value::from(key.as_str()),
                        reformatted(value)
                    )
                })
                .collect();
            format!("{{ {} \n}}", fields.join(" ,"))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(reformatted).collect();
            format!("[ {} ]", items.join(" , "))
        }
        other => other.to_string(),
    }
}

fn assert_rfc3339(value: &Value) -> jiff::Timestamp {
    let text = value.as_str().expect("a timestamp string");
    text.parse::<jiff::Timestamp>()
        .unwrap_or_else(|error| panic!("{text:?} is not RFC 3339: {error}"))
}

// ---------------------------------------------------------------------------------------------
// 1. The table of refused deliveries
// ---------------------------------------------------------------------------------------------

/// Which engine a row goes to: the default one, or one with `max_body_bytes = 65536`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum On {
    Main,
    SmallBody,
}

#[derive(Debug, Clone)]
enum Auth {
    /// No `Authorization` header.
    Missing,
    /// This `Authorization` header, verbatim.
    Header(String),
    /// The key of the target engine's active afnemer.
    Active,
    /// The key of the main engine's inactive afnemer.
    Inactive,
}

#[derive(Debug)]
enum Payload {
    Json(Value),
    Raw(Vec<u8>),
    /// Sent with `Transfer-Encoding: chunked`, without a `Content-Length`.
    Chunked(Vec<u8>),
}

#[derive(Debug)]
struct Row {
    name: &'static str,
    on: On,
    auth: Auth,
    content_type: Option<&'static str>,
    payload: Payload,
    status: u16,
    /// For 400 and 413: exactly these `invalidParams` names (empty: no `invalidParams`).
    names: Vec<String>,
    /// The batchId that must not be stored afterwards, if the row has a usable one.
    batch_id: Option<String>,
}

impl Row {
    fn new(name: &'static str, payload: Payload) -> Self {
        let batch_id = match &payload {
            Payload::Json(value) => value["batchId"]
                .as_str()
                .filter(|id| id.len() == 36)
                .map(str::to_owned),
            Payload::Raw(_) | Payload::Chunked(_) => None,
        };
        Self {
            name,
            on: On::Main,
            auth: Auth::Active,
            content_type: Some("application/json"),
            payload,
            status: 400,
            names: Vec::new(),
            batch_id,
        }
    }

    fn json(name: &'static str, value: Value) -> Self {
        Self::new(name, Payload::Json(value))
    }

    fn raw(name: &'static str, bytes: impl Into<Vec<u8>>) -> Self {
        Self::new(name, Payload::Raw(bytes.into()))
    }

    fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    fn names(mut self, names: &[&str]) -> Self {
        self.names = names.iter().map(|n| (*n).to_owned()).collect();
        self
    }

    fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    fn content_type(mut self, content_type: Option<&'static str>) -> Self {
        self.content_type = content_type;
        self
    }

    fn on(mut self, on: On) -> Self {
        self.on = on;
        self
    }

    fn stored_as(mut self, batch_id: String) -> Self {
        self.batch_id = Some(batch_id);
        self
    }
}

fn rows() -> Vec<Row> {
    let mut next = 100u32;
    let mut no = move || {
        next += 1;
        next
    };
    let valid = |no: u32| batch(no, 5);
    let set =
        |no: u32, pointer: &'static str, value: Value| broken(no, 5, |b| set_at(b, pointer, value));
    let truncated = {
        let b = valid(no());
        let bytes = serde_json::to_vec(&b).expect("json");
        (bytes[..bytes.len() / 2].to_vec(), batch_id(&b))
    };
    let trailing = {
        let b = valid(no());
        let mut bytes = serde_json::to_vec(&b).expect("json");
        bytes.extend_from_slice(b" {}");
        (bytes, batch_id(&b))
    };
    // ~100 KB, over the small engine's 65536 bytes, but otherwise a valid batch.
    let large = |no: u32| {
        broken(no, 1, |b| {
            b["berichten"][0]["bijlagen"] = json!([bijlage(75_000)]);
        })
    };
    let large_sized = large(no());
    let large_chunked = large(no());

    vec![
        // Credentials and media type.
        Row::json("no Authorization header", valid(no()))
            .auth(Auth::Missing)
            .status(401),
        Row::json("Basic instead of Bearer", valid(no()))
            .auth(Auth::Header("Basic dXNlcjpwYXNzd29yZA==".into()))
            .status(401),
        Row::json("Bearer without a token", valid(no()))
            .auth(Auth::Header("Bearer".into()))
            .status(401),
        Row::json("unknown key", valid(no()))
            .auth(Auth::Header("Bearer geen-bekende-sleutel-0123456789".into()))
            .status(401),
        Row::json("inactive afnemer", valid(no()))
            .auth(Auth::Inactive)
            .status(403),
        Row::json("Content-Type text/plain", valid(no()))
            .content_type(Some("text/plain"))
            .status(415),
        Row::json("no Content-Type", valid(no()))
            .content_type(None)
            .status(415),
        Row::json("Content-Type form-urlencoded", valid(no()))
            .content_type(Some("application/x-www-form-urlencoded"))
            .status(415),
        // Not JSON at all.
        Row::raw("body not JSON", "dit is geen json"),
        Row::raw("empty body", ""),
        Row::raw("truncated JSON", truncated.0).stored_as(truncated.1),
        Row::raw("JSON followed by more", trailing.0).stored_as(trailing.1),
        Row::raw("invalid UTF-8 in a string", b"{\"batchId\": \"\xff\xfe\"}".to_vec()),
        // JSON of the wrong shape.
        Row::json(
            "unknown top-level field",
            broken(no(), 5, |b| b["spoed"] = json!(true)),
        )
        .names(&["spoed"]),
        Row::json(
            "berichten is an object",
            broken(no(), 5, |b| b["berichten"] = json!({ "0": {} })),
        )
        .names(&["berichten"]),
        Row::json(
            "unknown field in a bericht",
            broken(no(), 5, |b| b["berichten"][1]["prioriteit"] = json!("hoog")),
        )
        .names(&["berichten[1].prioriteit"]),
        Row::json(
            "ontvanger is a number",
            set(no(), "/berichten/0/ontvanger", json!(999_993_653)),
        )
        .names(&["berichten[0].ontvanger"]),
        // The batch's own fields.
        Row::json("batchId not a GUID", set(no(), "/batchId", json!("batch-1")))
            .names(&["batchId"]),
        Row::json(
            "batchId missing",
            broken(no(), 5, |b| {
                b.as_object_mut().expect("object").remove("batchId");
            }),
        )
        .names(&["batchId"]),
        Row::json(
            "aanmaakDatum not RFC 3339",
            set(no(), "/aanmaakDatum", json!("28-11-2026 10:00")),
        )
        .names(&["aanmaakDatum"]),
        Row::json(
            "aanmaakDatum without timezone",
            set(no(), "/aanmaakDatum", json!("2026-11-28T10:00:00")),
        )
        .names(&["aanmaakDatum"]),
        Row::json("berichten empty", set(no(), "/berichten", json!([])))
            .names(&["berichten"]),
        Row::json(
            "berichten missing",
            broken(no(), 5, |b| {
                b.as_object_mut().expect("object").remove("berichten");
            }),
        )
        .names(&["berichten"]),
        // A bericht's fields.
        Row::json(
            "berichtId not a GUID",
            set(no(), "/berichten/1/berichtId", json!("3b7e")),
        )
        .names(&["berichten[1].berichtId"]),
        Row::json(
            "berichtId twice in the batch",
            broken(no(), 5, |b| {
                b["berichten"][3]["berichtId"] = b["berichten"][0]["berichtId"].clone();
            }),
        )
        .names(&["berichten[3].berichtId"]),
        Row::json(
            "berichtId twice, differing in case",
            broken(no(), 5, |b| {
                let id = b["berichten"][1]["berichtId"].as_str().expect("id");
                b["berichten"][4]["berichtId"] = json!(id.to_uppercase());
            }),
        )
        .names(&["berichten[4].berichtId"]),
        Row::json(
            "berichtType of 9 characters",
            set(no(), "/berichten/2/berichtType", json!("AANSLAGEN")),
        )
        .names(&["berichten[2].berichtType"]),
        Row::json(
            "berichtType empty",
            set(no(), "/berichten/0/berichtType", json!("")),
        )
        .names(&["berichten[0].berichtType"]),
        Row::json(
            "ontvanger fails the elfproef",
            set(no(), "/berichten/3/ontvanger", json!("999993654")),
        )
        .names(&["berichten[3].ontvanger"]),
        Row::json(
            "ontvanger of 8 digits",
            set(no(), "/berichten/1/ontvanger", json!("99999365")),
        )
        .names(&["berichten[1].ontvanger"]),
        Row::json(
            "ontvanger all zeros",
            set(no(), "/berichten/2/ontvanger", json!("000000000")),
        )
        .names(&["berichten[2].ontvanger"]),
        Row::json(
            "onderwerp empty",
            set(no(), "/berichten/0/onderwerp", json!("")),
        )
        .names(&["berichten[0].onderwerp"]),
        Row::json(
            "onderwerp of 51 characters",
            set(no(), "/berichten/4/onderwerp", json!("é".repeat(51))),
        )
        .names(&["berichten[4].onderwerp"]),
        Row::json(
            "onderwerp with a control character",
            set(no(), "/berichten/1/onderwerp", json!("Uw aanslag\u{7}")),
        )
        .names(&["berichten[1].onderwerp"]),
        Row::json(
            "tekst of 4001 characters",
            set(no(), "/berichten/4/tekst", json!("t".repeat(4001))),
        )
        .names(&["berichten[4].tekst"]),
        Row::json(
            "referentie of 26 characters",
            set(no(), "/berichten/2/referentie", json!("R".repeat(26))),
        )
        .names(&["berichten[2].referentie"]),
        Row::json(
            "publicatieDatum not a date",
            set(no(), "/berichten/1/publicatieDatum", json!("morgen")),
        )
        .names(&["berichten[1].publicatieDatum"]),
        // Attachments.
        Row::json(
            "3 bijlagen",
            set(
                no(),
                "/berichten/1/bijlagen",
                json!([bijlage(10), bijlage(10), bijlage(10)]),
            ),
        )
        .names(&["berichten[1].bijlagen"]),
        Row::json(
            "bijlage with invalid base64",
            broken(no(), 5, |b| {
                let bijlagen = b["berichten"][0]["bijlagen"].as_array_mut().expect("bijlagen");
                bijlagen.push(json!({ "omschrijving": "Kapot", "mediatype": "application/pdf", "inhoud": "!!!!" }));
            }),
        )
        .names(&["berichten[0].bijlagen[1].inhoud"]),
        Row::json(
            "bijlage without mediatype",
            broken(no(), 5, |b| {
                b["berichten"][2]["bijlagen"][0]
                    .as_object_mut()
                    .expect("bijlage")
                    .remove("mediatype");
            }),
        )
        .names(&["berichten[2].bijlagen[0].mediatype"]),
        Row::json(
            "bijlage with mediatype \"pdf\"",
            set(no(), "/berichten/4/bijlagen/0/mediatype", json!("pdf")),
        )
        .names(&["berichten[4].bijlagen[0].mediatype"]),
        // Several at once: every broken field is named.
        Row::json(
            "several broken fields in different berichten",
            broken(no(), 5, |b| {
                b["aanmaakDatum"] = json!("gisteren");
                b["berichten"][0]["ontvanger"] = json!("123456789");
                b["berichten"][2]["onderwerp"] = json!("");
                b["berichten"][3]["berichtType"] = json!("TE LANG TYPE");
                b["berichten"][4]["bijlagen"][0]["inhoud"] = json!("niet base64");
            }),
        )
        .names(&[
            "aanmaakDatum",
            "berichten[0].ontvanger",
            "berichten[2].onderwerp",
            "berichten[3].berichtType",
            "berichten[4].bijlagen[0].inhoud",
        ]),
        // Too large.
        Row::json("1001 berichten", batch(no(), 1001))
            .status(413)
            .names(&["berichten"]),
        Row::json(
            "bijlagen of one bericht over 500,000 bytes",
            set(
                no(),
                "/berichten/1/bijlagen",
                json!([bijlage(250_000), bijlage(250_001)]),
            ),
        )
        .status(413)
        .names(&["berichten[1].bijlagen"]),
        Row::json(
            "bijlagen over 500,000 bytes and a broken field elsewhere",
            broken(no(), 5, |b| {
                b["berichten"][3]["bijlagen"] = json!([bijlage(500_001)]);
                b["berichten"][0]["ontvanger"] = json!("12345678");
            }),
        )
        .status(413)
        .names(&["berichten[3].bijlagen", "berichten[0].ontvanger"]),
        Row::json("body over max_body_bytes", large_sized)
            .on(On::SmallBody)
            .status(413),
        Row::new(
            "chunked body over max_body_bytes",
            Payload::Chunked(serde_json::to_vec(&large_chunked).expect("json")),
        )
        .stored_as(batch_id(&large_chunked))
        .on(On::SmallBody)
        .status(413),
    ]
}

/// JSON of the wrong shape: a batch, bericht or field that is not what the contract writes, and
/// JSON that names a field twice. Each is a 400 that stores nothing.
fn shape_rows() -> Vec<Row> {
    let mut next = 500u32;
    let mut no = move || {
        next += 1;
        next
    };
    let valid = |no: u32| batch(no, 5);
    let array = {
        let b = valid(no());
        (serde_json::to_vec(&json!([b])).expect("json"), batch_id(&b))
    };
    // The batch's fields by position, as serde would take them for a struct.
    let positional = {
        let b = valid(no());
        let berichten: Vec<Value> = b["berichten"]
            .as_array()
            .expect("berichten")
            .iter()
            .map(|m| {
                json!([
                    m["berichtId"],
                    m["berichtType"],
                    m["ontvanger"],
                    m["onderwerp"],
                    m["tekst"],
                    null,
                    null,
                    []
                ])
            })
            .collect();
        let value = json!([b["batchId"], b["aanmaakDatum"], berichten]);
        (serde_json::to_vec(&value).expect("json"), batch_id(&b))
    };
    let duplicate_key = {
        let b = valid(no());
        let text = serde_json::to_string(&b).expect("json");
        let text = format!("{{\"batchId\":\"{}\",{}", guid(no(), 1), &text[1..]);
        (text.into_bytes(), batch_id(&b))
    };

    vec![
        Row::raw("JSON null", "null"),
        Row::raw("JSON array instead of object", array.0).stored_as(array.1),
        Row::raw("batch as a positional JSON array", positional.0).stored_as(positional.1),
        Row::json(
            "bericht as a positional JSON array",
            broken(no(), 5, |b| {
                let m = b["berichten"][1].clone();
                b["berichten"][1] = json!([
                    m["berichtId"],
                    m["berichtType"],
                    m["ontvanger"],
                    m["onderwerp"],
                    m["tekst"],
                    null,
                    null,
                    []
                ]);
            }),
        )
        .names(&["berichten[1]"]),
        Row::raw("batchId twice in one object", duplicate_key.0)
            .stored_as(duplicate_key.1)
            .names(&["batchId"]),
    ]
}

/// Keys of one engine's afnemers.
struct Keys {
    active: String,
    inactive: Option<String>,
}

fn send_row(engine: &Engine, keys: &Keys, row: &Row) -> Reply {
    let mut request = engine.client.post(engine.url("/v1/batches"));
    request = match &row.auth {
        Auth::Missing => request,
        Auth::Header(value) => request.header("Authorization", value.as_str()),
        Auth::Active => request.bearer_auth(&keys.active),
        Auth::Inactive => request.bearer_auth(keys.inactive.as_deref().expect("inactive key")),
    };
    if let Some(content_type) = row.content_type {
        request = request.header("Content-Type", content_type);
    }
    request = match &row.payload {
        Payload::Json(value) => request.body(serde_json::to_vec(value).expect("json")),
        Payload::Raw(bytes) => request.body(bytes.clone()),
        Payload::Chunked(bytes) => request.body(reqwest::blocking::Body::new(
            std::io::Cursor::new(bytes.clone()),
        )),
    };
    send(request)
}

fn row_faults(row: &Row, reply: &Reply) -> Vec<String> {
    let mut faults = problem_faults(reply, row.status);
    let Ok(problem) = serde_json::from_slice::<Value>(&reply.body) else {
        return faults;
    };
    if reply.status != row.status {
        return faults;
    }
    let names = invalid_names(&problem);
    if row.status == 400 || row.status == 413 {
        let mut expected = row.names.clone();
        expected.sort();
        let mut actual = names.clone().unwrap_or_default();
        actual.sort();
        if actual != expected {
            faults.push(format!(
                "invalidParams names {actual:?}, expected {expected:?}"
            ));
        }
        if expected.is_empty() && names.is_some() {
            faults.push(format!(
                "expected no invalidParams, got {}",
                problem["invalidParams"]
            ));
        }
        for param in problem["invalidParams"].as_array().into_iter().flatten() {
            if param["reason"].as_str().is_none_or(str::is_empty) {
                faults.push(format!("invalidParam without a reason: {param}"));
            }
        }
    } else if names.is_some() {
        faults.push(format!(
            "a {} has invalidParams: {}",
            row.status, problem["invalidParams"]
        ));
    }
    if row.status == 401
        && reply
            .header("WWW-Authenticate")
            .is_none_or(|v| !v.starts_with("Bearer"))
    {
        faults.push(format!(
            "401 without WWW-Authenticate: Bearer (got {:?})",
            reply.header("WWW-Authenticate")
        ));
    }
    faults
}

#[test]
fn refused_deliveries_are_problems_and_store_nothing() {
    let rows = rows();
    assert!(rows.len() >= 30, "the table has {} rows", rows.len());
    run_table(&rows, 30);
}

/// The contract's batch, berichten and bijlagen are JSON objects with named fields: an array in
/// their place is a 400 (serde would otherwise read a struct's fields by position), a top-level
/// value that is no object has no field to name (no `invalidParams`, as for a body that is not
/// JSON), and a field named twice is named.
#[test]
fn json_of_the_wrong_shape_is_refused_and_stores_nothing() {
    run_table(&shape_rows(), 4);
}

/// Sends every row to a fresh engine (or one with a small body limit), checks each reply, and
/// then that none of the rows' batches was stored; fails with every fault found.
fn run_table(rows: &[Row], min_checked: usize) {
    let main_dir = tempfile::tempdir().expect("tempdir");
    let small_dir = tempfile::tempdir().expect("tempdir");
    let main = Engine::start(&main_dir.path().join("data"));
    let small = Engine::builder(&small_dir.path().join("data"))
        .configure(|c| {
            c.server.max_body_bytes = 65536;
            c.server.in_flight_bytes = 1048576;
        })
        .start();
    let main_keys = Keys {
        active: main.afnemer(&oin(1), json!({ "naam": "Gemeente Actief" })),
        inactive: Some(main.afnemer(
            &oin(2),
            json!({ "naam": "Gemeente Inactief", "actief": false }),
        )),
    };
    let small_keys = Keys {
        active: small.afnemer(&oin(1), json!({ "naam": "Gemeente Klein" })),
        inactive: None,
    };

    let mut names: Vec<&str> = rows.iter().map(|r| r.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), rows.len(), "row names are distinct");

    let mut faults = Vec::new();
    for row in rows {
        let (engine, keys) = match row.on {
            On::Main => (&main, &main_keys),
            On::SmallBody => (&small, &small_keys),
        };
        let reply = send_row(engine, keys, row);
        faults.extend(
            row_faults(row, &reply)
                .into_iter()
                .map(|fault| format!("[{}] {fault}", row.name)),
        );
    }

    // Nothing was stored: every batchId the table used is unknown to its afnemer. The
    // inactive afnemer is made active first, so that its key may ask.
    main.afnemer(
        &oin(2),
        json!({ "naam": "Gemeente Inactief", "actief": true }),
    );
    let mut checked = 0;
    for row in rows {
        let Some(batch_id) = &row.batch_id else {
            continue;
        };
        let (engine, key) = match (row.on, &row.auth) {
            (On::SmallBody, _) => (&small, &small_keys.active),
            (On::Main, Auth::Inactive) => (&main, main_keys.inactive.as_ref().expect("key")),
            (On::Main, _) => (&main, &main_keys.active),
        };
        let reply = batch_status(engine, key, batch_id);
        faults.extend(
            problem_faults(&reply, 404)
                .into_iter()
                .map(|fault| format!("[{}] GET /v1/batches/{batch_id} after: {fault}", row.name)),
        );
        checked += 1;
    }
    assert!(
        checked >= min_checked,
        "only {checked} rows had a batchId to check"
    );
    assert!(
        faults.is_empty(),
        "{} faults:\n{}",
        faults.len(),
        faults.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// 2. 202
// ---------------------------------------------------------------------------------------------

#[test]
fn a_valid_batch_is_parked_with_202_and_its_location_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(&dir.path().join("data"));
    let key = engine.afnemer(&oin(1), json!({ "naam": "Gemeente" }));
    let batch = batch(1, 3);
    let id = batch_id(&batch);

    // The engine's clock, not the system's: under load the engine may have started (and set
    // its clock) seconds before this request.
    let before = engine.clock.now();
    let reply = engine.post_batch(&key, &batch);
    let after = engine.clock.now();
    assert_eq!(reply.status, 202, "{}", reply.text());
    assert_eq!(reply.header("API-Version"), Some("1.0.0"));
    assert!(
        reply
            .header("Content-Type")
            .is_some_and(|v| v.starts_with("application/json")),
        "{:?}",
        reply.header("Content-Type")
    );
    let location = format!("/v1/batches/{id}");
    assert_eq!(reply.header("Location"), Some(location.as_str()));
    let body = reply.json();
    assert_eq!(body["batchId"], json!(id));
    assert_eq!(body["status"], json!("geparkeerd"));
    assert_eq!(body["aantalBerichten"], json!(3));
    let ontvangen_op = assert_rfc3339(&body["ontvangenOp"]);
    let slack = jiff::SignedDuration::from_secs(5);
    assert!(
        ontvangen_op >= before - slack && ontvangen_op <= after + slack,
        "ontvangenOp {ontvangen_op} not between {before} and {after}"
    );

    let status = engine.get(&key, &location);
    assert_eq!(status.status, 200, "{}", status.text());
    assert_eq!(status.header("API-Version"), Some("1.0.0"));
    let read = status.json();
    for field in ["batchId", "ontvangenOp", "aantalBerichten"] {
        assert_eq!(read[field], body[field], "{field} of GET {location}");
    }
    // Processing may already have moved the batch on; it is never anything else.
    assert!(
        ["geparkeerd", "in-verwerking", "verwerkt"]
            .contains(&read["status"].as_str().unwrap_or("")),
        "{read}"
    );

    // A media type with parameters is application/json all the same.
    let other = support::batch(2, 1);
    let reply = send(
        engine
            .client
            .post(engine.url("/v1/batches"))
            .bearer_auth(&key)
            .header("Content-Type", "application/json; charset=utf-8")
            .body(serde_json::to_vec(&other).expect("json")),
    );
    assert_eq!(reply.status, 202, "{}", reply.text());
    assert_eq!(reply.json()["aantalBerichten"], json!(1));
    assert_eq!(batch_status(&engine, &key, &batch_id(&other)).status, 200);
}

#[test]
fn a_batch_at_every_limit_is_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(&dir.path().join("data"));
    let key = engine.afnemer(&oin(1), json!({ "naam": "Gemeente" }));
    let mut batch = batch(3, 1000);
    batch["aanmaakDatum"] = json!("2026-11-28T11:00:00+01:00");
    batch["berichten"][999] = json!({
        "berichtId": guid(3, 999).to_uppercase(),
        "berichtType": "ABCD-_89",
        "ontvanger": bsn(77),
        "onderwerp": "é".repeat(50),
        "tekst": "ü".repeat(4000),
        "referentie": "R".repeat(25),
        "publicatieDatum": "2026-12-01T00:00:00+01:00",
        "bijlagen": [
            { "omschrijving": "o".repeat(100), "mediatype": "application/pdf", "inhoud": base64_of(&vec![1u8; 250_000]) },
            { "omschrijving": "Tweede", "mediatype": "text/plain; charset=utf-8", "inhoud": base64_of(&vec![2u8; 250_000]) },
        ],
    });
    let reply = engine.post_batch(&key, &batch);
    assert_eq!(reply.status, 202, "{}", reply.text());
    assert_eq!(reply.json()["aantalBerichten"], json!(1000));
    assert_eq!(batch_status(&engine, &key, &batch_id(&batch)).status, 200);
}

/// The engine's clock, read as the engine reads it.
fn engine_now(engine: &Engine) -> jiff::Timestamp {
    use berichtenbox_actors::core::clock::Clock as _;
    engine.clock.now()
}

#[test]
fn an_aanmaak_datum_more_than_five_minutes_ahead_of_the_engines_clock_is_400_and_not_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(&dir.path().join("data"));
    let key = engine.afnemer(&oin(1), json!({ "naam": "Gemeente" }));
    // An hour ahead of the system's clock: only the engine's own clock can judge these dates
    // (on the system's clock, now+4 minutes would be over an hour ahead).
    engine.advance(Duration::from_secs(3600));
    let mins = |n: i64| jiff::SignedDuration::from_mins(n);

    let mut soon = batch(60, 2);
    soon["aanmaakDatum"] = json!((engine_now(&engine) + mins(4)).to_string());
    let reply = engine.post_batch(&key, &soon);
    assert_eq!(reply.status, 202, "{}", reply.text());
    assert_eq!(batch_status(&engine, &key, &batch_id(&soon)).status, 200);

    for (n, ahead) in [(61, mins(6)), (62, mins(60 * 24 * 365 * 7000))] {
        let mut late = batch(n, 2);
        late["aanmaakDatum"] = json!((engine_now(&engine) + ahead).to_string());
        let reply = engine.post_batch(&key, &late);
        let problem = assert_problem(&reply, 400, "aanmaakDatum ahead");
        assert_eq!(
            invalid_names(&problem),
            Some(vec!["aanmaakDatum".to_owned()]),
            "{problem}"
        );
        assert_eq!(batch_status(&engine, &key, &batch_id(&late)).status, 404);
    }
    // Nothing of the refused batches was parked or counted: one batch of 2 was offered.
    let dag = engine.get(&key, "/v1/rapportages/dagelijks");
    assert_eq!(dag.status, 200, "{}", dag.text());
    assert_eq!(dag.json()["aangeboden"], json!(2), "{}", dag.text());
}

#[test]
fn extreme_dates_are_processed_with_their_codes_and_wrap_nowhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(&dir.path().join("data"));
    let afnemer = engine
        .beheer()
        .afnemer_with_aanslag(&oin(1), json!({ "naam": "Gemeente" }));
    let burger = bsn(5);
    engine.open_box(&burger);
    let day = jiff::SignedDuration::from_hours(24);
    let now = engine_now(&engine);
    let bericht = |i: u32, publicatie: Option<&str>| {
        let mut b = json!({
            "berichtId": guid(70, i),
            "berichtType": "AANSLAG",
            "ontvanger": burger,
            "onderwerp": format!("Bericht {i}"),
            "tekst": "Tekst.",
        });
        if let Some(at) = publicatie {
            b["publicatieDatum"] = json!(at);
        }
        b
    };
    let deliver = |batch_no: u32, aanmaak: &str, berichten: Vec<Value>| -> Vec<(String, String)> {
        let batch = json!({ "batchId": guid(batch_no, 0xffff), "aanmaakDatum": aanmaak, "berichten": berichten });
        let reply = afnemer.deliver(&batch);
        assert_eq!(reply.status, 202, "{}", reply.text());
        let done = afnemer.wait_processed(&batch_id(&batch), Duration::from_secs(20));
        let mut codes: Vec<(String, String)> = done["verwerkingsbericht"]["berichten"]
            .as_array()
            .expect("berichten")
            .iter()
            .map(|b| {
                (
                    b["berichtId"].as_str().unwrap_or_default().to_owned(),
                    b["verwerkingsCode"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        codes.sort();
        codes
    };

    // Just inside the 13 days of the past (a minute to spare), with a publicatieDatum in the
    // year 9999, one exactly 13 days after aanmaakDatum, and none.
    let edge = now - day * 13 + jiff::SignedDuration::from_mins(1);
    let at_13 = (edge + day * 13).to_string();
    let codes = deliver(
        71,
        &edge.to_string(),
        vec![
            bericht(1, Some("9999-06-01T00:00:00Z")),
            bericht(2, Some(&at_13)),
            bericht(3, None),
        ],
    );
    assert_eq!(
        codes,
        vec![
            (
                guid(70, 1),
                "PublicatieDatumLigtTeVerInDeToekomst".to_owned()
            ),
            (guid(70, 2), "Verwerkt".to_owned()),
            (guid(70, 3), "Verwerkt".to_owned()),
        ]
    );
    // Only the one without a later publicatieDatum shows yet.
    let shown: Vec<Value> = engine.burger(&burger).box_all();
    assert_eq!(shown.len(), 1, "{shown:?}");

    // Just past the edge, and in the year 0001: too old, whatever the publicatieDatum.
    let past_edge = (now - day * 13 - jiff::SignedDuration::from_mins(1)).to_string();
    for (batch_no, aanmaak) in [(72, past_edge.as_str()), (73, "0001-01-01T00:00:00Z")] {
        let codes = deliver(
            batch_no,
            aanmaak,
            vec![
                bericht(batch_no * 10, Some("9999-06-01T00:00:00Z")),
                bericht(batch_no * 10 + 1, None),
            ],
        );
        assert!(
            codes
                .iter()
                .all(|(_, code)| code == "AanmaakDatumLigtTeVerInHetVerleden"),
            "{aanmaak}: {codes:?}"
        );
        assert_eq!(codes.len(), 2);
    }
    // The engine still answers, and the box holds what it held.
    assert_eq!(engine.burger(&burger).box_all().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// 3. Idempotency, across a restart
// ---------------------------------------------------------------------------------------------

#[test]
fn the_same_batch_is_200_and_other_content_409_also_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let engine = Engine::start(&data);
    let key = engine.afnemer(&oin(1), json!({ "naam": "Gemeente" }));
    let batch = batch(4, 4);
    let id = batch_id(&batch);
    let mut other = batch.clone();
    other["berichten"][1]["onderwerp"] = json!("Een ander onderwerp");

    let first = engine.post_batch(&key, &batch);
    assert_eq!(first.status, 202, "{}", first.text());
    let first_body = first.json();

    let again_as = |engine: &Engine, context: &str| {
        let reply = send(
            engine
                .client
                .post(engine.url("/v1/batches"))
                .bearer_auth(&key)
                .header("Content-Type", "application/json")
                .body(reformatted(&batch)),
        );
        assert_eq!(reply.status, 200, "{context}: {}", reply.text());
        assert_eq!(reply.header("API-Version"), Some("1.0.0"));
        assert_eq!(reply.json(), first_body, "{context}: not the first reply");
    };
    let conflict_as = |engine: &Engine, context: &str| {
        let reply = engine.post_batch(&key, &other);
        let problem = assert_problem(&reply, 409, context);
        assert!(problem.get("invalidParams").is_none(), "{problem}");
    };
    assert_ne!(
        reformatted(&batch),
        serde_json::to_string(&batch).expect("json"),
        "the resend is formatted differently"
    );
    again_as(&engine, "same batch, reformatted");
    let compact = engine.post_batch(&key, &batch);
    assert_eq!(
        compact.status,
        200,
        "same batch, same JSON: {}",
        compact.text()
    );
    assert_eq!(
        compact.json(),
        first_body,
        "same batch, same JSON: not the first reply"
    );
    conflict_as(&engine, "other content");
    let status = batch_status(&engine, &key, &id);
    assert_eq!(status.status, 200);
    assert_eq!(status.json()["aantalBerichten"], json!(4));

    // The graceful stop (SIGTERM's path), then a start on the same data.
    let engine = engine.restart();
    again_as(&engine, "same batch after a restart");
    conflict_as(&engine, "other content after a restart");
    let status = batch_status(&engine, &key, &id);
    assert_eq!(status.status, 200, "{}", status.text());
    let read = status.json();
    for field in ["batchId", "ontvangenOp", "aantalBerichten"] {
        assert_eq!(read[field], first_body[field], "{field} after a restart");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Isolation between afnemers
// ---------------------------------------------------------------------------------------------

#[test]
fn afnemers_do_not_see_each_others_batches_and_own_their_batch_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(&dir.path().join("data"));
    let key_a = engine.afnemer(&oin(1), json!({ "naam": "Gemeente A" }));
    let key_b = engine.afnemer(&oin(2), json!({ "naam": "Gemeente B" }));
    let batch_a = batch(5, 3);
    let id = batch_id(&batch_a);

    assert_eq!(engine.post_batch(&key_a, &batch_a).status, 202);
    assert_problem(
        &batch_status(&engine, &key_b, &id),
        404,
        "B reads A's batch",
    );

    // The very same body from B is B's own first delivery: 202, not 200 or 409.
    let reply = engine.post_batch(&key_b, &batch_a);
    assert_eq!(reply.status, 202, "{}", reply.text());
    // And B's other content under that id is a conflict with B's batch only.
    let batch_b = batch(5, 2);
    assert_eq!(batch_id(&batch_b), id);
    assert_problem(
        &engine.post_batch(&key_b, &batch_b),
        409,
        "B's other content",
    );
    let reply = engine.post_batch(&key_a, &batch_a);
    assert_eq!(
        reply.status,
        200,
        "A's batch is still A's: {}",
        reply.text()
    );

    // A third afnemer with the smaller batch: again independent.
    let key_c = engine.afnemer(&oin(3), json!({ "naam": "Gemeente C" }));
    assert_eq!(engine.post_batch(&key_c, &batch_b).status, 202);
    for (key, expected) in [(&key_a, 3), (&key_b, 3), (&key_c, 2)] {
        let reply = batch_status(&engine, key, &id);
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json()["aantalBerichten"], json!(expected));
    }
}

// ---------------------------------------------------------------------------------------------
// 5. The afnemer's rate
// ---------------------------------------------------------------------------------------------

#[test]
fn a_batch_over_the_rate_is_429_with_retry_after_and_not_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(&dir.path().join("data"));
    let key = engine.afnemer(
        &oin(1),
        json!({ "naam": "Gemeente Traag", "berichtenPerSeconde": 1, "burst": 5 }),
    );
    let five = batch(6, 5);
    let two = batch(7, 2);
    let six = batch(8, 6);

    let reply = engine.post_batch(&key, &five);
    assert_eq!(reply.status, 202, "{}", reply.text());

    let refused = engine.post_batch(&key, &two);
    let problem = assert_problem(&refused, 429, "batch of 2 right after the burst");
    assert!(problem.get("invalidParams").is_none(), "{problem}");
    let wait = retry_after(&refused, 1..=3);
    assert_problem(
        &batch_status(&engine, &key, &batch_id(&two)),
        404,
        "the refused batch",
    );

    let larger = engine.post_batch(&key, &six);
    assert_problem(&larger, 429, "batch of 6 over a burst of 5");
    retry_after(&larger, 1..=u64::MAX);
    assert_problem(
        &batch_status(&engine, &key, &batch_id(&six)),
        404,
        "the batch larger than the burst",
    );

    // Retry-After is true: after it (on the engine's clock), the refused batch passes, as a
    // first delivery (202).
    engine.advance(Duration::from_secs(wait));
    let reply = engine.post_batch(&key, &two);
    assert_eq!(reply.status, 202, "after Retry-After: {}", reply.text());
}

// ---------------------------------------------------------------------------------------------
// 6. 503
// ---------------------------------------------------------------------------------------------

#[test]
fn a_store_that_cannot_park_answers_503_and_is_not_ready() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::builder(&dir.path().join("data"))
        .configure(|c| c.store.min_free_disk_bytes = u64::MAX)
        .start();
    let key = engine.afnemer(&oin(1), json!({ "naam": "Gemeente" }));
    let batch = batch(9, 2);

    let reply = engine.post_batch(&key, &batch);
    let problem = assert_problem(&reply, 503, "parking on a full disk");
    assert!(problem.get("invalidParams").is_none(), "{problem}");
    retry_after(&reply, 1..=3600);

    let ready = send(engine.client.get(engine.url("/health/ready")));
    assert_problem(&ready, 503, "/health/ready on a full disk");
    let live = send(engine.client.get(engine.url("/health/live")));
    assert_eq!(live.status, 200, "{}", live.text());
    assert_eq!(live.header("API-Version"), Some("1.0.0"));

    assert_problem(
        &batch_status(&engine, &key, &batch_id(&batch)),
        404,
        "the batch refused for the disk",
    );
}

/// The processing backlog is bounded: with `store.max_parked_berichten` reached (processing
/// held back by a beat of an hour), a further batch is 503 with Retry-After and nothing of it
/// is stored; what was parked before stays parked.
#[test]
fn a_full_processing_backlog_answers_503_and_keeps_what_it_has() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::builder(&dir.path().join("data"))
        .configure(|c| {
            c.store.max_parked_berichten = 1000;
            c.processing.beat_ms = 3_600_000;
        })
        .start();
    let key = engine.afnemer(
        &oin(1),
        json!({ "naam": "Gemeente Veel", "berichtenPerSeconde": 100000, "burst": 100000 }),
    );
    let parked: Vec<Value> = (0..10).map(|n| batch(300 + n, 100)).collect();
    for batch in &parked {
        let reply = engine.post_batch(&key, batch);
        assert_eq!(reply.status, 202, "{}", reply.text());
    }
    let over = batch(399, 1);
    let reply = engine.post_batch(&key, &over);
    let problem = assert_problem(&reply, 503, "over the backlog bound");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("verwerking")),
        "{problem}"
    );
    retry_after(&reply, 1..=60);
    assert_problem(
        &batch_status(&engine, &key, &batch_id(&over)),
        404,
        "the refused batch",
    );
    for batch in &parked {
        let status = batch_status(&engine, &key, &batch_id(batch));
        assert_eq!(status.status, 200, "{}", status.text());
        assert_eq!(status.json()["status"], "geparkeerd");
    }
}

/// A batch the store refused was not admitted: it takes nothing from the afnemer's rate, so
/// the retry is answered for the store again (503), not for a rate it never used (429).
#[test]
fn a_batch_refused_with_503_takes_nothing_from_the_rate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::builder(&dir.path().join("data"))
        .configure(|c| c.store.min_free_disk_bytes = u64::MAX)
        .start();
    let key = engine.afnemer(
        &oin(1),
        json!({ "naam": "Gemeente Traag", "berichtenPerSeconde": 1, "burst": 2 }),
    );
    let batch = batch(13, 2);
    assert_problem(&engine.post_batch(&key, &batch), 503, "first attempt");
    assert_problem(
        &engine.post_batch(&key, &batch),
        503,
        "the retry of a batch the store refused",
    );
}

/// The memory for bodies in flight, made deterministic: with `in_flight_bytes` equal to
/// `max_body_bytes`, one request that declares the largest body and sends none of it holds the
/// whole budget; every other delivery is 503 until it goes.
#[test]
fn no_memory_for_bodies_in_flight_is_503_until_it_is_released() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::builder(&dir.path().join("data"))
        .configure(|c| {
            c.server.max_body_bytes = 65536;
            c.server.in_flight_bytes = 65536;
            // The holder stalls on purpose: it must not be cut off while this test runs.
            c.server.body_grace_seconds = 600;
        })
        .start();
    let key = engine.afnemer(&oin(1), json!({ "naam": "Gemeente" }));
    // The probes and the batch come from another afnemer, so that what refuses them is the
    // budget of all afnemers together, not the holder's share of it.
    let other = engine.afnemer(&oin(2), json!({ "naam": "Provincie" }));
    let batch = batch(10, 2);

    let address = engine.base.trim_start_matches("http://").to_owned();
    let hold = || {
        let holder = support::stalled_upload(&address, &key, 65536);
        holder
            .set_read_timeout(Some(Duration::from_millis(10)))
            .expect("read timeout");
        holder
    };
    // Whether the engine answered the holder (it lost the budget to a probe, and got a 503).
    let answered = |holder: &TcpStream| {
        let mut byte = [0u8; 1];
        match holder.peek(&mut byte) {
            Ok(_) => true,
            Err(error) => !matches!(
                error.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    };
    // A probe that is a 400 while there is memory, and a 503 once the holder has it all: only
    // a request that declared the whole budget can leave less than 1 KiB of it.
    let probe = || {
        send(
            engine
                .client
                .post(engine.url("/v1/batches"))
                .bearer_auth(&other)
                .header("Content-Type", "application/json")
                .body("{}"),
        )
    };
    let mut holder = hold();
    wait_until(
        "the held body takes the budget",
        Duration::from_secs(30),
        || {
            let reply = probe();
            if reply.status == 503 {
                return true;
            }
            assert_eq!(reply.status, 400, "probe: {}", reply.text());
            if answered(&holder) {
                holder = hold();
            }
            false
        },
    );
    assert!(
        !answered(&holder),
        "the holder was answered while it held the budget"
    );

    let reply = engine.post_batch(&other, &batch);
    assert_problem(&reply, 503, "a valid batch without memory for it");
    retry_after(&reply, 1..=60);
    assert_problem(
        &batch_status(&engine, &other, &batch_id(&batch)),
        404,
        "the batch refused for memory",
    );

    // The holder leaves; its memory comes back and the same batch is parked.
    drop(holder);
    wait_until("the budget is released", Duration::from_secs(30), || {
        let reply = engine.post_batch(&other, &batch);
        if reply.status == 202 {
            return true;
        }
        assert_problem(&reply, 503, "while the budget is released");
        false
    });
}

/// Issue 10, point 4 (b), at the test's scale (bodies of 64 KiB for 60 MB): twelve stalled
/// uploads of one afnemer take at most its share of the memory for bodies in flight (25%, here
/// three of them); the other nine are 503 with Retry-After before their bodies are read, and
/// another afnemer's batch is still 202. Without the share the twelve would take the whole
/// budget and that batch would be 503.
#[test]
fn twelve_stalled_uploads_of_one_afnemer_leave_another_afnemers_202_unaffected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::builder(&dir.path().join("data"))
        .configure(|c| {
            c.server.max_body_bytes = 65536;
            // Room for twelve bodies of 64 KiB, each reserving three times its size.
            c.server.in_flight_bytes = 12 * 3 * 65536;
            c.server.in_flight_afnemer_percent = 25;
            // The uploads stall on purpose: they must not be cut off while this test runs.
            c.server.body_grace_seconds = 600;
        })
        .start();
    let greedy = engine.afnemer(&oin(1), json!({ "naam": "Gemeente" }));
    let other = engine.afnemer(&oin(2), json!({ "naam": "Provincie" }));
    let address = engine.base.trim_start_matches("http://").to_owned();

    let mut uploads: Vec<(TcpStream, Vec<u8>)> = (0..12)
        .map(|_| {
            let upload = support::stalled_upload(&address, &greedy, 65536);
            upload
                .set_read_timeout(Some(Duration::from_millis(10)))
                .expect("read timeout");
            (upload, Vec::new())
        })
        .collect();
    let poll = |uploads: &mut Vec<(TcpStream, Vec<u8>)>| {
        for (upload, answer) in uploads.iter_mut() {
            let mut buffer = [0u8; 4096];
            if let Ok(n) = std::io::Read::read(upload, &mut buffer) {
                answer.extend_from_slice(&buffer[..n]);
            }
        }
        uploads
            .iter()
            .filter(|(_, answer)| !answer.is_empty())
            .count()
    };
    wait_until(
        "nine of the twelve uploads are refused",
        Duration::from_secs(30),
        || poll(&mut uploads) >= 9,
    );
    for (_, answer) in uploads.iter().filter(|(_, answer)| !answer.is_empty()) {
        let text = String::from_utf8_lossy(answer);
        assert!(text.starts_with("HTTP/1.1 503"), "a refused upload: {text}");
        assert!(
            text.to_ascii_lowercase().contains("retry-after: 1"),
            "{text}"
        );
    }
    // The three within the share are still held, unanswered.
    assert_eq!(poll(&mut uploads), 9, "uploads answered besides the nine");

    let reply = engine.post_batch(&other, &batch(10, 2));
    assert_eq!(
        reply.status,
        202,
        "another afnemer's batch: {}",
        reply.text()
    );
    // The greedy afnemer itself is over its share: even its valid batch waits.
    let reply = engine.post_batch(&greedy, &batch(10, 2));
    assert_problem(&reply, 503, "the greedy afnemer over its share");
    retry_after(&reply, 1..=60);
    assert_eq!(
        poll(&mut uploads),
        9,
        "the three held uploads were answered"
    );
}

/// Issue 10, point 4 (a): a body that stalls after its headers and a first byte is cut off
/// within the grace period plus slack (408, or the connection closed), and its memory comes
/// back: a valid batch is then parked under a budget the stalled body had taken whole.
#[test]
fn a_stalled_body_is_cut_off_after_its_grace_and_its_memory_released() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::builder(&dir.path().join("data"))
        .configure(|c| {
            c.server.max_body_bytes = 65536;
            c.server.in_flight_bytes = 65536;
            c.server.body_grace_seconds = 1;
            c.server.body_min_bytes_per_second = 65536;
        })
        .start();
    let key = engine.afnemer(&oin(1), json!({ "naam": "Gemeente" }));
    let batch = batch(10, 2);
    let address = engine.base.trim_start_matches("http://").to_owned();

    let mut staller = support::stalled_upload(&address, &key, 65536);
    let started = std::time::Instant::now();
    // Grace 1 s, then 64 KiB/s for a 64 KiB body: due after about 1 s; allow 10 s of slack.
    staller
        .set_read_timeout(Some(Duration::from_secs(11)))
        .expect("read timeout");
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match std::io::Read::read(&mut staller, &mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buffer[..n]);
                if answer.windows(4).any(|w| w == b"\r\n\r\n")
                    && String::from_utf8_lossy(&answer).contains("verzoek-te-traag")
                {
                    break;
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(error) => panic!("the stalled body was not cut off: {error}"),
        }
    }
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(11),
        "cut off only after {waited:?}"
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "the stalled body got: {text}"
    );
    if !text.is_empty() {
        assert!(text.contains("application/problem+json"), "{text}");
    }
    // The memory is back while the staller's connection is still open.
    wait_until(
        "the stalled body's memory is released",
        Duration::from_secs(10),
        || {
            let reply = engine.post_batch(&key, &batch);
            if reply.status == 202 {
                return true;
            }
            assert_problem(&reply, 503, "while the stalled body's memory is released");
            false
        },
    );
    drop(staller);
}

// ---------------------------------------------------------------------------------------------
// 7. API-Version and problem+json everywhere
// ---------------------------------------------------------------------------------------------

#[test]
fn every_response_carries_api_version_and_errors_are_problems() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(&dir.path().join("data"));
    let key = engine.afnemer(&oin(1), json!({ "naam": "Gemeente" }));
    let client = &engine.client;

    let successes = [
        (
            "POST /v1/batches",
            engine.post_batch(&key, &batch(11, 1)),
            202,
        ),
        (
            "GET /v1/batches/{id}",
            batch_status(&engine, &key, &guid(11, 0xffff_ffff)),
            200,
        ),
        (
            "GET /health/live",
            send(client.get(engine.url("/health/live"))),
            200,
        ),
        (
            "GET /health/ready",
            send(client.get(engine.url("/health/ready"))),
            200,
        ),
        (
            "GET /metrics",
            send(client.get(engine.ops.url("/metrics"))),
            200,
        ),
        (
            "GET /v1/openapi.json",
            send(client.get(engine.url("/v1/openapi.json"))),
            200,
        ),
        (
            "GET /v1/beheer/afnemers",
            send(
                client
                    .get(engine.url("/v1/beheer/afnemers"))
                    .bearer_auth(BEHEER_TOKEN),
            ),
            200,
        ),
    ];
    for (name, reply, status) in &successes {
        assert_eq!(reply.status, *status, "{name}: {}", reply.text());
        assert_eq!(reply.header("API-Version"), Some("1.0.0"), "{name}");
    }

    let errors = [
        (
            "GET /v1/onbekend",
            send(client.get(engine.url("/v1/onbekend"))),
            404,
        ),
        ("GET /niets", send(client.get(engine.url("/niets"))), 404),
        (
            "DELETE /v1/batches",
            send(client.delete(engine.url("/v1/batches")).bearer_auth(&key)),
            405,
        ),
        (
            "GET /v1/batches",
            send(client.get(engine.url("/v1/batches")).bearer_auth(&key)),
            405,
        ),
        (
            "PUT /v1/batches/{id}",
            send(
                client
                    .put(engine.url(&format!("/v1/batches/{}", guid(11, 0xffff_ffff))))
                    .bearer_auth(&key),
            ),
            405,
        ),
        (
            "GET /v1/batches/{not a guid}",
            batch_status(&engine, &key, "geen-guid"),
            404,
        ),
        (
            "GET /v1/batches/{unknown}",
            batch_status(&engine, &key, &guid(12, 0xffff_ffff)),
            404,
        ),
        (
            "GET /v1/batches/{id} without a key",
            send(client.get(engine.url(&format!("/v1/batches/{}", guid(11, 0xffff_ffff))))),
            401,
        ),
    ];
    for (name, reply, status) in &errors {
        assert_problem(reply, *status, name);
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Beheer and berichttypen
// ---------------------------------------------------------------------------------------------

fn put_afnemer(engine: &Engine, oin: &str, token: Option<&str>, body: &Value) -> Reply {
    let mut request = engine
        .client
        .put(engine.url(&format!("/v1/beheer/afnemers/{oin}")))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    send(request)
}

fn list_afnemers(engine: &Engine) -> Vec<Value> {
    let reply = send(
        engine
            .client
            .get(engine.url("/v1/beheer/afnemers"))
            .bearer_auth(BEHEER_TOKEN),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["afnemers"]
        .as_array()
        .expect("afnemers array")
        .clone()
}

#[test]
fn api_keys_are_listed_without_their_secret_and_a_revoked_key_stays_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(&dir.path().join("data"));
    let beheer = engine.beheer();
    let (target, other) = (oin(15), oin(16));
    let afnemer = beheer.register(&target, json!({ "naam": "Gemeente Sleutels" }));
    beheer.register(&other, json!({ "naam": "Gemeente Anders" }));
    let (other_id, other_key) = beheer.issue_key_with_id(&other);

    // Create: an id and the key, once.
    let (id, key) = beheer.issue_key_with_id(&target);
    assert!(key.len() >= 32, "a short key: {key}");
    assert_ne!(id, key);
    assert_ne!(id, other_id);

    // List: ids, creation, last use (none yet), never a key or its hash.
    let listed = ok_json(&beheer.list_keys(&target), 200, "list keys");
    let keys = listed["apiSleutels"].as_array().expect("apiSleutels");
    assert_eq!(
        keys.len(),
        2,
        "the key register issued and the new one: {listed}"
    );
    let entry = keys
        .iter()
        .find(|k| k["id"] == json!(id))
        .unwrap_or_else(|| panic!("{id} not listed: {listed}"));
    assert!(entry["aangemaaktOp"].as_str().is_some(), "{entry}");
    assert_eq!(entry["laatstGebruiktOp"], Value::Null, "not used yet");
    let text = beheer.list_keys(&target).text();
    for secret in [&key, &afnemer.key, &other_id] {
        assert!(
            !text.contains(secret.as_str()),
            "{secret} in the listing: {text}"
        );
    }
    let hash = hex_sha256(&key);
    assert!(
        !text.to_lowercase().contains(&hash),
        "the hash in the listing"
    );
    for k in keys {
        let mut fields: Vec<&String> = k.as_object().expect("object").keys().collect();
        fields.sort();
        assert_eq!(fields, ["aangemaaktOp", "id", "laatstGebruiktOp"], "{k}");
    }

    // Use: the key works, and its last use shows.
    assert_eq!(engine.get(&key, "/v1/berichttypen").status, 200);
    let listed = ok_json(&beheer.list_keys(&target), 200, "list keys");
    let entry = listed["apiSleutels"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["id"] == json!(id)).cloned())
        .expect("listed");
    assert!(
        entry["laatstGebruiktOp"].as_str().is_some(),
        "used: {entry}"
    );

    // Another afnemer's key id, an unknown id, an unknown afnemer: 404, nothing revoked.
    assert_problem(
        &beheer.revoke_key(&target, &other_id),
        404,
        "another afnemer's key id",
    );
    assert_problem(
        &beheer.revoke_key(&target, "geen-sleutel"),
        404,
        "an unknown id",
    );
    assert_problem(&beheer.revoke_key(&oin(17), &id), 404, "an unknown afnemer");
    assert_problem(
        &beheer.list_keys(&oin(17)),
        404,
        "the keys of an unknown afnemer",
    );
    assert_eq!(engine.get(&other_key, "/v1/berichttypen").status, 200);
    assert_eq!(engine.get(&key, "/v1/berichttypen").status, 200);
    let reply = send(
        engine
            .client
            .delete(engine.url(&format!("/v1/beheer/afnemers/{target}/api-sleutels/{id}"))),
    );
    assert_problem(&reply, 401, "a revocation without a token");

    // Delete: 204, then the key is 401; its other key and the other afnemer's still work.
    let reply = beheer.revoke_key(&target, &id);
    assert_eq!(reply.status, 204, "{}", reply.text());
    assert_problem(&engine.get(&key, "/v1/berichttypen"), 401, "a revoked key");
    assert_problem(&beheer.revoke_key(&target, &id), 404, "revoked twice");
    assert_eq!(engine.get(&afnemer.key, "/v1/berichttypen").status, 200);
    assert_eq!(engine.get(&other_key, "/v1/berichttypen").status, 200);

    // Restart: still 401, and the listing kept the other key and its last use.
    let engine = engine.restart();
    assert_problem(
        &engine.get(&key, "/v1/berichttypen"),
        401,
        "revoked, after a restart",
    );
    let listed = ok_json(&engine.beheer().list_keys(&target), 200, "after a restart");
    let keys = listed["apiSleutels"].as_array().expect("apiSleutels");
    assert_eq!(keys.len(), 1, "{listed}");
    assert_ne!(keys[0]["id"], json!(id));
    assert!(
        keys[0]["laatstGebruiktOp"].as_str().is_some(),
        "written at shutdown: {listed}"
    );
    assert_eq!(engine.get(&afnemer.key, "/v1/berichttypen").status, 200);
}

fn hex_sha256(text: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn put_of_an_afnemer_keeps_the_fields_it_leaves_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(&dir.path().join("data"));
    let target = oin(13);
    let webhook = "https://example.org/ontvangst";

    let reply = put_afnemer(
        &engine,
        &target,
        Some(BEHEER_TOKEN),
        &json!({ "naam": "Gemeente Oud", "berichtenPerSeconde": 7, "burst": 70,
                 "webhookUrl": webhook, "actief": false }),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());

    // A rename leaves everything else as stored: above all, it does not make it active again.
    let reply = put_afnemer(
        &engine,
        &target,
        Some(BEHEER_TOKEN),
        &json!({ "naam": "Gemeente Nieuw" }),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let expected = json!({ "oin": target, "naam": "Gemeente Nieuw", "berichtenPerSeconde": 7,
                           "burst": 70, "webhookUrl": webhook, "actief": false });
    assert_eq!(reply.json(), expected, "the answer to the rename");
    assert_eq!(list_afnemers(&engine), vec![expected.clone()], "listed");

    // One field given changes only that field; null removes the webhook.
    let reply = put_afnemer(
        &engine,
        &target,
        Some(BEHEER_TOKEN),
        &json!({ "naam": "Gemeente Nieuw", "burst": 5, "webhookUrl": null }),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let expected = json!({ "oin": target, "naam": "Gemeente Nieuw", "berichtenPerSeconde": 7,
                           "burst": 5, "actief": false });
    assert_eq!(reply.json(), expected, "burst changed, webhook removed");

    // A refused update changes nothing, and what was kept survives a restart.
    let reply = put_afnemer(
        &engine,
        &target,
        Some(BEHEER_TOKEN),
        &json!({ "naam": "Gemeente Nieuw", "berichtenPerSeconde": 0 }),
    );
    assert_problem(&reply, 400, "a rate of 0");
    let engine = engine.restart();
    assert_eq!(list_afnemers(&engine), vec![expected], "after a restart");

    // A new afnemer still gets the documented defaults.
    let reply = put_afnemer(
        &engine,
        &oin(14),
        Some(BEHEER_TOKEN),
        &json!({ "naam": "Gemeente Vers" }),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!({ "oin": oin(14), "naam": "Gemeente Vers", "berichtenPerSeconde": 45,
                "burst": 1000, "actief": true })
    );
}

#[test]
fn beheer_registers_afnemers_and_issues_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let engine = Engine::start(&data);
    let target = oin(10);
    let body = json!({ "naam": "Gemeente Beheer" });

    let reply = put_afnemer(&engine, &target, None, &body);
    assert_problem(&reply, 401, "PUT afnemer without a token");
    assert!(reply.header("WWW-Authenticate").is_some());
    assert_problem(
        &put_afnemer(&engine, &target, Some("verkeerd-token"), &body),
        401,
        "PUT afnemer with a wrong token",
    );
    assert_problem(
        &send(engine.client.get(engine.url("/v1/beheer/afnemers"))),
        401,
        "GET afnemers without a token",
    );

    let reply = put_afnemer(&engine, "1234567890123456789", Some(BEHEER_TOKEN), &body);
    let problem = assert_problem(&reply, 400, "PUT afnemer with a 19-digit oin");
    assert_eq!(invalid_names(&problem), Some(vec!["oin".to_owned()]));
    let reply = put_afnemer(
        &engine,
        &oin(11),
        Some(BEHEER_TOKEN),
        &json!({ "burst": 10 }),
    );
    let problem = assert_problem(&reply, 400, "PUT afnemer without naam");
    assert_eq!(invalid_names(&problem), Some(vec!["naam".to_owned()]));
    assert!(
        list_afnemers(&engine).is_empty(),
        "refused PUTs registered nothing"
    );

    let reply = put_afnemer(&engine, &target, Some(BEHEER_TOKEN), &body);
    assert_eq!(reply.status, 201, "{}", reply.text());
    let created = reply.json();
    assert_eq!(created["oin"], json!(target));
    assert_eq!(created["naam"], json!("Gemeente Beheer"));
    assert_eq!(created["berichtenPerSeconde"], json!(45));
    assert_eq!(created["burst"], json!(1000));
    assert_eq!(created["actief"], json!(true));

    let changed = json!({ "naam": "Gemeente Beheer 2", "berichtenPerSeconde": 10, "burst": 20 });
    let reply = put_afnemer(&engine, &target, Some(BEHEER_TOKEN), &changed);
    assert_eq!(reply.status, 200, "second PUT: {}", reply.text());

    let listed = list_afnemers(&engine);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["oin"], json!(target));
    assert_eq!(listed[0]["naam"], json!("Gemeente Beheer 2"));
    assert_eq!(listed[0]["berichtenPerSeconde"], json!(10));
    assert_eq!(listed[0]["burst"], json!(20));

    let reply = send(
        engine
            .client
            .post(engine.url(&format!("/v1/beheer/afnemers/{}/api-sleutels", oin(12))))
            .bearer_auth(BEHEER_TOKEN),
    );
    assert_problem(&reply, 404, "a key for an unknown afnemer");
    let reply = send(
        engine
            .client
            .post(engine.url(&format!("/v1/beheer/afnemers/{target}/api-sleutels"))),
    );
    assert_problem(&reply, 401, "a key without a token");

    let reply = send(
        engine
            .client
            .post(engine.url(&format!("/v1/beheer/afnemers/{target}/api-sleutels")))
            .bearer_auth(BEHEER_TOKEN),
    );
    assert_eq!(reply.status, 201, "{}", reply.text());
    let key = reply.json()["sleutel"]
        .as_str()
        .expect("sleutel")
        .to_owned();
    assert!(key.len() >= 32, "a short key: {key}");
    assert_eq!(engine.get(&key, "/v1/berichttypen").status, 200);

    let engine = engine.restart();
    let listed = list_afnemers(&engine);
    assert_eq!(listed.len(), 1, "after a restart: {listed:?}");
    assert_eq!(listed[0]["naam"], json!("Gemeente Beheer 2"));
    assert_eq!(
        engine.get(&key, "/v1/berichttypen").status,
        200,
        "the key after a restart"
    );
}

fn put_berichttype(engine: &Engine, key: &str, code: &str) -> Reply {
    send(
        engine
            .client
            .put(engine.url(&format!("/v1/berichttypen/{code}")))
            .bearer_auth(key)
            .json(&json!({ "omschrijving": "Aanslag gemeentelijke belastingen", "actief": true })),
    )
}

fn berichttypen(engine: &Engine, key: &str) -> Vec<Value> {
    let reply = engine.get(key, "/v1/berichttypen");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("API-Version"), Some("1.0.0"));
    reply.json()["berichttypen"]
        .as_array()
        .expect("berichttypen array")
        .clone()
}

#[test]
fn an_afnemer_registers_its_berichttypen_and_they_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let engine = Engine::start(&data);
    let key = engine.afnemer(&oin(1), json!({ "naam": "Gemeente" }));
    let other = engine.afnemer(&oin(2), json!({ "naam": "Andere gemeente" }));

    let reply = put_berichttype(&engine, &key, "AANSLAG");
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.header("API-Version"), Some("1.0.0"));
    let reply = put_berichttype(&engine, &key, "AANSLAG");
    assert_eq!(reply.status, 200, "second PUT: {}", reply.text());

    let listed = berichttypen(&engine, &key);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["code"], json!("AANSLAG"));
    assert_eq!(listed[0]["actief"], json!(true));
    assert_eq!(
        listed[0]["omschrijving"],
        json!("Aanslag gemeentelijke belastingen")
    );
    assert!(
        berichttypen(&engine, &other).is_empty(),
        "another afnemer's berichttypen"
    );

    let reply = put_berichttype(&engine, &key, "TOOLONGCODE");
    let problem = assert_problem(&reply, 400, "a code of 11 characters");
    assert_eq!(invalid_names(&problem), Some(vec!["code".to_owned()]));
    assert_problem(
        &put_berichttype(&engine, "geen-sleutel", "AANSLAG"),
        401,
        "PUT berichttype with an unknown key",
    );
    assert_eq!(berichttypen(&engine, &key).len(), 1);

    let engine = engine.restart();
    let listed = berichttypen(&engine, &key);
    assert_eq!(listed.len(), 1, "after a restart: {listed:?}");
    assert_eq!(listed[0]["code"], json!("AANSLAG"));
    let reply = put_berichttype(&engine, &key, "AANSLAG");
    assert_eq!(reply.status, 200, "PUT after a restart: {}", reply.text());
}

// ---------------------------------------------------------------------------------------------
// No amplification of small requests (issue 10, point 3)
// ---------------------------------------------------------------------------------------------

/// The peak resident memory of a process so far (`VmHWM`), in bytes.
fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status");
    kib * 1024
}

/// A JSON body whose array `field` holds `count` copies of `element`, after `head`.
fn long_array(head: &str, field: &str, element: &str, count: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(head.len() + field.len() + (element.len() + 1) * count + 8);
    body.extend_from_slice(head.as_bytes());
    body.extend_from_slice(format!("\"{field}\":[").as_bytes());
    for i in 0..count {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(element.as_bytes());
    }
    body.extend_from_slice(b"]}");
    body
}

const AMPLIFICATION_LIMIT: u64 = 64 << 20;

/// The engine's peak memory grows by less than 64 MiB on `body`, answered `status`; the real
/// binary, read by pid (an in-process engine would share the test's memory). Returns the growth.
fn growth_of(engine: &Process, key: &str, path: &str, body: Vec<u8>, status: u16) -> (u64, Value) {
    let pid = engine.pid();
    let before = peak_memory(pid);
    let reply = send(
        engine
            .client
            .post(engine.url(path))
            .bearer_auth(key)
            .header("Content-Type", "application/json")
            .body(body),
    );
    let text = reply.text();
    assert_eq!(
        reply.status,
        status,
        "{path}: {}",
        text.get(..2000).unwrap_or(&text)
    );
    let faults = problem_faults(&reply, status);
    assert!(faults.is_empty(), "{path}: {faults:?}");
    let growth = peak_memory(pid).saturating_sub(before);
    eprintln!(
        "{path}: answered {status}, peak memory grew by {:.1} MiB",
        growth as f64 / f64::from(1 << 20)
    );
    assert!(
        growth < AMPLIFICATION_LIMIT,
        "{path}: the engine's peak memory grew by {growth} bytes"
    );
    (growth, reply.json())
}

/// A 9 MB body of three million empty berichten is a 413 after the 1,001st, and the engine's
/// peak memory grows by less than 64 MiB (before the arrays were bounded: over 550 MiB).
#[test]
fn three_million_empty_berichten_are_413_without_amplifying_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let process = EngineBuilder::new(&dir.path().join("data")).spawn();
    let key = process.afnemer(&oin(3), json!({ "naam": "Gemeente" }));
    // A bericht's bijlagen stop at the third (400 naming them, as before), also among a million.
    let head = format!(
        r#"{{"batchId":"{}","aanmaakDatum":"2026-11-28T10:00:00Z","berichten":[{{"#,
        guid(4, 1)
    );
    let mut body = long_array(&head, "bijlagen", "{}", 1_000_000);
    body.extend_from_slice(b"]}");
    let (_, problem) = growth_of(&process, &key, "/v1/batches", body, 400);
    assert_eq!(
        invalid_names(&problem).unwrap_or_default(),
        ["berichten[0].bijlagen"],
        "{problem}"
    );
    let head = format!(
        r#"{{"batchId":"{}","aanmaakDatum":"2026-11-28T10:00:00Z","#,
        guid(3, 1)
    );
    let body = long_array(&head, "berichten", "{}", 3_000_000);
    assert!(body.len() > 8_900_000, "the body is {} bytes", body.len());
    let (_, problem) = growth_of(&process, &key, "/v1/batches", body, 413);
    assert_eq!(
        invalid_names(&problem).unwrap_or_default(),
        ["berichten"],
        "{problem}"
    );

    assert!(process.terminate().success());
}

/// The Validatieservice's `bsns`: a million short strings are over the body limit of its small
/// bodies (413, before a byte is parsed); 20,000 within that limit are a 400 naming `bsns`
/// after the 251st. Neither grows the engine's peak memory by 64 MiB.
#[test]
fn a_million_bsns_are_refused_without_amplifying_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let process = EngineBuilder::new(&dir.path().join("data")).spawn();
    let key = process.afnemer(&oin(5), json!({ "naam": "Gemeente" }));
    let head = r#"{"berichtType":"AANSLAG","#;
    growth_of(
        &process,
        &key,
        "/v1/validaties",
        long_array(head, "bsns", r#""""#, 1_000_000),
        413,
    );
    let (_, problem) = growth_of(
        &process,
        &key,
        "/v1/validaties",
        long_array(head, "bsns", r#""""#, 20_000),
        400,
    );
    assert_eq!(
        invalid_names(&problem).unwrap_or_default(),
        ["bsns"],
        "{problem}"
    );
    assert!(process.terminate().success());
}
