//! Refunds owed after a cancellation, for the refund process manager: a row per cancelled
//! order with money to give back, until a refund for it is recorded. Fed by the event stream
//! like every read model, so it survives restarts and can be rebuilt.

use async_trait::async_trait;
use domain::order::{Order, OrderEvent};
use domain::Aggregate;
use events::RecordedEvent;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::projection::{decode_known, Projection, ProjectionError};

/// Builds `refunds_due`.
pub struct RefundsDueProjection;

#[async_trait]
impl Projection for RefundsDueProjection {
    fn name(&self) -> &'static str {
        "refunds_due"
    }

    fn categories(&self) -> &'static [&'static str] {
        &[Order::CATEGORY]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["refunds_due"]
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
            OrderEvent::OrderCancelled {
                order_id,
                refund: Some(refund),
                ..
            } => {
                sqlx::query(
                    "insert into refunds_due (order_id, amount_minor, currency, cancelled_at)
                     values ($1, $2, $3, $4) on conflict (order_id) do nothing",
                )
                .bind(order_id.as_uuid())
                .bind(refund.amount_minor())
                .bind(refund.currency().as_str())
                .bind(event.recorded_at)
                .execute(&mut *tx)
                .await?;
            }
            OrderEvent::RefundRequested { order_id, .. } => {
                sqlx::query("delete from refunds_due where order_id = $1")
                    .bind(order_id.as_uuid())
                    .execute(&mut *tx)
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Cancelled orders still owed a refund, oldest first, but those in `except`.
pub async fn due(pool: &PgPool, except: &[Uuid], limit: i64) -> Result<Vec<Uuid>, sqlx::Error> {
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "select order_id from refunds_due where order_id <> all($1)
         order by cancelled_at limit $2",
    )
    .bind(except)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Forgets an order that has nothing left to refund.
pub async fn settled(pool: &PgPool, order_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("delete from refunds_due where order_id = $1")
        .bind(order_id)
        .execute(pool)
        .await?;
    Ok(())
}
