//! The models behind customer lifetime value: BG/NBD (Fader, Hardie and Lee 2005, "Counting your
//! customers the easy way") for how many purchases a customer will still make and whether they are
//! still a customer at all, and Gamma-Gamma (Fader, Hardie and Lee 2005, "RFM and CLV") for what a
//! purchase of theirs is worth. Both are fitted by maximum likelihood with argmin's Nelder-Mead on
//! the logarithms of their parameters (which keeps them positive).

use argmin::core::{CostFunction, Executor, State};
use argmin::solver::neldermead::NelderMead;
use libm::lgamma;

use crate::error::Error;

/// A customer's purchase history in the calibration period, in one unit of time (weeks here):
/// `x` repeat purchases, the last at `t_x` after the first, observed for `t` since the first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct History {
    pub x: f64,
    pub t_x: f64,
    pub t: f64,
}

/// BG/NBD parameters: purchase rates Gamma(r, alpha), dropout probabilities Beta(a, b).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// Gamma-Gamma parameters: a purchase's value is Gamma(p, nu) with nu ~ Gamma(q, gamma).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

fn ln_beta(a: f64, b: f64) -> f64 {
    lgamma(a) + lgamma(b) - lgamma(a + b)
}

/// ln(e^x + e^y) without overflow.
fn log_add(x: f64, y: f64) -> f64 {
    let m = x.max(y);
    m + ((x - m).exp() + (y - m).exp()).ln()
}

/// Gauss's hypergeometric function 2F1(a, b; c; z) for 0 <= z < 1, by its series. Written here
/// because no well-kept Rust crate offers it (statrs and libm do not); the terms shrink
/// geometrically with z, and the horizons the reports ask for keep z well below 1.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let mut term = 1.0;
    let mut sum = 1.0;
    for n in 0..100_000 {
        let n = n as f64;
        term *= (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        sum += term;
        if term.abs() < 1e-15 * sum.abs() {
            break;
        }
    }
    sum
}

impl BgNbd {
    /// The log-likelihood of one customer's history (equation 6 of the paper).
    pub fn log_likelihood(&self, h: &History) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let (x, t_x, t) = (h.x, h.t_x, h.t);
        let a1 = lgamma(r + x) - lgamma(r) + r * alpha.ln();
        let a2 = ln_beta(a, b + x) - ln_beta(a, b);
        let a3 = -(r + x) * (alpha + t).ln();
        if x > 0.0 {
            let a4 = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + t_x).ln();
            a1 + a2 + log_add(a3, a4)
        } else {
            a1 + a2 + a3
        }
    }

    /// The probability that a customer with this history is still a customer at its end.
    pub fn p_alive(&self, h: &History) -> f64 {
        if h.x == 0.0 {
            return 1.0;
        }
        let BgNbd { r, alpha, a, b } = *self;
        let odds = a / (b + h.x - 1.0) * ((alpha + h.t) / (alpha + h.t_x)).powf(r + h.x);
        1.0 / (1.0 + odds)
    }

    /// The purchases a customer with this history is expected to make in the next `horizon`
    /// (equation 10 of the paper).
    pub fn expected_purchases(&self, h: &History, horizon: f64) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let (x, t_x, t) = (h.x, h.t_x, h.t);
        let z = horizon / (alpha + t + horizon);
        let head = (a + b + x - 1.0) / (a - 1.0);
        let tail = 1.0
            - ((alpha + t) / (alpha + t + horizon)).powf(r + x)
                * hyp2f1(r + x, b + x, a + b + x - 1.0, z);
        let dropout = if x > 0.0 {
            a / (b + x - 1.0) * ((alpha + t) / (alpha + t_x)).powf(r + x)
        } else {
            0.0
        };
        head * tail / (1.0 + dropout)
    }

    pub fn fit(histories: &[History]) -> Result<BgNbd, Error> {
        let fit = minimise(4, |p| {
            let m = BgNbd {
                r: p[0].exp(),
                alpha: p[1].exp(),
                a: p[2].exp(),
                b: p[3].exp(),
            };
            -histories.iter().map(|h| m.log_likelihood(h)).sum::<f64>()
        })?;
        Ok(BgNbd {
            r: fit[0].exp(),
            alpha: fit[1].exp(),
            a: fit[2].exp(),
            b: fit[3].exp(),
        })
    }
}

