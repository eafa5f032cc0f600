//! A device's records and the sync loop that exchanges them with the server.
//!
//! Records are automerge documents edited offline through their kind's schema and kept in the
//! device's store ([`crate::store`]). The replica remembers which changes the server has (acknowledged
//! pushes and everything pulled), so a push sends exactly what the server lacks; a record the server
//! refused or quarantined keeps its edits and shows why.
//!
//! Durability: a local edit, the acknowledgement of one pushed batch and one pulled page are each one
//! transaction. Killed after a push but before its acknowledgement is stored, the device pushes the same
//! changes again and the server answers `already_known`; killed mid-pull, it pulls the page again.
//!
//! A server restored from an older backup has forgotten changes it acknowledged. The device keeps a
//! checkpoint, the highest feed position the server told it, and sends it with every push and pull; a
//! server whose record for the device is lower answers `server_restored`, and [`Replica::sync`]
//! pulls the feed from its start, compares every record with the server, marks what the server lacks
//! as pending again, and pushes it (see the server's `checkpoint.rs`).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::RwLock;

use automerge::transaction::CommitOptions;
use automerge::{ActorId, AutoCommit, ChangeHash};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use sqlx::{Row as _, SqlitePool};
use sync_core::protocol::{
    heads_of, DocHeads, DocPush, DocResult, Hash, Limits, LoginResponse, PullRequest, PullResponse,
    PushRequest, PushStatus, Reason, VerifyMode, VerifyRequest, VerifyResponse,
};
use sync_core::record::{self, Conflict, Projection};
use sync_core::schema::DELETED_FIELD;
use sync_core::{inspect, kinds, rewrite, KindSchema, Role, Value};
use uuid::Uuid;

use crate::outbox;
use crate::store::{self, get_meta, set_meta, Kind, StoredRecord};
use crate::{Client, Error};

/// Who this device is, as the server told it at login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub server_url: String,
    pub email: String,
    pub token: String,
    pub device_id: Uuid,
    pub actor_id: String,
    pub user_id: Uuid,
    pub role: Role,
    #[serde(default)]
    pub territories: Vec<String>,
    /// The device's proof that it owns `device_id`, sent back when the store logs in again; None
    /// for a session stored by a version before device secrets, until its next login.
    #[serde(default)]
    pub device_secret: Option<String>,
}

/// A record as listed: its projected fields, without loading its document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordInfo {
    pub id: Uuid,
    pub kind: String,
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub conflicts: Vec<Conflict>,
    /// Changes made on this device that the server has not acknowledged.
    pub pending: usize,
    pub rejected: Option<Reason>,
    /// Some of the pending changes wait in the server's quarantine for a manager.
    pub quarantined: bool,
}

impl RecordInfo {
    /// A text field's value (strings, enums, ids, texts); None if unset.
    pub fn str(&self, field: &str) -> Option<&str> {
        self.fields.get(field).and_then(|v| v.as_str())
    }

    /// A number field's value; None if unset.
    pub fn f64(&self, field: &str) -> Option<f64> {
        self.fields.get(field).and_then(|v| v.as_f64())
    }

    /// An integer or timestamp field's value; None if unset.
    pub fn i64(&self, field: &str) -> Option<i64> {
        self.fields.get(field).and_then(|v| v.as_i64())
    }
}

/// What the device knows about its sync state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// Changes not yet acknowledged by the server.
    pub outbox: usize,
    /// Milliseconds since the epoch of the last sync that finished.
    pub last_sync: Option<i64>,
    pub rejected: Vec<Rejected>,
    /// Records holding concurrent values that someone should resolve.
    pub conflicts: Vec<RecordConflicts>,
    pub quarantined: Vec<Uuid>,
    /// Files captured here the server does not hold yet, with the reason of any it refused.
    pub files: Vec<crate::PendingFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejected {
    pub id: Uuid,
    pub kind: String,
    #[serde(flatten)]
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordConflicts {
    pub id: Uuid,
    pub kind: String,
    pub fields: Vec<String>,
}

/// What one sync round did.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct SyncReport {
    pub pushed_docs: usize,
    pub rejected: Vec<(Uuid, Reason)>,
    pub quarantined: Vec<Uuid>,
    pub missing_dependencies: Vec<Uuid>,
    pub pulled_docs: usize,
    /// Pulled records the device had to load and merge: those it held with changes the server lacks,
    /// or that arrived in part. The others were stored as they came.
    pub merged_docs: usize,
    pub evicted: Vec<Uuid>,
    /// The server's database was restored from an older backup; this sync compared every record
    /// with it and pushed again what it had lost.
    pub restored: bool,
    /// Records with changes the restored server had lost, pushed again.
    pub repushed_docs: usize,
    /// Records whose history the server rewrote (a person in them was erased): the device's copy
    /// was replaced, and its unsent edits re-based on the new history.
    pub rewritten: Vec<Uuid>,
    /// Files (photos) uploaded after the documents.
    pub uploaded_files: usize,
    /// Why the files left waited for the next sync (a network failure), if they did.
    pub files_deferred: Option<String>,
}

/// Progress of a pull, for progress bars.
#[derive(Debug, Clone, Copy)]
pub struct PullProgress {
    pub docs: usize,
    pub pages: usize,
    pub more: bool,
}

