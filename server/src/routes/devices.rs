//! Devices: list your own, and revoke one (its owner, a manager of the owner's territory, or an admin).
//! A revoked device is refused with `device_revoked` and told to wipe its local data.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use sync_core::protocol::DeviceInfo;
use sync_core::Role;
use uuid::Uuid;

use crate::app::AppState;
use crate::db::now_ms;
use crate::entities::{device, user, user_territory};
use crate::error::Error;
use crate::scope::Principal;
use crate::wire::Path;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/devices", get(list))
        .route("/v1/devices/{id}", delete(revoke))
}

fn millis_to_rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

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

#[tracing::instrument(skip_all, fields(target_device = %id))]
async fn revoke(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<Uuid>,
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
