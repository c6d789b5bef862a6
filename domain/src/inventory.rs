//! Stock per SKU. Reservations are made by orders and released when an order is cancelled, so
//! the stock check and the reservation are one decision on one stream: stock never goes
//! negative, whatever the concurrency, because appends to the stream are version-checked.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DomainEvent};
use crate::values::{OrderId, Quantity, Sku};

/// Commands on the inventory of one SKU.
#[derive(Debug, Clone, PartialEq)]
pub enum InventoryCommand {
    /// Goods arrived in the warehouse.
    Receive {
        /// Which SKU.
        sku: Sku,
        /// How many units arrived.
        quantity: Quantity,
    },
    /// Hold units for an order.
    Reserve {
        /// Which SKU.
        sku: Sku,
        /// The order holding the units.
        order_id: OrderId,
        /// How many units.
        quantity: Quantity,
    },
    /// Give back the units an order held.
    Release {
        /// Which SKU.
        sku: Sku,
        /// The order whose reservation ends.
        order_id: OrderId,
    },
    /// Put returned units of a delivered order back on the shelf.
    Restock {
        /// Which SKU.
        sku: Sku,
        /// The order they were returned from.
        order_id: OrderId,
        /// How many units.
        quantity: Quantity,
    },
}

/// Events of an inventory.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum InventoryEvent {
    /// Units were added to stock.
    StockReceived {
        /// Which SKU.
        sku: Sku,
        /// How many units.
        quantity: Quantity,
    },
    /// Units were reserved for an order and are no longer available.
    StockReserved {
        /// Which SKU.
        sku: Sku,
        /// The order holding the units.
        order_id: OrderId,
        /// How many units.
        quantity: Quantity,
    },
    /// An order's reservation ended and its units are available again.
    StockReleased {
        /// Which SKU.
        sku: Sku,
        /// The order that held the units.
        order_id: OrderId,
        /// How many units.
        quantity: Quantity,
    },
    /// Units a customer returned are available again.
    StockReturned {
        /// Which SKU.
        sku: Sku,
        /// The order they were returned from.
        order_id: OrderId,
        /// How many units.
        quantity: Quantity,
    },
}

impl DomainEvent for InventoryEvent {
    fn event_type(&self) -> &'static str {
        match self {
            InventoryEvent::StockReceived { .. } => "StockReceived",
            InventoryEvent::StockReserved { .. } => "StockReserved",
            InventoryEvent::StockReleased { .. } => "StockReleased",
            InventoryEvent::StockReturned { .. } => "StockReturned",
        }
    }
}

/// Why an inventory command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    /// Fewer units are available than requested.
    #[error("insufficient stock for {sku}: requested {requested}, available {available}")]
    InsufficientStock {
        /// Which SKU.
        sku: Sku,
        /// Units asked for.
        requested: u32,
        /// Units available now.
        available: u64,
    },
    /// The order already holds a reservation on this SKU.
    #[error("order {0} already holds a reservation")]
    AlreadyReserved(OrderId),
    /// The order holds no reservation on this SKU.
    #[error("order {0} holds no reservation")]
    NoReservation(OrderId),
    /// Receiving would overflow the stock counter.
    #[error("stock level out of range")]
    StockOverflow,
}

impl InventoryError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            InventoryError::InsufficientStock { .. } => "insufficient_stock",
            InventoryError::AlreadyReserved(_) => "already_reserved",
            InventoryError::NoReservation(_) => "no_reservation",
            InventoryError::StockOverflow => "stock_overflow",
        }
    }
}

/// Stock of one SKU as rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    /// Units received in total.
    pub received: u64,
    /// Units available for new reservations.
    pub available: u64,
    /// Units held per order.
    pub reservations: BTreeMap<OrderId, Quantity>,
}

impl Aggregate for Inventory {
    type Id = crate::values::Sku;
    type Command = InventoryCommand;
    type Event = InventoryEvent;
    type Error = InventoryError;
    const CATEGORY: &'static str = "inventory";

    fn decide(&self, command: InventoryCommand) -> Result<Vec<InventoryEvent>, InventoryError> {
        match command {
            InventoryCommand::Receive { sku, quantity } => {
                self.available
                    .checked_add(u64::from(quantity.get()))
                    .ok_or(InventoryError::StockOverflow)?;
                Ok(vec![InventoryEvent::StockReceived { sku, quantity }])
            }
            InventoryCommand::Reserve {
                sku,
                order_id,
                quantity,
            } => {
                if self.reservations.contains_key(&order_id) {
                    return Err(InventoryError::AlreadyReserved(order_id));
                }
                if u64::from(quantity.get()) > self.available {
                    return Err(InventoryError::InsufficientStock {
                        sku,
                        requested: quantity.get(),
                        available: self.available,
                    });
                }
                Ok(vec![InventoryEvent::StockReserved {
                    sku,
                    order_id,
                    quantity,
                }])
            }
            InventoryCommand::Restock {
                sku,
                order_id,
                quantity,
            } => Ok(vec![InventoryEvent::StockReturned {
                sku,
                order_id,
                quantity,
            }]),
            InventoryCommand::Release { sku, order_id } => {
                let quantity = *self
                    .reservations
                    .get(&order_id)
                    .ok_or(InventoryError::NoReservation(order_id))?;
                Ok(vec![InventoryEvent::StockReleased {
                    sku,
                    order_id,
                    quantity,
                }])
            }
        }
    }

