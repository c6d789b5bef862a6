//! HS256 JSON Web Tokens for access.
//!
//! Only one algorithm is accepted, HS256 with this server's key: a token whose header names
//! anything else (`none`, `RS256`, ...) is refused before its signature is looked at, so there
//! is no algorithm confusion. Signatures are compared in constant time.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use domain::account::Role;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
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

#[derive(Deserialize)]
struct Header {
    alg: String,
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Issues and verifies access tokens.
#[derive(Clone)]
pub struct JwtKeys {
    secret: Vec<u8>,
    ttl: Duration,
}

impl JwtKeys {
    /// Keys from a secret (callers ensure at least 32 bytes) and a token lifetime.
    pub fn new(secret: Vec<u8>, ttl: Duration) -> Self {
        JwtKeys { secret, ttl }
    }

    /// Token lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length.
        Hmac::<Sha256>::new_from_slice(&self.secret).expect("hmac key")
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
        let body = serde_json::to_vec(&claims).expect("claims serialize");
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(HEADER),
            URL_SAFE_NO_PAD.encode(body)
        );
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        (format!("{signing_input}.{signature}"), claims)
    }

    /// Verifies a token at `now` (Unix seconds).
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: Header = URL_SAFE_NO_PAD
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if header.alg != "HS256" {
            return Err(TokenError::UnsupportedAlgorithm);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(h.as_bytes());
        mac.update(b".");
        mac.update(p.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if claims.iss != ISSUER {
            return Err(TokenError::WrongIssuer);
        }
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
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
        for alg in ["none", "None", "RS256", "HS512"] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            for sig in ["", "AAAA"] {
                let forged = format!("{header}.{payload}.{sig}");
                assert_eq!(
                    keys().verify(&forged, 1_000),
                    Err(TokenError::UnsupportedAlgorithm),
                    "{alg}"
                );
            }
        }
    }

    #[test]
    fn garbage_is_malformed() {
        for t in ["", "a.b", "a.b.c.d", "!!.??.**"] {
            assert_eq!(keys().verify(t, 0), Err(TokenError::Malformed), "{t}");
        }
    }
}
