//! The provider's side of Razorpay's protocol, over HTTP on localhost.
//!
//! - `POST /v1/orders` and `GET /v1/orders/{id}`: the Orders API, with HTTP basic auth.
//! - `GET /pay/{id}`: a page where a person pays or fails an order.
//! - `POST /simulator/orders/{id}/pay` with `{outcome, duplicates, bad_signature, reverse}`: a
//!   payment attempt, answered once its webhooks were delivered. `outcome` is `captured`
//!   (events `payment.authorized` then `payment.captured`, or the other way round with
//!   `reverse`) or `failed` (`payment.failed`); `duplicates` delivers the last event that many
//!   more times, concurrently and with the same event id; `bad_signature` first delivers one
//!   copy signed with the wrong secret. Every delivery is retried (5 attempts, backing off from
//!   100 ms) until the engine answers 2xx, as the provider does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::razorpay::{sign, EVENT_ID_HEADER, SIGNATURE_HEADER};

/// The simulator's secrets and where it delivers webhooks.
#[derive(Clone)]
pub struct SimulatorConfig {
    /// Key id clients authenticate with.
    pub key_id: String,
    /// Key secret clients authenticate with.
    pub key_secret: String,
    /// Secret webhooks are signed with.
    pub webhook_secret: String,
    /// The engine's webhook endpoint.
    pub webhook_url: String,
}

#[derive(Clone, Serialize)]
struct SimOrder {
    id: String,
    entity: &'static str,
    amount: i64,
    amount_paid: i64,
    currency: String,
    receipt: String,
    status: String,
    notes: Value,
    attempts: u32,
}

#[derive(Clone)]
struct SimPayment {
    amount: i64,
    currency: String,
    refunded: i64,
}

struct Shared {
    config: SimulatorConfig,
    orders: Mutex<HashMap<String, SimOrder>>,
    payments: Mutex<HashMap<String, SimPayment>>,
    refunds: Mutex<HashMap<String, Value>>,
    http: reqwest::Client,
    next: AtomicU64,
}

impl Shared {
    fn id(&self, prefix: &str) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!(
            "{prefix}_{}{n:04}",
            &uuid::Uuid::new_v4().simple().to_string()[..10]
        )
    }
}

/// The simulator's routes.
pub fn router(config: SimulatorConfig) -> Router {
    let shared = Arc::new(Shared {
        config,
        orders: Mutex::new(HashMap::new()),
        payments: Mutex::new(HashMap::new()),
        refunds: Mutex::new(HashMap::new()),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default(),
        next: AtomicU64::new(1),
    });
    Router::new()
        .route("/v1/orders", post(create_order))
        .route("/v1/orders/{id}", get(get_order))
        .route("/v1/payments/{id}/refund", post(refund))
        .route("/pay/{id}", get(pay_page))
        .route("/simulator/orders/{id}/pay", post(pay))
        .route("/simulator/orders/{id}/pay-form", post(pay_form))
        .route("/simulator/ledger", get(ledger))
        .with_state(shared)
}

/// Serves the simulator on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    config: SimulatorConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(config))
        .with_graceful_shutdown(shutdown)
        .await
}

fn error(status: StatusCode, description: &str) -> Response {
    let body = json!({"error": {"code": "BAD_REQUEST_ERROR", "description": description}});
    (status, Json(body)).into_response()
}

fn authenticated(shared: &Shared, headers: &HeaderMap) -> bool {
    let expected = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        shared.config.key_id, shared.config.key_secret
    ));
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .is_some_and(|given| given.trim() == expected)
}

#[derive(Deserialize)]
struct NewOrder {
    amount: i64,
    currency: String,
    #[serde(default)]
    receipt: String,
    #[serde(default)]
    notes: Value,
}

async fn create_order(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<NewOrder>,
) -> Response {
    if !authenticated(&shared, &headers) {
        return error(StatusCode::UNAUTHORIZED, "Authentication failed");
    }
    if body.amount < 1 {
        return error(StatusCode::BAD_REQUEST, "amount must be at least 1");
    }
    let order = SimOrder {
        id: shared.id("order"),
        entity: "order",
        amount: body.amount,
        amount_paid: 0,
        currency: body.currency,
        receipt: body.receipt,
        status: "created".into(),
        notes: body.notes,
        attempts: 0,
    };
    shared
        .orders
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(order.id.clone(), order.clone());
    (StatusCode::OK, Json(order)).into_response()
}

