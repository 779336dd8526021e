//! The operator's endpoints: register afnemers, and issue, list and revoke their API keys.
//! A key is shown once, when it is made; afterwards only its id, its creation and its last
//! use are shown (never the key or its hash).

use std::net::IpAddr;

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use berichtenbox_actors::core::address::is_public;
use berichtenbox_actors::core::rules;
use berichtenbox_actors::store::AfnemerRecord;
use fluent_uri::component::Host;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};

use super::problem::{ApiError, InvalidParam};
use super::{AppState, auth, body};

/// Bodies of the catalog endpoints are small; anything larger is not one of them.
pub const SMALL_BODY_BYTES: usize = 64 * 1024;
const MAX_RATE: u32 = 1_000_000;
/// The longest `webhookUrl`, in characters (all ASCII: bytes too).
const MAX_WEBHOOK_URL_CHARS: usize = 2048;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AfnemerJson {
    naam: Option<String>,
    #[serde(default, deserialize_with = "body::present")]
    berichten_per_seconde: Option<u32>,
    #[serde(default, deserialize_with = "body::present")]
    burst: Option<u32>,
    /// Left out: `None` (keep, or none on creation); `null`: `Some(None)` (remove).
    #[serde(default, deserialize_with = "body::present")]
    webhook_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "body::present")]
    actief: Option<bool>,
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

/// A `webhookUrl`: a URI as RFC 3986 has it (the document's `format: uri`: ASCII only, so no
/// whitespace or control characters, an internationalised name in its `xn--` form and every
/// `%` followed by two hex digits) of at most 2048 characters, with scheme `https` (or `http`
/// with `allow_private`) and a host. The webhook client reads it as a WHATWG URL (as browsers
/// do); it must read the same host: a name it would take for an IPv4 address in another
/// notation (`2130706433`, `0x7f.1`, `10.0.0.1.`) is refused, and so is a name whose `xn--`
/// labels are not valid IDNA. A host that is an IP address must be a public one (unless
/// `allow_private`). A name is not resolved here: the webhook client refuses, at connect time,
/// a name that resolves to no public address (API.md, "Operators").
fn webhook_url(value: &str, allow_private: bool) -> Result<(), &'static str> {
    const URI: &str = "moet een URI zijn (RFC 3986: alleen ASCII, een internationale \
                       domeinnaam als xn--, andere tekens als %XX)";
    const SCHEME: &str = "moet een https-URL zijn";
    const HOST: &str = "moet een domeinnaam of een IP-adres (a.b.c.d of [IPv6]) als host hebben";
    if value.chars().count() > MAX_WEBHOOK_URL_CHARS {
        return Err("is langer dan 2048 tekens");
    }
    let uri = fluent_uri::Uri::parse(value).map_err(|_| URI)?;
    match uri.scheme().as_str() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(SCHEME),
    }
    let authority = uri.authority().ok_or(HOST)?;
    if authority.host().is_empty() {
        return Err(HOST);
    }
    // What the webhook client will make of it (reqwest parses with the url crate).
    let url = url::Url::parse(value).map_err(|_| URI)?;
    let ip = match (authority.host_parsed(), url.host()) {
        (Host::Ipv4(ip), Some(url::Host::Ipv4(_))) => Some(IpAddr::V4(ip)),
        (Host::Ipv6(ip), Some(url::Host::Ipv6(_))) => Some(IpAddr::V6(ip)),
        (Host::RegName(_), Some(url::Host::Domain(_))) => None,
        // An IPvFuture literal, or two readings of one host.
        _ => return Err(HOST),
    };
    match ip {
        Some(ip) if !allow_private && !is_public(ip) => Err("moet een publiek adres zijn"),
        _ => Ok(()),
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
            "https://xn--bcher-kva.example/",
            "https://ex%61mple.org/h%C3%A9",
            "https://example.org/a;b=c/d:e@f?g=h/i#j",
        ] {
            assert_eq!(webhook_url(ok, false), Ok(()), "{ok}");
        }
        for refused in [
            "http://example.org/hook",
            "ftp://example.org/",
            "HTTPS://example.org/",
            "https:///hook",
            "https:example.org/hook",
            "https://127.0.0.1/hook",
            "https://10.0.0.1/hook",
            "https://169.254.169.254/latest",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[fd00::1]/",
            "https://[v7.future]/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://10.0.0.1./",
            "https://%31%30.0.0.1/",
            "https://example.org:99999/",
        ] {
            assert!(webhook_url(refused, false).is_err(), "{refused:?}");
        }
    }

    /// The document's `format: uri`: what is not an RFC 3986 URI is refused, although a WHATWG
    /// URL parser (a browser, reqwest) would read most of these.
    #[test]
    fn a_webhook_url_is_an_rfc_3986_uri() {
        for refused in [
            // The fuzzer's finding: non-ASCII and a control character in the host.
            "https://\u{101}\u{fd}\u{f}.example/",
            "https://\u{101}\u{fd}.example/",
            "https://b\u{fc}cher.example/",
            "https://example.org/\u{e9}",
            "https://example.org/\u{7f}",
            "https://example.org/\u{85}",
            "https://exa mple.org/",
            "https://example.org/a b",
            "https://example.org/\thook",
            "https://example.org/hook\n",
            " https://example.org/",
            "https://example.org\\hook",
            "https://example.org/a[b]",
            "https://example.org/#a#b",
            "https://example.org/%zz",
            "https://example.org/%",
            "https://exa<mple.org/",
            "https://xn--zz.example/",
        ] {
            assert!(webhook_url(refused, false).is_err(), "{refused:?}");
            assert!(webhook_url(refused, true).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn a_webhook_url_has_at_most_2048_characters() {
        let base = "https://example.org/";
        let longest = format!("{base}{}", "a".repeat(2048 - base.len()));
        assert_eq!(webhook_url(&longest, false), Ok(()));
        assert!(webhook_url(&format!("{longest}a"), false).is_err());
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
        for refused in [
            "ftp://example.org/",
            "http://ex\u{f}ample.org/",
            "http:///",
            "http://2130706433/",
        ] {
            assert!(webhook_url(refused, true).is_err(), "{refused:?}");
        }
    }
}
