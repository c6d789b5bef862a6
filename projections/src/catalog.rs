//! Catalog read model: products with their current content, price and stock on hand, archived
//! ones kept for their sellers; stock corrections and low-stock thresholds; the category tree
//! ([`crate::categories`]).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::category::CategoryTree;
use domain::inventory::Inventory;
use domain::inventory::InventoryEvent;
use domain::product::Product;
use domain::product::ProductEvent;
use domain::review::Review;
use domain::Aggregate;
use events::RecordedEvent;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use crate::projection::{decode_known, Projection, ProjectionError};
use crate::reviews::RatingSummary;

/// Builds `catalog_products` and `catalog_stock`.
pub struct CatalogProjection;

#[async_trait]
impl Projection for CatalogProjection {
    fn name(&self) -> &'static str {
        "catalog"
    }

    fn categories(&self) -> &'static [&'static str] {
        &[
            Product::CATEGORY,
            Inventory::CATEGORY,
            CategoryTree::CATEGORY,
            Review::CATEGORY,
        ]
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "catalog_products",
            "catalog_stock",
            "catalog_categories",
            "catalog_reviews",
            "catalog_ratings",
            "catalog_words",
        ]
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        match event.category() {
            Product::CATEGORY => apply_product(tx, event).await,
            CategoryTree::CATEGORY => crate::categories::apply(tx, event).await,
            Review::CATEGORY => crate::reviews::apply(tx, event).await,
            _ => {
                let mut run = StockRun::default();
                if let Some(inventory) = decode_known::<InventoryEvent>(event)? {
                    run.add(&inventory);
                }
                Ok(run.flush(tx).await?)
            }
        }
    }

    /// Stock movements (one or more per order) are folded per SKU and written with three
    /// statements per run; product, category and review events apply one by one between
    /// runs, so each sees the stock as of its place in the log.
    async fn apply_batch(
        &self,
        tx: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut stock = StockRun::default();
        for event in events {
            if event.category() == Inventory::CATEGORY {
                if let Some(inventory) = decode_known::<InventoryEvent>(event)? {
                    stock.add(&inventory);
                }
                continue;
            }
            stock.flush(tx).await?;
            self.apply(tx, event).await?;
        }
        stock.flush(tx).await?;
        Ok(())
    }
}

/// Stock movements of a run of inventory events, per SKU. Deltas add up and thresholds are
/// last-write-wins on their own column, so folding a run equals applying it in order.
#[derive(Default)]
struct StockRun {
    /// SKU to (received, available, adjusted, sold) deltas.
    deltas: BTreeMap<String, [i64; 4]>,
    /// SKU to its last threshold.
    thresholds: BTreeMap<String, i32>,
}

impl StockRun {
    fn add(&mut self, inventory: &InventoryEvent) {
        let (sku, delta) = match inventory {
            InventoryEvent::StockReceived { sku, quantity } => {
                let n = i64::from(quantity.get());
                (sku, [n, n, 0, 0])
            }
            InventoryEvent::StockReserved { sku, quantity, .. } => {
                let n = i64::from(quantity.get());
                (sku, [0, -n, 0, n])
            }
            InventoryEvent::StockReleased { sku, quantity, .. }
            | InventoryEvent::StockReturned { sku, quantity, .. } => {
                let n = i64::from(quantity.get());
                (sku, [0, n, 0, -n])
            }
            InventoryEvent::StockAdjusted { sku, change, .. } => (sku, [0, *change, *change, 0]),
            InventoryEvent::LowStockThresholdSet { sku, threshold } => {
                self.thresholds
                    .insert(sku.as_str().to_owned(), i64::from(*threshold) as i32);
                return;
            }
        };
        let sum = self.deltas.entry(sku.as_str().to_owned()).or_default();
        for (total, d) in sum.iter_mut().zip(delta) {
            *total += d;
        }
    }

