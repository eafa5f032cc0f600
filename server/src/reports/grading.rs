//! The customer-value grading written to customers: once a day the server grades every customer by
//! the customer-value report's ABC rule (trailing twelve months' revenue, A to 80%, B to 95%) and
//! writes each one's `tier` where it changed, unless a manager locked it (`tier_locked`). The
//! writes are the server's own changes through the merge path, so devices receive them.
//!
//! Of several processes on one database, one grades per day: it claims the day in
//! `schedule_runs` first.

use std::time::Duration;

use sea_orm::sea_query::{Alias, Expr, OnConflict, Query};
use sea_orm::ConnectionTrait;
use sync_core::kinds::CUSTOMER;
use sync_core::Value;
use uuid::Uuid;

use super::customer_value::grades;
use super::filters::{RawFilters, DAY_MS};
use super::sql::{f, Ctx, Ty};
use super::{Cell, Scope};
use crate::crm::rules::write_fields;
use crate::db::{now_ms, BuildWith};
use crate::error::Error;
use crate::sync::engine::SyncEngine;

/// Why the server writes, in a record's history.
const PURPOSE: &str = "grading";
const JOB: &str = "grading";
/// How often a process looks whether today's grading is due.
const LOOK_EVERY: Duration = Duration::from_secs(3_600);
/// The first look, after a process starts: not at once, so that a restart (or a test's server)
/// is not met by a grading of every customer while it settles.
const FIRST_LOOK: Duration = Duration::from_secs(600);

/// Grades every customer as of `at` and writes the tiers that changed; returns how many.
pub async fn regrade(sync: &SyncEngine, at: i64) -> Result<usize, Error> {
    let conn = &sync.db.conn;
    let everyone = Scope {
        all: true,
        territories: Vec::new(),
        agent: None,
    };
    let filters = RawFilters::default().parse(at)?;
    let ctx = Ctx {
        conn,
        scope: &everyone,
        filters: &filters,
        territory: None,
    };
    let graded = grades(&ctx).await?;
    let mut q = ctx.facts(super::sales::CUSTOMERS);
    q.expr_as(f("id"), Alias::new("id"))
        .expr_as(f("tier"), Alias::new("tier"))
        .and_where(f("tier_locked").is_null().or(f("tier_locked").eq(false)));
    let customers = ctx
        .table(&q, &[("id", Ty::Uuid), ("tier", Ty::Text)])
        .await?;
    let mut updates = Vec::new();
    for row in customers.rows {
        let Cell::Text(id) = &row[0] else { continue };
        // Customers with nothing to grade are the rest: C.
        let tier = graded.get(id).copied().unwrap_or("C");
        if row[1] != Cell::Text(tier.into()) {
            let id: Uuid = id.parse().map_err(|e| Error::Internal(format!("{e}")))?;
            updates.push((id, &CUSTOMER, vec![("tier", Value::from(tier))]));
        }
    }
    let n = updates.len();
    write_fields(sync, PURPOSE, updates).await?;
    Ok(n)
}

/// Claims today's run of `job` for this process: true for the one process whose claim moved the
/// job's last run past a day ago.
pub async fn claim(conn: &impl ConnectionTrait, job: &str, now: i64) -> Result<bool, Error> {
    let stmt = Query::insert()
        .into_table(Alias::new("schedule_runs"))
        .columns([Alias::new("name"), Alias::new("last_run")])
        .values_panic([job.into(), now.into()])
        .on_conflict(
            OnConflict::column(Alias::new("name"))
                .update_column(Alias::new("last_run"))
                .action_and_where(
                    Expr::col((Alias::new("schedule_runs"), Alias::new("last_run")))
                        .lte(now - DAY_MS),
                )
                .to_owned(),
        )
        .to_owned();
    Ok(conn.execute(stmt.build_with(conn)).await?.rows_affected() == 1)
}

/// Grades the customers once a day, on whichever process claims the day.
pub async fn keep_graded(sync: SyncEngine) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + FIRST_LOOK, LOOK_EVERY);
    loop {
        tick.tick().await;
        let now = now_ms();
        match claim(&sync.db.conn, JOB, now).await {
            Ok(true) => match regrade(&sync, now).await {
                Ok(n) => tracing::info!(changed = n, "graded the customers"),
                Err(e) => tracing::warn!(error = %e, "grading the customers failed"),
            },
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "could not claim the grading"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_claim_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::connect(
            dir.path().join("c.sqlite").to_str().unwrap(),
            2,
            crate::seal::test_vault(),
        )
        .await
        .unwrap();
        let day0 = 1_000 * DAY_MS;
        assert!(claim(&db.conn, "job", day0).await.unwrap());
        assert!(!claim(&db.conn, "job", day0 + DAY_MS - 1).await.unwrap());
        assert!(claim(&db.conn, "other", day0).await.unwrap());
        assert!(claim(&db.conn, "job", day0 + DAY_MS).await.unwrap());
    }
}
