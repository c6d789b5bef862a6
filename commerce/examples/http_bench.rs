//! HTTP benchmark: prints figures, asserts nothing (machines here are shared and noisy).
//!
//! ```sh
//! cargo build --release -p commerce --bins --examples
//! BENCH_SECONDS=10 target/release/examples/http_bench
//! ```
//!
//! Starts this build's `commerce serve` (the release binary beside this example) on a
//! throw-away database on `TEST_DATABASE_URL`, lists 50 products, then measures with
//! `BENCH_CONNECTIONS` (default 32) keep-alive connections for `BENCH_SECONDS` (default 10)
//! per point:
//! - the command path: each connection is a signed-in customer adding to the cart and placing
//!   the order, over and over (both requests count);
//! - `GET /products?limit=20`, with the search cache off (every request runs the search) and
//!   on (the default, 1 s), each on its own engine process;
//! - the SQL limit of that search: the same statements in-process on as many connections.
//!
//! Lines starting with `figure` are machine-readable (`scripts/bench` collects them).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use events::testing::TestDatabase;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const SKUS: usize = 50;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `commerce` binary built with this example (`target/<profile>/commerce`).
fn engine_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    let dir = exe
        .parent()
        .and_then(|examples| examples.parent())
        .expect("target/<profile>/examples");
    dir.join("commerce")
}

fn engine_env(db: &TestDatabase, search_cache_ms: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", db.url.clone()),
        ("HTTP_ADDR", "127.0.0.1:0".into()),
        ("PAYMENT_SIMULATOR_ADDR", "127.0.0.1:0".into()),
        ("RUST_LOG", "warn".into()),
        ("KAFKA_BROKERS", String::new()),
        ("EVENTSTOREDB_URL", String::new()),
        (
            "JWT_SECRET",
            "benchmark-secret-of-at-least-32-bytes!!".into(),
        ),
        // Sign-ups are not what is measured.
        ("ARGON2_MEMORY_KIB", "1024".into()),
        ("ARGON2_ITERATIONS", "1".into()),
        ("RATE_LIMIT_PER_MINUTE", "100000000".into()),
        ("RATE_LIMIT_ACCOUNT_PER_MINUTE", "100000000".into()),
        ("AUTH_RATE_LIMIT_PER_MINUTE", "100000000".into()),
        ("LOGIN_RATE_LIMIT_PER_MINUTE", "100000000".into()),
        ("SEARCH_CACHE_MS", search_cache_ms.into()),
    ]
}

/// Starts `commerce serve`; returns the process and its base URL.
async fn serve(env: &[(&'static str, String)]) -> (Child, String) {
    let mut child = Command::new(engine_binary())
        .arg("serve")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start commerce serve (build it: cargo build --release -p commerce --bins)");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("engine output") {
            if let Some(url) = line.strip_prefix("commerce: listening on ") {
                return url.to_owned();
            }
        }
        panic!("commerce serve stopped before listening");
    })
    .await
    .expect("commerce serve listens within 60 s");
    // Keep draining its output so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.send(method, path, body).await;
        assert!(status < 300, "{path}: {status} {value}");
        value
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("engine answers");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn login(&self, email: &str, password: &str) -> (Client, String) {
        let body = self
            .call(
                reqwest::Method::POST,
                "/auth/login",
                Some(json!({"email": email, "password": password})),
            )
            .await;
        let client = Client {
            http: reqwest::Client::new(),
            base: self.base.clone(),
            token: Some(body["access_token"].as_str().expect("token").to_owned()),
        };
        (client, body["account_id"].as_str().expect("id").to_owned())
    }
}

