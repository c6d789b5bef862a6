//! Topic management.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

use crate::{KafkaConfig, KafkaError};

/// Creates the event topic if it does not exist yet.
pub async fn ensure_topic(config: &KafkaConfig) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .create()?;
    let topic = NewTopic::new(
        &config.topic,
        config.partitions,
        TopicReplication::Fixed(config.replication),
    );
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin.create_topics([&topic], &options).await?;
    for result in results {
        match result {
            Ok(name) => {
                tracing::info!(topic = %name, partitions = config.partitions, "topic created")
            }
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(KafkaError::Client(rdkafka::error::KafkaError::AdminOp(
                    code,
                )))
                .inspect_err(|_| tracing::error!(topic = %name, ?code, "cannot create topic"))
            }
        }
    }
    Ok(())
}

/// Asks the brokers for the event topic's metadata: the readiness check of a process that
/// talks to Kafka. One client, kept; each probe is one metadata request.
pub struct BrokerProbe {
    client: std::sync::Arc<rdkafka::consumer::BaseConsumer>,
    topic: String,
}

impl BrokerProbe {
    /// A probe of the brokers and topic of `config` (connects lazily).
    pub fn new(config: &KafkaConfig) -> Result<BrokerProbe, KafkaError> {
        let client: rdkafka::consumer::BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &config.brokers)
            .create()?;
        Ok(BrokerProbe {
            client: std::sync::Arc::new(client),
            topic: config.topic.clone(),
        })
    }

    /// `Ok` when a broker answered a metadata request within `timeout` (whether the topic
    /// exists yet is not this process's concern: the relay and the workers create it).
    pub async fn check(&self, timeout: Duration) -> Result<(), String> {
        let client = self.client.clone();
        let topic = self.topic.clone();
        tokio::task::spawn_blocking(move || {
            use rdkafka::consumer::Consumer;
            client
                .fetch_metadata(Some(&topic), timeout)
                .map(|_| ())
                .map_err(|e| format!("no broker answered: {e}"))
        })
        .await
        .map_err(|e| format!("probe failed: {e}"))?
    }
}
