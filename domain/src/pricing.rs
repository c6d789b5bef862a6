//! What an order costs beyond its lines: tax rates per country and tax category, and shipping
//! methods with their rates. Both are configured by admins in one stream (`pricing-global`),
//! and a checkout is decided against the version it read, so the price a preview showed is the
//! price charged, or the checkout is refused with `price_changed`.
//!
//! **Rounding rule.** Catalog prices exclude tax. Tax is computed per order line and on the
//! shipping fee, each as `amount × rate / 10 000` rounded half away from zero to a whole minor
//! unit, then added up. Every product is in the tax category `standard` until products carry
//! their own category.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::address::Country;
use crate::aggregate::{Aggregate, DomainEvent};
use crate::order::OrderLine;
use crate::values::{Money, ValueError};

/// The one pricing configuration of the shop (names its stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Global;

impl fmt::Display for Global {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("global")
    }
}

/// A slug naming a tax category or a shipping method: 1-32 of `a-z 0-9 - _`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Slug(String);

impl Slug {
    /// Validates a slug; errors name `field`.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValueError> {
        let ok = (1..=32).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Slug(raw.to_owned()))
        } else {
            Err(ValueError::InvalidText {
                field,
                problem: crate::text::TextProblem::ForbiddenCharacter {
                    code_point: raw
                        .chars()
                        .find(|c| {
                            !(c.is_ascii_lowercase()
                                || c.is_ascii_digit()
                                || *c == '-'
                                || *c == '_')
                        })
                        .map_or(0, |c| c as u32),
                },
            })
        }
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The tax category every product is in for now.
pub const STANDARD: &str = "standard";

/// How a shipping fee is computed.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShippingRate {
    /// One fee per order.
    Flat {
        /// The fee.
        amount: Money,
    },
    /// A fee for the first unit and another for each further unit.
    PerItem {
        /// The first unit's fee.
        first: Money,
        /// Each further unit's fee.
        additional: Money,
    },
}

/// A way to ship orders.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingMethod {
    /// Its id, e.g. `standard`.
    pub id: Slug,
    /// Shown to customers.
    pub name: String,
    /// ISO 3166-1 countries it ships to; empty: everywhere.
    pub countries: Vec<Country>,
    /// The fee.
    pub rate: ShippingRate,
    /// No fee when the subtotal reaches this.
    pub free_above: Option<Money>,
}

impl ShippingMethod {
    /// Whether it ships to `country`.
    pub fn serves(&self, country: Country) -> bool {
        self.countries.is_empty() || self.countries.contains(&country)
    }

    fn currency_ok(&self, currency: crate::values::Currency) -> bool {
        let rate_ok = match &self.rate {
            ShippingRate::Flat { amount } => amount.currency() == currency,
            ShippingRate::PerItem { first, additional } => {
                first.currency() == currency && additional.currency() == currency
            }
        };
        rate_ok && self.free_above.is_none_or(|f| f.currency() == currency)
    }
}

/// Commands on the pricing configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum PricingCommand {
    /// Set the tax rate of a category in a country, in basis points (1 900 = 19 %).
    SetTaxRate {
        /// Country.
        country: Country,
        /// Tax category.
        category: Slug,
        /// Basis points, 0-10 000.
        rate_bp: u32,
    },
    /// Remove a tax rate (the category is then untaxed there).
    RemoveTaxRate {
        /// Country.
        country: Country,
        /// Tax category.
        category: Slug,
    },
    /// Create or replace a shipping method.
    DefineShippingMethod {
        /// The method.
        method: ShippingMethod,
    },
    /// Stop offering a shipping method.
    RetireShippingMethod {
        /// Its id.
        id: Slug,
    },
}

/// Events of the pricing configuration.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum PricingEvent {
    /// A tax rate was set.
    TaxRateSet {
        /// Country.
        country: Country,
        /// Tax category.
        category: Slug,
        /// Basis points.
        rate_bp: u32,
    },
    /// A tax rate was removed.
    TaxRateRemoved {
        /// Country.
        country: Country,
        /// Tax category.
        category: Slug,
    },
    /// A shipping method was created or replaced.
    ShippingMethodDefined {
        /// The method.
        method: ShippingMethod,
    },
    /// A shipping method was retired.
    ShippingMethodRetired {
        /// Its id.
        id: Slug,
    },
}

impl DomainEvent for PricingEvent {
    fn event_type(&self) -> &'static str {
        match self {
            PricingEvent::TaxRateSet { .. } => "TaxRateSet",
            PricingEvent::TaxRateRemoved { .. } => "TaxRateRemoved",
            PricingEvent::ShippingMethodDefined { .. } => "ShippingMethodDefined",
            PricingEvent::ShippingMethodRetired { .. } => "ShippingMethodRetired",
        }
    }
}

