//! `POST /v1/batches` and `GET /v1/batches/{batchId}`.
//!
//! The order of checks is the contract's: credentials (401/403), media type (415), size (413),
//! memory for the body (503), JSON and field rules (400/413), then idempotency (200/409), then
//! the afnemer's rate (429) and parking (202 after the covering sync, or 503). Parsing,
//! validation and the idempotency lookup are CPU and disk work and run on the blocking pool.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use berichtenbox_actors::afnemer::AdmitError;
use berichtenbox_actors::core::model::{Batch, Bericht, Bijlage};
use berichtenbox_actors::core::rules::{self, MAX_BERICHTEN_PER_BATCH};
use berichtenbox_actors::store::{BatchRecord, BatchStatus, ParkOutcome, ParkRequest, Receipts};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::body::{BoundedVec, Object, OverLimit};
use super::problem::{ApiError, InvalidParam};
use super::telemetry;
use super::{AppState, auth, body};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BatchJson {
    batch_id: Option<String>,
    aanmaak_datum: Option<String>,
    berichten: Option<BoundedVec<Object<BerichtJson>, MAX_BERICHTEN_PER_BATCH>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BerichtJson {
    bericht_id: Option<String>,
    bericht_type: Option<String>,
    ontvanger: Option<String>,
    onderwerp: Option<String>,
    tekst: Option<String>,
    #[serde(default, deserialize_with = "body::present")]
    referentie: Option<String>,
    #[serde(default, deserialize_with = "body::present")]
    publicatie_datum: Option<String>,
    #[serde(default)]
    bijlagen: BoundedVec<Object<BijlageJson>, { rules::MAX_BIJLAGEN_PER_BERICHT }>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BijlageJson {
    omschrijving: Option<String>,
    mediatype: Option<String>,
    inhoud: Option<String>,
}

/// The reply to a parked batch, and the first part of its status.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchReply {
    batch_id: String,
    status: &'static str,
    ontvangen_op: String,
    aantal_berichten: u32,
    /// The receipt, once every bericht is decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    verwerkingsbericht: Option<super::receipts::ReceiptJson>,
}

fn status_name(status: BatchStatus) -> &'static str {
    match status {
        BatchStatus::Geparkeerd => "geparkeerd",
        BatchStatus::InVerwerking => "in-verwerking",
        BatchStatus::Verwerkt => "verwerkt",
    }
}

impl BatchReply {
    fn of(record: &BatchRecord, status: BatchStatus) -> Self {
        Self {
            batch_id: record.batch_id.clone(),
            status: status_name(status),
            ontvangen_op: record.ontvangen_op.to_string(),
            aantal_berichten: record.aantal_berichten,
            verwerkingsbericht: None,
        }
    }

    /// The batch as it stands now, with its receipt once processed.
    fn current(record: &BatchRecord) -> Self {
        let mut reply = Self::of(record, record.status);
        reply.verwerkingsbericht = record
            .receipt
            .as_ref()
            .map(|receipt| super::receipts::ReceiptJson::of(record, receipt));
        reply
    }
}

/// Collects broken fields, each under the path a client wrote.
#[derive(Default)]
struct Findings {
    invalid: Vec<InvalidParam>,
    too_large: Vec<InvalidParam>,
}

impl Findings {
    /// A required field's value after its rule, or `None` with a finding (missing or broken).
    fn required<T>(
        &mut self,
        name: impl FnOnce() -> String,
        value: Option<String>,
        rule: impl FnOnce(String) -> Result<T, rules::Reason>,
    ) -> Option<T> {
        match value {
            None => {
                self.invalid.push(InvalidParam::new(name(), "is verplicht"));
                None
            }
            Some(value) => self.found(name, rule(value)),
        }
    }

    /// An optional field: `Some(None)` when absent, `None` when present and broken.
    fn optional<T>(
        &mut self,
        name: impl FnOnce() -> String,
        value: Option<String>,
        rule: impl FnOnce(String) -> Result<T, rules::Reason>,
    ) -> Option<Option<T>> {
        match value {
            None => Some(None),
            Some(value) => self.found(name, rule(value)).map(Some),
        }
    }

