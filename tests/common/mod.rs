//! Helpers for the integration tests: start `commerce` roles as real processes against the
//! real PostgreSQL and Kafka broker, and talk to the HTTP API.

#![allow(dead_code)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

pub use events::testing::TestDatabase;

/// Environment for one engine: its database, and a private Kafka topic and group.
#[derive(Clone)]
pub struct EngineEnv {
    pub vars: Vec<(String, String)>,
}

impl EngineEnv {
    /// No Kafka: projections follow the store.
    pub fn embedded(db: &TestDatabase) -> Self {
        EngineEnv {
            vars: vec![
                ("DATABASE_URL".into(), db.url.clone()),
                ("HTTP_ADDR".into(), "127.0.0.1:0".into()),
                ("METRICS_ADDR".into(), "127.0.0.1:0".into()),
                ("PAYMENT_SIMULATOR_ADDR".into(), "127.0.0.1:0".into()),
                (
                    "RUST_LOG".into(),
                    std::env::var("IT_RUST_LOG").unwrap_or_else(|_| "warn,commerce=info".into()),
                ),
                ("KAFKA_BROKERS".into(), String::new()),
                // The PostgreSQL event store, even when the caller's shell names an
                // EventStoreDB for the adapter's contract tests.
                ("EVENTSTOREDB_URL".into(), String::new()),
                // A consumer group can take seconds to form on a loaded machine.
                ("READ_WAIT_MAX_MS".into(), "30000".into()),
                (
                    "JWT_SECRET".into(),
                    "integration-test-secret-of-at-least-32-bytes".into(),
                ),
                // Cheap hashing and no rate limits, except where a test sets its own.
                ("ARGON2_MEMORY_KIB".into(), "1024".into()),
                ("ARGON2_ITERATIONS".into(), "1".into()),
                ("RATE_LIMIT_PER_MINUTE".into(), "1000000".into()),
                ("RATE_LIMIT_ACCOUNT_PER_MINUTE".into(), "1000000".into()),
                ("AUTH_RATE_LIMIT_PER_MINUTE".into(), "1000000".into()),
                ("LOGIN_RATE_LIMIT_PER_MINUTE".into(), "1000000".into()),
            ],
        }
    }

    /// Overrides one variable.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.into(), value.into()));
        self
    }

    /// The value of a variable.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Kafka mode, with a topic and group nobody else uses.
    pub fn kafka(db: &TestDatabase) -> Self {
        let brokers = brokers();
        let id = Uuid::new_v4().simple().to_string();
        let mut env = Self::embedded(db);
        env.vars.retain(|(k, _)| k != "KAFKA_BROKERS");
        env.vars.extend([
            ("KAFKA_BROKERS".into(), brokers),
            ("KAFKA_TOPIC".into(), format!("it-events-{id}")),
            ("KAFKA_GROUP_ID".into(), format!("it-projections-{id}")),
            ("KAFKA_PARTITIONS".into(), "3".into()),
        ]);
        env
    }
}

/// The broker the tests use; fails the test loudly when nothing listens there.
pub fn brokers() -> String {
    let brokers = std::env::var("KAFKA_BROKERS")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "127.0.0.1:9092".into());
    let first = brokers.split(',').next().unwrap_or_default().to_owned();
    if std::net::TcpStream::connect_timeout(
        &first.parse().expect("KAFKA_BROKERS host:port"),
        Duration::from_secs(3),
    )
    .is_err()
    {
        panic!(
            "a Kafka broker is required at {brokers} and none answers: run ./scripts/test, \
             which starts one, or set KAFKA_BROKERS"
        );
    }
    brokers
}

/// A running `commerce` process, killed (SIGKILL) when dropped.
pub struct Process {
    pub child: Child,
    pub role: String,
    /// The payment simulator the engine started, once [`Process::base_url`] saw it.
    pub simulator: Option<String>,
    /// The Prometheus endpoint the engine serves, once [`Process::base_url`] saw it.
    pub metrics: Option<String>,
    /// `up --demo`'s admin (email, password), once [`Process::base_url`] saw it.
    pub demo_admin: Option<(String, String)>,
}

/// The engine under test: this build's, or `COMMERCE_BIN` (to run a test binary copied
/// elsewhere against the engine built with it).
fn engine_binary() -> String {
    std::env::var("COMMERCE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_commerce").to_owned())
}

