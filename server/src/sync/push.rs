//! The push path: every write to a record document goes through here.
//!
//! For each pushed document the server checks that every change new to it was made by the pushing
//! device's actor, that the user may write the document and every field the changes touch, applies the
//! changes, validates the merged document against its kind, and then stores the change chunk, the
//! projection row, the heads and the feed position in the one transaction of the batch. A document that
//! fails any check is rejected as a whole and changes nothing; the rest of the batch goes on.
//!
//! On SQLite a batch is merged first outside any transaction ([`stage`]), then written in one
//! ([`Staged::commit`]): the write transaction reads again what the merge depended on (the
//! documents' rows, the territories, the device's orphan changes, the parents) and writes the merge
//! only if all of it is unchanged, and otherwise merges again inside the transaction. The result is
//! what merging inside the transaction would have given, but SQLite's one writer waits only for
//! other pushes' writes, not for their merges.
//!
//! **Architecture invariant:** no other code writes `doc_chunks`, `documents` or a projection table
//! (`write` holds the statements; only this module calls it), except `upgrade`, which derives
//! projections again from the stored documents once, at start-up, and writes no chunk.

use std::collections::{HashMap, HashSet};

use automerge::{AutoCommit, Change, ChangeHash};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use sync_core::protocol::{
    DocPush, DocResult, Hash, Limits, PushRequest, PushResponse, PushStatus, Reason,
};
use sync_core::record::{self, Listing, Projection};
use sync_core::{inspect, kinds, KindSchema, Scope};
use tokio::sync::OwnedSemaphorePermit;
use uuid::Uuid;

use crate::db::entities::document;
use crate::db::{now_ms, retry_after, WriteTxn};
use crate::error::Error;
use crate::sync::author::Author;
use crate::sync::checkpoint;
use crate::sync::docstore::{self, pack_heads, unpack_heads};
use crate::sync::engine::SyncEngine;
use crate::sync::quarantine;
use crate::sync::write::{
    find_document, load_orphans, record_server_actor, rows_by_id, store, store_extras,
    territories_by_name, Extras, QuarantineEntry, Write,
};

/// A document is compacted into one snapshot once it is spread over more chunks than this: a compacted
/// document loads several times faster than one made of many small chunks.
pub const COMPACT_AFTER_CHUNKS: i32 = 10;

/// The heaviest merged document a batch keeps until it is written, to cache it then (see
/// `docstore::weight`). Changes just applied cost about 300 bytes per op, so a batch of records
/// with long texts would otherwise hold gigabytes until it commits; a heavier document is dropped
/// as soon as it is merged, and loaded again, compact, when next needed.
pub const KEEP_MERGED_UP_TO: usize = 1 << 20;

/// The most a batch keeps of merged documents, all together, until it is written: a thousand
/// records just under `KEEP_MERGED_UP_TO` would otherwise hold a gigabyte. The documents merged
/// after it is spent are dropped like heavy ones.
pub const KEEP_MERGED_PER_BATCH: usize = 16 << 20;

/// A pushed document after its bytes were parsed, before any database work.
struct Prepared {
    id: Uuid,
    /// Record ids are UUID v7, made on the device: unique without coordination, and ordered by time.
    id_ok: bool,
    kind: Result<&'static KindSchema, Reason>,
    changes: Result<Vec<Change>, Reason>,
    base_heads: Vec<Hash>,
}

/// The outcome of a committed batch: the answer, the documents to cache, and the highest feed
/// position it wrote (0 if none).
struct Batch {
    results: Vec<DocResult>,
    cached: Vec<(Uuid, Vec<u8>, AutoCommit, usize)>,
    seq: i64,
}

/// Applies a push by `author` and answers with one result per document, in request order.
pub async fn push(
    engine: &SyncEngine,
    author: &Author,
    request: PushRequest,
) -> Result<PushResponse, Error> {
    stage(engine, author, request).await?.commit(engine).await
}

/// A push checked and parsed and, where the database has one writer, merged; not yet written.
pub struct Staged<'a> {
    author: &'a Author,
    /// The documents' ids in request order, for the answer.
    order: Vec<Uuid>,
    /// Sorted: the order in which rows are locked.
    ids: Vec<Uuid>,
    docs: Vec<Prepared>,
    /// What a merge ahead read, and what it decided; None if there was none, or once used.
    ahead: Option<(Inputs, Merge)>,
    /// Held from the merge ahead until the write: see `SyncEngine::merge_slots`.
    _slot: Option<OwnedSemaphorePermit>,
}

