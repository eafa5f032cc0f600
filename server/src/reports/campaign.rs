//! Campaigns: of each campaign running in the period, whom it reached, how they responded, what
//! they bought because of it, and how its customers' spending moved against a comparable group of
//! customers outside it.

use sea_orm::sea_query::{Alias, Expr, JoinType, Order, Query, SelectStatement, SimpleExpr};
use uuid::Uuid;

use super::sales::CONFIRMED;
use super::sql::{col, f, flag, live, sum, Ctx, Fact, Ty, D, F};
use super::{ratio, Cell, Report, Table};
use crate::error::Error;

/// A campaign's members are facts about customers: an agent reads those of their territories.
const MEMBERS: Fact = Fact {
    table: "campaign_members",
    agent: None,
    customer: Some("customer_id"),
};

/// The campaign of a member row.
const K: &str = "k";

/// The most campaigns one report shows, newest first.
const MAX_CAMPAIGNS: u64 = 200;

pub const DEFINITIONS: &[(&str, &str)] = &[
    ("campaign", "a campaign whose period (`starts_at` to `ends_at`) overlaps the report's, and that is not deleted; its figures are over its whole period, not cut to the report's"),
    ("members", "customers in the caller's scope the campaign targets (its live members): the campaign's reach, whether or not it was allowed to contact them"),
    ("contactable", "members who may be contacted on the campaign's channel (a call or an e-mail needs a contact who consented to it; a visit needs none)"),
    ("reached", "members with a response recorded (visited, interested, ordered or refused)"),
    ("responded", "members who responded interested or ordered"),
    ("converted", "members with at least one confirmed order (approved or delivered) that names the campaign, ordered within its period"),
    ("reach_rate", "reached ÷ contactable"),
    ("response_rate", "responded ÷ reached"),
    ("conversion_rate", "converted ÷ contactable"),
    ("revenue", "Σ net line amount (after discounts, before tax) of the confirmed orders naming the campaign, ordered within its period, of members in scope: the revenue attributed to it, in minor units"),
    ("margin", "revenue − Σ quantity × the product's unit cost (its highest live `product_cost`; none counts as nothing)"),
    ("budget", "the campaign's budget; for a caller who sees only some of its members (a manager of some territories), in proportion to the members they see; hidden from agents"),
    ("cost_per_conversion", "budget ÷ converted"),
    ("return_on_budget", "(margin − budget) ÷ budget"),
    ("member_revenue", "revenue per member from every confirmed order (whether or not it names the campaign) within the campaign's period"),
    ("comparison_customers", "the comparable group: live customers in scope, not members, in the territories of the campaign's members and of the tiers their members have (ungraded counting as one tier)"),
    ("comparison_revenue", "revenue per customer of the comparable group, within the campaign's period"),
    ("lift", "difference in differences, per customer: (member revenue in the period − member revenue in the equally long period before it) − (the same for the comparable group)"),
    ("incremental_revenue", "lift × members"),
];

const COLUMNS: [&str; 23] = [
    "campaign",
    "campaign_id",
    "status",
    "starts_at",
    "ends_at",
    "members",
    "contactable",
    "reached",
    "responded",
    "converted",
    "reach_rate",
    "response_rate",
    "conversion_rate",
    "revenue",
    "margin",
    "budget",
    "cost_per_conversion",
    "return_on_budget",
    "member_revenue",
    "comparison_customers",
    "comparison_revenue",
    "lift",
    "incremental_revenue",
];

