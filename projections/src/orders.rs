//! Order read model: status, totals, priced lines, payment and shipping details.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::address::Address;
use domain::order::{FulfilmentState, Order, OrderEvent, OrderState, OrderStatus, PaymentState};
use domain::Aggregate;
use events::RecordedEvent;
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::catalog::Price;
use crate::projection::{decode_known, Projection, ProjectionError};

/// Builds `orders` and `order_lines`.
pub struct OrderProjection;

#[async_trait]
impl Projection for OrderProjection {
    fn name(&self) -> &'static str {
        "orders"
    }

    fn categories(&self) -> &'static [&'static str] {
        &[Order::CATEGORY]
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "orders",
            "order_lines",
            "order_returns",
            "order_fulfilments",
        ]
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        self.apply_batch(tx, &[event]).await
    }

    /// Placements, splits into fulfilments and payments (the bulk of this stream) are
    /// gathered and written with four statements; any other change first writes what is
    /// gathered, then applies alone, so every order sees its events in order.
    async fn apply_batch(
        &self,
        tx: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut pending = Pending::default();
        for event in events {
            let Some(order) = decode_known::<OrderEvent>(event)? else {
                continue;
            };
            // What is gathered is written first when this event must come after it.
            if pending.must_follow(&order) {
                pending.flush(tx).await?;
            }
            match order {
                OrderEvent::OrderPlaced { .. } => pending.place(order, event.recorded_at),
                OrderEvent::OrderPaid { .. } => pending.pay(order, event.recorded_at),
                OrderEvent::OrderSplitIntoFulfilments { .. } => pending.split(order),
                other => apply_one(tx, other, event.recorded_at).await?,
            }
        }
        pending.flush(tx).await?;
        Ok(())
    }

    /// An erased customer's order addresses keep their country; every other member reads as
    /// erased.
    async fn forget(&self, tx: &mut PgConnection, people: &[Uuid]) -> Result<(), ProjectionError> {
        sqlx::query(
            "update orders set shipping_address = shipping_address || $2,
               billing_address = billing_address || $2
             where customer_id = any($1)",
        )
        .bind(people)
        .bind(Json(events::personal::erased_address()))
        .execute(tx)
        .await?;
        Ok(())
    }
}

/// Placements, splits and payments gathered from a batch, written in that order (an order's
/// events come in that order too; anything else about a gathered order is written first).
#[derive(Default)]
struct Pending {
    placed: Vec<(OrderEvent, DateTime<Utc>)>,
    placed_ids: HashSet<Uuid>,
    split: HashSet<Uuid>,
    /// Fulfilments: (order, seller, lines).
    parts: Vec<(Uuid, Uuid, serde_json::Value)>,
    paid: HashSet<Uuid>,
    /// (order, paid at, payment reference, method).
    payments: Vec<(Uuid, DateTime<Utc>, String, &'static str)>,
}

impl Pending {
    /// Whether `event` must be applied after what is gathered is written: any event other
    /// than the three gathered kinds, and one of those kinds that the gathered events of its
    /// order would otherwise follow (the flush writes placements, then splits, then payments).
    fn must_follow(&self, event: &OrderEvent) -> bool {
        let has = |set: &HashSet<Uuid>, id: &domain::OrderId| set.contains(&id.as_uuid());
        match event {
            OrderEvent::OrderPlaced { order_id, .. } => {
                has(&self.placed_ids, order_id)
                    || has(&self.split, order_id)
                    || has(&self.paid, order_id)
            }
            OrderEvent::OrderSplitIntoFulfilments { order_id, .. } => {
                has(&self.split, order_id) || has(&self.paid, order_id)
            }
            OrderEvent::OrderPaid { order_id, .. } => has(&self.paid, order_id),
            _ => !self.placed.is_empty() || !self.parts.is_empty() || !self.payments.is_empty(),
        }
    }

