//! Cart read model: each customer's lines, shown with current catalog names and prices.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::cart::Cart;
use domain::cart::CartEvent;
use domain::Aggregate;
use events::RecordedEvent;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::catalog::Price;
use crate::projection::{decode_known, Projection, ProjectionError};

/// Builds `carts` and `cart_lines`.
pub struct CartProjection;

#[async_trait]
impl Projection for CartProjection {
    fn name(&self) -> &'static str {
        "carts"
    }

    fn categories(&self) -> &'static [&'static str] {
        &[Cart::CATEGORY]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["carts", "cart_lines"]
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        self.apply_batch(tx, &[event]).await
    }

    /// Folds the batch over the touched customers' current lines, then writes each table
    /// once: 4 statements whatever the batch's size.
    async fn apply_batch(
        &self,
        tx: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut carts: BTreeMap<Uuid, Folded> = BTreeMap::new();
        let mut decoded = Vec::with_capacity(events.len());
        for event in events {
            if let Some(cart) = decode_known::<CartEvent>(event)? {
                carts.entry(customer_of(&cart)).or_default();
                decoded.push((cart, event.recorded_at));
            }
        }
        if carts.is_empty() {
            return Ok(());
        }
        let customers: Vec<Uuid> = carts.keys().copied().collect();
        let current: Vec<(Uuid, String, i32, DateTime<Utc>)> = sqlx::query_as(
            "select customer_id, sku, quantity, added_at from cart_lines
             where customer_id = any($1)",
        )
        .bind(&customers)
        .fetch_all(&mut *tx)
        .await?;
        for (customer, sku, quantity, added_at) in current {
            if let Some(cart) = carts.get_mut(&customer) {
                cart.lines.insert(sku, (quantity, added_at));
            }
        }
        for (event, at) in decoded {
            let cart = carts.get_mut(&customer_of(&event)).expect("folded above");
            cart.updated_at = Some(at);
            match event {
                CartEvent::CartItemAdded { sku, quantity, .. } => {
                    let line = cart.lines.entry(sku.as_str().to_owned()).or_insert((0, at));
                    line.0 += quantity.get() as i32;
                }
                CartEvent::CartItemQuantityChanged { sku, quantity, .. } => {
                    if let Some(line) = cart.lines.get_mut(sku.as_str()) {
                        line.0 = quantity.get() as i32;
                    }
                }
                CartEvent::CartItemRemoved { sku, .. } => {
                    cart.lines.remove(sku.as_str());
                }
                CartEvent::CartCleared { .. } => cart.lines.clear(),
                CartEvent::CartCheckedOut { order_id, .. } => {
                    cart.lines.clear();
                    cart.last_order = Some(order_id.as_uuid());
                }
            }
        }
        sqlx::query("delete from cart_lines where customer_id = any($1)")
            .bind(&customers)
            .execute(&mut *tx)
            .await?;
        let mut line_customers = Vec::new();
        let mut skus = Vec::new();
        let mut quantities = Vec::new();
        let mut added = Vec::new();
        for (customer, cart) in &carts {
            for (sku, (quantity, at)) in &cart.lines {
                line_customers.push(*customer);
                skus.push(sku.as_str());
                quantities.push(*quantity);
                added.push(*at);
            }
        }
        if !skus.is_empty() {
            sqlx::query(
                "insert into cart_lines (customer_id, sku, quantity, added_at)
                 select * from unnest($1::uuid[], $2::text[], $3::int4[], $4::timestamptz[])",
            )
            .bind(&line_customers)
            .bind(&skus)
            .bind(&quantities)
            .bind(&added)
            .execute(&mut *tx)
            .await?;
        }
        let last_orders: Vec<Option<Uuid>> = carts.values().map(|c| c.last_order).collect();
        let updated: Vec<Option<DateTime<Utc>>> = carts.values().map(|c| c.updated_at).collect();
        sqlx::query(
            "insert into carts (customer_id, last_order_id, updated_at)
             select * from unnest($1::uuid[], $2::uuid[], $3::timestamptz[])
             on conflict (customer_id) do update set updated_at = excluded.updated_at,
               last_order_id = coalesce(excluded.last_order_id, carts.last_order_id)",
        )
        .bind(&customers)
        .bind(&last_orders)
        .bind(&updated)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

/// One customer's cart after the batch.
#[derive(Default)]
struct Folded {
    /// SKU to (quantity, first added).
    lines: BTreeMap<String, (i32, DateTime<Utc>)>,
    /// The order the batch's last checkout became, if any.
    last_order: Option<Uuid>,
    /// The batch's last event's time.
    updated_at: Option<DateTime<Utc>>,
}

fn customer_of(event: &CartEvent) -> Uuid {
    match event {
        CartEvent::CartItemAdded { customer_id, .. }
        | CartEvent::CartItemQuantityChanged { customer_id, .. }
        | CartEvent::CartItemRemoved { customer_id, .. }
        | CartEvent::CartCleared { customer_id }
        | CartEvent::CartCheckedOut { customer_id, .. } => customer_id.as_uuid(),
    }
}

/// A cart line with the product's current name and price (absent when the catalog does not
/// show the product yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CartLineView {
    /// Product SKU.
    pub sku: String,
    /// Units in the cart.
    pub quantity: i32,
    /// Product name now.
    pub name: Option<String>,
    /// Unit price now.
    pub unit_price: Option<Price>,
    /// `unit_price * quantity`.
    pub line_total: Option<Price>,
}

