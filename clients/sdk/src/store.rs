//! The device's durable local store: one SQLite file (WAL, `synchronous=FULL`), or an in-memory
//! database for simulations. Every change of state is one transaction, so a process killed at any
//! point leaves the store as it was before or after that step, never in between.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use automerge::{ActorId, AutoCommit, ChangeHash};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row as _, SqliteConnection, SqlitePool};
use sync_core::protocol::{Hash, Reason};
use sync_core::record::{self, Listing};
use sync_core::{kinds, KindSchema};
use uuid::Uuid;

use crate::Error;

pub async fn open(path: &std::path::Path) -> Result<SqlitePool, Error> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        // What the device deletes or overwrites (a record that left its scope, the old history of
        // a record a person was erased from) is zeroed in the file, not left in free pages.
        .pragma("secure_delete", "ON")
        .busy_timeout(Duration::from_secs(30));
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await?;
    migrate(&pool).await?;
    Ok(pool)
}

/// An in-memory store: one connection that is never closed, since each in-memory connection is a
/// database of its own.
pub async fn in_memory() -> Result<SqlitePool, Error> {
    let options = SqliteConnectOptions::from_str("sqlite::memory:")?;
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options)
        .await?;
    migrate(&pool).await?;
    Ok(pool)
}

/// One step of the store's schema (`PRAGMA user_version` counts the steps taken).
enum Step {
    Sql(&'static [&'static str]),
    /// Lists every record that holds concurrent values again from its document: stores written
    /// before listed the value automerge's `get_all` names first instead of the one its `get` (and
    /// so every automerge client) shows.
    ReprojectConflicts,
}

