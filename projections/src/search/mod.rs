//! Catalog search over the catalog read model.
//!
//! Two evaluations of one search: [`SearchIndex`] (module [`index`]), the in-memory index each
//! API process searches, and [`search`], the same search in SQL alone, kept for the queries the
//! index does not evaluate and as its reference in tests. Both give the same totals, facets,
//! corrections, filters, orders and pages; only relevance is computed differently. The rules:
//!
//! - **Full text.** Each product has a weighted document (name A, specifications B,
//!   description C, accents removed) in the catalog's text search configuration
//!   (`catalog_settings.language`, set from `CATALOG_LANGUAGE`), kept by the catalog
//!   projection on `catalog_products`. Queries take `websearch` syntax (`"water bottle" -plastic`,
//!   `kettle or teapot`); the last word, while it is being typed (no space after it), also
//!   matches as a prefix.
//! - **Typos.** Every word of the catalog is kept in `catalog_words` with its stem. A query
//!   word found neither as typed nor by its stem (nor, being typed, as the start of a word) is
//!   replaced by the most similar catalog word by trigrams (`pg_trgm`), and the answer says
//!   what was searched instead.
//! - **Filters, sorting, facets.** Category subtree, price range, in stock, seller and minimum
//!   rating; relevance, price up or down, newest, rating or best selling; counts by category,
//!   price bucket and seller. The price and seller facets count with every filter but their
//!   own (so a shopper sees the alternatives to what they picked); the category facet counts
//!   within the chosen category (its subcategories: drilling down), so a search in a category
//!   never counts the whole catalog. Each count equals the `total` of the same search with
//!   that facet's filter set to it.
//! - **Keyset pages.** The last item's sort key comes back as [`After`]; the next page starts
//!   strictly after it, so deep pages cost what the first does and nothing is skipped or
//!   repeated while the catalog changes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::catalog::{ProductView, SELECT_PRODUCTS};

pub mod index;
pub mod tsquery;

pub use index::{IndexStats, SearchIndex};

/// How results are ordered. Ties are broken by SKU, so every order is total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    /// Best match first (by SKU without a query).
    Relevance,
    /// Cheapest first.
    PriceAsc,
    /// Dearest first.
    PriceDesc,
    /// Most recently listed first.
    Newest,
    /// Best average rating first, more ratings first among equals.
    Rating,
    /// Most units sold first.
    BestSelling,
}

impl SortOrder {
    /// Every order, as named in requests.
    pub const NAMES: &'static str =
        "relevance, price_asc, price_desc, newest, rating, best_selling";

    /// Parses a name from a request.
    pub fn parse(raw: &str) -> Option<SortOrder> {
        Some(match raw {
            "relevance" => SortOrder::Relevance,
            "price_asc" => SortOrder::PriceAsc,
            "price_desc" => SortOrder::PriceDesc,
            "newest" => SortOrder::Newest,
            "rating" => SortOrder::Rating,
            "best_selling" => SortOrder::BestSelling,
            _ => return None,
        })
    }

    /// The sort key columns of `matched`, most significant first.
    fn keys(self) -> &'static str {
        match self {
            SortOrder::Relevance => "m.rank",
            SortOrder::PriceAsc | SortOrder::PriceDesc => "m.price_minor",
            SortOrder::Newest => "m.created_at",
            SortOrder::Rating => "m.rating, m.rating_count",
            SortOrder::BestSelling => "m.sold",
        }
    }

    fn ascending(self) -> bool {
        self == SortOrder::PriceAsc
    }

    fn order_by(self) -> String {
        let dir = if self.ascending() { "asc" } else { "desc" };
        let keys: Vec<String> = self
            .keys()
            .split(", ")
            .map(|k| format!("{k} {dir}"))
            .collect();
        format!("{}, m.sku asc", keys.join(", "))
    }
}

/// Where a page ends: the sort key of its last item. Clients get it as an opaque cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct After {
    /// The order the key belongs to.
    pub sort: SortOrder,
    /// The last item's SKU.
    pub sku: String,
    /// Its relevance (relevance order).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "exact")]
    #[schemars(with = "Option<String>")]
    pub rank: Option<f64>,
    /// Its price in minor units (price orders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<i64>,
    /// When it was listed (newest first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed_at: Option<DateTime<Utc>>,
    /// Its average rating, 0 without ratings, and how many (rating order).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "exact::with_count"
    )]
    #[schemars(with = "Option<(String, i64)>")]
    pub rating: Option<(f64, i64)>,
    /// Units sold (best selling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sold: Option<i64>,
}

