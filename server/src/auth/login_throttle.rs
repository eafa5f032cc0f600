//! Failed-login buckets shared by every server process on one database.
//!
//! The same token bucket as [`crate::auth::ratelimit::Limiter`], kept in the `login_throttle` table instead
//! of in memory: behind a load balancer an attacker gets the configured number of guesses, not that
//! number times the processes. Each attempt is one upsert that refills the bucket and takes a token in
//! the same statement, so concurrent attempts on any process cannot both take the last one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use sha2::{Digest, Sha256};

use crate::auth::ratelimit::Rate;
use crate::db::now_ms;
use crate::error::Error;

/// Every this many attempts, a process deletes its scope's buckets that have been quiet for a whole
/// window (they are full again, as a missing row is), so a flood of distinct keys cannot grow the
/// table without bound.
const PRUNE_EVERY: u64 = 256;

/// The tokens a bucket holds now: what it held, plus what refilled since, at most `burst`. A clock
/// that runs behind another process's refills nothing rather than taking tokens away.
const REFILLED: &str =
    "LEAST($3, login_throttle.tokens + GREATEST(0, $4 - login_throttle.at_ms) / $5)";

/// One limit (per account, or per client address) of failed logins.
#[derive(Debug)]
pub struct Throttle {
    scope: &'static str,
    rate: Rate,
    attempts: AtomicU64,
}

impl Throttle {
    pub fn new(scope: &'static str, rate: Rate) -> Throttle {
        Throttle {
            scope,
            rate,
            attempts: AtomicU64::new(0),
        }
    }

    fn per_token_ms(&self) -> f64 {
        self.rate.refill_interval().as_secs_f64() * 1000.0
    }

    /// `$1` scope, `$2` key, `$3` burst, `$4` now, `$5` milliseconds per token.
    fn statement(&self, backend: DbBackend, sql: &str, key: &str, now: i64) -> Statement {
        let sql = match backend {
            // SQLite spells the two-argument forms MIN and MAX, and numbers parameters `?N`.
            DbBackend::Sqlite => sql
                .replace("LEAST(", "MIN(")
                .replace("GREATEST(", "MAX(")
                .replace('$', "?"),
            _ => sql.to_string(),
        };
        let key = hex::encode(Sha256::digest(key.as_bytes()));
        let values: [Value; 5] = [
            self.scope.into(),
            key.into(),
            f64::from(self.rate.burst).into(),
            now.into(),
            self.per_token_ms().into(),
        ];
        Statement::from_sql_and_values(backend, sql, values)
    }

    /// Takes one token for `key`; when none is left, says how long until the next one.
    pub async fn take(
        &self,
        conn: &impl ConnectionTrait,
        key: &str,
    ) -> Result<Result<(), Duration>, Error> {
        let backend = conn.get_database_backend();
        let now = now_ms();
        if self.attempts.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            let quiet_since = now - self.rate.window.as_millis() as i64;
            conn.execute(Statement::from_sql_and_values(
                backend,
                match backend {
                    DbBackend::Sqlite => "DELETE FROM login_throttle WHERE scope = ? AND at_ms < ?",
                    _ => "DELETE FROM login_throttle WHERE scope = $1 AND at_ms < $2",
                },
                [self.scope.into(), quiet_since.into()],
            ))
            .await?;
        }
        let sql = format!(
            "INSERT INTO login_throttle (scope, key, tokens, at_ms, taken) VALUES ($1, $2, $3 - 1, $4, 1)
             ON CONFLICT (scope, key) DO UPDATE SET
               tokens = CASE WHEN {REFILLED} >= 1 THEN {REFILLED} - 1 ELSE {REFILLED} END,
               taken = CASE WHEN {REFILLED} >= 1 THEN 1 ELSE 0 END,
               at_ms = $4
             RETURNING tokens, taken"
        );
        let row = conn
            .query_one(self.statement(backend, &sql, key, now))
            .await?
            .ok_or_else(|| Error::Internal("the throttle upsert returned no row".into()))?;
        let tokens: f64 = row.try_get("", "tokens")?;
        let taken: i32 = row.try_get("", "taken")?;
        Ok(match taken {
            1 => Ok(()),
            _ => Err(Duration::from_secs_f64(
                (1.0 - tokens).max(0.0) * self.per_token_ms() / 1000.0,
            )),
        })
    }

    /// Gives back a token taken for an attempt that turned out not to count (a successful login).
    pub async fn refund(&self, conn: &impl ConnectionTrait, key: &str) -> Result<(), Error> {
        let sql = format!(
            "UPDATE login_throttle SET tokens = LEAST($3, {REFILLED} + 1), at_ms = $4
             WHERE scope = $1 AND key = $2"
        );
        let backend = conn.get_database_backend();
        conn.execute(self.statement(backend, &sql, key, now_ms()))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    async fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(
            &dir.path().join("t.sqlite").display().to_string(),
            2,
            crate::seal::test_vault(),
        )
        .await
        .unwrap();
        (dir, db)
    }

    async fn rows(db: &Db, scope: &str) -> i64 {
        let row = db
            .conn
            .query_one(Statement::from_sql_and_values(
                db.backend(),
                "SELECT COUNT(*) AS n FROM login_throttle WHERE scope = ?",
                [scope.into()],
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get("", "n").unwrap()
    }

    #[tokio::test]
    async fn a_bucket_allows_its_burst_then_says_when_to_retry() {
        let (_dir, db) = db().await;
        let throttle = Throttle::new("account", Rate::new(3, Duration::from_secs(3600)));
        for _ in 0..3 {
            assert_eq!(throttle.take(&db.conn, "a").await.unwrap(), Ok(()));
        }
        let wait = throttle.take(&db.conn, "a").await.unwrap().unwrap_err();
        assert!(wait > Duration::from_secs(1190) && wait <= Duration::from_secs(1200));
        // A refunded token can be taken again, once.
        throttle.refund(&db.conn, "a").await.unwrap();
        assert_eq!(throttle.take(&db.conn, "a").await.unwrap(), Ok(()));
        assert!(throttle.take(&db.conn, "a").await.unwrap().is_err());
        // Other keys, and the same key in another scope, have their own buckets.
        assert_eq!(throttle.take(&db.conn, "b").await.unwrap(), Ok(()));
        let addrs = Throttle::new("addr", Rate::new(3, Duration::from_secs(3600)));
        assert_eq!(addrs.take(&db.conn, "a").await.unwrap(), Ok(()));
        assert_eq!(
            (rows(&db, "account").await, rows(&db, "addr").await),
            (2, 1)
        );
    }

    #[tokio::test]
    async fn buckets_quiet_for_a_window_are_pruned() {
        let (_dir, db) = db().await;
        let rate = Rate::new(5, Duration::from_secs(1));
        let (accounts, addrs) = (Throttle::new("account", rate), Throttle::new("addr", rate));
        accounts.take(&db.conn, "quiet").await.unwrap().unwrap();
        addrs.take(&db.conn, "quiet").await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        for n in 2..PRUNE_EVERY {
            accounts
                .take(&db.conn, &format!("key {n}"))
                .await
                .unwrap()
                .unwrap();
        }
        assert_eq!(rows(&db, "account").await, PRUNE_EVERY as i64 - 1);
        // The attempt that prunes removes the bucket that was quiet for a whole window, of its own
        // scope only.
        accounts.take(&db.conn, "last").await.unwrap().unwrap();
        assert_eq!(rows(&db, "account").await, PRUNE_EVERY as i64 - 1);
        assert_eq!(rows(&db, "addr").await, 1);
    }
}
