//! Reading a record document into a flat projection, and editing records through their schema.
//!
//! Records keep their fields at the root of the document (flat keys merge best). Text fields are the
//! only nested objects, and they are created in the record's first change: two devices that both
//! created the same nested object would each lose the other's content.

use std::collections::{BTreeMap, HashMap};

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjType, ReadDoc, ROOT};
use serde::{Deserialize, Serialize};

use crate::items;
use crate::schema::{FieldType, KindSchema, DELETED_FIELD};
use crate::validate::{self, FieldError, Raw};
use crate::{Error, Value};

/// A field that holds concurrent values: devices wrote it concurrently and nobody has resolved it.
/// `values[0]` is the value automerge picks as the winner (what `ReadDoc::get` returns, and so what
/// every automerge client displays); the others follow, kept, not hidden.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    pub field: String,
    pub values: Vec<Value>,
}

/// The flat row of one record: every schema field (missing ones as [`Value::Null`]) and the fields in
/// conflict. Fields the schema does not know stay in the document and are not projected.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    pub fields: BTreeMap<&'static str, Value>,
    pub conflicts: Vec<Conflict>,
}

impl Projection {
    pub fn get(&self, field: &str) -> &Value {
        self.fields.get(field).unwrap_or(&Value::Null)
    }

    pub fn is_deleted(&self) -> bool {
        self.get(DELETED_FIELD) == &Value::Bool(true)
    }

    /// The value of the field that decides the record's scope: a territory name or a parent id;
    /// None for company-wide records.
    pub fn scope_key(&self, kind: &KindSchema) -> Option<&str> {
        self.get(kind.scope.field()?).as_str()
    }

    /// The one user the record is kept to, for kinds kept to one person of the team; None where
    /// the kind has no such field or the record names no user.
    pub fn user_key(&self, kind: &KindSchema) -> Option<uuid::Uuid> {
        let user = self.get(kind.scope.user_field()?).as_str()?;
        uuid::Uuid::parse_str(user).ok()
    }
}

/// A record as a device lists it, ready to store without loading the document: the server sends it
/// with a whole document so a fresh device can bootstrap at the speed of its database, not of automerge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Listing {
    /// The fields that are set, as one JSON object: a field left out is unset. Kinds have many
    /// optional fields that most records never fill, and every listing is written with each push
    /// of its record and sent with each first sync.
    pub fields: String,
    /// The fields in conflict as a JSON array of [`Conflict`].
    pub conflicts: String,
    pub deleted: bool,
}

impl Listing {
    pub fn of(p: &Projection) -> Listing {
        let fields: serde_json::Map<String, serde_json::Value> = p
            .fields
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.to_string(), v.to_json()))
            .collect();
        Listing {
            fields: serde_json::Value::Object(fields).to_string(),
            conflicts: serde_json::to_string(&p.conflicts).expect("conflicts serialize"),
            deleted: p.is_deleted(),
        }
    }
}

/// Reads what the document holds at every schema field and checks it, collecting every field error.
/// The most bytes a value of a field the schema does not know may hold (a later version's field,
/// kept in the document but not projected).
pub const MAX_UNKNOWN_VALUE_BYTES: usize = 64 * 1024;

pub fn project(doc: &impl ReadDoc, kind: &'static KindSchema) -> Result<Projection, Error> {
    let mut fields = BTreeMap::new();
    let mut conflicts = Vec::new();
    let mut errors = Vec::new();
    let mut root = read_root(doc)?;
    for spec in kind.fields {
        let raws = root.remove(spec.name).unwrap_or_else(|| vec![Raw::Missing]);
        if let FieldType::Items(schema) = spec.ty {
            // Only the winner is read: the map is made in the record's first change, so a second
            // one could only come from a creation the server refuses.
            let checked = match &raws[0] {
                Raw::Map(obj) => items::check(doc, spec.name, schema, obj, &mut conflicts),
                Raw::Missing => Ok(Value::Items(Vec::new())),
                _ => Err(vec![validate::type_error(spec)]),
            };
            match checked {
                Ok(v) => {
                    fields.insert(spec.name, v);
                }
                Err(mut e) => errors.append(&mut e),
            }
            continue;
        }
        let mut values = Vec::with_capacity(raws.len());
        for raw in &raws {
            match validate::check(spec, raw) {
                Ok(v) => values.push(v),
                Err(e) => errors.push(e),
            }
        }
        if values.len() > 1 {
            conflicts.push(Conflict {
                field: spec.name.to_string(),
                values: values.clone(),
            });
        }
        fields.insert(spec.name, values.into_iter().next().unwrap_or(Value::Null));
    }
    // What is left are fields this version does not know: kept for the version that does, within
    // a bound, since nothing else checks their size.
    for (name, raws) in &root {
        let largest = raws.iter().map(Raw::byte_size).max().unwrap_or(0);
        if largest > MAX_UNKNOWN_VALUE_BYTES {
            errors.push(FieldError::new(
                name,
                "value_too_large",
                format!(
                    "`{name}` is not a field of {}; such a field holds at most {MAX_UNKNOWN_VALUE_BYTES} bytes, this one {largest}",
                    kind.name
                ),
            ));
        }
    }
    if errors.is_empty() {
        Ok(Projection { fields, conflicts })
    } else {
        errors.dedup_by(|a, b| a.field == b.field && a.code == b.code);
        Err(Error::Invalid(errors))
    }
}