impl After {
    /// Whether the cursor carries the key its order needs, in a range the database holds (a
    /// client may send any cursor: a listing time outside the years 1970-9999 is none of ours).
    pub fn is_valid(&self) -> bool {
        use chrono::Datelike;
        match self.sort {
            SortOrder::Relevance => self.rank.is_some(),
            SortOrder::PriceAsc | SortOrder::PriceDesc => self.price.is_some(),
            SortOrder::Newest => self
                .listed_at
                .is_some_and(|t| (1970..=9999).contains(&t.year())),
            SortOrder::Rating => self.rating.is_some(),
            SortOrder::BestSelling => self.sold.is_some(),
        }
    }

    fn push_key(&self, b: &mut QueryBuilder<'_, Postgres>) {
        b.push("(");
        match self.sort {
            SortOrder::Relevance => {
                b.push_bind(self.rank.unwrap_or_default());
            }
            SortOrder::PriceAsc | SortOrder::PriceDesc => {
                b.push_bind(self.price.unwrap_or_default());
            }
            SortOrder::Newest => {
                b.push_bind(self.listed_at.unwrap_or_default());
            }
            SortOrder::Rating => {
                let (average, count) = self.rating.unwrap_or_default();
                b.push_bind(average).push(", ").push_bind(count);
            }
            SortOrder::BestSelling => {
                b.push_bind(self.sold.unwrap_or_default());
            }
        }
        b.push(")");
    }
}

/// Prices below 10, 25, 50, 100, 250 and 500 units of the currency, and above (minor units).
pub const PRICE_EDGES: [i64; 6] = [1_000, 2_500, 5_000, 10_000, 25_000, 50_000];

/// A search, validated: every field is already a value the engine accepts.
#[derive(Debug, Clone)]
pub struct Search {
    /// What the shopper typed (`websearch` syntax), if anything; a space at its end says the
    /// last word is typed in full (no prefix matching).
    pub text: Option<String>,
    /// A category slug: that category and all below it.
    pub category: Option<String>,
    /// Lowest price, inclusive, in minor units.
    pub price_min: Option<i64>,
    /// Highest price, inclusive, in minor units.
    pub price_max: Option<i64>,
    /// Only products with units available.
    pub in_stock: bool,
    /// Only this seller's products.
    pub seller: Option<Uuid>,
    /// Only products rated at least this on average (1-5).
    pub min_rating: Option<f64>,
    /// The order.
    pub sort: SortOrder,
    /// Start after this item (keyset paging).
    pub after: Option<After>,
    /// Items skipped before the page (shallow paging without a cursor).
    pub offset: i64,
    /// Page size.
    pub limit: i64,
}

/// What was searched for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct QueryEcho {
    /// As typed.
    pub text: String,
    /// What was searched instead, when words were corrected.
    pub corrected: Option<String>,
}

/// A category and how many matching products are in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CategoryCount {
    /// Its slug.
    pub slug: String,
    /// Its name (`null` for a slug no longer in the tree).
    pub name: Option<String>,
    /// Matching products in this category (not counting those below it).
    pub count: i64,
}

/// A price bucket and how many matching products fall in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PriceBucket {
    /// Lowest price in the bucket, minor units.
    pub min: i64,
    /// Highest price in the bucket, minor units (`null`: no upper bound).
    pub max: Option<i64>,
    /// Matching products.
    pub count: i64,
}

/// A seller and how many matching products they sell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SellerCount {
    /// The seller's account (`null`: products listed by the shop itself).
    pub seller_id: Option<Uuid>,
    /// The store's name, for marketplace sellers.
    pub store_name: Option<String>,
    /// Matching products.
    pub count: i64,
}

/// Facet counts of a search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Facets {
    /// By category, largest first.
    pub categories: Vec<CategoryCount>,
    /// By price bucket, cheapest first; empty buckets left out.
    pub prices: Vec<PriceBucket>,
    /// By seller, largest first.
    pub sellers: Vec<SellerCount>,
}

