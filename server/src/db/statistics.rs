//! Planner statistics for the feed's tables on PostgreSQL.
//!
//! The feed's plans depend on PostgreSQL knowing how large `documents` and `doc_chunks` are. Right
//! after a bulk load it does not, until autovacuum analyses them: a first sync then reads each page
//! through a bitmap of every visible document and a sort, and an incremental pull hashes every
//! visible document per page (BENCHMARKS.md, "Query plans"). Autovacuum may also be turned off,
//! or slow to come round. So each server process checks now and then, with autovacuum's own rule
//! (changed rows past 50 plus a tenth of the table), and analyses what is stale. One process does it
//! at a time (a transaction-level advisory lock); the others skip that round.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};

use crate::db::Db;
use crate::error::Error;

/// The tables whose plans matter most: the feed's two, and the moves every later page scans.
const TABLES: [&str; 3] = ["documents", "doc_chunks", "scope_moves"];
/// An arbitrary constant of this project, so that processes on one database take the same lock.
const LOCK_KEY: i64 = 0x6669_656c_6473_7401;
/// How often a process checks: autovacuum's default naptime is a minute; a fleet's first syncs come
/// sooner after a bulk load than that.
pub const EVERY: Duration = Duration::from_secs(15);

/// Analyses the feed's tables whose statistics are stale, unless another process holds the lock.
/// Answers the tables analysed. PostgreSQL only; SQLite plans without statistics.
pub async fn refresh(conn: &DatabaseConnection) -> Result<Vec<String>, Error> {
    let backend = conn.get_database_backend();
    let txn = conn.begin().await?;
    let locked = txn
        .query_one(Statement::from_sql_and_values(
            backend,
            "SELECT pg_try_advisory_xact_lock($1) AS locked",
            [LOCK_KEY.into()],
        ))
        .await?
        .map(|row| row.try_get::<bool>("", "locked"))
        .transpose()?
        .unwrap_or(false);
    if !locked {
        return Ok(vec![]);
    }
    let stale = txn
        .query_all(Statement::from_sql_and_values(
            backend,
            "SELECT relname::text AS name FROM pg_stat_user_tables \
             WHERE schemaname = current_schema() AND relname = ANY($1) \
             AND n_mod_since_analyze > 50 + 0.1 * n_live_tup",
            [TABLES.map(String::from).to_vec().into()],
        ))
        .await?;
    let mut analysed = Vec::new();
    for row in stale {
        let name: String = row.try_get("", "name")?;
        // `name` is one of `TABLES`: the filter above admits no other.
        txn.execute_unprepared(&format!("ANALYZE \"{name}\""))
            .await?;
        analysed.push(name);
    }
    txn.commit().await?;
    Ok(analysed)
}

/// Runs [`refresh`] every [`EVERY`] for as long as the process serves. Errors are logged: stale
/// statistics slow the feed down but never make it wrong.
pub async fn keep_fresh(db: Db) {
    if !db.is_postgres() {
        return;
    }
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tick.tick().await;
        match refresh(&db.conn).await {
            Ok(tables) if !tables.is_empty() => tracing::info!(?tables, "analysed stale tables"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not refresh planner statistics"),
        }
    }
}
