//! Pipeline benchmark: prints figures, asserts nothing (machines here are shared and noisy).
//!
//! ```sh
//! cargo run --release -p commerce --example bench                       # embedded
//! KAFKA_BROKERS=127.0.0.1:9092 cargo run --release -p commerce --example bench   # via Kafka
//! ```
//!
//! Figures: commands and events appended per second by concurrent shoppers; time from a
//! command's answer until its read model shows it (idle and under that load); commands per
//! second in the first and the last window of the run (a minute, or a third of a shorter run);
//! a full scan of the log through the store port beside the replay rate of the whole log into
//! empty read models. Uses a throw-away database on `TEST_DATABASE_URL`.
//!
//! `BENCH_SECONDS` (default 15) is the load's length, `BENCH_SHOPPERS` (default 8) the
//! concurrent shoppers, `BENCH_RATE` a target in commands/s that paces them (default 0: as
//! fast as they go), `BENCH_REBUILD=0` skips the scan and the rebuild. Lines starting with
//! `figure` are machine-readable (`scripts/bench` collects them).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use commands::{CommandContext, CommandHandler};
use domain::product::ProductDetails;
use domain::values::Currency;
use domain::{Money, Quantity, Sku};
use events::testing::TestDatabase;
use events::{EventStore, PgEventStore};
use kafka::relay::{Relay, RelayOptions};
use kafka::KafkaConfig;
use projections::{projector, registry, Projection, Projector};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

const SKUS: usize = 50;
const SHOPPERS: usize = 8;
const LOAD_SECONDS: u64 = 15;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ctx() -> CommandContext {
    CommandContext::new(Some("bench".into()))
}

fn sku(i: usize) -> Sku {
    Sku::parse(format!("SKU-{i:04}")).unwrap()
}

/// One shopper's visit: registration, two cart lines, checkout, payment. Returns (commands,
/// last position).
async fn visit(handler: &CommandHandler, n: usize) -> (u64, i64) {
    let customer = commands::testing::customer(handler).await;
    for k in 0..2 {
        handler
            .add_to_cart(
                &ctx(),
                customer,
                sku((n * 7 + k * 13) % SKUS),
                Quantity::new(1).unwrap(),
            )
            .await
            .unwrap();
    }
    let (order, placed) = handler
        .place_order(&ctx(), customer, None, &Default::default())
        .await
        .unwrap();
    let total = events_total(handler, placed.global_position.unwrap_or(0), order).await;
    let paid = handler
        .pay_order(
            &ctx(),
            order,
            None,
            total,
            domain::text::PaymentReference::parse("bench").unwrap(),
            domain::order::PaymentMethod::Card,
        )
        .await
        .unwrap();
    (5, paid.global_position.unwrap_or(0))
}

async fn events_total(handler: &CommandHandler, _position: i64, order: domain::OrderId) -> Money {
    let events = handler
        .store()
        .read_stream(&format!("order-{order}"), 1)
        .await
        .unwrap();
    let total = &events[0].payload["total"];
    Money::new(
        total["amount_minor"].as_i64().unwrap(),
        Currency::parse(total["currency"].as_str().unwrap()).unwrap(),
    )
    .unwrap()
}

