//! Wishlist read model: each customer's items with the price they had when added; read
//! together with the catalog for the current price, stock and whether the price dropped.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::wishlist::{Wishlist, WishlistEvent};
use domain::Aggregate;
use events::RecordedEvent;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::catalog::Price;
use crate::projection::{decode_known, Projection, ProjectionError};

/// Builds `wishlist_items`.
pub struct WishlistProjection;

#[async_trait]
impl Projection for WishlistProjection {
    fn name(&self) -> &'static str {
        "wishlists"
    }

    fn categories(&self) -> &'static [&'static str] {
        &[Wishlist::CATEGORY]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["wishlist_items"]
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        match decode_known::<WishlistEvent>(event)? {
            Some(WishlistEvent::WishlistItemAdded {
                customer_id,
                sku,
                price,
            }) => {
                sqlx::query(
                    "insert into wishlist_items
                       (customer_id, sku, added_price_minor, added_currency, added_at)
                     values ($1, $2, $3, $4, $5)
                     on conflict (customer_id, sku) do nothing",
                )
                .bind(customer_id.as_uuid())
                .bind(sku.as_str())
                .bind(price.amount_minor())
                .bind(price.currency().as_str())
                .bind(event.recorded_at)
                .execute(tx)
                .await?;
            }
            Some(WishlistEvent::WishlistItemRemoved { customer_id, sku }) => {
                sqlx::query("delete from wishlist_items where customer_id = $1 and sku = $2")
                    .bind(customer_id.as_uuid())
                    .bind(sku.as_str())
                    .execute(tx)
                    .await?;
            }
            None => {}
        }
        Ok(())
    }
}

/// One wishlist item as a customer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct WishlistItemView {
    /// The product.
    pub sku: String,
    /// Its name now (`null` if it is no longer in the catalog).
    pub name: Option<String>,
    /// Its price when it was added.
    pub added_price: Price,
    /// Its price now.
    pub price: Option<Price>,
    /// Units available now.
    pub stock_on_hand: i64,
    /// It can be bought now (in the catalog, not archived, its seller not suspended).
    pub available: bool,
    /// It costs less now than when it was added (same currency).
    pub price_dropped: bool,
    /// When it was added.
    pub added_at: DateTime<Utc>,
}

/// A customer's wishlist.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct WishlistView {
    /// Items, the most recently added first.
    pub items: Vec<WishlistItemView>,
}

#[derive(sqlx::FromRow)]
struct Row {
    sku: String,
    name: Option<String>,
    added_price_minor: i64,
    added_currency: String,
    price_minor: Option<i64>,
    currency: Option<String>,
    stock_on_hand: i64,
    archived: Option<bool>,
    added_at: DateTime<Utc>,
}

/// The customer's wishlist with current prices and stock.
pub async fn get_wishlist(pool: &PgPool, customer_id: Uuid) -> Result<WishlistView, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "select w.sku, p.name, w.added_price_minor, w.added_currency, p.price_minor, p.currency,
                coalesce(s.available, 0) as stock_on_hand,
                not p.published or p.archived_at is not null or exists (select 1 from sellers sl
                  where sl.account_id = p.seller_id and sl.status = 'suspended') as archived,
                w.added_at
         from wishlist_items w
         left join catalog_products p on p.sku = w.sku
         left join catalog_stock s on s.sku = w.sku
         where w.customer_id = $1
         order by w.added_at desc, w.sku",
    )
    .bind(customer_id)
    .fetch_all(pool)
    .await?;
    let items = rows
        .into_iter()
        .map(|r| {
            let price = r
                .price_minor
                .zip(r.currency)
                .map(|(amount_minor, currency)| Price {
                    amount_minor,
                    currency,
                });
            let price_dropped = price.as_ref().is_some_and(|p| {
                p.currency == r.added_currency && p.amount_minor < r.added_price_minor
            });
            WishlistItemView {
                sku: r.sku,
                available: r.archived == Some(false),
                name: r.name,
                added_price: Price {
                    amount_minor: r.added_price_minor,
                    currency: r.added_currency,
                },
                price,
                stock_on_hand: r.stock_on_hand,
                price_dropped,
                added_at: r.added_at,
            }
        })
        .collect();
    Ok(WishlistView { items })
}
