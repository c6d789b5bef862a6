//! Catalog routes: products listed, edited, priced, stocked, archived and restored by their
//! sellers (or admins), and the public catalog.
//!
//! A seller may act only on their own products: another seller's answers `403`, a missing one
//! `404`. An archived product is not listed; `GET /products/{sku}` shows it only to its seller
//! and admins (`404` to everyone else), with the stock figures sellers see.

use crate::openapi::Doc;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Json;
use commands::Missing;
use domain::account::Role;
use domain::category::CategorySlug;
use domain::inventory::{LowStockThreshold, StockChange};
use domain::product::{Editor, Image, ProductDetails, Specification};
use domain::text::{Description, ProductName, Reason, SearchText};
use domain::{AccountId, Quantity, Sku};
use projections::{catalog, search, sellers};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::cache;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Context, IfMatch};
use crate::read::{consistent, page_limit, page_offset, Consistency};
use crate::routes::{Access, Routes, ADMINS, SELLERS};
use crate::security::{Actor, Caller, MaybeCaller};
use crate::write::{ok, Accepted, MoneyInput, QuantityInput};
use crate::AppState;

/// Catalog routes and who may call them.
pub fn routes() -> Routes {
    use Access::{Public, Roles};
    Routes::default()
        .add(Method::GET, "/products", Public, list_products)
        .doc(
            Doc::new("Search and browse the catalog")
                .query::<ProductsQuery>()
                .header("If-None-Match")
                .status(304)
                .answers::<ProductsAnswer>(200),
        )
        .add(Method::GET, "/products/{sku}", Public, get_product)
        .doc(
            Doc::new("One product")
                .query::<Consistency>()
                .header("If-None-Match")
                .status(304)
                .answers::<catalog::ProductView>(200),
        )
        .add(Method::POST, "/products", Roles(SELLERS), create_product)
        .doc(
            Doc::new("List a new product (a seller's waits for an admin's approval)")
                .body::<CreateProduct>()
                .answers::<commands::CommandOutcome>(201),
        )
        .add(Method::PUT, "/products/{sku}", Roles(SELLERS), edit_product)
        .doc(
            Doc::new("Edit a product's content")
                .header("If-Match")
                .body::<ContentInput>()
                .answers::<commands::CommandOutcome>(200),
        )
        .add(
            Method::PUT,
            "/products/{sku}/price",
            Roles(SELLERS),
            change_price,
        )
        .doc(
            Doc::new("Change a product's price")
                .body::<MoneyInput>()
                .answers::<commands::CommandOutcome>(200),
        )
        .add(
            Method::POST,
            "/products/{sku}/stock",
            Roles(SELLERS),
            receive_stock,
        )
        .doc(
            Doc::new("Receive stock")
                .body::<QuantityInput>()
                .answers::<commands::CommandOutcome>(200),
        )
        .add(
            Method::POST,
            "/products/{sku}/stock/adjustments",
            Roles(SELLERS),
            adjust_stock,
        )
        .doc(
            Doc::new("Correct the stock count")
                .body::<Adjustment>()
                .answers::<commands::CommandOutcome>(200),
        )
        .add(
            Method::PUT,
            "/products/{sku}/low-stock-threshold",
            Roles(SELLERS),
            set_low_stock_threshold,
        )
        .doc(
            Doc::new("Say from how few units the stock is low")
                .body::<Threshold>()
                .answers::<commands::CommandOutcome>(200),
        )
        .add(
            Method::POST,
            "/products/{sku}/archival",
            Roles(SELLERS),
            archive_product,
        )
        .doc(
            Doc::new("Archive a product (no longer sold)")
                .body::<Archival>()
                .answers::<commands::CommandOutcome>(200),
        )
        .add(
            Method::DELETE,
            "/products/{sku}/archival",
            Roles(SELLERS),
            restore_product,
        )
        .doc(Doc::new("Restore an archived product").answers::<commands::CommandOutcome>(200))
        .add(
            Method::GET,
            "/seller/products",
            Roles(SELLERS),
            list_seller_products,
        )
        .doc(
            Doc::new("The seller's products, drafts included")
                .query::<SellerProductsQuery>()
                .answers::<catalog::ProductPage<catalog::SellerProductView>>(200),
        )
        .add(
            Method::GET,
            "/admin/product-approvals",
            Roles(ADMINS),
            waiting_for_approval,
        )
        .doc(
            Doc::new("Products waiting for approval")
                .query::<ApprovalsQuery>()
                .answers::<catalog::ProductPage<catalog::SellerProductView>>(200),
        )
        .add(
            Method::POST,
            "/admin/products/{sku}/approval",
            Roles(ADMINS),
            approve_product,
        )
        .doc(
            Doc::new("Approve a product's pending content")
                .answers::<commands::CommandOutcome>(200),
        )
        .add(
            Method::POST,
            "/admin/products/{sku}/rejection",
            Roles(ADMINS),
            reject_product,
        )
        .doc(
            Doc::new("Reject a product's pending content")
                .body::<Archival>()
                .answers::<commands::CommandOutcome>(200),
        )
}

