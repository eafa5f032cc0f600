//! Operations: the OpenAPI document and the Prometheus metrics.
//!
//! `/metrics` answers only to the scrape token configured with `--metrics-token`: device tokens, even an
//! admin's, are refused, because metrics are for the monitoring system, not for people's devices, and a
//! monitoring token must not be able to read records. Without a configured token `/metrics` is closed.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use sha2::{Digest, Sha256};
use sync_core::protocol::ErrorBody;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Error;
use crate::http::extract::bearer;
use crate::http::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(openapi_json))
        .routes(routes!(metrics))
}

/// This document: every endpoint of the server, generated from its code.
#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
async fn openapi_json(
    Extension(doc): Extension<Arc<serde_json::Value>>,
) -> Json<Arc<serde_json::Value>> {
    Json(doc)
}

pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Prometheus metrics in the OpenMetrics text format, for the scrape token only.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses(
        (status = 200, description = "The metrics", content_type = "application/openmetrics-text", body = String),
        (status = 401, description = "No bearer token", body = ErrorBody),
        (status = 403, description = "Not the scrape token, or metrics are closed (no token configured)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, Error> {
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(bearer)
        .ok_or(Error::Unauthenticated)?;
    let Some(expected) = &state.metrics_token else {
        return Err(Error::Forbidden(
            "metrics are closed: the server has no --metrics-token".into(),
        ));
    };
    // Comparing digests keeps the time taken independent of how much of the token was right.
    if Sha256::digest(presented.trim().as_bytes()) != Sha256::digest(expected.0.as_bytes()) {
        return Err(Error::Forbidden(
            "only the metrics scrape token may read metrics".into(),
        ));
    }
    Ok(([(CONTENT_TYPE, OPENMETRICS)], state.metrics.render()))
}
