//! Hash chains over the log.
//!
//! An event's canonical bytes are the compact JSON of its envelope without positions, with
//! object keys sorted: `{"event_id","event_type","metadata","payload","recorded_at",
//! "schema_version","stream_id","stream_version"}` (`recorded_at` in RFC 3339 with
//! microseconds, as stored). Then
//!
//! - `hash = SHA-256(previous hash of the same stream || canonical bytes)`, 32 zero bytes before
//!   a stream's first event;
//! - `global_hash = SHA-256(previous global_hash || hash)`, 32 zero bytes before the log's first
//!   event.
//!
//! Editing an event breaks its stream chain; deleting, inserting or reordering events breaks a
//! stream chain or the global chain. Whoever can rewrite the database can also recompute every
//! hash from some point on: compare the head hash with one recorded elsewhere (the output of
//! `commerce verify` or `GET /audit/verify`) to catch that.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::envelope::Metadata;

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The hash "before" the first event.
pub const GENESIS: Hash = [0; 32];

/// The fields an event's hash covers.
pub struct Sealed<'a> {
    /// Event id.
    pub event_id: Uuid,
    /// Stream.
    pub stream_id: &'a str,
    /// Version within the stream.
    pub stream_version: i64,
    /// Type name.
    pub event_type: &'a str,
    /// Schema version.
    pub schema_version: i32,
    /// Data.
    pub payload: &'a Value,
    /// Correlation, causation, actor.
    pub metadata: &'a Metadata,
    /// Time of recording (microsecond precision, as stored).
    pub recorded_at: DateTime<Utc>,
}

/// The canonical bytes of an event.
pub fn canonical(event: &Sealed<'_>) -> Vec<u8> {
    // serde_json maps keep keys sorted, so equal content gives equal bytes.
    let value = json!({
        "event_id": event.event_id,
        "stream_id": event.stream_id,
        "stream_version": event.stream_version,
        "event_type": event.event_type,
        "schema_version": event.schema_version,
        "payload": event.payload,
        "metadata": event.metadata,
        "recorded_at": event.recorded_at.to_rfc3339_opts(SecondsFormat::Micros, true),
    });
    serde_json::to_vec(&sorted(value)).unwrap_or_default()
}

fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// `SHA-256(previous || bytes)`.
pub fn link(previous: &Hash, bytes: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(bytes);
    hasher.finalize().into()
}

/// A hash as bytes of a database column, or [`GENESIS`] when absent.
pub fn from_column(bytes: Option<&[u8]>) -> Hash {
    bytes
        .and_then(|b| <Hash>::try_from(b).ok())
        .unwrap_or(GENESIS)
}

/// Lower-case hex.
pub fn hex(hash: &Hash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Truncates a timestamp to what PostgreSQL stores (microseconds).
pub fn to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed<'a>(payload: &'a Value, metadata: &'a Metadata) -> Sealed<'a> {
        Sealed {
            event_id: Uuid::nil(),
            stream_id: "order-1",
            stream_version: 1,
            event_type: "OrderPlaced",
            schema_version: 1,
            payload,
            metadata,
            recorded_at: DateTime::from_timestamp_micros(1_700_000_000_000_001).unwrap(),
        }
    }

    #[test]
    fn canonical_bytes_ignore_key_order_but_not_content() {
        let m = Metadata::default();
        let a = serde_json::from_str::<Value>(r#"{"b":1,"a":{"y":2,"x":3}}"#).unwrap();
        let b = serde_json::from_str::<Value>(r#"{"a":{"x":3,"y":2},"b":1}"#).unwrap();
        let c = serde_json::from_str::<Value>(r#"{"a":{"x":3,"y":2},"b":2}"#).unwrap();
        assert_eq!(canonical(&sealed(&a, &m)), canonical(&sealed(&b, &m)));
        assert_ne!(canonical(&sealed(&a, &m)), canonical(&sealed(&c, &m)));
        let text = String::from_utf8(canonical(&sealed(&a, &m))).unwrap();
        assert!(text.starts_with(r#"{"event_id":"#), "{text}");
        assert!(
            text.contains(r#""recorded_at":"2023-11-14T22:13:20.000001Z""#),
            "{text}"
        );
    }

    #[test]
    fn links_chain() {
        let one = link(&GENESIS, b"one");
        let two = link(&one, b"two");
        assert_ne!(one, two);
        assert_ne!(link(&GENESIS, b"two"), two, "depends on the previous hash");
        assert_eq!(hex(&GENESIS).len(), 64);
    }
}
