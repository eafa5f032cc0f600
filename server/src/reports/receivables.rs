//! Receivables: what delivered orders leave customers owing at the end of the period, by due date
//! (ageing), with DSO, the collection effectiveness index and credit utilisation.

use std::collections::{BTreeMap, HashMap};

use sea_orm::sea_query::{Alias, Expr, JoinType, Query, SelectStatement, SimpleExpr};

use super::filters::DAY_MS;
use super::sql::{col, cref, f, sum, Ctx, Fact, Ty, F};
use super::{ratio, Cell, Report, Table};
use crate::error::Error;

/// Orders as customers' debts: figures about customers, so an agent reads their territories' and
/// the `agent` filter names the customers' owner.
const DEBTS: Fact = Fact {
    table: "orders",
    agent: None,
    customer: Some("customer_id"),
};

const PAYMENTS: Fact = Fact {
    table: "payments",
    agent: None,
    customer: Some("customer_id"),
};

/// At most this many customers are listed, the largest balances first; the summary counts all.
pub const MAX_CUSTOMERS: u64 = 1_000;

pub const DEFINITIONS: &[(&str, &str)] = &[
    ("open", "Σ over delivered orders (delivered before the period's end) of total − the allocations of payments collected before the period's end, each order at least 0, in minor units"),
    ("on_account", "Σ over payments collected before the period's end of amount − their allocations to orders: money received and not yet applied"),
    ("balance", "open − on_account"),
    ("current", "open amounts not yet due at the period's end (due: `due_at`, the delivery plus the customer's payment terms; the delivery where unset)"),
    ("days_1_30", "open amounts 1 to 30 days past due at the period's end; likewise days_31_60, days_61_90, days_90_plus"),
    ("overdue", "open amounts past due"),
    ("credit_sales", "Σ total of orders delivered in the period"),
    ("collected", "Σ amount of payments collected in the period (`collected_at`)"),
    ("by_period", "per period of the granularity (UTC): credit_sales of the orders delivered in it and collected of the payments collected in it"),
    ("dso", "balance ÷ credit_sales × days in the period"),
    ("cei", "collection effectiveness index: (opening open + credit_sales − closing open) ÷ (opening open + credit_sales − closing current) × 100, opening at the period's start"),
    ("credit_utilisation", "balance ÷ the customer's credit limit"),
];

const BUCKETS: [(&str, i64, i64); 5] = [
    ("current", i64::MIN, 0),
    ("days_1_30", 1, 30),
    ("days_31_60", 31, 60),
    ("days_61_90", 61, 90),
    ("days_90_plus", 91, i64::MAX),
];

/// Per delivered order in scope: `customer_id`, `open` (as of `at`) and `due`.
fn debts(ctx: &Ctx, at: i64) -> SelectStatement {
    // `at` is a number the server computed, never text from the request.
    let open = Expr::cust(format!(
        "CAST(COALESCE(\"f\".\"total\", 0) - COALESCE((SELECT SUM(\"a\".\"amount\") \
         FROM \"payment_allocations\" \"a\" JOIN \"payments\" \"p\" ON \"p\".\"id\" = \"a\".\"payment_id\" \
         WHERE \"a\".\"order_id\" = \"f\".\"id\" AND (\"p\".\"deleted\" IS NULL OR \"p\".\"deleted\" = FALSE) \
         AND \"p\".\"collected_at\" < {at}), 0) AS BIGINT)"
    ));
    let mut q = ctx.facts(DEBTS);
    q.expr_as(f("customer_id"), Alias::new("customer_id"))
        .expr_as(open, Alias::new("open"))
        .expr_as(
            Expr::cust("COALESCE(\"f\".\"due_at\", \"f\".\"delivered_at\")"),
            Alias::new("due"),
        )
        .and_where(f("status").eq("delivered"))
        .and_where(f("delivered_at").lt(at));
    q
}

/// `open` where positive (an order paid more than its total owes nothing).
fn open() -> SimpleExpr {
    let o = || col("o", "open");
    Expr::case(o().gt(0), o()).finally(0i64).into()
}

/// The days past due of `o.due` at `at`, as SQL.
fn age(at: i64) -> String {
    format!("(({at} - \"o\".\"due\") / {DAY_MS})")
}

fn bucket(at: i64, lo: i64, hi: i64) -> SimpleExpr {
    let days = age(at);
    let cond = match (lo, hi) {
        (i64::MIN, hi) => format!("\"o\".\"due\" >= {at} OR {days} <= {hi}"),
        (lo, i64::MAX) => format!("\"o\".\"due\" < {at} AND {days} >= {lo}"),
        (lo, hi) => format!("\"o\".\"due\" < {at} AND {days} BETWEEN {lo} AND {hi}"),
    };
    sum(Expr::case(Expr::cust(cond), open()).finally(0i64))
}