/// One page of results.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SearchPage {
    /// The products on this page, in order.
    pub items: Vec<ProductView>,
    /// Products matching the search and every filter, on all pages.
    pub total: i64,
    /// Page size asked for.
    pub limit: i64,
    /// Items skipped before this page (0 with a cursor).
    pub offset: i64,
    /// Where the next page starts; `None` on the last page.
    #[serde(skip)]
    pub next: Option<After>,
    /// The query, and what was searched instead of it.
    pub query: Option<QueryEcho>,
    /// Counts by category, price and seller.
    pub facets: Facets,
}

/// A word of the query, where it is in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    start: usize,
    end: usize,
    /// Being typed: the last word, with no space, quote or operator after it.
    partial: bool,
}

/// The words of `text` a shopper could have mistyped: runs of letters and digits, leaving out
/// `or` (an operator in `websearch` syntax).
fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if !text[s..i].eq_ignore_ascii_case("or") {
                    out.push(Word {
                        start: s,
                        end: i,
                        partial: false,
                    });
                }
                start = None;
            }
            _ => {}
        }
    }
    let in_phrase = text.matches('"').count() % 2 == 1;
    let negated = |w: &Word| text[..w.start].ends_with('-');
    if let Some(last) = out.last_mut() {
        last.partial = last.end == text.len() && !in_phrase && !negated(last);
    }
    out
}

/// The text to search for, typos corrected.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Prepared {
    /// `websearch` text.
    text: String,
    /// Its last word is being typed: it matches as a prefix.
    partial: bool,
    /// The text after corrections, when any word was corrected.
    corrected: Option<String>,
    /// `websearch_to_tsquery` of `text` as PostgreSQL prints it, when known (nothing was
    /// corrected).
    query: Option<String>,
}

/// Corrects unknown words against the catalog's vocabulary, in one round trip (which also
/// parses the text as typed, for the index).
async fn prepare(pool: &PgPool, text: &str) -> Result<Prepared, sqlx::Error> {
    let found = words(text);
    // Words of two characters or fewer, and numbers, are kept as typed: trigrams say little
    // about them.
    let checked: Vec<&Word> = found
        .iter()
        .filter(|w| {
            let word = &text[w.start..w.end];
            word.chars().count() > 2 && !word.chars().all(|c| c.is_ascii_digit())
        })
        .collect();
    let inputs: Vec<String> = checked
        .iter()
        .map(|w| text[w.start..w.end].to_lowercase())
        .collect();
    let partial: Vec<bool> = checked.iter().map(|w| w.partial).collect();
    // The corrections, and the query of the text as typed (what is searched when nothing
    // needs correcting), in one round trip.
    let (query, suggestions): (String, Vec<Option<String>>) = sqlx::query_as(
        "with cfg as (select language from catalog_settings),
         w as (select ord, unaccent(input) as input, partial
               from unnest($1::text[], $2::bool[]) with ordinality as u(input, partial, ord))
         select (select websearch_to_tsquery(language, unaccent($3))::text from cfg),
           array(select case
               when exists (select 1 from catalog_words cw where cw.word = w.input)
                 or exists (select 1 from catalog_words cw
                      where cw.lexeme = catalog_stem((select language from cfg), w.input))
                 or (w.partial and exists (select 1 from catalog_words cw
                      where cw.word like w.input || '%'))
               then null
               else (select cw.word from catalog_words cw where cw.word % w.input
                     order by similarity(cw.word, w.input) desc, cw.word limit 1)
             end
             from w order by w.ord)",
    )
    .bind(&inputs)
    .bind(&partial)
    .bind(text)
    .fetch_one(pool)
    .await?;
    let mut corrected = String::with_capacity(text.len());
    let (mut last, mut any) = (0, false);
    let mut partial = found.last().is_some_and(|w| w.partial);
    for (word, suggestion) in checked.iter().zip(&suggestions) {
        if let Some(s) = suggestion {
            corrected.push_str(&text[last..word.start]);
            corrected.push_str(s);
            last = word.end;
            any = true;
            // A corrected word is a whole word, not the start of one.
            partial &= !word.partial;
        }
    }
    corrected.push_str(&text[last..]);
    Ok(Prepared {
        text: corrected.clone(),
        partial,
        query: (!any).then_some(query),
        corrected: any.then_some(corrected),
    })
}

