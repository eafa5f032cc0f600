//! The managers' web dashboard: `GET /` is its page and `/assets/...` its scripts, styles and the
//! vendored chart library, all compiled into the binary from `server/dashboard/` (nothing to
//! install, nothing fetched at run time). The page is public and holds no data: it signs in with
//! `POST /v1/auth/session` and reads everything through the API, as any client would.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;
use sync_core::protocol::ErrorBody;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Error;
use crate::http::state::AppState;
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

/// One of the dashboard's files, with its media type and an ETag, so a browser revalidates instead
/// of downloading again (`no-cache`: a new server version is picked up at once).
fn serve(path: &str, headers: &HeaderMap) -> Result<Response, Error> {
    let file = Files::get(path).ok_or_else(|| Error::NotFound("no such file".into()))?;
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        file.data.into_owned().into_response()
    };
    let h = response.headers_mut();
    let mime = file.metadata.mimetype();
    let text = mime.starts_with("text/") || mime.ends_with("javascript");
    let content_type = if text {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    let value = |v: &str| HeaderValue::from_str(v).map_err(|e| Error::Internal(e.to_string()));
    h.insert(header::CONTENT_TYPE, value(&content_type)?);
    h.insert(header::ETAG, value(&etag)?);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
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
