//! Account commands. Registration and closing span two streams: the account and the claim on
//! its email, so an email belongs to at most one open account, without races.

use std::collections::BTreeSet;

use domain::account::{
    Account, AccountCommand, AccountError, Email, EmailClaim, EmailClaimCommand, Role,
};
use domain::text::{DisplayName, Reason};
use domain::wallet::{Wallet, WalletCommand};
use domain::{AccountId, Aggregate};

use crate::error::CommandError;
use crate::{CommandContext, CommandHandler, CommandOutcome};

impl CommandHandler {
    /// Opens an account. The email claim and the account are appended together, so of two
    /// concurrent registrations with one email exactly one succeeds.
    pub async fn register_account(
        &self,
        ctx: &CommandContext,
        account_id: AccountId,
        email: Email,
        display_name: DisplayName,
        roles: BTreeSet<Role>,
    ) -> Result<CommandOutcome, CommandError> {
        let email = &email;
        let display_name = &display_name;
        let roles = &roles;
        self.execute(
            ctx,
            Account::stream_id(&account_id),
            None,
            |mut at| async move {
                let claim = at.load::<EmailClaim>(email).await?;
                let account = at.load::<Account>(&account_id).await?;
                let claimed = claim.decide(EmailClaimCommand::Claim(account_id))?;
                let registered = account.decide(AccountCommand::Register {
                    account_id,
                    email: email.clone(),
                    display_name: display_name.clone(),
                    roles: roles.clone(),
                })?;
                at.emit::<Account>(&account_id, &registered);
                at.emit::<EmailClaim>(email, &claimed);
                let signup_credit = self
                    .signup_credit
                    .filter(|_| roles.contains(&Role::Customer));
                if let Some(amount) = signup_credit {
                    let wallet = at.load::<Wallet>(&account_id).await?;
                    let granted = wallet.decide(WalletCommand::Grant {
                        account_id,
                        amount,
                        reason: Reason::parse("sign-up credit").expect("a valid reason"),
                    })?;
                    at.emit::<Wallet>(&account_id, &granted);
                }
                at.commit().await
            },
        )
        .await
    }

    /// Runs an account command that touches only the account stream.
    pub async fn account_command(
        &self,
        ctx: &CommandContext,
        account_id: AccountId,
        command: AccountCommand,
    ) -> Result<CommandOutcome, CommandError> {
        let command = &command;
        self.execute(
            ctx,
            Account::stream_id(&account_id),
            None,
            |mut at| async move {
                let account = at.load::<Account>(&account_id).await?;
                let events = account.decide(command.clone())?;
                at.emit::<Account>(&account_id, &events);
                at.commit().await
            },
        )
        .await
    }

    /// Closes an account and frees its email, together.
    pub async fn close_account(
        &self,
        ctx: &CommandContext,
        account_id: AccountId,
    ) -> Result<CommandOutcome, CommandError> {
        self.execute(
            ctx,
            Account::stream_id(&account_id),
            None,
            |mut at| async move {
                let account = at.load::<Account>(&account_id).await?;
                let closed = account.decide(AccountCommand::Close)?;
                let email = account
                    .profile
                    .as_ref()
                    .map(|p| p.email.clone())
                    .ok_or(AccountError::NotFound)?;
                let claim = at.load::<EmailClaim>(&email).await?;
                let released = claim.decide(EmailClaimCommand::Release(account_id))?;
                at.emit::<Account>(&account_id, &closed);
                at.emit::<EmailClaim>(&email, &released);
                at.commit().await
            },
        )
        .await
    }

    /// Erases an account holder's personal data, closing the account first if it is open:
    /// the close (which frees the email), then the key's destruction, then `AccountErased`.
    /// Each step is idempotent, so a retry after a crash between them finishes the job, and
    /// erasing an erased account changes nothing.
    pub async fn erase_account(
        &self,
        ctx: &CommandContext,
        account_id: AccountId,
    ) -> Result<CommandOutcome, CommandError> {
        let account = self.load::<Account>(&account_id).await?.state;
        match &account.profile {
            None => return Err(AccountError::NotFound.into()),
            Some(p) if !p.closed => {
                self.close_account(ctx, account_id).await?;
            }
            Some(_) => {}
        }
        self.store.erase_personal_data(account_id.as_uuid()).await?;
        self.account_command(ctx, account_id, AccountCommand::Erase)
            .await
    }
}