/// Runs `connections` loops of `op` for `seconds`; returns requests per second.
async fn run<F, Fut>(connections: usize, seconds: u64, op: F) -> f64
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = u64> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            let (op, stop, done) = (op.clone(), stop.clone(), done.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    done.fetch_add(op(c).await, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("load task");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let seconds = env_usize("BENCH_SECONDS", 10) as u64;
    let connections = env_usize("BENCH_CONNECTIONS", 32);
    let db = TestDatabase::create().await;
    let uncached_env = engine_env(&db, "0");
    let (_engine, base) = serve(&uncached_env).await;
    let anonymous = Client {
        http: reqwest::Client::new(),
        base: base.clone(),
        token: None,
    };

    // An admin (the CLI), a category and products with ample stock.
    let admin_email = format!("admin-{}@example.org", uuid::Uuid::new_v4().simple());
    let created = Command::new(engine_binary())
        .args([
            "admin",
            "create",
            "--email",
            &admin_email,
            "--name",
            "Admin",
        ])
        .envs(uncached_env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("ADMIN_PASSWORD", "admin password 1")
        .output()
        .await
        .expect("commerce admin create");
    assert!(created.status.success(), "admin create failed");
    let (admin, _) = anonymous.login(&admin_email, "admin password 1").await;
    admin
        .call(
            reqwest::Method::PUT,
            "/admin/categories/bench",
            Some(json!({"name": "Bench"})),
        )
        .await;
    for i in 0..SKUS {
        let sku = format!("SKU-{i:04}");
        admin
            .call(
                reqwest::Method::POST,
                "/products",
                Some(
                    json!({"sku": sku, "name": format!("Product {i}"), "category": "bench",
                    "price": {"amount_minor": 100 + i, "currency": "EUR"}}),
                ),
            )
            .await;
        admin
            .call(
                reqwest::Method::POST,
                &format!("/products/{sku}/stock"),
                Some(json!({"quantity": 1_000_000})),
            )
            .await;
    }

    // One signed-in customer with an address per connection.
    let mut customers = Vec::new();
    for _ in 0..connections {
        let email = format!("c-{}@example.org", uuid::Uuid::new_v4().simple());
        anonymous
            .call(
                reqwest::Method::POST,
                "/auth/register",
                Some(json!({"email": email, "display_name": "Shopper",
                    "password": "customer password"})),
            )
            .await;
        let (customer, id) = anonymous.login(&email, "customer password").await;
        customer
            .call(
                reqwest::Method::POST,
                &format!("/customers/{id}/addresses"),
                Some(
                    json!({"name": "Ada Shopper", "line1": "742 Evergreen Terrace",
                    "city": "Springfield", "postal_code": "49007", "country": "US"}),
                ),
            )
            .await;
        customers.push((customer, id));
    }
    let customers = Arc::new(customers);

    println!("{connections} connections, {seconds} s per point, {SKUS} SKUs");
    let shoppers = customers.clone();
    let commands = run(connections, seconds, move |c| {
        let shoppers = shoppers.clone();
        async move {
            let (customer, id) = &shoppers[c];
            let sku = format!("SKU-{:04}", fastrand_index(c));
            customer
                .call(
                    reqwest::Method::POST,
                    &format!("/customers/{id}/cart/items"),
                    Some(json!({"sku": sku, "quantity": 1})),
                )
                .await;
            customer
                .call(
                    reqwest::Method::POST,
                    &format!("/customers/{id}/orders"),
                    None,
                )
                .await;
            2
        }
    })
    .await;
    println!("command path (add to cart, place order): {commands:.0} requests/s");
    println!("figure http_cmd_rps_c32 {commands:.0}");

    let listing = |client: Client| {
        move |_| {
            let client = client.clone();
            async move {
                let (status, _) = client
                    .send(reqwest::Method::GET, "/products?limit=20", None)
                    .await;
                assert_eq!(status, 200, "GET /products");
                1
            }
        }
    };
    let uncached = run(connections, seconds, listing(anonymous.clone())).await;

    // The same search's SQL, in-process, on as many connections.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(connections as u32)
        .connect(&db.url)
        .await
        .expect("connect");
    let search = projections::search::Search {
        text: None,
        category: None,
        price_min: None,
        price_max: None,
        in_stock: false,
        seller: None,
        min_rating: None,
        sort: projections::search::SortOrder::Relevance,
        after: None,
        offset: 0,
        limit: 20,
    };
    let sql = run(connections, seconds, move |_| {
        let (pool, search) = (pool.clone(), search.clone());
        async move {
            projections::search::search(&pool, &search)
                .await
                .expect("search");
            1
        }
    })
    .await;

    let (_cached_engine, cached_base) = serve(&engine_env(&db, "1000")).await;
    let cached = run(
        connections,
        seconds,
        listing(Client {
            http: reqwest::Client::new(),
            base: cached_base,
            token: None,
        }),
    )
    .await;
    println!(
        "GET /products?limit=20: {uncached:.0} req/s without the search cache, \
         {cached:.0} req/s with it (1 s); its SQL in-process: {sql:.0}/s \
         ({:.2}x without the cache)",
        uncached / sql
    );
    println!("figure products_rps {uncached:.0}");
    println!("figure products_rps_cached {cached:.0}");
    println!("figure products_sql_rps {sql:.0}");
}

/// A SKU index spread over connections and time, without a random-number dependency.
fn fastrand_index(connection: usize) -> usize {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as usize);
    (connection * 7 + nanos / 1000) % SKUS
}
