//! One shopping cart per customer. The cart holds SKUs and quantities only: prices and stock
//! are decided when the order is placed, from the catalog and inventory of that moment.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DomainEvent};
use crate::values::{CustomerId, OrderId, Quantity, Sku};

/// Most distinct lines a cart may hold.
pub const MAX_LINES: usize = 100;

/// Commands on a cart.
#[derive(Debug, Clone, PartialEq)]
pub enum CartCommand {
    /// Put units of a product in the cart (added to any already there).
    AddItem {
        /// Owner of the cart.
        customer_id: CustomerId,
        /// Which product.
        sku: Sku,
        /// How many units to add.
        quantity: Quantity,
    },
    /// Set the quantity of a line.
    ChangeQuantity {
        /// Owner of the cart.
        customer_id: CustomerId,
        /// Which line.
        sku: Sku,
        /// The new quantity.
        quantity: Quantity,
    },
    /// Remove a line.
    RemoveItem {
        /// Owner of the cart.
        customer_id: CustomerId,
        /// Which line.
        sku: Sku,
    },
    /// Remove every line.
    Clear {
        /// Owner of the cart.
        customer_id: CustomerId,
    },
    /// Hand the cart over to a new order, which empties it.
    CheckOut {
        /// Owner of the cart.
        customer_id: CustomerId,
        /// The order made from the cart.
        order_id: OrderId,
    },
}

/// Events of a cart.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum CartEvent {
    /// Units of a product were added.
    CartItemAdded {
        /// Owner of the cart.
        customer_id: CustomerId,
        /// Which product.
        sku: Sku,
        /// Units added (not the new line total).
        quantity: Quantity,
    },
    /// A line's quantity was set.
    CartItemQuantityChanged {
        /// Owner of the cart.
        customer_id: CustomerId,
        /// Which line.
        sku: Sku,
        /// The new quantity of the line.
        quantity: Quantity,
    },
    /// A line was removed.
    CartItemRemoved {
        /// Owner of the cart.
        customer_id: CustomerId,
        /// Which line.
        sku: Sku,
    },
    /// Every line was removed by the customer.
    CartCleared {
        /// Owner of the cart.
        customer_id: CustomerId,
    },
    /// The cart became an order and is now empty.
    CartCheckedOut {
        /// Owner of the cart.
        customer_id: CustomerId,
        /// The order made from the cart.
        order_id: OrderId,
    },
}

impl DomainEvent for CartEvent {
    fn event_type(&self) -> &'static str {
        match self {
            CartEvent::CartItemAdded { .. } => "CartItemAdded",
            CartEvent::CartItemQuantityChanged { .. } => "CartItemQuantityChanged",
            CartEvent::CartItemRemoved { .. } => "CartItemRemoved",
            CartEvent::CartCleared { .. } => "CartCleared",
            CartEvent::CartCheckedOut { .. } => "CartCheckedOut",
        }
    }
}

/// Why a cart command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    /// The SKU is not in the cart.
    #[error("{0} is not in the cart")]
    ItemNotInCart(Sku),
    /// There is nothing to check out.
    #[error("the cart is empty")]
    CartEmpty,
    /// A line would exceed the largest allowed quantity.
    #[error("a cart line may hold at most {max} units", max = Quantity::MAX)]
    QuantityTooLarge,
    /// The cart would exceed [`MAX_LINES`] lines.
    #[error("a cart may hold at most {MAX_LINES} lines")]
    TooManyLines,
}

impl CartError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CartError::ItemNotInCart(_) => "item_not_in_cart",
            CartError::CartEmpty => "cart_empty",
            CartError::QuantityTooLarge => "quantity_too_large",
            CartError::TooManyLines => "too_many_lines",
        }
    }
}

/// A cart as rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cart {
    /// Lines by SKU, in SKU order.
    pub items: BTreeMap<Sku, Quantity>,
    /// The order this cart last became.
    pub last_order: Option<OrderId>,
}

impl Aggregate for Cart {
    type Id = crate::values::CustomerId;
    type Command = CartCommand;
    type Event = CartEvent;
    type Error = CartError;
    const CATEGORY: &'static str = "cart";

