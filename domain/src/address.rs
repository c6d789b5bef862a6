//! Postal addresses and each customer's address book.
//!
//! An [`Address`] is validated field by field with the rules of [`crate::text`] and an ISO
//! 3166-1 country; recorded events keep addresses as they were written. The [`AddressBook`]
//! is one stream per customer: at most [`AddressBook::MAX_ENTRIES`] addresses, one of them the
//! default that checkout uses when it is given none.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, DomainEvent};
use crate::text::{IdentifierRule, TextRule};
use crate::values::{CustomerId, ValueError};

/// An ISO 3166-1 alpha-2 country code (`DE`, `IN`, `US`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Country([u8; 2]);

impl Country {
    /// Validates a country code against ISO 3166-1.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let bytes = raw.as_bytes();
        let known = bytes.len() == 2
            && bytes.iter().all(u8::is_ascii_uppercase)
            && iso_currency::Country::from_str(raw).is_ok();
        if known {
            Ok(Country([bytes[0], bytes[1]]))
        } else {
            Err(ValueError::InvalidCountry(raw.to_owned()))
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl TryFrom<String> for Country {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, ValueError> {
        Country::parse(&value)
    }
}

impl From<Country> for String {
    fn from(value: Country) -> Self {
        value.as_str().to_owned()
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An address as a client sends it: raw text, checked by [`Address::parse`].
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    /// Recipient.
    pub name: String,
    /// Street and number.
    pub line1: String,
    /// Flat, floor, building.
    #[serde(default)]
    pub line2: String,
    /// City or town.
    pub city: String,
    /// State, province or county.
    #[serde(default)]
    pub region: String,
    /// Postal code (empty where the country has none).
    #[serde(default)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 code.
    pub country: String,
    /// Phone number for the carrier.
    #[serde(default)]
    pub phone: String,
}

/// A validated postal address. Empty optional parts are empty strings.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Recipient, 1-100 characters.
    pub name: String,
    /// Street and number, 1-200 characters.
    pub line1: String,
    /// Flat, floor, building; up to 200 characters.
    #[serde(default)]
    pub line2: String,
    /// City or town, 1-100 characters.
    pub city: String,
    /// State, province or county; up to 100 characters.
    #[serde(default)]
    pub region: String,
    /// Postal code: up to 16 letters, digits, spaces and hyphens.
    #[serde(default)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: Country,
    /// Phone number: up to 32 of digits, spaces, `+ - ( )`.
    #[serde(default)]
    pub phone: String,
}

const fn text(field: &'static str, min: usize, max: usize) -> TextRule {
    TextRule {
        field,
        min,
        max,
        multiline: false,
    }
}

fn restricted(
    field: &'static str,
    raw: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<String, ValueError> {
    let value = raw.trim();
    if value.is_empty() {
        return Ok(String::new());
    }
    // The identifier rule reports control characters, length and the missing alphanumeric.
    IdentifierRule { field, max }.check(&value.replace([' ', '(', ')'], "-"))?;
    match value.chars().find(|c| !allowed(*c)) {
        Some(c) => Err(ValueError::InvalidText {
            field,
            problem: crate::text::TextProblem::ForbiddenCharacter {
                code_point: c as u32,
            },
        }),
        None => Ok(value.to_owned()),
    }
}

impl Address {
    /// Validates every field; errors name the field (`name`, `line1`, `country`, ...).
    pub fn parse(input: &AddressInput) -> Result<Address, ValueError> {
        Ok(Address {
            name: text("name", 1, 100).check(&input.name)?,
            line1: text("line1", 1, 200).check(&input.line1)?,
            line2: text("line2", 0, 200).check(&input.line2)?,
            city: text("city", 1, 100).check(&input.city)?,
            region: text("region", 0, 100).check(&input.region)?,
            postal_code: restricted("postal_code", &input.postal_code, 16, |c| {
                c.is_ascii_alphanumeric() || c == ' ' || c == '-'
            })?,
            country: Country::parse(input.country.trim())?,
            phone: restricted("phone", &input.phone, 32, |c| {
                c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')')
            })?,
        })
    }
}

crate::values::uuid_id!(
    /// Identity of an entry in an address book.
    AddressId
);

/// Commands on an address book.
#[derive(Debug, Clone, PartialEq)]
pub enum AddressBookCommand {
    /// Add an address; the first one becomes the default, as does any added with
    /// `make_default`.
    Add {
        /// The book's owner.
        customer_id: CustomerId,
        /// New entry's id.
        address_id: AddressId,
        /// The address.
        address: Address,
        /// Make it the default.
        make_default: bool,
    },
    /// Replace an entry's address.
    Change {
        /// The entry.
        address_id: AddressId,
        /// The new address.
        address: Address,
    },
    /// Remove an entry.
    Remove {
        /// The entry.
        address_id: AddressId,
    },
    /// Make an entry the default.
    MakeDefault {
        /// The entry.
        address_id: AddressId,
    },
}

/// Events of an address book.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum AddressBookEvent {
    /// An address was added to a customer's book.
    AddressAdded {
        /// The book's owner.
        customer_id: CustomerId,
        /// The entry.
        address_id: AddressId,
        /// The address.
        address: Address,
    },
    /// An entry's address was replaced.
    AddressChanged {
        /// The book's owner.
        customer_id: CustomerId,
        /// The entry.
        address_id: AddressId,
        /// The new address.
        address: Address,
    },
    /// An entry was removed.
    AddressRemoved {
        /// The book's owner.
        customer_id: CustomerId,
        /// The entry.
        address_id: AddressId,
    },
    /// An entry became the default address.
    DefaultAddressChosen {
        /// The book's owner.
        customer_id: CustomerId,
        /// The entry.
        address_id: AddressId,
    },
}

impl DomainEvent for AddressBookEvent {
    fn event_type(&self) -> &'static str {
        match self {
            AddressBookEvent::AddressAdded { .. } => "AddressAdded",
            AddressBookEvent::AddressChanged { .. } => "AddressChanged",
            AddressBookEvent::AddressRemoved { .. } => "AddressRemoved",
            AddressBookEvent::DefaultAddressChosen { .. } => "DefaultAddressChosen",
        }
    }
}

