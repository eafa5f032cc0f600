//! Quarantine entries: the edits a device made offline to records it has since lost access to, and
//! changes a device hands in under a device id it named as its own and could not prove; a manager
//! accepts them (merged through the push path as an approved author, see `author`) or rejects them
//! (kept, marked, never merged).

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::db::{now_ms, BuildWith};
use crate::error::Error;

/// Why a device's edits of a record wait for a manager: it may no longer write the record.
pub const LOST_ACCESS: &str = "the device lost access to this record while it held offline edits";

/// Why a device's edits of a record wait for a manager: made before a person in the record was
/// erased and re-based on its rewritten history, they write that person's personal fields again.
pub const REBASED_PERSONAL: &str = "edits made offline before this person was erased write their personal fields again: accept only if the person gave these values anew";

/// Why changes made under the device id `claimed` wait for a manager.
pub fn unproven_author(claimed: Uuid) -> String {
    format!("the changes were made under device {claimed}, which the device handing them in named as its own at login but could not prove (a restore of the server lost that device): check with its user who made them")
}

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
