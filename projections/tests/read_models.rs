//! Projections against a real PostgreSQL, fed from the event store's log.

use std::sync::Arc;
use std::time::Duration;

use commands::{CommandContext, CommandHandler};
use domain::product::ProductDetails;
use domain::values::Currency;
use domain::{Money, Quantity, Sku};
use events::testing::TestDatabase;
use events::{EventStore, PgEventStore};
use projections::projector::{self, has_reached, snapshot};
use projections::{carts, catalog, customer_orders, orders, registry, Projection, Projector};

fn ctx() -> CommandContext {
    CommandContext::new(None)
}
fn eur(m: i64) -> Money {
    Money::new(m, Currency::parse("EUR").unwrap()).unwrap()
}
fn q(n: i64) -> Quantity {
    Quantity::new(n).unwrap()
}
fn sku(s: &str) -> Sku {
    Sku::parse(s).unwrap()
}

struct Shop {
    db: TestDatabase,
    store: Arc<dyn EventStore>,
    handler: CommandHandler,
    projector: Projector,
}

async fn shop() -> Shop {
    let db = TestDatabase::create().await;
    let store = Arc::new(PgEventStore::new(db.pool.clone()));
    shop_on(db, store)
}

/// A shop whose log is `store`, with read models in `db`.
fn shop_on(db: TestDatabase, store: Arc<dyn EventStore>) -> Shop {
    let handler = CommandHandler::new(store.clone());
    let projector = Projector::new(db.pool.clone(), registry::all());
    Shop {
        db,
        store,
        handler,
        projector,
    }
}

impl Shop {
    /// Starts the log follower, polling every `poll` when idle; stop it with the token.
    fn follow(
        &self,
        poll: Duration,
    ) -> (
        tokio_util::sync::CancellationToken,
        tokio::task::JoinHandle<()>,
    ) {
        let shutdown = tokio_util::sync::CancellationToken::new();
        let follower = tokio::spawn(projections::follow::follow_log(
            self.store.clone(),
            self.projector.clone(),
            50,
            poll,
            shutdown.clone(),
        ));
        (shutdown, follower)
    }

    /// Whether the catalog reaches the log's head within 20 s.
    async fn catalog_at_head(&self) -> bool {
        let head = self.store.head_position().await.unwrap();
        let catalog: &dyn Projection = &catalog::CatalogProjection;
        projector::wait_for(
            &*self.store,
            &self.db.pool,
            catalog,
            head,
            Duration::from_secs(20),
        )
        .await
        .unwrap()
    }

    /// Projects everything in the log, in batches of `batch`.
    async fn catch_up(&self, batch: usize) -> usize {
        let mut after = self.projector.checkpoint("test").await.unwrap();
        let mut applied = 0;
        loop {
            let events = self.store.read_all(after, batch).await.unwrap();
            if events.is_empty() {
                return applied;
            }
            applied += self
                .projector
                .apply_batch(&events, Some("test"))
                .await
                .unwrap();
            after = events.last().unwrap().global_position;
        }
    }

