//! Command routes. Each answers with the affected stream's new version and the global
//! position of the last event written (`global_position`), which queries accept as
//! `min_position` to read their own writes.

use crate::openapi::Doc;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::Json;
use commands::{CommandOutcome, Missing};
use domain::text::{Carrier, PaymentReference, Reason, TrackingNumber};
use domain::values::Currency;
use domain::{CustomerId, Money, OrderId, Quantity, Sku};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::addresses::CheckoutBody;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, Context, IdempotencyKey, IfMatch, OptionalJson};
use crate::routes::{Access, Routes, ADMINS, CUSTOMERS};
use crate::security::{Actor, Caller};
use crate::AppState;

/// Command routes and who may call them.
pub fn routes() -> Routes {
    use Access::Roles;
    Routes::default()
        .add(
            Method::POST,
            "/customers/{customer_id}/cart/items",
            Roles(CUSTOMERS),
            add_to_cart,
        )
        .doc(
            Doc::new("Add units of a product to the cart")
                .body::<AddItem>()
                .answers::<CommandOutcome>(200),
        )
        .add(
            Method::PUT,
            "/customers/{customer_id}/cart/items/{sku}",
            Roles(CUSTOMERS),
            change_quantity,
        )
        .doc(
            Doc::new("Change a cart line's quantity")
                .body::<QuantityInput>()
                .answers::<CommandOutcome>(200),
        )
        .add(
            Method::DELETE,
            "/customers/{customer_id}/cart/items/{sku}",
            Roles(CUSTOMERS),
            remove_from_cart,
        )
        .doc(Doc::new("Remove a cart line").answers::<CommandOutcome>(200))
        .add(
            Method::DELETE,
            "/customers/{customer_id}/cart",
            Roles(CUSTOMERS),
            clear_cart,
        )
        .doc(Doc::new("Empty the cart").answers::<CommandOutcome>(200))
        .add(
            Method::POST,
            "/customers/{customer_id}/orders",
            Roles(CUSTOMERS),
            place_order,
        )
        .doc(
            Doc::new("Place an order from the cart (201; 200 when the Idempotency-Key was seen)")
                .header("Idempotency-Key")
                .optional_body::<CheckoutBody>()
                .answers::<OrderPlaced>(201),
        )
        .add(
            Method::POST,
            "/orders/{order_id}/payment",
            Roles(ADMINS),
            pay_order,
        )
        .doc(
            Doc::new("Record a payment taken outside the provider")
                .header("If-Match")
                .body::<Payment>()
                .answers::<CommandOutcome>(200),
        )
        .add(
            Method::POST,
            "/orders/{order_id}/shipment",
            Roles(ADMINS),
            ship_order,
        )
        .doc(
            Doc::new("Ship a whole order")
                .header("If-Match")
                .body::<Shipment>()
                .answers::<CommandOutcome>(200),
        )
        .add(
            Method::POST,
            "/orders/{order_id}/delivery",
            Roles(ADMINS),
            deliver_order,
        )
        .doc(
            Doc::new("Record an order's delivery")
                .header("If-Match")
                .answers::<CommandOutcome>(200),
        )
        .add(
            Method::POST,
            "/orders/{order_id}/cancellation",
            Roles(CUSTOMERS),
            cancel_order,
        )
        .doc(
            Doc::new("Cancel an order (stock and credit come back)")
                .header("If-Match")
                .body::<Cancellation>()
                .answers::<CommandOutcome>(200),
        )
}

/// A customer may act only on their own orders; admins on any. Another customer's order
/// answers exactly like a missing one.
async fn own_order(state: &AppState, actor: &Actor, order: Uuid) -> Result<OrderId, ApiError> {
    let order = OrderId::from_uuid(order);
    match state.commands.order_owner(order).await? {
        Some(owner) => actor.owns(owner.as_uuid(), Missing::Order).map(|()| order),
        None => Err(ApiError::missing(Missing::Order)),
    }
}

/// An amount in a request.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyInput {
    /// Minor units (cents).
    #[schemars(range(min = 0))]
    pub amount_minor: i64,
    /// ISO 4217 code.
    #[schemars(pattern(r"^[A-Z]{3}$"))]
    pub currency: String,
}

impl MoneyInput {
    /// The validated amount.
    pub fn parse(&self) -> Result<Money, ApiError> {
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

/// What a command route answers: `200` with the stream version and global position.
pub(crate) type Accepted = (StatusCode, Json<CommandOutcome>);

/// A command accepted.
pub(crate) fn ok(outcome: CommandOutcome) -> Accepted {
    (StatusCode::OK, Json(outcome))
}

/// `{"quantity": n}` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuantityInput {
    /// Units, 1 to 1,000,000.
    #[schemars(range(min = 1, max = 1_000_000))]
    pub(crate) quantity: i64,
}

/// `POST /customers/{id}/cart/items` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    /// The product's SKU.
    #[schemars(
        length(min = 1, max = 64),
        pattern(r"^[A-Za-z0-9._-]*[A-Za-z0-9][A-Za-z0-9._-]*$")
    )]
    sku: String,
    /// Units, 1 to 1,000,000.
    #[schemars(range(min = 1, max = 1_000_000))]
    quantity: i64,
}

