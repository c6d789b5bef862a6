//! The catalog search index in memory: what each API process searches, kept in step with the
//! catalog read model.
//!
//! PostgreSQL does the language work: each product's weighted document (`search_document`,
//! stemmed in the catalog's language) is computed there, and each query goes through
//! `websearch_to_tsquery` and the typo correction there (one short statement; a second one
//! when a word was corrected). What
//! costs the database most is everything after: visiting every match to check it, rank it and
//! count it in three facets, a cost that grows with the number of matches. That part runs here,
//! on an inverted index of the documents' lexemes:
//!
//! - **Matching.** Each lexeme has the sorted list of the products whose document holds it; a
//!   query's operands become bit sets over the products, combined by its operators; a prefix
//!   (`'bott':*`) is the union of the lexemes it begins; a phrase (`<->`, `<N>`) keeps the
//!   products where the positions line up.
//! - **Filters and facets** read a few fields per match from a flat array: one pass counts the
//!   total and every facet, with the same rules as the SQL search (see [`super`]).
//! - **Ranking** scores each lexeme of a product once, when it is indexed, from its positions'
//!   weights: `A` 1.0, `B` 0.4, `C` 0.2, `D` 0.1 (PostgreSQL's default weights), the best
//!   position fully and each further one less (the `n`th counts `1/n²`). A product's rank is
//!   the sum over the query's terms of the best score among the lexemes each covers (a prefix
//!   covers several). Only the page's candidates are sorted.
//! - **Pages** come back as SKUs and sort keys; the products themselves are then read from
//!   the read model by SKU.
//!
//! **Following the read model.** A trigger stamps each `catalog_products` row with the id of
//! the transaction that last wrote it (`search_xid`, migration `0020`). A refresh, in one
//! repeatable-read snapshot, reads the rows stamped at or after the previous snapshot's oldest
//! running transaction (`pg_snapshot_xmin`), so a transaction still running then is read once
//! it has committed; rows read twice are applied twice, harmlessly. Categories and sellers
//! (small tables) are read again whenever their row count or the sum of their row versions
//! changes. A
//! rebuild switches in a new `catalog_products` table: the index sees another table and loads
//! it whole, off to the side, then swaps. [`SearchIndex::refresh_after`] runs a refresh that
//! began after a given moment, which read-your-writes searches use once the read model has
//! caught up, so they see their own writes.
//!
//! A query the index cannot evaluate exactly (a phrase over a group, such as
//! `'a' <-> ('b' | 'c')`, which `websearch_to_tsquery` does not write) answers `None`, and the
//! caller asks PostgreSQL instead ([`super::search`]).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering as Atomic};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::tsquery::{self, Node, ALL_WEIGHTS};
use super::{
    BucketRow, CategoryCount, Facets, PageKey, Search, SearchPage, SellerCount, SortOrder,
    PRICE_EDGES,
};

/// Weight of a position by its label, D, C, B, A (PostgreSQL's default `ts_rank` weights).
const WEIGHTS: [f64; 4] = [0.1, 0.2, 0.4, 1.0];

/// The catalog's search index, shared by every request of a process. See the module
/// documentation.
pub struct SearchIndex {
    index: RwLock<Index>,
    /// Serializes refreshes; holds where the last one stopped.
    tracker: tokio::sync::Mutex<Tracker>,
    /// Refreshes begun, and the number of the last one completed.
    begun: AtomicU64,
    completed: AtomicU64,
}

/// Where the index stands against the database.
#[derive(Default)]
struct Tracker {
    /// The `catalog_products` table loaded (its OID; another after a rebuild's switch).
    table: Option<i64>,
    /// The oldest transaction running at the last refresh's snapshot.
    watermark: i64,
    /// Row count and sum of row versions (`xmin`) of `catalog_categories` and of `sellers`:
    /// an insert or delete changes the count, an update replaces a row version by a newer
    /// one and so changes the sum (a maximum would miss an update once transaction ids wrap).
    categories: String,
    sellers: String,
}

/// Figures of the index, for logs and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexStats {
    /// Products on sale in the index.
    pub products: usize,
    /// Distinct lexemes.
    pub lexemes: usize,
    /// Product-lexeme pairs.
    pub postings: usize,
    /// Approximate heap bytes held.
    pub bytes: usize,
}

impl SearchIndex {
    /// Loads the whole catalog read model.
    pub async fn load(pool: &PgPool) -> Result<SearchIndex, sqlx::Error> {
        let index = SearchIndex {
            index: RwLock::new(Index::default()),
            tracker: tokio::sync::Mutex::new(Tracker::default()),
            begun: AtomicU64::new(0),
            completed: AtomicU64::new(0),
        };
        index.refresh(pool).await?;
        Ok(index)
    }

    /// Applies what changed in the read model since the last refresh.
    pub async fn refresh(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let mut tracker = self.tracker.lock().await;
        let number = self.begun.fetch_add(1, Atomic::SeqCst) + 1;
        self.refresh_locked(pool, &mut tracker).await?;
        self.completed.store(number, Atomic::SeqCst);
        Ok(())
    }

