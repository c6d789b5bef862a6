//! Accounts and sessions: registration, login, token refresh and logout, the caller's own
//! account (`/me`), and account administration.

use crate::openapi::Doc;
use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::Json;
use commands::{CommandContext, CommandOutcome};
use domain::account::{check_password_policy, AccountCommand, Email, Role};
use domain::text::DisplayName;
use domain::AccountId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Context};
use crate::routes::{Access, Routes, ADMINS};
use crate::security::{now, too_many, Caller};
use crate::AppState;
use commands::Missing;

/// Account routes and who may call them.
pub fn routes() -> Routes {
    Routes::default()
        .add(Method::POST, "/auth/register", Access::Public, register)
        .doc(
            Doc::new("Register a customer account")
                .body::<Registration>()
                .answers::<Registered>(201),
        )
        .add(Method::POST, "/auth/login", Access::Public, login)
        .doc(
            Doc::new("Log in: a short-lived access token and a refresh token")
                .status(401)
                .body::<Login>()
                .answers::<Tokens>(200),
        )
        .add(Method::POST, "/auth/refresh", Access::Public, refresh)
        .doc(
            Doc::new("Trade a refresh token for new tokens (the old one is spent)")
                .status(401)
                .body::<RefreshRequest>()
                .answers::<Tokens>(200),
        )
        .add(Method::POST, "/auth/logout", Access::Public, logout)
        .doc(
            Doc::new("Revoke a refresh token")
                .body::<RefreshRequest>()
                .answers_empty(204),
        )
        .add(Method::GET, "/me", Access::Authenticated, me)
        .doc(Doc::new("The signed-in account").answers::<AccountInfo>(200))
        .add(
            Method::PUT,
            "/me/profile",
            Access::Authenticated,
            change_profile,
        )
        .doc(
            Doc::new("Change the signed-in account's display name")
                .body::<ProfileChange>()
                .answers::<CommandOutcome>(200),
        )
        .add(
            Method::PUT,
            "/me/password",
            Access::Authenticated,
            change_password,
        )
        .doc(
            Doc::new("Change the signed-in account's password")
                .body::<PasswordChange>()
                .answers::<CommandOutcome>(200),
        )
        .add(Method::DELETE, "/me", Access::Authenticated, close)
        .doc(
            Doc::new("Close the signed-in account; with `erase=true`, erase its personal data too")
                .query::<CloseQuery>()
                .answers::<CommandOutcome>(200),
        )
        .add(
            Method::GET,
            "/admin/accounts",
            Access::Roles(ADMINS),
            list_accounts,
        )
        .doc(
            Doc::new("Accounts")
                .query::<AccountsQuery>()
                .answers::<Vec<projections::accounts::AccountView>>(200),
        )
        .add(
            Method::GET,
            "/admin/accounts/{account_id}",
            Access::Roles(ADMINS),
            get_account,
        )
        .doc(Doc::new("One account").answers::<AccountInfo>(200))
        .add(
            Method::POST,
            "/admin/accounts/{account_id}/erasure",
            Access::Roles(ADMINS),
            erase,
        )
        .doc(
            Doc::new("Erase an account's personal data on the holder's request (closing it first)")
                .answers::<CommandOutcome>(200),
        )
        .add(
            Method::PUT,
            "/admin/accounts/{account_id}/roles/{role}",
            Access::Roles(ADMINS),
            grant_role,
        )
        .doc(Doc::new("Grant an account a role").answers::<CommandOutcome>(200))
        .add(
            Method::DELETE,
            "/admin/accounts/{account_id}/roles/{role}",
            Access::Roles(ADMINS),
            revoke_role,
        )
        .doc(Doc::new("Take a role from an account").answers::<CommandOutcome>(200))
}

fn unavailable(e: impl std::error::Error) -> ApiError {
    ApiError::unavailable(&e)
}

/// `POST /auth/register` body. The password is never logged or stored in clear.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// The account's email address (unique, case-insensitively).
    #[schemars(email, length(min = 3, max = 254))]
    email: String,
    /// One line, 1-100 characters.
    #[schemars(length(min = 1, max = 100))]
    display_name: String,
    /// 8 to 256 characters.
    #[schemars(length(min = 8, max = 256))]
    password: String,
}