    async fn product(&self, s: &str, price: i64, stock: i64) {
        commands::testing::category(&self.handler, "kitchen").await;
        let details = ProductDetails::new(&format!("{s} name"), "d", "kitchen").unwrap();
        self.handler
            .create_product(
                &ctx(),
                domain::AccountId::from_uuid(uuid::Uuid::nil()),
                sku(s),
                details,
                eur(price),
                domain::product::Editor::Admin,
            )
            .await
            .unwrap();
        self.handler
            .receive_stock(&ctx(), sku(s), q(stock))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn read_models_follow_the_journey() {
    let shop = shop().await;
    shop.product("MUG", 900, 10).await;
    shop.product("CUP", 300, 5).await;
    let customer = commands::testing::customer(&shop.handler).await;
    shop.handler
        .add_to_cart(&ctx(), customer, sku("MUG"), q(2))
        .await
        .unwrap();
    shop.handler
        .add_to_cart(&ctx(), customer, sku("CUP"), q(1))
        .await
        .unwrap();
    shop.catch_up(100).await;

    let cart = carts::get_cart(&shop.db.pool, customer.as_uuid())
        .await
        .unwrap();
    assert_eq!(cart.lines.len(), 2);
    assert_eq!(cart.lines[0].sku, "MUG");
    assert_eq!(cart.subtotal.as_ref().unwrap().amount_minor, 2100);

    let (order_id, placed) = shop
        .handler
        .place_order(&ctx(), customer, None, &Default::default())
        .await
        .unwrap();
    let projection: &dyn Projection = &carts::CartProjection;
    assert!(!has_reached(
        &*shop.store,
        &shop.db.pool,
        projection,
        placed.global_position.unwrap()
    )
    .await
    .unwrap());
    shop.catch_up(3).await;
    assert!(has_reached(
        &*shop.store,
        &shop.db.pool,
        projection,
        placed.global_position.unwrap()
    )
    .await
    .unwrap());

    let order = orders::get_order(&shop.db.pool, order_id.as_uuid())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.status, domain::order::OrderStatus::Placed);
    assert_eq!(order.total_minor, 2100);
    assert_eq!(order.lines.len(), 2);
    let mug = catalog::get_product(&shop.db.pool, "MUG")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mug.product.stock_on_hand, 8);
    let cart = carts::get_cart(&shop.db.pool, customer.as_uuid())
        .await
        .unwrap();
    assert!(cart.lines.is_empty());
    assert_eq!(cart.last_order_id, Some(order_id.as_uuid()));

    shop.handler
        .cancel_order(
            &ctx(),
            order_id,
            None,
            domain::text::Reason::parse("no longer needed").unwrap(),
        )
        .await
        .unwrap();
    shop.catch_up(100).await;
    let mug = catalog::get_product(&shop.db.pool, "MUG")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mug.product.stock_on_hand, 10);
    let list = customer_orders::list_customer_orders(&shop.db.pool, customer.as_uuid(), 10, None)
        .await
        .unwrap();
    assert_eq!(list.items[0].status, domain::order::OrderStatus::Cancelled);
    assert_eq!(list.items[0].item_count, 3);
}

#[tokio::test]
async fn redelivered_events_change_nothing() {
    let shop = shop().await;
    shop.product("MUG", 900, 10).await;
    let customer = commands::testing::customer(&shop.handler).await;
    shop.handler
        .add_to_cart(&ctx(), customer, sku("MUG"), q(2))
        .await
        .unwrap();
    shop.handler
        .place_order(&ctx(), customer, None, &Default::default())
        .await
        .unwrap();
    let first = shop.catch_up(100).await;
    assert!(first > 0);
    let before = snapshot(&shop.db.pool).await.unwrap();

    // Deliver the whole log again, in different batch shapes.
    let all = shop.store.read_all(0, 1000).await.unwrap();
    assert_eq!(shop.projector.apply_batch(&all, None).await.unwrap(), 0);
    for event in &all {
        assert_eq!(
            shop.projector
                .apply_batch(std::slice::from_ref(event), None)
                .await
                .unwrap(),
            0
        );
    }
    assert_eq!(snapshot(&shop.db.pool).await.unwrap(), before);

    // A full reset and re-projection gives the same read models.
    projector::reset(&shop.db.pool).await.unwrap();
    assert_eq!(shop.catch_up(1).await, first);
    assert_eq!(snapshot(&shop.db.pool).await.unwrap(), before);
}

