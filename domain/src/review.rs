//! Product reviews: one per customer and product (its own stream), written only by a customer
//! whose delivered order held the product, editable by them, hidden by admins with a reason.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DomainEvent};
use crate::order::{FulfilmentState, Order};
use crate::text::{Reason, ReviewText};
use crate::values::{CustomerId, OrderId, Sku, ValueError};

/// Stars from 1 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rating(u8);

impl Rating {
    /// Validates a rating.
    pub fn new(raw: i64) -> Result<Self, ValueError> {
        if (1..=5).contains(&raw) {
            Ok(Rating(raw as u8))
        } else {
            Err(ValueError::InvalidRating(raw))
        }
    }

    /// Stars.
    pub fn get(self) -> u8 {
        self.0
    }
}

/// Which review: a customer's of a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewKey {
    /// The product.
    pub sku: Sku,
    /// The reviewer.
    pub customer_id: CustomerId,
}

impl fmt::Display for ReviewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.customer_id, self.sku)
    }
}

/// Commands on a review.
#[derive(Debug, Clone, PartialEq)]
pub enum ReviewCommand {
    /// Write the review, or replace its rating and text.
    Submit {
        /// Which review.
        key: ReviewKey,
        /// The reviewer's order that proves the purchase, as loaded by the caller.
        proof: Box<Order>,
        /// Stars.
        rating: Rating,
        /// What the reviewer says.
        text: ReviewText,
    },
    /// Hide the review from the catalog (admins).
    Hide {
        /// Why.
        reason: Reason,
    },
    /// Show a hidden review again (admins).
    Show,
}

/// Events of a review.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ReviewEvent {
    /// A buyer reviewed a product; `order_id` is the delivered order that held it.
    ReviewSubmitted {
        /// The product.
        sku: Sku,
        /// The reviewer.
        customer_id: CustomerId,
        /// The order that proves the purchase.
        order_id: OrderId,
        /// Stars, 1-5.
        rating: u8,
        /// What the reviewer says.
        text: String,
    },
    /// The reviewer replaced the rating and text.
    ReviewEdited {
        /// The product.
        sku: Sku,
        /// The reviewer.
        customer_id: CustomerId,
        /// Stars, 1-5.
        rating: u8,
        /// What the reviewer says.
        text: String,
    },
    /// An admin hid the review from the catalog.
    ReviewHidden {
        /// The product.
        sku: Sku,
        /// The reviewer.
        customer_id: CustomerId,
        /// Why.
        reason: String,
    },
    /// An admin showed a hidden review again.
    ReviewShown {
        /// The product.
        sku: Sku,
        /// The reviewer.
        customer_id: CustomerId,
    },
}

impl DomainEvent for ReviewEvent {
    fn event_type(&self) -> &'static str {
        match self {
            ReviewEvent::ReviewSubmitted { .. } => "ReviewSubmitted",
            ReviewEvent::ReviewEdited { .. } => "ReviewEdited",
            ReviewEvent::ReviewHidden { .. } => "ReviewHidden",
            ReviewEvent::ReviewShown { .. } => "ReviewShown",
        }
    }
}

/// Why a review command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    /// Only a customer whose delivered order held the product may review it.
    #[error("only a customer with a delivered order holding {0} may review it")]
    NotABuyer(Sku),
    /// There is no such review.
    #[error("no such review")]
    NotFound,
}

impl ReviewError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ReviewError::NotABuyer(_) => "review_requires_delivered_order",
            ReviewError::NotFound => "review_not_found",
        }
    }
}

/// A review as rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Review {
    /// Present once submitted.
    pub written: Option<Written>,
}

/// A submitted review.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// Which review.
    pub sku: Sku,
    /// The reviewer.
    pub customer_id: CustomerId,
    /// Stars.
    pub rating: u8,
    /// Text.
    pub text: String,
    /// Hidden by an admin.
    pub hidden: bool,
}

/// Whether `order` proves that `customer` received `sku`: theirs, delivered (or since
/// returned), with a line of that product.
pub fn proves_purchase(order: &Order, customer: CustomerId, sku: &Sku) -> bool {
    order.placed.as_ref().is_some_and(|o| {
        o.customer_id == customer
            && matches!(
                o.fulfilment,
                FulfilmentState::Delivered | FulfilmentState::Returned
            )
            && o.lines.iter().any(|l| &l.sku == sku)
    })
}

impl Aggregate for Review {
    type Id = ReviewKey;
    type Command = ReviewCommand;
    type Event = ReviewEvent;
    type Error = ReviewError;
    const CATEGORY: &'static str = "review";

    fn decide(&self, command: ReviewCommand) -> Result<Vec<ReviewEvent>, ReviewError> {
        match command {
            ReviewCommand::Submit {
                key,
                proof,
                rating,
                text,
            } => {
                if !proves_purchase(&proof, key.customer_id, &key.sku) {
                    return Err(ReviewError::NotABuyer(key.sku));
                }
                let (rating, text) = (rating.get(), String::from(text));
                Ok(match &self.written {
                    None => vec![ReviewEvent::ReviewSubmitted {
                        sku: key.sku,
                        customer_id: key.customer_id,
                        order_id: proof.placed.as_ref().map(|o| o.order_id).expect("proved"),
                        rating,
                        text,
                    }],
                    Some(w) if w.rating == rating && w.text == text => vec![],
                    Some(_) => vec![ReviewEvent::ReviewEdited {
                        sku: key.sku,
                        customer_id: key.customer_id,
                        rating,
                        text,
                    }],
                })
            }
            ReviewCommand::Hide { reason } => {
                let w = self.written.as_ref().ok_or(ReviewError::NotFound)?;
                Ok(if w.hidden {
                    vec![]
                } else {
                    vec![ReviewEvent::ReviewHidden {
                        sku: w.sku.clone(),
                        customer_id: w.customer_id,
                        reason: reason.into(),
                    }]
                })
            }
            ReviewCommand::Show => {
                let w = self.written.as_ref().ok_or(ReviewError::NotFound)?;
                Ok(if w.hidden {
                    vec![ReviewEvent::ReviewShown {
                        sku: w.sku.clone(),
                        customer_id: w.customer_id,
                    }]
                } else {
                    vec![]
                })
            }
        }
    }

