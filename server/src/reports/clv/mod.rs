//! Customer lifetime value: BG/NBD and Gamma-Gamma fitted to the customers' confirmed orders (one
//! transaction per customer and day), and per customer the purchases still expected, the
//! probability they are still a customer, the expected value of a purchase and the discounted
//! value of the coming months.

pub mod fits;
pub mod model;
pub mod summary;

use std::collections::BTreeMap;

use sea_orm::sea_query::{Alias, Expr};

use super::filters::DAY_MS;
use super::sales::{lines, L};
use super::sql::{col, f, sum, Ctx, Ty, C};
use super::{Cell, Report, Table};
use crate::error::Error;
use fits::Fits;
use summary::Summary;

/// At most this many customers are listed, the most valuable first; the summary counts all.
pub const MAX_CUSTOMERS: usize = 2_000;
/// Weeks in a month, for horizons in months.
const WEEKS_PER_MONTH: f64 = 365.25 / 12.0 / 7.0;

pub const DEFINITIONS: &[(&str, &str)] = &[
    ("transactions", "a customer's confirmed orders (approved or delivered) up to the period's end, one transaction per UTC day (values summed); the first opens the history and is not a repeat"),
    ("repeat_purchases", "x: transactions after the first"),
    ("recency_weeks", "t_x: weeks from the first transaction to the last"),
    ("age_weeks", "T: weeks from the first transaction to the period's end"),
    ("model", "BG/NBD (Fader, Hardie and Lee 2005) for purchases and dropout, Gamma-Gamma for the value of a purchase, both fitted by maximum likelihood to every customer of the company up to the period's end; cached per day, refreshed hourly for today"),
    ("p_alive", "the probability that the customer has not dropped out"),
    ("expected_purchases", "transactions expected in the next `horizon_months` (default 12)"),
    ("expected_value", "the expected value of one of the customer's transactions (Gamma-Gamma), in minor units; the customer's own mean where the model could not be fitted (fewer than 10 repeat buyers)"),
    ("clv", "Σ over the coming months of the expected transactions in the month × expected_value × `margin` (default 1: revenue), discounted monthly at the annual `discount_rate` (default 0.1), in minor units"),
];

/// Per customer and UTC day, the value of their confirmed orders up to the period's end, in scope.
pub(crate) async fn purchases(ctx: &Ctx<'_>) -> Result<Vec<(String, Cell, i64, f64)>, Error> {
    let day = Expr::cust(format!("\"f\".\"ordered_at\" / {DAY_MS}"));
    let mut q = lines(ctx, i64::MIN / 2, ctx.filters.to);
    q.expr_as(f("customer_id"), Alias::new("customer_id"))
        .expr_as(Expr::max(col(C, "name")), Alias::new("name"))
        .expr_as(day.clone(), Alias::new("day"))
        .expr_as(sum(col(L, "net")), Alias::new("value"))
        .add_group_by([f("customer_id").into(), day]);
    let t = ctx
        .table(
            &q,
            &[
                ("customer_id", Ty::Uuid),
                ("name", Ty::Text),
                ("day", Ty::Int),
                ("value", Ty::Int),
            ],
        )
        .await?;
    Ok(t.rows
        .into_iter()
        .filter_map(|r| match &r[0] {
            Cell::Text(id) => Some((id.clone(), r[1].clone(), r[2].int(), r[3].int() as f64)),
            _ => None,
        })
        .collect())
}

/// Summaries per customer of `purchases` up to `end` (milliseconds), in weeks.
pub(crate) fn summaries(
    purchases: Vec<(String, Cell, i64, f64)>,
    end: i64,
) -> BTreeMap<String, Summary> {
    // The last day whose start is before `end`.
    let end_day = (end - 1).div_euclid(DAY_MS);
    summary::summarise(
        purchases.into_iter().map(|(id, _, day, v)| (id, day, v)),
        end_day,
        7.0,
    )
}

pub async fn report(ctx: &Ctx<'_>, fits: &Fits) -> Result<Report, Error> {
    let filters = ctx.filters;
    let fit = fits.get(ctx.conn, filters.to).await?;
    let bought = purchases(ctx).await?;
    let names: BTreeMap<String, Cell> = bought
        .iter()
        .map(|(id, name, _, _)| (id.clone(), name.clone()))
        .collect();
    let summaries = summaries(bought, filters.to);
    let months = filters.horizon_months;
    let monthly = (1.0 + filters.discount_rate).powf(1.0 / 12.0) - 1.0;

    let mut rows: Vec<(f64, Vec<Cell>)> = Vec::with_capacity(summaries.len());
    let (mut total_clv, mut alive_sum) = (0.0, 0.0);
    for (id, s) in &summaries {
        let h = &s.history;
        let value = match &fit.gamma_gamma {
            Some(gg) => gg.expected_value(&s.spend),
            None => s.spend.mean,
        };
        let mut clv = 0.0;
        let mut before = 0.0;
        for m in 1..=months {
            let upto = fit.bg_nbd.expected_purchases(h, m as f64 * WEEKS_PER_MONTH);
            clv += (upto - before) * value * filters.margin / (1.0 + monthly).powi(m as i32);
            before = upto;
        }
        let p_alive = fit.bg_nbd.p_alive(h);
        total_clv += clv;
        alive_sum += p_alive;
        rows.push((
            clv,
            vec![
                Cell::Text(id.clone()),
                names.get(id).cloned().unwrap_or(Cell::Null),
                (h.x as i64).into(),
                Cell::Float(h.t_x),
                Cell::Float(h.t),
                Cell::Float(p_alive),
                Cell::Float(before),
                Cell::Float(value),
                Cell::Int(clv.round() as i64),
            ],
        ));
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut customers = Table::new(&[
        "customer_id",
        "name",
        "repeat_purchases",
        "recency_weeks",
        "age_weeks",
        "p_alive",
        "expected_purchases",
        "expected_value",
        "clv",
    ]);
    customers.rows = rows
        .into_iter()
        .take(MAX_CUSTOMERS)
        .map(|(_, r)| r)
        .collect();

    let n = summaries.len();
    let mut summary = Table::new(&[
        "customers",
        "clv",
        "mean_p_alive",
        "fitted_customers",
        "fitted_repeat_buyers",
        "fitted_at",
        "r",
        "alpha",
        "a",
        "b",
        "p",
        "q",
        "gamma",
    ]);
    let gg = fit.gamma_gamma;
    summary.rows.push(vec![
        (n as i64).into(),
        Cell::Int(total_clv.round() as i64),
        if n > 0 {
            Cell::Float(alive_sum / n as f64)
        } else {
            Cell::Null
        },
        (fit.customers as i64).into(),
        (fit.repeat_buyers as i64).into(),
        fit.fitted_at.into(),
        Cell::Float(fit.bg_nbd.r),
        Cell::Float(fit.bg_nbd.alpha),
        Cell::Float(fit.bg_nbd.a),
        Cell::Float(fit.bg_nbd.b),
        gg.map(|g| g.p).into(),
        gg.map(|g| g.q).into(),
        gg.map(|g| g.gamma).into(),
    ]);
    Ok(Report {
        name: "clv",
        filters: filters.clone(),
        definitions: DEFINITIONS,
        sections: vec![("summary", summary), ("customers", customers)],
    })
}