/// Why pricing refused a command or a quote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    /// A rate above 100 %.
    #[error("a tax rate is 0-10000 basis points")]
    InvalidRate,
    /// No such shipping method (or tax rate).
    #[error("no shipping method {0}")]
    UnknownShippingMethod(String),
    /// A method's amounts mix currencies, or differ from the order's.
    #[error("the shipping method's amounts are not in the order's currency")]
    ShippingCurrency,
    /// The method does not ship to the address's country.
    #[error("shipping method {0} does not ship to {1}")]
    ShippingNotAvailable(String, Country),
    /// Methods exist for the country; the checkout must pick one.
    #[error("choose a shipping method")]
    ShippingMethodRequired,
    /// Amounts left the range of minor units.
    #[error(transparent)]
    Value(#[from] ValueError),
}

impl PricingError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            PricingError::InvalidRate => "invalid_tax_rate",
            PricingError::UnknownShippingMethod(_) => "shipping_method_not_found",
            PricingError::ShippingCurrency => "shipping_currency_mismatch",
            PricingError::ShippingNotAvailable(_, _) => "shipping_not_available",
            PricingError::ShippingMethodRequired => "shipping_method_required",
            PricingError::Value(e) => e.code(),
        }
    }
}

/// The pricing configuration as rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pricing {
    /// Basis points per (country, category).
    pub tax_rates: BTreeMap<(String, Slug), u32>,
    /// Offered shipping methods by id.
    pub shipping: BTreeMap<Slug, ShippingMethod>,
}

/// What an order costs, decided at checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Quote {
    /// Sum of the lines.
    pub subtotal: Money,
    /// Shipping fee.
    pub shipping: Money,
    /// Tax on the lines and the fee.
    pub tax: Money,
    /// What the order costs.
    pub total: Money,
}

fn percent_of(amount: Money, rate_bp: u32) -> Result<Money, ValueError> {
    // Half away from zero, in i128 so no product overflows.
    let scaled = i128::from(amount.amount_minor()) * i128::from(rate_bp);
    let rounded = (scaled + 5_000) / 10_000;
    let minor = i64::try_from(rounded).map_err(|_| ValueError::AmountOverflow)?;
    Money::new(minor, amount.currency())
}

impl Pricing {
    /// The rate of `category` in `country`, in basis points (0 when none is set).
    pub fn rate(&self, country: Country, category: &str) -> u32 {
        self.tax_rates
            .iter()
            .find(|((c, k), _)| c == country.as_str() && k.as_str() == category)
            .map_or(0, |(_, bp)| *bp)
    }

    /// What `lines` shipped to `country` by `method` cost (see the module's rounding rule).
    pub fn quote(
        &self,
        lines: &[OrderLine],
        country: Country,
        method: Option<&Slug>,
    ) -> Result<Quote, PricingError> {
        let currency = lines
            .first()
            .map(|l| l.line_total.currency())
            .ok_or(PricingError::Value(ValueError::AmountOverflow))?;
        let mut subtotal = Money::zero(currency);
        let mut units: i64 = 0;
        for line in lines {
            subtotal = subtotal.checked_add(line.line_total)?;
            units += i64::from(line.quantity.get());
        }
        let shipping = match method {
            None if self.shipping.values().any(|m| m.serves(country)) => {
                return Err(PricingError::ShippingMethodRequired)
            }
            None => Money::zero(currency),
            Some(id) => {
                let method = self
                    .shipping
                    .get(id)
                    .ok_or_else(|| PricingError::UnknownShippingMethod(id.to_string()))?;
                if !method.serves(country) {
                    return Err(PricingError::ShippingNotAvailable(id.to_string(), country));
                }
                if !method.currency_ok(currency) {
                    return Err(PricingError::ShippingCurrency);
                }
                let free = method
                    .free_above
                    .is_some_and(|f| subtotal.amount_minor() >= f.amount_minor());
                match (&method.rate, free) {
                    (_, true) => Money::zero(currency),
                    (ShippingRate::Flat { amount }, false) => *amount,
                    (ShippingRate::PerItem { first, additional }, false) => {
                        let more = additional.amount_minor().checked_mul(units - 1);
                        let fee = more
                            .and_then(|m| m.checked_add(first.amount_minor()))
                            .ok_or(ValueError::AmountOverflow)?;
                        Money::new(fee, currency)?
                    }
                }
            }
        };
        let rate = self.rate(country, STANDARD);
        let mut tax = percent_of(shipping, rate)?;
        for line in lines {
            tax = tax.checked_add(percent_of(line.line_total, rate)?)?;
        }
        let total = subtotal.checked_add(shipping)?.checked_add(tax)?;
        Ok(Quote {
            subtotal,
            shipping,
            tax,
            total,
        })
    }
}

impl Aggregate for Pricing {
    type Id = Global;
    type Command = PricingCommand;
    type Event = PricingEvent;
    type Error = PricingError;
    const CATEGORY: &'static str = "pricing";

