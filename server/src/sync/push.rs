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
use sync_core::protocol::{DocPush, DocResult, Limits, PushRequest, PushResponse, PushStatus};
use sync_core::record::Projection;
use sync_core::{kinds, KindSchema};
use tokio::sync::OwnedSemaphorePermit;
use uuid::Uuid;

use crate::budget::Room;
use crate::db::entities::document;
use crate::db::{now_ms, retry_after, WriteTxn};
use crate::error::Error;
use crate::seal::Vault;
use crate::sync::author::Author;
use crate::sync::checkpoint;
use crate::sync::decide::{self, reason, refusal, Merged, Outcome, Parent, Prepared};
use crate::sync::docstore::{self, unpack_heads};
use crate::sync::due::{self, Pusher};
use crate::sync::engine::SyncEngine;
use crate::sync::quarantine;
use crate::sync::write::{
    code_taken, company_settings, erased_changes, find_document, load_orphans, record_server_actor,
    rows_by_id, store, store_extras, territories_by_name, CompanySettings, Extras, Write,
};

/// The most a batch keeps of merged documents, all together, until it is written: a thousand
/// records just under `KEEP_MERGED_UP_TO` would otherwise hold a gigabyte. The documents merged
/// after it is spent, or once the process's merge budget has no room for them, are dropped like
/// heavy ones.
pub const KEEP_MERGED_PER_BATCH: usize = 16 << 20;

/// The outcome of a committed batch: the answer, the documents to cache with their room in the
/// merge budget, and the highest feed position it wrote (0 if none).
struct Batch {
    results: Vec<DocResult>,
    written: Vec<Written>,
    /// The batch's entry of due rules, if it recorded one.
    due: Option<Uuid>,
    cached: Vec<(Uuid, Vec<u8>, AutoCommit, usize)>,
    _kept: Option<Room>,
    seq: i64,
}

/// A record a push wrote, as it now reads: what the rules after a merge look at.
pub struct Written {
    pub id: Uuid,
    pub kind: &'static KindSchema,
    pub projection: Projection,
    /// The root fields the push's changes wrote.
    pub fields: Vec<String>,
    /// Whether the record lacks a text or items of its kind, which the rules then give it.
    pub lacks_objects: bool,
}

/// Applies a push by `author` and answers with one result per document, in request order.
pub async fn push(
    engine: &SyncEngine,
    author: &Author,
    request: PushRequest,
) -> Result<PushResponse, Error> {
    stage(engine, author, request).await?.commit(engine).await
}

/// What a push wrote, for the rules to judge (`crm::rules::after_push`).
pub struct ForRules {
    pub by: Pusher,
    pub written: Vec<Written>,
    /// The push's entry in `rules_due`, recorded with its write; None if it wrote nothing.
    pub due: Option<Uuid>,
}

/// [`push`], also returning the records it wrote, which the rules are then due to judge as made
/// by `by` (recorded in the push's transaction: see `due`).
pub async fn push_written(
    engine: &SyncEngine,
    author: &Author,
    request: PushRequest,
    by: Pusher,
) -> Result<(PushResponse, ForRules), Error> {
    let mut staged = stage(engine, author, request).await?;
    staged.by = Some(by);
    let (response, written, due) = staged.commit_written(engine).await?;
    Ok((response, ForRules { by, written, due }))
}

/// A push checked and parsed and, where the database has one writer, merged; not yet written.
pub struct Staged<'a> {
    author: &'a Author,
    /// The documents' ids in request order, for the answer.
    order: Vec<Uuid>,
    /// Sorted: the order in which rows are locked.
    ids: Vec<Uuid>,
    /// Whether a document of the batch is held to the company's settings, which are then read.
    settings: bool,
    docs: Vec<Prepared>,
    /// What a merge ahead read, and what it decided; None if there was none, or once used.
    ahead: Option<(Inputs, Merge)>,
    /// Held from the merge ahead until the write: see `SyncEngine::merge_slots`.
    _slot: Option<OwnedSemaphorePermit>,
    /// Who the rules will judge the push as made by, when they are due after it.
    by: Option<Pusher>,
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
    let settings = docs
        .iter()
        .any(|p| p.kind.as_ref().is_ok_and(|k| decide::held_to_settings(k)));
    let (ahead, slot) = if engine.db.merges_ahead() {
        let slot = engine
            .merge_slots
            .clone()
            .acquire_owned()
            .await
            .expect("the merge slots are never closed");
        let conn = &engine.db.conn;
        let inputs = Inputs::read(conn, engine.db.vault(), &ids, author, settings, false).await?;
        let merge = merge_docs(conn, false, engine, author, &docs, &inputs).await?;
        (Some((inputs, merge)), Some(slot))
    } else {
        (None, None)
    };
    Ok(Staged {
        author,
        order,
        ids,
        settings,
        docs,
        ahead,
        _slot: slot,
        by: None,
    })
}

