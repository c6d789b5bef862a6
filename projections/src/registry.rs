//! The one list of projections. The projector, the store-log feed, the Kafka consumer,
//! rebuilds, snapshots, the CLI and the tests all read it: adding a read model is a module, a
//! migration for its tables, its routes, and one line here.

use std::sync::Arc;

use crate::projection::Projection;

/// Every read model of the engine, in the order each batch is applied to them.
pub fn all() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(crate::accounts::AccountProjection),
        Arc::new(crate::catalog::CatalogProjection),
        Arc::new(crate::carts::CartProjection),
        Arc::new(crate::orders::OrderProjection),
        Arc::new(crate::customer_orders::CustomerOrdersProjection),
        Arc::new(crate::addresses::AddressProjection),
        Arc::new(crate::wallets::WalletProjection),
        Arc::new(crate::wishlists::WishlistProjection),
        Arc::new(crate::sellers::SellerProjection),
        Arc::new(crate::dashboards::DashboardProjection),
        Arc::new(crate::unpaid_orders::UnpaidOrdersProjection),
        Arc::new(crate::refunds_due::RefundsDueProjection),
    ]
}

/// The names of every projection, in registry order.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|p| p.name()).collect()
}

/// The projection called `name`.
pub fn named(name: &str) -> Result<Arc<dyn Projection>, UnknownProjection> {
    all()
        .into_iter()
        .find(|p| p.name() == name)
        .ok_or_else(|| UnknownProjection(name.to_owned()))
}

/// Every read-model table, i.e. everything a full re-projection rebuilds.
pub fn tables() -> Vec<&'static str> {
    all()
        .iter()
        .flat_map(|p| p.tables().iter().copied())
        .collect()
}

/// A name that is no registered projection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown projection {0}; known: {known}", known = names().join(", "))]
pub struct UnknownProjection(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tables_are_unique() {
        let names = names();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        let tables = tables();
        let mut sorted = tables.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), tables.len());
    }

    #[test]
    fn the_readme_names_every_projection() {
        let readme = include_str!("../../README.md");
        for name in names() {
            assert!(
                readme.contains(&format!("`{name}`")),
                "README.md does not mention the projection `{name}`"
            );
        }
    }
}
