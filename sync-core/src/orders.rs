//! The order kind's business logic, the same on the device and the server: its totals from its
//! lines, who may move it through its workflow, and the price of a line from a price list.

use automerge::legacy::{Key, ObjectId, OpType};
use automerge::{AutoCommit, Change, ChangeHash, ReadDoc, ScalarValue, ROOT};

use crate::inspect;
use crate::record::Projection;
use crate::schema::Role;
use crate::totals::{Line, Order, Totals, TotalsError};
use crate::value::Item;
use crate::Value;

/// The fields of an order that hold its totals, as [`totals`] computes them.
pub const TOTAL_FIELDS: [&str; 4] = ["subtotal", "discount", "tax", "total"];

/// The order's totals from its lines (ordered by id, as they are read) and its order discount.
pub fn totals(order: &Projection) -> Result<Totals, TotalsError> {
    lines_totals(
        order.get("lines").items(),
        bp(order.get("order_discount_bp")),
    )
}

/// The totals of order lines (items of [`crate::kinds::ORDER_LINES`], in the order the record
/// reads them: by id) with an order discount in basis points, before any order holds them.
pub fn lines_totals(lines: &[Item], order_discount_bp: u32) -> Result<Totals, TotalsError> {
    let lines = lines
        .iter()
        .map(|line| Line {
            quantity: int(line, "quantity"),
            unit_price: int(line, "unit_price"),
            discount_bp: bp(line.get("discount_bp")),
            tax_bp: bp(line.get("tax_bp")),
        })
        .collect();
    Order {
        lines,
        order_discount_bp,
    }
    .totals()
}

/// The values of [`TOTAL_FIELDS`] for these totals.
pub fn total_values(t: &Totals) -> [(&'static str, Value); 4] {
    let [subtotal, discount, tax, total] = TOTAL_FIELDS;
    [
        (subtotal, Value::Int(t.subtotal)),
        (discount, Value::Int(t.discount)),
        (tax, Value::Int(t.tax)),
        (total, Value::Int(t.total)),
    ]
}

/// Whether the order's stored totals are the ones its lines give.
pub fn totals_agree(order: &Projection, t: &Totals) -> bool {
    total_values(t)
        .iter()
        .all(|(field, value)| order.get(field) == value)
}

fn int(item: &Item, field: &str) -> i64 {
    item.get(field).as_i64().unwrap_or(0)
}

/// Basis points as `totals` takes them; the schema bounds them to 0..=10 000, so the conversion
/// only fails for a value the validator refused, which `totals` refuses in turn.
fn bp(value: &Value) -> u32 {
    value
        .as_i64()
        .map_or(0, |v| u32::try_from(v).unwrap_or(u32::MAX))
}

/// Why a change of an order is not allowed: `status_not_allowed` (a move of the workflow) or
/// `order_locked` (a field an agent may no longer change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAllowed {
    pub code: &'static str,
    pub message: String,
}

/// Whether `role` may move an order from `from` (None for a new order) to `to`. Agents draft,
/// submit, cancel what is not yet approved, and revise a rejected order as a draft; managers also
/// approve, reject, deliver, and cancel an approved order. Delivered and cancelled orders are final.
pub fn transition(from: Option<&str>, to: &str, role: Role) -> Result<(), NotAllowed> {
    let manager = role >= Role::Manager;
    let allowed = match (from, to) {
        (Some(a), b) if a == b => true,
        (None, "draft" | "submitted") => true,
        (None, _) => manager,
        (Some("draft"), "submitted" | "cancelled") => true,
        (Some("submitted"), "draft" | "cancelled") => true,
        (Some("submitted"), "approved" | "rejected") => manager,
        (Some("rejected"), "draft" | "cancelled") => true,
        (Some("approved"), "delivered" | "cancelled") => manager,
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        let from = from.unwrap_or("new");
        let who = if manager { "anyone" } else { "an agent" };
        Err(NotAllowed {
            code: "status_not_allowed",
            message: format!("{who} may not move an order from {from} to {to}"),
        })
    }
}

/// Fields an agent may still write once an order is no longer a draft (or rejected): the status
/// (to cancel it), when it was submitted, the notes, and the totals, which follow the lines.
const OPEN_AFTER_SUBMIT: [&str; 7] = [
    "status",
    "submitted_at",
    "notes",
    "subtotal",
    "discount",
    "tax",
    "total",
];

