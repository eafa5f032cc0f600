//! The HTTP surface: handlers, one module per area, each exporting its `router()`; the body
//! extractor of the sync calls; the OpenAPI document.

pub mod auth;
pub mod devices;
pub mod health;
pub mod openapi;
pub mod ops;
pub mod quarantine;
pub mod sync;
pub mod wire;

use crate::error::Error;

pub async fn not_found() -> Error {
    Error::NotFound("no such endpoint".into())
}
