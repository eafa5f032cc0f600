//! Merging a duplicate customer into its survivor, as a manager's action: every write is a change
//! the server makes for the manager (purpose `merge`, so each record's history names her) through
//! the merge path, so devices receive them like any other change.
//!
//! 1. The pair is claimed (`merged`), so two managers cannot merge it twice at once.
//! 2. The merged-away customer becomes a tombstone naming its survivor (`merged_into`).
//! 3. The survivor takes the values the manager picked, and fills each field it lacks from the
//!    other (its customer number too: a tombstone's number is free).
//! 4. Every record scoped through the merged-away customer (contacts, visits, orders, payments,
//!    opportunities, tickets; its alerts and conflicts, whose customer only the server writes, by
//!    the server's own change) and every task about it is moved to the survivor.
//!
//! A device that still holds offline edits of the merged-away customer keeps them: its changes of
//! the tombstone merge like any other (and show in its history, with an `edit_after_merge` alert on
//! the survivor), and a record it made offline for that customer is moved to the survivor by the
//! rules once it arrives.

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use serde_json::{Map, Value as Json};
use sync_core::kinds::{ALERT, CONFLICT, CUSTOMER, TASK};
use sync_core::{Role, Value, Writer};
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::crm::{duplicates, edit, records, rules};
use crate::db::BuildWith;
use crate::error::Error;
use crate::seal::Vault;
use crate::sync::engine::SyncEngine;

/// Why the server writes, in the records' history.
pub const PURPOSE: &str = "merge";

/// Fields the survivor never takes from the other customer.
const KEPT: [&str; 3] = [
    sync_core::schema::DELETED_FIELD,
    "merged_into",
    "tier_locked",
];

/// What a merge did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Merged {
    pub survivor: Uuid,
    /// The customer merged away: now a tombstone naming the survivor.
    pub merged: Uuid,
    /// The survivor's fields the merge wrote.
    pub fields: Vec<String>,
    /// How many records were moved to the survivor.
    pub moved: usize,
}

/// Merges the open candidate `id` (whose two customers `who` sees) into `survivor`, one of the two,
/// writing `picked` (field values, as JSON) on the survivor.
pub async fn merge(
    sync: &SyncEngine,
    who: &Principal,
    id: Uuid,
    survivor: Uuid,
    picked: &Map<String, Json>,
) -> Result<Merged, Error> {
    let conn = &sync.db.conn;
    let candidate = duplicates::get(conn, sync.db.vault(), who, id).await?;
    let other = match survivor {
        s if s == candidate.a.id => candidate.b.id,
        s if s == candidate.b.id => candidate.a.id,
        _ => {
            return Err(Error::bad_request(
                "invalid_survivor",
                format!(
                    "the survivor must be {} or {}",
                    candidate.a.id, candidate.b.id
                ),
            ))
        }
    };
    let fields = survivor_fields(conn, sync.db.vault(), who, survivor, other, picked).await?;
    duplicates::claim(conn, who, id).await?;
    let done = apply(sync, who, survivor, other, &fields).await;
    if done.is_err() {
        // Nothing the merge wrote is undone (each write stands on its own and is a valid record);
        // the pair opens again, so the merge can be done once more.
        duplicates::reopen(conn, id).await?;
    }
    let moved = done?;
    Ok(Merged {
        survivor,
        merged: other,
        fields: fields.keys().cloned().collect(),
        moved,
    })
}

/// What the survivor takes: the picked values, and each field it lacks that the other has.
async fn survivor_fields(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    who: &Principal,
    survivor: Uuid,
    other: Uuid,
    picked: &Map<String, Json>,
) -> Result<Map<String, Json>, Error> {
    let fields_of = |id: Uuid| async move {
        records::get(conn, vault, who, id)
            .await?
            .map(|d| d.record.fields)
            .ok_or_else(|| Error::NotFound(format!("no customer {id}")))
    };
    let (ours, theirs) = (fields_of(survivor).await?, fields_of(other).await?);
    let mut fields = picked.clone();
    for spec in CUSTOMER.fields {
        let name = spec.name;
        if KEPT.contains(&name) || !spec.writer.allows(Role::Manager) || fields.contains_key(name) {
            continue;
        }
        if ours[name].is_null() && !theirs[name].is_null() {
            fields.insert(name.to_string(), theirs[name].clone());
        }
    }
    for name in KEPT {
        if fields.contains_key(name) {
            return Err(Error::bad_request(
                "invalid_field",
                format!("a merge does not write `{name}` of the survivor"),
            ));
        }
    }
    Ok(fields)
}

