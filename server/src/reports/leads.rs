//! Leads: how many of the leads met in the period became customers, by cohort (the month they were
//! met), source, owner and territory, and how long it took.

use sea_orm::sea_query::{Alias, Expr, JoinType, Order, SelectStatement, SimpleExpr};

use super::filters::DAY_MS;
use super::sql::{col, cref, f, flag, sum, Ctx, Fact, Ty, D, F};
use super::{ratio, Cell, Report, Table};
use crate::error::Error;

/// A lead is its owner's: an agent reads their own (and, through the territory, none else's), and
/// the `agent` filter names the owner.
const LEADS: Fact = Fact {
    table: "leads",
    agent: Some("owner_id"),
    customer: None,
};

/// When a lead was met: on the device (`captured_at`), else when the server first stored it.
const MET: &str = "COALESCE(\"f\".\"captured_at\", \"d\".\"created_at\")";

pub const DEFINITIONS: &[(&str, &str)] = &[
    ("leads", "leads met in the period (`captured_at` on the device, else when the server first stored the lead): the cohort"),
    ("converted", "of those, leads now converted"),
    ("disqualified", "of those, leads now disqualified"),
    ("open", "of those, leads now new, working or qualified"),
    ("conversion_rate", "converted ÷ leads of the cohort, whenever the conversion happened"),
    ("mean_days_to_convert", "mean of converted_at − met, in days, over the cohort's converted leads that have a `converted_at`"),
];

/// Figures of the period's cohort, grouped by `key` (or in total).
async fn figures(
    ctx: &Ctx<'_>,
    key: Option<SimpleExpr>,
    joins: impl Fn(&mut SelectStatement),
) -> Result<Table, Error> {
    let met = || Expr::expr(Expr::cust(MET));
    let status = |s: &[&str]| f("status").is_in(s.iter().copied());
    let timed = || f("converted_at").is_not_null().and(status(&["converted"]));
    let mut q = ctx.facts(LEADS);
    // A lead met without a capture date was met when its record was made.
    ctx.with_documents(&mut q);
    joins(&mut q);
    q.cond_where(ctx.within(met(), ctx.filters.from, ctx.filters.to))
        .expr_as(sum(flag(Expr::val(true).into())), Alias::new("leads"))
        .expr_as(sum(flag(status(&["converted"]))), Alias::new("converted"))
        .expr_as(
            sum(flag(status(&["disqualified"]))),
            Alias::new("disqualified"),
        )
        .expr_as(
            sum(flag(status(&["new", "working", "qualified"]))),
            Alias::new("open"),
        )
        .expr_as(
            sum(Expr::case(timed(), f("converted_at").sub(met())).finally(0i64)),
            Alias::new("convert_ms"),
        )
        .expr_as(sum(flag(timed())), Alias::new("timed"));
    let mut columns = vec![
        ("leads", Ty::Int),
        ("converted", Ty::Int),
        ("disqualified", Ty::Int),
        ("open", Ty::Int),
        ("convert_ms", Ty::Int),
        ("timed", Ty::Int),
    ];
    if let Some(key) = key {
        q.expr_as(key.clone(), Alias::new("key"))
            .add_group_by([key.clone()])
            .order_by_expr(key, Order::Asc);
        columns.insert(0, ("key", Ty::Text));
    }
    ctx.table(&q, &columns).await
}

/// A row of the report's columns from a row of `figures` (without its key).
fn row(r: &[Cell]) -> Vec<Cell> {
    let n = |i: usize| r[i].int();
    let days = match ratio(n(4), n(5)) {
        Cell::Float(ms) => Cell::Float(ms / DAY_MS as f64),
        other => other,
    };
    vec![
        n(0).into(),
        n(1).into(),
        n(2).into(),
        n(3).into(),
        ratio(n(1), n(0)),
        days,
    ]
}

const COLUMNS: [&str; 6] = [
    "leads",
    "converted",
    "disqualified",
    "open",
    "conversion_rate",
    "mean_days_to_convert",
];

pub async fn report(ctx: &Ctx<'_>) -> Result<Report, Error> {
    let none = |_: &mut SelectStatement| {};
    let mut summary = Table::new(&COLUMNS);
    summary
        .rows
        .push(row(&figures(ctx, None, none).await?.rows[0]));
    let keyed = |name: &'static str, t: Table| {
        let mut out = Table::new(&[&[name][..], &COLUMNS[..]].concat());
        for r in t.rows {
            let mut cells = vec![r[0].clone()];
            cells.extend(row(&r[1..]));
            out.rows.push(cells);
        }
        out
    };
    let cohort = ctx.bucket_of(MET, ctx.filters.granularity);
    let by_cohort = keyed("cohort", figures(ctx, Some(cohort), none).await?);
    let source = Expr::cust("COALESCE(\"f\".\"source\", '')");
    let by_source = keyed("source", figures(ctx, Some(source), none).await?);
    let owners = |q: &mut SelectStatement| {
        q.join_as(
            JoinType::LeftJoin,
            Alias::new("users"),
            Alias::new("u"),
            col("u", "id").equals(cref(F, "owner_id")),
        );
    };
    let owner = Expr::cust("COALESCE(\"u\".\"email\", '')");
    let by_owner = keyed("owner", figures(ctx, Some(owner), owners).await?);
    let territories = |q: &mut SelectStatement| {
        q.join_as(
            JoinType::LeftJoin,
            Alias::new("territories"),
            Alias::new("t"),
            col("t", "id").equals(cref(D, "territory_id")),
        );
    };
    let by_territory = keyed(
        "territory",
        figures(ctx, Some(col("t", "name").into()), territories).await?,
    );
    Ok(Report {
        name: "leads",
        filters: ctx.filters.clone(),
        definitions: DEFINITIONS,
        sections: vec![
            ("summary", summary),
            ("by_cohort", by_cohort),
            ("by_source", by_source),
            ("by_owner", by_owner),
            ("by_territory", by_territory),
        ],
    })
}
