//! Address-book routes: a customer's addresses (admins: any customer's), and the addresses a
//! checkout names.

use crate::openapi::Doc;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::Json;
use commands::{AddressChoice, Checkout, CommandOutcome, Missing};
use domain::address::{Address, AddressId, AddressInput};
use domain::CustomerId;
use projections::addresses::{self, AddressProjection, AddressView};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Context};
use crate::read::{consistent, Consistency};
use crate::routes::{Access, Routes, CUSTOMERS};
use crate::security::Caller;
use crate::AppState;

/// Address-book routes and who may call them.
pub fn routes() -> Routes {
    use Access::Roles;
    Routes::default()
        .add(
            Method::GET,
            "/customers/{customer_id}/addresses",
            Roles(CUSTOMERS),
            list,
        )
        .doc(
            Doc::new("The customer's address book")
                .query::<Consistency>()
                .answers::<AddressList>(200),
        )
        .add(
            Method::POST,
            "/customers/{customer_id}/addresses",
            Roles(CUSTOMERS),
            add,
        )
        .doc(
            Doc::new("Add an address (the first becomes the default)")
                .body::<NewAddress>()
                .answers::<AddressAdded>(201),
        )
        .add(
            Method::PUT,
            "/customers/{customer_id}/addresses/{address_id}",
            Roles(CUSTOMERS),
            change,
        )
        .doc(
            Doc::new("Change an address")
                .body::<AddressInput>()
                .answers::<CommandOutcome>(200),
        )
        .add(
            Method::DELETE,
            "/customers/{customer_id}/addresses/{address_id}",
            Roles(CUSTOMERS),
            remove,
        )
        .doc(Doc::new("Remove an address").answers::<CommandOutcome>(200))
        .add(
            Method::PUT,
            "/customers/{customer_id}/addresses/{address_id}/default",
            Roles(CUSTOMERS),
            make_default,
        )
        .doc(Doc::new("Make an address the default").answers::<CommandOutcome>(200))
}

/// Validates an address given in a request; errors name the member as `prefix.field`.
pub(crate) fn parse_address(prefix: &str, input: &AddressInput) -> Result<Address, ApiError> {
    Address::parse(input).map_err(|e| {
        let field = e.field().unwrap_or("address");
        ApiError::from(e).with("field", format!("{prefix}.{field}"))
    })
}

/// `POST /customers/{id}/orders` body: each address by address-book id or in full (none means
/// the book's default for shipping and the shipping address for billing), and the store
/// credit to apply.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutBody {
    shipping_address_id: Option<Uuid>,
    shipping_address: Option<AddressInput>,
    billing_address_id: Option<Uuid>,
    billing_address: Option<AddressInput>,
    /// Store credit to apply (at most the order total).
    store_credit: Option<crate::write::MoneyInput>,
    /// Shipping method id (see `GET /pricing`).
    shipping_method: Option<String>,
    /// The total a preview showed; another total refuses the checkout with `price_changed`.
    expected_total: Option<crate::write::MoneyInput>,
}

fn choice(
    role: &str,
    id: Option<Uuid>,
    given: Option<&AddressInput>,
) -> Result<Option<AddressChoice>, ApiError> {
    match (id, given) {
        (Some(_), Some(_)) => Err(ApiError::unprocessable(
            "ambiguous_address",
            format!("give {role}_address_id or {role}_address, not both"),
        )
        .with("field", format!("{role}_address"))),
        (Some(id), None) => Ok(Some(AddressChoice::Saved(AddressId::from_uuid(id)))),
        (None, Some(input)) => Ok(Some(AddressChoice::Given(parse_address(
            &format!("{role}_address"),
            input,
        )?))),
        (None, None) => Ok(None),
    }
}

impl CheckoutBody {
    /// What the body asks for, validated.
    pub fn checkout(&self) -> Result<Checkout, ApiError> {
        Ok(Checkout {
            shipping: choice(
                "shipping",
                self.shipping_address_id,
                self.shipping_address.as_ref(),
            )?,
            billing: choice(
                "billing",
                self.billing_address_id,
                self.billing_address.as_ref(),
            )?,
            store_credit: self
                .store_credit
                .as_ref()
                .map(|m| m.parse().map_err(|e| e.with("field", "store_credit")))
                .transpose()?,
            shipping_method: self
                .shipping_method
                .as_deref()
                .map(|m| domain::pricing::Slug::parse("shipping_method", m))
                .transpose()?,
            expected_total: self
                .expected_total
                .as_ref()
                .map(|m| m.parse().map_err(|e| e.with("field", "expected_total")))
                .transpose()?,
        })
    }
}

/// `GET /customers/{id}/addresses` answer.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AddressList {
    /// Entries in the order they were added.
    pub items: Vec<AddressView>,
}

async fn list(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiPath(customer): ApiPath<Uuid>,
    ApiQuery(consistency): ApiQuery<Consistency>,
) -> Result<Json<AddressList>, ApiError> {
    actor.owns(customer, Missing::Customer)?;
    consistent(&state, &consistency, &[&AddressProjection]).await?;
    let items = addresses::list_addresses(&state.read_pool, customer).await?;
    Ok(Json(AddressList { items }))
}

/// `POST /customers/{id}/addresses` body: an address, and whether it becomes the default.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAddress {
    #[serde(flatten)]
    address: AddressInput,
    #[serde(default)]
    default: bool,
}

/// Answer to `POST /customers/{id}/addresses`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AddressAdded {
    /// The new entry.
    pub address_id: Uuid,
    /// Stream version and global position.
    #[serde(flatten)]
    pub outcome: CommandOutcome,
}

async fn add(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath(customer): ApiPath<Uuid>,
    ApiJson(body): ApiJson<NewAddress>,
) -> Result<(StatusCode, Json<AddressAdded>), ApiError> {
    actor.owns(customer, Missing::Customer)?;
    let address = parse_address("address", &body.address)?;
    let (address_id, outcome) = state
        .commands
        .add_address(&ctx, CustomerId::from_uuid(customer), address, body.default)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(AddressAdded {
            address_id: address_id.as_uuid(),
            outcome,
        }),
    ))
}

async fn change(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath((customer, address_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<AddressInput>,
) -> Result<Json<CommandOutcome>, ApiError> {
    actor.owns(customer, Missing::Customer)?;
    let address = parse_address("address", &body)?;
    let outcome = state
        .commands
        .change_address(
            &ctx,
            CustomerId::from_uuid(customer),
            AddressId::from_uuid(address_id),
            address,
        )
        .await?;
    Ok(Json(outcome))
}

async fn remove(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath((customer, address_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<CommandOutcome>, ApiError> {
    actor.owns(customer, Missing::Customer)?;
    let outcome = state
        .commands
        .remove_address(
            &ctx,
            CustomerId::from_uuid(customer),
            AddressId::from_uuid(address_id),
        )
        .await?;
    Ok(Json(outcome))
}

async fn make_default(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath((customer, address_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<CommandOutcome>, ApiError> {
    actor.owns(customer, Missing::Customer)?;
    let outcome = state
        .commands
        .make_default_address(
            &ctx,
            CustomerId::from_uuid(customer),
            AddressId::from_uuid(address_id),
        )
        .await?;
    Ok(Json(outcome))
}
