//! Visits: plan compliance, geo-verified check-ins, unplanned share, visits per field day, duration,
//! strike rate, coverage, frequency compliance per tier, and the customers overdue for a visit.

use sea_orm::sea_query::{Alias, Expr, JoinType, Order, Query, SelectStatement, SimpleExpr};

use super::filters::DAY_MS;
use super::sales::{active_customers, ACTIVE, CUSTOMERS};
use super::sql::{col, count, cref, f, flag, live, sum, Ctx, Fact, Ty, F};
use super::{ratio, Cell, Report, Table};
use crate::error::Error;

const VISITS: Fact = Fact {
    table: "visits",
    agent: Some("agent_id"),
    customer: Some("customer_id"),
};

/// At most this many overdue customers are listed, the longest unvisited first.
pub const MAX_OVERDUE: u64 = 1_000;

pub const DEFINITIONS: &[(&str, &str)] = &[
    ("planned", "visits planned to start in the period (`planned_start`), not cancelled"),
    ("planned_done", "of those, visits completed with a check-in on their planned day (UTC)"),
    ("plan_compliance", "planned_done ÷ planned"),
    ("check_ins", "visits checked in during the period (`check_in_at`)"),
    ("verified_rate", "check-ins graded `verified` (within the geofence) ÷ check_ins"),
    ("completed", "visits with status completed checked in during the period"),
    ("unplanned_share", "completed visits that had no planned start ÷ completed"),
    ("field_days", "distinct (agent, UTC day) with at least one completed check-in"),
    ("visits_per_field_day", "completed ÷ field_days"),
    ("average_minutes", "mean of check-out − check-in, in minutes, over completed visits with a check-out"),
    ("strike_rate", "completed visits with at least one order (not cancelled) naming the visit ÷ completed"),
    ("coverage", "distinct active customers (status active, won back or unset) with a completed visit ÷ active customers in scope"),
    ("frequency_compliance", "per tier: customers whose completed visits in the period reach the tier policy's visits_per_period × period length ÷ period_days, ÷ the tier's customers"),
    ("by_period", "per period of the granularity (UTC): planned and planned_done of the visits planned to start in it, check_ins, verified_rate, completed and strike_rate of those checked in during it"),
    ("days_since_visit", "overdue: customers with a tier policy whose last completed visit is longer ago than period_days ÷ visits_per_period at the period's end, or who were never visited (empty)"),
];

fn completed() -> SimpleExpr {
    f("status").eq("completed")
}

fn with_order() -> SimpleExpr {
    Expr::cust(
        "EXISTS (SELECT 1 FROM \"orders\" \"o\" WHERE \"o\".\"visit_id\" = \"f\".\"id\" \
         AND (\"o\".\"deleted\" IS NULL OR \"o\".\"deleted\" = FALSE) AND \"o\".\"status\" <> 'cancelled')",
    )
}

/// How a query's rows are grouped: one row in all, one per agent, or one per period of the
/// granularity (a visit falls in the period of the date the query counts it by).
#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    All,
    Agent,
    Period,
}

/// Groups `q` by `by`, a period being that of `date`.
fn group(ctx: &Ctx, q: &mut SelectStatement, by: By, date: &str) {
    match by {
        By::All => {}
        By::Agent => {
            q.expr_as(f("agent_id"), Alias::new("agent_id"))
                .add_group_by([f("agent_id").into()]);
        }
        By::Period => {
            let period = ctx.bucket(F, date, ctx.filters.granularity);
            q.expr_as(period.clone(), Alias::new("period"))
                .add_group_by([period.clone()])
                .order_by_expr(period, Order::Asc);
        }
    }
}

