//! An afnemer's berichttypen: `PUT /v1/berichttypen/{code}` and `GET /v1/berichttypen`.

use actix_web::{HttpRequest, HttpResponse, web};
use berichtenbox_actors::core::rules;
use berichtenbox_actors::store::BerichttypeRecord;
use serde::{Deserialize, Serialize};

use super::problem::{ApiError, InvalidParam};
use super::{AppState, auth, body};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BerichttypeJson {
    omschrijving: Option<String>,
    #[serde(default, deserialize_with = "body::present")]
    actief: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BerichttypeView {
    code: String,
    omschrijving: String,
    actief: bool,
}

impl From<BerichttypeRecord> for BerichttypeView {
    fn from(record: BerichttypeRecord) -> Self {
        Self {
            code: record.code,
            omschrijving: record.omschrijving,
            actief: record.actief,
        }
    }
}

pub async fn put(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let afnemer = auth::afnemer(&request, &state)?;
    let json: BerichttypeJson = body::small_json(&request, payload, &state).await?;
    let code = path.into_inner();

    let mut invalid = Vec::new();
    if let Err(reason) = rules::bericht_type(&code) {
        invalid.push(InvalidParam::new("code", reason));
    }
    match json.omschrijving.as_deref() {
        None => invalid.push(InvalidParam::new("omschrijving", "is verplicht")),
        Some(text) => {
            if let Err(reason) = rules::text(text, 1, rules::MAX_OMSCHRIJVING_CHARS) {
                invalid.push(InvalidParam::new("omschrijving", reason));
            }
        }
    }
    if !invalid.is_empty() {
        return Err(ApiError::invalid(invalid));
    }

    let record = BerichttypeRecord {
        oin: afnemer.oin,
        code,
        omschrijving: json.omschrijving.unwrap_or_default(),
        actief: json.actief.unwrap_or(true),
    };
    let catalog = state.catalog.clone();
    let stored = record.clone();
    let created = web::block(move || catalog.put_berichttype(stored)).await??;
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(BerichttypeView::from(record)))
}

#[derive(Debug, Serialize)]
struct BerichttypenView {
    berichttypen: Vec<BerichttypeView>,
}

pub async fn list(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let afnemer = auth::afnemer(&request, &state)?;
    let berichttypen = state.catalog.berichttypen(&afnemer.oin);
    Ok(HttpResponse::Ok().json(BerichttypenView {
        berichttypen: berichttypen.into_iter().map(Into::into).collect(),
    }))
}
