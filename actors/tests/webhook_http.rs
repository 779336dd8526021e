//! The webhook delivery against a real HTTP receiver on 127.0.0.1 that the test starts itself
//! (actix-web, one worker): `deliver` answers `Retry` while the port refuses connections, while
//! the receiver answers 503 or another non-2xx, and when an answer takes longer than the
//! request timeout; `Delivered` for 200 and 204; the receiver gets the exact body and the
//! `Idempotency-Key`, `Content-Type` and `User-Agent` headers; https is compiled in (a plain
//! HTTP receiver fails the handshake, a retry). Then a receipt is played through
//! the backoff schedule on a `ManualClock`: it arrives exactly once after the receiver comes
//! up, and one whose afnemer never comes up is given up after 6 days.
//!
//! This file owns only the test receiver; it must not wait on wall time beyond the short
//! timeouts it tests, nor reach any address but 127.0.0.1.

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_rt::net::TcpSocket;
use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use berichtenbox_actors::core::backoff::{Backoff, BackoffConfig, Jitter, Retry, RetryState};
use berichtenbox_actors::core::clock::{Clock, ManualClock};
use berichtenbox_actors::webhook::{
    Outcome, RetryReason, USER_AGENT, WebhookClient, WebhookConfig, deliver,
};
use bytes::Bytes;
use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const RECEIPT: &str = r#"{"batchId":"b-1","ontvangenOp":"2026-11-28T12:00:00Z","verwerktOp":"2026-11-28T12:00:03Z","totaalAantalOntvangenBerichten":1,"aantalSuccesvolVerwerkt":1,"aantalPerVerwerkingsCode":{},"berichten":[{"berichtId":"m-1","verwerkingsCode":"Verwerkt","stadium":"NA"}]}"#;

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Status(u16),
    /// Waits this long, then answers the status.
    Slow(Duration, u16),
    /// Answers the status with `Retry-After: {seconds}`.
    RetryAfter(u16, u64),
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    body: Vec<u8>,
    idempotency_key: Option<String>,
    content_type: Option<String>,
    user_agent: Option<String>,
}

#[derive(Debug, Default)]
struct Script {
    /// Replies in order; 200 once they are used up.
    replies: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<Received>>,
}

impl Script {
    fn with(replies: &[Reply]) -> Arc<Self> {
        Arc::new(Self {
            replies: Mutex::new(replies.iter().copied().collect()),
            received: Mutex::default(),
        })
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }
}

fn header(request: &HttpRequest, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

async fn receive(
    script: web::Data<Script>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    script.received.lock().expect("lock").push(Received {
        body: body.to_vec(),
        idempotency_key: header(&request, "idempotency-key"),
        content_type: header(&request, "content-type"),
        user_agent: header(&request, "user-agent"),
    });
    let reply = script
        .replies
        .lock()
        .expect("lock")
        .pop_front()
        .unwrap_or(Reply::Status(200));
    let (status, retry_after) = match reply {
        Reply::Status(status) => (status, None),
        Reply::Slow(wait, status) => {
            actix_rt::time::sleep(wait).await;
            (status, None)
        }
        Reply::RetryAfter(status, seconds) => (status, Some(seconds)),
    };
    let mut response = HttpResponse::build(StatusCode::from_u16(status).expect("status"));
    if let Some(seconds) = retry_after {
        response.insert_header(("Retry-After", seconds.to_string()));
    }
    response.body("ok")
}

/// A receiver listening on `listener` until its handle is stopped.
struct Receiver {
    handle: ServerHandle,
    url: String,
}

impl Receiver {
    fn start(listener: TcpListener, script: Arc<Script>) -> Self {
        let port = listener.local_addr().expect("addr").port();
        let data = web::Data::from(script);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/hook", web::post().to(receive))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Self {
            handle,
            url: url_on(port),
        }
    }

    async fn stop(self) {
        self.handle.stop(false).await;
    }
}

fn url_on(port: u16) -> String {
    format!("http://127.0.0.1:{port}/hook")
}

