//! The engine with its event store on EventStoreDB (`EVENTSTOREDB_URL`, feature
//! `eventstoredb`); read models, credentials and checkpoints stay in PostgreSQL.

mod common;

use std::time::Duration;

use common::{Api, EngineEnv, Process, Staff, TestDatabase};
use reqwest::Method;
use uuid::Uuid;

/// An EventStoreDB that cannot be reached stops the engine at startup with a message naming
/// the setting, instead of an engine that accepts requests it cannot store.
#[tokio::test]
async fn the_engine_refuses_to_start_without_its_eventstoredb() {
    let db = TestDatabase::create().await;
    // Port 9 (discard) has no EventStoreDB behind it.
    let env = EngineEnv::embedded(&db).with(
        "EVENTSTOREDB_URL",
        "esdb://127.0.0.1:9?tls=false&maxDiscoverAttempts=1&discoveryInterval=100",
    );
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_commerce"))
            .arg("up")
            .envs(env.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output(),
    )
    .await
    .expect("the engine gives up")
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "started without EventStoreDB");
    assert!(stderr.contains("EVENTSTOREDB_URL"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("listening"),
        "the API must not come up"
    );
}

/// The shop's journey on a live EventStoreDB: staff list a product, a customer buys, the
/// read models catch up (read-your-writes through the store port), the history walks the
/// streams the order names, and verification says it has no chains to check.
#[tokio::test]
#[ignore = "needs a live EventStoreDB: set EVENTSTOREDB_URL and pass --ignored"]
async fn the_journey_runs_on_eventstoredb() {
    let url = std::env::var("EVENTSTOREDB_URL").expect("EVENTSTOREDB_URL names a live server");
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db).with("EVENTSTOREDB_URL", &url);
    let mut engine = Process::start("up", &env);
    let api = Api::new(engine.base_url().await);
    let staff = Staff::hire(&api, &env).await;
    // The server is shared between runs: a SKU of our own.
    let sku = format!("ES-{}", &Uuid::new_v4().simple().to_string()[..8]).to_uppercase();
    staff.list(&sku, 500, 3).await;

    let customer = api.customer().await;
    let placed = customer.buy(&sku, 2).await;
    let order = placed["order_id"].as_str().expect("order id").to_owned();
    let position = &placed["global_position"];
    let read = customer
        .read_at(&format!("/customers/{}/orders", customer.id()), position)
        .await;
    assert!(read.to_string().contains(&order), "{read}");
    let product = api.read_at(&format!("/products/{sku}"), position).await;
    assert_eq!(product["stock_on_hand"], 1, "{product}");

    let history = customer
        .ok(Method::GET, &format!("/orders/{order}/history"), None)
        .await;
    let types: Vec<_> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types, ["OrderPlaced", "CartCheckedOut", "StockReserved"]);

    let (status, body) = staff.admin.get("/audit/verify").await;
    assert_eq!(status, 501, "{body}");
    assert_eq!(body["code"], "verification_unavailable");
}
