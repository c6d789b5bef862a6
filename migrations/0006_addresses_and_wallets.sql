-- Addresses, store credit, the three state machines of an order, and payment webhooks.

-- Read model of the `addresses` projection: one row per address-book entry.
create table customer_addresses (
    customer_id uuid not null,
    address_id  uuid not null,
    -- Stream version of the entry's AddressAdded: the book's order.
    position    bigint not null,
    address     jsonb not null,
    is_default  boolean not null default false,
    updated_at  timestamptz not null,
    primary key (customer_id, address_id)
);

create index customer_addresses_by_position on customer_addresses (customer_id, position);

-- Orders placed since OrderPlaced v2 carry their addresses; earlier ones keep nulls.
alter table orders
    add column shipping_address jsonb,
    add column billing_address jsonb,
    add column credit_applied_minor bigint;

-- Read model of the `wallets` projection: balances per account and currency...
create table wallet_balances (
    account_id    uuid not null,
    currency      text not null,
    balance_minor bigint not null,
    updated_at    timestamptz not null,
    primary key (account_id, currency)
);

-- ...and every movement, for the account's statement.
create table wallet_entries (
    account_id   uuid not null,
    -- Stream version of the movement in the account's wallet stream.
    position     bigint not null,
    kind         text not null,
    amount_minor bigint not null,
    currency     text not null,
    order_id     uuid,
    reason       text,
    recorded_at  timestamptz not null,
    primary key (account_id, position)
);

-- An order's three state machines, next to the summary `status`. Rows written before are
-- derived from their status.
alter table orders
    add column order_state text,
    add column payment_state text,
    add column fulfilment_state text;

update orders set
    order_state = case status
        when 'cancelled' then 'cancelled' when 'delivered' then 'completed' else 'open' end,
    payment_state = case
        when paid_at is not null then 'captured' else 'pending' end,
    fulfilment_state = case status
        when 'shipped' then 'shipped' when 'delivered' then 'delivered' else 'unfulfilled' end;

alter table orders
    alter column order_state set not null,
    alter column payment_state set not null,
    alter column fulfilment_state set not null;

-- Payment webhooks: every verified delivery is recorded here before it is acted on, once per
-- provider event id (duplicates find their row and change nothing). Rows without
-- `processed_at` are picked up again after a crash.
create table webhook_inbox (
    provider     text not null,
    event_id     text not null,
    event_type   text not null,
    payload      jsonb not null,
    received_at  timestamptz not null default now(),
    processed_at timestamptz,
    -- `applied`, `ignored`, or `refused: <code>`.
    outcome      text,
    primary key (provider, event_id)
);

create index webhook_inbox_pending on webhook_inbox (received_at) where processed_at is null;

-- The payment request an order waits on, and why its last attempt failed.
alter table orders
    add column provider_order_id text,
    add column payment_failure text;

-- Read model of the `unpaid_orders` projection: placed orders not paid or cancelled yet, for
-- the payment-timeout process manager.
create table unpaid_orders (
    order_id  uuid primary key,
    placed_at timestamptz not null
);

create index unpaid_orders_by_age on unpaid_orders (placed_at);

-- Refunds paid out by the provider, in minor units.
alter table orders add column refunded_minor bigint not null default 0;

-- Read model of the `refunds_due` projection: cancelled orders owed a refund through the
-- provider, for the refund process manager.
create table refunds_due (
    order_id     uuid primary key,
    amount_minor bigint not null,
    currency     text not null,
    cancelled_at timestamptz not null
);

-- Returns of an order (part of the `orders` projection).
create table order_returns (
    order_id     uuid not null,
    return_id    uuid not null,
    status       text not null,
    lines        jsonb not null,
    reason       text not null,
    value_minor  bigint,
    requested_at timestamptz not null,
    decided_at   timestamptz,
    primary key (order_id, return_id)
);

-- What an order costs beyond its lines, as quoted at checkout (null before OrderPlaced v2).
alter table orders
    add column subtotal_minor bigint,
    add column shipping_minor bigint,
    add column tax_minor bigint,
    add column shipping_method text;

-- Emails the notifier sent, once per event.
create table notifications_sent (
    event_id  uuid primary key,
    recipient text not null,
    subject   text not null,
    sent_at   timestamptz not null default now()
);
