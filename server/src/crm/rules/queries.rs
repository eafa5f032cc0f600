//! What the rules read of the projection tables.

use std::collections::HashMap;

use sea_orm::sea_query::{Alias, Expr, Func, Query, SelectStatement, SimpleExpr};
use sea_orm::ConnectionTrait;
use sync_core::geo::Position;
use sync_core::kinds::{ALERT, CONFLICT, ORDER, PAYMENT, VISIT};
use uuid::Uuid;

use crate::db::BuildWith;
use crate::error::Error;

/// Order statuses whose totals the customer owes until paid.
const OWED: [&str; 3] = ["submitted", "approved", "delivered"];

pub(super) fn select_one(table: &str, column: &str, cond: SimpleExpr) -> SelectStatement {
    Query::select()
        .column(Alias::new(column))
        .from(Alias::new(table))
        .and_where(cond)
        .limit(1)
        .to_owned()
}

/// `deleted` is null or false.
pub(super) fn live(table: &str) -> SimpleExpr {
    let col = || Expr::col((Alias::new(table), Alias::new("deleted")));
    col().is_null().or(col().eq(false))
}

pub(super) async fn int_of(
    conn: &impl ConnectionTrait,
    table: &str,
    id: Uuid,
    column: &str,
) -> Result<Option<i64>, Error> {
    let stmt = select_one(table, column, Expr::col(Alias::new("id")).eq(id));
    Ok(match conn.query_one(stmt.build_with(conn)).await? {
        Some(row) => row.try_get("", column)?,
        None => None,
    })
}

/// Float columns of one row, by name (absent when there is no such row).
pub(super) async fn row_of(
    conn: &impl ConnectionTrait,
    table: &str,
    id: Uuid,
    columns: &[&str],
) -> Result<HashMap<String, Option<f64>>, Error> {
    let stmt = Query::select()
        .columns(columns.iter().map(|c| Alias::new(*c)))
        .from(Alias::new(table))
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned();
    let mut out = HashMap::new();
    if let Some(row) = conn.query_one(stmt.build_with(conn)).await? {
        for c in columns {
            out.insert(c.to_string(), row.try_get("", c)?);
        }
    }
    Ok(out)
}

/// A sum of a money column, 0 when nothing matches.
async fn sum(conn: &impl ConnectionTrait, stmt: SelectStatement) -> Result<i64, Error> {
    Ok(match conn.query_one(stmt.build_with(conn)).await? {
        // SQLite sums integers as integers; PostgreSQL sums BIGINT as NUMERIC, cast back.
        Some(row) => row.try_get::<Option<i64>>("", "s")?.unwrap_or(0),
        None => 0,
    })
}

fn sum_of(table: &str, column: &str) -> SelectStatement {
    Query::select()
        .expr_as(
            Func::cast_as(
                Func::coalesce([
                    Func::sum(Expr::col((Alias::new(table), Alias::new(column)))).into(),
                    Expr::val(0).into(),
                ]),
                Alias::new("BIGINT"),
            ),
            Alias::new("s"),
        )
        .from(Alias::new(table))
        .to_owned()
}

/// What the customer owes on its orders (submitted, approved, delivered), but `except`.
pub(super) async fn owed_by(
    conn: &impl ConnectionTrait,
    customer: Uuid,
    except: Option<Uuid>,
) -> Result<i64, Error> {
    let mut stmt = sum_of(ORDER.table, "total");
    stmt.and_where(Expr::col(Alias::new("customer_id")).eq(customer))
        .and_where(Expr::col(Alias::new("status")).is_in(OWED))
        .and_where(live(ORDER.table));
    if let Some(except) = except {
        stmt.and_where(Expr::col(Alias::new("id")).ne(except));
    }
    sum(conn, stmt).await
}

/// What the customer has paid; with `before`, in the payments taken before that one.
pub(super) async fn paid_by(
    conn: &impl ConnectionTrait,
    customer: Uuid,
    before: Option<Uuid>,
) -> Result<i64, Error> {
    let mut stmt = sum_of(PAYMENT.table, "amount");
    stmt.and_where(Expr::col(Alias::new("customer_id")).eq(customer))
        .and_where(live(PAYMENT.table));
    if let Some(before) = before {
        stmt.and_where(Expr::col(Alias::new("id")).lt(before));
    }
    sum(conn, stmt).await
}

