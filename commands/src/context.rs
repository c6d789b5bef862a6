//! Who sent a command, and what an accepted command answers.

use serde::Serialize;
use uuid::Uuid;

use events::Metadata;

/// Who sent a command and as part of what; becomes every event's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandContext {
    /// Shared by every event of one business flow.
    pub correlation_id: Uuid,
    /// Identity of this command (the HTTP request id).
    pub causation_id: Uuid,
    /// Who issued it, when known.
    pub actor: Option<String>,
}

impl CommandContext {
    /// A context for a command that starts its own flow.
    pub fn new(actor: Option<String>) -> Self {
        let id = Uuid::now_v7();
        CommandContext {
            correlation_id: id,
            causation_id: id,
            actor,
        }
    }

    pub(crate) fn metadata(&self) -> Metadata {
        Metadata {
            correlation_id: self.correlation_id,
            causation_id: Some(self.causation_id),
            actor: self.actor.clone(),
            traceparent: events::trace::current_traceparent(),
        }
    }
}

/// What an accepted command changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CommandOutcome {
    /// The stream the command addressed.
    pub stream_id: String,
    /// That stream's version after the command.
    pub stream_version: i64,
    /// Global position of the last event written; queries can wait for it
    /// (`?min_position=`). `None` when the command changed nothing.
    pub global_position: Option<i64>,
    /// True when an idempotent command was answered from its first execution.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}
