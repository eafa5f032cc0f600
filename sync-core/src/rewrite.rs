//! Rewriting a record's history without some of its fields' values: how a person is erased.
//!
//! Automerge keeps every value a document ever held, and a change cannot be removed from a history
//! that later changes depend on. Forgetting a value therefore means a new history: each change of
//! the old one, in the order the server merged them, becomes one change of a new document that
//! writes the fields it wrote with the values they showed after it, except the dropped fields,
//! which keep only a placeholder (where the kind requires a value) or nothing. Every other field
//! keeps its whole history, its authors and its times; the dropped fields' past values exist in no
//! change of the new history. The new history shares no change with the old one, so devices
//! replace their copies instead of merging them ([`crate::protocol::DocUpdate::rewritten`]), and
//! re-base their own edits not yet sent ([`edited_fields`], [`copy_fields`]).

use std::collections::{BTreeSet, HashMap};

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, Change, ChangeHash, ObjId, ObjType, ReadDoc, Value, ROOT};

use crate::inspect;
use crate::Error;

/// What a field dropped from a history holds in the rewritten one where its kind requires a value.
pub const ERASED: &str = "(erased)";

/// The message of a change a device makes when it re-bases its unsent edits of a record onto the
/// record's rewritten history: the server holds such a change for a manager when it writes a
/// dropped field, rather than let an edit made before the erasure bring an erased value back.
pub const REBASED: &str = "fieldsync:rebased";

/// A rewritten history.
pub struct Rewritten {
    pub doc: AutoCommit,
    /// For each change of the new history, in order, the position in the old history of the change
    /// it stands for (its time of receipt carries over).
    pub origins: Vec<(ChangeHash, usize)>,
}

/// Rewrites `changes` (each after the changes it depends on, in the server's merge order) into a
/// new history without the values of `dropped` fields: those among them named in `placeholders`
/// (fields the kind requires) hold the value given there from the first change on. Each old change's actor is replaced by `actor_for` of it
/// (the new changes are the server's, made for the same people); each keeps its time. An old
/// change that wrote only dropped fields has no counterpart.
pub fn without_fields(
    changes: Vec<Change>,
    dropped: &BTreeSet<&str>,
    placeholders: &[(&str, &str)],
    actor_for: &mut dyn FnMut(&ActorId) -> ActorId,
) -> Result<Rewritten, Error> {
    let mut old = AutoCommit::new();
    let mut new = AutoCommit::new();
    let mut origins = Vec::new();
    let mut actors: HashMap<ActorId, ActorId> = HashMap::new();
    for (i, change) in changes.into_iter().enumerate() {
        let ops = change.decode().operations;
        let (actor, time) = (change.actor_id().clone(), change.timestamp());
        old.apply_changes([change])?;
        let touched = inspect::shown_fields(&old, &ops, i == 0)?;
        let mapped = actors
            .entry(actor.clone())
            .or_insert_with(|| actor_for(&actor))
            .clone();
        new.set_actor(mapped);
        if i == 0 {
            for (field, value) in placeholders {
                new.put(ROOT, *field, *value)?;
            }
        }
        for field in touched.iter().filter(|f| !dropped.contains(f.as_str())) {
            copy(&old, &ROOT, field, &mut new, &ROOT)?;
        }
        if let Some(hash) = new.commit_with(CommitOptions::default().with_time(time)) {
            origins.push((hash, i));
        }
    }
    Ok(Rewritten { doc: new, origins })
}

/// The root fields `changes` of `doc` (which holds them) wrote: a device's edits the server does
/// not have, to re-base on a rewritten history. An edit inside a text or an item is one of the
/// field holding it.
pub fn edited_fields(doc: &AutoCommit, changes: &[Change]) -> Result<BTreeSet<String>, Error> {
    let ops: Vec<_> = changes.iter().flat_map(|c| c.decode().operations).collect();
    // `creating`: whether the device may make objects at the root is the server's question, not
    // this one's.
    inspect::touched_fields(doc, &ops, true)
}

