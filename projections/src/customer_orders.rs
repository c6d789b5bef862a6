//! Orders by customer: a summary per order, newest first, with keyset pagination.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::order::OrderEvent;
use domain::order::{Order, OrderStatus};
use domain::Aggregate;
use events::RecordedEvent;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::projection::{decode_known, Projection, ProjectionError};

/// Builds `customer_orders`.
pub struct CustomerOrdersProjection;

#[async_trait]
impl Projection for CustomerOrdersProjection {
    fn name(&self) -> &'static str {
        "customer_orders"
    }

    fn categories(&self) -> &'static [&'static str] {
        &[Order::CATEGORY]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["customer_orders"]
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        self.apply_batch(tx, &[event]).await
    }

    /// Orders placed in the batch are inserted with their last status, the others' statuses
    /// updated: two statements whatever the batch's size.
    async fn apply_batch(
        &self,
        tx: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut placed: BTreeMap<Uuid, Placed> = BTreeMap::new();
        let mut moved: BTreeMap<Uuid, OrderStatus> = BTreeMap::new();
        for event in events {
            let Some(order) = decode_known::<OrderEvent>(event)? else {
                continue;
            };
            let (order_id, status) = match order {
                OrderEvent::OrderPlaced {
                    order_id,
                    customer_id,
                    lines,
                    total,
                    ..
                } => {
                    let items: i64 = lines.iter().map(|l| i64::from(l.quantity.get())).sum();
                    placed.insert(
                        order_id.as_uuid(),
                        Placed {
                            customer: customer_id.as_uuid(),
                            at: event.recorded_at,
                            status: OrderStatus::Placed,
                            total_minor: total.amount_minor(),
                            currency: total.currency().as_str().to_owned(),
                            items: i32::try_from(items).unwrap_or(i32::MAX),
                        },
                    );
                    continue;
                }
                OrderEvent::OrderPaid { order_id, .. } => (order_id, OrderStatus::Paid),
                OrderEvent::OrderShipped { order_id, .. } => (order_id, OrderStatus::Shipped),
                OrderEvent::OrderDelivered { order_id } => (order_id, OrderStatus::Delivered),
                OrderEvent::OrderCancelled { order_id, .. } => (order_id, OrderStatus::Cancelled),
                // The summary status does not change while a payment is opened or fails.
                OrderEvent::PaymentRequested { .. }
                | OrderEvent::PaymentFailed { .. }
                | OrderEvent::PaymentAuthorized { .. }
                | OrderEvent::RefundRequested { .. }
                | OrderEvent::RefundProcessed { .. }
                | OrderEvent::ReturnRequested { .. }
                | OrderEvent::ReturnAccepted { .. }
                | OrderEvent::ReturnRefused { .. }
                | OrderEvent::LatePaymentRefunded { .. }
                | OrderEvent::OrderSplitIntoFulfilments { .. }
                | OrderEvent::FulfilmentShipped { .. }
                | OrderEvent::FulfilmentDelivered { .. } => continue,
            };
            match placed.get_mut(&order_id.as_uuid()) {
                Some(row) => row.status = status,
                None => {
                    moved.insert(order_id.as_uuid(), status);
                }
            }
        }
        if !placed.is_empty() {
            let orders: Vec<Uuid> = placed.keys().copied().collect();
            let rows: Vec<&Placed> = placed.values().collect();
            sqlx::query(
                "insert into customer_orders (order_id, customer_id, placed_at, status,
                   total_minor, currency, item_count)
                 select * from unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::text[],
                   $5::int8[], $6::text[], $7::int4[])",
            )
            .bind(&orders)
            .bind(rows.iter().map(|r| r.customer).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.at).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.total_minor).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.currency.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.items).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
        if !moved.is_empty() {
            let (orders, statuses): (Vec<Uuid>, Vec<&str>) =
                moved.iter().map(|(o, s)| (*o, s.as_str())).unzip();
            sqlx::query(
                "update customer_orders c set status = m.status
                 from unnest($1::uuid[], $2::text[]) as m(order_id, status)
                 where c.order_id = m.order_id and c.order_id = any($1)",
            )
            .bind(&orders)
            .bind(&statuses)
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }
}

/// An order placed in the batch, as its summary row will be.
struct Placed {
    customer: Uuid,
    at: DateTime<Utc>,
    status: OrderStatus,
    total_minor: i64,
    currency: String,
    items: i32,
}

/// One order in a customer's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct OrderSummary {
    /// The order.
    pub order_id: Uuid,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// Current status.
    #[sqlx(try_from = "String")]
    pub status: OrderStatus,
    /// Total in minor units.
    pub total_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Units over all lines.
    pub item_count: i32,
}

/// One page of a customer's orders, newest first.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct OrderSummaryPage {
    /// Orders on this page.
    pub items: Vec<OrderSummary>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Position in the list, opaque to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    placed_at: DateTime<Utc>,
    order_id: Uuid,
}

impl Cursor {
    /// Text form handed to clients.
    pub fn encode(&self) -> String {
        format!(
            "{}.{}",
            self.placed_at.timestamp_micros(),
            self.order_id.simple()
        )
    }

    /// Parses a cursor a client sent back; `None` if it was not produced by [`Cursor::encode`].
    /// Instants outside years 1970-9999 are refused: no order was placed then, and PostgreSQL's
    /// `timestamptz` cannot hold all of chrono's range.
    pub fn decode(raw: &str) -> Option<Cursor> {
        const LAST_MICROS: i64 = 253_402_300_799_999_999; // 9999-12-31T23:59:59.999999Z
        let (micros, id) = raw.split_once('.')?;
        let micros: i64 = micros
            .parse()
            .ok()
            .filter(|m| (0..=LAST_MICROS).contains(m))?;
        Some(Cursor {
            placed_at: DateTime::from_timestamp_micros(micros)?,
            order_id: Uuid::parse_str(id).ok()?,
        })
    }
}

/// A page of a customer's orders after `after` (exclusive), newest first.
pub async fn list_customer_orders(
    pool: &PgPool,
    customer_id: Uuid,
    limit: i64,
    after: Option<Cursor>,
) -> Result<OrderSummaryPage, sqlx::Error> {
    let mut items: Vec<OrderSummary> = sqlx::query_as(
        "select order_id, placed_at, status, total_minor, currency, item_count
         from customer_orders
         where customer_id = $1
           and ($2::timestamptz is null or (placed_at, order_id) < ($2, $3))
         order by placed_at desc, order_id desc
         limit $4",
    )
    .bind(customer_id)
    .bind(after.map(|c| c.placed_at))
    .bind(after.map(|c| c.order_id))
    .bind(limit + 1)
    .fetch_all(pool)
    .await?;
    let more = items.len() as i64 > limit;
    items.truncate(limit.max(0) as usize);
    let next_cursor = if more {
        items.last().map(|o| {
            Cursor {
                placed_at: o.placed_at,
                order_id: o.order_id,
            }
            .encode()
        })
    } else {
        None
    };
    Ok(OrderSummaryPage { items, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip() {
        let c = Cursor {
            placed_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            order_id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("garbage"), None);
        assert_eq!(Cursor::decode("12.not-a-uuid"), None);
        let id = Uuid::nil().simple();
        assert_eq!(Cursor::decode(&format!("-1.{id}")), None);
        assert_eq!(Cursor::decode(&format!("9223372036854775807.{id}")), None);
        assert_eq!(Cursor::decode(&format!("253402300800000000.{id}")), None);
    }
}