    fn snapshots() -> Option<crate::SnapshotFormat<Self>> {
        // A customer's cart stream lives as long as the account: every line change of every
        // order they ever placed.
        Some(crate::SnapshotFormat::json(1, 100))
    }

    fn decide(&self, command: CartCommand) -> Result<Vec<CartEvent>, CartError> {
        match command {
            CartCommand::AddItem {
                customer_id,
                sku,
                quantity,
            } => {
                match self.items.get(&sku) {
                    Some(existing) => {
                        let total = i64::from(existing.get()) + i64::from(quantity.get());
                        Quantity::new(total).map_err(|_| CartError::QuantityTooLarge)?;
                    }
                    None if self.items.len() >= MAX_LINES => return Err(CartError::TooManyLines),
                    None => {}
                }
                Ok(vec![CartEvent::CartItemAdded {
                    customer_id,
                    sku,
                    quantity,
                }])
            }
            CartCommand::ChangeQuantity {
                customer_id,
                sku,
                quantity,
            } => match self.items.get(&sku) {
                None => Err(CartError::ItemNotInCart(sku)),
                Some(current) if *current == quantity => Ok(vec![]),
                Some(_) => Ok(vec![CartEvent::CartItemQuantityChanged {
                    customer_id,
                    sku,
                    quantity,
                }]),
            },
            CartCommand::RemoveItem { customer_id, sku } => {
                if !self.items.contains_key(&sku) {
                    return Err(CartError::ItemNotInCart(sku));
                }
                Ok(vec![CartEvent::CartItemRemoved { customer_id, sku }])
            }
            CartCommand::Clear { customer_id } => {
                if self.items.is_empty() {
                    return Ok(vec![]);
                }
                Ok(vec![CartEvent::CartCleared { customer_id }])
            }
            CartCommand::CheckOut {
                customer_id,
                order_id,
            } => {
                if self.items.is_empty() {
                    return Err(CartError::CartEmpty);
                }
                Ok(vec![CartEvent::CartCheckedOut {
                    customer_id,
                    order_id,
                }])
            }
        }
    }

