//! Catalog products. One stream per SKU, so a SKU is unique by construction.
//!
//! A product is listed, edited (name, description, category, specification and images, all
//! replaced at once), repriced, archived and restored. An archived product is not listed and
//! cannot be bought; its stream, orders and history stay.

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DomainEvent};
use crate::category::CategorySlug;
use crate::text::{
    AltText, Description, ProductName, Reason, SpecificationName, SpecificationValue,
};
use crate::values::{AccountId, Money, Sku, ValueError};

/// One line of a product's specification: an attribute and its value, shown in order.
///
/// Built by [`Specification::new`] from raw input; deserialization (recorded events) keeps
/// what was recorded.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Specification {
    name: String,
    value: String,
}

impl Specification {
    /// Validates one line (see [`SpecificationName`], [`SpecificationValue`]).
    pub fn new(name: &str, value: &str) -> Result<Self, ValueError> {
        Ok(Specification {
            name: SpecificationName::parse(name)?.into(),
            value: SpecificationValue::parse(value)?.into(),
        })
    }

    /// The attribute.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its value.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// The address of a product image: an absolute `https` or `http` URL with a host, without
/// credentials, up to 2,048 characters of printable ASCII (other characters percent-encoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUrl(String);

impl ImageUrl {
    /// Longest URL accepted.
    pub const MAX_LEN: usize = 2048;