/// Money not yet applied to orders, per customer or in total, as of `at`.
fn on_account(ctx: &Ctx, at: i64) -> SelectStatement {
    let unallocated = Expr::cust(
        "COALESCE(\"f\".\"amount\", 0) - COALESCE((SELECT SUM(\"a\".\"amount\") \
         FROM \"payment_allocations\" \"a\" WHERE \"a\".\"payment_id\" = \"f\".\"id\"), 0)",
    );
    let mut q = ctx.facts(PAYMENTS);
    q.expr_as(f("customer_id"), Alias::new("customer_id"))
        .expr_as(unallocated, Alias::new("unallocated"))
        .and_where(f("collected_at").lt(at));
    q
}

/// Ageing columns of the debts as of `at`, grouped by customer or in total.
fn ageing(ctx: &Ctx, at: i64, by_customer: bool) -> SelectStatement {
    // A limit that limits nothing keeps the databases from merging the debts into this query
    // (SQLite flattens a subquery into an aggregate only if it has no LIMIT; PostgreSQL pulls up
    // none that has one): merged, each of the dozen uses of `open` ran its order's allocations
    // lookup again, and the ageing took 2.3 times as long.
    let debts = debts(ctx, at).limit(i64::MAX as u64).to_owned();
    let mut q = Query::select();
    q.from_subquery(debts, Alias::new("o"))
        .expr_as(sum(open()), Alias::new("open"));
    for (name, lo, hi) in BUCKETS {
        q.expr_as(bucket(at, lo, hi), Alias::new(name));
    }
    if by_customer {
        q.expr_as(col("o", "customer_id"), Alias::new("customer_id"))
            .add_group_by([col("o", "customer_id").into()]);
    }
    q
}

const AGEING: [(&str, Ty); 6] = [
    ("open", Ty::Int),
    ("current", Ty::Int),
    ("days_1_30", Ty::Int),
    ("days_31_60", Ty::Int),
    ("days_61_90", Ty::Int),
    ("days_90_plus", Ty::Int),
];

/// What customers owe at the period's end: the ageing (with name and credit limit) of each
/// customer with an open amount, and money on account. The summary adds these up and the customers' table lists them, so each
/// is read once.
struct Owed {
    /// customer_id, name, credit_limit, then the `AGEING` columns.
    aged: Vec<Vec<Cell>>,
    on_account: HashMap<String, i64>,
}

impl Owed {
    async fn read(ctx: &Ctx<'_>) -> Result<Owed, Error> {
        let to = ctx.filters.to;
        let mut q = ageing(ctx, to, true);
        q.join_as(
            JoinType::LeftJoin,
            Alias::new("customers"),
            Alias::new("cu"),
            col("cu", "id").equals(cref("o", "customer_id")),
        )
        .expr_as(Expr::max(col("cu", "name")), Alias::new("name"))
        .expr_as(
            Expr::max(col("cu", "credit_limit")),
            Alias::new("credit_limit"),
        )
        // A customer who owes nothing adds nothing to any column (every order's open amount is
        // at least 0).
        .and_having(Expr::expr(sum(open())).gt(0));
        let mut columns = vec![
            ("customer_id", Ty::Uuid),
            ("name", Ty::Text),
            ("credit_limit", Ty::Int),
        ];
        columns.extend(AGEING);
        let aged = ctx.table(&q, &columns).await?.rows;
        let mut q = Query::select();
        q.from_subquery(on_account(ctx, to), Alias::new("o"))
            .expr_as(col("o", "customer_id"), Alias::new("customer_id"))
            .expr_as(sum(col("o", "unallocated")), Alias::new("on_account"))
            .add_group_by([col("o", "customer_id").into()]);
        let on_account = ctx
            .table(&q, &[("customer_id", Ty::Uuid), ("on_account", Ty::Int)])
            .await?
            .rows
            .into_iter()
            .map(|r| (r[0].text(), r[1].int()))
            .collect();
        Ok(Owed { aged, on_account })
    }

    /// The sum of ageing column `i` (counted after the name and the credit limit) over customers.
    fn total(&self, i: usize) -> i64 {
        self.aged.iter().map(|r| r[3 + i].int()).sum()
    }
}

/// Credit sales (orders delivered) and collections (payments) per period of the granularity: the
/// flows the balance moves by.
struct Flows(BTreeMap<String, (i64, i64)>);

impl Flows {
    async fn read(ctx: &Ctx<'_>) -> Result<Flows, Error> {
        let period = ctx.bucket(F, "delivered_at", ctx.filters.granularity);
        let mut q = ctx.facts(DEBTS);
        q.expr_as(sum(f("total")), Alias::new("credit_sales"))
            .expr_as(period.clone(), Alias::new("period"))
            .and_where(f("status").eq("delivered"))
            .cond_where(ctx.within(f("delivered_at"), ctx.filters.from, ctx.filters.to))
            .add_group_by([period]);
        let sales = ctx
            .table(&q, &[("period", Ty::Text), ("credit_sales", Ty::Int)])
            .await?;
        let paid = ctx
            .table(
                &collected(ctx),
                &[("period", Ty::Text), ("collected", Ty::Int)],
            )
            .await?;
        let mut periods: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for r in &sales.rows {
            periods.entry(r[0].text()).or_default().0 = r[1].int();
        }
        for r in &paid.rows {
            periods.entry(r[0].text()).or_default().1 = r[1].int();
        }
        Ok(Flows(periods))
    }
}