    /// Makes sure a refresh that began after this call has completed: its snapshot then holds
    /// everything committed before the call (read-your-writes).
    pub async fn refresh_after(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let seen = self.begun.load(Atomic::SeqCst);
        let mut tracker = self.tracker.lock().await;
        if self.completed.load(Atomic::SeqCst) > seen {
            return Ok(());
        }
        let number = self.begun.fetch_add(1, Atomic::SeqCst) + 1;
        self.refresh_locked(pool, &mut tracker).await?;
        self.completed.store(number, Atomic::SeqCst);
        Ok(())
    }

    /// Refreshes every `every` until `stop`; a failed refresh is logged and tried again.
    pub async fn follow(&self, pool: &PgPool, every: Duration, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            if let Err(e) = self.refresh(pool).await {
                tracing::warn!(error = %e, "search index refresh failed");
            }
        }
    }

    /// Figures of the index as it stands.
    pub fn stats(&self) -> IndexStats {
        self.read().stats()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        // A panic while applying rows would leave a half-applied index: a refresh that panics
        // takes the process down with it, so a poisoned lock is only ever seen while dying.
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }

    async fn refresh_locked(
        &self,
        pool: &PgPool,
        tracker: &mut Tracker,
    ) -> Result<(), sqlx::Error> {
        let started = Instant::now();
        let mut tx = pool
            .begin_with("begin isolation level repeatable read read only")
            .await?;
        let (table, watermark, categories, sellers): (i64, i64, String, String) = sqlx::query_as(
            "select 'catalog_products'::regclass::oid::int8,
                    pg_snapshot_xmin(pg_current_snapshot())::text::int8,
                    (select count(*) || '/' || coalesce(sum(xmin::text::int8), 0)
                       from catalog_categories),
                    (select count(*) || '/' || coalesce(sum(xmin::text::int8), 0) from sellers)",
        )
        .fetch_one(&mut *tx)
        .await?;
        let whole = tracker.table != Some(table);
        let rows: Vec<Row> = if whole {
            sqlx::query_as(SELECT_ROWS).fetch_all(&mut *tx).await?
        } else {
            sqlx::query_as(&format!(
                "{SELECT_ROWS} where p.search_xid >= $1::text::xid8"
            ))
            .bind(tracker.watermark.to_string())
            .fetch_all(&mut *tx)
            .await?
        };
        let categories_changed = whole || tracker.categories != categories;
        let category_rows: Vec<CategoryRow> = if categories_changed {
            sqlx::query_as("select slug, name, path from catalog_categories")
                .fetch_all(&mut *tx)
                .await?
        } else {
            Vec::new()
        };
        let sellers_changed = whole || tracker.sellers != sellers;
        let seller_rows: Vec<SellerRow> = if sellers_changed {
            sqlx::query_as(
                "select account_id, store_name, status = 'suspended' as suspended from sellers",
            )
            .fetch_all(&mut *tx)
            .await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        let changed = rows.len();
        if whole {
            // Built off to the side: searches go on against the old index meanwhile.
            let mut fresh = Index::default();
            fresh.set_categories(category_rows);
            fresh.set_sellers(seller_rows);
            for row in rows {
                fresh.upsert(row);
            }
            *self.write() = fresh;
            tracing::info!(products = changed, elapsed = ?started.elapsed(), "search index loaded");
        } else if changed > 0 || categories_changed || sellers_changed {
            let mut index = self.write();
            if categories_changed {
                index.set_categories(category_rows);
            }
            if sellers_changed {
                index.set_sellers(seller_rows);
            }
            for row in rows {
                index.upsert(row);
            }
        }
        *tracker = Tracker {
            table: Some(table),
            watermark,
            categories,
            sellers,
        };
        Ok(())
    }

    /// Runs a search; `None` when the index cannot evaluate its query exactly (the caller then
    /// asks PostgreSQL). The page's products are read from the read model by SKU.
    pub async fn search(
        &self,
        pool: &PgPool,
        s: &Search,
    ) -> Result<Option<SearchPage>, sqlx::Error> {
        let (prepared, text) = match s.text.as_deref() {
            None => (None, Text::Any),
            Some(typed) => {
                let prepared = super::prepare(pool, typed).await?;
                let printed = match &prepared.query {
                    Some(query) => query.clone(),
                    None => {
                        // Corrected: the corrected text's query.
                        sqlx::query_scalar(
                            "select websearch_to_tsquery(language, unaccent($1))::text
                             from catalog_settings",
                        )
                        .bind(&prepared.text)
                        .fetch_one(pool)
                        .await?
                    }
                };
                // The word being typed is the query's last operand: a prefix, as in SQL.
                let printed = if prepared.partial && printed.ends_with('\'') {
                    printed + ":*"
                } else {
                    printed
                };
                let text = match tsquery::parse(&printed) {
                    Ok(Some(node)) => Text::Query(node),
                    Ok(None) => Text::Nothing,
                    Err(e) => {
                        tracing::warn!(%printed, error = %e, "a tsquery the index cannot read");
                        return Ok(None);
                    }
                };
                (Some(prepared), text)
            }
        };
        let Some(found) = self.read().find(s, &text) else {
            return Ok(None);
        };
        let page = super::assemble(pool, s, prepared, found).await?;
        Ok(Some(page))
    }
}

