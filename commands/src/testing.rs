//! Test kit (cargo feature `testing`): a shop's cast set up through the real commands, so
//! tests of other crates start from valid state without repeating the steps.

use std::collections::BTreeSet;

use domain::account::{Email, Role};
use domain::address::{Address, AddressInput};
use domain::product::ProductDetails;
use domain::text::DisplayName;
use domain::values::Currency;
use domain::{AccountId, CustomerId, Money, Quantity, Sku};

use crate::{CommandContext, CommandHandler};

/// A context whose actor is `test`.
pub fn ctx() -> CommandContext {
    CommandContext::new(Some("test".into()))
}

/// An address in Springfield, US.
pub fn address() -> Address {
    Address::parse(&AddressInput {
        name: "Test Customer".into(),
        line1: "742 Evergreen Terrace".into(),
        city: "Springfield".into(),
        postal_code: "49007".into(),
        country: "US".into(),
        ..AddressInput::default()
    })
    .expect("valid address")
}

/// Registers a new customer account with [`address`] as its default address, and returns
/// its id.
pub async fn customer(handler: &CommandHandler) -> CustomerId {
    let id = AccountId::generate();
    let email = Email::parse(&format!("customer-{id}@example.org")).expect("valid email");
    handler
        .register_account(
            &ctx(),
            id,
            email,
            DisplayName::parse("Test Customer").expect("valid name"),
            BTreeSet::from([Role::Customer]),
        )
        .await
        .expect("register a customer");
    let customer = CustomerId::from(id);
    handler
        .add_address(&ctx(), customer, address(), true)
        .await
        .expect("add an address");
    customer
}

/// An amount in euros, in cents.
pub fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::parse("EUR").expect("EUR")).expect("non-negative")
}

/// Defines the root category `slug` (named after itself); defining it again changes nothing.
pub async fn category(handler: &CommandHandler, slug: &str) {
    handler
        .category_command(
            &ctx(),
            domain::category::CategoryCommand::Define {
                slug: domain::category::CategorySlug::parse(slug).expect("valid slug"),
                name: domain::text::CategoryName::parse(slug).expect("valid name"),
                parent: None,
                position: domain::category::Position::default(),
            },
        )
        .await
        .expect("define a category");
}

/// Lists `sku` (named after itself, priced in euro cents, owned by the nil seller, in the
/// category `test`) and receives `stock` units of it.
pub async fn product(handler: &CommandHandler, sku: &str, price_minor: i64, stock: i64) {
    category(handler, "test").await;
    let parsed = Sku::parse(sku).expect("valid SKU");
    handler
        .create_product(
            &ctx(),
            AccountId::from_uuid(uuid::Uuid::nil()),
            parsed.clone(),
            ProductDetails::new(sku, "", "test").expect("valid details"),
            eur(price_minor),
            domain::product::Editor::Admin,
        )
        .await
        .expect("list a product");
    if stock > 0 {
        handler
            .receive_stock(
                &ctx(),
                parsed,
                Quantity::new(stock).expect("valid quantity"),
            )
            .await
            .expect("receive stock");
    }
}

/// Aggregate `id` as `handler` loads it for a command (from its kept state or snapshot, then
/// the events after), with the version it reflects.
pub async fn load<A>(handler: &CommandHandler, id: &A::Id) -> (A, i64)
where
    A: domain::Aggregate + Clone + Send + Sync + 'static,
    A::Event: serde::de::DeserializeOwned,
{
    let loaded = handler.load::<A>(id).await.expect("load an aggregate");
    (loaded.state, loaded.version)
}
