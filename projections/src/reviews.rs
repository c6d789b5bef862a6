//! Reviews in the catalog read model (`catalog_reviews`), kept by
//! [`crate::catalog::CatalogProjection`]: each product's reviews, and its rating from the ones
//! not hidden.

use chrono::{DateTime, Utc};
use domain::review::ReviewEvent;
use events::RecordedEvent;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::projection::{decode_known, ProjectionError};

pub(crate) async fn apply(
    tx: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let Some(review) = decode_known::<ReviewEvent>(event)? else {
        return Ok(());
    };
    let at = event.recorded_at;
    let sku = match &review {
        ReviewEvent::ReviewSubmitted { sku, .. }
        | ReviewEvent::ReviewEdited { sku, .. }
        | ReviewEvent::ReviewHidden { sku, .. }
        | ReviewEvent::ReviewShown { sku, .. } => sku.as_str().to_owned(),
    };
    match review {
        ReviewEvent::ReviewSubmitted {
            sku,
            customer_id,
            order_id,
            rating,
            text,
        } => {
            sqlx::query(
                "insert into catalog_reviews
                   (sku, customer_id, order_id, rating, text, created_at, updated_at)
                 values ($1, $2, $3, $4, $5, $6, $6)
                 on conflict (sku, customer_id) do nothing",
            )
            .bind(sku.as_str())
            .bind(customer_id.as_uuid())
            .bind(order_id.as_uuid())
            .bind(i16::from(rating))
            .bind(text)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        ReviewEvent::ReviewEdited {
            sku,
            customer_id,
            rating,
            text,
        } => {
            sqlx::query(
                "update catalog_reviews set rating = $3, text = $4, updated_at = $5
                 where sku = $1 and customer_id = $2",
            )
            .bind(sku.as_str())
            .bind(customer_id.as_uuid())
            .bind(i16::from(rating))
            .bind(text)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        ReviewEvent::ReviewHidden {
            sku,
            customer_id,
            reason,
        } => {
            sqlx::query(
                "update catalog_reviews set hidden_at = $3, hide_reason = $4
                 where sku = $1 and customer_id = $2",
            )
            .bind(sku.as_str())
            .bind(customer_id.as_uuid())
            .bind(at)
            .bind(reason)
            .execute(&mut *tx)
            .await?;
        }
        ReviewEvent::ReviewShown { sku, customer_id } => {
            sqlx::query(
                "update catalog_reviews set hidden_at = null, hide_reason = null
                 where sku = $1 and customer_id = $2",
            )
            .bind(sku.as_str())
            .bind(customer_id.as_uuid())
            .execute(&mut *tx)
            .await?;
        }
    }
    // The product's rating, from its reviews not hidden (searches filter and sort on it).
    sqlx::query(
        "insert into catalog_ratings (sku, rating_count, rating_average)
         select $1, count(*), avg(rating)::float8 from catalog_reviews
         where sku = $1 and hidden_at is null
         on conflict (sku) do update set rating_count = excluded.rating_count,
           rating_average = excluded.rating_average",
    )
    .bind(&sku)
    .execute(&mut *tx)
    .await?;
    crate::catalog::copy_figures(tx, &sku).await?;
    Ok(())
}

/// A product's rating from its visible reviews.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct RatingSummary {
    /// Mean stars, to two decimals (`null` without reviews).
    pub average: Option<f64>,
    /// Visible reviews.
    pub count: i64,
}

impl RatingSummary {
    /// From a count and the mean of the ratings.
    pub fn new(count: i64, average: Option<f64>) -> Self {
        RatingSummary {
            average: average.map(|a| (a * 100.0).round() / 100.0),
            count,
        }
    }
}

/// A review as the catalog shows it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ReviewView {
    /// The reviewer's display name (`null` once the account is closed).
    pub author: Option<String>,
    /// Stars.
    pub rating: i16,
    /// What they say.
    pub text: String,
    /// When written.
    pub created_at: DateTime<Utc>,
    /// When last edited.
    pub updated_at: DateTime<Utc>,
    /// The reviewer (admins only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<Uuid>,
    /// Why it is hidden (admins only; only hidden reviews).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden_reason: Option<String>,
}

/// One page of a product's reviews.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ReviewPage {
    /// The product's rating.
    pub rating: RatingSummary,
    /// Newest first.
    pub items: Vec<ReviewView>,
    /// Page size.
    pub limit: i64,
    /// Skipped before this page.
    pub offset: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    author: Option<String>,
    rating: i16,
    text: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    customer_id: Uuid,
    hide_reason: Option<String>,
}

/// A product's reviews, newest first; hidden ones only when `moderator` (with the reviewer
/// and the reason).
pub async fn list_reviews(
    pool: &PgPool,
    sku: &str,
    moderator: bool,
    limit: i64,
    offset: i64,
) -> Result<ReviewPage, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "select case when a.closed then null else a.display_name end as author, r.rating, r.text,
                r.created_at, r.updated_at, r.customer_id, r.hide_reason
         from catalog_reviews r left join accounts a on a.account_id = r.customer_id
         where r.sku = $1 and ($2 or r.hidden_at is null)
         order by r.created_at desc, r.customer_id limit $3 offset $4",
    )
    .bind(sku)
    .bind(moderator)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let (count, average): (i64, Option<f64>) = sqlx::query_as(
        "select count(*), avg(rating)::float8 from catalog_reviews
         where sku = $1 and hidden_at is null",
    )
    .bind(sku)
    .fetch_one(pool)
    .await?;
    Ok(ReviewPage {
        rating: RatingSummary::new(count, average),
        items: rows
            .into_iter()
            .map(|r| ReviewView {
                author: r.author,
                rating: r.rating,
                text: r.text,
                created_at: r.created_at,
                updated_at: r.updated_at,
                customer_id: moderator.then_some(r.customer_id),
                hidden_reason: if moderator { r.hide_reason } else { None },
            })
            .collect(),
        limit,
        offset,
    })
}
