//! Who is calling: an afnemer by its verified client certificate (`crate::tls`: the OIN in its
//! subject) or its API key, or the operator by the beheer token.
//!
//! Keys and tokens arrive as `Authorization: Bearer <token>`. An afnemer's key is looked up by its SHA-256
//! in the in-memory catalog; the operator's token is compared by digest, so the comparison's
//! timing says nothing about the token. A citizen by his JWT ([`citizen`], checked by
//! [`super::burger`]).
//!
//! Two limits sit here ([`super::limits`]): failed authentication per client address (an
//! address over it is answered 429 before its credentials are checked, valid or not, so a guess
//! there tells nothing; valid credentials never count, and no other address is slowed), and
//! each citizen's calls by his BSN.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header;
use berichtenbox_actors::catalog::hash_api_key;
use berichtenbox_actors::core::throttle::retry_after_seconds;
use berichtenbox_actors::store::AfnemerRecord;

use super::AppState;
use super::burger::Bsn;
use super::limits::address_key;
use super::problem::ApiError;
use crate::tls::ClientCertificate;

/// The address failed authentication is counted under: the connection's peer (forwarded
/// headers are not trusted), IPv6 by its /64.
fn client(request: &HttpRequest) -> Option<IpAddr> {
    request.peer_addr().map(|peer| address_key(peer.ip()))
}

/// 429 when the client's address is over its failures; checks nothing else.
fn not_over_failures(client: Option<IpAddr>, state: &AppState) -> Result<(), ApiError> {
    let Some(client) = client else {
        return Ok(());
    };
    state
        .auth_failures
        .check(&client, state.clock.monotonic_nanos())
        .map_err(|wait| ApiError::TooManyRequests {
            detail: "Te veel mislukte aanmeldingen vanaf dit adres; probeer het later opnieuw."
                .into(),
            retry_after_seconds: retry_after_seconds(wait),
        })
}

/// Counts one failed authentication against the client's address.
fn failed(client: Option<IpAddr>, state: &AppState) {
    if let Some(client) = client {
        // Over the limit already: nothing more to count (the next request is refused anyway).
        let _ = state
            .auth_failures
            .take(&client, state.clock.monotonic_nanos());
    }
}

/// The token of an `Authorization: Bearer <token>` header: 401 when absent or malformed.
pub(super) fn bearer(request: &HttpRequest) -> Result<&str, ApiError> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized(
            "Deze aanvraag vraagt om een bearer-token (Authorization: Bearer ...).",
        ))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("De Authorization-header is onleesbaar."))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(ApiError::Unauthorized(
            "De Authorization-header moet de vorm 'Bearer <token>' hebben.",
        )),
    }
}

/// The calling afnemer: by the verified client certificate of the connection when it has one
/// (its OIN decides, and a bearer key sent along is not looked at), else by its API key.
/// 401 without a known OIN or key, or for a key when `tls.api_keys = false`; 403 when the
/// afnemer is not active; 429 when a key's client address is over its failed authentications
/// (a certificate cannot be guessed, so it is never slowed).
pub fn afnemer(request: &HttpRequest, state: &AppState) -> Result<AfnemerRecord, ApiError> {
    if let Some(certificate) = request.conn_data::<ClientCertificate>() {
        let oin = certificate.oin.as_deref().ok_or(ApiError::Unauthorized(
            "Het clientcertificaat draagt geen OIN (serialNumber van 20 cijfers).",
        ))?;
        let afnemer = state.catalog.afnemer(oin).ok_or(ApiError::Unauthorized(
            "Het OIN van het clientcertificaat is geen bekende afnemer.",
        ))?;
        return active(afnemer);
    }
    if !state.config.tls.api_keys {
        return Err(ApiError::Unauthorized(
            "API-sleutels zijn uitgeschakeld: meld u aan met uw PKIoverheid-certificaat.",
        ));
    }
    let key = bearer(request)?;
    let client = client(request);
    not_over_failures(client, state)?;
    let known = state
        .catalog
        .oin_for_key(key, state.clock.now())
        .and_then(|oin| state.catalog.afnemer(&oin));
    let Some(afnemer) = known else {
        failed(client, state);
        return Err(ApiError::Unauthorized("Onbekende API-sleutel."));
    };
    active(afnemer)
}

/// The afnemer an API key typed into the Leveranciersportaal's sign-in form opens, with the
/// key's id: the same rules as a bearer key on the API (401 for an unknown key or with
/// `tls.api_keys = false`, 403 for an inactive afnemer, 429 when the client's address is over
/// its failed authentications, and an unknown key counts as one).
pub fn afnemer_by_key(
    request: &HttpRequest,
    state: &AppState,
    key: &str,
) -> Result<(AfnemerRecord, String), ApiError> {
    if !state.config.tls.api_keys {
        return Err(ApiError::Unauthorized(
            "API-sleutels zijn uitgeschakeld: meld u aan met uw PKIoverheid-certificaat.",
        ));
    }
    let client = client(request);
    not_over_failures(client, state)?;
    let known = state
        .catalog
        .key_owner(key.trim(), state.clock.now())
        .and_then(|(oin, id)| Some((state.catalog.afnemer(&oin)?, id)));
    let Some((afnemer, id)) = known else {
        failed(client, state);
        return Err(ApiError::Unauthorized("Deze API-sleutel is niet bekend."));
    };
    Ok((active(afnemer)?, id))
}

fn active(afnemer: AfnemerRecord) -> Result<AfnemerRecord, ApiError> {
    if !afnemer.actief {
        return Err(ApiError::Forbidden("Deze afnemer is niet actief."));
    }
    Ok(afnemer)
}

/// The operator: 401 unless the bearer token is the configured beheer token.
/// 429 when the client's address is over its failed authentications.
pub fn beheer(request: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let token = bearer(request)?;
    let client = client(request);
    not_over_failures(client, state)?;
    let configured = &state.config.auth.beheer_token;
    if configured.is_empty() || hash_api_key(token) != hash_api_key(configured) {
        failed(client, state);
        return Err(ApiError::Unauthorized("Onbekend beheer-token."));
    }
    Ok(())
}

/// The calling citizen: 401 when citizen authentication is not configured or his token is
/// refused; 429 when the client's address is over its failed authentications, or the citizen
/// over his own rate (`[burgers]`).
pub fn citizen(request: &HttpRequest, state: &AppState) -> Result<Bsn, ApiError> {
    let verifier = state.burger.as_ref().ok_or(ApiError::Unauthorized(
        "Burgerauthenticatie is in deze engine niet geconfigureerd.",
    ))?;
    let token = bearer(request)?;
    let client = client(request);
    not_over_failures(client, state)?;
    let bsn = verifier.verify_or_guess(token).map_err(|(error, guess)| {
        if guess {
            failed(client, state);
        }
        error
    })?;
    state
        .burgers
        .take(&bsn, state.clock.monotonic_nanos())
        .map_err(|wait| ApiError::TooManyRequests {
            detail: "Te veel verzoeken voor deze burger; probeer het zo opnieuw.".into(),
            retry_after_seconds: retry_after_seconds(wait),
        })?;
    Ok(bsn)
}
