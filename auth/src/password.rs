//! argon2id password hashing.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// argon2id cost parameters. The defaults are OWASP's recommendation (19 MiB, 2 passes,
/// 1 lane).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Argon2Params {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Why hashing failed (bad parameters or a blocking-pool failure).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes and verifies passwords off the async runtime's worker threads.
#[derive(Clone)]
pub struct PasswordHasherService {
    params: Argon2Params,
    dummy: std::sync::Arc<String>,
}

fn argon2(params: Argon2Params) -> Result<Argon2<'static>, HashError> {
    let p = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        None,
    )
    .map_err(|e| HashError(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, p))
}

fn hash_blocking(params: Argon2Params, password: &str) -> Result<String, HashError> {
    let salt = SaltString::encode_b64(&crate::random_bytes::<16>())
        .map_err(|e| HashError(e.to_string()))?;
    argon2(params)?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

fn verify_blocking(password: &str, phc: &str) -> bool {
    // Parameters come from the stored hash, so old hashes keep verifying after a change.
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

impl PasswordHasherService {
    /// A hasher with the given cost; fails on invalid parameters.
    pub fn new(params: Argon2Params) -> Result<Self, HashError> {
        let dummy = hash_blocking(params, "dummy password for unknown accounts")?;
        Ok(PasswordHasherService {
            params,
            dummy: std::sync::Arc::new(dummy),
        })
    }

    /// A PHC-format argon2id hash of `password` with a fresh salt.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let params = self.params;
        tokio::task::spawn_blocking(move || hash_blocking(params, &password))
            .await
            .map_err(|e| HashError(e.to_string()))?
    }

    /// Whether `password` matches `phc`. With `None` (unknown account) a dummy hash is checked
    /// so the answer takes as long as for a known account, and is always false.
    pub async fn verify(&self, password: String, phc: Option<String>) -> bool {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy.as_ref().clone());
        let ok = tokio::task::spawn_blocking(move || verify_blocking(&password, &phc))
            .await
            .unwrap_or(false);
        ok && known
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasherService {
        PasswordHasherService::new(Argon2Params {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify() {
        let hasher = cheap();
        let a = hasher.hash("correct horse".into()).await.unwrap();
        let b = hasher.hash("correct horse".into()).await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(hasher.verify("correct horse".into(), Some(a.clone())).await);
        assert!(!hasher.verify("wrong horse".into(), Some(a)).await);
        assert!(!hasher.verify("anything".into(), None).await);
        assert!(
            !hasher
                .verify("anything".into(), Some("not a hash".into()))
                .await
        );
    }

    #[test]
    fn defaults_meet_owasp() {
        let d = Argon2Params::default();
        assert!(d.memory_kib >= 19 * 1024 && d.iterations >= 2 && d.parallelism >= 1);
    }
}
