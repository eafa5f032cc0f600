//! Which record fields a set of automerge changes writes, and whether a role may write them.
//!
//! Automerge changes are not signed and cannot be split: the server must decide for each change as a
//! whole whether its author may make it. This module decodes the operations of each change and maps
//! every operation to the root field it lands in.

use std::collections::{BTreeSet, HashMap};

use automerge::legacy::{Key, ObjectId, Op, OpType};
use automerge::{ActorId, AutoCommit, ObjType, ReadDoc, ROOT};

use crate::kinds;
use crate::schema::{KindSchema, Role, Writer};
use crate::Error;

/// The root fields the ops of new changes write (as `structure::apply` answers them: decoding a
/// change costs about as much as applying it). `doc` must already contain the changes, so that
/// objects they create can be found. An operation on an object that is no longer reachable from the root (a text
/// that was since overwritten) is invisible and writes no field. `creating` says whether the changes
/// create the record: only then may they create nested objects at its root.
pub fn touched_fields(
    doc: &AutoCommit,
    ops: &[Op],
    creating: bool,
) -> Result<BTreeSet<String>, Error> {
    // Most pushes set root fields only; the walk of the document's objects is done when a change
    // writes inside one (a text edit), not for every push.
    let mut owners = None;
    let mut fields = BTreeSet::new();
    for op in ops {
        match (&op.obj, &op.key) {
            (ObjectId::Root, Key::Map(key)) => {
                if matches!(op.action, OpType::Make(_)) {
                    if !creating {
                        return Err(Error::NestedObjectAfterCreation(key.to_string()));
                    }
                    // Making a record's empty text or items in its first change writes no value:
                    // what goes inside is attributed to the field below, by its object.
                    continue;
                }
                fields.insert(key.to_string());
            }
            (ObjectId::Root, Key::Seq(_)) => {
                return Err(Error::MalformedChange(
                    "the root of a record is a map".into(),
                ));
            }
            (ObjectId::Id(id), _) => {
                let owners = match &mut owners {
                    Some(owners) => owners,
                    None => owners.insert(object_owners(doc)?),
                };
                if let Some(field) = owners.get(&(id.0, id.1.clone())) {
                    fields.insert(field.clone());
                }
            }
        }
    }
    Ok(fields)
}

/// [`touched_fields`], and the fields `ops` make a text or items object in: made empty in a
/// record's first change, such a field holds no value yet, but what is written into it later is
/// told against it. What a change did to the record as its history tells it.
pub fn shown_fields(
    doc: &AutoCommit,
    ops: &[Op],
    creating: bool,
) -> Result<BTreeSet<String>, Error> {
    let mut fields = touched_fields(doc, ops, creating)?;
    fields.extend(
        ops.iter()
            .filter_map(|op| match (&op.obj, &op.key, &op.action) {
                (ObjectId::Root, Key::Map(key), OpType::Make(_)) => Some(key.to_string()),
                _ => None,
            }),
    );
    Ok(fields)
}

/// Fails with the first field in `fields` that `role` may not write. Fields the schema does not know
/// are writable: they come from newer clients and are kept but never projected.
pub fn check_writable(
    kind: &KindSchema,
    role: Role,
    fields: &BTreeSet<String>,
) -> Result<(), Error> {
    for field in fields {
        // A field the schema does not know is a later version's, which anyone may write, unless
        // this version took it out (the server alone removes it).
        let unknown = match kinds::is_retired(kind, field) {
            true => Writer::Server,
            false => Writer::Agent,
        };
        let writer = kind.field(field).map_or(unknown, |f| f.writer);
        if !writer.allows(role) {
            return Err(Error::FieldNotWritable {
                field: field.clone(),
                role: role.as_str(),
            });
        }
    }
    Ok(())
}

/// Maps every object reachable from the root, by the id of the operation that created it, to the root
/// field it lives under. Records are flat, so this walks a handful of keys.
fn object_owners(doc: &AutoCommit) -> Result<HashMap<(u64, ActorId), String>, Error> {
    let mut owners = HashMap::new();
    for key in doc.keys(ROOT) {
        for (value, id) in doc.get_all(ROOT, key.as_str())? {
            if let automerge::Value::Object(ty) = value {
                collect(doc, id, ty, &key, &mut owners, 0)?;
            }
        }
    }
    Ok(owners)
}

