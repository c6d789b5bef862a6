//! Dashboards: a seller's sales, revenue, commission, top products and low stock; the admins'
//! GMV, orders by status, new customers and top sellers; the admins' order list with filters.
//! All from read models (the `dashboards` projection, rebuildable like the others).

use crate::openapi::Doc;
use axum::extract::State;
use axum::http::Method;
use axum::Json;
use chrono::{Datelike, Days, NaiveDate, Utc};
use domain::order::OrderStatus;
use projections::{accounts, catalog, dashboards, orders, sellers};
use serde::Deserialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::read::{consistent, page_limit, page_offset, Consistency};
use crate::routes::{Access, Routes, ADMINS, SELLERS};
use crate::security::Caller;
use crate::AppState;

/// Dashboard routes and who may call them.
pub fn routes() -> Routes {
    Routes::default()
        .add(
            Method::GET,
            "/seller/dashboard",
            Access::Roles(SELLERS),
            seller,
        )
        .doc(
            Doc::new("The seller's sales, stock and orders")
                .query::<SellerQuery>()
                .answers::<dashboards::SellerDashboard>(200),
        )
        .add(
            Method::GET,
            "/admin/dashboard",
            Access::Roles(ADMINS),
            admin,
        )
        .doc(
            Doc::new("The shop's sales and what waits for an admin")
                .query::<AdminQuery>()
                .answers::<dashboards::AdminDashboard>(200),
        )
        .add(
            Method::GET,
            "/admin/orders",
            Access::Roles(ADMINS),
            orders_list,
        )
        .doc(
            Doc::new("Orders, filtered")
                .query::<OrdersQuery>()
                .answers::<Vec<dashboards::OrderRow>>(200),
        )
}

/// A UTC day (`YYYY-MM-DD`) in a query, in the years 1970 to 9999 (every day PostgreSQL and
/// the read models can hold), else `400 invalid_query` naming `field`.
fn day(raw: Option<&str>, field: &'static str) -> Result<Option<NaiveDate>, ApiError> {
    raw.map(|raw| {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .ok()
            .filter(|d| (1970..=9999).contains(&d.year()))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("{field} must be a day, YYYY-MM-DD, in the years 1970-9999"),
                )
                .with("field", field)
            })
    })
    .transpose()
}

/// The period asked for: `from` and `to` are UTC days (`YYYY-MM-DD`), inclusive; by default
/// the last 30 days; at most 366 days.
fn period(from: Option<&str>, to: Option<&str>) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let to = day(to, "to")?.unwrap_or_else(|| Utc::now().date_naive());
    let from = match day(from, "from")? {
        Some(from) => from,
        None => to.checked_sub_days(Days::new(29)).unwrap_or(to),
    };
    let span = (to - from).num_days();
    if !(0..=365).contains(&span) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "from must be on or before to, at most 366 days apart",
        ));
    }
    Ok((from, to))
}

/// `GET /seller/dashboard` parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SellerQuery {
    /// Admins: whose dashboard (default: the caller's own).
    seller_id: Option<Uuid>,
    from: Option<String>,
    to: Option<String>,
    min_position: Option<i64>,
    wait_ms: Option<u64>,
}

async fn seller(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(q): ApiQuery<SellerQuery>,
) -> Result<Json<dashboards::SellerDashboard>, ApiError> {
    let seller = actor.seller_scope(q.seller_id)?;
    let (from, to) = period(q.from.as_deref(), q.to.as_deref())?;
    let consistency = Consistency {
        min_position: q.min_position,
        wait_ms: q.wait_ms,
    };
    consistent(
        &state,
        &consistency,
        &[
            &dashboards::DashboardProjection,
            &catalog::CatalogProjection,
            &sellers::SellerProjection,
        ],
    )
    .await?;
    Ok(Json(
        dashboards::seller_dashboard(&state.read_pool, seller, from, to).await?,
    ))
}

/// `GET /admin/dashboard` parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminQuery {
    from: Option<String>,
    to: Option<String>,
    min_position: Option<i64>,
    wait_ms: Option<u64>,
}

async fn admin(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AdminQuery>,
) -> Result<Json<dashboards::AdminDashboard>, ApiError> {
    let (from, to) = period(q.from.as_deref(), q.to.as_deref())?;
    let consistency = Consistency {
        min_position: q.min_position,
        wait_ms: q.wait_ms,
    };
    consistent(
        &state,
        &consistency,
        &[
            &dashboards::DashboardProjection,
            &orders::OrderProjection,
            &accounts::AccountProjection,
            &sellers::SellerProjection,
        ],
    )
    .await?;
    Ok(Json(
        dashboards::admin_dashboard(&state.read_pool, from, to).await?,
    ))
}

/// `GET /admin/orders` parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrdersQuery {
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    customer_id: Option<Uuid>,
    seller_id: Option<Uuid>,
    limit: Option<i64>,
    offset: Option<i64>,
    min_position: Option<i64>,
    wait_ms: Option<u64>,
}

async fn orders_list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<OrdersQuery>,
) -> Result<Json<Vec<dashboards::OrderRow>>, ApiError> {
    let status = q
        .status
        .as_deref()
        .map(|s| {
            OrderStatus::try_from(s.to_owned()).map_err(|_| {
                ApiError::bad_request(
                    "invalid_query",
                    "status must be placed, paid, shipped, delivered or cancelled",
                )
                .with("field", "status")
            })
        })
        .transpose()?;
    let filter = dashboards::OrderFilter {
        status: status.map(|s| s.as_str().to_owned()),
        from: day(q.from.as_deref(), "from")?,
        to: day(q.to.as_deref(), "to")?,
        customer_id: q.customer_id,
        seller_id: q.seller_id,
    };
    let consistency = Consistency {
        min_position: q.min_position,
        wait_ms: q.wait_ms,
    };
    consistent(&state, &consistency, &[&orders::OrderProjection]).await?;
    Ok(Json(
        dashboards::list_orders(
            &state.read_pool,
            &filter,
            page_limit(q.limit)?,
            page_offset(q.offset)?,
        )
        .await?,
    ))
}
