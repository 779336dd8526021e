//! Keeps `openapi.json` true to the engine: the document served at `/v1/openapi.json` is the
//! file in the repository, every documented operation is routed and every route is documented,
//! and what the engine answers (status, headers, media type, body) is what the document says.
//!
//! Bodies are checked with a small structural checker over the subset of OpenAPI 3.0 the
//! document uses: `$ref`, `allOf`, `type`, `enum`, `required`, `properties`,
//! `additionalProperties: false`, `items`, the length, item-count and number bounds, and the
//! formats `date-time` and `byte`. Responses are checked strictly: a property the engine sends
//! but the document does not name is an error too.

mod common;

use std::collections::BTreeSet;

use base64::Engine as _;
use common::{BEHEER_TOKEN, Engine};
use reqwest::Method;
use reqwest::blocking::Response;
use serde_json::{Value, json};

/// The document, as the binary embeds it.
const OPENAPI_JSON: &str = include_str!("../openapi.json");

/// The routes `configure` in src/http/mod.rs registers, as (method, path). This list must follow
/// that function: a route added there belongs here and in openapi.json
/// (`routes_list_follows_configure` notices when it does not).
const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/batches"),
    ("GET", "/v1/batches/{batchId}"),
    ("GET", "/v1/berichttypen"),
    ("PUT", "/v1/berichttypen/{code}"),
    ("GET", "/v1/beheer/afnemers"),
    ("PUT", "/v1/beheer/afnemers/{oin}"),
    ("POST", "/v1/beheer/afnemers/{oin}/api-sleutels"),
    ("GET", "/v1/openapi.json"),
    ("GET", "/metrics"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
];

/// The HTTP methods an OpenAPI path item may hold.
const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// A running engine with its own data directory; the engine stops before the directory goes.
struct Running {
    engine: Engine,
    _dir: tempfile::TempDir,
}

fn start() -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::start(&dir.path().join("engine"));
    Running { engine, _dir: dir }
}

fn document() -> Value {
    serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON")
}

fn method(name: &str) -> Method {
    Method::from_bytes(name.to_ascii_uppercase().as_bytes()).expect("method")
}

/// Every (METHOD, path) the document describes.
fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(move |m| (m.to_ascii_uppercase(), path.clone()))
        })
        .collect()
}

fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    let operation = &doc["paths"][path][method.to_ascii_lowercase()];
    assert!(
        operation.is_object(),
        "{method} {path} is not in openapi.json"
    );
    operation
}

/// Follows local `$ref`s to what they point at.
fn resolve<'a>(doc: &'a Value, mut node: &'a Value) -> &'a Value {
    while let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("only local $ref is used, found {reference}"));
        node = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("$ref {reference} points at nothing"));
    }
    node
}

/// The path with every `{parameter}` replaced by the example the document gives for it.
fn concrete(doc: &Value, method: &str, path: &str) -> String {
    let item = &doc["paths"][path];
    let parameters: Vec<&Value> = [
        &item["parameters"],
        &operation(doc, method, path)["parameters"],
    ]
    .into_iter()
    .filter_map(Value::as_array)
    .flatten()
    .map(|p| resolve(doc, p))
    .collect();
    let mut out = path.to_owned();
    while let Some(open) = out.find('{') {
        let close = open + out[open..].find('}').expect("closing brace");
        let name = out[open + 1..close].to_owned();
        let parameter = parameters
            .iter()
            .find(|p| p["in"] == "path" && p["name"] == name.as_str())
            .unwrap_or_else(|| panic!("{path}: path parameter {name} is not described"));
        let example = parameter
            .get("example")
            .or_else(|| resolve(doc, &parameter["schema"]).get("example"))
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{path}: path parameter {name} has no example"));
        out.replace_range(open..=close, example);
    }
    out
}

