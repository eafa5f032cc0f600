//! What a push decides for each document, in plain functions: no database, no await. The push
//! (`push::merge_one`) reads what they need (the record's row, its document, the parent it names)
//! and writes what they decide, so each decision can be tested on its own, without a server.
//!
//! In the order a document goes through them: [`admit`] (is the push's document well formed, and
//! may the author see the record), [`merge`] (who made the new changes, apply them, check them,
//! validate the result, check the fields the author may write), [`scope`] (where the merged record
//! belongs, and may the author put it there) and [`write`] (what is stored: an appended chunk or a
//! compacted snapshot, within the size cap).

use std::collections::{HashMap, HashSet};

use automerge::{AutoCommit, Change, ChangeHash};
use sync_core::protocol::{DocResult, Hash, PushStatus, Reason};
use sync_core::record::{self, Listing, Projection};
use sync_core::{inspect, KindSchema, Scope};
use uuid::Uuid;

use crate::db::entities::document;
use crate::sync::author::Author;
use crate::sync::docstore::{self, pack_heads, unpack_heads};
use crate::sync::quarantine;
use crate::sync::write::{Extras, QuarantineEntry, Write};

/// A document is compacted into one snapshot once it is spread over more chunks than this: a compacted
/// document loads several times faster than one made of many small chunks.
pub const COMPACT_AFTER_CHUNKS: i32 = 10;

/// The heaviest merged document a batch keeps until it is written, to cache it then (see
/// `docstore::weight`). Changes just applied cost about 300 bytes per op, so a batch of records
/// with long texts would otherwise hold gigabytes until it commits; a heavier document is dropped
/// as soon as it is merged, and loaded again, compact, when next needed.
pub const KEEP_MERGED_UP_TO: usize = 1 << 20;

/// A pushed document after its bytes were parsed, before any database work.
pub struct Prepared {
    pub id: Uuid,
    /// Record ids are UUID v7, made on the device: unique without coordination, and ordered by time.
    pub id_ok: bool,
    pub kind: Result<&'static KindSchema, Reason>,
    pub changes: Result<Vec<Change>, Reason>,
    pub base_heads: Vec<Hash>,
}

/// The result of one document before the batch commits.
pub enum Outcome {
    Done(DocResult),
    Write(Box<Write>),
}

/// How a document's answer is made when nothing of it is written: with the heads the server holds,
/// or none if the author may not see the record.
pub struct Reply {
    id: Uuid,
    heads: Vec<Hash>,
}

impl Reply {
    pub fn done(&self, status: PushStatus, reason: Option<Reason>) -> DocResult {
        DocResult {
            id: self.id,
            status,
            heads: self.heads.clone(),
            reason,
            missing: vec![],
        }
    }

    pub fn refuse(&self, reason: Reason) -> DocResult {
        self.done(PushStatus::Rejected, Some(reason))
    }
}

/// A pushed document that is well formed, before its record's document is loaded.
pub struct Admitted<'a> {
    pub doc: &'a Prepared,
    pub kind: &'static KindSchema,
    pub changes: &'a [Change],
    /// Whether the author may see the stored record (always, for a new one).
    pub accessible: bool,
    pub reply: Reply,
}

/// Checks what can be checked of a pushed document before its record is loaded: its id, its kind,
/// its changes' encoding. `row` is the stored record, if there is one.
pub fn admit<'a>(
    doc: &'a Prepared,
    row: Option<&document::Model>,
    author: &Author,
) -> Result<Admitted<'a>, Box<DocResult>> {
    // A record the user may not access is answered the same way whatever it holds: no heads, no
    // kind, no "already known", so a device learns nothing of records outside its scope.
    let accessible =
        row.is_none_or(|r| author.rights().can_see(&r.kind, r.territory_id, r.owner_id));
    let reply = Reply {
        id: doc.id,
        heads: row
            .filter(|_| accessible)
            .map(|r| unpack_heads(&r.heads))
            .unwrap_or_default(),
    };
    if !doc.id_ok {
        let msg = format!("{} is not a UUID v7", doc.id);
        return Err(Box::new(reply.refuse(refusal("invalid_id", msg))));
    }
    let kind = match &doc.kind {
        Ok(kind) => *kind,
        Err(r) => return Err(Box::new(reply.refuse(r.clone()))),
    };
    let changes = match &doc.changes {
        Ok(changes) => changes,
        Err(r) => return Err(Box::new(reply.refuse(r.clone()))),
    };
    Ok(Admitted {
        doc,
        kind,
        changes,
        accessible,
        reply,
    })
}