/// Answer to a registration.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Registered {
    /// The new account.
    pub account_id: Uuid,
    /// Stream version and global position.
    #[serde(flatten)]
    pub outcome: CommandOutcome,
}

/// Registers a customer account: password hashed first (stored apart from events), then the
/// account and its email claim appended together.
async fn register(
    State(state): State<AppState>,
    Context(mut ctx): Context,
    ApiJson(body): ApiJson<Registration>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    let email =
        Email::parse(&body.email).map_err(|e| ApiError::unprocessable(e.code(), e.to_string()))?;
    let display_name = DisplayName::parse(&body.display_name)?;
    check_password_policy(&body.password, &email)
        .map_err(|e| ApiError::unprocessable(e.code(), e.to_string()))?;
    if state.commands.account_for_email(&email).await?.is_some() {
        return Err(ApiError::unprocessable(
            "email_taken",
            "an account with this email already exists",
        ));
    }
    let account_id = AccountId::generate();
    let security = &state.security;
    let hash = security
        .hasher
        .hash(body.password)
        .await
        .map_err(unavailable)?;
    security
        .credentials
        .set(account_id.as_uuid(), &hash)
        .await?;
    ctx.actor = Some(format!("account:{account_id}"));
    let outcome = state
        .commands
        .register_account(
            &ctx,
            account_id,
            email,
            display_name,
            BTreeSet::from([Role::Customer]),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Registered {
            account_id: account_id.as_uuid(),
            outcome,
        }),
    ))
}

/// `POST /auth/login` body.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// The account's email address.
    #[schemars(email, length(min = 3, max = 254))]
    email: String,
    /// Its password.
    #[schemars(length(min = 1, max = 256))]
    password: String,
}

/// Tokens issued at login or refresh.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Tokens {
    /// JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Access token lifetime in seconds.
    pub expires_in: u64,
    /// Opaque token for `POST /auth/refresh`; single use.
    pub refresh_token: String,
    /// The account.
    pub account_id: Uuid,
    /// Its roles.
    pub roles: Vec<Role>,
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "email or password is incorrect",
    )
}

async fn issue(
    state: &AppState,
    account_id: Uuid,
    roles: Vec<Role>,
    refresh_token: String,
) -> Tokens {
    let (access_token, _) = state.security.keys.issue(account_id, roles.clone(), now());
    Tokens {
        access_token,
        token_type: "Bearer",
        expires_in: state.security.keys.ttl().as_secs(),
        refresh_token,
        account_id,
        roles,
    }
}

/// Logs in. Every failure (unknown email, wrong password, closed account) does the same work
/// (one email lookup, one credentials read, one argon2 verification, one account read) and
/// answers the same 401, so neither timing nor message tells whether an account exists.
async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Login>,
) -> Result<Json<Tokens>, ApiError> {
    let security = &state.security;
    let key = body.email.trim().to_lowercase();
    security
        .limits
        .login_per_email
        .check(&key)
        .await
        .map_err(too_many)?;

    let account_id = match Email::parse(&body.email) {
        Ok(email) => state.commands.account_for_email(&email).await?,
        Err(_) => None,
    }
    .map_or(Uuid::nil(), |id| id.as_uuid());
    let hash = security.credentials.get(account_id).await?;
    let verified = security.hasher.verify(body.password, hash).await;
    let profile = state
        .commands
        .account(AccountId::from_uuid(account_id))
        .await?;
    match profile {
        Some(p) if verified && !p.closed => {
            let refresh = security.refresh.issue(account_id).await?;
            tracing::info!(%account_id, "login");
            Ok(Json(
                issue(&state, account_id, p.roles.into_iter().collect(), refresh).await,
            ))
        }
        _ => {
            tracing::info!("login refused");
            Err(invalid_credentials())
        }
    }
}

