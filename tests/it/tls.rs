//! Issue 10, point 1: TLS on the API listener with client certificates (API.md "Afnemers").
//!
//! A test CA made here with rcgen stands in for PKIoverheid; the afnemer's OIN is in its
//! certificate's subject serialNumber. Every request goes over real TLS on 127.0.0.1.

use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::pki::{TestCa, https_client};
use crate::support::{
    Api, Engine, EngineBuilder, Reply, assert_problem, batch, guid, oin, send, wait_until,
};

/// `POST /v1/batches` with whatever the client presents, and no API key.
fn deliver(api: &Api, batch: &Value) -> Reply {
    send(api.client.post(api.url("/v1/batches")).json(batch))
}

/// A batch of one bericht numbered `n`.
fn small_batch(n: u32) -> Value {
    let mut batch = batch(7700 + n, 1);
    batch["batchId"] = json!(guid(7700 + n, 0xffff));
    batch
}

/// An engine on TLS whose clients must come from `client_ca` (written beside its data).
fn engine_with_client_ca(dir: &TempDir, ca: &TestCa, api_keys: bool) -> Engine {
    let client_ca = ca.write(&dir.path().join("clients-ca.pem"));
    EngineBuilder::new(&dir.path().join("data"))
        .tls(ca, Some(&client_ca))
        .configure(|config| config.tls.api_keys = api_keys)
        .start()
}

/// The subject CN of the server certificate the connection behind `response` was given.
fn server_name(response: &reqwest::blocking::Response) -> String {
    let info = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .expect("the client records TLS info");
    let der = info.peer_certificate().expect("a server certificate");
    let (_, certificate) = x509_parser::parse_x509_certificate(der).expect("parses");
    certificate
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .expect("a CN")
        .to_owned()
}

#[test]
fn a_certificate_with_a_registered_oin_signs_in_without_a_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("Test PKIoverheid Private Services CA");
    let engine = engine_with_client_ca(&dir, &ca, true);
    assert!(engine.base.starts_with("https://"), "{}", engine.base);
    let registered = oin(7701);
    engine
        .beheer()
        .afnemer_with_aanslag(&registered, json!({ "naam": "Gemeente A" }));

    // Two certificates with the afnemer's OIN (a renewal overlapping the old one): both sign in.
    for n in 0..2 {
        let api = engine.with_client(ca.https_client(Some(&ca.client(Some(&registered)))));
        let batch = small_batch(n);
        let reply = deliver(&api, &batch);
        assert_eq!(reply.status, 202, "certificate {n}: {}", reply.text());
        let id = batch["batchId"].as_str().expect("batchId");
        let seen = send(api.client.get(api.url(&format!("/v1/batches/{id}"))));
        assert_eq!(seen.status, 200, "{}", seen.text());
    }

    // A certificate whose OIN is no afnemer, and one without an OIN: 401, problem+json.
    let unknown = engine.with_client(ca.https_client(Some(&ca.client(Some(&oin(7799))))));
    let reply = deliver(&unknown, &small_batch(3));
    assert_problem(&reply, 401, "a certificate of an unknown OIN");
    let no_oin = engine.with_client(ca.https_client(Some(&ca.client(None))));
    assert_problem(
        &deliver(&no_oin, &small_batch(4)),
        401,
        "a certificate without OIN",
    );

    // Without a certificate and without a key: 401; with a key: signed in as before.
    assert_problem(&deliver(&engine, &small_batch(5)), 401, "no credentials");
    let keyed = engine
        .beheer()
        .register(&registered, json!({ "naam": "Gemeente A" }));
    assert_eq!(
        keyed.deliver(&small_batch(6)).status,
        202,
        "an API key still works"
    );

    // An inactive afnemer's certificate: 403.
    engine.beheer().register(
        &registered,
        json!({ "naam": "Gemeente A", "actief": false }),
    );
    let api = engine.with_client(ca.https_client(Some(&ca.client(Some(&registered)))));
    assert_problem(&deliver(&api, &small_batch(7)), 403, "an inactive afnemer");
}