    fn split(&mut self, event: OrderEvent) {
        if let OrderEvent::OrderSplitIntoFulfilments {
            order_id,
            fulfilments,
        } = event
        {
            self.split.insert(order_id.as_uuid());
            for part in fulfilments {
                self.parts.push((
                    order_id.as_uuid(),
                    part.seller_id.as_uuid(),
                    serde_json::to_value(&part.lines).unwrap_or_default(),
                ));
            }
        }
    }

    fn place(&mut self, event: OrderEvent, at: DateTime<Utc>) {
        if let OrderEvent::OrderPlaced { order_id, .. } = &event {
            self.placed_ids.insert(order_id.as_uuid());
        }
        self.placed.push((event, at));
    }

    fn pay(&mut self, event: OrderEvent, at: DateTime<Utc>) {
        if let OrderEvent::OrderPaid {
            order_id,
            payment_reference,
            payment_method,
            ..
        } = event
        {
            self.paid.insert(order_id.as_uuid());
            self.payments.push((
                order_id.as_uuid(),
                at,
                payment_reference,
                payment_method.as_str(),
            ));
        }
    }

    async fn flush(&mut self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        let pending = std::mem::take(self);
        if !pending.placed.is_empty() {
            insert_placed(tx, &pending.placed).await?;
        }
        if !pending.parts.is_empty() {
            let mut orders = Vec::new();
            let mut sellers = Vec::new();
            let mut lines = Vec::new();
            for (order, seller, part) in pending.parts {
                orders.push(order);
                sellers.push(seller);
                lines.push(part);
            }
            sqlx::query(
                "insert into order_fulfilments (order_id, seller_id, lines, state)
                 select o, s, l, $4 from unnest($1::uuid[], $2::uuid[], $3::jsonb[]) as f(o, s, l)
                 on conflict do nothing",
            )
            .bind(&orders)
            .bind(&sellers)
            .bind(&lines)
            .bind(FulfilmentState::Unfulfilled.as_str())
            .execute(&mut *tx)
            .await?;
        }
        if !pending.payments.is_empty() {
            let mut ids = Vec::new();
            let mut at = Vec::new();
            let mut references = Vec::new();
            let mut methods = Vec::new();
            for (id, when, reference, method) in &pending.payments {
                ids.push(*id);
                at.push(*when);
                references.push(reference.as_str());
                methods.push(*method);
            }
            sqlx::query(
                "update orders o set status = $5, paid_at = p.at, payment_reference = p.reference,
                   payment_method = p.method, updated_at = p.at, payment_state = $6
                 from unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[])
                   as p(order_id, at, reference, method)
                 where o.order_id = p.order_id and o.order_id = any($1)",
            )
            .bind(&ids)
            .bind(&at)
            .bind(&references)
            .bind(&methods)
            .bind(OrderStatus::Paid.as_str())
            .bind(PaymentState::Captured.as_str())
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }
}

/// Inserts placed orders and their lines: two statements.
async fn insert_placed(
    tx: &mut PgConnection,
    placed: &[(OrderEvent, DateTime<Utc>)],
) -> Result<(), sqlx::Error> {
    let mut o = PlacedColumns::default();
    let mut l = LineColumns::default();
    for (event, at) in placed {
        let OrderEvent::OrderPlaced {
            order_id,
            customer_id,
            lines,
            total,
            shipping_address,
            billing_address,
            credit_applied,
            subtotal,
            shipping,
            tax,
            shipping_method,
        } = event
        else {
            continue;
        };
        o.ids.push(order_id.as_uuid());
        o.customers.push(customer_id.as_uuid());
        o.totals.push(total.amount_minor());
        o.currencies.push(total.currency().as_str().to_owned());
        o.at.push(*at);
        o.shipping_addresses
            .push(shipping_address.as_ref().map(|a| Json(a.as_ref().clone())));
        o.billing_addresses
            .push(billing_address.as_ref().map(|a| Json(a.as_ref().clone())));
        o.credits.push(credit_applied.map(|c| c.amount_minor()));
        o.subtotals.push(subtotal.map(|m| m.amount_minor()));
        o.shippings.push(shipping.map(|m| m.amount_minor()));
        o.taxes.push(tax.map(|m| m.amount_minor()));
        o.methods.push(shipping_method.clone());
        for (n, line) in lines.iter().enumerate() {
            l.orders.push(order_id.as_uuid());
            l.numbers.push(n as i32 + 1);
            l.skus.push(line.sku.as_str());
            l.names.push(line.name.as_str());
            l.prices.push(line.unit_price.amount_minor());
            l.quantities.push(line.quantity.get() as i32);
            l.totals.push(line.line_total.amount_minor());
        }
    }
    sqlx::query(
        "insert into orders (order_id, customer_id, status, total_minor, currency,
           placed_at, updated_at, shipping_address, billing_address,
           credit_applied_minor, order_state, payment_state, fulfilment_state,
           subtotal_minor, shipping_minor, tax_minor, shipping_method)
         select id, customer, $13, total, currency, at, at, ship_to, bill_to, credit,
           $14, $15, $16, subtotal, shipping, tax, method
         from unnest($1::uuid[], $2::uuid[], $3::int8[], $4::text[], $5::timestamptz[],
           $6::jsonb[], $7::jsonb[], $8::int8[], $9::int8[], $10::int8[], $11::int8[],
           $12::text[])
           as p(id, customer, total, currency, at, ship_to, bill_to, credit, subtotal,
             shipping, tax, method)",
    )
    .bind(&o.ids)
    .bind(&o.customers)
    .bind(&o.totals)
    .bind(&o.currencies)
    .bind(&o.at)
    .bind(&o.shipping_addresses)
    .bind(&o.billing_addresses)
    .bind(&o.credits)
    .bind(&o.subtotals)
    .bind(&o.shippings)
    .bind(&o.taxes)
    .bind(&o.methods)
    .bind(OrderStatus::Placed.as_str())
    .bind(OrderState::Open.as_str())
    .bind(PaymentState::Pending.as_str())
    .bind(FulfilmentState::Unfulfilled.as_str())
    .execute(&mut *tx)
    .await?;
    if !l.orders.is_empty() {
        sqlx::query(
            "insert into order_lines (order_id, line_no, sku, name, unit_price_minor,
               quantity, line_total_minor)
             select * from unnest($1::uuid[], $2::int4[], $3::text[], $4::text[], $5::int8[],
               $6::int4[], $7::int8[])",
        )
        .bind(&l.orders)
        .bind(&l.numbers)
        .bind(&l.skus)
        .bind(&l.names)
        .bind(&l.prices)
        .bind(&l.quantities)
        .bind(&l.totals)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Columns of placed orders, for one multi-row insert.
#[derive(Default)]
struct PlacedColumns {
    ids: Vec<Uuid>,
    customers: Vec<Uuid>,
    totals: Vec<i64>,
    currencies: Vec<String>,
    at: Vec<DateTime<Utc>>,
    shipping_addresses: Vec<Option<Json<Address>>>,
    billing_addresses: Vec<Option<Json<Address>>>,
    credits: Vec<Option<i64>>,
    subtotals: Vec<Option<i64>>,
    shippings: Vec<Option<i64>>,
    taxes: Vec<Option<i64>>,
    methods: Vec<Option<String>>,
}

/// Columns of order lines, for one multi-row insert.
#[derive(Default)]
struct LineColumns<'a> {
    orders: Vec<Uuid>,
    numbers: Vec<i32>,
    skus: Vec<&'a str>,
    names: Vec<&'a str>,
    prices: Vec<i64>,
    quantities: Vec<i32>,
    totals: Vec<i64>,
}