/// Every root key with its concurrent values, the winner first. One scan of the root instead of a
/// lookup per schema field; only keys that hold concurrent values are read again in full.
fn read_root(doc: &impl ReadDoc) -> Result<HashMap<String, Vec<Raw>>, Error> {
    let mut root = HashMap::new();
    for item in doc.map_range(ROOT, ..) {
        let raws = if item.conflict {
            read_all(doc, &item.key)?
        } else {
            vec![raw(
                doc,
                automerge::Value::from(item.value.clone()),
                || item.id(),
            )?]
        };
        root.insert(item.key.into_owned(), raws);
    }
    Ok(root)
}

/// A value as the validator takes it; `id` names the object, asked for only when it is a text.
fn raw(
    doc: &impl ReadDoc,
    value: automerge::Value,
    id: impl FnOnce() -> automerge::ObjId,
) -> Result<Raw, Error> {
    Ok(match value {
        automerge::Value::Scalar(s) => Raw::Scalar(s.into_owned()),
        automerge::Value::Object(ObjType::Text) => Raw::Text(doc.text(id())?),
        automerge::Value::Object(ObjType::Map) => Raw::Map(id()),
        automerge::Value::Object(_) => Raw::OtherObject,
    })
}

/// Every concurrent value of a root key, the winner first. `get_all` lists the values in ascending
/// op-id order and automerge's `get` picks the last (the greatest op id), so the list is reversed:
/// the projection must show the value every automerge client shows.
fn read_all(doc: &impl ReadDoc, key: &str) -> Result<Vec<Raw>, Error> {
    let all = doc.get_all(ROOT, key)?;
    if all.is_empty() {
        return Ok(vec![Raw::Missing]);
    }
    all.into_iter()
        .rev()
        .map(|(value, id)| raw(doc, value, || id))
        .collect()
}

/// Creates a new record document of `kind` written by `actor`, in one change that sets every given
/// field, creates every text field and the tombstone. The result is checked against the schema before
/// it is committed, so a device never produces a record the server must reject for its type.
pub fn create(
    kind: &'static KindSchema,
    actor: ActorId,
    values: &[(&str, Value)],
) -> Result<AutoCommit, Error> {
    let mut doc = AutoCommit::new().with_actor(actor);
    put_missing_objects(&mut doc, kind)?;
    doc.put(ROOT, DELETED_FIELD, false)?;
    set_fields(&mut doc, kind, values)?;
    Ok(doc)
}

/// Whether `doc` lacks the items of one of `kind`'s fields that its kind gained after release (the
/// items holding files: a visit's photos, a ticket's evidence): a record made before, or by a
/// client that does not know them yet. Every other nested field has been made in every record's
/// first change since its kind existed.
pub fn lacks_objects(doc: &impl ReadDoc, kind: &KindSchema) -> bool {
    kind.fields.iter().any(|spec| {
        matches!(spec.ty, FieldType::Items(items)
            if items.fields.iter().any(|f| f.ty == FieldType::Attachment))
            && matches!(doc.get(ROOT, spec.name), Ok(None))
    })
}

/// Creates, in one change, the nested objects (texts, items) of `kind`'s fields that `doc` lacks: a
/// record made before its kind had the field (a visit from before photos). Only the server does
/// this, once per record, at an upgrade: a device may not create nested objects after a record's
/// first change, so that two devices never make two objects for one field. Returns whether it
/// wrote anything.
pub fn add_missing_objects(doc: &mut AutoCommit, kind: &KindSchema) -> Result<bool, Error> {
    let added = put_missing_objects(doc, kind)?;
    if added {
        doc.commit_with(CommitOptions::default().with_time(now_secs()));
    }
    Ok(added)
}