/// A record's push, with the document it was built from as stored and that document's heads, and
/// whether it carries all of the record's pending changes or only the first part.
struct Outgoing {
    push: DocPush,
    stored: Vec<u8>,
    heads: Vec<ChangeHash>,
    whole: bool,
}

/// Fault injection for crash tests: a process whose `FIELDSYNC_CRASH_AT` names this point aborts here.
fn crash_point(name: &str) {
    if std::env::var("FIELDSYNC_CRASH_AT").is_ok_and(|v| v == name) {
        std::process::abort();
    }
}

/// A device's records in its durable store.
pub struct Replica {
    pub(crate) pool: SqlitePool,
    actor: RwLock<Option<ActorId>>,
    batch_size: AtomicUsize,
    /// The server's limits, which pushes stay within.
    limits: RwLock<Limits>,
}

impl Replica {
    /// Opens (or creates) the store at `path`.
    pub async fn open(path: &Path) -> Result<Replica, Error> {
        Replica::with_pool(store::open(path).await?).await
    }

    /// A store that lives in memory, for simulations and tests.
    pub async fn in_memory() -> Result<Replica, Error> {
        Replica::with_pool(store::in_memory().await?).await
    }

    async fn with_pool(pool: SqlitePool) -> Result<Replica, Error> {
        let replica = Replica {
            pool,
            actor: RwLock::new(None),
            batch_size: AtomicUsize::new(200),
            limits: RwLock::new(Limits::default()),
        };
        if let Some(session) = replica.session().await? {
            replica.set_actor(&session.actor_id)?;
        }
        Ok(replica)
    }

    fn set_actor(&self, hex_actor: &str) -> Result<(), Error> {
        let bytes = hex::decode(hex_actor).map_err(|_| {
            sync_core::Error::Malformed(format!("`{hex_actor}` is not a hex actor id"))
        })?;
        *self.actor.write().expect("actor lock") = Some(ActorId::from(bytes));
        Ok(())
    }

    pub fn actor(&self) -> Result<ActorId, Error> {
        self.actor
            .read()
            .expect("actor lock")
            .clone()
            .ok_or(Error::NotLoggedIn)
    }

    /// Documents per push request.
    pub fn set_batch_size(&self, n: usize) {
        self.batch_size.store(n.max(1), Ordering::Relaxed);
    }

    /// The limits of a server that does not run with the defaults: pushes stay within them.
    pub fn set_limits(&self, limits: Limits) {
        *self.limits.write().expect("limits lock") = limits;
    }

    /// Logs this device in and stores its session. A store holding unsynced changes cannot change
    /// account or device (they carry this device's actor); a different account starts from empty.
    pub async fn login(
        &self,
        server_url: &str,
        email: &str,
        password: &str,
        device_name: &str,
    ) -> Result<Session, Error> {
        let mut client = Client::new(server_url);
        let email = email.trim().to_lowercase();
        let previous = self.session().await?;
        // The same store logging in again names its device, and keeps it (id, actor, checkpoint),
        // also when a restore of the server lost it: its secret proves it is that device.
        let previous_device = previous
            .as_ref()
            .filter(|p| p.server_url == client.base_url() && p.email == email);
        // Changes not yet synced carry this device's actor and belong to this account: another
        // account or server would wipe them. Logging in again as the same account (an expired
        // token) keeps them, and they sync once it is in.
        let pending = self.outbox_len().await? > 0;
        let not_yet_synced = || -> Error {
            sync_core::Error::Malformed(
                "this device holds changes not yet synced; sync them before it changes account"
                    .into(),
            )
            .into()
        };
        if pending && previous_device.is_none() {
            return Err(not_yet_synced());
        }
        let login: LoginResponse = client
            .login_again(
                &email,
                password,
                device_name,
                previous_device.map(|p| p.device_id),
                previous_device.and_then(|p| p.device_secret.as_deref()),
            )
            .await?;
        let session = Session {
            server_url: client.base_url().to_string(),
            email,
            token: login.token,
            device_id: login.device_id,
            actor_id: login.actor_id,
            user_id: login.user_id,
            role: login.role,
            territories: login.territories,
            device_secret: Some(login.device_secret),
        };
        let same_account = previous
            .as_ref()
            .filter(|p| p.user_id == session.user_id && p.server_url == session.server_url);
        if pending && same_account.is_none() {
            return Err(not_yet_synced());
        }
        let mut tx = self.pool.begin().await?;
        match same_account {
            None => {
                sqlx::query("DELETE FROM records").execute(&mut *tx).await?;
                sqlx::query("DELETE FROM meta").execute(&mut *tx).await?;
            }
            // The server could not tell this store's device from a stranger's (a restore lost it,
            // before the store had its secret) and registered a new one: what the store made
            // under the old device's actor is still its own to hand in.
            Some(p) if p.device_id != session.device_id => {
                let mut former = former_actors(&mut tx).await?;
                former.push(p.actor_id.clone());
                let former = serde_json::to_string(&former).unwrap_or_default();
                set_meta(&mut tx, "former_actors", &former).await?;
            }
            Some(_) => {}
        }
        set_meta(
            &mut tx,
            "session",
            &serde_json::to_string(&session).unwrap_or_default(),
        )
        .await?;
        tx.commit().await?;
        self.set_actor(&session.actor_id)?;
        Ok(session)
    }

