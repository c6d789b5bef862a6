-- dashboards: sales per order line with its seller (from OrderPlaced and its split), and
-- orders per day; the seller and admin dashboards aggregate these. days are UTC.
create table dash_sales (
    order_id      uuid not null,
    sku           text not null,
    seller_id     uuid,
    day           date not null,
    quantity      integer not null,
    revenue_minor bigint not null,
    currency      text not null,
    cancelled     boolean not null default false,
    primary key (order_id, sku)
);
create index dash_sales_seller on dash_sales (seller_id, day);

create table dash_orders (
    order_id    uuid primary key,
    customer_id uuid not null,
    day         date not null,
    total_minor bigint not null,
    currency    text not null,
    cancelled   boolean not null default false
);
create index dash_orders_day on dash_orders (day);
