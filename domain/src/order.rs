//! The order life cycle: placed -> paid -> shipped -> delivered, or cancelled before shipping.
//! Transitions are guarded; an invalid one is a typed error naming the current status.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::aggregate::{Aggregate, DomainEvent};
use crate::text::{Carrier, PaymentReference, Reason, TrackingNumber};
use crate::values::{AccountId, CustomerId, Money, OrderId, Quantity, Sku};

/// A priced line of an order, fixed when the order is placed.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// Which product.
    pub sku: Sku,
    /// Product name at the time of the order.
    pub name: String,
    /// Unit price at the time of the order.
    pub unit_price: Money,
    /// Units ordered.
    pub quantity: Quantity,
    /// `unit_price * quantity`.
    pub line_total: Money,
}

/// Where an order stands.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Stock is reserved; awaiting payment.
    Placed,
    /// Paid in full; awaiting shipment.
    Paid,
    /// Handed to a carrier.
    Shipped,
    /// Received by the customer.
    Delivered,
    /// Cancelled; its stock was released.
    Cancelled,
}

impl OrderStatus {
    /// The status as stored in read models and shown to clients.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "placed",
            OrderStatus::Paid => "paid",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
        }
    }
}

impl TryFrom<String> for OrderStatus {
    type Error = String;
    /// Parses the stored form ([`OrderStatus::as_str`]).
    fn try_from(value: String) -> Result<Self, String> {
        [
            OrderStatus::Placed,
            OrderStatus::Paid,
            OrderStatus::Shipped,
            OrderStatus::Delivered,
            OrderStatus::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
        .ok_or_else(|| format!("unknown order status {value:?}"))
    }
}

macro_rules! state_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$doc])*
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// The state as stored in read models and shown to clients.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(value: String) -> Result<Self, String> {
                match value.as_str() {
                    $($text => Ok($name::$variant),)*
                    _ => Err(format!("unknown {} {value:?}", stringify!($name))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

state_enum!(
    /// The order's own life: open until it is completed (paid and delivered) or cancelled.
    OrderState {
        /// Being paid for or fulfilled.
        Open => "open",
        /// Paid and delivered.
        Completed => "completed",
        /// Cancelled; its stock was released.
        Cancelled => "cancelled",
    }
);

state_enum!(
    /// Where the money stands.
    PaymentState {
        /// Nothing paid yet.
        Pending => "pending",
        /// The provider reserved the amount; not captured yet.
        Authorized => "authorized",
        /// The amount due is paid.
        Captured => "captured",
        /// Part of the payment went back.
        PartiallyRefunded => "partially_refunded",
        /// All of it went back.
        Refunded => "refunded",
        /// The last attempt failed; paying again is allowed.
        Failed => "failed",
    }
);

state_enum!(
    /// Where the goods stand.
    FulfilmentState {
        /// Not handed to a carrier yet.
        Unfulfilled => "unfulfilled",
        /// With the carrier.
        Shipped => "shipped",
        /// With the customer.
        Delivered => "delivered",
        /// Sent back by the customer.
        Returned => "returned",
    }
);

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an order was paid.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    /// Card through the payment provider.
    Card,
    /// Bank transfer.
    BankTransfer,
    /// The account's store credit.
    StoreCredit,
    /// Paid on delivery.
    CashOnDelivery,
    /// Not recorded (payments from before schema version 2 of `OrderPaid`).
    Unspecified,
}

impl PaymentMethod {
    /// Parses a method clients may choose (`unspecified` is not one).
    pub fn parse(raw: &str) -> Option<PaymentMethod> {
        match raw {
            "card" => Some(PaymentMethod::Card),
            "bank_transfer" => Some(PaymentMethod::BankTransfer),
            "store_credit" => Some(PaymentMethod::StoreCredit),
            "cash_on_delivery" => Some(PaymentMethod::CashOnDelivery),
            _ => None,
        }
    }

    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Card => "card",
            PaymentMethod::BankTransfer => "bank_transfer",
            PaymentMethod::StoreCredit => "store_credit",
            PaymentMethod::CashOnDelivery => "cash_on_delivery",
            PaymentMethod::Unspecified => "unspecified",
        }
    }
}

/// Where an order is shipped and who it is billed to, fixed when it is placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderAddresses {
    /// Delivery address.
    pub shipping: Address,
    /// Billing address (often the same).
    pub billing: Address,
}

/// What an order costs beyond its lines, decided at checkout ([`crate::pricing`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Charges {
    /// Shipping fee (none: free).
    pub shipping: Option<Money>,
    /// Tax on the lines and the fee (none: untaxed).
    pub tax: Option<Money>,
    /// The shipping method chosen.
    pub shipping_method: Option<String>,
}

/// Commands on an order.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderCommand {
    /// Open the order with priced lines (see [`crate::checkout`]).
    Place {
        /// New order's id.
        order_id: OrderId,
        /// Who ordered.
        customer_id: CustomerId,
        /// Priced lines, at least one.
        lines: Vec<OrderLine>,
        /// Where it goes and who is billed.
        addresses: Box<OrderAddresses>,
        /// Store credit applied to it (spent from the wallet in the same decision).
        credit: Option<Money>,
        /// Shipping and tax, as quoted at checkout.
        charges: Charges,
    },
    /// Record a payment of the full total.
    Pay {
        /// Amount paid.
        amount: Money,
        /// The payment provider's reference.
        payment_reference: PaymentReference,
        /// How it was paid.
        method: PaymentMethod,
    },
    /// Record the hand-over to a carrier.
    Ship {
        /// Carrier name.
        carrier: Carrier,
        /// Carrier's tracking number.
        tracking_number: TrackingNumber,
    },
    /// Record that a payment of the amount due was opened at a provider.
    RequestPayment {
        /// The provider (`razorpay`).
        provider: String,
        /// The provider's id for the payment request.
        provider_order_id: String,
        /// What the provider will collect.
        amount: Money,
    },
    /// Record a payment the provider captured (idempotent: the same payment again is a no-op).
    CapturePayment {
        /// The provider's payment request it belongs to.
        provider_order_id: String,
        /// The provider's payment id.
        payment_reference: PaymentReference,
        /// Amount captured.
        amount: Money,
        /// How it was paid.
        method: PaymentMethod,
    },
    /// Record that the provider reserved the amount (idempotent; nothing after a capture).
    AuthorizePayment {
        /// The provider's payment request it belongs to.
        provider_order_id: String,
        /// The provider's payment id.
        payment_reference: PaymentReference,
        /// Amount authorized.
        amount: Money,
    },
    /// Record a failed payment attempt (paying again stays possible).
    FailPayment {
        /// The provider's payment request it belongs to.
        provider_order_id: String,
        /// The provider's payment id.
        payment_reference: PaymentReference,
        /// The provider's explanation.
        reason: String,
    },
    /// Record a refund the provider accepted to pay out (idempotent per refund reference).
    RequestRefund {
        /// The provider's refund id.
        refund_reference: String,
        /// How much.
        amount: Money,
        /// Why, in words.
        reason: Reason,
    },
    /// Record a refund the provider paid out (idempotent per refund reference).
    CompleteRefund {
        /// The provider's refund id.
        refund_reference: String,
        /// How much.
        amount: Money,
    },
    /// Ask to send delivered units back.
    RequestReturn {
        /// The new return's id.
        return_id: uuid::Uuid,
        /// Units per SKU of the order.
        lines: Vec<ReturnLine>,
        /// Why, in words.
        reason: Reason,
        /// Whether the return window (counted from delivery) is still open now.
        window_open: bool,
    },
    /// Accept a requested return: the units come back.
    AcceptReturn {
        /// The return.
        return_id: uuid::Uuid,
    },
    /// Split a just-placed order into one fulfilment per seller.
    Split {
        /// Each seller's lines.
        fulfilments: Vec<FulfilmentLines>,
    },
    /// A seller hands their part of the order to a carrier.
    ShipFulfilment {
        /// Whose part.
        seller_id: AccountId,
        /// Carrier name.
        carrier: Carrier,
        /// Carrier's tracking number.
        tracking_number: TrackingNumber,
    },
    /// A seller's part reached the customer.
    DeliverFulfilment {
        /// Whose part.
        seller_id: AccountId,
    },
    /// Refuse a requested return.
    RefuseReturn {
        /// The return.
        return_id: uuid::Uuid,
        /// Why, in words.
        reason: Reason,
    },
    /// Record the refund of a payment the provider captured after the order was cancelled
    /// (idempotent per payment).
    RefundLatePayment {
        /// The provider's payment id.
        payment_reference: PaymentReference,
        /// What was captured, and refunded.
        amount: Money,
        /// The provider's refund id.
        refund_reference: String,
    },
    /// Record the delivery to the customer.
    Deliver,
    /// Cancel the order (its stock is released by [`crate::checkout::cancel_order`]).
    Cancel {
        /// Why, in words.
        reason: Reason,
    },
}