/// A seller may change only their own products; admins any. Products are public, so another
/// seller's product answers 403, a missing one 404.
async fn own_product(state: &AppState, actor: &Actor, raw_sku: &str) -> Result<Sku, ApiError> {
    let sku = Sku::parse(raw_sku)?;
    match state.commands.product_seller(&sku).await? {
        None => Err(ApiError::missing(Missing::Product)),
        Some(seller) if seller.as_uuid() == actor.account_id || actor.has(Role::Admin) => Ok(sku),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this product belongs to another seller",
        )),
    }
}

/// Admins publish at once; a seller's content waits for an admin.
fn editor(actor: &Actor) -> Editor {
    if actor.has(Role::Admin) {
        Editor::Admin
    } else {
        Editor::Seller
    }
}

/// A specification line in a request.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpecificationInput {
    name: String,
    value: String,
}

/// An image in a request.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageInput {
    url: String,
    alt: String,
}

/// The descriptive content of a product, as `POST /products` and `PUT /products/{sku}` take
/// it (the whole of it: what is left out is empty).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContentInput {
    #[schemars(length(min = 1, max = 100))]
    name: String,
    #[serde(default)]
    description: String,
    #[schemars(length(min = 1, max = 64), pattern(r"^[a-z0-9-]+$"))]
    category: String,
    #[serde(default)]
    specifications: Vec<SpecificationInput>,
    #[serde(default)]
    images: Vec<ImageInput>,
}

impl ContentInput {
    fn details(&self) -> Result<ProductDetails, ApiError> {
        let specifications = self
            .specifications
            .iter()
            .map(|s| Specification::new(&s.name, &s.value))
            .collect::<Result<_, _>>()?;
        let images = self
            .images
            .iter()
            .map(|i| Image::new(&i.url, &i.alt))
            .collect::<Result<_, _>>()?;
        Ok(ProductDetails::with_media(
            ProductName::parse(&self.name)?,
            Description::parse(&self.description)?,
            CategorySlug::parse(&self.category)?,
            specifications,
            images,
        )?)
    }
}

/// `POST /products` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProduct {
    #[schemars(
        length(min = 1, max = 64),
        pattern(r"^[A-Za-z0-9._-]*[A-Za-z0-9][A-Za-z0-9._-]*$")
    )]
    sku: String,
    price: MoneyInput,
    #[serde(flatten)]
    content: ContentInput,
}

async fn create_product(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiJson(body): ApiJson<CreateProduct>,
) -> Result<Accepted, ApiError> {
    let outcome = state
        .commands
        .create_product(
            &ctx,
            AccountId::from_uuid(actor.account_id),
            Sku::parse(body.sku)?,
            body.content.details()?,
            body.price.parse()?,
            editor(&actor),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(outcome)))
}

