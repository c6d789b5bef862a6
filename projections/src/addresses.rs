//! Address-book read model: each customer's addresses, in the order they were added, with the
//! default marked.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::address::{Address, AddressBook, AddressBookEvent};
use domain::Aggregate;
use events::RecordedEvent;
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::projection::{decode_known, Projection, ProjectionError};

/// Builds `customer_addresses`.
pub struct AddressProjection;

#[async_trait]
impl Projection for AddressProjection {
    fn name(&self) -> &'static str {
        "addresses"
    }

    fn categories(&self) -> &'static [&'static str] {
        &[AddressBook::CATEGORY]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["customer_addresses"]
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        self.apply_batch(tx, &[event]).await
    }

    /// Each run of additions and default choices (the bulk of this stream) is one multi-row
    /// insert and one update; the other changes between runs are one statement each, in
    /// order.
    async fn apply_batch(
        &self,
        tx: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut added = Additions::default();
        for event in events {
            let Some(change) = decode_known::<AddressBookEvent>(event)? else {
                continue;
            };
            match change {
                AddressBookEvent::AddressAdded {
                    customer_id,
                    address_id,
                    address,
                } if !added.defaults.contains_key(&customer_id.as_uuid()) => {
                    added.customers.push(customer_id.as_uuid());
                    added.ids.push(address_id.as_uuid());
                    added.positions.push(event.stream_version);
                    added.addresses.push(Json(address));
                    added.at.push(event.recorded_at);
                }
                AddressBookEvent::DefaultAddressChosen {
                    customer_id,
                    address_id,
                } => {
                    added.defaults.insert(
                        customer_id.as_uuid(),
                        (address_id.as_uuid(), event.recorded_at),
                    );
                }
                other => {
                    added.flush(tx).await?;
                    apply_change(tx, other, event.recorded_at).await?;
                }
            }
        }
        added.flush(tx).await?;
        Ok(())
    }

    /// An erased customer's entries keep their country; every other member reads as erased.
    async fn forget(&self, tx: &mut PgConnection, people: &[Uuid]) -> Result<(), ProjectionError> {
        sqlx::query(
            "update customer_addresses set address = address || $2 where customer_id = any($1)",
        )
        .bind(people)
        .bind(Json(events::personal::erased_address()))
        .execute(tx)
        .await?;
        Ok(())
    }
}

/// Additions waiting to be inserted together, then each customer's last default choice.
/// (An addition after a gathered choice of the same customer writes them first.)
#[derive(Default)]
struct Additions {
    /// Customer to (default address, chosen at).
    defaults: BTreeMap<Uuid, (Uuid, DateTime<Utc>)>,
    customers: Vec<Uuid>,
    ids: Vec<Uuid>,
    positions: Vec<i64>,
    addresses: Vec<Json<Address>>,
    at: Vec<DateTime<Utc>>,
}

impl Additions {
    async fn flush(&mut self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        let run = std::mem::take(self);
        if !run.ids.is_empty() {
            run.insert(tx).await?;
        }
        if !run.defaults.is_empty() {
            let mut customers = Vec::new();
            let mut chosen = Vec::new();
            let mut at = Vec::new();
            for (customer, (address, when)) in run.defaults {
                customers.push(customer);
                chosen.push(address);
                at.push(when);
            }
            sqlx::query(
                "update customer_addresses a set is_default = (a.address_id = d.address_id),
                   updated_at = d.at
                 from unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) as d(customer_id, address_id, at)
                 where a.customer_id = d.customer_id and a.customer_id = any($1)",
            )
            .bind(&customers)
            .bind(&chosen)
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }

    async fn insert(&self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "insert into customer_addresses (customer_id, address_id, position, address, updated_at)
             select * from unnest($1::uuid[], $2::uuid[], $3::int8[], $4::jsonb[],
               $5::timestamptz[])",
        )
        .bind(&self.customers)
        .bind(&self.ids)
        .bind(&self.positions)
        .bind(&self.addresses)
        .bind(&self.at)
        .execute(tx)
        .await?;
        Ok(())
    }
}

/// Applies one change other than an addition or a default choice.
async fn apply_change(
    tx: &mut PgConnection,
    change: AddressBookEvent,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    match change {
        // Gathered and written by the caller.
        AddressBookEvent::AddressAdded { .. } | AddressBookEvent::DefaultAddressChosen { .. } => {}
        AddressBookEvent::AddressChanged {
            customer_id,
            address_id,
            address,
        } => {
            sqlx::query(
                "update customer_addresses set address = $3, updated_at = $4
                 where customer_id = $1 and address_id = $2",
            )
            .bind(customer_id.as_uuid())
            .bind(address_id.as_uuid())
            .bind(Json(address))
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        AddressBookEvent::AddressRemoved {
            customer_id,
            address_id,
        } => {
            sqlx::query(
                "delete from customer_addresses where customer_id = $1 and address_id = $2",
            )
            .bind(customer_id.as_uuid())
            .bind(address_id.as_uuid())
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}

/// One entry of an address book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct AddressView {
    /// The entry (name it at checkout as `shipping_address_id`).
    pub address_id: Uuid,
    /// Whether checkout uses it when given no address.
    pub is_default: bool,
    /// The address.
    #[schemars(with = "Address")]
    pub address: Json<Address>,
}

/// A customer's address book, in the order entries were added.
pub async fn list_addresses(
    pool: &PgPool,
    customer_id: Uuid,
) -> Result<Vec<AddressView>, sqlx::Error> {
    sqlx::query_as(
        "select address_id, is_default, address from customer_addresses
         where customer_id = $1 order by position",
    )
    .bind(customer_id)
    .fetch_all(pool)
    .await
}
