//! Auditors: an order's complete history, its state at any past moment, and proof that the
//! log was not edited, over HTTP and from the command line.

mod common;

use std::time::Duration;

use common::{Api, EngineEnv, Process, Staff, TestDatabase};
use reqwest::Method;
use serde_json::{json, Value};

async fn run_cli(env: &EngineEnv, args: &[&str]) -> (bool, String) {
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_commerce"))
            .args(args)
            .envs(env.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output(),
    )
    .await
    .expect("the command ends")
    .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

struct Shop {
    db: TestDatabase,
    env: EngineEnv,
    _engine: Process,
    api: Api,
    staff: Staff,
    customer: Api,
    order: String,
}

/// A delivered order: placed, paid, shipped, delivered.
async fn shop() -> Shop {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let mut engine = Process::start("up", &env);
    let api = Api::new(engine.base_url().await);
    let staff = Staff::hire(&api, &env).await;
    for (sku, price) in [("PEN", 150), ("INK", 300)] {
        staff.list(sku, price, 10).await;
    }
    let customer = api.customer().await;
    let cart = format!("/customers/{}/cart/items", customer.id());
    customer
        .ok(
            Method::POST,
            &cart,
            Some(json!({"sku": "PEN", "quantity": 2})),
        )
        .await;
    customer
        .ok(
            Method::POST,
            &cart,
            Some(json!({"sku": "INK", "quantity": 1})),
        )
        .await;
    let placed = customer
        .ok(
            Method::POST,
            &format!("/customers/{}/orders", customer.id()),
            None,
        )
        .await;
    let order = placed["order_id"].as_str().unwrap().to_owned();
    staff
        .admin
        .ok(Method::POST, &format!("/orders/{order}/payment"),
            Some(json!({"amount": {"amount_minor": 600, "currency": "EUR"}, "payment_reference": "psp-9"})))
        .await;
    staff
        .admin
        .ok(
            Method::POST,
            &format!("/orders/{order}/shipment"),
            Some(json!({"carrier": "UPS", "tracking_number": "1Z"})),
        )
        .await;
    staff
        .admin
        .ok(Method::POST, &format!("/orders/{order}/delivery"), None)
        .await;
    Shop {
        db,
        env,
        _engine: engine,
        api,
        staff,
        customer,
        order,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orders_history_and_its_state_at_any_point() {
    let shop = shop().await;
    let order = &shop.order;
    let (status, history) = shop.customer.get(&format!("/orders/{order}/history")).await;
    assert_eq!(status, 200, "{history}");
    let events = history["events"].as_array().unwrap();
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "OrderPlaced",
            "OrderSplitIntoFulfilments",
            "CartCheckedOut",
            "StockReserved",
            "StockReserved",
            "OrderPaid",
            "FulfilmentShipped",
            "OrderShipped",
            "FulfilmentDelivered",
            "OrderDelivered"
        ]
        .iter()
        .filter(|t| types.contains(t))
        .copied()
        .collect::<Vec<_>>()
    );
    assert_eq!(types.len(), 10, "{types:?}");
    let positions: Vec<i64> = events
        .iter()
        .map(|e| e["global_position"].as_i64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "in log order");
    for e in events {
        for field in [
            "event_id",
            "schema_version",
            "recorded_at",
            "correlation_id",
            "causation_id",
            "payload",
        ] {
            assert!(!e[field].is_null(), "{field} in {e}");
        }
    }
    let by_type = |t: &str| {
        events
            .iter()
            .find(|e| e["event_type"] == t)
            .unwrap()
            .clone()
    };
    assert_eq!(
        by_type("OrderPlaced")["actor"],
        format!("account:{}", shop.customer.id())
    );
    assert_eq!(
        by_type("OrderShipped")["actor"],
        format!("account:{}", shop.staff.admin.id())
    );
    assert_eq!(
        by_type("OrderPlaced")["correlation_id"],
        by_type("StockReserved")["correlation_id"]
    );

    // The order as it stood after each version, rebuilt from events.
    // Version 2 splits it into fulfilments; 4 and 6 move its one part.
    for (version, status) in [
        (1, "placed"),
        (2, "placed"),
        (3, "paid"),
        (5, "shipped"),
        (7, "delivered"),
    ] {
        let (code, then) = shop
            .customer
            .get(&format!("/orders/{order}?version={version}"))
            .await;
        assert_eq!(code, 200, "{then}");
        assert_eq!(
            (then["status"].as_str(), then["version"].as_i64()),
            (Some(status), Some(version))
        );
        assert_eq!(then["source"], "events");
        assert_eq!(
            then["total"],
            json!({"amount_minor": 600, "currency": "EUR"})
        );
    }
    // ... and at a moment: just when it was paid, and before it existed.
    let paid_at = by_type("OrderPaid")["recorded_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, then) = shop
        .customer
        .get(&format!(
            "/orders/{order}?as_of={}",
            paid_at.replace('+', "%2B")
        ))
        .await;
    assert_eq!(then["status"], "paid", "{then}");
    let (code, before) = shop
        .customer
        .get(&format!("/orders/{order}?as_of=2000-01-01T00:00:00Z"))
        .await;
    assert_eq!(
        (code, before["code"].as_str()),
        (404, Some("order_not_found"))
    );
    let (code, _) = shop
        .customer
        .get(&format!("/orders/{order}?as_of=yesterday"))
        .await;
    assert_eq!(code, 400);

    // Auditors see any order; other customers (this seller is one too) see none.
    let auditor_email = format!("auditor-{}@example.org", uuid::Uuid::new_v4().simple());
    let auditor_id = shop.api.register(&auditor_email, "auditor password").await;
    shop.staff
        .admin
        .ok(
            Method::PUT,
            &format!("/admin/accounts/{auditor_id}/roles/auditor"),
            None,
        )
        .await;
    let (auditor, _) = shop.api.login(&auditor_email, "auditor password").await;
    assert_eq!(
        auditor.get(&format!("/orders/{order}/history")).await.0,
        200
    );
    assert_eq!(
        auditor.get(&format!("/orders/{order}?version=3")).await.1["status"],
        "paid"
    );
    let stranger = shop.api.customer().await;
    assert_eq!(
        stranger.get(&format!("/orders/{order}/history")).await.0,
        404
    );
    assert_eq!(
        stranger.get(&format!("/orders/{order}?version=1")).await.0,
        404
    );
    assert_eq!(
        shop.staff
            .seller
            .get(&format!("/orders/{order}/history"))
            .await
            .0,
        404
    );

    // The same from the command line.
    let (ok, out) = run_cli(&shop.env, &["replay", "order", order, "--version", "3"]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("OrderDelivered") && out.contains("StockReserved"),
        "timeline: {out}"
    );
    assert!(
        out.contains("\"status\": \"paid\""),
        "state at version 3: {out}"
    );
    let (ok, out) = run_cli(&shop.env, &["replay", "order", order, "--at", &paid_at]).await;
    assert!(ok && out.contains("\"status\": \"paid\""), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_tampering_with_its_exit_status_and_over_http() {
    let shop = shop().await;
    let (ok, out) = run_cli(&shop.env, &["verify"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("intact"), "{out}");
    let (status, report) = shop.staff.admin.get("/audit/verify").await;
    assert_eq!(status, 200);
    assert_eq!(report["intact"], true);
    let head = report["head_hash"].as_str().unwrap().to_owned();
    assert_eq!(shop.customer.get("/audit/verify").await.0, 403);

    // The event contract is published as JSON Schemas, for anyone.
    let (status, published) = Api::new(shop.api.base.clone()).get("/events/schemas").await;
    assert_eq!(status, 200);
    let schemas = published["schemas"].as_array().unwrap();
    let versions: Vec<i64> = schemas
        .iter()
        .filter(|s| s["event_type"] == "OrderPaid")
        .map(|s| s["schema_version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2, 3]);
    assert!(schemas
        .iter()
        .all(|s| s["schema"]["$schema"].as_str().unwrap().contains("2020-12")));

    // Someone lowers the amount paid, directly in the database.
    sqlx::query(
        "update events set payload = jsonb_set(payload, '{amount,amount_minor}', '1')
         where stream_id = $1 and event_type = 'OrderPaid'",
    )
    .bind(format!("order-{}", shop.order))
    .execute(&shop.db.pool)
    .await
    .unwrap();

    let (ok, out) = run_cli(&shop.env, &["verify"]).await;
    assert!(!ok, "exit status reports tampering: {out}");
    assert!(
        out.contains(&format!(
            "TAMPERED: first broken stream order-{} version 3: Edited",
            shop.order
        )),
        "{out}"
    );
    let (_, report): (u16, Value) = shop.staff.admin.get("/audit/verify").await;
    assert_eq!(report["intact"], false);
    assert_eq!(report["first"]["kind"], "edited");
    assert_eq!(report["first"]["stream_version"], 3);
    assert_eq!(
        report["head_hash"],
        head.as_str(),
        "the head itself was not rewritten"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn old_event_versions_read_as_the_current_schema_everywhere() {
    use events::{EventStore, ExpectedVersion, Metadata, NewEvent, PgEventStore, StreamAppend};
    let db = TestDatabase::create().await;
    let env = EngineEnv::kafka(&db);
    let mut engine = Process::start("up", &env);
    let api = Api::new(engine.base_url().await);
    let staff = Staff::hire(&api, &env).await;
    staff.list("OLD", 700, 5).await;
    let customer = api.customer().await;
    let placed = customer.buy("OLD", 1).await;
    let order = placed["order_id"].as_str().unwrap().to_owned();

    // An older release recorded the payment as OrderPaid v1, without payment_method.
    PgEventStore::new(db.pool.clone())
        .append(vec![StreamAppend {
            stream_id: format!("order-{order}"),
            expected: ExpectedVersion::Exact(2),
            events: vec![NewEvent {
                event_id: uuid::Uuid::now_v7(),
                event_type: "OrderPaid".into(),
                schema_version: 1,
                payload: json!({"order_id": order, "amount": {"amount_minor": 700, "currency": "EUR"},
                                "payment_reference": "legacy-1"}),
                metadata: Metadata::default(),
            }],
        }])
        .await
        .unwrap();

    // The aggregate reads it: the order counts as paid, so it can ship.
    let shipped = staff
        .admin
        .ok(
            Method::POST,
            &format!("/orders/{order}/shipment"),
            Some(json!({"carrier": "DHL", "tracking_number": "T"})),
        )
        .await;
    // The read model, fed through Kafka, shows the field the old event lacked.
    let view = customer
        .read_at(&format!("/orders/{order}"), &shipped["global_position"])
        .await;
    assert_eq!(
        (view["status"].as_str(), view["payment_method"].as_str()),
        (Some("shipped"), Some("unspecified"))
    );
    // History and time travel show the current schema too.
    let (_, history) = customer.get(&format!("/orders/{order}/history")).await;
    let paid = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "OrderPaid")
        .unwrap()
        .clone();
    assert_eq!(paid["schema_version"], 3);
    assert_eq!(paid["payload"]["payment_method"], "unspecified");
    assert_eq!(paid["payload"]["offline"], false);
    assert_eq!(
        customer.get(&format!("/orders/{order}?version=3")).await.1["status"],
        "paid"
    );
    // So does the Kafka topic.
    let (count,): (i64,) = sqlx::query_as("select count(*) from events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let records = common::read_topic(&env, count as usize).await;
    let on_kafka = records
        .iter()
        .find(|e| e.event_type == "OrderPaid")
        .unwrap();
    assert_eq!(on_kafka.schema_version, 3);
    assert_eq!(on_kafka.payload["payment_method"], "unspecified");
    // A new payment records its method, and that an admin recorded it offline, as v3.
    let second = api.customer().await;
    let placed = second.buy("OLD", 1).await;
    let new_order = placed["order_id"].as_str().unwrap();
    let (status, body) = staff
        .admin
        .send(Method::POST, &format!("/orders/{new_order}/payment"), Some(json!({
            "amount": {"amount_minor": 700, "currency": "EUR"}, "payment_reference": "p", "payment_method": "iou"})), &[])
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_payment_method"))
    );
    staff
        .admin
        .ok(Method::POST, &format!("/orders/{new_order}/payment"), Some(json!({
            "amount": {"amount_minor": 700, "currency": "EUR"}, "payment_reference": "p", "payment_method": "bank_transfer"})))
        .await;
    // The stored old event is untouched, and the chains still verify.
    let stored: Vec<(i32, Value)> = sqlx::query_as(
        "select schema_version, payload from events where event_type = 'OrderPaid' order by global_position",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(stored[0].0, 1);
    assert!(stored[0].1.get("payment_method").is_none());
    assert_eq!(
        (stored[1].0, stored[1].1["payment_method"].as_str()),
        (3, Some("bank_transfer"))
    );
    assert_eq!(stored[1].1["offline"], true);
    engine.child.kill().await.unwrap();
    assert!(events::verify::verify(&db.pool, |_, _| {})
        .await
        .unwrap()
        .intact());
}

/// Erasure: a person's email, names and addresses are stored and published sealed; once they
/// are erased, the log, the topic, the history, the live read models and a fresh projection
/// all show them as erased, other people's data is untouched, and the chains still verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn erased_personal_data_reads_as_erased_everywhere_and_the_chains_still_verify() {
    use projections::{projector, registry, Projector};
    let db = TestDatabase::create().await;
    let env = EngineEnv::kafka(&db);
    let mut engine = Process::start("up", &env);
    let api = Api::new(engine.base_url().await);
    let staff = Staff::hire(&api, &env).await;
    staff.list("ERA", 500, 5).await;
    let email = format!("forget-me-{}@example.org", uuid::Uuid::new_v4().simple());
    let ada_id = api.register(&email, "customer password").await;
    let (ada, _) = api.login(&email, "customer password").await;
    ada.add_address().await;
    let placed = ada.buy("ERA", 1).await;
    let order = placed["order_id"].as_str().unwrap().to_owned();
    let bob = api.customer().await;
    let bobs = bob.buy("ERA", 1).await;
    let bobs_order = bobs["order_id"].as_str().unwrap().to_owned();
    let personal = [
        email.as_str(),
        "Test User",
        "Test Customer",
        "742 Evergreen Terrace",
        "Springfield",
        "49007",
    ];

    // At rest, sealed: no stored payload holds any of it; the engine still reads it.
    let stored = || async {
        let (text,): (String,) = sqlx::query_as(
            "select string_agg(payload::text, ' ' order by global_position) from events",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        text
    };
    let at_rest = stored().await;
    for plain in personal {
        assert!(!at_rest.contains(plain), "{plain} is stored in the clear");
    }
    assert!(
        at_rest.contains("\"country\": \"US\""),
        "the country stays readable"
    );
    let view = ada
        .read_at(&format!("/orders/{order}"), &placed["global_position"])
        .await;
    assert_eq!(view["shipping_address"]["line1"], "742 Evergreen Terrace");
    let (_, info) = staff.admin.get(&format!("/admin/accounts/{ada_id}")).await;
    assert_eq!(info["email"], email.as_str());

    // The holder closes the account with erasure; an admin's request later changes nothing.
    let (status, erased) = ada.send(Method::DELETE, "/me?erase=true", None, &[]).await;
    assert_eq!(status, 200, "{erased}");
    let (status, again) = staff
        .admin
        .send(
            Method::POST,
            &format!("/admin/accounts/{ada_id}/erasure"),
            None,
            &[],
        )
        .await;
    assert_eq!(status, 200, "{again}");
    let erasures: Vec<(String,)> = sqlx::query_as(
        "select event_type from events where stream_id = $1 order by stream_version",
    )
    .bind(format!("account-{ada_id}"))
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        erasures.iter().map(|(t,)| t.as_str()).collect::<Vec<_>>(),
        ["AccountRegistered", "AccountClosed", "AccountErased"]
    );
    let (status, missing) = staff
        .admin
        .send(
            Method::POST,
            &format!("/admin/accounts/{}/erasure", uuid::Uuid::now_v7()),
            None,
            &[],
        )
        .await;
    assert_eq!(
        (status, missing["code"].as_str()),
        (404, Some("account_not_found"))
    );
    let (status, own) = staff
        .admin
        .send(
            Method::POST,
            &format!("/admin/accounts/{}/erasure", staff.admin.id()),
            None,
            &[],
        )
        .await;
    assert_eq!(
        (status, own["code"].as_str()),
        (422, Some("cannot_erase_own_account"))
    );
    assert!(
        stored().await.starts_with(&at_rest),
        "the stored bytes did not change"
    );

    // The history and the account answer with placeholders; the other customer's data stays.
    let (_, history) = staff.admin.get(&format!("/orders/{order}/history")).await;
    let placed_event = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "OrderPlaced")
        .unwrap()
        .clone();
    assert_eq!(
        placed_event["payload"]["shipping_address"]["line1"],
        "(erased)"
    );
    assert_eq!(placed_event["payload"]["shipping_address"]["country"], "US");
    let (_, info) = staff.admin.get(&format!("/admin/accounts/{ada_id}")).await;
    let placeholder = format!("erased-{}@erased.invalid", ada_id.simple());
    assert_eq!(
        (
            info["email"].as_str(),
            info["display_name"].as_str(),
            info["closed"].as_bool()
        ),
        (Some(placeholder.as_str()), Some("(erased)"), Some(true))
    );
    let (_, bobs_history) = staff
        .admin
        .get(&format!("/orders/{bobs_order}/history"))
        .await;
    assert!(bobs_history.to_string().contains("742 Evergreen Terrace"));
    // The account cannot sign in; its email is free for a new account.
    let (status, _) = api
        .post(
            "/auth/login",
            json!({"email": email, "password": "customer password"}),
        )
        .await;
    assert_eq!(status, 401);
    api.register(&email, "another password").await;

    // The live read models (fed from Kafka) patched the person's rows.
    common::caught_up(&db.pool).await;
    let store = events::PgEventStore::new(db.pool.clone());
    let (account_email, name): (String, String) =
        sqlx::query_as("select email, display_name from accounts where account_id = $1")
            .bind(ada_id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        (account_email.as_str(), name.as_str()),
        (placeholder.as_str(), "(erased)")
    );
    let (book, shipping): (Value, Value) = sqlx::query_as(
        "select a.address, o.shipping_address from customer_addresses a
         join orders o on o.customer_id = a.customer_id where a.customer_id = $1",
    )
    .bind(ada_id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    for address in [&book, &shipping] {
        assert_eq!(
            (address["name"].as_str(), address["country"].as_str()),
            (Some("(erased)"), Some("US"))
        );
        assert_eq!(address["line1"], "(erased)");
    }
    let (bobs_shipping,): (Value,) =
        sqlx::query_as("select shipping_address from orders where order_id = $1::uuid")
            .bind(&bobs_order)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(bobs_shipping["line1"], "742 Evergreen Terrace");

    // On Kafka: sealed records, none holding the plain values, read as erased by the engine.
    let (count,): (i64,) = sqlx::query_as("select count(*) from events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let mut records = common::read_topic(&env, count as usize).await;
    let published = serde_json::to_string(&records).unwrap();
    for plain in personal {
        assert!(
            !published.contains(plain),
            "{plain} is on Kafka in the clear"
        );
    }
    let registered = records
        .iter()
        .find(|e| e.event_type == "AccountRegistered" && e.stream_id == format!("account-{ada_id}"))
        .unwrap();
    assert!(registered.payload["email"]["ciphertext"].is_string());
    events::personal::Vault::new(db.pool.clone())
        .open_events(&mut records)
        .await
        .unwrap();
    let registered = records
        .iter()
        .find(|e| e.event_type == "AccountRegistered" && e.stream_id == format!("account-{ada_id}"))
        .unwrap();
    assert_eq!(registered.payload["email"], placeholder.as_str());
    assert!(
        serde_json::to_string(&records)
            .unwrap()
            .contains("742 Evergreen Terrace"),
        "Bob's opens"
    );

    // A fresh projection of the log equals the live read models.
    engine.child.kill().await.unwrap();
    let live = projector::snapshot(&db.pool).await.unwrap();
    projector::reset(&db.pool).await.unwrap();
    let log = {
        use events::EventStore;
        store.read_all(0, 1_000_000).await.unwrap()
    };
    Projector::new(db.pool.clone(), registry::all())
        .apply_batch(&log, None)
        .await
        .unwrap();
    assert_eq!(projector::snapshot(&db.pool).await.unwrap(), live);

    // The hash chains cover the stored bytes, which erasure did not touch.
    let (ok, out) = run_cli(&env, &["verify"]).await;
    assert!(ok && out.contains("intact"), "{out}");
}
