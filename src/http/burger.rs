//! Who the citizen is: the MijnOverheid portal calls with `Authorization: Bearer <JWT>` whose
//! `sub` is the citizen's BSN.
//!
//! [`BurgerVerifier`] is built once at start-up from [`AuthConfig`]: an HS256 secret, or a PEM
//! public key whose type fixes the algorithm (RSA → RS256, EC P-256 → ES256). Exactly that one
//! algorithm is accepted, so a token cannot choose its own: not `none`, and not HS256 signed
//! with the public key as its secret. A token passes when its signature holds, its `exp`
//! (required) and `nbf` (when present) allow now within the leeway, its `iss` and `aud` are the
//! configured ones (when configured) and its `sub` passes the elfproef. Every refusal is a 401
//! problem+json whose detail names the reason.
//!
//! Must not: read files or do any other I/O per request (the key is parsed once, here, at
//! start-up), or log a token or a BSN.

use std::fmt;
use std::path::Path;

use actix_web::HttpRequest;
use berichtenbox_actors::core::bsn::is_valid_bsn;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::problem::ApiError;
use crate::config::{AuthConfig, ConfigError, MIN_BURGER_JWT_SECRET_BYTES};

/// The smallest RSA modulus accepted, in bits; the largest is the `rsa` crate's 4096.
const MIN_RSA_BITS: usize = 2048;

/// A burgerservicenummer that passed the elfproef, taken from a verified token.
///
/// Its `Debug` does not show the number: a BSN is personal data and stays out of logs.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Bsn(String);

impl Bsn {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for Bsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bsn(<redacted>)")
    }
}

/// Checks citizens' tokens against the configured key; built once, shared by every worker.
#[derive(Debug)]
pub struct BurgerVerifier {
    key: DecodingKey,
    algorithm: Algorithm,
    validation: Validation,
}

/// The claims the engine reads; `exp`, `nbf`, `iss` and `aud` are checked by `jsonwebtoken`.
/// `sub` is taken as any JSON value so that a `sub` of the wrong type is refused by the same
/// check, with the same reason, as a missing or invalid one (`jsonwebtoken` reads these
/// claims before it validates).
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: serde_json::Value,
}

impl BurgerVerifier {
    /// The verifier the configuration asks for: the public key file when set, else the secret,
    /// else `None` (citizen authentication not configured). A key file that cannot be read or
    /// is not an RSA (2048 to 4096 bits) or EC P-256 public key is a configuration error.
    pub fn from_config(auth: &AuthConfig) -> Result<Option<Self>, ConfigError> {
        let (key, algorithm) = if !auth.burger_jwt_public_key_file.as_os_str().is_empty() {
            read_public_key(&auth.burger_jwt_public_key_file)?
        } else if !auth.burger_jwt_secret.is_empty() {
            if auth.burger_jwt_secret.len() < MIN_BURGER_JWT_SECRET_BYTES {
                return Err(ConfigError::Invalid(format!(
                    "auth.burger_jwt_secret must be at least {MIN_BURGER_JWT_SECRET_BYTES} bytes"
                )));
            }
            (
                DecodingKey::from_secret(auth.burger_jwt_secret.as_bytes()),
                Algorithm::HS256,
            )
        } else {
            return Ok(None);
        };
        Ok(Some(Self::new(auth, key, algorithm)))
    }

