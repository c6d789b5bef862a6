//! Wiring of the engine's roles, shared by the `commerce` binary and the integration tests.
//!
//! | role      | what it runs                                                           |
//! |-----------|------------------------------------------------------------------------|
//! | `serve`   | the HTTP API (commands and queries), the payment webhooks' sweeper and the |
//! |           | payment-timeout and cancellation-refund process managers ([`processes`]) |
//! | `relay`   | event log -> Kafka topic                                               |
//! | `project` | projection worker: Kafka consumer group, or the store's log without Kafka |
//! | `migrate` | creates the database if needed and applies `migrations/`               |
//! | `notify`  | emails customers about their orders by SMTP                            |
//! | `payment-simulator` | the payment provider simulator on its own                    |
//! | `up`      | all of the above in one process                                        |

pub mod demo;
pub mod exporter;
pub mod processes;
pub mod telemetry;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use commands::CommandHandler;
use events::{EventStore, PgEventStore};
use kafka::relay::{Relay, RelayOptions};
use kafka::KafkaConfig;
use projections::{registry, Projector};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Engine configuration, from flags or environment variables.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// PostgreSQL holding the event store and the read models (created if missing).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/commerce"
    )]
    pub database_url: String,
    /// EventStoreDB connection string (e.g. `esdb://127.0.0.1:2113?tls=false`). Set: the event
    /// store lives in EventStoreDB instead of PostgreSQL (needs a build with the `eventstoredb`
    /// feature); read models, credentials and checkpoints stay in PostgreSQL.
    #[arg(long, env = "EVENTSTOREDB_URL")]
    pub eventstoredb_url: Option<String>,
    /// Most connections in the pool.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 20)]
    pub database_max_connections: u32,
    /// Kafka bootstrap servers. Unset: projections follow the event store directly.
    #[arg(long, env = "KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
    /// Topic carrying every event.
    #[arg(long, env = "KAFKA_TOPIC", default_value = "commerce.events")]
    pub kafka_topic: String,
    /// Consumer group of the projection workers.
    #[arg(long, env = "KAFKA_GROUP_ID", default_value = "commerce-projections")]
    pub kafka_group_id: String,
    /// Partitions of the topic when the engine creates it.
    #[arg(long, env = "KAFKA_PARTITIONS", default_value_t = 6)]
    pub kafka_partitions: i32,
    /// Replication factor of the topic when the engine creates it.
    #[arg(long, env = "KAFKA_REPLICATION_FACTOR", default_value_t = 1)]
    pub kafka_replication_factor: i32,
    /// Address of the Prometheus endpoint `/metrics` (port 0 picks a free port; empty: no
    /// metrics).
    #[arg(long, env = "METRICS_ADDR", default_value = "127.0.0.1:9464")]
    pub metrics_addr: String,
    /// Address the HTTP API listens on (port 0 picks a free port).
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Longest a query waits for `min_position`, in milliseconds.
    #[arg(long, env = "READ_WAIT_MAX_MS", default_value_t = 5000)]
    pub read_wait_max_ms: u64,
    /// `/health/ready` fails while a projection is more than this many events behind the head
    /// of the log (0: projection lag does not count).
    #[arg(long, env = "READY_MAX_LAG", default_value_t = 10_000)]
    pub ready_max_lag: i64,
    /// How long a search's answer is kept and served again, in milliseconds (0: never).
    #[arg(long, env = "SEARCH_CACHE_MS", default_value_t = 1000)]
    pub search_cache_ms: u64,
    /// How often the search index reads what changed in the catalog read model, in
    /// milliseconds (a search with `min_position` reads it at once).
    #[arg(long, env = "SEARCH_REFRESH_MS", default_value_t = 100)]
    pub search_refresh_ms: u64,
    /// Events per projection or relay batch.
    #[arg(long, env = "BATCH_SIZE", default_value_t = 500)]
    pub batch_size: usize,
    /// Events per batch of a rebuild (larger batches mean fewer statements per event).
    #[arg(long, env = "REBUILD_BATCH_SIZE", default_value_t = 2_000)]
    pub rebuild_batch_size: usize,
    /// Idle polling interval of log followers, in milliseconds.
    #[arg(long, env = "POLL_INTERVAL_MS", default_value_t = 20)]
    pub poll_interval_ms: u64,
    /// Store credit every new customer account starts with, as `<minor units> <ISO 4217>`
    /// (`5000 EUR`); unset or zero: none.
    #[arg(long, env = "SIGNUP_CREDIT", value_parser = parse_money)]
    pub signup_credit: Option<domain::Money>,
    /// SMTP server for customer emails, `smtp://host:port`; unset: no emails.
    #[arg(long, env = "SMTP_URL")]
    pub smtp_url: Option<String>,
    /// Sender of customer emails.
    #[arg(long, env = "NOTIFY_FROM", default_value = "shop@localhost")]
    pub notify_from: String,
    /// PostgreSQL text search configuration of the catalog's search (stemming and stop
    /// words): `english`, `german`, `french`, `simple` (no stemming), ... Changing it
    /// re-indexes the catalog at the next start.
    #[arg(long, env = "CATALOG_LANGUAGE", default_value = "english")]
    pub catalog_language: String,
    /// Days after delivery within which a customer may return units.
    #[arg(long, env = "RETURN_WINDOW_DAYS", default_value_t = 30)]
    pub return_window_days: u64,
    /// Seconds an order may stay unpaid before it is cancelled and its stock released.
    #[arg(long, env = "PAYMENT_TIMEOUT_SECS", default_value_t = 1800)]
    pub payment_timeout_secs: u64,
    #[command(flatten)]
    /// The payment provider.
    pub payments: PaymentSettings,
    #[command(flatten)]
    /// Authentication and abuse protection.
    pub auth: AuthSettings,
}

