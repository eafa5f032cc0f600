//! Every statement of a push: the reads a merge depends on (the documents' rows, parents, the device's
//! orphan changes), and the write of a batch: the merged documents' chunks, their rows, projections
//! and scope moves at the feed positions the batch was given, and what a push leaves besides records
//! (orphan changes, quarantine entries, the server's actors).
//!
//! `push` decides what to write; this module only reads and writes, with a few multi-row statements
//! for the whole batch. It is public so that its cost can be measured on its own
//! (`benches/batch_write.rs`).

use std::collections::HashMap;

use automerge::{AutoCommit, Change, ChangeHash};
use sea_orm::sea_query::{Alias, Expr, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use sha2::{Digest, Sha256};
use sync_core::protocol::{Hash, Reason};
use sync_core::record::{Listing, Projection};
use sync_core::KindSchema;
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::db::entities::{document, territory};
use crate::db::{now_ms, BuildWith, WriteTxn};
use crate::error::Error;
use crate::seal::{Sealed, Vault};
use crate::sync::projection;

/// What one document's push will write, once feed positions are known.
pub struct Write {
    pub id: Uuid,
    pub kind: &'static KindSchema,
    pub is_new: bool,
    pub territory_id: Option<Uuid>,
    /// The one user the record is kept to, for kinds kept to one person of the team.
    pub user_id: Option<Uuid>,
    pub parent_id: Option<Uuid>,
    pub owner_id: Uuid,
    pub heads: Vec<u8>,
    /// The chunk to append, or the whole compacted document when `snapshot` is set.
    pub data: Vec<u8>,
    pub snapshot: bool,
    pub chunk_count: i32,
    pub chunk_bytes: i64,
    pub created_at: i64,
    pub projection: Projection,
    /// The projection as devices list it, sent with the whole document.
    pub listing: Listing,
    /// Where the record was seen from, when the write moves it elsewhere.
    pub moved_from: Option<Place>,
    /// The merged document and its weight, to cache once the write commits; None if it is too
    /// heavy to keep (see `decide::KEEP_MERGED_UP_TO`).
    pub doc: Option<(AutoCommit, usize)>,
    /// The hashes (32 bytes each) of the changes this write brings, recorded in the chunk's row
    /// with the time the server received them (`receipts`), for the record's history.
    pub received: Vec<u8>,
    /// The root fields the push's changes wrote (`push::Written`, for the rules); not stored.
    pub fields_written: Vec<String>,
    /// Whether the record lacks a text or items of its kind (`push::Written`); not stored.
    pub lacks_objects: bool,
    /// The customer number the write takes (`Some(Some)`) or gives up (`Some(None)`), in
    /// `customer_codes`; None where it changes none (`decide::code_change`).
    pub code: Option<Option<String>>,
}

impl Write {
    /// The write of `data`, a whole document at `heads` projected as `projection`, over every
    /// chunk of the stored record `row`, in place: the record keeps where it is, who owns it and
    /// when it was made (a repair, an erasure). It brings no change a push made, so it fills no
    /// cache and feeds no rule.
    pub fn replacing(
        row: &document::Model,
        kind: &'static KindSchema,
        data: Vec<u8>,
        heads: &[automerge::ChangeHash],
        projection: Projection,
        code: Option<Option<String>>,
    ) -> Write {
        Write {
            id: row.id,
            kind,
            is_new: false,
            territory_id: row.territory_id,
            user_id: row.user_id,
            parent_id: row.parent_id,
            owner_id: row.owner_id,
            heads: crate::sync::docstore::pack_heads(heads),
            chunk_count: 1,
            chunk_bytes: data.len() as i64,
            data,
            snapshot: true,
            created_at: row.created_at,
            listing: Listing::of(&projection),
            projection,
            moved_from: None,
            doc: None,
            received: Vec::new(),
            fields_written: Vec::new(),
            lacks_objects: false,
            code,
        }
    }
}

/// Where a record is seen from: its territory and, for a record kept to one person of the team, that
/// user (see `Principal::visible`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Place {
    pub territory_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
}

