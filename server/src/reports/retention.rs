//! Retention: per period, the customers at its start, those acquired (a repeat purchase in a later
//! cycle), lost (a lapse longer than their usual gap) and won back, with churn, retention, revenue
//! churn and win-back rates.
//!
//! Each customer's days of purchase come from the database (one row per customer and day, as for
//! CLV); their life — acquired, lost, won back — is followed here, since it depends on each
//! customer's own gaps between purchases.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate};

use super::clv::purchases;
use super::filters::{Granularity, DAY_MS};
use super::sql::Ctx;
use super::{ratio, Cell, Report, Table};
use crate::error::Error;

pub const DEFINITIONS: &[(&str, &str)] = &[
    ("purchases", "a customer's confirmed orders (approved or delivered), one per UTC day"),
    ("acquired", "a customer counts as a customer from their first purchase at least `cycle_days` (default 90) after their very first: a repeat purchase in a later cycle"),
    ("lapse", "a customer is lost once no purchase follows for longer than their lapse: twice the median gap between their purchases, at least `cycle_days`; won back at their next purchase"),
    ("customers_at_start", "customers acquired before the period and not lost at its start; likewise customers_at_end"),
    ("new", "customers acquired in the period"),
    ("lost", "customers lost in the period (their lapse ran out in it)"),
    ("won_back", "lost customers who bought again in the period"),
    ("churn_rate", "lost ÷ customers_at_start"),
    ("retention_rate", "(customers_at_end − new) ÷ customers_at_start"),
    ("revenue_churn", "revenue, in the span of the period's length before it, of the customers lost in the period ÷ that of the customers at its start"),
    ("win_back_rate", "won_back ÷ customers lost at the period's start"),
];

/// One customer's life: when they became a customer, when lost, when won back.
#[derive(Debug, Default, PartialEq)]
struct Life {
    acquired: Option<i64>,
    /// (lost at, won back at) in days; the last may be unanswered.
    lapses: Vec<(i64, Option<i64>)>,
}

impl Life {
    fn of(days: &[i64], cycle: i64, end: i64) -> Life {
        let Some(&first) = days.first() else {
            return Life::default();
        };
        let Some(pos) = days.iter().position(|d| *d >= first + cycle) else {
            return Life::default();
        };
        let mut gaps: Vec<i64> = days.windows(2).map(|w| w[1] - w[0]).collect();
        gaps.sort_unstable();
        let median = match gaps.len() {
            0 => 0,
            n if n % 2 == 1 => gaps[n / 2],
            n => (gaps[n / 2 - 1] + gaps[n / 2]) / 2,
        };
        let lapse = (2 * median).max(cycle);
        let mut lapses = Vec::new();
        for w in days[pos..].windows(2) {
            if w[1] - w[0] > lapse {
                lapses.push((w[0] + lapse, Some(w[1])));
            }
        }
        let last = *days.last().expect("not empty");
        if last + lapse < end {
            lapses.push((last + lapse, None));
        }
        Life {
            acquired: Some(days[pos]),
            lapses,
        }
    }

    /// A customer on `day`: acquired by then and not in a lapse.
    fn active(&self, day: i64) -> bool {
        self.acquired.is_some_and(|a| a <= day) && !self.lost(day)
    }

    fn lost(&self, day: i64) -> bool {
        self.lapses
            .iter()
            .any(|(lost, back)| *lost <= day && back.is_none_or(|b| b > day))
    }
}

fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

fn date(day: i64) -> NaiveDate {
    DateTime::from_timestamp(day * 86_400, 0)
        .expect("a day in range")
        .date_naive()
}

fn day_from(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp()
        .div_euclid(86_400)
}

/// The period's buckets as (label, first day, day after the last), clipped to `[from, to)`.
fn buckets(from: i64, to: i64, g: Granularity) -> Vec<(String, i64, i64)> {
    let (first, end) = (day_of(from), day_of(to - 1) + 1);
    let start = date(first);
    let mut d = match g {
        Granularity::Day => start,
        Granularity::Week => start - Days::new(u64::from(start.weekday().num_days_from_monday())),
        Granularity::Month => start.with_day(1).expect("a first day"),
    };
    let mut out = Vec::new();
    while day_from(d) < end {
        let next = match g {
            Granularity::Day => d + Days::new(1),
            Granularity::Week => d + Days::new(7),
            Granularity::Month => d + Months::new(1),
        };
        let label = match g {
            Granularity::Month => d.format("%Y-%m").to_string(),
            _ => d.format("%Y-%m-%d").to_string(),
        };
        out.push((label, day_from(d).max(first), day_from(next).min(end)));
        d = next;
    }
    out
}

