//! The Kafka record of an event.
//!
//! - key: the stream id (`order-<uuid>`, `inventory-<sku>`, ...), so one aggregate's events
//!   share a partition and keep their order;
//! - value: the JSON envelope ([`events::RecordedEvent`]);
//! - headers: `event_id`, `event_type`, `schema_version`, `stream_id`, `stream_version`,
//!   `global_position`, `correlation_id`, `content_type`, and `traceparent` (W3C trace
//!   context) when the command that appended the event was traced.

use events::RecordedEvent;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};

/// Headers carried by every record.
pub fn headers(event: &RecordedEvent) -> OwnedHeaders {
    let event_id = event.event_id.to_string();
    let schema_version = event.schema_version.to_string();
    let stream_version = event.stream_version.to_string();
    let position = event.global_position.to_string();
    let correlation = event.metadata.correlation_id.to_string();
    let pairs: [(&str, &str); 8] = [
        ("event_id", &event_id),
        ("event_type", &event.event_type),
        ("schema_version", &schema_version),
        ("stream_id", &event.stream_id),
        ("stream_version", &stream_version),
        ("global_position", &position),
        ("correlation_id", &correlation),
        ("content_type", "application/json"),
    ];
    let headers = pairs.iter().fold(
        OwnedHeaders::new_with_capacity(pairs.len() + 1),
        |h, (k, v)| {
            h.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            })
        },
    );
    match event.metadata.traceparent.as_deref() {
        Some(traceparent) => headers.insert(Header {
            key: "traceparent",
            value: Some(traceparent.as_bytes()),
        }),
        None => headers,
    }
}

/// The record value: the envelope as JSON.
pub fn value(event: &RecordedEvent) -> Vec<u8> {
    serde_json::to_vec(event).unwrap_or_default()
}

/// Reads an event back from a record.
pub fn decode<M: Message>(message: &M) -> Result<RecordedEvent, String> {
    let payload = message.payload().ok_or("record has no value")?;
    serde_json::from_slice(payload)
        .map_err(|e| format!("record value is not an event envelope: {e}"))
}

/// A header's value as text.
pub fn header<'a, M: Message>(message: &'a M, name: &str) -> Option<&'a str> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
}
