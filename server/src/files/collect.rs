//! Collecting files no record references any more, after a grace period, and uploads abandoned
//! half-way. A file's grace runs from the first pass that found it unreferenced; one referenced
//! again meanwhile starts over.

use std::time::Duration;

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::ConnectionTrait;
use serde::Serialize;

use crate::db::{now_ms, BuildWith, Db};
use crate::error::Error;
use crate::files::refs::referenced;
use crate::files::store::FileStore;
use crate::files::uploads;

/// An upload nothing was sent to for this long is abandoned: a phone offline for a day starts its
/// upload over, which costs it one file's bytes.
pub const UPLOAD_IDLE: Duration = Duration::from_secs(24 * 3600);
/// How often a server collects.
pub const EVERY: Duration = Duration::from_secs(3600);

/// What one pass collected.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Collected {
    /// Files deleted, and their bytes.
    pub files: u64,
    pub bytes: u64,
    /// Files found unreferenced, whose grace runs.
    pub waiting: u64,
    /// Uploads abandoned and dropped.
    pub uploads: u64,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// One pass: marks when files became unreferenced, deletes those whose grace ran out, and drops
/// uploads idle for [`UPLOAD_IDLE`] and the pieces of uploads that no longer exist.
pub async fn collect(db: &Db, store: &FileStore, grace: Duration) -> Result<Collected, Error> {
    let now = now_ms();
    let conn = &db.conn;
    let table = Alias::new("attachments");
    let since = Alias::new("unreferenced_since");
    {
        let _lock = db.lock_writes().await;
        let mark = Query::update()
            .table(table.clone())
            .value(since.clone(), now)
            .and_where(Expr::col(since.clone()).is_null())
            .cond_where(referenced().not())
            .to_owned();
        conn.execute(mark.build_with(conn)).await?;
        let unmark = Query::update()
            .table(table.clone())
            .value(since.clone(), Option::<i64>::None)
            .and_where(Expr::col(since.clone()).is_not_null())
            .cond_where(referenced())
            .to_owned();
        conn.execute(unmark.build_with(conn)).await?;
    }
    let cutoff = now.saturating_sub(ms(grace));
    let due = Query::select()
        .columns(["hash", "size", "unreferenced_since"].map(Alias::new))
        .from(table.clone())
        .and_where(Expr::col(since.clone()).is_not_null())
        .to_owned();
    let mut out = Collected::default();
    for row in conn.query_all(due.build_with(conn)).await? {
        let hash: String = row.try_get("", "hash")?;
        let size: i64 = row.try_get("", "size")?;
        let at: i64 = row.try_get("", "unreferenced_since")?;
        if at > cutoff {
            out.waiting += 1;
            continue;
        }
        // The row goes only if it is still unreferenced and still due, and the file with it, in
        // one transaction: an upload of the same file meanwhile either comes first (and the
        // row stays) or waits for this transaction (and writes the file again).
        let txn = db.begin_write().await?;
        let delete = Query::delete()
            .from_table(table.clone())
            .and_where(Expr::col(Alias::new("hash")).eq(hash.clone()))
            .and_where(Expr::col(since.clone()).lte(cutoff))
            .cond_where(referenced().not())
            .to_owned();
        if txn.execute(delete.build_with(&*txn)).await?.rows_affected() == 1 {
            store.delete(&FileStore::file_key(&hash)).await?;
            out.files += 1;
            out.bytes += size as u64;
        }
        txn.commit().await?;
    }
    for id in uploads::idle_since(conn, now.saturating_sub(ms(UPLOAD_IDLE))).await? {
        uploads::discard(db, store, id).await?;
        out.uploads += 1;
    }
    sweep_parts(conn, store, now.saturating_sub(ms(UPLOAD_IDLE))).await?;
    Ok(out)
}

/// Deletes pieces of uploads older than `before` that no part row names: left by a server that
/// stopped between storing a piece and recording it, or between keeping a file and deleting its
/// pieces.
async fn sweep_parts(
    conn: &impl ConnectionTrait,
    store: &FileStore,
    before: i64,
) -> Result<(), Error> {
    for (key, _, modified) in store.list("uploads").await? {
        if modified >= before {
            continue;
        }
        let named = Query::select()
            .expr(Expr::val(1))
            .from(Alias::new("upload_parts"))
            .and_where(Expr::col(Alias::new("key")).eq(key.to_string()))
            .to_owned();
        if conn.query_one(named.build_with(conn)).await?.is_none() {
            store.delete(&key).await?;
        }
    }
    Ok(())
}

/// Collects every [`EVERY`], for as long as the server runs.
pub async fn keep_collecting(db: Db, store: FileStore, grace: Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + EVERY, EVERY);
    loop {
        tick.tick().await;
        match collect(&db, &store, grace).await {
            Ok(c) if c.files > 0 || c.uploads > 0 => {
                tracing::info!(
                    files = c.files,
                    bytes = c.bytes,
                    uploads = c.uploads,
                    "collected files"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "collecting files failed"),
        }
    }
}
