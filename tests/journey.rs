//! One shopper's journey through every layer, on real PostgreSQL and (in Kafka mode) the real
//! broker: HTTP command -> aggregate -> event store -> [relay -> Kafka -> consumer group] ->
//! read models -> HTTP query. Also: concurrent orders for the last units never oversell.

mod catalog;
mod common;
mod search;
mod web;

use std::time::{Duration, Instant};

use common::{Api, EngineEnv, Process, Staff, TestDatabase};
use reqwest::Method;
use serde_json::{json, Value};

async fn start(env: &EngineEnv) -> (Process, Api, Staff) {
    let mut engine = Process::start("up", env);
    let api = Api::new(engine.base_url().await);
    let staff = Staff::hire(&api, env).await;
    (engine, api, staff)
}

/// The seller lists a product (an admin approves it) and receives stock.
async fn product(staff: &Staff, sku: &str, price: i64, stock: i64) {
    let api = &staff.seller;
    let (status, body) = api
        .post(
            "/products",
            json!({"sku": sku, "name": format!("{sku} name"), "description": "test product",
                   "category": "kitchen", "price": {"amount_minor": price, "currency": "EUR"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    staff.approve(sku).await;
    api.ok(
        Method::POST,
        &format!("/products/{sku}/stock"),
        Some(json!({ "quantity": stock })),
    )
    .await;
}

/// Time from a command's answer until a plain query (no `min_position`) shows its effect.
async fn time_to_visible(api: &Api, path: &str, visible: impl Fn(&Value) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        let (status, body) = api.get(path).await;
        if status == 200 && visible(&body) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{path} never showed the change"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn journey(anonymous: &Api, staff: &Staff, db: &TestDatabase, mode: &str) {
    product(staff, "MUG", 1250, 10).await;
    product(staff, "CUP", 400, 10).await;
    product(staff, "PLATE", 900, 10).await;
    let api = &anonymous.customer().await;
    let customer = api.id();
    let cart = format!("/customers/{customer}/cart");

    // Cart: add, change quantity, remove.
    api.ok(
        Method::POST,
        &format!("{cart}/items"),
        Some(json!({"sku": "MUG", "quantity": 1})),
    )
    .await;
    api.ok(
        Method::POST,
        &format!("{cart}/items"),
        Some(json!({"sku": "CUP", "quantity": 3})),
    )
    .await;
    api.ok(
        Method::POST,
        &format!("{cart}/items"),
        Some(json!({"sku": "PLATE", "quantity": 1})),
    )
    .await;
    api.ok(
        Method::PUT,
        &format!("{cart}/items/MUG"),
        Some(json!({"quantity": 2})),
    )
    .await;
    let removed = api
        .ok(Method::DELETE, &format!("{cart}/items/PLATE"), None)
        .await;
    assert_eq!(removed["stream_version"], 5);
    let view = api.read_at(&cart, &removed["global_position"]).await;
    let lines: Vec<_> = view["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["sku"].clone(), l["quantity"].clone()))
        .collect();
    assert_eq!(
        lines,
        vec![(json!("MUG"), json!(2)), (json!("CUP"), json!(3))]
    );
    assert_eq!(
        view["subtotal"],
        json!({"amount_minor": 3700, "currency": "EUR"})
    );

    // Place the order: prices and stock decided now.
    let (status, placed) = api
        .post(&format!("/customers/{customer}/orders"), json!(null))
        .await;
    assert_eq!(status, 201, "{placed}");
    let order_id = placed["order_id"].as_str().unwrap().to_owned();
    let order_path = format!("/orders/{order_id}");
    let visible = time_to_visible(api, &order_path, |o| o["status"] == "placed").await;
    eprintln!("figure[{mode}]: order placed -> visible in the order read model in {visible:?}");
    // Shipped and billed to the customer's default address.
    let order = api.get(&order_path).await.1;
    assert_eq!(order["shipping_address"]["city"], "Springfield", "{order}");
    assert_eq!(order["billing_address"], order["shipping_address"]);
    assert_eq!(
        (
            &order["order_state"],
            &order["payment_state"],
            &order["fulfilment_state"]
        ),
        (&json!("open"), &json!("pending"), &json!("unfulfilled"))
    );

    let order = api.read_at(&order_path, &placed["global_position"]).await;
    assert_eq!(order["total_minor"], 3700);
    assert_eq!(order["customer_id"], customer.to_string());
    assert_eq!(order["lines"].as_array().unwrap().len(), 2);
    let view = api.read_at(&cart, &placed["global_position"]).await;
    assert!(
        view["lines"].as_array().unwrap().is_empty(),
        "cart emptied by checkout"
    );
    assert_eq!(view["last_order_id"], order_id.as_str());
    let mug = api
        .read_at("/products/MUG", &placed["global_position"])
        .await;
    assert_eq!(mug["stock_on_hand"], 8);

    // The customer pays; the shop ships and delivers.
    // Paid offline, as recorded by an admin (the provider's path has its own test).
    staff.admin.ok(Method::POST, &format!("{order_path}/payment"),
        Some(json!({"amount": {"amount_minor": 3700, "currency": "EUR"}, "payment_reference": "psp-42"}))).await;
    let admin = &staff.admin;
    let (status, _) = api
        .post(
            &format!("{order_path}/shipment"),
            json!({"carrier": "DHL", "tracking_number": "X"}),
        )
        .await;
    assert_eq!(status, 403, "customers do not ship");
    admin
        .ok(
            Method::POST,
            &format!("{order_path}/shipment"),
            Some(json!({"carrier": "DHL", "tracking_number": "JD0001"})),
        )
        .await;
    let delivered = admin
        .ok(Method::POST, &format!("{order_path}/delivery"), None)
        .await;
    // Placed, split into one fulfilment, paid, shipped and delivered (part and order each).
    assert_eq!(delivered["stream_version"], 7);
    let order = api
        .read_at(&order_path, &delivered["global_position"])
        .await;
    assert_eq!(order["status"], "delivered");
    // The three state machines: completed, captured, delivered.
    assert_eq!(
        (
            &order["order_state"],
            &order["payment_state"],
            &order["fulfilment_state"]
        ),
        (&json!("completed"), &json!("captured"), &json!("delivered"))
    );
    assert_eq!(order["payment_reference"], "psp-42");
    assert_eq!(order["tracking_number"], "JD0001");
    for field in ["paid_at", "shipped_at", "delivered_at"] {
        assert!(order[field].is_string(), "{field} set");
    }

    // Invalid transition and version conflict.
    let (status, error) = api
        .post(
            &format!("{order_path}/cancellation"),
            json!({"reason": "late"}),
        )
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (422, Some("invalid_order_transition"))
    );
    let (status, error) = admin
        .send(
            Method::POST,
            &format!("{order_path}/delivery"),
            None,
            &[("if-match", "2")],
        )
        .await;
    assert_eq!((status, error["current_version"].clone()), (409, json!(7)));

    // A second order, cancelled: its stock comes back.
    api.ok(
        Method::POST,
        &format!("{cart}/items"),
        Some(json!({"sku": "PLATE", "quantity": 4})),
    )
    .await;
    let key = [("idempotency-key", "checkout-2")];
    let (status, second) = api
        .send(
            Method::POST,
            &format!("/customers/{customer}/orders"),
            None,
            &key,
        )
        .await;
    assert_eq!(status, 201);
    // A retried checkout with the same key answers with the same order, placing nothing new.
    let (status, retried) = api
        .send(
            Method::POST,
            &format!("/customers/{customer}/orders"),
            None,
            &key,
        )
        .await;
    assert_eq!((status, &retried["order_id"]), (200, &second["order_id"]));
    let plate = api
        .read_at("/products/PLATE", &second["global_position"])
        .await;
    assert_eq!(plate["stock_on_hand"], 6);
    let second_path = format!("/orders/{}", second["order_id"].as_str().unwrap());
    let cancelled = api
        .ok(
            Method::POST,
            &format!("{second_path}/cancellation"),
            Some(json!({"reason": "changed my mind"})),
        )
        .await;
    let plate = api
        .read_at("/products/PLATE", &cancelled["global_position"])
        .await;
    assert_eq!(plate["stock_on_hand"], 10);
    let order = api
        .read_at(&second_path, &cancelled["global_position"])
        .await;
    assert_eq!(order["status"], "cancelled");
    assert_eq!(order["cancel_reason"], "changed my mind");

    // The customer's orders, newest first, one per page.
    let (_, page) = api
        .get(&format!(
            "/customers/{customer}/orders?limit=1&min_position={}",
            cancelled["global_position"]
        ))
        .await;
    assert_eq!(page["items"][0]["order_id"], second["order_id"]);
    assert_eq!(page["items"][0]["status"], "cancelled");
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let (_, page) = api
        .get(&format!(
            "/customers/{customer}/orders?limit=1&after={cursor}"
        ))
        .await;
    assert_eq!(page["items"][0]["order_id"], order_id.as_str());
    assert_eq!(page["items"][0]["status"], "delivered");
    assert!(page["next_cursor"].is_null());

    // Catalog listing, paginated, for anyone.
    let (_, catalog) = anonymous.get("/products?limit=2&offset=0").await;
    assert_eq!(catalog["total"], 3);
    assert_eq!(catalog["items"].as_array().unwrap().len(), 2);
    assert_eq!(catalog["items"][0]["sku"], "CUP");
    assert_eq!(
        catalog["items"][0]["seller_id"],
        staff.seller.id().to_string()
    );

    // Every event names the authenticated actor who caused it.
    let actors: Vec<(String, Option<String>)> = sqlx::query_as(
        "select event_type, metadata->>'actor' from events
         where event_type in ('OrderPlaced', 'OrderPaid', 'OrderShipped', 'ProductCreated')
         order by global_position",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let label = |a: &Api| Some(format!("account:{}", a.id()));
    for (event_type, actor) in actors {
        let expected = match event_type.as_str() {
            "ProductCreated" => label(&staff.seller),
            // Shipped and paid offline by the admin who recorded it.
            "OrderShipped" | "OrderPaid" => label(admin),
            _ => label(api),
        };
        assert_eq!(actor, expected, "{event_type}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journey_over_kafka() {
    let db = TestDatabase::create().await;
    let (_engine, api, staff) = start(&EngineEnv::kafka(&db)).await;
    journey(&api, &staff, &db, "kafka").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journey_embedded_without_kafka() {
    let db = TestDatabase::create().await;
    let (_engine, api, staff) = start(&EngineEnv::embedded(&db)).await;
    journey(&api, &staff, &db, "embedded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_orders_for_the_last_units_never_oversell() {
    const STOCK: i64 = 5;
    const SHOPPERS: usize = 24;
    let db = TestDatabase::create().await;
    let (_engine, api, staff) = start(&EngineEnv::kafka(&db)).await;
    product(&staff, "LAST", 1000, STOCK).await;
    let mut shoppers = Vec::new();
    for _ in 0..SHOPPERS {
        let shopper = api.customer().await;
        shopper
            .ok(
                Method::POST,
                &format!("/customers/{}/cart/items", shopper.id()),
                Some(json!({"sku": "LAST", "quantity": 1})),
            )
            .await;
        shoppers.push(shopper);
    }

    let attempts = shoppers.iter().map(|s| {
        let api = s.clone();
        let path = format!("/customers/{}/orders", s.id());
        tokio::spawn(async move { api.post(&path, json!(null)).await })
    });
    let results: Vec<(u16, Value)> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let sold: Vec<_> = results.iter().filter(|(s, _)| *s == 201).collect();
    let refused = results
        .iter()
        .filter(|(s, b)| *s == 422 && b["code"] == "insufficient_stock")
        .count();
    assert_eq!(
        sold.len() as i64,
        STOCK,
        "exactly the available units are sold: {results:?}"
    );
    assert_eq!(
        refused,
        SHOPPERS - STOCK as usize,
        "everyone else is told why: {results:?}"
    );

    // The log agrees, and so does the catalog read model.
    let (reserved,): (i64,) = sqlx::query_as(
        "select coalesce(sum((payload->>'quantity')::bigint), 0)::bigint from events
         where stream_id = 'inventory-LAST' and event_type = 'StockReserved'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(reserved, STOCK);
    let last = sold
        .iter()
        .map(|(_, b)| b["global_position"].as_i64().unwrap())
        .max()
        .unwrap();
    let product = shoppers[0].read_at("/products/LAST", &json!(last)).await;
    assert_eq!(product["stock_on_hand"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_book_and_the_addresses_an_order_is_placed_with() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let (_engine, api, staff) = start(&env).await;
    staff.list("BOOK", 1500, 20).await;
    let customer = api.customer().await; // its first address is the default
    let me = customer.id();
    let book = format!("/customers/{me}/addresses");

    let gb = json!({"name": "Ada Lovelace", "line1": "12 St James's Square", "city": "London",
                    "postal_code": "SW1Y 4JH", "country": "GB", "phone": "+44 20 7946 0000"});
    let added = customer.ok(Method::POST, &book, Some(gb.clone())).await;
    let london = added["address_id"].as_str().unwrap().to_owned();
    let listed = customer.read_at(&book, &added["global_position"]).await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["is_default"], true);
    assert_eq!(
        (items[1]["address_id"].as_str(), &items[1]["is_default"]),
        (Some(london.as_str()), &json!(false))
    );
    assert_eq!(items[1]["address"]["postal_code"], "SW1Y 4JH");
    let springfield = items[0]["address_id"].as_str().unwrap().to_owned();

    // Make London the default, move Springfield, then drop it.
    customer
        .ok(Method::PUT, &format!("{book}/{london}/default"), None)
        .await;
    let mut moved = common::address();
    moved["city"] = json!("Shelbyville");
    customer
        .ok(Method::PUT, &format!("{book}/{springfield}"), Some(moved))
        .await;
    let changed = customer
        .read_at(
            &book,
            &customer
                .ok(Method::DELETE, &format!("{book}/{springfield}"), None)
                .await["global_position"],
        )
        .await;
    let items = changed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        (items[0]["address_id"].as_str(), &items[0]["is_default"]),
        (Some(london.as_str()), &json!(true))
    );

    // Bad addresses name the member; unknown entries and missing defaults have codes.
    let cart = format!("/customers/{me}/cart/items");
    customer
        .ok(
            Method::POST,
            &cart,
            Some(json!({"sku": "BOOK", "quantity": 1})),
        )
        .await;
    let orders = format!("/customers/{me}/orders");
    let mut bad_city = gb.clone();
    bad_city["city"] = json!("\u{0}");
    let mut bad_country = gb.clone();
    bad_country["country"] = json!("ZZ");
    for (body, status, code, field) in [
        (
            json!({"shipping_address": bad_city}),
            422,
            "invalid_text",
            Some("shipping_address.city"),
        ),
        (
            json!({"billing_address": bad_country}),
            422,
            "invalid_country",
            Some("billing_address.country"),
        ),
        (
            json!({"shipping_address_id": uuid::Uuid::now_v7()}),
            422,
            "address_not_found",
            None,
        ),
        (
            json!({"shipping_address_id": london, "shipping_address": gb}),
            422,
            "ambiguous_address",
            Some("shipping_address"),
        ),
        (
            json!({"shipping_address": {"name": "x"}}),
            422,
            "invalid_body",
            None,
        ),
    ] {
        let (got, answer) = customer.post(&orders, body.clone()).await;
        assert_eq!(
            (got, answer["code"].as_str()),
            (status, Some(code)),
            "{body}: {answer}"
        );
        if let Some(field) = field {
            assert_eq!(answer["field"], field, "{answer}");
        }
    }

    // Shipped to the default, billed to an address given with the order.
    let billing = json!({"name": "Ada Ltd", "line1": "Unter den Linden 1", "city": "Berlin",
                         "postal_code": "10117", "country": "DE"});
    let placed = customer
        .post(&orders, json!({"billing_address": billing}))
        .await
        .1;
    let order = customer
        .read_at(
            &format!("/orders/{}", placed["order_id"].as_str().unwrap()),
            &placed["global_position"],
        )
        .await;
    assert_eq!(order["shipping_address"]["city"], "London", "{order}");
    assert_eq!(order["billing_address"]["country"], "DE");
    // The auditors' view rebuilt from events carries them too.
    let then = customer
        .get(&format!(
            "/orders/{}?version=1",
            placed["order_id"].as_str().unwrap()
        ))
        .await
        .1;
    assert_eq!(then["shipping_address"]["city"], "London", "{then}");

    // A customer with an empty book must name an address.
    let email = format!("nobook-{}@example.org", uuid::Uuid::new_v4().simple());
    api.register(&email, "no book password").await;
    let (bookless, _) = api.login(&email, "no book password").await;
    bookless
        .ok(
            Method::POST,
            &format!("/customers/{}/cart/items", bookless.id()),
            Some(json!({"sku": "BOOK", "quantity": 1})),
        )
        .await;
    let bookless_orders = format!("/customers/{}/orders", bookless.id());
    let (status, answer) = bookless
        .send(Method::POST, &bookless_orders, None, &[])
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("shipping_address_required")),
        "{answer}"
    );
    // Someone else's address-book entry is not theirs to ship to.
    let (status, answer) = bookless
        .post(&bookless_orders, json!({"shipping_address_id": london}))
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("address_not_found")),
        "{answer}"
    );
    let (status, _) = bookless
        .post(
            &bookless_orders,
            json!({"shipping_address": common::address()}),
        )
        .await;
    assert_eq!(status, 201);
    // Another customer's book is out of reach; an admin's is not.
    assert_eq!(bookless.get(&book).await.0, 404);
    assert_eq!(staff.admin.get(&book).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_credit_from_sign_up_and_admins_pays_orders_and_comes_back() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db).with("SIGNUP_CREDIT", "500 EUR");
    let (_engine, api, staff) = start(&env).await;
    staff.list("LAMP", 1200, 10).await;
    staff.list("BULB", 400, 10).await;
    let customer = api.customer().await;
    let me = customer.id();
    let balance = |wallet: &Value| wallet["balances"][0]["amount_minor"].as_i64();

    // Sign-up credit, then an admin's grant.
    // Any later write of the customer's marks a position at or past the sign-up credit.
    let later = customer.add_address().await;
    let wallet = customer
        .read_at("/me/wallet", &later["global_position"])
        .await;
    assert_eq!(balance(&wallet), Some(500), "{wallet}");
    assert_eq!(wallet["statement"][0]["reason"], "sign-up credit");
    let granted = staff
        .admin
        .ok(
            Method::POST,
            &format!("/admin/accounts/{me}/wallet/grants"),
            Some(json!({"amount": {"amount_minor": 1000, "currency": "EUR"}, "reason": "loyalty"})),
        )
        .await;
    let wallet = customer
        .read_at("/me/wallet", &granted["global_position"])
        .await;
    assert_eq!(balance(&wallet), Some(1500));

    // Credit pays a whole order: it is paid at once.
    let cart = format!("/customers/{me}/cart/items");
    let orders = format!("/customers/{me}/orders");
    customer
        .ok(
            Method::POST,
            &cart,
            Some(json!({"sku": "LAMP", "quantity": 1})),
        )
        .await;
    let (status, full) = customer
        .post(
            &orders,
            json!({"store_credit": {"amount_minor": 1200, "currency": "EUR"}}),
        )
        .await;
    assert_eq!(status, 201, "{full}");
    let full_path = format!("/orders/{}", full["order_id"].as_str().unwrap());
    let order = customer.read_at(&full_path, &full["global_position"]).await;
    assert_eq!(
        (&order["status"], &order["payment_method"]),
        (&json!("paid"), &json!("store_credit"))
    );
    assert_eq!(order["credit_applied_minor"], 1200);

    // Part of one: the rest is due.
    customer
        .ok(
            Method::POST,
            &cart,
            Some(json!({"sku": "BULB", "quantity": 1})),
        )
        .await;
    for (credit, code) in [(401, "credit_exceeds_total"), (301, "insufficient_credit")] {
        let (status, answer) = customer
            .post(
                &orders,
                json!({"store_credit": {"amount_minor": credit, "currency": "EUR"}}),
            )
            .await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (422, Some(code)),
            "{answer}"
        );
    }
    let part = customer
        .post(
            &orders,
            json!({"store_credit": {"amount_minor": 300, "currency": "EUR"}}),
        )
        .await
        .1;
    let part_path = format!("/orders/{}", part["order_id"].as_str().unwrap());
    let pay = |minor: i64| json!({"amount": {"amount_minor": minor, "currency": "EUR"}, "payment_reference": "psp-9"});
    let (status, answer) = staff
        .admin
        .post(&format!("{part_path}/payment"), pay(400))
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("payment_amount_mismatch"))
    );
    staff
        .admin
        .ok(
            Method::POST,
            &format!("{part_path}/payment"),
            Some(pay(100)),
        )
        .await;

    // Cancelling the credit-paid order returns its credit; nothing goes to the provider.
    let cancelled = customer
        .ok(
            Method::POST,
            &format!("{full_path}/cancellation"),
            Some(json!({"reason": "too bright"})),
        )
        .await;
    let order = customer
        .read_at(&full_path, &cancelled["global_position"])
        .await;
    assert_eq!(
        (&order["status"], &order["refund_minor"]),
        (&json!("cancelled"), &Value::Null)
    );
    let wallet = customer
        .read_at("/me/wallet", &cancelled["global_position"])
        .await;
    assert_eq!(balance(&wallet), Some(1200), "{wallet}");
    let kinds: Vec<_> = wallet["statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "CreditReturned",
            "CreditSpent",
            "CreditSpent",
            "CreditGranted",
            "CreditGranted"
        ]
    );

    // Admins cannot take more than there is; the admin's view matches the customer's.
    let (status, answer) = staff
        .admin
        .post(
            &format!("/admin/accounts/{me}/wallet/withdrawals"),
            json!({"amount": {"amount_minor": 1201, "currency": "EUR"}, "reason": "oops"}),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("insufficient_credit")),
        "{answer}"
    );
    let (_, seen) = staff
        .admin
        .get(&format!("/admin/accounts/{me}/wallet"))
        .await;
    assert_eq!(balance(&seen), Some(1200));

    // What was paid for the part-credit order can be refunded as credit, at once.
    let (status, answer) = staff
        .admin
        .post(
            &format!("{part_path}/refunds"),
            json!({"amount": {"amount_minor": 100, "currency": "EUR"}, "reason": "goodwill",
                   "to": "store_credit"}),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    let wallet = customer
        .read_at("/me/wallet", &answer["global_position"])
        .await;
    assert_eq!(balance(&wallet), Some(1300), "{wallet}");
    assert_eq!(wallet["statement"][0]["kind"], "CreditRefunded");
    let order = customer
        .read_at(&part_path, &answer["global_position"])
        .await;
    assert_eq!(
        (&order["payment_state"], &order["refunded_minor"]),
        (&json!("refunded"), &json!(100))
    );
    let (status, answer) = staff
        .admin
        .post(
            &format!("{part_path}/refunds"),
            json!({"amount": {"amount_minor": 1, "currency": "EUR"}, "reason": "again", "to": "store_credit"}),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("invalid_payment_transition")),
        "{answer}"
    );
}

/// Paying through the provider simulator: signed webhooks, a failure then a success, duplicate,
/// concurrent and reversed deliveries, a wrong signature, and a webhook recorded by a process
/// that stopped before acting on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn payments_through_the_provider_and_its_signed_webhooks() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let mut engine = Process::start("up", &env);
    let api = Api::new(engine.base_url().await);
    let simulator = engine
        .simulator
        .clone()
        .expect("the engine started the simulator");
    let staff = Staff::hire(&api, &env).await;
    staff.list("LAMP", 1200, 10).await;
    let customer = api.customer().await;
    let placed = customer.buy("LAMP", 1).await;
    let order_id = placed["order_id"].as_str().unwrap().to_owned();
    let order_path = format!("/orders/{order_id}");
    let http = reqwest::Client::new();
    let pay = |provider_order: String, attempt: Value| {
        let (http, simulator) = (http.clone(), simulator.clone());
        async move {
            let report: Value = http
                .post(format!("{simulator}/simulator/orders/{provider_order}/pay"))
                .json(&attempt)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            report
        }
    };
    let order_state = |field: &'static str, value: &'static str| {
        let (customer, path) = (customer.clone(), order_path.clone());
        async move {
            common::eventually(field, Duration::from_secs(30), || async {
                customer.get(&path).await.1[field] == value
            })
            .await;
        }
    };

    // No signature, or a wrong one: 401, nothing recorded.
    let (status, answer) = api
        .post("/webhooks/razorpay", json!({"event": "payment.captured"}))
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (401, Some("invalid_signature"))
    );

    // A failed attempt first, delivered after one copy with a wrong signature.
    let session = customer
        .ok(Method::POST, &format!("{order_path}/payment-session"), None)
        .await;
    assert_eq!(
        session["amount"],
        json!({"amount_minor": 1200, "currency": "EUR"})
    );
    assert!(session["pay_url"].as_str().unwrap().starts_with(&simulator));
    let report = pay(
        session["provider_order_id"].as_str().unwrap().to_owned(),
        json!({"outcome": "failed", "bad_signature": true}),
    )
    .await;
    assert_eq!(
        report["deliveries"][0]["attempts"],
        json!([401]),
        "{report}"
    );
    assert_eq!(
        report["deliveries"][1]["attempts"],
        json!([200]),
        "{report}"
    );
    order_state("payment_state", "failed").await;

    // Then a success, its events reversed and the capture delivered six times at once.
    let session = customer
        .ok(Method::POST, &format!("{order_path}/payment-session"), None)
        .await;
    let report = pay(
        session["provider_order_id"].as_str().unwrap().to_owned(),
        json!({"outcome": "captured", "duplicates": 5, "reverse": true}),
    )
    .await;
    let deliveries = report["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 7, "{report}");
    assert!(deliveries
        .iter()
        .all(|d| d["attempts"].as_array().unwrap().last() == Some(&json!(200))));
    order_state("payment_state", "captured").await;
    let order = customer.get(&order_path).await.1;
    assert_eq!(order["payment_reference"], report["payment_id"], "{order}");
    assert_eq!(order["status"], "paid");
    let (paid,): (i64,) = sqlx::query_as(
        "select count(*) from events where stream_id = $1 and event_type = 'OrderPaid'",
    )
    .bind(format!("order-{order_id}"))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(paid, 1, "one payment whatever the deliveries");
    let outcomes: Vec<(String, Option<String>)> =
        sqlx::query_as("select event_type, outcome from webhook_inbox order by received_at")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        outcomes,
        [
            ("payment.failed".to_owned(), Some("applied".to_owned())),
            ("payment.captured".to_owned(), Some("applied".to_owned())),
            ("payment.authorized".to_owned(), Some("applied".to_owned())),
        ]
    );
    // Refunds by an admin, through the provider: partial, retried with one key, then the rest.
    let refunds = format!("{order_path}/refunds");
    let refund = |minor: i64| json!({"amount": {"amount_minor": minor, "currency": "EUR"}, "reason": "scratched"});
    let key = [("idempotency-key", "refund-1")];
    let (status, first) = staff
        .admin
        .send(Method::POST, &refunds, Some(refund(500)), &key)
        .await;
    assert_eq!(status, 201, "{first}");
    let (_, again) = staff
        .admin
        .send(Method::POST, &refunds, Some(refund(500)), &key)
        .await;
    assert_eq!(
        again["refund_id"], first["refund_id"],
        "one refund for one key"
    );
    let (status, answer) = staff.admin.post(&refunds, refund(701)).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("refund_exceeds_payment")),
        "{answer}"
    );
    order_state("payment_state", "partially_refunded").await;
    staff
        .admin
        .ok(Method::POST, &refunds, Some(refund(700)))
        .await;
    order_state("payment_state", "refunded").await;
    assert_eq!(customer.get(&order_path).await.1["refunded_minor"], 1200);
    let (requested,): (i64,) = sqlx::query_as(
        "select count(*) from events where stream_id = $1 and event_type = 'RefundRequested'",
    )
    .bind(format!("order-{order_id}"))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(requested, 2);

    // A paid order takes no new payment.
    let (status, answer) = customer
        .post(&format!("{order_path}/payment-session"), json!(null))
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("invalid_payment_transition"))
    );

    // A webhook the engine recorded and then died before acting on: applied on its own.
    let second = customer.buy("LAMP", 1).await;
    let second_path = format!("/orders/{}", second["order_id"].as_str().unwrap());
    let session = customer
        .ok(
            Method::POST,
            &format!("{second_path}/payment-session"),
            None,
        )
        .await;
    let payload = json!({"entity": "event", "event": "payment.captured", "payload": {"payment": {"entity": {
        "id": "pay_recorded1", "order_id": session["provider_order_id"], "amount": 1200,
        "currency": "EUR", "method": "card", "notes": {"order_id": second["order_id"]}}}}});
    sqlx::query(
        "insert into webhook_inbox (provider, event_id, event_type, payload, received_at)
         values ('razorpay', 'evt_recorded1', 'payment.captured', $1, now() - interval '1 minute')",
    )
    .bind(&payload)
    .execute(&db.pool)
    .await
    .unwrap();
    common::eventually(
        "the recorded webhook to be applied",
        Duration::from_secs(30),
        || async { customer.get(&second_path).await.1["payment_state"] == "captured" },
    )
    .await;

    // Cancelling a captured order refunds it through the provider, by itself.
    let third = customer.buy("LAMP", 1).await;
    let third_path = format!("/orders/{}", third["order_id"].as_str().unwrap());
    let session = customer
        .ok(Method::POST, &format!("{third_path}/payment-session"), None)
        .await;
    pay(
        session["provider_order_id"].as_str().unwrap().to_owned(),
        json!({}),
    )
    .await;
    customer
        .ok(
            Method::POST,
            &format!("{third_path}/cancellation"),
            Some(json!({"reason": "found a better lamp"})),
        )
        .await;
    common::eventually(
        "the cancelled order to be refunded",
        Duration::from_secs(30),
        || async { customer.get(&third_path).await.1["payment_state"] == "refunded" },
    )
    .await;
    let (actor,): (Option<String>,) = sqlx::query_as(
        "select metadata->>'actor' from events where stream_id = $1 and event_type = 'RefundRequested'",
    )
    .bind(format!("order-{}", third["order_id"].as_str().unwrap()))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(actor.as_deref(), Some("system:cancellation-refund"));
    engine.child.kill().await.unwrap();
}

