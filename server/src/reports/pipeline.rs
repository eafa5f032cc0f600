//! Pipeline: open opportunities by stage with their weighted value, the forecast, win rates by count
//! and by value, deal size, sales cycle, stage conversion and stale deals.

use sea_orm::sea_query::{Alias, Expr, Order, SimpleExpr};
use sync_core::kinds::OPPORTUNITY_STAGES;

use super::filters::DAY_MS;
use super::sql::{count, f, flag, sum, Ctx, Fact, Ty};
use super::{ratio, Cell, Report, Table};
use crate::error::Error;

const OPPORTUNITIES: Fact = Fact {
    table: "opportunities",
    agent: Some("owner_id"),
    customer: Some("customer_id"),
};

/// Where a deal's history begins: its first stage change, else when the server first stored it.
const OPENED: &str = "COALESCE((SELECT MIN(\"s\".\"at\") FROM \"opportunity_stages\" \"s\" \
     WHERE \"s\".\"opportunity_id\" = \"f\".\"id\"), \"d\".\"created_at\")";
/// Its last stage change, else when the server first stored it.
const LAST_MOVE: &str = "COALESCE((SELECT MAX(\"s\".\"at\") FROM \"opportunity_stages\" \"s\" \
     WHERE \"s\".\"opportunity_id\" = \"f\".\"id\"), \"d\".\"created_at\")";

pub const DEFINITIONS: &[(&str, &str)] = &[
    ("open", "opportunities in scope not won or lost, now (the period does not apply)"),
    ("amount", "Σ amount of the open opportunities, in minor units"),
    ("weighted", "Σ amount × probability ÷ 100 of the open opportunities"),
    ("forecast", "weighted amount of open opportunities expected to close in the period (`expected_close`)"),
    ("won", "opportunities won with `closed_at` in the period; likewise lost"),
    ("win_rate", "won ÷ (won + lost), by count"),
    ("win_rate_value", "won amount ÷ (won + lost amount)"),
    ("average_deal_size", "won amount ÷ won"),
    ("cycle_days_mean", "mean of closed_at − opened (the first stage change, else when the server first stored the deal), in days, over deals won in the period; cycle_days_median likewise"),
    ("stale", "open opportunities whose last stage change (else creation) is more than `stale_days` days before the period's end"),
    ("reached", "stage conversion: opportunities whose stage history holds this stage or a later one (won counts as after negotiation; lost reaches nothing)"),
    ("conversion", "reached of this stage ÷ reached of the stage before"),
];

fn open() -> SimpleExpr {
    f("stage").is_not_in(["won", "lost"])
}

fn weighted() -> SimpleExpr {
    Expr::cust("COALESCE(\"f\".\"amount\", 0) * COALESCE(\"f\".\"probability\", 0) / 100")
}

async fn by_stage(ctx: &Ctx<'_>) -> Result<Table, Error> {
    let mut q = ctx.facts(OPPORTUNITIES);
    q.and_where(open())
        .expr_as(f("stage"), Alias::new("stage"))
        .expr_as(count(), Alias::new("open"))
        .expr_as(sum(f("amount")), Alias::new("amount"))
        .expr_as(sum(weighted()), Alias::new("weighted"))
        .add_group_by([f("stage").into()]);
    let mut t = ctx
        .table(
            &q,
            &[
                ("stage", Ty::Text),
                ("open", Ty::Int),
                ("amount", Ty::Int),
                ("weighted", Ty::Int),
            ],
        )
        .await?;
    // In the workflow's order rather than alphabetical.
    t.rows.sort_by_key(|r| match &r[0] {
        Cell::Text(s) => OPPORTUNITY_STAGES.iter().position(|x| x == s).unwrap_or(99),
        _ => 99,
    });
    Ok(t)
}

