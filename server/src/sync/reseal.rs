//! Seals again under the newest server key what is stored under an older one, or in clear from
//! before sealing existed: documents' chunks and the changes held for them (waiting for their
//! dependencies, or quarantined), listings, personal fields of the projection tables, and the keyed
//! hashes duplicate checks match on. `fieldsync-server key reseal` runs it after a
//! rotation; the upgrade task `seal_at_rest` runs it once on a database an older version wrote.
//!
//! Servers may keep running meanwhile. A chunk never changes once written, so it is simply
//! rewritten; a listing or a projection row may be rewritten by a push at any moment, so each is
//! replaced only if it still holds what was read (a push's own write is sealed already).

use sea_orm::sea_query::{Alias, Expr, Order, Query};
use sea_orm::{ConnectionTrait, QueryResult, Value};
use sync_core::{kinds, KindSchema};
use uuid::Uuid;

use crate::db::{BuildWith, Db};
use crate::error::Error;
use crate::seal::{self, Sealed};
use crate::sync::projection::SYSTEM_COLUMNS;

/// Rows read per statement: chunks may be snapshots of a megabyte or more.
const PAGE: u64 = 200;

/// What was sealed again.
#[derive(Debug, Default)]
pub struct Resealed {
    pub chunks: usize,
    /// Changes waiting for their dependencies or held in the quarantine.
    pub held_changes: usize,
    pub listings: usize,
    /// Projection rows whose personal fields (or their values in conflict) were sealed again.
    pub rows: usize,
    /// Customers whose match keys were computed again.
    pub match_keys: usize,
}

pub async fn reseal(db: &Db) -> Result<Resealed, Error> {
    let mut done = Resealed {
        chunks: chunks(db).await?,
        held_changes: held_changes(db).await?,
        listings: listings(db).await?,
        ..Resealed::default()
    };
    for kind in kinds::ALL {
        if seal::maybe_personal(kind).next().is_some() {
            done.rows += projection_rows(db, kind).await?;
        }
    }
    done.match_keys = crate::crm::duplicates::scan(db).await?.checked;
    Ok(done)
}

fn col(name: &str) -> Expr {
    Expr::col(Alias::new(name))
}

/// Every document's chunks.
async fn chunks(db: &Db) -> Result<usize, Error> {
    blobs(db, "doc_chunks", &["seq", "doc_id"], "data", |row| {
        Ok(vec![
            row.try_get::<i64>("", "seq")?.into(),
            row.try_get::<Uuid>("", "doc_id")?.into(),
        ])
    })
    .await
}

/// The changes held on the server for a document: waiting for their dependencies, and in the
/// quarantine (its decided entries too, which keep what was decided on). Sealed as chunks of their
/// document, and unreadable once the key that sealed them leaves the key file.
async fn held_changes(db: &Db) -> Result<usize, Error> {
    let orphans = blobs(
        db,
        "orphan_changes",
        &["doc_id", "device_id", "hash"],
        "data",
        |row| {
            Ok(vec![
                row.try_get::<Uuid>("", "doc_id")?.into(),
                row.try_get::<Uuid>("", "device_id")?.into(),
                row.try_get::<Vec<u8>>("", "hash")?.into(),
            ])
        },
    )
    .await?;
    let quarantined = blobs(db, "quarantine", &["id"], "changes", |row| {
        Ok(vec![row.try_get::<Uuid>("", "id")?.into()])
    })
    .await?;
    Ok(orphans + quarantined)
}

/// Pages through `table` in the order of its primary key `key` (whose values for a row `key_of`
/// reads), sealing column `data`, the bytes of a chunk of the row's `doc_id`, again under the newest
/// key where it is not. Such bytes never change once written, so each is simply rewritten (a row
/// deleted meanwhile is left deleted). Answers how many were.
async fn blobs(
    db: &Db,
    table: &str,
    key: &[&str],
    data: &str,
    key_of: impl Fn(&QueryResult) -> Result<Vec<Value>, Error>,
) -> Result<usize, Error> {
    let (conn, vault) = (&db.conn, db.vault());
    let mut columns: Vec<&str> = key.to_vec();
    if !key.contains(&"doc_id") {
        columns.push("doc_id");
    }
    columns.push(data);
    let mut after: Option<Vec<Value>> = None;
    let mut n = 0;
    loop {
        let mut stmt = Query::select()
            .columns(columns.iter().map(|c| Alias::new(*c)))
            .from(Alias::new(table))
            .limit(PAGE)
            .to_owned();
        for c in key {
            stmt.order_by(Alias::new(*c), Order::Asc);
        }
        if let Some(after) = &after {
            stmt.and_where(
                Expr::tuple(key.iter().map(|c| col(c).into()))
                    .gt(Expr::tuple(after.iter().cloned().map(Into::into))),
            );
        }
        let rows = conn.query_all(stmt.build_with(conn)).await?;
        let Some(last) = rows.last() else {
            return Ok(n);
        };
        after = Some(key_of(last)?);
        let txn = db.begin_write().await?;
        for row in &rows {
            let bytes: Vec<u8> = row.try_get("", data)?;
            if vault.is_current(&bytes) {
                continue;
            }
            let chunk = Sealed::Chunk(row.try_get("", "doc_id")?);
            let sealed = vault.seal(chunk, &vault.open(chunk, &bytes)?);
            let mut stmt = Query::update();
            stmt.table(Alias::new(table))
                .value(Alias::new(data), sealed);
            for (c, v) in key.iter().zip(key_of(row)?) {
                stmt.and_where(col(c).eq(v));
            }
            txn.execute(stmt.build_with(&*txn)).await?;
            n += 1;
        }
        txn.commit().await?;
    }
}

