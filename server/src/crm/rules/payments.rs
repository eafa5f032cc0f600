//! Payments: one larger than the open amount of the orders it settles (or, on account, of the
//! customer's balance) raises an alert.

use sea_orm::ConnectionTrait;
use sync_core::kinds::{ORDER, PAYMENT};
use sync_core::record::Projection;
use uuid::Uuid;

use super::queries::{allocated_to, int_of, owed_by, paid_by};
use super::{alert, customer_of, Actions, Pusher};
use crate::error::Error;

pub(super) async fn payment(
    conn: &impl ConnectionTrait,
    by: Pusher,
    id: Uuid,
    p: &Projection,
    actions: &mut Actions,
) -> Result<(), Error> {
    let Some(customer) = customer_of(&PAYMENT, id, p) else {
        return Ok(());
    };
    let amount = p.get("amount").as_i64().unwrap_or(0);
    let allocations = p.get("allocations").items();
    let mut over = Vec::new();
    for a in allocations {
        let Some(order) = a
            .get("order_id")
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
        else {
            continue;
        };
        let total = int_of(conn, ORDER.table, order, "total")
            .await?
            .unwrap_or(0);
        let open = total - allocated_to(conn, order, id).await?;
        let allocated = a.get("amount").as_i64().unwrap_or(0);
        if allocated > open {
            over.push(format!(
                "{allocated} allocated to order {order}, which has {open} open"
            ));
        }
    }
    let allocated: i64 = allocations
        .iter()
        .filter_map(|a| a.get("amount").as_i64())
        .sum();
    if allocated > amount {
        over.push(format!(
            "allocations of {allocated} pass the payment's amount of {amount}"
        ));
    }
    if allocations.is_empty() {
        let open = owed_by(conn, customer, None).await? - paid_by(conn, customer, Some(id)).await?;
        if amount > open {
            over.push(format!(
                "{amount} collected on account; the customer has {open} open"
            ));
        }
    }
    if !over.is_empty() {
        alert(
            actions,
            customer,
            (id, &PAYMENT),
            "payment_above_open_amount",
            over.join("; "),
            by,
        );
    }
    Ok(())
}
