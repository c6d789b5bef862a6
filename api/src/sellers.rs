//! Seller routes: an account applies to sell and reads its standing; the public reads a
//! verified store's profile; admins verify, reject, set commissions, suspend and reinstate.

use crate::openapi::Doc;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::Json;
use domain::seller::{CommissionRate, SellerStatus};
use domain::text::{Description, Reason, StoreName};
use domain::AccountId;
use projections::sellers;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Context};
use crate::read::{consistent, page_limit, page_offset, Consistency};
use crate::routes::{Access, Routes, ADMINS};
use crate::security::Caller;
use crate::write::{ok, Accepted};
use crate::AppState;

/// Seller routes and who may call them.
pub fn routes() -> Routes {
    use Access::{Authenticated, Public, Roles};
    Routes::default()
        .add(Method::POST, "/me/seller-application", Authenticated, apply)
        .doc(
            Doc::new("Apply to sell")
                .body::<Application>()
                .answers::<commands::CommandOutcome>(201),
        )
        .add(Method::GET, "/me/seller", Authenticated, mine)
        .doc(
            Doc::new("The signed-in account's seller standing")
                .status(404)
                .query::<Consistency>()
                .answers::<sellers::SellerView>(200),
        )
        .add(Method::GET, "/sellers/{account_id}", Public, store)
        .doc(
            Doc::new("A seller's public store page")
                .query::<Consistency>()
                .answers::<sellers::StoreView>(200),
        )
        .add(Method::GET, "/admin/sellers", Roles(ADMINS), list)
        .doc(
            Doc::new("Sellers")
                .query::<SellersQuery>()
                .answers::<Vec<sellers::SellerView>>(200),
        )
        .add(
            Method::POST,
            "/admin/sellers/{account_id}/verification",
            Roles(ADMINS),
            verify,
        )
        .doc(
            Doc::new("Verify a seller, with a commission")
                .body::<Commission>()
                .answers::<commands::CommandOutcome>(200),
        )
        .add(
            Method::POST,
            "/admin/sellers/{account_id}/rejection",
            Roles(ADMINS),
            reject,
        )
        .doc(
            Doc::new("Reject a seller application")
                .body::<Why>()
                .answers::<commands::CommandOutcome>(200),
        )
        .add(
            Method::PUT,
            "/admin/sellers/{account_id}/commission",
            Roles(ADMINS),
            commission,
        )
        .doc(
            Doc::new("Change a seller's commission")
                .body::<Commission>()
                .answers::<commands::CommandOutcome>(200),
        )
        .add(
            Method::POST,
            "/admin/sellers/{account_id}/suspension",
            Roles(ADMINS),
            suspend,
        )
        .doc(
            Doc::new("Suspend a seller")
                .body::<Why>()
                .answers::<commands::CommandOutcome>(200),
        )
        .add(
            Method::DELETE,
            "/admin/sellers/{account_id}/suspension",
            Roles(ADMINS),
            reinstate,
        )
        .doc(Doc::new("Reinstate a suspended seller").answers::<commands::CommandOutcome>(200))
}

/// `POST /me/seller-application` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Application {
    #[schemars(length(min = 1, max = 100))]
    store_name: String,
    #[serde(default)]
    description: String,
}

async fn apply(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiJson(body): ApiJson<Application>,
) -> Result<Accepted, ApiError> {
    let outcome = state
        .commands
        .apply_to_sell(
            &ctx,
            AccountId::from_uuid(actor.account_id),
            StoreName::parse(&body.store_name)?,
            Description::parse(&body.description)?,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(outcome)))
}

async fn mine(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(consistency): ApiQuery<Consistency>,
) -> Result<Json<sellers::SellerView>, ApiError> {
    consistent(&state, &consistency, &[&sellers::SellerProjection]).await?;
    sellers::get_seller(&state.read_pool, actor.account_id)
        .await?
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "seller_not_found",
                "this account has not applied to sell",
            )
        })
}

async fn store(
    State(state): State<AppState>,
    ApiPath(account): ApiPath<Uuid>,
    ApiQuery(consistency): ApiQuery<Consistency>,
) -> Result<Json<sellers::StoreView>, ApiError> {
    consistent(&state, &consistency, &[&sellers::SellerProjection]).await?;
    sellers::store(&state.read_pool, account)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "seller_not_found", "no such store"))
}

/// `GET /admin/sellers` parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SellersQuery {
    status: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
    min_position: Option<i64>,
    wait_ms: Option<u64>,
}

async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<SellersQuery>,
) -> Result<Json<Vec<sellers::SellerView>>, ApiError> {
    let status = match q.status.as_deref() {
        None => None,
        Some("applied") => Some(SellerStatus::Applied),
        Some("verified") => Some(SellerStatus::Verified),
        Some("rejected") => Some(SellerStatus::Rejected),
        Some("suspended") => Some(SellerStatus::Suspended),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "status must be applied, verified, rejected or suspended",
            )
            .with("field", "status"))
        }
    };
    let offset = page_offset(q.offset)?;
    let consistency = Consistency {
        min_position: q.min_position,
        wait_ms: q.wait_ms,
    };
    consistent(&state, &consistency, &[&sellers::SellerProjection]).await?;
    Ok(Json(
        sellers::list_sellers(&state.read_pool, status, page_limit(q.limit)?, offset).await?,
    ))
}

/// `{commission_bp}` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Commission {
    #[schemars(range(min = 0, max = 10_000))]
    commission_bp: i64,
}

/// `{reason}` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Why {
    #[schemars(length(min = 1, max = 500))]
    reason: String,
}

async fn verify(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath(account): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Commission>,
) -> Result<Accepted, ApiError> {
    let rate = CommissionRate::new(body.commission_bp)?;
    let outcome = state
        .commands
        .verify_seller(&ctx, AccountId::from_uuid(account), rate)
        .await?;
    Ok(ok(outcome))
}

async fn reject(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath(account): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Why>,
) -> Result<Accepted, ApiError> {
    let outcome = state
        .commands
        .reject_seller(
            &ctx,
            AccountId::from_uuid(account),
            Reason::parse(&body.reason)?,
        )
        .await?;
    Ok(ok(outcome))
}

async fn commission(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath(account): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Commission>,
) -> Result<Accepted, ApiError> {
    let rate = CommissionRate::new(body.commission_bp)?;
    let outcome = state
        .commands
        .set_commission(&ctx, AccountId::from_uuid(account), rate)
        .await?;
    Ok(ok(outcome))
}

async fn suspend(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath(account): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Why>,
) -> Result<Accepted, ApiError> {
    let outcome = state
        .commands
        .suspend_seller(
            &ctx,
            AccountId::from_uuid(account),
            Reason::parse(&body.reason)?,
        )
        .await?;
    Ok(ok(outcome))
}

async fn reinstate(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath(account): ApiPath<Uuid>,
) -> Result<Accepted, ApiError> {
    let outcome = state
        .commands
        .reinstate_seller(&ctx, AccountId::from_uuid(account))
        .await?;
    Ok(ok(outcome))
}
