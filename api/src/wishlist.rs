//! Wishlist routes: a customer's own wishlist (admins: anyone's).

use crate::openapi::Doc;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::Json;
use commands::{CommandOutcome, Missing};
use domain::{CustomerId, Sku};
use projections::{catalog, wishlists};
use serde::Deserialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Context};
use crate::read::{consistent, Consistency};
use crate::routes::{Access, Routes, CUSTOMERS};
use crate::security::Caller;
use crate::AppState;

/// Wishlist routes and who may call them.
pub fn routes() -> Routes {
    Routes::default()
        .add(
            Method::GET,
            "/customers/{customer_id}/wishlist",
            Access::Roles(CUSTOMERS),
            get_wishlist,
        )
        .doc(
            Doc::new("The customer's wishlist")
                .query::<Consistency>()
                .answers::<wishlists::WishlistView>(200),
        )
        .add(
            Method::POST,
            "/customers/{customer_id}/wishlist/items",
            Access::Roles(CUSTOMERS),
            add_item,
        )
        .doc(
            Doc::new("Add a product to the wishlist")
                .body::<Item>()
                .answers::<CommandOutcome>(200),
        )
        .add(
            Method::DELETE,
            "/customers/{customer_id}/wishlist/items/{sku}",
            Access::Roles(CUSTOMERS),
            remove_item,
        )
        .doc(Doc::new("Remove a product from the wishlist").answers::<CommandOutcome>(200))
}

/// `POST /customers/{id}/wishlist/items` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Item {
    #[schemars(
        length(min = 1, max = 64),
        pattern(r"^[A-Za-z0-9._-]*[A-Za-z0-9][A-Za-z0-9._-]*$")
    )]
    sku: String,
}

async fn add_item(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath(customer): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Item>,
) -> Result<(StatusCode, Json<CommandOutcome>), ApiError> {
    actor.owns(customer, Missing::Customer)?;
    let outcome = state
        .commands
        .add_to_wishlist(&ctx, CustomerId::from_uuid(customer), Sku::parse(body.sku)?)
        .await?;
    Ok((StatusCode::OK, Json(outcome)))
}

async fn remove_item(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath((customer, raw_sku)): ApiPath<(Uuid, String)>,
) -> Result<(StatusCode, Json<CommandOutcome>), ApiError> {
    actor.owns(customer, Missing::Customer)?;
    let outcome = state
        .commands
        .remove_from_wishlist(&ctx, CustomerId::from_uuid(customer), Sku::parse(raw_sku)?)
        .await?;
    Ok((StatusCode::OK, Json(outcome)))
}

async fn get_wishlist(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(customer): ApiPath<Uuid>,
    ApiQuery(consistency): ApiQuery<Consistency>,
) -> Result<Json<wishlists::WishlistView>, ApiError> {
    actor.owns(customer, Missing::Customer)?;
    consistent(
        &state,
        &consistency,
        &[&wishlists::WishlistProjection, &catalog::CatalogProjection],
    )
    .await?;
    Ok(Json(
        wishlists::get_wishlist(&state.read_pool, customer).await?,
    ))
}