/// Events of an order.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum OrderEvent {
    /// An order was placed; prices are fixed and stock is reserved.
    OrderPlaced {
        /// The order.
        order_id: OrderId,
        /// Who ordered.
        customer_id: CustomerId,
        /// Priced lines.
        lines: Vec<OrderLine>,
        /// Sum of the line totals.
        total: Money,
        /// Delivery address (since schema version 2; `null` on orders placed before).
        #[serde(default)]
        shipping_address: Option<Box<Address>>,
        /// Billing address (since schema version 2; `null` on orders placed before).
        #[serde(default)]
        billing_address: Option<Box<Address>>,
        /// Store credit applied at placement (since schema version 2; `null` when none);
        /// the amount due is `total` minus this.
        #[serde(default)]
        credit_applied: Option<Money>,
        /// Sum of the lines (since schema version 2; `total` is the subtotal plus shipping
        /// and tax).
        #[serde(default)]
        subtotal: Option<Money>,
        /// Shipping fee (since schema version 2).
        #[serde(default)]
        shipping: Option<Money>,
        /// Tax (since schema version 2).
        #[serde(default)]
        tax: Option<Money>,
        /// Shipping method (since schema version 2).
        #[serde(default)]
        shipping_method: Option<String>,
    },
    /// The amount due was paid: `amount` is what `payment_method` paid beyond the store credit
    /// applied at placement (zero, with `store_credit`, when credit covered everything).
    /// Schema version 2 added `payment_method`, version 3 `offline`.
    OrderPaid {
        /// The order.
        order_id: OrderId,
        /// Amount paid.
        amount: Money,
        /// The payment provider's reference.
        payment_reference: String,
        /// How it was paid (since schema version 2).
        payment_method: PaymentMethod,
        /// Recorded by an admin, not through the payment provider: a refund of it cannot go
        /// through the provider. Absent (false) for provider payments and for payments
        /// recorded before this field existed.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        offline: bool,
    },
    /// The order was handed to a carrier.
    OrderShipped {
        /// The order.
        order_id: OrderId,
        /// Carrier name.
        carrier: String,
        /// Carrier's tracking number.
        tracking_number: String,
    },
    /// A payment of the amount due was opened at a payment provider.
    PaymentRequested {
        /// The order.
        order_id: OrderId,
        /// The provider (`razorpay`).
        provider: String,
        /// The provider's id for the payment request.
        provider_order_id: String,
        /// What the provider will collect.
        amount: Money,
    },
    /// The provider reserved the amount due; a capture follows.
    PaymentAuthorized {
        /// The order.
        order_id: OrderId,
        /// The provider's payment request.
        provider_order_id: String,
        /// The provider's payment id.
        payment_reference: String,
        /// Amount authorized.
        amount: Money,
    },
    /// A payment attempt failed at the provider; the order can still be paid.
    PaymentFailed {
        /// The order.
        order_id: OrderId,
        /// The provider's payment request.
        provider_order_id: String,
        /// The provider's payment id.
        payment_reference: String,
        /// The provider's explanation.
        reason: String,
    },
    /// A refund of (part of) the payment was accepted by the provider.
    RefundRequested {
        /// The order.
        order_id: OrderId,
        /// The provider's refund id.
        refund_reference: String,
        /// How much.
        amount: Money,
        /// Why.
        reason: String,
    },
    /// A refund was paid out by the provider.
    RefundProcessed {
        /// The order.
        order_id: OrderId,
        /// The provider's refund id.
        refund_reference: String,
        /// How much.
        amount: Money,
    },
    /// The customer asked to send delivered units back.
    ReturnRequested {
        /// The order.
        order_id: OrderId,
        /// The return.
        return_id: uuid::Uuid,
        /// Units per SKU.
        lines: Vec<ReturnLine>,
        /// Why.
        reason: String,
    },
    /// A return was accepted: its units go back to stock (`StockReturned`, same transaction).
    ReturnAccepted {
        /// The order.
        order_id: OrderId,
        /// The return.
        return_id: uuid::Uuid,
        /// Units per SKU.
        lines: Vec<ReturnLine>,
        /// What the returned units cost on the order.
        value: Money,
    },
    /// A return was refused.
    ReturnRefused {
        /// The order.
        order_id: OrderId,
        /// The return.
        return_id: uuid::Uuid,
        /// Why.
        reason: String,
    },
    /// A payment captured after the order was cancelled was refunded through the provider.
    LatePaymentRefunded {
        /// The order.
        order_id: OrderId,
        /// The provider's payment id.
        payment_reference: String,
        /// What was captured, and refunded.
        amount: Money,
        /// The provider's refund id.
        refund_reference: String,
    },
    /// The order was split into one fulfilment per seller, in the transaction that placed it.
    OrderSplitIntoFulfilments {
        /// The order.
        order_id: OrderId,
        /// Each seller's lines.
        fulfilments: Vec<FulfilmentLines>,
    },
    /// A seller handed their part of the order to a carrier. Once every part is shipped,
    /// `OrderShipped` follows in the same transaction.
    FulfilmentShipped {
        /// The order.
        order_id: OrderId,
        /// Whose part.
        seller_id: AccountId,
        /// Carrier name.
        carrier: String,
        /// Carrier's tracking number.
        tracking_number: String,
    },
    /// A seller's part reached the customer. Once every part is delivered, `OrderDelivered`
    /// follows in the same transaction.
    FulfilmentDelivered {
        /// The order.
        order_id: OrderId,
        /// Whose part.
        seller_id: AccountId,
    },
    /// The order reached the customer.
    OrderDelivered {
        /// The order.
        order_id: OrderId,
    },
    /// The order was cancelled and its stock released.
    OrderCancelled {
        /// The order.
        order_id: OrderId,
        /// Why, in words.
        reason: String,
        /// Amount to refund when the order had been paid.
        refund: Option<Money>,
    },
}

impl DomainEvent for OrderEvent {
    fn event_type(&self) -> &'static str {
        match self {
            OrderEvent::OrderPlaced { .. } => "OrderPlaced",
            OrderEvent::OrderPaid { .. } => "OrderPaid",
            OrderEvent::OrderShipped { .. } => "OrderShipped",
            OrderEvent::OrderDelivered { .. } => "OrderDelivered",
            OrderEvent::OrderSplitIntoFulfilments { .. } => "OrderSplitIntoFulfilments",
            OrderEvent::FulfilmentShipped { .. } => "FulfilmentShipped",
            OrderEvent::FulfilmentDelivered { .. } => "FulfilmentDelivered",
            OrderEvent::PaymentRequested { .. } => "PaymentRequested",
            OrderEvent::PaymentFailed { .. } => "PaymentFailed",
            OrderEvent::PaymentAuthorized { .. } => "PaymentAuthorized",
            OrderEvent::RefundRequested { .. } => "RefundRequested",
            OrderEvent::RefundProcessed { .. } => "RefundProcessed",
            OrderEvent::ReturnRequested { .. } => "ReturnRequested",
            OrderEvent::ReturnAccepted { .. } => "ReturnAccepted",
            OrderEvent::ReturnRefused { .. } => "ReturnRefused",
            OrderEvent::LatePaymentRefunded { .. } => "LatePaymentRefunded",
            OrderEvent::OrderCancelled { .. } => "OrderCancelled",
        }
    }

    fn schema_version(&self) -> u16 {
        match self {
            OrderEvent::OrderPlaced { .. } => 2,
            OrderEvent::OrderPaid { .. } => 3,
            _ => 1,
        }
    }
}

