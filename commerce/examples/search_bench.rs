//! Search benchmark: prints figures, asserts nothing (machines here are shared and noisy).
//!
//! ```sh
//! cargo run --release -p commerce --example search_bench
//! BENCH_PRODUCTS=20000 BENCH_CLIENTS=16 BENCH_SECONDS=30 cargo run --release -p commerce --example search_bench
//! ```
//!
//! Lists `BENCH_PRODUCTS` products (default 100,000) through the command handler, in 40
//! categories, with specifications, stock for two in three and prices from 1 to 600 euros;
//! projects the log into the read models; then `BENCH_CLIENTS` clients (default 16) search
//! `GET /products` over HTTP for `BENCH_SECONDS` (default 30) with a mix of what shoppers
//! type: one word, two words, a word being typed, a typo, a phrase with an exclusion, a word
//! with filters, a word sorted by price, a category browsed by best selling, and page 5 of a
//! word by keyset. Every answer carries its facets. Prints the search index's size and load
//! time, then latency percentiles overall and per kind, and throughput. Uses a throw-away database on `TEST_DATABASE_URL`;
//! `BENCH_KEEP_DB=1` keeps it and `BENCH_DATABASE_URL=<its url>` searches it again without
//! seeding.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use commands::{CommandContext, CommandHandler};
use domain::category::{CategoryCommand, CategorySlug, Position};
use domain::product::{Editor, ProductDetails, Specification};
use domain::text::{CategoryName, Description, ProductName};
use domain::AccountId;
use domain::{Money, Quantity, Sku};
use events::testing::TestDatabase;
use events::{EventStore, PgEventStore};
use projections::{registry, Projector};
use tokio_util::sync::CancellationToken;

const ADJECTIVES: &[&str] = &[
    "red", "blue", "green", "black", "white", "compact", "large", "small", "vintage", "modern",
    "classic", "rustic", "premium", "portable", "folding", "heavy", "light", "smart", "wireless",
    "quiet", "slim", "round", "square", "tall", "mini", "deluxe", "rugged", "elegant", "soft",
    "sturdy",
];
const MATERIALS: &[&str] = &[
    "steel",
    "stainless",
    "ceramic",
    "wooden",
    "glass",
    "cotton",
    "leather",
    "silk",
    "bamboo",
    "copper",
    "brass",
    "wool",
    "linen",
    "plastic",
    "porcelain",
    "marble",
    "oak",
    "walnut",
    "aluminium",
    "cast-iron",
];
const NOUNS: &[&str] = &[
    "bottle",
    "kettle",
    "teapot",
    "mug",
    "lamp",
    "chair",
    "table",
    "desk",
    "shelf",
    "sofa",
    "pillow",
    "blanket",
    "towel",
    "knife",
    "spoon",
    "fork",
    "plate",
    "bowl",
    "pan",
    "pot",
    "grill",
    "toaster",
    "blender",
    "mixer",
    "scale",
    "clock",
    "watch",
    "radio",
    "speaker",
    "headphones",
    "camera",
    "tripod",
    "backpack",
    "wallet",
    "belt",
    "scarf",
    "glove",
    "hat",
    "jacket",
    "boot",
    "sandal",
    "sneaker",
    "umbrella",
    "candle",
    "vase",
    "mirror",
    "frame",
    "rug",
    "curtain",
    "basket",
    "bucket",
    "hose",
    "shovel",
    "rake",
    "drill",
    "hammer",
    "wrench",
    "saw",
    "ladder",
    "toolbox",
    "tent",
    "stove",
    "lantern",
    "cooler",
    "hammock",
    "bicycle",
    "helmet",
    "ball",
    "racket",
    "mat",
    "dumbbell",
    "rope",
    "bench",
    "puzzle",
    "doll",
    "robot",
    "kite",
    "drum",
    "guitar",
    "violin",
    "flute",
    "notebook",
    "pen",
    "pencil",
    "marker",
    "stapler",
    "folder",
    "printer",
    "monitor",
    "keyboard",
    "mouse",
    "router",
    "charger",
    "cable",
    "adapter",
    "battery",
    "fan",
    "heater",
    "purifier",
    "humidifier",
    "vacuum",
    "iron",
    "dryer",
    "brush",
    "comb",
    "razor",
    "soap",
    "shampoo",
    "lotion",
    "perfume",
    "necklace",
    "ring",
    "bracelet",
    "earring",
    "sunglasses",
    "teacup",
    "saucer",
    "jug",
    "carafe",
    "decanter",
    "flask",
    "thermos",
    "lunchbox",
    "grater",
    "peeler",
    "whisk",
    "ladle",
    "spatula",
    "tongs",
    "colander",
    "sieve",
    "cleaver",
    "skillet",
    "wok",
    "casserole",
    "tray",
    "trivet",
    "coaster",
    "napkin",
    "apron",
    "oven",
    "fridge",
    "freezer",
    "dishwasher",
    "microwave",
    "juicer",
    "grinder",
    "roaster",
    "smoker",
    "cart",
    "trolley",
    "stool",
    "cabinet",
    "wardrobe",
    "dresser",
    "nightstand",
    "headboard",
    "mattress",
    "crib",
    "stroller",
    "highchair",
    "playpen",
    "easel",
    "canvas",
    "palette",
    "chisel",
    "clamp",
    "vise",
    "level",
    "glue",
    "sander",
    "hinge",
    "lock",
    "safe",
    "alarm",
    "doorbell",
    "thermostat",
    "bulb",
    "switch",
    "socket",
    "projector",
    "screen",
    "tablet",
    "phone",
    "stand",
    "mount",
    "dock",
    "hub",
    "drive",
];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ctx() -> CommandContext {
    CommandContext::new(Some("bench".into()))
}

