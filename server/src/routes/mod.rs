//! HTTP handlers, one module per area; each exports its `router()`.

pub mod auth;
pub mod devices;
pub mod health;
pub mod ops;
pub mod quarantine;
pub mod sync;

use crate::error::Error;

pub async fn not_found() -> Error {
    Error::NotFound("no such endpoint".into())
}
