//! The quarantine: edits a device made offline to records it has since lost access to, and changes a
//! device handed in under a device id it could not prove was its own. A manager of the record's
//! territory (or an admin) reviews each entry and accepts it (the changes are merged through the
//! normal push path, checked against the manager's rights) or rejects it (kept, marked).

use axum::extract::State;
use axum::Json;
use sea_orm::sea_query::{Alias, Cond, Expr, JoinType, Query};
use sea_orm::{ConnectionTrait, EntityTrait, QuerySelect};
use serde::Serialize;
use serde_bytes::ByteBuf;
use sync_core::protocol::{DocPush, ErrorBody, PushRequest, PushStatus};
use sync_core::Role;
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::crm::rules;
use crate::db::entities::{device, document, user};
use crate::db::BuildWith;
use crate::error::Error;
use crate::http::state::AppState;
use crate::http::wire::PathParam;
use crate::sync::author::Author;
use crate::sync::{push, quarantine};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(accept))
        .routes(routes!(reject))
}

/// One quarantined push of one document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Entry {
    pub id: Uuid,
    pub doc_id: Uuid,
    pub kind: String,
    pub device_id: Uuid,
    pub user_id: Uuid,
    pub reason: String,
    pub status: String,
    pub created_at: i64,
    /// How many changes the entry holds.
    pub changes: usize,
    #[serde(skip)]
    #[schema(ignore)]
    raw_changes: Vec<ByteBuf>,
}

fn require_manager(who: &Principal) -> Result<(), Error> {
    if who.role >= Role::Manager {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "only managers and admins review the quarantine".into(),
        ))
    }
}

async fn entries(state: &AppState, who: &Principal, id: Option<Uuid>) -> Result<Vec<Entry>, Error> {
    let (q, d, ut) = (Alias::new("q"), Alias::new("d"), Alias::new("ut"));
    let mut stmt = Query::select()
        .columns(
            [
                "id",
                "doc_id",
                "kind",
                "device_id",
                "user_id",
                "reason",
                "status",
                "created_at",
                "changes",
            ]
            .map(|c| (q.clone(), Alias::new(c))),
        )
        .from_as(Alias::new("quarantine"), q.clone())
        .join_as(
            JoinType::LeftJoin,
            Alias::new("documents"),
            d.clone(),
            Expr::col((d.clone(), Alias::new("id"))).equals((q.clone(), Alias::new("doc_id"))),
        )
        .order_by((q.clone(), Alias::new("created_at")), sea_orm::Order::Asc)
        .to_owned();
    if !who.sees_all() {
        // A record the server does not hold (its changes' author could not be proven) has no
        // territory yet: its entry goes to the managers of the user who handed it in.
        let theirs = Query::select()
            .column((ut.clone(), Alias::new("user_id")))
            .from_as(Alias::new("user_territories"), ut.clone())
            .and_where(Expr::col((ut, Alias::new("territory_id"))).is_in(who.territories.clone()))
            .to_owned();
        stmt.cond_where(
            Cond::any()
                .add(
                    Expr::col((d.clone(), document::Column::TerritoryId))
                        .is_in(who.territories.clone()),
                )
                .add(
                    Cond::all()
                        .add(Expr::col((d, Alias::new("id"))).is_null())
                        .add(Expr::col((q.clone(), Alias::new("user_id"))).in_subquery(theirs)),
                ),
        );
    }
    if let Some(id) = id {
        stmt.and_where(Expr::col((q, Alias::new("id"))).eq(id));
    }
    let conn = &state.db.conn;
    let rows = conn.query_all(stmt.build_with(conn)).await?;
    rows.iter()
        .map(|r| {
            let doc_id: Uuid = r.try_get("", "doc_id")?;
            let mut bytes: Vec<u8> = r.try_get("", "changes")?;
            state
                .db
                .vault()
                .open_in_place(crate::seal::Sealed::Chunk(doc_id), &mut bytes)?;
            let raw_changes: Vec<ByteBuf> =
                sync_core::protocol::decode(&bytes, &state.sync.limits)?;
            Ok(Entry {
                id: r.try_get("", "id")?,
                doc_id,
                kind: r.try_get("", "kind")?,
                device_id: r.try_get("", "device_id")?,
                user_id: r.try_get("", "user_id")?,
                reason: r.try_get("", "reason")?,
                status: r.try_get("", "status")?,
                created_at: r.try_get("", "created_at")?,
                changes: raw_changes.len(),
                raw_changes,
            })
        })
        .collect()
}