fn pick<'a>(list: &[&'a str], n: usize) -> &'a str {
    list[n % list.len()]
}

/// The `n`th product: "<Adjective> <material> <noun>", a description naming two other things,
/// specifications with material and colour.
fn product(n: usize) -> (Sku, ProductDetails, Money) {
    let noun = pick(NOUNS, n * 7 + n / 97);
    let name = format!(
        "{} {} {}",
        pick(ADJECTIVES, n),
        pick(MATERIALS, n / 3 + n / 1013),
        noun
    );
    let description = format!(
        "A {} {} made to last. Pairs well with a {} or a {}.",
        pick(ADJECTIVES, n * 11 + 3),
        noun,
        pick(NOUNS, n * 13 + 5),
        pick(NOUNS, n * 17 + 11)
    );
    let specifications = vec![
        Specification::new("Material", pick(MATERIALS, n * 5 + 1)).unwrap(),
        Specification::new("Colour", pick(ADJECTIVES, n * 3 + 2)).unwrap(),
    ];
    let details = ProductDetails::with_media(
        ProductName::parse(&name).unwrap(),
        Description::parse(&description).unwrap(),
        CategorySlug::parse(&format!("cat-{}-{}", n % 8, n / 8 % 5)).unwrap(),
        specifications,
        Vec::new(),
    )
    .unwrap();
    let price = 100 + (n as i64 * 7919) % 60_000;
    (
        Sku::parse(format!("P-{n:06}")).unwrap(),
        details,
        Money::new(price, domain::values::Currency::parse("EUR").unwrap()).unwrap(),
    )
}

