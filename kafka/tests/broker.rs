//! The relay and the projection consumer against a real Kafka-compatible broker.
//!
//! The broker comes from `KAFKA_BROKERS` (default `127.0.0.1:9092`); the test fails when it is
//! unreachable.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use commands::{CommandContext, CommandHandler};
use domain::product::ProductDetails;
use domain::values::Currency;
use domain::{Money, Quantity, Sku};
use events::testing::TestDatabase;
use events::{EventStore, PgEventStore};
use kafka::relay::{Relay, RelayOptions};
use kafka::{admin, consumer, message, KafkaConfig};
use projections::{projector, registry, Projector};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::ClientConfig;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn config() -> KafkaConfig {
    let id = Uuid::new_v4().simple().to_string();
    KafkaConfig {
        brokers: std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into()),
        topic: format!("test-events-{id}"),
        group_id: format!("test-group-{id}"),
        partitions: 3,
        replication: 1,
    }
}

async fn topic(config: &KafkaConfig) {
    tokio::time::timeout(Duration::from_secs(20), admin::ensure_topic(config))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "Kafka broker at {} did not answer: start it (see README)",
                config.brokers
            )
        })
        .unwrap_or_else(|e| panic!("Kafka broker at {} is required: {e}", config.brokers));
}

fn ctx() -> CommandContext {
    CommandContext::new(Some("kafka-test".into()))
}

