//! Early warnings: one row per hit of a rule, each naming what it concerns and why, for a manager to
//! act on. The rules read the other reports' figures at the period's end.

use std::collections::BTreeMap;

use sea_orm::sea_query::{Alias, Expr, JoinType, Order};

use super::clv::{self, fits::Fits};
use super::filters::DAY_MS;
use super::sales::{confirmed_orders_of, CONFIRMED, ORDERS};
use super::sql::{col, count, cref, f, Ctx, Fact, Ty, C, F};
use super::{receivables, sync_health, visits, Cell, Report, Table};
use crate::error::Error;

/// At most this many hits per rule are listed.
pub const MAX_PER_RULE: usize = 500;

pub const DEFINITIONS: &[(&str, &str)] = &[
    ("a_customer_quiet", "a tier A customer whose last confirmed order is longer ago than twice its usual interval (the mean gap between its orders in the twelve months before the period's end), or who ordered at most once in those months"),
    ("p_alive_low", "a customer who bought again at least once and whose probability of still being a customer (the CLV report's P(alive)) is below `alive_below` (default 0.5) at the period's end"),
    ("visit_overdue", "a customer with a tier policy not visited for longer than its interval (see the visits report's overdue list)"),
    ("satisfaction_below_1", "a customer whose satisfaction index (satisfaction ÷ expectation, mean over its tickets resolved in the period) is below 1"),
    ("receivable_overdue_60", "a customer with amounts more than 60 days past due at the period's end, among the receivables report's customers (the 1,000 largest open amounts)"),
    ("over_credit_limit", "a customer whose balance (receivables) exceeds its credit limit, among the same customers"),
    ("sales_down", "an agent whose revenue in the last 30 days of the period is more than `drop_share` (default 0.2) below the mean of the three 30-day spans before"),
    ("open_alert", "an alert not yet resolved; open_conflict likewise for conflicts"),
    ("device_not_synced", "a device (not revoked) that has not synced in the last day, or never; only for a period that reaches today"),
    ("value", "what the rule measured: days for quiet customers and visits, the index, the amount, the drop as a share, when an alert or conflict was raised, hours for devices"),
];

const COLUMNS: [&str; 6] = [
    "rule",
    "subject_kind",
    "subject_id",
    "subject",
    "value",
    "detail",
];

