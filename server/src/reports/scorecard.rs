//! Agent scorecards: per agent in scope, sales and collections against their targets, visit plan
//! compliance, new and churned customers, the satisfaction of the customers they own and the value
//! those customers developed.

use std::collections::BTreeMap;

use sea_orm::sea_query::{Alias, Expr, JoinType, Order, Query};

use super::filters::DAY_MS;
use super::sales::{confirmed_orders_of, lines, CONFIRMED, L, ORDERS};
use super::sql::{col, count, cref, f, sum, Ctx, Fact, Ty, C, F};
use super::targets;
use super::{ratio, Cell, Report, Table};
use crate::error::Error;

pub const DEFINITIONS: &[(&str, &str)] = &[
    ("revenue", "the sales report's revenue of the agent's confirmed orders in the period"),
    ("sales_attainment", "revenue ÷ the agent's revenue targets (see the sales report)"),
    ("collected", "Σ amount of payments the agent collected in the period (`collected_by`, `collected_at`)"),
    ("collections_attainment", "collected ÷ the agent's collections targets, prorated like revenue targets"),
    ("plan_compliance", "the visits report's plan compliance of the agent"),
    ("new_customers", "customers whose second confirmed order ever was taken by the agent in the period: a customer counts as new once it buys again"),
    ("churned_customers", "customers the agent owns that bought (confirmed orders) in the twelve months before the period and not in it"),
    ("satisfaction_index", "mean satisfaction ÷ expectation of tickets resolved in the period of the customers the agent owns"),
    ("value_developed", "trailing-twelve-month revenue of the customers the agent owns at the period's end − the same at its start"),
];

#[derive(Default, Clone)]
struct Card {
    email: Option<String>,
    revenue: i64,
    collected: i64,
    planned: i64,
    planned_done: i64,
    new_customers: i64,
    churned: i64,
    rated: i64,
    ratio_sum: f64,
    value_end: i64,
    value_start: i64,
}

fn id(cell: &Cell) -> Option<String> {
    match cell {
        Cell::Text(s) => Some(s.clone()),
        _ => None,
    }
}

/// The agents in scope: every agent for an admin, those holding a manager's territories, oneself.
async fn agents(ctx: &Ctx<'_>) -> Result<Table, Error> {
    let mut q = Query::select();
    q.from_as(Alias::new("users"), Alias::new("u"))
        .expr_as(col("u", "id"), Alias::new("agent_id"))
        .expr_as(col("u", "email"), Alias::new("email"))
        .and_where(col("u", "role").eq("agent"))
        .order_by(cref("u", "email"), Order::Asc);
    if let Some(me) = ctx.scope.agent {
        q.and_where(col("u", "id").eq(me));
    } else if !ctx.scope.all {
        let mut held = Query::select();
        held.column(Alias::new("user_id"))
            .from(Alias::new("user_territories"))
            .and_where(Expr::col(Alias::new("territory_id")).is_in(ctx.scope.territories.clone()));
        q.and_where(col("u", "id").in_subquery(held));
    }
    if let Some(agent) = ctx.filters.agent {
        q.and_where(col("u", "id").eq(agent));
    }
    if let Some(t) = ctx.territory {
        let mut held = Query::select();
        held.column(Alias::new("user_id"))
            .from(Alias::new("user_territories"))
            .and_where(Expr::col(Alias::new("territory_id")).eq(t));
        q.and_where(col("u", "id").in_subquery(held));
    }
    ctx.table(&q, &[("agent_id", Ty::Uuid), ("email", Ty::Text)])
        .await
}

