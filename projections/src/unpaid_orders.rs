//! Orders waiting for payment, for the payment-timeout process manager: a row per placed
//! order until it is paid or cancelled. Fed by the event stream like every read model, so it
//! survives restarts and can be rebuilt.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::order::{Order, OrderEvent};
use domain::Aggregate;
use events::RecordedEvent;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::projection::{decode_known, Projection, ProjectionError};

/// Builds `unpaid_orders`.
pub struct UnpaidOrdersProjection;

#[async_trait]
impl Projection for UnpaidOrdersProjection {
    fn name(&self) -> &'static str {
        "unpaid_orders"
    }

    fn categories(&self) -> &'static [&'static str] {
        &[Order::CATEGORY]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["unpaid_orders"]
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        self.apply_batch(tx, &[event]).await
    }

    /// The batch's last word per order, then one insert and one delete.
    async fn apply_batch(
        &self,
        tx: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        // Some(placed_at): waiting for payment; None: paid or cancelled.
        let mut last: BTreeMap<Uuid, Option<DateTime<Utc>>> = BTreeMap::new();
        for event in events {
            match decode_known::<OrderEvent>(event)? {
                Some(OrderEvent::OrderPlaced { order_id, .. }) => {
                    last.insert(order_id.as_uuid(), Some(event.recorded_at));
                }
                Some(
                    OrderEvent::OrderPaid { order_id, .. }
                    | OrderEvent::OrderCancelled { order_id, .. },
                ) => {
                    last.insert(order_id.as_uuid(), None);
                }
                _ => {}
            }
        }
        let (waiting, settled): (Vec<_>, Vec<_>) = last.into_iter().partition(|(_, p)| p.is_some());
        if !waiting.is_empty() {
            let (orders, placed): (Vec<Uuid>, Vec<Option<DateTime<Utc>>>) =
                waiting.into_iter().unzip();
            sqlx::query(
                "insert into unpaid_orders (order_id, placed_at)
                 select * from unnest($1::uuid[], $2::timestamptz[])
                 on conflict (order_id) do nothing",
            )
            .bind(&orders)
            .bind(&placed)
            .execute(&mut *tx)
            .await?;
        }
        if !settled.is_empty() {
            let orders: Vec<Uuid> = settled.into_iter().map(|(o, _)| o).collect();
            sqlx::query("delete from unpaid_orders where order_id = any($1)")
                .bind(&orders)
                .execute(&mut *tx)
                .await?;
        }
        Ok(())
    }
}

/// Orders placed before `deadline` and still unpaid, oldest first.
pub async fn unpaid_since(
    pool: &PgPool,
    deadline: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "select order_id from unpaid_orders where placed_at < $1 order by placed_at limit $2",
    )
    .bind(deadline)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
