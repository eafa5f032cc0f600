//! Customer value: ABC (Pareto) grading of customers by trailing-twelve-month revenue or margin,
//! shown as gold, iron and lead, with the migrations between grades against the twelve months
//! before; and RFM scores (quintiles) with segments.
//!
//! The sums per customer come from the database; ranking them and cutting the cumulative shares is
//! done here, on one row per customer that bought in the window.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Months};
use sea_orm::sea_query::{Alias, Expr, JoinType, Query};
use sync_core::kinds::PRODUCT_COST;

use super::filters::DAY_MS;
use super::sales::{lines, L};
use super::sql::{col, count_distinct, cref, f, sum, Ctx, Ty, C, F};
use super::{ratio, Cell, Report, Table};
use crate::error::Error;

/// The cost records, and one cost per product, in the margin's query.
const COST: &str = "pc";
const COSTS: &str = "costs";

/// At most this many customers are listed, the most valuable first; the summary counts all.
pub const MAX_CUSTOMERS: usize = 2_000;

pub const DEFINITIONS: &[(&str, &str)] = &[
    ("window", "the twelve months before the period's end (`to`); `from` does not apply"),
    ("revenue", "Σ net line amount of the customer's confirmed orders in the window, in minor units"),
    ("margin", "revenue − Σ quantity × the product's unit cost (its `product_cost` record, the highest where it has several; a product without one counts as costing nothing)"),
    ("cumulative_share", "customers ranked by the measure (`measure`: revenue or margin), descending: the share of the total held by the customers ranked before and including this one"),
    ("tier", "A (gold) while the share before the customer is below `a_share` (default 0.8), B (iron) below `b_share` (default 0.95), C (lead) after; only customers with a positive measure in the window are graded"),
    ("previous_tier", "the same grading over the twelve months before the window; empty where the customer was not graded then"),
    ("migrations", "customers by previous tier and tier (`none`: not graded in that window)"),
    ("recency_days", "days from the customer's last confirmed order to the period's end"),
    ("r", "RFM scores 1 to 5 by quintile among the graded customers: r by recency (5 the most recent), f by orders in the window, m by revenue in the window; ties share the lower score"),
    ("segment", "champions (r, f, m ≥ 4), loyal (f ≥ 4), new (r ≥ 4, f = 1), at_risk (r ≤ 2, f ≥ 3), lost (r = 1, f ≤ 2), others"),
];

/// One customer's figures in a window.
#[derive(Debug, Clone)]
struct Value {
    id: String,
    name: Cell,
    revenue: i64,
    margin: i64,
    orders: i64,
    last: i64,
}

fn months_before(ms: i64, months: u32) -> i64 {
    DateTime::from_timestamp_millis(ms)
        .and_then(|t| t.checked_sub_months(Months::new(months)))
        .map_or(ms, |t| t.timestamp_millis())
}

async fn values(ctx: &Ctx<'_>, from: i64, to: i64) -> Result<Vec<Value>, Error> {
    let mut q = lines(ctx, from, to);
    // One cost per product: the highest of its live cost records.
    let deleted = col(COST, "deleted");
    let costs = Query::select()
        .expr_as(col(COST, "product_id"), Alias::new("product_id"))
        .expr_as(Expr::max(col(COST, "unit_cost")), Alias::new("unit_cost"))
        .from_as(Alias::new(PRODUCT_COST.table), Alias::new(COST))
        .cond_where(deleted.clone().is_null().or(deleted.eq(false)))
        .add_group_by([col(COST, "product_id").into()])
        .to_owned();
    q.join_subquery(
        JoinType::LeftJoin,
        costs,
        Alias::new(COSTS),
        col(COSTS, "product_id").equals(cref(L, "product_id")),
    );
    let cost = Expr::cust(format!(
        "COALESCE(\"{L}\".\"quantity\", 0) * COALESCE(\"{COSTS}\".\"unit_cost\", 0) / 1000"
    ));
    q.expr_as(f("customer_id"), Alias::new("customer_id"))
        .expr_as(Expr::max(col(C, "name")), Alias::new("name"))
        .expr_as(sum(col(L, "net")), Alias::new("revenue"))
        .expr_as(sum(cost), Alias::new("cost"))
        .expr_as(count_distinct(cref(F, "id")), Alias::new("orders"))
        .expr_as(Expr::max(f("ordered_at")), Alias::new("last_order"))
        .add_group_by([f("customer_id").into()]);
    let t = ctx
        .table(
            &q,
            &[
                ("customer_id", Ty::Uuid),
                ("name", Ty::Text),
                ("revenue", Ty::Int),
                ("cost", Ty::Int),
                ("orders", Ty::Int),
                ("last_order", Ty::Int),
            ],
        )
        .await?;
    Ok(t.rows
        .into_iter()
        .filter_map(|r| {
            let Cell::Text(id) = &r[0] else { return None };
            let revenue = r[2].int();
            Some(Value {
                id: id.clone(),
                name: r[1].clone(),
                revenue,
                margin: revenue - r[3].int(),
                orders: r[4].int(),
                last: r[5].int(),
            })
        })
        .collect())
}