    async fn flush(&mut self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        let run = std::mem::take(self);
        if !run.thresholds.is_empty() {
            let (skus, thresholds): (Vec<String>, Vec<i32>) = run.thresholds.into_iter().unzip();
            sqlx::query(
                "insert into catalog_stock (sku, low_stock_threshold)
                 select * from unnest($1::text[], $2::int4[])
                 on conflict (sku) do update set low_stock_threshold = excluded.low_stock_threshold",
            )
            .bind(&skus)
            .bind(&thresholds)
            .execute(&mut *tx)
            .await?;
        }
        if run.deltas.is_empty() {
            return Ok(());
        }
        let skus: Vec<&str> = run.deltas.keys().map(String::as_str).collect();
        let column = |i: usize| run.deltas.values().map(|d| d[i]).collect::<Vec<i64>>();
        sqlx::query(
            "insert into catalog_stock (sku, received, available, adjusted, sold)
             select * from unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[])
             on conflict (sku) do update set received = catalog_stock.received + excluded.received,
               available = catalog_stock.available + excluded.available,
               adjusted = catalog_stock.adjusted + excluded.adjusted,
               sold = catalog_stock.sold + excluded.sold",
        )
        .bind(&skus)
        .bind(column(0))
        .bind(column(1))
        .bind(column(2))
        .bind(column(3))
        .execute(&mut *tx)
        .await?;
        copy_figures_of(tx, &skus).await?;
        Ok(())
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
            specifications,
            images,
            pending_approval,
        } => {
            let draft = pending_approval.then(|| {
                sqlx::types::Json(DraftContent {
                    name: name.clone(),
                    description: description.clone(),
                    category: category.clone(),
                    specifications: specifications.iter().map(SpecificationView::from).collect(),
                    images: images.iter().map(ImageView::from).collect(),
                })
            });
            sqlx::query(
                "insert into catalog_products
                   (sku, name, description, category, price_minor, currency, created_at, updated_at,
                    seller_id, specifications, images, published, draft, draft_status, draft_at)
                 values ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $11, $12,
                   case when $12::jsonb is null then null else 'pending' end,
                   case when $12::jsonb is null then null else $7 end)
                 on conflict (sku) do update set name = excluded.name, seller_id = excluded.seller_id,
                   description = excluded.description, category = excluded.category,
                   price_minor = excluded.price_minor, currency = excluded.currency,
                   updated_at = excluded.updated_at, specifications = excluded.specifications,
                   images = excluded.images, published = excluded.published,
                   draft = excluded.draft, draft_status = excluded.draft_status,
                   draft_at = excluded.draft_at",
            )
            .bind(sku.as_str())
            .bind(name)
            .bind(description)
            .bind(category)
            .bind(price.amount_minor())
            .bind(price.currency().as_str())
            .bind(event.recorded_at)
            .bind(seller_id.as_uuid())
            .bind(sqlx::types::Json(&specifications))
            .bind(sqlx::types::Json(&images))
            .bind(!pending_approval)
            .bind(draft)
            .execute(&mut *tx)
            .await?;
            index_content(&mut *tx, sku.as_str()).await?;
            copy_figures(tx, sku.as_str()).await?;
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
        ProductEvent::ProductEdited {
            sku,
            name,
            description,
            category,
            specifications,
            images,
        }
        | ProductEvent::ProductApproved {
            sku,
            name,
            description,
            category,
            specifications,
            images,
        } => {
            // Public content now; whatever waited is settled.
            sqlx::query(
                "update catalog_products set name = $2, description = $3, category = $4,
                   specifications = $5, images = $6, updated_at = $7, published = true,
                   draft = null, draft_status = null, draft_reason = null, draft_at = null
                 where sku = $1",
            )
            .bind(sku.as_str())
            .bind(name)
            .bind(description)
            .bind(category)
            .bind(sqlx::types::Json(&specifications))
            .bind(sqlx::types::Json(&images))
            .bind(event.recorded_at)
            .execute(&mut *tx)
            .await?;
            index_content(tx, sku.as_str()).await?;
        }
        ProductEvent::ProductChangesProposed {
            sku,
            name,
            description,
            category,
            specifications,
            images,
        } => {
            let draft = DraftContent {
                name,
                description,
                category,
                specifications: specifications.iter().map(SpecificationView::from).collect(),
                images: images.iter().map(ImageView::from).collect(),
            };
            sqlx::query(
                "update catalog_products set draft = $2, draft_status = 'pending',
                   draft_reason = null, draft_at = $3
                 where sku = $1",
            )
            .bind(sku.as_str())
            .bind(sqlx::types::Json(draft))
            .bind(event.recorded_at)
            .execute(tx)
            .await?;
        }
        ProductEvent::ProductRejected { sku, reason } => {
            sqlx::query(
                "update catalog_products set draft_status = 'rejected', draft_reason = $2
                 where sku = $1",
            )
            .bind(sku.as_str())
            .bind(reason)
            .execute(tx)
            .await?;
        }
        ProductEvent::ProductArchived { sku, reason } => {
            sqlx::query(
                "update catalog_products set archived_at = $2, archive_reason = $3, updated_at = $2
                 where sku = $1",
            )
            .bind(sku.as_str())
            .bind(event.recorded_at)
            .bind(reason)
            .execute(tx)
            .await?;
        }
        ProductEvent::ProductRestored { sku } => {
            sqlx::query(
                "update catalog_products set archived_at = null, archive_reason = null,
                   updated_at = $2
                 where sku = $1",
            )
            .bind(sku.as_str())
            .bind(event.recorded_at)
            .execute(tx)
            .await?;
        }
    }
    Ok(())
}

