//! Users and their territories, for managers staffing their territories and admins: `GET /v1/users`
//! lists the users the caller may staff (a manager: the agents of their territories; an admin:
//! everyone), `PUT` and `DELETE /v1/users/{id}/territories/{territory}` give and take a
//! territory, and admins give a user another role (`PUT /v1/users/{id}/role`). Devices receive or
//! evict records on their next sync.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use sync_core::protocol::ErrorBody;
use sync_core::Role;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::auth::users;
use crate::db::entities::{territory, user, user_territory};
use crate::error::Error;
use crate::http::state::AppState;
use crate::http::wire::{JsonBody, PathParam};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(grant, revoke))
        .routes(routes!(set_role))
}

/// A user's new role.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    pub role: Role,
}

/// Gives the user another role (admins only). It holds from the user's next request; their
/// devices follow on their next sync.
#[utoipa::path(put, path = "/v1/users/{id}/role", tag = "users", operation_id = "set_user_role",
    params(("id" = Uuid, Path, description = "The user's id")),
    request_body = RoleChange,
    responses(
        (status = 204, description = "The user has the role (also when they had it)"),
        (status = 400, description = "A malformed id, or a body that names no role (`invalid_id`, `malformed`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such user (`not_found`)", body = ErrorBody),
        (status = 409, description = "The company's last admin keeps the role (`conflict`)", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn set_role(
    State(state): State<AppState>,
    who: Principal,
    PathParam(id): PathParam<Uuid>,
    JsonBody(change): JsonBody<RoleChange>,
) -> Result<StatusCode, Error> {
    if who.role < Role::Admin {
        return Err(Error::Forbidden("admins give users their roles".into()));
    }
    if !users::set_role(&state.db, id, change.role).await? {
        return Err(Error::NotFound(format!("no user {id}")));
    }
    tracing::info!(by = %who.user_id, user = %id, role = change.role.as_str(), "role changed");
    Ok(StatusCode::NO_CONTENT)
}

/// A user as a manager sees them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserInfo {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    /// The names of the user's territories, sorted.
    pub territories: Vec<String>,
}

/// The longest territory name: a territory is a record's field, of at most 100 characters.
const MAX_TERRITORY_CHARS: usize = 100;

/// The users the caller may staff: a manager's agents (those holding one of the manager's
/// territories) and the manager, or every user for an admin, by e-mail.
#[utoipa::path(get, path = "/v1/users", tag = "users", operation_id = "list_users",
    responses(
        (status = 200, description = "The users, by e-mail", body = Vec<UserInfo>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "An agent (`forbidden`)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn list(State(state): State<AppState>, who: Principal) -> Result<Json<Vec<UserInfo>>, Error> {
    if who.role < Role::Manager {
        return Err(Error::Forbidden(
            "managers and admins staff territories".into(),
        ));
    }
    let conn = &state.db.conn;
    let names: BTreeMap<Uuid, String> = territory::Entity::find()
        .all(conn)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let mut held: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    for ut in user_territory::Entity::find().all(conn).await? {
        held.entry(ut.user_id).or_default().push(ut.territory_id);
    }
    let everyone = user::Entity::find()
        .order_by_asc(user::Column::Email)
        .all(conn)
        .await?;
    let shown = everyone.into_iter().filter_map(|u| {
        let role = Role::parse(&u.role)?;
        let territories = held.remove(&u.id).unwrap_or_default();
        let visible = who.sees_all()
            || u.id == who.user_id
            || (role == Role::Agent && territories.iter().any(|t| who.may_staff(role, Some(*t))));
        let mut territories: Vec<String> = territories
            .iter()
            .filter_map(|t| names.get(t).cloned())
            .collect();
        territories.sort();
        visible.then_some(UserInfo {
            id: u.id,
            email: u.email,
            role,
            territories,
        })
    });
    Ok(Json(shown.collect()))
}

/// The user `id` and the territory named `name` (None if there is none yet), if the caller may
/// staff that user with it; a user the caller may not staff is one they do not know of.
async fn staffed(
    state: &AppState,
    who: &Principal,
    id: Uuid,
    name: &str,
) -> Result<Option<Uuid>, Error> {
    if who.role < Role::Manager {
        return Err(Error::Forbidden(
            "managers and admins staff territories".into(),
        ));
    }
    if name.trim().is_empty() || name.chars().count() > MAX_TERRITORY_CHARS {
        return Err(Error::bad_request(
            "invalid_territory",
            format!("a territory's name has 1 to {MAX_TERRITORY_CHARS} characters"),
        ));
    }
    let conn = &state.db.conn;
    let target = user::Entity::find_by_id(id).one(conn).await?;
    let territory = territory::Entity::find()
        .filter(territory::Column::Name.eq(name))
        .one(conn)
        .await?
        .map(|t| t.id);
    let role = target.as_ref().and_then(|u| Role::parse(&u.role));
    // A user or a territory the caller may not staff is one they do not know of.
    match role {
        Some(role) if who.may_staff(role, territory) => Ok(territory),
        _ => Err(Error::NotFound(format!(
            "no user {id} you may staff with territory `{name}`"
        ))),
    }
}

/// Gives the user a territory (an admin may name a new one, which is created); their devices
/// receive its records on their next sync.
#[utoipa::path(put, path = "/v1/users/{id}/territories/{territory}", tag = "users", operation_id = "grant_territory",
    params(
        ("id" = Uuid, Path, description = "The user's id"),
        ("territory" = String, Path, description = "The territory's name"),
    ),
    responses(
        (status = 204, description = "The user holds the territory (also when they did)"),
        (status = 400, description = "A malformed id or name, or a user with too many territories (`invalid_id`, `invalid_territory`, `too_many_territories`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "An agent (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such user the caller may staff with that territory: a manager staffs agents, with the manager's own territories (`not_found`)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn grant(
    State(state): State<AppState>,
    who: Principal,
    PathParam((id, name)): PathParam<(Uuid, String)>,
) -> Result<StatusCode, Error> {
    staffed(&state, &who, id, &name).await?;
    users::grant_territory(&state.db, id, &name).await?;
    tracing::info!(by = %who.user_id, user = %id, territory = %name, "territory granted");
    Ok(StatusCode::NO_CONTENT)
}

/// Takes a territory from the user; their devices evict its records on their next sync, and hand
/// edits they made offline to the quarantine.
#[utoipa::path(delete, path = "/v1/users/{id}/territories/{territory}", tag = "users", operation_id = "revoke_territory",
    params(
        ("id" = Uuid, Path, description = "The user's id"),
        ("territory" = String, Path, description = "The territory's name"),
    ),
    responses(
        (status = 204, description = "The user no longer holds the territory"),
        (status = 400, description = "A malformed id or name (`invalid_id`, `invalid_territory`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "An agent (`forbidden`)", body = ErrorBody),
        (status = 404, description = "No such user the caller may staff with that territory, or no such territory (`not_found`)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn revoke(
    State(state): State<AppState>,
    who: Principal,
    PathParam((id, name)): PathParam<(Uuid, String)>,
) -> Result<StatusCode, Error> {
    if staffed(&state, &who, id, &name).await?.is_none() {
        return Err(Error::NotFound(format!("no territory named {name}")));
    }
    users::revoke_territory(&state.db, id, &name).await?;
    tracing::info!(by = %who.user_id, user = %id, territory = %name, "territory revoked");
    Ok(StatusCode::NO_CONTENT)
}
