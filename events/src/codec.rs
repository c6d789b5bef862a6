//! Domain events to envelopes and back, and the catalogue of published event types.

use serde::{de::DeserializeOwned, Serialize};
use uuid::Uuid;

use domain::DomainEvent;

use crate::envelope::{Metadata, NewEvent, RecordedEvent};
use crate::store::StoreError;

/// Wraps a domain event in a new envelope with a fresh UUIDv7.
pub fn encode<E: DomainEvent + Serialize>(event: &E, metadata: &Metadata) -> NewEvent {
    // Domain events serialize adjacently tagged: {"type": ..., "data": {...}}.
    let mut tagged = serde_json::to_value(event).unwrap_or_default();
    let payload = tagged
        .get_mut("data")
        .map(serde_json::Value::take)
        .unwrap_or_default();
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: event.event_type().to_owned(),
        schema_version: i32::from(event.schema_version()),
        payload,
        metadata: metadata.clone(),
    }
}

/// Decodes an envelope into a domain event of the stream's aggregate, lifting older schema
/// versions to the current one first (see [`crate::upcast`]).
pub fn decode<E: DeserializeOwned>(event: &RecordedEvent) -> Result<E, StoreError> {
    let (_, payload) = crate::upcast::to_current(
        &event.event_type,
        event.schema_version,
        event.payload.clone(),
    )
    .map_err(|reason| StoreError::Decode {
        event_id: event.event_id,
        reason,
    })?;
    let tagged = serde_json::json!({ "type": event.event_type, "data": payload });
    serde_json::from_value(tagged).map_err(|e| StoreError::Decode {
        event_id: event.event_id,
        reason: e.to_string(),
    })
}

/// One entry of the event catalogue: a published event type and its current schema version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EventType {
    /// Stable type name (Kafka header `event_type`).
    pub name: &'static str,
    /// Current schema version (Kafka header `schema_version`).
    pub schema_version: u16,
    /// Category of the streams it appears in (`product`, `inventory`, `cart`, `order`).
    pub category: &'static str,
    /// What it means.
    pub description: &'static str,
}

use domain::account::{Account, EmailClaim};
use domain::address::AddressBook;
use domain::cart::Cart;
use domain::category::CategoryTree;
use domain::inventory::Inventory;
use domain::order::Order;
use domain::pricing::Pricing;
use domain::product::Product;
use domain::review::Review;
use domain::seller::Seller;
use domain::wallet::Wallet;
use domain::wishlist::Wishlist;
use domain::Aggregate;

macro_rules! catalogue {
    ($($name:literal, $version:literal, $category:expr, $description:literal;)*) => {
        /// Every event type the engine writes, at its current schema version. Consumers can
        /// rely on these names and versions.
        pub const CATALOGUE: &[EventType] = &[
            $(EventType { name: $name, schema_version: $version, category: $category, description: $description },)*
        ];
    };
}

