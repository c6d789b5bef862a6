//! Process managers: long-running reactions to the event stream that issue commands.
//!
//! - [`payment_timeouts`]: an order still unpaid `PAYMENT_TIMEOUT_SECS` after it was placed
//!   is cancelled and its stock released. Its timers are the `unpaid_orders` read model in
//!   PostgreSQL (fed by the event stream, exactly once), so they survive restarts; cancelling
//!   is a command guarded by the order's state, so running it twice, or in several processes
//!   at once, cancels once.

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