/// Checks the changes made to an order since `since` (the stored heads) one by one, each against
/// what its author saw (the order at the change's dependencies), so that neither a merge nor
/// concurrent changes an author made under two actors of its own can pass what one change may
/// not: each status it writes must be a move `role` may make from a status it saw
/// ([`transition`]), and an agent may change only [`OPEN_AFTER_SUBMIT`] of an order it saw
/// submitted or beyond.
pub fn check_edits(
    doc: &mut AutoCommit,
    since: &[ChangeHash],
    role: Role,
) -> Result<(), NotAllowed> {
    let changes: Vec<Change> = doc.get_changes(since);
    for change in changes {
        let saw: Vec<String> = doc
            .get_all_at(ROOT, "status", change.deps())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(v, _)| v.into_string().ok())
            .collect();
        let ops = change.decode().operations;
        for op in &ops {
            let (ObjectId::Root, Key::Map(key), OpType::Put(ScalarValue::Str(to))) =
                (&op.obj, &op.key, &op.action)
            else {
                continue;
            };
            if key.as_str() != "status" {
                continue;
            }
            let to = to.as_str();
            let moves: Vec<_> = if saw.is_empty() {
                vec![transition(None, to, role)]
            } else {
                saw.iter()
                    .map(|from| transition(Some(from), to, role))
                    .collect()
            };
            if !moves.iter().any(Result::is_ok) {
                return Err(moves.into_iter().find_map(Result::err).expect("a move"));
            }
        }
        let editable = saw.is_empty() || saw.iter().any(|s| s == "draft" || s == "rejected");
        if role == Role::Agent && !editable {
            let fields = inspect::touched_fields(doc, &ops, false).map_err(|e| NotAllowed {
                code: "order_locked",
                message: e.to_string(),
            })?;
            if let Some(field) = fields
                .iter()
                .find(|f| !OPEN_AFTER_SUBMIT.contains(&f.as_str()))
            {
                return Err(NotAllowed {
                    code: "order_locked",
                    message: format!(
                        "an agent may not change `{field}` of an order that is {}",
                        saw.join(" or ")
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The unit price of `quantity` (thousandths) of a product: the price list's price for the largest
/// minimum quantity the quantity reaches (a price with no minimum applies from the first unit),
/// else the product's list price. `prices` are a price list's items; None if neither names one.
pub fn unit_price(
    prices: &[Item],
    product_id: &str,
    quantity: i64,
    list_price: Option<i64>,
) -> Option<i64> {
    prices
        .iter()
        .filter(|p| p.get("product_id").as_str() == Some(product_id))
        .map(|p| (p.get("min_quantity").as_i64().unwrap_or(0), p))
        .filter(|(min, _)| *min <= quantity)
        .max_by_key(|(min, _)| *min)
        .and_then(|(_, p)| p.get("unit_price").as_i64())
        .or(list_price)
}

/// Whether a price list applies at `at` (milliseconds): active (or not said) and within its
/// validity dates, each bound inclusive and optional.
pub fn price_list_applies(list: &Projection, at: i64) -> bool {
    let active = list.get("active") != &Value::Bool(false);
    let from = list.get("valid_from").as_i64().unwrap_or(i64::MIN);
    let to = list.get("valid_to").as_i64().unwrap_or(i64::MAX);
    active && !list.is_deleted() && (from..=to).contains(&at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price(product: &str, min: Option<i64>, unit_price: i64) -> Item {
        let mut fields = vec![
            ("product_id", Value::Str(product.into())),
            ("unit_price", Value::Int(unit_price)),
        ];
        if let Some(min) = min {
            fields.push(("min_quantity", Value::Int(min)));
        }
        Item::new(fields)
    }

    #[test]
    fn the_largest_quantity_break_reached_sets_the_price() {
        let prices = [
            price("p", None, 1_000),
            price("p", Some(10_000), 900),
            price("p", Some(100_000), 800),
            price("q", None, 5),
        ];
        assert_eq!(unit_price(&prices, "p", 1_000, Some(1_200)), Some(1_000));
        assert_eq!(unit_price(&prices, "p", 10_000, Some(1_200)), Some(900));
        assert_eq!(unit_price(&prices, "p", 99_999, None), Some(900));
        assert_eq!(unit_price(&prices, "p", 250_000, None), Some(800));
        assert_eq!(unit_price(&prices, "r", 1_000, Some(1_200)), Some(1_200));
        assert_eq!(unit_price(&prices, "r", 1_000, None), None);
        // Below every break and no base price: the list price.
        let breaks_only = [price("p", Some(10_000), 900)];
        assert_eq!(
            unit_price(&breaks_only, "p", 1_000, Some(1_200)),
            Some(1_200)
        );
    }

    #[test]
    fn agents_submit_and_managers_decide() {
        use Role::{Agent, Manager};
        assert!(transition(None, "draft", Agent).is_ok());
        assert!(transition(Some("draft"), "submitted", Agent).is_ok());
        assert!(transition(Some("submitted"), "approved", Agent).is_err());
        assert!(transition(Some("submitted"), "approved", Manager).is_ok());
        assert!(transition(None, "approved", Agent).is_err());
        assert!(transition(Some("approved"), "cancelled", Agent).is_err());
        assert!(transition(Some("approved"), "delivered", Manager).is_ok());
        assert!(transition(Some("delivered"), "cancelled", Role::Admin).is_err());
        assert!(transition(Some("cancelled"), "cancelled", Agent).is_ok());
        let refused = transition(Some("draft"), "delivered", Agent).unwrap_err();
        assert!(refused.message.contains("draft to delivered"));
    }
}
