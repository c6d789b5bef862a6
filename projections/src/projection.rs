//! The projection port.

use async_trait::async_trait;
use events::RecordedEvent;
use sqlx::PgConnection;

/// Why applying events failed. The batch is rolled back and retried later.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The event store failed, or a known event could not be decoded (the feed then stops
    /// rather than skip it).
    #[error(transparent)]
    Store(#[from] events::StoreError),
    /// The read-model database failed.
    #[error("read model database: {0}")]
    Database(#[from] sqlx::Error),
}

/// A read model fed by events.
#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// Stable name; keys the de-duplication state and read-your-writes watermark.
    fn name(&self) -> &'static str;

    /// Stream categories whose events this projection reads.
    fn categories(&self) -> &'static [&'static str];

    /// The read-model tables it owns (rebuilt together).
    fn tables(&self) -> &'static [&'static str];

    /// Applies one event inside the caller's transaction. Called at most once per
    /// (stream, version); events of unknown types are to be ignored.
    async fn apply(
        &self,
        tx: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError>;

    /// Applies a batch of fresh events of this projection's categories, in log order, inside
    /// the caller's transaction: the result must equal [`Projection::apply`] on each in turn.
    ///
    /// The default does exactly that, a few statements per event. Projections on the hot path
    /// override it to fold the batch in memory and write each table with a few set-based
    /// statements, whatever the batch's size.
    async fn apply_batch(
        &self,
        tx: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            self.apply(tx, event).await?;
        }
        Ok(())
    }

    /// Overwrites this read model's copies of the personal data of `people` (accounts whose
    /// data was erased: `AccountErased`) with what an erased value reads as, so the rows equal
    /// what a rebuild would write. The projector calls it inside the batch's transaction, after
    /// the batch is applied, for every batch holding such events, whatever this projection's
    /// categories; a redelivery calls it again, so it must be idempotent. The default keeps no
    /// personal data.
    async fn forget(
        &self,
        tx: &mut PgConnection,
        people: &[uuid::Uuid],
    ) -> Result<(), ProjectionError> {
        let _ = (tx, people);
        Ok(())
    }
}

/// Decodes an event of a known type; `None` for event types this build does not know
/// (written by a newer version), which projections skip.
pub(crate) fn decode_known<E: serde::de::DeserializeOwned>(
    event: &RecordedEvent,
) -> Result<Option<E>, ProjectionError> {
    if !events::codec::CATALOGUE
        .iter()
        .any(|t| t.name == event.event_type)
    {
        tracing::debug!(event_type = %event.event_type, "skipping unknown event type");
        return Ok(None);
    }
    Ok(Some(events::codec::decode(event)?))
}