struct Hits(Table, BTreeMap<&'static str, usize>);

impl Hits {
    fn add(
        &mut self,
        rule: &'static str,
        kind: &str,
        id: &Cell,
        name: &Cell,
        value: Cell,
        detail: String,
    ) {
        let n = self.1.entry(rule).or_default();
        if *n >= MAX_PER_RULE {
            return;
        }
        *n += 1;
        self.0.rows.push(vec![
            Cell::Text(rule.into()),
            Cell::Text(kind.into()),
            id.clone(),
            name.clone(),
            value,
            Cell::Text(detail),
        ]);
    }
}

async fn quiet_a_customers(ctx: &Ctx<'_>, hits: &mut Hits) -> Result<(), Error> {
    let to = ctx.filters.to;
    let start = to - 365 * DAY_MS;
    // Customers' orders, not the agent's: every A customer in scope, whoever took its orders.
    let orders_of = Fact {
        agent: None,
        ..ORDERS
    };
    let mut q = ctx.facts(orders_of);
    q.and_where(f("status").is_in(CONFIRMED))
        .and_where(col(C, "tier").eq("A"))
        .cond_where(ctx.within(f("ordered_at"), start, to))
        .expr_as(f("customer_id"), Alias::new("customer_id"))
        .expr_as(Expr::max(col(C, "name")), Alias::new("name"))
        .expr_as(count(), Alias::new("orders"))
        .expr_as(Expr::min(f("ordered_at")), Alias::new("first"))
        .expr_as(Expr::max(f("ordered_at")), Alias::new("last"))
        .add_group_by([f("customer_id").into()])
        .order_by_expr(Expr::max(f("ordered_at")), Order::Asc);
    let t = ctx
        .table(
            &q,
            &[
                ("customer_id", Ty::Uuid),
                ("name", Ty::Text),
                ("orders", Ty::Int),
                ("first", Ty::Int),
                ("last", Ty::Int),
            ],
        )
        .await?;
    for r in &t.rows {
        let (orders, first, last) = (r[2].int(), r[3].int(), r[4].int());
        let since = (to - last) / DAY_MS;
        let quiet = orders <= 1 || {
            let interval = (last - first) / (orders - 1);
            to - last > 2 * interval
        };
        if quiet {
            hits.add(
                "a_customer_quiet",
                "customer",
                &r[0],
                &r[1],
                since.into(),
                format!("orders in twelve months: {orders}, the last {since} days ago"),
            );
        }
    }
    // A customers with no order at all in the twelve months.
    let mut q = ctx.facts(super::sales::CUSTOMERS);
    q.and_where(f("tier").eq("A"))
        .and_where(Expr::cust(format!(
            "NOT EXISTS ({})",
            confirmed_orders_of(
                "1",
                "\"f\".\"id\"",
                &format!("\"o\".\"ordered_at\" >= {start} AND \"o\".\"ordered_at\" < {to}"),
            )
        )))
        .expr_as(f("id"), Alias::new("customer_id"))
        .expr_as(f("name"), Alias::new("name"))
        .order_by(cref(F, "id"), Order::Asc);
    let t = ctx
        .table(&q, &[("customer_id", Ty::Uuid), ("name", Ty::Text)])
        .await?;
    for r in &t.rows {
        hits.add(
            "a_customer_quiet",
            "customer",
            &r[0],
            &r[1],
            Cell::Null,
            "no order in twelve months".into(),
        );
    }
    Ok(())
}

async fn fading_customers(ctx: &Ctx<'_>, fits: &Fits, hits: &mut Hits) -> Result<(), Error> {
    let fit = fits.get(ctx.conn, ctx.filters.to).await?;
    let bought = clv::purchases(ctx).await?;
    let names: BTreeMap<String, Cell> = bought
        .iter()
        .map(|(id, name, _, _)| (id.clone(), name.clone()))
        .collect();
    let mut fading: Vec<(f64, String)> = clv::summaries(bought, ctx.filters.to)
        .into_iter()
        .filter(|(_, s)| s.history.x > 0.0)
        .map(|(id, s)| (fit.bg_nbd.p_alive(&s.history), id))
        .filter(|(p, _)| *p < ctx.filters.alive_below)
        .collect();
    fading.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (p, id) in fading {
        let name = names.get(&id).cloned().unwrap_or(Cell::Null);
        hits.add(
            "p_alive_low",
            "customer",
            &Cell::Text(id),
            &name,
            Cell::Float(p),
            "a repeat buyer who has not bought for longer than their rhythm suggests".into(),
        );
    }
    Ok(())
}

async fn unhappy_customers(ctx: &Ctx<'_>, hits: &mut Hits) -> Result<(), Error> {
    let (from, to) = (ctx.filters.from, ctx.filters.to);
    let tickets = Fact {
        table: "tickets",
        agent: None,
        customer: Some("customer_id"),
    };
    let mut q = ctx.facts(tickets);
    let index =
        Expr::cust("AVG(CAST(\"f\".\"satisfaction\" AS DOUBLE PRECISION) / \"f\".\"expectation\")");
    q.cond_where(ctx.within(f("resolved_at"), from, to))
        .and_where(f("satisfaction").is_not_null())
        .and_where(f("expectation").gt(0))
        .expr_as(f("customer_id"), Alias::new("customer_id"))
        .expr_as(Expr::max(col(C, "name")), Alias::new("name"))
        .expr_as(index.clone(), Alias::new("satisfaction_index"))
        .add_group_by([f("customer_id").into()])
        .and_having(Expr::expr(index.clone()).lt(1.0))
        .order_by_expr(index, Order::Asc);
    let t = ctx
        .table(
            &q,
            &[
                ("customer_id", Ty::Uuid),
                ("name", Ty::Text),
                ("satisfaction_index", Ty::Float),
            ],
        )
        .await?;
    for r in &t.rows {
        hits.add(
            "satisfaction_below_1",
            "customer",
            &r[0],
            &r[1],
            r[2].clone(),
            "resolved tickets rated below what the customer expected".into(),
        );
    }
    Ok(())
}

async fn sales_down(ctx: &Ctx<'_>, hits: &mut Hits) -> Result<(), Error> {
    let to = ctx.filters.to;
    let span = 30 * DAY_MS;
    let mut q = super::sales::lines(ctx, to - 4 * span, to);
    // Which 30-day span before the end: 0 the last, 3 the earliest.
    let which = Expr::cust(format!("({to} - 1 - \"f\".\"ordered_at\") / {span}"));
    q.join_as(
        JoinType::LeftJoin,
        Alias::new("users"),
        Alias::new("u"),
        col("u", "id").equals(cref(F, "agent_id")),
    )
    .expr_as(f("agent_id"), Alias::new("agent_id"))
    .expr_as(Expr::max(col("u", "email")), Alias::new("agent"))
    .expr_as(which.clone(), Alias::new("span"))
    .expr_as(
        super::sql::sum(col(super::sales::L, "net")),
        Alias::new("revenue"),
    )
    .add_group_by([f("agent_id").into(), which]);
    let t = ctx
        .table(
            &q,
            &[
                ("agent_id", Ty::Uuid),
                ("agent", Ty::Text),
                ("span", Ty::Int),
                ("revenue", Ty::Int),
            ],
        )
        .await?;
    let mut by_agent: BTreeMap<String, (Cell, Cell, [i64; 4])> = BTreeMap::new();
    for r in &t.rows {
        let Cell::Text(id) = &r[0] else { continue };
        let e = by_agent
            .entry(id.clone())
            .or_insert((r[0].clone(), r[1].clone(), [0; 4]));
        if let Ok(i @ 0..=3) = usize::try_from(r[2].int()) {
            e.2[i] = r[3].int();
        }
    }
    for (id, name, spans) in by_agent.values() {
        let before = (spans[1] + spans[2] + spans[3]) as f64 / 3.0;
        if before <= 0.0 {
            continue;
        }
        let drop = 1.0 - spans[0] as f64 / before;
        if drop > ctx.filters.drop_share {
            hits.add(
                "sales_down",
                "user",
                id,
                name,
                Cell::Float(drop),
                format!(
                    "{} in the last 30 days against a mean of {before:.0} in the three spans before",
                    spans[0]
                ),
            );
        }
    }
    Ok(())
}

async fn open_findings(ctx: &Ctx<'_>, hits: &mut Hits) -> Result<(), Error> {
    for (table, rule, what) in [
        ("alerts", "open_alert", "code"),
        ("record_conflicts", "open_conflict", "field"),
    ] {
        let fact = Fact {
            table,
            agent: None,
            customer: Some("customer_id"),
        };
        let mut q = ctx.facts(fact);
        q.and_where(f("status").eq("open"))
            .expr_as(f("id"), Alias::new("id"))
            .expr_as(f(what), Alias::new("what"))
            .expr_as(f("record_kind"), Alias::new("record_kind"))
            .expr_as(f("raised_at"), Alias::new("raised_at"))
            .order_by(cref(F, "raised_at"), Order::Asc)
            .limit(MAX_PER_RULE as u64);
        let t = ctx
            .table(
                &q,
                &[
                    ("id", Ty::Uuid),
                    ("what", Ty::Text),
                    ("record_kind", Ty::Text),
                    ("raised_at", Ty::Int),
                ],
            )
            .await?;
        for r in &t.rows {
            let kind = if rule == "open_alert" {
                "alert"
            } else {
                "conflict"
            };
            let what = match &r[1] {
                Cell::Text(s) => s.clone(),
                _ => String::new(),
            };
            let on = match &r[2] {
                Cell::Text(s) => s.clone(),
                _ => String::new(),
            };
            hits.add(
                rule,
                kind,
                &r[0],
                &r[1],
                r[3].clone(),
                format!("{what} on a {on}"),
            );
        }
    }
    Ok(())
}

pub async fn report(ctx: &Ctx<'_>, fits: &Fits, now: i64) -> Result<Report, Error> {
    let mut hits = Hits(Table::new(&COLUMNS), BTreeMap::new());
    quiet_a_customers(ctx, &mut hits).await?;
    fading_customers(ctx, fits, &mut hits).await?;

    let overdue = visits::overdue(ctx).await?;
    for i in 0..overdue.rows.len() {
        let days = overdue.get(i, "days_since_visit").clone();
        let detail = match &days {
            Cell::Int(d) => format!(
                "tier {} customer last visited {d} days ago",
                text(overdue.get(i, "tier"))
            ),
            _ => format!(
                "tier {} customer never visited",
                text(overdue.get(i, "tier"))
            ),
        };
        hits.add(
            "visit_overdue",
            "customer",
            overdue.get(i, "customer_id"),
            overdue.get(i, "name"),
            days,
            detail,
        );
    }

    unhappy_customers(ctx, &mut hits).await?;

    let owed = receivables::by_customer(ctx).await?;
    for i in 0..owed.rows.len() {
        let late = owed.get(i, "days_61_90").int() + owed.get(i, "days_90_plus").int();
        if late > 0 {
            hits.add(
                "receivable_overdue_60",
                "customer",
                owed.get(i, "customer_id"),
                owed.get(i, "name"),
                late.into(),
                "owed more than 60 days past due".into(),
            );
        }
        if let Cell::Int(limit) = owed.get(i, "credit_limit") {
            let balance = owed.get(i, "balance").int();
            if balance > *limit {
                hits.add(
                    "over_credit_limit",
                    "customer",
                    owed.get(i, "customer_id"),
                    owed.get(i, "name"),
                    balance.into(),
                    format!("balance {balance} over a credit limit of {limit}"),
                );
            }
        }
    }

    sales_down(ctx, &mut hits).await?;
    open_findings(ctx, &mut hits).await?;

    // Devices are a warning of the present: only a period that reaches today looks at them.
    let health = if ctx.filters.to >= now - DAY_MS {
        Some(sync_health::report(ctx, now).await?)
    } else {
        None
    };
    if let Some(devices) = health.as_ref().and_then(|h| h.section("devices")) {
        let at = now;
        for i in 0..devices.rows.len() {
            if devices.get(i, "revoked_at") != &Cell::Null {
                continue;
            }
            let stale = match devices.get(i, "last_sync") {
                Cell::Int(seen) => at - seen > DAY_MS,
                _ => true,
            };
            if stale {
                hits.add(
                    "device_not_synced",
                    "device",
                    devices.get(i, "device_id"),
                    devices.get(i, "device"),
                    devices.get(i, "hours_since_sync").clone(),
                    format!(
                        "{}'s device has not synced for a day",
                        text(devices.get(i, "user"))
                    ),
                );
            }
        }
    }

    let mut summary = Table::new(&["rule", "hits"]);
    for (rule, n) in &hits.1 {
        summary
            .rows
            .push(vec![Cell::Text(rule.to_string()), (*n as i64).into()]);
    }
    Ok(Report {
        name: "warnings",
        filters: ctx.filters.clone(),
        definitions: DEFINITIONS,
        sections: vec![("warnings", hits.0), ("summary", summary)],
    })
}

fn text(cell: &Cell) -> String {
    match cell {
        Cell::Text(s) => s.clone(),
        Cell::Null => String::new(),
        other => other.int().to_string(),
    }
}
