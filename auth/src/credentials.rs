//! Password hash storage.

use sqlx::PgPool;
use uuid::Uuid;

/// Stores one password hash per account.
#[derive(Clone)]
pub struct Credentials {
    pool: PgPool,
}

impl Credentials {
    /// Credentials in `pool`.
    pub fn new(pool: PgPool) -> Self {
        Credentials { pool }
    }

    /// Sets (or replaces) an account's hash.
    pub async fn set(&self, account_id: Uuid, password_hash: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "insert into credentials (account_id, password_hash) values ($1, $2)
             on conflict (account_id) do update set password_hash = excluded.password_hash,
               updated_at = now()",
        )
        .bind(account_id)
        .bind(password_hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An account's hash, if it has one.
    pub async fn get(&self, account_id: Uuid) -> Result<Option<String>, sqlx::Error> {
        let row: Option<(String,)> =
            sqlx::query_as("select password_hash from credentials where account_id = $1")
                .bind(account_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(h,)| h))
    }

    /// Forgets an account's hash (its personal data was erased). Forgetting twice is fine.
    pub async fn remove(&self, account_id: Uuid) -> Result<(), sqlx::Error> {
        sqlx::query("delete from credentials where account_id = $1")
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
