//! Upcasting: stored events keep the schema version they were written with; readers get the
//! current one. Each upcaster lifts one event type by one version, and they chain (v1 -> v2 ->
//! v3 ...), so an old event written years ago still reads as today's type.
//!
//! Stored bytes never change (the hash chains cover them); upcasting happens on every read
//! path that hands events out: the store's `read_stream` and `read_all` (aggregates, the relay
//! and therefore Kafka, the embedded projections), the order history, and `codec::decode`
//! (for records that reached Kafka before an upgrade).

use serde_json::Value;

use crate::codec::CATALOGUE;
use crate::envelope::RecordedEvent;

/// Lifts `event_type` payloads from `from` to `from + 1`.
struct Upcaster {
    event_type: &'static str,
    from: i32,
    lift: fn(Value) -> Value,
}

/// `OrderPaid` v1 -> v2: `payment_method` was added. v1 never recorded it, so it becomes
/// `unspecified`.
fn order_paid_v1_to_v2(mut payload: Value) -> Value {
    if let Value::Object(map) = &mut payload {
        map.entry("payment_method")
            .or_insert_with(|| Value::String("unspecified".into()));
    }
    payload
}

/// `OrderPaid` v2 -> v3: `offline` was added; every payment before it counts as made through
/// the provider (`false`), as the engine treated it then.
fn order_paid_v2_to_v3(mut payload: Value) -> Value {
    if let Value::Object(map) = &mut payload {
        map.entry("offline").or_insert(Value::Bool(false));
    }
    payload
}

/// `OrderPlaced` v1 had no addresses, store credit or charges: v2 records them, `null` for
/// orders placed before.
fn order_placed_v1_to_v2(mut payload: Value) -> Value {
    if let Value::Object(map) = &mut payload {
        for member in [
            "shipping_address",
            "billing_address",
            "credit_applied",
            "subtotal",
            "shipping",
            "tax",
            "shipping_method",
        ] {
            map.entry(member).or_insert(Value::Null);
        }
    }
    payload
}

/// `ProductCreated` v1 had no specification, images or approval: v2 records them, empty on
/// products listed before, which were public at once (`pending_approval: false`).
fn product_created_v1_to_v2(mut payload: Value) -> Value {
    if let Value::Object(map) = &mut payload {
        for member in ["specifications", "images"] {
            map.entry(member).or_insert_with(|| Value::Array(vec![]));
        }
        map.entry("pending_approval").or_insert(Value::Bool(false));
    }
    payload
}

const UPCASTERS: &[Upcaster] = &[
    Upcaster {
        event_type: "ProductCreated",
        from: 1,
        lift: product_created_v1_to_v2,
    },
    Upcaster {
        event_type: "OrderPaid",
        from: 1,
        lift: order_paid_v1_to_v2,
    },
    Upcaster {
        event_type: "OrderPaid",
        from: 2,
        lift: order_paid_v2_to_v3,
    },
    Upcaster {
        event_type: "OrderPlaced",
        from: 1,
        lift: order_placed_v1_to_v2,
    },
];

/// The current schema version of an event type, if the type is known.
pub fn current_version(event_type: &str) -> Option<i32> {
    CATALOGUE
        .iter()
        .find(|t| t.name == event_type)
        .map(|t| i32::from(t.schema_version))
}

/// Lifts a payload to the current schema version of its type. Errors for unknown types,
/// versions newer than this build, and gaps in the upcaster chain.
pub fn to_current(
    event_type: &str,
    mut version: i32,
    mut payload: Value,
) -> Result<(i32, Value), String> {
    let current =
        current_version(event_type).ok_or_else(|| format!("unknown event type {event_type}"))?;
    if version > current {
        return Err(format!(
            "{event_type} v{version} is newer than this build knows (v{current})"
        ));
    }
    while version < current {
        let step = UPCASTERS
            .iter()
            .find(|u| u.event_type == event_type && u.from == version)
            .ok_or_else(|| format!("no upcaster for {event_type} v{version}"))?;
        payload = (step.lift)(payload);
        version += 1;
    }
    Ok((version, payload))
}