/// Time from a command's answer until the order read model includes it.
async fn visibility(
    handler: &CommandHandler,
    pool: &PgPool,
    orders: &dyn Projection,
    n: usize,
) -> Duration {
    let customer = commands::testing::customer(handler).await;
    handler
        .add_to_cart(&ctx(), customer, sku(n % SKUS), Quantity::new(1).unwrap())
        .await
        .unwrap();
    let (_, placed) = handler
        .place_order(&ctx(), customer, None, &Default::default())
        .await
        .unwrap();
    let start = Instant::now();
    let position = placed.global_position.unwrap();
    while !projector::has_reached(&**handler.store(), pool, orders, position)
        .await
        .unwrap()
    {
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    start.elapsed()
}

/// Prints percentiles of `samples`; returns (p50, p99).
fn percentiles(label: &str, mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    println!(
        "{label}: n={} p50={:.1?} p95={:.1?} p99={:.1?} max={:.1?}",
        samples.len(),
        at(0.50),
        at(0.95),
        at(0.99),
        samples[samples.len() - 1]
    );
    (at(0.50), at(0.99))
}

#[tokio::main]
async fn main() {
    let load_seconds = env_usize("BENCH_SECONDS", LOAD_SECONDS as usize) as u64;
    let shoppers = env_usize("BENCH_SHOPPERS", SHOPPERS);
    let rate = env_usize("BENCH_RATE", 0);
    let rebuild = env_usize("BENCH_REBUILD", 1) == 1;
    let db = TestDatabase::create().await;
    let store: Arc<dyn EventStore> = Arc::new(PgEventStore::new(db.pool.clone()));
    let handler = CommandHandler::new(store.clone());
    let projector = Projector::new(db.pool.clone(), registry::all());
    let shutdown = CancellationToken::new();

    let kafka = std::env::var("KAFKA_BROKERS")
        .ok()
        .filter(|b| !b.is_empty())
        .map(|brokers| {
            let id = uuid::Uuid::new_v4().simple().to_string();
            KafkaConfig {
                brokers,
                topic: format!("bench-{id}"),
                group_id: format!("bench-{id}"),
                partitions: 6,
                replication: 1,
            }
        });
    let mode = if kafka.is_some() { "kafka" } else { "embedded" };
    let mut tasks = Vec::new();
    match &kafka {
        Some(config) => {
            kafka::admin::ensure_topic(config).await.unwrap();
            let relay = Relay::new(
                store.clone(),
                db.pool.clone(),
                config.clone(),
                RelayOptions::default(),
            )
            .unwrap();
            let s = shutdown.clone();
            tasks.push(tokio::spawn(async move { relay.run(s).await.unwrap() }));
            for _ in 0..2 {
                let (c, p, s) = (config.clone(), projector.clone(), shutdown.clone());
                tasks.push(tokio::spawn(async move {
                    kafka::consumer::run(&c, p, s).await.unwrap()
                }));
            }
        }
        None => {
            let (st, p, s) = (store.clone(), projector.clone(), shutdown.clone());
            tasks.push(tokio::spawn(projections::follow::follow_log(
                st,
                p,
                500,
                Duration::from_millis(20),
                s,
            )));
        }
    }

    let eur = Currency::parse("EUR").unwrap();
    commands::testing::category(&handler, "bench").await;
    for i in 0..SKUS {
        let details = ProductDetails::new(&format!("Product {i}"), "", "bench").unwrap();
        handler
            .create_product(
                &ctx(),
                domain::AccountId::from_uuid(uuid::Uuid::nil()),
                sku(i),
                details,
                Money::new(100 + i as i64, eur).unwrap(),
                domain::product::Editor::Admin,
            )
            .await
            .unwrap();
        handler
            .receive_stock(&ctx(), sku(i), Quantity::new(1_000_000).unwrap())
            .await
            .unwrap();
    }
    let orders = registry::all()
        .into_iter()
        .find(|p| p.name() == "orders")
        .unwrap();
    // Warm up (consumer group join, connection pools).
    visibility(&handler, &db.pool, &*orders, 0).await;

    let mut idle = Vec::new();
    for n in 0..100 {
        idle.push(visibility(&handler, &db.pool, &*orders, n).await);
    }

    let paced = match rate {
        0 => "as fast as they go".to_owned(),
        r => format!("paced to {r} commands/s"),
    };
    println!(
        "mode: {mode}; {shoppers} concurrent shoppers for {load_seconds}s ({paced}), {SKUS} SKUs"
    );
    let head_before = store.head_position().await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let commands = Arc::new(AtomicU64::new(0));
    // Commands finished in each second of the run.
    let per_second: Arc<Vec<AtomicU64>> =
        Arc::new((0..load_seconds + 120).map(|_| AtomicU64::new(0)).collect());
    let started = Instant::now();
    let mut load = Vec::new();
    for w in 0..shoppers {
        let (handler, stop, commands) = (handler.clone(), stop.clone(), commands.clone());
        let per_second = per_second.clone();
        // A visit is 5 commands: at `rate` commands/s, each shopper starts one this often.
        let every =
            (rate > 0).then(|| Duration::from_secs_f64(5.0 * shoppers as f64 / rate as f64));
        load.push(tokio::spawn(async move {
            let mut n = w;
            let mut latencies = Vec::new();
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if let Some(every) = every {
                    tokio::time::sleep_until(next.into()).await;
                    next += every;
                }
                let t = Instant::now();
                let (c, _) = visit(&handler, n).await;
                latencies.push(t.elapsed() / c as u32);
                commands.fetch_add(c, Ordering::Relaxed);
                let second = started.elapsed().as_secs() as usize;
                if let Some(slot) = per_second.get(second) {
                    slot.fetch_add(c, Ordering::Relaxed);
                }
                n += shoppers;
            }
            latencies
        }));
    }
    let mut loaded = Vec::new();
    while started.elapsed() < Duration::from_secs(load_seconds) {
        loaded.push(visibility(&handler, &db.pool, &*orders, loaded.len()).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut per_command = Vec::new();
    for l in load {
        per_command.extend(l.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let head = store.head_position().await.unwrap();
    let appended = head - head_before;
    println!(
        "write: {} commands, {appended} events in {elapsed:.1}s = {:.0} commands/s, {:.0} events/s",
        commands.load(Ordering::Relaxed),
        commands.load(Ordering::Relaxed) as f64 / elapsed,
        appended as f64 / elapsed
    );
    let commands_per_second = commands.load(Ordering::Relaxed) as f64 / elapsed;
    percentiles("command latency (mean per command of a visit)", per_command);
    percentiles("command -> order read model, idle", idle);
    let (p50, p99) = percentiles("command -> order read model, under load", loaded);
    println!("figure e2e_commands_per_second_{mode} {commands_per_second:.0}");
    println!("figure e2e_p50_ms_{mode} {:.1}", p50.as_secs_f64() * 1000.0);
    println!("figure e2e_p99_ms_{mode} {:.1}", p99.as_secs_f64() * 1000.0);
    // The first and the last full window of the load.
    let window = (load_seconds / 3).clamp(1, 60) as usize;
    let rate_of = |from: usize| {
        per_second[from..from + window]
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum::<u64>() as f64
            / window as f64
    };
    let (first, last) = (rate_of(0), rate_of(load_seconds as usize - window));
    println!(
        "commands/s in the first {window} s: {first:.0}; in the last {window} s: {last:.0} ({:.2}x)",
        last / first.max(1.0)
    );
    println!("figure first_minute_cmd_rps {first:.0}");
    println!("figure last_minute_cmd_rps {last:.0}");

    let catch_up = Instant::now();
    for p in registry::all() {
        projector::wait_for(&*store, &db.pool, &*p, head, Duration::from_secs(600))
            .await
            .unwrap();
    }
    println!(
        "projections caught up with the head {:.1?} after the load stopped",
        catch_up.elapsed()
    );
    shutdown.cancel();
    for t in tasks {
        let _ = t.await;
    }

    if !rebuild {
        return;
    }
    // A full scan of the log through the store port: what any replay must at least do.
    let scan = Instant::now();
    let (mut position, mut scanned) = (0, 0_u64);
    loop {
        let batch = store.read_all(position, 10_000).await.unwrap();
        let Some(last) = batch.last() else { break };
        position = last.global_position;
        scanned += batch.len() as u64;
    }
    let scan_eps = scanned as f64 / scan.elapsed().as_secs_f64();
    // Rebuild: the whole log into a new generation of every read model, then the switch.
    let batch = env_usize("BATCH_SIZE", 2_000);
    let outcome =
        projections::rebuild::rebuild(&db.pool, store.clone(), registry::all(), batch, |_| {})
            .await
            .unwrap();
    let secs = outcome.elapsed.as_secs_f64();
    let rebuild_eps = outcome.events as f64 / secs;
    println!(
        "rebuild (zero-downtime, all {} projections, batches of {batch}): {} events in {secs:.1}s \
         = {rebuild_eps:.0} events/s; a scan of the log: {scan_eps:.0} events/s ({:.3}x)",
        outcome.projections.len(),
        outcome.events,
        rebuild_eps / scan_eps
    );
    println!("figure rebuild_eps {rebuild_eps:.0}");
    println!("figure scan_eps {scan_eps:.0}");
}
