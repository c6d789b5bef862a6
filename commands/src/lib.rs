//! Command handling: the write side of the engine.
//!
//! Every command takes one path ([`execute`]): load the aggregates it needs from the event
//! store, check a version the caller pinned (`If-Match`), let the domain decide, and append
//! every resulting event with the versions read, in one atomic append. When another writer got
//! there first the store answers with a conflict and the command starts over from a fresh read
//! (bounded retries with jitter), so a command is either decided on current state or refused.
//! A caller that pins a version gets the conflict instead of a retry.
//!
//! One module per bounded context, each adding its commands to [`CommandHandler`]:
//! [`catalog`], [`categories`], [`inventory`], [`cart`], [`addresses`], [`checkout`] (and orders),
//! [`payments`], [`pricing`], [`returns`], [`reviews`], [`sellers`], [`wallet`], [`wishlist`], [`accounts`]. [`reads`]
//! answers the write side's own questions (who owns this order, which account holds this
//! email). [`error`] names the three ways a command fails.

pub mod accounts;
pub mod addresses;
pub mod cart;
pub mod catalog;
pub mod categories;
pub mod checkout;
pub mod context;
pub mod error;
pub mod execute;
pub mod inventory;
pub mod payments;
pub mod pricing;
pub mod reads;
pub mod returns;
pub mod reviews;
pub mod sellers;
#[cfg(feature = "testing")]
pub mod testing;
pub mod wallet;
pub mod wishlist;

pub use addresses::{AddressChoice, Checkout};
pub use context::{CommandContext, CommandOutcome};
pub use error::{CommandError, Missing, Rejection};
pub use execute::CommandHandler;
pub use reads::{OrderAt, PointInTime};
