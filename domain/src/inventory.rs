//! Stock per SKU. Reservations are made by orders and released when an order is cancelled, so
//! the stock check and the reservation are one decision on one stream: stock never goes
//! negative, whatever the concurrency, because appends to the stream are version-checked.
//!
//! The state is a handful of counters, whatever the length of the stream (it gains an event
//! with every order): which order holds what is the order's to know, and the order stream,
//! written in the same append, allows one placement and one cancellation per order.

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DomainEvent};
use crate::text::Reason;
use crate::values::{OrderId, Quantity, Sku, ValueError};

/// A correction of the stock count: 1 to [`Quantity::MAX`] units up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockChange(i64);

impl StockChange {
    /// Validates a change (never zero).
    pub fn new(raw: i64) -> Result<Self, ValueError> {
        let max = i64::from(Quantity::MAX);
        if raw != 0 && (-max..=max).contains(&raw) {
            Ok(StockChange(raw))
        } else {
            Err(ValueError::InvalidStockChange(raw))
        }
    }

    /// Units added (positive) or taken away (negative).
    pub fn get(self) -> i64 {
        self.0
    }
}

/// How few available units make a product's stock low: 0 to [`Quantity::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LowStockThreshold(u32);

impl LowStockThreshold {
    /// Validates a threshold.
    pub fn new(raw: i64) -> Result<Self, ValueError> {
        if (0..=i64::from(Quantity::MAX)).contains(&raw) {
            Ok(LowStockThreshold(raw as u32))
        } else {
            Err(ValueError::InvalidThreshold(raw))
        }
    }

    /// Units.
    pub fn get(self) -> u32 {
        self.0
    }
}

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
        /// The units it holds (its line's quantity).
        quantity: Quantity,
    },
    /// Correct the count after a stock take, breakage or loss.
    Adjust {
        /// Which SKU.
        sku: Sku,
        /// Units up or down.
        change: StockChange,
        /// Why.
        reason: Reason,
    },
    /// Say from how few available units on the stock is low.
    SetLowStockThreshold {
        /// Which SKU.
        sku: Sku,
        /// The threshold.
        threshold: LowStockThreshold,
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
    /// The count was corrected: `change` units more (or, negative, fewer) are available.
    StockAdjusted {
        /// Which SKU.
        sku: Sku,
        /// Units up (positive) or down (negative).
        change: i64,
        /// Why.
        reason: String,
    },
    /// Stock of the SKU counts as low once at most `threshold` units are available.
    LowStockThresholdSet {
        /// Which SKU.
        sku: Sku,
        /// Units.
        threshold: u32,
    },
}

impl DomainEvent for InventoryEvent {
    fn event_type(&self) -> &'static str {
        match self {
            InventoryEvent::StockReceived { .. } => "StockReceived",
            InventoryEvent::StockReserved { .. } => "StockReserved",
            InventoryEvent::StockReleased { .. } => "StockReleased",
            InventoryEvent::StockReturned { .. } => "StockReturned",
            InventoryEvent::StockAdjusted { .. } => "StockAdjusted",
            InventoryEvent::LowStockThresholdSet { .. } => "LowStockThresholdSet",
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
    /// Fewer units are reserved than a release gives back: no order can hold them.
    #[error("order {0} holds no reservation")]
    NoReservation(OrderId),
    /// Receiving would overflow the stock counter.
    #[error("stock level out of range")]
    StockOverflow,
    /// A correction would take away units that are not available (reserved by orders, or
    /// not there).
    #[error("cannot take away {requested} units of {sku}: {available} available")]
    BelowReserved {
        /// Which SKU.
        sku: Sku,
        /// Units to take away.
        requested: u64,
        /// Units available now.
        available: u64,
    },
}

impl InventoryError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            InventoryError::InsufficientStock { .. } => "insufficient_stock",
            InventoryError::NoReservation(_) => "no_reservation",
            InventoryError::StockOverflow => "stock_overflow",
            InventoryError::BelowReserved { .. } => "stock_below_reserved",
        }
    }
}

/// Events folded between two snapshots of an inventory.
const SNAPSHOT_EVERY: i64 = 100;

/// Stock of one SKU as rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// Units received in total.
    pub received: u64,
    /// Units available for new reservations.
    pub available: u64,
    /// Units held by orders, all orders together.
    pub reserved: u64,
    /// Net units added (or, negative, taken away) by corrections.
    pub adjusted: i64,
    /// Low once at most this many units are available; `None` until a seller says.
    pub low_stock_threshold: Option<u32>,
}

impl Aggregate for Inventory {
    type Id = crate::values::Sku;
    type Command = InventoryCommand;
    type Event = InventoryEvent;
    type Error = InventoryError;
    const CATEGORY: &'static str = "inventory";

