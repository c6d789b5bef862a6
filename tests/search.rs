//! Catalog search over HTTP, on real PostgreSQL: relevance (name before specification before
//! description), stemming, `websearch` syntax, prefixes while typing, typo correction and
//! accents; filters and sort orders; facet counts that equal plain counts; keyset pages that
//! list everything once; and clear errors for bad parameters.
//!
//! Part of the `journey` test binary (one binary, one link).

use std::collections::{BTreeMap, HashSet};

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{Api, EngineEnv, Process, Staff, TestDatabase};

/// Specification lines: (name, value).
type Specs = &'static [(&'static str, &'static str)];

/// (sku, name, description, category, price, specifications, listed by the seller).
const CATALOG: &[(&str, &str, &str, &str, i64, Specs, bool)] = &[
    (
        "BOTTLE-STEEL",
        "Stainless steel water bottle",
        "Keeps drinks cold for a day.",
        "kitchen",
        2500,
        &[("Material", "Stainless steel"), ("Capacity", "750 ml")],
        true,
    ),
    (
        "BOTTLE-GLASS",
        "Glass water bottle",
        "Borosilicate glass with a bamboo lid.",
        "kitchen",
        1800,
        &[("Material", "Glass")],
        true,
    ),
    (
        "OPENER",
        "Bottle opener",
        "Opens crown caps.",
        "kitchen",
        500,
        &[],
        false,
    ),
    (
        "FLASK",
        "Hip flask",
        "Slim enough for a pocket, holds what a small bottle holds.",
        "lighting",
        1200,
        &[],
        false,
    ),
    (
        "KETTLE",
        "Electric kettle",
        "Boils a litre of water in two minutes.",
        "kitchen",
        3900,
        &[("Material", "Brushed steel")],
        false,
    ),
    (
        "TEAPOT",
        "Ceramic teapot",
        "Brews six cups.",
        "kitchen",
        2900,
        &[("Material", "Ceramic")],
        true,
    ),
    (
        "CUPS",
        "Café crème cups",
        "Two cups with saucers.",
        "kitchen",
        1500,
        &[],
        false,
    ),
    (
        "LAMP",
        "Brass desk lamp",
        "Warm light for reading.",
        "lighting",
        6400,
        &[("Bulb", "E27")],
        true,
    ),
];

struct Shop {
    _engine: Process,
    api: Api,
    staff: Staff,
    /// Every write so far is visible at this position.
    at: i64,
}

impl Shop {
    async fn open(env: &EngineEnv) -> Shop {
        // The search index reads the read model only when a search asks for `min_position`
        // (every search of these tests but the kept-answer checks), never on its own clock: a
        // search that sees a write saw it through read-your-writes.
        let env = env.clone().with("SEARCH_REFRESH_MS", "3600000");
        let mut engine = Process::start("up", &env);
        let api = Api::new(engine.base_url().await);
        let staff = Staff::hire(&api, &env).await;
        let mut at = 0;
        for (i, (sku, name, description, category, price, specs, by_seller)) in
            CATALOG.iter().enumerate()
        {
            let specifications: Vec<Value> = specs
                .iter()
                .map(|(n, v)| json!({"name": n, "value": v}))
                .collect();
            let body = json!({"sku": sku, "name": name, "description": description,
                "category": category, "specifications": specifications,
                "price": {"amount_minor": price, "currency": "EUR"}});
            let by = if *by_seller {
                &staff.seller
            } else {
                &staff.admin
            };
            let created = by.ok(Method::POST, "/products", Some(body)).await;
            at = created["global_position"].as_i64().unwrap();
            if *by_seller {
                at = staff.approve(sku).await["global_position"]
                    .as_i64()
                    .unwrap();
            }
            // Stock for all but the kettle; the first products get more.
            if *sku != "KETTLE" {
                let received = staff
                    .admin
                    .ok(
                        Method::POST,
                        &format!("/products/{sku}/stock"),
                        Some(json!({"quantity": 10 + i})),
                    )
                    .await;
                at = received["global_position"].as_i64().unwrap();
            }
        }
        Shop {
            _engine: engine,
            api,
            staff,
            at,
        }
    }

