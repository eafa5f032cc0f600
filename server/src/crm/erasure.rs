//! Erasing a person (a contact or a lead) on request: their personal values leave the record and
//! every stored past version of it, the projections, the conflicts raised about them and the changes
//! held for them, and every device holding the record replaces its copy at its next pull.
//!
//! Automerge cannot forget a value while it keeps the change that wrote it, so the record's history
//! is rewritten (`sync_core::rewrite`): each old change becomes a change of a new history that
//! writes the same fields, except the personal ones, by a server actor recorded for the same person,
//! received at the same time. The other fields keep their whole history. The rewritten record is
//! stored as one snapshot at a new feed position, in place of every chunk of the old one, and marked
//! erased: the feed tells devices that its history was rewritten, a device's edits of the old
//! history are refused (`record_erased`) until it re-bases them, and re-based edits that write the
//! person's personal fields again wait for a manager. The erasure is audited: who, when, why,
//! which fields, never the values.

use std::collections::BTreeSet;

use automerge::{ActorId, Change, ChangeHash};
use sea_orm::sea_query::{Alias, Expr, OnConflict, Query};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use sync_core::kinds::{CONFLICT, CONTACT, LEAD};
use sync_core::record;
use sync_core::rewrite::{self, ERASED};
use sync_core::{KindSchema, Role};
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::crm::history::{received, Authors};
use crate::crm::privacy;
use crate::db::entities::document;
use crate::db::{now_ms, BuildWith, Db, WriteTxn};
use crate::error::Error;
use crate::sync::author::new_server_actor;
use crate::sync::docstore;
use crate::sync::write::{self, record_server_actor, Write};

/// The longest reason an erasure keeps.
pub const MAX_REASON: usize = 500;

/// Why a person is erased.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// Why (the person's request, its date and channel): kept in the audit trail. 1 to 500
    /// characters; no personal value belongs here.
    pub reason: String,
}

/// What an erasure did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Erasure {
    pub id: Uuid,
    pub kind: String,
    /// Milliseconds since the epoch.
    pub erased_at: i64,
    /// The personal fields erased.
    pub fields: Vec<String>,
    /// The changes of the record's old history, and of its rewritten one (a change that wrote only
    /// personal fields has no counterpart).
    pub changes_before: usize,
    pub changes_after: usize,
    /// The conflicts about the person's personal fields, rewritten without their values.
    pub conflicts: usize,
    /// The person's other records erased with this one: the lead a contact was made from, the
    /// contact a lead became (those the caller may see).
    pub linked: Vec<Uuid>,
}

/// Erases person `id` (a contact or a lead `who` may see), for `reason`. Managers and admins only.
pub async fn erase(
    db: &Db,
    cache: &docstore::DocCache,
    who: &Principal,
    id: Uuid,
    reason: &str,
) -> Result<Erasure, Error> {
    if who.role < Role::Manager {
        return Err(Error::Forbidden(
            "a person is erased by a manager or an admin".into(),
        ));
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(Error::bad_request(
            "invalid_reason",
            format!("say why the person is erased, in 1 to {MAX_REASON} characters"),
        ));
    }
    let txn = db.begin_write().await?;
    let row = write::find_document(&*txn, id, true)
        .await?
        .filter(|r| who.can_see(r))
        .ok_or_else(|| Error::NotFound(format!("no record {id}")))?;
    let kind = sync_core::kinds::get(&row.kind)?;
    if kind.name != CONTACT.name && kind.name != LEAD.name {
        return Err(Error::bad_request(
            "not_a_person",
            format!("{id} is a {}, not a contact or a lead", kind.name),
        ));
    }
    let now = now_ms();
    let (before, after, mut conflicts) =
        erase_record(&txn, cache, who, &row, kind, reason, now).await?;
    // The same person under their other record: the lead a contact was made from, the contact a
    // lead became.
    let mut linked = Vec::new();
    for other in linked_people(&*txn, &row, kind).await? {
        if !who.can_see(&other) {
            continue;
        }
        let other_kind = sync_core::kinds::get(&other.kind)?;
        let (_, _, n) = erase_record(&txn, cache, who, &other, other_kind, reason, now).await?;
        conflicts += n;
        linked.push(other.id);
    }
    txn.commit().await?;
    forget_old_pages(db).await;
    tracing::info!(record = %id, kind = kind.name, by = %who.user_id, ?linked, conflicts, "person erased");
    Ok(Erasure {
        id,
        kind: kind.name.to_string(),
        erased_at: now,
        fields: kind.personal_fields().map(str::to_string).collect(),
        changes_before: before,
        changes_after: after,
        conflicts,
        linked,
    })
}

