//! Sales: revenue, orders, average order value and lines per order, by period, agent, territory,
//! product, category and customer segment; growth against the same period a year before;
//! attainment against the revenue targets.

use std::collections::HashMap;

use chrono::{DateTime, Months, NaiveDate};
use sea_orm::sea_query::{Alias, Expr, JoinType, Order, SelectStatement};

use super::sql::{col, count, count_distinct, cref, f, sum, Ctx, Fact, Ty, C, D, F};
use super::targets::{self, Targets};
use super::{ratio, Cell, Filters, Report, Table};
use crate::error::Error;

pub const ORDERS: Fact = Fact {
    table: "orders",
    agent: Some("agent_id"),
    customer: Some("customer_id"),
};

/// Orders that count as sales.
pub const CONFIRMED: [&str; 2] = ["approved", "delivered"];

/// SQL selecting `what` from the live confirmed orders (`o`) of the customer `customer` (an SQL
/// expression) that also meet `and`: for the reports' correlated subqueries.
pub(super) fn confirmed_orders_of(what: &str, customer: &str, and: &str) -> String {
    let statuses: Vec<String> = CONFIRMED.iter().map(|s| format!("'{s}'")).collect();
    format!(
        "SELECT {what} FROM \"orders\" \"o\" WHERE \"o\".\"customer_id\" = {customer} \
         AND \"o\".\"status\" IN ({}) AND (\"o\".\"deleted\" IS NULL OR \"o\".\"deleted\" = FALSE) AND {and}",
        statuses.join(", ")
    )
}

pub(super) const L: &str = "l";
pub(super) const P: &str = "p";

pub const DEFINITIONS: &[(&str, &str)] = &[
    ("revenue", "Σ net line amount (after line and order discounts, before tax) of confirmed orders (approved or delivered) ordered in the period (`ordered_at`), in minor units"),
    ("orders", "confirmed orders with at least one line in the period"),
    ("lines", "lines of those orders"),
    ("average_order_value", "revenue ÷ orders"),
    ("lines_per_order", "lines ÷ orders"),
    ("revenue_prior_year", "revenue of the same period twelve months earlier"),
    ("growth", "(revenue − revenue_prior_year) ÷ revenue_prior_year"),
    ("target", "revenue targets overlapping the period, each in proportion to the share of its own period inside it; for an agent (an agent's filter or scope) that agent's targets, else the territories' (targets without an agent)"),
    ("attainment", "revenue ÷ target"),
    ("quantity", "units sold (thousandths of a unit in the lines, shown in units)"),
    ("customers", "distinct customers who bought the product"),
    ("numeric_distribution", "customers who bought the product ÷ active customers in scope (status active, won back or unset)"),
    ("units_per_customer", "turnover: units of the product sold in the period ÷ the customers who bought it"),
    ("share", "the row's revenue ÷ the period's revenue"),
];

/// Lines of confirmed orders ordered in `[from, to)`, in scope and filtered (product and category
/// too), with the order as `f`, the line as `l` and the product as `p`.
pub(super) fn lines(ctx: &Ctx<'_>, from: i64, to: i64) -> SelectStatement {
    let mut q = ctx.facts(ORDERS);
    q.join_as(
        JoinType::InnerJoin,
        Alias::new("order_lines"),
        Alias::new(L),
        col(L, "order_id").equals(cref(F, "id")),
    )
    .join_as(
        JoinType::LeftJoin,
        Alias::new("products"),
        Alias::new(P),
        col(P, "id").equals(cref(L, "product_id")),
    )
    .and_where(f("status").is_in(CONFIRMED))
    .cond_where(ctx.within(f("ordered_at"), from, to));
    if let Some(product) = ctx.filters.product {
        q.and_where(col(L, "product_id").eq(product));
    }
    if let Some(category) = &ctx.filters.category {
        q.and_where(col(P, "category").eq(category.as_str()));
    }
    q
}