impl Staged<'_> {
    /// The second step of a push: writes the merge in one transaction if nothing it read has changed
    /// since (the common case: devices mostly push records nobody else is pushing at that moment);
    /// otherwise merges again inside the transaction, where nothing can change under it.
    pub async fn commit(self, engine: &SyncEngine) -> Result<PushResponse, Error> {
        Ok(self.commit_written(engine).await?.0)
    }

    /// [`Staged::commit`], also returning the records it wrote and its entry of due rules.
    async fn commit_written(
        mut self,
        engine: &SyncEngine,
    ) -> Result<(PushResponse, Vec<Written>, Option<Uuid>), Error> {
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
        let response = PushResponse {
            results,
            seq: batch.seq,
        };
        Ok((response, batch.written, batch.due))
    }

    async fn write(&mut self, write: &WriteTxn, engine: &SyncEngine) -> Result<Batch, Error> {
        let txn: &DatabaseTransaction = write;
        let inputs = Inputs::read(
            txn,
            engine.db.vault(),
            &self.ids,
            self.author,
            self.settings,
            true,
        )
        .await?;
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
        store_merge(write, self.author, merge, self.by).await
    }
}

/// Everything of the database a merge depends on besides the documents' contents, which follow
/// their rows (every write of a document's chunks also writes its row's heads).
struct Inputs {
    rows: HashMap<Uuid, document::Model>,
    territories: HashMap<String, Uuid>,
    /// Read only for a batch that holds a record held to them.
    settings: Option<CompanySettings>,
    /// This device's stored orphan changes of the batch's documents.
    orphans: HashMap<Uuid, Vec<Change>>,
}

