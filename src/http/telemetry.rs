//! Request metrics: every response counted by route, method and status, and its duration
//! observed per API (afnemer, burger, beheer, ops).
//!
//! Every label value comes from a closed set, so the series stay few whatever clients send:
//! the route label is a pattern of the routes table (`/v1/batches/{batchId}`), never the raw
//! path, and a path that matches no route counts as `unmatched`; the method label is one of
//! the nine standard methods, and any other method name counts as `other`. The list of every metric is [`berichtenbox_actors::telemetry`], re-exported
//! here.

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder};

use super::routes;

/// The list of every metric (names, kinds, units, labels, help texts) and `describe`, which
/// hands it to the recorder: defined in the actors crate, which emits metrics too.
pub use berichtenbox_actors::telemetry::*;

/// The Prometheus recorder's builder, every histogram with its buckets from [`METRICS`] (a
/// histogram without buckets would be exported as a summary).
pub fn recorder_builder() -> Result<PrometheusBuilder, BuildError> {
    METRICS
        .iter()
        .filter(|metric| metric.kind == Kind::Histogram)
        .try_fold(PrometheusBuilder::new(), |builder, metric| {
            builder.set_buckets_for_metric(Matcher::Full(metric.name.into()), metric.buckets)
        })
}

/// The middleware: wraps every request of the app (`App::wrap(from_fn(observe))`).
pub async fn observe(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = method_label(request.method());
    let response = next.call(request).await?;
    let route = response
        .request()
        .match_pattern()
        .as_deref()
        .and_then(routes::route_of_pattern);
    let api = match route {
        Some(route) => route.api,
        None => routes::api_of_path(response.request().path()),
    };
    let route = route.map_or("unmatched", |route| route.path);
    let status = response.status().as_u16().to_string();
    metrics::counter!(
        HTTP_REQUESTS,
        "route" => route,
        "method" => method,
        "status" => status
    )
    .increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION, "api" => api.as_str())
        .record(started.elapsed().as_secs_f64());
    Ok(response)
}

/// The `method` label of a request: the method's name when it is one of the nine standard
/// methods (RFC 9110, and PATCH), otherwise `other`: a client can make up any number of method
/// names, and each would be a new series for as long as the engine runs.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::Method;

    use super::{METRICS, Metric, method_label};

    #[test]
    fn a_method_outside_the_standard_set_is_other() {
        for name in [
            "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
        ] {
            let method = Method::from_bytes(name.as_bytes()).expect("a method");
            assert_eq!(method_label(&method), name);
        }
        for name in ["XMETHOD0", "get", "PROPFIND", "Get", "BREW"] {
            let method = Method::from_bytes(name.as_bytes()).expect("a method");
            assert_eq!(method_label(&method), "other", "{name}");
        }
    }

    /// The README's table of metrics, as the list gives it.
    fn readme_table() -> String {
        let mut table =
            String::from("| metric | kind | labels | what it says |\n| --- | --- | --- | --- |\n");
        for Metric {
            name,
            kind,
            labels,
            help,
            ..
        } in METRICS
        {
            let labels: Vec<String> = labels.iter().map(|l| format!(" `{l}`")).collect();
            table.push_str(&format!(
                "| `{name}` | {} |{} | {help} |\n",
                kind.as_str(),
                labels.join(",")
            ));
        }
        table
    }

    /// Every call site names a metric by its constant: no string literal that starts with a
    /// metric's prefix in the sources of the engine's crates, but in the list itself.
    #[test]
    fn metric_names_are_written_only_in_the_list() {
        fn walk(dir: &std::path::Path, needle: &str, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir)
                .expect("read a source folder")
                .flatten()
            {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, needle, found);
                } else if path.extension().is_some_and(|ext| ext == "rs")
                    && !path.ends_with("actors/src/telemetry.rs")
                {
                    let text = std::fs::read_to_string(&path).expect("read a source file");
                    for (number, line) in text.lines().enumerate() {
                        if line.contains(needle) {
                            found.push(format!(
                                "{}:{}: {}",
                                path.display(),
                                number + 1,
                                line.trim()
                            ));
                        }
                    }
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let needle = ["\"berichtenbox", "_"].concat();
        let mut found = Vec::new();
        for dir in ["src", "actors/src", "bench", "loadtest/src"] {
            walk(&root.join(dir), &needle, &mut found);
        }
        assert!(
            found.is_empty(),
            "metric names written out (use the constants of berichtenbox_actors::telemetry):\n  {}",
            found.join("\n  ")
        );
    }

    #[test]
    fn readme_lists_every_metric() {
        let readme = include_str!("../../README.md");
        let table = readme_table();
        assert!(
            readme.contains(&table),
            "README.md's table of metrics differs from berichtenbox_actors::telemetry::METRICS; \
             it should read:\n{table}"
        );
    }
}
