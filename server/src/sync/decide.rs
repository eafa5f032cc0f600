//! What a push decides for each document, in plain functions: no database, no await. The push
//! (`push::merge_one`) reads what they need (the record's row, its document, the parent it names)
//! and writes what they decide, so each decision can be tested on its own, without a server.
//!
//! In the order a document goes through them: [`admit`] (is the push's document well formed, and
//! may the author see the record), [`merge`] (who made the new changes, apply them, check them,
//! validate the result, check the fields the author may write), [`scope`] (where the merged record
//! belongs, and may the author put it there) and [`write`] (what is stored: an appended chunk or a
//! compacted snapshot, within the size cap).

use std::collections::{BTreeSet, HashMap, HashSet};

use automerge::{AutoCommit, Change, ChangeHash};
use sync_core::protocol::{DocResult, Hash, PushStatus, Reason};
use sync_core::record::{self, Listing, Projection};
use sync_core::{inspect, kinds, orders, KindSchema, Scope};
use uuid::Uuid;

use crate::db::entities::document;
use crate::sync::author::Author;
use crate::sync::docstore::{self, pack_heads, unpack_heads};
use crate::sync::quarantine;
use crate::sync::write::{CompanySettings, Extras, Place, QuarantineEntry, Write};

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
    /// The atomic group the record was pushed in, if any.
    pub group: Option<Uuid>,
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
    let accessible = row.is_none_or(|r| author.rights().can_see(r));
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
    /// The changes new to the record, for its history (`Write::received`).
    pub received: Vec<ChangeHash>,
    /// The root fields the push's changes wrote, for the rules after the push.
    pub fields_written: Vec<String>,
    /// Whether the merged record lacks a text or items of its kind (`record::lacks_objects`).
    pub lacks_objects: bool,
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
        // Only a device hands in its own edits of a record it lost, as the kind it is; any other
        // author is refused. `reply` tells no heads: the author may not see the record.
        let stored_kind = row.map_or("", |r| r.kind.as_str());
        let refuse = forged.is_some() || author.device().is_none() || kind.name != stored_kind;
        return Merged::Done(quarantine_or_refuse(
            pushed,
            stored_kind,
            &reply,
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
    if !missing.is_empty() && row.is_some_and(|r| r.erased_at.is_some()) {
        // Edits of the history an erasure replaced: kept on the device, which re-bases them once
        // it pulls the new history. Kept here they would hold the erased values.
        let msg = "this record's history was rewritten when a person in it was erased; the device re-bases its edits on the new history at its next pull";
        return Merged::Done(reply.refuse(refusal("record_erased", msg)));
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
    // The server itself may give a stored record a nested object it lacks (an upgrade adding a new
    // items field); a device may not.
    let checked = inspect::touched_fields(&doc, &ops, row.is_none() || author.is_system())
        .and_then(|fields| match author.is_system() {
            true => Ok(fields),
            false => inspect::check_writable(kind, author.field_role(), &fields).map(|()| fields),
        })
        .and_then(|fields| Ok((fields, record::project(&doc, kind)?)));
    match checked {
        Ok((fields, _)) if rebases_personal(row, kind, author, &new, &fields) => {
            extras.quarantine.push(QuarantineEntry::new(
                pushed.id,
                kind.name,
                &new,
                quarantine::REBASED_PERSONAL.into(),
            ));
            Merged::Done(reply.done(PushStatus::Quarantined, None))
        }
        Ok((fields, projection)) => Merged::Valid(Box::new(Valid {
            lacks_objects: record::lacks_objects(&doc, kind),
            kind,
            reply,
            doc,
            weight,
            heads_before,
            projection,
            took_orphans: !orphans.is_empty(),
            received: new.iter().map(Change::hash).collect(),
            fields_written: fields.into_iter().collect(),
        })),
        Err(e) => Merged::Done(reply.refuse(reason(&e))),
    }
}

/// Whether a device's `new` changes of an erased record re-base edits made before the erasure
/// (`rewrite::REBASED`) and write a personal field of it: an erased value could come back that way,
/// so a manager decides.
fn rebases_personal(
    row: Option<&document::Model>,
    kind: &KindSchema,
    author: &Author,
    new: &[Change],
    fields: &BTreeSet<String>,
) -> bool {
    row.is_some_and(|r| r.erased_at.is_some())
        && author.device().is_some()
        && new
            .iter()
            .any(|c| c.message() == Some(sync_core::rewrite::REBASED))
        && kind.personal_fields().any(|f| fields.contains(f))
}

/// The parent a merged record names, for kinds scoped through a parent (`Uuid::nil()` if the field
/// does not hold one, which no record has).
pub fn parent_id(kind: &KindSchema, projection: &Projection) -> Option<Uuid> {
    match kind.scope {
        Scope::Parent { .. } => {
            let key = projection.scope_key(kind).unwrap_or_default();
            Some(Uuid::parse_str(key).unwrap_or_default())
        }
        Scope::Territory { .. } | Scope::Company { .. } => None,
    }
}

/// What the scope check needs of a parent record.
pub struct Parent {
    pub kind: String,
    pub territory_id: Option<Uuid>,
    pub owner_id: Uuid,
    pub user_id: Option<Uuid>,
}

impl From<&document::Model> for Parent {
    fn from(row: &document::Model) -> Parent {
        Parent {
            kind: row.kind.clone(),
            territory_id: row.territory_id,
            owner_id: row.owner_id,
            user_id: row.user_id,
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
        Scope::Company { .. } if !kind.scope.writable_by(author.field_role()) => {
            let msg = format!(
                "{} records are the company's: managers and admins write them",
                kind.name
            );
            return Err(refusal("read_only", msg));
        }
        Scope::Company { .. } => (None, None),
        Scope::Territory { field, .. } => match territories.get(key) {
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
            Some(p)
                if p.kind == parent_kind
                    && rights.can_access(p.territory_id, p.owner_id, p.user_id) =>
            {
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
        || matches!(kind.scope, Scope::Parent { .. } | Scope::Company { .. })
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

/// Whether records of `kind` are held to the company's settings ([`company_rules`]): a batch of
/// none of them need not read the settings.
pub fn held_to_settings(kind: &KindSchema) -> bool {
    kind.name == kinds::SETTINGS.name || kinds::in_company_currency(kind)
}

/// The rules a merged record is held to by the company's settings: the company has one settings
/// record (another is refused `settings_exist`, unless it is being deleted), and a record that names
/// a currency names the company's (`wrong_currency`, with the field). A company with no settings yet
/// has no currency to hold records to.
pub fn company_rules(
    id: Uuid,
    valid: &Valid,
    settings: Option<&CompanySettings>,
) -> Result<(), Reason> {
    let Some(settings) = settings else {
        return Ok(());
    };
    if valid.kind.name == kinds::SETTINGS.name {
        if settings.id != id && !valid.projection.is_deleted() {
            let msg = format!(
                "the company has its settings already (record {}): edit that record",
                settings.id
            );
            return Err(refusal("settings_exist", msg));
        }
        return Ok(());
    }
    let named = valid.projection.get(kinds::CURRENCY_FIELD).as_str();
    match (&settings.currency, named) {
        (Some(company), Some(currency))
            if kinds::in_company_currency(valid.kind) && company != currency =>
        {
            Err(Reason {
                code: "wrong_currency".into(),
                message: format!(
                    "amounts are in the company's currency, {company}, not {currency}"
                ),
                field: Some(kinds::CURRENCY_FIELD.into()),
            })
        }
        _ => Ok(()),
    }
}

/// Whether the author's changes of an order are moves of its workflow they may make, each judged
/// against the order its author saw (`orders::check_edits`): an agent may not approve, nor change
/// the lines of an order it saw submitted, whether in one change or in concurrent changes under
/// two actors of its device. Two people's concurrent moves, each right from where it stood, pass,
/// and the rules after the merge raise them as a conflict for a manager. A lead converted as stored
/// takes no change of its conversion (`leads::check_edits`): a second conversion is refused.
pub fn workflow(valid: &mut Valid, author: &Author) -> Result<(), Reason> {
    if author.is_system() {
        return Ok(());
    }
    if valid.kind.name == kinds::LEAD.name {
        return sync_core::leads::check_edits(&mut valid.doc, &valid.heads_before).map_err(|e| {
            Reason {
                code: e.code.into(),
                message: e.message,
                field: Some("status".into()),
            }
        });
    }
    if valid.kind.name != kinds::ORDER.name {
        return Ok(());
    }
    orders::check_edits(&mut valid.doc, &valid.heads_before, author.field_role()).map_err(|e| {
        Reason {
            code: e.code.into(),
            message: e.message,
            field: (e.code == "status_not_allowed").then(|| "status".into()),
        }
    })?;
    // Each line is within its bounds, but their products and sums may not be: an order whose
    // totals cannot be computed would escape every rule that reads them.
    orders::totals(&valid.projection)
        .map(drop)
        .map_err(|e| Reason {
            code: e.code().into(),
            message: e.to_string(),
            field: Some("lines".into()),
        })
}

/// How a merged customer changes the customer number it holds (`customer_codes`): None where it
/// does not; `Some(None)` where it gives its number up (cleared, or the customer deleted);
/// `Some(Some(code))` where it takes a number it did not hold, which must be no other customer's
/// (`write::code_taken`).
pub fn code_change<'a>(
    kind: &KindSchema,
    projection: &'a Projection,
    row: Option<&document::Model>,
) -> Option<Option<&'a str>> {
    if kind.name != kinds::CUSTOMER.name {
        return None;
    }
    let after = match projection.is_deleted() {
        true => None,
        false => projection.get("code").as_str(),
    };
    // The listing is parsed only where it can hold a number: most customers have none.
    let before = row
        .filter(|r| r.listing_deleted != Some(true))
        .and_then(|r| r.listing_fields.as_deref())
        .filter(|json| json.contains("\"code\""))
        .and_then(|json| serde_json::from_str::<serde_json::Value>(json).ok());
    let held = before.as_ref().and_then(|b| b["code"].as_str());
    (held != after).then_some(after)
}

/// A customer number another customer holds.
pub fn duplicate_code(code: &str) -> Reason {
    Reason {
        code: "duplicate_code".into(),
        message: format!("customer number `{code}` is another customer's"),
        field: Some("code".into()),
    }
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
        received,
        fields_written,
        lacks_objects,
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
    let user_id = projection.user_key(kind);
    let place = Place {
        territory_id,
        user_id,
    };
    let moved_from = row
        .map(|r| Place {
            territory_id: r.territory_id,
            user_id: r.user_id,
        })
        .filter(|from| *from != place);
    Outcome::Write(Box::new(Write {
        id: reply.id,
        kind,
        is_new: row.is_none(),
        territory_id,
        user_id,
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
        received: received.iter().flat_map(|h| h.0).collect(),
        fields_written,
        lacks_objects,
        // The caller checked the number the record takes, and sets it (`code_change`).
        code: None,
    }))
}

/// A device that lost access to a document while offline may still hand in its edits: they go to a
/// quarantine for a manager instead of being dropped. To prove the device held the document, its base
/// heads must be heads the server knows.
fn quarantine_or_refuse(
    doc: &Prepared,
    stored_kind: &str,
    reply: &Reply,
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
    if !held || refuse || new.is_empty() {
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

#[cfg(test)]
mod tests {
    use automerge::ActorId;
    use sync_core::kinds::{CONTACT, CUSTOMER, PAYMENT, PRODUCT, SETTINGS};
    use sync_core::{Role, Value};

    use super::*;
    use crate::auth::principal::Principal;

    const NORTH: Uuid = Uuid::from_u128(1);
    const SOUTH: Uuid = Uuid::from_u128(2);
    const MAX_DOC_BYTES: usize = 4 << 20;

    fn device(user: u128, role: Role, territories: &[Uuid]) -> Author {
        Author::Device(Principal {
            user_id: Uuid::from_u128(user),
            role,
            device_id: Uuid::from_u128(user + 1000),
            territories: territories.to_vec(),
            checkpoint: 0,
            claimed_device: None,
        })
    }

    /// An agent of the North territory.
    fn agent() -> Author {
        device(10, Role::Agent, &[NORTH])
    }

    fn actor_of(author: &Author) -> ActorId {
        ActorId::from(author.rights().device_id.as_bytes().as_slice())
    }

    fn territories() -> HashMap<String, Uuid> {
        [("North".to_string(), NORTH), ("South".to_string(), SOUTH)].into()
    }

    fn customer(author: &Author, territory: &str) -> AutoCommit {
        let values = [("name", "ACME".into()), ("territory", territory.into())];
        record::create(&CUSTOMER, actor_of(author), &values).expect("a valid customer")
    }

    fn pushed(id: Uuid, kind: &'static KindSchema, changes: Vec<Change>) -> Prepared {
        Prepared {
            id,
            id_ok: true,
            kind: Ok(kind),
            changes: Ok(changes),
            base_heads: vec![],
            group: None,
        }
    }

    /// A new customer in `territory`, pushed by `author`'s device.
    fn new_customer(author: &Author, territory: &str) -> Prepared {
        let changes = customer(author, territory).get_changes(&[]);
        pushed(Uuid::now_v7(), &CUSTOMER, changes)
    }

    /// The stored row of `doc` as a record of `kind` in `territory`, created by `owner`.
    fn row(
        id: Uuid,
        kind: &str,
        doc: &mut AutoCommit,
        territory: Uuid,
        owner: &Author,
    ) -> document::Model {
        let saved = doc.save();
        document::Model {
            id,
            kind: kind.into(),
            territory_id: Some(territory),
            user_id: None,
            owner_id: owner.rights().user_id,
            parent_id: None,
            heads: pack_heads(&doc.get_heads()),
            seq: 1,
            chunk_count: 1,
            chunk_bytes: saved.len() as i64,
            listing_fields: None,
            listing_conflicts: None,
            listing_deleted: None,
            created_at: 1,
            updated_at: 1,
            erased_at: None,
        }
    }

    /// Admits and merges `doc` pushed by `author` onto the stored record `stored` (its row and
    /// document), or onto nothing.
    fn merged(
        doc: &Prepared,
        stored: Option<(&document::Model, AutoCommit)>,
        author: &Author,
        extras: &mut Extras,
    ) -> Merged {
        let row = stored.as_ref().map(|(row, _)| *row);
        let admitted = match admit(doc, row, author) {
            Ok(admitted) => admitted,
            Err(result) => return Merged::Done(*result),
        };
        let am = stored.map_or_else(AutoCommit::new, |(_, am)| am);
        merge(admitted, row, author, am, 0, &[], extras)
    }

    fn valid(merged: Merged) -> Box<Valid> {
        match merged {
            Merged::Valid(valid) => valid,
            Merged::Done(result) | Merged::Known(result, ..) => {
                panic!("not merged: {:?} {:?}", result.status, result.reason)
            }
        }
    }

    fn done(merged: Merged) -> DocResult {
        match merged {
            Merged::Done(result) | Merged::Known(result, ..) => result,
            Merged::Valid(_) => panic!("merged"),
        }
    }

    fn code(result: &DocResult) -> &str {
        result.reason.as_ref().map_or("", |r| r.code.as_str())
    }

    #[test]
    fn a_new_customer_is_stored_whole_in_its_territory_and_owned_by_its_author() {
        let author = agent();
        let doc = new_customer(&author, "North");
        let mut extras = Extras::default();
        let valid = valid(merged(&doc, None, &author, &mut extras));
        let scope = scope(&valid, None, &author, &territories(), None).expect("in scope");
        assert_eq!(scope, (Some(NORTH), None));
        let Outcome::Write(write) = write(
            *valid,
            scope,
            None,
            Uuid::from_u128(10),
            MAX_DOC_BYTES,
            7,
            &mut extras,
        ) else {
            panic!("refused");
        };
        assert!(write.is_new && write.snapshot);
        assert_eq!((write.owner_id, write.created_at), (Uuid::from_u128(10), 7));
        assert_eq!(write.projection.scope_key(&CUSTOMER), Some("North"));
        let mut loaded = AutoCommit::load(&write.data).expect("the snapshot loads");
        assert_eq!(pack_heads(&loaded.get_heads()), write.heads);
    }

    #[test]
    fn changes_made_by_another_actor_are_refused_and_nothing_is_kept() {
        let author = agent();
        let colleague = device(11, Role::Agent, &[NORTH]);
        let doc = new_customer(&colleague, "North");
        let mut extras = Extras::default();
        let result = done(merged(&doc, None, &author, &mut extras));
        assert_eq!(
            (result.status, code(&result)),
            (PushStatus::Rejected, "forged_actor")
        );
        assert!(extras.orphans.is_empty() && extras.quarantine.is_empty());
    }

    #[test]
    fn a_malformed_document_is_refused_before_its_record_is_read() {
        let author = agent();
        let mut doc = pushed(Uuid::from_u128(5), &CUSTOMER, vec![]);
        doc.id_ok = false;
        let result = admit(&doc, None, &author).err().expect("refused");
        assert_eq!(code(&result), "invalid_id");
        doc.id_ok = true;
        doc.kind = kinds_error("invoice");
        assert_eq!(
            code(&admit(&doc, None, &author).err().expect("refused")),
            "unknown_kind"
        );
    }

    fn kinds_error(name: &str) -> Result<&'static KindSchema, Reason> {
        sync_core::kinds::get(name).map_err(|e| reason(&e))
    }

    #[test]
    fn an_edit_of_a_record_the_author_lost_goes_to_the_quarantine_if_it_proves_it_held_it() {
        let author = agent();
        let manager = device(20, Role::Manager, &[SOUTH]);
        let id = Uuid::now_v7();
        // The agent's device holds the record; a manager has since moved it to South.
        let mut held = customer(&author, "North");
        let mut on_server = held.fork().with_actor(actor_of(&manager));
        record::update(&mut on_server, &CUSTOMER, &[("territory", "South".into())]).unwrap();
        let base = held.get_heads();
        record::update(&mut held, &CUSTOMER, &[("phone", "555".into())]).unwrap();
        let edit = held.get_changes(&base);
        let stored = row(id, "customer", &mut on_server, SOUTH, &manager);

        let mut doc = pushed(id, &CUSTOMER, edit.clone());
        let mut extras = Extras::default();
        let result = done(merged(
            &doc,
            Some((&stored, on_server.fork())),
            &author,
            &mut extras,
        ));
        assert_eq!(code(&result), "out_of_scope", "no proof of having held it");
        assert!(result.heads.is_empty(), "nothing of the record is told");
        assert!(extras.quarantine.is_empty());

        doc.base_heads = base.into_iter().map(Hash::from).collect();
        let result = done(merged(
            &doc,
            Some((&stored, on_server)),
            &author,
            &mut extras,
        ));
        assert_eq!(result.status, PushStatus::Quarantined);
        assert!(result.heads.is_empty());
        assert_eq!(extras.quarantine.len(), 1);
        assert_eq!(extras.quarantine[0].reason, quarantine::LOST_ACCESS);
    }

    #[test]
    fn changes_whose_dependencies_are_missing_are_kept_for_the_device() {
        let author = agent();
        let mut am = customer(&author, "North");
        let first = am.get_heads();
        record::update(&mut am, &CUSTOMER, &[("phone", "555".into())]).unwrap();
        let doc = pushed(Uuid::now_v7(), &CUSTOMER, am.get_changes(&first));
        let mut extras = Extras::default();
        let result = done(merged(&doc, None, &author, &mut extras));
        assert_eq!(result.status, PushStatus::MissingDependencies);
        assert_eq!(
            result.missing,
            first.into_iter().map(Hash::from).collect::<Vec<_>>()
        );
        assert_eq!(extras.orphans.len(), 1);
    }

    #[test]
    fn a_push_of_known_changes_gives_the_document_back_untouched() {
        let author = agent();
        let id = Uuid::now_v7();
        let mut am = customer(&author, "North");
        let stored = row(id, "customer", &mut am, NORTH, &author);
        let doc = pushed(id, &CUSTOMER, am.get_changes(&[]));
        let mut extras = Extras::default();
        let Merged::Known(result, mut back, _) =
            merged(&doc, Some((&stored, am)), &author, &mut extras)
        else {
            panic!("not answered as known");
        };
        assert_eq!(result.status, PushStatus::AlreadyKnown);
        assert_eq!(pack_heads(&back.get_heads()), stored.heads);

        let as_contact = pushed(id, &CONTACT, vec![]);
        let stored_doc = customer(&author, "North");
        let result = done(merged(
            &as_contact,
            Some((&stored, stored_doc)),
            &author,
            &mut extras,
        ));
        assert_eq!(code(&result), "kind_mismatch");
    }

    #[test]
    fn an_agent_places_customers_only_in_their_territories_and_in_known_ones() {
        let author = agent();
        let mut extras = Extras::default();
        for (territory, expected) in [("South", "out_of_scope"), ("Atlantis", "unknown_territory")]
        {
            let doc = new_customer(&author, territory);
            let valid = valid(merged(&doc, None, &author, &mut extras));
            let refused = scope(&valid, None, &author, &territories(), None).expect_err("refused");
            assert_eq!(refused.code, expected);
        }
        // A manager of South, and an admin, may put it there.
        for other in [
            device(30, Role::Manager, &[SOUTH]),
            device(40, Role::Admin, &[]),
        ] {
            let doc = new_customer(&other, "South");
            let valid = valid(merged(&doc, None, &other, &mut extras));
            let placed = scope(&valid, None, &other, &territories(), None);
            assert_eq!(placed, Ok((Some(SOUTH), None)));
        }
    }

    #[test]
    fn a_record_stays_where_it_is_when_its_territory_is_not_the_authors() {
        // A manager moved the record into South, which the agent does not hold but still sees as
        // its creator: an edit that leaves the territory alone is in scope.
        let author = agent();
        let id = Uuid::now_v7();
        let mut am = customer(&author, "South");
        let stored = row(id, "customer", &mut am, SOUTH, &author);
        let base = am.get_heads();
        record::update(&mut am, &CUSTOMER, &[("phone", "555".into())]).unwrap();
        let doc = pushed(id, &CUSTOMER, am.get_changes(&base));
        let stored_doc = am.fork_at(&base).unwrap();
        let mut extras = Extras::default();
        let valid = valid(merged(
            &doc,
            Some((&stored, stored_doc)),
            &author,
            &mut extras,
        ));
        let placed = scope(&valid, Some(&stored), &author, &territories(), None);
        assert_eq!(placed, Ok((Some(SOUTH), None)));
    }

    #[test]
    fn a_contact_follows_a_customer_its_author_may_see_and_no_other() {
        let author = agent();
        let customer_id = Uuid::now_v7();
        let values = [
            ("customer_id", Value::Str(customer_id.to_string())),
            ("name", "Ann".into()),
        ];
        let mut contact = record::create(&CONTACT, actor_of(&author), &values).unwrap();
        let doc = pushed(Uuid::now_v7(), &CONTACT, contact.get_changes(&[]));
        let mut extras = Extras::default();
        let valid = valid(merged(&doc, None, &author, &mut extras));
        assert_eq!(parent_id(&CONTACT, &valid.projection), Some(customer_id));
        let parent = |kind: &str, territory| Parent {
            kind: kind.into(),
            territory_id: Some(territory),
            owner_id: Uuid::from_u128(99),
            user_id: None,
        };
        let placed = scope(
            &valid,
            None,
            &author,
            &territories(),
            Some(parent("customer", NORTH)),
        );
        assert_eq!(placed, Ok((Some(NORTH), Some(customer_id))));
        for other in [
            None,
            Some(parent("customer", SOUTH)),
            Some(parent("product", NORTH)),
        ] {
            let refused = scope(&valid, None, &author, &territories(), other).expect_err("refused");
            assert_eq!(refused.code, "unknown_parent");
            assert_eq!(refused.field.as_deref(), Some("customer_id"));
        }
    }

    #[test]
    fn only_managers_and_admins_write_the_catalogue() {
        let manager = device(30, Role::Manager, &[]);
        let values = [("sku", "A-1".into()), ("name", "Tea".into())];
        let mut product = record::create(&PRODUCT, actor_of(&manager), &values).unwrap();
        let doc = pushed(Uuid::now_v7(), &PRODUCT, product.get_changes(&[]));
        let mut extras = Extras::default();
        let valid = valid(merged(&doc, None, &manager, &mut extras));
        assert_eq!(
            scope(&valid, None, &manager, &territories(), None),
            Ok((None, None))
        );
        let refused = scope(&valid, None, &agent(), &territories(), None).expect_err("refused");
        assert_eq!(refused.code, "read_only");
    }

    #[test]
    fn a_record_is_compacted_past_its_chunk_count_and_refused_past_the_size_cap() {
        let author = agent();
        let id = Uuid::now_v7();
        let mut am = customer(&author, "North");
        let mut stored = row(id, "customer", &mut am, NORTH, &author);
        let base = am.get_heads();
        let mut stored_doc = am.fork();
        record::update(
            &mut am,
            &CUSTOMER,
            &[("notes", Value::Str("x".repeat(2000)))],
        )
        .unwrap();
        let doc = pushed(id, &CUSTOMER, am.get_changes(&base));
        let mut write_with = |stored: &document::Model, cap: usize| {
            let mut extras = Extras::default();
            let valid = valid(merged(
                &doc,
                Some((stored, stored_doc.fork())),
                &author,
                &mut extras,
            ));
            let scope = scope(&valid, Some(stored), &author, &territories(), None).unwrap();
            write(
                *valid,
                scope,
                Some(stored),
                Uuid::nil(),
                cap,
                9,
                &mut extras,
            )
        };
        let Outcome::Write(appended) = write_with(&stored, MAX_DOC_BYTES) else {
            panic!("refused");
        };
        assert!(!appended.snapshot && !appended.is_new);
        assert_eq!(appended.chunk_count, 2);
        assert_eq!(
            appended.created_at, 1,
            "a stored record keeps its creation time"
        );

        stored.chunk_count = COMPACT_AFTER_CHUNKS;
        let Outcome::Write(compacted) = write_with(&stored, MAX_DOC_BYTES) else {
            panic!("refused");
        };
        assert!(compacted.snapshot);
        assert_eq!(compacted.chunk_count, 1);
        assert!(
            compacted.doc.is_some(),
            "the compact document is kept for the cache"
        );

        let Outcome::Done(refused) = write_with(&stored, compacted.data.len() - 1) else {
            panic!("written past the cap");
        };
        assert_eq!(code(&refused), "document_too_large");
    }

    /// A new record of `kind` with `values`, pushed and merged by an admin's device.
    fn new_record(kind: &'static KindSchema, values: &[(&str, Value)]) -> (Uuid, Box<Valid>) {
        let admin = device(1, Role::Admin, &[]);
        let doc = record::create(kind, actor_of(&admin), values).expect("valid");
        let id = Uuid::now_v7();
        let prepared = pushed(id, kind, doc.clone().get_changes(&[]));
        (
            id,
            valid(merged(&prepared, None, &admin, &mut Extras::default())),
        )
    }

    #[test]
    fn records_name_the_companys_currency_and_the_company_has_one_settings_record() {
        let payment = |currency: &str| {
            new_record(
                &PAYMENT,
                &[
                    ("customer_id", Value::Str(Uuid::now_v7().to_string())),
                    ("amount", Value::Int(100)),
                    ("currency", currency.into()),
                ],
            )
        };
        let settings = CompanySettings {
            id: Uuid::now_v7(),
            currency: Some("EUR".into()),
        };
        let (id, eur) = payment("EUR");
        assert_eq!(company_rules(id, &eur, Some(&settings)), Ok(()));
        let (id, usd) = payment("USD");
        let refused = company_rules(id, &usd, Some(&settings)).unwrap_err();
        assert_eq!(
            (refused.code.as_str(), refused.field.as_deref()),
            ("wrong_currency", Some("currency"))
        );
        // Before the company has settings, no currency is wrong.
        assert_eq!(company_rules(id, &usd, None), Ok(()));

        let (id, second) = new_record(&SETTINGS, &[("currency", "USD".into())]);
        assert_eq!(
            company_rules(id, &second, Some(&settings))
                .unwrap_err()
                .code,
            "settings_exist"
        );
        assert_eq!(
            company_rules(settings.id, &second, Some(&settings)),
            Ok(()),
            "the settings record itself is edited"
        );
        let (id, deleted) = new_record(
            &SETTINGS,
            &[("currency", "USD".into()), ("deleted", Value::Bool(true))],
        );
        assert_eq!(
            company_rules(id, &deleted, Some(&settings)),
            Ok(()),
            "a second one may be deleted"
        );
        // Only batches holding such records read the settings.
        assert!(held_to_settings(&PAYMENT) && held_to_settings(&SETTINGS));
        assert!(!held_to_settings(&CUSTOMER) && !held_to_settings(&CONTACT));
    }
}
