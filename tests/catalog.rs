//! The catalog over HTTP, on real PostgreSQL: a product's life (content with specification and
//! images, edits guarded by `If-Match`, archive and restore), stock corrections and low-stock
//! thresholds, and the rule that an archived product is never purchasable.
//!
//! Part of the `journey` test binary (one binary, one link).

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{self, Api, EngineEnv, Process, Staff, TestDatabase};

async fn start(env: &EngineEnv) -> (Process, Api, Staff) {
    let mut engine = Process::start("up", env);
    let api = Api::new(engine.base_url().await);
    let staff = Staff::hire(&api, env).await;
    (engine, api, staff)
}

fn content() -> Value {
    json!({
        "sku": "LAMP-1",
        "name": "Desk lamp",
        "description": "A lamp for a desk.",
        "category": "lighting",
        "price": {"amount_minor": 4500, "currency": "EUR"},
        "specifications": [
            {"name": "Colour", "value": "Brass"},
            {"name": "Height", "value": "42 cm"},
            {"name": "Bulb", "value": "E27, up to 40 W"}
        ],
        "images": [
            {"url": "https://img.example.org/lamp/front.jpg", "alt": "The lamp from the front"},
            {"url": "https://img.example.org/lamp/side.jpg", "alt": "The lamp from the side"}
        ]
    })
}

