//! The bodies of the fuzz targets in `fuzz/` (each target is a one-line call of a function
//! here) and of the replay test below, which runs every committed input of
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` through the same function on the
//! stable toolchain, so a fixed crash stays fixed and the two cannot drift.
//!
//! Each function takes the fuzzer's bytes, runs them through the function the handler runs
//! (no HTTP server, no store), and panics when an invariant breaks: any panic is a finding.
//! Compiled for tests and with the `fuzzing` feature only; not part of the engine's API.

use std::sync::OnceLock;

use actix_web::{ResponseError as _, web};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use berichtenbox_actors::core::bsn::is_valid_bsn;
use berichtenbox_actors::core::model::Batch;
use berichtenbox_actors::core::prognose::Maand;
use berichtenbox_actors::core::rules;
use berichtenbox_actors::store::{BoxId, ReceiptCursor};
use jiff::Timestamp;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::config::AuthConfig;
use crate::http::burger::{BurgerVerifier, public_key_from_pem};
use crate::http::paging::Page;
use crate::http::problem::{ApiError, InvalidParam};
use crate::http::{account, batches, rapportages, receipts};

/// The afnemer every fuzzed batch is delivered by.
pub const OIN: &str = "00000001234567890000";

/// The engine's clock during fuzzing: fixed, so an input means the same on every run.
pub const NOW: &str = "2026-06-01T12:00:00Z";

/// The HS256 secret of the fuzzed citizens' tokens.
pub const SECRET: &str = "fuzz-geheim-van-minstens-32-bytes-lang";

/// The `iss` and `aud` one of the HS256 verifiers requires.
pub const ISSUER: &str = "https://mijn.overheid.nl";
pub const AUDIENCE: &str = "berichtenbox";

const EC_PUBLIC: &str = include_str!("../tests/fixtures/burger_jwt/ec-p256-public.pem");
const RSA_PUBLIC: &str = include_str!("../tests/fixtures/burger_jwt/rsa-2048-public.pem");
/// Their private halves, which sign the tests' and seeds' tokens.
#[cfg(test)]
const EC_PRIVATE: &str = include_str!("../tests/fixtures/burger_jwt/ec-p256-private.pem");
#[cfg(test)]
const RSA_PRIVATE: &str = include_str!("../tests/fixtures/burger_jwt/rsa-2048-private.pem");

fn now() -> Timestamp {
    NOW.parse().expect("NOW is a timestamp")
}

// ---------------------------------------------------------------------------------------------
// batch: a POST /v1/batches body

/// A `POST /v1/batches` body through `batches::parse` (the handler's JSON reading with its
/// array limits, then every field rule). An accepted batch must satisfy every rule again,
/// checked here one by one, and must come back equal, with the same content digest, when it
/// is written as JSON and read again. A refusal must be a 400 or 413 that names what is wrong.
pub fn batch(data: &[u8]) {
    let now = now();
    match batches::parse(data, OIN, now) {
        Ok(batch) => {
            check_batch(&batch, now);
            let again = to_json(&batch);
            match batches::parse(&again, OIN, now) {
                Ok(read) => {
                    assert_eq!(read, batch, "the batch does not survive a round trip");
                    assert_eq!(read.content_digest(), batch.content_digest());
                }
                Err(error) => panic!(
                    "an accepted batch, written again, is refused: {error:?}\n{}",
                    String::from_utf8_lossy(&again)
                ),
            }
        }
        Err(error) => check_batch_refusal(&error),
    }
}

fn check_batch(batch: &Batch, now: Timestamp) {
    assert_eq!(batch.oin, OIN);
    assert!(
        (1..=rules::MAX_BERICHTEN_PER_BATCH).contains(&batch.berichten.len()),
        "{} berichten accepted",
        batch.berichten.len()
    );
    assert_eq!(
        rules::guid(&batch.batch_id).as_deref(),
        Ok(&*batch.batch_id)
    );
    let ahead = jiff::SignedDuration::from_secs(5 * 60);
    assert!(batch.aanmaak_datum.duration_since(now) <= ahead);
    let mut ids = std::collections::HashSet::new();
    for bericht in &batch.berichten {
        assert_eq!(
            rules::guid(&bericht.bericht_id).as_deref(),
            Ok(&*bericht.bericht_id)
        );
        assert!(ids.insert(&bericht.bericht_id), "a berichtId twice");
        assert!(rules::bericht_type(&bericht.bericht_type).is_ok());
        assert!(is_valid_bsn(&bericht.ontvanger));
        assert!(rules::text(&bericht.onderwerp, 1, rules::MAX_ONDERWERP_CHARS).is_ok());
        assert!(rules::text(&bericht.tekst, 0, rules::MAX_TEKST_CHARS).is_ok());
        if let Some(referentie) = &bericht.referentie {
            assert!(rules::text(referentie, 0, rules::MAX_REFERENTIE_CHARS).is_ok());
        }
        assert!(bericht.bijlagen.len() <= rules::MAX_BIJLAGEN_PER_BERICHT);
        let bytes: usize = bericht.bijlagen.iter().map(|b| b.inhoud.len()).sum();
        assert!(
            bytes <= rules::MAX_BIJLAGEN_BYTES_PER_BERICHT,
            "{bytes} bytes"
        );
        for bijlage in &bericht.bijlagen {
            assert!(rules::text(&bijlage.omschrijving, 1, rules::MAX_OMSCHRIJVING_CHARS).is_ok());
            assert!(rules::media_type(&bijlage.mediatype).is_ok());
        }
    }
}

/// The batch as an afnemer would send it.
fn to_json(batch: &Batch) -> Vec<u8> {
    let berichten: Vec<Value> = batch
        .berichten
        .iter()
        .map(|bericht| {
            let mut value = json!({
                "berichtId": bericht.bericht_id,
                "berichtType": bericht.bericht_type,
                "ontvanger": bericht.ontvanger,
                "onderwerp": bericht.onderwerp,
                "tekst": bericht.tekst,
            });
            if let Some(referentie) = &bericht.referentie {
                value["referentie"] = json!(referentie);
            }
            if let Some(publicatie) = bericht.publicatie_datum {
                value["publicatieDatum"] = json!(publicatie.to_string());
            }
            if !bericht.bijlagen.is_empty() {
                let bijlagen: Vec<Value> = bericht
                    .bijlagen
                    .iter()
                    .map(|b| {
                        json!({
                            "omschrijving": b.omschrijving,
                            "mediatype": b.mediatype,
                            "inhoud": STANDARD.encode(&b.inhoud),
                        })
                    })
                    .collect();
                value["bijlagen"] = json!(bijlagen);
            }
            value
        })
        .collect();
    serde_json::to_vec(&json!({
        "batchId": batch.batch_id,
        "aanmaakDatum": batch.aanmaak_datum.to_string(),
        "berichten": berichten,
    }))
    .expect("a batch is JSON")
}

fn check_batch_refusal(error: &ApiError) {
    match error {
        ApiError::BadRequest { invalid_params, .. } => check_params(invalid_params, |_| true),
        ApiError::PayloadTooLarge { invalid_params, .. } => {
            assert!(!invalid_params.is_empty(), "a 413 that names nothing");
            check_params(invalid_params, |_| true);
            let first = &invalid_params[0].name;
            assert!(
                first == "berichten" || first.ends_with(".bijlagen"),
                "a 413 for {first}"
            );
        }
        other => panic!("a batch refused with {other:?}"),
    }
    check_renders(error);
}

/// Every named parameter has a reason and a name; the name is empty (or ends in an empty
/// segment, `berichten[0].`) only for an unknown field whose own name is empty (`{"": 1}`:
/// the first finding of the `batch` target, a check of this harness too strict, not a fault
/// of the engine).
fn check_params(params: &[InvalidParam], allowed: impl Fn(&str) -> bool) {
    for param in params {
        assert!(!param.reason.is_empty(), "{param:?}");
        let unnamed = param.name.is_empty() || param.name.ends_with('.');
        assert!(
            !unnamed || param.reason == "is geen bekend veld",
            "{param:?}"
        );
        assert!(allowed(&param.name), "unexpected parameter {param:?}");
    }
}

/// The problem+json answer can be built.
fn check_renders(error: &ApiError) {
    let status = error.error_response().status();
    assert!(status.is_client_error(), "{status} for {error:?}");
}

// ---------------------------------------------------------------------------------------------
// burger_jwt: a citizen's bearer token

/// What a token's signature is checked with, for the oracle below.
enum Key {
    Secret(&'static [u8]),
    Ec(p256::ecdsa::VerifyingKey),
    Rsa(rsa::RsaPublicKey),
}

struct Verifiers(Vec<(BurgerVerifier, Key, &'static str)>);

fn verifiers() -> &'static Verifiers {
    static VERIFIERS: OnceLock<Verifiers> = OnceLock::new();
    VERIFIERS.get_or_init(|| {
        use rsa::pkcs8::DecodePublicKey as _;
        let plain = AuthConfig::default();
        let strict = AuthConfig {
            burger_jwt_issuer: ISSUER.to_owned(),
            burger_jwt_audience: AUDIENCE.to_owned(),
            ..AuthConfig::default()
        };
        let secret = || DecodingKey::from_secret(SECRET.as_bytes());
        let (ec, ec_algorithm) = public_key_from_pem(EC_PUBLIC).expect("ec key");
        let (rsa, rsa_algorithm) = public_key_from_pem(RSA_PUBLIC).expect("rsa key");
        assert_eq!(
            (ec_algorithm, rsa_algorithm),
            (Algorithm::ES256, Algorithm::RS256)
        );
        Verifiers(vec![
            (
                BurgerVerifier::new(&plain, secret(), Algorithm::HS256),
                Key::Secret(SECRET.as_bytes()),
                "HS256",
            ),
            (
                BurgerVerifier::new(&strict, secret(), Algorithm::HS256),
                Key::Secret(SECRET.as_bytes()),
                "HS256",
            ),
            (
                BurgerVerifier::new(&plain, ec, Algorithm::ES256),
                Key::Ec(p256::ecdsa::VerifyingKey::from_public_key_pem(EC_PUBLIC).expect("ec")),
                "ES256",
            ),
            (
                BurgerVerifier::new(&plain, rsa, Algorithm::RS256),
                Key::Rsa(rsa::RsaPublicKey::from_public_key_pem(RSA_PUBLIC).expect("rsa")),
                "RS256",
            ),
        ])
    })
}

/// A token (the bytes as text) through `BurgerVerifier::verify_or_guess` of four verifiers:
/// HS256 without and with `iss` and `aud` required, ES256 and RS256. A token may be accepted,
/// or refused as "not a guess" (no count against the client's address), only when its
/// signature holds by the oracle here, which checks it without `jsonwebtoken`, and when its
/// header names the verifier's algorithm; an accepted token's BSN is its `sub` and passes the
/// elfproef. Every refusal is a 401.
pub fn burger_jwt(data: &[u8]) {
    let token = String::from_utf8_lossy(data);
    for (verifier, key, algorithm) in &verifiers().0 {
        match verifier.verify_or_guess(&token) {
            Ok(bsn) => {
                assert!(
                    signature_holds(&token, key, algorithm),
                    "{algorithm}: accepted without a valid signature: {token}"
                );
                assert!(is_valid_bsn(bsn.as_str()));
                let payload = part(&token, 1).expect("an accepted token has a payload");
                let claims: Value = serde_json::from_slice(&payload).expect("claims are JSON");
                assert_eq!(claims["sub"].as_str(), Some(bsn.as_str()));
            }
            Err((error, guess)) => {
                assert!(matches!(error, ApiError::Unauthorized(_)), "{error:?}");
                if !guess {
                    assert!(
                        signature_holds(&token, key, algorithm),
                        "{algorithm}: refused as no guess without a valid signature: {token}"
                    );
                }
                check_renders(&error);
            }
        }
    }
}

/// Part `index` (0 header, 1 payload, 2 signature) of a compact JWS, base64url-decoded.
fn part(token: &str, index: usize) -> Option<Vec<u8>> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return None;
    }
    URL_SAFE_NO_PAD.decode(parts[index]).ok()
}

/// The oracle: whether `token` is signed by `key` with `algorithm`, and says so in its header.
fn signature_holds(token: &str, key: &Key, algorithm: &str) -> bool {
    let Some((signed, _)) = token.rsplit_once('.') else {
        return false;
    };
    let (Some(header), Some(signature)) = (part(token, 0), part(token, 2)) else {
        return false;
    };
    let header: Value = match serde_json::from_slice(&header) {
        Ok(header) => header,
        Err(_) => return false,
    };
    if header["alg"].as_str() != Some(algorithm) {
        return false;
    }
    match key {
        Key::Secret(secret) => hmac_sha256(secret, signed.as_bytes())[..] == signature[..],
        Key::Ec(key) => {
            use p256::ecdsa::signature::Verifier as _;
            p256::ecdsa::Signature::from_slice(&signature)
                .is_ok_and(|signature| key.verify(signed.as_bytes(), &signature).is_ok())
        }
        Key::Rsa(key) => {
            // DigestInfo of SHA-256 (RFC 8017, section 9.2, note 1).
            const PREFIX: [u8; 19] = [
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ];
            let scheme = rsa::Pkcs1v15Sign {
                hash_len: Some(32),
                prefix: PREFIX.into(),
            };
            let digest = Sha256::digest(signed.as_bytes());
            key.verify(scheme, &digest, &signature).is_ok()
        }
    }
}

/// HMAC-SHA256 (RFC 2104), written out so the oracle shares no code with `jsonwebtoken`.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

// ---------------------------------------------------------------------------------------------
// query: the query strings of the GET endpoints

/// A query string (the bytes as text) through each parser of one, as its handler runs it:
/// actix-web's `web::Query` (serde_urlencoded) and then the endpoint's checks, for
/// `GET /v1/account/berichten` and `GET /v1/verwerkingsberichten` (cursor and limit),
/// `GET /v1/rapportages/dagelijks` (datum) and `GET /v1/beheer/rapportages/maandelijks`
/// (maand). What is accepted is within its bounds and survives being written out and read
/// again; a refusal is a 400 naming only the parameters of that endpoint.
pub fn query(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let text = &*text;

    check_page(
        account::page(web::Query::from_query(text).map_err(Into::into)),
        500,
        BoxId::to_hex,
        BoxId::from_hex,
    );
    check_page(
        receipts::page(web::Query::from_query(text).map_err(Into::into)),
        1000,
        ReceiptCursor::to_hex,
        ReceiptCursor::from_hex,
    );

    let today = jiff::civil::date(2026, 6, 1);
    match rapportages::dag(web::Query::from_query(text).map_err(Into::into), || today) {
        Ok(datum) => {
            let again = format!("datum={datum}");
            let read =
                rapportages::dag(web::Query::from_query(&again).map_err(Into::into), || today);
            assert_eq!(read.ok(), Some(datum), "{again}");
        }
        Err(error) => check_query_refusal(&error, &["query", "datum"]),
    }

    let zone = berichtenbox_actors::core::caps::amsterdam().expect("zone");
    let huidige = Maand::of(now(), &zone);
    match rapportages::maand(web::Query::from_query(text).map_err(Into::into), huidige) {
        Ok(maand) => {
            assert!(maand <= huidige);
            assert!(maand.bounds(&zone).is_some(), "{maand} has no bounds");
            assert_eq!(Maand::parse(&maand.to_string()), Some(maand));
        }
        Err(error) => check_query_refusal(&error, &["query", "maand"]),
    }
}

fn check_page<C: Copy + PartialEq + std::fmt::Debug>(
    page: Result<Page<C>, ApiError>,
    max: usize,
    to_hex: fn(C) -> String,
    from_hex: fn(&str) -> Option<C>,
) {
    match page {
        Ok(Page { after, limit }) => {
            assert!((1..=max).contains(&limit), "limit {limit}");
            if let Some(cursor) = after {
                assert_eq!(from_hex(&to_hex(cursor)), Some(cursor));
            }
        }
        Err(error) => check_query_refusal(&error, &["query", "na", "limit"]),
    }
}

fn check_query_refusal(error: &ApiError, names: &[&str]) {
    match error {
        ApiError::BadRequest { invalid_params, .. } if !invalid_params.is_empty() => {
            check_params(invalid_params, |name| names.contains(&name));
        }
        other => panic!("a query refused with {other:?}"),
    }
    check_renders(error);
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    /// Every file of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`.
    fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut inputs = Vec::new();
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("a directory entry").path();
                if path.is_file() {
                    let bytes = std::fs::read(&path).expect("readable");
                    inputs.push((path, bytes));
                }
            }
        }
        inputs.sort();
        inputs
    }

    fn replay(target: &str, run: fn(&[u8])) {
        let inputs = inputs(target);
        assert!(!inputs.is_empty(), "no corpus for {target}");
        for (path, bytes) in inputs {
            if std::panic::catch_unwind(|| run(&bytes)).is_err() {
                panic!("{target}: {} breaks an invariant", path.display());
            }
        }
    }

    #[test]
    fn the_batch_corpus_replays() {
        replay("batch", batch);
    }

    #[test]
    fn the_burger_jwt_corpus_replays() {
        replay("burger_jwt", burger_jwt);
    }

    #[test]
    fn the_query_corpus_replays() {
        replay("query", query);
    }

    /// The oracle agrees with the verifiers on a token each accepts, and not on one signed
    /// with another key, so the `burger_jwt` checks are not vacuous.
    #[test]
    fn the_signature_oracle_holds_exactly_for_tokens_signed_with_the_key() {
        use jsonwebtoken::{EncodingKey, Header};
        let claims = json!({
            "sub": "999993653", "exp": 4_102_444_800u64, "iss": ISSUER, "aud": AUDIENCE,
        });
        let keys = [
            EncodingKey::from_secret(SECRET.as_bytes()),
            EncodingKey::from_secret(SECRET.as_bytes()),
            EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).expect("ec"),
            EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).expect("rsa"),
        ];
        let other = EncodingKey::from_secret(b"een-ander-geheim-van-minstens-32-bytes");
        for ((verifier, key, algorithm), signing) in verifiers().0.iter().zip(&keys) {
            let header = Header::new(verifier.algorithm());
            let token = jsonwebtoken::encode(&header, &claims, signing).expect("signs");
            assert!(verifier.verify(&token).is_ok(), "{algorithm}");
            assert!(signature_holds(&token, key, algorithm), "{algorithm}");
            let forged = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &other)
                .expect("signs");
            assert!(!signature_holds(&forged, key, algorithm), "{algorithm}");
            burger_jwt(token.as_bytes());
        }
    }
}

