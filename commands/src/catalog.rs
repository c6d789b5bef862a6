//! Catalog commands: listing products and pricing them.

use domain::product::{Product, ProductCommand, ProductDetails};
use domain::{AccountId, Aggregate, Money, Sku};

use crate::error::{CommandError, Missing};
use crate::{CommandContext, CommandHandler, CommandOutcome};

impl CommandHandler {
    /// Lists a new product owned by `seller_id`. Its SKU is its identity, so a SKU is listed
    /// once.
    pub async fn create_product(
        &self,
        ctx: &CommandContext,
        seller_id: AccountId,
        sku: Sku,
        details: ProductDetails,
        price: Money,
    ) -> Result<CommandOutcome, CommandError> {
        let sku = &sku;
        let details = &details;
        self.execute(ctx, Product::stream_id(sku), None, |mut at| async move {
            let product = at.load::<Product>(sku).await?;
            let events = product.decide(ProductCommand::Create {
                sku: sku.clone(),
                seller_id,
                details: details.clone(),
                price,
            })?;
            at.emit::<Product>(sku, &events);
            at.commit().await
        })
        .await
    }

    /// Sets a product's unit price.
    pub async fn change_price(
        &self,
        ctx: &CommandContext,
        sku: Sku,
        price: Money,
    ) -> Result<CommandOutcome, CommandError> {
        let sku = &sku;
        self.execute(ctx, Product::stream_id(sku), None, |mut at| async move {
            let product = at.load::<Product>(sku).await?;
            if product.listing.is_none() {
                return Err(CommandError::NotFound(Missing::Product));
            }
            let events = product.decide(ProductCommand::ChangePrice { price })?;
            at.emit::<Product>(sku, &events);
            at.commit().await
        })
        .await
    }
}