pub async fn report(ctx: &Ctx<'_>) -> Result<Report, Error> {
    let f = ctx.filters;
    let cycle = f.cycle_days;
    let end = day_of(f.to - 1) + 1;
    // Every purchase up to the period's end: lives start before the period.
    let mut by_customer: std::collections::BTreeMap<String, Vec<(i64, i64)>> = Default::default();
    for (id, _, day, value) in purchases(ctx).await? {
        by_customer.entry(id).or_default().push((day, value as i64));
    }
    let lives: Vec<(Life, Vec<(i64, i64)>)> = by_customer
        .into_values()
        .map(|mut p| {
            p.sort_unstable();
            let days: Vec<i64> = p.iter().map(|(d, _)| *d).collect();
            (Life::of(&days, cycle, end), p)
        })
        .collect();
    let revenue = |p: &[(i64, i64)], lo: i64, hi: i64| -> i64 {
        p.iter()
            .filter(|(d, _)| *d >= lo && *d < hi)
            .map(|(_, v)| v)
            .sum()
    };

    let mut t = Table::new(&[
        "period",
        "customers_at_start",
        "new",
        "lost",
        "won_back",
        "customers_at_end",
        "churn_rate",
        "retention_rate",
        "revenue_churn",
        "win_back_rate",
    ]);
    for (label, lo, hi) in buckets(f.from, f.to, f.granularity) {
        let (mut start, mut at_end, mut new, mut lost, mut back, mut lost_at_start) =
            (0i64, 0i64, 0i64, 0i64, 0i64, 0i64);
        let (mut rev_start, mut rev_lost) = (0i64, 0i64);
        for (life, p) in &lives {
            let active = life.active(lo);
            if active {
                start += 1;
                rev_start += revenue(p, lo - (hi - lo), lo);
            }
            if life.active(hi - 1) {
                at_end += 1;
            }
            if life.acquired.is_some_and(|a| a >= lo && a < hi) {
                new += 1;
            }
            if life.acquired.is_some_and(|a| a < lo) && life.lost(lo) {
                lost_at_start += 1;
            }
            for (l, b) in &life.lapses {
                if *l >= lo && *l < hi {
                    lost += 1;
                    if active {
                        rev_lost += revenue(p, lo - (hi - lo), lo);
                    }
                }
                if b.is_some_and(|b| b >= lo && b < hi) {
                    back += 1;
                }
            }
        }
        t.rows.push(vec![
            Cell::Text(label),
            start.into(),
            new.into(),
            lost.into(),
            back.into(),
            at_end.into(),
            ratio(lost, start),
            ratio(at_end - new, start),
            ratio(rev_lost, rev_start),
            ratio(back, lost_at_start),
        ]);
    }
    Ok(Report {
        name: "retention",
        filters: f.clone(),
        definitions: DEFINITIONS,
        sections: vec![("by_period", t)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_is_acquired_by_a_repeat_in_a_later_cycle_and_lost_after_a_lapse() {
        // Buys on days 0, 10 (same cycle), 100 (acquired), 130, then 400 (back after a lapse).
        let life = Life::of(&[0, 10, 100, 130, 400], 90, 1_000);
        // Gaps 10, 90, 30, 270: median (30 + 90) / 2 = 60, lapse max(120, 90) = 120.
        assert_eq!(life.acquired, Some(100));
        assert_eq!(life.lapses, vec![(250, Some(400)), (520, None)]);
        assert!(!life.active(99) && life.active(100) && life.active(249));
        assert!(!life.active(250) && life.active(400) && !life.active(520));
        // One purchase, or repeats within the first cycle only: never a customer.
        assert_eq!(Life::of(&[5], 90, 1_000), Life::default());
        assert_eq!(Life::of(&[5, 20, 60], 90, 1_000).acquired, None);
    }

    #[test]
    fn buckets_cover_the_period() {
        let day = |s: &str| day_from(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()) * DAY_MS;
        let b = buckets(day("2025-03-15"), day("2025-05-01"), Granularity::Month);
        let labels: Vec<_> = b.iter().map(|(l, _, _)| l.as_str()).collect();
        assert_eq!(labels, ["2025-03", "2025-04"]);
        assert_eq!(b[0].1, day("2025-03-15") / DAY_MS, "clipped to the period");
        let w = buckets(day("2025-03-12"), day("2025-03-20"), Granularity::Week);
        assert_eq!(w[0].0, "2025-03-10");
        assert_eq!(w.len(), 2);
    }
}
