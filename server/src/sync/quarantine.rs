//! Decisions on quarantine entries: the edits a device made offline to records it has since lost
//! access to, which a manager accepts (merged through the push path as an approved author, see
//! `author`) or rejects (kept, marked, never merged).

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::db::{now_ms, BuildWith};
use crate::error::Error;

/// Marks a pending entry `status` (`accepted` or `rejected`) by `reviewer`; refused as a conflict if
/// another decision got there first.
pub async fn decide(
    conn: &impl ConnectionTrait,
    entry: Uuid,
    reviewer: Uuid,
    status: &str,
) -> Result<(), Error> {
    let stmt = Query::update()
        .table(Alias::new("quarantine"))
        .values([
            (Alias::new("status"), status.into()),
            (Alias::new("decided_by"), reviewer.into()),
            (Alias::new("decided_at"), now_ms().into()),
        ])
        .and_where(Expr::col(Alias::new("id")).eq(entry))
        .and_where(Expr::col(Alias::new("status")).eq("pending"))
        .to_owned();
    if conn.execute(stmt.build_with(conn)).await?.rows_affected() == 1 {
        Ok(())
    } else {
        Err(Error::Conflict(format!(
            "quarantine entry {entry} was already decided"
        )))
    }
}
