//! Reviews: a buyer reviews a product once (and edits that review); admins hide and show
//! reviews. The purchase is proven from the event store: the reviewer's order, loaded here, must
//! be theirs, delivered, and hold the product.

use domain::order::Order;
use domain::product::Product;
use domain::review::{proves_purchase, Rating, Review, ReviewCommand, ReviewError, ReviewKey};
use domain::text::{Reason, ReviewText};
use domain::{Aggregate, CustomerId, OrderId, Sku};

use crate::cart::require_customer;
use crate::error::{CommandError, Missing};
use crate::{CommandContext, CommandHandler, CommandOutcome};

impl CommandHandler {
    /// Writes or replaces the customer's review of `sku`. `orders` are the customer's orders
    /// that may prove the purchase (from a read model, or named by the client); the first that
    /// does, read from its stream, is the proof.
    pub async fn submit_review(
        &self,
        ctx: &CommandContext,
        key: ReviewKey,
        orders: &[OrderId],
        rating: Rating,
        text: ReviewText,
    ) -> Result<CommandOutcome, CommandError> {
        let (key, text) = (&key, &text);
        self.execute(ctx, Review::stream_id(key), None, |mut at| async move {
            require_customer(&mut at, key.customer_id).await?;
            if at.load::<Product>(&key.sku).await?.listing.is_none() {
                return Err(CommandError::NotFound(Missing::Product));
            }
            let mut proof = None;
            for order_id in orders {
                let order = at.load::<Order>(order_id).await?;
                if proves_purchase(&order, key.customer_id, &key.sku) {
                    proof = Some(order);
                    break;
                }
            }
            let Some(proof) = proof else {
                return Err(ReviewError::NotABuyer(key.sku.clone()).into());
            };
            let review = at.load::<Review>(key).await?;
            let events = review.decide(ReviewCommand::Submit {
                key: key.clone(),
                proof: Box::new(proof),
                rating,
                text: text.clone(),
            })?;
            at.emit::<Review>(key, &events);
            at.commit().await
        })
        .await
    }

    /// Hides a review from the catalog, with the reason.
    pub async fn hide_review(
        &self,
        ctx: &CommandContext,
        key: ReviewKey,
        reason: Reason,
    ) -> Result<CommandOutcome, CommandError> {
        self.moderate(ctx, key, ReviewCommand::Hide { reason })
            .await
    }

    /// Shows a hidden review again.
    pub async fn show_review(
        &self,
        ctx: &CommandContext,
        key: ReviewKey,
    ) -> Result<CommandOutcome, CommandError> {
        self.moderate(ctx, key, ReviewCommand::Show).await
    }

    async fn moderate(
        &self,
        ctx: &CommandContext,
        key: ReviewKey,
        command: ReviewCommand,
    ) -> Result<CommandOutcome, CommandError> {
        let (key, command) = (&key, &command);
        self.execute(ctx, Review::stream_id(key), None, |mut at| async move {
            let review = at.load::<Review>(key).await?;
            let events = review.decide(command.clone())?;
            at.emit::<Review>(key, &events);
            at.commit().await
        })
        .await
    }
}

/// The review key of a customer's review of a product.
pub fn review_key(customer_id: CustomerId, sku: Sku) -> ReviewKey {
    ReviewKey { sku, customer_id }
}
