//! The rules a merged record is held to that the CRDT cannot enforce: merging never fails, but the
//! merged state can be wrong for the business. After each push the server looks at the records it
//! wrote and answers with changes of its own, through the merge path like any other write, so
//! devices receive them with the feed:
//!
//! - an order's totals are written again when its lines no longer give them (two devices edited
//!   different lines);
//! - a submitted order whose discount passes its author's limit, or that takes the customer's open
//!   balance past the credit limit, is held (`hold_reason`) for a manager, with an alert;
//! - a check-in is graded against the customer's position and the visit type's geofence, and one
//!   that is out of range, or that would need its agent to travel faster than a car since their
//!   previous check-in, raises an alert;
//! - a payment larger than the open amount of what it settles raises an alert;
//! - an opportunity's move to another stage is appended to its stage history;
//! - a field written concurrently by two people raises a conflict: both values, which one shows,
//!   who wrote each and when, for a manager to pick;
//! - a lead is checked against the customers, and the customer it likely is already named on it;
//! - a campaign's members and their tasks follow the campaign, and an order naming a campaign
//!   records its customer's response;
//! - a customer is checked for likely duplicates (`crm::duplicates`), and a record made offline
//!   for a customer since merged into another moves to the survivor; a person's edits of plain
//!   fields of a merged-away customer are carried over to the survivor;
//! - a record made by a client that does not know a text or items field of its kind yet (a visit
//!   from an app from before photos) is given it, so that devices can write into it.
//!
//! Alerts and conflicts are records of their own kinds, scoped through the customer they concern.
//! The rules run after the push's transaction commits, which records them due (`sync::due`): a
//! process that stops in between, or rules that fail, leave them due, and a pass of every process
//! (`keep_due`) runs them from the records as they then read.

use std::collections::HashMap;
use std::time::Duration;

use sync_core::duplicates;
use sync_core::kinds::{ALERT, CAMPAIGN, CUSTOMER, LEAD, OPPORTUNITY, ORDER, PAYMENT, VISIT};
use sync_core::protocol::{DocPush, PushRequest, PushStatus};
use sync_core::record::{self, Projection};
use sync_core::{FieldType, KindSchema, Scope, Value, Writer};
use uuid::Uuid;

use crate::db::now_ms;
use crate::error::Error;
use crate::sync::author::{push_of_own_change, Author};
use crate::sync::docstore;
use crate::sync::due::{self, DueRecord};
use crate::sync::engine::SyncEngine;
use crate::sync::push::{self, ForRules, Written};

mod campaigns;
mod conflicts;
mod leads;
mod opportunities;
mod orders;
mod payments;
mod queries;
mod visits;

/// Why the server writes, in a record's history.
const PURPOSE: &str = "rules";

pub use crate::sync::due::Pusher;

