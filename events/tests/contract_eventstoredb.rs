//! The event store contract against a live EventStoreDB.
//!
//! Needs the `eventstoredb` feature and `EVENTSTOREDB_URL` (for example
//! `esdb://127.0.0.1:2113?tls=false`, as `docker compose up eventstoredb` serves). The tests
//! are `#[ignore]`d so that a plain `cargo test` lists them as ignored instead of failing on
//! machines without the server; `scripts/test` runs them with `--ignored` whenever
//! `EVENTSTOREDB_URL` is set, and they then fail loudly if the server cannot be reached.
//! They share one server, so they run one at a time (`--test-threads=1`).
#![cfg(feature = "eventstoredb")]

use std::sync::Arc;

use events::eventstoredb::EsdbEventStore;
use events::EventStore;

async fn make() -> (Arc<dyn EventStore>, ()) {
    let url = std::env::var("EVENTSTOREDB_URL").expect(
        "EVENTSTOREDB_URL must name a live EventStoreDB (e.g. esdb://127.0.0.1:2113?tls=false)",
    );
    let store = EsdbEventStore::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot use EventStoreDB at {url}: {e}"));
    (Arc::new(store), ())
}

events::event_store_contract!(
    make(),
    per_stream_event_ids,
    #[ignore = "needs a live EventStoreDB: set EVENTSTOREDB_URL and pass --ignored"]
);