/// The columns the index keeps, of every product (on sale or not: one that left the
/// catalog leaves the index).
const SELECT_ROWS: &str = "select p.sku, p.category, p.price_minor, p.seller_id, p.created_at,
       p.available, p.sold, p.rating_average, p.rating_count,
       p.published and p.archived_at is null as on_sale, p.search_document::text as document
     from catalog_products p";

#[derive(sqlx::FromRow)]
struct Row {
    sku: String,
    category: String,
    price_minor: i64,
    seller_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    available: i64,
    sold: i64,
    rating_average: Option<f64>,
    rating_count: i64,
    on_sale: bool,
    document: String,
}

#[derive(sqlx::FromRow)]
struct CategoryRow {
    slug: String,
    name: String,
    path: String,
}

#[derive(sqlx::FromRow)]
struct SellerRow {
    account_id: Uuid,
    store_name: String,
    suspended: bool,
}

/// What a search's text asks for.
enum Text {
    /// No text: every product.
    Any,
    /// Only stop words: nothing.
    Nothing,
    /// A query.
    Query(Node),
}

/// What the index answers: the total, the facets and the page's keys (one more than the
/// page, when there is more).
pub(super) struct Found {
    pub total: i64,
    pub facets: Facets,
    pub keys: Vec<PageKey>,
}

/// A fixed-size bit set over document ids.
#[derive(Clone)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(len: usize) -> Bits {
        Bits(vec![0; len.div_ceil(64)])
    }

    fn grow(&mut self, len: usize) {
        self.0.resize(len.div_ceil(64).max(self.0.len()), 0);
    }

    fn set(&mut self, i: u32) {
        self.0[i as usize / 64] |= 1 << (i % 64);
    }

    fn unset(&mut self, i: u32) {
        self.0[i as usize / 64] &= !(1 << (i % 64));
    }

    fn and(&mut self, other: &Bits) {
        self.0.iter_mut().zip(&other.0).for_each(|(a, b)| *a &= b);
    }

    fn or(&mut self, other: &Bits) {
        self.0.iter_mut().zip(&other.0).for_each(|(a, b)| *a |= b);
    }

    fn and_not(&mut self, other: &Bits) {
        self.0.iter_mut().zip(&other.0).for_each(|(a, b)| *a &= !b);
    }

    fn ones(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.trailing_zeros();
                rest &= rest - 1;
                Some((w * 64) as u32 + bit)
            })
        })
    }
}

/// One product on sale.
#[derive(Default)]
struct Doc {
    sku: Box<str>,
    /// The SKU's first bytes, to compare most SKUs without reading them.
    sku_prefix: u64,
    category: u32,
    seller: u32,
    price: i64,
    created_at: DateTime<Utc>,
    available: i64,
    sold: i64,
    rating_average: Option<f64>,
    rating_count: i64,
    /// Its lexemes (ids), ascending.
    terms: Box<[u32]>,
    /// `positions[spans[i]..spans[i + 1]]` are those of `terms[i]`.
    spans: Box<[u32]>,
    /// Position << 2 | weight (0 = D ... 3 = A), as PostgreSQL keeps them.
    positions: Box<[u16]>,
}

impl Doc {
    fn positions_of(&self, term: u32) -> &[u16] {
        match self.terms.binary_search(&term) {
            Ok(i) => &self.positions[self.spans[i] as usize..self.spans[i + 1] as usize],
            Err(_) => &[],
        }
    }

    fn bytes(&self) -> usize {
        std::mem::size_of::<Doc>()
            + self.sku.len()
            + self.terms.len() * 4
            + self.spans.len() * 4
            + self.positions.len() * 2
    }
}

struct Category {
    slug: String,
    /// `None`: a slug products name that is no longer in the tree.
    name: Option<String>,
    path: Option<String>,
}

struct Seller {
    /// `None`: the shop's own products.
    id: Option<Uuid>,
    store_name: Option<String>,
    suspended: bool,
}

/// The index proper (see the module documentation).
struct Index {
    docs: Vec<Doc>,
    free: Vec<u32>,
    by_sku: HashMap<Box<str>, u32>,
    live: Bits,
    lexicon: BTreeMap<Box<str>, u32>,
    /// By lexeme id: the documents holding it, ascending, with the lexeme's score in each.
    postings: Vec<Vec<Posting>>,
    categories: Vec<Category>,
    category_ids: HashMap<String, u32>,
    /// Seller 0 is the shop itself.
    sellers: Vec<Seller>,
    seller_ids: HashMap<Uuid, u32>,
}

