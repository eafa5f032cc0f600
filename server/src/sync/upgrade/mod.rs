//! Work a new server version does once on a database an older one wrote, at start-up, before it
//! serves: what a schema migration cannot do because it needs the documents themselves.
//!
//! Each task is a row of `upgrade_tasks`, added by the migration that introduced it. A process takes a
//! task by deleting its row inside the write transaction that does the work, so on PostgreSQL, where
//! several processes may start at once, exactly one does it (the others' deletes wait on the row lock
//! and then find nothing), and a process that dies half-way leaves the row for the next start.

use sea_orm::sea_query::{Alias, Expr, Order, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait};
use sync_core::protocol::{DocPush, PushRequest, PushStatus};
use sync_core::record::{self, Listing};
use sync_core::{kinds, Scope};
use uuid::Uuid;

mod costs;
mod objects;
mod statuses;
mod users;

use crate::db::entities::document;
use crate::db::{BuildWith, WriteTxn};
use crate::error::Error;
use crate::sync::author::Author;
use crate::sync::engine::SyncEngine;
use crate::sync::{docstore, projection, push, reseal, write};

/// Records whose fields hold concurrent values were projected with the value automerge's `get_all`
/// lists first rather than the one its `get` returns (and every automerge client shows).
const REPROJECT_CONFLICTS: &str = "reproject_conflict_winners";
/// Customers' old lifecycle values, rewritten as the new ones ([`statuses`]).
const CUSTOMER_STATUSES: &str = "customer_statuses";
/// Records made before their kind had a text or items field are given the empty object
/// ([`objects`]).
const MISSING_OBJECTS: &str = "missing_objects";
/// Records of kinds kept to one person of the team are kept to the user they name ([`users`]).
const USER_SCOPE: &str = "user_scope";
/// Products' costs move into records of their own that managers alone read ([`costs`]).
const PRODUCT_COSTS: &str = "product_costs";
/// What an older version stored in clear is sealed at rest ([`reseal`]).
const SEAL_AT_REST: &str = "seal_at_rest";

/// Runs every upgrade task still pending, in the order their migrations added them.
pub async fn run_pending(sync: &SyncEngine) -> Result<(), Error> {
    // On PostgreSQL several processes may start at once: one does the pending work while the others
    // wait here, then find it done. The lock is the transaction's, released when it ends.
    let _upgrading = match sync.db.is_postgres() {
        true => {
            let txn = sync.db.conn.begin().await?;
            txn.execute_unprepared("SELECT pg_advisory_xact_lock(7301950612)")
                .await?;
            Some(txn)
        }
        false => None,
    };
    let txn = sync.db.begin_write().await?;
    if take(&txn, REPROJECT_CONFLICTS).await? {
        let changed = reproject_conflicts(&txn).await?;
        txn.commit().await?;
        tracing::info!(
            records = changed.listed,
            moved = changed.moved,
            "records with concurrent values projected again with automerge's winner"
        );
    } else {
        // Releases SQLite's writer for the pushes below.
        drop(txn);
    }
    if pending(&sync.db.conn, CUSTOMER_STATUSES).await? {
        // Its writes are pushes of their own, each in its transaction (see `finish`). Two
        // processes starting at once on PostgreSQL may both write a record's new status: the same
        // value, merged like any two devices' equal edits.
        let renamed = statuses::rename(sync).await?;
        finish(sync, CUSTOMER_STATUSES).await?;
        tracing::info!(
            records = renamed,
            "customers' lifecycle values renamed (lead: prospect, inactive: dormant)"
        );
    }
    if pending(&sync.db.conn, MISSING_OBJECTS).await? {
        // Like the renaming: pushes of their own, the task taken once they are done. Two objects
        // for one field would be concurrent, and items written into the one not shown would be
        // hidden: the lock taken above lets one process do it.
        let added = objects::add_missing(sync).await?;
        finish(sync, MISSING_OBJECTS).await?;
        tracing::info!(
            records = added,
            "records made before their kind had a text or items field were given it"
        );
    }
    let txn = sync.db.begin_write().await?;
    if take(&txn, USER_SCOPE).await? {
        let moved = users::keep_to_users(&txn).await?;
        txn.commit().await?;
        tracing::info!(
            records = moved,
            "tasks, visit plans and targets naming one user were kept to that user"
        );
    } else {
        // Releases SQLite's writer for the pushes below.
        drop(txn);
    }
    if pending(&sync.db.conn, PRODUCT_COSTS).await? {
        let moved = costs::move_costs(sync).await?;
        finish(sync, PRODUCT_COSTS).await?;
        tracing::info!(
            products = moved,
            "products' costs moved into records that managers alone read"
        );
    }
    if pending(&sync.db.conn, SEAL_AT_REST).await? {
        let sealed = reseal::reseal(&sync.db).await?;
        finish(sync, SEAL_AT_REST).await?;
        tracing::info!(
            chunks = sealed.chunks,
            held_changes = sealed.held_changes,
            listings = sealed.listings,
            rows = sealed.rows,
            "documents and personal values stored in clear were sealed at rest"
        );
    }
    Ok(())
}

