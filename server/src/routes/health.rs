//! Liveness: the process answers and its database answers.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use sea_orm::ConnectionTrait;

use crate::app::AppState;
use crate::error::Error;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz))
}

async fn healthz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, Error> {
    state.db.conn.execute_unprepared("SELECT 1").await?;
    Ok(Json(serde_json::json!({"status": "ok"})))
}
