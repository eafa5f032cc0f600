//! Sync health: each device in scope, when it last synced, how far behind the feed it is, and the
//! edits of it that wait in the quarantine; with the open alerts and conflicts.

use sea_orm::sea_query::{Alias, Expr, JoinType, Order, Query};

use super::filters::DAY_MS;
use super::sql::{col, cref, flag, sum, Ctx, Fact, Ty};
use super::{Cell, Report, Table};
use crate::db::positions::committed_seq;
use crate::error::Error;

/// At most this many devices are listed, those that synced longest ago first.
pub const MAX_DEVICES: u64 = 2_000;

pub const DEFINITIONS: &[(&str, &str)] = &[
    ("devices", "devices not revoked of the users in scope: an admin's all, a manager's those of users holding one of their territories, an agent's own; the list (at most 2,000, revoked ones last) shows revoked ones too"),
    ("revoked_at", "when the device was revoked; empty while it may sync"),
    ("last_sync", "when the device last authenticated a call (milliseconds since the epoch); empty if never"),
    ("hours_since_sync", "the period's end (or now) − last_sync, in hours"),
    ("stale", "devices not revoked that have not synced in the day before the period's end (or now), or never"),
    ("lag", "feed positions the server has committed that the device has not yet acknowledged"),
    ("quarantined", "the device's edits waiting in the quarantine for a manager"),
    ("outbox", "the changes waiting on the device, as it last told the server (the `fieldsync-outbox` header the SDK sends with every call); empty if it never did"),
    ("app_version", "the device's app and version, as it last told the server (`fieldsync-app-version`)"),
    ("open_alerts", "open alerts in scope; open_conflicts likewise; the summary's outbox is the devices' (not revoked) outboxes together"),
];

pub async fn report(ctx: &Ctx<'_>, now: i64) -> Result<Report, Error> {
    let at = ctx.filters.to.min(now);
    let head = committed_seq(ctx.conn).await?;
    let mut q = Query::select();
    q.from_as(Alias::new("devices"), Alias::new("dv"))
        .join_as(
            JoinType::InnerJoin,
            Alias::new("users"),
            Alias::new("u"),
            col("u", "id").equals(cref("dv", "user_id")),
        )
        .expr_as(col("dv", "id"), Alias::new("device_id"))
        .expr_as(col("dv", "name"), Alias::new("device"))
        .expr_as(col("u", "email"), Alias::new("user"))
        .expr_as(col("u", "role"), Alias::new("role"))
        .expr_as(col("dv", "last_seen_at"), Alias::new("last_sync"))
        .expr_as(col("dv", "revoked_at"), Alias::new("revoked_at"))
        .expr_as(col("dv", "outbox"), Alias::new("outbox"))
        .expr_as(col("dv", "app_version"), Alias::new("app_version"))
        .expr_as(col("dv", "checkpoint"), Alias::new("checkpoint"))
        .expr_as(
            Expr::cust(
                "(SELECT CAST(COUNT(*) AS BIGINT) FROM \"quarantine\" \"qq\" \
                 WHERE \"qq\".\"device_id\" = \"dv\".\"id\" AND \"qq\".\"status\" = 'pending')",
            ),
            Alias::new("quarantined"),
        )
        // Revoked devices last: they sync no more.
        .order_by_expr(Expr::cust("\"dv\".\"revoked_at\" IS NULL"), Order::Desc)
        .order_by_expr(Expr::cust("\"dv\".\"last_seen_at\" IS NULL"), Order::Desc)
        .order_by_expr(col("dv", "last_seen_at").into(), Order::Asc)
        .order_by_expr(col("dv", "id").into(), Order::Asc)
        .limit(MAX_DEVICES);
    if let Some(me) = ctx.scope.agent {
        q.and_where(col("dv", "user_id").eq(me));
    } else if !ctx.scope.all {
        let mut held = Query::select();
        held.column(Alias::new("user_id"))
            .from(Alias::new("user_territories"))
            .and_where(Expr::col(Alias::new("territory_id")).is_in(ctx.scope.territories.clone()));
        q.and_where(col("dv", "user_id").in_subquery(held));
    }
    if let Some(agent) = ctx.filters.agent {
        q.and_where(col("dv", "user_id").eq(agent));
    }
    if let Some(t) = ctx.territory {
        let mut held = Query::select();
        held.column(Alias::new("user_id"))
            .from(Alias::new("user_territories"))
            .and_where(Expr::col(Alias::new("territory_id")).eq(t));
        q.and_where(col("dv", "user_id").in_subquery(held));
    }
    let raw = ctx
        .table(
            &q,
            &[
                ("device_id", Ty::Uuid),
                ("device", Ty::Text),
                ("user", Ty::Text),
                ("role", Ty::Text),
                ("last_sync", Ty::Int),
                ("revoked_at", Ty::Int),
                ("checkpoint", Ty::Int),
                ("quarantined", Ty::Int),
                ("outbox", Ty::Int),
                ("app_version", Ty::Text),
            ],
        )
        .await?;
    let mut devices = Table::new(&[
        "device_id",
        "device",
        "user",
        "role",
        "last_sync",
        "revoked_at",
        "hours_since_sync",
        "lag",
        "quarantined",
        "outbox",
        "app_version",
    ]);
    let (mut active, mut stale, mut quarantined) = (0i64, 0i64, 0i64);
    for r in &raw.rows {
        let revoked = r[5] != Cell::Null;
        let hours = match r[4] {
            Cell::Int(seen) => Cell::Float((at - seen) as f64 / 3_600_000.0),
            _ => Cell::Null,
        };
        if !revoked {
            active += 1;
            if !matches!(r[4], Cell::Int(seen) if at - seen <= DAY_MS) {
                stale += 1;
            }
        }
        quarantined += r[7].int();
        devices.rows.push(vec![
            r[0].clone(),
            r[1].clone(),
            r[2].clone(),
            r[3].clone(),
            r[4].clone(),
            r[5].clone(),
            hours,
            (head - r[6].int()).max(0).into(),
            r[7].clone(),
            r[8].clone(),
            r[9].clone(),
        ]);
    }

    let mut open = Vec::new();
    for fact in [
        Fact {
            table: "alerts",
            agent: None,
            customer: Some("customer_id"),
        },
        Fact {
            table: "record_conflicts",
            agent: None,
            customer: Some("customer_id"),
        },
    ] {
        let mut q = ctx.facts(fact);
        q.expr_as(sum(flag(col("f", "status").eq("open"))), Alias::new("n"));
        open.push(ctx.table(&q, &[("n", Ty::Int)]).await?.get(0, "n").int());
    }
    // What waits on the devices that may still sync.
    let outbox: i64 = devices
        .rows
        .iter()
        .filter(|r| r[5] == Cell::Null)
        .map(|r| r[9].int())
        .sum();
    let mut summary = Table::new(&[
        "devices",
        "stale",
        "quarantined",
        "outbox",
        "open_alerts",
        "open_conflicts",
    ]);
    summary.rows.push(vec![
        active.into(),
        stale.into(),
        quarantined.into(),
        outbox.into(),
        open[0].into(),
        open[1].into(),
    ]);
    Ok(Report {
        name: "sync-health",
        filters: ctx.filters.clone(),
        definitions: DEFINITIONS,
        sections: vec![("summary", summary), ("devices", devices)],
    })
}