/// Check-in figures of visits checked in during the period, in total, per agent or per period.
fn check_ins(ctx: &Ctx, by: By) -> SelectStatement {
    let mut q = ctx.facts(VISITS);
    let duration = f("check_out_at").sub(f("check_in_at"));
    let timed = completed().and(f("check_out_at").gte(f("check_in_at")));
    q.cond_where(ctx.within(f("check_in_at"), ctx.filters.from, ctx.filters.to))
        .expr_as(count(), Alias::new("check_ins"))
        .expr_as(sum(flag(f("check_in_result").eq("verified"))), Alias::new("verified"))
        .expr_as(sum(flag(completed())), Alias::new("completed"))
        .expr_as(
            sum(flag(completed().and(f("planned_start").is_null()))),
            Alias::new("unplanned"),
        )
        .expr_as(
            sum(Expr::case(timed.clone(), duration).finally(0i64)),
            Alias::new("duration_ms"),
        )
        .expr_as(sum(flag(timed)), Alias::new("timed"))
        .expr_as(sum(flag(completed().and(with_order()))), Alias::new("struck"))
        .expr_as(
            // Only active customers: the coverage's denominator.
            Expr::cust(format!(
                "COUNT(DISTINCT CASE WHEN \"f\".\"status\" = 'completed' AND (\"c\".\"status\" IS NULL \
                 OR \"c\".\"status\" IN ('{}')) THEN \"f\".\"customer_id\" END)",
                ACTIVE.join("', '")
            )),
            Alias::new("customers"),
        );
    group(ctx, &mut q, by, "check_in_at");
    q
}

const CHECK_IN_COLUMNS: [(&str, Ty); 8] = [
    ("check_ins", Ty::Int),
    ("verified", Ty::Int),
    ("completed", Ty::Int),
    ("unplanned", Ty::Int),
    ("duration_ms", Ty::Int),
    ("timed", Ty::Int),
    ("struck", Ty::Int),
    ("customers", Ty::Int),
];

/// Planned visits of the period and those done on their day, in total, per agent or per period.
fn plans(ctx: &Ctx, by: By) -> SelectStatement {
    let mut q = ctx.facts(VISITS);
    let on_day = completed().and(Expr::cust(format!(
        "\"f\".\"check_in_at\" / {DAY_MS} = \"f\".\"planned_start\" / {DAY_MS}"
    )));
    q.cond_where(ctx.within(f("planned_start"), ctx.filters.from, ctx.filters.to))
        .and_where(f("status").ne("cancelled"))
        .expr_as(count(), Alias::new("planned"))
        .expr_as(sum(flag(on_day)), Alias::new("planned_done"));
    group(ctx, &mut q, by, "planned_start");
    q
}

/// Distinct agent-days with a completed check-in, per agent or in total.
async fn field_days(ctx: &Ctx<'_>, by_agent: bool) -> Result<Table, Error> {
    let mut days = ctx.facts(VISITS);
    days.distinct()
        .expr_as(f("agent_id"), Alias::new("agent_id"))
        .expr_as(
            Expr::cust(format!("\"f\".\"check_in_at\" / {DAY_MS}")),
            Alias::new("day"),
        )
        .and_where(completed())
        .cond_where(ctx.within(f("check_in_at"), ctx.filters.from, ctx.filters.to));
    let mut q = Query::select();
    q.from_subquery(days, Alias::new("x"))
        .expr_as(count(), Alias::new("field_days"));
    let mut columns = vec![("field_days", Ty::Int)];
    if by_agent {
        q.expr_as(col("x", "agent_id"), Alias::new("agent_id"))
            .add_group_by([col("x", "agent_id").into()]);
        columns.insert(0, ("agent_id", Ty::Uuid));
    }
    ctx.table(&q, &columns).await
}

fn minutes(duration_ms: i64, timed: i64) -> Cell {
    match ratio(duration_ms, timed) {
        Cell::Float(ms) => Cell::Float(ms / 60_000.0),
        other => other,
    }
}

async fn summary(ctx: &Ctx<'_>) -> Result<Table, Error> {
    let c = ctx
        .table(&check_ins(ctx, By::All), &CHECK_IN_COLUMNS)
        .await?;
    let p = ctx
        .table(
            &plans(ctx, By::All),
            &[("planned", Ty::Int), ("planned_done", Ty::Int)],
        )
        .await?;
    let days = field_days(ctx, false).await?.get(0, "field_days").int();
    let active = active_customers(ctx).await?;
    let get = |name| c.get(0, name).int();
    let (planned, done) = (p.get(0, "planned").int(), p.get(0, "planned_done").int());
    let mut t = Table::new(&[
        "planned",
        "planned_done",
        "plan_compliance",
        "check_ins",
        "verified_rate",
        "completed",
        "unplanned_share",
        "field_days",
        "visits_per_field_day",
        "average_minutes",
        "strike_rate",
        "coverage",
    ]);
    t.rows.push(vec![
        planned.into(),
        done.into(),
        ratio(done, planned),
        get("check_ins").into(),
        ratio(get("verified"), get("check_ins")),
        get("completed").into(),
        ratio(get("unplanned"), get("completed")),
        days.into(),
        ratio(get("completed"), days),
        minutes(get("duration_ms"), get("timed")),
        ratio(get("struck"), get("completed")),
        ratio(get("customers"), active),
    ]);
    Ok(t)
}

