//! Inventory commands: stock received for a product, corrections of the count and the
//! low-stock threshold.

use domain::inventory::{Inventory, InventoryCommand, LowStockThreshold, StockChange};
use domain::product::Product;
use domain::text::Reason;
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
        let command = InventoryCommand::Receive {
            sku: sku.clone(),
            quantity,
        };
        self.inventory_command(ctx, sku, command).await
    }

    /// Corrects the stock count (a stock take, breakage, loss), never taking away units that
    /// orders hold.
    pub async fn adjust_stock(
        &self,
        ctx: &CommandContext,
        sku: Sku,
        change: StockChange,
        reason: Reason,
    ) -> Result<CommandOutcome, CommandError> {
        let command = InventoryCommand::Adjust {
            sku: sku.clone(),
            change,
            reason,
        };
        self.inventory_command(ctx, sku, command).await
    }

    /// Sets from how few available units a product's stock counts as low.
    pub async fn set_low_stock_threshold(
        &self,
        ctx: &CommandContext,
        sku: Sku,
        threshold: LowStockThreshold,
    ) -> Result<CommandOutcome, CommandError> {
        let command = InventoryCommand::SetLowStockThreshold {
            sku: sku.clone(),
            threshold,
        };
        self.inventory_command(ctx, sku, command).await
    }

    async fn inventory_command(
        &self,
        ctx: &CommandContext,
        sku: Sku,
        command: InventoryCommand,
    ) -> Result<CommandOutcome, CommandError> {
        let (sku, command) = (&sku, &command);
        self.execute(ctx, Inventory::stream_id(sku), None, |mut at| async move {
            if at.load::<Product>(sku).await?.listing.is_none() {
                return Err(CommandError::NotFound(Missing::Product));
            }
            let inventory = at.load::<Inventory>(sku).await?;
            let events = inventory.decide(command.clone())?;
            at.emit::<Inventory>(sku, &events);
            at.commit().await
        })
        .await
    }
}
