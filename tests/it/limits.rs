//! The edge's per-key limits over real sockets: each citizen's calls (`[burgers]`), and failed
//! authentication per client address (`auth.failures_*`).
//!
//! Every client of a test engine comes from loopback; the guesser binds its connections to
//! another loopback address (127.0.0.2), which Linux routes like 127.0.0.1, so the engine sees
//! two client addresses. Waits are moves of the engine's clock, never sleeps.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    Api, BURGER_JWT_SECRET, Engine, Reply, assert_problem, batch, bsn, burger_token,
    burger_token_with, oin,
};

/// `Retry-After` of a reply, which must lie in `range`.
fn retry_after(reply: &Reply, range: std::ops::RangeInclusive<u64>) -> u64 {
    let seconds: u64 = reply
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("whole seconds");
    assert!(
        range.contains(&seconds),
        "Retry-After {seconds} not in {range:?}"
    );
    seconds
}

/// A client whose connections come from `local`.
fn client_from(engine: &Engine, local: Ipv4Addr) -> Api {
    let mut api = Api::new(engine.base.clone());
    api.client = reqwest::blocking::Client::builder()
        .local_address(IpAddr::V4(local))
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    api
}

fn get(api: &Api, token: &str, path: &str) -> Reply {
    api.get(token, path)
}

#[test]
fn a_citizen_over_his_rate_gets_429_with_retry_after_and_another_citizen_does_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::builder(&dir.path().join("data"))
        .configure(|config| {
            config.burgers.verzoeken_per_seconde = 1;
            config.burgers.burst = 3;
        })
        .start();
    let busy = engine.burger(&bsn(9101));
    let other = engine.burger(&bsn(9102));
    busy.open_box("druk@example.nl");
    other.open_box("rustig@example.nl");

    // The opening took one of his three; two more pass, the next is refused.
    for n in 0..2 {
        let reply = busy.get("/v1/account");
        assert_eq!(reply.status, 200, "call {n}: {}", reply.text());
    }
    let refused = busy.get("/v1/account");
    let problem = assert_problem(&refused, 429, "the fourth call within a second");
    assert_eq!(
        refused.header("cache-control"),
        Some("no-store"),
        "{problem}"
    );
    let wait = retry_after(&refused, 1..=1);
    // Refused again, and for every citizen route: the limit is the citizen's, not the route's.
    assert_problem(&busy.get("/v1/account/berichten"), 429, "another route");

    // Another citizen at the same instant is not slowed: his own two after his opening.
    for n in 0..2 {
        let reply = other.get("/v1/account");
        assert_eq!(
            reply.status,
            200,
            "other citizen, call {n}: {}",
            reply.text()
        );
    }

    // After Retry-After on the engine's clock he passes once, then is refused again.
    engine.advance(Duration::from_secs(wait));
    let reply = busy.get("/v1/account");
    assert_eq!(reply.status, 200, "after Retry-After: {}", reply.text());
    assert_problem(&busy.get("/v1/account"), 429, "right after");
}

#[test]
fn an_address_guessing_keys_gets_429_while_a_valid_afnemer_is_not_slowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::builder(&dir.path().join("data"))
        .configure(|config| {
            config.auth.failures_burst = 5;
            config.auth.failures_per_minute = 1;
        })
        .start();
    let key = engine.afnemer(&oin(9201), json!({ "naam": "Gemeente Echt" }));
    let guesser = client_from(&engine, Ipv4Addr::new(127, 0, 0, 2));

    // Five wrong keys are five 401s; the sixth guess is 429 before it is checked.
    for n in 0..5 {
        let reply = get(
            &guesser,
            &format!("geraden-sleutel-{n}"),
            "/v1/berichttypen",
        );
        assert_problem(&reply, 401, "a wrong key within the allowance");
    }
    let refused = get(&guesser, "geraden-sleutel-5", "/v1/berichttypen");
    assert_problem(&refused, 429, "the sixth wrong key");
    let wait = retry_after(&refused, 1..=60);
    // The beheer token and citizens' tokens from that address: 429 too, unchecked.
    assert_problem(
        &get(&guesser, &"x".repeat(40), "/v1/beheer/afnemers"),
        429,
        "a beheer token from the guessing address",
    );
    assert_problem(
        &get(&guesser, "geen.jwt.token", "/v1/account"),
        429,
        "a citizen token from the guessing address",
    );
    // Even the right key is 429 there: a guess at that address tells nothing.
    assert_problem(
        &get(&guesser, &key, "/v1/berichttypen"),
        429,
        "a valid key from the guessing address",
    );

    // The valid afnemer at another address is not slowed: its batch is 202.
    let reply = engine.post_batch(&key, &batch(9201, 3));
    assert_eq!(reply.status, 202, "{}", reply.text());
    // And its valid calls never count, however many.
    for _ in 0..20 {
        assert_eq!(engine.get(&key, "/v1/berichttypen").status, 200);
    }

    // After Retry-After, one more guess is checked (401), then 429 again.
    engine.advance(Duration::from_secs(wait));
    assert_problem(
        &get(&guesser, "geraden-sleutel-6", "/v1/berichttypen"),
        401,
        "one guess after Retry-After",
    );
    assert_problem(
        &get(&guesser, "geraden-sleutel-7", "/v1/berichttypen"),
        429,
        "the next guess",
    );
}

#[test]
fn signed_tokens_refused_by_their_claims_do_not_count_but_bad_signatures_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::builder(&dir.path().join("data"))
        .configure(|config| {
            config.auth.failures_burst = 3;
            config.auth.failures_per_minute = 1;
        })
        .start();
    let portal = client_from(&engine, Ipv4Addr::new(127, 0, 0, 3));
    let citizen = bsn(9301);
    let expired = burger_token_with(
        &json!({ "sub": citizen, "exp": jsonwebtoken::get_current_timestamp() - 3600 }),
        BURGER_JWT_SECRET,
    );
    let bad_sub = burger_token_with(
        &json!({ "sub": "123", "exp": jsonwebtoken::get_current_timestamp() + 600 }),
        BURGER_JWT_SECRET,
    );
    // The portal's expired sessions: signed by the portal's key, no guess; they never add up.
    for n in 0..10 {
        assert_problem(&get(&portal, &expired, "/v1/account"), 401, "expired");
        assert_problem(
            &get(&portal, &bad_sub, "/v1/account"),
            401,
            &format!("bad sub {n}"),
        );
    }
    let valid = burger_token(&citizen);
    assert_problem(
        &get(&portal, &valid, "/v1/account"),
        404,
        "a valid token: no box yet",
    );

    // A signature that does not hold is a guess: three, then 429.
    let forged = burger_token_with(
        &json!({ "sub": citizen, "exp": jsonwebtoken::get_current_timestamp() + 600 }),
        "een-ander-geheim-van-minstens-32-bytes",
    );
    for _ in 0..3 {
        assert_problem(&get(&portal, &forged, "/v1/account"), 401, "a forged token");
    }
    let refused: Reply = get(&portal, &forged, "/v1/account");
    let problem: Value = assert_problem(&refused, 429, "the fourth forged token");
    assert_eq!(
        refused.header("cache-control"),
        Some("no-store"),
        "{problem}"
    );
    retry_after(&refused, 1..=60);
}