impl Default for Index {
    fn default() -> Self {
        Index {
            docs: Vec::new(),
            free: Vec::new(),
            by_sku: HashMap::new(),
            live: Bits::new(0),
            lexicon: BTreeMap::new(),
            postings: Vec::new(),
            categories: Vec::new(),
            category_ids: HashMap::new(),
            sellers: vec![Seller {
                id: None,
                store_name: None,
                suspended: false,
            }],
            seller_ids: HashMap::new(),
        }
    }
}

/// A document holding a lexeme, and the lexeme's [`score`] there (computed once, when the
/// document is indexed).
#[derive(Clone, Copy)]
struct Posting {
    doc: u32,
    score: f32,
}

/// A query with its lexemes resolved to ids.
enum Compiled {
    Term { ids: Vec<u32>, weights: u8 },
    And(Box<Compiled>, Box<Compiled>),
    Or(Box<Compiled>, Box<Compiled>),
    Not(Box<Compiled>),
    Phrase(Box<Compiled>, Box<Compiled>, u16),
}

/// A candidate's sort key.
///
/// Everything an order compares is copied in, so sorting reads no document but for SKUs that
/// share their first eight bytes.
#[derive(Clone, Copy)]
struct Key {
    /// The document; [`CURSOR`] for a page's boundary.
    doc: u32,
    /// Relevance, or average rating (0 without), by the order.
    first: f64,
    /// Price, listing time (microseconds), rating count or units sold, by the order.
    second: i64,
    sku_prefix: u64,
}

/// The document id of a cursor's key.
const CURSOR: u32 = u32::MAX;

impl Key {
    fn of(doc_id: u32, doc: &Doc, sort: SortOrder, rank: f64) -> Key {
        let (first, second) = match sort {
            SortOrder::Relevance => (rank, 0),
            SortOrder::PriceAsc | SortOrder::PriceDesc => (0.0, doc.price),
            SortOrder::Newest => (0.0, doc.created_at.timestamp_micros()),
            SortOrder::Rating => (doc.rating_average.unwrap_or(0.0), doc.rating_count),
            SortOrder::BestSelling => (0.0, doc.sold),
        };
        Key {
            doc: doc_id,
            first,
            second,
            sku_prefix: doc.sku_prefix,
        }
    }

    fn of_cursor(after: &super::After) -> Key {
        let (first, second) = match after.sort {
            SortOrder::Relevance => (after.rank.unwrap_or_default(), 0),
            SortOrder::PriceAsc | SortOrder::PriceDesc => (0.0, after.price.unwrap_or_default()),
            SortOrder::Newest => (0.0, after.listed_at.unwrap_or_default().timestamp_micros()),
            SortOrder::Rating => after.rating.unwrap_or_default(),
            SortOrder::BestSelling => (0.0, after.sold.unwrap_or_default()),
        };
        Key {
            doc: CURSOR,
            first,
            second,
            sku_prefix: prefix(&after.sku),
        }
    }

    /// Whether `self` comes before (`Less`) or after `other` in `sort`, ties broken by SKU
    /// (`sku` gives a key's SKU).
    fn order<'a>(&self, other: &Key, sort: SortOrder, sku: impl Fn(&Key) -> &'a str) -> Ordering {
        let (a, b) = (self, other);
        let first = match sort {
            SortOrder::Relevance => b.first.total_cmp(&a.first),
            SortOrder::PriceAsc => a.second.cmp(&b.second),
            SortOrder::PriceDesc | SortOrder::Newest | SortOrder::BestSelling => {
                b.second.cmp(&a.second)
            }
            SortOrder::Rating => b.first.total_cmp(&a.first).then(b.second.cmp(&a.second)),
        };
        first
            .then(a.sku_prefix.cmp(&b.sku_prefix))
            .then_with(|| sku(a).cmp(sku(b)))
    }
}

impl Index {
    fn stats(&self) -> IndexStats {
        let postings: usize = self.postings.iter().map(Vec::len).sum();
        let bytes = self.docs.iter().map(Doc::bytes).sum::<usize>()
            + self
                .postings
                .iter()
                .map(|p| p.capacity() * std::mem::size_of::<Posting>() + 24)
                .sum::<usize>()
            + self.lexicon.keys().map(|k| k.len() + 48).sum::<usize>()
            + self.by_sku.keys().map(|k| k.len() + 32).sum::<usize>()
            + self.live.0.len() * 8;
        IndexStats {
            products: self.by_sku.len(),
            lexemes: self.lexicon.len(),
            postings,
            bytes,
        }
    }

    fn category_id(&mut self, slug: &str) -> u32 {
        if let Some(&id) = self.category_ids.get(slug) {
            return id;
        }
        let id = self.categories.len() as u32;
        self.categories.push(Category {
            slug: slug.to_owned(),
            name: None,
            path: None,
        });
        self.category_ids.insert(slug.to_owned(), id);
        id
    }

