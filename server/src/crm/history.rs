//! The history of a record's fields (`GET /v1/records/{id}/history`) and the record as it stood at
//! a past moment (`GET /v1/records/{id}?at=`), derived from the record's automerge changes, the
//! time the server received each (the receipts of its chunks), and who each change's actor is: a device's
//! actor starts with the device's id, bound to its user at login, so it cannot be forged; the
//! server's own actors are recorded with the person they acted for (`server_actors`).

use std::collections::{HashMap, HashSet};

use automerge::{ActorId, Change, ChangeHash};
use sea_orm::sea_query::{Alias, Expr, Order, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use sync_core::history::{self, DeviceRef, History, HistoryEntry, Person};
use sync_core::{kinds, FieldType, KindSchema};
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::crm::records::Record;
use crate::db::entities::{device, document, user};
use crate::db::BuildWith;
use crate::error::Error;
use crate::seal::{Sealed, Vault};
use crate::sync::write::find_document;

/// The most bytes of entries one answer holds: a long note edited many times shows its whole text
/// before and after each edit.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;
/// The most entries one answer holds.
pub const MAX_ENTRIES: usize = 1000;

/// What a history request asks for.
pub struct Ask<'a> {
    /// Entries numbered below this (the `next_before` of the previous answer); None: the newest.
    pub before: Option<usize>,
    pub limit: usize,
    /// Only entries that changed this field (or, for items, a field of one of them).
    pub field: Option<&'a str>,
}

/// The history of record `id`, if `who` may read it: managers and admins the records they see,
/// agents the ones they see that are theirs.
pub async fn history(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    who: &Principal,
    id: Uuid,
    ask: &Ask<'_>,
) -> Result<History, Error> {
    let (row, kind) = readable(conn, who, id).await?;
    let changes = received(conn, vault, &row).await?;
    let total = changes.len();
    let meta: Vec<(ChangeHash, ActorId, Option<i64>, i64)> = changes
        .iter()
        .map(|(c, at)| (c.hash(), c.actor_id().clone(), *at, c.timestamp()))
        .collect();
    let before = ask.before.unwrap_or(usize::MAX);
    let limit = ask.limit.clamp(1, MAX_ENTRIES);
    let field = ask.field.map(str::to_string);
    let replayed = tokio::task::spawn_blocking(move || {
        let window = history::Window {
            before,
            limit,
            max_bytes: MAX_ANSWER_BYTES,
            field: field.as_deref(),
        };
        history::replay(changes.into_iter().map(|(c, _)| c).collect(), &window)
    })
    .await
    .map_err(|e| Error::Internal(format!("history replay: {e}")))?
    .map_err(|e| unreadable(id, e))?;
    let authors = Authors::load(conn, meta.iter().map(|(_, a, _, _)| a)).await?;
    let next_before = replayed
        .older
        .then(|| replayed.steps.first().map(|s| s.n))
        .flatten();
    let entries = replayed
        .steps
        .into_iter()
        .rev()
        .map(|step| {
            let (hash, actor, received_at, device_time) = &meta[step.n - 1];
            let (user, device, via) = authors.who(actor);
            HistoryEntry {
                n: step.n,
                change: hash.to_string(),
                received_at: *received_at,
                device_time: (*device_time > 0).then_some(*device_time * 1000),
                user,
                device,
                via,
                fields: step.fields,
            }
        })
        .collect();
    Ok(History {
        id,
        kind: kind.name.to_string(),
        total,
        entries,
        next_before,
    })
}