/// Why an order command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// No order with this id was placed.
    #[error("order not found")]
    NotFound,
    /// The order id is taken.
    #[error("order already placed")]
    AlreadyPlaced,
    /// An order needs at least one line.
    #[error("an order needs at least one line")]
    NoLines,
    /// The command does not fit the order's own state (it is completed or cancelled).
    #[error("cannot {action} an order that is {status}")]
    InvalidTransition {
        /// Current status.
        status: OrderStatus,
        /// What was asked.
        action: &'static str,
    },
    /// The command does not fit the payment's state.
    #[error("cannot {action} an order whose payment is {state}")]
    PaymentTransition {
        /// Current payment state.
        state: PaymentState,
        /// What was asked.
        action: &'static str,
    },
    /// The command does not fit the fulfilment's state.
    #[error("cannot {action} an order whose fulfilment is {state}")]
    FulfilmentTransition {
        /// Current fulfilment state.
        state: FulfilmentState,
        /// What was asked.
        action: &'static str,
    },
    /// A payment must match the amount due exactly.
    #[error("payment of {paid} does not match the amount due {total}")]
    PaymentMismatch {
        /// The amount due (the total less store credit).
        total: Money,
        /// What was offered.
        paid: Money,
    },
    /// The return window closed.
    #[error("the return window has closed")]
    ReturnWindowClosed,
    /// The return does not fit the order's lines.
    #[error("invalid return: {0}")]
    InvalidReturn(&'static str),
    /// No pending return with this id.
    #[error("no pending return {0} on this order")]
    UnknownReturn(uuid::Uuid),
    /// The order has no part from this seller.
    #[error("the order holds nothing from seller {0}")]
    NoSuchFulfilment(AccountId),
    /// More would be refunded than was paid through the provider.
    #[error("cannot refund {asked}: {refundable} of the payment is left to refund")]
    RefundExceedsPayment {
        /// What was asked.
        asked: Money,
        /// What is left to refund.
        refundable: Money,
    },
    /// A provider reported on a payment request the order never made.
    #[error("the order has no payment request {0}")]
    UnknownPaymentRequest(String),
    /// More store credit than the order total, or in another currency.
    #[error("store credit of {credit} cannot pay an order of {total}")]
    CreditNotApplicable {
        /// The order total.
        total: Money,
        /// The credit asked for.
        credit: Money,
    },
    /// Totals could not be computed (currency mix or overflow).
    #[error("cannot total the order: {0}")]
    Pricing(crate::values::ValueError),
}

impl OrderError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            OrderError::NotFound => "order_not_found",
            OrderError::AlreadyPlaced => "order_already_placed",
            OrderError::NoLines => "order_has_no_lines",
            OrderError::InvalidTransition { .. } => "invalid_order_transition",
            OrderError::PaymentTransition { .. } => "invalid_payment_transition",
            OrderError::FulfilmentTransition { .. } => "invalid_fulfilment_transition",
            OrderError::PaymentMismatch { .. } => "payment_amount_mismatch",
            OrderError::CreditNotApplicable { .. } => "credit_exceeds_total",
            OrderError::UnknownPaymentRequest(_) => "unknown_payment_request",
            OrderError::RefundExceedsPayment { .. } => "refund_exceeds_payment",
            OrderError::ReturnWindowClosed => "return_window_closed",
            OrderError::InvalidReturn(_) => "invalid_return",
            OrderError::UnknownReturn(_) => "return_not_found",
            OrderError::NoSuchFulfilment(_) => "fulfilment_not_found",
            OrderError::Pricing(e) => e.code(),
        }
    }
}

/// An order as rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Order {
    /// Present once placed.
    pub placed: Option<PlacedOrder>,
}

/// State of an order that exists.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedOrder {
    /// The order.
    pub order_id: OrderId,
    /// Who ordered.
    pub customer_id: CustomerId,
    /// Priced lines.
    pub lines: Vec<OrderLine>,
    /// Sum of the line totals.
    pub total: Money,
    /// Delivery address (`None` for orders placed before addresses were recorded).
    pub shipping_address: Option<Address>,
    /// Billing address (`None` for orders placed before addresses were recorded).
    pub billing_address: Option<Address>,
    /// Current status: a summary of the three states below.
    pub status: OrderStatus,
    /// The order's own state.
    pub state: OrderState,
    /// The payment's state.
    pub payment: PaymentState,
    /// The fulfilment's state.
    pub fulfilment: FulfilmentState,
    /// Amount paid beyond store credit, once paid.
    pub paid: Option<Money>,
    /// Store credit applied at placement.
    pub credit_applied: Option<Money>,
    /// The provider's id of the latest payment request.
    pub provider_order_id: Option<String>,
    /// The reference of the payment that captured it.
    pub payment_reference: Option<String>,
    /// The payment was recorded by an admin, not made through the provider.
    pub paid_offline: bool,
    /// Refunds accepted by the provider: reference and amount in minor units.
    pub refunds_requested: Vec<(String, i64)>,
    /// Refunds paid out: reference and amount in minor units.
    pub refunds_processed: Vec<(String, i64)>,
    /// Returns, in the order they were asked for.
    pub returns: Vec<ReturnRecord>,
    /// Payments captured after cancellation and refunded, by payment reference.
    pub late_refunds: Vec<String>,
    /// One part per seller (empty for orders placed before orders were split).
    pub fulfilments: Vec<Fulfilment>,
}

impl PlacedOrder {
    /// The part of `seller`.
    fn part(&self, seller: AccountId) -> Result<&Fulfilment, OrderError> {
        self.fulfilments
            .iter()
            .find(|f| f.seller_id == seller)
            .ok_or(OrderError::NoSuchFulfilment(seller))
    }
}

/// One seller's lines of an order: what that seller ships.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfilmentLines {
    /// The seller.
    pub seller_id: AccountId,
    /// Units per SKU.
    pub lines: Vec<ReturnLine>,
}

/// One seller's part of an order and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fulfilment {
    /// The seller.
    pub seller_id: AccountId,
    /// Units per SKU.
    pub lines: Vec<ReturnLine>,
    /// Unfulfilled, shipped or delivered.
    pub state: FulfilmentState,
}

/// Units of one SKU of an order, sent back.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnLine {
    /// Which product.
    pub sku: Sku,
    /// How many units.
    pub quantity: Quantity,
}

/// Where a return stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnStatus {
    /// Asked for; an admin decides.
    Requested,
    /// Accepted: the units came back.
    Accepted,
    /// Refused.
    Refused,
}

/// A return of (part of) an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnRecord {
    /// The return.
    pub return_id: uuid::Uuid,
    /// Units per SKU.
    pub lines: Vec<ReturnLine>,
    /// Where it stands.
    pub status: ReturnStatus,
}

impl PlacedOrder {
    /// Units of `sku` requested or accepted for return.
    fn returning(&self, sku: &Sku) -> u32 {
        self.returns
            .iter()
            .filter(|r| r.status != ReturnStatus::Refused)
            .flat_map(|r| &r.lines)
            .filter(|l| l.sku == *sku)
            .map(|l| l.quantity.get())
            .sum()
    }

    /// Units of `sku` accepted back.
    fn returned(&self, sku: &Sku) -> u32 {
        self.returns
            .iter()
            .filter(|r| r.status == ReturnStatus::Accepted)
            .flat_map(|r| &r.lines)
            .filter(|l| l.sku == *sku)
            .map(|l| l.quantity.get())
            .sum()
    }

    fn pending_return(&self, return_id: uuid::Uuid) -> Result<&ReturnRecord, OrderError> {
        self.returns
            .iter()
            .find(|r| r.return_id == return_id && r.status == ReturnStatus::Requested)
            .ok_or(OrderError::UnknownReturn(return_id))
    }

    fn set_return(&mut self, return_id: uuid::Uuid, status: ReturnStatus) {
        if let Some(record) = self.returns.iter_mut().find(|r| r.return_id == return_id) {
            record.status = status;
        }
    }

    /// What is left to refund of the provider payment, counting refunds already requested.
    pub fn refundable(&self) -> Money {
        let paid = self.paid.map_or(0, |p| p.amount_minor());
        let requested: i64 = self.refunds_requested.iter().map(|(_, a)| a).sum();
        Money::new((paid - requested).max(0), self.total.currency())
            .unwrap_or_else(|_| Money::zero(self.total.currency()))
    }

    /// What is left to pay after store credit.
    pub fn amount_due(&self) -> Money {
        let credit = self.credit_applied.map_or(0, |c| c.amount_minor());
        Money::new(
            (self.total.amount_minor() - credit).max(0),
            self.total.currency(),
        )
        .unwrap_or(self.total)
    }

