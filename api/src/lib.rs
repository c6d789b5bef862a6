//! The HTTP API.
//!
//! Commands go to the write side ([`commands::CommandHandler`]) and answer with the affected
//! stream's new version and the global position of the last event written. Queries are served
//! only from read models; a query may pass `min_position` (from a command's answer) to wait,
//! bounded, until the read model has caught up with that position.
//!
//! Every route is registered with an access rule ([`routes`]); a guard middleware verifies
//! the bearer token, applies rate limits and refuses what the rule does not allow, and any
//! route without a rule (deny by default).
//!
//! - [`error`]: the one error shape (RFC 9457 problem+json with a stable `code`);
//! - [`extract`]: extractors that turn bad input into that shape;
//! - [`security`]: authentication, authorization, rate limits, hardening headers;
//! - [`catalog`], [`categories`], [`write`], [`read`], [`accounts`], [`addresses`], [`wallet`], [`wishlist`], [`reviews`], [`sellers`], [`fulfilments`], [`dashboards`], [`payments`], [`returns`],
//!   [`pricing`], [`audit`]:
//!   the routes, one `routes()` each, merged in [`routes`];
//! - [`health`]: liveness and readiness; [`observe`]: request metrics; [`openapi`]: the
//!   OpenAPI document and its page;
//! - [`cache`]: `ETag`, `Cache-Control` and `304` for public catalog reads;
//! - [`serve`]: the HTTP/1.1 server loop.

pub mod accounts;
pub mod addresses;
pub mod audit;
pub mod cache;
pub mod catalog;
pub mod categories;
pub mod dashboards;
pub mod error;
pub mod extract;
pub mod fulfilments;
pub mod health;
pub mod observe;
pub mod openapi;
pub mod operations;
pub mod payments;
pub mod pricing;
pub mod read;
pub mod returns;
pub mod reviews;
pub mod routes;
pub mod security;
pub mod sellers;
pub mod serve;
pub mod wallet;
pub mod web;
pub mod wishlist;
pub mod write;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Request};
use axum::Router;
use commands::CommandHandler;
use sqlx::PgPool;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Header carrying the request id (generated when absent).
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Everything handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Write side.
    pub commands: CommandHandler,
    /// Read-model database.
    pub read_pool: PgPool,
    /// Longest a query waits for `min_position`.
    pub max_read_wait: Duration,
    /// Tokens, passwords, rate limits.
    pub security: Arc<security::Security>,
    /// Access rules (filled by [`router`]).
    pub policies: Arc<routes::Policies>,
    /// How long after delivery a customer may return units.
    pub return_window: Duration,
    /// The payment provider, when one is configured.
    pub payments: Option<Arc<dyn ::payments::PaymentGateway>>,
    /// Origins allowed by CORS; empty means same-origin only.
    pub cors_origins: Arc<Vec<String>>,
    /// Recent search answers (`SEARCH_CACHE_MS`).
    pub searches: cache::AnswerCache,
    /// The catalog search index in memory, following the catalog read model.
    pub search_index: Arc<projections::search::SearchIndex>,
    /// Wakes read-your-writes waits when a projection batch commits; `None`: they poll.
    pub projected: Option<events::AppendSignal>,
    /// What `/health/ready` checks besides the database.
    pub readiness: health::Readiness,
    /// The rebuild started from the back office, if any.
    pub rebuilds: operations::Rebuilds,
}

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every route of the API with its access rule.
pub fn routes() -> routes::Routes {
    catalog::routes()
        .merge(health::routes())
        .merge(openapi::routes())
        .merge(categories::routes())
        .merge(write::routes())
        .merge(read::routes())
        .merge(accounts::routes())
        .merge(audit::routes())
        .merge(addresses::routes())
        .merge(wallet::routes())
        .merge(wishlist::routes())
        .merge(reviews::routes())
        .merge(sellers::routes())
        .merge(fulfilments::routes())
        .merge(dashboards::routes())
        .merge(payments::routes())
        .merge(returns::routes())
        .merge(pricing::routes())
        .merge(web::routes())
        .merge(operations::routes())
}

fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([
                axum::http::header::AUTHORIZATION,
                axum::http::header::CONTENT_TYPE,
                axum::http::header::IF_MATCH,
                axum::http::header::IF_NONE_MATCH,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("x-correlation-id"),
            ])
            .expose_headers([REQUEST_ID, axum::http::header::ETAG])
            .max_age(Duration::from_secs(600)),
    )
}

/// The whole API.
pub fn router(mut state: AppState) -> Router {
    let (routes, policies) = routes().into_parts();
    state.policies = Arc::new(policies);
    let cors = cors(&state.cors_origins);
    let router = routes
        .layer(axum::middleware::from_fn_with_state(state.clone(), security::guard))
        .layer(axum::middleware::from_fn(observe::record))
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn(security::clean_uri))
        .layer(axum::middleware::from_fn(security::headers))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let request_id = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                let span = tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id);
                // A caller's W3C `traceparent` makes this request part of its trace.
                if let Some(context) = request
                    .headers()
                    .get("traceparent")
                    .and_then(|v| v.to_str().ok())
                    .and_then(events::trace::context_of)
                {
                    use tracing_opentelemetry::OpenTelemetrySpanExt;
                    let _ = span.set_parent(context);
                }
                span
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid));
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.with_state(state)
}