#[tokio::test]
async fn customer_orders_page_by_keyset() {
    let shop = shop().await;
    shop.product("MUG", 100, 100).await;
    let customer = commands::testing::customer(&shop.handler).await;
    let mut placed = Vec::new();
    for _ in 0..5 {
        shop.handler
            .add_to_cart(&ctx(), customer, sku("MUG"), q(1))
            .await
            .unwrap();
        placed.push(
            shop.handler
                .place_order(&ctx(), customer, None, &Default::default())
                .await
                .unwrap()
                .0,
        );
    }
    shop.catch_up(100).await;
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page =
            customer_orders::list_customer_orders(&shop.db.pool, customer.as_uuid(), 2, cursor)
                .await
                .unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|o| o.order_id));
        match page.next_cursor {
            Some(c) => cursor = customer_orders::Cursor::decode(&c),
            None => break,
        }
    }
    placed.reverse();
    assert_eq!(seen, placed.iter().map(|o| o.as_uuid()).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_log_follower_projects_and_checkpoints() {
    let shop = shop().await;
    shop.product("MUG", 900, 4).await;
    let (shutdown, follower) = shop.follow(Duration::from_millis(10));
    let head = shop.store.head_position().await.unwrap();
    assert!(shop.catalog_at_head().await);
    shutdown.cancel();
    follower.await.unwrap();
    assert_eq!(
        shop.projector
            .checkpoint(projections::follow::LOG_CHECKPOINT)
            .await
            .unwrap(),
        head
    );
    let mug = catalog::get_product(&shop.db.pool, "MUG")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mug.product.stock_on_hand, 4);
}

/// The follower wakes on the commit: with a polling interval of ten minutes, what is appended
/// after it went idle still reaches the read models at once, on PostgreSQL (LISTEN/NOTIFY)
/// and on the in-memory store alike.
#[tokio::test]
async fn the_log_follower_wakes_on_the_commit() {
    let on_postgres = shop().await;
    let in_memory = shop_on(
        TestDatabase::create().await,
        Arc::new(events::MemoryEventStore::new()),
    );
    for shop in [&on_postgres, &in_memory] {
        let (shutdown, follower) = shop.follow(Duration::from_secs(600));
        for (n, s) in ["MUG", "CUP"].into_iter().enumerate() {
            // The follower has gone idle: it has projected everything before this product.
            assert!(shop.catalog_at_head().await);
            shop.product(s, 900, 4 + n as i64).await;
            assert!(
                shop.catalog_at_head().await,
                "{s} reached the catalog without waiting for the polling interval"
            );
        }
        shutdown.cancel();
        follower.await.unwrap();
    }
}

/// Each projection batch notifies on its commit, and a read-your-writes wait woken by those
/// notifications answers as soon as the batch it waits for is in.
#[tokio::test]
async fn a_projection_batch_wakes_read_your_writes_waits() {
    let shop = shop().await;
    let mut projected =
        events::postgres::notifications(&shop.db.pool, projections::projector::PROJECTED_CHANNEL);
    // The listener is connected once it has said so (its first wake-up).
    tokio::time::timeout(Duration::from_secs(10), projected.changed())
        .await
        .expect("the listener connects")
        .unwrap();
    shop.product("MUG", 900, 4).await;
    let head = shop.store.head_position().await.unwrap();
    let catalog: &dyn Projection = &catalog::CatalogProjection;
    let waiting = projector::waken_for(
        &*shop.store,
        &shop.db.pool,
        catalog,
        head,
        Duration::from_secs(20),
        Some(projected.clone()),
    );
    let (reached, applied) = tokio::join!(waiting, shop.catch_up(1));
    assert!(reached.unwrap());
    assert!(applied > 0);
    // Every batch notified: the signal moved.
    tokio::time::timeout(Duration::from_secs(10), projected.changed())
        .await
        .expect("a batch's commit is notified")
        .unwrap();
}

