//! The SQL the reports share: a fact table restricted to the caller's scope, the period and the
//! filters; period buckets and aggregates that mean the same on SQLite and PostgreSQL; reading rows
//! into a [`Table`].

use sea_orm::sea_query::{
    Alias, Cond, Expr, Func, IntoColumnRef, JoinType, Query, SelectStatement, SimpleExpr,
};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection};
use uuid::Uuid;

use super::filters::Granularity;
use super::{Cell, Filters, Scope, Table};
use crate::db::BuildWith;
use crate::error::Error;

/// A table of facts (orders, visits, ...) and the columns a report restricts it by.
#[derive(Clone, Copy)]
pub struct Fact {
    pub table: &'static str,
    /// The agent a fact is of: what an agent's scope and the `agent` filter match.
    pub agent: Option<&'static str>,
    /// The customer a fact concerns (`id` for customers themselves): what `segment` and `tier`
    /// match. None for facts about no customer (targets), which those filters leave alone.
    pub customer: Option<&'static str>,
}

/// The alias of the fact table in every report query.
pub const F: &str = "f";
/// The fact's `documents` row (its territory) and its customer.
pub const D: &str = "d";
pub const C: &str = "c";

pub fn col(table: &str, name: &str) -> Expr {
    Expr::col((Alias::new(table), Alias::new(name)))
}

pub fn f(name: &str) -> Expr {
    col(F, name)
}

/// What a report query needs: the connection, whose figures, the filters, and the territory the
/// `territory` filter names (resolved once; the nil id when no territory has that name).
pub struct Ctx<'a> {
    pub conn: &'a DatabaseConnection,
    pub scope: &'a Scope,
    pub filters: &'a Filters,
    pub territory: Option<Uuid>,
}

