//! Dashboards for sellers and admins, as a projection (`dash_sales`, `dash_orders`) that a
//! rebuild recreates like any other: each order line with its seller (from `OrderPlaced` and
//! `OrderSplitIntoFulfilments`, adjacent in one append), each order with its day and total, and
//! cancellations. The queries aggregate per UTC day.

use async_trait::async_trait;
use chrono::NaiveDate;
use domain::order::{Order, OrderEvent};
use domain::Aggregate;
use events::RecordedEvent;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::projection::{decode_known, Projection, ProjectionError};

/// Builds `dash_sales` and `dash_orders`.
pub struct DashboardProjection;

#[async_trait]
impl Projection for DashboardProjection {
    fn name(&self) -> &'static str {
        "dashboards"
    }

    fn categories(&self) -> &'static [&'static str] {
        &[Order::CATEGORY]
    }

    fn tables(&self) -> &'static [&'static str] {
        &["dash_sales", "dash_orders"]
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        self.apply_batch(tx, &[event]).await
    }

    /// Each run of placements and splits into fulfilments (the bulk of this stream) is two
    /// multi-row inserts and one update; the other changes between runs are applied alone, in
    /// order.
    async fn apply_batch(
        &self,
        tx: &mut PgConnection,
        events: &[&RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut placed = Placements::default();
        for event in events {
            match decode_known::<OrderEvent>(event)? {
                Some(OrderEvent::OrderPlaced {
                    order_id,
                    customer_id,
                    lines,
                    total,
                    ..
                }) => {
                    let day = event.recorded_at.date_naive();
                    placed.orders.push(order_id.as_uuid());
                    placed.customers.push(customer_id.as_uuid());
                    placed.days.push(day);
                    placed.totals.push(total.amount_minor());
                    placed.currencies.push(total.currency().as_str().to_owned());
                    for line in &lines {
                        placed.line_orders.push(order_id.as_uuid());
                        placed.skus.push(line.sku.as_str().to_owned());
                        placed.line_days.push(day);
                        placed.quantities.push(line.quantity.get() as i32);
                        placed.revenues.push(line.line_total.amount_minor());
                        placed
                            .line_currencies
                            .push(line.line_total.currency().as_str().to_owned());
                    }
                }
                Some(OrderEvent::OrderSplitIntoFulfilments {
                    order_id,
                    fulfilments,
                }) if !placed.split.contains(&order_id.as_uuid()) => {
                    placed.split.insert(order_id.as_uuid());
                    for part in &fulfilments {
                        for line in &part.lines {
                            placed.part_orders.push(order_id.as_uuid());
                            placed.part_sellers.push(part.seller_id.as_uuid());
                            placed.part_skus.push(line.sku.as_str().to_owned());
                        }
                    }
                }
                // Changes this read model shows: what is gathered is written first.
                Some(
                    other @ (OrderEvent::OrderCancelled { .. }
                    | OrderEvent::OrderSplitIntoFulfilments { .. }),
                ) => {
                    placed.flush(tx).await?;
                    apply_change(tx, other).await?;
                }
                // Payments, shipments and the rest change no dashboard row.
                Some(_) | None => {}
            }
        }
        placed.flush(tx).await?;
        Ok(())
    }
}

/// Placements waiting to be inserted together, then the splits' sellers set on their lines.
#[derive(Default)]
struct Placements {
    /// Orders whose split is gathered.
    split: std::collections::HashSet<Uuid>,
    part_orders: Vec<Uuid>,
    part_sellers: Vec<Uuid>,
    part_skus: Vec<String>,
    orders: Vec<Uuid>,
    customers: Vec<Uuid>,
    days: Vec<NaiveDate>,
    totals: Vec<i64>,
    currencies: Vec<String>,
    line_orders: Vec<Uuid>,
    skus: Vec<String>,
    line_days: Vec<NaiveDate>,
    quantities: Vec<i32>,
    revenues: Vec<i64>,
    line_currencies: Vec<String>,
}