/// The seed inputs the corpora started from: valid examples of each input, and a few that each
/// rule refuses. Their test runs each through its target; with `BERICHTENBOX_WRITE_SEEDS=1`
/// (`BERICHTENBOX_WRITE_SEEDS=1 cargo test --lib fuzzing::seeds`) it also writes them into
/// `fuzz/corpus/<target>/`, where the fuzzer and `cargo fuzz cmin` take them from.
#[cfg(test)]
mod seeds {
    use std::path::Path;

    use jsonwebtoken::{EncodingKey, Header};

    use super::*;

    /// A seed: run through its target (every seed must hold the target's invariants), and
    /// written into `fuzz/corpus/<target>/` when `BERICHTENBOX_WRITE_SEEDS=1` (to seed a new
    /// corpus; the committed ones were written so and then minimised).
    fn write(target: &str, name: &str, bytes: &[u8]) {
        match target {
            "batch" => super::batch(bytes),
            "burger_jwt" => super::burger_jwt(bytes),
            "query" => super::query(bytes),
            other => panic!("no fuzz target {other}"),
        }
        if std::env::var_os("BERICHTENBOX_WRITE_SEEDS").is_some_and(|value| value == "1") {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/corpus")
                .join(target);
            std::fs::create_dir_all(&dir).expect("corpus dir");
            std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("seed written");
        }
    }