    fn found<T>(
        &mut self,
        name: impl FnOnce() -> String,
        result: Result<T, rules::Reason>,
    ) -> Option<T> {
        result
            .map_err(|reason| self.invalid.push(InvalidParam::new(name(), reason)))
            .ok()
    }
}

/// Adapts a check that only says yes or no into a rule that keeps the text.
fn keep(
    check: impl FnOnce(&str) -> Result<(), rules::Reason>,
) -> impl FnOnce(String) -> Result<String, rules::Reason> {
    move |value| check(&value).map(|()| value)
}

fn text(min: usize, max: usize) -> impl FnOnce(String) -> Result<String, rules::Reason> {
    keep(move |value| rules::text(value, min, max))
}

/// Checks every field rule of API.md and builds the domain batch, or says every broken field.
/// `now` is the engine's clock as the batch arrived: an `aanmaakDatum` is judged against it.
pub fn validate(json: BatchJson, oin: &str, now: Timestamp) -> Result<Batch, ApiError> {
    let mut findings = Findings::default();
    let batch_id = findings.required(|| "batchId".into(), json.batch_id, |v| rules::guid(&v));
    let aanmaak_datum = findings.required(
        || "aanmaakDatum".into(),
        json.aanmaak_datum,
        |v| rules::rfc3339(&v).and_then(|at| rules::aanmaak_datum(at, now)),
    );
    let berichten_json = json.berichten.unwrap_or_default().into_inner();
    if berichten_json.is_empty() {
        findings.invalid.push(InvalidParam::new(
            "berichten",
            "moet 1 tot 1000 berichten bevatten",
        ));
    }

    let mut berichten = Vec::with_capacity(berichten_json.len());
    let mut seen_ids = std::collections::HashMap::with_capacity(berichten_json.len());
    for (i, Object(bericht)) in berichten_json.into_iter().enumerate() {
        let at = |field: &str| format!("berichten[{i}].{field}");
        let bericht_id =
            findings.required(|| at("berichtId"), bericht.bericht_id, |v| rules::guid(&v));
        if let Some(id) = &bericht_id
            && let Some(first) = seen_ids.insert(id.clone(), i)
        {
            findings.invalid.push(InvalidParam::new(
                at("berichtId"),
                format!("komt al voor in berichten[{first}]"),
            ));
        }
        let bericht_type = findings.required(
            || at("berichtType"),
            bericht.bericht_type,
            keep(rules::bericht_type),
        );
        let ontvanger = findings.required(|| at("ontvanger"), bericht.ontvanger, keep(rules::bsn));
        let onderwerp = findings.required(
            || at("onderwerp"),
            bericht.onderwerp,
            text(1, rules::MAX_ONDERWERP_CHARS),
        );
        let tekst = findings.required(
            || at("tekst"),
            bericht.tekst,
            text(0, rules::MAX_TEKST_CHARS),
        );
        let referentie = findings.optional(
            || at("referentie"),
            bericht.referentie,
            text(0, rules::MAX_REFERENTIE_CHARS),
        );
        let publicatie_datum = findings.optional(
            || at("publicatieDatum"),
            bericht.publicatie_datum,
            |v| rules::rfc3339(&v),
        );
        let bijlagen = validate_bijlagen(&mut findings, i, bericht.bijlagen.into_inner());
        if let (
            Some(bericht_id),
            Some(bericht_type),
            Some(ontvanger),
            Some(onderwerp),
            Some(tekst),
            Some(referentie),
            Some(publicatie_datum),
            Some(bijlagen),
        ) = (
            bericht_id,
            bericht_type,
            ontvanger,
            onderwerp,
            tekst,
            referentie,
            publicatie_datum,
            bijlagen,
        ) {
            berichten.push(Bericht {
                bericht_id,
                bericht_type,
                ontvanger,
                onderwerp,
                tekst,
                referentie,
                publicatie_datum,
                bijlagen,
            });
        }
    }

    if !findings.too_large.is_empty() {
        let mut invalid_params = findings.too_large;
        invalid_params.extend(findings.invalid);
        return Err(ApiError::PayloadTooLarge {
            detail: format!(
                "De bijlagen van een bericht zijn samen ten hoogste {} bytes.",
                rules::MAX_BIJLAGEN_BYTES_PER_BERICHT
            ),
            invalid_params,
        });
    }
    if !findings.invalid.is_empty() {
        return Err(ApiError::invalid(findings.invalid));
    }
    match (batch_id, aanmaak_datum) {
        (Some(batch_id), Some(aanmaak_datum)) => Ok(Batch {
            oin: oin.to_owned(),
            batch_id,
            aanmaak_datum,
            berichten,
        }),
        _ => Err(ApiError::Internal(
            "validation passed without a batch id or date".into(),
        )),
    }
}

