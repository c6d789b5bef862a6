//! Projection workers as members of a Kafka consumer group.
//!
//! Each batch of records is applied by the [`Projector`] in one database transaction together
//! with the projections' de-duplication state; only then are the records' offsets stored for
//! commit. A crash between the two redelivers records that are already applied, and the
//! de-duplication state turns them into no-ops. Partitions can move between workers at any
//! time for the same reason.

use std::time::Duration;

use futures::FutureExt;
use projections::Projector;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::ClientConfig;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{message, KafkaConfig, KafkaError};

/// Most records applied in one transaction.
const MAX_BATCH: usize = 200;

/// Creates the group consumer, subscribed to the event topic.
pub fn subscribe(config: &KafkaConfig) -> Result<StreamConsumer, KafkaError> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "500")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        // Brokers that hold a fetch for the whole wait (tansu does) would otherwise add up to
        // librdkafka's default 500 ms to every event's way into the read models.
        .set("fetch.wait.max.ms", "50")
        .create()?;
    consumer.subscribe(&[&config.topic])?;
    Ok(consumer)
}

/// Feeds the projector from the topic until `shutdown` fires.
pub async fn run(
    config: &KafkaConfig,
    projector: Projector,
    shutdown: CancellationToken,
) -> Result<(), KafkaError> {
    let consumer = subscribe(config)?;
    tracing::info!(topic = %config.topic, group = %config.group_id, "projection worker started");
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => break,
            received = consumer.recv() => received,
        };
        let mut batch: Vec<BorrowedMessage<'_>> = match first {
            Ok(m) => vec![m],
            Err(e) => {
                tracing::warn!(error = %e, "kafka receive failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        while batch.len() < MAX_BATCH {
            match consumer.recv().now_or_never() {
                Some(Ok(m)) => batch.push(m),
                _ => break,
            }
        }

        let mut events = Vec::with_capacity(batch.len());
        for m in &batch {
            match message::decode(m) {
                Ok(event) => events.push(event),
                // Not an envelope of ours: it can never be projected, so it must not block
                // the partition. Logged with its coordinates for investigation.
                Err(reason) => tracing::error!(partition = m.partition(), offset = m.offset(),
                    %reason, "skipping undecodable record"),
            }
        }

        let span = tracing::debug_span!(
            "projection_batch",
            records = batch.len(),
            from = events.first().map(|e| e.global_position),
            to = events.last().map(|e| e.global_position),
        );
        let mut backoff = Duration::from_millis(100);
        loop {
            match projector
                .apply_batch(&events, None)
                .instrument(span.clone())
                .await
            {
                Ok(applied) => {
                    tracing::debug!(records = batch.len(), applied, "projected");
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "projection batch failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.cancelled() => return Ok(()),
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        for m in &batch {
            consumer.store_offset_from_message(m)?;
        }
    }
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        tracing::warn!(error = %e, "final offset commit failed; records will be redelivered");
    }
    tracing::info!("projection worker stopped");
    Ok(())
}