/// With the log outside the read models' database (as on EventStoreDB, here the in-memory
/// store), read-your-writes compares the log read through the store port with the projection's
/// per-stream versions, and the order history walks the streams an order names.
#[tokio::test]
async fn read_your_writes_and_history_through_the_store_port() {
    let db = TestDatabase::create().await;
    let store: Arc<dyn EventStore> = Arc::new(events::MemoryEventStore::new());
    let shop = shop_on(db, store.clone());
    shop.product("MUG", 900, 10).await;
    shop.product("CUP", 300, 5).await;
    let customer = commands::testing::customer(&shop.handler).await;
    for s in ["MUG", "CUP"] {
        shop.handler
            .add_to_cart(&ctx(), customer, sku(s), q(1))
            .await
            .unwrap();
    }
    let (order_id, placed) = shop
        .handler
        .place_order(&ctx(), customer, None, &Default::default())
        .await
        .unwrap();
    let position = placed.global_position.unwrap();
    let orders: &dyn Projection = &orders::OrderProjection;
    assert_eq!(orders.name(), "orders");

    // Nothing projected: behind, and a bounded wait says so.
    assert!(
        !projector::has_reached(&*store, &shop.db.pool, orders, position)
            .await
            .unwrap()
    );
    assert!(!projector::wait_for(
        &*store,
        &shop.db.pool,
        orders,
        position,
        Duration::from_millis(50)
    )
    .await
    .unwrap());
    // Everything but the order's own events: still behind.
    let (own, others): (Vec<_>, Vec<_>) = store
        .read_all(0, 1_000)
        .await
        .unwrap()
        .into_iter()
        .partition(|e| e.category() == "order");
    shop.projector.apply_batch(&others, None).await.unwrap();
    assert!(
        !projector::has_reached(&*store, &shop.db.pool, orders, position)
            .await
            .unwrap()
    );
    shop.projector.apply_batch(&own, None).await.unwrap();
    assert!(
        projector::has_reached(&*store, &shop.db.pool, orders, position)
            .await
            .unwrap()
    );
    // A position beyond the head is reached, but the watermark stays at the head, so an event
    // appended later is waited for.
    assert!(
        projector::has_reached(&*store, &shop.db.pool, orders, position + 100)
            .await
            .unwrap()
    );
    let paid = shop
        .handler
        .pay_order(
            &ctx(),
            order_id,
            None,
            eur(1200),
            domain::text::PaymentReference::parse("psp-1").unwrap(),
            domain::order::PaymentMethod::Card,
        )
        .await
        .unwrap();
    assert!(!projector::has_reached(
        &*store,
        &shop.db.pool,
        orders,
        paid.global_position.unwrap()
    )
    .await
    .unwrap());

    // The history: the order's events and those of the cart and inventories naming it.
    let history = events::history::order_history(&*store, order_id)
        .await
        .unwrap();
    let types: Vec<_> = history.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "OrderPlaced",
            "OrderSplitIntoFulfilments",
            "CartCheckedOut",
            "StockReserved",
            "StockReserved",
            "OrderPaid"
        ],
        "{history:#?}"
    );
    assert!(history
        .windows(2)
        .all(|w| w[0].global_position < w[1].global_position));
}

