//! The OpenAPI 3.1 description of the API, served at `/openapi.json`, and a page to read and
//! try it at `/docs` (Swagger UI, bundled into the binary: no CDN).
//!
//! The document is built from the route table itself ([`crate::routes`]): every route's
//! method, path, path parameters and access rule come from its registration, so the two
//! cannot disagree; each registration adds a [`Doc`] with what only the handler knows (its
//! summary, query, body and answer types). Schemas are generated from the Rust types with
//! `schemars` (JSON Schema 2020-12, the dialect of OpenAPI 3.1), the way the event schemas
//! are: request types as they are deserialized, answers as they are serialized.
//!
//! Every operation also lists the error answers that can reach it, all `problem+json` with a
//! stable `code`: 400 for bad input, 401 and 403 for protected routes, 404 where the path names
//! something, 409 for commands, 422 for refused commands, 429 (rate limits) and 503 (with
//! `Retry-After`).

use std::collections::BTreeMap;

use axum::http::Method;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::{JsonSchema, Schema};
use serde_json::{json, Map, Value};

use crate::routes::{Access, RouteSpec};

/// Makes the schema of a type (a `$ref` for named types) with a generator.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// What the route table cannot know about a route: set with [`crate::routes::Routes::doc`].
#[derive(Clone, Default)]
pub struct Doc {
    summary: &'static str,
    description: Option<&'static str>,
    query: Option<SchemaFn>,
    body: Option<(SchemaFn, bool)>,
    answer: Option<(u16, Option<SchemaFn>)>,
    headers: Vec<&'static str>,
    statuses: Vec<u16>,
    handler: &'static str,
}

impl Doc {
    /// An operation with a one-line summary.
    pub fn new(summary: &'static str) -> Doc {
        Doc {
            summary,
            ..Doc::default()
        }
    }

    /// A longer description (CommonMark).
    pub fn describe(mut self, description: &'static str) -> Doc {
        self.description = Some(description);
        self
    }

    /// The query parameters: the properties of `T`.
    pub fn query<T: JsonSchema>(mut self) -> Doc {
        self.query = Some(schema_of::<T>);
        self
    }

    /// A JSON body of type `T`, required.
    pub fn body<T: JsonSchema>(mut self) -> Doc {
        self.body = Some((schema_of::<T>, true));
        self
    }

    /// A JSON body of type `T` that may be left out.
    pub fn optional_body<T: JsonSchema>(mut self) -> Doc {
        self.body = Some((schema_of::<T>, false));
        self
    }

    /// The answer when it succeeds: `status` with a JSON `T`.
    pub fn answers<T: JsonSchema>(mut self, status: u16) -> Doc {
        self.answer = Some((status, Some(schema_of::<T>)));
        self
    }

    /// The answer when it succeeds: `status` without a body.
    pub fn answers_empty(mut self, status: u16) -> Doc {
        self.answer = Some((status, None));
        self
    }

    /// A request header the operation reads: `If-Match`, `If-None-Match`, `Idempotency-Key`.
    pub fn header(mut self, name: &'static str) -> Doc {
        self.headers.push(name);
        self
    }

    /// Another status it may answer with, beyond the ones every operation of its kind has
    /// (a `304` of a cached read, a `409` of a version check).
    pub fn status(mut self, status: u16) -> Doc {
        self.statuses.push(status);
        self
    }

    /// The summary (empty when the route was never documented).
    pub fn summary(&self) -> &'static str {
        self.summary
    }

    /// The handler's type name (`api::write::add_to_cart`), for the test that compares each
    /// description with its handler's extractors.
    pub fn handler(&self) -> &'static str {
        self.handler
    }

    pub(crate) fn for_handler(mut self, handler: &'static str) -> Doc {
        self.handler = handler;
        self
    }
}

