//! Razorpay: the Orders API (`POST /v1/orders`, HTTP basic auth with the key id and secret) and
//! the webhook protocol (JSON events signed with HMAC-SHA256 of the raw body, hex-encoded in
//! `X-Razorpay-Signature`, identified by `X-Razorpay-Event-Id`).
//!
//! The same code talks to the real provider and to [`crate::simulator`]: only the base URL
//! and the secrets differ.

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;
use uuid::Uuid;

use crate::gateway::{
    GatewayError, OrderRequest, PaymentGateway, ProviderOrder, ProviderRefund, RefundRequest,
};

/// Header making a refund request idempotent.
pub const REFUND_IDEMPOTENCY_HEADER: &str = "x-refund-idempotency";

/// Header carrying the webhook signature.
pub const SIGNATURE_HEADER: &str = "x-razorpay-signature";
/// Header carrying the webhook event's unique id.
pub const EVENT_ID_HEADER: &str = "x-razorpay-event-id";

/// Where the provider is and the secrets to talk to it.
#[derive(Clone)]
pub struct RazorpayConfig {
    /// `https://api.razorpay.com` for the real provider, the simulator's address otherwise.
    pub base_url: String,
    /// Public key id.
    pub key_id: String,
    /// API secret (basic auth password).
    pub key_secret: String,
    /// Secret that signs webhooks.
    pub webhook_secret: String,
    /// A browser page to pay at, if the provider has one (the simulator).
    pub pay_page: Option<String>,
}

impl std::fmt::Debug for RazorpayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RazorpayConfig")
            .field("base_url", &self.base_url)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// The Razorpay adapter.
pub struct Razorpay {
    http: reqwest::Client,
    config: RazorpayConfig,
}

impl Razorpay {
    /// An adapter for `config`.
    pub fn new(config: RazorpayConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Razorpay { http, config }
    }

    /// Whether `signature` (hex) is the HMAC-SHA256 of `body` with this webhook secret.
    pub fn verify(&self, body: &[u8], signature: &str) -> bool {
        verify(&self.config.webhook_secret, body, signature)
    }
}

#[derive(Deserialize)]
struct RefundAnswer {
    id: String,
    amount: i64,
}

impl Razorpay {
    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> Result<T, GatewayError> {
        let url = format!("{}{path}", self.config.base_url.trim_end_matches('/'));
        let mut request = self
            .http
            .post(url)
            .basic_auth(&self.config.key_id, Some(&self.config.key_secret))
            .json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| GatewayError::Unavailable(e.to_string()))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(GatewayError::Unavailable(format!("status {status}")));
        }
        if !status.is_success() {
            let message = response.text().await.unwrap_or_default();
            return Err(GatewayError::Refused {
                status: status.as_u16(),
                message,
            });
        }
        response
            .json()
            .await
            .map_err(|e| GatewayError::Unavailable(format!("unreadable answer: {e}")))
    }
}

#[derive(Deserialize)]
struct OrderAnswer {
    id: String,
    amount: i64,
    currency: String,
}

#[async_trait]
impl PaymentGateway for Razorpay {
    fn provider(&self) -> &'static str {
        "razorpay"
    }

    fn key_id(&self) -> &str {
        &self.config.key_id
    }

    fn verify_webhook(&self, body: &[u8], signature: &str) -> bool {
        self.verify(body, signature)
    }

    fn pay_url(&self, provider_order_id: &str) -> Option<String> {
        self.config
            .pay_page
            .as_ref()
            .map(|page| format!("{page}/{provider_order_id}"))
    }

    async fn create_order(&self, request: &OrderRequest) -> Result<ProviderOrder, GatewayError> {
        let body = json!({
            "amount": request.amount_minor,
            "currency": request.currency,
            "receipt": request.order_id.to_string(),
            "notes": {"order_id": request.order_id.to_string()},
        });
        let order: OrderAnswer = self.post("/v1/orders", body, &[]).await?;
        Ok(ProviderOrder {
            id: order.id,
            amount_minor: order.amount,
            currency: order.currency,
        })
    }

    async fn refund(&self, request: &RefundRequest) -> Result<ProviderRefund, GatewayError> {
        let body = json!({
            "amount": request.amount_minor,
            "notes": {"order_id": request.order_id.to_string()},
        });
        let path = format!("/v1/payments/{}/refund", request.payment_id);
        let headers = [(REFUND_IDEMPOTENCY_HEADER, request.idempotency_key.as_str())];
        let refund: RefundAnswer = self.post(&path, body, &headers).await?;
        Ok(ProviderRefund {
            id: refund.id,
            amount_minor: refund.amount,
        })
    }
}

/// The hex HMAC-SHA256 of `body` under `secret`, as Razorpay signs webhooks.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `signature` is the hex HMAC-SHA256 of `body` under `secret`, compared in constant
/// time.
pub fn verify(secret: &str, body: &[u8], signature: &str) -> bool {
    let Ok(claimed) = hex::decode(signature.trim()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    mac.verify_slice(&claimed).is_ok()
}

/// What a verified webhook says, in the engine's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// A payment of a provider order was captured.
    PaymentCaptured {
        /// The engine's order, from the provider order's notes.
        order_id: Uuid,
        /// The provider order.
        provider_order_id: String,
        /// The provider's payment id.
        payment_id: String,
        /// Amount captured in minor units.
        amount_minor: i64,
        /// ISO 4217 code.
        currency: String,
        /// How it was paid (`card`, `netbanking`, `upi`, ...).
        method: String,
    },
    /// The provider reserved the amount of a payment (capture follows).
    PaymentAuthorized {
        /// The engine's order.
        order_id: Uuid,
        /// The provider order.
        provider_order_id: String,
        /// The provider's payment id.
        payment_id: String,
        /// Amount in minor units.
        amount_minor: i64,
        /// ISO 4217 code.
        currency: String,
    },
    /// A payment attempt failed.
    PaymentFailed {
        /// The engine's order.
        order_id: Uuid,
        /// The provider order.
        provider_order_id: String,
        /// The provider's payment id.
        payment_id: String,
        /// The provider's explanation.
        reason: String,
    },
    /// A refund was paid out.
    RefundProcessed {
        /// The engine's order, from the refund's notes.
        order_id: Uuid,
        /// The provider's refund id.
        refund_id: String,
        /// Amount refunded in minor units.
        amount_minor: i64,
        /// ISO 4217 code.
        currency: String,
    },
    /// An event the engine does not act on (acknowledged and logged).
    Other {
        /// Its type, e.g. `payment.authorized`.
        event: String,
    },
}