/// A port on 127.0.0.1 that refuses connections: bound, so that nothing else can take it, but
/// not listening. [`DownPort::come_up`] starts listening on it.
struct DownPort {
    socket: TcpSocket,
    port: u16,
}

impl DownPort {
    fn new() -> Self {
        let socket = TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind");
        let port = socket.local_addr().expect("addr").port();
        Self { socket, port }
    }

    fn url(&self) -> String {
        url_on(self.port)
    }

    fn come_up(self) -> TcpListener {
        let listener = self.socket.listen(64).expect("listen");
        listener.into_std().expect("std listener")
    }
}

fn client() -> WebhookClient {
    WebhookClient::new(WebhookConfig {
        connect_timeout: Duration::from_millis(200),
        request_timeout: Duration::from_millis(200),
        // The receiver listens on 127.0.0.1.
        allow_private_addresses: true,
    })
    .expect("client")
}

fn assert_retry(outcome: &Outcome, what: &str) -> RetryReason {
    match outcome {
        Outcome::Retry { reason, .. } => reason.clone(),
        Outcome::Delivered => panic!("{what}: delivered, expected a retry"),
    }
}

#[actix_rt::test]
async fn refused_port_is_a_retry() {
    let down = DownPort::new();
    let outcome = deliver(&client(), &down.url(), Bytes::from_static(b"{}"), "k-1").await;
    let reason = assert_retry(&outcome, "refused");
    assert!(matches!(reason, RetryReason::Connect(_)), "{reason:?}");
    assert!(reason.to_string().contains("refused"), "{reason}");
}