/// Pages of `table`'s rows by id, `columns` with the id; `each` answers the row's new values
/// (column, old, new), empty when it is current. Answers how many rows were rewritten.
async fn rows_by_id(
    db: &Db,
    table: &str,
    columns: &[&str],
    mut each: impl FnMut(&QueryResult) -> Result<Vec<(&'static str, String, String)>, Error>,
) -> Result<usize, Error> {
    let conn = &db.conn;
    let mut after = Uuid::nil();
    let mut n = 0;
    loop {
        let stmt = Query::select()
            .column(Alias::new("id"))
            .columns(columns.iter().map(|c| Alias::new(*c)))
            .from(Alias::new(table))
            .and_where(col("id").gt(after))
            .order_by(Alias::new("id"), Order::Asc)
            .limit(PAGE)
            .to_owned();
        let rows = conn.query_all(stmt.build_with(conn)).await?;
        let Some(last) = rows.last() else {
            return Ok(n);
        };
        after = last.try_get("", "id")?;
        let txn = db.begin_write().await?;
        for row in &rows {
            let changes = each(row)?;
            if changes.is_empty() {
                continue;
            }
            let id: Uuid = row.try_get("", "id")?;
            let mut stmt = Query::update();
            stmt.table(Alias::new(table)).and_where(col("id").eq(id));
            for (column, old, new) in changes {
                stmt.value(Alias::new(column), new)
                    .and_where(col(column).eq(old));
            }
            n += txn.execute(stmt.build_with(&*txn)).await?.rows_affected() as usize;
        }
        txn.commit().await?;
    }
}

async fn listings(db: &Db) -> Result<usize, Error> {
    let vault = db.vault();
    rows_by_id(
        db,
        "documents",
        &["kind", "listing_fields", "listing_conflicts"],
        |row| {
            let id: Uuid = row.try_get("", "id")?;
            let Ok(kind) = kinds::get(&row.try_get::<String>("", "kind")?) else {
                return Ok(vec![]);
            };
            let mut out = Vec::new();
            for (column, is_fields) in [("listing_fields", true), ("listing_conflicts", false)] {
                let Some(old) = row.try_get::<Option<String>>("", column)? else {
                    continue;
                };
                if !vault.stale(kind, &old) {
                    continue;
                }
                let opened = vault.open_json(id, &old)?;
                let new = match is_fields {
                    true => vault.seal_fields(kind, id, &opened),
                    false => vault.seal_conflicts(kind, id, &opened),
                };
                out.push((column, old, new));
            }
            Ok(out)
        },
    )
    .await
}

async fn projection_rows(db: &Db, kind: &'static KindSchema) -> Result<usize, Error> {
    let vault = db.vault();
    let maybe: Vec<&'static str> = seal::maybe_personal(kind).collect();
    let conflicts = SYSTEM_COLUMNS[1];
    // A conflict's values are personal or not by the field it is about.
    let about: &[&str] = match kind.name == kinds::CONFLICT.name {
        true => &["record_kind", "field"],
        false => &[],
    };
    let mut columns = maybe.clone();
    columns.extend(about);
    columns.push(conflicts);
    rows_by_id(db, kind.table, &columns, |row| {
        let id: Uuid = row.try_get("", "id")?;
        let text = |c: &str| row.try_get::<Option<String>>("", c);
        let mut read = Vec::with_capacity(about.len());
        for c in about {
            read.push((*c, text(c)?));
        }
        let personal = seal::personal_fields(kind, |f| {
            read.iter()
                .find(|(c, _)| *c == f)
                .and_then(|(_, v)| v.as_deref())
        });
        let mut out = Vec::new();
        for field in &personal {
            let Some(old) = text(field)? else {
                continue;
            };
            if !vault.is_current_text(&old) {
                let new = vault.seal_text(id, &vault.open_text(id, &old)?);
                out.push((*field, old, new));
            }
        }
        if let Some(old) = text(conflicts)? {
            if vault.stale(kind, &old) {
                let new = vault.seal_fields(kind, id, &vault.open_json(id, &old)?);
                out.push((conflicts, old, new));
            }
        }
        Ok(out)
    })
    .await
}