    fn seller_id(&mut self, seller: Option<Uuid>) -> u32 {
        let Some(uuid) = seller else { return 0 };
        if let Some(&id) = self.seller_ids.get(&uuid) {
            return id;
        }
        let id = self.sellers.len() as u32;
        self.sellers.push(Seller {
            id: Some(uuid),
            store_name: None,
            suspended: false,
        });
        self.seller_ids.insert(uuid, id);
        id
    }

    fn set_categories(&mut self, rows: Vec<CategoryRow>) {
        for c in &mut self.categories {
            c.name = None;
            c.path = None;
        }
        for row in rows {
            let id = self.category_id(&row.slug) as usize;
            self.categories[id].name = Some(row.name);
            self.categories[id].path = Some(row.path);
        }
    }

    fn set_sellers(&mut self, rows: Vec<SellerRow>) {
        for s in self.sellers.iter_mut().skip(1) {
            s.store_name = None;
            s.suspended = false;
        }
        for row in rows {
            let id = self.seller_id(Some(row.account_id)) as usize;
            self.sellers[id].store_name = Some(row.store_name);
            self.sellers[id].suspended = row.suspended;
        }
    }

    fn lexeme_id(&mut self, lexeme: &str) -> u32 {
        if let Some(&id) = self.lexicon.get(lexeme) {
            return id;
        }
        let id = self.postings.len() as u32;
        self.postings.push(Vec::new());
        self.lexicon.insert(lexeme.into(), id);
        id
    }

    fn remove(&mut self, sku: &str) {
        let Some(id) = self.by_sku.remove(sku) else {
            return;
        };
        let doc = std::mem::take(&mut self.docs[id as usize]);
        for term in doc.terms.iter() {
            let list = &mut self.postings[*term as usize];
            if let Ok(at) = list.binary_search_by_key(&id, |p| p.doc) {
                list.remove(at);
            }
        }
        self.live.unset(id);
        self.free.push(id);
    }