    fn decide(&self, command: PricingCommand) -> Result<Vec<PricingEvent>, PricingError> {
        match command {
            PricingCommand::SetTaxRate {
                country,
                category,
                rate_bp,
            } => {
                if rate_bp > 10_000 {
                    return Err(PricingError::InvalidRate);
                }
                Ok(vec![PricingEvent::TaxRateSet {
                    country,
                    category,
                    rate_bp,
                }])
            }
            PricingCommand::RemoveTaxRate { country, category } => {
                Ok(vec![PricingEvent::TaxRateRemoved { country, category }])
            }
            PricingCommand::DefineShippingMethod { method } => {
                let currency = match &method.rate {
                    ShippingRate::Flat { amount } => amount.currency(),
                    ShippingRate::PerItem { first, .. } => first.currency(),
                };
                if !method.currency_ok(currency) {
                    return Err(PricingError::ShippingCurrency);
                }
                Ok(vec![PricingEvent::ShippingMethodDefined { method }])
            }
            PricingCommand::RetireShippingMethod { id } => {
                if !self.shipping.contains_key(&id) {
                    return Err(PricingError::UnknownShippingMethod(id.to_string()));
                }
                Ok(vec![PricingEvent::ShippingMethodRetired { id }])
            }
        }
    }

    fn apply(&mut self, event: &PricingEvent) {
        match event {
            PricingEvent::TaxRateSet {
                country,
                category,
                rate_bp,
            } => {
                self.tax_rates
                    .insert((country.as_str().to_owned(), category.clone()), *rate_bp);
            }
            PricingEvent::TaxRateRemoved { country, category } => {
                self.tax_rates
                    .remove(&(country.as_str().to_owned(), category.clone()));
            }
            PricingEvent::ShippingMethodDefined { method } => {
                self.shipping.insert(method.id.clone(), method.clone());
            }
            PricingEvent::ShippingMethodRetired { id } => {
                self.shipping.remove(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{Currency, Quantity, Sku};

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::parse("EUR").unwrap()).unwrap()
    }

    fn line(unit: i64, qty: i64) -> OrderLine {
        let quantity = Quantity::new(qty).unwrap();
        OrderLine {
            sku: Sku::parse("A").unwrap(),
            name: "a".into(),
            unit_price: eur(unit),
            quantity,
            line_total: eur(unit).times(quantity).unwrap(),
        }
    }

    fn de() -> Country {
        Country::parse("DE").unwrap()
    }

    fn configured() -> Pricing {
        let mut pricing = Pricing::default();
        for command in [
            PricingCommand::SetTaxRate {
                country: de(),
                category: Slug::parse("category", STANDARD).unwrap(),
                rate_bp: 1_900,
            },
            PricingCommand::DefineShippingMethod {
                method: ShippingMethod {
                    id: Slug::parse("id", "standard").unwrap(),
                    name: "Standard".into(),
                    countries: vec![de()],
                    rate: ShippingRate::PerItem {
                        first: eur(495),
                        additional: eur(100),
                    },
                    free_above: Some(eur(10_000)),
                },
            },
        ] {
            for event in pricing.decide(command).unwrap() {
                pricing.apply(&event);
            }
        }
        pricing
    }

    #[test]
    fn tax_is_rounded_half_away_from_zero_per_line_and_on_shipping() {
        let pricing = configured();
        let standard = Slug::parse("id", "standard").unwrap();
        // Lines 2 x 1.05 = 2.10 and 0.99: tax 0.399 -> 0.40 and 0.1881 -> 0.19. Shipping for
        // 3 units: 4.95 + 2 x 1.00 = 6.95, tax 1.3205 -> 1.32.
        let quote = pricing
            .quote(&[line(105, 2), line(99, 1)], de(), Some(&standard))
            .unwrap();
        assert_eq!(quote.subtotal, eur(309));
        assert_eq!(quote.shipping, eur(695));
        assert_eq!(quote.tax, eur(40 + 19 + 132));
        assert_eq!(quote.total, eur(309 + 695 + 191));
    }

    #[test]
    fn free_shipping_above_a_threshold_and_methods_per_country() {
        let pricing = configured();
        let standard = Slug::parse("id", "standard").unwrap();
        let quote = pricing
            .quote(&[line(10_000, 1)], de(), Some(&standard))
            .unwrap();
        assert_eq!(quote.shipping, eur(0));
        assert_eq!(
            pricing.quote(&[line(1, 1)], de(), None),
            Err(PricingError::ShippingMethodRequired)
        );
        let fr = Country::parse("FR").unwrap();
        assert!(matches!(
            pricing.quote(&[line(1, 1)], fr, Some(&standard)),
            Err(PricingError::ShippingNotAvailable(..))
        ));
        // Nowhere to ship to France, no tax there: the lines alone.
        assert_eq!(
            pricing.quote(&[line(500, 1)], fr, None).unwrap().total,
            eur(500)
        );
        assert!(matches!(
            pricing.quote(
                &[line(1, 1)],
                de(),
                Some(&Slug::parse("id", "express").unwrap())
            ),
            Err(PricingError::UnknownShippingMethod(_))
        ));
    }

    #[test]
    fn rates_are_bounded_and_slugs_checked() {
        assert_eq!(
            Pricing::default().decide(PricingCommand::SetTaxRate {
                country: de(),
                category: Slug::parse("category", "standard").unwrap(),
                rate_bp: 10_001,
            }),
            Err(PricingError::InvalidRate)
        );
        assert!(Slug::parse("id", "Express").is_err());
        assert!(Slug::parse("id", "").is_err());
        assert!(Slug::parse("id", "next-day_2").is_ok());
    }
}
