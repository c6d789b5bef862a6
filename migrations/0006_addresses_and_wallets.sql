-- Addresses (customers' address books, and the addresses every order is placed with) and
-- store credit (wallets, and the credit an order applied).

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