/// The first step of a push: checks the request and, on SQLite (see [`Db::merges_ahead`]), merges
/// every document outside any write transaction, so that pushes merge in parallel although SQLite
/// has one writer. Nothing is written; [`Staged::commit`] writes it.
///
/// [`Db::merges_ahead`]: crate::db::Db::merges_ahead
pub async fn stage<'a>(
    engine: &SyncEngine,
    author: &'a Author,
    request: PushRequest,
) -> Result<Staged<'a>, Error> {
    request.check(&engine.limits)?;
    if let Some(device) = author.device() {
        checkpoint::check(device, request.checkpoint)?;
    }
    let mut seen = HashSet::new();
    if let Some(dup) = request.docs.iter().find(|d| !seen.insert(d.id)) {
        return Err(Error::bad_request(
            "duplicate_document",
            format!("document {} appears twice in one push", dup.id),
        ));
    }
    let mut inflated = 0;
    let mut docs: Vec<Prepared> = Vec::with_capacity(request.docs.len());
    for doc in request.docs {
        docs.push(prepare(doc, &engine.limits, &mut inflated)?);
    }
    // Records come after the records they are scoped through, at any depth, so a contact may be
    // pushed in the same batch as the customer it belongs to.
    let order: Vec<Uuid> = docs.iter().map(|p| p.id).collect();
    docs.sort_by_key(|p| p.kind.as_ref().map_or(0, |k| kinds::scope_depth(k)));
    let mut ids = order.clone();
    ids.sort_unstable();
    let (ahead, slot) = if engine.db.merges_ahead() {
        let slot = engine
            .merge_slots
            .clone()
            .acquire_owned()
            .await
            .expect("the merge slots are never closed");
        let conn = &engine.db.conn;
        let inputs = Inputs::read(conn, &ids, author, false).await?;
        let merge = merge_docs(conn, false, engine, author, &docs, &inputs).await?;
        (Some((inputs, merge)), Some(slot))
    } else {
        (None, None)
    };
    Ok(Staged {
        author,
        order,
        ids,
        docs,
        ahead,
        _slot: slot,
    })
}

impl Staged<'_> {
    /// The second step of a push: writes the merge in one transaction if nothing it read has changed
    /// since (the common case: devices mostly push records nobody else is pushing at that moment);
    /// otherwise merges again inside the transaction, where nothing can change under it.
    pub async fn commit(mut self, engine: &SyncEngine) -> Result<PushResponse, Error> {
        let mut attempt = 0;
        let batch = loop {
            attempt += 1;
            let txn = engine.db.begin_write().await?;
            let result = match self.write(&txn, engine).await {
                Ok(batch) => txn.commit().await.map(|()| batch),
                Err(e) => {
                    // Roll back (and release SQLite's write lock) before waiting to retry.
                    drop(txn);
                    Err(e)
                }
            };
            match result {
                Err(e) if retry_after(&e, attempt).await => continue,
                other => break other?,
            }
        };
        for (id, heads, doc, weight) in batch.cached {
            engine.cache.put(id, heads, doc, weight);
        }
        let mut by_id: HashMap<Uuid, DocResult> =
            batch.results.into_iter().map(|r| (r.id, r)).collect();
        let results = self
            .order
            .iter()
            .filter_map(|id| by_id.remove(id))
            .collect();
        Ok(PushResponse {
            results,
            seq: batch.seq,
        })
    }

    async fn write(&mut self, write: &WriteTxn, engine: &SyncEngine) -> Result<Batch, Error> {
        let txn: &DatabaseTransaction = write;
        let inputs = Inputs::read(txn, &self.ids, self.author, true).await?;
        let merge = match self.ahead.take() {
            Some((read, merge))
                if read.same_as(&inputs) && merge.parents_unchanged(txn).await? =>
            {
                merge
            }
            ahead => {
                if ahead.is_some() {
                    engine.merged_again.inc();
                }
                merge_docs(txn, true, engine, self.author, &self.docs, &inputs).await?
            }
        };
        store_merge(write, self.author, merge).await
    }
}

/// Everything of the database a merge depends on besides the documents' contents, which follow
/// their rows (every write of a document's chunks also writes its row's heads).
struct Inputs {
    rows: HashMap<Uuid, document::Model>,
    territories: HashMap<String, Uuid>,
    /// This device's stored orphan changes of the batch's documents.
    orphans: HashMap<Uuid, Vec<Change>>,
}

