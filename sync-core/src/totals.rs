//! Order totals. The device and the server both run [`Order::totals`], so they agree on every figure
//! to the minor unit; an implementation in another language must follow the rule below exactly.
//!
//! All money is integer minor units (cents, ...) of one currency, and no floating point takes part.
//! Intermediate products need more than 64 bits (a quantity times a price, an amount times a rate),
//! so they are taken in 128-bit integers: JavaScript needs `BigInt` (products pass 2^53) and Kotlin
//! `BigInteger` (products pass `Long.MAX_VALUE`).
//!
//! # Inputs
//!
//! - `quantity`: thousandths of a unit (1.5 kg is 1500), at least 1.
//! - `unit_price`: minor units per whole unit, 0 to [`MAX_AMOUNT`].
//! - `discount_bp`, `tax_bp`, `order_discount_bp`: basis points, 0 to 10 000 (1250 is 12.5 %).
//!
//! # Rounding
//!
//! One rule wherever a step rounds: for a numerator `n >= 0` and a divisor `d` of 1 000 or 10 000,
//! `round(n / d) = floor((n + d / 2) / d)`, that is the nearest integer with halves rounded up
//! (commercial rounding; on the non-negative values that occur here, the same as half away from
//! zero). Nothing else rounds: the spread of the order discount (step 4) uses exact integer division
//! and remainders.
//!
//! # Steps
//!
//! 0. Checks, in this order; the first that fails is the error:
//!    1. at most [`MAX_LINES`] lines (`too_many_lines`);
//!    2. `order_discount_bp <= 10 000` (`discount_out_of_range`);
//!    3. line by line, in order, each line's `quantity > 0` (`non_positive_quantity`),
//!       `unit_price >= 0` (`negative_price`), `unit_price <= MAX_AMOUNT` (`amount_too_large`),
//!       `discount_bp <= 10 000` (`discount_out_of_range`), `tax_bp <= 10 000` (`tax_out_of_range`),
//!       then its gross from step 1 `<= MAX_AMOUNT` (`amount_too_large`).
//! 1. Per line, `gross = round(quantity × unit_price / 1 000)`.
//! 2. Per line, `discount = round(gross × discount_bp / 10 000)` (on the rounded gross) and
//!    `net = gross − discount`.
//! 3. `subtotal = Σ gross`, refused above [`MAX_AMOUNT`] (`amount_too_large`). The order discount is
//!    `D = round(N × order_discount_bp / 10 000)` where `N = Σ net`.
//! 4. `D` is spread over the lines in proportion to their nets, by the largest-remainder method. If
//!    `N = 0` every share is 0 (and so is `D`). Otherwise line `i` first gets
//!    `floor(D × net_i / N)`, with remainder `r_i = (D × net_i) mod N`; the `L = D − Σ floor(...)`
//!    units left over (fewer than the lines with `r_i > 0`) go one each to the `L` lines with the
//!    largest `r_i`, equal remainders going to the lower line index first.
//! 5. Per line, `taxable = net − share`, `tax = round(taxable × tax_bp / 10 000)` (tax is rounded per
//!    line, not per rate) and `total = taxable + tax`.
//! 6. `discount = Σ line discount + D`, `tax = Σ line tax`, `total = subtotal − discount + tax`,
//!    refused above [`MAX_AMOUNT`] (`amount_too_large`).
//!
//! Hence, exactly: `total = Σ (taxable + tax)` over the lines, every amount is `>= 0`, no share
//! exceeds its line's net, and `discount <= subtotal`. Because ties in step 4 go by index, reordering
//! the lines can move a leftover unit of the order discount from one line to another.

use std::cmp::Reverse;

use serde::{Deserialize, Serialize};

/// The most lines an order may have.
pub const MAX_LINES: usize = 200;

/// The largest amount in minor units that a unit price, a line's gross, the subtotal or the total may
/// reach. 200 lines of this much still sum far below `i64::MAX`, so no sum of amounts can overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

/// Basis points in 100 %, also the highest rate or discount.
const BP_SCALE: u32 = 10_000;

/// Quantities are in thousandths of a unit.
const QUANTITY_SCALE: i128 = 1_000;

/// One order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// Thousandths of a unit; must be positive.
    pub quantity: i64,
    /// Minor units per whole unit.
    pub unit_price: i64,
    /// The line's own discount, in basis points.
    pub discount_bp: u32,
    /// The line's tax rate, in basis points.
    pub tax_bp: u32,
}

/// An order: its lines and a discount on the sum of their nets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub lines: Vec<Line>,
    /// Basis points of the sum of the lines' nets.
    pub order_discount_bp: u32,
}

/// The figures of one line, in minor units (steps 1, 2, 4 and 5 of the module doc).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineTotals {
    pub gross: i64,
    /// The line's own discount.
    pub discount: i64,
    /// `gross − discount`.
    pub net: i64,
    /// The line's share of the order discount.
    pub order_discount: i64,
    /// `net − order_discount`, what tax is computed on.
    pub taxable: i64,
    pub tax: i64,
    /// `taxable + tax`.
    pub total: i64,
}

