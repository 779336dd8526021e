//! Who is calling: an afnemer by its API key, or the operator by the beheer token.
//!
//! Both arrive as `Authorization: Bearer <token>`. An afnemer's key is looked up by its SHA-256
//! in the in-memory catalog; the operator's token is compared by digest, so the comparison's
//! timing says nothing about the token.

use actix_web::HttpRequest;
use actix_web::http::header;
use berichtenbox_actors::catalog::hash_api_key;
use berichtenbox_actors::store::AfnemerRecord;

use super::AppState;
use super::problem::ApiError;

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

/// The calling afnemer: 401 without a known key, 403 when the afnemer is not active.
pub fn afnemer(request: &HttpRequest, state: &AppState) -> Result<AfnemerRecord, ApiError> {
    let key = bearer(request)?;
    let unknown = ApiError::Unauthorized("Onbekende API-sleutel.");
    let oin = state
        .catalog
        .oin_for_key(key, state.clock.now())
        .ok_or(unknown)?;
    let afnemer = state
        .catalog
        .afnemer(&oin)
        .ok_or(ApiError::Unauthorized("Onbekende API-sleutel."))?;
    if !afnemer.actief {
        return Err(ApiError::Forbidden("Deze afnemer is niet actief."));
    }
    Ok(afnemer)
}

/// The operator: 401 unless the bearer token is the configured beheer token.
pub fn beheer(request: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let token = bearer(request)?;
    let configured = &state.config.auth.beheer_token;
    if configured.is_empty() || hash_api_key(token) != hash_api_key(configured) {
        return Err(ApiError::Unauthorized("Onbekend beheer-token."));
    }
    Ok(())
}
