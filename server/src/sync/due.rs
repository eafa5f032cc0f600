//! The rules a push leaves to run once it commits (`crm::rules`), recorded in the push's own
//! transaction (`rules_due`): an acknowledged push and the promise to judge it are durable together,
//! so a process that stops in between leaves the rules due rather than skipped, and a later pass
//! runs them from the records as they then read.

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction};
use serde::{Deserialize, Serialize};
use sync_core::Role;
use uuid::Uuid;

use crate::db::{now_ms, BuildWith};
use crate::error::Error;
use crate::sync::push::Written;

const TABLE: &str = "rules_due";

/// Who made the push the rules look at.
#[derive(Debug, Clone, Copy)]
pub struct Pusher {
    pub user_id: Uuid,
    pub role: Role,
    /// Why the server wrote, when the push is the server's for a person (`api`, `merge`); None
    /// for a device's own push.
    pub purpose: Option<&'static str>,
}

/// A record of a push, as the rules need it besides the record itself.
#[derive(Debug, Serialize, Deserialize)]
pub struct DueRecord {
    pub id: Uuid,
    /// The root fields the push's changes wrote.
    pub fields: Vec<String>,
    pub lacks_objects: bool,
}

/// Rules left due by a push that did not see them run.
#[derive(Debug)]
pub struct Overdue {
    pub id: Uuid,
    pub user_id: Uuid,
    pub role: Role,
    pub purpose: Option<String>,
    pub records: Vec<DueRecord>,
    pub attempts: i32,
    due_at: i64,
}

/// Records, in the push's transaction, that the rules are due for what it wrote.
pub async fn record(
    txn: &DatabaseTransaction,
    id: Uuid,
    by: Pusher,
    written: &[Written],
) -> Result<(), Error> {
    let records: Vec<DueRecord> = written
        .iter()
        .map(|w| DueRecord {
            id: w.id,
            fields: w.fields.clone(),
            lacks_objects: w.lacks_objects,
        })
        .collect();
    let records = serde_json::to_string(&records).map_err(|e| Error::Internal(e.to_string()))?;
    let stmt = Query::insert()
        .into_table(Alias::new(TABLE))
        .columns(["id", "user_id", "role", "purpose", "records", "due_at"].map(Alias::new))
        .values_panic([
            id.into(),
            by.user_id.into(),
            by.role.as_str().into(),
            by.purpose.map(str::to_string).into(),
            records.into(),
            now_ms().into(),
        ])
        .to_owned();
    txn.execute(stmt.build_with(txn)).await?;
    Ok(())
}

/// The rules have run: nothing is due any more.
pub async fn done(conn: &impl ConnectionTrait, id: Uuid) -> Result<(), Error> {
    let stmt = Query::delete()
        .from_table(Alias::new(TABLE))
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned();
    conn.execute(stmt.build_with(conn)).await?;
    Ok(())
}

/// Up to `limit` entries due since `until` (ms) or earlier, oldest first. Inclusive: a pass asked
/// for every entry due by now finds one recorded in this very millisecond.
pub async fn overdue(
    conn: &impl ConnectionTrait,
    until: i64,
    limit: u64,
) -> Result<Vec<Overdue>, Error> {
    let stmt = Query::select()
        .columns(
            [
                "id", "user_id", "role", "purpose", "records", "attempts", "due_at",
            ]
            .map(Alias::new),
        )
        .from(Alias::new(TABLE))
        .and_where(Expr::col(Alias::new("due_at")).lte(until))
        .order_by(Alias::new("due_at"), sea_orm::Order::Asc)
        .limit(limit)
        .to_owned();
    let rows = conn.query_all(stmt.build_with(conn)).await?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        let id: Uuid = row.try_get("", "id")?;
        let role: String = row.try_get("", "role")?;
        let records: String = row.try_get("", "records")?;
        let (Some(role), Ok(records)) = (Role::parse(&role), serde_json::from_str(&records)) else {
            tracing::error!(entry = %id, "an entry of due rules cannot be read; it is dropped");
            done(conn, id).await?;
            continue;
        };
        entries.push(Overdue {
            id,
            user_id: row.try_get("", "user_id")?,
            role,
            purpose: row.try_get("", "purpose")?,
            records,
            attempts: row.try_get("", "attempts")?,
            due_at: row.try_get("", "due_at")?,
        });
    }
    Ok(entries)
}

/// Takes an overdue entry for this process: counts the attempt and makes it due again later, so
/// that another process's pass leaves it alone meanwhile and a process that stops while running
/// it leaves it due. False if another process took it first.
pub async fn claim(conn: &impl ConnectionTrait, entry: &Overdue) -> Result<bool, Error> {
    let stmt = Query::update()
        .table(Alias::new(TABLE))
        .value(Alias::new("attempts"), entry.attempts + 1)
        .value(Alias::new("due_at"), now_ms())
        .and_where(Expr::col(Alias::new("id")).eq(entry.id))
        .and_where(Expr::col(Alias::new("due_at")).eq(entry.due_at))
        .to_owned();
    Ok(conn.execute(stmt.build_with(conn)).await?.rows_affected() == 1)
}
