//! The category tree: admins define (create, rename, move, reorder) and remove categories.

use domain::category::{CategoryCommand, CategoryTree};
use domain::pricing::Global;
use domain::Aggregate;

use crate::error::CommandError;
use crate::{CommandContext, CommandHandler, CommandOutcome};

impl CommandHandler {
    /// Changes the category tree, decided on the whole of it.
    pub async fn category_command(
        &self,
        ctx: &CommandContext,
        command: CategoryCommand,
    ) -> Result<CommandOutcome, CommandError> {
        let command = &command;
        self.execute(
            ctx,
            CategoryTree::stream_id(&Global),
            None,
            |mut at| async move {
                let tree = at.load::<CategoryTree>(&Global).await?;
                let events = tree.decide(command.clone())?;
                at.emit::<CategoryTree>(&Global, &events);
                at.commit().await
            },
        )
        .await
    }
}