    /// Validates and normalizes an image URL (parsed by the `url` crate, WHATWG rules).
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(ValueError::InvalidImageUrl("it is empty"));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(ValueError::InvalidImageUrl(
                "it is longer than 2048 characters",
            ));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ValueError::InvalidImageUrl(
                "it holds spaces, control or non-ASCII characters (percent-encode them)",
            ));
        }
        let url = url::Url::parse(raw)
            .map_err(|_| ValueError::InvalidImageUrl("it is not an absolute URL"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(ValueError::InvalidImageUrl("use https or http"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ValueError::InvalidImageUrl("it names no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ValueError::InvalidImageUrl("it holds credentials"));
        }
        let normalized: String = url.into();
        if normalized.len() > Self::MAX_LEN {
            return Err(ValueError::InvalidImageUrl(
                "it is longer than 2048 characters",
            ));
        }
        Ok(ImageUrl(normalized))
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product image: where it is and what it shows.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    url: String,
    alt: String,
}

impl Image {
    /// Validates one image (see [`ImageUrl`], [`AltText`]).
    pub fn new(url: &str, alt: &str) -> Result<Self, ValueError> {
        Ok(Image {
            url: ImageUrl::parse(url)?.0,
            alt: AltText::parse(alt)?.into(),
        })
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its alternative text.
    pub fn alt(&self) -> &str {
        &self.alt
    }
}

/// Most specification lines per product.
pub const MAX_SPECIFICATIONS: usize = 50;
/// Most images per product.
pub const MAX_IMAGES: usize = 20;

/// Descriptive fields of a product, each valid by construction (see [`crate::text`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductDetails {
    /// Display name.
    pub name: ProductName,
    /// Free text.
    pub description: Description,
    /// The category it belongs to (its slug).
    pub category: CategorySlug,
    /// Ordered attribute lines, names unique (ignoring case); at most [`MAX_SPECIFICATIONS`].
    specifications: Vec<Specification>,
    /// Images in display order; at most [`MAX_IMAGES`].
    images: Vec<Image>,
}

impl ProductDetails {
    /// Validates the three text fields from raw text, with no specification or image.
    pub fn new(name: &str, description: &str, category: &str) -> Result<Self, ValueError> {
        Self::with_media(
            ProductName::parse(name)?,
            Description::parse(description)?,
            CategorySlug::parse(category)?,
            Vec::new(),
            Vec::new(),
        )
    }

    /// Details with a specification and images, checked as a whole: at most
    /// [`MAX_SPECIFICATIONS`] lines with distinct names, at most [`MAX_IMAGES`] images.
    pub fn with_media(
        name: ProductName,
        description: Description,
        category: CategorySlug,
        specifications: Vec<Specification>,
        images: Vec<Image>,
    ) -> Result<Self, ValueError> {
        if specifications.len() > MAX_SPECIFICATIONS {
            return Err(ValueError::TooManyEntries {
                field: "specifications",
                max: MAX_SPECIFICATIONS,
            });
        }
        let mut names = std::collections::BTreeSet::new();
        for line in &specifications {
            if !names.insert(line.name.to_lowercase()) {
                return Err(ValueError::DuplicateSpecification(line.name.clone()));
            }
        }
        if images.len() > MAX_IMAGES {
            return Err(ValueError::TooManyEntries {
                field: "images",
                max: MAX_IMAGES,
            });
        }
        Ok(ProductDetails {
            name,
            description,
            category,
            specifications,
            images,
        })
    }

    /// The specification lines, in order.
    pub fn specifications(&self) -> &[Specification] {
        &self.specifications
    }

    /// The images, in display order.
    pub fn images(&self) -> &[Image] {
        &self.images
    }

    fn recorded(
        name: &str,
        description: &str,
        category: &str,
        specifications: &[Specification],
        images: &[Image],
    ) -> Self {
        ProductDetails {
            name: ProductName::from_recorded(name.to_owned()),
            description: Description::from_recorded(description.to_owned()),
            category: CategorySlug::from_recorded(category.to_owned()),
            specifications: specifications.to_vec(),
            images: images.to_vec(),
        }
    }
}

/// Who vouches for a product's content: an admin's word publishes it, a seller's waits for
/// an admin's approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Editor {
    /// The seller who owns the product: new content waits for approval.
    Seller,
    /// An admin: content is public at once.
    Admin,
}

/// Commands on a product.
#[derive(Debug, Clone, PartialEq)]
pub enum ProductCommand {
    /// List a new product; a seller's waits for approval before it is public.
    Create {
        /// The new product's SKU.
        sku: Sku,
        /// The seller listing it (its owner).
        seller_id: AccountId,
        /// Name, description, category, specification, images.
        details: ProductDetails,
        /// Unit price.
        price: Money,
        /// Who lists it.
        by: Editor,
    },
    /// Set a new unit price; carts pick it up, placed orders keep theirs.
    ChangePrice {
        /// The new unit price.
        price: Money,
    },
    /// Replace the descriptive content (everything but the SKU, owner and price). A seller's
    /// change to the name, description, category or images waits for approval (the public
    /// keeps seeing the approved content); a change to the specification alone is public at
    /// once.
    Edit {
        /// The new content, whole.
        details: ProductDetails,
        /// Who edits.
        by: Editor,
    },
    /// Admins: publish the content waiting for approval.
    Approve,
    /// Admins: refuse the content waiting for approval; the seller sees why.
    Reject {
        /// Why.
        reason: Reason,
    },
    /// Take the product out of the catalog: no longer listed, no longer purchasable.
    Archive {
        /// Why.
        reason: Reason,
    },
    /// Put an archived product back in the catalog.
    Restore,
}

/// Events of a product.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ProductEvent {
    /// A product was listed in the catalog. Schema version 2 added `specifications`,
    /// `images` (empty on products listed before) and `pending_approval` (`false` before:
    /// every product was public at once).
    ProductCreated {
        /// SKU of the product.
        sku: Sku,
        /// The seller who listed it.
        seller_id: AccountId,
        /// Display name.
        name: String,
        /// Free text description.
        description: String,
        /// The slug of the category it belongs to.
        category: String,
        /// Unit price.
        price: Money,
        /// Ordered attribute lines (since schema version 2).
        #[serde(default)]
        specifications: Vec<Specification>,
        /// Images in display order (since schema version 2).
        #[serde(default)]
        images: Vec<Image>,
        /// The content waits for an admin's approval before the product is public (since
        /// schema version 2).
        #[serde(default)]
        pending_approval: bool,
    },
    /// The unit price of a product changed.
    ProductPriceChanged {
        /// SKU of the product.
        sku: Sku,
        /// The new unit price.
        price: Money,
    },
    /// The public content of a product was replaced; every field holds its new value.
    ProductEdited {
        /// SKU of the product.
        sku: Sku,
        /// Display name.
        name: String,
        /// Free text description.
        description: String,
        /// The slug of the category it belongs to.
        category: String,
        /// Ordered attribute lines.
        specifications: Vec<Specification>,
        /// Images in display order.
        images: Vec<Image>,
    },
    /// The seller proposed new content; it waits for an admin's approval (the public keeps
    /// the approved content). Every field holds the proposed value.
    ProductChangesProposed {
        /// SKU of the product.
        sku: Sku,
        /// Display name.
        name: String,
        /// Free text description.
        description: String,
        /// The slug of the category it belongs to.
        category: String,
        /// Ordered attribute lines.
        specifications: Vec<Specification>,
        /// Images in display order.
        images: Vec<Image>,
    },
    /// An admin approved the waiting content: it is the product's public content now (and a
    /// new product is public from now on).
    ProductApproved {
        /// SKU of the product.
        sku: Sku,
        /// Display name.
        name: String,
        /// Free text description.
        description: String,
        /// The slug of the category it belongs to.
        category: String,
        /// Ordered attribute lines.
        specifications: Vec<Specification>,
        /// Images in display order.
        images: Vec<Image>,
    },
    /// An admin refused the waiting content; the seller sees the reason and may propose again.
    ProductRejected {
        /// SKU of the product.
        sku: Sku,
        /// Why.
        reason: String,
    },
    /// The product left the catalog: it is not listed and cannot be bought.
    ProductArchived {
        /// SKU of the product.
        sku: Sku,
        /// Why.
        reason: String,
    },
    /// An archived product is back in the catalog.
    ProductRestored {
        /// SKU of the product.
        sku: Sku,
    },
}

impl DomainEvent for ProductEvent {
    fn event_type(&self) -> &'static str {
        match self {
            ProductEvent::ProductCreated { .. } => "ProductCreated",
            ProductEvent::ProductPriceChanged { .. } => "ProductPriceChanged",
            ProductEvent::ProductEdited { .. } => "ProductEdited",
            ProductEvent::ProductChangesProposed { .. } => "ProductChangesProposed",
            ProductEvent::ProductApproved { .. } => "ProductApproved",
            ProductEvent::ProductRejected { .. } => "ProductRejected",
            ProductEvent::ProductArchived { .. } => "ProductArchived",
            ProductEvent::ProductRestored { .. } => "ProductRestored",
        }
    }

    fn schema_version(&self) -> u16 {
        match self {
            ProductEvent::ProductCreated { .. } => 2,
            _ => 1,
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
    /// The product is archived: it cannot be put in a cart or bought.
    #[error("product {0} is archived")]
    Archived(Sku),
    /// The product's content was never approved: it is not public and cannot be bought.
    #[error("product {0} is not approved yet")]
    NotApproved(Sku),
    /// Nothing waits for approval.
    #[error("product {0} has no content waiting for approval")]
    NothingToReview(Sku),
}

impl ProductError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ProductError::AlreadyExists(_) => "product_already_exists",
            ProductError::NotFound => "product_not_found",
            ProductError::Archived(_) => "product_archived",
            ProductError::NotApproved(_) => "product_not_approved",
            ProductError::NothingToReview(_) => "nothing_to_approve",
        }
    }
}