/// What the payments taken before `payment` (ids are time-ordered) allocate to `order`: a payment
/// is judged against what was open when it was taken, whichever arrived first.
pub(super) async fn allocated_to(
    conn: &impl ConnectionTrait,
    order: Uuid,
    payment: Uuid,
) -> Result<i64, Error> {
    let a = "payment_allocations";
    let mut stmt = sum_of(a, "amount");
    stmt.inner_join(
        Alias::new(PAYMENT.table),
        Expr::col((Alias::new(PAYMENT.table), Alias::new("id")))
            .equals((Alias::new(a), Alias::new("payment_id"))),
    )
    .and_where(Expr::col((Alias::new(a), Alias::new("order_id"))).eq(order))
    .and_where(Expr::col((Alias::new(a), Alias::new("payment_id"))).lt(payment))
    .and_where(live(PAYMENT.table));
    sum(conn, stmt).await
}

/// A visit type's geofence mode and radius, by name.
pub(super) async fn visit_type(
    conn: &impl ConnectionTrait,
    name: &str,
) -> Result<(Option<String>, Option<f64>), Error> {
    let t = sync_core::kinds::VISIT_TYPE.table;
    let stmt = Query::select()
        .columns([Alias::new("geofence"), Alias::new("radius_m")])
        .from(Alias::new(t))
        .and_where(Expr::col(Alias::new("name")).eq(name))
        .and_where(live(t))
        .order_by(Alias::new("id"), sea_orm::Order::Asc)
        .limit(1)
        .to_owned();
    Ok(match conn.query_one(stmt.build_with(conn)).await? {
        Some(row) => (row.try_get("", "geofence")?, row.try_get("", "radius_m")?),
        None => (None, None),
    })
}

/// The agent's latest check-in before `at`, other than visit `except`: where and when.
pub(super) async fn previous_check_in(
    conn: &impl ConnectionTrait,
    agent: Uuid,
    except: Uuid,
    at: i64,
) -> Result<Option<(Position, i64)>, Error> {
    let stmt = Query::select()
        .columns(["check_in_lat", "check_in_lon", "check_in_at"].map(Alias::new))
        .from(Alias::new(VISIT.table))
        .and_where(Expr::col(Alias::new("agent_id")).eq(agent))
        .and_where(Expr::col(Alias::new("id")).ne(except))
        .and_where(Expr::col(Alias::new("check_in_at")).lte(at))
        .and_where(Expr::col(Alias::new("check_in_lat")).is_not_null())
        .and_where(Expr::col(Alias::new("check_in_lon")).is_not_null())
        .and_where(live(VISIT.table))
        .order_by(Alias::new("check_in_at"), sea_orm::Order::Desc)
        .limit(1)
        .to_owned();
    let Some(row) = conn.query_one(stmt.build_with(conn)).await? else {
        return Ok(None);
    };
    Ok(Some((
        Position {
            lat: row.try_get("", "check_in_lat")?,
            lon: row.try_get("", "check_in_lon")?,
        },
        row.try_get("", "check_in_at")?,
    )))
}

/// Whether the record has an open conflict record for `field`.
pub(super) async fn open_conflict(
    conn: &impl ConnectionTrait,
    record: Uuid,
    field: &str,
) -> Result<bool, Error> {
    let stmt = select_one(
        CONFLICT.table,
        "id",
        Expr::col(Alias::new("record_id"))
            .eq(record)
            .and(Expr::col(Alias::new("field")).eq(field))
            .and(Expr::col(Alias::new("status")).eq("open")),
    );
    Ok(conn.query_one(stmt.build_with(conn)).await?.is_some())
}

/// Whether an alert with this code was raised about the record before (open or resolved).
pub(super) async fn alert_exists(
    conn: &impl ConnectionTrait,
    record: &str,
    code: &str,
) -> Result<bool, Error> {
    let Ok(record) = Uuid::parse_str(record) else {
        return Ok(false);
    };
    let stmt = select_one(
        ALERT.table,
        "id",
        Expr::col(Alias::new("record_id"))
            .eq(record)
            .and(Expr::col(Alias::new("code")).eq(code)),
    );
    Ok(conn.query_one(stmt.build_with(conn)).await?.is_some())
}
