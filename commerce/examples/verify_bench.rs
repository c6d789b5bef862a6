//! How long `verify` takes per million events. Prints figures, asserts nothing.
//!
//! ```sh
//! cargo run --release -p commerce --example verify_bench            # 1,000,000 events
//! VERIFY_BENCH_EVENTS=200000 cargo run --release -p commerce --example verify_bench
//! ```
//!
//! Events are appended through the real PostgreSQL store (hash chains included) in batches of
//! 500 across 1,000 streams, in a throw-away database on `TEST_DATABASE_URL`.

use std::time::Instant;

use events::testing::TestDatabase;
use events::{EventStore, ExpectedVersion, Metadata, NewEvent, PgEventStore, StreamAppend};
use serde_json::json;
use uuid::Uuid;

#[tokio::main]
async fn main() {
    let total: usize = std::env::var("VERIFY_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let db = TestDatabase::create().await;
    let store = PgEventStore::new(db.pool.clone());
    let metadata = Metadata {
        correlation_id: Uuid::now_v7(),
        causation_id: Some(Uuid::now_v7()),
        actor: Some("account:bench".into()),
        traceparent: None,
    };

    let started = Instant::now();
    let mut written = 0;
    while written < total {
        let streams: Vec<StreamAppend> = (0..10)
            .map(|s| StreamAppend {
                stream_id: format!("order-bench-{}", (written / 50 + s) % 1000),
                expected: ExpectedVersion::Any,
                events: (0..50)
                    .map(|i| NewEvent {
                        event_id: Uuid::now_v7(),
                        event_type: "OrderPaid".into(),
                        schema_version: 1,
                        payload: json!({"order_id": Uuid::nil(), "amount": {"amount_minor": written + i, "currency": "EUR"},
                                        "payment_reference": "psp-bench"}),
                        metadata: metadata.clone(),
                    })
                    .collect(),
            })
            .collect();
        store.append(streams).await.unwrap();
        written += 500;
    }
    let append_secs = started.elapsed().as_secs_f64();
    println!(
        "appended {written} events in {append_secs:.1}s ({:.0} events/s, batches of 500)",
        written as f64 / append_secs
    );

    let started = Instant::now();
    let report = events::verify::verify(&db.pool, |_, _| {}).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert!(report.intact());
    println!(
        "verify: {} events in {} streams in {secs:.1}s = {:.0} events/s = {:.1}s per million events",
        report.events,
        report.streams,
        report.events as f64 / secs,
        secs * 1_000_000.0 / report.events as f64
    );
}