#[actix_rt::test]
async fn unavailable_then_ok_retries_then_delivers_the_exact_body_and_headers() {
    let script = Script::with(&[
        Reply::Status(503),
        Reply::Status(503),
        Reply::RetryAfter(503, 7),
        Reply::Status(200),
    ]);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let receiver = Receiver::start(listener, script.clone());
    let client = client();
    let body = Bytes::from_static(RECEIPT.as_bytes());
    let key = "verwerkingsbericht-00000001000000000001-b-1";

    for _ in 0..2 {
        let outcome = deliver(&client, &receiver.url, body.clone(), key).await;
        assert_eq!(
            outcome,
            Outcome::Retry {
                reason: RetryReason::Status(503),
                retry_after: None
            }
        );
    }
    let outcome = deliver(&client, &receiver.url, body.clone(), key).await;
    assert_eq!(
        outcome,
        Outcome::Retry {
            reason: RetryReason::Status(503),
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert_eq!(
        deliver(&client, &receiver.url, body.clone(), key).await,
        Outcome::Delivered
    );

    let received = script.received();
    assert_eq!(received.len(), 4);
    for request in &received {
        assert_eq!(request.body, RECEIPT.as_bytes());
        assert_eq!(request.idempotency_key.as_deref(), Some(key));
        assert_eq!(request.content_type.as_deref(), Some("application/json"));
        assert_eq!(request.user_agent.as_deref(), Some(USER_AGENT));
    }
    receiver.stop().await;
}

#[actix_rt::test]
async fn any_2xx_delivers_and_any_other_status_retries() {
    let statuses = [
        200, 204, 202, 301, 400, 401, 404, 408, 410, 413, 429, 500, 502,
    ];
    let replies: Vec<Reply> = statuses
        .iter()
        .map(|&status| Reply::Status(status))
        .collect();
    let script = Script::with(&replies);
    let receiver = Receiver::start(TcpListener::bind("127.0.0.1:0").expect("bind"), script);
    let client = client();
    for status in statuses {
        let outcome = deliver(&client, &receiver.url, Bytes::from_static(b"{}"), "k").await;
        if (200..300).contains(&status) {
            assert_eq!(outcome, Outcome::Delivered, "status {status}");
        } else {
            assert_eq!(
                assert_retry(&outcome, "non-2xx"),
                RetryReason::Status(status),
                "status {status}"
            );
        }
    }
    receiver.stop().await;
}

#[actix_rt::test]
async fn an_answer_slower_than_the_timeout_is_a_retry_and_the_redelivery_keeps_its_key() {
    // The receiver takes the first request but answers after the client gave up: the 2xx is
    // lost, so the receipt is sent again with the same key for the afnemer to drop.
    let script = Script::with(&[Reply::Slow(Duration::from_millis(1500), 200)]);
    let receiver = Receiver::start(
        TcpListener::bind("127.0.0.1:0").expect("bind"),
        script.clone(),
    );
    let client = client();
    let body = Bytes::from_static(RECEIPT.as_bytes());

    let outcome = deliver(&client, &receiver.url, body.clone(), "k-slow").await;
    assert_eq!(assert_retry(&outcome, "slow"), RetryReason::Timeout);
    assert_eq!(
        deliver(&client, &receiver.url, body, "k-slow").await,
        Outcome::Delivered
    );
    let keys: Vec<Option<String>> = script
        .received()
        .into_iter()
        .map(|request| request.idempotency_key)
        .collect();
    assert_eq!(keys, [Some("k-slow".to_owned()), Some("k-slow".to_owned())]);
    receiver.stop().await;
}

#[actix_rt::test]
async fn a_url_or_key_that_cannot_be_sent_is_a_retry_not_a_panic() {
    let client = client();
    for url in ["not a url", "ftp://127.0.0.1/hook", ""] {
        let outcome = deliver(&client, url, Bytes::new(), "k").await;
        assert!(
            matches!(assert_retry(&outcome, url), RetryReason::InvalidRequest(_)),
            "{url}: {outcome:?}"
        );
    }
    let down = DownPort::new();
    let outcome = deliver(&client, &down.url(), Bytes::new(), "bad\nkey").await;
    assert!(matches!(
        assert_retry(&outcome, "key"),
        RetryReason::InvalidRequest(_)
    ));
}

/// Moves the manual clock forward to `at`.
fn advance_to(clock: &ManualClock, at: Timestamp) {
    let by = at.duration_since(clock.now());
    assert!(by >= SignedDuration::ZERO, "the schedule went back in time");
    clock.advance(Duration::try_from(by).expect("non-negative"));
}

#[actix_rt::test]
async fn a_receipt_on_the_schedule_arrives_exactly_once_after_the_afnemer_comes_up() {
    let clock = ManualClock::new("2026-11-28T12:00:00Z".parse().expect("timestamp"));
    let backoff = Backoff::default();
    let mut rng = StdRng::seed_from_u64(2026);
    let client = client();
    let body = Bytes::from_static(RECEIPT.as_bytes());
    let key = "b-1";
    let down_for = 6;

    let mut down = Some(DownPort::new());
    let url = down.as_ref().expect("down").url();
    let script = Script::with(&[]);
    let mut receiver = None;
    let mut state = RetryState::new(clock.now());
    let mut attempts = 0;
    loop {
        if attempts == down_for {
            let listener = down.take().expect("down").come_up();
            receiver = Some(Receiver::start(listener, script.clone()));
        }
        attempts += 1;
        match deliver(&client, &url, body.clone(), key).await {
            Outcome::Delivered => break,
            Outcome::Retry { reason, .. } => {
                assert!(matches!(reason, RetryReason::Connect(_)), "{reason:?}");
                match backoff.after_failure(&mut state, clock.now(), rng.random()) {
                    Retry::At(at) => advance_to(&clock, at),
                    Retry::GiveUp => panic!("gave up after {attempts} attempts"),
                }
            }
        }
    }
    assert_eq!(attempts, down_for + 1);
    assert_eq!(state.failures, down_for);
    let received = script.received();
    assert_eq!(received.len(), 1, "arrived {} times", received.len());
    assert_eq!(received[0].body, RECEIPT.as_bytes());
    assert_eq!(received[0].idempotency_key.as_deref(), Some(key));
    // Six retries on the ramp (0.5-1 s, 1-2 s, ... 16-32 s) take under a minute of manual time.
    let waited = clock.now().duration_since(state.first_offered);
    assert!(
        waited >= SignedDuration::from_millis(31_500) && waited < SignedDuration::from_secs(63),
        "{waited:?}"
    );

    // Past 6 days after the first offer the schedule gives up.
    advance_to(
        &clock,
        backoff.deadline(state.first_offered) + SignedDuration::from_secs(1),
    );
    assert_eq!(
        backoff.after_failure(&mut state, clock.now(), rng.random()),
        Retry::GiveUp
    );
    if let Some(receiver) = receiver {
        receiver.stop().await;
    }
}

#[actix_rt::test]
async fn a_receipt_whose_afnemer_stays_down_is_tried_586_times_in_6_days_then_given_up() {
    let start: Timestamp = "2026-11-28T12:00:00Z".parse().expect("timestamp");
    let clock = ManualClock::new(start);
    let backoff = Backoff::new(BackoffConfig {
        jitter: Jitter::None,
        ..BackoffConfig::default()
    })
    .expect("config");
    let deadline = backoff.deadline(start);
    assert_eq!(deadline, start + SignedDuration::from_hours(6 * 24));
    let client = client();
    let down = DownPort::new();
    let url = down.url();
    let mut state = RetryState::new(start);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let outcome = deliver(&client, &url, Bytes::from_static(b"{}"), "k").await;
        assert!(matches!(
            assert_retry(&outcome, "down"),
            RetryReason::Connect(_)
        ));
        match backoff.after_failure(&mut state, clock.now(), 0) {
            Retry::At(at) => {
                assert!(at <= deadline);
                advance_to(&clock, at);
            }
            Retry::GiveUp => break,
        }
    }
    assert_eq!(attempts, 586);
    assert_eq!(clock.now(), deadline);
}

#[actix_rt::test]
async fn https_is_built_in_and_a_failed_handshake_is_a_connect_retry() {
    // The receiver speaks plain HTTP, so the TLS handshake fails; without TLS compiled in,
    // reqwest would refuse the https scheme as an invalid request instead.
    let script = Script::with(&[]);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let receiver = Receiver::start(listener, script.clone());
    let url = format!("https://127.0.0.1:{port}/hook");
    let outcome = deliver(&client(), &url, Bytes::from_static(b"{}"), "k").await;
    let reason = assert_retry(&outcome, "https to plain http");
    assert!(matches!(reason, RetryReason::Connect(_)), "{reason:?}");
    assert!(script.received().is_empty());
    receiver.stop().await;
}

/// With `allow_private_addresses` off, a name that resolves to loopback and a loopback literal
/// are refused before connecting (the receiver gets nothing); on, the same URL is delivered.
#[actix_rt::test]
async fn a_non_public_address_is_refused_before_connecting_unless_allowed() {
    let script = Script::with(&[]);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let receiver = Receiver::start(listener, script.clone());
    let public_only = WebhookClient::new(WebhookConfig {
        connect_timeout: Duration::from_millis(200),
        request_timeout: Duration::from_millis(200),
        allow_private_addresses: false,
    })
    .expect("client");
    for url in [
        format!("http://localhost:{port}/hook"),
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
    ] {
        let outcome = deliver(&public_only, &url, Bytes::from_static(b"{}"), "k").await;
        let reason = assert_retry(&outcome, &url);
        assert!(
            matches!(reason, RetryReason::NotPublic(_)),
            "{url}: {reason:?}"
        );
    }
    assert_eq!(script.received().len(), 0, "nothing reached the receiver");
    let url = format!("http://localhost:{port}/hook");
    let outcome = deliver(&client(), &url, Bytes::from_static(b"{}"), "k").await;
    assert_eq!(outcome, Outcome::Delivered, "allowed: {url}");
    assert_eq!(script.received().len(), 1);
    receiver.stop().await;
}
