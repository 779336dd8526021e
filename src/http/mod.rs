//! The HTTP edge: routes, JSON types, authentication and the mapping of errors to problem+json.
//!
//! Only this module knows JSON. Handlers are thin: they authenticate, read and check the body
//! (off the event loop when it is CPU work), and call the actors or the store. Disk reads and
//! writes of the catalog run on the blocking pool, never on an actix worker's loop.

pub mod account;
pub mod auth;
pub mod batches;
pub mod beheer;
pub mod berichttypen;
pub mod body;
pub mod burger;
pub mod ops;
pub mod paging;
pub mod problem;
pub mod prognoses;
pub mod rapportages;
pub mod receipts;
pub mod telemetry;
pub mod validaties;

use std::sync::Arc;

use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpRequest, HttpResponse, ResponseError as _, web};
use berichtenbox_actors::catalog::Catalog;
use berichtenbox_actors::core::clock::SharedClock;
use berichtenbox_actors::core::onderhoud::Venster;
use berichtenbox_actors::registry::Registry;
use berichtenbox_actors::store::{RunRecord, Store};
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
    /// Checks citizens' tokens; `None` when no secret or key is configured.
    pub burger: Option<burger::BurgerVerifier>,
    /// Europe/Amsterdam: the calendar of days, months and maintenance windows.
    pub zone: jiff::tz::TimeZone,
    /// The maintenance windows of `[onderhoud]`, checked.
    pub vensters: Vec<Venster>,
    /// This run of the engine, for availability.
    pub run: RunRecord,
    /// The Validatieservice's hourly limit, all afnemers together.
    pub validaties: validaties::Uurlimiet,
}

/// Registers every route; also used by tests that build the app in-process.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1")
            .service(
                web::resource("/batches")
                    .route(web::post().to(batches::deliver))
                    .default_service(only("POST")),
            )
            .service(
                web::resource("/batches/{batchId}")
                    .route(web::get().to(batches::status))
                    .default_service(only("GET")),
            )
            .service(
                web::resource("/account")
                    .route(web::post().to(account::open))
                    .route(web::get().to(account::get))
                    .route(web::patch().to(account::patch))
                    .route(web::delete().to(account::close))
                    .default_service(only("POST, GET, PATCH, DELETE")),
            )
            .service(
                web::resource("/account/voorkeuren")
                    .route(web::get().to(account::voorkeuren))
                    .default_service(only("GET")),
            )
            .service(
                web::resource("/account/voorkeuren/{oin}")
                    .route(web::put().to(account::put_voorkeur))
                    .default_service(only("PUT")),
            )
            .service(
                web::resource("/account/berichten")
                    .route(web::get().to(account::berichten))
                    .default_service(only("GET")),
            )
            .service(
                web::resource("/account/berichten/{id}")
                    .route(web::get().to(account::bericht))
                    .route(web::patch().to(account::patch_bericht))
                    .route(web::delete().to(account::delete_bericht))
                    .default_service(only("GET, PATCH, DELETE")),
            )
            .service(
                web::resource("/account/berichten/{id}/bijlagen/{volgorde}")
                    .route(web::get().to(account::bijlage))
                    .default_service(only("GET")),
            )
            .service(
                web::resource("/verwerkingsberichten")
                    .route(web::get().to(receipts::list))
                    .default_service(only("GET")),
            )
            .service(
                web::resource("/berichttypen")
                    .route(web::get().to(berichttypen::list))
                    .default_service(only("GET")),
            )
            .service(
                web::resource("/berichttypen/{code}")
                    .route(web::put().to(berichttypen::put))
                    .default_service(only("PUT")),
            )
            .service(
                web::resource("/prognoses")
                    .route(web::get().to(prognoses::list))
                    .default_service(only("GET")),
            )
            .service(
                web::resource("/prognoses/{maand}")
                    .route(web::put().to(prognoses::put))
                    .default_service(only("PUT")),
            )
            .service(
                web::resource("/rapportages/dagelijks")
                    .route(web::get().to(rapportages::dagelijks))
                    .default_service(only("GET")),
            )
            .service(
                web::resource("/validaties")
                    .route(web::post().to(validaties::validate))
                    .default_service(only("POST")),
            )
            .service(
                web::resource("/beheer/rapportages/maandelijks")
                    .route(web::get().to(rapportages::maandelijks))
                    .default_service(only("GET")),
            )
            .service(
                web::resource("/beheer/afnemers")
                    .route(web::get().to(beheer::list_afnemers))
                    .default_service(only("GET")),
            )
            .service(
                web::resource("/beheer/afnemers/{oin}")
                    .route(web::put().to(beheer::put_afnemer))
                    .default_service(only("PUT")),
            )
            .service(
                web::resource("/beheer/afnemers/{oin}/api-sleutels")
                    .route(web::post().to(beheer::create_api_key))
                    .default_service(only("POST")),
            )
            .service(
                web::resource("/openapi.json")
                    .route(web::get().to(ops::openapi))
                    .default_service(only("GET")),
            ),
    )
    .service(
        web::resource("/metrics")
            .route(web::get().to(ops::metrics))
            .default_service(only("GET")),
    )
    .service(
        web::resource("/health/live")
            .route(web::get().to(ops::live))
            .default_service(only("GET")),
    )
    .service(
        web::resource("/health/ready")
            .route(web::get().to(ops::ready))
            .default_service(only("GET")),
    );
}

/// The headers every response carries.
pub fn default_headers() -> DefaultHeaders {
    DefaultHeaders::new().add(("API-Version", API_VERSION))
}

pub async fn not_found(request: HttpRequest) -> HttpResponse {
    ApiError::NotFound(format!("Er is geen resource op {}.", request.path())).error_response()
}

/// The fallback of a resource: 405 with the methods it does allow.
fn only(allow: &'static str) -> actix_web::Route {
    web::to(move |request: HttpRequest| async move {
        ApiError::MethodNotAllowed {
            detail: format!(
                "{} is niet toegestaan op {}; wel: {allow}.",
                request.method(),
                request.path()
            ),
            allow,
        }
        .error_response()
    })
}
