//! Typed clients of a running engine, over real HTTP on 127.0.0.1: [`Api`] (the address and a
//! blocking client, with the calls every test makes), the operator's [`Beheer`], an
//! afnemer's [`Afnemer`] and a citizen's [`Burger`]; and [`Reply`], a response read whole.
//!
//! Paged lists are followed here, once for everyone ([`Api::all_pages`]).

use std::time::Duration;

use serde_json::{Value, json};

use super::{BEHEER_TOKEN, burger_token, wait_for};

/// A response read whole, so its status, headers and body can all be inspected.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Content-Type`, or "" without one.
    pub fn content_type(&self) -> &str {
        self.header("Content-Type").unwrap_or("")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "body is not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends the request and reads the whole response.
pub fn send(request: reqwest::blocking::RequestBuilder) -> Reply {
    let response = request.send().expect("send request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().expect("read body").to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

/// Asserts `status` and a JSON body, and answers the body.
#[track_caller]
pub fn ok_json(reply: &Reply, status: u16, context: &str) -> Value {
    assert_eq!(reply.status, status, "{context}: {}", reply.text());
    reply.json()
}

/// Asserts a problem+json reply (RFC 9457) with `status` and answers its body.
#[track_caller]
pub fn assert_problem(reply: &Reply, status: u16, context: &str) -> Value {
    assert_eq!(reply.status, status, "{context}: {}", reply.text());
    assert_eq!(
        reply.content_type().split(';').next().map(str::trim),
        Some("application/problem+json"),
        "{context}: content type"
    );
    let problem = reply.json();
    assert_eq!(problem["status"], status, "{context}: {problem}");
    for field in ["type", "title", "detail"] {
        assert!(
            problem[field].as_str().is_some_and(|s| !s.is_empty()),
            "{context}: problem has no {field}: {problem}"
        );
    }
    problem
}

/// The `name`s of a problem's `invalidParams`.
#[track_caller]
pub fn invalid_names(problem: &Value) -> Vec<String> {
    problem["invalidParams"]
        .as_array()
        .unwrap_or_else(|| panic!("no invalidParams: {problem}"))
        .iter()
        .map(|p| p["name"].as_str().unwrap_or("<no name>").to_owned())
        .collect()
}

/// An engine's address and a blocking HTTP client: the calls every test makes.
#[derive(Debug, Clone)]
pub struct Api {
    /// `http://127.0.0.1:PORT` (`https://` with `[tls]`).
    pub base: String,
    pub client: reqwest::blocking::Client,
}

impl Api {
    pub fn new(base: String) -> Self {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        Self { base, client }
    }

    /// An `https://` base: the client trusts the test CA `ca_pem` and presents no certificate.
    /// Any other base: as [`Api::new`].
    pub fn trusting(base: String, ca_pem: Option<&str>) -> Self {
        match ca_pem {
            Some(ca_pem) if base.starts_with("https://") => Self {
                client: super::pki::https_client(ca_pem, None),
                base,
            },
            _ => Self::new(base),
        }
    }

    /// This API's base with another client (one that presents a client certificate).
    pub fn with_client(&self, client: reqwest::blocking::Client) -> Self {
        Self {
            base: self.base.clone(),
            client,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A GET with a bearer token (an afnemer's API key, a citizen's JWT, the beheer token).
    pub fn get(&self, token: &str, path: &str) -> Reply {
        send(self.client.get(self.url(path)).bearer_auth(token))
    }

    /// Every item of a paged list (see [`Api::pages`]).
    pub fn all_pages(&self, token: &str, path: &str, field: &str) -> Vec<Value> {
        self.pages(token, path, field).concat()
    }

    /// The pages of a paged list, each its items: GETs `path` (which may have its own
    /// `limit`), then follows `volgende` with `na=` until a page has none. Each page must
    /// answer 200 with at most `limit` items under `field`, and a page with a cursor is full.
    /// The receipt feed is read as a client polls its end: every page that holds receipts
    /// carries the cursor after its last, and the first empty page ends the walk.
    pub fn pages(&self, token: &str, path: &str, field: &str) -> Vec<Vec<Value>> {
        let limit: Option<usize> = path
            .split(['?', '&'])
            .find_map(|part| part.strip_prefix("limit="))
            .and_then(|limit| limit.parse().ok());
        let joiner = if path.contains('?') { '&' } else { '?' };
        let mut pages = Vec::new();
        let mut next = path.to_owned();
        for _ in 0..100_000 {
            let page = ok_json(&self.get(token, &next), 200, path);
            let on_page = page[field]
                .as_array()
                .unwrap_or_else(|| panic!("{path}: no {field}: {page}"));
            if let Some(limit) = limit {
                assert!(on_page.len() <= limit, "{path}: {} > limit", on_page.len());
            }
            pages.push(on_page.clone());
            if field == "verwerkingsberichten" {
                if on_page.is_empty() {
                    return pages;
                }
                let cursor = page["volgende"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{path}: a page of receipts without volgende"));
                next = format!("{path}{joiner}na={cursor}");
                continue;
            }
            match page["volgende"].as_str() {
                Some(cursor) => {
                    assert!(!on_page.is_empty(), "{path}: a cursor on an empty page");
                    if let Some(limit) = limit {
                        assert!(
                            on_page.len() == limit,
                            "{path}: a cursor after a page not full"
                        );
                    }
                    next = format!("{path}{joiner}na={cursor}");
                }
                None => return pages,
            }
        }
        panic!("{path}: the list does not end");
    }

    /// The operator, with the beheer token.
    pub fn beheer(&self) -> Beheer {
        Beheer { api: self.clone() }
    }

    /// Registers (or re-registers) an afnemer and answers a fresh API key for it.
    pub fn afnemer(&self, oin: &str, body: Value) -> String {
        self.beheer().register(oin, body).key
    }

    /// A citizen, with a token made once.
    pub fn burger(&self, bsn: &str) -> Burger {
        Burger {
            api: self.clone(),
            bsn: bsn.to_owned(),
            token: burger_token(bsn),
        }
    }

    /// Opens a Berichtenbox for the citizen, with `{bsn}@voorbeeld.nl` as e-mail address.
    pub fn open_box(&self, bsn: &str) {
        self.burger(bsn).open_box(&format!("{bsn}@voorbeeld.nl"));
    }

    /// POSTs a batch as JSON with the afnemer's key.
    pub fn deliver(&self, key: &str, batch: &Value) -> reqwest::blocking::Response {
        self.client
            .post(self.url("/v1/batches"))
            .bearer_auth(key)
            .json(batch)
            .send()
            .expect("post batch")
    }

    /// POSTs a batch as JSON with the afnemer's key and reads the reply whole.
    pub fn post_batch(&self, key: &str, batch: &Value) -> Reply {
        send(
            self.client
                .post(self.url("/v1/batches"))
                .bearer_auth(key)
                .json(batch),
        )
    }

    /// Polls `GET /v1/batches/{batch_id}` until its status is `verwerkt` and answers the whole
    /// reply (with its `verwerkingsbericht`); panics after `deadline`. Processing is
    /// asynchronous, so this waits for a state, never for a time.
    pub fn wait_processed(&self, key: &str, batch_id: &str, deadline: Duration) -> Value {
        wait_for(&format!("batch {batch_id} processed"), deadline, || {
            let body = ok_json(
                &self.get(key, &format!("/v1/batches/{batch_id}")),
                200,
                "get batch",
            );
            (body["status"] == "verwerkt").then_some(body)
        })
    }

    /// Every receipt in an afnemer's feed, following `volgende`.
    pub fn receipts_all(&self, key: &str) -> Vec<Value> {
        self.all_pages(
            key,
            "/v1/verwerkingsberichten?limit=500",
            "verwerkingsberichten",
        )
    }

    /// Registers berichttype `code` (active or not) for the afnemer whose key this is.
    pub fn berichttype(&self, key: &str, code: &str, actief: bool) {
        let reply = send(
            self.client
                .put(self.url(&format!("/v1/berichttypen/{code}")))
                .bearer_auth(key)
                .json(&json!({ "omschrijving": format!("Berichttype {code}"), "actief": actief })),
        );
        assert!(
            matches!(reply.status, 200 | 201),
            "put berichttype {code}: {} {}",
            reply.status,
            reply.text()
        );
    }
}

/// The operator: `/v1/beheer` with the beheer token.
#[derive(Debug, Clone)]
pub struct Beheer {
    api: Api,
}

impl Beheer {
    /// Registers (or re-registers) an afnemer and issues it a key.
    pub fn register(&self, oin: &str, body: Value) -> Afnemer {
        let reply = send(
            self.api
                .client
                .put(self.api.url(&format!("/v1/beheer/afnemers/{oin}")))
                .bearer_auth(BEHEER_TOKEN)
                .json(&body),
        );
        assert!(
            matches!(reply.status, 200 | 201),
            "put afnemer: {} {}",
            reply.status,
            reply.text()
        );
        let key = self.issue_key(oin);
        Afnemer {
            api: self.api.clone(),
            oin: oin.to_owned(),
            key,
        }
    }

    /// Issues the afnemer a fresh API key.
    pub fn issue_key(&self, oin: &str) -> String {
        self.issue_key_with_id(oin).1
    }

    /// Issues the afnemer a fresh API key: its id and the key (`201 { id, sleutel }`).
    pub fn issue_key_with_id(&self, oin: &str) -> (String, String) {
        let reply = send(
            self.api
                .client
                .post(
                    self.api
                        .url(&format!("/v1/beheer/afnemers/{oin}/api-sleutels")),
                )
                .bearer_auth(BEHEER_TOKEN),
        );
        let body = ok_json(&reply, 201, "post key");
        let field = |name: &str| {
            body[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name}: {body}"))
                .to_owned()
        };
        (field("id"), field("sleutel"))
    }

    /// `GET .../api-sleutels`: the afnemer's keys as listed (the reply, whatever its status).
    pub fn list_keys(&self, oin: &str) -> Reply {
        self.api.get(
            BEHEER_TOKEN,
            &format!("/v1/beheer/afnemers/{oin}/api-sleutels"),
        )
    }

    /// `DELETE .../api-sleutels/{id}`: revokes a key (the reply, whatever its status).
    pub fn revoke_key(&self, oin: &str, id: &str) -> Reply {
        send(
            self.api
                .client
                .delete(
                    self.api
                        .url(&format!("/v1/beheer/afnemers/{oin}/api-sleutels/{id}")),
                )
                .bearer_auth(BEHEER_TOKEN),
        )
    }

    /// An afnemer registered with `body`, its key issued and berichttype `AANSLAG` active:
    /// what most tests need before they deliver.
    pub fn afnemer_with_aanslag(&self, oin: &str, body: Value) -> Afnemer {
        let afnemer = self.register(oin, body);
        afnemer.berichttype("AANSLAG", true);
        afnemer
    }
}

/// An afnemer with its API key.
#[derive(Debug, Clone)]
pub struct Afnemer {
    pub api: Api,
    pub oin: String,
    pub key: String,
}

impl Afnemer {
    /// POSTs a batch and reads the reply whole.
    pub fn deliver(&self, batch: &Value) -> Reply {
        self.api.post_batch(&self.key, batch)
    }

    /// `GET /v1/batches/{batch_id}`.
    pub fn batch(&self, batch_id: &str) -> Reply {
        self.api.get(&self.key, &format!("/v1/batches/{batch_id}"))
    }

    /// A GET with this afnemer's key.
    pub fn get(&self, path: &str) -> Reply {
        self.api.get(&self.key, path)
    }

    /// Every receipt in the feed, following `volgende`.
    pub fn receipts_all(&self) -> Vec<Value> {
        self.api.receipts_all(&self.key)
    }

    /// Waits until the batch is processed; answers `GET /v1/batches/{id}`'s body.
    pub fn wait_processed(&self, batch_id: &str, deadline: Duration) -> Value {
        self.api.wait_processed(&self.key, batch_id, deadline)
    }

    /// Registers berichttype `code`, active or not.
    pub fn berichttype(&self, code: &str, actief: bool) {
        self.api.berichttype(&self.key, code, actief);
    }
}

/// A citizen with his bearer token (made once).
#[derive(Debug, Clone)]
pub struct Burger {
    pub api: Api,
    pub bsn: String,
    pub token: String,
}

impl Burger {
    /// Opens his box with this e-mail address.
    pub fn open_box(&self, email: &str) -> Value {
        let reply = send(
            self.api
                .client
                .post(self.api.url("/v1/account"))
                .bearer_auth(&self.token)
                .json(&json!({ "email": email })),
        );
        ok_json(&reply, 201, "open box")
    }

    /// A GET with his token.
    pub fn get(&self, path: &str) -> Reply {
        self.api.get(&self.token, path)
    }

    /// Every bericht in his box (visible now), following `volgende`.
    pub fn box_all(&self) -> Vec<Value> {
        self.box_pages(500).concat()
    }

    /// His box in pages of `limit`, following `volgende`.
    pub fn box_pages(&self, limit: usize) -> Vec<Vec<Value>> {
        self.api.pages(
            &self.token,
            &format!("/v1/account/berichten?limit={limit}"),
            "berichten",
        )
    }
}