/// Every kind of change the set-based projections fold (cart lines added, changed, removed,
/// cleared and checked out; registrations between role changes; addresses added, changed,
/// made default and removed; orders placed, paid, shipped, delivered and cancelled; stock
/// received, reserved, released, adjusted and its threshold), for several customers at once.
async fn busy_log(shop: &Shop) {
    use domain::account::{AccountCommand, Role};
    use domain::text::DisplayName;
    use domain::text::{Carrier, PaymentReference, Reason, TrackingNumber};
    shop.product("MUG", 900, 50).await;
    shop.product("CUP", 300, 50).await;
    let mut customers = Vec::new();
    for _ in 0..3 {
        customers.push(commands::testing::customer(&shop.handler).await);
    }
    let h = &shop.handler;
    for (n, customer) in customers.iter().copied().enumerate() {
        let account = domain::AccountId::from_uuid(customer.as_uuid());
        h.account_command(&ctx(), account, AccountCommand::GrantRole(Role::Seller))
            .await
            .unwrap();
        let name = DisplayName::parse(&format!("Shopper {n}")).unwrap();
        h.account_command(
            &ctx(),
            account,
            AccountCommand::ChangeProfile { display_name: name },
        )
        .await
        .unwrap();
        let (second, _) = h
            .add_address(&ctx(), customer, commands::testing::address(), false)
            .await
            .unwrap();
        h.make_default_address(&ctx(), customer, second)
            .await
            .unwrap();
        h.add_to_cart(&ctx(), customer, sku("MUG"), q(1))
            .await
            .unwrap();
        h.add_to_cart(&ctx(), customer, sku("MUG"), q(2))
            .await
            .unwrap();
        h.add_to_cart(&ctx(), customer, sku("CUP"), q(1))
            .await
            .unwrap();
        h.change_cart_quantity(&ctx(), customer, sku("CUP"), q(4))
            .await
            .unwrap();
        if n == 1 {
            h.clear_cart(&ctx(), customer).await.unwrap();
            h.add_to_cart(&ctx(), customer, sku("CUP"), q(2))
                .await
                .unwrap();
            h.add_to_cart(&ctx(), customer, sku("MUG"), q(5))
                .await
                .unwrap();
        }
        h.remove_from_cart(&ctx(), customer, sku("MUG"))
            .await
            .unwrap();
        let (order, placed) = h
            .place_order(&ctx(), customer, None, &Default::default())
            .await
            .unwrap();
        let events = shop
            .store
            .read_stream(&format!("order-{order}"), 1)
            .await
            .unwrap();
        let total = &events[0].payload["total"];
        assert!(placed.global_position.is_some());
        let total = Money::new(
            total["amount_minor"].as_i64().unwrap(),
            Currency::parse(total["currency"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
        match n {
            0 => {
                h.cancel_order(&ctx(), order, None, Reason::parse("changed mind").unwrap())
                    .await
                    .unwrap();
            }
            _ => {
                h.pay_order(
                    &ctx(),
                    order,
                    None,
                    total,
                    PaymentReference::parse("pay-1").unwrap(),
                    domain::order::PaymentMethod::Card,
                )
                .await
                .unwrap();
                h.ship_order(
                    &ctx(),
                    order,
                    None,
                    Carrier::parse("DHL").unwrap(),
                    TrackingNumber::parse("T-1").unwrap(),
                )
                .await
                .unwrap();
                h.deliver_order(&ctx(), order, None).await.unwrap();
            }
        }
        h.add_to_cart(&ctx(), customer, sku("MUG"), q(1))
            .await
            .unwrap();
        h.remove_address(&ctx(), customer, second).await.unwrap();
        h.account_command(&ctx(), account, AccountCommand::RevokeRole(Role::Seller))
            .await
            .unwrap();
    }
    h.adjust_stock(
        &ctx(),
        sku("MUG"),
        domain::inventory::StockChange::new(-3).unwrap(),
        Reason::parse("breakage").unwrap(),
    )
    .await
    .unwrap();
    h.set_low_stock_threshold(
        &ctx(),
        sku("MUG"),
        domain::inventory::LowStockThreshold::new(7).unwrap(),
    )
    .await
    .unwrap();
    h.receive_stock(&ctx(), sku("CUP"), q(5)).await.unwrap();
}

#[tokio::test]
async fn one_batch_equals_the_events_one_by_one() {
    let shop = shop().await;
    busy_log(&shop).await;
    let head = shop.store.head_position().await.unwrap();

    // Event by event: the reference.
    let applied = shop.catch_up(1).await;
    let one_by_one = snapshot(&shop.db.pool).await.unwrap();
    let carts = one_by_one["cart_lines"].as_array().unwrap().len();
    assert!(carts >= 3, "every customer has a line left: {carts}");

    // The whole log as one batch: the same read models, the same count of changes.
    projector::reset(&shop.db.pool).await.unwrap();
    let all = shop.store.read_all(0, 10_000).await.unwrap();
    assert_eq!(all.last().unwrap().global_position, head);
    assert_eq!(
        shop.projector.apply_batch(&all, None).await.unwrap(),
        applied
    );
    assert_eq!(snapshot(&shop.db.pool).await.unwrap(), one_by_one);

    // Batches of odd sizes that overlap what was applied, with events delivered twice inside
    // one batch: only the fresh ones change anything.
    projector::reset(&shop.db.pool).await.unwrap();
    let mut total = 0;
    let mut start = 0;
    while start < all.len() {
        let end = (start + 7).min(all.len());
        let mut batch: Vec<_> = all[start.saturating_sub(3)..end].to_vec();
        batch.extend_from_slice(&all[start..end]);
        batch.sort_by_key(|e| e.global_position);
        total += shop.projector.apply_batch(&batch, None).await.unwrap();
        start = end;
    }
    assert_eq!(total, applied);
    assert_eq!(snapshot(&shop.db.pool).await.unwrap(), one_by_one);
}
