//! Store-credit routes: a customer's own wallet, and admins granting and withdrawing credit.

use crate::openapi::Doc;
use axum::extract::State;
use axum::http::Method;
use axum::Json;
use commands::{CommandOutcome, Missing};
use domain::text::Reason;
use domain::AccountId;
use projections::wallets::{self, WalletProjection, WalletView};
use serde::Deserialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Context};
use crate::read::{consistent, Consistency};
use crate::routes::{Access, Routes, ADMINS};
use crate::security::Caller;
use crate::write::MoneyInput;
use crate::AppState;

/// Wallet routes and who may call them.
pub fn routes() -> Routes {
    Routes::default()
        .add(Method::GET, "/me/wallet", Access::Authenticated, own_wallet)
        .doc(
            Doc::new("The signed-in account's store credit")
                .query::<Consistency>()
                .answers::<WalletView>(200),
        )
        .add(
            Method::GET,
            "/admin/accounts/{account_id}/wallet",
            Access::Roles(ADMINS),
            account_wallet,
        )
        .doc(
            Doc::new("An account's store credit")
                .query::<Consistency>()
                .answers::<WalletView>(200),
        )
        .add(
            Method::POST,
            "/admin/accounts/{account_id}/wallet/grants",
            Access::Roles(ADMINS),
            grant,
        )
        .doc(
            Doc::new("Grant store credit")
                .body::<CreditChange>()
                .answers::<CommandOutcome>(200),
        )
        .add(
            Method::POST,
            "/admin/accounts/{account_id}/wallet/withdrawals",
            Access::Roles(ADMINS),
            withdraw,
        )
        .doc(
            Doc::new("Withdraw store credit")
                .body::<CreditChange>()
                .answers::<CommandOutcome>(200),
        )
}

async fn wallet(
    state: &AppState,
    account_id: Uuid,
    consistency: &Consistency,
) -> Result<Json<WalletView>, ApiError> {
    consistent(state, consistency, &[&WalletProjection]).await?;
    Ok(Json(
        wallets::get_wallet(&state.read_pool, account_id).await?,
    ))
}

/// `GET /me/wallet`: balances and the newest movements.
async fn own_wallet(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(consistency): ApiQuery<Consistency>,
) -> Result<Json<WalletView>, ApiError> {
    wallet(&state, actor.account_id, &consistency).await
}

async fn account_wallet(
    State(state): State<AppState>,
    ApiPath(account_id): ApiPath<Uuid>,
    ApiQuery(consistency): ApiQuery<Consistency>,
) -> Result<Json<WalletView>, ApiError> {
    state
        .commands
        .account(AccountId::from_uuid(account_id))
        .await?
        .ok_or_else(|| ApiError::missing(Missing::Account))?;
    wallet(&state, account_id, &consistency).await
}

/// A grant or withdrawal: how much and why.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditChange {
    amount: MoneyInput,
    #[schemars(length(min = 1, max = 500))]
    reason: String,
}

async fn grant(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath(account_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<CreditChange>,
) -> Result<Json<CommandOutcome>, ApiError> {
    let outcome = state
        .commands
        .grant_credit(
            &ctx,
            AccountId::from_uuid(account_id),
            body.amount.parse()?,
            Reason::parse(&body.reason)?,
        )
        .await?;
    Ok(Json(outcome))
}

async fn withdraw(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath(account_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<CreditChange>,
) -> Result<Json<CommandOutcome>, ApiError> {
    let outcome = state
        .commands
        .withdraw_credit(
            &ctx,
            AccountId::from_uuid(account_id),
            body.amount.parse()?,
            Reason::parse(&body.reason)?,
        )
        .await?;
    Ok(Json(outcome))
}