/// What [`merge`] decided.
pub enum Merged {
    /// Nothing to write: refused, quarantined, or waiting for changes it depends on.
    Done(DocResult),
    /// Nothing new: the record's document, untouched, may go back to the cache.
    Known(DocResult, Box<AutoCommit>, usize),
    /// Merged and valid; where it belongs is decided next ([`scope`]).
    Valid(Box<Valid>),
}

/// A merged record that is valid for its kind and touches only fields its author may write.
pub struct Valid {
    pub kind: &'static KindSchema,
    pub reply: Reply,
    pub doc: AutoCommit,
    /// An estimate of the document's memory (`docstore::weight`).
    pub weight: usize,
    /// The heads before the push's changes, from which the appended chunk starts.
    pub heads_before: Vec<ChangeHash>,
    pub projection: Projection,
    /// Whether changes this device left waiting for dependencies are merged now.
    pub took_orphans: bool,
}

/// Merges the push's changes, and the device's earlier changes of the record that waited for
/// dependencies (`orphans`), into `doc`, the record's stored document (empty for a new record)
/// whose memory is about `weight`. Changes the device keeps or hands to the quarantine go to
/// `extras`.
pub fn merge(
    admitted: Admitted<'_>,
    row: Option<&document::Model>,
    author: &Author,
    mut doc: AutoCommit,
    mut weight: usize,
    orphans: &[Change],
    extras: &mut Extras,
) -> Merged {
    let Admitted {
        doc: pushed,
        kind,
        changes,
        accessible,
        reply,
    } = admitted;
    let orphans = if accessible { orphans } else { &[] };
    let mut seen = HashSet::new();
    let new: Vec<Change> = changes
        .iter()
        .chain(orphans)
        .filter(|c| seen.insert(c.hash()) && doc.get_change_by_hash(&c.hash()).is_none())
        .cloned()
        .collect();
    let forged = new.iter().find(|c| !author.owns(c.actor_id()));
    if !accessible {
        // Only a device hands in its own edits of a record it lost; any other author is refused.
        let refuse = forged.is_some() || author.device().is_none();
        let stored_kind = row.map_or("", |r| r.kind.as_str());
        return Merged::Done(quarantine_or_refuse(
            pushed,
            stored_kind,
            &mut doc,
            &new,
            refuse,
            extras,
        ));
    }
    if let Some(row) = row {
        if row.kind != kind.name {
            let msg = format!(
                "document {} is a {}, not a {}",
                pushed.id, row.kind, kind.name
            );
            return Merged::Done(reply.refuse(refusal("kind_mismatch", msg)));
        }
    }
    if new.is_empty() {
        if !orphans.is_empty() {
            extras.cleared_orphans.push(pushed.id);
        }
        return Merged::Known(
            reply.done(PushStatus::AlreadyKnown, None),
            Box::new(doc),
            weight,
        );
    }
    let claimed = author.device().and_then(|p| p.claimed_device);
    if let Some(claimed) = claimed.filter(|_| {
        forged.is_some()
            && new
                .iter()
                .all(|c| author.owns(c.actor_id()) || author.claims(c.actor_id()))
    }) {
        // Changes under the device id this device could not prove it owns: neither refused (they
        // may be its own, which a restore left it no proof of) nor applied (they may be a
        // colleague's, taken as its own), but held for a manager.
        let why = quarantine::unproven_author(claimed);
        extras
            .quarantine
            .push(QuarantineEntry::new(pushed.id, kind.name, &new, why));
        return Merged::Done(reply.done(PushStatus::Quarantined, None));
    }
    if let Some(forged) = forged {
        let msg = format!(
            "change {} was made by actor {}, not by this device",
            forged.hash(),
            forged.actor_id()
        );
        return Merged::Done(reply.refuse(refusal("forged_actor", msg)));
    }
    let heads_before = doc.get_heads();
    let applied_ops: usize = new.iter().map(Change::len).sum();
    // The changes are kept for the orphan path below; automerge takes its own.
    let ops = match sync_core::structure::apply(&mut doc, new.clone()) {
        Ok(ops) => ops,
        Err(e) => return Merged::Done(reply.refuse(reason(&e))),
    };
    weight += docstore::APPLIED_PER_OP * applied_ops;
    let missing = doc.get_missing_deps(&[]);
    if !missing.is_empty() && author.device().is_none() {
        // The server's own writes and accepted entries are whole; none waits for another push.
        let msg = format!(
            "{} changes this record's changes depend on are missing",
            missing.len()
        );
        return Merged::Done(reply.refuse(refusal("missing_dependencies", msg)));
    }
    if !missing.is_empty() {
        // Keep the changes until their dependencies arrive (within the device's bounds, see
        // `write::MAX_DEVICE_ORPHANS`); the half-applied document is dropped.
        extras.orphans.extend(
            new.iter()
                .map(|c| (pushed.id, Hash::from(c.hash()), c.raw_bytes().to_vec())),
        );
        let mut result = reply.done(PushStatus::MissingDependencies, None);
        result.missing = missing.into_iter().map(Hash::from).collect();
        return Merged::Done(result);
    }
    let checked = inspect::touched_fields(&doc, &ops, row.is_none())
        .and_then(|fields| inspect::check_writable(kind, author.field_role(), &fields))
        .and_then(|()| record::project(&doc, kind));
    match checked {
        Ok(projection) => Merged::Valid(Box::new(Valid {
            kind,
            reply,
            doc,
            weight,
            heads_before,
            projection,
            took_orphans: !orphans.is_empty(),
        })),
        Err(e) => Merged::Done(reply.refuse(reason(&e))),
    }
}

