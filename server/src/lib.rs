//! The fieldsync server as a library: the binary in `main.rs` and the tests both start it through
//! [`app::serve`], so tests run the real thing on a random port.

pub mod app;
pub mod auth;
pub mod backup;
pub mod batch_write;
pub mod checkpoint;
pub mod cli;
pub mod db;
pub mod demo;
pub mod docstore;
pub mod entities;
pub mod error;
pub mod feed;
pub mod login_throttle;
pub mod merge;
pub mod metrics;
pub mod openapi;
pub mod pg_read;
pub mod positions;
pub mod projection;
pub mod ratelimit;
pub mod read_ahead;
pub mod routes;
pub mod scope;
pub mod sqlite_read;
pub mod statistics;
pub mod users;
pub mod verify;
pub mod wire;

pub use app::{serve, AppState, Settings};
pub use error::Error;
