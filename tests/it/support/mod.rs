//! The integration tests' sandbox: the engine in this process on 127.0.0.1:0 with a
//! `ManualClock` and a temporary data directory ([`Engine`], built by [`EngineBuilder`] from
//! the one test configuration, [`test_config`]); typed clients over HTTP ([`clients`]); the
//! one webhook receiver ([`webhook`]); a test PKI for TLS and client certificates ([`pki`]); the real binary as a child process for the tests
//! whose subject is the process ([`Process`]); a real browser, headless Chromium over
//! WebDriver with axe-core's accessibility checks and screenshots ([`browser`]); the waiting
//! helper ([`wait_until`]); and the test data (OINs, BSNs, GUIDs, batches, citizens' tokens).
//!
//! Nothing here sleeps to wait for an effect: [`wait_until`] polls a condition until a
//! deadline.
#![allow(dead_code)]

pub mod browser;
pub mod clients;
pub mod pki;
pub mod sandbox;
pub mod webhook;

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

pub use clients::{Api, Reply, assert_problem, invalid_names, ok_json, send};
pub use sandbox::{Engine, EngineBuilder, Process};

pub const BEHEER_TOKEN: &str = "test-beheer-token-of-at-least-32-bytes";

/// The HS256 secret of citizens' tokens that every engine started here is given; at least the
/// 32 bytes the engine demands.
pub const BURGER_JWT_SECRET: &str = "test-burger-jwt-secret-van-minstens-32-bytes";

/// How often [`wait_until`] looks again.
const POLL: Duration = Duration::from_millis(20);

/// Polls `done` until it answers true; panics with `what` once `deadline` has passed. The one
/// way a test waits for an effect: on a condition, never for a time.
#[track_caller]
pub fn wait_until(what: &str, deadline: Duration, done: impl FnMut() -> bool) {
    assert!(
        poll_until(deadline, done),
        "not within {deadline:?}: {what}"
    );
}

/// Polls `done` until it answers true (then true) or `deadline` has passed (then false), for a
/// test that reports a missed deadline itself.
pub fn poll_until(deadline: Duration, mut done: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + deadline;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// Polls `found` until it answers something; panics with `what` once `deadline` has passed.
#[track_caller]
pub fn wait_for<T>(what: &str, deadline: Duration, mut found: impl FnMut() -> Option<T>) -> T {
    let mut value = None;
    wait_until(what, deadline, || {
        value = found();
        value.is_some()
    });
    value.expect("found")
}

/// A citizen's bearer token as the MijnOverheid portal would issue it: HS256 with
/// [`BURGER_JWT_SECRET`], `sub` the BSN, valid for ten minutes (JWTs are checked on the
/// system clock).
/// A `POST /v1/batches` with the afnemer's `key` that declares a body of `declared` bytes,
/// sends only its first byte and then stalls: the raw socket, so the test decides when (and
/// whether) to read the answer.
pub fn stalled_upload(address: &str, key: &str, declared: usize) -> std::net::TcpStream {
    use std::io::Write as _;
    let mut upload = std::net::TcpStream::connect(address).expect("connect");
    write!(
        upload,
        "POST /v1/batches HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n{{"
    )
    .expect("write head");
    upload.flush().expect("flush");
    upload
}

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

/// The verwerkingscodes of a processed batch, in batch order, from its
/// `GET /v1/batches/{id}` body.
pub fn codes(status: &Value) -> Vec<String> {
    status["verwerkingsbericht"]["berichten"]
        .as_array()
        .unwrap_or_else(|| panic!("no receipt: {status}"))
        .iter()
        .map(|line| {
            line["verwerkingsCode"]
                .as_str()
                .expect("verwerkingsCode")
                .to_owned()
        })
        .collect()
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
        // A minute ago: recent enough for every date rule, whenever the tests run (engines
        // here start their clock at the system's time).
        "aanmaakDatum": (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(1))
            .round(jiff::Unit::Second)
            .expect("round")
            .to_string(),
        "berichten": berichten,
    })
}
