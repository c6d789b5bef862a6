//! Sellers: an account applies with a store profile; admins verify (granting the seller role
//! in the same append), reject, set the commission, suspend and reinstate.

use domain::account::{Account, AccountCommand, Role};
use domain::seller::{CommissionRate, Seller, SellerCommand};
use domain::text::{Description, Reason, StoreName};
use domain::{AccountId, Aggregate};

use crate::error::{CommandError, Missing};
use crate::{CommandContext, CommandHandler, CommandOutcome};

impl CommandHandler {
    /// The account applies to sell (again, after a rejection).
    pub async fn apply_to_sell(
        &self,
        ctx: &CommandContext,
        account_id: AccountId,
        store_name: StoreName,
        description: Description,
    ) -> Result<CommandOutcome, CommandError> {
        let command = SellerCommand::Apply {
            account_id,
            store_name,
            description,
        };
        self.seller_command(ctx, account_id, command).await
    }

    /// Verifies an applicant at a commission rate; the account gets the seller role in the
    /// same append, so a verified seller can always sell.
    pub async fn verify_seller(
        &self,
        ctx: &CommandContext,
        account_id: AccountId,
        commission: CommissionRate,
    ) -> Result<CommandOutcome, CommandError> {
        self.seller_command(ctx, account_id, SellerCommand::Verify { commission })
            .await
    }

    /// Refuses an application.
    pub async fn reject_seller(
        &self,
        ctx: &CommandContext,
        account_id: AccountId,
        reason: Reason,
    ) -> Result<CommandOutcome, CommandError> {
        self.seller_command(ctx, account_id, SellerCommand::Reject { reason })
            .await
    }

    /// Changes a seller's commission.
    pub async fn set_commission(
        &self,
        ctx: &CommandContext,
        account_id: AccountId,
        commission: CommissionRate,
    ) -> Result<CommandOutcome, CommandError> {
        self.seller_command(ctx, account_id, SellerCommand::SetCommission { commission })
            .await
    }

    /// Suspends a seller: its products leave the catalog and cannot be bought.
    pub async fn suspend_seller(
        &self,
        ctx: &CommandContext,
        account_id: AccountId,
        reason: Reason,
    ) -> Result<CommandOutcome, CommandError> {
        self.seller_command(ctx, account_id, SellerCommand::Suspend { reason })
            .await
    }

    /// Ends a suspension.
    pub async fn reinstate_seller(
        &self,
        ctx: &CommandContext,
        account_id: AccountId,
    ) -> Result<CommandOutcome, CommandError> {
        self.seller_command(ctx, account_id, SellerCommand::Reinstate)
            .await
    }

    async fn seller_command(
        &self,
        ctx: &CommandContext,
        account_id: AccountId,
        command: SellerCommand,
    ) -> Result<CommandOutcome, CommandError> {
        let command = &command;
        self.execute(
            ctx,
            Seller::stream_id(&account_id),
            None,
            |mut at| async move {
                let account = at.load::<Account>(&account_id).await?;
                if account.profile.as_ref().is_none_or(|p| p.closed) {
                    return Err(CommandError::NotFound(Missing::Account));
                }
                let seller = at.load::<Seller>(&account_id).await?;
                let events = seller.decide(command.clone())?;
                if matches!(command, SellerCommand::Verify { .. }) && !events.is_empty() {
                    let granted = account.decide(AccountCommand::GrantRole(Role::Seller))?;
                    at.emit::<Account>(&account_id, &granted);
                }
                at.emit::<Seller>(&account_id, &events);
                at.commit().await
            },
        )
        .await
    }

    /// The seller record of an account (default when it never applied).
    pub async fn seller(&self, account_id: AccountId) -> Result<Seller, CommandError> {
        Ok(self.load::<Seller>(&account_id).await?.state)
    }
}
