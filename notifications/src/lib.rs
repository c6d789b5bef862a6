//! The notifier: follows the event log and emails customers about their orders by SMTP.
//!
//! Order confirmation (`OrderPlaced`), payment failure (`PaymentFailed`), shipment
//! (`OrderShipped`), refund (`RefundProcessed`) and accepted return (`ReturnAccepted`).
//!
//! **At least once, once per event.** Before sending, the notifier checks `notifications_sent`
//! for the event id; after the SMTP server accepted the message, it records it there; its
//! position in the log is saved after each batch. A failed send is retried with backoff from
//! the same event. Only a crash between the server's acceptance and the record can send an
//! email twice, and then with the same `Message-ID` (`<event id@commerce>`), which lets mail
//! systems drop the copy.

use std::time::Duration;

use domain::account::{Account, AccountEvent};
use domain::order::{Order, OrderEvent};
use domain::{AccountId, Aggregate, OrderId};
use events::codec::decode;
use events::{EventStore, RecordedEvent};
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Checkpoint name of the notifier's position in the log.
pub const CHECKPOINT: &str = "notifier";

/// Where mail goes out.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// SMTP server host.
    pub host: String,
    /// SMTP server port.
    pub port: u16,
    /// Sender address.
    pub from: String,
}

impl SmtpSettings {
    /// Reads `smtp://host:port`.
    pub fn from_url(url: &str, from: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("smtp://")
            .ok_or("SMTP_URL must look like smtp://host:port")?;
        let (host, port) = rest.split_once(':').unwrap_or((rest, "25"));
        let port = port
            .trim_end_matches('/')
            .parse()
            .map_err(|_| format!("bad SMTP port in {url}"))?;
        Ok(SmtpSettings {
            host: host.to_owned(),
            port,
            from: from.to_owned(),
        })
    }
}

/// Why a batch stopped.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The log could not be read.
    #[error(transparent)]
    Store(#[from] events::StoreError),
    /// The notifier's own tables failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The SMTP server refused or could not be reached.
    #[error("smtp: {0}")]
    Smtp(String),
}

/// An email about an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// Recipient.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

