-- read models, built by projections from the event log. everything here can be dropped and
-- rebuilt from the events table.

-- de-duplication state: the last stream version each projection applied, per stream. an event
-- whose version is not above it has been applied already (a redelivery) and is skipped. it is
-- updated in the same transaction as the read-model change.
create table projection_streams (
    projection text not null,
    stream_id  text not null,
    version    bigint not null,
    primary key (projection, stream_id)
);

-- position in the global log of a projection group following the store directly (no kafka).
create table projection_checkpoints (
    name       text primary key,
    position   bigint not null,
    updated_at timestamptz not null default now()
);

-- per projection: every event at or below this position has been applied (read-your-writes).
create table projection_watermarks (
    projection text primary key,
    position   bigint not null
);

-- catalog: products from product streams, stock from inventory streams (either may arrive
-- first when they travel on different kafka partitions).
create table catalog_products (
    sku          text primary key,
    name         text not null,
    description  text not null,
    category     text not null,
    price_minor  bigint not null,
    currency     text not null,
    created_at   timestamptz not null,
    updated_at   timestamptz not null
);
create index catalog_products_category on catalog_products (category, sku);

create table catalog_stock (
    sku       text primary key,
    received  bigint not null default 0,
    available bigint not null default 0
);

-- carts: one per customer; lines keep the order they were first added in.
create table cart_lines (
    customer_id uuid not null,
    sku         text not null,
    quantity    integer not null,
    added_at    timestamptz not null,
    primary key (customer_id, sku)
);

create table carts (
    customer_id   uuid primary key,
    last_order_id uuid,
    updated_at    timestamptz not null
);

-- orders with their priced lines.
create table orders (
    order_id          uuid primary key,
    customer_id       uuid not null,
    status            text not null,
    total_minor       bigint not null,
    currency          text not null,
    placed_at         timestamptz not null,
    paid_at           timestamptz,
    payment_reference text,
    shipped_at        timestamptz,
    carrier           text,
    tracking_number   text,
    delivered_at      timestamptz,
    cancelled_at      timestamptz,
    cancel_reason     text,
    refund_minor      bigint,
    updated_at        timestamptz not null
);

create table order_lines (
    order_id         uuid not null,
    line_no          integer not null,
    sku              text not null,
    name             text not null,
    unit_price_minor bigint not null,
    quantity         integer not null,
    line_total_minor bigint not null,
    primary key (order_id, line_no)
);

-- orders by customer, newest first, for keyset pagination.
create table customer_orders (
    customer_id uuid not null,
    order_id    uuid not null,
    placed_at   timestamptz not null,
    status      text not null,
    total_minor bigint not null,
    currency    text not null,
    item_count  integer not null,
    primary key (order_id)
);
create index customer_orders_keyset on customer_orders (customer_id, placed_at desc, order_id desc);
