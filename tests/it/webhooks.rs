//! Receipts pushed to afnemers' webhooks, end to end through an engine in the sandbox: each
//! afnemer's `webhookUrl` points at the sandbox's webhook receiver on 127.0.0.1
//! (`support::webhook`).
//!
//! Covers: a receiver that is down (the port refuses) while batches are processed and across a
//! restart of the engine gets every receipt once it comes up, each exactly once (counted by
//! `Idempotency-Key`, the batchId), oldest first, equal in content to the batch's
//! `verwerkingsbericht`; one afnemer's dead or hanging webhook does not delay another's; and a
//! push that hangs does not hold up the engine's shutdown.
//! The 6-day limit is `actors/tests/webhook_http.rs`'s, on an injected clock.
//!
//! The engine's backoff runs on its `ManualClock`: while a test waits for a retry it moves the
//! clock on. "Nothing more arrived" is shown by a last receipt per afnemer, which is pushed
//! only after every earlier one has left the outbox, never by a quiet spell. It talks to no
//! address but 127.0.0.1.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::support::webhook::{Answer, Push, Receiver, refusing_port, url};
use crate::support::{BEHEER_TOKEN, Engine, batch, oin, wait_for, wait_until};
use serde_json::{Value, json};

/// A polling deadline: how long to wait for something that must happen.
const DEADLINE: Duration = Duration::from_secs(40);

// ---------------------------------------------------------------------------------------------
// The engine
// ---------------------------------------------------------------------------------------------

/// The afnemers' OINs here are their own in the test binary: the metrics they read are
/// process-wide.
fn webhook_oin(n: u32) -> String {
    oin(9_000 + n)
}

fn start(data: &Path) -> Engine {
    Engine::builder(data)
        .configure(|c| {
            c.store.shards = 4;
            c.webhooks.connect_timeout_seconds = 5;
            c.webhooks.request_timeout_seconds = 120;
        })
        .start()
}

fn register(engine: &Engine, n: u32, naam: &str, webhook_url: &str) -> String {
    engine
        .beheer()
        .afnemer_with_aanslag(
            &webhook_oin(n),
            json!({ "naam": naam, "webhookUrl": webhook_url }),
        )
        .key
}

/// Moves the engine's clock on, so that a push's next attempt comes due (the backoff starts
/// at about a second and doubles; the give-up after 6 days is far off).
fn retries_due(engine: &Engine) -> impl FnMut() + '_ {
    || engine.advance(Duration::from_secs(5))
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
    engine
        .receipts_all(key)
        .iter()
        .map(|receipt| receipt["batchId"].as_str().expect("batchId").to_owned())
        .collect()
}

/// The engine's count of failed pushes to the afnemer, from `/metrics` (0 when none yet).
fn failed_pushes(engine: &Engine, n: u32) -> u64 {
    let text = engine
        .client
        .get(engine.ops.url("/metrics"))
        .bearer_auth(BEHEER_TOKEN)
        .send()
        .expect("get metrics")
        .text()
        .expect("metrics text");
    let prefix = format!(
        "berichtenbox_webhook_mislukt_total{{afnemer=\"{}\"}} ",
        webhook_oin(n)
    );
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |value| {
            value.trim().parse::<f64>().expect("a count") as u64
        })
}

