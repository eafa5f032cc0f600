//! A device's records and the sync loop that exchanges them with the server.
//!
//! Each record is an automerge document edited through its kind's schema. The replica remembers which
//! changes the server is known to have (acknowledged pushes and everything pulled), so a push sends
//! exactly the changes the server lacks, and a rejected or quarantined record keeps its edits.

use std::collections::{BTreeMap, HashSet};

use automerge::{ActorId, AutoCommit, ChangeHash};
use serde_bytes::ByteBuf;
use sync_core::protocol::{
    heads_of, DocHeads, DocPush, PullRequest, PushRequest, PushStatus, Reason, VerifyMode,
    VerifyRequest, VerifyResponse,
};
use sync_core::record::{self, Projection};
use sync_core::{kinds, KindSchema, Value};
use uuid::Uuid;

use crate::{Client, Error};

/// One record on the device.
pub struct Record {
    pub kind: &'static KindSchema,
    pub doc: AutoCommit,
    /// Hashes of the changes the server has.
    server_has: HashSet<ChangeHash>,
    /// Heads of the record when it last matched the server.
    base_heads: Vec<ChangeHash>,
    /// Why the server refused the record's pending changes, until a later push is accepted.
    pub rejected: Option<Reason>,
    pub quarantined: bool,
}

impl Record {
    fn new(kind: &'static KindSchema, doc: AutoCommit) -> Record {
        Record {
            kind,
            doc,
            server_has: HashSet::new(),
            base_heads: vec![],
            rejected: None,
            quarantined: false,
        }
    }

    /// The changes the server does not have yet.
    fn pending(&mut self) -> Vec<automerge::Change> {
        self.doc
            .get_changes(&[])
            .into_iter()
            .filter(|c| !self.server_has.contains(&c.hash()))
            .collect()
    }

    fn mark_synced_if_clean(&mut self) {
        if self.pending().is_empty() {
            self.base_heads = self.doc.get_heads();
        }
    }
}

/// What one sync round did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SyncReport {
    pub pushed_docs: usize,
    pub rejected: Vec<(Uuid, Reason)>,
    pub quarantined: Vec<Uuid>,
    pub missing_dependencies: Vec<Uuid>,
    pub pulled_docs: usize,
    pub evicted: Vec<Uuid>,
}

/// A device's records, kept in memory.
pub struct Replica {
    actor: ActorId,
    pub records: BTreeMap<Uuid, Record>,
    pub cursor: Option<ByteBuf>,
    /// Documents pushed per request.
    pub batch_size: usize,
}

impl Replica {
    /// A replica whose edits carry `actor` (the `actor_id` the server returned at login).
    pub fn new(actor: ActorId) -> Replica {
        Replica {
            actor,
            records: BTreeMap::new(),
            cursor: None,
            batch_size: 200,
        }
    }

    pub fn from_hex_actor(actor_hex: &str) -> Result<Replica, Error> {
        let bytes = hex::decode(actor_hex).map_err(|_| {
            sync_core::Error::Malformed(format!("`{actor_hex}` is not a hex actor id"))
        })?;
        Ok(Replica::new(ActorId::from(bytes)))
    }

    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// Creates a record offline and returns its new id (a UUID v7).
    pub fn create(&mut self, kind: &str, fields: &[(&str, Value)]) -> Result<Uuid, Error> {
        let kind = kinds::get(kind)?;
        let doc = record::create(kind, self.actor.clone(), fields)?;
        let id = Uuid::now_v7();
        self.records.insert(id, Record::new(kind, doc));
        Ok(id)
    }

    /// Writes fields of a record offline, checked against its schema first.
    pub fn update(&mut self, id: Uuid, fields: &[(&str, Value)]) -> Result<(), Error> {
        let record = self.records.get_mut(&id).ok_or(Error::UnknownRecord(id))?;
        record::update(&mut record.doc, record.kind, fields)?;
        Ok(())
    }

    /// The record's fields as the device sees them now.
    pub fn get(&self, id: Uuid) -> Result<Projection, Error> {
        let record = self.records.get(&id).ok_or(Error::UnknownRecord(id))?;
        Ok(record::project(&record.doc, record.kind)?)
    }

    pub fn heads(&mut self, id: Uuid) -> Vec<sync_core::protocol::Hash> {
        self.records
            .get_mut(&id)
            .map(|r| heads_of(&r.doc.get_heads()))
            .unwrap_or_default()
    }

