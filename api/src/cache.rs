//! Conditional answers for the public catalog: the read model is the cache, so a public read
//! carries a strong `ETag` (a hash of the exact body) and a short `Cache-Control`, and a
//! matching `If-None-Match` gets `304 Not Modified` without a body.
//!
//! Anonymous answers are `public` (shared caches and CDNs may keep them for
//! [`PUBLIC_MAX_AGE_SECS`]); an answer to a signed-in caller may hold what only they see (a
//! seller's archived product, an admin's hidden reviews), so it is `private, no-cache`: the
//! browser keeps it and revalidates with the `ETag` every time.
//!
//! Searches cost the database far more than they cost to send, and storefronts send the same
//! ones again and again (the first page of a category, a popular word), so an [`AnswerCache`]
//! keeps each search's serialized answer for a short time (`SEARCH_CACHE_MS`, one second by
//! default: the catalog is then at most that much older than its read model, as a search
//! index refreshed every second would be). A search that asks for `min_position` is never
//! answered from it, so read-your-writes stays exact.

use axum::body::Bytes;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

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

/// A serialized answer and its entity tag.
#[derive(Debug)]
pub struct Answer {
    body: Bytes,
    tag: String,
}

impl Answer {
    /// `value` as JSON, tagged.
    pub fn of<T: Serialize>(value: &T) -> Result<Answer, ApiError> {
        let body = serde_json::to_vec(value).map_err(|e| ApiError::internal(&e))?;
        let tag = etag(&body);
        Ok(Answer {
            body: body.into(),
            tag,
        })
    }
}

/// Largest total size of the answers an [`AnswerCache`] keeps.
const ANSWER_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Answers kept for a short time by a key that names everything they depend on (see the
/// module documentation). Concurrent misses on one key wait for a single computation, so a
/// burst of the same search reaches the database once. Cheap to clone (shared).
#[derive(Clone)]
pub struct AnswerCache {
    answers: Option<moka::future::Cache<String, Arc<Answer>>>,
}

impl AnswerCache {
    /// Keeps answers for `ttl`; a zero `ttl` keeps none.
    pub fn new(ttl: Duration) -> AnswerCache {
        let answers = (!ttl.is_zero()).then(|| {
            moka::future::Cache::builder()
                .time_to_live(ttl)
                .weigher(|key: &String, answer: &Arc<Answer>| {
                    u32::try_from(key.len() + answer.body.len()).unwrap_or(u32::MAX)
                })
                .max_capacity(ANSWER_CACHE_BYTES)
                .build()
        });
        AnswerCache { answers }
    }

    /// The answer kept under `key`, or the one `compute` makes (kept unless it failed).
    pub async fn get_or_compute<F>(&self, key: String, compute: F) -> Result<Arc<Answer>, ApiError>
    where
        F: std::future::Future<Output = Result<Answer, ApiError>>,
    {
        match &self.answers {
            None => compute.await.map(Arc::new),
            Some(answers) => answers
                .try_get_with(key, async { compute.await.map(Arc::new) })
                .await
                .map_err(Arc::unwrap_or_clone),
        }
    }
}

/// `value` as JSON with its `ETag` and `Cache-Control`, or `304` when the client has it.
pub fn conditional<T: Serialize>(
    request: &HeaderMap,
    public: bool,
    value: &T,
) -> Result<Response, ApiError> {
    Ok(respond(request, public, &Answer::of(value)?))
}

/// `answer` with its `ETag` and `Cache-Control`, or `304` when the client has it.
pub fn respond(request: &HeaderMap, public: bool, answer: &Answer) -> Response {
    let Answer { body, tag } = answer;
    let cache = if public {
        format!("public, max-age={PUBLIC_MAX_AGE_SECS}")
    } else {
        "private, no-cache".to_owned()
    };
    let mut headers = HeaderMap::new();
    // Both values are ASCII built here: base64 in quotes, and a fixed directive list.
    if let (Ok(tag), Ok(cache)) = (HeaderValue::from_str(tag), HeaderValue::from_str(&cache)) {
        headers.insert(ETAG, tag);
        headers.insert(CACHE_CONTROL, cache);
    }
    if matches(request, tag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    (StatusCode::OK, headers, body.clone()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn fetch(cache: &AnswerCache, key: &str, runs: &AtomicUsize, fail: bool) -> bool {
        cache
            .get_or_compute(key.to_owned(), async {
                runs.fetch_add(1, Ordering::SeqCst);
                if fail {
                    Err(ApiError::bad_request("invalid_query", "no"))
                } else {
                    Answer::of(&key)
                }
            })
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn answers_are_kept_per_key_for_their_time_and_failures_never() {
        let runs = AtomicUsize::new(0);
        let cache = AnswerCache::new(Duration::from_secs(60));
        assert!(fetch(&cache, "a", &runs, false).await);
        assert!(fetch(&cache, "a", &runs, false).await);
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "the second answer came from the cache"
        );
        assert!(fetch(&cache, "b", &runs, false).await);
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "another key is another answer"
        );
        assert!(!fetch(&cache, "c", &runs, true).await);
        assert!(fetch(&cache, "c", &runs, false).await);
        assert_eq!(runs.load(Ordering::SeqCst), 4, "a failure is not kept");

        let short = AnswerCache::new(Duration::from_millis(30));
        let runs = AtomicUsize::new(0);
        assert!(fetch(&short, "a", &runs, false).await);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(fetch(&short, "a", &runs, false).await);
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "an expired answer is made again"
        );

        let off = AnswerCache::new(Duration::ZERO);
        let runs = AtomicUsize::new(0);
        assert!(fetch(&off, "a", &runs, false).await);
        assert!(fetch(&off, "a", &runs, false).await);
        assert_eq!(runs.load(Ordering::SeqCst), 2, "a zero time keeps nothing");
    }

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
