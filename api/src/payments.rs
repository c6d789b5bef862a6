//! Paying through the provider: a customer opens a payment of the amount due, pays at the
//! provider, and the provider's signed webhook records the outcome.
//!
//! Webhooks are verified over the raw body (constant time), recorded in `webhook_inbox` once
//! per provider event id before anything is done, answered `200` right after, and acted on by
//! idempotent commands: a webhook delivered twice, or concurrently, has one effect, and one
//! whose processing was interrupted is picked up again by [`process_pending`].

use crate::openapi::Doc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::Json;
use commands::{CommandContext, CommandError, CommandOutcome, Missing};
use domain::order::{PaymentMethod, PaymentState};
use domain::text::PaymentReference;
use domain::values::Currency;
use domain::{Money, OrderId};
use payments::razorpay::{self, Notification, EVENT_ID_HEADER, SIGNATURE_HEADER};
use payments::OrderRequest;
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, Context, IdempotencyKey};
use crate::routes::{Access, Routes, ADMINS, CUSTOMERS};
use crate::security::Caller;
use crate::AppState;

/// Payment routes and who may call them.
pub fn routes() -> Routes {
    Routes::default()
        .add(
            Method::POST,
            "/orders/{order_id}/payment-session",
            Access::Roles(CUSTOMERS),
            start,
        )
        .doc(
            Doc::new("Open a payment at the provider for an unpaid order")
                .answers::<PaymentSession>(201),
        )
        .add(
            Method::POST,
            "/orders/{order_id}/refunds",
            Access::Roles(ADMINS),
            refund,
        )
        .doc(
            Doc::new("Refund (part of) a paid order")
                .header("Idempotency-Key")
                .body::<RefundBody>()
                .answers::<RefundStarted>(201),
        )
        .add(Method::POST, "/webhooks/razorpay", Access::Public, webhook)
        .doc(
            Doc::new("The payment provider's signed notifications")
                .status(401)
                .optional_body::<serde_json::Value>()
                .answers::<serde_json::Value>(200),
        )
        .add(
            Method::GET,
            "/admin/reconciliation",
            Access::Roles(ADMINS),
            reconciliation,
        )
        .doc(
            Doc::new("Payments and refunds against the provider's records")
                .query::<ReconciliationQuery>()
                .answers::<projections::orders::Reconciliation>(200),
        )
}

fn unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "payments_unavailable",
        "no payment provider is configured",
    )
    .retry_after(30)
}

/// Answer to `POST /orders/{id}/payment-session`: what a client needs to pay at the provider.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PaymentSession {
    /// The provider (`razorpay`).
    pub provider: &'static str,
    /// The provider's public key, for its checkout.
    pub key_id: String,
    /// The provider's id of the payment request.
    pub provider_order_id: String,
    /// The amount due.
    pub amount: Money,
    /// A page to pay at, when the provider has one (the simulator).
    pub pay_url: Option<String>,
    /// Stream version and global position.
    #[serde(flatten)]
    pub outcome: CommandOutcome,
}

async fn start(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath(order): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<PaymentSession>), ApiError> {
    let gateway = state.payments.clone().ok_or_else(unavailable)?;
    let order_id = OrderId::from_uuid(order);
    let placed = state
        .commands
        .order_now(order_id)
        .await?
        .ok_or_else(|| ApiError::missing(Missing::Order))?;
    actor.owns(placed.customer_id.as_uuid(), Missing::Order)?;
    if !matches!(placed.payment, PaymentState::Pending | PaymentState::Failed) {
        return Err(ApiError::unprocessable(
            "invalid_payment_transition",
            format!(
                "cannot request payment of an order whose payment is {}",
                placed.payment
            ),
        ));
    }
    let due = placed.amount_due();
    let provider_order = gateway
        .create_order(&OrderRequest {
            order_id: order,
            amount_minor: due.amount_minor(),
            currency: due.currency().to_string(),
        })
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "payment provider");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "payment_provider_failed",
                "the payment provider did not open the payment; try again",
            )
        })?;
    let outcome = state
        .commands
        .request_payment(
            &ctx,
            order_id,
            gateway.provider(),
            provider_order.id.clone(),
            due,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(PaymentSession {
            provider: gateway.provider(),
            key_id: gateway.key_id().to_owned(),
            pay_url: gateway.pay_url(&provider_order.id),
            provider_order_id: provider_order.id,
            amount: due,
            outcome,
        }),
    ))
}

