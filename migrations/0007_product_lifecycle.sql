-- product lifecycle: the specification and images of a product, archiving, stock corrections
-- and low-stock thresholds. the catalog read model can be rebuilt from the events as before.

-- ordered [{name, value}] and [{url, alt}] as recorded; archived_at is set while archived.
alter table catalog_products
    add column specifications jsonb not null default '[]',
    add column images         jsonb not null default '[]',
    add column archived_at    timestamptz,
    add column archive_reason text;

-- a seller's own products, archived ones included.
create index catalog_products_seller on catalog_products (seller_id, sku);

-- net units added or taken away by corrections; low once available <= low_stock_threshold.
alter table catalog_stock
    add column adjusted            bigint not null default 0,
    add column low_stock_threshold integer;
