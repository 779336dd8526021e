//! What operators and their tools read: `/metrics`, `/health/live`, `/health/ready`, and the
//! OpenAPI document.

use std::collections::HashMap;

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};

use berichtenbox_actors::core::onderhoud;
use berichtenbox_actors::core::prognose::{self, Maand};

use super::AppState;
use super::problem::ApiError;
use super::rapportages;

/// The OpenAPI 3 document of the HTTP contract; a test keeps it true to the routes.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(OPENAPI_JSON)
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let blocking = state.clone();
    match web::block(move || capacity_gauges(&blocking)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "cannot compute the capacity gauges"),
        Err(error) => tracing::warn!(%error, "cannot compute the capacity gauges"),
    }
    for shard in state.store.shard_stats() {
        let label = shard.shard.to_string();
        metrics::gauge!("berichtenbox_geparkeerd_berichten", "shard" => label.clone())
            .set(shard.parked_messages as f64);
        metrics::gauge!("berichtenbox_notificaties_wachtend", "shard" => label.clone())
            .set(shard.notifications_waiting as f64);
        metrics::gauge!("berichtenbox_webhook_wachtend", "shard" => label)
            .set(shard.webhooks_waiting as f64);
    }
    let text = state
        .metrics
        .as_ref()
        .map(|handle| handle.render())
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text)
}

pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "up" }))
}

pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.health()?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "up" })))
}

/// The gauges read from the store and the calendar at each scrape: the age of each shard's
/// oldest parked bericht, every afnemer's forecast
/// for this month against what it delivered so far, the capacity norms, the month's progress,
/// the maintenance windows and the month's availability. Runs on the blocking pool.
fn capacity_gauges(state: &AppState) -> Result<(), ApiError> {
    let now = state.clock.now();
    for shard in 0..state.store.shard_count() {
        let age = state.store.oldest_parked(shard)?.map_or(0.0, |oldest| {
            now.duration_since(oldest).as_secs_f64().max(0.0)
        });
        metrics::gauge!("berichtenbox_oudste_geparkeerd_seconds", "shard" => shard.to_string())
            .set(age);
    }
    let maand = Maand::of(now, &state.zone);
    let voortgang = prognose::voortgang(now, &state.zone);
    metrics::gauge!("berichtenbox_maand_voortgang_ratio").set(voortgang);
    metrics::gauge!("berichtenbox_dagen_in_maand").set(f64::from(maand.days()));

    let label = maand.to_string();
    let mut forecast: HashMap<String, u64> = state
        .store
        .prognoses(None)?
        .into_iter()
        .filter(|p| p.maand == label)
        .map(|p| (p.oin, p.aantal_berichten))
        .collect();
    let mut actual: HashMap<String, u64> = HashMap::new();
    for ((_, oin), telling) in state.store.tellingen(maand.first_day(), maand.last_day())? {
        *actual.entry(oin).or_default() += telling.aangeboden;
    }
    let mut total = 0u64;
    for afnemer in state.catalog.afnemers() {
        let oin = afnemer.oin;
        let forecast = forecast.remove(&oin).unwrap_or(0);
        let actual = actual.get(&oin).copied().unwrap_or(0);
        total += forecast;
        metrics::gauge!("berichtenbox_prognose_berichten", "afnemer" => oin.clone())
            .set(forecast as f64);
        metrics::gauge!("berichtenbox_berichten_maand", "afnemer" => oin.clone())
            .set(actual as f64);
        // NaN without a forecast: no alert compares true against it.
        metrics::gauge!("berichtenbox_prognose_afwijking_ratio", "afnemer" => oin)
            .set(prognose::afwijking(forecast, actual, voortgang).unwrap_or(f64::NAN));
    }
    metrics::gauge!("berichtenbox_prognose_berichten_totaal").set(total as f64);

    let norms = [
        (
            "berichten_per_dag",
            state.config.capaciteit.berichten_per_dag,
        ),
        (
            "berichten_per_uur",
            state.config.capaciteit.berichten_per_uur,
        ),
        ("notificaties_per_uur", state.config.notifications.per_hour),
        ("notificaties_per_dag", state.config.notifications.per_day),
    ];
    for (norm, value) in norms {
        metrics::gauge!("berichtenbox_capaciteit", "norm" => norm).set(value as f64);
    }

    let on = onderhoud::actief(&state.vensters, &state.zone, now);
    for venster in &state.vensters {
        let active = on.iter().any(|v| v.naam == venster.naam);
        metrics::gauge!("berichtenbox_onderhoudsvenster_actief", "venster" => venster.naam.clone())
            .set(f64::from(u8::from(active)));
    }
    metrics::gauge!("berichtenbox_onderhoud_actief").set(f64::from(u8::from(!on.is_empty())));

    if let Some((start, _)) = maand.bounds(&state.zone) {
        let beschikbaarheid = rapportages::availability(state, start, now)?;
        metrics::gauge!("berichtenbox_beschikbaarheid_maand_ratio").set(beschikbaarheid.ratio());
    }
    metrics::gauge!("berichtenbox_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(())
}
