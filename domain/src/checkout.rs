//! Decisions that span several aggregates and must be committed together.
//!
//! Placing an order reads the cart, the products (for prices) and the inventories (for stock),
//! and produces events for the new order stream, every inventory stream and the cart stream.
//! The caller appends them atomically with the versions it read, so the stock check and the
//! reservation are one decision and a cart becomes at most one order.

use std::collections::BTreeMap;

use crate::aggregate::Aggregate;
use crate::cart::{Cart, CartCommand, CartError, CartEvent};
use crate::inventory::{Inventory, InventoryCommand, InventoryError, InventoryEvent};
use crate::order::{
    Charges, FulfilmentLines, Order, OrderAddresses, OrderCommand, OrderError, OrderEvent,
    OrderLine, ReturnLine,
};
use crate::pricing::{Pricing, PricingError, Quote, Slug};
use crate::product::Product;
use crate::seller::Seller;
use crate::values::{AccountId, CustomerId, Money, OrderId, Sku};
use crate::wallet::{Wallet, WalletCommand, WalletError, WalletEvent};

/// Why an order could not be placed or cancelled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckoutError {
    /// The cart refused (for example, it is empty).
    #[error(transparent)]
    Cart(#[from] CartError),
    /// The order refused.
    #[error(transparent)]
    Order(#[from] OrderError),
    /// An inventory refused (for example, not enough stock).
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// A product in the cart is not (or no longer) in the catalog.
    #[error("product {0} is not available")]
    ProductUnavailable(Sku),
    /// A product in the cart is sold by a suspended seller: remove it to check out.
    #[error("product {0} is sold by a suspended seller: remove it from the cart")]
    SellerSuspended(Sku),
    /// A product in the cart was archived since it was put there: remove it to check out.
    #[error("product {0} is archived: remove it from the cart")]
    ProductArchived(Sku),
    /// One order is paid in one currency.
    #[error("the cart mixes currencies")]
    MixedCurrencies,
    /// The wallet refused (not enough store credit).
    #[error(transparent)]
    Wallet(#[from] WalletError),
    /// Shipping or tax could not be priced.
    #[error(transparent)]
    Pricing(#[from] PricingError),
    /// The total differs from what the customer was shown.
    #[error("the price changed: the order now costs {}", .0.total)]
    PriceChanged(Quote),
}

impl CheckoutError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CheckoutError::Cart(e) => e.code(),
            CheckoutError::Order(e) => e.code(),
            CheckoutError::Inventory(e) => e.code(),
            CheckoutError::ProductUnavailable(_) => "product_unavailable",
            CheckoutError::ProductArchived(_) => "product_archived",
            CheckoutError::SellerSuspended(_) => "seller_suspended",
            CheckoutError::MixedCurrencies => "mixed_currencies",
            CheckoutError::Wallet(e) => e.code(),
            CheckoutError::Pricing(e) => e.code(),
            CheckoutError::PriceChanged(_) => "price_changed",
        }
    }
}

/// What the current state of the world says about a checkout.
pub struct CheckoutState<'a> {
    /// The customer's cart.
    pub cart: &'a Cart,
    /// Every product in the cart, by SKU.
    pub products: &'a BTreeMap<Sku, Product>,
    /// The inventory of every SKU in the cart.
    pub inventories: &'a BTreeMap<Sku, Inventory>,
    /// The seller of every product in the cart that has one on record, by account.
    pub sellers: &'a BTreeMap<AccountId, Seller>,
    /// The customer's store credit.
    pub wallet: &'a Wallet,
    /// Tax rates and shipping methods.
    pub pricing: &'a Pricing,
}

/// What a checkout asks for beyond the cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRequest {
    /// Where it goes and who pays.
    pub addresses: OrderAddresses,
    /// Store credit to apply.
    pub credit: Option<Money>,
    /// The shipping method chosen.
    pub shipping_method: Option<Slug>,
    /// The total the customer was shown (a preview's); a different total refuses the
    /// checkout with `price_changed`.
    pub expected_total: Option<Money>,
}

