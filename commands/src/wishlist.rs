//! Wishlists: a customer keeps products on sale to come back to, at the price they had then.

use domain::product::{Product, ProductError};
use domain::wishlist::{Wishlist, WishlistCommand};
use domain::{Aggregate, CustomerId, Sku};

use crate::cart::require_customer;
use crate::error::{CommandError, Rejection};
use crate::{CommandContext, CommandHandler, CommandOutcome};

impl CommandHandler {
    /// Puts a product on sale on the customer's wishlist, remembering its price now.
    pub async fn add_to_wishlist(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
        sku: Sku,
    ) -> Result<CommandOutcome, CommandError> {
        let sku = &sku;
        self.execute(
            ctx,
            Wishlist::stream_id(&customer_id),
            None,
            |mut at| async move {
                require_customer(&mut at, customer_id).await?;
                let product = at.load::<Product>(sku).await?;
                let listing = match &product.listing {
                    None => return Err(Rejection::UnknownProduct(sku.to_string()).into()),
                    Some(l) if l.archived => return Err(ProductError::Archived(sku.clone()).into()),
                    Some(l) if !l.published => {
                        return Err(ProductError::NotApproved(sku.clone()).into())
                    }
                    Some(l) => l,
                };
                let wishlist = at.load::<Wishlist>(&customer_id).await?;
                let events = wishlist.decide(WishlistCommand::Add {
                    customer_id,
                    sku: sku.clone(),
                    price: listing.price,
                })?;
                at.emit::<Wishlist>(&customer_id, &events);
                at.commit().await
            },
        )
        .await
    }

    /// Takes a product off the customer's wishlist.
    pub async fn remove_from_wishlist(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
        sku: Sku,
    ) -> Result<CommandOutcome, CommandError> {
        let sku = &sku;
        self.execute(
            ctx,
            Wishlist::stream_id(&customer_id),
            None,
            |mut at| async move {
                require_customer(&mut at, customer_id).await?;
                let wishlist = at.load::<Wishlist>(&customer_id).await?;
                let events = wishlist.decide(WishlistCommand::Remove {
                    customer_id,
                    sku: sku.clone(),
                })?;
                at.emit::<Wishlist>(&customer_id, &events);
                at.commit().await
            },
        )
        .await
    }
}
