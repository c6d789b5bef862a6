//! Accounts read model: the admins' view of accounts and roles. Holds no credential.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::account::Account;
use domain::account::AccountEvent;
use domain::Aggregate;
use events::RecordedEvent;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::projection::{decode_known, Projection, ProjectionError};

/// Builds `accounts`.
pub struct AccountProjection;

#[async_trait]
impl Projection for AccountProjection {
    fn name(&self) -> &'static str {
        "accounts"
    }

    fn categories(&self) -> &'static [&'static str] {
        &[Account::CATEGORY]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["accounts"]
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let Some(account) = decode_known::<AccountEvent>(event)? else {
            return Ok(());
        };
        let at = event.recorded_at;
        let query = match &account {
            AccountEvent::AccountRegistered {
                account_id,
                email,
                display_name,
                roles,
            } => sqlx::query(
                "insert into accounts (account_id, email, display_name, roles, registered_at, updated_at)
                 values ($1, $2, $3, $4, $5, $5)",
            )
            .bind(account_id.as_uuid())
            .bind(email.as_str())
            .bind(display_name)
            .bind(roles.iter().map(|r| r.as_str()).collect::<Vec<_>>())
            .bind(at),
            AccountEvent::AccountProfileChanged {
                account_id,
                display_name,
            } => sqlx::query("update accounts set display_name = $2, updated_at = $3 where account_id = $1")
                .bind(account_id.as_uuid())
                .bind(display_name)
                .bind(at),
            AccountEvent::AccountPasswordChanged { account_id } => {
                sqlx::query("update accounts set updated_at = $2 where account_id = $1")
                    .bind(account_id.as_uuid())
                    .bind(at)
            }
            AccountEvent::AccountClosed { account_id } => {
                sqlx::query("update accounts set closed = true, updated_at = $2 where account_id = $1")
                    .bind(account_id.as_uuid())
                    .bind(at)
            }
            AccountEvent::AccountRoleGranted { account_id, role } => sqlx::query(
                "update accounts set roles = array(select distinct unnest(roles || $2::text) order by 1),
                   updated_at = $3 where account_id = $1",
            )
            .bind(account_id.as_uuid())
            .bind(role.as_str())
            .bind(at),
            AccountEvent::AccountRoleRevoked { account_id, role } => sqlx::query(
                "update accounts set roles = array_remove(roles, $2::text), updated_at = $3
                 where account_id = $1",
            )
            .bind(account_id.as_uuid())
            .bind(role.as_str())
            .bind(at),
        };
        query.execute(tx).await?;
        Ok(())
    }
}

/// An account as admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AccountView {
    /// The account.
    pub account_id: Uuid,
    /// Normalized email.
    pub email: String,
    /// Name shown to others.
    pub display_name: String,
    /// Current roles.
    pub roles: Vec<String>,
    /// Closed accounts cannot sign in.
    pub closed: bool,
    /// When it was opened.
    pub registered_at: DateTime<Utc>,
}

/// One account.
pub async fn get_account(
    pool: &PgPool,
    account_id: Uuid,
) -> Result<Option<AccountView>, sqlx::Error> {
    sqlx::query_as(
        "select account_id, email, display_name, roles, closed, registered_at
         from accounts where account_id = $1",
    )
    .bind(account_id)
    .fetch_optional(pool)
    .await
}

/// Accounts in id order after `after` (keyset pagination).
pub async fn list_accounts(
    pool: &PgPool,
    limit: i64,
    after: Option<Uuid>,
) -> Result<Vec<AccountView>, sqlx::Error> {
    sqlx::query_as(
        "select account_id, email, display_name, roles, closed, registered_at
         from accounts where ($1::uuid is null or account_id > $1)
         order by account_id limit $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}
