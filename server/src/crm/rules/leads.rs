//! A lead is checked against the customers as it is written: the customer it most likely is
//! already (the same phone number, a like name nearby) is named on the lead, with why, so that
//! its owner's device shows it before anyone converts the lead into a second customer. A lead
//! converted or disqualified is left as it is, and so is one whose push wrote none of what the
//! check compares (an edit of its notes).

use sea_orm::ConnectionTrait;
use sync_core::kinds::LEAD;
use sync_core::leads;
use sync_core::record::Projection;
use sync_core::Value;
use uuid::Uuid;

use super::Actions;
use crate::error::Error;

/// The lead's fields the check compares (`leads::keys`).
const COMPARED: [&str; 6] = ["name", "company", "phone", "city", "lat", "lon"];

pub(super) async fn lead(
    conn: &impl ConnectionTrait,
    vault: &crate::seal::Vault,
    id: Uuid,
    p: &Projection,
    written: &[String],
    actions: &mut Actions,
) -> Result<(), Error> {
    if !written.iter().any(|f| COMPARED.contains(&f.as_str())) {
        return Ok(());
    }
    if matches!(p.get("status").as_str(), Some("converted" | "disqualified")) {
        return Ok(());
    }
    let found = crate::crm::duplicates::likely_customer(conn, vault, &leads::keys(p)).await?;
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