impl Ctx<'_> {
    pub fn backend(&self) -> DatabaseBackend {
        self.conn.get_database_backend()
    }

    /// `SELECT … FROM fact f JOIN documents d JOIN customers c` restricted to what the caller may
    /// see, the filters, and live (not deleted) facts. Columns are the caller's to add.
    ///
    /// The fact's `documents` row is joined only where a territory restricts the query: for an
    /// admin's figures it would cost a lookup per fact for nothing (a third of a scan of the
    /// visits). A query that reads `d` otherwise joins it with [`Ctx::with_documents`].
    pub fn facts(&self, fact: Fact) -> SelectStatement {
        let mut q = Query::select();
        q.from_as(Alias::new(fact.table), Alias::new(F))
            .and_where(live(F));
        if self.territory_bound() {
            join_documents(&mut q);
        }
        let customer = match fact.customer {
            Some("id") if fact.table == "customers" => Some(F),
            Some(column) => {
                q.join_as(
                    JoinType::LeftJoin,
                    Alias::new("customers"),
                    Alias::new(C),
                    col(C, "id").equals((Alias::new(F), Alias::new(column))),
                );
                Some(C)
            }
            None => None,
        };
        if !self.scope.all {
            q.and_where(col(D, "territory_id").is_in(self.scope.territories.clone()));
        }
        // Figures about customers (no agent column): an agent reads their territories' (above).
        if let (Some(me), Some(agent)) = (self.scope.agent, fact.agent) {
            q.and_where(f(agent).eq(me));
        }
        if let Some(t) = self.territory {
            q.and_where(col(D, "territory_id").eq(t));
        }
        if let Some(agent) = self.filters.agent {
            match (fact.agent, customer) {
                (Some(a), _) => q.and_where(f(a).eq(agent)),
                (None, Some(c)) => q.and_where(col(c, "owner_id").eq(agent)),
                (None, None) => &mut q,
            };
        }
        if let Some(c) = customer {
            if let Some(segment) = &self.filters.segment {
                q.and_where(col(c, "industry").eq(segment.as_str()));
            }
            if let Some(tier) = &self.filters.tier {
                q.and_where(col(c, "tier").eq(tier.as_str()));
            }
        }
        q
    }

    /// Whether the caller's scope or the `territory` filter restricts facts by their territory,
    /// which `facts` then reads from their `documents` row.
    fn territory_bound(&self) -> bool {
        !self.scope.all || self.territory.is_some()
    }

    /// Joins a query from [`Ctx::facts`] to its facts' `documents` rows as `d`, unless it is already.
    pub fn with_documents(&self, q: &mut SelectStatement) {
        if !self.territory_bound() {
            join_documents(q);
        }
    }

    /// `column` within `[from, to)`.
    pub fn within(&self, column: Expr, from: i64, to: i64) -> Cond {
        Cond::all().add(column.clone().gte(from)).add(column.lt(to))
    }

    /// The period bucket of a millisecond column as text: `YYYY-MM-DD` for days, the Monday of
    /// the week for weeks, `YYYY-MM` for months (UTC).
    pub fn bucket(&self, table: &str, column: &str, g: Granularity) -> SimpleExpr {
        self.bucket_of(&format!("\"{table}\".\"{column}\""), g)
    }

    /// The period bucket, as [`Ctx::bucket`], of a millisecond SQL expression `c`.
    pub fn bucket_of(&self, c: &str, g: Granularity) -> SimpleExpr {
        Expr::cust(match (self.backend(), g) {
            (DatabaseBackend::Postgres, Granularity::Day) => {
                format!("to_char(to_timestamp({c} / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')")
            }
            (DatabaseBackend::Postgres, Granularity::Week) => format!(
                "to_char(date_trunc('week', to_timestamp({c} / 1000) AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"
            ),
            (DatabaseBackend::Postgres, Granularity::Month) => {
                format!("to_char(to_timestamp({c} / 1000) AT TIME ZONE 'UTC', 'YYYY-MM')")
            }
            (_, Granularity::Day) => format!("strftime('%Y-%m-%d', {c} / 1000, 'unixepoch')"),
            // SQLite: forward to the week's Sunday (or stay on it), then back to its Monday.
            (_, Granularity::Week) => {
                format!("date({c} / 1000, 'unixepoch', 'weekday 0', '-6 days')")
            }
            (_, Granularity::Month) => format!("strftime('%Y-%m', {c} / 1000, 'unixepoch')"),
        })
    }

    /// Reads every row of `q` into a table with these columns and types.
    pub async fn table(
        &self,
        q: &SelectStatement,
        columns: &[(&'static str, Ty)],
    ) -> Result<Table, Error> {
        let mut table = Table::new(&columns.iter().map(|(n, _)| *n).collect::<Vec<_>>());
        for row in self.conn.query_all(q.build_with(self.conn)).await? {
            let mut cells = Vec::with_capacity(columns.len());
            for (name, ty) in columns {
                cells.push(match ty {
                    Ty::Int => row
                        .try_get::<Option<i64>>("", name)?
                        .map_or(Cell::Null, Cell::Int),
                    Ty::Float => row.try_get::<Option<f64>>("", name)?.into(),
                    Ty::Text => row
                        .try_get::<Option<String>>("", name)?
                        .map_or(Cell::Null, Cell::Text),
                    Ty::Uuid => row
                        .try_get::<Option<Uuid>>("", name)?
                        .map_or(Cell::Null, |id| Cell::Text(id.to_string())),
                });
            }
            table.rows.push(cells);
        }
        Ok(table)
    }
}

fn join_documents(q: &mut SelectStatement) {
    q.join_as(
        JoinType::InnerJoin,
        Alias::new("documents"),
        Alias::new(D),
        col(D, "id").equals((Alias::new(F), Alias::new("id"))),
    );
}

/// How a column is read.
#[derive(Clone, Copy)]
pub enum Ty {
    Int,
    Float,
    Text,
    Uuid,
}

/// `deleted` is null or false.
pub fn live(table: &str) -> SimpleExpr {
    col(table, "deleted")
        .is_null()
        .or(col(table, "deleted").eq(false))
}

/// The sum of an integer expression as a 64-bit integer, 0 over no rows. (PostgreSQL sums BIGINT
/// as NUMERIC.)
pub fn sum(e: impl Into<SimpleExpr>) -> SimpleExpr {
    Func::cast_as(
        Func::coalesce([Func::sum(e.into()).into(), Expr::val(0i64).into()]),
        Alias::new("BIGINT"),
    )
    .into()
}

/// The number of rows, as a 64-bit integer.
pub fn count() -> SimpleExpr {
    Func::cast_as(Func::count(Expr::cust("*")), Alias::new("BIGINT")).into()
}

/// The number of distinct non-null values, as a 64-bit integer.
pub fn count_distinct(e: impl IntoColumnRef) -> SimpleExpr {
    Func::cast_as(Func::count_distinct(Expr::col(e)), Alias::new("BIGINT")).into()
}

/// A 0/1 of a condition, to sum.
pub fn flag(cond: SimpleExpr) -> SimpleExpr {
    Expr::case(cond, 1i64).finally(0i64).into()
}

/// `(table.column)` as a column reference.
pub fn cref(table: &str, name: &str) -> (Alias, Alias) {
    (Alias::new(table), Alias::new(name))
}