/// `POST /orders/{id}/refunds` body.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    amount: crate::write::MoneyInput,
    #[schemars(length(min = 1, max = 500))]
    reason: String,
    /// `provider` (default): back to how it was paid; `store_credit`: into the wallet, at once.
    to: Option<String>,
}

/// Answer to `POST /orders/{id}/refunds`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RefundStarted {
    /// The provider's refund id; `refund.processed` follows.
    pub refund_id: String,
    /// Stream version and global position.
    #[serde(flatten)]
    pub outcome: CommandOutcome,
}

/// Refunds (part of) what an order's customer paid through the provider. An `Idempotency-Key`
/// makes a retried request refund once.
async fn refund(
    State(state): State<AppState>,
    Context(ctx): Context,
    IdempotencyKey(key): IdempotencyKey,
    ApiPath(order): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RefundBody>,
) -> Result<(StatusCode, Json<RefundStarted>), ApiError> {
    let amount = body.amount.parse()?;
    let reason = domain::text::Reason::parse(&body.reason)?;
    let order_id = OrderId::from_uuid(order);
    match body.to.as_deref() {
        None | Some("provider") => {}
        Some("store_credit") => {
            let (refund_id, outcome) = state
                .commands
                .refund_to_credit(&ctx, order_id, amount, reason)
                .await?;
            return Ok((
                StatusCode::CREATED,
                Json(RefundStarted { refund_id, outcome }),
            ));
        }
        Some(_) => {
            return Err(ApiError::unprocessable(
                "invalid_refund_target",
                "to must be provider or store_credit",
            )
            .with("field", "to"))
        }
    }
    let gateway = state.payments.clone().ok_or_else(unavailable)?;
    let placed = state
        .commands
        .order_now(order_id)
        .await?
        .ok_or_else(|| ApiError::missing(Missing::Order))?;
    let payment_id = placed
        .payment_reference
        .clone()
        .filter(|_| placed.paid.is_some_and(|p| p.amount_minor() > 0))
        .ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_payment_transition",
                "nothing of this order was paid through the provider",
            )
        })?;
    let refundable = placed.refundable();
    if amount.currency() != refundable.currency()
        || amount.amount_minor() > refundable.amount_minor()
    {
        return Err(ApiError::unprocessable(
            "refund_exceeds_payment",
            format!("cannot refund {amount}: {refundable} is left to refund"),
        ));
    }
    let idempotency_key = match key {
        Some(key) => format!("{order}:{key}"),
        None => Uuid::now_v7().to_string(),
    };
    let refunded = gateway
        .refund(&payments::RefundRequest {
            order_id: order,
            payment_id,
            amount_minor: amount.amount_minor(),
            idempotency_key,
        })
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "payment provider refund");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "payment_provider_failed",
                "the payment provider did not take the refund; retry with the same Idempotency-Key",
            )
        })?;
    let outcome = state
        .commands
        .request_refund(&ctx, order_id, refunded.id.clone(), amount, reason)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(RefundStarted {
            refund_id: refunded.id,
            outcome,
        }),
    ))
}

/// `GET /admin/reconciliation` parameters.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconciliationQuery {
    limit: Option<i64>,
    min_position: Option<i64>,
    wait_ms: Option<u64>,
}