    /// Checks that `amount` is exactly what is left to pay.
    fn expect_due(&self, amount: Money) -> Result<(), OrderError> {
        let due = self.amount_due();
        if amount == due {
            Ok(())
        } else {
            Err(OrderError::PaymentMismatch {
                total: due,
                paid: amount,
            })
        }
    }
}

impl Order {
    fn require(&self) -> Result<&PlacedOrder, OrderError> {
        self.placed.as_ref().ok_or(OrderError::NotFound)
    }

    /// Checks an action against the three state machines, the order's own first: it must be
    /// open, and the payment and fulfilment in one of the states the action starts from.
    fn transition(
        &self,
        action: &'static str,
        payment: &[PaymentState],
        fulfilment: &[FulfilmentState],
    ) -> Result<&PlacedOrder, OrderError> {
        let order = self.require()?;
        if order.state != OrderState::Open {
            return Err(OrderError::InvalidTransition {
                status: order.status,
                action,
            });
        }
        if !payment.contains(&order.payment) {
            return Err(OrderError::PaymentTransition {
                state: order.payment,
                action,
            });
        }
        if !fulfilment.contains(&order.fulfilment) {
            return Err(OrderError::FulfilmentTransition {
                state: order.fulfilment,
                action,
            });
        }
        Ok(order)
    }
}

impl Aggregate for Order {
    type Id = crate::values::OrderId;
    type Command = OrderCommand;
    type Event = OrderEvent;
    type Error = OrderError;
    const CATEGORY: &'static str = "order";