impl Inputs {
    /// With `lock`, the documents' rows are locked in id order, so two pushes of overlapping batches
    /// cannot deadlock and no two processes write the same document at once.
    async fn read(
        conn: &impl ConnectionTrait,
        ids: &[Uuid],
        author: &Author,
        lock: bool,
    ) -> Result<Inputs, Error> {
        Ok(Inputs {
            rows: rows_by_id(conn, ids, lock).await?,
            territories: territories_by_name(conn).await?,
            orphans: match author.device() {
                Some(device) => load_orphans(conn, ids, device.device_id).await?,
                None => HashMap::new(),
            },
        })
    }

    fn same_as(&self, now: &Inputs) -> bool {
        let orphans = |i: &Inputs| -> HashSet<(Uuid, ChangeHash)> {
            i.orphans
                .iter()
                .flat_map(|(id, changes)| changes.iter().map(|c| (*id, c.hash())))
                .collect()
        };
        self.rows == now.rows
            && self.territories == now.territories
            && orphans(self) == orphans(now)
    }
}

/// What merging a batch decided, before anything is written.
struct Merge {
    /// Documents that need no write: already known, refused, waiting for dependencies, quarantined.
    results: Vec<DocResult>,
    writes: Vec<Write>,
    extras: Extras,
    /// The parent records the merge read, as it read them.
    parents: HashMap<Uuid, Option<document::Model>>,
}

impl Merge {
    /// Whether the parents the merge read are still as they were; locks them.
    async fn parents_unchanged(&self, txn: &DatabaseTransaction) -> Result<bool, Error> {
        if self.parents.is_empty() {
            return Ok(true);
        }
        let mut ids: Vec<Uuid> = self.parents.keys().copied().collect();
        ids.sort_unstable();
        let now = rows_by_id(txn, &ids, true).await?;
        Ok(self
            .parents
            .iter()
            .all(|(id, read)| read.as_ref() == now.get(id)))
    }
}

/// Parses a pushed document's changes. `inflated` counts the bytes the push's changes have inflated
/// to so far: past `Limits::max_push_inflated_bytes` the whole push is refused, before the next
/// change is inflated.
fn prepare(doc: DocPush, limits: &Limits, inflated: &mut usize) -> Result<Prepared, Error> {
    let kind = kinds::get(&doc.kind).map_err(|e| reason(&e));
    let mut changes = Vec::with_capacity(doc.changes.len());
    let mut refused = None;
    let mut ops = 0;
    for bytes in doc.changes {
        let change = match sync_core::change::parse(bytes.into_vec(), limits.max_change_bytes) {
            Ok(change) => change,
            Err(e) => {
                refused = Some(reason(&e));
                break;
            }
        };
        *inflated += change.raw_bytes().len();
        if *inflated > limits.max_push_inflated_bytes {
            return Err(sync_core::Error::TooLarge {
                what: "the changes of one push, inflated",
                actual: *inflated,
                limit: limits.max_push_inflated_bytes,
            }
            .into());
        }
        ops += change.len();
        let checked = sync_core::change::check_ops(&change, limits.max_ops_per_change)
            .and_then(|()| sync_core::change::check_record_ops(ops, limits.max_ops_per_doc));
        if let Err(e) = checked {
            refused = Some(reason(&e));
            break;
        }
        changes.push(change);
    }
    Ok(Prepared {
        id: doc.id,
        id_ok: doc.id.get_version_num() == 7,
        kind,
        changes: refused.map_or(Ok(changes), Err),
        base_heads: doc.base_heads,
    })
}

fn reason(e: &sync_core::Error) -> Reason {
    Reason {
        code: e.code().to_string(),
        message: e.to_string(),
        field: e.field().map(str::to_string),
    }
}

fn refusal(code: &str, message: impl Into<String>) -> Reason {
    Reason {
        code: code.to_string(),
        message: message.into(),
        field: None,
    }
}

/// The result of one document before the batch commits.
enum Outcome {
    Done(DocResult),
    Write(Box<Write>),
}