/// Puts the empty text or items of each of `kind`'s nested fields that `doc` lacks (all of them, in
/// a new record), uncommitted; returns whether it put any.
fn put_missing_objects(doc: &mut AutoCommit, kind: &KindSchema) -> Result<bool, Error> {
    let mut added = false;
    for spec in kind.fields {
        let obj = match spec.ty {
            FieldType::Text { .. } => ObjType::Text,
            FieldType::Items(_) => ObjType::Map,
            _ => continue,
        };
        if doc.get(ROOT, spec.name)?.is_none() {
            doc.put_object(ROOT, spec.name, obj)?;
            added = true;
        }
    }
    Ok(added)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Writes fields of an existing record in one change, after checking the result against the schema.
/// Nothing is written if any field is invalid. Writing a value equal to the current one is a no-op.
pub fn update(
    doc: &mut AutoCommit,
    kind: &'static KindSchema,
    values: &[(&str, Value)],
) -> Result<(), Error> {
    set_fields(doc, kind, values)
}

fn set_fields(
    doc: &mut AutoCommit,
    kind: &'static KindSchema,
    values: &[(&str, Value)],
) -> Result<(), Error> {
    let result = put_fields(doc, kind, values).and_then(|()| project(doc, kind).map(drop));
    match result {
        Ok(()) => {
            // The writer's clock, in seconds as automerge keeps it: a record's history shows it
            // beside the time the server received the change, since a device's clock can be wrong.
            doc.commit_with(CommitOptions::default().with_time(now_secs()));
            Ok(())
        }
        Err(e) => {
            doc.rollback();
            Err(e)
        }
    }
}

fn put_fields(
    doc: &mut AutoCommit,
    kind: &'static KindSchema,
    values: &[(&str, Value)],
) -> Result<(), Error> {
    let mut errors = Vec::new();
    for (name, value) in values {
        let Some(spec) = kind.field(name) else {
            errors.push(FieldError::new(
                name,
                "unknown_field",
                format!("{} has no field `{name}`", kind.name),
            ));
            continue;
        };
        match (spec.ty, value) {
            (FieldType::Text { .. }, Value::Str(s)) => match doc.get(ROOT, spec.name)? {
                Some((automerge::Value::Object(ObjType::Text), text)) => {
                    doc.update_text(&text, s)?
                }
                _ => return Err(Error::NestedObjectAfterCreation(spec.name.to_string())),
            },
            (FieldType::Text { .. }, Value::Null) => {
                if let Some((automerge::Value::Object(ObjType::Text), text)) =
                    doc.get(ROOT, spec.name)?
                {
                    doc.update_text(&text, "")?;
                }
            }
            (FieldType::Items(schema), Value::Items(wanted)) => match doc.get(ROOT, spec.name)? {
                Some((automerge::Value::Object(ObjType::Map), obj)) => {
                    items::put(doc, schema, &obj, wanted)?
                }
                _ => return Err(Error::NestedObjectAfterCreation(spec.name.to_string())),
            },
            (FieldType::Items(_), _) | (_, Value::Items(_)) => {
                errors.push(validate::type_error(spec));
            }
            (ty, value) => doc.put(ROOT, spec.name, items::scalar(ty, value)?)?,
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::{CONTACT, CUSTOMER};

    fn actor(n: u8) -> ActorId {
        ActorId::from(vec![n; 16])
    }

    fn acme(n: u8) -> AutoCommit {
        create(
            &CUSTOMER,
            actor(n),
            &[
                ("name", Value::Str("ACME".into())),
                ("territory", Value::Str("North".into())),
            ],
        )
        .unwrap()
    }

    #[test]
    fn create_sets_fields_text_and_tombstone_in_one_change() {
        let mut doc = acme(1);
        assert_eq!(doc.get_changes(&[]).len(), 1);
        let p = project(&doc, &CUSTOMER).unwrap();
        assert_eq!(p.get("name"), &Value::Str("ACME".into()));
        assert_eq!(p.get("notes"), &Value::Str(String::new()));
        assert!(!p.is_deleted());
        assert_eq!(p.scope_key(&CUSTOMER), Some("North"));
        assert!(p.conflicts.is_empty());
    }

    /// Devices store a whole document as the chunks the server sent, concatenated: a snapshot and
    /// the change chunks appended since must load as one document.
    #[test]
    fn a_snapshot_followed_by_change_chunks_loads_as_one_document() {
        let mut doc = acme(1);
        let snapshot = doc.save();
        let at_snapshot = doc.get_heads();
        update(
            &mut doc,
            &CUSTOMER,
            &[("phone", Value::Str("+4930123456".into()))],
        )
        .unwrap();
        let first = doc.save_after(&at_snapshot);
        let at_first = doc.get_heads();
        update(
            &mut doc,
            &CUSTOMER,
            &[("name", Value::Str("ACME AG".into()))],
        )
        .unwrap();
        let second = doc.save_after(&at_first);

        let stored = [snapshot, first, second].concat();
        let mut loaded = AutoCommit::load(&stored).unwrap();
        assert_eq!(loaded.get_heads(), doc.get_heads());
        assert_eq!(
            Listing::of(&project(&loaded, &CUSTOMER).unwrap()),
            Listing::of(&project(&doc, &CUSTOMER).unwrap())
        );
    }

    #[test]
    fn invalid_edits_are_refused_and_leave_the_document_unchanged() {
        let mut doc = acme(1);
        let heads = doc.get_heads();
        let err = update(
            &mut doc,
            &CUSTOMER,
            &[
                ("phone", Value::Str("1".into())),
                ("lat", Value::Float(200.0)),
            ],
        )
        .unwrap_err();
        assert_eq!(err.field(), Some("lat"));
        assert_eq!(doc.get_heads(), heads);
        assert_eq!(project(&doc, &CUSTOMER).unwrap().get("phone"), &Value::Null);
        let err = update(&mut doc, &CUSTOMER, &[("colour", Value::Str("red".into()))]).unwrap_err();
        assert_eq!(err.code(), "validation_failed");
        let missing = create(&CONTACT, actor(1), &[("name", Value::Str("Bo".into()))]).unwrap_err();
        assert_eq!(missing.field(), Some("customer_id"));
    }

    #[test]
    fn concurrent_writes_are_reported_as_conflicts_and_different_fields_merge() {
        let mut a = acme(1);
        let mut b = a.fork().with_actor(actor(2));
        update(
            &mut a,
            &CUSTOMER,
            &[
                ("phone", Value::Str("111".into())),
                ("city", Value::Str("Lyon".into())),
            ],
        )
        .unwrap();
        update(
            &mut b,
            &CUSTOMER,
            &[
                ("phone", Value::Str("222".into())),
                ("notes", Value::Str("call".into())),
            ],
        )
        .unwrap();
        a.merge(&mut b).unwrap();
        let p = project(&a, &CUSTOMER).unwrap();
        assert_eq!(p.get("city"), &Value::Str("Lyon".into()));
        assert_eq!(p.get("notes"), &Value::Str("call".into()));
        assert_eq!(p.conflicts.len(), 1);
        assert_eq!(p.conflicts[0].field, "phone");
        assert_eq!(p.conflicts[0].values.len(), 2);
        assert_eq!(&p.conflicts[0].values[0], p.get("phone"));
    }

    #[test]
    fn unknown_fields_are_kept_in_the_document_but_not_projected() {
        let mut doc = acme(1);
        doc.put(ROOT, "loyalty_tier", "gold").unwrap();
        let p = project(&doc, &CUSTOMER).unwrap();
        assert!(!p.fields.contains_key("loyalty_tier"));
        assert_eq!(
            doc.get(ROOT, "loyalty_tier")
                .unwrap()
                .unwrap()
                .0
                .into_string()
                .unwrap(),
            "gold"
        );
    }

    #[test]
    fn an_unknown_field_holds_at_most_64_kib() {
        let mut doc = acme(1);
        doc.put(ROOT, "scan", "x".repeat(MAX_UNKNOWN_VALUE_BYTES))
            .unwrap();
        project(&doc, &CUSTOMER).unwrap();
        doc.put(ROOT, "scan", "x".repeat(MAX_UNKNOWN_VALUE_BYTES + 1))
            .unwrap();
        let Err(Error::Invalid(errors)) = project(&doc, &CUSTOMER) else {
            panic!("a 64 KiB + 1 unknown value was accepted")
        };
        assert_eq!(errors[0].field, "scan");
        assert_eq!(errors[0].code, "value_too_large");
        let notes = doc.put_object(ROOT, "memo", ObjType::Text).unwrap();
        doc.delete(ROOT, "scan").unwrap();
        doc.splice_text(&notes, 0, 0, &"y".repeat(MAX_UNKNOWN_VALUE_BYTES + 1))
            .unwrap();
        assert!(
            project(&doc, &CUSTOMER).is_err(),
            "an unknown text counts too"
        );
    }
}