/// The event in its type's current schema. Events that cannot be lifted (unknown types,
/// newer versions) are handed out unchanged for the decoder to refuse or skip.
pub fn upcast(mut event: RecordedEvent) -> RecordedEvent {
    let needs = current_version(&event.event_type).is_some_and(|c| event.schema_version < c);
    if needs {
        let payload = std::mem::take(&mut event.payload);
        match to_current(&event.event_type, event.schema_version, payload.clone()) {
            Ok((version, lifted)) => {
                event.schema_version = version;
                event.payload = lifted;
            }
            Err(reason) => {
                tracing::warn!(event_id = %event.event_id, %reason, "cannot upcast");
                event.payload = payload;
            }
        }
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn order_paid_v1_gains_an_unspecified_payment_method() {
        let (v, payload) = to_current("OrderPaid", 1, json!({"order_id": "x"})).unwrap();
        assert_eq!(v, 3);
        assert_eq!(payload["payment_method"], "unspecified");
        assert_eq!(payload["offline"], false);
        let (v, payload) = to_current("OrderPaid", 2, json!({"payment_method": "card"})).unwrap();
        assert_eq!((v, &payload["payment_method"]), (3, &json!("card")));
        assert_eq!(
            payload["offline"], false,
            "payments before v3 went through the provider"
        );
        let (v, payload) = to_current("OrderPaid", 3, json!({"offline": true})).unwrap();
        assert_eq!((v, &payload["offline"]), (3, &json!(true)));
    }

    #[test]
    fn order_placed_v1_decodes_as_an_order_without_addresses() {
        let v1 = json!({
            "order_id": "0190a4a4-0000-7000-8000-000000000001",
            "customer_id": "0190a4a4-0000-7000-8000-000000000002",
            "lines": [{"sku": "A", "name": "a", "unit_price": {"amount_minor": 5, "currency": "EUR"},
                       "quantity": 1, "line_total": {"amount_minor": 5, "currency": "EUR"}}],
            "total": {"amount_minor": 5, "currency": "EUR"},
        });
        let (v, payload) = to_current("OrderPlaced", 1, v1).unwrap();
        assert_eq!(v, 2);
        assert_eq!(payload["shipping_address"], Value::Null);
        let event: domain::order::OrderEvent =
            serde_json::from_value(json!({"type": "OrderPlaced", "data": payload})).unwrap();
        let mut order = domain::order::Order::default();
        domain::Aggregate::apply(&mut order, &event);
        let placed = order.placed.unwrap();
        assert_eq!(placed.total.amount_minor(), 5);
        assert_eq!(placed.shipping_address, None);
    }

    #[test]
    fn product_created_v1_decodes_as_a_product_without_specification_or_images() {
        let v1 = json!({
            "sku": "MUG-1", "seller_id": "0190a4a4-0000-7000-8000-000000000002",
            "name": "Mug", "description": "", "category": "kitchen",
            "price": {"amount_minor": 900, "currency": "EUR"},
        });
        let (v, payload) = to_current("ProductCreated", 1, v1).unwrap();
        assert_eq!((v, &payload["images"]), (2, &json!([])));
        let event: domain::product::ProductEvent =
            serde_json::from_value(json!({"type": "ProductCreated", "data": payload})).unwrap();
        let product = <domain::product::Product as domain::Aggregate>::from_events(&[event]);
        let listing = product.listing.unwrap();
        assert!(listing.details.specifications().is_empty() && !listing.archived);
    }

    #[test]
    fn newer_and_unknown_versions_are_refused() {
        assert!(to_current("OrderPaid", 4, json!({})).is_err());
        assert!(to_current("Nope", 1, json!({})).is_err());
    }

    #[test]
    fn every_type_has_a_complete_upcaster_chain() {
        for t in CATALOGUE {
            for v in 1..i32::from(t.schema_version) {
                assert!(to_current(t.name, v, json!({})).is_ok(), "{} v{v}", t.name);
            }
        }
    }
}