    fn apply(&mut self, event: &ReviewEvent) {
        match event {
            ReviewEvent::ReviewSubmitted {
                sku,
                customer_id,
                rating,
                text,
                ..
            } => {
                self.written = Some(Written {
                    sku: sku.clone(),
                    customer_id: *customer_id,
                    rating: *rating,
                    text: text.clone(),
                    hidden: false,
                });
            }
            ReviewEvent::ReviewEdited { rating, text, .. } => {
                if let Some(w) = &mut self.written {
                    w.rating = *rating;
                    w.text = text.clone();
                }
            }
            ReviewEvent::ReviewHidden { .. } => {
                if let Some(w) = &mut self.written {
                    w.hidden = true;
                }
            }
            ReviewEvent::ReviewShown { .. } => {
                if let Some(w) = &mut self.written {
                    w.hidden = false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::{Address, AddressInput};
    use crate::order::{OrderAddresses, OrderEvent, OrderLine};
    use crate::values::{Currency, Money, Quantity};

    fn sku() -> Sku {
        Sku::parse("MUG").unwrap()
    }

    /// An order of `customer` holding a mug, taken as far as `delivered` says.
    fn order(customer: CustomerId, delivered: bool) -> Order {
        let eur = Currency::parse("EUR").unwrap();
        let order_id = OrderId::generate();
        let money = Money::new(100, eur).unwrap();
        let address = Address::parse(&AddressInput {
            name: "Ada".into(),
            line1: "1 Main St".into(),
            city: "Springfield".into(),
            country: "US".into(),
            ..Default::default()
        })
        .unwrap();
        let mut order = Order::default();
        let placed = order
            .decide(crate::order::OrderCommand::Place {
                order_id,
                customer_id: customer,
                lines: vec![OrderLine {
                    sku: sku(),
                    name: "Mug".into(),
                    unit_price: money,
                    quantity: Quantity::new(1).unwrap(),
                    line_total: money,
                }],
                addresses: Box::new(OrderAddresses {
                    shipping: address.clone(),
                    billing: address,
                }),
                credit: None,
                charges: Default::default(),
            })
            .unwrap();
        let mut events = placed;
        if delivered {
            events.extend([
                OrderEvent::OrderPaid {
                    order_id,
                    amount: money,
                    payment_reference: "p".into(),
                    payment_method: crate::order::PaymentMethod::Card,
                    offline: false,
                },
                OrderEvent::OrderShipped {
                    order_id,
                    carrier: "DHL".into(),
                    tracking_number: "T1".into(),
                },
                OrderEvent::OrderDelivered { order_id },
            ]);
        }
        for e in &events {
            order.apply(e);
        }
        order
    }

    fn submit(customer: CustomerId, proof: Order, rating: i64, text: &str) -> ReviewCommand {
        ReviewCommand::Submit {
            key: ReviewKey {
                sku: sku(),
                customer_id: customer,
            },
            proof: Box::new(proof),
            rating: Rating::new(rating).unwrap(),
            text: ReviewText::parse(text).unwrap(),
        }
    }

    #[test]
    fn only_a_buyer_whose_order_was_delivered_reviews() {
        let buyer = CustomerId::generate();
        let stranger = CustomerId::generate();
        let none = Review::default();
        assert_eq!(
            none.decide(submit(buyer, order(buyer, false), 5, "good")),
            Err(ReviewError::NotABuyer(sku())),
            "not delivered yet"
        );
        assert_eq!(
            none.decide(submit(stranger, order(buyer, true), 5, "good")),
            Err(ReviewError::NotABuyer(sku())),
            "someone else's order"
        );
        let events = none
            .decide(submit(buyer, order(buyer, true), 5, "good"))
            .unwrap();
        assert!(matches!(
            &events[..],
            [ReviewEvent::ReviewSubmitted { rating: 5, .. }]
        ));
    }

    #[test]
    fn a_review_is_edited_hidden_and_shown() {
        let buyer = CustomerId::generate();
        let proof = order(buyer, true);
        let written = Review::default()
            .decide(submit(buyer, proof.clone(), 4, "fine"))
            .unwrap();
        let review = Review::from_events(&written);
        assert_eq!(
            review.decide(submit(buyer, proof.clone(), 4, "fine")),
            Ok(vec![])
        );
        let edited = review.decide(submit(buyer, proof, 2, "chipped")).unwrap();
        assert!(matches!(
            &edited[..],
            [ReviewEvent::ReviewEdited { rating: 2, .. }]
        ));
        let hidden = review
            .decide(ReviewCommand::Hide {
                reason: Reason::parse("insults").unwrap(),
            })
            .unwrap();
        let review = Review::from_events(written.iter().chain(&hidden));
        assert!(review.written.as_ref().unwrap().hidden);
        assert_eq!(review.decide(ReviewCommand::Show).unwrap().len(), 1);
        assert_eq!(
            Review::default().decide(ReviewCommand::Show),
            Err(ReviewError::NotFound)
        );
        assert!(Rating::new(0).is_err() && Rating::new(6).is_err());
    }
}