/// Revenue, orders and lines, grouped by `key` (the first column).
async fn totals(
    ctx: &Ctx<'_>,
    from: i64,
    to: i64,
    (key, ty): (sea_orm::sea_query::SimpleExpr, Ty),
) -> Result<Table, Error> {
    let mut q = lines(ctx, from, to);
    q.expr_as(sum(col(L, "net")), Alias::new("revenue"))
        .expr_as(count_distinct(cref(F, "id")), Alias::new("orders"))
        .expr_as(count(), Alias::new("lines"));
    q.expr_as(key.clone(), Alias::new("key"))
        .add_group_by([key.clone()])
        .order_by_expr(key, Order::Asc);
    let columns = [
        ("key", ty),
        ("revenue", Ty::Int),
        ("orders", Ty::Int),
        ("lines", Ty::Int),
    ];
    ctx.table(&q, &columns).await
}

/// `{from, to}` twelve months earlier.
fn prior_year(filters: &Filters) -> (i64, i64) {
    let back = |ms: i64| {
        DateTime::from_timestamp_millis(ms)
            .and_then(|t| t.checked_sub_months(Months::new(12)))
            .map_or(ms, |t| t.timestamp_millis())
    };
    (back(filters.from), back(filters.to))
}

/// The label a prior-year bucket has in the current period: a year later, or 52 weeks later for
/// weeks (so that Mondays stay Mondays).
fn shift_label(label: &str, weeks: bool) -> Option<String> {
    if label.len() == 7 {
        let year: i32 = label[..4].parse().ok()?;
        return Some(format!("{}{}", year + 1, &label[4..]));
    }
    let day = NaiveDate::parse_from_str(label, "%Y-%m-%d").ok()?;
    let later = if weeks {
        day.checked_add_days(chrono::Days::new(364))?
    } else {
        day.checked_add_months(Months::new(12))?
    };
    Some(later.to_string())
}

fn growth(now: i64, before: i64) -> Cell {
    ratio(now - before, before)
}

pub async fn report(ctx: &Ctx<'_>) -> Result<Report, Error> {
    let filters = ctx.filters;
    let (pf, pt) = prior_year(filters);
    let targets = targets::load(ctx, "revenue").await?;

    let mut summary = Table::new(&[
        "revenue",
        "orders",
        "lines",
        "average_order_value",
        "lines_per_order",
        "revenue_prior_year",
        "growth",
        "target",
        "attainment",
    ]);
    // The periods' figures add up to the whole: every order falls in one period. One read of the
    // lines per year serves both.
    let g = filters.granularity;
    let period = (ctx.bucket(F, "ordered_at", g), Ty::Text);
    let now = totals(ctx, filters.from, filters.to, period.clone()).await?;
    let before = totals(ctx, pf, pt, period).await?;
    let column = |t: &Table, i: usize| t.rows.iter().map(|r| r[i].int()).sum::<i64>();
    let (revenue, orders, lines) = (column(&now, 1), column(&now, 2), column(&now, 3));
    let prior = column(&before, 1);
    let target = targets.overall(filters, ctx.scope.agent);
    summary.rows.push(vec![
        revenue.into(),
        orders.into(),
        lines.into(),
        ratio(revenue, orders),
        ratio(lines, orders),
        prior.into(),
        growth(revenue, prior),
        target.map_or(Cell::Null, Cell::Int),
        target.map_or(Cell::Null, |t| ratio(revenue, t)),
    ]);

    let weeks = g == super::filters::Granularity::Week;
    let prior_by: HashMap<String, i64> = before
        .rows
        .iter()
        .filter_map(|r| match &r[0] {
            Cell::Text(label) => Some((shift_label(label, weeks)?, r[1].int())),
            _ => None,
        })
        .collect();
    let mut by_period = Table::new(&[
        "period",
        "revenue",
        "orders",
        "average_order_value",
        "lines_per_order",
        "revenue_prior_year",
        "growth",
    ]);
    for r in &now.rows {
        let (revenue, orders, lines) = (r[1].int(), r[2].int(), r[3].int());
        let prior = match &r[0] {
            Cell::Text(label) => prior_by.get(label).copied().unwrap_or(0),
            _ => 0,
        };
        by_period.rows.push(vec![
            r[0].clone(),
            revenue.into(),
            orders.into(),
            ratio(revenue, orders),
            ratio(lines, orders),
            prior.into(),
            growth(revenue, prior),
        ]);
    }

    let by_agent = by_agent(ctx, &targets).await?;
    let by_territory = by_territory(ctx, &targets).await?;
    let by_product = by_product(ctx).await?;
    let by_category = shares(
        "category",
        totals(
            ctx,
            filters.from,
            filters.to,
            (col(P, "category").into(), Ty::Text),
        )
        .await?,
        revenue,
    );
    let by_segment = shares(
        "segment",
        totals(
            ctx,
            filters.from,
            filters.to,
            (col(C, "industry").into(), Ty::Text),
        )
        .await?,
        revenue,
    );
    Ok(Report {
        name: "sales",
        filters: filters.clone(),
        definitions: DEFINITIONS,
        sections: vec![
            ("summary", summary),
            ("by_period", by_period),
            ("by_agent", by_agent),
            ("by_territory", by_territory),
            ("by_product", by_product),
            ("by_category", by_category),
            ("by_segment", by_segment),
        ],
    })
}

