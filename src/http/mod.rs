//! The HTTP edge: routes, JSON types, authentication and the mapping of errors to problem+json.
//!
//! Only this module knows JSON. Handlers are thin: they authenticate, read and check the body
//! (off the event loop when it is CPU work), and call the actors or the store. Disk reads and
//! writes of the catalog run on the blocking pool, never on an actix worker's loop.

pub mod auth;
pub mod batches;
pub mod beheer;
pub mod berichttypen;
pub mod body;
pub mod ops;
pub mod problem;

use std::sync::Arc;

use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};
use berichtenbox_actors::catalog::Catalog;
use berichtenbox_actors::core::clock::SharedClock;
use berichtenbox_actors::registry::Registry;
use berichtenbox_actors::store::Store;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::Semaphore;

use crate::config::Config;
use problem::ApiError;

/// The full semantic version of the HTTP contract, sent as `API-Version` on every response.
pub const API_VERSION: &str = "1.0.0";

/// What every handler may reach.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub catalog: Arc<Catalog>,
    pub registry: Registry,
    pub clock: SharedClock,
    /// Permits of 1 KiB for request bodies in flight.
    pub in_flight: Arc<Semaphore>,
    pub metrics: Option<PrometheusHandle>,
}

/// Registers every route; also used by tests that build the app in-process.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1")
            .service(
                web::resource("/batches")
                    .route(web::post().to(batches::deliver))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/batches/{batchId}")
                    .route(web::get().to(batches::status))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/berichttypen")
                    .route(web::get().to(berichttypen::list))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/berichttypen/{code}")
                    .route(web::put().to(berichttypen::put))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/beheer/afnemers")
                    .route(web::get().to(beheer::list_afnemers))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/beheer/afnemers/{oin}")
                    .route(web::put().to(beheer::put_afnemer))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/beheer/afnemers/{oin}/api-sleutels")
                    .route(web::post().to(beheer::create_api_key))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/openapi.json")
                    .route(web::get().to(ops::openapi))
                    .default_service(web::to(method_not_allowed)),
            ),
    )
    .route("/metrics", web::get().to(ops::metrics))
    .route("/health/live", web::get().to(ops::live))
    .route("/health/ready", web::get().to(ops::ready));
}

/// The headers every response carries.
pub fn default_headers() -> DefaultHeaders {
    DefaultHeaders::new().add(("API-Version", API_VERSION))
}

pub async fn not_found(request: HttpRequest) -> HttpResponse {
    ApiError::NotFound(format!("Er is geen resource op {}.", request.path())).error_response()
}

async fn method_not_allowed(request: HttpRequest) -> HttpResponse {
    ApiError::MethodNotAllowed(format!(
        "{} is niet toegestaan op {}.",
        request.method(),
        request.path()
    ))
    .error_response()
}
