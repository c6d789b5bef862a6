//! Errors as RFC 9457 problem details with a stable `code`.
//!
//! - 400: malformed request (`invalid_body`, `invalid_path`, `invalid_query`, ...);
//! - 404: the addressed resource does not exist;
//! - 409: optimistic-concurrency conflict, with `stream_id` and `current_version`;
//! - 422: a domain rule refused the command (the domain error's code);
//! - 405: the path exists, the method does not (with `Allow`);
//! - 500: a defect (details logged, not sent; no `Retry-After`: retrying will not help);
//! - 503: the store or a read model is unavailable or behind, with `Retry-After`; details are
//!   logged, not sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use commands::{CommandError, Missing};
use serde_json::{json, Map, Value};

/// An error response.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    extra: Map<String, Value>,
    retry_after: Option<u32>,
}

impl ApiError {
    /// An error with a status, code and human-readable detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            extra: Map::new(),
            retry_after: None,
        }
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 404 with a code.
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    /// 422 with a code.
    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    /// Adds a member to the problem document.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// Asks the client to retry after some seconds.
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// An infrastructure failure: logged in full, answered without details.
    pub fn unavailable(error: &dyn std::error::Error) -> Self {
        tracing::error!(error = %error, "infrastructure failure");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "a backing service is unavailable; try again shortly",
        )
        .retry_after(1)
    }

    /// A defect on the server's side: logged in full, answered without details and without
    /// `Retry-After` (the same request would fail again).
    pub fn internal(error: &dyn std::error::Error) -> Self {
        tracing::error!(error = %error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the server failed to handle this request",
        )
    }

    /// 404 for a resource that does not exist (or is not the caller's to see).
    pub fn missing(what: Missing) -> Self {
        Self::not_found(what.code(), format!("{} not found", what.what()))
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": format!("https://errors.commerce.example/{}", self.code),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "code": self.code,
            "detail": self.detail,
        });
        if let Value::Object(map) = &mut body {
            map.extend(self.extra);
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        response
            .extensions_mut()
            .insert(crate::observe::ErrorCode(self.code));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::NotFound(what) => ApiError::missing(what),
            CommandError::Rejected(commands::Rejection::Value(e)) => e.into(),
            CommandError::Rejected(commands::Rejection::Checkout(
                domain::checkout::CheckoutError::PriceChanged(quote),
            )) => ApiError::unprocessable(
                "price_changed",
                format!("the price changed: the order now costs {}", quote.total),
            )
            .with("quote", serde_json::to_value(quote).unwrap_or_default()),
            CommandError::Rejected(rejection) => {
                ApiError::unprocessable(rejection.code(), rejection.to_string())
            }
            CommandError::Conflict { stream_id, actual } => ApiError::new(
                StatusCode::CONFLICT,
                "concurrency_conflict",
                format!("{stream_id} is at version {actual}; reload and retry"),
            )
            .with("stream_id", stream_id)
            .with("current_version", actual),
            CommandError::Store(e) => e.into(),
        }
    }
}

/// Unreachable or overloaded stores are worth a retry (503); what a store cannot do is 501;
/// anything else is a defect (500).
impl From<events::StoreError> for ApiError {
    fn from(e: events::StoreError) -> Self {
        match e {
            events::StoreError::Unsupported(what) => {
                ApiError::new(StatusCode::NOT_IMPLEMENTED, "not_supported_by_store", what)
            }
            events::StoreError::Erased(_) => ApiError::unprocessable(
                "personal_data_erased",
                "this person's personal data was erased: nothing more is recorded for them",
            ),
            e if e.is_transient() => ApiError::unavailable(&e),
            e => ApiError::internal(&e),
        }
    }
}

impl From<projections::ProjectionError> for ApiError {
    fn from(e: projections::ProjectionError) -> Self {
        match e {
            projections::ProjectionError::Store(e) => e.into(),
            projections::ProjectionError::Database(e) => e.into(),
        }
    }
}

/// A value object refused a body field: 422 naming the field.
impl From<domain::ValueError> for ApiError {
    fn from(e: domain::ValueError) -> Self {
        let error = ApiError::unprocessable(e.code(), e.to_string());
        match e.field() {
            Some(field) => error.with("field", field),
            None => error,
        }
    }
}

/// Only failures to reach the database are worth a retry (503 with `Retry-After`); any other
/// database error is a defect (500), never blamed on availability.
impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if events::postgres::is_transient(&e) {
            ApiError::unavailable(&e)
        } else {
            ApiError::internal(&e)
        }
    }
}

/// Answer for unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::not_found("route_not_found", "no such route")
}

/// Answer for a method the path does not support: 405 with `Allow`.
pub fn method_not_allowed(method: &axum::http::Method, allow: &str) -> Response {
    let mut response = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed here; use {allow}"),
    )
    .into_response();
    if let Ok(value) = HeaderValue::from_str(allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}