/// The stream version of a product, from its event log.
async fn product_version(db: &TestDatabase, sku: &str) -> i64 {
    let (version,): (i64,) =
        sqlx::query_as("select coalesce(max(stream_version), 0) from events where stream_id = $1")
            .bind(format!("product-{sku}"))
            .fetch_one(&db.pool)
            .await
            .unwrap();
    version
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_is_listed_edited_archived_and_restored() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let (_engine, api, staff) = start(&env).await;
    let seller = &staff.seller;
    let created = seller.ok(Method::POST, "/products", Some(content())).await;
    // A seller's new product waits for an admin: not public, not purchasable.
    let (status, _) = api.get("/products/LAMP-1").await;
    assert_eq!(status, 404, "not public before approval");
    let early = api.customer().await;
    let (status, body) = early
        .post(
            &format!("/customers/{}/cart/items", early.id()),
            json!({"sku": "LAMP-1", "quantity": 1}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("product_not_approved"))
    );
    let waiting = staff.admin.get("/admin/product-approvals").await.1;
    assert_eq!(
        waiting["items"][0]["draft"]["name"], "Desk lamp",
        "{waiting}"
    );
    let rejected = staff
        .admin
        .ok(
            Method::POST,
            "/admin/products/LAMP-1/rejection",
            Some(json!({"reason": "show the bulb fitting"})),
        )
        .await;
    let own = seller
        .read_at("/products/LAMP-1", &rejected["global_position"])
        .await;
    assert_eq!(
        (
            own["published"].as_bool(),
            own["draft"]["status"].as_str(),
            own["draft"]["reason"].as_str()
        ),
        (Some(false), Some("rejected"), Some("show the bulb fitting")),
        "the seller sees the draft and why: {own}"
    );
    let mut fixed = content();
    fixed.as_object_mut().unwrap().remove("sku");
    fixed.as_object_mut().unwrap().remove("price");
    seller
        .ok(Method::PUT, "/products/LAMP-1", Some(fixed))
        .await;
    staff.approve("LAMP-1").await;
    let stocked = seller
        .ok(
            Method::POST,
            "/products/LAMP-1/stock",
            Some(json!({"quantity": 10})),
        )
        .await;
    let shown = api
        .read_at("/products/LAMP-1", &stocked["global_position"])
        .await;
    assert_eq!(
        shown["specifications"][1],
        json!({"name": "Height", "value": "42 cm"})
    );
    assert_eq!(shown["images"][0]["alt"], "The lamp from the front");
    assert_eq!(shown["archived"], false);
    assert!(
        shown.get("low_stock").is_none(),
        "the public sees no seller figures: {shown}"
    );

    // Edits replace the content whole; If-Match guards against a lost update.
    let edit = json!({
        "name": "Desk lamp, brass",
        "category": "lighting",
        "specifications": [{"name": "Height", "value": "45 cm"}],
        "images": [{"url": "https://img.example.org/lamp/new.jpg", "alt": "The new lamp"}]
    });
    let stale = created["stream_version"].as_i64().unwrap() + 1;
    let (status, body) = seller
        .send(
            Method::PUT,
            "/products/LAMP-1",
            Some(edit.clone()),
            &[("if-match", &stale.to_string())],
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("concurrency_conflict")),
        "{body}"
    );
    // Created, rejected, proposed again, approved.
    let current = (created["stream_version"].as_i64().unwrap() + 3).to_string();
    let edited = seller
        .send(
            Method::PUT,
            "/products/LAMP-1",
            Some(edit.clone()),
            &[("if-match", &current)],
        )
        .await;
    assert_eq!(edited.0, 200, "{}", edited.1);
    // The seller's edit waits; the public keeps the approved content meanwhile.
    let shown = api
        .read_at("/products/LAMP-1", &edited.1["global_position"])
        .await;
    assert_eq!(shown["name"], "Desk lamp");
    let approved = staff.approve("LAMP-1").await;
    let shown = api
        .read_at("/products/LAMP-1", &approved["global_position"])
        .await;
    assert_eq!(shown["name"], "Desk lamp, brass");
    assert_eq!(shown["description"], "", "left out means empty");
    assert_eq!(
        shown["specifications"],
        json!([{"name": "Height", "value": "45 cm"}])
    );
    assert_eq!(
        shown["price"]["amount_minor"], 4500,
        "the price is not content"
    );
    // The same content again changes nothing.
    let before = product_version(&db, "LAMP-1").await;
    seller.ok(Method::PUT, "/products/LAMP-1", Some(edit)).await;
    assert_eq!(product_version(&db, "LAMP-1").await, before);

    // A customer holds it in the cart; the seller archives it.
    let customer = api.customer().await;
    let cart = format!("/customers/{}/cart/items", customer.id());
    customer
        .ok(
            Method::POST,
            &cart,
            Some(json!({"sku": "LAMP-1", "quantity": 2})),
        )
        .await;
    let archived = seller
        .ok(
            Method::POST,
            "/products/LAMP-1/archival",
            Some(json!({"reason": "a newer model is coming"})),
        )
        .await;
    let listed = api
        .read_at("/products?limit=100", &archived["global_position"])
        .await;
    assert_eq!(
        listed["total"], 0,
        "archived products are not listed: {listed}"
    );
    let (status, body) = api.get("/products/LAMP-1").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("product_not_found"))
    );
    let (status, body) = customer.get("/products/LAMP-1").await;
    assert_eq!(status, 404, "customers do not see it either: {body}");
    let own = seller.get("/products/LAMP-1").await.1;
    assert_eq!(
        (own["archived"].as_bool(), own["archive_reason"].as_str()),
        (Some(true), Some("a newer model is coming"))
    );
    let mine = seller.get("/seller/products").await.1;
    assert_eq!(
        mine["items"][0]["sku"], "LAMP-1",
        "sellers keep their archived products"
    );

    // Never purchasable while archived: not into a cart, not through checkout.
    let other = api.customer().await;
    let (status, body) = other
        .post(
            &format!("/customers/{}/cart/items", other.id()),
            json!({"sku": "LAMP-1", "quantity": 1}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("product_archived"))
    );
    let checkout = format!("/customers/{}/orders", customer.id());
    let (status, body) = customer.post(&checkout, json!(null)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("product_archived")),
        "{body}"
    );
    let (reserved,): (i64,) = sqlx::query_as(
        "select count(*) from events where stream_id = 'inventory-LAMP-1'
           and event_type = 'StockReserved'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(reserved, 0, "the refused checkout reserved nothing");

    // Restored, it sells again.
    let restored = seller
        .ok(Method::DELETE, "/products/LAMP-1/archival", None)
        .await;
    let shown = api
        .read_at("/products/LAMP-1", &restored["global_position"])
        .await;
    assert_eq!(shown["archived"], false);
    let placed = customer.ok(Method::POST, &checkout, None).await;
    assert!(placed["order_id"].is_string(), "{placed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_is_corrected_never_below_what_orders_hold_and_low_stock_is_flagged() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let (_engine, api, staff) = start(&env).await;
    let seller = &staff.seller;
    staff.list("CUP", 300, 10).await;
    let customer = api.customer().await;
    customer.buy("CUP", 3).await;

    let adjust = |change: i64| {
        seller.send(
            Method::POST,
            "/products/CUP/stock/adjustments",
            Some(json!({"change": change, "reason": "stock take"})),
            &[],
        )
    };
    let (status, body) = adjust(-8).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("stock_below_reserved")),
        "7 are available, 3 are held by the order: {body}"
    );
    assert_eq!(adjust(-7).await.0, 200);
    let (status, up) = adjust(2).await;
    assert_eq!(status, 200, "{up}");
    let shown = api.read_at("/products/CUP", &up["global_position"]).await;
    assert_eq!(shown["stock_on_hand"], 2);

    let set = seller
        .ok(
            Method::PUT,
            "/products/CUP/low-stock-threshold",
            Some(json!({"threshold": 2})),
        )
        .await;
    let mine = seller
        .read_at("/seller/products", &set["global_position"])
        .await;
    let cup = &mine["items"][0];
    assert_eq!(
        (
            &cup["received"],
            &cup["adjusted"],
            &cup["low_stock_threshold"],
            &cup["low_stock"]
        ),
        (&json!(10), &json!(-5), &json!(2), &json!(true)),
        "{cup}"
    );
    let restocked = adjust(1).await.1;
    let mine = seller
        .read_at("/seller/products", &restocked["global_position"])
        .await;
    assert_eq!(mine["items"][0]["low_stock"], false);
    // Admins see any seller's products; the seller's own list is theirs alone.
    let theirs = staff
        .admin
        .get(&format!("/seller/products?seller_id={}", seller.id()))
        .await
        .1;
    assert_eq!(theirs["total"], 1);
    assert_eq!(staff.admin.get("/seller/products").await.1["total"], 0);

    // Bad input changes nothing and says what was wrong.
    let before = product_version(&db, "CUP").await;
    for (method, path, body, code, field) in [
        (
            Method::POST,
            "/products/CUP/stock/adjustments",
            json!({"change": 0, "reason": "nothing"}),
            "invalid_stock_change",
            Some("change"),
        ),
        (
            Method::PUT,
            "/products/CUP/low-stock-threshold",
            json!({"threshold": -1}),
            "invalid_threshold",
            Some("threshold"),
        ),
        (
            Method::PUT,
            "/products/CUP",
            json!({"name": "Cup", "category": "c",
                   "images": [{"url": "javascript:alert(1)", "alt": "x"}]}),
            "invalid_image_url",
            Some("images.url"),
        ),
        (
            Method::PUT,
            "/products/CUP",
            json!({"name": "Cup", "category": "c",
                   "images": [{"url": "https://img.example.org/cup.png", "alt": " "}]}),
            "invalid_text",
            Some("images.alt"),
        ),
        (
            Method::PUT,
            "/products/CUP",
            json!({"name": "Cup", "category": "c", "specifications": [
                {"name": "Size", "value": "S"}, {"name": "size", "value": "M"}]}),
            "duplicate_specification",
            Some("specifications.name"),
        ),
        (
            Method::PUT,
            "/products/CUP",
            json!({"name": "Cup", "category": "c", "specifications":
                (0..51).map(|i| json!({"name": format!("a{i}"), "value": "v"})).collect::<Vec<_>>()}),
            "too_many_entries",
            Some("specifications"),
        ),
        (
            Method::POST,
            "/products/CUP/archival",
            json!({"reason": ""}),
            "invalid_text",
            Some("reason"),
        ),
    ] {
        let (status, answer) = seller.send(method.clone(), path, Some(body), &[]).await;
        assert_eq!(
            (status, answer["code"].as_str(), answer["field"].as_str()),
            (422, Some(code), field),
            "{method} {path}: {answer}"
        );
    }
    assert_eq!(product_version(&db, "CUP").await, before);
}