/// Applies one event of a kind the batch does not gather.
async fn apply_one(
    tx: &mut PgConnection,
    order: OrderEvent,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    match order {
        // Gathered and written by the caller.
        OrderEvent::OrderPlaced { .. }
        | OrderEvent::OrderPaid { .. }
        | OrderEvent::OrderSplitIntoFulfilments { .. } => {}
        OrderEvent::OrderShipped {
            order_id,
            carrier,
            tracking_number,
        } => {
            sqlx::query(
                "update orders set status = $5, shipped_at = $2, carrier = $3,
                   tracking_number = $4, updated_at = $2, fulfilment_state = $6
                 where order_id = $1",
            )
            .bind(order_id.as_uuid())
            .bind(at)
            .bind(carrier)
            .bind(tracking_number)
            .bind(OrderStatus::Shipped.as_str())
            .bind(FulfilmentState::Shipped.as_str())
            .execute(&mut *tx)
            .await?;
        }
        OrderEvent::PaymentRequested {
            order_id,
            provider_order_id,
            ..
        } => {
            sqlx::query(
                "update orders set provider_order_id = $2, updated_at = $3 where order_id = $1",
            )
            .bind(order_id.as_uuid())
            .bind(provider_order_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        OrderEvent::PaymentAuthorized { order_id, .. } => {
            sqlx::query(
                "update orders set payment_state = $2, updated_at = $3 where order_id = $1",
            )
            .bind(order_id.as_uuid())
            .bind(PaymentState::Authorized.as_str())
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        OrderEvent::PaymentFailed {
            order_id, reason, ..
        } => {
            sqlx::query(
                "update orders set payment_state = $2, payment_failure = $3, updated_at = $4
                 where order_id = $1",
            )
            .bind(order_id.as_uuid())
            .bind(PaymentState::Failed.as_str())
            .bind(reason)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        OrderEvent::RefundRequested { .. } | OrderEvent::LatePaymentRefunded { .. } => {}
        OrderEvent::ReturnRequested {
            order_id,
            return_id,
            lines,
            reason,
        } => {
            sqlx::query(
                "insert into order_returns
                   (order_id, return_id, status, lines, reason, requested_at)
                 values ($1, $2, 'requested', $3, $4, $5)",
            )
            .bind(order_id.as_uuid())
            .bind(return_id)
            .bind(Json(lines))
            .bind(reason)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        OrderEvent::ReturnAccepted {
            order_id,
            return_id,
            value,
            ..
        } => {
            sqlx::query(
                "update order_returns set status = 'accepted', value_minor = $3, decided_at = $4
                 where order_id = $1 and return_id = $2",
            )
            .bind(order_id.as_uuid())
            .bind(return_id)
            .bind(value.amount_minor())
            .bind(at)
            .execute(&mut *tx)
            .await?;
            // Returned once every ordered unit came back.
            sqlx::query(
                "update orders set fulfilment_state = $2, updated_at = $3
                 where order_id = $1 and not exists (
                   select 1 from order_lines l where l.order_id = $1 and l.quantity > (
                     select coalesce(sum((x->>'quantity')::int), 0)
                     from order_returns r, jsonb_array_elements(r.lines) x
                     where r.order_id = $1 and r.status = 'accepted' and x->>'sku' = l.sku))",
            )
            .bind(order_id.as_uuid())
            .bind(FulfilmentState::Returned.as_str())
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        OrderEvent::ReturnRefused {
            order_id,
            return_id,
            ..
        } => {
            sqlx::query(
                "update order_returns set status = 'refused', decided_at = $3
                 where order_id = $1 and return_id = $2",
            )
            .bind(order_id.as_uuid())
            .bind(return_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        OrderEvent::RefundProcessed {
            order_id, amount, ..
        } => {
            sqlx::query(
                "update orders set refunded_minor = refunded_minor + $2, updated_at = $3,
                   payment_state = case
                     when refunded_minor + $2 >= total_minor - coalesce(credit_applied_minor, 0)
                     then $4 else $5 end
                 where order_id = $1",
            )
            .bind(order_id.as_uuid())
            .bind(amount.amount_minor())
            .bind(at)
            .bind(PaymentState::Refunded.as_str())
            .bind(PaymentState::PartiallyRefunded.as_str())
            .execute(&mut *tx)
            .await?;
        }
        OrderEvent::FulfilmentShipped {
            order_id,
            seller_id,
            carrier,
            tracking_number,
        } => {
            sqlx::query(
                "update order_fulfilments set state = $3, carrier = $4, tracking_number = $5,
                   shipped_at = $6
                 where order_id = $1 and seller_id = $2",
            )
            .bind(order_id.as_uuid())
            .bind(seller_id.as_uuid())
            .bind(FulfilmentState::Shipped.as_str())
            .bind(carrier)
            .bind(tracking_number)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        OrderEvent::FulfilmentDelivered {
            order_id,
            seller_id,
        } => {
            sqlx::query(
                "update order_fulfilments set state = $3, delivered_at = $4
                 where order_id = $1 and seller_id = $2",
            )
            .bind(order_id.as_uuid())
            .bind(seller_id.as_uuid())
            .bind(FulfilmentState::Delivered.as_str())
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        OrderEvent::OrderDelivered { order_id } => {
            sqlx::query(
                "update orders set status = $3, delivered_at = $2, updated_at = $2,
                   fulfilment_state = $4,
                   order_state = case when payment_state = $5 then $6 else order_state end
                 where order_id = $1",
            )
            .bind(order_id.as_uuid())
            .bind(at)
            .bind(OrderStatus::Delivered.as_str())
            .bind(FulfilmentState::Delivered.as_str())
            .bind(PaymentState::Captured.as_str())
            .bind(OrderState::Completed.as_str())
            .execute(&mut *tx)
            .await?;
        }
        OrderEvent::OrderCancelled {
            order_id,
            reason,
            refund,
        } => {
            sqlx::query(
                "update orders set status = $5, cancelled_at = $2, cancel_reason = $3,
                   refund_minor = $4, updated_at = $2, order_state = $6
                 where order_id = $1",
            )
            .bind(order_id.as_uuid())
            .bind(at)
            .bind(reason)
            .bind(refund.map(|m| m.amount_minor()))
            .bind(OrderStatus::Cancelled.as_str())
            .bind(OrderState::Cancelled.as_str())
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}

/// A priced order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct OrderLineView {
    /// Product SKU.
    pub sku: String,
    /// Product name when ordered.
    pub name: String,
    /// Unit price in minor units.
    pub unit_price_minor: i64,
    /// Units ordered.
    pub quantity: i32,
    /// Line total in minor units.
    pub line_total_minor: i64,
}

/// An order as shown to its customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct OrderView {
    /// The order.
    pub order_id: Uuid,
    /// Who ordered.
    pub customer_id: Uuid,
    /// placed, paid, shipped, delivered or cancelled: a summary of the three states below.
    #[sqlx(try_from = "String")]
    pub status: OrderStatus,
    /// open, completed or cancelled.
    #[sqlx(try_from = "String")]
    pub order_state: OrderState,
    /// pending, authorized, captured, partially_refunded, refunded or failed.
    #[sqlx(try_from = "String")]
    pub payment_state: PaymentState,
    /// unfulfilled, shipped, delivered or returned.
    #[sqlx(try_from = "String")]
    pub fulfilment_state: FulfilmentState,
    /// Total in minor units.
    pub total_minor: i64,
    /// ISO 4217 code of every amount of the order.
    pub currency: String,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// When it was paid.
    pub paid_at: Option<DateTime<Utc>>,
    /// Payment provider's reference.
    pub payment_reference: Option<String>,
    /// How it was paid.
    pub payment_method: Option<String>,
    /// When it was shipped.
    pub shipped_at: Option<DateTime<Utc>>,
    /// Carrier.
    pub carrier: Option<String>,
    /// Carrier's tracking number.
    pub tracking_number: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When it was cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// Refund due after cancelling a paid order, in minor units.
    pub refund_minor: Option<i64>,
    /// Delivery address (`null` for orders placed before addresses were recorded).
    #[schemars(with = "Option<Address>")]
    pub shipping_address: Option<Json<Address>>,
    /// Billing address (`null` for orders placed before addresses were recorded).
    #[schemars(with = "Option<Address>")]
    pub billing_address: Option<Json<Address>>,
    /// Store credit applied at placement, in minor units; the amount due is the total less
    /// this.
    pub credit_applied_minor: Option<i64>,
    /// The payment provider's id of the payment request the order waits on.
    pub provider_order_id: Option<String>,
    /// Why the last payment attempt failed.
    pub payment_failure: Option<String>,
    /// Refunds paid out by the provider, in minor units.
    pub refunded_minor: i64,
    /// Sum of the lines (null for orders placed before charges were recorded).
    pub subtotal_minor: Option<i64>,
    /// Shipping fee.
    pub shipping_minor: Option<i64>,
    /// Tax.
    pub tax_minor: Option<i64>,
    /// Shipping method.
    pub shipping_method: Option<String>,
    /// Priced lines.
    #[sqlx(skip)]
    pub lines: Vec<OrderLineView>,
    /// Returns, in the order they were asked for.
    #[sqlx(skip)]
    pub returns: Vec<ReturnView>,
    /// One part per seller, by seller.
    #[sqlx(skip)]
    pub fulfilments: Vec<FulfilmentView>,
}

/// One seller's part of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct FulfilmentView {
    /// The seller.
    pub seller_id: Uuid,
    /// Units per SKU: `[{sku, quantity}]`.
    #[schemars(with = "serde_json::Value")]
    pub lines: Json<serde_json::Value>,
    /// `unfulfilled`, `shipped` or `delivered`.
    pub state: String,
    /// Carrier, once shipped.
    pub carrier: Option<String>,
    /// Tracking number, once shipped.
    pub tracking_number: Option<String>,
    /// When shipped.
    pub shipped_at: Option<DateTime<Utc>>,
    /// When delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A seller's part of an order, with what the seller needs to ship it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct SellerFulfilmentView {
    /// The order.
    pub order_id: Uuid,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// The order's payment: a part ships once it is `captured`.
    pub payment_state: String,
    /// Whether the order was cancelled.
    pub order_state: String,
    /// Where it goes.
    #[schemars(with = "Option<Address>")]
    pub shipping_address: Option<Json<Address>>,
    /// The seller's part.
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub part: FulfilmentView,
}

/// A seller's parts of orders, newest first, optionally in one state (`unfulfilled`,
/// `shipped`, `delivered`): only their own lines, never another seller's.
pub async fn seller_fulfilments(
    pool: &PgPool,
    seller_id: Uuid,
    state: Option<FulfilmentState>,
    limit: i64,
    offset: i64,
) -> Result<Vec<SellerFulfilmentView>, sqlx::Error> {
    sqlx::query_as(
        "select f.order_id, o.placed_at, o.payment_state, o.order_state, o.shipping_address,
                f.seller_id, f.lines, f.state, f.carrier, f.tracking_number, f.shipped_at,
                f.delivered_at
         from order_fulfilments f join orders o on o.order_id = f.order_id
         where f.seller_id = $1 and ($2::text is null or f.state = $2)
         order by o.placed_at desc, f.order_id limit $3 offset $4",
    )
    .bind(seller_id)
    .bind(state.map(FulfilmentState::as_str))
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await
}

/// A return of (part of) an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct ReturnView {
    /// The return.
    pub return_id: Uuid,
    /// `requested`, `accepted` or `refused`.
    pub status: String,
    /// Units per SKU: `[{sku, quantity}]`.
    #[schemars(with = "serde_json::Value")]
    pub lines: Json<serde_json::Value>,
    /// Why it was asked for.
    pub reason: String,
    /// What the units cost on the order, once accepted.
    pub value_minor: Option<i64>,
    /// When it was asked for.
    pub requested_at: DateTime<Utc>,
}

/// One order with its lines.
pub async fn get_order(pool: &PgPool, order_id: Uuid) -> Result<Option<OrderView>, sqlx::Error> {
    let order: Option<OrderView> = sqlx::query_as(
        "select order_id, customer_id, status, order_state, payment_state, fulfilment_state,
           total_minor, currency, placed_at, paid_at,
           payment_reference, payment_method, shipped_at, carrier, tracking_number, delivered_at, cancelled_at,
           cancel_reason, refund_minor, shipping_address, billing_address, credit_applied_minor,
           provider_order_id, payment_failure, refunded_minor, subtotal_minor, shipping_minor,
           tax_minor, shipping_method
         from orders where order_id = $1",
    )
    .bind(order_id)
    .fetch_optional(pool)
    .await?;
    let Some(mut order) = order else {
        return Ok(None);
    };
    order.lines = sqlx::query_as(
        "select sku, name, unit_price_minor, quantity, line_total_minor
         from order_lines where order_id = $1 order by line_no",
    )
    .bind(order_id)
    .fetch_all(pool)
    .await?;
    order.returns = sqlx::query_as(
        "select return_id, status, lines, reason, value_minor, requested_at
         from order_returns where order_id = $1 order by requested_at, return_id",
    )
    .bind(order_id)
    .fetch_all(pool)
    .await?;
    order.fulfilments = sqlx::query_as(
        "select seller_id, lines, state, carrier, tracking_number, shipped_at, delivered_at
         from order_fulfilments where order_id = $1 order by seller_id",
    )
    .bind(order_id)
    .fetch_all(pool)
    .await?;
    Ok(Some(order))
}

impl OrderView {
    /// The total as a price.
    pub fn total(&self) -> Price {
        Price {
            amount_minor: self.total_minor,
            currency: self.currency.clone(),
        }
    }
}

/// One order's money, for reconciliation: in minor units of `currency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct OrderMoney {
    /// The order.
    pub order_id: Uuid,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// ISO 4217 code.
    pub currency: String,
    /// The order total.
    pub charged_minor: i64,
    /// Paid with store credit.
    pub credit_used_minor: i64,
    /// Paid through the provider (or recorded offline).
    pub captured_minor: i64,
    /// Refunded through the provider.
    pub refunded_minor: i64,
}

/// Sums over every order of one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct MoneyTotals {
    /// ISO 4217 code.
    pub currency: String,
    /// Orders counted.
    pub orders: i64,
    /// Order totals.
    pub charged_minor: i64,
    /// Store credit applied (orders cancelled since gave it back: not counted).
    pub credit_used_minor: i64,
    /// Captured payments.
    pub captured_minor: i64,
    /// Refunds paid out.
    pub refunded_minor: i64,
}

/// Per order (newest first, `limit` after the `after` order) and in total per currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Reconciliation {
    /// Totals per currency, over every order.
    pub totals: Vec<MoneyTotals>,
    /// One page of orders.
    pub orders: Vec<OrderMoney>,
}

/// The money of every order, from the order read model.
pub async fn reconciliation(pool: &PgPool, limit: i64) -> Result<Reconciliation, sqlx::Error> {
    const MONEY: &str = "
        select order_id, placed_at, currency, total_minor as charged_minor,
          case when order_state = 'cancelled' then 0 else coalesce(credit_applied_minor, 0) end
            as credit_used_minor,
          case when payment_state in ('captured', 'partially_refunded', 'refunded')
            then total_minor - coalesce(credit_applied_minor, 0) else 0 end as captured_minor,
          refunded_minor
        from orders";
    let totals = sqlx::query_as(&format!(
        "select currency, count(*) as orders, sum(charged_minor)::int8 as charged_minor,
           sum(credit_used_minor)::int8 as credit_used_minor,
           sum(captured_minor)::int8 as captured_minor, sum(refunded_minor)::int8 as refunded_minor
         from ({MONEY}) m group by currency order by currency"
    ))
    .fetch_all(pool)
    .await?;
    let orders = sqlx::query_as(&format!(
        "{MONEY} order by placed_at desc, order_id desc limit $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(Reconciliation { totals, orders })
}

/// The customer's delivered (or since returned) orders holding `sku`, newest first: candidates
/// for proving a purchase, which the write side checks against the orders' own streams.
pub async fn delivered_orders_holding(
    pool: &PgPool,
    customer_id: Uuid,
    sku: &str,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "select o.order_id from orders o
         where o.customer_id = $1 and o.fulfilment_state in ('delivered', 'returned')
           and exists (select 1 from order_lines l where l.order_id = o.order_id and l.sku = $2)
         order by o.placed_at desc limit 20",
    )
    .bind(customer_id)
    .bind(sku)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