/// The record as it stood at `at` (milliseconds), from the changes the server had received by
/// then; NotFound if it did not exist yet. Changes received before the server kept receipts count
/// as received when the record was first stored.
pub async fn at(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    who: &Principal,
    id: Uuid,
    at: i64,
) -> Result<Record, Error> {
    let (row, kind) = readable(conn, who, id).await?;
    let changes: Vec<(Change, Option<i64>)> = received(conn, vault, &row).await?;
    let mut last = None;
    let kept: Vec<Change> = changes
        .into_iter()
        .filter(|(_, t)| t.unwrap_or(row.created_at) <= at)
        .map(|(c, t)| {
            last = last.max(Some(t.unwrap_or(row.created_at)));
            c
        })
        .collect();
    let Some(updated_at) = last else {
        return Err(Error::NotFound(format!(
            "record {id} did not exist yet at {at}"
        )));
    };
    let projection = tokio::task::spawn_blocking(move || {
        let doc = history::rebuild(kept)?;
        sync_core::record::project(&doc, kind)
    })
    .await
    .map_err(|e| Error::Internal(format!("record at a past time: {e}")))?
    .map_err(|e| unreadable(id, e))?;
    let listing = sync_core::record::Listing::of(&projection);
    let mut fields: serde_json::Value = serde_json::from_str(&listing.fields)
        .map_err(|e| Error::Internal(format!("a listing is not JSON: {e}")))?;
    if let Some(map) = fields.as_object_mut() {
        for spec in kind.fields {
            map.entry(spec.name).or_insert(serde_json::Value::Null);
        }
    }
    Ok(Record {
        id,
        kind: kind.name.to_string(),
        fields,
        conflicts: serde_json::to_value(&projection.conflicts)
            .map_err(|e| Error::Internal(format!("conflicts: {e}")))?,
        deleted: listing.deleted,
        updated_at,
    })
}

fn unreadable(id: Uuid, e: sync_core::Error) -> Error {
    Error::Conflict(format!("record {id}'s history cannot be read: {e}"))
}

/// The record's row and kind, if `who` may read its history; NotFound otherwise (the two are not
/// told apart).
async fn readable(
    conn: &impl ConnectionTrait,
    who: &Principal,
    id: Uuid,
) -> Result<(document::Model, &'static KindSchema), Error> {
    let not_found = || Error::NotFound(format!("no record {id}"));
    let row = find_document(conn, id, false)
        .await?
        .filter(|row| who.can_see(row))
        .ok_or_else(not_found)?;
    let kind = kinds::get(&row.kind).map_err(|_| not_found())?;
    if who.role == sync_core::Role::Agent && !is_theirs(&row, kind, who.user_id) {
        return Err(not_found());
    }
    Ok((row, kind))
}

/// Whether an agent's record: one they created, or one whose person fields (a customer's owner,
/// an order's agent, a task's assignee...) name them.
fn is_theirs(row: &document::Model, kind: &KindSchema, user: Uuid) -> bool {
    if row.owner_id == user {
        return true;
    }
    let fields: serde_json::Value = row
        .listing_fields
        .as_deref()
        .and_then(|f| serde_json::from_str(f).ok())
        .unwrap_or_default();
    let user = user.to_string();
    kind.fields
        .iter()
        .filter(|f| f.ty == FieldType::Reference("user"))
        .any(|f| fields[f.name].as_str() == Some(user.as_str()))
}

/// A change's place in the order of receipt (its chunk's feed position, then its place among the
/// chunk's receipts) and the time the server received it.
type Receipt = ((i64, usize), i64);

/// The record's changes, each after those it depends on, in the order the server received them,
/// with the time it did.
pub(crate) async fn received(
    conn: &impl ConnectionTrait,
    vault: &Vault,
    row: &document::Model,
) -> Result<Vec<(Change, Option<i64>)>, Error> {
    // One read of the chunks gives both the document and the receipts they carry.
    let stmt = Query::select()
        .columns(["seq", "data", "receipts"].map(Alias::new))
        .from(Alias::new("doc_chunks"))
        .and_where(Expr::col(Alias::new("doc_id")).eq(row.id))
        .order_by(Alias::new("seq"), Order::Asc)
        .to_owned();
    let rows = conn.query_all(stmt.build_with(conn)).await?;
    let mut chunks = Vec::with_capacity(rows.len());
    // Each change's place in the order of receipt (its chunk's position, then its place in the
    // chunk's receipts, where a snapshot keeps those of the chunks it replaced first) and time.
    let mut receipts: HashMap<[u8; 32], Receipt> = HashMap::new();
    for r in &rows {
        let seq: i64 = r.try_get("", "seq")?;
        let mut data: Vec<u8> = r.try_get("", "data")?;
        vault.open_in_place(Sealed::Chunk(row.id), &mut data)?;
        chunks.push(data);
        let blob: Option<Vec<u8>> = r.try_get("", "receipts")?;
        for (i, entry) in blob.unwrap_or_default().chunks_exact(40).enumerate() {
            let hash: [u8; 32] = entry[..32].try_into().expect("32 bytes");
            let at = i64::from_be_bytes(entry[32..].try_into().expect("8 bytes"));
            receipts.insert(hash, ((seq, i), at));
        }
    }
    let mut doc = sync_core::structure::load_chunks(chunks.iter().map(Vec::as_slice))
        .map_err(|e| Error::Conflict(format!("record {} does not load: {e}", row.id)))?;
    // `get_changes` lists each change after its dependencies; so does the order of receipt, since
    // the server stores no change before those it depends on. Sorting the first by the second
    // (stable: one write's changes keep their order) gives the order the server merged them in.
    let mut changes: Vec<(Change, Option<Receipt>)> = doc
        .get_changes(&[])
        .into_iter()
        .map(|c| {
            let receipt = receipts.get(&c.hash().0).copied();
            (c.clone(), receipt)
        })
        .collect();
    changes.sort_by_key(|(_, r)| r.map_or((i64::MIN, 0), |(place, _)| place));
    Ok(changes
        .into_iter()
        .map(|(c, r)| (c, r.map(|(_, at)| at)))
        .collect())
}