    /// Puts a product's row in the index (or takes it out, when it is not on sale).
    fn upsert(&mut self, row: Row) {
        self.remove(&row.sku);
        if !row.on_sale {
            return;
        }
        let mut entries: Vec<(u32, Vec<u16>)> = read_tsvector(&row.document)
            .into_iter()
            .map(|(lexeme, positions)| (self.lexeme_id(&lexeme), positions))
            .collect();
        entries.sort_unstable_by_key(|(term, _)| *term);
        entries.dedup_by_key(|(term, _)| *term);
        let mut spans = Vec::with_capacity(entries.len() + 1);
        let mut positions = Vec::new();
        spans.push(0u32);
        for (_, p) in &entries {
            positions.extend_from_slice(p);
            spans.push(positions.len() as u32);
        }
        let terms: Box<[u32]> = entries.iter().map(|(t, _)| *t).collect();
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.docs.push(Doc::default());
                let id = (self.docs.len() - 1) as u32;
                self.live.grow(self.docs.len());
                id
            }
        };
        for (term, (_, p)) in terms.iter().zip(&entries) {
            let posting = Posting {
                doc: id,
                score: score(p.iter().copied()) as f32,
            };
            let list = &mut self.postings[*term as usize];
            // Ids come in ascending order while loading: appending is the common case.
            match list.last() {
                Some(last) if last.doc > id => {
                    let at = list
                        .binary_search_by_key(&id, |p| p.doc)
                        .unwrap_or_else(|at| at);
                    list.insert(at, posting);
                }
                _ => list.push(posting),
            }
        }
        let category = self.category_id(&row.category);
        let seller = self.seller_id(row.seller_id);
        self.docs[id as usize] = Doc {
            sku: row.sku.as_str().into(),
            sku_prefix: prefix(&row.sku),
            category,
            seller,
            price: row.price_minor,
            created_at: row.created_at,
            available: row.available,
            sold: row.sold,
            rating_average: row.rating_average,
            rating_count: row.rating_count,
            terms,
            spans: spans.into(),
            positions: positions.into(),
        };
        self.live.set(id);
        self.by_sku.insert(row.sku.into(), id);
    }

    /// Resolves lexemes to ids; `None` for a shape evaluated only by PostgreSQL.
    fn compile(&self, node: &Node) -> Option<Compiled> {
        Some(match node {
            Node::Term {
                lexeme,
                prefix,
                weights,
            } => {
                let ids = if *prefix {
                    self.lexicon
                        .range::<str, _>((Bound::Included(lexeme.as_str()), Bound::Unbounded))
                        .take_while(|(l, _)| l.starts_with(lexeme.as_str()))
                        .map(|(_, id)| *id)
                        .collect()
                } else {
                    self.lexicon
                        .get(lexeme.as_str())
                        .copied()
                        .into_iter()
                        .collect()
                };
                Compiled::Term {
                    ids,
                    weights: *weights,
                }
            }
            Node::And(a, b) => {
                Compiled::And(Box::new(self.compile(a)?), Box::new(self.compile(b)?))
            }
            Node::Or(a, b) => Compiled::Or(Box::new(self.compile(a)?), Box::new(self.compile(b)?)),
            Node::Not(a) => Compiled::Not(Box::new(self.compile(a)?)),
            Node::Phrase(a, b, distance) => {
                // A chain of terms, as websearch_to_tsquery writes phrases.
                let chain = matches!(**a, Node::Term { .. } | Node::Phrase(..))
                    && matches!(**b, Node::Term { .. });
                if !chain {
                    return None;
                }
                Compiled::Phrase(
                    Box::new(self.compile(a)?),
                    Box::new(self.compile(b)?),
                    *distance,
                )
            }
        })
    }

    /// The documents matching `q`, exactly.
    fn eval(&self, q: &Compiled) -> Bits {
        let len = self.docs.len();
        match q {
            Compiled::Term { ids, weights } => {
                let mut bits = Bits::new(len);
                for id in ids {
                    for posting in &self.postings[*id as usize] {
                        bits.set(posting.doc);
                    }
                }
                if *weights != ALL_WEIGHTS {
                    let keep: Vec<u32> = bits
                        .ones()
                        .filter(|d| !self.positions(*d, q).is_empty())
                        .collect();
                    bits = Bits::new(len);
                    keep.into_iter().for_each(|d| bits.set(d));
                }
                bits
            }
            Compiled::And(a, b) => {
                let mut bits = self.eval(a);
                bits.and(&self.eval(b));
                bits
            }
            Compiled::Or(a, b) => {
                let mut bits = self.eval(a);
                bits.or(&self.eval(b));
                bits
            }
            Compiled::Not(a) => {
                let mut bits = self.live.clone();
                bits.and_not(&self.eval(a));
                bits
            }
            Compiled::Phrase(a, b, _) => {
                // Both parts present, then the positions checked.
                let mut candidates = self.eval(a);
                candidates.and(&self.eval(b));
                let mut bits = Bits::new(len);
                for d in candidates.ones() {
                    if !self.positions(d, q).is_empty() {
                        bits.set(d);
                    }
                }
                bits
            }
        }
    }

    /// Where `q` (a term or a phrase of terms) matches in document `d`: for a phrase, the
    /// positions of its last term. Ascending, without weights.
    fn positions(&self, d: u32, q: &Compiled) -> Vec<u16> {
        let doc = &self.docs[d as usize];
        match q {
            Compiled::Term { ids, weights } => {
                let mut found: Vec<u16> = ids
                    .iter()
                    .flat_map(|id| doc.positions_of(*id))
                    .filter(|p| weights & (1 << (*p & 3)) != 0)
                    .map(|p| p >> 2)
                    .collect();
                found.sort_unstable();
                found.dedup();
                found
            }
            Compiled::Phrase(a, b, distance) => {
                let left = self.positions(d, a);
                self.positions(d, b)
                    .into_iter()
                    .filter(|p| {
                        p.checked_sub(*distance)
                            .is_some_and(|at| left.binary_search(&at).is_ok())
                    })
                    .collect()
            }
            // compile() lets only terms and phrases of terms into phrases.
            _ => Vec::new(),
        }
    }

    /// Every term a match may hold (not under a `!`), for ranking.
    fn positive_terms<'q>(q: &'q Compiled, negated: bool, out: &mut Vec<(&'q [u32], u8)>) {
        match q {
            Compiled::Term { ids, weights } => {
                if !negated {
                    out.push((ids, *weights));
                }
            }
            Compiled::And(a, b) | Compiled::Or(a, b) | Compiled::Phrase(a, b, _) => {
                Self::positive_terms(a, negated, out);
                Self::positive_terms(b, negated, out);
            }
            Compiled::Not(a) => Self::positive_terms(a, !negated, out),
        }
    }

    /// Every document's relevance to the terms (see the module documentation), by document id:
    /// for each term, the best score among the lexemes it covers, summed. Read from the
    /// postings, which hold the scores.
    fn ranks(&self, terms: &[(&[u32], u8)]) -> Vec<f32> {
        let len = self.docs.len();
        let mut ranks = vec![0f32; len];
        let mut best = Vec::new();
        for (ids, allowed) in terms {
            match ids {
                [id] if *allowed == ALL_WEIGHTS => {
                    for p in &self.postings[*id as usize] {
                        ranks[p.doc as usize] += p.score;
                    }
                }
                _ => {
                    best.clear();
                    best.resize(len, 0f32);
                    for id in *ids {
                        for p in &self.postings[*id as usize] {
                            let score = if *allowed == ALL_WEIGHTS {
                                p.score
                            } else {
                                // Only positions of the weights asked for (not written by
                                // websearch_to_tsquery): scored here.
                                let positions = self.docs[p.doc as usize].positions_of(*id);
                                score(
                                    positions
                                        .iter()
                                        .copied()
                                        .filter(|q| allowed & (1 << (q & 3)) != 0),
                                ) as f32
                            };
                            let at = &mut best[p.doc as usize];
                            *at = at.max(score);
                        }
                    }
                    ranks.iter_mut().zip(&best).for_each(|(r, b)| *r += b);
                }
            }
        }
        ranks
    }

    /// The search over the index; `None` for a query only PostgreSQL evaluates.
    fn find(&self, s: &Search, text: &Text) -> Option<Found> {
        let compiled = match text {
            Text::Query(node) => Some(self.compile(node)?),
            _ => None,
        };
        let matches = match (&compiled, text) {
            (Some(q), _) => {
                let mut bits = self.eval(q);
                bits.and(&self.live);
                bits
            }
            (None, Text::Nothing) => Bits::new(self.docs.len()),
            (None, _) => self.live.clone(),
        };
        // The category and every one below it.
        let within: Option<Vec<bool>> = s.category.as_deref().map(|slug| {
            let root = self
                .category_ids
                .get(slug)
                .and_then(|id| self.categories[*id as usize].path.as_deref());
            self.categories
                .iter()
                .map(|c| match (root, c.path.as_deref()) {
                    (Some(root), Some(path)) => {
                        path == root
                            || path
                                .strip_prefix(root)
                                .is_some_and(|rest| rest.starts_with('/'))
                    }
                    _ => false,
                })
                .collect()
        });
        let wanted_seller = s.seller.map(|uuid| self.seller_ids.get(&uuid).copied());
        let mut total = 0i64;
        let mut by_category = vec![0i64; self.categories.len()];
        let mut by_bucket = vec![0i64; PRICE_EDGES.len() + 1];
        let mut by_seller = vec![0i64; self.sellers.len()];
        let mut candidates: Vec<u32> = Vec::new();
        for d in matches.ones() {
            let doc = &self.docs[d as usize];
            if self.sellers[doc.seller as usize].suspended
                || within.as_ref().is_some_and(|w| !w[doc.category as usize])
                || (s.in_stock && doc.available <= 0)
                || s.min_rating
                    .is_some_and(|r| !doc.rating_average.is_some_and(|a| a >= r))
            {
                continue;
            }
            let price_ok = s.price_min.is_none_or(|min| doc.price >= min)
                && s.price_max.is_none_or(|max| doc.price <= max);
            let seller_ok = match wanted_seller {
                None => true,
                Some(wanted) => wanted == Some(doc.seller),
            };
            if price_ok && seller_ok {
                total += 1;
                by_category[doc.category as usize] += 1;
                candidates.push(d);
            }
            if seller_ok {
                by_bucket[PRICE_EDGES.partition_point(|edge| *edge <= doc.price)] += 1;
            }
            if price_ok {
                by_seller[doc.seller as usize] += 1;
            }
        }

        // The page: ranked only when relevance orders it.
        let ranked = compiled.is_some() && s.sort == SortOrder::Relevance;
        let ranks = match &compiled {
            Some(q) if ranked => {
                let mut terms = Vec::new();
                Self::positive_terms(q, false, &mut terms);
                self.ranks(&terms)
            }
            _ => Vec::new(),
        };
        let mut keys: Vec<Key> = candidates
            .into_iter()
            .map(|d| {
                let rank = ranks.get(d as usize).map_or(0.0, |r| f64::from(*r));
                Key::of(d, &self.docs[d as usize], s.sort, rank)
            })
            .collect();
        let cursor = s.after.as_ref().map(Key::of_cursor);
        let sku = |k: &Key| -> &str {
            match (k.doc, &s.after) {
                (CURSOR, Some(after)) => &after.sku,
                (doc, _) => &self.docs[doc as usize].sku,
            }
        };
        if let Some(cursor) = &cursor {
            keys.retain(|k| k.order(cursor, s.sort, sku) == Ordering::Greater);
        }
        let skip = if s.after.is_some() {
            0
        } else {
            s.offset as usize
        };
        let wanted = skip + s.limit as usize + 1;
        let compare = |a: &Key, b: &Key| a.order(b, s.sort, sku);
        if keys.len() > wanted {
            keys.select_nth_unstable_by(wanted - 1, compare);
            keys.truncate(wanted);
        }
        keys.sort_unstable_by(compare);
        let keys: Vec<PageKey> = keys
            .iter()
            .skip(skip)
            .map(|k| {
                let doc = &self.docs[k.doc as usize];
                PageKey {
                    sku: doc.sku.to_string(),
                    rank: if ranked { k.first } else { 0.0 },
                    price_minor: doc.price,
                    created_at: doc.created_at,
                    rating: doc.rating_average.unwrap_or(0.0),
                    rating_count: doc.rating_count,
                    sold: doc.sold,
                }
            })
            .collect();

        let mut categories: Vec<CategoryCount> = by_category
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(id, n)| CategoryCount {
                slug: self.categories[id].slug.clone(),
                name: self.categories[id].name.clone(),
                count: *n,
            })
            .collect();
        categories.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.slug.cmp(&b.slug)));
        let prices = by_bucket
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(bucket, n)| BucketRow { bucket, count: *n }.into())
            .collect();
        let mut sellers: Vec<SellerCount> = by_seller
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(id, n)| SellerCount {
                seller_id: self.sellers[id].id,
                store_name: self.sellers[id].store_name.clone(),
                count: *n,
            })
            .collect();
        // As PostgreSQL orders them: most first, then by seller, the shop's own (null) last.
        sellers.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| match (a.seller_id, b.seller_id) {
                    (Some(x), Some(y)) => x.cmp(&y),
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => Ordering::Equal,
                })
        });
        Some(Found {
            total,
            facets: Facets {
                categories,
                prices,
                sellers,
            },
            keys,
        })
    }
}