/// Why an address-book command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressBookError {
    /// No entry with this id in the book.
    #[error("no address {0} in this address book")]
    NotFound(AddressId),
    /// The book is full.
    #[error("an address book holds at most {max} addresses", max = AddressBook::MAX_ENTRIES)]
    Full,
    /// The id is taken by another entry.
    #[error("address {0} already exists")]
    AlreadyExists(AddressId),
}

impl AddressBookError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AddressBookError::NotFound(_) => "address_not_found",
            AddressBookError::Full => "address_book_full",
            AddressBookError::AlreadyExists(_) => "address_already_exists",
        }
    }
}

/// A customer's addresses, in the order they were added.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AddressBook {
    /// The book's owner, once it has one.
    pub customer_id: Option<CustomerId>,
    /// Entries in the order they were added.
    pub entries: Vec<(AddressId, Address)>,
    /// The default entry, if any.
    pub default: Option<AddressId>,
}

impl AddressBook {
    /// Largest number of addresses in one book.
    pub const MAX_ENTRIES: usize = 20;

    /// The address of an entry.
    pub fn get(&self, id: AddressId) -> Option<&Address> {
        self.entries.iter().find(|(e, _)| *e == id).map(|(_, a)| a)
    }

    /// The default address, if one is set.
    pub fn default_address(&self) -> Option<&Address> {
        self.default.and_then(|id| self.get(id))
    }

    fn require(&self, id: AddressId) -> Result<CustomerId, AddressBookError> {
        match (self.customer_id, self.get(id)) {
            (Some(customer_id), Some(_)) => Ok(customer_id),
            _ => Err(AddressBookError::NotFound(id)),
        }
    }
}

impl Aggregate for AddressBook {
    type Id = CustomerId;
    type Command = AddressBookCommand;
    type Event = AddressBookEvent;
    type Error = AddressBookError;
    const CATEGORY: &'static str = "addresses";

    fn decide(
        &self,
        command: AddressBookCommand,
    ) -> Result<Vec<AddressBookEvent>, AddressBookError> {
        match command {
            AddressBookCommand::Add {
                customer_id,
                address_id,
                address,
                make_default,
            } => {
                if self.get(address_id).is_some() {
                    return Err(AddressBookError::AlreadyExists(address_id));
                }
                if self.entries.len() >= Self::MAX_ENTRIES {
                    return Err(AddressBookError::Full);
                }
                let mut events = vec![AddressBookEvent::AddressAdded {
                    customer_id,
                    address_id,
                    address,
                }];
                if make_default || self.default.is_none() {
                    events.push(AddressBookEvent::DefaultAddressChosen {
                        customer_id,
                        address_id,
                    });
                }
                Ok(events)
            }
            AddressBookCommand::Change {
                address_id,
                address,
            } => {
                let customer_id = self.require(address_id)?;
                if self.get(address_id) == Some(&address) {
                    return Ok(vec![]);
                }
                Ok(vec![AddressBookEvent::AddressChanged {
                    customer_id,
                    address_id,
                    address,
                }])
            }
            AddressBookCommand::Remove { address_id } => {
                let customer_id = self.require(address_id)?;
                Ok(vec![AddressBookEvent::AddressRemoved {
                    customer_id,
                    address_id,
                }])
            }
            AddressBookCommand::MakeDefault { address_id } => {
                let customer_id = self.require(address_id)?;
                if self.default == Some(address_id) {
                    return Ok(vec![]);
                }
                Ok(vec![AddressBookEvent::DefaultAddressChosen {
                    customer_id,
                    address_id,
                }])
            }
        }
    }

