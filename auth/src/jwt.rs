//! HS256 JSON Web Tokens for access, signed and checked by the `jsonwebtoken` crate.
//!
//! Only one algorithm is accepted, HS256 with this server's key: a token whose header names
//! anything else (`none`, `RS256`, ...) is refused, so there is no algorithm confusion. The
//! issuer must be this engine's. Expiry is checked against the caller's clock (`now`), so
//! tests can move time.

use std::time::Duration;

use domain::account::Role;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Issuer written into and required from every token.
pub const ISSUER: &str = "commerce";

/// What an access token asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Account id.
    pub sub: Uuid,
    /// Roles at issue time.
    pub roles: Vec<Role>,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Token id.
    pub jti: Uuid,
    /// Issuer.
    pub iss: String,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts of JSON.
    #[error("malformed token")]
    Malformed,
    /// The header names an algorithm other than HS256.
    #[error("unsupported token algorithm")]
    UnsupportedAlgorithm,
    /// The signature does not match.
    #[error("invalid token signature")]
    BadSignature,
    /// Past its expiry.
    #[error("token expired")]
    Expired,
    /// Issued by someone else.
    #[error("token issuer not accepted")]
    WrongIssuer,
}

/// Issues and verifies access tokens.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl JwtKeys {
    /// Keys from a secret (callers ensure at least 32 bytes) and a token lifetime.
    pub fn new(secret: Vec<u8>, ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        // Expiry is checked in `verify` against the caller's clock.
        validation.validate_exp = false;
        JwtKeys {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            validation,
            ttl,
        }
    }

    /// Token lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A signed token for `sub` with `roles`, valid from `now` (Unix seconds) for the TTL.
    pub fn issue(&self, sub: Uuid, roles: Vec<Role>, now: i64) -> (String, Claims) {
        let claims = Claims {
            sub,
            roles,
            iat: now,
            exp: now + self.ttl.as_secs() as i64,
            jti: Uuid::now_v7(),
            iss: ISSUER.to_owned(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with a secret cannot fail");
        (token, claims)
    }

    /// Verifies a token at `now` (Unix seconds).
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    TokenError::UnsupportedAlgorithm
                }
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Malformed,
            })?;
        if data.claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::new(
            b"0123456789abcdef0123456789abcdef".to_vec(),
            Duration::from_secs(900),
        )
    }

    #[test]
    fn a_fresh_token_verifies() {
        let sub = Uuid::now_v7();
        let (token, claims) = keys().issue(sub, vec![Role::Customer], 1_000);
        assert_eq!(claims.exp, 1_900);
        assert_eq!(keys().verify(&token, 1_500), Ok(claims));
    }

    #[test]
    fn an_expired_token_is_refused() {
        let (token, _) = keys().issue(Uuid::now_v7(), vec![], 1_000);
        assert_eq!(keys().verify(&token, 1_900), Err(TokenError::Expired));
    }

    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    #[test]
    fn a_tampered_token_is_refused() {
        let (token, _) = keys().issue(Uuid::now_v7(), vec![Role::Customer], 1_000);
        let parts: Vec<&str> = token.split('.').collect();
        let forged_claims = URL_SAFE_NO_PAD.encode(
            URL_SAFE_NO_PAD
                .decode(parts[1])
                .map(|b| String::from_utf8(b).unwrap().replace("customer", "admin"))
                .unwrap(),
        );
        let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
        assert_eq!(keys().verify(&forged, 1_000), Err(TokenError::BadSignature));
        let other_key = JwtKeys::new(
            b"another key of at least 32 bytes!!".to_vec(),
            Duration::from_secs(900),
        );
        assert_eq!(
            other_key.verify(&token, 1_000),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
        let (token, _) = keys().issue(Uuid::now_v7(), vec![Role::Admin], 1_000);
        let payload = token.split('.').nth(1).unwrap();
        for alg in ["none", "None", "RS256", "HS512", "ES256"] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            for sig in ["", "AAAA"] {
                let forged = format!("{header}.{payload}.{sig}");
                let refused = keys().verify(&forged, 1_000);
                assert!(
                    matches!(
                        refused,
                        Err(TokenError::UnsupportedAlgorithm | TokenError::Malformed)
                    ),
                    "{alg}: {refused:?}"
                );
            }
        }
        // A correctly signed token of another HMAC algorithm is still refused.
        let claims = keys().verify(&token, 1_000).unwrap();
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
        assert_eq!(
            keys().verify(&hs512, 1_000),
            Err(TokenError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn another_issuer_is_refused() {
        let mut claims = keys().issue(Uuid::now_v7(), vec![], 1_000).1;
        claims.iss = "someone-else".into();
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
        assert_eq!(keys().verify(&token, 1_000), Err(TokenError::WrongIssuer));
    }

    #[test]
    fn garbage_is_malformed() {
        for t in ["", "a.b", "a.b.c.d", "!!.??.**"] {
            assert_eq!(keys().verify(t, 0), Err(TokenError::Malformed), "{t}");
        }
    }
}