/// Where the engine runs. Any other value of `COMMERCE_ENV` is refused at start-up, so a typo
/// such as `prod` cannot silently run with development defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Environment {
    /// Local use: a random token key per process when `JWT_SECRET` is unset.
    Development,
    /// Refuses to start without the secrets a shared deployment needs (`JWT_SECRET`).
    Production,
}

/// The payment provider (Razorpay's protocol). With none configured, outside production, the
/// engine starts the provider simulator and pays through it.
#[derive(Clone, Args)]
pub struct PaymentSettings {
    /// The provider's API base URL.
    #[arg(long, env = "RAZORPAY_URL", default_value = "https://api.razorpay.com")]
    pub razorpay_url: String,
    /// API key id.
    #[arg(long, env = "RAZORPAY_KEY_ID")]
    pub razorpay_key_id: Option<String>,
    /// API key secret.
    #[arg(long, env = "RAZORPAY_KEY_SECRET", hide_env_values = true)]
    pub razorpay_key_secret: Option<String>,
    /// Secret the provider signs webhooks with.
    #[arg(long, env = "RAZORPAY_WEBHOOK_SECRET", hide_env_values = true)]
    pub razorpay_webhook_secret: Option<String>,
    /// Where `commerce payment-simulator` delivers webhooks (the engine's
    /// `/webhooks/razorpay`).
    #[arg(long, env = "SIMULATOR_WEBHOOK_URL")]
    pub simulator_webhook_url: Option<String>,
    /// Where the simulator listens when it is started (`:0` picks a port).
    #[arg(long, env = "PAYMENT_SIMULATOR_ADDR", default_value = "127.0.0.1:8081")]
    pub simulator_addr: SocketAddr,
}

impl std::fmt::Debug for PaymentSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentSettings")
            .field("razorpay_url", &self.razorpay_url)
            .field("razorpay_key_id", &self.razorpay_key_id)
            .finish_non_exhaustive()
    }
}

impl PaymentSettings {
    /// The real provider's settings, when all three secrets are set; an error when only some
    /// are.
    fn provider(&self) -> anyhow::Result<Option<payments::razorpay::RazorpayConfig>> {
        match (
            &self.razorpay_key_id,
            &self.razorpay_key_secret,
            &self.razorpay_webhook_secret,
        ) {
            (Some(key_id), Some(key_secret), Some(webhook_secret)) => {
                Ok(Some(payments::razorpay::RazorpayConfig {
                    base_url: self.razorpay_url.clone(),
                    key_id: key_id.clone(),
                    key_secret: key_secret.clone(),
                    webhook_secret: webhook_secret.clone(),
                    pay_page: None,
                }))
            }
            (None, None, None) => Ok(None),
            _ => anyhow::bail!(
                "set all of RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET and RAZORPAY_WEBHOOK_SECRET, or none"
            ),
        }
    }
}

