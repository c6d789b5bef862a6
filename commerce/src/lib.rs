//! Wiring of the engine's roles, shared by the `commerce` binary and the integration tests.
//!
//! | role      | what it runs                                                           |
//! |-----------|------------------------------------------------------------------------|
//! | `serve`   | the HTTP API (commands and queries)                                    |
//! | `relay`   | event log -> Kafka topic                                               |
//! | `project` | projection worker: Kafka consumer group, or the store's log without Kafka |
//! | `migrate` | creates the database if needed and applies `migrations/`               |
//! | `up`      | all of the above in one process                                        |

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use commands::CommandHandler;
use events::{EventStore, PgEventStore};
use kafka::relay::{Relay, RelayOptions};
use kafka::KafkaConfig;
use projections::{all_projections, Projector};
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
    /// Address the HTTP API listens on (port 0 picks a free port).
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
    /// Longest a query waits for `min_position`, in milliseconds.
    #[arg(long, env = "READ_WAIT_MAX_MS", default_value_t = 5000)]
    pub read_wait_max_ms: u64,
    /// Events per projection or relay batch.
    #[arg(long, env = "BATCH_SIZE", default_value_t = 500)]
    pub batch_size: usize,
    /// Idle polling interval of log followers, in milliseconds.
    #[arg(long, env = "POLL_INTERVAL_MS", default_value_t = 20)]
    pub poll_interval_ms: u64,
}

impl Config {
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
    Ok(pool)
}

/// Serves the HTTP API on `listener` until `shutdown`.
pub async fn serve(
    config: &Config,
    pool: PgPool,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store: Arc<dyn EventStore> = Arc::new(PgEventStore::new(pool.clone()));
    let state = api::AppState {
        commands: CommandHandler::new(store),
        read_pool: pool,
        projections: Arc::new(all_projections()),
        max_read_wait: Duration::from_millis(config.read_wait_max_ms),
    };
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "HTTP API listening");
    // A machine-readable line for scripts and tests that bind port 0.
    println!("commerce: listening on http://{addr}");
    axum::serve(listener, api::router(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
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
    let store: Arc<dyn EventStore> = Arc::new(PgEventStore::new(pool.clone()));
    let options = RelayOptions {
        batch_size: config.batch_size,
        poll_interval: config.poll_interval(),
    };
    Relay::new(store, pool, kafka, options)?
        .run(shutdown)
        .await?;
    Ok(())
}

/// Runs the projections until `shutdown`: from Kafka when brokers are configured, otherwise
/// straight from the event store's log.
pub async fn project(
    config: &Config,
    pool: PgPool,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let projector = Projector::new(pool.clone(), all_projections());
    match config.kafka() {
        Some(kafka) => {
            kafka::admin::ensure_topic(&kafka).await?;
            kafka::consumer::run(&kafka, projector, shutdown).await?;
        }
        None => {
            let store: Arc<dyn EventStore> = Arc::new(PgEventStore::new(pool));
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
