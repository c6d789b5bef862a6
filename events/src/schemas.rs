//! JSON Schemas (draft 2020-12) of every event type and schema version, generated from the
//! Rust types with `schemars`. Served at `GET /events/schemas` and written to `docs/events/`
//! (`commerce schemas --out docs/events`); a test keeps the files in step with the code.

use serde::Serialize;
use serde_json::{json, Map, Value};

use domain::account::{AccountEvent, EmailClaimEvent};
use domain::address::AddressBookEvent;
use domain::cart::CartEvent;
use domain::category::CategoryEvent;
use domain::inventory::InventoryEvent;
use domain::order::OrderEvent;
use domain::pricing::PricingEvent;
use domain::product::ProductEvent;
use domain::review::ReviewEvent;
use domain::seller::SellerEvent;
use domain::wallet::WalletEvent;
use domain::wishlist::WishlistEvent;

use crate::codec::CATALOGUE;

/// The schema of one event type at one version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventSchema {
    /// Type name.
    pub event_type: &'static str,
    /// Schema version.
    pub schema_version: u16,
    /// Stream category.
    pub category: &'static str,
    /// The payload's JSON Schema.
    pub schema: Value,
}

impl EventSchema {
    /// File name under `docs/events/`.
    pub fn file_name(&self) -> String {
        format!("{}.v{}.schema.json", self.event_type, self.schema_version)
    }
}

/// Payload schemas by type name, from one adjacently tagged event enum.
fn payloads<E: schemars::JsonSchema>() -> Vec<(String, Value, Value)> {
    let root = schemars::schema_for!(E).to_value();
    let defs = root
        .get("$defs")
        .cloned()
        .unwrap_or(Value::Object(Map::new()));
    let variants = root
        .get("oneOf")
        .or_else(|| root.get("anyOf"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    variants
        .into_iter()
        .filter_map(|v| {
            let tag = &v["properties"]["type"];
            let name = tag["const"]
                .as_str()
                .or_else(|| tag["enum"][0].as_str())?
                .to_owned();
            Some((name, v["properties"]["data"].clone(), defs.clone()))
        })
        .collect()
}

fn document(
    event_type: &str,
    version: u16,
    category: &str,
    description: &str,
    payload: Value,
    defs: Value,
) -> Value {
    let mut schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("urn:commerce:event:{event_type}:v{version}"),
        "title": format!("{event_type} v{version}"),
        "description": description,
        "x-event-type": event_type,
        "x-schema-version": version,
        "x-stream-category": category,
    });
    if let (Value::Object(target), Value::Object(fields)) = (&mut schema, payload) {
        target.extend(fields);
        if defs.as_object().is_some_and(|d| !d.is_empty()) {
            target.insert("$defs".into(), defs);
        }
    }
    schema
}

/// Earlier schema versions, each the next one without the members it added.
const EARLIER: &[(&str, u16, &[&str])] = &[
    (
        "ProductCreated",
        1,
        &["specifications", "images", "pending_approval"],
    ),
    ("OrderPaid", 1, &["payment_method", "offline"]),
    ("OrderPaid", 2, &["offline"]),
    (
        "OrderPlaced",
        1,
        &[
            "shipping_address",
            "billing_address",
            "credit_applied",
            "subtotal",
            "shipping",
            "tax",
            "shipping_method",
        ],
    ),
];

/// The schema of `event_type` at `version`: `next` without `added`.
fn earlier(event_type: &str, version: u16, added: &[&str], next: &Value) -> Value {
    let mut earlier = next.clone();
    if let Some(properties) = earlier["properties"].as_object_mut() {
        properties.retain(|name, _| !added.contains(&name.as_str()));
    }
    if let Some(required) = earlier["required"].as_array_mut() {
        required.retain(|r| !added.iter().any(|a| r == a));
    }
    earlier["$id"] = json!(format!("urn:commerce:event:{event_type}:v{version}"));
    earlier["title"] = json!(format!("{event_type} v{version}"));
    earlier["x-schema-version"] = json!(version);
    earlier
}

/// The schema of a sealed personal value (see [`crate::personal`]).
fn sealed_schema() -> Value {
    json!({
        "description": "A personal value sealed for its subject (XChaCha20-Poly1305, the subject's id as associated data). Readable only with the subject's key; once the subject is erased, for good.",
        "type": "object",
        "properties": {
            "subject": { "description": "Whose value it is (an account id).", "type": "string", "format": "uuid" },
            "nonce": { "description": "The random 24-byte nonce, base64.", "type": "string" },
            "ciphertext": { "description": "The ciphertext with its authentication tag, base64.", "type": "string" }
        },
        "required": ["subject", "nonce", "ciphertext"],
        "additionalProperties": false
    })
}

