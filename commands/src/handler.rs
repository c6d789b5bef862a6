//! One method per command.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;
use uuid::Uuid;

use domain::account::{
    Account, AccountCommand, Email, EmailClaim, EmailClaimCommand, Profile, Role,
};
use domain::cart::{Cart, CartCommand};
use domain::checkout::{self, CheckoutState, MultiStreamDecision};
use domain::inventory::{Inventory, InventoryCommand};
use domain::order::{Order, OrderCommand};
use domain::product::{Product, ProductCommand, ProductDetails};
use domain::{AccountId, Aggregate, CustomerId, Money, OrderId, Quantity, Sku};
use events::codec::{decode, encode};
use events::{EventStore, ExpectedVersion, Metadata, NewEvent, StreamAppend};

use crate::error::{CommandError, Rejection};

/// Who sent a command and as part of what; becomes every event's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandContext {
    /// Shared by every event of one business flow.
    pub correlation_id: Uuid,
    /// Identity of this command (the HTTP request id).
    pub causation_id: Uuid,
    /// Who issued it, when known.
    pub actor: Option<String>,
}

impl CommandContext {
    /// A context for a command that starts its own flow.
    pub fn new(actor: Option<String>) -> Self {
        let id = Uuid::now_v7();
        CommandContext {
            correlation_id: id,
            causation_id: id,
            actor,
        }
    }

    fn metadata(&self) -> Metadata {
        Metadata {
            correlation_id: self.correlation_id,
            causation_id: Some(self.causation_id),
            actor: self.actor.clone(),
        }
    }
}

/// What an accepted command changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandOutcome {
    /// The stream the command addressed.
    pub stream_id: String,
    /// That stream's version after the command.
    pub stream_version: i64,
    /// Global position of the last event written; queries can wait for it
    /// (`?min_position=`). `None` when the command changed nothing.
    pub global_position: Option<i64>,
    /// True when an idempotent command was answered from its first execution.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}

/// A past point in an aggregate's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointInTime {
    /// After this stream version.
    Version(i64),
    /// As recorded at this instant.
    Time(chrono::DateTime<chrono::Utc>),
    /// Now.
    Now,
}

/// An order as it stood at a point in time.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderAt {
    /// Its state then.
    pub order: domain::order::PlacedOrder,
    /// Stream version of the last event applied.
    pub version: i64,
    /// When that event was recorded.
    pub recorded_at: chrono::DateTime<chrono::Utc>,
}

/// Name of a stream of aggregate `A`.
pub fn stream_id<A: Aggregate>(id: impl std::fmt::Display) -> String {
    format!("{}-{}", A::CATEGORY, id)
}

/// Namespace for order ids derived from idempotency keys.
const ORDER_KEY_NAMESPACE: Uuid = Uuid::from_u128(0x6f72_6465_722d_6b65_792d_6e61_6d65_7370);

struct Loaded<A> {
    state: A,
    version: i64,
    last_position: Option<i64>,
}

impl<A> Loaded<A> {
    fn expected(&self) -> ExpectedVersion {
        if self.version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(self.version)
        }
    }
}

/// Executes commands against an event store.
#[derive(Clone)]
pub struct CommandHandler {
    store: Arc<dyn EventStore>,
    max_attempts: u32,
}

