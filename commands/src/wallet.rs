//! Store-credit commands: admins grant and withdraw credit with a reason. Checkout spends
//! credit and cancellation returns it, inside their own atomic decisions ([`crate::checkout`]).

use domain::text::Reason;
use domain::wallet::{Wallet, WalletCommand};
use domain::{AccountId, Aggregate, CustomerId, Money};

use crate::cart::require_customer;
use crate::error::CommandError;
use crate::{CommandContext, CommandHandler, CommandOutcome};

impl CommandHandler {
    async fn wallet_command(
        &self,
        ctx: &CommandContext,
        account_id: AccountId,
        command: WalletCommand,
    ) -> Result<CommandOutcome, CommandError> {
        let command = &command;
        self.execute(
            ctx,
            Wallet::stream_id(&account_id),
            None,
            |mut at| async move {
                require_customer(&mut at, CustomerId::from(account_id)).await?;
                let wallet = at.load::<Wallet>(&account_id).await?;
                let events = wallet.decide(command.clone())?;
                at.emit::<Wallet>(&account_id, &events);
                at.commit().await
            },
        )
        .await
    }

    /// Adds store credit to an open account's wallet.
    pub async fn grant_credit(
        &self,
        ctx: &CommandContext,
        account_id: AccountId,
        amount: Money,
        reason: Reason,
    ) -> Result<CommandOutcome, CommandError> {
        let command = WalletCommand::Grant {
            account_id,
            amount,
            reason,
        };
        self.wallet_command(ctx, account_id, command).await
    }

    /// Takes store credit away; never below zero.
    pub async fn withdraw_credit(
        &self,
        ctx: &CommandContext,
        account_id: AccountId,
        amount: Money,
        reason: Reason,
    ) -> Result<CommandOutcome, CommandError> {
        self.wallet_command(ctx, account_id, WalletCommand::Withdraw { amount, reason })
            .await
    }
}