/// The first eight bytes of a SKU, zero-padded, big-endian: two SKUs whose prefixes differ
/// compare as the prefixes do.
fn prefix(sku: &str) -> u64 {
    let mut bytes = [0u8; 8];
    let n = sku.len().min(8);
    bytes[..n].copy_from_slice(&sku.as_bytes()[..n]);
    u64::from_be_bytes(bytes)
}

/// A lexeme's score in a document from its positions: their weights, highest first, the `n`th
/// counting `1/n²`.
fn score(positions: impl Iterator<Item = u16>) -> f64 {
    let mut weights: Vec<f64> = positions.map(|p| WEIGHTS[(p & 3) as usize]).collect();
    weights.sort_unstable_by(|a, b| b.total_cmp(a));
    weights
        .iter()
        .enumerate()
        .map(|(n, w)| w / ((n + 1) * (n + 1)) as f64)
        .sum()
}

/// Reads `tsvector::text`: `'lexeme':1A,5 'other':3` (a weight letter after a position, none
/// for D; a lexeme without positions has none listed).
fn read_tsvector(text: &str) -> Vec<(String, Vec<u16>)> {
    let s = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'\'' {
            i += 1;
            continue;
        }
        i += 1;
        let mut lexeme = Vec::new();
        while i < s.len() {
            match s[i] {
                b'\'' if s.get(i + 1) == Some(&b'\'') => {
                    lexeme.push(b'\'');
                    i += 2;
                }
                b'\'' => {
                    i += 1;
                    break;
                }
                b'\\' if i + 1 < s.len() => {
                    lexeme.push(s[i + 1]);
                    i += 2;
                }
                b => {
                    lexeme.push(b);
                    i += 1;
                }
            }
        }
        let mut positions = Vec::new();
        if s.get(i) == Some(&b':') {
            i += 1;
            loop {
                let start = i;
                while s.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                let position: u16 = std::str::from_utf8(&s[start..i])
                    .ok()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                let weight = match s.get(i) {
                    Some(b'A') => 3,
                    Some(b'B') => 2,
                    Some(b'C') => 1,
                    _ => 0,
                };
                if matches!(s.get(i), Some(b'A' | b'B' | b'C' | b'D')) {
                    i += 1;
                }
                positions.push(position << 2 | weight);
                if s.get(i) == Some(&b',') {
                    i += 1;
                } else {
                    break;
                }
            }
        }
        out.push((String::from_utf8_lossy(&lexeme).into_owned(), positions));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tsvector_text() {
        assert_eq!(
            read_tsvector("'bottl':3A,9C 'o''neil':4 'steel':2A,7B 'x'"),
            vec![
                ("bottl".to_owned(), vec![3 << 2 | 3, 9 << 2 | 1]),
                ("o'neil".to_owned(), vec![4 << 2]),
                ("steel".to_owned(), vec![2 << 2 | 3, 7 << 2 | 2]),
                ("x".to_owned(), vec![]),
            ]
        );
        assert!(read_tsvector("").is_empty());
    }

    #[test]
    fn sku_prefixes_order_as_the_skus_do() {
        let skus = [
            "",
            "A",
            "A-1",
            "AB",
            "ABCDEFGH",
            "ABCDEFGH-2",
            "ABCDEFGI",
            "B",
            "P-000010",
        ];
        for a in skus {
            for b in skus {
                let by_prefix = prefix(a).cmp(&prefix(b)).then_with(|| a.cmp(b));
                assert_eq!(by_prefix, a.cmp(b), "{a} {b}");
            }
        }
    }

    #[test]
    fn bit_sets_combine_and_list_their_members() {
        let mut a = Bits::new(200);
        [1, 64, 130, 199].into_iter().for_each(|i| a.set(i));
        let mut b = Bits::new(200);
        [64, 199, 5].into_iter().for_each(|i| b.set(i));
        let mut and = a.clone();
        and.and(&b);
        assert_eq!(and.ones().collect::<Vec<_>>(), [64, 199]);
        let mut or = a.clone();
        or.or(&b);
        assert_eq!(or.ones().collect::<Vec<_>>(), [1, 5, 64, 130, 199]);
        a.and_not(&b);
        assert_eq!(a.ones().collect::<Vec<_>>(), [1, 130]);
        a.unset(1);
        assert_eq!(a.ones().collect::<Vec<_>>(), [130]);
    }
}