/// Follows the log and sends emails until `shutdown`.
pub struct Notifier {
    store: std::sync::Arc<dyn EventStore>,
    pool: PgPool,
    smtp: SmtpSettings,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Notifier {
    /// A notifier over `store`, keeping its state in `pool`.
    pub fn new(store: std::sync::Arc<dyn EventStore>, pool: PgPool, smtp: SmtpSettings) -> Self {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            .port(smtp.port)
            .timeout(Some(Duration::from_secs(10)))
            .build();
        Notifier {
            store,
            pool,
            smtp,
            transport,
        }
    }

    /// Runs until `shutdown`, polling the log every `poll`.
    pub async fn run(&self, poll: Duration, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(200);
        while !shutdown.is_cancelled() {
            match self.step(100).await {
                Ok(0) => {
                    backoff = Duration::from_millis(200);
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(poll) => {}
                    }
                }
                Ok(_) => backoff = Duration::from_millis(200),
                Err(e) => {
                    tracing::warn!(error = %e, ?backoff, "notifications: retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    async fn checkpoint(&self) -> Result<i64, sqlx::Error> {
        let row: Option<(i64,)> =
            sqlx::query_as("select position from projection_checkpoints where name = $1")
                .bind(CHECKPOINT)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map_or(0, |(p,)| p))
    }

    async fn save(&self, position: i64) -> Result<(), sqlx::Error> {
        sqlx::query(
            "insert into projection_checkpoints (name, position) values ($1, $2)
             on conflict (name) do update set position = excluded.position, updated_at = now()",
        )
        .bind(CHECKPOINT)
        .bind(position)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Handles up to `batch` events after the saved position; returns how many were read.
    pub async fn step(&self, batch: usize) -> Result<usize, NotifyError> {
        let after = self.checkpoint().await?;
        let events = self.store.read_all(after, batch).await?;
        for event in &events {
            if let Some(email) = self.email_for(event).await? {
                self.send_once(event.event_id, &email).await?;
            }
            // Progress is saved per event so that a failure resumes right there.
            self.save(event.global_position).await?;
        }
        Ok(events.len())
    }

    async fn send_once(&self, event_id: Uuid, email: &Email) -> Result<(), NotifyError> {
        let (sent,): (bool,) =
            sqlx::query_as("select exists (select 1 from notifications_sent where event_id = $1)")
                .bind(event_id)
                .fetch_one(&self.pool)
                .await?;
        if sent {
            return Ok(());
        }
        let message = Message::builder()
            .message_id(Some(format!("<{event_id}@commerce>")))
            .from(
                self.smtp
                    .from
                    .parse()
                    .map_err(|e| NotifyError::Smtp(format!("{e}")))?,
            )
            .to(email
                .to
                .parse()
                .map_err(|e| NotifyError::Smtp(format!("{e}")))?)
            .subject(email.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(email.body.clone())
            .map_err(|e| NotifyError::Smtp(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map_err(|e| NotifyError::Smtp(e.to_string()))?;
        sqlx::query(
            "insert into notifications_sent (event_id, recipient, subject) values ($1, $2, $3)
             on conflict (event_id) do nothing",
        )
        .bind(event_id)
        .bind(&email.to)
        .bind(&email.subject)
        .execute(&self.pool)
        .await?;
        tracing::info!(%event_id, subject = %email.subject, "email sent");
        Ok(())
    }

    async fn customer_email(&self, order_id: OrderId) -> Result<Option<String>, NotifyError> {
        let mut order = Order::default();
        for e in self
            .store
            .read_stream(&Order::stream_id(&order_id), 1)
            .await?
        {
            order.apply(&decode::<OrderEvent>(&e)?);
        }
        let Some(placed) = order.placed else {
            return Ok(None);
        };
        let account_id = AccountId::from_uuid(placed.customer_id.as_uuid());
        let mut account = Account::default();
        for e in self
            .store
            .read_stream(&Account::stream_id(&account_id), 1)
            .await?
        {
            account.apply(&decode::<AccountEvent>(&e)?);
        }
        Ok(account
            .profile
            .filter(|p| !p.closed)
            .map(|p| p.email.to_string()))
    }

    async fn email_for(&self, event: &RecordedEvent) -> Result<Option<Email>, NotifyError> {
        if event.category() != Order::CATEGORY {
            return Ok(None);
        }
        let Ok(order_event) = decode::<OrderEvent>(event) else {
            return Ok(None);
        };
        let Some((order_id, subject, body)) = compose(&order_event) else {
            return Ok(None);
        };
        Ok(self
            .customer_email(order_id)
            .await?
            .map(|to| Email { to, subject, body }))
    }
}

/// Subject and body of the email an order event sends, if it sends one.
pub fn compose(event: &OrderEvent) -> Option<(OrderId, String, String)> {
    Some(match event {
        OrderEvent::OrderPlaced {
            order_id, total, ..
        } => (
            *order_id,
            format!("Order {order_id} confirmed"),
            format!("Thank you for your order {order_id}. Total: {total}."),
        ),
        OrderEvent::PaymentFailed {
            order_id, reason, ..
        } => (
            *order_id,
            format!("Payment for order {order_id} failed"),
            format!("Your payment did not go through ({reason}). You can pay again."),
        ),
        OrderEvent::OrderShipped {
            order_id,
            carrier,
            tracking_number,
        } => (
            *order_id,
            format!("Order {order_id} shipped"),
            format!("Your order is on its way with {carrier}, tracking number {tracking_number}."),
        ),
        OrderEvent::RefundProcessed {
            order_id, amount, ..
        } => (
            *order_id,
            format!("Refund for order {order_id}"),
            format!("We refunded {amount}."),
        ),
        OrderEvent::ReturnAccepted {
            order_id, value, ..
        } => (
            *order_id,
            format!("Return for order {order_id} accepted"),
            format!("We accepted your return worth {value}."),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::values::Currency;
    use domain::Money;

    #[test]
    fn order_events_that_concern_the_customer_make_emails() {
        let order_id = OrderId::generate();
        let eur = Currency::parse("EUR").unwrap();
        let failed = OrderEvent::PaymentFailed {
            order_id,
            provider_order_id: "order_1".into(),
            payment_reference: "pay_1".into(),
            reason: "card declined".into(),
        };
        let (id, subject, body) = compose(&failed).unwrap();
        assert_eq!(id, order_id);
        assert!(subject.contains("failed") && body.contains("card declined"));
        let refunded = OrderEvent::RefundProcessed {
            order_id,
            refund_reference: "rfnd_1".into(),
            amount: Money::new(250, eur).unwrap(),
        };
        assert!(compose(&refunded).unwrap().2.contains("250 EUR"));
        assert_eq!(compose(&OrderEvent::OrderDelivered { order_id }), None);
    }

    #[test]
    fn smtp_urls_are_read() {
        let smtp = SmtpSettings::from_url("smtp://127.0.0.1:2525", "shop@example.org").unwrap();
        assert_eq!((smtp.host.as_str(), smtp.port), ("127.0.0.1", 2525));
        assert_eq!(SmtpSettings::from_url("smtp://mail", "x").unwrap().port, 25);
        assert!(SmtpSettings::from_url("http://mail", "x").is_err());
    }
}
