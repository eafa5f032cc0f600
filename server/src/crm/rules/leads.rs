//! A lead is checked against the customers as it is written: the customer it most likely is
//! already (the same phone number, a like name nearby) is named on the lead, with why, so that
//! its owner's device shows it before anyone converts the lead into a second customer. A lead
//! converted or disqualified is left as it is.

use sea_orm::ConnectionTrait;
use sync_core::kinds::LEAD;
use sync_core::leads;
use sync_core::record::Projection;
use sync_core::Value;
use uuid::Uuid;

use super::Actions;
use crate::error::Error;

pub(super) async fn lead(
    conn: &impl ConnectionTrait,
    id: Uuid,
    p: &Projection,
    actions: &mut Actions,
) -> Result<(), Error> {
    if matches!(p.get("status").as_str(), Some("converted" | "disqualified")) {
        return Ok(());
    }
    let found = crate::crm::duplicates::likely_customer(conn, &leads::keys(p)).await?;
    let (of, why) = match found {
        Some((customer, _, reasons)) => (
            Value::Str(customer.to_string()),
            Value::Str(leads::reasons_text(&reasons)),
        ),
        None => (Value::Null, Value::Null),
    };
    for (field, value) in [("duplicate_of", of), ("duplicate_reasons", why)] {
        if p.get(field) != &value {
            actions.set(id, &LEAD, field, value);
        }
    }
    Ok(())
}
