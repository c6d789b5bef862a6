//! Conditional answers for the public catalog: the read model is the cache, so a public read
//! carries a strong `ETag` (a hash of the exact body) and a short `Cache-Control`, and a
//! matching `If-None-Match` gets `304 Not Modified` without a body.
//!
//! Anonymous answers are `public` (shared caches and CDNs may keep them for
//! [`PUBLIC_MAX_AGE_SECS`]); an answer to a signed-in caller may hold what only they see (a
//! seller's archived product, an admin's hidden reviews), so it is `private, no-cache`: the
//! browser keeps it and revalidates with the `ETag` every time.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// How long shared caches may keep a public catalog answer.
pub const PUBLIC_MAX_AGE_SECS: u32 = 5;

/// The strong entity tag of a body: 128 bits of its SHA-256, URL-safe base64, quoted.
pub fn etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!(
        "\"{}\"",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
    )
}

/// Whether `If-None-Match` names `tag` (or is `*`); weak tags compare by their value, as
/// RFC 9110 asks for `If-None-Match`.
fn matches(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == tag)
}

/// `value` as JSON with its `ETag` and `Cache-Control`, or `304` when the client has it.
pub fn conditional<T: Serialize>(
    request: &HeaderMap,
    public: bool,
    value: &T,
) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(value).map_err(|e| ApiError::internal(&e))?;
    let tag = etag(&body);
    let cache = if public {
        format!("public, max-age={PUBLIC_MAX_AGE_SECS}")
    } else {
        "private, no-cache".to_owned()
    };
    let mut headers = HeaderMap::new();
    // Both values are ASCII built here: base64 in quotes, and a fixed directive list.
    if let (Ok(tag), Ok(cache)) = (HeaderValue::from_str(&tag), HeaderValue::from_str(&cache)) {
        headers.insert(ETAG, tag);
        headers.insert(CACHE_CONTROL, cache);
    }
    if matches(request, &tag) {
        return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok((StatusCode::OK, headers, body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matching_tag_is_not_modified_and_another_is_sent_in_full() {
        let value = serde_json::json!({"sku": "MUG"});
        let tag = etag(&serde_json::to_vec(&value).unwrap());
        let mut request = HeaderMap::new();
        let full = conditional(&request, true, &value).unwrap();
        assert_eq!(full.status(), StatusCode::OK);
        assert_eq!(full.headers()[ETAG], tag.as_str());
        assert_eq!(full.headers()[CACHE_CONTROL], "public, max-age=5");
        request.insert(
            IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"other\", W/{tag}")).unwrap(),
        );
        let cached = conditional(&request, false, &value).unwrap();
        assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(cached.headers()[CACHE_CONTROL], "private, no-cache");
        request.insert(IF_NONE_MATCH, HeaderValue::from_static("\"stale\""));
        assert_eq!(
            conditional(&request, true, &value).unwrap().status(),
            StatusCode::OK
        );
    }
}