/// The totals of an order, in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// One entry per line of the order, in the same order.
    pub lines: Vec<LineTotals>,
    /// Σ gross.
    pub subtotal: i64,
    /// Σ line discounts + the order discount.
    pub discount: i64,
    /// Σ line tax.
    pub tax: i64,
    /// `subtotal − discount + tax`.
    pub total: i64,
}

/// Why an order's totals cannot be computed. `line` is an index into [`Order::lines`], from 0; each
/// variant has a stable [`TotalsError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotalsError {
    #[error("the order has {count} lines, the limit is {MAX_LINES}")]
    TooManyLines { count: usize },
    #[error("line {line}: quantity must be positive, got {quantity}")]
    NonPositiveQuantity { line: usize, quantity: i64 },
    #[error("line {line}: unit price must not be negative, got {unit_price}")]
    NegativePrice { line: usize, unit_price: i64 },
    /// `line` is `None` for the order discount.
    #[error("{}: discount must be 0 to 10000 basis points, got {bp}", place(.line))]
    DiscountOutOfRange { line: Option<usize>, bp: u32 },
    #[error("line {line}: tax rate must be 0 to 10000 basis points, got {bp}")]
    TaxOutOfRange { line: usize, bp: u32 },
    /// `what` is `unit_price` or `gross` (with a line), `subtotal` or `total` (without).
    #[error("{}: {what} exceeds the limit of {MAX_AMOUNT} minor units", place(.line))]
    AmountTooLarge {
        what: &'static str,
        line: Option<usize>,
    },
}

impl TotalsError {
    /// The stable, machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            TotalsError::TooManyLines { .. } => "too_many_lines",
            TotalsError::NonPositiveQuantity { .. } => "non_positive_quantity",
            TotalsError::NegativePrice { .. } => "negative_price",
            TotalsError::DiscountOutOfRange { .. } => "discount_out_of_range",
            TotalsError::TaxOutOfRange { .. } => "tax_out_of_range",
            TotalsError::AmountTooLarge { .. } => "amount_too_large",
        }
    }
}

/// Where an error is, in its message.
fn place(line: &Option<usize>) -> String {
    match line {
        Some(line) => format!("line {line}"),
        None => "order".to_string(),
    }
}

/// A line's figures before the order discount (steps 1 and 2).
struct Net {
    gross: i64,
    discount: i64,
    net: i64,
}

impl Order {
    /// Computes the order's totals by the steps of the module doc.
    pub fn totals(&self) -> Result<Totals, TotalsError> {
        if self.lines.len() > MAX_LINES {
            return Err(TotalsError::TooManyLines {
                count: self.lines.len(),
            });
        }
        if self.order_discount_bp > BP_SCALE {
            return Err(TotalsError::DiscountOutOfRange {
                line: None,
                bp: self.order_discount_bp,
            });
        }
        let nets = self
            .lines
            .iter()
            .enumerate()
            .map(|(index, line)| line_net(index, line))
            .collect::<Result<Vec<_>, _>>()?;

        // Each gross is at most MAX_AMOUNT and there are at most MAX_LINES of them: no overflow.
        let subtotal: i64 = nets.iter().map(|n| n.gross).sum();
        check_amount(subtotal, "subtotal")?;
        let net_weights: Vec<i64> = nets.iter().map(|n| n.net).collect();
        let order_discount = apply_bp(net_weights.iter().sum(), self.order_discount_bp);
        let shares = spread(order_discount, &net_weights);

        let lines: Vec<LineTotals> = self
            .lines
            .iter()
            .zip(nets)
            .zip(shares)
            .map(|((line, net), share)| {
                let taxable = net.net - share;
                let tax = apply_bp(taxable, line.tax_bp);
                LineTotals {
                    gross: net.gross,
                    discount: net.discount,
                    net: net.net,
                    order_discount: share,
                    taxable,
                    tax,
                    total: taxable + tax,
                }
            })
            .collect();
        let discount = lines.iter().map(|l| l.discount).sum::<i64>() + order_discount;
        let tax: i64 = lines.iter().map(|l| l.tax).sum();
        // discount <= subtotal and tax <= subtotal (rates are at most 100 %): no overflow.
        let total = subtotal - discount + tax;
        check_amount(total, "total")?;
        Ok(Totals {
            lines,
            subtotal,
            discount,
            tax,
            total,
        })
    }
}

/// Checks one line (step 0.3) and computes its gross, discount and net (steps 1 and 2).
fn line_net(index: usize, line: &Line) -> Result<Net, TotalsError> {
    let too_large = |what| TotalsError::AmountTooLarge {
        what,
        line: Some(index),
    };
    if line.quantity <= 0 {
        return Err(TotalsError::NonPositiveQuantity {
            line: index,
            quantity: line.quantity,
        });
    }
    if line.unit_price < 0 {
        return Err(TotalsError::NegativePrice {
            line: index,
            unit_price: line.unit_price,
        });
    }
    if line.unit_price > MAX_AMOUNT {
        return Err(too_large("unit_price"));
    }
    if line.discount_bp > BP_SCALE {
        return Err(TotalsError::DiscountOutOfRange {
            line: Some(index),
            bp: line.discount_bp,
        });
    }
    if line.tax_bp > BP_SCALE {
        return Err(TotalsError::TaxOutOfRange {
            line: index,
            bp: line.tax_bp,
        });
    }
    // Both factors are below 2^63, so the product is below 2^126 and fits an i128.
    let gross = round_div(
        i128::from(line.quantity) * i128::from(line.unit_price),
        QUANTITY_SCALE,
    );
    let gross = i64::try_from(gross)
        .ok()
        .filter(|&gross| gross <= MAX_AMOUNT)
        .ok_or(too_large("gross"))?;
    let discount = apply_bp(gross, line.discount_bp);
    Ok(Net {
        gross,
        discount,
        net: gross - discount,
    })
}

