//! Cart commands. A cart belongs to a customer account that exists and is open: an admin
//! acting for a customer id that is no account gets `customer_not_found`.

use domain::account::Account;
use domain::cart::{Cart, CartCommand};
use domain::product::{Product, ProductError};
use domain::seller::{Seller, SellerError};
use domain::{AccountId, Aggregate, CustomerId, Quantity, Sku};

use crate::error::{CommandError, Missing, Rejection};
use crate::execute::Attempt;
use crate::{CommandContext, CommandHandler, CommandOutcome};

/// Refuses a customer id that is not an open account.
pub(crate) async fn require_customer(
    at: &mut Attempt,
    customer_id: CustomerId,
) -> Result<(), CommandError> {
    let account = at
        .load::<Account>(&AccountId::from_uuid(customer_id.as_uuid()))
        .await?;
    match account.profile {
        Some(profile) if !profile.closed => Ok(()),
        _ => Err(CommandError::NotFound(Missing::Customer)),
    }
}

impl CommandHandler {
    async fn cart_command(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
        product: Option<&Sku>,
        command: CartCommand,
    ) -> Result<CommandOutcome, CommandError> {
        let command = &command;
        self.execute(
            ctx,
            Cart::stream_id(&customer_id),
            None,
            |mut at| async move {
                require_customer(&mut at, customer_id).await?;
                if let Some(sku) = product {
                    let product = at.load::<Product>(sku).await?;
                    match &product.listing {
                        None => return Err(Rejection::UnknownProduct(sku.to_string()).into()),
                        Some(listing) if listing.archived => {
                            return Err(
                                Rejection::Product(ProductError::Archived(sku.clone())).into()
                            )
                        }
                        Some(listing) if !listing.published => {
                            return Err(
                                Rejection::Product(ProductError::NotApproved(sku.clone())).into()
                            )
                        }
                        Some(listing) => {
                            if at.load::<Seller>(&listing.seller_id).await?.suspended() {
                                return Err(SellerError::Suspended.into());
                            }
                        }
                    }
                }
                let cart = at.load::<Cart>(&customer_id).await?;
                let events = cart.decide(command.clone())?;
                at.emit::<Cart>(&customer_id, &events);
                at.commit().await
            },
        )
        .await
    }

    /// Puts units of an existing product in the customer's cart.
    pub async fn add_to_cart(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
        sku: Sku,
        quantity: Quantity,
    ) -> Result<CommandOutcome, CommandError> {
        let command = CartCommand::AddItem {
            customer_id,
            sku: sku.clone(),
            quantity,
        };
        self.cart_command(ctx, customer_id, Some(&sku), command)
            .await
    }

    /// Sets the quantity of a cart line.
    pub async fn change_cart_quantity(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
        sku: Sku,
        quantity: Quantity,
    ) -> Result<CommandOutcome, CommandError> {
        let command = CartCommand::ChangeQuantity {
            customer_id,
            sku,
            quantity,
        };
        self.cart_command(ctx, customer_id, None, command).await
    }

    /// Removes a cart line.
    pub async fn remove_from_cart(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
        sku: Sku,
    ) -> Result<CommandOutcome, CommandError> {
        let command = CartCommand::RemoveItem { customer_id, sku };
        self.cart_command(ctx, customer_id, None, command).await
    }

    /// Empties the cart.
    pub async fn clear_cart(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
    ) -> Result<CommandOutcome, CommandError> {
        self.cart_command(ctx, customer_id, None, CartCommand::Clear { customer_id })
            .await
    }
}