/// The payment gateway: the configured provider, or the simulator started here.
async fn payment_gateway(
    config: &Config,
    engine: SocketAddr,
    shutdown: &CancellationToken,
) -> anyhow::Result<Arc<dyn payments::PaymentGateway>> {
    if let Some(provider) = config.payments.provider()? {
        tracing::info!(url = %provider.base_url, "payment provider: razorpay");
        return Ok(Arc::new(payments::razorpay::Razorpay::new(provider)));
    }
    if config.auth.environment == Environment::Production {
        anyhow::bail!(
            "a payment provider is required when COMMERCE_ENV=production: set \
             RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET and RAZORPAY_WEBHOOK_SECRET"
        );
    }
    let listener = TcpListener::bind(config.payments.simulator_addr).await?;
    let simulator = listener.local_addr()?;
    let host = if engine.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        engine.ip()
    };
    let secret = |n: usize| hex_secret(n);
    let settings = payments::simulator::SimulatorConfig {
        key_id: format!("rzp_test_{}", secret(8)),
        key_secret: secret(24),
        webhook_secret: secret(24),
        webhook_url: format!("http://{host}:{}/webhooks/razorpay", engine.port()),
    };
    // Bound to every interface (in a container), it is still reached on the loopback.
    let simulator = if simulator.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], simulator.port()))
    } else {
        simulator
    };
    let provider = payments::razorpay::RazorpayConfig {
        base_url: format!("http://{simulator}"),
        key_id: settings.key_id.clone(),
        key_secret: settings.key_secret.clone(),
        webhook_secret: settings.webhook_secret.clone(),
        pay_page: Some(format!("http://{simulator}/pay")),
    };
    let stop = shutdown.clone();
    tokio::spawn(async move {
        if let Err(e) = payments::simulator::serve(listener, settings, stop.cancelled_owned()).await
        {
            tracing::error!(error = %e, "payment simulator stopped");
        }
    });
    tracing::warn!(%simulator, "no payment provider configured: payments go through the simulator");
    announce(&format!("payment simulator on http://{simulator}"));
    Ok(Arc::new(payments::razorpay::Razorpay::new(provider)))
}

fn hex_secret(bytes: usize) -> String {
    uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .chars()
        .chain(uuid::Uuid::new_v4().simple().to_string().chars())
        .take(bytes * 2)
        .collect()
}

/// Authentication and abuse-protection settings.
#[derive(Clone, Args)]
pub struct AuthSettings {
    /// `development` or `production` (nothing else). Production refuses to start without
    /// `JWT_SECRET`.
    #[arg(long, env = "COMMERCE_ENV", value_enum, default_value_t = Environment::Development)]
    pub environment: Environment,
    /// Key signing access tokens, at least 32 bytes. Unset in development: a random key per
    /// process (tokens die with it).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Access token lifetime in seconds.
    #[arg(long, env = "ACCESS_TOKEN_TTL_SECS", default_value_t = 900)]
    pub access_token_ttl_secs: u64,
    /// Refresh token lifetime in seconds.
    #[arg(long, env = "REFRESH_TOKEN_TTL_SECS", default_value_t = 7 * 24 * 3600)]
    pub refresh_token_ttl_secs: u64,
    /// argon2id memory in KiB (OWASP: 19456).
    #[arg(long, env = "ARGON2_MEMORY_KIB", default_value_t = 19 * 1024)]
    pub argon2_memory_kib: u32,
    /// argon2id passes (OWASP: 2).
    #[arg(long, env = "ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,
    /// argon2id lanes.
    #[arg(long, env = "ARGON2_PARALLELISM", default_value_t = 1)]
    pub argon2_parallelism: u32,
    /// Requests per minute per client IP.
    #[arg(long, env = "RATE_LIMIT_PER_MINUTE", default_value_t = 600)]
    pub rate_limit_per_minute: u32,
    /// Requests per minute per account.
    #[arg(long, env = "RATE_LIMIT_ACCOUNT_PER_MINUTE", default_value_t = 600)]
    pub rate_limit_account_per_minute: u32,
    /// `/auth/*` requests per minute per client IP.
    #[arg(long, env = "AUTH_RATE_LIMIT_PER_MINUTE", default_value_t = 20)]
    pub auth_rate_limit_per_minute: u32,
    /// Login attempts per minute per email address.
    #[arg(long, env = "LOGIN_RATE_LIMIT_PER_MINUTE", default_value_t = 10)]
    pub login_rate_limit_per_minute: u32,
    /// Trust the first `X-Forwarded-For` address as the client IP (behind your own proxy only).
    #[arg(long, env = "TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,
    /// Comma-separated origins allowed by CORS (unset: same-origin only).
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,
    /// Redis keeping the rate limits of every instance (`redis://host:port/db`); unset: each
    /// process counts its own.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Prefix of the rate-limit keys in Redis (instances sharing limits use the same).
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "commerce:rate:")]
    pub redis_key_prefix: String,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("environment", &self.environment)
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

