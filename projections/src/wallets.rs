//! Wallet read model: each account's store-credit balances and its statement.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::wallet::{Wallet, WalletEvent};
use domain::Aggregate;
use events::RecordedEvent;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::catalog::Price;
use crate::projection::{decode_known, Projection, ProjectionError};

/// Builds `wallet_balances` and `wallet_entries`.
pub struct WalletProjection;

#[async_trait]
impl Projection for WalletProjection {
    fn name(&self) -> &'static str {
        "wallets"
    }

    fn categories(&self) -> &'static [&'static str] {
        &[Wallet::CATEGORY]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["wallet_balances", "wallet_entries"]
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let Some(movement) = decode_known::<WalletEvent>(event)? else {
            return Ok(());
        };
        let (account_id, amount, sign, order_id, reason) = match &movement {
            WalletEvent::CreditGranted {
                account_id,
                amount,
                reason,
            } => (account_id, amount, 1, None, Some(reason.as_str())),
            WalletEvent::CreditWithdrawn {
                account_id,
                amount,
                reason,
            } => (account_id, amount, -1, None, Some(reason.as_str())),
            WalletEvent::CreditSpent {
                account_id,
                order_id,
                amount,
            } => (account_id, amount, -1, Some(order_id), None),
            WalletEvent::CreditReturned {
                account_id,
                order_id,
                amount,
            } => (account_id, amount, 1, Some(order_id), None),
            WalletEvent::CreditRefunded {
                account_id,
                order_id,
                amount,
            } => (account_id, amount, 1, Some(order_id), None),
        };
        sqlx::query(
            "insert into wallet_balances (account_id, currency, balance_minor, updated_at)
             values ($1, $2, $3, $4)
             on conflict (account_id, currency) do update
               set balance_minor = wallet_balances.balance_minor + excluded.balance_minor,
                   updated_at = excluded.updated_at",
        )
        .bind(account_id.as_uuid())
        .bind(amount.currency().as_str())
        .bind(sign * amount.amount_minor())
        .bind(event.recorded_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "insert into wallet_entries
               (account_id, position, kind, amount_minor, currency, order_id, reason, recorded_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(account_id.as_uuid())
        .bind(event.stream_version)
        .bind(domain::DomainEvent::event_type(&movement))
        .bind(sign * amount.amount_minor())
        .bind(amount.currency().as_str())
        .bind(order_id.map(|o| o.as_uuid()))
        .bind(reason)
        .bind(event.recorded_at)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

/// One movement of a wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct WalletEntry {
    /// `CreditGranted`, `CreditWithdrawn`, `CreditSpent`, `CreditReturned` or `CreditRefunded`.
    pub kind: String,
    /// Signed amount in minor units: positive adds to the balance.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// The order, for spending and returns.
    pub order_id: Option<Uuid>,
    /// Why, for grants and withdrawals.
    pub reason: Option<String>,
    /// When.
    pub recorded_at: DateTime<Utc>,
}

/// An account's store credit: balances and the newest movements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct WalletView {
    /// The account.
    pub account_id: Uuid,
    /// Balance per currency (none until credit was granted).
    pub balances: Vec<Price>,
    /// The newest 100 movements, newest first.
    pub statement: Vec<WalletEntry>,
}

/// An account's wallet.
pub async fn get_wallet(pool: &PgPool, account_id: Uuid) -> Result<WalletView, sqlx::Error> {
    let balances: Vec<(i64, String)> = sqlx::query_as(
        "select balance_minor, currency from wallet_balances
         where account_id = $1 order by currency",
    )
    .bind(account_id)
    .fetch_all(pool)
    .await?;
    let statement = sqlx::query_as(
        "select kind, amount_minor, currency, order_id, reason, recorded_at from wallet_entries
         where account_id = $1 order by position desc limit 100",
    )
    .bind(account_id)
    .fetch_all(pool)
    .await?;
    Ok(WalletView {
        account_id,
        balances: balances
            .into_iter()
            .map(|(amount_minor, currency)| Price {
                amount_minor,
                currency,
            })
            .collect(),
        statement,
    })
}