impl Inputs {
    /// With `lock`, the documents' rows are locked in id order, so two pushes of overlapping batches
    /// cannot deadlock and no two processes write the same document at once.
    async fn read(
        conn: &impl ConnectionTrait,
        vault: &Vault,
        ids: &[Uuid],
        author: &Author,
        settings: bool,
        lock: bool,
    ) -> Result<Inputs, Error> {
        Ok(Inputs {
            rows: rows_by_id(conn, ids, lock).await?,
            territories: territories_by_name(conn).await?,
            settings: if settings {
                company_settings(conn).await?
            } else {
                None
            },
            orphans: match author.device() {
                Some(device) => load_orphans(conn, vault, ids, device.device_id).await?,
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
            && self.settings == now.settings
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
    /// The room in the merge budget of the merged documents kept to cache.
    kept: Option<Room>,
}

impl Merge {
    /// Holds `room` in the merge budget for one more merged document kept to cache.
    fn keep(&mut self, room: Room) {
        match &mut self.kept {
            Some(all) => all.merge(room),
            none => *none = Some(room),
        }
    }

    /// Drops the merged documents kept to cache, and gives back their room.
    fn forget_kept(&mut self) {
        for write in &mut self.writes {
            write.doc = None;
        }
        self.kept = None;
    }

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
        group: doc.group,
    })
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
    let mut codes: HashSet<String> = HashSet::new();
    let mut kept = 0;
    let mut merge = Merge {
        results: Vec::new(),
        writes: Vec::new(),
        extras: Extras::default(),
        parents: HashMap::new(),
        kept: None,
    };
    for doc in docs {
        let row = inputs.rows.get(&doc.id);
        let orphans = inputs.orphans.get(&doc.id).map_or(&[][..], Vec::as_slice);
        let cost = merge_cost(doc, row, orphans);
        // Held until the merged document is written or dropped. A push waits for room only once
        // it holds none: it lets its kept documents go first (they are loaded again when next
        // needed), so pushes waiting for room never wait for each other.
        let _room = match engine.merges.try_take(cost) {
            Some(room) => room,
            None => {
                merge.forget_kept();
                kept = 0;
                engine.merges.take(cost).await?
            }
        };
        let mut ctx = DocContext {
            conn,
            lock,
            engine,
            author,
            territories: &inputs.territories,
            settings: inputs.settings.as_ref(),
            pending: &pending,
            codes: &codes,
            orphans: &inputs.orphans,
            parents: &mut merge.parents,
        };
        match merge_one(&mut ctx, doc, row, &mut merge.extras).await? {
            Outcome::Done(result) => merge.results.push(result),
            Outcome::Write(mut write) => {
                if let Some(weight) = write.doc.as_ref().map(|(_, weight)| *weight) {
                    // Room that is not there now is not waited for: the document is loaded
                    // again when next needed.
                    let room = (kept + weight <= KEEP_MERGED_PER_BATCH)
                        .then(|| engine.merges.try_take(weight))
                        .flatten();
                    match room {
                        None => write.doc = None,
                        Some(room) => {
                            kept += weight;
                            merge.keep(room);
                        }
                    }
                }
                pending.insert(write.id, (write.kind.name, write.territory_id));
                if let Some(Some(code)) = &write.code {
                    codes.insert(code.clone());
                }
                merge.writes.push(*write);
            }
        }
        // A document's merge is CPU work with no await in it, and a batch holds up to
        // `Limits::max_docs` of them (the SDK sends 200).
        // Run back to back they keep a worker thread from the tasks waiting on the database, among
        // them pushes about to commit, whose reserved feed positions hold every reader back.
        tokio::task::yield_now().await;
    }
    hold_groups(&mut merge, docs, inputs);
    Ok(merge)
}

/// Keeps each atomic group whole: where a record of a group is not applied, none of the group's
/// records is written, and each is answered `rejected`, `group_refused`, naming the one that was
/// not. A record the server already had counts as applied.
fn hold_groups(merge: &mut Merge, docs: &[Prepared], inputs: &Inputs) {
    let group_of: HashMap<Uuid, Uuid> =
        docs.iter().filter_map(|d| Some((d.id, d.group?))).collect();
    if group_of.is_empty() {
        return;
    }
    // Each failed group, with the record that failed it and why.
    let mut failed: HashMap<Uuid, (Uuid, String)> = HashMap::new();
    for result in &merge.results {
        let Some(group) = group_of.get(&result.id) else {
            continue;
        };
        if result.status != PushStatus::AlreadyKnown {
            let why = result
                .reason
                .as_ref()
                .map_or(result.status.as_str(), |r| r.code.as_str())
                .to_string();
            failed.entry(*group).or_insert((result.id, why));
        }
    }
    if failed.is_empty() {
        return;
    }
    let (held, kept): (Vec<Write>, Vec<Write>) = std::mem::take(&mut merge.writes)
        .into_iter()
        .partition(|w| group_of.get(&w.id).is_some_and(|g| failed.contains_key(g)));
    merge.writes = kept;
    for write in held {
        let (by, why) = &failed[&group_of[&write.id]];
        // Orphan changes the write would have taken stay kept for the next push.
        merge.extras.cleared_orphans.retain(|id| *id != write.id);
        merge.results.push(DocResult {
            id: write.id,
            status: PushStatus::Rejected,
            heads: inputs
                .rows
                .get(&write.id)
                .map(|r| unpack_heads(&r.heads))
                .unwrap_or_default(),
            reason: Some(sync_core::protocol::Reason {
                code: "group_refused".into(),
                message: format!(
                    "record {} of this record's group was not applied ({why}), and a group is taken whole or not at all",
                    by
                ),
                field: None,
            }),
            missing: vec![],
        });
    }
}

/// What merging `doc`, and the device's stored `orphans` of it, into its stored document may hold
/// at its peak.
fn merge_cost(doc: &Prepared, row: Option<&document::Model>, orphans: &[Change]) -> usize {
    let changes = doc.changes.as_deref().unwrap_or_default();
    let stored = row.map_or(0, |r| r.chunk_bytes as usize);
    docstore::merge_cost(stored, changes) + sync_core::structure::peak_bytes(orphans)
}

/// Writes a merged batch.
async fn store_merge(
    txn: &WriteTxn,
    author: &Author,
    merge: Merge,
    by: Option<Pusher>,
) -> Result<Batch, Error> {
    let Merge {
        mut results,
        writes,
        extras,
        kept,
        ..
    } = merge;
    let mut cached = Vec::new();
    let mut written = Vec::with_capacity(writes.len());
    let mut seq = 0;
    // What needs no feed position is written first: `store` allocates positions last, since readers
    // cannot read past them until the transaction commits.
    if let Some(device) = author.device() {
        for (id, why) in store_extras(txn, txn.vault(), device, extras).await? {
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
            written.push(Written {
                id: write.id,
                kind: write.kind,
                projection: write.projection,
                fields: write.fields_written,
                lacks_objects: write.lacks_objects,
            });
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
    let due = match by {
        Some(by) if !written.is_empty() => {
            let id = Uuid::now_v7();
            due::record(txn, id, by, &written).await?;
            Some(id)
        }
        _ => None,
    };
    Ok(Batch {
        results,
        written,
        due,
        cached,
        _kept: kept,
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
    settings: Option<&'a CompanySettings>,
    /// Documents written earlier in this batch: kind and territory.
    pending: &'a HashMap<Uuid, (&'static str, Option<Uuid>)>,
    /// Customer numbers taken earlier in this batch.
    codes: &'a HashSet<String>,
    /// This device's stored orphan changes of the batch's documents.
    orphans: &'a HashMap<Uuid, Vec<Change>>,
    /// The parents read so far, as read.
    parents: &'a mut HashMap<Uuid, Option<document::Model>>,
}

/// One document of a batch: reads what the decisions of `decide` need, in their order, and
/// answers what they decided. Nothing is written here.
async fn merge_one<C: ConnectionTrait>(
    ctx: &mut DocContext<'_, C>,
    doc: &Prepared,
    row: Option<&document::Model>,
    extras: &mut Extras,
) -> Result<Outcome, Error> {
    let admitted = match decide::admit(doc, row, ctx.author) {
        Ok(admitted) => admitted,
        Err(result) => return Ok(Outcome::Done(*result)),
    };
    let (am, weight) = match row {
        None => {
            let am = AutoCommit::new();
            let weight = docstore::weight(&am);
            (am, weight)
        }
        Some(row) => match load(ctx.conn, ctx.engine, row).await? {
            Some(loaded) => loaded,
            None => {
                let msg = format!(
                    "record {} cannot be loaded from storage; an operator can repair it",
                    doc.id
                );
                let refused = refusal("record_unloadable", msg);
                return Ok(Outcome::Done(admitted.reply.refuse(refused)));
            }
        },
    };
    if row.is_some_and(|r| r.erased_at.is_some()) {
        // A change of the history an erasure replaced, handed in again (its acknowledgement
        // lost, or after a restore), would bring the erased values back.
        let hashes: Vec<ChangeHash> = admitted.changes.iter().map(Change::hash).collect();
        if erased_changes(ctx.conn, doc.id, &hashes).await? > 0 {
            let msg = "these changes are of this record's history from before a person in it was erased; the device re-bases its edits on the new history at its next pull";
            return Ok(Outcome::Done(
                admitted.reply.refuse(refusal("record_erased", msg)),
            ));
        }
    }
    let orphans = ctx.orphans.get(&doc.id).map_or(&[][..], Vec::as_slice);
    let valid = match decide::merge(admitted, row, ctx.author, am, weight, orphans, extras) {
        Merged::Done(result) => return Ok(Outcome::Done(result)),
        Merged::Known(result, am, weight) => {
            if let Some(row) = row {
                ctx.engine.cache.put(doc.id, row.heads.clone(), *am, weight);
            }
            return Ok(Outcome::Done(result));
        }
        Merged::Valid(valid) => valid,
    };
    let parent = match decide::parent_id(valid.kind, &valid.projection) {
        None => None,
        // A parent written earlier in this batch, by this author.
        Some(id) => match ctx.pending.get(&id) {
            Some((kind, territory_id)) => Some(Parent {
                kind: kind.to_string(),
                territory_id: *territory_id,
                owner_id: ctx.author.rights().user_id,
                // No kind is scoped through a record kept to one user.
                user_id: None,
            }),
            None => read_parent(ctx, id).await?.as_ref().map(Parent::from),
        },
    };
    let mut valid = valid;
    let rules = decide::company_rules(doc.id, &valid, ctx.settings)
        .and_then(|()| decide::workflow(&mut valid, ctx.author));
    if let Err(refused) = rules {
        return Ok(Outcome::Done(valid.reply.refuse(refused)));
    }
    let code = decide::code_change(valid.kind, &valid.projection, row).map(|c| c.map(String::from));
    if let Some(Some(code)) = &code {
        if ctx.codes.contains(code) || code_taken(ctx.conn, doc.id, code).await? {
            let refused = decide::duplicate_code(code);
            return Ok(Outcome::Done(valid.reply.refuse(refused)));
        }
    }
    let scope = match decide::scope(&valid, row, ctx.author, ctx.territories, parent) {
        Ok(scope) => scope,
        Err(refused) => return Ok(Outcome::Done(valid.reply.refuse(refused))),
    };
    let mut outcome = decide::write(
        *valid,
        scope,
        row,
        ctx.author.rights().user_id,
        ctx.engine.limits.max_doc_bytes,
        now_ms(),
        extras,
    );
    if let Outcome::Write(write) = &mut outcome {
        write.code = code;
    }
    Ok(outcome)
}

/// A stored record's document and its weight, from the cache if it holds the record at its stored
/// heads, or else from storage; None if it does not load.
async fn load(
    conn: &impl ConnectionTrait,
    engine: &SyncEngine,
    row: &document::Model,
) -> Result<Option<(AutoCommit, usize)>, Error> {
    if let Some(cached) = engine.cache.take(row.id, &row.heads) {
        return Ok(Some(cached));
    }
    Ok(
        match docstore::load(conn, engine.db.vault(), row.id).await? {
            Ok(am) => {
                let weight = docstore::weight(&am);
                Some((am, weight))
            }
            Err(e) => {
                engine.unloadable.inc();
                tracing::error!(record = %row.id, error = %e, "a stored record does not load; `fieldsync-server repair` rebuilds it");
                None
            }
        },
    )
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
