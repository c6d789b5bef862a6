//! Payments at the edge of the engine.
//!
//! - [`gateway`]: the [`PaymentGateway`] port the engine calls to open a payment at a provider.
//! - [`razorpay`]: the adapter for Razorpay's Orders API and its webhook protocol (events
//!   signed with HMAC-SHA256 of the raw body in `X-Razorpay-Signature`).
//! - [`simulator`]: the provider's side of that protocol over HTTP on localhost, for
//!   development and tests where no provider can be reached: it creates orders, lets a person
//!   or a test pay or fail them, and delivers signed webhooks with retries, duplicates, reversed
//!   order and a wrong signature on request.

pub mod gateway;
pub mod razorpay;
pub mod simulator;

pub use gateway::{
    GatewayError, OrderRequest, PaymentGateway, ProviderOrder, ProviderRefund, RefundRequest,
};