/// The author of an upgrade's changes and its actor. No person asked for them: the nil user stands
/// for the server's own upgrade in a record's history.
fn upgrade_author() -> (Author, automerge::ActorId) {
    let author = Author::system("upgrade");
    let actor = author
        .server_actor()
        .expect("a server author has an actor of its own")
        .clone();
    (author, actor)
}

/// Pushes an upgrade's changes of the server's own; returns how many records took them. A record
/// whose change is refused is logged (`refused` says what did not happen) and left as it is: it
/// cannot be written either way, and the repair path answers for it.
async fn push_own(
    sync: &SyncEngine,
    author: &Author,
    docs: Vec<DocPush>,
    refused: &str,
) -> Result<usize, Error> {
    if docs.is_empty() {
        return Ok(0);
    }
    let request = PushRequest {
        docs,
        checkpoint: 0,
    };
    let response = push::push(sync, author, request).await?;
    let mut applied = 0;
    for result in response.results {
        if result.status == PushStatus::Applied {
            applied += 1;
        } else {
            tracing::warn!(id = %result.id, reason = ?result.reason, "{refused}; left as it is");
        }
    }
    Ok(applied)
}

/// Up to `limit` stored records of `kinds` with ids above `after`, by id: keyset pages, so that a
/// record an upgrade leaves as it is cannot be found again and again.
async fn records_after(
    conn: &impl ConnectionTrait,
    kinds: &[&str],
    after: Uuid,
    limit: u64,
) -> Result<Vec<(Uuid, String)>, Error> {
    let stmt = Query::select()
        .columns([Alias::new("id"), Alias::new("kind")])
        .from(Alias::new("documents"))
        .and_where(Expr::col(Alias::new("kind")).is_in(kinds.iter().copied()))
        .and_where(Expr::col(Alias::new("id")).gt(after))
        .order_by(Alias::new("id"), Order::Asc)
        .limit(limit)
        .to_owned();
    let rows = conn.query_all(stmt.build_with(conn)).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("", "id")?, r.try_get("", "kind")?)))
        .collect()
}

/// Takes `task` once its work, done in pushes of their own, is all done, so that a process that
/// dies half-way leaves it for the next start.
async fn finish(sync: &SyncEngine, task: &str) -> Result<(), Error> {
    let txn = sync.db.begin_write().await?;
    take(&txn, task).await?;
    txn.commit().await?;
    Ok(())
}

/// Whether the task's row is still there.
async fn pending(conn: &impl ConnectionTrait, task: &str) -> Result<bool, Error> {
    let stmt = Query::select()
        .column(Alias::new("name"))
        .from(Alias::new("upgrade_tasks"))
        .and_where(Expr::col(Alias::new("name")).eq(task))
        .to_owned();
    Ok(conn.query_one(stmt.build_with(conn)).await?.is_some())
}

