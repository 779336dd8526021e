//! Keeps `openapi.json` true to the engine: the document served at `/v1/openapi.json` is the
//! file in the repository, every documented operation is routed and every route is documented,
//! and what the engine answers (status, headers, media type, body) is what the document says.
//!
//! Bodies are checked with a small structural checker over the subset of OpenAPI 3.0 the
//! document uses: `$ref`, `allOf`, `type`, `enum`, `required`, `properties`,
//! `additionalProperties: false`, `items`, the length, item-count and number bounds, and the
//! formats `date-time` and `byte`. Responses are checked strictly: a property the engine sends
//! but the document does not name is an error too. A response documented as the media range
//! `*/*` with `format: binary` (a bijlage, served with its own media type) takes any media
//! type; its bytes come back base64-encoded for the test to compare.

use crate::support;

use std::collections::BTreeSet;

use crate::support::{BEHEER_TOKEN, BURGER_JWT_SECRET, Engine};
use base64::Engine as _;
use reqwest::Method;
use reqwest::blocking::{RequestBuilder, Response};
use serde_json::{Value, json};

/// The document, as the binary embeds it.
const OPENAPI_JSON: &str = include_str!("../../openapi.json");

/// Every (method, path) the engine routes: from the routes table that `configure` walks.
fn routes() -> BTreeSet<(String, String)> {
    berichtenbox::http::routes::ROUTES
        .iter()
        .flat_map(|route| {
            route
                .operations
                .iter()
                .map(|op| (op.verb.as_str().to_owned(), route.path.to_owned()))
        })
        .collect()
}