/// Stock corrections and checkouts race for the same units: each is one atomic decision on
/// the inventory stream, so exactly the units there were are taken, never more.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn corrections_and_checkouts_racing_never_take_more_than_there_is() {
    const STOCK: i64 = 6;
    const SHOPPERS: usize = 8;
    const CORRECTIONS: usize = 8;
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let (_engine, api, staff) = start(&env).await;
    staff.list("RACE", 100, STOCK).await;
    let mut shoppers = Vec::new();
    for _ in 0..SHOPPERS {
        let shopper = api.customer().await;
        shopper
            .ok(
                Method::POST,
                &format!("/customers/{}/cart/items", shopper.id()),
                Some(json!({"sku": "RACE", "quantity": 1})),
            )
            .await;
        shoppers.push(shopper);
    }
    let mut racers = Vec::new();
    for shopper in &shoppers {
        let shopper = shopper.clone();
        racers.push(tokio::spawn(async move {
            let path = format!("/customers/{}/orders", shopper.id());
            ("order", shopper.post(&path, json!(null)).await)
        }));
    }
    for _ in 0..CORRECTIONS {
        let seller = staff.seller.clone();
        racers.push(tokio::spawn(async move {
            let body = json!({"change": -1, "reason": "broken in the warehouse"});
            (
                "correction",
                seller.post("/products/RACE/stock/adjustments", body).await,
            )
        }));
    }
    let mut taken = 0;
    for racer in futures::future::join_all(racers).await {
        let (kind, (status, body)) = racer.unwrap();
        match (kind, status) {
            ("order", 201) | ("correction", 200) => taken += 1,
            ("order", 422) => assert_eq!(body["code"], "insufficient_stock", "{body}"),
            ("correction", 422) => assert_eq!(body["code"], "stock_below_reserved", "{body}"),
            other => panic!("unexpected {other:?}: {body}"),
        }
    }
    assert_eq!(taken, STOCK, "exactly the units there were are taken");
    // The log agrees: nothing is left, and nothing went below zero.
    let (left,): (i64,) = sqlx::query_as(
        "select coalesce(sum(case event_type
             when 'StockReceived' then (payload->>'quantity')::bigint
             when 'StockReserved' then -(payload->>'quantity')::bigint
             when 'StockAdjusted' then (payload->>'change')::bigint
             else 0 end), 0)::bigint
         from events where stream_id = 'inventory-RACE'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(left, 0);
    common::eventually(
        "the catalog to show none left",
        Duration::from_secs(30),
        || async { api.get("/products/RACE").await.1["stock_on_hand"] == 0 },
    )
    .await;
}

/// Categories form a tree managed by admins; a product belongs to one that exists; filtering
/// by a category includes every category below it, and the tree's counts equal a plain count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn categories_form_a_tree_that_filters_and_counts_products() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let (_engine, api, staff) = start(&env).await;
    let (admin, seller) = (&staff.admin, &staff.seller);
    let define = |slug: &str, body: Value| {
        let path = format!("/admin/categories/{slug}");
        async move { admin.send(Method::PUT, &path, Some(body), &[]).await }
    };
    for (slug, parent, position) in [
        ("home", None, 0),
        ("kitchen-stuff", Some("home"), 2),
        ("mugs", Some("kitchen-stuff"), 0),
        ("garden", Some("home"), 1),
        ("toys", None, 1),
    ] {
        let (status, body) = define(
            slug,
            json!({"name": slug.to_uppercase(), "parent": parent, "position": position}),
        )
        .await;
        assert_eq!(status, 200, "{slug}: {body}");
    }
    let list = |sku: &str, category: &str| {
        let body = json!({"sku": sku, "name": sku, "category": category,
                          "price": {"amount_minor": 100, "currency": "EUR"}});
        async move { seller.post("/products", body).await }
    };
    for (sku, category) in [
        ("M1", "mugs"),
        ("M2", "mugs"),
        ("K1", "kitchen-stuff"),
        ("G1", "garden"),
        ("T1", "toys"),
    ] {
        assert_eq!(list(sku, category).await.0, 201);
        staff.approve(sku).await;
    }
    let (status, body) = list("X1", "no-such").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("category_not_found")),
        "{body}"
    );
    let (status, body) = list("X1", "Not A Slug").await;
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (422, Some("invalid_category"), Some("category"))
    );
    // Archived products count nowhere.
    let last = seller
        .ok(
            Method::POST,
            "/products/M2/archival",
            Some(json!({"reason": "chipped batch"})),
        )
        .await;

    let skus = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["sku"].as_str().unwrap().to_owned())
            .collect()
    };
    let home = api
        .read_at("/products?category=home", &last["global_position"])
        .await;
    assert_eq!(
        skus(&home),
        ["G1", "K1", "M1"],
        "a subtree, archived left out"
    );
    assert_eq!(home["total"], 3);
    let kitchen = api.get("/products?category=kitchen-stuff").await.1;
    assert_eq!(skus(&kitchen), ["K1", "M1"]);
    let (status, _) = api.get("/products?category=Bad%20Slug").await;
    assert_eq!(status, 400);

    let tree = api.get("/categories").await.1["categories"].clone();
    let roots = tree.as_array().unwrap();
    assert_eq!(
        roots.last().unwrap()["slug"],
        "toys",
        "roots by position: toys (1) after the others (0)"
    );
    let home = roots.iter().find(|c| c["slug"] == "home").unwrap();
    let children: Vec<_> = home["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["slug"].as_str().unwrap())
        .collect();
    assert_eq!(children, ["garden", "kitchen-stuff"], "by position");
    assert_eq!(
        home["children"][1]["path"],
        json!(["home", "kitchen-stuff"])
    );
    // The tree's counts equal a plain count of the products on sale in each subtree.
    for (node, slug) in [(home, "home"), (&home["children"][1], "kitchen-stuff")] {
        let plain = api.get(&format!("/products?category={slug}")).await.1["total"].clone();
        assert_eq!(node["total_count"], plain, "{slug}");
    }
    assert_eq!(home["product_count"], 0);
    assert_eq!(home["children"][1]["children"][0]["product_count"], 1);

    // Moves carry the subtree; cycles, unknown parents and removing a parent are refused.
    let (status, moved) = define(
        "kitchen-stuff",
        json!({"name": "Kitchen", "parent": "toys"}),
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    let toys = api
        .read_at("/products?category=toys", &moved["global_position"])
        .await;
    assert_eq!(skus(&toys), ["K1", "M1", "T1"]);
    let tree = api.get("/categories").await.1;
    let toys_node = tree["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["slug"] == "toys")
        .unwrap()
        .clone();
    assert_eq!(
        toys_node["children"][0]["children"][0]["path"],
        json!(["toys", "kitchen-stuff", "mugs"])
    );
    for (slug, body, code) in [
        (
            "toys",
            json!({"name": "Toys", "parent": "mugs"}),
            "category_cycle",
        ),
        (
            "new",
            json!({"name": "New", "parent": "nowhere"}),
            "parent_category_not_found",
        ),
        ("new", json!({"name": "", "parent": null}), "invalid_text"),
        (
            "new",
            json!({"name": "New", "position": -1}),
            "invalid_position",
        ),
    ] {
        let (status, answer) = define(slug, body).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (422, Some(code)),
            "{answer}"
        );
    }
    let (status, answer) = admin
        .send(Method::DELETE, "/admin/categories/toys", None, &[])
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("category_has_children"))
    );
    let (status, _) = admin
        .send(Method::DELETE, "/admin/categories/garden", None, &[])
        .await;
    assert_eq!(status, 200);
    // A seller cannot manage categories.
    let (status, _) = seller
        .send(
            Method::PUT,
            "/admin/categories/mine",
            Some(json!({"name": "Mine"})),
            &[],
        )
        .await;
    assert_eq!(status, 403);
}