/// A request header's parameter description.
fn header_parameter(name: &str) -> Value {
    let (description, schema) = match name {
        "If-Match" => (
            "Act only if the addressed stream is still at this version (a quoted number, as \
             the `ETag` of its read); otherwise 409 with the current version.",
            json!({"type": "string", "pattern": "^(W/)?\"?[0-9]{1,18}\"?$"}),
        ),
        "If-None-Match" => (
            "An `ETag` from an earlier answer: 304 without a body when it still matches.",
            json!({"type": "string"}),
        ),
        "Idempotency-Key" => (
            "Makes a retry answer with the first execution's result instead of acting twice \
             (1 to 255 visible ASCII characters).",
            json!({"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}),
        ),
        _ => ("", json!({"type": "string"})),
    };
    json!({"name": name, "in": "header", "required": false,
           "description": description, "schema": schema})
}

/// The schema of a path parameter, from its name, as the handlers validate it: ids are UUIDs;
/// SKUs, slugs, countries and roles have their value objects' shapes (the handlers still check
/// everything: a value outside these answers 400 or 404).
fn path_parameter(name: &str) -> Value {
    let schema = match name {
        "sku" => json!({"type": "string", "minLength": 1, "maxLength": 64,
            "pattern": "^[A-Za-z0-9._-]*[A-Za-z0-9][A-Za-z0-9._-]*$"}),
        "slug" | "category" => json!({"type": "string", "minLength": 1, "maxLength": 64,
            "pattern": "^[a-z0-9-]+$"}),
        "method_id" => json!({"type": "string", "minLength": 1, "maxLength": 32,
            "pattern": "^[a-z0-9_-]+$"}),
        "country" => json!({"type": "string", "pattern": "^[A-Z]{2}$"}),
        "role" => json!({"type": "string", "enum": ["customer", "seller", "admin", "auditor"]}),
        "asset" => json!({"type": "string",
            "enum": ["swagger-ui-bundle.js", "swagger-ui.css", "init.js"]}),
        "file" => json!({"type": "string", "enum": crate::web::ASSETS}),
        _ if name == "id" || name.ends_with("_id") => {
            json!({"type": "string", "format": "uuid"})
        }
        _ => json!({"type": "string", "minLength": 1}),
    };
    json!({"name": name, "in": "path", "required": true, "schema": schema})
}

/// The names of a path template's parameters, in order.
pub fn path_parameters(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// The query parameters of an object schema: one per property.
fn query_parameters(schema: &Value, definitions: &Map<String, Value>) -> Vec<Value> {
    let resolved = match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .rsplit('/')
            .next()
            .and_then(|name| definitions.get(name))
            .unwrap_or(schema),
        None => schema,
    };
    let required: Vec<&str> = resolved
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = resolved.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, schema)| {
            let mut parameter = json!({
                "name": name, "in": "query", "required": required.contains(&name.as_str()),
                "schema": schema,
            });
            if let Some(description) = schema.get("description") {
                parameter["description"] = description.clone();
            }
            parameter
        })
        .collect()
}

/// The error answer every operation shares.
fn problem_response(description: &str, retry_after: bool) -> Value {
    let mut response = json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    });
    if retry_after {
        response["headers"] = json!({"Retry-After": {
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "integer", "minimum": 0}}});
    }
    response
}

/// Replaces every `$ref` to `#/components/schemas/{from}` under `value` with `{to}`.
fn rename_references(value: &mut Value, renamed: &BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("$ref") {
                if let Some(name) = reference.strip_prefix("#/components/schemas/") {
                    if let Some(new) = renamed.get(name) {
                        *reference = format!("#/components/schemas/{new}");
                    }
                }
            }
            for v in map.values_mut() {
                rename_references(v, renamed);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_references(v, renamed)),
        _ => {}
    }
}

