//! The fieldsync server as a library: the binary in `main.rs` and the tests both start it through
//! [`app::serve`], so tests run the real thing on a random port.
//!
//! Rooms by concern: `db` (connections, feed positions, reads per backend, backup), `auth` (passwords,
//! tokens, principals, throttles), `sync` (push, feed, verify, checkpoints, documents, projection),
//! `crm` (records as people read them), `http` (the router's handlers, extractors, OpenAPI); `keys` is the server key, kept in a file outside the
//! database; `process` tunes the allocators at start.

pub mod app;
pub mod auth;
pub mod budget;
pub mod cli;
pub mod crm;
pub mod db;
pub mod demo;
pub mod error;
pub mod files;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod process;
pub mod reports;
pub mod seal;
pub mod settings;
pub mod sync;
pub mod tls;
pub mod transfer;

pub use app::serve;
pub use error::Error;
pub use http::state::AppState;
pub use settings::Settings;