/// The grade of each customer with a positive measure, with its cumulative share, most valuable
/// first.
fn grade(values: &[Value], by_margin: bool, a: f64, b: f64) -> Vec<(usize, f64, &'static str)> {
    let measure = |v: &Value| if by_margin { v.margin } else { v.revenue };
    let mut order: Vec<usize> = (0..values.len())
        .filter(|i| measure(&values[*i]) > 0)
        .collect();
    order.sort_by(|x, y| {
        measure(&values[*y])
            .cmp(&measure(&values[*x]))
            .then_with(|| values[*x].id.cmp(&values[*y].id))
    });
    let total: i64 = order.iter().map(|i| measure(&values[*i])).sum();
    let mut before = 0i64;
    order
        .into_iter()
        .map(|i| {
            let share_before = before as f64 / total as f64;
            before += measure(&values[i]);
            let tier = if share_before < a {
                "A"
            } else if share_before < b {
                "B"
            } else {
                "C"
            };
            (i, before as f64 / total as f64, tier)
        })
        .collect()
}

pub fn metal(tier: &str) -> &'static str {
    match tier {
        "A" => "gold",
        "B" => "iron",
        _ => "lead",
    }
}

/// Quintile scores 1..=5 of `keys` (higher key, higher score); equal keys share the score of the
/// first of them.
fn quintiles(keys: &[i64]) -> Vec<i64> {
    let n = keys.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|i| keys[*i]);
    let mut scores = vec![0; n];
    let mut first = 0;
    for (rank, i) in order.iter().enumerate() {
        if rank > 0 && keys[*i] != keys[order[rank - 1]] {
            first = rank;
        }
        scores[*i] = (first * 5 / n) as i64 + 1;
    }
    scores
}

fn segment(r: i64, f: i64, m: i64) -> &'static str {
    match (r, f, m) {
        (4.., 4.., 4..) => "champions",
        (_, 4.., _) => "loyal",
        (4.., 1, _) => "new",
        (..=2, 3.., _) => "at_risk",
        (1, ..=2, _) => "lost",
        _ => "others",
    }
}

