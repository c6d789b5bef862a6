-- the category tree of the catalog read model, from the category-global stream. path is the
-- materialized path of slugs from the root ('home/kitchen/mugs'): a subtree is the rows whose
-- path equals the root's or starts with it and '/'.
create table catalog_categories (
    slug     text primary key,
    name     text not null,
    parent   text,
    position bigint not null,
    path     text not null
);
create index catalog_categories_path on catalog_categories (path text_pattern_ops);
create index catalog_categories_parent on catalog_categories (parent);