impl AuthSettings {
    fn argon2(&self) -> auth::password::Argon2Params {
        auth::password::Argon2Params {
            memory_kib: self.argon2_memory_kib,
            iterations: self.argon2_iterations,
            parallelism: self.argon2_parallelism,
        }
    }

    /// The token signing key; a clear error in production when it is missing or short.
    pub fn jwt_key(&self) -> anyhow::Result<Vec<u8>> {
        match &self.jwt_secret {
            Some(secret) if secret.len() >= 32 => Ok(secret.as_bytes().to_vec()),
            Some(_) => anyhow::bail!("JWT_SECRET must be at least 32 bytes"),
            None if self.environment == Environment::Production => {
                anyhow::bail!("JWT_SECRET is required when COMMERCE_ENV=production")
            }
            None => {
                tracing::warn!(
                    "JWT_SECRET is not set: using a random key; tokens end with this process \
                     and are not valid on other instances"
                );
                Ok(auth::random_bytes::<32>().to_vec())
            }
        }
    }

    /// Everything the API needs to authenticate and protect itself. With `REDIS_URL`, the rate
    /// limits are shared through that Redis, which must answer now.
    pub async fn security(&self, pool: &PgPool) -> anyhow::Result<api::security::Security> {
        let key = self.jwt_key()?;
        let shared = match self.redis_url.as_deref().filter(|u| !u.trim().is_empty()) {
            Some(url) => {
                let shared = auth::rate::Shared::connect(url, &self.redis_key_prefix)
                    .await
                    .with_context(|| format!("REDIS_URL is set but {url} does not answer"))?;
                tracing::info!("rate limits shared through Redis");
                Some(shared)
            }
            None => None,
        };
        Ok(api::security::Security {
            keys: auth::jwt::JwtKeys::new(key, Duration::from_secs(self.access_token_ttl_secs)),
            hasher: auth::password::PasswordHasherService::new(self.argon2())
                .context("invalid ARGON2_* parameters")?,
            credentials: auth::credentials::Credentials::new(pool.clone()),
            refresh: auth::refresh::RefreshTokens::new(
                pool.clone(),
                Duration::from_secs(self.refresh_token_ttl_secs),
            ),
            limits: api::security::Limits::shared(
                api::security::LimitConfig {
                    per_ip: self.rate_limit_per_minute,
                    per_account: self.rate_limit_account_per_minute,
                    auth_per_ip: self.auth_rate_limit_per_minute,
                    login_per_email: self.login_rate_limit_per_minute,
                },
                shared,
            ),
            trust_forwarded_for: self.trust_forwarded_for,
        })
    }
}

impl Config {
    /// Where `/metrics` is served; `None` when `METRICS_ADDR` is empty.
    pub fn metrics_endpoint(&self) -> anyhow::Result<Option<SocketAddr>> {
        let raw = self.metrics_addr.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        raw.parse()
            .map(Some)
            .with_context(|| format!("METRICS_ADDR {raw:?} is not a host:port address"))
    }

    /// Kafka settings, when brokers are configured.
    pub fn kafka(&self) -> Option<KafkaConfig> {
        self.kafka_brokers
            .as_ref()
            .filter(|b| !b.trim().is_empty())
            .map(|brokers| KafkaConfig {
                brokers: brokers.clone(),
                topic: self.kafka_topic.clone(),
                group_id: self.kafka_group_id.clone(),
                partitions: self.kafka_partitions,
                replication: self.kafka_replication_factor,
            })
    }

    /// The EventStoreDB connection string, when the event store lives there.
    pub fn eventstoredb(&self) -> Option<&str> {
        self.eventstoredb_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }
}

