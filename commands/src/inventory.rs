//! Inventory commands: stock received for a product.

use domain::inventory::{Inventory, InventoryCommand};
use domain::product::Product;
use domain::{Aggregate, Quantity, Sku};

use crate::error::{CommandError, Missing};
use crate::{CommandContext, CommandHandler, CommandOutcome};

impl CommandHandler {
    /// Adds received units to a product's stock.
    pub async fn receive_stock(
        &self,
        ctx: &CommandContext,
        sku: Sku,
        quantity: Quantity,
    ) -> Result<CommandOutcome, CommandError> {
        let sku = &sku;
        self.execute(ctx, Inventory::stream_id(sku), None, |mut at| async move {
            if at.load::<Product>(sku).await?.listing.is_none() {
                return Err(CommandError::NotFound(Missing::Product));
            }
            let inventory = at.load::<Inventory>(sku).await?;
            let events = inventory.decide(InventoryCommand::Receive {
                sku: sku.clone(),
                quantity,
            })?;
            at.emit::<Inventory>(sku, &events);
            at.commit().await
        })
        .await
    }
}