    pub async fn session(&self) -> Result<Option<Session>, Error> {
        let mut conn = self.pool.acquire().await?;
        Ok(get_meta(&mut conn, "session")
            .await?
            .and_then(|s| serde_json::from_str(&s).ok()))
    }

    /// A client for the logged-in session.
    pub async fn client(&self) -> Result<Client, Error> {
        let session = self.session().await?.ok_or(Error::NotLoggedIn)?;
        Ok(Client::new(&session.server_url).with_token(session.token))
    }

    /// Uses this session (from another login) for this store, for tests and simulations that log in
    /// through a [`Client`] themselves.
    pub async fn adopt(
        &self,
        server_url: &str,
        email: &str,
        login: &LoginResponse,
    ) -> Result<(), Error> {
        let session = Session {
            server_url: server_url.to_string(),
            email: email.to_string(),
            token: login.token.clone(),
            device_id: login.device_id,
            actor_id: login.actor_id.clone(),
            user_id: login.user_id,
            role: login.role,
            territories: login.territories.clone(),
            device_secret: Some(login.device_secret.clone()),
        };
        let mut conn = self.pool.acquire().await?;
        set_meta(
            &mut conn,
            "session",
            &serde_json::to_string(&session).unwrap_or_default(),
        )
        .await?;
        self.set_actor(&session.actor_id)
    }

    /// Refuses fields this user's role may not write, before anything is committed: the server
    /// would refuse the whole record.
    pub(crate) async fn check_writable(
        &self,
        kind: &KindSchema,
        fields: &[(&str, Value)],
    ) -> Result<(), Error> {
        if let Some(session) = self.session().await? {
            let names = fields.iter().map(|(f, _)| f.to_string()).collect();
            inspect::check_writable(kind, session.role, &names)?;
        }
        Ok(())
    }

    /// Creates a record offline and returns its new id (a UUID v7).
    pub async fn create(&self, kind: &str, fields: &[(&str, Value)]) -> Result<Uuid, Error> {
        let kind = kinds::get(kind)?;
        self.check_writable(kind, fields).await?;
        let doc = record::create(kind, self.actor()?, fields)?;
        let id = Uuid::now_v7();
        let mut conn = self.pool.acquire().await?;
        store::save(
            &mut conn,
            &mut StoredRecord::new(id, Kind::Known(kind), doc),
        )
        .await?;
        Ok(id)
    }