#[test]
fn a_certificate_of_another_ca_is_refused_at_the_handshake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("Test PKIoverheid Private Services CA");
    let engine = engine_with_client_ca(&dir, &ca, true);
    let registered = oin(7702);
    engine
        .beheer()
        .afnemer_with_aanslag(&registered, json!({ "naam": "Gemeente B" }));

    let stranger = TestCa::new("Some Other CA");
    // The client trusts the engine's CA, but presents a certificate of another CA with the
    // afnemer's very OIN: no HTTP answer at all, the handshake ends.
    let forged = engine.with_client(https_client(
        &ca.pem,
        Some(&stranger.client(Some(&registered))),
    ));
    let attempt = forged
        .client
        .post(forged.url("/v1/batches"))
        .json(&small_batch(10))
        .send();
    assert!(
        attempt.is_err(),
        "a certificate of another CA got an HTTP answer: {:?}",
        attempt.map(|response| response.status())
    );

    // A client that does not trust the engine's certificate does not get through either.
    let untrusting = engine.with_client(https_client(&stranger.pem, None));
    assert!(
        untrusting
            .client
            .get(untrusting.url("/health/live"))
            .send()
            .is_err()
    );

    // The engine serves the right certificate on as before.
    let api = engine.with_client(ca.https_client(Some(&ca.client(Some(&registered)))));
    assert_eq!(deliver(&api, &small_batch(11)).status, 202);
}

#[test]
fn with_api_keys_off_only_a_certificate_signs_an_afnemer_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("Test PKIoverheid Private Services CA");
    let engine = engine_with_client_ca(&dir, &ca, false);
    let registered = oin(7703);
    // The operator's token and the beheer endpoints work as ever (no certificate); a key can
    // be issued, but it signs nothing in.
    let keyed = engine
        .beheer()
        .register(&registered, json!({ "naam": "Gemeente C" }));
    let api = engine.with_client(ca.https_client(Some(&ca.client(Some(&registered)))));
    let reply = send(
        api.client
            .put(api.url("/v1/berichttypen/AANSLAG"))
            .json(&json!({ "omschrijving": "Aanslag", "actief": true })),
    );
    assert!(matches!(reply.status, 200 | 201), "{}", reply.text());
    let reply = keyed.deliver(&small_batch(20));
    let problem = assert_problem(&reply, 401, "an API key with tls.api_keys = false");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("certificaat"),
        "{problem}"
    );
    assert_eq!(deliver(&api, &small_batch(21)).status, 202);
    // Without any credentials the answer points at the certificate, not at a bearer key.
    let problem = assert_problem(&deliver(&engine, &small_batch(22)), 401, "no credentials");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("certificaat"),
        "{problem}"
    );
}

#[test]
fn the_engine_refuses_to_start_on_tls_files_that_do_not_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("Test CA");
    let other = TestCa::new("Other CA");
    // A key that is not the certificate's.
    let (certificate, _) = ca.server("a").write(dir.path(), "a");
    let (_, key) = other.server("b").write(dir.path(), "b");
    let error = EngineBuilder::new(&dir.path().join("data"))
        .configure(|config| {
            config.tls.cert_file = certificate.clone();
            config.tls.key_file = key.clone();
        })
        .start_refused();
    assert!(format!("{error:#}").contains("does not fit"), "{error:#}");
    // A missing CA bundle.
    let (certificate, key) = ca.server("c").write(dir.path(), "c");
    let error = EngineBuilder::new(&dir.path().join("data"))
        .configure(|config| {
            config.tls.cert_file = certificate.clone();
            config.tls.key_file = key.clone();
            config.tls.client_ca_file = dir.path().join("missing.pem");
        })
        .start_refused();
    assert!(format!("{error:#}").contains("missing.pem"), "{error:#}");
}

