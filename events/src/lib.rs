//! The event store: the engine's source of truth.
//!
//! - [`envelope`]: what is written (`NewEvent`) and what is read back (`RecordedEvent`), with
//!   stream version, global position, type, schema version and metadata.
//! - [`store`]: the [`EventStore`] port: optimistic, multi-stream atomic appends and reads of
//!   one stream or of the global log in commit-safe order.
//! - [`postgres`] and [`memory`]: the two adapters. Both pass the same contract suite.
//! - `eventstoredb` (cargo feature `eventstoredb`): the EventStoreDB adapter, which runs the
//!   contract suite too when `EVENTSTOREDB_URL` points at a live server.
//! - [`codec`]: turns domain events into envelopes and back, and lists the event catalogue.
//! - [`chain`]: the hash chains that make edits, deletions and reorderings detectable;
//!   [`verify`] walks them.
//! - [`upcast`]: older schema versions lifted to the current one on every read path.
//! - [`schemas`]: JSON Schemas of every event type and version.
//! - `testing` and `contract` (cargo feature `testing`): fresh PostgreSQL databases for tests,
//!   and the contract suite every adapter passes.

pub mod chain;
pub mod codec;
#[cfg(any(test, feature = "testing"))]
pub mod contract;
pub mod envelope;
#[cfg(feature = "eventstoredb")]
pub mod eventstoredb;
pub mod history;
pub mod memory;
pub mod personal;
pub mod postgres;
pub mod schemas;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod trace;
pub mod upcast;
pub mod verify;

pub use envelope::{
    AppendOutcome, ExpectedVersion, Metadata, NewEvent, RecordedEvent, StreamAppend,
};
pub use memory::MemoryEventStore;
pub use postgres::PgEventStore;
pub use store::{wait_for_appends, AppendSignal, EventStore, Snapshot, StoreError};
