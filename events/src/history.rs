//! An order's complete history: its own stream and the events of other streams that name it.

use sqlx::PgPool;

use crate::envelope::RecordedEvent;
use crate::store::{EventStore, StoreError};

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

/// [`order_history`] over any store. When the log is not in PostgreSQL (EventStoreDB), the
/// payload search becomes a walk of the streams the order's placement names: the order's own
/// stream, the customer's cart and each line's inventory, keeping their events that name the
/// order. Every event that names an order lives in one of those streams.
pub async fn order_history_in(
    store: &dyn EventStore,
    pool: &PgPool,
    order_id: uuid::Uuid,
) -> Result<Vec<RecordedEvent>, StoreError> {
    if store.shares_database() {
        return order_history(pool, order_id).await;
    }
    let mut history = store.read_stream(&format!("order-{order_id}"), 1).await?;
    let Some(placed) = history.iter().find(|e| e.event_type == "OrderPlaced") else {
        return Ok(history);
    };
    let mut streams = Vec::new();
    if let Some(customer) = placed.payload.get("customer_id").and_then(|c| c.as_str()) {
        streams.push(format!("cart-{customer}"));
    }
    for line in placed.payload["lines"].as_array().into_iter().flatten() {
        if let Some(sku) = line.get("sku").and_then(|s| s.as_str()) {
            streams.push(format!("inventory-{sku}"));
        }
    }
    let order = order_id.to_string();
    for stream in streams {
        let related = store.read_stream(&stream, 1).await?;
        history.extend(
            related
                .into_iter()
                .filter(|e| e.payload.get("order_id").and_then(|o| o.as_str()) == Some(&order)),
        );
    }
    history.sort_by_key(|e| (e.global_position, e.recorded_at));
    Ok(history)
}
