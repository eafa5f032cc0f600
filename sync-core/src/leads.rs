//! The lead kind's business logic, the same on the device and the server: a converted lead is
//! closed. Two devices converting one lead offline would each make a customer of it; the second
//! conversion to reach the server is refused, and with it the rest of its atomic group (the
//! customer, contact and opportunity it made), which stays on that device with the reason.

use automerge::legacy::{Key, ObjectId};
use automerge::{AutoCommit, ChangeHash, ReadDoc, ROOT};
use uuid::Uuid;

use crate::duplicates::{Keys, Reason};
use crate::geo::Position;
use crate::orders::NotAllowed;
use crate::record::Projection;
use crate::Value;

/// The fields of a lead that a customer made of it takes as they are.
const CUSTOMER_TAKES: [&str; 9] = [
    "phone", "email", "street", "city", "postcode", "country", "lat", "lon", "industry",
];

/// A new customer's fields, from a lead: the business (the person's name where it has none) in the
/// lead's territory, its address, position, phone, e-mail and industry, as a prospect.
pub fn customer_fields(lead: &Projection) -> Vec<(&'static str, Value)> {
    let name = match lead.get("company") {
        Value::Str(company) if !company.trim().is_empty() => company.clone(),
        _ => lead.get("name").as_str().unwrap_or_default().to_string(),
    };
    let mut fields = vec![
        ("name", Value::Str(name)),
        ("territory", lead.get("territory").clone()),
        ("status", "prospect".into()),
    ];
    fields.extend(taken(lead, &CUSTOMER_TAKES));
    fields
}

/// The new contact's fields, from a lead: the person, of `customer`, with the consent they gave.
pub fn contact_fields(lead: &Projection, customer: Uuid) -> Vec<(&'static str, Value)> {
    let mut fields = vec![("customer_id", Value::Str(customer.to_string()))];
    fields.extend(taken(
        lead,
        &[
            "name",
            "title",
            "phone",
            "email",
            "consent_email",
            "consent_phone",
        ],
    ));
    fields
}

/// What a conversion writes on the lead: converted at `now_ms`, naming what it made.
pub fn converted_fields(
    customer: Uuid,
    contact: Uuid,
    opportunity: Option<Uuid>,
    now_ms: i64,
) -> Vec<(&'static str, Value)> {
    let mut fields = vec![
        ("status", "converted".into()),
        ("customer_id", Value::Str(customer.to_string())),
        ("contact_id", Value::Str(contact.to_string())),
        ("converted_at", Value::Int(now_ms)),
    ];
    if let Some(opportunity) = opportunity {
        fields.push(("opportunity_id", Value::Str(opportunity.to_string())));
    }
    fields
}

/// What the duplicate check compares of a lead with customers: the business's name (the
/// person's where it has none, as the customer made of it would be named), its phone, city and
/// position.
pub fn keys(lead: &Projection) -> Keys {
    let position = match (lead.get("lat"), lead.get("lon")) {
        (Value::Float(lat), Value::Float(lon)) => Some(Position {
            lat: *lat,
            lon: *lon,
        }),
        _ => None,
    };
    let name = match customer_fields(lead).into_iter().next() {
        Some((_, Value::Str(name))) => name,
        _ => String::new(),
    };
    Keys::of(
        &name,
        lead.get("phone").as_str(),
        None,
        lead.get("city").as_str(),
        position,
    )
}

/// Why a lead looks like a customer, as one line a person reads: `same_phone, similar_name (0.93,
/// 12 m)`.
pub fn reasons_text(reasons: &[Reason]) -> String {
    let text: Vec<String> = reasons
        .iter()
        .map(|r| match (r.code.as_str(), r.distance_m) {
            ("similar_name", Some(d)) => format!("similar_name ({}, {d} m)", r.score),
            ("similar_name", None) => format!("similar_name ({}, same city)", r.score),
            (code, _) => code.to_string(),
        })
        .collect();
    text.join(", ").chars().take(100).collect()
}

/// Of `fields`, those the lead has set, with their values.
fn taken(lead: &Projection, fields: &[&'static str]) -> Vec<(&'static str, Value)> {
    fields
        .iter()
        .filter(|f| !lead.get(f).is_null())
        .map(|f| (*f, lead.get(f).clone()))
        .collect()
}

/// The fields a conversion writes.
pub const CONVERSION_FIELDS: [&str; 5] = [
    "status",
    "customer_id",
    "contact_id",
    "opportunity_id",
    "converted_at",
];

/// Refuses (`lead_converted`) the changes of `doc` since `before` when the lead was converted at
/// `before` and they write one of its [`CONVERSION_FIELDS`]: made offline before the conversion
/// reached this copy, they would convert it a second time, or undo the first.
pub fn check_edits(doc: &mut AutoCommit, before: &[ChangeHash]) -> Result<(), NotAllowed> {
    let was_converted = doc
        .get_all_at(ROOT, "status", before)
        .unwrap_or_default()
        .into_iter()
        .any(|(v, _)| v.into_string().is_ok_and(|s| s == "converted"));
    if !was_converted {
        return Ok(());
    }
    for change in doc.get_changes(before) {
        let touched =
            change
                .decode()
                .operations
                .into_iter()
                .find_map(|op| match (&op.obj, &op.key) {
                    (ObjectId::Root, Key::Map(key))
                        if CONVERSION_FIELDS.contains(&key.as_str()) =>
                    {
                        Some(key.to_string())
                    }
                    _ => None,
                });
        if let Some(field) = touched {
            return Err(NotAllowed {
                code: "lead_converted",
                message: format!(
                    "the lead was converted already; a change of its `{field}` made before that is not taken"
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::ActorId;

    fn lead() -> AutoCommit {
        let mut doc = AutoCommit::new().with_actor(ActorId::from(vec![1u8; 16]));
        doc.put(ROOT, "name", "Eva").unwrap();
        doc.put(ROOT, "status", "qualified").unwrap();
        doc.commit();
        doc
    }

    #[test]
    fn a_second_conversion_made_offline_is_refused_and_other_edits_are_not() {
        let mut server = lead();
        let mut other = server.fork().with_actor(ActorId::from(vec![2u8; 16]));
        let mut notes = server.fork().with_actor(ActorId::from(vec![3u8; 16]));
        server.put(ROOT, "status", "converted").unwrap();
        server.put(ROOT, "customer_id", "c-1").unwrap();
        server.commit();
        other.put(ROOT, "status", "converted").unwrap();
        other.put(ROOT, "customer_id", "c-2").unwrap();
        other.commit();
        notes.put(ROOT, "notes", "call after lunch").unwrap();
        notes.commit();

        let before = server.get_heads();
        let mut second = server.clone();
        second.merge(&mut other).unwrap();
        let refused = check_edits(&mut second, &before).unwrap_err();
        assert_eq!(refused.code, "lead_converted");

        let mut edit = server.clone();
        edit.merge(&mut notes).unwrap();
        assert_eq!(check_edits(&mut edit, &before), Ok(()));

        // The first conversion itself, onto a lead not yet converted, is taken.
        let mut first = lead();
        let start = first.get_heads();
        first.merge(&mut server).unwrap();
        assert_eq!(check_edits(&mut first, &start), Ok(()));
    }
}
