//! What operators and their tools read: `/metrics`, `/health/live`, `/health/ready`, and the
//! OpenAPI document.

use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, web};

use super::AppState;
use super::problem::ApiError;

/// The OpenAPI 3 document of the HTTP contract; a test keeps it true to the routes.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(OPENAPI_JSON)
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
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