/// Merges every document of a batch into what `conn` reads, writing nothing. With `lock`, the
/// parents it reads are locked (inside a write transaction).
async fn merge_docs(
    conn: &impl ConnectionTrait,
    lock: bool,
    engine: &SyncEngine,
    author: &Author,
    docs: &[Prepared],
    inputs: &Inputs,
) -> Result<Merge, Error> {
    let mut pending: HashMap<Uuid, (&'static str, Option<Uuid>)> = HashMap::new();
    let mut kept = 0;
    let mut merge = Merge {
        results: Vec::new(),
        writes: Vec::new(),
        extras: Extras::default(),
        parents: HashMap::new(),
    };
    for doc in docs {
        let mut ctx = DocContext {
            conn,
            lock,
            engine,
            author,
            territories: &inputs.territories,
            pending: &pending,
            orphans: &inputs.orphans,
            parents: &mut merge.parents,
        };
        match merge_one(&mut ctx, doc, inputs.rows.get(&doc.id), &mut merge.extras).await? {
            Outcome::Done(result) => merge.results.push(result),
            Outcome::Write(mut write) => {
                if let Some((_, weight)) = &write.doc {
                    kept += weight;
                    if kept > KEEP_MERGED_PER_BATCH {
                        write.doc = None;
                    }
                }
                pending.insert(write.id, (write.kind.name, write.territory_id));
                merge.writes.push(*write);
            }
        }
        // A document's merge is CPU work with no await in it, and a batch holds up to
        // `Limits::max_docs` of them (the SDK sends 200).
        // Run back to back they keep a worker thread from the tasks waiting on the database, among
        // them pushes about to commit, whose reserved feed positions hold every reader back.
        tokio::task::yield_now().await;
    }
    Ok(merge)
}

/// Writes a merged batch.
async fn store_merge(txn: &WriteTxn, author: &Author, merge: Merge) -> Result<Batch, Error> {
    let Merge {
        mut results,
        writes,
        extras,
        ..
    } = merge;
    let mut cached = Vec::new();
    let mut seq = 0;
    // What needs no feed position is written first: `store` allocates positions last, since readers
    // cannot read past them until the transaction commits.
    if let Some(device) = author.device() {
        for (id, why) in store_extras(txn, device, extras).await? {
            if let Some(result) = results.iter_mut().find(|r| r.id == id) {
                result.status = PushStatus::Rejected;
                result.reason = Some(why);
                result.missing.clear();
            }
        }
    }
    if !writes.is_empty() {
        let first = store(txn, &writes).await?;
        seq = first + writes.len() as i64 - 1;
        for write in writes {
            results.push(DocResult {
                id: write.id,
                status: PushStatus::Applied,
                heads: unpack_heads(&write.heads),
                reason: None,
                missing: vec![],
            });
            if let Some((doc, weight)) = write.doc {
                cached.push((write.id, write.heads, doc, weight));
            }
        }
    }
    match author {
        // In the batch's transaction: an acknowledged push and the device's checkpoint are durable
        // together.
        Author::Device(device) => checkpoint::record(&**txn, device.device_id, seq).await?,
        Author::Server {
            rights,
            actor,
            purpose,
        } if !cached.is_empty() => record_server_actor(txn, actor, rights.user_id, purpose).await?,
        Author::Approved { rights, entry, .. } => {
            let merged = results
                .iter()
                .all(|r| matches!(r.status, PushStatus::Applied | PushStatus::AlreadyKnown));
            if merged {
                quarantine::decide(&**txn, *entry, rights.user_id, "accepted").await?;
            }
        }
        Author::Server { .. } => {}
    }
    Ok(Batch {
        results,
        cached,
        seq,
    })
}

struct DocContext<'a, C> {
    conn: &'a C,
    /// Whether to lock the parents read (inside a write transaction).
    lock: bool,
    engine: &'a SyncEngine,
    author: &'a Author,
    territories: &'a HashMap<String, Uuid>,
    /// Documents written earlier in this batch: kind and territory.
    pending: &'a HashMap<Uuid, (&'static str, Option<Uuid>)>,
    /// This device's stored orphan changes of the batch's documents.
    orphans: &'a HashMap<Uuid, Vec<Change>>,
    /// The parents read so far, as read.
    parents: &'a mut HashMap<Uuid, Option<document::Model>>,
}

