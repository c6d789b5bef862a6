//! The event store port.

use async_trait::async_trait;

use crate::envelope::{AppendOutcome, ExpectedVersion, RecordedEvent, StreamAppend};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A stream was not at the expected version; nothing was written.
    #[error("stream {stream_id} is at version {actual} (expected {expected:?})")]
    Conflict {
        /// The stream that failed the check.
        stream_id: String,
        /// What the writer expected.
        expected: ExpectedVersion,
        /// The stream's current version (0 when it does not exist).
        actual: i64,
    },
    /// The request itself is malformed (for example, one stream named twice).
    #[error("invalid append: {0}")]
    InvalidAppend(String),
    /// A stored payload could not be decoded.
    #[error("cannot decode event {event_id}: {reason}")]
    Decode {
        /// The event that failed to decode.
        event_id: uuid::Uuid,
        /// What went wrong.
        reason: String,
    },
    /// The backing store could not be reached, is overloaded or shutting down: worth
    /// retrying later.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    /// The backing store failed in a way a retry will not fix.
    #[error("event store failed: {0}")]
    Failed(String),
    /// The personal data of this person was erased: nothing is sealed for them again.
    #[error("the personal data of {0} was erased")]
    Erased(uuid::Uuid),
    /// This store cannot do what was asked (for example, verify hash chains it does not keep).
    #[error("{0}")]
    Unsupported(&'static str),
}

impl StoreError {
    /// Whether retrying later may succeed (the store was unreachable or overloaded), as
    /// opposed to a request that will fail again.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::Conflict { .. }
        )
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if crate::postgres::is_transient(&e) {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::Failed(e.to_string())
        }
    }
}

/// Changes whenever events were committed (its value counts wake-ups, nothing more), so
/// readers of the log wake on the commit instead of polling. A wake-up may be spurious, and
/// may stand for several commits; a reader always reads the log to see what is new.
pub type AppendSignal = tokio::sync::watch::Receiver<u64>;

/// How often a reader woken by an [`AppendSignal`] still looks at the log, in case a
/// notification was lost.
pub const FALLBACK_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Waits until `signal` reports a commit (or, as a fallback, [`FALLBACK_POLL`] elapses); with
/// no signal, or one whose sender has gone, waits `poll`.
pub async fn wait_for_appends(signal: Option<&mut AppendSignal>, poll: std::time::Duration) {
    match signal {
        Some(signal) => {
            tokio::select! {
                changed = signal.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(poll).await;
                    }
                }
                () = tokio::time::sleep(poll.max(FALLBACK_POLL)) => {}
            }
        }
        None => tokio::time::sleep(poll).await,
    }
}

/// An append-only store of event streams with a global, commit-ordered log.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// A signal of committed appends, when this store can push one; `None`: readers poll.
    fn appended(&self) -> Option<AppendSignal> {
        None
    }

    /// Appends to one or more streams atomically: either every stream passes its version check
    /// and every event is written, or nothing is.
    async fn append(&self, appends: Vec<StreamAppend>) -> Result<AppendOutcome, StoreError>;

    /// Reads a stream from `from_version` (inclusive, 1-based) to its end.
    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Reads up to `limit` events of the global log with a position greater than `after`,
    /// in position order. A reader that resumes from the last position it saw never skips an
    /// event: positions become visible in increasing order.
    async fn read_all(&self, after: i64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Position of the newest event in the log (0 when empty).
    async fn head_position(&self) -> Result<i64, StoreError>;

    /// For every stream of one of `categories` with events at positions in `(after, upto]`,
    /// its newest version in that range. Read-your-writes compares these with a projection's
    /// versions. The default pages through [`EventStore::read_all`]; an adapter with an index
    /// does better.
    async fn stream_versions_between(
        &self,
        after: i64,
        upto: i64,
        categories: &[&str],
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let mut newest = std::collections::BTreeMap::new();
        let mut seen = after;
        'read: loop {
            let page = self.read_all(seen, 1_000).await?;
            if page.is_empty() {
                break;
            }
            for e in page {
                if e.global_position > upto {
                    break 'read;
                }
                seen = e.global_position;
                if categories.contains(&e.category()) {
                    newest.insert(e.stream_id, e.stream_version);
                }
            }
        }
        Ok(newest.into_iter().collect())
    }

    /// The events of `streams` whose payload member `field` is the string `value`, in log
    /// order. The default reads each stream; an adapter that indexes payloads may search the
    /// whole log instead, so callers name every stream such an event can be in.
    async fn events_naming(
        &self,
        field: &str,
        value: &str,
        streams: &[String],
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut found = Vec::new();
        for stream in streams {
            found.extend(
                self.read_stream(stream, 1)
                    .await?
                    .into_iter()
                    .filter(|e| e.payload.get(field).and_then(|v| v.as_str()) == Some(value)),
            );
        }
        found.sort_by_key(|e| e.global_position);
        Ok(found)
    }

    /// The snapshot kept for `stream_id`, if any. Snapshots live beside the log, never in it:
    /// they are a cache of a fold that can be dropped at any time (the stream is then replayed)
    /// and are covered by no hash chain. The default keeps none.
    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        let _ = stream_id;
        Ok(None)
    }

    /// Keeps `snapshot` in place of the stream's older one (a newer one already kept, of the
    /// same format, stays). The default drops it.
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        let _ = snapshot;
        Ok(())
    }

    /// Recomputes the store's hash chains (tamper evidence). Stores that keep none answer
    /// [`StoreError::Unsupported`].
    async fn verify(
        &self,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<crate::verify::Report, StoreError> {
        let _ = progress;
        Err(StoreError::Unsupported(
            "hash chains are kept by the PostgreSQL event store only; this engine runs on another store",
        ))
    }

    /// Erases `subject`'s personal data: destroys the key their personal fields are sealed
    /// with (see [`crate::personal`]). Stores that seal nothing answer
    /// [`StoreError::Unsupported`].
    async fn erase_personal_data(&self, subject: uuid::Uuid) -> Result<(), StoreError> {
        let _ = subject;
        Err(StoreError::Unsupported(
            "this event store seals no personal data, so it cannot erase it",
        ))
    }
}

/// An aggregate's state folded from the first `version` events of a stream, so a load reads
/// only what came after.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The stream folded.
    pub stream_id: String,
    /// Version of the state's encoding; a reader expecting another ignores the snapshot.
    pub format: u16,
    /// The stream version the state reflects.
    pub version: i64,
    /// Global position of the event at `version`.
    pub position: i64,
    /// The encoded state.
    pub state: serde_json::Value,
}

/// Checks that no stream is named twice in one append.
pub(crate) fn check_distinct(appends: &[StreamAppend]) -> Result<(), StoreError> {
    let mut seen = std::collections::HashSet::new();
    for append in appends {
        if !seen.insert(append.stream_id.as_str()) {
            return Err(StoreError::InvalidAppend(format!(
                "stream {} appears twice",
                append.stream_id
            )));
        }
        if append.stream_id.is_empty() {
            return Err(StoreError::InvalidAppend("empty stream id".into()));
        }
    }
    Ok(())
}

/// Whether `actual` satisfies `expected`.
pub(crate) fn version_matches(expected: ExpectedVersion, actual: i64) -> bool {
    match expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => actual == 0,
        ExpectedVersion::Exact(v) => v == actual,
    }
}
