//! Checkout and orders: placing an order from a cart (one atomic decision over the order, the
//! cart, every inventory and the prices), then paying, shipping, delivering or cancelling it.

use std::collections::BTreeMap;

use uuid::Uuid;

use domain::cart::Cart;
use domain::checkout::{self, CheckoutRequest, CheckoutState, MultiStreamDecision};
use domain::inventory::Inventory;
use domain::order::{Order, OrderAddresses, OrderCommand, OrderError, PaymentMethod};
use domain::pricing::{Global, Pricing, Quote};
use domain::product::Product;
use domain::seller::Seller;
use domain::text::{Carrier, PaymentReference, Reason, TrackingNumber};
use domain::wallet::Wallet;
use domain::{AccountId, Aggregate, CustomerId, Money, OrderId};

use crate::addresses::{resolve, Checkout};
use crate::cart::require_customer;
use crate::error::{CommandError, Missing, Rejection};
use crate::execute::{Attempt, Loaded};
use crate::{CommandContext, CommandHandler, CommandOutcome};

/// Namespace for order ids derived from idempotency keys.
const ORDER_KEY_NAMESPACE: Uuid = Uuid::from_u128(0x6f72_6465_722d_6b65_792d_6e61_6d65_7370);

/// The seller of every product in `products`, each loaded once.
async fn load_sellers(
    at: &mut Attempt,
    products: &BTreeMap<domain::Sku, Product>,
) -> Result<BTreeMap<AccountId, Seller>, CommandError> {
    let mut sellers = BTreeMap::new();
    let ids: std::collections::BTreeSet<AccountId> = products
        .values()
        .filter_map(|p| p.listing.as_ref().map(|l| l.seller_id))
        .collect();
    for id in ids {
        sellers.insert(id, at.load::<Seller>(&id).await?);
    }
    Ok(sellers)
}

/// Appends a multi-stream decision's inventory events, each against the version read.
fn emit_inventory(at: &mut Attempt, decision: &MultiStreamDecision) {
    for (sku, events) in &decision.inventory {
        at.emit::<Inventory>(sku, events);
    }
}

impl CommandHandler {
    /// Turns the customer's cart into an order: prices from the catalog now, stock reserved on
    /// every SKU, cart emptied, all in one atomic append.
    ///
    /// The order is shipped and billed to `addresses` (see [`CheckoutAddresses`]): no
    /// shipping address means the address book's default, or `shipping_address_required`.
    ///
    /// With an idempotency key the order id is derived from (customer, key), so a retried
    /// request finds the order it already placed and answers with it instead of placing a
    /// second one, also when the retry runs concurrently with the first execution.
    pub async fn place_order(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
        idempotency_key: Option<&str>,
        checkout: &Checkout,
    ) -> Result<(OrderId, CommandOutcome), CommandError> {
        let order_id = match idempotency_key {
            Some(key) => OrderId::from_uuid(Uuid::new_v5(
                &ORDER_KEY_NAMESPACE,
                format!("{customer_id}/{key}").as_bytes(),
            )),
            None => OrderId::generate(),
        };
        let result = self
            .execute(
                ctx,
                Order::stream_id(&order_id),
                None,
                |mut at| async move {
                    let existing = at.load_full::<Order>(&order_id).await?;
                    if let Some(replay) = self.replay(existing, order_id, customer_id).await? {
                        return Ok(replay);
                    }
                    require_customer(&mut at, customer_id).await?;
                    let addresses = resolve(&mut at, customer_id, checkout).await?;
                    self.decide_placement(&mut at, customer_id, order_id, addresses, checkout)
                        .await?;
                    at.commit().await
                },
            )
            .await;
        match result {
            // A concurrent execution with the same key may have won after this one read the
            // order stream: its cart is then empty or its stock reserved. The client asked for
            // that order, so answer with it.
            Err(CommandError::Rejected(_) | CommandError::Conflict { .. })
                if idempotency_key.is_some() =>
            {
                match self.placed_already(order_id, customer_id).await? {
                    Some(replay) => Ok((order_id, replay)),
                    None => result.map(|outcome| (order_id, outcome)),
                }
            }
            other => other.map(|outcome| {
                if !outcome.replayed {
                    tracing::info!(%order_id, position = ?outcome.global_position, "order placed");
                }
                (order_id, outcome)
            }),
        }
    }