/// Checks `value` against `schema`, collecting what breaks it. `strict`: an object property the
/// schema does not name is an error even without `additionalProperties: false`.
fn conform(
    doc: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    strict: bool,
    errors: &mut Vec<String>,
) {
    let schema = resolve(doc, schema);
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for part in parts {
            conform(doc, part, value, at, strict, errors);
        }
    }
    if let Some(kind) = schema.get("type").and_then(Value::as_str) {
        let right = match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            other => {
                errors.push(format!("{at}: the checker does not know type {other}"));
                return;
            }
        };
        if !right {
            errors.push(format!("{at}: should be {kind}, is {value}"));
            return;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {options:?}"));
    }
    let bound = |name: &str| schema.get(name).and_then(Value::as_f64);
    match value {
        Value::String(text) => {
            let chars = text.chars().count() as f64;
            if bound("minLength").is_some_and(|min| chars < min) {
                errors.push(format!("{at}: shorter than minLength"));
            }
            if bound("maxLength").is_some_and(|max| chars > max) {
                errors.push(format!("{at}: longer than maxLength"));
            }
            match schema.get("format").and_then(Value::as_str) {
                Some("date-time") if text.parse::<jiff::Timestamp>().is_err() => {
                    errors.push(format!("{at}: {text:?} is not an RFC 3339 date-time"));
                }
                Some("byte")
                    if base64::engine::general_purpose::STANDARD
                        .decode(text)
                        .is_err() =>
                {
                    errors.push(format!("{at}: not base64"));
                }
                _ => {}
            }
        }
        Value::Number(number) => {
            let number = number.as_f64().unwrap_or(f64::NAN);
            if bound("minimum").is_some_and(|min| number < min) {
                errors.push(format!("{at}: {number} is under the minimum"));
            }
            if bound("maximum").is_some_and(|max| number > max) {
                errors.push(format!("{at}: {number} is over the maximum"));
            }
        }
        Value::Array(items) => {
            let count = items.len() as f64;
            if bound("minItems").is_some_and(|min| count < min) {
                errors.push(format!("{at}: fewer items than minItems"));
            }
            if bound("maxItems").is_some_and(|max| count > max) {
                errors.push(format!("{at}: more items than maxItems"));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    conform(
                        doc,
                        item_schema,
                        item,
                        &format!("{at}[{i}]"),
                        strict,
                        errors,
                    );
                }
            }
        }
        Value::Object(object) => {
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !object.contains_key(name) {
                    errors.push(format!("{at}: required property {name} is missing"));
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            let closed = schema.get("additionalProperties") == Some(&Value::Bool(false))
                || (strict && properties.is_some());
            for (name, field) in object {
                match properties.and_then(|p| p.get(name)) {
                    Some(field_schema) => {
                        conform(
                            doc,
                            field_schema,
                            field,
                            &format!("{at}.{name}"),
                            strict,
                            errors,
                        );
                    }
                    None if closed => {
                        errors.push(format!("{at}: property {name} is not documented"));
                    }
                    None => {}
                }
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
}

fn conforms(doc: &Value, schema: &Value, value: &Value, strict: bool) -> Vec<String> {
    let mut errors = Vec::new();
    conform(doc, schema, value, "body", strict, &mut errors);
    errors
}

/// Checks a response against what the document says `method path` answers with its status,
/// and answers the status and the body (JSON; a string for text; `Null` without a body).
fn check_response(doc: &Value, method: &str, path: &str, response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let responses = &operation(doc, method, path)["responses"];
    let documented = responses.get(status.to_string()).unwrap_or_else(|| {
        let listed: Vec<&String> = responses
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
            .collect();
        panic!(
            "{method} {path} answered {status}, which is not documented (documented: {listed:?})"
        )
    });
    let body = check_answer(
        doc,
        &format!("{method} {path} -> {status}"),
        documented,
        response,
    );
    (status, body)
}

/// Checks a response against a documented response object: every required header is sent and
/// fits its schema (`API-Version` equals the document's version), the media type is a documented
/// one, and the body conforms to its schema.
fn check_answer(doc: &Value, what: &str, documented: &Value, response: Response) -> Value {
    let documented = resolve(doc, documented);
    let headers = response.headers().clone();
    let text_of = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().expect("header is text").to_owned())
    };
    assert_eq!(
        text_of("API-Version").as_deref(),
        doc["info"]["version"].as_str(),
        "{what}: API-Version"
    );
    for (name, header) in documented["headers"].as_object().into_iter().flatten() {
        let header = resolve(doc, header);
        match text_of(name) {
            None => assert!(
                header["required"] != true,
                "{what}: header {name} is documented as sent, but missing"
            ),
            Some(sent) => {
                let schema = resolve(doc, &header["schema"]);
                let value = if schema["type"] == "integer" {
                    sent.parse::<u64>()
                        .map_or(Value::String(sent.clone()), Value::from)
                } else {
                    Value::String(sent.clone())
                };
                let errors = conforms(doc, schema, &value, true);
                assert!(
                    errors.is_empty(),
                    "{what}: header {name}: {sent:?}: {errors:?}"
                );
            }
        }
    }
    let content_type = text_of("Content-Type").unwrap_or_default();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let bytes = response.bytes().expect("body");
    let Some(content) = documented.get("content").and_then(Value::as_object) else {
        assert!(
            bytes.is_empty(),
            "{what}: documented without a body, but sent {} bytes",
            bytes.len()
        );
        return Value::Null;
    };
    let media = content.get(&essence).unwrap_or_else(|| {
        panic!(
            "{what}: sent Content-Type {content_type:?}, documented {:?}",
            content.keys().collect::<Vec<_>>()
        )
    });
    let body = if essence.ends_with("json") {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{what}: body is not JSON ({e}): {bytes:?}"))
    } else {
        Value::String(String::from_utf8(bytes.to_vec()).expect("text body is UTF-8"))
    };
    let errors = conforms(doc, &media["schema"], &body, true);
    assert!(
        errors.is_empty(),
        "{what}: body {body} breaks the schema: {errors:#?}"
    );
    body
}

