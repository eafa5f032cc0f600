//! Records made before their kind had a text or items field (visits from before photos, tickets
//! from before evidence) are given the empty object (records written since get it from the rules
//! after their push), as a change the server makes through the merge
//! path: devices receive it and can then write into it, which they may not create themselves after
//! a record's first change. A process that dies half-way leaves the task for the next start, which
//! finds the records still without the objects.

use sync_core::{kinds, record};
use uuid::Uuid;

use crate::error::Error;
use crate::sync::author::push_of_own_change;
use crate::sync::docstore;
use crate::sync::engine::SyncEngine;

/// Records loaded and written per push.
const BATCH: u64 = 200;

/// Gives every stored record of a kind with nested fields the objects it lacks; returns how many
/// records it wrote.
pub async fn add_missing(sync: &SyncEngine) -> Result<usize, Error> {
    // The kinds that gained items in the version that added this task: those holding files.
    let mut nested: Vec<&str> = sync_core::attachments::places()
        .into_iter()
        .filter(|(_, place)| matches!(place, sync_core::attachments::Place::Items { .. }))
        .map(|(kind, _)| kind.name)
        .collect();
    nested.dedup();
    let (author, actor) = super::upgrade_author();
    let conn = &sync.db.conn;
    let mut after = Uuid::nil();
    let mut written = 0;
    loop {
        let rows = super::records_after(conn, &nested, after, BATCH).await?;
        let Some((last, _)) = rows.last() else {
            return Ok(written);
        };
        after = *last;
        let mut docs = Vec::new();
        for (id, kind) in rows {
            let kind = kinds::get(&kind)?;
            let mut doc = match docstore::load(conn, sync.db.vault(), id).await? {
                Ok(doc) => doc.with_actor(actor.clone()),
                Err(e) => {
                    tracing::error!(%id, error = %e, "a record to upgrade does not load; left as it is");
                    continue;
                }
            };
            let base = doc.get_heads();
            if record::add_missing_objects(&mut doc, kind)? {
                docs.extend(push_of_own_change(id, kind, base, &mut doc));
            }
        }
        written +=
            super::push_own(sync, &author, docs, "a record's new fields were not added").await?;
    }
}