async fn get_order(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !authenticated(&shared, &headers) {
        return error(StatusCode::UNAUTHORIZED, "Authentication failed");
    }
    match shared
        .orders
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
    {
        Some(order) => Json(order.clone()).into_response(),
        None => error(StatusCode::NOT_FOUND, "The id provided does not exist"),
    }
}

async fn pay_page(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let Some(order) = shared
        .orders
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
        .cloned()
    else {
        return error(StatusCode::NOT_FOUND, "no such order");
    };
    let id = html_escape(&order.id);
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Pay {id}</title></head>\
         <body><main><h1>Payment provider simulator</h1>\
         <p>Order <code>{id}</code>: {amount} minor units of {currency}, {status}.</p>\
         <form method=\"post\" action=\"/simulator/orders/{id}/pay-form\">\
         <button name=\"outcome\" value=\"captured\">Pay</button> \
         <button name=\"outcome\" value=\"failed\">Fail the payment</button></form>\
         </main></body></html>",
        amount = order.amount,
        currency = html_escape(&order.currency),
        status = html_escape(&order.status),
    ))
    .into_response()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A payment attempt's options.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attempt {
    /// `captured` (default) or `failed`.
    #[serde(default)]
    pub outcome: Option<String>,
    /// Extra deliveries of the last event, concurrent, same event id.
    #[serde(default)]
    pub duplicates: u32,
    /// Deliver one copy signed with a wrong secret first.
    #[serde(default)]
    pub bad_signature: bool,
    /// Deliver `payment.captured` before `payment.authorized`.
    #[serde(default)]
    pub reverse: bool,
    /// Payment method reported (`card` by default).
    #[serde(default)]
    pub method: Option<String>,
}

/// What happened to one webhook delivery: the status of every attempt (0: no answer).
#[derive(Debug, Serialize)]
pub struct Delivery {
    /// Event type.
    pub event: String,
    /// Event id (the same for duplicates).
    pub event_id: String,
    /// Whether it was signed correctly.
    pub signed: bool,
    /// HTTP status of each attempt.
    pub attempts: Vec<u16>,
}

async fn pay_form(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Form(attempt): Form<Attempt>,
) -> Response {
    match run_attempt(&shared, &id, attempt).await {
        Ok(report) => Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Done</title></head>\
             <body><main><h1>Payment {}</h1><p>Webhooks delivered: {}.</p></main></body></html>",
            html_escape(&report.payment_id),
            report.deliveries.len()
        ))
        .into_response(),
        Err(response) => response,
    }
}

async fn pay(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Json(attempt): Json<Attempt>,
) -> Response {
    match run_attempt(&shared, &id, attempt).await {
        Ok(report) => Json(report).into_response(),
        Err(response) => response,
    }
}

/// The outcome of a payment attempt.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The payment created.
    pub payment_id: String,
    /// Every delivery, in the order made.
    pub deliveries: Vec<Delivery>,
}

async fn run_attempt(shared: &Shared, id: &str, attempt: Attempt) -> Result<Report, Response> {
    let order = {
        let mut orders = shared.orders.lock().unwrap_or_else(|e| e.into_inner());
        let order = orders
            .get_mut(id)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, "no such order"))?;
        order.attempts += 1;
        order.clone()
    };
    let captured = match attempt.outcome.as_deref().unwrap_or("captured") {
        "captured" => true,
        "failed" => false,
        _ => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "outcome: captured or failed",
            ))
        }
    };
    let payment_id = shared.id("pay");
    let method = attempt.method.unwrap_or_else(|| "card".into());
    let payment = |status: &str| {
        json!({
            "id": payment_id, "entity": "payment", "amount": order.amount,
            "currency": order.currency, "status": status, "order_id": order.id,
            "method": method, "captured": status == "captured", "notes": order.notes,
            "error_code": if status == "failed" { json!("BAD_REQUEST_ERROR") } else { Value::Null },
            "error_description": if status == "failed" { json!("Payment failed at the simulator") } else { Value::Null },
        })
    };
    let mut events = if captured {
        vec![
            ("payment.authorized", payment("authorized")),
            ("payment.captured", payment("captured")),
        ]
    } else {
        vec![("payment.failed", payment("failed"))]
    };
    if attempt.reverse {
        events.reverse();
    }
    // The provider knows its payment before it tells anyone about it.
    if captured {
        let mut orders = shared.orders.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(order) = orders.get_mut(id) {
            order.status = "paid".into();
            order.amount_paid = order.amount;
        }
        shared
            .payments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                payment_id.clone(),
                SimPayment {
                    amount: order.amount,
                    currency: order.currency.clone(),
                    refunded: 0,
                },
            );
    }
    let mut deliveries = Vec::new();
    let last = events.len() - 1;
    for (n, (event, entity)) in events.into_iter().enumerate() {
        let event_id = shared.id("evt");
        let body = json!({
            "entity": "event", "account_id": "acc_simulator", "event": event,
            "contains": ["payment"], "payload": {"payment": {"entity": entity}},
        })
        .to_string();
        if attempt.bad_signature && n == 0 {
            let wrong = sign("not the webhook secret", body.as_bytes());
            deliveries.push(deliver(shared, event, &event_id, &body, &wrong, false).await);
        }
        let signature = sign(&shared.config.webhook_secret, body.as_bytes());
        let copies = if n == last { 1 + attempt.duplicates } else { 1 };
        let sends = (0..copies).map(|_| deliver(shared, event, &event_id, &body, &signature, true));
        deliveries.extend(futures::future::join_all(sends).await);
    }
    Ok(Report {
        payment_id,
        deliveries,
    })
}