/// Erases the personal fields of person record `row`: its history rewritten, the conflicts about
/// them rewritten, the edits held for it dropped, the erasure audited. Returns the record's changes
/// before and after, and the conflicts rewritten.
async fn erase_record(
    txn: &WriteTxn,
    cache: &docstore::DocCache,
    who: &Principal,
    row: &document::Model,
    kind: &'static KindSchema,
    reason: &str,
    now: i64,
) -> Result<(usize, usize, usize), Error> {
    let fields: Vec<&'static str> = kind.personal_fields().collect();
    // The person's name is required: it reads as erased.
    let required: Vec<(&str, &str)> = fields
        .iter()
        .filter(|f| kind.field(f).is_some_and(|s| s.required))
        .map(|f| (*f, ERASED))
        .collect();
    let (before, after) = rewrite_record(txn, cache, row, kind, &fields, &required, now).await?;
    // The conflicts raised about the person's personal fields hold both values.
    let conflicts = conflicts_about(&**txn, row.id, &fields).await?;
    for conflict in &conflicts {
        let (dropped, required) = (["candidates", "outcome"], [("candidates", "[]")]);
        rewrite_record(txn, cache, conflict, &CONFLICT, &dropped, &required, now).await?;
    }
    // Edits held for the record (waiting for a manager, or for changes they depend on) are of the
    // old history and hold its values; the devices that made them keep them, and re-base them.
    for table in ["quarantine", "orphan_changes"] {
        let stmt = Query::delete()
            .from_table(Alias::new(table))
            .and_where(Expr::col(Alias::new("doc_id")).eq(row.id))
            .to_owned();
        txn.execute(stmt.build_with(&**txn)).await?;
    }
    privacy::audit_erasure(&**txn, who, row.id, kind, reason).await?;
    Ok((before, after, conflicts.len()))
}

/// The other records of the person `row` is: for a contact, the leads converted into it; for a
/// lead, the contact it became.
async fn linked_people(
    conn: &impl ConnectionTrait,
    row: &document::Model,
    kind: &KindSchema,
) -> Result<Vec<document::Model>, Error> {
    let (column, by) = match kind.name == CONTACT.name {
        true => ("id", "contact_id"),
        false => ("contact_id", "id"),
    };
    let stmt = Query::select()
        .column(Alias::new(column))
        .from(Alias::new(LEAD.table))
        .and_where(Expr::col(Alias::new(by)).eq(row.id))
        .to_owned();
    let mut out = Vec::new();
    for r in conn.query_all(stmt.build_with(conn)).await? {
        if let Some(id) = r.try_get::<Option<Uuid>>("", column)? {
            out.extend(write::find_document(conn, id, true).await?);
        }
    }
    Ok(out)
}

/// On SQLite, copies the write-ahead log into the database and truncates it, so that the old
/// pages it held (the erased values among them) leave the files at once, not at the next
/// checkpoint that happens to run. Readers still on an older snapshot may keep it from finishing:
/// then the next checkpoint does it.
async fn forget_old_pages(db: &Db) {
    use sea_orm::{DbBackend, Statement};
    if db.conn.get_database_backend() != DbBackend::Sqlite {
        return;
    }
    let truncate = Statement::from_string(DbBackend::Sqlite, "PRAGMA wal_checkpoint(TRUNCATE)");
    if let Err(e) = db.conn.execute(truncate).await {
        tracing::warn!(error = %e, "the checkpoint after an erasure did not finish");
    }
}

