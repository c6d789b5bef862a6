//! Category routes: the public tree with product counts, and admins defining and removing
//! categories.

use crate::openapi::Doc;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Json;
use commands::CommandOutcome;
use domain::category::{CategoryCommand, CategorySlug, Position};
use domain::text::CategoryName;
use projections::{catalog, categories};
use serde::{Deserialize, Serialize};

use crate::cache;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Context};
use crate::read::{consistent, Consistency};
use crate::routes::{Access, Routes, ADMINS};
use crate::security::MaybeCaller;
use crate::AppState;

/// Category routes and who may call them.
pub fn routes() -> Routes {
    Routes::default()
        .add(Method::GET, "/categories", Access::Public, tree)
        .doc(
            Doc::new("The category tree")
                .query::<Consistency>()
                .header("If-None-Match")
                .status(304)
                .answers::<serde_json::Value>(200),
        )
        .add(
            Method::PUT,
            "/admin/categories/{slug}",
            Access::Roles(ADMINS),
            define,
        )
        .doc(
            Doc::new("Define or change a category")
                .body::<Definition>()
                .answers::<CommandOutcome>(200),
        )
        .add(
            Method::DELETE,
            "/admin/categories/{slug}",
            Access::Roles(ADMINS),
            remove,
        )
        .doc(Doc::new("Remove an empty category").answers::<CommandOutcome>(200))
}

fn slug(raw: &str) -> Result<CategorySlug, ApiError> {
    CategorySlug::parse(raw)
        .map_err(|e| ApiError::bad_request("invalid_path", e.to_string()).with("field", "slug"))
}

/// `PUT /admin/categories/{slug}` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    #[schemars(length(min = 1, max = 100))]
    name: String,
    /// The parent's slug; absent or `null`: a root.
    #[serde(default)]
    parent: Option<String>,
    /// Place among its siblings (default 0; ties go by name).
    #[serde(default)]
    #[schemars(range(min = 0, max = 100_000))]
    position: i64,
}

async fn define(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath(raw): ApiPath<String>,
    ApiJson(body): ApiJson<Definition>,
) -> Result<(StatusCode, Json<CommandOutcome>), ApiError> {
    let command = CategoryCommand::Define {
        slug: slug(&raw)?,
        name: CategoryName::parse(&body.name).map_err(|e| with_field(e, "name"))?,
        parent: body
            .parent
            .as_deref()
            .map(CategorySlug::parse)
            .transpose()
            .map_err(|e| with_field(e, "parent"))?,
        position: Position::new(body.position)?,
    };
    let outcome = state.commands.category_command(&ctx, command).await?;
    Ok((StatusCode::OK, Json(outcome)))
}

/// The value error, reported against `field` of this body.
fn with_field(e: domain::ValueError, field: &'static str) -> ApiError {
    ApiError::from(e).with("field", field)
}

async fn remove(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath(raw): ApiPath<String>,
) -> Result<(StatusCode, Json<CommandOutcome>), ApiError> {
    let command = CategoryCommand::Remove { slug: slug(&raw)? };
    let outcome = state.commands.category_command(&ctx, command).await?;
    Ok((StatusCode::OK, Json(outcome)))
}

/// `GET /categories` answer.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Tree {
    /// Root categories, each with its subcategories.
    pub categories: Vec<categories::CategoryNode>,
}

async fn tree(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    headers: HeaderMap,
    ApiQuery(consistency): ApiQuery<Consistency>,
) -> Result<Response, ApiError> {
    consistent(&state, &consistency, &[&catalog::CatalogProjection]).await?;
    let tree = Tree {
        categories: categories::tree(&state.read_pool).await?,
    };
    cache::conditional(&headers, caller.is_none(), &tree)
}
