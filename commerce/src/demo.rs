//! A demo catalog for `commerce up --demo`: a few categories and products in stock, listed by a
//! demo admin, so that a person who just started the engine can buy something from the
//! storefront. Written through the command handler like any other listing; seeding a database
//! that already has the demo catalog changes nothing.

use anyhow::Context as _;
use domain::category::{CategoryCommand, CategorySlug, Position};
use domain::product::{Editor, Image, ProductDetails, Specification};
use domain::text::{CategoryName, Description, ProductName};
use domain::values::Currency;
use domain::{Money, Quantity, Sku};

use crate::Config;

/// (slug, name).
const CATEGORIES: &[(&str, &str)] = &[
    ("lighting", "Lighting"),
    ("kitchen", "Kitchen"),
    ("office", "Office"),
];

/// (sku, name, description, category, price in cents, stock, specifications).
type Product = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
    i64,
    &'static [(&'static str, &'static str)],
);

const PRODUCTS: &[Product] = &[
    (
        "DEMO-LAMP",
        "Brass desk lamp",
        "A warm reading light with a weighted base and a linen shade.",
        "lighting",
        4900,
        12,
        &[("Material", "Brass"), ("Bulb", "E27, up to 60 W")],
    ),
    (
        "DEMO-PENDANT",
        "Glass pendant light",
        "Hand-blown smoked glass over the dining table.",
        "lighting",
        8900,
        4,
        &[("Material", "Glass"), ("Cable", "1.5 m, textile")],
    ),
    (
        "DEMO-KETTLE",
        "Stainless steel kettle",
        "1.7 litres, boils in under three minutes, switches off by itself.",
        "kitchen",
        3900,
        20,
        &[("Capacity", "1.7 l"), ("Power", "2200 W")],
    ),
    (
        "DEMO-MUG",
        "Stoneware mug",
        "A heavy mug that keeps coffee hot; dishwasher safe.",
        "kitchen",
        1200,
        50,
        &[("Capacity", "350 ml"), ("Material", "Stoneware")],
    ),
    (
        "DEMO-NOTEBOOK",
        "Dotted notebook",
        "A5, 192 pages of 100 g paper that fountain pens do not bleed through.",
        "office",
        1500,
        30,
        &[("Size", "A5"), ("Pages", "192")],
    ),
    (
        "DEMO-CHAIR",
        "Oak desk chair",
        "Solid oak with a woven seat; sold out for now.",
        "office",
        24900,
        0,
        &[("Material", "Oak")],
    ),
];

/// The demo admin's email; its password is printed when it is created.
pub const ADMIN_EMAIL: &str = "admin@demo.example";

/// Seeds the demo catalog unless it is there already.
pub async fn seed(config: &Config) -> anyhow::Result<()> {
    let pool = crate::database(config).await?;
    let store = crate::event_store(config, &pool).await?;
    let commands = commands::CommandHandler::new(store);
    let first = Sku::parse(PRODUCTS[0].0).expect("a valid SKU");
    if commands
        .product_seller(&first)
        .await
        .context("reading the demo catalog")?
        .is_some()
    {
        tracing::info!("demo catalog already there");
        return Ok(());
    }
    let password = format!("demo-{}", uuid::Uuid::new_v4().simple());
    let admin = crate::create_admin(config, ADMIN_EMAIL, "Demo admin", password.clone())
        .await
        .context("creating the demo admin")?;
    crate::announce(&format!("demo admin {ADMIN_EMAIL} password {password}"));
    let ctx = commands::CommandContext::new(Some("cli:demo".into()));
    for (position, (slug, name)) in CATEGORIES.iter().enumerate() {
        commands
            .category_command(
                &ctx,
                CategoryCommand::Define {
                    slug: CategorySlug::parse(slug)?,
                    name: CategoryName::parse(name)?,
                    parent: None,
                    position: Position::new(position as i64)?,
                },
            )
            .await?;
    }
    let eur = Currency::parse("EUR")?;
    for (sku, name, description, category, price, stock, specifications) in PRODUCTS {
        let details = ProductDetails::with_media(
            ProductName::parse(name)?,
            Description::parse(description)?,
            CategorySlug::parse(category)?,
            specifications
                .iter()
                .map(|(n, v)| Specification::new(n, v))
                .collect::<Result<_, _>>()?,
            Vec::<Image>::new(),
        )?;
        let sku = Sku::parse(*sku)?;
        commands
            .create_product(
                &ctx,
                admin,
                sku.clone(),
                details,
                Money::new(*price, eur)?,
                Editor::Admin,
            )
            .await?;
        if *stock > 0 {
            commands
                .receive_stock(&ctx, sku, Quantity::new(*stock)?)
                .await?;
        }
    }
    tracing::info!(products = PRODUCTS.len(), "demo catalog seeded");
    Ok(())
}
