//! Visits: plan compliance, geo-verified check-ins, unplanned share, visits per field day, duration,
//! strike rate, coverage, frequency compliance per tier, and the customers overdue for a visit.

use std::collections::BTreeMap;

use sea_orm::sea_query::{Alias, Expr, JoinType, Order, Query, SelectStatement, SimpleExpr};

use super::filters::DAY_MS;
use super::sales::{active_customers, ACTIVE, CUSTOMERS};
use super::sql::{col, count, count_distinct, cref, f, flag, live, sum, Ctx, Fact, Ty, C, F};
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

/// Groups `q` by agent and by period, a period being that of `date` (the date the query counts a
/// visit by). The summary, the agents' table and the periods' table add these cells up, so each of
/// the visits' figures is one scan however many tables show it.
fn by_agent_and_period(ctx: &Ctx, q: &mut SelectStatement, date: &str) {
    let period = ctx.bucket(F, date, ctx.filters.granularity);
    q.expr_as(f("agent_id"), Alias::new("agent_id"))
        .expr_as(period.clone(), Alias::new("period"))
        .add_group_by([f("agent_id").into(), period]);
}

/// Check-in figures of visits checked in during the period, per agent and period.
fn check_ins(ctx: &Ctx) -> SelectStatement {
    let mut q = ctx.facts(VISITS);
    let duration = f("check_out_at").sub(f("check_in_at"));
    let timed = completed().and(f("check_out_at").gte(f("check_in_at")));
    q.cond_where(ctx.within(f("check_in_at"), ctx.filters.from, ctx.filters.to))
        .expr_as(count(), Alias::new("check_ins"))
        .expr_as(
            sum(flag(f("check_in_result").eq("verified"))),
            Alias::new("verified"),
        )
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
        .expr_as(
            sum(flag(completed().and(with_order()))),
            Alias::new("struck"),
        );
    by_agent_and_period(ctx, &mut q, "check_in_at");
    q
}

/// The figures of `Cells`, in its order: `check_ins`' after the agent and period, then `plans`'.
const FIGURES: [&str; 9] = [
    "check_ins",
    "verified",
    "completed",
    "unplanned",
    "duration_ms",
    "timed",
    "struck",
    "planned",
    "planned_done",
];
const CHECK_INS: usize = 7;

/// Planned visits of the period and those done on their day, per agent and period.
fn plans(ctx: &Ctx) -> SelectStatement {
    let mut q = ctx.facts(VISITS);
    let on_day = completed().and(Expr::cust(format!(
        "\"f\".\"check_in_at\" / {DAY_MS} = \"f\".\"planned_start\" / {DAY_MS}"
    )));
    q.cond_where(ctx.within(f("planned_start"), ctx.filters.from, ctx.filters.to))
        .and_where(f("status").ne("cancelled"))
        .expr_as(count(), Alias::new("planned"))
        .expr_as(sum(flag(on_day)), Alias::new("planned_done"));
    by_agent_and_period(ctx, &mut q, "planned_start");
    q
}

/// The figures (`FIGURES`) of each agent in each period: a visit's check-in figures in the period
/// it was checked in, its plan's in the period it was planned for.
struct Cells(Vec<(String, String, [i64; FIGURES.len()])>);

impl Cells {
    async fn read(ctx: &Ctx<'_>) -> Result<Cells, Error> {
        let keys = [("agent_id", Ty::Uuid), ("period", Ty::Text)];
        let read = |names: &[&'static str]| {
            let mut columns = keys.to_vec();
            columns.extend(names.iter().map(|n| (*n, Ty::Int)));
            columns
        };
        let c = ctx
            .table(&check_ins(ctx), &read(&FIGURES[..CHECK_INS]))
            .await?;
        let p = ctx.table(&plans(ctx), &read(&FIGURES[CHECK_INS..])).await?;
        let mut cells = Vec::with_capacity(c.rows.len() + p.rows.len());
        for (rows, at) in [(c.rows, 0), (p.rows, CHECK_INS)] {
            for r in rows {
                let mut v = [0; FIGURES.len()];
                for (i, cell) in r[2..].iter().enumerate() {
                    v[at + i] = cell.int();
                }
                cells.push((r[0].text(), r[1].text(), v));
            }
        }
        Ok(Cells(cells))
    }

    /// The figures added up by `key` (an agent's id, "" for none; a period; or one key for all).
    fn totals(&self, key: impl Fn(&str, &str) -> String) -> BTreeMap<String, Figures> {
        let mut out: BTreeMap<String, Figures> = BTreeMap::new();
        for (agent, period, v) in &self.0 {
            let e = out.entry(key(agent, period)).or_default();
            for (total, x) in e.0.iter_mut().zip(v) {
                *total += x;
            }
        }
        out
    }
}