async fn apply(
    sync: &SyncEngine,
    who: &Principal,
    survivor: Uuid,
    other: Uuid,
    fields: &Map<String, Json>,
) -> Result<usize, Error> {
    let conn = &sync.db.conn;
    let mut tombstone = Map::new();
    tombstone.insert(sync_core::schema::DELETED_FIELD.into(), Json::Bool(true));
    tombstone.insert("merged_into".into(), Json::String(survivor.to_string()));
    edit::update_for(sync, who, PURPOSE, other, &tombstone).await?;
    if !fields.is_empty() {
        edit::update_for(sync, who, PURPOSE, survivor, fields).await?;
    }
    let mut moved = 0;
    let mut servers = Vec::new();
    let to = Json::String(survivor.to_string());
    for (child, kind) in children(conn, other).await? {
        let spec = sync_core::kinds::get(&kind)?;
        if spec.field("customer_id").map(|f| f.writer) == Some(Writer::Server) {
            // Alerts and conflicts: the server's own records, moved by its own change.
            servers.push((
                child,
                if kind == ALERT.name {
                    &ALERT
                } else {
                    &CONFLICT
                },
                vec![("customer_id", Value::Str(survivor.to_string()))],
            ));
        } else {
            let mut field = Map::new();
            field.insert("customer_id".into(), to.clone());
            edit::update_for(sync, who, PURPOSE, child, &field).await?;
        }
        moved += 1;
    }
    moved += servers.len();
    rules::write_fields(sync, PURPOSE, servers).await?;
    for task in tasks_about(conn, other).await? {
        let mut field = Map::new();
        field.insert("related_id".into(), to.clone());
        edit::update_for(sync, who, PURPOSE, task, &field).await?;
        moved += 1;
    }
    Ok(moved)
}

/// The records scoped through customer `id`, with their kinds.
async fn children(conn: &impl ConnectionTrait, id: Uuid) -> Result<Vec<(Uuid, String)>, Error> {
    let stmt = Query::select()
        .columns([Alias::new("id"), Alias::new("kind")])
        .from(Alias::new("documents"))
        .and_where(Expr::col(Alias::new("parent_id")).eq(id))
        .to_owned();
    conn.query_all(stmt.build_with(conn))
        .await?
        .iter()
        .map(|r| Ok((r.try_get("", "id")?, r.try_get("", "kind")?)))
        .collect()
}

/// The tasks about customer `id` that are not deleted.
async fn tasks_about(conn: &impl ConnectionTrait, id: Uuid) -> Result<Vec<Uuid>, Error> {
    let deleted = Expr::col(Alias::new("deleted"));
    let stmt = Query::select()
        .column(Alias::new("id"))
        .from(Alias::new(TASK.table))
        .and_where(Expr::col(Alias::new("related_id")).eq(id))
        .cond_where(deleted.clone().is_null().or(deleted.eq(false)))
        .to_owned();
    conn.query_all(stmt.build_with(conn))
        .await?
        .iter()
        .map(|r| Ok(r.try_get("", "id")?))
        .collect()
}

/// The survivors of those of `customers` that were merged away.
pub async fn survivors(
    conn: &impl ConnectionTrait,
    customers: &[Uuid],
) -> Result<Vec<(Uuid, Uuid)>, Error> {
    if customers.is_empty() {
        return Ok(Vec::new());
    }
    let stmt = Query::select()
        .columns([Alias::new("id"), Alias::new("merged_into")])
        .from(Alias::new(CUSTOMER.table))
        .and_where(Expr::col(Alias::new("id")).is_in(customers.iter().copied()))
        .and_where(Expr::col(Alias::new("merged_into")).is_not_null())
        .to_owned();
    conn.query_all(stmt.build_with(conn))
        .await?
        .iter()
        .map(|r| Ok((r.try_get("", "id")?, r.try_get("", "merged_into")?)))
        .collect()
}