async fn edit_product(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    IfMatch(pinned): IfMatch,
    ApiPath(raw_sku): ApiPath<String>,
    ApiJson(body): ApiJson<ContentInput>,
) -> Result<Accepted, ApiError> {
    let sku = own_product(&state, &actor, &raw_sku).await?;
    let outcome = state
        .commands
        .edit_product(&ctx, sku, pinned, body.details()?, editor(&actor))
        .await?;
    Ok(ok(outcome))
}

async fn change_price(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath(raw_sku): ApiPath<String>,
    ApiJson(body): ApiJson<MoneyInput>,
) -> Result<Accepted, ApiError> {
    let sku = own_product(&state, &actor, &raw_sku).await?;
    let outcome = state
        .commands
        .change_price(&ctx, sku, body.parse()?)
        .await?;
    Ok(ok(outcome))
}

async fn receive_stock(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath(raw_sku): ApiPath<String>,
    ApiJson(body): ApiJson<QuantityInput>,
) -> Result<Accepted, ApiError> {
    let sku = own_product(&state, &actor, &raw_sku).await?;
    let outcome = state
        .commands
        .receive_stock(&ctx, sku, Quantity::new(body.quantity)?)
        .await?;
    Ok(ok(outcome))
}

/// `POST /products/{sku}/stock/adjustments` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Adjustment {
    #[schemars(range(min = -1_000_000, max = 1_000_000))]
    change: i64,
    #[schemars(length(min = 1, max = 500))]
    reason: String,
}

async fn adjust_stock(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath(raw_sku): ApiPath<String>,
    ApiJson(body): ApiJson<Adjustment>,
) -> Result<Accepted, ApiError> {
    let sku = own_product(&state, &actor, &raw_sku).await?;
    let outcome = state
        .commands
        .adjust_stock(
            &ctx,
            sku,
            StockChange::new(body.change)?,
            Reason::parse(&body.reason)?,
        )
        .await?;
    Ok(ok(outcome))
}

/// `PUT /products/{sku}/low-stock-threshold` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    #[schemars(range(min = 0, max = 1_000_000))]
    threshold: i64,
}

async fn set_low_stock_threshold(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath(raw_sku): ApiPath<String>,
    ApiJson(body): ApiJson<Threshold>,
) -> Result<Accepted, ApiError> {
    let sku = own_product(&state, &actor, &raw_sku).await?;
    let outcome = state
        .commands
        .set_low_stock_threshold(&ctx, sku, LowStockThreshold::new(body.threshold)?)
        .await?;
    Ok(ok(outcome))
}

/// `POST /products/{sku}/archival` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Archival {
    #[schemars(length(min = 1, max = 500))]
    reason: String,
}

async fn archive_product(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath(raw_sku): ApiPath<String>,
    ApiJson(body): ApiJson<Archival>,
) -> Result<Accepted, ApiError> {
    let sku = own_product(&state, &actor, &raw_sku).await?;
    let outcome = state
        .commands
        .archive_product(&ctx, sku, Reason::parse(&body.reason)?)
        .await?;
    Ok(ok(outcome))
}

async fn restore_product(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath(raw_sku): ApiPath<String>,
) -> Result<Accepted, ApiError> {
    let sku = own_product(&state, &actor, &raw_sku).await?;
    let outcome = state.commands.restore_product(&ctx, sku).await?;
    Ok(ok(outcome))
}

/// `GET /products` parameters: a search (`q`, `websearch` syntax), filters, an order and a
/// page. `category` keeps the products of that category and of every category below it.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductsQuery {
    q: Option<String>,
    category: Option<String>,
    price_min: Option<i64>,
    price_max: Option<i64>,
    in_stock: Option<bool>,
    seller: Option<Uuid>,
    min_rating: Option<f64>,
    sort: Option<String>,
    after: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
    min_position: Option<i64>,
    wait_ms: Option<u64>,
}

fn invalid(field: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_query", message).with("field", field)
}