    /// Writes fields of a record offline, checked against its schema first.
    pub async fn update(&self, id: Uuid, fields: &[(&str, Value)]) -> Result<(), Error> {
        let actor = self.actor()?;
        let kind = kinds::get(&self.info(id).await?.kind)?;
        self.check_writable(kind, fields).await?;
        let mut tx = self.pool.begin().await?;
        let mut rec = store::load(&mut tx, id, &actor)
            .await?
            .ok_or(Error::UnknownRecord(id))?;
        record::update(&mut rec.doc, kind, fields)?;
        store::save(&mut tx, &mut rec).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a record: a tombstone that merges with concurrent edits and syncs like any edit.
    pub async fn delete(&self, id: Uuid) -> Result<(), Error> {
        self.update(id, &[(DELETED_FIELD, Value::Bool(true))]).await
    }

    async fn load(&self, id: Uuid) -> Result<StoredRecord, Error> {
        let actor = self
            .actor
            .read()
            .expect("actor lock")
            .clone()
            .unwrap_or_else(ActorId::random);
        let mut conn = self.pool.acquire().await?;
        store::load(&mut conn, id, &actor)
            .await?
            .ok_or(Error::UnknownRecord(id))
    }

    /// The record's fields, read from its document.
    pub async fn get(&self, id: Uuid) -> Result<Projection, Error> {
        let rec = self.load(id).await?;
        Ok(record::project(&rec.doc, rec.kind.schema()?)?)
    }

    /// A copy of the record's document.
    pub async fn doc(&self, id: Uuid) -> Result<AutoCommit, Error> {
        Ok(self.load(id).await?.doc)
    }

    pub async fn heads(&self, id: Uuid) -> Vec<Hash> {
        match self.load(id).await {
            Ok(mut rec) => heads_of(&rec.doc.get_heads()),
            Err(_) => vec![],
        }
    }

    /// Every record id on the device, deleted ones included.
    pub async fn ids(&self) -> Result<Vec<Uuid>, Error> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT id FROM records ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|s| Uuid::parse_str(s).ok())
            .collect())
    }

    /// The ids of the records of one kind on the device, deleted ones included, without reading
    /// their fields.
    pub async fn ids_of(&self, kind: &str) -> Result<Vec<Uuid>, Error> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT id FROM records WHERE kind = ? ORDER BY id")
                .bind(kind)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .iter()
            .filter_map(|s| Uuid::parse_str(s).ok())
            .collect())
    }

    /// One record's listing entry.
    pub async fn info(&self, id: Uuid) -> Result<RecordInfo, Error> {
        let row = sqlx::query("SELECT * FROM records WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| info_of(&r)).ok_or(Error::UnknownRecord(id))
    }

    /// The records of a kind that are not deleted, in creation order (ids are UUID v7).
    pub async fn list(&self, kind: &str) -> Result<Vec<RecordInfo>, Error> {
        kinds::get(kind)?;
        let rows = sqlx::query("SELECT * FROM records WHERE kind = ? AND deleted = 0 ORDER BY id")
            .bind(kind)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(info_of).collect())
    }

    /// The records of a kind that are not deleted and whose fields equal the given values (compared
    /// as text), read from the stored projections without loading documents.
    pub async fn query(
        &self,
        kind: &str,
        filters: &[(&str, &str)],
    ) -> Result<Vec<RecordInfo>, Error> {
        let schema = kinds::get(kind)?;
        let mut sql = String::from("SELECT * FROM records WHERE kind = ? AND deleted = 0");
        for (field, _) in filters {
            if schema.field(field).is_none() {
                return Err(
                    sync_core::Error::Invalid(vec![sync_core::validate::FieldError::new(
                        field,
                        "unknown_field",
                        format!("{kind} has no field `{field}`"),
                    )])
                    .into(),
                );
            }
            sql.push_str(" AND CAST(json_extract(fields, '$.' || ?) AS TEXT) = ?");
        }
        sql.push_str(" ORDER BY id");
        let mut query = sqlx::query(&sql).bind(kind);
        for (field, value) in filters {
            query = query.bind(*field).bind(*value);
        }
        Ok(query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(info_of)
            .collect())
    }

    /// How many changes the server has not acknowledged.
    pub async fn outbox_len(&self) -> Result<usize, Error> {
        let n: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(pending), 0) FROM records")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as usize)
    }

    pub async fn status(&self) -> Result<Status, Error> {
        // Before taking a connection: it takes one of its own, and a store in memory has one.
        let outbox = self.outbox_len().await?;
        let files = self.pending_files().await?;
        let mut conn = self.pool.acquire().await?;
        let last_sync = get_meta(&mut conn, "last_sync")
            .await?
            .and_then(|s| s.parse().ok());
        let rows = sqlx::query("SELECT * FROM records WHERE rejected IS NOT NULL OR in_quarantine > 0 OR conflicts != '[]'")
            .fetch_all(&mut *conn)
            .await?;
        let mut status = Status {
            outbox,
            last_sync,
            rejected: vec![],
            conflicts: vec![],
            quarantined: vec![],
            files,
        };
        for row in &rows {
            let info = info_of(row);
            if let Some(reason) = info.rejected {
                status.rejected.push(Rejected {
                    id: info.id,
                    kind: info.kind.clone(),
                    reason,
                });
            }
            if info.quarantined {
                status.quarantined.push(info.id);
            }
            if !info.conflicts.is_empty() {
                let fields = info.conflicts.iter().map(|c| c.field.clone()).collect();
                status.conflicts.push(RecordConflicts {
                    id: info.id,
                    kind: info.kind,
                    fields,
                });
            }
        }
        Ok(status)
    }

    /// The push request for every record with changes the server lacks.
    pub async fn pending_pushes(&self) -> Result<Vec<DocPush>, Error> {
        let outbox = self.outbox(None, &self.bounds()).await?;
        Ok(outbox.into_iter().map(|o| o.push).collect())
    }

    /// What one push carries: the server's limits, and the batch size.
    fn bounds(&self) -> outbox::Bounds {
        let limits = self.limits.read().expect("limits lock");
        outbox::Bounds::new(&limits, self.batch_size.load(Ordering::Relaxed))
    }

    /// Every record with changes the server lacks (of `only`, if given): its push, of as many of its
    /// changes as one push may carry, and what `store::acknowledge` needs to mark it once the server
    /// has them.
    async fn outbox(
        &self,
        only: Option<&HashSet<Uuid>>,
        bounds: &outbox::Bounds,
    ) -> Result<Vec<Outgoing>, Error> {
        let actor = self.actor()?;
        let mut conn = self.pool.acquire().await?;
        // A group's records next to each other, so that they go in one push.
        let ids: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT id, group_id FROM records WHERE pending > 0 ORDER BY COALESCE(group_id, id), id",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut outbox = Vec::with_capacity(ids.len());
        for (id, group) in ids {
            let Ok(id) = Uuid::parse_str(&id) else {
                continue;
            };
            let group = group.and_then(|g| Uuid::parse_str(&g).ok());
            if only.is_some_and(|only| !only.contains(&id)) {
                continue;
            }
            let Some((mut rec, stored)) = store::load_stored(&mut conn, id, &actor).await? else {
                continue;
            };
            let mut changes = rec.pending();
            if changes.is_empty() {
                continue;
            }
            let part = outbox::first_part(&changes, bounds);
            let whole = part == changes.len();
            changes.truncate(part);
            outbox.push(Outgoing {
                push: DocPush {
                    id,
                    kind: rec.kind.name().to_string(),
                    base_heads: heads_of(&rec.base_heads),
                    changes: changes
                        .iter()
                        .map(|c| ByteBuf::from(c.raw_bytes().to_vec()))
                        .collect(),
                    group,
                },
                stored,
                heads: rec.doc.get_heads(),
                whole,
            });
        }
        Ok(outbox)
    }

    /// Pushes everything pending, then pulls until caught up. A device the server revoked is wiped.
    pub async fn sync(&self, client: &Client) -> Result<SyncReport, Error> {
        self.sync_with_progress(client, &mut |_| {}).await
    }

    pub async fn sync_with_progress(
        &self,
        client: &Client,
        progress: &mut (dyn FnMut(PullProgress) + Send),
    ) -> Result<SyncReport, Error> {
        self.sync_reporting(client, progress, &mut |_| {}).await
    }

    /// [`Replica::sync_with_progress`], telling also how each file's upload comes along.
    pub async fn sync_reporting(
        &self,
        client: &Client,
        progress: &mut (dyn FnMut(PullProgress) + Send),
        files: &mut (dyn FnMut(crate::FileProgress) + Send),
    ) -> Result<SyncReport, Error> {
        let result = async {
            let mut report = match self.push_and_pull(client, progress).await {
                Err(e) if e.code() == Some("server_restored") => {
                    self.start_reconcile().await?;
                    self.push_and_pull(client, progress).await?
                }
                other => other?,
            };
            // Files after the documents that reference them: a record is worth more than its
            // photo, and a reference the server cannot resolve yet is no error. A file whose
            // upload fails on the network waits for the next sync; the documents synced anyway.
            match self.upload_files(client, files).await {
                Ok(n) => report.uploaded_files = n,
                Err(e) if e.is_transient() => report.files_deferred = Some(e.to_string()),
                Err(e) => return Err(e),
            }
            let mut conn = self.pool.acquire().await?;
            set_meta(&mut conn, "last_sync", &store::now_ms().to_string()).await?;
            Ok::<_, Error>(report)
        }
        .await;
        match result {
            Err(e) if e.is_wipe() => {
                self.wipe().await?;
                Err(Error::Wiped)
            }
            other => other,
        }
    }

    /// One round: push, then pull. After a restore was noticed, first the whole feed of the
    /// restored server is pulled, so every head it answers to verify is known here, and the records
    /// are reconciled with it.
    async fn push_and_pull(
        &self,
        client: &Client,
        progress: &mut (dyn FnMut(PullProgress) + Send),
    ) -> Result<SyncReport, Error> {
        let mut restore = SyncReport::default();
        let reconciling = {
            let mut conn = self.pool.acquire().await?;
            get_meta(&mut conn, "reconcile").await?.is_some()
        };
        if reconciling {
            self.pull(client, &mut restore, progress).await?;
            restore.repushed_docs = self.reconcile(client).await?;
            restore.restored = true;
        }
        client.report_outbox(self.outbox_len().await? as u64);
        let mut report = self.push(client).await?;
        // The pull tells the server what the push left waiting.
        client.report_outbox(self.outbox_len().await? as u64);
        report.restored = restore.restored;
        report.repushed_docs = restore.repushed_docs;
        report.pulled_docs = restore.pulled_docs;
        report.evicted = restore.evicted;
        self.pull(client, &mut report, progress).await?;
        Ok(report)
    }

    /// The server answered `server_restored`: its feed positions the device had passed are handed
    /// out again, so the cursor and checkpoint start over, and the records must be reconciled before
    /// the next push. One transaction, so a crash anywhere later still reconciles.
    async fn start_reconcile(&self) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM meta WHERE key IN ('cursor', 'checkpoint')")
            .execute(&mut *tx)
            .await?;
        set_meta(&mut tx, "reconcile", "1").await?;
        tx.commit().await?;
        Ok(())
    }

    /// The highest feed position the server has told this device about.
    async fn checkpoint(&self) -> Result<i64, Error> {
        let mut conn = self.pool.acquire().await?;
        Ok(get_meta(&mut conn, "checkpoint")
            .await?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0))
    }

    /// Pushes every pending change. Records too large for one push go in parts, each once the
    /// server holds the part before.
    pub async fn push(&self, client: &Client) -> Result<SyncReport, Error> {
        let mut report = SyncReport::default();
        let bounds = self.bounds();
        let mut only = None;
        loop {
            let outbox = self.outbox(only.as_ref(), &bounds).await?;
            let parted = self
                .push_outbox(client, &outbox, &bounds, &mut report)
                .await?;
            if parted.is_empty() {
                return Ok(report);
            }
            only = Some(parted);
        }
    }

    /// Pushes `outbox` in batches within `bounds`; answers the records pushed in part whose part the
    /// server took, which have more to push.
    async fn push_outbox(
        &self,
        client: &Client,
        outbox: &[Outgoing],
        bounds: &outbox::Bounds,
        report: &mut SyncReport,
    ) -> Result<HashSet<Uuid>, Error> {
        let actor = self.actor()?;
        let mut parted = HashSet::new();
        let sizes: Vec<usize> = outbox.iter().map(|o| pushed_bytes(&o.push)).collect();
        let joined: Vec<bool> = (0..outbox.len())
            .map(|i| {
                i > 0
                    && outbox[i].push.group.is_some()
                    && outbox[i].push.group == outbox[i - 1].push.group
            })
            .collect();
        for range in outbox::batches(&sizes, &joined, bounds) {
            let batch = &outbox[range];
            let checkpoint = self.checkpoint().await?;
            let response = client
                .push(&PushRequest {
                    docs: batch.iter().map(|o| o.push.clone()).collect(),
                    checkpoint,
                })
                .await?;
            crash_point("after-push");
            report.pushed_docs += batch.len();
            let mut tx = self.pool.begin().await?;
            // Records the server now has whole are marked in one statement; the rest (and any that
            // changed since the push was built) are loaded and saved.
            let taken =
                |r: &DocResult| matches!(r.status, PushStatus::Applied | PushStatus::AlreadyKnown);
            parted.extend(
                batch
                    .iter()
                    .zip(&response.results)
                    .filter(|(o, r)| !o.whole && taken(r))
                    .map(|(_, r)| r.id),
            );
            let acknowledged: Vec<store::Acknowledged> = batch
                .iter()
                .zip(&response.results)
                .filter(|(o, r)| o.whole && taken(r))
                .map(|(o, r)| store::Acknowledged {
                    id: r.id,
                    stored: &o.stored,
                    heads: &o.heads,
                })
                .collect();
            let marked = store::acknowledge(&mut tx, &acknowledged).await?;
            for (sent, result) in batch.iter().map(|o| &o.push).zip(response.results) {
                if marked.contains(&result.id) {
                    continue;
                }
                let Some(mut rec) = store::load(&mut tx, result.id, &actor).await? else {
                    continue;
                };
                match result.status {
                    PushStatus::Applied | PushStatus::AlreadyKnown => {
                        for bytes in &sent.changes {
                            if let Ok(change) = automerge::Change::from_bytes(bytes.to_vec()) {
                                rec.server_has.insert(change.hash());
                            }
                        }
                        rec.rejected = None;
                    }
                    PushStatus::Rejected => {
                        let reason = result.reason.unwrap_or(Reason {
                            code: "rejected".into(),
                            message: String::new(),
                            field: None,
                        });
                        report.rejected.push((result.id, reason.clone()));
                        rec.rejected = Some(reason);
                    }
                    PushStatus::Quarantined => {
                        for bytes in &sent.changes {
                            if let Ok(change) = automerge::Change::from_bytes(bytes.to_vec()) {
                                rec.quarantined.insert(change.hash());
                            }
                        }
                        report.quarantined.push(result.id);
                    }
                    PushStatus::MissingDependencies => {
                        // The server lacks changes these build on, though it may have taken them
                        // once (a repair left out a chunk that no longer opened): it has what its
                        // heads hold, and the next push sends this device's others again. Another
                        // device's changes are that device's to send: the server takes a change
                        // only from its author.
                        let heads: Vec<ChangeHash> =
                            result.heads.iter().map(|h| ChangeHash(h.0)).collect();
                        let mut has: HashSet<ChangeHash> =
                            store::ancestors(&mut rec.doc, &heads).into_iter().collect();
                        has.extend(
                            rec.doc
                                .get_changes(&[])
                                .iter()
                                .filter(|c| c.actor_id() != &actor)
                                .map(|c| c.hash()),
                        );
                        rec.server_has = has;
                        report.missing_dependencies.push(result.id);
                    }
                }
                store::save(&mut tx, &mut rec).await?;
            }
            raise_checkpoint(&mut tx, response.seq).await?;
            tx.commit().await?;
        }
        Ok(parted)
    }

    /// Pulls pages until the server says there is no more. Each page is stored in one transaction
    /// together with its cursor. The next page is requested while this one is stored, so the server
    /// reads a page while the device writes the one before; a page that fails to store discards the
    /// one fetched after it, and the next pull starts from the last stored cursor.
    pub async fn pull(
        &self,
        client: &Client,
        report: &mut SyncReport,
        progress: &mut (dyn FnMut(PullProgress) + Send),
    ) -> Result<(), Error> {
        let actor = self.actor()?;
        let (cursor, reconciling) = {
            let mut conn = self.pool.acquire().await?;
            let cursor = get_meta(&mut conn, "cursor")
                .await?
                .and_then(|c| hex::decode(c).ok())
                .map(ByteBuf::from);
            (cursor, get_meta(&mut conn, "reconcile").await?.is_some())
        };
        let mut checkpoint = self.checkpoint().await?;
        let first = |cursor| PullRequest {
            cursor,
            limit: None,
            checkpoint,
        };
        let resumed = cursor.is_some();
        let mut page = match client.pull(&first(cursor)).await {
            // A cursor the server does not take (issued under a key it no longer holds, or before
            // cursors were authenticated): the feed starts over, and every record arrives again,
            // which changes nothing the device holds. The new cursor is stored with the first page.
            Err(e) if resumed && e.code() == Some("invalid_cursor") => {
                client.pull(&first(None)).await?
            }
            page => page?,
        };
        let mut pages = 0;
        loop {
            checkpoint = checkpoint.max(page.seq);
            let next = PullRequest {
                cursor: Some(page.cursor.clone()),
                limit: None,
                checkpoint,
            };
            let fetch_next = async {
                match page.more {
                    true => Some(client.pull(&next).await),
                    false => None,
                }
            };
            let stored = self.store_page(&page, &actor, reconciling, report);
            let (stored, next) = tokio::join!(stored, fetch_next);
            stored?;
            pages += 1;
            progress(PullProgress {
                docs: report.pulled_docs,
                pages,
                more: page.more,
            });
            match next {
                Some(next) => page = next?,
                None => break,
            }
        }
        if !report.rewritten.is_empty() {
            // The old histories replaced were zeroed in the database file; the write-ahead log
            // still holds their pages until a checkpoint copies it back and truncates it.
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Stores one page of the feed, with its cursor, in one transaction.
    async fn store_page(
        &self,
        page: &PullResponse,
        actor: &ActorId,
        reconciling: bool,
        report: &mut SyncReport,
    ) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        // Records the device already holds at the server's heads need nothing. Records it lacks that
        // arrive whole are stored as they came; records it holds with nothing the server lacks get the
        // chunks that reach the server's latest state appended. Only the rest are loaded and merged.
        // While reconciling with a restored server, a held record may hold changes the server lost
        // although none is pending yet: every held record is merged then.
        let ids: Vec<Uuid> = page.docs.iter().map(|d| d.id).collect();
        let held = store::held(&mut tx, &ids).await?;
        let mut whole = Vec::new();
        let mut appended = Vec::new();
        let mut merge = Vec::new();
        let mut rewritten = Vec::new();
        for update in &page.docs {
            let holds = held.get(&update.id);
            let settled = holds.is_some_and(|h| h.pending == 0) && !reconciling;
            let arrived = |listing| store::Arrived {
                id: update.id,
                kind: &update.kind,
                doc: concat(&update.chunks),
                heads: &update.heads,
                listing,
            };
            match (&update.listing, &update.tip_listing) {
                _ if update.rewritten && holds.is_some() => rewritten.push(update),
                _ if update.heads.is_empty() => merge.push(update),
                _ if settled && holds.is_some_and(|h| h.base_heads == update.heads) => {}
                (Some(listing), _) if holds.is_none() => whole.push(arrived(listing)),
                (Some(listing), _) | (None, Some(listing)) if settled => {
                    appended.push(arrived(listing))
                }
                _ => merge.push(update),
            }
        }
        report.pulled_docs += page.docs.len();
        store::insert_whole(&mut tx, &whole).await?;
        store::append(&mut tx, &appended).await?;
        for update in rewritten {
            if replace(&mut tx, update, actor).await? {
                report.rewritten.push(update.id);
            } else {
                merge.push(update);
            }
        }
        report.merged_docs += merge.len();
        for update in merge {
            let mut rec = match store::load(&mut tx, update.id, actor).await? {
                Some(rec) => rec,
                None => StoredRecord::new(
                    update.id,
                    Kind::of(&update.kind),
                    AutoCommit::new().with_actor(actor.clone()),
                ),
            };
            let before = rec.doc.get_heads();
            for chunk in &update.chunks {
                rec.doc.load_incremental(chunk)?;
            }
            let arrived: Vec<ChangeHash> = rec
                .doc
                .get_changes(&before)
                .iter()
                .map(|c| c.hash())
                .collect();
            rec.server_has.extend(arrived);
            store::save(&mut tx, &mut rec).await?;
        }
        for id in &page.evict {
            // A record with edits the server has neither stored nor quarantined stays until they
            // are handed in.
            let deleted =
                sqlx::query("DELETE FROM records WHERE id = ? AND pending = in_quarantine")
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
            if deleted.rows_affected() > 0 {
                report.evicted.push(*id);
            }
        }
        set_meta(&mut tx, "cursor", &hex::encode(&page.cursor)).await?;
        raise_checkpoint(&mut tx, page.seq).await?;
        crash_point("mid-pull");
        tx.commit().await?;
        Ok(())
    }

    /// Asks the server which of this device's records differ from its copies.
    pub async fn verify(&self, client: &Client) -> Result<VerifyResponse, Error> {
        let mut docs = Vec::new();
        for id in self.ids().await? {
            docs.push(DocHeads {
                id,
                heads: self.heads(id).await,
            });
        }
        // Well under the server's bound on the records of one verify.
        let mut parts = docs.chunks(10_000).peekable();
        let mut all = client
            .verify(&VerifyRequest {
                mode: VerifyMode::Docs,
                scope_digest: None,
                docs: parts.next().map(<[_]>::to_vec).unwrap_or_default(),
            })
            .await?;
        for part in parts {
            let response = client
                .verify(&VerifyRequest {
                    mode: VerifyMode::Docs,
                    scope_digest: None,
                    docs: part.to_vec(),
                })
                .await?;
            all.in_sync &= response.in_sync;
            all.differing.extend(response.differing);
            all.unknown.extend(response.unknown);
        }
        Ok(all)
    }

    /// After the server answered `server_restored` and its feed was pulled: finds out what the server
    /// really holds of each record and marks every change of this device it lacks as pending again.
    /// Answers how many records have changes to push again. One transaction, which also ends the
    /// reconciliation.
    ///
    /// Changes made by other devices stay counted as the server's: the server takes a change only from
    /// the device that made it (changes carry no signature), so each device re-pushes its own, and
    /// those it made as a device the server no longer knows (which the server holds for a manager).
    async fn reconcile(&self, client: &Client) -> Result<usize, Error> {
        let actor = self.actor()?;
        let mut own = vec![actor.to_bytes().to_vec()];
        {
            let mut conn = self.pool.acquire().await?;
            own.extend(
                former_actors(&mut conn)
                    .await?
                    .iter()
                    .filter_map(|hex_actor| hex::decode(hex_actor).ok()),
            );
        }
        let verify = self.verify(client).await?;
        let differing: HashMap<Uuid, Vec<Hash>> = verify
            .differing
            .into_iter()
            .map(|d| (d.id, d.heads))
            .collect();
        let unknown: HashSet<Uuid> = verify.unknown.into_iter().collect();
        let ids = self.ids().await?;
        let mut repushed = 0;
        let mut tx = self.pool.begin().await?;
        for id in ids {
            let Some(mut rec) = store::load(&mut tx, id, &actor).await? else {
                continue;
            };
            let pending_before = rec.pending().len();
            let changes = rec.doc.get_changes(&[]);
            let mut server_has: HashSet<ChangeHash> = match differing.get(&id) {
                Some(heads) => {
                    // Every head was pulled just before; one pushed since by another device is left
                    // out, and the changes under it are pushed again and answered `already_known`.
                    let known: Vec<ChangeHash> = heads
                        .iter()
                        .map(|h| ChangeHash::from(*h))
                        .filter(|h| rec.doc.get_change_by_hash(h).is_some())
                        .collect();
                    store::ancestors(&mut rec.doc, &known).into_iter().collect()
                }
                None if unknown.contains(&id) => HashSet::new(),
                None => changes.iter().map(|c| c.hash()).collect(),
            };
            server_has.extend(
                changes
                    .iter()
                    .filter(|c| {
                        let actor = c.actor_id().to_bytes();
                        !own.iter().any(|own| actor.starts_with(own))
                    })
                    .map(|c| c.hash()),
            );
            rec.server_has = server_has;
            if rec.pending().len() > pending_before {
                repushed += 1;
            }
            store::save(&mut tx, &mut rec).await?;
        }
        sqlx::query("DELETE FROM meta WHERE key = 'reconcile'")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(repushed)
    }

    /// Deletes every record and the session (remote wipe).
    pub async fn wipe(&self) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM records").execute(&mut *tx).await?;
        sqlx::query("DELETE FROM meta").execute(&mut *tx).await?;
        tx.commit().await?;
        *self.actor.write().expect("actor lock") = None;
        Ok(())
    }
}

