//! Command routes. Each answers with the affected stream's new version and the global
//! position of the last event written (`global_position`), which queries accept as
//! `min_position` to read their own writes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, post, put};
use axum::{Json, Router};
use commands::CommandOutcome;
use domain::product::ProductDetails;
use domain::values::Currency;
use domain::{CustomerId, Money, OrderId, Quantity, Sku};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, Context, IdempotencyKey, IfMatch};
use crate::AppState;

/// Command routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/products", post(create_product))
        .route("/products/{sku}/price", put(change_price))
        .route("/products/{sku}/stock", post(receive_stock))
        .route("/customers/{customer_id}/cart/items", post(add_to_cart))
        .route(
            "/customers/{customer_id}/cart/items/{sku}",
            put(change_quantity).delete(remove_from_cart),
        )
        .route("/customers/{customer_id}/cart", delete(clear_cart))
        .route("/customers/{customer_id}/orders", post(place_order))
        .route("/orders/{order_id}/payment", post(pay_order))
        .route("/orders/{order_id}/shipment", post(ship_order))
        .route("/orders/{order_id}/delivery", post(deliver_order))
        .route("/orders/{order_id}/cancellation", post(cancel_order))
}

/// An amount in a request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoneyInput {
    /// Minor units (cents).
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
}

impl MoneyInput {
    fn parse(&self) -> Result<Money, ApiError> {
        Ok(Money::new(
            self.amount_minor,
            Currency::parse(&self.currency)?,
        )?)
    }
}

fn sku(raw: &str) -> Result<Sku, ApiError> {
    Ok(Sku::parse(raw)?)
}

fn quantity(raw: i64) -> Result<Quantity, ApiError> {
    Ok(Quantity::new(raw)?)
}

type Accepted = (StatusCode, Json<CommandOutcome>);

fn ok(outcome: CommandOutcome) -> Accepted {
    (StatusCode::OK, Json(outcome))
}

/// `POST /products` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateProduct {
    sku: String,
    name: String,
    #[serde(default)]
    description: String,
    category: String,
    price: MoneyInput,
}

async fn create_product(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiJson(body): ApiJson<CreateProduct>,
) -> Result<Accepted, ApiError> {
    let details = ProductDetails {
        name: body.name,
        description: body.description,
        category: body.category,
    };
    let outcome = state
        .commands
        .create_product(&ctx, sku(&body.sku)?, details, body.price.parse()?)
        .await?;
    Ok((StatusCode::CREATED, Json(outcome)))
}

async fn change_price(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath(raw_sku): ApiPath<String>,
    ApiJson(body): ApiJson<MoneyInput>,
) -> Result<Accepted, ApiError> {
    let outcome = state
        .commands
        .change_price(&ctx, sku(&raw_sku)?, body.parse()?)
        .await?;
    Ok(ok(outcome))
}

/// `{"quantity": n}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantityInput {
    quantity: i64,
}

async fn receive_stock(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath(raw_sku): ApiPath<String>,
    ApiJson(body): ApiJson<QuantityInput>,
) -> Result<Accepted, ApiError> {
    let outcome = state
        .commands
        .receive_stock(&ctx, sku(&raw_sku)?, quantity(body.quantity)?)
        .await?;
    Ok(ok(outcome))
}

/// `POST /customers/{id}/cart/items` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    sku: String,
    quantity: i64,
}

async fn add_to_cart(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath(customer): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AddItem>,
) -> Result<Accepted, ApiError> {
    let outcome = state
        .commands
        .add_to_cart(
            &ctx,
            CustomerId::from_uuid(customer),
            sku(&body.sku)?,
            quantity(body.quantity)?,
        )
        .await?;
    Ok(ok(outcome))
}

async fn change_quantity(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath((customer, raw_sku)): ApiPath<(Uuid, String)>,
    ApiJson(body): ApiJson<QuantityInput>,
) -> Result<Accepted, ApiError> {
    let outcome = state
        .commands
        .change_cart_quantity(
            &ctx,
            CustomerId::from_uuid(customer),
            sku(&raw_sku)?,
            quantity(body.quantity)?,
        )
        .await?;
    Ok(ok(outcome))
}

async fn remove_from_cart(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath((customer, raw_sku)): ApiPath<(Uuid, String)>,
) -> Result<Accepted, ApiError> {
    let outcome = state
        .commands
        .remove_from_cart(&ctx, CustomerId::from_uuid(customer), sku(&raw_sku)?)
        .await?;
    Ok(ok(outcome))
}

async fn clear_cart(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath(customer): ApiPath<Uuid>,
) -> Result<Accepted, ApiError> {
    let outcome = state
        .commands
        .clear_cart(&ctx, CustomerId::from_uuid(customer))
        .await?;
    Ok(ok(outcome))
}

/// Answer to `POST /customers/{id}/orders`.
#[derive(Debug, Serialize)]
pub struct OrderPlaced {
    /// The new (or, on an idempotent replay, the existing) order.
    pub order_id: Uuid,
    /// Stream version and global position.
    #[serde(flatten)]
    pub outcome: CommandOutcome,
}

async fn place_order(
    State(state): State<AppState>,
    Context(ctx): Context,
    IdempotencyKey(key): IdempotencyKey,
    ApiPath(customer): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<OrderPlaced>), ApiError> {
    let (order_id, outcome) = state
        .commands
        .place_order(&ctx, CustomerId::from_uuid(customer), key.as_deref())
        .await?;
    let status = if outcome.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(OrderPlaced {
            order_id: order_id.as_uuid(),
            outcome,
        }),
    ))
}

/// `POST /orders/{id}/payment` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    amount: MoneyInput,
    payment_reference: String,
}

async fn pay_order(
    State(state): State<AppState>,
    Context(ctx): Context,
    IfMatch(pinned): IfMatch,
    ApiPath(order): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Payment>,
) -> Result<Accepted, ApiError> {
    let outcome = state
        .commands
        .pay_order(
            &ctx,
            OrderId::from_uuid(order),
            pinned,
            body.amount.parse()?,
            body.payment_reference,
        )
        .await?;
    Ok(ok(outcome))
}

/// `POST /orders/{id}/shipment` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shipment {
    carrier: String,
    tracking_number: String,
}

async fn ship_order(
    State(state): State<AppState>,
    Context(ctx): Context,
    IfMatch(pinned): IfMatch,
    ApiPath(order): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Shipment>,
) -> Result<Accepted, ApiError> {
    let outcome = state
        .commands
        .ship_order(
            &ctx,
            OrderId::from_uuid(order),
            pinned,
            body.carrier,
            body.tracking_number,
        )
        .await?;
    Ok(ok(outcome))
}

async fn deliver_order(
    State(state): State<AppState>,
    Context(ctx): Context,
    IfMatch(pinned): IfMatch,
    ApiPath(order): ApiPath<Uuid>,
) -> Result<Accepted, ApiError> {
    let outcome = state
        .commands
        .deliver_order(&ctx, OrderId::from_uuid(order), pinned)
        .await?;
    Ok(ok(outcome))
}

/// `POST /orders/{id}/cancellation` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cancellation {
    reason: String,
}

async fn cancel_order(
    State(state): State<AppState>,
    Context(ctx): Context,
    IfMatch(pinned): IfMatch,
    ApiPath(order): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Cancellation>,
) -> Result<Accepted, ApiError> {
    let outcome = state
        .commands
        .cancel_order(&ctx, OrderId::from_uuid(order), pinned, body.reason)
        .await?;
    Ok(ok(outcome))
}