/// Marks the member at `field` (a JSON pointer into the payload, through `$ref`s) as personal:
/// its value is stored either as the plain value (events written before sealing) or sealed.
fn mark_personal(schema: &mut Value, field: &str) {
    let segments: Vec<&str> = field.trim_start_matches('/').split('/').collect();
    let mut at = String::new();
    for (i, segment) in segments.iter().enumerate() {
        let member = format!("{at}/properties/{segment}");
        if i + 1 == segments.len() {
            let Some(node) = schema.pointer_mut(&member) else {
                return;
            };
            if node.get("x-personal").is_some() {
                return;
            }
            let mut plain = node.take();
            let description = plain
                .as_object_mut()
                .and_then(|o| o.remove("description"))
                .and_then(|d| d.as_str().map(str::to_owned))
                .unwrap_or_default();
            *node = json!({
                "description": format!("{description} Personal: stored sealed for its subject, and read as erased once the subject is (see docs/EVENTS.md).").trim_start().to_owned(),
                "x-personal": true,
                "anyOf": [plain, { "$ref": "#/$defs/Sealed" }],
            });
            if let Some(defs) = schema.get_mut("$defs").and_then(Value::as_object_mut) {
                defs.insert("Sealed".into(), sealed_schema());
            } else if let Some(root) = schema.as_object_mut() {
                root.insert("$defs".into(), json!({ "Sealed": sealed_schema() }));
            }
            return;
        }
        let Some(node) = schema.pointer(&member) else {
            return;
        };
        let reference = node.get("$ref").or_else(|| {
            node.get("anyOf")?
                .as_array()?
                .iter()
                .find_map(|v| v.get("$ref"))
        });
        let Some(reference) = reference.and_then(Value::as_str) else {
            return;
        };
        at = reference.trim_start_matches('#').to_owned();
    }
}

