//! Erasable personal data: a vault of one encryption key per person (data subject), kept
//! outside the event log.
//!
//! A personal field (an email, a name, an address line) is stored in an event sealed with its
//! subject's key: XChaCha20-Poly1305 (the `chacha20poly1305` crate), a random nonce per value,
//! and the subject's id as associated data, so a sealed value cannot be passed off as another
//! person's. Erasing a person destroys the key: every value sealed for them, in the log, on
//! Kafka and in any copy, becomes unreadable at once, while the stored bytes, and so the hash
//! chains over them, stay as they were. The keyless row stays behind, so nothing is sealed for
//! an erased person again.
//!
//! This is the vault alone; events do not use it yet (issue 12, item 7).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

/// A value sealed for a subject, as stored in an event's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Whose value it is.
    pub subject: Uuid,
    /// The random nonce, base64.
    pub nonce: String,
    /// The ciphertext with its authentication tag, base64.
    pub ciphertext: String,
}

/// Why the vault could not seal or open a value.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The subject was erased: nothing may be sealed for them any more.
    #[error("subject {0} was erased")]
    Erased(Uuid),
    /// The sealed value is malformed or was altered.
    #[error("sealed value of {0} is malformed or altered")]
    Corrupt(Uuid),
    /// The key table failed.
    #[error("personal keys: {0}")]
    Database(#[from] sqlx::Error),
}

/// The per-subject keys, in the `personal_keys` table.
#[derive(Clone)]
pub struct Vault {
    pool: PgPool,
}

impl Vault {
    /// The vault in `pool`'s database.
    pub fn new(pool: PgPool) -> Vault {
        Vault { pool }
    }

    /// The subject's key, created on first use; `None` once erased.
    async fn key(&self, subject: Uuid) -> Result<Option<Vec<u8>>, VaultError> {
        let fresh = XChaCha20Poly1305::generate_key(&mut OsRng).to_vec();
        sqlx::query(
            "insert into personal_keys (subject, key) values ($1, $2) on conflict do nothing",
        )
        .bind(subject)
        .bind(&fresh)
        .execute(&self.pool)
        .await?;
        let (key,): (Option<Vec<u8>>,) =
            sqlx::query_as("select key from personal_keys where subject = $1")
                .bind(subject)
                .fetch_one(&self.pool)
                .await?;
        Ok(key)
    }

    /// Seals `plaintext` for `subject`.
    pub async fn seal(&self, subject: Uuid, plaintext: &str) -> Result<Sealed, VaultError> {
        let key = self
            .key(subject)
            .await?
            .ok_or(VaultError::Erased(subject))?;
        let cipher =
            XChaCha20Poly1305::new_from_slice(&key).map_err(|_| VaultError::Corrupt(subject))?;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: subject.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Corrupt(subject))?;
        Ok(Sealed {
            subject,
            nonce: BASE64.encode(nonce),
            ciphertext: BASE64.encode(ciphertext),
        })
    }

    /// Opens a sealed value: `None` when its subject was erased.
    pub async fn open(&self, sealed: &Sealed) -> Result<Option<String>, VaultError> {
        let subject = sealed.subject;
        let key: Option<(Option<Vec<u8>>,)> =
            sqlx::query_as("select key from personal_keys where subject = $1")
                .bind(subject)
                .fetch_optional(&self.pool)
                .await?;
        let Some(key) = key.and_then(|(k,)| k) else {
            return Ok(None);
        };
        let corrupt = || VaultError::Corrupt(subject);
        let nonce = BASE64.decode(&sealed.nonce).map_err(|_| corrupt())?;
        if nonce.len() != 24 {
            return Err(corrupt());
        }
        let ciphertext = BASE64.decode(&sealed.ciphertext).map_err(|_| corrupt())?;
        let cipher = XChaCha20Poly1305::new_from_slice(&key).map_err(|_| corrupt())?;
        let plaintext = cipher
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: subject.as_bytes(),
                },
            )
            .map_err(|_| corrupt())?;
        String::from_utf8(plaintext)
            .map(Some)
            .map_err(|_| corrupt())
    }

    /// Erases `subject`: destroys their key, for good. Erasing twice changes nothing.
    pub async fn erase(&self, subject: Uuid) -> Result<(), VaultError> {
        sqlx::query(
            "insert into personal_keys (subject, key, erased_at) values ($1, null, now())
             on conflict (subject) do update set key = null,
               erased_at = coalesce(personal_keys.erased_at, now())",
        )
        .bind(subject)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
