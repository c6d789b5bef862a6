//! Command handlers against the in-memory event store, and snapshots against PostgreSQL.

use std::sync::Arc;

use commands::testing::customer;
use commands::{CommandContext, CommandError, CommandHandler, Missing, Rejection};
use domain::checkout::CheckoutError;
use domain::inventory::InventoryError;
use domain::text::{Carrier, PaymentReference, Reason, TrackingNumber};
use domain::values::Currency;
use domain::{CustomerId, Money, Quantity, Sku};
use events::{EventStore, MemoryEventStore};

fn ctx() -> CommandContext {
    CommandContext::new(Some("test".into()))
}
fn sku(s: &str) -> Sku {
    Sku::parse(s).unwrap()
}
fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::parse("EUR").unwrap()).unwrap()
}
fn qty(n: i64) -> Quantity {
    Quantity::new(n).unwrap()
}

async fn shop(stock: i64) -> (CommandHandler, Arc<MemoryEventStore>) {
    let store = Arc::new(MemoryEventStore::new());
    let handler = CommandHandler::new(store.clone());
    commands::testing::product(&handler, "MUG", 900, stock).await;
    (handler, store)
}

#[tokio::test]
async fn journey_from_cart_to_delivery() {
    let (handler, store) = shop(5).await;
    let customer = customer(&handler).await;
    handler
        .add_to_cart(&ctx(), customer, sku("MUG"), qty(2))
        .await
        .unwrap();
    // The price at placement time wins over the price when added.
    handler
        .change_price(&ctx(), sku("MUG"), eur(1000))
        .await
        .unwrap();
    let (order_id, placed) = handler
        .place_order(&ctx(), customer, None, &Default::default())
        .await
        .unwrap();
    // OrderPlaced and OrderSplitIntoFulfilments.
    assert_eq!(placed.stream_version, 2);
    let order_stream = format!("order-{order_id}");
    let events = store.read_stream(&order_stream, 1).await.unwrap();
    assert_eq!(events[0].payload["total"]["amount_minor"], 2000);
    assert_eq!(events[0].metadata.actor.as_deref(), Some("test"));
    assert_eq!(placed.global_position, store.head_position().await.ok());

    // The cart is empty and stock reserved.
    let cart = store
        .read_stream(&format!("cart-{customer}"), 1)
        .await
        .unwrap();
    assert_eq!(cart.last().unwrap().event_type, "CartCheckedOut");
    let inventory = store.read_stream("inventory-MUG", 1).await.unwrap();
    assert_eq!(inventory.last().unwrap().event_type, "StockReserved");

    handler
        .pay_order(
            &ctx(),
            order_id,
            None,
            eur(2000),
            PaymentReference::parse("psp-1").unwrap(),
            domain::order::PaymentMethod::Card,
        )
        .await
        .unwrap();
    handler
        .ship_order(
            &ctx(),
            order_id,
            None,
            Carrier::parse("DHL").unwrap(),
            TrackingNumber::parse("T1").unwrap(),
        )
        .await
        .unwrap();
    let delivered = handler.deliver_order(&ctx(), order_id, None).await.unwrap();
    // Placed, split, paid, the one part shipped and the order shipped, then both delivered.
    assert_eq!(delivered.stream_version, 7);
}

