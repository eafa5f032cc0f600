//! Managers' decisions: approving or rejecting a submitted order, resolving an alert, and resolving a
//! conflict by picking the value that stands. Each is a write of the records concerned through the
//! merge path, made by the server for the manager (`edit`), so devices receive it like any change.

use serde_json::{json, Map, Value as Json};
use sync_core::kinds::{ALERT, CONFLICT, ORDER};
use sync_core::{KindSchema, Role};
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::crm::{edit, records};
use crate::db::now_ms;
use crate::error::Error;
use crate::sync::decide::refusal;
use crate::sync::engine::SyncEngine;

/// A manager's decision on a held or submitted order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

/// Approves or rejects a submitted order the manager may see, with an optional note.
pub async fn decide_order(
    sync: &SyncEngine,
    who: &Principal,
    id: Uuid,
    decision: Decision,
    note: Option<String>,
) -> Result<(), Error> {
    let order = fields_of(sync, who, id, &ORDER).await?;
    if order.get("status").and_then(Json::as_str) != Some("submitted") {
        return Err(refused(
            "invalid_status",
            format!(
                "only a submitted order is approved or rejected; this one is {}",
                order
                    .get("status")
                    .and_then(Json::as_str)
                    .unwrap_or("without status")
            ),
        ));
    }
    let status = match decision {
        Decision::Approve => "approved",
        Decision::Reject => "rejected",
    };
    let mut fields = Map::new();
    fields.insert("status".into(), status.into());
    fields.insert("decided_by".into(), who.user_id.to_string().into());
    fields.insert("decided_at".into(), now_ms().into());
    fields.insert("decision_note".into(), note.map_or(Json::Null, Json::from));
    edit::update(sync, who, id, &fields).await
}

/// Resolves an open alert with an outcome (what was done) and a note.
pub async fn resolve_alert(
    sync: &SyncEngine,
    who: &Principal,
    id: Uuid,
    outcome: String,
    note: Option<String>,
) -> Result<(), Error> {
    let alert = fields_of(sync, who, id, &ALERT).await?;
    ensure_open(&alert)?;
    edit::update(sync, who, id, &resolution(who, outcome.into(), note)).await
}

/// Resolves an open conflict: `outcome` is the value that stands (one of the candidates, or another
/// the field takes), written to the record's field so that it supersedes every concurrent value,
/// then the conflict is marked resolved.
pub async fn resolve_conflict(
    sync: &SyncEngine,
    who: &Principal,
    id: Uuid,
    outcome: Json,
    note: Option<String>,
) -> Result<(), Error> {
    let conflict = fields_of(sync, who, id, &CONFLICT).await?;
    ensure_open(&conflict)?;
    let text = |name: &str| {
        conflict
            .get(name)
            .and_then(Json::as_str)
            .unwrap_or_default()
    };
    let record = Uuid::parse_str(text("record_id"))
        .map_err(|_| Error::Internal(format!("conflict {id} names no record")))?;
    let field = text("field");
    let detail = records::get(&sync.db.conn, sync.db.vault(), who, record)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no record {record}")))?;
    let mut fields = Map::new();
    match field.split('.').collect::<Vec<_>>()[..] {
        [name] => {
            fields.insert(name.into(), outcome.clone());
        }
        // A field of an item: the record's items, with that one value replaced.
        [items, item, name] => {
            let mut list = detail
                .record
                .fields
                .get(items)
                .cloned()
                .unwrap_or(json!([]));
            let target = list
                .as_array_mut()
                .and_then(|l| l.iter_mut().find(|i| i["id"] == item))
                .ok_or_else(|| {
                    refused(
                        "already_resolved",
                        format!("the item {item} is no longer in {items}"),
                    )
                })?;
            target[name] = outcome.clone();
            fields.insert(items.into(), list);
        }
        _ => {
            return Err(Error::Internal(format!(
                "conflict {id} names field `{field}`"
            )))
        }
    }
    edit::update(sync, who, record, &fields).await?;
    edit::update(
        sync,
        who,
        id,
        &resolution(who, outcome.to_string().into(), note),
    )
    .await
}

fn resolution(who: &Principal, outcome: Json, note: Option<String>) -> Map<String, Json> {
    let mut fields = Map::new();
    fields.insert("status".into(), "resolved".into());
    fields.insert("outcome".into(), outcome);
    fields.insert("note".into(), note.map_or(Json::Null, Json::from));
    fields.insert("resolved_by".into(), who.user_id.to_string().into());
    fields.insert("resolved_at".into(), now_ms().into());
    fields
}

fn ensure_open(fields: &Map<String, Json>) -> Result<(), Error> {
    match fields.get("status").and_then(Json::as_str) {
        Some("open") => Ok(()),
        _ => Err(refused("already_resolved", "this was resolved already")),
    }
}

/// The fields of a record of `kind` that the manager may see; NotFound for any other.
async fn fields_of(
    sync: &SyncEngine,
    who: &Principal,
    id: Uuid,
    kind: &KindSchema,
) -> Result<Map<String, Json>, Error> {
    if who.role < Role::Manager {
        return Err(Error::Forbidden(
            "managers and admins decide orders, alerts and conflicts".into(),
        ));
    }
    let detail = records::get(&sync.db.conn, sync.db.vault(), who, id).await?;
    match detail {
        Some(d) if d.record.kind == kind.name && !d.record.deleted => {
            Ok(d.record.fields.as_object().cloned().unwrap_or_default())
        }
        _ => Err(Error::NotFound(format!("no {} {id}", kind.name))),
    }
}

fn refused(code: &str, message: impl Into<String>) -> Error {
    Error::Refused(refusal(code, message))
}
