//! An order's complete history: its own stream and the events of other streams that name it.

use sqlx::PgPool;

use crate::envelope::RecordedEvent;
use crate::store::StoreError;

/// Every event of the order's stream, and every event of another stream whose payload names
/// the order (stock reservations and releases, the checkout of the cart), in log order.
pub async fn order_history(
    pool: &PgPool,
    order_id: uuid::Uuid,
) -> Result<Vec<RecordedEvent>, StoreError> {
    // The literal key lets the partial index events_order_id serve the second condition.
    let rows: Vec<crate::postgres::EventRow> = sqlx::query_as(&format!(
        "{} where stream_id = $1 or (payload ? 'order_id' and payload->>'order_id' = $2)
         order by global_position",
        crate::postgres::SELECT_EVENTS
    ))
    .bind(format!("order-{order_id}"))
    .bind(order_id.to_string())
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| RecordedEvent::try_from(r).map(crate::upcast::upcast))
        .collect()
}
