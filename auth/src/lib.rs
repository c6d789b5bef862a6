//! Authentication building blocks, independent of HTTP.
//!
//! - [`password`]: argon2id hashing and verification on blocking threads, with a dummy hash so
//!   an unknown account costs as much as a wrong password;
//! - [`jwt`]: short-lived HS256 access tokens; anything but the exact expected header is
//!   refused (`alg: none` included);
//! - [`refresh`]: opaque refresh tokens stored hashed, rotated on every use; re-using a rotated
//!   token revokes its whole family;
//! - [`credentials`]: where password hashes live (never in events);
//! - [`rate`]: in-memory rate limits.

pub mod credentials;
pub mod jwt;
pub mod password;
pub mod rate;
pub mod refresh;

use std::time::Duration;

/// Authentication settings.
#[derive(Clone)]
pub struct AuthConfig {
    /// HMAC key for access tokens (at least 32 bytes).
    pub jwt_secret: Vec<u8>,
    /// Access token lifetime.
    pub access_ttl: Duration,
    /// Refresh token lifetime.
    pub refresh_ttl: Duration,
    /// argon2id parameters.
    pub argon2: password::Argon2Params,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("jwt_secret", &"<redacted>")
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("argon2", &self.argon2)
            .finish()
    }
}

/// Random bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    use rand::RngCore;
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}
