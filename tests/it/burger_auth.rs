//! Citizen authentication through the crate's public API, the way the server will use it: a
//! TOML file read by `Config::load`, a `BurgerVerifier` built from its `[auth]` section, and
//! `burger` on a request. The rejection reasons one by one are unit tests in `http::burger`.

use std::path::Path;

use actix_web::ResponseError as _;
use actix_web::http::{StatusCode, header};
use actix_web::test::TestRequest;
use berichtenbox::config::{Config, Overrides};
use berichtenbox::http::burger::{BurgerVerifier, burger};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, get_current_timestamp};
use serde_json::json;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/burger_jwt")
        .join(name)
}

fn es256_token(audience: &str) -> String {
    let pem = std::fs::read(fixture("ec-p256-private.pem")).expect("fixture");
    let key = EncodingKey::from_ec_pem(&pem).expect("key");
    let claims = json!({
        "sub": "999993653",
        "iss": "https://mijn.overheid.nl",
        "aud": audience,
        "exp": get_current_timestamp() + 300,
    });
    encode(&Header::new(Algorithm::ES256), &claims, &key).expect("signs")
}

#[test]
fn a_configured_public_key_admits_its_citizens_and_refuses_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("berichtenbox.toml");
    let text = format!(
        "[auth]\n\
         burger_jwt_public_key_file = {:?}\n\
         burger_jwt_issuer = \"https://mijn.overheid.nl\"\n\
         burger_jwt_audience = \"berichtenbox\"\n\
         burger_jwt_leeway_seconds = 10\n",
        fixture("ec-p256-public.pem").display().to_string()
    );
    std::fs::write(&file, text).expect("write");
    let config = Config::load(Some(&file), Overrides::default()).expect("valid configuration");
    assert_eq!(config.auth.burger_jwt_leeway_seconds, 10);
    let verifier = BurgerVerifier::from_config(&config.auth)
        .expect("valid")
        .expect("configured");

    let request = TestRequest::default()
        .insert_header((
            header::AUTHORIZATION,
            format!("Bearer {}", es256_token("berichtenbox")),
        ))
        .to_http_request();
    let bsn = burger(&request, Some(&verifier)).expect("admitted");
    assert_eq!(bsn.as_str(), "999993653");

    let request = TestRequest::default()
        .insert_header((
            header::AUTHORIZATION,
            format!("Bearer {}", es256_token("een-andere-dienst")),
        ))
        .to_http_request();
    let response = burger(&request, Some(&verifier))
        .expect_err("another audience")
        .error_response();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers().get(header::CONTENT_TYPE).expect("type"),
        "application/problem+json"
    );
    assert_eq!(
        response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .expect("challenge"),
        "Bearer"
    );
}
