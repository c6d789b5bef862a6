//! The relay: committed events from the store's global log to Kafka.
//!
//! Only committed events are in the log, so nothing reaches Kafka before its transaction
//! commits. A batch is sent, every delivery report awaited, and the checkpoint moved to the end
//! of the acknowledged prefix. After a crash the relay resumes from its checkpoint and resends
//! what was not confirmed: delivery is at least once, and consumers de-duplicate by event id
//! (projections by stream version). The producer is idempotent, so broker-side retries keep
//! per-partition order and add no duplicates within a session.
//!
//! # One active relay
//! Any number of relays may run (for failover); one publishes at a time. A relay publishes
//! only while it holds the topic's lease: a session-level PostgreSQL advisory lock on a
//! connection of its own. PostgreSQL releases it when that connection ends, which a crash or a
//! kill ends at once (the kernel closes the socket); the standbys try every second, so one
//! takes over about a second after the active relay died, from the shared checkpoint. The
//! active relay checks its lease connection before every batch and stops publishing when it
//! is gone (a network partition from the database), so two relays overlap at most for the
//! batch in flight, whose records the consumers de-duplicate anyway.

use std::sync::Arc;
use std::time::Duration;

use events::{EventStore, RecordedEvent};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::ClientConfig;
use sqlx::{Connection, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use crate::{message, KafkaConfig, KafkaError};

/// Relay settings.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Events read and sent per round.
    pub batch_size: usize,
    /// Sleep when the log has nothing new.
    pub poll_interval: Duration,
}

impl Default for RelayOptions {
    fn default() -> Self {
        RelayOptions {
            batch_size: 500,
            poll_interval: Duration::from_millis(20),
        }
    }
}

/// How often a standby relay tries to take the lease.
const LEASE_RETRY: Duration = Duration::from_secs(1);

/// Publishes the event log to a Kafka topic.
pub struct Relay {
    store: Arc<dyn EventStore>,
    checkpoints: PgPool,
    producer: FutureProducer,
    config: KafkaConfig,
    options: RelayOptions,
    active: tokio::sync::watch::Sender<bool>,
}

/// Why publishing stopped.
enum Stopped {
    /// Shutdown was asked for.
    Shutdown,
    /// The lease connection is gone: another relay may hold the lease now.
    LeaseLost,
}