#[test]
fn sighup_reloads_a_renewed_certificate_while_a_connection_stays_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("Test PKIoverheid Private Services CA");
    let client_ca = ca.write(&dir.path().join("clients-ca.pem"));
    let engine = EngineBuilder::new(&dir.path().join("data"))
        .tls(&ca, Some(&client_ca))
        // The open connection must outlive the reload's polling.
        .configure(|config| config.server.keep_alive_seconds = 120)
        .spawn();
    let registered = oin(7704);
    engine
        .beheer()
        .afnemer_with_aanslag(&registered, json!({ "naam": "Gemeente D" }));
    let get_live = |client: &Client| {
        client
            .get(engine.url("/health/live"))
            .send()
            .expect("an answer")
    };

    // A connection opened before the renewal.
    let open = ca.https_client(Some(&ca.client(Some(&registered))));
    let before = get_live(&open);
    assert_eq!(server_name(&before), "berichtenbox-test");

    // A client of a new CA (the CA renewed too) is refused before the reload.
    let renewed_ca = TestCa::new("Test PKIoverheid Private Services CA G2");
    let new_client = || https_client(&ca.pem, Some(&renewed_ca.client(Some(&registered))));
    assert!(new_client().get(engine.url("/health/live")).send().is_err());

    // Renew the server certificate, add the new CA to the bundle, and SIGHUP.
    let renewed = ca.server("berichtenbox-renewed");
    renewed.write(dir.path(), "server");
    std::fs::write(&client_ca, format!("{}{}", ca.pem, renewed_ca.pem)).expect("write");
    engine.signal("HUP");
    let fresh = || ca.https_client(None);
    wait_until(
        "new connections get the renewed certificate",
        Duration::from_secs(30),
        || server_name(&get_live(&fresh())) == "berichtenbox-renewed",
    );

    // The connection opened before is still open, with the certificate it began with.
    let after = get_live(&open);
    assert_eq!(after.status(), 200);
    assert_eq!(
        server_name(&after),
        "berichtenbox-test",
        "the old connection was replaced"
    );
    // The new CA's clients now sign in; the old CA's still do.
    let api = engine.with_client(new_client());
    assert_eq!(deliver(&api, &small_batch(30)).status, 202);
    let api = engine.with_client(open);
    assert_eq!(deliver(&api, &small_batch(31)).status, 202);
}

#[test]
fn a_reload_of_files_that_do_not_load_keeps_the_ones_in_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("Test CA");
    let engine = EngineBuilder::new(&dir.path().join("data"))
        .tls(&ca, None)
        .start();
    let name = || {
        server_name(
            &ca.https_client(None)
                .get(engine.url("/health/live"))
                .send()
                .expect("an answer"),
        )
    };
    assert_eq!(name(), "berichtenbox-test");
    // A renewed certificate whose key file is damaged: the reload fails, nothing changes.
    let renewed = ca.server("berichtenbox-renewed");
    let (_, key) = renewed.write(dir.path(), "server");
    std::fs::write(&key, "not a key").expect("write");
    let error = engine
        .reload_tls()
        .expect_err("a damaged key must not load");
    assert!(format!("{error:#}").contains("server.key"), "{error:#}");
    assert_eq!(name(), "berichtenbox-test");
    // Repaired, it loads.
    renewed.write(dir.path(), "server");
    engine.reload_tls().expect("reload");
    assert_eq!(name(), "berichtenbox-renewed");
}

#[test]
fn a_certificate_is_not_slowed_where_failed_keys_are() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("Test PKIoverheid Private Services CA");
    let client_ca = ca.write(&dir.path().join("clients-ca.pem"));
    let engine = EngineBuilder::new(&dir.path().join("data"))
        .tls(&ca, Some(&client_ca))
        .configure(|config| {
            config.auth.failures_burst = 2;
            config.auth.failures_per_minute = 1;
        })
        .start();
    let registered = oin(7705);
    let keyed = engine
        .beheer()
        .afnemer_with_aanslag(&registered, json!({ "naam": "Gemeente E" }));
    // This address guesses keys until it is over its failures: then even a valid key is 429.
    for _ in 0..2 {
        assert_problem(
            &engine.post_batch("geraden-sleutel", &small_batch(40)),
            401,
            "a guess",
        );
    }
    assert_problem(
        &keyed.deliver(&small_batch(41)),
        429,
        "a key from an address over its failures",
    );
    // A certificate from the same address is no guess: it is answered as ever.
    let api = engine.with_client(ca.https_client(Some(&ca.client(Some(&registered)))));
    assert_eq!(deliver(&api, &small_batch(42)).status, 202);
}

#[test]
fn a_client_that_never_finishes_its_handshake_is_closed() {
    use std::io::Read as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("Test CA");
    let engine = EngineBuilder::new(&dir.path().join("data"))
        .tls(&ca, None)
        .start();
    let address = engine.base.trim_start_matches("https://").to_owned();
    // A connection that sends nothing (no ClientHello): it must not hold its place for ever.
    let mut stalled = std::net::TcpStream::connect(&address).expect("connect");
    stalled
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let began = std::time::Instant::now();
    let mut buffer = [0u8; 64];
    match stalled.read(&mut buffer) {
        Ok(0) => {}
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("a connection that sent nothing was not closed: {other:?}"),
    }
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "closed only after {:?} (actix-web's TLS handshake timeout is 3 s)",
        began.elapsed()
    );
    // Meanwhile, and after, others are served.
    assert_eq!(
        ca.https_client(None)
            .get(engine.url("/health/live"))
            .send()
            .expect("an answer")
            .status(),
        200
    );
}