fn invalid_param_names(problem: &Value) -> Vec<&str> {
    problem["invalidParams"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect()
}

#[test]
fn served_document_is_the_file() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.0.3");
    assert_eq!(doc["info"]["version"], berichtenbox::http::API_VERSION);

    let running = start();
    let engine = &running.engine;
    let response = engine
        .client
        .get(engine.url("/v1/openapi.json"))
        .send()
        .expect("get openapi.json");
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        header("API-Version").as_deref(),
        doc["info"]["version"].as_str()
    );
    let content_type = header("Content-Type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "Content-Type {content_type:?}"
    );
    let served: Value = response.json().expect("served document is JSON");
    assert_eq!(served, doc, "the served document is not openapi.json");
}

#[test]
fn every_documented_operation_is_routed() {
    let doc = document();
    let operations = documented_operations(&doc);
    assert!(!operations.is_empty());
    let running = start();
    let engine = &running.engine;
    for (name, path) in &operations {
        let url = engine.url(&concrete(&doc, name, path));
        let response = engine
            .client
            .request(method(name), &url)
            .send()
            .unwrap_or_else(|e| panic!("{name} {url}: {e}"));
        let status = response.status().as_u16();
        assert!(
            status != 404 && status != 405,
            "{name} {path} is documented but not routed: {status}"
        );
        let secured = operation(&doc, name, path)["security"]
            .as_array()
            .is_some_and(|s| !s.is_empty());
        if secured {
            assert_eq!(status, 401, "{name} {path} without credentials");
        } else {
            assert!(
                status == 200 || status == 503,
                "{name} {path} is documented without security but answered {status}"
            );
        }
        check_response(&doc, name, path, response);
    }
}

#[test]
fn every_registered_route_is_documented() {
    let doc = document();
    let documented = documented_operations(&doc);
    let registered: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes without documentation in openapi.json: {undocumented:?}"
    );
    let unregistered: Vec<_> = documented.difference(&registered).collect();
    assert!(
        unregistered.is_empty(),
        "documented but not in ROUTES (update ROUTES if configure has them): {unregistered:?}"
    );

    // And the list is true: the server routes every one of them.
    let running = start();
    let engine = &running.engine;
    for (name, path) in ROUTES {
        let url = engine.url(&concrete(&doc, name, path));
        let response = engine
            .client
            .request(method(name), &url)
            .send()
            .expect("request");
        let status = response.status().as_u16();
        assert!(
            status != 404 && status != 405,
            "{name} {path} is in ROUTES but the server answers {status}"
        );
    }
}

#[test]
fn routes_list_follows_configure() {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/mod.rs"))
        .expect("read src/http/mod.rs");
    let start = source
        .find("pub fn configure")
        .expect("src/http/mod.rs has pub fn configure");
    let end = start + source[start..].find("\n}\n").expect("end of configure");
    let configure = &source[start..end];

    let methods = ["get", "post", "put", "patch", "delete", "head"];
    let registrations: usize = methods
        .iter()
        .map(|m| configure.matches(&format!("web::{m}()")).count())
        .sum();
    assert_eq!(
        registrations,
        ROUTES.len(),
        "configure registers {registrations} method routes, ROUTES lists {}: update ROUTES and openapi.json",
        ROUTES.len()
    );
    for opener in ["web::resource(\"", ".route(\""] {
        for piece in configure.split(opener).skip(1) {
            let path = piece.split('"').next().unwrap_or_default();
            assert!(
                ROUTES.iter().any(|(_, p)| p.ends_with(path)),
                "configure registers {path}, which ROUTES does not list"
            );
        }
    }
}

