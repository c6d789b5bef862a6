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
