//! The operator's endpoints: register afnemers, and issue, list and revoke their API keys.
//! A key is shown once, when it is made; afterwards only its id, its creation and its last
//! use are shown (never the key or its hash).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use berichtenbox_actors::core::address::is_public;
use berichtenbox_actors::core::rules;
use berichtenbox_actors::store::AfnemerRecord;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};

use super::problem::{ApiError, InvalidParam};
use super::{AppState, auth, body};

/// Bodies of the catalog endpoints are small; anything larger is not one of them.
pub const SMALL_BODY_BYTES: usize = 64 * 1024;
const MAX_RATE: u32 = 1_000_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AfnemerJson {
    naam: Option<String>,
    berichten_per_seconde: Option<u32>,
    burst: Option<u32>,
    /// Left out: `None` (keep, or none on creation); `null`: `Some(None)` (remove).
    #[serde(default, deserialize_with = "present")]
    webhook_url: Option<Option<String>>,
    actief: Option<bool>,
}

/// Tells a field that is present, even as `null`, from one left out (`#[serde(default)]`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AfnemerView {
    oin: String,
    naam: String,
    berichten_per_seconde: u32,
    burst: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_url: Option<String>,
    actief: bool,
}

impl From<AfnemerRecord> for AfnemerView {
    fn from(record: AfnemerRecord) -> Self {
        Self {
            oin: record.oin,
            naam: record.naam,
            berichten_per_seconde: record.berichten_per_seconde,
            burst: record.burst,
            webhook_url: record.webhook_url,
            actief: record.actief,
        }
    }
}

/// A `webhookUrl`: `https` (or `http` with `allow_private`), a host, at most 2048 characters,
/// no whitespace or control characters; a host that is an IP address must be a public one
/// (unless `allow_private`). A name is not resolved here: the webhook client refuses, at connect
/// time, a name that resolves to no public address (API.md, "Operators").
fn webhook_url(value: &str, allow_private: bool) -> Result<(), &'static str> {
    const SCHEME: &str = "moet een https-URL zijn";
    if value.len() > 2048 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(SCHEME);
    }
    let rest = match value.strip_prefix("https://") {
        Some(rest) => rest,
        None if allow_private => value.strip_prefix("http://").ok_or(SCHEME)?,
        None => return Err(SCHEME),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = match host_port.strip_prefix('[') {
        Some(bracketed) => {
            let inner = bracketed.split(']').next().unwrap_or("");
            let ip: Ipv6Addr = inner.parse().map_err(|_| SCHEME)?;
            Some(IpAddr::V6(ip))
        }
        None => {
            let name = host_port.split(':').next().unwrap_or("");
            if name.is_empty() {
                return Err(SCHEME);
            }
            match name.parse::<Ipv4Addr>() {
                Ok(ip) => Some(IpAddr::V4(ip)),
                // A URL parser reads a host whose last label is a number as an IPv4 address
                // in another notation (2130706433, 0x7f.1): only the dotted one is accepted.
                Err(_) if numeric_last_label(name) => return Err(SCHEME),
                Err(_) => None,
            }
        }
    };
    match host {
        Some(ip) if !allow_private && !is_public(ip) => Err("moet een publiek adres zijn"),
        _ => Ok(()),
    }
}

fn numeric_last_label(name: &str) -> bool {
    let last = name.trim_end_matches('.').rsplit('.').next().unwrap_or("");
    let hex = last.strip_prefix("0x").or_else(|| last.strip_prefix("0X"));
    match hex {
        Some(digits) => digits.chars().all(|c| c.is_ascii_hexdigit()),
        None => !last.is_empty() && last.chars().all(|c| c.is_ascii_digit()),
    }
}

pub async fn put_afnemer(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth::beheer(&request, &state)?;
    let json: AfnemerJson = body::small_json(&request, payload, &state).await?;
    let oin = path.into_inner();
    let defaults = &state.config.afnemers;
    // On an update a field left out keeps its stored value; on creation it takes its default.
    let stored = state.catalog.afnemer(&oin);

    let mut invalid = Vec::new();
    if let Err(reason) = rules::oin(&oin) {
        invalid.push(InvalidParam::new("oin", reason));
    }
    match json.naam.as_deref() {
        None => invalid.push(InvalidParam::new("naam", "is verplicht")),
        Some(naam) => {
            if let Err(reason) = rules::text(naam, 1, rules::MAX_NAAM_CHARS) {
                invalid.push(InvalidParam::new("naam", reason));
            }
        }
    }
    let berichten_per_seconde = json.berichten_per_seconde.unwrap_or(
        stored
            .as_ref()
            .map_or(defaults.berichten_per_seconde, |a| a.berichten_per_seconde),
    );
    if !(1..=MAX_RATE).contains(&berichten_per_seconde) {
        invalid.push(InvalidParam::new(
            "berichtenPerSeconde",
            format!("moet 1 tot {MAX_RATE} zijn"),
        ));
    }
    let burst = json
        .burst
        .unwrap_or(stored.as_ref().map_or(defaults.burst, |a| a.burst));
    if !(1..=MAX_RATE).contains(&burst) {
        invalid.push(InvalidParam::new(
            "burst",
            format!("moet 1 tot {MAX_RATE} zijn"),
        ));
    }
    if let Some(Err(reason)) = json
        .webhook_url
        .clone()
        .flatten()
        .as_deref()
        .map(|url| webhook_url(url, state.config.webhooks.allow_private_addresses))
    {
        invalid.push(InvalidParam::new("webhookUrl", reason));
    }
    if !invalid.is_empty() {
        return Err(ApiError::invalid(invalid));
    }

    let record = AfnemerRecord {
        oin,
        naam: json.naam.unwrap_or_default(),
        berichten_per_seconde,
        burst,
        webhook_url: match json.webhook_url {
            Some(given) => given,
            None => stored.as_ref().and_then(|a| a.webhook_url.clone()),
        },
        actief: json
            .actief
            .unwrap_or(stored.as_ref().is_none_or(|a| a.actief)),
    };
    let catalog = state.catalog.clone();
    let stored = record.clone();
    let created = web::block(move || catalog.put_afnemer(stored)).await??;
    if let Some(rate) = record.rate() {
        state.registry.set_rate(&record.oin, rate);
    }
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(AfnemerView::from(record)))
}

