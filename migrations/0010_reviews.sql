-- reviews, part of the catalog read model: one row per customer and product. hidden_at is set
-- while an admin hides it; hidden reviews count in no rating.
create table catalog_reviews (
    sku         text not null,
    customer_id uuid not null,
    order_id    uuid not null,
    rating      smallint not null,
    text        text not null,
    created_at  timestamptz not null,
    updated_at  timestamptz not null,
    hidden_at   timestamptz,
    hide_reason text,
    primary key (sku, customer_id)
);
create index catalog_reviews_newest on catalog_reviews (sku, created_at desc);
