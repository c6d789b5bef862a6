//! Authentication, authorization, rate limits and response hardening, as middleware.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use auth::jwt::JwtKeys;
use auth::password::PasswordHasherService;
use auth::rate::{Quota, RateLimiter};
use auth::{credentials::Credentials, refresh::RefreshTokens};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain::account::Role;
use uuid::Uuid;

use crate::error::{self, ApiError};
use crate::routes::Access;
use crate::AppState;

/// The authenticated caller, from a valid access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Account id.
    pub account_id: Uuid,
    /// Roles in the token.
    pub roles: Vec<Role>,
}

impl Actor {
    /// Whether the actor holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Refuses with 404 unless the resource belongs to the actor or the actor is an admin:
    /// another customer's cart or order looks exactly like one that does not exist.
    pub fn owns(&self, owner: Uuid, what: commands::Missing) -> Result<(), ApiError> {
        if self.account_id == owner || self.has(Role::Admin) {
            Ok(())
        } else {
            Err(ApiError::missing(what))
        }
    }

    /// The seller whose figures a seller-scoped read shows: the caller's own by default; an
    /// admin may name any seller, a seller only themselves (another answers 403).
    pub fn seller_scope(&self, requested: Option<Uuid>) -> Result<Uuid, ApiError> {
        match requested {
            Some(other) if other != self.account_id && !self.has(Role::Admin) => {
                Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "forbidden",
                    "sellers see only their own products, fulfilments and reports",
                ))
            }
            Some(seller) => Ok(seller),
            None => Ok(self.account_id),
        }
    }

    /// How the actor is recorded in event metadata.
    pub fn label(&self) -> String {
        format!("account:{}", self.account_id)
    }
}

/// Rate limits: per process, or shared by every instance through Redis.
pub struct Limits {
    /// Every request, per client IP.
    pub per_ip: RateLimiter,
    /// Every authenticated request, per account.
    pub per_account: RateLimiter,
    /// `/auth/*` requests, per client IP (stricter).
    pub auth_per_ip: RateLimiter,
    /// Login attempts per email address.
    pub login_per_email: RateLimiter,
}

/// Rate limit settings (requests per minute).
#[derive(Debug, Clone, Copy)]
pub struct LimitConfig {
    /// Per client IP.
    pub per_ip: u32,
    /// Per account.
    pub per_account: u32,
    /// `/auth/*` per client IP.
    pub auth_per_ip: u32,
    /// Login attempts per email.
    pub login_per_email: u32,
}

impl Default for LimitConfig {
    fn default() -> Self {
        LimitConfig {
            per_ip: 600,
            per_account: 600,
            auth_per_ip: 20,
            login_per_email: 10,
        }
    }
}

impl Limits {
    /// Limiters for a configuration, counted in this process.
    pub fn new(config: LimitConfig) -> Self {
        Self::shared(config, None)
    }

    /// Limiters for a configuration, counted in `shared` (Redis) when given.
    pub fn shared(config: LimitConfig, shared: Option<auth::rate::Shared>) -> Self {
        let limiter = |name, per_minute| {
            RateLimiter::shared(name, Quota::per_minute(per_minute), shared.clone())
        };
        Limits {
            per_ip: limiter("per_ip", config.per_ip),
            per_account: limiter("per_account", config.per_account),
            auth_per_ip: limiter("auth_per_ip", config.auth_per_ip),
            login_per_email: limiter("login_per_email", config.login_per_email),
        }
    }
}

/// Everything authentication needs.
pub struct Security {
    /// Access token keys.
    pub keys: JwtKeys,
    /// Password hashing.
    pub hasher: PasswordHasherService,
    /// Password hash storage.
    pub credentials: Credentials,
    /// Refresh tokens.
    pub refresh: RefreshTokens,
    /// Rate limits.
    pub limits: Limits,
    /// Take the client IP from the first `X-Forwarded-For` entry (behind a trusted proxy).
    pub trust_forwarded_for: bool,
}

/// Answers 429 with `Retry-After`.
pub fn too_many(wait: Duration) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many requests; slow down",
    )
    .retry_after(wait.as_secs().max(1).min(u64::from(u32::MAX)) as u32)
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn client_ip(security: &Security, request: &Request) -> String {
    if security.trust_forwarded_for {
        if let Some(ip) = request
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
        {
            return ip.trim().to_owned();
        }
    }
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string())
}

