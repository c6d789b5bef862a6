//! Seller read model: every application and seller with its status and commission, for the
//! back office, the public store profile and the catalog (which leaves out the products of
//! suspended sellers).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::seller::{Seller, SellerEvent, SellerStatus};
use domain::Aggregate;
use events::RecordedEvent;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::projection::{decode_known, Projection, ProjectionError};

/// Builds `sellers`.
pub struct SellerProjection;

#[async_trait]
impl Projection for SellerProjection {
    fn name(&self) -> &'static str {
        "sellers"
    }

    fn categories(&self) -> &'static [&'static str] {
        &[Seller::CATEGORY]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["sellers"]
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let Some(seller) = decode_known::<SellerEvent>(event)? else {
            return Ok(());
        };
        let at = event.recorded_at;
        let (account_id, status, commission, reason) = match &seller {
            SellerEvent::SellerApplied {
                account_id,
                store_name,
                description,
            } => {
                sqlx::query(
                    "insert into sellers
                       (account_id, store_name, description, status, applied_at, updated_at)
                     values ($1, $2, $3, $4, $5, $5)
                     on conflict (account_id) do update set store_name = excluded.store_name,
                       description = excluded.description, status = excluded.status,
                       reason = null, applied_at = excluded.applied_at,
                       updated_at = excluded.updated_at",
                )
                .bind(account_id.as_uuid())
                .bind(store_name)
                .bind(description)
                .bind(SellerStatus::Applied.as_str())
                .bind(at)
                .execute(tx)
                .await?;
                return Ok(());
            }
            SellerEvent::SellerVerified {
                account_id,
                commission_bp,
            } => (
                account_id,
                Some(SellerStatus::Verified),
                Some(*commission_bp),
                None,
            ),
            SellerEvent::SellerRejected { account_id, reason } => {
                (account_id, Some(SellerStatus::Rejected), None, Some(reason))
            }
            SellerEvent::SellerCommissionSet {
                account_id,
                commission_bp,
            } => (account_id, None, Some(*commission_bp), None),
            SellerEvent::SellerSuspended { account_id, reason } => (
                account_id,
                Some(SellerStatus::Suspended),
                None,
                Some(reason),
            ),
            SellerEvent::SellerReinstated { account_id } => {
                (account_id, Some(SellerStatus::Verified), None, None)
            }
        };
        sqlx::query(
            "update sellers set status = coalesce($2, status),
               commission_bp = coalesce($3, commission_bp),
               reason = case when $2 is null then reason else $4 end, updated_at = $5
             where account_id = $1",
        )
        .bind(account_id.as_uuid())
        .bind(status.map(SellerStatus::as_str))
        .bind(commission.map(i32::from))
        .bind(reason)
        .bind(at)
        .execute(tx)
        .await?;
        Ok(())
    }
}

/// A seller as the back office sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct SellerView {
    /// The account.
    pub account_id: Uuid,
    /// The store's name.
    pub store_name: String,
    /// What it sells.
    pub description: String,
    /// `applied`, `verified`, `rejected` or `suspended`.
    pub status: String,
    /// Commission in basis points.
    pub commission_bp: i32,
    /// Why it was rejected or suspended, while it is.
    pub reason: Option<String>,
    /// When it (last) applied.
    pub applied_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A store as the public sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct StoreView {
    /// The seller's account.
    pub account_id: Uuid,
    /// The store's name.
    pub store_name: String,
    /// What it sells.
    pub description: String,
}

const SELECT: &str = "select account_id, store_name, description, status, commission_bp, reason,
       applied_at, updated_at from sellers";

/// One seller or application.
pub async fn get_seller(
    pool: &PgPool,
    account_id: Uuid,
) -> Result<Option<SellerView>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} where account_id = $1"))
        .bind(account_id)
        .fetch_optional(pool)
        .await
}

/// Sellers and applications, optionally in one status, oldest application first.
pub async fn list_sellers(
    pool: &PgPool,
    status: Option<SellerStatus>,
    limit: i64,
    offset: i64,
) -> Result<Vec<SellerView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} where ($1::text is null or status = $1)
         order by applied_at, account_id limit $2 offset $3"
    ))
    .bind(status.map(SellerStatus::as_str))
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await
}

/// A verified seller's public store profile.
pub async fn store(pool: &PgPool, account_id: Uuid) -> Result<Option<StoreView>, sqlx::Error> {
    sqlx::query_as(
        "select account_id, store_name, description from sellers
         where account_id = $1 and status = 'verified'",
    )
    .bind(account_id)
    .fetch_optional(pool)
    .await
}

/// SQL condition (on `catalog_products p`): its seller is not suspended.
pub(crate) const NOT_SUSPENDED: &str = "not exists (select 1 from sellers sl
     where sl.account_id = p.seller_id and sl.status = 'suspended')";