fn validate_bijlagen(
    findings: &mut Findings,
    i: usize,
    bijlagen: Vec<Object<BijlageJson>>,
) -> Option<Vec<Bijlage>> {
    let at = |j: usize, field: &str| format!("berichten[{i}].bijlagen[{j}].{field}");
    // Size first, from the base64 length alone: nothing oversized is decoded.
    let declared: usize = bijlagen
        .iter()
        .filter_map(|Object(b)| b.inhoud.as_deref().and_then(rules::base64_decoded_len))
        .sum();
    if declared > rules::MAX_BIJLAGEN_BYTES_PER_BERICHT {
        findings.too_large.push(InvalidParam::new(
            format!("berichten[{i}].bijlagen"),
            format!(
                "bevat samen {declared} bytes; ten hoogste {}",
                rules::MAX_BIJLAGEN_BYTES_PER_BERICHT
            ),
        ));
        return None;
    }
    let mut out = Vec::with_capacity(bijlagen.len());
    let mut complete = true;
    for (j, Object(bijlage)) in bijlagen.into_iter().enumerate() {
        let omschrijving = findings.required(
            || at(j, "omschrijving"),
            bijlage.omschrijving,
            text(1, rules::MAX_OMSCHRIJVING_CHARS),
        );
        let mediatype = findings.required(
            || at(j, "mediatype"),
            bijlage.mediatype,
            keep(rules::media_type),
        );
        let inhoud = findings.required(|| at(j, "inhoud"), bijlage.inhoud, |v| rules::base64(&v));
        match (omschrijving, mediatype, inhoud) {
            (Some(omschrijving), Some(mediatype), Some(inhoud)) => {
                out.push(Bijlage {
                    omschrijving,
                    mediatype,
                    inhoud,
                });
            }
            _ => complete = false,
        }
    }
    complete.then_some(out)
}

/// A `POST /v1/batches` body to the domain batch: JSON (arrays bounded, `over_limit`), then
/// every field rule (`validate`), or the 400/413 saying what is wrong. The body is dropped once
/// parsed, before validation builds the batch. The handler's one path from bytes to batch,
/// and the fuzz target's (`crate::fuzzing`).
pub fn parse(body: impl AsRef<[u8]>, oin: &str, now: Timestamp) -> Result<Batch, ApiError> {
    let json: BatchJson = body::parse_json_or(body.as_ref(), over_limit)?;
    drop(body);
    validate(json, oin, now)
}

/// The answer to an array of a batch over its limit, read no further than that: more than 1,000
/// berichten is a 413, more than 2 bijlagen in a bericht a 400 naming its `bijlagen`.
pub fn over_limit(over: OverLimit) -> ApiError {
    if over.path == "berichten" {
        return ApiError::PayloadTooLarge {
            detail: format!("Een batch heeft ten hoogste {MAX_BERICHTEN_PER_BATCH} berichten."),
            invalid_params: vec![InvalidParam::new(
                "berichten",
                format!(
                    "bevat meer dan {MAX_BERICHTEN_PER_BATCH} berichten; ten hoogste {MAX_BERICHTEN_PER_BATCH}"
                ),
            )],
        };
    }
    if over.path.ends_with(".bijlagen") {
        let reason = format!("bevat meer dan {} bijlagen", over.limit);
        return ApiError::invalid(vec![InvalidParam::new(over.path, reason)]);
    }
    over.invalid()
}

/// What the blocking part of a delivery found.
enum Prepared {
    New(ParkRequest),
    Seen(ParkOutcome),
}

fn location(batch_id: &str) -> String {
    format!("/v1/batches/{batch_id}")
}