/// Copies a product's stock figures and rating onto its row, for searches (see the
/// migration `0015_search.sql`); nothing happens while the product's row does not exist.
pub(crate) async fn copy_figures(tx: &mut PgConnection, sku: &str) -> Result<(), sqlx::Error> {
    copy_figures_of(tx, &[sku]).await
}

/// [`copy_figures`] for several products in one statement.
async fn copy_figures_of(tx: &mut PgConnection, skus: &[&str]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update catalog_products p set
           available = coalesce((select s.available from catalog_stock s where s.sku = p.sku), 0),
           sold = coalesce((select s.sold from catalog_stock s where s.sku = p.sku), 0),
           rating_average = (select r.rating_average from catalog_ratings r where r.sku = p.sku),
           rating_count = coalesce(
             (select r.rating_count from catalog_ratings r where r.sku = p.sku), 0)
         where p.sku = any($1)",
    )
    .bind(skus)
    .execute(tx)
    .await?;
    Ok(())
}

/// Recomputes a product's search document from its public content, in the catalog's
/// language, and adds its words to the vocabulary once it is public (a draft's words never
/// show up as corrections).
async fn index_content(tx: &mut PgConnection, sku: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "with cfg as (select language from catalog_settings),
         indexed as (
           update catalog_products p
              set search_document = catalog_document((select language from cfg),
                                                     p.name, p.description, p.specifications)
            where p.sku = $1
            returning p.name || ' ' || p.description || ' '
                      || catalog_specifications_text(p.specifications) as body, p.published)
         insert into catalog_words (word, lexeme)
         select w.word, w.lexeme
         from indexed, catalog_words_of((select language from cfg), indexed.body) w
         where indexed.published
         on conflict (word) do nothing",
    )
    .bind(sku)
    .execute(tx)
    .await?;
    Ok(())
}

/// A price as shown to clients: integer minor units and an ISO 4217 code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Price {
    /// Amount in minor units (cents).
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// One line of a product's specification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SpecificationView {
    /// Attribute.
    pub name: String,
    /// Value.
    pub value: String,
}

impl From<&domain::product::Specification> for SpecificationView {
    fn from(s: &domain::product::Specification) -> Self {
        SpecificationView {
            name: s.name().to_owned(),
            value: s.value().to_owned(),
        }
    }
}