/// Waits until the count of failed pushes to afnemer `n` has grown past `before`, moving the
/// clock so retries come due; answers the new count.
fn wait_for_failed_push(engine: &Engine, n: u32, before: u64, context: &str) -> u64 {
    wait_for(
        &format!(
            "{context}: a failed push to afnemer {n} (is the metric \
             berichtenbox_webhook_mislukt_total still named so?)"
        ),
        DEADLINE,
        || {
            engine.advance(Duration::from_secs(5));
            Some(failed_pushes(engine, n)).filter(|&count| count > before)
        },
    )
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
    let receiver_b = Receiver::start();

    let engine = start(&dir);
    let key_a = register(&engine, 1, "Gemeente Utrecht", &url(port_a));
    let key_b = register(&engine, 2, "Belastingdienst", &receiver_b.url());
    let failed_before = failed_pushes(&engine, 1);

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
    receiver_b.wait_for(&ids_b, DEADLINE, retries_due(&engine), "B while A is down");
    let failed = wait_for_failed_push(&engine, 1, failed_before, "A is down");

    // A restart while A is still down: the waiting receipts are in the store.
    let engine = engine.restart();
    ids_a.push(deliver(&engine, &key_a, 104, 2));
    ids_b.push(deliver(&engine, &key_b, 203, 1));
    for id in &ids_a {
        receipts.insert(id.clone(), receipt(&engine, &key_a, id));
    }
    for id in &ids_b {
        receipts.insert(id.clone(), receipt(&engine, &key_b, id));
    }
    receiver_b.wait_for(
        &ids_b,
        DEADLINE,
        retries_due(&engine),
        "B after the restart",
    );
    wait_for_failed_push(&engine, 1, failed, "A still down after the restart");

    // A comes up: everything arrives, oldest first, once.
    let receiver_a = Receiver::on(port_a, Answer::Status(200));
    receiver_a.wait_for(&ids_a, DEADLINE, retries_due(&engine), "A once it is up");

    // Nothing more comes: a last batch for each afnemer is pushed after all of its earlier
    // receipts (one push at a time, oldest first), and a receipt leaves the webhook outbox on
    // its 2xx; so once the last one has arrived, none of the earlier ones can come again.
    ids_a.push(deliver(&engine, &key_a, 105, 1));
    ids_b.push(deliver(&engine, &key_b, 204, 1));
    for (ids, key) in [(&ids_a, &key_a), (&ids_b, &key_b)] {
        let last = ids.last().expect("a last batch");
        receipts.insert(last.clone(), receipt(&engine, key, last));
    }
    receiver_a.wait_for(&ids_a, DEADLINE, retries_due(&engine), "A's last");
    receiver_b.wait_for(&ids_b, DEADLINE, retries_due(&engine), "B's last");

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
    let hanging = Receiver::on(0, Answer::Hang);
    let receiver = Receiver::start();
    let engine = start(&data.path().join("engine"));
    let key_c = register(&engine, 3, "Gemeente Hangend", &hanging.url());
    let key_b = register(&engine, 4, "Sociale Verzekeringsbank", &receiver.url());

    let id_c = deliver(&engine, &key_c, 301, 1);
    deliver(&engine, &key_c, 302, 1);
    receipt(&engine, &key_c, &id_c);
    // A push of one of C's receipts (whichever became ready first: the two batches may be in
    // different shards) is under way and gets no answer (the request timeout is 120 s).
    wait_until("the engine pushes a receipt of C's", DEADLINE, || {
        hanging.hits() > 0
    });

    let ids_b = vec![
        deliver(&engine, &key_b, 401, 2),
        deliver(&engine, &key_b, 402, 1),
    ];
    let mut receipts = BTreeMap::new();
    for id in &ids_b {
        receipts.insert(id.clone(), receipt(&engine, &key_b, id));
    }
    let pushes = receiver.wait_for(
        &ids_b,
        DEADLINE,
        retries_due(&engine),
        "B while C's webhook hangs",
    );
    check_pushes(&pushes, &receipts, "B");
    assert_eq!(
        receiver.keys(),
        feed(&engine, &key_b),
        "B's receipts once each, in the order they became ready"
    );
    assert_eq!(
        hanging.hits(),
        1,
        "C's one push is still hanging: one delivery at a time per afnemer"
    );
    // A push in flight does not hold up the shutdown (SIGTERM's path).
    engine
        .shutdown()
        .expect("a clean shutdown with a push hanging");
}

// ---------------------------------------------------------------------------------------------
// Only public addresses (`webhooks.allow_private_addresses = false`, the default)
// ---------------------------------------------------------------------------------------------

fn start_public_only(data: &Path) -> Engine {
    Engine::builder(data)
        .configure(|c| {
            c.store.shards = 4;
            c.webhooks.allow_private_addresses = false;
        })
        .start()
}

fn put_webhook(engine: &Engine, n: u32, webhook_url: &str) -> crate::support::Reply {
    crate::support::send(
        engine
            .client
            .put(engine.url(&format!("/v1/beheer/afnemers/{}", webhook_oin(n))))
            .bearer_auth(BEHEER_TOKEN)
            .json(&json!({ "naam": format!("Afnemer {n}"), "webhookUrl": webhook_url })),
    )
}