/// Writes into `to` the values `from` shows for `fields` (removing those `from` lacks), as changes
/// of `to`'s actor: a device's unsent edits, re-based on a rewritten history.
pub fn copy_fields(
    from: &AutoCommit,
    to: &mut AutoCommit,
    fields: &BTreeSet<String>,
) -> Result<(), Error> {
    for field in fields {
        copy(from, &ROOT, field, to, &ROOT)?;
    }
    Ok(())
}

/// Puts in `to_obj` the value `from` shows at `key` of `obj` (a nested object copied whole), or
/// removes the key where `from` has none. A text `to` holds already is edited where it differs,
/// not made again: a note edited a hundred times would otherwise be held a hundred times whole.
fn copy(
    from: &AutoCommit,
    obj: &ObjId,
    key: &str,
    to: &mut AutoCommit,
    to_obj: &ObjId,
) -> Result<(), Error> {
    let shown = from.get(obj, key)?;
    if let (Some((Value::Object(ObjType::Text), id)), Some((Value::Object(ObjType::Text), held))) =
        (&shown, to.get(to_obj, key)?)
    {
        to.update_text(&held, from.text(id)?)?;
        return Ok(());
    }
    match shown {
        None => {
            if to.get(to_obj, key)?.is_some() {
                to.delete(to_obj, key)?;
            }
        }
        Some((Value::Scalar(s), _)) => to.put(to_obj, key, s.into_owned())?,
        Some((Value::Object(ty), id)) => {
            let made = to.put_object(to_obj, key, ty)?;
            fill(from, &id, ty, to, &made)?;
        }
    }
    Ok(())
}

