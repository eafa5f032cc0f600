//! What every handler shares.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use sync_core::protocol::Limits;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::auth::login_throttle::Throttle;
use crate::auth::ratelimit::Limiter;
use crate::budget::ByteBudget;
use crate::db::Db;
use crate::error::Error;
use crate::files::store::{FileStore, Location};
use crate::files::FileLimits;
use crate::http::admission::{InFlight, BODY_BUDGET};
use crate::keys::KeyRing;
use crate::metrics::Metrics;
use crate::reports::clv::fits::Fits;
use crate::settings::{ConnectionLimits, Secret, Settings, ShutdownTimes};
use crate::sync::engine::SyncEngine;

/// The state every handler shares. Cloning is cheap.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    /// The sync path: push, pull, verify.
    pub sync: SyncEngine,
    /// How long a device token is valid after login; None for tokens that never expire.
    pub token_ttl: Option<Duration>,
    /// The server key: device secrets at login, and pull cursors.
    pub keys: Arc<KeyRing>,
    pub guards: Arc<Guards>,
    /// Slots for sync calls in progress; see [`Settings::sync_in_flight`].
    pub sync_slots: Arc<Semaphore>,
    /// Slots for reports being computed and histories replayed; see [`Settings::reports_in_flight`].
    pub report_slots: Arc<Semaphore>,
    /// The CLV models fitted, per day.
    pub clv_fits: Arc<Fits>,
    /// Sync calls in progress per device and per user.
    pub sync_calls: Arc<InFlight>,
    /// Room for the sync bodies read and not yet answered.
    pub body_budget: Arc<ByteBudget>,
    /// See [`Settings::sync_queue_wait`].
    pub sync_queue_wait: Duration,
    pub metrics: Arc<Metrics>,
    /// The bearer token Prometheus scrapes `/metrics` with; None leaves `/metrics` closed.
    pub metrics_token: Option<Secret>,
    /// Set once shutdown begins: readiness turns false so load balancers stop sending new work.
    pub draining: Arc<AtomicBool>,
    /// How long to keep accepting requests after readiness turned false, and how long in-flight
    /// requests may then take to finish.
    pub shutdown: ShutdownTimes,
    pub connections: ConnectionLimits,
    /// Where files' bytes are kept, and what a device may upload.
    pub files: FileStore,
    pub file_limits: FileLimits,
    pub sessions: Sessions,
    /// Set when the server serves HTTPS itself.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub public_url: Option<url::Url>,
}

/// How the dashboard's sessions are kept.
#[derive(Debug, Clone, Copy)]
pub struct Sessions {
    pub idle: Duration,
    /// Whether the session cookie is `Secure`.
    pub secure: bool,
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

impl AppState {
    /// One of the slots of heavy reads (reports, a record's history replayed): a bounded number run
    /// at once, the rest wait their turn or are told to come back (`503 server_busy`), so that
    /// devices' syncs keep their share of the machine.
    pub async fn report_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Error> {
        tokio::time::timeout(
            self.sync_queue_wait,
            self.report_slots.clone().acquire_owned(),
        )
        .await
        .map_err(|_| {
            self.metrics.rate_limited("reports_busy");
            Error::Busy {
                retry_after: crate::budget::busy_retry_after(self.sync_queue_wait),
            }
        })?
        .map_err(|_| Error::Internal("the report slots were closed".into()))
    }

    pub async fn new(settings: &Settings) -> Result<AppState, Error> {
        let key_file = settings.key_file.as_deref().ok_or_else(|| {
            Error::KeyFile(
                "not named: a PostgreSQL database (or an in-memory one) needs --key-file, the same file for every server process on it"
                    .into(),
            )
        })?;
        let keys = Arc::new(KeyRing::open(key_file)?);
        let files = match &settings.files {
            Some(location) => location.clone(),
            None => {
                let mut dir = key_file.as_os_str().to_owned();
                dir.push(".files");
                Location::Dir(dir.into())
            }
        };
        let files = FileStore::open(&files)?;
        // Before the database: a certificate that does not load stops the start at once.
        let tls = settings
            .tls
            .as_ref()
            .map(crate::tls::acceptor)
            .transpose()?;
        let db = Db::connect(
            &settings.database_url,
            settings.max_connections,
            Arc::new(keys.vault()),
        )
        .await?;
        let metrics = Arc::new(Metrics::new());
        let sync = SyncEngine::new(
            db.clone(),
            settings.cache_bytes,
            ByteBudget::new(settings.merge_bytes, settings.sync_queue_wait),
            settings.limits,
            &metrics,
        );
        crate::sync::upgrade::run_pending(&sync).await?;
        Ok(AppState {
            sync,
            db,
            token_ttl: settings.token_ttl,
            keys,
            guards: Arc::new(Guards {
                login_accounts: Throttle::new("account", settings.login_account_rate),
                login_addrs: Throttle::new("addr", settings.login_addr_rate),
                sync_devices: Limiter::new(settings.device_sync_rate),
            }),
            sync_slots: Arc::new(Semaphore::new(settings.sync_in_flight.max(1))),
            report_slots: Arc::new(Semaphore::new(settings.reports_in_flight.max(1))),
            clv_fits: Arc::new(Fits::default()),
            sync_calls: Arc::new(InFlight::default()),
            body_budget: Arc::new(ByteBudget::new(BODY_BUDGET, settings.sync_queue_wait)),
            sync_queue_wait: settings.sync_queue_wait,
            metrics,
            metrics_token: settings.metrics_token.clone(),
            draining: Arc::new(AtomicBool::new(false)),
            shutdown: settings.shutdown,
            connections: settings.connections,
            files,
            file_limits: settings.file_limits,
            sessions: Sessions {
                idle: settings.session_idle,
                // Browsers keep a Secure cookie from plain HTTP pages: only where people reach the
                // server over HTTPS is it set.
                secure: settings.tls.is_some()
                    || settings
                        .public_url
                        .as_ref()
                        .is_some_and(|u| u.scheme() == "https"),
            },
            tls,
            public_url: settings.public_url.clone(),
        })
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

/// The sync bodies' extractor reads within the body budget.
impl FromRef<AppState> for Arc<ByteBudget> {
    fn from_ref(state: &AppState) -> Arc<ByteBudget> {
        state.body_budget.clone()
    }
}

/// The sync bodies' extractor decodes under the server's limits.
impl FromRef<AppState> for Limits {
    fn from_ref(state: &AppState) -> Limits {
        state.sync.limits
    }
}
