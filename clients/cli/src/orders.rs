//! `fieldsync order add|submit` and `fieldsync payment add`: orders taken and payments collected at
//! the customer's, offline, priced and totalled on the device as the server totals them.

use anyhow::{anyhow, bail};
use clap::{Arg, ArgAction, ArgMatches, Command};
use fieldsync_sdk::{LineRequest, OrderOrigin, PaymentRequest, Replica, TakenOrder};
use serde_json::json;
use sync_core::kinds::PAYMENT_METHODS;
use uuid::Uuid;

use crate::output::{table, Output};
use crate::visits::now_ms;

fn id_option(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .value_name("ID")
        .value_parser(clap::value_parser!(Uuid))
        .help(help)
}

/// The field actions of `fieldsync order`, in place of its generic `add`.
pub fn order_commands() -> [Command; 2] {
    [
        Command::new("add")
            .about("Take an order at a customer: lines priced from their price list or the catalogue, totals shown (works offline)")
            .arg(id_option("customer-id", "The customer's id").required(true))
            .arg(
                Arg::new("line")
                    .long("line")
                    .value_name("SKU:QTY[:DISCOUNT_PCT]")
                    .action(ArgAction::Append)
                    .required(true)
                    .help("A line: the product's SKU, the quantity (decimals allowed) and an optional discount in percent; repeat for each line"),
            )
            .arg(id_option("visit-id", "The visit the order was taken in"))
            .arg(id_option(
                "campaign-id",
                "The campaign the order answers (its member's `campaign_id`)",
            ))
            .arg(
                Arg::new("submit")
                    .long("submit")
                    .action(ArgAction::SetTrue)
                    .help("Submit it at once rather than keep it as a draft"),
            ),
        Command::new("submit")
            .about("Submit a draft order (a manager approves it where a rule holds it)")
            .arg(
                Arg::new("id")
                    .required(true)
                    .value_parser(clap::value_parser!(Uuid))
                    .help("The order's id"),
            ),
    ]
}

/// The field action of `fieldsync payment`, in place of its generic `add`.
pub fn payment_commands() -> [Command; 1] {
    [Command::new("add")
        .about("Record a payment collected from a customer, for one of its orders or on account (works offline)")
        .arg(id_option("customer-id", "The customer's id").required(true))
        .arg(id_option("order-id", "The order it settles; on account if left out"))
        .arg(
            Arg::new("amount")
                .long("amount")
                .value_name("MINOR_UNITS")
                .required(true)
                .value_parser(clap::value_parser!(i64).range(1..))
                .help("The amount in minor units of the company's currency (cents: 1250 is 12.50)"),
        )
        .arg(
            Arg::new("method")
                .long("method")
                .value_name("METHOD")
                .value_parser(clap::builder::PossibleValuesParser::new(PAYMENT_METHODS))
                .help("How it was paid"),
        )
        .arg(
            Arg::new("reference")
                .long("reference")
                .value_name("TEXT")
                .help("A receipt or cheque number"),
        )]
}

/// Whether `fieldsync KIND NAME` is one of these actions rather than a record command.
pub fn is_action(kind: &str, name: &str) -> bool {
    matches!(
        (kind, name),
        ("order", "add" | "submit") | ("payment", "add")
    )
}

pub async fn run(
    replica: &Replica,
    kind: &str,
    action: &str,
    m: &ArgMatches,
    out: Output,
) -> anyhow::Result<()> {
    let id = |name: &str| m.get_one::<Uuid>(name).copied();
    match (kind, action) {
        ("order", "add") => {
            let lines = m
                .get_many::<String>("line")
                .expect("clap requires a line")
                .map(|l| parse_line(l))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let customer = id("customer-id").expect("clap requires the customer");
            let taken = replica
                .add_order(
                    customer,
                    &lines,
                    OrderOrigin {
                        visit_id: id("visit-id"),
                        campaign_id: id("campaign-id"),
                    },
                    m.get_flag("submit"),
                    now_ms(),
                )
                .await?;
            show_order(&taken, out);
        }
        ("order", "submit") => {
            let order = id("id").expect("clap requires the id");
            let totals = replica.submit_order(order, now_ms()).await?;
            if out.json {
                out.json_value(&json!({"id": order, "status": "submitted", "totals": totals}));
            } else {
                crate::outln!("submitted order {order}: total {}", money(totals.total));
            }
        }
        ("payment", "add") => {
            let payment = PaymentRequest {
                amount: *m
                    .get_one::<i64>("amount")
                    .expect("clap requires the amount"),
                method: m.get_one::<String>("method").cloned(),
                reference: m.get_one::<String>("reference").cloned(),
                order_id: id("order-id"),
            };
            let customer = id("customer-id").expect("clap requires the customer");
            let payment_id = replica.add_payment(customer, payment, now_ms()).await?;
            if out.json {
                out.json_value(&json!({"id": payment_id}));
            } else {
                crate::outln!("{payment_id}");
            }
        }
        _ => unreachable!("only the actions of `is_action` are run here"),
    }
    Ok(())
}

