//! Seller fulfilment routes: each seller sees and ships only their own part of an order; admins
//! act on any part (and still ship or deliver a whole order through `/orders/{id}/shipment`).

use crate::openapi::Doc;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::Json;
use commands::{CommandOutcome, Missing};
use domain::account::Role;
use domain::order::FulfilmentState;
use domain::text::{Carrier, TrackingNumber};
use domain::{AccountId, OrderId};
use projections::orders;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Context};
use crate::read::{consistent, page_limit, page_offset, Consistency};
use crate::routes::{Access, Routes, SELLERS};
use crate::security::{Actor, Caller};
use crate::AppState;

/// Fulfilment routes and who may call them.
pub fn routes() -> Routes {
    Routes::default()
        .add(
            Method::GET,
            "/seller/fulfilments",
            Access::Roles(SELLERS),
            list,
        )
        .doc(
            Doc::new("The seller's fulfilments")
                .query::<FulfilmentsQuery>()
                .answers::<Vec<orders::SellerFulfilmentView>>(200),
        )
        .add(
            Method::POST,
            "/orders/{order_id}/fulfilments/{seller_id}/shipment",
            Access::Roles(SELLERS),
            ship,
        )
        .doc(
            Doc::new("Ship a seller's part of an order")
                .body::<Shipment>()
                .answers::<CommandOutcome>(200),
        )
        .add(
            Method::POST,
            "/orders/{order_id}/fulfilments/{seller_id}/delivery",
            Access::Roles(SELLERS),
            deliver,
        )
        .doc(Doc::new("Record the delivery of a seller's part").answers::<CommandOutcome>(200))
}

/// A seller acts on their own part only; another seller's part answers like an order that
/// does not exist.
fn own_part(actor: &Actor, seller: Uuid) -> Result<AccountId, ApiError> {
    if seller == actor.account_id || actor.has(Role::Admin) {
        Ok(AccountId::from_uuid(seller))
    } else {
        Err(ApiError::missing(Missing::Order))
    }
}

/// `POST .../shipment` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Shipment {
    #[schemars(length(min = 1, max = 64))]
    carrier: String,
    #[schemars(length(min = 1, max = 64))]
    tracking_number: String,
}

async fn ship(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath((order, seller)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<Shipment>,
) -> Result<(StatusCode, Json<CommandOutcome>), ApiError> {
    let seller = own_part(&actor, seller)?;
    let outcome = state
        .commands
        .ship_fulfilment(
            &ctx,
            OrderId::from_uuid(order),
            seller,
            Carrier::parse(&body.carrier)?,
            TrackingNumber::parse(&body.tracking_number)?,
        )
        .await?;
    Ok((StatusCode::OK, Json(outcome)))
}

async fn deliver(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath((order, seller)): ApiPath<(Uuid, Uuid)>,
) -> Result<(StatusCode, Json<CommandOutcome>), ApiError> {
    let seller = own_part(&actor, seller)?;
    let outcome = state
        .commands
        .deliver_fulfilment(&ctx, OrderId::from_uuid(order), seller)
        .await?;
    Ok((StatusCode::OK, Json(outcome)))
}

/// `GET /seller/fulfilments` parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FulfilmentsQuery {
    /// `unfulfilled`, `shipped` or `delivered`.
    state: Option<String>,
    /// Admins: whose parts (default: the caller's own).
    seller_id: Option<Uuid>,
    limit: Option<i64>,
    offset: Option<i64>,
    min_position: Option<i64>,
    wait_ms: Option<u64>,
}

async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(q): ApiQuery<FulfilmentsQuery>,
) -> Result<Json<Vec<orders::SellerFulfilmentView>>, ApiError> {
    let seller = actor.seller_scope(q.seller_id)?;
    let wanted = match q.state.as_deref() {
        None => None,
        Some("unfulfilled") => Some(FulfilmentState::Unfulfilled),
        Some("shipped") => Some(FulfilmentState::Shipped),
        Some("delivered") => Some(FulfilmentState::Delivered),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "state must be unfulfilled, shipped or delivered",
            )
            .with("field", "state"))
        }
    };
    let offset = page_offset(q.offset)?;
    let consistency = Consistency {
        min_position: q.min_position,
        wait_ms: q.wait_ms,
    };
    consistent(&state, &consistency, &[&orders::OrderProjection]).await?;
    Ok(Json(
        orders::seller_fulfilments(
            &state.read_pool,
            seller,
            wanted,
            page_limit(q.limit)?,
            offset,
        )
        .await?,
    ))
}