/// Every event type at every schema version, in catalogue order.
pub fn all() -> Vec<EventSchema> {
    let mut generated = Vec::new();
    generated.extend(payloads::<ProductEvent>());
    generated.extend(payloads::<InventoryEvent>());
    generated.extend(payloads::<CartEvent>());
    generated.extend(payloads::<OrderEvent>());
    generated.extend(payloads::<AccountEvent>());
    generated.extend(payloads::<EmailClaimEvent>());
    generated.extend(payloads::<AddressBookEvent>());
    generated.extend(payloads::<WalletEvent>());
    generated.extend(payloads::<PricingEvent>());
    generated.extend(payloads::<CategoryEvent>());
    generated.extend(payloads::<WishlistEvent>());
    generated.extend(payloads::<ReviewEvent>());
    generated.extend(payloads::<SellerEvent>());

    let mut out = Vec::new();
    for t in CATALOGUE {
        let Some((_, payload, defs)) = generated.iter().find(|(n, _, _)| n == t.name) else {
            continue;
        };
        let mut current = document(
            t.name,
            t.schema_version,
            t.category,
            t.description,
            payload.clone(),
            defs.clone(),
        );
        if let Some(personal) = crate::personal::personal_fields(t.name) {
            for field in personal.fields {
                mark_personal(&mut current, field);
            }
        }
        for (_, version, added) in EARLIER.iter().filter(|(name, _, _)| *name == t.name) {
            out.push(EventSchema {
                event_type: t.name,
                schema_version: *version,
                category: t.category,
                schema: earlier(t.name, *version, added, &current),
            });
        }
        out.push(EventSchema {
            event_type: t.name,
            schema_version: t.schema_version,
            category: t.category,
            schema: current,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode;
    use crate::envelope::Metadata;
    use domain::order::{OrderLine, PaymentMethod};
    use domain::values::Currency;
    use domain::{CustomerId, Money, OrderId, Quantity, Sku};

    #[test]
    fn every_type_and_version_has_a_schema() {
        let schemas = all();
        for t in CATALOGUE {
            for v in 1..=t.schema_version {
                assert!(
                    schemas
                        .iter()
                        .any(|s| s.event_type == t.name && s.schema_version == v),
                    "{} v{v}",
                    t.name
                );
            }
        }
    }

    /// Real payloads have exactly the schema's properties and every required one.
    #[test]
    fn schemas_describe_real_payloads() {
        let eur = Currency::parse("EUR").unwrap();
        let line = OrderLine {
            sku: Sku::parse("A").unwrap(),
            name: "A".into(),
            unit_price: Money::new(1, eur).unwrap(),
            quantity: Quantity::new(1).unwrap(),
            line_total: Money::new(1, eur).unwrap(),
        };
        let address = domain::address::Address::parse(&domain::address::AddressInput {
            name: "Ada".into(),
            line1: "1 Main St".into(),
            city: "Springfield".into(),
            country: "US".into(),
            ..Default::default()
        })
        .unwrap();
        let samples = [
            encode(
                &domain::address::AddressBookEvent::AddressAdded {
                    customer_id: CustomerId::generate(),
                    address_id: domain::address::AddressId::generate(),
                    address: address.clone(),
                },
                &Metadata::default(),
            ),
            encode(
                &OrderEvent::OrderPlaced {
                    order_id: OrderId::generate(),
                    customer_id: CustomerId::generate(),
                    lines: vec![line],
                    total: Money::new(1, eur).unwrap(),
                    shipping_address: Some(Box::new(address.clone())),
                    billing_address: Some(Box::new(address.clone())),
                    credit_applied: Some(Money::new(1, eur).unwrap()),
                    subtotal: Some(Money::new(1, eur).unwrap()),
                    shipping: Some(Money::new(0, eur).unwrap()),
                    tax: Some(Money::new(0, eur).unwrap()),
                    shipping_method: Some("standard".into()),
                },
                &Metadata::default(),
            ),
            encode(
                &OrderEvent::OrderPaid {
                    order_id: OrderId::generate(),
                    amount: Money::new(1, eur).unwrap(),
                    payment_reference: "p".into(),
                    payment_method: PaymentMethod::Card,
                    offline: true,
                },
                &Metadata::default(),
            ),
        ];
        let schemas = all();
        for sample in samples {
            let schema = &schemas
                .iter()
                .find(|s| {
                    s.event_type == sample.event_type
                        && i32::from(s.schema_version) == sample.schema_version
                })
                .unwrap()
                .schema;
            let properties = schema["properties"].as_object().unwrap();
            let payload = sample.payload.as_object().unwrap();
            for key in payload.keys() {
                assert!(
                    properties.contains_key(key),
                    "{}: {key} not in schema",
                    sample.event_type
                );
            }
            for required in schema["required"].as_array().unwrap() {
                assert!(
                    payload.contains_key(required.as_str().unwrap()),
                    "{required} missing"
                );
            }
        }
        let v1 = schemas
            .iter()
            .find(|s| s.event_type == "OrderPaid" && s.schema_version == 1)
            .unwrap();
        assert!(v1.schema["properties"].get("payment_method").is_none());
        let v1 = schemas
            .iter()
            .find(|s| s.event_type == "OrderPlaced" && s.schema_version == 1)
            .unwrap();
        assert!(v1.schema["properties"].get("shipping_address").is_none());
        assert!(v1.schema["properties"].get("lines").is_some());
    }

    /// Every personal member is marked, and admits the sealed form beside the plain one.
    #[test]
    fn personal_members_admit_their_sealed_form() {
        let schemas = all();
        for personal in crate::personal::PERSONAL_FIELDS {
            let schema = &schemas
                .iter()
                .rev()
                .find(|s| s.event_type == personal.event_type)
                .unwrap()
                .schema;
            assert!(
                schema["$defs"]["Sealed"].is_object(),
                "{}",
                personal.event_type
            );
            for field in personal.fields {
                let member = field.rsplit('/').next().unwrap();
                let text = schema.to_string();
                assert!(
                    text.contains(&format!("\"{member}\":{{\"anyOf\":[")),
                    "{} {field} is not marked personal",
                    personal.event_type
                );
            }
        }
    }

    /// `docs/events/` holds exactly what the code generates.
    #[test]
    fn published_schema_files_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/events");
        for s in all() {
            let path = dir.join(s.file_name());
            let expected = serde_json::to_string_pretty(&s.schema).unwrap() + "\n";
            let found = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                found == expected,
                "{} is missing or stale: run `cargo run -p commerce -- schemas --out docs/events`",
                path.display()
            );
        }
    }
}
