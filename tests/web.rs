//! The web pages in a real browser: `tests/browser/shopper.mjs` (playwright-core driving
//! Debian's Chromium, axe-core checking every page) walks a shopper from search to a delivered
//! order and a return, against the quick start's engine: `commerce up --demo`.
//!
//! Part of the `journey` test binary (one binary, one link). Needs `chromium` and the npm
//! packages of `tests/browser` (`./scripts/test` installs both); fails loudly without them.

use std::path::Path;
use std::time::Duration;

use crate::common::{eventually, Api, EngineEnv, Process, TestDatabase};

/// Runs `tests/browser/<script>` against `base` with `vars`; fails the test when it fails.
/// Screenshots go to `target/screenshots`. Returns what it printed.
async fn browse(script: &str, base: &str, vars: &[(&str, &str)]) -> String {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists() && browser_dir.join("node_modules/playwright-core").exists(),
        "the browser tests need {chromium} and tests/browser/node_modules: run ./scripts/test, \
         which installs Debian's chromium and the npm packages"
    );
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    let run = tokio::process::Command::new("node")
        .arg(script)
        .current_dir(&browser_dir)
        .env("BASE", base)
        .env("SCREENSHOTS", &screenshots)
        .env("CHROMIUM", &chromium)
        .envs(vars.iter().copied())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the browser journey ends within 3 minutes")
        .expect("node runs (Node.js is on every machine here)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    eprintln!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "the browser journey {script} failed"
    );
    stdout
}

/// Asserts that the events of the streams `which` selects (`$1` bound to `value`) include
/// every one of `kinds`.
async fn logged(pool: &sqlx::PgPool, which: &str, value: Option<&str>, kinds: &[&str]) {
    let sql = format!(
        "select coalesce(array_agg(event_type order by global_position), '{{}}') from events
         where {which}"
    );
    let query = sqlx::query_as::<_, (Vec<String>,)>(&sql);
    let query = match value {
        Some(value) => query.bind(value),
        None => query,
    };
    let (logged,) = query.fetch_one(pool).await.unwrap();
    for kind in kinds {
        assert!(
            logged.iter().any(|k| k == kind),
            "{kind} missing from {logged:?}"
        );
    }
}

/// The quick start's engine, `up --demo` (it seeds the demo catalog and prints its admin): the
/// process, its address, a client, and the demo admin's email and password.
async fn demo_engine(db: &TestDatabase) -> (Process, String, Api, (String, String)) {
    let mut engine = Process::start("up --demo", &EngineEnv::embedded(db));
    let base = engine.base_url().await;
    let admin = engine.demo_admin.clone().expect("the demo admin");
    let api = Api::new(base.clone());
    (engine, base, api, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_buys_and_returns_in_a_real_browser() {
    let db = TestDatabase::create().await;
    let (mut engine, base, api, (admin_email, admin_password)) = demo_engine(&db).await;
    eventually("the demo catalog", Duration::from_secs(30), || async {
        api.get("/products/DEMO-LAMP").await.0 == 200
    })
    .await;
    let stdout = browse(
        "shopper.mjs",
        &base,
        &[
            ("ADMIN_EMAIL", &admin_email),
            ("ADMIN_PASSWORD", &admin_password),
            ("PRODUCT_NAME", "Brass desk lamp"),
        ],
    )
    .await;
    assert!(stdout.contains("the shopper journey passed"));

    // What the browser did is in the log: a paid, delivered order with a return requested.
    logged(
        &db.pool,
        "stream_id like 'order-%'",
        None,
        &[
            "OrderPlaced",
            "OrderPaid",
            "OrderShipped",
            "OrderDelivered",
            "ReturnRequested",
        ],
    )
    .await;
    engine.child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_list_approve_ship_refund_and_audit_in_a_real_browser() {
    let db = TestDatabase::create().await;
    let (mut engine, base, api, (admin_email, admin_password)) = demo_engine(&db).await;
    let (admin, _) = api.login(&admin_email, &admin_password).await;
    // A seller and an auditor, made by the admin through the API.
    let mut staff = Vec::new();
    for role in ["seller", "auditor"] {
        let email = format!("{role}-{}@example.org", uuid::Uuid::new_v4().simple());
        let password = format!("{role} password");
        let id = api.register(&email, &password).await;
        admin
            .ok(
                reqwest::Method::PUT,
                &format!("/admin/accounts/{id}/roles/{role}"),
                None,
            )
            .await;
        staff.push((email, password));
    }
    eventually("the demo catalog", Duration::from_secs(30), || async {
        api.get("/categories")
            .await
            .1
            .to_string()
            .contains("kitchen")
    })
    .await;
    let stdout = browse(
        "staff.mjs",
        &base,
        &[
            ("ADMIN_EMAIL", &admin_email),
            ("ADMIN_PASSWORD", &admin_password),
            ("SELLER_EMAIL", &staff[0].0),
            ("SELLER_PASSWORD", &staff[0].1),
            ("AUDITOR_EMAIL", &staff[1].0),
            ("AUDITOR_PASSWORD", &staff[1].1),
        ],
    )
    .await;
    assert!(stdout.contains("the staff journey passed"));
    let order = stdout
        .lines()
        .find_map(|l| l.strip_prefix("browser: order id "))
        .expect("the order's id")
        .trim()
        .to_owned();
    // What the pages did is in the log.
    logged(
        &db.pool,
        "stream_id = 'product-WEB-VASE' or stream_id = 'order-' || $1",
        Some(&order),
        &[
            "ProductCreated",
            "ProductApproved",
            "OrderPaid",
            "FulfilmentShipped",
            "RefundProcessed",
        ],
    )
    .await;
    engine.child.kill().await.unwrap();
}