    fn apply(&mut self, event: &InventoryEvent) {
        match event {
            InventoryEvent::StockReceived { quantity, .. } => {
                self.received += u64::from(quantity.get());
                self.available += u64::from(quantity.get());
            }
            InventoryEvent::StockReserved {
                order_id, quantity, ..
            } => {
                self.available = self.available.saturating_sub(u64::from(quantity.get()));
                self.reservations.insert(*order_id, *quantity);
            }
            InventoryEvent::StockReleased {
                order_id, quantity, ..
            } => {
                self.available += u64::from(quantity.get());
                self.reservations.remove(order_id);
            }
            InventoryEvent::StockReturned { quantity, .. } => {
                self.available += u64::from(quantity.get());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sku() -> Sku {
        Sku::parse("MUG-1").unwrap()
    }
    fn qty(n: i64) -> Quantity {
        Quantity::new(n).unwrap()
    }
    fn received(n: i64) -> InventoryEvent {
        InventoryEvent::StockReceived {
            sku: sku(),
            quantity: qty(n),
        }
    }

    #[test]
    fn receive_adds_stock() {
        let then = Inventory::default().decide(InventoryCommand::Receive {
            sku: sku(),
            quantity: qty(5),
        });
        assert_eq!(then, Ok(vec![received(5)]));
        let state = Inventory::from_events(&[received(5), received(2)]);
        assert_eq!((state.received, state.available), (7, 7));
    }

    #[test]
    fn reserve_within_available_stock() {
        let order = OrderId::generate();
        let given = Inventory::from_events(&[received(3)]);
        let then = given
            .decide(InventoryCommand::Reserve {
                sku: sku(),
                order_id: order,
                quantity: qty(3),
            })
            .unwrap();
        let state = Inventory::from_events(&[received(3), then[0].clone()]);
        assert_eq!(state.available, 0);
        assert_eq!(state.reservations.get(&order), Some(&qty(3)));
    }

    #[test]
    fn reserve_more_than_available_is_refused() {
        let given = Inventory::from_events(&[received(2)]);
        let then = given.decide(InventoryCommand::Reserve {
            sku: sku(),
            order_id: OrderId::generate(),
            quantity: qty(3),
        });
        assert_eq!(
            then,
            Err(InventoryError::InsufficientStock {
                sku: sku(),
                requested: 3,
                available: 2
            })
        );
    }

    #[test]
    fn reserve_on_empty_inventory_is_refused() {
        let then = Inventory::default().decide(InventoryCommand::Reserve {
            sku: sku(),
            order_id: OrderId::generate(),
            quantity: qty(1),
        });
        assert!(matches!(
            then,
            Err(InventoryError::InsufficientStock { available: 0, .. })
        ));
    }

    #[test]
    fn reserve_twice_for_one_order_is_refused() {
        let order = OrderId::generate();
        let given = Inventory::from_events(&[
            received(5),
            InventoryEvent::StockReserved {
                sku: sku(),
                order_id: order,
                quantity: qty(1),
            },
        ]);
        let then = given.decide(InventoryCommand::Reserve {
            sku: sku(),
            order_id: order,
            quantity: qty(1),
        });
        assert_eq!(then, Err(InventoryError::AlreadyReserved(order)));
    }

    #[test]
    fn release_returns_the_reserved_units() {
        let order = OrderId::generate();
        let reserved = InventoryEvent::StockReserved {
            sku: sku(),
            order_id: order,
            quantity: qty(2),
        };
        let given = Inventory::from_events(&[received(5), reserved.clone()]);
        let then = given
            .decide(InventoryCommand::Release {
                sku: sku(),
                order_id: order,
            })
            .unwrap();
        assert_eq!(
            then,
            vec![InventoryEvent::StockReleased {
                sku: sku(),
                order_id: order,
                quantity: qty(2)
            }]
        );
        let state = Inventory::from_events(&[received(5), reserved, then[0].clone()]);
        assert_eq!(state.available, 5);
        assert!(state.reservations.is_empty());
    }

    #[test]
    fn release_without_reservation_is_refused() {
        let order = OrderId::generate();
        let then = Inventory::from_events(&[received(1)]).decide(InventoryCommand::Release {
            sku: sku(),
            order_id: order,
        });
        assert_eq!(then, Err(InventoryError::NoReservation(order)));
    }
}