catalogue! {
    "ProductCreated", 2, Product::CATEGORY, "A product was listed with its SKU, name, description, category and price, and (v2) its specification, images and whether it waits for approval.";
    "ProductPriceChanged", 1, Product::CATEGORY, "A product's unit price changed; placed orders keep their prices.";
    "ProductEdited", 1, Product::CATEGORY, "A product's name, description, category, specification and images were replaced (every field holds its new value).";
    "ProductChangesProposed", 1, Product::CATEGORY, "A seller proposed new content (name, description, category, specification, images); it waits for an admin's approval while the approved content stays public.";
    "ProductApproved", 1, Product::CATEGORY, "An admin approved the waiting content: it is the product's public content now (a new product becomes public).";
    "ProductRejected", 1, Product::CATEGORY, "An admin refused the waiting content, with the reason the seller sees.";
    "ProductArchived", 1, Product::CATEGORY, "A product left the catalog: not listed, not purchasable; carts holding it are refused at checkout.";
    "ProductRestored", 1, Product::CATEGORY, "An archived product is back in the catalog.";
    "StockReceived", 1, Inventory::CATEGORY, "Units of a SKU were added to stock.";
    "StockReserved", 1, Inventory::CATEGORY, "Units of a SKU were reserved for an order.";
    "StockReleased", 1, Inventory::CATEGORY, "An order's reservation ended (cancellation); the units are available again.";
    "StockReturned", 1, Inventory::CATEGORY, "Units a customer returned from a delivered order are available again.";
    "StockAdjusted", 1, Inventory::CATEGORY, "The stock count was corrected up or down, with a reason; never below what orders hold.";
    "LowStockThresholdSet", 1, Inventory::CATEGORY, "The seller set from how few available units the SKU's stock counts as low.";
    "CartItemAdded", 1, Cart::CATEGORY, "Units of a product were added to a customer's cart.";
    "CartItemQuantityChanged", 1, Cart::CATEGORY, "A cart line's quantity was set.";
    "CartItemRemoved", 1, Cart::CATEGORY, "A cart line was removed.";
    "CartCleared", 1, Cart::CATEGORY, "The customer emptied the cart.";
    "CartCheckedOut", 1, Cart::CATEGORY, "The cart became an order and is now empty.";
    "OrderPlaced", 2, Order::CATEGORY, "An order was placed: priced lines, subtotal, shipping, tax and total, customer, addresses and store credit (v2); stock is reserved.";
    "OrderPaid", 3, Order::CATEGORY, "The order was paid in full (v2: with its payment method; v3: whether an admin recorded it offline).";
    "OrderShipped", 1, Order::CATEGORY, "The order was handed to a carrier.";
    "OrderDelivered", 1, Order::CATEGORY, "The order reached the customer.";
    "OrderSplitIntoFulfilments", 1, Order::CATEGORY, "At placement, in the same transaction: the order's lines grouped into one fulfilment per seller.";
    "FulfilmentShipped", 1, Order::CATEGORY, "A seller's part of the order was handed to a carrier; OrderShipped follows once every part is shipped.";
    "FulfilmentDelivered", 1, Order::CATEGORY, "A seller's part reached the customer; OrderDelivered follows once every part is delivered.";
    "PaymentRequested", 1, Order::CATEGORY, "A payment of the amount due was opened at a payment provider.";
    "PaymentAuthorized", 1, Order::CATEGORY, "The provider reserved the amount due; its capture follows.";
    "PaymentFailed", 1, Order::CATEGORY, "A payment attempt failed at the provider; the order can still be paid.";
    "RefundRequested", 1, Order::CATEGORY, "A refund of (part of) the payment was accepted by the provider.";
    "RefundProcessed", 1, Order::CATEGORY, "A refund was paid out by the provider.";
    "ReturnRequested", 1, Order::CATEGORY, "The customer asked to send delivered units back.";
    "ReturnAccepted", 1, Order::CATEGORY, "A return was accepted; its units went back to stock in the same transaction.";
    "ReturnRefused", 1, Order::CATEGORY, "A return was refused.";
    "LatePaymentRefunded", 1, Order::CATEGORY, "A payment the provider captured after the order was cancelled was refunded through it.";
    "OrderCancelled", 1, Order::CATEGORY, "The order was cancelled (with the refund due, if it was paid); its stock is released.";
    "AccountRegistered", 1, Account::CATEGORY, "An account was opened with its email, display name and roles.";
    "AccountProfileChanged", 1, Account::CATEGORY, "The display name changed.";
    "AccountPasswordChanged", 1, Account::CATEGORY, "The password was changed (no credential is ever in an event); sessions were ended.";
    "AccountClosed", 1, Account::CATEGORY, "The account was closed; it can no longer sign in.";
    "AccountErased", 1, Account::CATEGORY, "The closed account's personal data was erased: the person's key is destroyed, so their sealed fields (email, names, addresses) read as erased everywhere from now on.";
    "AccountRoleGranted", 1, Account::CATEGORY, "A role was granted.";
    "AccountRoleRevoked", 1, Account::CATEGORY, "A role was revoked.";
    "EmailClaimed", 1, EmailClaim::CATEGORY, "An account took an email address (stream named by the address's SHA-256).";
    "EmailReleased", 1, EmailClaim::CATEGORY, "The address was given up (account closed).";
    "AddressAdded", 1, AddressBook::CATEGORY, "A postal address was added to a customer's address book.";
    "AddressChanged", 1, AddressBook::CATEGORY, "An address-book entry was replaced by a new address.";
    "AddressRemoved", 1, AddressBook::CATEGORY, "An address-book entry was removed.";
    "DefaultAddressChosen", 1, AddressBook::CATEGORY, "An address-book entry became the default for checkout.";
    "CreditGranted", 1, Wallet::CATEGORY, "Store credit was added to an account's wallet (an admin's grant or the sign-up credit).";
    "CreditWithdrawn", 1, Wallet::CATEGORY, "Store credit was taken away by an admin.";
    "CreditSpent", 1, Wallet::CATEGORY, "Store credit paid (part of) an order, in the transaction that placed it.";
    "CreditReturned", 1, Wallet::CATEGORY, "Store credit an order had spent came back when it was cancelled.";
    "CreditRefunded", 1, Wallet::CATEGORY, "An order's payment was refunded as store credit.";
    "TaxRateSet", 1, Pricing::CATEGORY, "An admin set the tax rate of a category in a country (basis points).";
    "TaxRateRemoved", 1, Pricing::CATEGORY, "An admin removed a tax rate.";
    "ShippingMethodDefined", 1, Pricing::CATEGORY, "An admin created or replaced a shipping method.";
    "ShippingMethodRetired", 1, Pricing::CATEGORY, "An admin stopped offering a shipping method.";
    "CategoryDefined", 1, CategoryTree::CATEGORY, "An admin created a category, or renamed, moved or reordered it (every field holds its new value).";
    "WishlistItemAdded", 1, Wishlist::CATEGORY, "A customer put a product on their wishlist, at the price it had then.";
    "WishlistItemRemoved", 1, Wishlist::CATEGORY, "A customer took a product off their wishlist.";
    "ReviewSubmitted", 1, Review::CATEGORY, "A customer whose delivered order held the product reviewed it (rating 1-5 and text).";
    "ReviewEdited", 1, Review::CATEGORY, "The reviewer replaced the rating and text of their review.";
    "ReviewHidden", 1, Review::CATEGORY, "An admin hid a review from the catalog, with the reason.";
    "ReviewShown", 1, Review::CATEGORY, "An admin showed a hidden review again.";
    "SellerApplied", 1, Seller::CATEGORY, "An account applied to sell with a store profile (again after a rejection).";
    "SellerVerified", 1, Seller::CATEGORY, "An admin verified the seller at a commission rate; the account got the seller role in the same transaction.";
    "SellerRejected", 1, Seller::CATEGORY, "An admin refused the application, with the reason.";
    "SellerCommissionSet", 1, Seller::CATEGORY, "An admin changed the seller's commission (basis points).";
    "SellerSuspended", 1, Seller::CATEGORY, "An admin suspended the seller: its products left the catalog and cannot be bought.";
    "SellerReinstated", 1, Seller::CATEGORY, "An admin ended the seller's suspension.";
    "CategoryRemoved", 1, CategoryTree::CATEGORY, "An admin removed a category without subcategories; products naming it keep the slug.";
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::cart::CartEvent;
    use domain::values::{CustomerId, Quantity, Sku};

    #[test]
    fn round_trip_through_an_envelope() {
        let event = CartEvent::CartItemAdded {
            customer_id: CustomerId::generate(),
            sku: Sku::parse("A-1").unwrap(),
            quantity: Quantity::new(2).unwrap(),
        };
        let new = encode(&event, &Metadata::default());
        assert_eq!(new.event_type, "CartItemAdded");
        assert_eq!(new.schema_version, 1);
        assert_eq!(new.payload["quantity"], 2);
        assert_eq!(new.event_id.get_version_num(), 7);
        let recorded = RecordedEvent {
            event_id: new.event_id,
            stream_id: "cart-x".into(),
            stream_version: 1,
            global_position: 1,
            event_type: new.event_type,
            schema_version: new.schema_version,
            payload: new.payload,
            metadata: new.metadata,
            recorded_at: chrono::Utc::now(),
        };
        assert_eq!(decode::<CartEvent>(&recorded).unwrap(), event);
    }

    #[test]
    fn unknown_types_and_versions_are_refused() {
        let mut recorded = RecordedEvent {
            event_id: Uuid::now_v7(),
            stream_id: "cart-x".into(),
            stream_version: 1,
            global_position: 1,
            event_type: "CartCleared".into(),
            schema_version: 9,
            payload: serde_json::json!({"customer_id": Uuid::nil()}),
            metadata: Metadata::default(),
            recorded_at: chrono::Utc::now(),
        };
        assert!(decode::<CartEvent>(&recorded).is_err());
        recorded.schema_version = 1;
        assert!(decode::<CartEvent>(&recorded).is_ok());
        recorded.event_type = "Nope".into();
        assert!(decode::<CartEvent>(&recorded).is_err());
    }

    #[test]
    fn catalogue_names_are_unique() {
        let mut names: Vec<_> = CATALOGUE.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len());
    }
}

#[cfg(test)]
mod catalogue_docs {
    /// The published catalogue (docs/EVENTS.md) lists every event type the engine writes.
    #[test]
    fn every_event_type_is_documented() {
        let docs = include_str!("../../docs/EVENTS.md");
        for t in super::CATALOGUE {
            let row = format!("| `{}` | {} | {} |", t.name, t.schema_version, t.category);
            assert!(
                docs.contains(&row),
                "docs/EVENTS.md lacks the row for {}",
                t.name
            );
        }
    }
}
