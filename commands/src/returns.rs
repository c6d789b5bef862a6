//! Returns: a customer sends delivered units back within the return window; an admin accepts
//! (the units are restocked in the same append, and refunded) or refuses.

use std::time::Duration;

use domain::inventory::{Inventory, InventoryCommand};
use domain::order::{Order, OrderCommand, OrderEvent, ReturnLine};
use domain::text::Reason;
use domain::wallet::{Wallet, WalletCommand};
use domain::{AccountId, Aggregate, Money, OrderId};
use uuid::Uuid;

use crate::error::{CommandError, Missing};
use crate::{CommandContext, CommandHandler, CommandOutcome};

/// Where an accepted return's money goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundTarget {
    /// Back through the payment provider (the caller asks the provider, then records it).
    Provider,
    /// Into the customer's wallet, in the same append.
    StoreCredit,
}

/// What accepting a return did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnAccepted {
    /// Stream version and global position.
    pub outcome: CommandOutcome,
    /// What is owed back through the provider (zero when credited or nothing was paid).
    pub provider_refund: Money,
    /// What was credited to the customer's wallet.
    pub credited: Money,
}

impl CommandHandler {
    /// Asks to return delivered units; refused once `window` has passed since delivery.
    pub async fn request_return(
        &self,
        ctx: &CommandContext,
        order_id: OrderId,
        lines: Vec<ReturnLine>,
        reason: Reason,
        window: Duration,
    ) -> Result<(Uuid, CommandOutcome), CommandError> {
        let delivered_at = self
            .store
            .read_stream(&Order::stream_id(&order_id), 1)
            .await?
            .into_iter()
            .rev()
            .find(|e| e.event_type == "OrderDelivered")
            .map(|e| e.recorded_at);
        let window_open = delivered_at.is_none_or(|at| {
            chrono::Utc::now() - at
                <= chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX)
        });
        let return_id = Uuid::now_v7();
        let command = OrderCommand::RequestReturn {
            return_id,
            lines,
            reason,
            window_open,
        };
        let outcome = self.order_command(ctx, order_id, None, command).await?;
        Ok((return_id, outcome))
    }

    /// Refuses a requested return.
    pub async fn refuse_return(
        &self,
        ctx: &CommandContext,
        order_id: OrderId,
        return_id: Uuid,
        reason: Reason,
    ) -> Result<CommandOutcome, CommandError> {
        let command = OrderCommand::RefuseReturn { return_id, reason };
        self.order_command(ctx, order_id, None, command).await
    }

    /// Accepts a requested return: the order records it, every line's units are restocked and,
    /// with [`RefundTarget::StoreCredit`], its value (up to what is left to refund) is credited
    /// to the customer's wallet, all in one append. With [`RefundTarget::Provider`] the answer
    /// says what the caller must refund through the provider.
    pub async fn accept_return(
        &self,
        ctx: &CommandContext,
        order_id: OrderId,
        return_id: Uuid,
        target: RefundTarget,
    ) -> Result<ReturnAccepted, CommandError> {
        let reference = format!("credit-return-{}", return_id.simple());
        let reference = &reference;
        let owed = std::sync::Mutex::new(None::<(Money, Money)>);
        let owed_ref = &owed;
        let outcome = self
            .execute(
                ctx,
                Order::stream_id(&order_id),
                None,
                |mut at| async move {
                    let order = at.load::<Order>(&order_id).await?;
                    let placed = order
                        .placed
                        .clone()
                        .ok_or(CommandError::NotFound(Missing::Order))?;
                    let accepted = order.decide(OrderCommand::AcceptReturn { return_id })?;
                    let (lines, value) = match accepted.first() {
                        Some(OrderEvent::ReturnAccepted { lines, value, .. }) => {
                            (lines.clone(), *value)
                        }
                        _ => return Err(CommandError::NotFound(Missing::Order)),
                    };
                    for line in &lines {
                        let inventory = at.load::<Inventory>(&line.sku).await?;
                        let restocked = inventory.decide(InventoryCommand::Restock {
                            sku: line.sku.clone(),
                            order_id,
                            quantity: line.quantity,
                        })?;
                        at.emit::<Inventory>(&line.sku, &restocked);
                    }
                    let refundable = placed.refundable();
                    let refund = Money::new(
                        value.amount_minor().min(refundable.amount_minor()),
                        value.currency(),
                    )?;
                    let mut events = accepted;
                    if target == RefundTarget::StoreCredit && refund.amount_minor() > 0 {
                        let mut after = order.clone();
                        events.iter().for_each(|e| after.apply(e));
                        let reason = Reason::parse("return accepted").expect("a valid reason");
                        let requested = after.decide(OrderCommand::RequestRefund {
                            refund_reference: reference.clone(),
                            amount: refund,
                            reason,
                        })?;
                        requested.iter().for_each(|e| after.apply(e));
                        let processed = after.decide(OrderCommand::CompleteRefund {
                            refund_reference: reference.clone(),
                            amount: refund,
                        })?;
                        events.extend(requested);
                        events.extend(processed);
                        let account = AccountId::from_uuid(placed.customer_id.as_uuid());
                        let wallet = at.load::<Wallet>(&account).await?;
                        let credited = wallet.decide(WalletCommand::Refund {
                            account_id: account,
                            order_id,
                            amount: refund,
                        })?;
                        at.emit::<Wallet>(&account, &credited);
                        *owed_ref.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some((Money::zero(refund.currency()), refund));
                    } else {
                        *owed_ref.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some((refund, Money::zero(refund.currency())));
                    }
                    at.emit::<Order>(&order_id, &events);
                    at.commit().await
                },
            )
            .await?;
        let (provider_refund, credited) = owed
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .ok_or(CommandError::NotFound(Missing::Order))?;
        Ok(ReturnAccepted {
            outcome,
            provider_refund,
            credited,
        })
    }
}
