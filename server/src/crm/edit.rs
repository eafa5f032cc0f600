//! Records written over the JSON API (the dashboard's forms, integrations, managers' actions such as
//! assigning an owner or grading a customer): each write is a change of the record's document made
//! by the server for the calling user, through the merge path like a device's push, so devices
//! receive it like any other change and it is held to the same rules (the user's scope, each field's
//! writers, the schema, the size caps).

use std::collections::BTreeSet;

use sync_core::protocol::{DocPush, PushRequest, PushStatus, Reason};
use sync_core::validate::FieldError;
use sync_core::{inspect, record, KindSchema, Value};
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::crm::rules;
use crate::error::Error;
use crate::sync::author::{push_of_own_change, Author};
use crate::sync::engine::SyncEngine;
use crate::sync::{docstore, push, write};

/// Why the server writes, in a record's history.
pub const PURPOSE: &str = "api";

/// JSON fields as values of `kind`'s fields; every field that is unknown or of the wrong JSON type
/// is named.
fn values(
    kind: &'static KindSchema,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<(&'static str, Value)>, Error> {
    let mut values = Vec::with_capacity(fields.len());
    let mut errors = Vec::new();
    for (name, json) in fields {
        match kind.field(name) {
            None => errors.push(FieldError::new(
                name,
                "unknown_field",
                format!("{} has no field `{name}`", kind.name),
            )),
            Some(spec) => match Value::from_json(spec.ty, json) {
                Some(value) => values.push((spec.name, value)),
                None => errors.push(FieldError::new(
                    name,
                    "type",
                    format!("`{json}` is not a value of this field's type"),
                )),
            },
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(sync_core::Error::Invalid(errors).into())
    }
}

/// Creates a record of `kind` for `who` from its fields as JSON; returns its id.
pub async fn create(
    sync: &SyncEngine,
    who: &Principal,
    kind: &'static KindSchema,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Result<Uuid, Error> {
    let values = values(kind, fields)?;
    inspect::check_writable(kind, who.role, &names(&values))?;
    let author = author(who);
    let mut doc = record::create(kind, actor(&author), &values)?;
    let id = Uuid::now_v7();
    write(
        sync,
        &author,
        push_of_own_change(id, kind, vec![], &mut doc),
    )
    .await?;
    Ok(id)
}

/// Writes fields (as JSON, read against the record's kind) of a record `who` may see; NotFound if
/// there is none such (the two are not told apart).
pub async fn update(
    sync: &SyncEngine,
    who: &Principal,
    id: Uuid,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), Error> {
    update_for(sync, who, PURPOSE, id, fields).await
}

/// [`update`] as part of a larger action of `who`'s (`purpose`, shown in the record's history:
/// `merge`).
pub async fn update_for(
    sync: &SyncEngine,
    who: &Principal,
    purpose: &'static str,
    id: Uuid,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), Error> {
    let conn = &sync.db.conn;
    let row = write::find_document(conn, id, false)
        .await?
        .filter(|row| who.can_see(row))
        .ok_or_else(|| Error::NotFound(format!("no record {id}")))?;
    let kind = sync_core::kinds::get(&row.kind)?;
    let values = values(kind, fields)?;
    inspect::check_writable(kind, who.role, &names(&values))?;
    let author = Author::server(who.user_id, who.role, who.territories.clone(), purpose);
    let doc = docstore::load(conn, sync.db.vault(), id)
        .await?
        .map_err(|e| {
            Error::Refused(Reason {
                code: "record_unloadable".into(),
                message: format!("record {id} does not load: {e}"),
                field: None,
            })
        })?;
    let mut doc = doc.with_actor(actor(&author));
    let base = doc.get_heads();
    record::update(&mut doc, kind, &values)?;
    write(sync, &author, push_of_own_change(id, kind, base, &mut doc)).await
}

fn names(values: &[(&str, Value)]) -> BTreeSet<String> {
    values.iter().map(|(name, _)| name.to_string()).collect()
}

fn author(who: &Principal) -> Author {
    Author::server(who.user_id, who.role, who.territories.clone(), PURPOSE)
}

fn actor(author: &Author) -> automerge::ActorId {
    author
        .server_actor()
        .expect("a server author has an actor of its own")
        .clone()
}

/// Pushes the write's change, if it made one, and answers the merge path's refusal as the request's.
async fn write(sync: &SyncEngine, author: &Author, doc: Option<DocPush>) -> Result<(), Error> {
    let Some(doc) = doc else {
        return Ok(());
    };
    let request = PushRequest {
        docs: vec![doc],
        checkpoint: 0,
    };
    let by = rules::Pusher {
        user_id: author.rights().user_id,
        role: author.field_role(),
        purpose: author.purpose(),
    };
    let (response, pushed) = push::push_written(sync, author, request, by).await?;
    rules::after_push(sync, pushed).await;
    let result = response
        .results
        .into_iter()
        .next()
        .ok_or_else(|| Error::Internal("empty push result".into()))?;
    match result.status {
        PushStatus::Applied | PushStatus::AlreadyKnown => Ok(()),
        status => Err(Error::Refused(result.reason.unwrap_or_else(|| Reason {
            code: "refused".into(),
            message: format!("the write was not applied ({status:?})"),
            field: None,
        }))),
    }
}
