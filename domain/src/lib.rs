//! The commerce domain, free of I/O.
//!
//! Each aggregate lives in its own module and follows one shape: a command enum, an event enum,
//! an error enum, and a state type with a pure `decide` (command -> events or error) and an
//! infallible `apply` (event -> new state). Everything a decision needs, such as prices or the
//! state of other aggregates, is loaded by the caller first and passed in.
//!
//! - [`values`]: validated value objects (`Sku`, `Money`, `Quantity`, ids).
//! - [`text`]: the rules for human text and identifiers, and the text value objects.
//! - [`address`]: postal addresses and each customer's address book.
//! - [`account`]: accounts and roles; email uniqueness through per-email claims.
//! - [`category`]: the category tree (one stream for the shop).
//! - [`product`]: catalog entries (one stream per SKU): content, price, archive.
//! - [`seller`]: marketplace sellers: application, verification, commission, suspension.
//! - [`review`]: one review per buyer and product, hidden by admins.
//! - [`inventory`]: stock per SKU; received, reserved, released; never negative.
//! - [`cart`]: one shopping cart per customer.
//! - [`order`]: the order life cycle (placed -> paid -> shipped -> delivered, or cancelled).
//! - [`wallet`]: store credit per account, never below zero.
//! - [`wishlist`]: products a customer keeps to come back to, with the price they had then.
//! - [`pricing`]: tax rates and shipping methods, and the quote a checkout is decided on.
//! - [`checkout`]: the one decision that spans cart, products, inventories and a new order.

pub mod account;
pub mod address;
pub mod aggregate;
pub mod cart;
pub mod category;
pub mod checkout;
pub mod inventory;
pub mod order;
pub mod pricing;
pub mod product;
pub mod review;
pub mod seller;
pub mod text;
pub mod values;
pub mod wallet;
pub mod wishlist;

pub use aggregate::{Aggregate, DomainEvent, SnapshotFormat};
pub use values::{AccountId, CustomerId, Money, OrderId, Quantity, Sku, ValueError};