/// A product as rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Product {
    /// Present once created.
    pub listing: Option<Listing>,
}

impl Product {
    /// The listing, when the product exists, is public and is not archived: what can be sold.
    pub fn on_sale(&self) -> Option<&Listing> {
        self.listing.as_ref().filter(|l| !l.archived && l.published)
    }
}

/// Content waiting for an admin.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// The proposed content.
    pub details: ProductDetails,
    /// Why an admin refused it, if one did.
    pub rejected: Option<String>,
}

/// The current catalog entry of a created product.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    /// SKU.
    pub sku: Sku,
    /// Owner.
    pub seller_id: AccountId,
    /// The public content (for a product never approved: the content it was listed with).
    pub details: ProductDetails,
    /// Current unit price.
    pub price: Money,
    /// Out of the catalog (not listed, not purchasable).
    pub archived: bool,
    /// Its content was approved once: it is public (unless archived).
    pub published: bool,
    /// Content waiting for approval, or refused.
    pub draft: Option<Draft>,
}

fn content_event(
    make: fn(Sku, String, String, String, Vec<Specification>, Vec<Image>) -> ProductEvent,
    sku: Sku,
    details: ProductDetails,
) -> ProductEvent {
    make(
        sku,
        details.name.into(),
        details.description.into(),
        details.category.to_string(),
        details.specifications,
        details.images,
    )
}

