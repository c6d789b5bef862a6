//! Returns: customers send delivered units back within the return window; admins accept
//! (restock and refund, through the provider or to store credit) or refuse.

use crate::openapi::Doc;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::Json;
use commands::returns::RefundTarget;
use commands::{CommandOutcome, Missing};
use domain::order::ReturnLine;
use domain::text::Reason;
use domain::{Money, OrderId, Quantity, Sku};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, Context, OptionalJson};
use crate::routes::{Access, Routes, ADMINS, CUSTOMERS};
use crate::security::Caller;
use crate::AppState;

/// Return routes and who may call them.
pub fn routes() -> Routes {
    Routes::default()
        .add(
            Method::POST,
            "/orders/{order_id}/returns",
            Access::Roles(CUSTOMERS),
            request,
        )
        .doc(
            Doc::new("Ask to return units of a delivered order")
                .body::<ReturnRequest>()
                .answers::<ReturnCreated>(201),
        )
        .add(
            Method::POST,
            "/orders/{order_id}/returns/{return_id}/acceptance",
            Access::Roles(ADMINS),
            accept,
        )
        .doc(
            Doc::new("Accept a return: restock and refund")
                .optional_body::<Acceptance>()
                .answers::<Accepted>(200),
        )
        .add(
            Method::POST,
            "/orders/{order_id}/returns/{return_id}/refusal",
            Access::Roles(ADMINS),
            refuse,
        )
        .doc(
            Doc::new("Refuse a return")
                .body::<Refusal>()
                .answers::<CommandOutcome>(200),
        )
}

/// A returned line in a request.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    sku: String,
    quantity: i64,
}

/// `POST /orders/{id}/returns` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnRequest {
    lines: Vec<LineInput>,
    #[schemars(length(min = 1, max = 500))]
    reason: String,
}

/// Answer to `POST /orders/{id}/returns`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ReturnCreated {
    /// The new return.
    pub return_id: Uuid,
    /// Stream version and global position.
    #[serde(flatten)]
    pub outcome: CommandOutcome,
}

async fn request(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath(order): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ReturnRequest>,
) -> Result<(StatusCode, Json<ReturnCreated>), ApiError> {
    let order_id = OrderId::from_uuid(order);
    let owner = state
        .commands
        .order_owner(order_id)
        .await?
        .ok_or_else(|| ApiError::missing(Missing::Order))?;
    actor.owns(owner.as_uuid(), Missing::Order)?;
    if body.lines.len() > 100 {
        return Err(ApiError::unprocessable(
            "invalid_return",
            "at most 100 lines",
        ));
    }
    let lines = body
        .lines
        .iter()
        .map(|l| {
            Ok(ReturnLine {
                sku: Sku::parse(l.sku.clone())?,
                quantity: Quantity::new(l.quantity)?,
            })
        })
        .collect::<Result<Vec<_>, domain::ValueError>>()?;
    let (return_id, outcome) = state
        .commands
        .request_return(
            &ctx,
            order_id,
            lines,
            Reason::parse(&body.reason)?,
            state.return_window,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ReturnCreated { return_id, outcome }),
    ))
}

/// `POST .../acceptance` body.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Acceptance {
    /// `provider` (default) or `store_credit`.
    refund_to: Option<String>,
}

/// Answer to an acceptance.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Accepted {
    /// What was refunded (to the provider, or credited).
    pub refund: Money,
    /// The provider's refund id, when refunded through it.
    pub refund_id: Option<String>,
    /// Stream version and global position of the last write.
    #[serde(flatten)]
    pub outcome: CommandOutcome,
}

async fn accept(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath((order, return_id)): ApiPath<(Uuid, Uuid)>,
    OptionalJson(body): OptionalJson<Option<Acceptance>>,
) -> Result<Json<Accepted>, ApiError> {
    let target = match body.flatten().unwrap_or_default().refund_to.as_deref() {
        None | Some("provider") => RefundTarget::Provider,
        Some("store_credit") => RefundTarget::StoreCredit,
        Some(_) => {
            return Err(ApiError::unprocessable(
                "invalid_refund_target",
                "refund_to must be provider or store_credit",
            )
            .with("field", "refund_to"))
        }
    };
    let order_id = OrderId::from_uuid(order);
    let accepted = state
        .commands
        .accept_return(&ctx, order_id, return_id, target)
        .await?;
    if accepted.provider_refund.amount_minor() == 0 {
        return Ok(Json(Accepted {
            refund: accepted.credited,
            refund_id: None,
            outcome: accepted.outcome,
        }));
    }
    // Owed through the provider: one idempotency key per return, so a retry refunds once.
    let gateway = state.payments.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "payments_unavailable",
            "no payment provider is configured",
        )
    })?;
    let placed = state
        .commands
        .order_now(order_id)
        .await?
        .ok_or_else(|| ApiError::missing(Missing::Order))?;
    let payment_id = placed.payment_reference.clone().unwrap_or_default();
    let refund = gateway
        .refund(&payments::RefundRequest {
            order_id: order,
            payment_id,
            amount_minor: accepted.provider_refund.amount_minor(),
            idempotency_key: format!("{order}:return:{return_id}"),
        })
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "payment provider refund for a return");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "payment_provider_failed",
                "the return was accepted; the provider did not take the refund: refund it with POST /orders/{id}/refunds",
            )
        })?;
    let outcome = state
        .commands
        .request_refund(
            &ctx,
            order_id,
            refund.id.clone(),
            accepted.provider_refund,
            Reason::parse("return accepted").expect("a valid reason"),
        )
        .await?;
    Ok(Json(Accepted {
        refund: accepted.provider_refund,
        refund_id: Some(refund.id),
        outcome,
    }))
}

/// `POST .../refusal` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Refusal {
    #[schemars(length(min = 1, max = 500))]
    reason: String,
}

async fn refuse(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath((order, return_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<Refusal>,
) -> Result<Json<CommandOutcome>, ApiError> {
    let outcome = state
        .commands
        .refuse_return(
            &ctx,
            OrderId::from_uuid(order),
            return_id,
            Reason::parse(&body.reason)?,
        )
        .await?;
    Ok(Json(outcome))
}