/// Connects (creating the database if needed) and applies migrations.
pub async fn database(config: &Config) -> anyhow::Result<PgPool> {
    let pool = events::postgres::connect(&config.database_url, config.database_max_connections)
        .await
        .context("cannot connect to PostgreSQL (DATABASE_URL)")?;
    events::postgres::migrate(&pool)
        .await
        .context("cannot apply migrations")?;
    if projections::search::set_language(&pool, &config.catalog_language)
        .await
        .context("cannot set the catalog's language (CATALOG_LANGUAGE)")?
    {
        tracing::info!(language = %config.catalog_language, "catalog re-indexed for its language");
    }
    Ok(pool)
}

/// The event store the configuration names (EventStoreDB when `EVENTSTOREDB_URL` is set,
/// otherwise the PostgreSQL store in `pool`'s database), sealing personal fields with the keys
/// kept in `pool`'s database (see [`events::personal`]).
pub async fn event_store(config: &Config, pool: &PgPool) -> anyhow::Result<Arc<dyn EventStore>> {
    let stored = stored_events(config, pool).await?;
    Ok(Arc::new(events::personal::PersonalStore::new(
        stored,
        events::personal::Vault::new(pool.clone()),
    )))
}

/// The configured event store as it stores events: personal fields sealed. The relay reads
/// this, so Kafka records carry the sealed form and an erasure reaches them too.
pub async fn stored_events(config: &Config, pool: &PgPool) -> anyhow::Result<Arc<dyn EventStore>> {
    match config.eventstoredb() {
        None => Ok(Arc::new(PgEventStore::new(pool.clone()))),
        #[cfg(feature = "eventstoredb")]
        Some(url) => {
            let store = events::eventstoredb::EsdbEventStore::connect(url)
                .await
                .context("cannot use EventStoreDB (EVENTSTOREDB_URL)")?;
            Ok(Arc::new(store))
        }
        #[cfg(not(feature = "eventstoredb"))]
        Some(_) => anyhow::bail!(
            "EVENTSTOREDB_URL is set, but this build has no EventStoreDB support: \
             build with `--features eventstoredb`"
        ),
    }
}

/// Tells whoever started the process something on stdout (`commerce: <line>`): where it
/// listens, that a relay took over. Nobody reading stdout any more is no error.
pub fn announce(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "commerce: {line}").and_then(|()| out.flush());
}

/// Parses `<minor units> <currency>`, e.g. `5000 EUR`.
fn parse_money(raw: &str) -> Result<domain::Money, String> {
    let (amount, currency) = raw
        .trim()
        .split_once(' ')
        .ok_or("expected `<minor units> <currency>`, e.g. `5000 EUR`")?;
    let amount: i64 = amount
        .parse()
        .map_err(|_| format!("{amount:?} is not a whole number of minor units"))?;
    let currency = domain::values::Currency::parse(currency.trim()).map_err(|e| e.to_string())?;
    domain::Money::new(amount, currency).map_err(|e| e.to_string())
}

/// What `/health/ready` checks: the broker when Kafka is configured, projection lag unless
/// `READY_MAX_LAG` is 0.
fn readiness(config: &Config) -> anyhow::Result<api::health::Readiness> {
    let broker = match config.kafka() {
        Some(kafka) => {
            let probe = Arc::new(kafka::admin::BrokerProbe::new(&kafka)?);
            let check: api::health::Probe = Arc::new(move || {
                let probe = probe.clone();
                Box::pin(async move { probe.check(Duration::from_secs(2)).await })
            });
            Some(check)
        }
        None => None,
    };
    Ok(api::health::Readiness {
        broker,
        max_lag: Some(config.ready_max_lag).filter(|lag| *lag > 0),
        projections: projections::registry::all(),
    })
}