/// The store's schema, one step per version.
const MIGRATIONS: &[Step] = &[
    Step::Sql(&[
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE records (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            doc BLOB NOT NULL,
            server_has BLOB NOT NULL,
            base_heads BLOB NOT NULL,
            pending INTEGER NOT NULL,
            deleted INTEGER NOT NULL,
            fields TEXT NOT NULL,
            conflicts TEXT NOT NULL,
            rejected TEXT,
            quarantined BLOB NOT NULL,
            in_quarantine INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        )",
        "CREATE INDEX records_kind ON records (kind, deleted)",
        "CREATE INDEX records_pending ON records (pending)",
    ]),
    // The server's heads of a record stored whole as it arrived: every ancestor of them is on the
    // server. Turned into `server_has` when the record is next loaded.
    Step::Sql(&["ALTER TABLE records ADD COLUMN server_heads BLOB NOT NULL DEFAULT x''"]),
    // How many times chunks were appended to `doc` since it was last written whole.
    Step::Sql(&["ALTER TABLE records ADD COLUMN appended INTEGER NOT NULL DEFAULT 0"]),
    Step::ReprojectConflicts,
    // Files captured on the device (photos), kept until the server holds them: the bytes, and the
    // upload under way (its address) or the server's reason for refusing the file.
    Step::Sql(&["CREATE TABLE captures (
            hash TEXT PRIMARY KEY,
            bytes BLOB NOT NULL,
            record_id TEXT NOT NULL,
            upload_url TEXT,
            refused TEXT,
            created_at INTEGER NOT NULL
        )"]),
    // The atomic group a record's pending changes go in (a lead's conversion), until the server
    // takes them.
    Step::Sql(&["ALTER TABLE records ADD COLUMN group_id TEXT"]),
];

/// Brings a store of any earlier version to the current one, a step per transaction.
async fn migrate(pool: &SqlitePool) -> Result<(), Error> {
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(pool)
        .await?;
    for (done, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let mut tx = pool.begin().await?;
        match step {
            Step::Sql(statements) => {
                for stmt in *statements {
                    sqlx::query(stmt).execute(&mut *tx).await?;
                }
            }
            Step::ReprojectConflicts => reproject_conflicts(&mut tx).await?,
        }
        sqlx::query(&format!("PRAGMA user_version = {}", done + 1))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Lists again, from their documents, the records of known kinds whose listing holds conflicts.
/// Only those can list another value than their document shows; a record that does not validate yet
/// (its history still arriving) keeps the listing it has.
async fn reproject_conflicts(conn: &mut SqliteConnection) -> Result<(), Error> {
    let rows: Vec<(String, String, Vec<u8>)> =
        sqlx::query_as("SELECT id, kind, doc FROM records WHERE conflicts <> '[]'")
            .fetch_all(&mut *conn)
            .await?;
    for (id, kind, doc) in rows {
        let Kind::Known(schema) = Kind::of(&kind) else {
            continue;
        };
        let Ok(Ok(projection)) = AutoCommit::load(&doc).map(|d| record::project(&d, schema)) else {
            continue;
        };
        let listing = Listing::of(&projection);
        sqlx::query("UPDATE records SET fields = ?, conflicts = ?, deleted = ? WHERE id = ?")
            .bind(listing.fields)
            .bind(listing.conflicts)
            .bind(listing.deleted)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn get_meta(conn: &mut SqliteConnection, key: &str) -> Result<Option<String>, Error> {
    Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
        .bind(key)
        .fetch_optional(conn)
        .await?)
}

pub async fn set_meta(conn: &mut SqliteConnection, key: &str, value: &str) -> Result<(), Error> {
    sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(key)
        .bind(value)
        .execute(conn)
        .await?;
    Ok(())
}

/// A stored record's kind. A server newer than this app may send records of a kind the app does not
/// know: the device keeps them (their documents, heads and the server's listing) and syncs them like
/// any other, so that nothing stalls the feed and every record is there once the app knows the kind,
/// but it cannot read or edit them until then.
#[derive(Clone, Debug)]
pub enum Kind {
    Known(&'static KindSchema),
    Unknown(String),
}

impl Kind {
    pub fn of(name: &str) -> Kind {
        match kinds::get(name) {
            Ok(schema) => Kind::Known(schema),
            Err(_) => Kind::Unknown(name.to_string()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Kind::Known(schema) => schema.name,
            Kind::Unknown(name) => name,
        }
    }

    /// The schema to read and write the record by; `unknown_kind` for a kind this app does not know.
    pub fn schema(&self) -> Result<&'static KindSchema, Error> {
        match self {
            Kind::Known(schema) => Ok(schema),
            Kind::Unknown(name) => Err(sync_core::Error::UnknownKind(name.clone()).into()),
        }
    }
}

/// One record as stored, with its document loaded.
pub struct StoredRecord {
    pub id: Uuid,
    pub kind: Kind,
    pub doc: AutoCommit,
    /// Hashes of the changes the server has.
    pub server_has: HashSet<ChangeHash>,
    /// Heads of the record when it last had nothing to push.
    pub base_heads: Vec<ChangeHash>,
    pub rejected: Option<Reason>,
    /// Hashes of the changes the server took into its quarantine for a manager's review.
    pub quarantined: HashSet<ChangeHash>,
}

impl StoredRecord {
    pub fn new(id: Uuid, kind: Kind, doc: AutoCommit) -> StoredRecord {
        StoredRecord {
            id,
            kind,
            doc,
            server_has: HashSet::new(),
            base_heads: vec![],
            rejected: None,
            quarantined: HashSet::new(),
        }
    }

    /// The changes the server does not have yet.
    pub fn pending(&mut self) -> Vec<automerge::Change> {
        self.doc
            .get_changes(&[])
            .into_iter()
            .filter(|c| !self.server_has.contains(&c.hash()))
            .collect()
    }
}

fn pack(hashes: impl IntoIterator<Item = ChangeHash>) -> Vec<u8> {
    hashes.into_iter().flat_map(|h| h.0).collect()
}

fn unpack(bytes: &[u8]) -> Vec<ChangeHash> {
    bytes
        .chunks_exact(32)
        .map(|c| ChangeHash(c.try_into().expect("32-byte chunks")))
        .collect()
}

pub async fn load(
    conn: &mut SqliteConnection,
    id: Uuid,
    actor: &ActorId,
) -> Result<Option<StoredRecord>, Error> {
    Ok(load_stored(conn, id, actor)
        .await?
        .map(|(record, _)| record))
}

/// A record with its document's bytes as stored, which `acknowledge` later compares to tell whether
/// the record changed in between.
pub async fn load_stored(
    conn: &mut SqliteConnection,
    id: Uuid,
    actor: &ActorId,
) -> Result<Option<(StoredRecord, Vec<u8>)>, Error> {
    let Some(row) = sqlx::query(
        "SELECT kind, doc, server_has, server_heads, base_heads, rejected, quarantined FROM records WHERE id = ?",
    )
    .bind(id.to_string())
    .fetch_optional(conn)
    .await?
    else {
        return Ok(None);
    };
    let kind = Kind::of(row.get::<&str, _>("kind"));
    let stored: Vec<u8> = row.get("doc");
    let mut doc = AutoCommit::load(&stored)?.with_actor(actor.clone());
    let rejected: Option<String> = row.get("rejected");
    let mut server_has: HashSet<ChangeHash> = unpack(row.get("server_has")).into_iter().collect();
    server_has.extend(ancestors(&mut doc, &unpack(row.get("server_heads"))));
    let record = StoredRecord {
        id,
        kind,
        doc,
        server_has,
        base_heads: unpack(row.get("base_heads")),
        rejected: rejected.and_then(|r| serde_json::from_str(&r).ok()),
        quarantined: unpack(row.get("quarantined")).into_iter().collect(),
    };
    Ok(Some((record, stored)))
}

/// The hashes of `heads` and of every change before them, or none if the document lacks one of them.
pub fn ancestors(doc: &mut AutoCommit, heads: &[ChangeHash]) -> Vec<ChangeHash> {
    if heads.is_empty() || heads.iter().any(|h| doc.get_change_by_hash(h).is_none()) {
        return vec![];
    }
    let after: HashSet<ChangeHash> = doc.get_changes(heads).iter().map(|c| c.hash()).collect();
    doc.get_changes(&[])
        .iter()
        .map(|c| c.hash())
        .filter(|h| !after.contains(h))
        .collect()
}

/// What the device holds of a record, read without loading its document.
pub struct Held {
    pub pending: i64,
    /// The record's heads when it last had nothing to push, sorted.
    pub base_heads: Vec<Hash>,
}

/// What the device holds of these records, by id.
pub async fn held(conn: &mut SqliteConnection, ids: &[Uuid]) -> Result<HashMap<Uuid, Held>, Error> {
    let mut out = HashMap::new();
    // SQLite binds at most 32,766 parameters per statement.
    for part in ids.chunks(10_000) {
        let mut query =
            QueryBuilder::new("SELECT id, pending, base_heads FROM records WHERE id IN (");
        let mut list = query.separated(", ");
        for id in part {
            list.push_bind(id.to_string());
        }
        query.push(")");
        for row in query.build().fetch_all(&mut *conn).await? {
            // Every id asked for is a UUID, so every row found has one.
            let Ok(id) = Uuid::parse_str(row.get::<&str, _>("id")) else {
                continue;
            };
            let mut base_heads: Vec<Hash> = unpack(row.get("base_heads"))
                .into_iter()
                .map(Hash::from)
                .collect();
            base_heads.sort_unstable();
            out.insert(
                id,
                Held {
                    pending: row.get("pending"),
                    base_heads,
                },
            );
        }
    }
    Ok(out)
}

/// A record stored as the server sent it, without loading its document: a record the device lacks,
/// arriving whole (its chunks concatenated load as one document), or one it holds with nothing the
/// server lacks, receiving chunks that bring it to the server's latest state (appended to its stored
/// document). Either way it is listed by the server's listing at `heads`.
pub struct Arrived<'a> {
    pub id: Uuid,
    pub kind: &'a str,
    /// The chunks as one document: borrowed when there is one chunk, as for most records.
    pub doc: Cow<'a, [u8]>,
    pub heads: &'a [Hash],
    pub listing: &'a Listing,
}

/// Stores records the device lacked that arrived whole.
pub async fn insert_whole(
    conn: &mut SqliteConnection,
    records: &[Arrived<'_>],
) -> Result<(), Error> {
    // A first sync stores its pages here, so the columns that are the same for every such record are
    // constants rather than bound values: each bound value is a copy that SQLite allocates and frees.
    // (Parameters stay anonymous: sqlx looks up each numbered one by name, which costs quadratic
    // time in a statement this long.) 9 parameters per row; SQLite binds at most 32,766.
    const ROW: &str = "(?, ?, ?, x'', ?, ?, 0, ?, ?, ?, x'', 0, ?)";
    let now = now_ms();
    for part in records.chunks(2_000) {
        let mut sql = String::from(
            "INSERT INTO records (id, kind, doc, server_has, server_heads, base_heads, pending, deleted, fields, conflicts, quarantined, in_quarantine, updated_at) VALUES ",
        );
        sql.push_str(&vec![ROW; part.len()].join(", "));
        let mut query = sqlx::query(&sql);
        for r in part {
            let heads = pack(r.heads.iter().map(|h| ChangeHash::from(*h)));
            query = query
                .bind(r.id.to_string())
                .bind(r.kind)
                .bind(&*r.doc)
                .bind(heads.clone())
                .bind(heads)
                .bind(r.listing.deleted)
                .bind(r.listing.fields.as_str())
                .bind(r.listing.conflicts.as_str())
                .bind(now);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Appends after which a stored document is written compacted again.
///
/// Appending keeps every byte that arrived: change chunks, and whole documents each time the server
/// compacts a record (the server's `merge::COMPACT_AFTER_CHUNKS`), which repeat all that came before. A
/// record other devices keep editing, never edited here, would grow by a copy of itself each time.
pub const COMPACT_AFTER_APPENDS: i64 = 10;

/// Appends the arrived chunks to held records' stored documents. The caller has checked that each
/// record holds only changes the server has and that the chunks reach the server's latest state of it,
/// so the document then holds exactly the server's changes: those at `heads` and before. Appending,
/// rather than replacing the document by a whole one, keeps every change the device held even if that
/// check were wrong; the chunks load over it as `load_incremental` would. A document appended to
/// `COMPACT_AFTER_APPENDS` times is then loaded and saved again, which keeps every change too.
pub async fn append(conn: &mut SqliteConnection, records: &[Arrived<'_>]) -> Result<(), Error> {
    // One statement per page rather than a read and a write per record: an incremental pull appends
    // to most of the records it touches, and each statement is a round trip to sqlx's SQLite thread.
    // `||` joins the bytes as they are (SQLite calls the result text; the cast makes it a blob
    // again). 6 parameters per row; SQLite binds at most 32,766.
    const ROW: &str = "(?, ?, ?, ?, ?, ?)";
    let now = now_ms();
    for part in records.chunks(2_000) {
        let mut sql = String::from(
            "UPDATE records SET doc = CAST(records.doc || v.column2 AS BLOB), server_has = x'',
               server_heads = v.column3, base_heads = v.column3, deleted = v.column4,
               fields = v.column5, conflicts = v.column6, appended = records.appended + 1,
               updated_at = ?
             FROM (VALUES ",
        );
        sql.push_str(&vec![ROW; part.len()].join(", "));
        sql.push_str(") AS v WHERE records.id = v.column1 RETURNING records.id, records.appended");
        let mut query = sqlx::query_as::<_, (String, i64)>(&sql).bind(now);
        for r in part {
            query = query
                .bind(r.id.to_string())
                .bind(&*r.doc)
                .bind(pack(r.heads.iter().map(|h| ChangeHash::from(*h))))
                .bind(r.listing.deleted)
                .bind(r.listing.fields.as_str())
                .bind(r.listing.conflicts.as_str());
        }
        let appended = query.fetch_all(&mut *conn).await?;
        // The caller holds every one of these records; a missing one is a broken premise, not
        // something to skip.
        if appended.len() != part.len() {
            return Err(sqlx::Error::RowNotFound.into());
        }
        for (id, _) in appended.iter().filter(|(_, n)| *n >= COMPACT_AFTER_APPENDS) {
            compact(conn, id).await?;
        }
    }
    Ok(())
}

/// Writes a record's stored document compacted: loaded and saved, every change kept, nothing else
/// about the record touched.
async fn compact(conn: &mut SqliteConnection, id: &str) -> Result<(), Error> {
    let stored: Vec<u8> = sqlx::query_scalar("SELECT doc FROM records WHERE id = ?")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    let compacted = AutoCommit::load(&stored)?.save();
    sqlx::query("UPDATE records SET doc = ?, appended = 0 WHERE id = ?")
        .bind(compacted)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A pushed record the server acknowledged (applied, or already had): the document it was pushed
/// from, as stored then, and that document's heads.
pub struct Acknowledged<'a> {
    pub id: Uuid,
    pub stored: &'a [u8],
    pub heads: &'a [ChangeHash],
}

/// Marks pushed records as holding nothing the server lacks, without loading their documents, and
/// returns the ids of those marked. The server now has every change up to `heads` (the pushed ones,
/// and the rest it had before), so the record has nothing pending and its server heads are `heads`.
///
/// Only a record whose stored document is still, byte for byte, the one the push was built from is
/// marked: one that changed since (edited, merged from a pull, acknowledged by another push) may hold
/// changes the server lacks, and the caller loads and saves it. Loading, re-projecting and saving
/// every pushed document again was most of a device's CPU in a push.
pub async fn acknowledge(
    conn: &mut SqliteConnection,
    records: &[Acknowledged<'_>],
) -> Result<HashSet<Uuid>, Error> {
    // 3 parameters per row; SQLite binds at most 32,766.
    const ROW: &str = "(?, ?, ?)";
    let now = now_ms();
    let mut marked = HashSet::with_capacity(records.len());
    for part in records.chunks(2_000) {
        let mut sql = String::from(
            "UPDATE records SET server_heads = v.column3, base_heads = v.column3, pending = 0,
               in_quarantine = 0, rejected = NULL, group_id = NULL, updated_at = ?
             FROM (VALUES ",
        );
        sql.push_str(&vec![ROW; part.len()].join(", "));
        sql.push_str(
            ") AS v WHERE records.id = v.column1 AND records.doc = v.column2 RETURNING records.id",
        );
        let mut query = sqlx::query_scalar::<_, String>(&sql).bind(now);
        for r in part {
            query = query
                .bind(r.id.to_string())
                .bind(r.stored)
                .bind(pack(r.heads.iter().copied()));
        }
        for id in query.fetch_all(&mut *conn).await? {
            // Every id bound is a UUID.
            if let Ok(id) = Uuid::parse_str(&id) {
                marked.insert(id);
            }
        }
    }
    Ok(marked)
}

/// Puts the pending changes of `ids` in the atomic group `group`: they are pushed together, and
/// taken or refused together, until the server takes them.
pub async fn set_group(
    conn: &mut SqliteConnection,
    ids: &[Uuid],
    group: Uuid,
) -> Result<(), Error> {
    for id in ids {
        sqlx::query("UPDATE records SET group_id = ? WHERE id = ?")
            .bind(group.to_string())
            .bind(id.to_string())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Writes a record with its derived columns: pending count, projection and conflicts for listing
/// without loading documents.
pub async fn save(conn: &mut SqliteConnection, record: &mut StoredRecord) -> Result<(), Error> {
    let pending_changes = record.pending();
    let pending = pending_changes.len() as i64;
    let in_quarantine = pending_changes
        .iter()
        .filter(|c| record.quarantined.contains(&c.hash()))
        .count() as i64;
    if pending == 0 {
        record.base_heads = record.doc.get_heads();
    }
    // A record pulled in part (its history still arriving) may not validate yet; list it by what
    // can be read, and keep every field as it is in the document. One of a kind this app does not
    // know cannot be read at all: it gets the server's listing when its latest chunk arrives.
    let listing = match record
        .kind
        .schema()
        .map(|kind| record::project(&record.doc, kind))
    {
        Ok(Ok(p)) => Listing::of(&p),
        _ => Listing {
            fields: "{}".into(),
            conflicts: "[]".into(),
            deleted: false,
        },
    };
    sqlx::query(
        "INSERT INTO records (id, kind, doc, server_has, base_heads, pending, deleted, fields, conflicts, rejected, quarantined, in_quarantine, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, server_has = excluded.server_has, server_heads = x'',
           base_heads = excluded.base_heads, pending = excluded.pending, deleted = excluded.deleted,
           fields = excluded.fields, conflicts = excluded.conflicts, rejected = excluded.rejected,
           quarantined = excluded.quarantined, in_quarantine = excluded.in_quarantine,
           group_id = CASE WHEN excluded.pending = 0 THEN NULL ELSE records.group_id END,
           appended = 0, updated_at = excluded.updated_at",
    )
    .bind(record.id.to_string())
    .bind(record.kind.name())
    .bind(record.doc.save())
    .bind(pack(record.server_has.iter().copied()))
    .bind(pack(record.base_heads.iter().copied()))
    .bind(pending)
    .bind(listing.deleted)
    .bind(listing.fields)
    .bind(listing.conflicts)
    .bind(record.rejected.as_ref().map(|r| serde_json::to_string(r).unwrap_or_default()))
    .bind(pack(record.quarantined.iter().copied()))
    .bind(in_quarantine)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
