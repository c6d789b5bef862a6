//! Catalog products. One stream per SKU, so a SKU is unique by construction.

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DomainEvent};
use crate::text::{CategoryName, Description, ProductName};
use crate::values::{AccountId, Money, Sku, ValueError};

/// Descriptive fields of a product, each valid by construction (see [`crate::text`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductDetails {
    /// Display name.
    pub name: ProductName,
    /// Free text.
    pub description: Description,
    /// Category.
    pub category: CategoryName,
}

impl ProductDetails {
    /// Validates the three fields from raw text.
    pub fn new(name: &str, description: &str, category: &str) -> Result<Self, ValueError> {
        Ok(ProductDetails {
            name: ProductName::parse(name)?,
            description: Description::parse(description)?,
            category: CategoryName::parse(category)?,
        })
    }
}

/// Commands on a product.
#[derive(Debug, Clone, PartialEq)]
pub enum ProductCommand {
    /// List a new product.
    Create {
        /// The new product's SKU.
        sku: Sku,
        /// The seller listing it (its owner).
        seller_id: AccountId,
        /// Name, description, category.
        details: ProductDetails,
        /// Unit price.
        price: Money,
    },
    /// Set a new unit price; carts pick it up, placed orders keep theirs.
    ChangePrice {
        /// The new unit price.
        price: Money,
    },
}

/// Events of a product.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ProductEvent {
    /// A product was listed in the catalog.
    ProductCreated {
        /// SKU of the product.
        sku: Sku,
        /// The seller who listed it.
        seller_id: AccountId,
        /// Display name.
        name: String,
        /// Free text description.
        description: String,
        /// Category.
        category: String,
        /// Unit price.
        price: Money,
    },
    /// The unit price of a product changed.
    ProductPriceChanged {
        /// SKU of the product.
        sku: Sku,
        /// The new unit price.
        price: Money,
    },
}

impl DomainEvent for ProductEvent {
    fn event_type(&self) -> &'static str {
        match self {
            ProductEvent::ProductCreated { .. } => "ProductCreated",
            ProductEvent::ProductPriceChanged { .. } => "ProductPriceChanged",
        }
    }
}

/// Why a product command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProductError {
    /// The SKU is already listed.
    #[error("product {0} already exists")]
    AlreadyExists(Sku),
    /// The product was never created.
    #[error("product does not exist")]
    NotFound,
}

impl ProductError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ProductError::AlreadyExists(_) => "product_already_exists",
            ProductError::NotFound => "product_not_found",
        }
    }
}

/// A product as rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Product {
    /// Present once created.
    pub listing: Option<Listing>,
}

/// The current catalog entry of a created product.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    /// SKU.
    pub sku: Sku,
    /// Owner.
    pub seller_id: AccountId,
    /// Name, description, category.
    pub details: ProductDetails,
    /// Current unit price.
    pub price: Money,
}

impl Aggregate for Product {
    type Id = crate::values::Sku;
    type Command = ProductCommand;
    type Event = ProductEvent;
    type Error = ProductError;
    const CATEGORY: &'static str = "product";

    fn decide(&self, command: ProductCommand) -> Result<Vec<ProductEvent>, ProductError> {
        match command {
            ProductCommand::Create {
                sku,
                seller_id,
                details,
                price,
            } => {
                if self.listing.is_some() {
                    return Err(ProductError::AlreadyExists(sku));
                }
                Ok(vec![ProductEvent::ProductCreated {
                    sku,
                    seller_id,
                    name: details.name.into(),
                    description: details.description.into(),
                    category: details.category.into(),
                    price,
                }])
            }
            ProductCommand::ChangePrice { price } => {
                let listing = self.listing.as_ref().ok_or(ProductError::NotFound)?;
                if listing.price == price {
                    return Ok(vec![]);
                }
                Ok(vec![ProductEvent::ProductPriceChanged {
                    sku: listing.sku.clone(),
                    price,
                }])
            }
        }
    }

    fn apply(&mut self, event: &ProductEvent) {
        match event {
            ProductEvent::ProductCreated {
                sku,
                seller_id,
                name,
                description,
                category,
                price,
            } => {
                self.listing = Some(Listing {
                    sku: sku.clone(),
                    seller_id: *seller_id,
                    details: ProductDetails {
                        name: ProductName::from_recorded(name.clone()),
                        description: Description::from_recorded(description.clone()),
                        category: CategoryName::from_recorded(category.clone()),
                    },
                    price: *price,
                });
            }
            ProductEvent::ProductPriceChanged { price, .. } => {
                if let Some(listing) = &mut self.listing {
                    listing.price = *price;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::Currency;

    fn sku() -> Sku {
        Sku::parse("MUG-1").unwrap()
    }
    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::parse("EUR").unwrap()).unwrap()
    }
    fn details() -> ProductDetails {
        ProductDetails {
            name: ProductName::parse("Mug").unwrap(),
            description: Description::parse("A mug").unwrap(),
            category: CategoryName::parse("kitchen").unwrap(),
        }
    }
    fn seller() -> AccountId {
        AccountId::from_uuid(uuid::Uuid::from_u128(9))
    }
    fn created() -> ProductEvent {
        ProductEvent::ProductCreated {
            sku: sku(),
            seller_id: seller(),
            name: "Mug".into(),
            description: "A mug".into(),
            category: "kitchen".into(),
            price: eur(900),
        }
    }

    #[test]
    fn create_lists_a_new_product() {
        let given = Product::default();
        let then = given.decide(ProductCommand::Create {
            sku: sku(),
            seller_id: seller(),
            details: details(),
            price: eur(900),
        });
        assert_eq!(then, Ok(vec![created()]));
    }

    #[test]
    fn create_twice_is_refused() {
        let given = Product::from_events(&[created()]);
        let then = given.decide(ProductCommand::Create {
            sku: sku(),
            seller_id: seller(),
            details: details(),
            price: eur(900),
        });
        assert_eq!(then, Err(ProductError::AlreadyExists(sku())));
    }

    #[test]
    fn change_price_of_a_product() {
        let given = Product::from_events(&[created()]);
        let then = given.decide(ProductCommand::ChangePrice { price: eur(1200) });
        let events = then.unwrap();
        assert_eq!(
            events,
            vec![ProductEvent::ProductPriceChanged {
                sku: sku(),
                price: eur(1200)
            }]
        );
        let mut state = given;
        state.apply(&events[0]);
        assert_eq!(state.listing.unwrap().price, eur(1200));
    }

    #[test]
    fn change_price_to_the_same_price_is_a_no_op() {
        let given = Product::from_events(&[created()]);
        assert_eq!(
            given.decide(ProductCommand::ChangePrice { price: eur(900) }),
            Ok(vec![])
        );
    }

    #[test]
    fn change_price_of_unknown_product_is_refused() {
        assert_eq!(
            Product::default().decide(ProductCommand::ChangePrice { price: eur(1) }),
            Err(ProductError::NotFound)
        );
    }

    #[test]
    fn events_serialize_with_a_stable_type_tag() {
        let json = serde_json::to_value(created()).unwrap();
        assert_eq!(json["type"], "ProductCreated");
        assert_eq!(json["data"]["price"]["amount_minor"], 900);
        assert_eq!(created().event_type(), "ProductCreated");
    }
}