    /// The verifier of `key` for `algorithm`, with the claims `auth` asks for.
    pub(crate) fn new(auth: &AuthConfig, key: DecodingKey, algorithm: Algorithm) -> Self {
        let mut validation = Validation::new(algorithm);
        validation.leeway = auth.burger_jwt_leeway_seconds;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        if !auth.burger_jwt_issuer.is_empty() {
            validation.set_issuer(&[&auth.burger_jwt_issuer]);
            required.push("iss");
        }
        if auth.burger_jwt_audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&[&auth.burger_jwt_audience]);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        Self {
            key,
            algorithm,
            validation,
        }
    }

    /// The one algorithm this verifier accepts.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The citizen a token (without `Bearer `) names, or a 401 saying why not. No I/O.
    pub fn verify(&self, token: &str) -> Result<Bsn, ApiError> {
        self.verify_or_guess(token).map_err(|(error, _)| error)
    }

    /// As [`Self::verify`], and whether a refusal may be a guess: `false` when the signature
    /// held and only the claims were refused (expired, not yet valid, iss, aud, sub), which
    /// only the holder of the signing key can make.
    pub fn verify_or_guess(&self, token: &str) -> Result<Bsn, (ApiError, bool)> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|error| (refusal(error.kind()), is_guess(error.kind())))?;
        match data.claims.sub {
            serde_json::Value::String(sub) if is_valid_bsn(&sub) => Ok(Bsn(sub)),
            _ => {
                tracing::debug!("citizen token refused: sub is not a valid bsn");
                Err((
                    ApiError::Unauthorized("Het token bevat geen geldig BSN (sub)."),
                    false,
                ))
            }
        }
    }
}

/// The calling citizen: 401 when citizen authentication is not configured, or without a valid
/// bearer token.
pub fn burger(request: &HttpRequest, verifier: Option<&BurgerVerifier>) -> Result<Bsn, ApiError> {
    let verifier = verifier.ok_or(ApiError::Unauthorized(
        "Burgerauthenticatie is in deze engine niet geconfigureerd.",
    ))?;
    verifier.verify(super::auth::bearer(request)?)
}

/// Whether a refused token may be a guess: everything but the refusals `jsonwebtoken` makes
/// after the signature held (it checks the signature before it reads or validates claims).
fn is_guess(kind: &ErrorKind) -> bool {
    !matches!(
        kind,
        ErrorKind::ExpiredSignature
            | ErrorKind::ImmatureSignature
            | ErrorKind::InvalidIssuer
            | ErrorKind::InvalidAudience
            | ErrorKind::InvalidSubject
            | ErrorKind::MissingRequiredClaim(_)
            | ErrorKind::InvalidClaimFormat(_)
    )
}

fn refusal(kind: &ErrorKind) -> ApiError {
    tracing::debug!(reason = ?kind, "citizen token refused");
    ApiError::Unauthorized(match kind {
        ErrorKind::ExpiredSignature => "Het token is verlopen (exp).",
        ErrorKind::ImmatureSignature => "Het token is nog niet geldig (nbf).",
        ErrorKind::InvalidIssuer => "Het token komt niet van de verwachte uitgever (iss).",
        ErrorKind::InvalidAudience => "Het token is niet voor deze engine bestemd (aud).",
        ErrorKind::InvalidAlgorithm => {
            "Het token is met een niet toegestaan algoritme ondertekend."
        }
        ErrorKind::InvalidSignature => "De handtekening van het token klopt niet.",
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "exp" => "Het token heeft geen geldige vervaltijd (exp).",
            "sub" => "Het token bevat geen geldig BSN (sub).",
            "iss" => "Het token noemt geen uitgever (iss).",
            "aud" => "Het token noemt geen ontvanger (aud).",
            _ => "Het token mist een verplichte claim.",
        },
        ErrorKind::InvalidClaimFormat(_) => "Het token bevat een claim van de verkeerde vorm.",
        _ => "Het token is geen geldig JWT.",
    })
}

fn read_public_key(path: &Path) -> Result<(DecodingKey, Algorithm), ConfigError> {
    let pem = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    public_key_from_pem(&pem).map_err(|reason| {
        ConfigError::Invalid(format!(
            "auth.burger_jwt_public_key_file {}: {reason}",
            path.display()
        ))
    })
}