fn edited(
    sku: Sku,
    name: String,
    description: String,
    category: String,
    specifications: Vec<Specification>,
    images: Vec<Image>,
) -> ProductEvent {
    ProductEvent::ProductEdited {
        sku,
        name,
        description,
        category,
        specifications,
        images,
    }
}

fn proposed(
    sku: Sku,
    name: String,
    description: String,
    category: String,
    specifications: Vec<Specification>,
    images: Vec<Image>,
) -> ProductEvent {
    ProductEvent::ProductChangesProposed {
        sku,
        name,
        description,
        category,
        specifications,
        images,
    }
}

fn approved(
    sku: Sku,
    name: String,
    description: String,
    category: String,
    specifications: Vec<Specification>,
    images: Vec<Image>,
) -> ProductEvent {
    ProductEvent::ProductApproved {
        sku,
        name,
        description,
        category,
        specifications,
        images,
    }
}

/// Whether `new` differs from `old` only in its specification.
fn specification_only(old: &ProductDetails, new: &ProductDetails) -> bool {
    old.name == new.name
        && old.description == new.description
        && old.category == new.category
        && old.images == new.images
}

impl Aggregate for Product {
    type Id = crate::values::Sku;
    type Command = ProductCommand;
    type Event = ProductEvent;
    type Error = ProductError;
    const CATEGORY: &'static str = "product";

    fn decide(&self, command: ProductCommand) -> Result<Vec<ProductEvent>, ProductError> {
        if let ProductCommand::Create {
            sku,
            seller_id,
            details,
            price,
            by,
        } = command
        {
            if self.listing.is_some() {
                return Err(ProductError::AlreadyExists(sku));
            }
            return Ok(vec![ProductEvent::ProductCreated {
                sku,
                seller_id,
                name: details.name.into(),
                description: details.description.into(),
                category: details.category.to_string(),
                price,
                specifications: details.specifications,
                images: details.images,
                pending_approval: by == Editor::Seller,
            }]);
        }
        let listing = self.listing.as_ref().ok_or(ProductError::NotFound)?;
        let sku = listing.sku.clone();
        Ok(match command {
            ProductCommand::Create { .. } => unreachable!("handled above"),
            ProductCommand::ChangePrice { price } if price != listing.price => {
                vec![ProductEvent::ProductPriceChanged { sku, price }]
            }
            ProductCommand::Edit { details, by } => {
                // Content waiting for an admin (a refused draft waits for nothing).
                let waiting = listing
                    .draft
                    .as_ref()
                    .filter(|d| d.rejected.is_none())
                    .map(|d| &d.details);
                match by {
                    // An admin's edit is public at once and settles anything waiting.
                    Editor::Admin if listing.published => {
                        if details == listing.details && listing.draft.is_none() {
                            vec![]
                        } else if listing.draft.is_some() {
                            vec![content_event(approved, sku, details)]
                        } else {
                            vec![content_event(edited, sku, details)]
                        }
                    }
                    Editor::Admin => vec![content_event(approved, sku, details)],
                    Editor::Seller if waiting == Some(&details) => vec![],
                    Editor::Seller
                        if listing.published
                            && waiting.is_none()
                            && specification_only(&listing.details, &details) =>
                    {
                        if details == listing.details {
                            vec![]
                        } else {
                            vec![content_event(edited, sku, details)]
                        }
                    }
                    Editor::Seller if listing.published && details == listing.details => {
                        // Back to the approved content: withdraw what was waiting.
                        vec![content_event(edited, sku, details)]
                    }
                    Editor::Seller => vec![content_event(proposed, sku, details)],
                }
            }
            ProductCommand::Approve => match &listing.draft {
                Some(draft) if draft.rejected.is_none() => {
                    vec![content_event(approved, sku, draft.details.clone())]
                }
                _ => return Err(ProductError::NothingToReview(sku)),
            },
            ProductCommand::Reject { reason } => match &listing.draft {
                Some(draft) if draft.rejected.is_none() => vec![ProductEvent::ProductRejected {
                    sku,
                    reason: reason.into(),
                }],
                _ => return Err(ProductError::NothingToReview(sku)),
            },
            ProductCommand::Archive { reason } if !listing.archived => {
                vec![ProductEvent::ProductArchived {
                    sku,
                    reason: reason.into(),
                }]
            }
            ProductCommand::Restore if listing.archived => {
                vec![ProductEvent::ProductRestored { sku }]
            }
            // Already so: a repeat changes nothing.
            _ => vec![],
        })
    }