/// A facet whose own filter [`push_filters`] leaves out (the category filter narrows the
/// matches themselves, so no facet leaves it out: see the module documentation).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Facet {
    Price,
    Seller,
    None,
}

/// Adds the `and <filter>` clauses of the price and seller filters, but `except`'s.
fn push_filters(b: &mut QueryBuilder<'_, Postgres>, s: &Search, except: Facet) {
    if except != Facet::Price {
        if let Some(min) = s.price_min {
            b.push(" and m.price_minor >= ").push_bind(min);
        }
        if let Some(max) = s.price_max {
            b.push(" and m.price_minor <= ").push_bind(max);
        }
    }
    if let Some(seller) = s.seller.filter(|_| except != Facet::Seller) {
        b.push(" and m.seller_id = ").push_bind(seller);
    }
}

/// What the search statement answers: the total, the facets and the page's sort keys.
#[derive(sqlx::FromRow)]
struct Found {
    total: i64,
    categories: sqlx::types::Json<Vec<CategoryCount>>,
    prices: sqlx::types::Json<Vec<BucketRow>>,
    sellers: sqlx::types::Json<Vec<SellerCount>>,
    keys: sqlx::types::Json<Vec<PageKey>>,
}

#[derive(Debug, Deserialize)]
struct PageKey {
    sku: String,
    #[serde(deserialize_with = "exact::text")]
    rank: f64,
    price_minor: i64,
    created_at: DateTime<Utc>,
    #[serde(deserialize_with = "exact::text")]
    rating: f64,
    rating_count: i64,
    sold: i64,
}

/// Floating-point sort keys as text, both ways: serde_json reads a JSON number only to within
/// a unit in the last place (unless its `float_roundtrip` feature is on), and a cursor must
/// give back exactly the key it was made of, or a product tied with the page's last one is
/// skipped. Rust writes the shortest text that reads back exactly, as PostgreSQL does
/// (`float8::text`). Cursors with plain numbers are still read.
mod exact {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(f64),
    }

    impl Raw {
        fn value<E: serde::de::Error>(self) -> Result<f64, E> {
            match self {
                Raw::Text(text) => text
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| E::custom("not a number")),
                Raw::Number(v) => Ok(v),
            }
        }
    }

    pub fn serialize<S: Serializer>(value: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.serialize_some(&v.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Option::<Raw>::deserialize(d)?.map(Raw::value).transpose()
    }

    /// A number written by PostgreSQL as text.
    pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Raw::deserialize(d)?.value()
    }

    /// An `(f64, i64)` pair.
    pub mod with_count {
        use super::Raw;
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            value: &Option<(f64, i64)>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some((v, n)) => s.serialize_some(&(v.to_string(), n)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<(f64, i64)>, D::Error> {
            Option::<(Raw, i64)>::deserialize(d)?
                .map(|(v, n)| Ok((v.value()?, n)))
                .transpose()
        }
    }
}