async fn merge_one<C: ConnectionTrait>(
    ctx: &mut DocContext<'_, C>,
    doc: &Prepared,
    row: Option<&document::Model>,
    extras: &mut Extras,
) -> Result<Outcome, Error> {
    // A record the user may not access is answered the same way whatever it holds: no heads, no
    // kind, no "already known", so a device learns nothing of records outside its scope.
    let accessible = row.is_none_or(|r| {
        ctx.author
            .rights()
            .can_see(&r.kind, r.territory_id, r.owner_id)
    });
    let server_heads = row
        .filter(|_| accessible)
        .map(|r| unpack_heads(&r.heads))
        .unwrap_or_default();
    let done = |status, reason: Option<Reason>| {
        Ok(Outcome::Done(DocResult {
            id: doc.id,
            status,
            heads: server_heads.clone(),
            reason,
            missing: vec![],
        }))
    };
    if !doc.id_ok {
        return done(
            PushStatus::Rejected,
            Some(refusal(
                "invalid_id",
                format!("{} is not a UUID v7", doc.id),
            )),
        );
    }
    let kind = match &doc.kind {
        Ok(kind) => *kind,
        Err(r) => return done(PushStatus::Rejected, Some(r.clone())),
    };
    let changes = match &doc.changes {
        Ok(changes) => changes,
        Err(r) => return done(PushStatus::Rejected, Some(r.clone())),
    };
    let (mut am, mut weight) = match row {
        Some(row) => match ctx.engine.cache.take(doc.id, &row.heads) {
            Some(cached) => cached,
            None => match docstore::load(ctx.conn, doc.id).await? {
                Ok(am) => {
                    let weight = docstore::weight(&am);
                    (am, weight)
                }
                Err(e) => {
                    ctx.engine.unloadable.inc();
                    tracing::error!(record = %doc.id, error = %e, "a stored record does not load; `fieldsync-server repair` rebuilds it");
                    let msg = format!(
                        "record {} cannot be loaded from storage; an operator can repair it",
                        doc.id
                    );
                    return done(
                        PushStatus::Rejected,
                        Some(refusal("record_unloadable", msg)),
                    );
                }
            },
        },
        None => {
            let am = AutoCommit::new();
            let weight = docstore::weight(&am);
            (am, weight)
        }
    };
    let orphans = if accessible {
        ctx.orphans.get(&doc.id).cloned().unwrap_or_default()
    } else {
        vec![]
    };
    let mut seen = HashSet::new();
    let new: Vec<Change> = changes
        .iter()
        .chain(orphans.iter())
        .filter(|c| seen.insert(c.hash()) && am.get_change_by_hash(&c.hash()).is_none())
        .cloned()
        .collect();
    let forged = new.iter().find(|c| !ctx.author.owns(c.actor_id()));
    if !accessible {
        // Only a device hands in its own edits of a record it lost; any other author is refused.
        let refuse = forged.is_some() || ctx.author.device().is_none();
        return Ok(Outcome::Done(quarantine_or_refuse(
            doc,
            row.map_or("", |r| r.kind.as_str()),
            &mut am,
            &new,
            refuse,
            extras,
        )));
    }
    if let Some(row) = row {
        if row.kind != kind.name {
            let msg = format!("document {} is a {}, not a {}", doc.id, row.kind, kind.name);
            return done(PushStatus::Rejected, Some(refusal("kind_mismatch", msg)));
        }
    }
    if new.is_empty() {
        if !orphans.is_empty() {
            extras.cleared_orphans.push(doc.id);
        }
        if let Some(row) = row {
            ctx.engine.cache.put(doc.id, row.heads.clone(), am, weight);
        }
        return done(PushStatus::AlreadyKnown, None);
    }
    let claimed = ctx.author.device().and_then(|p| p.claimed_device);
    if let Some(claimed) = claimed.filter(|_| {
        forged.is_some()
            && new
                .iter()
                .all(|c| ctx.author.owns(c.actor_id()) || ctx.author.claims(c.actor_id()))
    }) {
        // Changes under the device id this device could not prove it owns: neither refused (they
        // may be its own, which a restore left it no proof of) nor applied (they may be a
        // colleague's, taken as its own), but held for a manager.
        let why = quarantine::unproven_author(claimed);
        extras
            .quarantine
            .push(QuarantineEntry::new(doc.id, kind.name, &new, why));
        return done(PushStatus::Quarantined, None);
    }
    if let Some(forged) = forged {
        let msg = format!(
            "change {} was made by actor {}, not by this device",
            forged.hash(),
            forged.actor_id()
        );
        return done(PushStatus::Rejected, Some(refusal("forged_actor", msg)));
    }
    let heads_before = am.get_heads();
    let ops = match sync_core::structure::apply(&mut am, new.clone()) {
        Ok(ops) => ops,
        Err(e) => return done(PushStatus::Rejected, Some(reason(&e))),
    };
    weight += docstore::APPLIED_PER_OP * new.iter().map(Change::len).sum::<usize>();
    let missing = am.get_missing_deps(&[]);
    if !missing.is_empty() && ctx.author.device().is_none() {
        // The server's own writes and accepted entries are whole; none waits for another push.
        let msg = format!(
            "{} changes this record's changes depend on are missing",
            missing.len()
        );
        return done(
            PushStatus::Rejected,
            Some(refusal("missing_dependencies", msg)),
        );
    }
    if !missing.is_empty() {
        // Keep the changes until their dependencies arrive (within the device's bounds, see
        // `write::MAX_DEVICE_ORPHANS`); the half-applied document is dropped.
        extras.orphans.extend(
            new.iter()
                .map(|c| (doc.id, Hash::from(c.hash()), c.raw_bytes().to_vec())),
        );
        return Ok(Outcome::Done(DocResult {
            id: doc.id,
            status: PushStatus::MissingDependencies,
            heads: server_heads,
            reason: None,
            missing: missing.into_iter().map(Hash::from).collect(),
        }));
    }
    let checked = inspect::touched_fields(&am, &ops, row.is_none())
        .and_then(|fields| inspect::check_writable(kind, ctx.author.field_role(), &fields))
        .and_then(|()| record::project(&am, kind));
    let projection = match checked {
        Ok(p) => p,
        Err(e) => return done(PushStatus::Rejected, Some(reason(&e))),
    };
    let (territory_id, parent_id) = match resolve_scope(ctx, kind, &projection, row).await? {
        Ok(scope) => scope,
        Err(r) => return done(PushStatus::Rejected, Some(r)),
    };
    if !orphans.is_empty() {
        extras.cleared_orphans.push(doc.id);
    }
    let now = now_ms();
    let chunk_count = row.map_or(0, |r| r.chunk_count) + 1;
    let (mut data, mut snapshot) = if row.is_none() || chunk_count > COMPACT_AFTER_CHUNKS {
        (am.save(), true)
    } else {
        (am.save_after(&heads_before), false)
    };
    let max_doc_bytes = ctx.engine.limits.max_doc_bytes;
    if !snapshot && row.map_or(0, |r| r.chunk_bytes) as usize + data.len() > max_doc_bytes {
        // Chunks hold some history twice; compacting may bring the document back under the cap.
        (data, snapshot) = (am.save(), true);
    }
    if snapshot && data.len() > max_doc_bytes {
        let msg = format!(
            "the record would grow to {} bytes, the limit is {max_doc_bytes}",
            data.len()
        );
        return done(
            PushStatus::Rejected,
            Some(refusal("document_too_large", msg)),
        );
    }
    let heads = am.get_heads();
    let merged = if snapshot && row.is_some() {
        // A compaction replaces the record's chunks: it must load back, or the record is lost. What
        // loads back is what is kept: compact, where the merged document is not. A new record's
        // first snapshot replaces nothing, and the checks every change went through make it
        // loadable (the fuzz tests load back every document they accept).
        match sync_core::structure::reloads(&data, &heads) {
            Ok(compact) => {
                let weight = docstore::weight(&compact);
                Some((compact, weight))
            }
            Err(e) => return done(PushStatus::Rejected, Some(reason(&e))),
        }
    } else {
        (weight <= KEEP_MERGED_UP_TO).then_some((am, weight))
    };
    let (chunk_count, chunk_bytes) = if snapshot {
        (1, data.len() as i64)
    } else {
        (
            chunk_count,
            row.map_or(0, |r| r.chunk_bytes) + data.len() as i64,
        )
    };
    let moved_from = row.and_then(|r| (r.territory_id != territory_id).then_some(r.territory_id));
    Ok(Outcome::Write(Box::new(Write {
        id: doc.id,
        kind,
        is_new: row.is_none(),
        territory_id,
        parent_id,
        owner_id: row.map_or(ctx.author.rights().user_id, |r| r.owner_id),
        heads: pack_heads(&heads),
        data,
        snapshot,
        chunk_count,
        chunk_bytes,
        created_at: row.map_or(now, |r| r.created_at),
        listing: Listing::of(&projection),
        projection,
        moved_from,
        doc: merged,
    })))
}

