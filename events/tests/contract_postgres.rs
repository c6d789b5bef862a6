//! The event store contract against PostgreSQL (a fresh database per test).

use std::sync::Arc;

use events::testing::TestDatabase;
use events::{EventStore, PgEventStore};

async fn make() -> (Arc<dyn EventStore>, TestDatabase) {
    let db = TestDatabase::create().await;
    (Arc::new(PgEventStore::new(db.pool.clone())), db)
}

events::event_store_contract!(make());