/// The check-in figures (`check_ins`) and the plans (`plans`) grouped `by` agent or period, each
/// row starting with its agent's id or its period.
async fn grouped(ctx: &Ctx<'_>, by: By) -> Result<(Table, Table), Error> {
    let first = match by {
        By::Period => ("period", Ty::Text),
        By::Agent | By::All => ("agent_id", Ty::Uuid),
    };
    let mut c_cols = vec![first];
    c_cols.extend(CHECK_IN_COLUMNS);
    let c = ctx.table(&check_ins(ctx, by), &c_cols).await?;
    let p_cols = [first, ("planned", Ty::Int), ("planned_done", Ty::Int)];
    let p = ctx.table(&plans(ctx, by), &p_cols).await?;
    Ok((c, p))
}

pub(super) async fn by_agent(ctx: &Ctx<'_>) -> Result<Table, Error> {
    use std::collections::BTreeMap;
    let (c, p) = grouped(ctx, By::Agent).await?;
    let d = field_days(ctx, true).await?;
    // Agents with plans but no check-ins count too: every agent in any of the three.
    let mut agents: BTreeMap<String, [i64; 11]> = BTreeMap::new();
    for r in &c.rows {
        let e = agents.entry(r[0].text()).or_default();
        for i in 0..8 {
            e[i] = r[i + 1].int();
        }
    }
    for r in &p.rows {
        let e = agents.entry(r[0].text()).or_default();
        e[8] = r[1].int();
        e[9] = r[2].int();
    }
    for r in &d.rows {
        agents.entry(r[0].text()).or_default()[10] = r[1].int();
    }
    let mut t = Table::new(&[
        "agent_id",
        "planned",
        "planned_done",
        "plan_compliance",
        "check_ins",
        "verified_rate",
        "completed",
        "unplanned_share",
        "visits_per_field_day",
        "average_minutes",
        "strike_rate",
    ]);
    for (agent, v) in agents {
        let [check_ins, verified, completed, unplanned, duration, timed, struck, _customers, planned, done, days] =
            v;
        t.rows.push(vec![
            if agent.is_empty() {
                Cell::Null
            } else {
                Cell::Text(agent)
            },
            planned.into(),
            done.into(),
            ratio(done, planned),
            check_ins.into(),
            ratio(verified, check_ins),
            completed.into(),
            ratio(unplanned, completed),
            ratio(completed, days),
            minutes(duration, timed),
            ratio(struck, completed),
        ]);
    }
    Ok(t)
}

/// Per period of the granularity: the plans of the visits planned to start in it, and the
/// check-in figures of the visits checked in during it.
async fn by_period(ctx: &Ctx<'_>) -> Result<Table, Error> {
    use std::collections::BTreeMap;
    let (c, p) = grouped(ctx, By::Period).await?;
    // planned, planned_done, check_ins, verified, completed, struck
    let mut periods: BTreeMap<String, [i64; 6]> = BTreeMap::new();
    for r in &p.rows {
        let e = periods.entry(r[0].text()).or_default();
        e[0] = r[1].int();
        e[1] = r[2].int();
    }
    for r in &c.rows {
        let e = periods.entry(r[0].text()).or_default();
        e[2] = r[1].int();
        e[3] = r[2].int();
        e[4] = r[3].int();
        e[5] = r[7].int();
    }
    let mut t = Table::new(&[
        "period",
        "planned",
        "planned_done",
        "plan_compliance",
        "check_ins",
        "verified_rate",
        "completed",
        "strike_rate",
    ]);
    for (period, [planned, done, check_ins, verified, completed, struck]) in periods {
        t.rows.push(vec![
            Cell::Text(period),
            planned.into(),
            done.into(),
            ratio(done, planned),
            check_ins.into(),
            ratio(verified, check_ins),
            completed.into(),
            ratio(struck, completed),
        ]);
    }
    Ok(t)
}

/// Customers with a tier and their tier's policy, joined as `tp`.
fn tiered(ctx: &Ctx) -> SelectStatement {
    let mut q = ctx.facts(CUSTOMERS);
    q.join_as(
        JoinType::InnerJoin,
        Alias::new("tier_policies"),
        Alias::new("tp"),
        col("tp", "tier")
            .equals(cref(F, "tier"))
            .and(live("tp"))
            .and(col("tp", "visits_per_period").gt(0)),
    );
    q
}