/// The whole document for `routes`, each with its [`Doc`].
pub fn document(routes: &[(RouteSpec, Doc)]) -> Value {
    let settings = |contract: fn(SchemaSettings) -> SchemaSettings| {
        contract(SchemaSettings::draft2020_12().with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        }))
        .into_generator()
    };
    let mut requests = settings(SchemaSettings::for_deserialize);
    let mut answers = settings(SchemaSettings::for_serialize);

    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut answer_schemas: Vec<(String, String, u16, Value)> = Vec::new();
    for (spec, doc) in routes {
        let method = spec.method.as_str().to_lowercase();
        let mut parameters: Vec<Value> = path_parameters(spec.path)
            .into_iter()
            .map(path_parameter)
            .collect();
        if let Some(query) = doc.query {
            let schema = query(&mut requests).to_value();
            parameters.extend(query_parameters(&schema, requests.definitions()));
        }
        parameters.extend(doc.headers.iter().map(|h| header_parameter(h)));

        let mut operation = json!({
            "operationId": operation_id(&spec.method, spec.path),
            "summary": doc.summary,
            "tags": [tag(spec.path)],
        });
        if let Some(description) = doc.description {
            operation["description"] = description.into();
        }
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        if let Some((body, required)) = doc.body {
            operation["requestBody"] = json!({
                "required": required,
                "content": {"application/json": {"schema": body(&mut requests).to_value()}},
            });
        }
        if spec.access != Access::Public {
            operation["security"] = json!([{"bearer": []}]);
            if let Access::Roles(roles) = spec.access {
                let names: Vec<String> =
                    roles.iter().map(|r| format!("`{}`", r.as_str())).collect();
                let who = format!("Roles: {}.", names.join(", "));
                operation["description"] = match operation.get("description") {
                    Some(Value::String(d)) => format!("{d}\n\n{who}").into(),
                    _ => who.into(),
                };
            }
        }

        let mut responses = Map::new();
        let (status, schema) = doc.answer.unwrap_or((200, None));
        let mut success = json!({"description": "Done."});
        if let Some(schema) = schema {
            let schema = schema(&mut answers).to_value();
            answer_schemas.push((spec.path.to_owned(), method.clone(), status, schema));
        } else if doc.answer.is_none() {
            success["content"] = json!({"application/json": {"schema": {}}});
        }
        responses.insert(status.to_string(), success);
        let command = spec.method != Method::GET;
        let has_input = !path_parameters(spec.path).is_empty()
            || doc.query.is_some()
            || doc.body.is_some()
            || !doc.headers.is_empty();
        let mut errors: Vec<(u16, &str, bool)> = Vec::new();
        if has_input {
            errors.push((
                400,
                "The request is malformed or a value is invalid.",
                false,
            ));
        }
        if spec.access != Access::Public {
            errors.push((401, "No valid access token.", false));
            errors.push((403, "The token's account may not do this.", false));
        }
        if !path_parameters(spec.path).is_empty() {
            errors.push((
                404,
                "What the path names does not exist (or is not yours).",
                false,
            ));
        }
        if command {
            errors.push((
                409,
                "A concurrent change or a version mismatch (`If-Match`).",
                false,
            ));
            errors.push((413, "The body is larger than 64 KiB.", false));
            errors.push((415, "The body is not JSON.", false));
            errors.push((
                422,
                "The command was refused by a business rule (`code` says which).",
                false,
            ));
        }
        errors.push((429, "Too many requests: see `Retry-After`.", true));
        errors.push((
            503,
            "The store or a read model is unavailable or behind: see `Retry-After`.",
            true,
        ));
        for extra in &doc.statuses {
            match extra {
                304 => {
                    responses.insert("304".into(), json!({"description": "Not modified."}));
                }
                401 => errors.push((
                    401,
                    "The credentials or the signature are not valid.",
                    false,
                )),
                404 => errors.push((404, "There is nothing to show yet (see the code).", false)),
                other => errors.push((*other, "See the code.", false)),
            }
        }
        for (status, description, retry) in errors {
            responses
                .entry(status.to_string())
                .or_insert_with(|| problem_response(description, retry));
        }
        operation["responses"] = Value::Object(responses);
        paths
            .entry(spec.path.to_owned())
            .or_default()
            .insert(method, operation);
    }

    // Answer schemas describe serialization, request schemas deserialization: a type named
    // alike in both with different schemas gets its answer form under `{Name}Answer`.
    let mut schemas = requests.take_definitions(true);
    let answer_definitions = answers.take_definitions(true);
    let renamed: BTreeMap<String, String> = answer_definitions
        .iter()
        .filter(|(name, schema)| schemas.get(*name).is_some_and(|s| s != *schema))
        .map(|(name, _)| (name.clone(), format!("{name}Answer")))
        .collect();
    for (name, mut schema) in answer_definitions {
        rename_references(&mut schema, &renamed);
        let name = renamed.get(&name).cloned().unwrap_or(name);
        schemas.insert(name, schema);
    }
    for (path, method, status, mut schema) in answer_schemas {
        rename_references(&mut schema, &renamed);
        if let Some(operation) = paths.get_mut(&path).and_then(|p| p.get_mut(&method)) {
            operation["responses"][status.to_string()]["content"] =
                json!({"application/json": {"schema": schema}});
        }
    }
    schemas.insert(
        "Problem".into(),
        json!({
            "type": "object",
            "description": "An error (RFC 9457), with a stable machine-readable `code`; some codes add members.",
            "required": ["type", "title", "status", "code", "detail"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "detail": {"type": "string"},
            },
        }),
    );

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "commerce",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "An event-sourced commerce engine: commands append events, queries read \
                the read models built from them. Commands answer with `global_position`; a query \
                given `min_position` waits until its read models include it.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    })
}

