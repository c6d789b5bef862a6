//! The HTTP API.
//!
//! Commands go to the write side ([`commands::CommandHandler`]) and answer with the affected
//! stream's new version and the global position of the last event written. Queries are served
//! only from read models; a query may pass `min_position` (from a command's answer) to wait,
//! bounded, until the read model has caught up with that position.
//!
//! - [`error`]: the one error shape (RFC 9457 problem+json with a stable `code`);
//! - [`extract`]: extractors that turn bad input into that shape;
//! - [`write`] and [`read`]: the routes, one `router()` each, merged in [`router`].

pub mod error;
pub mod extract;
pub mod read;
pub mod write;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::Router;
use commands::CommandHandler;
use projections::Projection;
use sqlx::PgPool;
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
    /// Read models by name, for read-your-writes waits.
    pub projections: Arc<Vec<Arc<dyn Projection>>>,
    /// Longest a query waits for `min_position`.
    pub max_read_wait: Duration,
}

impl AppState {
    pub(crate) fn projection(&self, name: &str) -> Arc<dyn Projection> {
        self.projections
            .iter()
            .find(|p| p.name() == name)
            .cloned()
            .unwrap_or_else(|| panic!("projection {name} is not registered"))
    }
}

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The whole API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(write::router())
        .merge(read::router())
        .route("/health", axum::routing::get(read::health))
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let request_id = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}