/// Serves the HTTP API on `listener` until `shutdown`.
pub async fn serve(
    config: &Config,
    pool: PgPool,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = event_store(config, &pool).await?;
    let security = Arc::new(config.auth.security(&pool).await?);
    let addr = listener.local_addr()?;
    let gateway = payment_gateway(config, addr, &shutdown).await?;
    // The read models live in PostgreSQL whatever the store: their batches notify on commit.
    let projected =
        events::postgres::notifications(&pool, projections::projector::PROJECTED_CHANNEL);
    let search_index = Arc::new(projections::search::SearchIndex::load(&pool).await?);
    let follower = {
        let (index, pool, stop) = (search_index.clone(), pool.clone(), shutdown.clone());
        let every = Duration::from_millis(config.search_refresh_ms.max(1));
        tokio::spawn(async move { index.follow(&pool, every, stop).await })
    };
    let state = api::AppState {
        commands: match config.signup_credit {
            Some(credit) => CommandHandler::new(store).with_signup_credit(credit),
            None => CommandHandler::new(store),
        },
        read_pool: pool,
        max_read_wait: Duration::from_millis(config.read_wait_max_ms),
        security,
        policies: Default::default(),
        cors_origins: Arc::new(config.auth.cors_allowed_origins.clone()),
        payments: Some(gateway.clone()),
        return_window: Duration::from_secs(config.return_window_days.saturating_mul(86_400)),
        searches: api::cache::AnswerCache::new(Duration::from_millis(config.search_cache_ms)),
        search_index,
        projected: Some(projected),
        readiness: readiness(config)?,
        rebuilds: api::operations::Rebuilds::new(config.rebuild_batch_size),
    };
    let timeouts = tokio::spawn(processes::payment_timeouts(
        state.commands.clone(),
        state.read_pool.clone(),
        Duration::from_secs(config.payment_timeout_secs.max(1)),
        shutdown.clone(),
    ));
    let refunds = tokio::spawn(processes::cancellation_refunds(
        state.commands.clone(),
        gateway.clone(),
        state.read_pool.clone(),
        Duration::from_secs(1),
        shutdown.clone(),
    ));
    // Webhooks recorded but not acted on (a crash in between) are applied again.
    let sweeper = {
        let (state, stop) = (state.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
                match api::payments::process_pending(&state, Duration::from_secs(5)).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(webhooks = n, "pending webhooks applied"),
                    Err(e) => tracing::warn!(error = ?e.code(), "pending webhooks not applied"),
                }
            }
        })
    };
    tracing::info!(%addr, "HTTP API listening");
    // A machine-readable line for scripts and tests that bind port 0.
    announce(&format!("listening on http://{addr}"));
    api::serve::serve(listener, api::router(state), shutdown.cancelled_owned()).await?;
    sweeper.abort();
    follower.abort();
    timeouts.abort();
    refunds.abort();
    Ok(())
}

/// Publishes the log to Kafka until `shutdown`.
pub async fn relay(
    config: &Config,
    pool: PgPool,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let kafka = config.kafka().context("the relay needs KAFKA_BROKERS")?;
    kafka::admin::ensure_topic(&kafka).await?;
    let store = stored_events(config, &pool).await?;
    let options = RelayOptions {
        batch_size: config.batch_size,
        poll_interval: config.poll_interval(),
    };
    let relay = Relay::new(store, pool, kafka, options)?;
    // Tells operators (and tests) on stdout when this relay takes over publishing.
    let mut active = relay.active();
    tokio::spawn(async move {
        while active.changed().await.is_ok() {
            if *active.borrow_and_update() {
                announce("relay active");
            }
        }
    });
    relay.run(shutdown).await?;
    Ok(())
}

/// Runs the projections until `shutdown`: from Kafka when brokers are configured, otherwise
/// straight from the event store's log.
pub async fn project(
    config: &Config,
    pool: PgPool,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let projector = Projector::new(pool.clone(), registry::all());
    match config.kafka() {
        Some(kafka) => {
            kafka::admin::ensure_topic(&kafka).await?;
            kafka::consumer::run(&kafka, projector, shutdown).await?;
        }
        None => {
            let store = event_store(config, &pool).await?;
            projections::follow::follow_log(
                store,
                projector,
                config.batch_size,
                config.poll_interval(),
                shutdown,
            )
            .await;
        }
    }
    Ok(())
}

/// API, projections and (with Kafka) the relay in one process.
pub async fn up(config: &Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let pool = database(config).await?;
    let listener = TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.http_addr))?;
    match config.kafka() {
        Some(k) => {
            tracing::info!(brokers = %k.brokers, topic = %k.topic, "mode: Kafka (relay + consumer group)")
        }
        None => tracing::info!("mode: embedded (projections follow the event store; no Kafka)"),
    }
    let mut tasks = tokio::task::JoinSet::new();
    if config.kafka().is_some() {
        let (c, p, s) = (config.clone(), pool.clone(), shutdown.clone());
        tasks.spawn(async move { relay(&c, p, s).await.context("relay") });
    }
    let (c, p, s) = (config.clone(), pool.clone(), shutdown.clone());
    tasks.spawn(async move { project(&c, p, s).await.context("projections") });
    if config.smtp_url.is_some() {
        let (c, p, s) = (config.clone(), pool.clone(), shutdown.clone());
        tasks.spawn(async move { notify(&c, p, s).await.context("notifier") });
    } else {
        tracing::info!("SMTP_URL is not set: no customer emails");
    }
    let (c, s) = (config.clone(), shutdown.clone());
    tasks.spawn(async move { serve(&c, pool, listener, s).await.context("http") });

    // One role failing stops the others: a half-running engine is worse than a stopped one.
    let mut result = Ok(());
    while let Some(done) = tasks.join_next().await {
        let outcome = done.map_err(anyhow::Error::from).and_then(|r| r);
        if let Err(e) = outcome {
            tracing::error!(error = %format!("{e:#}"), "a role failed; stopping");
            if result.is_ok() {
                result = Err(e);
            }
        }
        shutdown.cancel();
    }
    result
}

