//! Event envelopes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who and what caused an event. Stored with every event; never holds secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Metadata {
    /// Shared by every event of one business flow (from the `X-Correlation-Id` header or the
    /// first request's id).
    pub correlation_id: Uuid,
    /// The command (request) that produced the event.
    pub causation_id: Option<Uuid>,
    /// Who issued the command, when known.
    pub actor: Option<String>,
    /// The W3C trace context of the command that appended the event, when the engine exports
    /// traces ([`crate::trace`]); absent otherwise, and on events appended before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// An event about to be appended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Unique id (UUIDv7); consumers de-duplicate on it.
    pub event_id: Uuid,
    /// Stable type name, e.g. `OrderPlaced`.
    pub event_type: String,
    /// Version of the payload's schema.
    pub schema_version: i32,
    /// The event's data.
    pub payload: serde_json::Value,
    /// Correlation, causation, actor.
    pub metadata: Metadata,
}

/// An event as stored, with its place in its stream and in the global log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// Unique id (UUIDv7).
    pub event_id: Uuid,
    /// Stream the event belongs to, `{category}-{id}`.
    pub stream_id: String,
    /// 1-based position within the stream.
    pub stream_version: i64,
    /// Position in the global log; increases in commit order, with possible gaps.
    pub global_position: i64,
    /// Stable type name.
    pub event_type: String,
    /// Version of the payload's schema.
    pub schema_version: i32,
    /// The event's data.
    pub payload: serde_json::Value,
    /// Correlation, causation, actor.
    pub metadata: Metadata,
    /// When the store recorded it.
    pub recorded_at: DateTime<Utc>,
}

impl RecordedEvent {
    /// The stream's category: the part of the stream id before the first `-`.
    pub fn category(&self) -> &str {
        self.stream_id
            .split_once('-')
            .map_or(self.stream_id.as_str(), |(c, _)| c)
    }
}

/// What the writer believes the stream's version to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ExpectedVersion {
    /// The stream must not exist yet.
    NoStream,
    /// The stream must be at exactly this version (0 means it must not exist).
    Exact(i64),
    /// No check.
    Any,
}

/// Events for one stream within an append.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamAppend {
    /// Target stream.
    pub stream_id: String,
    /// Optimistic concurrency check.
    pub expected: ExpectedVersion,
    /// Events to append, in order. May be empty to only assert the version.
    pub events: Vec<NewEvent>,
}

/// Result of a successful append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppendOutcome {
    /// New version of every stream in the append, in request order.
    pub versions: Vec<(String, i64)>,
    /// Global position of the last event written; `None` when no event was written.
    pub last_position: Option<i64>,
}

impl AppendOutcome {
    /// New version of one stream of the append.
    pub fn version_of(&self, stream_id: &str) -> Option<i64> {
        self.versions
            .iter()
            .find(|(s, _)| s == stream_id)
            .map(|(_, v)| *v)
    }
}