#[tokio::test]
async fn cancelling_releases_stock_for_the_next_customer() {
    let (handler, store) = shop(1).await;
    let first = customer(&handler).await;
    handler
        .add_to_cart(&ctx(), first, sku("MUG"), qty(1))
        .await
        .unwrap();
    let (order_id, _) = handler
        .place_order(&ctx(), first, None, &Default::default())
        .await
        .unwrap();

    let second = customer(&handler).await;
    handler
        .add_to_cart(&ctx(), second, sku("MUG"), qty(1))
        .await
        .unwrap();
    let refused = handler
        .place_order(&ctx(), second, None, &Default::default())
        .await;
    assert!(matches!(
        refused,
        Err(CommandError::Rejected(Rejection::Checkout(
            CheckoutError::Inventory(InventoryError::InsufficientStock { available: 0, .. })
        )))
    ));

    handler
        .cancel_order(
            &ctx(),
            order_id,
            None,
            Reason::parse("changed my mind").unwrap(),
        )
        .await
        .unwrap();
    let inventory = store.read_stream("inventory-MUG", 1).await.unwrap();
    assert_eq!(inventory.last().unwrap().event_type, "StockReleased");
    handler
        .place_order(&ctx(), second, None, &Default::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_pinned_version_that_moved_is_a_conflict() {
    let (handler, _) = shop(5).await;
    let customer = customer(&handler).await;
    handler
        .add_to_cart(&ctx(), customer, sku("MUG"), qty(1))
        .await
        .unwrap();
    let (order_id, placed) = handler
        .place_order(&ctx(), customer, None, &Default::default())
        .await
        .unwrap();
    let stale = Some(placed.stream_version + 1);
    match handler
        .pay_order(
            &ctx(),
            order_id,
            stale,
            eur(900),
            PaymentReference::parse("psp").unwrap(),
            domain::order::PaymentMethod::Card,
        )
        .await
    {
        Err(CommandError::Conflict { actual, .. }) => assert_eq!(actual, 2),
        other => panic!("expected a conflict, got {other:?}"),
    }
    handler
        .pay_order(
            &ctx(),
            order_id,
            Some(2),
            eur(900),
            PaymentReference::parse("psp").unwrap(),
            domain::order::PaymentMethod::Card,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_retried_order_with_the_same_key_is_placed_once() {
    let (handler, store) = shop(5).await;
    let customer = customer(&handler).await;
    handler
        .add_to_cart(&ctx(), customer, sku("MUG"), qty(1))
        .await
        .unwrap();
    let (first_id, first) = handler
        .place_order(&ctx(), customer, Some("key-1"), &Default::default())
        .await
        .unwrap();
    let (again_id, again) = handler
        .place_order(&ctx(), customer, Some("key-1"), &Default::default())
        .await
        .unwrap();
    assert_eq!(first_id, again_id);
    assert!(again.replayed && !first.replayed);
    assert!(again.global_position >= first.global_position);
    let reservations = store
        .read_stream("inventory-MUG", 1)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "StockReserved")
        .count();
    assert_eq!(reservations, 1);
}

#[tokio::test]
async fn unknown_products_and_orders_are_reported() {
    let (handler, _) = shop(1).await;
    let customer = customer(&handler).await;
    assert!(matches!(
        handler
            .add_to_cart(&ctx(), customer, sku("NOPE"), qty(1))
            .await,
        Err(CommandError::Rejected(Rejection::UnknownProduct(_)))
    ));
    assert!(matches!(
        handler.receive_stock(&ctx(), sku("NOPE"), qty(1)).await,
        Err(CommandError::NotFound(Missing::Product))
    ));
    assert!(matches!(
        handler
            .deliver_order(&ctx(), domain::OrderId::generate(), None)
            .await,
        Err(CommandError::NotFound(Missing::Order))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_orders_never_oversell() {
    let (handler, store) = shop(3).await;
    let customers: Vec<_> = futures::future::join_all((0..10).map(|_| customer(&handler))).await;
    for c in &customers {
        handler
            .add_to_cart(&ctx(), *c, sku("MUG"), qty(1))
            .await
            .unwrap();
    }
    let results = futures::future::join_all(customers.iter().map(|c| {
        let handler = handler.clone();
        let c = *c;
        tokio::spawn(async move {
            handler
                .place_order(&ctx(), c, None, &Default::default())
                .await
        })
    }))
    .await;
    let placed = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    assert_eq!(placed, 3);
    let reserved = store
        .read_stream("inventory-MUG", 1)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event_type == "StockReserved")
        .count();
    assert_eq!(reserved, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_with_one_key_all_answer_with_the_one_order() {
    let (handler, store) = shop(5).await;
    let customer = customer(&handler).await;
    handler
        .add_to_cart(&ctx(), customer, sku("MUG"), qty(1))
        .await
        .unwrap();
    let results = futures::future::join_all((0..10).map(|_| {
        let handler = handler.clone();
        tokio::spawn(async move {
            handler
                .place_order(&ctx(), customer, Some("retry"), &Default::default())
                .await
        })
    }))
    .await;
    let ids: Vec<_> = results
        .into_iter()
        .map(|r| r.unwrap().expect("every retry answers with the order").0)
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]));
    let reservations = store
        .read_stream("inventory-MUG", 1)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event_type == "StockReserved")
        .count();
    assert_eq!(reservations, 1);
}

#[tokio::test]
async fn carts_and_orders_need_an_open_customer_account() {
    let (handler, _) = shop(5).await;
    let nobody = CustomerId::generate();
    assert!(matches!(
        handler
            .add_to_cart(&ctx(), nobody, sku("MUG"), qty(1))
            .await,
        Err(CommandError::NotFound(Missing::Customer))
    ));
    assert!(matches!(
        handler
            .place_order(&ctx(), nobody, None, &Default::default())
            .await,
        Err(CommandError::NotFound(Missing::Customer))
    ));
    let closing = customer(&handler).await;
    handler
        .add_to_cart(&ctx(), closing, sku("MUG"), qty(1))
        .await
        .unwrap();
    handler
        .close_account(&ctx(), domain::AccountId::from_uuid(closing.as_uuid()))
        .await
        .unwrap();
    assert!(matches!(
        handler
            .place_order(&ctx(), closing, None, &Default::default())
            .await,
        Err(CommandError::NotFound(Missing::Customer))
    ));
    assert!(matches!(
        handler.clear_cart(&ctx(), closing).await,
        Err(CommandError::NotFound(Missing::Customer))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_credit_never_goes_below_zero_under_concurrency() {
    let (handler, store) = shop(10).await;
    let customer = customer(&handler).await;
    let account = domain::AccountId::from_uuid(customer.as_uuid());
    let reason = || Reason::parse("test").unwrap();
    handler
        .grant_credit(&ctx(), account, eur(1000), reason())
        .await
        .unwrap();
    handler
        .add_to_cart(&ctx(), customer, sku("MUG"), qty(1))
        .await
        .unwrap();
    // Eight withdrawals of 300 and a checkout spending 400 race for 1000 of credit.
    let withdrawals = (0..8).map(|_| {
        let handler = handler.clone();
        tokio::spawn(async move {
            handler
                .withdraw_credit(&ctx(), account, eur(300), reason())
                .await
                .map(|_| 300)
        })
    });
    let checkout = {
        let handler = handler.clone();
        tokio::spawn(async move {
            let with_credit = commands::Checkout {
                store_credit: Some(eur(400)),
                ..Default::default()
            };
            handler
                .place_order(&ctx(), customer, None, &with_credit)
                .await
                .map(|_| 400)
        })
    };
    let mut spent = 0;
    for result in futures::future::join_all(withdrawals.chain([checkout])).await {
        match result.unwrap() {
            Ok(amount) => spent += amount,
            Err(CommandError::Rejected(Rejection::Wallet(_)))
            | Err(CommandError::Rejected(Rejection::Checkout(CheckoutError::Wallet(_)))) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    let mut balance = 0_i64;
    for e in store
        .read_stream(&format!("wallet-{account}"), 1)
        .await
        .unwrap()
    {
        let amount = e.payload["amount"]["amount_minor"].as_i64().unwrap();
        balance += if matches!(e.event_type.as_str(), "CreditGranted" | "CreditReturned") {
            amount
        } else {
            -amount
        };
        assert!(
            balance >= 0,
            "the balance went below zero at {}",
            e.stream_version
        );
    }
    assert_eq!(balance, 1000 - spent);
    assert!(spent > 600, "as much as fits was spent: {spent}");
}

#[tokio::test]
async fn credit_paid_orders_return_their_credit_when_cancelled() {
    let (handler, store) = shop(5).await;
    let customer = customer(&handler).await;
    let account = domain::AccountId::from_uuid(customer.as_uuid());
    handler
        .grant_credit(
            &ctx(),
            account,
            eur(2000),
            Reason::parse("welcome").unwrap(),
        )
        .await
        .unwrap();
    handler
        .add_to_cart(&ctx(), customer, sku("MUG"), qty(1))
        .await
        .unwrap();
    let full = commands::Checkout {
        store_credit: Some(eur(900)),
        ..Default::default()
    };
    let (order_id, _) = handler
        .place_order(&ctx(), customer, None, &full)
        .await
        .unwrap();
    let order = store
        .read_stream(&format!("order-{order_id}"), 1)
        .await
        .unwrap();
    let types: Vec<_> = order.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["OrderPlaced", "OrderSplitIntoFulfilments", "OrderPaid"]
    );
    assert_eq!(order[2].payload["payment_method"], "store_credit");
    handler
        .cancel_order(
            &ctx(),
            order_id,
            None,
            Reason::parse("changed my mind").unwrap(),
        )
        .await
        .unwrap();
    let wallet = store
        .read_stream(&format!("wallet-{account}"), 1)
        .await
        .unwrap();
    let types: Vec<_> = wallet.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["CreditGranted", "CreditSpent", "CreditReturned"]);
    let cancelled = store
        .read_stream(&format!("order-{order_id}"), 1)
        .await
        .unwrap();
    assert!(cancelled.last().unwrap().payload["refund"].is_null());

    // More credit than the wallet holds, or than the order costs, is refused.
    handler
        .add_to_cart(&ctx(), customer, sku("MUG"), qty(1))
        .await
        .unwrap();
    handler
        .withdraw_credit(
            &ctx(),
            account,
            eur(1500),
            Reason::parse("correction").unwrap(),
        )
        .await
        .unwrap();
    for (credit, code) in [(901, "credit_exceeds_total"), (600, "insufficient_credit")] {
        let too_much = commands::Checkout {
            store_credit: Some(eur(credit)),
            ..Default::default()
        };
        let refused = handler.place_order(&ctx(), customer, None, &too_much).await;
        assert!(
            matches!(&refused, Err(CommandError::Rejected(r)) if r.code() == code),
            "{credit}: {refused:?}"
        );
    }
}

/// Counts the events each `read_stream` hands back, around the in-memory store.
struct Counting {
    inner: Arc<MemoryEventStore>,
    read: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl EventStore for Counting {
    async fn append(
        &self,
        appends: Vec<events::StreamAppend>,
    ) -> Result<events::AppendOutcome, events::StoreError> {
        self.inner.append(appends).await
    }
    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: i64,
    ) -> Result<Vec<events::RecordedEvent>, events::StoreError> {
        let events = self.inner.read_stream(stream_id, from_version).await?;
        self.read
            .fetch_add(events.len(), std::sync::atomic::Ordering::SeqCst);
        Ok(events)
    }
    async fn read_all(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<events::RecordedEvent>, events::StoreError> {
        self.inner.read_all(after, limit).await
    }
    async fn head_position(&self) -> Result<i64, events::StoreError> {
        self.inner.head_position().await
    }
}

/// A handler keeps the states it loaded and reads only what was appended since: the stock of
/// a product many have ordered costs no more to check than a new one's. What another handler
/// (another process) appended meanwhile is still seen.
#[tokio::test]
async fn loads_read_only_what_was_appended_since_the_last() {
    let memory = Arc::new(MemoryEventStore::new());
    let counting = Arc::new(Counting {
        inner: memory.clone(),
        read: Default::default(),
    });
    let handler = CommandHandler::new(counting.clone());
    let other = CommandHandler::new(memory.clone());
    commands::testing::product(&handler, "MUG", 900, 0).await;
    for _ in 0..50 {
        handler
            .receive_stock(&ctx(), sku("MUG"), qty(1))
            .await
            .unwrap();
    }
    let read = |c: &Counting| c.read.load(std::sync::atomic::Ordering::SeqCst);
    let before = read(&counting);
    handler
        .receive_stock(&ctx(), sku("MUG"), qty(1))
        .await
        .unwrap();
    // The 51st delivery read the product and its inventory as kept at the 50th's load, plus
    // the one event appended since (the 50th delivery itself), not all fifty.
    assert_eq!(read(&counting) - before, 1);

    // Another handler delivers two more units; this one sees them, reading just those.
    other
        .receive_stock(&ctx(), sku("MUG"), qty(2))
        .await
        .unwrap();
    let before = read(&counting);
    let customer = customer(&handler).await;
    handler
        .add_to_cart(&ctx(), customer, sku("MUG"), qty(53))
        .await
        .unwrap();
    handler
        .place_order(&ctx(), customer, None, &Default::default())
        .await
        .expect("all 53 units, two of them delivered through the other handler");
    let read_for_order = read(&counting) - before;
    assert!(
        read_for_order < 20,
        "a checkout read {read_for_order} events, not the 52 events of the inventory"
    );
    handler
        .add_to_cart(&ctx(), customer, sku("MUG"), qty(1))
        .await
        .unwrap();
    assert!(
        handler
            .place_order(&ctx(), customer, None, &Default::default())
            .await
            .is_err(),
        "nothing is left: the kept state knows of the order"
    );
}

/// Snapshots of a long inventory stream (and of a customer's cart stream) against PostgreSQL:
/// a process that just started loads the state the stream's replay gives, reads only the
/// events after the snapshot, decides correctly from it, and ignores a snapshot of another
/// format or one it cannot read.
#[tokio::test]
async fn snapshots_equal_a_replay_and_spare_it() {
    use domain::cart::Cart;
    use domain::inventory::{Inventory, StockChange};
    use domain::Aggregate;

    let db = events::testing::TestDatabase::create().await;
    let store: Arc<dyn EventStore> = Arc::new(events::PgEventStore::new(db.pool.clone()));
    let handler = CommandHandler::new(store.clone());
    commands::testing::product(&handler, "MUG", 900, 500).await;
    let customer = customer(&handler).await;
    let reason = Reason::parse("stock take").unwrap();
    let mut orders = Vec::new();
    for n in 0..110 {
        handler
            .add_to_cart(&ctx(), customer, sku("MUG"), qty(1 + n % 3))
            .await
            .unwrap();
        let (order_id, _) = handler
            .place_order(&ctx(), customer, None, &Default::default())
            .await
            .unwrap();
        orders.push(order_id);
        if n % 4 == 0 {
            let change = StockChange::new(if n % 8 == 0 { 3 } else { -1 }).unwrap();
            handler
                .adjust_stock(&ctx(), sku("MUG"), change, reason.clone())
                .await
                .unwrap();
        }
    }
    for order_id in orders.iter().step_by(5) {
        handler
            .cancel_order(&ctx(), *order_id, None, reason.clone())
            .await
            .unwrap();
    }

    let replay = |stream: String| {
        let store = store.clone();
        async move {
            let recorded = store.read_stream(&stream, 1).await.unwrap();
            (recorded.len() as i64, recorded)
        }
    };
    let (inventory_length, recorded) = replay(Inventory::stream_id(&sku("MUG"))).await;
    let replayed = Inventory::from_events(
        &recorded
            .iter()
            .map(|e| events::codec::decode(e).unwrap())
            .collect::<Vec<_>>(),
    );
    assert!(
        inventory_length > 160,
        "a long stream: {inventory_length} events"
    );
    let (cart_length, recorded) = replay(Cart::stream_id(&customer)).await;
    let replayed_cart = Cart::from_events(
        &recorded
            .iter()
            .map(|e| events::codec::decode(e).unwrap())
            .collect::<Vec<_>>(),
    );
    assert!(cart_length > 200, "a long cart: {cart_length} events");

    // Snapshots were taken as the streams grew, at most 100 events apart.
    let kept: Vec<(String, i64)> =
        sqlx::query_as("select stream_id, version from snapshots order by stream_id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let inventory_stream = Inventory::stream_id(&sku("MUG"));
    let cart_stream = Cart::stream_id(&customer);
    let version_of = |stream: &str| {
        kept.iter()
            .find(|(s, _)| s == stream)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no snapshot of {stream} in {kept:?}"))
    };
    assert!(inventory_length - version_of(&inventory_stream) < 100);
    assert!(cart_length - version_of(&cart_stream) < 100);
    assert!(
        kept.iter()
            .all(|(s, _)| s.starts_with("inventory-") || s.starts_with("cart-")),
        "only aggregates with long streams take snapshots: {kept:?}"
    );

    // A new process (nothing kept in memory) folds the snapshot and what came after: the
    // replay's state, at the replay's version.
    let fresh = CommandHandler::new(store.clone());
    let (loaded, version) = commands::testing::load::<Inventory>(&fresh, &sku("MUG")).await;
    assert_eq!((loaded, version), (replayed.clone(), inventory_length));
    let (loaded, version) = commands::testing::load::<Cart>(&fresh, &customer).await;
    assert_eq!((loaded, version), (replayed_cart, cart_length));

    // It really starts from the snapshot: one marked with impossible stock (at the stream's
    // current version) is what a new process sees, since it reads no event before it.
    let mut marked = replayed.clone();
    marked.received += 1_000_000;
    sqlx::query("update snapshots set version = $2, state = $3 where stream_id = $1")
        .bind(&inventory_stream)
        .bind(inventory_length)
        .bind(serde_json::to_value(&marked).unwrap())
        .execute(&db.pool)
        .await
        .unwrap();
    let marked_load = CommandHandler::new(store.clone());
    let (loaded, _) = commands::testing::load::<Inventory>(&marked_load, &sku("MUG")).await;
    assert_eq!(loaded.received, replayed.received + 1_000_000);

    // A snapshot of another format, or one that does not decode, is ignored: the stream is
    // replayed (and a snapshot of the current format taken again).
    for tamper in [
        "update snapshots set format = format + 1 where stream_id = $1",
        "update snapshots set state = '{\"bogus\": true}' where stream_id = $1",
    ] {
        sqlx::query(tamper)
            .bind(&inventory_stream)
            .execute(&db.pool)
            .await
            .unwrap();
        let after_tamper = CommandHandler::new(store.clone());
        let (loaded, version) =
            commands::testing::load::<Inventory>(&after_tamper, &sku("MUG")).await;
        assert_eq!(
            (loaded, version),
            (replayed.clone(), inventory_length),
            "{tamper}"
        );
    }
    let (format, version): (i32, i64) =
        sqlx::query_as("select format, version from snapshots where stream_id = $1")
            .bind(&inventory_stream)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((format, version), (1, inventory_length));

    // Decisions made from a snapshot hold: a new process sells exactly what is available.
    let seller = CommandHandler::new(store.clone());
    let available = i64::try_from(replayed.available).unwrap();
    assert!(available > 0 && available <= i64::from(Quantity::MAX));
    seller
        .add_to_cart(&ctx(), customer, sku("MUG"), qty(available))
        .await
        .unwrap();
    seller
        .place_order(&ctx(), customer, None, &Default::default())
        .await
        .unwrap();
    seller
        .add_to_cart(&ctx(), customer, sku("MUG"), qty(1))
        .await
        .unwrap();
    let refused = seller
        .place_order(&ctx(), customer, None, &Default::default())
        .await;
    assert!(
        matches!(
            refused,
            Err(CommandError::Rejected(Rejection::Checkout(
                CheckoutError::Inventory(InventoryError::InsufficientStock { available: 0, .. })
            )))
        ),
        "{refused:?}"
    );
}