/// The advisory lock key of a topic's lease: FNV-1a of its name, so relays of one topic agree
/// and relays of different topics do not exclude each other.
fn lease_key(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

impl Relay {
    /// A relay for `store`, keeping its checkpoint in the `checkpoints` table of `checkpoints`.
    pub fn new(
        store: Arc<dyn EventStore>,
        checkpoints: PgPool,
        config: KafkaConfig,
        options: RelayOptions,
    ) -> Result<Self, KafkaError> {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &config.brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "30000")
            .create()?;
        Ok(Relay {
            store,
            checkpoints,
            producer,
            config,
            options,
            active: tokio::sync::watch::channel(false).0,
        })
    }

    /// Whether this relay holds the lease and publishes, as it changes.
    pub fn active(&self) -> tokio::sync::watch::Receiver<bool> {
        self.active.subscribe()
    }

    /// Waits for the topic's lease: a connection of its own holding the advisory lock.
    /// `None` when shutdown came first.
    async fn acquire_lease(&self, shutdown: &CancellationToken) -> Option<PgConnection> {
        let key = lease_key(&self.checkpoint_name());
        let mut waiting_logged = false;
        loop {
            let options = self.checkpoints.connect_options();
            match PgConnection::connect_with(&options).await {
                Ok(mut connection) => {
                    let held: Result<(bool,), _> =
                        sqlx::query_as("select pg_try_advisory_lock($1)")
                            .bind(key)
                            .fetch_one(&mut connection)
                            .await;
                    match held {
                        Ok((true,)) => return Some(connection),
                        Ok((false,)) if !waiting_logged => {
                            tracing::info!("another relay publishes; standing by");
                            waiting_logged = true;
                        }
                        Ok((false,)) => {}
                        Err(e) => tracing::warn!(error = %e, "relay cannot ask for the lease"),
                    }
                    let _ = connection.close().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "relay cannot reach the database for its lease")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(LEASE_RETRY) => {}
                () = shutdown.cancelled() => return None,
            }
        }
    }

    fn checkpoint_name(&self) -> String {
        format!("relay:{}", self.config.topic)
    }

    /// Last position acknowledged by the broker (0 when never run).
    pub async fn checkpoint(&self) -> Result<i64, KafkaError> {
        let row: Option<(i64,)> =
            sqlx::query_as("select position from checkpoints where name = $1")
                .bind(self.checkpoint_name())
                .fetch_optional(&self.checkpoints)
                .await?;
        Ok(row.map_or(0, |(p,)| p))
    }

    async fn save_checkpoint(&self, position: i64) -> Result<(), KafkaError> {
        sqlx::query(
            "insert into checkpoints (name, position) values ($1, $2)
             on conflict (name) do update
               set position = greatest(checkpoints.position, excluded.position), updated_at = now()",
        )
        .bind(self.checkpoint_name())
        .bind(position)
        .execute(&self.checkpoints)
        .await?;
        Ok(())
    }

    /// Sends a batch; returns the position of the last event of the acknowledged prefix.
    async fn send(&self, batch: &[RecordedEvent]) -> (Option<i64>, Option<KafkaError>) {
        let mut deliveries = Vec::with_capacity(batch.len());
        let mut refused = None;
        for event in batch {
            let value = message::value(event);
            let record = FutureRecord::to(&self.config.topic)
                .key(&event.stream_id)
                .payload(&value)
                .headers(message::headers(event));
            match self.producer.send_result(record) {
                Ok(delivery) => deliveries.push((event.global_position, delivery)),
                Err((e, _)) => {
                    // Local queue full or similar: settle what is in flight, retry the rest.
                    refused = Some(KafkaError::Client(e));
                    break;
                }
            }
        }
        let mut acked = None;
        for (position, delivery) in deliveries {
            match delivery.await {
                Ok(Ok(_)) => acked = Some(position),
                Ok(Err((e, _))) => return (acked, Some(KafkaError::Client(e))),
                Err(_) => {
                    return (
                        acked,
                        Some(KafkaError::Client(rdkafka::error::KafkaError::Canceled)),
                    )
                }
            }
        }
        (acked, refused)
    }

    /// Metrics after a batch was published up to `last`: `commerce_relay_events_total`,
    /// `commerce_relay_lag_events` (events in the log not yet published) and
    /// `commerce_relay_lag_seconds` (age of the newest event published).
    async fn record_lag(&self, batch: &[events::RecordedEvent], last: i64) {
        let published = batch.iter().filter(|e| e.global_position <= last);
        let (count, newest) = published.fold((0_u64, None), |(n, newest), e| {
            (n + 1, newest.max(Some(e.recorded_at)))
        });
        metrics::counter!("commerce_relay_events_total").increment(count);
        if let Some(newest) = newest {
            let lag = (chrono::Utc::now() - newest).num_milliseconds().max(0) as f64 / 1000.0;
            metrics::gauge!("commerce_relay_lag_seconds").set(lag);
        }
        if let Ok(head) = self.store.head_position().await {
            metrics::gauge!("commerce_relay_lag_events").set((head - last) as f64);
        }
    }

    /// Publishes the log from the checkpoint while it holds the lease, standing by while
    /// another relay does; runs until `shutdown` fires.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), KafkaError> {
        loop {
            let Some(mut lease) = self.acquire_lease(&shutdown).await else {
                break;
            };
            tracing::info!(topic = %self.config.topic, "relay holds the lease: publishing");
            self.active.send_replace(true);
            metrics::gauge!("commerce_relay_active").set(1.0);
            let stopped = self.publish(&mut lease, &shutdown).await;
            self.active.send_replace(false);
            metrics::gauge!("commerce_relay_active").set(0.0);
            match stopped? {
                Stopped::Shutdown => break,
                Stopped::LeaseLost => {
                    tracing::warn!("relay lost its lease connection; standing by");
                }
            }
        }
        let _ = self.producer.flush(Duration::from_secs(5));
        tracing::info!("relay stopped");
        Ok(())
    }

    /// Publishes from the checkpoint until shutdown or until the lease is lost.
    async fn publish(
        &self,
        lease: &mut PgConnection,
        shutdown: &CancellationToken,
    ) -> Result<Stopped, KafkaError> {
        let mut position = self.checkpoint().await?;
        // Woken by the commit where the store can push it; `poll_interval` otherwise.
        let mut appended = self.store.appended();
        tracing::info!(position, topic = %self.config.topic, push = appended.is_some(),
            "relay started");
        let mut backoff = Duration::from_millis(100);
        let mut checked = std::time::Instant::now();
        while !shutdown.is_cancelled() {
            // The lease is checked twice a second at most: one round trip, not one per batch.
            if checked.elapsed() >= Duration::from_millis(500) {
                let alive = tokio::time::timeout(Duration::from_secs(2), lease.ping()).await;
                if !matches!(alive, Ok(Ok(()))) {
                    return Ok(Stopped::LeaseLost);
                }
                checked = std::time::Instant::now();
            }
            let batch = match self.store.read_all(position, self.options.batch_size).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::error!(error = %e, "relay cannot read the log; retrying");
                    sleep_or_stop(backoff, shutdown).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            if batch.is_empty() {
                metrics::gauge!("commerce_relay_lag_events").set(0.0);
                metrics::gauge!("commerce_relay_lag_seconds").set(0.0);
                tokio::select! {
                    () = events::wait_for_appends(appended.as_mut(), self.options.poll_interval) => {}
                    () = shutdown.cancelled() => {}
                }
                continue;
            }
            let (acked, error) = self.send(&batch).await;
            if let Some(last) = acked {
                // Checkpoint failures are retried on the next round; resending is safe.
                match self.save_checkpoint(last).await {
                    Ok(()) => {
                        position = last;
                        self.record_lag(&batch, last).await;
                    }
                    Err(e) => tracing::error!(error = %e, "relay cannot save its checkpoint"),
                }
                tracing::debug!(position, events = batch.len(), "relayed");
            }
            if let Some(e) = error {
                tracing::error!(error = %e, position, "relay delivery failed; resending from checkpoint");
                sleep_or_stop(backoff, shutdown).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            } else {
                backoff = Duration::from_millis(100);
            }
        }
        Ok(Stopped::Shutdown)
    }
}

async fn sleep_or_stop(duration: Duration, shutdown: &CancellationToken) {
    tokio::select! {
        _ = tokio::time::sleep(duration) => {}
        _ = shutdown.cancelled() => {}
    }
}
