//! The citizen's side: his Berichtenbox account, his berichtenvoorkeuren and his berichten.
//!
//! Every call carries the citizen's bearer JWT ([`super::burger`]); he sees only his own box,
//! so another citizen's bericht id is a 404. Berichten are hidden before their
//! `publicatieDatum`. Store calls run on the blocking pool.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use berichtenbox_actors::core::rules;
use std::sync::Arc;

use berichtenbox_actors::store::{
    AccountRecord, BoxEntry, BoxId, Citizens, Parking, VoorkeurRecord,
};
use serde::{Deserialize, Serialize};

use super::paging::{self, Page};
use super::problem::{ApiError, InvalidParam};
use super::{AppState, body};

const DEFAULT_LIMIT: usize = 50;

/// The role this module's handlers use (and [`Parking`] for a bijlage's bytes).
fn citizens(state: &AppState) -> Arc<dyn Citizens> {
    state.store.clone()
}

/// A page of a box and the cursor after it.
type BoxPage = (Vec<BoxEntry>, Option<BoxId>);
const MAX_LIMIT: usize = 500;

fn citizen(request: &HttpRequest, state: &AppState) -> Result<String, ApiError> {
    Ok(super::auth::citizen(request, state)?.into_string())
}

fn no_account() -> ApiError {
    ApiError::NotFound("U heeft (nog) geen Berichtenbox.".into())
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountJson {
    bsn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    notificaties: bool,
    actief: bool,
    geopend_op: String,
}

impl From<&AccountRecord> for AccountJson {
    fn from(a: &AccountRecord) -> Self {
        Self {
            bsn: a.bsn.clone(),
            email: a.email.clone(),
            notificaties: a.notificaties,
            actief: a.actief,
            geopend_op: a.geopend_op.to_string(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenJson {
    #[serde(default, deserialize_with = "body::present")]
    email: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountPatchJson {
    #[serde(default, deserialize_with = "body::present")]
    email: Option<String>,
    #[serde(default, deserialize_with = "body::present")]
    notificaties: Option<bool>,
}

fn check_email(email: Option<&str>) -> Result<(), ApiError> {
    match email.map(rules::email) {
        Some(Err(reason)) => Err(ApiError::invalid(vec![InvalidParam::new("email", reason)])),
        _ => Ok(()),
    }
}

/// `POST /v1/account`: opens a box (or opens a closed one again).
pub async fn open(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let bsn = citizen(&request, &state)?;
    let json: OpenJson = body::small_json(&request, payload, &state).await?;
    check_email(json.email.as_deref())?;
    let (store, now) = (citizens(&state), state.clock.now());
    let opened = web::block(move || {
        let mut email = json.email;
        store.update_account(&bsn, &mut |existing| {
            if existing.as_ref().is_some_and(|a| a.actief) {
                return None;
            }
            Some(AccountRecord {
                bsn: bsn.clone(),
                // Opening a closed box again keeps its address unless a new one is given.
                email: email
                    .take()
                    .or_else(|| existing.as_ref().and_then(|a| a.email.clone())),
                notificaties: true,
                actief: true,
                geopend_op: existing.map_or(now, |a| a.geopend_op),
                gewijzigd_op: now,
            })
        })
    })
    .await??
    .ok_or_else(|| ApiError::Conflict("U heeft al een Berichtenbox.".into()))?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, "/v1/account"))
        .json(AccountJson::from(&opened)))
}

pub async fn get(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let bsn = citizen(&request, &state)?;
    let store = citizens(&state);
    let account = web::block(move || store.account(&bsn))
        .await??
        .ok_or_else(no_account)?;
    Ok(HttpResponse::Ok().json(AccountJson::from(&account)))
}

/// `PATCH /v1/account`: e-mail address and notifications on or off.
pub async fn patch(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let bsn = citizen(&request, &state)?;
    let json: AccountPatchJson = body::small_json(&request, payload, &state).await?;
    check_email(json.email.as_deref())?;
    let (store, now) = (citizens(&state), state.clock.now());
    let account = web::block(move || {
        store.update_account(&bsn, &mut |account| {
            let mut account = account?;
            if let Some(email) = &json.email {
                account.email = Some(email.clone());
            }
            if let Some(notificaties) = json.notificaties {
                account.notificaties = notificaties;
            }
            account.gewijzigd_op = now;
            Some(account)
        })
    })
    .await??
    .ok_or_else(no_account)?;
    if account.notificaties && account.email.is_none() {
        tracing::debug!("notifications on without an e-mail address: none will be sent");
    }
    Ok(HttpResponse::Ok().json(AccountJson::from(&account)))
}

/// `DELETE /v1/account`: the box becomes inactive; new berichten are refused from then on.
pub async fn close(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let bsn = citizen(&request, &state)?;
    let (store, now) = (citizens(&state), state.clock.now());
    web::block(move || {
        store.update_account(&bsn, &mut |account| {
            let mut account = account?;
            account.actief = false;
            account.gewijzigd_op = now;
            Some(account)
        })
    })
    .await??
    .ok_or_else(no_account)?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct VoorkeurJson {
    oin: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    naam: Option<String>,
    digitaal: bool,
    gewijzigd_op: String,
}

#[derive(Debug, Serialize)]
struct VoorkeurenJson {
    voorkeuren: Vec<VoorkeurJson>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VoorkeurInJson {
    digitaal: Option<bool>,
}

fn voorkeur_json(voorkeur: VoorkeurRecord, state: &AppState) -> VoorkeurJson {
    VoorkeurJson {
        naam: state.catalog.afnemer(&voorkeur.oin).map(|a| a.naam),
        oin: voorkeur.oin,
        digitaal: voorkeur.digitaal,
        gewijzigd_op: voorkeur.gewijzigd_op.to_string(),
    }
}

pub async fn voorkeuren(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let bsn = citizen(&request, &state)?;
    let store = citizens(&state);
    let list = web::block(move || -> Result<Option<Vec<VoorkeurRecord>>, ApiError> {
        if store.account(&bsn)?.is_none() {
            return Ok(None);
        }
        Ok(Some(store.voorkeuren(&bsn)?))
    })
    .await??
    .ok_or_else(no_account)?;
    let voorkeuren = list.into_iter().map(|v| voorkeur_json(v, &state)).collect();
    Ok(HttpResponse::Ok().json(VoorkeurenJson { voorkeuren }))
}

/// `PUT /v1/account/voorkeuren/{oin}`: whether this afnemer may send digital mail. Every
/// change is kept as a mutation for the Abonnementservice.
pub async fn put_voorkeur(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let bsn = citizen(&request, &state)?;
    let oin = path.into_inner();
    let json: VoorkeurInJson = body::small_json(&request, payload, &state).await?;
    let Some(digitaal) = json.digitaal else {
        return Err(ApiError::invalid(vec![InvalidParam::new(
            "digitaal",
            "is verplicht",
        )]));
    };
    if state.catalog.afnemer(&oin).is_none() {
        return Err(ApiError::NotFound(format!(
            "Er is geen afnemer met OIN {oin}."
        )));
    }
    let voorkeur = VoorkeurRecord {
        bsn,
        oin,
        digitaal,
        gewijzigd_op: state.clock.now(),
    };
    let store = citizens(&state);
    let stored = voorkeur.clone();
    let found = web::block(move || -> Result<bool, ApiError> {
        if store.account(&stored.bsn)?.is_none() {
            return Ok(false);
        }
        store.put_voorkeur(&stored)?;
        Ok(true)
    })
    .await??;
    if !found {
        return Err(no_account());
    }
    Ok(HttpResponse::Ok().json(voorkeur_json(voorkeur, &state)))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AfzenderJson {
    oin: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    naam: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BijlageJson {
    volgorde: u8,
    omschrijving: String,
    mediatype: String,
    grootte: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BerichtJson {
    id: String,
    afzender: AfzenderJson,
    bericht_type: String,
    onderwerp: String,
    /// Only in the single bericht, not in the list.
    #[serde(skip_serializing_if = "Option::is_none")]
    tekst: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    referentie: Option<String>,
    ontvangen_op: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    publicatie_datum: Option<String>,
    gelezen: bool,
    bijlagen: Vec<BijlageJson>,
}

fn bericht_json(entry: BoxEntry, with_tekst: bool, state: &AppState) -> BerichtJson {
    BerichtJson {
        id: entry.id.to_hex(),
        afzender: AfzenderJson {
            naam: state.catalog.afnemer(&entry.oin).map(|a| a.naam),
            oin: entry.oin,
        },
        bericht_type: entry.inhoud.bericht_type,
        onderwerp: entry.inhoud.onderwerp,
        tekst: with_tekst.then_some(entry.inhoud.tekst),
        referentie: entry.inhoud.referentie,
        ontvangen_op: entry.ontvangen_op.to_string(),
        publicatie_datum: entry.inhoud.publicatie_datum.map(|t| t.to_string()),
        gelezen: entry.gelezen,
        bijlagen: entry
            .inhoud
            .bijlagen
            .into_iter()
            .map(|b| BijlageJson {
                volgorde: b.volgorde,
                omschrijving: b.omschrijving,
                mediatype: b.mediatype,
                grootte: b.size_bytes,
            })
            .collect(),
    }
}

#[derive(Debug, Serialize)]
struct BerichtenPage {
    berichten: Vec<BerichtJson>,
    /// Pass as `na` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    volgende: Option<String>,
}

/// The page `GET /v1/account/berichten` asks for: a box cursor, 1 to `MAX_LIMIT`.
pub fn page(
    query: Result<web::Query<paging::PageQuery>, actix_web::Error>,
) -> Result<Page<BoxId>, ApiError> {
    paging::page(query, DEFAULT_LIMIT, MAX_LIMIT, BoxId::from_hex)
}

/// `GET /v1/account/berichten?na={cursor}&limit={n}`: newest first, published ones only.
pub async fn berichten(
    request: HttpRequest,
    query: Result<web::Query<paging::PageQuery>, actix_web::Error>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let bsn = citizen(&request, &state)?;
    let Page {
        after: before,
        limit,
    } = page(query)?;
    let (store, now) = (citizens(&state), state.clock.now());
    let (page, volgende) = web::block(move || -> Result<Option<BoxPage>, ApiError> {
        if store.account(&bsn)?.is_none() {
            return Ok(None);
        }
        // Skip what is not yet published, reading on until the page is full or the box ends.
        let mut page = Vec::with_capacity(limit);
        let mut cursor = before;
        loop {
            let chunk = store.box_entries(&bsn, cursor, limit)?;
            let exhausted = chunk.len() < limit;
            for entry in chunk {
                cursor = Some(entry.id);
                if entry.inhoud.publicatie_datum.is_none_or(|p| p <= now) {
                    page.push(entry);
                    if page.len() == limit {
                        return Ok(Some((page, cursor)));
                    }
                }
            }
            if exhausted {
                return Ok(Some((page, None)));
            }
        }
    })
    .await??
    .ok_or_else(no_account)?;
    let berichten = page
        .into_iter()
        .map(|e| bericht_json(e, false, &state))
        .collect();
    Ok(HttpResponse::Ok().json(BerichtenPage {
        berichten,
        volgende: volgende.map(BoxId::to_hex),
    }))
}

/// The citizen's published bericht with this id, or 404.
async fn published(state: &AppState, bsn: String, id: &str) -> Result<BoxEntry, ApiError> {
    let not_found =
        || ApiError::NotFound("Er is geen bericht met dit id in uw Berichtenbox.".into());
    let id = BoxId::from_hex(id).ok_or_else(not_found)?;
    let (store, now) = (citizens(state), state.clock.now());
    web::block(move || store.box_entry(&bsn, id))
        .await??
        .filter(|entry| entry.inhoud.publicatie_datum.is_none_or(|p| p <= now))
        .ok_or_else(not_found)
}

pub async fn bericht(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let bsn = citizen(&request, &state)?;
    let entry = published(&state, bsn, &path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(bericht_json(entry, true, &state)))
}

/// `GET /v1/account/berichten/{id}/bijlagen/{volgorde}`: the attachment's bytes, with its media type.
pub async fn bijlage(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let bsn = citizen(&request, &state)?;
    let (id, volgorde) = path.into_inner();
    let entry = published(&state, bsn, &id).await?;
    let not_found =
        || ApiError::NotFound("Dit bericht heeft geen bijlage met dit volgnummer.".into());
    let volgorde: u8 = volgorde.parse().map_err(|_| not_found())?;
    let reference = entry
        .inhoud
        .bijlagen
        .into_iter()
        .find(|b| b.volgorde == volgorde)
        .ok_or_else(not_found)?;
    let store: Arc<dyn Parking> = state.store.clone();
    let mediatype = reference.mediatype.clone();
    let bytes = web::block(move || store.bijlage(&reference))
        .await??
        .ok_or_else(not_found)?;
    // The media type is the afnemer's (checked to be one); the browser must not guess another,
    // nor show the bytes inline. The file name is ours, never the afnemer's omschrijving.
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, mediatype))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"bijlage-{volgorde}\""),
        ))
        .body(bytes))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BerichtPatchJson {
    #[serde(default, deserialize_with = "body::present")]
    gelezen: Option<bool>,
}

/// `PATCH /v1/account/berichten/{id}` `{ "gelezen": true }`.
pub async fn patch_bericht(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let bsn = citizen(&request, &state)?;
    let json: BerichtPatchJson = body::small_json(&request, payload, &state).await?;
    let mut entry = published(&state, bsn.clone(), &path.into_inner()).await?;
    if let Some(gelezen) = json.gelezen {
        let (store, id) = (citizens(&state), entry.id);
        // Changed under the box's lock, and only if it is still there: a DELETE that got in
        // first stays a delete.
        entry = web::block(move || store.mark_gelezen(&bsn, id, gelezen))
            .await??
            .ok_or_else(|| {
                ApiError::NotFound("Er is geen bericht met dit id in uw Berichtenbox.".into())
            })?;
    }
    Ok(HttpResponse::Ok().json(bericht_json(entry, true, &state)))
}

pub async fn delete_bericht(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let bsn = citizen(&request, &state)?;
    let entry = published(&state, bsn.clone(), &path.into_inner()).await?;
    let store = citizens(&state);
    web::block(move || store.delete_box_entry(&bsn, entry.id)).await??;
    Ok(HttpResponse::NoContent().finish())
}