/// Events to append, per stream, when an order is placed or cancelled.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiStreamDecision {
    /// Events for the order stream.
    pub order: Vec<OrderEvent>,
    /// Events for the cart stream.
    pub cart: Vec<CartEvent>,
    /// Events per inventory stream.
    pub inventory: BTreeMap<Sku, Vec<InventoryEvent>>,
    /// Events for the customer's wallet stream.
    pub wallet: Vec<WalletEvent>,
}

/// Prices the cart with current catalog prices, reserves stock for every line and checks out
/// the cart, as one decision.
pub fn place_order(
    state: CheckoutState<'_>,
    customer_id: CustomerId,
    order_id: OrderId,
    request: CheckoutRequest,
) -> Result<MultiStreamDecision, CheckoutError> {
    let cart_events = state.cart.decide(CartCommand::CheckOut {
        customer_id,
        order_id,
    })?;

    let mut lines = Vec::with_capacity(state.cart.items.len());
    let mut parts: BTreeMap<AccountId, Vec<ReturnLine>> = BTreeMap::new();
    let mut inventory = BTreeMap::new();
    let mut currency = None;
    for (sku, quantity) in &state.cart.items {
        let listing = state
            .products
            .get(sku)
            .and_then(|p| p.listing.as_ref())
            .ok_or_else(|| CheckoutError::ProductUnavailable(sku.clone()))?;
        if listing.archived {
            return Err(CheckoutError::ProductArchived(sku.clone()));
        }
        if !listing.published {
            return Err(CheckoutError::ProductUnavailable(sku.clone()));
        }
        if state
            .sellers
            .get(&listing.seller_id)
            .is_some_and(Seller::suspended)
        {
            return Err(CheckoutError::SellerSuspended(sku.clone()));
        }
        if *currency.get_or_insert(listing.price.currency()) != listing.price.currency() {
            return Err(CheckoutError::MixedCurrencies);
        }
        let empty = Inventory::default();
        let stock = state.inventories.get(sku).unwrap_or(&empty);
        let reserved = stock.decide(InventoryCommand::Reserve {
            sku: sku.clone(),
            order_id,
            quantity: *quantity,
        })?;
        inventory.insert(sku.clone(), reserved);
        parts
            .entry(listing.seller_id)
            .or_default()
            .push(ReturnLine {
                sku: sku.clone(),
                quantity: *quantity,
            });
        lines.push(OrderLine {
            sku: sku.clone(),
            name: listing.details.name.to_string(),
            unit_price: listing.price,
            quantity: *quantity,
            line_total: listing
                .price
                .times(*quantity)
                .map_err(|e| CheckoutError::Order(OrderError::Pricing(e)))?,
        });
    }

    let quote = state.pricing.quote(
        &lines,
        request.addresses.shipping.country,
        request.shipping_method.as_ref(),
    )?;
    if request.expected_total.is_some_and(|t| t != quote.total) {
        return Err(CheckoutError::PriceChanged(quote));
    }
    let credit = request.credit;
    let mut order = Order::default().decide(OrderCommand::Place {
        order_id,
        customer_id,
        lines,
        addresses: Box::new(request.addresses),
        credit,
        charges: Charges {
            shipping: Some(quote.shipping),
            tax: Some(quote.tax),
            shipping_method: request.shipping_method.map(|m| m.to_string()),
        },
    })?;
    // One fulfilment per seller, in the same decision.
    let placed = Order::from_events(&order);
    let split = placed.decide(OrderCommand::Split {
        fulfilments: parts
            .into_iter()
            .map(|(seller_id, lines)| FulfilmentLines { seller_id, lines })
            .collect(),
    })?;
    // Right after OrderPlaced, before a payment by store credit.
    order.splice(1..1, split);
    // The credit is spent in the same decision: never below zero, whatever runs concurrently.
    let wallet = match credit.filter(|c| c.amount_minor() > 0) {
        Some(amount) => state
            .wallet
            .decide(WalletCommand::Spend { order_id, amount })?,
        None => vec![],
    };
    Ok(MultiStreamDecision {
        order,
        cart: cart_events,
        inventory,
        wallet,
    })
}