/// Why a webhook body could not be understood.
#[derive(Debug, thiserror::Error)]
#[error("malformed webhook: {0}")]
pub struct MalformedWebhook(pub String);

/// The event type of a webhook body (`payment.captured`).
pub fn event_type(body: &Value) -> Option<&str> {
    body.get("event").and_then(Value::as_str)
}

/// Reads a webhook body (already verified).
pub fn parse(body: &Value) -> Result<Notification, MalformedWebhook> {
    let event = event_type(body)
        .ok_or_else(|| MalformedWebhook("no event type".into()))?
        .to_owned();
    let payment = &body["payload"]["payment"]["entity"];
    let text = |value: &Value, what: &str| {
        value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| MalformedWebhook(format!("no {what}")))
    };
    let order_id = || {
        payment["notes"]["order_id"]
            .as_str()
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or_else(|| MalformedWebhook("no engine order id in the notes".into()))
    };
    match event.as_str() {
        "payment.captured" => Ok(Notification::PaymentCaptured {
            order_id: order_id()?,
            provider_order_id: text(&payment["order_id"], "order id")?,
            payment_id: text(&payment["id"], "payment id")?,
            amount_minor: payment["amount"]
                .as_i64()
                .ok_or_else(|| MalformedWebhook("no amount".into()))?,
            currency: text(&payment["currency"], "currency")?,
            method: payment["method"].as_str().unwrap_or("card").to_owned(),
        }),
        "payment.authorized" => Ok(Notification::PaymentAuthorized {
            order_id: order_id()?,
            provider_order_id: text(&payment["order_id"], "order id")?,
            payment_id: text(&payment["id"], "payment id")?,
            amount_minor: payment["amount"]
                .as_i64()
                .ok_or_else(|| MalformedWebhook("no amount".into()))?,
            currency: text(&payment["currency"], "currency")?,
        }),
        "payment.failed" => Ok(Notification::PaymentFailed {
            order_id: order_id()?,
            provider_order_id: text(&payment["order_id"], "order id")?,
            payment_id: text(&payment["id"], "payment id")?,
            reason: payment["error_description"]
                .as_str()
                .or_else(|| payment["error_code"].as_str())
                .unwrap_or("payment failed")
                .to_owned(),
        }),
        "refund.processed" => {
            let refund = &body["payload"]["refund"]["entity"];
            Ok(Notification::RefundProcessed {
                order_id: refund["notes"]["order_id"]
                    .as_str()
                    .and_then(|id| Uuid::parse_str(id).ok())
                    .ok_or_else(|| MalformedWebhook("no engine order id in the notes".into()))?,
                refund_id: text(&refund["id"], "refund id")?,
                amount_minor: refund["amount"]
                    .as_i64()
                    .ok_or_else(|| MalformedWebhook("no amount".into()))?,
                currency: text(&refund["currency"], "currency")?,
            })
        }
        _ => Ok(Notification::Other { event }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_secret_and_the_exact_body() {
        let body = br#"{"event":"payment.captured"}"#;
        let signature = sign("whsec", body);
        assert_eq!(signature.len(), 64);
        assert!(verify("whsec", body, &signature));
        assert!(!verify("other", body, &signature));
        assert!(!verify(
            "whsec",
            br#"{"event":"payment.captured" }"#,
            &signature
        ));
        assert!(!verify("whsec", body, "not hex"));
        assert!(!verify("whsec", body, &signature[..62]));
    }

    #[test]
    fn captured_and_failed_payments_are_read() {
        let order = Uuid::now_v7();
        let body = json!({"entity": "event", "event": "payment.captured", "payload": {"payment":
            {"entity": {"id": "pay_1", "order_id": "order_1", "amount": 2500, "currency": "EUR",
                        "method": "card", "notes": {"order_id": order.to_string()}}}}});
        assert_eq!(
            parse(&body).unwrap(),
            Notification::PaymentCaptured {
                order_id: order,
                provider_order_id: "order_1".into(),
                payment_id: "pay_1".into(),
                amount_minor: 2500,
                currency: "EUR".into(),
                method: "card".into(),
            }
        );
        let failed = json!({"event": "payment.failed", "payload": {"payment": {"entity": {
            "id": "pay_2", "order_id": "order_1", "error_description": "card declined",
            "notes": {"order_id": order.to_string()}}}}});
        assert!(
            matches!(parse(&failed).unwrap(), Notification::PaymentFailed { reason, .. } if reason == "card declined")
        );
        let other = json!({"event": "order.paid"});
        assert!(matches!(parse(&other).unwrap(), Notification::Other { .. }));
        assert!(parse(&json!({"event": "payment.captured"})).is_err());
    }
}