    fn decide(&self, command: OrderCommand) -> Result<Vec<OrderEvent>, OrderError> {
        use FulfilmentState::{Shipped, Unfulfilled};
        use PaymentState::{Authorized, Captured, Failed, PartiallyRefunded, Pending};
        match command {
            OrderCommand::Place {
                order_id,
                customer_id,
                lines,
                addresses,
                credit,
                charges,
            } => {
                if self.placed.is_some() {
                    return Err(OrderError::AlreadyPlaced);
                }
                let first = lines.first().ok_or(OrderError::NoLines)?;
                let mut total = Money::zero(first.unit_price.currency());
                for line in &lines {
                    total = total
                        .checked_add(line.line_total)
                        .map_err(OrderError::Pricing)?;
                }
                let subtotal = total;
                for extra in [charges.shipping, charges.tax].into_iter().flatten() {
                    total = total.checked_add(extra).map_err(OrderError::Pricing)?;
                }
                let credit = credit.filter(|c| c.amount_minor() > 0);
                if let Some(credit) = credit {
                    if credit.currency() != total.currency()
                        || credit.amount_minor() > total.amount_minor()
                    {
                        return Err(OrderError::CreditNotApplicable { total, credit });
                    }
                }
                let mut events = vec![OrderEvent::OrderPlaced {
                    order_id,
                    customer_id,
                    lines,
                    total,
                    shipping_address: Some(Box::new(addresses.shipping)),
                    billing_address: Some(Box::new(addresses.billing)),
                    credit_applied: credit,
                    subtotal: Some(subtotal),
                    shipping: charges.shipping,
                    tax: charges.tax,
                    shipping_method: charges.shipping_method,
                }];
                if credit == Some(total) {
                    events.push(OrderEvent::OrderPaid {
                        order_id,
                        amount: Money::zero(total.currency()),
                        payment_reference: "store-credit".into(),
                        payment_method: PaymentMethod::StoreCredit,
                        offline: false,
                    });
                }
                Ok(events)
            }
            OrderCommand::Pay {
                amount,
                payment_reference,
                method,
            } => {
                let order = self.transition("pay", &[Pending, Failed], &[Unfulfilled])?;
                order.expect_due(amount)?;
                Ok(vec![OrderEvent::OrderPaid {
                    order_id: order.order_id,
                    amount,
                    payment_reference: payment_reference.into(),
                    payment_method: method,
                    offline: true,
                }])
            }
            OrderCommand::Ship {
                carrier,
                tracking_number,
            } => {
                let order = self.transition("ship", &[Captured], &[Unfulfilled])?;
                // Every part not shipped yet goes with this shipment.
                let mut events: Vec<OrderEvent> = order
                    .fulfilments
                    .iter()
                    .filter(|f| f.state == Unfulfilled)
                    .map(|f| OrderEvent::FulfilmentShipped {
                        order_id: order.order_id,
                        seller_id: f.seller_id,
                        carrier: carrier.to_string(),
                        tracking_number: tracking_number.to_string(),
                    })
                    .collect();
                events.push(OrderEvent::OrderShipped {
                    order_id: order.order_id,
                    carrier: carrier.into(),
                    tracking_number: tracking_number.into(),
                });
                Ok(events)
            }
            OrderCommand::RequestPayment {
                provider,
                provider_order_id,
                amount,
            } => {
                let order =
                    self.transition("request payment", &[Pending, Failed], &[Unfulfilled])?;
                order.expect_due(amount)?;
                Ok(vec![OrderEvent::PaymentRequested {
                    order_id: order.order_id,
                    provider,
                    provider_order_id,
                    amount,
                }])
            }
            OrderCommand::CapturePayment {
                provider_order_id,
                payment_reference,
                amount,
                method,
            } => {
                let order = self.require()?;
                if order.payment == Captured
                    && order.payment_reference.as_deref() == Some(payment_reference.as_str())
                {
                    return Ok(vec![]);
                }
                let order = self.transition(
                    "capture a payment of",
                    &[Pending, Failed, Authorized],
                    &[Unfulfilled],
                )?;
                if order.provider_order_id.as_deref() != Some(provider_order_id.as_str()) {
                    return Err(OrderError::UnknownPaymentRequest(provider_order_id));
                }
                order.expect_due(amount)?;
                Ok(vec![OrderEvent::OrderPaid {
                    order_id: order.order_id,
                    amount,
                    payment_reference: payment_reference.into(),
                    payment_method: method,
                    offline: false,
                }])
            }
            OrderCommand::AuthorizePayment {
                provider_order_id,
                payment_reference,
                amount,
            } => {
                let order = self.require()?;
                // Authorizations arriving after the capture, or twice, change nothing.
                if !matches!(order.payment, Pending | Failed) || order.state != OrderState::Open {
                    return Ok(vec![]);
                }
                if order.provider_order_id.as_deref() != Some(provider_order_id.as_str()) {
                    return Err(OrderError::UnknownPaymentRequest(provider_order_id));
                }
                // A reservation of any other sum cannot be captured: refuse it here.
                order.expect_due(amount)?;
                Ok(vec![OrderEvent::PaymentAuthorized {
                    order_id: order.order_id,
                    provider_order_id,
                    payment_reference: payment_reference.into(),
                    amount,
                }])
            }
            OrderCommand::FailPayment {
                provider_order_id,
                payment_reference,
                reason,
            } => {
                let order = self.require()?;
                // A late failure of another attempt changes nothing once paid or closed.
                if !matches!(order.payment, Pending | Failed | Authorized)
                    || order.state != OrderState::Open
                {
                    return Ok(vec![]);
                }
                if order.provider_order_id.as_deref() != Some(provider_order_id.as_str()) {
                    return Err(OrderError::UnknownPaymentRequest(provider_order_id));
                }
                let reason: String = reason
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(500)
                    .collect();
                Ok(vec![OrderEvent::PaymentFailed {
                    order_id: order.order_id,
                    provider_order_id,
                    payment_reference: payment_reference.into(),
                    reason,
                }])
            }
            OrderCommand::RequestRefund {
                refund_reference,
                amount,
                reason,
            } => {
                let order = self.require()?;
                if order
                    .refunds_requested
                    .iter()
                    .any(|(r, _)| *r == refund_reference)
                {
                    return Ok(vec![]);
                }
                // The provider's `refund.processed` can arrive before the request is recorded:
                // the refund happened, so its request is recorded whatever the state now.
                let processed = order
                    .refunds_processed
                    .iter()
                    .any(|(r, _)| *r == refund_reference);
                if processed {
                    return Ok(vec![OrderEvent::RefundRequested {
                        order_id: order.order_id,
                        refund_reference,
                        amount,
                        reason: reason.into(),
                    }]);
                }
                if !matches!(order.payment, Captured | PartiallyRefunded) {
                    return Err(OrderError::PaymentTransition {
                        state: order.payment,
                        action: "refund",
                    });
                }
                let refundable = order.refundable();
                if amount.currency() != refundable.currency()
                    || amount.amount_minor() > refundable.amount_minor()
                    || amount.amount_minor() == 0
                {
                    return Err(OrderError::RefundExceedsPayment {
                        asked: amount,
                        refundable,
                    });
                }
                Ok(vec![OrderEvent::RefundRequested {
                    order_id: order.order_id,
                    refund_reference,
                    amount,
                    reason: reason.into(),
                }])
            }
            OrderCommand::CompleteRefund {
                refund_reference,
                amount,
            } => {
                let order = self.require()?;
                if order
                    .refunds_processed
                    .iter()
                    .any(|(r, _)| *r == refund_reference)
                {
                    return Ok(vec![]);
                }
                Ok(vec![OrderEvent::RefundProcessed {
                    order_id: order.order_id,
                    refund_reference,
                    amount,
                }])
            }
            OrderCommand::RequestReturn {
                return_id,
                lines,
                reason,
                window_open,
            } => {
                let order = self.require()?;
                if order.state == OrderState::Cancelled {
                    return Err(OrderError::InvalidTransition {
                        status: order.status,
                        action: "return",
                    });
                }
                if order.fulfilment != FulfilmentState::Delivered {
                    return Err(OrderError::FulfilmentTransition {
                        state: order.fulfilment,
                        action: "return",
                    });
                }
                if !window_open {
                    return Err(OrderError::ReturnWindowClosed);
                }
                if lines.is_empty() {
                    return Err(OrderError::InvalidReturn("name at least one line"));
                }
                for (n, line) in lines.iter().enumerate() {
                    if lines[..n].iter().any(|l| l.sku == line.sku) {
                        return Err(OrderError::InvalidReturn("a SKU appears twice"));
                    }
                    let ordered = order
                        .lines
                        .iter()
                        .find(|l| l.sku == line.sku)
                        .map(|l| l.quantity.get())
                        .ok_or(OrderError::InvalidReturn("a SKU is not on the order"))?;
                    if line.quantity.get() > ordered - order.returning(&line.sku) {
                        return Err(OrderError::InvalidReturn(
                            "more units than were delivered and not returned yet",
                        ));
                    }
                }
                Ok(vec![OrderEvent::ReturnRequested {
                    order_id: order.order_id,
                    return_id,
                    lines,
                    reason: reason.into(),
                }])
            }
            OrderCommand::AcceptReturn { return_id } => {
                let order = self.require()?;
                let pending = order.pending_return(return_id)?;
                let mut value = Money::zero(order.total.currency());
                for line in &pending.lines {
                    let unit = order
                        .lines
                        .iter()
                        .find(|l| l.sku == line.sku)
                        .map(|l| l.unit_price)
                        .unwrap_or(value);
                    value = value
                        .checked_add(unit.times(line.quantity).map_err(OrderError::Pricing)?)
                        .map_err(OrderError::Pricing)?;
                }
                Ok(vec![OrderEvent::ReturnAccepted {
                    order_id: order.order_id,
                    return_id,
                    lines: pending.lines.clone(),
                    value,
                }])
            }
            OrderCommand::RefuseReturn { return_id, reason } => {
                let order = self.require()?;
                order.pending_return(return_id)?;
                Ok(vec![OrderEvent::ReturnRefused {
                    order_id: order.order_id,
                    return_id,
                    reason: reason.into(),
                }])
            }
            OrderCommand::RefundLatePayment {
                payment_reference,
                amount,
                refund_reference,
            } => {
                let order = self.require()?;
                if order
                    .late_refunds
                    .iter()
                    .any(|p| p == payment_reference.as_str())
                {
                    return Ok(vec![]);
                }
                if order.state != OrderState::Cancelled {
                    return Err(OrderError::InvalidTransition {
                        status: order.status,
                        action: "refund a late payment of",
                    });
                }
                Ok(vec![OrderEvent::LatePaymentRefunded {
                    order_id: order.order_id,
                    payment_reference: payment_reference.into(),
                    amount,
                    refund_reference,
                }])
            }
            OrderCommand::Deliver => {
                let order = self.transition("deliver", &[Captured], &[Shipped])?;
                let mut events: Vec<OrderEvent> = order
                    .fulfilments
                    .iter()
                    .filter(|f| f.state == Shipped)
                    .map(|f| OrderEvent::FulfilmentDelivered {
                        order_id: order.order_id,
                        seller_id: f.seller_id,
                    })
                    .collect();
                events.push(OrderEvent::OrderDelivered {
                    order_id: order.order_id,
                });
                Ok(events)
            }
            OrderCommand::Split { fulfilments } => {
                let order = self.require()?;
                if !order.fulfilments.is_empty() || fulfilments.is_empty() {
                    return Ok(vec![]);
                }
                Ok(vec![OrderEvent::OrderSplitIntoFulfilments {
                    order_id: order.order_id,
                    fulfilments,
                }])
            }
            OrderCommand::ShipFulfilment {
                seller_id,
                carrier,
                tracking_number,
            } => {
                let order = self.transition("ship", &[Captured], &[Unfulfilled])?;
                let part = order.part(seller_id)?;
                if part.state != Unfulfilled {
                    return Err(OrderError::FulfilmentTransition {
                        state: part.state,
                        action: "ship",
                    });
                }
                let (carrier, tracking_number) =
                    (String::from(carrier), String::from(tracking_number));
                let mut events = vec![OrderEvent::FulfilmentShipped {
                    order_id: order.order_id,
                    seller_id,
                    carrier: carrier.clone(),
                    tracking_number: tracking_number.clone(),
                }];
                let last = order
                    .fulfilments
                    .iter()
                    .all(|f| f.seller_id == seller_id || f.state != Unfulfilled);
                if last {
                    events.push(OrderEvent::OrderShipped {
                        order_id: order.order_id,
                        carrier,
                        tracking_number,
                    });
                }
                Ok(events)
            }
            OrderCommand::DeliverFulfilment { seller_id } => {
                let order = self.transition("deliver", &[Captured], &[Unfulfilled, Shipped])?;
                let part = order.part(seller_id)?;
                if part.state != Shipped {
                    return Err(OrderError::FulfilmentTransition {
                        state: part.state,
                        action: "deliver",
                    });
                }
                let mut events = vec![OrderEvent::FulfilmentDelivered {
                    order_id: order.order_id,
                    seller_id,
                }];
                let last = order
                    .fulfilments
                    .iter()
                    .all(|f| f.seller_id == seller_id || f.state == FulfilmentState::Delivered);
                if last {
                    events.push(OrderEvent::OrderDelivered {
                        order_id: order.order_id,
                    });
                }
                Ok(events)
            }
            OrderCommand::Cancel { reason } => {
                let order = self.transition(
                    "cancel",
                    &[Pending, Authorized, Captured, Failed],
                    &[Unfulfilled],
                )?;
                if let Some(sent) = order.fulfilments.iter().find(|f| f.state != Unfulfilled) {
                    return Err(OrderError::FulfilmentTransition {
                        state: sent.state,
                        action: "cancel",
                    });
                }
                Ok(vec![OrderEvent::OrderCancelled {
                    order_id: order.order_id,
                    reason: reason.into(),
                    refund: Some(order.refundable()).filter(|r| r.amount_minor() > 0),
                }])
            }
        }
    }