/// Revenue and orders per key, with each key's share of the period's revenue.
fn shares(name: &'static str, t: Table, revenue: i64) -> Table {
    let mut out = Table::new(&[name, "revenue", "orders", "share"]);
    for r in t.rows {
        let rev = r[1].int();
        out.rows.push(vec![
            r[0].clone(),
            rev.into(),
            r[2].clone(),
            ratio(rev, revenue),
        ]);
    }
    out
}

async fn by_agent(ctx: &Ctx<'_>, targets: &Targets) -> Result<Table, Error> {
    let mut q = lines(ctx, ctx.filters.from, ctx.filters.to);
    q.join_as(
        JoinType::LeftJoin,
        Alias::new("users"),
        Alias::new("u"),
        col("u", "id").equals(cref(F, "agent_id")),
    )
    .expr_as(f("agent_id"), Alias::new("agent_id"))
    .expr_as(Expr::max(col("u", "email")), Alias::new("agent"))
    .expr_as(sum(col(L, "net")), Alias::new("revenue"))
    .expr_as(count_distinct(cref(F, "id")), Alias::new("orders"))
    .add_group_by([f("agent_id").into()])
    .order_by_expr(sum(col(L, "net")), Order::Desc);
    let t = ctx
        .table(
            &q,
            &[
                ("agent_id", Ty::Uuid),
                ("agent", Ty::Text),
                ("revenue", Ty::Int),
                ("orders", Ty::Int),
            ],
        )
        .await?;
    let mut out = Table::new(&[
        "agent_id",
        "agent",
        "revenue",
        "orders",
        "average_order_value",
        "target",
        "attainment",
    ]);
    for r in t.rows {
        let (revenue, orders) = (r[2].int(), r[3].int());
        let target = match &r[0] {
            Cell::Text(id) => id
                .parse()
                .ok()
                .and_then(|id| targets.of_agent(ctx.filters, id)),
            _ => None,
        };
        out.rows.push(vec![
            r[0].clone(),
            r[1].clone(),
            revenue.into(),
            orders.into(),
            ratio(revenue, orders),
            target.map_or(Cell::Null, Cell::Int),
            target.map_or(Cell::Null, |t| ratio(revenue, t)),
        ]);
    }
    Ok(out)
}

