//! How a server runs: its settings and their documented defaults.

use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sync_core::protocol::Limits;

use crate::auth::ratelimit::Rate;
use crate::files::store::Location;
use crate::files::FileLimits;

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

/// What one client connection may hold: a bound on connections at once, and how long a client
/// may take to send a request's head (also the most a kept-alive connection idles) and to read
/// what it is sent.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections served at once; more wait in the listen backlog until one closes.
    pub max: usize,
    pub header_timeout: Duration,
    pub write_timeout: Duration,
}

/// 1,024 connections; 10 seconds to send a request head (a phone on a poor link needs well under
/// one); 30 seconds to take the next bytes of an answer (a device that reads nothing for that long
/// has gone, and its answer should not stay in memory).
pub const DEFAULT_CONNECTIONS: ConnectionLimits = ConnectionLimits {
    max: 1_024,
    header_timeout: Duration::from_secs(10),
    write_timeout: Duration::from_secs(30),
};

/// How a server runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    /// The server key file (`keys`), created with a new key if missing. None only where no default
    /// can be right: on PostgreSQL every server process of the database needs the same file, so it
    /// must be named.
    pub key_file: Option<PathBuf>,
    pub max_connections: u32,
    /// The bytes of merged documents kept in memory (`sync::docstore::DocCache`).
    pub cache_bytes: usize,
    /// The bytes the documents pushes are merging may hold at once (`SyncEngine::merges`).
    pub merge_bytes: usize,
    pub limits: Limits,
    pub token_ttl: Option<Duration>,
    pub login_account_rate: Rate,
    pub login_addr_rate: Rate,
    pub device_sync_rate: Rate,
    /// Sync calls (push, pull, verify) worked on at once. The rest wait with their bodies read
    /// (within `http::admission::BODY_BUDGET`): what a call being worked on holds (parsed changes,
    /// merges, a page being built) is bounded by this, not by the number of devices syncing.
    pub sync_in_flight: usize,
    /// Report queries (and record histories replayed) run at once; more wait (up to
    /// `sync_queue_wait`) so that reports, which read much, never take every core from devices'
    /// syncs.
    pub reports_in_flight: usize,
    /// How long a sync call waits for room for its body, or for a slot, before it is answered `503 server_busy` with a
    /// `Retry-After`: a device told to come back later costs the server nothing while it waits, and
    /// learns more than from its own request timeout.
    pub sync_queue_wait: Duration,
    pub metrics_token: Option<Secret>,
    pub shutdown: ShutdownTimes,
    pub connections: ConnectionLimits,
    /// Where files (photos, receipts) are kept; None: beside the key file (`<key file>.files`).
    pub files: Option<Location>,
    pub file_limits: FileLimits,
    /// How long a dashboard session may go unused before it ends.
    pub session_idle: Duration,
    /// HTTPS served by the server itself; None: plain HTTP (behind a reverse proxy that speaks
    /// HTTPS, or on localhost).
    pub tls: Option<TlsFiles>,
    /// The address people and devices reach the server at, when it differs from where it listens
    /// (behind a reverse proxy): an `https` one makes the dashboard's cookie Secure.
    pub public_url: Option<url::Url>,
}

/// The PEM files of the server's certificate chain and private key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A dashboard session ends after half an hour without a request.
pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

/// Defaults, documented in the README: a token lasts 90 days; 10 failed logins per account and 100 per
/// client address per 15 minutes; 1,200 sync calls per device per minute (a device syncing every
/// second uses a twentieth of that).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(90 * 24 * 3600);
pub const DEFAULT_LOGIN_ACCOUNT_RATE: Rate = Rate::new(10, Duration::from_secs(15 * 60));
pub const DEFAULT_LOGIN_ADDR_RATE: Rate = Rate::new(100, Duration::from_secs(15 * 60));
pub const DEFAULT_DEVICE_SYNC_RATE: Rate = Rate::new(1_200, Duration::from_secs(60));
/// 64 MiB of documents: some 4,000 small customers, or a few hundred with full notes.
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;
/// 256 MiB of merges: one record of the most operations a push may bring (about 200 MiB at the
/// peak of its merge, `sync_core::structure::peak_bytes`) at a time, or every sync slot's push of
/// ordinary records at once. With the cache and the
/// sync bodies' budget (64 MiB), the server stays under 500 MiB.
pub const DEFAULT_MERGE_BYTES: usize = 256 << 20;
/// Half the SDK's request timeout (60 s), so that a device hears `server_busy` before it gives up on
/// its own.
pub const DEFAULT_SYNC_QUEUE_WAIT: Duration = Duration::from_secs(30);

impl Settings {
    pub fn new(database_url: impl Into<String>) -> Settings {
        let database_url = database_url.into();
        Settings {
            files: Location::beside(&database_url),
            key_file: default_key_file(&database_url),
            database_url,
            max_connections: 16,
            cache_bytes: DEFAULT_CACHE_BYTES,
            merge_bytes: DEFAULT_MERGE_BYTES,
            limits: Limits::default(),
            token_ttl: Some(DEFAULT_TOKEN_TTL),
            login_account_rate: DEFAULT_LOGIN_ACCOUNT_RATE,
            login_addr_rate: DEFAULT_LOGIN_ADDR_RATE,
            device_sync_rate: DEFAULT_DEVICE_SYNC_RATE,
            sync_in_flight: 4 * std::thread::available_parallelism().map_or(2, NonZeroUsize::get),
            reports_in_flight: std::thread::available_parallelism()
                .map_or(2, NonZeroUsize::get)
                .div_ceil(2),
            sync_queue_wait: DEFAULT_SYNC_QUEUE_WAIT,
            metrics_token: None,
            shutdown: ShutdownTimes {
                drain: Duration::ZERO,
                grace: Duration::from_secs(30),
            },
            connections: DEFAULT_CONNECTIONS,
            file_limits: crate::files::DEFAULT_LIMITS,
            session_idle: DEFAULT_SESSION_IDLE,
            tls: None,
            public_url: None,
        }
    }
}

/// The key file a database has unless one is named: beside an SQLite file, with `.key` added to its
/// name, so that the database and its key go together and `serve` runs with no option; none for
/// PostgreSQL.
pub fn default_key_file(database_url: &str) -> Option<PathBuf> {
    crate::db::sqlite_file(database_url).map(|file| {
        let mut name = file.into_os_string();
        name.push(".key");
        PathBuf::from(name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sqlite_database_keeps_its_key_beside_it() {
        assert_eq!(
            default_key_file("fieldsync.sqlite"),
            Some(PathBuf::from("fieldsync.sqlite.key"))
        );
        assert_eq!(
            default_key_file("sqlite:///var/lib/fs/db.sqlite?mode=rwc"),
            Some(PathBuf::from("/var/lib/fs/db.sqlite.key"))
        );
        assert_eq!(default_key_file("postgres://fs@db/fs"), None);
        assert_eq!(default_key_file("sqlite::memory:"), None);
    }
}
