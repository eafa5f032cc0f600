//! Connecting to the database (SQLite by default, PostgreSQL in production), running migrations, and
//! the few primitives every write path shares: write transactions and their retries.

pub mod backup;
pub mod entities;
pub mod pg_read;
pub mod positions;
pub mod sqlite_read;
pub mod statistics;

use std::sync::Arc;
use std::time::Duration;

use fieldsync_migrations::{Migrator, MigratorTrait};
use sea_orm::sea_query::{Alias, Expr, SelectStatement};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, DbErr, RuntimeErr, StatementBuilder, TransactionTrait,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::error::Error;
use crate::seal::Vault;
use positions::Positions;

/// The database of one server process.
#[derive(Clone)]
pub struct Db {
    pub conn: DatabaseConnection,
    /// SQLite allows one writer at a time, and a deferred transaction that upgrades to a writer while
    /// another writes fails at once (SQLITE_BUSY_SNAPSHOT) instead of waiting. Serialising the process's
    /// write transactions on this lock avoids that; PostgreSQL needs no such lock (None).
    write_lock: Option<Arc<Mutex<()>>>,
    positions: Positions,
    /// What seals chunks and personal values at rest (see `seal`).
    vault: Arc<Vault>,
}

/// Turns what a user typed into a database URL: a bare path is an SQLite file, created if missing.
pub fn normalize_url(url: &str) -> String {
    if url.contains("://") || url.starts_with("sqlite:") {
        url.to_string()
    } else {
        format!("sqlite://{url}?mode=rwc")
    }
}

/// The file of an SQLite database URL (None for PostgreSQL and in-memory SQLite).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let url = normalize_url(url);
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or_default())
        .filter(|p| !p.is_empty() && !p.starts_with(":memory:"))
        .map(std::path::PathBuf::from)
}

impl Db {
    /// Connects and brings the schema up to date; what is stored is sealed under `vault`.
    pub async fn connect(url: &str, max_connections: u32, vault: Arc<Vault>) -> Result<Db, Error> {
        let url = normalize_url(url);
        let mut options = pool_options(&url, max_connections);
        options
            .map_sqlx_sqlite_opts(|o| {
                // WAL lets readers run beside the writer; FULL makes a commit durable across power loss,
                // because an acknowledged change must never be lost.
                o.journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
                    .create_if_missing(true)
                    // What is deleted or overwritten (a compacted record's chunks, an erased
                    // person's values) is zeroed in the file rather than left in free pages.
                    .pragma("secure_delete", "ON")
                    // sqlx hands each row from SQLite's thread to the task through a channel; a
                    // larger buffer lets a feed page's rows flow without a wake-up every few rows.
                    .row_buffer_size(1024)
            })
            .map_sqlx_postgres_opts(|o| {
                o.options([(
                    "idle_in_transaction_session_timeout",
                    positions::IDLE_IN_TRANSACTION,
                )])
            });
        let conn = open(options, &url).await?;
        Migrator::up(&conn, None).await?;
        let (write_lock, positions) = match conn.get_database_backend() {
            DatabaseBackend::Sqlite => (Some(Arc::new(Mutex::new(()))), Positions::InTransaction),
            _ => (None, Positions::Reserved(reserver(&url).await?)),
        };
        // Reservations left by a server that died mid-push hold nothing back, but take up rows.
        positions::forget_finished(&conn).await?;
        Ok(Db {
            conn,
            write_lock,
            positions,
            vault,
        })
    }

    /// What seals chunks and personal values at rest.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.conn.get_database_backend()
    }

    pub fn is_postgres(&self) -> bool {
        self.backend() == DatabaseBackend::Postgres
    }

    /// Whether a push is merged before its write transaction begins: on SQLite, whose one writer
    /// would otherwise wait for every other push's merge. PostgreSQL merges pushes in parallel inside
    /// their transactions, under row locks; merging ahead there would only read every row twice
    /// (BENCHMARKS.md, "Push").
    pub fn merges_ahead(&self) -> bool {
        self.write_lock.is_some()
    }

    /// Begins a write transaction. On SQLite it first takes the process's write lock, then SQLite's.
    pub async fn begin_write(&self) -> Result<WriteTxn, Error> {
        let guard = self.lock_writes().await;
        let txn = self.conn.begin().await?;
        if guard.is_some() {
            // SQLite begins a transaction as a reader and makes it a writer at its first write; if
            // anything else wrote in between (a statement outside the process's lock, another
            // process such as `fieldsync-server user add`), that write fails at once with
            // SQLITE_BUSY_SNAPSHOT instead of waiting. A write as the first statement takes SQLite's
            // write lock before the transaction reads anything, waiting `busy_timeout` for it, as
            // `BEGIN IMMEDIATE` would (sea-orm only issues a plain `BEGIN`). It matches no row.
            txn.execute_unprepared("DELETE FROM upgrade_tasks WHERE 0")
                .await?;
        }
        Ok(WriteTxn {
            txn,
            positions: self.positions.clone(),
            vault: self.vault.clone(),
            _guard: guard,
        })
    }

    /// On SQLite, the process's write lock, to hold while writing outside [`Db::begin_write`]
    /// (a single statement, which commits on its own); None on PostgreSQL.
    pub async fn lock_writes(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.write_lock {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        }
    }
}

/// A write transaction; dropping it without [`WriteTxn::commit`] rolls it back.
pub struct WriteTxn {
    txn: DatabaseTransaction,
    positions: Positions,
    vault: Arc<Vault>,
    _guard: Option<OwnedMutexGuard<()>>,
}

impl WriteTxn {
    pub async fn commit(self) -> Result<(), Error> {
        Ok(self.txn.commit().await?)
    }