async fn by_territory(ctx: &Ctx<'_>, targets: &Targets) -> Result<Table, Error> {
    let mut q = lines(ctx, ctx.filters.from, ctx.filters.to);
    ctx.with_documents(&mut q);
    q.join_as(
        JoinType::LeftJoin,
        Alias::new("territories"),
        Alias::new("t"),
        col("t", "id").equals(cref(D, "territory_id")),
    )
    .expr_as(col("t", "name"), Alias::new("territory"))
    .expr_as(sum(col(L, "net")), Alias::new("revenue"))
    .expr_as(count_distinct(cref(F, "id")), Alias::new("orders"))
    .add_group_by([col("t", "name").into()])
    .order_by_expr(col("t", "name").into(), Order::Asc);
    let t = ctx
        .table(
            &q,
            &[
                ("territory", Ty::Text),
                ("revenue", Ty::Int),
                ("orders", Ty::Int),
            ],
        )
        .await?;
    let mut out = Table::new(&["territory", "revenue", "orders", "target", "attainment"]);
    for r in t.rows {
        let revenue = r[1].int();
        let target = match &r[0] {
            Cell::Text(name) => targets.of_territory(ctx.filters, name),
            _ => None,
        };
        out.rows.push(vec![
            r[0].clone(),
            revenue.into(),
            r[2].clone(),
            target.map_or(Cell::Null, Cell::Int),
            target.map_or(Cell::Null, |t| ratio(revenue, t)),
        ]);
    }
    Ok(out)
}

async fn by_product(ctx: &Ctx<'_>) -> Result<Table, Error> {
    let mut q = lines(ctx, ctx.filters.from, ctx.filters.to);
    q.expr_as(col(L, "product_id"), Alias::new("product_id"))
        .expr_as(Expr::max(col(L, "sku")), Alias::new("sku"))
        .expr_as(Expr::max(col(P, "name")), Alias::new("name"))
        .expr_as(Expr::max(col(P, "category")), Alias::new("category"))
        .expr_as(sum(col(L, "quantity")), Alias::new("quantity"))
        .expr_as(sum(col(L, "net")), Alias::new("revenue"))
        .expr_as(
            count_distinct(cref(F, "customer_id")),
            Alias::new("customers"),
        )
        .add_group_by([col(L, "product_id").into()])
        .order_by_expr(sum(col(L, "net")), Order::Desc);
    let t = ctx
        .table(
            &q,
            &[
                ("product_id", Ty::Uuid),
                ("sku", Ty::Text),
                ("name", Ty::Text),
                ("category", Ty::Text),
                ("quantity", Ty::Int),
                ("revenue", Ty::Int),
                ("customers", Ty::Int),
            ],
        )
        .await?;
    let active = active_customers(ctx).await?;
    let mut out = Table::new(&[
        "product_id",
        "sku",
        "name",
        "category",
        "quantity",
        "revenue",
        "customers",
        "numeric_distribution",
        "units_per_customer",
    ]);
    for mut r in t.rows {
        let quantity = r[4].int();
        r[4] = Cell::Float(quantity as f64 / 1_000.0);
        let customers = r[6].int();
        r.push(ratio(customers, active));
        r.push(match ratio(quantity, customers) {
            Cell::Float(thousandths) => Cell::Float(thousandths / 1_000.0),
            other => other,
        });
        out.rows.push(r);
    }
    Ok(out)
}

pub const CUSTOMERS: Fact = Fact {
    table: "customers",
    agent: None,
    customer: Some("id"),
};

/// The statuses of active customers; a customer without a status counts as active too.
pub const ACTIVE: [&str; 2] = ["active", "won_back"];

/// Customers in scope that are active: not prospects, dormant or lost.
pub async fn active_customers(ctx: &Ctx<'_>) -> Result<i64, Error> {
    let mut q = ctx.facts(CUSTOMERS);
    q.expr_as(count(), Alias::new("n"))
        .and_where(f("status").is_null().or(f("status").is_in(ACTIVE)));
    let t = ctx.table(&q, &[("n", Ty::Int)]).await?;
    Ok(t.get(0, "n").int())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prior_buckets_land_on_this_years() {
        assert_eq!(shift_label("2025-03", false).as_deref(), Some("2026-03"));
        assert_eq!(
            shift_label("2025-03-04", false).as_deref(),
            Some("2026-03-04")
        );
        // 2025-03-03 is a Monday; 52 weeks later is Monday 2026-03-02.
        assert_eq!(
            shift_label("2025-03-03", true).as_deref(),
            Some("2026-03-02")
        );
    }
}