impl ProductsQuery {
    /// Validates every parameter into a [`search::Search`].
    fn search(&self) -> Result<search::Search, ApiError> {
        let text = match self.q.as_deref() {
            None => None,
            Some(raw) if raw.trim().is_empty() => None,
            Some(raw) => {
                let text = SearchText::parse(raw).map_err(|e| invalid("q", e.to_string()))?;
                // A space after the last word says it is typed in full (not a prefix).
                let done = raw.ends_with(char::is_whitespace);
                Some(format!("{text}{}", if done { " " } else { "" }))
            }
        };
        let category = self
            .category
            .as_deref()
            .map(CategorySlug::parse)
            .transpose()
            .map_err(|e| invalid("category", e.to_string()))?;
        for (field, price) in [("price_min", self.price_min), ("price_max", self.price_max)] {
            if price.is_some_and(|p| p < 0) {
                return Err(invalid(field, format!("{field} must not be negative")));
            }
        }
        if let (Some(min), Some(max)) = (self.price_min, self.price_max) {
            if min > max {
                return Err(invalid(
                    "price_max",
                    "price_max must not be below price_min",
                ));
            }
        }
        if let Some(rating) = self.min_rating {
            if !(1.0..=5.0).contains(&rating) {
                return Err(invalid("min_rating", "min_rating must be between 1 and 5"));
            }
        }
        let sort = match self.sort.as_deref() {
            None => search::SortOrder::Relevance,
            Some(raw) => search::SortOrder::parse(raw).ok_or_else(|| {
                invalid(
                    "sort",
                    format!("sort must be one of {}", search::SortOrder::NAMES),
                )
            })?,
        };
        let after = self.after.as_deref().map(decode_cursor).transpose()?;
        if let Some(after) = &after {
            if after.sort != sort {
                return Err(ApiError::bad_request(
                    "invalid_cursor",
                    "this cursor belongs to another sort order",
                )
                .with("field", "after"));
            }
            if self.offset.is_some() {
                return Err(invalid("offset", "use either after or offset, not both"));
            }
        }
        Ok(search::Search {
            text,
            category: category.map(|c| c.as_str().to_owned()),
            price_min: self.price_min,
            price_max: self.price_max,
            in_stock: self.in_stock.unwrap_or(false),
            seller: self.seller,
            min_rating: self.min_rating,
            sort,
            after,
            offset: page_offset(self.offset)?,
            limit: page_limit(self.limit)?,
        })
    }
}

/// A page boundary as clients hold it: URL-safe base64 of its JSON.
fn encode_cursor(after: &search::After) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(after).expect("a cursor serializes"))
}

fn decode_cursor(raw: &str) -> Result<search::After, ApiError> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<search::After>(&bytes).ok())
        .filter(|after| after.is_valid() && Sku::parse(&after.sku).is_ok())
        .ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", "after must be a next_cursor from a page")
                .with("field", "after")
        })
}

