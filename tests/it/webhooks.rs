//! Receipts pushed to afnemers' webhooks, end to end through the real binary: each afnemer's
//! `webhookUrl` points at an HTTP receiver that this file starts on 127.0.0.1 (a small
//! `std::net::TcpListener` server, a thread per connection, answering 200 at once).
//!
//! Covers: a receiver that is down (the port refuses) while batches are processed and across a
//! restart of the engine gets every receipt once it comes up, each exactly once (counted by
//! `Idempotency-Key`, the batchId), oldest first, equal in content to the batch's
//! `verwerkingsbericht`; one afnemer's dead or hanging webhook does not delay another's; and a
//! push that hangs does not hold up the engine's shutdown.
//! The 6-day limit is `actors/tests/webhook_http.rs`'s, on an injected clock.
//!
//! The engine's backoff starts at about a second and doubles; receivers stay down only a few
//! seconds, so waits are short. Wall time is used for polling deadlines and for a short quiet
//! spell before asserting that nothing more arrived, which can miss a fault on a slow machine
//! but never report one that is not there. It talks to no address but 127.0.0.1.


use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::{BEHEER_TOKEN, Engine, Options, batch, oin};
use serde_json::{Value, json};

/// A polling deadline: how long to wait for something that must happen.
const DEADLINE: Duration = Duration::from_secs(40);

/// The engine's beat is 100 ms by default; this is many beats.
const QUIET: Duration = Duration::from_millis(1500);

// ---------------------------------------------------------------------------------------------
// The receivers
// ---------------------------------------------------------------------------------------------

/// One POST as a receiver saw it.
#[derive(Debug, Clone)]
struct Push {
    method: String,
    path: String,
    idempotency_key: Option<String>,
    content_type: Option<String>,
    user_agent: Option<String>,
    body: Value,
}

/// An HTTP receiver that records every request and answers `200` with `Connection: close`.
struct Receiver {
    port: u16,
    pushes: Arc<Mutex<Vec<Push>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Listens on 127.0.0.1:`port` (0: any free port).
    fn start(port: u16) -> Self {
        let listener =
            TcpListener::bind(("127.0.0.1", port)).expect("bind the webhook receiver's port");
        let port = listener.local_addr().expect("local addr").port();
        let pushes: Arc<Mutex<Vec<Push>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (pushes, stop) = (pushes.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let pushes = pushes.clone();
                    std::thread::spawn(move || serve(stream, &pushes));
                }
            })
        };
        Self {
            port,
            pushes,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        url(self.port)
    }

    fn pushes(&self) -> Vec<Push> {
        self.pushes.lock().expect("pushes lock").clone()
    }

    /// The Idempotency-Keys received, in order, duplicates included.
    fn keys(&self) -> Vec<String> {
        self.pushes()
            .iter()
            .map(|push| push.idempotency_key.clone().unwrap_or_default())
            .collect()
    }

    /// Waits until every one of `keys` has arrived; answers all pushes so far.
    fn wait_for(&self, keys: &[String], context: &str) -> Vec<Push> {
        let until = Instant::now() + DEADLINE;
        loop {
            let received = self.keys();
            if keys.iter().all(|key| received.contains(key)) {
                return self.pushes();
            }
            assert!(
                Instant::now() < until,
                "{context}: within {DEADLINE:?} the receiver got {received:?}, expected {keys:?}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/ontvangstbewijzen")
}

/// Reads one request (Content-Length bodies only, as the engine sends), records it, answers.
fn serve(stream: TcpStream, pushes: &Mutex<Vec<Push>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    assert!(
        !headers.contains_key("transfer-encoding"),
        "the receiver reads Content-Length bodies only: {headers:?}"
    );
    let length: usize = headers
        .get("content-length")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(format!("not json: {}", String::from_utf8_lossy(&body))));
    pushes.lock().expect("pushes lock").push(Push {
        method,
        path,
        idempotency_key: headers.get("idempotency-key").cloned(),
        content_type: headers.get("content-type").cloned(),
        user_agent: headers.get("user-agent").cloned(),
        body,
    });
    let mut stream = reader.into_inner();
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let _ = stream.flush();
}

/// A webhook that accepts connections and never answers; counts the connections it holds.
struct Hanging {
    port: u16,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl Hanging {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the hanging webhook");
        let port = listener.local_addr().expect("local addr").port();
        let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let kept = held.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                kept.lock().expect("held lock").push(stream);
            }
        });
        Self { port, held }
    }

    fn connections(&self) -> usize {
        self.held.lock().expect("held lock").len()
    }
}

/// A port on 127.0.0.1 that refuses connections (free a moment ago).
fn refusing_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

