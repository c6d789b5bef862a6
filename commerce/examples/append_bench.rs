//! Append benchmark: prints figures, asserts nothing (machines here are shared and noisy).
//!
//! ```sh
//! cargo run --release -p commerce --example append_bench
//! BENCH_SECONDS=15 BENCH_WRITERS=1,8,32 cargo run --release -p commerce --example append_bench
//! ```
//!
//! For each number of concurrent writers (default 1, 8 and 32), appends one event of about
//! 200 bytes to a new stream per append for `BENCH_SECONDS` (default 10) through the
//! PostgreSQL store, and prints appends per second with latency percentiles; beside it, the
//! raw limit of the same database: one-row insert transactions into a plain table by the same
//! number of clients. Uses a throw-away database on `TEST_DATABASE_URL`. Lines starting with
//! `figure` are machine-readable (`scripts/bench` collects them).

use std::sync::Arc;
use std::time::{Duration, Instant};

use events::testing::TestDatabase;
use events::{EventStore, ExpectedVersion, Metadata, NewEvent, PgEventStore, StreamAppend};

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

fn event() -> NewEvent {
    NewEvent {
        event_id: uuid::Uuid::now_v7(),
        event_type: "BenchmarkHappened".into(),
        schema_version: 1,
        payload: serde_json::json!({
            "sku": "BENCH-000001",
            "note": "a payload of about two hundred bytes, as the issue's figures used, \
                     padded with words that carry nothing at all but length",
            "quantity": 3
        }),
        metadata: Metadata::default(),
    }
}

/// Runs `writers` loops of `op` for `seconds`; returns operations per second and latencies.
async fn run<F, Fut>(writers: usize, seconds: u64, op: F) -> (f64, Vec<Duration>)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut samples = Vec::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    op().await;
                    samples.push(t.elapsed());
                }
                samples
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    all.sort();
    (rate, all)
}

fn at(samples: &[Duration], p: f64) -> Duration {
    samples[((samples.len() - 1) as f64 * p) as usize]
}

#[tokio::main]
async fn main() {
    let seconds = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let db = TestDatabase::create().await;
    sqlx::query("create table bench_raw (id bigserial primary key, body jsonb not null)")
        .execute(&db.pool)
        .await
        .unwrap();
    let store = Arc::new(PgEventStore::new(db.pool.clone()));
    println!("{seconds} s per point; one ~200-byte event per append to a new stream");
    println!(
        "{:>8} | {:>12} | {:>12} | {:>6} | {:>10} | {:>10}",
        "writers", "raw insert/s", "appends/s", "ratio", "append p50", "append p99"
    );
    for writers in env_list("BENCH_WRITERS", &[1, 8, 32]) {
        let pool = db.pool.clone();
        let (raw, _) = run(writers, seconds, move || {
            let pool = pool.clone();
            async move {
                sqlx::query("insert into bench_raw (body) values ($1)")
                    .bind(&event().payload)
                    .execute(&pool)
                    .await
                    .unwrap();
            }
        })
        .await;
        let s = store.clone();
        let (appends, latencies) = run(writers, seconds, move || {
            let s = s.clone();
            async move {
                s.append(vec![StreamAppend {
                    stream_id: format!("bench-{}", uuid::Uuid::now_v7().simple()),
                    expected: ExpectedVersion::NoStream,
                    events: vec![event()],
                }])
                .await
                .unwrap();
            }
        })
        .await;
        println!(
            "{writers:>8} | {raw:>12.0} | {appends:>12.0} | {:>5.2}x | {:>10.1?} | {:>10.1?}",
            appends / raw,
            at(&latencies, 0.5),
            at(&latencies, 0.99)
        );
        println!("figure raw_inproc_eps_c{writers} {raw:.0}");
        println!("figure append_eps_c{writers} {appends:.0}");
    }
}
