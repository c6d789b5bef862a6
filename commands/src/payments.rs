//! Payment commands: a payment opened at a provider, then captured or failed as the provider
//! reports. Capturing is idempotent, so a webhook delivered twice records one payment.

use domain::order::{Order, OrderCommand, PaymentMethod};
use domain::text::{PaymentReference, Reason};
use domain::wallet::{Wallet, WalletCommand};
use domain::{AccountId, Aggregate};
use domain::{Money, OrderId};

use crate::error::CommandError;
use crate::{CommandContext, CommandHandler, CommandOutcome};

impl CommandHandler {
    /// Records that the amount due will be collected by `provider` under `provider_order_id`.
    pub async fn request_payment(
        &self,
        ctx: &CommandContext,
        order_id: OrderId,
        provider: &str,
        provider_order_id: String,
        amount: Money,
    ) -> Result<CommandOutcome, CommandError> {
        let command = OrderCommand::RequestPayment {
            provider: provider.to_owned(),
            provider_order_id,
            amount,
        };
        self.order_command(ctx, order_id, None, command).await
    }

    /// Records a payment the provider captured; the same payment again changes nothing.
    pub async fn capture_payment(
        &self,
        ctx: &CommandContext,
        order_id: OrderId,
        provider_order_id: String,
        payment_reference: PaymentReference,
        amount: Money,
        method: PaymentMethod,
    ) -> Result<CommandOutcome, CommandError> {
        let command = OrderCommand::CapturePayment {
            provider_order_id,
            payment_reference,
            amount,
            method,
        };
        self.order_command(ctx, order_id, None, command).await
    }

    /// Records that the provider reserved the amount; changes nothing once captured.
    pub async fn authorize_payment(
        &self,
        ctx: &CommandContext,
        order_id: OrderId,
        provider_order_id: String,
        payment_reference: PaymentReference,
        amount: Money,
    ) -> Result<CommandOutcome, CommandError> {
        let command = OrderCommand::AuthorizePayment {
            provider_order_id,
            payment_reference,
            amount,
        };
        self.order_command(ctx, order_id, None, command).await
    }

    /// Records a failed payment attempt.
    pub async fn fail_payment(
        &self,
        ctx: &CommandContext,
        order_id: OrderId,
        provider_order_id: String,
        payment_reference: PaymentReference,
        reason: String,
    ) -> Result<CommandOutcome, CommandError> {
        let command = OrderCommand::FailPayment {
            provider_order_id,
            payment_reference,
            reason,
        };
        self.order_command(ctx, order_id, None, command).await
    }

    /// Records a refund the provider accepted; the same refund again changes nothing.
    pub async fn request_refund(
        &self,
        ctx: &CommandContext,
        order_id: OrderId,
        refund_reference: String,
        amount: Money,
        reason: Reason,
    ) -> Result<CommandOutcome, CommandError> {
        let command = OrderCommand::RequestRefund {
            refund_reference,
            amount,
            reason,
        };
        self.order_command(ctx, order_id, None, command).await
    }

    /// Records a refund the provider paid out; the same refund again changes nothing.
    pub async fn complete_refund(
        &self,
        ctx: &CommandContext,
        order_id: OrderId,
        refund_reference: String,
        amount: Money,
    ) -> Result<CommandOutcome, CommandError> {
        let command = OrderCommand::CompleteRefund {
            refund_reference,
            amount,
        };
        self.order_command(ctx, order_id, None, command).await
    }

    /// Refunds (part of) an order's payment as store credit: the order records the refund as
    /// requested and processed, and the customer's wallet is credited, in one append.
    pub async fn refund_to_credit(
        &self,
        ctx: &CommandContext,
        order_id: OrderId,
        amount: Money,
        reason: Reason,
    ) -> Result<(String, CommandOutcome), CommandError> {
        let refund_reference = format!("credit-{}", uuid::Uuid::now_v7().simple());
        let (reference, reason) = (&refund_reference, &reason);
        self.execute(
            ctx,
            Order::stream_id(&order_id),
            None,
            |mut at| async move {
                let order = at.load::<Order>(&order_id).await?;
                let customer = order
                    .placed
                    .as_ref()
                    .map(|p| p.customer_id)
                    .ok_or(CommandError::NotFound(crate::Missing::Order))?;
                let requested = order.decide(OrderCommand::RequestRefund {
                    refund_reference: reference.clone(),
                    amount,
                    reason: reason.clone(),
                })?;
                let mut after = order.clone();
                requested.iter().for_each(|e| after.apply(e));
                let processed = after.decide(OrderCommand::CompleteRefund {
                    refund_reference: reference.clone(),
                    amount,
                })?;
                let account = AccountId::from_uuid(customer.as_uuid());
                let wallet = at.load::<Wallet>(&account).await?;
                let credited = wallet.decide(WalletCommand::Refund {
                    account_id: account,
                    order_id,
                    amount,
                })?;
                let events: Vec<_> = requested.into_iter().chain(processed).collect();
                at.emit::<Order>(&order_id, &events);
                at.emit::<Wallet>(&account, &credited);
                at.commit().await
            },
        )
        .await
        .map(|outcome| (refund_reference.clone(), outcome))
    }

    /// Records the refund of a payment captured after the order was cancelled.
    pub async fn record_late_refund(
        &self,
        ctx: &CommandContext,
        order_id: OrderId,
        payment_reference: PaymentReference,
        amount: Money,
        refund_reference: String,
    ) -> Result<CommandOutcome, CommandError> {
        let command = OrderCommand::RefundLatePayment {
            payment_reference,
            amount,
            refund_reference,
        };
        self.order_command(ctx, order_id, None, command).await
    }

    /// The order's current state (rebuilt from its stream), if it exists.
    pub async fn order_now(
        &self,
        order_id: OrderId,
    ) -> Result<Option<domain::order::PlacedOrder>, CommandError> {
        Ok(self.load::<Order>(&order_id).await?.state.placed)
    }
}