async fn seed(handler: &CommandHandler, products: usize, writers: usize) {
    for root in 0..8 {
        define(handler, &format!("cat-{root}"), None, root).await;
        for child in 0..5 {
            define(
                handler,
                &format!("cat-{root}-{child}"),
                Some(format!("cat-{root}")),
                child,
            )
            .await;
        }
    }
    let sellers: Vec<AccountId> = (0..50)
        .map(|_| AccountId::from_uuid(uuid::Uuid::now_v7()))
        .collect();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (handler, next, sellers) = (handler.clone(), next.clone(), sellers.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= products {
                        return;
                    }
                    let (sku, details, price) = product(n);
                    handler
                        .create_product(
                            &ctx(),
                            sellers[n % sellers.len()],
                            sku.clone(),
                            details,
                            price,
                            Editor::Admin,
                        )
                        .await
                        .unwrap();
                    if n % 3 != 0 {
                        let units = Quantity::new(1 + (n as i64 % 40)).unwrap();
                        handler.receive_stock(&ctx(), sku, units).await.unwrap();
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    println!(
        "seeded: {products} products through the command handler in {:.1?}",
        started.elapsed()
    );
}

async fn define(handler: &CommandHandler, slug: &str, parent: Option<String>, position: usize) {
    handler
        .category_command(
            &ctx(),
            CategoryCommand::Define {
                slug: CategorySlug::parse(slug).unwrap(),
                name: CategoryName::parse(slug).unwrap(),
                parent: parent.map(|p| CategorySlug::parse(&p).unwrap()),
                position: Position::new(position as i64).unwrap_or_default(),
            },
        )
        .await
        .unwrap();
}

/// What shoppers send, by kind; `n` varies the words.
fn query(kind: usize, n: usize) -> (&'static str, String) {
    let noun = pick(NOUNS, n);
    let adjective = pick(ADJECTIVES, n / 7);
    let material = pick(MATERIALS, n / 3);
    match kind {
        0 => ("one word", format!("q={noun}")),
        1 => ("two words", format!("q={material}+{noun}")),
        2 => (
            "typing a prefix",
            format!("q={adjective}+{}", &noun[..noun.len().min(4)]),
        ),
        3 => {
            // A typo: two letters swapped in the middle.
            let mut chars: Vec<char> = noun.chars().collect();
            let mid = chars.len() / 2;
            chars.swap(mid - 1, mid);
            (
                "typo",
                format!("q={}", chars.into_iter().collect::<String>()),
            )
        }
        4 => (
            "phrase and exclusion",
            format!("q=%22{material}+{noun}%22+-{adjective}"),
        ),
        5 => (
            "word and filters",
            format!(
                "q={noun}&category=cat-{}&in_stock=true&price_max=30000",
                n % 8
            ),
        ),
        6 => ("word by price", format!("q={noun}&sort=price_asc")),
        7 => (
            "category by best selling",
            format!("category=cat-{}-{}&sort=best_selling", n % 8, n % 5),
        ),
        _ => ("keyset page 5", format!("q={adjective}")),
    }
}

const KINDS: usize = 9;

fn percentiles(label: &str, samples: &mut [Duration], seconds: f64) {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    println!(
        "{label:>26}: n={:>6} ({:>6.1}/s) p50={:>7.2?} p95={:>7.2?} p99={:>7.2?} max={:>7.2?}",
        samples.len(),
        samples.len() as f64 / seconds,
        at(0.50),
        at(0.95),
        at(0.99),
        samples[samples.len() - 1]
    );
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    config: commerce::Config,
}

#[tokio::main]
async fn main() {
    let products = env_usize("BENCH_PRODUCTS", 100_000);
    let clients = env_usize("BENCH_CLIENTS", 16);
    let seconds = env_usize("BENCH_SECONDS", 30) as u64;
    // BENCH_DATABASE_URL: search a database an earlier run kept (BENCH_KEEP_DB) again.
    if let Ok(url) = std::env::var("BENCH_DATABASE_URL") {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        let (products,): (i64,) = sqlx::query_as("select count(*) from catalog_products")
            .fetch_one(&pool)
            .await
            .unwrap();
        println!("reusing {url}: {products} products");
        return search(&pool, &url, products as usize, clients, seconds).await;
    }
    let db = TestDatabase::create().await;
    let store = Arc::new(PgEventStore::new(db.pool.clone()));
    let handler = CommandHandler::new(store.clone());
    seed(&handler, products, 8).await;

    // Project the log into the read models, as a worker would.
    let started = Instant::now();
    let projector = Projector::new(db.pool.clone(), registry::all());
    let (mut position, mut events) = (0, 0);
    loop {
        let batch = store.read_all(position, 2_000).await.unwrap();
        let Some(last) = batch.last() else { break };
        position = last.global_position;
        events += batch.len();
        projector.apply_batch(&batch, None).await.unwrap();
    }
    println!(
        "projected: {events} events in {:.1?} ({:.0} events/s)",
        started.elapsed(),
        events as f64 / started.elapsed().as_secs_f64()
    );
    sqlx::query("vacuum analyze catalog_products, catalog_stock, catalog_words, catalog_ratings")
        .execute(&db.pool)
        .await
        .unwrap();
    let (words,): (i64,) = sqlx::query_as("select count(*) from catalog_words")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    println!("vocabulary: {words} words");
    search(&db.pool, &db.url, products, clients, seconds).await;
    if std::env::var("BENCH_KEEP_DB").is_ok() {
        println!("kept the database: {}", db.url);
        std::mem::forget(db);
    }
}

async fn search(pool: &sqlx::PgPool, url: &str, products: usize, clients: usize, seconds: u64) {
    // What each API process holds: the index, loaded as `serve` loads it.
    let started = Instant::now();
    let index = projections::search::SearchIndex::load(pool).await.unwrap();
    let stats = index.stats();
    println!(
        "search index: {} products, {} lexemes, {} postings, about {:.1} MB, loaded in {:.1?}",
        stats.products,
        stats.lexemes,
        stats.postings,
        stats.bytes as f64 / 1e6,
        started.elapsed()
    );
    drop(index);
    // First every search reaches PostgreSQL (no answer cache), then as the engine runs by
    // default (answers kept for SEARCH_CACHE_MS, 1 s).
    for (label, cache_ms) in [
        ("without the answer cache", "0"),
        (
            "with the answer cache (SEARCH_CACHE_MS=1000, the default)",
            "1000",
        ),
    ] {
        println!("--- {label}");
        search_with(pool, url, products, clients, seconds, cache_ms).await;
    }
}

async fn search_with(
    pool: &sqlx::PgPool,
    url: &str,
    products: usize,
    clients: usize,
    seconds: u64,
    cache_ms: &str,
) {
    // The API, in this process, on a free port.
    let cli = Cli::parse_from([
        "search_bench",
        "--database-url",
        url,
        "--http-addr",
        "127.0.0.1:0",
        // The clients stand for many shoppers but share one address.
        "--rate-limit-per-minute",
        "1000000000",
        "--search-cache-ms",
        cache_ms,
    ]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let server = {
        let (config, pool, stop) = (cli.config, pool.clone(), shutdown.clone());
        tokio::spawn(async move { commerce::serve(&config, pool, listener, stop).await })
    };
    let http = reqwest::Client::new();
    // Warm up: every kind once, and check the answers are real.
    for kind in 0..KINDS {
        let (label, q) = query(kind, 1);
        let answer: serde_json::Value = http
            .get(format!("{base}/products?{q}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        println!(
            "warm-up {label:>24}: total {:>6}, {} categories, {} price buckets, {} sellers in the facets",
            answer["total"],
            answer["facets"]["categories"].as_array().map_or(0, Vec::len),
            answer["facets"]["prices"].as_array().map_or(0, Vec::len),
            answer["facets"]["sellers"].as_array().map_or(0, Vec::len),
        );
    }

    println!("load: {clients} clients for {seconds} s");
    let until = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (http, base) = (http.clone(), base.clone());
            tokio::spawn(async move {
                let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); KINDS];
                let mut sent = std::collections::HashSet::new();
                let mut n = c * 7919;
                while Instant::now() < until {
                    n += 1;
                    let kind = n % KINDS;
                    let (_, q) = query(kind, n / KINDS);
                    sent.insert(q.clone());
                    let start = Instant::now();
                    let mut url = format!("{base}/products?{q}&limit=20");
                    // Keyset: four pages to reach the fifth, each timed as a search.
                    let pages = if kind == KINDS - 1 { 5 } else { 1 };
                    for _ in 0..pages {
                        let response = http.get(&url).send().await.unwrap();
                        assert!(
                            response.status().is_success(),
                            "{url}: {}",
                            response.status()
                        );
                        let body: serde_json::Value = response.json().await.unwrap();
                        match body["next_cursor"].as_str() {
                            Some(cursor) if pages > 1 => {
                                url = format!("{base}/products?{q}&limit=20&after={cursor}")
                            }
                            _ => break,
                        }
                    }
                    samples[kind].push(start.elapsed() / pages);
                }
                (samples, sent)
            })
        })
        .collect();
    let mut by_kind: Vec<Vec<Duration>> = vec![Vec::new(); KINDS];
    let mut distinct = std::collections::HashSet::new();
    for t in tasks {
        let (samples, sent) = t.await.unwrap();
        for (kind, s) in samples.into_iter().enumerate() {
            by_kind[kind].extend(s);
        }
        distinct.extend(sent);
    }
    let mut all: Vec<Duration> = by_kind.iter().flatten().copied().collect();
    println!(
        "search over HTTP, {products} products, {clients} concurrent clients, {} distinct searches:",
        distinct.len()
    );
    percentiles("all searches", &mut all, seconds as f64);
    for (kind, samples) in by_kind.iter_mut().enumerate() {
        if !samples.is_empty() {
            percentiles(query(kind, 0).0, samples, seconds as f64);
        }
    }
    shutdown.cancel();
    let _ = server.await;
}
