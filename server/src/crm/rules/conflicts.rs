//! Fields written concurrently by two people: a conflict record for each, with every value, who
//! wrote it from which device, and when.

use automerge::{AutoCommit, ReadDoc, ROOT};
use sea_orm::sea_query::{Alias, Expr};
use sea_orm::ConnectionTrait;
use sync_core::kinds::{ALERT, CONFLICT};
use sync_core::Value;
use uuid::Uuid;

use super::queries::{open_conflict, select_one};
use super::{customer_of, Actions};
use crate::db::{now_ms, BuildWith};
use crate::error::Error;
use crate::sync::docstore;
use crate::sync::push::Written;

/// A conflict record for each field in conflict that has no open one yet.
pub(super) async fn conflicts(
    conn: &impl ConnectionTrait,
    vault: &crate::seal::Vault,
    w: &Written,
    actions: &mut Actions,
) -> Result<(), Error> {
    if [ALERT.name, CONFLICT.name].contains(&w.kind.name) {
        return Ok(());
    }
    let Some(customer) = customer_of(w.kind, w.id, &w.projection) else {
        return Ok(());
    };
    // The document and its changes' spans, read once for all of the record's conflicts.
    let mut history: Option<Option<(AutoCommit, Vec<Span>)>> = None;
    let mut raised = 0;
    for c in &w.projection.conflicts {
        if raised == MAX_RAISED_PER_RECORD {
            break;
        }
        if open_conflict(conn, w.id, &c.field).await? {
            continue;
        }
        raised += 1;
        let history = match &mut history {
            Some(read) => read,
            None => {
                let loaded = match docstore::load(conn, vault, w.id).await? {
                    Ok(doc) => Some(doc),
                    Err(e) => {
                        // The conflict is raised without its writers rather than not at all.
                        tracing::warn!(record = %w.id, error = %e, "a conflicted record does not load; its writers are not named");
                        None
                    }
                };
                history.insert(loaded.map(|mut doc| {
                    let spans = spans(&mut doc);
                    (doc, spans)
                }))
            }
        };
        let authors = match history {
            Some((doc, spans)) => writers(conn, doc, spans, &c.field).await?,
            None => Vec::new(),
        };
        let candidates: Vec<serde_json::Value> = c
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let (user, device, at) = authors.get(i).cloned().unwrap_or_default();
                serde_json::json!({
                    "value": v.to_json(),
                    "user_id": user,
                    "device_id": device,
                    "at": at,
                })
            })
            .collect();
        actions.raise.push((
            &CONFLICT,
            vec![
                ("customer_id", Value::Str(customer.to_string())),
                ("record_id", Value::Str(w.id.to_string())),
                ("record_kind", w.kind.name.into()),
                ("field", Value::Str(c.field.clone())),
                (
                    "candidates",
                    Value::Str(serde_json::Value::Array(candidates).to_string()),
                ),
                ("raised_at", Value::Int(now_ms())),
                ("status", "open".into()),
            ],
        ));
    }
    Ok(())
}

/// The conflict records one record raises per push, at most: a device that writes hundreds of
/// fields at once under two of its actors gets the first ones raised, and the rest at its next
/// pushes, rather than tying the server up with one push.
const MAX_RAISED_PER_RECORD: usize = 20;

/// A change's actor, its first op counter, its number of ops and its time.
type Span = (automerge::ActorId, u64, u64, i64);

/// The span of every change of the document, to find the change an op belongs to.
fn spans(doc: &mut AutoCommit) -> Vec<Span> {
    doc.get_changes(&[])
        .into_iter()
        .map(|c| {
            (
                c.actor_id().clone(),
                c.start_op().get(),
                c.len() as u64,
                c.timestamp(),
            )
        })
        .collect()
}

/// Who wrote each concurrent value of `field` (a root field, or `items_field.item_id.field`), the
/// shown one first as in a projection's conflicts: the user and device, and the time of the change
/// (the writer's clock). A device's actor starts with its id; the server's actors are recorded
/// with the person they acted for.
async fn writers(
    conn: &impl ConnectionTrait,
    doc: &AutoCommit,
    changes: &[Span],
    field: &str,
) -> Result<Vec<(Option<Uuid>, Option<Uuid>, Option<i64>)>, Error> {
    let mut path = field.split('.');
    let Some(mut key) = path.next() else {
        return Ok(Vec::new());
    };
    let mut obj = ROOT;
    for next in path {
        match doc.get(&obj, key) {
            Ok(Some((_, id))) => obj = id,
            _ => return Ok(Vec::new()),
        }
        key = next;
    }
    let Ok(all) = doc.get_all(&obj, key) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (_, op) in all.into_iter().rev() {
        let automerge::ObjId::Id(counter, actor, _) = op else {
            out.push(Default::default());
            continue;
        };
        let at = changes
            .iter()
            .find(|(a, start, len, _)| *a == actor && (*start..start + len).contains(&counter))
            .map(|(.., t)| *t);
        let (user, device) = actor_owner(conn, &actor).await?;
        out.push((user, device, at));
    }
    Ok(out)
}

/// The user (and device) an actor writes for.
async fn actor_owner(
    conn: &impl ConnectionTrait,
    actor: &automerge::ActorId,
) -> Result<(Option<Uuid>, Option<Uuid>), Error> {
    let bytes = actor.to_bytes();
    if let Some(device) = bytes.get(..16).and_then(|b| Uuid::from_slice(b).ok()) {
        let stmt = select_one("devices", "user_id", Expr::col(Alias::new("id")).eq(device));
        if let Some(row) = conn.query_one(stmt.build_with(conn)).await? {
            return Ok((row.try_get("", "user_id")?, Some(device)));
        }
    }
    let stmt = select_one(
        "server_actors",
        "user_id",
        Expr::col(Alias::new("actor")).eq(bytes.to_vec()),
    );
    Ok(match conn.query_one(stmt.build_with(conn)).await? {
        Some(row) => (row.try_get("", "user_id")?, None),
        None => (None, None),
    })
}