/// The limit on the subtotal (step 3) and the total (step 6).
fn check_amount(amount: i64, what: &'static str) -> Result<(), TotalsError> {
    if amount > MAX_AMOUNT {
        return Err(TotalsError::AmountTooLarge { what, line: None });
    }
    Ok(())
}

/// `round(amount × bp / 10 000)` for `0 <= amount <= MAX_LINES × MAX_AMOUNT` and `bp <= 10 000`.
fn apply_bp(amount: i64, bp: u32) -> i64 {
    // The product can pass i64::MAX (10^15 × 10^4); the result is at most `amount`, so it fits back.
    round_div(i128::from(amount) * i128::from(bp), i128::from(BP_SCALE)) as i64
}

/// The rounding rule of the module doc: `n / d` to the nearest integer, halves up, for `n >= 0` and an
/// even `d` (so that `d / 2` is exactly half).
fn round_div(n: i128, d: i128) -> i128 {
    (n + d / 2) / d
}

/// Step 4: splits `amount` over the lines in proportion to `weights` (their nets), by the
/// largest-remainder method, ties to the lower index. `amount` is at most `Σ weights`, and every
/// weight is in `0..=MAX_AMOUNT`.
fn spread(amount: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|&w| i128::from(w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    // amount <= MAX_LINES × MAX_AMOUNT and weight <= MAX_AMOUNT: the product is below 10^33, well
    // within an i128 (about 1.7 × 10^38).
    let exact: Vec<i128> = weights
        .iter()
        .map(|&w| i128::from(amount) * i128::from(w))
        .collect();
    // Each floor is at most its weight, so it fits an i64.
    let mut shares: Vec<i64> = exact.iter().map(|e| (e / sum) as i64).collect();
    let leftover = amount - shares.iter().sum::<i64>();
    let mut by_remainder: Vec<usize> = (0..weights.len()).collect();
    by_remainder.sort_by_key(|&i| (Reverse(exact[i] % sum), i));
    // The leftover is below the number of non-zero remainders (so below the number of lines), and
    // each line with a non-zero remainder got a floor below its weight: adding 1 keeps it <= weight.
    for &i in by_remainder.iter().take(leftover as usize) {
        shares[i] += 1;
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(quantity: i64, unit_price: i64, discount_bp: u32, tax_bp: u32) -> Line {
        Line {
            quantity,
            unit_price,
            discount_bp,
            tax_bp,
        }
    }

    fn order(lines: Vec<Line>, order_discount_bp: u32) -> Order {
        Order {
            lines,
            order_discount_bp,
        }
    }

    /// A line's figures as `[gross, discount, net, order_discount, taxable, tax, total]`.
    fn row(l: &LineTotals) -> [i64; 7] {
        [
            l.gross,
            l.discount,
            l.net,
            l.order_discount,
            l.taxable,
            l.tax,
            l.total,
        ]
    }

    /// An order's figures as `[subtotal, discount, tax, total]`.
    fn sums(t: &Totals) -> [i64; 4] {
        [t.subtotal, t.discount, t.tax, t.total]
    }

    fn err(o: &Order) -> TotalsError {
        o.totals().expect_err("the order should be refused")
    }

    #[test]
    fn one_line_with_a_line_discount() {
        // 3 units at 10.50, 12.5 % off, 20 % tax:
        // gross    = 3000 × 1050 / 1000 = 3150
        // discount = 3150 × 1250 / 10000 = 393.75 -> 394
        // net      = 3150 − 394 = 2756, no order discount, so taxable = 2756
        // tax      = 2756 × 2000 / 10000 = 551.2 -> 551
        // total    = 2756 + 551 = 3307 = 3150 − 394 + 551
        let t = order(vec![line(3000, 1050, 1250, 2000)], 0)
            .totals()
            .unwrap();
        assert_eq!(row(&t.lines[0]), [3150, 394, 2756, 0, 2756, 551, 3307]);
        assert_eq!(sums(&t), [3150, 394, 551, 3307]);
    }

    #[test]
    fn several_lines_with_mixed_tax_rates() {
        // 2 × 10.00 at 20 %: gross 2000, tax 400,                  total 2400
        // 1 ×  5.50 at  5 %: gross  550, tax 27.5 -> 28 (half up), total  578
        // 4 ×  1.25 at  0 %: gross  500, tax 0,                    total  500
        // subtotal 3050, discount 0, tax 428, total 3478 = 2400 + 578 + 500
        let t = order(
            vec![
                line(2000, 1000, 0, 2000),
                line(1000, 550, 0, 500),
                line(4000, 125, 0, 0),
            ],
            0,
        )
        .totals()
        .unwrap();
        assert_eq!(row(&t.lines[0]), [2000, 0, 2000, 0, 2000, 400, 2400]);
        assert_eq!(row(&t.lines[1]), [550, 0, 550, 0, 550, 28, 578]);
        assert_eq!(row(&t.lines[2]), [500, 0, 500, 0, 500, 0, 500]);
        assert_eq!(sums(&t), [3050, 0, 428, 3478]);
    }

    #[test]
    fn fractional_quantities() {
        // 1.5 kg at 3.99/kg:   1500 × 399 / 1000 = 598.5 -> 599;   7 % tax: 41.93 -> 42, total 641
        // 0.333 kg at 10.01/kg: 333 × 1001 / 1000 = 333.333 -> 333; 7 % tax: 23.31 -> 23, total 356
        // 0.001 unit at 5.00:     1 × 500 / 1000 = 0.5 -> 1;        7 % tax:  0.07 -> 0,  total   1
        // subtotal 933, tax 65, total 998 = 641 + 356 + 1
        let t = order(
            vec![
                line(1500, 399, 0, 700),
                line(333, 1001, 0, 700),
                line(1, 500, 0, 700),
            ],
            0,
        )
        .totals()
        .unwrap();
        assert_eq!(row(&t.lines[0]), [599, 0, 599, 0, 599, 42, 641]);
        assert_eq!(row(&t.lines[1]), [333, 0, 333, 0, 333, 23, 356]);
        assert_eq!(row(&t.lines[2]), [1, 0, 1, 0, 1, 0, 1]);
        assert_eq!(sums(&t), [933, 0, 65, 998]);
    }

    #[test]
    fn a_fully_discounted_line_takes_no_order_discount_and_no_tax() {
        // 2 × 7.50, 100 % off, 20 % tax: gross 1500, discount 1500, net 0, tax 0
        // 1 × 10.00, 10 % tax:           gross 1000, net 1000
        // order discount 10 % of N = 1000: D = 100, all of it on the second line (the first has net 0)
        // second line: taxable 900, tax 90, total 990
        // subtotal 2500, discount 1500 + 100 = 1600, tax 90, total 2500 − 1600 + 90 = 990
        let t = order(
            vec![line(2000, 750, 10_000, 2000), line(1000, 1000, 0, 1000)],
            1000,
        )
        .totals()
        .unwrap();
        assert_eq!(row(&t.lines[0]), [1500, 1500, 0, 0, 0, 0, 0]);
        assert_eq!(row(&t.lines[1]), [1000, 0, 1000, 100, 900, 90, 990]);
        assert_eq!(sums(&t), [2500, 1600, 90, 990]);

        // And a whole order given away: everything is 0 but the subtotal and the discount.
        let t = order(vec![line(1000, 999, 0, 2000)], 10_000)
            .totals()
            .unwrap();
        assert_eq!(row(&t.lines[0]), [999, 0, 999, 999, 0, 0, 0]);
        assert_eq!(sums(&t), [999, 999, 0, 0]);
    }

    #[test]
    fn the_order_discount_leftover_goes_to_the_largest_remainders() {
        // Nets 60 (20 % tax), 10 (10 % tax), 30 (no tax); N = 100; 19 % off: D = 100 × 1900 / 10000 = 19
        // exact shares 19 × 60 / 100 = 11.4, 19 × 10 / 100 = 1.9, 19 × 30 / 100 = 5.7
        // floors 11, 1, 5 (sum 17), leftover L = 2; remainders (19 × net mod 100) 40, 90, 70
        // -> lines 1 and 2 get one more: shares 11, 2, 6 (sum 19)
        // taxable 49, 8, 24; tax 9.8 -> 10, 0.8 -> 1, 0; totals 59, 9, 24
        // subtotal 100, discount 19, tax 11, total 92 = 59 + 9 + 24
        let t = order(
            vec![
                line(1000, 60, 0, 2000),
                line(1000, 10, 0, 1000),
                line(1000, 30, 0, 0),
            ],
            1900,
        )
        .totals()
        .unwrap();
        assert_eq!(row(&t.lines[0]), [60, 0, 60, 11, 49, 10, 59]);
        assert_eq!(row(&t.lines[1]), [10, 0, 10, 2, 8, 1, 9]);
        assert_eq!(row(&t.lines[2]), [30, 0, 30, 6, 24, 0, 24]);
        assert_eq!(sums(&t), [100, 19, 11, 92]);
    }

    #[test]
    fn equal_remainders_go_to_the_lower_index() {
        // Nets 100, 100, 100; N = 300; 0.5 % off: D = 300 × 50 / 10000 = 1.5 -> 2 (half up)
        // exact shares 0.67 each: floors 0, leftover 2, remainders all 2 × 100 mod 300 = 200
        // -> the tie goes to lines 0 and 1: shares 1, 1, 0
        let lines = vec![
            line(1000, 100, 0, 0),
            line(1000, 100, 0, 0),
            line(1000, 100, 0, 0),
        ];
        let t = order(lines, 50).totals().unwrap();
        let shares: Vec<i64> = t.lines.iter().map(|l| l.order_discount).collect();
        assert_eq!(shares, [1, 1, 0]);
        assert_eq!(sums(&t), [300, 2, 0, 298]);

        // The tie follows the position, not the line: reversed, the line that got nothing gets a unit.
        // Here that moves tax too (100 % tax makes the unit visible in it).
        let taxed = vec![
            line(1000, 100, 0, 10_000),
            line(1000, 100, 0, 0),
            line(1000, 100, 0, 0),
        ];
        let mut reversed = taxed.clone();
        reversed.reverse();
        let forward = order(taxed, 50).totals().unwrap();
        let backward = order(reversed, 50).totals().unwrap();
        assert_eq!(row(&forward.lines[0]), [100, 0, 100, 1, 99, 99, 198]);
        assert_eq!(row(&backward.lines[2]), [100, 0, 100, 0, 100, 100, 200]);
        assert_eq!(sums(&forward), [300, 2, 99, 397]);
        assert_eq!(sums(&backward), [300, 2, 100, 398]);
    }

    #[test]
    fn zero_price_lines_and_empty_orders() {
        // 5 × 0.00 at 20 %: all 0, and it takes none of the order discount
        // 1 × 10.00: 10 % off the order, D = 100, all on this line; taxable 900, no tax
        let t = order(vec![line(5000, 0, 0, 2000), line(1000, 1000, 0, 0)], 1000)
            .totals()
            .unwrap();
        assert_eq!(row(&t.lines[0]), [0; 7]);
        assert_eq!(row(&t.lines[1]), [1000, 0, 1000, 100, 900, 0, 900]);
        assert_eq!(sums(&t), [1000, 100, 0, 900]);

        // Only free lines: N = 0, so D = 0 and nothing is divided by N.
        let t = order(vec![line(1000, 0, 0, 2000), line(1000, 0, 5000, 0)], 10_000)
            .totals()
            .unwrap();
        assert!(t.lines.iter().all(|l| row(l) == [0; 7]));
        assert_eq!(sums(&t), [0; 4]);

        let t = order(vec![], 10_000).totals().unwrap();
        assert!(t.lines.is_empty());
        assert_eq!(sums(&t), [0; 4]);
    }

    #[test]
    fn orders_and_totals_read_and_write_as_json() {
        // The shape test vectors for other implementations are written in.
        let o: Order = serde_json::from_str(
            r#"{"lines":[{"quantity":1500,"unit_price":399,"discount_bp":0,"tax_bp":700}],
                "order_discount_bp":0}"#,
        )
        .unwrap();
        let t = o.totals().unwrap();
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            serde_json::json!({
                "lines": [{"gross": 599, "discount": 0, "net": 599, "order_discount": 0,
                           "taxable": 599, "tax": 42, "total": 641}],
                "subtotal": 599, "discount": 0, "tax": 42, "total": 641
            })
        );
    }

    #[test]
    fn the_line_count_is_capped() {
        let ok = order(vec![line(1000, 100, 0, 0); MAX_LINES], 0);
        assert_eq!(ok.totals().unwrap().subtotal, 100 * MAX_LINES as i64);
        let e = err(&order(vec![line(1000, 100, 0, 0); MAX_LINES + 1], 0));
        assert_eq!(e, TotalsError::TooManyLines { count: 201 });
        assert_eq!(e.code(), "too_many_lines");
    }

    #[test]
    fn bad_lines_are_refused() {
        for quantity in [0, -1, i64::MIN] {
            let e = err(&order(vec![line(quantity, 100, 0, 0)], 0));
            assert_eq!(e, TotalsError::NonPositiveQuantity { line: 0, quantity });
            assert_eq!(e.code(), "non_positive_quantity");
        }
        let e = err(&order(vec![line(1000, 100, 0, 0), line(1000, -1, 0, 0)], 0));
        assert_eq!(
            e,
            TotalsError::NegativePrice {
                line: 1,
                unit_price: -1
            }
        );
        assert_eq!(e.code(), "negative_price");

        let e = err(&order(vec![line(1000, 100, 10_001, 0)], 0));
        assert_eq!(
            e,
            TotalsError::DiscountOutOfRange {
                line: Some(0),
                bp: 10_001
            }
        );
        assert_eq!(e.code(), "discount_out_of_range");
        assert_eq!(
            e.to_string(),
            "line 0: discount must be 0 to 10000 basis points, got 10001"
        );
        let e = err(&order(vec![line(1000, 100, 0, 0)], 10_001));
        assert_eq!(
            e,
            TotalsError::DiscountOutOfRange {
                line: None,
                bp: 10_001
            }
        );
        assert_eq!(
            e.to_string(),
            "order: discount must be 0 to 10000 basis points, got 10001"
        );

        let e = err(&order(vec![line(1000, 100, 0, u32::MAX)], 0));
        assert_eq!(
            e,
            TotalsError::TaxOutOfRange {
                line: 0,
                bp: u32::MAX
            }
        );
        assert_eq!(e.code(), "tax_out_of_range");
    }

    #[test]
    fn amounts_above_the_limit_are_refused_not_overflowed() {
        let too_large = |what, line| TotalsError::AmountTooLarge { what, line };
        // Exactly the limit is fine.
        let t = order(vec![line(1000, MAX_AMOUNT, 0, 0)], 0)
            .totals()
            .unwrap();
        assert_eq!(t.total, MAX_AMOUNT);
        // At the limit, products pass i64::MAX (10^15 × 10^4) and stay exact:
        // gross 10^15; 33.33 % off the order: D = 333_300_000_000_000, taxable 666_700_000_000_000;
        // 49.99 % tax: 666_700_000_000_000 × 4999 / 10000 = 333_283_330_000_000;
        // total 666_700_000_000_000 + 333_283_330_000_000 = 999_983_330_000_000
        let t = order(vec![line(1000, MAX_AMOUNT, 0, 4999)], 3333)
            .totals()
            .unwrap();
        assert_eq!(
            row(&t.lines[0]),
            [
                MAX_AMOUNT,
                0,
                MAX_AMOUNT,
                333_300_000_000_000,
                666_700_000_000_000,
                333_283_330_000_000,
                999_983_330_000_000
            ]
        );

        let e = err(&order(vec![line(1000, MAX_AMOUNT + 1, 0, 0)], 0));
        assert_eq!(e, too_large("unit_price", Some(0)));
        assert_eq!(e.code(), "amount_too_large");
        assert_eq!(
            e.to_string(),
            "line 0: unit_price exceeds the limit of 1000000000000000 minor units"
        );
        // The price is checked before it is multiplied, whatever the quantity.
        let e = err(&order(vec![line(i64::MAX, i64::MAX, 0, 0)], 0));
        assert_eq!(e, too_large("unit_price", Some(0)));
        // The largest product there is still fits the i128 it is taken in.
        let e = err(&order(vec![line(i64::MAX, MAX_AMOUNT, 0, 0)], 0));
        assert_eq!(e, too_large("gross", Some(0)));
        // 1000.001 units at the limit: gross 10^15 + 10^12.
        let e = err(&order(vec![line(1001, MAX_AMOUNT, 0, 0)], 0));
        assert_eq!(e, too_large("gross", Some(0)));

        let half = MAX_AMOUNT / 2 + 1;
        let e = err(&order(
            vec![line(1000, half, 0, 0), line(1000, half, 0, 0)],
            0,
        ));
        assert_eq!(e, too_large("subtotal", None));
        // Full lines with all the discount removed still count in the subtotal.
        let e = err(&order(vec![line(1000, half, 10_000, 0); 2], 0));
        assert_eq!(e, too_large("subtotal", None));

        // A subtotal at the limit with tax on top.
        let e = err(&order(vec![line(1000, MAX_AMOUNT, 0, 1)], 0));
        assert_eq!(e, too_large("total", None));
        // ... unless discounts bring it back.
        let t = order(vec![line(1000, MAX_AMOUNT, 0, 1)], 1)
            .totals()
            .unwrap();
        assert!(t.total <= MAX_AMOUNT);
    }

    #[test]
    fn the_first_failing_check_in_documented_order_is_the_error() {
        // The order discount is checked before any line.
        let e = err(&order(vec![line(0, -1, 20_000, 20_000)], 20_000));
        assert_eq!(e.code(), "discount_out_of_range");
        assert_eq!(
            e,
            TotalsError::DiscountOutOfRange {
                line: None,
                bp: 20_000
            }
        );
        // Within a line: quantity, price, price limit, discount, tax, then gross.
        let e = err(&order(vec![line(0, -1, 20_000, 20_000)], 0));
        assert_eq!(e.code(), "non_positive_quantity");
        let e = err(&order(vec![line(1, -1, 20_000, 20_000)], 0));
        assert_eq!(e.code(), "negative_price");
        let e = err(&order(vec![line(1, MAX_AMOUNT + 1, 20_000, 20_000)], 0));
        assert_eq!(e.code(), "amount_too_large");
        let e = err(&order(vec![line(i64::MAX, MAX_AMOUNT, 20_000, 20_000)], 0));
        assert_eq!(e.code(), "discount_out_of_range");
        let e = err(&order(vec![line(i64::MAX, MAX_AMOUNT, 0, 20_000)], 0));
        assert_eq!(e.code(), "tax_out_of_range");
        // Line by line: an earlier line's last check beats a later line's first.
        let e = err(&order(
            vec![line(i64::MAX, MAX_AMOUNT, 0, 0), line(0, 100, 0, 0)],
            0,
        ));
        assert_eq!(
            e,
            TotalsError::AmountTooLarge {
                what: "gross",
                line: Some(0)
            }
        );
        // Too many lines beats everything.
        let e = err(&order(vec![line(0, -1, 20_000, 20_000); 201], 20_000));
        assert_eq!(e.code(), "too_many_lines");
    }

    /// The documented rounding, written differently from `round_div`: quotient plus one when the
    /// remainder is at least half the divisor.
    fn reference_round(n: i128, d: i128) -> i128 {
        let (q, r) = (n / d, n % d);
        if 2 * r >= d {
            q + 1
        } else {
            q
        }
    }

    /// The documented spread, line by line: a line's share is its floor, plus one when fewer than
    /// `L` lines rank before it (larger remainder, or equal remainder and lower index).
    fn reference_spread(amount: i128, weights: &[i128]) -> Vec<i128> {
        let sum: i128 = weights.iter().sum();
        if sum == 0 {
            return vec![0; weights.len()];
        }
        let floors: Vec<i128> = weights.iter().map(|w| amount * w / sum).collect();
        let remainders: Vec<i128> = weights.iter().map(|w| amount * w % sum).collect();
        let leftover = amount - floors.iter().sum::<i128>();
        (0..weights.len())
            .map(|i| {
                let ahead = (0..weights.len())
                    .filter(|&j| {
                        remainders[j] > remainders[i] || (remainders[j] == remainders[i] && j < i)
                    })
                    .count() as i128;
                floors[i] + i128::from(ahead < leftover)
            })
            .collect()
    }

    /// The documented steps 1 to 6 in plain i128 arithmetic, without the checks.
    fn reference_totals(o: &Order) -> Totals {
        let of_bp = |amount: i128, bp: u32| reference_round(amount * i128::from(bp), 10_000);
        let gross: Vec<i128> = o
            .lines
            .iter()
            .map(|l| reference_round(i128::from(l.quantity) * i128::from(l.unit_price), 1_000))
            .collect();
        let discounts: Vec<i128> = o
            .lines
            .iter()
            .zip(&gross)
            .map(|(l, &g)| of_bp(g, l.discount_bp))
            .collect();
        let nets: Vec<i128> = gross.iter().zip(&discounts).map(|(g, d)| g - d).collect();
        let order_discount = of_bp(nets.iter().sum(), o.order_discount_bp);
        let shares = reference_spread(order_discount, &nets);
        let mut lines = Vec::new();
        for (i, l) in o.lines.iter().enumerate() {
            let taxable = nets[i] - shares[i];
            let tax = of_bp(taxable, l.tax_bp);
            let figures = [
                gross[i],
                discounts[i],
                nets[i],
                shares[i],
                taxable,
                tax,
                taxable + tax,
            ]
            .map(|f| i64::try_from(f).unwrap());
            lines.push(LineTotals {
                gross: figures[0],
                discount: figures[1],
                net: figures[2],
                order_discount: figures[3],
                taxable: figures[4],
                tax: figures[5],
                total: figures[6],
            });
        }
        let subtotal: i64 = lines.iter().map(|l| l.gross).sum();
        let discount =
            lines.iter().map(|l| l.discount).sum::<i64>() + i64::try_from(order_discount).unwrap();
        let tax: i64 = lines.iter().map(|l| l.tax).sum();
        Totals {
            lines,
            subtotal,
            discount,
            tax,
            total: subtotal - discount + tax,
        }
    }

    fn assert_invariants(o: &Order, t: &Totals) {
        assert_eq!(t.lines.len(), o.lines.len());
        for l in &t.lines {
            assert!(row(l).iter().all(|&f| f >= 0), "{l:?}");
            assert_eq!(l.net, l.gross - l.discount);
            assert!(l.order_discount <= l.net, "{l:?}");
            assert_eq!(l.taxable, l.net - l.order_discount);
            assert_eq!(l.total, l.taxable + l.tax);
        }
        assert!(sums(t).iter().all(|&f| (0..=MAX_AMOUNT).contains(&f)));
        assert!(t.discount <= t.subtotal);
        assert_eq!(t.subtotal, t.lines.iter().map(|l| l.gross).sum::<i64>());
        assert_eq!(t.tax, t.lines.iter().map(|l| l.tax).sum::<i64>());
        assert_eq!(t.total, t.subtotal - t.discount + t.tax);
        assert_eq!(
            t.total,
            t.lines.iter().map(|l| l.taxable + l.tax).sum::<i64>()
        );
        // The shares add up to exactly the order discount of step 3.
        let net_sum: i64 = t.lines.iter().map(|l| l.net).sum();
        let shares: i64 = t.lines.iter().map(|l| l.order_discount).sum();
        assert_eq!(shares, apply_bp(net_sum, o.order_discount_bp));
        assert_eq!(
            t.discount,
            t.lines.iter().map(|l| l.discount).sum::<i64>() + shares
        );
    }

    /// Basis points with the edges 0 and 100 % drawn often.
    fn bp() -> impl Strategy<Value = u32> {
        prop_oneof![Just(0u32), Just(10_000u32), 0u32..=10_000]
    }

    /// Lines that always compute: gross at most 10^12, so 20 of them stay far below the limit.
    fn valid_line() -> impl Strategy<Value = Line> {
        (
            prop_oneof![Just(1000i64), 1i64..=100_000_000],
            prop_oneof![Just(0i64), 0i64..=10_000_000],
            bp(),
            bp(),
        )
            .prop_map(|(quantity, unit_price, discount_bp, tax_bp)| {
                line(quantity, unit_price, discount_bp, tax_bp)
            })
    }

    fn valid_order() -> impl Strategy<Value = Order> {
        (proptest::collection::vec(valid_line(), 1..=20), bp())
            .prop_map(|(lines, order_discount_bp)| order(lines, order_discount_bp))
    }

    /// Orders of valid lines whose subtotal can reach the limit (each of `n` lines has a gross of at
    /// most 1/n of it), so that products pass i64::MAX and only the total can be too large.
    fn large_order() -> impl Strategy<Value = Order> {
        (1usize..=20)
            .prop_flat_map(|n| {
                let top = MAX_AMOUNT / n as i64;
                let line = (
                    prop_oneof![3 => Just(1000i64), 1 => 1i64..=1_000],
                    prop_oneof![3 => Just(top), 1 => top / 2..=top, 1 => 0..=top],
                    bp(),
                    bp(),
                )
                    .prop_map(|(quantity, unit_price, discount_bp, tax_bp)| {
                        line(quantity, unit_price, discount_bp, tax_bp)
                    });
                (proptest::collection::vec(line, n), bp())
            })
            .prop_map(|(lines, order_discount_bp)| order(lines, order_discount_bp))
    }

    /// Lines anywhere in the input space: out of range, at the limits, or in between.
    fn any_line() -> impl Strategy<Value = Line> {
        (
            prop_oneof![1 => any::<i64>(), 4 => 1i64..=1_000, 4 => 1i64..=100_000_000],
            prop_oneof![
                1 => any::<i64>(),
                3 => 0i64..=MAX_AMOUNT / 20,
                1 => Just(MAX_AMOUNT),
                4 => 0i64..=10_000_000,
            ],
            prop_oneof![19 => bp(), 1 => any::<u32>()],
            prop_oneof![19 => bp(), 1 => any::<u32>()],
        )
            .prop_map(|(quantity, unit_price, discount_bp, tax_bp)| {
                line(quantity, unit_price, discount_bp, tax_bp)
            })
    }

    proptest! {
        #[test]
        fn totals_keep_their_invariants(o in valid_order()) {
            let t = o.totals().unwrap();
            assert_invariants(&o, &t);
        }

        /// Every line's figures are exactly those the documented rule gives, step by step.
        #[test]
        fn totals_follow_the_documented_rule(o in valid_order()) {
            prop_assert_eq!(o.totals().unwrap(), reference_totals(&o));
        }

        /// Other lines matter to a line only through its share of the order discount: with none, a
        /// line's figures are those it has alone; with one, its gross, discount and net still are.
        #[test]
        fn lines_depend_on_each_other_only_through_the_order_discount(o in valid_order()) {
            let t = o.totals().unwrap();
            let without = order(o.lines.clone(), 0).totals().unwrap();
            for (i, l) in o.lines.iter().enumerate() {
                let alone = order(vec![l.clone()], 0).totals().unwrap();
                prop_assert_eq!(&without.lines[i], &alone.lines[0]);
                prop_assert_eq!(&row(&t.lines[i])[..3], &row(&alone.lines[0])[..3]);
            }
        }

        #[test]
        fn large_orders_keep_their_invariants_or_exceed_at_the_total(o in large_order()) {
            match o.totals() {
                Ok(t) => {
                    assert_invariants(&o, &t);
                    prop_assert_eq!(t, reference_totals(&o));
                }
                Err(e) => prop_assert_eq!(e, TotalsError::AmountTooLarge { what: "total", line: None }),
            }
        }

        /// Anything in: an error or totals that keep the invariants and the rule, never a panic.
        #[test]
        fn any_order_computes_or_is_refused(
            lines in proptest::collection::vec(any_line(), 0..=20),
            order_discount_bp in prop_oneof![19 => bp(), 1 => any::<u32>()],
        ) {
            let o = order(lines, order_discount_bp);
            if let Ok(t) = o.totals() {
                assert_invariants(&o, &t);
                prop_assert_eq!(t, reference_totals(&o));
            }
        }

        #[test]
        fn spreading_sums_exactly_and_never_exceeds_a_weight(
            weights in proptest::collection::vec(prop_oneof![0i64..=5, 0i64..=MAX_AMOUNT], 1..=MAX_LINES),
            fraction in bp(),
        ) {
            let amount = apply_bp(weights.iter().sum(), fraction);
            let shares = spread(amount, &weights);
            prop_assert_eq!(shares.iter().sum::<i64>(), amount);
            let sum: i128 = weights.iter().map(|&w| i128::from(w)).sum();
            for (&share, &weight) in shares.iter().zip(&weights) {
                prop_assert!((0..=weight).contains(&share));
                // Within one unit above the exact proportional share (all weights 0: the share is 0).
                let floor = (i128::from(amount) * i128::from(weight))
                    .checked_div(sum)
                    .unwrap_or(0);
                prop_assert!(i128::from(share) - floor <= 1);
                prop_assert!(i128::from(share) >= floor);
            }
            let wide: Vec<i128> = weights.iter().map(|&w| i128::from(w)).collect();
            let expected: Vec<i64> = reference_spread(i128::from(amount), &wide)
                .into_iter()
                .map(|s| i64::try_from(s).unwrap())
                .collect();
            prop_assert_eq!(shares, expected);
        }
    }
}
