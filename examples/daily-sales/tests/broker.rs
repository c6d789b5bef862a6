//! The example consumer against the real broker, fed by the engine's own relay.

use std::sync::Arc;
use std::time::{Duration, Instant};

use commands::{CommandContext, CommandHandler};
use daily_sales::{consume, DailySales};
use domain::product::ProductDetails;
use domain::values::Currency;
use domain::{AccountId, Money, Quantity, Sku};
use events::testing::TestDatabase;
use events::{EventStore, PgEventStore};
use kafka::relay::{Relay, RelayOptions};
use kafka::KafkaConfig;
use tokio_util::sync::CancellationToken;

fn ctx() -> CommandContext {
    CommandContext::new(None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn daily_sales_from_the_topic() {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let config = KafkaConfig {
        brokers: std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into()),
        topic: format!("sales-{id}"),
        group_id: format!("sales-{id}"),
        partitions: 3,
        replication: 1,
    };
    tokio::time::timeout(Duration::from_secs(20), kafka::admin::ensure_topic(&config))
        .await
        .expect("a Kafka broker answers at KAFKA_BROKERS")
        .expect("a Kafka broker is required");
    let db = TestDatabase::create().await;
    let store: Arc<dyn EventStore> = Arc::new(PgEventStore::new(db.pool.clone()));
    let handler = CommandHandler::new(store.clone());
    let eur = Currency::parse("EUR").unwrap();
    commands::testing::category(&handler, "c").await;
    for (sku, price) in [("TEA", 450), ("CUP", 300)] {
        let details = ProductDetails::new(sku, "", "c").unwrap();
        let sku = Sku::parse(sku).unwrap();
        handler
            .create_product(
                &ctx(),
                AccountId::from_uuid(uuid::Uuid::nil()),
                sku.clone(),
                details,
                Money::new(price, eur).unwrap(),
                domain::product::Editor::Admin,
            )
            .await
            .unwrap();
        handler
            .receive_stock(&ctx(), sku, Quantity::new(100).unwrap())
            .await
            .unwrap();
    }
    // Three orders: 2 TEA + 1 CUP, 3 TEA, 1 CUP (the last cancelled).
    let mut orders = Vec::new();
    for lines in [
        vec![("TEA", 2), ("CUP", 1)],
        vec![("TEA", 3)],
        vec![("CUP", 1)],
    ] {
        let customer = commands::testing::customer(&handler).await;
        for (sku, n) in lines {
            handler
                .add_to_cart(
                    &ctx(),
                    customer,
                    Sku::parse(sku).unwrap(),
                    Quantity::new(n).unwrap(),
                )
                .await
                .unwrap();
        }
        orders.push(
            handler
                .place_order(&ctx(), customer, None, &Default::default())
                .await
                .unwrap()
                .0,
        );
    }
    handler
        .cancel_order(
            &ctx(),
            orders[2],
            None,
            domain::text::Reason::parse("changed mind").unwrap(),
        )
        .await
        .unwrap();

    // The engine's relay publishes the log.
    let head = store.head_position().await.unwrap();
    let relay = Arc::new(
        Relay::new(
            store.clone(),
            db.pool.clone(),
            config.clone(),
            RelayOptions::default(),
        )
        .unwrap(),
    );
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let (relay, stop) = (relay.clone(), stop.clone());
        async move { relay.run(stop).await.unwrap() }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while relay.checkpoint().await.unwrap() < head {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    task.await.unwrap();

    let mut sales = DailySales::default();
    let records = consume(
        &config.brokers,
        &config.topic,
        &config.group_id,
        Duration::from_secs(3),
        &mut sales,
    )
    .await
    .unwrap();
    assert_eq!(records as i64, head, "every event reached the consumer");
    let today = chrono::Utc::now().date_naive();
    let tea = &sales.totals()[&(today, "TEA".to_owned())];
    let cup = &sales.totals()[&(today, "CUP".to_owned())];
    assert_eq!((tea.units, tea.revenue_minor), (5, 2250));
    assert_eq!(
        (cup.units, cup.revenue_minor),
        (1, 300),
        "the cancelled cup is taken back"
    );
    assert!(sales.report().contains("TEA"));

    // Redelivery of the whole topic (a new group) changes nothing.
    let before = sales.totals().clone();
    consume(
        &config.brokers,
        &config.topic,
        &format!("{}-again", config.group_id),
        Duration::from_secs(3),
        &mut sales,
    )
    .await
    .unwrap();
    assert_eq!(sales.totals(), &before);
}