#[derive(Debug, Serialize)]
struct AfnemersView {
    afnemers: Vec<AfnemerView>,
}

pub async fn list_afnemers(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth::beheer(&request, &state)?;
    let afnemers = state
        .catalog
        .afnemers()
        .into_iter()
        .map(AfnemerView::from)
        .collect();
    Ok(HttpResponse::Ok().json(AfnemersView { afnemers }))
}

#[derive(Debug, Serialize)]
struct SleutelView {
    id: String,
    sleutel: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SleutelInfoView {
    id: String,
    aangemaakt_op: String,
    laatst_gebruikt_op: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SleutelsView {
    api_sleutels: Vec<SleutelInfoView>,
}

/// A 404 unless the afnemer is registered.
fn known_afnemer(state: &AppState, oin: &str) -> Result<(), ApiError> {
    match state.catalog.afnemer(oin) {
        Some(_) => Ok(()),
        None => Err(ApiError::NotFound(format!(
            "Er is geen afnemer met OIN {oin}."
        ))),
    }
}

pub async fn create_api_key(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth::beheer(&request, &state)?;
    let oin = path.into_inner();
    known_afnemer(&state, &oin)?;
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let sleutel = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let id = uuid::Uuid::new_v4().to_string();
    let (catalog, now) = (state.catalog.clone(), state.clock.now());
    let (stored, stored_id) = (sleutel.clone(), id.clone());
    web::block(move || catalog.add_api_key(stored_id, &stored, &oin, now)).await??;
    Ok(HttpResponse::Created().json(SleutelView { id, sleutel }))
}

pub async fn list_api_keys(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth::beheer(&request, &state)?;
    let oin = path.into_inner();
    known_afnemer(&state, &oin)?;
    let api_sleutels = state
        .catalog
        .api_keys(&oin)
        .into_iter()
        .map(|key| SleutelInfoView {
            id: key.id,
            aangemaakt_op: key.aangemaakt_op.to_string(),
            laatst_gebruikt_op: key.laatst_gebruikt_op.map(|at| at.to_string()),
        })
        .collect();
    Ok(HttpResponse::Ok().json(SleutelsView { api_sleutels }))
}

pub async fn revoke_api_key(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    auth::beheer(&request, &state)?;
    let (oin, id) = path.into_inner();
    known_afnemer(&state, &oin)?;
    let catalog = state.catalog.clone();
    let revoke_id = id.clone();
    if web::block(move || catalog.revoke_api_key(&oin, &revoke_id)).await?? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound(format!(
            "Deze afnemer heeft geen API-sleutel met id {id}."
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::webhook_url;

    #[test]
    fn a_webhook_url_is_https_to_a_name_or_a_public_address() {
        for ok in [
            "https://example.org/hook",
            "https://example.org:8443/hook?x=1",
            "https://user@example.org/",
            "https://93.184.215.14/hook",
            "https://[2606:4700::1111]/hook",
            "https://localhost/",
        ] {
            assert_eq!(webhook_url(ok, false), Ok(()), "{ok}");
        }
        for refused in [
            "http://example.org/hook",
            "ftp://example.org/",
            "https:///hook",
            "https://127.0.0.1/hook",
            "https://10.0.0.1/hook",
            "https://169.254.169.254/latest",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[fd00::1]/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://\u{101}\u{fd}\u{f}.example/",
            "https://example.org/\u{7f}",
            "https://exa mple.org/",
        ] {
            assert!(webhook_url(refused, false).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn allow_private_addresses_lifts_the_scheme_and_address_rules_only() {
        for ok in [
            "http://127.0.0.1:8080/hook",
            "https://10.0.0.1/",
            "https://[::1]/",
        ] {
            assert_eq!(webhook_url(ok, true), Ok(()), "{ok}");
        }
        for refused in ["ftp://example.org/", "http://ex\u{f}ample.org/", "http:///"] {
            assert!(webhook_url(refused, true).is_err(), "{refused:?}");
        }
    }
}
