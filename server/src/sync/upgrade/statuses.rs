//! Customers' lifecycle values renamed: `lead` is now `prospect` and `inactive` is now `dormant`.
//!
//! The new value is written as a change of each such document, by the server through the merge path
//! like any manager's action, so devices receive it through the feed and the record's history shows
//! why it changed. A process that dies half-way leaves the task for the next start, which finds the
//! records still to rename in the projection.

use sea_orm::sea_query::{Alias, Expr, Order, Query};
use sea_orm::FromQueryResult;
use sync_core::kinds::CUSTOMER;
use sync_core::{record, Value};
use uuid::Uuid;

use crate::db::BuildWith;
use crate::error::Error;
use crate::sync::author::push_of_own_change;
use crate::sync::docstore;
use crate::sync::engine::SyncEngine;

/// Old value, new value.
pub const RENAMED: [(&str, &str); 2] = [("lead", "prospect"), ("inactive", "dormant")];

/// Records renamed per push: a push's usual size.
const BATCH: u64 = 200;

#[derive(FromQueryResult)]
struct Row {
    id: Uuid,
    status: String,
}

/// Renames every customer's old status; returns how many records it rewrote. Records that do not
/// load or whose push is refused are logged and left as they are: they cannot be written either way,
/// and the repair path answers for them.
pub async fn rename(sync: &SyncEngine) -> Result<usize, Error> {
    let (author, actor) = super::upgrade_author();
    let conn = &sync.db.conn;
    let mut after = Uuid::nil();
    let mut renamed = 0;
    loop {
        // Keyset pages by id, so that a record left as it is cannot be found again and again.
        let stmt = Query::select()
            .columns([Alias::new("id"), Alias::new("status")])
            .from(Alias::new(CUSTOMER.table))
            .and_where(Expr::col(Alias::new("status")).is_in(RENAMED.map(|(old, _)| old)))
            .and_where(Expr::col(Alias::new("id")).gt(after))
            .order_by(Alias::new("id"), Order::Asc)
            .limit(BATCH)
            .to_owned();
        let rows = Row::find_by_statement(stmt.build_with(conn))
            .all(conn)
            .await?;
        let Some(last) = rows.last() else {
            return Ok(renamed);
        };
        after = last.id;
        let mut docs = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(new) = RENAMED.iter().find(|(old, _)| *old == row.status) else {
                continue;
            };
            let mut doc = match docstore::load(conn, sync.db.vault(), row.id).await? {
                Ok(doc) => doc.with_actor(actor.clone()),
                Err(e) => {
                    tracing::error!(id = %row.id, error = %e, "a customer to rename does not load; left as it is");
                    continue;
                }
            };
            let base = doc.get_heads();
            if let Err(e) = record::update(&mut doc, &CUSTOMER, &[("status", Value::from(new.1))]) {
                tracing::warn!(id = %row.id, error = %e, "a customer to rename does not validate; left as it is");
                continue;
            }
            docs.extend(push_of_own_change(row.id, &CUSTOMER, base, &mut doc));
        }
        renamed +=
            super::push_own(sync, &author, docs, "a customer's rename was not applied").await?;
    }
}