/// The quarantine entries of the caller's territories (every entry for an admin), oldest first.
#[utoipa::path(get, path = "/v1/quarantine", tag = "quarantine", operation_id = "list_quarantine",
    responses(
        (status = 200, description = "The entries", body = Vec<Entry>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Agents do not review the quarantine", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn list(State(state): State<AppState>, who: Principal) -> Result<Json<Vec<Entry>>, Error> {
    require_manager(&who)?;
    Ok(Json(entries(&state, &who, None).await?))
}

async fn pending_entry(state: &AppState, who: &Principal, id: Uuid) -> Result<Entry, Error> {
    require_manager(who)?;
    let entry = entries(state, who, Some(id))
        .await?
        .pop()
        .ok_or_else(|| Error::NotFound(format!("no quarantine entry {id}")))?;
    if entry.status != "pending" {
        return Err(Error::Conflict(format!(
            "quarantine entry {id} was already {}",
            entry.status
        )));
    }
    Ok(entry)
}

/// Accepts an entry: its changes are merged through the normal push path.
#[utoipa::path(post, path = "/v1/quarantine/{id}/accept", tag = "quarantine", operation_id = "accept_quarantined",
    params(("id" = Uuid, Path, description = "The quarantine entry")),
    responses(
        (status = 200, description = "Accepted and merged", body = Entry),
        (status = 400, description = "The id is not a UUID (`invalid_id`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Agents do not review the quarantine", body = ErrorBody),
        (status = 404, description = "No such entry in the caller's territories", body = ErrorBody),
        (status = 409, description = "Already decided, or the changes cannot be merged", body = ErrorBody),
    ),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(entry = %id))]
async fn accept(
    State(state): State<AppState>,
    who: Principal,
    PathParam(id): PathParam<Uuid>,
) -> Result<Json<Entry>, Error> {
    let mut entry = pending_entry(&state, &who, id).await?;
    // The changes are the agent device's (its actor). They are merged within the manager's scope,
    // but with no more field rights than their author has: accepting cannot launder a write the
    // author may not make. The entry is marked accepted in the merge's own transaction, so an accept
    // is merged and recorded together or not at all, and one racing a reject loses cleanly.
    let author_role = user::Entity::find_by_id(entry.user_id)
        .one(&state.db.conn)
        .await?
        .and_then(|u| Role::parse(&u.role))
        .unwrap_or(Role::Agent);
    // Changes the device handed in under an id it could not prove are merged as that id's: the
    // reviewer vouches for them.
    let claimed_device: Option<Option<Uuid>> = device::Entity::find_by_id(entry.device_id)
        .select_only()
        .column(device::Column::ClaimedDeviceId)
        .into_tuple()
        .one(&state.db.conn)
        .await?;
    let author = Author::Approved {
        field_role: author_role.min(who.role),
        rights: who.clone(),
        device_id: entry.device_id,
        claimed_device: claimed_device.flatten(),
        entry: id,
    };
    let request = PushRequest {
        docs: vec![DocPush {
            id: entry.doc_id,
            kind: entry.kind.clone(),
            base_heads: vec![],
            changes: entry.raw_changes.clone(),
            group: None,
        }],
        checkpoint: 0,
    };
    let by = rules::Pusher {
        user_id: who.user_id,
        role: author_role.min(who.role),
        purpose: None,
    };
    let (response, pushed) = push::push_written(&state.sync, &author, request, by).await?;
    rules::after_push(&state.sync, pushed).await;
    let result = response
        .results
        .into_iter()
        .next()
        .ok_or_else(|| Error::Internal("empty push result".into()))?;
    if !matches!(
        result.status,
        PushStatus::Applied | PushStatus::AlreadyKnown
    ) {
        let why = result
            .reason
            .map_or_else(|| format!("{:?}", result.status), |r| r.message);
        return Err(Error::Conflict(format!(
            "the quarantined changes cannot be merged: {why}"
        )));
    }
    entry.status = "accepted".into();
    Ok(Json(entry))
}

/// Rejects an entry: it is kept, marked rejected, and never merged.
#[utoipa::path(post, path = "/v1/quarantine/{id}/reject", tag = "quarantine", operation_id = "reject_quarantined",
    params(("id" = Uuid, Path, description = "The quarantine entry")),
    responses(
        (status = 200, description = "Rejected", body = Entry),
        (status = 400, description = "The id is not a UUID (`invalid_id`)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Agents do not review the quarantine", body = ErrorBody),
        (status = 404, description = "No such entry in the caller's territories", body = ErrorBody),
        (status = 409, description = "Already decided", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn reject(
    State(state): State<AppState>,
    who: Principal,
    PathParam(id): PathParam<Uuid>,
) -> Result<Json<Entry>, Error> {
    let mut entry = pending_entry(&state, &who, id).await?;
    // One statement on its own; on SQLite under the process's write lock like every write.
    let _writer = state.db.lock_writes().await;
    quarantine::decide(&state.db.conn, id, who.user_id, "rejected").await?;
    entry.status = "rejected".into();
    Ok(Json(entry))
}
