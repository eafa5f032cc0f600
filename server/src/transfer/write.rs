//! Writing a plan: its records become documents through the merge path, authored by the server for
//! the importing user (`import` in each record's history), in batches of one push each, so devices
//! receive them by sync and the rules see them like any write. Each batch is one short transaction:
//! devices' pushes interleave with an import rather than wait for all of it. A batch's new records
//! come as the first changes the plan made of them, not built again.

use sea_orm::ConnectionTrait;
use serde::Serialize;
use serde_bytes::ByteBuf;
use sync_core::protocol::{DocPush, PushRequest, PushStatus};
use sync_core::record;

use crate::auth::principal::Principal;
use crate::crm::rules;
use crate::error::Error;
use crate::sync::author::{push_of_own_change, Author};
use crate::sync::engine::SyncEngine;
use crate::sync::push::ForRules;
use crate::sync::{docstore, push};
use crate::transfer::plan::{differing, Plan, Planned, RowError};

/// Why the server writes, in a record's history.
pub const PURPOSE: &str = "import";

/// Records per push: large enough that the per-push work (a transaction, its feed positions, the
/// rules' pass) is spread thin, small enough that a device's push waits for one batch at most.
const BATCH: usize = 250;

/// What an import wrote.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Written {
    pub created: usize,
    pub updated: usize,
    /// Rows the merge path refused after the plan passed them: a record changed meanwhile (a
    /// device took a customer number, a manager removed a territory).
    pub refused: Vec<RowError>,
}

/// Writes `plan`'s creates and updates for `who`, reporting after each batch how many rows are done.
pub async fn apply(
    sync: &SyncEngine,
    who: &Principal,
    plan: Plan,
    mut progress: impl FnMut(usize),
) -> Result<Written, Error> {
    let actor = plan.actor;
    let author = Author::server_as(
        who.user_id,
        who.role,
        who.territories.clone(),
        PURPOSE,
        actor.clone(),
    );
    let kind = plan.target.kind;
    let conn = &sync.db.conn;
    let mut written = Written::default();
    let mut done = 0;
    let rows: Vec<Planned> = plan.creates.into_iter().chain(plan.updates).collect();
    // The rules of one batch run while the next batch is pushed (on another worker thread), one
    // batch behind and in order, so that a batch's customers are checked for duplicates against
    // every batch before it.
    let mut rules_behind: Option<tokio::task::JoinHandle<()>> = None;
    for batch in rows.chunks(BATCH) {
        let mut docs = Vec::with_capacity(batch.len());
        let mut lines = Vec::with_capacity(batch.len());
        for planned in batch {
            let doc = match &planned.change {
                Some(change) => Some(DocPush {
                    id: planned.id,
                    kind: kind.name.to_string(),
                    base_heads: vec![],
                    changes: vec![ByteBuf::from(change.clone())],
                    group: None,
                }),
                None => update(conn, sync.db.vault(), kind, &actor, planned).await?,
            };
            if let Some(doc) = doc {
                docs.push(doc);
                // A new record comes with its first change; a stored one's is made here.
                lines.push((planned.change.is_some(), planned.line));
            }
        }
        if !docs.is_empty() {
            let pushed = write_batch(sync, &author, docs, &lines, &mut written).await?;
            finish(rules_behind.take()).await?;
            let sync = sync.clone();
            rules_behind = Some(tokio::spawn(async move {
                rules::after_push(&sync, pushed).await
            }));
        }
        done += batch.len();
        progress(done);
    }
    finish(rules_behind).await?;
    Ok(written)
}

/// Waits for the rules of the batch before.
async fn finish(rules: Option<tokio::task::JoinHandle<()>>) -> Result<(), Error> {
    match rules {
        // The rules log what fails of them and leave it due; a panic is the import's error.
        Some(rules) => rules
            .await
            .map_err(|e| Error::Internal(format!("the rules after an import batch: {e}"))),
        None => Ok(()),
    }
}

/// The change that writes `planned`'s values over the record as it now stands: only those that
/// still differ (a device may have written the same meanwhile).
async fn update(
    conn: &impl ConnectionTrait,
    vault: &crate::seal::Vault,
    kind: &'static sync_core::KindSchema,
    actor: &automerge::ActorId,
    planned: &Planned,
) -> Result<Option<DocPush>, Error> {
    let doc = docstore::load(conn, vault, planned.id)
        .await?
        .map_err(|e| Error::Internal(format!("record {} does not load: {e}", planned.id)))?;
    let mut doc = doc.with_actor(actor.clone());
    let values = differing(&doc, kind, &planned.values)?;
    if values.is_empty() {
        return Ok(None);
    }
    let base = doc.get_heads();
    record::update(&mut doc, kind, &values)?;
    Ok(push_of_own_change(planned.id, kind, base, &mut doc))
}

async fn write_batch(
    sync: &SyncEngine,
    author: &Author,
    docs: Vec<DocPush>,
    lines: &[(bool, u64)],
    written: &mut Written,
) -> Result<ForRules, Error> {
    let by = rules::Pusher {
        user_id: author.rights().user_id,
        role: author.field_role(),
        purpose: author.purpose(),
    };
    let request = PushRequest {
        docs,
        checkpoint: 0,
    };
    let (response, pushed) = push::push_written(sync, author, request, by).await?;
    for (result, (create, line)) in response.results.iter().zip(lines) {
        match result.status {
            PushStatus::Applied | PushStatus::AlreadyKnown if *create => written.created += 1,
            PushStatus::Applied | PushStatus::AlreadyKnown => written.updated += 1,
            _ => written.refused.push(RowError {
                line: *line,
                column: result
                    .reason
                    .as_ref()
                    .and_then(|r| r.field.clone())
                    .unwrap_or_default(),
                reason: result
                    .reason
                    .as_ref()
                    .map_or_else(|| format!("{:?}", result.status), |r| r.message.clone()),
            }),
        }
    }
    Ok(pushed)
}