/// Rewrites record `row`'s history without the values of `dropped` (those in `required` holding
/// the value given there) and stores it in place of every chunk of the old one, marked erased at
/// `now`; returns the number of changes before and after.
async fn rewrite_record(
    txn: &WriteTxn,
    cache: &docstore::DocCache,
    row: &document::Model,
    kind: &'static KindSchema,
    dropped: &[&'static str],
    required: &[(&'static str, &'static str)],
    now: i64,
) -> Result<(usize, usize), Error> {
    let changes: Vec<(Change, Option<i64>)> = received(&**txn, txn.vault(), row).await?;
    let before = changes.len();
    forbid(txn, row.id, changes.iter().map(|(c, _)| c.hash())).await?;
    // Each old actor becomes a server actor recorded for the same person and purpose.
    let authors = Authors::load(&**txn, changes.iter().map(|(c, _)| c.actor_id())).await?;
    let placeholders = required.to_vec();
    let times: Vec<Option<i64>> = changes.iter().map(|(_, t)| *t).collect();
    let dropped: BTreeSet<&'static str> = dropped.iter().copied().collect();
    let changes: Vec<Change> = changes.into_iter().map(|(c, _)| c).collect();
    // Replaying a long history is CPU work: off the runtime's threads, as a history's replay is.
    let (rewritten, actors) = tokio::task::spawn_blocking(move || {
        let mut actors: Vec<(ActorId, Uuid, String)> = Vec::new();
        let mut actor_for = |old: &ActorId| {
            let (user, purpose) = authors.author_of(old);
            let new = new_server_actor();
            actors.push((new.clone(), user.unwrap_or_else(Uuid::nil), purpose));
            new
        };
        rewrite::without_fields(changes, &dropped, &placeholders, &mut actor_for)
            .map(|rewritten| (rewritten, actors))
    })
    .await
    .map_err(|e| Error::Internal(format!("rewriting a history: {e}")))?
    .map_err(|e| Error::Conflict(format!("record {}'s history cannot be read: {e}", row.id)))?;
    for (actor, user, purpose) in &actors {
        record_server_actor(txn, actor, *user, purpose).await?;
    }
    let mut doc = rewritten.doc;
    let projection = record::project(&doc, kind)?;
    let data = doc.save();
    let heads = doc.get_heads();
    // The old chunks go first, so that the snapshot carries none of their receipts.
    let stmt = Query::delete()
        .from_table(Alias::new("doc_chunks"))
        .and_where(Expr::col(Alias::new("doc_id")).eq(row.id))
        .to_owned();
    txn.execute(stmt.build_with(&**txn)).await?;
    let rewritten_record = Write::replacing(row, kind, data, &heads, projection, None);
    write::store(txn, std::slice::from_ref(&rewritten_record)).await?;
    // Each new change is received when the change it stands for was.
    let mut receipts = Vec::with_capacity(rewritten.origins.len() * 40);
    for (hash, origin) in &rewritten.origins {
        receipts.extend_from_slice(&hash.0);
        receipts.extend_from_slice(&times[*origin].unwrap_or(row.created_at).to_be_bytes());
    }
    let stmt = Query::update()
        .table(Alias::new("doc_chunks"))
        .value(Alias::new("receipts"), receipts)
        .and_where(Expr::col(Alias::new("doc_id")).eq(row.id))
        .to_owned();
    txn.execute(stmt.build_with(&**txn)).await?;
    let stmt = Query::update()
        .table(Alias::new("documents"))
        .value(Alias::new("erased_at"), now)
        .and_where(Expr::col(Alias::new("id")).eq(row.id))
        .to_owned();
    txn.execute(stmt.build_with(&**txn)).await?;
    // This process's copy of the old history goes; another process's is never used again (its
    // heads are no longer the record's) and leaves its cache as others come in.
    cache.take(row.id, &[]);
    Ok((before, rewritten.origins.len()))
}

/// Records the hashes of the changes of record `id`'s old history, so that a device handing one of
/// them in again (its acknowledgement lost, or after a restore) is refused rather than merged.
async fn forbid(
    txn: &WriteTxn,
    id: Uuid,
    hashes: impl Iterator<Item = ChangeHash>,
) -> Result<(), Error> {
    let hashes: Vec<ChangeHash> = hashes.collect();
    // Two values per row; far under either database's bound on variables.
    for part in hashes.chunks(500) {
        let mut stmt = Query::insert()
            .into_table(Alias::new("erased_changes"))
            .columns(["doc_id", "hash"].map(Alias::new))
            .on_conflict(
                OnConflict::columns(["doc_id", "hash"].map(Alias::new))
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        for hash in part {
            stmt.values_panic([id.into(), hash.0.to_vec().into()]);
        }
        txn.execute(stmt.build_with(&**txn)).await?;
    }
    Ok(())
}

/// The conflict records raised about `fields` of record `id`.
async fn conflicts_about(
    conn: &impl ConnectionTrait,
    id: Uuid,
    fields: &[&str],
) -> Result<Vec<document::Model>, Error> {
    let stmt = Query::select()
        .column(Alias::new("id"))
        .from(Alias::new(CONFLICT.table))
        .and_where(Expr::col(Alias::new("record_id")).eq(id))
        .and_where(Expr::col(Alias::new("field")).is_in(fields.iter().copied()))
        .to_owned();
    let mut out = Vec::new();
    for r in conn.query_all(stmt.build_with(conn)).await? {
        out.extend(write::find_document(conn, r.try_get("", "id")?, true).await?);
    }
    Ok(out)
}
