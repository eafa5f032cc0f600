//! The CLV models against the published fits of the CDNOW sample (Fader, Hardie and Lee 2005), and
//! the server's summarising of raw transactions against the published summaries. The data is
//! vendored under `tests/fixtures/cdnow/` (see its README for the source).

use fieldsync_server::reports::clv::model::{BgNbd, GammaGamma, History, Spend};
use fieldsync_server::reports::clv::summary::summarise;

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cdnow")
        .join(name);
    std::fs::read_to_string(path).expect("the CDNOW fixture")
}

/// The rows of a CSV fixture, header skipped, as numbers.
fn rows(name: &str) -> Vec<Vec<f64>> {
    fixture(name)
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim().split(',').map(|v| v.parse().unwrap()).collect())
        .collect()
}

/// `value` to three significant digits equals `published`.
fn three_digits(value: f64, published: f64) -> bool {
    let scale = 10f64.powi(2 - published.abs().log10().floor() as i32);
    (value * scale).round() == (published * scale).round()
}

#[test]
fn bg_nbd_fits_the_published_parameters() {
    let histories: Vec<History> = rows("cdnow_customers_summary.csv")
        .iter()
        .map(|r| History {
            x: r[1],
            t_x: r[2],
            t: r[3],
        })
        .collect();
    assert_eq!(histories.len(), 2_357);
    let m = BgNbd::fit(&histories).unwrap();
    for (name, got, published) in [
        ("r", m.r, 0.243),
        ("alpha", m.alpha, 4.414),
        ("a", m.a, 0.793),
        ("b", m.b, 2.426),
    ] {
        assert!(
            three_digits(got, published),
            "{name}: {got} (published {published})"
        );
    }
}

#[test]
fn gamma_gamma_fits_the_published_parameters() {
    let spends: Vec<Spend> = rows("cdnow_customers_summary_with_transactions.csv")
        .iter()
        .filter(|r| r[1] > 0.0)
        .map(|r| Spend {
            x: r[1],
            mean: r[4],
        })
        .collect();
    assert_eq!(spends.len(), 946);
    let m = GammaGamma::fit(&spends).unwrap();
    for (name, got, published) in [
        ("p", m.p, 6.25),
        ("q", m.q, 3.74),
        ("gamma", m.gamma, 15.44),
    ] {
        assert!(
            three_digits(got, published),
            "{name}: {got} (published {published})"
        );
    }
}

/// Days since the epoch of a `YYYYMMDD` date.
fn day(date: &str) -> i64 {
    let d = chrono::NaiveDate::parse_from_str(date, "%Y%m%d").unwrap();
    (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days()
}

#[test]
fn summarising_the_raw_transactions_gives_the_published_summaries() {
    let purchases = fixture("CDNOW_sample.txt")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[1].parse::<u32>().unwrap(),
                day(f[2]),
                f[4].parse::<f64>().unwrap(),
            )
        })
        .collect::<Vec<_>>();
    // Thirty-nine weeks from 1 January 1997: the calibration ends on 30 September, included.
    let summaries = summarise(purchases, day("19970930"), 7.0);
    let published = rows("cdnow_customers_summary_with_transactions.csv");
    assert_eq!(summaries.len(), published.len());
    for r in &published {
        let s = summaries[&(r[0] as u32)];
        let two = |v: f64| (v * 100.0).round() / 100.0;
        assert_eq!(s.history.x, r[1], "x of customer {}", r[0]);
        assert_eq!(two(s.history.t_x), r[2], "t_x of customer {}", r[0]);
        assert_eq!(two(s.history.t), r[3], "T of customer {}", r[0]);
        assert!(
            (two(s.spend.mean) - r[4]).abs() < 0.011,
            "zbar of customer {}: {} against {}",
            r[0],
            s.spend.mean,
            r[4]
        );
    }
}