/// A customer's wishlist shows each product's current price and stock and flags a price that
/// dropped since it was added; it is theirs alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wishlist_shows_current_prices_and_flags_a_drop() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let (_engine, api, staff) = start(&env).await;
    staff.list("VASE", 3000, 4).await;
    staff.list("BOWL", 1500, 1).await;
    let customer = api.customer().await;
    let items = format!("/customers/{}/wishlist/items", customer.id());
    for sku in ["VASE", "BOWL", "VASE"] {
        customer
            .ok(Method::POST, &items, Some(json!({ "sku": sku })))
            .await;
    }
    let (status, body) = customer.post(&items, json!({"sku": "NOPE"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("product_not_found")),
        "{body}"
    );
    let repriced = staff
        .seller
        .ok(
            Method::PUT,
            "/products/VASE/price",
            Some(json!({"amount_minor": 2500, "currency": "EUR"})),
        )
        .await;
    staff
        .seller
        .ok(
            Method::PUT,
            "/products/BOWL/price",
            Some(json!({"amount_minor": 1800, "currency": "EUR"})),
        )
        .await;
    let archived = staff
        .seller
        .ok(
            Method::POST,
            "/products/BOWL/archival",
            Some(json!({"reason": "out of fashion"})),
        )
        .await;
    assert!(archived["global_position"].as_i64() > repriced["global_position"].as_i64());
    let path = format!("/customers/{}/wishlist", customer.id());
    let list = customer.read_at(&path, &archived["global_position"]).await;
    let items_shown = list["items"].as_array().unwrap();
    assert_eq!(items_shown.len(), 2, "added twice is kept once: {list}");
    let item = |sku: &str| {
        items_shown
            .iter()
            .find(|i| i["sku"] == sku)
            .unwrap()
            .clone()
    };
    let vase = item("VASE");
    assert_eq!(
        (
            &vase["added_price"]["amount_minor"],
            &vase["price"]["amount_minor"],
            &vase["price_dropped"],
            &vase["stock_on_hand"],
            &vase["available"]
        ),
        (
            &json!(3000),
            &json!(2500),
            &json!(true),
            &json!(4),
            &json!(true)
        )
    );
    let bowl = item("BOWL");
    assert_eq!(
        (&bowl["price_dropped"], &bowl["available"]),
        (&json!(false), &json!(false)),
        "dearer now, and archived: {bowl}"
    );
    // Archived products cannot be added; removing works once.
    let other = api.customer().await;
    let (status, body) = other
        .post(
            &format!("/customers/{}/wishlist/items", other.id()),
            json!({"sku": "BOWL"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("product_archived"))
    );
    let remove = format!("{items}/BOWL");
    customer.ok(Method::DELETE, &remove, None).await;
    let (status, body) = customer.send(Method::DELETE, &remove, None, &[]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("item_not_in_wishlist"))
    );
    // Another customer's wishlist looks like one that does not exist.
    let (status, _) = other.get(&path).await;
    assert_eq!(status, 404);
}

