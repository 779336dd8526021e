//! The Validatieservice: `POST /v1/validaties`. For up to 250 BSNs, whether each citizen has
//! an active Berichtenbox and takes digital mail from the calling afnemer, decided as
//! processing decides it (`store::wil_digitaal`).
//!
//! At most `validaties.per_uur` requests per clock hour, all afnemers together; beyond, 429
//! with `Retry-After` until the next hour. The count is a quota in the store
//! (`Abonnementen::take_quotum`, synced), so a restart does not begin the hour anew.

use actix_web::{HttpRequest, HttpResponse, web};
use berichtenbox_actors::core::caps::Caps;
use berichtenbox_actors::core::rules;
use berichtenbox_actors::store::wil_digitaal;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::body::{BoundedVec, OverLimit};
use super::problem::{ApiError, InvalidParam};
use super::{AppState, auth, body};

/// The most BSNs one request may ask about.
pub const MAX_BSNS: usize = 250;

/// The quota of the clock hour at `now` (its name in the store, and when it may be forgotten),
/// and the seconds from `now` until the next hour.
fn uur(now: Timestamp) -> (String, Timestamp, u64) {
    let hour = Caps::hour_start(now);
    let next = hour + jiff::SignedDuration::from_hours(1);
    let wait = next.duration_since(now).as_secs().max(1).unsigned_abs();
    (
        format!("validaties/{hour}"),
        next + jiff::SignedDuration::from_hours(1),
        wait,
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ValidatieJson {
    bericht_type: Option<String>,
    bsns: Option<BoundedVec<String, MAX_BSNS>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Resultaat {
    bsn: String,
    bericht_sturen: bool,
}

#[derive(Debug, Serialize)]
struct ValidatieView {
    resultaten: Vec<Resultaat>,
}

fn bsns_count() -> InvalidParam {
    InvalidParam::new(
        "bsns",
        format!("moet 1 tot en met {MAX_BSNS} BSN's bevatten"),
    )
}

/// More than `MAX_BSNS` BSNs: read no further than that, a 400 naming `bsns`.
fn over_limit(over: OverLimit) -> ApiError {
    over.invalid_at("bsns", bsns_count)
}

pub async fn validate(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let afnemer = auth::afnemer(&request, &state)?;
    let json: ValidatieJson = body::small_json_or(&request, payload, &state, over_limit).await?;

    let mut invalid = Vec::new();
    match json.bericht_type.as_deref() {
        None => invalid.push(InvalidParam::new("berichtType", "is verplicht")),
        Some(code) => {
            if let Err(reason) = rules::bericht_type(code) {
                invalid.push(InvalidParam::new("berichtType", reason));
            } else if !state.catalog.berichttype_actief(&afnemer.oin, code) {
                invalid.push(InvalidParam::new(
                    "berichtType",
                    "is geen geregistreerd en actief berichttype van deze afnemer",
                ));
            }
        }
    }
    let bsns = json.bsns.unwrap_or_default().into_inner();
    if bsns.is_empty() {
        invalid.push(bsns_count());
    }
    for (index, bsn) in bsns.iter().enumerate() {
        if let Err(reason) = rules::bsn(bsn) {
            invalid.push(InvalidParam::new(format!("bsns[{index}]"), reason));
        }
    }
    if !invalid.is_empty() {
        return Err(ApiError::invalid(invalid));
    }
    let (quotum, vervalt, retry_after_seconds) = uur(state.clock.now());
    let per_uur = state.config.validaties.per_uur;
    let store = state.store.clone();
    let oin = afnemer.oin;
    let resultaten = web::block(move || -> Result<Option<Vec<Resultaat>>, ApiError> {
        if !store.take_quotum(&quotum, per_uur, vervalt)? {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(bsns.len());
        for bsn in bsns {
            let account = store.account(&bsn)?;
            let bericht_sturen = wil_digitaal(&*store, account.as_ref(), &oin)?;
            out.push(Resultaat {
                bsn,
                bericht_sturen,
            });
        }
        Ok(Some(out))
    })
    .await??;
    let Some(resultaten) = resultaten else {
        return Err(ApiError::TooManyRequests {
            detail: "De Validatieservice heeft dit uur geen ruimte meer voor verzoeken.".into(),
            retry_after_seconds,
        });
    };
    Ok(HttpResponse::Ok().json(ValidatieView { resultaten }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hour_names_its_quota_and_the_wait_until_the_next() {
        let at = |t: &str| t.parse::<Timestamp>().expect("timestamp");
        let (quotum, vervalt, wait) = uur(at("2026-11-28T10:59:30Z"));
        assert_eq!(quotum, "validaties/2026-11-28T10:00:00Z");
        assert_eq!(vervalt, at("2026-11-28T12:00:00Z"));
        assert_eq!(wait, 30);
        assert_eq!(uur(at("2026-11-28T11:00:00Z")).2, 3600);
    }
}