/// SQL: `what` summed over the confirmed lines ordered in `[from, to)` by the customer `customer`
/// (an SQL expression), of orders that also meet `and`; 0 over none.
fn lines_of(what: &str, customer: &str, from: &str, to: &str, and: &str) -> String {
    let statuses: Vec<String> = CONFIRMED.iter().map(|s| format!("'{s}'")).collect();
    format!(
        "(SELECT COALESCE(SUM({what}), 0) FROM \"orders\" \"o\" \
         JOIN \"order_lines\" \"l\" ON \"l\".\"order_id\" = \"o\".\"id\" \
         WHERE \"o\".\"customer_id\" = {customer} AND \"o\".\"status\" IN ({}) \
         AND (\"o\".\"deleted\" IS NULL OR \"o\".\"deleted\" = FALSE) \
         AND \"o\".\"ordered_at\" >= {from} AND \"o\".\"ordered_at\" < {to} AND {and})",
        statuses.join(", ")
    )
}

/// A line's cost: its quantity (thousandths) times its product's highest live unit cost.
const LINE_COST: &str = "\"l\".\"quantity\" * COALESCE((SELECT MAX(\"pc\".\"unit_cost\") FROM \"product_costs\" \"pc\" \
    WHERE \"pc\".\"product_id\" = \"l\".\"product_id\" AND (\"pc\".\"deleted\" IS NULL OR \"pc\".\"deleted\" = FALSE)), 0) / 1000";

/// The live members in scope (`f`) of the live campaigns (`k`) whose period overlaps the
/// report's.
fn members_in_period(ctx: &Ctx<'_>) -> SelectStatement {
    let mut q = ctx.facts(MEMBERS);
    q.join_as(
        JoinType::InnerJoin,
        Alias::new("campaigns"),
        Alias::new(K),
        col(K, "id").equals((Alias::new(F), Alias::new("campaign_id"))),
    )
    .and_where(live(K))
    .and_where(col(K, "starts_at").lt(ctx.filters.to))
    .and_where(col(K, "ends_at").gt(ctx.filters.from));
    q
}

/// The members' figures of every campaign in the period, one row each.
async fn members(ctx: &Ctx<'_>) -> Result<Table, Error> {
    let member = "\"f\".\"customer_id\"";
    let (start, end) = ("\"k\".\"starts_at\"", "\"k\".\"ends_at\"");
    let named = "\"o\".\"campaign_id\" = \"f\".\"campaign_id\"";
    let attributed = |what: &str| Expr::cust(lines_of(what, member, start, end, named));
    let response = |r: &[&str]| f("response").is_in(r.iter().copied());
    let mut q = members_in_period(ctx);
    q.expr_as(col(K, "id"), Alias::new("id"))
        .expr_as(Expr::max(col(K, "name")), Alias::new("name"))
        .expr_as(Expr::max(col(K, "status")), Alias::new("status"))
        .expr_as(Expr::max(col(K, "starts_at")), Alias::new("starts_at"))
        .expr_as(Expr::max(col(K, "ends_at")), Alias::new("ends_at"))
        .expr_as(Expr::max(col(K, "budget")), Alias::new("budget"))
        .expr_as(sum(flag(Expr::val(true).into())), Alias::new("members"))
        .expr_as(
            sum(flag(f("contactable").eq(true))),
            Alias::new("contactable"),
        )
        .expr_as(
            sum(flag(f("response").is_not_null())),
            Alias::new("reached"),
        )
        .expr_as(
            sum(flag(response(&["interested", "ordered"]))),
            Alias::new("responded"),
        )
        .expr_as(
            sum(flag(Expr::expr(attributed("1")).gt(0))),
            Alias::new("converted"),
        )
        .expr_as(sum(attributed("\"l\".\"net\"")), Alias::new("revenue"))
        .expr_as(sum(attributed(LINE_COST)), Alias::new("cost"))
        .add_group_by([col(K, "id").into()])
        .order_by_expr(Expr::max(col(K, "starts_at")), Order::Desc)
        .order_by(Alias::new("id"), Order::Asc)
        .limit(MAX_CAMPAIGNS);
    let columns = [
        ("id", Ty::Uuid),
        ("name", Ty::Text),
        ("status", Ty::Text),
        ("starts_at", Ty::Int),
        ("ends_at", Ty::Int),
        ("budget", Ty::Int),
        ("members", Ty::Int),
        ("contactable", Ty::Int),
        ("reached", Ty::Int),
        ("responded", Ty::Int),
        ("converted", Ty::Int),
        ("revenue", Ty::Int),
        ("cost", Ty::Int),
    ];
    ctx.table(&q, &columns).await
}

