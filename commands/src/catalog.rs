//! Catalog commands: listing products, pricing, editing, archiving and restoring them.

use domain::category::{CategoryError, CategoryTree};
use domain::pricing::Global;
use domain::product::{Editor, Product, ProductCommand, ProductDetails};
use domain::seller::{Seller, SellerError};
use domain::text::Reason;
use domain::{AccountId, Aggregate, Money, Sku};

use crate::error::{CommandError, Missing};
use crate::execute::Attempt;
use crate::{CommandContext, CommandHandler, CommandOutcome};

/// Refuses a category that is not in the tree, and makes the append conditional on the tree
/// staying as read, so a product never lands in a category removed at the same moment.
async fn require_category(at: &mut Attempt, details: &ProductDetails) -> Result<(), CommandError> {
    let tree = at.load::<CategoryTree>(&Global).await?;
    if !tree.contains(&details.category) {
        return Err(CategoryError::NotFound(details.category.clone()).into());
    }
    at.require_unchanged::<CategoryTree>(&Global);
    Ok(())
}

impl CommandHandler {
    /// Lists a new product owned by `seller_id`. Its SKU is its identity, so a SKU is listed
    /// once. Listed `by` its seller, it is public only once an admin approved it.
    pub async fn create_product(
        &self,
        ctx: &CommandContext,
        seller_id: AccountId,
        sku: Sku,
        details: ProductDetails,
        price: Money,
        by: Editor,
    ) -> Result<CommandOutcome, CommandError> {
        let sku = &sku;
        let details = &details;
        self.execute(ctx, Product::stream_id(sku), None, |mut at| async move {
            require_category(&mut at, details).await?;
            if at.load::<Seller>(&seller_id).await?.suspended() {
                return Err(SellerError::Suspended.into());
            }
            at.require_unchanged::<Seller>(&seller_id);
            let product = at.load::<Product>(sku).await?;
            let events = product.decide(ProductCommand::Create {
                sku: sku.clone(),
                seller_id,
                details: details.clone(),
                price,
                by,
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
        self.product_command(ctx, sku, None, ProductCommand::ChangePrice { price })
            .await
    }

    /// Replaces a product's descriptive content. With `pinned` (`If-Match`), refused with a
    /// conflict when someone else changed the product since the editor read it.
    pub async fn edit_product(
        &self,
        ctx: &CommandContext,
        sku: Sku,
        pinned: Option<i64>,
        details: ProductDetails,
        by: Editor,
    ) -> Result<CommandOutcome, CommandError> {
        self.product_command(ctx, sku, pinned, ProductCommand::Edit { details, by })
            .await
    }

    /// Publishes the content waiting for approval.
    pub async fn approve_product(
        &self,
        ctx: &CommandContext,
        sku: Sku,
    ) -> Result<CommandOutcome, CommandError> {
        self.product_command(ctx, sku, None, ProductCommand::Approve)
            .await
    }

    /// Refuses the content waiting for approval.
    pub async fn reject_product(
        &self,
        ctx: &CommandContext,
        sku: Sku,
        reason: Reason,
    ) -> Result<CommandOutcome, CommandError> {
        self.product_command(ctx, sku, None, ProductCommand::Reject { reason })
            .await
    }

    /// Takes a product out of the catalog; carts holding it are refused at checkout.
    pub async fn archive_product(
        &self,
        ctx: &CommandContext,
        sku: Sku,
        reason: Reason,
    ) -> Result<CommandOutcome, CommandError> {
        self.product_command(ctx, sku, None, ProductCommand::Archive { reason })
            .await
    }

    /// Puts an archived product back in the catalog.
    pub async fn restore_product(
        &self,
        ctx: &CommandContext,
        sku: Sku,
    ) -> Result<CommandOutcome, CommandError> {
        self.product_command(ctx, sku, None, ProductCommand::Restore)
            .await
    }

    async fn product_command(
        &self,
        ctx: &CommandContext,
        sku: Sku,
        pinned: Option<i64>,
        command: ProductCommand,
    ) -> Result<CommandOutcome, CommandError> {
        let (sku, command) = (&sku, &command);
        self.execute(ctx, Product::stream_id(sku), pinned, |mut at| async move {
            let product = at.load::<Product>(sku).await?;
            if product.listing.is_none() {
                return Err(CommandError::NotFound(Missing::Product));
            }
            if let ProductCommand::Edit { details, .. } = command {
                let moved = product
                    .listing
                    .as_ref()
                    .is_some_and(|l| l.details.category != details.category);
                if moved {
                    require_category(&mut at, details).await?;
                }
            }
            let events = product.decide(command.clone())?;
            at.emit::<Product>(sku, &events);
            at.commit().await
        })
        .await
    }
}
