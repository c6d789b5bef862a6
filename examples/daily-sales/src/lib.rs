//! A back-office consumer written against the published event contract only
//! (`docs/EVENTS.md`): it reads the commerce topic with rdkafka and keeps units and revenue
//! sold per SKU and day. Placed orders count; cancelled orders are taken back.
//!
//! Delivery is at least once, so every event id is remembered and a redelivered record is
//! ignored. Events of types it does not use, or does not know, are skipped.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use chrono::NaiveDate;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::ClientConfig;
use serde_json::Value;

/// Units and revenue of one SKU on one day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sales {
    /// Units sold.
    pub units: i64,
    /// Revenue in minor units.
    pub revenue_minor: i64,
    /// ISO 4217 code of the revenue.
    pub currency: String,
}

#[derive(Debug, Clone)]
struct Line {
    sku: String,
    units: i64,
    revenue_minor: i64,
    currency: String,
}

/// Daily sales per SKU, built from event envelopes.
#[derive(Debug, Default)]
pub struct DailySales {
    seen: HashSet<String>,
    orders: HashMap<String, (NaiveDate, Vec<Line>)>,
    totals: BTreeMap<(NaiveDate, String), Sales>,
}

impl DailySales {
    /// Applies one envelope; false when it was a duplicate or of no interest.
    pub fn apply(&mut self, envelope: &Value) -> bool {
        let Some(event_id) = envelope["event_id"].as_str() else {
            return false;
        };
        if !self.seen.insert(event_id.to_owned()) {
            return false;
        }
        let payload = &envelope["payload"];
        let Some(day) = envelope["recorded_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.date_naive())
        else {
            return false;
        };
        match envelope["event_type"].as_str() {
            Some("OrderPlaced") => {
                let order = payload["order_id"].as_str().unwrap_or_default().to_owned();
                let lines: Vec<Line> = payload["lines"]
                    .as_array()
                    .map(|lines| {
                        lines
                            .iter()
                            .map(|l| Line {
                                sku: l["sku"].as_str().unwrap_or_default().to_owned(),
                                units: l["quantity"].as_i64().unwrap_or(0),
                                revenue_minor: l["line_total"]["amount_minor"]
                                    .as_i64()
                                    .unwrap_or(0),
                                currency: l["line_total"]["currency"]
                                    .as_str()
                                    .unwrap_or_default()
                                    .to_owned(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                self.add(day, &lines, 1);
                self.orders.insert(order, (day, lines));
                true
            }
            Some("OrderCancelled") => {
                let order = payload["order_id"].as_str().unwrap_or_default();
                // The sale is taken back on the day it was made.
                if let Some((day, lines)) = self.orders.get(order).cloned() {
                    self.add(day, &lines, -1);
                }
                true
            }
            _ => false,
        }
    }

    fn add(&mut self, day: NaiveDate, lines: &[Line], sign: i64) {
        for line in lines {
            let entry = self.totals.entry((day, line.sku.clone())).or_default();
            entry.units += sign * line.units;
            entry.revenue_minor += sign * line.revenue_minor;
            entry.currency = line.currency.clone();
        }
    }

    /// Totals by (day, SKU).
    pub fn totals(&self) -> &BTreeMap<(NaiveDate, String), Sales> {
        &self.totals
    }

    /// A printable report.
    pub fn report(&self) -> String {
        let mut out = String::from("day         sku                 units      revenue\n");
        for ((day, sku), s) in &self.totals {
            out.push_str(&format!(
                "{day}  {sku:<18} {:>6} {:>9}.{:02} {}\n",
                s.units,
                s.revenue_minor / 100,
                (s.revenue_minor % 100).abs(),
                s.currency
            ));
        }
        out
    }
}

/// Reads the topic from the beginning with a consumer group of its own, until no record
/// arrives for `idle`.
pub async fn consume(
    brokers: &str,
    topic: &str,
    group: &str,
    idle: Duration,
    sales: &mut DailySales,
) -> Result<usize, rdkafka::error::KafkaError> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("fetch.wait.max.ms", "100")
        .create()?;
    consumer.subscribe(&[topic])?;
    let mut records = 0;
    while let Ok(received) = tokio::time::timeout(idle, consumer.recv()).await {
        let message = received?;
        records += 1;
        if let Some(envelope) = message
            .payload()
            .and_then(|p| serde_json::from_slice::<Value>(p).ok())
        {
            sales.apply(&envelope);
        }
    }
    Ok(records)
}
