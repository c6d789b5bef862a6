-- one fulfilment per seller and order (orders read model): the seller's lines, where they
-- stand, carrier and tracking. orders placed before orders were split have none.
create table order_fulfilments (
    order_id        uuid not null,
    seller_id       uuid not null,
    lines           jsonb not null,
    state           text not null,
    carrier         text,
    tracking_number text,
    shipped_at      timestamptz,
    delivered_at    timestamptz,
    primary key (order_id, seller_id)
);
create index order_fulfilments_seller on order_fulfilments (seller_id, state, order_id);
