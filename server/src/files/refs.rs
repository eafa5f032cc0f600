//! Which records reference a file, and so who may read it: a file is read with the rights of a
//! record that references it (one the caller may see is enough), or by the user who uploaded it.
//! A deleted record references nothing: its files are collected like any other unreferenced file.

use sea_orm::sea_query::{Alias, Cond, Expr, JoinType, Query, SelectStatement};
use sea_orm::ConnectionTrait;
use sync_core::attachments::{self, Place};
use uuid::Uuid;

use crate::auth::principal::Principal;
use crate::db::BuildWith;
use crate::error::Error;

/// A file the server holds.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub hash: String,
    pub size: u64,
    pub media_type: String,
    pub uploaded_by: Uuid,
}

pub async fn stored(conn: &impl ConnectionTrait, hash: &str) -> Result<Option<StoredFile>, Error> {
    let stmt = Query::select()
        .columns(["hash", "size", "media_type", "uploaded_by"].map(Alias::new))
        .from(Alias::new("attachments"))
        .and_where(Expr::col(Alias::new("hash")).eq(hash))
        .to_owned();
    let Some(row) = conn.query_one(stmt.build_with(conn)).await? else {
        return Ok(None);
    };
    Ok(Some(StoredFile {
        hash: row.try_get("", "hash")?,
        size: u64::try_from(row.try_get::<i64>("", "size")?).unwrap_or(0),
        media_type: row.try_get("", "media_type")?,
        uploaded_by: row.try_get("", "uploaded_by")?,
    }))
}

/// For each place files are referenced from, the live documents referencing the file whose hash
/// `hash` gives (a value, or a column of an outer query), as `documents AS d`.
fn referencing(hash: impl Fn() -> Expr) -> Vec<SelectStatement> {
    attachments::places()
        .into_iter()
        .map(|(kind, place)| {
            let (table, record_column, field) = match place {
                Place::Field { field } => (kind.table, "id", field),
                Place::Items {
                    table,
                    record_column,
                    field,
                    ..
                } => (table, record_column, field),
            };
            let t = Alias::new("t");
            let d = Alias::new("d");
            Query::select()
                .expr(Expr::col((d.clone(), Alias::new("id"))))
                .from_as(Alias::new(table), t.clone())
                .join_as(
                    JoinType::InnerJoin,
                    Alias::new("documents"),
                    d.clone(),
                    Expr::col((d.clone(), Alias::new("id")))
                        .equals((t.clone(), Alias::new(record_column))),
                )
                .and_where(Expr::col((t, Alias::new(field))).eq(hash()))
                .and_where(
                    Expr::expr(Expr::col((d, Alias::new("listing_deleted"))).if_null(false))
                        .eq(false),
                )
                .to_owned()
        })
        .collect()
}

/// Whether `who` may read the file: they uploaded it, or they may see a live record that
/// references it.
pub async fn may_read(
    conn: &impl ConnectionTrait,
    who: &Principal,
    file: &StoredFile,
) -> Result<bool, Error> {
    if file.uploaded_by == who.user_id {
        return Ok(true);
    }
    for mut stmt in referencing(|| Expr::val(file.hash.clone())) {
        stmt.cond_where(who.visible(Some("d"))).limit(1);
        if conn.query_one(stmt.build_with(conn)).await?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The condition that a live record references the file of `attachments.hash` (for the
/// collector's queries on `attachments`).
pub fn referenced() -> Cond {
    referencing(|| Expr::col((Alias::new("attachments"), Alias::new("hash"))))
        .into_iter()
        .fold(Cond::any(), |cond, stmt| cond.add(Expr::exists(stmt)))
}