/// The key and its algorithm, parsed strictly: the point must lie on P-256, the RSA modulus
/// must have 2048 to 4096 bits.
pub(crate) fn public_key_from_pem(pem: &str) -> Result<(DecodingKey, Algorithm), String> {
    use p256::elliptic_curve::sec1::ToEncodedPoint as _;
    use rsa::pkcs1::DecodeRsaPublicKey as _;
    use rsa::pkcs8::DecodePublicKey as _;
    use rsa::traits::PublicKeyParts as _;

    if pem.contains("PRIVATE KEY-----") {
        return Err("holds a private key; configure the public key".to_owned());
    }
    if let Ok(key) = p256::PublicKey::from_public_key_pem(pem) {
        let point = key.to_encoded_point(false);
        return Ok((DecodingKey::from_ec_der(point.as_bytes()), Algorithm::ES256));
    }
    let rsa_key = rsa::RsaPublicKey::from_public_key_pem(pem)
        .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(pem));
    if let Ok(key) = rsa_key {
        let bits = key.n().bits();
        if bits < MIN_RSA_BITS {
            return Err(format!(
                "the rsa key has {bits} bits; at least {MIN_RSA_BITS} are required"
            ));
        }
        let key =
            DecodingKey::from_rsa_raw_components(&key.n().to_bytes_be(), &key.e().to_bytes_be());
        return Ok((key, Algorithm::RS256));
    }
    Err("not a pem public key of type rsa (2048 to 4096 bits) or ec p-256".to_owned())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use actix_web::http::header;

    use actix_web::ResponseError as _;
    use actix_web::test::TestRequest;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
    use serde_json::{Value, json};

    use super::*;

    const SECRET: &str = "een-geheim-van-minstens-32-bytes-lang";
    const BSN: &str = "999993653";

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/burger_jwt")
            .join(name)
    }

    fn fixture_bytes(name: &str) -> Vec<u8> {
        std::fs::read(fixture(name)).expect("fixture")
    }

    fn now() -> u64 {
        get_current_timestamp()
    }

    fn valid_claims() -> Value {
        json!({ "sub": BSN, "exp": now() + 300 })
    }

    fn with(mut claims: Value, field: &str, value: Value) -> Value {
        claims[field] = value;
        claims
    }

    fn without(mut claims: Value, field: &str) -> Value {
        claims.as_object_mut().expect("object").remove(field);
        claims
    }

    fn sign(algorithm: Algorithm, key: &EncodingKey, claims: &Value) -> String {
        encode(&Header::new(algorithm), claims, key).expect("signs")
    }

    fn hs256(claims: &Value) -> String {
        sign(
            Algorithm::HS256,
            &EncodingKey::from_secret(SECRET.as_bytes()),
            claims,
        )
    }

    fn es256(claims: &Value) -> String {
        let key = EncodingKey::from_ec_pem(&fixture_bytes("ec-p256-private.pem")).expect("key");
        sign(Algorithm::ES256, &key, claims)
    }

    fn rs256(claims: &Value) -> String {
        let key = EncodingKey::from_rsa_pem(&fixture_bytes("rsa-2048-private.pem")).expect("key");
        sign(Algorithm::RS256, &key, claims)
    }

    fn secret_config() -> AuthConfig {
        AuthConfig {
            burger_jwt_secret: SECRET.to_owned(),
            ..AuthConfig::default()
        }
    }

    fn key_config(name: &str) -> AuthConfig {
        AuthConfig {
            burger_jwt_public_key_file: fixture(name),
            ..AuthConfig::default()
        }
    }

    fn verifier(auth: &AuthConfig) -> BurgerVerifier {
        BurgerVerifier::from_config(auth)
            .expect("valid configuration")
            .expect("configured")
    }

    /// The detail of the 401 a refused token gets; panics when the token is accepted.
    fn refused(result: Result<Bsn, ApiError>) -> &'static str {
        match result {
            Ok(_) => panic!("the token was accepted"),
            Err(ApiError::Unauthorized(detail)) => detail,
            Err(other) => panic!("not a 401: {other:?}"),
        }
    }

    #[test]
    fn hs256_token_names_the_citizen() {
        let verifier = verifier(&secret_config());
        assert_eq!(verifier.algorithm(), Algorithm::HS256);
        let bsn = verifier.verify(&hs256(&valid_claims())).expect("accepted");
        assert_eq!(bsn.as_str(), BSN);
    }

    #[test]
    fn es256_token_names_the_citizen() {
        let verifier = verifier(&key_config("ec-p256-public.pem"));
        assert_eq!(verifier.algorithm(), Algorithm::ES256);
        let bsn = verifier.verify(&es256(&valid_claims())).expect("accepted");
        assert_eq!(bsn.into_string(), BSN);
    }

    #[test]
    fn rs256_token_names_the_citizen() {
        let verifier = verifier(&key_config("rsa-2048-public.pem"));
        assert_eq!(verifier.algorithm(), Algorithm::RS256);
        let bsn = verifier.verify(&rs256(&valid_claims())).expect("accepted");
        assert_eq!(bsn.as_str(), BSN);
    }

    #[test]
    fn a_pkcs1_rsa_public_key_is_accepted_too() {
        use rsa::pkcs1::{EncodeRsaPublicKey as _, LineEnding};
        use rsa::pkcs8::DecodePublicKey as _;
        let spki = std::fs::read_to_string(fixture("rsa-2048-public.pem")).expect("fixture");
        let key = rsa::RsaPublicKey::from_public_key_pem(&spki).expect("parses");
        let pkcs1 = key.to_pkcs1_pem(LineEnding::LF).expect("encodes");
        assert!(pkcs1.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pkcs1.pem");
        std::fs::write(&path, pkcs1).expect("write");
        let verifier = verifier(&AuthConfig {
            burger_jwt_public_key_file: path,
            ..AuthConfig::default()
        });
        assert_eq!(
            verifier
                .verify(&rs256(&valid_claims()))
                .expect("accepted")
                .as_str(),
            BSN
        );
    }

    #[test]
    fn nothing_configured_means_no_verifier_and_401() {
        assert!(
            BurgerVerifier::from_config(&AuthConfig::default())
                .expect("valid")
                .is_none()
        );
        let request = TestRequest::default()
            .insert_header((
                header::AUTHORIZATION,
                format!("Bearer {}", hs256(&valid_claims())),
            ))
            .to_http_request();
        let error = burger(&request, None).expect_err("refused");
        assert!(error.to_string().contains("niet geconfigureerd"), "{error}");
        let response = error.error_response();
        assert_eq!(response.status(), actix_web::http::StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).expect("type"),
            "application/problem+json"
        );
    }

    #[test]
    fn burger_reads_the_bearer_header() {
        let verifier = verifier(&secret_config());
        let token = hs256(&valid_claims());
        let request = TestRequest::default()
            .insert_header((header::AUTHORIZATION, format!("bearer  {token} ")))
            .to_http_request();
        assert_eq!(
            burger(&request, Some(&verifier))
                .expect("accepted")
                .as_str(),
            BSN
        );

        let missing = TestRequest::default().to_http_request();
        assert!(refused(burger(&missing, Some(&verifier))).contains("bearer-token"));
        for value in [format!("Basic {token}"), "Bearer ".to_owned(), token] {
            let request = TestRequest::default()
                .insert_header((header::AUTHORIZATION, value))
                .to_http_request();
            assert!(refused(burger(&request, Some(&verifier))).contains("'Bearer <token>'"));
        }
        let garbage = TestRequest::default()
            .insert_header((header::AUTHORIZATION, "Bearer not.a.jwt"))
            .to_http_request();
        assert!(refused(burger(&garbage, Some(&verifier))).contains("geen geldig JWT"));
    }

    #[test]
    fn a_wrong_signature_is_refused() {
        let verifier = verifier(&secret_config());
        let other = EncodingKey::from_secret(b"een-ander-geheim-van-minstens-32-bytes");
        let token = sign(Algorithm::HS256, &other, &valid_claims());
        assert!(refused(verifier.verify(&token)).contains("handtekening"));

        // A payload changed after signing: another citizen's BSN under the first signature.
        let token = hs256(&valid_claims());
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&with(valid_claims(), "sub", json!("111222333"))).expect("json"),
        );
        parts[1] = &forged;
        assert!(refused(verifier.verify(&parts.join("."))).contains("handtekening"));

        let verifier = verifier_for_ec();
        let mut token = es256(&valid_claims());
        token.truncate(token.len() - 4);
        token.push_str("AAAA");
        refused(verifier.verify(&token));
    }

    fn verifier_for_ec() -> BurgerVerifier {
        verifier(&key_config("ec-p256-public.pem"))
    }

    #[test]
    fn expiry_is_required_and_enforced() {
        let verifier = verifier(&secret_config());
        let expired = with(valid_claims(), "exp", json!(now() - 3600));
        assert!(refused(verifier.verify(&hs256(&expired))).contains("verlopen"));
        let no_exp = without(valid_claims(), "exp");
        assert!(refused(verifier.verify(&hs256(&no_exp))).contains("(exp)"));
        let text_exp = with(valid_claims(), "exp", json!("9999999999"));
        refused(verifier.verify(&hs256(&text_exp)));
        // Within the 30 seconds of leeway a just expired token still passes.
        let just_expired = with(valid_claims(), "exp", json!(now() - 5));
        verifier
            .verify(&hs256(&just_expired))
            .expect("within leeway");
    }

    #[test]
    fn not_before_is_enforced_when_present() {
        let verifier = verifier(&secret_config());
        let future = with(valid_claims(), "nbf", json!(now() + 3600));
        assert!(refused(verifier.verify(&hs256(&future))).contains("nog niet geldig"));
        let past = with(valid_claims(), "nbf", json!(now() - 60));
        verifier.verify(&hs256(&past)).expect("already valid");
    }

    #[test]
    fn sub_must_be_a_valid_bsn() {
        let verifier = verifier(&secret_config());
        for sub in [
            json!("999993654"),
            json!("12345678"),
            json!(999993653),
            json!(null),
        ] {
            let claims = with(valid_claims(), "sub", sub.clone());
            let detail = refused(verifier.verify(&hs256(&claims)));
            assert!(detail.contains("BSN"), "{sub}: {detail}");
        }
        let detail = refused(verifier.verify(&hs256(&without(valid_claims(), "sub"))));
        assert!(detail.contains("BSN"), "{detail}");
        // `jsonwebtoken` cannot read these claims at all: refused as no valid JWT.
        for sub in [json!(["999993653"]), json!({ "bsn": "999993653" })] {
            refused(verifier.verify(&hs256(&with(valid_claims(), "sub", sub))));
        }
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let auth = AuthConfig {
            burger_jwt_issuer: "https://mijn.overheid.nl".to_owned(),
            burger_jwt_audience: "berichtenbox".to_owned(),
            ..secret_config()
        };
        let verifier = verifier(&auth);
        let good = with(
            with(valid_claims(), "iss", json!("https://mijn.overheid.nl")),
            "aud",
            json!("berichtenbox"),
        );
        verifier.verify(&hs256(&good)).expect("accepted");
        let listed = with(good.clone(), "aud", json!(["iets-anders", "berichtenbox"]));
        verifier
            .verify(&hs256(&listed))
            .expect("one of the audiences");

        let cases = [
            (
                with(good.clone(), "iss", json!("https://elders.nl")),
                "(iss)",
            ),
            (with(good.clone(), "iss", json!(42)), "(iss)"),
            (without(good.clone(), "iss"), "(iss)"),
            (with(good.clone(), "aud", json!("iets-anders")), "(aud)"),
            (with(good.clone(), "aud", json!(["iets-anders"])), "(aud)"),
            (with(good.clone(), "aud", json!(7)), "(aud)"),
            (without(good.clone(), "aud"), "(aud)"),
        ];
        for (claims, reason) in cases {
            let detail = refused(verifier.verify(&hs256(&claims)));
            assert!(detail.contains(reason), "{claims}: {detail}");
        }

        // Not configured: neither is checked.
        let verifier = self::verifier(&secret_config());
        let other = with(
            with(valid_claims(), "iss", json!("https://elders.nl")),
            "aud",
            json!("iets-anders"),
        );
        verifier.verify(&hs256(&other)).expect("not checked");
    }

    #[test]
    fn only_the_configured_algorithm_is_accepted() {
        let verifier = verifier(&secret_config());
        let hs512 = sign(
            Algorithm::HS512,
            &EncodingKey::from_secret(SECRET.as_bytes()),
            &valid_claims(),
        );
        assert!(refused(verifier.verify(&hs512)).contains("algoritme"));
        assert!(refused(verifier.verify(&es256(&valid_claims()))).contains("algoritme"));

        // alg "none": no signature at all.
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&valid_claims()).expect("json"));
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            refused(verifier.verify(&token));
        }

        let rsa = self::verifier(&key_config("rsa-2048-public.pem"));
        assert!(refused(rsa.verify(&es256(&valid_claims()))).contains("algoritme"));
        let ec = verifier_for_ec();
        assert!(refused(ec.verify(&rs256(&valid_claims()))).contains("algoritme"));
    }

    #[test]
    fn hs256_signed_with_the_public_key_is_refused() {
        // The classic confusion: the attacker knows the public key and uses its bytes as an
        // HMAC secret, hoping the verifier takes the token's own `alg`.
        for name in ["rsa-2048-public.pem", "ec-p256-public.pem"] {
            let verifier = verifier(&key_config(name));
            let public_key = fixture_bytes(name);
            let forged = sign(
                Algorithm::HS256,
                &EncodingKey::from_secret(&public_key),
                &valid_claims(),
            );
            assert!(
                refused(verifier.verify(&forged)).contains("algoritme"),
                "{name}"
            );
        }
    }

    #[test]
    fn the_public_key_wins_over_the_secret() {
        let auth = AuthConfig {
            burger_jwt_public_key_file: fixture("ec-p256-public.pem"),
            ..secret_config()
        };
        let verifier = verifier(&auth);
        assert_eq!(verifier.algorithm(), Algorithm::ES256);
        verifier.verify(&es256(&valid_claims())).expect("accepted");
        refused(verifier.verify(&hs256(&valid_claims())));
    }

    #[test]
    fn a_bad_key_file_is_a_configuration_error() {
        let missing = key_config("does-not-exist.pem");
        assert!(matches!(
            BurgerVerifier::from_config(&missing),
            Err(ConfigError::Read { .. })
        ));

        let dir = tempfile::tempdir().expect("tempdir");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n",
        )
        .expect("write");
        let cases = [
            (garbage, "not a pem public key"),
            (fixture("ec-p384-public.pem"), "not a pem public key"),
            (fixture("rsa-1024-public.pem"), "1024 bits"),
            (fixture("ec-p256-private.pem"), "private key"),
        ];
        for (path, reason) in cases {
            let auth = AuthConfig {
                burger_jwt_public_key_file: path.clone(),
                ..AuthConfig::default()
            };
            match BurgerVerifier::from_config(&auth) {
                Err(ConfigError::Invalid(message)) => {
                    assert!(message.contains(reason), "{}: {message}", path.display());
                }
                other => panic!("{}: {other:?}", path.display()),
            }
        }
    }

    #[test]
    fn a_short_secret_is_a_configuration_error() {
        let auth = AuthConfig {
            burger_jwt_secret: "kort".to_owned(),
            ..AuthConfig::default()
        };
        assert!(matches!(
            BurgerVerifier::from_config(&auth),
            Err(ConfigError::Invalid(_))
        ));
    }

    #[test]
    fn a_bsn_does_not_show_in_debug_output() {
        let verifier = verifier(&secret_config());
        let bsn = verifier.verify(&hs256(&valid_claims())).expect("accepted");
        assert!(!format!("{bsn:?}").contains(BSN));
        assert!(!format!("{verifier:?}").contains(SECRET));
    }
}