    fn snapshots() -> Option<crate::SnapshotFormat<Self>> {
        Some(crate::SnapshotFormat::json(1, SNAPSHOT_EVERY))
    }

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
            InventoryCommand::Adjust {
                sku,
                change,
                reason,
            } => {
                let taken = change.get().unsigned_abs();
                if change.get() < 0 && taken > self.available {
                    return Err(InventoryError::BelowReserved {
                        sku,
                        requested: taken,
                        available: self.available,
                    });
                }
                if change.get() > 0 && self.available.checked_add(taken).is_none() {
                    return Err(InventoryError::StockOverflow);
                }
                Ok(vec![InventoryEvent::StockAdjusted {
                    sku,
                    change: change.get(),
                    reason: reason.into(),
                }])
            }
            InventoryCommand::SetLowStockThreshold { sku, threshold } => {
                if self.low_stock_threshold == Some(threshold.get()) {
                    return Ok(vec![]);
                }
                Ok(vec![InventoryEvent::LowStockThresholdSet {
                    sku,
                    threshold: threshold.get(),
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
            InventoryCommand::Release {
                sku,
                order_id,
                quantity,
            } => {
                if u64::from(quantity.get()) > self.reserved {
                    return Err(InventoryError::NoReservation(order_id));
                }
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
            InventoryEvent::StockReserved { quantity, .. } => {
                self.available = self.available.saturating_sub(u64::from(quantity.get()));
                self.reserved += u64::from(quantity.get());
            }
            InventoryEvent::StockReleased { quantity, .. } => {
                self.available += u64::from(quantity.get());
                self.reserved = self.reserved.saturating_sub(u64::from(quantity.get()));
            }
            InventoryEvent::StockReturned { quantity, .. } => {
                self.available += u64::from(quantity.get());
            }
            InventoryEvent::StockAdjusted { change, .. } => {
                self.adjusted += change;
                self.available = self.available.saturating_add_signed(*change);
            }
            InventoryEvent::LowStockThresholdSet { threshold, .. } => {
                self.low_stock_threshold = Some(*threshold);
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
        assert_eq!((state.available, state.reserved), (0, 3));
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
                quantity: qty(2),
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
        assert_eq!((state.available, state.reserved), (5, 0));
    }

    #[test]
    fn releasing_more_than_orders_hold_is_refused() {
        let order = OrderId::generate();
        let then = Inventory::from_events(&[received(1)]).decide(InventoryCommand::Release {
            sku: sku(),
            order_id: order,
            quantity: qty(1),
        });
        assert_eq!(then, Err(InventoryError::NoReservation(order)));
    }

    #[test]
    fn corrections_go_up_and_down_but_never_below_what_orders_hold() {
        let order = OrderId::generate();
        let reserved = InventoryEvent::StockReserved {
            sku: sku(),
            order_id: order,
            quantity: qty(3),
        };
        let given = Inventory::from_events(&[received(5), reserved]);
        let reason = Reason::parse("stock take").unwrap();
        let adjust = |n: i64| InventoryCommand::Adjust {
            sku: sku(),
            change: StockChange::new(n).unwrap(),
            reason: reason.clone(),
        };
        assert_eq!(
            given.decide(adjust(-3)),
            Err(InventoryError::BelowReserved {
                sku: sku(),
                requested: 3,
                available: 2
            })
        );
        let down = given.decide(adjust(-2)).unwrap();
        let mut state = given.clone();
        state.apply(&down[0]);
        assert_eq!((state.available, state.adjusted), (0, -2));
        assert_eq!(state.reserved, 3, "orders keep theirs");
        let up = state.decide(adjust(4)).unwrap();
        state.apply(&up[0]);
        assert_eq!((state.available, state.adjusted), (4, 2));
        assert!(StockChange::new(0).is_err());
        assert!(StockChange::new(i64::from(Quantity::MAX) + 1).is_err());
        assert!(StockChange::new(i64::MIN).is_err());
    }

    #[test]
    fn the_low_stock_threshold_is_set_once_per_value() {
        let threshold = LowStockThreshold::new(5).unwrap();
        let set = InventoryCommand::SetLowStockThreshold {
            sku: sku(),
            threshold,
        };
        let events = Inventory::default().decide(set.clone()).unwrap();
        let state = Inventory::from_events(&events);
        assert_eq!(state.low_stock_threshold, Some(5));
        assert_eq!(state.decide(set), Ok(vec![]));
        assert!(LowStockThreshold::new(-1).is_err());
        assert!(LowStockThreshold::new(0).is_ok());
    }

    #[test]
    fn a_snapshot_decodes_to_the_state_it_encodes() {
        let order = OrderId::generate();
        let state = Inventory::from_events(&[
            received(7),
            InventoryEvent::StockReserved {
                sku: sku(),
                order_id: order,
                quantity: qty(3),
            },
            InventoryEvent::LowStockThresholdSet {
                sku: sku(),
                threshold: 2,
            },
        ]);
        let format = Inventory::snapshots().expect("inventories take snapshots");
        let encoded = format.encode(&state).unwrap();
        assert_eq!(format.decode(encoded).unwrap(), state);
        assert!(format.decode(serde_json::json!({"received": -1})).is_err());
    }
}