/// The parent a merged record names, for kinds scoped through a parent (`Uuid::nil()` if the field
/// does not hold one, which no record has).
pub fn parent_id(kind: &KindSchema, projection: &Projection) -> Option<Uuid> {
    match kind.scope {
        Scope::Parent { .. } => {
            let key = projection.scope_key(kind).unwrap_or_default();
            Some(Uuid::parse_str(key).unwrap_or_default())
        }
        Scope::Territory { .. } | Scope::Company => None,
    }
}

/// What the scope check needs of a parent record.
pub struct Parent {
    pub kind: String,
    pub territory_id: Option<Uuid>,
    pub owner_id: Uuid,
}

impl From<&document::Model> for Parent {
    fn from(row: &document::Model) -> Parent {
        Parent {
            kind: row.kind.clone(),
            territory_id: row.territory_id,
            owner_id: row.owner_id,
        }
    }
}

/// Where the merged record belongs (its territory, and its parent for kinds scoped through one),
/// and whether its author may put it there. `territories` are the company's by name; `parent` is
/// the record [`parent_id`] names, if it exists.
pub fn scope(
    valid: &Valid,
    row: Option<&document::Model>,
    author: &Author,
    territories: &HashMap<String, Uuid>,
    parent: Option<Parent>,
) -> Result<(Option<Uuid>, Option<Uuid>), Reason> {
    let kind = valid.kind;
    let rights = author.rights();
    let key = valid.projection.scope_key(kind).unwrap_or_default();
    let (territory, parent) = match kind.scope {
        Scope::Company if !kind.scope.writable_by(author.field_role()) => {
            let msg = format!(
                "{} records are the company's: managers and admins write them",
                kind.name
            );
            return Err(refusal("read_only", msg));
        }
        Scope::Company => (None, None),
        Scope::Territory { field } => match territories.get(key) {
            Some(t) => (Some(*t), None),
            None => {
                return Err(Reason {
                    code: "unknown_territory".into(),
                    message: format!("there is no territory named `{key}`"),
                    field: Some(field.into()),
                })
            }
        },
        Scope::Parent {
            field,
            kind: parent_kind,
        } => match parent {
            Some(p) if p.kind == parent_kind && rights.can_access(p.territory_id, p.owner_id) => {
                (p.territory_id, parent_id(kind, &valid.projection))
            }
            _ => {
                return Err(Reason {
                    code: "unknown_parent".into(),
                    message: format!("`{key}` is not a {parent_kind} this user may see"),
                    field: Some(field.into()),
                })
            }
        },
    };
    let unchanged = row.is_some_and(|r| r.territory_id == territory);
    let allowed = unchanged
        || matches!(kind.scope, Scope::Parent { .. } | Scope::Company)
        || territory.is_some_and(|t| rights.can_use_territory(t));
    if !allowed {
        let msg = format!(
            "this user may not put a {} into territory `{key}`",
            kind.name
        );
        return Err(refusal("out_of_scope", msg));
    }
    Ok((territory, parent))
}