fn summary(ctx: &Ctx<'_>, owed: &Owed, flows: &Flows, opening: &Table) -> Table {
    let open = owed.total(0);
    let on_account: i64 = owed.on_account.values().sum();
    let balance = open - on_account;
    let current = owed.total(1);
    let credit_sales: i64 = flows.0.values().map(|(sold, _)| sold).sum();
    let collected: i64 = flows.0.values().map(|(_, paid)| paid).sum();
    let opening_open = opening.get(0, "open").int();
    let collectable = opening_open + credit_sales;
    let cei = ratio(collectable - open, collectable - current);
    let mut t = Table::new(&[
        "open",
        "on_account",
        "balance",
        "current",
        "days_1_30",
        "days_31_60",
        "days_61_90",
        "days_90_plus",
        "overdue",
        "credit_sales",
        "collected",
        "dso",
        "cei",
    ]);
    let mut row: Vec<Cell> = vec![open.into(), on_account.into(), balance.into()];
    for i in 1..AGEING.len() {
        row.push(owed.total(i).into());
    }
    row.push((open - current).into());
    row.push(credit_sales.into());
    row.push(collected.into());
    row.push(match ratio(balance, credit_sales) {
        Cell::Float(r) => Cell::Float(r * ctx.filters.days() as f64),
        other => other,
    });
    row.push(match cei {
        Cell::Float(r) => Cell::Float(r * 100.0),
        other => other,
    });
    t.rows.push(row);
    t
}

/// Payments collected during the period, per period of the granularity.
fn collected(ctx: &Ctx) -> SelectStatement {
    let period = ctx.bucket(F, "collected_at", ctx.filters.granularity);
    let mut q = ctx.facts(PAYMENTS);
    q.expr_as(sum(f("amount")), Alias::new("collected"))
        .cond_where(ctx.within(f("collected_at"), ctx.filters.from, ctx.filters.to))
        .expr_as(period.clone(), Alias::new("period"))
        .add_group_by([period]);
    q
}

fn by_period(flows: &Flows) -> Table {
    let mut t = Table::new(&["period", "credit_sales", "collected"]);
    for (period, (sold, collected)) in &flows.0 {
        t.rows.push(vec![
            Cell::Text(period.clone()),
            (*sold).into(),
            (*collected).into(),
        ]);
    }
    t
}

pub(super) async fn by_customer(ctx: &Ctx<'_>) -> Result<Table, Error> {
    Ok(customers(&Owed::read(ctx).await?))
}

/// The customers who owe (all that `Owed` holds), the largest open amounts first (at most
/// `MAX_CUSTOMERS`).
fn customers(owed: &Owed) -> Table {
    let mut aged: Vec<&Vec<Cell>> = owed.aged.iter().collect();
    aged.sort_by(|a, b| {
        b[3].int()
            .cmp(&a[3].int())
            .then_with(|| a[0].text().cmp(&b[0].text()))
    });
    aged.truncate(MAX_CUSTOMERS as usize);
    let mut t = Table::new(&[
        "customer_id",
        "name",
        "credit_limit",
        "open",
        "on_account",
        "balance",
        "current",
        "days_1_30",
        "days_31_60",
        "days_61_90",
        "days_90_plus",
        "overdue",
        "credit_utilisation",
    ]);
    for r in aged {
        let open = r[3].int();
        let on_account = owed.on_account.get(&r[0].text()).copied().unwrap_or(0);
        let balance = open - on_account;
        let limit = match r[2] {
            Cell::Int(l) => Some(l),
            _ => None,
        };
        let mut row = vec![
            r[0].clone(),
            r[1].clone(),
            r[2].clone(),
            open.into(),
            on_account.into(),
            balance.into(),
        ];
        row.extend(r[4..9].iter().cloned());
        row.push((open - r[4].int()).into());
        row.push(limit.map_or(Cell::Null, |l| ratio(balance, l)));
        t.rows.push(row);
    }
    t
}

pub async fn report(ctx: &Ctx<'_>) -> Result<Report, Error> {
    let owed = Owed::read(ctx).await?;
    let flows = Flows::read(ctx).await?;
    // What was open at the period's start, for the collection effectiveness index.
    let opening = ctx
        .table(&ageing(ctx, ctx.filters.from, false), &AGEING)
        .await?;
    Ok(Report {
        name: "receivables",
        filters: ctx.filters.clone(),
        definitions: DEFINITIONS,
        sections: vec![
            ("summary", summary(ctx, &owed, &flows, &opening)),
            ("by_period", by_period(&flows)),
            ("by_customer", customers(&owed)),
        ],
    })
}
