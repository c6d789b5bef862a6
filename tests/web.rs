//! The web pages in a real browser: `tests/browser/shopper.mjs` (playwright-core driving
//! Debian's Chromium, axe-core checking every page) walks a shopper from search to a delivered
//! order and a return, against the quick start's engine: `commerce up --demo`.
//!
//! Part of the `journey` test binary (one binary, one link). Needs `chromium` and the npm
//! packages of `tests/browser` (`./scripts/test` installs both); fails loudly without them.

use std::path::Path;
use std::time::Duration;

use crate::common::{eventually, Api, EngineEnv, Process, TestDatabase};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_buys_and_returns_in_a_real_browser() {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists() && browser_dir.join("node_modules/playwright-core").exists(),
        "the browser tests need {chromium} and tests/browser/node_modules: run ./scripts/test, \
         which installs Debian's chromium and the npm packages"
    );
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    // The quick start's engine: `up --demo` seeds the demo catalog and prints its admin.
    let mut engine = Process::start("up --demo", &env);
    let base = engine.base_url().await;
    let (admin_email, admin_password) = engine.demo_admin.clone().expect("the demo admin");
    let api = Api::new(base.clone());
    eventually("the demo catalog", Duration::from_secs(30), || async {
        api.get("/products/DEMO-LAMP").await.0 == 200
    })
    .await;
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");

    let run = tokio::process::Command::new("node")
        .arg("shopper.mjs")
        .current_dir(&browser_dir)
        .env("BASE", &base)
        .env("ADMIN_EMAIL", &admin_email)
        .env("ADMIN_PASSWORD", &admin_password)
        .env("PRODUCT_NAME", "Brass desk lamp")
        .env("SCREENSHOTS", &screenshots)
        .env("CHROMIUM", &chromium)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the browser journey ends within 3 minutes")
        .expect("node runs (Node.js is on every machine here)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the browser journey failed");
    assert!(stdout.contains("the shopper journey passed"));

    // What the browser did is in the log: a paid, delivered order with a return requested.
    let (kinds,): (Vec<String>,) = sqlx::query_as(
        "select array_agg(event_type order by global_position) from events
         where stream_id like 'order-%'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    for kind in [
        "OrderPlaced",
        "OrderPaid",
        "OrderShipped",
        "OrderDelivered",
        "ReturnRequested",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "{kind} missing from {kinds:?}"
        );
    }
    engine.child.kill().await.unwrap();
}
