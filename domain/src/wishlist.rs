//! Wishlists: one per customer, the products they want to come back to. Each item remembers
//! the price it had when it was added, so the wishlist can say when the price dropped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DomainEvent};
use crate::values::{CustomerId, Money, Sku};

/// Most items on one wishlist.
pub const MAX_ITEMS: usize = 200;

/// Commands on a wishlist.
#[derive(Debug, Clone, PartialEq)]
pub enum WishlistCommand {
    /// Keep a product on the wishlist (again: nothing changes).
    Add {
        /// Whose wishlist.
        customer_id: CustomerId,
        /// Which product.
        sku: Sku,
        /// Its price now (loaded by the caller).
        price: Money,
    },
    /// Take a product off the wishlist.
    Remove {
        /// Whose wishlist.
        customer_id: CustomerId,
        /// Which product.
        sku: Sku,
    },
}

/// Events of a wishlist.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum WishlistEvent {
    /// A product was put on a customer's wishlist at the price it had then.
    WishlistItemAdded {
        /// Whose wishlist.
        customer_id: CustomerId,
        /// Which product.
        sku: Sku,
        /// Its price when added.
        price: Money,
    },
    /// A product was taken off a customer's wishlist.
    WishlistItemRemoved {
        /// Whose wishlist.
        customer_id: CustomerId,
        /// Which product.
        sku: Sku,
    },
}

impl DomainEvent for WishlistEvent {
    fn event_type(&self) -> &'static str {
        match self {
            WishlistEvent::WishlistItemAdded { .. } => "WishlistItemAdded",
            WishlistEvent::WishlistItemRemoved { .. } => "WishlistItemRemoved",
        }
    }
}

/// Why a wishlist command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WishlistError {
    /// The product is not on the wishlist.
    #[error("{0} is not on the wishlist")]
    NotOnWishlist(Sku),
    /// The wishlist holds [`MAX_ITEMS`] already.
    #[error("a wishlist holds at most {MAX_ITEMS} products")]
    Full,
}

impl WishlistError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            WishlistError::NotOnWishlist(_) => "item_not_in_wishlist",
            WishlistError::Full => "wishlist_full",
        }
    }
}

/// A wishlist as rebuilt from its events: the price each item had when added.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Wishlist {
    /// Items by SKU.
    pub items: BTreeMap<Sku, Money>,
}

impl Aggregate for Wishlist {
    type Id = CustomerId;
    type Command = WishlistCommand;
    type Event = WishlistEvent;
    type Error = WishlistError;
    const CATEGORY: &'static str = "wishlist";

    fn decide(&self, command: WishlistCommand) -> Result<Vec<WishlistEvent>, WishlistError> {
        match command {
            WishlistCommand::Add {
                customer_id,
                sku,
                price,
            } => {
                if self.items.contains_key(&sku) {
                    return Ok(vec![]);
                }
                if self.items.len() >= MAX_ITEMS {
                    return Err(WishlistError::Full);
                }
                Ok(vec![WishlistEvent::WishlistItemAdded {
                    customer_id,
                    sku,
                    price,
                }])
            }
            WishlistCommand::Remove { customer_id, sku } => {
                if !self.items.contains_key(&sku) {
                    return Err(WishlistError::NotOnWishlist(sku));
                }
                Ok(vec![WishlistEvent::WishlistItemRemoved {
                    customer_id,
                    sku,
                }])
            }
        }
    }

    fn apply(&mut self, event: &WishlistEvent) {
        match event {
            WishlistEvent::WishlistItemAdded { sku, price, .. } => {
                self.items.insert(sku.clone(), *price);
            }
            WishlistEvent::WishlistItemRemoved { sku, .. } => {
                self.items.remove(sku);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::Currency;

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::parse("EUR").unwrap()).unwrap()
    }
    fn add(customer_id: CustomerId, sku: &str) -> WishlistCommand {
        WishlistCommand::Add {
            customer_id,
            sku: Sku::parse(sku).unwrap(),
            price: eur(500),
        }
    }

    #[test]
    fn items_are_added_once_and_removed() {
        let me = CustomerId::generate();
        let added = Wishlist::default().decide(add(me, "MUG")).unwrap();
        let list = Wishlist::from_events(&added);
        assert_eq!(list.items.get(&Sku::parse("MUG").unwrap()), Some(&eur(500)));
        assert_eq!(
            list.decide(add(me, "MUG")),
            Ok(vec![]),
            "again: nothing changes"
        );
        let remove = WishlistCommand::Remove {
            customer_id: me,
            sku: Sku::parse("MUG").unwrap(),
        };
        let removed = list.decide(remove.clone()).unwrap();
        let list = Wishlist::from_events(added.iter().chain(&removed));
        assert!(list.items.is_empty());
        assert_eq!(
            list.decide(remove),
            Err(WishlistError::NotOnWishlist(Sku::parse("MUG").unwrap()))
        );
    }

    #[test]
    fn a_wishlist_is_bounded() {
        let me = CustomerId::generate();
        let events: Vec<_> = (0..MAX_ITEMS)
            .flat_map(|i| {
                Wishlist::default()
                    .decide(add(me, &format!("S{i}")))
                    .unwrap()
            })
            .collect();
        let full = Wishlist::from_events(&events);
        assert_eq!(full.decide(add(me, "ONE-MORE")), Err(WishlistError::Full));
    }
}
