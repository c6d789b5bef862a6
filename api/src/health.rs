//! Liveness and readiness, for load balancers and orchestrators (Kubernetes probes).
//!
//! - `GET /health/live`: 200 while the process answers HTTP. It checks nothing else, so a
//!   database outage never makes an orchestrator restart healthy processes.
//! - `GET /health/ready`: 200 when this process can serve fresh answers: the database answers,
//!   the broker answers (when the process talks to Kafka) and every projection has applied
//!   every event older than the newest `READY_MAX_LAG` ones. Otherwise 503 `not_ready` with
//!   `Retry-After` and the outcome of each check, so traffic goes elsewhere until it recovers.
//! - `GET /health`: the database check alone (kept for existing monitors).

use crate::openapi::Doc;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::Json;
use serde_json::{json, Map, Value};

use projections::Projection;

use crate::error::ApiError;
use crate::routes::{Access, Routes};
use crate::AppState;

/// A check of a dependency: `Err` says what is wrong.
pub type Probe =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Longest a single check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What `/health/ready` checks besides the database.
#[derive(Clone)]
pub struct Readiness {
    /// The broker, when this process talks to Kafka.
    pub broker: Option<Probe>,
    /// Most events a projection may be behind the head of the log with the process still
    /// ready; `None` leaves projections out of readiness.
    pub max_lag: Option<i64>,
    /// The projections whose lag counts.
    pub projections: Vec<Arc<dyn Projection>>,
}

impl Default for Readiness {
    /// The database alone.
    fn default() -> Self {
        Readiness {
            broker: None,
            max_lag: None,
            projections: Vec::new(),
        }
    }
}

/// The health routes, all public (they reveal no data).
pub fn routes() -> Routes {
    Routes::default()
        .add(Method::GET, "/health", Access::Public, health)
        .doc(Doc::new("200 when the database answers").answers::<Value>(200))
        .add(Method::GET, "/health/live", Access::Public, live)
        .doc(Doc::new("Liveness: 200 while the process serves requests").answers::<Value>(200))
        .add(Method::GET, "/health/ready", Access::Public, ready)
        .doc(Doc::new("Readiness: database, broker and projection lag").answers::<Value>(200))
}

/// `GET /health`: 200 when the database answers.
async fn health(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    sqlx::query("select 1").execute(&state.read_pool).await?;
    Ok(Json(json!({ "status": "ok" })))
}

/// `GET /health/live`: 200, always, while the process serves requests.
async fn live() -> Json<Value> {
    Json(json!({ "status": "live" }))
}

/// `GET /health/ready`: every check, each bounded by [`CHECK_TIMEOUT`].
async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let mut checks = Map::new();
    let mut failed = Vec::new();
    let database = bounded(async {
        sqlx::query("select 1")
            .execute(&state.read_pool)
            .await
            .map(|_| ())
            .map_err(|e| format!("the database did not answer: {e}"))
    })
    .await;
    record(&mut checks, &mut failed, "database", database, None);
    if let Some(probe) = &state.readiness.broker {
        let broker = bounded(probe()).await;
        record(&mut checks, &mut failed, "broker", broker, None);
    }
    if let Some(max_lag) = state.readiness.max_lag {
        let (outcome, behind) = projections_within(&state, max_lag).await;
        let detail = json!({ "max_lag_events": max_lag, "behind": behind });
        record(
            &mut checks,
            &mut failed,
            "projections",
            outcome,
            Some(detail),
        );
    }
    if failed.is_empty() {
        return Ok(Json(json!({ "status": "ready", "checks": checks })));
    }
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_ready",
        format!("not ready: {}", failed.join(", ")),
    )
    .with("checks", Value::Object(checks))
    .retry_after(5))
}

/// Runs a check, failing it when it takes longer than [`CHECK_TIMEOUT`].
async fn bounded(check: impl Future<Output = Result<(), String>>) -> Result<(), String> {
    tokio::time::timeout(CHECK_TIMEOUT, check)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {CHECK_TIMEOUT:?}")))
}

fn record(
    checks: &mut Map<String, Value>,
    failed: &mut Vec<&'static str>,
    name: &'static str,
    outcome: Result<(), String>,
    detail: Option<Value>,
) {
    let mut entry = match detail {
        Some(Value::Object(detail)) => detail,
        _ => Map::new(),
    };
    entry.insert("ok".into(), outcome.is_ok().into());
    if let Err(error) = outcome {
        entry.insert("error".into(), error.into());
        failed.push(name);
    }
    checks.insert(name.into(), Value::Object(entry));
}

/// Whether every projection has applied each event older than the newest `max_lag`, and the
/// ones that have not, with how far their watermark (below which all is applied) trails the head.
async fn projections_within(state: &AppState, max_lag: i64) -> (Result<(), String>, Vec<Value>) {
    let store = &**state.commands.store();
    let check = async {
        let head = store.head_position().await.map_err(|e| e.to_string())?;
        let mut behind = Vec::new();
        let due = head - max_lag;
        if due <= 0 {
            return Ok(behind);
        }
        for projection in &state.readiness.projections {
            let reached = projections::projector::has_reached(
                store,
                &state.read_pool,
                projection.as_ref(),
                due,
            )
            .await
            .map_err(|e| e.to_string())?;
            if !reached {
                let watermark =
                    projections::projector::watermark(&state.read_pool, projection.as_ref())
                        .await
                        .map_err(|e| e.to_string())?;
                behind.push(json!({
                    "projection": projection.name(),
                    "lag_events": head - watermark,
                }));
            }
        }
        Ok::<_, String>(behind)
    };
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(behind)) if behind.is_empty() => (Ok(()), behind),
        Ok(Ok(behind)) => (
            Err(format!(
                "{} projection(s) more than {max_lag} events behind",
                behind.len()
            )),
            behind,
        ),
        Ok(Err(e)) => (Err(e), Vec::new()),
        Err(_) => (
            Err(format!("no answer within {CHECK_TIMEOUT:?}")),
            Vec::new(),
        ),
    }
}
