//! Auditors' routes: an order's complete history and store verification.

use crate::openapi::Doc;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::Json;
use commands::OrderAt;
use domain::account::Role;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::routes::{Access, Routes, AUDITORS, ORDER_READERS};
use crate::security::Caller;
use crate::AppState;
use commands::Missing;

/// Audit routes and who may call them.
pub fn routes() -> Routes {
    Routes::default()
        .add(
            Method::GET,
            "/orders/{order_id}/history",
            Access::Roles(ORDER_READERS),
            history,
        )
        .doc(
            Doc::new("An order's history: every event of its streams, in log order")
                .answers::<serde_json::Value>(200),
        )
        .add(
            Method::GET,
            "/audit/verify",
            Access::Roles(AUDITORS),
            verify,
        )
        .doc(Doc::new("Recompute the event store's hash chains").answers::<serde_json::Value>(200))
        .add(Method::GET, "/events/schemas", Access::Public, schemas)
        .doc(Doc::new("The JSON Schemas of every event type").answers::<serde_json::Value>(200))
}

/// The JSON Schema of every event type and version: the back-office contract.
async fn schemas() -> Json<Value> {
    Json(json!({ "schemas": events::schemas::all() }))
}

/// An order's state as rebuilt from its events.
pub fn order_state(then: &OrderAt) -> Value {
    let o = &then.order;
    json!({
        "order_id": o.order_id,
        "customer_id": o.customer_id,
        "status": o.status,
        "order_state": o.state,
        "payment_state": o.payment,
        "fulfilment_state": o.fulfilment,
        "lines": o.lines,
        "total": o.total,
        "paid": o.paid,
        "shipping_address": o.shipping_address,
        "billing_address": o.billing_address,
        "version": then.version,
        "as_of": then.recorded_at,
        "source": "events",
    })
}

/// One entry of an order's history.
pub fn history_entry(e: &events::RecordedEvent) -> Value {
    json!({
        "event_id": e.event_id,
        "event_type": e.event_type,
        "schema_version": e.schema_version,
        "stream_id": e.stream_id,
        "stream_version": e.stream_version,
        "global_position": e.global_position,
        "recorded_at": e.recorded_at,
        "actor": e.metadata.actor,
        "correlation_id": e.metadata.correlation_id,
        "causation_id": e.metadata.causation_id,
        "payload": e.payload,
    })
}

/// Every event of the order and the events of other streams that name it (stock reserved and
/// released for it, the cart checkout), in the order they were recorded.
async fn history(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(order): ApiPath<Uuid>,
) -> Result<Json<Value>, ApiError> {
    let owner = state
        .commands
        .order_owner(domain::OrderId::from_uuid(order))
        .await?
        .ok_or_else(|| ApiError::missing(Missing::Order))?;
    if !actor.has(Role::Auditor) {
        actor.owns(owner.as_uuid(), Missing::Order)?;
    }
    let events = events::history::order_history(
        &**state.commands.store(),
        domain::OrderId::from_uuid(order),
    )
    .await?;
    Ok(Json(json!({
        "order_id": order,
        "events": events.iter().map(history_entry).collect::<Vec<_>>(),
    })))
}

/// Recomputes every hash chain of the store.
async fn verify(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let report = match state.commands.store().verify(&mut |_, _| {}).await {
        Err(events::StoreError::Unsupported(what)) => {
            return Err(ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "verification_unavailable",
                what,
            ))
        }
        other => other?,
    };
    Ok(Json(json!({
        "intact": report.intact(),
        "first": report.first(),
        "events": report.events,
        "streams": report.streams,
        "head_position": report.head_position,
        "head_hash": report.head_hash,
        "findings": report.findings,
    })))
}