/// An order left unpaid past `PAYMENT_TIMEOUT_SECS` is cancelled and its stock released, also
/// when the engine was killed after the order was placed and started again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpaid_orders_are_cancelled_after_the_payment_timeout_across_restarts() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db).with("PAYMENT_TIMEOUT_SECS", "2");
    let mut engine = Process::start("up", &env);
    let api = Api::new(engine.base_url().await);
    let staff = Staff::hire(&api, &env).await;
    staff.list("CLOCK", 900, 5).await;

    let forgetful = api.customer().await;
    let unpaid = forgetful.buy("CLOCK", 2).await;
    let payer = api.customer().await;
    let paid = payer.buy("CLOCK", 1).await;
    let paid_path = format!("/orders/{}", paid["order_id"].as_str().unwrap());
    staff
        .admin
        .ok(
            Method::POST,
            &format!("{paid_path}/payment"),
            Some(json!({"amount": {"amount_minor": 900, "currency": "EUR"}, "payment_reference": "bank-1"})),
        )
        .await;
    // Placed just before a crash: the timer is in PostgreSQL, not in the process.
    let late = api.customer().await;
    let crashed = late.buy("CLOCK", 1).await;
    engine.child.kill().await.unwrap();
    let mut engine = Process::start("up", &env);
    let api = Api::new(engine.base_url().await);

    for (who, order) in [(&forgetful, &unpaid), (&late, &crashed)] {
        let mut who = who.clone();
        who.base = api.base.clone();
        let path = format!("/orders/{}", order["order_id"].as_str().unwrap());
        common::eventually(
            "the unpaid order to be cancelled",
            Duration::from_secs(30),
            || async { who.get(&path).await.1["status"] == "cancelled" },
        )
        .await;
        let order = who.get(&path).await.1;
        assert_eq!(
            order["cancel_reason"], "payment not received in time",
            "{order}"
        );
    }
    let mut payer = payer.clone();
    payer.base = api.base.clone();
    assert_eq!(payer.get(&paid_path).await.1["status"], "paid");
    // Stock: 5, less the one paid for; the cancelled orders' units came back.
    common::eventually(
        "the stock to be released",
        Duration::from_secs(30),
        || async { api.get("/products/CLOCK").await.1["stock_on_hand"] == 4 },
    )
    .await;
    let (actors,): (Vec<String>,) = sqlx::query_as(
        "select array_agg(metadata->>'actor') from events where event_type = 'OrderCancelled'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(actors, ["system:payment-timeout", "system:payment-timeout"]);
    engine.child.kill().await.unwrap();
}

