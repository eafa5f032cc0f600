//! The filters every report takes, parsed from the query string: a value that does not parse is
//! refused `invalid_parameter`, naming the parameter, before any query runs.

use chrono::{DateTime, NaiveDate};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::error::Error;

pub const DAY_MS: i64 = 86_400_000;

/// The query string of a report, as sent.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RawFilters {
    /// First day of the period (`YYYY-MM-DD`, or an RFC 3339 time), inclusive [default: a year
    /// before `to`].
    pub from: Option<String>,
    /// End of the period (`YYYY-MM-DD`: that day is included; an RFC 3339 time: exclusive)
    /// [default: now].
    pub to: Option<String>,
    /// `day`, `week` (starting Monday) or `month` [default: `month`].
    pub granularity: Option<String>,
    /// A territory's name.
    pub territory: Option<String>,
    /// An agent's user id.
    pub agent: Option<String>,
    /// The customers' industry.
    pub segment: Option<String>,
    /// The customers' tier: `A`, `B` or `C`.
    pub tier: Option<String>,
    /// A product's id (sales).
    pub product: Option<String>,
    /// A product category (sales).
    pub category: Option<String>,
    /// `json` or `csv` [default: from `Accept`, else JSON].
    pub format: Option<String>,
    /// The section a CSV answer holds [default: the report's first].
    pub section: Option<String>,
    /// Pipeline: days without a stage change after which an open opportunity is stale [default 30].
    pub stale_days: Option<String>,
    /// Customer value: the cumulative share that closes grade A (gold) [default 0.8].
    pub a_share: Option<String>,
    /// Customer value: the cumulative share that closes grade B (iron) [default 0.95].
    pub b_share: Option<String>,
    /// Customer value: grade by `revenue` or `margin` [default revenue].
    pub measure: Option<String>,
    /// Warnings: the drop in an agent's sales, as a share, that raises a warning [default 0.2].
    pub drop_share: Option<String>,
    /// Warnings: the P(alive) below which a repeat buyer raises a warning [default 0.5].
    pub alive_below: Option<String>,
    /// CLV: months ahead to value, 1 to 120 [default 12].
    pub horizon_months: Option<String>,
    /// CLV: the share of revenue that is margin, above 0 up to 1 [default 1].
    pub margin: Option<String>,
    /// CLV: the annual discount rate, 0 up to 1 [default 0.1].
    pub discount_rate: Option<String>,
    /// Retention: days after a customer's first purchase from which a purchase makes them a
    /// customer, and the shortest lapse that loses them [default 90].
    pub cycle_days: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Day,
    Week,
    Month,
}

impl Granularity {
    pub fn name(self) -> &'static str {
        match self {
            Granularity::Day => "day",
            Granularity::Week => "week",
            Granularity::Month => "month",
        }
    }
}

/// The parsed filters.
#[derive(Debug, Clone)]
pub struct Filters {
    /// Milliseconds since the epoch, `from` inclusive and `to` exclusive.
    pub from: i64,
    pub to: i64,
    pub granularity: Granularity,
    pub territory: Option<String>,
    pub agent: Option<Uuid>,
    pub segment: Option<String>,
    pub tier: Option<String>,
    pub product: Option<Uuid>,
    pub category: Option<String>,
    pub section: Option<String>,
    pub stale_days: i64,
    pub a_share: f64,
    pub b_share: f64,
    pub by_margin: bool,
    pub drop_share: f64,
    pub alive_below: f64,
    pub horizon_months: u32,
    pub margin: f64,
    pub discount_rate: f64,
    pub cycle_days: i64,
}

impl Filters {
    /// The period's length in whole days (at least one).
    pub fn days(&self) -> i64 {
        ((self.to - self.from) / DAY_MS).max(1)
    }
}

fn invalid(name: &str, message: impl std::fmt::Display) -> Error {
    Error::bad_request("invalid_parameter", format!("`{name}`: {message}"))
}

/// A day (`YYYY-MM-DD`, its start; `end_of_day` its end) or an RFC 3339 time, in milliseconds.
fn time(name: &str, value: &str, end_of_day: bool) -> Result<i64, Error> {
    if let Ok(day) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let start = day
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp_millis();
        return Ok(if end_of_day { start + DAY_MS } else { start });
    }
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.timestamp_millis())
        .map_err(|_| invalid(name, "expected YYYY-MM-DD or an RFC 3339 time"))
}

fn text(name: &str, value: Option<String>, max: usize) -> Result<Option<String>, Error> {
    match value {
        Some(v) if v.is_empty() || v.chars().count() > max => {
            Err(invalid(name, format!("expected 1 to {max} characters")))
        }
        // No stored name holds control characters, and PostgreSQL refuses NUL in text.
        Some(v) if v.chars().any(char::is_control) => {
            Err(invalid(name, "control characters are not allowed"))
        }
        v => Ok(v),
    }
}

fn id(name: &str, value: Option<String>) -> Result<Option<Uuid>, Error> {
    value
        .map(|v| v.parse().map_err(|_| invalid(name, "expected a UUID")))
        .transpose()
}