/// `SKU:QTY[:DISCOUNT_PCT]`: a quantity of up to three decimals (thousandths of a unit) and a
/// discount of up to two decimals of a percent (basis points).
fn parse_line(text: &str) -> anyhow::Result<LineRequest> {
    let parts: Vec<&str> = text.split(':').collect();
    let (sku, quantity, discount) = match parts[..] {
        [sku, qty] => (sku, qty, None),
        [sku, qty, discount] => (sku, qty, Some(discount)),
        _ => bail!("--line `{text}`: expected SKU:QTY or SKU:QTY:DISCOUNT_PCT"),
    };
    if sku.is_empty() {
        bail!("--line `{text}`: the SKU is empty");
    }
    let quantity = scaled(quantity, 3).filter(|q| *q > 0).ok_or_else(|| {
        anyhow!("--line `{text}`: the quantity must be a positive number with at most 3 decimals")
    })?;
    let discount_bp = match discount {
        Some(d) => scaled(d, 2)
            .filter(|d| (0..=10_000).contains(d))
            .ok_or_else(|| anyhow!("--line `{text}`: the discount must be 0 to 100 percent with at most 2 decimals"))?,
        None => 0,
    };
    Ok(LineRequest {
        sku: sku.to_string(),
        quantity,
        discount_bp,
    })
}

/// A decimal number as an integer of `decimals` places (`1.5` at 3 is 1500), exactly, without
/// floating point; None if it is not such a number.
fn scaled(text: &str, decimals: u32) -> Option<i64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty()
        || fraction.len() > decimals as usize
        || !whole
            .chars()
            .chain(fraction.chars())
            .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let padded = format!("{fraction:0<width$}", width = decimals as usize);
    let fraction: i64 = if padded.is_empty() {
        0
    } else {
        padded.parse().ok()?
    };
    whole
        .checked_mul(10_i64.pow(decimals))?
        .checked_add(fraction)
}

/// Minor units as a decimal amount with two places.
fn money(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

fn show_order(taken: &TakenOrder, out: Output) {
    if out.json {
        out.json_value(&json!(taken));
        return;
    }
    crate::outln!("{}", taken.order_id);
    let rows: Vec<Vec<String>> = taken
        .lines
        .iter()
        .zip(&taken.totals.lines)
        .map(|(line, t)| {
            let int = |f: &str| line.get(f).as_i64().unwrap_or(0);
            vec![
                line.get("sku").to_string(),
                format!("{}", int("quantity") as f64 / 1_000.0),
                money(int("unit_price")),
                format!("{}%", int("discount_bp") as f64 / 100.0),
                money(t.total),
            ]
        })
        .collect();
    table(&["sku", "qty", "unit price", "discount", "total"], &rows);
    let t = &taken.totals;
    crate::outln!(
        "{} order: subtotal {}, discount {}, tax {}, total {} {}",
        taken.status,
        money(t.subtotal),
        money(t.discount),
        money(t.tax),
        money(t.total),
        taken.currency
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_quantities_and_discounts_exactly() {
        let l = parse_line("SKU-0001:1.5:12.5").unwrap();
        assert_eq!(
            (l.sku.as_str(), l.quantity, l.discount_bp),
            ("SKU-0001", 1_500, 1_250)
        );
        assert_eq!(parse_line("A:3").unwrap().quantity, 3_000);
        assert_eq!(parse_line("A:.25").unwrap().quantity, 250);
        for bad in [
            "A", "A:0", "A:-1", "A:1.2345", "A:1:101", "A:x", ":1", "A:1:2:3",
        ] {
            assert!(parse_line(bad).is_err(), "{bad}");
        }
        assert_eq!(money(123_456), "1234.56");
    }
}