/// Money reconciles: two hundred orders through the simulator — captures, failures then
/// captures, timeouts, partial refunds, cancellations refunded by themselves, store credit —
/// and the engine's books equal the provider's and the wallets'. It runs through Kafka, so the
/// process managers work from read models fed by the topic, and a back office reading the
/// topic alone keeps the same books.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn money_reconciles_with_the_provider_and_the_wallets() {
    const CUSTOMERS: usize = 30;
    const ORDERS_EACH: usize = 7;
    let db = TestDatabase::create().await;
    let env = EngineEnv::kafka(&db)
        .with("PAYMENT_TIMEOUT_SECS", "3")
        .with("SIGNUP_CREDIT", "300 EUR");
    let mut engine = Process::start("up", &env);
    let api = Api::new(engine.base_url().await);
    let simulator = engine.simulator.clone().expect("simulator");
    let staff = Staff::hire(&api, &env).await;
    staff.list("BOX", 1000, 1000).await;

    let shoppers = (0..CUSTOMERS).map(|c| {
        let (api, admin, simulator) = (api.clone(), staff.admin.clone(), simulator.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let customer = api.customer().await;
            let pay = |provider_order: &str, outcome: &str| {
                let request = http
                    .post(format!("{simulator}/simulator/orders/{provider_order}/pay"))
                    .json(&json!({ "outcome": outcome }));
                async move {
                    let report: Value = request.send().await.unwrap().json().await.unwrap();
                    assert!(report["payment_id"].is_string(), "{report}");
                }
            };
            for j in 0..ORDERS_EACH {
                let kind = (c * ORDERS_EACH + j) % 6;
                customer
                    .ok(
                        Method::POST,
                        &format!("/customers/{}/cart/items", customer.id()),
                        Some(json!({"sku": "BOX", "quantity": 1})),
                    )
                    .await;
                let body = if kind == 5 {
                    json!({"store_credit": {"amount_minor": 100, "currency": "EUR"}})
                } else {
                    json!(null)
                };
                // One SKU for everyone is a hot stream: a client retries a conflict.
                let mut placed = Value::Null;
                for _ in 0..5 {
                    let (status, answer) = customer
                        .post(&format!("/customers/{}/orders", customer.id()), body.clone())
                        .await;
                    placed = answer;
                    if status != 409 {
                        assert_eq!(status, 201, "{placed}");
                        break;
                    }
                }
                let path = format!("/orders/{}", placed["order_id"].as_str().unwrap());
                if kind == 2 {
                    continue; // never paid: the timeout cancels it
                }
                let session = customer
                    .ok(Method::POST, &format!("{path}/payment-session"), None)
                    .await;
                let provider_order = session["provider_order_id"].as_str().unwrap().to_owned();
                if kind == 1 {
                    pay(&provider_order, "failed").await;
                    let retry = customer
                        .ok(Method::POST, &format!("{path}/payment-session"), None)
                        .await;
                    pay(retry["provider_order_id"].as_str().unwrap(), "captured").await;
                } else {
                    pay(&provider_order, "captured").await;
                }
                if kind == 3 {
                    admin
                        .ok(
                            Method::POST,
                            &format!("{path}/refunds"),
                            Some(json!({"amount": {"amount_minor": 400, "currency": "EUR"}, "reason": "dented"})),
                        )
                        .await;
                }
                if kind == 4 {
                    // A cancellation releases stock on the hot stream too: a client retries
                    // a conflict the engine's own retries did not settle.
                    let mut answer = (0, Value::Null);
                    for _ in 0..5 {
                        answer = customer
                            .post(
                                &format!("{path}/cancellation"),
                                json!({"reason": "changed my mind"}),
                            )
                            .await;
                        if answer.0 != 409 {
                            break;
                        }
                    }
                    assert_eq!(answer.0, 200, "{}", answer.1);
                }
            }
        })
    });
    for shopper in futures::future::join_all(shoppers).await {
        shopper.unwrap();
    }

    // Expected books, from what the shoppers did.
    let kinds: Vec<usize> = (0..CUSTOMERS * ORDERS_EACH).map(|k| k % 6).collect();
    let count = |k: usize| kinds.iter().filter(|&&x| x == k).count() as i64;
    let refunded = count(3) * 400 + count(4) * 1000;
    let captured = (count(0) + count(1) + count(3) + count(4)) * 1000 + count(5) * 900;
    let http = reqwest::Client::new();
    // Settling takes the webhooks, the process managers and the projections through Kafka:
    // seconds alone, longer on a machine busy with the other tests. On a time-out the books
    // and the refunds still owed are printed, to tell which part stalled.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let books = staff.admin.get("/admin/reconciliation?limit=100").await.1;
        let totals = &books["totals"][0];
        // Every order counted too: one never paid adds nothing to the money, and may be
        // projected after the money settled.
        if totals["captured_minor"] == captured
            && totals["refunded_minor"] == refunded
            && totals["orders"] == (CUSTOMERS * ORDERS_EACH) as i64
        {
            break;
        }
        if std::time::Instant::now() > deadline {
            let (owed,): (Value,) =
                sqlx::query_as("select coalesce(json_agg(r), '[]') from refunds_due r")
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
            let (inbox,): (Value,) = sqlx::query_as(
                "select coalesce(json_agg(json_build_object('type', w.event_type,
                     'outcome', w.outcome)), '[]') from webhook_inbox w
                 where processed_at is null or outcome like 'refused%'",
            )
            .fetch_one(&db.pool)
            .await
            .unwrap();
            panic!(
                "orders did not settle: expected captured {captured}, refunded {refunded}; \
                 totals {totals}; refunds owed {owed}; webhooks not applied or refused {inbox}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let books = staff.admin.get("/admin/reconciliation?limit=100").await.1;
    let totals = &books["totals"][0];
    assert_eq!(
        totals["orders"],
        (CUSTOMERS * ORDERS_EACH) as i64,
        "{books}"
    );
    assert_eq!(
        totals["charged_minor"],
        (CUSTOMERS * ORDERS_EACH) as i64 * 1000
    );
    assert_eq!(totals["credit_used_minor"], count(5) * 100);

    // The provider's books.
    let ledger: Value = http
        .get(format!("{simulator}/simulator/ledger"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ledger["captured"]["EUR"], captured, "{ledger}");
    assert_eq!(ledger["refunded"]["EUR"], refunded, "{ledger}");
    // The wallets': what they lost is the credit the books say was used.
    let (balances,): (i64,) = sqlx::query_as(
        "select coalesce(sum(balance_minor), 0)::int8 from wallet_balances where currency = 'EUR'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    // Every customer, and the seller, got 300 at sign-up.
    let granted = (CUSTOMERS as i64 + 1) * 300;
    assert_eq!(granted - balances, count(5) * 100);
    // The orders nobody paid were cancelled by the timeout.
    common::eventually(
        "the unpaid orders to time out",
        Duration::from_secs(30),
        || async {
            let (open,): (i64,) = sqlx::query_as(
            "select count(*) from orders where order_state = 'open' and payment_state = 'pending'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
            open == 0
        },
    )
    .await;
    let (cancelled_unpaid,): (i64,) = sqlx::query_as(
        "select count(*) from orders where order_state = 'cancelled' and payment_state = 'pending'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(cancelled_unpaid, count(2));

    // The back office's books, from the topic alone (records de-duplicated by event id).
    let (stored,): (i64,) = sqlx::query_as("select count(*) from events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let records = common::read_topic(&env, stored as usize).await;
    let mut seen = std::collections::HashSet::new();
    let mut topic = std::collections::BTreeMap::<&str, i64>::new();
    for record in records.iter().filter(|r| seen.insert(r.event_id)) {
        let data = &record.payload;
        let minor = |field: &str| data[field]["amount_minor"].as_i64().unwrap_or(0);
        let mut add = |book: &'static str, amount: i64| *topic.entry(book).or_default() += amount;
        match record.event_type.as_str() {
            "OrderPlaced" => {
                add("charged", minor("total"));
                add("credit_used", minor("credit_applied"));
            }
            "OrderPaid" => add("captured", minor("amount")),
            "RefundProcessed" => add("refunded", minor("amount")),
            "CreditGranted" | "CreditReturned" | "CreditRefunded" => {
                add("wallets", minor("amount"))
            }
            "CreditSpent" | "CreditWithdrawn" => add("wallets", -minor("amount")),
            _ => {}
        }
    }
    assert_eq!(
        seen.len() as i64,
        stored,
        "every stored event is on the topic"
    );
    assert_eq!(topic["charged"], totals["charged_minor"].as_i64().unwrap());
    assert_eq!(
        topic["credit_used"],
        totals["credit_used_minor"].as_i64().unwrap()
    );
    assert_eq!(topic["captured"], captured, "{topic:?}");
    assert_eq!(topic["refunded"], refunded, "{topic:?}");
    assert_eq!(topic["wallets"], balances, "{topic:?}");
    engine.child.kill().await.unwrap();
}

/// Returns: delivered units come back within the window; an admin refuses one and accepts
/// others, which restocks them and refunds through the provider or to store credit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returns_restock_and_refund() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let mut engine = Process::start("up", &env);
    let api = Api::new(engine.base_url().await);
    let simulator = engine.simulator.clone().expect("simulator");
    let staff = Staff::hire(&api, &env).await;
    staff.list("MUG", 1000, 10).await;
    staff.list("CUP", 400, 10).await;
    let customer = api.customer().await;
    let me = customer.id();
    for (sku, quantity) in [("MUG", 2), ("CUP", 1)] {
        customer
            .ok(
                Method::POST,
                &format!("/customers/{me}/cart/items"),
                Some(json!({"sku": sku, "quantity": quantity})),
            )
            .await;
    }
    let placed = customer
        .ok(Method::POST, &format!("/customers/{me}/orders"), None)
        .await;
    let order = format!("/orders/{}", placed["order_id"].as_str().unwrap());
    let returns = format!("{order}/returns");
    let line = |sku: &str, quantity: i64| json!({"lines": [{"sku": sku, "quantity": quantity}], "reason": "not as pictured"});
    let (status, answer) = customer.post(&returns, line("MUG", 1)).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("invalid_fulfilment_transition"))
    );

    let session = customer
        .ok(Method::POST, &format!("{order}/payment-session"), None)
        .await;
    let provider_order = session["provider_order_id"].as_str().unwrap();
    reqwest::Client::new()
        .post(format!("{simulator}/simulator/orders/{provider_order}/pay"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    staff
        .admin
        .ok(
            Method::POST,
            &format!("{order}/shipment"),
            Some(json!({"carrier": "DHL", "tracking_number": "R1"})),
        )
        .await;
    staff
        .admin
        .ok(Method::POST, &format!("{order}/delivery"), None)
        .await;

    let (status, answer) = customer.post(&returns, line("MUG", 3)).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("invalid_return")),
        "{answer}"
    );
    let first = customer
        .ok(Method::POST, &returns, Some(line("MUG", 1)))
        .await;
    let second = customer
        .ok(Method::POST, &returns, Some(line("CUP", 1)))
        .await;
    let decide =
        |r: &Value, what: &str| format!("{returns}/{}/{what}", r["return_id"].as_str().unwrap());
    staff
        .admin
        .ok(
            Method::POST,
            &decide(&second, "refusal"),
            Some(json!({"reason": "used"})),
        )
        .await;
    let accepted = staff
        .admin
        .ok(Method::POST, &decide(&first, "acceptance"), None)
        .await;
    assert_eq!(accepted["refund"]["amount_minor"], 1000);
    assert!(accepted["refund_id"].is_string(), "{accepted}");
    let (status, answer) = staff
        .admin
        .post(&decide(&first, "acceptance"), json!(null))
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("return_not_found"))
    );

    // The second mug comes back as store credit; then the cup, after all.
    let third = customer
        .ok(Method::POST, &returns, Some(line("MUG", 1)))
        .await;
    let credited = staff
        .admin
        .ok(
            Method::POST,
            &decide(&third, "acceptance"),
            Some(json!({"refund_to": "store_credit"})),
        )
        .await;
    assert_eq!(credited["refund"]["amount_minor"], 1000);
    let wallet = customer
        .read_at("/me/wallet", &credited["global_position"])
        .await;
    assert_eq!(wallet["balances"][0]["amount_minor"], 1000, "{wallet}");
    let fourth = customer
        .ok(Method::POST, &returns, Some(line("CUP", 1)))
        .await;
    staff
        .admin
        .ok(Method::POST, &decide(&fourth, "acceptance"), None)
        .await;

    common::eventually(
        "every refund to be processed",
        Duration::from_secs(30),
        || async { customer.get(&order).await.1["payment_state"] == "refunded" },
    )
    .await;
    let view = customer.get(&order).await.1;
    assert_eq!(view["fulfilment_state"], "returned", "{view}");
    let statuses: Vec<_> = view["returns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["accepted", "refused", "accepted", "accepted"]);
    // Every unit is back on the shelf.
    common::eventually(
        "the units to be restocked",
        Duration::from_secs(30),
        || async {
            api.get("/products/MUG").await.1["stock_on_hand"] == 10
                && api.get("/products/CUP").await.1["stock_on_hand"] == 10
        },
    )
    .await;
    engine.child.kill().await.unwrap();
}

/// Money taken after the payment timeout cancelled the order goes back, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_captured_after_the_timeout_is_refunded_once() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db).with("PAYMENT_TIMEOUT_SECS", "1");
    let mut engine = Process::start("up", &env);
    let api = Api::new(engine.base_url().await);
    let simulator = engine.simulator.clone().expect("simulator");
    let staff = Staff::hire(&api, &env).await;
    staff.list("LAMP", 1200, 10).await;
    let customer = api.customer().await;
    let placed = customer.buy("LAMP", 1).await;
    let order_id = placed["order_id"].as_str().unwrap().to_owned();
    let path = format!("/orders/{order_id}");
    let session = customer
        .ok(Method::POST, &format!("{path}/payment-session"), None)
        .await;
    common::eventually("the payment timeout", Duration::from_secs(30), || async {
        customer.get(&path).await.1["status"] == "cancelled"
    })
    .await;

    // The customer pays anyway, and the provider delivers the capture three times.
    let http = reqwest::Client::new();
    let provider_order = session["provider_order_id"].as_str().unwrap();
    let report: Value = http
        .post(format!("{simulator}/simulator/orders/{provider_order}/pay"))
        .json(&json!({"duplicates": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(report["payment_id"].is_string(), "{report}");
    common::eventually(
        "the late refund to be paid out",
        Duration::from_secs(30),
        || async { customer.get(&path).await.1["payment_state"] == "refunded" },
    )
    .await;
    let (late,): (i64,) = sqlx::query_as(
        "select count(*) from events where stream_id = $1 and event_type = 'LatePaymentRefunded'",
    )
    .bind(format!("order-{order_id}"))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(late, 1);
    let ledger: Value = http
        .get(format!("{simulator}/simulator/ledger"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ledger["refunded"]["EUR"], 1200, "{ledger}");
    let view = customer.get(&path).await.1;
    assert_eq!(
        (&view["status"], &view["refunded_minor"]),
        (&json!("cancelled"), &json!(1200))
    );
    engine.child.kill().await.unwrap();
}

/// Tax and shipping are configured by admins, quoted by a preview, and charged as quoted; a
/// checkout whose price changed since the preview is refused with the new quote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tax_and_shipping_are_quoted_then_charged_as_quoted() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let (_engine, api, staff) = start(&env).await;
    staff.list("KETTLE", 2500, 10).await;
    staff.list("TEA", 450, 100).await;
    let admin = &staff.admin;
    admin
        .ok(
            Method::PUT,
            "/admin/tax-rates/DE/standard",
            Some(json!({"rate_bp": 1900})),
        )
        .await;
    admin
        .ok(
            Method::PUT,
            "/admin/shipping-methods/standard",
            Some(json!({"name": "Standard", "countries": ["DE"],
                "rate": {"kind": "per_item", "first": {"amount_minor": 495, "currency": "EUR"},
                         "additional": {"amount_minor": 100, "currency": "EUR"}},
                "free_above": {"amount_minor": 10000, "currency": "EUR"}})),
        )
        .await;
    let (status, answer) = admin
        .send(
            Method::PUT,
            "/admin/tax-rates/DE/standard",
            Some(json!({"rate_bp": 10001})),
            &[],
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("invalid_tax_rate"))
    );
    let pricing = api.get("/pricing").await.1;
    assert_eq!(pricing["tax_rates"][0]["rate_bp"], 1900, "{pricing}");
    assert_eq!(pricing["shipping_methods"][0]["id"], "standard");

    let customer = api.customer().await; // a default address in the US
    let me = customer.id();
    let berlin = customer
        .ok(
            Method::POST,
            &format!("/customers/{me}/addresses"),
            Some(
                json!({"name": "Ada", "line1": "Unter den Linden 1", "city": "Berlin",
                        "postal_code": "10117", "country": "DE", "default": true}),
            ),
        )
        .await;
    for (sku, quantity) in [("KETTLE", 1), ("TEA", 2)] {
        customer
            .ok(
                Method::POST,
                &format!("/customers/{me}/cart/items"),
                Some(json!({"sku": sku, "quantity": quantity})),
            )
            .await;
    }
    let preview = format!("/customers/{me}/checkout/preview");
    let (status, answer) = customer.post(&preview, json!(null)).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("shipping_method_required"))
    );
    // 3400 of goods; shipping 4.95 + 2 x 1.00; 19 % on each line and on the fee, rounded half up.
    let quote = customer
        .ok(
            Method::POST,
            &preview,
            Some(json!({"shipping_method": "standard"})),
        )
        .await;
    assert_eq!(quote["subtotal"]["amount_minor"], 3400, "{quote}");
    assert_eq!(quote["shipping"]["amount_minor"], 695);
    assert_eq!(quote["tax"]["amount_minor"], 475 + 171 + 132);
    assert_eq!(quote["total"]["amount_minor"], 4873);
    // Shipping to the US address: the method does not go there.
    let book = customer
        .read_at(
            &format!("/customers/{me}/addresses"),
            &berlin["global_position"],
        )
        .await;
    let us = book["items"][0]["address_id"].clone();
    assert_eq!(book["items"][0]["address"]["country"], "US");
    let (status, answer) = customer
        .post(
            &preview,
            json!({"shipping_method": "standard", "shipping_address_id": us}),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("shipping_not_available")),
        "{answer}"
    );

    let placed = customer
        .ok(
            Method::POST,
            &format!("/customers/{me}/orders"),
            Some(json!({"shipping_method": "standard", "expected_total": quote["total"]})),
        )
        .await;
    let order = customer
        .read_at(
            &format!("/orders/{}", placed["order_id"].as_str().unwrap()),
            &placed["global_position"],
        )
        .await;
    assert_eq!(
        (
            &order["subtotal_minor"],
            &order["shipping_minor"],
            &order["tax_minor"],
            &order["total_minor"]
        ),
        (&json!(3400), &json!(695), &json!(778), &json!(4873)),
        "{order}"
    );
    assert_eq!(order["shipping_method"], "standard");
    assert_eq!(order["shipping_address"]["city"], "Berlin");

    // The rate changes between preview and checkout: refused, with the new price.
    customer
        .ok(
            Method::POST,
            &format!("/customers/{me}/cart/items"),
            Some(json!({"sku": "TEA", "quantity": 1})),
        )
        .await;
    let quote = customer
        .ok(
            Method::POST,
            &preview,
            Some(json!({"shipping_method": "standard"})),
        )
        .await;
    admin
        .ok(
            Method::PUT,
            "/admin/tax-rates/DE/standard",
            Some(json!({"rate_bp": 700})),
        )
        .await;
    let (status, answer) = customer
        .post(
            &format!("/customers/{me}/orders"),
            json!({"shipping_method": "standard", "expected_total": quote["total"]}),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("price_changed")),
        "{answer}"
    );
    assert_ne!(answer["quote"]["total"], quote["total"]["amount_minor"]);
    let retry = customer
        .ok(
            Method::POST,
            &format!("/customers/{me}/orders"),
            Some(
                json!({"shipping_method": "standard", "expected_total": answer["quote"]["total"]}),
            ),
        )
        .await;
    assert!(retry["order_id"].is_string());
}

