//! Zero-downtime rebuild: `commerce rebuild --all` runs while commands flow and the API keeps
//! answering; afterwards the read models equal a fresh projection of the log. A projection
//! whose tables start empty (a new one) backfills the same way.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{Api, EngineEnv, Process, Staff, TestDatabase};
use projections::{projector, registry, Projector};
use reqwest::Method;
use serde_json::json;

async fn rebuild(env: &EngineEnv, args: &[&str]) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_commerce"))
        .arg("rebuild")
        .args(args)
        .envs(env.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "rebuild failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rebuilding_while_commands_flow_matches_a_fresh_projection() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let mut engine = Process::start("up", &env);
    let api = Api::new(engine.base_url().await);
    let staff = Staff::hire(&api, &env).await;
    for sku in ["A", "B", "C"] {
        staff.list(sku, 500, 100000).await;
    }

    // Shoppers keep shopping, a reader keeps reading.
    let stop = Arc::new(AtomicBool::new(false));
    let orders = Arc::new(AtomicUsize::new(0));
    let shoppers: Vec<_> = (0..3)
        .map(|w| {
            let (api, stop, orders) = (api.clone(), stop.clone(), orders.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let c = api.customer().await;
                    let sku = ["A", "B", "C"][(w + i) % 3];
                    let placed = c.buy(sku, 1).await;
                    if i % 3 == 0 {
                        let order = placed["order_id"].as_str().unwrap();
                        c.ok(
                            Method::POST,
                            &format!("/orders/{order}/cancellation"),
                            Some(json!({"reason": "r"})),
                        )
                        .await;
                    }
                    orders.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    let reader = {
        let (api, stop) = (api.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0, 0);
            while !stop.load(Ordering::Relaxed) {
                match api.get("/products").await.0 {
                    200 => ok += 1,
                    _ => failed += 1,
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (ok, failed)
        })
    };

    while orders.load(Ordering::Relaxed) < 15 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = rebuild(&env, &["--all"]).await;
    let every = registry::names().join(", ");
    assert!(out.contains(&format!("rebuilt {every}")), "{out}");
    eprintln!("figure[rebuild]: {}", out.trim());
    while orders.load(Ordering::Relaxed) < 30 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = rebuild(&env, &["orders", "catalog"]).await;
    assert!(out.contains("rebuilt orders, catalog"), "{out}");
    // The rebuilt catalog table keeps the search index's stamp, and the running API's index
    // follows the new table: a product listed now is found at once.
    let (stamps,): (i64,) = sqlx::query_as(
        "select count(*) from pg_trigger
         where tgrelid = 'catalog_products'::regclass and tgname = 'catalog_products_stamp'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(stamps, 1, "the new generation has the trigger");
    let listed = staff
        .admin
        .ok(
            Method::POST,
            "/products",
            Some(json!({"sku": "AFTER", "name": "Zeppelin after the rebuild",
                        "category": "test", "price": {"amount_minor": 900, "currency": "EUR"}})),
        )
        .await;
    let at = listed["global_position"].as_i64().unwrap();
    let (status, found) = api
        .get(&format!("/products?q=zeppelin&min_position={at}"))
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["items"][0]["sku"], "AFTER", "{found}");
    let (_, all) = api.get(&format!("/products?min_position={at}")).await;
    assert_eq!(all["total"], 4, "A, B, C and AFTER: {all}");
    stop.store(true, Ordering::Relaxed);
    for s in shoppers {
        s.await.unwrap();
    }
    let (ok, failed) = reader.await.unwrap();
    assert!(ok > 0);
    assert_eq!(failed, 0, "the API kept answering through both rebuilds");

    // Caught up, the live generation equals a fresh projection of the log.
    common::caught_up(&db.pool).await;
    engine.child.kill().await.unwrap();
    let live = projector::snapshot(&db.pool).await.unwrap();
    assert_eq!(
        live["orders"].as_array().unwrap().len(),
        orders.load(Ordering::Relaxed)
    );
    let leftovers: Vec<(String,)> =
        sqlx::query_as("select nspname::text from pg_namespace where nspname like 'rebuild_%'")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert!(
        leftovers.is_empty(),
        "old generations are dropped: {leftovers:?}"
    );
    projector::reset(&db.pool).await.unwrap();
    let log = {
        use events::EventStore;
        events::PgEventStore::new(db.pool.clone())
            .read_all(0, 1_000_000)
            .await
            .unwrap()
    };
    Projector::new(db.pool.clone(), registry::all())
        .apply_batch(&log, None)
        .await
        .unwrap();
    assert_eq!(projector::snapshot(&db.pool).await.unwrap(), live);

    // A projection whose tables start empty (as a new one would) backfills the same way.
    sqlx::query("truncate accounts")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("delete from projection_streams where projection = 'accounts'")
        .execute(&db.pool)
        .await
        .unwrap();
    rebuild(&env, &["accounts"]).await;
    let (accounts,): (i64,) = sqlx::query_as("select count(*) from accounts")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let (registered,): (i64,) =
        sqlx::query_as("select count(*) from events where event_type = 'AccountRegistered'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(accounts, registered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_back_office_runs_one_rebuild_at_a_time() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let mut engine = Process::start("up", &env);
    let api = Api::new(engine.base_url().await);
    let staff = Staff::hire(&api, &env).await;
    staff.list("A", 500, 10).await;

    // Held here, the switch lock keeps the rebuild running (its switch waits for it).
    let mut holder = db.pool.acquire().await.unwrap();
    sqlx::query("select pg_advisory_lock_shared($1)")
        .bind(projections::rebuild::SWITCH_LOCK)
        .execute(&mut *holder)
        .await
        .unwrap();
    let path = "/admin/projections/rebuild";
    let (status, started) = staff
        .admin
        .post(path, json!({"projections": ["catalog"]}))
        .await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["state"], "running");
    let (status, refused) = staff.admin.post(path, json!({})).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("rebuild_running")),
        "{refused}"
    );
    let (status, unknown) = staff
        .admin
        .post(path, json!({"projections": ["nope"]}))
        .await;
    assert_eq!(
        (status, unknown["code"].as_str()),
        (422, Some("unknown_projection")),
        "{unknown}"
    );
    let (_, seen) = staff.admin.get("/admin/projections").await;
    assert_eq!(seen["rebuild"]["state"], "running", "{seen}");

    // Released, the rebuild switches and finishes; then another may start.
    sqlx::query("select pg_advisory_unlock_shared($1)")
        .bind(projections::rebuild::SWITCH_LOCK)
        .execute(&mut *holder)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, seen) = staff.admin.get("/admin/projections").await;
        match seen["rebuild"]["state"].as_str() {
            Some("done") => break,
            Some("running") if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            other => panic!("the rebuild ended {other:?}: {seen}"),
        }
    }
    let (status, again) = staff
        .admin
        .post(path, json!({"projections": ["catalog"]}))
        .await;
    assert_eq!(status, 202, "{again}");
}