/// `GET /simulator/ledger`: what the provider captured and refunded, per currency, in minor
/// units: the provider's side of a reconciliation.
async fn ledger(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let payments = shared.payments.lock().unwrap_or_else(|e| e.into_inner());
    let mut captured: HashMap<String, i64> = HashMap::new();
    let mut refunded: HashMap<String, i64> = HashMap::new();
    for payment in payments.values() {
        *captured.entry(payment.currency.clone()).or_default() += payment.amount;
        *refunded.entry(payment.currency.clone()).or_default() += payment.refunded;
    }
    Json(json!({"captured": captured, "refunded": refunded, "payments": payments.len()}))
}

#[derive(Deserialize)]
struct NewRefund {
    amount: Option<i64>,
    #[serde(default)]
    notes: Value,
}

/// `POST /v1/payments/{id}/refund`: refunds (part of) a captured payment, once per
/// `X-Refund-Idempotency` key, then delivers `refund.processed`.
async fn refund(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(payment_id): Path<String>,
    Json(body): Json<NewRefund>,
) -> Response {
    if !authenticated(&shared, &headers) {
        return error(StatusCode::UNAUTHORIZED, "Authentication failed");
    }
    let key = headers
        .get(crate::razorpay::REFUND_IDEMPOTENCY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(done) = key.as_ref().and_then(|k| {
        shared
            .refunds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(k)
            .cloned()
    }) {
        return Json(done).into_response();
    }
    let refund = {
        let mut payments = shared.payments.lock().unwrap_or_else(|e| e.into_inner());
        let Some(payment) = payments.get_mut(&payment_id) else {
            return error(StatusCode::BAD_REQUEST, "The payment has not been captured");
        };
        let amount = body.amount.unwrap_or(payment.amount - payment.refunded);
        if amount < 1 || amount > payment.amount - payment.refunded {
            return error(
                StatusCode::BAD_REQUEST,
                "The refund amount exceeds what is left of the payment",
            );
        }
        payment.refunded += amount;
        json!({
            "id": shared.id("rfnd"), "entity": "refund", "amount": amount,
            "currency": payment.currency, "payment_id": payment_id, "notes": body.notes,
            "status": "processed",
        })
    };
    if let Some(key) = key {
        shared
            .refunds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, refund.clone());
    }
    let event = json!({
        "entity": "event", "account_id": "acc_simulator", "event": "refund.processed",
        "contains": ["refund"], "payload": {"refund": {"entity": refund}},
    })
    .to_string();
    let later = shared.clone();
    tokio::spawn(async move {
        let event_id = later.id("evt");
        let signature = sign(&later.config.webhook_secret, event.as_bytes());
        deliver(
            &later,
            "refund.processed",
            &event_id,
            &event,
            &signature,
            true,
        )
        .await;
    });
    Json(refund).into_response()
}

async fn deliver(
    shared: &Shared,
    event: &str,
    event_id: &str,
    body: &str,
    signature: &str,
    retry: bool,
) -> Delivery {
    let mut attempts = Vec::new();
    let mut wait = Duration::from_millis(100);
    for _ in 0..if retry { 5 } else { 1 } {
        let answer = shared
            .http
            .post(&shared.config.webhook_url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(EVENT_ID_HEADER, event_id)
            .body(body.to_owned())
            .send()
            .await;
        let status = answer.map(|r| r.status().as_u16()).unwrap_or(0);
        attempts.push(status);
        if (200..300).contains(&status) {
            break;
        }
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
    tracing::debug!(event, event_id, ?attempts, "webhook delivered");
    Delivery {
        event: event.to_owned(),
        event_id: event_id.to_owned(),
        signed: retry,
        attempts,
    }
}
