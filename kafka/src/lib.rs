//! Kafka at the edge of the engine.
//!
//! - [`relay`]: publishes the committed event log to a topic, keyed by stream id, in log order,
//!   and checkpoints only what the broker acknowledged (at least once, never before commit).
//! - [`consumer`]: a consumer-group member that feeds the projections from the topic.
//! - [`message`]: the record format (the back-office contract): JSON envelope as value, stream id
//!   as key, event id / type / schema version as headers.
//! - [`admin`]: topic creation.
//!
//! Everything speaks plain Kafka through librdkafka and runs unchanged against Apache Kafka.

pub mod admin;
pub mod consumer;
pub mod message;
pub mod relay;

/// Where and how to reach Kafka.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `bootstrap.servers`, comma-separated `host:port`.
    pub brokers: String,
    /// Topic carrying every event.
    pub topic: String,
    /// Consumer group of the projection workers.
    pub group_id: String,
    /// Partitions for a topic the engine creates.
    pub partitions: i32,
    /// Replication factor for a topic the engine creates.
    pub replication: i32,
}

/// Errors from Kafka adapters.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// The client library reported an error.
    #[error("kafka: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    /// The event store failed.
    #[error(transparent)]
    Store(#[from] events::StoreError),
    /// The checkpoint database failed.
    #[error("checkpoint database: {0}")]
    Database(#[from] sqlx::Error),
}