/// What the checkout would charge now, without deciding anything: the same pricing as
/// [`place_order`], refused for the same reasons.
pub fn preview(
    state: CheckoutState<'_>,
    customer_id: CustomerId,
    mut request: CheckoutRequest,
) -> Result<Quote, CheckoutError> {
    request.expected_total = None;
    let decision = place_order(state, customer_id, OrderId::generate(), request)?;
    match decision.order.first() {
        Some(OrderEvent::OrderPlaced {
            subtotal: Some(subtotal),
            shipping: Some(shipping),
            tax: Some(tax),
            total,
            ..
        }) => Ok(Quote {
            subtotal: *subtotal,
            shipping: *shipping,
            tax: *tax,
            total: *total,
        }),
        _ => Err(CheckoutError::Order(OrderError::NoLines)),
    }
}

/// Cancels an order, releases the stock of every line and returns the store credit it spent,
/// as one decision.
pub fn cancel_order(
    order: &Order,
    inventories: &BTreeMap<Sku, Inventory>,
    wallet: &Wallet,
    reason: crate::text::Reason,
) -> Result<MultiStreamDecision, CheckoutError> {
    let order_events = order.decide(OrderCommand::Cancel { reason })?;
    let placed = order.placed.as_ref().ok_or(OrderError::NotFound)?;
    let mut inventory = BTreeMap::new();
    for line in &placed.lines {
        let empty = Inventory::default();
        let stock = inventories.get(&line.sku).unwrap_or(&empty);
        let released = stock.decide(InventoryCommand::Release {
            sku: line.sku.clone(),
            order_id: placed.order_id,
            quantity: line.quantity,
        })?;
        inventory.insert(line.sku.clone(), released);
    }
    let wallet = match placed.credit_applied.filter(|c| c.amount_minor() > 0) {
        Some(amount) => wallet.decide(WalletCommand::Return {
            order_id: placed.order_id,
            amount,
        })?,
        None => vec![],
    };
    Ok(MultiStreamDecision {
        order: order_events,
        cart: vec![],
        inventory,
        wallet,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::tests::eur;
    use crate::product::ProductEvent;
    use crate::values::Quantity;

    fn request() -> CheckoutRequest {
        CheckoutRequest {
            addresses: crate::order::tests::addresses(),
            credit: None,
            shipping_method: None,
            expected_total: None,
        }
    }
    fn sku(s: &str) -> Sku {
        Sku::parse(s).unwrap()
    }
    fn qty(n: i64) -> Quantity {
        Quantity::new(n).unwrap()
    }
    fn customer() -> CustomerId {
        CustomerId::from_uuid(uuid::Uuid::from_u128(7))
    }
    fn product(s: &str, price: Money) -> Product {
        Product::from_events(&[ProductEvent::ProductCreated {
            sku: sku(s),
            seller_id: crate::values::AccountId::from_uuid(uuid::Uuid::nil()),
            name: format!("{s} name"),
            description: String::new(),
            category: "c".into(),
            price,
            specifications: vec![],
            images: vec![],
            pending_approval: false,
        }])
    }
    fn stock(s: &str, n: i64) -> Inventory {
        Inventory::from_events(&[InventoryEvent::StockReceived {
            sku: sku(s),
            quantity: qty(n),
        }])
    }
    fn cart(lines: &[(&str, i64)]) -> Cart {
        let events: Vec<_> = lines
            .iter()
            .map(|(s, n)| CartEvent::CartItemAdded {
                customer_id: customer(),
                sku: sku(s),
                quantity: qty(*n),
            })
            .collect();
        Cart::from_events(&events)
    }

    #[test]
    fn placing_prices_reserves_and_checks_out_together() {
        let order_id = OrderId::generate();
        let cart = cart(&[("A", 2), ("B", 1)]);
        let products = BTreeMap::from([
            (sku("A"), product("A", eur(250))),
            (sku("B"), product("B", eur(100))),
        ]);
        let inventories = BTreeMap::from([(sku("A"), stock("A", 5)), (sku("B"), stock("B", 1))]);
        let decision = place_order(
            CheckoutState {
                cart: &cart,
                products: &products,
                inventories: &inventories,
                sellers: &BTreeMap::new(),
                wallet: &Wallet::default(),
                pricing: &Pricing::default(),
            },
            customer(),
            order_id,
            request(),
        )
        .unwrap();

        match &decision.order[..] {
            [OrderEvent::OrderPlaced { total, lines, .. }, OrderEvent::OrderSplitIntoFulfilments { fulfilments, .. }] =>
            {
                assert_eq!(*total, eur(600));
                assert_eq!(lines[0].line_total, eur(500));
                assert_eq!(lines[0].name, "A name");
                assert_eq!(fulfilments.len(), 1, "one seller, one fulfilment");
                assert_eq!(fulfilments[0].lines.len(), 2);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            decision.cart,
            vec![CartEvent::CartCheckedOut {
                customer_id: customer(),
                order_id
            }]
        );
        assert_eq!(
            decision.inventory[&sku("B")],
            vec![InventoryEvent::StockReserved {
                sku: sku("B"),
                order_id,
                quantity: qty(1)
            }]
        );
    }

    #[test]
    fn placing_with_too_little_stock_is_refused() {
        let cart = cart(&[("A", 3)]);
        let products = BTreeMap::from([(sku("A"), product("A", eur(1)))]);
        let inventories = BTreeMap::from([(sku("A"), stock("A", 2))]);
        let then = place_order(
            CheckoutState {
                cart: &cart,
                products: &products,
                inventories: &inventories,
                sellers: &BTreeMap::new(),
                wallet: &Wallet::default(),
                pricing: &Pricing::default(),
            },
            customer(),
            OrderId::generate(),
            request(),
        );
        assert_eq!(
            then,
            Err(CheckoutError::Inventory(
                InventoryError::InsufficientStock {
                    sku: sku("A"),
                    requested: 3,
                    available: 2
                }
            ))
        );
    }

    #[test]
    fn placing_an_empty_cart_is_refused() {
        let then = place_order(
            CheckoutState {
                cart: &Cart::default(),
                products: &BTreeMap::new(),
                inventories: &BTreeMap::new(),
                sellers: &BTreeMap::new(),
                wallet: &Wallet::default(),
                pricing: &Pricing::default(),
            },
            customer(),
            OrderId::generate(),
            request(),
        );
        assert_eq!(then, Err(CheckoutError::Cart(CartError::CartEmpty)));
    }

    #[test]
    fn placing_with_an_archived_product_is_refused() {
        let cart = cart(&[("A", 1)]);
        let mut archived = product("A", eur(100));
        archived.apply(&crate::product::ProductEvent::ProductArchived {
            sku: sku("A"),
            reason: "recalled".into(),
        });
        let products = BTreeMap::from([(sku("A"), archived)]);
        let inventories = BTreeMap::from([(sku("A"), stock("A", 5))]);
        let then = place_order(
            CheckoutState {
                cart: &cart,
                products: &products,
                inventories: &inventories,
                sellers: &BTreeMap::new(),
                wallet: &Wallet::default(),
                pricing: &Pricing::default(),
            },
            customer(),
            OrderId::generate(),
            request(),
        );
        assert_eq!(then, Err(CheckoutError::ProductArchived(sku("A"))));
        assert_eq!(then.unwrap_err().code(), "product_archived");
    }

    #[test]
    fn placing_with_a_suspended_sellers_product_is_refused() {
        let cart = cart(&[("A", 1)]);
        let products = BTreeMap::from([(sku("A"), product("A", eur(100)))]);
        let inventories = BTreeMap::from([(sku("A"), stock("A", 5))]);
        let seller_id = crate::values::AccountId::from_uuid(uuid::Uuid::nil());
        let mut seller = Seller::default();
        for event in [
            crate::seller::SellerEvent::SellerApplied {
                account_id: seller_id,
                store_name: "S".into(),
                description: String::new(),
            },
            crate::seller::SellerEvent::SellerVerified {
                account_id: seller_id,
                commission_bp: 0,
            },
            crate::seller::SellerEvent::SellerSuspended {
                account_id: seller_id,
                reason: "fraud".into(),
            },
        ] {
            seller.apply(&event);
        }
        let sellers = BTreeMap::from([(seller_id, seller)]);
        let then = place_order(
            CheckoutState {
                cart: &cart,
                products: &products,
                inventories: &inventories,
                sellers: &sellers,
                wallet: &Wallet::default(),
                pricing: &Pricing::default(),
            },
            customer(),
            OrderId::generate(),
            request(),
        );
        assert_eq!(then, Err(CheckoutError::SellerSuspended(sku("A"))));
    }

    #[test]
    fn placing_with_an_unknown_product_is_refused() {
        let cart = cart(&[("GONE", 1)]);
        let then = place_order(
            CheckoutState {
                cart: &cart,
                products: &BTreeMap::new(),
                inventories: &BTreeMap::new(),
                sellers: &BTreeMap::new(),
                wallet: &Wallet::default(),
                pricing: &Pricing::default(),
            },
            customer(),
            OrderId::generate(),
            request(),
        );
        assert_eq!(then, Err(CheckoutError::ProductUnavailable(sku("GONE"))));
    }

    #[test]
    fn placing_with_mixed_currencies_is_refused() {
        let usd = Money::new(1, crate::values::Currency::parse("USD").unwrap()).unwrap();
        let cart = cart(&[("A", 1), ("B", 1)]);
        let products = BTreeMap::from([
            (sku("A"), product("A", eur(1))),
            (sku("B"), product("B", usd)),
        ]);
        let inventories = BTreeMap::from([(sku("A"), stock("A", 1)), (sku("B"), stock("B", 1))]);
        let then = place_order(
            CheckoutState {
                cart: &cart,
                products: &products,
                inventories: &inventories,
                sellers: &BTreeMap::new(),
                wallet: &Wallet::default(),
                pricing: &Pricing::default(),
            },
            customer(),
            OrderId::generate(),
            request(),
        );
        assert_eq!(then, Err(CheckoutError::MixedCurrencies));
    }

    #[test]
    fn cancelling_releases_every_line() {
        let order_id = OrderId::generate();
        let cart = cart(&[("A", 2)]);
        let products = BTreeMap::from([(sku("A"), product("A", eur(5)))]);
        let inventories = BTreeMap::from([(sku("A"), stock("A", 2))]);
        let placed = place_order(
            CheckoutState {
                cart: &cart,
                products: &products,
                inventories: &inventories,
                sellers: &BTreeMap::new(),
                wallet: &Wallet::default(),
                pricing: &Pricing::default(),
            },
            customer(),
            order_id,
            request(),
        )
        .unwrap();
        let order = Order::from_events(&placed.order);
        let mut inv = inventories.clone();
        for (s, events) in &placed.inventory {
            for e in events {
                inv.get_mut(s).unwrap().apply(e);
            }
        }
        assert_eq!(inv[&sku("A")].available, 0);

        let reason = crate::text::Reason::parse("out of budget").unwrap();
        let cancelled = cancel_order(&order, &inv, &Wallet::default(), reason).unwrap();
        assert!(matches!(
            cancelled.order[..],
            [OrderEvent::OrderCancelled { .. }]
        ));
        assert_eq!(
            cancelled.inventory[&sku("A")],
            vec![InventoryEvent::StockReleased {
                sku: sku("A"),
                order_id,
                quantity: qty(2)
            }]
        );
        assert!(cancelled.cart.is_empty());
    }
}