/// `POST /auth/refresh` and `/auth/logout` body.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// Exchanges a refresh token for new tokens (rotation). Re-using a rotated token revokes the
/// whole session family.
async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Json<Tokens>, ApiError> {
    let security = &state.security;
    let (account_id, next) = match security.refresh.rotate(&body.refresh_token).await {
        Ok(rotated) => rotated,
        Err(auth::refresh::RefreshError::Database(e)) => return Err(e.into()),
        Err(auth::refresh::RefreshError::Reused) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "refresh_token_reused",
                "this refresh token was already used; the session has been revoked",
            ))
        }
        Err(auth::refresh::RefreshError::Invalid) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_refresh_token",
                "the refresh token is invalid, expired or revoked",
            ))
        }
    };
    match state
        .commands
        .account(AccountId::from_uuid(account_id))
        .await?
    {
        Some(p) if !p.closed => Ok(Json(
            issue(&state, account_id, p.roles.into_iter().collect(), next).await,
        )),
        _ => {
            security.refresh.revoke_account(account_id).await?;
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_refresh_token",
                "the refresh token is invalid, expired or revoked",
            ))
        }
    }
}

/// Revokes the session of a refresh token.
async fn logout(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    state.security.refresh.revoke(&body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An account as shown to itself and to admins.
#[derive(Serialize, schemars::JsonSchema)]
pub struct AccountInfo {
    /// The account.
    pub account_id: Uuid,
    /// Normalized email.
    pub email: String,
    /// Name shown to others.
    pub display_name: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Closed accounts cannot sign in.
    pub closed: bool,
}

async fn account_info(state: &AppState, account_id: Uuid) -> Result<AccountInfo, ApiError> {
    let p = state
        .commands
        .account(AccountId::from_uuid(account_id))
        .await?
        .ok_or_else(|| ApiError::missing(Missing::Account))?;
    Ok(AccountInfo {
        account_id,
        email: p.email.to_string(),
        display_name: p.display_name,
        roles: p.roles.into_iter().collect(),
        closed: p.closed,
    })
}

async fn me(
    State(state): State<AppState>,
    Caller(actor): Caller,
) -> Result<Json<AccountInfo>, ApiError> {
    Ok(Json(account_info(&state, actor.account_id).await?))
}

/// `PUT /me/profile` body.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileChange {
    #[schemars(length(min = 1, max = 100))]
    display_name: String,
}

async fn change_profile(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiJson(body): ApiJson<ProfileChange>,
) -> Result<Json<CommandOutcome>, ApiError> {
    let command = AccountCommand::ChangeProfile {
        display_name: DisplayName::parse(&body.display_name)?,
    };
    let outcome = state
        .commands
        .account_command(&ctx, AccountId::from_uuid(actor.account_id), command)
        .await?;
    Ok(Json(outcome))
}

/// `PUT /me/password` body.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[schemars(length(min = 1, max = 256))]
    current_password: String,
    #[schemars(length(min = 8, max = 256))]
    new_password: String,
}

/// Changes the password: the current one must verify; the new hash replaces the old one,
/// every refresh token of the account is revoked, and the change (never the hash) is recorded
/// as an event.
async fn change_password(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<Json<CommandOutcome>, ApiError> {
    let security = &state.security;
    let account_id = AccountId::from_uuid(actor.account_id);
    let profile = state
        .commands
        .account(account_id)
        .await?
        .ok_or_else(|| ApiError::missing(Missing::Account))?;
    let hash = security.credentials.get(actor.account_id).await?;
    if !security.hasher.verify(body.current_password, hash).await {
        return Err(ApiError::unprocessable(
            "invalid_current_password",
            "the current password is incorrect",
        ));
    }
    check_password_policy(&body.new_password, &profile.email)
        .map_err(|e| ApiError::unprocessable(e.code(), e.to_string()))?;
    let hash = security
        .hasher
        .hash(body.new_password)
        .await
        .map_err(unavailable)?;
    security.credentials.set(actor.account_id, &hash).await?;
    security.refresh.revoke_account(actor.account_id).await?;
    let outcome = state
        .commands
        .account_command(&ctx, account_id, AccountCommand::RecordPasswordChange)
        .await?;
    Ok(Json(outcome))
}

/// `DELETE /me` parameters.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseQuery {
    /// Erase the account's personal data too (email, names, addresses): for good, in the
    /// log, on Kafka and in every read model. Default `false`.
    erase: Option<bool>,
}

