//! Process managers: long-running reactions to the event stream that issue commands.
//!
//! - [`payment_timeouts`]: an order still unpaid `PAYMENT_TIMEOUT_SECS` after it was placed
//!   is cancelled and its stock released. Its timers are the `unpaid_orders` read model in
//!   PostgreSQL (fed by the event stream, exactly once), so they survive restarts; cancelling
//!   is a command guarded by the order's state, so running it twice, or in several processes
//!   at once, cancels once.
//! - [`cancellation_refunds`]: a cancelled order that had been paid through the provider is
//!   refunded through it. Its work list is the `refunds_due` read model; the provider sees one
//!   idempotency key per order, so a refund retried after a crash is made once, and recording
//!   it again changes nothing.

use std::time::Duration;

use commands::{CommandContext, CommandError, CommandHandler};
use domain::text::Reason;
use domain::OrderId;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// Who the payment-timeout process manager acts as in event metadata.
pub const PAYMENT_TIMEOUT_ACTOR: &str = "system:payment-timeout";

/// Cancels orders left unpaid for `timeout`, checking every `min(timeout / 4, 5 s)`, until
/// `shutdown`.
pub async fn payment_timeouts(
    commands: CommandHandler,
    pool: PgPool,
    timeout: Duration,
    shutdown: CancellationToken,
) {
    let every = (timeout / 4).clamp(Duration::from_millis(200), Duration::from_secs(5));
    let reason = Reason::parse("payment not received in time").expect("a valid reason");
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let deadline = chrono::Utc::now()
            - chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::MAX);
        let due = match projections::unpaid_orders::unpaid_since(&pool, deadline, 100).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "payment timeouts: cannot read unpaid orders");
                continue;
            }
        };
        for order in due {
            let ctx = CommandContext::new(Some(PAYMENT_TIMEOUT_ACTOR.into()));
            let order_id = OrderId::from_uuid(order);
            match commands
                .cancel_order(&ctx, order_id, None, reason.clone())
                .await
            {
                Ok(_) => tracing::info!(%order_id, "unpaid order cancelled: payment timeout"),
                // Paid or cancelled meanwhile: its row leaves the read model shortly.
                Err(CommandError::Rejected(_)) | Err(CommandError::NotFound(_)) => {}
                Err(e) => tracing::warn!(%order_id, error = %e, "payment timeout not applied yet"),
            }
        }
    }
}

/// Who the refund process manager acts as in event metadata.
pub const REFUND_ACTOR: &str = "system:cancellation-refund";

/// Longest wait between two attempts at a refund that keeps failing.
const MAX_REFUND_WAIT: Duration = Duration::from_secs(600);

/// Refunds cancelled orders through the provider, checking every `every`, until `shutdown`.
/// A refund the provider refuses is tried again after 2, 4, 8, ... seconds, at most
/// [`MAX_REFUND_WAIT`]; any other failure (the provider or the store unreachable, a conflict)
/// is tried again at the next check, so a busy moment never delays a refund by minutes.
pub async fn cancellation_refunds(
    commands: CommandHandler,
    gateway: std::sync::Arc<dyn payments::PaymentGateway>,
    pool: PgPool,
    every: Duration,
    shutdown: CancellationToken,
) {
    let reason = Reason::parse("order cancelled").expect("a valid reason");
    // Orders whose refund the provider refused: refusals so far and when to try again. A
    // refusal that lasts (a payment the provider does not know, say) is retried ever more
    // rarely, up to every ten minutes, instead of every round; it stays in `refunds_due` until
    // it is made.
    let mut failing: std::collections::HashMap<uuid::Uuid, (u32, std::time::Instant)> =
        Default::default();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        // Orders waiting out a refusal are left out, so they never fill the page and starve
        // the refunds behind them.
        let waiting: Vec<uuid::Uuid> = failing
            .iter()
            .filter(|(_, (_, next))| std::time::Instant::now() < *next)
            .map(|(order, _)| *order)
            .collect();
        let due = match projections::refunds_due::due(&pool, &waiting, 100).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "refunds: cannot read the refunds due");
                continue;
            }
        };
        let now = std::time::Instant::now();
        // Forget what is no longer owed (refunded by another instance, say) once its wait is
        // over; what is still waiting was left out of `due` on purpose.
        failing.retain(|order, (_, next)| due.contains(order) || now < *next);
        for order in due {
            if failing.get(&order).is_some_and(|(_, next)| now < *next) {
                continue;
            }
            match refund_one(&commands, &*gateway, &pool, order, &reason).await {
                Ok(()) => {
                    failing.remove(&order);
                }
                Err(e) if !refused(&e) => {
                    tracing::warn!(order_id = %order, error = %e, "refund not made yet; retrying");
                }
                Err(e) => {
                    let attempts = failing.get(&order).map_or(0, |(n, _)| *n) + 1;
                    let wait = Duration::from_secs(1 << attempts.min(10)).min(MAX_REFUND_WAIT);
                    failing.insert(order, (attempts, now + wait));
                    tracing::warn!(order_id = %order, error = %e, attempts, retry_in = ?wait,
                        "refund not made yet; retrying later");
                }
            }
        }
    }
}

/// Whether `error` is the provider refusing the refund (worth retrying only now and then).
fn refused(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<payments::GatewayError>(),
        Some(payments::GatewayError::Refused { .. })
    )
}

