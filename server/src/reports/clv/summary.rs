//! From purchases to the histories the models read: purchases on one day are one transaction
//! (their values summed); the first transaction opens the history and is not a repeat; only
//! transactions up to the end of the calibration count. Times are in days since the epoch and
//! come out in `unit` days (weeks: 7).

use std::collections::BTreeMap;

use super::model::{History, Spend};

/// One customer's history and repeat spending.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub history: History,
    pub spend: Spend,
    /// The day of the first transaction.
    pub first_day: i64,
}

/// Summaries per customer of `(customer, day, value)` purchases up to `end_day` (included).
pub fn summarise<K: Ord + Clone>(
    purchases: impl IntoIterator<Item = (K, i64, f64)>,
    end_day: i64,
    unit: f64,
) -> BTreeMap<K, Summary> {
    let mut days: BTreeMap<K, BTreeMap<i64, f64>> = BTreeMap::new();
    for (customer, day, value) in purchases {
        if day <= end_day {
            *days.entry(customer).or_default().entry(day).or_default() += value;
        }
    }
    days.into_iter()
        .filter_map(|(customer, by_day)| {
            let (&first, _) = by_day.first_key_value()?;
            let (&last, _) = by_day.last_key_value()?;
            let repeats: Vec<f64> = by_day.values().skip(1).copied().collect();
            let x = repeats.len() as f64;
            let mean = if repeats.is_empty() {
                0.0
            } else {
                repeats.iter().sum::<f64>() / x
            };
            Some((
                customer,
                Summary {
                    history: History {
                        x,
                        t_x: (last - first) as f64 / unit,
                        t: (end_day - first) as f64 / unit,
                    },
                    spend: Spend { x, mean },
                    first_day: first,
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_day_purchases_are_one_and_later_ones_do_not_count() {
        let s = summarise(
            [
                ("a", 0, 10.0),
                ("a", 0, 5.0),
                ("a", 7, 20.0),
                ("a", 14, 40.0),
                ("a", 30, 99.0),
                ("b", 21, 8.0),
            ],
            28,
            7.0,
        );
        let a = s["a"];
        assert_eq!(
            a.history,
            History {
                x: 2.0,
                t_x: 2.0,
                t: 4.0
            }
        );
        assert_eq!(a.spend.mean, 30.0);
        let b = s["b"];
        assert_eq!(
            b.history,
            History {
                x: 0.0,
                t_x: 0.0,
                t: 1.0
            }
        );
        assert_eq!(b.spend.mean, 0.0);
    }
}