/// Rows per multi-row statement: well under the bind-parameter limits of SQLite and PostgreSQL.
const ROWS_PER_STATEMENT: usize = 200;

/// Writes the merged documents, the i-th at feed position `first + i`, with a few multi-row
/// statements for the whole batch rather than several statements per document, and returns `first`.
///
/// The positions are allocated after everything that needs none (the projections, the old chunks of
/// compacted documents) and just before the statements that carry them: from allocation to commit,
/// readers cannot read past these positions (see `positions`), so that span is kept short.
pub async fn store(write: &WriteTxn, writes: &[Write]) -> Result<i64, Error> {
    let txn: &DatabaseTransaction = write;
    // Compaction: a snapshot replaces every chunk of its document and takes the newest position, so a
    // device that already read the old chunks is not sent the document again.
    let compacted: Vec<Uuid> = writes
        .iter()
        .filter(|w| w.snapshot && !w.is_new)
        .map(|w| w.id)
        .collect();
    // The snapshot carries the receipts of the chunks it replaces, oldest first.
    let mut carried = receipts_of(txn, &compacted).await?;
    if !compacted.is_empty() {
        let stmt = Query::delete()
            .from_table(Alias::new("doc_chunks"))
            .and_where(Expr::col(Alias::new("doc_id")).is_in(compacted))
            .to_owned();
        txn.execute(stmt.build_with(txn)).await?;
    }
    for part in writes.chunks(ROWS_PER_STATEMENT) {
        for kind in sync_core::kinds::ALL {
            let rows: Vec<(Uuid, &Projection)> = part
                .iter()
                .filter(|w| w.kind.name == kind.name)
                .map(|w| (w.id, &w.projection))
                .collect();
            projection::upsert_many(txn, write.vault(), kind, &rows).await?;
        }
    }
    hold_codes(txn, writes).await?;
    let first = write.allocate_seq(writes.len() as i64).await?;
    let seq = |i: usize| first + i as i64;
    let now = now_ms();
    // A document's position only grows, so that each of its chunks lies at or below it. Two pushes
    // creating one new record as two different kinds lock nothing in common before their positions
    // are allocated, and on PostgreSQL the one with the lower positions may commit second.
    let latest_seq = Expr::cust(match txn.get_database_backend() {
        DatabaseBackend::Sqlite => "max(\"documents\".\"seq\", \"excluded\".\"seq\")",
        _ => "GREATEST(\"documents\".\"seq\", \"excluded\".\"seq\")",
    });
    let vault = write.vault();
    let indexed: Vec<(usize, &Write)> = writes.iter().enumerate().collect();
    for part in indexed.chunks(ROWS_PER_STATEMENT) {
        let mut chunks = Query::insert()
            .into_table(Alias::new("doc_chunks"))
            .columns(["doc_id", "seq", "snapshot", "data", "receipts"].map(Alias::new))
            .to_owned();
        let mut docs = Query::insert()
            .into_table(document::Entity)
            .columns([
                document::Column::Id,
                document::Column::Kind,
                document::Column::TerritoryId,
                document::Column::UserId,
                document::Column::OwnerId,
                document::Column::ParentId,
                document::Column::Heads,
                document::Column::Seq,
                document::Column::ChunkCount,
                document::Column::ChunkBytes,
                document::Column::ListingFields,
                document::Column::ListingConflicts,
                document::Column::ListingDeleted,
                document::Column::CreatedAt,
                document::Column::UpdatedAt,
            ])
            .on_conflict(
                OnConflict::column(document::Column::Id)
                    .update_columns([
                        document::Column::TerritoryId,
                        document::Column::UserId,
                        document::Column::ParentId,
                        document::Column::Heads,
                        document::Column::ChunkCount,
                        document::Column::ChunkBytes,
                        document::Column::ListingFields,
                        document::Column::ListingConflicts,
                        document::Column::ListingDeleted,
                        document::Column::UpdatedAt,
                    ])
                    .value(document::Column::Seq, latest_seq.clone())
                    .to_owned(),
            )
            .to_owned();
        for (i, w) in part {
            let mut receipts = carried.remove(&w.id).unwrap_or_default();
            for hash in w.received.chunks_exact(32) {
                receipts.extend_from_slice(hash);
                receipts.extend_from_slice(&now.to_be_bytes());
            }
            chunks.values_panic([
                w.id.into(),
                seq(*i).into(),
                w.snapshot.into(),
                vault.seal(Sealed::Chunk(w.id), &w.data).into(),
                (!receipts.is_empty()).then_some(receipts).into(),
            ]);
            docs.values_panic([
                w.id.into(),
                w.kind.name.into(),
                w.territory_id.into(),
                w.user_id.into(),
                w.owner_id.into(),
                w.parent_id.into(),
                w.heads.clone().into(),
                seq(*i).into(),
                w.chunk_count.into(),
                w.chunk_bytes.into(),
                vault.seal_fields(w.kind, w.id, &w.listing.fields).into(),
                vault
                    .seal_conflicts(w.kind, w.id, &w.listing.conflicts)
                    .into(),
                w.listing.deleted.into(),
                w.created_at.into(),
                now.into(),
            ]);
        }
        txn.execute(chunks.build_with(txn)).await?;
        txn.execute(docs.build_with(txn)).await?;
    }
    for (i, w) in writes.iter().enumerate() {
        if let Some(from) = w.moved_from {
            let to = Place {
                territory_id: w.territory_id,
                user_id: w.user_id,
            };
            record_move(txn, w.id, from, to, seq(i)).await?;
        }
    }
    Ok(first)
}

