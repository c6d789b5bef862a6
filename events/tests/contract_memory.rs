//! The event store contract against the in-memory adapter.

use std::sync::Arc;

use events::{EventStore, MemoryEventStore};

async fn make() -> (Arc<dyn EventStore>, ()) {
    (Arc::new(MemoryEventStore::new()), ())
}

events::event_store_contract!(make());