/// Runs the provider simulator on its own until `shutdown`, with the keys the engine is given
/// (`RAZORPAY_KEY_ID`, `RAZORPAY_KEY_SECRET`, `RAZORPAY_WEBHOOK_SECRET`), delivering webhooks
/// to `SIMULATOR_WEBHOOK_URL`. Outlives engine restarts, unlike the simulator `serve` starts.
pub async fn payment_simulator(config: &Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let provider = config
        .payments
        .provider()?
        .context("set RAZORPAY_KEY_ID, RAZORPAY_KEY_SECRET and RAZORPAY_WEBHOOK_SECRET")?;
    let webhook_url = config
        .payments
        .simulator_webhook_url
        .clone()
        .context("set SIMULATOR_WEBHOOK_URL to the engine's /webhooks/razorpay")?;
    let listener = TcpListener::bind(config.payments.simulator_addr).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, %webhook_url, "payment provider simulator");
    announce(&format!("listening on http://{addr}"));
    let settings = payments::simulator::SimulatorConfig {
        key_id: provider.key_id,
        key_secret: provider.key_secret,
        webhook_secret: provider.webhook_secret,
        webhook_url,
    };
    payments::simulator::serve(listener, settings, shutdown.cancelled_owned()).await?;
    Ok(())
}

/// Emails customers about their orders until `shutdown` (see the `notifications` crate).
pub async fn notify(
    config: &Config,
    pool: PgPool,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let url = config
        .smtp_url
        .as_deref()
        .context("SMTP_URL is required to send emails")?;
    let smtp = notifications::SmtpSettings::from_url(url, &config.notify_from)
        .map_err(|e| anyhow::anyhow!(e))?;
    let store = event_store(config, &pool).await?;
    tracing::info!(host = %smtp.host, port = smtp.port, "notifier sending customer emails");
    notifications::Notifier::new(store, pool, smtp)
        .run(config.poll_interval(), shutdown)
        .await;
    Ok(())
}

/// Creates an admin account from the command line (the only way to get the first admin).
pub async fn create_admin(
    config: &Config,
    email: &str,
    display_name: &str,
    password: String,
) -> anyhow::Result<domain::AccountId> {
    use domain::account::{check_password_policy, Email, Role};
    let pool = database(config).await?;
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("{e}"))?;
    check_password_policy(&password, &email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let display_name =
        domain::text::DisplayName::parse(display_name).map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = event_store(config, &pool).await?;
    let commands = CommandHandler::new(store);
    if commands.account_for_email(&email).await?.is_some() {
        anyhow::bail!("an account with this email already exists");
    }
    let hasher = auth::password::PasswordHasherService::new(config.auth.argon2())?;
    let hash = hasher.hash(password).await?;
    let account_id = domain::AccountId::generate();
    auth::credentials::Credentials::new(pool.clone())
        .set(account_id.as_uuid(), &hash)
        .await?;
    let ctx = commands::CommandContext::new(Some("cli:admin-create".into()));
    commands
        .register_account(
            &ctx,
            account_id,
            email,
            display_name,
            std::collections::BTreeSet::from([Role::Admin]),
        )
        .await?;
    Ok(account_id)
}