/// A stable operation id: the method and the path's words, `post_customers_cart_items`.
fn operation_id(method: &Method, path: &str) -> String {
    let mut id = method.as_str().to_lowercase();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        let word = segment.trim_start_matches('{').trim_end_matches('}');
        id.extend(
            word.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
        );
    }
    id
}

/// The tag grouping an operation: its path's first segment.
fn tag(path: &str) -> String {
    path.split('/')
        .find(|s| !s.is_empty())
        .unwrap_or("root")
        .trim_start_matches('{')
        .trim_end_matches('}')
        .to_owned()
}

/// The routes of the document and its page, all public.
pub fn routes() -> crate::routes::Routes {
    use crate::routes::Routes;
    Routes::default()
        .add(Method::GET, "/openapi.json", Access::Public, openapi_json)
        .doc(Doc::new("This API's OpenAPI 3.1 document").answers::<Value>(200))
        .add(Method::GET, "/docs", Access::Public, docs_page)
        .doc(Doc::new("A page to read and try the API (Swagger UI)").answers_empty(200))
        .add(Method::GET, "/docs/{asset}", Access::Public, docs_asset)
        .doc(Doc::new("The docs page's scripts and styles").answers_empty(200))
}

/// The document, built once from [`crate::routes`].
pub fn served() -> &'static str {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| document(&crate::routes().documented()).to_string())
}

async fn openapi_json() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        served(),
    )
        .into_response()
}

/// The docs page's policy: its own scripts and styles only (Swagger UI sets inline styles).
const DOCS_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

const DOCS_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>commerce API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"#;

const DOCS_INIT: &str =
    "window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });\n";

async fn docs_page() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (axum::http::header::CONTENT_SECURITY_POLICY, DOCS_POLICY),
        ],
        DOCS_PAGE,
    )
        .into_response()
}

