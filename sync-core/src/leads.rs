//! The lead kind's business logic, the same on the device and the server: a converted lead is
//! closed. Two devices converting one lead offline would each make a customer of it; the second
//! conversion to reach the server is refused, and with it the rest of its atomic group (the
//! customer, contact and opportunity it made), which stays on that device with the reason.

use automerge::legacy::{Key, ObjectId};
use automerge::{AutoCommit, ChangeHash, ReadDoc, ROOT};

use crate::orders::NotAllowed;

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
