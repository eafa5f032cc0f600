//! Login: a user's e-mail and password register a new device and return its token and actor.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use sync_core::protocol::{LoginRequest, LoginResponse, PROTOCOL_VERSION};
use sync_core::Role;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{new_token, token_hash, verify_password};
use crate::db::now_ms;
use crate::entities::{device, territory, user_territory};
use crate::error::Error;
use crate::users::find_by_email;
use crate::wire::JsonBody;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/auth/login", post(login))
}

/// Verified against when the e-mail is unknown, so a wrong e-mail costs as much time as a wrong password.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| crate::auth::hash_password("no such user").unwrap_or_default());

#[tracing::instrument(skip_all, fields(email = %req.email))]
async fn login(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Json<LoginResponse>, Error> {
    let device_name = req.device_name.trim().to_string();
    if device_name.is_empty() || device_name.chars().count() > 100 {
        return Err(Error::bad_request(
            "invalid_device_name",
            "a device name has 1 to 100 characters",
        ));
    }
    let user = find_by_email(&state.db, &req.email).await?;
    let hash = user
        .as_ref()
        .map_or(DUMMY_HASH.clone(), |u| u.password_hash.clone());
    let password = req.password;
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    let user = match user {
        Some(user) if ok => user,
        _ => return Err(Error::BadCredentials),
    };
    let role = Role::parse(&user.role)
        .ok_or_else(|| Error::Internal(format!("user {} has unknown role", user.id)))?;
    let device_id = Uuid::now_v7();
    let token = new_token();
    device::ActiveModel {
        id: Set(device_id),
        user_id: Set(user.id),
        name: Set(device_name),
        token_hash: Set(token_hash(&token)),
        created_at: Set(now_ms()),
        last_seen_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(&state.db.conn)
    .await?;
    tracing::info!(%device_id, user = %user.id, "device registered");
    let territories = territory::Entity::find()
        .inner_join(user_territory::Entity)
        .filter(user_territory::Column::UserId.eq(user.id))
        .order_by_asc(territory::Column::Name)
        .all(&state.db.conn)
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect();
    Ok(Json(LoginResponse {
        territories,
        device_id,
        token,
        actor_id: hex::encode(device_id.as_bytes()),
        user_id: user.id,
        role,
        protocol_version: PROTOCOL_VERSION,
    }))
}
