//! Command handling: the write side of the engine.
//!
//! A handler loads the aggregates a command needs from the event store, asks the domain to
//! decide, and appends the resulting events with the versions it read. When another writer got
//! there first the store answers with a conflict and the handler starts over from a fresh read
//! (bounded retries with jitter), so a command is either decided on current state or refused.
//! A caller that pins a version itself (`If-Match`) gets the conflict instead of a retry.
//!
//! - [`error`]: the three ways a command fails (rejected, conflict, infrastructure).
//! - [`handler`]: [`CommandHandler`] with one method per command.

pub mod error;
pub mod handler;

pub use error::{CommandError, Rejection};
pub use handler::{CommandContext, CommandHandler, CommandOutcome, OrderAt, PointInTime};
