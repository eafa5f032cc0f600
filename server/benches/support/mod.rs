//! What the server's benches share: a runtime like the server's on this machine, and a fresh SQLite
//! database in a temporary directory.

use tempfile::TempDir;
use tokio::runtime::Runtime;

pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A database URL for a new SQLite file, which lives as long as the returned directory.
pub fn fresh_sqlite() -> (TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.sqlite").display()
    );
    (dir, url)
}