async fn summary(ctx: &Ctx<'_>) -> Result<Table, Error> {
    let (from, to) = (ctx.filters.from, ctx.filters.to);
    let closed_in = || f("closed_at").gte(from).and(f("closed_at").lt(to));
    let won = || f("stage").eq("won").and(closed_in());
    let lost = || f("stage").eq("lost").and(closed_in());
    let amount = || Expr::cust("COALESCE(\"f\".\"amount\", 0)");
    let stale_before = to - ctx.filters.stale_days * DAY_MS;
    let mut q = ctx.facts(OPPORTUNITIES);
    // A deal that never moved was last moved when its record was made (`LAST_MOVE`).
    ctx.with_documents(&mut q);
    q.expr_as(sum(flag(open())), Alias::new("open"))
        .expr_as(
            sum(Expr::case(open(), amount()).finally(0i64)),
            Alias::new("amount"),
        )
        .expr_as(
            sum(Expr::case(open(), weighted()).finally(0i64)),
            Alias::new("weighted"),
        )
        .expr_as(
            sum(Expr::case(
                open()
                    .and(f("expected_close").gte(from))
                    .and(f("expected_close").lt(to)),
                weighted(),
            )
            .finally(0i64)),
            Alias::new("forecast"),
        )
        .expr_as(sum(flag(won())), Alias::new("won"))
        .expr_as(
            sum(Expr::case(won(), amount()).finally(0i64)),
            Alias::new("won_amount"),
        )
        .expr_as(sum(flag(lost())), Alias::new("lost"))
        .expr_as(
            sum(Expr::case(lost(), amount()).finally(0i64)),
            Alias::new("lost_amount"),
        )
        .expr_as(
            sum(flag(
                open().and(Expr::cust(format!("{LAST_MOVE} < {stale_before}"))),
            )),
            Alias::new("stale"),
        );
    let s = ctx
        .table(
            &q,
            &[
                ("open", Ty::Int),
                ("amount", Ty::Int),
                ("weighted", Ty::Int),
                ("forecast", Ty::Int),
                ("won", Ty::Int),
                ("won_amount", Ty::Int),
                ("lost", Ty::Int),
                ("lost_amount", Ty::Int),
                ("stale", Ty::Int),
            ],
        )
        .await?;
    // The cycle of each deal won in the period: the median needs them all, and SQLite has no
    // percentile function. One integer per won deal.
    let mut q = ctx.facts(OPPORTUNITIES);
    // A deal with no stage history opened when its record was made (`OPENED`).
    ctx.with_documents(&mut q);
    q.and_where(won())
        .expr_as(
            Expr::cust(format!("\"f\".\"closed_at\" - {OPENED}")),
            Alias::new("cycle_ms"),
        )
        .order_by_expr(
            Expr::cust(format!("\"f\".\"closed_at\" - {OPENED}")),
            Order::Asc,
        );
    let cycles: Vec<i64> = ctx
        .table(&q, &[("cycle_ms", Ty::Int)])
        .await?
        .rows
        .iter()
        .map(|r| r[0].int().max(0))
        .collect();
    let days = |ms: f64| Cell::Float(ms / DAY_MS as f64);
    let mean = if cycles.is_empty() {
        Cell::Null
    } else {
        days(cycles.iter().map(|c| *c as f64).sum::<f64>() / cycles.len() as f64)
    };
    let median = match cycles.len() {
        0 => Cell::Null,
        n if n % 2 == 1 => days(cycles[n / 2] as f64),
        n => days((cycles[n / 2 - 1] + cycles[n / 2]) as f64 / 2.0),
    };
    let get = |name| s.get(0, name).int();
    let mut t = Table::new(&[
        "open",
        "amount",
        "weighted",
        "forecast",
        "won",
        "won_amount",
        "lost",
        "lost_amount",
        "win_rate",
        "win_rate_value",
        "average_deal_size",
        "cycle_days_mean",
        "cycle_days_median",
        "stale",
    ]);
    t.rows.push(vec![
        get("open").into(),
        get("amount").into(),
        get("weighted").into(),
        get("forecast").into(),
        get("won").into(),
        get("won_amount").into(),
        get("lost").into(),
        get("lost_amount").into(),
        ratio(get("won"), get("won") + get("lost")),
        ratio(get("won_amount"), get("won_amount") + get("lost_amount")),
        ratio(get("won_amount"), get("won")),
        mean,
        median,
        get("stale").into(),
    ]);
    Ok(t)
}

/// For each forward stage, the opportunities whose history reached it or a later one.
async fn conversion(ctx: &Ctx<'_>) -> Result<Table, Error> {
    let forward: Vec<&str> = OPPORTUNITY_STAGES
        .iter()
        .copied()
        .filter(|s| *s != "lost")
        .collect();
    let mut q = ctx.facts(OPPORTUNITIES);
    for (i, stage) in forward.iter().enumerate() {
        let later: Vec<String> = forward[i..].iter().map(|s| format!("'{s}'")).collect();
        q.expr_as(
            sum(flag(Expr::cust(format!(
                "EXISTS (SELECT 1 FROM \"opportunity_stages\" \"s\" WHERE \"s\".\"opportunity_id\" = \"f\".\"id\" \
                 AND \"s\".\"stage\" IN ({})) OR \"f\".\"stage\" IN ({})",
                later.join(", "),
                later.join(", ")
            )))),
            Alias::new(*stage),
        );
    }
    let columns: Vec<(&'static str, Ty)> = forward.iter().map(|s| (*s, Ty::Int)).collect();
    let reached = ctx.table(&q, &columns).await?;
    let mut t = Table::new(&["stage", "reached", "conversion"]);
    let mut before: Option<i64> = None;
    for stage in forward {
        let n = reached.get(0, stage).int();
        t.rows.push(vec![
            Cell::Text(stage.to_string()),
            n.into(),
            before.map_or(Cell::Null, |b| ratio(n, b)),
        ]);
        before = Some(n);
    }
    Ok(t)
}

pub async fn report(ctx: &Ctx<'_>) -> Result<Report, Error> {
    Ok(Report {
        name: "pipeline",
        filters: ctx.filters.clone(),
        definitions: DEFINITIONS,
        sections: vec![
            ("summary", summary(ctx).await?),
            ("by_stage", by_stage(ctx).await?),
            ("conversion", conversion(ctx).await?),
        ],
    })
}
