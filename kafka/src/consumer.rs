//! Projection workers as members of a Kafka consumer group.
//!
//! Each batch of records is applied by the [`Projector`] in one database transaction together
//! with the projections' de-duplication state; only then are the records' offsets stored for
//! commit. A crash between the two redelivers records that are already applied, and the
//! de-duplication state turns them into no-ops. Partitions can move between workers at any
//! time for the same reason.
//!
//! A [`Watchdog`] looks at the group's committed offsets from outside: a partition with
//! records waiting whose committed offset has not moved for [`STALL_AFTER`] makes the worker
//! leave and rejoin the group, so the partition is assigned afresh. Apache Kafka's own
//! liveness checks should never leave it anything to do; it is there because a coordinator
//! was seen (tansu, under load) to settle a rebalance with a partition assigned to nobody,
//! which would otherwise stall that partition's read models for good. Every 5 s it also sets
//! `commerce_kafka_consumer_lag{partition}` (records not yet committed by the group) and, for
//! each projection, `commerce_projection_lag_events` (their sum).

use std::time::Duration;

use std::collections::HashMap;
use std::time::Instant;

use futures::FutureExt;
use projections::Projector;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{message, KafkaConfig, KafkaError};

/// Most records applied in one transaction.
const MAX_BATCH: usize = 200;

/// How long a partition with records waiting may go without its committed offset moving
/// before the worker rejoins the group.
pub const STALL_AFTER: Duration = Duration::from_secs(20);

/// Watches the group's progress on every partition of the topic from its own client (it never
/// joins the group): see the module documentation.
pub struct Watchdog {
    observer: BaseConsumer,
    topic: String,
    /// Per partition: the committed offset last seen and since when.
    seen: HashMap<i32, (i64, Instant)>,
    /// Records waiting for the group, all partitions together, as last seen.
    lag: i64,
}

impl Watchdog {
    /// A watchdog for the group and topic of `config`.
    pub fn new(config: &KafkaConfig) -> Result<Watchdog, KafkaError> {
        let observer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &config.brokers)
            .set("group.id", &config.group_id)
            .set("enable.auto.commit", "false")
            .create()?;
        Ok(Watchdog {
            observer,
            topic: config.topic.clone(),
            seen: HashMap::new(),
            lag: 0,
        })
    }

    /// Looks once (blocking, a few round trips); returns the partitions that stalled for
    /// `stall_after`, and starts their clocks again.
    pub fn stalled(&mut self, stall_after: Duration) -> Result<Vec<i32>, KafkaError> {
        let timeout = Duration::from_secs(5);
        let metadata = self.observer.fetch_metadata(Some(&self.topic), timeout)?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        let mut wanted = TopicPartitionList::new();
        for p in &partitions {
            wanted.add_partition(&self.topic, *p);
        }
        let committed = self.observer.committed_offsets(wanted, timeout)?;
        let now = Instant::now();
        let mut stalled = Vec::new();
        let mut lag = 0;
        for p in partitions {
            let (low, high) = self.observer.fetch_watermarks(&self.topic, p, timeout)?;
            let at = match committed.find_partition(&self.topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => low,
            };
            let behind = (high - at).max(0);
            lag += behind;
            metrics::gauge!("commerce_kafka_consumer_lag", "partition" => p.to_string())
                .set(behind as f64);
            let (last, since) = self.seen.entry(p).or_insert((at, now));
            if *last != at || at >= high {
                (*last, *since) = (at, now);
            } else if now.duration_since(*since) >= stall_after {
                stalled.push(p);
                *since = now;
            }
        }
        self.lag = lag;
        Ok(stalled)
    }
}

/// Runs a [`Watchdog`] on its own thread, checking every `every`; sends the stalled
/// partitions. Stops when the receiver is dropped.
fn watch(
    config: &KafkaConfig,
    every: Duration,
    projections: Vec<&'static str>,
) -> Result<mpsc::Receiver<Vec<i32>>, KafkaError> {
    let mut watchdog = Watchdog::new(config)?;
    let (tx, rx) = mpsc::channel(1);
    std::thread::Builder::new()
        .name("kafka-watchdog".into())
        .spawn(move || loop {
            std::thread::sleep(every);
            let looked = watchdog.stalled(STALL_AFTER);
            if looked.is_ok() {
                // Every worker of the group feeds every projection: the group's lag is theirs.
                for name in &projections {
                    metrics::gauge!("commerce_projection_lag_events", "projection" => *name)
                        .set(watchdog.lag as f64);
                }
            }
            match looked {
                Ok(stalled) if stalled.is_empty() => {}
                Ok(stalled) => {
                    if tx.blocking_send(stalled).is_err() {
                        return;
                    }
                }
                Err(e) => tracing::debug!(error = %e, "watchdog could not look at the group"),
            }
            if tx.is_closed() {
                return;
            }
        })
        .expect("spawn the watchdog thread");
    Ok(rx)
}

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
        // Also the rebalance timeout: how long a join waits for the group's other members. At
        // librdkafka's default (300 s) a group whose coordinator hung kept waiting for members
        // gone with it; a batch is applied in far less than 30 s, so a live worker is never
        // taken for a dead one.
        .set("max.poll.interval.ms", "30000")
        // Brokers that hold a fetch for the whole wait (tansu does) would otherwise add up to
        // librdkafka's default 500 ms to every event's way into the read models; at 50 ms the
        // p99 from command to read model was 144 ms at 300 commands/s, at 10 ms 83 ms. An idle
        // worker then asks up to 100 times a second, which brokers answer cheaply.
        .set("fetch.wait.max.ms", "10")
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
    let mut consumer = subscribe(config)?;
    let names = projector.projections().iter().map(|p| p.name()).collect();
    let mut stalls = watch(config, Duration::from_secs(5), names)?;
    tracing::info!(topic = %config.topic, group = %config.group_id, "projection worker started");
    let mut stalled_in_a_row = 0;
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(partitions) = stalls.recv() => Err(partitions),
            received = consumer.recv() => Ok(received),
        };
        let first = match next {
            Ok(received) => {
                stalled_in_a_row = 0;
                received
            }
            Err(partitions) => {
                stalled_in_a_row += 1;
                if stalled_in_a_row == 1 {
                    tracing::warn!(?partitions, after = ?STALL_AFTER,
                        "partitions with records waiting made no progress; rejoining the group");
                    consumer.unsubscribe();
                    consumer.subscribe(&[&config.topic])?;
                } else {
                    // Rejoining did not help (seen after a broker hung for longer than the
                    // session timeout): a new client, with a new member id and connections.
                    tracing::warn!(
                        ?partitions,
                        "still no progress; joining again with a new client"
                    );
                    drop(consumer);
                    consumer = subscribe(config)?;
                }
                continue;
            }
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

        let span = tracing::info_span!(
            "projection_batch",
            records = batch.len(),
            from = events.first().map(|e| e.global_position),
            to = events.last().map(|e| e.global_position),
        );
        // Each event's trace, as its record's `traceparent` header (and its metadata) carry it.
        events::trace::link_events(&span, &events);
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
