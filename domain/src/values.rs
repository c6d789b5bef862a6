//! Value objects: small types that are valid by construction.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a raw value was not accepted as a value object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// SKUs are 1-64 characters of `A-Z a-z 0-9 - _ .`, at least one a letter or digit.
    #[error(
        "invalid SKU {0:?}: use 1-64 characters of A-Z, a-z, 0-9, '-', '_' or '.', \
         at least one a letter or digit"
    )]
    InvalidSku(String),
    /// Countries are ISO 3166-1 alpha-2 codes.
    #[error("invalid country {0:?}: use an ISO 3166-1 alpha-2 code such as DE")]
    InvalidCountry(String),
    /// Currencies are current ISO 4217 currency codes.
    #[error("invalid currency {0:?}: use a current ISO 4217 currency code such as EUR")]
    InvalidCurrency(String),
    /// A text or identifier field broke its rule (see [`crate::text`]).
    #[error("invalid {field}: {problem}")]
    InvalidText {
        /// The field, as named in requests.
        field: &'static str,
        /// What is wrong.
        problem: crate::text::TextProblem,
    },
    /// Quantities are whole units between 1 and [`Quantity::MAX`].
    #[error("invalid quantity {0}: must be between 1 and {max}", max = Quantity::MAX)]
    InvalidQuantity(i64),
    /// Amounts of money cannot be negative here.
    #[error("invalid amount {0}: must not be negative")]
    NegativeAmount(i64),
    /// Arithmetic on money left the range of `i64` minor units.
    #[error("amount out of range")]
    AmountOverflow,
    /// Two amounts in different currencies were combined.
    #[error("currency mismatch: {0} and {1}")]
    CurrencyMismatch(Currency, Currency),
    /// Image addresses are absolute `https` or `http` URLs with a host.
    #[error("invalid image URL: {0}")]
    InvalidImageUrl(&'static str),
    /// A list holds more entries than allowed.
    #[error("{field} holds more than {max} entries")]
    TooManyEntries {
        /// The list, as named in requests.
        field: &'static str,
        /// Most entries allowed.
        max: usize,
    },
    /// Two specification lines name the same attribute.
    #[error("the specification {0:?} appears twice")]
    DuplicateSpecification(String),
    /// Stock corrections change the count by 1 to [`Quantity::MAX`] units, up or down.
    #[error("invalid stock change {0}: must be between -{max} and {max}, not 0", max = Quantity::MAX)]
    InvalidStockChange(i64),
    /// Category slugs are 1-64 of `a-z 0-9 -`, starting and ending with a letter or digit.
    #[error("invalid category {0:?}: use 1-64 of a-z, 0-9 and '-', starting and ending with a letter or digit")]
    InvalidCategory(String),
    /// Positions among siblings are 0 to 100,000.
    #[error("invalid position {0}: must be between 0 and 100000")]
    InvalidPosition(i64),
    /// Commission rates are 0 to 10,000 basis points.
    #[error("invalid commission {0}: must be between 0 and 10000 basis points")]
    InvalidCommission(i64),
    /// Ratings are 1 to 5 stars.
    #[error("invalid rating {0}: must be between 1 and 5")]
    InvalidRating(i64),
    /// Low-stock thresholds are 0 to [`Quantity::MAX`] units.
    #[error("invalid low-stock threshold {0}: must be between 0 and {max}", max = Quantity::MAX)]
    InvalidThreshold(i64),
}

impl ValueError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ValueError::InvalidSku(_) => "invalid_sku",
            ValueError::InvalidCurrency(_) => "invalid_currency",
            ValueError::InvalidQuantity(_) => "invalid_quantity",
            ValueError::NegativeAmount(_) => "negative_amount",
            ValueError::AmountOverflow => "amount_overflow",
            ValueError::CurrencyMismatch(_, _) => "currency_mismatch",
            ValueError::InvalidText { .. } => "invalid_text",
            ValueError::InvalidCountry(_) => "invalid_country",
            ValueError::InvalidImageUrl(_) => "invalid_image_url",
            ValueError::TooManyEntries { .. } => "too_many_entries",
            ValueError::DuplicateSpecification(_) => "duplicate_specification",
            ValueError::InvalidStockChange(_) => "invalid_stock_change",
            ValueError::InvalidThreshold(_) => "invalid_threshold",
            ValueError::InvalidCategory(_) => "invalid_category",
            ValueError::InvalidPosition(_) => "invalid_position",
            ValueError::InvalidRating(_) => "invalid_rating",
            ValueError::InvalidCommission(_) => "invalid_commission",
        }
    }

    /// The request field the error is about, when it is about one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ValueError::InvalidSku(_) => Some("sku"),
            ValueError::InvalidCurrency(_) => Some("currency"),
            ValueError::InvalidQuantity(_) => Some("quantity"),
            ValueError::NegativeAmount(_) => Some("amount_minor"),
            ValueError::InvalidText { field, .. } => Some(field),
            ValueError::InvalidCountry(_) => Some("country"),
            ValueError::InvalidImageUrl(_) => Some("images.url"),
            ValueError::TooManyEntries { field, .. } => Some(field),
            ValueError::DuplicateSpecification(_) => Some("specifications.name"),
            ValueError::InvalidStockChange(_) => Some("change"),
            ValueError::InvalidThreshold(_) => Some("threshold"),
            ValueError::InvalidCategory(_) => Some("category"),
            ValueError::InvalidPosition(_) => Some("position"),
            ValueError::InvalidRating(_) => Some("rating"),
            ValueError::InvalidCommission(_) => Some("commission_bp"),
            ValueError::AmountOverflow | ValueError::CurrencyMismatch(_, _) => None,
        }
    }
}