// ---------------------------------------------------------------------------------------------
// The engine
// ---------------------------------------------------------------------------------------------

fn options() -> Options {
    Options {
        sections: "[store]\nshards = 4\n\n[webhooks]\nconnect_timeout_seconds = 5\n\
                   request_timeout_seconds = 120\n"
            .to_owned(),
        ..Options::default()
    }
}

fn start(data: &Path) -> Engine {
    Engine::start_with(data, &options())
}

fn register(engine: &Engine, n: u32, naam: &str, webhook_url: &str) -> String {
    let key = engine.afnemer(&oin(n), json!({ "naam": naam, "webhookUrl": webhook_url }));
    let reply = engine
        .client
        .put(engine.url("/v1/berichttypen/AANSLAG"))
        .bearer_auth(&key)
        .json(&json!({ "omschrijving": "Aanslag", "actief": true }))
        .send()
        .expect("put berichttype");
    assert!(
        reply.status().is_success(),
        "put berichttype: {}",
        reply.status()
    );
    key
}

/// Delivers batch `batch_no` (of `n` berichten) and answers its batchId.
fn deliver(engine: &Engine, key: &str, batch_no: u32, n: u32) -> String {
    let body = batch(batch_no, n);
    let reply = engine.deliver(key, &body);
    assert_eq!(reply.status(), 202, "deliver batch {batch_no}");
    body["batchId"].as_str().expect("batchId").to_owned()
}

/// The batch's `verwerkingsbericht` once it is processed.
fn receipt(engine: &Engine, key: &str, batch_id: &str) -> Value {
    let reply = engine.wait_processed(key, batch_id, DEADLINE);
    let receipt = reply["verwerkingsbericht"].clone();
    assert!(
        receipt.is_object(),
        "a processed batch has a receipt: {reply}"
    );
    receipt
}

/// The batchIds of the afnemer's receipt feed, in the order they became ready.
fn feed(engine: &Engine, key: &str) -> Vec<String> {
    let reply = engine
        .client
        .get(engine.url("/v1/verwerkingsberichten?limit=1000"))
        .bearer_auth(key)
        .send()
        .expect("get feed");
    assert_eq!(reply.status(), 200, "get feed");
    let page: Value = reply.json().expect("feed json");
    page["verwerkingsberichten"]
        .as_array()
        .expect("verwerkingsberichten")
        .iter()
        .map(|receipt| receipt["batchId"].as_str().expect("batchId").to_owned())
        .collect()
}

/// The engine's count of failed pushes to the afnemer, from `/metrics` (0 when none yet).
fn failed_pushes(engine: &Engine, n: u32) -> u64 {
    let text = engine
        .client
        .get(engine.url("/metrics"))
        .bearer_auth(BEHEER_TOKEN)
        .send()
        .expect("get metrics")
        .text()
        .expect("metrics text");
    let prefix = format!(
        "berichtenbox_webhook_mislukt_total{{afnemer=\"{}\"}} ",
        oin(n)
    );
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |value| {
            value.trim().parse::<f64>().expect("a count") as u64
        })
}