/// Only a buyer whose order was delivered reviews a product, once (a second submission edits
/// the review); admins hide a review, which leaves the listing and the rating.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_come_from_buyers_of_delivered_orders_and_admins_hide_them() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let (_engine, api, staff) = start(&env).await;
    staff.list("KETTLE", 4000, 10).await;
    let admin = &staff.admin;
    let review = |who: &Api, rating: i64, text: &str| {
        let path = format!("/customers/{}/reviews/KETTLE", who.id());
        let body = json!({"rating": rating, "text": text});
        let who = who.clone();
        async move { who.send(Method::PUT, &path, Some(body), &[]).await }
    };
    // Delivered through the admin's offline payment, shipment and delivery.
    let deliver = |order: String| async move {
        let path = format!("/orders/{order}");
        admin
            .ok(
                Method::POST,
                &format!("{path}/payment"),
                Some(json!({"amount": {"amount_minor": 4000, "currency": "EUR"}, "payment_reference": "bank-1"})),
            )
            .await;
        admin
            .ok(
                Method::POST,
                &format!("{path}/shipment"),
                Some(json!({"carrier": "DHL", "tracking_number": "K1"})),
            )
            .await;
        admin
            .ok(Method::POST, &format!("{path}/delivery"), None)
            .await
    };

    let stranger = api.customer().await;
    let (status, body) = review(&stranger, 1, "never bought it, hate it").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("review_requires_delivered_order")),
        "{body}"
    );
    let waiting = api.customer().await;
    let order = waiting.buy("KETTLE", 1).await["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = review(&waiting, 5, "looks great so far").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("review_requires_delivered_order")),
        "not delivered yet: {body}"
    );
    let delivered = deliver(order).await;
    // Named explicitly, the order proves the purchase even before the read model has it.
    let (status, body) = waiting
        .send(
            Method::PUT,
            &format!("/customers/{}/reviews/KETTLE", waiting.id()),
            Some(json!({"rating": 5, "text": "Boils fast.", "order_id": delivered["stream_id"].as_str().unwrap().trim_start_matches("order-")})),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let happy = api.customer().await;
    let order = happy.buy("KETTLE", 1).await["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let delivered = deliver(order).await;
    happy
        .read_at(
            &format!("/customers/{}/orders", happy.id()),
            &delivered["global_position"],
        )
        .await;
    assert_eq!(review(&happy, 2, "Loud.").await.0, 200);
    // One review per customer and product: submitting again edits it.
    let (status, edited) = review(&happy, 3, "Loud, but fine.").await;
    assert_eq!(status, 200, "{edited}");
    let (status, body) = review(&happy, 6, "off the scale").await;
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (422, Some("invalid_rating"), Some("rating"))
    );

    let page = api
        .read_at("/products/KETTLE/reviews", &edited["global_position"])
        .await;
    assert_eq!(
        page["rating"],
        json!({"average": 4.0, "count": 2}),
        "{page}"
    );
    let texts: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Loud, but fine.", "Boils fast."]);
    assert!(page["items"][0]["author"].is_string());
    assert!(
        page["items"][0].get("customer_id").is_none(),
        "the public sees no ids"
    );
    let product = api.get("/products/KETTLE").await.1;
    assert_eq!(product["rating"], json!({"average": 4.0, "count": 2}));

    // Hidden by an admin: gone from the listing and the rating, still there for admins.
    let hiding = format!("/products/KETTLE/reviews/{}/hiding", happy.id());
    let hidden = admin
        .ok(Method::POST, &hiding, Some(json!({"reason": "off topic"})))
        .await;
    let page = api
        .read_at("/products/KETTLE/reviews", &hidden["global_position"])
        .await;
    assert_eq!(page["rating"], json!({"average": 5.0, "count": 1}));
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    // Search filters and sorts on the visible rating.
    let skus = |page: Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["sku"].as_str().unwrap().to_owned())
            .collect()
    };
    let rated = api
        .read_at("/products?min_rating=4.5", &hidden["global_position"])
        .await;
    assert_eq!(skus(rated), ["KETTLE"]);
    let best = api
        .read_at("/products?sort=rating", &hidden["global_position"])
        .await;
    assert_eq!(skus(best).first().map(String::as_str), Some("KETTLE"));
    let moderated = admin.get("/products/KETTLE/reviews").await.1;
    let hidden_one = moderated["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["hidden_reason"] == "off topic")
        .expect("admins see hidden reviews");
    assert_eq!(hidden_one["customer_id"], json!(happy.id()));
    let (status, _) = happy
        .send(Method::POST, &hiding, Some(json!({"reason": "x"})), &[])
        .await;
    assert_eq!(status, 403, "customers do not moderate");
    let shown = admin.ok(Method::DELETE, &hiding, None).await;
    let page = api
        .read_at("/products/KETTLE/reviews", &shown["global_position"])
        .await;
    assert_eq!(page["rating"]["count"], 2);
    let rated = api
        .read_at("/products?min_rating=4.5", &shown["global_position"])
        .await;
    assert!(skus(rated).is_empty(), "an average of 4 is below 4.5");
    let rated = api
        .read_at("/products?min_rating=4", &shown["global_position"])
        .await;
    assert_eq!(skus(rated), ["KETTLE"]);
    let (status, body) = admin
        .send(
            Method::POST,
            &format!("/products/KETTLE/reviews/{}/hiding", stranger.id()),
            Some(json!({"reason": "x"})),
            &[],
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("review_not_found"))
    );
}