    fn apply(&mut self, event: &AddressBookEvent) {
        match event {
            AddressBookEvent::AddressAdded {
                customer_id,
                address_id,
                address,
            } => {
                self.customer_id = Some(*customer_id);
                self.entries.push((*address_id, address.clone()));
            }
            AddressBookEvent::AddressChanged {
                address_id,
                address,
                ..
            } => {
                if let Some(entry) = self.entries.iter_mut().find(|(e, _)| e == address_id) {
                    entry.1 = address.clone();
                }
            }
            AddressBookEvent::AddressRemoved { address_id, .. } => {
                self.entries.retain(|(e, _)| e != address_id);
                if self.default == Some(*address_id) {
                    self.default = None;
                }
            }
            AddressBookEvent::DefaultAddressChosen { address_id, .. } => {
                self.default = Some(*address_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn input() -> AddressInput {
        AddressInput {
            name: "Ada Lovelace".into(),
            line1: "12 St James's Square".into(),
            city: "London".into(),
            postal_code: "SW1Y 4JH".into(),
            country: "GB".into(),
            phone: "+44 20 7946 0000".into(),
            ..AddressInput::default()
        }
    }

    fn customer() -> CustomerId {
        CustomerId::from_uuid(uuid::Uuid::from_u128(1))
    }

    fn id(n: u128) -> AddressId {
        AddressId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn add(n: u128, make_default: bool) -> AddressBookCommand {
        AddressBookCommand::Add {
            customer_id: customer(),
            address_id: id(n),
            address: Address::parse(&input()).unwrap(),
            make_default,
        }
    }

    fn book(events: &[AddressBookCommand]) -> AddressBook {
        let mut book = AddressBook::default();
        for command in events {
            for event in book.decide(command.clone()).unwrap() {
                book.apply(&event);
            }
        }
        book
    }

    #[test]
    fn addresses_are_validated_field_by_field() {
        let address = Address::parse(&input()).unwrap();
        assert_eq!(address.country.as_str(), "GB");
        assert_eq!(address.postal_code, "SW1Y 4JH");
        for (field, change) in [
            (
                "name",
                AddressInput {
                    name: " ".into(),
                    ..input()
                },
            ),
            (
                "line1",
                AddressInput {
                    line1: "x\u{0}".into(),
                    ..input()
                },
            ),
            (
                "city",
                AddressInput {
                    city: "\u{200b}".into(),
                    ..input()
                },
            ),
            (
                "postal_code",
                AddressInput {
                    postal_code: "12_34".into(),
                    ..input()
                },
            ),
            (
                "phone",
                AddressInput {
                    phone: "call me".into(),
                    ..input()
                },
            ),
        ] {
            let error = Address::parse(&change).unwrap_err();
            assert_eq!(error.field(), Some(field), "{error}");
        }
        for country in ["XX", "gb", "GBR", "", "UK"] {
            let error = Address::parse(&AddressInput {
                country: country.into(),
                ..input()
            });
            assert_eq!(error.unwrap_err().code(), "invalid_country", "{country}");
        }
        let no_postcode = AddressInput {
            postal_code: String::new(),
            ..input()
        };
        assert_eq!(Address::parse(&no_postcode).unwrap().postal_code, "");
    }

    #[test]
    fn the_first_address_becomes_the_default() {
        let given = book(&[add(1, false), add(2, false)]);
        assert_eq!(given.default, Some(id(1)));
        let given = book(&[add(1, false), add(2, true)]);
        assert_eq!(given.default, Some(id(2)));
    }

    #[test]
    fn removing_the_default_leaves_none() {
        let given = book(&[add(1, false), add(2, false)]);
        let removed = given
            .decide(AddressBookCommand::Remove { address_id: id(1) })
            .unwrap();
        let mut then = given.clone();
        removed.iter().for_each(|e| then.apply(e));
        assert_eq!(then.default, None);
        assert_eq!(then.entries.len(), 1);
    }

    #[test]
    fn unknown_entries_and_full_books_are_refused() {
        let given = book(&[add(1, false)]);
        assert_eq!(
            given.decide(AddressBookCommand::MakeDefault { address_id: id(9) }),
            Err(AddressBookError::NotFound(id(9)))
        );
        let full = book(&(1..=20).map(|n| add(n, false)).collect::<Vec<_>>());
        assert_eq!(full.decide(add(21, false)), Err(AddressBookError::Full));
        assert_eq!(
            full.decide(add(3, false)),
            Err(AddressBookError::AlreadyExists(id(3)))
        );
    }
}