impl From<&domain::product::Image> for ImageView {
    fn from(i: &domain::product::Image) -> Self {
        ImageView {
            url: i.url().to_owned(),
            alt: i.alt().to_owned(),
        }
    }
}

/// Content waiting for approval (or refused), as the seller and admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DraftContent {
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Category slug.
    pub category: String,
    /// Ordered attribute lines.
    pub specifications: Vec<SpecificationView>,
    /// Images in display order.
    pub images: Vec<ImageView>,
}

/// A draft with its standing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DraftView {
    /// The proposed content.
    #[serde(flatten)]
    pub content: DraftContent,
    /// `pending` or `rejected`.
    pub status: String,
    /// Why an admin refused it.
    pub reason: Option<String>,
    /// When it was proposed.
    pub proposed_at: Option<DateTime<Utc>>,
}

/// A product image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImageView {
    /// Where it is.
    pub url: String,
    /// What it shows.
    pub alt: String,
}

/// A catalog entry.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ProductView {
    /// SKU, the product's identity.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Category.
    pub category: String,
    /// Ordered attribute lines.
    pub specifications: Vec<SpecificationView>,
    /// Images in display order.
    pub images: Vec<ImageView>,
    /// Current unit price.
    pub price: Price,
    /// Units available for new orders.
    pub stock_on_hand: i64,
    /// The seller who listed it.
    pub seller_id: Option<uuid::Uuid>,
    /// When the product was listed.
    pub created_at: DateTime<Utc>,
    /// Out of the catalog: not listed, not purchasable (only its seller and admins see it).
    pub archived: bool,
    /// Stars from its visible reviews.
    pub rating: RatingSummary,
}

/// What the seller (and admins) see of a product beyond the public entry.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SellerProductView {
    /// The catalog entry.
    #[serde(flatten)]
    pub product: ProductView,
    /// Why it was archived, while it is.
    pub archive_reason: Option<String>,
    /// Units received in total.
    pub received: i64,
    /// Net units added or taken away by corrections.
    pub adjusted: i64,
    /// Low once at most this many units are available (`null`: never set).
    pub low_stock_threshold: Option<i64>,
    /// At or below the threshold now.
    pub low_stock: bool,
    /// Its seller is suspended: the product is out of the catalog until reinstated.
    pub seller_suspended: bool,
    /// Its content was approved: it is public (unless archived or its seller suspended).
    pub published: bool,
    /// Content waiting for approval, or refused with a reason.
    pub draft: Option<DraftView>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ProductRow {
    sku: String,
    name: String,
    description: String,
    category: String,
    specifications: sqlx::types::Json<Vec<SpecificationView>>,
    images: sqlx::types::Json<Vec<ImageView>>,
    price_minor: i64,
    currency: String,
    stock_on_hand: i64,
    seller_id: Option<uuid::Uuid>,
    created_at: DateTime<Utc>,
    archived_at: Option<DateTime<Utc>>,
    archive_reason: Option<String>,
    received: i64,
    adjusted: i64,
    low_stock_threshold: Option<i32>,
    rating_count: i64,
    rating_average: Option<f64>,
    seller_suspended: bool,
    published: bool,
    draft: Option<sqlx::types::Json<DraftContent>>,
    draft_status: Option<String>,
    draft_reason: Option<String>,
    draft_at: Option<DateTime<Utc>>,
}