/// Another method on a documented path: 405 problem+json with `Allow`, on every resource.
#[test]
fn other_methods_answer_as_documented() {
    let doc = document();
    let running = start();
    let engine = &running.engine;
    let not_allowed = &doc["components"]["responses"]["MethodNotAllowed"];
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        let documented: Vec<&str> = METHODS
            .iter()
            .copied()
            .filter(|m| item.get(*m).is_some())
            .collect();
        let any = documented.first().expect("a path has an operation");
        let url = engine.url(&concrete(&doc, any, path));
        for other in ["get", "put", "post", "delete", "patch"] {
            if documented.contains(&other) {
                continue;
            }
            let response = engine
                .client
                .request(method(other), &url)
                .send()
                .expect("request");
            let what = format!("{} {path}", other.to_ascii_uppercase());
            assert_eq!(response.status(), 405, "{what}");
            let allow = response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            assert_eq!(
                allow.to_ascii_lowercase(),
                documented.join(", "),
                "{what}: Allow"
            );
            check_answer(&doc, &what, not_allowed, response);
        }
    }
}

#[test]
fn batch_delivery_answers_as_documented() {
    let doc = document();
    let running = start();
    let engine = &running.engine;
    let post = "/v1/batches";
    let key = engine.afnemer(&common::oin(1), json!({ "naam": "Afnemer een" }));
    let deliver =
        |key: &str, batch: &Value| check_response(&doc, "POST", post, engine.deliver(key, batch));

    // 401: no credentials, and an unknown key.
    let response = engine
        .client
        .post(engine.url(post))
        .json(&common::batch(1, 1))
        .send()
        .expect("post");
    assert_eq!(check_response(&doc, "POST", post, response).0, 401);
    assert_eq!(deliver("geen-sleutel", &common::batch(1, 1)).0, 401);

    // 403: an afnemer that is not active.
    let inactive = engine.afnemer(
        &common::oin(2),
        json!({ "naam": "Afnemer twee", "actief": false }),
    );
    assert_eq!(deliver(&inactive, &common::batch(1, 1)).0, 403);

    // 415: not JSON by media type.
    let response = engine
        .client
        .post(engine.url(post))
        .bearer_auth(&key)
        .header("Content-Type", "text/plain")
        .body("batch")
        .send()
        .expect("post");
    assert_eq!(check_response(&doc, "POST", post, response).0, 415);

    // 400: not JSON, and a field that breaks its rule.
    let response = engine
        .client
        .post(engine.url(post))
        .bearer_auth(&key)
        .header("Content-Type", "application/json")
        .body("{")
        .send()
        .expect("post");
    assert_eq!(check_response(&doc, "POST", post, response).0, 400);
    let mut broken = common::batch(2, 2);
    broken["berichten"][1]["ontvanger"] = json!("123456789");
    let (status, problem) = deliver(&key, &broken);
    assert_eq!(status, 400);
    assert!(
        invalid_param_names(&problem).contains(&"berichten[1].ontvanger"),
        "{problem}"
    );

    // 413: more than 1000 berichten, and attachments over 500 KB in one bericht.
    let (status, problem) = deliver(&key, &common::batch(3, 1001));
    assert_eq!(status, 413);
    assert!(
        invalid_param_names(&problem).contains(&"berichten"),
        "{problem}"
    );
    let mut heavy = common::batch(4, 1);
    let inhoud = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 300_000]);
    heavy["berichten"][0]["bijlagen"] = json!([
        { "omschrijving": "Een", "mediatype": "application/pdf", "inhoud": inhoud },
        { "omschrijving": "Twee", "mediatype": "application/pdf", "inhoud": inhoud },
    ]);
    let (status, problem) = deliver(&key, &heavy);
    assert_eq!(status, 413);
    assert!(
        invalid_param_names(&problem).contains(&"berichten[0].bijlagen"),
        "{problem}"
    );

    // 202, then 200 for the same batch again, then 409 for other content under its batchId.
    let batch = common::batch(5, 3);
    let batch_id = batch["batchId"].as_str().expect("batchId").to_owned();
    let response = engine.deliver(&key, &batch);
    let location = response
        .headers()
        .get("Location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (status, first) = check_response(&doc, "POST", post, response);
    assert_eq!(status, 202);
    assert_eq!(location, Some(format!("/v1/batches/{batch_id}")));
    assert_eq!(first["status"], "geparkeerd");
    assert_eq!(first["aantalBerichten"], 3);
    let (status, again) = deliver(&key, &batch);
    assert_eq!(status, 200);
    assert_eq!(again, first, "the first reply again");
    let mut other = batch.clone();
    other["berichten"][0]["onderwerp"] = json!("Iets anders");
    assert_eq!(deliver(&key, &other).0, 409);

    // 429: a batch larger than the afnemer's burst.
    let narrow = engine.afnemer(
        &common::oin(3),
        json!({ "naam": "Afnemer drie", "berichtenPerSeconde": 1, "burst": 1 }),
    );
    assert_eq!(deliver(&narrow, &common::batch(6, 2)).0, 429);

    // GET /v1/batches/{batchId}: 200 for the owner, 404 for another afnemer and unknown ids.
    let status_path = "/v1/batches/{batchId}";
    let get = |key: &str, id: &str| {
        let response = engine
            .client
            .get(engine.url(&format!("/v1/batches/{id}")))
            .bearer_auth(key)
            .send()
            .expect("get batch");
        check_response(&doc, "GET", status_path, response)
    };
    let (status, body) = get(&key, &batch_id);
    assert_eq!(status, 200);
    assert_eq!(body["batchId"], batch_id.as_str());
    assert_eq!(get(&narrow, &batch_id).0, 404);
    assert_eq!(get(&key, &common::guid(99, 99)).0, 404);
    assert_eq!(get(&key, "geen-guid").0, 404);
}