/// A repeat buyer's purchases for Gamma-Gamma: `x` repeat purchases of mean value `mean`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spend {
    pub x: f64,
    pub mean: f64,
}

impl GammaGamma {
    /// The log-likelihood of one repeat buyer's mean spend (equation 3 of the paper, with the
    /// terms that do not depend on the parameters left in so that it is a true likelihood).
    pub fn log_likelihood(&self, s: &Spend) -> f64 {
        let GammaGamma { p, q, gamma } = *self;
        let (x, m) = (s.x, s.mean);
        lgamma(p * x + q) - lgamma(p * x) - lgamma(q)
            + q * gamma.ln()
            + (p * x - 1.0) * m.ln()
            + (p * x) * x.ln()
            - (p * x + q) * (gamma + m * x).ln()
    }

    /// What a customer's purchases are expected to be worth on average, given theirs so far
    /// (the population's mean where they made no repeat purchase).
    pub fn expected_value(&self, s: &Spend) -> f64 {
        let GammaGamma { p, q, gamma } = *self;
        if s.x == 0.0 {
            return p * gamma / (q - 1.0);
        }
        p * (gamma + s.x * s.mean) / (p * s.x + q - 1.0)
    }

    pub fn fit(spends: &[Spend]) -> Result<GammaGamma, Error> {
        let fit = minimise(3, |p| {
            let m = GammaGamma {
                p: p[0].exp(),
                q: p[1].exp(),
                gamma: p[2].exp(),
            };
            -spends.iter().map(|s| m.log_likelihood(s)).sum::<f64>()
        })?;
        Ok(GammaGamma {
            p: fit[0].exp(),
            q: fit[1].exp(),
            gamma: fit[2].exp(),
        })
    }
}

struct Objective<F>(F);

impl<F: Fn(&[f64]) -> f64> CostFunction for Objective<F> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, p: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        let v = (self.0)(p);
        // A likelihood the parameters make undefined is the worst possible, not an error.
        Ok(if v.is_finite() { v } else { f64::MAX })
    }
}

/// The minimum of `f` over `n` log-parameters, from all parameters at 1 (log 0).
fn minimise(n: usize, f: impl Fn(&[f64]) -> f64) -> Result<Vec<f64>, Error> {
    let fail = |e: argmin::core::Error| Error::Internal(format!("fitting the CLV model: {e}"));
    let mut simplex = vec![vec![0.0; n]];
    for i in 0..n {
        let mut v = vec![0.0; n];
        v[i] = 0.5;
        simplex.push(v);
    }
    let solver = NelderMead::new(simplex)
        .with_sd_tolerance(1e-10)
        .map_err(fail)?;
    let result = Executor::new(Objective(f), solver)
        .configure(|s| s.max_iters(20_000))
        .run()
        .map_err(fail)?;
    result
        .state()
        .get_best_param()
        .cloned()
        .ok_or_else(|| Error::Internal("fitting the CLV model found no parameters".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hypergeometric_series_meets_closed_forms() {
        // 2F1(1, 1; 2; z) = -ln(1 - z) / z.
        for z in [0.1, 0.5, 0.9] {
            let want = -(1.0f64 - z).ln() / z;
            assert!((hyp2f1(1.0, 1.0, 2.0, z) - want).abs() < 1e-10, "{z}");
        }
        assert_eq!(hyp2f1(2.0, 3.0, 4.0, 0.0), 1.0);
    }

    #[test]
    fn a_customer_who_stopped_buying_long_ago_is_less_alive() {
        let m = BgNbd {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        };
        let recent = History {
            x: 4.0,
            t_x: 38.0,
            t: 39.0,
        };
        let gone = History { t_x: 5.0, ..recent };
        // By hand: odds 0.793 / 5.426 * (43.414 / 42.414)^4.243 = 0.1613, P(alive) 1 / 1.1613.
        assert!(
            (m.p_alive(&recent) - 0.8611).abs() < 1e-3,
            "{}",
            m.p_alive(&recent)
        );
        assert!(m.p_alive(&gone) < m.p_alive(&recent));
        assert!(m.expected_purchases(&gone, 39.0) < m.expected_purchases(&recent, 39.0));
        assert_eq!(
            m.p_alive(&History {
                x: 0.0,
                t_x: 0.0,
                t: 39.0
            }),
            1.0
        );
    }
}