/// The receipts of the chunks of `ids` (compacted now), each document's concatenated in feed
/// order.
async fn receipts_of(
    txn: &DatabaseTransaction,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<u8>>, Error> {
    let mut out: HashMap<Uuid, Vec<u8>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let stmt = Query::select()
        .columns(["doc_id", "receipts"].map(Alias::new))
        .from(Alias::new("doc_chunks"))
        .and_where(Expr::col(Alias::new("doc_id")).is_in(ids.iter().copied()))
        .order_by(Alias::new("doc_id"), sea_orm::sea_query::Order::Asc)
        .order_by(Alias::new("seq"), sea_orm::sea_query::Order::Asc)
        .to_owned();
    for row in txn.query_all(stmt.build_with(txn)).await? {
        if let Some(receipts) = row.try_get::<Option<Vec<u8>>>("", "receipts")? {
            out.entry(row.try_get("", "doc_id")?)
                .or_default()
                .extend(receipts);
        }
    }
    Ok(out)
}

/// Records that document `id` moved from `from` to `to` (another territory, or another user) at feed
/// position `seq`, and moves with it every record scoped through it, at any depth (a contact through
/// its customer, a record through a parent that is itself a child): devices pulling past `seq` evict
/// them all where they can no longer see them and receive them whole where they now can. No kind is
/// scoped through a record kept to one user, so the records scoped through one take its territory
/// alone.
pub async fn record_move(
    conn: &impl ConnectionTrait,
    id: Uuid,
    from: Place,
    to: Place,
    seq: i64,
) -> Result<(), Error> {
    let mut moved = vec![id];
    let descendants = match from.territory_id == to.territory_id {
        true => Vec::new(),
        false => descendants(conn, id).await?,
    };
    for part in descendants.chunks(ROWS_PER_STATEMENT) {
        document::Entity::update_many()
            .col_expr(document::Column::TerritoryId, Expr::value(to.territory_id))
            .filter(document::Column::Id.is_in(part.iter().copied()))
            .exec(conn)
            .await?;
    }
    moved.extend(descendants);
    let columns = [
        "seq",
        "doc_id",
        "from_territory",
        "to_territory",
        "from_user",
        "to_user",
    ];
    for part in moved.chunks(ROWS_PER_STATEMENT) {
        let mut stmt = Query::insert()
            .into_table(Alias::new("scope_moves"))
            .columns(columns.map(Alias::new))
            .to_owned();
        for doc in part {
            // A descendant was kept to no user.
            let users = match *doc == id {
                true => (from.user_id, to.user_id),
                false => (None, None),
            };
            stmt.values_panic([
                seq.into(),
                (*doc).into(),
                from.territory_id.into(),
                to.territory_id.into(),
                users.0.into(),
                users.1.into(),
            ]);
        }
        conn.execute(stmt.build_with(conn)).await?;
    }
    Ok(())
}

/// Every record scoped through `id`: its children, their children, and so on, in one recursive
/// statement (`UNION` rather than `UNION ALL`, so that even a cycle of parents, which a push cannot
/// make, would end).
async fn descendants(conn: &impl ConnectionTrait, id: Uuid) -> Result<Vec<Uuid>, Error> {
    let placeholder = match conn.get_database_backend() {
        DatabaseBackend::Postgres => "$1",
        _ => "?",
    };
    let sql = format!(
        "WITH RECURSIVE tree(id) AS ( \
           SELECT id FROM documents WHERE parent_id = {placeholder} \
           UNION SELECT d.id FROM documents d JOIN tree ON d.parent_id = tree.id) \
         SELECT id FROM tree"
    );
    let stmt = Statement::from_sql_and_values(conn.get_database_backend(), sql, [id.into()]);
    conn.query_all(stmt)
        .await?
        .iter()
        .map(|r| Ok(r.try_get("", "id")?))
        .collect()
}

/// The documents' rows of `ids` (sorted), by id. With `lock`, locked in id order, so that two
/// transactions locking overlapping sets cannot deadlock.
pub async fn rows_by_id(
    conn: &impl ConnectionTrait,
    ids: &[Uuid],
    lock: bool,
) -> Result<HashMap<Uuid, document::Model>, Error> {
    let mut rows = document::Entity::find()
        .filter(document::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(document::Column::Id);
    if lock {
        rows = rows.lock_exclusive();
    }
    Ok(rows
        .all(conn)
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect())
}

/// How many of `hashes` are changes of a history of record `id` that an erasure replaced
/// (`crm::erasure`).
pub async fn erased_changes(
    conn: &impl ConnectionTrait,
    id: Uuid,
    hashes: &[ChangeHash],
) -> Result<usize, Error> {
    let stmt = Query::select()
        .expr(Expr::col(Alias::new("hash")).count())
        .from(Alias::new("erased_changes"))
        .and_where(Expr::col(Alias::new("doc_id")).eq(id))
        .and_where(Expr::col(Alias::new("hash")).is_in(hashes.iter().map(|h| h.0.to_vec())))
        .to_owned();
    let row = conn.query_one(stmt.build_with(conn)).await?;
    Ok(row.map_or(Ok(0), |r| r.try_get_by_index::<i64>(0))? as usize)
}

/// The stored orphan changes of these documents pushed by this device, by document.
pub async fn load_orphans(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    doc_ids: &[Uuid],
    device_id: Uuid,
) -> Result<HashMap<Uuid, Vec<Change>>, Error> {
    let stmt = Query::select()
        .columns([Alias::new("doc_id"), Alias::new("data")])
        .from(Alias::new("orphan_changes"))
        .and_where(Expr::col(Alias::new("doc_id")).is_in(doc_ids.iter().copied()))
        .and_where(Expr::col(Alias::new("device_id")).eq(device_id))
        .to_owned();
    let mut out: HashMap<Uuid, Vec<Change>> = HashMap::new();
    for row in conn.query_all(stmt.build_with(conn)).await? {
        let doc_id: Uuid = row.try_get("", "doc_id")?;
        let mut data: Vec<u8> = row.try_get("", "data")?;
        vault.open_in_place(Sealed::Chunk(doc_id), &mut data)?;
        let change = Change::from_bytes(data)
            .map_err(|e| Error::Storage(format!("stored orphan change: {e}")))?;
        out.entry(doc_id).or_default().push(change);
    }
    Ok(out)
}

/// Records which person a server author's actor acted for, so that a record's history shows a person.
pub async fn record_server_actor(
    txn: &DatabaseTransaction,
    actor: &automerge::ActorId,
    user_id: Uuid,
    purpose: &str,
) -> Result<(), Error> {
    let stmt = Query::insert()
        .into_table(Alias::new("server_actors"))
        .columns(["actor", "user_id", "purpose", "created_at"].map(Alias::new))
        .values_panic([
            actor.to_bytes().to_vec().into(),
            user_id.into(),
            purpose.into(),
            now_ms().into(),
        ])
        // One author may write in several batches (the demo seed's records, 200 at a time).
        .on_conflict(
            OnConflict::column(Alias::new("actor"))
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    txn.execute(stmt.build_with(txn)).await?;
    Ok(())
}

pub async fn store_extras(
    txn: &DatabaseTransaction,
    vault: &Vault,
    who: &Principal,
    mut extras: Extras,
) -> Result<Vec<(Uuid, Reason)>, Error> {
    for doc_id in &extras.cleared_orphans {
        let stmt = Query::delete()
            .from_table(Alias::new("orphan_changes"))
            .and_where(Expr::col(Alias::new("doc_id")).eq(*doc_id))
            .and_where(Expr::col(Alias::new("device_id")).eq(who.device_id))
            .to_owned();
        txn.execute(stmt.build_with(txn)).await?;
    }
    let refused = cap_backlog(txn, who.device_id, &mut extras).await?;
    let now = now_ms();
    for (doc_id, hash, data) in extras.orphans {
        let stmt = Query::insert()
            .into_table(Alias::new("orphan_changes"))
            .columns(["doc_id", "device_id", "hash", "data", "received_at"].map(Alias::new))
            .values_panic([
                doc_id.into(),
                who.device_id.into(),
                hash.0.to_vec().into(),
                vault.seal(Sealed::Chunk(doc_id), &data).into(),
                now.into(),
            ])
            .on_conflict(
                OnConflict::columns(["doc_id", "device_id", "hash"].map(Alias::new))
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        txn.execute(stmt.build_with(txn)).await?;
    }
    for q in extras.quarantine {
        let stmt = Query::insert()
            .into_table(Alias::new("quarantine"))
            .columns(
                [
                    "id",
                    "doc_id",
                    "kind",
                    "device_id",
                    "user_id",
                    "changes_hash",
                    "changes",
                    "reason",
                    "status",
                    "created_at",
                ]
                .map(Alias::new),
            )
            .values_panic([
                Uuid::now_v7().into(),
                q.doc_id.into(),
                q.kind.into(),
                who.device_id.into(),
                who.user_id.into(),
                q.changes_hash.into(),
                vault.seal(Sealed::Chunk(q.doc_id), &q.changes).into(),
                q.reason.into(),
                "pending".into(),
                now.into(),
            ])
            .on_conflict(
                OnConflict::columns(["doc_id", "device_id", "changes_hash"].map(Alias::new))
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        txn.execute(stmt.build_with(txn)).await?;
    }
    Ok(refused)
}

/// What one device may keep waiting on the server: changes whose dependencies never arrived, and
/// edits held for a manager. Both are invisible to the device's user until resolved, so without a
/// bound one device could fill the database.
pub const MAX_DEVICE_ORPHANS: i64 = 1_000;
pub const MAX_DEVICE_ORPHAN_BYTES: i64 = 8 << 20;
pub const MAX_DEVICE_QUARANTINED: i64 = 100;
pub const MAX_DEVICE_QUARANTINED_BYTES: i64 = 16 << 20;

/// Drops from `extras` the documents whose orphans or quarantine entry would take the device past
/// its bounds, and says why for each.
async fn cap_backlog(
    txn: &DatabaseTransaction,
    device_id: Uuid,
    extras: &mut Extras,
) -> Result<Vec<(Uuid, Reason)>, Error> {
    let mut refused = Vec::new();
    if !extras.orphans.is_empty() {
        let (mut count, mut bytes) =
            backlog(txn, "orphan_changes", "data", device_id, None).await?;
        let mut per_doc: Vec<(Uuid, i64, i64)> = Vec::new();
        for (doc_id, _, data) in &extras.orphans {
            match per_doc.iter_mut().find(|(id, _, _)| id == doc_id) {
                Some(entry) => {
                    entry.1 += 1;
                    entry.2 += data.len() as i64;
                }
                None => per_doc.push((*doc_id, 1, data.len() as i64)),
            }
        }
        for (doc_id, n, size) in per_doc {
            if count + n > MAX_DEVICE_ORPHANS || bytes + size > MAX_DEVICE_ORPHAN_BYTES {
                refused.push((doc_id, Reason {
                    code: "too_many_orphans".into(),
                    message: format!("this device already has {count} changes ({bytes} bytes) waiting for changes the server never received; the limit is {MAX_DEVICE_ORPHANS} changes and {MAX_DEVICE_ORPHAN_BYTES} bytes"),
                    field: None,
                }));
                extras.orphans.retain(|(id, _, _)| *id != doc_id);
            } else {
                count += n;
                bytes += size;
            }
        }
    }
    if !extras.quarantine.is_empty() {
        let (mut count, mut bytes) =
            backlog(txn, "quarantine", "changes", device_id, Some("pending")).await?;
        extras.quarantine.retain(|q| {
            let size = q.changes.len() as i64;
            if count + 1 > MAX_DEVICE_QUARANTINED || bytes + size > MAX_DEVICE_QUARANTINED_BYTES {
                refused.push((q.doc_id, Reason {
                    code: "quarantine_full".into(),
                    message: format!("this device already has {count} edits ({bytes} bytes) waiting for a manager; the limit is {MAX_DEVICE_QUARANTINED} edits and {MAX_DEVICE_QUARANTINED_BYTES} bytes"),
                    field: None,
                }));
                false
            } else {
                count += 1;
                bytes += size;
                true
            }
        });
    }
    Ok(refused)
}

/// How many rows of `table` the device has, and the bytes of their `column`.
async fn backlog(
    txn: &DatabaseTransaction,
    table: &str,
    column: &str,
    device_id: Uuid,
    status: Option<&str>,
) -> Result<(i64, i64), Error> {
    let mut stmt = Query::select()
        .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
        .expr_as(
            Expr::cust(format!("COALESCE(SUM(LENGTH(\"{column}\")), 0)")),
            Alias::new("bytes"),
        )
        .from(Alias::new(table))
        .and_where(Expr::col(Alias::new("device_id")).eq(device_id))
        .to_owned();
    if let Some(status) = status {
        stmt.and_where(Expr::col(Alias::new("status")).eq(status));
    }
    let row = txn
        .query_one(stmt.build_with(txn))
        .await?
        .ok_or_else(|| Error::Storage("an aggregate returned no row".into()))?;
    Ok((row.try_get("", "n")?, row.try_get("", "bytes")?))
}

/// Side effects that are not a document write.
#[derive(Default)]
pub struct Extras {
    pub orphans: Vec<(Uuid, Hash, Vec<u8>)>,
    pub cleared_orphans: Vec<Uuid>,
    pub quarantine: Vec<QuarantineEntry>,
}

pub struct QuarantineEntry {
    pub doc_id: Uuid,
    pub kind: String,
    pub changes_hash: Vec<u8>,
    pub changes: Vec<u8>,
    /// Why the changes wait for a manager, shown with the entry.
    pub reason: String,
}

impl QuarantineEntry {
    /// The entry of a device's `changes` of a record of `kind`. It is keyed by a hash of the
    /// changes' sorted hashes, so a device handing in the same changes again makes no second entry.
    pub fn new(doc_id: Uuid, kind: &str, changes: &[Change], reason: String) -> QuarantineEntry {
        let mut hashes: Vec<Hash> = changes.iter().map(|c| Hash::from(c.hash())).collect();
        hashes.sort_unstable();
        let raw: Vec<serde_bytes::ByteBuf> = changes
            .iter()
            .map(|c| serde_bytes::ByteBuf::from(c.raw_bytes().to_vec()))
            .collect();
        QuarantineEntry {
            doc_id,
            kind: kind.to_string(),
            changes_hash: Sha256::digest(hashes.iter().flat_map(|h| h.0).collect::<Vec<u8>>())
                .to_vec(),
            changes: sync_core::protocol::encode(&raw),
            reason,
        }
    }
}

/// One document row, locked with `lock` (inside a write transaction).
pub async fn find_document(
    conn: &impl ConnectionTrait,
    id: Uuid,
    lock: bool,
) -> Result<Option<document::Model>, Error> {
    let mut find = document::Entity::find_by_id(id);
    if lock {
        find = find.lock_exclusive();
    }
    Ok(find.one(conn).await?)
}

/// The company's settings as a push reads them: its one settings record and the currency it names.
#[derive(Debug, Clone, PartialEq)]
pub struct CompanySettings {
    pub id: Uuid,
    pub currency: Option<String>,
}

/// The company's settings record: the oldest one not deleted (a second one is refused, but two
/// processes may each have taken one in before either saw the other's).
pub async fn company_settings(
    conn: &impl ConnectionTrait,
) -> Result<Option<CompanySettings>, Error> {
    let deleted = Alias::new("deleted");
    let stmt = Query::select()
        .columns([Alias::new("id"), Alias::new("currency")])
        .from(Alias::new(sync_core::kinds::SETTINGS.table))
        .cond_where(
            Expr::col(deleted.clone())
                .is_null()
                .or(Expr::col(deleted).eq(false)),
        )
        .order_by(Alias::new("id"), sea_orm::Order::Asc)
        .limit(1)
        .to_owned();
    let Some(row) = conn.query_one(stmt.build_with(conn)).await? else {
        return Ok(None);
    };
    Ok(Some(CompanySettings {
        id: row.try_get("", "id")?,
        currency: row.try_get("", "currency")?,
    }))
}

/// Whether a customer other than `id` holds the customer number `code`.
pub async fn code_taken(conn: &impl ConnectionTrait, id: Uuid, code: &str) -> Result<bool, Error> {
    let stmt = Query::select()
        .column(Alias::new("customer_id"))
        .from(Alias::new(CODES))
        .and_where(Expr::col(Alias::new("code")).eq(code))
        .and_where(Expr::col(Alias::new("customer_id")).ne(id))
        .to_owned();
    Ok(conn.query_one(stmt.build_with(conn)).await?.is_some())
}

/// Which customer holds each customer number.
const CODES: &str = "customer_codes";

/// Records the customer numbers the batch's customers give up and take. A number another push took
/// since this one's merge checked it (on another process, or while this push merged outside the
/// write transaction) breaks the table's primary key: the write is then retried, merging inside
/// the transaction, where `code_taken` sees it and refuses that one record.
async fn hold_codes(txn: &DatabaseTransaction, writes: &[Write]) -> Result<(), Error> {
    let changed: Vec<(Uuid, Option<&str>)> = writes
        .iter()
        .filter_map(|w| Some((w.id, w.code.as_ref()?.as_deref())))
        .collect();
    // Every number given up first, so that one taken in the same batch finds it free.
    for part in changed.chunks(ROWS_PER_STATEMENT) {
        let release = Query::delete()
            .from_table(Alias::new(CODES))
            .and_where(Expr::col(Alias::new("customer_id")).is_in(part.iter().map(|(id, _)| *id)))
            .to_owned();
        txn.execute(release.build_with(txn)).await?;
    }
    let taken: Vec<(Uuid, &str)> = changed
        .iter()
        .filter_map(|(id, code)| Some((*id, (*code)?)))
        .collect();
    for part in taken.chunks(ROWS_PER_STATEMENT) {
        let mut take = Query::insert()
            .into_table(Alias::new(CODES))
            .columns([Alias::new("code"), Alias::new("customer_id")])
            .to_owned();
        for (id, code) in part {
            take.values_panic([(*code).into(), (*id).into()]);
        }
        txn.execute(take.build_with(txn)).await?;
    }
    Ok(())
}

/// Territories by name.
pub async fn territories_by_name(
    conn: &impl ConnectionTrait,
) -> Result<HashMap<String, Uuid>, Error> {
    Ok(territory::Entity::find()
        .all(conn)
        .await?
        .into_iter()
        .map(|t| (t.name, t.id))
        .collect())
}
