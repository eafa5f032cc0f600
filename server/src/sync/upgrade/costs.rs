//! What a product costs, once a field of the product (whose document every device receives), becomes
//! a `product_cost` record that managers and admins alone read: for each product holding a cost, one
//! push of the server's creates the cost record and takes the field out of the product's current
//! state, together, so a process that dies half-way leaves the rest for the next start. The
//! product's history still holds the old value; devices that received it before keep it.

use automerge::transaction::Transactable;
use automerge::{ReadDoc, ROOT};
use sync_core::kinds::{PRODUCT, PRODUCT_COST};
use sync_core::{record, Value};
use uuid::Uuid;

use crate::error::Error;
use crate::sync::author::push_of_own_change;
use crate::sync::docstore;
use crate::sync::engine::SyncEngine;

/// Products loaded per push.
const BATCH: u64 = 100;
/// The product's former field.
const FIELD: &str = "unit_cost";

/// Moves every product's cost into a cost record of its own; returns how many it moved.
pub async fn move_costs(sync: &SyncEngine) -> Result<usize, Error> {
    let (author, actor) = super::upgrade_author();
    let conn = &sync.db.conn;
    let mut after = Uuid::nil();
    let mut moved = 0;
    loop {
        let rows = super::records_after(conn, &[PRODUCT.name], after, BATCH).await?;
        let Some((last, _)) = rows.last() else {
            return Ok(moved);
        };
        after = *last;
        let mut docs = Vec::new();
        for (id, _) in rows {
            let mut doc = match docstore::load(conn, sync.db.vault(), id).await? {
                Ok(doc) => doc.with_actor(actor.clone()),
                Err(e) => {
                    tracing::error!(%id, error = %e, "a product to upgrade does not load; left as it is");
                    continue;
                }
            };
            let automerge_error = |e: automerge::AutomergeError| Error::Internal(e.to_string());
            let cost = match doc.get(ROOT, FIELD).map_err(automerge_error)? {
                Some((automerge::Value::Scalar(s), _)) => s.as_i64(),
                _ => None,
            };
            let Some(cost) = cost else { continue };
            let base = doc.get_heads();
            doc.delete(ROOT, FIELD).map_err(automerge_error)?;
            docs.extend(push_of_own_change(id, &PRODUCT, base, &mut doc));
            let fields = [
                ("product_id", Value::Str(id.to_string())),
                ("unit_cost", Value::Int(cost)),
            ];
            let mut record = record::create(&PRODUCT_COST, actor.clone(), &fields)?;
            docs.extend(push_of_own_change(
                Uuid::now_v7(),
                &PRODUCT_COST,
                vec![],
                &mut record,
            ));
        }
        // Each product and its cost record are in one push: both are written, or neither.
        moved += super::push_own(sync, &author, docs, "a product's cost was not moved").await? / 2;
    }
}
