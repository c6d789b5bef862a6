-- the in-memory search index of each API process (projections::search::index) follows
-- catalog_products by the id of the transaction that last wrote each row: a refresh reads the
-- rows stamped at or after the oldest transaction running at its previous snapshot.
create function catalog_products_stamp() returns trigger language plpgsql as $$
begin
    new.search_xid := pg_current_xact_id();
    return new;
end
$$;

alter table catalog_products add column search_xid xid8 not null default pg_current_xact_id();
create index catalog_products_search_xid on catalog_products (search_xid);
-- the trigger is part of the table: a rebuild's new generation gets it too
-- (projections::rebuild::TRIGGERS).
create trigger catalog_products_stamp before insert or update on catalog_products
    for each row execute function catalog_products_stamp();