async fn add_to_cart(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath(customer): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AddItem>,
) -> Result<Accepted, ApiError> {
    actor.owns(customer, Missing::Customer)?;
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
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath((customer, raw_sku)): ApiPath<(Uuid, String)>,
    ApiJson(body): ApiJson<QuantityInput>,
) -> Result<Accepted, ApiError> {
    actor.owns(customer, Missing::Customer)?;
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
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath((customer, raw_sku)): ApiPath<(Uuid, String)>,
) -> Result<Accepted, ApiError> {
    actor.owns(customer, Missing::Customer)?;
    let outcome = state
        .commands
        .remove_from_cart(&ctx, CustomerId::from_uuid(customer), sku(&raw_sku)?)
        .await?;
    Ok(ok(outcome))
}

async fn clear_cart(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath(customer): ApiPath<Uuid>,
) -> Result<Accepted, ApiError> {
    actor.owns(customer, Missing::Customer)?;
    let outcome = state
        .commands
        .clear_cart(&ctx, CustomerId::from_uuid(customer))
        .await?;
    Ok(ok(outcome))
}

/// Answer to `POST /customers/{id}/orders`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct OrderPlaced {
    /// The new (or, on an idempotent replay, the existing) order.
    pub order_id: Uuid,
    /// Stream version and global position.
    #[serde(flatten)]
    pub outcome: CommandOutcome,
}

async fn place_order(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    IdempotencyKey(key): IdempotencyKey,
    ApiPath(customer): ApiPath<Uuid>,
    OptionalJson(body): OptionalJson<Option<CheckoutBody>>,
) -> Result<(StatusCode, Json<OrderPlaced>), ApiError> {
    actor.owns(customer, Missing::Customer)?;
    let checkout = body.flatten().unwrap_or_default().checkout()?;
    let (order_id, outcome) = state
        .commands
        .place_order(
            &ctx,
            CustomerId::from_uuid(customer),
            key.as_deref(),
            &checkout,
        )
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
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    amount: MoneyInput,
    #[schemars(length(min = 1, max = 64))]
    payment_reference: String,
    /// `card` (default), `bank_transfer`, `store_credit` or `cash_on_delivery`.
    payment_method: Option<String>,
}

async fn pay_order(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    IfMatch(pinned): IfMatch,
    ApiPath(order): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Payment>,
) -> Result<Accepted, ApiError> {
    let order_id = own_order(&state, &actor, order).await?;
    let outcome = state
        .commands
        .pay_order(
            &ctx,
            order_id,
            pinned,
            body.amount.parse()?,
            PaymentReference::parse(&body.payment_reference)?,
            match body.payment_method.as_deref() {
                None => domain::order::PaymentMethod::Card,
                Some(raw) => domain::order::PaymentMethod::parse(raw).ok_or_else(|| {
                    ApiError::unprocessable(
                        "invalid_payment_method",
                        "payment_method must be card, bank_transfer, store_credit or cash_on_delivery",
                    )
                })?,
            },
        )
        .await?;
    Ok(ok(outcome))
}

/// `POST /orders/{id}/shipment` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Shipment {
    #[schemars(length(min = 1, max = 64))]
    carrier: String,
    #[schemars(length(min = 1, max = 64))]
    tracking_number: String,
}

async fn ship_order(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    IfMatch(pinned): IfMatch,
    ApiPath(order): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Shipment>,
) -> Result<Accepted, ApiError> {
    let order_id = own_order(&state, &actor, order).await?;
    let outcome = state
        .commands
        .ship_order(
            &ctx,
            order_id,
            pinned,
            Carrier::parse(&body.carrier)?,
            TrackingNumber::parse(&body.tracking_number)?,
        )
        .await?;
    Ok(ok(outcome))
}

async fn deliver_order(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    IfMatch(pinned): IfMatch,
    ApiPath(order): ApiPath<Uuid>,
) -> Result<Accepted, ApiError> {
    let order_id = own_order(&state, &actor, order).await?;
    let outcome = state.commands.deliver_order(&ctx, order_id, pinned).await?;
    Ok(ok(outcome))
}

/// `POST /orders/{id}/cancellation` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cancellation {
    #[schemars(length(min = 1, max = 500))]
    reason: String,
}

async fn cancel_order(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    IfMatch(pinned): IfMatch,
    ApiPath(order): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Cancellation>,
) -> Result<Accepted, ApiError> {
    let order_id = own_order(&state, &actor, order).await?;
    let outcome = state
        .commands
        .cancel_order(&ctx, order_id, pinned, Reason::parse(&body.reason)?)
        .await?;
    Ok(ok(outcome))
}