impl Process {
    /// Starts `commerce <role>` (`role` may carry options: `up --demo`).
    pub fn start(role: &str, env: &EngineEnv) -> Process {
        let mut command = Command::new(engine_binary());
        command
            .args(role.split_whitespace())
            .envs(env.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let child = command.spawn().expect("start commerce");
        Process {
            child,
            role: role.to_owned(),
            simulator: None,
            metrics: None,
            demo_admin: None,
        }
    }

    /// Starts `commerce <role>` with its log (stderr) going to `log`.
    pub fn start_logged(role: &str, env: &EngineEnv, log: &std::path::Path) -> Process {
        let file = std::fs::File::create(log).expect("log file");
        let mut command = Command::new(engine_binary());
        command
            .arg(role)
            .envs(env.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(file))
            .kill_on_drop(true);
        Process {
            child: command.spawn().expect("start commerce"),
            role: role.to_owned(),
            simulator: None,
            metrics: None,
            demo_admin: None,
        }
    }

    /// Kills the process without warning, as a crash would.
    pub async fn crash(mut self) {
        self.child.kill().await.expect("kill");
    }

    /// Waits for the "listening on" line and returns the base URL.
    pub async fn base_url(&mut self) -> String {
        let stdout = self.child.stdout.take().expect("stdout piped");
        let mut lines = BufReader::new(stdout).lines();
        let mut simulator = None;
        let mut metrics = None;
        let mut demo_admin = None;
        let found = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(url) = line.strip_prefix("commerce: payment simulator on ") {
                    simulator = Some(url.to_owned());
                }
                if let Some(url) = line.strip_prefix("commerce: metrics on ") {
                    metrics = Some(url.to_owned());
                }
                if let Some(admin) = line.strip_prefix("commerce: demo admin ") {
                    demo_admin = admin
                        .split_once(" password ")
                        .map(|(e, p)| (e.to_owned(), p.to_owned()));
                }
                if let Some(url) = line.strip_prefix("commerce: listening on ") {
                    return Some(url.to_owned());
                }
            }
            None
        })
        .await;
        self.simulator = simulator;
        self.metrics = metrics;
        self.demo_admin = demo_admin;
        match found {
            Ok(Some(url)) => url,
            _ => panic!("commerce {} did not start listening", self.role),
        }
    }
}

/// Creates an admin with `commerce admin create`; returns (email, password).
pub async fn create_admin(env: &EngineEnv) -> (String, String) {
    let email = format!("admin-{}@example.org", Uuid::new_v4().simple());
    let password = "admin password 1".to_owned();
    let output = Command::new(env!("CARGO_BIN_EXE_commerce"))
        .args(["admin", "create", "--email", &email, "--name", "Admin"])
        .envs(env.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("ADMIN_PASSWORD", &password)
        .output()
        .await
        .expect("run commerce admin create");
    assert!(
        output.status.success(),
        "admin create: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (email, password)
}

/// A client of one engine, signed in or not.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub token: Option<String>,
    pub account_id: Option<Uuid>,
}

impl Api {
    pub fn new(base: String) -> Self {
        Api {
            base,
            http: reqwest::Client::new(),
            token: None,
            account_id: None,
        }
    }

    /// Registers an account; returns its id.
    pub async fn register(&self, email: &str, password: &str) -> Uuid {
        let (status, body) = self
            .post(
                "/auth/register",
                serde_json::json!({"email": email, "display_name": "Test User", "password": password}),
            )
            .await;
        assert_eq!(status, 201, "register {email}: {body}");
        body["account_id"].as_str().unwrap().parse().unwrap()
    }

    /// Logs in; returns a client carrying the access token, and the token answer.
    pub async fn login(&self, email: &str, password: &str) -> (Api, Value) {
        let (status, body) = self
            .post(
                "/auth/login",
                serde_json::json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(status, 200, "login {email}: {body}");
        let mut api = Api::new(self.base.clone());
        api.token = Some(body["access_token"].as_str().unwrap().to_owned());
        api.account_id = Some(body["account_id"].as_str().unwrap().parse().unwrap());
        (api, body)
    }

    /// A new customer, signed in, with a default address to ship to.
    pub async fn customer(&self) -> Api {
        let email = format!("c-{}@example.org", Uuid::new_v4().simple());
        self.register(&email, "customer password").await;
        let customer = self.login(&email, "customer password").await.0;
        customer.add_address().await;
        customer
    }

    /// Adds [`address`] to the signed-in customer's address book (the first becomes the
    /// default); returns the answer.
    pub async fn add_address(&self) -> Value {
        self.ok(
            reqwest::Method::POST,
            &format!("/customers/{}/addresses", self.id()),
            Some(address()),
        )
        .await
    }

    /// Puts `quantity` of `sku` in the cart and places the order; returns the answer.
    pub async fn buy(&self, sku: &str, quantity: i64) -> Value {
        self.ok(
            reqwest::Method::POST,
            &format!("/customers/{}/cart/items", self.id()),
            Some(serde_json::json!({"sku": sku, "quantity": quantity})),
        )
        .await;
        self.ok(
            reqwest::Method::POST,
            &format!("/customers/{}/orders", self.id()),
            None,
        )
        .await
    }

    /// The signed-in account's id.
    pub fn id(&self) -> Uuid {
        self.account_id.expect("signed in")
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body), &[])
            .await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None, &[]).await
    }

    /// A command that must succeed; returns its answer.
    pub async fn ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.send(method.clone(), path, body, &[]).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path} answered {status}: {value}"
        );
        value
    }

    /// Reads `path` once the read models include `position`.
    pub async fn read_at(&self, path: &str, position: &Value) -> Value {
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, value) = self
            .get(&format!(
                "{path}{sep}min_position={}",
                position.as_i64().expect("position")
            ))
            .await;
        assert_eq!(status, 200, "GET {path}: {value}");
        value
    }
}

