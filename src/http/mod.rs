//! The HTTP edge: routes, JSON types, authentication and the mapping of errors to problem+json.
//!
//! Only this module knows JSON. Handlers are thin: they authenticate, read and check the body
//! (off the event loop when it is CPU work), and call the actors or the store. Disk reads and
//! writes of the catalog run on the blocking pool, never on an actix worker's loop.

pub mod abonnementen;
pub mod account;
pub mod auth;
pub mod batches;
pub mod beheer;
pub mod berichttypen;
pub mod body;
pub mod burger;
pub mod connections;
pub mod limits;
pub mod ops;
pub mod paging;
pub mod portaal;
pub mod problem;
pub mod prognoses;
pub mod rapportages;
pub mod receipts;
pub mod routes;
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
    /// Of those permits, what each afnemer holds now (`server.in_flight_afnemer_percent`).
    pub in_flight_per_afnemer: body::Shares,
    pub metrics: Option<PrometheusHandle>,
    /// Checks citizens' tokens; `None` when no secret or key is configured.
    pub burger: Option<burger::BurgerVerifier>,
    /// Europe/Amsterdam: the calendar of days, months and maintenance windows.
    pub zone: jiff::tz::TimeZone,
    /// The maintenance windows of `[onderhoud]`, checked.
    pub vensters: Vec<Venster>,
    /// This run of the engine, for availability.
    pub run: RunRecord,
    /// The Abonnementservice's night window (`[abonnementen]`), checked.
    pub nachten: berichtenbox_actors::core::nacht::NachtVenster,
    /// Where the Abonnementservice's results are (`DATA_DIR/abonnementen`).
    pub resultaten: std::path::PathBuf,
    /// Failed authentications per client address (`auth.failures_*`).
    pub auth_failures: limits::KeyedLimit<std::net::IpAddr>,
    /// Each citizen's calls (`[burgers]`).
    pub burgers: limits::KeyedLimit<burger::Bsn>,
    /// Set when the engine stops accepting connections (`server.shutdown_drain_ms`): every
    /// response then closes its connection.
    pub draining: std::sync::atomic::AtomicBool,
}

/// Registers every route of [`routes::ROUTES`], each resource with a 405 fallback naming the
/// methods it allows; also used by tests that build the app in-process.
pub fn configure(on: routes::Listener) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| configure_on(cfg, on)
}

/// Registers the routes of [`routes::ROUTES`] that `on` (the API or the operations listener)
/// serves.
fn configure_on(cfg: &mut web::ServiceConfig, on: routes::Listener) {
    for (index, route) in routes::ROUTES.iter().enumerate() {
        if !route.listener.serves(on) {
            continue;
        }
        let mut resource = web::resource(route.path);
        for operation in route.operations {
            resource = resource.route((operation.handler)().method(operation.verb.method()));
        }
        let resource = resource.default_service(only(routes::allow_of(index)));
        // The resource's middleware covers its 405 and every error its handlers answer.
        if route.api == routes::Api::Burger {
            cfg.service(resource.wrap(citizen_headers()));
        } else if route.api == routes::Api::Portaal {
            cfg.service(resource.wrap(portaal_headers()));
        } else {
            cfg.service(resource);
        }
    }
}

/// What every citizen response carries on top of [`default_headers`]: nothing of a citizen's
/// box is kept by a browser or an intermediary cache.
pub fn citizen_headers() -> DefaultHeaders {
    DefaultHeaders::new().add((actix_web::http::header::CACHE_CONTROL, "no-store"))
}

/// What every Leveranciersportaal response carries on top of [`default_headers`]: no script,
/// no inline style, no framing, forms posted only to the portal itself, nothing of an afnemer's
/// traffic kept by a browser or a cache (its stylesheet sets its own `Cache-Control`).
pub fn portaal_headers() -> DefaultHeaders {
    use actix_web::http::header;
    DefaultHeaders::new()
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "same-origin"))
        .add((header::CACHE_CONTROL, "no-store"))
}

/// The headers every response carries.
pub fn default_headers() -> DefaultHeaders {
    DefaultHeaders::new().add(("API-Version", API_VERSION))
}

pub async fn not_found(request: HttpRequest) -> HttpResponse {
    let mut response =
        ApiError::NotFound(format!("Er is geen resource op {}.", request.path())).error_response();
    // A path under the citizens' API that no route matched is still a citizen's answer.
    if routes::api_of_path(request.path()) == routes::Api::Burger {
        response.headers_mut().insert(
            actix_web::http::header::CACHE_CONTROL,
            actix_web::http::header::HeaderValue::from_static("no-store"),
        );
    }
    response
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