    fn bericht(n: u32) -> Value {
        json!({
            "berichtId": format!("3b7e9a10-5c2e-4d8f-a1b3-6f0e9d8c7b{n:02}"),
            "berichtType": "AANSLAG",
            "ontvanger": "999993653",
            "onderwerp": "Uw aanslag 2026",
            "tekst": "Geachte heer, mevrouw,\nhierbij ontvangt u uw aanslag.",
        })
    }

    fn batch_of(berichten: Vec<Value>) -> Value {
        json!({
            "batchId": "8c1f6c4e-2b9d-4f3a-9e51-0c7d2a6b1f01",
            "aanmaakDatum": "2026-06-01T11:59:00Z",
            "berichten": berichten,
        })
    }

    #[test]
    fn every_seed_holds_its_targets_invariants() {
        let example = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/batch.json"),
        )
        .expect("example")
        .replace("AANMAAKDATUM", "2026-06-01T11:59:00Z");
        write("batch", "example", example.as_bytes());
        let mut full = bericht(1);
        full["referentie"] = json!("A-123");
        full["publicatieDatum"] = json!("2026-06-02T08:00:00+02:00");
        full["bijlagen"] = json!([
            { "omschrijving": "Aanslag", "mediatype": "application/pdf", "inhoud": "JVBERi0xLjQK" },
            { "omschrijving": "Toelichting", "mediatype": "text/plain; charset=utf-8", "inhoud": "" },
        ]);
        let mut three = bericht(2);
        three["bijlagen"] = json!([{}, {}, {}]);
        let mut broken = bericht(3);
        broken["ontvanger"] = json!("123456789");
        broken["berichtType"] = json!("TE-LANG-TYPE");
        broken["onderwerp"] = json!("");
        broken["bijlagen"] = json!([{ "omschrijving": "x", "mediatype": "pdf", "inhoud": "!!" }]);
        let cases = [
            ("full", batch_of(vec![full.clone(), bericht(4)])),
            ("three-bijlagen", batch_of(vec![three])),
            ("broken-fields", batch_of(vec![broken])),
            ("duplicate-id", batch_of(vec![bericht(5), bericht(5)])),
            ("empty", batch_of(vec![])),
            (
                "unknown-field",
                json!({ "batchId": 1, "extra": true, "berichten": [[]] }),
            ),
            ("future", {
                let mut batch = batch_of(vec![bericht(6)]);
                batch["aanmaakDatum"] = json!("2026-06-01T12:06:00+00:00");
                batch
            }),
        ];
        for (name, value) in cases {
            write(
                "batch",
                name,
                &serde_json::to_vec_pretty(&value).expect("json"),
            );
        }
        write("batch", "not-an-object", b"[1, 2, 3]");