/// Public catalog reads carry a strong ETag and a short public Cache-Control; a matching
/// If-None-Match gets 304 without a body, and a change gives a new tag. Signed-in callers'
/// answers are private.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_catalog_reads_are_cacheable_and_revalidate_with_etags() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let (_engine, api, staff) = start(&env).await;
    staff.list("PLATE", 900, 3).await;
    // Settled: listed, approved and stocked (a change in between would rightly change a tag).
    common::eventually(
        "the plate to be listed",
        Duration::from_secs(30),
        || async { api.get("/products/PLATE").await.1["stock_on_hand"] == 3 },
    )
    .await;
    let get = |path: &str, tag: Option<&str>, token: Option<&str>| {
        let mut request = api.http.get(format!("{}{path}", api.base));
        if let Some(tag) = tag {
            request = request.header("if-none-match", tag);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap() }
    };
    for path in [
        "/products/PLATE",
        "/products",
        "/categories",
        "/products/PLATE/reviews",
    ] {
        let first = get(path, None, None).await;
        assert_eq!(first.status(), 200, "{path}");
        assert_eq!(
            first.headers()["cache-control"],
            "public, max-age=5",
            "{path}"
        );
        let tag = first.headers()["etag"].to_str().unwrap().to_owned();
        assert!(tag.starts_with('"') && tag.len() > 10, "{path}: {tag}");
        let again = get(path, Some(&tag), None).await;
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(again.headers()["etag"], tag.as_str());
        assert!(again.bytes().await.unwrap().is_empty(), "a 304 has no body");
    }
    let tag = get("/products/PLATE", None, None).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let repriced = staff
        .seller
        .ok(
            Method::PUT,
            "/products/PLATE/price",
            Some(json!({"amount_minor": 950, "currency": "EUR"})),
        )
        .await;
    let path = format!(
        "/products/PLATE?min_position={}",
        repriced["global_position"]
    );
    let changed = get(&path, Some(&tag), None).await;
    assert_eq!(changed.status(), 200, "the product changed");
    assert_ne!(changed.headers()["etag"], tag.as_str());
    let seller = get("/products/PLATE", None, staff.seller.token.as_deref()).await;
    assert_eq!(seller.headers()["cache-control"], "private, no-cache");
}

/// A customer applies to sell; an admin rejects, the customer applies again, the admin verifies
/// at a commission (the account becomes a seller in the same append); the seller lists; a
/// suspension takes the products out of the catalog and makes them impossible to buy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sellers_apply_are_verified_and_suspended_sellers_leave_the_catalog() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let (_engine, api, staff) = start(&env).await;
    let admin = &staff.admin;
    let email = format!("shop-{}@example.org", uuid::Uuid::new_v4().simple());
    let applicant_id = api.register(&email, "applicant password").await;
    let applicant = api.login(&email, "applicant password").await.0;
    let apply = || {
        applicant.send(
            Method::POST,
            "/me/seller-application",
            Some(json!({"store_name": "Teapots & Co", "description": "Teapots."})),
            &[],
        )
    };
    let (status, body) = applicant
        .send(
            Method::POST,
            "/products",
            Some(json!({"sku": "POT-1", "name": "Pot", "category": "kitchen",
                        "price": {"amount_minor": 2000, "currency": "EUR"}})),
            &[],
        )
        .await;
    assert_eq!(status, 403, "not a seller yet: {body}");
    assert_eq!(apply().await.0, 201);
    let seller_path = |what: &str| format!("/admin/sellers/{applicant_id}/{what}");
    let rejected = admin
        .ok(
            Method::POST,
            &seller_path("rejection"),
            Some(json!({"reason": "no return policy"})),
        )
        .await;
    let mine = applicant
        .read_at("/me/seller", &rejected["global_position"])
        .await;
    assert_eq!(
        (mine["status"].as_str(), mine["reason"].as_str()),
        (Some("rejected"), Some("no return policy"))
    );
    let (status, body) = admin
        .send(
            Method::POST,
            &seller_path("suspension"),
            Some(json!({"reason": "x"})),
            &[],
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_seller_transition")),
        "{body}"
    );
    let (_, again) = apply().await;
    let pending = admin
        .read_at("/admin/sellers?status=applied", &again["global_position"])
        .await;
    assert!(pending
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["account_id"] == json!(applicant_id)));
    let (status, body) = admin
        .send(
            Method::POST,
            &seller_path("verification"),
            Some(json!({"commission_bp": 20_000})),
            &[],
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_commission"))
    );
    admin
        .ok(
            Method::POST,
            &seller_path("verification"),
            Some(json!({"commission_bp": 1500})),
        )
        .await;
    // The role came with the verification: the seller lists at once.
    let seller = api.login(&email, "applicant password").await.0;
    let listed = seller
        .ok(
            Method::POST,
            "/products",
            Some(json!({"sku": "POT-1", "name": "Pot", "category": "kitchen",
                        "price": {"amount_minor": 2000, "currency": "EUR"}})),
        )
        .await;
    seller
        .ok(
            Method::POST,
            "/products/POT-1/stock",
            Some(json!({"quantity": 5})),
        )
        .await;
    let approved = staff.approve("POT-1").await;
    assert!(approved["global_position"].as_i64() > listed["global_position"].as_i64());
    let store = api
        .read_at(
            &format!("/sellers/{applicant_id}"),
            &listed["global_position"],
        )
        .await;
    assert_eq!(store["store_name"], "Teapots & Co");
    let changed = admin
        .ok(
            Method::PUT,
            &seller_path("commission"),
            Some(json!({"commission_bp": 1200})),
        )
        .await;
    let mine = seller
        .read_at("/me/seller", &changed["global_position"])
        .await;
    assert_eq!(
        (mine["status"].as_str(), &mine["commission_bp"]),
        (Some("verified"), &json!(1200))
    );

    // One customer has it in the cart; the seller is suspended.
    let customer = api.customer().await;
    let cart = format!("/customers/{}/cart/items", customer.id());
    customer
        .ok(
            Method::POST,
            &cart,
            Some(json!({"sku": "POT-1", "quantity": 1})),
        )
        .await;
    let suspended = admin
        .ok(
            Method::POST,
            &seller_path("suspension"),
            Some(json!({"reason": "counterfeits reported"})),
        )
        .await;
    let listing = api
        .read_at("/products?category=kitchen", &suspended["global_position"])
        .await;
    assert!(
        !listing["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["sku"] == "POT-1"),
        "out of the catalog: {listing}"
    );
    assert_eq!(api.get("/products/POT-1").await.0, 404);
    let own = seller.get("/products/POT-1").await.1;
    assert_eq!(
        own["seller_suspended"], true,
        "the seller still sees it: {own}"
    );
    let (status, body) = customer
        .post(&format!("/customers/{}/orders", customer.id()), json!(null))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("seller_suspended")),
        "{body}"
    );
    let other = api.customer().await;
    let (status, body) = other
        .post(
            &format!("/customers/{}/cart/items", other.id()),
            json!({"sku": "POT-1", "quantity": 1}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("seller_suspended"))
    );
    let (status, body) = seller
        .post(
            "/products",
            json!({"sku": "POT-2", "name": "Pot 2", "category": "kitchen",
                   "price": {"amount_minor": 2000, "currency": "EUR"}}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("seller_suspended"))
    );

    // Reinstated, it sells again.
    let back = admin
        .ok(Method::DELETE, &seller_path("suspension"), None)
        .await;
    api.read_at("/products/POT-1", &back["global_position"])
        .await;
    let placed = customer
        .ok(
            Method::POST,
            &format!("/customers/{}/orders", customer.id()),
            None,
        )
        .await;
    assert!(placed["order_id"].is_string());
}