/// Where the merged record belongs, and whether its author may put it there. The outer error is a storage
/// failure; the inner one a refusal of this document.
async fn resolve_scope<C: ConnectionTrait>(
    ctx: &mut DocContext<'_, C>,
    kind: &KindSchema,
    projection: &Projection,
    row: Option<&document::Model>,
) -> Result<Result<(Option<Uuid>, Option<Uuid>), Reason>, Error> {
    let key = projection.scope_key(kind).unwrap_or_default();
    let (territory, parent) = match kind.scope {
        Scope::Company if !kind.scope.writable_by(ctx.author.field_role()) => {
            return Ok(Err(refusal(
                "read_only",
                format!(
                    "{} records are the company's: managers and admins write them",
                    kind.name
                ),
            )));
        }
        Scope::Company => (None, None),
        Scope::Territory { field } => match ctx.territories.get(key) {
            Some(t) => (Some(*t), None),
            None => {
                let msg = format!("there is no territory named `{key}`");
                return Ok(Err(Reason {
                    code: "unknown_territory".into(),
                    message: msg,
                    field: Some(field.into()),
                }));
            }
        },
        Scope::Parent {
            field,
            kind: parent_kind,
        } => {
            let parent_id = Uuid::parse_str(key).unwrap_or_default();
            let parent = match ctx.pending.get(&parent_id) {
                Some((k, t)) => Some((*k, *t, ctx.author.rights().user_id)),
                None => read_parent(ctx, parent_id).await?.map(|p| {
                    (
                        if p.kind == parent_kind {
                            parent_kind
                        } else {
                            ""
                        },
                        p.territory_id,
                        p.owner_id,
                    )
                }),
            };
            match parent {
                Some((k, t, owner))
                    if k == parent_kind && ctx.author.rights().can_access(t, owner) =>
                {
                    (t, Some(parent_id))
                }
                _ => {
                    let msg = format!("`{key}` is not a {parent_kind} this user may see");
                    return Ok(Err(Reason {
                        code: "unknown_parent".into(),
                        message: msg,
                        field: Some(field.into()),
                    }));
                }
            }
        }
    };
    let unchanged = row.is_some_and(|r| r.territory_id == territory);
    let allowed = unchanged
        || matches!(kind.scope, Scope::Parent { .. } | Scope::Company)
        || territory.is_some_and(|t| ctx.author.rights().can_use_territory(t));
    if !allowed {
        return Ok(Err(refusal(
            "out_of_scope",
            format!(
                "this user may not put a {} into territory `{key}`",
                kind.name
            ),
        )));
    }
    Ok(Ok((territory, parent)))
}

