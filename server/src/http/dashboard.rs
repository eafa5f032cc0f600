//! The managers' web dashboard: `GET /` is its page and `/assets/...` its scripts, styles and the
//! vendored chart library, all compiled into the binary from `server/dashboard/` (nothing to
//! install, nothing fetched at run time). The page is public and holds no data: it signs in with
//! `POST /v1/auth/session` and reads everything through the API, as any client would.

use axum::http::HeaderMap;
use axum::response::Response;
use rust_embed::RustEmbed;
use sync_core::protocol::ErrorBody;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Error;
use crate::http::state::AppState;
use crate::http::static_files;
use crate::http::wire::PathParam;

#[derive(RustEmbed)]
#[folder = "dashboard/"]
struct Files;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(page))
        .routes(routes!(asset))
        .routes(routes!(asset_in))
}

/// Scripts and styles from this server alone, no inline code, no framing: a value that slipped into
/// the page unescaped cannot run.
const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; \
script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn serve(path: &str, headers: &HeaderMap) -> Result<Response, Error> {
    static_files::serve::<Files>(path, headers, CSP)
}

/// The dashboard: managers and admins sign in here; anyone else finds what this server is and how
/// devices use it.
#[utoipa::path(get, path = "/", tag = "dashboard",
    responses(
        (status = 200, description = "The dashboard's page", content_type = "text/html", body = String),
        (status = 304, description = "The browser's copy is current"),
    ))]
async fn page(headers: HeaderMap) -> Result<Response, Error> {
    serve("index.html", &headers)
}

/// A file of the dashboard (script, style sheet, image).
#[utoipa::path(get, path = "/assets/{name}", tag = "dashboard",
    params(("name" = String, Path, description = "The file's name")),
    responses(
        (status = 200, description = "The file", body = String),
        (status = 304, description = "The browser's copy is current"),
        (status = 404, description = "No such file (`not_found`)", body = ErrorBody),
    ))]
async fn asset(PathParam(name): PathParam<String>, headers: HeaderMap) -> Result<Response, Error> {
    serve(&name, &headers)
}

/// A file of the dashboard in one of its folders (its pages' scripts, the vendored chart library).
#[utoipa::path(get, path = "/assets/{folder}/{name}", tag = "dashboard",
    params(
        ("folder" = String, Path, description = "The file's folder"),
        ("name" = String, Path, description = "The file's name"),
    ),
    responses(
        (status = 200, description = "The file", body = String),
        (status = 304, description = "The browser's copy is current"),
        (status = 404, description = "No such file (`not_found`)", body = ErrorBody),
    ))]
async fn asset_in(
    PathParam((folder, name)): PathParam<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    serve(&format!("{folder}/{name}"), &headers)
}