fn wait_for_failed_push(engine: &Engine, n: u32, context: &str) {
    let until = Instant::now() + DEADLINE;
    while failed_pushes(engine, n) == 0 {
        assert!(
            Instant::now() < until,
            "{context}: no failed push to afnemer {n} within {DEADLINE:?} (is the metric \
             berichtenbox_webhook_mislukt_total still named so?)"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Each push is a POST to the configured path, with the receipt's headers, and its body is
/// the `verwerkingsbericht` of the batch its key names.
fn check_pushes(pushes: &[Push], receipts: &BTreeMap<String, Value>, context: &str) {
    for push in pushes {
        let key = push.idempotency_key.as_deref().expect("an Idempotency-Key");
        assert_eq!(push.method, "POST", "{context}");
        assert_eq!(push.path, "/ontvangstbewijzen", "{context}");
        assert_eq!(
            push.content_type.as_deref(),
            Some("application/json"),
            "{context}"
        );
        assert!(
            push.user_agent
                .as_deref()
                .is_some_and(|agent| agent.starts_with("berichtenbox/")),
            "{context}: {:?}",
            push.user_agent
        );
        let expected = receipts
            .get(key)
            .unwrap_or_else(|| panic!("{context}: a push for an unknown batch {key}"));
        assert_eq!(
            &push.body, expected,
            "{context}: the push of {key} is its verwerkingsbericht"
        );
    }
}

fn counts(keys: &[String]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for key in keys {
        *counts.entry(key.clone()).or_insert(0) += 1;
    }
    counts
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

#[test]
fn receipts_wait_for_a_webhook_that_is_down_across_a_restart_and_arrive_once_each() {
    let data = tempfile::tempdir().expect("temp dir");
    let dir = data.path().join("engine");
    let port_a = refusing_port();
    let receiver_b = Receiver::start(0);

    let engine = start(&dir);
    let key_a = register(&engine, 1, "Gemeente Utrecht", &url(port_a));
    let key_b = register(&engine, 2, "Belastingdienst", &receiver_b.url());

    let mut ids_a = vec![
        deliver(&engine, &key_a, 101, 3),
        deliver(&engine, &key_a, 102, 1),
        deliver(&engine, &key_a, 103, 2),
    ];
    let mut ids_b = vec![
        deliver(&engine, &key_b, 201, 2),
        deliver(&engine, &key_b, 202, 1),
    ];
    let mut receipts = BTreeMap::new();
    for id in &ids_a {
        receipts.insert(id.clone(), receipt(&engine, &key_a, id));
    }
    for id in &ids_b {
        receipts.insert(id.clone(), receipt(&engine, &key_b, id));
    }

    // B's receiver gets its receipts while A's webhook refuses.
    receiver_b.wait_for(&ids_b, "B while A is down");
    wait_for_failed_push(&engine, 1, "A is down");

    // A restart while A is still down: the waiting receipts are in the store.
    let status = engine.terminate();
    assert!(status.success(), "clean shutdown: {status:?}");
    let engine = start(&dir);
    ids_a.push(deliver(&engine, &key_a, 104, 2));
    ids_b.push(deliver(&engine, &key_b, 203, 1));
    for id in &ids_a {
        receipts.insert(id.clone(), receipt(&engine, &key_a, id));
    }
    for id in &ids_b {
        receipts.insert(id.clone(), receipt(&engine, &key_b, id));
    }
    receiver_b.wait_for(&ids_b, "B after the restart");
    wait_for_failed_push(&engine, 1, "A still down after the restart");

    // A comes up: everything arrives, oldest first, once.
    let receiver_a = Receiver::start(port_a);
    receiver_a.wait_for(&ids_a, "A once it is up");
    std::thread::sleep(QUIET);

    let pushes_a = receiver_a.pushes();
    let pushes_b = receiver_b.pushes();
    check_pushes(&pushes_a, &receipts, "A");
    check_pushes(&pushes_b, &receipts, "B");
    let once = |ids: &[String]| -> BTreeMap<String, usize> {
        ids.iter().map(|id| (id.clone(), 1)).collect()
    };
    assert_eq!(
        counts(&receiver_a.keys()),
        once(&ids_a),
        "each of A's receipts exactly once"
    );
    assert_eq!(
        counts(&receiver_b.keys()),
        once(&ids_b),
        "each of B's receipts exactly once, none again after the restart"
    );
    assert_eq!(
        receiver_a.keys(),
        feed(&engine, &key_a),
        "A's receipts arrive in the order they became ready"
    );
    assert_eq!(receiver_b.keys(), feed(&engine, &key_b));
}

#[test]
fn a_hanging_webhook_does_not_delay_another_afnemers_receipts() {
    let data = tempfile::tempdir().expect("temp dir");
    let hanging = Hanging::start();
    let receiver = Receiver::start(0);
    let engine = start(&data.path().join("engine"));
    let key_c = register(&engine, 3, "Gemeente Hangend", &url(hanging.port));
    let key_b = register(&engine, 4, "Sociale Verzekeringsbank", &receiver.url());

    let id_c = deliver(&engine, &key_c, 301, 1);
    deliver(&engine, &key_c, 302, 1);
    receipt(&engine, &key_c, &id_c);
    // C's push is under way and gets no answer (the request timeout is 120 s).
    let until = Instant::now() + DEADLINE;
    while hanging.connections() == 0 {
        assert!(
            Instant::now() < until,
            "the engine did not push C's receipt within {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }

    let ids_b = vec![
        deliver(&engine, &key_b, 401, 2),
        deliver(&engine, &key_b, 402, 1),
    ];
    let mut receipts = BTreeMap::new();
    for id in &ids_b {
        receipts.insert(id.clone(), receipt(&engine, &key_b, id));
    }
    let pushes = receiver.wait_for(&ids_b, "B while C's webhook hangs");
    check_pushes(&pushes, &receipts, "B");
    assert_eq!(
        receiver.keys(),
        feed(&engine, &key_b),
        "B's receipts once each, in the order they became ready"
    );
    assert_eq!(
        hanging.connections(),
        1,
        "C's one push is still hanging: one delivery at a time per afnemer"
    );
    // A push in flight does not hold up the shutdown.
    let status = engine.terminate();
    assert!(
        status.success(),
        "clean shutdown with a push hanging: {status:?}"
    );
}
