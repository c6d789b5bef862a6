//! Review routes: buyers review products (their own review, one per product), anyone reads a
//! product's reviews, admins hide and show them.

use crate::openapi::Doc;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Json;
use commands::reviews::review_key;
use commands::{CommandOutcome, Missing};
use domain::account::Role;
use domain::review::Rating;
use domain::text::{Reason, ReviewText};
use domain::{CustomerId, OrderId, Sku};
use projections::{accounts, catalog, orders, reviews};
use serde::Deserialize;
use uuid::Uuid;

use crate::cache;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Context};
use crate::read::{consistent, page_limit, page_offset, Consistency};
use crate::routes::{Access, Routes, ADMINS, CUSTOMERS};
use crate::security::{Caller, MaybeCaller};
use crate::AppState;

/// Review routes and who may call them.
pub fn routes() -> Routes {
    Routes::default()
        .add(
            Method::PUT,
            "/customers/{customer_id}/reviews/{sku}",
            Access::Roles(CUSTOMERS),
            submit,
        )
        .doc(
            Doc::new("Review a product the customer received")
                .body::<Submission>()
                .answers::<CommandOutcome>(200),
        )
        .add(Method::GET, "/products/{sku}/reviews", Access::Public, list)
        .doc(
            Doc::new("A product's reviews")
                .query::<ReviewsQuery>()
                .header("If-None-Match")
                .status(304)
                .answers::<reviews::ReviewPage>(200),
        )
        .add(
            Method::POST,
            "/products/{sku}/reviews/{customer_id}/hiding",
            Access::Roles(ADMINS),
            hide,
        )
        .doc(
            Doc::new("Hide a review")
                .body::<Hiding>()
                .answers::<CommandOutcome>(200),
        )
        .add(
            Method::DELETE,
            "/products/{sku}/reviews/{customer_id}/hiding",
            Access::Roles(ADMINS),
            show,
        )
        .doc(Doc::new("Show a hidden review again").answers::<CommandOutcome>(200))
}

/// `PUT /customers/{id}/reviews/{sku}` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    #[schemars(range(min = 1, max = 5))]
    rating: i64,
    text: String,
    /// The delivered order that held the product (default: found among the customer's).
    order_id: Option<Uuid>,
}

async fn submit(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath((customer, raw_sku)): ApiPath<(Uuid, String)>,
    ApiJson(body): ApiJson<Submission>,
) -> Result<(StatusCode, Json<CommandOutcome>), ApiError> {
    actor.owns(customer, Missing::Customer)?;
    let sku = Sku::parse(raw_sku)?;
    let (rating, text) = (Rating::new(body.rating)?, ReviewText::parse(&body.text)?);
    let mut candidates: Vec<OrderId> = body.order_id.map(OrderId::from_uuid).into_iter().collect();
    candidates.extend(
        orders::delivered_orders_holding(&state.read_pool, customer, sku.as_str())
            .await?
            .into_iter()
            .map(OrderId::from_uuid),
    );
    let key = review_key(CustomerId::from_uuid(customer), sku);
    let outcome = state
        .commands
        .submit_review(&ctx, key, &candidates, rating, text)
        .await?;
    Ok((StatusCode::OK, Json(outcome)))
}

/// `GET /products/{sku}/reviews` parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewsQuery {
    limit: Option<i64>,
    offset: Option<i64>,
    min_position: Option<i64>,
    wait_ms: Option<u64>,
}

async fn list(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    headers: HeaderMap,
    ApiPath(raw_sku): ApiPath<String>,
    ApiQuery(q): ApiQuery<ReviewsQuery>,
) -> Result<Response, ApiError> {
    let sku = Sku::parse(raw_sku)
        .map_err(|e| ApiError::bad_request("invalid_path", e.to_string()).with("field", "sku"))?;
    let offset = page_offset(q.offset)?;
    let consistency = Consistency {
        min_position: q.min_position,
        wait_ms: q.wait_ms,
    };
    consistent(
        &state,
        &consistency,
        &[&catalog::CatalogProjection, &accounts::AccountProjection],
    )
    .await?;
    if catalog::get_product(&state.read_pool, sku.as_str())
        .await?
        .is_none()
    {
        return Err(ApiError::missing(Missing::Product));
    }
    let public = caller.is_none();
    let moderator = caller.is_some_and(|a| a.has(Role::Admin));
    let page = reviews::list_reviews(
        &state.read_pool,
        sku.as_str(),
        moderator,
        page_limit(q.limit)?,
        offset,
    )
    .await?;
    cache::conditional(&headers, public, &page)
}

/// `POST /products/{sku}/reviews/{customer_id}/hiding` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hiding {
    #[schemars(length(min = 1, max = 500))]
    reason: String,
}

async fn hide(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath((raw_sku, customer)): ApiPath<(String, Uuid)>,
    ApiJson(body): ApiJson<Hiding>,
) -> Result<(StatusCode, Json<CommandOutcome>), ApiError> {
    let key = review_key(CustomerId::from_uuid(customer), Sku::parse(raw_sku)?);
    let outcome = state
        .commands
        .hide_review(&ctx, key, Reason::parse(&body.reason)?)
        .await?;
    Ok((StatusCode::OK, Json(outcome)))
}

async fn show(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath((raw_sku, customer)): ApiPath<(String, Uuid)>,
) -> Result<(StatusCode, Json<CommandOutcome>), ApiError> {
    let key = review_key(CustomerId::from_uuid(customer), Sku::parse(raw_sku)?);
    let outcome = state.commands.show_review(&ctx, key).await?;
    Ok((StatusCode::OK, Json(outcome)))
}