/// `GET /products`: a page of results with its facets and where the next page starts.
#[derive(Debug, Serialize, schemars::JsonSchema)]
struct ProductsAnswer {
    #[serde(flatten)]
    page: search::SearchPage,
    /// Pass as `after` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

async fn list_products(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<ProductsQuery>,
) -> Result<Response, ApiError> {
    let search = q.search()?;
    let consistency = Consistency {
        min_position: q.min_position,
        wait_ms: q.wait_ms,
    };
    consistent(
        &state,
        &consistency,
        &[&catalog::CatalogProjection, &sellers::SellerProjection],
    )
    .await?;
    let compute = async {
        // The index answers; PostgreSQL alone for a query the index does not evaluate.
        let page = match state.search_index.search(&state.read_pool, &search).await? {
            Some(page) => page,
            None => search::search(&state.read_pool, &search).await?,
        };
        cache::Answer::of(&ProductsAnswer {
            next_cursor: page.next.as_ref().map(encode_cursor),
            page,
        })
    };
    // Read-your-writes asks for the read model as of a position: never an older answer.
    let answer = match q.min_position {
        Some(_) => {
            // The read model has the writes; the index reads them now.
            state.search_index.refresh_after(&state.read_pool).await?;
            std::sync::Arc::new(compute.await?)
        }
        None => {
            // Everything the answer depends on is in the validated search (the caller is not).
            let key = format!("{search:?}");
            state.searches.get_or_compute(key, compute).await?
        }
    };
    Ok(cache::respond(&headers, caller.is_none(), &answer))
}

async fn get_product(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    headers: HeaderMap,
    ApiPath(raw_sku): ApiPath<String>,
    ApiQuery(consistency): ApiQuery<Consistency>,
) -> Result<Response, ApiError> {
    let sku = Sku::parse(raw_sku)
        .map_err(|e| ApiError::bad_request("invalid_path", e.to_string()).with("field", "sku"))?;
    consistent(
        &state,
        &consistency,
        &[&catalog::CatalogProjection, &sellers::SellerProjection],
    )
    .await?;
    let product = catalog::get_product(&state.read_pool, sku.as_str())
        .await?
        .ok_or_else(|| ApiError::missing(Missing::Product))?;
    let public = caller.is_none();
    let insider = caller.is_some_and(|actor| {
        actor.has(Role::Admin) || product.product.seller_id == Some(actor.account_id)
    });
    let on_sale = product.published && !product.product.archived && !product.seller_suspended;
    match (insider, on_sale) {
        (true, _) => cache::conditional(&headers, public, &product),
        (false, true) => cache::conditional(&headers, public, &product.product),
        (false, false) => Err(ApiError::missing(Missing::Product)),
    }
}

/// `GET /seller/products` parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SellerProductsQuery {
    /// Admins: whose products (default: the caller's own).
    seller_id: Option<Uuid>,
    limit: Option<i64>,
    offset: Option<i64>,
    min_position: Option<i64>,
    wait_ms: Option<u64>,
}

async fn list_seller_products(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(q): ApiQuery<SellerProductsQuery>,
) -> Result<Json<catalog::ProductPage<catalog::SellerProductView>>, ApiError> {
    let seller = actor.seller_scope(q.seller_id)?;
    let consistency = Consistency {
        min_position: q.min_position,
        wait_ms: q.wait_ms,
    };
    consistent(
        &state,
        &consistency,
        &[&catalog::CatalogProjection, &sellers::SellerProjection],
    )
    .await?;
    let page = catalog::list_seller_products(
        &state.read_pool,
        seller,
        page_limit(q.limit)?,
        page_offset(q.offset)?,
    )
    .await?;
    Ok(Json(page))
}

/// `GET /admin/product-approvals` parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsQuery {
    limit: Option<i64>,
    offset: Option<i64>,
    min_position: Option<i64>,
    wait_ms: Option<u64>,
}

async fn waiting_for_approval(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ApprovalsQuery>,
) -> Result<Json<catalog::ProductPage<catalog::SellerProductView>>, ApiError> {
    let consistency = Consistency {
        min_position: q.min_position,
        wait_ms: q.wait_ms,
    };
    consistent(&state, &consistency, &[&catalog::CatalogProjection]).await?;
    let page = catalog::waiting_for_approval(
        &state.read_pool,
        page_limit(q.limit)?,
        page_offset(q.offset)?,
    )
    .await?;
    Ok(Json(page))
}

async fn approve_product(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath(raw_sku): ApiPath<String>,
) -> Result<Accepted, ApiError> {
    let outcome = state
        .commands
        .approve_product(&ctx, Sku::parse(raw_sku)?)
        .await?;
    Ok(ok(outcome))
}

async fn reject_product(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath(raw_sku): ApiPath<String>,
    ApiJson(body): ApiJson<Archival>,
) -> Result<Accepted, ApiError> {
    let outcome = state
        .commands
        .reject_product(&ctx, Sku::parse(raw_sku)?, Reason::parse(&body.reason)?)
        .await?;
    Ok(ok(outcome))
}