/// A customer's cart. A customer who never touched a cart has an empty one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CartView {
    /// Owner.
    pub customer_id: Uuid,
    /// Lines in the order they were first added.
    pub lines: Vec<CartLineView>,
    /// Sum of line totals at current prices; `null` when a line has no total, the lines are
    /// in several currencies, or the sum would leave the range of 64-bit minor units.
    pub subtotal: Option<Price>,
    /// The order the cart last became, if any.
    pub last_order_id: Option<Uuid>,
    /// Last change.
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct LineRow {
    sku: String,
    quantity: i32,
    name: Option<String>,
    price_minor: Option<i64>,
    currency: Option<String>,
}

/// The sum of the line totals; `None` when a line has no total (no price, or its own total
/// overflowed), the lines are in several currencies, or the sum leaves the range of `i64`
/// minor units. Never a saturated or wrapped amount.
fn subtotal(lines: &[CartLineView]) -> Option<Price> {
    let mut sum: Option<Price> = None;
    for line in lines {
        let total = line.line_total.as_ref()?;
        sum = Some(match sum {
            None => total.clone(),
            Some(s) if s.currency == total.currency => Price {
                amount_minor: s.amount_minor.checked_add(total.amount_minor)?,
                currency: s.currency,
            },
            Some(_) => return None,
        });
    }
    sum
}

/// A customer's cart.
pub async fn get_cart(pool: &PgPool, customer_id: Uuid) -> Result<CartView, sqlx::Error> {
    let header: Option<(Option<Uuid>, DateTime<Utc>)> =
        sqlx::query_as("select last_order_id, updated_at from carts where customer_id = $1")
            .bind(customer_id)
            .fetch_optional(pool)
            .await?;
    let rows: Vec<LineRow> = sqlx::query_as(
        "select l.sku, l.quantity, p.name, p.price_minor, p.currency
         from cart_lines l left join catalog_products p on p.sku = l.sku
         where l.customer_id = $1 order by l.added_at, l.sku",
    )
    .bind(customer_id)
    .fetch_all(pool)
    .await?;

    let lines: Vec<CartLineView> = rows
        .into_iter()
        .map(|r| {
            let unit_price = r
                .price_minor
                .zip(r.currency)
                .map(|(amount_minor, currency)| Price {
                    amount_minor,
                    currency,
                });
            let line_total = unit_price.as_ref().and_then(|p| {
                p.amount_minor
                    .checked_mul(i64::from(r.quantity))
                    .map(|amount_minor| Price {
                        amount_minor,
                        currency: p.currency.clone(),
                    })
            });
            CartLineView {
                sku: r.sku,
                quantity: r.quantity,
                name: r.name,
                unit_price,
                line_total,
            }
        })
        .collect();
    Ok(CartView {
        customer_id,
        subtotal: subtotal(&lines),
        lines,
        last_order_id: header.as_ref().and_then(|h| h.0),
        updated_at: header.map(|h| h.1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(amount_minor: Option<i64>, currency: &str) -> CartLineView {
        CartLineView {
            sku: "X".into(),
            quantity: 1,
            name: None,
            unit_price: None,
            line_total: amount_minor.map(|amount_minor| Price {
                amount_minor,
                currency: currency.into(),
            }),
        }
    }

    #[test]
    fn subtotal_adds_lines_in_one_currency() {
        let total = subtotal(&[line(Some(250), "EUR"), line(Some(100), "EUR")]).unwrap();
        assert_eq!(total.amount_minor, 350);
        assert_eq!(subtotal(&[]), None);
    }

    #[test]
    fn subtotal_is_absent_rather_than_wrong() {
        // Overflow: no saturated i64::MAX.
        assert_eq!(
            subtotal(&[line(Some(i64::MAX), "EUR"), line(Some(1), "EUR")]),
            None
        );
        assert_eq!(
            subtotal(&[line(Some(1), "EUR"), line(Some(1), "USD")]),
            None
        );
        assert_eq!(subtotal(&[line(Some(1), "EUR"), line(None, "EUR")]), None);
    }
}