#[test]
fn beheer_answers_as_documented() {
    let doc = document();
    let running = start();
    let engine = &running.engine;
    let put_path = "/v1/beheer/afnemers/{oin}";
    let oin = common::oin(7);
    let put = |oin: &str, token: Option<&str>, body: &Value| {
        let mut request = engine
            .client
            .put(engine.url(&format!("/v1/beheer/afnemers/{oin}")))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        check_response(&doc, "PUT", put_path, request.send().expect("put afnemer"))
    };

    // 201 with the defaults filled in, then 200 for a change.
    let (status, afnemer) = put(
        &oin,
        Some(BEHEER_TOKEN),
        &json!({ "naam": "Gemeente", "webhookUrl": "https://example.org/ontvangstbevestigingen" }),
    );
    assert_eq!(status, 201);
    assert_eq!(afnemer["oin"], oin.as_str());
    assert_eq!(afnemer["berichtenPerSeconde"], 45);
    assert_eq!(afnemer["burst"], 1000);
    assert_eq!(afnemer["actief"], true);
    let (status, afnemer) = put(&oin, Some(BEHEER_TOKEN), &json!({ "naam": "Gemeente B" }));
    assert_eq!(status, 200);
    assert_eq!(afnemer["naam"], "Gemeente B");

    // 400: a bad OIN, no naam, an unknown field.
    let (status, problem) = put("123", Some(BEHEER_TOKEN), &json!({}));
    assert_eq!(status, 400);
    let names = invalid_param_names(&problem);
    assert!(
        names.contains(&"oin") && names.contains(&"naam"),
        "{problem}"
    );
    let (status, problem) = put(
        &oin,
        Some(BEHEER_TOKEN),
        &json!({ "naam": "x", "kleur": 1 }),
    );
    assert_eq!(status, 400);
    assert!(
        invalid_param_names(&problem).contains(&"kleur"),
        "{problem}"
    );

    // 401: no token, and a wrong one.
    assert_eq!(put(&oin, None, &json!({ "naam": "x" })).0, 401);
    assert_eq!(put(&oin, Some("fout"), &json!({ "naam": "x" })).0, 401);

    // 415.
    let response = engine
        .client
        .put(engine.url(&format!("/v1/beheer/afnemers/{oin}")))
        .bearer_auth(BEHEER_TOKEN)
        .header("Content-Type", "text/plain")
        .body("naam=x")
        .send()
        .expect("put");
    assert_eq!(check_response(&doc, "PUT", put_path, response).0, 415);

    // GET /v1/beheer/afnemers: 200 listing the afnemer, 401 without the token.
    let list_path = "/v1/beheer/afnemers";
    let response = engine
        .client
        .get(engine.url(list_path))
        .bearer_auth(BEHEER_TOKEN)
        .send()
        .expect("list");
    let (status, list) = check_response(&doc, "GET", list_path, response);
    assert_eq!(status, 200);
    let listed = list["afnemers"].as_array().expect("afnemers");
    assert!(listed.iter().any(|a| a["oin"] == oin.as_str()), "{list}");
    let response = engine
        .client
        .get(engine.url(list_path))
        .bearer_auth("fout")
        .send()
        .expect("list");
    assert_eq!(check_response(&doc, "GET", list_path, response).0, 401);

    // POST api-sleutels: 201 with a key that works, 404 for an unknown afnemer.
    let key_path = "/v1/beheer/afnemers/{oin}/api-sleutels";
    let post_key = |oin: &str| {
        let response = engine
            .client
            .post(engine.url(&format!("/v1/beheer/afnemers/{oin}/api-sleutels")))
            .bearer_auth(BEHEER_TOKEN)
            .send()
            .expect("post key");
        check_response(&doc, "POST", key_path, response)
    };
    let (status, sleutel) = post_key(&oin);
    assert_eq!(status, 201);
    assert_eq!(post_key(&common::oin(8)).0, 404);

    // The key opens the afnemer's berichttypen.
    let key = sleutel["sleutel"].as_str().expect("sleutel");
    let type_path = "/v1/berichttypen/{code}";
    let put_type = |code: &str, body: &Value| {
        let response = engine
            .client
            .put(engine.url(&format!("/v1/berichttypen/{code}")))
            .bearer_auth(key)
            .json(body)
            .send()
            .expect("put berichttype");
        check_response(&doc, "PUT", type_path, response)
    };
    let aanslag = json!({ "omschrijving": "Aanslag" });
    assert_eq!(put_type("AANSLAG", &aanslag).0, 201);
    assert_eq!(
        put_type(
            "AANSLAG",
            &json!({ "omschrijving": "Aanslag", "actief": false })
        )
        .0,
        200
    );
    assert_eq!(put_type("TE-LANG-1", &aanslag).0, 400);
    let response = engine
        .client
        .get(engine.url("/v1/berichttypen"))
        .bearer_auth(key)
        .send()
        .expect("list berichttypen");
    let (status, list) = check_response(&doc, "GET", "/v1/berichttypen", response);
    assert_eq!(status, 200);
    assert_eq!(
        list,
        json!({ "berichttypen": [{ "code": "AANSLAG", "omschrijving": "Aanslag", "actief": false }] })
    );
}