/// Objects nested deeper than this are not followed; records never nest so deep, and a change that
/// writes below it is attributed to no field and then judged by its root-level operations.
const MAX_DEPTH: usize = 8;

fn collect(
    doc: &AutoCommit,
    id: automerge::ObjId,
    ty: ObjType,
    field: &str,
    owners: &mut HashMap<(u64, ActorId), String>,
    depth: usize,
) -> Result<(), Error> {
    if let automerge::ObjId::Id(counter, actor, _) = &id {
        owners.insert((*counter, actor.clone()), field.to_string());
    }
    if depth >= MAX_DEPTH || ty == ObjType::Text {
        return Ok(());
    }
    let children: Vec<_> = match ty {
        ObjType::Map | ObjType::Table => {
            let keys: Vec<String> = doc.keys(&id).collect();
            let mut out = Vec::new();
            for k in keys {
                out.extend(doc.get_all(&id, k.as_str())?);
            }
            out
        }
        _ => {
            let mut out = Vec::new();
            for i in 0..doc.length(&id) {
                out.extend(doc.get_all(&id, i)?);
            }
            out
        }
    };
    for (value, child) in children {
        if let automerge::Value::Object(child_ty) = value {
            collect(doc, child, child_ty, field, owners, depth + 1)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::CUSTOMER;
    use crate::record::{create, update};
    use crate::Value;
    use automerge::transaction::Transactable;

    /// The ops of the changes made since `since`.
    fn new_ops(doc: &mut AutoCommit, since: &[automerge::ChangeHash]) -> Vec<Op> {
        doc.get_changes(since)
            .iter()
            .flat_map(|c| c.decode().operations)
            .collect()
    }

    #[test]
    fn field_writes_and_text_edits_are_attributed_to_their_root_field() {
        let actor = ActorId::from(vec![7; 16]);
        let mut doc = create(
            &CUSTOMER,
            actor,
            &[("name", "A".into()), ("territory", "N".into())],
        )
        .unwrap();
        let base = doc.get_heads();
        update(
            &mut doc,
            &CUSTOMER,
            &[("notes", "hello".into()), ("phone", "1".into())],
        )
        .unwrap();
        let ops = new_ops(&mut doc, &base);
        let touched = touched_fields(&doc, &ops, false).unwrap();
        assert_eq!(
            touched,
            BTreeSet::from(["notes".to_string(), "phone".to_string()])
        );
        assert!(check_writable(&CUSTOMER, Role::Agent, &touched).is_ok());
    }

    #[test]
    fn manager_and_server_fields_are_refused_to_lower_roles() {
        let fields = BTreeSet::from(["credit_limit".to_string()]);
        assert_eq!(
            check_writable(&CUSTOMER, Role::Agent, &fields)
                .unwrap_err()
                .code(),
            "field_not_writable"
        );
        assert!(check_writable(&CUSTOMER, Role::Manager, &fields).is_ok());
        let server = BTreeSet::from(["external_ref".to_string()]);
        assert!(check_writable(&CUSTOMER, Role::Admin, &server).is_err());
        let unknown = BTreeSet::from(["loyalty_tier".to_string()]);
        assert!(check_writable(&CUSTOMER, Role::Agent, &unknown).is_ok());
        // A field taken out of a kind is no one's to write again.
        let retired = BTreeSet::from(["unit_cost".to_string()]);
        assert!(check_writable(&crate::kinds::PRODUCT, Role::Admin, &retired).is_err());
    }

    #[test]
    fn a_nested_object_created_after_the_first_change_is_refused() {
        let actor = ActorId::from(vec![7; 16]);
        let mut doc = create(
            &CUSTOMER,
            actor,
            &[("name", "A".into()), ("territory", "N".into())],
        )
        .unwrap();
        let base = doc.get_heads();
        doc.put_object(ROOT, "notes", ObjType::Text).unwrap();
        doc.commit();
        let ops = new_ops(&mut doc, &base);
        let err = touched_fields(&doc, &ops, false).unwrap_err();
        let first = new_ops(&mut doc, &[]);
        assert!(
            touched_fields(&doc, &first, true).is_ok(),
            "a new record creates its text fields"
        );
        assert_eq!(err.code(), "nested_object_after_creation");
        assert_eq!(err.field(), Some("notes"));
        let _ = Value::Null;
    }
}