async fn docs_asset(
    crate::extract::ApiPath(asset): crate::extract::ApiPath<String>,
) -> Result<axum::response::Response, crate::error::ApiError> {
    use axum::response::IntoResponse;
    let (content_type, body): (&str, &'static [u8]) = match asset.as_str() {
        "swagger-ui-bundle.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/swagger-ui/swagger-ui-bundle.js"),
        ),
        "swagger-ui.css" => (
            "text/css; charset=utf-8",
            include_bytes!("../assets/swagger-ui/swagger-ui.css"),
        ),
        "init.js" => ("text/javascript; charset=utf-8", DOCS_INIT.as_bytes()),
        _ => {
            return Err(crate::error::ApiError::not_found(
                "not_found",
                "no such file of the docs page",
            ))
        }
    };
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, content_type),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    fn documented() -> Vec<(RouteSpec, Doc)> {
        crate::routes().documented()
    }

    /// The document has exactly the route table's operations, each with a summary and the
    /// path parameters its template names.
    #[test]
    fn the_document_and_the_route_table_agree() {
        let routes = documented();
        let document = document(&routes);
        let mut operations = BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                operations.insert((method.to_uppercase(), path.clone()));
                let named: Vec<&str> = operation["parameters"]
                    .as_array()
                    .map(|p| {
                        p.iter()
                            .filter(|p| p["in"] == "path")
                            .map(|p| p["name"].as_str().unwrap())
                            .collect()
                    })
                    .unwrap_or_default();
                assert_eq!(named, path_parameters(path), "{method} {path}");
                assert!(
                    !operation["summary"].as_str().unwrap_or("").is_empty(),
                    "{method} {path} has no summary: register it with .doc(...)"
                );
            }
        }
        let table: BTreeSet<(String, String)> = routes
            .iter()
            .map(|(spec, _)| (spec.method.to_string(), spec.path.to_owned()))
            .collect();
        assert_eq!(operations, table);
        assert_eq!(document["openapi"], "3.1.0");
    }

    /// Every `$ref` of the document names a schema it holds.
    #[test]
    fn every_reference_resolves() {
        fn walk(value: &Value, found: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(r)) = map.get("$ref") {
                        found.push(r.clone());
                    }
                    map.values().for_each(|v| walk(v, found));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
                _ => {}
            }
        }
        let document = document(&documented());
        let mut references = Vec::new();
        walk(&document, &mut references);
        assert!(references.len() > 50);
        for reference in references {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{reference} points outside the schemas"));
            assert!(
                document["components"]["schemas"].get(name).is_some(),
                "{reference} is not in the document"
            );
        }
    }

    /// Each description matches its handler's extractors, read from the source: a body where
    /// it takes `ApiJson` (required) or `OptionalJson` (optional), query parameters where it
    /// takes `ApiQuery`, `If-Match`, `Idempotency-Key` and `If-None-Match` where it reads them,
    /// and 201 or 204 where it answers so. A handler changed without its description fails.
    #[test]
    fn every_description_matches_its_handler() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        for (spec, doc) in documented() {
            let mut parts = doc.handler().rsplit("::");
            let name = parts.next().unwrap();
            let module = parts.next().unwrap();
            let source = std::fs::read_to_string(format!("{dir}/{module}.rs"))
                .unwrap_or_else(|e| panic!("{module}.rs: {e}"));
            let start = source
                .find(&format!("async fn {name}("))
                .unwrap_or_else(|| panic!("no handler {name} in {module}.rs"));
            let end = start + source[start..].find("\n}\n").unwrap();
            let handler = &source[start..end];
            let signature = &handler[..handler.find('{').unwrap()];
            let route = format!("{} {} ({name})", spec.method, spec.path);
            assert_eq!(
                doc.body.map(|(_, required)| required),
                if signature.contains("ApiJson<") {
                    Some(true)
                } else if signature.contains("OptionalJson<") {
                    Some(false)
                } else {
                    doc.body.map(|(_, r)| r).filter(|_| name == "webhook")
                },
                "{route}: request body"
            );
            assert_eq!(
                doc.query.is_some(),
                signature.contains("ApiQuery<"),
                "{route}: query"
            );
            for (header, extractor) in [
                ("If-Match", "IfMatch"),
                ("Idempotency-Key", "IdempotencyKey"),
            ] {
                assert_eq!(
                    doc.headers.contains(&header),
                    signature.contains(extractor),
                    "{route}: {header}"
                );
            }
            assert_eq!(
                doc.headers.contains(&"If-None-Match"),
                handler.contains("cache::"),
                "{route}: If-None-Match"
            );
            let status = doc.answer.map_or(200, |(s, _)| s);
            assert_eq!(
                status == 201,
                handler.contains("StatusCode::CREATED"),
                "{route}: 201"
            );
            assert_eq!(
                status == 204,
                handler.contains("StatusCode::NO_CONTENT"),
                "{route}: 204"
            );
        }
    }
}
