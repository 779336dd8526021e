//! Request metrics: every response counted by route, method and status, and its duration
//! observed per API (afnemer, burger, beheer, ops).
//!
//! The route label is the matched pattern (`/v1/batches/{batchId}`), never the raw path, so
//! the series stay few whatever clients send; a path that matches no route counts as
//! `unmatched`.

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

/// Which audience a path serves; the label of the duration histogram.
pub fn api_of(path: &str) -> &'static str {
    if path.starts_with("/v1/account") {
        "burger"
    } else if path.starts_with("/v1/beheer") {
        "beheer"
    } else if path.starts_with("/v1/openapi.json")
        || path.starts_with("/metrics")
        || path.starts_with("/health")
    {
        "ops"
    } else {
        "afnemer"
    }
}

/// The middleware: wraps every request of the app (`App::wrap(from_fn(observe))`).
pub async fn observe(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let api = api_of(request.path());
    let method = request.method().as_str().to_owned();
    let response = next.call(request).await?;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = response.status().as_u16().to_string();
    metrics::counter!(
        "berichtenbox_http_requests_total",
        "route" => route,
        "method" => method,
        "status" => status
    )
    .increment(1);
    metrics::histogram!("berichtenbox_http_request_duration_seconds", "api" => api)
        .record(started.elapsed().as_secs_f64());
    Ok(response)
}

