//! Projections turn the event log into read models in PostgreSQL.
//!
//! Projection code does not know where events come from. A [`Projector`] applies a batch of
//! [`events::RecordedEvent`]s inside one transaction: for every projection interested in the
//! event's stream category it bumps that projection's per-stream version (the de-duplication
//! state) and, only if the version moved forward, applies the change. A redelivered event
//! therefore changes nothing, whichever feed delivered it:
//!
//! - [`follow::follow_log`] reads the event store's global log directly (no broker);
//! - the `kafka` crate's consumer feeds the same projector from a Kafka topic.
//!
//! [`rebuild`] replays the log into a new generation of a projection's tables while the
//! current one serves, then switches atomically.
//!
//! Read models: [`catalog`] (with [`categories`], [`reviews`] and [`search`]), [`carts`], [`orders`], [`customer_orders`], [`accounts`],
//! [`addresses`], [`wallets`], [`wishlists`], [`sellers`], [`dashboards`], [`unpaid_orders`] and [`refunds_due`] (for
//! process managers). Each
//! module holds the projection and the queries that read its tables; [`registry`] is the one
//! list of them that everything else reads.

pub mod accounts;
pub mod addresses;
pub mod carts;
pub mod catalog;
pub mod categories;
pub mod customer_orders;
pub mod dashboards;
pub mod follow;
pub mod orders;
pub mod projection;
pub mod projector;
pub mod rebuild;
pub mod refunds_due;
pub mod registry;
pub mod reviews;
pub mod search;
pub mod sellers;
pub mod unpaid_orders;
pub mod wallets;
pub mod wishlists;

pub use projection::{Projection, ProjectionError};
pub use projector::Projector;
