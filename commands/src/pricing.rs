//! Pricing configuration: tax rates and shipping methods, set by admins.

use domain::pricing::{Global, Pricing, PricingCommand};
use domain::Aggregate;

use crate::error::CommandError;
use crate::{CommandContext, CommandHandler, CommandOutcome};

impl CommandHandler {
    /// Changes the pricing configuration.
    pub async fn pricing_command(
        &self,
        ctx: &CommandContext,
        command: PricingCommand,
    ) -> Result<CommandOutcome, CommandError> {
        let command = &command;
        self.execute(
            ctx,
            Pricing::stream_id(&Global),
            None,
            |mut at| async move {
                let pricing = at.load::<Pricing>(&Global).await?;
                let events = pricing.decide(command.clone())?;
                at.emit::<Pricing>(&Global, &events);
                at.commit().await
            },
        )
        .await
    }

    /// The pricing configuration as it stands.
    pub async fn pricing(&self) -> Result<Pricing, CommandError> {
        Ok(self.load::<Pricing>(&Global).await?.state)
    }
}
