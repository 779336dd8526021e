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
