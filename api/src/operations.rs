//! Operators' view of the projections: how far each one trails the log, and a rebuild started
//! from the back office whose progress can be followed (`commerce rebuild` does the same from
//! the command line).

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::openapi::Doc;
use crate::routes::{Access, Routes, ADMINS};
use crate::AppState;

/// The rebuild this process runs or last ran, shared by its requests.
#[derive(Clone)]
pub struct Rebuilds {
    current: Arc<Mutex<Option<RebuildStatus>>>,
    batch_size: usize,
}

impl Rebuilds {
    /// Rebuilds replaying `batch_size` events per batch.
    pub fn new(batch_size: usize) -> Self {
        Rebuilds {
            current: Arc::default(),
            batch_size: batch_size.max(1),
        }
    }

    fn status(&self) -> Option<RebuildStatus> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn update(&self, change: impl FnOnce(&mut RebuildStatus)) {
        if let Some(status) = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            change(status);
        }
    }
}

impl Default for Rebuilds {
    fn default() -> Self {
        Rebuilds::new(1_000)
    }
}

/// A rebuild started from the back office.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RebuildStatus {
    /// The projections rebuilt.
    pub projections: Vec<String>,
    /// `running`, `done` or `failed`.
    pub state: &'static str,
    /// Events replayed so far.
    pub events: u64,
    /// Log position reached.
    pub position: i64,
    /// The log's head when last looked at.
    pub head: i64,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub error: Option<String>,
}

/// One projection and how far it trails the log.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ProjectionStatus {
    /// Its name (what `commerce rebuild` takes).
    pub name: &'static str,
    /// Everything at or below this log position is applied.
    pub applied_up_to: i64,
    /// Events of the log above that position (0: caught up).
    pub lag_events: i64,
}

/// `GET /admin/projections`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ProjectionsAnswer {
    /// The log's newest position.
    pub head: i64,
    /// Every projection.
    pub projections: Vec<ProjectionStatus>,
    /// The rebuild this instance runs or last ran (`null`: none since it started).
    pub rebuild: Option<RebuildStatus>,
}

/// `POST /admin/projections/rebuild` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RebuildRequest {
    /// Projections to rebuild; empty or absent: all of them.
    #[serde(default)]
    #[schemars(length(max = 32))]
    projections: Vec<String>,
}

/// The operators' routes.
pub fn routes() -> Routes {
    Routes::default()
        .add(
            Method::GET,
            "/admin/projections",
            Access::Roles(ADMINS),
            status,
        )
        .doc(
            Doc::new("Projections: how far each trails the log, and the latest rebuild")
                .answers::<ProjectionsAnswer>(200),
        )
        .add(
            Method::POST,
            "/admin/projections/rebuild",
            Access::Roles(ADMINS),
            rebuild,
        )
        .doc(
            Doc::new("Rebuild projections into a new generation while the API serves; follow it with GET /admin/projections")
                .status(409)
                .body::<RebuildRequest>()
                .answers::<RebuildStatus>(202),
        )
}

async fn status(State(state): State<AppState>) -> Result<Json<ProjectionsAnswer>, ApiError> {
    let store = &**state.commands.store();
    let head = store.head_position().await?;
    let mut statuses = Vec::new();
    for projection in projections::registry::all() {
        // Moves the watermark up to the head when everything below it is applied.
        projections::projector::has_reached(store, &state.read_pool, projection.as_ref(), head)
            .await?;
        let applied = projections::projector::watermark(&state.read_pool, projection.as_ref())
            .await?
            .min(head);
        statuses.push(ProjectionStatus {
            name: projection.name(),
            applied_up_to: applied,
            lag_events: head - applied,
        });
    }
    Ok(Json(ProjectionsAnswer {
        head,
        projections: statuses,
        rebuild: state.rebuilds.status(),
    }))
}

async fn rebuild(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RebuildRequest>,
) -> Result<(StatusCode, Json<RebuildStatus>), ApiError> {
    let selected = if body.projections.is_empty() {
        projections::registry::all()
    } else {
        body.projections
            .iter()
            .map(|name| projections::registry::named(name))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ApiError::unprocessable("unknown_projection", e.to_string()))?
    };
    let names: Vec<String> = selected.iter().map(|p| p.name().to_owned()).collect();
    let started = RebuildStatus {
        projections: names,
        state: "running",
        events: 0,
        position: 0,
        head: 0,
        started_at: Utc::now(),
        finished_at: None,
        error: None,
    };
    {
        let mut current = state
            .rebuilds
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|s| s.state == "running") {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "rebuild_running",
                "a rebuild is running on this instance; follow it with GET /admin/projections",
            ));
        }
        *current = Some(started.clone());
    }
    let rebuilds = state.rebuilds.clone();
    let (pool, store) = (state.read_pool.clone(), state.commands.store().clone());
    tokio::spawn(async move {
        let progress = rebuilds.clone();
        let outcome =
            projections::rebuild::rebuild(&pool, store, selected, rebuilds.batch_size, move |p| {
                progress.update(|s| {
                    s.events = p.events;
                    s.position = p.position;
                    s.head = p.head;
                })
            })
            .await;
        rebuilds.update(|s| {
            s.finished_at = Some(Utc::now());
            match outcome {
                Ok(done) => {
                    s.state = "done";
                    s.events = done.events;
                }
                Err(e) => {
                    tracing::error!(error = %e, "rebuild from the back office failed");
                    s.state = "failed";
                    s.error = Some(e.to_string());
                }
            }
        });
    });
    Ok((StatusCode::ACCEPTED, Json(started)))
}