/// Replaces a held record by the start of its rewritten history (`update`), re-basing on it the
/// edits the server does not have (pending, refused or quarantined ones) as one change marked
/// `rewrite::REBASED`; the old document, erased values and all, is overwritten (the store deletes
/// securely). False when the device's copy already is of the new history: the caller merges it.
async fn replace(
    conn: &mut sqlx::SqliteConnection,
    update: &sync_core::protocol::DocUpdate,
    actor: &ActorId,
) -> Result<bool, Error> {
    let Some(mut held) = store::load(conn, update.id, actor).await? else {
        return Ok(false);
    };
    let mut doc = AutoCommit::new().with_actor(actor.clone());
    for chunk in &update.chunks {
        doc.load_incremental(chunk)?;
    }
    if held
        .server_has
        .iter()
        .all(|h| doc.get_change_by_hash(h).is_some())
    {
        return Ok(false);
    }
    let pending = held.pending();
    let edited = rewrite::edited_fields(&held.doc, &pending)?;
    let server_has = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
    if !edited.is_empty() {
        rewrite::copy_fields(&held.doc, &mut doc, &edited)?;
        doc.commit_with(CommitOptions::default().with_message(rewrite::REBASED.to_string()));
    }
    let mut record = StoredRecord {
        server_has,
        ..StoredRecord::new(update.id, held.kind, doc)
    };
    store::save(conn, &mut record).await?;
    Ok(true)
}

