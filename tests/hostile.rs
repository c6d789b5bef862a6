//! The API tried as a hostile client would: wrong methods, control characters anywhere, values
//! at the edges of their ranges, racing retries, stale tokens. Nothing a client sends may
//! produce a 5xx; every refusal is a problem document with a stable code.

mod common;

use std::time::Duration;

use common::{Api, EngineEnv, Process, Staff, TestDatabase};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

async fn start(db: &TestDatabase) -> (Process, Api, EngineEnv) {
    let env = EngineEnv::embedded(db);
    let mut engine = Process::start("up", &env);
    let api = Api::new(engine.base_url().await);
    (engine, api, env)
}

/// A concrete path for a route pattern (`{param}` replaced by something well-formed).
fn concrete(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| match segment {
            "{sku}" => "NO-SUCH-SKU".to_owned(),
            "{role}" => "seller".to_owned(),
            s if s.starts_with('{') => Uuid::nil().to_string(),
            s => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn code(body: &Value) -> Option<&str> {
    body["code"].as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_methods_answer_405_with_allow_and_head_is_served_like_get() {
    let db = TestDatabase::create().await;
    let (_engine, api, _) = start(&db).await;
    let http = reqwest::Client::new();

    // The cases found by hand.
    for (method, path, allow) in [
        ("PATCH", "/products", "GET, HEAD, POST"),
        ("POST", "/health", "GET, HEAD"),
        ("GET", "/products/MUG/price", "PUT"),
    ] {
        let response = http
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", api.base),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(code(&body), Some("method_not_allowed"));
    }

    // The class: every route, with a method it does not declare, and HEAD on every GET route.
    let specs = api::routes().specs().to_vec();
    for spec in &specs {
        let url = format!("{}{}", api.base, concrete(spec.path));
        let declared: Vec<_> = specs
            .iter()
            .filter(|s| s.path == spec.path)
            .map(|s| s.method.clone())
            .collect();
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
        ] {
            if declared.contains(&method) {
                continue;
            }
            let status = http
                .request(method.clone(), &url)
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, 405, "{method} {}", spec.path);
        }
        if spec.method == Method::GET {
            let get = http.get(&url).send().await.unwrap().status();
            let head = http.head(&url).send().await.unwrap();
            assert_eq!(head.status(), get, "HEAD {}", spec.path);
            assert!(get.as_u16() < 500, "GET {}: {get}", spec.path);
            assert!(head.bytes().await.unwrap().is_empty(), "HEAD has no body");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_and_out_of_range_values_are_client_errors_naming_the_field() {
    let db = TestDatabase::create().await;
    let (_engine, api, env) = start(&db).await;
    let staff = Staff::hire(&api, &env).await;
    staff.list("MUG", 1000, 10).await;
    let customer = api.customer().await;
    let placed = customer.buy("MUG", 1).await;
    let order = placed["order_id"].as_str().unwrap().to_owned();

    let product = |field: &str, value: &str| {
        let mut body = json!({"sku": format!("P-{}", Uuid::new_v4().simple()), "name": "Name",
            "description": "", "category": "kitchen",
            "price": {"amount_minor": 100, "currency": "EUR"}});
        body[field] = json!(value);
        body
    };
    let nasty = [
        "nul\u{0}inside",
        "bell\u{7}",
        "esc\u{1b}[2J",
        "\u{200b}\u{200b}\u{200b}",
        "\u{202e}reversed",
    ];
    for value in nasty {
        for field in ["name", "category", "description"] {
            if field == "description" && value.starts_with('\u{200b}') {
                continue; // an empty-looking description is allowed
            }
            let (status, body) = staff.seller.post("/products", product(field, value)).await;
            // A category is named by its slug, which has a stricter rule of its own.
            let expected = if field == "category" {
                "invalid_category"
            } else {
                "invalid_text"
            };
            assert_eq!(
                (status, code(&body)),
                (422, Some(expected)),
                "{field}={value:?}: {body}"
            );
            assert_eq!(body["field"], field);
        }
        let cases = [
            (
                &staff.admin,
                format!("/orders/{order}/payment"),
                json!({"amount": {"amount_minor": 1000, "currency": "EUR"}, "payment_reference": value}),
                "payment_reference",
            ),
            (
                &customer,
                format!("/orders/{order}/cancellation"),
                json!({"reason": value}),
                "reason",
            ),
            (
                &staff.admin,
                format!("/orders/{order}/shipment"),
                json!({"carrier": value, "tracking_number": "T1"}),
                "carrier",
            ),
            (
                &staff.admin,
                format!("/orders/{order}/shipment"),
                json!({"carrier": "DHL", "tracking_number": value}),
                "tracking_number",
            ),
            (
                &customer,
                "/me/profile".to_owned(),
                json!({"display_name": value}),
                "display_name",
            ),
        ];
        for (who, path, body, field) in cases {
            let method = if path == "/me/profile" {
                Method::PUT
            } else {
                Method::POST
            };
            let (status, answer) = who.send(method, &path, Some(body), &[]).await;
            assert_eq!(
                (status, code(&answer), answer["field"].as_str()),
                (422, Some("invalid_text"), Some(field)),
                "{path} {field}={value:?}: {answer}"
            );
        }
        let (status, body) = api
            .post(
                "/auth/register",
                json!({"email": format!("{}@example.org", Uuid::new_v4().simple()),
                "display_name": value, "password": "long enough password"}),
            )
            .await;
        assert_eq!((status, code(&body)), (422, Some("invalid_text")), "{body}");
    }

    // Identifiers: SKUs that are path segments, currencies that are not ISO 4217.
    for sku in [".", "..", "-"] {
        let mut body = product("name", "Dots");
        body["sku"] = json!(sku);
        let (status, answer) = staff.seller.post("/products", body).await;
        assert_eq!((status, code(&answer)), (422, Some("invalid_sku")), "{sku}");
    }
    for currency in ["XXQ", "XXX", "eur"] {
        let mut body = product("name", "Money");
        body["price"]["currency"] = json!(currency);
        let (status, answer) = staff.seller.post("/products", body).await;
        assert_eq!(
            (status, code(&answer)),
            (422, Some("invalid_currency")),
            "{currency}"
        );
    }

    // Paths and query strings: decoded control characters never reach the database.
    for (path, expected) in [
        ("/products/%00", "invalid_path"),
        ("/products/MUG%00", "invalid_path"),
        ("/products?category=%00", "invalid_query"),
        ("/products?category=kit%07chen", "invalid_query"),
    ] {
        let (status, body) = api.get(path).await;
        assert!((400..500).contains(&status), "{path}: {status} {body}");
        assert_eq!(code(&body), Some(expected), "{path}: {body}");
    }
    let (status, body) = customer
        .get(&format!("/customers/{}/cart/items/%00", customer.id()))
        .await;
    assert!((400..500).contains(&status), "{status} {body}");
    // A cursor far outside any time an order was placed.
    for cursor in [
        "9223372036854775807.00000000000000000000000000000000",
        "-62135596800000001.0",
    ] {
        let (status, body) = customer
            .get(&format!(
                "/customers/{}/orders?after={cursor}",
                customer.id()
            ))
            .await;
        assert_eq!(
            (status, code(&body)),
            (400, Some("invalid_cursor")),
            "{cursor}: {body}"
        );
    }
    let far = format!(
        "/customers/{}/orders?after=253402300800000000.{}",
        customer.id(),
        Uuid::nil().simple()
    );
    assert_eq!(code(&customer.get(&far).await.1), Some("invalid_cursor"));

    // Nothing above was written: the log holds the set-up only.
    let (types,): (Vec<String>,) =
        sqlx::query_as("select coalesce(array_agg(distinct event_type), '{}') from events")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(
        !types
            .iter()
            .any(|t| t == "OrderPaid" || t == "OrderShipped" || t == "OrderCancelled"),
        "{types:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_with_control_bytes_gets_a_problem_document() {
    let db = TestDatabase::create().await;
    let (_engine, api, _) = start(&db).await;
    let address = api.base.trim_start_matches("http://").to_owned();
    for request in [
        "GET /me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer abc\x01def\r\nConnection: close\r\n\r\n",
        "GET /me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x7f\r\nConnection: close\r\n\r\n",
    ] {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
            .await
            .expect("the server answers")
            .unwrap();
        let text = String::from_utf8_lossy(&raw).to_lowercase();
        assert!(text.starts_with("http/1.1 401"), "{text}");
        assert!(text.contains("content-type: application/problem+json"), "{text}");
        assert!(text.contains("\"code\":\"unauthenticated\""), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_of_one_checkout_all_get_the_order() {
    let db = TestDatabase::create().await;
    let (_engine, api, env) = start(&db).await;
    let staff = Staff::hire(&api, &env).await;
    staff.list("LAMP", 2500, 3).await;
    for round in 0..3 {
        let customer = api.customer().await;
        customer
            .ok(
                Method::POST,
                &format!("/customers/{}/cart/items", customer.id()),
                Some(json!({"sku": "LAMP", "quantity": 1})),
            )
            .await;
        let key = format!("retry-{round}");
        let answers = futures::future::join_all((0..10).map(|_| {
            let customer = customer.clone();
            let key = key.clone();
            tokio::spawn(async move {
                customer
                    .send(
                        Method::POST,
                        &format!("/customers/{}/orders", customer.id()),
                        None,
                        &[("idempotency-key", &key)],
                    )
                    .await
            })
        }))
        .await;
        let answers: Vec<(u16, Value)> = answers.into_iter().map(Result::unwrap).collect();
        for (status, body) in &answers {
            assert!(*status == 200 || *status == 201, "{status}: {body}");
        }
        let created = answers.iter().filter(|(s, _)| *s == 201).count();
        assert_eq!(created, 1, "{answers:?}");
        let order = &answers[0].1["order_id"];
        assert!(
            answers.iter().all(|(_, b)| &b["order_id"] == order),
            "{answers:?}"
        );
    }
    let (reserved,): (i64,) =
        sqlx::query_as("select count(*) from events where event_type = 'StockReserved'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(reserved, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_an_account_or_revoking_a_role_takes_effect_on_the_next_request() {
    let db = TestDatabase::create().await;
    let (_engine, api, env) = start(&db).await;
    let staff = Staff::hire(&api, &env).await;
    staff.list("PEN", 150, 10).await;

    // A second instance against the same database sees the change as well.
    let mut other = Process::start("serve", &env);
    let other_base = other.base_url().await;

    let customer = api.customer().await;
    customer.ok(Method::DELETE, "/me", None).await;
    for base in [&api.base, &other_base] {
        let mut stale = customer.clone();
        stale.base = base.clone();
        let (status, body) = stale
            .send(
                Method::POST,
                &format!("/customers/{}/cart/items", customer.id()),
                Some(json!({"sku": "PEN", "quantity": 1})),
                &[],
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (401, Some("invalid_token")),
            "{body}"
        );
        let (status, _) = stale
            .post(&format!("/customers/{}/orders", customer.id()), json!(null))
            .await;
        assert_eq!(status, 401);
    }

    let seller_id = staff.seller.id();
    staff
        .admin
        .ok(
            Method::DELETE,
            &format!("/admin/accounts/{seller_id}/roles/seller"),
            None,
        )
        .await;
    for base in [&api.base, &other_base] {
        let mut stale = staff.seller.clone();
        stale.base = base.clone();
        let (status, body) = stale
            .post(
                "/products",
                json!({"sku": format!("S-{}", Uuid::new_v4().simple()),
                "name": "Late", "category": "c", "price": {"amount_minor": 1, "currency": "EUR"}}),
            )
            .await;
        assert_eq!((status, code(&body)), (403, Some("forbidden")), "{body}");
        let (status, _) = stale
            .send(
                Method::POST,
                "/products/PEN/stock",
                Some(json!({"quantity": 5})),
                &[],
            )
            .await;
        assert_eq!(status, 403);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_cannot_shop_for_customers_that_do_not_exist() {
    let db = TestDatabase::create().await;
    let (_engine, api, env) = start(&db).await;
    let staff = Staff::hire(&api, &env).await;
    staff.list("CUP", 300, 10).await;
    let nobody = Uuid::new_v4();
    let (status, body) = staff
        .admin
        .post(
            &format!("/customers/{nobody}/cart/items"),
            json!({"sku": "CUP", "quantity": 1}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (404, Some("customer_not_found")),
        "{body}"
    );
    let (status, body) = staff
        .admin
        .send(
            Method::POST,
            &format!("/customers/{nobody}/orders"),
            None,
            &[],
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (404, Some("customer_not_found")),
        "{body}"
    );
    let (count,): (i64,) = sqlx::query_as("select count(*) from events where stream_id = $1")
        .bind(format!("cart-{nobody}"))
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_whose_sum_overflows_has_no_subtotal() {
    let db = TestDatabase::create().await;
    let (_engine, api, env) = start(&db).await;
    let staff = Staff::hire(&api, &env).await;
    staff.list("GOLD", i64::MAX, 1).await;
    staff.list("DUST", 1, 1).await;
    let customer = api.customer().await;
    let mut last = Value::Null;
    for sku in ["GOLD", "DUST"] {
        last = customer
            .ok(
                Method::POST,
                &format!("/customers/{}/cart/items", customer.id()),
                Some(json!({"sku": sku, "quantity": 1})),
            )
            .await;
    }
    let cart = customer
        .read_at(
            &format!("/customers/{}/cart", customer.id()),
            &last["global_position"],
        )
        .await;
    assert_eq!(cart["lines"].as_array().unwrap().len(), 2);
    assert_eq!(cart["lines"][0]["line_total"]["amount_minor"], i64::MAX);
    assert_eq!(cart["subtotal"], Value::Null, "{cart}");
}
