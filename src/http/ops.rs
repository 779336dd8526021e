//! What operators and their tools read: `/metrics`, `/health/live`, `/health/ready`, and the
//! OpenAPI document.

use std::collections::HashMap;

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};

use berichtenbox_actors::core::onderhoud;
use berichtenbox_actors::core::prognose::{self, Maand};
use berichtenbox_actors::core::verwerking::VerwerkingsCode;
use berichtenbox_actors::notify::MailError;
use berichtenbox_actors::store::{Expiring, Soort};

use super::AppState;
use super::problem::ApiError;
use super::rapportages;
use super::routes::Api;
use super::telemetry;

/// The OpenAPI 3 document of the HTTP contract; a test keeps it true to the routes.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(OPENAPI_JSON)
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let blocking = state.clone();
    match web::block(move || {
        if blocking.metrics.is_some() {
            telemetry::register_at_zero(&|label| known_label_values(&blocking, label));
        }
        capacity_gauges(&blocking)
    })
    .await
    {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "cannot compute the capacity gauges"),
        Err(error) => tracing::warn!(%error, "cannot compute the capacity gauges"),
    }
    for shard in state.store.shard_stats() {
        let label = shard.shard.to_string();
        metrics::gauge!(telemetry::GEPARKEERD_BERICHTEN, "shard" => label.clone())
            .set(shard.parked_berichten as f64);
        metrics::gauge!(telemetry::NOTIFICATIES_WACHTEND, "shard" => label.clone())
            .set(shard.notification_queue_depth as f64);
        metrics::gauge!(telemetry::WEBHOOK_WACHTEND, "shard" => label)
            .set(shard.webhook_outbox_depth as f64);
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

/// The values of a label known before any event, for the series registered at zero so that a
/// fresh engine's dashboards show 0, not "no data": `None` for labels only events tell
/// (a route's status) and for those of gauges set at each scrape.
fn known_label_values(state: &AppState, label: &str) -> Option<Vec<String>> {
    let strings = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect();
    Some(match label {
        "afnemer" => state
            .catalog
            .afnemers()
            .into_iter()
            .map(|a| a.oin)
            .collect(),
        "verwerkingscode" => VerwerkingsCode::ALL
            .iter()
            .map(|code| code.as_str().to_owned())
            .collect(),
        "shard" => (0..state.store.shard_count())
            .map(|s| s.to_string())
            .collect(),
        "actor" => strings(&telemetry::ACTORS),
        "soort" => Expiring::ALL
            .iter()
            .map(|kind| kind.as_str())
            .chain([telemetry::RETENTION_TELLING, telemetry::RETENTION_SESSIE])
            .map(str::to_owned)
            .collect(),
        "reden" => strings(&MailError::PERMANENT_KINDS),
        "abonnement" => Soort::ALL
            .iter()
            .map(|soort| soort.as_str().to_owned())
            .collect(),
        "api" => Api::ALL.iter().map(|api| api.as_str().to_owned()).collect(),
        _ => return None,
    })
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
        metrics::gauge!(telemetry::OUDSTE_GEPARKEERD, "shard" => shard.to_string()).set(age);
    }
    let maand = Maand::of(now, &state.zone);
    let voortgang = prognose::voortgang(now, &state.zone);
    metrics::gauge!(telemetry::MAAND_VOORTGANG).set(voortgang);
    metrics::gauge!(telemetry::DAGEN_IN_MAAND).set(f64::from(maand.days()));

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
        metrics::gauge!(telemetry::PROGNOSE_BERICHTEN, "afnemer" => oin.clone())
            .set(forecast as f64);
        metrics::gauge!(telemetry::BERICHTEN_MAAND, "afnemer" => oin.clone()).set(actual as f64);
        // NaN without a forecast: no alert compares true against it.
        metrics::gauge!(telemetry::PROGNOSE_AFWIJKING, "afnemer" => oin)
            .set(prognose::afwijking(forecast, actual, voortgang).unwrap_or(f64::NAN));
    }
    metrics::gauge!(telemetry::PROGNOSE_BERICHTEN_TOTAAL).set(total as f64);

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
        metrics::gauge!(telemetry::CAPACITEIT, "norm" => norm).set(value as f64);
    }

    let on = onderhoud::actief(&state.vensters, &state.zone, now);
    for venster in &state.vensters {
        let active = on.iter().any(|v| v.naam == venster.naam);
        metrics::gauge!(telemetry::ONDERHOUDSVENSTER_ACTIEF, "venster" => venster.naam.clone())
            .set(f64::from(u8::from(active)));
    }
    metrics::gauge!(telemetry::ONDERHOUD_ACTIEF).set(f64::from(u8::from(!on.is_empty())));

    if let Some((start, _)) = maand.bounds(&state.zone) {
        let beschikbaarheid = rapportages::availability(state, start, now)?;
        metrics::gauge!(telemetry::BESCHIKBAARHEID_MAAND).set(beschikbaarheid.ratio());
    }
    metrics::gauge!(telemetry::BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(())
}
