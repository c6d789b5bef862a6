//! Accounts read model: the admins' view of accounts and roles. Holds no credential.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::account::Account;
use domain::account::{AccountEvent, Email, ERASED_TEXT};
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
        self.apply_batch(tx, &[event]).await
    }

    /// Each run of registrations (the bulk of this stream) is one multi-row insert; the
    /// rarer changes between runs are one statement each, in order.
    async fn apply_batch(
        &self,
        tx: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut registered = Registrations::default();
        for event in events {
            let Some(account) = decode_known::<AccountEvent>(event)? else {
                continue;
            };
            if let AccountEvent::AccountRegistered {
                account_id,
                email,
                display_name,
                roles,
            } = &account
            {
                registered.ids.push(account_id.as_uuid());
                registered.emails.push(email.as_str().to_owned());
                registered.names.push(display_name.clone());
                registered.roles.push(
                    roles
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                );
                registered.at.push(event.recorded_at);
                continue;
            }
            registered.flush(tx).await?;
            change(tx, &account, event.recorded_at).await?;
        }
        registered.flush(tx).await?;
        Ok(())
    }
}

/// Registrations waiting to be inserted together.
#[derive(Default)]
struct Registrations {
    ids: Vec<Uuid>,
    emails: Vec<String>,
    names: Vec<String>,
    /// Role names joined by commas (role names have none).
    roles: Vec<String>,
    at: Vec<DateTime<Utc>>,
}

impl Registrations {
    async fn flush(&mut self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "insert into accounts (account_id, email, display_name, roles, registered_at, updated_at)
             select id, email, name, string_to_array(roles, ','), at, at
             from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
               as r(id, email, name, roles, at)",
        )
        .bind(&self.ids)
        .bind(&self.emails)
        .bind(&self.names)
        .bind(&self.roles)
        .bind(&self.at)
        .execute(tx)
        .await?;
        *self = Registrations::default();
        Ok(())
    }
}

/// Applies one change other than a registration.
async fn change(
    tx: &mut PgConnection,
    account: &AccountEvent,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let query = match account {
        AccountEvent::AccountRegistered { .. } => return Ok(()),
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
        AccountEvent::AccountErased { account_id } => {
            // The notifier's record of what it sent names the address too.
            sqlx::query(
                "update notifications_sent n set recipient = $2
                 from accounts a where a.account_id = $1 and n.recipient = a.email",
            )
            .bind(account_id.as_uuid())
            .bind(ERASED_TEXT)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "update accounts set email = $2, display_name = $3, updated_at = $4
                 where account_id = $1",
            )
            .bind(account_id.as_uuid())
            .bind(Email::erased(account_id.as_uuid()).as_str().to_owned())
            .bind(ERASED_TEXT)
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

/// An account as admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
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