/// Closes the caller's account, frees its email and ends its sessions; with `erase=true`,
/// erases its personal data too.
async fn close(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiQuery(q): ApiQuery<CloseQuery>,
) -> Result<Json<CommandOutcome>, ApiError> {
    let account_id = AccountId::from_uuid(actor.account_id);
    if q.erase.unwrap_or(false) {
        // Ends the sessions too.
        return Ok(Json(erase_account(&state, &ctx, account_id).await?));
    }
    let outcome = state.commands.close_account(&ctx, account_id).await?;
    state
        .security
        .refresh
        .revoke_account(actor.account_id)
        .await?;
    Ok(Json(outcome))
}

/// Erases an account's personal data (closing it first), ends its sessions and forgets its
/// password hash.
async fn erase_account(
    state: &AppState,
    ctx: &CommandContext,
    account_id: AccountId,
) -> Result<CommandOutcome, ApiError> {
    let outcome = state.commands.erase_account(ctx, account_id).await?;
    let security = &state.security;
    security
        .refresh
        .revoke_account(account_id.as_uuid())
        .await?;
    security.credentials.remove(account_id.as_uuid()).await?;
    Ok(outcome)
}

async fn erase(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath(account_id): ApiPath<Uuid>,
) -> Result<Json<CommandOutcome>, ApiError> {
    if account_id == actor.account_id {
        // An admin erasing themselves would lock themselves out mid-session by mistake.
        return Err(ApiError::unprocessable(
            "cannot_erase_own_account",
            "an admin erases their own account with DELETE /me?erase=true",
        ));
    }
    let outcome = erase_account(&state, &ctx, AccountId::from_uuid(account_id)).await?;
    Ok(Json(outcome))
}

/// `GET /admin/accounts` parameters.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountsQuery {
    limit: Option<i64>,
    after: Option<Uuid>,
    min_position: Option<i64>,
    wait_ms: Option<u64>,
}

async fn list_accounts(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AccountsQuery>,
) -> Result<Json<Vec<projections::accounts::AccountView>>, ApiError> {
    let limit = crate::read::page_limit(q.limit)?;
    let consistency = crate::read::Consistency {
        min_position: q.min_position,
        wait_ms: q.wait_ms,
    };
    crate::read::consistent(
        &state,
        &consistency,
        &[&projections::accounts::AccountProjection],
    )
    .await?;
    Ok(Json(
        projections::accounts::list_accounts(&state.read_pool, limit, q.after).await?,
    ))
}

async fn get_account(
    State(state): State<AppState>,
    ApiPath(account_id): ApiPath<Uuid>,
) -> Result<Json<AccountInfo>, ApiError> {
    Ok(Json(account_info(&state, account_id).await?))
}

fn role(raw: &str) -> Result<Role, ApiError> {
    Role::parse(raw).ok_or_else(|| {
        ApiError::unprocessable(
            "invalid_role",
            "role must be customer, seller, admin or auditor",
        )
    })
}

async fn change_role(
    state: &AppState,
    ctx: &CommandContext,
    account_id: Uuid,
    command: AccountCommand,
) -> Result<Json<CommandOutcome>, ApiError> {
    let outcome = state
        .commands
        .account_command(ctx, AccountId::from_uuid(account_id), command)
        .await?;
    Ok(Json(outcome))
}

async fn grant_role(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath((account_id, raw_role)): ApiPath<(Uuid, String)>,
) -> Result<Json<CommandOutcome>, ApiError> {
    let role = role(&raw_role)?;
    change_role(&state, &ctx, account_id, AccountCommand::GrantRole(role)).await
}

async fn revoke_role(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath((account_id, raw_role)): ApiPath<(Uuid, String)>,
) -> Result<Json<CommandOutcome>, ApiError> {
    let role = role(&raw_role)?;
    if role == Role::Admin && account_id == actor.account_id {
        return Err(ApiError::unprocessable(
            "cannot_revoke_own_admin",
            "an admin cannot revoke their own admin role",
        ));
    }
    change_role(&state, &ctx, account_id, AccountCommand::RevokeRole(role)).await
}