impl Placements {
    async fn flush(&mut self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        let p = std::mem::take(self);
        if !p.orders.is_empty() {
            p.insert(tx).await?;
        }
        if !p.part_orders.is_empty() {
            sqlx::query(
                "update dash_sales d set seller_id = f.seller_id
                 from unnest($1::uuid[], $2::uuid[], $3::text[]) as f(order_id, seller_id, sku)
                 where d.order_id = f.order_id and d.sku = f.sku and d.order_id = any($1)",
            )
            .bind(&p.part_orders)
            .bind(&p.part_sellers)
            .bind(&p.part_skus)
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }

    async fn insert(&self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        let p = self;
        sqlx::query(
            "insert into dash_orders (order_id, customer_id, day, total_minor, currency)
             select * from unnest($1::uuid[], $2::uuid[], $3::date[], $4::int8[], $5::text[])
             on conflict do nothing",
        )
        .bind(&p.orders)
        .bind(&p.customers)
        .bind(&p.days)
        .bind(&p.totals)
        .bind(&p.currencies)
        .execute(&mut *tx)
        .await?;
        if !p.line_orders.is_empty() {
            sqlx::query(
                "insert into dash_sales (order_id, sku, day, quantity, revenue_minor, currency)
                 select * from unnest($1::uuid[], $2::text[], $3::date[], $4::int4[], $5::int8[],
                   $6::text[])
                 on conflict do nothing",
            )
            .bind(&p.line_orders)
            .bind(&p.skus)
            .bind(&p.line_days)
            .bind(&p.quantities)
            .bind(&p.revenues)
            .bind(&p.line_currencies)
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }
}

/// Applies one change other than a placement.
async fn apply_change(tx: &mut PgConnection, event: OrderEvent) -> Result<(), sqlx::Error> {
    match event {
        OrderEvent::OrderSplitIntoFulfilments {
            order_id,
            fulfilments,
        } => {
            for part in &fulfilments {
                let skus: Vec<&str> = part.lines.iter().map(|l| l.sku.as_str()).collect();
                sqlx::query(
                    "update dash_sales set seller_id = $2
                     where order_id = $1 and sku = any($3)",
                )
                .bind(order_id.as_uuid())
                .bind(part.seller_id.as_uuid())
                .bind(&skus)
                .execute(&mut *tx)
                .await?;
            }
        }
        OrderEvent::OrderCancelled { order_id, .. } => {
            for table in ["dash_sales", "dash_orders"] {
                // The table name is one of two constants, never input.
                sqlx::query(&format!(
                    "update {table} set cancelled = true where order_id = $1"
                ))
                .bind(order_id.as_uuid())
                .execute(&mut *tx)
                .await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Sales on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct DaySales {
    /// The UTC day.
    pub day: NaiveDate,
    /// ISO 4217 code.
    pub currency: String,
    /// Orders with a line of the seller's (admins: all orders).
    pub orders: i64,
    /// Units sold.
    pub units: i64,
    /// Revenue in minor units (admins: GMV, the orders' totals).
    pub revenue_minor: i64,
}

/// A product's sales.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct TopProduct {
    /// The product.
    pub sku: String,
    /// Units sold.
    pub units: i64,
    /// Revenue in minor units.
    pub revenue_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// A product at or below its low-stock threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct LowStock {
    /// The product.
    pub sku: String,
    /// Units available.
    pub stock_on_hand: i64,
    /// Its threshold.
    pub threshold: i64,
}

/// What a seller sees of their business between two days (inclusive); cancelled orders count
/// nowhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SellerDashboard {
    /// Sales per day and currency.
    pub sales_per_day: Vec<DaySales>,
    /// Revenue per currency over the period.
    pub revenue: Vec<Money>,
    /// The marketplace's commission per currency over the period, at the seller's current
    /// rate, rounded half up to a whole minor unit.
    pub commission_owed: Vec<Money>,
    /// The rate used, in basis points.
    pub commission_bp: i64,
    /// The five best-selling products by units.
    pub top_products: Vec<TopProduct>,
    /// Products at or below their low-stock threshold now.
    pub low_stock: Vec<LowStock>,
}

/// An amount in a currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Money {
    /// Minor units.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// The seller's dashboard for `from..=to`.
pub async fn seller_dashboard(
    pool: &PgPool,
    seller: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<SellerDashboard, sqlx::Error> {
    let sales_per_day: Vec<DaySales> = sqlx::query_as(
        "select day, currency, count(distinct order_id) as orders, sum(quantity)::int8 as units,
                sum(revenue_minor)::int8 as revenue_minor
         from dash_sales where seller_id = $1 and not cancelled and day between $2 and $3
         group by day, currency order by day, currency",
    )
    .bind(seller)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let revenue: Vec<Money> = sqlx::query_as(
        "select sum(revenue_minor)::int8 as amount_minor, currency from dash_sales
         where seller_id = $1 and not cancelled and day between $2 and $3
         group by currency order by currency",
    )
    .bind(seller)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let (commission_bp,): (i64,) = sqlx::query_as(
        "select coalesce((select commission_bp from sellers where account_id = $1), 0)::int8",
    )
    .bind(seller)
    .fetch_one(pool)
    .await?;
    let commission_owed = revenue
        .iter()
        .map(|r| Money {
            // Half up on non-negative amounts: (a * bp + 5000) / 10000, in i128.
            amount_minor: ((i128::from(r.amount_minor) * i128::from(commission_bp) + 5_000)
                / 10_000) as i64,
            currency: r.currency.clone(),
        })
        .collect();
    let top_products: Vec<TopProduct> = sqlx::query_as(
        "select sku, sum(quantity)::int8 as units, sum(revenue_minor)::int8 as revenue_minor,
                currency
         from dash_sales where seller_id = $1 and not cancelled and day between $2 and $3
         group by sku, currency order by units desc, sku limit 5",
    )
    .bind(seller)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let low_stock: Vec<LowStock> = sqlx::query_as(
        "select p.sku, coalesce(s.available, 0) as stock_on_hand,
                s.low_stock_threshold::int8 as threshold
         from catalog_products p join catalog_stock s on s.sku = p.sku
         where p.seller_id = $1 and s.low_stock_threshold is not null
           and s.available <= s.low_stock_threshold and p.archived_at is null
         order by p.sku",
    )
    .bind(seller)
    .fetch_all(pool)
    .await?;
    Ok(SellerDashboard {
        sales_per_day,
        revenue,
        commission_owed,
        commission_bp,
        top_products,
        low_stock,
    })
}

/// A count on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct DayCount {
    /// The UTC day.
    pub day: NaiveDate,
    /// How many.
    pub count: i64,
}

/// Orders in one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct StatusCount {
    /// The status.
    pub status: String,
    /// How many orders.
    pub count: i64,
}

/// A seller's sales.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct TopSeller {
    /// The seller's account.
    pub seller_id: Uuid,
    /// The store's name, when the seller applied through the marketplace.
    pub store_name: Option<String>,
    /// Revenue in minor units.
    pub revenue_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// What admins see of the shop between two days (inclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct AdminDashboard {
    /// Orders and gross merchandise value (order totals) per day and currency, cancelled
    /// orders left out.
    pub gmv_per_day: Vec<DaySales>,
    /// Orders placed in the period, by their status now.
    pub orders_by_status: Vec<StatusCount>,
    /// Customer accounts opened per day.
    pub new_customers_per_day: Vec<DayCount>,
    /// The five sellers with the most revenue.
    pub top_sellers: Vec<TopSeller>,
}

/// The admins' dashboard for `from..=to`.
pub async fn admin_dashboard(
    pool: &PgPool,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<AdminDashboard, sqlx::Error> {
    let gmv_per_day: Vec<DaySales> = sqlx::query_as(
        "select o.day, o.currency, count(*) as orders,
                coalesce(sum((select sum(s.quantity) from dash_sales s
                              where s.order_id = o.order_id)), 0)::int8 as units,
                sum(o.total_minor)::int8 as revenue_minor
         from dash_orders o where not o.cancelled and o.day between $1 and $2
         group by o.day, o.currency order by o.day, o.currency",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let orders_by_status: Vec<StatusCount> = sqlx::query_as(
        "select status, count(*) as count from orders
         where placed_at::date between $1 and $2 group by status order by status",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let new_customers_per_day: Vec<DayCount> = sqlx::query_as(
        "select registered_at::date as day, count(*) as count from accounts
         where 'customer' = any(roles) and registered_at::date between $1 and $2
         group by 1 order by 1",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let top_sellers: Vec<TopSeller> = sqlx::query_as(
        "select d.seller_id, s.store_name, sum(d.revenue_minor)::int8 as revenue_minor,
                d.currency
         from dash_sales d left join sellers s on s.account_id = d.seller_id
         where d.seller_id is not null and not d.cancelled and d.day between $1 and $2
         group by d.seller_id, s.store_name, d.currency
         order by revenue_minor desc, d.seller_id limit 5",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(AdminDashboard {
        gmv_per_day,
        orders_by_status,
        new_customers_per_day,
        top_sellers,
    })
}

/// An order as the admins' list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct OrderRow {
    /// The order.
    pub order_id: Uuid,
    /// Who ordered.
    pub customer_id: Uuid,
    /// Summary status.
    pub status: String,
    /// Total in minor units.
    pub total_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// When it was placed.
    pub placed_at: chrono::DateTime<chrono::Utc>,
}

/// What the admins' order list keeps.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Summary status.
    pub status: Option<String>,
    /// Placed on or after this UTC day.
    pub from: Option<NaiveDate>,
    /// Placed on or before this UTC day.
    pub to: Option<NaiveDate>,
    /// Whose orders.
    pub customer_id: Option<Uuid>,
    /// Orders with a part from this seller.
    pub seller_id: Option<Uuid>,
}

/// Orders matching `filter`, newest first.
pub async fn list_orders(
    pool: &PgPool,
    filter: &OrderFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<OrderRow>, sqlx::Error> {
    sqlx::query_as(
        "select o.order_id, o.customer_id, o.status, o.total_minor, o.currency, o.placed_at
         from orders o
         where ($1::text is null or o.status = $1)
           and ($2::date is null or o.placed_at::date >= $2)
           and ($3::date is null or o.placed_at::date <= $3)
           and ($4::uuid is null or o.customer_id = $4)
           and ($5::uuid is null or exists (select 1 from order_fulfilments f
                                            where f.order_id = o.order_id and f.seller_id = $5))
         order by o.placed_at desc, o.order_id limit $6 offset $7",
    )
    .bind(&filter.status)
    .bind(filter.from)
    .bind(filter.to)
    .bind(filter.customer_id)
    .bind(filter.seller_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await
}
