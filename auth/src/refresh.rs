//! Opaque refresh tokens, stored hashed, rotated on use, revocable by family.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// Why a refresh token was refused.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown, revoked or expired.
    #[error("invalid refresh token")]
    Invalid,
    /// Already rotated: its family has been revoked.
    #[error("refresh token reused; the session has been revoked")]
    Reused,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// (family, account, expires, used, revoked) of a stored token.
type TokenRow = (
    Uuid,
    Uuid,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// Refresh token store.
#[derive(Clone)]
pub struct RefreshTokens {
    pool: PgPool,
    ttl: Duration,
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn new_token() -> String {
    URL_SAFE_NO_PAD.encode(crate::random_bytes::<32>())
}

impl RefreshTokens {
    /// Tokens in `pool`, living `ttl`.
    pub fn new(pool: PgPool, ttl: Duration) -> Self {
        RefreshTokens { pool, ttl }
    }

    fn expiry(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::days(7))
    }

    /// A token starting a new family (a login).
    pub async fn issue(&self, account_id: Uuid) -> Result<String, sqlx::Error> {
        let token = new_token();
        sqlx::query(
            "insert into refresh_tokens (token_hash, family_id, account_id, expires_at)
             values ($1, $2, $3, $4)",
        )
        .bind(digest(&token))
        .bind(Uuid::now_v7())
        .bind(account_id)
        .bind(self.expiry())
        .execute(&self.pool)
        .await?;
        Ok(token)
    }

    /// Exchanges a token for its successor; returns (account id, new token).
    pub async fn rotate(&self, token: &str) -> Result<(Uuid, String), RefreshError> {
        let mut tx = self.pool.begin().await?;
        let row: Option<TokenRow> = sqlx::query_as(
            "select family_id, account_id, expires_at, used_at, revoked_at
                 from refresh_tokens where token_hash = $1 for update",
        )
        .bind(digest(token))
        .fetch_optional(&mut *tx)
        .await?;
        let Some((family, account, expires_at, used_at, revoked_at)) = row else {
            return Err(RefreshError::Invalid);
        };
        if revoked_at.is_some() {
            return Err(RefreshError::Invalid);
        }
        if used_at.is_some() {
            sqlx::query(
                "update refresh_tokens set revoked_at = now()
                 where family_id = $1 and revoked_at is null",
            )
            .bind(family)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            tracing::warn!(%account, %family, "refresh token reused; family revoked");
            return Err(RefreshError::Reused);
        }
        if expires_at <= Utc::now() {
            return Err(RefreshError::Invalid);
        }
        sqlx::query("update refresh_tokens set used_at = now() where token_hash = $1")
            .bind(digest(token))
            .execute(&mut *tx)
            .await?;
        let next = new_token();
        sqlx::query(
            "insert into refresh_tokens (token_hash, family_id, account_id, expires_at)
             values ($1, $2, $3, $4)",
        )
        .bind(digest(&next))
        .bind(family)
        .bind(account)
        .bind(self.expiry())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((account, next))
    }

    /// Revokes the family of `token` (logout). Unknown tokens are ignored.
    pub async fn revoke(&self, token: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "update refresh_tokens set revoked_at = now()
             where revoked_at is null and family_id =
               (select family_id from refresh_tokens where token_hash = $1)",
        )
        .bind(digest(token))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Revokes every token of an account (password change, closing, role change).
    pub async fn revoke_account(&self, account_id: Uuid) -> Result<(), sqlx::Error> {
        sqlx::query(
            "update refresh_tokens set revoked_at = now()
             where account_id = $1 and revoked_at is null",
        )
        .bind(account_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