impl RawFilters {
    pub fn parse(self, now: i64) -> Result<Filters, Error> {
        let to = match &self.to {
            Some(v) => time("to", v, true)?,
            None => now,
        };
        let from = match &self.from {
            Some(v) => time("from", v, false)?,
            None => to - 365 * DAY_MS,
        };
        if from >= to {
            return Err(invalid("from", "must be before `to`"));
        }
        // Ten years bound the rows a period's buckets can make.
        if to - from > 3_660 * DAY_MS {
            return Err(invalid("from", "the period may span at most ten years"));
        }
        let granularity = match self.granularity.as_deref() {
            None | Some("month") => Granularity::Month,
            Some("week") => Granularity::Week,
            Some("day") => Granularity::Day,
            Some(_) => return Err(invalid("granularity", "expected day, week or month")),
        };
        let tier = match self.tier.as_deref() {
            None => None,
            Some(t @ ("A" | "B" | "C")) => Some(t.to_string()),
            Some(_) => return Err(invalid("tier", "expected A, B or C")),
        };
        let number =
            |name: &str, value: Option<&str>, default: f64, ok: fn(f64) -> bool, expected: &str| {
                match value {
                    None => Ok(default),
                    Some(v) => v
                        .parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite() && ok(*x))
                        .ok_or_else(|| invalid(name, expected)),
                }
            };
        let stale_days = number(
            "stale_days",
            self.stale_days.as_deref(),
            30.0,
            |d| (1.0..=3_660.0).contains(&d) && d.fract() == 0.0,
            "expected a whole number of days, 1 to 3660",
        )? as i64;
        let share = |name: &str, value: Option<&str>, default: f64| {
            number(
                name,
                value,
                default,
                |s| s > 0.0 && s < 1.0,
                "expected a share between 0 and 1, e.g. 0.8",
            )
        };
        let a_share = share("a_share", self.a_share.as_deref(), 0.8)?;
        let b_share = share("b_share", self.b_share.as_deref(), 0.95)?;
        let drop_share = share("drop_share", self.drop_share.as_deref(), 0.2)?;
        let alive_below = share("alive_below", self.alive_below.as_deref(), 0.5)?;
        if b_share < a_share {
            return Err(invalid("b_share", "must not be below `a_share`"));
        }
        let horizon_months = number(
            "horizon_months",
            self.horizon_months.as_deref(),
            12.0,
            |m| (1.0..=120.0).contains(&m) && m.fract() == 0.0,
            "expected a whole number of months, 1 to 120",
        )? as u32;
        let margin = number(
            "margin",
            self.margin.as_deref(),
            1.0,
            |m| m > 0.0 && m <= 1.0,
            "expected a share above 0 and up to 1",
        )?;
        let discount_rate = number(
            "discount_rate",
            self.discount_rate.as_deref(),
            0.1,
            |d| (0.0..=1.0).contains(&d),
            "expected a rate from 0 to 1",
        )?;
        let cycle_days = number(
            "cycle_days",
            self.cycle_days.as_deref(),
            90.0,
            |d| (1.0..=3_660.0).contains(&d) && d.fract() == 0.0,
            "expected a whole number of days, 1 to 3660",
        )? as i64;
        let by_margin = match self.measure.as_deref() {
            None | Some("revenue") => false,
            Some("margin") => true,
            Some(_) => return Err(invalid("measure", "expected revenue or margin")),
        };
        Ok(Filters {
            from,
            to,
            granularity,
            territory: text("territory", self.territory, 100)?,
            agent: id("agent", self.agent)?,
            segment: text("segment", self.segment, 100)?,
            tier,
            product: id("product", self.product)?,
            category: text("category", self.category, 100)?,
            section: text("section", self.section, 100)?,
            stale_days,
            a_share,
            b_share,
            by_margin,
            drop_share,
            alive_below,
            horizon_months,
            margin,
            discount_rate,
            cycle_days,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawFilters {
        let query = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let uri: axum::http::Uri = format!("/?{query}").parse().unwrap();
        axum::extract::Query::<RawFilters>::try_from_uri(&uri)
            .unwrap()
            .0
    }

    #[test]
    fn days_cover_the_last_day_and_times_are_exact() {
        let f = raw(&[("from", "2026-01-01"), ("to", "2026-01-31")])
            .parse(0)
            .unwrap();
        assert_eq!(f.from, 1_767_225_600_000);
        assert_eq!(f.days(), 31);
        let f = raw(&[
            ("from", "2026-01-01T00:00:00Z"),
            ("to", "2026-01-02T00:00:00Z"),
        ])
        .parse(0)
        .unwrap();
        assert_eq!(f.days(), 1);
    }

    #[test]
    fn a_value_that_does_not_parse_is_named() {
        for (name, value) in [
            ("from", "yesterday"),
            ("to", "2026-13-01"),
            ("granularity", "year"),
            ("agent", "anna"),
            ("tier", "D"),
            ("stale_days", "0"),
            ("a_share", "80"),
            ("measure", "profit"),
            ("horizon_months", "2.5"),
            ("margin", "0"),
            ("discount_rate", "NaN"),
        ] {
            let err = raw(&[(name, value)]).parse(1_767_225_600_000).unwrap_err();
            assert_eq!(err.code(), "invalid_parameter");
            assert!(err.to_string().contains(&format!("`{name}`")), "{err}");
        }
        let err = raw(&[("from", "2026-02-01"), ("to", "2026-01-01")])
            .parse(0)
            .unwrap_err();
        assert!(err.to_string().contains("`from`"), "{err}");
    }
}
