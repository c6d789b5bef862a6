//! Query routes, served from read models only.
//!
//! Every query accepts `min_position=<global position>`: the answer then reflects at least
//! every event up to that position, waiting up to the server's bound (and `wait_ms`, if
//! smaller) for the projections to catch up; if they do not, 503 `read_model_behind` with
//! `Retry-After`.

use crate::openapi::Doc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::Json;
use projections::{carts, catalog, customer_orders, orders, projector, Projection};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::routes::{Access, Routes, CUSTOMERS, ORDER_READERS};
use crate::security::Caller;
use crate::AppState;
use commands::Missing;

/// Query routes and who may call them.
pub fn routes() -> Routes {
    Routes::default()
        .add(
            Method::GET,
            "/customers/{customer_id}/cart",
            Access::Roles(CUSTOMERS),
            get_cart,
        )
        .doc(
            Doc::new("The customer's cart")
                .query::<Consistency>()
                .answers::<carts::CartView>(200),
        )
        .add(
            Method::GET,
            "/customers/{customer_id}/orders",
            Access::Roles(CUSTOMERS),
            list_orders,
        )
        .doc(
            Doc::new("The customer's orders, newest first")
                .query::<OrdersQuery>()
                .answers::<customer_orders::OrderSummaryPage>(200),
        )
        .add(
            Method::GET,
            "/orders/{order_id}",
            Access::Roles(ORDER_READERS),
            get_order,
        )
        .doc(
            Doc::new("One order")
                .query::<OrderQuery>()
                .answers::<Value>(200),
        )
}

/// Parameters every query accepts.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Consistency {
    /// Wait until read models include every event up to this global position.
    pub min_position: Option<i64>,
    /// Wait at most this long (capped by the server's bound).
    pub wait_ms: Option<u64>,
}

/// Waits until every one of `read_models` includes the events up to `min_position`, if given.
pub(crate) async fn consistent(
    state: &AppState,
    consistency: &Consistency,
    read_models: &[&dyn Projection],
) -> Result<(), ApiError> {
    let Some(position) = consistency.min_position else {
        return Ok(());
    };
    if position < 0 {
        return Err(ApiError::bad_request(
            "invalid_query",
            "min_position must not be negative",
        ));
    }
    let bound = consistency.wait_ms.map_or(state.max_read_wait, |ms| {
        Duration::from_millis(ms).min(state.max_read_wait)
    });
    let store = &**state.commands.store();
    for projection in read_models {
        let reached = projector::waken_for(
            store,
            &state.read_pool,
            *projection,
            position,
            bound,
            state.projected.clone(),
        )
        .await?;
        if !reached {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "read_model_behind",
                format!(
                    "the {} read model has not reached position {position} yet",
                    projection.name()
                ),
            )
            .with("min_position", position)
            .retry_after(1));
        }
    }
    Ok(())
}

/// An offset into a list: 0 to 100,000 (deeper pages are what keyset cursors are for).
pub(crate) fn page_offset(offset: Option<i64>) -> Result<i64, ApiError> {
    match offset.unwrap_or(0) {
        o @ 0..=100_000 => Ok(o),
        _ => Err(ApiError::bad_request(
            "invalid_query",
            "offset must be between 0 and 100000",
        )),
    }
}

pub(crate) fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit.unwrap_or(20) {
        l @ 1..=100 => Ok(l),
        _ => Err(ApiError::bad_request(
            "invalid_query",
            "limit must be between 1 and 100",
        )),
    }
}

async fn get_cart(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(customer): ApiPath<Uuid>,
    ApiQuery(consistency): ApiQuery<Consistency>,
) -> Result<Json<carts::CartView>, ApiError> {
    actor.owns(customer, Missing::Customer)?;
    consistent(
        &state,
        &consistency,
        &[&carts::CartProjection, &catalog::CatalogProjection],
    )
    .await?;
    Ok(Json(carts::get_cart(&state.read_pool, customer).await?))
}

/// `GET /orders/{id}` parameters.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderQuery {
    min_position: Option<i64>,
    wait_ms: Option<u64>,
    /// RFC 3339 instant: the order as it stood then, rebuilt from its events.
    as_of: Option<String>,
    /// Stream version: the order as it stood after that event, rebuilt from its events.
    version: Option<i64>,
}

/// The current order from the read model, or, with `as_of` / `version`, the order as it stood
/// then, rebuilt from its events by the domain. Customers see their own orders; admins and
/// auditors any.
async fn get_order(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(order): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<OrderQuery>,
) -> Result<Json<Value>, ApiError> {
    let point = match (&q.as_of, q.version) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "use as_of or version, not both",
            ))
        }
        (Some(raw), None) => Some(commands::PointInTime::Time(
            chrono::DateTime::parse_from_rfc3339(raw)
                .map_err(|_| {
                    ApiError::bad_request("invalid_query", "as_of must be an RFC 3339 time")
                })?
                .with_timezone(&chrono::Utc),
        )),
        (None, Some(v)) if v >= 1 => Some(commands::PointInTime::Version(v)),
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "version must be at least 1",
            ))
        }
        (None, None) => None,
    };
    let sees_all = actor.has(domain::account::Role::Auditor);
    if let Some(point) = point {
        let owner = state
            .commands
            .order_owner(domain::OrderId::from_uuid(order))
            .await?
            .ok_or_else(|| ApiError::missing(Missing::Order))?;
        if !sees_all {
            actor.owns(owner.as_uuid(), Missing::Order)?;
        }
        let then = state
            .commands
            .order_at(domain::OrderId::from_uuid(order), point)
            .await?
            .ok_or_else(|| ApiError::missing(Missing::Order))?;
        return Ok(Json(crate::audit::order_state(&then)));
    }
    let consistency = Consistency {
        min_position: q.min_position,
        wait_ms: q.wait_ms,
    };
    consistent(&state, &consistency, &[&orders::OrderProjection]).await?;
    let view = orders::get_order(&state.read_pool, order)
        .await?
        .ok_or_else(|| ApiError::missing(Missing::Order))?;
    if !sees_all {
        actor.owns(view.customer_id, Missing::Order)?;
    }
    Ok(Json(serde_json::to_value(view).unwrap_or_default()))
}

/// `GET /customers/{id}/orders` parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrdersQuery {
    limit: Option<i64>,
    after: Option<String>,
    min_position: Option<i64>,
    wait_ms: Option<u64>,
}

async fn list_orders(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(customer): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<OrdersQuery>,
) -> Result<Json<customer_orders::OrderSummaryPage>, ApiError> {
    actor.owns(customer, Missing::Customer)?;
    let limit = page_limit(q.limit)?;
    let after = match q.after.as_deref() {
        None => None,
        Some(raw) => Some(customer_orders::Cursor::decode(raw).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_cursor",
                "after must be a next_cursor from a previous page",
            )
        })?),
    };
    let consistency = Consistency {
        min_position: q.min_position,
        wait_ms: q.wait_ms,
    };
    consistent(
        &state,
        &consistency,
        &[&customer_orders::CustomerOrdersProjection],
    )
    .await?;
    Ok(Json(
        customer_orders::list_customer_orders(&state.read_pool, customer, limit, after).await?,
    ))
}