    /// How many records have changes the server does not have.
    pub fn outbox_len(&mut self) -> usize {
        self.records
            .values_mut()
            .map(|r| usize::from(!r.pending().is_empty()))
            .sum()
    }

    /// The push request for every record with pending changes.
    pub fn pending_pushes(&mut self) -> Vec<DocPush> {
        self.records
            .iter_mut()
            .filter_map(|(id, r)| {
                let changes = r.pending();
                (!changes.is_empty()).then(|| DocPush {
                    id: *id,
                    kind: r.kind.name.to_string(),
                    base_heads: heads_of(&r.base_heads),
                    changes: changes
                        .iter()
                        .map(|c| ByteBuf::from(c.raw_bytes().to_vec()))
                        .collect(),
                })
            })
            .collect()
    }

    /// Pushes everything pending, then pulls until caught up.
    pub async fn sync(&mut self, client: &Client) -> Result<SyncReport, Error> {
        let mut report = self.push(client).await?;
        self.pull(client, &mut report).await?;
        Ok(report)
    }

    pub async fn push(&mut self, client: &Client) -> Result<SyncReport, Error> {
        let mut report = SyncReport::default();
        let pushes = self.pending_pushes();
        for batch in pushes.chunks(self.batch_size.max(1)) {
            let response = client
                .push(&PushRequest {
                    docs: batch.to_vec(),
                })
                .await?;
            report.pushed_docs += batch.len();
            for (sent, result) in batch.iter().zip(response.results) {
                let Some(record) = self.records.get_mut(&result.id) else {
                    continue;
                };
                match result.status {
                    PushStatus::Applied | PushStatus::AlreadyKnown => {
                        for bytes in &sent.changes {
                            if let Ok(change) = automerge::Change::from_bytes(bytes.to_vec()) {
                                record.server_has.insert(change.hash());
                            }
                        }
                        record.rejected = None;
                        record.mark_synced_if_clean();
                    }
                    PushStatus::Rejected => {
                        let reason = result.reason.unwrap_or(Reason {
                            code: "rejected".into(),
                            message: String::new(),
                            field: None,
                        });
                        report.rejected.push((result.id, reason.clone()));
                        record.rejected = Some(reason);
                    }
                    PushStatus::Quarantined => {
                        record.quarantined = true;
                        report.quarantined.push(result.id);
                    }
                    PushStatus::MissingDependencies => report.missing_dependencies.push(result.id),
                }
            }
        }
        Ok(report)
    }

    /// Pulls pages until the server says there is no more.
    pub async fn pull(&mut self, client: &Client, report: &mut SyncReport) -> Result<(), Error> {
        loop {
            let page = client
                .pull(&PullRequest {
                    cursor: self.cursor.clone(),
                    limit: None,
                })
                .await?;
            for update in page.docs {
                let kind = kinds::get(&update.kind)?;
                let actor = self.actor.clone();
                let record = self
                    .records
                    .entry(update.id)
                    .or_insert_with(|| Record::new(kind, AutoCommit::new().with_actor(actor)));
                let before = record.doc.get_heads();
                for chunk in &update.chunks {
                    record
                        .doc
                        .load_incremental(chunk)
                        .map_err(sync_core::Error::from)?;
                }
                let arrived: Vec<ChangeHash> = record
                    .doc
                    .get_changes(&before)
                    .iter()
                    .map(|c| c.hash())
                    .collect();
                record.server_has.extend(arrived);
                record.mark_synced_if_clean();
                report.pulled_docs += 1;
            }
            for id in page.evict {
                // A record with edits the server has not taken stays until they are handed in.
                let keep = self
                    .records
                    .get_mut(&id)
                    .is_some_and(|r| !r.quarantined && !r.pending().is_empty());
                if !keep && self.records.remove(&id).is_some() {
                    report.evicted.push(id);
                }
            }
            self.cursor = Some(page.cursor);
            if !page.more {
                return Ok(());
            }
        }
    }

    /// Asks the server which of this device's records differ from its copies.
    pub async fn verify(&mut self, client: &Client) -> Result<VerifyResponse, Error> {
        let docs = self
            .records
            .iter_mut()
            .map(|(id, r)| DocHeads {
                id: *id,
                heads: heads_of(&r.doc.get_heads()),
            })
            .collect();
        client
            .verify(&VerifyRequest {
                mode: VerifyMode::Docs,
                scope_digest: None,
                docs,
            })
            .await
    }
}