    fn apply(&mut self, event: &ProductEvent) {
        let recorded = ProductDetails::recorded;
        match event {
            ProductEvent::ProductCreated {
                sku,
                seller_id,
                name,
                description,
                category,
                price,
                specifications,
                images,
                pending_approval,
            } => {
                let details = recorded(name, description, category, specifications, images);
                self.listing = Some(Listing {
                    sku: sku.clone(),
                    seller_id: *seller_id,
                    draft: pending_approval.then(|| Draft {
                        details: details.clone(),
                        rejected: None,
                    }),
                    details,
                    price: *price,
                    archived: false,
                    published: !pending_approval,
                });
            }
            ProductEvent::ProductPriceChanged { price, .. } => {
                if let Some(listing) = &mut self.listing {
                    listing.price = *price;
                }
            }
            ProductEvent::ProductEdited {
                name,
                description,
                category,
                specifications,
                images,
                ..
            } => {
                if let Some(listing) = &mut self.listing {
                    listing.details = recorded(name, description, category, specifications, images);
                    listing.draft = None;
                }
            }
            ProductEvent::ProductChangesProposed {
                name,
                description,
                category,
                specifications,
                images,
                ..
            } => {
                if let Some(listing) = &mut self.listing {
                    listing.draft = Some(Draft {
                        details: recorded(name, description, category, specifications, images),
                        rejected: None,
                    });
                }
            }
            ProductEvent::ProductApproved {
                name,
                description,
                category,
                specifications,
                images,
                ..
            } => {
                if let Some(listing) = &mut self.listing {
                    listing.details = recorded(name, description, category, specifications, images);
                    listing.draft = None;
                    listing.published = true;
                }
            }
            ProductEvent::ProductRejected { reason, .. } => {
                if let Some(draft) = self.listing.as_mut().and_then(|l| l.draft.as_mut()) {
                    draft.rejected = Some(reason.clone());
                }
            }
            ProductEvent::ProductArchived { .. } => {
                if let Some(listing) = &mut self.listing {
                    listing.archived = true;
                }
            }
            ProductEvent::ProductRestored { .. } => {
                if let Some(listing) = &mut self.listing {
                    listing.archived = false;
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
        ProductDetails::new("Mug", "A mug", "kitchen").unwrap()
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
            specifications: vec![],
            images: vec![],
            pending_approval: false,
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
            by: Editor::Admin,
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
            by: Editor::Admin,
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

    fn edited() -> ProductDetails {
        ProductDetails::with_media(
            ProductName::parse("Big mug").unwrap(),
            Description::parse("A big mug").unwrap(),
            CategorySlug::parse("kitchen").unwrap(),
            vec![
                Specification::new("Material", "Stoneware").unwrap(),
                Specification::new("Volume", "450 ml").unwrap(),
            ],
            vec![Image::new("https://img.example.org/mug.jpg", "A blue mug").unwrap()],
        )
        .unwrap()
    }

    #[test]
    fn edit_replaces_the_content_and_a_repeat_is_a_no_op() {
        let given = Product::from_events(&[created()]);
        let events = given
            .decide(ProductCommand::Edit {
                details: edited(),
                by: Editor::Admin,
            })
            .unwrap();
        assert!(
            matches!(&events[..], [ProductEvent::ProductEdited { name, specifications, .. }]
            if name == "Big mug" && specifications[1].value() == "450 ml")
        );
        let mut state = given;
        state.apply(&events[0]);
        assert_eq!(state.listing.as_ref().unwrap().details, edited());
        assert_eq!(
            state.decide(ProductCommand::Edit {
                details: edited(),
                by: Editor::Admin,
            }),
            Ok(vec![])
        );
    }

    #[test]
    fn archive_takes_the_product_off_sale_and_restore_puts_it_back() {
        let given = Product::from_events(&[created()]);
        assert!(given.on_sale().is_some());
        let reason = Reason::parse("discontinued").unwrap();
        let archived = given
            .decide(ProductCommand::Archive {
                reason: reason.clone(),
            })
            .unwrap();
        assert_eq!(
            archived,
            vec![ProductEvent::ProductArchived {
                sku: sku(),
                reason: "discontinued".into()
            }]
        );
        let state = Product::from_events(&[created(), archived[0].clone()]);
        assert!(state.on_sale().is_none());
        assert_eq!(state.decide(ProductCommand::Archive { reason }), Ok(vec![]));
        let restored = state.decide(ProductCommand::Restore).unwrap();
        assert_eq!(restored, vec![ProductEvent::ProductRestored { sku: sku() }]);
        let state = Product::from_events(&[created(), archived[0].clone(), restored[0].clone()]);
        assert!(state.on_sale().is_some());
        assert_eq!(state.decide(ProductCommand::Restore), Ok(vec![]));
    }

    #[test]
    fn lifecycle_commands_need_a_product() {
        for command in [
            ProductCommand::Edit {
                details: details(),
                by: Editor::Seller,
            },
            ProductCommand::Restore,
            ProductCommand::Archive {
                reason: Reason::parse("x").unwrap(),
            },
        ] {
            assert_eq!(
                Product::default().decide(command),
                Err(ProductError::NotFound)
            );
        }
    }

    #[test]
    fn specifications_and_images_are_checked_as_a_whole() {
        let line = |n: &str| Specification::new(n, "v").unwrap();
        let with = |specs, images| {
            ProductDetails::with_media(
                ProductName::parse("M").unwrap(),
                Description::parse("").unwrap(),
                CategorySlug::parse("c").unwrap(),
                specs,
                images,
            )
        };
        assert_eq!(
            with(vec![line("Colour"), line("colour")], vec![]),
            Err(ValueError::DuplicateSpecification("colour".into()))
        );
        let many = (0..=MAX_SPECIFICATIONS)
            .map(|i| line(&format!("a{i}")))
            .collect();
        assert_eq!(with(many, vec![]).unwrap_err().code(), "too_many_entries");
        let image = Image::new("https://x.example/a.png", "a").unwrap();
        assert!(with(vec![], vec![image.clone(); MAX_IMAGES]).is_ok());
        assert!(with(vec![], vec![image; MAX_IMAGES + 1]).is_err());
        assert_eq!(
            Specification::new("", "v").unwrap_err().field(),
            Some("specifications.name")
        );
        assert_eq!(
            Specification::new("Size", "\u{202e}XL").unwrap_err().code(),
            "invalid_text"
        );
    }

    #[test]
    fn image_urls_are_absolute_web_addresses() {
        assert_eq!(
            ImageUrl::parse(" https://IMG.example.org/a b")
                .unwrap_err()
                .code(),
            "invalid_image_url"
        );
        assert_eq!(
            ImageUrl::parse("https://IMG.example.org/a%20b.png")
                .unwrap()
                .as_str(),
            "https://img.example.org/a%20b.png"
        );
        for bad in [
            "",
            "/relative.png",
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "ftp://example.org/a.png",
            "https://user:pw@example.org/a.png",
            "https://example.org/\u{e9}.png",
            "https://example.org/\n.png",
            "https://",
            "https:// example.org/a.png",
        ] {
            assert!(ImageUrl::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let long = format!("https://example.org/{}", "a".repeat(ImageUrl::MAX_LEN));
        assert!(ImageUrl::parse(&long).is_err());
        assert!(
            Image::new("https://example.org/a.png", "").is_err(),
            "alt text required"
        );
    }

    #[test]
    fn a_sellers_new_product_is_public_only_once_approved() {
        let created = Product::default()
            .decide(ProductCommand::Create {
                sku: sku(),
                seller_id: seller(),
                details: details(),
                price: eur(900),
                by: Editor::Seller,
            })
            .unwrap();
        assert!(matches!(
            &created[..],
            [ProductEvent::ProductCreated {
                pending_approval: true,
                ..
            }]
        ));
        let pending = Product::from_events(&created);
        assert!(pending.on_sale().is_none(), "not public before approval");
        let reason = Reason::parse("blurry photos").unwrap();
        let rejected = pending.decide(ProductCommand::Reject { reason }).unwrap();
        let state = Product::from_events(created.iter().chain(&rejected));
        assert_eq!(
            state
                .listing
                .as_ref()
                .unwrap()
                .draft
                .as_ref()
                .unwrap()
                .rejected
                .as_deref(),
            Some("blurry photos")
        );
        assert!(state.on_sale().is_none());
        assert_eq!(
            state.decide(ProductCommand::Approve),
            Err(ProductError::NothingToReview(sku())),
            "a refused draft is proposed again before it is approved"
        );
        let again = state
            .decide(ProductCommand::Edit {
                details: edited(),
                by: Editor::Seller,
            })
            .unwrap();
        assert!(matches!(
            &again[..],
            [ProductEvent::ProductChangesProposed { .. }]
        ));
        let state = Product::from_events(created.iter().chain(&rejected).chain(&again));
        let approval = state.decide(ProductCommand::Approve).unwrap();
        let state = Product::from_events(
            created
                .iter()
                .chain(&rejected)
                .chain(&again)
                .chain(&approval),
        );
        let listing = state.on_sale().expect("public once approved");
        assert_eq!(listing.details, edited());
        assert!(listing.draft.is_none());
    }

    #[test]
    fn a_sellers_edit_waits_while_the_public_keeps_the_approved_content() {
        let state = Product::from_events(&[created()]);
        let proposed = state
            .decide(ProductCommand::Edit {
                details: edited(),
                by: Editor::Seller,
            })
            .unwrap();
        let state = Product::from_events(std::iter::once(&created()).chain(&proposed));
        let listing = state.on_sale().expect("still public");
        assert_eq!(
            listing.details,
            details(),
            "the approved content stays public"
        );
        assert_eq!(listing.draft.as_ref().unwrap().details, edited());
        // A change to the specification alone is public at once.
        let specs = ProductDetails::with_media(
            ProductName::parse("Mug").unwrap(),
            Description::parse("A mug").unwrap(),
            CategorySlug::parse("kitchen").unwrap(),
            vec![Specification::new("Volume", "300 ml").unwrap()],
            vec![],
        )
        .unwrap();
        let live = Product::from_events(&[created()])
            .decide(ProductCommand::Edit {
                details: specs,
                by: Editor::Seller,
            })
            .unwrap();
        assert!(matches!(&live[..], [ProductEvent::ProductEdited { .. }]));
    }
}
