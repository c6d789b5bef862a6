-- wishlists: the products each customer keeps, with the price each had when it was added.
create table wishlist_items (
    customer_id        uuid not null,
    sku                text not null,
    added_price_minor  bigint not null,
    added_currency     text not null,
    added_at           timestamptz not null,
    primary key (customer_id, sku)
);
