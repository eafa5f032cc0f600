//! Health: liveness (the process answers) and readiness (its database answers and it is not shutting
//! down). Both are public: they say nothing about the data.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use sea_orm::ConnectionTrait;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Error;
use crate::http::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(livez))
        .routes(routes!(readyz))
        .routes(routes!(healthz))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `draining` / `database_unavailable` when not ready.
    pub status: &'static str,
}

/// A readiness probe must answer well before a load balancer's own timeout, even when the database
/// hangs.
const DB_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: the process is up and serving HTTP. It does not touch the database, so a database outage
/// does not get healthy processes restarted.
#[utoipa::path(get, path = "/livez", tag = "health",
    responses((status = 200, description = "The process answers", body = Health)))]
async fn livez() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: send this process traffic. False while it shuts down or cannot reach its database.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready for traffic", body = Health),
        (status = 503, description = "Shutting down or the database does not answer", body = Health),
    ))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    if state.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health { status: "draining" }),
        );
    }
    let probe = state.db.conn.execute_unprepared("SELECT 1");
    match tokio::time::timeout(DB_PROBE_TIMEOUT, probe).await {
        Ok(Ok(_)) => (StatusCode::OK, Json(Health { status: "ok" })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database does not answer");
            not_ready_db()
        }
        Err(_) => {
            tracing::warn!("readiness: the database did not answer in time");
            not_ready_db()
        }
    }
}

fn not_ready_db() -> (StatusCode, Json<Health>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(Health {
            status: "database_unavailable",
        }),
    )
}

/// The process and its database answer (kept for existing probes; `/readyz` also reports shutdown).
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses(
        (status = 200, description = "The process and its database answer", body = Health),
        (status = 500, description = "The database does not answer", body = sync_core::protocol::ErrorBody),
    ))]
async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, Error> {
    state.db.conn.execute_unprepared("SELECT 1").await?;
    Ok(Json(Health { status: "ok" }))
}