/// Runs a search in PostgreSQL alone: one statement for the matches, facet counts and the
/// page's keys, one for the page's products. The API searches its [`SearchIndex`], which
/// falls back to this for queries it cannot evaluate; tests compare the two.
pub async fn search(pool: &PgPool, s: &Search) -> Result<SearchPage, sqlx::Error> {
    let prepared = match s.text.as_deref() {
        Some(text) => Some(prepare(pool, text).await?),
        None => None,
    };
    let mut b: QueryBuilder<'_, Postgres> = QueryBuilder::new("with ");
    if let Some(p) = &prepared {
        // The query once, as an init plan, so the index scan and the ranking share it.
        // The word being typed is the query's last operand: it becomes a prefix ('bott':*),
        // whatever operator joins it to the rest.
        b.push("q as materialized (select case when ")
            .push_bind(p.partial)
            .push(
                " and t.tsq::text like '%''' then (t.tsq::text || ':*')::tsquery else t.tsq end
                 as tsq from (select websearch_to_tsquery(language, unaccent(",
            )
            .push_bind(p.text.clone())
            .push(")) as tsq from catalog_settings) t), ");
    }
    b.push(
        "matched as materialized (
           select p.sku, p.category, p.price_minor, p.seller_id, p.created_at,
             p.sold, coalesce(p.rating_average, 0)::float8 as rating, p.rating_count, ",
    );
    // Ranking reads every match's whole document: only a relevance order pays for it.
    if prepared.is_some() && s.sort == SortOrder::Relevance {
        b.push("ts_rank_cd(p.search_document, (select tsq from q))::float8 as rank");
    } else {
        b.push("0::float8 as rank");
    }
    b.push(
        " from catalog_products p
           where p.published and p.archived_at is null and ",
    )
    .push(crate::sellers::NOT_SUSPENDED);
    if prepared.is_some() {
        b.push(" and p.search_document @@ (select tsq from q)");
    }
    let mut tx = pool
        .begin_with(if s.category.is_some() {
            // The subtree's slugs are values the plan is made for: a generic plan cannot tell
            // a category of 2,500 products from the whole catalog and scans the table.
            "begin isolation level repeatable read read only;
             set local plan_cache_mode = force_custom_plan"
        } else {
            // The statement's shape depends only on which filters are set, never on their
            // values, so one plan per shape serves every search (planning costs more than
            // running most of them).
            "begin isolation level repeatable read read only;
             set local plan_cache_mode = force_generic_plan"
        })
        .await?;
    if let Some(category) = &s.category {
        // The category and every one below it, read first: the products then come from the
        // category index.
        let (subtree,): (Vec<String>,) = sqlx::query_as(
            "select coalesce(array_agg(d.slug), '{}')
             from catalog_categories d, catalog_categories root
             where root.slug = $1 and (d.path = root.path or d.path like root.path || '/%')",
        )
        .bind(category)
        .fetch_one(&mut *tx)
        .await?;
        b.push(" and p.category = any(")
            .push_bind(subtree)
            .push(")");
    }
    if s.in_stock {
        b.push(" and p.available > 0");
    }
    if let Some(rating) = s.min_rating {
        b.push(" and p.rating_average >= ").push_bind(rating);
    }
    b.push(") select (select count(*) from matched m where true");
    push_filters(&mut b, s, Facet::None);
    b.push(
        ") as total, (select coalesce(json_agg(json_build_object('slug', f.category, 'name', c.name,
               'count', f.n) order by f.n desc, f.category), '[]')
             from (select m.category, count(*) as n from matched m where true",
    );
    push_filters(&mut b, s, Facet::None);
    b.push(
        " group by m.category) f left join catalog_categories c on c.slug = f.category) as categories,
          (select coalesce(json_agg(json_build_object('bucket', f.bucket, 'count', f.n)
               order by f.bucket), '[]')
             from (select width_bucket(m.price_minor, ",
    )
    .push_bind(PRICE_EDGES.to_vec())
    .push(") as bucket, count(*) as n from matched m where true");
    push_filters(&mut b, s, Facet::Price);
    b.push(
        " group by 1) f) as prices,
          (select coalesce(json_agg(json_build_object('seller_id', f.seller_id,
               'store_name', sl.store_name, 'count', f.n) order by f.n desc, f.seller_id), '[]')
             from (select m.seller_id, count(*) as n from matched m where true",
    );
    push_filters(&mut b, s, Facet::Seller);
    b.push(
        " group by m.seller_id) f left join sellers sl on sl.account_id = f.seller_id) as sellers,
          (select coalesce(json_agg(json_build_object('sku', m.sku, 'rank', m.rank::text,
               'price_minor', m.price_minor, 'created_at', m.created_at, 'rating', m.rating::text,
               'rating_count', m.rating_count, 'sold', m.sold) order by ",
    )
    .push(s.sort.order_by())
    .push("), '[]') from (select m.* from matched m where true");
    push_filters(&mut b, s, Facet::None);
    if let Some(after) = &s.after {
        let keys = s.sort.keys();
        let beyond = if s.sort.ascending() { ">" } else { "<" };
        b.push(format!(" and (({keys}) {beyond} "));
        after.push_key(&mut b);
        b.push(format!(" or (({keys}) = "));
        after.push_key(&mut b);
        b.push(" and m.sku > ")
            .push_bind(after.sku.clone())
            .push("))");
    }
    b.push(" order by ")
        .push(s.sort.order_by())
        .push(" limit ")
        .push_bind(s.limit + 1);
    if s.after.is_none() {
        b.push(" offset ").push_bind(s.offset);
    }
    b.push(") m) as keys");

    // Facets, total and page from one snapshot, and the page's products from the same one.
    let found: Found = b.build_query_as().fetch_one(&mut *tx).await?;
    let found = index::Found {
        total: found.total,
        facets: Facets {
            categories: found.categories.0,
            prices: found.prices.0.into_iter().map(PriceBucket::from).collect(),
            sellers: found.sellers.0,
        },
        keys: found.keys.0,
    };
    let page = assemble(&mut *tx, s, prepared, found).await?;
    tx.commit().await?;
    Ok(page)
}

/// The answer around what a search found: the page's products read by SKU, in order, and
/// where the next page starts.
async fn assemble<'c>(
    db: impl sqlx::PgExecutor<'c>,
    s: &Search,
    prepared: Option<Prepared>,
    found: index::Found,
) -> Result<SearchPage, sqlx::Error> {
    let index::Found {
        total,
        facets,
        mut keys,
    } = found;
    let more = keys.len() as i64 > s.limit;
    keys.truncate(s.limit as usize);
    let skus: Vec<&str> = keys.iter().map(|k| k.sku.as_str()).collect();
    let rows: Vec<crate::catalog::ProductRow> =
        sqlx::query_as(&format!("{SELECT_PRODUCTS} where p.sku = any($1)"))
            .bind(&skus)
            .fetch_all(db)
            .await?;
    let mut by_sku: std::collections::HashMap<String, ProductView> = rows
        .into_iter()
        .map(|r| {
            let v = ProductView::from(r);
            (v.sku.clone(), v)
        })
        .collect();
    let items = keys.iter().filter_map(|k| by_sku.remove(&k.sku)).collect();
    let next = keys.last().filter(|_| more).map(|k| After {
        sort: s.sort,
        sku: k.sku.clone(),
        rank: (s.sort == SortOrder::Relevance).then_some(k.rank),
        price: matches!(s.sort, SortOrder::PriceAsc | SortOrder::PriceDesc)
            .then_some(k.price_minor),
        listed_at: (s.sort == SortOrder::Newest).then_some(k.created_at),
        rating: (s.sort == SortOrder::Rating).then_some((k.rating, k.rating_count)),
        sold: (s.sort == SortOrder::BestSelling).then_some(k.sold),
    });
    Ok(SearchPage {
        items,
        total,
        limit: s.limit,
        offset: if s.after.is_some() { 0 } else { s.offset },
        next,
        query: s.text.clone().zip(prepared).map(|(text, p)| QueryEcho {
            text: text.trim().to_owned(),
            corrected: p.corrected.map(|c| c.trim().to_owned()),
        }),
        facets,
    })
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
struct BucketRow {
    bucket: usize,
    count: i64,
}

impl From<BucketRow> for PriceBucket {
    fn from(r: BucketRow) -> Self {
        // width_bucket: 0 below the first edge, i between edges i-1 and i, len above the last.
        let min = if r.bucket == 0 {
            0
        } else {
            PRICE_EDGES[r.bucket - 1]
        };
        PriceBucket {
            min,
            max: PRICE_EDGES.get(r.bucket).map(|edge| edge - 1),
            count: r.count,
        }
    }
}

/// Sets the catalog's text search configuration (a PostgreSQL one: `english`, `german`,
/// `simple`, ...). When it changes, every product's document and every word's stem are
/// recomputed in the same transaction, so searches never mix two languages. Returns whether
/// it changed; an unknown configuration is an error and changes nothing.
pub async fn set_language(pool: &PgPool, language: &str) -> Result<bool, LanguageError> {
    let mut tx = pool.begin().await?;
    let known: Option<(String,)> =
        sqlx::query_as("select cfgname::text from pg_ts_config where cfgname = $1")
            .bind(language)
            .fetch_optional(&mut *tx)
            .await?;
    if known.is_none() {
        return Err(LanguageError::Unknown(language.to_owned()));
    }
    let (current,): (String,) =
        sqlx::query_as("select language::text from catalog_settings for update")
            .fetch_one(&mut *tx)
            .await?;
    if current == language {
        return Ok(false);
    }
    sqlx::query("update catalog_settings set language = $1::regconfig")
        .bind(language)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "update catalog_products set search_document =
           catalog_document($1::regconfig, name, description, specifications)",
    )
    .bind(language)
    .execute(&mut *tx)
    .await?;
    sqlx::query("update catalog_words set lexeme = catalog_stem($1::regconfig, word)")
        .bind(language)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// Why the catalog's language could not be set.
#[derive(Debug, thiserror::Error)]
pub enum LanguageError {
    /// PostgreSQL has no text search configuration of that name.
    #[error(
        "unknown text search configuration {0:?} (see pg_ts_config: english, german, simple, ...)"
    )]
    Unknown(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(text: &str) -> Vec<(&str, bool)> {
        words(text)
            .into_iter()
            .map(|w| (&text[w.start..w.end], w.partial))
            .collect()
    }

    #[test]
    fn the_last_word_is_a_prefix_while_it_is_typed() {
        assert_eq!(spans("steel bott"), [("steel", false), ("bott", true)]);
        assert_eq!(spans("steel bott "), [("steel", false), ("bott", false)]);
        assert_eq!(spans("\"steel bott"), [("steel", false), ("bott", false)]);
        assert_eq!(spans("\"steel bott\""), [("steel", false), ("bott", false)]);
        assert_eq!(
            spans("kettle -plast"),
            [("kettle", false), ("plast", false)]
        );
        assert_eq!(spans("kettle OR tea"), [("kettle", false), ("tea", true)]);
        assert_eq!(spans("Café crè"), [("Café", false), ("crè", true)]);
        assert_eq!(spans("  "), []);
    }

    #[test]
    fn sort_orders_are_total_and_named() {
        for name in SortOrder::NAMES.split(", ") {
            let sort = SortOrder::parse(name).unwrap();
            assert!(sort.order_by().ends_with("m.sku asc"), "{name}");
        }
        assert_eq!(SortOrder::parse("cheapest"), None);
        assert_eq!(
            SortOrder::PriceAsc.order_by(),
            "m.price_minor asc, m.sku asc"
        );
        assert_eq!(
            SortOrder::Rating.order_by(),
            "m.rating desc, m.rating_count desc, m.sku asc"
        );
    }

    #[test]
    fn a_cursor_gives_back_exactly_the_key_it_was_made_of() {
        let mut value = 0.919_047_653_675_079_3_f64;
        for n in 1..2_000 {
            value = value * 1.000_7 + 1.0 / n as f64;
            let after = After {
                sort: SortOrder::Rating,
                sku: "A".into(),
                rank: Some(value / 3.0),
                price: None,
                listed_at: None,
                rating: Some((value / 7.0, n)),
                sold: None,
            };
            let json = serde_json::to_string(&after).unwrap();
            assert_eq!(
                serde_json::from_str::<After>(&json).unwrap(),
                after,
                "{json}"
            );
        }
        // Cursors of earlier versions carried plain numbers.
        let old: After =
            serde_json::from_str(r#"{"sort":"relevance","sku":"A","rank":0.5}"#).unwrap();
        assert_eq!(old.rank, Some(0.5));
        assert!(
            serde_json::from_str::<After>(r#"{"sort":"relevance","sku":"A","rank":"x"}"#).is_err()
        );
    }

    #[test]
    fn a_cursor_needs_its_key_within_the_database_range() {
        let parse = |json: &str| serde_json::from_str::<After>(json).unwrap();
        assert!(
            parse(r#"{"sort":"newest","sku":"A","listed_at":"2026-12-01T00:00:00Z"}"#).is_valid()
        );
        assert!(
            !parse(r#"{"sort":"newest","sku":"A","listed_at":"-100000-01-01T00:00:00Z"}"#)
                .is_valid()
        );
        assert!(
            !parse(r#"{"sort":"newest","sku":"A","listed_at":"+20000-01-01T00:00:00Z"}"#)
                .is_valid()
        );
        assert!(!parse(r#"{"sort":"newest","sku":"A","price":5}"#).is_valid());
        assert!(parse(r#"{"sort":"price_asc","sku":"A","price":5}"#).is_valid());
    }

    #[test]
    fn price_buckets_cover_every_price_once() {
        let buckets: Vec<PriceBucket> = (0..=PRICE_EDGES.len())
            .map(|bucket| PriceBucket::from(BucketRow { bucket, count: 0 }))
            .collect();
        assert_eq!(buckets[0].min, 0);
        assert_eq!(buckets.last().unwrap().max, None);
        for pair in buckets.windows(2) {
            assert_eq!(pair[0].max, Some(pair[1].min - 1));
        }
    }
}