    /// The answer to a repeated placement, when the order exists: the first execution's order,
    /// with a position at or past all its effects.
    async fn placed_already(
        &self,
        order_id: OrderId,
        customer_id: CustomerId,
    ) -> Result<Option<CommandOutcome>, CommandError> {
        let existing = self.load::<Order>(&order_id).await?;
        self.replay(existing, order_id, customer_id).await
    }

    async fn replay(
        &self,
        existing: Loaded<Order>,
        order_id: OrderId,
        customer_id: CustomerId,
    ) -> Result<Option<CommandOutcome>, CommandError> {
        let Some(placed) = &existing.state.placed else {
            return Ok(None);
        };
        if placed.customer_id != customer_id {
            return Err(Rejection::Order(OrderError::AlreadyPlaced).into());
        }
        // The first execution also wrote cart and inventory events after the order's; the
        // head is at or past all of them, so waiting for it reads every effect.
        let head = self.store.head_position().await?;
        Ok(Some(CommandOutcome {
            stream_id: Order::stream_id(&order_id),
            stream_version: existing.version,
            global_position: Some(head.max(existing.last_position.unwrap_or(0))),
            replayed: true,
        }))
    }

    async fn decide_placement(
        &self,
        at: &mut Attempt,
        customer_id: CustomerId,
        order_id: OrderId,
        addresses: OrderAddresses,
        checkout: &Checkout,
    ) -> Result<(), CommandError> {
        let credit = checkout.store_credit;
        let cart = at.load::<Cart>(&customer_id).await?;
        let mut products = BTreeMap::new();
        let mut inventories = BTreeMap::new();
        for sku in cart.items.keys() {
            products.insert(sku.clone(), at.load::<Product>(sku).await?);
            inventories.insert(sku.clone(), at.load::<Inventory>(sku).await?);
        }
        let sellers = load_sellers(at, &products).await?;
        let account = AccountId::from_uuid(customer_id.as_uuid());
        let wallet = match credit {
            Some(_) => at.load::<Wallet>(&account).await?,
            None => Wallet::default(),
        };
        let pricing = at.load::<Pricing>(&Global).await?;
        let decision = checkout::place_order(
            CheckoutState {
                cart: &cart,
                products: &products,
                inventories: &inventories,
                sellers: &sellers,
                wallet: &wallet,
                pricing: &pricing,
            },
            customer_id,
            order_id,
            CheckoutRequest {
                addresses,
                credit,
                shipping_method: checkout.shipping_method.clone(),
                expected_total: checkout.expected_total,
            },
        )?;
        // Tax rates and shipping fees are part of the decision, like prices.
        at.require_unchanged::<Pricing>(&Global);
        at.emit::<Wallet>(&account, &decision.wallet);
        at.emit::<Order>(&order_id, &decision.order);
        at.emit::<Cart>(&customer_id, &decision.cart);
        emit_inventory(at, &decision);
        // Prices are part of the decision: a concurrent price change forces a retry.
        for sku in products.keys() {
            at.require_unchanged::<Product>(sku);
        }
        // So is every seller's standing: a suspension at the same moment forces a retry.
        for seller in sellers.keys() {
            at.require_unchanged::<Seller>(seller);
        }
        Ok(())
    }

    /// What placing the customer's cart would charge now (shipping and tax included), without
    /// placing it; refused for the same reasons a checkout would be.
    pub async fn preview_checkout(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
        checkout: &Checkout,
    ) -> Result<Quote, CommandError> {
        let mut at = self.dry_run(ctx, Cart::stream_id(&customer_id));
        require_customer(&mut at, customer_id).await?;
        let addresses = resolve(&mut at, customer_id, checkout).await?;
        let cart = at.load::<Cart>(&customer_id).await?;
        let mut products = BTreeMap::new();
        let mut inventories = BTreeMap::new();
        for sku in cart.items.keys() {
            products.insert(sku.clone(), at.load::<Product>(sku).await?);
            inventories.insert(sku.clone(), at.load::<Inventory>(sku).await?);
        }
        let sellers = load_sellers(&mut at, &products).await?;
        let account = AccountId::from_uuid(customer_id.as_uuid());
        let wallet = match checkout.store_credit {
            Some(_) => at.load::<Wallet>(&account).await?,
            None => Wallet::default(),
        };
        let pricing = at.load::<Pricing>(&Global).await?;
        Ok(checkout::preview(
            CheckoutState {
                cart: &cart,
                products: &products,
                inventories: &inventories,
                sellers: &sellers,
                wallet: &wallet,
                pricing: &pricing,
            },
            customer_id,
            CheckoutRequest {
                addresses,
                credit: checkout.store_credit,
                shipping_method: checkout.shipping_method.clone(),
                expected_total: None,
            },
        )?)
    }