/// Completed visits per customer, checked in within `[from, to)`.
fn visits_per_customer(from: i64, to: i64) -> SelectStatement {
    Query::select()
        .expr_as(col("v", "customer_id"), Alias::new("customer_id"))
        .expr_as(count(), Alias::new("visits"))
        .expr_as(Expr::max(col("v", "check_in_at")), Alias::new("last_visit"))
        .from_as(Alias::new("visits"), Alias::new("v"))
        .and_where(live("v"))
        .and_where(col("v", "status").eq("completed"))
        .and_where(col("v", "check_in_at").gte(from))
        .and_where(col("v", "check_in_at").lt(to))
        .add_group_by([col("v", "customer_id").into()])
        .to_owned()
}

async fn frequency(ctx: &Ctx<'_>) -> Result<Table, Error> {
    let days = ctx.filters.days();
    let mut q = tiered(ctx);
    q.join_subquery(
        JoinType::LeftJoin,
        visits_per_customer(ctx.filters.from, ctx.filters.to),
        Alias::new("pv"),
        col("pv", "customer_id").equals(cref(F, "id")),
    )
    .expr_as(f("tier"), Alias::new("tier"))
    .expr_as(count(), Alias::new("customers"))
    .expr_as(
        sum(flag(Expr::cust(format!(
            "COALESCE(\"pv\".\"visits\", 0) * \"tp\".\"period_days\" >= \"tp\".\"visits_per_period\" * {days}"
        )))),
        Alias::new("compliant"),
    )
    .add_group_by([f("tier").into()])
    .order_by_expr(f("tier").into(), Order::Asc);
    let raw = ctx
        .table(
            &q,
            &[
                ("tier", Ty::Text),
                ("customers", Ty::Int),
                ("compliant", Ty::Int),
            ],
        )
        .await?;
    let mut t = Table::new(&["tier", "customers", "compliant", "frequency_compliance"]);
    for r in raw.rows {
        let (customers, compliant) = (r[1].int(), r[2].int());
        t.rows.push(vec![
            r[0].clone(),
            customers.into(),
            compliant.into(),
            ratio(compliant, customers),
        ]);
    }
    Ok(t)
}

pub(super) async fn overdue(ctx: &Ctx<'_>) -> Result<Table, Error> {
    let to = ctx.filters.to;
    let mut q = tiered(ctx);
    q.join_subquery(
        JoinType::LeftJoin,
        visits_per_customer(0, to),
        Alias::new("pv"),
        col("pv", "customer_id").equals(cref(F, "id")),
    )
    .expr_as(f("id"), Alias::new("customer_id"))
    .expr_as(f("name"), Alias::new("name"))
    .expr_as(f("tier"), Alias::new("tier"))
    .expr_as(col("pv", "last_visit"), Alias::new("last_visit"))
    .expr_as(
        Expr::cust(format!("({to} - \"pv\".\"last_visit\") / {DAY_MS}")),
        Alias::new("days_since_visit"),
    )
    .and_where(Expr::cust(format!(
        "\"pv\".\"last_visit\" IS NULL OR ({to} - \"pv\".\"last_visit\") * \"tp\".\"visits_per_period\" > \"tp\".\"period_days\" * {DAY_MS}"
    )))
    // Never visited first, then the longest ago.
    .order_by_expr(Expr::cust("\"pv\".\"last_visit\" IS NULL"), Order::Desc)
    .order_by_expr(col("pv", "last_visit").into(), Order::Asc)
    .order_by_expr(f("id").into(), Order::Asc)
    .limit(MAX_OVERDUE);
    ctx.table(
        &q,
        &[
            ("customer_id", Ty::Uuid),
            ("name", Ty::Text),
            ("tier", Ty::Text),
            ("last_visit", Ty::Int),
            ("days_since_visit", Ty::Int),
        ],
    )
    .await
}

pub async fn report(ctx: &Ctx<'_>) -> Result<Report, Error> {
    Ok(Report {
        name: "visits",
        filters: ctx.filters.clone(),
        definitions: DEFINITIONS,
        sections: vec![
            ("summary", summary(ctx).await?),
            ("by_period", by_period(ctx).await?),
            ("by_agent", by_agent(ctx).await?),
            ("frequency", frequency(ctx).await?),
            ("overdue", overdue(ctx).await?),
        ],
    })
}