/// Money per order (newest first) and in total per currency: charged, store credit used,
/// captured and refunded, to compare with the provider's and the wallets' books.
async fn reconciliation(
    State(state): State<AppState>,
    crate::extract::ApiQuery(q): crate::extract::ApiQuery<ReconciliationQuery>,
) -> Result<Json<projections::orders::Reconciliation>, ApiError> {
    let limit = crate::read::page_limit(q.limit)?;
    let consistency = crate::read::Consistency {
        min_position: q.min_position,
        wait_ms: q.wait_ms,
    };
    crate::read::consistent(
        &state,
        &consistency,
        &[&projections::orders::OrderProjection],
    )
    .await?;
    Ok(Json(
        projections::orders::reconciliation(&state.read_pool, limit).await?,
    ))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `POST /webhooks/razorpay`: verify, record, answer, act.
async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let gateway = state.payments.clone().ok_or_else(unavailable)?;
    let signed = header(&headers, SIGNATURE_HEADER)
        .is_some_and(|signature| gateway.verify_webhook(&body, signature));
    if !signed {
        tracing::warn!(
            bytes = body.len(),
            "webhook with a missing or wrong signature refused"
        );
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
            "the webhook signature does not match",
        ));
    }
    let event_id = header(&headers, EVENT_ID_HEADER)
        .filter(|id| (1..=100).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| ApiError::bad_request("invalid_header", "x-razorpay-event-id is required"))?
        .to_owned();
    let payload: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_body", e.to_string()))?;
    let event_type = razorpay::event_type(&payload)
        .unwrap_or("unknown")
        .to_owned();
    if event_type.chars().any(char::is_control) || event_type.len() > 100 {
        return Err(ApiError::bad_request("invalid_body", "bad event type"));
    }
    // Record first: once this row exists the webhook cannot be lost.
    let recorded: Option<(String,)> = sqlx::query_as(
        "insert into webhook_inbox (provider, event_id, event_type, payload)
         values ('razorpay', $1, $2, $3)
         on conflict (provider, event_id) do nothing
         returning event_id",
    )
    .bind(&event_id)
    .bind(&event_type)
    .bind(&payload)
    .fetch_optional(&state.read_pool)
    .await?;
    if recorded.is_none() {
        tracing::info!(%event_id, %event_type, "webhook delivered again; already recorded");
        return Ok(Json(json!({"status": "duplicate"})));
    }
    let outcome = act(&state, &event_id, &payload).await;
    Ok(Json(json!({ "status": outcome })))
}

/// Acts on one recorded webhook and marks it processed; returns the outcome recorded. A
/// failure to reach the store leaves the row pending for [`process_pending`].
async fn act(state: &AppState, event_id: &str, payload: &Value) -> String {
    let outcome = match apply(state, event_id, payload).await {
        Ok(outcome) => outcome,
        Err(e) if e.transient() => {
            tracing::warn!(%event_id, error = %e, "webhook left for a retry");
            return "pending".into();
        }
        Err(e) => {
            tracing::warn!(%event_id, error = %e, "webhook refused");
            format!("refused: {}", e.code())
        }
    };
    let marked = sqlx::query(
        "update webhook_inbox set processed_at = now(), outcome = $2
         where provider = 'razorpay' and event_id = $1",
    )
    .bind(event_id)
    .bind(&outcome)
    .execute(&state.read_pool)
    .await;
    if let Err(e) = marked {
        tracing::warn!(%event_id, error = %e, "webhook outcome not recorded; it will be applied again");
    }
    outcome
}

/// Why a webhook could not be applied.
#[derive(Debug, thiserror::Error)]
enum WebhookError {
    #[error(transparent)]
    Malformed(#[from] razorpay::MalformedWebhook),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Value(#[from] domain::ValueError),
    #[error("payment provider: {0}")]
    Gateway(String),
}

impl WebhookError {
    fn transient(&self) -> bool {
        matches!(self, WebhookError::Command(CommandError::Store(e)) if e.is_transient())
            || matches!(
                self,
                WebhookError::Command(CommandError::Conflict { .. }) | WebhookError::Gateway(_)
            )
    }

    fn code(&self) -> &'static str {
        match self {
            WebhookError::Malformed(_) => "malformed_webhook",
            WebhookError::Command(CommandError::Rejected(r)) => r.code(),
            WebhookError::Command(CommandError::NotFound(m)) => m.code(),
            WebhookError::Command(_) => "store_failed",
            WebhookError::Value(e) => e.code(),
            WebhookError::Gateway(_) => "payment_provider_failed",
        }
    }
}

fn method(raw: &str) -> PaymentMethod {
    match raw {
        "card" => PaymentMethod::Card,
        "netbanking" | "emandate" | "nach" => PaymentMethod::BankTransfer,
        _ => PaymentMethod::Unspecified,
    }
}