/// Deletes the task's row; false if it was not there (done, or done by another process).
async fn take(txn: &WriteTxn, task: &str) -> Result<bool, Error> {
    let stmt = Query::delete()
        .from_table(Alias::new("upgrade_tasks"))
        .and_where(Expr::col(Alias::new("name")).eq(task))
        .to_owned();
    Ok(txn.execute(stmt.build_with(&**txn)).await?.rows_affected() > 0)
}

/// What re-projecting changed.
#[derive(Default)]
struct Reprojected {
    /// Records whose listing and projection row changed.
    listed: usize,
    /// Records that changed territory as a result, and moved in the feed.
    moved: usize,
}

/// Projects again every record whose listing holds conflicts (only those can show another value),
/// and moves in the feed, with everything scoped through it, each record whose scope field's winner
/// puts it into another territory.
async fn reproject_conflicts(txn: &WriteTxn) -> Result<Reprojected, Error> {
    let conn = &**txn;
    let vault = txn.vault();
    let rows = document::Entity::find()
        .filter(document::Column::ListingConflicts.is_not_null())
        .filter(document::Column::ListingConflicts.ne("[]"))
        .all(conn)
        .await?;
    let territories = write::territories_by_name(conn).await?;
    let mut done = Reprojected::default();
    for row in rows {
        let id = row.id;
        let Ok(kind) = kinds::get(&row.kind) else {
            continue;
        };
        let doc = match docstore::load(conn, vault, id).await? {
            Ok(doc) => doc,
            Err(e) => {
                tracing::error!(%id, error = %e, "a stored record does not load; left as it is");
                continue;
            }
        };
        let projection = match record::project(&doc, kind) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(%id, error = %e, "a stored record does not validate; left as it is");
                continue;
            }
        };
        let listing = Listing::of(&projection);
        let stored = |listing: &Option<String>| {
            listing
                .as_deref()
                .map(|l| vault.open_json(id, l))
                .transpose()
        };
        if stored(&row.listing_fields)?.as_deref() == Some(listing.fields.as_str())
            && stored(&row.listing_conflicts)?.as_deref() == Some(listing.conflicts.as_str())
        {
            continue;
        }
        projection::upsert_many(conn, vault, kind, &[(id, &projection)]).await?;
        let key = projection.scope_key(kind).unwrap_or_default();
        let (territory_id, parent_id) = match kind.scope {
            Scope::Company { .. } => (None, None),
            Scope::Territory { .. } => (territories.get(key).copied(), None),
            Scope::Parent { .. } => match Uuid::parse_str(key) {
                Ok(parent) => write::find_document(conn, parent, false)
                    .await?
                    .map_or((None, None), |p| (p.territory_id, Some(p.id))),
                Err(_) => (None, None),
            },
        };
        // A winner naming no territory or parent the server knows cannot have been accepted by a
        // push; the record keeps its place rather than leave every scope.
        let moves = territory_id.is_some() && territory_id != row.territory_id;
        let mut stmt = Query::update()
            .table(document::Entity)
            .value(
                document::Column::ListingFields,
                vault.seal_fields(kind, id, &listing.fields),
            )
            .value(
                document::Column::ListingConflicts,
                vault.seal_conflicts(kind, id, &listing.conflicts),
            )
            .value(document::Column::ListingDeleted, listing.deleted)
            .and_where(Expr::col(document::Column::Id).eq(id))
            .to_owned();
        if parent_id.is_some() {
            stmt.value(document::Column::ParentId, parent_id);
        }
        if moves {
            // The move takes a feed position of its own, as a push's would, so that devices
            // pulling past it evict the record or receive it whole.
            let seq = txn.allocate_seq(1).await?;
            let from = write::Place {
                territory_id: row.territory_id,
                user_id: row.user_id,
            };
            let to = write::Place {
                territory_id,
                user_id: row.user_id,
            };
            write::record_move(conn, id, from, to, seq).await?;
            stmt.value(document::Column::TerritoryId, territory_id)
                .value(document::Column::Seq, seq);
            done.moved += 1;
        }
        conn.execute(stmt.build_with(conn)).await?;
        done.listed += 1;
    }
    Ok(done)
}
