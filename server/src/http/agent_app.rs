//! The field agents' app at `/app/`: a progressive web app built from `clients/app/` into
//! `server/app/` and compiled into the binary, so the server needs no Node to serve it. The page
//! is public and holds no data: it logs in as a device and syncs like any other.

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
#[folder = "app/"]
struct Files;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(page))
        .routes(routes!(file))
}

/// The dashboard's policy, plus what the app needs: compiling automerge's WebAssembly, and its
/// service worker and manifest.
const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; \
script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; worker-src 'self'; manifest-src 'self'; \
frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The agents' app: installable, and usable with no network after the first visit.
#[utoipa::path(get, path = "/app/", tag = "app",
    responses(
        (status = 200, description = "The app's page", content_type = "text/html", body = String),
        (status = 304, description = "The browser's copy is current"),
    ))]
async fn page(headers: HeaderMap) -> Result<Response, Error> {
    static_files::serve::<Files>("index.html", &headers, CSP)
}

/// A file of the app (its script, automerge's WebAssembly, its service worker, manifest, icons).
#[utoipa::path(get, path = "/app/{name}", tag = "app",
    params(("name" = String, Path, description = "The file's name")),
    responses(
        (status = 200, description = "The file", body = String),
        (status = 304, description = "The browser's copy is current"),
        (status = 404, description = "No such file (`not_found`)", body = ErrorBody),
    ))]
async fn file(PathParam(name): PathParam<String>, headers: HeaderMap) -> Result<Response, Error> {
    static_files::serve::<Files>(&name, &headers, CSP)
}
