//! The application: its shared state, its router and the `serve` entry point that the binary and the
//! tests both use.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::{Extension, Router};
use sync_core::protocol::Limits;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use crate::auth::login_throttle::Throttle;
use crate::auth::ratelimit::{Limiter, Rate};
use crate::db::Db;
use crate::error::Error;
use crate::http;
use crate::metrics::Metrics;
use crate::sync::docstore::DocCache;
use crate::sync::read_ahead::ReadAhead;

/// The state every handler shares. Cloning is cheap.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    /// Recently merged documents; bounded, so memory does not grow with the database.
    pub cache: Arc<DocCache>,
    pub limits: Limits,
    /// How long a device token is valid after login; None for tokens that never expire.
    pub token_ttl: Option<Duration>,
    pub guards: Arc<Guards>,
    /// Slots for sync calls in progress; see [`Settings::sync_in_flight`].
    pub sync_slots: Arc<Semaphore>,
    /// Pushes merged ahead of their write (SQLite) at once; see [`merge_slots`].
    pub merge_slots: Arc<Semaphore>,
    /// See [`Settings::sync_queue_wait`].
    pub sync_queue_wait: Duration,
    pub metrics: Arc<Metrics>,
    /// First-sync pages read before their devices ask for them.
    pub read_ahead: Arc<ReadAhead>,
    /// The bearer token Prometheus scrapes `/metrics` with; None leaves `/metrics` closed.
    pub metrics_token: Option<Secret>,
    /// Set once shutdown begins: readiness turns false so load balancers stop sending new work.
    pub draining: Arc<AtomicBool>,
    /// How long to keep accepting requests after readiness turned false, and how long in-flight
    /// requests may then take to finish.
    pub shutdown: ShutdownTimes,
}

/// The rate limits: failed logins in the database, shared by every process on it; sync calls in
/// this process.
pub struct Guards {
    /// Failed logins per e-mail address.
    pub login_accounts: Throttle,
    /// Failed logins per client address.
    pub login_addrs: Throttle,
    /// Sync calls (push, pull, verify) per device.
    pub sync_devices: Limiter<Uuid>,
}

/// A secret whose `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Arc<str>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ShutdownTimes {
    pub drain: Duration,
    pub grace: Duration,
}

/// How a server runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub max_connections: u32,
    pub cache_docs: usize,
    pub limits: Limits,
    pub token_ttl: Option<Duration>,
    pub login_account_rate: Rate,
    pub login_addr_rate: Rate,
    pub device_sync_rate: Rate,
    /// Sync calls (push, pull, verify) handled at once. The rest wait before their bodies are read:
    /// what a sync call holds (its body, parsed changes, a page being built) is bounded by this,
    /// not by the number of devices syncing at that moment.
    pub sync_in_flight: usize,
    /// How long a sync call waits for a slot before it is answered `503 server_busy` with a
    /// `Retry-After`: a device told to come back later costs the server nothing while it waits, and
    /// learns more than from its own request timeout.
    pub sync_queue_wait: Duration,
    pub metrics_token: Option<Secret>,
    pub shutdown: ShutdownTimes,
}

/// Defaults, documented in the README: a token lasts 90 days; 10 failed logins per account and 100 per
/// client address per 15 minutes; 1,200 sync calls per device per minute (a device syncing every
/// second uses a twentieth of that).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(90 * 24 * 3600);
pub const DEFAULT_LOGIN_ACCOUNT_RATE: Rate = Rate::new(10, Duration::from_secs(15 * 60));
pub const DEFAULT_LOGIN_ADDR_RATE: Rate = Rate::new(100, Duration::from_secs(15 * 60));
pub const DEFAULT_DEVICE_SYNC_RATE: Rate = Rate::new(1_200, Duration::from_secs(60));
/// Half the SDK's request timeout (60 s), so that a device hears `server_busy` before it gives up on
/// its own.
pub const DEFAULT_SYNC_QUEUE_WAIT: Duration = Duration::from_secs(30);

impl Settings {
    pub fn new(database_url: impl Into<String>) -> Settings {
        Settings {
            database_url: database_url.into(),
            max_connections: 16,
            cache_docs: 2_000,
            limits: Limits::default(),
            token_ttl: Some(DEFAULT_TOKEN_TTL),
            login_account_rate: DEFAULT_LOGIN_ACCOUNT_RATE,
            login_addr_rate: DEFAULT_LOGIN_ADDR_RATE,
            device_sync_rate: DEFAULT_DEVICE_SYNC_RATE,
            sync_in_flight: 4 * std::thread::available_parallelism().map_or(2, NonZeroUsize::get),
            sync_queue_wait: DEFAULT_SYNC_QUEUE_WAIT,
            metrics_token: None,
            shutdown: ShutdownTimes {
                drain: Duration::ZERO,
                grace: Duration::from_secs(30),
            },
        }
    }
}