/// A parent record, remembered as read so that a merge made ahead of its write can tell whether it
/// still holds.
async fn read_parent<C: ConnectionTrait>(
    ctx: &mut DocContext<'_, C>,
    id: Uuid,
) -> Result<Option<document::Model>, Error> {
    if let Some(read) = ctx.parents.get(&id) {
        return Ok(read.clone());
    }
    let parent = find_document(ctx.conn, id, ctx.lock).await?;
    ctx.parents.insert(id, parent.clone());
    Ok(parent)
}

/// A device that lost access to a document while offline may still hand in its edits: they go to a
/// quarantine for a manager instead of being dropped. To prove the device held the document, its base
/// heads must be heads the server knows.
fn quarantine_or_refuse(
    doc: &Prepared,
    stored_kind: &str,
    am: &mut AutoCommit,
    new: &[Change],
    refuse: bool,
    extras: &mut Extras,
) -> DocResult {
    let held = !doc.base_heads.is_empty()
        && doc
            .base_heads
            .iter()
            .all(|h| am.get_change_by_hash(&ChangeHash::from(*h)).is_some());
    let kind_matches = doc.kind.as_ref().is_ok_and(|k| k.name == stored_kind);
    if !held || refuse || new.is_empty() || !kind_matches {
        return DocResult {
            id: doc.id,
            status: PushStatus::Rejected,
            heads: vec![],
            reason: Some(refusal(
                "out_of_scope",
                "this user may not write this document",
            )),
            missing: vec![],
        };
    }
    extras.quarantine.push(QuarantineEntry::new(
        doc.id,
        stored_kind,
        new,
        quarantine::LOST_ACCESS.into(),
    ));
    DocResult {
        id: doc.id,
        status: PushStatus::Quarantined,
        heads: vec![],
        reason: None,
        missing: vec![],
    }
}