impl CommandHandler {
    /// A handler that retries a conflicting command up to 10 times.
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        CommandHandler {
            store,
            max_attempts: 10,
        }
    }

    /// The event store commands are written to.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    async fn load<A>(&self, stream: &str) -> Result<Loaded<A>, CommandError>
    where
        A: Aggregate,
        A::Event: DeserializeOwned,
    {
        let recorded = self.store.read_stream(stream, 1).await?;
        let mut state = A::default();
        for event in &recorded {
            state.apply(&decode::<A::Event>(event)?);
        }
        Ok(Loaded {
            state,
            version: recorded.last().map_or(0, |e| e.stream_version),
            last_position: recorded.last().map(|e| e.global_position),
        })
    }

    async fn product(&self, sku: &Sku) -> Result<Loaded<Product>, CommandError> {
        self.load::<Product>(&stream_id::<Product>(sku)).await
    }

    /// Whether to try again after `result`, sleeping a little with jitter first.
    async fn retry<T>(&self, result: &Result<T, CommandError>, pinned: bool, attempt: u32) -> bool {
        let conflict = matches!(result, Err(CommandError::Conflict { .. }));
        if !conflict || pinned || attempt >= self.max_attempts {
            return false;
        }
        let ceiling_ms = (2_u64 << attempt.min(6)).min(100);
        let jitter = (Uuid::new_v4().as_u128() % u128::from(ceiling_ms * 1000)) as u64;
        tracing::debug!(attempt, "conflict, retrying");
        tokio::time::sleep(Duration::from_micros(jitter)).await;
        true
    }

    /// Runs `attempt` until it succeeds, fails for another reason than a conflict, or the
    /// conflict must surface (pinned version, or attempts exhausted).
    async fn with_retries<T, F, Fut>(&self, pinned: bool, mut attempt: F) -> Result<T, CommandError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, CommandError>>,
    {
        let mut n = 0;
        loop {
            n += 1;
            let result = attempt().await;
            if !self.retry(&result, pinned, n).await {
                return result;
            }
        }
    }

    /// Runs a decision on one aggregate and appends its events.
    async fn single<A>(
        &self,
        ctx: &CommandContext,
        stream: String,
        pinned: Option<i64>,
        decide: impl Fn(&A) -> Result<Vec<A::Event>, CommandError>,
    ) -> Result<CommandOutcome, CommandError>
    where
        A: Aggregate,
        A::Event: DeserializeOwned + Serialize,
    {
        let span = tracing::info_span!("command", stream_id = %stream, correlation_id = %ctx.correlation_id);
        async {
            let result = self
                .with_retries(pinned.is_some(), || self.try_single(ctx, &stream, pinned, &decide))
                .await;
            if let Ok(outcome) = &result {
                tracing::info!(version = outcome.stream_version, position = ?outcome.global_position, "accepted");
            }
            result
        }
        .instrument(span)
        .await
    }

    async fn try_single<A>(
        &self,
        ctx: &CommandContext,
        stream: &str,
        pinned: Option<i64>,
        decide: &impl Fn(&A) -> Result<Vec<A::Event>, CommandError>,
    ) -> Result<CommandOutcome, CommandError>
    where
        A: Aggregate,
        A::Event: DeserializeOwned + Serialize,
    {
        let loaded = self.load::<A>(stream).await?;
        if let Some(expected) = pinned {
            if expected != loaded.version {
                return Err(CommandError::Conflict {
                    stream_id: stream.to_owned(),
                    actual: loaded.version,
                });
            }
        }
        let events = decide(&loaded.state)?;
        let metadata = ctx.metadata();
        let outcome = self
            .store
            .append(vec![StreamAppend {
                stream_id: stream.to_owned(),
                expected: loaded.expected(),
                events: events.iter().map(|e| encode(e, &metadata)).collect(),
            }])
            .await?;
        Ok(CommandOutcome {
            stream_id: stream.to_owned(),
            stream_version: outcome.version_of(stream).unwrap_or(loaded.version),
            global_position: outcome.last_position,
            replayed: false,
        })
    }

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
        let stream = stream_id::<Product>(&sku);
        self.single::<Product>(ctx, stream, None, |p| {
            Ok(p.decide(ProductCommand::Create {
                sku: sku.clone(),
                seller_id,
                details: details.clone(),
                price,
            })?)
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
        self.single::<Product>(ctx, stream_id::<Product>(&sku), None, |p| {
            if p.listing.is_none() {
                return Err(CommandError::NotFound {
                    code: "product_not_found",
                    what: "product",
                });
            }
            Ok(p.decide(ProductCommand::ChangePrice { price })?)
        })
        .await
    }

    /// Adds received units to a product's stock.
    pub async fn receive_stock(
        &self,
        ctx: &CommandContext,
        sku: Sku,
        quantity: Quantity,
    ) -> Result<CommandOutcome, CommandError> {
        if self.product(&sku).await?.state.listing.is_none() {
            return Err(CommandError::NotFound {
                code: "product_not_found",
                what: "product",
            });
        }
        self.single::<Inventory>(ctx, stream_id::<Inventory>(&sku), None, |inv| {
            Ok(inv.decide(InventoryCommand::Receive {
                sku: sku.clone(),
                quantity,
            })?)
        })
        .await
    }

    /// Runs one command on one aggregate (no other stream involved).
    async fn aggregate_command<A>(
        &self,
        ctx: &CommandContext,
        stream: String,
        pinned: Option<i64>,
        command: A::Command,
    ) -> Result<CommandOutcome, CommandError>
    where
        A: Aggregate,
        A::Command: Clone,
        A::Error: Into<CommandError>,
        A::Event: DeserializeOwned + Serialize,
    {
        self.single::<A>(ctx, stream, pinned, |state| {
            state.decide(command.clone()).map_err(Into::into)
        })
        .await
    }

    async fn cart_command(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
        command: CartCommand,
    ) -> Result<CommandOutcome, CommandError> {
        self.aggregate_command::<Cart>(ctx, stream_id::<Cart>(customer_id), None, command)
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
        if self.product(&sku).await?.state.listing.is_none() {
            return Err(Rejection::UnknownProduct(sku.to_string()).into());
        }
        let command = CartCommand::AddItem {
            customer_id,
            sku,
            quantity,
        };
        self.cart_command(ctx, customer_id, command).await
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
        self.cart_command(ctx, customer_id, command).await
    }

    /// Removes a cart line.
    pub async fn remove_from_cart(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
        sku: Sku,
    ) -> Result<CommandOutcome, CommandError> {
        let command = CartCommand::RemoveItem { customer_id, sku };
        self.cart_command(ctx, customer_id, command).await
    }

    /// Empties the cart.
    pub async fn clear_cart(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
    ) -> Result<CommandOutcome, CommandError> {
        self.cart_command(ctx, customer_id, CartCommand::Clear { customer_id })
            .await
    }

    /// Turns the customer's cart into an order: prices from the catalog now, stock reserved on
    /// every SKU, cart emptied, all in one atomic append.
    ///
    /// With an idempotency key the order id is derived from (customer, key), so a retried
    /// request finds the order it already placed and answers with it instead of placing a
    /// second one.
    pub async fn place_order(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
        idempotency_key: Option<&str>,
    ) -> Result<(OrderId, CommandOutcome), CommandError> {
        let order_id = match idempotency_key {
            Some(key) => OrderId::from_uuid(Uuid::new_v5(
                &ORDER_KEY_NAMESPACE,
                format!("{customer_id}/{key}").as_bytes(),
            )),
            None => OrderId::generate(),
        };
        let span = tracing::info_span!("command", stream_id = %stream_id::<Order>(order_id), correlation_id = %ctx.correlation_id);
        async {
            self.with_retries(false, || self.try_place_order(ctx, customer_id, order_id))
                .await
                .map(|outcome| (order_id, outcome))
        }
        .instrument(span)
        .await
    }

    async fn try_place_order(
        &self,
        ctx: &CommandContext,
        customer_id: CustomerId,
        order_id: OrderId,
    ) -> Result<CommandOutcome, CommandError> {
        let order_stream = stream_id::<Order>(order_id);
        let existing = self.load::<Order>(&order_stream).await?;
        if let Some(placed) = &existing.state.placed {
            if placed.customer_id == customer_id {
                // The first execution also wrote cart and inventory events after the order's;
                // the head is at or past all of them, so waiting for it reads every effect.
                let head = self.store.head_position().await?;
                return Ok(CommandOutcome {
                    stream_id: order_stream,
                    stream_version: existing.version,
                    global_position: Some(head.max(existing.last_position.unwrap_or(0))),
                    replayed: true,
                });
            }
            return Err(Rejection::Order(domain::order::OrderError::AlreadyPlaced).into());
        }

        let cart_stream = stream_id::<Cart>(customer_id);
        let cart = self.load::<Cart>(&cart_stream).await?;
        let mut products = BTreeMap::new();
        let mut product_versions = Vec::new();
        let mut inventories = BTreeMap::new();
        let mut inventory_versions = BTreeMap::new();
        for sku in cart.state.items.keys() {
            let product = self.product(sku).await?;
            product_versions.push((stream_id::<Product>(sku), product.expected()));
            products.insert(sku.clone(), product.state);
            let inventory = self.load::<Inventory>(&stream_id::<Inventory>(sku)).await?;
            inventory_versions.insert(sku.clone(), inventory.expected());
            inventories.insert(sku.clone(), inventory.state);
        }

        let decision = checkout::place_order(
            CheckoutState {
                cart: &cart.state,
                products: &products,
                inventories: &inventories,
            },
            customer_id,
            order_id,
        )?;

        let metadata = ctx.metadata();
        let mut appends = vec![
            StreamAppend {
                stream_id: order_stream.clone(),
                expected: ExpectedVersion::NoStream,
                events: encode_all(&decision.order, &metadata),
            },
            StreamAppend {
                stream_id: cart_stream,
                expected: cart.expected(),
                events: encode_all(&decision.cart, &metadata),
            },
        ];
        appends.extend(inventory_appends(&decision, &inventory_versions, &metadata));
        // Prices are part of the decision: a concurrent price change forces a retry.
        appends.extend(
            product_versions
                .into_iter()
                .map(|(stream_id, expected)| StreamAppend {
                    stream_id,
                    expected,
                    events: vec![],
                }),
        );
        let outcome = self.store.append(appends).await?;
        tracing::info!(%order_id, position = ?outcome.last_position, "order placed");
        Ok(CommandOutcome {
            stream_version: outcome.version_of(&order_stream).unwrap_or(0),
            stream_id: order_stream,
            global_position: outcome.last_position,
            replayed: false,
        })
    }

    async fn order_command(
        &self,
        ctx: &CommandContext,
        order_id: OrderId,
        pinned: Option<i64>,
        command: OrderCommand,
    ) -> Result<CommandOutcome, CommandError> {
        self.aggregate_command::<Order>(ctx, stream_id::<Order>(order_id), pinned, command)
            .await
    }

    /// Records payment of an order's total. `pinned` is the `If-Match` version, if any.
    pub async fn pay_order(
        &self,
        ctx: &CommandContext,
        order_id: OrderId,
        pinned: Option<i64>,
        amount: Money,
        payment_reference: String,
        method: domain::order::PaymentMethod,
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
        carrier: String,
        tracking_number: String,
    ) -> Result<CommandOutcome, CommandError> {
        let command = OrderCommand::Ship {
            carrier,
            tracking_number,
        };
        self.order_command(ctx, order_id, pinned, command).await
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
        reason: String,
    ) -> Result<CommandOutcome, CommandError> {
        let order_stream = stream_id::<Order>(order_id);
        let span = tracing::info_span!("command", stream_id = %order_stream, correlation_id = %ctx.correlation_id);
        async {
            self.with_retries(pinned.is_some(), || {
                self.try_cancel_order(ctx, &order_stream, pinned, reason.clone())
            })
            .await
        }
        .instrument(span)
        .await
    }

    async fn try_cancel_order(
        &self,
        ctx: &CommandContext,
        order_stream: &str,
        pinned: Option<i64>,
        reason: String,
    ) -> Result<CommandOutcome, CommandError> {
        let order = self.load::<Order>(order_stream).await?;
        if let Some(expected) = pinned {
            if expected != order.version {
                return Err(CommandError::Conflict {
                    stream_id: order_stream.to_owned(),
                    actual: order.version,
                });
            }
        }
        let placed = order.state.placed.as_ref().ok_or(CommandError::NotFound {
            code: "order_not_found",
            what: "order",
        })?;
        let mut inventories = BTreeMap::new();
        let mut inventory_versions = BTreeMap::new();
        for line in &placed.lines {
            let inventory = self
                .load::<Inventory>(&stream_id::<Inventory>(&line.sku))
                .await?;
            inventory_versions.insert(line.sku.clone(), inventory.expected());
            inventories.insert(line.sku.clone(), inventory.state);
        }
        let decision = checkout::cancel_order(&order.state, &inventories, reason)?;
        let metadata = ctx.metadata();
        let mut appends = vec![StreamAppend {
            stream_id: order_stream.to_owned(),
            expected: order.expected(),
            events: encode_all(&decision.order, &metadata),
        }];
        appends.extend(inventory_appends(&decision, &inventory_versions, &metadata));
        let outcome = self.store.append(appends).await?;
        Ok(CommandOutcome {
            stream_id: order_stream.to_owned(),
            stream_version: outcome.version_of(order_stream).unwrap_or(order.version),
            global_position: outcome.last_position,
            replayed: false,
        })
    }

    /// The seller owning a product, if it exists.
    pub async fn product_seller(&self, sku: &Sku) -> Result<Option<AccountId>, CommandError> {
        Ok(self.product(sku).await?.state.listing.map(|l| l.seller_id))
    }

    /// An order exactly as it stood at a past point, rebuilt from its events by the domain
    /// (not from a read model). `None` when it did not exist yet.
    pub async fn order_at(
        &self,
        order_id: OrderId,
        at: PointInTime,
    ) -> Result<Option<OrderAt>, CommandError> {
        let recorded = self
            .store
            .read_stream(&stream_id::<Order>(order_id), 1)
            .await?;
        let mut state = Order::default();
        let mut last = None;
        for event in &recorded {
            let included = match at {
                PointInTime::Version(v) => event.stream_version <= v,
                PointInTime::Time(t) => event.recorded_at <= t,
                PointInTime::Now => true,
            };
            if !included {
                break;
            }
            state.apply(&decode::<domain::order::OrderEvent>(event)?);
            last = Some(event);
        }
        Ok(match (state.placed, last) {
            (Some(order), Some(event)) => Some(OrderAt {
                order,
                version: event.stream_version,
                recorded_at: event.recorded_at,
            }),
            _ => None,
        })
    }

    /// The customer who placed an order, if it exists.
    pub async fn order_owner(&self, order_id: OrderId) -> Result<Option<CustomerId>, CommandError> {
        let order = self.load::<Order>(&stream_id::<Order>(order_id)).await?;
        Ok(order.state.placed.map(|p| p.customer_id))
    }

    /// An account as it stands now (read from its stream, not a read model).
    pub async fn account(&self, account_id: AccountId) -> Result<Option<Profile>, CommandError> {
        Ok(self
            .load::<Account>(&stream_id::<Account>(account_id))
            .await?
            .state
            .profile)
    }

    /// The account currently holding `email`.
    pub async fn account_for_email(
        &self,
        email: &Email,
    ) -> Result<Option<AccountId>, CommandError> {
        Ok(self
            .load::<EmailClaim>(&email_stream(email))
            .await?
            .state
            .owner)
    }

    /// Opens an account. The email claim and the account are appended together, so of two
    /// concurrent registrations with one email exactly one succeeds.
    pub async fn register_account(
        &self,
        ctx: &CommandContext,
        account_id: AccountId,
        email: Email,
        display_name: String,
        roles: std::collections::BTreeSet<Role>,
    ) -> Result<CommandOutcome, CommandError> {
        let account_stream = stream_id::<Account>(account_id);
        let claim_stream = email_stream(&email);
        self.with_retries(false, || async {
            let claim = self.load::<EmailClaim>(&claim_stream).await?;
            let account = self.load::<Account>(&account_stream).await?;
            let claimed = claim.state.decide(EmailClaimCommand::Claim(account_id))?;
            let registered = account.state.decide(AccountCommand::Register {
                account_id,
                email: email.clone(),
                display_name: display_name.clone(),
                roles: roles.clone(),
            })?;
            let metadata = ctx.metadata();
            let outcome = self
                .store
                .append(vec![
                    StreamAppend {
                        stream_id: account_stream.clone(),
                        expected: account.expected(),
                        events: encode_all(&registered, &metadata),
                    },
                    StreamAppend {
                        stream_id: claim_stream.clone(),
                        expected: claim.expected(),
                        events: encode_all(&claimed, &metadata),
                    },
                ])
                .await?;
            Ok(CommandOutcome {
                stream_version: outcome.version_of(&account_stream).unwrap_or(0),
                stream_id: account_stream.clone(),
                global_position: outcome.last_position,
                replayed: false,
            })
        })
        .await
    }

    /// Runs an account command that touches only the account stream.
    pub async fn account_command(
        &self,
        ctx: &CommandContext,
        account_id: AccountId,
        command: AccountCommand,
    ) -> Result<CommandOutcome, CommandError> {
        self.aggregate_command::<Account>(ctx, stream_id::<Account>(account_id), None, command)
            .await
    }

    /// Closes an account and frees its email, together.
    pub async fn close_account(
        &self,
        ctx: &CommandContext,
        account_id: AccountId,
    ) -> Result<CommandOutcome, CommandError> {
        let account_stream = stream_id::<Account>(account_id);
        self.with_retries(false, || async {
            let account = self.load::<Account>(&account_stream).await?;
            let closed = account.state.decide(AccountCommand::Close)?;
            let email = account
                .state
                .profile
                .as_ref()
                .map(|p| p.email.clone())
                .ok_or(domain::account::AccountError::NotFound)?;
            let claim_stream = email_stream(&email);
            let claim = self.load::<EmailClaim>(&claim_stream).await?;
            let released = claim.state.decide(EmailClaimCommand::Release(account_id))?;
            let metadata = ctx.metadata();
            let outcome = self
                .store
                .append(vec![
                    StreamAppend {
                        stream_id: account_stream.clone(),
                        expected: account.expected(),
                        events: encode_all(&closed, &metadata),
                    },
                    StreamAppend {
                        stream_id: claim_stream,
                        expected: claim.expected(),
                        events: encode_all(&released, &metadata),
                    },
                ])
                .await?;
            Ok(CommandOutcome {
                stream_version: outcome.version_of(&account_stream).unwrap_or(0),
                stream_id: account_stream.clone(),
                global_position: outcome.last_position,
                replayed: false,
            })
        })
        .await
    }
}

/// Stream of the claim on an email: named by the address's SHA-256, so stream ids and Kafka
/// keys carry no address.
pub fn email_stream(email: &Email) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(email.as_str().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", EmailClaim::CATEGORY)
}

fn encode_all<E: domain::DomainEvent + Serialize>(
    events: &[E],
    metadata: &Metadata,
) -> Vec<NewEvent> {
    events.iter().map(|e| encode(e, metadata)).collect()
}

fn inventory_appends<'a>(
    decision: &'a MultiStreamDecision,
    versions: &'a BTreeMap<Sku, ExpectedVersion>,
    metadata: &'a Metadata,
) -> impl Iterator<Item = StreamAppend> + 'a {
    decision
        .inventory
        .iter()
        .map(move |(sku, events)| StreamAppend {
            stream_id: stream_id::<Inventory>(sku),
            expected: versions
                .get(sku)
                .copied()
                .unwrap_or(ExpectedVersion::NoStream),
            events: encode_all(events, metadata),
        })
}