/// An order of two sellers' products splits into two fulfilments: each seller sees and ships
/// only their own lines; the order is shipped, then delivered, with its last part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_from_two_sellers_is_fulfilled_by_each_of_them() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let (_engine, api, staff) = start(&env).await;
    let (admin, left) = (&staff.admin, &staff.seller);
    staff.list("LEFT", 1000, 5).await;
    // A second seller, through application and verification.
    let email = format!("right-{}@example.org", uuid::Uuid::new_v4().simple());
    let right_id = api.register(&email, "right password").await;
    let applicant = api.login(&email, "right password").await.0;
    applicant
        .ok(
            Method::POST,
            "/me/seller-application",
            Some(json!({"store_name": "Right"})),
        )
        .await;
    admin
        .ok(
            Method::POST,
            &format!("/admin/sellers/{right_id}/verification"),
            Some(json!({"commission_bp": 1000})),
        )
        .await;
    let right = api.login(&email, "right password").await.0;
    right
        .ok(
            Method::POST,
            "/products",
            Some(json!({"sku": "RIGHT", "name": "Right", "category": "test",
                        "price": {"amount_minor": 500, "currency": "EUR"}})),
        )
        .await;
    staff.approve("RIGHT").await;
    right
        .ok(
            Method::POST,
            "/products/RIGHT/stock",
            Some(json!({"quantity": 5})),
        )
        .await;

    let customer = api.customer().await;
    for sku in ["LEFT", "RIGHT"] {
        customer
            .ok(
                Method::POST,
                &format!("/customers/{}/cart/items", customer.id()),
                Some(json!({"sku": sku, "quantity": 1})),
            )
            .await;
    }
    let placed = customer
        .ok(
            Method::POST,
            &format!("/customers/{}/orders", customer.id()),
            None,
        )
        .await;
    let order = placed["order_id"].as_str().unwrap().to_owned();
    let view = customer
        .read_at(&format!("/orders/{order}"), &placed["global_position"])
        .await;
    assert_eq!(view["fulfilments"].as_array().unwrap().len(), 2, "{view}");

    // Each seller sees only their own lines.
    for (seller, sku) in [(left, "LEFT"), (&right, "RIGHT")] {
        let parts = seller.get("/seller/fulfilments?state=unfulfilled").await.1;
        let parts = parts.as_array().unwrap();
        assert_eq!(parts.len(), 1, "{parts:?}");
        assert_eq!(parts[0]["lines"], json!([{"sku": sku, "quantity": 1}]));
        assert_eq!(parts[0]["shipping_address"]["city"], "Springfield");
    }
    let part =
        |seller: uuid::Uuid, what: &str| format!("/orders/{order}/fulfilments/{seller}/{what}");
    let parcel = json!({"carrier": "DHL", "tracking_number": "L1"});
    let (status, body) = left
        .post(&part(left.id(), "shipment"), parcel.clone())
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_payment_transition")),
        "not paid yet: {body}"
    );
    admin
        .ok(
            Method::POST,
            &format!("/orders/{order}/payment"),
            Some(json!({"amount": {"amount_minor": 1500, "currency": "EUR"}, "payment_reference": "bank-9"})),
        )
        .await;
    let (status, _) = left.post(&part(right_id, "shipment"), parcel.clone()).await;
    assert_eq!(
        status, 404,
        "another seller's part looks like no order at all"
    );
    let outsider = Staff::hire(&api, &env).await.seller;
    let (status, _) = outsider
        .post(&part(outsider.id(), "shipment"), parcel.clone())
        .await;
    assert_eq!(status, 404, "a seller with no part in the order");

    let first = left
        .ok(Method::POST, &part(left.id(), "shipment"), Some(parcel))
        .await;
    let view = customer
        .read_at(&format!("/orders/{order}"), &first["global_position"])
        .await;
    assert_eq!(view["status"], "paid", "one part is still to ship: {view}");
    let (status, body) = customer
        .post(
            &format!("/orders/{order}/cancellation"),
            json!({"reason": "too slow"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_fulfilment_transition")),
        "part of it left already"
    );
    let second = right
        .ok(
            Method::POST,
            &part(right_id, "shipment"),
            Some(json!({"carrier": "UPS", "tracking_number": "R1"})),
        )
        .await;
    let view = customer
        .read_at(&format!("/orders/{order}"), &second["global_position"])
        .await;
    assert_eq!(view["status"], "shipped");
    right
        .ok(Method::POST, &part(right_id, "delivery"), None)
        .await;
    let last = left
        .ok(Method::POST, &part(left.id(), "delivery"), None)
        .await;
    let view = customer
        .read_at(&format!("/orders/{order}"), &last["global_position"])
        .await;
    assert_eq!(
        (view["status"].as_str(), view["order_state"].as_str()),
        (Some("delivered"), Some("completed"))
    );
    let carriers: Vec<_> = view["fulfilments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["state"].as_str().unwrap(), f["carrier"].as_str().unwrap()))
        .collect();
    assert!(carriers.contains(&("delivered", "DHL")) && carriers.contains(&("delivered", "UPS")));
}

/// The seller and admin dashboards add up what was sold (cancelled orders left out), and equal
/// themselves after `commerce rebuild dashboards`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_add_up_the_sales_and_equal_a_fresh_rebuild() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let (_engine, api, staff) = start(&env).await;
    let admin = &staff.admin;
    let email = format!("dash-{}@example.org", uuid::Uuid::new_v4().simple());
    let seller_id = api.register(&email, "dash password").await;
    let applicant = api.login(&email, "dash password").await.0;
    applicant
        .ok(
            Method::POST,
            "/me/seller-application",
            Some(json!({"store_name": "Dash"})),
        )
        .await;
    admin
        .ok(
            Method::POST,
            &format!("/admin/sellers/{seller_id}/verification"),
            Some(json!({"commission_bp": 1000})),
        )
        .await;
    let seller = api.login(&email, "dash password").await.0;
    for (sku, price) in [("DASH-A", 1000), ("DASH-B", 500)] {
        seller
            .ok(
                Method::POST,
                "/products",
                Some(json!({"sku": sku, "name": sku, "category": "test",
                            "price": {"amount_minor": price, "currency": "EUR"}})),
            )
            .await;
        staff.approve(sku).await;
        seller
            .ok(
                Method::POST,
                &format!("/products/{sku}/stock"),
                Some(json!({"quantity": 20})),
            )
            .await;
    }
    seller
        .ok(
            Method::PUT,
            "/products/DASH-B/low-stock-threshold",
            Some(json!({"threshold": 19})),
        )
        .await;
    let buy = |lines: Vec<(&'static str, i64)>| {
        let api = api.clone();
        async move {
            let customer = api.customer().await;
            for (sku, quantity) in lines {
                customer
                    .ok(
                        Method::POST,
                        &format!("/customers/{}/cart/items", customer.id()),
                        Some(json!({"sku": sku, "quantity": quantity})),
                    )
                    .await;
            }
            let placed = customer
                .ok(
                    Method::POST,
                    &format!("/customers/{}/orders", customer.id()),
                    None,
                )
                .await;
            (customer, placed)
        }
    };
    let (first, _) = buy(vec![("DASH-A", 2)]).await;
    buy(vec![("DASH-A", 1), ("DASH-B", 1)]).await;
    let (third, placed) = buy(vec![("DASH-B", 1)]).await;
    let cancelled = third
        .ok(
            Method::POST,
            &format!(
                "/orders/{}/cancellation",
                placed["order_id"].as_str().unwrap()
            ),
            Some(json!({"reason": "changed my mind"})),
        )
        .await;

    let mine = seller
        .read_at("/seller/dashboard", &cancelled["global_position"])
        .await;
    assert_eq!(
        mine["revenue"],
        json!([{"amount_minor": 3500, "currency": "EUR"}]),
        "{mine}"
    );
    assert_eq!(
        mine["commission_owed"],
        json!([{"amount_minor": 350, "currency": "EUR"}])
    );
    let units: i64 = mine["sales_per_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["units"].as_i64().unwrap())
        .sum();
    assert_eq!(units, 4, "the cancelled order counts nowhere");
    assert_eq!(mine["top_products"][0]["sku"], "DASH-A");
    assert_eq!(mine["top_products"][0]["units"], 3);
    assert_eq!(
        mine["low_stock"],
        json!([{"sku": "DASH-B", "stock_on_hand": 19, "threshold": 19}])
    );
    let (status, _) = staff
        .seller
        .get(&format!("/seller/dashboard?seller_id={seller_id}"))
        .await;
    assert_eq!(status, 403, "another seller's dashboard");
    for (query, field) in [
        ("from=2026-13-01", "from"),
        ("to=0001-01-01", "to"),
        ("from=-5000-01-01&to=-5000-01-02", "to"),
    ] {
        let (status, body) = seller.get(&format!("/seller/dashboard?{query}")).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some(field)),
            "{query}: {body}"
        );
    }
    let (status, _) = admin.get("/admin/orders?from=99999-01-01").await;
    assert_eq!(status, 400);

    let shop = admin.get("/admin/dashboard").await.1;
    let gmv: i64 = shop["gmv_per_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["revenue_minor"].as_i64().unwrap())
        .sum();
    assert_eq!(gmv, 3500, "{shop}");
    let cancelled_count = shop["orders_by_status"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "cancelled")
        .map(|s| s["count"].clone());
    assert_eq!(cancelled_count, Some(json!(1)));
    assert_eq!(shop["top_sellers"][0]["store_name"], "Dash");
    let theirs = admin
        .get(&format!("/admin/orders?seller_id={seller_id}"))
        .await
        .1;
    assert_eq!(theirs.as_array().unwrap().len(), 3);
    let gone = admin
        .get(&format!(
            "/admin/orders?seller_id={seller_id}&status=cancelled"
        ))
        .await
        .1;
    assert_eq!(gone.as_array().unwrap().len(), 1);
    let one = admin
        .get(&format!("/admin/orders?customer_id={}", first.id()))
        .await
        .1;
    assert_eq!(one.as_array().unwrap().len(), 1);

    // Rebuilt from the log, the dashboards are the same.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_commerce"))
        .args(["rebuild", "dashboards"])
        .envs(env.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(seller.get("/seller/dashboard").await.1, mine);
    assert_eq!(admin.get("/admin/dashboard").await.1, shop);
}
