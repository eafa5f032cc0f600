//! Feed positions: handing them out to write transactions, and telling readers how far the feed is
//! final.
//!
//! The feed's guarantee: a reader that has read up to position N never later finds a committed change
//! at or below N. Positions come from the counter row `feed_counter`; the two databases keep the
//! guarantee differently.
//!
//! SQLite has one writer at a time. The counter is raised inside the write transaction, so positions
//! are taken in commit order and every position up to the counter is final.
//!
//! PostgreSQL runs many writers at once, from several server processes. Raising the counter inside
//! the write transaction would lock its row until that transaction commits, and every process's
//! pushes would take that lock in turn for the whole of their transactions (BENCHMARKS.md, "Several
//! processes on PostgreSQL"). Instead a transaction *reserves* its positions: one short statement on a
//! connection of its own raises the counter and records the reservation with the transaction's id,
//! and commits at once. The write transaction then writes at those positions and deletes its
//! reservation, committing both together. Transactions therefore commit out of position order, so a
//! reader may only read up to just below the oldest reservation still there whose transaction did
//! not roll back: that transaction can still commit there. A reservation whose transaction rolled back
//! (or whose server died) holds nothing back, since `pg_xact_status` reports it aborted, and its
//! positions are simply never used.
//!
//! A push that hangs inside its transaction holds every reader back with it, so PostgreSQL ends a
//! session idle in a transaction for longer than [`IDLE_IN_TRANSACTION`] (see `Db::connect`).

use std::time::Duration;

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, Statement,
};

use crate::db::{BuildWith, Db};
use crate::error::Error;

/// How long a write transaction may wait on its server process before PostgreSQL ends it. A push
/// merges inside its transaction and takes well under a second; a minute means its process is stuck
/// or cut off.
pub const IDLE_IN_TRANSACTION: &str = "60s";

/// How often a process deletes the reservations of transactions that ended without committing.
const TIDY_EVERY: Duration = Duration::from_secs(60);

/// How the write transactions of one server process get their feed positions.
#[derive(Clone)]
pub enum Positions {
    /// SQLite: the counter is raised inside the write transaction.
    InTransaction,
    /// PostgreSQL: reserved on this connection pool, kept apart from the main pool so that write
    /// transactions holding main connections can never wait for one another to reserve.
    Reserved(DatabaseConnection),
}

impl Positions {
    /// Allocates `n` consecutive feed positions for `txn` and returns the first.
    pub async fn allocate(&self, txn: &DatabaseTransaction, n: i64) -> Result<i64, Error> {
        match self {
            Positions::InTransaction => raise_counter(txn, n).await,
            Positions::Reserved(reserver) => reserve(reserver, txn, n).await,
        }
    }
}

/// Raises the counter in `txn`; its row stays locked until `txn` commits, so transactions take
/// positions in the order they commit.
async fn raise_counter(txn: &DatabaseTransaction, n: i64) -> Result<i64, Error> {
    let stmt = Query::update()
        .table(Alias::new("feed_counter"))
        .value(Alias::new("seq"), Expr::col(Alias::new("seq")).add(n))
        .and_where(Expr::col(Alias::new("id")).eq(1))
        .returning_col(Alias::new("seq"))
        .to_owned();
    let row = txn
        .query_one(stmt.build_with(txn))
        .await?
        .ok_or_else(|| Error::Storage("feed counter missing".into()))?;
    let last: i64 = row.try_get("", "seq")?;
    Ok(last - n + 1)
}

