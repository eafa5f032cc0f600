//! Large reads on SQLite through rusqlite, on the raw handle of a connection of the sqlx pool.
//!
//! sqlx's SQLite driver runs a statement on the connection's worker thread, copies every value of
//! every row there, sends each row over a channel to the async side, where sea-orm copies it again.
//! For a first sync's pages (a row per chunk, most of the bytes in blobs) that path would be most of
//! the server's CPU per page (BENCHMARKS.md, "Bootstrap"). Here a statement runs on a blocking thread and
//! its rows are read once, straight into what the caller builds.
//!
//! The connection is one of the pool's, so it has the pool's settings (WAL, busy timeout) and counts
//! against its size; sqlx's worker waits while the handle is lent out.

use sea_orm::sea_query::{SelectStatement, SqliteQueryBuilder};
use sea_orm::{DatabaseConnection, DbErr, RuntimeErr};
use sea_query_rusqlite::RusqliteBinder;

use crate::error::Error;

/// Runs `stmt` on SQLite and maps each row with `map`, into a vector allocated for `expected` rows,
/// as long as `take` accepts the rows (the first it refuses ends the read, unread).
pub async fn query<T, F, W>(
    db: &DatabaseConnection,
    stmt: &SelectStatement,
    expected: usize,
    mut map: F,
    mut take: W,
) -> Result<Vec<T>, Error>
where
    T: Send + 'static,
    F: FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T> + Send + 'static,
    W: FnMut(&T) -> bool + Send + 'static,
{
    fold(db, stmt, Vec::with_capacity(expected), move |rows, row| {
        let row = map(row)?;
        if !take(&row) {
            return Ok(false);
        }
        rows.push(row);
        Ok(true)
    })
    .await
}

/// Runs `stmt` on SQLite and folds its rows into `acc` one at a time, holding none of them, until
/// `step` answers false.
pub async fn fold<A, F>(
    db: &DatabaseConnection,
    stmt: &SelectStatement,
    mut acc: A,
    mut step: F,
) -> Result<A, Error>
where
    A: Send + 'static,
    F: FnMut(&mut A, &rusqlite::Row<'_>) -> Result<bool, Error> + Send + 'static,
{
    let (sql, values) = stmt.build_rusqlite(SqliteQueryBuilder);
    let mut conn = db
        .get_sqlite_connection_pool()
        .acquire()
        .await
        .map_err(pool_error)?;
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || -> Result<A, Error> {
        let mut locked = runtime.block_on(conn.lock_handle()).map_err(pool_error)?;
        // SAFETY: the handle is an open connection of the pool, lent to this thread alone while
        // `locked` lives (sqlx's worker waits for it). A connection made with `from_handle` never
        // closes the handle, and it is dropped at the end of this closure, before `locked`.
        let sqlite = unsafe { rusqlite::Connection::from_handle(locked.as_raw_handle().as_ptr()) }?;
        let mut statement = sqlite.prepare(&sql)?;
        let mut rows = statement.query(&*values.as_params())?;
        while let Some(row) = rows.next()? {
            if !step(&mut acc, row)? {
                break;
            }
        }
        Ok(acc)
    })
    .await
    .map_err(|e| Error::Internal(format!("a SQLite read stopped: {e}")))?
}

fn pool_error(e: sqlx::Error) -> Error {
    Error::Db(DbErr::Conn(RuntimeErr::SqlxError(e)))
}