    /// Runs a command that touches the order stream only.
    pub(crate) async fn order_command(
        &self,
        ctx: &CommandContext,
        order_id: OrderId,
        pinned: Option<i64>,
        command: OrderCommand,
    ) -> Result<CommandOutcome, CommandError> {
        let command = &command;
        self.execute(
            ctx,
            Order::stream_id(&order_id),
            pinned,
            |mut at| async move {
                let order = at.load::<Order>(&order_id).await?;
                let events = order.decide(command.clone())?;
                at.emit::<Order>(&order_id, &events);
                at.commit().await
            },
        )
        .await
    }

    /// Records payment of an order's total. `pinned` is the `If-Match` version, if any.
    pub async fn pay_order(
        &self,
        ctx: &CommandContext,
        order_id: OrderId,
        pinned: Option<i64>,
        amount: Money,
        payment_reference: PaymentReference,
        method: PaymentMethod,
    ) -> Result<CommandOutcome, CommandError> {
        let command = OrderCommand::Pay {
            amount,
            payment_reference,
            method,
        };
        self.order_command(ctx, order_id, pinned, command).await
    }

    /// Records the hand-over to a carrier.
    pub async fn ship_order(
        &self,
        ctx: &CommandContext,
        order_id: OrderId,
        pinned: Option<i64>,
        carrier: Carrier,
        tracking_number: TrackingNumber,
    ) -> Result<CommandOutcome, CommandError> {
        let command = OrderCommand::Ship {
            carrier,
            tracking_number,
        };
        self.order_command(ctx, order_id, pinned, command).await
    }

    /// A seller hands their part of the order to a carrier (the order is shipped with the
    /// last part).
    pub async fn ship_fulfilment(
        &self,
        ctx: &CommandContext,
        order_id: OrderId,
        seller_id: AccountId,
        carrier: Carrier,
        tracking_number: TrackingNumber,
    ) -> Result<CommandOutcome, CommandError> {
        let command = OrderCommand::ShipFulfilment {
            seller_id,
            carrier,
            tracking_number,
        };
        self.order_command(ctx, order_id, None, command).await
    }

    /// A seller's part reached the customer (the order is delivered with the last part).
    pub async fn deliver_fulfilment(
        &self,
        ctx: &CommandContext,
        order_id: OrderId,
        seller_id: AccountId,
    ) -> Result<CommandOutcome, CommandError> {
        let command = OrderCommand::DeliverFulfilment { seller_id };
        self.order_command(ctx, order_id, None, command).await
    }

    /// Records the delivery.
    pub async fn deliver_order(
        &self,
        ctx: &CommandContext,
        order_id: OrderId,
        pinned: Option<i64>,
    ) -> Result<CommandOutcome, CommandError> {
        self.order_command(ctx, order_id, pinned, OrderCommand::Deliver)
            .await
    }

    /// Cancels an order and releases its stock, in one atomic append.
    pub async fn cancel_order(
        &self,
        ctx: &CommandContext,
        order_id: OrderId,
        pinned: Option<i64>,
        reason: Reason,
    ) -> Result<CommandOutcome, CommandError> {
        let reason = &reason;
        self.execute(
            ctx,
            Order::stream_id(&order_id),
            pinned,
            |mut at| async move {
                let order = at.load::<Order>(&order_id).await?;
                let placed = order
                    .placed
                    .as_ref()
                    .ok_or(CommandError::NotFound(Missing::Order))?;
                let mut inventories = BTreeMap::new();
                for line in &placed.lines {
                    inventories.insert(line.sku.clone(), at.load::<Inventory>(&line.sku).await?);
                }
                let account = AccountId::from_uuid(placed.customer_id.as_uuid());
                let wallet = match placed.credit_applied {
                    Some(_) => at.load::<Wallet>(&account).await?,
                    None => Wallet::default(),
                };
                let decision =
                    checkout::cancel_order(&order, &inventories, &wallet, reason.clone())?;
                at.emit::<Order>(&order_id, &decision.order);
                at.emit::<Wallet>(&account, &decision.wallet);
                emit_inventory(&mut at, &decision);
                at.commit().await
            },
        )
        .await
    }
}