/// A sum of `Cells`, read by name.
#[derive(Default)]
struct Figures([i64; FIGURES.len()]);

impl Figures {
    fn get(&self, name: &str) -> i64 {
        FIGURES
            .iter()
            .position(|f| *f == name)
            .map_or(0, |i| self.0[i])
    }
}

/// Distinct agent-days with a completed check-in, per agent.
async fn field_days(ctx: &Ctx<'_>) -> Result<BTreeMap<String, i64>, Error> {
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
        .expr_as(col("x", "agent_id"), Alias::new("agent_id"))
        .expr_as(count(), Alias::new("field_days"))
        .add_group_by([col("x", "agent_id").into()]);
    let t = ctx
        .table(&q, &[("agent_id", Ty::Uuid), ("field_days", Ty::Int)])
        .await?;
    Ok(t.rows.iter().map(|r| (r[0].text(), r[1].int())).collect())
}

/// Active customers (the coverage's denominator's kind) with a completed visit checked in during
/// the period.
async fn covered(ctx: &Ctx<'_>) -> Result<i64, Error> {
    let mut q = ctx.facts(VISITS);
    q.cond_where(ctx.within(f("check_in_at"), ctx.filters.from, ctx.filters.to))
        .and_where(completed())
        .and_where(
            col(C, "status")
                .is_null()
                .or(col(C, "status").is_in(ACTIVE)),
        )
        .expr_as(
            count_distinct(cref(F, "customer_id")),
            Alias::new("customers"),
        );
    let t = ctx.table(&q, &[("customers", Ty::Int)]).await?;
    Ok(t.get(0, "customers").int())
}

fn minutes(duration_ms: i64, timed: i64) -> Cell {
    match ratio(duration_ms, timed) {
        Cell::Float(ms) => Cell::Float(ms / 60_000.0),
        other => other,
    }
}

async fn summary(ctx: &Ctx<'_>, cells: &Cells) -> Result<Table, Error> {
    let all = cells
        .totals(|_, _| String::new())
        .remove("")
        .unwrap_or_default();
    let days: i64 = field_days(ctx).await?.values().sum();
    let active = active_customers(ctx).await?;
    let get = |name| all.get(name);
    let (planned, done) = (get("planned"), get("planned_done"));
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
        ratio(covered(ctx).await?, active),
    ]);
    Ok(t)
}

pub(super) async fn by_agent(ctx: &Ctx<'_>) -> Result<Table, Error> {
    agents(ctx, &Cells::read(ctx).await?).await
}

/// Per agent with any plan or check-in in the period.
async fn agents(ctx: &Ctx<'_>, cells: &Cells) -> Result<Table, Error> {
    let days = field_days(ctx).await?;
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
    for (agent, v) in cells.totals(|agent, _| agent.to_string()) {
        let get = |name| v.get(name);
        let (planned, done, completed) = (get("planned"), get("planned_done"), get("completed"));
        t.rows.push(vec![
            match agent.is_empty() {
                true => Cell::Null,
                false => Cell::Text(agent.clone()),
            },
            planned.into(),
            done.into(),
            ratio(done, planned),
            get("check_ins").into(),
            ratio(get("verified"), get("check_ins")),
            completed.into(),
            ratio(get("unplanned"), completed),
            ratio(completed, days.get(&agent).copied().unwrap_or(0)),
            minutes(get("duration_ms"), get("timed")),
            ratio(get("struck"), completed),
        ]);
    }
    Ok(t)
}

/// Per period of the granularity: the plans of the visits planned to start in it, and the
/// check-in figures of the visits checked in during it.
fn by_period(cells: &Cells) -> Table {
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
    for (period, v) in cells.totals(|_, period| period.to_string()) {
        let get = |name| v.get(name);
        let (planned, done) = (get("planned"), get("planned_done"));
        t.rows.push(vec![
            Cell::Text(period),
            planned.into(),
            done.into(),
            ratio(done, planned),
            get("check_ins").into(),
            ratio(get("verified"), get("check_ins")),
            get("completed").into(),
            ratio(get("struck"), get("completed")),
        ]);
    }
    t
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
    let cells = Cells::read(ctx).await?;
    Ok(Report {
        name: "visits",
        filters: ctx.filters.clone(),
        definitions: DEFINITIONS,
        sections: vec![
            ("summary", summary(ctx, &cells).await?),
            ("by_period", by_period(&cells)),
            ("by_agent", agents(ctx, &cells).await?),
            ("frequency", frequency(ctx).await?),
            ("overdue", overdue(ctx).await?),
        ],
    })
}