async fn refund_one(
    commands: &CommandHandler,
    gateway: &dyn payments::PaymentGateway,
    pool: &PgPool,
    order: uuid::Uuid,
    reason: &Reason,
) -> anyhow::Result<()> {
    let order_id = OrderId::from_uuid(order);
    let placed = commands.order_now(order_id).await?;
    if let Some(p) = placed.as_ref().filter(|p| p.paid_offline) {
        // The provider never saw this payment and cannot refund it: what is owed stays on the
        // order (`refundable`) for an admin to refund to store credit or outside the shop.
        // Reported as a refusal, so it is looked at again only ever more rarely; the row stays
        // in `refunds_due`, which only events change (it must equal a fresh projection).
        return Err(payments::GatewayError::Refused {
            status: 409,
            message: format!(
                "paid offline: {} is for an admin to refund, not the provider",
                p.refundable()
            ),
        }
        .into());
    }
    let payment = placed.as_ref().and_then(|p| p.payment_reference.clone());
    let refundable = placed.as_ref().map(|p| p.refundable());
    let (Some(payment_id), Some(amount)) = (payment, refundable.filter(|r| r.amount_minor() > 0))
    else {
        projections::refunds_due::settled(pool, order).await?;
        return Ok(());
    };
    let refund = gateway
        .refund(&payments::RefundRequest {
            order_id: order,
            payment_id,
            amount_minor: amount.amount_minor(),
            idempotency_key: format!("{order}:cancellation"),
        })
        .await?;
    let ctx = CommandContext::new(Some(REFUND_ACTOR.into()));
    commands
        .request_refund(&ctx, order_id, refund.id, amount, reason.clone())
        .await?;
    tracing::info!(%order_id, %amount, "cancelled order refunded");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use commands::testing::{ctx, eur};
    use domain::order::PaymentMethod;
    use domain::text::PaymentReference;
    use domain::{Quantity, Sku};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A provider that counts the refunds it is asked for (and makes none).
    #[derive(Default)]
    struct Counting {
        refunds: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl payments::PaymentGateway for Counting {
        fn provider(&self) -> &'static str {
            "counting"
        }
        fn key_id(&self) -> &str {
            "key"
        }
        fn pay_url(&self, _: &str) -> Option<String> {
            None
        }
        fn verify_webhook(&self, _: &[u8], _: &str) -> bool {
            false
        }
        async fn create_order(
            &self,
            _: &payments::OrderRequest,
        ) -> Result<payments::ProviderOrder, payments::GatewayError> {
            Err(payments::GatewayError::Unavailable(
                "not in this test".into(),
            ))
        }
        async fn refund(
            &self,
            _: &payments::RefundRequest,
        ) -> Result<payments::ProviderRefund, payments::GatewayError> {
            self.refunds.fetch_add(1, Ordering::SeqCst);
            Err(payments::GatewayError::Unavailable("counted".into()))
        }
    }

    /// An order of one MUG (900 cents), placed by a new customer.
    async fn order_one(handler: &CommandHandler) -> OrderId {
        let customer = commands::testing::customer(handler).await;
        handler
            .add_to_cart(
                &ctx(),
                customer,
                Sku::parse("MUG").unwrap(),
                Quantity::new(1).unwrap(),
            )
            .await
            .unwrap();
        let (order, _) = handler
            .place_order(&ctx(), customer, None, &Default::default())
            .await
            .unwrap();
        order
    }

    /// A cancelled order whose payment an admin recorded offline is never sent to the
    /// provider for its refund (the attempt is a refusal, looked at again only rarely); one
    /// paid through the provider is.
    #[tokio::test]
    async fn an_offline_payment_is_not_refunded_through_the_provider() {
        let handler = CommandHandler::new(std::sync::Arc::new(events::MemoryEventStore::new()));
        commands::testing::product(&handler, "MUG", 900, 5).await;
        let cancel = |order| {
            let handler = handler.clone();
            async move {
                handler
                    .cancel_order(
                        &ctx(),
                        order,
                        None,
                        Reason::parse("changed my mind").unwrap(),
                    )
                    .await
                    .unwrap();
            }
        };
        let offline = order_one(&handler).await;
        handler
            .pay_order(
                &ctx(),
                offline,
                None,
                eur(900),
                PaymentReference::parse("till-7").unwrap(),
                PaymentMethod::CashOnDelivery,
            )
            .await
            .unwrap();
        cancel(offline).await;
        let online = order_one(&handler).await;
        handler
            .request_payment(&ctx(), online, "counting", "order_1".into(), eur(900))
            .await
            .unwrap();
        handler
            .capture_payment(
                &ctx(),
                online,
                "order_1".into(),
                PaymentReference::parse("pay_1").unwrap(),
                eur(900),
                PaymentMethod::Card,
            )
            .await
            .unwrap();
        cancel(online).await;

        let gateway = Counting::default();
        // Never used on these paths: the pool is not even connected.
        let pool = PgPool::connect_lazy("postgres://nobody@127.0.0.1:1/none").unwrap();
        let reason = Reason::parse("order cancelled").unwrap();
        let attempt = refund_one(&handler, &gateway, &pool, offline.as_uuid(), &reason).await;
        let error = attempt.expect_err("an offline payment is not the provider's to refund");
        assert!(refused(&error), "{error}");
        assert_eq!(gateway.refunds.load(Ordering::SeqCst), 0);

        let attempt = refund_one(&handler, &gateway, &pool, online.as_uuid(), &reason).await;
        assert!(!refused(
            &attempt.expect_err("the counting provider makes no refund")
        ));
        assert_eq!(
            gateway.refunds.load(Ordering::SeqCst),
            1,
            "the provider was asked"
        );
    }
}