/// Trailing-twelve-month revenue at `at` of the customers each agent owns.
async fn owned_value(ctx: &Ctx<'_>, at: i64) -> Result<Vec<(String, i64)>, Error> {
    let owners = Fact {
        agent: None,
        ..ORDERS
    };
    let mut q = ctx.facts(owners);
    q.join_as(
        JoinType::InnerJoin,
        Alias::new("order_lines"),
        Alias::new(L),
        col(L, "order_id").equals(cref(F, "id")),
    )
    .and_where(f("status").is_in(CONFIRMED))
    .cond_where(ctx.within(f("ordered_at"), at - 365 * DAY_MS, at))
    .and_where(col(C, "owner_id").is_not_null())
    .expr_as(col(C, "owner_id"), Alias::new("owner"))
    .expr_as(sum(col(L, "net")), Alias::new("revenue"))
    .add_group_by([col(C, "owner_id").into()]);
    let t = ctx
        .table(&q, &[("owner", Ty::Uuid), ("revenue", Ty::Int)])
        .await?;
    Ok(t.rows
        .iter()
        .filter_map(|r| Some((id(&r[0])?, r[1].int())))
        .collect())
}

pub async fn report(ctx: &Ctx<'_>) -> Result<Report, Error> {
    let (from, to) = (ctx.filters.from, ctx.filters.to);
    let mut cards: BTreeMap<String, Card> = BTreeMap::new();
    for r in agents(ctx).await?.rows {
        if let Some(a) = id(&r[0]) {
            cards.entry(a).or_default().email = id(&r[1]);
        }
    }

    // Sales.
    let mut q = lines(ctx, from, to);
    q.expr_as(f("agent_id"), Alias::new("agent_id"))
        .expr_as(sum(col(L, "net")), Alias::new("revenue"))
        .add_group_by([f("agent_id").into()]);
    for r in ctx
        .table(&q, &[("agent_id", Ty::Uuid), ("revenue", Ty::Int)])
        .await?
        .rows
    {
        if let Some(card) = id(&r[0]).and_then(|a| cards.get_mut(&a)) {
            card.revenue = r[1].int();
        }
    }

    // Collections.
    let payments = Fact {
        table: "payments",
        agent: Some("collected_by"),
        customer: Some("customer_id"),
    };
    let mut q = ctx.facts(payments);
    q.cond_where(ctx.within(f("collected_at"), from, to))
        .expr_as(f("collected_by"), Alias::new("agent_id"))
        .expr_as(sum(f("amount")), Alias::new("collected"))
        .add_group_by([f("collected_by").into()]);
    for r in ctx
        .table(&q, &[("agent_id", Ty::Uuid), ("collected", Ty::Int)])
        .await?
        .rows
    {
        if let Some(card) = id(&r[0]).and_then(|a| cards.get_mut(&a)) {
            card.collected = r[1].int();
        }
    }

    // Plan compliance.
    let plans = super::visits::by_agent(ctx).await?;
    for i in 0..plans.rows.len() {
        if let Some(card) = id(plans.get(i, "agent_id")).and_then(|a| cards.get_mut(&a)) {
            card.planned = plans.get(i, "planned").int();
            card.planned_done = plans.get(i, "planned_done").int();
        }
    }

    // New customers: the second confirmed order of a customer, ever, in the period.
    let mut q = ctx.facts(ORDERS);
    q.and_where(f("status").is_in(CONFIRMED))
        .cond_where(ctx.within(f("ordered_at"), from, to))
        .and_where(Expr::cust(format!(
            "({}) = 1",
            confirmed_orders_of(
                "COUNT(*)",
                "\"f\".\"customer_id\"",
                "(\"o\".\"ordered_at\" < \"f\".\"ordered_at\" OR (\"o\".\"ordered_at\" = \"f\".\"ordered_at\" AND \"o\".\"id\" < \"f\".\"id\"))",
            )
        )))
        .expr_as(f("agent_id"), Alias::new("agent_id"))
        .expr_as(count(), Alias::new("n"))
        .add_group_by([f("agent_id").into()]);
    for r in ctx
        .table(&q, &[("agent_id", Ty::Uuid), ("n", Ty::Int)])
        .await?
        .rows
    {
        if let Some(card) = id(&r[0]).and_then(|a| cards.get_mut(&a)) {
            card.new_customers = r[1].int();
        }
    }

    // Churned customers the agent owns.
    let mut q = ctx.facts(super::sales::CUSTOMERS);
    let bought = |lo: i64, hi: i64| {
        let within = format!("\"o\".\"ordered_at\" >= {lo} AND \"o\".\"ordered_at\" < {hi}");
        format!(
            "EXISTS ({})",
            confirmed_orders_of("1", "\"f\".\"id\"", &within)
        )
    };
    q.and_where(f("owner_id").is_not_null())
        .and_where(Expr::cust(bought(from - 365 * DAY_MS, from)))
        .and_where(Expr::cust(format!("NOT {}", bought(from, to))))
        .expr_as(f("owner_id"), Alias::new("agent_id"))
        .expr_as(count(), Alias::new("n"))
        .add_group_by([f("owner_id").into()]);
    for r in ctx
        .table(&q, &[("agent_id", Ty::Uuid), ("n", Ty::Int)])
        .await?
        .rows
    {
        if let Some(card) = id(&r[0]).and_then(|a| cards.get_mut(&a)) {
            card.churned = r[1].int();
        }
    }

    // Satisfaction of owned customers.
    let tickets = Fact {
        table: "tickets",
        agent: None,
        customer: Some("customer_id"),
    };
    let mut q = ctx.facts(tickets);
    q.cond_where(ctx.within(f("resolved_at"), from, to))
        .and_where(f("satisfaction").is_not_null())
        .and_where(f("expectation").gt(0))
        .and_where(col(C, "owner_id").is_not_null())
        .expr_as(col(C, "owner_id"), Alias::new("agent_id"))
        .expr_as(count(), Alias::new("rated"))
        .expr_as(
            Expr::cust(
                "SUM(CAST(\"f\".\"satisfaction\" AS DOUBLE PRECISION) / \"f\".\"expectation\")",
            ),
            Alias::new("ratio_sum"),
        )
        .add_group_by([col(C, "owner_id").into()]);
    for r in ctx
        .table(
            &q,
            &[
                ("agent_id", Ty::Uuid),
                ("rated", Ty::Int),
                ("ratio_sum", Ty::Float),
            ],
        )
        .await?
        .rows
    {
        if let Some(card) = id(&r[0]).and_then(|a| cards.get_mut(&a)) {
            card.rated = r[1].int();
            card.ratio_sum = match r[2] {
                Cell::Float(v) => v,
                _ => 0.0,
            };
        }
    }

    for (agent, value) in owned_value(ctx, to).await? {
        if let Some(card) = cards.get_mut(&agent) {
            card.value_end = value;
        }
    }
    for (agent, value) in owned_value(ctx, from).await? {
        if let Some(card) = cards.get_mut(&agent) {
            card.value_start = value;
        }
    }

    let revenue_targets = targets::load(ctx, "revenue").await?;
    let collection_targets = targets::load(ctx, "collections").await?;
    let mut t = Table::new(&[
        "agent_id",
        "agent",
        "revenue",
        "sales_target",
        "sales_attainment",
        "collected",
        "collections_target",
        "collections_attainment",
        "plan_compliance",
        "new_customers",
        "churned_customers",
        "satisfaction_index",
        "value_developed",
    ]);
    for (agent, card) in cards {
        let uuid = agent.parse().ok();
        let sales_target = uuid.and_then(|a| revenue_targets.of_agent(ctx.filters, a));
        let collections_target = uuid.and_then(|a| collection_targets.of_agent(ctx.filters, a));
        t.rows.push(vec![
            Cell::Text(agent),
            card.email.map_or(Cell::Null, Cell::Text),
            card.revenue.into(),
            sales_target.map_or(Cell::Null, Cell::Int),
            sales_target.map_or(Cell::Null, |s| ratio(card.revenue, s)),
            card.collected.into(),
            collections_target.map_or(Cell::Null, Cell::Int),
            collections_target.map_or(Cell::Null, |s| ratio(card.collected, s)),
            ratio(card.planned_done, card.planned),
            card.new_customers.into(),
            card.churned.into(),
            if card.rated > 0 {
                Cell::Float(card.ratio_sum / card.rated as f64)
            } else {
                Cell::Null
            },
            (card.value_end - card.value_start).into(),
        ]);
    }
    Ok(Report {
        name: "scorecard",
        filters: ctx.filters.clone(),
        definitions: DEFINITIONS,
        sections: vec![("agents", t)],
    })
}