/// Who the actors of a record's changes are.
pub(crate) struct Authors {
    /// Server actors: the person (None for the server's own rules) and why it wrote.
    server: HashMap<Vec<u8>, (Option<Uuid>, String)>,
    devices: HashMap<Uuid, (Uuid, String)>,
    emails: HashMap<Uuid, String>,
}

impl Authors {
    pub(crate) async fn load(
        conn: &impl ConnectionTrait,
        actors: impl Iterator<Item = &ActorId>,
    ) -> Result<Authors, Error> {
        let actors: HashSet<Vec<u8>> = actors.map(|a| a.to_bytes().to_vec()).collect();
        let mut server = HashMap::new();
        let stmt = Query::select()
            .columns(["actor", "user_id", "purpose"].map(Alias::new))
            .from(Alias::new("server_actors"))
            .and_where(Expr::col(Alias::new("actor")).is_in(actors.iter().cloned()))
            .to_owned();
        for r in conn.query_all(stmt.build_with(conn)).await? {
            let user: Uuid = r.try_get("", "user_id")?;
            server.insert(
                r.try_get::<Vec<u8>>("", "actor")?,
                ((!user.is_nil()).then_some(user), r.try_get("", "purpose")?),
            );
        }
        let device_ids: Vec<Uuid> = actors
            .iter()
            .filter(|a| !server.contains_key(*a))
            .filter_map(|a| Uuid::from_slice(a.get(..16)?).ok())
            .collect();
        let devices: HashMap<Uuid, (Uuid, String)> = device::Entity::find()
            .filter(device::Column::Id.is_in(device_ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|d| (d.id, (d.user_id, d.name)))
            .collect();
        let people: HashSet<Uuid> = server
            .values()
            .filter_map(|(u, _)| *u)
            .chain(devices.values().map(|(u, _)| *u))
            .collect();
        let emails = user::Entity::find()
            .filter(user::Column::Id.is_in(people))
            .all(conn)
            .await?
            .into_iter()
            .map(|u| (u.id, u.email))
            .collect();
        Ok(Authors {
            server,
            devices,
            emails,
        })
    }

    fn person(&self, id: Uuid) -> Person {
        Person {
            id,
            email: self.emails.get(&id).cloned(),
        }
    }

    /// The person an actor's changes are by (None for the server's rules and unknown actors), and
    /// why: a server actor's purpose, or `device`.
    pub(crate) fn author_of(&self, actor: &ActorId) -> (Option<Uuid>, String) {
        let (person, _, via) = self.who(actor);
        (person.map(|p| p.id), via)
    }

    fn who(&self, actor: &ActorId) -> (Option<Person>, Option<DeviceRef>, String) {
        let bytes = actor.to_bytes();
        if let Some((user, purpose)) = self.server.get(bytes) {
            return (user.map(|u| self.person(u)), None, purpose.clone());
        }
        let device = bytes
            .get(..16)
            .and_then(|b| Uuid::from_slice(b).ok())
            .and_then(|id| Some((id, self.devices.get(&id)?)));
        match device {
            Some((id, (user, name))) => (
                Some(self.person(*user)),
                Some(DeviceRef {
                    id,
                    name: name.clone(),
                }),
                "device".into(),
            ),
            None => (None, None, "unknown".into()),
        }
    }
}
