//! The HTTP surface: handlers, one module per area, each exporting its `router()`; the body
//! extractor of the sync calls; the OpenAPI document.

pub mod admission;
pub mod agent_app;
pub mod attachments;
pub mod auth;
pub mod dashboard;
pub mod decisions;
pub mod devices;
pub mod duplicates;
pub mod exports;
pub mod extract;
pub mod health;
pub mod imports;
pub mod openapi;
pub mod ops;
pub mod privacy;
pub mod quarantine;
pub mod records;
pub mod reports;
pub mod schema;
pub mod session;
pub mod state;
pub mod static_files;
pub mod sync;
pub mod track;
pub mod users;
pub mod wire;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::{Extension, Router};
use sync_core::protocol::Limits;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::error::Error;
use state::AppState;

pub async fn not_found() -> Error {
    Error::NotFound("no such endpoint".into())
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Bodies of the JSON endpoints (login, devices) are small.
const JSON_BODY_LIMIT: usize = 64 * 1024;
/// A record's fields written over the JSON API.
const RECORD_BODY_LIMIT: usize = 512 * 1024;
/// A CSV file imported over the API: some 100,000 customers.
const IMPORT_BODY_LIMIT: usize = 32 << 20;

/// Every endpoint, each registered together with its OpenAPI operation so the document served at
/// `/openapi.json` cannot miss one. **Architecture invariant:** routes are only ever added here,
/// through `OpenApiRouter::routes`; the unit test `routes_are_only_added_with_their_operation` checks
/// the source for any other way.
fn api(limits: &Limits) -> OpenApiRouter<AppState> {
    // Sync bodies may come compressed (`Content-Encoding: zstd` or `gzip`): a device's first push
    // is its offline work, mostly listings and changes that share actor ids. The body limit counts
    // the decompressed bytes, so a small body that inflates past it is refused like a large one.
    let sync = sync::router()
        .layer(DefaultBodyLimit::max(limits.max_message_bytes))
        .layer(RequestDecompressionLayer::new().pass_through_unaccepted(true));
    // The JSON endpoints take small bodies; the sync calls up to the message limit.
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(dashboard::router())
        .merge(agent_app::router())
        .merge(health::router())
        .merge(auth::router())
        .merge(session::router())
        .merge(devices::router())
        .merge(quarantine::router())
        .merge(decisions::router())
        .merge(duplicates::router())
        .merge(users::router())
        .merge(reports::router())
        .merge(exports::router())
        .merge(privacy::router())
        .merge(ops::router())
        .merge(schema::router())
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        // A record's fields may hold notes of 20,000 characters of up to four bytes each.
        .merge(records::router().layer(DefaultBodyLimit::max(RECORD_BODY_LIMIT)))
        .merge(imports::router().layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT)))
        // Uploads stream their bodies piece by piece, bounded by the file's declared length.
        .merge(attachments::router())
        .merge(sync)
}

/// The OpenAPI document of every endpoint.
pub fn openapi() -> serde_json::Value {
    let (_, doc) = api(&Limits::default()).split_for_parts();
    openapi::with_msgpack_forms(doc)
}

pub fn router(state: AppState) -> Router {
    let (routes, doc) = api(&state.sync.limits).split_for_parts();
    let doc = openapi::with_msgpack_forms(doc);
    routes
        .route_layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            track::track,
        ))
        .fallback(not_found)
        .layer(Extension(Arc::new(doc)))
        // Pages of the feed are mostly listings (JSON) and automerge chunks that share actor ids:
        // zstd's fastest level shrinks a first sync's pages about eightfold for a few percent of the
        // server's CPU (BENCHMARKS.md), and a field device's link is slower than that CPU. Clients that do not ask for it get plain bodies.
        .layer(
            CompressionLayer::new().quality(CompressionLevel::Fastest),
        )
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id, device = tracing::field::Empty)
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    /// Routes registered with `route`, `route_service` or `nest` (on an axum or an OpenApiRouter) would
    /// be served but missing from the OpenAPI document, and so from schemathesis and the authorisation
    /// matrix. Every route must go through `OpenApiRouter::routes(routes!(handler))`, which registers
    /// both.
    #[test]
    fn routes_are_only_added_with_their_operation() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![src];
        let mut scanned = 0;
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    scanned += 1;
                    let text = std::fs::read_to_string(&path).unwrap();
                    for needle in [
                        concat!(".route", "("),
                        concat!(".route_service", "("),
                        concat!(".nest", "("),
                    ] {
                        assert!(
                            !text.contains(needle),
                            "{} adds a route with `{needle}`: use OpenApiRouter::routes(routes!(..))",
                            path.display()
                        );
                    }
                }
            }
        }
        assert!(scanned > 10, "the scan found the sources");
    }
}
