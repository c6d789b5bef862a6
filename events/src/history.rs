//! An order's complete history: its own stream and the events of other streams that name it.

use domain::cart::Cart;
use domain::inventory::Inventory;
use domain::order::{Order, OrderEvent};
use domain::{Aggregate, OrderId};

use crate::codec::decode;
use crate::envelope::RecordedEvent;
use crate::store::{EventStore, StoreError};

/// Every event of the order's stream, and every event of another stream that names the order
/// (stock reservations and releases, the checkout of the cart), in log order.
///
/// Those other events live in the streams the order's placement names: the customer's cart
/// and each line's inventory. The store is asked for the events of those streams that name the
/// order ([`EventStore::events_naming`]), which PostgreSQL answers from an index.
pub async fn order_history(
    store: &dyn EventStore,
    order_id: OrderId,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut history = store.read_stream(&Order::stream_id(&order_id), 1).await?;
    let mut related_streams = Vec::new();
    for event in &history {
        if let OrderEvent::OrderPlaced {
            customer_id, lines, ..
        } = decode::<OrderEvent>(event)?
        {
            related_streams.push(Cart::stream_id(&customer_id));
            related_streams.extend(lines.iter().map(|l| Inventory::stream_id(&l.sku)));
        }
    }
    if related_streams.is_empty() {
        return Ok(history);
    }
    let own = Order::stream_id(&order_id);
    let related = store
        .events_naming("order_id", &order_id.to_string(), &related_streams)
        .await?;
    history.extend(related.into_iter().filter(|e| e.stream_id != own));
    history.sort_by_key(|e| e.global_position);
    Ok(history)
}
