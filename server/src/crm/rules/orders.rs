//! Orders: totals written again where the lines no longer give them; a submitted order held for a
//! manager when its discount passes its author's limit or it takes the customer's open balance past
//! the credit limit; a delivered order's payment due after the customer's payment terms.

use sea_orm::ConnectionTrait;
use sync_core::kinds::{CUSTOMER, ORDER, SETTINGS};
use sync_core::record::Projection;
use sync_core::{orders, Role, Value};
use uuid::Uuid;

use super::queries::{int_of, owed_by, paid_by};
use super::{alert, customer_of, Actions, Pusher};
use crate::error::Error;
use crate::sync::write;

const DAY_MS: i64 = 86_400_000;

pub(super) async fn order(
    conn: &impl ConnectionTrait,
    by: Pusher,
    id: Uuid,
    p: &Projection,
    limit: &mut Option<Option<i64>>,
    actions: &mut Actions,
) -> Result<(), Error> {
    // The validator bounds every line, so the totals can always be computed for a stored order.
    let Ok(totals) = orders::totals(p) else {
        return Ok(());
    };
    if !orders::totals_agree(p, &totals) {
        for (field, value) in orders::total_values(&totals) {
            actions.set(id, &ORDER, field, value);
        }
    }
    let Some(customer) = customer_of(&ORDER, id, p) else {
        return Ok(());
    };
    if let (Some("delivered"), Some(delivered)) =
        (p.get("status").as_str(), p.get("delivered_at").as_i64())
    {
        // A receivable from its delivery, due after the customer's payment terms.
        let terms = int_of(conn, CUSTOMER.table, customer, "payment_terms_days").await?;
        let due = Value::Int(delivered + terms.unwrap_or(0) * DAY_MS);
        if p.get("due_at") != &due {
            actions.set(id, &ORDER, "due_at", due);
        }
        return Ok(());
    }
    // Held once per submission: an order resubmitted (after a rejection, with other lines) is
    // held to the rules again, and a hold that no longer applies is lifted.
    let submitted_at = p.get("submitted_at");
    let held = !p.get("hold_reason").is_null();
    if p.get("status").as_str() != Some("submitted") || (held && p.get("held_at") == submitted_at) {
        return Ok(());
    }
    let mut reasons = Vec::new();
    // Read once per push: every order of a batch is held to the same limit.
    let limit = match *limit {
        Some(read) => read,
        None => *limit.insert(discount_limit(conn, by.role).await?),
    };
    let deepest = p
        .get("lines")
        .items()
        .iter()
        .filter_map(|l| l.get("discount_bp").as_i64())
        .chain(p.get("order_discount_bp").as_i64())
        .max()
        .unwrap_or(0);
    if let Some(limit) = limit.filter(|limit| deepest > *limit) {
        reasons.push((
            "discount_above_limit",
            format!(
                "a discount of {} basis points passes the {} limit of {limit}",
                deepest, by.role
            ),
        ));
    }
    if let Some(credit_limit) = int_of(conn, CUSTOMER.table, customer, "credit_limit").await? {
        let others = owed_by(conn, customer, Some(id)).await?;
        let paid = paid_by(conn, customer, None).await?;
        let balance = others + totals.total - paid;
        if balance > credit_limit {
            reasons.push((
                "credit_limit_exceeded",
                format!(
                    "this order takes the customer's open balance to {balance}, past the credit limit of {credit_limit}"
                ),
            ));
        }
    }
    if reasons.is_empty() {
        if held {
            actions.set(id, &ORDER, "hold_reason", Value::Null);
            actions.set(id, &ORDER, "held_at", submitted_at.clone());
        }
        return Ok(());
    }
    let why: Vec<&str> = reasons.iter().map(|(_, m)| m.as_str()).collect();
    actions.set(id, &ORDER, "hold_reason", Value::Str(why.join("; ")));
    actions.set(id, &ORDER, "held_at", submitted_at.clone());
    for (code, message) in reasons {
        alert(actions, customer, (id, &ORDER), code, message, by);
    }
    Ok(())
}

/// The deepest discount, in basis points, a user of `role` may give without a manager's approval;
/// None for no limit (an admin, or a company whose settings set none).
async fn discount_limit(conn: &impl ConnectionTrait, role: Role) -> Result<Option<i64>, Error> {
    let column = match role {
        Role::Agent => "agent_discount_limit_bp",
        Role::Manager => "manager_discount_limit_bp",
        Role::Admin => return Ok(None),
    };
    let Some(settings) = write::company_settings(conn).await? else {
        return Ok(None);
    };
    int_of(conn, SETTINGS.table, settings.id, column).await
}
