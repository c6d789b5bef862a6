//! `daily-sales`: reads the commerce topic from the beginning and prints daily sales per SKU.
//!
//! ```sh
//! KAFKA_BROKERS=127.0.0.1:9092 cargo run -p daily-sales
//! ```
//! Environment: `KAFKA_BROKERS` (default `127.0.0.1:9092`), `KAFKA_TOPIC` (default
//! `commerce.events`), `IDLE_SECS` (stop after this long without records, default 5).

use std::time::Duration;

use daily_sales::{consume, DailySales};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    let brokers = env("KAFKA_BROKERS", "127.0.0.1:9092");
    let topic = env("KAFKA_TOPIC", "commerce.events");
    let idle = Duration::from_secs(env("IDLE_SECS", "5").parse()?);
    let group = format!("daily-sales-{}", std::process::id());
    let mut sales = DailySales::default();
    let records = consume(&brokers, &topic, &group, idle, &mut sales).await?;
    eprintln!("{records} records read from {topic}");
    print!("{}", sales.report());
    Ok(())
}