/// Stock keeping unit: the identity of a product and of its inventory.
///
/// [`Sku::parse`] is the rule for new SKUs; deserialization (recorded events) accepts every
/// SKU an earlier release accepted, so the log stays readable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

fn sku_shape(raw: &str) -> bool {
    (1..=64).contains(&raw.len())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Sku {
    /// Validates a SKU: 1-64 of `A-Z a-z 0-9 - _ .` with at least one letter or digit, so no
    /// SKU is a path segment such as `.` or `..` that URL normalisation would rewrite.
    pub fn parse(raw: impl Into<String>) -> Result<Self, ValueError> {
        let raw = raw.into();
        if sku_shape(&raw) && raw.bytes().any(|b| b.is_ascii_alphanumeric()) {
            Ok(Sku(raw))
        } else {
            Err(ValueError::InvalidSku(raw))
        }
    }

    /// The SKU as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sku {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        if sku_shape(&value) {
            Ok(Sku(value))
        } else {
            Err(ValueError::InvalidSku(value))
        }
    }
}

impl From<Sku> for String {
    fn from(value: Sku) -> Self {
        value.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// ISO 4217 alphabetic currency code.
///
/// [`Currency::parse`] accepts current currencies only (the `iso_currency` table, without
/// funds, special codes such as `XXX` or `XAU`, and superseded currencies); deserialization
/// (recorded events) accepts any three upper-case letters, as earlier releases did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// Validates a currency code against ISO 4217.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let current = iso_currency::Currency::from_code(raw).is_some_and(|c| c.flags().is_empty());
        if current {
            Self::shape(raw)
        } else {
            Err(ValueError::InvalidCurrency(raw.to_owned()))
        }
    }

    fn shape(raw: &str) -> Result<Self, ValueError> {
        let bytes = raw.as_bytes();
        if bytes.len() == 3 && bytes.iter().all(u8::is_ascii_uppercase) {
            Ok(Currency([bytes[0], bytes[1], bytes[2]]))
        } else {
            Err(ValueError::InvalidCurrency(raw.to_owned()))
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl TryFrom<String> for Currency {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Currency::shape(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount of money: integer minor units (cents) and a currency. Never floating point.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "MoneyRepr")]
pub struct Money {
    amount_minor: i64,
    currency: Currency,
}

#[derive(Deserialize)]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(rename = "Money")
)]
struct MoneyRepr {
    /// Integer minor units (cents), never negative.
    #[cfg_attr(feature = "schema", schemars(range(min = 0)))]
    amount_minor: i64,
    currency: Currency,
}

impl TryFrom<MoneyRepr> for Money {
    type Error = ValueError;
    fn try_from(value: MoneyRepr) -> Result<Self, Self::Error> {
        Money::new(value.amount_minor, value.currency)
    }
}

impl Money {
    /// A non-negative amount in minor units.
    pub fn new(amount_minor: i64, currency: Currency) -> Result<Self, ValueError> {
        if amount_minor < 0 {
            return Err(ValueError::NegativeAmount(amount_minor));
        }
        Ok(Money {
            amount_minor,
            currency,
        })
    }

    /// Zero in a currency.
    pub fn zero(currency: Currency) -> Self {
        Money {
            amount_minor: 0,
            currency,
        }
    }

    /// Amount in minor units.
    pub fn amount_minor(&self) -> i64 {
        self.amount_minor
    }

    /// Currency of the amount.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Sum of two amounts in the same currency.
    pub fn checked_add(self, other: Money) -> Result<Money, ValueError> {
        if self.currency != other.currency {
            return Err(ValueError::CurrencyMismatch(self.currency, other.currency));
        }
        let amount_minor = self
            .amount_minor
            .checked_add(other.amount_minor)
            .ok_or(ValueError::AmountOverflow)?;
        Ok(Money {
            amount_minor,
            currency: self.currency,
        })
    }

    /// The amount times a quantity.
    pub fn times(self, quantity: Quantity) -> Result<Money, ValueError> {
        let amount_minor = self
            .amount_minor
            .checked_mul(i64::from(quantity.get()))
            .ok_or(ValueError::AmountOverflow)?;
        Ok(Money {
            amount_minor,
            currency: self.currency,
        })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount_minor, self.currency)
    }
}

/// A positive number of units, bounded to keep totals far from overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u32")]
pub struct Quantity(u32);

impl Quantity {
    /// Largest quantity accepted in one command or cart line.
    pub const MAX: u32 = 1_000_000;