/// How many pushes may be merged ahead of their write at once: one per core, and one more being
/// written. SQLite writes one batch at a time, and a batch merged ahead holds its loaded documents
/// until it is written, so more would only hold memory (about 45 MiB more with eight, measured).
fn merge_slots() -> usize {
    std::thread::available_parallelism().map_or(2, NonZeroUsize::get) + 1
}

/// First-sync pages read ahead at once: enough for a few devices bootstrapping together, each page
/// a few MiB at most.
const READ_AHEAD_SLOTS: usize = 4;

impl AppState {
    pub async fn new(settings: &Settings) -> Result<AppState, Error> {
        let db = Db::connect(&settings.database_url, settings.max_connections).await?;
        crate::sync::upgrade::run_pending(&db).await?;
        let metrics = Arc::new(Metrics::new());
        Ok(AppState {
            db,
            cache: Arc::new(DocCache::new(settings.cache_docs)),
            limits: settings.limits,
            token_ttl: settings.token_ttl,
            guards: Arc::new(Guards {
                login_accounts: Throttle::new("account", settings.login_account_rate),
                login_addrs: Throttle::new("addr", settings.login_addr_rate),
                sync_devices: Limiter::new(settings.device_sync_rate),
            }),
            sync_slots: Arc::new(Semaphore::new(settings.sync_in_flight.max(1))),
            merge_slots: Arc::new(Semaphore::new(merge_slots())),
            sync_queue_wait: settings.sync_queue_wait,
            read_ahead: Arc::new(ReadAhead::new(
                READ_AHEAD_SLOTS,
                metrics.pages_read_ahead.clone(),
            )),
            metrics,
            metrics_token: settings.metrics_token.clone(),
            draining: Arc::new(AtomicBool::new(false)),
            shutdown: settings.shutdown,
        })
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Bodies of the JSON endpoints (login, devices) are small.
const JSON_BODY_LIMIT: usize = 64 * 1024;

/// Every endpoint, each registered together with its OpenAPI operation so the document served at
/// `/openapi.json` cannot miss one. **Architecture invariant:** routes are only ever added here,
/// through `OpenApiRouter::routes`; the unit test `routes_are_only_added_with_their_operation` checks
/// the source for any other way.
fn api(limits: &Limits) -> OpenApiRouter<AppState> {
    // Sync bodies may come compressed (`Content-Encoding: zstd` or `gzip`): a device's first push
    // is its offline work, mostly listings and changes that share actor ids. The body limit counts
    // the decompressed bytes, so a small body that inflates past it is refused like a large one.
    let sync = http::sync::router()
        .layer(DefaultBodyLimit::max(limits.max_message_bytes))
        .layer(RequestDecompressionLayer::new().pass_through_unaccepted(true));
    // The JSON endpoints take small bodies; the sync calls up to the message limit.
    OpenApiRouter::with_openapi(crate::http::openapi::ApiDoc::openapi())
        .merge(http::health::router())
        .merge(http::auth::router())
        .merge(http::devices::router())
        .merge(http::quarantine::router())
        .merge(http::ops::router())
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .merge(sync)
}

/// The OpenAPI document of every endpoint.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, doc) = api(&Limits::default()).split_for_parts();
    doc
}

pub fn router(state: AppState) -> Router {
    let (routes, doc) = api(&state.limits).split_for_parts();
    routes
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .fallback(http::not_found)
        .layer(Extension(Arc::new(doc)))
        // Pages of the feed are mostly listings (JSON) and automerge chunks that share actor ids:
        // zstd's fastest level shrinks a first sync's pages eightfold (65.8 MB to 7.7 MB for 100,000
        // records) for about 3% of the server's CPU, and a field device's link is slower than that
        // CPU. Clients that do not ask for it get plain bodies.
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

/// A background task that ends with the server.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves on `listener` until `shutdown` resolves, then drains: readiness turns false at once, new
/// requests are still taken for `shutdown.drain` (while load balancers notice), then the listener
/// closes and in-flight requests get up to `shutdown.grace` to finish.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let draining = state.draining.clone();
    let times = state.shutdown;
    let _statistics = AbortOnDrop(tokio::spawn(crate::db::statistics::keep_fresh(
        state.db.clone(),
    )));
    let _reservations = AbortOnDrop(tokio::spawn(crate::db::positions::keep_tidy(
        state.db.clone(),
    )));
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let serving = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            draining.store(true, Ordering::SeqCst);
            tracing::info!("shutting down: readiness is false");
            tokio::time::sleep(times.drain).await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = closed_tx.send(());
        })
        .into_future();
    let overdue = async move {
        if closed_rx.await.is_ok() {
            tokio::time::sleep(times.grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = serving => result.map_err(|e| Error::Internal(format!("server failed: {e}"))),
        _ = overdue => {
            tracing::warn!(grace = ?times.grace, "in-flight requests did not finish in time; stopping anyway");
            Ok(())
        }
    }
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