/// Walks the whole store recomputing its hash chains; prints what it finds. True when intact.
pub async fn verify_store(config: &Config) -> anyhow::Result<bool> {
    let pool = database(config).await?;
    let store = event_store(config, &pool).await?;
    let started = std::time::Instant::now();
    let mut last_print = std::time::Instant::now();
    let report = store
        .verify(&mut |done, total| {
            if last_print.elapsed() > Duration::from_secs(1) {
                last_print = std::time::Instant::now();
                let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
                eprintln!("verify: {done}/{total} events ({rate:.0} events/s)");
            }
        })
        .await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "verified {} events in {} streams in {secs:.2}s ({:.0} events/s)",
        report.events,
        report.streams,
        report.events as f64 / secs.max(1e-9)
    );
    println!(
        "head: position {} hash {}",
        report.head_position, report.head_hash
    );
    if report.intact() {
        println!("intact: no event was edited, deleted, inserted or reordered");
        return Ok(true);
    }
    if let Some(first) = report.first() {
        println!(
            "TAMPERED: first broken stream {} version {}: {:?}, {}",
            first.stream_id, first.stream_version, first.kind, first.detail
        );
    }
    for f in &report.findings {
        println!(
            "  {:?} {} v{} at {}: {}",
            f.kind,
            f.stream_id,
            f.stream_version,
            f.global_position.map_or("-".into(), |p| p.to_string()),
            f.detail
        );
    }
    Ok(false)
}

/// Prints an order's timeline (its events and those naming it) and its state at a point.
pub async fn replay_order(
    config: &Config,
    order_id: uuid::Uuid,
    point: commands::PointInTime,
) -> anyhow::Result<()> {
    let pool = database(config).await?;
    let store = event_store(config, &pool).await?;
    let history =
        events::history::order_history(&*store, domain::OrderId::from_uuid(order_id)).await?;
    if history.is_empty() {
        anyhow::bail!("order {order_id} has no events");
    }
    println!("timeline of order {order_id}:");
    for e in &history {
        println!(
            "  #{:<6} {}  {:<45} v{:<3} {:<18} actor={} correlation={}  {}",
            e.global_position,
            e.recorded_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            e.stream_id,
            e.stream_version,
            e.event_type,
            e.metadata.actor.as_deref().unwrap_or("-"),
            e.metadata.correlation_id,
            e.payload
        );
    }
    let handler = CommandHandler::new(store);
    match handler
        .order_at(domain::OrderId::from_uuid(order_id), point)
        .await?
    {
        Some(then) => {
            println!("state ({point:?}):");
            println!(
                "{}",
                serde_json::to_string_pretty(&api::audit::order_state(&then))?
            );
        }
        None => println!("state ({point:?}): the order did not exist yet"),
    }
    Ok(())
}

/// Rebuilds projections without downtime (see `projections::rebuild`), showing progress: an
/// `indicatif` bar with events/s and ETA on a terminal, plain log lines otherwise.
pub async fn rebuild(config: &Config, names: &[String], all: bool) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let selected = if all {
        registry::all()
    } else {
        if names.is_empty() {
            anyhow::bail!("name projections to rebuild, or pass --all");
        }
        names
            .iter()
            .map(|name| registry::named(name))
            .collect::<Result<Vec<_>, _>>()?
    };
    let pool = database(config).await?;
    let store = event_store(config, &pool).await?;
    let terminal = std::io::stderr().is_terminal();
    let bar = indicatif::ProgressBar::new(0);
    if terminal {
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "[{bar:30}] {percent:>3}% {human_pos}/{human_len} events {per_sec} ETA {eta}",
            )?
            .progress_chars("#>-"),
        );
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut last_line = std::time::Instant::now();
    let outcome =
        projections::rebuild::rebuild(&pool, store, selected, config.rebuild_batch_size, |p| {
            bar.set_length(p.head.max(0) as u64);
            bar.set_position(p.position.max(0) as u64);
            if !terminal && last_line.elapsed() > Duration::from_secs(2) {
                last_line = std::time::Instant::now();
                let rate = p.events as f64 / p.elapsed.as_secs_f64().max(1e-3);
                tracing::info!(
                    events = p.events,
                    position = p.position,
                    head = p.head,
                    rate = rate as u64,
                    eta_secs = ((p.head - p.position).max(0) as f64 / rate.max(1.0)) as u64,
                    "rebuilding"
                );
            }
        })
        .await?;
    bar.finish_and_clear();
    let secs = outcome.elapsed.as_secs_f64();
    println!(
        "rebuilt {} from {} events in {secs:.1}s ({:.0} events/s); switched to the new generation",
        outcome.projections.join(", "),
        outcome.events,
        outcome.events as f64 / secs.max(1e-3)
    );
    Ok(())
}

/// A token cancelled on Ctrl-C or SIGTERM.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
        trigger.cancel();
    });
    token
}
