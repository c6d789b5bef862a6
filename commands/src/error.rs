//! Why a command failed.

use domain::account::AccountError;
use domain::cart::CartError;
use domain::checkout::CheckoutError;
use domain::inventory::InventoryError;
use domain::order::OrderError;
use domain::product::ProductError;
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
}

impl Rejection {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Value(e) => e.code(),
            Rejection::Product(e) => e.code(),
            Rejection::Inventory(e) => e.code(),
            Rejection::Cart(e) => e.code(),
            Rejection::Order(e) => e.code(),
            Rejection::Checkout(e) => e.code(),
            Rejection::Account(e) => e.code(),
            Rejection::UnknownProduct(_) => "product_not_found",
        }
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The resource the command addresses does not exist.
    #[error("{what} not found")]
    NotFound {
        /// Stable code, e.g. `order_not_found`.
        code: &'static str,
        /// What was looked for.
        what: &'static str,
    },
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
    ValueError,
    ProductError,
    InventoryError,
    CartError,
    CheckoutError
);

impl From<AccountError> for CommandError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::NotFound => CommandError::NotFound {
                code: "account_not_found",
                what: "account",
            },
            other => CommandError::Rejected(Rejection::Account(other)),
        }
    }
}

impl From<OrderError> for CommandError {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::NotFound => CommandError::NotFound {
                code: "order_not_found",
                what: "order",
            },
            other => CommandError::Rejected(Rejection::Order(other)),
        }
    }
}