fn bearer(headers: &HeaderMap) -> Option<Result<&str, ()>> {
    let value = headers.get(header::AUTHORIZATION)?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(()),
    )
}

fn invalid_token(detail: &str) -> Response {
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", detail).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    response
}

/// Verifies the bearer token (if any), applies rate limits, and enforces the route's rule.
pub async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let security = &state.security;
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let ip = client_ip(security, &request);

    let limiter = if path.as_deref().is_some_and(|p| p.starts_with("/auth/")) {
        &security.limits.auth_per_ip
    } else {
        &security.limits.per_ip
    };
    if let Err(wait) = limiter.check(&ip).await {
        return too_many(wait).into_response();
    }

    // The path exists (it matched); a method it does not answer is the client's mistake.
    let access = match &path {
        None => None,
        Some(path) => match state.policies.get(request.method(), path) {
            Some(access) => Some(access),
            None => {
                return error::method_not_allowed(request.method(), &state.policies.allowed(path))
            }
        },
    };

    let actor = match bearer(request.headers()) {
        None => None,
        Some(Err(())) => return invalid_token("use 'Authorization: Bearer <access token>'"),
        Some(Ok(token)) => match security.keys.verify(token, now()) {
            Ok(claims) => match current_actor(&state, claims.sub).await {
                Ok(Some(actor)) => Some(actor),
                Ok(None) => return invalid_token("the account is closed"),
                Err(e) => return e.into_response(),
            },
            Err(e) => return invalid_token(&e.to_string()),
        },
    };
    if let Some(actor) = &actor {
        if let Err(wait) = security
            .limits
            .per_account
            .check(&actor.account_id.to_string())
            .await
        {
            return too_many(wait).into_response();
        }
    }

    let Some(access) = access else {
        return next.run(request).await;
    };
    let allowed = match (access, &actor) {
        (Access::Public, _) => true,
        (_, None) => {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "sign in first: Authorization: Bearer <access token>",
            )
            .into_response()
        }
        (Access::Authenticated, Some(_)) => true,
        (Access::Roles(roles), Some(actor)) => roles.iter().any(|r| actor.has(*r)),
    };
    if !allowed {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "your roles do not allow this",
        )
        .into_response();
    }
    if let Some(actor) = actor {
        request.extensions_mut().insert(actor);
    }
    next.run(request).await
}

/// The caller as the account stands now, read from its stream: a closed account or a revoked
/// role takes effect on the next request, on every instance, whatever the token still says.
/// `None` when the account is closed or does not exist.
async fn current_actor(state: &AppState, account_id: Uuid) -> Result<Option<Actor>, ApiError> {
    let profile = state
        .commands
        .account(domain::AccountId::from_uuid(account_id))
        .await?;
    Ok(profile.filter(|p| !p.closed).map(|p| Actor {
        account_id,
        roles: p.roles.into_iter().collect(),
    }))
}

/// Refuses a path or query string whose decoded form holds a control character (`%00`, `%1B`
/// and the like): no identifier or text the API accepts may hold one, so such a request is
/// answered `400` before any handler, and nothing of it reaches the database.
pub async fn clean_uri(request: Request, next: Next) -> Response {
    let controls =
        |raw: &str| percent_encoding::percent_decode_str(raw).any(|b| b.is_ascii_control());
    let uri = request.uri();
    if controls(uri.path()) {
        return ApiError::bad_request("invalid_path", "the path contains a control character")
            .into_response();
    }
    if uri.query().is_some_and(controls) {
        return ApiError::bad_request(
            "invalid_query",
            "the query string contains a control character",
        )
        .into_response();
    }
    next.run(request).await
}

/// Hardening headers on every response.
pub async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        (
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
        (
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        ),
    ] {
        // A page that needs its own policy (the API's docs page) keeps it.
        if !h.contains_key(name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The verified caller of a route that requires one (its rule is not `Public`).
pub struct Caller(pub Actor);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Actor>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| {
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first")
            })
    }
}

/// The verified caller of a public route, when the request carried a valid token.
pub struct MaybeCaller(pub Option<Actor>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for MaybeCaller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybeCaller(parts.extensions.get::<Actor>().cloned()))
    }
}

/// Shared handle.
pub type SharedSecurity = Arc<Security>;