/// A real SMTP server (aiosmtpd, started here) storing what it receives in a maildir.
struct SmtpServer {
    child: tokio::process::Child,
    url: String,
    maildir: std::path::PathBuf,
}

impl SmtpServer {
    async fn start() -> SmtpServer {
        Self::start_with("aiosmtpd.handlers.Mailbox", &[]).await
    }

    /// A server that stores the `n`th message, then holds back its acknowledgement for a
    /// minute (`tests/smtp/stalling_mailbox.py`); [`SmtpServer::stalled`] tells when.
    async fn start_stalling(n: usize) -> SmtpServer {
        Self::start_with("stalling_mailbox.StallingMailbox", &[n.to_string()]).await
    }

    async fn start_with(handler: &str, args: &[String]) -> SmtpServer {
        let program = std::env::var("AIOSMTPD").unwrap_or_else(|_| {
            panic!("AIOSMTPD names no aiosmtpd: run ./scripts/test, which installs it")
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let maildir = std::env::temp_dir().join(format!("mail-{}", uuid::Uuid::new_v4().simple()));
        let child = tokio::process::Command::new(program)
            .args(["-n", "-l", &format!("127.0.0.1:{port}"), "-c", handler])
            .arg(&maildir)
            .args(args)
            .env(
                "PYTHONPATH",
                concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/smtp"),
            )
            .kill_on_drop(true)
            .spawn()
            .expect("start aiosmtpd");
        common::eventually(
            "the SMTP server to listen",
            Duration::from_secs(30),
            || async move {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
            },
        )
        .await;
        SmtpServer {
            child,
            url: format!("smtp://127.0.0.1:{port}"),
            maildir,
        }
    }

    /// Whether the stalling server holds back an acknowledgement now (or did).
    fn stalled(&self) -> bool {
        self.maildir.join("stalled").exists()
    }

    /// Every message received, as text.
    fn messages(&self) -> Vec<String> {
        std::fs::read_dir(self.maildir.join("new"))
            .map(|dir| {
                dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Customers get an email per order event that concerns them, once, also when the engine is
/// killed and started again in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_are_emailed_once_per_event_across_a_restart() {
    let mut smtp = SmtpServer::start().await;
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db).with("SMTP_URL", &smtp.url);
    let mut engine = Process::start("up", &env);
    let api = Api::new(engine.base_url().await);
    let staff = Staff::hire(&api, &env).await;
    staff.list("VASE", 3000, 5).await;
    let customer = api.customer().await;
    let placed = customer.buy("VASE", 1).await;
    let order = format!("/orders/{}", placed["order_id"].as_str().unwrap());
    staff
        .admin
        .ok(
            Method::POST,
            &format!("{order}/payment"),
            Some(json!({"amount": {"amount_minor": 3000, "currency": "EUR"}, "payment_reference": "bank-7"})),
        )
        .await;
    staff
        .admin
        .ok(
            Method::POST,
            &format!("{order}/shipment"),
            Some(json!({"carrier": "DHL", "tracking_number": "JD42"})),
        )
        .await;
    common::eventually("two emails", Duration::from_secs(30), || async {
        smtp.messages().len() >= 2
    })
    .await;
    // Recorded as sent too: a kill between the server's acceptance and the record may send
    // an email again (documented, with the same Message-ID), which is not what this shows.
    common::eventually("two emails recorded", Duration::from_secs(30), || async {
        let (sent,): (i64,) = sqlx::query_as("select count(*) from notifications_sent")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        sent == 2
    })
    .await;

    // Killed and started again: what was sent is not sent again; what follows is sent.
    engine.child.kill().await.unwrap();
    let mut engine = Process::start("up", &env);
    let base = engine.base_url().await;
    let mut admin = staff.admin.clone();
    admin.base = base.clone();
    let mut customer = customer.clone();
    customer.base = base;
    admin
        .ok(
            Method::POST,
            &format!("{order}/refunds"),
            Some(json!({"amount": {"amount_minor": 500, "currency": "EUR"}, "reason": "chipped", "to": "store_credit"})),
        )
        .await;
    common::eventually("three emails", Duration::from_secs(30), || async {
        smtp.messages().len() >= 3
    })
    .await;
    // Every email recorded as sent, and no duplicate from the restart.
    common::eventually("three emails recorded", Duration::from_secs(30), || async {
        let (sent,): (i64,) = sqlx::query_as("select count(*) from notifications_sent")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        sent == 3
    })
    .await;
    let messages = smtp.messages();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    let email = customer.get("/me").await.1["email"]
        .as_str()
        .unwrap()
        .to_owned();
    for (subject, message) in ["confirmed", "shipped", "Refund"].iter().map(|s| {
        (
            s,
            messages
                .iter()
                .find(|m| m.contains(s))
                .unwrap_or_else(|| panic!("no {s} email")),
        )
    }) {
        assert!(message.contains(&email), "{subject}: {message}");
        assert!(
            message.contains("@commerce>"),
            "a Message-ID from the event: {message}"
        );
    }
    let ids: std::collections::BTreeSet<_> = messages
        .iter()
        .filter_map(|m| {
            m.lines()
                .find(|l| l.to_lowercase().starts_with("message-id:"))
        })
        .collect();
    assert_eq!(ids.len(), 3);
    engine.child.kill().await.unwrap();
    smtp.child.kill().await.unwrap();
}

/// The Message-ID header of a stored message.
fn message_id(message: &str) -> Option<&str> {
    message
        .lines()
        .find(|l| l.to_lowercase().starts_with("message-id:"))
        .map(|l| l["message-id:".len()..].trim())
}

/// Killed inside an SMTP exchange, in the middle of a batch: the server has stored the third
/// confirmation but not yet acknowledged it when the engine dies. After the restart every
/// order's confirmation has arrived; only the one whose acknowledgement was cut off arrives a
/// second time, under the same Message-ID, so a receiver can drop it; nothing is recorded twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notifier_killed_inside_an_smtp_exchange_resends_only_the_unacknowledged_email() {
    const ORDERS: usize = 6;
    let mut smtp = SmtpServer::start_stalling(3).await;
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db).with("SMTP_URL", &smtp.url);
    let mut engine = Process::start("up", &env);
    let api = Api::new(engine.base_url().await);
    let staff = Staff::hire(&api, &env).await;
    staff.list("BOWL", 800, 20).await;
    let customer = api.customer().await;
    let mut orders = Vec::new();
    for _ in 0..ORDERS {
        orders.push(
            customer.buy("BOWL", 1).await["order_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    common::eventually(
        "the server to hold back the third acknowledgement",
        Duration::from_secs(30),
        || async { smtp.stalled() },
    )
    .await;
    engine.child.kill().await.unwrap();
    assert_eq!(
        smtp.messages().len(),
        3,
        "the batch was cut at the third email"
    );
    let (recorded,): (i64,) = sqlx::query_as("select count(*) from notifications_sent")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        recorded, 2,
        "the third email was accepted, never acknowledged"
    );

    let mut engine = Process::start("up", &env);
    engine.base_url().await;
    common::eventually("every email recorded", Duration::from_secs(30), || async {
        let (sent,): (i64,) = sqlx::query_as("select count(*) from notifications_sent")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        sent == ORDERS as i64
    })
    .await;
    let messages = smtp.messages();
    assert_eq!(messages.len(), ORDERS + 1, "{messages:#?}");
    let mut per_id = std::collections::BTreeMap::<&str, usize>::new();
    for message in &messages {
        *per_id
            .entry(message_id(message).expect("Message-ID"))
            .or_default() += 1;
    }
    assert_eq!(per_id.len(), ORDERS, "one Message-ID per event");
    assert_eq!(
        per_id.values().filter(|&&n| n == 2).count(),
        1,
        "exactly one email came twice: {per_id:?}"
    );
    for order in &orders {
        let confirmations = messages
            .iter()
            .filter(|m| m.contains(&format!("Order {order} confirmed")))
            .count();
        assert!(
            (1..=2).contains(&confirmations),
            "order {order}: {confirmations}"
        );
    }
    engine.child.kill().await.unwrap();
    smtp.child.kill().await.unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The refund of a cancelled captured order, interrupted by killing the engine right after the
/// cancellation, is made once after a restart (the provider simulator runs on its own here, so
/// it outlives the engine).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_cancellation_refund_is_made_once_after_a_restart() {
    let db = TestDatabase::create().await;
    let (provider_port, http_port) = (free_port(), free_port());
    let env = EngineEnv::embedded(&db)
        .with("HTTP_ADDR", &format!("127.0.0.1:{http_port}"))
        .with("RAZORPAY_URL", &format!("http://127.0.0.1:{provider_port}"))
        .with("RAZORPAY_KEY_ID", "rzp_test_crash")
        .with("RAZORPAY_KEY_SECRET", "key secret of the test")
        .with("RAZORPAY_WEBHOOK_SECRET", "webhook secret of the test");
    let mut provider = Process::start(
        "payment-simulator",
        &env.clone()
            .with(
                "PAYMENT_SIMULATOR_ADDR",
                &format!("127.0.0.1:{provider_port}"),
            )
            .with(
                "SIMULATOR_WEBHOOK_URL",
                &format!("http://127.0.0.1:{http_port}/webhooks/razorpay"),
            ),
    );
    let simulator = provider.base_url().await;
    let mut engine = Process::start("up", &env);
    let api = Api::new(engine.base_url().await);
    let staff = Staff::hire(&api, &env).await;
    staff.list("LAMP", 1200, 10).await;
    let customer = api.customer().await;
    let placed = customer.buy("LAMP", 1).await;
    let order_id = placed["order_id"].as_str().unwrap().to_owned();
    let path = format!("/orders/{order_id}");
    let session = customer
        .ok(Method::POST, &format!("{path}/payment-session"), None)
        .await;
    let http = reqwest::Client::new();
    http.post(format!(
        "{simulator}/simulator/orders/{}/pay",
        session["provider_order_id"].as_str().unwrap()
    ))
    .json(&json!({}))
    .send()
    .await
    .unwrap();
    common::eventually("the capture", Duration::from_secs(30), || async {
        customer.get(&path).await.1["payment_state"] == "captured"
    })
    .await;
    customer
        .ok(
            Method::POST,
            &format!("{path}/cancellation"),
            Some(json!({"reason": "never mind"})),
        )
        .await;
    engine.child.kill().await.unwrap();

    let mut engine = Process::start("up", &env);
    engine.base_url().await;
    common::eventually("the refund, paid out", Duration::from_secs(30), || async {
        customer.get(&path).await.1["payment_state"] == "refunded"
    })
    .await;
    let (requested,): (i64,) = sqlx::query_as(
        "select count(*) from events where stream_id = $1 and event_type = 'RefundRequested'",
    )
    .bind(format!("order-{order_id}"))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(requested, 1);
    let ledger: Value = http
        .get(format!("{simulator}/simulator/ledger"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ledger["refunded"]["EUR"], 1200,
        "one refund at the provider: {ledger}"
    );
    engine.child.kill().await.unwrap();
    provider.child.kill().await.unwrap();
}

/// Store credit never goes below zero over HTTP either: withdrawals and a checkout race for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_credit_never_goes_below_zero_over_http() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let (_engine, api, staff) = start(&env).await;
    staff.list("PEN", 500, 10).await;
    let customer = api.customer().await;
    let me = customer.id();
    staff
        .admin
        .ok(
            Method::POST,
            &format!("/admin/accounts/{me}/wallet/grants"),
            Some(json!({"amount": {"amount_minor": 1000, "currency": "EUR"}, "reason": "race"})),
        )
        .await;
    customer
        .ok(
            Method::POST,
            &format!("/customers/{me}/cart/items"),
            Some(json!({"sku": "PEN", "quantity": 1})),
        )
        .await;
    let withdrawals = (0..8).map(|_| {
        let admin = staff.admin.clone();
        tokio::spawn(async move {
            let (status, _) = admin
                .post(
                    &format!("/admin/accounts/{me}/wallet/withdrawals"),
                    json!({"amount": {"amount_minor": 300, "currency": "EUR"}, "reason": "race"}),
                )
                .await;
            (status, 300)
        })
    });
    let checkout = {
        let customer = customer.clone();
        tokio::spawn(async move {
            let (status, _) = customer
                .post(
                    &format!("/customers/{me}/orders"),
                    json!({"store_credit": {"amount_minor": 400, "currency": "EUR"}}),
                )
                .await;
            (if status == 201 { 200 } else { status }, 400)
        })
    };
    let mut spent = 0;
    for result in futures::future::join_all(withdrawals.chain([checkout])).await {
        let (status, amount) = result.unwrap();
        match status {
            200 => spent += amount,
            422 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(spent <= 1000 && spent > 600, "{spent}");
    let (balance,): (i64,) = sqlx::query_as(
        "select coalesce(sum(case when event_type in ('CreditGranted', 'CreditReturned', 'CreditRefunded')
                  then (payload->'amount'->>'amount_minor')::int8
                  else -(payload->'amount'->>'amount_minor')::int8 end), 0)::int8
         from events where stream_id = $1",
    )
    .bind(format!("wallet-{me}"))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(balance, 1000 - spent);
    assert!(balance >= 0);
}

/// A payment an admin recorded offline never went through the provider, so when its order is
/// cancelled the refund stays owed for an admin: the payment says `offline`, nothing is
/// refunded at the provider, the order records no refund and `refunds_due` (a read model,
/// equal to a fresh projection) still lists it. That the provider is not even asked is
/// `processes::tests::an_offline_payment_is_not_refunded_through_the_provider`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_order_paid_offline_is_not_refunded_through_the_provider() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let mut engine = Process::start("up", &env);
    let api = Api::new(engine.base_url().await);
    let simulator = engine.simulator.clone().expect("simulator");
    let staff = Staff::hire(&api, &env).await;
    staff.list("MUG", 1000, 10).await;
    let customer = api.customer().await;
    let placed = customer.buy("MUG", 1).await;
    let order = placed["order_id"].as_str().unwrap().to_owned();
    let path = format!("/orders/{order}");
    let view = customer.read_at(&path, &placed["global_position"]).await;
    let total = view["total_minor"].as_i64().expect("total_minor");
    staff
        .admin
        .ok(
            Method::POST,
            &format!("{path}/payment"),
            Some(json!({"amount": {"amount_minor": total, "currency": "EUR"},
                "payment_reference": "till-7", "payment_method": "cash_on_delivery"})),
        )
        .await;
    let cancelled = customer
        .ok(
            Method::POST,
            &format!("{path}/cancellation"),
            Some(json!({"reason": "changed my mind"})),
        )
        .await;
    let version = cancelled["stream_version"].as_i64().unwrap();
    // The refunds-due read model took the cancellation in.
    common::eventually(
        "refunds_due to take the cancellation in",
        Duration::from_secs(30),
        || async {
            let (seen,): (Option<i64>,) = sqlx::query_as(
                "select (select version from projection_streams
                         where projection = 'refunds_due' and stream_id = $1)",
            )
            .bind(format!("order-{order}"))
            .fetch_one(&db.pool)
            .await
            .unwrap();
            seen.is_some_and(|v| v >= version)
        },
    )
    .await;
    let (owed,): (i64,) =
        sqlx::query_as("select amount_minor from refunds_due where order_id = $1::uuid")
            .bind(&order)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(owed, total, "still owed, for an admin");
    let history = customer.get(&format!("{path}/history")).await.1;
    let types: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert!(!types.contains(&"RefundRequested"), "{types:?}");
    let paid = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "OrderPaid")
        .unwrap();
    assert_eq!(paid["payload"]["offline"], true, "{paid}");
    let ledger: Value = reqwest::get(format!("{simulator}/simulator/ledger"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        ledger["refunded"]["EUR"].as_i64().unwrap_or(0) == 0,
        "nothing was refunded at the provider: {ledger}"
    );
    engine.child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_catalog_is_seeded_once() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let counts = || async {
        let (products, categories, accounts): (i64, i64, i64) = sqlx::query_as(
            "select count(*) filter (where event_type = 'ProductCreated'),
                    count(*) filter (where event_type = 'CategoryDefined'),
                    count(*) filter (where event_type = 'AccountRegistered')
             from events",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        (products, categories, accounts)
    };
    let mut first = Process::start("up --demo", &env);
    first.base_url().await;
    assert!(
        first.demo_admin.is_some(),
        "the first start creates the demo admin"
    );
    first.child.kill().await.unwrap();
    assert_eq!(counts().await, (6, 3, 1));

    // Started again on the same database: nothing is listed or created twice.
    let mut again = Process::start("up --demo", &env);
    let api = Api::new(again.base_url().await);
    assert_eq!(again.demo_admin, None, "no second demo admin");
    assert_eq!(counts().await, (6, 3, 1));
    let at = common::caught_up(&db.pool).await;
    let (status, page) = api.get(&format!("/products?min_position={at}")).await;
    assert_eq!((status, page["total"].as_i64()), (200, Some(6)), "{page}");
}