/// The actors (hex) of the devices this store was before its current one, when the server gave it a
/// new device in place of the one it named at login (see [`Replica::login`]).
async fn former_actors(conn: &mut sqlx::SqliteConnection) -> Result<Vec<String>, Error> {
    Ok(get_meta(conn, "former_actors")
        .await?
        .and_then(|f| serde_json::from_str(&f).ok())
        .unwrap_or_default())
}

/// Keeps the highest feed position the server has told this device about, in the transaction that
/// stores what the server said.
async fn raise_checkpoint(conn: &mut sqlx::SqliteConnection, seq: i64) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO meta (key, value) VALUES ('checkpoint', ?) ON CONFLICT (key) DO UPDATE
         SET value = excluded.value WHERE CAST(meta.value AS INTEGER) < CAST(excluded.value AS INTEGER)",
    )
    .bind(seq.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

fn info_of(row: &sqlx::sqlite::SqliteRow) -> RecordInfo {
    let fields: serde_json::Value =
        serde_json::from_str(row.get::<&str, _>("fields")).unwrap_or_default();
    let rejected: Option<String> = row.get("rejected");
    RecordInfo {
        id: Uuid::parse_str(row.get::<&str, _>("id")).unwrap_or_default(),
        kind: row.get("kind"),
        fields: match fields {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        },
        conflicts: serde_json::from_str(row.get::<&str, _>("conflicts")).unwrap_or_default(),
        pending: row.get::<i64, _>("pending") as usize,
        rejected: rejected.and_then(|r| serde_json::from_str(&r).ok()),
        quarantined: row.get::<i64, _>("in_quarantine") > 0,
    }
}

/// A document's chunks as one byte string, which loads as the document.
fn concat(chunks: &[ByteBuf]) -> Cow<'_, [u8]> {
    match chunks {
        [one] => Cow::Borrowed(one),
        _ => {
            let mut doc = Vec::with_capacity(chunks.iter().map(|c| c.len()).sum());
            for chunk in chunks {
                doc.extend_from_slice(chunk);
            }
            Cow::Owned(doc)
        }
    }
}

/// About the bytes a record's push takes in the message: its changes, and what frames them.
fn pushed_bytes(push: &DocPush) -> usize {
    const FRAMING: usize = 128;
    push.changes.iter().map(|c| c.len() + 5).sum::<usize>() + 34 * push.base_heads.len() + FRAMING
}
