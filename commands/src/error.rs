//! Why a command failed.

use domain::account::AccountError;
use domain::address::{AddressBookError, AddressId};
use domain::cart::CartError;
use domain::category::CategoryError;
use domain::checkout::CheckoutError;
use domain::inventory::InventoryError;
use domain::order::OrderError;
use domain::pricing::PricingError;
use domain::product::ProductError;
use domain::review::ReviewError;
use domain::seller::SellerError;
use domain::wallet::WalletError;
use domain::wishlist::WishlistError;
use domain::ValueError;
use events::StoreError;

/// A domain rule refused the command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// A value object was invalid.
    #[error(transparent)]
    Value(#[from] ValueError),
    /// The product refused.
    #[error(transparent)]
    Product(#[from] ProductError),
    /// The inventory refused.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// The category tree refused, or a product named a category that does not exist.
    #[error(transparent)]
    Category(#[from] CategoryError),
    /// The cart refused.
    #[error(transparent)]
    Cart(#[from] CartError),
    /// The order refused.
    #[error(transparent)]
    Order(#[from] OrderError),
    /// Placing or cancelling refused.
    #[error(transparent)]
    Checkout(#[from] CheckoutError),
    /// An account rule refused.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// A product named in the command does not exist.
    #[error("product {0} does not exist")]
    UnknownProduct(String),
    /// The pricing configuration refused.
    #[error(transparent)]
    Pricing(#[from] PricingError),
    /// The wallet refused (not enough credit).
    #[error(transparent)]
    Wallet(#[from] WalletError),
    /// The review refused (not a buyer, no such review).
    #[error(transparent)]
    Review(#[from] ReviewError),
    /// The seller record refused (a transition that does not fit, a suspended seller).
    #[error(transparent)]
    Seller(#[from] SellerError),
    /// The wishlist refused.
    #[error(transparent)]
    Wishlist(#[from] WishlistError),
    /// The address book refused.
    #[error(transparent)]
    AddressBook(#[from] AddressBookError),
    /// Checkout named an address-book entry that does not exist.
    #[error("no address {0} in the address book")]
    UnknownAddress(AddressId),
    /// Checkout named no shipping address and the address book has no default.
    #[error("name a shipping address: the address book has no default")]
    ShippingAddressRequired,
}

impl Rejection {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Value(e) => e.code(),
            Rejection::Product(e) => e.code(),
            Rejection::Inventory(e) => e.code(),
            Rejection::Category(e) => e.code(),
            Rejection::Cart(e) => e.code(),
            Rejection::Order(e) => e.code(),
            Rejection::Checkout(e) => e.code(),
            Rejection::Account(e) => e.code(),
            Rejection::UnknownProduct(_) => "product_not_found",
            Rejection::AddressBook(e) => e.code(),
            Rejection::Wallet(e) => e.code(),
            Rejection::Wishlist(e) => e.code(),
            Rejection::Seller(e) => e.code(),
            Rejection::Review(e) => e.code(),
            Rejection::Pricing(e) => e.code(),
            Rejection::UnknownAddress(_) => "address_not_found",
            Rejection::ShippingAddressRequired => "shipping_address_required",
        }
    }
}

/// A resource that a request named and that does not exist (or is not the caller's to see).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// No product with this SKU.
    Product,
    /// No such order.
    Order,
    /// No such account.
    Account,
    /// No open customer account with this id.
    Customer,
}

impl Missing {
    /// Stable machine-readable code, e.g. `order_not_found`.
    pub fn code(self) -> &'static str {
        match self {
            Missing::Product => "product_not_found",
            Missing::Order => "order_not_found",
            Missing::Account => "account_not_found",
            Missing::Customer => "customer_not_found",
        }
    }

    /// What was looked for, in words.
    pub fn what(self) -> &'static str {
        match self {
            Missing::Product => "product",
            Missing::Order => "order",
            Missing::Account => "account",
            Missing::Customer => "customer",
        }
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The resource the command addresses does not exist.
    #[error("{} not found", .0.what())]
    NotFound(Missing),
    /// A domain rule refused the command; nothing was written.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The stream moved on since the version the caller pinned (or since the last retry).
    #[error("stream {stream_id} is at version {actual}")]
    Conflict {
        /// The contended stream.
        stream_id: String,
        /// Its current version.
        actual: i64,
    },
    /// The event store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict {
                stream_id, actual, ..
            } => CommandError::Conflict { stream_id, actual },
            other => CommandError::Store(other),
        }
    }
}

macro_rules! rejection_from {
    ($($t:ty),*) => {$(
        impl From<$t> for CommandError {
            fn from(e: $t) -> Self {
                CommandError::Rejected(Rejection::from(e))
            }
        }
    )*};
}
rejection_from!(
    CategoryError,
    SellerError,
    ReviewError,
    WishlistError,
    AddressBookError,
    PricingError,
    WalletError,
    ValueError,
    ProductError,
    InventoryError,
    CartError,
    CheckoutError
);

impl From<AccountError> for CommandError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::NotFound => CommandError::NotFound(Missing::Account),
            other => CommandError::Rejected(Rejection::Account(other)),
        }
    }
}

impl From<OrderError> for CommandError {
    fn from(e: OrderError) -> Self {
        match e {
            // A seller with no part in the order learns nothing more than of an order that
            // does not exist.
            OrderError::NotFound | OrderError::NoSuchFulfilment(_) => {
                CommandError::NotFound(Missing::Order)
            }
            other => CommandError::Rejected(Rejection::Order(other)),
        }
    }
}
