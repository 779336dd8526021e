//! The integration tests' harness: the real `berichtenbox` binary as a child process on
//! 127.0.0.1 with a port of its own choosing, a blocking HTTP client, and helpers to register
//! afnemers and build batches.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

pub const BEHEER_TOKEN: &str = "test-beheer-token";

/// The HS256 secret of citizens' tokens that every engine started here is given (through
/// `BERICHTENBOX_BURGER_JWT_SECRET`); at least the 32 bytes the engine demands.
pub const BURGER_JWT_SECRET: &str = "test-burger-jwt-secret-van-minstens-32-bytes";

/// A running engine.
pub struct Engine {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    pub client: reqwest::blocking::Client,
}

/// Extra configuration: lines for `[server]`, and whole other sections.
#[derive(Debug, Default, Clone)]
pub struct Options {
    pub server: String,
    pub sections: String,
}

impl Engine {
    /// Starts the engine on `data_dir` with the default configuration.
    pub fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &Options::default())
    }

    pub fn start_with(data_dir: &Path, options: &Options) -> Self {
        let config_path = data_dir.with_extension("toml");
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 2\n{}\n{}\n",
            options.server, options.sections
        );
        std::fs::write(&config_path, config).expect("write config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_berichtenbox"))
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .arg("--data-dir")
            .arg(data_dir)
            .env("BERICHTENBOX_BEHEER_TOKEN", BEHEER_TOKEN)
            .env("BERICHTENBOX_BURGER_JWT_SECRET", BURGER_JWT_SECRET)
            .env("BERICHTENBOX_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start berichtenbox");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(address) = line.strip_prefix("listening on ") {
                        break address.trim().to_owned();
                    }
                }
                other => panic!(
                    "engine exited before listening: {other:?}, status {:?}",
                    child.wait()
                ),
            }
        };
        // Keep draining stdout so the engine never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        Self {
            child,
            base,
            data_dir: data_dir.to_owned(),
            client,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the engine gets no chance to flush anything.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit.
    pub fn terminate(self) -> ExitStatus {
        self.stop_with("TERM")
    }

    /// Sends the signal (`TERM`, `INT`), then waits for the exit.
    pub fn stop_with(mut self, signal: &str) -> ExitStatus {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "engine did not stop within 60 s of SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Registers (or re-registers) an afnemer and answers a fresh API key for it.
    pub fn afnemer(&self, oin: &str, body: Value) -> String {
        let response = self
            .client
            .put(self.url(&format!("/v1/beheer/afnemers/{oin}")))
            .bearer_auth(BEHEER_TOKEN)
            .json(&body)
            .send()
            .expect("put afnemer");
        assert!(
            response.status().is_success(),
            "put afnemer: {}",
            response.status()
        );
        let response = self
            .client
            .post(self.url(&format!("/v1/beheer/afnemers/{oin}/api-sleutels")))
            .bearer_auth(BEHEER_TOKEN)
            .send()
            .expect("post key");
        assert_eq!(response.status(), 201);
        response.json::<Value>().expect("json")["sleutel"]
            .as_str()
            .expect("sleutel")
            .to_owned()
    }

    /// Opens a Berichtenbox for the citizen, with `{bsn}@voorbeeld.nl` as e-mail address.
    pub fn open_box(&self, bsn: &str) {
        let reply = send(
            self.client
                .post(self.url("/v1/account"))
                .bearer_auth(burger_token(bsn))
                .json(&json!({ "email": format!("{bsn}@voorbeeld.nl") })),
        );
        ok_json(&reply, 201, "open box");
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
}

impl Engine {
    /// Polls `GET /v1/batches/{batch_id}` until its status is `verwerkt` and answers the whole
    /// reply (with its `verwerkingsbericht`); panics after `deadline`. Processing is
    /// asynchronous, so this waits for a state, never for a time.
    pub fn wait_processed(&self, key: &str, batch_id: &str, deadline: Duration) -> Value {
        let until = Instant::now() + deadline;
        loop {
            let response = self
                .client
                .get(self.url(&format!("/v1/batches/{batch_id}")))
                .bearer_auth(key)
                .send()
                .expect("get batch");
            assert_eq!(response.status(), 200, "get batch {batch_id}");
            let body: Value = response.json().expect("batch json");
            if body["status"] == "verwerkt" {
                return body;
            }
            assert!(
                Instant::now() < until,
                "batch {batch_id} not processed within {deadline:?}: {body}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

/// A citizen's bearer token as the MijnOverheid portal would issue it: HS256 with
/// [`BURGER_JWT_SECRET`], `sub` the BSN, valid for ten minutes.
pub fn burger_token(bsn: &str) -> String {
    let exp = jsonwebtoken::get_current_timestamp() + 600;
    burger_token_with(&json!({ "sub": bsn, "exp": exp }), BURGER_JWT_SECRET)
}

/// A citizen's token with any claims, signed HS256 with any secret.
pub fn burger_token_with(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign token")
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An OIN for test afnemer `n`.
pub fn oin(n: u32) -> String {
    format!("{n:020}")
}

/// A GUID made from two numbers, so tests can name batches and berichten.
pub fn guid(a: u32, b: u32) -> String {
    format!("{a:08x}-0000-4000-8000-{b:012x}")
}

/// BSNs that pass the elfproef: 9-digit numbers from `n` upward with a valid check digit.
pub fn bsn(n: u32) -> String {
    // Twenty apart: the search below moves at most 11 (12 with the sum-0 rule), so distinct
    // `n` give distinct BSNs.
    let mut candidate = 100_000_000 + u64::from(n) * 20;
    loop {
        let digits = format!("{candidate:09}");
        let sum: i64 = digits
            .bytes()
            .enumerate()
            .map(|(i, b)| i64::from(b - b'0') * if i == 8 { -1 } else { 9 - i as i64 })
            .sum();
        // The engine's elfproef also refuses a sum of 0 (as in 000000000).
        if sum != 0 && sum.rem_euclid(11) == 0 {
            return digits;
        }
        candidate += 1;
    }
}

/// A valid batch of `n` berichten; every other bericht has a small PDF attachment.
pub fn batch(batch_no: u32, n: u32) -> Value {
    let berichten: Vec<Value> = (0..n)
        .map(|i| {
            let mut bericht = json!({
                "berichtId": guid(batch_no, i),
                "berichtType": "AANSLAG",
                "ontvanger": bsn(batch_no.wrapping_mul(1000).wrapping_add(i) % 40_000_000),
                "onderwerp": format!("Bericht {i} van batch {batch_no}"),
                "tekst": format!("Tekst van bericht {i}."),
            });
            if i % 2 == 0 {
                let inhoud = base64::engine::general_purpose::STANDARD
                    .encode(format!("%PDF-1.4 batch {batch_no} bericht {i}").repeat(10));
                bericht["bijlagen"] = json!([{ "omschrijving": "Brief", "mediatype": "application/pdf", "inhoud": inhoud }]);
            }
            bericht
        })
        .collect();
    json!({
        "batchId": guid(batch_no, 0xffff_ffff),
        // A minute ago: recent enough for every date rule, whenever the tests run.
        "aanmaakDatum": (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(1))
            .round(jiff::Unit::Second)
            .expect("round")
            .to_string(),
        "berichten": berichten,
    })
}

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
