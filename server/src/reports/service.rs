//! Service: tickets by category and severity, time to resolve, complaint rate and the satisfaction
//! index (perceived ÷ expected), by period, territory and the customers' owner.

use sea_orm::sea_query::{Alias, Cond, Expr, Func, JoinType, Order, SelectStatement, SimpleExpr};

use super::sales::active_customers;
use super::sql::{col, cref, f, flag, sum, Ctx, Fact, Ty, C, D};
use super::{ratio, Cell, Report, Table};
use crate::error::Error;

/// Tickets are about customers: an agent reads their territories' and the `agent` filter names the
/// customers' owner.
const TICKETS: Fact = Fact {
    table: "tickets",
    agent: None,
    customer: Some("customer_id"),
};

pub const DEFINITIONS: &[(&str, &str)] = &[
    ("opened", "tickets opened in the period (`opened_at`)"),
    ("complaints", "of those, tickets of category complaint"),
    ("complaint_rate", "complaints ÷ active customers in scope"),
    ("resolved", "tickets resolved in the period (`resolved_at`)"),
    ("mean_hours_to_resolve", "mean of resolved_at − opened_at, in hours, over tickets resolved in the period"),
    ("rated", "tickets resolved in the period with both a satisfaction and an expectation score"),
    ("satisfaction_index", "mean of satisfaction ÷ expectation over the rated tickets: above 1 delighted, below 1 at risk"),
    ("open_now", "tickets open or in progress, whenever opened"),
];

/// Figures of the period's tickets, grouped by `key` (or in total).
async fn figures(
    ctx: &Ctx<'_>,
    key: Option<SimpleExpr>,
    joins: impl Fn(&mut SelectStatement),
) -> Result<Table, Error> {
    let (from, to) = (ctx.filters.from, ctx.filters.to);
    let opened = || f("opened_at").gte(from).and(f("opened_at").lt(to));
    let resolved = || f("resolved_at").gte(from).and(f("resolved_at").lt(to));
    let timed = || resolved().and(f("opened_at").lte(f("resolved_at")));
    let rated = || {
        resolved()
            .and(f("satisfaction").is_not_null())
            .and(f("expectation").gt(0))
    };
    let mut q = ctx.facts(TICKETS);
    joins(&mut q);
    q.cond_where(
        Cond::any()
            .add(opened())
            .add(resolved())
            .add(f("status").is_in(["open", "in_progress"])),
    )
    .expr_as(sum(flag(opened())), Alias::new("opened"))
    .expr_as(
        sum(flag(opened().and(f("category").eq("complaint")))),
        Alias::new("complaints"),
    )
    .expr_as(sum(flag(resolved())), Alias::new("resolved"))
    .expr_as(
        sum(Expr::case(timed(), f("resolved_at").sub(f("opened_at"))).finally(0i64)),
        Alias::new("resolve_ms"),
    )
    .expr_as(sum(flag(timed())), Alias::new("timed"))
    .expr_as(sum(flag(rated())), Alias::new("rated"))
    .expr_as(
        Func::sum(Expr::case(
            rated(),
            Expr::cust("CAST(\"f\".\"satisfaction\" AS DOUBLE PRECISION) / \"f\".\"expectation\""),
        )),
        Alias::new("ratio_sum"),
    )
    .expr_as(
        sum(flag(f("status").is_in(["open", "in_progress"]))),
        Alias::new("open_now"),
    );
    let mut columns = vec![
        ("opened", Ty::Int),
        ("complaints", Ty::Int),
        ("resolved", Ty::Int),
        ("resolve_ms", Ty::Int),
        ("timed", Ty::Int),
        ("rated", Ty::Int),
        ("ratio_sum", Ty::Float),
        ("open_now", Ty::Int),
    ];
    if let Some(key) = key {
        q.expr_as(key.clone(), Alias::new("key"))
            .add_group_by([key.clone()])
            .order_by_expr(key, Order::Asc);
        columns.insert(0, ("key", Ty::Text));
    }
    ctx.table(&q, &columns).await
}

fn row(r: &[Cell], active: Option<i64>) -> Vec<Cell> {
    let n = |i: usize| r[i].int();
    let hours = match ratio(n(3), n(4)) {
        Cell::Float(ms) => Cell::Float(ms / 3_600_000.0),
        other => other,
    };
    let index = match (&r[6], n(5)) {
        (Cell::Float(s), rated) if rated > 0 => Cell::Float(s / rated as f64),
        _ => Cell::Null,
    };
    let mut out = vec![n(0).into(), n(1).into()];
    if let Some(active) = active {
        out.push(ratio(n(1), active));
    }
    out.extend([n(2).into(), hours, n(5).into(), index, n(7).into()]);
    out
}

pub async fn report(ctx: &Ctx<'_>) -> Result<Report, Error> {
    let active = active_customers(ctx).await?;
    let none = |_: &mut SelectStatement| {};
    let total = figures(ctx, None, none).await?;
    let mut summary = Table::new(&[
        "opened",
        "complaints",
        "complaint_rate",
        "resolved",
        "mean_hours_to_resolve",
        "rated",
        "satisfaction_index",
        "open_now",
    ]);
    summary.rows.push(row(&total.rows[0], Some(active)));

    let grouped = |name: &'static str| {
        Table::new(&[
            name,
            "opened",
            "complaints",
            "resolved",
            "mean_hours_to_resolve",
            "rated",
            "satisfaction_index",
            "open_now",
        ])
    };
    let keyed = |t: Table, mut out: Table| {
        for r in t.rows {
            let mut cells = vec![r[0].clone()];
            cells.extend(row(&r[1..], None));
            out.rows.push(cells);
        }
        out
    };
    let category =
        Expr::cust("COALESCE(\"f\".\"category\", '') || '/' || COALESCE(\"f\".\"severity\", '')");
    let by_category = keyed(
        figures(ctx, Some(category), none).await?,
        grouped("category_severity"),
    );
    let period = ctx.bucket("f", "opened_at", ctx.filters.granularity);
    let by_period = keyed(figures(ctx, Some(period), none).await?, grouped("period"));
    let territories = |q: &mut SelectStatement| {
        ctx.with_documents(q);
        q.join_as(
            JoinType::LeftJoin,
            Alias::new("territories"),
            Alias::new("t"),
            col("t", "id").equals(cref(D, "territory_id")),
        );
    };
    let by_territory = keyed(
        figures(ctx, Some(col("t", "name").into()), territories).await?,
        grouped("territory"),
    );
    let owners = |q: &mut SelectStatement| {
        q.join_as(
            JoinType::LeftJoin,
            Alias::new("users"),
            Alias::new("u"),
            col("u", "id").equals(cref(C, "owner_id")),
        );
    };
    let by_owner = keyed(
        figures(ctx, Some(col("u", "email").into()), owners).await?,
        grouped("owner"),
    );
    Ok(Report {
        name: "service",
        filters: ctx.filters.clone(),
        definitions: DEFINITIONS,
        sections: vec![
            ("summary", summary),
            ("by_category", by_category),
            ("by_period", by_period),
            ("by_territory", by_territory),
            ("by_owner", by_owner),
        ],
    })
}