fn reply(outcome: ParkOutcome) -> Result<HttpResponse, ApiError> {
    match outcome {
        ParkOutcome::Parked(record) => Ok(HttpResponse::Accepted()
            .insert_header((header::LOCATION, location(&record.batch_id)))
            .json(BatchReply::of(&record, BatchStatus::Geparkeerd))),
        // The first reply again: the batch as it was parked.
        ParkOutcome::Duplicate(record) => Ok(HttpResponse::Ok()
            .insert_header((header::LOCATION, location(&record.batch_id)))
            .json(BatchReply::of(&record, BatchStatus::Geparkeerd))),
        ParkOutcome::Conflict(record) => Err(ApiError::Conflict(format!(
            "batchId {} is al gebruikt voor een batch met andere inhoud.",
            record.batch_id
        ))),
    }
}

pub async fn deliver(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let started = std::time::Instant::now();
    let afnemer = auth::afnemer(&request, &state)?;
    body::require_json(&request)?;
    let body = body::read_for_afnemer(
        &request,
        payload,
        &state,
        state.config.server.max_body_bytes,
        &afnemer.oin,
    )
    .await?;

    let blocking_state = state.clone().into_inner();
    let oin = afnemer.oin.clone();
    // The reservation outlives the body: it covers what is built from it until the park is
    // answered (`body::BODY_MEMORY_FACTOR`).
    let (bytes, reservation) = body.into_parts();
    let prepared = web::block(move || -> Result<Prepared, ApiError> {
        // One reading of the engine's clock: the batch's `ontvangenOp`, and the "now" its
        // `aanmaakDatum` is judged against.
        let ontvangen_op = blocking_state.clock.now();
        let batch = parse(bytes, &oin, ontvangen_op)?;
        let digest = batch.content_digest();
        if let Some(record) = blocking_state.store.find_batch(&oin, &batch.batch_id)? {
            let outcome = if record.digest == digest {
                ParkOutcome::Duplicate(record)
            } else {
                ParkOutcome::Conflict(record)
            };
            return Ok(Prepared::Seen(outcome));
        }
        Ok(Prepared::New(ParkRequest {
            batch,
            digest,
            ontvangen_op,
        }))
    })
    .await??;

    let outcome = match prepared {
        Prepared::Seen(outcome) => outcome,
        Prepared::New(park) => {
            let berichten = park.batch.len() as u64;
            let rate = afnemer
                .rate()
                .ok_or_else(|| ApiError::Internal("afnemer has no rate".into()))?;
            metrics::counter!(telemetry::BERICHTEN_AANGEBODEN, "afnemer" => afnemer.oin.clone())
                .increment(berichten);
            let receipt = match state.registry.admit(&afnemer.oin, rate, park).await {
                Ok(receipt) => receipt,
                Err(error) => {
                    if let AdmitError::Throttled { .. } | AdmitError::LargerThanBurst { .. } = error
                    {
                        metrics::counter!(telemetry::BERICHTEN_GEDROSSELD, "afnemer" => afnemer.oin.clone()).increment(berichten);
                    }
                    return Err(error.into());
                }
            };
            let outcome = receipt
                .await
                .map_err(|_| ApiError::from(berichtenbox_actors::store::StoreError::Closed))??;
            if let ParkOutcome::Parked(_) = outcome {
                metrics::counter!(telemetry::BERICHTEN_GEPARKEERD, "afnemer" => afnemer.oin.clone()).increment(berichten);
                metrics::histogram!(telemetry::BATCH_BERICHTEN).record(berichten as f64);
                metrics::histogram!(telemetry::ACCEPT_DURATION)
                    .record(started.elapsed().as_secs_f64());
            }
            outcome
        }
    };
    drop(reservation);
    reply(outcome)
}

pub async fn status(
    request: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let afnemer = auth::afnemer(&request, &state)?;
    let not_found = || ApiError::NotFound("Deze afnemer heeft geen batch met dit batchId.".into());
    let batch_id = rules::guid(&path.into_inner()).map_err(|_| not_found())?;
    let store: Arc<dyn Receipts> = state.store.clone();
    let record = web::block(move || store.find_batch(&afnemer.oin, &batch_id))
        .await??
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(BatchReply::current(&record)))
}