async fn apply(state: &AppState, event_id: &str, payload: &Value) -> Result<String, WebhookError> {
    let ctx = CommandContext {
        actor: Some("provider:razorpay".into()),
        ..CommandContext::new(None)
    };
    match razorpay::parse(payload)? {
        Notification::PaymentCaptured {
            order_id,
            provider_order_id,
            payment_id,
            amount_minor,
            currency,
            method: paid_with,
        } => {
            let amount = Money::new(amount_minor, Currency::parse(&currency)?)?;
            let reference = PaymentReference::parse(&payment_id)?;
            let captured = state
                .commands
                .capture_payment(
                    &ctx,
                    OrderId::from_uuid(order_id),
                    provider_order_id,
                    reference.clone(),
                    amount,
                    method(&paid_with),
                )
                .await;
            match captured {
                Ok(_) => {
                    tracing::info!(%event_id, %order_id, "payment captured");
                    Ok("applied".into())
                }
                // The customer paid after the order was cancelled (the payment timeout, say):
                // the money goes back.
                Err(CommandError::Rejected(commands::Rejection::Order(
                    domain::order::OrderError::InvalidTransition {
                        status: domain::order::OrderStatus::Cancelled,
                        ..
                    },
                ))) => refund_late(state, &ctx, order_id, reference, amount).await,
                Err(e) => Err(e.into()),
            }
        }
        Notification::PaymentAuthorized {
            order_id,
            provider_order_id,
            payment_id,
            amount_minor,
            currency,
        } => {
            let amount = Money::new(amount_minor, Currency::parse(&currency)?)?;
            state
                .commands
                .authorize_payment(
                    &ctx,
                    OrderId::from_uuid(order_id),
                    provider_order_id,
                    PaymentReference::parse(&payment_id)?,
                    amount,
                )
                .await?;
            tracing::info!(%event_id, %order_id, "payment authorized");
            Ok("applied".into())
        }
        Notification::PaymentFailed {
            order_id,
            provider_order_id,
            payment_id,
            reason,
        } => {
            state
                .commands
                .fail_payment(
                    &ctx,
                    OrderId::from_uuid(order_id),
                    provider_order_id,
                    PaymentReference::parse(&payment_id)?,
                    reason,
                )
                .await?;
            tracing::info!(%event_id, %order_id, "payment failed");
            Ok("applied".into())
        }
        Notification::RefundProcessed {
            order_id,
            refund_id,
            amount_minor,
            currency,
        } => {
            let amount = Money::new(amount_minor, Currency::parse(&currency)?)?;
            state
                .commands
                .complete_refund(&ctx, OrderId::from_uuid(order_id), refund_id, amount)
                .await?;
            tracing::info!(%event_id, %order_id, "refund processed");
            Ok("applied".into())
        }
        Notification::Other { event } => {
            tracing::info!(%event_id, %event, "webhook acknowledged; nothing to do");
            Ok("ignored".into())
        }
    }
}

/// Refunds a payment captured after its order was cancelled, once: the provider sees one
/// idempotency key per payment, and the order records it once.
async fn refund_late(
    state: &AppState,
    ctx: &CommandContext,
    order_id: Uuid,
    payment: PaymentReference,
    amount: Money,
) -> Result<String, WebhookError> {
    let gateway = state
        .payments
        .clone()
        .ok_or_else(|| WebhookError::Gateway("no payment provider".into()))?;
    let refund = gateway
        .refund(&payments::RefundRequest {
            order_id,
            payment_id: payment.to_string(),
            amount_minor: amount.amount_minor(),
            idempotency_key: format!("{order_id}:late:{payment}"),
        })
        .await
        .map_err(|e| WebhookError::Gateway(e.to_string()))?;
    state
        .commands
        .record_late_refund(
            ctx,
            OrderId::from_uuid(order_id),
            payment,
            amount,
            refund.id,
        )
        .await?;
    tracing::warn!(%order_id, %amount, "payment captured after cancellation: refunded");
    Ok("refunded_late".into())
}

/// Applies recorded webhooks that were never processed (the process stopped in between, or
/// the store was unavailable); returns how many were handled. Safe to run beside live
/// deliveries: every effect is idempotent.
pub async fn process_pending(state: &AppState, older_than: Duration) -> Result<usize, ApiError> {
    let rows: Vec<(String, Value)> = sqlx::query_as(
        "select event_id, payload from webhook_inbox
         where provider = 'razorpay' and processed_at is null
           and received_at < now() - make_interval(secs => $1)
         order by received_at limit 100",
    )
    .bind(older_than.as_secs_f64())
    .fetch_all(&state.read_pool)
    .await?;
    let mut handled = 0;
    for (event_id, payload) in rows {
        if act(state, &event_id, &payload).await != "pending" {
            handled += 1;
        }
    }
    Ok(handled)
}