    fn apply(&mut self, event: &OrderEvent) {
        match event {
            OrderEvent::OrderPlaced {
                order_id,
                customer_id,
                lines,
                total,
                shipping_address,
                billing_address,
                credit_applied,
                ..
            } => {
                self.placed = Some(PlacedOrder {
                    order_id: *order_id,
                    customer_id: *customer_id,
                    lines: lines.clone(),
                    total: *total,
                    shipping_address: shipping_address.as_deref().cloned(),
                    billing_address: billing_address.as_deref().cloned(),
                    status: OrderStatus::Placed,
                    state: OrderState::Open,
                    payment: PaymentState::Pending,
                    fulfilment: FulfilmentState::Unfulfilled,
                    paid: None,
                    credit_applied: *credit_applied,
                    provider_order_id: None,
                    payment_reference: None,
                    paid_offline: false,
                    refunds_requested: Vec::new(),
                    refunds_processed: Vec::new(),
                    returns: Vec::new(),
                    late_refunds: Vec::new(),
                    fulfilments: Vec::new(),
                });
            }
            OrderEvent::OrderPaid {
                amount,
                payment_reference,
                offline,
                ..
            } => {
                if let Some(order) = &mut self.placed {
                    order.status = OrderStatus::Paid;
                    order.payment = PaymentState::Captured;
                    order.paid = Some(*amount);
                    order.payment_reference = Some(payment_reference.clone());
                    order.paid_offline = *offline;
                }
            }
            OrderEvent::PaymentRequested {
                provider_order_id, ..
            } => {
                if let Some(order) = &mut self.placed {
                    order.provider_order_id = Some(provider_order_id.clone());
                }
            }
            OrderEvent::PaymentFailed { .. } => {
                if let Some(order) = &mut self.placed {
                    order.payment = PaymentState::Failed;
                }
            }
            OrderEvent::PaymentAuthorized { .. } => {
                if let Some(order) = &mut self.placed {
                    order.payment = PaymentState::Authorized;
                }
            }
            OrderEvent::RefundRequested {
                refund_reference,
                amount,
                ..
            } => {
                if let Some(order) = &mut self.placed {
                    order
                        .refunds_requested
                        .push((refund_reference.clone(), amount.amount_minor()));
                }
            }
            OrderEvent::ReturnRequested {
                return_id, lines, ..
            } => {
                if let Some(order) = &mut self.placed {
                    order.returns.push(ReturnRecord {
                        return_id: *return_id,
                        lines: lines.clone(),
                        status: ReturnStatus::Requested,
                    });
                }
            }
            OrderEvent::ReturnAccepted { return_id, .. } => {
                if let Some(order) = &mut self.placed {
                    order.set_return(*return_id, ReturnStatus::Accepted);
                    let all_back = order
                        .lines
                        .iter()
                        .all(|l| order.returned(&l.sku) >= l.quantity.get());
                    if all_back {
                        order.fulfilment = FulfilmentState::Returned;
                    }
                }
            }
            OrderEvent::LatePaymentRefunded {
                payment_reference, ..
            } => {
                if let Some(order) = &mut self.placed {
                    order.late_refunds.push(payment_reference.clone());
                }
            }
            OrderEvent::ReturnRefused { return_id, .. } => {
                if let Some(order) = &mut self.placed {
                    order.set_return(*return_id, ReturnStatus::Refused);
                }
            }
            OrderEvent::RefundProcessed {
                refund_reference,
                amount,
                ..
            } => {
                if let Some(order) = &mut self.placed {
                    order
                        .refunds_processed
                        .push((refund_reference.clone(), amount.amount_minor()));
                    let refunded: i64 = order.refunds_processed.iter().map(|(_, a)| a).sum();
                    let paid = order.paid.map_or(0, |p| p.amount_minor());
                    order.payment = if refunded >= paid {
                        PaymentState::Refunded
                    } else {
                        PaymentState::PartiallyRefunded
                    };
                }
            }
            OrderEvent::OrderShipped { .. } => {
                if let Some(order) = &mut self.placed {
                    order.status = OrderStatus::Shipped;
                    order.fulfilment = FulfilmentState::Shipped;
                }
            }
            OrderEvent::OrderSplitIntoFulfilments { fulfilments, .. } => {
                if let Some(order) = &mut self.placed {
                    order.fulfilments = fulfilments
                        .iter()
                        .map(|f| Fulfilment {
                            seller_id: f.seller_id,
                            lines: f.lines.clone(),
                            state: FulfilmentState::Unfulfilled,
                        })
                        .collect();
                }
            }
            OrderEvent::FulfilmentShipped { seller_id, .. }
            | OrderEvent::FulfilmentDelivered { seller_id, .. } => {
                let state = if matches!(event, OrderEvent::FulfilmentShipped { .. }) {
                    FulfilmentState::Shipped
                } else {
                    FulfilmentState::Delivered
                };
                if let Some(order) = &mut self.placed {
                    for part in order
                        .fulfilments
                        .iter_mut()
                        .filter(|f| f.seller_id == *seller_id)
                    {
                        part.state = state;
                    }
                }
            }
            OrderEvent::OrderDelivered { .. } => {
                if let Some(order) = &mut self.placed {
                    order.status = OrderStatus::Delivered;
                    order.fulfilment = FulfilmentState::Delivered;
                    if order.payment == PaymentState::Captured {
                        order.state = OrderState::Completed;
                    }
                }
            }
            OrderEvent::OrderCancelled { .. } => {
                if let Some(order) = &mut self.placed {
                    order.status = OrderStatus::Cancelled;
                    order.state = OrderState::Cancelled;
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::values::Currency;

    pub(crate) fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::parse("EUR").unwrap()).unwrap()
    }

    fn line(sku: &str, unit: i64, qty: i64) -> OrderLine {
        let quantity = Quantity::new(qty).unwrap();
        OrderLine {
            sku: Sku::parse(sku).unwrap(),
            name: sku.to_lowercase(),
            unit_price: eur(unit),
            quantity,
            line_total: eur(unit).times(quantity).unwrap(),
        }
    }

    pub(crate) fn addresses() -> OrderAddresses {
        let address = Address::parse(&crate::address::AddressInput {
            name: "Ada".into(),
            line1: "1 Main St".into(),
            city: "Springfield".into(),
            country: "US".into(),
            ..Default::default()
        })
        .unwrap();
        OrderAddresses {
            shipping: address.clone(),
            billing: address,
        }
    }

    fn ids() -> (OrderId, CustomerId) {
        (
            OrderId::from_uuid(uuid::Uuid::from_u128(1)),
            CustomerId::from_uuid(uuid::Uuid::from_u128(2)),
        )
    }

    fn placed() -> OrderEvent {
        let (order_id, customer_id) = ids();
        OrderEvent::OrderPlaced {
            order_id,
            customer_id,
            lines: vec![line("A", 250, 2), line("B", 100, 1)],
            total: eur(600),
            shipping_address: Some(Box::new(addresses().shipping)),
            billing_address: Some(Box::new(addresses().billing)),
            credit_applied: None,
            subtotal: Some(eur(600)),
            shipping: None,
            tax: None,
            shipping_method: None,
        }
    }

    fn paid() -> OrderEvent {
        OrderEvent::OrderPaid {
            order_id: ids().0,
            amount: eur(600),
            payment_reference: "psp-1".into(),
            payment_method: PaymentMethod::Card,
            offline: true,
        }
    }

    fn shipped() -> OrderEvent {
        OrderEvent::OrderShipped {
            order_id: ids().0,
            carrier: "DHL".into(),
            tracking_number: "T1".into(),
        }
    }

    fn pay(minor: i64) -> OrderCommand {
        OrderCommand::Pay {
            amount: eur(minor),
            payment_reference: PaymentReference::parse("psp-1").unwrap(),
            method: PaymentMethod::Card,
        }
    }

    fn ship() -> OrderCommand {
        OrderCommand::Ship {
            carrier: Carrier::parse("DHL").unwrap(),
            tracking_number: TrackingNumber::parse("T1").unwrap(),
        }
    }

    fn cancel() -> OrderCommand {
        OrderCommand::Cancel {
            reason: Reason::parse("changed my mind").unwrap(),
        }
    }

    #[test]
    fn place_totals_the_lines() {
        let (order_id, customer_id) = ids();
        let then = Order::default().decide(OrderCommand::Place {
            order_id,
            customer_id,
            lines: vec![line("A", 250, 2), line("B", 100, 1)],
            addresses: Box::new(addresses()),
            credit: None,
            charges: Charges::default(),
        });
        assert_eq!(then, Ok(vec![placed()]));
    }

    #[test]
    fn store_credit_lowers_the_amount_due_or_pays_in_full() {
        let (order_id, customer_id) = ids();
        let place = |credit: i64| OrderCommand::Place {
            order_id,
            customer_id,
            lines: vec![line("A", 250, 2), line("B", 100, 1)],
            addresses: Box::new(addresses()),
            credit: Some(eur(credit)),
            charges: Charges::default(),
        };
        let partly = Order::default().decide(place(200)).unwrap();
        let given = Order::from_events(&partly);
        assert_eq!(given.placed.as_ref().unwrap().amount_due(), eur(400));
        assert!(matches!(
            given.decide(pay(600)),
            Err(OrderError::PaymentMismatch { .. })
        ));
        assert!(given.decide(pay(400)).is_ok());

        let fully = Order::default().decide(place(600)).unwrap();
        assert!(matches!(
            &fully[..],
            [OrderEvent::OrderPlaced { .. }, OrderEvent::OrderPaid { amount, payment_method: PaymentMethod::StoreCredit, .. }]
                if amount.amount_minor() == 0
        ));
        let cancelled = Order::from_events(&fully).decide(cancel()).unwrap();
        assert!(matches!(
            &cancelled[..],
            [OrderEvent::OrderCancelled { refund: None, .. }]
        ));
        assert!(matches!(
            Order::default().decide(place(601)),
            Err(OrderError::CreditNotApplicable { .. })
        ));
    }

    #[test]
    fn provider_payments_are_requested_may_fail_and_are_captured_once() {
        let reference = |r: &str| PaymentReference::parse(r).unwrap();
        let mut history = vec![placed()];
        let requested = Order::from_events(&history)
            .decide(OrderCommand::RequestPayment {
                provider: "razorpay".into(),
                provider_order_id: "order_1".into(),
                amount: eur(600),
            })
            .unwrap();
        history.extend(requested);
        let fail = |provider_order_id: &str| OrderCommand::FailPayment {
            provider_order_id: provider_order_id.into(),
            payment_reference: reference("pay_1"),
            reason: "declined\u{7}".into(),
        };
        assert_eq!(
            Order::from_events(&history).decide(fail("order_9")),
            Err(OrderError::UnknownPaymentRequest("order_9".into()))
        );
        let failed = Order::from_events(&history)
            .decide(fail("order_1"))
            .unwrap();
        assert!(
            matches!(&failed[..], [OrderEvent::PaymentFailed { reason, .. }] if reason == "declined")
        );
        history.extend(failed);
        assert_eq!(
            Order::from_events(&history).placed.unwrap().payment,
            PaymentState::Failed
        );
        let capture = |r: &str, minor: i64| OrderCommand::CapturePayment {
            provider_order_id: "order_1".into(),
            payment_reference: reference(r),
            amount: eur(minor),
            method: PaymentMethod::Card,
        };
        assert!(matches!(
            Order::from_events(&history).decide(capture("pay_2", 599)),
            Err(OrderError::PaymentMismatch { .. })
        ));
        let authorize = |minor: i64| OrderCommand::AuthorizePayment {
            provider_order_id: "order_1".into(),
            payment_reference: reference("pay_2"),
            amount: eur(minor),
        };
        assert!(
            matches!(
                Order::from_events(&history).decide(authorize(599)),
                Err(OrderError::PaymentMismatch { .. })
            ),
            "a reservation of another sum is refused"
        );
        let authorized = Order::from_events(&history).decide(authorize(600)).unwrap();
        history.extend(authorized);
        assert_eq!(
            Order::from_events(&history).placed.unwrap().payment,
            PaymentState::Authorized
        );
        let paid = Order::from_events(&history)
            .decide(capture("pay_2", 600))
            .unwrap();
        assert!(matches!(&paid[..], [OrderEvent::OrderPaid { .. }]));
        history.extend(paid);
        let given = Order::from_events(&history);
        assert_eq!(
            given.decide(capture("pay_2", 600)),
            Ok(vec![]),
            "a duplicate is a no-op"
        );
        assert!(matches!(
            given.decide(capture("pay_3", 600)),
            Err(OrderError::PaymentTransition {
                state: PaymentState::Captured,
                ..
            })
        ));
        assert_eq!(
            given.decide(fail("order_1")),
            Ok(vec![]),
            "a late failure changes nothing"
        );
    }

    #[test]
    fn refunds_are_bounded_by_the_payment_and_recorded_once() {
        let reason = || Reason::parse("damaged").unwrap();
        let mut history = vec![placed(), paid()];
        let request = |r: &str, minor: i64| OrderCommand::RequestRefund {
            refund_reference: r.into(),
            amount: eur(minor),
            reason: reason(),
        };
        assert!(matches!(
            Order::from_events(&[placed()]).decide(request("rfnd_0", 1)),
            Err(OrderError::PaymentTransition {
                state: PaymentState::Pending,
                ..
            })
        ));
        let first = Order::from_events(&history)
            .decide(request("rfnd_1", 200))
            .unwrap();
        history.extend(first);
        assert_eq!(
            Order::from_events(&history).decide(request("rfnd_1", 200)),
            Ok(vec![])
        );
        assert!(matches!(
            Order::from_events(&history).decide(request("rfnd_2", 401)),
            Err(OrderError::RefundExceedsPayment { .. })
        ));
        let complete = |r: &str, minor: i64| OrderCommand::CompleteRefund {
            refund_reference: r.into(),
            amount: eur(minor),
        };
        history.extend(
            Order::from_events(&history)
                .decide(complete("rfnd_1", 200))
                .unwrap(),
        );
        let order = Order::from_events(&history).placed.unwrap();
        assert_eq!(order.payment, PaymentState::PartiallyRefunded);
        assert_eq!(
            Order::from_events(&history).decide(complete("rfnd_1", 200)),
            Ok(vec![])
        );
        history.extend(
            Order::from_events(&history)
                .decide(request("rfnd_2", 400))
                .unwrap(),
        );
        history.extend(
            Order::from_events(&history)
                .decide(complete("rfnd_2", 400))
                .unwrap(),
        );
        assert_eq!(
            Order::from_events(&history).placed.unwrap().payment,
            PaymentState::Refunded
        );
    }

    #[test]
    fn delivered_units_can_be_returned_within_the_window() {
        let delivered = OrderEvent::OrderDelivered { order_id: ids().0 };
        let mut history = vec![placed(), paid(), shipped(), delivered];
        let id = |n: u128| uuid::Uuid::from_u128(n);
        let ask = |n: u128, sku: &str, qty: i64, window_open: bool| OrderCommand::RequestReturn {
            return_id: id(n),
            lines: vec![ReturnLine {
                sku: Sku::parse(sku).unwrap(),
                quantity: Quantity::new(qty).unwrap(),
            }],
            reason: Reason::parse("too small").unwrap(),
            window_open,
        };
        let given = Order::from_events(&history);
        assert_eq!(
            given.decide(ask(1, "A", 1, false)),
            Err(OrderError::ReturnWindowClosed)
        );
        assert!(matches!(
            given.decide(ask(1, "Z", 1, true)),
            Err(OrderError::InvalidReturn(_))
        ));
        assert!(matches!(
            given.decide(ask(1, "A", 3, true)),
            Err(OrderError::InvalidReturn(_))
        ));
        assert!(matches!(
            Order::from_events(&[placed(), paid()]).decide(ask(1, "A", 1, true)),
            Err(OrderError::FulfilmentTransition {
                state: FulfilmentState::Unfulfilled,
                ..
            })
        ));
        history.extend(given.decide(ask(1, "A", 2, true)).unwrap());
        // Units asked for cannot be asked for again.
        assert!(matches!(
            Order::from_events(&history).decide(ask(2, "A", 1, true)),
            Err(OrderError::InvalidReturn(_))
        ));
        let accepted = Order::from_events(&history)
            .decide(OrderCommand::AcceptReturn { return_id: id(1) })
            .unwrap();
        assert!(
            matches!(&accepted[..], [OrderEvent::ReturnAccepted { value, .. }] if *value == eur(500))
        );
        history.extend(accepted);
        history.extend(
            Order::from_events(&history)
                .decide(ask(3, "B", 1, true))
                .unwrap(),
        );
        assert_eq!(
            Order::from_events(&history).decide(OrderCommand::AcceptReturn { return_id: id(1) }),
            Err(OrderError::UnknownReturn(id(1)))
        );
        history.extend(
            Order::from_events(&history)
                .decide(OrderCommand::AcceptReturn { return_id: id(3) })
                .unwrap(),
        );
        assert_eq!(
            Order::from_events(&history).placed.unwrap().fulfilment,
            FulfilmentState::Returned
        );
    }

    #[test]
    fn a_refund_processed_before_its_request_is_recorded_still_records_the_request() {
        let mut history = vec![placed(), paid()];
        history.extend(
            Order::from_events(&history)
                .decide(OrderCommand::CompleteRefund {
                    refund_reference: "rfnd_9".into(),
                    amount: eur(600),
                })
                .unwrap(),
        );
        assert_eq!(
            Order::from_events(&history).placed.unwrap().payment,
            PaymentState::Refunded
        );
        let requested = Order::from_events(&history)
            .decide(OrderCommand::RequestRefund {
                refund_reference: "rfnd_9".into(),
                amount: eur(600),
                reason: Reason::parse("late answer").unwrap(),
            })
            .unwrap();
        assert!(matches!(
            &requested[..],
            [OrderEvent::RefundRequested { .. }]
        ));
    }

    #[test]
    fn place_without_lines_is_refused() {
        let (order_id, customer_id) = ids();
        let then = Order::default().decide(OrderCommand::Place {
            order_id,
            customer_id,
            lines: vec![],
            addresses: Box::new(addresses()),
            credit: None,
            charges: Charges::default(),
        });
        assert_eq!(then, Err(OrderError::NoLines));
    }

    #[test]
    fn place_twice_is_refused() {
        let (order_id, customer_id) = ids();
        let then = Order::from_events(&[placed()]).decide(OrderCommand::Place {
            order_id,
            customer_id,
            lines: vec![line("A", 1, 1)],
            addresses: Box::new(addresses()),
            credit: None,
            charges: Charges::default(),
        });
        assert_eq!(then, Err(OrderError::AlreadyPlaced));
    }

    #[test]
    fn pay_the_exact_total() {
        assert_eq!(
            Order::from_events(&[placed()]).decide(pay(600)),
            Ok(vec![paid()])
        );
    }

    #[test]
    fn pay_a_wrong_amount_is_refused() {
        assert_eq!(
            Order::from_events(&[placed()]).decide(pay(599)),
            Err(OrderError::PaymentMismatch {
                total: eur(600),
                paid: eur(599)
            })
        );
    }

    #[test]
    fn pay_twice_is_an_invalid_transition() {
        assert_eq!(
            Order::from_events(&[placed(), paid()]).decide(pay(600)),
            Err(OrderError::PaymentTransition {
                state: PaymentState::Captured,
                action: "pay"
            })
        );
    }

    #[test]
    fn pay_unknown_order_is_not_found() {
        assert_eq!(Order::default().decide(pay(1)), Err(OrderError::NotFound));
    }

    #[test]
    fn ship_a_paid_order() {
        assert_eq!(
            Order::from_events(&[placed(), paid()]).decide(ship()),
            Ok(vec![shipped()])
        );
    }

    #[test]
    fn ship_before_payment_is_refused() {
        assert_eq!(
            Order::from_events(&[placed()]).decide(ship()),
            Err(OrderError::PaymentTransition {
                state: PaymentState::Pending,
                action: "ship"
            })
        );
    }

    #[test]
    fn deliver_a_shipped_order() {
        let given = Order::from_events(&[placed(), paid(), shipped()]);
        let then = given.decide(OrderCommand::Deliver).unwrap();
        assert_eq!(then, vec![OrderEvent::OrderDelivered { order_id: ids().0 }]);
        let mut state = given;
        state.apply(&then[0]);
        let delivered = state.placed.unwrap();
        assert_eq!(delivered.status, OrderStatus::Delivered);
        assert_eq!(
            (delivered.state, delivered.payment, delivered.fulfilment),
            (
                OrderState::Completed,
                PaymentState::Captured,
                FulfilmentState::Delivered
            )
        );
        // A completed order takes no further step.
        assert!(matches!(
            Order::from_events(&[placed(), paid(), shipped(), then[0].clone()]).decide(cancel()),
            Err(OrderError::InvalidTransition {
                status: OrderStatus::Delivered,
                action: "cancel"
            })
        ));
    }

    #[test]
    fn deliver_before_shipping_is_refused() {
        assert!(matches!(
            Order::from_events(&[placed(), paid()]).decide(OrderCommand::Deliver),
            Err(OrderError::FulfilmentTransition {
                state: FulfilmentState::Unfulfilled,
                action: "deliver"
            })
        ));
    }

    #[test]
    fn cancel_a_placed_order_without_refund() {
        let then = Order::from_events(&[placed()]).decide(cancel()).unwrap();
        assert_eq!(
            then,
            vec![OrderEvent::OrderCancelled {
                order_id: ids().0,
                reason: "changed my mind".into(),
                refund: None
            }]
        );
    }

    #[test]
    fn cancel_a_paid_order_refunds_the_payment() {
        let then = Order::from_events(&[placed(), paid()])
            .decide(cancel())
            .unwrap();
        assert!(matches!(
            &then[0],
            OrderEvent::OrderCancelled { refund: Some(m), .. } if *m == eur(600)
        ));
    }

    #[test]
    fn cancel_after_shipping_or_twice_is_refused() {
        assert!(matches!(
            Order::from_events(&[placed(), paid(), shipped()]).decide(cancel()),
            Err(OrderError::FulfilmentTransition {
                state: FulfilmentState::Shipped,
                action: "cancel"
            })
        ));
        let cancelled = OrderEvent::OrderCancelled {
            order_id: ids().0,
            reason: "x".into(),
            refund: None,
        };
        assert!(matches!(
            Order::from_events(&[placed(), cancelled]).decide(cancel()),
            Err(OrderError::InvalidTransition {
                status: OrderStatus::Cancelled,
                ..
            })
        ));
    }

    #[test]
    fn each_seller_ships_their_part_and_the_order_follows_the_last() {
        let (order_id, _) = ids();
        let a = AccountId::from_uuid(uuid::Uuid::from_u128(10));
        let b = AccountId::from_uuid(uuid::Uuid::from_u128(11));
        let line = |sku: &str| ReturnLine {
            sku: Sku::parse(sku).unwrap(),
            quantity: Quantity::new(1).unwrap(),
        };
        let split = OrderEvent::OrderSplitIntoFulfilments {
            order_id,
            fulfilments: vec![
                FulfilmentLines {
                    seller_id: a,
                    lines: vec![line("A")],
                },
                FulfilmentLines {
                    seller_id: b,
                    lines: vec![line("B")],
                },
            ],
        };
        let ship = |seller_id| OrderCommand::ShipFulfilment {
            seller_id,
            carrier: Carrier::parse("DHL").unwrap(),
            tracking_number: TrackingNumber::parse("T1").unwrap(),
        };
        let unpaid = Order::from_events(&[placed(), split.clone()]);
        assert!(matches!(
            unpaid.decide(ship(a)),
            Err(OrderError::PaymentTransition { .. })
        ));
        let mut events = vec![placed(), split, paid()];
        let first = Order::from_events(&events).decide(ship(a)).unwrap();
        assert!(
            matches!(&first[..], [OrderEvent::FulfilmentShipped { .. }]),
            "{first:?}"
        );
        events.extend(first);
        let order = Order::from_events(&events);
        assert_eq!(
            order.placed.as_ref().unwrap().fulfilment,
            FulfilmentState::Unfulfilled
        );
        assert!(matches!(
            order.decide(ship(a)),
            Err(OrderError::FulfilmentTransition { .. })
        ));
        assert!(
            matches!(
                order.decide(cancel()),
                Err(OrderError::FulfilmentTransition { .. })
            ),
            "part of it is on its way"
        );
        let stranger = AccountId::from_uuid(uuid::Uuid::from_u128(12));
        assert_eq!(
            order.decide(ship(stranger)),
            Err(OrderError::NoSuchFulfilment(stranger))
        );
        let last = order.decide(ship(b)).unwrap();
        assert!(matches!(
            &last[..],
            [
                OrderEvent::FulfilmentShipped { .. },
                OrderEvent::OrderShipped { .. }
            ]
        ));
        events.extend(last);
        let deliver = |seller_id| OrderCommand::DeliverFulfilment { seller_id };
        let one = Order::from_events(&events).decide(deliver(b)).unwrap();
        assert_eq!(one.len(), 1);
        events.extend(one);
        let all = Order::from_events(&events).decide(deliver(a)).unwrap();
        assert!(matches!(
            &all[..],
            [
                OrderEvent::FulfilmentDelivered { .. },
                OrderEvent::OrderDelivered { .. }
            ]
        ));
        events.extend(all);
        let done = Order::from_events(&events);
        assert_eq!(done.placed.unwrap().state, OrderState::Completed);
    }
}
