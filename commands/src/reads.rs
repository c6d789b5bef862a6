//! Reads of the write side: current state rebuilt from streams, for checks that must not lag
//! behind the log (ownership, sign-in, the account behind a token) and for auditors' time
//! travel. Read models serve everything else.

use domain::account::{Account, Email, EmailClaim, Profile};
use domain::order::{Order, OrderEvent, PlacedOrder};
use domain::product::Product;
use domain::{AccountId, Aggregate, CustomerId, OrderId, Sku};
use events::codec::decode;

use crate::error::CommandError;
use crate::CommandHandler;

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
    pub order: PlacedOrder,
    /// Stream version of the last event applied.
    pub version: i64,
    /// When that event was recorded.
    pub recorded_at: chrono::DateTime<chrono::Utc>,
}

impl CommandHandler {
    /// The seller owning a product, if it exists.
    pub async fn product_seller(&self, sku: &Sku) -> Result<Option<AccountId>, CommandError> {
        Ok(self
            .load::<Product>(sku)
            .await?
            .state
            .listing
            .map(|l| l.seller_id))
    }

    /// The customer who placed an order, if it exists.
    pub async fn order_owner(&self, order_id: OrderId) -> Result<Option<CustomerId>, CommandError> {
        let order = self.load::<Order>(&order_id).await?;
        Ok(order.state.placed.map(|p| p.customer_id))
    }

    /// An account as it stands now (read from its stream, not a read model).
    pub async fn account(&self, account_id: AccountId) -> Result<Option<Profile>, CommandError> {
        Ok(self.load::<Account>(&account_id).await?.state.profile)
    }

    /// The account currently holding `email`.
    pub async fn account_for_email(
        &self,
        email: &Email,
    ) -> Result<Option<AccountId>, CommandError> {
        Ok(self.load::<EmailClaim>(email).await?.state.owner)
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
            .read_stream(&Order::stream_id(&order_id), 1)
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
            state.apply(&decode::<OrderEvent>(event)?);
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
}
