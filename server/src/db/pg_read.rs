//! Large reads on PostgreSQL through sqlx directly, the counterpart of `sqlite_read`.
//!
//! sea-orm's `query_all` collects every row of a result before the caller sees one, and its rows are
//! read by column name. For a first sync's pages (a row per chunk, most of the bytes in blobs) that
//! held a whole page's wire buffers alive at once, so each page's read grew fresh memory, and it
//! looked up eight names per row. Here rows are streamed, each is mapped by position as it arrives
//! and then dropped.

use futures_util::TryStreamExt;
use sea_orm::sea_query::{PostgresQueryBuilder, SelectStatement};
use sea_orm::{DatabaseConnection, DbErr, RuntimeErr};
use sea_query_binder::SqlxBinder;
use sqlx::postgres::PgRow;

use crate::error::Error;

/// Runs `stmt` on PostgreSQL and maps each row with `map`, into a vector allocated for `expected` rows,
/// as long as `take` accepts the rows (the first it refuses ends the read).
pub async fn query<T, F, W>(
    db: &DatabaseConnection,
    stmt: &SelectStatement,
    expected: usize,
    mut map: F,
    mut take: W,
) -> Result<Vec<T>, Error>
where
    F: FnMut(&PgRow) -> Result<T, sqlx::Error>,
    W: FnMut(&T) -> bool,
{
    let (sql, values) = stmt.build_sqlx(PostgresQueryBuilder);
    let mut rows = sqlx::query_with(&sql, values).fetch(db.get_postgres_connection_pool());
    let mut mapped = Vec::with_capacity(expected);
    while let Some(row) = rows.try_next().await.map_err(sqlx_error)? {
        let row = map(&row).map_err(sqlx_error)?;
        if !take(&row) {
            break;
        }
        mapped.push(row);
    }
    Ok(mapped)
}

fn sqlx_error(e: sqlx::Error) -> Error {
    Error::Db(DbErr::Query(RuntimeErr::SqlxError(e)))
}