    fn apply(&mut self, event: &CartEvent) {
        match event {
            CartEvent::CartItemAdded { sku, quantity, .. } => {
                let total = self
                    .items
                    .get(sku)
                    .map_or(quantity.get(), |q| q.get().saturating_add(quantity.get()));
                let total = Quantity::new(i64::from(total.min(Quantity::MAX))).unwrap_or(*quantity);
                self.items.insert(sku.clone(), total);
            }
            CartEvent::CartItemQuantityChanged { sku, quantity, .. } => {
                self.items.insert(sku.clone(), *quantity);
            }
            CartEvent::CartItemRemoved { sku, .. } => {
                self.items.remove(sku);
            }
            CartEvent::CartCleared { .. } => self.items.clear(),
            CartEvent::CartCheckedOut { order_id, .. } => {
                self.items.clear();
                self.last_order = Some(*order_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer() -> CustomerId {
        CustomerId::from_uuid(uuid::Uuid::nil())
    }
    fn sku(s: &str) -> Sku {
        Sku::parse(s).unwrap()
    }
    fn qty(n: i64) -> Quantity {
        Quantity::new(n).unwrap()
    }
    fn added(s: &str, n: i64) -> CartEvent {
        CartEvent::CartItemAdded {
            customer_id: customer(),
            sku: sku(s),
            quantity: qty(n),
        }
    }

    #[test]
    fn add_item_to_empty_cart() {
        let then = Cart::default().decide(CartCommand::AddItem {
            customer_id: customer(),
            sku: sku("A"),
            quantity: qty(2),
        });
        assert_eq!(then, Ok(vec![added("A", 2)]));
    }

    #[test]
    fn adding_the_same_item_accumulates() {
        let state = Cart::from_events(&[added("A", 2), added("A", 3)]);
        assert_eq!(state.items.get(&sku("A")), Some(&qty(5)));
    }

    #[test]
    fn adding_beyond_the_line_maximum_is_refused() {
        let given = Cart::from_events(&[added("A", i64::from(Quantity::MAX))]);
        let then = given.decide(CartCommand::AddItem {
            customer_id: customer(),
            sku: sku("A"),
            quantity: qty(1),
        });
        assert_eq!(then, Err(CartError::QuantityTooLarge));
    }

    #[test]
    fn too_many_lines_is_refused() {
        let events: Vec<_> = (0..MAX_LINES).map(|i| added(&format!("S{i}"), 1)).collect();
        let given = Cart::from_events(&events);
        let then = given.decide(CartCommand::AddItem {
            customer_id: customer(),
            sku: sku("NEW"),
            quantity: qty(1),
        });
        assert_eq!(then, Err(CartError::TooManyLines));
    }

    #[test]
    fn change_quantity_of_a_line() {
        let given = Cart::from_events(&[added("A", 2)]);
        let then = given
            .decide(CartCommand::ChangeQuantity {
                customer_id: customer(),
                sku: sku("A"),
                quantity: qty(7),
            })
            .unwrap();
        let state = Cart::from_events(&[added("A", 2), then[0].clone()]);
        assert_eq!(state.items.get(&sku("A")), Some(&qty(7)));
    }

    #[test]
    fn change_quantity_of_missing_line_is_refused() {
        let then = Cart::default().decide(CartCommand::ChangeQuantity {
            customer_id: customer(),
            sku: sku("A"),
            quantity: qty(1),
        });
        assert_eq!(then, Err(CartError::ItemNotInCart(sku("A"))));
    }

    #[test]
    fn remove_a_line() {
        let given = Cart::from_events(&[added("A", 2), added("B", 1)]);
        let then = given
            .decide(CartCommand::RemoveItem {
                customer_id: customer(),
                sku: sku("A"),
            })
            .unwrap();
        let mut state = given;
        state.apply(&then[0]);
        assert_eq!(state.items.keys().collect::<Vec<_>>(), vec![&sku("B")]);
    }

    #[test]
    fn remove_a_missing_line_is_refused() {
        let then = Cart::default().decide(CartCommand::RemoveItem {
            customer_id: customer(),
            sku: sku("A"),
        });
        assert_eq!(then, Err(CartError::ItemNotInCart(sku("A"))));
    }

    #[test]
    fn clear_empties_the_cart_and_is_a_no_op_when_empty() {
        let given = Cart::from_events(&[added("A", 2)]);
        let then = given
            .decide(CartCommand::Clear {
                customer_id: customer(),
            })
            .unwrap();
        assert_eq!(
            then,
            vec![CartEvent::CartCleared {
                customer_id: customer()
            }]
        );
        let mut state = given;
        state.apply(&then[0]);
        assert!(state.items.is_empty());
        assert_eq!(
            state.decide(CartCommand::Clear {
                customer_id: customer()
            }),
            Ok(vec![])
        );
    }

    #[test]
    fn check_out_empties_the_cart() {
        let order = OrderId::generate();
        let given = Cart::from_events(&[added("A", 1)]);
        let then = given
            .decide(CartCommand::CheckOut {
                customer_id: customer(),
                order_id: order,
            })
            .unwrap();
        let mut state = given;
        state.apply(&then[0]);
        assert!(state.items.is_empty());
        assert_eq!(state.last_order, Some(order));
    }

    #[test]
    fn check_out_of_empty_cart_is_refused() {
        let then = Cart::default().decide(CartCommand::CheckOut {
            customer_id: customer(),
            order_id: OrderId::generate(),
        });
        assert_eq!(then, Err(CartError::CartEmpty));
    }

    #[test]
    fn a_snapshot_decodes_to_the_state_it_encodes() {
        let mut state = Cart::from_events(&[added("A", 2), added("B", 1)]);
        state.last_order = Some(OrderId::generate());
        let format = Cart::snapshots().expect("carts take snapshots");
        let encoded = format.encode(&state).unwrap();
        assert_eq!(format.decode(encoded).unwrap(), state);
    }
}