#[test]
fn a_webhook_url_must_be_https_to_a_public_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = start_public_only(&dir.path().join("data"));
    for (i, refused) in [
        "http://example.org/hook",
        "https://127.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:192.168.0.1]/hook",
        "https://2130706433/hook",
        "https://\u{101}\u{fd}\u{f}.example/hook",
        "https://example.org/\u{7f}",
    ]
    .into_iter()
    .enumerate()
    {
        let n = 100 + u32::try_from(i).expect("small");
        let problem =
            crate::support::assert_problem(&put_webhook(&engine, n, refused), 400, refused);
        assert_eq!(
            crate::support::invalid_names(&problem),
            ["webhookUrl"],
            "{refused:?}: {problem}"
        );
        let listed = engine.get(BEHEER_TOKEN, "/v1/beheer/afnemers").text();
        assert!(
            !listed.contains(&webhook_oin(n)),
            "{refused:?}: a refused afnemer is not stored"
        );
    }
    for (i, accepted) in [
        "https://example.org/hook",
        "https://93.184.215.14:8443/hook",
        "https://localhost:8443/hook",
    ]
    .into_iter()
    .enumerate()
    {
        let n = 120 + u32::try_from(i).expect("small");
        let reply = put_webhook(&engine, n, accepted);
        assert!(
            matches!(reply.status, 200 | 201),
            "{accepted}: {} {}",
            reply.status,
            reply.text()
        );
    }
}

/// The document's `format: uri` is RFC 3986; schemathesis found a `webhookUrl` with non-ASCII
/// and control characters stored and served back. Not even `allow_private_addresses` (on in
/// the sandbox) lifts that rule, and a refused update leaves the stored webhook as it was.
#[test]
fn a_webhook_url_must_be_an_rfc_3986_uri() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::builder(&dir.path().join("data")).start();
    let stored = "https://xn--bcher-kva.example/hook?x=%C3%A9";
    let reply = put_webhook(&engine, 140, stored);
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.json()["webhookUrl"], stored, "served back as given");
    for refused in [
        "https://\u{101}\u{fd}\u{f}.example/hook",
        "https://\u{101}\u{fd}.example/hook",
        "https://bücher.example/hook",
        "https://example.org/caf\u{e9}",
        "https://example.org/\u{85}",
        "https://example.org/a b",
        "https://example.org/%zz",
        "https://example.org/a[b]",
        "https://example.org\\hook",
        "https://xn--zz.example/",
        "https://0x7f.1/",
    ] {
        let problem =
            crate::support::assert_problem(&put_webhook(&engine, 140, refused), 400, refused);
        assert_eq!(
            crate::support::invalid_names(&problem),
            ["webhookUrl"],
            "{refused:?}: {problem}"
        );
    }
    let listed = engine.get(BEHEER_TOKEN, "/v1/beheer/afnemers").json();
    let afnemer = listed["afnemers"]
        .as_array()
        .expect("afnemers")
        .iter()
        .find(|a| a["oin"] == webhook_oin(140).as_str())
        .expect("registered");
    assert_eq!(
        afnemer["webhookUrl"], stored,
        "the refused updates changed nothing"
    );
}

#[test]
fn a_webhook_name_that_resolves_to_loopback_is_never_connected_to_and_its_receipt_kept() {
    // A listener on 127.0.0.1 that counts connections (a TLS handshake, too).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();

    let dir = tempfile::tempdir().expect("tempdir");
    let engine = start_public_only(&dir.path().join("data"));
    // `localhost` is a name: accepted at PUT, refused when the client resolves it.
    let key = register(
        &engine,
        130,
        "Gemeente Localhost",
        &format!("https://localhost:{port}/hook"),
    );
    let batch_id = deliver(&engine, &key, 9130, 1);
    receipt(&engine, &key, &batch_id);
    let first = wait_for_failed_push(&engine, 130, 0, "localhost");
    // Retried (the receipt stays in the outbox), and refused again.
    wait_for_failed_push(&engine, 130, first, "localhost, again");
    match listener.accept() {
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok((_, from)) => panic!("the engine connected to localhost from {from}"),
        Err(error) => panic!("accept: {error}"),
    }
    assert_eq!(
        feed(&engine, &key),
        [batch_id],
        "the receipt is in the feed"
    );
}