/// A valid address, as a request member.
pub fn address() -> Value {
    serde_json::json!({"name": "Test Customer", "line1": "742 Evergreen Terrace",
        "city": "Springfield", "postal_code": "49007", "country": "US"})
}

/// The position of the newest event in the log (0 when it is empty).
pub async fn head(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_as::<_, (i64,)>("select coalesce(max(global_position), 0) from events")
        .fetch_one(pool)
        .await
        .unwrap()
        .0
}

/// Waits until every projection has applied the whole log (60 s at most); returns its head.
#[allow(dead_code)]
pub async fn caught_up(pool: &sqlx::PgPool) -> i64 {
    let head = head(pool).await;
    if let Some(name) = lagging(pool, head, Duration::from_secs(60)).await {
        panic!("{name} did not catch up with position {head}");
    }
    head
}

/// Waits until every projection has applied the log up to `head`, `timeout` at most each;
/// the first that has not, if any.
#[allow(dead_code)]
pub async fn lagging(pool: &sqlx::PgPool, head: i64, timeout: Duration) -> Option<&'static str> {
    let store = events::PgEventStore::new(pool.clone());
    for p in projections::registry::all() {
        let reached = projections::projector::wait_for(&store, pool, &*p, head, timeout)
            .await
            .unwrap();
        if !reached {
            return Some(p.name());
        }
    }
    None
}

/// Polls `check` until it returns true or the deadline passes.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Staff of a test shop: an admin (bootstrapped from the CLI) and a seller.
pub struct Staff {
    pub admin: Api,
    pub seller: Api,
}

impl Staff {
    /// An admin approves the content waiting on `sku` (a seller's new product or edit).
    pub async fn approve(&self, sku: &str) -> Value {
        self.admin
            .ok(
                reqwest::Method::POST,
                &format!("/admin/products/{sku}/approval"),
                None,
            )
            .await
    }

    /// The seller lists a product (EUR), an admin approves it, and it receives stock.
    pub async fn list(&self, sku: &str, price_minor: i64, stock: i64) {
        self.seller
            .ok(
                reqwest::Method::POST,
                "/products",
                Some(
                    serde_json::json!({"sku": sku, "name": sku, "category": "test",
                    "price": {"amount_minor": price_minor, "currency": "EUR"}}),
                ),
            )
            .await;
        self.approve(sku).await;
        self.seller
            .ok(
                reqwest::Method::POST,
                &format!("/products/{sku}/stock"),
                Some(serde_json::json!({ "quantity": stock })),
            )
            .await;
    }

    pub async fn hire(api: &Api, env: &EngineEnv) -> Staff {
        let (email, password) = create_admin(env).await;
        let (admin, _) = api.login(&email, &password).await;
        let seller_email = format!("s-{}@example.org", Uuid::new_v4().simple());
        let seller_id = api.register(&seller_email, "seller password").await;
        admin
            .ok(
                reqwest::Method::PUT,
                &format!("/admin/accounts/{seller_id}/roles/seller"),
                None,
            )
            .await;
        let (seller, _) = api.login(&seller_email, "seller password").await;
        define_categories(&admin).await;
        Staff { admin, seller }
    }
}

/// The root categories the tests list their products in.
pub const CATEGORIES: &[&str] = &["test", "kitchen", "lighting", "c"];

/// Defines [`CATEGORIES`] (an admin's call; defining one again changes nothing).
pub async fn define_categories(admin: &Api) {
    for slug in CATEGORIES {
        admin
            .ok(
                reqwest::Method::PUT,
                &format!("/admin/categories/{slug}"),
                Some(serde_json::json!({ "name": slug })),
            )
            .await;
    }
}

/// Every record of the topic, duplicates included.
pub async fn read_topic(env: &EngineEnv, expected_at_least: usize) -> Vec<events::RecordedEvent> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    let var = |k: &str| env.get(k).expect("kafka env").to_owned();
    let reader: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", var("KAFKA_BROKERS"))
        .set("group.id", format!("{}-audit", var("KAFKA_GROUP_ID")))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    reader.subscribe(&[&var("KAFKA_TOPIC")]).unwrap();
    let mut records = Vec::new();
    // Errors the client recovers from by itself (a broker connection that just came back) are
    // retried; many in a row fail the test.
    let mut errors_in_a_row = 0;
    // Keep reading until the topic is drained: enough records and a quiet second.
    loop {
        match tokio::time::timeout(Duration::from_secs(3), reader.recv()).await {
            Ok(Ok(m)) => {
                errors_in_a_row = 0;
                records.push(kafka::message::decode(&m).unwrap());
            }
            Ok(Err(e)) => {
                errors_in_a_row += 1;
                assert!(errors_in_a_row < 50, "kafka: {e}");
                eprintln!("kafka (retrying): {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(_) if records.len() >= expected_at_least => return records,
            Err(_) => {}
        }
    }
}