    /// What seals what this transaction stores.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// Allocates `n` consecutive feed positions for this transaction's writes and returns the first.
    /// They become readable when the transaction commits (see `positions`).
    pub async fn allocate_seq(&self, n: i64) -> Result<i64, Error> {
        self.positions.allocate(&self.txn, n).await
    }
}

impl std::ops::Deref for WriteTxn {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

/// How often a write transaction is tried when the database reports a transient conflict.
pub const WRITE_ATTEMPTS: u32 = 5;

/// Whether a failed write transaction should be tried again: a deadlock, a serialisation failure, or
/// two pushes creating the same record at once. Waits a little before saying yes.
pub async fn retry_after(error: &Error, attempt: u32) -> bool {
    let Error::Db(e) = error else { return false };
    if attempt >= WRITE_ATTEMPTS || !is_transient(e) {
        return false;
    }
    tracing::debug!(attempt, error = %e, "retrying a write transaction after a transient conflict");
    tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
    true
}

/// Whether an error is a conflict between concurrent transactions that a retry resolves.
fn is_transient(e: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(sqlx::Error::Database(db)))
    | DbErr::Query(RuntimeErr::SqlxError(sqlx::Error::Database(db)))) = e
    else {
        return false;
    };
    // PostgreSQL: serialization_failure, deadlock_detected, unique_violation. SQLite: BUSY, LOCKED,
    // BUSY_SNAPSHOT, and a primary key or unique index broken by what another write committed since
    // a merge made outside the transaction read (the retry merges inside it).
    matches!(
        db.code().as_deref(),
        Some("40001" | "40P01" | "23505" | "5" | "6" | "517" | "1555" | "2067")
    )
}

/// The pool that PostgreSQL feed reservations are made on (see `positions`). Its commits need not
/// wait for the WAL flush: a reservation lost in a crash lost no write either, since the write
/// transaction that used it commits later and its flush carries the reservation's record with it.
async fn reserver(url: &str) -> Result<DatabaseConnection, Error> {
    let mut options = pool_options(url, 2);
    options.map_sqlx_postgres_opts(|o| o.options([("synchronous_commit", "off")]));
    open(options, url).await
}

/// What every pool of a process shares: at least one connection kept open, and timeouts.
fn pool_options(url: &str, max_connections: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_string());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    options
}

async fn open(options: ConnectOptions, url: &str) -> Result<DatabaseConnection, Error> {
    Database::connect(options)
        .await
        .map_err(|e| Error::Storage(format!("cannot connect to {}: {e}", redact(url))))
}

/// Joins `documents AS d` to a select whose `alias.doc_id` names a document, the select's own table
/// read first. Every such select is bounded by its own table (a range of feed positions, a list of
/// ids); SQLite, without statistics, would rather start from the documents the user may see, by the
/// territory or owner index, and sort all their rows for every page, which made a bootstrap of 100,000
/// records quadratic. SQLite reads `CROSS JOIN` as "this order"; PostgreSQL plans well unaided.
pub fn join_documents(stmt: &mut SelectStatement, alias: &str, backend: DatabaseBackend) {
    use sea_orm::sea_query::{JoinType, SeaRc, TableRef};
    let d = Alias::new("d");
    let join = match backend {
        DatabaseBackend::Sqlite => JoinType::CrossJoin,
        _ => JoinType::InnerJoin,
    };
    stmt.join(
        join,
        TableRef::TableAlias(SeaRc::new(Alias::new("documents")), SeaRc::new(d.clone())),
        Expr::col((d, Alias::new("id"))).equals((Alias::new(alias), Alias::new("doc_id"))),
    );
}

/// Builds a sea-query statement for the connection's backend.
pub trait BuildWith {
    fn build_with(&self, conn: &impl ConnectionTrait) -> sea_orm::Statement;
}

impl<S: StatementBuilder> BuildWith for S {
    fn build_with(&self, conn: &impl ConnectionTrait) -> sea_orm::Statement {
        conn.get_database_backend().build(self)
    }
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}@{}", &url[..scheme + 3], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised_and_redacted() {
        assert_eq!(
            normalize_url("data/fs.sqlite"),
            "sqlite://data/fs.sqlite?mode=rwc"
        );
        assert_eq!(normalize_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("postgres://user:secret@host:5432/db"),
            "postgres://user@host:5432/db"
        );
        assert_eq!(redact("sqlite://x.sqlite"), "sqlite://x.sqlite");
    }

    /// A write outside the process's write lock (here: a statement on the pool, as a device's
    /// `last_seen_at` update is) lands between a write transaction's first read and its first
    /// write: the transaction must wait for it, not fail with `database is locked`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_transaction_is_not_failed_by_a_writer_outside_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(
            dir.path().join("t.sqlite").to_str().unwrap(),
            4,
            crate::seal::test_vault(),
        )
        .await
        .unwrap();
        let insert = |name: &str| {
            format!(
                "INSERT INTO territories (id, name, created_at) VALUES ('{}', '{name}', 0)",
                uuid::Uuid::now_v7()
            )
        };
        let txn = db.begin_write().await.unwrap();
        txn.execute_unprepared("SELECT COUNT(*) FROM territories")
            .await
            .unwrap();
        let outside = {
            let conn = db.conn.clone();
            let sql = insert("Outside");
            tokio::spawn(async move { conn.execute_unprepared(&sql).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        txn.execute_unprepared(&insert("Inside")).await.unwrap();
        txn.commit().await.unwrap();
        outside.await.unwrap().unwrap();
        let n = db
            .conn
            .query_one(sea_orm::Statement::from_string(
                DatabaseBackend::Sqlite,
                "SELECT COUNT(*) AS n FROM territories",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        assert_eq!(n, 2);
    }
}