/// Copies the contents of object `id` of `from` into the empty object `made` of `to`.
fn fill(
    from: &AutoCommit,
    id: &ObjId,
    ty: ObjType,
    to: &mut AutoCommit,
    made: &ObjId,
) -> Result<(), Error> {
    match ty {
        ObjType::Text => to.splice_text(made, 0, 0, &from.text(id)?)?,
        ObjType::Map | ObjType::Table => {
            for key in from.keys(id).collect::<Vec<_>>() {
                copy(from, id, &key, to, made)?;
            }
        }
        ObjType::List => {
            for i in 0..from.length(id) {
                match from.get(id, i)? {
                    Some((Value::Scalar(s), _)) => to.insert(made, i, s.into_owned())?,
                    Some((Value::Object(ty), child)) => {
                        let inner = to.insert_object(made, i, ty)?;
                        fill(from, &child, ty, to, &inner)?;
                    }
                    None => {}
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::ScalarValue;

    fn actor(n: u8) -> ActorId {
        ActorId::from(vec![n; 16])
    }

    fn contact() -> AutoCommit {
        let mut doc = AutoCommit::new().with_actor(actor(1));
        doc.put(ROOT, "name", "Jane Roe").unwrap();
        doc.put(ROOT, "phone", "+44 7700 900123").unwrap();
        doc.put(ROOT, "title", "Buyer").unwrap();
        let notes = doc.put_object(ROOT, "notes", ObjType::Text).unwrap();
        doc.splice_text(&notes, 0, 0, "likes tea").unwrap();
        doc.commit_with(CommitOptions::default().with_time(100));
        let mut other = doc.fork().with_actor(actor(2));
        other.put(ROOT, "phone", "+44 7700 900999").unwrap();
        other.commit_with(CommitOptions::default().with_time(200));
        doc.merge(&mut other).unwrap();
        doc.put(ROOT, "title", "Head buyer").unwrap();
        doc.commit_with(CommitOptions::default().with_time(300));
        doc
    }

    fn erased(doc: &mut AutoCommit) -> Rewritten {
        let changes = doc.get_changes(&[]);
        let dropped = BTreeSet::from(["name", "phone"]);
        let mut mapped = |a: &ActorId| ActorId::from(vec![a.to_bytes()[0] + 100; 16]);
        without_fields(changes, &dropped, &[("name", ERASED)], &mut mapped).unwrap()
    }

    #[test]
    fn a_rewritten_history_keeps_every_other_field_and_no_dropped_value() {
        let mut doc = contact();
        let mut out = erased(&mut doc);
        assert_eq!(
            out.doc.get(ROOT, "title").unwrap().unwrap().0.as_str(),
            Some("Head buyer")
        );
        let (_, notes) = out.doc.get(ROOT, "notes").unwrap().unwrap();
        assert_eq!(out.doc.text(&notes).unwrap(), "likes tea");
        assert_eq!(
            out.doc.get(ROOT, "name").unwrap().unwrap().0.as_str(),
            Some(ERASED)
        );
        assert!(out.doc.get(ROOT, "phone").unwrap().is_none());
        // The phone's change has no counterpart; the others keep their times and a mapped actor.
        assert_eq!(
            out.origins.iter().map(|(_, i)| *i).collect::<Vec<_>>(),
            [0, 2]
        );
        let changes = out.doc.get_changes(&[]);
        assert_eq!(
            changes.iter().map(|c| c.timestamp()).collect::<Vec<_>>(),
            [100, 300]
        );
        assert!(changes.iter().all(|c| *c.actor_id() == actor(101)));
        // No byte of the new history holds a dropped value, at any version.
        let bytes = out.doc.save();
        for value in ["Jane Roe", "900123", "900999"] {
            assert!(
                !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
                "{value}"
            );
        }
        let before = doc.save();
        assert!(
            before.windows(6).any(|w| w == b"900123"),
            "the old history held it"
        );
    }

    #[test]
    fn a_text_edited_again_and_again_is_edited_in_the_rewritten_history_not_made_again() {
        let mut doc = contact();
        let (_, notes) = doc.get(ROOT, "notes").unwrap().unwrap();
        let long = "a long note about the shop ".repeat(40);
        doc.splice_text(&notes, 0, 0, &long).unwrap();
        doc.commit();
        for i in 0..50 {
            doc.splice_text(&notes, 0, 0, &format!("{i} ")).unwrap();
            doc.commit();
        }
        let mut out = erased(&mut doc);
        let (_, rewritten) = out.doc.get(ROOT, "notes").unwrap().unwrap();
        assert_eq!(out.doc.text(&rewritten).unwrap(), doc.text(&notes).unwrap());
        // About as many operations as the old history, not fifty copies of the note's letters.
        let ops = |d: &mut AutoCommit| d.get_changes(&[]).iter().map(Change::len).sum::<usize>();
        let (before, after) = (ops(&mut doc), ops(&mut out.doc));
        assert!(after <= before, "{after} operations against {before}");
    }

    #[test]
    fn unsent_edits_are_re_based_on_a_rewritten_history() {
        let mut doc = contact();
        let base = doc.get_heads();
        doc.put(ROOT, "title", "Owner").unwrap();
        let (_, notes) = doc.get(ROOT, "notes").unwrap().unwrap();
        doc.splice_text(&notes, 0, 0, "often ").unwrap();
        doc.put(ROOT, "visits", ScalarValue::Counter(3.into()))
            .unwrap();
        doc.commit();
        let unsent = doc.get_changes(&base);
        let fields = edited_fields(&doc, &unsent).unwrap();
        assert_eq!(
            fields.iter().map(String::as_str).collect::<Vec<_>>(),
            ["notes", "title", "visits"]
        );
        let mut out = erased(&mut doc.fork_at(&base).unwrap());
        let mut device = out.doc.fork().with_actor(actor(9));
        copy_fields(&doc, &mut device, &fields).unwrap();
        device.commit_with(CommitOptions::default().with_message(REBASED.to_string()));
        assert_eq!(
            device.get(ROOT, "title").unwrap().unwrap().0.as_str(),
            Some("Owner")
        );
        let (_, notes) = device.get(ROOT, "notes").unwrap().unwrap();
        assert_eq!(device.text(&notes).unwrap(), "often likes tea");
        assert!(device.get(ROOT, "phone").unwrap().is_none());
        let last = device.get_last_local_change().unwrap();
        assert_eq!(last.message(), Some(REBASED));
    }
}
