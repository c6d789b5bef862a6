-- product approval: a seller's new product, and a seller's change to a product's name,
-- description, category or images, wait for an admin. published is set once content was
-- approved (products listed before approval existed were public at once); draft holds the
-- waiting (or refused) content as {name, description, category, specifications, images}.
alter table catalog_products
    add column published    boolean not null default true,
    add column draft        jsonb,
    add column draft_status text,
    add column draft_reason text,
    add column draft_at     timestamptz;

create index catalog_products_waiting on catalog_products (draft_at) where draft_status = 'pending';
