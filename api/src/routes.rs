//! Every route with its access rule, registered together so none can exist without one.
//!
//! The `authorize` middleware looks the rule up by method and matched path and refuses any
//! request whose route has no rule (deny by default). Ownership (a customer's own cart, a
//! seller's own product) is checked by the handlers on top of the role rule.

use std::collections::HashMap;

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{on, MethodFilter};
use axum::Router;
use domain::account::Role;

use crate::openapi::Doc;
use crate::AppState;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in account.
    Authenticated,
    /// Accounts holding at least one of these roles.
    Roles(&'static [Role]),
}

/// A route and its rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// HTTP method.
    pub method: Method,
    /// Path pattern as registered (`/orders/{order_id}`).
    pub path: &'static str,
    /// Access rule.
    pub access: Access,
}

/// Builds the router, its rule table and its OpenAPI description side by side.
pub struct Routes {
    router: Router<AppState>,
    specs: Vec<RouteSpec>,
    docs: Vec<Doc>,
}

impl Default for Routes {
    fn default() -> Self {
        Routes {
            router: Router::new(),
            specs: Vec::new(),
            docs: Vec::new(),
        }
    }
}

impl Routes {
    /// Adds `handler` for `method path`, callable as `access` allows.
    pub fn add<H, T>(
        mut self,
        method: Method,
        path: &'static str,
        access: Access,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("standard method");
        self.router = self.router.route(path, on(filter, handler));
        self.specs.push(RouteSpec {
            method,
            path,
            access,
        });
        self.docs
            .push(Doc::default().for_handler(std::any::type_name::<H>()));
        self
    }

    /// Describes the route added last, for the OpenAPI document.
    pub fn doc(mut self, doc: Doc) -> Self {
        if let Some(last) = self.docs.last_mut() {
            *last = doc.for_handler(last.handler());
        }
        self
    }

    /// Every route with its description.
    pub fn documented(&self) -> Vec<(RouteSpec, Doc)> {
        self.specs
            .iter()
            .cloned()
            .zip(self.docs.iter().cloned())
            .collect()
    }

    /// Adds every route of `other`.
    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.specs.extend(other.specs);
        self.docs.extend(other.docs);
        self
    }

    /// The rules, for inspection and tests.
    pub fn specs(&self) -> &[RouteSpec] {
        &self.specs
    }

    /// Splits into the router and the rule lookup table.
    pub fn into_parts(self) -> (Router<AppState>, Policies) {
        let table = self
            .specs
            .iter()
            .map(|s| ((s.method.clone(), s.path.to_owned()), s.access))
            .collect();
        (self.router, Policies(table))
    }
}

/// Access rules by (method, path pattern).
#[derive(Debug, Default)]
pub struct Policies(HashMap<(Method, String), Access>);

impl Policies {
    /// The rule of a route, if it has one. `HEAD` is served by the `GET` route, under its rule.
    pub fn get(&self, method: &Method, path: &str) -> Option<Access> {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.0.get(&(method.clone(), path.to_owned())).copied()
    }

    /// The methods a path pattern answers, for `Allow` (`HEAD` wherever `GET` is).
    pub fn allowed(&self, path: &str) -> String {
        let mut methods: Vec<&str> = self
            .0
            .keys()
            .filter(|(_, p)| p == path)
            .map(|(m, _)| m.as_str())
            .collect();
        if methods.contains(&"GET") {
            methods.push("HEAD");
        }
        methods.sort_unstable();
        methods.join(", ")
    }
}

/// Customers and admins.
pub const CUSTOMERS: &[Role] = &[Role::Customer, Role::Admin];
/// Sellers and admins.
pub const SELLERS: &[Role] = &[Role::Seller, Role::Admin];
/// Admins only.
pub const ADMINS: &[Role] = &[Role::Admin];
/// Auditors and admins.
pub const AUDITORS: &[Role] = &[Role::Auditor, Role::Admin];
/// Who may read orders: customers (their own), admins and auditors (any).
pub const ORDER_READERS: &[Role] = &[Role::Customer, Role::Admin, Role::Auditor];

#[cfg(test)]
mod tests {
    /// `{account_id}` and `{id}` alike become `{}`, so the README may name parameters freely.
    fn shape(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut in_param = false;
        for c in text.chars() {
            match c {
                '{' => {
                    in_param = true;
                    out.push('{');
                }
                '}' if in_param => {
                    in_param = false;
                    out.push('}');
                }
                _ if in_param => {}
                _ => out.push(c),
            }
        }
        out
    }

    /// Every route has its row in the README's route table.
    #[test]
    fn the_readme_names_every_route() {
        let readme = shape(include_str!("../../README.md"));
        for spec in crate::routes().specs() {
            let path = shape(spec.path);
            let row = format!("{} {path}", spec.method);
            let listed = readme.contains(&row)
                || readme
                    .lines()
                    .filter(|l| l.starts_with('|'))
                    .any(|l| l.contains(&format!("{path}`")) && l.contains(spec.method.as_str()));
            assert!(
                listed,
                "README.md has no row for {} {}",
                spec.method, spec.path
            );
        }
    }
}