impl From<ProductRow> for SellerProductView {
    fn from(r: ProductRow) -> Self {
        let threshold = r.low_stock_threshold.map(i64::from);
        SellerProductView {
            low_stock: threshold.is_some_and(|t| r.stock_on_hand <= t),
            low_stock_threshold: threshold,
            archive_reason: r.archive_reason,
            seller_suspended: r.seller_suspended,
            published: r.published,
            draft: r
                .draft
                .zip(r.draft_status)
                .map(|(content, status)| DraftView {
                    content: content.0,
                    status,
                    reason: r.draft_reason,
                    proposed_at: r.draft_at,
                }),
            received: r.received,
            adjusted: r.adjusted,
            product: ProductView {
                sku: r.sku,
                name: r.name,
                description: r.description,
                category: r.category,
                specifications: r.specifications.0,
                images: r.images.0,
                price: Price {
                    amount_minor: r.price_minor,
                    currency: r.currency,
                },
                stock_on_hand: r.stock_on_hand,
                seller_id: r.seller_id,
                created_at: r.created_at,
                archived: r.archived_at.is_some(),
                rating: RatingSummary::new(r.rating_count, r.rating_average),
            },
        }
    }
}

impl From<ProductRow> for ProductView {
    fn from(r: ProductRow) -> Self {
        SellerProductView::from(r).product
    }
}

/// One page of the catalog.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ProductPage<T = ProductView> {
    /// Products on this page, by SKU.
    pub items: Vec<T>,
    /// Products matching the filter, on all pages.
    pub total: i64,
    /// Page size asked for.
    pub limit: i64,
    /// Products skipped before this page.
    pub offset: i64,
}

pub(crate) const SELECT_PRODUCTS: &str = "select p.sku, p.name, p.description, p.category,
       p.specifications, p.images, p.price_minor, p.currency,
       coalesce(s.available, 0) as stock_on_hand, p.seller_id, p.created_at, p.archived_at,
       p.archive_reason, coalesce(s.received, 0) as received, coalesce(s.adjusted, 0) as adjusted,
       s.low_stock_threshold, p.rating_count, p.rating_average,
       exists (select 1 from sellers sl where sl.account_id = p.seller_id
               and sl.status = 'suspended') as seller_suspended,
       p.published, p.draft, p.draft_status, p.draft_reason, p.draft_at
     from catalog_products p left join catalog_stock s on s.sku = p.sku";

/// A seller's own products by SKU, archived ones included, with their stock figures.
pub async fn list_seller_products(
    pool: &PgPool,
    seller_id: uuid::Uuid,
    limit: i64,
    offset: i64,
) -> Result<ProductPage<SellerProductView>, sqlx::Error> {
    let rows: Vec<ProductRow> = sqlx::query_as(&format!(
        "{SELECT_PRODUCTS} where p.seller_id = $1 order by p.sku limit $2 offset $3"
    ))
    .bind(seller_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let (total,): (i64,) =
        sqlx::query_as("select count(*) from catalog_products where seller_id = $1")
            .bind(seller_id)
            .fetch_one(pool)
            .await?;
    Ok(ProductPage {
        items: rows.into_iter().map(SellerProductView::from).collect(),
        total,
        limit,
        offset,
    })
}

/// One product by SKU, archived or not, with its seller's figures (callers decide what to
/// show to whom).
pub async fn get_product(
    pool: &PgPool,
    sku: &str,
) -> Result<Option<SellerProductView>, sqlx::Error> {
    let row: Option<ProductRow> = sqlx::query_as(&format!("{SELECT_PRODUCTS} where p.sku = $1"))
        .bind(sku)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(SellerProductView::from))
}

/// Products with content waiting for approval, the longest waiting first.
pub async fn waiting_for_approval(
    pool: &PgPool,
    limit: i64,
    offset: i64,
) -> Result<ProductPage<SellerProductView>, sqlx::Error> {
    let rows: Vec<ProductRow> = sqlx::query_as(&format!(
        "{SELECT_PRODUCTS} where p.draft_status = 'pending'
         order by p.draft_at, p.sku limit $1 offset $2"
    ))
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let (total,): (i64,) =
        sqlx::query_as("select count(*) from catalog_products where draft_status = 'pending'")
            .fetch_one(pool)
            .await?;
    Ok(ProductPage {
        items: rows.into_iter().map(SellerProductView::from).collect(),
        total,
        limit,
        offset,
    })
}
