//! The payment gateway port.

use async_trait::async_trait;
use uuid::Uuid;

/// A payment the engine asks a provider to collect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    /// The engine's order.
    pub order_id: Uuid,
    /// Amount due in minor units.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// The provider's record of that payment request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderOrder {
    /// The provider's id for it (Razorpay: `order_...`).
    pub id: String,
    /// Amount in minor units, as the provider recorded it.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// Money to give back from a captured payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    /// The engine's order.
    pub order_id: Uuid,
    /// The provider's id of the captured payment.
    pub payment_id: String,
    /// Amount to refund, in minor units.
    pub amount_minor: i64,
    /// Makes a retried request (after a timeout or a crash) refund once: the provider answers
    /// a repeated key with the refund it already made.
    pub idempotency_key: String,
}

/// The provider's record of a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRefund {
    /// The provider's id for it (Razorpay: `rfnd_...`).
    pub id: String,
    /// Amount in minor units.
    pub amount_minor: i64,
}

/// Why the provider could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The provider could not be reached or failed (worth a retry).
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request.
    #[error("payment provider refused the request ({status}): {message}")]
    Refused {
        /// HTTP status it answered.
        status: u16,
        /// Its explanation.
        message: String,
    },
}

/// A payment provider.
#[async_trait]
pub trait PaymentGateway: Send + Sync + 'static {
    /// Stable name recorded with payments (`razorpay`).
    fn provider(&self) -> &'static str;

    /// The public key a client needs to pay at the provider.
    fn key_id(&self) -> &str;

    /// Where a person pays an order in the browser, when the provider offers a page for it
    /// (the simulator does; Razorpay's checkout runs in the shop's own page).
    fn pay_url(&self, provider_order_id: &str) -> Option<String>;

    /// Whether a webhook body carries the provider's signature (constant-time check).
    fn verify_webhook(&self, body: &[u8], signature: &str) -> bool;

    /// Opens a payment request at the provider.
    async fn create_order(&self, request: &OrderRequest) -> Result<ProviderOrder, GatewayError>;

    /// Refunds (part of) a captured payment. The outcome arrives later as a webhook.
    async fn refund(&self, request: &RefundRequest) -> Result<ProviderRefund, GatewayError>;
}