        let keys = [
            (
                Algorithm::HS256,
                EncodingKey::from_secret(SECRET.as_bytes()),
            ),
            (
                Algorithm::ES256,
                EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).expect("ec"),
            ),
            (
                Algorithm::RS256,
                EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).expect("rsa"),
            ),
        ];
        // 2100-01-01: the seeds stay valid.
        let exp = 4_102_444_800u64;
        let claims = [
            ("valid", json!({ "sub": "999993653", "exp": exp })),
            (
                "strict",
                json!({ "sub": "999993653", "exp": exp, "iss": ISSUER, "aud": [AUDIENCE, "x"], "nbf": 0 }),
            ),
            ("expired", json!({ "sub": "999993653", "exp": 1 })),
            (
                "not-yet",
                json!({ "sub": "999993653", "exp": exp, "nbf": exp - 1 }),
            ),
            ("bad-sub", json!({ "sub": 999993653, "exp": exp })),
            ("no-exp", json!({ "sub": "999993653" })),
        ];
        for (algorithm, key) in &keys {
            for (name, claims) in &claims {
                let token =
                    jsonwebtoken::encode(&Header::new(*algorithm), claims, key).expect("signs");
                write(
                    "burger_jwt",
                    &format!("{algorithm:?}-{name}"),
                    token.as_bytes(),
                );
            }
        }
        write(
            "burger_jwt",
            "none",
            b"eyJhbGciOiJub25lIn0.eyJzdWIiOiI5OTk5OTM2NTMifQ.",
        );

        let queries = [
            ("page", "na=0000000000000001000100000000000000aa&limit=10"),
            ("limit-0", "limit=0"),
            ("limit-big", "limit=1001&na=zz"),
            ("datum", "datum=2026-05-31"),
            ("datum-bad", "datum=2026-02-30"),
            ("maand", "maand=2026-05"),
            ("maand-future", "maand=2027-01"),
            ("unknown", "foo=bar&na=%41"),
            ("twice", "limit=1&limit=2"),
            ("empty", ""),
        ];
        for (name, text) in queries {
            write("query", name, text.as_bytes());
        }
    }
}