    /// `GET /products?<query>`, once every write so far is visible.
    async fn search(&self, query: &str) -> Value {
        let (status, body) = self
            .api
            .get(&format!("/products?{query}&min_position={}", self.at))
            .await;
        assert_eq!(status, 200, "{query}: {body}");
        body
    }

    async fn skus(&self, query: &str) -> Vec<String> {
        skus(&self.search(query).await)
    }

    async fn refused(&self, query: &str) -> (u16, Value) {
        self.api.get(&format!("/products?{query}")).await
    }
}

fn skus(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap().to_owned())
        .collect()
}

fn set(items: &[&str]) -> HashSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn q(text: &str) -> String {
    format!("q={}", urlencoding(text))
}

/// Percent-encodes every byte but ASCII letters and digits.
fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `base` with `key` set to `value` (replaced if `base` has it).
fn with(base: &[(&str, &str)], key: &str, value: &str) -> String {
    base.iter()
        .filter(|(k, _)| *k != key)
        .map(|(k, v)| format!("{k}={}", urlencoding(v)))
        .chain([format!("{key}={}", urlencoding(value))])
        .collect::<Vec<_>>()
        .join("&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_ranks_stems_completes_and_corrects() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let shop = Shop::open(&env).await;

    // Name matches first, a match in the description last; the kettle has no bottle.
    let bottle = shop.search(&q("bottle")).await;
    let found = skus(&bottle);
    assert_eq!(
        found.iter().map(String::as_str).collect::<HashSet<_>>(),
        ["BOTTLE-STEEL", "BOTTLE-GLASS", "OPENER", "FLASK"].into(),
        "{bottle}"
    );
    assert_eq!(found.last().map(String::as_str), Some("FLASK"), "{found:?}");
    assert_eq!(bottle["total"], 4);
    assert_eq!(
        bottle["query"],
        json!({"text": "bottle", "corrected": null})
    );
    // A specification counts more than a description: steel is in the steel bottle's name,
    // in the kettle's specification only.
    assert_eq!(shop.skus(&q("steel ")).await, ["BOTTLE-STEEL", "KETTLE"]);

    // Stemming: plural and singular are one word.
    assert_eq!(shop.skus(&q("bottles")).await.len(), 4);
    assert_eq!(shop.skus(&q("boils")).await, ["KETTLE"]);

    // websearch syntax: phrases, exclusions, or.
    assert_eq!(
        shop.skus(&q("\"water bottle\" -glass")).await,
        ["BOTTLE-STEEL"]
    );
    assert_eq!(
        shop.skus(&q("kettle or teapot"))
            .await
            .into_iter()
            .collect::<HashSet<_>>(),
        set(&["KETTLE", "TEAPOT"])
    );

    // As the shopper types, the last word is a prefix; after a space it is a word.
    assert_eq!(shop.skus(&q("stainless bot")).await, ["BOTTLE-STEEL"]);
    assert_eq!(shop.skus(&q("teap")).await, ["TEAPOT"]);

    // Typos are corrected to catalog words, and the answer says so.
    let typo = shop.search(&q("botle")).await;
    assert_eq!(typo["query"]["corrected"], "bottle", "{typo}");
    assert_eq!(skus(&typo), found, "the same results as the right word");
    let typo = shop.search(&q("electrc kettel")).await;
    assert_eq!(typo["query"]["corrected"], "electric kettle", "{typo}");
    assert_eq!(skus(&typo), ["KETTLE"]);
    // A known word is never "corrected", nor is a word being typed that starts a known one.
    assert_eq!(
        shop.search(&q("lamp")).await["query"]["corrected"],
        Value::Null
    );
    assert_eq!(
        shop.search(&q("bras")).await["query"]["corrected"],
        Value::Null
    );

    // Accents do not matter either way.
    assert_eq!(shop.skus(&q("cafe creme")).await, ["CUPS"]);
    assert_eq!(shop.skus(&q("céramic")).await, ["TEAPOT"]);

    // Nothing matches: an empty page, not an error.
    let none = shop.search(&q("xylophone")).await;
    assert_eq!(
        (none["total"].as_i64(), skus(&none).len()),
        (Some(0), 0),
        "{none}"
    );

    // An approved edit is searchable at once; the old name no longer finds it.
    let edited = shop
        .staff
        .admin
        .ok(
            Method::PUT,
            "/products/LAMP",
            Some(
                json!({"name": "Brass reading lantern", "description": "Warm light.",
                        "category": "lighting"}),
            ),
        )
        .await;
    let at = edited["global_position"].as_i64().unwrap();
    let (_, found) = shop
        .api
        .get(&format!("/products?q=lantern&min_position={at}"))
        .await;
    assert_eq!(skus(&found), ["LAMP"]);
    let (_, found) = shop
        .api
        .get(&format!("/products?q=desk&min_position={at}"))
        .await;
    assert!(skus(&found).is_empty(), "{found}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_filters_sorts_counts_facets_and_pages_by_keyset() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let mut shop = Shop::open(&env).await;
    let seller_id = shop.staff.seller.id().to_string();

    // Best selling: two glass bottles and one teapot sold.
    let customer = shop.api.customer().await;
    for (sku, quantity) in [("BOTTLE-GLASS", 2), ("TEAPOT", 1)] {
        customer
            .ok(
                Method::POST,
                &format!("/customers/{}/cart/items", customer.id()),
                Some(json!({"sku": sku, "quantity": quantity})),
            )
            .await;
    }
    let (status, placed) = customer
        .post(&format!("/customers/{}/orders", customer.id()), json!(null))
        .await;
    assert_eq!(status, 201, "{placed}");
    shop.at = placed["global_position"].as_i64().unwrap_or(shop.at);
    let top = shop.skus("sort=best_selling&limit=2").await;
    assert_eq!(top, ["BOTTLE-GLASS", "TEAPOT"]);

    // Filters.
    let kitchen = shop.skus("category=kitchen").await;
    assert_eq!(kitchen.len(), 6);
    assert!(!shop
        .skus("in_stock=true")
        .await
        .contains(&"KETTLE".to_owned()));
    assert_eq!(
        shop.skus("price_min=1500&price_max=1800&sort=price_asc")
            .await,
        ["CUPS", "BOTTLE-GLASS"]
    );
    let sold_by_seller = shop.skus(&format!("seller={seller_id}")).await;
    assert_eq!(
        sold_by_seller.into_iter().collect::<HashSet<_>>(),
        set(&["BOTTLE-STEEL", "BOTTLE-GLASS", "TEAPOT", "LAMP"])
    );

    // Sort orders.
    let prices = |page: &Value| -> Vec<i64> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["price"]["amount_minor"].as_i64().unwrap())
            .collect()
    };
    let up = prices(&shop.search("sort=price_asc").await);
    assert!(up.windows(2).all(|w| w[0] <= w[1]), "{up:?}");
    let down = prices(&shop.search("sort=price_desc").await);
    assert_eq!(down, up.iter().rev().copied().collect::<Vec<_>>());
    let newest = shop.skus("sort=newest").await;
    assert_eq!(
        newest.first().map(String::as_str),
        Some("LAMP"),
        "listed last"
    );

    // Facets: each count equals the total of the same search with that facet's filter, and a
    // facet ignores its own filter (the alternatives stay visible).
    let bases: [&[(&str, &str)]; 4] = [
        &[],
        &[("q", "bottle")],
        &[("q", "steel"), ("in_stock", "true")],
        &[("category", "kitchen")],
    ];
    for base in bases {
        let page = shop.search(&with(base, "limit", "1")).await;
        let facets = &page["facets"];
        let total = page["total"].as_i64().unwrap();
        for c in facets["categories"].as_array().unwrap() {
            let filtered = shop
                .search(&with(base, "category", c["slug"].as_str().unwrap()))
                .await;
            assert_eq!(filtered["total"], c["count"], "{base:?}: {c}");
        }
        for b in facets["prices"].as_array().unwrap() {
            let mut query = with(base, "price_min", &b["min"].to_string());
            if let Some(max) = b["max"].as_i64() {
                query = format!("{query}&price_max={max}");
            }
            let filtered = shop.search(&query).await;
            assert_eq!(filtered["total"], b["count"], "{base:?}: {b}");
        }
        for s in facets["sellers"].as_array().unwrap() {
            let filtered = shop
                .search(&with(base, "seller", s["seller_id"].as_str().unwrap()))
                .await;
            assert_eq!(filtered["total"], s["count"], "{base:?}: {s}");
        }
        let sum = |facet: &str| -> i64 {
            facets[facet]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b["count"].as_i64().unwrap())
                .sum()
        };
        assert_eq!((sum("prices"), sum("sellers")), (total, total), "{base:?}");
        assert_eq!(sum("categories"), total, "{base:?}");
    }
    // Price and seller facets ignore their own filter (the alternatives stay visible); the
    // category facet counts within the chosen category.
    let cheap = shop.search("price_max=999").await;
    assert_eq!(cheap["total"], 1, "{cheap}");
    assert!(
        cheap["facets"]["prices"].as_array().unwrap().len() > 1,
        "{cheap}"
    );
    let kitchen = shop.search("category=kitchen").await;
    let slugs: Vec<&str> = kitchen["facets"]["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["kitchen"], "{kitchen}");
    // And the category facet of the whole catalog is a plain count of the read model.
    let plain: Vec<(String, i64)> = sqlx::query_as(
        "select category, count(*) from catalog_products
         where published and archived_at is null group by category",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let page = shop.search("limit=1").await;
    let facet: BTreeMap<String, i64> = page["facets"]["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["slug"].as_str().unwrap().to_owned(),
                c["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(facet, plain.into_iter().collect::<BTreeMap<_, _>>());
    assert_eq!(page["facets"]["categories"][0]["name"], "kitchen", "{page}");

    // Keyset pages: every product once, in order, whatever the sort.
    for sort in [
        "relevance",
        "price_asc",
        "price_desc",
        "newest",
        "rating",
        "best_selling",
    ] {
        let all = shop.skus(&format!("sort={sort}&limit=100")).await;
        let mut paged = Vec::new();
        let mut after = String::new();
        loop {
            let page = shop.search(&format!("sort={sort}&limit=3{after}")).await;
            paged.extend(skus(&page));
            match page["next_cursor"].as_str() {
                Some(cursor) => after = format!("&after={cursor}"),
                None => break,
            }
        }
        assert_eq!(paged, all, "{sort}");
        assert_eq!(paged.len(), CATALOG.len());
    }

    // Bad parameters: 400 with a stable code and the field, never a 5xx.
    let cursor = shop.search("sort=price_asc&limit=1").await["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    for (query, code, field) in [
        (
            format!("sort=newest&after={cursor}"),
            "invalid_cursor",
            "after",
        ),
        (
            "after=bm90LWEtY3Vyc29y".to_owned(),
            "invalid_cursor",
            "after",
        ),
        ("after=%%%".to_owned(), "invalid_cursor", "after"),
        // {"sort":"newest","sku":"A","listed_at":"-100000-01-01T00:00:00Z"}: beyond PostgreSQL.
        (
            "sort=newest&after=eyJzb3J0IjoibmV3ZXN0Iiwic2t1IjoiQSIsImxpc3RlZF9hdCI6Ii0xMDAwMDAtMDEtMDFUMDA6MDA6MDBaIn0".to_owned(),
            "invalid_cursor",
            "after",
        ),
        (
            format!("sort=price_asc&after={cursor}&offset=2"),
            "invalid_query",
            "offset",
        ),
        ("sort=cheapest".to_owned(), "invalid_query", "sort"),
        ("price_min=-1".to_owned(), "invalid_query", "price_min"),
        (
            "price_min=500&price_max=100".to_owned(),
            "invalid_query",
            "price_max",
        ),
        ("min_rating=7".to_owned(), "invalid_query", "min_rating"),
        ("min_rating=NaN".to_owned(), "invalid_query", "min_rating"),
        (q(&"x".repeat(201)), "invalid_query", "q"),
        (q("bottle\u{202e}"), "invalid_query", "q"),
        (
            "category=Not%20A%20Slug".to_owned(),
            "invalid_query",
            "category",
        ),
    ] {
        let (status, body) = shop.refused(&query).await;
        assert_eq!(
            (status, body["code"].as_str(), body["field"].as_str()),
            (400, Some(code), Some(field)),
            "{query}: {body}"
        );
    }
    for query in ["seller=not-a-uuid", "in_stock=maybe", "price_max=1e99"] {
        let (status, body) = shop.refused(query).await;
        assert_eq!(status, 400, "{query}: {body}");
    }
    // Queries made only of operators or stop words are answered, with nothing or everything
    // they can mean, never an error.
    for text in ["\"", "-", "or", "the", "!!! ???", "'", "a:*", "\\"] {
        let (status, body) = shop.refused(&q(text)).await;
        assert_eq!(status, 200, "{text:?}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_language_decides_stemming_and_a_change_reindexes() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let shop = Shop::open(&env).await;
    // English stems: "boil" is known by its stem, nothing to correct.
    let boil = shop.search(&q("boil ")).await;
    assert_eq!(boil["query"]["corrected"], Value::Null, "{boil}");
    assert_eq!(skus(&boil), ["KETTLE"]);
    let Shop {
        _engine: engine,
        at,
        ..
    } = shop;
    engine.crash().await;

    // An unknown configuration stops the engine at start, changing nothing.
    let mut refused = Process::start("up", &env.clone().with("CATALOG_LANGUAGE", "klingon"));
    let status = refused.child.wait().await.unwrap();
    assert!(!status.success());
    let (language,): (String,) = sqlx::query_as("select language::text from catalog_settings")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(language, "english");

    // `simple` does not stem. The documents were indexed again ("boils" is now a word of its
    // own and finds the kettle), and so were the stems: "boil" is unknown now and corrected.
    let simple = env.with("CATALOG_LANGUAGE", "simple");
    let mut engine = Process::start("up", &simple);
    let api = Api::new(engine.base_url().await);
    let search = |query: String| {
        let api = api.clone();
        async move {
            let (status, page) = api
                .get(&format!("/products?{query}&min_position={at}"))
                .await;
            assert_eq!(status, 200, "{page}");
            page
        }
    };
    assert_eq!(skus(&search(q("boils ")).await), ["KETTLE"]);
    let boil = search(q("boil ")).await;
    assert_eq!(boil["query"]["corrected"], "boils", "{boil}");
    let (language,): (String,) = sqlx::query_as("select language::text from catalog_settings")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(language, "simple");
}

/// A search's answer is kept for `SEARCH_CACHE_MS` and served again, the same bytes with the
/// same `ETag`, even after the catalog changed; a search that asks for `min_position` reads
/// the read model itself, so a client still reads its own writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_answers_are_kept_briefly_but_never_for_read_your_writes() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db).with("SEARCH_CACHE_MS", "600000");
    let shop = Shop::open(&env).await;
    let price_of_lamp = |page: &Value| {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["sku"] == "LAMP")
            .map(|p| p["price"]["amount_minor"].clone())
    };

    // Once the catalog is visible (a read-your-writes search, never kept), a plain search
    // keeps what the read model holds now.
    shop.search(&q("lamp")).await;
    let (status, before) = shop.refused(&q("lamp")).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(price_of_lamp(&before), Some(json!(6400)), "{before}");

    let repriced = shop
        .staff
        .seller
        .ok(
            Method::PUT,
            "/products/LAMP/price",
            Some(json!({"amount_minor": 5900, "currency": "EUR"})),
        )
        .await;
    let at = repriced["global_position"].as_i64().unwrap();
    let fresh = shop
        .api
        .read_at(&format!("/products?{}", q("lamp")), &json!(at))
        .await;
    assert_eq!(price_of_lamp(&fresh), Some(json!(5900)), "{fresh}");

    // The read model has the new price, and a plain search still gets the kept answer.
    let (status, kept) = shop.refused(&q("lamp")).await;
    assert_eq!(status, 200, "{kept}");
    assert_eq!(kept, before, "the answer kept for SEARCH_CACHE_MS");
}

/// Products written straight into the catalog read model (what the index reads), `count` of
/// them from `first`: ties in price, listing time and rating; some unpublished, archived, out
/// of stock, unrated; sellers of whom one is suspended; a category missing from the tree.
async fn seed_read_model(pool: &sqlx::PgPool, first: i32, count: i32, sellers: &[uuid::Uuid]) {
    sqlx::query(
        "with words as (select
           array['bottle','kettle','teapot','mug','lamp','chair','glass','water','jug','flask']
             as nouns,
           array['red','blue','steel','compact','vintage','glass','smart'] as adjectives,
           array['steel','ceramic','wood','glass','copper'] as materials),
         generated as (
           select g,
             adjectives[1 + g % 7] || ' ' || materials[1 + g / 7 % 5] || ' ' || nouns[1 + g % 10]
               as name,
             'A ' || nouns[1 + g * 3 % 10] || ' for the ' || nouns[1 + g * 7 % 10] || '.'
               as description,
             jsonb_build_array(jsonb_build_object('name', 'Material',
                                                  'value', materials[1 + g % 5]))
               as specifications
           from words, generate_series($1::int, $1::int + $2::int - 1) g)
         insert into catalog_products (sku, name, description, category, price_minor, currency,
           created_at, updated_at, seller_id, specifications, published, archived_at,
           available, sold, rating_average, rating_count, search_document)
         select format('P-%s', lpad(g::text, 6, '0')), name, description,
           (array['home', 'kitchen', 'garden', 'tools', 'gone'])[1 + g % 5],
           (g % 40) * 500 + 99, 'EUR',
           timestamptz '2026-01-01' + (g % 300) * interval '1 hour', now(),
           ($3::uuid[])[1 + g % 4], specifications,
           g % 17 <> 0, case when g % 19 = 0 then now() end,
           g % 3 * 5, g % 11,
           case when g % 5 <> 0 then 1 + (g % 40) / 10.0 end,
           case when g % 5 <> 0 then 1 + g % 7 else 0 end,
           catalog_document((select language from catalog_settings), name, description,
                            specifications)
         from generated",
    )
    .bind(first)
    .bind(count)
    .bind(sellers)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into catalog_words (word, lexeme)
         select w.word, w.lexeme from catalog_products p,
           catalog_words_of((select language from catalog_settings),
             p.name || ' ' || p.description || ' ' || catalog_specifications_text(p.specifications)) w
         where p.published on conflict (word) do nothing",
    )
    .execute(pool)
    .await
    .unwrap();
}

/// Every search of the matrix, by the index and by PostgreSQL alone: the same totals, facets,
/// corrections and pages (in relevance order, the same products: the two rank differently).
async fn index_agrees_with_postgresql(
    pool: &sqlx::PgPool,
    index: &projections::search::SearchIndex,
    sellers: &[uuid::Uuid],
) -> usize {
    use projections::search::{self, Search, SortOrder};
    let texts = [
        None,
        Some("bottle"),
        Some("steel bott"),
        Some("\"steel mug\" -red"),
        Some("kettle or teapot"),
        Some("-glass"),
        Some("the "),
        Some("botle"),
        Some("copper jug "),
        Some("xylophone"),
    ];
    let sorts = SortOrder::NAMES
        .split(", ")
        .map(|n| SortOrder::parse(n).unwrap());
    let mut compared = 0;
    for (i, (text, sort)) in texts
        .iter()
        .flat_map(|t| sorts.clone().map(move |s| (t, s)))
        .enumerate()
    {
        let base = Search {
            text: text.map(str::to_owned),
            category: [None, Some("home"), Some("kitchen"), Some("gone")][i % 4].map(str::to_owned),
            price_min: (i % 3 == 1).then_some(2_000),
            price_max: (i % 3 == 1).then_some(15_000),
            in_stock: i % 5 == 2,
            seller: (i % 7 == 3).then_some(sellers[1]),
            min_rating: (i % 6 == 4).then_some(2.5),
            sort,
            after: None,
            offset: if i % 8 == 5 { 7 } else { 0 },
            limit: [20, 7, 100][i % 3],
        };
        let label = format!("{text:?} {sort:?} #{i}");
        // The first page, then two more by each one's own cursor.
        let (mut by_index, mut by_sql) = (base.clone(), base.clone());
        let (mut seen_index, mut seen_sql) = (Vec::new(), Vec::new());
        // The two rank differently: in relevance order, every page, to compare the products.
        let ranked = sort == SortOrder::Relevance && text.is_some();
        for page in 0..if ranked { 1_000 } else { 3 } {
            let from_index = index
                .search(pool, &by_index)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{label}: the index evaluates it"));
            let from_sql = search::search(pool, &by_sql).await.unwrap();
            let json = |p: &search::SearchPage| {
                let mut v = serde_json::to_value(p).unwrap();
                v.as_object_mut().unwrap().remove("items");
                v
            };
            assert_eq!(json(&from_index), json(&from_sql), "{label} page {page}");
            let page_skus =
                |p: &search::SearchPage| p.items.iter().map(|i| i.sku.clone()).collect::<Vec<_>>();
            if ranked {
                seen_index.extend(page_skus(&from_index));
                seen_sql.extend(page_skus(&from_sql));
            } else {
                assert_eq!(
                    page_skus(&from_index),
                    page_skus(&from_sql),
                    "{label} page {page}"
                );
                assert_eq!(from_index.next, from_sql.next, "{label} page {page}");
            }
            compared += 1;
            match (from_index.next, from_sql.next) {
                (Some(a), Some(b)) => {
                    by_index.after = Some(a);
                    by_sql.after = Some(b);
                }
                (None, None) => break,
                (a, b) => panic!("{label} page {page}: one has a next page: {a:?} {b:?}"),
            }
        }
        if ranked {
            let unique: HashSet<&String> = seen_index.iter().collect();
            assert_eq!(unique.len(), seen_index.len(), "{label}: a product twice");
            seen_index.sort();
            seen_sql.sort();
            assert_eq!(seen_index, seen_sql, "{label}: other products");
        }
    }
    compared
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_index_answers_as_postgresql_does_and_follows_the_read_model() {
    use projections::search::SearchIndex;
    let db = TestDatabase::create().await;
    let pool = &db.pool;
    let sellers: Vec<uuid::Uuid> = (0..3).map(|_| uuid::Uuid::now_v7()).collect();
    sqlx::query(
        "insert into catalog_categories (slug, name, parent, position, path) values
           ('home', 'Home', null, 0, 'home'), ('kitchen', 'Kitchen', 'home', 0, 'home/kitchen'),
           ('garden', 'Garden', 'home', 1, 'home/garden'), ('tools', 'Tools', null, 1, 'tools')",
    )
    .execute(pool)
    .await
    .unwrap();
    for (seller, (name, status)) in sellers.iter().zip([
        ("Acme", "verified"),
        ("Bolt", "verified"),
        ("Shady", "suspended"),
    ]) {
        sqlx::query(
            "insert into sellers (account_id, store_name, description, status, applied_at,
               updated_at) values ($1, $2, '', $3, now(), now())",
        )
        .bind(seller)
        .bind(name)
        .bind(status)
        .execute(pool)
        .await
        .unwrap();
    }
    // Products of the shop itself (no seller) and of the three sellers.
    let owners: Vec<Option<uuid::Uuid>> = [None]
        .into_iter()
        .chain(sellers.iter().copied().map(Some))
        .collect();
    let owners: Vec<uuid::Uuid> = owners.iter().map(|o| o.unwrap_or_default()).collect();
    seed_read_model(pool, 1, 1_500, &owners).await;
    sqlx::query("update catalog_products set seller_id = null where seller_id = $1")
        .bind(uuid::Uuid::default())
        .execute(pool)
        .await
        .unwrap();

    let index = SearchIndex::load(pool).await.unwrap();
    let stats = index.stats();
    assert_eq!(
        stats.products as i64,
        sqlx::query_scalar::<_, i64>(
            "select count(*) from catalog_products where published and archived_at is null"
        )
        .fetch_one(pool)
        .await
        .unwrap()
    );
    let compared = index_agrees_with_postgresql(pool, &index, &sellers).await;
    assert!(compared > 60, "{compared} pages compared");

    // The read model changes: prices, archival and restoration, a seller suspended and
    // another reinstated, a category renamed and moved under another, new products. A
    // transaction still running during a refresh is read by a later one.
    let mut running = pool.begin().await.unwrap();
    sqlx::query("update catalog_products set price_minor = 77 where sku = 'P-000002'")
        .execute(&mut *running)
        .await
        .unwrap();
    for change in [
        "update catalog_products set price_minor = price_minor + 1234 where sku like '%3'",
        "update catalog_products set archived_at = now() where sku like '%11'",
        "update catalog_products set archived_at = null where sku like '%19'",
        "update catalog_products set available = 0, sold = sold + 9 where sku like '%4'",
        "update catalog_categories set name = 'Cooking', path = 'tools/kitchen',
           parent = 'tools' where slug = 'kitchen'",
    ] {
        sqlx::query(change).execute(pool).await.unwrap();
    }
    // Acme suspended, Shady reinstated.
    sqlx::query(
        "update sellers set status = case status when 'suspended' then 'verified'
           else 'suspended' end where account_id = any($1)",
    )
    .bind([sellers[0], sellers[2]])
    .execute(pool)
    .await
    .unwrap();
    seed_read_model(pool, 2_000, 200, &owners).await;
    sqlx::query("update catalog_products set seller_id = null where seller_id = $1")
        .bind(uuid::Uuid::default())
        .execute(pool)
        .await
        .unwrap();
    index.refresh(pool).await.unwrap();
    running.commit().await.unwrap();
    index.refresh(pool).await.unwrap();
    let cheap = projections::search::Search {
        text: None,
        category: None,
        price_min: None,
        price_max: Some(77),
        in_stock: false,
        seller: None,
        min_rating: None,
        sort: projections::search::SortOrder::PriceAsc,
        after: None,
        offset: 0,
        limit: 5,
    };
    let found = index.search(pool, &cheap).await.unwrap().unwrap();
    assert_eq!(
        found
            .items
            .iter()
            .map(|i| i.sku.as_str())
            .collect::<Vec<_>>(),
        ["P-000002"],
        "a transaction committed after a refresh began is read by the next"
    );
    assert!(index.stats().products > stats.products);
    index_agrees_with_postgresql(pool, &index, &sellers).await;
}
