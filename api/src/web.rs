//! The web pages: the storefront at `/`, the seller dashboard at `/seller` and the back office
//! at `/admin`, a single page written against this API (in `web/`
//! at the top of the repository: plain HTML, CSS and JavaScript modules, no build step),
//! compiled into the binary so the engine serves it with nothing else running and no CDN.

use axum::http::header;
use axum::http::Method;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::openapi::Doc;
use crate::routes::{Access, Routes};

/// The pages' policy: their own scripts, styles and API only; product images from anywhere
/// over HTTPS (sellers give image URLs).
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' https: data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

/// The files `/assets/{file}` serves.
pub const ASSETS: &[&str] = &["app.js", "console.js", "style.css"];

/// The pages' routes, open to anyone (the pages call the API with the signed-in user's token).
pub fn routes() -> Routes {
    Routes::default()
        .add(Method::GET, "/", Access::Public, page)
        .doc(Doc::new("The storefront (a web page on this API)").answers_empty(200))
        .add(Method::GET, "/seller", Access::Public, page)
        .doc(
            Doc::new("The seller dashboard (the same web page; it asks to sign in)")
                .answers_empty(200),
        )
        .add(Method::GET, "/admin", Access::Public, page)
        .doc(Doc::new("The back office (the same web page; it asks to sign in)").answers_empty(200))
        .add(Method::GET, "/assets/{file}", Access::Public, asset)
        .doc(Doc::new("The web pages' scripts and styles").answers_empty(200))
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("../../web/index.html"),
    )
        .into_response()
}

async fn asset(ApiPath(file): ApiPath<String>) -> Result<Response, ApiError> {
    let (content_type, body): (&str, &'static str) = match file.as_str() {
        "app.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../../web/app.js"),
        ),
        "console.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../../web/console.js"),
        ),
        "style.css" => (
            "text/css; charset=utf-8",
            include_str!("../../web/style.css"),
        ),
        _ => {
            return Err(ApiError::not_found(
                "not_found",
                "no such file of the web pages",
            ))
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            // Revalidated each time: a new release's pages are never mixed with old files.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
}