/// What is stored of a merged record placed at `scope`: the chunk of the push's changes appended
/// to the record's chunks, or, for a new record, a record spread over many chunks or one that
/// would pass `max_doc_bytes` in chunks, the whole document compacted into one snapshot. `owner` is
/// a new record's owner; `now` the time of the write, in milliseconds.
pub fn write(
    valid: Valid,
    scope: (Option<Uuid>, Option<Uuid>),
    row: Option<&document::Model>,
    owner: Uuid,
    max_doc_bytes: usize,
    now: i64,
    extras: &mut Extras,
) -> Outcome {
    let Valid {
        kind,
        reply,
        doc: mut am,
        weight,
        heads_before,
        projection,
        took_orphans,
    } = valid;
    let (territory_id, parent_id) = scope;
    if took_orphans {
        extras.cleared_orphans.push(reply.id);
    }
    let chunk_count = row.map_or(0, |r| r.chunk_count) + 1;
    let (mut data, mut snapshot) = if row.is_none() || chunk_count > COMPACT_AFTER_CHUNKS {
        (am.save(), true)
    } else {
        (am.save_after(&heads_before), false)
    };
    let stored_bytes = row.map_or(0, |r| r.chunk_bytes) as usize;
    if !snapshot && stored_bytes + data.len() > max_doc_bytes {
        // Chunks hold some history twice; compacting may bring the document back under the cap.
        (data, snapshot) = (am.save(), true);
    }
    if snapshot && data.len() > max_doc_bytes {
        let msg = format!(
            "the record would grow to {} bytes, the limit is {max_doc_bytes}",
            data.len()
        );
        return Outcome::Done(reply.refuse(refusal("document_too_large", msg)));
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
            Err(e) => return Outcome::Done(reply.refuse(reason(&e))),
        }
    } else {
        (weight <= KEEP_MERGED_UP_TO).then_some((am, weight))
    };
    let (chunk_count, chunk_bytes) = if snapshot {
        (1, data.len() as i64)
    } else {
        (chunk_count, stored_bytes as i64 + data.len() as i64)
    };
    let moved_from = row.and_then(|r| (r.territory_id != territory_id).then_some(r.territory_id));
    Outcome::Write(Box::new(Write {
        id: reply.id,
        kind,
        is_new: row.is_none(),
        territory_id,
        parent_id,
        owner_id: row.map_or(owner, |r| r.owner_id),
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
    }))
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
    let reply = Reply {
        id: doc.id,
        heads: vec![],
    };
    if !held || refuse || new.is_empty() || !kind_matches {
        let msg = "this user may not write this document";
        return reply.refuse(refusal("out_of_scope", msg));
    }
    extras.quarantine.push(QuarantineEntry::new(
        doc.id,
        stored_kind,
        new,
        quarantine::LOST_ACCESS.into(),
    ));
    reply.done(PushStatus::Quarantined, None)
}

pub fn reason(e: &sync_core::Error) -> Reason {
    Reason {
        code: e.code().to_string(),
        message: e.to_string(),
        field: e.field().map(str::to_string),
    }
}

pub fn refusal(code: &str, message: impl Into<String>) -> Reason {
    Reason {
        code: code.to_string(),
        message: message.into(),
        field: None,
    }
}

