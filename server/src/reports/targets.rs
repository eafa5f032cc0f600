//! Sales targets overlapping a report's period, each counted in proportion to the share of its own
//! period inside the report's.

use sea_orm::sea_query::Alias;
use uuid::Uuid;

use super::sql::{f, Ctx, Fact, Ty};
use super::{Cell, Filters};
use crate::error::Error;

const TARGETS: Fact = Fact {
    table: "sales_targets",
    agent: Some("agent_id"),
    customer: None,
};

struct Target {
    territory: String,
    agent: Option<Uuid>,
    start: i64,
    end: i64,
    value: i64,
}

impl Target {
    /// The part of the target that falls in `[from, to)`.
    fn within(&self, from: i64, to: i64) -> i64 {
        let length = self.end - self.start;
        let overlap = self.end.min(to) - self.start.max(from);
        if length <= 0 || overlap <= 0 {
            return 0;
        }
        (i128::from(self.value) * i128::from(overlap) / i128::from(length)) as i64
    }
}

pub struct Targets(Vec<Target>);

/// The targets of `metric` in scope that overlap the period.
pub async fn load(ctx: &Ctx<'_>, metric: &str) -> Result<Targets, Error> {
    let mut q = ctx.facts(TARGETS);
    q.expr_as(f("territory"), Alias::new("territory"))
        .expr_as(f("agent_id"), Alias::new("agent_id"))
        .expr_as(f("period_start"), Alias::new("period_start"))
        .expr_as(f("period_end"), Alias::new("period_end"))
        .expr_as(f("value"), Alias::new("value"))
        .and_where(f("metric").eq(metric))
        .and_where(f("period_start").lt(ctx.filters.to))
        .and_where(f("period_end").gt(ctx.filters.from))
        .and_where(f("value").is_not_null());
    let t = ctx
        .table(
            &q,
            &[
                ("territory", Ty::Text),
                ("agent_id", Ty::Uuid),
                ("period_start", Ty::Int),
                ("period_end", Ty::Int),
                ("value", Ty::Int),
            ],
        )
        .await?;
    Ok(Targets(
        t.rows
            .into_iter()
            .map(|r| Target {
                territory: match &r[0] {
                    Cell::Text(s) => s.clone(),
                    _ => String::new(),
                },
                agent: match &r[1] {
                    Cell::Text(s) => s.parse().ok(),
                    _ => None,
                },
                start: r[2].int(),
                end: r[3].int(),
                value: r[4].int(),
            })
            .collect(),
    ))
}

impl Targets {
    fn total(&self, filters: &Filters, keep: impl Fn(&Target) -> bool) -> Option<i64> {
        let mut found = false;
        let mut sum = 0i64;
        for t in self.0.iter().filter(|t| keep(t)) {
            found = true;
            sum = sum.saturating_add(t.within(filters.from, filters.to));
        }
        found.then_some(sum)
    }

    pub fn of_agent(&self, filters: &Filters, agent: Uuid) -> Option<i64> {
        self.total(filters, |t| t.agent == Some(agent))
    }

    pub fn of_territory(&self, filters: &Filters, territory: &str) -> Option<i64> {
        self.total(filters, |t| t.agent.is_none() && t.territory == territory)
    }

    /// The period's target: one agent's (the `agent` filter, or the agent asking), else every
    /// territory's in scope.
    pub fn overall(&self, filters: &Filters, me: Option<Uuid>) -> Option<i64> {
        match filters.agent.or(me) {
            Some(agent) => self.of_agent(filters, agent),
            None => self.total(filters, |t| t.agent.is_none()),
        }
    }
}