/// Field values of one record.
pub type Fields = Vec<(&'static str, Value)>;

/// What the rules decided: fields of written records to set, and alerts and conflicts to raise.
#[derive(Default)]
struct Actions {
    updates: HashMap<Uuid, (&'static KindSchema, Fields)>,
    raise: Vec<(&'static KindSchema, Fields)>,
    /// Records to make with these ids (a campaign's members and the tasks that name them).
    create: Vec<(Uuid, &'static KindSchema, Fields)>,
    /// Records to give the texts and items of their kind they lack (made by a client that does not
    /// know a field yet), so that devices can then write into them.
    complete: Vec<(Uuid, &'static KindSchema)>,
}

impl Actions {
    fn set(&mut self, id: Uuid, kind: &'static KindSchema, field: &'static str, value: Value) {
        let (_, fields) = self.updates.entry(id).or_insert((kind, Vec::new()));
        fields.push((field, value));
    }
}

/// Applies the rules to the records a push wrote. The push is already stored: a failure here is
/// logged and leaves the rules due, for `keep_due` to run again.
pub async fn after_push(sync: &SyncEngine, pushed: ForRules) {
    let ForRules { by, written, due } = pushed;
    match apply(sync, by, &written).await {
        Ok(()) => {
            if let Some(due) = due {
                if let Err(e) = due::done(&sync.db.conn, due).await {
                    tracing::warn!(error = %e, "the rules ran, but stay recorded as due; they will run again");
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "the rules after a push failed; they stay due and will be tried again")
        }
    }
}

/// How long rules stay due before another pass takes them: well past what running them takes, so
/// that a pass does not run what a push is still running.
const OVERDUE_AFTER: Duration = Duration::from_secs(60);
/// How often a process looks for overdue rules.
const LOOK_EVERY: Duration = Duration::from_secs(30);
/// Attempts before an entry whose rules keep failing is given up, with an error logged.
const MAX_ATTEMPTS: i32 = 5;

/// Runs, every `LOOK_EVERY`, the rules left due by pushes whose process stopped before running
/// them (or whose rules failed).
pub async fn keep_due(sync: SyncEngine) {
    let mut every = tokio::time::interval(LOOK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match run_overdue(&sync, OVERDUE_AFTER).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(pushes = n, "ran the rules left due by earlier pushes"),
            Err(e) => tracing::warn!(error = %e, "running the rules left due failed"),
        }
    }
}

/// Runs the rules due for `after` or longer, from the records as they now read; returns for how
/// many pushes. Each entry is claimed first, so two processes do not run one entry at once.
pub async fn run_overdue(sync: &SyncEngine, after: Duration) -> Result<usize, Error> {
    let conn = &sync.db.conn;
    let until = now_ms() - after.as_millis() as i64;
    let mut ran = 0;
    for entry in due::overdue(conn, until, 100).await? {
        if !due::claim(conn, &entry).await? {
            continue;
        }
        if entry.attempts >= MAX_ATTEMPTS {
            tracing::error!(entry = %entry.id, attempts = entry.attempts, "the rules of a push kept failing; given up");
            due::done(conn, entry.id).await?;
            continue;
        }
        let by = Pusher {
            user_id: entry.user_id,
            role: entry.role,
            purpose: entry.purpose.as_deref().map(purpose),
        };
        let mut written = Vec::with_capacity(entry.records.len());
        for record in entry.records {
            if let Some(w) = reread(conn, sync.db.vault(), record).await? {
                written.push(w);
            }
        }
        let pushed = ForRules {
            by,
            written,
            due: Some(entry.id),
        };
        after_push(sync, pushed).await;
        ran += 1;
    }
    Ok(ran)
}

/// The server's purpose of a push, as recorded: the rules tell a person's edit over the API and a
/// merge apart from the server's other writes, which they treat alike.
fn purpose(recorded: &str) -> &'static str {
    [crate::crm::edit::PURPOSE, crate::crm::merge::PURPOSE]
        .into_iter()
        .find(|known| *known == recorded)
        .unwrap_or("server")
}

/// A record a push wrote, as it reads now; None if it is gone or no longer loads (reported by the
/// next push of it).
async fn reread(
    conn: &impl sea_orm::ConnectionTrait,
    vault: &crate::seal::Vault,
    record: DueRecord,
) -> Result<Option<Written>, Error> {
    let Some(row) = crate::sync::write::find_document(conn, record.id, false).await? else {
        return Ok(None);
    };
    let Ok(kind) = sync_core::kinds::get(&row.kind) else {
        return Ok(None);
    };
    let Ok(doc) = docstore::load(conn, vault, record.id).await? else {
        return Ok(None);
    };
    let Ok(projection) = record::project(&doc, kind) else {
        return Ok(None);
    };
    Ok(Some(Written {
        id: record.id,
        kind,
        projection,
        fields: record.fields,
        lacks_objects: record.lacks_objects,
    }))
}

async fn apply(sync: &SyncEngine, by: Pusher, written: &[Written]) -> Result<(), Error> {
    let conn = &sync.db.conn;
    let mut actions = Actions::default();
    // The pusher's discount limit, read at the first submitted order.
    let mut discount_limit = None;
    let customers: Vec<(Uuid, Option<duplicates::Keys>)> = written
        .iter()
        .filter(|w| w.kind.name == CUSTOMER.name)
        .map(|w| (w.id, crate::crm::duplicates::keys_of(&w.projection)))
        .collect();
    crate::crm::duplicates::check(&sync.db, &customers, false).await?;
    merged(conn, written, &mut actions).await?;
    for w in written {
        let p = &w.projection;
        if w.kind.name == CUSTOMER.name && by.purpose != Some(crate::crm::merge::PURPOSE) {
            edited_after_merge(w, by, &mut actions);
        }
        if w.kind.name == CAMPAIGN.name {
            // A deleted campaign too: its members leave the field.
            campaigns::campaign(conn, w.id, p, &mut actions).await?;
        }
        if p.is_deleted() {
            continue;
        }
        if w.lacks_objects {
            actions.complete.push((w.id, w.kind));
        }
        if w.kind.name == ORDER.name {
            orders::order(conn, by, w.id, p, &mut discount_limit, &mut actions).await?;
            campaigns::order(conn, p, &mut actions).await?;
        } else if w.kind.name == VISIT.name {
            visits::visit(conn, by, w.id, p, &mut actions).await?;
        } else if w.kind.name == OPPORTUNITY.name {
            opportunities::opportunity(by, w.id, p, &mut actions);
        } else if w.kind.name == PAYMENT.name {
            payments::payment(conn, by, w.id, p, &mut actions).await?;
        } else if w.kind.name == LEAD.name {
            leads::lead(conn, sync.db.vault(), w.id, p, &w.fields, &mut actions).await?;
        }
        if !p.conflicts.is_empty() {
            conflicts::conflicts(conn, sync.db.vault(), w, &mut actions).await?;
        }
    }
    // Customers that may have entered or left a campaign's segment: the active campaigns with a
    // segment bring their members in line, but those this push wrote, which already have.
    let segment_moved = written.iter().any(|w| {
        w.kind.name == CUSTOMER.name
            && w.fields
                .iter()
                .any(|f| f == "deleted" || campaigns::moves_segment(f))
    });
    if segment_moved {
        let done: std::collections::HashSet<Uuid> = written
            .iter()
            .filter(|w| w.kind.name == CAMPAIGN.name)
            .map(|w| w.id)
            .collect();
        campaigns::segments_changed(conn, sync.db.vault(), &done, &mut actions).await?;
    }
    // An alert is raised once per record and finding: a visit checked out after an out-of-range
    // check-in is not a second finding. A hold's alerts are raised once per submission by the
    // order rule itself, so a resubmitted order raises them again.
    let mut seen = Vec::new();
    let mut raise = Vec::with_capacity(actions.raise.len());
    for (kind, fields) in std::mem::take(&mut actions.raise) {
        let per_submission = ["discount_above_limit", "credit_limit_exceeded"];
        if kind.name == ALERT.name && !per_submission.contains(&field_of(&fields, "code").as_str())
        {
            let key = (field_of(&fields, "record_id"), field_of(&fields, "code"));
            if seen.contains(&key) || queries::alert_exists(conn, &key.0, &key.1).await? {
                continue;
            }
            seen.push(key);
        }
        raise.push((kind, fields));
    }
    actions.raise = raise;
    write_actions(sync, actions).await
}

/// An edit of a customer merged into another (made offline, before its author's device heard of
/// the merge) lands on the merged-away record, where no one looks. A person's edits of plain fields
/// (a phone, an e-mail, a segment) are carried over to the survivor, as the rules' change; texts
/// and items are not (the survivor's own may have moved on), and neither is a move to another
/// territory. An alert on the survivor tells a manager what came, and that the record's history
/// shows every change.
fn edited_after_merge(w: &Written, by: Pusher, actions: &mut Actions) {
    let Some(survivor) = w
        .projection
        .get("merged_into")
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
    else {
        return;
    };
    let scope = CUSTOMER.scope.field();
    let carried: Vec<&'static str> = match by.purpose {
        // A device's own edit, or a person's over the API; not the server's other writes.
        None | Some(crate::crm::edit::PURPOSE) => w
            .fields
            .iter()
            .filter_map(|name| CUSTOMER.field(name))
            .filter(|spec| {
                !matches!(spec.ty, FieldType::Text { .. } | FieldType::Items(_))
                    && spec.writer != Writer::Server
                    && Some(spec.name) != scope
                    && !matches!(spec.name, "merged_into" | sync_core::schema::DELETED_FIELD)
            })
            .map(|spec| spec.name)
            .collect(),
        Some(_) => Vec::new(),
    };
    for field in &carried {
        actions.set(survivor, &CUSTOMER, field, w.projection.get(field).clone());
    }
    let message = match carried.is_empty() {
        true => format!(
            "customer {} was edited after it was merged into this one; its history shows what changed",
            w.id
        ),
        false => format!(
            "customer {} was edited after it was merged into this one: {} carried over here; its history shows every change",
            w.id,
            carried.join(", ")
        ),
    };
    alert(
        actions,
        survivor,
        (w.id, &CUSTOMER),
        "edit_after_merge",
        message,
        by,
    );
}

/// Records made or moved for a customer that was merged into another (a device that held it
/// offline) move to its survivor, as the merge moved the others.
async fn merged(
    conn: &impl sea_orm::ConnectionTrait,
    written: &[Written],
    actions: &mut Actions,
) -> Result<(), Error> {
    let scoped: Vec<(&Written, Uuid)> = written
        .iter()
        .filter(|w| !w.projection.is_deleted())
        .filter(|w| {
            matches!(
                w.kind.scope,
                Scope::Parent {
                    field: "customer_id",
                    kind: "customer"
                }
            )
        })
        .filter_map(|w| {
            let customer = w.projection.get("customer_id").as_str()?;
            Some((w, Uuid::parse_str(customer).ok()?))
        })
        .collect();
    let customers: Vec<Uuid> = scoped.iter().map(|(_, c)| *c).collect();
    let survivors: HashMap<Uuid, Uuid> = crate::crm::merge::survivors(conn, &customers)
        .await?
        .into_iter()
        .collect();
    for (w, customer) in scoped {
        if let Some(survivor) = survivors.get(&customer) {
            actions.set(
                w.id,
                w.kind,
                "customer_id",
                Value::Str(survivor.to_string()),
            );
        }
    }
    Ok(())
}

fn field_of(fields: &[(&str, Value)], name: &str) -> String {
    fields
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.as_str())
        .unwrap_or_default()
        .to_string()
}

/// The customer a record concerns: itself, or the customer it is scoped through.
fn customer_of(kind: &KindSchema, id: Uuid, p: &Projection) -> Option<Uuid> {
    match kind.scope {
        _ if kind.name == CUSTOMER.name => Some(id),
        Scope::Parent {
            field,
            kind: "customer",
        } => p.get(field).as_str().and_then(|s| Uuid::parse_str(s).ok()),
        _ => None,
    }
}

fn alert(
    actions: &mut Actions,
    customer: Uuid,
    record: (Uuid, &KindSchema),
    code: &str,
    message: String,
    by: Pusher,
) {
    actions.raise.push((
        &ALERT,
        vec![
            ("customer_id", Value::Str(customer.to_string())),
            ("record_id", Value::Str(record.0.to_string())),
            ("record_kind", record.1.name.into()),
            ("code", code.into()),
            ("message", Value::Str(message)),
            ("user_id", Value::Str(by.user_id.to_string())),
            ("raised_at", Value::Int(now_ms())),
            ("status", "open".into()),
        ],
    ));
}

/// Writes fields of records as the server's own changes (`Author::system` with `purpose`), through
/// the merge path, so devices receive them; for jobs of the server's such as grading customers.
pub async fn write_fields(
    sync: &SyncEngine,
    purpose: &'static str,
    updates: Vec<(Uuid, &'static KindSchema, Fields)>,
) -> Result<(), Error> {
    let actions = Actions {
        updates: updates
            .into_iter()
            .map(|(id, kind, fields)| (id, (kind, fields)))
            .collect(),
        raise: Vec::new(),
        create: Vec::new(),
        complete: Vec::new(),
    };
    write_as(sync, purpose, actions).await
}

/// Writes what the rules decided as the server's own changes, in one push.
async fn write_actions(sync: &SyncEngine, actions: Actions) -> Result<(), Error> {
    write_as(sync, PURPOSE, actions).await
}

async fn write_as(sync: &SyncEngine, purpose: &'static str, actions: Actions) -> Result<(), Error> {
    if actions.updates.is_empty()
        && actions.raise.is_empty()
        && actions.create.is_empty()
        && actions.complete.is_empty()
    {
        return Ok(());
    }
    let conn = &sync.db.conn;
    let author = Author::system(purpose);
    let actor = author
        .server_actor()
        .expect("the system author has an actor")
        .clone();
    let mut docs: Vec<DocPush> = Vec::new();
    let mut updates = actions.updates;
    for (id, kind) in actions.complete {
        updates.entry(id).or_insert((kind, Vec::new()));
    }
    for (id, (kind, fields)) in updates {
        let Ok(doc) = docstore::load(conn, sync.db.vault(), id).await? else {
            continue;
        };
        let mut doc = doc.with_actor(actor.clone());
        let base = doc.get_heads();
        // A record a client made without a field of its kind it does not know yet is given the
        // field's text or items, in a change of its own before the rule's.
        if let Err(e) = record::add_missing_objects(&mut doc, kind) {
            tracing::warn!(record = %id, error = %e, "a record's missing fields could not be added");
        }
        if fields.is_empty() {
            docs.extend(push_of_own_change(id, kind, base, &mut doc));
            continue;
        }
        match record::update(&mut doc, kind, &fields) {
            Ok(()) => docs.extend(push_of_own_change(id, kind, base, &mut doc)),
            Err(e) => tracing::warn!(record = %id, error = %e, "a rule's change does not validate"),
        }
    }
    let raised = actions
        .raise
        .into_iter()
        .map(|(kind, fields)| (Uuid::now_v7(), kind, fields));
    for (id, kind, fields) in raised.chain(actions.create) {
        match record::create(kind, actor.clone(), &fields) {
            Ok(mut doc) => docs.extend(push_of_own_change(id, kind, vec![], &mut doc)),
            Err(e) => {
                tracing::warn!(kind = kind.name, error = %e, "a rule's record does not validate")
            }
        }
    }
    for batch in docs.chunks(sync.limits.max_docs.max(1)) {
        let request = PushRequest {
            docs: batch.to_vec(),
            checkpoint: 0,
        };
        let response = push::push(sync, &author, request).await?;
        for r in response.results {
            if !matches!(r.status, PushStatus::Applied | PushStatus::AlreadyKnown) {
                tracing::warn!(record = %r.id, reason = ?r.reason, "a rule's change was not applied");
            }
        }
    }
    Ok(())
}