async fn some_business(handler: &CommandHandler, customers: usize) {
    let eur = Currency::parse("EUR").unwrap();
    commands::testing::category(handler, "kitchen").await;
    for s in ["MUG", "CUP"] {
        let details = ProductDetails::new(s, "", "kitchen").unwrap();
        let sku = Sku::parse(s).unwrap();
        handler
            .create_product(
                &ctx(),
                domain::AccountId::from_uuid(Uuid::nil()),
                sku.clone(),
                details,
                Money::new(500, eur).unwrap(),
                domain::product::Editor::Admin,
            )
            .await
            .unwrap();
        handler
            .receive_stock(&ctx(), sku, Quantity::new(1000).unwrap())
            .await
            .unwrap();
    }
    for _ in 0..customers {
        let c = commands::testing::customer(handler).await;
        for s in ["MUG", "CUP"] {
            handler
                .add_to_cart(&ctx(), c, Sku::parse(s).unwrap(), Quantity::new(2).unwrap())
                .await
                .unwrap();
        }
        let (order, _) = handler
            .place_order(&ctx(), c, None, &Default::default())
            .await
            .unwrap();
        handler
            .pay_order(
                &ctx(),
                order,
                None,
                Money::new(2000, eur).unwrap(),
                domain::text::PaymentReference::parse("psp").unwrap(),
                domain::order::PaymentMethod::Card,
            )
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relay_publishes_the_committed_log_keyed_and_in_order() {
    let config = config();
    topic(&config).await;
    let db = TestDatabase::create().await;
    let store: Arc<dyn EventStore> = Arc::new(PgEventStore::new(db.pool.clone()));
    some_business(&CommandHandler::new(store.clone()), 10).await;
    let head = store.head_position().await.unwrap();
    let log = store.read_all(0, 10_000).await.unwrap();

    let relay = Arc::new(
        Relay::new(
            store.clone(),
            db.pool.clone(),
            config.clone(),
            RelayOptions::default(),
        )
        .unwrap(),
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let relay = relay.clone();
        let shutdown = shutdown.clone();
        async move { relay.run(shutdown).await.unwrap() }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while relay.checkpoint().await.unwrap() < head {
        assert!(Instant::now() < deadline, "relay did not reach the head");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    task.await.unwrap();

    let reader: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", format!("{}-reader", config.group_id))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    reader.subscribe(&[&config.topic]).unwrap();
    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.len() < log.len() {
        assert!(
            Instant::now() < deadline,
            "got {} of {} records",
            received.len(),
            log.len()
        );
        let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(5), reader.recv()).await else {
            continue;
        };
        let event = message::decode(&m).unwrap();
        assert_eq!(m.key(), Some(event.stream_id.as_bytes()));
        assert_eq!(
            message::header(&m, "event_id"),
            Some(event.event_id.to_string().as_str())
        );
        assert_eq!(
            message::header(&m, "event_type"),
            Some(event.event_type.as_str())
        );
        assert_eq!(
            message::header(&m, "schema_version"),
            Some(event.schema_version.to_string().as_str())
        );
        received.push(event);
    }

    // Everything published exactly as stored, and each stream in version order.
    let mut by_id: HashMap<Uuid, _> = log.iter().map(|e| (e.event_id, e)).collect();
    let mut last_version: HashMap<String, i64> = HashMap::new();
    for event in &received {
        let stored = by_id
            .remove(&event.event_id)
            .expect("unknown or duplicate event");
        assert_eq!(event, stored);
        let last = last_version.entry(event.stream_id.clone()).or_insert(0);
        assert_eq!(event.stream_version, *last + 1);
        *last = event.stream_version;
    }
    assert!(by_id.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumer_group_builds_the_same_read_models_as_the_log() {
    let config = config();
    topic(&config).await;
    let db = TestDatabase::create().await;
    let store: Arc<dyn EventStore> = Arc::new(PgEventStore::new(db.pool.clone()));
    let handler = CommandHandler::new(store.clone());
    let projector = Projector::new(db.pool.clone(), registry::all());

    let shutdown = CancellationToken::new();
    let relay = Relay::new(
        store.clone(),
        db.pool.clone(),
        config.clone(),
        RelayOptions::default(),
    )
    .unwrap();
    let relay_task = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { relay.run(shutdown).await.unwrap() }
    });
    // Two workers in one group share the partitions.
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (config, projector, shutdown) =
                (config.clone(), projector.clone(), shutdown.clone());
            tokio::spawn(async move { consumer::run(&config, projector, shutdown).await.unwrap() })
        })
        .collect();

    some_business(&handler, 15).await;
    let head = store.head_position().await.unwrap();
    for projection in registry::all() {
        assert!(
            projector::wait_for(
                &*store,
                &db.pool,
                &*projection,
                head,
                Duration::from_secs(90)
            )
            .await
            .unwrap(),
            "{} did not catch up through Kafka",
            projection.name()
        );
    }
    shutdown.cancel();
    relay_task.await.unwrap();
    for w in workers {
        w.await.unwrap();
    }
    let via_kafka = projector::snapshot(&db.pool).await.unwrap();

    projector::reset(&db.pool).await.unwrap();
    let log = store.read_all(0, 100_000).await.unwrap();
    projector.apply_batch(&log, None).await.unwrap();
    assert_eq!(projector::snapshot(&db.pool).await.unwrap(), via_kafka);
    assert_eq!(via_kafka["orders"].as_array().unwrap().len(), 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_names_a_partition_with_records_nobody_commits() {
    use rdkafka::consumer::CommitMode;
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let config = config();
    topic(&config).await;
    // A record on partitions 0 and 1; partition 2 stays empty.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .create()
        .unwrap();
    for partition in [0, 1] {
        producer
            .send(
                FutureRecord::to(&config.topic)
                    .partition(partition)
                    .key("k")
                    .payload("v"),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    // A member of the group consumes both, but commits only partition 0's.
    let member = consumer::subscribe(&config).unwrap();
    let mut seen = 0;
    while seen < 2 {
        let m = tokio::time::timeout(Duration::from_secs(30), member.recv())
            .await
            .expect("both records arrive")
            .unwrap();
        seen += 1;
        if m.partition() == 0 {
            member.store_offset_from_message(&m).unwrap();
        }
    }
    member.commit_consumer_state(CommitMode::Sync).unwrap();
    drop(member);

    let mut watchdog = consumer::Watchdog::new(&config).unwrap();
    // The clock starts at the first look: nothing has stalled for a minute yet.
    assert!(watchdog
        .stalled(Duration::from_secs(60))
        .unwrap()
        .is_empty());
    // Partition 1 has a record waiting and no progress; 0 is done, 2 is empty.
    assert_eq!(watchdog.stalled(Duration::ZERO).unwrap(), [1]);
}
