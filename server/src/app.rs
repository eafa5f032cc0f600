//! The application: its shared state, its router and the `serve` entry point that the binary and the
//! tests both use.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::Router;
use sync_core::protocol::Limits;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::db::Db;
use crate::docstore::DocCache;
use crate::error::Error;
use crate::routes;

/// The state every handler shares. Cloning is cheap.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    /// Recently merged documents; bounded, so memory does not grow with the database.
    pub cache: Arc<DocCache>,
    pub limits: Limits,
}

/// How a server runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub max_connections: u32,
    pub cache_docs: usize,
    pub limits: Limits,
}

impl Settings {
    pub fn new(database_url: impl Into<String>) -> Settings {
        Settings {
            database_url: database_url.into(),
            max_connections: 16,
            cache_docs: 2_000,
            limits: Limits::default(),
        }
    }
}

impl AppState {
    pub async fn new(settings: &Settings) -> Result<AppState, Error> {
        let db = Db::connect(&settings.database_url, settings.max_connections).await?;
        Ok(AppState {
            db,
            cache: Arc::new(DocCache::new(settings.cache_docs)),
            limits: settings.limits,
        })
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Bodies of the JSON endpoints (login, devices) are small.
const JSON_BODY_LIMIT: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    let sync = routes::sync::router().layer(DefaultBodyLimit::max(state.limits.max_message_bytes));
    Router::new()
        .merge(routes::health::router())
        .merge(routes::auth::router())
        .merge(routes::devices::router())
        .merge(routes::quarantine::router())
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .merge(sync)
        .fallback(routes::not_found)
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

/// Serves on `listener` until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| Error::Internal(format!("server failed: {e}")))
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
    // Leave the runtime a moment to log before connections drain.
    tokio::time::sleep(Duration::from_millis(10)).await;
}