/// Every live member of campaign `id`, whoever may see them: what a budget is shared over.
async fn all_members(ctx: &Ctx<'_>, id: Uuid) -> Result<i64, Error> {
    let q = Query::select()
        .expr_as(sum(flag(Expr::val(true).into())), Alias::new("n"))
        .from_as(Alias::new(MEMBERS.table), Alias::new(F))
        .and_where(f("campaign_id").eq(id))
        .and_where(live(F))
        .to_owned();
    let t = ctx.table(&q, &[("n", Ty::Int)]).await?;
    Ok(t.rows.first().map_or(0, |r| r[0].int()))
}

/// Members and the comparable group of campaign `id` (running `[start, end)`): for each (members
/// first, then the group, where it has any), how many, and their revenue in the period and in as
/// long a period before it.
async fn comparison(
    ctx: &Ctx<'_>,
    id: Uuid,
    (start, end): (i64, i64),
) -> Result<[(i64, i64, i64); 2], Error> {
    let customer = "\"f\".\"id\"";
    let before = start - (end - start);
    let revenue = |from: i64, to: i64| {
        Expr::cust(lines_of(
            "\"l\".\"net\"",
            customer,
            &from.to_string(),
            &to.to_string(),
            "TRUE",
        ))
    };
    // The campaign's live members: their territories and tiers place the comparable group.
    let of_campaign = |what: SimpleExpr| {
        Query::select()
            .expr(what)
            .from_as(Alias::new(MEMBERS.table), Alias::new("m2"))
            .join_as(
                JoinType::InnerJoin,
                Alias::new("documents"),
                Alias::new("d2"),
                col("d2", "id").equals((Alias::new("m2"), Alias::new("id"))),
            )
            .join_as(
                JoinType::InnerJoin,
                Alias::new("customers"),
                Alias::new("c2"),
                col("c2", "id").equals((Alias::new("m2"), Alias::new("customer_id"))),
            )
            .and_where(col("m2", "campaign_id").eq(id))
            .and_where(live("m2"))
            .to_owned()
    };
    let tier = |t: &str| Expr::cust(format!("COALESCE(\"{t}\".\"tier\", '')"));
    let mut q = ctx.facts(Fact {
        table: "customers",
        agent: None,
        customer: Some("id"),
    });
    // As a 64-bit integer (PostgreSQL types a bare 1 as a 32-bit one), grouped by its name: the
    // same expression bound twice would be two different ones to PostgreSQL.
    let is_member = Expr::cust("CAST(CASE WHEN \"m\".\"id\" IS NULL THEN 0 ELSE 1 END AS BIGINT)");
    ctx.with_documents(&mut q);
    q.join_as(
        JoinType::LeftJoin,
        Alias::new(MEMBERS.table),
        Alias::new("m"),
        col("m", "customer_id")
            .equals((Alias::new(F), Alias::new("id")))
            .and(col("m", "campaign_id").eq(id))
            .and(live("m")),
    )
    .and_where(col(D, "territory_id").in_subquery(of_campaign(col("d2", "territory_id").into())))
    .and_where(Expr::expr(tier(F)).in_subquery(of_campaign(tier("c2"))))
    .expr_as(is_member, Alias::new("member"))
    .expr_as(sum(flag(Expr::val(true).into())), Alias::new("customers"))
    .expr_as(sum(revenue(start, end)), Alias::new("during"))
    .expr_as(sum(revenue(before, start)), Alias::new("before"))
    .add_group_by([Expr::col(Alias::new("member")).into()]);
    let t = ctx
        .table(
            &q,
            &[
                ("member", Ty::Int),
                ("customers", Ty::Int),
                ("during", Ty::Int),
                ("before", Ty::Int),
            ],
        )
        .await?;
    let mut out = [(0, 0, 0); 2];
    for r in &t.rows {
        let i = if r[0].int() == 1 { 0 } else { 1 };
        out[i] = (r[1].int(), r[2].int(), r[3].int());
    }
    Ok(out)
}

