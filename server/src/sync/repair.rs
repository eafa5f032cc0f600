//! Rebuilding a stored record that no longer loads, from the chunks of it that still do.
//!
//! The push path refuses every change that would make a document unloadable and proves each
//! snapshot loads before it replaces a record's chunks, so a broken record comes from outside it: a
//! database written by an older server, or damaged on disk. `fieldsync-server repair` loads the
//! record's chunks one at a time in feed order, keeps each that loads (and leaves a document that
//! saves and loads back), drops the others, and stores what it kept as one snapshot at a new feed
//! position, so every device pulls the rebuilt record. Devices that hold a dropped change push it
//! again and get it refused with its reason.

use automerge::AutoCommit;
use sync_core::record;
use sync_core::{kinds, structure};
use uuid::Uuid;

use crate::db::Db;
use crate::error::Error;
use crate::sync::decide;
use crate::sync::docstore;
use crate::sync::write::{self, Write};

/// What a repair did.
#[derive(Debug)]
pub struct Repaired {
    pub kept: usize,
    /// The chunks left out, each with why, by feed position.
    pub dropped: Vec<(i64, String)>,
    /// Whether a rebuilt record was written; false if every chunk loads.
    pub written: bool,
}

/// Rebuilds record `id` from its healthy chunks, if any of them is not.
pub async fn repair(db: &Db, id: Uuid) -> Result<Repaired, Error> {
    let txn = db.begin_write().await?;
    let conn = &*txn;
    let row = write::find_document(conn, id, true)
        .await?
        .ok_or_else(|| Error::NotFound(format!("there is no record {id}")))?;
    let kind = kinds::get(&row.kind).map_err(|e| Error::Internal(e.to_string()))?;
    let chunks = docstore::load_chunks(conn, db.vault(), id).await?;
    let mut kept: Vec<&[u8]> = Vec::new();
    let mut doc = AutoCommit::new();
    let mut repaired = Repaired {
        kept: 0,
        dropped: Vec::new(),
        written: false,
    };
    for (seq, data) in &chunks {
        let data = match data {
            Ok(data) => data,
            Err(e) => {
                repaired.dropped.push((*seq, format!("does not open: {e}")));
                continue;
            }
        };
        kept.push(data);
        match healthy(&kept) {
            Ok(next) => {
                doc = next;
                repaired.kept += 1;
            }
            Err(e) => {
                kept.pop();
                repaired.dropped.push((*seq, e));
            }
        }
    }
    if repaired.dropped.is_empty() {
        return Ok(repaired);
    }
    let projection = record::project(&doc, kind).map_err(|e| {
        Error::Internal(format!(
            "the healthy chunks of record {id} do not make a valid {}: {e}",
            kind.name
        ))
    })?;
    let data = doc.save();
    // Chunks left out may have set the customer number the record held.
    let code = decide::code_change(kind, &projection, Some(&row)).map(|c| c.map(str::to_string));
    // A repair runs in its own process, with no cache to fill, and brings no change the record
    // did not have.
    let rebuilt = Write::replacing(&row, kind, data, &doc.get_heads(), projection, code);
    write::store(&txn, std::slice::from_ref(&rebuilt)).await?;
    txn.commit().await?;
    tracing::info!(record = %id, kept = repaired.kept, dropped = repaired.dropped.len(), "record rebuilt from its healthy chunks");
    repaired.written = true;
    Ok(repaired)
}

/// The document `chunks` make, if they load, need no change of a chunk left out, and make a
/// document that saves and loads back.
fn healthy(chunks: &[&[u8]]) -> Result<AutoCommit, String> {
    let mut doc = structure::load_chunks(chunks.iter().copied())?;
    if !doc.get_missing_deps(&[]).is_empty() {
        return Err("depends on changes of a chunk left out".into());
    }
    structure::reloads(&doc.save(), &doc.get_heads()).map_err(|e| e.to_string())
}
