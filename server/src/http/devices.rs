//! Devices: list your own, and revoke one (its owner, a manager of the owner's territory, or an admin).
//! A revoked device is refused with `device_revoked` and told to wipe its local data.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use sync_core::protocol::{DeviceInfo, ErrorBody};
use sync_core::Role;
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::db::entities::{device, user, user_territory};
use crate::db::now_ms;
use crate::error::Error;
use crate::http::state::AppState;
use crate::http::wire::PathParam;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(revoke))
}

fn millis_to_rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

/// The devices of the calling user, oldest first.
#[utoipa::path(get, path = "/v1/devices", tag = "devices", operation_id = "list_devices",
    responses(
        (status = 200, description = "The caller's devices", body = Vec<DeviceInfo>),
        (status = 401, description = "No valid token (`unauthenticated`, `token_expired`, `device_revoked`)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    who: Principal,
) -> Result<Json<Vec<DeviceInfo>>, Error> {
    let devices = device::Entity::find()
        .filter(device::Column::UserId.eq(who.user_id))
        .order_by_asc(device::Column::CreatedAt)
        .all(&state.db.conn)
        .await?;
    Ok(Json(
        devices
            .into_iter()
            .map(|d| DeviceInfo {
                id: d.id,
                user_id: d.user_id,
                name: d.name,
                created_at: millis_to_rfc3339(d.created_at),
                last_seen_at: d.last_seen_at.map(millis_to_rfc3339),
                revoked: d.revoked_at.is_some(),
            })
            .collect(),
    ))
}

/// Revokes a device: its token stops working and its next request tells it to wipe its local data.
/// Its owner, an admin, or a manager sharing a territory with the agent who owns it may revoke it.
#[utoipa::path(delete, path = "/v1/devices/{id}", tag = "devices", operation_id = "revoke_device",
    params(("id" = Uuid, Path, description = "The device to revoke")),
    responses(
        (status = 204, description = "Revoked (also when it already was)"),
        (status = 400, description = "The id is not a UUID (`invalid_id`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "No such device that the caller may manage", body = ErrorBody),
    ),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(target_device = %id))]
async fn revoke(
    State(state): State<AppState>,
    who: Principal,
    PathParam(id): PathParam<Uuid>,
) -> Result<StatusCode, Error> {
    let conn = &state.db.conn;
    let target = device::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no device {id}")))?;
    let owner = user::Entity::find_by_id(target.user_id).one(conn).await?;
    let owner_role = owner
        .as_ref()
        .and_then(|u| Role::parse(&u.role))
        .unwrap_or(Role::Admin);
    // A manager may revoke (and so wipe) the devices of agents who share a territory with them; not
    // those of other managers or admins.
    let allowed = target.user_id == who.user_id
        || who.role == Role::Admin
        || (who.role == Role::Manager && owner_role == Role::Agent && {
            let theirs = user_territory::Entity::find()
                .filter(user_territory::Column::UserId.eq(target.user_id))
                .all(conn)
                .await?;
            theirs
                .iter()
                .any(|t| who.territories.binary_search(&t.territory_id).is_ok())
        });
    if !allowed {
        // Do not reveal that the device exists to someone who may not manage it.
        return Err(Error::NotFound(format!("no device {id}")));
    }
    if target.revoked_at.is_none() {
        let mut model = target.into_active_model();
        model.revoked_at = Set(Some(now_ms()));
        model.update(conn).await?;
        tracing::info!(by = %who.user_id, "device revoked");
    }
    Ok(StatusCode::NO_CONTENT)
}