/// `a / n` as a float, nothing when `n` is zero.
fn per(a: i64, n: i64) -> Option<f64> {
    (n != 0).then(|| a as f64 / n as f64)
}

pub async fn report(ctx: &Ctx<'_>) -> Result<Report, Error> {
    let figures = members(ctx).await?;
    let mut by_campaign = Table::new(&COLUMNS);
    for r in &figures.rows {
        let n = |i: usize| r[i].int();
        let id = Uuid::parse_str(&r[0].text())
            .map_err(|e| Error::Internal(format!("a campaign's id: {e}")))?;
        let (members, contactable, reached, responded, converted) = (n(6), n(7), n(8), n(9), n(10));
        let (revenue, margin) = (n(11), n(11) - n(12));
        // An agent is not shown what a campaign costs; a manager the share of their members.
        let budget = match (ctx.scope.agent, &r[5]) {
            (Some(_), _) | (None, Cell::Null) => None,
            (None, _) => {
                let all = all_members(ctx, id).await?;
                Some(match all {
                    0 => 0,
                    all => (i128::from(n(5)) * i128::from(members) / i128::from(all)) as i64,
                })
            }
        };
        let [(m_n, m_during, m_before), (c_n, c_during, c_before)] =
            comparison(ctx, id, (n(3), n(4))).await?;
        let lift = match (per(m_during - m_before, m_n), per(c_during - c_before, c_n)) {
            (Some(m), Some(c)) => Some(m - c),
            _ => None,
        };
        by_campaign.rows.push(vec![
            r[1].clone(),
            r[0].clone(),
            r[2].clone(),
            r[3].clone(),
            r[4].clone(),
            members.into(),
            contactable.into(),
            reached.into(),
            responded.into(),
            converted.into(),
            ratio(reached, contactable),
            ratio(responded, reached),
            ratio(converted, contactable),
            revenue.into(),
            margin.into(),
            budget.map_or(Cell::Null, Cell::Int),
            budget.map_or(Cell::Null, |b| ratio(b, converted)),
            budget.map_or(Cell::Null, |b| ratio(margin - b, b)),
            per(m_during, m_n).into(),
            c_n.into(),
            per(c_during, c_n).into(),
            lift.into(),
            lift.map(|l| l * members as f64).into(),
        ]);
    }
    let responses = responses(ctx).await?;
    Ok(Report {
        name: "campaign",
        filters: ctx.filters.clone(),
        definitions: DEFINITIONS,
        sections: vec![("by_campaign", by_campaign), ("responses", responses)],
    })
}

/// Members of each campaign in the period by their response (`none` where none is recorded).
async fn responses(ctx: &Ctx<'_>) -> Result<Table, Error> {
    let response = Expr::cust("COALESCE(\"f\".\"response\", 'none')");
    let mut q = members_in_period(ctx);
    q.expr_as(Expr::max(col(K, "name")), Alias::new("campaign"))
        .expr_as(col(K, "id"), Alias::new("campaign_id"))
        .expr_as(response.clone(), Alias::new("response"))
        .expr_as(sum(flag(Expr::val(true).into())), Alias::new("members"))
        .add_group_by([col(K, "id").into(), response.clone()])
        .order_by(Alias::new("campaign_id"), Order::Asc)
        .order_by_expr(response, Order::Asc);
    ctx.table(
        &q,
        &[
            ("campaign", Ty::Text),
            ("campaign_id", Ty::Uuid),
            ("response", Ty::Text),
            ("members", Ty::Int),
        ],
    )
    .await
}