/// The checker itself: it accepts what fits and catches what does not, so the tests above can fail.
#[test]
fn the_checker_can_fail() {
    let doc = document();
    let batch = json!({ "$ref": "#/components/schemas/Batch" });
    let good = json!({
        "batchId": common::guid(1, 1),
        "status": "geparkeerd",
        "ontvangenOp": "2026-11-28T10:00:00.5Z",
        "aantalBerichten": 3,
    });
    assert_eq!(conforms(&doc, &batch, &good, true), Vec::<String>::new());
    let broken = [
        ("aantalBerichten", Value::Null),
        ("aantalBerichten", json!("3")),
        ("status", json!("weg")),
        ("ontvangenOp", json!("gisteren")),
        ("extra", json!(1)),
    ];
    for (field, value) in broken {
        let mut bad = good.clone();
        if value.is_null() {
            bad.as_object_mut().expect("object").remove(field);
        } else {
            bad[field] = value;
        }
        assert!(
            !conforms(&doc, &batch, &bad, true).is_empty(),
            "the checker let {bad} pass"
        );
    }

    // The harness's batches are valid by the request schema; 1001 berichten are not.
    let request = json!({ "$ref": "#/components/schemas/BatchAanlevering" });
    assert_eq!(
        conforms(&doc, &request, &common::batch(1, 4), false),
        Vec::<String>::new()
    );
    assert!(!conforms(&doc, &request, &common::batch(1, 1001), false).is_empty());
    let mut unknown = common::batch(1, 1);
    unknown["berichten"][0]["kleur"] = json!("blauw");
    assert!(!conforms(&doc, &request, &unknown, false).is_empty());
}
