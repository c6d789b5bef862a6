//! Orders waiting for payment, for the payment-timeout process manager: a row per placed
//! order until it is paid or cancelled. Fed by the event stream like every read model, so it
//! survives restarts and can be rebuilt.

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
        let Some(order) = decode_known::<OrderEvent>(event)? else {
            return Ok(());
        };
        match order {
            OrderEvent::OrderPlaced { order_id, .. } => {
                sqlx::query(
                    "insert into unpaid_orders (order_id, placed_at) values ($1, $2)
                     on conflict (order_id) do nothing",
                )
                .bind(order_id.as_uuid())
                .bind(event.recorded_at)
                .execute(&mut *tx)
                .await?;
            }
            OrderEvent::OrderPaid { order_id, .. }
            | OrderEvent::OrderCancelled { order_id, .. } => {
                sqlx::query("delete from unpaid_orders where order_id = $1")
                    .bind(order_id.as_uuid())
                    .execute(&mut *tx)
                    .await?;
            }
            _ => {}
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