    /// Validates a quantity.
    pub fn new(raw: i64) -> Result<Self, ValueError> {
        if (1..=i64::from(Self::MAX)).contains(&raw) {
            Ok(Quantity(raw as u32))
        } else {
            Err(ValueError::InvalidQuantity(raw))
        }
    }

    /// The number of units.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for Quantity {
    type Error = ValueError;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Quantity::new(value)
    }
}

impl From<Quantity> for u32 {
    fn from(value: Quantity) -> Self {
        value.0
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(::uuid::Uuid);

        impl $name {
            /// Wraps an existing id.
            pub fn from_uuid(id: ::uuid::Uuid) -> Self {
                $name(id)
            }

            /// A new time-ordered (v7) id.
            pub fn generate() -> Self {
                $name(::uuid::Uuid::now_v7())
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> ::uuid::Uuid {
                self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

pub(crate) use uuid_id;

uuid_id!(
    /// Identity of a customer (the owner of a cart and of orders).
    CustomerId
);
uuid_id!(
    /// Identity of an order.
    OrderId
);
uuid_id!(
    /// Identity of an account. A customer's id is their account's id.
    AccountId
);

impl From<AccountId> for CustomerId {
    fn from(id: AccountId) -> Self {
        CustomerId(id.0)
    }
}

/// Schemas of value objects whose JSON form is validated text or numbers.
#[cfg(feature = "schema")]
mod schema {
    use std::borrow::Cow;

    use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

    macro_rules! schema {
        ($t:ty, $name:literal, $schema:tt) => {
            impl JsonSchema for $t {
                fn schema_name() -> Cow<'static, str> {
                    $name.into()
                }
                fn json_schema(_: &mut SchemaGenerator) -> Schema {
                    json_schema!($schema)
                }
            }
        };
    }

    schema!(super::Sku, "Sku", {
        "type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$",
        "description": "Stock keeping unit: 1-64 of A-Z a-z 0-9 . _ -"
    });
    schema!(super::Currency, "Currency", {
        "type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217 code"
    });
    schema!(super::Quantity, "Quantity", {
        "type": "integer", "minimum": 1, "maximum": 1_000_000, "description": "Whole units"
    });
    schema!(crate::address::Country, "Country", {
        "type": "string", "pattern": "^[A-Z]{2}$", "description": "ISO 3166-1 alpha-2 country code"
    });
    schema!(crate::account::Email, "Email", {
        "type": "string", "maxLength": 254, "description": "Normalized (lower-case) email address"
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sku_rules() {
        assert!(Sku::parse("TSHIRT-RED_M.1").is_ok());
        assert_eq!(Sku::parse(""), Err(ValueError::InvalidSku(String::new())));
        assert!(Sku::parse("has space").is_err());
        assert!(Sku::parse("x".repeat(65)).is_err());
        for path_segment in [".", "..", "...", "-", "_.-"] {
            assert!(Sku::parse(path_segment).is_err(), "{path_segment}");
        }
        // A SKU recorded by an earlier release still decodes.
        let old: Sku = serde_json::from_str("\"..\"").unwrap();
        assert_eq!(old.as_str(), "..");
    }

    #[test]
    fn currency_rules() {
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
        assert!(Currency::parse("eur").is_err());
        assert!(Currency::parse("EURO").is_err());
        for not_money in ["XXQ", "XXX", "XTS", "XAU", "BOV", "HRK"] {
            assert!(Currency::parse(not_money).is_err(), "{not_money}");
        }
        assert!(Currency::parse("JPY").is_ok());
        // Recorded events keep decoding.
        let old: Currency = serde_json::from_str("\"XXQ\"").unwrap();
        assert_eq!(old.as_str(), "XXQ");
    }

    #[test]
    fn money_is_checked() {
        let eur = Currency::parse("EUR").unwrap();
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(Money::new(-1, eur), Err(ValueError::NegativeAmount(-1)));
        let a = Money::new(250, eur).unwrap();
        assert_eq!(
            a.times(Quantity::new(3).unwrap()).unwrap().amount_minor(),
            750
        );
        assert_eq!(
            a.checked_add(Money::new(1, usd).unwrap()),
            Err(ValueError::CurrencyMismatch(eur, usd))
        );
        let big = Money::new(i64::MAX, eur).unwrap();
        assert_eq!(big.checked_add(a), Err(ValueError::AmountOverflow));
    }

    #[test]
    fn money_deserialization_validates() {
        let ok: Money = serde_json::from_str(r#"{"amount_minor":5,"currency":"EUR"}"#).unwrap();
        assert_eq!(ok.amount_minor(), 5);
        assert!(serde_json::from_str::<Money>(r#"{"amount_minor":-5,"currency":"EUR"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"amount_minor":5,"currency":"eu"}"#).is_err());
    }

    #[test]
    fn quantity_bounds() {
        assert!(Quantity::new(0).is_err());
        assert!(Quantity::new(-3).is_err());
        assert_eq!(Quantity::new(1).unwrap().get(), 1);
        assert!(Quantity::new(i64::from(Quantity::MAX) + 1).is_err());
    }
}