/// Describes every metric the engine exports (Prometheus' `# HELP` and the unit), in one
/// place: the list README's "Metrics" section documents.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

    // Ingest.
    describe_counter!(
        "berichtenbox_berichten_aangeboden_total",
        Unit::Count,
        "Berichten in valid batches offered to POST /v1/batches, per afnemer."
    );
    describe_counter!(
        "berichtenbox_berichten_geparkeerd_total",
        Unit::Count,
        "Berichten parked durably (answered 202), per afnemer."
    );
    describe_counter!(
        "berichtenbox_berichten_gedrosseld_total",
        Unit::Count,
        "Berichten refused with 429 by the afnemer's rate, per afnemer."
    );
    describe_histogram!(
        "berichtenbox_batch_berichten",
        Unit::Count,
        "Berichten per parked batch."
    );
    describe_histogram!(
        "berichtenbox_accept_duration_seconds",
        Unit::Seconds,
        "POST /v1/batches from the request's start to its 202 (after the sync)."
    );
    describe_histogram!(
        "berichtenbox_park_sync_seconds",
        Unit::Seconds,
        "One group commit of a shard: its write batch and its sync."
    );
    describe_histogram!(
        "berichtenbox_park_group_batches",
        Unit::Count,
        "Batches per group commit (per sync)."
    );
    describe_histogram!(
        "berichtenbox_park_group_messages",
        Unit::Count,
        "Berichten per group commit (per sync)."
    );
    describe_gauge!(
        "berichtenbox_park_queue_depth",
        Unit::Count,
        "Batches waiting for a shard's writer."
    );
    // Processing.
    describe_counter!(
        "berichtenbox_berichten_besloten_total",
        Unit::Count,
        "Berichten decided, per afnemer and verwerkingscode."
    );
    describe_histogram!(
        "berichtenbox_processing_delay_seconds",
        Unit::Seconds,
        "From a bericht's arrival (ontvangenOp) to its decision."
    );
    describe_gauge!(
        "berichtenbox_geparkeerd_berichten",
        Unit::Count,
        "Berichten parked and not yet decided, per shard: the processing backlog."
    );
    describe_gauge!(
        "berichtenbox_oudste_geparkeerd_seconds",
        Unit::Seconds,
        "Age of the oldest bericht still parked, per shard (0 with none): against the 24-hour norm."
    );
    describe_counter!(
        "berichtenbox_actor_restarts_total",
        Unit::Count,
        "Restarts of supervised actors, per kind of actor."
    );
    // Receipts and webhooks.
    describe_gauge!(
        "berichtenbox_webhook_wachtend",
        Unit::Count,
        "Receipts in the webhook outbox, not yet delivered, per shard."
    );
    describe_gauge!(
        "berichtenbox_webhook_in_backoff",
        Unit::Count,
        "Afnemers whose webhook failed and waits for a retry."
    );
    describe_counter!(
        "berichtenbox_webhook_afgeleverd_total",
        Unit::Count,
        "Receipts delivered to an afnemer's webhook (2xx), per afnemer."
    );
    describe_counter!(
        "berichtenbox_webhook_mislukt_total",
        Unit::Count,
        "Failed webhook deliveries (to be retried), per afnemer."
    );
    describe_counter!(
        "berichtenbox_webhook_opgegeven_total",
        Unit::Count,
        "Receipts whose webhook was given up after 6 days, per afnemer."
    );
    // Notifications.
    describe_counter!(
        "berichtenbox_notificaties_verzonden_total",
        Unit::Count,
        "Notification e-mails sent."
    );
    describe_counter!(
        "berichtenbox_notificaties_afgewezen_total",
        Unit::Count,
        "Notification e-mails refused for good, per reason."
    );
    describe_gauge!(
        "berichtenbox_notificaties_wachtend",
        Unit::Count,
        "Notifications queued and not yet sent, per shard: the notification backlog."
    );
    describe_gauge!(
        "berichtenbox_notificaties_verzonden_uur",
        Unit::Count,
        "Notifications sent in the current clock hour (Europe/Amsterdam)."
    );
    describe_gauge!(
        "berichtenbox_notificaties_verzonden_dag",
        Unit::Count,
        "Notifications sent in the current calendar day (Europe/Amsterdam)."
    );
    describe_gauge!(
        "berichtenbox_notificaties_limiet",
        Unit::Count,
        "The configured notification caps, per period (uur, dag)."
    );
    // HTTP.
    describe_counter!(
        "berichtenbox_http_requests_total",
        Unit::Count,
        "HTTP requests answered, per route pattern, method and status."
    );
    describe_histogram!(
        "berichtenbox_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request durations, per API (afnemer, burger, beheer, ops)."
    );
    // Forecast and capacity.
    describe_gauge!(
        "berichtenbox_prognose_berichten",
        Unit::Count,
        "The afnemer's forecast of berichten for the current month."
    );
    describe_gauge!(
        "berichtenbox_berichten_maand",
        Unit::Count,
        "Berichten the afnemer had parked this calendar month so far."
    );
    describe_gauge!(
        "berichtenbox_prognose_afwijking_ratio",
        "The month's projected total against the afnemer's forecast: (projected - forecast) / forecast; NaN without a forecast."
    );
    describe_gauge!(
        "berichtenbox_prognose_berichten_totaal",
        Unit::Count,
        "All afnemers' forecasts for the current month together."
    );
    describe_gauge!(
        "berichtenbox_maand_voortgang_ratio",
        "The share of the current calendar month (Europe/Amsterdam) that has passed."
    );
    describe_gauge!(
        "berichtenbox_dagen_in_maand",
        Unit::Count,
        "Days in the current calendar month."
    );
    describe_gauge!(
        "berichtenbox_capaciteit",
        Unit::Count,
        "The capacity norms the forecasts are held against, per norm."
    );
    // Maintenance and availability.
    describe_gauge!(
        "berichtenbox_onderhoudsvenster_actief",
        "1 while the maintenance window is on, else 0, per window."
    );
    describe_gauge!(
        "berichtenbox_onderhoud_actief",
        "1 while any maintenance window is on, else 0."
    );
    describe_gauge!(
        "berichtenbox_beschikbaarheid_maand_ratio",
        "The engine's availability this month outside maintenance windows with downtime, from its recorded runs."
    );
    describe_gauge!(
        "berichtenbox_build_info",
        "Always 1; the engine's version as a label."
    );
}

#[cfg(test)]
mod tests {
    use super::api_of;

    #[test]
    fn paths_fall_into_their_api() {
        assert_eq!(api_of("/v1/account/berichten/3"), "burger");
        assert_eq!(api_of("/v1/beheer/afnemers"), "beheer");
        assert_eq!(api_of("/metrics"), "ops");
        assert_eq!(api_of("/health/ready"), "ops");
        assert_eq!(api_of("/v1/batches"), "afnemer");
        assert_eq!(api_of("/v1/prognoses/2027-01"), "afnemer");
    }
}
