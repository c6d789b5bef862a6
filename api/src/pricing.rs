//! Pricing: the checkout preview, and admins' tax rates and shipping methods.

use crate::openapi::Doc;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::Json;
use commands::{CommandOutcome, Missing};
use domain::address::Country;
use domain::pricing::{PricingCommand, ShippingMethod, ShippingRate, Slug};
use domain::text::ProductName;
use domain::{CustomerId, Money};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::addresses::CheckoutBody;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, Context, OptionalJson};
use crate::routes::{Access, Routes, ADMINS, CUSTOMERS};
use crate::security::Caller;
use crate::write::MoneyInput;
use crate::AppState;

/// Pricing routes and who may call them.
pub fn routes() -> Routes {
    use Access::Roles;
    Routes::default()
        .add(Method::GET, "/pricing", Access::Public, get_pricing)
        .doc(Doc::new("Tax rates and shipping methods").answers::<Value>(200))
        .add(
            Method::POST,
            "/customers/{customer_id}/checkout/preview",
            Roles(CUSTOMERS),
            preview,
        )
        .doc(
            Doc::new("Price the cart as a checkout would, without placing an order")
                .optional_body::<CheckoutBody>()
                .answers::<Preview>(200),
        )
        .add(
            Method::PUT,
            "/admin/tax-rates/{country}/{category}",
            Roles(ADMINS),
            set_tax_rate,
        )
        .doc(
            Doc::new("Set a tax rate for a country and category")
                .body::<TaxRate>()
                .answers::<CommandOutcome>(200),
        )
        .add(
            Method::DELETE,
            "/admin/tax-rates/{country}/{category}",
            Roles(ADMINS),
            remove_tax_rate,
        )
        .doc(Doc::new("Remove a tax rate").answers::<CommandOutcome>(200))
        .add(
            Method::PUT,
            "/admin/shipping-methods/{method_id}",
            Roles(ADMINS),
            define_shipping_method,
        )
        .doc(
            Doc::new("Define or change a shipping method")
                .body::<MethodInput>()
                .answers::<CommandOutcome>(200),
        )
        .add(
            Method::DELETE,
            "/admin/shipping-methods/{method_id}",
            Roles(ADMINS),
            retire_shipping_method,
        )
        .doc(Doc::new("Retire a shipping method").answers::<CommandOutcome>(200))
}

/// `GET /pricing`: tax rates (basis points) and shipping methods, as they stand.
async fn get_pricing(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let pricing = state.commands.pricing().await?;
    let rates: Vec<Value> = pricing
        .tax_rates
        .iter()
        .map(|((country, category), bp)| json!({"country": country, "category": category, "rate_bp": bp}))
        .collect();
    let methods: Vec<&ShippingMethod> = pricing.shipping.values().collect();
    Ok(Json(
        json!({"tax_rates": rates, "shipping_methods": methods}),
    ))
}

/// Answer to a preview.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Preview {
    /// Sum of the lines.
    pub subtotal: Money,
    /// Shipping fee.
    pub shipping: Money,
    /// Tax on the lines and the fee.
    pub tax: Money,
    /// What the order costs: pass it as `expected_total` to the checkout.
    pub total: Money,
}

async fn preview(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Context(ctx): Context,
    ApiPath(customer): ApiPath<Uuid>,
    OptionalJson(body): OptionalJson<Option<CheckoutBody>>,
) -> Result<Json<Preview>, ApiError> {
    actor.owns(customer, Missing::Customer)?;
    let checkout = body.flatten().unwrap_or_default().checkout()?;
    let quote = state
        .commands
        .preview_checkout(&ctx, CustomerId::from_uuid(customer), &checkout)
        .await?;
    Ok(Json(Preview {
        subtotal: quote.subtotal,
        shipping: quote.shipping,
        tax: quote.tax,
        total: quote.total,
    }))
}

fn country(raw: &str) -> Result<Country, ApiError> {
    Country::parse(raw)
        .map_err(|e| ApiError::bad_request("invalid_path", e.to_string()).with("field", "country"))
}

fn slug(field: &'static str, raw: &str) -> Result<Slug, ApiError> {
    Slug::parse(field, raw)
        .map_err(|e| ApiError::bad_request("invalid_path", e.to_string()).with("field", field))
}

/// `PUT /admin/tax-rates/{country}/{category}` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxRate {
    /// Basis points: 1900 is 19 %.
    #[schemars(range(max = 10_000))]
    rate_bp: u32,
}

async fn set_tax_rate(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath((raw_country, raw_category)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<TaxRate>,
) -> Result<Json<CommandOutcome>, ApiError> {
    let command = PricingCommand::SetTaxRate {
        country: country(&raw_country)?,
        category: slug("category", &raw_category)?,
        rate_bp: body.rate_bp,
    };
    Ok(Json(state.commands.pricing_command(&ctx, command).await?))
}

async fn remove_tax_rate(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath((raw_country, raw_category)): ApiPath<(String, String)>,
) -> Result<Json<CommandOutcome>, ApiError> {
    let command = PricingCommand::RemoveTaxRate {
        country: country(&raw_country)?,
        category: slug("category", &raw_category)?,
    };
    Ok(Json(state.commands.pricing_command(&ctx, command).await?))
}

/// A shipping fee in a request.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RateInput {
    /// One fee per order.
    Flat {
        /// The fee.
        amount: MoneyInput,
    },
    /// A fee for the first unit and another for each further one.
    PerItem {
        /// First unit.
        first: MoneyInput,
        /// Each further unit.
        additional: MoneyInput,
    },
}

/// `PUT /admin/shipping-methods/{id}` body.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MethodInput {
    name: String,
    #[serde(default)]
    countries: Vec<String>,
    rate: RateInput,
    free_above: Option<MoneyInput>,
}

async fn define_shipping_method(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath(raw_id): ApiPath<String>,
    ApiJson(body): ApiJson<MethodInput>,
) -> Result<(StatusCode, Json<CommandOutcome>), ApiError> {
    let rate = match &body.rate {
        RateInput::Flat { amount } => ShippingRate::Flat {
            amount: amount.parse()?,
        },
        RateInput::PerItem { first, additional } => ShippingRate::PerItem {
            first: first.parse()?,
            additional: additional.parse()?,
        },
    };
    let countries = body
        .countries
        .iter()
        .map(|c| Country::parse(c))
        .collect::<Result<Vec<_>, _>>()?;
    let method = ShippingMethod {
        id: slug("method_id", &raw_id)?,
        name: ProductName::parse(&body.name)
            .map_err(|e| ApiError::from(e).with("field", "name"))?
            .to_string(),
        countries,
        rate,
        free_above: body
            .free_above
            .as_ref()
            .map(MoneyInput::parse)
            .transpose()?,
    };
    let outcome = state
        .commands
        .pricing_command(&ctx, PricingCommand::DefineShippingMethod { method })
        .await?;
    Ok((StatusCode::OK, Json(outcome)))
}

async fn retire_shipping_method(
    State(state): State<AppState>,
    Context(ctx): Context,
    ApiPath(raw_id): ApiPath<String>,
) -> Result<Json<CommandOutcome>, ApiError> {
    let command = PricingCommand::RetireShippingMethod {
        id: slug("method_id", &raw_id)?,
    };
    Ok(Json(state.commands.pricing_command(&ctx, command).await?))
}
