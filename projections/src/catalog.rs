//! Catalog read model: products with their current price and stock on hand.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::inventory::Inventory;
use domain::inventory::InventoryEvent;
use domain::product::Product;
use domain::product::ProductEvent;
use domain::Aggregate;
use events::RecordedEvent;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::projection::{decode_known, Projection, ProjectionError};

/// Builds `catalog_products` and `catalog_stock`.
pub struct CatalogProjection;

#[async_trait]
impl Projection for CatalogProjection {
    fn name(&self) -> &'static str {
        "catalog"
    }

    fn categories(&self) -> &'static [&'static str] {
        &[Product::CATEGORY, Inventory::CATEGORY]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["catalog_products", "catalog_stock"]
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        if event.category() == Product::CATEGORY {
            apply_product(tx, event).await
        } else {
            apply_inventory(tx, event).await
        }
    }
}

async fn apply_product(
    tx: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let Some(product) = decode_known::<ProductEvent>(event)? else {
        return Ok(());
    };
    match product {
        ProductEvent::ProductCreated {
            sku,
            seller_id,
            name,
            description,
            category,
            price,
        } => {
            sqlx::query(
                "insert into catalog_products
                   (sku, name, description, category, price_minor, currency, created_at, updated_at,
                    seller_id)
                 values ($1, $2, $3, $4, $5, $6, $7, $7, $8)
                 on conflict (sku) do update set name = excluded.name, seller_id = excluded.seller_id,
                   description = excluded.description, category = excluded.category,
                   price_minor = excluded.price_minor, currency = excluded.currency,
                   updated_at = excluded.updated_at",
            )
            .bind(sku.as_str())
            .bind(name)
            .bind(description)
            .bind(category)
            .bind(price.amount_minor())
            .bind(price.currency().as_str())
            .bind(event.recorded_at)
            .bind(seller_id.as_uuid())
            .execute(tx)
            .await?;
        }
        ProductEvent::ProductPriceChanged { sku, price } => {
            sqlx::query(
                "update catalog_products set price_minor = $2, currency = $3, updated_at = $4
                 where sku = $1",
            )
            .bind(sku.as_str())
            .bind(price.amount_minor())
            .bind(price.currency().as_str())
            .bind(event.recorded_at)
            .execute(tx)
            .await?;
        }
    }
    Ok(())
}

async fn apply_inventory(
    tx: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let Some(inventory) = decode_known::<InventoryEvent>(event)? else {
        return Ok(());
    };
    let (sku, received, available) = match &inventory {
        InventoryEvent::StockReceived { sku, quantity } => {
            (sku, i64::from(quantity.get()), i64::from(quantity.get()))
        }
        InventoryEvent::StockReserved { sku, quantity, .. } => (sku, 0, -i64::from(quantity.get())),
        InventoryEvent::StockReleased { sku, quantity, .. } => (sku, 0, i64::from(quantity.get())),
        InventoryEvent::StockReturned { sku, quantity, .. } => (sku, 0, i64::from(quantity.get())),
    };
    sqlx::query(
        "insert into catalog_stock (sku, received, available) values ($1, $2, $3)
         on conflict (sku) do update set received = catalog_stock.received + excluded.received,
           available = catalog_stock.available + excluded.available",
    )
    .bind(sku.as_str())
    .bind(received)
    .bind(available)
    .execute(tx)
    .await?;
    Ok(())
}

/// A price as shown to clients: integer minor units and an ISO 4217 code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Price {
    /// Amount in minor units (cents).
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// A catalog entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProductView {
    /// SKU, the product's identity.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Category.
    pub category: String,
    /// Current unit price.
    pub price: Price,
    /// Units available for new orders.
    pub stock_on_hand: i64,
    /// The seller who listed it.
    pub seller_id: Option<uuid::Uuid>,
    /// When the product was listed.
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct ProductRow {
    sku: String,
    name: String,
    description: String,
    category: String,
    price_minor: i64,
    currency: String,
    stock_on_hand: i64,
    seller_id: Option<uuid::Uuid>,
    created_at: DateTime<Utc>,
}

impl From<ProductRow> for ProductView {
    fn from(r: ProductRow) -> Self {
        ProductView {
            sku: r.sku,
            name: r.name,
            description: r.description,
            category: r.category,
            price: Price {
                amount_minor: r.price_minor,
                currency: r.currency,
            },
            stock_on_hand: r.stock_on_hand,
            seller_id: r.seller_id,
            created_at: r.created_at,
        }
    }
}

/// One page of the catalog.
#[derive(Debug, Clone, Serialize)]
pub struct ProductPage {
    /// Products on this page, by SKU.
    pub items: Vec<ProductView>,
    /// Products matching the filter, on all pages.
    pub total: i64,
    /// Page size asked for.
    pub limit: i64,
    /// Products skipped before this page.
    pub offset: i64,
}

const SELECT_PRODUCTS: &str = "select p.sku, p.name, p.description, p.category, p.price_minor,
       p.currency, coalesce(s.available, 0) as stock_on_hand, p.seller_id, p.created_at
     from catalog_products p left join catalog_stock s on s.sku = p.sku";

/// Lists products by SKU, optionally in one category (offset pagination).
pub async fn list_products(
    pool: &PgPool,
    category: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<ProductPage, sqlx::Error> {
    let rows: Vec<ProductRow> = sqlx::query_as(&format!(
        "{SELECT_PRODUCTS} where ($1::text is null or p.category = $1)
         order by p.sku limit $2 offset $3"
    ))
    .bind(category)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let (total,): (i64,) = sqlx::query_as(
        "select count(*) from catalog_products where ($1::text is null or category = $1)",
    )
    .bind(category)
    .fetch_one(pool)
    .await?;
    Ok(ProductPage {
        items: rows.into_iter().map(ProductView::from).collect(),
        total,
        limit,
        offset,
    })
}

/// One product by SKU.
pub async fn get_product(pool: &PgPool, sku: &str) -> Result<Option<ProductView>, sqlx::Error> {
    let row: Option<ProductRow> = sqlx::query_as(&format!("{SELECT_PRODUCTS} where p.sku = $1"))
        .bind(sku)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(ProductView::from))
}
