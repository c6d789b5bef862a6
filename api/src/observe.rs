//! Request metrics (Prometheus names, recorded through the `metrics` facade; the process that
//! serves `/metrics` installs the recorder):
//!
//! - `commerce_http_requests_total{method, route, status}`: every request that matched a
//!   route (the route is its pattern, `/orders/{order_id}`, never the raw path);
//! - `commerce_http_request_duration_seconds{method, route}`: their latency;
//! - `commerce_commands_total{command, outcome}`: every request that is not a read (`command`
//!   is method and route), with `accepted` or the error's stable code as the outcome.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

/// The stable code of an error answer, left in the response's extensions by
/// [`crate::error::ApiError`] for the metrics layer.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

/// Records the metrics of one request (a route layer: it sees the matched route).
pub async fn record(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status();
    let elapsed = started.elapsed().as_secs_f64();
    let method_label = method.as_str().to_owned();
    metrics::counter!("commerce_http_requests_total",
        "method" => method_label.clone(), "route" => route.clone(),
        "status" => status.as_u16().to_string())
    .increment(1);
    metrics::histogram!("commerce_http_request_duration_seconds",
        "method" => method_label.clone(), "route" => route.clone())
    .record(elapsed);
    if ![Method::GET, Method::HEAD, Method::OPTIONS].contains(&method) {
        let outcome = match response.extensions().get::<ErrorCode>() {
            Some(ErrorCode(code)) => *code,
            None if status.is_success() || status.is_redirection() => "accepted",
            None => "refused",
        };
        metrics::counter!("commerce_commands_total",
            "command" => format!("{method_label} {route}"), "outcome" => outcome)
        .increment(1);
    }
    response
}