/// Each graded customer's tier (A, B or C) over the twelve months before the period's end, by the
/// filters' measure and thresholds; customers with nothing to grade are left out.
pub async fn grades(ctx: &Ctx<'_>) -> Result<HashMap<String, &'static str>, Error> {
    let f = ctx.filters;
    let now = values(ctx, months_before(f.to, 12), f.to).await?;
    Ok(grade(&now, f.by_margin, f.a_share, f.b_share)
        .into_iter()
        .map(|(i, _, tier)| (now[i].id.clone(), tier))
        .collect())
}

pub async fn report(ctx: &Ctx<'_>) -> Result<Report, Error> {
    let grading = ctx.filters;
    let to = grading.to;
    let start = months_before(to, 12);
    let now = values(ctx, start, to).await?;
    let before = values(ctx, months_before(to, 24), start).await?;
    let graded = grade(&now, grading.by_margin, grading.a_share, grading.b_share);
    let previous: HashMap<&str, &'static str> =
        grade(&before, grading.by_margin, grading.a_share, grading.b_share)
            .into_iter()
            .map(|(i, _, tier)| (before[i].id.as_str(), tier))
            .collect();

    let recency: Vec<i64> = graded.iter().map(|(i, _, _)| now[*i].last).collect();
    let frequency: Vec<i64> = graded.iter().map(|(i, _, _)| now[*i].orders).collect();
    let monetary: Vec<i64> = graded.iter().map(|(i, _, _)| now[*i].revenue).collect();
    let (rs, fs, ms) = (
        quintiles(&recency),
        quintiles(&frequency),
        quintiles(&monetary),
    );

    let total: i64 = graded.iter().map(|(i, _, _)| now[*i].revenue).sum();
    let mut tiers: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    let mut migrations: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    let mut segments: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    let mut customers = Table::new(&[
        "customer_id",
        "name",
        "revenue",
        "margin",
        "orders",
        "last_order",
        "recency_days",
        "cumulative_share",
        "tier",
        "metal",
        "previous_tier",
        "r",
        "f",
        "m",
        "rfm",
        "segment",
    ]);
    for (k, (i, share, tier)) in graded.iter().enumerate() {
        let v = &now[*i];
        let e = tiers.entry(tier).or_default();
        e.0 += 1;
        e.1 += v.revenue;
        let was = previous.get(v.id.as_str()).copied();
        *migrations.entry((was.unwrap_or("none"), tier)).or_default() += 1;
        let seg = segment(rs[k], fs[k], ms[k]);
        let e = segments.entry(seg).or_default();
        e.0 += 1;
        e.1 += v.revenue;
        if k < MAX_CUSTOMERS {
            customers.rows.push(vec![
                Cell::Text(v.id.clone()),
                v.name.clone(),
                v.revenue.into(),
                v.margin.into(),
                v.orders.into(),
                v.last.into(),
                ((to - v.last) / DAY_MS).into(),
                Cell::Float(*share),
                Cell::Text(tier.to_string()),
                Cell::Text(metal(tier).to_string()),
                was.map_or(Cell::Null, |t| Cell::Text(t.to_string())),
                rs[k].into(),
                fs[k].into(),
                ms[k].into(),
                Cell::Text(format!("{}-{}-{}", rs[k], fs[k], ms[k])),
                Cell::Text(seg.to_string()),
            ]);
        }
    }
    // Customers graded before and not now.
    let graded_now: std::collections::HashSet<&str> =
        graded.iter().map(|(i, _, _)| now[*i].id.as_str()).collect();
    for (id, was) in &previous {
        if !graded_now.contains(id) {
            *migrations.entry((was, "none")).or_default() += 1;
        }
    }

    let mut summary = Table::new(&["tier", "metal", "customers", "revenue", "share"]);
    for tier in ["A", "B", "C"] {
        let (n, revenue) = tiers.get(tier).copied().unwrap_or_default();
        summary.rows.push(vec![
            Cell::Text(tier.into()),
            Cell::Text(metal(tier).into()),
            n.into(),
            revenue.into(),
            ratio(revenue, total),
        ]);
    }
    let mut moves = Table::new(&["previous_tier", "tier", "customers"]);
    for ((from, to), n) in migrations {
        moves.rows.push(vec![
            Cell::Text(from.into()),
            Cell::Text(to.into()),
            n.into(),
        ]);
    }
    let mut rfm = Table::new(&["segment", "customers", "revenue"]);
    for (seg, (n, revenue)) in segments {
        rfm.rows
            .push(vec![Cell::Text(seg.into()), n.into(), revenue.into()]);
    }
    Ok(Report {
        name: "customer-value",
        filters: ctx.filters.clone(),
        definitions: DEFINITIONS,
        sections: vec![
            ("summary", summary),
            ("customers", customers),
            ("migrations", moves),
            ("rfm_segments", rfm),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(id: &str, revenue: i64) -> Value {
        Value {
            id: id.into(),
            name: Cell::Null,
            revenue,
            margin: revenue / 2,
            orders: 1,
            last: 0,
        }
    }

    #[test]
    fn the_customer_that_crosses_the_threshold_is_still_gold() {
        // 50, 30, 10, 6, 4 of 100: before each 0, .5, .8, .9, .96.
        let values = [
            v("a", 50),
            v("b", 30),
            v("c", 10),
            v("d", 6),
            v("e", 4),
            v("z", 0),
        ];
        let graded = grade(&values, false, 0.8, 0.95);
        let tiers: Vec<_> = graded
            .iter()
            .map(|(i, _, t)| (values[*i].id.as_str(), *t))
            .collect();
        assert_eq!(
            tiers,
            [("a", "A"), ("b", "A"), ("c", "B"), ("d", "B"), ("e", "C")]
        );
        assert!((graded[1].1 - 0.8).abs() < 1e-9);
    }

    #[test]
    fn quintiles_score_ties_alike() {
        assert_eq!(quintiles(&[10, 20, 30, 40, 50]), [1, 2, 3, 4, 5]);
        assert_eq!(quintiles(&[7, 7, 7, 7, 7]), [1, 1, 1, 1, 1]);
        assert_eq!(
            quintiles(&[1, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
            [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
        );
        assert_eq!(segment(5, 5, 5), "champions");
        assert_eq!(segment(1, 1, 1), "lost");
        assert_eq!(segment(2, 3, 1), "at_risk");
    }
}