/// The listener of `engine` that serves `path`, from the routes table: the operations listener
/// for a route served only there (`/metrics`), else the API listener. The document must say
/// the same: such a path, and only such a path, names its own `servers` (the operations
/// listener's default address, the port of `server.ops_listen`'s default).
fn listener_of<'a>(doc: &Value, engine: &'a Engine, path: &str) -> &'a support::Api {
    use berichtenbox::http::routes::{Listener, ROUTES};
    let route = ROUTES
        .iter()
        .find(|r| r.path == path)
        .unwrap_or_else(|| panic!("{path} is not in the routes table"));
    let ops_only = route.listener == Listener::Operations;
    let servers = doc["paths"][path]["servers"].as_array();
    if ops_only {
        let port = berichtenbox::config::Config::default()
            .server
            .ops_listen
            .port();
        let urls: Vec<&str> = servers
            .unwrap_or_else(|| {
                panic!("{path} is served on the operations listener only: document its servers")
            })
            .iter()
            .filter_map(|s| s["url"].as_str())
            .collect();
        assert!(
            urls.iter().any(|u| u.ends_with(&format!(":{port}"))),
            "{path}: servers {urls:?} do not name the operations listener's port {port}"
        );
        &engine.ops
    } else {
        assert!(
            servers.is_none(),
            "{path} is served on the API listener, but the document gives it servers of its own"
        );
        engine
    }
}

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
        let example = match parameter
            .get("example")
            .or_else(|| resolve(doc, &parameter["schema"]).get("example"))
        {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Number(number)) => number.to_string(),
            _ => panic!("{path}: path parameter {name} has no example"),
        };
        out.replace_range(open..=close, &example);
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
    // OpenAPI 3.0's `nullable: true`: null is allowed, and nothing else is checked of it.
    if value.is_null() && schema.get("nullable") == Some(&Value::Bool(true)) {
        return;
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
    // Bytes of any media type: documented as the range `*/*`, in `format: binary`.
    let any_media = content
        .get("*/*")
        .filter(|media| resolve(doc, &media["schema"])["format"] == "binary");
    if let Some(media) = any_media
        && !content.contains_key(&essence)
    {
        assert!(
            !essence.is_empty() && essence.contains('/'),
            "{what}: sent Content-Type {content_type:?}, not a media type"
        );
        assert_eq!(media["schema"]["type"], "string", "{what}: binary schema");
        return Value::String(base64::engine::general_purpose::STANDARD.encode(&bytes));
    }
    let media = content.get(&essence).unwrap_or_else(|| {
        panic!(
            "{what}: sent Content-Type {content_type:?}, documented {:?}",
            content.keys().collect::<Vec<_>>()
        )
    });
    let body = if essence == "application/json" || essence.ends_with("+json") {
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
    // The portal's answers to a browser without a session are redirects: seen, not followed.
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for (name, path) in &operations {
        let url = listener_of(&doc, engine, path).url(&concrete(&doc, name, path));
        let response = client
            .request(method(name), &url)
            .send()
            .unwrap_or_else(|e| panic!("{name} {url}: {e}"));
        let status = response.status().as_u16();
        assert!(
            status != 404 && status != 405,
            "{name} {path} is documented but not routed: {status}"
        );
        let security = &operation(&doc, name, path)["security"];
        let secured = security.as_array().is_some_and(|s| !s.is_empty());
        let portaal = security[0].get("portaalSessie").is_some();
        if portaal {
            // Without a session: the sign-in page itself, a 303 to it from every other page,
            // and a form without its body (and so without its CSRF token) refused.
            let expected = match (name.to_ascii_lowercase().as_str(), path.as_str()) {
                ("get", "/leveranciersportaal") => 200,
                ("get", _) => 303,
                _ => 415,
            };
            assert_eq!(status, expected, "{name} {path} without a session");
        } else if secured {
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
    let registered = routes();
    assert!(!registered.is_empty());
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes without documentation in openapi.json: {undocumented:?}"
    );
    let unregistered: Vec<_> = documented.difference(&registered).collect();
    assert!(
        unregistered.is_empty(),
        "documented but not routed (not in http::routes::ROUTES): {unregistered:?}"
    );

    // And the list is true: the server routes every one of them.
    let running = start();
    let engine = &running.engine;
    for (name, path) in &registered {
        let url = listener_of(&doc, engine, path).url(&concrete(&doc, name, path));
        let response = engine
            .client
            .request(method(name), &url)
            .send()
            .expect("request");
        let status = response.status().as_u16();
        assert!(
            status != 404 && status != 405,
            "{name} {path} is in the routes table but the server answers {status}"
        );
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
        let url = listener_of(&doc, engine, path).url(&concrete(&doc, any, path));
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
            let allow: BTreeSet<String> = response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .split(',')
                .map(|m| m.trim().to_ascii_lowercase())
                .filter(|m| !m.is_empty())
                .collect();
            let expected: BTreeSet<String> = documented.iter().map(|m| (*m).to_owned()).collect();
            assert_eq!(allow, expected, "{what}: Allow");
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
    let key = engine.afnemer(&support::oin(1), json!({ "naam": "Afnemer een" }));
    let deliver =
        |key: &str, batch: &Value| check_response(&doc, "POST", post, engine.deliver(key, batch));

    // 401: no credentials, and an unknown key.
    let response = engine
        .client
        .post(engine.url(post))
        .json(&support::batch(1, 1))
        .send()
        .expect("post");
    assert_eq!(check_response(&doc, "POST", post, response).0, 401);
    assert_eq!(deliver("geen-sleutel", &support::batch(1, 1)).0, 401);

    // 403: an afnemer that is not active.
    let inactive = engine.afnemer(
        &support::oin(2),
        json!({ "naam": "Afnemer twee", "actief": false }),
    );
    assert_eq!(deliver(&inactive, &support::batch(1, 1)).0, 403);

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
    let mut broken = support::batch(2, 2);
    broken["berichten"][1]["ontvanger"] = json!("123456789");
    let (status, problem) = deliver(&key, &broken);
    assert_eq!(status, 400);
    assert!(
        invalid_param_names(&problem).contains(&"berichten[1].ontvanger"),
        "{problem}"
    );

    // 413: more than 1000 berichten, and attachments over 500 KB in one bericht.
    let (status, problem) = deliver(&key, &support::batch(3, 1001));
    assert_eq!(status, 413);
    assert!(
        invalid_param_names(&problem).contains(&"berichten"),
        "{problem}"
    );
    let mut heavy = support::batch(4, 1);
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
    let batch = support::batch(5, 3);
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
        &support::oin(3),
        json!({ "naam": "Afnemer drie", "berichtenPerSeconde": 1, "burst": 1 }),
    );
    assert_eq!(deliver(&narrow, &support::batch(6, 2)).0, 429);

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
    assert_eq!(get(&key, &support::guid(99, 99)).0, 404);
    assert_eq!(get(&key, "geen-guid").0, 404);
}

#[test]
fn beheer_answers_as_documented() {
    let doc = document();
    let running = start();
    let engine = &running.engine;
    let put_path = "/v1/beheer/afnemers/{oin}";
    let oin = support::oin(7);
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
    assert_eq!(post_key(&support::oin(8)).0, 404);

    // GET api-sleutels: 200 listing it (used and not), 404 for an unknown afnemer; DELETE
    // api-sleutels/{id}: 204, then 404 for the same id and for an unknown afnemer.
    let list_keys = |oin: &str| {
        let response = engine
            .client
            .get(engine.url(&format!("/v1/beheer/afnemers/{oin}/api-sleutels")))
            .bearer_auth(BEHEER_TOKEN)
            .send()
            .expect("list keys");
        check_response(&doc, "GET", key_path, response)
    };
    let delete_key = |oin: &str, id: &str| {
        let response = engine
            .client
            .delete(engine.url(&format!("/v1/beheer/afnemers/{oin}/api-sleutels/{id}")))
            .bearer_auth(BEHEER_TOKEN)
            .send()
            .expect("delete key");
        check_response(
            &doc,
            "DELETE",
            "/v1/beheer/afnemers/{oin}/api-sleutels/{id}",
            response,
        )
    };
    let (status, spare) = post_key(&oin);
    assert_eq!(status, 201);
    let spare_id = spare["id"].as_str().expect("id");
    let used = sleutel["sleutel"].as_str().expect("sleutel");
    assert_eq!(engine.get(used, "/v1/berichttypen").status, 200);
    let (status, listed) = list_keys(&oin);
    assert_eq!(status, 200);
    assert_eq!(
        listed["apiSleutels"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
    assert_eq!(list_keys(&support::oin(8)).0, 404);
    assert_eq!(delete_key(&oin, spare_id).0, 204);
    assert_eq!(delete_key(&oin, spare_id).0, 404);
    assert_eq!(delete_key(&support::oin(8), spare_id).0, 404);

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

use crate::support::{burger_token as burger, burger_token_with as jwt};

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Requests to one engine, every answer checked against the document.
struct Api<'a> {
    doc: &'a Value,
    engine: &'a Engine,
}

impl Api<'_> {
    /// `verb path` with an optional bearer token (an afnemer's API key or a citizen's JWT).
    fn request(&self, verb: &str, path: &str, token: Option<&str>) -> RequestBuilder {
        let request = self
            .engine
            .client
            .request(method(verb), self.engine.url(path));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends `request` and checks the answer as one of the documented `verb template`.
    fn check(&self, verb: &str, template: &str, request: RequestBuilder) -> (u16, Value) {
        let response = request
            .send()
            .unwrap_or_else(|e| panic!("{verb} {template}: {e}"));
        check_response(self.doc, verb, template, response)
    }

    /// `verb path` with an optional token and JSON body, checked as `verb template`.
    fn call(
        &self,
        verb: &str,
        template: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self.request(verb, path, token);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.check(verb, template, request)
    }

    /// `verb path` with a body that is not JSON by its media type.
    fn call_text(&self, verb: &str, template: &str, path: &str, token: &str) -> (u16, Value) {
        let request = self
            .request(verb, path, Some(token))
            .header("Content-Type", "text/plain")
            .body("gelezen=true");
        self.check(verb, template, request)
    }

    /// Polls `GET /v1/batches/{batchId}`, every answer checked, until the batch is processed;
    /// processing is asynchronous, so this waits for the state, at most 20 seconds.
    fn wait_processed(&self, key: &str, batch_id: &str) -> Value {
        let path = format!("/v1/batches/{batch_id}");
        support::wait_for(
            &format!("batch {batch_id} processed"),
            std::time::Duration::from_secs(20),
            || {
                let batch = expect(
                    self.call("GET", "/v1/batches/{batchId}", &path, Some(key), None),
                    200,
                    "batch status",
                );
                let processed = batch["status"] == "verwerkt";
                assert_eq!(
                    batch.get("verwerkingsbericht").is_some(),
                    processed,
                    "the receipt is there exactly when the batch is processed: {batch}"
                );
                processed.then_some(batch)
            },
        )
    }
}

/// The body of an answer with `status`; the body shows when the status is another.
#[track_caller]
fn expect(answer: (u16, Value), status: u16, what: &str) -> Value {
    assert_eq!(answer.0, status, "{what}: {}", answer.1);
    answer.1
}

/// A 400 whose `invalidParams` names `name`.
#[track_caller]
fn expect_invalid(answer: (u16, Value), name: &str, what: &str) {
    let problem = expect(answer, 400, what);
    assert!(
        invalid_param_names(&problem).contains(&name),
        "{what}: invalidParams should name {name}: {problem}"
    );
}

#[test]
fn account_answers_as_documented() {
    let doc = document();
    let running = start();
    let api = Api {
        doc: &doc,
        engine: &running.engine,
    };
    let oin = support::oin(11);
    let key = api.engine.afnemer(&oin, json!({ "naam": "Gemeente Elf" }));
    let bsn = support::bsn(1101);
    let token = burger(&bsn);
    let me = Some(token.as_str());
    let account = "/v1/account";
    let voorkeuren = "/v1/account/voorkeuren";
    let voorkeur = "/v1/account/voorkeuren/{oin}";
    let voorkeur_of = |oin: &str| format!("/v1/account/voorkeuren/{oin}");

    // 401 from every citizen operation: no token, and every kind of token the engine refuses.
    let exp = jsonwebtoken::get_current_timestamp() + 600;
    let other_secret = "een-ander-geheim-van-minstens-32-bytes";
    let refused = [
        None,
        Some("geen.geldig.jwt".to_owned()),
        Some(key.clone()),
        Some(jwt(&json!({ "sub": bsn, "exp": exp }), other_secret)),
        Some(jwt(
            &json!({ "sub": bsn, "exp": exp - 7200 }),
            BURGER_JWT_SECRET,
        )),
        Some(jwt(&json!({ "sub": bsn }), BURGER_JWT_SECRET)),
        Some(jwt(
            &json!({ "sub": "123456789", "exp": exp }),
            BURGER_JWT_SECRET,
        )),
    ];
    let citizen_operations: Vec<(String, String)> = documented_operations(&doc)
        .into_iter()
        .filter(|(verb, path)| {
            operation(&doc, verb, path)["security"] == json!([{ "burgerJwt": [] }])
        })
        .collect();
    assert_eq!(citizen_operations.len(), 11, "{citizen_operations:?}");
    for (verb, template) in &citizen_operations {
        let path = concrete(&doc, verb, template);
        for token in &refused {
            let what = format!("{verb} {template} with {token:?}");
            let problem = expect(
                api.call(verb, template, &path, token.as_deref(), None),
                401,
                &what,
            );
            assert_eq!(problem["status"], 401, "{what}");
        }
    }

    // Before the box is opened: 404 from everything that needs it.
    let body = json!({ "notificaties": true });
    for verb in ["GET", "PATCH", "DELETE"] {
        let body = (verb == "PATCH").then_some(&body);
        expect(api.call(verb, account, account, me, body), 404, verb);
    }
    expect(
        api.call("GET", voorkeuren, voorkeuren, me, None),
        404,
        "voorkeuren",
    );
    let digitaal = json!({ "digitaal": false });
    expect(
        api.call("PUT", voorkeur, &voorkeur_of(&oin), me, Some(&digitaal)),
        404,
        "voorkeur without a box",
    );
    let berichten = "/v1/account/berichten";
    expect(
        api.call("GET", berichten, berichten, me, None),
        404,
        "berichten",
    );

    // POST: 415, 400, 413; then 201 with Location, and 409 for a second box.
    expect(
        api.call_text("POST", account, account, &token),
        415,
        "text/plain",
    );
    let not_json = api
        .request("POST", account, me)
        .header("Content-Type", "application/json")
        .body("{");
    expect(api.check("POST", account, not_json), 400, "not JSON");
    for (body, name) in [
        (json!({ "kleur": 1 }), "kleur"),
        (json!({ "email": "geen-adres" }), "email"),
        (json!({ "email": 7 }), "email"),
    ] {
        expect_invalid(
            api.call("POST", account, account, me, Some(&body)),
            name,
            "open",
        );
    }
    let large = json!({ "email": format!("{}@voorbeeld.nl", "x".repeat(70_000)) });
    expect(
        api.call("POST", account, account, me, Some(&large)),
        413,
        "over 64 KiB",
    );
    let response = api
        .request("POST", account, me)
        .json(&json!({ "email": "jan@voorbeeld.nl" }))
        .send()
        .expect("open");
    let location = header(&response, "Location");
    let opened = expect(check_response(&doc, "POST", account, response), 201, "open");
    assert_eq!(location.as_deref(), Some("/v1/account"));
    assert_eq!(opened["bsn"], bsn.as_str());
    assert_eq!(opened["email"], "jan@voorbeeld.nl");
    assert_eq!(opened["notificaties"], true);
    assert_eq!(opened["actief"], true);
    expect(
        api.call("POST", account, account, me, Some(&json!({}))),
        409,
        "open twice",
    );
    // A box is its own citizen's: another citizen still has none.
    let other = burger(&support::bsn(1102));
    expect(
        api.call("GET", account, account, Some(&other), None),
        404,
        "another citizen",
    );

    // GET and PATCH.
    assert_eq!(
        expect(api.call("GET", account, account, me, None), 200, "get"),
        opened
    );
    let patched = expect(
        api.call(
            "PATCH",
            account,
            account,
            me,
            Some(&json!({ "notificaties": false })),
        ),
        200,
        "notifications off",
    );
    assert_eq!(patched["notificaties"], false);
    assert_eq!(patched["email"], "jan@voorbeeld.nl");
    let patched = expect(
        api.call(
            "PATCH",
            account,
            account,
            me,
            Some(&json!({ "email": "piet@voorbeeld.nl" })),
        ),
        200,
        "new e-mail address",
    );
    assert_eq!(patched["email"], "piet@voorbeeld.nl");
    assert_eq!(patched["notificaties"], false);
    for (body, name) in [
        (json!({ "email": "piet@" }), "email"),
        (json!({ "notificaties": "ja" }), "notificaties"),
        (json!({ "gelezen": true }), "gelezen"),
    ] {
        expect_invalid(
            api.call("PATCH", account, account, me, Some(&body)),
            name,
            "patch",
        );
    }
    expect(
        api.call_text("PATCH", account, account, &token),
        415,
        "patch text/plain",
    );

    // Voorkeuren: none set, then one; 404 for an afnemer that does not exist.
    assert_eq!(
        expect(
            api.call("GET", voorkeuren, voorkeuren, me, None),
            200,
            "voorkeuren"
        ),
        json!({ "voorkeuren": [] })
    );
    let set = expect(
        api.call("PUT", voorkeur, &voorkeur_of(&oin), me, Some(&digitaal)),
        200,
        "set voorkeur",
    );
    assert_eq!(set["oin"], oin.as_str());
    assert_eq!(set["naam"], "Gemeente Elf");
    assert_eq!(set["digitaal"], false);
    for unknown in [support::oin(12), "123".to_owned()] {
        expect(
            api.call("PUT", voorkeur, &voorkeur_of(&unknown), me, Some(&digitaal)),
            404,
            "unknown afnemer",
        );
    }
    for (body, name) in [
        (json!({}), "digitaal"),
        (json!({ "digitaal": "nee" }), "digitaal"),
        (json!({ "digitaal": true, "kleur": 1 }), "kleur"),
    ] {
        expect_invalid(
            api.call("PUT", voorkeur, &voorkeur_of(&oin), me, Some(&body)),
            name,
            "voorkeur",
        );
    }
    expect(
        api.call_text("PUT", voorkeur, &voorkeur_of(&oin), &token),
        415,
        "voorkeur text/plain",
    );
    assert_eq!(
        expect(
            api.call("GET", voorkeuren, voorkeuren, me, None),
            200,
            "voorkeuren"
        ),
        json!({ "voorkeuren": [set] })
    );

    // DELETE: 204 and the box is inactive (again 204); POST opens it again.
    expect(api.call("DELETE", account, account, me, None), 204, "close");
    let closed = expect(api.call("GET", account, account, me, None), 200, "closed");
    assert_eq!(closed["actief"], false);
    expect(
        api.call("DELETE", account, account, me, None),
        204,
        "close again",
    );
    let reopened = expect(
        api.call("POST", account, account, me, Some(&json!({}))),
        201,
        "reopen",
    );
    assert_eq!(reopened["actief"], true);
    assert_eq!(reopened["geopendOp"], opened["geopendOp"]);
}

#[test]
fn forecast_reports_and_validaties_answer_as_documented() {
    let doc = document();
    let running = start();
    let api = Api {
        doc: &doc,
        engine: &running.engine,
    };
    let key = api
        .engine
        .afnemer(&support::oin(31), json!({ "naam": "Afnemer prognose" }));
    expect(
        api.call(
            "PUT",
            "/v1/berichttypen/{code}",
            "/v1/berichttypen/AANSLAG",
            Some(&key),
            Some(&json!({ "omschrijving": "Aanslag" })),
        ),
        201,
        "berichttype",
    );
    let maand = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::get("Europe/Amsterdam").expect("zone"))
        .strftime("%Y-%m")
        .to_string();
    let template = "/v1/prognoses/{maand}";
    let path = format!("/v1/prognoses/{maand}");
    let forecast = json!({ "aantalBerichten": 1200, "gemiddeldeGrootteKb": 80 });
    expect(
        api.call("PUT", template, &path, Some(&key), Some(&forecast)),
        201,
        "create forecast",
    );
    expect(
        api.call("PUT", template, &path, Some(&key), Some(&forecast)),
        200,
        "replace forecast",
    );
    expect_invalid(
        api.call(
            "PUT",
            template,
            "/v1/prognoses/1999-01",
            Some(&key),
            Some(&forecast),
        ),
        "maand",
        "month out of range",
    );
    expect_invalid(
        api.call(
            "PUT",
            template,
            &path,
            Some(&key),
            Some(&json!({ "aantalBerichten": -1, "gemiddeldeGrootteKb": 80 })),
        ),
        "aantalBerichten",
        "negative",
    );
    expect(
        api.call("PUT", template, &path, None, Some(&forecast)),
        401,
        "no key",
    );
    expect(api.call_text("PUT", template, &path, &key), 415, "not JSON");
    let listed = expect(
        api.call("GET", "/v1/prognoses", "/v1/prognoses", Some(&key), None),
        200,
        "list",
    );
    assert_eq!(listed["prognoses"][0]["werkelijkAantalBerichten"], 0);

    let day = "/v1/rapportages/dagelijks";
    expect(api.call("GET", day, day, Some(&key), None), 200, "today");
    expect_invalid(
        api.call("GET", day, &format!("{day}?datum=morgen"), Some(&key), None),
        "datum",
        "bad date",
    );
    expect(api.call("GET", day, day, None, None), 401, "no key");

    let month = "/v1/beheer/rapportages/maandelijks";
    expect(
        api.call("GET", month, month, Some(BEHEER_TOKEN), None),
        200,
        "month",
    );
    expect_invalid(
        api.call(
            "GET",
            month,
            &format!("{month}?maand=2026-1"),
            Some(BEHEER_TOKEN),
            None,
        ),
        "maand",
        "bad month",
    );
    expect(
        api.call("GET", month, month, Some(&key), None),
        401,
        "not the operator",
    );

    let validaties = "/v1/validaties";
    let answer = expect(
        api.call(
            "POST",
            validaties,
            validaties,
            Some(&key),
            Some(&json!({ "berichtType": "AANSLAG", "bsns": [support::bsn(3101)] })),
        ),
        200,
        "validate",
    );
    assert_eq!(answer["resultaten"][0]["berichtSturen"], false);
    expect_invalid(
        api.call(
            "POST",
            validaties,
            validaties,
            Some(&key),
            Some(&json!({ "berichtType": "AANSLAG", "bsns": ["123"] })),
        ),
        "bsns[0]",
        "bad BSN",
    );
}

#[test]
fn abonnementen_answer_as_documented() {
    use std::sync::Arc;
    // 22:00 in Amsterdam (winter): the night's window opens an hour later.
    let at: jiff::Timestamp = "2026-12-14T21:00:00Z".parse().expect("timestamp");
    let doc = document();
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::builder(&dir.path().join("engine"))
        .clock(Arc::new(support::sandbox::SandboxClock::at(at)))
        .configure(|config| {
            config.abonnementen.ronde_seconden = 1;
            config.abonnementen.per_nacht_mutaties = 1;
        })
        .start();
    let api = Api {
        doc: &doc,
        engine: &engine,
    };
    let key = engine.afnemer(&support::oin(41), json!({ "naam": "Afnemer abonnement" }));
    let other = engine.afnemer(&support::oin(42), json!({ "naam": "Andere afnemer" }));
    let post = "/v1/abonnementsverzoeken";
    let status = "/v1/abonnementsverzoeken/{verzoekId}";
    let resultaat = "/v1/abonnementsverzoeken/{verzoekId}/resultaat";
    let id = support::guid(41, 1);
    let lijst = json!({ "verzoekId": id, "soort": "bsn-lijst", "bsns": [support::bsn(4101)] });

    let planned = expect(
        api.call("POST", post, post, Some(&key), Some(&lijst)),
        202,
        "a bsn-lijst",
    );
    assert_eq!(planned["status"], "ingepland", "{planned}");
    expect(
        api.call("POST", post, post, Some(&key), Some(&lijst)),
        200,
        "the same again",
    );
    expect(
        api.call(
            "POST",
            post,
            post,
            Some(&key),
            Some(&json!({ "verzoekId": id, "soort": "volledig" })),
        ),
        409,
        "the same id, other content",
    );
    expect_invalid(
        api.call(
            "POST",
            post,
            post,
            Some(&key),
            Some(&json!({ "verzoekId": id, "soort": "bsn-lijst", "bsns": ["123456789"] })),
        ),
        "bsns[0]",
        "a BSN failing the elfproef",
    );
    expect(
        api.call("POST", post, post, None, Some(&lijst)),
        401,
        "no key",
    );
    expect(api.call_text("POST", post, post, &key), 415, "not JSON");
    let mutaties = |n: u32| {
        json!({
            "verzoekId": support::guid(41, n),
            "soort": "mutaties",
            "mutatieDatum": "2026-12-14T12:00:00Z",
        })
    };
    expect(
        api.call("POST", post, post, Some(&key), Some(&mutaties(2))),
        202,
        "a mutaties",
    );
    expect(
        api.call("POST", post, post, Some(&key), Some(&mutaties(3))),
        429,
        "over the night's quota",
    );

    let path = format!("/v1/abonnementsverzoeken/{id}");
    let result_path = format!("{path}/resultaat");
    expect(
        api.call("GET", status, &path, Some(&key), None),
        200,
        "status",
    );
    expect(
        api.call("GET", status, &path, Some(&other), None),
        404,
        "another afnemer's",
    );
    expect(api.call("GET", status, &path, None, None), 401, "no key");
    expect(
        api.call("GET", resultaat, &result_path, Some(&key), None),
        409,
        "the result before gereed",
    );
    expect(
        api.call("GET", resultaat, &result_path, Some(&other), None),
        404,
        "another afnemer's result",
    );

    engine.advance(std::time::Duration::from_secs(3601));
    support::wait_until(
        "the verzoek gereed",
        std::time::Duration::from_secs(60),
        || {
            expect(
                api.call("GET", status, &path, Some(&key), None),
                200,
                "status",
            )["status"]
                == "gereed"
        },
    );
    let lines = expect(
        api.call("GET", resultaat, &result_path, Some(&key), None),
        200,
        "the result",
    );
    let line: Value = lines
        .as_str()
        .and_then(|text| text.strip_suffix('\n'))
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("one NDJSON line: {lines}"));
    assert_eq!(
        line,
        json!({ "bsn": support::bsn(4101), "status": "inactief" })
    );
}

#[test]
fn processing_and_box_answer_as_documented() {
    let doc = document();
    let running = start();
    let api = Api {
        doc: &doc,
        engine: &running.engine,
    };
    let oin = support::oin(21);
    let key = api.engine.afnemer(&oin, json!({ "naam": "Afnemer een" }));
    let aanslag = json!({ "omschrijving": "Aanslag" });
    expect(
        api.call(
            "PUT",
            "/v1/berichttypen/{code}",
            "/v1/berichttypen/AANSLAG",
            Some(&key),
            Some(&aanslag),
        ),
        201,
        "berichttype",
    );

    // X has a box, W one that refuses this afnemer's digital mail, Y none.
    let (x, w, y) = (support::bsn(2101), support::bsn(2102), support::bsn(2103));
    let (token_x, token_w, token_y) = (burger(&x), burger(&w), burger(&y));
    for token in [&token_x, &token_w] {
        expect(
            api.call(
                "POST",
                "/v1/account",
                "/v1/account",
                Some(token),
                Some(&json!({})),
            ),
            201,
            "open",
        );
    }
    expect(
        api.call(
            "PUT",
            "/v1/account/voorkeuren/{oin}",
            &format!("/v1/account/voorkeuren/{oin}"),
            Some(&token_w),
            Some(&json!({ "digitaal": false })),
        ),
        200,
        "refuse digital mail",
    );

    // One batch with an outcome of every kind a client can cause here; then a second one.
    let now = jiff::Timestamp::now();
    let pdf = base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.4 de aanslag van X");
    let bericht = |n: u32, ontvanger: &str, soort: &str| {
        json!({
            "berichtId": support::guid(21, n),
            "berichtType": soort,
            "ontvanger": ontvanger,
            "onderwerp": format!("Bericht {n}"),
            "tekst": format!("De tekst van bericht {n}."),
        })
    };
    let mut first = bericht(0, &x, "AANSLAG");
    first["referentie"] = json!("R-0");
    first["publicatieDatum"] = json!((now - jiff::SignedDuration::from_mins(1)).to_string());
    first["bijlagen"] =
        json!([{ "omschrijving": "Aanslag", "mediatype": "application/pdf", "inhoud": pdf }]);
    let mut later = bericht(2, &x, "AANSLAG");
    later["publicatieDatum"] = json!((now + jiff::SignedDuration::from_hours(48)).to_string());
    let batch_id = support::guid(21, 0xffff);
    let batch = json!({
        "batchId": batch_id,
        "aanmaakDatum": now.to_string(),
        "berichten": [
            first,
            bericht(1, &x, "AANSLAG"),
            later,
            bericht(3, &y, "AANSLAG"),
            bericht(4, &w, "AANSLAG"),
            bericht(5, &x, "ONBEKEND"),
        ],
    });
    let post = "/v1/batches";
    expect(
        check_response(&doc, "POST", post, api.engine.deliver(&key, &batch)),
        202,
        "deliver",
    );
    let processed = api.wait_processed(&key, &batch_id);
    let receipt = processed["verwerkingsbericht"].clone();
    assert_eq!(receipt["batchId"], batch_id.as_str());
    assert_eq!(receipt["ontvangenOp"], processed["ontvangenOp"]);
    assert_eq!(receipt["totaalAantalOntvangenBerichten"], 6);
    assert_eq!(receipt["aantalSuccesvolVerwerkt"], 3);
    assert_eq!(
        receipt["aantalPerVerwerkingsCode"],
        json!({ "NietActiefOfGeabonneerd": 2, "BerichtTypeNietOndersteund": 1 })
    );
    let outcomes: BTreeSet<(String, String, String)> = receipt["berichten"]
        .as_array()
        .expect("berichten")
        .iter()
        .map(|b| {
            let text = |field: &str| b[field].as_str().unwrap_or_default().to_owned();
            (text("berichtId"), text("verwerkingsCode"), text("stadium"))
        })
        .collect();
    let expected: BTreeSet<(String, String, String)> = [
        (0, "Verwerkt", "NA"),
        (1, "Verwerkt", "NA"),
        (2, "Verwerkt", "NA"),
        (3, "NietActiefOfGeabonneerd", "ValidatieGebruiker"),
        (4, "NietActiefOfGeabonneerd", "ValidatieGebruiker"),
        (5, "BerichtTypeNietOndersteund", "ValidatieBerichtType"),
    ]
    .into_iter()
    .map(|(n, code, stadium)| (support::guid(21, n), code.to_owned(), stadium.to_owned()))
    .collect();
    assert_eq!(outcomes, expected, "{receipt}");

    let second_id = support::guid(22, 0xffff);
    let second = json!({
        "batchId": second_id,
        "aanmaakDatum": now.to_string(),
        "berichten": [bericht(10, &x, "AANSLAG")],
    });
    expect(
        check_response(&doc, "POST", post, api.engine.deliver(&key, &second)),
        202,
        "deliver",
    );
    let second_receipt = api.wait_processed(&key, &second_id)["verwerkingsbericht"].clone();
    assert_eq!(second_receipt["aantalPerVerwerkingsCode"], json!({}));

    // The feed: both receipts in order, pages with `volgende`, 400, 401, 403; none of another's.
    let feed = "/v1/verwerkingsberichten";
    let page = |query: &str, token: Option<&str>| {
        api.call("GET", feed, &format!("{feed}{query}"), token, None)
    };
    let all = expect(page("", Some(&key)), 200, "feed");
    assert_eq!(
        all["verwerkingsberichten"],
        json!([receipt.clone(), second_receipt.clone()])
    );
    let one = expect(page("?limit=1", Some(&key)), 200, "first page");
    assert_eq!(one["verwerkingsberichten"], json!([receipt.clone()]));
    let cursor = one["volgende"].as_str().expect("volgende on a full page");
    let two = expect(
        page(&format!("?na={cursor}&limit=1"), Some(&key)),
        200,
        "second page",
    );
    assert_eq!(two["verwerkingsberichten"], json!([second_receipt.clone()]));
    let cursor = two["volgende"].as_str().expect("volgende on a full page");
    let three = expect(
        page(&format!("?na={cursor}&limit=1"), Some(&key)),
        200,
        "third page",
    );
    assert_eq!(
        three,
        json!({ "verwerkingsberichten": [], "volgende": cursor }),
        "the end of the feed gives back the cursor it was asked with"
    );
    assert_eq!(all["volgende"], json!(cursor), "{all}");
    for (query, name) in [
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?limit=veel", "limit"),
        ("?na=zz", "na"),
        ("?kleur=1", "query"),
    ] {
        expect_invalid(page(query, Some(&key)), name, query);
    }
    expect(page("", None), 401, "feed without a key");
    expect(page("", Some("fout")), 401, "feed with an unknown key");
    let inactive = api.engine.afnemer(
        &support::oin(23),
        json!({ "naam": "Slapend", "actief": false }),
    );
    expect(
        page("", Some(&inactive)),
        403,
        "feed of an inactive afnemer",
    );
    let stranger = api
        .engine
        .afnemer(&support::oin(24), json!({ "naam": "Ander" }));
    assert_eq!(
        expect(page("", Some(&stranger)), 200, "another afnemer's feed"),
        json!({ "verwerkingsberichten": [] })
    );

    // The box: newest first, without tekst, the unpublished bericht left out; pages; 400; 404.
    let list_path = "/v1/account/berichten";
    let list = |query: &str, token: &str| {
        api.call(
            "GET",
            list_path,
            &format!("{list_path}{query}"),
            Some(token),
            None,
        )
    };
    let box_x = expect(list("", &token_x), 200, "box");
    let items = box_x["berichten"].as_array().expect("berichten").clone();
    let onderwerpen: Vec<&str> = items
        .iter()
        .filter_map(|b| b["onderwerp"].as_str())
        .collect();
    assert_eq!(onderwerpen.len(), 3, "{box_x}");
    assert_eq!(onderwerpen[0], "Bericht 10", "newest first: {box_x}");
    assert!(
        onderwerpen.contains(&"Bericht 0") && onderwerpen.contains(&"Bericht 1"),
        "{box_x}"
    );
    assert!(box_x.get("volgende").is_none(), "{box_x}");
    let item = items
        .iter()
        .find(|b| b["onderwerp"] == "Bericht 0")
        .expect("bericht 0")
        .clone();
    assert_eq!(
        item["afzender"],
        json!({ "oin": oin, "naam": "Afnemer een" })
    );
    assert_eq!(item["berichtType"], "AANSLAG");
    assert_eq!(item["referentie"], "R-0");
    assert_eq!(item["gelezen"], false);
    let pdf_len = b"%PDF-1.4 de aanslag van X".len();
    assert_eq!(
        item["bijlagen"],
        json!([{ "volgorde": 0, "omschrijving": "Aanslag", "mediatype": "application/pdf", "grootte": pdf_len }])
    );
    assert_eq!(
        expect(list("", &token_w), 200, "W's box"),
        json!({ "berichten": [] })
    );
    let first_page = expect(list("?limit=2", &token_x), 200, "first page");
    let cursor = first_page["volgende"]
        .as_str()
        .expect("volgende on a full page");
    let rest = expect(
        list(&format!("?na={cursor}&limit=2"), &token_x),
        200,
        "second page",
    );
    assert!(rest.get("volgende").is_none(), "{rest}");
    let paged: Vec<Value> = [&first_page, &rest]
        .iter()
        .flat_map(|p| p["berichten"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(paged, items);
    for (query, name) in [
        ("?limit=0", "limit"),
        ("?limit=501", "limit"),
        ("?na=zz", "na"),
        ("?kleur=1", "query"),
    ] {
        expect_invalid(list(query, &token_x), name, query);
    }
    expect(list("", &token_y), 404, "Y has no box");

    // One bericht: with its tekst; another citizen's, a malformed and an unknown id are 404.
    let bericht_path = "/v1/account/berichten/{id}";
    let id = item["id"].as_str().expect("id");
    let at = format!("/v1/account/berichten/{id}");
    let full = expect(
        api.call("GET", bericht_path, &at, Some(&token_x), None),
        200,
        "bericht",
    );
    assert_eq!(full["tekst"], "De tekst van bericht 0.");
    let mut without_tekst = full.clone();
    without_tekst
        .as_object_mut()
        .expect("object")
        .remove("tekst");
    assert_eq!(
        without_tekst, item,
        "the bericht is its list item with its tekst"
    );
    let unknown = format!("/v1/account/berichten/{}", "0".repeat(36));
    for (path, token) in [
        (at.as_str(), &token_w),
        ("/v1/account/berichten/geen-id", &token_x),
        (unknown.as_str(), &token_x),
    ] {
        expect(
            api.call("GET", bericht_path, path, Some(token), None),
            404,
            path,
        );
    }

    // Its bijlage: the bytes with their own media type; 404 for what is not there.
    let bijlage_path = "/v1/account/berichten/{id}/bijlagen/{volgorde}";
    let response = api
        .request("GET", &format!("{at}/bijlagen/0"), Some(&token_x))
        .send()
        .expect("bijlage");
    let content_type = header(&response, "Content-Type");
    let (status, bytes) = check_response(&doc, "GET", bijlage_path, response);
    assert_eq!(status, 200, "bijlage: {bytes}");
    assert_eq!(content_type.as_deref(), Some("application/pdf"));
    assert_eq!(bytes, pdf.as_str(), "the bytes as delivered");
    let bericht_1 = items
        .iter()
        .find(|b| b["onderwerp"] == "Bericht 1")
        .and_then(|b| b["id"].as_str())
        .expect("bericht 1");
    for (path, token) in [
        (format!("{at}/bijlagen/1"), &token_x),
        (format!("{at}/bijlagen/x"), &token_x),
        (format!("{at}/bijlagen/0"), &token_w),
        (
            format!("/v1/account/berichten/{bericht_1}/bijlagen/0"),
            &token_x,
        ),
    ] {
        expect(
            api.call("GET", bijlage_path, &path, Some(token), None),
            404,
            &path,
        );
    }

    // PATCH: 400, 415, 404, then 200 marking it read.
    for (body, name) in [
        (json!({ "kleur": 1 }), "kleur"),
        (json!({ "gelezen": "ja" }), "gelezen"),
    ] {
        expect_invalid(
            api.call("PATCH", bericht_path, &at, Some(&token_x), Some(&body)),
            name,
            "patch",
        );
    }
    expect(
        api.call_text("PATCH", bericht_path, &at, &token_x),
        415,
        "patch text/plain",
    );
    let gelezen = json!({ "gelezen": true });
    expect(
        api.call(
            "PATCH",
            bericht_path,
            &unknown,
            Some(&token_x),
            Some(&gelezen),
        ),
        404,
        "unknown",
    );
    expect(
        api.call("PATCH", bericht_path, &at, Some(&token_w), Some(&gelezen)),
        404,
        "W",
    );
    let read = expect(
        api.call("PATCH", bericht_path, &at, Some(&token_x), Some(&gelezen)),
        200,
        "read",
    );
    assert_eq!(read["gelezen"], true);
    assert_eq!(read["tekst"], full["tekst"]);
    assert_eq!(
        expect(
            api.call("PATCH", bericht_path, &at, Some(&token_x), Some(&json!({}))),
            200,
            "no change"
        ),
        read
    );

    // DELETE: 404 for another citizen, 204, then gone.
    expect(
        api.call("DELETE", bericht_path, &at, Some(&token_w), None),
        404,
        "W deletes",
    );
    expect(
        api.call("DELETE", bericht_path, &at, Some(&token_x), None),
        204,
        "delete",
    );
    expect(
        api.call("GET", bericht_path, &at, Some(&token_x), None),
        404,
        "deleted",
    );
    expect(
        api.call("DELETE", bericht_path, &at, Some(&token_x), None),
        404,
        "deleted twice",
    );
    expect(
        api.call(
            "GET",
            bijlage_path,
            &format!("{at}/bijlagen/0"),
            Some(&token_x),
            None,
        ),
        404,
        "bijlage of a deleted bericht",
    );
    let after = expect(list("", &token_x), 200, "box after delete");
    assert_eq!(
        after["berichten"].as_array().map(Vec::len),
        Some(2),
        "{after}"
    );
}

/// The checker itself: it accepts what fits and catches what does not, so the tests above can fail.
#[test]
fn the_checker_can_fail() {
    let doc = document();
    let batch = json!({ "$ref": "#/components/schemas/Batch" });
    let good = json!({
        "batchId": support::guid(1, 1),
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

    // `nullable: true` lets null through where it is said, and only there.
    let info = json!({ "$ref": "#/components/schemas/ApiSleutelInfo" });
    let unused =
        json!({ "id": "a", "aangemaaktOp": "2026-11-28T10:00:00Z", "laatstGebruiktOp": null });
    assert_eq!(conforms(&doc, &info, &unused, true), Vec::<String>::new());
    for (field, value) in [("id", Value::Null), ("laatstGebruiktOp", json!("gisteren"))] {
        let mut bad = unused.clone();
        bad[field] = value;
        assert!(
            !conforms(&doc, &info, &bad, true).is_empty(),
            "the checker let {bad} pass"
        );
    }

    // The harness's batches are valid by the request schema; 1001 berichten are not.
    let request = json!({ "$ref": "#/components/schemas/BatchAanlevering" });
    assert_eq!(
        conforms(&doc, &request, &support::batch(1, 4), false),
        Vec::<String>::new()
    );
    assert!(!conforms(&doc, &request, &support::batch(1, 1001), false).is_empty());
    let mut unknown = support::batch(1, 1);
    unknown["berichten"][0]["kleur"] = json!("blauw");
    assert!(!conforms(&doc, &request, &unknown, false).is_empty());

    // A receipt: only the codes and stadia of the contract, counts only of codes other than
    // Verwerkt.
    let receipt = json!({ "$ref": "#/components/schemas/Verwerkingsbericht" });
    let good = json!({
        "batchId": support::guid(1, 1),
        "ontvangenOp": "2026-11-28T10:00:00Z",
        "verwerktOp": "2026-11-28T10:00:01Z",
        "totaalAantalOntvangenBerichten": 2,
        "aantalSuccesvolVerwerkt": 1,
        "aantalPerVerwerkingsCode": { "BerichtBestaatAl": 1 },
        "berichten": [
            { "berichtId": support::guid(1, 2), "verwerkingsCode": "Verwerkt", "stadium": "NA" },
            { "berichtId": support::guid(1, 3), "verwerkingsCode": "BerichtBestaatAl", "stadium": "StoreMessage" },
        ],
    });
    assert_eq!(conforms(&doc, &receipt, &good, true), Vec::<String>::new());
    let broken = [
        ("/aantalPerVerwerkingsCode/Verwerkt", Some(json!(1))),
        (
            "/aantalPerVerwerkingsCode/BerichtBestaatAl",
            Some(json!("1")),
        ),
        ("/berichten/0/verwerkingsCode", Some(json!("Gelukt"))),
        ("/berichten/1/stadium", Some(json!("Opslag"))),
        ("/verwerktOp", None),
        ("/aantalPerVerwerkingsCode", None),
    ];
    for (pointer, value) in broken {
        let bad = changed(&good, pointer, value);
        assert!(
            !conforms(&doc, &receipt, &bad, true).is_empty(),
            "the checker let {bad} pass"
        );
    }

    // A bericht in a box: the list item has no tekst, the single bericht has one.
    let item = json!({ "$ref": "#/components/schemas/BoxBerichtOverzicht" });
    let single = json!({ "$ref": "#/components/schemas/BoxBericht" });
    let listed = json!({
        "id": "0".repeat(36),
        "afzender": { "oin": support::oin(1) },
        "berichtType": "AANSLAG",
        "onderwerp": "Uw aanslag",
        "ontvangenOp": "2026-11-28T10:00:00Z",
        "gelezen": false,
        "bijlagen": [{ "volgorde": 0, "omschrijving": "Brief", "mediatype": "application/pdf", "grootte": 10 }],
    });
    let with_tekst = changed(&listed, "/tekst", Some(json!("De tekst.")));
    assert_eq!(conforms(&doc, &item, &listed, true), Vec::<String>::new());
    assert_eq!(
        conforms(&doc, &single, &with_tekst, true),
        Vec::<String>::new()
    );
    assert!(!conforms(&doc, &item, &with_tekst, true).is_empty());
    assert!(!conforms(&doc, &single, &listed, true).is_empty());
    assert!(!conforms(&doc, &item, &changed(&listed, "/id", Some(json!(7))), true).is_empty());
}

/// `value` with the field at `pointer` set to `new`, or removed.
fn changed(value: &Value, pointer: &str, new: Option<Value>) -> Value {
    let mut out = value.clone();
    let (parent, field) = pointer.rsplit_once('/').expect("a pointer");
    let object = out
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("{parent} is no object"));
    match new {
        Some(new) => object.insert(field.to_owned(), new),
        None => object.remove(field),
    };
    out
}

/// Made-up method names are answered as any other unrouted method (405 on a routed path with
/// its `Allow`, 404 elsewhere, both problem+json as documented), and they add no series:
/// `berichtenbox_http_requests_total` counts each as method `other`. The recorder is shared by
/// every engine of this test binary, so the check is on the set of method label values, which
/// other tests' traffic can only widen within the standard set.
#[test]
fn made_up_methods_are_answered_and_counted_as_other() {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
    ];
    let doc = document();
    let running = start();
    let engine = &running.engine;
    let not_allowed = &doc["components"]["responses"]["MethodNotAllowed"];
    let not_found = &doc["components"]["responses"]["NotFound"];
    for n in 0..300 {
        let name = format!("XMETHOD{n}");
        let made_up = Method::from_bytes(name.as_bytes()).expect("a method token");
        if n % 2 == 0 {
            let response = engine
                .client
                .request(made_up, engine.url("/v1/batches"))
                .send()
                .expect("request");
            let what = format!("{name} /v1/batches");
            assert_eq!(response.status(), 405, "{what}");
            assert_eq!(
                response
                    .headers()
                    .get("allow")
                    .and_then(|v| v.to_str().ok()),
                Some("POST"),
                "{what}: Allow"
            );
            check_answer(&doc, &what, not_allowed, response);
        } else {
            let path = format!("/v1/onbekend-{n}");
            let response = engine
                .client
                .request(made_up, engine.url(&path))
                .send()
                .expect("request");
            let what = format!("{name} {path}");
            assert_eq!(response.status(), 404, "{what}");
            check_answer(&doc, &what, not_found, response);
        }
    }

    let response = engine
        .client
        .get(engine.ops.url("/metrics"))
        .send()
        .expect("GET /metrics");
    assert_eq!(response.status(), 200, "GET /metrics");
    let text = response.text().expect("metrics text");
    let requests = "berichtenbox_http_requests_total{";
    let mut methods = BTreeSet::new();
    let mut routes = BTreeSet::new();
    for line in text.lines().filter(|l| l.starts_with(requests)) {
        let labels = &line[requests.len()..line.rfind('}').expect("labels end")];
        for label in labels.split("\",") {
            let (name, value) = label.split_once("=\"").expect("name=\"value\"");
            let value = value.trim_end_matches('"').to_owned();
            match name {
                "method" => methods.insert(value),
                "route" => routes.insert(value),
                _ => false,
            };
        }
    }
    assert!(
        methods.contains("other"),
        "made-up methods counted: {methods:?}"
    );
    let allowed: BTreeSet<String> = STANDARD
        .iter()
        .map(|m| (*m).to_owned())
        .chain(["other".to_owned()])
        .collect();
    let outside: Vec<&String> = methods.difference(&allowed).collect();
    assert!(
        outside.is_empty(),
        "method label values outside the standard set: {outside:?}"
    );
    // Routes: patterns of the routes table, or `unmatched`; never a path a client sent.
    assert!(routes.contains("unmatched"), "{routes:?}");
    for route in &routes {
        assert!(
            route == "unmatched"
                || berichtenbox::http::routes::ROUTES
                    .iter()
                    .any(|r| r.path == route.as_str()),
            "route label {route:?} is not a pattern of the routes table"
        );
    }
}

/// A request with one field `null`: method, documented path, concrete path, token, body, and
/// the `invalidParams` name it must get.
type NullCase<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Value, String);

/// A field the document makes optional but not `nullable` is refused as `null` (400 naming
/// it), like any other value of the wrong type; schemathesis found `"actief": null` and its
/// kind taken for "left out". Every such field of every request body is in the table (the
/// document is walked to make sure), and `webhookUrl`, the one nullable field, still takes
/// `null` (it removes the webhook).
#[test]
fn a_null_where_the_document_allows_none_is_refused() {
    let doc = document();
    let running = start();
    let api = Api {
        doc: &doc,
        engine: &running.engine,
    };
    let oin = support::oin(21);
    let key = api.engine.afnemer(&oin, json!({ "naam": "Gemeente" }));
    let bsn = support::bsn(2101);
    let token = burger(&bsn);
    let me = Some(token.as_str());
    expect(
        api.call("POST", "/v1/account", "/v1/account", me, Some(&json!({}))),
        201,
        "open the box",
    );
    let afnemer = format!("/v1/beheer/afnemers/{oin}");
    let bericht = format!("/v1/account/berichten/{}", "0".repeat(36));
    let batch = support::batch(21, 1);
    let with_null = |field: &str| {
        let mut body = batch.clone();
        body["berichten"][0][field] = Value::Null;
        body
    };
    let cases: Vec<NullCase> = vec![
        (
            "PUT",
            "/v1/beheer/afnemers/{oin}",
            &afnemer,
            Some(BEHEER_TOKEN),
            json!({ "naam": "x", "berichtenPerSeconde": null }),
            "berichtenPerSeconde".into(),
        ),
        (
            "PUT",
            "/v1/beheer/afnemers/{oin}",
            &afnemer,
            Some(BEHEER_TOKEN),
            json!({ "naam": "x", "burst": null }),
            "burst".into(),
        ),
        (
            "PUT",
            "/v1/beheer/afnemers/{oin}",
            &afnemer,
            Some(BEHEER_TOKEN),
            json!({ "naam": "x", "actief": null }),
            "actief".into(),
        ),
        (
            "PUT",
            "/v1/berichttypen/{code}",
            "/v1/berichttypen/AANSLAG",
            Some(&key),
            json!({ "omschrijving": "x", "actief": null }),
            "actief".into(),
        ),
        (
            "POST",
            "/v1/account",
            "/v1/account",
            me,
            json!({ "email": null }),
            "email".into(),
        ),
        (
            "PATCH",
            "/v1/account",
            "/v1/account",
            me,
            json!({ "email": null }),
            "email".into(),
        ),
        (
            "PATCH",
            "/v1/account",
            "/v1/account",
            me,
            json!({ "notificaties": null }),
            "notificaties".into(),
        ),
        (
            "PATCH",
            "/v1/account/berichten/{id}",
            &bericht,
            me,
            json!({ "gelezen": null }),
            "gelezen".into(),
        ),
        (
            "POST",
            "/v1/batches",
            "/v1/batches",
            Some(&key),
            with_null("referentie"),
            "berichten[0].referentie".into(),
        ),
        (
            "POST",
            "/v1/batches",
            "/v1/batches",
            Some(&key),
            with_null("publicatieDatum"),
            "berichten[0].publicatieDatum".into(),
        ),
        (
            "POST",
            "/v1/batches",
            "/v1/batches",
            Some(&key),
            with_null("bijlagen"),
            "berichten[0].bijlagen".into(),
        ),
        (
            "POST",
            "/v1/abonnementsverzoeken",
            "/v1/abonnementsverzoeken",
            Some(&key),
            json!({ "verzoekId": support::guid(21, 1), "soort": "bsn-lijst", "bsns": null }),
            "bsns".into(),
        ),
        (
            "POST",
            "/v1/abonnementsverzoeken",
            "/v1/abonnementsverzoeken",
            Some(&key),
            json!({ "verzoekId": support::guid(21, 2), "soort": "mutaties", "mutatieDatum": null }),
            "mutatieDatum".into(),
        ),
    ];

    // The document's optional, non-nullable fields of request bodies (and of a batch's
    // berichten), each as the invalidParams name it gets: the table covers every one.
    let mut documented = BTreeSet::new();
    for (verb, path) in documented_operations(&doc) {
        let op = operation(&doc, &verb, &path);
        let Some(schema) = op["requestBody"]["content"]["application/json"].get("schema") else {
            continue;
        };
        let mut objects = vec![(String::new(), resolve(&doc, schema))];
        while let Some((prefix, object)) = objects.pop() {
            let required = object["required"].as_array().cloned().unwrap_or_default();
            for (name, property) in object["properties"].as_object().into_iter().flatten() {
                let property = resolve(&doc, property);
                let property = property["allOf"]
                    .get(0)
                    .map_or(property, |first| resolve(&doc, first));
                if property["type"] == "array" {
                    let items = resolve(&doc, &property["items"]);
                    if items["type"] == "object" {
                        objects.push((format!("{prefix}{name}[0]."), items));
                    }
                }
                if !required.contains(&json!(name)) && property["nullable"] != true {
                    documented.insert((verb.clone(), path.clone(), format!("{prefix}{name}")));
                }
            }
        }
    }
    let tested: BTreeSet<(String, String, String)> = cases
        .iter()
        .map(|(verb, template, _, _, _, name)| {
            ((*verb).to_owned(), (*template).to_owned(), name.clone())
        })
        .collect();
    assert_eq!(tested, documented, "every optional, non-nullable field");

    for (verb, template, path, token, body, name) in &cases {
        let what = format!("{verb} {path} {body}");
        expect_invalid(
            api.call(verb, template, path, *token, Some(body)),
            name,
            &what,
        );
    }
    // Nothing of the refused requests was kept; the nullable field takes its null.
    let (status, afnemer_now) = api.call(
        "PUT",
        "/v1/beheer/afnemers/{oin}",
        &afnemer,
        Some(BEHEER_TOKEN),
        Some(&json!({ "naam": "Gemeente", "webhookUrl": null })),
    );
    assert_eq!(status, 200, "{afnemer_now}");
    assert_eq!(afnemer_now["actief"], true, "{afnemer_now}");
    assert_eq!(afnemer_now["burst"], 1000, "{afnemer_now}");
    assert!(afnemer_now.get("webhookUrl").is_none(), "{afnemer_now}");
}