/// Reserves `n` positions for `txn` on PostgreSQL, committed at once on `reserver`, and deletes the
/// reservation inside `txn`, so that it disappears exactly when `txn`'s writes appear.
async fn reserve(
    reserver: &DatabaseConnection,
    txn: &DatabaseTransaction,
    n: i64,
) -> Result<i64, Error> {
    let xid: i64 = txn
        .query_one(Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT txid_current() AS xid",
        ))
        .await?
        .ok_or_else(|| Error::Storage("no transaction id".into()))?
        .try_get("", "xid")?;
    let first: i64 = reserver
        .query_one(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "WITH raised AS (UPDATE feed_counter SET seq = seq + $1 WHERE id = 1 RETURNING seq) \
             INSERT INTO feed_reservations (first_seq, last_seq, xid) \
             SELECT seq - $1 + 1, seq, $2 FROM raised RETURNING first_seq",
            [n.into(), xid.into()],
        ))
        .await?
        .ok_or_else(|| Error::Storage("feed counter missing".into()))?
        .try_get("", "first_seq")?;
    txn.execute(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "DELETE FROM feed_reservations WHERE first_seq = $1",
        [first.into()],
    ))
    .await?;
    Ok(first)
}

/// The status of a reservation's transaction: `in progress`, `committed`, `aborted`, or NULL for one
/// too old to tell. `pg_xact_status` rejects an id that was never handed out, which only a reservation
/// copied from another database could carry, so ids at or past the snapshot's `xmax` get NULL. A true
/// reservation's id is always below it: the push took its id before the transaction that committed
/// the reservation took its own, and that one completed before the snapshot saw its row.
const STATUS: &str = "(CASE WHEN xid::text::xid8 < pg_snapshot_xmax(pg_current_snapshot()) \
                      THEN pg_xact_status(xid::text::xid8) END)";

/// The highest position up to which the feed is final: every change at or below it is committed and
/// visible to any statement that starts after this one returns, and no later commit lands there.
pub async fn committed_seq(conn: &impl ConnectionTrait) -> Result<i64, Error> {
    let sql = match conn.get_database_backend() {
        // One statement, one snapshot: a reservation made after it raised the counter after it too.
        // A push deletes its own reservation, so one this snapshot still sees belongs to a push that
        // had not committed when it was taken. It holds readers back unless the push rolled back,
        // even when it reports `committed` by now: a release whose `pg_xact_status` reads the commit
        // log before the list of running transactions can say so while the push's writes are not
        // yet visible to new snapshots. The next statement's snapshot no longer sees it.
        DatabaseBackend::Postgres => format!(
            "SELECT COALESCE( \
                 (SELECT min(first_seq) - 1 FROM feed_reservations \
                  WHERE {STATUS} IN ('in progress', 'committed')), \
                 (SELECT seq FROM feed_counter WHERE id = 1)) AS seq"
        ),
        _ => "SELECT seq FROM feed_counter WHERE id = 1".to_string(),
    };
    let row = conn
        .query_one(Statement::from_string(conn.get_database_backend(), sql))
        .await?
        .ok_or_else(|| Error::Storage("feed counter missing".into()))?;
    Ok(row.try_get("", "seq")?)
}

/// Deletes the reservations of transactions that are no longer running: those that committed
/// deleted their own, so these are of transactions that rolled back or whose server died. Readers
/// already skip them; this keeps the table small.
pub async fn forget_finished(conn: &DatabaseConnection) -> Result<u64, Error> {
    if conn.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(0);
    }
    let done = conn
        .execute_unprepared(&format!(
            "DELETE FROM feed_reservations WHERE {STATUS} IS DISTINCT FROM 'in progress'"
        ))
        .await?;
    Ok(done.rows_affected())
}

/// Runs [`forget_finished`] every [`TIDY_EVERY`] for as long as the process serves (PostgreSQL only).
/// Errors are logged: leftover reservations cost readers a little, never correctness.
pub async fn keep_tidy(db: Db) {
    if !db.is_postgres() {
        return;
    }
    let mut tick = tokio::time::interval(TIDY_EVERY);
    // The first tick is at once, and `Db::connect` has just tidied.
    tick.tick().await;
    loop {
        tick.tick().await;
        match forget_finished(&db.conn).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                reservations = n,
                "forgot the feed reservations of aborted pushes"
            ),
            Err(e) => tracing::warn!(error = %e, "could not forget finished feed reservations"),
        }
    }
}
