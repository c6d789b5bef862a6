-- catalog search: a weighted full-text document per product, a vocabulary for correcting
-- typos, and ratings and units sold kept per product, so one statement can search, filter,
-- sort and count facets from indexes.
create extension if not exists pg_trgm;
create extension if not exists unaccent;

-- the text search configuration (stemming and stop words) of the catalog: one row. the
-- engine sets it from CATALOG_LANGUAGE at startup and recomputes documents and stems when it
-- changes.
create table catalog_settings (
    only_row boolean primary key default true check (only_row),
    language regconfig not null
);
insert into catalog_settings (language) values ('english');

-- a product's specifications as one text: "name value name value ...".
create function catalog_specifications_text(specifications jsonb)
returns text language sql immutable as $$
    select coalesce(string_agg((s ->> 'name') || ' ' || (s ->> 'value'), ' '), '')
    from jsonb_array_elements(specifications) s
$$;

-- the document: name (weight A), specifications (B), description (C), accents removed.
create function catalog_document(cfg regconfig, name text, description text, specifications jsonb)
returns tsvector language sql stable as $$
    select setweight(to_tsvector(cfg, unaccent(name)), 'A')
        || setweight(to_tsvector(cfg, unaccent(catalog_specifications_text(specifications))), 'B')
        || setweight(to_tsvector(cfg, unaccent(description)), 'C')
$$;

-- the stem of one word under cfg (the word itself for a stop word).
create function catalog_stem(cfg regconfig, word text)
returns text language sql stable as $$
    select coalesce((select l.lexeme from unnest(to_tsvector(cfg, word)) l limit 1), word)
$$;

-- the words of a text as typed (lower case, no accents), each with its stem.
create function catalog_words_of(cfg regconfig, body text)
returns table (word text, lexeme text) language sql stable as $$
    select distinct t.lexeme, catalog_stem(cfg, t.lexeme)
    from unnest(to_tsvector('simple', unaccent(body))) t
$$;

-- every word of the public catalog: a query word found neither as typed nor by its stem is
-- corrected to the most similar one (trigrams). words leave only with a rebuild: a stale word
-- costs nothing but a correction that finds no product.
create table catalog_words (
    word   text primary key,
    lexeme text not null
);
create index catalog_words_lexeme on catalog_words (lexeme);
create index catalog_words_prefix on catalog_words (word text_pattern_ops);
create index catalog_words_trigrams on catalog_words using gin (word gin_trgm_ops);

-- kept by the catalog projection with every change of a product's public content (so a
-- rebuild's new generation computes it the same way).
alter table catalog_products add column search_document tsvector not null default '';
update catalog_products
   set search_document = catalog_document((select language from catalog_settings),
                                          name, description, specifications);
insert into catalog_words (word, lexeme)
select w.word, w.lexeme
from catalog_products p,
     catalog_words_of((select language from catalog_settings),
                      p.name || ' ' || p.description || ' '
                      || catalog_specifications_text(p.specifications)) w
where p.published
on conflict (word) do nothing;

create index catalog_products_search on catalog_products using gin (search_document);
create index catalog_products_price on catalog_products (price_minor, sku);
create index catalog_products_newest on catalog_products (created_at desc, sku);

-- units sold: reserved by orders, less units released by cancellations or returned. counted
-- from here on; `commerce rebuild catalog` counts the past too.
alter table catalog_stock add column sold bigint not null default 0;

-- each product's rating from its reviews not hidden.
create table catalog_ratings (
    sku            text primary key,
    rating_count   bigint not null,
    rating_average double precision
);
insert into catalog_ratings (sku, rating_count, rating_average)
select sku, count(*), avg(rating)::float8 from catalog_reviews where hidden_at is null group by sku;

-- copies on the product's row of its stock figures and rating (kept in step by the catalog
-- projection; catalog_stock and catalog_ratings stay the record, as their events may arrive
-- before the product's), so a search filters, sorts and counts without a join per match.
alter table catalog_products
    add column available      bigint not null default 0,
    add column sold           bigint not null default 0,
    add column rating_average double precision,
    add column rating_count   bigint not null default 0;
update catalog_products p set available = s.available from catalog_stock s where s.sku = p.sku;
update catalog_products p set rating_average = r.rating_average, rating_count = r.rating_count
  from catalog_ratings r where r.sku = p.sku;
