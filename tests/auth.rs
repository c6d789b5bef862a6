//! Accounts and access on the real engine: registration races, tokens, every route's access
//! rule, ownership, rate limits, login failures that reveal nothing, and credentials that
//! never leave the credentials table.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{create_admin, read_topic, Api, EngineEnv, Process, Staff, TestDatabase};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

async fn start(env: &EngineEnv) -> (Process, Api) {
    start_role("serve", env).await
}

async fn start_role(role: &str, env: &EngineEnv) -> (Process, Api) {
    let mut engine = Process::start(role, env);
    let api = Api::new(engine.base_url().await);
    (engine, api)
}

fn email() -> String {
    format!("u-{}@example.org", Uuid::new_v4().simple())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_with_one_email_admit_exactly_one() {
    let db = TestDatabase::create().await;
    let (_engine, api) = start(&EngineEnv::embedded(&db)).await;
    let local = Uuid::new_v4().simple().to_string();
    let attempts = (0..12).map(|i| {
        let api = api.clone();
        // The same address, written differently.
        let address = if i % 2 == 0 {
            format!("{local}@Example.org")
        } else {
            format!(" {}@EXAMPLE.ORG ", local.to_uppercase())
        };
        tokio::spawn(async move {
            api.post(
                "/auth/register",
                json!({"email": address, "display_name": "Racer", "password": "race password"}),
            )
            .await
        })
    });
    let results: Vec<(u16, Value)> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let taken = results
        .iter()
        .filter(|(s, b)| *s == 422 && b["code"] == "email_taken")
        .count();
    assert_eq!((created, taken), (1, 11), "{results:?}");
    // The email is sealed in the events; its claim stream is named by its SHA-256.
    let (registered,): (i64,) = sqlx::query_as(
        "select count(*) from events where event_type = 'EmailClaimed'
         and stream_id = 'email-' || encode(sha256(convert_to($1, 'UTF8')), 'hex')",
    )
    .bind(format!("{local}@example.org"))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(registered, 1);
    // The winner can log in; registration never grants more than the customer role.
    let (me, tokens) = api
        .login(&format!("{local}@example.org"), "race password")
        .await;
    assert_eq!(tokens["roles"], json!(["customer"]));
    assert_eq!(me.get("/me").await.1["roles"], json!(["customer"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_enforces_the_password_policy_and_valid_emails() {
    let db = TestDatabase::create().await;
    let (_engine, api) = start(&EngineEnv::embedded(&db)).await;
    let address = email();
    for (email, password, code) in [
        (address.as_str(), "short", "weak_password"),
        (
            address.as_str(),
            address.to_uppercase().as_str(),
            "weak_password",
        ),
        ("not-an-email", "long enough password", "invalid_email"),
    ] {
        let (status, body) = api
            .post(
                "/auth/register",
                json!({"email": email, "display_name": "X", "password": password}),
            )
            .await;
        assert_eq!((status, body["code"].as_str()), (422, Some(code)), "{body}");
    }
    let (events,): (i64,) = sqlx::query_as("select count(*) from events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(events, 0, "refused registrations change nothing");
}

/// A token signed with the engine's key, but already expired.
fn expired_token(env: &EngineEnv, sub: Uuid) -> String {
    let keys = auth::jwt::JwtKeys::new(
        env.get("JWT_SECRET").unwrap().as_bytes().to_vec(),
        Duration::from_secs(900),
    );
    keys.issue(
        sub,
        vec![domain::account::Role::Admin],
        chrono::Utc::now().timestamp() - 3600,
    )
    .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tampered_and_unsigned_tokens_are_refused() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let (_engine, api) = start(&env).await;
    let customer = api.customer().await;
    assert_eq!(customer.get("/me").await.0, 200);
    let token = customer.token.clone().unwrap();
    let parts: Vec<&str> = token.split('.').collect();

    let escalated = {
        let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let claims = claims.replace("\"customer\"", "\"admin\"");
        format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(claims),
            parts[2]
        )
    };
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(
            String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap())
                .unwrap()
                .replace("\"customer\"", "\"admin\"")
        )
    );
    let foreign = auth::jwt::JwtKeys::new(
        b"some other key of thirty-two bytes!".to_vec(),
        Duration::from_secs(900),
    )
    .issue(
        customer.id(),
        vec![domain::account::Role::Admin],
        chrono::Utc::now().timestamp(),
    )
    .0;
    for (name, bad) in [
        ("expired", expired_token(&env, customer.id())),
        ("tampered", escalated),
        ("alg none", unsigned),
        ("other key", foreign),
        ("garbage", "abc".to_owned()),
    ] {
        let mut forged = Api::new(api.base.clone());
        forged.token = Some(bad);
        for path in ["/me", "/admin/accounts", "/products"] {
            let (status, body) = forged.get(path).await;
            assert_eq!(
                (status, body["code"].as_str()),
                (401, Some("invalid_token")),
                "{name} {path}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let db = TestDatabase::create().await;
    let (_engine, api) = start(&EngineEnv::embedded(&db)).await;
    let address = email();
    api.register(&address, "refresh password").await;
    let (_, first) = api.login(&address, "refresh password").await;
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(first["expires_in"], 900, "access tokens live 15 minutes");

    let (status, second) = api
        .post("/auth/refresh", json!({"refresh_token": r1}))
        .await;
    assert_eq!(status, 200, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2, "rotated");
    let mut renewed = Api::new(api.base.clone());
    renewed.token = second["access_token"].as_str().map(str::to_owned);
    assert_eq!(renewed.get("/me").await.0, 200);

    // The rotated token comes back: theft assumed, the whole family dies.
    let (status, body) = api
        .post("/auth/refresh", json!({"refresh_token": r1}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("refresh_token_reused"))
    );
    let (status, body) = api
        .post("/auth/refresh", json!({"refresh_token": r2}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_refresh_token"))
    );

    // Logout revokes; only hashes are stored.
    let (_, third) = api.login(&address, "refresh password").await;
    let r3 = third["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        api.post("/auth/logout", json!({"refresh_token": r3}))
            .await
            .0,
        204
    );
    assert_eq!(
        api.post("/auth/refresh", json!({"refresh_token": r3}))
            .await
            .0,
        401
    );
    let (plain,): (i64,) = sqlx::query_as(
        "select count(*) from refresh_tokens where encode(token_hash, 'escape') like '%' || $1 || '%'",
    )
    .bind(&r3)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(plain, 0);

    // A password change ends every session and retires the old password.
    let (session, tokens) = api.login(&address, "refresh password").await;
    let r4 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = session
        .send(
            Method::PUT,
            "/me/password",
            Some(json!({"current_password": "wrong", "new_password": "another password"})),
            &[],
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_current_password"))
    );
    session
        .ok(
            Method::PUT,
            "/me/password",
            Some(
                json!({"current_password": "refresh password", "new_password": "another password"}),
            ),
        )
        .await;
    assert_eq!(
        api.post("/auth/refresh", json!({"refresh_token": r4}))
            .await
            .0,
        401
    );
    let (status, _) = api
        .post(
            "/auth/login",
            json!({"email": address, "password": "refresh password"}),
        )
        .await;
    assert_eq!(status, 401);
    api.login(&address, "another password").await;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Anonymous,
    Customer,
    Seller,
    Admin,
    Auditor,
}
use Who::*;

const EVERYONE: &[Who] = &[Anonymous, Customer, Seller, Admin, Auditor];
const SIGNED_IN: &[Who] = &[Customer, Seller, Admin, Auditor];
const CUSTOMER_OR_ADMIN: &[Who] = &[Customer, Admin];
const SELLER_OR_ADMIN: &[Who] = &[Seller, Admin];
const ADMIN: &[Who] = &[Admin];
const ORDER_READERS: &[Who] = &[Customer, Admin, Auditor];
const AUDITOR_OR_ADMIN: &[Who] = &[Admin, Auditor];

/// Who may call each route. A route the API has and this table lacks fails the test, so every
/// new route needs a decision here.
const ACCESS: &[(&str, &str, &[Who])] = &[
    ("POST", "/auth/register", EVERYONE),
    ("POST", "/auth/login", EVERYONE),
    ("POST", "/auth/refresh", EVERYONE),
    ("POST", "/auth/logout", EVERYONE),
    ("GET", "/health", EVERYONE),
    ("GET", "/", EVERYONE),
    ("GET", "/seller", EVERYONE),
    ("GET", "/admin", EVERYONE),
    ("GET", "/assets/{file}", EVERYONE),
    ("GET", "/health/live", EVERYONE),
    ("GET", "/health/ready", EVERYONE),
    ("GET", "/openapi.json", EVERYONE),
    ("GET", "/docs", EVERYONE),
    ("GET", "/docs/{asset}", EVERYONE),
    ("GET", "/products", EVERYONE),
    ("GET", "/products/{sku}", EVERYONE),
    ("GET", "/me", SIGNED_IN),
    ("PUT", "/me/profile", SIGNED_IN),
    ("PUT", "/me/password", SIGNED_IN),
    ("POST", "/products", SELLER_OR_ADMIN),
    ("PUT", "/products/{sku}/price", SELLER_OR_ADMIN),
    ("POST", "/products/{sku}/stock", SELLER_OR_ADMIN),
    ("PUT", "/products/{sku}", SELLER_OR_ADMIN),
    ("POST", "/products/{sku}/stock/adjustments", SELLER_OR_ADMIN),
    (
        "PUT",
        "/products/{sku}/low-stock-threshold",
        SELLER_OR_ADMIN,
    ),
    ("POST", "/products/{sku}/archival", SELLER_OR_ADMIN),
    ("DELETE", "/products/{sku}/archival", SELLER_OR_ADMIN),
    ("GET", "/seller/products", SELLER_OR_ADMIN),
    ("GET", "/categories", EVERYONE),
    ("GET", "/seller/dashboard", SELLER_OR_ADMIN),
    ("GET", "/admin/dashboard", ADMIN),
    ("GET", "/admin/orders", ADMIN),
    ("GET", "/seller/fulfilments", SELLER_OR_ADMIN),
    (
        "POST",
        "/orders/{order_id}/fulfilments/{seller_id}/shipment",
        SELLER_OR_ADMIN,
    ),
    (
        "POST",
        "/orders/{order_id}/fulfilments/{seller_id}/delivery",
        SELLER_OR_ADMIN,
    ),
    ("GET", "/admin/product-approvals", ADMIN),
    ("POST", "/admin/products/{sku}/approval", ADMIN),
    ("POST", "/admin/products/{sku}/rejection", ADMIN),
    ("GET", "/me/seller", SIGNED_IN),
    ("GET", "/sellers/{account_id}", EVERYONE),
    ("GET", "/admin/sellers", ADMIN),
    ("POST", "/admin/sellers/{account_id}/verification", ADMIN),
    ("POST", "/admin/sellers/{account_id}/rejection", ADMIN),
    ("PUT", "/admin/sellers/{account_id}/commission", ADMIN),
    ("POST", "/admin/sellers/{account_id}/suspension", ADMIN),
    ("DELETE", "/admin/sellers/{account_id}/suspension", ADMIN),
    ("GET", "/products/{sku}/reviews", EVERYONE),
    (
        "PUT",
        "/customers/{customer_id}/reviews/{sku}",
        CUSTOMER_OR_ADMIN,
    ),
    (
        "POST",
        "/products/{sku}/reviews/{customer_id}/hiding",
        ADMIN,
    ),
    (
        "DELETE",
        "/products/{sku}/reviews/{customer_id}/hiding",
        ADMIN,
    ),
    (
        "GET",
        "/customers/{customer_id}/wishlist",
        CUSTOMER_OR_ADMIN,
    ),
    (
        "POST",
        "/customers/{customer_id}/wishlist/items",
        CUSTOMER_OR_ADMIN,
    ),
    (
        "DELETE",
        "/customers/{customer_id}/wishlist/items/{sku}",
        CUSTOMER_OR_ADMIN,
    ),
    ("PUT", "/admin/categories/{slug}", ADMIN),
    ("DELETE", "/admin/categories/{slug}", ADMIN),
    ("GET", "/customers/{customer_id}/cart", CUSTOMER_OR_ADMIN),
    (
        "POST",
        "/customers/{customer_id}/cart/items",
        CUSTOMER_OR_ADMIN,
    ),
    (
        "PUT",
        "/customers/{customer_id}/cart/items/{sku}",
        CUSTOMER_OR_ADMIN,
    ),
    (
        "DELETE",
        "/customers/{customer_id}/cart/items/{sku}",
        CUSTOMER_OR_ADMIN,
    ),
    ("DELETE", "/customers/{customer_id}/cart", CUSTOMER_OR_ADMIN),
    ("POST", "/customers/{customer_id}/orders", CUSTOMER_OR_ADMIN),
    (
        "GET",
        "/customers/{customer_id}/addresses",
        CUSTOMER_OR_ADMIN,
    ),
    (
        "POST",
        "/customers/{customer_id}/addresses",
        CUSTOMER_OR_ADMIN,
    ),
    (
        "PUT",
        "/customers/{customer_id}/addresses/{address_id}",
        CUSTOMER_OR_ADMIN,
    ),
    (
        "DELETE",
        "/customers/{customer_id}/addresses/{address_id}",
        CUSTOMER_OR_ADMIN,
    ),
    (
        "PUT",
        "/customers/{customer_id}/addresses/{address_id}/default",
        CUSTOMER_OR_ADMIN,
    ),
    ("GET", "/customers/{customer_id}/orders", CUSTOMER_OR_ADMIN),
    ("GET", "/orders/{order_id}", ORDER_READERS),
    ("GET", "/orders/{order_id}/history", ORDER_READERS),
    ("GET", "/audit/verify", AUDITOR_OR_ADMIN),
    ("GET", "/events/schemas", EVERYONE),
    ("POST", "/orders/{order_id}/payment", ADMIN),
    (
        "POST",
        "/orders/{order_id}/payment-session",
        CUSTOMER_OR_ADMIN,
    ),
    ("POST", "/orders/{order_id}/refunds", ADMIN),
    ("GET", "/admin/reconciliation", ADMIN),
    ("GET", "/pricing", EVERYONE),
    (
        "POST",
        "/customers/{customer_id}/checkout/preview",
        CUSTOMER_OR_ADMIN,
    ),
    ("PUT", "/admin/tax-rates/{country}/{category}", ADMIN),
    ("DELETE", "/admin/tax-rates/{country}/{category}", ADMIN),
    ("PUT", "/admin/shipping-methods/{method_id}", ADMIN),
    ("DELETE", "/admin/shipping-methods/{method_id}", ADMIN),
    ("POST", "/orders/{order_id}/returns", CUSTOMER_OR_ADMIN),
    (
        "POST",
        "/orders/{order_id}/returns/{return_id}/acceptance",
        ADMIN,
    ),
    (
        "POST",
        "/orders/{order_id}/returns/{return_id}/refusal",
        ADMIN,
    ),
    // Signed by the provider, not by a token: every caller without the signature gets 401.
    ("POST", "/webhooks/razorpay", EVERYONE),
    ("POST", "/orders/{order_id}/cancellation", CUSTOMER_OR_ADMIN),
    ("POST", "/orders/{order_id}/shipment", ADMIN),
    ("POST", "/orders/{order_id}/delivery", ADMIN),
    ("GET", "/me/wallet", SIGNED_IN),
    ("GET", "/admin/accounts/{account_id}/wallet", ADMIN),
    ("POST", "/admin/accounts/{account_id}/wallet/grants", ADMIN),
    (
        "POST",
        "/admin/accounts/{account_id}/wallet/withdrawals",
        ADMIN,
    ),
    ("GET", "/admin/accounts", ADMIN),
    ("GET", "/admin/accounts/{account_id}", ADMIN),
    ("PUT", "/admin/accounts/{account_id}/roles/{role}", ADMIN),
    ("DELETE", "/admin/accounts/{account_id}/roles/{role}", ADMIN),
    ("GET", "/admin/projections", ADMIN),
    ("POST", "/admin/projections/rebuild", ADMIN),
    // After every other row naming the bystander: it erases them.
    ("POST", "/admin/accounts/{account_id}/erasure", ADMIN),
    ("POST", "/me/seller-application", SIGNED_IN),
    // Last: it closes the caller's account.
    ("DELETE", "/me", SIGNED_IN),
];

#[test]
fn every_route_has_an_entry_in_the_access_table() {
    let routes: BTreeSet<(String, String)> = api::routes()
        .specs()
        .iter()
        .map(|s| (s.method.to_string(), s.path.to_owned()))
        .collect();
    let table: BTreeSet<(String, String)> = ACCESS
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(routes, table, "routes and the access table differ");
    assert_eq!(
        table.len(),
        ACCESS.len(),
        "duplicate rows in the access table"
    );
}

/// An account holding exactly one role (registration's customer role removed where needed).
async fn only_role(api: &Api, admin: &Api, role: &str) -> Api {
    let address = email();
    let id = api.register(&address, "role password").await;
    if role != "customer" {
        admin
            .ok(
                Method::PUT,
                &format!("/admin/accounts/{id}/roles/{role}"),
                None,
            )
            .await;
        admin
            .ok(
                Method::DELETE,
                &format!("/admin/accounts/{id}/roles/customer"),
                None,
            )
            .await;
    }
    api.login(&address, "role password").await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_admits_exactly_the_roles_it_declares() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let (_engine, api) = start(&env).await;
    let (admin_email, admin_password) = create_admin(&env).await;
    let (admin, _) = api.login(&admin_email, &admin_password).await;
    common::define_categories(&admin).await;
    let customer = only_role(&api, &admin, "customer").await;
    customer.add_address().await;
    let seller = only_role(&api, &admin, "seller").await;
    let auditor = only_role(&api, &admin, "auditor").await;
    let bystander = api.register(&email(), "bystander password").await;

    // Something to point at: the seller's product and the customer's order.
    seller
        .ok(
            Method::POST,
            "/products",
            Some(json!({"sku": "TBL-1", "name": "T", "category": "c",
            "price": {"amount_minor": 100, "currency": "EUR"}})),
        )
        .await;
    admin
        .ok(Method::POST, "/admin/products/TBL-1/approval", None)
        .await;
    seller
        .ok(
            Method::POST,
            "/products/TBL-1/stock",
            Some(json!({"quantity": 100})),
        )
        .await;
    customer
        .ok(
            Method::POST,
            &format!("/customers/{}/cart/items", customer.id()),
            Some(json!({"sku": "TBL-1", "quantity": 1})),
        )
        .await;
    let order = customer
        .ok(
            Method::POST,
            &format!("/customers/{}/orders", customer.id()),
            None,
        )
        .await["order_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let anonymous = api.clone();
    let callers = [
        (Anonymous, &anonymous),
        (Customer, &customer),
        (Seller, &seller),
        (Admin, &admin),
        (Auditor, &auditor),
    ];
    let mut checked = 0;
    for (method, pattern, allowed) in ACCESS {
        for (who, caller) in callers {
            let own_id = caller.account_id.unwrap_or_else(Uuid::now_v7);
            let path = pattern
                .replace("{customer_id}", &own_id.to_string())
                .replace("{order_id}", &order)
                .replace("{sku}", "TBL-1")
                .replace("{account_id}", &bystander.to_string())
                .replace("{address_id}", &Uuid::nil().to_string())
                .replace("{return_id}", &Uuid::nil().to_string())
                .replace("{country}", "DE")
                .replace("{category}", "standard")
                .replace("{method_id}", "standard")
                .replace("{role}", "auditor")
                .replace("{slug}", "no-such-category")
                .replace("{seller_id}", &own_id.to_string());
            let method: Method = method.parse().unwrap();
            let body = matches!(method, Method::POST | Method::PUT).then(|| json!({}));
            let (status, response) = caller.send(method.clone(), &path, body, &[]).await;
            if *pattern == "/webhooks/razorpay" {
                assert_eq!(
                    (status, response["code"].as_str()),
                    (401, Some("invalid_signature"))
                );
                checked += 1;
                continue;
            }
            if allowed.contains(&who) {
                assert!(
                    status != 401 && status != 403,
                    "{who:?} should pass {method} {pattern}, got {status} {response}"
                );
            } else {
                let expected = if who == Anonymous { 401 } else { 403 };
                assert_eq!(
                    status, expected,
                    "{who:?} on {method} {pattern}: {response}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, ACCESS.len() * 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_peoples_carts_orders_and_products_are_out_of_reach() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db);
    let (_engine, api) = start_role("up", &env).await;
    let staff = Staff::hire(&api, &env).await;
    staff.list("OWN-1", 100, 5).await;
    let alice = api.customer().await;
    let mallory = api.customer().await;
    let placed = alice.buy("OWN-1", 1).await;
    let order = placed["order_id"].as_str().unwrap();
    let position = placed["global_position"].as_i64().unwrap();

    // Alice's order looks to Mallory exactly like an order that does not exist.
    let theirs = mallory
        .get(&format!("/orders/{order}?min_position={position}"))
        .await;
    let missing = mallory.get(&format!("/orders/{}", Uuid::now_v7())).await;
    assert_eq!(theirs.0, 404);
    assert_eq!(theirs.1["code"], missing.1["code"]);
    assert_eq!(theirs.1["detail"], missing.1["detail"]);
    for (method, path, body) in [
        (Method::GET, format!("/customers/{}/cart", alice.id()), None),
        (
            Method::GET,
            format!("/customers/{}/orders", alice.id()),
            None,
        ),
        (
            Method::POST,
            format!("/customers/{}/cart/items", alice.id()),
            Some(json!({"sku": "OWN-1", "quantity": 1})),
        ),
        (
            Method::POST,
            format!("/customers/{}/orders", alice.id()),
            None,
        ),
        (
            Method::POST,
            format!("/orders/{order}/payment-session"),
            None,
        ),
        (
            Method::POST,
            format!("/orders/{order}/cancellation"),
            Some(json!({"reason": "spite"})),
        ),
    ] {
        let (status, body) = mallory.send(method.clone(), &path, body, &[]).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
    }
    // The admin can see it, and Alice still can.
    assert_eq!(
        staff
            .admin
            .get(&format!("/orders/{order}?min_position={position}"))
            .await
            .0,
        200
    );
    assert_eq!(
        alice
            .get(&format!("/orders/{order}?min_position={position}"))
            .await
            .0,
        200
    );

    // Another seller may not touch this seller's product (products are public: 403).
    let rival = only_role(&api, &staff.admin, "seller").await;
    let (status, body) = rival
        .send(
            Method::PUT,
            "/products/OWN-1/price",
            Some(json!({"amount_minor": 1, "currency": "EUR"})),
            &[],
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    let (status, _) = rival
        .send(
            Method::POST,
            "/products/OWN-1/stock",
            Some(json!({"quantity": 1})),
            &[],
        )
        .await;
    assert_eq!(status, 403);
    for (method, path, body) in [
        (
            Method::PUT,
            "/products/OWN-1",
            Some(json!({"name": "Mine now", "category": "loot"})),
        ),
        (
            Method::POST,
            "/products/OWN-1/stock/adjustments",
            Some(json!({"change": -1, "reason": "theft"})),
        ),
        (
            Method::PUT,
            "/products/OWN-1/low-stock-threshold",
            Some(json!({"threshold": 1})),
        ),
        (
            Method::POST,
            "/products/OWN-1/archival",
            Some(json!({"reason": "spite"})),
        ),
        (Method::DELETE, "/products/OWN-1/archival", None),
    ] {
        let (status, body) = rival.send(method.clone(), path, body, &[]).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
    }
    let (status, _) = rival
        .get(&format!("/seller/products?seller_id={}", staff.seller.id()))
        .await;
    assert_eq!(status, 403, "a seller sees only their own products");
    let (status, _) = rival
        .send(
            Method::PUT,
            "/products/NOPE/price",
            Some(json!({"amount_minor": 1, "currency": "EUR"})),
            &[],
        )
        .await;
    assert_eq!(status, 404);
    // An admin cannot lock themselves out.
    let (status, body) = staff
        .admin
        .send(
            Method::DELETE,
            &format!("/admin/accounts/{}/roles/admin", staff.admin.id()),
            None,
            &[],
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("cannot_revoke_own_admin"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_retry_after() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db)
        .with("RATE_LIMIT_PER_MINUTE", "60")
        .with("RATE_LIMIT_ACCOUNT_PER_MINUTE", "10")
        .with("AUTH_RATE_LIMIT_PER_MINUTE", "8")
        .with("LOGIN_RATE_LIMIT_PER_MINUTE", "3");
    let (_engine, api) = start(&env).await;
    let address = email();
    api.register(&address, "limit password").await; // auth request 1
    let (me, _) = api.login(&address, "limit password").await; // 2

    // Per email: the fourth guess at one address is refused without being checked.
    let victim = email();
    for _ in 0..3 {
        let (status, _) = api
            .post("/auth/login", json!({"email": victim, "password": "guess"}))
            .await;
        assert_eq!(status, 401); // 3, 4, 5
    }
    let response = api
        .http
        .post(format!("{}/auth/login", api.base))
        .json(&json!({"email": victim, "password": "guess"}))
        .send()
        .await
        .unwrap(); // 6
    assert_eq!(response.status(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(
        response.json::<Value>().await.unwrap()["code"],
        "rate_limited"
    );

    // Per IP on /auth: 8 a minute.
    for _ in 0..2 {
        let (status, _) = api
            .post("/auth/login", json!({"email": email(), "password": "x"}))
            .await;
        assert_eq!(status, 401); // 7, 8
    }
    // Tokens trickle back (8 a minute), so on a slow machine allow a few more tries.
    let mut refused = false;
    for _ in 0..4 {
        let (status, _) = api
            .post("/auth/login", json!({"email": email(), "password": "x"}))
            .await;
        refused |= status == 429;
    }
    assert!(refused, "auth requests per IP");

    // Per account: 10 a minute.
    let mut statuses = Vec::new();
    for _ in 0..14 {
        statuses.push(me.get("/me").await.0);
    }
    assert!(statuses[..10].iter().all(|s| *s == 200), "{statuses:?}");
    assert!(
        statuses.contains(&429),
        "requests per account: {statuses:?}"
    );

    // Per IP overall: 60 a minute (about 20 used above).
    let mut statuses = Vec::new();
    for _ in 0..60 {
        statuses.push(api.get("/products").await.0);
    }
    assert!(statuses.iter().take(30).all(|s| *s == 200), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_credential_reaches_events_kafka_logs_or_responses() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::kafka(&db).with("RUST_LOG", "debug,rdkafka=info,h2=info,hyper=info");
    let log = std::env::temp_dir().join(format!("commerce-auth-{}.log", Uuid::new_v4().simple()));
    let mut engine = Process::start_logged("up", &env, &log);
    let api = Api::new(engine.base_url().await);
    let address = email();
    let (first, second) = ("first Secret pass", "second Secret pass");

    let (_, registered) = api
        .post(
            "/auth/register",
            json!({"email": address, "display_name": "Leak Test", "password": first}),
        )
        .await;
    let (session, login) = api.login(&address, first).await;
    let (_, changed) = session
        .send(
            Method::PUT,
            "/me/password",
            Some(json!({"current_password": first, "new_password": second})),
            &[],
        )
        .await;
    let (_, relogin) = api.login(&address, second).await;
    let (_, refreshed) = api
        .post(
            "/auth/refresh",
            json!({"refresh_token": relogin["refresh_token"]}),
        )
        .await;
    let head = changed["global_position"].as_i64().unwrap();
    // Wait until the relay has published everything.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (relayed,): (i64,) = sqlx::query_as(
            "select coalesce(max(position), 0) from checkpoints where name like 'relay:%'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if relayed >= head {
            break;
        }
        assert!(Instant::now() < deadline, "relay stuck at {relayed}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    engine.child.kill().await.unwrap();

    let (hashes,): (i64,) =
        sqlx::query_as("select count(*) from credentials where password_hash like '$argon2id$%'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(hashes >= 1, "hashes exist, in the credentials table");
    let secrets = [
        first,
        second,
        "$argon2",
        env.get("JWT_SECRET").unwrap(),
        login["access_token"].as_str().unwrap(),
        login["refresh_token"].as_str().unwrap(),
        refreshed["refresh_token"].as_str().unwrap(),
    ];
    let check = |place: &str, text: &str| {
        for s in secrets {
            assert!(
                !text.contains(s),
                "{place} contains a secret ({} chars)",
                s.len()
            );
        }
    };

    let stored: Vec<(String,)> =
        sqlx::query_as("select payload::text || metadata::text || stream_id from events")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert!(
        stored.len() >= 3,
        "registered, email claimed, password changed"
    );
    for (row,) in &stored {
        check("an event", row);
    }
    let records = read_topic(&env, stored.len()).await;
    assert_eq!(records.len(), stored.len());
    for record in &records {
        check("a Kafka record", &serde_json::to_string(record).unwrap());
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("login"), "the log was captured");
    check("the log", &logged);
    let _ = std::fs::remove_file(&log);
    for response in [&registered, &changed] {
        check("an API response", &response.to_string());
    }
    assert!(!login.to_string().contains("$argon2"));
}

#[tokio::test]
async fn production_mode_refuses_to_start_without_a_signing_key() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db).with("COMMERCE_ENV", "production");
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_commerce"))
            .arg("serve")
            .envs(
                env.vars
                    .iter()
                    .filter(|(k, _)| k != "JWT_SECRET")
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .env_remove("JWT_SECRET")
            .output(),
    )
    .await
    .expect("exits promptly")
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("JWT_SECRET is required when COMMERCE_ENV=production"),
        "{stderr}"
    );
}

/// Production refuses what development tolerates: an unknown environment name, and running
/// without a real payment provider (development starts the simulator instead).
#[tokio::test]
async fn production_refuses_an_unknown_environment_and_a_missing_payment_provider() {
    let db = TestDatabase::create().await;
    for (environment, expected) in [
        ("prod", "invalid value 'prod'"),
        (
            "production",
            "a payment provider is required when COMMERCE_ENV=production",
        ),
    ] {
        let env = EngineEnv::embedded(&db).with("COMMERCE_ENV", environment);
        let output = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::process::Command::new(env!("CARGO_BIN_EXE_commerce"))
                .arg("serve")
                .envs(env.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .env_remove("RAZORPAY_KEY_ID")
                .env_remove("RAZORPAY_KEY_SECRET")
                .env_remove("RAZORPAY_WEBHOOK_SECRET")
                .output(),
        )
        .await
        .expect("exits promptly")
        .unwrap();
        assert!(!output.status.success(), "{environment}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{environment}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_carry_security_headers_cors_and_size_limits() {
    let db = TestDatabase::create().await;
    let env = EngineEnv::embedded(&db).with("CORS_ALLOWED_ORIGINS", "https://shop.example");
    let (_engine, api) = start(&env).await;
    let response = api
        .http
        .get(format!("{}/health", api.base))
        .send()
        .await
        .unwrap();
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(response.headers()[name], value, "{name}");
    }
    assert!(response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));

    let preflight = |origin: &'static str| {
        api.http
            .request(Method::OPTIONS, format!("{}/products", api.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let allowed = preflight("https://shop.example").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    let big = "x".repeat(200 * 1024);
    let (status, body) = api
        .post(
            "/auth/register",
            json!({"email": email(), "display_name": big, "password": "long enough"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("body_too_large"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_changes_and_closing_an_account() {
    let db = TestDatabase::create().await;
    let (_engine, api) = start(&EngineEnv::embedded(&db)).await;
    let address = email();
    api.register(&address, "closing password").await;
    let (me, tokens) = api.login(&address, "closing password").await;

    me.ok(
        Method::PUT,
        "/me/profile",
        Some(json!({"display_name": "  New Name "})),
    )
    .await;
    assert_eq!(me.get("/me").await.1["display_name"], "New Name");
    let (status, body) = me
        .send(
            Method::PUT,
            "/me/profile",
            Some(json!({"display_name": ""})),
            &[],
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (422, Some("invalid_text")));

    me.ok(Method::DELETE, "/me", None).await;
    // Closed: no login, no refresh; the email can be registered again by someone new.
    let (status, body) = api
        .post(
            "/auth/login",
            json!({"email": address, "password": "closing password"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let (status, _) = api
        .post(
            "/auth/refresh",
            json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_eq!(status, 401);
    let again = api.register(&address, "a new password").await;
    assert_ne!(again, me.id());
    api.login(&address, "a new password").await;
    let types: Vec<(String,)> = sqlx::query_as(
        "select event_type from events where stream_id = $1 order by stream_version",
    )
    .bind(format!("account-{}", me.id()))
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let types: Vec<_> = types.into_iter().map(|(t,)| t).collect();
    assert_eq!(
        types,
        [
            "AccountRegistered",
            "AccountProfileChanged",
            "AccountClosed"
        ]
    );
}
